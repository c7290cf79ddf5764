//! Advantage estimators: every estimator of verl, TRL and OpenRLHF, as plain functions and through
//! [`AdvantageEstimator`], which parses verl's names.
//!
//! | estimator | function | inputs | reference |
//! |---|---|---|---|
//! | `gae` | [`gae`] | token rewards, values | Schulman et al. 2016 |
//! | `grpo` | [`grpo`] | scores, groups | Shao et al. 2024 |
//! | `dr_grpo` | [`grpo`] with [`Scale::None`] | scores, groups | Liu et al. 2025 |
//! | `grpo_passk` | [`grpo_passk`] | scores, groups | Chen et al. 2025 |
//! | `rloo` | [`rloo`] | scores, groups | Ahmadian et al. 2024 |
//! | `reinforce_plus_plus` | [`reinforce_plus_plus`] | token rewards | Hu 2025 |
//! | `reinforce_plus_plus_baseline` | [`reinforce_plus_plus_baseline`] | scores, groups | Hu 2025 |
//! | `remax` | [`remax`] | token rewards, greedy baselines | Li et al. 2023 |
//! | `opo` | [`opo`] | scores, lengths, groups | Hao et al. 2025 |
//! | `gpg` | [`gpg`] | scores, groups | Chu et al. 2025 |
//! | `optimal_token_baseline` | [`optimal_token_baseline`] | token rewards, old log-probs, `Σπ²`, groups | verl |
//! | `gdpo` | [`gdpo`] | reward components, weights, groups | Liu et al. 2026 |
//! | `sum_then_normalize` | [`sum_then_normalize`] | reward components, weights, groups | TRL |
//! | `normalize_then_sum` | [`normalize_then_sum`] | reward components, weights, groups | TRL |
//!
//! Batch whitening is a separate step ([`crate::stats::masked_whiten`]); the enum applies it where
//! the frameworks do (GAE, REINFORCE++, REINFORCE++-baseline, GDPO).
//!
//! Framework-specific pipelines: [`trl_grpo_advantages`] (TRL's block with its NaN semantics) and
//! [`openrlhf_advantages_and_returns`] (OpenRLHF's shaping, KL reward, GAE/returns and
//! normalization).
//!
//! # Structure
//! - [`AdvantagePlan`] ([`plan`]): an estimator and a config resolved once into
//!   public, readable stages, run with caller scratch; [`AdvantageEstimator::compute`] is the
//!   allocating convenience over it.
//! - The group seam ([`GroupMoments`], [`AffineRule`], [`group_moments`],
//!   [`group_affine_coefficients`], [`apply_group_affine`]): what every GRPO-family estimator
//!   computes per group, one kernel on the CPU.
//!
//! # Masked positions
//! Masked positions of `(B, T)` inputs are never read: they may hold anything, NaN included, and
//! never cause an error. Under [`Preset::Rewardkit`] masked positions of every output are 0; the
//! framework presets write what the framework writes there, as far as it depends on valid inputs
//! (`docs/numerics.md`).
//!
//! A custom estimator is a [`crate::GroupVisitor`] (see its example) or any function over these
//! slices; no registry is involved.

use core::fmt;
use core::str::FromStr;

use crate::error::{Result, UnknownName};
use crate::layout::{GroupIndex, Mask};
use crate::preset::Preset;
use crate::real::Real;
use crate::stats::Whiten;

mod affine;
mod group;
mod multi;
mod openrlhf;
mod otb;
pub mod plan;
mod returns;
mod trl;

pub use affine::{
    Affine, AffineRule, GroupMoments, GroupScale, Singleton, apply_group_affine,
    group_affine_coefficients, group_moments,
};
pub use group::{Grpo, Scale, gpg, group_mean_baseline, group_std, grpo, grpo_passk, opo, rloo};
pub use multi::weighted_sum;
#[cfg(feature = "alloc")]
pub use multi::{gdpo, normalize_then_sum, sum_then_normalize};
#[cfg(feature = "alloc")]
pub use openrlhf::openrlhf_advantages_and_returns;
pub use openrlhf::{OpenRlhfAdvantage, OpenRlhfEstimator};
#[cfg(feature = "alloc")]
pub use otb::optimal_token_baseline;
pub use otb::{Otb, OtbPositions};
pub use plan::{
    AdvantagePlan, AffineScale, GroupStage, Masked, PlanSizes, ScoreSource, SequenceStages, Stages,
    TokenStages,
};
pub use returns::{
    Gae, broadcast, discounted_returns, gae, masked_sequence_sums, reinforce_plus_plus,
    reinforce_plus_plus_baseline, remax, sequence_sums,
};
pub use trl::TrlAggregation;
#[cfg(feature = "alloc")]
pub use trl::trl_grpo_advantages;

/// Rounds to `f32` (verl, TRL and OpenRLHF compute some statistics in `float32` whatever the input
/// type).
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "rounding to f32 is the point"
)]
pub(crate) fn round_f32(x: f64) -> f64 {
    f64::from(x as f32)
}

/// An advantage estimator, named as verl's `algorithm.adv_estimator` (OpenRLHF and TRL names are
/// accepted as aliases).
///
/// | variant | names |
/// |---|---|
/// | `Gae` | `gae` |
/// | `Grpo` | `grpo`, `grpo_vectorized`, `group_norm` (OpenRLHF) |
/// | `DrGrpo` | `dr_grpo` |
/// | `GrpoPassK` | `grpo_passk` |
/// | `Rloo` | `rloo`, `rloo_vectorized` |
/// | `ReinforcePlusPlus` | `reinforce_plus_plus`, `reinforce` (OpenRLHF) |
/// | `ReinforcePlusPlusBaseline` | `reinforce_plus_plus_baseline`, `reinforce_baseline` (OpenRLHF) |
/// | `Remax` | `remax` |
/// | `Opo` | `opo` |
/// | `Gpg` | `gpg` |
/// | `OptimalTokenBaseline` | `optimal_token_baseline` |
/// | `TirOptimalTokenBaseline` | `tir_optimal_token_baseline` |
/// | `Gdpo` | `gdpo` |
/// | `SumThenNormalize` | `sum_then_normalize` (TRL) |
/// | `NormalizeThenSum` | `normalize_then_sum` (TRL) |
///
/// # Examples
/// ```
/// use rewardkit_core::AdvantageEstimator;
///
/// let est: AdvantageEstimator = "reinforce_baseline".parse()?;
/// assert_eq!(est, AdvantageEstimator::ReinforcePlusPlusBaseline);
/// assert_eq!(est.to_string(), "reinforce_plus_plus_baseline");
/// assert!("grpo2".parse::<AdvantageEstimator>().unwrap_err().to_string().contains("rloo"));
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum AdvantageEstimator {
    /// GAE with a critic.
    Gae,
    /// GRPO (group mean and std).
    Grpo,
    /// GRPO without the std division.
    DrGrpo,
    /// Pass@k GRPO.
    GrpoPassK,
    /// Leave-one-out baseline.
    Rloo,
    /// Discounted returns, batch-whitened.
    ReinforcePlusPlus,
    /// Group mean baseline, batch-whitened.
    ReinforcePlusPlusBaseline,
    /// Greedy-rollout baseline.
    Remax,
    /// Length-weighted group baseline.
    Opo,
    /// Rescaled group-mean advantage.
    Gpg,
    /// Per-position optimal baseline.
    OptimalTokenBaseline,
    /// Per-position optimal baseline over compacted valid tokens (multi-turn).
    TirOptimalTokenBaseline,
    /// Decoupled multi-reward normalization.
    Gdpo,
    /// Weighted sum of rewards, then GRPO (TRL's default).
    SumThenNormalize,
    /// Per-reward normalization, sum, batch normalization (TRL's GDPO form).
    NormalizeThenSum,
}

const ADV_NAMES: &[&str] = &[
    "gae",
    "grpo",
    "grpo_vectorized",
    "group_norm",
    "dr_grpo",
    "grpo_passk",
    "rloo",
    "rloo_vectorized",
    "reinforce_plus_plus",
    "reinforce",
    "reinforce_plus_plus_baseline",
    "reinforce_baseline",
    "remax",
    "opo",
    "gpg",
    "optimal_token_baseline",
    "tir_optimal_token_baseline",
    "gdpo",
    "sum_then_normalize",
    "normalize_then_sum",
];

impl AdvantageEstimator {
    /// Every estimator, in declaration order.
    pub const ALL: [Self; 15] = [
        Self::Gae,
        Self::Grpo,
        Self::DrGrpo,
        Self::GrpoPassK,
        Self::Rloo,
        Self::ReinforcePlusPlus,
        Self::ReinforcePlusPlusBaseline,
        Self::Remax,
        Self::Opo,
        Self::Gpg,
        Self::OptimalTokenBaseline,
        Self::TirOptimalTokenBaseline,
        Self::Gdpo,
        Self::SumThenNormalize,
        Self::NormalizeThenSum,
    ];

    /// The canonical (verl) name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gae => "gae",
            Self::Grpo => "grpo",
            Self::DrGrpo => "dr_grpo",
            Self::GrpoPassK => "grpo_passk",
            Self::Rloo => "rloo",
            Self::ReinforcePlusPlus => "reinforce_plus_plus",
            Self::ReinforcePlusPlusBaseline => "reinforce_plus_plus_baseline",
            Self::Remax => "remax",
            Self::Opo => "opo",
            Self::Gpg => "gpg",
            Self::OptimalTokenBaseline => "optimal_token_baseline",
            Self::TirOptimalTokenBaseline => "tir_optimal_token_baseline",
            Self::Gdpo => "gdpo",
            Self::SumThenNormalize => "sum_then_normalize",
            Self::NormalizeThenSum => "normalize_then_sum",
        }
    }

    /// Whether the estimator needs a [`GroupIndex`].
    pub fn needs_groups(self) -> bool {
        !matches!(self, Self::Gae | Self::ReinforcePlusPlus | Self::Remax)
    }
}

impl fmt::Display for AdvantageEstimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for AdvantageEstimator {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "gae" => Self::Gae,
            "grpo" | "grpo_vectorized" | "group_norm" => Self::Grpo,
            "dr_grpo" => Self::DrGrpo,
            "grpo_passk" => Self::GrpoPassK,
            "rloo" | "rloo_vectorized" => Self::Rloo,
            "reinforce_plus_plus" | "reinforce" => Self::ReinforcePlusPlus,
            "reinforce_plus_plus_baseline" | "reinforce_baseline" => {
                Self::ReinforcePlusPlusBaseline
            }
            "remax" => Self::Remax,
            "opo" => Self::Opo,
            "gpg" => Self::Gpg,
            "optimal_token_baseline" => Self::OptimalTokenBaseline,
            "tir_optimal_token_baseline" => Self::TirOptimalTokenBaseline,
            "gdpo" => Self::Gdpo,
            "sum_then_normalize" => Self::SumThenNormalize,
            "normalize_then_sum" => Self::NormalizeThenSum,
            _ => {
                return Err(UnknownName {
                    kind: "advantage estimator",
                    valid: ADV_NAMES,
                });
            }
        })
    }
}

/// The inputs an estimator may read; each estimator says which it needs and reports
/// [`Error::MissingInput`](crate::Error::MissingInput) for a missing one.
///
/// # Shapes
/// `token_rewards`, `values`, `old_logp`, `sum_pi_squared`, `rollout_is_weights`: `(B, T)` like
/// `mask`; `reward_baselines`: `(B)`; `components`: `(B, K)`; `component_weights`: `(K)`.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, Mask, advantage::AdvantageInputs};
/// let bits = [true, true, true, false];
/// let mask = Mask::new(&bits, 2)?;
/// let groups = GroupIndex::uniform(2, 2)?;
/// let rewards = [0.0f32, 1.0, 0.0, 0.0];
/// let inputs = AdvantageInputs::new(&rewards, mask).with_groups(&groups);
/// # let _ = inputs;
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AdvantageInputs<'a, F> {
    /// Per-token rewards (an outcome reward sits on the last valid token).
    pub token_rewards: &'a [F],
    /// The token mask.
    pub mask: Mask<'a>,
    /// Groups of rows (prompts).
    pub groups: Option<&'a GroupIndex<'a>>,
    /// Critic values (GAE).
    pub values: Option<&'a [F]>,
    /// Greedy-rollout rewards (ReMax).
    pub reward_baselines: Option<&'a [F]>,
    /// Log-probabilities of the sampling policy (OTB).
    pub old_logp: Option<&'a [F]>,
    /// `Σ_v π²` per token (OTB).
    pub sum_pi_squared: Option<&'a [F]>,
    /// Rollout importance weights (OTB).
    pub rollout_is_weights: Option<&'a [F]>,
    /// Reward components `(B, K)` (GDPO and the TRL aggregations).
    pub components: Option<&'a [F]>,
    /// Weights of the components `(K)`.
    pub component_weights: Option<&'a [F]>,
}

impl<'a, F: Real> AdvantageInputs<'a, F> {
    /// Token rewards and mask; everything else absent.
    pub fn new(token_rewards: &'a [F], mask: Mask<'a>) -> Self {
        Self {
            token_rewards,
            mask,
            groups: None,
            values: None,
            reward_baselines: None,
            old_logp: None,
            sum_pi_squared: None,
            rollout_is_weights: None,
            components: None,
            component_weights: None,
        }
    }

    /// Adds the groups.
    pub fn with_groups(self, groups: &'a GroupIndex<'a>) -> Self {
        Self {
            groups: Some(groups),
            ..self
        }
    }

    /// Adds critic values.
    pub fn with_values(self, values: &'a [F]) -> Self {
        Self {
            values: Some(values),
            ..self
        }
    }

    /// Adds greedy-rollout baselines.
    pub fn with_reward_baselines(self, baselines: &'a [F]) -> Self {
        Self {
            reward_baselines: Some(baselines),
            ..self
        }
    }

    /// Adds the OTB inputs.
    pub fn with_token_stats(
        self,
        old_logp: &'a [F],
        sum_pi_squared: &'a [F],
        rollout_is_weights: Option<&'a [F]>,
    ) -> Self {
        Self {
            old_logp: Some(old_logp),
            sum_pi_squared: Some(sum_pi_squared),
            rollout_is_weights,
            ..self
        }
    }

    /// Adds reward components and their weights.
    pub fn with_components(self, components: &'a [F], weights: &'a [F]) -> Self {
        Self {
            components: Some(components),
            component_weights: Some(weights),
            ..self
        }
    }

    pub(crate) fn groups(&self) -> Result<&'a GroupIndex<'a>> {
        self.groups
            .ok_or(crate::Error::MissingInput { what: "groups" })
    }
}

/// Hyperparameters of the enum-dispatched estimators, with numerics from a [`Preset`].
///
/// # Examples
/// ```
/// use rewardkit_core::{Preset, advantage::AdvantageConfig};
/// let cfg = AdvantageConfig::<f32>::new(Preset::Verl).with_gamma_lambda(0.99, 0.95)?;
/// assert_eq!(cfg.gamma(), 0.99);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdvantageConfig<F> {
    preset: Preset,
    gae: Gae<F>,
    norm_by_std: bool,
    scale: Scale,
    eps: Option<F>,
    handle_zero_tail: bool,
    no_std_norm: bool,
}

impl<F: Real> Default for AdvantageConfig<F> {
    fn default() -> Self {
        Self::new(Preset::Rewardkit)
    }
}

impl<F: Real> AdvantageConfig<F> {
    /// Defaults for `preset`: `γ = λ = 1`, normalize by std, group scaling, the preset's epsilon,
    /// OTB `handle_zero_tail = true`.
    pub fn new(preset: Preset) -> Self {
        Self {
            preset,
            gae: Gae::default(),
            norm_by_std: true,
            scale: Scale::Group,
            eps: None,
            handle_zero_tail: true,
            no_std_norm: false,
        }
    }

    /// Sets `γ` and `λ`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`](crate::Error::InvalidParam) outside `[0, 1]`.
    pub fn with_gamma_lambda(self, gamma: F, lambda: F) -> Result<Self> {
        Ok(Self {
            gae: Gae::new(gamma, lambda)?,
            ..self
        })
    }

    /// verl's `norm_adv_by_std_in_grpo` (also TRL `scale_rewards="none"` when false).
    pub fn with_norm_by_std(self, norm_by_std: bool) -> Self {
        Self {
            norm_by_std,
            ..self
        }
    }

    /// TRL's `scale_rewards` (group, batch or none).
    pub fn with_scale(self, scale: Scale) -> Self {
        Self { scale, ..self }
    }

    /// Overrides the preset's epsilon.
    ///
    /// # Errors
    /// [`Error::InvalidParam`](crate::Error::InvalidParam) for a negative or non-finite value.
    pub fn with_eps(self, eps: F) -> Result<Self> {
        Ok(Self {
            eps: Some(crate::error::param_nonneg("eps", eps)?),
            ..self
        })
    }

    /// OTB's `handle_zero_tail`.
    pub fn with_handle_zero_tail(self, on: bool) -> Self {
        Self {
            handle_zero_tail: on,
            ..self
        }
    }

    /// OpenRLHF's `no_std_norm`: batch normalization subtracts the mean only.
    pub fn with_no_std_norm(self, on: bool) -> Self {
        Self {
            no_std_norm: on,
            ..self
        }
    }

    /// The preset.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// `γ`.
    pub fn gamma(&self) -> F {
        self.gae.gamma()
    }

    /// `λ`.
    pub fn lambda(&self) -> F {
        self.gae.lambda()
    }

    /// The GRPO parameters this config implies ([`Grpo::from_preset`], with the config's scaling
    /// and epsilon).
    pub fn grpo_params(&self) -> Grpo<F> {
        let scale = if self.norm_by_std {
            self.scale
        } else {
            Scale::None
        };
        let p = Grpo::from_preset(self.preset, scale);
        match self.eps {
            // `with_eps` validated the override, so `new` cannot fail.
            Some(eps) => Grpo::new(scale, eps, p.singleton()).unwrap_or(p),
            None => p,
        }
    }

    /// The batch whitening this config implies ([`Whiten::from_preset`], centring only with
    /// `no_std_norm`).
    pub fn whiten(&self) -> Whiten<F> {
        let w = Whiten::from_preset(self.preset);
        if self.no_std_norm { w.mean_only() } else { w }
    }

    pub(crate) fn gae_params(&self) -> Gae<F> {
        self.gae
    }

    pub(crate) fn handle_zero_tail(&self) -> bool {
        self.handle_zero_tail
    }

    pub(crate) fn eps_override(&self) -> Option<F> {
        self.eps
    }
}

impl AdvantageEstimator {
    /// Runs the estimator under `config`'s preset: per-token `advantages` and `returns`. The
    /// allocating convenience over [`AdvantagePlan`]: it resolves the plan, allocates its scratch and
    /// runs it (without `alloc`, build the plan and pass your own scratch).
    ///
    /// With [`Preset::Rewardkit`], masked positions of both outputs are 0 and the definitions are the
    /// plain functions of this module; the other presets reproduce their framework, masked positions
    /// included as far as they depend on valid inputs (see [`numerics`](crate::numerics)). Masked positions of
    /// the inputs are never read.
    ///
    /// # Shapes
    /// `advantages`, `returns`: `(B, T)`; inputs as [`AdvantageInputs`].
    ///
    /// # Errors
    /// [`Error::MissingInput`](crate::Error::MissingInput) when the estimator needs an input that is
    /// absent (or, without `alloc`, always); otherwise those of [`AdvantagePlan::run`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, advantage::{AdvantageConfig, AdvantageInputs}};
    ///
    /// let bits = [true, true, true, false, true, true, true, true];
    /// let mask = Mask::new(&bits, 4)?;
    /// let groups = GroupIndex::uniform(2, 2)?;
    /// // Outcome rewards on the last valid token.
    /// let rewards = [0.0f64, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    /// let (mut adv, mut ret) = ([0.0; 8], [0.0; 8]);
    /// let est: AdvantageEstimator = "grpo".parse()?;
    /// est.compute(&mut adv, &mut ret, &AdvantageInputs::new(&rewards, mask).with_groups(&groups),
    ///     &AdvantageConfig::default())?;
    /// assert!(adv[0] > 0.0 && adv[3] == 0.0 && adv[4] < 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compute<F: Real>(
        self,
        advantages: &mut [F],
        returns: &mut [F],
        inputs: &AdvantageInputs<'_, F>,
        config: &AdvantageConfig<F>,
    ) -> Result<()> {
        #[cfg(feature = "alloc")]
        {
            let plan = AdvantagePlan::new(self, config)?;
            let mut scratch = alloc::vec![0.0f64; plan.scratch_len(&PlanSizes::of(inputs))];
            plan.run(advantages, returns, inputs, &mut scratch)
        }
        #[cfg(not(feature = "alloc"))]
        {
            let _ = (advantages, returns, inputs, config);
            Err(crate::Error::MissingInput {
                what: "scratch memory: AdvantageEstimator::compute needs the `alloc` feature (use AdvantagePlan::run)",
            })
        }
    }
}
