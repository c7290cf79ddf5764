//! Regressions of issue 8 (advantages): each test failed before its fix. Expected values are
//! derived by hand from the framework's code (quoted in each test), never produced by rewardkit.

use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, Scale, TrlAggregation, trl_grpo_advantages,
};
use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, Preset};

/// Defect 1. TRL `normalize_then_sum` (`grpo_trainer.py`, `_generate_and_score_completions`):
/// `rewards = (reward_k * w).nansum(dim=1)` gives 0 when every *normalized* component is NaN; only
/// rows whose *raw* rewards are all NaN (`unscorable_mask`) become NaN. Row 2 is alone in its group
/// with a scorable reward, so its normalized components are NaN (`nanstd` of one value), its sum is
/// 0, and it takes part in the batch statistics.
#[test]
fn trl_normalize_then_sum_zero_for_all_nan_normalized_row() {
    let comps = [1.0, 0.5, 0.0, 0.1, 0.7, 0.2, f64::NAN, f64::NAN];
    let groups = GroupIndex::uniform(4, 2).unwrap();
    let mut out = [9.0f64; 4];
    trl_grpo_advantages(
        &mut out,
        &comps,
        &[1.0, 1.0],
        &groups,
        Scale::Group,
        TrlAggregation::NormalizeThenSum,
    )
    .unwrap();
    // Group 0, component 0: values (1, 0), mean 1/2, nanstd = sqrt(1/4 · 2) = sqrt(1/2);
    // component 1: (0.5, 0.1), mean 0.3, nanstd = sqrt(0.04 · 2) = sqrt(0.08).
    let s = 0.5 / (0.5f64.sqrt() + 1e-4) + 0.2 / (0.08f64.sqrt() + 1e-4);
    // Batch of (s, −s, 0; row 3 NaN): mean 0, population variance 2s²/3, Bessel factor 3/2
    // (exact in float32): std = s.
    let a = s / (s + 1e-4);
    let want = [a, -a, 0.0, 0.0];
    for (g, w) in out.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{out:?} vs {want:?}"
        );
    }
    assert!((out[0] - 0.99993).abs() < 1e-5);
}

/// Defect 2. verl `compute_reinforce_plus_plus_outcome_advantage` (current verl):
/// `returns[:, t] = new_running_return * response_mask[:, t]`, so returns are 0 at masked
/// positions; the running return is carried through them.
#[test]
fn verl_reinforce_plus_plus_returns_are_zero_at_masked_positions() {
    let bits = [true, false, true];
    let mask = Mask::new(&bits, 3).unwrap();
    let rewards = [0.0f64, 0.0, 1.0];
    let (mut adv, mut ret) = ([9.0f64; 3], [9.0f64; 3]);
    AdvantageEstimator::ReinforcePlusPlus
        .compute(
            &mut adv,
            &mut ret,
            &AdvantageInputs::new(&rewards, mask),
            &AdvantageConfig::new(Preset::Verl),
        )
        .unwrap();
    assert_eq!(ret, [1.0, 0.0, 1.0]);
    assert_eq!(adv[1], 0.0);
}

/// Defect 3. A zero-variance group gives exactly 0 in every preset, including TRL (whose naive
/// running sum of eight 0.7 is not 8 · 0.7, so the mean was off by one ulp and the advantage
/// −1.1e-12).
#[test]
fn trl_equal_rewards_give_exact_zero() {
    let groups = GroupIndex::uniform(8, 8).unwrap();
    let mut out = [9.0f64; 8];
    for mode in [
        TrlAggregation::SumThenNormalize,
        TrlAggregation::NormalizeThenSum,
    ] {
        for scale in [Scale::Group, Scale::Batch, Scale::None] {
            trl_grpo_advantages(&mut out, &[0.7; 8], &[1.0], &groups, scale, mode).unwrap();
            assert_eq!(out, [0.0; 8], "{mode:?} {scale:?}");
        }
    }
}

/// Defect 3, through the estimator enum: every group estimator under every preset gives exact
/// zeros on a group of eight equal rewards (outcome reward on the last of two tokens).
#[test]
fn every_preset_gives_exact_zero_for_equal_rewards() {
    let b = 8;
    let bits = vec![true; b * 2];
    let mask = Mask::new(&bits, 2).unwrap();
    let mut rewards = vec![0.0f64; b * 2];
    for i in 0..b {
        rewards[i * 2 + 1] = 0.7;
    }
    let groups = GroupIndex::uniform(b, 8).unwrap();
    for est in [
        AdvantageEstimator::Grpo,
        AdvantageEstimator::DrGrpo,
        AdvantageEstimator::Rloo,
        AdvantageEstimator::Gpg,
        AdvantageEstimator::Opo,
        AdvantageEstimator::GrpoPassK,
        AdvantageEstimator::SumThenNormalize,
        AdvantageEstimator::NormalizeThenSum,
    ] {
        for preset in [
            Preset::Rewardkit,
            Preset::Verl,
            Preset::Trl,
            Preset::OpenRlhf,
        ] {
            let (mut adv, mut ret) = (vec![9.0f64; b * 2], vec![9.0f64; b * 2]);
            est.compute(
                &mut adv,
                &mut ret,
                &AdvantageInputs::new(&rewards, mask).with_groups(&groups),
                &AdvantageConfig::new(preset),
            )
            .unwrap();
            assert!(adv.iter().all(|&a| a == 0.0), "{est} {preset}: {adv:?}");
        }
    }
}

/// Defect 4. verl `compute_grpo_outcome_advantage` gives a singleton group
/// `id2std = torch.tensor(1.0)`, a float32 tensor: `id2std + epsilon` is `f32(1 + 1e-6)`
/// = `1 + 8·2⁻²³` = 1.00000095367431640625, and the f64 score is divided by that.
#[test]
fn verl_singleton_divides_by_float32_one_plus_eps() {
    let bits = [true, true, true];
    let mask = Mask::new(&bits, 1).unwrap();
    let rewards = [0.3f64, 1.0, 0.0];
    let groups = GroupIndex::new(&[0, 1, 1], 2).unwrap();
    let (mut adv, mut ret) = ([0.0f64; 3], [0.0f64; 3]);
    AdvantageEstimator::Grpo
        .compute(
            &mut adv,
            &mut ret,
            &AdvantageInputs::new(&rewards, mask).with_groups(&groups),
            &AdvantageConfig::new(Preset::Verl),
        )
        .unwrap();
    let denom = 1.0 + 8.0 * 2f64.powi(-23);
    assert_eq!(denom, 1.000_000_953_674_316_4);
    assert_eq!(adv[0], 0.3 / denom);
}
