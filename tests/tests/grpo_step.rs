//! `core/examples/grpo_step.rs`, the blueprint of one GRPO step, included as a module: its logits
//! gradient must equal central finite differences of its loss through the whole chain (log-probs,
//! entropy, PPO clip, k3 KL, entropy bonus, token-mean), and f32 must follow the f64 oracle.

#[path = "../../core/examples/grpo_step.rs"]
#[allow(clippy::all, reason = "the example is linted in its own crate")]
pub(crate) mod example;

use example::{StepConfig, demo_batch, grpo_step, loss_at, rewards_and_advantages};
use rewardkit_core::GroupIndex;
use rewardkit_tests::fd::central_diff;

#[test]
fn logits_gradient_matches_finite_differences_through_the_whole_step() {
    let cfg = StepConfig::default();
    for seed in [1u64, 7, 42] {
        let batch = demo_batch::<f64>(seed, 3, 4, 5, 7).unwrap();
        let out = grpo_step(&batch, &cfg).unwrap();
        let fd = central_diff(&batch.logits, 1e-6, |z| {
            loss_at(&batch, &cfg, &out.advantages, z).unwrap()
        });
        let worst = out
            .grad_logits
            .iter()
            .zip(&fd)
            .map(|(g, f)| (g - f).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-7, "seed {seed}: worst |grad - fd| = {worst:e}");
        // The gradient is not trivially zero, and masked rows contribute nothing.
        assert!(out.grad_logits.iter().any(|g| g.abs() > 1e-4));
        assert!(out.loss.is_finite());
    }
}

#[test]
fn every_stage_does_what_it_says() {
    let cfg = StepConfig::default();
    let batch = demo_batch::<f64>(3, 4, 4, 6, 9).unwrap();
    let (rewards, adv) = rewards_and_advantages(&batch, &cfg).unwrap();
    // Reward = correctness (1/0) + DAPO overlong (0 below T − 2, −1 at T): literal per row.
    for (i, r) in rewards.iter().enumerate() {
        let l = f64::from(batch.lens[i]);
        let over = if l <= 4.0 { 0.0 } else { -(l - 4.0) / 2.0 };
        let want = if batch.correct[i] { 1.0 } else { 0.0 } + over;
        assert!((r - want).abs() < 1e-12, "row {i}");
    }
    // GRPO advantages are centred in each prompt's group.
    let groups = GroupIndex::new(&batch.prompt, batch.prompts).unwrap();
    for g in 0..batch.prompts {
        let s: f64 = groups.rows(g).map(|i| adv[i]).sum();
        assert!(s.abs() < 1e-12, "group {g}: {s}");
    }
    // The logits gradient is zero on every masked token's row.
    let out = grpo_step(&batch, &cfg).unwrap();
    for (i, &len) in batch.lens.iter().enumerate() {
        for t in len as usize..batch.t {
            let row = &out.grad_logits[(i * batch.t + t) * batch.v..][..batch.v];
            assert!(row.iter().all(|&g| g == 0.0), "row {i} t {t}");
        }
    }
}

#[test]
fn f32_step_follows_the_f64_oracle() {
    let cfg = StepConfig::default();
    let b64 = demo_batch::<f64>(11, 3, 4, 6, 11).unwrap();
    let b32 = demo_batch::<f32>(11, 3, 4, 6, 11).unwrap();
    let (o64, o32) = (
        grpo_step(&b64, &cfg).unwrap(),
        grpo_step(&b32, &cfg).unwrap(),
    );
    assert!((f64::from(o32.loss) - o64.loss).abs() < 1e-5 * (1.0 + o64.loss.abs()));
    for (g32, g64) in o32.grad_logits.iter().zip(&o64.grad_logits) {
        assert!((f64::from(*g32) - g64).abs() < 2e-5, "{g32} vs {g64}");
    }
}
