//! The optimal token baseline (verl `optimal_token_baseline` and `tir_optimal_token_baseline`): a
//! per-position baseline within each group, weighted by a cumulative path-variance proxy.

use num_traits::Float;

use crate::error::{Error, Result, param_nonneg};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor, Mask, count_true};
use crate::real::Real;

use super::returns::check_tokens;

/// How token positions are aligned across the trajectories of a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OtbPositions {
    /// Position `t` of every row (verl `optimal_token_baseline`).
    #[default]
    Absolute,
    /// The `k`-th *valid* token of every row, so multi-turn responses with masked observation spans
    /// line up (verl `tir_optimal_token_baseline`); rows with no valid token are left out of their
    /// group.
    Compacted,
}

/// Optimal-token-baseline parameters.
///
/// # Definition
/// With `πₜ = e^{old_logp_t}`, `wₜ = 1 − 2πₜ + Σ_v π²_{t,v}` (times `ρ̄ₜ²` when rollout importance
/// weights are given), `Wₜ = Σ_{j<=t} m_j·w_j` and the reward-to-go `Gₜ = Σ_{k>=t} m_k·r_k`, the
/// baseline of a group at position `t` is `Bₜ = Σᵢ Gᵢₜ·Wᵢₜ·mᵢₜ / (Σᵢ Wᵢₜ·mᵢₜ + ε)` and
/// `Aₜ = (Gₜ − Bₜ)·mₜ`. A group of one gets `B = 0`. With `handle_zero_tail`, when a single longest
/// trajectory is strictly longer than the second longest (length `L₂`), its baseline is 0 from
/// position `L₂` on (no other trajectory informs it there).
///
/// Defaults: `handle_zero_tail = true`, `ε = 1e-8`, [`OtbPositions::Absolute`] (current verl).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Otb<F> {
    handle_zero_tail: bool,
    eps: F,
    positions: OtbPositions,
}

impl<F: Real> Default for Otb<F> {
    fn default() -> Self {
        Self {
            handle_zero_tail: true,
            eps: F::lit(1e-8),
            positions: OtbPositions::Absolute,
        }
    }
}

impl<F: Real> Otb<F> {
    /// Validated parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a negative or non-finite `eps`.
    pub fn new(handle_zero_tail: bool, eps: F, positions: OtbPositions) -> Result<Self> {
        Ok(Self {
            handle_zero_tail,
            eps: param_nonneg("eps", eps)?,
            positions,
        })
    }
}

/// Optimal token baseline advantages (verl's OTB).
///
/// # Definition
/// See [`Otb`]. Masked positions are not read; `returns` holds the reward-to-go `G` at every
/// position (carried through masked ones, as verl), `advantages` 0 at masked positions.
///
/// # Shapes
/// `advantages`, `returns`, `rewards`, `old_logp`, `sum_pi_squared`, `is_weights`: `(B, T)`, like
/// `mask`; `groups` over the `B` rows. `sum_pi_squared` is `Σ_v π²` per token
/// (`exp(logsumexp(2z) − 2·logsumexp(z))` from the logits).
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] at a valid position; [`Error::Overflow`] if a
/// baseline overflows.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, Mask, advantage::{Otb, optimal_token_baseline}};
/// let groups = GroupIndex::uniform(2, 2)?;
/// let mask = Mask::new(&[true, true, true, true], 2)?;
/// let (mut adv, mut ret) = ([0.0f64; 4], [0.0f64; 4]);
/// // Deterministic tokens (π = 1, Σπ² = 1) carry no variance: w = 0, baseline 0.
/// optimal_token_baseline(&mut adv, &mut ret, &[0.0, 1.0, 0.0, 0.0], &[0.0; 4], &[1.0; 4], None,
///     mask, &groups, &Otb::default())?;
/// assert_eq!(adv, [1.0, 1.0, 0.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn optimal_token_baseline<F: Real>(
    advantages: &mut [F],
    returns: &mut [F],
    rewards: &[F],
    old_logp: &[F],
    sum_pi_squared: &[F],
    is_weights: Option<&[F]>,
    mask: Mask<'_>,
    groups: &GroupIndex<'_>,
    params: &Otb<F>,
) -> Result<()> {
    let mut scratch = alloc::vec![0.0f64; 4 * mask.shape().seq_len()];
    otb_run(
        advantages,
        returns,
        rewards,
        old_logp,
        sum_pi_squared,
        is_weights,
        mask,
        groups,
        params,
        &mut scratch,
    )
}

/// [`optimal_token_baseline`] with caller scratch of at least `4·T` `f64`.
pub(crate) fn otb_run<F: Real>(
    advantages: &mut [F],
    returns: &mut [F],
    rewards: &[F],
    old_logp: &[F],
    sum_pi_squared: &[F],
    is_weights: Option<&[F]>,
    mask: Mask<'_>,
    groups: &GroupIndex<'_>,
    params: &Otb<F>,
    scratch: &mut [f64],
) -> Result<()> {
    let shape = mask.shape();
    shape.check("advantages", advantages.len())?;
    shape.check("returns", returns.len())?;
    check_tokens("rewards", rewards, mask)?;
    check_tokens("old_logp", old_logp, mask)?;
    check_tokens("sum_pi_squared", sum_pi_squared, mask)?;
    if let Some(w) = is_weights {
        check_tokens("is_weights", w, mask)?;
    }
    groups.check_rows("mask rows", shape.batch())?;
    let t = shape.seq_len();
    crate::error::ensure_len("scratch", 4 * t, scratch.len().min(4 * t))?;
    let (num, rest) = scratch.split_at_mut(t);
    let (den, rest) = rest.split_at_mut(t);
    let (g_row, rest) = rest.split_at_mut(t);
    let w_row = rest.get_mut(..t).unwrap_or(&mut []);
    let mut v = V {
        adv: &mut *advantages,
        ret: &mut *returns,
        rewards,
        old_logp,
        sum_pi_squared,
        is_weights,
        mask,
        t,
        p: *params,
        num,
        den,
        g_row,
        w_row,
    };
    groups.visit(&mut v)?;
    crate::error::ensure_output("optimal token baseline returns", returns)?;
    crate::error::ensure_output("optimal token baseline", advantages)
}

/// Per-group state of the OTB visitor: the inputs, and `(T)` scratch rows.
struct V<'a, F> {
    adv: &'a mut [F],
    ret: &'a mut [F],
    rewards: &'a [F],
    old_logp: &'a [F],
    sum_pi_squared: &'a [F],
    is_weights: Option<&'a [F]>,
    mask: Mask<'a>,
    t: usize,
    p: Otb<F>,
    num: &'a mut [f64],
    den: &'a mut [f64],
    g_row: &'a mut [f64],
    w_row: &'a mut [f64],
}

impl<F: Real> V<'_, F> {
    fn row<'b>(&self, x: &'b [F], i: usize) -> &'b [F] {
        x.get(i * self.t..(i + 1) * self.t).unwrap_or(&[])
    }

    /// Row `i`'s reward-to-go `G` and cumulative weights `W` at its positions (absolute `j`, or the
    /// `k`-th valid token when compacted), in `f64`; masked inputs are not read.
    fn row_stats(&mut self, i: usize) {
        let m = self.mask.row(i).unwrap_or(&[]);
        let (r, lp, sp) = (
            self.row(self.rewards, i),
            self.row(self.old_logp, i),
            self.row(self.sum_pi_squared, i),
        );
        let isw = self.is_weights.map(|w| self.row(w, i));
        let mut acc = 0.0f64;
        for ((g, &mj), &rj) in self.g_row.iter_mut().zip(m).zip(r).rev() {
            if mj {
                acc += rj.as_f64();
            }
            *g = acc;
        }
        let compact = self.p.positions == OtbPositions::Compacted;
        let (mut cum, mut k) = (0.0f64, 0usize);
        for j in 0..self.t {
            let mj = m.get(j).copied().unwrap_or(false);
            if mj {
                let (lpj, spj) = (
                    lp.get(j).map_or(0.0, |x| x.as_f64()),
                    sp.get(j).map_or(0.0, |x| x.as_f64()),
                );
                let mut w = 1.0 - 2.0 * Float::exp(lpj) + spj;
                if let Some(iw) = isw.and_then(|v| v.get(j)) {
                    w *= iw.as_f64() * iw.as_f64();
                }
                cum += w;
            }
            let pos = if compact { mj.then_some(k) } else { Some(j) };
            if let Some(pos) = pos {
                // Compacting moves G from j to k <= j: never overwrites a value still to be read.
                let gj = self.g_row.get(j).copied().unwrap_or(0.0);
                if let (Some(g), Some(w)) = (self.g_row.get_mut(pos), self.w_row.get_mut(pos)) {
                    *g = gj;
                    *w = cum;
                }
            }
            if mj {
                k += 1;
            }
        }
    }
}

impl<F: Real> GroupVisitor for V<'_, F> {
    fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
        let t = self.t;
        let compact = self.p.positions == OtbPositions::Compacted;
        let len_of = |mask: Mask<'_>, i: usize| mask.row(i).map_or(0, count_true);
        // Rows taking part: all rows, or (compacted) rows with at least one valid token.
        let mask = self.mask;
        let member = |i: usize| !compact || len_of(mask, i) > 0;
        let n_members = rows.rows().filter(|&i| member(i)).count();
        self.num.fill(0.0);
        self.den.fill(0.0);
        if n_members > 1 {
            for i in rows.rows().filter(|&i| member(i)) {
                self.row_stats(i);
                let len = len_of(mask, i);
                let m = mask.row(i).unwrap_or(&[]);
                for k in 0..t {
                    // Absolute: weight only valid positions; compacted: the first `len` slots.
                    let valid = if compact {
                        k < len
                    } else {
                        m.get(k).copied().unwrap_or(false)
                    };
                    if !valid {
                        continue;
                    }
                    let (g, w) = (
                        self.g_row.get(k).copied().unwrap_or(0.0),
                        self.w_row.get(k).copied().unwrap_or(0.0),
                    );
                    if let (Some(nu), Some(de)) = (self.num.get_mut(k), self.den.get_mut(k)) {
                        *nu += g * w;
                        *de += w;
                    }
                }
            }
        }
        let eps = self.p.eps.as_f64();
        // Zero tail: the unique longest member beyond the second longest.
        let mut tail: Option<(usize, usize)> = None;
        if self.p.handle_zero_tail && n_members > 1 {
            let (mut l1, mut arg, mut ties) = (0usize, usize::MAX, 0usize);
            for i in rows.rows().filter(|&i| member(i)) {
                let l = len_of(mask, i);
                if arg == usize::MAX || l > l1 {
                    (l1, arg, ties) = (l, i, 1);
                } else if l == l1 {
                    ties += 1;
                }
            }
            let l2 = rows
                .rows()
                .filter(|&i| member(i) && i != arg)
                .map(|i| len_of(mask, i))
                .max()
                .unwrap_or(0);
            if ties == 1 && l1 > l2 {
                tail = Some((arg, l2));
            }
        }
        for i in rows.rows() {
            self.row_stats(i);
            let m = mask.row(i).unwrap_or(&[]);
            // Returns: the reward-to-go at every position (carried through masked ones).
            let mut acc = 0.0f64;
            let r = self.row(self.rewards, i);
            if let Some(out) = self.ret.get_mut(i * t..(i + 1) * t) {
                for ((o, &mj), &rj) in out.iter_mut().zip(m).zip(r).rev() {
                    if mj {
                        acc += rj.as_f64();
                    }
                    *o = F::lit(acc);
                }
            }
            let mut k = 0usize;
            for j in 0..t {
                let mj = m.get(j).copied().unwrap_or(false);
                let pos = if compact { k } else { j };
                let mut b = 0.0;
                if n_members > 1 && member(i) && (!compact || mj) {
                    let (nu, de) = (
                        self.num.get(pos).copied().unwrap_or(0.0),
                        self.den.get(pos).copied().unwrap_or(0.0),
                    );
                    b = if nu == 0.0 { 0.0 } else { nu / (de + eps) };
                    if let Some((arg, l2)) = tail {
                        if arg == i && pos >= l2 {
                            b = 0.0;
                        }
                    }
                }
                if !b.is_finite() {
                    return Err(Error::Overflow {
                        what: "optimal token baseline",
                    });
                }
                let g = self.g_row.get(pos).copied().unwrap_or(0.0);
                if let Some(a) = self.adv.get_mut(i * t + j) {
                    *a = if mj { F::lit(g - b) } else { F::ZERO };
                }
                if mj {
                    k += 1;
                }
            }
        }
        Ok(())
    }
}
