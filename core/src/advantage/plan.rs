//! The advantage plan: an estimator and its configuration resolved once into the stages that run,
//! with caller-owned scratch and no allocation per call.
//!
//! [`AdvantagePlan::new`] validates an ([`AdvantageEstimator`], [`AdvantageConfig`]) pair and says,
//! in public fields, what runs:
//!
//! - **per-sequence estimators** ([`Stages::Sequence`]): (1) per-sequence scores
//!   ([`ScoreSource`]: the sum of each row's valid token rewards, or reward components); (2) a
//!   group stage ([`GroupStage`]): for the GRPO family the group moments, a rule giving each group's
//!   affine map `(x − a)·b` ([`AffineScale`] → [`super::AffineRule`]) and the map;
//!   pass@k, OPO, the decoupled multi-reward forms and TRL's NaN-aware block otherwise; (3) the
//!   broadcast of each row's value to its valid tokens (0 at masked positions), optionally followed
//!   by batch whitening over the valid tokens ([`SequenceStages::whiten`]); returns = advantages.
//!   The per-sequence result is available without the `(B, T)` broadcast
//!   ([`AdvantagePlan::run_per_sequence`]).
//! - **token recurrences** ([`Stages::Token`]): GAE, discounted returns, ReMax or the optimal token
//!   baseline over `(B, T)`, then whitening where the frameworks whiten, with what each preset
//!   writes at masked positions ([`Masked`]).
//!
//! A GPU backend or the browser demo runs the same plan stage by stage; the CPU runs it with
//! [`AdvantagePlan::run`] and a scratch of [`AdvantagePlan::scratch_len`] `f64` (scores, `(G)`
//! group tables for scattered ids, `(T)` rows for OTB: never `B·T`).
//! [`AdvantageEstimator::compute`] is the allocating convenience that builds both.
//!
//! # Examples
//! ```
//! use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, Preset};
//! use rewardkit_core::advantage::{
//!     AdvantageConfig, AdvantageInputs, AdvantagePlan, AffineScale, GroupStage, PlanSizes,
//!     ScoreSource, Stages,
//! };
//!
//! let plan = AdvantagePlan::<f32>::new(AdvantageEstimator::Rloo, &AdvantageConfig::new(Preset::Verl))?;
//! // The stages are plain data: sum each row's rewards, then `(x − mean)·n/(n − 1)` per group.
//! let Stages::Sequence(seq) = plan.stages else { unreachable!() };
//! assert_eq!(seq.scores, ScoreSource::TokenSums);
//! assert!(matches!(seq.group, GroupStage::Affine { scale: AffineScale::LeaveOneOut, .. }));
//!
//! // Two prompts, two samples each (rows shuffled), outcome rewards on the last valid token.
//! let groups = GroupIndex::new(&[0, 1, 1, 0], 2)?;
//! let bits = [true, true, true, false, true, true, true, false];
//! let mask = Mask::new(&bits, 2)?;
//! let rewards = [0.0, 1.0, 0.0, f32::NAN, 1.0, 0.0, 0.0, 7.0]; // masked positions are never read
//! let inputs = AdvantageInputs::new(&rewards, mask).with_groups(&groups);
//! let mut scratch = vec![0.0f64; plan.scratch_len(&PlanSizes::of(&inputs))];
//! let (mut adv, mut ret) = ([0.0f32; 8], [0.0f32; 8]);
//! plan.run(&mut adv, &mut ret, &inputs, &mut scratch)?;
//! // Group 0 = rows 0, 3 (scores 1, 0); group 1 = rows 1, 2 (scores 0, 1).
//! assert_eq!(adv, [1.0, 1.0, -1.0, 0.0, 1.0, 1.0, -1.0, 0.0]);
//!
//! // The per-sequence result, without the broadcast.
//! let mut per_seq = [0.0f32; 4];
//! plan.run_per_sequence(&mut per_seq, &inputs, &mut scratch)?;
//! assert_eq!(per_seq, [1.0, -1.0, 1.0, -1.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{Error, Result, ensure_finite};
use crate::layout::GroupIndex;
use crate::preset::Preset;
use crate::real::Real;
use crate::stats::{Whiten, whiten_affine};

use super::affine::{AffineRule, GroupScale, Singleton, affine_kernel};
use super::group::{Grpo, Scale, gpg_rule, opo_impl, passk_impl};
use super::multi::{batch_normalize, check_components, decoupled_sum, row_weighted_sum};
use super::otb::{Otb, OtbPositions, otb_run};
use super::returns::{
    apply_mask, broadcast_rows_in_place, check_tokens, gae_check, gae_rows, remax_rows,
    returns_rows, sequence_scores, whiten_in_place,
};
use super::trl::{TrlAggregation, trl_run};
use super::{AdvantageConfig, AdvantageEstimator, AdvantageInputs, Gae};

/// An estimator resolved, under a config's preset, into the stages it runs.
///
/// # Errors
/// [`AdvantagePlan::new`] fails only for parameters a config cannot hold (none today; kept
/// fallible so validation stays in one place). [`AdvantagePlan::run`] reports input errors: see
/// there.
///
/// # Examples
/// See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdvantagePlan<F> {
    /// The estimator.
    pub estimator: AdvantageEstimator,
    /// Whose numerics.
    pub preset: Preset,
    /// What runs, with every parameter resolved.
    pub stages: Stages<F>,
}

/// The stages of a plan.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Stages<F> {
    /// Per-sequence estimators: scores → group stage → broadcast (→ whitening).
    Sequence(SequenceStages<F>),
    /// Token recurrences over `(B, T)`.
    Token(TokenStages<F>),
}

/// The stages of a per-sequence estimator, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequenceStages<F> {
    /// Stage 1: the per-sequence scores.
    pub scores: ScoreSource,
    /// Stage 2: scores to one advantage per sequence.
    pub group: GroupStage<F>,
    /// Stage 3, after broadcasting each row's value to its valid tokens: batch whitening over the
    /// valid tokens (REINFORCE++-baseline, GDPO), or none.
    pub whiten: Option<Whiten<F>>,
}

/// Where per-sequence scores come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreSource {
    /// `sᵢ = Σ_t m_{i,t}·r_{i,t}` over valid tokens (an outcome reward sits on the last one),
    /// rounded to `F`.
    TokenSums,
    /// `sᵢ = Σ_k w_k·c_{i,k}` from the reward components (the token sums when there are none).
    WeightedComponents,
    /// The components `(B, K)` themselves, read by the group stage (the token sums as a single
    /// component of weight 1 when there are none).
    Components,
}

/// Per-sequence scores to one advantage per sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GroupStage<F> {
    /// Group moments → the rule's per-group `(a, b)` → `(x − a)·b` (GRPO, Dr. GRPO, RLOO, GPG,
    /// REINFORCE++-baseline, rewardkit's `sum_then_normalize`).
    Affine {
        /// The scale rule (resolved per batch where it depends on the batch).
        scale: AffineScale,
        /// What a group of one gets.
        singleton: Singleton,
    },
    /// Pass@k: the best row gets the gap to the second best (over `σ + ε` when `scale_by_std`).
    PassK {
        /// Divide by the group's standard deviation plus `eps`.
        scale_by_std: bool,
        /// `ε`.
        eps: F,
    },
    /// OPO: the length-weighted group mean as baseline (lengths = valid tokens per row).
    Opo {
        /// What a group of one gets.
        singleton: Singleton,
    },
    /// Each component through `per_component` (GRPO), then the weighted sum; then, when
    /// `batch_eps` is set, `(x − mean)/(std + ε)` over the batch (rewardkit's
    /// `normalize_then_sum`; GDPO leaves it unset and whitens tokens instead).
    Decoupled {
        /// The group rule of every component.
        per_component: Grpo<F>,
        /// The batch normalization's `ε`, if any.
        batch_eps: Option<F>,
    },
    /// TRL's GRPO block with its NaN semantics ([`super::trl_grpo_advantages`]).
    Trl {
        /// TRL's `scale_rewards`.
        scale: Scale,
        /// TRL's `multi_objective_aggregation`.
        aggregation: TrlAggregation,
    },
}

/// The scale `b` of an [`GroupStage::Affine`] stage, before per-batch quantities are known.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AffineScale {
    /// `1/(σ_g + ε)` (GRPO).
    GroupStd {
        /// `ε`.
        eps: f64,
    },
    /// `n/(n − 1)` (RLOO).
    LeaveOneOut,
    /// 1 (Dr. GRPO, REINFORCE++-baseline).
    One,
    /// `1/(σ_batch + ε)` with the batch's sample standard deviation (TRL `scale_rewards="batch"`).
    BatchStd {
        /// `ε`.
        eps: f64,
    },
    /// `α/f_norm`, `α = B/max(#{R ≠ 0}, 1)` (GPG), `α` rounded to `f32` when `alpha_f32` (verl).
    Gpg {
        /// `f_norm > 0`.
        f_norm: f64,
        /// Round `α` to `f32`.
        alpha_f32: bool,
    },
}

impl AffineScale {
    /// The group rule for this batch of scores (the batch statistics stage of `BatchStd` and
    /// `Gpg`).
    ///
    /// # Errors
    /// [`Error::NonFinite`] for a NaN/∞ score (`BatchStd`); [`Error::InvalidParam`] for a negative
    /// or non-finite `eps`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::advantage::{AffineScale, GroupScale, Singleton};
    /// let r = AffineScale::Gpg { f_norm: 1.0, alpha_f32: false }.rule(Singleton::Zero, &[1.0, 0.0, 0.0, 0.0f64])?;
    /// assert_eq!(r.scale, GroupScale::Constant(4.0)); // α = 4 rows / 1 non-zero reward
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn rule<X: Real>(self, singleton: Singleton, scores: &[X]) -> Result<AffineRule> {
        Ok(match self {
            Self::GroupStd { eps } => AffineRule {
                scale: GroupScale::Std { eps },
                singleton,
            },
            Self::LeaveOneOut => AffineRule {
                scale: GroupScale::LeaveOneOut,
                singleton,
            },
            Self::One => AffineRule {
                scale: GroupScale::Constant(1.0),
                singleton,
            },
            Self::BatchStd { eps } => Grpo::new(Scale::Batch, eps, singleton)?.rule(scores)?,
            Self::Gpg { f_norm, alpha_f32 } => gpg_rule(scores, f_norm, singleton, alpha_f32),
        })
    }
}

/// What a token recurrence writes at masked positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Masked {
    /// 0 in both outputs (rewardkit).
    Zero,
    /// What the framework's recurrence leaves there, as far as it depends on valid inputs only: the
    /// carried (then whitened) advantage of verl's GAE, the carried reward-to-go of verl's ReMax
    /// and OTB returns. Returns that the framework computes from a masked input (verl's GAE
    /// `A + V`) are 0.
    Carried,
}

/// The stages of a token-level estimator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TokenStages<F> {
    /// GAE with a critic ([`super::gae`]), then whitening over the valid tokens.
    Gae {
        /// `γ`, `λ`.
        params: Gae<F>,
        /// Masked positions.
        masked: Masked,
        /// The whitening of the advantages.
        whiten: Whiten<F>,
    },
    /// Discounted returns, then whitening (REINFORCE++).
    Returns {
        /// `γ`.
        gamma: F,
        /// The whitening of the advantages.
        whiten: Whiten<F>,
    },
    /// ReMax: reward-to-go minus the greedy baseline.
    Remax {
        /// Masked positions.
        masked: Masked,
    },
    /// The optimal token baseline.
    Otb {
        /// Its parameters.
        params: Otb<F>,
        /// Masked positions of the returns.
        masked: Masked,
    },
}

/// The sizes that determine a plan's scratch: what [`AdvantagePlan::scratch_len`] reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanSizes {
    /// `B`.
    pub batch: usize,
    /// `T`.
    pub seq_len: usize,
    /// `G` (0 without groups).
    pub groups: usize,
    /// Whether the group index is scattered (not contiguous).
    pub scattered: bool,
}

impl PlanSizes {
    /// The sizes of `inputs`.
    pub fn of<F: Real>(inputs: &AdvantageInputs<'_, F>) -> Self {
        let shape = inputs.mask.shape();
        Self {
            batch: shape.batch(),
            seq_len: shape.seq_len(),
            groups: inputs.groups.map_or(0, GroupIndex::n_groups),
            scattered: inputs.groups.is_some_and(|g| !g.is_contiguous()),
        }
    }

    fn table(&self) -> usize {
        if self.scattered { 3 * self.groups } else { 0 }
    }
}

impl<F: Real> AdvantagePlan<F> {
    /// Resolves `estimator` under `config` into its stages.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a parameter out of range (the config's setters already validate,
    /// so this does not happen for configs built through them).
    pub fn new(estimator: AdvantageEstimator, config: &AdvantageConfig<F>) -> Result<Self> {
        use AdvantageEstimator as E;
        let preset = config.preset();
        let grpo = config.grpo_params();
        let whiten = config.whiten();
        let singleton = grpo.singleton();
        let eps = grpo.eps().as_f64();
        let grpo_scale = match grpo.scale() {
            Scale::Group => AffineScale::GroupStd { eps },
            Scale::None => AffineScale::One,
            Scale::Batch => AffineScale::BatchStd { eps },
        };
        let seq = |scores, group, whiten| {
            Stages::Sequence(SequenceStages {
                scores,
                group,
                whiten,
            })
        };
        let affine = |scale| GroupStage::Affine { scale, singleton };
        let masked = |carried: bool| {
            if carried {
                Masked::Carried
            } else {
                Masked::Zero
            }
        };
        let stages = match estimator {
            E::Grpo | E::DrGrpo | E::SumThenNormalize | E::NormalizeThenSum
                if preset == Preset::Trl =>
            {
                let scale = if estimator == E::DrGrpo {
                    Scale::None
                } else {
                    grpo.scale()
                };
                let aggregation = if estimator == E::NormalizeThenSum {
                    TrlAggregation::NormalizeThenSum
                } else {
                    TrlAggregation::SumThenNormalize
                };
                let group = GroupStage::Trl { scale, aggregation };
                seq(ScoreSource::Components, group, None)
            }
            E::Grpo => seq(ScoreSource::TokenSums, affine(grpo_scale), None),
            E::DrGrpo => seq(ScoreSource::TokenSums, affine(AffineScale::One), None),
            E::GrpoPassK => {
                let group = GroupStage::PassK {
                    scale_by_std: grpo.scale() != Scale::None,
                    eps: grpo.eps(),
                };
                seq(ScoreSource::TokenSums, group, None)
            }
            E::Rloo => seq(
                ScoreSource::TokenSums,
                affine(AffineScale::LeaveOneOut),
                None,
            ),
            E::Opo => seq(ScoreSource::TokenSums, GroupStage::Opo { singleton }, None),
            E::Gpg => {
                let scale = AffineScale::Gpg {
                    f_norm: 1.0,
                    alpha_f32: preset == Preset::Verl,
                };
                seq(ScoreSource::TokenSums, affine(scale), None)
            }
            E::SumThenNormalize => seq(ScoreSource::WeightedComponents, affine(grpo_scale), None),
            E::NormalizeThenSum => {
                let eps = config.eps_override().unwrap_or(F::lit(1e-4));
                let group = GroupStage::Decoupled {
                    per_component: Grpo::new(Scale::Group, eps, Singleton::Zero)?,
                    batch_eps: Some(eps),
                };
                seq(ScoreSource::Components, group, None)
            }
            E::Gdpo => {
                let group = GroupStage::Decoupled {
                    per_component: grpo,
                    batch_eps: None,
                };
                seq(ScoreSource::Components, group, Some(whiten))
            }
            E::ReinforcePlusPlusBaseline => seq(
                ScoreSource::TokenSums,
                affine(AffineScale::One),
                Some(whiten),
            ),
            E::Gae => Stages::Token(TokenStages::Gae {
                params: config.gae_params(),
                masked: masked(preset == Preset::Verl),
                whiten,
            }),
            E::ReinforcePlusPlus => Stages::Token(TokenStages::Returns {
                gamma: config.gamma(),
                whiten,
            }),
            E::Remax => Stages::Token(TokenStages::Remax {
                masked: masked(preset == Preset::Verl),
            }),
            E::OptimalTokenBaseline | E::TirOptimalTokenBaseline => {
                let positions = if estimator == E::TirOptimalTokenBaseline {
                    OtbPositions::Compacted
                } else {
                    OtbPositions::Absolute
                };
                Stages::Token(TokenStages::Otb {
                    params: Otb::new(config.handle_zero_tail(), F::lit(1e-8), positions)?,
                    masked: masked(preset != Preset::Rewardkit),
                })
            }
        };
        Ok(Self {
            estimator,
            preset,
            stages,
        })
    }

    /// Whether the plan has a per-sequence result ([`AdvantagePlan::run_per_sequence`]).
    pub fn is_per_sequence(&self) -> bool {
        matches!(self.stages, Stages::Sequence(_))
    }

    /// The number of `f64` of scratch [`AdvantagePlan::run`] and
    /// [`AdvantagePlan::run_per_sequence`] need: `B` for the scores, plus `3·G` for scattered
    /// group ids (affine and decoupled stages), `B` (OPO lengths), `2B` (decoupled and TRL
    /// stages); `4T` for OTB; 0 for the other token recurrences.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{AdvantageEstimator, advantage::{AdvantageConfig, AdvantagePlan, PlanSizes}};
    /// let plan = AdvantagePlan::<f32>::new(AdvantageEstimator::Grpo, &AdvantageConfig::default())?;
    /// let sizes = PlanSizes { batch: 1024, seq_len: 512, groups: 64, scattered: true };
    /// assert_eq!(plan.scratch_len(&sizes), 1024 + 3 * 64);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn scratch_len(&self, sizes: &PlanSizes) -> usize {
        let b = sizes.batch;
        match self.stages {
            Stages::Sequence(s) => {
                b + match s.group {
                    GroupStage::Affine { .. } => sizes.table(),
                    GroupStage::PassK { .. } => 0,
                    GroupStage::Opo { .. } => b,
                    GroupStage::Decoupled { .. } => 2 * b + sizes.table(),
                    GroupStage::Trl { .. } => 2 * b,
                }
            }
            Stages::Token(TokenStages::Otb { .. }) => 4 * sizes.seq_len,
            Stages::Token(_) => 0,
        }
    }

    /// Runs the plan: per-token `advantages` and `returns`.
    ///
    /// Masked positions of the inputs are never read (they may hold anything, NaN included). With
    /// [`Preset::Rewardkit`] masked positions of both outputs are 0; the other presets write what
    /// their framework writes there, as far as it depends on valid inputs ([`Masked`]).
    ///
    /// # Shapes
    /// `advantages`, `returns`: `(B, T)`; inputs as [`AdvantageInputs`]; `scratch`: at least
    /// [`AdvantagePlan::scratch_len`] `f64` (its contents on return are unspecified).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for wrong lengths (`scratch` too short included);
    /// [`Error::MissingInput`] for an input the estimator needs; [`Error::NonFinite`] for a NaN/∞
    /// at a valid position (or in a per-row input); [`Error::Overflow`] for a result beyond the
    /// float range; [`Error::TooFewValid`] when whitening an all-masked batch; the errors of the
    /// stage functions ([`Error::GroupTooSmall`], ...).
    pub fn run(
        &self,
        advantages: &mut [F],
        returns: &mut [F],
        inputs: &AdvantageInputs<'_, F>,
        scratch: &mut [f64],
    ) -> Result<()> {
        let mask = inputs.mask;
        let shape = mask.shape();
        shape.check("advantages", advantages.len())?;
        shape.check("returns", returns.len())?;
        shape.check("token_rewards", inputs.token_rewards.len())?;
        // Each stage validates what it reads (GAE and the sequence scores inside their pass).
        let scratch = self.scratch(scratch, inputs)?;
        match self.stages {
            Stages::Sequence(s) => {
                let b = shape.batch();
                let head = advantages.get_mut(..b).unwrap_or(&mut []);
                self.sequence(head, inputs, &s, scratch)?;
                broadcast_rows_in_place(advantages, mask, s.whiten.as_ref())?;
                returns.copy_from_slice(advantages);
            }
            Stages::Token(t) => self.token(advantages, returns, inputs, &t, scratch)?,
        }
        crate::error::ensure_output("advantages", advantages)?;
        crate::error::ensure_output("returns", returns)
    }

    /// Runs a per-sequence plan up to its `(B)` result: `out[i]` is the value every valid token of
    /// row `i` receives from [`AdvantagePlan::run`] (after the whitening stage, if any).
    ///
    /// # Shapes
    /// `out`: `(B)`.
    ///
    /// # Errors
    /// As [`AdvantagePlan::run`]; [`Error::InvalidParam`] (`plan`) for a token-level estimator.
    pub fn run_per_sequence(
        &self,
        out: &mut [F],
        inputs: &AdvantageInputs<'_, F>,
        scratch: &mut [f64],
    ) -> Result<()> {
        let Stages::Sequence(s) = self.stages else {
            return Err(Error::InvalidParam {
                name: "plan",
                value: f64::NAN,
                expected: "a per-sequence estimator (token recurrences have no (B) result)",
            });
        };
        let mask = inputs.mask;
        mask.shape().check_batch("out", out.len())?;
        mask.shape()
            .check("token_rewards", inputs.token_rewards.len())?;
        let scratch = self.scratch(scratch, inputs)?;
        self.sequence(out, inputs, &s, scratch)?;
        if let Some(w) = &s.whiten {
            let lens = mask.rows().map(crate::layout::count_true);
            let (mean, scale) = crate::stats::whiten_affine_rows(out, lens, w)?;
            let add = if w.shift_mean() { 0.0 } else { mean };
            for o in out.iter_mut() {
                *o = F::lit((o.as_f64() - mean) * scale + add);
            }
        }
        crate::error::ensure_output("advantages", out)
    }

    /// Checks the scratch length and returns the part this call uses.
    fn scratch<'s>(
        &self,
        scratch: &'s mut [f64],
        inputs: &AdvantageInputs<'_, F>,
    ) -> Result<&'s mut [f64]> {
        let need = self.scratch_len(&PlanSizes::of(inputs));
        let got = scratch.len();
        scratch.get_mut(..need).ok_or(Error::LengthMismatch {
            what: "scratch",
            expected: need,
            got,
        })
    }

    /// Stages 1 and 2 of a per-sequence plan, into `out` `(B)`.
    fn sequence(
        &self,
        out: &mut [F],
        inputs: &AdvantageInputs<'_, F>,
        s: &SequenceStages<F>,
        scratch: &mut [f64],
    ) -> Result<()> {
        let mask = inputs.mask;
        let b = mask.shape().batch();
        let groups = inputs.groups()?;
        groups.check_rows("mask rows", b)?;
        let (scores, rest) = scratch.split_at_mut(b.min(scratch.len()));
        // Stage 1: scores.
        match (s.scores, inputs.components, inputs.component_weights) {
            (ScoreSource::WeightedComponents, Some(c), Some(w)) => {
                let k = check_components(c, w, b)?;
                let mut ok = true;
                for (o, row) in scores.iter_mut().zip(c.chunks_exact(k)) {
                    let v = F::lit(row_weighted_sum(row, w));
                    ok &= v.is_finite();
                    *o = v.as_f64();
                }
                if !ok {
                    return Err(Error::Overflow {
                        what: "weighted scores",
                    });
                }
            }
            _ => sequence_scores(scores, inputs.token_rewards, mask)?,
        }
        let scores: &[f64] = scores;
        let one = [F::ONE];
        let components = || match (inputs.components, inputs.component_weights) {
            (Some(c), Some(w)) => Components::Given(c, w),
            _ => Components::Scores(scores, &one),
        };
        // Stage 2: the group stage.
        match s.group {
            GroupStage::Affine { scale, singleton } => {
                let rule = scale.rule(singleton, scores)?;
                affine_kernel(out, scores, "scores", groups, &rule, rest)
            }
            GroupStage::PassK { scale_by_std, eps } => {
                passk_impl(out, scores, groups, scale_by_std, eps.as_f64())
            }
            GroupStage::Opo { singleton } => {
                let lens = rest.get_mut(..b).unwrap_or(&mut []);
                for (l, row) in lens.iter_mut().zip(mask.rows()) {
                    *l = crate::real::usize_f64(crate::layout::count_true(row));
                }
                opo_impl(out, scores, lens, groups, singleton)
            }
            GroupStage::Decoupled {
                per_component,
                batch_eps,
            } => {
                let (acc, rest) = rest.split_at_mut(b.min(rest.len()));
                let (col, table) = rest.split_at_mut(b.min(rest.len()));
                match components() {
                    Components::Given(c, w) => {
                        decoupled_sum(acc, col, out, c, w, groups, &per_component, table)?;
                    }
                    Components::Scores(c, w) => {
                        decoupled_sum(acc, col, out, c, w, groups, &per_component, table)?;
                    }
                }
                for (o, a) in out.iter_mut().zip(acc.iter()) {
                    *o = F::lit(*a);
                }
                match batch_eps {
                    Some(eps) => batch_normalize(out, eps.as_f64()),
                    None => crate::error::ensure_output("advantages", out),
                }
            }
            GroupStage::Trl { scale, aggregation } => {
                let (col, acc) = rest.split_at_mut(b.min(rest.len()));
                match components() {
                    Components::Given(c, w) => {
                        trl_run(out, c, w, groups, scale, aggregation, col, acc)
                    }
                    Components::Scores(c, w) => {
                        trl_run(out, c, w, groups, scale, aggregation, col, acc)
                    }
                }
            }
        }
    }

    /// A token-level plan.
    fn token(
        &self,
        advantages: &mut [F],
        returns: &mut [F],
        inputs: &AdvantageInputs<'_, F>,
        t: &TokenStages<F>,
        scratch: &mut [f64],
    ) -> Result<()> {
        let mask = inputs.mask;
        let shape = mask.shape();
        let rewards = inputs.token_rewards;
        match *t {
            TokenStages::Gae {
                params,
                masked,
                whiten,
            } => {
                let values = inputs
                    .values
                    .ok_or(Error::MissingInput { what: "values" })?;
                shape.check("values", values.len())?;
                let (g, l) = (params.gamma().as_f64(), params.lambda().as_f64());
                let (bits, tl) = (mask.bits(), shape.seq_len());
                // Validation is fused into the recurrence (one pass over the data).
                match masked {
                    Masked::Zero => {
                        let ok = gae_rows::<F, false>(
                            advantages,
                            returns,
                            rewards,
                            values,
                            bits,
                            tl,
                            g,
                            g * l,
                        );
                        gae_check(ok, rewards, values, mask)?;
                        whiten_in_place(advantages, mask, &whiten)
                    }
                    Masked::Carried => {
                        let ok = gae_rows::<F, true>(
                            advantages,
                            returns,
                            rewards,
                            values,
                            bits,
                            tl,
                            g,
                            g * l,
                        );
                        gae_check(ok, rewards, values, mask)?;
                        // verl whitens every position (masked ones hold the carried value) and
                        // does not re-mask.
                        let (mean, scale) = whiten_affine(advantages, bits, &whiten)?;
                        let add = if whiten.shift_mean() { 0.0 } else { mean };
                        for a in advantages.iter_mut() {
                            *a = F::lit((a.as_f64() - mean) * scale + add);
                        }
                        Ok(())
                    }
                }
            }
            TokenStages::Returns { gamma, whiten } => {
                check_tokens("token_rewards", rewards, mask)?;
                let gamma = super::returns::gamma_param("gamma", gamma)?.as_f64();
                returns_rows::<F, false>(returns, rewards, mask, gamma);
                advantages.copy_from_slice(returns);
                whiten_in_place(advantages, mask, &whiten)
            }
            TokenStages::Remax { masked } => {
                let base = inputs.reward_baselines.ok_or(Error::MissingInput {
                    what: "reward_baselines",
                })?;
                shape.check_batch("reward_baselines", base.len())?;
                ensure_finite("reward_baselines", base)?;
                check_tokens("token_rewards", rewards, mask)?;
                match masked {
                    Masked::Zero => {
                        remax_rows::<F, false>(advantages, returns, rewards, base, mask)
                    }
                    Masked::Carried => {
                        remax_rows::<F, true>(advantages, returns, rewards, base, mask);
                    }
                }
                Ok(())
            }
            TokenStages::Otb { params, masked } => {
                let old = inputs
                    .old_logp
                    .ok_or(Error::MissingInput { what: "old_logp" })?;
                let spp = inputs.sum_pi_squared.ok_or(Error::MissingInput {
                    what: "sum_pi_squared",
                })?;
                let groups = inputs.groups()?;
                otb_run(
                    advantages,
                    returns,
                    rewards,
                    old,
                    spp,
                    inputs.rollout_is_weights,
                    mask,
                    groups,
                    &params,
                    scratch,
                )?;
                if masked == Masked::Zero {
                    apply_mask(returns, mask.bits());
                }
                Ok(())
            }
        }
    }
}

/// The components a decoupled or TRL stage reads: the caller's, or the scores as one component.
enum Components<'a, F> {
    Given(&'a [F], &'a [F]),
    Scores(&'a [f64], &'a [F]),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Mask;

    #[test]
    fn scratch_too_short_is_an_error() {
        let groups = GroupIndex::new(&[1, 0, 1, 0], 2).unwrap();
        let bits = [true; 4];
        let mask = Mask::new(&bits, 1).unwrap();
        let r = [1.0f64, 0.0, 0.0, 1.0];
        let inputs = AdvantageInputs::new(&r, mask).with_groups(&groups);
        let plan =
            AdvantagePlan::new(AdvantageEstimator::Grpo, &AdvantageConfig::default()).unwrap();
        let need = plan.scratch_len(&PlanSizes::of(&inputs));
        assert_eq!(need, 4 + 3 * 2);
        let (mut a, mut ret) = ([0.0; 4], [0.0; 4]);
        assert_eq!(
            plan.run(&mut a, &mut ret, &inputs, &mut [0.0; 9]),
            Err(Error::LengthMismatch {
                what: "scratch",
                expected: 10,
                got: 9
            })
        );
        plan.run(&mut a, &mut ret, &inputs, &mut [0.0; 10]).unwrap();
        let gae = AdvantagePlan::new(AdvantageEstimator::Gae, &AdvantageConfig::default()).unwrap();
        assert!(matches!(
            gae.run_per_sequence(&mut a, &inputs, &mut []),
            Err(Error::InvalidParam { name: "plan", .. })
        ));
    }
}
