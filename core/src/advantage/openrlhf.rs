//! OpenRLHF's advantage pipeline (`RemoteExperienceMaker.compute_advantages_and_returns`, pinned
//! `3c3be62`), reproduced: outcome-reward shaping by the estimator, the per-token reward with the KL
//! penalty, GAE or cumulative returns, and global normalization.

use core::str::FromStr;

#[cfg(feature = "alloc")]
use num_traits::Float;

use crate::error::UnknownName;
#[cfg(feature = "alloc")]
use crate::error::{Error, Result};
use crate::real::Real;

#[cfg(feature = "alloc")]
use super::round_f32;

/// OpenRLHF's `--algo.advantage.estimator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OpenRlhfEstimator {
    /// `gae`: GAE with a critic, then global normalization.
    Gae,
    /// `reinforce`: REINFORCE++ (discounted returns, global normalization).
    Reinforce,
    /// `rloo`: leave-one-out baseline on the outcome reward.
    Rloo,
    /// `reinforce_baseline`: group-mean baseline, global normalization.
    ReinforceBaseline,
    /// `group_norm`: GRPO, `(R − μ)/(σ + 1e-9)`.
    GroupNorm,
    /// `dr_grpo`: group-mean baseline without normalization.
    DrGrpo,
}

impl FromStr for OpenRlhfEstimator {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "gae" => Self::Gae,
            "reinforce" => Self::Reinforce,
            "rloo" => Self::Rloo,
            "reinforce_baseline" => Self::ReinforceBaseline,
            "group_norm" => Self::GroupNorm,
            "dr_grpo" => Self::DrGrpo,
            _ => {
                return Err(UnknownName {
                    kind: "OpenRLHF advantage estimator",
                    valid: &[
                        "gae",
                        "reinforce",
                        "rloo",
                        "reinforce_baseline",
                        "group_norm",
                        "dr_grpo",
                    ],
                });
            }
        })
    }
}

/// Settings of OpenRLHF's advantage pipeline (`RemoteExperienceMaker.compute_advantages_and_returns`).
///
/// Defaults as in `train_ppo_ray.py`: `γ = λ = 1`, `kl_coef = 0`, reward clip `(−10, 10)`,
/// standard-deviation normalization on.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OpenRlhfAdvantage<F> {
    /// The estimator.
    pub estimator: OpenRlhfEstimator,
    /// Samples per prompt `n` (contiguous blocks in prompt order).
    pub n_samples_per_prompt: usize,
    /// Discount `γ` (forced to 1 for the group estimators, as OpenRLHF does).
    pub gamma: F,
    /// GAE `λ`.
    pub lambd: F,
    /// `--algo.advantage.no_std_norm`: normalization subtracts the mean only.
    pub no_std_norm: bool,
    /// KL coefficient `β` of the per-token reward `−β·kl` (negative values count as 0).
    pub kl_coef: F,
    /// Clamp of the (shaped) outcome reward, `None` for no clamp.
    pub reward_clip: Option<(F, F)>,
}

impl<F: Real> OpenRlhfAdvantage<F> {
    /// The defaults for `estimator` with `n` samples per prompt.
    pub fn new(estimator: OpenRlhfEstimator, n_samples_per_prompt: usize) -> Self {
        Self {
            estimator,
            n_samples_per_prompt,
            gamma: F::ONE,
            lambd: F::ONE,
            no_std_norm: false,
            kl_coef: F::ZERO,
            reward_clip: Some((F::lit(-10.0), F::lit(10.0))),
        }
    }
}

/// OpenRLHF's advantage pipeline, reproduced: outcome-reward shaping by the estimator, the per-token
/// reward `r̃ₜ = −β·klₜ + [t = eos]·clamp(R′)`, GAE or cumulative returns, and global normalization
/// (`gae`, `reinforce`, `reinforce_baseline`).
///
/// # Definition
/// `R′ = R − (Σ_g R − R)/(n−1)` (`rloo`), `R − μ_g` (`reinforce_baseline`, `dr_grpo`),
/// `(R − μ_g)/(σ_g + 1e-9)` (`group_norm`), `R` otherwise; `eos` is the last valid token.
/// GAE runs over all positions with masked values and rewards taken as 0 (it does not skip masked
/// tokens; masked inputs are never read);
/// returns are the `γ`-discounted cumulative sums of the masked rewards (`γ = 1` for the group
/// estimators). Normalization: `μ` over valid tokens, population variance,
/// `(A − μ)·rsqrt(max(var, 1e-8))` at every position (masked ones included). OpenRLHF computes the
/// normalization statistics in `float32`; so does this function, so `f64` results agree with
/// OpenRLHF to about `1e-7` relative there.
///
/// # Shapes
/// `advantages`, `returns`, `kl`, `values`: `(B, T)` like `mask`; `info_return`, `rewards`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] (for `kl` and `values` at valid positions only);
/// [`Error::MissingInput`] for GAE without values;
/// [`Error::BadShape`] if `n` does not divide `B`; [`Error::GroupTooSmall`] for a group estimator with
/// `n < 2` (OpenRLHF asserts); [`Error::TooFewValid`] when normalizing an all-masked batch.
///
/// # Examples
/// ```
/// use rewardkit_core::Mask;
/// use rewardkit_core::advantage::{OpenRlhfAdvantage, OpenRlhfEstimator, openrlhf_advantages_and_returns};
/// let mask = Mask::new(&[true, true, true, false], 2)?;
/// let p = OpenRlhfAdvantage::<f64>::new(OpenRlhfEstimator::Rloo, 2);
/// let (mut adv, mut ret, mut info) = ([0.0; 4], [0.0; 4], [0.0; 2]);
/// openrlhf_advantages_and_returns(&mut adv, &mut ret, &mut info, &[1.0, 0.0], &[0.0; 4], mask, None, &p)?;
/// assert_eq!(adv, [1.0, 1.0, -1.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn openrlhf_advantages_and_returns<F: Real>(
    advantages: &mut [F],
    returns: &mut [F],
    info_return: &mut [F],
    rewards: &[F],
    kl: &[F],
    mask: crate::Mask<'_>,
    values: Option<&[F]>,
    p: &OpenRlhfAdvantage<F>,
) -> Result<()> {
    use OpenRlhfEstimator as E;
    use alloc::vec;
    let shape = mask.shape();
    let (b, t) = (shape.batch(), shape.seq_len());
    shape.check("advantages", advantages.len())?;
    shape.check("returns", returns.len())?;
    shape.check("kl", kl.len())?;
    shape.check_batch("info_return", info_return.len())?;
    shape.check_batch("rewards", rewards.len())?;
    crate::error::ensure_finite("rewards", rewards)?;
    super::returns::check_tokens("kl", kl, mask)?;
    let n = p.n_samples_per_prompt;
    let group = !matches!(p.estimator, E::Gae | E::Reinforce);
    if n == 0 || b % n != 0 {
        return Err(Error::BadShape {
            what: "rewards (n_samples_per_prompt)",
            len: b,
            dim: n,
        });
    }
    if group && n < 2 {
        return Err(Error::GroupTooSmall {
            group: 0,
            size: n,
            min: 2,
        });
    }
    let gamma = crate::advantage::Gae::new(p.gamma, p.lambd)?;
    let (g, l) = (gamma.gamma().as_f64(), gamma.lambda().as_f64());
    let g = if group { 1.0 } else { g };
    // 1. Outcome-reward shaping per group.
    let mut shaped = vec![0.0f64; b];
    for (sh, r) in shaped.chunks_exact_mut(n).zip(rewards.chunks_exact(n)) {
        // Shifted moments: a group of equal rewards gives exactly 0 (`x − (Σ − x)/(n − 1)` is
        // computed as the equal `(x − μ)·n/(n − 1)`).
        let (acc, _) = super::affine::Acc::of(r.iter().map(|x| x.as_f64()));
        let m = acc.moments(n);
        let nf = crate::real::usize_f64(n);
        for (o, x) in sh.iter_mut().zip(r) {
            let x = x.as_f64();
            *o = match p.estimator {
                E::Rloo => (x - m.mean) * (nf / (nf - 1.0)),
                E::ReinforceBaseline | E::DrGrpo => x - m.mean,
                E::GroupNorm => (x - m.mean) / (m.std() + 1e-9),
                E::Gae | E::Reinforce => x,
            };
        }
    }
    // 2. Per-token reward: −β·kl + clamp(R′) at the last valid token.
    let beta = p.kl_coef.as_f64().max(0.0);
    let mut tok = vec![0.0f64; b * t];
    for (i, ((row, m), k)) in tok
        .chunks_exact_mut(t)
        .zip(mask.rows())
        .zip(kl.chunks_exact(t))
        .enumerate()
    {
        let eos = m.iter().rposition(|&x| x).unwrap_or(t - 1);
        let mut r = shaped.get(i).copied().unwrap_or(0.0);
        if let Some((lo, hi)) = p.reward_clip {
            r = r.max(lo.as_f64()).min(hi.as_f64());
        }
        // Masked KL values are not read (OpenRLHF's KL is masked, so they are 0 there).
        for (j, ((o, &kv), &mj)) in row.iter_mut().zip(k).zip(m).enumerate() {
            let kl_term = if mj { -beta * kv.as_f64() } else { 0.0 };
            *o = kl_term + if j == eos { r } else { 0.0 };
        }
        if let Some(info) = info_return.get_mut(i) {
            *info = F::lit(row.iter().sum());
        }
    }
    // 3. GAE (no skipping: masked values and rewards are 0) or cumulative returns.
    if p.estimator == E::Gae {
        let values = values.ok_or(Error::MissingInput { what: "values" })?;
        super::returns::check_tokens("values", values, mask)?;
        for ((((a, ret), r), v), m) in advantages
            .chunks_exact_mut(t)
            .zip(returns.chunks_exact_mut(t))
            .zip(tok.chunks_exact(t))
            .zip(values.chunks_exact(t))
            .zip(mask.rows())
        {
            let mut last = 0.0f64;
            let mut next_v = 0.0f64;
            for ((((a, ret), &r), &v), &m) in a.iter_mut().zip(ret).zip(r).zip(v).zip(m).rev() {
                let (r, v) = if m { (r, v.as_f64()) } else { (0.0, 0.0) };
                let delta = r + g * next_v - v;
                last = delta + g * l * last;
                *a = F::lit(last);
                *ret = F::lit(last + v);
                next_v = v;
            }
        }
    } else {
        for (((a, ret), r), m) in advantages
            .chunks_exact_mut(t)
            .zip(returns.chunks_exact_mut(t))
            .zip(tok.chunks_exact(t))
            .zip(mask.rows())
        {
            let mut acc = 0.0f64;
            for (((a, ret), &r), &m) in a.iter_mut().zip(ret).zip(r).zip(m).rev() {
                acc = if m { r } else { 0.0 } + g * acc;
                *a = F::lit(acc);
                *ret = F::lit(acc);
            }
        }
    }
    // 4. Global normalization (float32 statistics, every position transformed).
    if matches!(p.estimator, E::Gae | E::Reinforce | E::ReinforceBaseline) {
        let valid = advantages
            .iter()
            .zip(mask.bits())
            .filter(|&(_, &m)| m)
            .map(|(a, _)| round_f32(a.as_f64()));
        let s = crate::stats::Summary::from_iter(valid);
        if s.count == 0 {
            return Err(Error::TooFewValid {
                what: "OpenRLHF advantage normalization",
                count: 0,
                min: 1,
            });
        }
        let mean = round_f32(s.mean);
        let rstd = if p.no_std_norm {
            1.0
        } else {
            round_f32(
                1.0 / Float::sqrt(round_f32(s.m2 / crate::real::usize_f64(s.count)).max(1e-8)),
            )
        };
        for a in advantages.iter_mut() {
            *a = F::lit((a.as_f64() - mean) * rstd);
        }
    }
    crate::error::ensure_output("advantages", advantages)?;
    crate::error::ensure_output("returns", returns)?;
    crate::error::ensure_output("info_return", info_return)
}
