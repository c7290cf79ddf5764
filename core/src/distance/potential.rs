//! STARC's minimal potential shaping (`MinimalPotential`): for a reward `R`, the potential `Φ*`
//! minimising `n(R + γΦ(s') − Φ(s))`, exactly, for weighted `L2` norms (normal equations) and
//! weighted `L1` norms (a linear program solved by a long-step dual simplex, with a least-`L2`
//! tie-break on the optimal face), together with a dual certificate of optimality.
//!
//! # The problems
//! With `x(Φ) = R + DΦ`, `(DΦ)(s, a, s') = γΦ(s') − Φ(s)` and weights `w >= 0` on `(s, a, s')`:
//! - `L2`: `min Σ w·x²`; the normal equations `(DᵀWD)Φ = −DᵀWR` (`S × S`; closed form for the
//!   counting measure, where `DᵀD = A·((1 + γ²)S·I − 2γ·11ᵀ)`).
//! - `L1`: `min Σ w·|x|`, whose dual is `max yᵀR` subject to `Dᵀy = 0`, `|y| <= w`. A
//!   primal-dual interior-point method (Frisch–Newton, one `S × S` system per iteration) finds a
//!   near-optimal potential; the `S` entries closest to zero there that have independent rows
//!   form the starting basis (crossover). The solver then walks vertices of the primal (bases of
//!   `S` entries with `x = 0`) as a dual simplex on that dual, passing every breakpoint of the
//!   piecewise-linear objective along an edge in one step (Barrodale and Roberts's `L1`
//!   regression algorithm), until the basic duals lie in `[−w, w]` on freshly factored data;
//!   `y` is the certificate.
//! - `L1` minimisers need not be unique (a median of an even number of values is an interval). The
//!   optimal set is a face `{x : x_i = 0 where |y_i| < w_i, y_i·x_i >= 0 elsewhere}` (any optimal
//!   `y` describes it, by complementary slackness); rewardkit returns its point of least weighted
//!   `L2` norm (a strictly convex quadratic program on the face, solved by a primal active-set
//!   method). The choice depends only on the face, so it is the same for every member of a
//!   potential-shaping class, scales with positive factors and is odd (`c(−R) = −c(R)`).

use alloc::vec;
use alloc::vec::Vec;

use num_traits::Float;

use super::norm::{Norm, Order, Weights};
use crate::error::{Error, Result, ensure_len};
use crate::mdp::linalg::{lu_factor, lu_solve};
use crate::mdp::{Mdp, Reward, RewardRow, checked_size, state_actions, to_real};
use crate::real::Real;

/// No basis slot.
const NONE: u32 = u32::MAX;
/// Relative tolerance under which a basic dual `|y_k|` counts as equal to its bound `w_k` (a tie:
/// the `L1` minimiser may not be unique, and the face's least-`L2` point is taken).
const TIE: f64 = 1e-9;
/// Relative tolerance of dual feasibility `|y_k| <= w_k` at the optimum.
const FEAS: f64 = 1e-10;
/// Pivots between refactorisations of the basis inverse.
const REFRESH: usize = 128;

/// The positive-weight entries of the norm: source and next states, weights, flat indices.
pub(crate) struct Entries {
    src: Vec<u32>,
    dst: Vec<u32>,
    w: Vec<f64>,
    idx: Vec<usize>,
}

/// Calls `f(s, s', flat index, w)` for every positive weight of the norm, row by row (no division
/// per entry): row `s·A + a` covers the flat indices `(s·A + a)·S + s'`.
fn for_each_weight<F: Real>(
    mdp: &Mdp<'_, F>,
    weights: &Weights<'_, F>,
    mut f: impl FnMut(usize, usize, usize, f64),
) {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    match weights {
        Weights::Uniform => {
            for row in 0..ns * na {
                let s = row / na;
                for t in 0..ns {
                    f(s, t, row * ns + t, 1.0);
                }
            }
        }
        Weights::Transition => {
            for (row, r) in mdp.rows().enumerate() {
                let s = row / na;
                r.for_each_nonzero(|t, p| f(s, t, row * ns + t, p));
            }
        }
        Weights::Custom(w) => {
            for (row, chunk) in w.chunks_exact(ns.max(1)).enumerate() {
                let s = row / na;
                for (t, x) in chunk.iter().enumerate() {
                    let x = x.as_f64();
                    if x > 0.0 {
                        f(s, t, row * ns + t, x);
                    }
                }
            }
        }
    }
}

impl Entries {
    fn new<F: Real>(mdp: &Mdp<'_, F>, weights: &Weights<'_, F>) -> Result<Self> {
        let mut e = Self {
            src: Vec::new(),
            dst: Vec::new(),
            w: Vec::new(),
            idx: Vec::new(),
        };
        for_each_weight(mdp, weights, |s, t, i, w| {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "invariant: states < S and Mdp::new checks that S fits u32"
            )]
            {
                e.src.push(s as u32);
                e.dst.push(t as u32);
            }
            e.w.push(w);
            e.idx.push(i);
        });
        if u32::try_from(e.w.len()).is_err() {
            return Err(Error::TooLarge {
                what: "positive-weight transitions",
                len: e.w.len(),
                max: u32::MAX as usize,
            });
        }
        if e.w.is_empty() {
            return Err(Error::InvalidParam {
                name: "weights",
                value: 0.0,
                expected: "at least one positive weight",
            });
        }
        Ok(e)
    }
}

/// `R` at a flat `(s, a, s')` index.
fn reward_at<F: Real>(reward: &Reward<'_, F>, i: usize, ns: usize, na: usize) -> f64 {
    let j = match reward {
        Reward::Full(_) => i,
        Reward::StateAction(_) => i / ns,
        Reward::State(_) => i / (ns * na),
    };
    reward.values().get(j).map_or(0.0, |x| x.as_f64())
}

/// `(D v)` for one entry: `γ·v(s') − v(s)`.
#[inline]
fn d_dot(v: &[f64], s: u32, t: u32, g: f64) -> f64 {
    g * v.get(t as usize).copied().unwrap_or(0.0) - v.get(s as usize).copied().unwrap_or(0.0)
}

/// `out += c·Dᵢᵀ` for one entry: `out(s') += γc`, `out(s) −= c`.
#[inline]
fn d_axpy(out: &mut [f64], s: u32, t: u32, g: f64, c: f64) {
    if let Some(o) = out.get_mut(t as usize) {
        *o += g * c;
    }
    if let Some(o) = out.get_mut(s as usize) {
        *o -= c;
    }
}

/// The reward-independent part of `MinimalPotential` for one MDP and norm.
pub(crate) struct PotentialSystem {
    order: Order,
    ns: usize,
    na: usize,
    gamma: f64,
    /// The positive-weight entries (`L1` only; `L2` reads the weights in place).
    entries: Entries,
    uniform: bool,
    /// `M = DᵀWD`, `S × S` (kept for the `L1` tie-break).
    m: Vec<f64>,
    /// LU factors of `M` (empty for the uniform `L2` closed form).
    lu: Vec<f64>,
    piv: Vec<usize>,
}

/// The solution of one minimal-potential problem, in `f64`.
pub(crate) struct PotentialSolution {
    /// `Φ*`, `(S)`.
    pub(crate) phi: Vec<f64>,
    /// `n(R + DΦ*)`.
    pub(crate) value: f64,
}

impl PotentialSystem {
    /// Validates the norm and factors the normal matrix.
    pub(crate) fn new<F: Real>(mdp: &Mdp<'_, F>, norm: &Norm<'_, F>) -> Result<Self> {
        norm.validate(mdp)?;
        if norm.order == Order::LInf {
            return Err(Error::InvalidParam {
                name: "norm",
                value: f64::INFINITY,
                expected: "L1 or L2 (the minimal-L∞ potential is not unique in general)",
            });
        }
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let gamma = mdp.gamma().as_f64();
        let uniform = matches!(norm.weights, Weights::Uniform);
        let entries = if norm.order == Order::L1 {
            Entries::new(mdp, &norm.weights)?
        } else {
            Entries {
                src: Vec::new(),
                dst: Vec::new(),
                w: Vec::new(),
                idx: Vec::new(),
            }
        };
        let mut sys = Self {
            order: norm.order,
            ns,
            na,
            gamma,
            entries,
            uniform,
            m: Vec::new(),
            lu: Vec::new(),
            piv: Vec::new(),
        };
        if !(uniform && norm.order == Order::L2) {
            // M = Σ w·(γe_{s'} − e_s)(γe_{s'} − e_s)ᵀ from the (s, s') sums of the weights.
            let mut pair = vec![0.0f64; checked_size("states x states", ns, ns)?];
            let mut any = false;
            for_each_weight(mdp, &norm.weights, |s, t, _, w| {
                any = true;
                if let Some(p) = pair.get_mut(s * ns + t) {
                    *p += w;
                }
            });
            if !any {
                return Err(Error::InvalidParam {
                    name: "weights",
                    value: 0.0,
                    expected: "at least one positive weight",
                });
            }
            sys.m = pair_matrix(ns, gamma, &pair);
            let mut lu = sys.m.clone();
            let mut piv = vec![0usize; ns];
            lu_factor(&mut lu, &mut piv, ns).map_err(|e| match e {
                Error::InvalidParam { value, .. } => Error::InvalidParam {
                    name: "weights",
                    value,
                    expected: "weights that determine the potential (DᵀWD nonsingular)",
                },
                other => other,
            })?;
            sys.lu = lu;
            sys.piv = piv;
        }
        Ok(sys)
    }

    /// The weighted least-squares potential `argmin Σ w·x²`.
    fn solve_l2<F: Real>(
        &self,
        mdp: &Mdp<'_, F>,
        weights: &Weights<'_, F>,
        reward: &Reward<'_, F>,
    ) -> Result<Vec<f64>> {
        let (ns, na, g) = (self.ns, self.na, self.gamma);
        let mut b = vec![0.0f64; ns];
        if self.uniform {
            // b = rowsum − γ·colsum; Φ = (b + 2γ(1ᵀb)/(S(1 − γ)²)·1)/(A(1 + γ²)S).
            let mut col = vec![0.0f64; ns];
            for (s, a) in state_actions(ns, na) {
                match reward.row(s, a, ns, na) {
                    RewardRow::Slice(r) => {
                        let mut acc = 0.0;
                        for (c, v) in col.iter_mut().zip(r) {
                            let v = v.as_f64();
                            *c += v;
                            acc += v;
                        }
                        if let Some(x) = b.get_mut(s) {
                            *x += acc;
                        }
                    }
                    RewardRow::Const(v) => {
                        col.iter_mut().for_each(|c| *c += v);
                        if let Some(x) = b.get_mut(s) {
                            *x += v * ns as f64;
                        }
                    }
                }
            }
            for (x, c) in b.iter_mut().zip(&col) {
                *x -= g * c;
            }
            let sf = ns as f64;
            let total: f64 = b.iter().sum();
            let shift = 2.0 * g * total / (sf * (1.0 - g) * (1.0 - g));
            let scale = 1.0 / (na as f64 * (1.0 + g * g) * sf);
            b.iter_mut().for_each(|x| *x = (*x + shift) * scale);
        } else {
            for_each_weight(mdp, weights, |s, t, i, w| {
                let r = w * reward_at(reward, i, ns, na);
                if let Some(x) = b.get_mut(s) {
                    *x += r;
                }
                if let Some(x) = b.get_mut(t) {
                    *x -= g * r;
                }
            });
            lu_solve(&self.lu, &self.piv, &mut b, ns)?;
        }
        Ok(b)
    }

    /// Solves the minimal-potential problem for `reward` (validated by the caller); writes the
    /// certificate `y` (full `(S, A, S')` layout) into `cert` when given.
    pub(crate) fn solve<F: Real>(
        &self,
        mdp: &Mdp<'_, F>,
        weights: &Weights<'_, F>,
        reward: &Reward<'_, F>,
        cert: Option<&mut [f64]>,
    ) -> Result<PotentialSolution> {
        let phi2 = self.solve_l2(mdp, weights, reward)?;
        match self.order {
            Order::L1 => {
                let r: Vec<f64> = self
                    .entries
                    .idx
                    .iter()
                    .map(|&i| reward_at(reward, i, self.ns, self.na))
                    .collect();
                let mut lad = Lad::new(self, r);
                lad.run(&phi2)?;
                let value = lad.value();
                if let Some(c) = cert {
                    c.iter_mut().for_each(|v| *v = 0.0);
                    for (&i, &y) in self.entries.idx.iter().zip(&lad.y) {
                        if let Some(v) = c.get_mut(i) {
                            *v = y;
                        }
                    }
                }
                Ok(PotentialSolution {
                    phi: lad.phi,
                    value,
                })
            }
            _ => {
                let (ns, na, g) = (self.ns, self.na, self.gamma);
                // ‖x‖ and, for the certificate, y = W·x/‖x‖.
                let mut sum = 0.0f64;
                let mut fill = |i: usize, w: f64, x: f64| {
                    sum += w * x * x;
                    (i, w * x)
                };
                let mut ys: Vec<(usize, f64)> = Vec::new();
                let want = cert.is_some();
                let mut wsum = 0.0f64;
                if self.uniform {
                    for (row, (s, a)) in state_actions(ns, na).enumerate() {
                        let base = -phi2.get(s).copied().unwrap_or(0.0);
                        let rr = reward.row(s, a, ns, na);
                        for (t, p) in phi2.iter().enumerate() {
                            let x = rr.at(t) + g * p + base;
                            let item = fill(row * ns + t, 1.0, x);
                            if want {
                                ys.push(item);
                            }
                        }
                    }
                } else {
                    for_each_weight(mdp, weights, |s, t, i, w| {
                        let x = reward_at(reward, i, ns, na)
                            + g * phi2.get(t).copied().unwrap_or(0.0)
                            - phi2.get(s).copied().unwrap_or(0.0);
                        wsum += w;
                        let item = fill(i, w, x);
                        if want {
                            ys.push(item);
                        }
                    });
                }
                let value = Float::sqrt(sum);
                // A value at rounding level is an exact zero: its certificate is y = 0 (a noise
                // direction x/‖x‖ would not satisfy Dᵀy = 0).
                if self.uniform {
                    wsum = (ns * na * ns) as f64;
                }
                let rmax = ys_scale(reward);
                let pmax = phi2.iter().fold(0.0f64, |m, x| m.max(Float::abs(*x)));
                // Rounding of Φ* along the slowest direction of DᵀWD is amplified by up to
                // 1/(1 − γ) in x.
                let noise =
                    4.0 * f64::EPSILON * (rmax + 2.0 * pmax) * Float::sqrt(wsum) / (1.0 - g);
                if let Some(c) = cert {
                    c.iter_mut().for_each(|v| *v = 0.0);
                    if value > noise {
                        for (i, y) in ys {
                            if let Some(v) = c.get_mut(i) {
                                *v = y / value;
                            }
                        }
                    }
                }
                Ok(PotentialSolution { phi: phi2, value })
            }
        }
    }
}

/// `max |R|` over the stored values.
fn ys_scale<F: Real>(reward: &Reward<'_, F>) -> f64 {
    reward
        .values()
        .iter()
        .fold(0.0f64, |m, x| m.max(Float::abs(x.as_f64())))
}

/// `R + γΦ(s') − Φ(s)` over the full `(S, A, S')` tensor.
pub(crate) fn shaped_full<F: Real>(
    reward: &Reward<'_, F>,
    phi: &[f64],
    ns: usize,
    na: usize,
    g: f64,
) -> Vec<f64> {
    let mut out = vec![0.0f64; ns * na * ns];
    for (orow, (s, a)) in out.chunks_exact_mut(ns.max(1)).zip(state_actions(ns, na)) {
        let base = -phi.get(s).copied().unwrap_or(0.0);
        match reward.row(s, a, ns, na) {
            RewardRow::Slice(r) => {
                for ((o, v), p) in orow.iter_mut().zip(r).zip(phi) {
                    *o = v.as_f64() + g * p + base;
                }
            }
            RewardRow::Const(c) => {
                for (o, p) in orow.iter_mut().zip(phi) {
                    *o = c + g * p + base;
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Weighted L1: least absolute deviations over potentials
// ---------------------------------------------------------------------------------------------

/// `Σ_{s,s'} P(s, s')·(γe_{s'} − e_s)(γe_{s'} − e_s)ᵀ` from the `S × S` pair sums `P`.
fn pair_matrix(ns: usize, g: f64, pair: &[f64]) -> Vec<f64> {
    let mut m = vec![0.0f64; pair.len()];
    let mut diag = vec![0.0f64; ns];
    for (s, prow) in pair.chunks_exact(ns).enumerate() {
        for (t, &p) in prow.iter().enumerate() {
            if p == 0.0 {
                continue;
            }
            if s == t {
                if let Some(d) = diag.get_mut(s) {
                    *d += (1.0 - g) * (1.0 - g) * p;
                }
            } else {
                if let Some(d) = diag.get_mut(s) {
                    *d += p;
                }
                if let Some(d) = diag.get_mut(t) {
                    *d += g * g * p;
                }
                if let Some(x) = m.get_mut(s * ns + t) {
                    *x -= g * p;
                }
                if let Some(x) = m.get_mut(t * ns + s) {
                    *x -= g * p;
                }
            }
        }
    }
    for (s, d) in diag.iter().enumerate() {
        if let Some(x) = m.get_mut(s * ns + s) {
            *x += d;
        }
    }
    m
}

/// A near-optimal potential for the weighted-`L1` problem, by a primal-dual interior-point method
/// (Mehrotra predictor-corrector) on `min −rᵀy` s.t. `Dᵀy = 0`, `−w <= y <= w`, written with
/// `v = y + w ∈ [0, 2w]` and upper slack `t = 2w − v`: the Frisch–Newton method of Portnoy and
/// Koenker for `L1` regression. Each iteration solves two `S × S` systems with one factorisation
/// of `Dᵀ·Θ·D`, in five fused passes over the entries (the Newton steps of `s`, `ζ`, `t` are
/// recomputed from `Δv` instead of stored). Only a warm start: the simplex that follows makes the
/// answer exact, so any failure here just returns the best iterate.
fn interior_point(
    ns: usize,
    g: f64,
    src: &[u32],
    dst: &[u32],
    w: &[f64],
    r: &[f64],
    phi0: &[f64],
) -> Vec<f64> {
    let n = r.len();
    let mut pi = phi0.to_vec();
    // Primal: v = w (y = 0); dual: s − ζ = −x at π = Φ₀, both shifted away from 0.
    let mut v = w.to_vec();
    let x0 = |pi: &[f64]| -> Vec<f64> {
        src.iter()
            .zip(dst)
            .zip(r)
            .map(|((&s, &t), &ri)| ri + d_dot(pi, s, t, g))
            .collect()
    };
    let x = x0(&pi);
    let xmean = x.iter().map(|x| Float::abs(*x)).sum::<f64>() / n.max(1) as f64;
    let shift = 0.5 * xmean + f64::MIN_POSITIVE;
    let mut s: Vec<f64> = x.iter().map(|x| (-x).max(0.0) + shift).collect();
    let mut z: Vec<f64> = x.iter().map(|x| x.max(0.0) + shift).collect();
    drop(x);
    let zeros = || vec![0.0f64; n];
    let (mut theta, mut dva, mut rho, mut dvc) = (zeros(), zeros(), zeros(), zeros());
    let mut piv = vec![0usize; ns];
    let size = ns * ns;
    // Relative stopping rule: the solver is scale-equivariant (R and αR take the same steps).
    let obj_scale = r.iter().zip(w).map(|(a, b)| Float::abs(a * b)).sum::<f64>();
    let vec_s = || vec![0.0f64; ns];
    for _ in 0..100 {
        // P1: Θ, the gap, Σ_a Θ per (s, s'), r_b = Dᵀ(w − v), predictor right-hand side DᵀΘ(−x).
        let mut pair = vec![0.0f64; size];
        let (mut rb, mut rhs) = (vec_s(), vec_s());
        let mut gap = 0.0f64;
        for (((th, (&se, &te)), (&ri, &wi)), ((&vi, &si), &zi)) in theta
            .iter_mut()
            .zip(src.iter().zip(dst))
            .zip(r.iter().zip(w))
            .zip(v.iter().zip(&s).zip(&z))
        {
            let ti = 2.0 * wi - vi;
            let th_e = 1.0 / (si / vi + zi / ti);
            *th = th_e;
            gap += vi * si + ti * zi;
            if let Some(p) = pair.get_mut(se as usize * ns + te as usize) {
                *p += th_e;
            }
            d_axpy(&mut rb, se, te, g, wi - vi);
            let xe = ri + d_dot(&pi, se, te, g);
            d_axpy(&mut rhs, se, te, g, -th_e * xe);
        }
        if gap.is_nan() || gap <= 1e-6 * obj_scale {
            break;
        }
        let mu = gap / (2 * n) as f64;
        let mut m = pair_matrix(ns, g, &pair);
        let dmax = m.iter().fold(0.0f64, |a, x| a.max(Float::abs(*x)));
        for (k, row) in m.chunks_exact_mut(ns).enumerate() {
            if let Some(x) = row.get_mut(k) {
                *x += 1e-13 * dmax;
            }
        }
        if lu_factor(&mut m, &mut piv, ns).is_err() {
            break;
        }
        for (h, b) in rhs.iter_mut().zip(&rb) {
            *h += b;
        }
        if lu_solve(&m, &piv, &mut rhs, ns).is_err() {
            break;
        }
        // P2: affine step Δv = Θ(DΔπ + x); Δs = −s(1 + Δv/v), Δζ = −ζ(1 − Δv/t); step lengths and
        // the coefficients of the affine gap as a polynomial in the two step lengths.
        let (mut mp, mut md) = (1.0f64, 1.0f64);
        let (mut a1, mut a2, mut a3) = (0.0f64, 0.0f64, 0.0f64);
        for (((da, &th), ((&se, &te), (&ri, &wi))), ((&vi, &si), &zi)) in dva
            .iter_mut()
            .zip(&theta)
            .zip(src.iter().zip(dst).zip(r.iter().zip(w)))
            .zip(v.iter().zip(&s).zip(&z))
        {
            let ti = 2.0 * wi - vi;
            let xe = ri + d_dot(&pi, se, te, g);
            let d = th * (d_dot(&rhs, se, te, g) + xe);
            *da = d;
            let (rv, rt) = (d / vi, d / ti);
            let (dsa, dza) = (-si * (1.0 + rv), -zi * (1.0 - rt));
            mp = mp.max(-rv).max(rt);
            md = md.max(1.0 + rv).max(1.0 - rt);
            a1 += vi * dsa + ti * dza;
            a2 += d * (si - zi);
            a3 += d * (dsa - dza);
        }
        let (ap, ad) = (1.0 / mp, 1.0 / md);
        let gap_aff = gap + ad * a1 + ap * a2 + ap * ad * a3;
        let sigma = Float::powi(gap_aff / gap, 3).clamp(0.0, 1.0);
        let target = sigma * mu;
        // The corrector's complementarity targets r_vs = σμ − vs − Δv_aΔs_a and
        // r_tz = σμ − tζ + Δv_aΔζ_a.
        let targets = |vi: f64, ti: f64, si: f64, zi: f64, d: f64| {
            let (dsa, dza) = (-si * (1.0 + d / vi), -zi * (1.0 - d / ti));
            (target - vi * si - d * dsa, target - ti * zi + d * dza)
        };
        // P3: corrector right-hand side; ρ = r_c − r_vs/v + r_tz/t with r_c = −x − s + ζ.
        let mut rhs = rb.clone();
        for (((rh, (&th, &da)), ((&se, &te), (&ri, &wi))), ((&vi, &si), &zi)) in rho
            .iter_mut()
            .zip(theta.iter().zip(&dva))
            .zip(src.iter().zip(dst).zip(r.iter().zip(w)))
            .zip(v.iter().zip(&s).zip(&z))
        {
            let ti = 2.0 * wi - vi;
            let xe = ri + d_dot(&pi, se, te, g);
            let (rvs, rtz) = targets(vi, ti, si, zi, da);
            let rho_e = -xe - si + zi - rvs / vi + rtz / ti;
            *rh = rho_e;
            d_axpy(&mut rhs, se, te, g, th * rho_e);
        }
        if lu_solve(&m, &piv, &mut rhs, ns).is_err() {
            break;
        }
        // P4: Δv = Θ(DΔπ − ρ); Δs = (r_vs − sΔv)/v, Δζ = (r_tz + ζΔv)/t; step lengths.
        let (mut mp, mut md) = (1.0f64, 1.0f64);
        for ((((dc, &th), (&rh, &da)), ((&se, &te), &wi)), ((&vi, &si), &zi)) in dvc
            .iter_mut()
            .zip(&theta)
            .zip(rho.iter().zip(&dva))
            .zip(src.iter().zip(dst).zip(w))
            .zip(v.iter().zip(&s).zip(&z))
        {
            let ti = 2.0 * wi - vi;
            let d = th * (d_dot(&rhs, se, te, g) - rh);
            *dc = d;
            let (rvs, rtz) = targets(vi, ti, si, zi, da);
            let (dsv, dzv) = ((rvs - si * d) / vi, (rtz + zi * d) / ti);
            mp = mp.max(-d / vi).max(d / ti);
            md = md.max(-dsv / si).max(-dzv / zi);
        }
        let (ap, ad) = (0.99995 / mp, 0.99995 / md);
        // P5: take the step.
        for (((vi, si), zi), ((&wi, &da), &dc)) in v
            .iter_mut()
            .zip(s.iter_mut())
            .zip(z.iter_mut())
            .zip(w.iter().zip(&dva).zip(&dvc))
        {
            let ti = 2.0 * wi - *vi;
            let (rvs, rtz) = targets(*vi, ti, *si, *zi, da);
            let (dsv, dzv) = ((rvs - *si * dc) / *vi, (rtz + *zi * dc) / ti);
            *vi += ap * dc;
            *si += ad * dsv;
            *zi += ad * dzv;
        }
        for (p, d) in pi.iter_mut().zip(&rhs) {
            *p += ad * d;
        }
        if !pi.iter().all(|p| p.is_finite()) {
            return phi0.to_vec();
        }
    }
    pi
}

/// Dense `S × S` helpers (row-major).
fn col(m: &[f64], n: usize, c: usize) -> Vec<f64> {
    m.chunks_exact(n)
        .map(|row| row.get(c).copied().unwrap_or(0.0))
        .collect()
}

/// `m ← m − u·(q − e_kᵀ)/p`: the inverse after replacing row `k` of the matrix by a row `v` with
/// `q = v·m` and `p = q_k` (Sherman–Morrison).
fn replace_row_update(m: &mut [f64], n: usize, k: usize, q: &[f64], p: f64) {
    let u = col(m, n, k);
    let mut qq = q.to_vec();
    if let Some(x) = qq.get_mut(k) {
        *x -= 1.0;
    }
    qq.iter_mut().for_each(|x| *x /= p);
    for (row, &ur) in m.chunks_exact_mut(n).zip(&u) {
        if ur != 0.0 {
            for (x, &qc) in row.iter_mut().zip(&qq) {
                *x -= ur * qc;
            }
        }
    }
}

/// The `L1` solver's state: a basis of `S` entries with `x = 0` and the inverse of its rows.
struct Lad<'a> {
    sys: &'a PotentialSystem,
    r: Vec<f64>,
    basis: Vec<usize>,
    slot: Vec<u32>,
    binv: Vec<f64>,
    phi: Vec<f64>,
    x: Vec<f64>,
    sigma: Vec<f64>,
    grad: Vec<f64>,
    /// The certificate, per entry.
    y: Vec<f64>,
    ztol: f64,
}

impl<'a> Lad<'a> {
    fn new(sys: &'a PotentialSystem, r: Vec<f64>) -> Self {
        let n = r.len();
        let ns = sys.ns;
        Self {
            sys,
            r,
            basis: vec![0; ns],
            slot: vec![NONE; n],
            binv: vec![0.0; ns * ns],
            phi: vec![0.0; ns],
            x: vec![0.0; n],
            sigma: vec![1.0; n],
            grad: vec![0.0; ns],
            y: vec![0.0; n],
            ztol: 0.0,
        }
    }

    fn src(&self) -> &'a [u32] {
        &self.sys.entries.src
    }
    fn dst(&self) -> &'a [u32] {
        &self.sys.entries.dst
    }
    fn w(&self) -> &'a [f64] {
        &self.sys.entries.w
    }

    /// The rounding level of `Σ w·|x|` at an exactly-zero optimum (`R` a potential shaping, whose
    /// potential is at most `max|r|/(1 − γ)`): `64ε·Σ w·max|r|·(1 + 2/(1 − γ))`.
    fn zero_floor(&self) -> f64 {
        let rmax = self.r.iter().fold(0.0f64, |a, x| a.max(Float::abs(*x)));
        let wsum: f64 = self.w().iter().sum();
        64.0 * f64::EPSILON * wsum * rmax * (1.0 + 2.0 / (1.0 - self.sys.gamma))
    }

    /// `Σ w·|x|`.
    fn value(&self) -> f64 {
        self.w()
            .iter()
            .zip(&self.x)
            .map(|(w, x)| w * Float::abs(*x))
            .sum()
    }

    /// Crash basis at a near-optimal potential `Φ₀`: the entries closest to zero there whose rows
    /// are independent (incremental elimination, candidates in order of `|x(Φ₀)|`, one per
    /// `(s, s')` pair). A first pass accepts only well-conditioned rows (reduced pivot at least
    /// `0.1·(1 − γ)`: no state pinned only through a `γ`-coefficient when `γ` is small); a second
    /// pass completes the basis with any independent row.
    fn crash(&mut self, phi0: &[f64]) -> Result<()> {
        let (ns, g) = (self.sys.ns, self.sys.gamma);
        let (src, dst) = (self.src(), self.dst());
        let mut order: Vec<(f64, usize)> = src
            .iter()
            .zip(dst)
            .zip(&self.r)
            .enumerate()
            .map(|(e, ((&s, &t), &r))| (Float::abs(r + d_dot(phi0, s, t, g)), e))
            .collect();
        let cmp = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let mut seen = vec![false; checked_size("states x states", ns, ns)?];
        let mut rows: Vec<(usize, Vec<f64>)> = Vec::with_capacity(ns);
        let mut chosen: Vec<usize> = Vec::with_capacity(ns);
        // Reduces D_e against the accepted rows; accepts it if its largest entry exceeds `min`.
        let mut try_add =
            |e: usize, min: f64, rows: &mut Vec<(usize, Vec<f64>)>, chosen: &mut Vec<usize>| {
                let (s, t) = (
                    src.get(e).copied().unwrap_or(0) as usize,
                    dst.get(e).copied().unwrap_or(0) as usize,
                );
                if seen.get(s * ns + t).copied().unwrap_or(true) {
                    return;
                }
                let mut v = vec![0.0f64; ns];
                if let Some(x) = v.get_mut(t) {
                    *x += g;
                }
                if let Some(x) = v.get_mut(s) {
                    *x -= 1.0;
                }
                for (p, row) in rows.iter() {
                    let f = v.get(*p).copied().unwrap_or(0.0);
                    if f != 0.0 {
                        for (x, r) in v.iter_mut().zip(row) {
                            *x -= f * r;
                        }
                    }
                }
                let (p, m) = v.iter().enumerate().fold((0, 0.0f64), |acc, (i, x)| {
                    if Float::abs(*x) > acc.1 {
                        (i, Float::abs(*x))
                    } else {
                        acc
                    }
                });
                if m > min {
                    let d = v.get(p).copied().unwrap_or(1.0);
                    v.iter_mut().for_each(|x| *x /= d);
                    rows.push((p, v));
                    chosen.push(e);
                    if let Some(f) = seen.get_mut(s * ns + t) {
                        *f = true;
                    }
                }
            };
        let strict = 0.1 * (1.0 - g);
        let mut lo = 0usize;
        let mut chunk = 4 * ns;
        while chosen.len() < ns && lo < order.len() {
            let rest = order.get_mut(lo..).unwrap_or(&mut []);
            let kk = rest.len().min(chunk);
            chunk *= 4;
            if kk < rest.len() {
                rest.select_nth_unstable_by(kk - 1, cmp);
            }
            let head = rest.get_mut(..kk).unwrap_or(&mut []);
            head.sort_unstable_by(cmp);
            for &(_, e) in head.iter() {
                if chosen.len() == ns {
                    break;
                }
                try_add(e, strict, &mut rows, &mut chosen);
            }
            lo += kk;
        }
        if chosen.len() < ns {
            // Complete with any independent row (the whole order is sorted by now).
            for &(_, e) in &order {
                if chosen.len() == ns {
                    break;
                }
                try_add(e, 1e-9, &mut rows, &mut chosen);
            }
        }
        if chosen.len() < ns {
            return Err(Error::InvalidParam {
                name: "weights",
                value: chosen.len() as f64,
                expected: "weights that determine the potential (DᵀWD nonsingular)",
            });
        }
        self.basis = chosen;
        for (k, &e) in self.basis.iter().enumerate() {
            if let Some(sl) = self.slot.get_mut(e) {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "invariant: k < S fits u32 (Mdp::new)"
                )]
                {
                    *sl = k as u32;
                }
            }
        }
        Ok(())
    }

    /// Rebuilds `B⁻¹` from the basis rows, then `Φ`, `x`, the signs and `Σ_N wσDᵀ`.
    fn refresh(&mut self) -> Result<()> {
        let (ns, g) = (self.sys.ns, self.sys.gamma);
        let (src, dst, w) = (self.src(), self.dst(), self.w());
        let mut a = vec![0.0f64; ns * ns];
        for (row, &e) in a.chunks_exact_mut(ns).zip(&self.basis) {
            let (s, t) = (
                src.get(e).copied().unwrap_or(0),
                dst.get(e).copied().unwrap_or(0),
            );
            d_axpy(row, s, t, g, 1.0);
        }
        let mut piv = vec![0usize; ns];
        lu_factor(&mut a, &mut piv, ns)?;
        let mut e_c = vec![0.0f64; ns];
        for c in 0..ns {
            e_c.iter_mut().for_each(|x| *x = 0.0);
            if let Some(x) = e_c.get_mut(c) {
                *x = 1.0;
            }
            lu_solve(&a, &piv, &mut e_c, ns)?;
            for (row, &v) in self.binv.chunks_exact_mut(ns).zip(&e_c) {
                if let Some(x) = row.get_mut(c) {
                    *x = v;
                }
            }
        }
        // Φ = −B⁻¹ r_B.
        let rb: Vec<f64> = self
            .basis
            .iter()
            .map(|&e| self.r.get(e).copied().unwrap_or(0.0))
            .collect();
        for (p, row) in self.phi.iter_mut().zip(self.binv.chunks_exact(ns)) {
            *p = -row.iter().zip(&rb).map(|(b, r)| b * r).sum::<f64>();
        }
        let pmax = self.phi.iter().fold(0.0f64, |m, x| m.max(Float::abs(*x)));
        let rmax = self.r.iter().fold(0.0f64, |m, x| m.max(Float::abs(*x)));
        self.ztol = 64.0 * f64::EPSILON * (rmax + 2.0 * pmax);
        self.grad.iter_mut().for_each(|x| *x = 0.0);
        for (e, ((((&s, &t), &r), x), sg)) in src
            .iter()
            .zip(dst)
            .zip(&self.r)
            .zip(self.x.iter_mut())
            .zip(self.sigma.iter_mut())
            .enumerate()
        {
            if self.slot.get(e).copied().unwrap_or(NONE) != NONE {
                *x = 0.0;
                continue;
            }
            *x = r + d_dot(&self.phi, s, t, g);
            if Float::abs(*x) > self.ztol {
                *sg = Float::signum(*x);
            }
            d_axpy(
                &mut self.grad,
                s,
                t,
                g,
                w.get(e).copied().unwrap_or(0.0) * *sg,
            );
        }
        Ok(())
    }

    /// Basic duals `y_B = −B⁻ᵀ·Σ_N wσDᵀ`.
    fn basic_duals(&self) -> Vec<f64> {
        let ns = self.sys.ns;
        let mut y = vec![0.0f64; ns];
        for (row, &gr) in self.binv.chunks_exact(ns).zip(&self.grad) {
            if gr != 0.0 {
                for (yc, &b) in y.iter_mut().zip(row) {
                    *yc -= b * gr;
                }
            }
        }
        y
    }

    /// Runs the dual simplex from a crash basis at the interior-point estimate (started from the
    /// least-squares potential `Φ₂`), then the tie-break.
    fn run(&mut self, phi2: &[f64]) -> Result<()> {
        let (ns, g) = (self.sys.ns, self.sys.gamma);
        let n = self.r.len();
        let e = &self.sys.entries;
        let phi0 = interior_point(ns, g, &e.src, &e.dst, &e.w, &self.r, phi2);
        self.crash(&phi0)?;
        self.refresh()?;
        if self.value() <= self.zero_floor() {
            // R is a potential shaping on the weighted entries: x = 0 is the (unique) optimum
            // and y = 0 certifies it. (Every basis is then optimal in the primal; the dual
            // simplex would otherwise search the degenerate bases for a feasible sign pattern.)
            self.y.iter_mut().for_each(|y| *y = 0.0);
            return Ok(());
        }
        let wmax = self.w().iter().fold(0.0f64, |m, x| m.max(*x));
        let max_pivots = 50 * ns + 10 * n.min(100_000) + 1000;
        let mut z = vec![0.0f64; n];
        let mut brk: Vec<(f64, u32)> = Vec::new();
        let mut since_refresh = 0usize;
        let mut degenerate = 0usize;
        let mut pivots = 0usize;
        let yb = loop {
            let yb = self.basic_duals();
            // Leaving slot: the largest excess |y_k| − w_k (Bland's rule after many degenerate
            // steps: the infeasible slot of smallest entry index).
            let bland = degenerate > 2 * ns + 20;
            let mut leave: Option<(usize, f64)> = None;
            for (k, (&yk, &e)) in yb.iter().zip(&self.basis).enumerate() {
                let wk = self.w().get(e).copied().unwrap_or(0.0);
                let excess = Float::abs(yk) - wk;
                if excess > FEAS * wk.max(1e-6 * wmax) {
                    let key = if bland { -(e as f64) } else { excess };
                    if leave.is_none_or(|(_, b)| key > b) {
                        leave = Some((k, key));
                    }
                }
            }
            let Some((k, _)) = leave else {
                // Optimal on updated factors: confirm on fresh ones before stopping.
                if since_refresh == 0 {
                    break yb;
                }
                since_refresh = 0;
                self.refresh()?;
                continue;
            };
            pivots += 1;
            if pivots > max_pivots {
                return Err(Error::InvalidParam {
                    name: "max_pivots",
                    value: pivots as f64,
                    expected: "an L1 minimal potential within the simplex's pivot budget",
                });
            }
            let yk = yb.get(k).copied().unwrap_or(0.0);
            let ek = self.basis.get(k).copied().unwrap_or(0);
            let wk = self.w().get(ek).copied().unwrap_or(0.0);
            let delta = Float::signum(yk);
            let u: Vec<f64> = col(&self.binv, ns, k).iter().map(|v| delta * v).collect();
            // Entries whose row lies in the span of the other basic rows have D·u = 0 up to
            // rounding: no breakpoint.
            let umax = u.iter().fold(0.0f64, |m, x| m.max(Float::abs(*x)));
            let dtol = 1e-11 * (1.0 + g) * umax;
            // Breakpoints along Φ + t·u.
            brk.clear();
            let (src, dst, w) = (self.src(), self.dst(), self.w());
            for (e, ((((&s, &t), zi), &x), &sg)) in src
                .iter()
                .zip(dst)
                .zip(z.iter_mut())
                .zip(&self.x)
                .zip(&self.sigma)
                .enumerate()
            {
                let d = d_dot(&u, s, t, g);
                *zi = d;
                if sg * d < -dtol && self.slot.get(e).copied().unwrap_or(NONE) == NONE {
                    let tt = if sg * x > self.ztol {
                        Float::abs(x) / Float::abs(d)
                    } else {
                        0.0
                    };
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "invariant: Entries::new rejects more than u32::MAX entries"
                    )]
                    brk.push((tt, e as u32));
                }
            }
            let need = Float::abs(yk) - wk;
            let mut acc = 0.0f64;
            let mut lo = 0usize;
            let mut chunk = 32usize;
            let mut enter: Option<(usize, usize)> = None; // (position in brk, entry)
            while lo < brk.len() && enter.is_none() {
                let rest = brk.get_mut(lo..).unwrap_or(&mut []);
                let kk = rest.len().min(chunk);
                chunk *= 4;
                let cmp = |a: &(f64, u32), b: &(f64, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                if kk < rest.len() {
                    rest.select_nth_unstable_by(kk - 1, cmp);
                }
                let head = rest.get_mut(..kk).unwrap_or(&mut []);
                head.sort_unstable_by(cmp);
                for (off, &(_, e)) in head.iter().enumerate() {
                    let e = e as usize;
                    acc += 2.0
                        * w.get(e).copied().unwrap_or(0.0)
                        * Float::abs(z.get(e).copied().unwrap_or(0.0));
                    if acc >= need {
                        enter = Some((lo + off, e));
                        break;
                    }
                }
                lo += kk;
            }
            let Some((pos, j)) = enter else {
                return Err(Error::Overflow {
                    what: "minimal potential (unbounded L1 direction)",
                });
            };
            // The new basis: row k replaced by D_j; q = D_j·B⁻¹, pivot p = q_k.
            let (sj, tj) = (
                src.get(j).copied().unwrap_or(0),
                dst.get(j).copied().unwrap_or(0),
            );
            let q: Vec<f64> = {
                let rt = self.binv.get(tj as usize * ns..(tj as usize + 1) * ns);
                let rs = self.binv.get(sj as usize * ns..(sj as usize + 1) * ns);
                match (rt, rs) {
                    (Some(rt), Some(rs)) => rt.iter().zip(rs).map(|(a, b)| g * a - b).collect(),
                    _ => vec![0.0; ns],
                }
            };
            let p = q.get(k).copied().unwrap_or(0.0);
            let qmax = q.iter().fold(0.0f64, |m, x| m.max(Float::abs(*x)));
            let small_pivot = p.is_nan() || Float::abs(p) < 1e-8 * qmax;
            if small_pivot && since_refresh > 0 {
                // Possibly an artefact of the updated inverse: refactor and redo the iteration.
                since_refresh = 0;
                self.refresh()?;
                continue;
            }
            let tstar = brk.get(pos).map_or(0.0, |b| b.0);
            if tstar > 0.0 {
                degenerate = 0;
            } else {
                degenerate += 1;
            }
            // Flip the passed breakpoints.
            for &(_, e) in brk.get(..pos).unwrap_or(&[]) {
                let e = e as usize;
                if let Some(sg) = self.sigma.get_mut(e) {
                    let c = -2.0 * w.get(e).copied().unwrap_or(0.0) * *sg;
                    *sg = -*sg;
                    d_axpy(
                        &mut self.grad,
                        src.get(e).copied().unwrap_or(0),
                        dst.get(e).copied().unwrap_or(0),
                        g,
                        c,
                    );
                }
            }
            // Move.
            for (p, ui) in self.phi.iter_mut().zip(&u) {
                *p += tstar * ui;
            }
            for (e, (x, zi)) in self.x.iter_mut().zip(&z).enumerate() {
                if self.slot.get(e).copied().unwrap_or(NONE) == NONE {
                    *x += tstar * zi;
                }
            }
            // j enters the basis at slot k; ek leaves with sign δ.
            let sgj = self.sigma.get(j).copied().unwrap_or(1.0);
            d_axpy(
                &mut self.grad,
                sj,
                tj,
                g,
                -w.get(j).copied().unwrap_or(0.0) * sgj,
            );
            d_axpy(
                &mut self.grad,
                src.get(ek).copied().unwrap_or(0),
                dst.get(ek).copied().unwrap_or(0),
                g,
                wk * delta,
            );
            if let Some(x) = self.x.get_mut(j) {
                *x = 0.0;
            }
            if let Some(x) = self.x.get_mut(ek) {
                *x = delta * tstar;
            }
            if let Some(sg) = self.sigma.get_mut(ek) {
                *sg = delta;
            }
            replace_row_update(&mut self.binv, ns, k, &q, p);
            if let Some(sl) = self.slot.get_mut(ek) {
                *sl = NONE;
            }
            if let Some(sl) = self.slot.get_mut(j) {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "invariant: k < S fits u32 (Mdp::new)"
                )]
                {
                    *sl = k as u32;
                }
            }
            if let Some(b) = self.basis.get_mut(k) {
                *b = j;
            }
            since_refresh += 1;
            // A small pivot loses accuracy in the updated inverse: refactor at once.
            if since_refresh >= REFRESH || small_pivot {
                since_refresh = 0;
                self.refresh()?;
            }
        };
        // Certificate: y_N = wσ, y_B clamped into [−w, w].
        let wts = self.w();
        for ((y, &w), &sg) in self.y.iter_mut().zip(wts).zip(&self.sigma) {
            *y = w * sg;
        }
        for (&e, &yk) in self.basis.iter().zip(&yb) {
            let w = wts.get(e).copied().unwrap_or(0.0);
            if let Some(y) = self.y.get_mut(e) {
                *y = yk.clamp(-w, w);
            }
        }
        self.check_certificate()?;
        self.tie_break(&yb)?;
        Ok(())
    }

    /// `Dᵀy ≈ 0` relative to the weight touching each state: a basis too ill-conditioned for
    /// `f64` (tiny `γ` with weights spanning many orders of magnitude) is reported, not returned.
    fn check_certificate(&self) -> Result<()> {
        let (ns, g) = (self.sys.ns, self.sys.gamma);
        let mut res = vec![0.0f64; ns];
        let mut touch = vec![0.0f64; ns];
        for (((&s, &t), &w), &y) in self.src().iter().zip(self.dst()).zip(self.w()).zip(&self.y) {
            d_axpy(&mut res, s, t, g, y);
            for k in [s, t] {
                if let Some(x) = touch.get_mut(k as usize) {
                    *x += w;
                }
            }
        }
        for (r, t) in res.iter().zip(&touch) {
            if r.is_nan() || Float::abs(*r) > 1e-8 * t {
                return Err(Error::InvalidParam {
                    name: "weights",
                    value: *r,
                    expected: "weights and γ for which the L1 optimality certificate is accurate \
                               in f64 (the basis is too ill-conditioned)",
                });
            }
        }
        Ok(())
    }

    /// The least weighted-`L2` point of the optimal face, by a primal active-set method in
    /// potential space. Constraints: `x_i = 0` for basic entries with `|y_i| < w_i` (strict),
    /// `σ_i·x_i >= 0` for the others (`σ_i = sign y_i`). The working set is kept as the rows of a
    /// nonsingular `S × S` matrix whose other rows are unit placeholders; the columns of its
    /// inverse at the placeholders span the null space of the working constraints.
    fn tie_break(&mut self, yb: &[f64]) -> Result<()> {
        let (ns, g) = (self.sys.ns, self.sys.gamma);
        let (src, dst, w) = (self.src(), self.dst(), self.w());
        let n = self.r.len();
        // Equality slots (strict complementarity) and inequality slots.
        let mut eq = vec![false; ns];
        let mut any_tie = false;
        for ((&yk, &e), q) in yb.iter().zip(&self.basis).zip(eq.iter_mut()) {
            let wk = w.get(e).copied().unwrap_or(0.0);
            if Float::abs(yk) < wk * (1.0 - TIE) {
                *q = true;
            } else {
                any_tie = true;
                if let Some(sg) = self.sigma.get_mut(e) {
                    *sg = if yk < 0.0 { -1.0 } else { 1.0 };
                }
            }
        }
        // A zero optimum (R is a potential shaping on the weighted entries) is unique: x = 0.
        if !any_tie || self.value() <= self.zero_floor() {
            return Ok(());
        }
        let m = &self.sys.m;
        // h = DᵀWx.
        let mut h = vec![0.0f64; ns];
        for (((&s, &t), &wi), &x) in src.iter().zip(dst).zip(w).zip(&self.x) {
            d_axpy(&mut h, s, t, g, wi * x);
        }
        let mut binv = self.binv.clone();
        // slot → entry in the working set (None: a unit placeholder row).
        let mut rows: Vec<Option<usize>> = self.basis.iter().map(|&e| Some(e)).collect();
        let mut wslot = self.slot.clone();
        let xmax = self.x.iter().fold(0.0f64, |a, x| a.max(Float::abs(*x)));
        let rmax = self.r.iter().fold(0.0f64, |a, x| a.max(Float::abs(*x)));
        let wmax = w.iter().fold(0.0f64, |a, x| a.max(*x));
        let lam_tol = 1e-11 * wmax * (xmax + self.ztol).max(f64::MIN_POSITIVE);
        let mut z = vec![0.0f64; n];
        let mut done = false;
        for _ in 0..(20 * ns + 200) {
            let free: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_none())
                .map(|(k, _)| k)
                .collect();
            let kf = free.len();
            let mut p = vec![0.0f64; ns];
            if kf > 0 {
                // N = B⁻¹[:, free]; Hz = NᵀMN; gz = Nᵀh; z = −Hz⁻¹gz; p = Nz.
                let nmat: Vec<Vec<f64>> = free.iter().map(|&c| col(&binv, ns, c)).collect();
                let mn: Vec<Vec<f64>> = nmat
                    .iter()
                    .map(|nc| {
                        m.chunks_exact(ns)
                            .map(|mrow| mrow.iter().zip(nc).map(|(a, b)| a * b).sum())
                            .collect()
                    })
                    .collect();
                let mut hz = vec![0.0f64; kf * kf];
                for (i, ni) in nmat.iter().enumerate() {
                    for (j, mnj) in mn.iter().enumerate() {
                        if let Some(x) = hz.get_mut(i * kf + j) {
                            *x = ni.iter().zip(mnj).map(|(a, b)| a * b).sum();
                        }
                    }
                }
                let mut zz: Vec<f64> = nmat
                    .iter()
                    .map(|nc| -nc.iter().zip(&h).map(|(a, b)| a * b).sum::<f64>())
                    .collect();
                let mut piv = vec![0usize; kf];
                lu_factor(&mut hz, &mut piv, kf)?;
                lu_solve(&hz, &piv, &mut zz, kf)?;
                for (nc, &zi) in nmat.iter().zip(&zz) {
                    for (pi, &v) in p.iter_mut().zip(nc) {
                        *pi += zi * v;
                    }
                }
            }
            let pmax = p.iter().fold(0.0f64, |a, x| a.max(Float::abs(*x)));
            let phimax = self.phi.iter().fold(0.0f64, |a, x| a.max(Float::abs(*x)));
            if pmax <= 1e-12 * (phimax + rmax) {
                // Multipliers μ = B⁻ᵀh; λ = σμ on inequality slots.
                let mut worst: Option<(usize, f64)> = None;
                for (k, (r, &is_eq)) in rows.iter().zip(&eq).enumerate() {
                    let Some(e) = *r else { continue };
                    if is_eq {
                        continue;
                    }
                    let mu: f64 = binv
                        .chunks_exact(ns)
                        .zip(&h)
                        .map(|(row, hr)| row.get(k).copied().unwrap_or(0.0) * hr)
                        .sum();
                    let lam = self.sigma.get(e).copied().unwrap_or(1.0) * mu;
                    if lam < -lam_tol && worst.is_none_or(|(_, b)| lam < b) {
                        worst = Some((k, lam));
                    }
                }
                let Some((k, _)) = worst else {
                    done = true;
                    break;
                };
                // Free slot k: replace its row by the unit row e_m, m = argmax |B⁻¹[m, k]|.
                let ck = col(&binv, ns, k);
                let (mrow, _) = ck.iter().enumerate().fold((0usize, -1.0f64), |a, (i, v)| {
                    if Float::abs(*v) > a.1 {
                        (i, Float::abs(*v))
                    } else {
                        a
                    }
                });
                let q: Vec<f64> = binv
                    .get(mrow * ns..(mrow + 1) * ns)
                    .map_or_else(|| vec![0.0; ns], <[f64]>::to_vec);
                let pk = q.get(k).copied().unwrap_or(0.0);
                replace_row_update(&mut binv, ns, k, &q, pk);
                if let Some(e) = rows.get(k).copied().flatten() {
                    if let Some(sl) = wslot.get_mut(e) {
                        *sl = NONE;
                    }
                }
                if let Some(r) = rows.get_mut(k) {
                    *r = None;
                }
                continue;
            }
            // Ratio test over the inequality entries outside the working set.
            let mut alpha = 1.0f64;
            let mut block: Option<usize> = None;
            // Rows in the span of the working set have D·p = 0 up to rounding: not blocking.
            let dtol = 1e-11 * (1.0 + g) * pmax;
            for (e, ((((&s, &t), zi), &x), &sg)) in src
                .iter()
                .zip(dst)
                .zip(z.iter_mut())
                .zip(&self.x)
                .zip(&self.sigma)
                .enumerate()
            {
                let d = d_dot(&p, s, t, g);
                *zi = d;
                if wslot.get(e).copied().unwrap_or(NONE) != NONE || sg * d >= -dtol {
                    continue;
                }
                let a = (sg * x).max(0.0) / (-sg * d);
                if a < alpha {
                    alpha = a;
                    block = Some(e);
                }
            }
            for (pi, &v) in self.phi.iter_mut().zip(&p) {
                *pi += alpha * v;
            }
            for (x, &d) in self.x.iter_mut().zip(&z) {
                *x += alpha * d;
            }
            for (hr, mrow) in h.iter_mut().zip(m.chunks_exact(ns)) {
                *hr += alpha * mrow.iter().zip(&p).map(|(a, b)| a * b).sum::<f64>();
            }
            if let Some(b) = block {
                if let Some(x) = self.x.get_mut(b) {
                    *x = 0.0;
                }
                let (sb, tb) = (
                    src.get(b).copied().unwrap_or(0) as usize,
                    dst.get(b).copied().unwrap_or(0) as usize,
                );
                let q: Vec<f64> = match (
                    binv.get(tb * ns..(tb + 1) * ns),
                    binv.get(sb * ns..(sb + 1) * ns),
                ) {
                    (Some(rt), Some(rs)) => rt.iter().zip(rs).map(|(a, c)| g * a - c).collect(),
                    _ => vec![0.0; ns],
                };
                let Some(&f) = free.iter().max_by(|&&a, &&c| {
                    let qa = Float::abs(q.get(a).copied().unwrap_or(0.0));
                    let qc = Float::abs(q.get(c).copied().unwrap_or(0.0));
                    qa.total_cmp(&qc).then(c.cmp(&a))
                }) else {
                    break;
                };
                let pf = q.get(f).copied().unwrap_or(0.0);
                if pf == 0.0 {
                    break;
                }
                replace_row_update(&mut binv, ns, f, &q, pf);
                if let Some(r) = rows.get_mut(f) {
                    *r = Some(b);
                }
                if let Some(sl) = wslot.get_mut(b) {
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "invariant: f < S fits u32 (Mdp::new)"
                    )]
                    {
                        *sl = f as u32;
                    }
                }
            }
        }
        if !done {
            return Err(Error::InvalidParam {
                name: "max_pivots",
                value: (20 * ns + 200) as f64,
                expected: "an L1 tie-break within the active-set method's step budget",
            });
        }
        // Exact residuals at the final potential.
        for ((x, (&s, &t)), &r) in self.x.iter_mut().zip(src.iter().zip(dst)).zip(&self.r) {
            *x = r + d_dot(&self.phi, s, t, g);
        }
        for (e, x) in self.x.iter_mut().enumerate() {
            let is_eq = match self.slot.get(e).copied() {
                Some(k) if k != NONE => eq.get(k as usize).copied().unwrap_or(false),
                _ => false,
            };
            if is_eq {
                *x = 0.0;
            }
        }
        Ok(())
    }
}

/// The minimal potential of a reward and its certificate of optimality.
///
/// # Definition
/// `Φ* = argmin_Φ n(R + γΦ(s') − Φ(s))` for a (weighted) `L1` or `L2` norm `n` ([`Norm`]); the
/// return value is `n* = n(R + γΦ*(s') − Φ*(s))`, the norm of STARC's `MinimalPotential`
/// canonical reward. The certificate `y` (full `(S, A, S')` layout, 0 where the weight is 0) is a
/// dual solution: `Σ_{a, s'} y(s, a, s') = γ·Σ_{s₀, a} y(s₀, a, s)` for every state `s` (`Dᵀy =
/// 0`), `|y| <= w` (`L1`) or `Σ y²/w <= 1` (`L2`), and `Σ y·R = n*`. Such a `y` proves that no
/// potential does better (weak duality: `n(R + DΦ) >= yᵀ(R + DΦ) = yᵀR`), and it is the gradient
/// `∂n*/∂R` wherever `n*` is differentiable.
///
/// `L2`: the normal equations `(DᵀWD)Φ = −DᵀWR` (closed form for the counting measure; an `S × S`
/// LU otherwise). `L1`: an exact linear program (interior-point warm start, then a dual simplex
/// over bases of `S` zero residuals with a Barrodale–Roberts line search); where several
/// potentials are optimal, the one whose shaped reward has the least weighted `L2` norm (unique;
/// the same for every potential-shaped version of `R`, so the canonical reward is well defined).
/// `L∞` is rejected: its minimiser is not unique in general, and the STARC code skips it. The
/// certificate holds up to the rounding of the residuals, `~ε·Σw(|R| + |Φ*|)/(1 − γ)` (see the
/// numerics contract).
///
/// # Shapes
/// `potential`: `(S)`; `certificate`: `(S, A, S')`; the reward: see [`Reward`].
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ rewards; [`Error::InvalidParam`] for
/// an `L∞` norm (`"norm"`), invalid custom weights, or weights that do not determine the potential
/// (`"weights"`: all zero, or `DᵀWD` singular, or an `L1` basis too ill-conditioned for `f64` to
/// certify — extreme `γ` with weights spanning many orders of magnitude; `"max_pivots"` if the
/// simplex or the tie-break exceeds its step budget, never observed in tests or fuzzing);
/// [`Error::Overflow`] if a result is not finite in `F`.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Norm, minimal_potential};
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// // One state, two actions, γ = 0.5: x(a) = R(a) − Φ/2. L1: any Φ/2 between the rewards is
/// // optimal; the least-L2 choice is their midpoint. L2: the mean.
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
/// let r = Reward::Full(&[0.0, 3.0]);
/// let (mut phi, mut y) = ([0.0f64], [0.0f64; 2]);
/// let n1 = minimal_potential(&mut phi, &mut y, &mdp, &r, &Norm::l1())?;
/// assert!((n1 - 3.0).abs() < 1e-12 && (phi[0] - 3.0).abs() < 1e-12);
/// assert!((y[0] * 0.0 + y[1] * 3.0 - n1).abs() < 1e-12); // yᵀR = n*
/// let n2 = minimal_potential(&mut phi, &mut y, &mdp, &r, &Norm::l2())?;
/// assert!((n2 - 4.5f64.sqrt()).abs() < 1e-12 && (phi[0] - 3.0).abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), STARC, arXiv:2309.15257, §3 (minimal canonicalisation);
/// `lucyfarnik/starc` `src/distance/canon/minimal_potential.py::minimal_potential_canon` (Adam on
/// `n(R + γΦ(s') − Φ(s))`); Barrodale and Roberts (1973), *An improved algorithm for discrete
/// `l1` linear approximation*, SIAM J. Numer. Anal. 10(5).
pub fn minimal_potential<F: Real>(
    potential: &mut [F],
    certificate: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    norm: &Norm<'_, F>,
) -> Result<F> {
    ensure_len("potential", mdp.n_states(), potential.len())?;
    ensure_len("certificate", mdp.full_len(), certificate.len())?;
    reward.validate("reward", mdp)?;
    let sys = PotentialSystem::new(mdp, norm)?;
    let mut y = vec![0.0f64; mdp.full_len()];
    let sol = sys.solve(mdp, &norm.weights, reward, Some(&mut y))?;
    for (o, p) in potential.iter_mut().zip(&sol.phi) {
        *o = to_real(*p, "potential")?;
    }
    for (o, v) in certificate.iter_mut().zip(&y) {
        *o = to_real(*v, "certificate")?;
    }
    to_real(sol.value, "minimal norm")
}
