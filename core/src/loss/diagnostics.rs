//! The numbers trainers log next to the policy loss: clip fractions, approximate KL and ratio
//! statistics, as additive parts so they combine across shards like the loss.

use core::ops::Add;

use num_traits::Float;

use crate::error::Result;
use crate::kl::KlEstimator;
use crate::loss::policy::{PolicyInputs, PolicyLoss};
use crate::real::{Real, usize_f64};

/// Additive policy-loss diagnostics over some rows.
///
/// # Definition
/// Over valid tokens with `Δ = log π − log π_old` (unclamped) and `r = e^Δ`:
/// - `clipped`: tokens where the clipped branch of PPO is strictly the larger loss
///   (`−A·clip(r) > −A·r`, verl `pg_clipfrac`);
/// - `clipped_lower`: tokens with `A < 0` where the dual clip is active (`pg_clipfrac_lower`,
///   counted only when the loss has a dual clip);
/// - `neg_log_ratio_sum = Σ −Δ` (verl `ppo_kl` is its mean);
/// - `k3_sum = Σ (e^{Δ} − 1 − Δ)` (the `k3` estimate of `KL(π_old‖π)` on samples from `π_old`,
///   cleanrl's `approx_kl`; [`KlEstimator::K3`] at `d = −Δ`);
/// - `ratio_sum`, `ratio_min`, `ratio_max`, `tokens`.
///
/// Means: [`PolicyDiagnostics::clip_fraction`] etc. (0 when there is no token).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::*};
/// let mask = Mask::new(&[true, true], 2)?;
/// let inp = PolicyInputs::new(&[0.5f64, 0.0], &[0.0, 0.0], &[1.0], mask)?;
/// let d = policy_diagnostics(&inp, &PolicyLoss::new(PolicyLossKind::Vanilla))?;
/// assert_eq!(d.clip_fraction(), 0.5); // e^{0.5} > 1.2 with A > 0
/// assert_eq!(d.ratio_max, 0.5f64.exp());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: verl `compute_policy_loss_vanilla`; cleanrl `ppo.py` (`approx_kl`, `clipfracs`);
/// Schulman, "Approximating KL divergence" (2020).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PolicyDiagnostics {
    /// Tokens clipped by the PPO clip.
    pub clipped: usize,
    /// Tokens bounded by the dual clip.
    pub clipped_lower: usize,
    /// `Σ −Δ`.
    pub neg_log_ratio_sum: f64,
    /// `Σ k3`.
    pub k3_sum: f64,
    /// `Σ r`.
    pub ratio_sum: f64,
    /// Smallest ratio (`+∞` with no token).
    pub ratio_min: f64,
    /// Largest ratio (`−∞` with no token).
    pub ratio_max: f64,
    /// Valid tokens.
    pub tokens: usize,
}

impl PolicyDiagnostics {
    /// Nothing observed.
    pub const EMPTY: Self = Self {
        clipped: 0,
        clipped_lower: 0,
        neg_log_ratio_sum: 0.0,
        k3_sum: 0.0,
        ratio_sum: 0.0,
        ratio_min: f64::INFINITY,
        ratio_max: f64::NEG_INFINITY,
        tokens: 0,
    };

    fn mean(&self, x: f64) -> f64 {
        if self.tokens == 0 {
            0.0
        } else {
            x / usize_f64(self.tokens)
        }
    }

    /// Fraction of tokens clipped.
    pub fn clip_fraction(&self) -> f64 {
        self.mean(usize_f64(self.clipped))
    }

    /// Fraction of tokens bounded by the dual clip.
    pub fn clip_fraction_lower(&self) -> f64 {
        self.mean(usize_f64(self.clipped_lower))
    }

    /// verl's `ppo_kl`: mean of `−Δ`.
    pub fn ppo_kl(&self) -> f64 {
        self.mean(self.neg_log_ratio_sum)
    }

    /// Mean `k3` approximate KL.
    pub fn approx_kl(&self) -> f64 {
        self.mean(self.k3_sum)
    }

    /// Mean ratio.
    pub fn ratio_mean(&self) -> f64 {
        self.mean(self.ratio_sum)
    }
}

impl Add for PolicyDiagnostics {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            clipped: self.clipped + o.clipped,
            clipped_lower: self.clipped_lower + o.clipped_lower,
            neg_log_ratio_sum: self.neg_log_ratio_sum + o.neg_log_ratio_sum,
            k3_sum: self.k3_sum + o.k3_sum,
            ratio_sum: self.ratio_sum + o.ratio_sum,
            ratio_min: self.ratio_min.min(o.ratio_min),
            ratio_max: self.ratio_max.max(o.ratio_max),
            tokens: self.tokens + o.tokens,
        }
    }
}

/// Computes [`PolicyDiagnostics`] for a batch and a loss configuration (its clip range and dual
/// clip).
///
/// # Definition
/// See [`PolicyDiagnostics`].
///
/// # Shapes
/// As [`PolicyInputs`].
///
/// # Errors
/// [`crate::Error::NonFinite`] for NaN/∞ at a valid position.
///
/// # Examples
/// See [`PolicyDiagnostics`].
///
/// Citation: see [`PolicyDiagnostics`].
pub fn policy_diagnostics<F: Real>(
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
) -> Result<PolicyDiagnostics> {
    let (lo, hi) = loss.clip();
    let (lo, hi) = (1.0 - lo.as_f64(), 1.0 + hi.as_f64());
    let dual = loss.dual_clip().map(Real::as_f64);
    let mut d = PolicyDiagnostics::EMPTY;
    let (logp, old, adv, mask) = inp.parts();
    let t = mask.shape().seq_len();
    let per_token = adv.len() == logp.len();
    for (idx, ((&lp, &o), &m)) in logp.iter().zip(old).zip(mask.bits()).enumerate() {
        if !m {
            continue;
        }
        let a = if per_token {
            adv.get(idx)
        } else {
            adv.get(idx / t)
        }
        .copied()
        .unwrap_or(F::ZERO)
        .as_f64();
        let (lp, o) = (lp.as_f64(), o.as_f64());
        if !(lp.is_finite() && o.is_finite() && a.is_finite()) {
            return Err(crate::Error::NonFinite {
                what: "policy diagnostics input",
                index: idx,
            });
        }
        let delta = lp - o;
        let r = Float::exp(delta);
        let (p1, p2) = (-a * r, -a * r.clamp(lo, hi));
        d.clipped += usize::from(p2 > p1);
        if let Some(c) = dual {
            d.clipped_lower += usize::from(a < 0.0 && p1.max(p2) > -a * c);
        }
        d.neg_log_ratio_sum -= delta;
        // k3 of KL(π_old‖π) on samples from π_old: the one k3 (with d = log π_old − log π).
        d.k3_sum += KlEstimator::K3.eval(-delta).0;
        d.ratio_sum += r;
        d.ratio_min = d.ratio_min.min(r);
        d.ratio_max = d.ratio_max.max(r);
        d.tokens += 1;
    }
    Ok(d)
}
