//! Importance-sampling corrections for the mismatch between the rollout engine and the trainer
//! (TIS, MIS/IcePop, sequence masks), high-entropy token selection and TRL's off-policy sequence
//! mask. Every output is a detached per-token weight: multiply the ones you use together and pass
//! the product as [`crate::loss::PolicyInputs::with_weights`].

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use num_traits::Float;

use crate::error::{Error, Result, UnknownName, param_in, param_nonneg, param_positive};
use crate::layout::{Mask, count_true};
use crate::preset::Preset;
use crate::real::{Real, usize_f64};

/// Where the importance weight is computed and what happens outside the threshold.
///
/// With `dₜ = log π_train − log π_rollout` (optionally clamped to `±c` first):
///
/// | mode | weight at a valid token of row `i` | anchors |
/// |---|---|---|
/// | `TokenTruncate` | `clamp(e^{dₜ}, lo, hi)` | verl `rollout_is="token"` (TIS, `lo = 0`); TRL `token_truncate`; OpenRLHF `tis` |
/// | `TokenMask` | `e^{dₜ}` if `lo ≤ e^{dₜ} ≤ hi`, else 0 | IcePop; TRL `token_mask`; OpenRLHF `icepop` |
/// | `SequenceTruncate` | `clamp(e^{Σₜ m·dₜ}, lo, hi)` | verl `rollout_is="sequence"`; TRL `sequence_truncate` |
/// | `SequenceMask` | `e^{Σₜ m·dₜ}` if inside `[lo, hi]`, else 0 | TRL `sequence_mask` (its default) |
/// | `GeoSequenceMask` | `e^{dₜ}` if `lo ≤ e^{mean_t dₜ} ≤ hi`, else 0 | OpenRLHF `seq-mask-tis` |
///
/// # Examples
/// ```
/// use rewardkit_core::loss::IsMode;
/// assert_eq!("icepop".parse::<IsMode>()?, IsMode::TokenMask);
/// assert_eq!("sequence_mask".parse::<IsMode>()?, IsMode::SequenceMask);
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
///
/// Citation: Yao et al. (2025), *Your efficient RL framework secretly brings you off-policy RL
/// training* (TIS); IcePop, Ling team (2025), arXiv:2510.18855; verl `rollout_corr_helper.py`; TRL
/// `grpo_trainer.py`; OpenRLHF `openrlhf/models/loss.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum IsMode {
    /// Token ratio, truncated.
    TokenTruncate,
    /// Token ratio, masked outside the range.
    TokenMask,
    /// Sequence ratio, truncated.
    SequenceTruncate,
    /// Sequence ratio, masked outside the range.
    SequenceMask,
    /// Token ratio, whole sequence masked by its geometric-mean ratio.
    GeoSequenceMask,
}

const MODE_NAMES: &[&str] = &[
    "token_truncate",
    "tis",
    "token_mask",
    "icepop",
    "sequence_truncate",
    "sequence_mask",
    "seq-mask-tis",
];

impl fmt::Display for IsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TokenTruncate => "token_truncate",
            Self::TokenMask => "token_mask",
            Self::SequenceTruncate => "sequence_truncate",
            Self::SequenceMask => "sequence_mask",
            Self::GeoSequenceMask => "seq-mask-tis",
        })
    }
}

impl FromStr for IsMode {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "token_truncate" | "tis" => Self::TokenTruncate,
            "token_mask" | "icepop" => Self::TokenMask,
            "sequence_truncate" => Self::SequenceTruncate,
            "sequence_mask" => Self::SequenceMask,
            "seq-mask-tis" => Self::GeoSequenceMask,
            _ => {
                return Err(UnknownName {
                    kind: "importance-sampling mode",
                    valid: MODE_NAMES,
                });
            }
        })
    }
}

/// The level an [`IsMode`] works at (for callers that branch on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum IsLevel {
    /// One weight per token.
    Token,
    /// One weight (or keep/drop decision) per sequence.
    Sequence,
}

impl IsMode {
    /// Token or sequence level.
    pub fn level(self) -> IsLevel {
        match self {
            Self::TokenTruncate | Self::TokenMask => IsLevel::Token,
            _ => IsLevel::Sequence,
        }
    }
}

/// A configured importance-sampling correction.
///
/// # Definition
/// See [`IsMode`]. With `batch_normalize`, the weights are divided by their mean (over valid
/// tokens for token modes, over non-empty sequences for sequence modes) when that mean exceeds
/// `1e-8` (verl `rollout_is_batch_normalize`; [`IsCorrection::from_preset`] with `Verl` divides by `count + 1e-8`
/// as verl's `masked_mean` does). Weights are detached: they carry no gradient.
///
/// # Errors
/// [`IsCorrection::new`]: [`Error::InvalidParam`] unless `0 ≤ lo ≤ hi`, `hi > 0`, both finite.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{IsCorrection, IsMode};
/// let tis = IsCorrection::<f32>::new(IsMode::TokenTruncate, 0.0, 2.0)?.with_log_clamp(Some(20.0))?;
/// assert_eq!(tis.mode(), IsMode::TokenTruncate);
/// assert!(IsCorrection::<f32>::new(IsMode::TokenMask, 2.0, 0.5).is_err());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`IsMode`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IsCorrection<F> {
    mode: IsMode,
    lo: F,
    hi: F,
    log_clamp: Option<F>,
    batch_normalize: bool,
    norm_count_eps: f64,
}

impl<F: Real> IsCorrection<F> {
    /// A correction with thresholds `[lo, hi]` (verl TIS: `lo = 0, hi = 2`; TRL: `hi = 3`; OpenRLHF:
    /// `[0.5, 5]`). No log-ratio clamp (verl: 20) and no batch normalization.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(mode: IsMode, lo: F, hi: F) -> Result<Self> {
        let hi = param_positive("is_threshold_hi", hi)?;
        let lo = param_in("is_threshold_lo", lo, F::ZERO, hi, "in [0, hi]")?;
        Ok(Self {
            mode,
            lo,
            hi,
            log_clamp: None,
            batch_normalize: false,
            norm_count_eps: 0.0,
        })
    }

    /// A correction with a framework's numerics.
    ///
    /// # Definition
    /// - `Verl` (`rollout_corr_helper.py`): `d` clamped to `±20` (`SAFETY_BOUND`) before `exp`, and
    ///   the batch-normalization mean computed as `Σ w / (count + 1e-8)` (its `masked_mean`).
    /// - `Rewardkit`, `Trl`, `OpenRlhf`: [`IsCorrection::new`] (no clamp, exact mean).
    ///
    /// # Errors
    /// As [`IsCorrection::new`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::Preset;
    /// use rewardkit_core::loss::{IsCorrection, IsMode};
    /// let tis = IsCorrection::<f32>::from_preset(Preset::Verl, IsMode::TokenTruncate, 0.0, 2.0)?;
    /// assert_eq!(tis.log_clamp(), Some(20.0));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn from_preset(preset: Preset, mode: IsMode, lo: F, hi: F) -> Result<Self> {
        let c = Self::new(mode, lo, hi)?;
        Ok(match preset {
            Preset::Verl => Self {
                log_clamp: Some(F::lit(20.0)),
                norm_count_eps: 1e-8,
                ..c
            },
            Preset::Rewardkit | Preset::Trl | Preset::OpenRlhf => c,
        })
    }

    /// Clamps `d` to `±c` before `exp` (verl `SAFETY_BOUND = 20`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `> 0`.
    pub fn with_log_clamp(self, c: Option<F>) -> Result<Self> {
        if let Some(c) = c {
            param_positive("is_log_clamp", c)?;
        }
        Ok(Self {
            log_clamp: c,
            ..self
        })
    }

    /// Normalizes the weights to mean 1 over the batch.
    pub fn with_batch_normalize(self, on: bool) -> Self {
        Self {
            batch_normalize: on,
            ..self
        }
    }

    /// The mode.
    pub fn mode(&self) -> IsMode {
        self.mode
    }

    /// The thresholds `(lo, hi)`.
    pub fn thresholds(&self) -> (F, F) {
        (self.lo, self.hi)
    }

    /// The clamp on `d` before `exp`, if any.
    pub fn log_clamp(&self) -> Option<F> {
        self.log_clamp
    }

    /// Whether the weights are normalized to mean 1.
    pub fn batch_normalize(&self) -> bool {
        self.batch_normalize
    }

    #[inline(always)]
    fn clamp_log(&self, d: f64) -> f64 {
        match self.log_clamp {
            Some(c) => d.clamp(-c.as_f64(), c.as_f64()),
            None => d,
        }
    }

    #[inline(always)]
    fn apply(&self, w: f64, truncate: bool) -> f64 {
        let (lo, hi) = (self.lo.as_f64(), self.hi.as_f64());
        if truncate {
            w.clamp(lo, hi)
        } else if (lo..=hi).contains(&w) {
            w
        } else {
            0.0
        }
    }
}

/// Writes the importance weights of an [`IsCorrection`] (0 at masked positions) and returns the
/// number of valid tokens whose weight is 0 (masked out by the correction).
///
/// # Definition
/// See [`IsMode`] and [`IsCorrection`], with `d = train_logp − rollout_logp` (verl: `old_log_prob −
/// rollout_log_prob`, or `log_prob − rollout_log_prob` in bypass mode).
///
/// # Shapes
/// `out`, `train_logp`, `rollout_logp`: `(B, T)` like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`] for `out`, `train_logp` or `rollout_logp`; [`Error::NonFinite`] for
/// NaN/∞ in `train_logp` or `rollout_logp` at a valid position (masked positions are not read);
/// [`Error::Overflow`] for a `GeoSequenceMask` token weight `e^d` beyond the range of `F`
/// (the other modes truncate or mask the ratio; set a log clamp to rule it out).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::{IsCorrection, IsMode, is_weights}};
/// let mask = Mask::new(&[true, true], 2)?;
/// let c = IsCorrection::new(IsMode::TokenTruncate, 0.0, 2.0)?;
/// let mut w = [0.0f64; 2];
/// is_weights(&mut w, &[0.0, 1.0], &[0.0, 0.0], mask, &c)?;
/// assert_eq!(w, [1.0, 2.0]); // e¹ truncated to 2
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`IsMode`].
pub fn is_weights<F: Real>(
    out: &mut [F],
    train_logp: &[F],
    rollout_logp: &[F],
    mask: Mask<'_>,
    corr: &IsCorrection<F>,
) -> Result<usize> {
    let shape = mask.shape();
    shape.check("out", out.len())?;
    shape.check("train_logp", train_logp.len())?;
    shape.check("rollout_logp", rollout_logp.len())?;
    let t = shape.seq_len();
    let (mut wsum, mut wcount) = (0.0f64, 0usize);
    for (i, (((o, a), b), m)) in out
        .chunks_exact_mut(t)
        .zip(train_logp.chunks_exact(t))
        .zip(rollout_logp.chunks_exact(t))
        .zip(mask.rows())
        .enumerate()
    {
        let mut s = 0.0f64;
        for (j, ((&x, &y), &mm)) in a.iter().zip(b).zip(m).enumerate() {
            if mm {
                if !x.is_finite() {
                    return Err(Error::NonFinite {
                        what: "train_logp",
                        index: i * t + j,
                    });
                }
                if !y.is_finite() {
                    return Err(Error::NonFinite {
                        what: "rollout_logp",
                        index: i * t + j,
                    });
                }
                s += x.as_f64() - y.as_f64();
            }
        }
        let len = count_true(m);
        let seq_w = match corr.mode {
            IsMode::SequenceTruncate => corr.apply(Float::exp(corr.clamp_log(s)), true),
            IsMode::SequenceMask => corr.apply(Float::exp(corr.clamp_log(s)), false),
            IsMode::GeoSequenceMask => {
                let g = Float::exp(corr.clamp_log(s / usize_f64(len.max(1))));
                if (corr.lo.as_f64()..=corr.hi.as_f64()).contains(&g) {
                    1.0
                } else {
                    0.0
                }
            }
            _ => 1.0,
        };
        if corr.mode.level() == IsLevel::Sequence && len > 0 {
            wsum += seq_w;
            wcount += 1;
        }
        for ((o, (&x, &y)), &mm) in o.iter_mut().zip(a.iter().zip(b)).zip(m) {
            if !mm {
                *o = F::ZERO;
                continue;
            }
            let d = corr.clamp_log(x.as_f64() - y.as_f64());
            let w = match corr.mode {
                IsMode::TokenTruncate => corr.apply(Float::exp(d), true),
                IsMode::TokenMask => corr.apply(Float::exp(d), false),
                IsMode::GeoSequenceMask => seq_w * Float::exp(d),
                IsMode::SequenceTruncate | IsMode::SequenceMask => seq_w,
            };
            let wf = F::lit(w);
            if !wf.is_finite() {
                // Only seq-mask-tis can get here (its token ratio is neither truncated nor
                // masked): e^d beyond the range of F.
                return Err(Error::Overflow {
                    what: "importance weight",
                });
            }
            if corr.mode.level() == IsLevel::Token {
                wsum += w;
                wcount += 1;
            }
            *o = wf;
        }
    }
    if corr.batch_normalize && wcount > 0 {
        let mean = wsum / (usize_f64(wcount) + corr.norm_count_eps);
        if mean > 1e-8 {
            let inv = F::lit(1.0 / mean);
            out.iter_mut().for_each(|w| *w = *w * inv);
        }
    }
    Ok(out
        .iter()
        .zip(mask.bits())
        .filter(|&(&w, &m)| m && w == F::ZERO)
        .count())
}

/// High-entropy token selection (the "80/20" rule; TRL `top_entropy_quantile = ρ`): writes 1 at
/// valid tokens whose entropy is at least the `1 − ρ` quantile of the valid entropies, 0 elsewhere.
///
/// # Definition
/// `threshold = quantile({Hᵢₜ : mᵢₜ}, 1 − ρ)` with linear interpolation between order statistics
/// (`torch.quantile`'s default); keep `H ≥ threshold`. `ρ = 1` keeps every valid token.
///
/// # Shapes
/// `out`, `entropy`: `(B, T)` like `mask`.
///
/// # Errors
/// [`Error::InvalidParam`] unless `ρ ∈ (0, 1]`; [`Error::LengthMismatch`]; [`Error::NonFinite`];
/// [`Error::TooFewValid`] when no token is valid; [`Error::MissingInput`] without the `alloc`
/// feature (the quantile needs scratch memory).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::entropy_mask};
/// let mask = Mask::new(&[true, true, true, true], 4)?;
/// let mut keep = [0.0f64; 4];
/// entropy_mask(&mut keep, &[0.1, 2.0, 0.5, 1.0], mask, 0.5)?;
/// assert_eq!(keep, [0.0, 1.0, 0.0, 1.0]); // median 0.75
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Wang et al. (2025), *Beyond the 80/20 Rule*, arXiv:2506.01939; TRL `grpo_trainer.py`.
pub fn entropy_mask<F: Real>(out: &mut [F], entropy: &[F], mask: Mask<'_>, rho: F) -> Result<()> {
    if !(rho.is_finite() && rho > F::ZERO && rho <= F::ONE) {
        return Err(crate::error::invalid(
            "top_entropy_quantile",
            rho,
            "in (0, 1]",
        ));
    }
    let shape = mask.shape();
    shape.check("out", out.len())?;
    shape.check("entropy", entropy.len())?;
    for (idx, (&h, &m)) in entropy.iter().zip(mask.bits()).enumerate() {
        if m && !h.is_finite() {
            return Err(Error::NonFinite {
                what: "entropy",
                index: idx,
            });
        }
    }
    let thr = quantile(entropy, mask, F::ONE - rho)?;
    for ((o, &h), &m) in out.iter_mut().zip(entropy).zip(mask.bits()) {
        *o = if m && h.as_f64() >= thr {
            F::ONE
        } else {
            F::ZERO
        };
    }
    Ok(())
}

#[cfg(not(feature = "alloc"))]
fn quantile<F: Real>(_x: &[F], _mask: Mask<'_>, _q: F) -> Result<f64> {
    Err(Error::MissingInput {
        what: "alloc feature (entropy_mask scratch memory)",
    })
}

/// `torch.quantile(x[mask], q)` with linear interpolation.
#[cfg(feature = "alloc")]
fn quantile<F: Real>(x: &[F], mask: Mask<'_>, q: F) -> Result<f64> {
    let mut v: Vec<f64> = x
        .iter()
        .zip(mask.bits())
        .filter(|&(_, &m)| m)
        .map(|(h, _)| h.as_f64())
        .collect();
    if v.is_empty() {
        return Err(Error::TooFewValid {
            what: "entropy (valid tokens)",
            count: 0,
            min: 1,
        });
    }
    v.sort_unstable_by(f64::total_cmp);
    let pos = q.as_f64() * usize_f64(v.len() - 1);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "0 <= pos <= len - 1, floored"
    )]
    let lo = Float::floor(pos) as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let (a, b) = (
        v.get(lo).copied().unwrap_or(0.0),
        v.get(hi).copied().unwrap_or(0.0),
    );
    Ok(a + (b - a) * (pos - usize_f64(lo)))
}

/// TRL's off-policy sequence mask (`off_policy_mask_threshold = δ`, DeepSeek-V3.2 OPSM): writes 1
/// at the valid tokens of rows kept, 0 elsewhere.
///
/// # Definition
/// Row `i` is kept if `Aᵢ ≥ 0` or `Σₜ m·(log π_sample − log π) / max(Lᵢ, 1) ≤ δ` (`log π` detached).
///
/// # Shapes
/// `out`, `logp`, `sampling_logp`: `(B, T)` like `mask`; `advantages`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::InvalidParam`] for a negative or
/// non-finite `δ`.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::off_policy_mask};
/// let mask = Mask::new(&[true, true], 1)?;
/// let mut keep = [0.0f64; 2];
/// // Row 0: A < 0 and the sampler was 0.5 nats more confident: dropped. Row 1: A ≥ 0: kept.
/// off_policy_mask(&mut keep, &[-1.0, -1.0], &[-0.5, -0.5], &[-1.0, 1.0], mask, 0.1)?;
/// assert_eq!(keep, [0.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: DeepSeek-AI (2025), DeepSeek-V3.2; TRL `grpo_trainer.py`.
pub fn off_policy_mask<F: Real>(
    out: &mut [F],
    logp: &[F],
    sampling_logp: &[F],
    advantages: &[F],
    mask: Mask<'_>,
    delta: F,
) -> Result<()> {
    param_nonneg("off_policy_mask_threshold", delta)?;
    let shape = mask.shape();
    shape.check("out", out.len())?;
    shape.check("logp", logp.len())?;
    shape.check("sampling_logp", sampling_logp.len())?;
    shape.check_batch("advantages", advantages.len())?;
    let t = shape.seq_len();
    for (i, ((((o, a), b), m), &adv)) in out
        .chunks_exact_mut(t)
        .zip(logp.chunks_exact(t))
        .zip(sampling_logp.chunks_exact(t))
        .zip(mask.rows())
        .zip(advantages)
        .enumerate()
    {
        let mut s = 0.0f64;
        for (j, ((&x, &y), &mm)) in a.iter().zip(b).zip(m).enumerate() {
            if mm {
                if !(x.is_finite() && y.is_finite()) {
                    return Err(Error::NonFinite {
                        what: "logp/sampling_logp",
                        index: i * t + j,
                    });
                }
                s += y.as_f64() - x.as_f64();
            }
        }
        let len = count_true(m);
        if len > 0 && !adv.is_finite() {
            // The advantage of an empty row is a masked position: not read.
            return Err(Error::NonFinite {
                what: "advantages",
                index: i,
            });
        }
        let kl = s / usize_f64(len.max(1));
        let keep = adv >= F::ZERO || kl <= delta.as_f64();
        for (o, &mm) in o.iter_mut().zip(m) {
            *o = if mm && keep { F::ONE } else { F::ZERO };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_error() {
        // Regression (issue 8, defect 10): the error list of is_weights. One case per error.
        let mask = Mask::new(&[true, false], 2).unwrap();
        let c = IsCorrection::new(IsMode::TokenTruncate, 0.0, 2.0f32).unwrap();
        let mut w = [0.0f32; 2];
        for (out, a, b, what) in [
            (1usize, 2usize, 2usize, "out"),
            (2, 1, 2, "train_logp"),
            (2, 2, 3, "rollout_logp"),
        ] {
            let (mut o, x, y) = (
                alloc::vec![0.0f32; out],
                alloc::vec![0.0f32; a],
                alloc::vec![0.0f32; b],
            );
            assert!(matches!(
                is_weights(&mut o, &x, &y, mask, &c),
                Err(Error::LengthMismatch { what: w, .. }) if w == what
            ));
        }
        assert_eq!(
            is_weights(&mut w, &[f32::NAN, 0.0], &[0.0, 0.0], mask, &c),
            Err(Error::NonFinite {
                what: "train_logp",
                index: 0
            })
        );
        assert_eq!(
            is_weights(&mut w, &[0.0, 0.0], &[f32::INFINITY, 0.0], mask, &c),
            Err(Error::NonFinite {
                what: "rollout_logp",
                index: 0
            })
        );
        // NaN at the masked position is not read.
        assert_eq!(
            is_weights(&mut w, &[0.0, f32::NAN], &[0.0, f32::NAN], mask, &c),
            Ok(0)
        );
        assert_eq!(w, [1.0, 0.0]);
        // seq-mask-tis: a geometric mean inside [lo, hi] keeps the token ratio e^d, unbounded.
        // d = (100, −100): mean 0 keeps the row; e^100 does not fit in f32 (it used to be +∞).
        let both = Mask::new(&[true, true], 2).unwrap();
        let geo = IsCorrection::new(IsMode::GeoSequenceMask, 0.0, 2.0f32).unwrap();
        assert_eq!(
            is_weights(&mut w, &[100.0, -100.0], &[0.0, 0.0], both, &geo),
            Err(Error::Overflow {
                what: "importance weight"
            })
        );
        let geo = geo.with_log_clamp(Some(20.0)).unwrap();
        assert!(is_weights(&mut w, &[100.0, -100.0], &[0.0, 0.0], both, &geo).is_ok());
        assert_eq!(w, [20f32.exp(), (-20f32).exp()]);
    }

    #[test]
    fn sequence_modes() {
        // Row: d = (0.5, 0.5) -> Σd = 1, e¹ = 2.718; mean d = 0.5, e^{0.5} = 1.6487.
        let mask = Mask::new(&[true, true], 2).unwrap();
        let (a, b) = ([0.5f64, 0.5], [0.0, 0.0]);
        let mut w = [0.0; 2];
        let c = IsCorrection::new(IsMode::SequenceTruncate, 0.0, 2.0).unwrap();
        is_weights(&mut w, &a, &b, mask, &c).unwrap();
        assert_eq!(w, [2.0, 2.0]);
        let c = IsCorrection::new(IsMode::SequenceMask, 0.0, 2.0).unwrap();
        assert_eq!(is_weights(&mut w, &a, &b, mask, &c).unwrap(), 2);
        assert_eq!(w, [0.0, 0.0]);
        let c = IsCorrection::new(IsMode::GeoSequenceMask, 0.5, 2.0).unwrap();
        is_weights(&mut w, &a, &b, mask, &c).unwrap();
        assert_eq!(w, [0.5f64.exp(), 0.5f64.exp()]);
        let c = IsCorrection::new(IsMode::TokenMask, 0.5, 1.5)
            .unwrap()
            .with_batch_normalize(true);
        is_weights(&mut w, &[0.0, 1.0], &b, mask, &c).unwrap();
        assert_eq!(w, [2.0, 0.0]); // (1, 0) has mean 0.5 over the valid tokens
    }
}
