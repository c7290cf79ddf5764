//! The seam to `rewardkit-core`: every reward, advantage, log-probability, loss and gradient the
//! trainer uses is computed here by core functions, in the order of the core's blueprint of a step
//! (`core/examples/grpo_step.rs`), so that a change of the core API touches this file only. The
//! trainer owns the model and its backward pass; the core never sees a model (`design.md` §3).
//!
//! ```text
//! outcomes ──reward::Pipeline──▶ token rewards (B, T)   correctness + format + length shaping
//!          ──GroupIndex──▶ groups                       prompt of each row
//!          ──AdvantagePlan──▶ advantages (B)            per sequence (or (B, T) for token estimators)
//! logits   ──logits::logprobs_forward──▶ log π          + row statistics, reused by the backward
//!          ──loss::policy_loss──▶ parts, ∂/∂ log π       PPO clip (+ KL), by micro-batch
//!          ──Aggregation + LossParts::from_mask──▶ loss, scaled ∂/∂ log π   whole-batch normalizer
//!          ──logits::logprobs_backward (+=)──▶ ∂loss/∂logits
//! ```
//!
//! The row-wise core calls (log-probabilities, their backward, entropies) run over the blocks of
//! rows of the kernels' threads ([`crate::ops::threads`]): each block is one core call on its rows,
//! so the results are those of one call over all rows.

use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, AdvantagePlan, PlanSizes, sequence_sums,
};
pub use rewardkit_core::logits::RowStats;
use rewardkit_core::logits::{entropy_forward, logprobs_backward, logprobs_forward};
use rewardkit_core::loss::{
    Aggregation, KlTerm, PolicyInputs, PolicyLoss, PolicyLossKind, policy_diagnostics, policy_loss,
};
pub use rewardkit_core::loss::{LossParts, PolicyDiagnostics};
use rewardkit_core::reward::{
    Batch, Correctness, CosineLength, Difficulty, Hapo, HapoHistory, HapoShape, HapoTerm,
    HistoryMode, Laser, LaserD, LaserDState, LaserDTerm, LaserMode, Pipeline, RewardTerm,
    TargetLen, Thresholds, Weighted, WellFormed,
};
use rewardkit_core::{AdvantageEstimator, Error, GroupIndex, KlPenalty, Mask, Preset};
use serde::{Deserialize, Serialize};

use crate::config::{Config, GrpoConfig};
use crate::ops::par::{blocks, first_err, run, split, split_mut};

/// Result alias.
pub type Result<T = ()> = core::result::Result<T, Error>;

/// The completion mask `(B, T)` from row-major bits (core layout type).
///
/// # Errors
/// As [`Mask::new`].
pub fn mask(bits: &[bool], t: usize) -> Result<Mask<'_>> {
    Mask::new(bits, t)
}

/// The group (prompt) of each row, dense ids below `n` (core layout type).
///
/// # Errors
/// As [`GroupIndex::new`].
pub fn groups(ids: &[u32], n: usize) -> Result<GroupIndex<'_>> {
    GroupIndex::new(ids, n)
}

/// Token log-probabilities `log π(ids[n] | logits[n])` from logits `(N, V)` (core), with each
/// row's statistics (max, log-sum-exp) for the backward; one core call per block of rows.
///
/// # Errors
/// As [`rewardkit_core::logits::logprobs_forward`] (on an error the whole call is repeated on one
/// thread, so the error and its indices are the core's for all rows).
pub fn token_logprobs(
    out: &mut [f32],
    stats: &mut [RowStats],
    logits: &[f32],
    ids: &[u32],
    vocab: usize,
) -> Result {
    let n = ids.len();
    if vocab == 0 || out.len() != n || stats.len() != n || logits.len() != n * vocab {
        return logprobs_forward(out, stats, logits, ids, vocab);
    }
    let bl = blocks(n, 16 * vocab);
    let items: Vec<_> = split_mut(out, &bl, 1)
        .into_iter()
        .zip(split_mut(stats, &bl, 1))
        .zip(
            split(logits, &bl, vocab)
                .into_iter()
                .zip(split(ids, &bl, 1)),
        )
        .collect();
    let ok = first_err(run(items, |((o, s), (l, i))| {
        logprobs_forward(o, s, l, i, vocab)
    }));
    match ok {
        Ok(()) => Ok(()),
        Err(_) => logprobs_forward(out, stats, logits, ids, vocab),
    }
}

/// `∂L/∂logits` from `∂L/∂log π` (core): **accumulates** into `dlogits` (`+=`, so every term of a
/// loss can share one buffer); rows with a zero upstream gradient are not touched. `stats` come
/// from [`token_logprobs`] on the same logits. One core call per block of rows.
///
/// # Errors
/// As [`rewardkit_core::logits::logprobs_backward`] (errors are reported for all rows, as in
/// [`token_logprobs`]).
pub fn token_logprobs_backward(
    dlogits: &mut [f32],
    dlogp: &[f32],
    logits: &[f32],
    stats: &[RowStats],
    ids: &[u32],
    vocab: usize,
) -> Result {
    let n = ids.len();
    if vocab == 0
        || dlogp.len() != n
        || stats.len() != n
        || logits.len() != n * vocab
        || dlogits.len() != n * vocab
    {
        return logprobs_backward(dlogits, dlogp, logits, stats, ids, vocab);
    }
    let bl = blocks(n, 16 * vocab);
    let items: Vec<_> = split_mut(dlogits, &bl, vocab)
        .into_iter()
        .zip(
            split(dlogp, &bl, 1)
                .into_iter()
                .zip(split(logits, &bl, vocab)),
        )
        .zip(split(stats, &bl, 1).into_iter().zip(split(ids, &bl, 1)))
        .collect();
    first_err(run(items, |((d, (g, l)), (s, i))| {
        logprobs_backward(d, g, l, s, i, vocab)
    }))
}

/// Token entropies `H(softmax(logits[n]))` over `(N, V)` logits (core), one call per block.
///
/// # Errors
/// As [`rewardkit_core::logits::entropy_forward`].
pub fn entropies(out: &mut [f32], stats: &mut [RowStats], logits: &[f32], vocab: usize) -> Result {
    let n = out.len();
    if vocab == 0 || stats.len() != n || logits.len() != n * vocab {
        return entropy_forward(out, stats, logits, vocab);
    }
    let bl = blocks(n, 16 * vocab);
    let items: Vec<_> = split_mut(out, &bl, 1)
        .into_iter()
        .zip(split_mut(stats, &bl, 1))
        .zip(split(logits, &bl, vocab))
        .collect();
    let ok = first_err(run(items, |((o, s), l)| entropy_forward(o, s, l, vocab)));
    match ok {
        Ok(()) => Ok(()),
        Err(_) => entropy_forward(out, stats, logits, vocab),
    }
}

/// Per-prompt reward state the shapings keep across steps (serialized into checkpoints).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShapingState {
    /// HAPO's history per prompt key: the shortest correct length seen (the paper's rule,
    /// [`HistoryMode::Min`]).
    pub hapo: HapoHistory,
    /// LASER-D's adaptive target lengths (from the monitor set).
    pub laser_d: Option<LaserDState>,
}

impl Default for ShapingState {
    fn default() -> Self {
        Self {
            hapo: HapoHistory::new(HistoryMode::Min),
            laser_d: None,
        }
    }
}

/// What one sampled batch looks like to the reward pipeline.
#[derive(Clone, Copy, Debug)]
pub struct RewardInputs<'a> {
    /// Verifier: answer correct, per completion `(B)`.
    pub correct: &'a [bool],
    /// Verifier: completion well formed `(B)`.
    pub well_formed: &'a [bool],
    /// Completion lengths in tokens (`≥ 1`, `$` included) `(B)`.
    pub lengths: &'a [u32],
    /// Prompt keys `(B)`.
    pub keys: &'a [u64],
    /// Group (prompt) of each row.
    pub groups: &'a GroupIndex<'a>,
    /// Completion mask `(B, T)`.
    pub mask: Mask<'a>,
}

/// Rewards of one batch: per token `(B, T)` (the sequence reward on each row's last token) and the
/// unweighted terms `(K, B)` with their names.
#[derive(Clone, Debug)]
pub struct Rewards {
    /// Per-token rewards `(B, T)`.
    pub tokens: Vec<f32>,
    /// Per-sequence total `(B)`.
    pub total: Vec<f32>,
    /// Unweighted term values `(K, B)`.
    pub parts: Vec<f32>,
    /// Term names (`K`).
    pub names: Vec<&'static str>,
    /// HAPO only: the fraction of rows whose prompt had a history before this batch (the rows
    /// whose length term can be non-zero).
    pub hapo_coverage: Option<f64>,
}

/// The reward terms of a run, built once from its config (each paper's defaults, lengths scaled to
/// the completion budget: see `[shaping]` in `trainer/config/default.toml`).
#[derive(Clone, Debug)]
pub struct RewardTerms {
    shaping: String,
    format_weight: f32,
    correctness: Correctness<f32>,
    format: WellFormed<f32>,
    hapo: Hapo<f32>,
    laser: Laser<f32>,
    laser_d: LaserD<f32>,
    laser_d_default: u32,
    cosine: CosineLength<f32>,
}

impl RewardTerms {
    /// The terms for `cfg`.
    ///
    /// # Errors
    /// Core errors for parameters out of range.
    pub fn new(cfg: &Config) -> Result<Self> {
        let sh = &cfg.shaping;
        let g = u32::try_from(cfg.grpo.group).unwrap_or(u32::MAX);
        let [lo, hi, step] = sh.laser_d_grid;
        let [r0c, rlc, r0w, rlw, rex] = sh.cosine_rewards;
        Ok(Self {
            shaping: cfg.grpo.shaping.clone(),
            format_weight: cfg.grpo.format_weight,
            // Correctness scores the answer alone; the format is its own term.
            correctness: Correctness::new(1.0, 0.0, 0.0)?.with_format_check(false),
            format: WellFormed::new(1.0, 0.0)?,
            hapo: Hapo::new(sh.hapo_weight, HapoShape::Cosine)?.with_floor(sh.hapo_floor)?,
            laser: Laser::new(
                sh.laser_alpha,
                cfg.budget_tokens(sh.laser_target),
                LaserMode::Reward,
            )?,
            laser_d: LaserD::new(sh.laser_alpha, LaserMode::Reward)?
                .with_thresholds(Thresholds::linear(
                    cfg.budget_tokens(lo),
                    cfg.budget_tokens(hi),
                    cfg.budget_tokens(step),
                )?)?
                .with_group_size(g)?,
            laser_d_default: cfg.budget_tokens(1.0),
            // Cosine replaces correctness (Yeo et al.); margin 16 of 16,384 tokens rounds to 0.
            cosine: CosineLength::new(
                cfg.budget_tokens(sh.cosine_max),
                (r0c, rlc),
                (r0w, rlw),
                rex,
            )?
            .with_margin(0),
        })
    }

    /// LASER-D's parameters (for the monitor update).
    pub fn laser_d(&self) -> &LaserD<f32> {
        &self.laser_d
    }

    /// LASER-D's state before any monitor update: every band at the whole budget.
    pub fn laser_d_initial(&self) -> LaserDState {
        LaserDState::new(self.laser_d_default)
    }

    /// The pipeline's rewards for a batch (core): `1·correctness + w_f·format [+ shaping]`, or
    /// `cosine + w_f·format` (the cosine reward replaces correctness). Updates HAPO's history with
    /// this batch afterwards.
    ///
    /// # Errors
    /// Core errors (shapes, missing inputs).
    pub fn rewards(&self, state: &mut ShapingState, inp: &RewardInputs<'_>) -> Result<Rewards> {
        let b = inp.correct.len();
        let laser_d_state = state
            .laser_d
            .unwrap_or_else(|| LaserDState::new(self.laser_d_default));
        let hapo_term = HapoTerm {
            params: self.hapo,
            history: &state.hapo,
        };
        let laser_d_term = LaserDTerm {
            params: self.laser_d,
            state: &laser_d_state,
            explore: false,
        };
        let shaping: Option<&dyn RewardTerm<f32>> = match self.shaping.as_str() {
            "hapo" => Some(&hapo_term),
            "laser" => Some(&self.laser),
            "laser-d" => Some(&laser_d_term),
            _ => None,
        };
        let answer: &dyn RewardTerm<f32> = if self.shaping == "cosine" {
            &self.cosine
        } else {
            &self.correctness
        };
        let mut terms = vec![
            Weighted::sequence(answer, 1.0),
            Weighted::sequence(&self.format, self.format_weight),
        ];
        if let Some(t) = shaping {
            terms.push(Weighted::sequence(t, 1.0));
        }
        let pipeline = Pipeline::new(&terms)?;
        let batch = Batch::new(b)?
            .with_correct(inp.correct)?
            .with_well_formed(inp.well_formed)?
            .with_lengths(inp.lengths)?
            .with_keys(inp.keys)?
            .with_groups(inp.groups)?
            .with_mask(inp.mask)?;
        let shape = inp.mask.shape();
        let mut tokens = vec![0.0f32; shape.len()];
        let mut parts = vec![0.0f32; terms.len() * b];
        pipeline.eval_tokens(&mut tokens, &mut parts, &mut [], &batch)?;
        let mut total = vec![0.0f32; b];
        sequence_sums(&mut total, &tokens, shape.seq_len())?;
        let names = pipeline.names().collect();
        // HAPO's history learns from this batch after scoring it.
        let mut hapo_coverage = None;
        if self.shaping == "hapo" {
            let seen = inp
                .keys
                .iter()
                .filter(|&&k| state.hapo.get(k).is_some())
                .count();
            hapo_coverage = Some(seen as f64 / b.max(1) as f64);
            state.hapo.update(inp.keys, inp.lengths, inp.correct)?;
        }
        Ok(Rewards {
            tokens,
            total,
            parts,
            names,
            hapo_coverage,
        })
    }

    /// LASER-D's monitor update (core): new targets per difficulty band from `G` samples of each
    /// monitor prompt.
    ///
    /// # Errors
    /// Core errors (shapes).
    /// Returns the new targets of the low, medium and high bands (`None`: no threshold
    /// qualified; the target is then the batch's longest response).
    pub fn monitor(
        &self,
        state: &mut ShapingState,
        lengths: &[u32],
        correct: &[bool],
        groups: &GroupIndex<'_>,
    ) -> Result<[Option<u32>; 3]> {
        let s = state.laser_d.get_or_insert_with(|| self.laser_d_initial());
        s.update(&self.laser_d, lengths, correct, groups)?;
        Ok(Difficulty::ALL.map(|d| match s.target(d) {
            TargetLen::Fixed(t) | TargetLen::Monitored(Some(t)) => Some(t),
            TargetLen::Monitored(None) => None,
        }))
    }
}

/// Advantages where the plan puts them: one per sequence `(B)` for the per-sequence estimators
/// (GRPO family), `(B, T)` for token recurrences.
#[derive(Clone, Debug, Default)]
pub struct Advantages {
    /// The values.
    pub values: Vec<f32>,
    /// Whether `values` is `(B)` (else `(B, T)`).
    pub per_sequence: bool,
}

/// The advantage estimator named in the config, resolved once into a core [`AdvantagePlan`], with
/// scratch reused across steps.
#[derive(Clone, Debug)]
pub struct AdvantageStage {
    plan: AdvantagePlan<f32>,
    scratch: Vec<f64>,
    returns: Vec<f32>,
}

impl AdvantageStage {
    /// The plan of `cfg.estimator` under rewardkit's preset.
    ///
    /// # Errors
    /// Core errors (unknown estimator name).
    pub fn new(cfg: &GrpoConfig) -> Result<Self> {
        let est: AdvantageEstimator = cfg.estimator.parse()?;
        Ok(Self {
            plan: AdvantagePlan::new(est, &AdvantageConfig::new(Preset::Rewardkit))?,
            scratch: Vec::new(),
            returns: Vec::new(),
        })
    }

    /// Advantages of one batch from per-token rewards `(B, T)`, groups from the prompt of each row.
    ///
    /// # Errors
    /// Core errors (shapes, non-finite rewards).
    pub fn run(
        &mut self,
        out: &mut Advantages,
        token_rewards: &[f32],
        mask: Mask<'_>,
        groups: &GroupIndex<'_>,
    ) -> Result {
        let inputs = AdvantageInputs::new(token_rewards, mask).with_groups(groups);
        self.scratch
            .resize(self.plan.scratch_len(&PlanSizes::of(&inputs)), 0.0);
        out.per_sequence = self.plan.is_per_sequence();
        if out.per_sequence {
            out.values.resize(mask.shape().batch(), 0.0);
            self.plan
                .run_per_sequence(&mut out.values, &inputs, &mut self.scratch)
        } else {
            out.values.resize(token_rewards.len(), 0.0);
            self.returns.resize(token_rewards.len(), 0.0);
            self.plan.run(
                &mut out.values,
                &mut self.returns,
                &inputs,
                &mut self.scratch,
            )
        }
    }
}

/// The policy loss of a run (kind, clip, KL term, aggregation), resolved once.
#[derive(Clone, Debug)]
pub struct LossStage {
    policy: PolicyLoss<f32>,
    penalty: KlPenalty<f32>,
    /// The aggregation.
    pub agg: Aggregation,
}

/// What one micro-batch's loss contributes.
#[derive(Clone, Copy, Debug)]
pub struct LossOut {
    /// This micro-batch's share of the aggregated loss (`agg.value(parts, total)`).
    pub value: f64,
    /// Its loss parts.
    pub parts: LossParts,
    /// Clip and ratio diagnostics (add across micro-batches).
    pub diag: PolicyDiagnostics,
    /// `Σ` of the per-token KL estimate against the reference over valid tokens.
    pub kl_sum: f64,
}

impl LossStage {
    /// The loss of `cfg`.
    ///
    /// # Errors
    /// Core errors (unknown names, parameters out of range).
    pub fn new(cfg: &GrpoConfig) -> Result<Self> {
        let kind = PolicyLossKind::from_verl(&cfg.loss)?;
        let penalty: KlPenalty<f32> = cfg.kl.parse()?;
        let kl = KlTerm::new(penalty, cfg.kl_coef)?;
        Ok(Self {
            policy: PolicyLoss::new(kind)
                .with_clip(cfg.clip_low, cfg.clip_high)?
                .with_kl(if cfg.kl_coef > 0.0 { Some(kl) } else { None }),
            penalty,
            agg: cfg.aggregation.parse()?,
        })
    }

    /// The whole batch's normalizer parts from its mask alone ([`LossParts::from_mask`]), known
    /// before any micro-batch's loss is computed.
    pub fn normalizer(&self, mask: Mask<'_>) -> LossParts {
        LossParts::from_mask(mask)
    }

    /// The loss of one micro-batch and `∂loss/∂log π` into `dlogp` (overwritten; 0 at masked
    /// positions), normalized by `total` (the whole batch's parts or
    /// [`LossParts::from_mask`] of its mask), so that micro-batches add up to the whole-batch loss
    /// and gradient. `adv` is `(B)` or `(B, T)`; `kl_tok` is scratch `(B, T)`.
    ///
    /// # Errors
    /// Core errors (non-finite inputs, shapes).
    pub fn run(
        &self,
        dlogp: &mut [f32],
        kl_tok: &mut [f32],
        logp: &[f32],
        old_logp: &[f32],
        ref_logp: &[f32],
        adv: &[f32],
        mask: Mask<'_>,
        total: &LossParts,
    ) -> Result<LossOut> {
        let inp = PolicyInputs::new(logp, old_logp, adv, mask)?.with_ref(ref_logp)?;
        dlogp.fill(0.0);
        let parts = policy_loss(dlogp, &inp, &self.policy, &self.agg)?;
        let value: f64 = self.agg.value(&parts, total)?;
        self.agg.scale_grad(dlogp, mask, total)?;
        let diag = policy_diagnostics(&inp, &self.policy)?;
        // The KL estimate for logging, whether or not it is in the loss.
        self.penalty.forward(kl_tok, None, logp, ref_logp)?;
        let kl_sum = kl_tok
            .iter()
            .zip(mask.bits())
            .filter(|&(_, &m)| m)
            .map(|(&k, _)| f64::from(k))
            .sum();
        Ok(LossOut {
            value,
            parts,
            diag,
            kl_sum,
        })
    }
}

impl LossStage {
    /// The aggregated loss from whole-batch `parts` and the normalizer `total`
    /// ([`Aggregation::value`]), for parts computed elsewhere (the device's fused step).
    ///
    /// # Errors
    /// Core errors (a normalizer the aggregation cannot use).
    pub fn value(&self, parts: &LossParts, total: &LossParts) -> Result<f64> {
        self.agg.value(parts, total)
    }

    /// What [`LossStage::run`] reports beside the loss, for log-probabilities whose loss and
    /// gradient were computed elsewhere (the device's fused step): the clip and ratio diagnostics
    /// and `Σ` of the per-token KL estimate against the reference over valid tokens.
    ///
    /// # Errors
    /// Core errors (non-finite inputs, shapes).
    pub fn report(
        &self,
        kl_tok: &mut [f32],
        logp: &[f32],
        old_logp: &[f32],
        ref_logp: &[f32],
        adv: &[f32],
        mask: Mask<'_>,
    ) -> Result<(PolicyDiagnostics, f64)> {
        let inp = PolicyInputs::new(logp, old_logp, adv, mask)?.with_ref(ref_logp)?;
        let diag = policy_diagnostics(&inp, &self.policy)?;
        self.penalty.forward(kl_tok, None, logp, ref_logp)?;
        let kl_sum = kl_tok
            .iter()
            .zip(mask.bits())
            .filter(|&(_, &m)| m)
            .map(|(&k, _)| f64::from(k))
            .sum();
        Ok((diag, kl_sum))
    }
}

/// The device twins of this module's core calls, for the GPU backend: `rewardkit-gpu`'s kernels
/// that are parity-tested against the core functions named on each (`rewardkit-tests`, feature
/// `gpu`), configured by the same core parameter objects ([`LossStage`]'s `PolicyLoss`,
/// `Aggregation`). Rewards and advantages stay host core calls above: the verifier runs on the
/// host, and the advantages of a batch are `B` numbers.
#[cfg(feature = "gpu")]
pub mod device {
    use rewardkit_gpu::{GpuBuffer, GpuContext, GpuError, RlStepBuffers};

    use super::LossStage;

    /// [`super::token_logprobs`] on the device (`GpuContext::logprobs_forward`, the twin of
    /// [`rewardkit_core::logits::logprobs_forward`]; the statistics are recomputed by the
    /// backward kernel).
    ///
    /// # Errors
    /// As the kernel.
    pub fn token_logprobs(
        ctx: &GpuContext,
        out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        ids: &GpuBuffer<u32>,
        vocab: usize,
    ) -> Result<(), GpuError> {
        ctx.logprobs_forward(out, logits, ids, vocab)
    }

    /// [`super::token_logprobs_backward`] on the device (`GpuContext::logprobs_backward`, the twin
    /// of [`rewardkit_core::logits::logprobs_backward`]); **accumulates** into `dlogits`.
    ///
    /// # Errors
    /// As the kernel.
    pub fn token_logprobs_backward(
        ctx: &GpuContext,
        dlogits: &GpuBuffer<f32>,
        dlogp: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        ids: &GpuBuffer<u32>,
        vocab: usize,
    ) -> Result<(), GpuError> {
        ctx.logprobs_backward(dlogits, dlogp, logits, ids, vocab)
    }

    /// [`super::entropies`] on the device (`GpuContext::entropy_forward`, the twin of
    /// [`rewardkit_core::logits::entropy_forward`]).
    ///
    /// # Errors
    /// As the kernel.
    pub fn entropies(
        ctx: &GpuContext,
        out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        vocab: usize,
    ) -> Result<(), GpuError> {
        ctx.entropy_forward(out, logits, vocab)
    }

    impl LossStage {
        /// The whole batch's policy loss on the device in one fused step
        /// (`GpuContext::rl_step`, the twin of the chain `logprobs_forward → policy_loss →
        /// Aggregation::scale_grad → logprobs_backward` of `core/examples/grpo_step.rs`) with this
        /// stage's `PolicyLoss` (its KL term) and `Aggregation`: `grad_logits +=` the aggregated
        /// gradient, per-token `(log π, ℓ, H)` in `s.tok`, the loss parts in `s.parts`. The
        /// normalizer is the batch's own parts, so this is the whole batch's loss only when `s`
        /// holds the whole batch.
        ///
        /// # Errors
        /// [`GpuError::Unsupported`] (before anything is recorded) for a loss the fused kernel
        /// does not run (sequence-coupled kinds: GSPO, GSPO-token, GMPO, VESPO; Clip-Cov,
        /// KL-Cov): use the host loss ([`LossStage::run`]) instead; shape errors.
        pub fn run_fused(
            &self,
            ctx: &GpuContext,
            s: &RlStepBuffers<'_>,
            seq_len: usize,
            vocab: usize,
        ) -> Result<(), GpuError> {
            ctx.rl_step(s, seq_len, vocab, &self.policy, &self.agg)
        }
    }
}
