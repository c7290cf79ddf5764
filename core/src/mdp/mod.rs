//! Finite Markov decision processes: validated transition kernels (dense `(S, A, S')` or sparse
//! per-`(s, a)` lists), rewards as `(S, A, S')` tensors (with `(S)` and `(S, A)` conveniences),
//! policies, exact and iterative policy evaluation, value iteration, optimal policies, returns and
//! regret, and (with `alloc`) the Knox et al. preference models in [`preference`].
//!
//! # Conventions
//! - `S` states, `A` actions; `τ(s, a, s')` is the transition kernel, `μ` the initial distribution,
//!   `γ ∈ [0, 1)` the discount. Flat buffers are row-major: `τ` and `R` are `(S, A, S')` with index
//!   `(s·A + a)·S + s'`; `(S, A)` buffers have index `s·A + a`.
//! - A reward is a [`Reward`]: a full `(S, A, S')` tensor, or an `(S, A)` or `(S)` table that stands
//!   for `R(s, a, s') = r(s, a)` or `r(s)`.
//! - Values: `V^π(s) = E_π[Σ_t γᵗ R(s_t, a_t, s_{t+1}) | s_0 = s]`, `Q^π(s, a) = r̄(s, a) + γ Σ_{s'}
//!   τ(s, a, s') V^π(s')` with `r̄(s, a) = Σ_{s'} τ(s, a, s') R(s, a, s')`; the return of a policy is
//!   `J(π) = Σ_s μ(s) V^π(s)`.
//! - All solvers compute in `f64` whatever the input type (the `f32` results are the rounded `f64`
//!   results).
//! - "Stochastic within tolerance": every row of `τ`, `μ` and every stochastic policy row is
//!   non-negative and sums to 1 within `√ε` of the input type ([`stochastic_tolerance`]: `3.5e-4`
//!   for `f32`, `1.5e-8` for `f64`). Rows are used as given, not renormalised.
//!
//! # Which solver
//! [`Evaluation::Exact`] solves `(I − γP_π)V = r_π` with a dense LU with partial pivoting
//! ([`linalg`]): `O(S³)`, exact to rounding, the default up to `S = 512`.
//! [`Evaluation::Iterative`] sweeps `V ← r_π + γP_πV` in `O(nnz)` per sweep until the a-posteriori
//! bound `γ/(1−γ)·‖V_{k+1} − V_k‖∞` is below the tolerance; it is the default above `S = 512`,
//! where sparse transitions make it much cheaper than a dense factorisation.
//!
//! Citations: Puterman (1994), *Markov Decision Processes*, §6 (policy evaluation, value and policy
//! iteration); Skalse et al. (2024), STARC, arXiv:2309.15257 (regret, normalised regret).

#[cfg(feature = "alloc")]
use alloc::{vec, vec::Vec};

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, invalid};
use crate::real::Real;

pub mod linalg;
#[cfg(feature = "alloc")]
pub mod preference;
#[cfg(feature = "alloc")]
mod solve;

#[cfg(feature = "alloc")]
pub use solve::{
    Evaluation, OptimalPolicy, normalized_regret, optimal_policy, policy_return, policy_values,
    regret, value_iteration,
};

#[cfg(feature = "alloc")]
pub(crate) use solve::{Evaluator, solve_optimal_f64};

/// The tolerance on "sums to one" for probability rows of type `F`: `√ε_F`.
///
/// # Definition
/// `tol = √ε` (`f32`: `≈ 3.45e-4`, `f64`: `≈ 1.49e-8`); a row `p` is accepted when every entry is
/// finite and `>= 0` and `|Σ p − 1| <= tol`.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::stochastic_tolerance;
/// assert!((stochastic_tolerance::<f64>() - 1.4901161193847656e-8).abs() < 1e-20);
/// assert!(stochastic_tolerance::<f32>() > 3e-4);
/// ```
///
/// Anchor: [`numerics`](crate::numerics#distances), section Distances.
pub fn stochastic_tolerance<F: Real>() -> f64 {
    Float::sqrt(F::epsilon().as_f64())
}

/// Checks one probability row; returns its sum.
pub(crate) fn check_probabilities<F: Real>(what: &'static str, p: &[F]) -> Result<f64> {
    ensure_finite(what, p)?;
    let mut sum = 0.0f64;
    for &x in p {
        if x < F::ZERO {
            return Err(invalid(what, x, "probabilities >= 0"));
        }
        sum += x.as_f64();
    }
    if Float::abs(sum - 1.0) > stochastic_tolerance::<F>() {
        return Err(Error::InvalidParam {
            name: what,
            value: sum,
            expected: "probabilities summing to 1 (within sqrt(epsilon))",
        });
    }
    Ok(sum)
}

/// Rounds an `f64` result to `F`, or [`Error::Overflow`] if it is not finite in `F` (an `f64` value
/// beyond `f32::MAX` becomes `∞` in `f32`).
#[inline]
pub(crate) fn to_real<F: Real>(x: f64, what: &'static str) -> Result<F> {
    let y = F::lit(x);
    if y.is_finite() {
        Ok(y)
    } else {
        Err(Error::Overflow { what })
    }
}

/// `Σ xᵢ·wᵢ` over the common length, in `f64` with four independent accumulators (so the loop
/// vectorises and pipelines; the summation order differs from a left fold only in rounding).
#[inline]
pub(crate) fn dot_lanes<F: Real, G: Real>(x: &[F], w: &[G]) -> f64 {
    let n = x.len().min(w.len());
    let (x, w) = (x.get(..n).unwrap_or(&[]), w.get(..n).unwrap_or(&[]));
    let mut acc = [0.0f64; 4];
    let (xc, wc) = (x.chunks_exact(4), w.chunks_exact(4));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(wc.remainder())
        .map(|(x, w)| x.as_f64() * w.as_f64())
        .sum();
    for (cx, cw) in xc.zip(wc) {
        for ((a, x), w) in acc.iter_mut().zip(cx).zip(cw) {
            *a += x.as_f64() * w.as_f64();
        }
    }
    let [a0, a1, a2, a3] = acc;
    (a0 + a1) + (a2 + a3) + tail
}

/// `(max |x|, every x finite)` in one pass with four independent lanes.
#[inline]
pub(crate) fn scan_lanes<F: Real>(x: &[F]) -> (f64, bool) {
    let mut m = [0.0f64; 4];
    let mut z = [0.0f64; 4];
    let c = x.chunks_exact(4);
    let mut tail_m = 0.0f64;
    let mut tail_z = 0.0f64;
    for v in c.remainder() {
        let v = v.as_f64();
        let a = Float::abs(v);
        tail_m = if a > tail_m { a } else { tail_m };
        #[expect(clippy::eq_op, reason = "v − v is 0 for finite v and NaN otherwise")]
        let z = v - v;
        tail_z += z;
    }
    for chunk in c {
        for ((mk, zk), v) in m.iter_mut().zip(z.iter_mut()).zip(chunk) {
            let v = v.as_f64();
            // A plain comparison (maxpd), not f64::max's NaN handling; NaN is caught below.
            let a = Float::abs(v);
            *mk = if a > *mk { a } else { *mk };
            #[expect(clippy::eq_op, reason = "v − v is 0 for finite v and NaN otherwise")]
            let d = v - v;
            *zk += d;
        }
    }
    let [m0, m1, m2, m3] = m;
    let [z0, z1, z2, z3] = z;
    let finite = (z0 + z1 + z2 + z3 + tail_z) == 0.0;
    (m0.max(m1).max(m2.max(m3)).max(tail_m), finite)
}

/// `a·b` as a checked product, or [`Error::TooLarge`].
pub(crate) fn checked_size(what: &'static str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or(Error::TooLarge {
        what,
        len: a,
        max: usize::MAX / b.max(1),
    })
}

/// Transition probabilities in sparse form: for each `(s, a)` row, a short list of
/// `(s', τ(s, a, s'))` pairs (compressed sparse rows).
///
/// # Definition
/// Row `i = s·A + a` holds the entries `offsets[i]..offsets[i + 1]` of `next` (next-state indices,
/// strictly increasing within the row) and `probs` (their probabilities); every other `s'` has
/// `τ(s, a, s') = 0`.
///
/// # Shapes
/// `offsets`: `(S·A + 1)`, starting at 0 and ending at `nnz`; `next`, `probs`: `(nnz)`.
///
/// # Errors
/// Construction stores the slices; [`Mdp::new`] validates them (see there).
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, SparseTransitions, Transitions};
/// // 2 states, 1 action: state 0 moves to 1, state 1 stays.
/// let sparse = SparseTransitions::new(&[0, 1, 2], &[1, 1], &[1.0f64, 1.0]);
/// let mdp = Mdp::new(2, 1, Transitions::Sparse(sparse), &[1.0, 0.0], 0.9)?;
/// assert_eq!(mdp.nnz(), 2);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Anchor: the CSR layout of sparse matrix libraries (Saad, *Iterative Methods for Sparse Linear
/// Systems*, §3.4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseTransitions<'a, F> {
    offsets: &'a [usize],
    next: &'a [u32],
    probs: &'a [F],
}

impl<'a, F: Real> SparseTransitions<'a, F> {
    /// Wraps the three CSR slices (validated by [`Mdp::new`]).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::mdp::SparseTransitions;
    /// let t = SparseTransitions::new(&[0, 1], &[0], &[1.0f32]);
    /// assert_eq!(t.probs(), &[1.0]);
    /// ```
    pub fn new(offsets: &'a [usize], next: &'a [u32], probs: &'a [F]) -> Self {
        Self {
            offsets,
            next,
            probs,
        }
    }

    /// Row offsets, `(S·A + 1)`.
    pub fn offsets(&self) -> &'a [usize] {
        self.offsets
    }

    /// Next-state indices, `(nnz)`.
    pub fn next(&self) -> &'a [u32] {
        self.next
    }

    /// Probabilities, `(nnz)`.
    pub fn probs(&self) -> &'a [F] {
        self.probs
    }
}

/// A transition kernel `τ(s, a, s')`: dense or sparse.
///
/// # Shapes
/// `Dense`: `(S, A, S')` row-major; `Sparse`: see [`SparseTransitions`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// let tau = [0.5f64, 0.5, 0.0, 1.0]; // (S, A, S') = (2, 1, 2)
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&tau), &[0.5, 0.5], 0.0)?;
/// assert!(!mdp.is_sparse());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transitions<'a, F> {
    /// A dense `(S, A, S')` tensor.
    Dense(&'a [F]),
    /// Per-`(s, a)` lists of `(s', p)`.
    Sparse(SparseTransitions<'a, F>),
}

/// A finite, discounted MDP without its reward: states, actions, transitions, initial distribution
/// and discount, validated once.
///
/// # Definition
/// `M = (S, A, τ, μ, γ)` with `τ(s, a, ·)` and `μ` probability vectors and `γ ∈ [0, 1)`.
///
/// # Shapes
/// `transitions`: `(S, A, S')` (dense) or CSR (sparse); `initial`: `(S)`.
///
/// # Errors
/// [`Error::Empty`] for `S = 0` or `A = 0`; [`Error::TooLarge`] if `S·A·S` overflows `usize`;
/// [`Error::LengthMismatch`] for wrong lengths; [`Error::NonFinite`] for NaN/∞ probabilities;
/// [`Error::InvalidParam`] for `γ` outside `[0, 1)`, negative probabilities, rows (of `τ` or `μ`)
/// that do not sum to 1 within [`stochastic_tolerance`], sparse offsets that are not
/// non-decreasing from 0 to `nnz`, next-state indices `>= S` or not strictly increasing within
/// a row.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// // A 2-state chain: action 0 stays, action 1 switches.
/// let tau = [1.0, 0.0, 0.0, 1.0, /* s = 1 */ 0.0, 1.0, 1.0, 0.0f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.5)?;
/// assert_eq!((mdp.n_states(), mdp.n_actions(), mdp.gamma()), (2, 2, 0.5));
/// assert!(Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 1.0).is_err()); // γ = 1
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Puterman (1994), *Markov Decision Processes*, §2.1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mdp<'a, F> {
    n_states: usize,
    n_actions: usize,
    transitions: Transitions<'a, F>,
    initial: &'a [F],
    gamma: F,
}

impl<'a, F: Real> Mdp<'a, F> {
    /// Validates and builds an MDP (see the type's docs for the checks).
    ///
    /// # Errors
    /// As listed on [`Mdp`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::mdp::{Mdp, Transitions};
    /// let err = Mdp::new(1, 1, Transitions::Dense(&[0.5f64]), &[1.0], 0.9).unwrap_err();
    /// assert!(err.to_string().contains("summing to 1"));
    /// ```
    pub fn new(
        n_states: usize,
        n_actions: usize,
        transitions: Transitions<'a, F>,
        initial: &'a [F],
        gamma: F,
    ) -> Result<Self> {
        if n_states == 0 {
            return Err(Error::Empty { what: "states" });
        }
        if n_actions == 0 {
            return Err(Error::Empty { what: "actions" });
        }
        if !(gamma >= F::ZERO && gamma < F::ONE) {
            return Err(invalid("gamma", gamma, "in [0, 1)"));
        }
        let rows = checked_size("states x actions", n_states, n_actions)?;
        let full = checked_size("states x actions x states", rows, n_states)?;
        if u32::try_from(n_states).is_err() {
            return Err(Error::TooLarge {
                what: "states",
                len: n_states,
                max: u32::MAX as usize,
            });
        }
        match transitions {
            Transitions::Dense(t) => {
                ensure_len("transitions", full, t.len())?;
                ensure_finite("transitions", t)?;
                for row in t.chunks_exact(n_states) {
                    check_probabilities("transitions", row)?;
                }
            }
            Transitions::Sparse(sp) => check_sparse(&sp, n_states, rows)?,
        }
        ensure_len("initial", n_states, initial.len())?;
        check_probabilities("initial", initial)?;
        Ok(Self {
            n_states,
            n_actions,
            transitions,
            initial,
            gamma,
        })
    }

    /// Number of states `S`.
    pub fn n_states(&self) -> usize {
        self.n_states
    }

    /// Number of actions `A`.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// The discount `γ`.
    pub fn gamma(&self) -> F {
        self.gamma
    }

    /// The initial distribution `μ`, `(S)`.
    pub fn initial(&self) -> &'a [F] {
        self.initial
    }

    /// The transition kernel.
    pub fn transitions(&self) -> Transitions<'a, F> {
        self.transitions
    }

    /// `true` for a sparse kernel.
    pub fn is_sparse(&self) -> bool {
        matches!(self.transitions, Transitions::Sparse(_))
    }

    /// Stored transition entries: `S·A·S` (dense) or `nnz` (sparse).
    pub fn nnz(&self) -> usize {
        match self.transitions {
            Transitions::Dense(t) => t.len(),
            Transitions::Sparse(sp) => sp.probs.len(),
        }
    }

    /// `S·A·S`, the length of a full reward tensor.
    pub fn full_len(&self) -> usize {
        self.n_states * self.n_actions * self.n_states
    }

    /// The row `τ(s, a, ·)` (empty for out-of-range indices, which callers never pass).
    #[inline]
    #[cfg_attr(
        not(feature = "alloc"),
        expect(dead_code, reason = "used by the alloc-only solvers and distances")
    )]
    pub(crate) fn row(&self, s: usize, a: usize) -> Row<'a, F> {
        let i = s * self.n_actions + a;
        match self.transitions {
            Transitions::Dense(t) => {
                let lo = i * self.n_states;
                Row::Dense(t.get(lo..lo + self.n_states).unwrap_or(&[]))
            }
            Transitions::Sparse(sp) => {
                let lo = sp.offsets.get(i).copied().unwrap_or(0);
                let hi = sp.offsets.get(i + 1).copied().unwrap_or(lo);
                Row::Sparse(
                    sp.next.get(lo..hi).unwrap_or(&[]),
                    sp.probs.get(lo..hi).unwrap_or(&[]),
                )
            }
        }
    }

    /// Every row `τ(s, a, ·)` in `(s, a)` row-major order.
    #[inline]
    pub(crate) fn rows(&self) -> Rows<'a, F> {
        match self.transitions {
            Transitions::Dense(t) => Rows::Dense(t.chunks_exact(self.n_states)),
            Transitions::Sparse(sp) => Rows::Sparse {
                offsets: sp.offsets.windows(2),
                next: sp.next,
                probs: sp.probs,
            },
        }
    }
}

/// `(s, a)` in row-major order without a division per pair.
#[inline]
pub(crate) fn state_actions(
    n_states: usize,
    n_actions: usize,
) -> impl Iterator<Item = (usize, usize)> {
    (0..n_states).flat_map(move |s| (0..n_actions).map(move |a| (s, a)))
}

/// Iterator over the rows `τ(s, a, ·)` in `(s, a)` order (no index arithmetic per row).
#[derive(Clone, Debug)]
pub(crate) enum Rows<'a, F> {
    Dense(core::slice::ChunksExact<'a, F>),
    Sparse {
        offsets: core::slice::Windows<'a, usize>,
        next: &'a [u32],
        probs: &'a [F],
    },
}

impl<'a, F> Iterator for Rows<'a, F> {
    type Item = Row<'a, F>;

    #[inline]
    fn next(&mut self) -> Option<Row<'a, F>> {
        match self {
            Rows::Dense(it) => it.next().map(Row::Dense),
            Rows::Sparse {
                offsets,
                next,
                probs,
            } => {
                let w = offsets.next()?;
                let (lo, hi) = match *w {
                    [lo, hi] => (lo, hi),
                    _ => (0, 0),
                };
                Some(Row::Sparse(
                    next.get(lo..hi).unwrap_or(&[]),
                    probs.get(lo..hi).unwrap_or(&[]),
                ))
            }
        }
    }
}

fn check_sparse<F: Real>(
    sp: &SparseTransitions<'_, F>,
    n_states: usize,
    rows: usize,
) -> Result<()> {
    ensure_len("offsets", rows + 1, sp.offsets.len())?;
    let nnz = sp.probs.len();
    ensure_len("next_states", nnz, sp.next.len())?;
    ensure_finite("transitions", sp.probs)?;
    if sp.offsets.first() != Some(&0) || sp.offsets.last() != Some(&nnz) {
        let bad = sp.offsets.last().copied().unwrap_or(0);
        return Err(Error::InvalidParam {
            name: "offsets",
            value: bad as f64,
            expected: "non-decreasing offsets from 0 to nnz",
        });
    }
    for w in sp.offsets.windows(2) {
        let (lo, hi) = match *w {
            [lo, hi] => (lo, hi),
            _ => (0, 0),
        };
        if hi < lo {
            return Err(Error::InvalidParam {
                name: "offsets",
                value: hi as f64,
                expected: "non-decreasing offsets from 0 to nnz",
            });
        }
        let (Some(next), Some(probs)) = (sp.next.get(lo..hi), sp.probs.get(lo..hi)) else {
            return Err(Error::InvalidParam {
                name: "offsets",
                value: hi as f64,
                expected: "non-decreasing offsets from 0 to nnz",
            });
        };
        let mut prev: Option<u32> = None;
        for &j in next {
            if j as usize >= n_states || prev.is_some_and(|p| j <= p) {
                return Err(Error::InvalidParam {
                    name: "next_states",
                    value: f64::from(j),
                    expected: "state indices < S, strictly increasing within each (s, a) row",
                });
            }
            prev = Some(j);
        }
        check_probabilities("transitions", probs)?;
    }
    Ok(())
}

/// One row `τ(s, a, ·)`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Row<'a, F> {
    Dense(&'a [F]),
    Sparse(&'a [u32], &'a [F]),
}

impl<F: Real> Row<'_, F> {
    /// Calls `f(s', τ)` for every stored entry (dense rows include zeros).
    #[inline]
    pub(crate) fn for_each(self, mut f: impl FnMut(usize, f64)) {
        match self {
            Row::Dense(r) => {
                for (j, &p) in r.iter().enumerate() {
                    f(j, p.as_f64());
                }
            }
            Row::Sparse(n, p) => {
                for (&j, &p) in n.iter().zip(p) {
                    f(j as usize, p.as_f64());
                }
            }
        }
    }

    /// Calls `f(s', τ)` for every entry with `τ > 0`.
    #[inline]
    pub(crate) fn for_each_nonzero(self, mut f: impl FnMut(usize, f64)) {
        self.for_each(|j, p| {
            if p > 0.0 {
                f(j, p);
            }
        });
    }

    /// `Σ_{s'} τ(s, a, s')·v(s')`.
    #[inline]
    #[cfg_attr(
        not(feature = "alloc"),
        expect(dead_code, reason = "used by the alloc-only solvers and distances")
    )]
    pub(crate) fn dot(self, v: &[f64]) -> f64 {
        match self {
            Row::Dense(r) => dot_lanes(r, v),
            Row::Sparse(n, p) => n
                .iter()
                .zip(p)
                .map(|(&j, p)| p.as_f64() * v.get(j as usize).copied().unwrap_or(0.0))
                .sum(),
        }
    }

    /// `out[s'] += k·τ(s, a, s')` for every stored entry.
    #[inline]
    #[cfg_attr(
        not(feature = "alloc"),
        expect(dead_code, reason = "used by the alloc-only solvers")
    )]
    pub(crate) fn axpy(self, out: &mut [f64], k: f64) {
        match self {
            Row::Dense(r) => {
                for (o, p) in out.iter_mut().zip(r) {
                    *o += k * p.as_f64();
                }
            }
            Row::Sparse(n, p) => {
                for (&j, p) in n.iter().zip(p) {
                    if let Some(o) = out.get_mut(j as usize) {
                        *o += k * p.as_f64();
                    }
                }
            }
        }
    }

    /// `Σ τ`.
    #[inline]
    pub(crate) fn sum(self) -> f64 {
        match self {
            Row::Dense(r) => r.iter().map(|p| p.as_f64()).sum(),
            Row::Sparse(_, p) => p.iter().map(|p| p.as_f64()).sum(),
        }
    }

    /// `Σ τ²`.
    #[inline]
    #[cfg_attr(
        not(feature = "alloc"),
        expect(dead_code, reason = "used by the alloc-only solvers and distances")
    )]
    pub(crate) fn sum_sq(self) -> f64 {
        let sq = |p: &F| p.as_f64() * p.as_f64();
        match self {
            Row::Dense(r) => r.iter().map(sq).sum(),
            Row::Sparse(_, p) => p.iter().map(sq).sum(),
        }
    }

    /// Inverse-CDF draw of `s'` for a uniform `u ∈ [0, 1)`.
    #[inline]
    #[cfg_attr(
        not(feature = "alloc"),
        expect(dead_code, reason = "used by the alloc-only solvers and distances")
    )]
    pub(crate) fn sample(self, u: f64) -> usize {
        let target = u * self.sum();
        let mut acc = 0.0;
        let mut last = 0usize;
        let mut found = None;
        self.for_each_nonzero(|j, p| {
            if found.is_none() {
                acc += p;
                last = j;
                if target < acc {
                    found = Some(j);
                }
            }
        });
        found.unwrap_or(last)
    }
}

/// A reward function on a finite MDP: a full `(S, A, S')` tensor or a smaller table standing for
/// one.
///
/// # Definition
/// `Full(R)`: `R(s, a, s')`; `StateAction(r)`: `R(s, a, s') = r(s, a)`; `State(r)`:
/// `R(s, a, s') = r(s)` (the reward of the state the transition leaves).
///
/// # Shapes
/// `Full`: `(S, A, S')`; `StateAction`: `(S, A)`; `State`: `(S)`.
///
/// # Errors
/// Users of a reward return [`Error::LengthMismatch`] if its length does not fit the MDP and
/// [`Error::NonFinite`] for NaN/∞ values.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// let tau = [1.0, 0.0, 0.0, 1.0f64];
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&tau), &[1.0, 0.0], 0.5)?;
/// let mut full = [0.0f64; 4];
/// Reward::State(&[1.0, 2.0]).expand(&mut full, &mdp)?;
/// assert_eq!(full, [1.0, 1.0, 2.0, 2.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reward<'a, F> {
    /// `R(s, a, s')`, `(S, A, S')`.
    Full(&'a [F]),
    /// `r(s, a)`, `(S, A)`.
    StateAction(&'a [F]),
    /// `r(s)`, `(S)`.
    State(&'a [F]),
}

/// The values of `R(s, a, ·)`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RewardRow<'a, F> {
    Slice(&'a [F]),
    Const(f64),
}

impl<F: Real> RewardRow<'_, F> {
    /// `R(s, a, s')`.
    #[inline]
    pub(crate) fn at(self, j: usize) -> f64 {
        match self {
            RewardRow::Slice(r) => r.get(j).map_or(0.0, |x| x.as_f64()),
            RewardRow::Const(c) => c,
        }
    }
}

impl<'a, F: Real> Reward<'a, F> {
    /// The raw values.
    pub fn values(&self) -> &'a [F] {
        match *self {
            Reward::Full(r) | Reward::StateAction(r) | Reward::State(r) => r,
        }
    }

    /// Checks the length against `mdp` and that every value is finite; `what` names the argument
    /// in errors.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
    /// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.9)?;
    /// assert!(Reward::StateAction(&[0.0, 1.0]).validate("reward", &mdp).is_ok());
    /// assert!(Reward::StateAction(&[0.0]).validate("reward", &mdp).is_err());
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn validate(&self, what: &'static str, mdp: &Mdp<'_, F>) -> Result<()> {
        self.validate_max(what, mdp).map(|_| ())
    }

    /// [`Reward::validate`], returning `max |R|` from the same pass.
    pub(crate) fn validate_max(&self, what: &'static str, mdp: &Mdp<'_, F>) -> Result<f64> {
        let expected = match self {
            Reward::Full(_) => mdp.full_len(),
            Reward::StateAction(_) => mdp.n_states * mdp.n_actions,
            Reward::State(_) => mdp.n_states,
        };
        ensure_len(what, expected, self.values().len())?;
        let (max, finite) = scan_lanes(self.values());
        if !finite {
            ensure_finite(what, self.values())?;
        }
        Ok(max)
    }

    /// `R(s, a, s')` (0 for out-of-range indices).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::mdp::Reward;
    /// let r = Reward::StateAction(&[1.0f64, 2.0, 3.0, 4.0]);
    /// assert_eq!(r.at(1, 0, 1, 2, 2), 3.0); // (S, A) = (2, 2)
    /// ```
    #[inline]
    pub fn at(&self, s: usize, a: usize, s_next: usize, n_states: usize, n_actions: usize) -> F {
        let idx = match *self {
            Reward::Full(_) => (s * n_actions + a) * n_states + s_next,
            Reward::StateAction(_) => s * n_actions + a,
            Reward::State(_) => s,
        };
        self.values().get(idx).copied().unwrap_or(F::ZERO)
    }

    /// `R(s, a, ·)`.
    #[inline]
    pub(crate) fn row(
        &self,
        s: usize,
        a: usize,
        n_states: usize,
        n_actions: usize,
    ) -> RewardRow<'a, F> {
        match *self {
            Reward::Full(r) => {
                let lo = (s * n_actions + a) * n_states;
                RewardRow::Slice(r.get(lo..lo + n_states).unwrap_or(&[]))
            }
            Reward::StateAction(r) => {
                RewardRow::Const(r.get(s * n_actions + a).map_or(0.0, |x| x.as_f64()))
            }
            Reward::State(r) => RewardRow::Const(r.get(s).map_or(0.0, |x| x.as_f64())),
        }
    }

    /// Writes the full `(S, A, S')` tensor.
    ///
    /// # Shapes
    /// `out`: `(S, A, S')`.
    ///
    /// # Errors
    /// As [`Reward::validate`], plus [`Error::LengthMismatch`] for `out`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
    /// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.9)?;
    /// let mut out = [0.0f64; 2];
    /// Reward::StateAction(&[3.0, 4.0]).expand(&mut out, &mdp)?;
    /// assert_eq!(out, [3.0, 4.0]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn expand(&self, out: &mut [F], mdp: &Mdp<'_, F>) -> Result<()> {
        self.validate("reward", mdp)?;
        ensure_len("out", mdp.full_len(), out.len())?;
        let (ns, na) = (mdp.n_states, mdp.n_actions);
        for (i, row) in out.chunks_exact_mut(ns).enumerate() {
            let r = self.row(i / na, i % na, ns, na);
            for (j, o) in row.iter_mut().enumerate() {
                *o = F::lit(r.at(j));
            }
        }
        Ok(())
    }
}

/// Fills `out[s·A + a] = r̄(s, a) = Σ_{s'} τ(s, a, s')·R(s, a, s')` in `f64` (reward validated by the
/// caller).
#[cfg_attr(
    not(feature = "alloc"),
    expect(dead_code, reason = "used by the alloc-only solvers and distances")
)]
pub(crate) fn fill_expected_reward<F: Real>(
    out: &mut [f64],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
) {
    let (ns, na) = (mdp.n_states, mdp.n_actions);
    for ((o, (s, a)), row) in out.iter_mut().zip(state_actions(ns, na)).zip(mdp.rows()) {
        let r = reward.row(s, a, ns, na);
        *o = match (r, row) {
            (RewardRow::Const(c), _) => c * row.sum(),
            (RewardRow::Slice(x), Row::Dense(t)) => dot_lanes(x, t),
            (RewardRow::Slice(x), Row::Sparse(n, p)) => n
                .iter()
                .zip(p)
                .map(|(&j, p)| p.as_f64() * x.get(j as usize).map_or(0.0, |v| v.as_f64()))
                .sum(),
        };
    }
}

/// Validates `reward` and computes `r̄` in one memory pass (each full-tensor row is scanned for
/// NaN/∞ while in cache for its dot product with `τ`); returns `(r̄, max |R|)`.
#[cfg(feature = "alloc")]
pub(crate) fn expected_reward_checked<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    what: &'static str,
) -> Result<(Vec<f64>, f64)> {
    let mut rbar = vec![0.0f64; mdp.n_states * mdp.n_actions];
    let max = match *reward {
        Reward::Full(values) => {
            ensure_len(what, mdp.full_len(), values.len())?;
            // Long rows: scan each row while it is in cache for its dot product (one memory
            // pass); short rows: one scan of the whole tensor (less per-row overhead).
            let fused = mdp.n_states >= 256;
            let (mut max, mut finite) = if fused {
                (0.0f64, true)
            } else {
                scan_lanes(values)
            };
            for ((o, row), trow) in rbar
                .iter_mut()
                .zip(values.chunks_exact(mdp.n_states))
                .zip(mdp.rows())
            {
                if fused {
                    let (m, f) = scan_lanes(row);
                    max = max.max(m);
                    finite &= f;
                }
                *o = match trow {
                    Row::Dense(t) => dot_lanes(row, t),
                    Row::Sparse(n, p) => n
                        .iter()
                        .zip(p)
                        .map(|(&j, p)| p.as_f64() * row.get(j as usize).map_or(0.0, |v| v.as_f64()))
                        .sum(),
                };
            }
            if !finite {
                ensure_finite(what, values)?;
            }
            max
        }
        _ => {
            let max = reward.validate_max(what, mdp)?;
            fill_expected_reward(&mut rbar, mdp, reward);
            max
        }
    };
    if scan_lanes(&rbar).1 {
        Ok((rbar, max))
    } else {
        Err(Error::Overflow {
            what: "expected reward",
        })
    }
}

/// Expected immediate reward of each state-action pair.
///
/// # Definition
/// `r̄(s, a) = Σ_{s'} τ(s, a, s')·R(s, a, s')`, accumulated in `f64`.
///
/// # Shapes
/// `out`: `(S, A)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for `out` or the reward; [`Error::NonFinite`] for NaN/∞ rewards;
/// [`Error::Overflow`] if a result is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions, expected_reward};
/// let tau = [0.25, 0.75, 0.0, 1.0f64]; // (2, 1, 2)
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&tau), &[1.0, 0.0], 0.9)?;
/// let mut rbar = [0.0f64; 2];
/// expected_reward(&mut rbar, &mdp, &Reward::Full(&[4.0, 0.0, 1.0, 2.0]))?;
/// assert_eq!(rbar, [1.0, 2.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Puterman (1994), *Markov Decision Processes*, §2.1.
pub fn expected_reward<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
) -> Result<()> {
    reward.validate("reward", mdp)?;
    ensure_len("out", mdp.n_states * mdp.n_actions, out.len())?;
    let (ns, na) = (mdp.n_states, mdp.n_actions);
    for ((i, o), row) in out.iter_mut().enumerate().zip(mdp.rows()) {
        let r = reward.row(i / na, i % na, ns, na);
        let mut acc = 0.0;
        row.for_each(|j, p| acc += p * r.at(j));
        *o = to_real(acc, "expected reward")?;
    }
    Ok(())
}

/// State-action values from state values.
///
/// # Definition
/// `Q(s, a) = Σ_{s'} τ(s, a, s')·(R(s, a, s') + γ·V(s'))`.
///
/// # Shapes
/// `out`: `(S, A)`; `values`: `(S)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ rewards or values;
/// [`Error::Overflow`] if a result is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions, q_values};
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
/// let mut q = [0.0f64; 2];
/// q_values(&mut q, &mdp, &Reward::StateAction(&[1.0, 0.0]), &[2.0])?;
/// assert_eq!(q, [2.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Puterman (1994), *Markov Decision Processes*, §6.
pub fn q_values<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    values: &[F],
) -> Result<()> {
    reward.validate("reward", mdp)?;
    ensure_len("out", mdp.n_states * mdp.n_actions, out.len())?;
    ensure_len("values", mdp.n_states, values.len())?;
    ensure_finite("values", values)?;
    let (ns, na) = (mdp.n_states, mdp.n_actions);
    let g = mdp.gamma.as_f64();
    for ((i, o), row) in out.iter_mut().enumerate().zip(mdp.rows()) {
        let r = reward.row(i / na, i % na, ns, na);
        let mut acc = 0.0;
        row.for_each(|j, p| {
            let v = values.get(j).map_or(0.0, |x| x.as_f64());
            acc += p * (r.at(j) + g * v);
        });
        *o = to_real(acc, "Q values")?;
    }
    Ok(())
}

/// A policy: uniform, deterministic (one action per state) or stochastic.
///
/// # Definition
/// `π(a|s)`: `Uniform`: `1/A`; `Deterministic(d)`: `1{a = d(s)}`; `Stochastic(p)`: `p(s, a)`.
///
/// # Shapes
/// `Deterministic`: `(S)` action indices; `Stochastic`: `(S, A)`, rows summing to 1.
///
/// # Errors
/// Users return [`Error::LengthMismatch`], [`Error::NonFinite`] or [`Error::InvalidParam`]
/// (action index `>= A`; a row that is not a probability vector within
/// [`stochastic_tolerance`]).
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Policy, Transitions};
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
/// assert!(Policy::<f64>::Deterministic(&[1]).validate(&mdp).is_ok());
/// assert!(Policy::<f64>::Deterministic(&[2]).validate(&mdp).is_err());
/// assert_eq!(Policy::<f64>::Uniform.prob(0, 1, 2), 0.5);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy<'a, F> {
    /// `π(a|s) = 1/A`.
    Uniform,
    /// `π(a|s) = 1{a = d(s)}`.
    Deterministic(&'a [usize]),
    /// `π(a|s) = p[s·A + a]`.
    Stochastic(&'a [F]),
}

impl<F: Real> Policy<'_, F> {
    /// Checks the policy against `mdp`.
    ///
    /// # Errors
    /// As listed on [`Policy`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::mdp::{Mdp, Policy, Transitions};
    /// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
    /// assert!(Policy::Stochastic(&[0.3, 0.7]).validate(&mdp).is_ok());
    /// assert!(Policy::Stochastic(&[0.3, 0.3]).validate(&mdp).is_err());
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn validate(&self, mdp: &Mdp<'_, F>) -> Result<()> {
        match *self {
            Policy::Uniform => Ok(()),
            Policy::Deterministic(d) => {
                ensure_len("policy", mdp.n_states, d.len())?;
                match d.iter().find(|&&a| a >= mdp.n_actions) {
                    Some(&a) => Err(Error::InvalidParam {
                        name: "policy",
                        value: a as f64,
                        expected: "action indices < A",
                    }),
                    None => Ok(()),
                }
            }
            Policy::Stochastic(p) => {
                ensure_len("policy", mdp.n_states * mdp.n_actions, p.len())?;
                for row in p.chunks_exact(mdp.n_actions) {
                    check_probabilities("policy", row)?;
                }
                Ok(())
            }
        }
    }

    /// `π(a|s)` for an MDP with `n_actions` actions.
    #[inline]
    pub fn prob(&self, s: usize, a: usize, n_actions: usize) -> f64 {
        match *self {
            Policy::Uniform => 1.0 / n_actions as f64,
            Policy::Deterministic(d) => {
                if d.get(s) == Some(&a) {
                    1.0
                } else {
                    0.0
                }
            }
            Policy::Stochastic(p) => p.get(s * n_actions + a).map_or(0.0, |x| x.as_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors() {
        let tau = [1.0f64, 0.0, 0.0, 1.0];
        let init = [1.0, 0.0];
        assert!(Mdp::new(2, 1, Transitions::Dense(&tau), &init, 0.99).is_ok());
        assert_eq!(
            Mdp::new(0, 1, Transitions::Dense(&tau), &init, 0.5),
            Err(Error::Empty { what: "states" })
        );
        assert_eq!(
            Mdp::new(2, 0, Transitions::Dense(&tau), &init, 0.5),
            Err(Error::Empty { what: "actions" })
        );
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Dense(&tau), &init, -0.1),
            Err(Error::InvalidParam { name: "gamma", .. })
        ));
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Dense(&tau), &init, f64::NAN),
            Err(Error::InvalidParam { name: "gamma", .. })
        ));
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Dense(&tau[..3]), &init, 0.5),
            Err(Error::LengthMismatch {
                what: "transitions",
                ..
            })
        ));
        assert!(matches!(
            Mdp::new(
                2,
                1,
                Transitions::Dense(&[1.0, f64::NAN, 0.0, 1.0]),
                &init,
                0.5
            ),
            Err(Error::NonFinite {
                what: "transitions",
                index: 1
            })
        ));
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Dense(&[1.5, -0.5, 0.0, 1.0]), &init, 0.5),
            Err(Error::InvalidParam {
                name: "transitions",
                ..
            })
        ));
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Dense(&tau), &[0.5, 0.4], 0.5),
            Err(Error::InvalidParam {
                name: "initial",
                ..
            })
        ));
        // Within tolerance for f32: 1 + 1e-4.
        let t32 = [0.5f32, 0.5001, 0.0, 1.0];
        assert!(Mdp::new(2, 1, Transitions::Dense(&t32), &[1.0f32, 0.0], 0.5).is_ok());
        let t64 = [0.5f64, 0.5001, 0.0, 1.0];
        assert!(Mdp::new(2, 1, Transitions::Dense(&t64), &init, 0.5).is_err());
    }

    #[test]
    fn sparse_validation() {
        let init = [1.0f64, 0.0];
        let ok = SparseTransitions::new(&[0, 2, 3], &[0, 1, 1], &[0.5, 0.5, 1.0]);
        let mdp = Mdp::new(2, 1, Transitions::Sparse(ok), &init, 0.5).unwrap();
        assert_eq!(mdp.nnz(), 3);
        let mut seen = Vec::new();
        for row in mdp.rows() {
            row.for_each(|j, p| seen.push((j, p)));
        }
        assert_eq!(seen, [(0, 0.5), (1, 0.5), (1, 1.0)]);
        // Unsorted / duplicate next states.
        let dup = SparseTransitions::new(&[0, 2, 3], &[1, 1, 1], &[0.5, 0.5, 1.0]);
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Sparse(dup), &init, 0.5),
            Err(Error::InvalidParam {
                name: "next_states",
                ..
            })
        ));
        // Out-of-range next state.
        let oor = SparseTransitions::new(&[0, 1, 2], &[0, 2], &[1.0, 1.0]);
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Sparse(oor), &init, 0.5),
            Err(Error::InvalidParam {
                name: "next_states",
                ..
            })
        ));
        // Offsets that go backwards or do not end at nnz.
        let back = SparseTransitions::new(&[0, 2, 1], &[0, 1], &[1.0, 1.0]);
        assert!(Mdp::new(2, 1, Transitions::Sparse(back), &init, 0.5).is_err());
        let short = SparseTransitions::new(&[0, 1], &[0], &[1.0]);
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Sparse(short), &init, 0.5),
            Err(Error::LengthMismatch {
                what: "offsets",
                ..
            })
        ));
        // An empty row does not sum to one.
        let empty = SparseTransitions::new(&[0, 0, 1], &[1], &[1.0]);
        assert!(matches!(
            Mdp::new(2, 1, Transitions::Sparse(empty), &init, 0.5),
            Err(Error::InvalidParam {
                name: "transitions",
                ..
            })
        ));
    }

    #[test]
    fn rewards_and_q() {
        // 2 states, 2 actions; hand-computed r̄ and Q with V = (1, 2), γ = 0.5.
        let tau = [0.5, 0.5, 1.0, 0.0, 0.0, 1.0, 0.25, 0.75f64];
        let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.5).unwrap();
        let r = [2.0, 4.0, 1.0, 9.0, 0.0, 3.0, 4.0, 8.0f64];
        let mut rbar = [0.0f64; 4];
        expected_reward(&mut rbar, &mdp, &Reward::Full(&r)).unwrap();
        // (0,0): 0.5·2 + 0.5·4 = 3; (0,1): 1; (1,0): 3; (1,1): 0.25·4 + 0.75·8 = 7.
        assert_eq!(rbar, [3.0, 1.0, 3.0, 7.0]);
        let mut q = [0.0f64; 4];
        q_values(&mut q, &mdp, &Reward::Full(&r), &[1.0, 2.0]).unwrap();
        // Q = r̄ + 0.5·E[V]: (0,0): 3 + 0.5·1.5; (0,1): 1 + 0.5; (1,0): 3 + 1; (1,1): 7 + 0.5·1.75.
        assert_eq!(q, [3.75, 1.5, 4.0, 7.875]);
        assert!(expected_reward(&mut rbar, &mdp, &Reward::Full(&r[..7])).is_err());
        assert!(q_values(&mut q, &mdp, &Reward::State(&[1.0, f64::NAN]), &[0.0; 2]).is_err());
        assert!(q_values(&mut q, &mdp, &Reward::State(&[1.0, 1.0]), &[0.0; 3]).is_err());
    }

    #[test]
    fn row_sampling_follows_the_cdf() {
        let row = Row::Dense(&[0.0f64, 0.25, 0.0, 0.75]);
        assert_eq!(row.sample(0.0), 1);
        assert_eq!(row.sample(0.2499), 1);
        assert_eq!(row.sample(0.25), 3);
        assert_eq!(row.sample(0.999_999), 3);
        let sp = Row::Sparse(&[2u32, 5], &[0.5f64, 0.5]);
        assert_eq!((sp.sample(0.1), sp.sample(0.7)), (2, 5));
        assert_eq!(sp.dot(&[0.0, 0.0, 2.0, 0.0, 0.0, 4.0]), 3.0);
        assert_eq!(sp.sum_sq(), 0.5);
    }

    #[test]
    fn policies() {
        let mdp = Mdp::new(
            2,
            2,
            Transitions::Dense(&[1.0f64, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]),
            &[1.0, 0.0],
            0.5,
        )
        .unwrap();
        assert!(Policy::<f64>::Deterministic(&[0]).validate(&mdp).is_err());
        assert!(
            Policy::Stochastic(&[0.5, 0.5, 1.0, f64::NAN])
                .validate(&mdp)
                .is_err()
        );
        assert!(
            Policy::Stochastic(&[0.5, 0.5, 1.0, -0.0])
                .validate(&mdp)
                .is_ok()
        );
        assert_eq!(Policy::<f64>::Deterministic(&[1, 0]).prob(0, 1, 2), 1.0);
        assert_eq!(Policy::Stochastic(&[0.5, 0.5, 0.2, 0.8]).prob(1, 1, 2), 0.8);
    }
}
