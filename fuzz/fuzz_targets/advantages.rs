//! Fuzzes the group index and every advantage estimator: arbitrary ids, rewards (NaN/∞ included),
//! masks and parameters must give `Ok` with finite outputs or a typed `Err`, never a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, Grpo, Scale, Singleton, grpo, rloo,
};
use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, Preset};

#[derive(Arbitrary, Debug)]
struct Input {
    ids: Vec<u8>,
    n_groups: u8,
    rewards: Vec<f32>,
    seq_len: u8,
    mask: Vec<bool>,
    values: Vec<f32>,
    estimator: u8,
    preset: u8,
    gamma: f32,
    lambda: f32,
    eps: f32,
    scale: u8,
}

fuzz_target!(|inp: Input| {
    let ids: Vec<u32> = inp.ids.iter().map(|&x| u32::from(x % 16)).collect();
    let Ok(groups) = GroupIndex::new(&ids, usize::from(inp.n_groups % 17)) else {
        return;
    };
    // Group-level estimators on per-row scores.
    let b = groups.n_rows();
    let scores: Vec<f32> = inp.rewards.iter().copied().cycle().take(b).collect();
    let mut out = vec![0.0f32; b];
    let scale = [Scale::Group, Scale::Batch, Scale::None][usize::from(inp.scale % 3)];
    if let Ok(p) = Grpo::new(scale, inp.eps, Singleton::Zero) {
        if grpo(&mut out, &scores, &groups, &p).is_ok() {
            assert!(out.iter().all(|x| x.is_finite()), "{out:?}");
        }
    }
    if rloo(&mut out, &scores, &groups, Singleton::Raw).is_ok() {
        assert!(out.iter().all(|x| x.is_finite()));
    }

    // Enum-dispatched token-level estimators.
    let t = usize::from(inp.seq_len % 9).max(1);
    let bits: Vec<bool> = inp.mask.iter().copied().cycle().take(b * t).collect();
    let Ok(mask) = Mask::new(&bits, t) else {
        return;
    };
    let rewards: Vec<f32> = inp.rewards.iter().copied().cycle().take(b * t).collect();
    let values: Vec<f32> = inp.values.iter().copied().cycle().take(b * t).collect();
    let est = AdvantageEstimator::ALL[usize::from(inp.estimator) % AdvantageEstimator::ALL.len()];
    let preset = [Preset::Rewardkit, Preset::Verl, Preset::Trl, Preset::OpenRlhf]
        [usize::from(inp.preset % 4)];
    let Ok(cfg) = AdvantageConfig::new(preset).with_gamma_lambda(inp.gamma, inp.lambda) else {
        return;
    };
    let mut inputs = AdvantageInputs::new(&rewards, mask).with_groups(&groups);
    if values.len() == b * t {
        inputs = inputs.with_values(&values).with_reward_baselines(&scores);
        inputs = inputs.with_token_stats(&values, &values, None);
    }
    let (mut adv, mut ret) = (vec![0.0f32; b * t], vec![0.0f32; b * t]);
    if est.compute(&mut adv, &mut ret, &inputs, &cfg).is_ok() {
        assert!(adv.iter().all(|x| x.is_finite()), "{est}: {adv:?}");
    }
});
