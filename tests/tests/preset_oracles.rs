//! The framework presets against independent loops written from each framework's code, on random
//! batches that include singleton groups, zero-variance groups, ties, empty responses and (for TRL)
//! unscorable (NaN) rewards: the golden files are a subset, the contract must hold beyond them.

use proptest::prelude::*;
use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, OpenRlhfAdvantage, OpenRlhfEstimator, Scale, TrlAggregation,
    openrlhf_advantages_and_returns, trl_grpo_advantages,
};
use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, Preset};
use rewardkit_tests::approx_eq::assert_all_close;
use rewardkit_tests::oracle::members;

/// torch.std (unbiased) of a slice.
fn torch_std(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// verl `masked_whiten`: masked means divide by (Σm + 1e-8), unbiased variance, rsqrt(var + 1e-8).
fn verl_masked_whiten(x: &[f64], m: &[bool]) -> Vec<f64> {
    let cnt = m.iter().filter(|&&b| b).count() as f64;
    let mean = x
        .iter()
        .zip(m)
        .filter(|(_, b)| **b)
        .map(|(v, _)| v)
        .sum::<f64>()
        / (cnt + 1e-8);
    let var = x
        .iter()
        .zip(m)
        .filter(|(_, b)| **b)
        .map(|(v, _)| (v - mean).powi(2))
        .sum::<f64>()
        / (cnt + 1e-8)
        * (cnt / (cnt - 1.0));
    x.iter().map(|v| (v - mean) / (var + 1e-8).sqrt()).collect()
}

/// A random batch: group ids (shuffled, singletons and ties likely), `(B, T)` prefix mask with some
/// empty rows, outcome rewards on the last valid token (or the last column for an empty row).
fn batch() -> impl Strategy<Value = (Vec<u32>, usize, usize, Vec<bool>, Vec<f64>, Vec<f64>)> {
    rewardkit_tests::strategies::group_ids().prop_flat_map(|(ids, g)| {
        let b = ids.len();
        (
            Just(ids),
            Just(g),
            2usize..6,
            prop::collection::vec(0usize..6, b),
            prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), -3.0..3.0f64], b),
            prop::collection::vec(-1.0..1.0f64, b * 6),
        )
            .prop_map(|(ids, g, t, lens, scores, values)| {
                let b = ids.len();
                let mut m = vec![false; b * t];
                let mut r = vec![0.0; b * t];
                for i in 0..b {
                    let l = lens[i].min(t);
                    for j in 0..l {
                        m[i * t + j] = true;
                    }
                    r[i * t + l.max(1) - 1] = scores[i];
                }
                (ids, g, t, m, r, values[..b * t].to_vec())
            })
    })
}

fn run(
    est: AdvantageEstimator,
    cfg: &AdvantageConfig<f64>,
    ids: &[u32],
    g: usize,
    t: usize,
    m: &[bool],
    r: &[f64],
    v: &[f64],
) -> Option<(Vec<f64>, Vec<f64>)> {
    let groups = GroupIndex::new(ids, g).unwrap();
    let mask = Mask::new(m, t).unwrap();
    let (mut a, mut ret) = (vec![0.0; r.len()], vec![0.0; r.len()]);
    est.compute(
        &mut a,
        &mut ret,
        &AdvantageInputs::new(r, mask)
            .with_groups(&groups)
            .with_values(v),
        cfg,
    )
    .ok()
    .map(|()| (a, ret))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn verl_group_estimators_match_verl_loops((ids, g, t, m, r, v) in batch(), norm in any::<bool>()) {
        let b = ids.len();
        // Sequence scores over valid tokens only (an empty row's reward sits at a masked
        // position, which is never read).
        let scores: Vec<f64> = r.chunks(t).zip(m.chunks(t)).map(|(row, mr)| row.iter().zip(mr).filter(|(_, b)| **b).map(|(x, _)| x).sum()).collect();
        let groups = members(&ids, g);
        let cfg = AdvantageConfig::new(Preset::Verl).with_norm_by_std(norm);
        // grpo: singleton μ = 0, σ = torch.tensor(1.0) (float32, so σ + ε is a float32 sum).
        let mut want = vec![0.0; b];
        for rows in &groups {
            let vals: Vec<f64> = rows.iter().map(|&i| scores[i]).collect();
            let (mean, denom) = if vals.len() == 1 { (0.0, f64::from(1.0f32 + 1e-6f32)) } else { (vals.iter().sum::<f64>() / vals.len() as f64, torch_std(&vals) + 1e-6) };
            for &i in rows {
                want[i] = if norm { (scores[i] - mean) / denom } else { scores[i] - mean };
            }
        }
        let (a, ret) = run(AdvantageEstimator::Grpo, &cfg, &ids, g, t, &m, &r, &v).unwrap();
        let tok: Vec<f64> = (0..b * t).map(|k| want[k / t] * f64::from(u8::from(m[k]))).collect();
        assert_all_close("verl grpo", &a, &tok, 1e-9, 1e-12);
        assert_all_close("verl grpo returns", &ret, &tok, 1e-9, 1e-12);
        // rloo: singleton keeps the score.
        for rows in &groups {
            let n = rows.len() as f64;
            let mean = rows.iter().map(|&i| scores[i]).sum::<f64>() / n;
            for &i in rows {
                want[i] = if rows.len() == 1 { scores[i] } else { scores[i] * n / (n - 1.0) - mean * n / (n - 1.0) };
            }
        }
        let (a, _) = run(AdvantageEstimator::Rloo, &cfg, &ids, g, t, &m, &r, &v).unwrap();
        let tok: Vec<f64> = (0..b * t).map(|k| want[k / t] * f64::from(u8::from(m[k]))).collect();
        assert_all_close("verl rloo", &a, &tok, 1e-9, 1e-12);
        // gpg: α = B / max(#nonzero, 1) in float32.
        let nz = scores.iter().filter(|&&s| s != 0.0).count().max(1);
        let alpha = f64::from((b as f64 / nz as f64) as f32);
        for rows in &groups {
            let mean = if rows.len() == 1 { 0.0 } else { rows.iter().map(|&i| scores[i]).sum::<f64>() / rows.len() as f64 };
            for &i in rows {
                want[i] = alpha * (scores[i] - mean);
            }
        }
        let (a, _) = run(AdvantageEstimator::Gpg, &cfg, &ids, g, t, &m, &r, &v).unwrap();
        let tok: Vec<f64> = (0..b * t).map(|k| want[k / t] * f64::from(u8::from(m[k]))).collect();
        assert_all_close("verl gpg", &a, &tok, 1e-9, 1e-12);
        // opo: length-weighted baseline; verl divides 0/0 for all-empty groups (skip those).
        let lens: Vec<f64> = m.chunks(t).map(|row| row.iter().filter(|&&x| x).count() as f64).collect();
        let mut skip = false;
        for rows in &groups {
            let bsl = if rows.len() == 1 { 0.0 } else {
                let den: f64 = rows.iter().map(|&i| lens[i]).sum();
                if den == 0.0 { skip = true; 0.0 } else { rows.iter().map(|&i| lens[i] * scores[i]).sum::<f64>() / den }
            };
            for &i in rows {
                want[i] = scores[i] - bsl;
            }
        }
        if !skip {
            let (a, _) = run(AdvantageEstimator::Opo, &cfg, &ids, g, t, &m, &r, &v).unwrap();
            let tok: Vec<f64> = (0..b * t).map(|k| want[k / t] * f64::from(u8::from(m[k]))).collect();
            assert_all_close("verl opo", &a, &tok, 1e-9, 1e-12);
        }
        // reinforce_plus_plus_baseline: tile, masked_whiten, re-mask (needs >= 2 valid tokens).
        if m.iter().filter(|&&x| x).count() >= 2 {
            for rows in &groups {
                let mean = if rows.len() == 1 { 0.0 } else { rows.iter().map(|&i| scores[i]).sum::<f64>() / rows.len() as f64 };
                for &i in rows {
                    want[i] = scores[i] - mean;
                }
            }
            let tiled: Vec<f64> = (0..b * t).map(|k| want[k / t] * f64::from(u8::from(m[k]))).collect();
            let w = verl_masked_whiten(&tiled, &m);
            let expect: Vec<f64> = w.iter().zip(&m).map(|(x, &b)| if b { *x } else { 0.0 }).collect();
            let (a, _) = run(AdvantageEstimator::ReinforcePlusPlusBaseline, &cfg, &ids, g, t, &m, &r, &v).unwrap();
            assert_all_close("verl rf++ baseline", &a, &expect, 1e-8, 1e-10);
        }
    }

    #[test]
    fn verl_gae_matches_verl_loop((ids, g, t, m, r, v) in batch(), gamma in 0.5..=1.0f64, lam in 0.0..=1.0f64) {
        prop_assume!(m.iter().filter(|&&x| x).count() >= 2);
        let b = ids.len();
        // verl's loop over t with nextvalues/lastgaelam carried through masked positions.
        let mut adv = vec![0.0; b * t];
        for i in 0..b {
            let (mut nextv, mut last) = (0.0, 0.0);
            for j in (0..t).rev() {
                let k = i * t + j;
                let mk = f64::from(u8::from(m[k]));
                let delta = r[k] + gamma * nextv - v[k];
                let l_ = delta + gamma * lam * last;
                nextv = v[k] * mk + (1.0 - mk) * nextv;
                last = l_ * mk + (1.0 - mk) * last;
                adv[k] = last;
            }
        }
        // verl's returns are A + V everywhere; at masked positions that reads a masked V, which
        // rewardkit never does: it writes 0 there.
        let ret: Vec<f64> = adv.iter().zip(&v).zip(&m).map(|((a, v), &b)| if b { a + v } else { 0.0 }).collect();
        let want = verl_masked_whiten(&adv, &m);
        let cfg = AdvantageConfig::new(Preset::Verl).with_gamma_lambda(gamma, lam).unwrap();
        let (a, rt) = run(AdvantageEstimator::Gae, &cfg, &ids, g, t, &m, &r, &v).unwrap();
        assert_all_close("verl gae returns", &rt, &ret, 1e-10, 1e-12);
        assert_all_close("verl gae advantages", &a, &want, 1e-8, 1e-10);
    }

    #[test]
    fn trl_matches_trl_loop(g in 1usize..5, k in 2usize..6, vals in prop::collection::vec(prop_oneof![Just(f64::NAN), Just(0.0), Just(1.0), -2.0..2.0f64], 40), w in 0.5..2.0f64) {
        // TRL: contiguous groups of K; NaN = unscorable; nanstd with a float32 Bessel factor.
        let b = g * k;
        let comps: Vec<f64> = vals[..b * 2].to_vec();
        let weights = [1.0, w];
        // Means of equal values are taken as that value: the contract's exact zeros for
        // zero-variance groups (TRL's own torch sums are pairwise, a naive loop is not exact).
        let mean_of = |v: &[f64]| -> f64 {
            if v.iter().all(|&x| x == v[0]) { v[0] } else { v.iter().sum::<f64>() / v.len() as f64 }
        };
        let nanstd = |x: &[f64]| -> f64 {
            let v: Vec<f64> = x.iter().copied().filter(|x| !x.is_nan()).collect();
            let c = v.len();
            if c <= 1 { return f64::NAN; }
            let mean = mean_of(&v);
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / c as f64;
            (var * f64::from((c as f64 / (c as f64 - 1.0)) as f32)).sqrt()
        };
        let nanmean = |x: &[f64]| -> f64 {
            let v: Vec<f64> = x.iter().copied().filter(|x| !x.is_nan()).collect();
            if v.is_empty() { f64::NAN } else { mean_of(&v) }
        };
        let total: Vec<f64> = (0..b).map(|i| {
            let (a, c) = (comps[2 * i], comps[2 * i + 1]);
            if a.is_nan() && c.is_nan() { f64::NAN } else {
                (if a.is_nan() { 0.0 } else { a }) + (if c.is_nan() { 0.0 } else { w * c })
            }
        }).collect();
        let groups = GroupIndex::uniform(b, k).unwrap();
        for scale in [Scale::Group, Scale::Batch, Scale::None] {
            let mut want = vec![0.0; b];
            let batch_sd = nanstd(&total);
            for gi in 0..g {
                let grp = &total[gi * k..(gi + 1) * k];
                let (mean, sd) = (nanmean(grp), nanstd(grp));
                for j in 0..k {
                    let x = total[gi * k + j] - mean;
                    let a = match scale { Scale::Group => x / (sd + 1e-4), Scale::Batch => x / (batch_sd + 1e-4), Scale::None => x };
                    want[gi * k + j] = if a.is_nan() { 0.0 } else { a };
                }
            }
            let mut out = vec![0.0; b];
            trl_grpo_advantages(&mut out, &comps, &weights, &groups, scale, TrlAggregation::SumThenNormalize).unwrap();
            assert_all_close("trl sum_then_normalize", &out, &want, 1e-9, 1e-12);
        }
    }

    #[test]
    fn openrlhf_matches_openrlhf_loop(g in 1usize..4, n in 2usize..5, t in 2usize..6, lens in prop::collection::vec(1usize..6, 16), rw in prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), -20.0..20.0f64], 16), kl in prop::collection::vec(-0.5..0.5f64, 96), beta in 0.0..0.1f64, est in 0usize..4) {
        let b = g * n;
        let est = [OpenRlhfEstimator::Rloo, OpenRlhfEstimator::GroupNorm, OpenRlhfEstimator::DrGrpo, OpenRlhfEstimator::ReinforceBaseline][est];
        let mut m = vec![false; b * t];
        for i in 0..b { for j in 0..lens[i].min(t) { m[i * t + j] = true; } }
        let rewards = &rw[..b];
        let kl = &kl[..b * t];
        // Shaping per group of n (prompt order), then clamp, eos placement, −β·kl, cumulative sums.
        let mut shaped = vec![0.0; b];
        for gi in 0..g {
            let grp = &rewards[gi * n..(gi + 1) * n];
            let s: f64 = grp.iter().sum();
            let mean = s / n as f64;
            let sd = torch_std(grp);
            for j in 0..n {
                let x = grp[j];
                shaped[gi * n + j] = match est {
                    OpenRlhfEstimator::Rloo => x - (s - x) / (n as f64 - 1.0),
                    OpenRlhfEstimator::GroupNorm => (x - mean) / (sd + 1e-9),
                    _ => x - mean,
                };
            }
        }
        let mut tok = vec![0.0; b * t];
        for i in 0..b {
            let eos = (0..t).rev().find(|&j| m[i * t + j]).unwrap();
            for j in 0..t {
                // Masked KL values are never read (OpenRLHF's KL is masked: 0 there).
                let kl_term = if m[i * t + j] { -beta * kl[i * t + j] } else { 0.0 };
                tok[i * t + j] = kl_term + if j == eos { shaped[i].clamp(-10.0, 10.0) } else { 0.0 };
            }
        }
        let mut want = vec![0.0; b * t];
        for i in 0..b {
            let mut acc = 0.0;
            for j in (0..t).rev() {
                acc += if m[i * t + j] { tok[i * t + j] } else { 0.0 };
                want[i * t + j] = acc;
            }
        }
        let info: Vec<f64> = tok.chunks(t).map(|r| r.iter().sum()).collect();
        let mut p = OpenRlhfAdvantage::<f64>::new(est, n);
        p.kl_coef = beta;
        let mask = Mask::new(&m, t).unwrap();
        let (mut a, mut ret, mut inf) = (vec![0.0; b * t], vec![0.0; b * t], vec![0.0; b]);
        openrlhf_advantages_and_returns(&mut a, &mut ret, &mut inf, rewards, kl, mask, None, &p).unwrap();
        assert_all_close("openrlhf returns", &ret, &want, 1e-10, 1e-12);
        assert_all_close("openrlhf info_return", &inf, &info, 1e-10, 1e-12);
        if est == OpenRlhfEstimator::ReinforceBaseline {
            // Global normalization in float32 statistics: f32-level agreement.
            let vals: Vec<f64> = want.iter().zip(&m).filter(|(_, b)| **b).map(|(x, _)| *x).collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / vals.len() as f64;
            let norm: Vec<f64> = want.iter().map(|x| (x - mean) / var.max(1e-8).sqrt()).collect();
            assert_all_close("openrlhf normalized", &a, &norm, 2e-5, 2e-5);
        } else {
            assert_all_close("openrlhf advantages", &a, &want, 1e-10, 1e-12);
        }
    }
}
