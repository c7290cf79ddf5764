//! Numerics presets: the rewardkit contract, or exact reproductions of verl, TRL and OpenRLHF.
//!
//! The three frameworks disagree on where epsilon goes, on Bessel's correction, on singleton and
//! zero-variance groups, on KL clamps and on what they leave at masked positions
//! (`../docs/numerics.md` lists every difference). [`Preset::Rewardkit`] is one explicit contract;
//! the other presets reproduce each framework's numbers, quirks included, for users migrating from
//! them. Each preset is checked against vectors produced by the framework's own code.

use core::fmt;
use core::str::FromStr;

#[cfg(feature = "alloc")]
use num_traits::Float;

use crate::advantage::{Grpo, Scale, Singleton};
use crate::error::{Error, Result, UnknownName};
use crate::kl::{KlEstimator, KlPenalty};
use crate::real::Real;
use crate::stats::Whiten;

/// Whose numerics to use.
///
/// | | rewardkit | verl | TRL | OpenRLHF |
/// |---|---|---|---|---|
/// | group std `ε` (on σ) | `1e-6` | `1e-6` | `1e-4` | `1e-9` |
/// | singleton group | `A = 0` | raw reward | `A = 0` | error |
/// | whitening | `rsqrt(var+1e-8)`, Bessel | same, `+1e-8` on counts | — | `rsqrt(max(var,1e-8))`, population |
/// | `k3` clamps | `d ∈ ±20` | `d ∈ ±20`, value `±10` | none | value `±10` (all estimators) |
/// | masked positions | 0 | whatever the recursion leaves | — | whatever the recursion leaves |
///
/// # Examples
/// ```
/// use rewardkit_core::Preset;
/// let p: Preset = "openrlhf".parse()?;
/// assert_eq!(p, Preset::OpenRlhf);
/// assert_eq!(p.grpo_eps(), 1e-9);
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Preset {
    /// The rewardkit numerics contract (`docs/numerics.md`).
    #[default]
    Rewardkit,
    /// verl (`verl-project/verl` at `1dda039`).
    Verl,
    /// TRL (`huggingface/trl` at `f2cd577`).
    Trl,
    /// OpenRLHF (`OpenRLHF/OpenRLHF` at `3c3be62`).
    OpenRlhf,
}

impl Preset {
    /// The epsilon added to the group standard deviation in GRPO.
    pub fn grpo_eps(self) -> f64 {
        match self {
            Self::Rewardkit | Self::Verl => 1e-6,
            Self::Trl => 1e-4,
            Self::OpenRlhf => 1e-9,
        }
    }

    /// The singleton-group rule.
    pub fn singleton(self) -> Singleton {
        match self {
            Self::Rewardkit | Self::Trl => Singleton::Zero,
            Self::Verl => Singleton::Raw,
            Self::OpenRlhf => Singleton::Error,
        }
    }

    /// GRPO parameters with the given scaling.
    pub fn grpo<F: Real>(self, scale: Scale) -> Grpo<F> {
        Grpo::new(scale, F::lit(self.grpo_eps()), self.singleton()).unwrap_or_default()
    }

    /// Batch whitening.
    pub fn whiten<F: Real>(self) -> Whiten<F> {
        match self {
            Self::Rewardkit | Self::Trl => Whiten::default(),
            Self::Verl => Whiten::verl(),
            Self::OpenRlhf => Whiten::openrlhf(),
        }
    }

    /// The KL penalty for `estimator` (TRL supports only `k3`; its preset ignores `estimator`).
    pub fn kl<F: Real>(self, estimator: KlEstimator, straight_through: bool) -> KlPenalty<F> {
        match self {
            Self::Rewardkit => KlPenalty::new(estimator).with_straight_through(straight_through),
            Self::Verl => KlPenalty::verl(estimator, straight_through),
            Self::Trl => KlPenalty::trl(),
            Self::OpenRlhf => KlPenalty::openrlhf(estimator),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Rewardkit => "rewardkit",
            Self::Verl => "verl",
            Self::Trl => "trl",
            Self::OpenRlhf => "openrlhf",
        })
    }
}

impl FromStr for Preset {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "rewardkit" => Ok(Self::Rewardkit),
            "verl" => Ok(Self::Verl),
            "trl" => Ok(Self::Trl),
            "openrlhf" | "OpenRLHF" => Ok(Self::OpenRlhf),
            _ => Err(UnknownName {
                kind: "preset",
                valid: &["rewardkit", "verl", "trl", "openrlhf"],
            }),
        }
    }
}

/// Rounds to `f32` (OpenRLHF and TRL compute some statistics in `float32` whatever the input type).
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "rounding to f32 is the point"
)]
pub(crate) fn round_f32(x: f64) -> f64 {
    f64::from(x as f32)
}

// ---------------------------------------------------------------------------------------------
// Dispatch of the enum-selected estimators
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "alloc")]
pub(crate) use dispatch::compute_advantages;

#[cfg(not(feature = "alloc"))]
pub(crate) fn compute_advantages<F: Real>(
    _est: crate::AdvantageEstimator,
    _advantages: &mut [F],
    _returns: &mut [F],
    _inputs: &crate::advantage::AdvantageInputs<'_, F>,
    _config: &crate::advantage::AdvantageConfig<F>,
) -> Result<()> {
    Err(Error::MissingInput {
        what: "scratch memory: AdvantageEstimator::compute needs the `alloc` feature",
    })
}

#[cfg(feature = "alloc")]
mod dispatch {
    use alloc::vec;

    use super::*;
    use crate::AdvantageEstimator as E;
    use crate::advantage::{
        self as adv, AdvantageConfig, AdvantageInputs, Otb, OtbPositions, apply_mask, broadcast,
        check_tokens, gae_rows_raw, sequence_sums, whiten_in_place,
    };

    pub(crate) fn compute_advantages<F: Real>(
        est: E,
        advantages: &mut [F],
        returns: &mut [F],
        inp: &AdvantageInputs<'_, F>,
        cfg: &AdvantageConfig<F>,
    ) -> Result<()> {
        let mask = inp.mask;
        let shape = mask.shape();
        shape.check("advantages", advantages.len())?;
        shape.check("returns", returns.len())?;
        check_tokens("token_rewards", inp.token_rewards, mask)?;
        let preset = cfg.preset();
        let t = shape.seq_len();
        let b = shape.batch();
        let mut scores = vec![F::ZERO; b];
        sequence_sums(&mut scores, inp.token_rewards, t)?;
        let mut per_seq = vec![F::ZERO; b];
        let grpo_p = cfg.grpo_params();
        let one = [F::ONE];

        // Per-sequence estimators: compute the scalar, broadcast, returns = advantages.
        let scalar = |per_seq: &mut [F]| -> Result<bool> {
            match est {
                E::Grpo | E::DrGrpo | E::SumThenNormalize | E::NormalizeThenSum
                    if preset == Preset::Trl =>
                {
                    let groups = inp.groups()?;
                    let scale = if est == E::DrGrpo {
                        Scale::None
                    } else {
                        grpo_p.scale()
                    };
                    let (comps, weights, k) = components(inp, &scores, &one);
                    let mode = if est == E::NormalizeThenSum {
                        TrlAggregation::NormalizeThenSum
                    } else {
                        TrlAggregation::SumThenNormalize
                    };
                    trl_grpo_advantages(per_seq, comps, weights, k, groups, scale, mode)?;
                }
                E::Grpo => adv::grpo(per_seq, &scores, inp.groups()?, &grpo_p)?,
                E::DrGrpo => {
                    let p = Grpo::new(Scale::None, grpo_p.eps(), grpo_p.singleton())?;
                    adv::grpo(per_seq, &scores, inp.groups()?, &p)?;
                }
                E::GrpoPassK => {
                    let normalize = grpo_p.scale() != Scale::None;
                    adv::grpo_passk(per_seq, &scores, inp.groups()?, normalize, grpo_p.eps())?;
                }
                // TRL's RLOO, `R − (Σ_g R − R)/(c − 1)` with 0/0 zeroed, is `rloo` with zero
                // singletons on finite scores (computed from shifted moments: exact zeros).
                E::Rloo if preset == Preset::Trl => {
                    adv::rloo(per_seq, &scores, inp.groups()?, Singleton::Zero)?;
                }
                E::Rloo => adv::rloo(per_seq, &scores, inp.groups()?, grpo_p.singleton())?,
                E::Opo => {
                    let mut lens = vec![F::ZERO; b];
                    for (l, row) in lens.iter_mut().zip(mask.rows()) {
                        *l = F::from_usize(crate::layout::count_true(row));
                    }
                    adv::opo(per_seq, &scores, &lens, inp.groups()?, grpo_p.singleton())?;
                }
                E::Gpg => crate::advantage::gpg_impl(
                    per_seq,
                    &scores,
                    inp.groups()?,
                    F::ONE,
                    grpo_p.singleton(),
                    preset == Preset::Verl,
                )?,
                E::SumThenNormalize => {
                    let (comps, weights, _) = components(inp, &scores, &one);
                    adv::sum_then_normalize(per_seq, comps, weights, inp.groups()?, &grpo_p)?;
                }
                E::NormalizeThenSum => {
                    let (comps, weights, _) = components(inp, &scores, &one);
                    let eps = cfg.eps_override().unwrap_or(F::lit(1e-4));
                    adv::normalize_then_sum(per_seq, comps, weights, inp.groups()?, eps)?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        };
        if scalar(&mut per_seq)? {
            broadcast(advantages, &per_seq, mask)?;
            returns.copy_from_slice(advantages);
            return crate::error::ensure_output("advantages", advantages);
        }

        let whiten = cfg.whiten();
        match est {
            E::Gae => {
                let values = inp.values.ok_or(Error::MissingInput { what: "values" })?;
                check_tokens("values", values, mask)?;
                let p = cfg.gae_params();
                let (g, l) = (p.gamma().as_f64(), p.lambda().as_f64());
                gae_rows_raw(
                    advantages,
                    inp.token_rewards,
                    values,
                    mask.bits(),
                    t,
                    g,
                    g * l,
                );
                for ((r, a), v) in returns.iter_mut().zip(advantages.iter()).zip(values) {
                    *r = *a + *v;
                }
                if preset == Preset::Verl {
                    // verl whitens every position (masked ones included) and does not re-mask.
                    let (mean, scale) =
                        crate::stats::whiten_affine(advantages, mask.bits(), &whiten)?;
                    for a in advantages.iter_mut() {
                        *a = F::lit((a.as_f64() - mean) * scale);
                    }
                } else {
                    apply_mask(returns, mask.bits());
                    apply_mask(advantages, mask.bits());
                    whiten_in_place(advantages, mask, &whiten)?;
                }
            }
            E::ReinforcePlusPlus => {
                let gamma = cfg.gamma();
                if preset == Preset::Verl {
                    // Returns are 0 at masked positions (the running return is carried).
                    crate::advantage::returns_rows(
                        returns,
                        inp.token_rewards,
                        mask,
                        gamma.as_f64(),
                        false,
                    );
                    whiten_in_place(advantages_from(advantages, returns), mask, &whiten)?;
                } else {
                    adv::reinforce_plus_plus(
                        advantages,
                        returns,
                        inp.token_rewards,
                        mask,
                        gamma,
                        &whiten,
                    )?;
                }
            }
            E::ReinforcePlusPlusBaseline => {
                adv::reinforce_plus_plus_baseline(
                    advantages,
                    &scores,
                    mask,
                    inp.groups()?,
                    grpo_p.singleton(),
                    &whiten,
                )?;
                returns.copy_from_slice(advantages);
            }
            E::Remax => {
                let base = inp.reward_baselines.ok_or(Error::MissingInput {
                    what: "reward_baselines",
                })?;
                if preset == Preset::Verl {
                    shape.check_batch("reward_baselines", base.len())?;
                    crate::error::ensure_finite("reward_baselines", base)?;
                    // Undiscounted reward-to-go of r·m at every position; A = G − b·m.
                    for (((a, g), (r, m)), &bl) in advantages
                        .chunks_exact_mut(t)
                        .zip(returns.chunks_exact_mut(t))
                        .zip(inp.token_rewards.chunks_exact(t).zip(mask.rows()))
                        .zip(base)
                    {
                        let mut acc = 0.0f64;
                        for (((a, g), &r), &m) in a.iter_mut().zip(g).zip(r).zip(m).rev() {
                            if m {
                                acc += r.as_f64();
                            }
                            *g = F::lit(acc);
                            *a = if m {
                                F::lit(acc - bl.as_f64())
                            } else {
                                F::lit(acc)
                            };
                        }
                    }
                } else {
                    adv::remax(advantages, returns, inp.token_rewards, base, mask)?;
                }
            }
            E::OptimalTokenBaseline | E::TirOptimalTokenBaseline => {
                let old = inp
                    .old_logp
                    .ok_or(Error::MissingInput { what: "old_logp" })?;
                let spp = inp.sum_pi_squared.ok_or(Error::MissingInput {
                    what: "sum_pi_squared",
                })?;
                let positions = if est == E::TirOptimalTokenBaseline {
                    OtbPositions::Compacted
                } else {
                    OtbPositions::Absolute
                };
                let p = Otb::new(cfg.handle_zero_tail(), F::lit(1e-8), positions)?;
                adv::optimal_token_baseline(
                    advantages,
                    returns,
                    inp.token_rewards,
                    old,
                    spp,
                    inp.rollout_is_weights,
                    mask,
                    inp.groups()?,
                    &p,
                )?;
                if preset == Preset::Rewardkit {
                    apply_mask(returns, mask.bits());
                }
            }
            E::Gdpo => {
                let (comps, weights, _) = components(inp, &scores, &one);
                adv::gdpo(
                    advantages,
                    comps,
                    weights,
                    mask,
                    inp.groups()?,
                    &grpo_p,
                    &whiten,
                )?;
                returns.copy_from_slice(advantages);
            }
            _ => {
                return Err(Error::MissingInput {
                    what: "a dispatch rule for this estimator",
                });
            }
        }
        crate::error::ensure_output("advantages", advantages)?;
        crate::error::ensure_output("returns", returns)
    }

    /// `advantages ← returns` (then whitened in place by the caller).
    fn advantages_from<'a, F: Real>(adv: &'a mut [F], returns: &[F]) -> &'a mut [F] {
        adv.copy_from_slice(returns);
        adv
    }

    /// The reward components `(B, K)` and weights, or the sequence scores as the single component
    /// with weight `one = [1]`.
    fn components<'a, F: Real>(
        inp: &AdvantageInputs<'a, F>,
        scores: &'a [F],
        one: &'a [F],
    ) -> (&'a [F], &'a [F], usize) {
        match (inp.components, inp.component_weights) {
            (Some(c), Some(w)) => (c, w, w.len()),
            _ => (scores, one, 1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TRL
// ---------------------------------------------------------------------------------------------

/// TRL's `multi_objective_aggregation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TrlAggregation {
    /// Weighted sum of the rewards, then group normalization (TRL default).
    #[default]
    SumThenNormalize,
    /// Per-reward group normalization, weighted sum, batch normalization (GDPO).
    NormalizeThenSum,
}

#[cfg(feature = "alloc")]
/// NaN-aware mean and TRL's `nanstd` of an iterator, from moments shifted by the first non-NaN
/// value (so a set of equal values has mean exactly that value and spread exactly 0); Bessel factor
/// `c/(c−1)` rounded to `f32` (TRL divides two integer tensors, which yields `float32`), NaN when
/// `c <= 1`.
fn trl_nan_moments<I: Iterator<Item = f64> + Clone>(xs: I) -> (f64, f64, usize) {
    let m = crate::advantage::Moments::of(xs.filter(|x| !x.is_nan()));
    let c = m.n;
    if c == 0 {
        return (f64::NAN, f64::NAN, 0);
    }
    let std = if c <= 1 {
        f64::NAN
    } else {
        let cf = crate::real::usize_f64(c);
        Float::sqrt(m.m2() / cf * round_f32(cf / (cf - 1.0)))
    };
    (m.mean(), std, c)
}

/// TRL's GRPO advantage block (`GRPOTrainer._generate_and_score_completions`), NaN semantics
/// included: a NaN component means the reward function returned `None`.
///
/// # Definition
/// `sum_then_normalize`: `Rᵢ = nansum_k w_k·r_{i,k}` (NaN when every component is NaN),
/// `Aᵢ = Rᵢ − nanmean_g`, divided by `nanstd_g + 1e-4` (`Scale::Group`) or `nanstd_batch + 1e-4`
/// (`Scale::Batch`); `normalize_then_sum`: each component normalized by its group's
/// `nanmean`/`nanstd + 1e-4`, weighted `nansum`, then normalized by the batch
/// `nanmean`/`nanstd + 1e-4`. Finally NaN becomes 0. `nanstd` uses Bessel's factor computed in
/// `float32`, as TRL does.
///
/// # Shapes
/// `out`: `(B)`; `components`: `(B, K)`; `weights`: `(K)` with `K = weights.len()`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for an infinite component or any non-finite
/// weight.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::Scale, preset::{TrlAggregation, trl_grpo_advantages}};
/// let groups = GroupIndex::uniform(4, 4)?;
/// let mut adv = [0.0f64; 4];
/// trl_grpo_advantages(&mut adv, &[0.0, 1.0, 0.0, f64::NAN], &[1.0], 1, &groups, Scale::Group,
///     TrlAggregation::SumThenNormalize)?;
/// assert_eq!(adv[3], 0.0); // unscorable
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn trl_grpo_advantages<F: Real>(
    out: &mut [F],
    components: &[F],
    weights: &[F],
    k: usize,
    groups: &crate::GroupIndex<'_>,
    scale: Scale,
    mode: TrlAggregation,
) -> Result<()> {
    use alloc::vec;
    use alloc::vec::Vec;
    let b = out.len();
    groups.check_rows("out", b)?;
    crate::error::ensure_len("reward_weights", k, weights.len())?;
    crate::error::ensure_len("components", b * k, components.len())?;
    if let Some(index) = components.iter().position(|x| x.is_infinite()) {
        return Err(Error::NonFinite {
            what: "components",
            index,
        });
    }
    crate::error::ensure_finite("reward_weights", weights)?;
    let k = k.max(1);
    let col = |j: usize| -> Vec<f64> {
        components
            .chunks_exact(k)
            .map(|r| r.get(j).map_or(f64::NAN, |x| x.as_f64()))
            .collect()
    };
    // Unscorable rows: every *raw* component NaN (TRL's `unscorable_mask`).
    let unscorable: Vec<bool> = components
        .chunks_exact(k)
        .map(|r| r.iter().all(|x| x.is_nan()))
        .collect();
    // nansum over components (0 when every term is NaN); NaN for unscorable rows.
    let nansum = |rows: &[Vec<f64>]| -> Vec<f64> {
        (0..b)
            .map(|i| {
                if unscorable.get(i).copied().unwrap_or(true) {
                    return f64::NAN;
                }
                let mut s = 0.0;
                for (j, c) in rows.iter().enumerate() {
                    let x = c.get(i).copied().unwrap_or(f64::NAN);
                    if !x.is_nan() {
                        s += weights.get(j).map_or(0.0, |w| w.as_f64()) * x;
                    }
                }
                s
            })
            .collect()
    };
    let group_norm = |x: &[f64], divide: bool| -> Vec<f64> {
        let mut y = vec![f64::NAN; b];
        for g in 0..groups.n_groups() {
            let rows: Vec<usize> = groups.rows(g).collect();
            let (mean, std, _) =
                trl_nan_moments(rows.iter().map(|&i| x.get(i).copied().unwrap_or(f64::NAN)));
            for &i in &rows {
                if let (Some(o), Some(&v)) = (y.get_mut(i), x.get(i)) {
                    *o = if divide {
                        (v - mean) / (std + 1e-4)
                    } else {
                        v - mean
                    };
                }
            }
        }
        y
    };
    let cols: Vec<_> = (0..k).map(col).collect();
    let adv: Vec<f64> = match mode {
        TrlAggregation::SumThenNormalize => {
            let r = nansum(&cols);
            match scale {
                Scale::Group => group_norm(&r, true),
                Scale::None => group_norm(&r, false),
                Scale::Batch => {
                    let centred = group_norm(&r, false);
                    let (_, std, _) = trl_nan_moments(r.iter().copied());
                    centred.iter().map(|c| c / (std + 1e-4)).collect()
                }
            }
        }
        TrlAggregation::NormalizeThenSum => {
            let normed: Vec<_> = cols.iter().map(|c| group_norm(c, true)).collect();
            let r = nansum(&normed);
            let (mean, std, _) = trl_nan_moments(r.iter().copied());
            r.iter().map(|x| (x - mean) / (std + 1e-4)).collect()
        }
    };
    for (o, a) in out.iter_mut().zip(adv) {
        *o = if a.is_nan() { F::ZERO } else { F::lit(a) };
    }
    crate::error::ensure_output("advantages", out)
}

// ---------------------------------------------------------------------------------------------
// OpenRLHF
// ---------------------------------------------------------------------------------------------

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
/// GAE runs over all positions with masked values and rewards (it does not skip masked tokens);
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
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::MissingInput`] for GAE without values;
/// [`Error::BadShape`] if `n` does not divide `B`; [`Error::GroupTooSmall`] for a group estimator with
/// `n < 2` (OpenRLHF asserts); [`Error::TooFewValid`] when normalizing an all-masked batch.
///
/// # Examples
/// ```
/// use rewardkit_core::Mask;
/// use rewardkit_core::preset::{OpenRlhfAdvantage, OpenRlhfEstimator, openrlhf_advantages_and_returns};
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
    use alloc::vec::Vec;
    let shape = mask.shape();
    let (b, t) = (shape.batch(), shape.seq_len());
    shape.check("advantages", advantages.len())?;
    shape.check("returns", returns.len())?;
    shape.check("kl", kl.len())?;
    shape.check_batch("info_return", info_return.len())?;
    shape.check_batch("rewards", rewards.len())?;
    crate::error::ensure_finite("rewards", rewards)?;
    crate::error::ensure_finite("kl", kl)?;
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
        let r: Vec<f64> = r.iter().map(|x| x.as_f64()).collect();
        let s = crate::stats::Summary::from_iter(r.iter().copied());
        let nf = crate::real::usize_f64(n);
        for (o, &x) in sh.iter_mut().zip(&r) {
            *o = match p.estimator {
                E::Rloo => x - (s.sum - x) / (nf - 1.0),
                E::ReinforceBaseline | E::DrGrpo => x - s.mean,
                E::GroupNorm => (x - s.mean) / (s.std(1) + 1e-9),
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
        for (j, (o, &kv)) in row.iter_mut().zip(k).enumerate() {
            *o = -beta * kv.as_f64() + if j == eos { r } else { 0.0 };
        }
        if let Some(info) = info_return.get_mut(i) {
            *info = F::lit(row.iter().sum());
        }
    }
    // 3. GAE (no skipping: masked values and rewards are 0) or cumulative returns.
    if p.estimator == E::Gae {
        let values = values.ok_or(Error::MissingInput { what: "values" })?;
        shape.check("values", values.len())?;
        crate::error::ensure_finite("values", values)?;
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
