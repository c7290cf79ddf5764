//! KL-regularised alignment on a finite support: the optimal tilted distribution
//! `φ_β ∝ p·exp(r/β)` (computed in log space), its KL and expected reward as functions of `β`, the
//! `β` that meets a KL budget, and the exact best-of-`N` distribution (ties included) with its KL
//! and expected reward.
//!
//! # Definitions
//! With `λ = 1/β` (the inverse temperature), `Λ(λ) = log E_p[e^{λr}]`:
//! - `φ_λ(y) = p(y)·e^{λ r(y)}/e^{Λ(λ)}` maximises `E_φ[r] − β·KL(φ‖p)` and, for the right `λ`,
//!   `E_φ[r]` subject to `KL(φ‖p) <= Δ`;
//! - `E_{φ_λ}[r] = Λ'(λ)`, `KL(φ_λ‖p) = λΛ'(λ) − Λ(λ)`, increasing in `λ` (decreasing in `β`),
//!   from 0 at `λ = 0` to `−log p(Y*)` as `λ → ∞`, where `Y*` is the set of best responses;
//! - best-of-`N` draws `y₁..y_N ~ p` and keeps the best (ties broken uniformly); its law is
//!   `π_N(y) = p(y)·(F(r(y))^N − F⁻(r(y))^N)/P_p(r = r(y))` with `F(t) = P_p(r <= t)`,
//!   `F⁻(t) = P_p(r < t)`. `KL(π_N‖p) <= log N − (N−1)/N`, with equality only in the continuous
//!   limit (no atoms): on a finite support the inequality is strict for `N >= 2` (Beirami et al.).
//!
//! # Numerics
//! Everything is computed in `f64`. `Λ` uses log-sum-exp around `max r` (or `ln_1p(Σ p·expm1(x))`
//! around `E_p[r]` when `λ·(max r − E_p r) <= 1`); the KL is summed as `Σ p·h(u)` with
//! `u = log(φ/p)` and `h(u) = 1 + (u − 1)eᵘ >= 0` (a series for `|u| < 0.1`), which has no
//! cancellation, so the KL keeps full relative accuracy down to `λ → 0` (`KL ≈ λ²Var_p(r)/2`).
//! Probabilities must sum to 1 within `√ε_F` ([`crate::mdp::stochastic_tolerance`]) and are then
//! renormalised; entries with `p = 0` are outside the support and get probability 0.
//!
//! Citations: Yang, Salamatian, Sun, Suresh and Beirami (2024), *Asymptotics of Language Model
//! Alignment*, arXiv:2404.01730; Beirami et al. (2024), *Theoretical guarantees on the best-of-n
//! alignment policy*, arXiv:2401.01879; Korbak, Perez and Buckley (2022), *RL with KL penalties is
//! better viewed as Bayesian inference*, arXiv:2205.11275.

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, ensure_nonempty, invalid};
use crate::mdp::check_probabilities;
use crate::real::Real;

/// KL and expected reward of a tilted distribution.
///
/// # Examples
/// ```
/// use rewardkit_core::objective::tilt_stats;
/// let s = tilt_stats(&[0.5f64, 0.5], &[0.0, 1.0], 1.0)?;
/// // φ = (1, e)/(1 + e): E[r] = e/(1 + e), KL = E[r] − log((1 + e)/2).
/// let e = 1f64.exp();
/// assert!((s.expected_reward - e / (1.0 + e)).abs() < 1e-15);
/// assert!((s.kl - (e / (1.0 + e) - ((1.0 + e) / 2.0).ln())).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TiltStats<F> {
    /// `KL(φ‖p) >= 0`.
    pub kl: F,
    /// `E_φ[r]`.
    pub expected_reward: F,
}

/// A validated support: normalised `p`, rewards, and summary statistics.
struct Support<'a, F> {
    p: &'a [F],
    r: &'a [F],
    inv_sum: f64,
    mean: f64,
    r_max: f64,
    r_min: f64,
    /// `p(Y*)`, normalised.
    top_mass: f64,
}

impl<'a, F: Real> Support<'a, F> {
    fn new(p: &'a [F], r: &'a [F]) -> Result<Self> {
        ensure_nonempty("p", p.len())?;
        ensure_len("r", p.len(), r.len())?;
        ensure_finite("r", r)?;
        let sum = check_probabilities("p", p)?;
        let inv_sum = 1.0 / sum;
        let mut mean = 0.0;
        let mut r_max = f64::NEG_INFINITY;
        let mut r_min = f64::INFINITY;
        for (&pi, &ri) in p.iter().zip(r) {
            if pi > F::ZERO {
                mean += pi.as_f64() * inv_sum * ri.as_f64();
                r_max = r_max.max(ri.as_f64());
                r_min = r_min.min(ri.as_f64());
            }
        }
        // The mean lies in [min r, max r] (rounding could push it out; a constant is exact).
        let mean = mean.clamp(r_min, r_max);
        // A constant reward on the support puts all the mass on Y*: exactly 1, whatever the
        // rounding of Σp (otherwise KL_max could come out as ±1e-16 instead of 0).
        let top_mass = if r_min == r_max {
            1.0
        } else {
            p.iter()
                .zip(r)
                .filter(|&(&pi, &ri)| pi > F::ZERO && ri.as_f64() == r_max)
                .map(|(pi, _)| pi.as_f64() * inv_sum)
                .sum::<f64>()
                .min(1.0)
        };
        if !mean.is_finite() {
            return Err(Error::Overflow {
                what: "expected reward",
            });
        }
        Ok(Self {
            p,
            r,
            inv_sum,
            mean,
            r_max,
            r_min,
            top_mass,
        })
    }

    /// `(p̂, r)` over the support (`p > 0`).
    fn iter(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.p
            .iter()
            .zip(self.r)
            .filter(|(p, _)| **p > F::ZERO)
            .map(|(p, r)| (p.as_f64() * self.inv_sum, r.as_f64()))
    }

    /// `KL_max = −log p(Y*)`.
    fn kl_max(&self) -> f64 {
        -Float::ln(self.top_mass)
    }
}

/// `h(u) = 1 + (u − 1)·eᵘ = u·eᵘ − expm1(u) >= 0`, so that `KL = Σ p·h(log(φ/p))`.
#[inline]
fn kl_term(u: f64) -> f64 {
    if u < -745.0 {
        // eᵘ underflows to 0 (and u·eᵘ would be −∞·0 for u = −∞).
        return 1.0;
    }
    if Float::abs(u) < 0.1 {
        // Σ_{k=2}^{12} (k − 1)uᵏ/k!; the first omitted term is below 1e-17 of the sum.
        const C: [f64; 11] = [
            1.0 / 2.0,
            1.0 / 3.0,
            1.0 / 8.0,
            1.0 / 30.0,
            1.0 / 144.0,
            1.0 / 840.0,
            1.0 / 5760.0,
            1.0 / 45360.0,
            1.0 / 403_200.0,
            1.0 / 3_991_680.0,
            1.0 / 43_545_600.0,
        ];
        u * u * C.iter().rev().fold(0.0, |acc, &c| acc * u + c)
    } else {
        (u * Float::exp(u) - Float::exp_m1(u)).max(0.0)
    }
}

/// Statistics of `φ_λ` for a finite `λ >= 0`: `(KL, E_φ[r], Var_φ[r])`; writes `φ` into `out`.
fn tilt_core<F: Real>(
    sup: &Support<'_, F>,
    lambda: f64,
    mut out: Option<&mut [F]>,
) -> (f64, f64, f64) {
    if lambda == 0.0 || sup.r_min == sup.r_max {
        // φ = p (a constant reward is not tilted by any λ).
        if let Some(o) = out.as_deref_mut() {
            for (x, &p) in o.iter_mut().zip(sup.p) {
                *x = F::lit(p.as_f64() * sup.inv_sum);
            }
        }
        let var = sup
            .iter()
            .map(|(p, r)| p * (r - sup.mean) * (r - sup.mean))
            .sum();
        return (0.0, sup.mean, var);
    }
    // Log-partition around a centre c: Λ_c = log E_p[e^{λ(r − c)}]. Around the mean when every
    // λ(r − mean) lies in [−30, 1] (then Σ p·expm1(x) > −1), else around max r with log-sum-exp.
    let small = lambda * (sup.r_max - sup.mean) <= 1.0 && lambda * (sup.mean - sup.r_min) <= 30.0;
    let c = if small { sup.mean } else { sup.r_max };
    let lam_c = if small {
        let s: f64 = sup
            .iter()
            .map(|(p, r)| p * Float::exp_m1(lambda * (r - c)))
            .sum();
        Float::ln_1p(s)
    } else {
        let m = sup
            .iter()
            .map(|(p, r)| Float::ln(p) + lambda * (r - c))
            .fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = sup
            .iter()
            .map(|(p, r)| Float::exp(Float::ln(p) + lambda * (r - c) - m))
            .sum();
        m + Float::ln(s)
    };
    let (mut kl, mut z, mut er) = (0.0f64, 0.0f64, 0.0f64);
    for (p, r) in sup.iter() {
        let u = lambda * (r - c) - lam_c;
        kl += p * kl_term(u);
        let phi = p * Float::exp(u);
        z += phi;
        er += phi * r;
    }
    let er = er / z;
    let mut var = 0.0;
    for (p, r) in sup.iter() {
        var += p * Float::exp(lambda * (r - c) - lam_c) * (r - er) * (r - er);
    }
    if let Some(o) = out {
        for (x, (&p, &r)) in o.iter_mut().zip(sup.p.iter().zip(sup.r)) {
            *x = if p > F::ZERO {
                let lp = Float::ln(p.as_f64() * sup.inv_sum);
                F::lit(Float::exp(lp + lambda * (r.as_f64() - c) - lam_c) / z)
            } else {
                F::ZERO
            };
        }
    }
    (kl.max(0.0), er, var / z)
}

/// The limit `λ → ∞`: `p` restricted to the best responses.
fn argmax_core<F: Real>(sup: &Support<'_, F>, out: Option<&mut [F]>) -> (f64, f64) {
    if let Some(o) = out {
        for (x, (&p, &r)) in o.iter_mut().zip(sup.p.iter().zip(sup.r)) {
            *x = if p > F::ZERO && r.as_f64() == sup.r_max {
                F::lit(p.as_f64() * sup.inv_sum / sup.top_mass)
            } else {
                F::ZERO
            };
        }
    }
    (sup.kl_max().max(0.0), sup.r_max)
}

/// The optimal KL-regularised distribution `φ_β ∝ p·exp(r/β)`, with its KL and expected reward.
///
/// # Definition
/// `φ_β(y) = p(y)·exp(r(y)/β) / Σ_z p(z)·exp(r(z)/β)`, the maximiser of `E_φ[r] − β·KL(φ‖p)`; see
/// the [module docs](self) for the numerics.
///
/// # Shapes
/// `out`, `p`, `r`: `(N)`.
///
/// # Errors
/// [`Error::Empty`]; [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ in `p` or `r`;
/// [`Error::InvalidParam`] for `β` not finite and positive, or `p` not a probability vector
/// within `√ε_F`.
///
/// # Examples
/// ```
/// use rewardkit_core::objective::tilt;
/// let mut phi = [0.0f64; 2];
/// let s = tilt(&mut phi, &[0.5, 0.5], &[0.0, 2f64.ln()], 1.0)?;
/// // e^{r} = (1, 2) ⇒ φ = (1/3, 2/3).
/// assert!((phi[0] - 1.0 / 3.0).abs() < 1e-15 && (phi[1] - 2.0 / 3.0).abs() < 1e-15);
/// assert!((s.expected_reward - 2.0 / 3.0 * 2f64.ln()).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Yang et al. (2024), arXiv:2404.01730, §2 (the KL-constrained optimum); Korbak et al.
/// (2022), arXiv:2205.11275.
pub fn tilt<F: Real>(out: &mut [F], p: &[F], r: &[F], beta: F) -> Result<TiltStats<F>> {
    let beta = crate::error::param_positive("beta", beta)?.as_f64();
    ensure_len("out", p.len(), out.len())?;
    let sup = Support::new(p, r)?;
    stats_f64(&sup, 1.0 / beta, Some(out))
}

/// [`tilt`] parameterised by the inverse temperature `λ = 1/β ∈ [0, +∞]`.
///
/// # Definition
/// `φ_λ ∝ p·e^{λr}`; `λ = 0` gives `p`; `λ = +∞` gives `p` restricted to the best responses `Y*`
/// (then `KL = −log p(Y*)`).
///
/// # Shapes
/// As [`tilt`].
///
/// # Errors
/// As [`tilt`], with [`Error::InvalidParam`] for `λ` negative or NaN.
///
/// # Examples
/// ```
/// use rewardkit_core::objective::tilt_lambda;
/// let mut phi = [0.0f32; 3];
/// let s = tilt_lambda(&mut phi, &[0.25, 0.25, 0.5], &[1.0, 1.0, 0.0], f32::INFINITY)?;
/// assert_eq!(phi, [0.5, 0.5, 0.0]);
/// assert!((s.kl - 2f32.ln()).abs() < 1e-7);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Yang et al. (2024), arXiv:2404.01730.
pub fn tilt_lambda<F: Real>(out: &mut [F], p: &[F], r: &[F], lambda: F) -> Result<TiltStats<F>> {
    if lambda.is_nan() || lambda < F::ZERO {
        return Err(invalid("lambda", lambda, "in [0, +inf]"));
    }
    ensure_len("out", p.len(), out.len())?;
    let sup = Support::new(p, r)?;
    stats_f64(&sup, lambda.as_f64(), Some(out))
}

fn stats_f64<F: Real>(
    sup: &Support<'_, F>,
    lambda: f64,
    out: Option<&mut [F]>,
) -> Result<TiltStats<F>> {
    let (kl, er) = if lambda.is_infinite() {
        argmax_core(sup, out)
    } else {
        let (kl, er, _) = tilt_core(sup, lambda, out);
        (kl, er)
    };
    Ok(TiltStats {
        kl: F::lit(kl),
        expected_reward: F::lit(er),
    })
}

/// [`tilt`]'s statistics without writing the distribution.
///
/// # Definition
/// `KL(φ_β‖p)` and `E_{φ_β}[r]` (see [`tilt`]).
///
/// # Errors
/// As [`tilt`].
///
/// # Examples
/// ```
/// use rewardkit_core::objective::tilt_stats;
/// let small = tilt_stats(&[0.5f64, 0.5], &[0.0, 1.0], 1e4)?;
/// // λ = 1e-4: KL ≈ λ²·Var_p(r)/2 = 1e-8·0.25/2.
/// assert!((small.kl / 1.25e-9 - 1.0).abs() < 1e-3);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Yang et al. (2024), arXiv:2404.01730.
pub fn tilt_stats<F: Real>(p: &[F], r: &[F], beta: F) -> Result<TiltStats<F>> {
    let beta = crate::error::param_positive("beta", beta)?.as_f64();
    let sup = Support::new(p, r)?;
    stats_f64(&sup, 1.0 / beta, None)
}

/// The solution of a KL budget: the inverse temperature `λ = 1/β` with `KL(φ_λ‖p) = Δ`.
///
/// # Examples
/// See [`beta_for_kl`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KlBudget<F> {
    /// `λ = 1/β ∈ [0, +∞]`.
    pub lambda: F,
    /// `KL(φ_λ‖p)`: `Δ` within `1e-10·Δ`, or `−log p(Y*)` when saturated.
    pub kl: F,
    /// `E_{φ_λ}[r]`.
    pub expected_reward: F,
    /// `Δ >= −log p(Y*)`: the budget buys the best responses outright (`λ = +∞`).
    pub saturated: bool,
}

impl<F: Real> KlBudget<F> {
    /// `β = 1/λ` (`+∞` for `λ = 0`, `0` when saturated).
    pub fn beta(&self) -> F {
        if self.lambda == F::ZERO {
            F::infinity()
        } else {
            F::ONE / self.lambda
        }
    }
}

/// The `β` whose optimal tilted distribution spends exactly a KL budget `Δ`.
///
/// # Definition
/// Solves `KL(φ_λ‖p) = λΛ'(λ) − Λ(λ) = Δ` for `λ = 1/β` by a safeguarded Newton iteration
/// (`dKL/dλ = λ·Var_{φ_λ}(r)`) inside a bracket found by doubling; `KL` is increasing in `λ`, so
/// the root is unique. `Δ >= −log p(Y*)` gives the saturated solution `λ = +∞` (`φ = p`
/// restricted to the best responses); a constant reward on the support has `−log p(Y*) = 0`, so it
/// always saturates, `Δ = 0` included. Otherwise `Δ = 0` gives `λ = 0` (`φ = p`). Otherwise `|KL − Δ| <= 1e-10·Δ` in `f64`.
///
/// # Errors
/// As [`tilt`], with [`Error::InvalidParam`] for `Δ` not finite and `>= 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::objective::{beta_for_kl, tilt_stats};
/// let (p, r) = ([0.25f64, 0.25, 0.5], [1.0, 0.0, -1.0]);
/// let sol = beta_for_kl(&p, &r, 0.1)?;
/// assert!(!sol.saturated);
/// assert!((tilt_stats(&p, &r, sol.beta())?.kl - 0.1).abs() < 1e-10);
/// let all = beta_for_kl(&p, &r, 5.0)?; // more than −log(1/4)
/// assert!(all.saturated && all.expected_reward == 1.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Yang et al. (2024), arXiv:2404.01730, §2 (`λ_Δ` solves `λΛ'(λ) − Λ(λ) = Δ`).
pub fn beta_for_kl<F: Real>(p: &[F], r: &[F], budget: F) -> Result<KlBudget<F>> {
    let delta = crate::error::param_nonneg("budget", budget)?.as_f64();
    let sup = Support::new(p, r)?;
    let done = |lambda: f64, kl: f64, er: f64, saturated: bool| KlBudget {
        lambda: F::lit(lambda),
        kl: F::lit(kl),
        expected_reward: F::lit(er),
        saturated,
    };
    let kl_max = sup.kl_max();
    if delta >= kl_max {
        let (kl, er) = argmax_core(&sup, None);
        return Ok(done(f64::INFINITY, kl, er, true));
    }
    if delta == 0.0 {
        return Ok(done(0.0, 0.0, sup.mean, false));
    }
    let tol = 1e-10 * delta;
    // Bracket: KL(lo) < Δ <= KL(hi).
    let mut lo = 0.0f64;
    let mut hi = 1.0 / (sup.r_max - sup.mean).max(f64::MIN_POSITIVE);
    let mut at_hi = tilt_core(&sup, hi, None);
    let mut guard = 0;
    while at_hi.0 < delta {
        lo = hi;
        hi *= 2.0;
        at_hi = tilt_core(&sup, hi, None);
        guard += 1;
        if guard > 4000 || !hi.is_finite() {
            // Δ is within rounding of KL_max.
            return Ok(done(lo, at_hi.0, at_hi.1, false));
        }
    }
    if Float::abs(at_hi.0 - delta) <= tol {
        return Ok(done(hi, at_hi.0, at_hi.1, false));
    }
    let mut x = hi;
    let mut fx = at_hi;
    for _ in 0..300 {
        // Newton from the current point, bisection when it leaves the bracket.
        let slope = x * fx.2;
        let newton = x - (fx.0 - delta) / slope;
        let next = if slope > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        let f_next = tilt_core(&sup, next, None);
        if Float::abs(f_next.0 - delta) <= tol {
            return Ok(done(next, f_next.0, f_next.1, false));
        }
        if f_next.0 < delta {
            lo = next;
        } else {
            hi = next;
        }
        x = next;
        fx = f_next;
        if hi - lo <= 4.0 * f64::EPSILON * hi {
            break;
        }
    }
    Ok(done(x, fx.0, fx.1, false))
}

/// The exact best-of-`N` law with its KL and expected reward.
///
/// # Examples
/// See [`best_of_n`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BestOfN<F> {
    /// `KL(π_N‖p)`.
    pub kl: F,
    /// `E_{π_N}[r]`.
    pub expected_reward: F,
    /// `log N − (N−1)/N`, the upper bound on the KL (reached only without atoms).
    pub kl_bound: F,
}

/// `log N − (N − 1)/N`, the best-of-`N` KL of a continuous reward distribution and an upper bound
/// in general.
///
/// # Definition
/// `KL(π_N‖p) = log N − (N−1)/N` when `r(Y)`, `Y ~ p`, has no atoms; `<=` always.
///
/// # Errors
/// [`Error::InvalidParam`] for `n = 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::objective::best_of_n_kl_bound;
/// assert_eq!(best_of_n_kl_bound::<f64>(1)?, 0.0);
/// assert!((best_of_n_kl_bound::<f64>(2)? - (2f64.ln() - 0.5)).abs() < 1e-16);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Beirami et al. (2024), arXiv:2401.01879, Thm 1.
pub fn best_of_n_kl_bound<F: Real>(n: usize) -> Result<F> {
    if n == 0 {
        return Err(Error::InvalidParam {
            name: "n",
            value: 0.0,
            expected: "at least 1 sample",
        });
    }
    let nf = n as f64;
    Ok(F::lit(Float::ln(nf) - (nf - 1.0) / nf))
}

/// The exact best-of-`N` distribution on a finite support, ties broken uniformly.
///
/// # Definition
/// For a reward level `t` with mass `p_t = P_p(r = t)`, `F = P_p(r <= t)`:
/// `P(best has reward t) = q_t = F^N − (F − p_t)^N`, computed as
/// `F^N·(−expm1(N·ln_1p(−p_t/F)))`; within a level the winner is distributed as `p`, so
/// `π_N(y) = p(y)·q_{r(y)}/p_{r(y)}`. `E[r] = Σ_t t·q_t`, `KL(π_N‖p) = Σ_t q_t·log(q_t/p_t)`.
///
/// # Shapes
/// `out`, `p`, `r`: `(M)` (`M` support points; `N` is the number of draws).
///
/// # Errors
/// As [`tilt`], plus [`Error::InvalidParam`] for `n = 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::objective::best_of_n;
/// let mut pi = [0.0f64; 2];
/// let b = best_of_n(&mut pi, &[0.5, 0.5], &[0.0, 1.0], 2)?;
/// assert_eq!(pi, [0.25, 0.75]); // the better one wins unless both draws are the worse one
/// assert!((b.kl - (0.25 * 0.5f64.ln() + 0.75 * 1.5f64.ln())).abs() < 1e-15);
/// assert!(b.kl < b.kl_bound); // strict on a finite support
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Beirami et al. (2024), arXiv:2401.01879, Lemma 1 and Thm 1; Yang et al. (2024),
/// arXiv:2404.01730, §4 (best-of-N vs the KL-constrained optimum).
#[cfg(feature = "alloc")]
pub fn best_of_n<F: Real>(out: &mut [F], p: &[F], r: &[F], n: usize) -> Result<BestOfN<F>> {
    use alloc::vec;
    use alloc::vec::Vec;
    let kl_bound = best_of_n_kl_bound::<f64>(n)?;
    ensure_len("out", p.len(), out.len())?;
    let sup = Support::new(p, r)?;
    let mut order: Vec<usize> = (0..p.len())
        .filter(|&i| p.get(i).is_some_and(|&x| x > F::ZERO))
        .collect();
    let val = |i: usize| r.get(i).map_or(0.0, |x| x.as_f64());
    let prob = |i: usize| p.get(i).map_or(0.0, |x| x.as_f64() * sup.inv_sum);
    order.sort_by(|&a, &b| val(a).total_cmp(&val(b)));
    out.iter_mut().for_each(|x| *x = F::ZERO);
    let total: f64 = order.iter().map(|&i| prob(i)).sum();
    // Reward levels (ranges of `order` with equal rewards) and their masses.
    let mut levels: Vec<(usize, usize, f64)> = Vec::new();
    let mut start = 0usize;
    while let Some(&first) = order.get(start) {
        let t = val(first);
        let end = order
            .iter()
            .skip(start)
            .position(|&i| val(i) != t)
            .map_or(order.len(), |k| start + k);
        let mass: f64 = order
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .map(|&i| prob(i))
            .sum();
        levels.push((start, end, mass / total));
        start = end;
    }
    // F(t) from below while it is small, as 1 − (mass above) once it is near 1.
    let mut above = vec![0.0f64; levels.len()];
    let mut acc = 0.0;
    for (a, &(_, _, m)) in above.iter_mut().zip(&levels).rev() {
        *a = acc;
        acc += m;
    }
    let nf = n as f64;
    let (mut below, mut kl, mut er) = (0.0f64, 0.0f64, 0.0f64);
    for (&(lo, hi, p_t), &up) in levels.iter().zip(&above) {
        let level = order.get(lo..hi).unwrap_or(&[]);
        let t = level.first().map_or(0.0, |&i| val(i));
        let f_t = if below + p_t <= 0.5 {
            below + p_t
        } else {
            1.0 - up
        };
        let ratio = (p_t / f_t).min(1.0);
        let log_q = nf * Float::ln(f_t) + Float::ln(-Float::exp_m1(nf * Float::ln_1p(-ratio)));
        let q = Float::exp(log_q);
        if q > 0.0 {
            kl += q * (log_q - Float::ln(p_t));
            er += q * t;
            for &i in level {
                if let Some(o) = out.get_mut(i) {
                    *o = F::lit(prob(i) / total * q / p_t);
                }
            }
        }
        below += p_t;
    }
    if !(kl.is_finite() && er.is_finite()) {
        return Err(Error::Overflow { what: "best-of-N" });
    }
    Ok(BestOfN {
        kl: F::lit(kl.max(0.0)),
        expected_reward: F::lit(er),
        kl_bound: F::lit(kl_bound),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_term_series_matches_closed_form() {
        // Reference: the Taylor series Σ_{k>=2} (k − 1)uᵏ/k! summed to k = 40.
        let reference = |u: f64| {
            let (mut term, mut sum) = (u, 0.0f64); // term = uᵏ/k!
            for k in 2..=40 {
                term *= u / k as f64;
                sum += (k - 1) as f64 * term;
            }
            sum
        };
        for &u in &[
            0.0999f64, 0.1, 0.05, -0.05, -0.0999, -0.1, 1e-3, 1e-8, 0.3, -0.7, 2.0,
        ] {
            let (got, want) = (kl_term(u), reference(u));
            assert!(
                (got - want).abs() <= 2e-15 * want,
                "u = {u}: {got} vs {want}"
            );
        }
        assert_eq!(kl_term(0.0), 0.0);
        assert!((kl_term(-50.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn errors() {
        let mut out = [0.0f64; 2];
        assert!(tilt(&mut out, &[0.5, 0.5], &[0.0, 1.0], 0.0).is_err());
        assert!(tilt(&mut out, &[0.5, 0.6], &[0.0, 1.0], 1.0).is_err());
        assert!(tilt(&mut out, &[0.5, 0.5], &[0.0, f64::NAN], 1.0).is_err());
        assert!(tilt(&mut out, &[0.5, 0.5], &[0.0], 1.0).is_err());
        assert!(tilt::<f64>(&mut [], &[], &[], 1.0).is_err());
        assert!(tilt_lambda(&mut out, &[0.5, 0.5], &[0.0, 1.0], -1.0).is_err());
        assert!(beta_for_kl(&[0.5, 0.5], &[0.0, 1.0], -0.1).is_err());
        assert!(best_of_n(&mut out, &[0.5, 0.5], &[0.0, 1.0], 0).is_err());
    }
}
