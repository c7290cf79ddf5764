//! One GRPO step on the GPU against `core/examples/grpo_step.rs`, the blueprint of a step (the
//! module that `tests/tests/grpo_step.rs` includes): the same demo batch, the same configuration
//! (`StepConfig::default()`: GRPO advantages, PPO clip with verl's presets, a `k3` KL term, an
//! entropy bonus, token-mean), run as the device chain
//! `advantages_per_sequence` (the example's `AdvantagePlan`) → `rl_step` (the example's
//! `PolicyLoss` and `Aggregation`), with the advantages staying on the device between the two.
//!
//! Tolerances (the GPU in `f32` against the example in `f32`, whose row reductions are `f64`):
//! advantages `1e-5·(1 + |A|)`; the loss `1e-5·(1 + |loss|)`; each logits-gradient entry
//! `2e-6·max|g| + 1e-4·|g|` (the f32 rounding of `π_v` and of the per-token derivative, relative
//! to the largest entry of the gradient, plus a relative term; lavapipe measures `4.6e-7·max|g|`
//! at worst).

use rewardkit_core::advantage::{AdvantageConfig, AdvantagePlan};
use rewardkit_core::loss::{Aggregation, PolicyLoss};
use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, Preset};
use rewardkit_gpu::{GpuContext, GpuGroups, RlStepBuffers};
use rewardkit_tests::gpu::{assert_within, context, down, up};

use crate::grpo_step::example::{
    StepBatch, StepConfig, completion_mask, demo_batch, grpo_step, policy,
};

/// What the device chain produces for one batch.
struct GpuStep {
    advantages: Vec<f64>,
    loss: f64,
    grad_logits: Vec<f64>,
}

/// The example's step on the device, from its rewards (an outcome reward per row on the row's last
/// valid token) to the gradient with respect to the logits, with the example's own plan, loss and
/// aggregation.
fn gpu_step(
    ctx: &GpuContext,
    batch: &StepBatch<f32>,
    cfg: &StepConfig,
    rewards: &[f32],
) -> GpuStep {
    let (b, t, v) = (batch.lens.len(), batch.t, batch.v);
    let bits = completion_mask(batch).unwrap();
    let mask = Mask::new(&bits, t).unwrap();
    let mut token_rewards = vec![0.0f32; b * t];
    for (i, (&r, &len)) in rewards.iter().zip(&batch.lens).enumerate() {
        token_rewards[i * t + len as usize - 1] = r;
    }
    // Advantages: the example's plan, stage by stage on the device.
    let est: AdvantageEstimator = cfg.estimator.parse().unwrap();
    let plan = AdvantagePlan::<f32>::new(est, &AdvantageConfig::new(Preset::Rewardkit)).unwrap();
    let groups = GroupIndex::new(&batch.prompt, batch.prompts).unwrap();
    let groups = GpuGroups::new(ctx, &groups).unwrap();
    let gm = ctx.upload_mask(mask).unwrap();
    let adv = ctx.zeros::<f32>(b).unwrap();
    ctx.advantages_per_sequence(&adv, &up(ctx, &token_rewards), &gm, t, &groups, &plan)
        .unwrap();
    // The fused step: log-probabilities, entropies, the loss with its KL term and entropy bonus,
    // the aggregation and the gradient with respect to the logits, in one pass over the logits.
    let loss: PolicyLoss<f32> = policy(cfg).unwrap();
    let agg: Aggregation = cfg.aggregation.parse().unwrap();
    let (logits, old, rf) = (
        up(ctx, &batch.logits),
        up(ctx, &batch.old_logp),
        up(ctx, &batch.ref_logp),
    );
    let ids = ctx.upload_ids(&batch.tokens, v).unwrap();
    let n = b * t;
    let (grad, tok) = (
        ctx.zeros::<f32>(n * v).unwrap(),
        ctx.zeros::<f32>(3 * n).unwrap(),
    );
    let (rows, parts) = (
        ctx.zeros::<f32>(2 * b).unwrap(),
        ctx.zeros::<f32>(5).unwrap(),
    );
    let s = RlStepBuffers {
        grad_logits: &grad,
        tok: &tok,
        rows: &rows,
        parts: &parts,
        logits: &logits,
        ids: &ids,
        old_logp: &old,
        ref_logp: Some(&rf),
        advantages: &adv,
        mask: &gm,
    };
    ctx.rl_step(&s, t, v, &loss, &agg).unwrap();
    let p = ctx.read_parts_blocking(&parts).unwrap();
    GpuStep {
        advantages: down(ctx, &adv),
        loss: agg.value::<f64>(&p, &p).unwrap(),
        grad_logits: down(ctx, &grad),
    }
}

fn check(ctx: &GpuContext, seed: u64, prompts: usize, k: usize, t: usize, v: usize) {
    let cfg = StepConfig::default();
    let batch = demo_batch::<f32>(seed, prompts, k, t, v).unwrap();
    let want = grpo_step(&batch, &cfg).unwrap();
    let got = gpu_step(ctx, &batch, &cfg, &want.rewards);
    let what = format!("demo batch (seed {seed}, {prompts}×{k}, T = {t}, V = {v})");
    let adv: Vec<f64> = want.advantages.iter().map(|&a| f64::from(a)).collect();
    assert_within(&format!("{what}: advantages"), &got.advantages, &adv, |i| {
        1e-5 * (1.0 + adv[i].abs())
    });
    let loss = f64::from(want.loss);
    assert!(
        (got.loss - loss).abs() <= 1e-5 * (1.0 + loss.abs()),
        "{what}: loss gpu {} vs example {loss}",
        got.loss
    );
    let g: Vec<f64> = want.grad_logits.iter().map(|&x| f64::from(x)).collect();
    let scale = g.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(
        scale > 0.0,
        "{what}: the example's gradient is not trivially zero"
    );
    assert_within(&format!("{what}: grad_logits"), &got.grad_logits, &g, |i| {
        2e-6 * scale + 1e-4 * g[i].abs()
    });
    let worst = got
        .grad_logits
        .iter()
        .zip(&g)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "{what}: loss {} vs {loss}; max |Δgrad| = {worst:.3e} (max |grad| {scale:.3e})",
        got.loss
    );
}

#[test]
fn gpu_step_matches_the_grpo_step_example() {
    let Some(ctx) = context("gpu_step_matches_the_grpo_step_example") else {
        return;
    };
    // The example's own demo batch (`cargo run -p rewardkit-core --example grpo_step`).
    check(ctx, 7, 3, 4, 6, 11);
    // A larger one: `T` and `V` not multiples of the workgroup, shuffled prompts of 8.
    check(ctx, 42, 8, 8, 37, 300);
}
