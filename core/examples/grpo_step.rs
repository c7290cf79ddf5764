//! One GRPO step, from verified outcomes to the gradient with respect to the logits, through
//! rewardkit-core alone. This file is the blueprint of the trainer's step and the script of the GPU
//! parity tests: every stage is one call into the core, in the order an engine runs them.
//!
//! ```text
//! outcomes ──reward::Pipeline──▶ token rewards (B, T)      correctness + DAPO overlong penalty
//!          ──GroupIndex──▶ groups                          prompt id of each row, any order
//!          ──AdvantagePlan──▶ advantages (B)               GRPO, caller-owned scratch
//! logits   ──logits::logprobs_forward──▶ log π (B·T)       + row statistics, reused by the backward
//!          ──logits::entropy_forward──▶ H (B·T)
//!          ──loss::policy_loss──▶ parts, ∂/∂ log π         PPO clip + k3 KL + entropy bonus
//!          ──Aggregation──▶ loss, scaled ∂/∂ log π         token-mean over the whole batch
//!          ──logits::*_backward (+=)──▶ ∂loss/∂logits      one (B·T, V) buffer for every term
//!          ──loss::policy_diagnostics──▶ clip fraction, approx KL, ratio range
//! ```
//!
//! Run with `cargo run --release -p rewardkit-core --example grpo_step`. The integration test
//! `grpo_step` (in `rewardkit-tests`) includes this file and checks the logits gradient against
//! central finite differences of the loss through the whole chain.
#![allow(
    clippy::print_stdout,
    clippy::std_instead_of_core,
    unreachable_pub,
    dead_code,
    reason = "an example that prints, uses std, and is also included by a test as a module"
)]

use rewardkit_core::advantage::{AdvantageConfig, AdvantageInputs, AdvantagePlan, PlanSizes};
use rewardkit_core::kl::KlTerm;
use rewardkit_core::logits::{
    RowStats, entropy_backward, entropy_forward, logprobs_backward, logprobs_forward,
};
use rewardkit_core::loss::{
    Aggregation, LossParts, PolicyDiagnostics, PolicyInputs, PolicyLoss, PolicyLossKind,
    entropy_upstream, policy_diagnostics, policy_loss,
};
use rewardkit_core::reward::{Batch, Correctness, Overlong, Pipeline, Weighted};
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_core::{
    AdvantageEstimator, GroupIndex, KlEstimator, KlPenalty, Mask, Preset, Real, Result,
};

/// What one step reads: `B` sampled completions of `T` tokens over a vocabulary of `V`.
#[derive(Clone, Debug)]
pub struct StepBatch<F> {
    /// Completion slots per row `T` (padded).
    pub t: usize,
    /// Vocabulary size `V`.
    pub v: usize,
    /// Prompt (group) id of each row, `(B)`, any order.
    pub prompt: Vec<u32>,
    /// Number of prompts `G`.
    pub prompts: usize,
    /// Valid completion tokens per row, `(B)`, `1..=T`.
    pub lens: Vec<u32>,
    /// Whether the verifier accepted each completion, `(B)`.
    pub correct: Vec<bool>,
    /// Sampled token ids, `(B·T)` (padding where masked).
    pub tokens: Vec<u32>,
    /// Logits of the policy being trained, `(B·T, V)`.
    pub logits: Vec<F>,
    /// Log-probabilities of the sampled tokens under the sampling policy, `(B·T)` (detached).
    pub old_logp: Vec<F>,
    /// Log-probabilities under the frozen reference policy, `(B·T)` (detached).
    pub ref_logp: Vec<F>,
}

/// The step's hyperparameters, by the names an engine's config uses.
#[derive(Clone, Copy, Debug)]
pub struct StepConfig {
    /// `algorithm.adv_estimator`.
    pub estimator: &'static str,
    /// `loss_agg_mode`.
    pub aggregation: &'static str,
    /// `kl_loss_type`.
    pub kl: &'static str,
    /// `kl_loss_coef`.
    pub kl_coef: f64,
    /// `entropy_coeff`.
    pub entropy_coef: f64,
    /// DAPO overlong buffer (tokens before `T` where the penalty ramps).
    pub overlong_buffer: u32,
}

impl Default for StepConfig {
    fn default() -> Self {
        Self {
            estimator: "grpo",
            aggregation: "token-mean",
            kl: "low_var_kl",
            kl_coef: 0.05,
            entropy_coef: 0.01,
            overlong_buffer: 2,
        }
    }
}

/// Everything a step produces.
#[derive(Clone, Debug)]
pub struct StepOut<F> {
    /// Reward of each row, `(B)`.
    pub rewards: Vec<F>,
    /// Advantage of each row, `(B)`.
    pub advantages: Vec<F>,
    /// The aggregated loss (policy term + KL term − entropy bonus).
    pub loss: F,
    /// `∂loss/∂logits`, `(B·T, V)`.
    pub grad_logits: Vec<F>,
    /// Clip fraction, approximate KL and the ratio range.
    pub diagnostics: PolicyDiagnostics,
}

/// The forward half: the loss value and its parts for given logits (advantages fixed).
fn forward<F: Real>(
    batch: &StepBatch<F>,
    cfg: &StepConfig,
    adv: &[F],
    mask: Mask<'_>,
    logits: &[F],
    scratch: &mut Forward<F>,
) -> Result<(F, LossParts, Aggregation)> {
    let Forward {
        logp,
        lp_stats,
        entropy,
        h_stats,
        dlogp,
    } = scratch;
    logprobs_forward(logp, lp_stats, logits, &batch.tokens, batch.v)?;
    entropy_forward(entropy, h_stats, logits, batch.v)?;
    let loss = policy(cfg)?;
    let agg: Aggregation = cfg.aggregation.parse()?;
    let inputs = PolicyInputs::new(logp, &batch.old_logp, adv, mask)?
        .with_ref(&batch.ref_logp)?
        .with_entropy(entropy)?;
    dlogp.fill(F::ZERO);
    let parts = policy_loss(dlogp, &inputs, &loss, &agg)?;
    // One shard here; with micro-batches, `total` is the sum of every shard's parts (or
    // `LossParts::from_mask` of every micro-batch's mask, known before any loss is computed).
    let value: F = agg.value(&parts, &parts)?;
    Ok((value, parts, agg))
}

/// Forward buffers, reused by the backward.
struct Forward<F> {
    logp: Vec<F>,
    lp_stats: Vec<RowStats>,
    entropy: Vec<F>,
    h_stats: Vec<RowStats>,
    dlogp: Vec<F>,
}

impl<F: Real> Forward<F> {
    fn new(n: usize) -> Self {
        Self {
            logp: vec![F::ZERO; n],
            lp_stats: vec![RowStats::default(); n],
            entropy: vec![F::ZERO; n],
            h_stats: vec![RowStats::default(); n],
            dlogp: vec![F::ZERO; n],
        }
    }
}

/// PPO clip with verl's defaults, a `k3` KL term and an entropy bonus.
pub fn policy<F: Real>(cfg: &StepConfig) -> Result<PolicyLoss<F>> {
    let kl: KlEstimator = cfg.kl.parse()?;
    let term = KlTerm::new(
        KlPenalty::from_preset(Preset::Verl, kl),
        F::lit(cfg.kl_coef),
    )?;
    PolicyLoss::from_preset(Preset::Verl, PolicyLossKind::Vanilla)
        .with_kl(Some(term))
        .with_entropy_coef(F::lit(cfg.entropy_coef))
}

/// The mask of valid completion tokens, `(B·T)`.
pub fn completion_mask<F: Real>(batch: &StepBatch<F>) -> Result<Vec<bool>> {
    let mut bits = vec![false; batch.lens.len() * batch.t];
    let lens: Vec<usize> = batch.lens.iter().map(|&l| l as usize).collect();
    rewardkit_core::layout::prefix_mask(&mut bits, &lens, batch.t)?;
    Ok(bits)
}

/// Rewards and advantages: they do not depend on the logits being trained.
pub fn rewards_and_advantages<F: Real>(
    batch: &StepBatch<F>,
    cfg: &StepConfig,
) -> Result<(Vec<F>, Vec<F>)> {
    let b = batch.lens.len();
    let bits = completion_mask(batch)?;
    let mask = Mask::new(&bits, batch.t)?;
    let t_max = u32::try_from(batch.t).unwrap_or(u32::MAX);

    // 1. Rewards: 1/0 correctness plus DAPO's overlong penalty, each reported separately; the
    //    sequence reward sits on each row's last valid token.
    let correct = Correctness::<F>::default();
    let overlong = Overlong::<F>::new(t_max, cfg.overlong_buffer, F::ONE)?;
    let terms = [
        Weighted::sequence(&correct, F::ONE),
        Weighted::sequence(&overlong, F::ONE),
    ];
    let reward_batch = Batch::new(b)?
        .with_correct(&batch.correct)?
        .with_lengths(&batch.lens)?
        .with_mask(mask)?;
    let (mut token_rewards, mut parts) = (vec![F::ZERO; b * batch.t], vec![F::ZERO; 2 * b]);
    Pipeline::new(&terms)?.eval_tokens(&mut token_rewards, &mut parts, &mut [], &reward_batch)?;
    let mut rewards = vec![F::ZERO; b];
    rewardkit_core::advantage::sequence_sums(&mut rewards, &token_rewards, batch.t)?;

    // 2. Groups: the prompt of each row, rows in any order.
    let groups = GroupIndex::new(&batch.prompt, batch.prompts)?;

    // 3. Advantages: the estimator resolved once into a plan, run with caller-owned scratch.
    let est: AdvantageEstimator = cfg.estimator.parse()?;
    let plan = AdvantagePlan::<F>::new(est, &AdvantageConfig::new(Preset::Rewardkit))?;
    let inputs = AdvantageInputs::new(&token_rewards, mask).with_groups(&groups);
    let mut scratch = vec![0.0f64; plan.scratch_len(&PlanSizes::of(&inputs))];
    let mut advantages = vec![F::ZERO; b];
    plan.run_per_sequence(&mut advantages, &inputs, &mut scratch)?;
    Ok((rewards, advantages))
}

/// The loss for given logits (everything else fixed): what finite differences differentiate.
pub fn loss_at<F: Real>(
    batch: &StepBatch<F>,
    cfg: &StepConfig,
    adv: &[F],
    logits: &[F],
) -> Result<F> {
    let bits = completion_mask(batch)?;
    let mask = Mask::new(&bits, batch.t)?;
    let mut fw = Forward::new(batch.tokens.len());
    Ok(forward(batch, cfg, adv, mask, logits, &mut fw)?.0)
}

/// One GRPO step.
pub fn grpo_step<F: Real>(batch: &StepBatch<F>, cfg: &StepConfig) -> Result<StepOut<F>> {
    let (rewards, advantages) = rewards_and_advantages(batch, cfg)?;
    let bits = completion_mask(batch)?;
    let mask = Mask::new(&bits, batch.t)?;

    // 4. Log-probabilities and entropies from the logits; 5. the policy loss and ∂/∂ log π.
    let mut fw = Forward::new(batch.tokens.len());
    let (loss, parts, agg) = forward(batch, cfg, &advantages, mask, &batch.logits, &mut fw)?;

    // 6. Aggregation: scale ∂/∂ log π by the whole batch's normalizer (masked slots are 0).
    agg.scale_grad(&mut fw.dlogp, mask, &parts)?;

    // 7. Back to the logits: every term accumulates into one (B·T, V) buffer.
    let mut grad_logits = vec![F::ZERO; batch.logits.len()];
    logprobs_backward(
        &mut grad_logits,
        &fw.dlogp,
        &batch.logits,
        &fw.lp_stats,
        &batch.tokens,
        batch.v,
    )?;
    let mut dh = vec![F::ZERO; batch.tokens.len()];
    entropy_upstream(&mut dh, mask, &agg, &parts, F::lit(cfg.entropy_coef))?;
    entropy_backward(
        &mut grad_logits,
        &dh,
        &batch.logits,
        &fw.h_stats,
        &fw.entropy,
        batch.v,
    )?;

    // 8. Diagnostics.
    let inputs = PolicyInputs::new(&fw.logp, &batch.old_logp, &advantages, mask)?;
    let diagnostics = policy_diagnostics(&inputs, &policy::<F>(cfg)?)?;
    Ok(StepOut {
        rewards,
        advantages,
        loss,
        grad_logits,
        diagnostics,
    })
}

/// A demonstration batch: `prompts × k` rows in shuffled order, random logits, sampling-policy
/// log-probabilities from a perturbed copy of the logits, a reference policy likewise.
pub fn demo_batch<F: Real>(
    seed: u64,
    prompts: usize,
    k: usize,
    t: usize,
    v: usize,
) -> Result<StepBatch<F>> {
    let mut rng = SplitMix64::new(seed);
    let b = prompts * k;
    let mut prompt: Vec<u32> = (0..b)
        .map(|i| u32::try_from(i % prompts).unwrap_or(0))
        .collect();
    for i in (1..b).rev() {
        prompt.swap(i, rng.below(i + 1));
    }
    let lens: Vec<u32> = (0..b)
        .map(|_| u32::try_from(1 + rng.below(t)).unwrap_or(1))
        .collect();
    let correct: Vec<bool> = (0..b).map(|_| rng.next_f64() < 0.5).collect();
    let n = b * t;
    let mut uniform = |scale: f64| F::lit(scale * (2.0 * rng.next_f64() - 1.0));
    let logits: Vec<F> = (0..n * v).map(|_| uniform(2.0)).collect();
    let old_logits: Vec<F> = logits.iter().map(|&z| z + uniform(0.3)).collect();
    let ref_logits: Vec<F> = logits.iter().map(|&z| z + uniform(0.3)).collect();
    let tokens: Vec<u32> = (0..n)
        .map(|_| u32::try_from(rng.below(v)).unwrap_or(0))
        .collect();
    let mut stats = vec![RowStats::default(); n];
    let (mut old_logp, mut ref_logp) = (vec![F::ZERO; n], vec![F::ZERO; n]);
    logprobs_forward(&mut old_logp, &mut stats, &old_logits, &tokens, v)?;
    logprobs_forward(&mut ref_logp, &mut stats, &ref_logits, &tokens, v)?;
    Ok(StepBatch {
        t,
        v,
        prompt,
        prompts,
        lens,
        correct,
        tokens,
        logits,
        old_logp,
        ref_logp,
    })
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let batch = demo_batch::<f32>(7, 3, 4, 6, 11)?;
    let cfg = StepConfig::default();
    let out = grpo_step(&batch, &cfg)?;
    println!(
        "one GRPO step: B = {} rows ({} prompts x 4), T = {}, V = {}\n",
        batch.lens.len(),
        batch.prompts,
        batch.t,
        batch.v
    );
    println!("row  prompt  len  correct   reward  advantage");
    for i in 0..batch.lens.len() {
        println!(
            "{i:>3}  {:>6}  {:>3}  {:>7}  {:>7.3}  {:>9.4}",
            batch.prompt[i], batch.lens[i], batch.correct[i], out.rewards[i], out.advantages[i]
        );
    }
    let d = &out.diagnostics;
    let norm = out
        .grad_logits
        .iter()
        .map(|g| f64::from(*g) * f64::from(*g))
        .sum::<f64>()
        .sqrt();
    println!(
        "\nloss {:.6} (PPO clip + {} KL {} - {} entropy, {})",
        out.loss, cfg.kl_coef, cfg.kl, cfg.entropy_coef, cfg.aggregation
    );
    println!(
        "||d loss / d logits|| = {norm:.6}; clip fraction {:.3}; approx KL (k3) {:.5}; ratio in [{:.3}, {:.3}]",
        d.clipped as f64 / d.tokens.max(1) as f64,
        d.k3_sum / d.tokens.max(1) as f64,
        d.ratio_min,
        d.ratio_max
    );
    Ok(())
}
