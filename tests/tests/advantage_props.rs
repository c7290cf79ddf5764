//! Properties of the advantage estimators (proptest; f32 and f64 with f64 oracles), and the typed
//! errors for bad input.

use proptest::prelude::*;
use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, Gae, Grpo, Scale, Singleton, discounted_returns, gae,
    group_mean_baseline, grpo, grpo_passk, normalize_then_sum, opo, reinforce_plus_plus, rloo,
    sum_then_normalize,
};
use rewardkit_core::stats::{Whiten, masked_whiten};
use rewardkit_core::{AdvantageEstimator, Error, GroupIndex, Mask, Preset, Real};
use rewardkit_tests::approx_eq::{Tol, assert_all_close, assert_oracle, widen};
use rewardkit_tests::{oracle, strategies::*};

fn to<F: Real>(x: &[f64]) -> Vec<F> {
    x.iter().map(|&v| F::lit(v)).collect()
}

/// The inputs as the f32/f64 type sees them, widened back (the oracle runs on exactly these values).
fn seen<F: Real + Tol>(x: &[f64]) -> Vec<f64> {
    widen(&to::<F>(x))
}

fn grpo_vs_oracle<F: Real + Tol>(ids: &[u32], g: usize, r: &[f64], scale: bool) {
    let groups = GroupIndex::new(ids, g).unwrap();
    let x = seen::<F>(r);
    let mut out = vec![F::ZERO; r.len()];
    let sc = if scale { Scale::Group } else { Scale::None };
    grpo(
        &mut out,
        &to::<F>(r),
        &groups,
        &Grpo::new(sc, F::lit(1e-6), Singleton::Zero).unwrap(),
    )
    .unwrap();
    let want = oracle::grpo(&x, ids, g, 1e-6, scale, |_| 0.0);
    // f32: the advantage is O(√K); compare with a tolerance relative to that scale.
    let (rt, at) = F::ORACLE;
    assert_all_close("grpo", &widen(&out), &want, rt, at * 10.0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn grpo_matches_oracle_and_centres_groups((ids, g, r) in grouped_rewards(), scale in any::<bool>()) {
        grpo_vs_oracle::<f64>(&ids, g, &r, scale);
        grpo_vs_oracle::<f32>(&ids, g, &r, scale);
        let groups = GroupIndex::new(&ids, g).unwrap();
        let mut out = vec![0.0f64; r.len()];
        grpo(&mut out, &r, &groups, &Grpo::default()).unwrap();
        for rows in oracle::members(&ids, g) {
            let s: f64 = rows.iter().map(|&i| out[i]).sum();
            prop_assert!(s.abs() < 1e-9 * rows.len() as f64, "group sum {s}");
        }
    }

    #[test]
    fn grpo_is_shift_invariant((ids, g, r) in grouped_rewards(), c in -100.0..100.0f64) {
        let groups = GroupIndex::new(&ids, g).unwrap();
        let shifted: Vec<f64> = r.iter().map(|x| x + c).collect();
        for scale in [Scale::Group, Scale::None, Scale::Batch] {
            let p = Grpo::new(scale, 1e-6, Singleton::Zero).unwrap();
            let (mut a, mut b) = (vec![0.0; r.len()], vec![0.0; r.len()]);
            grpo(&mut a, &r, &groups, &p).unwrap();
            grpo(&mut b, &shifted, &groups, &p).unwrap();
            // Shifting changes the rounding of (r + c) − mean; compare at the scale of c.
            assert_all_close("shift", &b, &a, 1e-9, 1e-9 * (1.0 + c.abs()) * 1e3);
        }
    }

    #[test]
    fn scale_behaviour((ids, g, r) in grouped_rewards(), k in 0.01..100.0f64) {
        let groups = GroupIndex::new(&ids, g).unwrap();
        let scaled: Vec<f64> = r.iter().map(|x| x * k).collect();
        // With ε = 0, GRPO is exactly invariant to positive scaling; Dr. GRPO and RLOO are linear.
        let p = Grpo::new(Scale::Group, 0.0, Singleton::Zero).unwrap();
        let (mut a, mut b) = (vec![0.0; r.len()], vec![0.0; r.len()]);
        grpo(&mut a, &r, &groups, &p).unwrap();
        grpo(&mut b, &scaled, &groups, &p).unwrap();
        assert_all_close("grpo scale invariance", &b, &a, 1e-9, 1e-9);
        rloo(&mut a, &r, &groups, Singleton::Zero).unwrap();
        rloo(&mut b, &scaled, &groups, Singleton::Zero).unwrap();
        let ka: Vec<f64> = a.iter().map(|x| x * k).collect();
        assert_all_close("rloo linear", &b, &ka, 1e-9, 1e-9 * k);
        group_mean_baseline(&mut a, &r, &groups, Singleton::Zero).unwrap();
        group_mean_baseline(&mut b, &scaled, &groups, Singleton::Zero).unwrap();
        let ka: Vec<f64> = a.iter().map(|x| x * k).collect();
        assert_all_close("dr grpo linear", &b, &ka, 1e-9, 1e-9 * k);
    }

    #[test]
    fn rloo_is_reward_minus_mean_of_others((ids, g, r) in grouped_rewards()) {
        let groups = GroupIndex::new(&ids, g).unwrap();
        let want = oracle::rloo(&r, &ids, g);
        let mut out = vec![0.0f64; r.len()];
        rloo(&mut out, &r, &groups, Singleton::Zero).unwrap();
        assert_oracle("rloo f64", &out, &want);
        let x = seen::<f32>(&r);
        let want32 = oracle::rloo(&x, &ids, g);
        let mut out32 = vec![0.0f32; r.len()];
        rloo(&mut out32, &to::<f32>(&r), &groups, Singleton::Zero).unwrap();
        assert_all_close("rloo f32", &widen(&out32), &want32, 1e-5, 1e-5);
    }

    #[test]
    fn shuffling_rows_with_ids_permutes_outputs((ids, g, r) in grouped_rewards(), seed in any::<u64>()) {
        let n = r.len();
        let mut perm: Vec<usize> = (0..n).collect();
        let mut s = seed | 1;
        for i in (1..n).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            perm.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let ids2: Vec<u32> = perm.iter().map(|&p| ids[p]).collect();
        let r2: Vec<f64> = perm.iter().map(|&p| r[p]).collect();
        let (g1, g2) = (GroupIndex::new(&ids, g).unwrap(), GroupIndex::new(&ids2, g).unwrap());
        for est in [AdvantageEstimator::Grpo, AdvantageEstimator::Rloo, AdvantageEstimator::DrGrpo,
                    AdvantageEstimator::Gpg, AdvantageEstimator::Opo] {
            let (a, b) = (run_scalar(est, &r, &g1), run_scalar(est, &r2, &g2));
            let permuted: Vec<f64> = perm.iter().map(|&p| a[p]).collect();
            // Group statistics visit rows in ascending order, so reordering can change the
            // summation order: agreement to rounding, not bit-for-bit.
            assert_all_close(&format!("{est} permutation"), &b, &permuted, 1e-12, 1e-12);
        }
    }

    #[test]
    fn stable_regrouping_permutes_outputs_bit_for_bit((ids, g, r) in grouped_rewards()) {
        // Moving rows so that each group's rows keep their relative order (here: a stable sort
        // by group id, which makes the groups contiguous) permutes the outputs exactly: a group's
        // statistics depend on its values in ascending row order only (docs/numerics.md).
        let mut perm: Vec<usize> = (0..r.len()).collect();
        perm.sort_by_key(|&i| ids[i]);
        let ids2: Vec<u32> = perm.iter().map(|&p| ids[p]).collect();
        let r2: Vec<f64> = perm.iter().map(|&p| r[p]).collect();
        let (g1, g2) = (GroupIndex::new(&ids, g).unwrap(), GroupIndex::new(&ids2, g).unwrap());
        prop_assert!(g2.is_contiguous());
        for est in [AdvantageEstimator::Grpo, AdvantageEstimator::Rloo, AdvantageEstimator::DrGrpo,
                    AdvantageEstimator::Gpg, AdvantageEstimator::Opo] {
            let (a, b) = (run_scalar(est, &r, &g1), run_scalar(est, &r2, &g2));
            let permuted: Vec<f64> = perm.iter().map(|&p| a[p]).collect();
            prop_assert_eq!(&b, &permuted, "{}", est);
        }
    }

    #[test]
    fn layouts_agree((g, k) in uniform_groups(), seed in any::<u64>()) {
        // The same groups as a uniform index, a scattered index, and a borrowed (no-alloc) index.
        let n = g * k;
        let mut rng = seed | 1;
        let r: Vec<f64> = (0..n).map(|_| { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; (rng % 1000) as f64 / 100.0 }).collect();
        let uniform = GroupIndex::uniform(n, k).unwrap();
        let ids: Vec<u32> = (0..n).map(|i| (i / k) as u32).collect();
        let sorted = GroupIndex::new(&ids, g).unwrap();
        prop_assert_eq!(sorted.uniform_size(), Some(k));
        // Scatter: interleave the groups (row i belongs to group i % g).
        let ids_x: Vec<u32> = (0..n).map(|i| (i % g) as u32).collect();
        let scattered = GroupIndex::new(&ids_x, g).unwrap();
        let (mut off, mut ord) = (vec![0u32; g + 1], vec![0u32; n]);
        let borrowed = GroupIndex::new_in(&ids_x, g, &mut off, &mut ord).unwrap();
        let rx: Vec<f64> = (0..n).map(|i| r[(i % g) * k + i / g]).collect();
        let mut a = vec![0.0; n];
        let mut b = vec![0.0; n];
        let mut c = vec![0.0; n];
        let p = Grpo::default();
        grpo(&mut a, &r, &uniform, &p).unwrap();
        grpo(&mut b, &rx, &scattered, &p).unwrap();
        grpo(&mut c, &rx, &borrowed, &p).unwrap();
        let back: Vec<f64> = (0..n).map(|i| b[(i % k) * g + i / k]).collect();
        assert_all_close("uniform vs scattered", &back, &a, 0.0, 0.0);
        assert_all_close("owned vs borrowed", &c, &b, 0.0, 0.0);
        // pass@k and OPO (their own slice paths on contiguous layouts): bit-identical too.
        let lens: Vec<f64> = (0..n).map(|i| ((i * 7) % 5) as f64).collect();
        let lx: Vec<f64> = (0..n).map(|i| lens[(i % g) * k + i / g]).collect();
        grpo_passk(&mut a, &r, &uniform, true, 1e-6).unwrap();
        grpo_passk(&mut b, &rx, &scattered, true, 1e-6).unwrap();
        let back: Vec<f64> = (0..n).map(|i| b[(i % k) * g + i / k]).collect();
        prop_assert_eq!(&back, &a);
        opo(&mut a, &r, &lens, &uniform, Singleton::Zero).unwrap();
        opo(&mut b, &rx, &lx, &scattered, Singleton::Zero).unwrap();
        let back: Vec<f64> = (0..n).map(|i| b[(i % k) * g + i / k]).collect();
        prop_assert_eq!(&back, &a);
    }

    #[test]
    fn gae_limits_and_oracle((b, t, m, x) in masked_tokens(9, 12), holes in any::<bool>(), g in 0.0..=1.0f64, l in 0.0..=1.0f64) {
        // Optionally punch holes into the mask (multi-turn observation spans).
        let mut mask_bits = m.clone();
        if holes {
            for (i, v) in mask_bits.iter_mut().enumerate() { if i % 3 == 1 { *v = false; } }
        }
        let mask = Mask::new(&mask_bits, t).unwrap();
        let rewards: Vec<f64> = x.iter().map(|v| v * 0.5).collect();
        let values: Vec<f64> = x.iter().rev().cloned().collect();
        let (mut adv, mut ret) = (vec![0.0; b * t], vec![0.0; b * t]);
        gae(&mut adv, &mut ret, &rewards, &values, mask, &Gae::new(g, l).unwrap()).unwrap();
        for i in 0..b {
            let row = i * t..(i + 1) * t;
            let want = oracle::gae_row(&rewards[row.clone()], &values[row.clone()], &mask_bits[row.clone()], g, l);
            assert_all_close("gae oracle", &adv[row.clone()], &want, 1e-10, 1e-10);
            // λ = 1: Monte Carlo return minus value; λ = 0: the TD error (checked via the oracle,
            // whose λ = 1 and λ = 0 forms reduce to these).
            let mc = oracle::mc_returns(&rewards[row.clone()], &mask_bits[row.clone()], g);
            let (mut a1, mut r1) = (vec![0.0; b * t], vec![0.0; b * t]);
            gae(&mut a1, &mut r1, &rewards, &values, mask, &Gae::new(g, 1.0).unwrap()).unwrap();
            for j in row.clone() {
                if mask_bits[j] {
                    prop_assert!((a1[j] - (mc[j - i * t] - values[j])).abs() < 1e-9);
                    prop_assert!((r1[j] - mc[j - i * t]).abs() < 1e-9);
                }
            }
            let (mut a0, mut r0) = (vec![0.0; b * t], vec![0.0; b * t]);
            gae(&mut a0, &mut r0, &rewards, &values, mask, &Gae::new(g, 0.0).unwrap()).unwrap();
            let valid: Vec<usize> = row.clone().filter(|&j| mask_bits[j]).collect();
            for (k, &j) in valid.iter().enumerate() {
                let next_v = valid.get(k + 1).map_or(0.0, |&u| values[u]);
                prop_assert!((a0[j] - (rewards[j] + g * next_v - values[j])).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn discounted_returns_match_oracle((b, t, m, x) in masked_tokens(4, 12), g in 0.0..=1.0f64) {
        let mask = Mask::new(&m, t).unwrap();
        let mut out = vec![0.0; b * t];
        discounted_returns(&mut out, &x, mask, g).unwrap();
        for i in 0..b {
            let row = i * t..(i + 1) * t;
            assert_all_close("returns", &out[row.clone()], &oracle::mc_returns(&x[row.clone()], &m[row], g), 1e-12, 1e-12);
        }
        let mut out32 = vec![0.0f32; b * t];
        discounted_returns(&mut out32, &to::<f32>(&x), mask, g as f32).unwrap();
        assert_all_close("returns f32", &widen(&out32), &out, 1e-5, 1e-5);
    }

    #[test]
    fn whitening_standardizes_valid_tokens((_b, t, m, x) in masked_tokens(6, 10)) {
        let mask = Mask::new(&m, t).unwrap();
        let n = mask.count();
        prop_assume!(n >= 2);
        let vals: Vec<f64> = x.iter().zip(&m).filter(|(_, b)| **b).map(|(v, _)| *v).collect();
        prop_assume!(vals.iter().any(|&v| v != vals[0]));
        let mut out = vec![0.0; x.len()];
        masked_whiten(&mut out, &x, mask, &Whiten::new(true, true, 0.0, rewardkit_core::stats::VarEps::AddToVar).unwrap()).unwrap();
        let w: Vec<f64> = out.iter().zip(&m).filter(|(_, b)| **b).map(|(v, _)| *v).collect();
        let (mean, sd) = oracle::mean_std(&w);
        prop_assert!(mean.abs() < 1e-9 && (sd - 1.0).abs() < 1e-9, "mean {mean} sd {sd}");
    }

    #[test]
    fn f32_agrees_with_f64_for_every_estimator((ids, g, r) in grouped_rewards(), t in 1usize..5) {
        let n = r.len();
        let groups = GroupIndex::new(&ids, g).unwrap();
        let mut tok = vec![0.0f64; n * t];
        for i in 0..n { tok[i * t + t - 1] = r[i]; }
        let tok = seen::<f32>(&tok);
        let bits = vec![true; n * t];
        let mask = Mask::new(&bits, t).unwrap();
        let values: Vec<f64> = (0..n * t).map(|i| (i % 7) as f64 * 0.25 - 0.5).collect();
        let old: Vec<f64> = (0..n * t).map(|i| -0.1 - (i % 5) as f64 * 0.3).collect();
        let spp: Vec<f64> = old.iter().map(|l| (2.0 * l).exp() + 0.05).collect();
        let comps: Vec<f64> = (0..n * 2).map(|i| seen::<f32>(&[r[i / 2] * if i % 2 == 0 { 1.0 } else { -0.5 }])[0]).collect();
        let weights = [1.0, 0.5];
        for est in AdvantageEstimator::ALL {
            if est == AdvantageEstimator::GrpoPassK && ids.iter().fold(vec![0; g], |mut c, &i| { c[i as usize] += 1; c }).iter().any(|&c| c < 2) {
                continue;
            }
            let run = |preset| -> (Vec<f64>, Vec<f64>) {
                let cfg = AdvantageConfig::<f64>::new(preset).with_gamma_lambda(0.9, 0.8).unwrap();
                let inputs = AdvantageInputs::new(&tok, mask).with_groups(&groups).with_values(&values)
                    .with_reward_baselines(&r).with_token_stats(&old, &spp, None).with_components(&comps, &weights);
                let (mut a, mut rt) = (vec![0.0; n * t], vec![0.0; n * t]);
                est.compute(&mut a, &mut rt, &inputs, &cfg).unwrap();
                (a, rt)
            };
            let (a64, r64) = run(Preset::Rewardkit);
            let (tok32, v32, o32, s32, c32, b32) = (to::<f32>(&tok), to::<f32>(&values), to::<f32>(&old), to::<f32>(&spp), to::<f32>(&comps), to::<f32>(&r));
            let w32 = [1.0f32, 0.5];
            let cfg = AdvantageConfig::<f32>::new(Preset::Rewardkit).with_gamma_lambda(0.9, 0.8).unwrap();
            let inputs = AdvantageInputs::new(&tok32, mask).with_groups(&groups).with_values(&v32)
                .with_reward_baselines(&b32).with_token_stats(&o32, &s32, None).with_components(&c32, &w32);
            let (mut a32, mut rt32) = (vec![0.0f32; n * t], vec![0.0f32; n * t]);
            est.compute(&mut a32, &mut rt32, &inputs, &cfg).unwrap();
            // Inputs rounded to f32 differ by 1 ulp: tolerance scaled to the magnitude of the data.
            assert_all_close(&format!("{est} f32 advantages"), &widen(&a32), &a64, 1e-4, 1e-4);
            assert_all_close(&format!("{est} f32 returns"), &widen(&rt32), &r64, 1e-4, 1e-4);
        }
    }
}

/// Runs a per-sequence estimator through the enum (T = 1) and returns the per-row advantages.
fn run_scalar(est: AdvantageEstimator, r: &[f64], groups: &GroupIndex<'_>) -> Vec<f64> {
    let n = r.len();
    let bits = vec![true; n];
    let mask = Mask::new(&bits, 1).unwrap();
    let (mut a, mut rt) = (vec![0.0; n], vec![0.0; n]);
    est.compute(
        &mut a,
        &mut rt,
        &AdvantageInputs::new(r, mask).with_groups(groups),
        &AdvantageConfig::default(),
    )
    .unwrap();
    a
}

#[test]
fn hand_computed_values() {
    // GRPO, group {1, 0, 0, 0}: mean 1/4, sample std 1/2 → (1 − 1/4)/(1/2 + 1e-6).
    let g = GroupIndex::uniform(4, 4).unwrap();
    let mut out = [0.0f64; 4];
    grpo(&mut out, &[1.0, 0.0, 0.0, 0.0], &g, &Grpo::default()).unwrap();
    assert!((out[0] - 0.75 / (0.5 + 1e-6)).abs() < 1e-15);
    assert!((out[1] + 0.25 / (0.5 + 1e-6)).abs() < 1e-15);
    // RLOO, {3, 1, 2}: 3 − 1.5, 1 − 2.5, 2 − 2.
    let g3 = GroupIndex::uniform(3, 3).unwrap();
    let mut o3 = [0.0f64; 3];
    rloo(&mut o3, &[3.0, 1.0, 2.0], &g3, Singleton::Zero).unwrap();
    assert_eq!(o3, [1.5, -1.5, 0.0]);
    // Pass@k, {0.2, 0.9, 0.5}: only the best gets 0.9 − 0.5.
    grpo_passk(&mut o3, &[0.2, 0.9, 0.5], &g3, false, 0.0).unwrap();
    assert!((o3[1] - 0.4).abs() < 1e-15 && o3[0] == 0.0 && o3[2] == 0.0);
    // OPO, lengths {2, 6}, rewards {1, 0}: b = 2/8 = 0.25.
    let g2 = GroupIndex::uniform(2, 2).unwrap();
    let mut o2 = [0.0f64; 2];
    opo(&mut o2, &[1.0, 0.0], &[2.0, 6.0], &g2, Singleton::Zero).unwrap();
    assert_eq!(o2, [0.75, -0.25]);
    // REINFORCE++ with γ = 0.5 on one row [0, 0, 1] and one row [1, 0, 0] (all valid):
    // G = [0.25, 0.5, 1, 1, 0, 0]; mean 0.4583.., whitened with Bessel.
    let bits = [true; 6];
    let mask = Mask::new(&bits, 3).unwrap();
    let (mut a, mut r) = ([0.0f64; 6], [0.0f64; 6]);
    reinforce_plus_plus(
        &mut a,
        &mut r,
        &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        mask,
        0.5,
        &Whiten::default(),
    )
    .unwrap();
    assert_eq!(r, [0.25, 0.5, 1.0, 1.0, 0.0, 0.0]);
    let mean = 2.75 / 6.0;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0;
    assert!((a[2] - (1.0 - mean) / (var + 1e-8).sqrt()).abs() < 1e-12);
    // TRL-style aggregations with one component reduce to GRPO / batch normalization.
    let mut s = [0.0f64; 4];
    sum_then_normalize(&mut s, &[1.0, 0.0, 0.0, 0.0], &[1.0], &g, &Grpo::default()).unwrap();
    assert!((s[0] - 0.75 / (0.5 + 1e-6)).abs() < 1e-15);
    normalize_then_sum(&mut s, &[1.0, 0.0, 0.0, 0.0], &[2.0], &g, 0.0).unwrap();
    // per-group normalized: [1.5, −0.5, −0.5, −0.5] ×2 → batch-normalized (mean 0, sd 2) → /2.
    assert_all_close(
        "normalize_then_sum",
        &s,
        &[1.5, -0.5, -0.5, -0.5],
        1e-12,
        1e-12,
    );
}

#[test]
fn bad_input_gives_typed_errors() {
    let g = GroupIndex::uniform(2, 2).unwrap();
    let mut out = [0.0f64; 2];
    // Empty batch.
    assert_eq!(
        GroupIndex::new(&[], 1).unwrap_err(),
        Error::Empty { what: "group ids" }
    );
    assert!(matches!(Mask::new(&[], 1), Err(Error::Empty { .. })));
    // Length mismatch.
    assert_eq!(
        grpo(&mut out, &[1.0, 2.0, 3.0], &g, &Grpo::default()),
        Err(Error::LengthMismatch {
            what: "scores",
            expected: 2,
            got: 3
        })
    );
    assert!(matches!(
        grpo(&mut [0.0; 3], &[1.0, 2.0], &g, &Grpo::default()),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    // Group id out of range.
    assert_eq!(
        GroupIndex::new(&[0, 5], 2).unwrap_err(),
        Error::GroupIdOutOfRange {
            row: 1,
            id: 5,
            n_groups: 2
        }
    );
    // NaN and infinite rewards.
    assert_eq!(
        grpo(&mut out, &[1.0, f64::NAN], &g, &Grpo::default()),
        Err(Error::NonFinite {
            what: "scores",
            index: 1
        })
    );
    assert_eq!(
        rloo(&mut out, &[f64::INFINITY, 1.0], &g, Singleton::Zero),
        Err(Error::NonFinite {
            what: "scores",
            index: 0
        })
    );
    let bits = [true, true];
    let mask = Mask::new(&bits, 2).unwrap();
    let (mut a, mut r) = ([0.0f64; 2], [0.0f64; 2]);
    assert!(matches!(
        gae(
            &mut a,
            &mut r,
            &[0.0, f64::NAN],
            &[0.0, 0.0],
            mask,
            &Gae::default()
        ),
        Err(Error::NonFinite {
            what: "rewards",
            index: 1
        })
    ));
    // Negative or non-finite parameters.
    assert!(matches!(
        Grpo::new(Scale::Group, -1e-6f64, Singleton::Zero),
        Err(Error::InvalidParam { name: "eps", .. })
    ));
    assert!(matches!(
        Grpo::new(Scale::Group, f64::NAN, Singleton::Zero),
        Err(Error::InvalidParam { name: "eps", .. })
    ));
    assert!(matches!(
        Gae::new(-0.1f64, 0.9),
        Err(Error::InvalidParam { name: "gamma", .. })
    ));
    assert!(matches!(
        Gae::new(0.9f64, f64::INFINITY),
        Err(Error::InvalidParam { name: "lambda", .. })
    ));
    assert!(matches!(
        discounted_returns(&mut a, &[0.0, 1.0], mask, 1.5),
        Err(Error::InvalidParam { name: "gamma", .. })
    ));
    assert!(matches!(
        AdvantageConfig::<f64>::default().with_eps(-1.0),
        Err(Error::InvalidParam { .. })
    ));
    // Missing inputs through the enum.
    let rewards = [0.0, 1.0];
    let e = AdvantageEstimator::Gae.compute(
        &mut a,
        &mut r,
        &AdvantageInputs::new(&rewards, mask),
        &AdvantageConfig::default(),
    );
    assert_eq!(e, Err(Error::MissingInput { what: "values" }));
    let e = AdvantageEstimator::Grpo.compute(
        &mut a,
        &mut r,
        &AdvantageInputs::new(&rewards, mask),
        &AdvantageConfig::default(),
    );
    assert_eq!(e, Err(Error::MissingInput { what: "groups" }));
    // Singletons under OpenRLHF's rule are an error; under verl's they keep the raw reward.
    let single = GroupIndex::new(&[0, 1], 2).unwrap();
    let p = Grpo::<f64>::from_preset(Preset::OpenRlhf, Scale::Group);
    assert!(matches!(
        grpo(&mut out, &[1.0, 2.0], &single, &p),
        Err(Error::GroupTooSmall { .. })
    ));
    grpo(
        &mut out,
        &[1.0, 2.0],
        &single,
        &Grpo::from_preset(Preset::Verl, Scale::Group),
    )
    .unwrap();
    // verl divides by its float32 std tensor: f32(1 + 1e-6) = 1 + 8·2⁻²³.
    assert_eq!(
        out,
        [1.0 / 1.000_000_953_674_316_4, 2.0 / 1.000_000_953_674_316_4]
    );
    // All-masked batch: whitening has nothing to standardize.
    let none = [false, false];
    let m0 = Mask::new(&none, 2).unwrap();
    assert!(matches!(
        reinforce_plus_plus(&mut a, &mut r, &[0.0, 1.0], m0, 1.0, &Whiten::default()),
        Err(Error::TooFewValid { .. })
    ));
    // Unknown names list the valid ones.
    let e = "grpo2"
        .parse::<AdvantageEstimator>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("reinforce_plus_plus_baseline") && e.contains("gae"));
}

#[test]
fn zero_variance_groups_give_exact_zeros() {
    // verl PR #6348: values equal up to rounding must not become O(1) advantages. Exactly equal
    // values give exactly 0 in every preset; nearly-equal values keep their (real) signal.
    let g = GroupIndex::uniform(3, 3).unwrap();
    for preset in [
        Preset::Rewardkit,
        Preset::Verl,
        Preset::Trl,
        Preset::OpenRlhf,
    ] {
        let p = Grpo::<f64>::from_preset(preset, Scale::Group);
        let mut out = [1.0f64; 3];
        grpo(&mut out, &[0.1, 0.1, 0.1], &g, &p).unwrap();
        assert_eq!(out, [0.0; 3], "{preset}");
        let mut o32 = [1.0f32; 3];
        grpo(
            &mut o32,
            &[1000.1f32; 3],
            &g,
            &Grpo::<f32>::from_preset(preset, Scale::Group),
        )
        .unwrap();
        assert_eq!(o32, [0.0; 3], "{preset} f32");
    }
    // 1.0 vs 1.00001: canonical GRPO gives ±0.62-ish (verl's loop), not ±0.005.
    let g2 = GroupIndex::uniform(2, 2).unwrap();
    let mut out = [0.0f64; 2];
    grpo(&mut out, &[1.0, 1.00001], &g2, &Grpo::default()).unwrap();
    let sd = (0.00001f64 / 2.0).hypot(0.00001 / 2.0);
    assert!((out[1] - 0.000005 / (sd + 1e-6)).abs() < 1e-9, "{out:?}");
}

#[test]
fn fuzz_regressions() {
    // fuzz/advantages crash-dec948a5: finite f32 rewards whose RLOO advantage exceeds f32::MAX
    // ((x − mean)·n/(n−1) = −3.8e38) came back as −∞. Now an Overflow error.
    let g = GroupIndex::new(&[0, 0], 1).unwrap();
    let mut out = [0.0f32; 2];
    assert!(matches!(
        rloo(
            &mut out,
            &[-3.389_489_6e38, 4.255_736_3e37],
            &g,
            Singleton::Raw
        ),
        Err(Error::Overflow { .. })
    ));
    // GRPO on the same group is fine (|A| <= (n−1)/√n).
    grpo(
        &mut out,
        &[-3.389_489_6e38, 4.255_736_3e37],
        &g,
        &Grpo::default(),
    )
    .unwrap();
    assert!(out.iter().all(|x| x.is_finite()));
    // Second crash: ReMax return summing 60 rewards of −3.39e38 overflowed f32.
    let bits: Vec<bool> = (0..120).map(|i| i % 2 == 0).collect();
    let mask = Mask::new(&bits, 120).unwrap();
    let rewards = vec![-3.389_546_6e38f32; 120];
    let (mut a, mut r) = (vec![0.0f32; 120], vec![0.0f32; 120]);
    assert!(matches!(
        AdvantageEstimator::Remax.compute(
            &mut a,
            &mut r,
            &AdvantageInputs::new(&rewards, mask).with_reward_baselines(&[-3.389_546_6e38]),
            &AdvantageConfig::new(Preset::OpenRlhf)
        ),
        Err(Error::Overflow { .. })
    ));
}
