//! Properties of the reward catalogue, for f32 and f64 (f64 is the oracle for f32), plus
//! differential tests against plain-loop oracles transcribed from the reference code.

use proptest::prelude::*;
use rewardkit_core::reward::*;
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_core::{GroupIndex, Mask};
use rewardkit_tests::approx_eq::{assert_oracle, close};
use rewardkit_tests::fd::assert_grad;
use rewardkit_tests::strategies::{REWARD_RANGE, group_ids};

use super::oracle;

/// Response lengths.
fn length() -> impl Strategy<Value = u32> {
    1u32..=5000
}

/// Token sequences over a small vocabulary (so n-grams repeat).
fn tokens(max_len: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(0u32..4, 0..max_len)
}

proptest! {
    #![proptest_config(oracle::cases(128))]

    // ---------------------------------------------------------------- PAR

    #[test]
    fn par_bounded_matches_oracle_and_f32(
        r in REWARD_RANGE,
        refs in prop::collection::vec(REWARD_RANGE, 1..12),
        k in 0.1f64..3.0,
        m in 1usize..12,
    ) {
        let p = Par::<f64>::new(k, m).unwrap();
        let (v, g) = p.value_grad(r, &refs).unwrap();
        // |k·(r − ref)| ≤ 60 here, so strictly inside (0, 1) needs |·| < 36: check the closed
        // interval always and the open one when the inputs allow it.
        prop_assert!((0.0..=1.0).contains(&v));
        let span = refs.iter().take(m).map(|x| (k * (r - x)).abs()).fold(0.0, f64::max);
        if span < 30.0 {
            prop_assert!(v > 0.0 && v < 1.0);
        }
        prop_assert!(close(v, oracle::par(r, &refs, k, m), 1e-14, 1e-15));
        prop_assert!(g >= 0.0 && g <= k / 4.0 + 1e-15);
        let p32 = Par::<f32>::new(k as f32, m).unwrap();
        let refs32: Vec<f32> = refs.iter().map(|&x| x as f32).collect();
        let (v32, g32) = p32.value_grad(r as f32, &refs32).unwrap();
        // The f32 inputs are rounded: compare with the f64 value at the rounded inputs.
        let refs_r: Vec<f64> = refs32.iter().map(|&x| f64::from(x)).collect();
        let (vr, gr) = Par::<f64>::new(f64::from(k as f32), m).unwrap()
            .value_grad(f64::from(r as f32), &refs_r).unwrap();
        assert_oracle("par f32", &[v32, g32], &[vr, gr]);
    }

    #[test]
    fn par_gradient_matches_finite_differences(
        r in -5.0f64..5.0,
        refs in prop::collection::vec(-5.0f64..5.0, 1..6),
        k in 0.2f64..2.0,
    ) {
        let p = Par::<f64>::new(k, 10).unwrap();
        let (_, g) = p.value_grad(r, &refs).unwrap();
        assert_grad("par", &[r], &[g], 1e-5, 1e-7, |x| p.value(x[0], &refs).unwrap());
    }

    // ---------------------------------------------------------------- length rewards: monotone

    #[test]
    fn hapo_shorter_never_lower_when_correct(
        h in 1.0f64..3000.0, a in length(), b in length(), w in 0.0f64..=1.0, linear: bool,
    ) {
        let shape = if linear { HapoShape::Linear } else { HapoShape::Cosine };
        let p = Hapo::<f64>::new(w, shape).unwrap();
        let (s, l) = (a.min(b), a.max(b));
        let rs = p.length_reward(Some(h), s, true).unwrap();
        let rl = p.length_reward(Some(h), l, true).unwrap();
        prop_assert!(rs >= rl, "{rs} < {rl}");
        // Ranges: correct ∈ [−0.7w, w]; wrong ∈ [−w, 0] and never below a correct answer's total
        // when added to 0/1 correctness.
        prop_assert!(rs <= w + 1e-15 && rl >= -0.7 * w - 1e-15);
        let rw = p.length_reward(Some(h), l, false).unwrap();
        prop_assert!(rw <= 0.0 && rw >= -w - 1e-15);
        prop_assert!(1.0 + rl > rw);
        // f32 against the f64 oracle, and the cosine shape against the reference transcription.
        let p32 = Hapo::<f32>::new(w as f32, shape).unwrap();
        let r32 = p32.length_reward(Some(h), s, true).unwrap();
        let r64 = Hapo::<f64>::new(f64::from(w as f32), shape).unwrap()
            .length_reward(Some(h), s, true).unwrap();
        assert_oracle("hapo f32", &[r32], &[r64]);
        if !linear {
            prop_assert!(close(rs, oracle::hapo_cosine(Some(h), f64::from(s), true, w), 1e-14, 1e-15));
            prop_assert!(close(rw, oracle::hapo_cosine(Some(h), f64::from(l), false, w), 1e-14, 1e-15));
        }
    }

    #[test]
    fn laser_cosine_overlong_l1_monotone(
        a in length(), b in length(), target in 1u32..5000, alpha in 0.0f64..2.0,
        mode in prop::sample::select(vec![LaserMode::Reward, LaserMode::Penalty, LaserMode::Hybrid]),
        r0 in 0.0f64..5.0, dr in 0.0f64..5.0, de in 0.0f64..5.0,
    ) {
        let (s, l) = (a.min(b), a.max(b));
        let laser = Laser::new(alpha, target, mode).unwrap();
        prop_assert!(laser.value(s, true).unwrap() >= laser.value(l, true).unwrap());
        // Cosine with r_0 ≥ r_L ≥ r_exceed.
        let c = CosineLength::new(5000, (r0, r0 - dr), (-1.0, 0.0), r0 - dr - de).unwrap();
        prop_assert!(c.value(s, true).unwrap() >= c.value(l, true).unwrap());
        let c32 = CosineLength::new(5000, (r0 as f32, (r0 - dr) as f32), (-1.0, 0.0), (r0 - dr - de) as f32).unwrap();
        let v32 = c32.value(s, true).unwrap();
        let v64 = CosineLength::new(5000, (f64::from(r0 as f32), f64::from((r0 - dr) as f32)), (-1.0, 0.0), f64::from((r0 - dr - de) as f32)).unwrap().value(s, true).unwrap();
        assert_oracle("cosine f32", &[v32], &[v64]);
        // Overlong and L1-Max.
        let o = Overlong::new(5000, 1000.min(target), alpha).unwrap();
        prop_assert!(o.value(s).unwrap() >= o.value(l).unwrap());
        prop_assert!(o.value(l).unwrap() >= -alpha);
        let m = TargetLength::new(alpha / 100.0, 0.5, TargetMode::Max).unwrap();
        prop_assert!(m.value(true, s, target).unwrap() >= m.value(true, l, target).unwrap());
        // Truncation replacing by ρ ≤ every untruncated reward.
        let t = Truncation::new(target, TruncationMode::Replace(-1.0)).unwrap();
        let mut out = [0.0; 2];
        t.apply(&mut out, &[0.5, 0.5], &[s, l]).unwrap();
        prop_assert!(out[0] >= out[1]);
    }

    #[test]
    fn group_length_terms_monotone_within_groups(
        (ids, g) in group_ids(),
        lens in prop::collection::vec(length(), 48),
        correct in prop::collection::vec(any::<bool>(), 48),
    ) {
        let n = ids.len();
        let (lens, correct) = (&lens[..n], &correct[..n]);
        let groups = GroupIndex::new(&ids, g).unwrap();
        let mut kimi = vec![0.0; n];
        KimiLength::<f64>::default().rewards(&mut kimi, lens, correct, None, &groups).unwrap();
        let mut glp = vec![0.0; n];
        GroupLengthPenalty::<f64>::default().rewards(&mut glp, lens, correct, &groups).unwrap();
        let mut ld = vec![0.0; n];
        let state = LaserDState::new(2500);
        LaserD::<f64>::default().rewards(&mut ld, lens, correct, None, &groups, &state).unwrap();
        for i in 0..n {
            prop_assert!(kimi[i].abs() <= 0.2 + 1e-12);
            if !correct[i] {
                prop_assert!(kimi[i] <= 0.0 && glp[i] == 0.0 && ld[i] == 0.0);
            } else {
                prop_assert!(glp[i] <= 0.0 && glp[i] >= -0.4);
            }
            for j in 0..n {
                if ids[i] == ids[j] && correct[i] && correct[j] && lens[i] <= lens[j] {
                    prop_assert!(kimi[i] >= kimi[j] && glp[i] >= glp[j] && ld[i] >= ld[j]);
                }
            }
        }
    }

    // ---------------------------------------------------------------- HAPO history

    #[test]
    fn hapo_mean_matches_reference_code(
        batches in prop::collection::vec(
            prop::collection::vec((0u64..4, length(), any::<bool>()), 1..20), 1..8),
    ) {
        let mut hist = HapoHistory::new(HistoryMode::Mean);
        let (mut lens, mut counts) = (Default::default(), Default::default());
        for batch in &batches {
            let keys: Vec<u64> = batch.iter().map(|x| x.0).collect();
            let ls: Vec<u32> = batch.iter().map(|x| x.1).collect();
            let corr: Vec<bool> = batch.iter().map(|x| x.2).collect();
            hist.update(&keys, &ls, &corr).unwrap();
            oracle::hapo_mean_update(&mut lens, &mut counts, &keys, &ls, &corr);
            for k in 0..4u64 {
                prop_assert_eq!(hist.get(k), lens.get(&k).map(|&h| h as f64));
                prop_assert_eq!(
                    hist.entry(k).map(|e| e.mean_count),
                    counts.get(&k).map(|&c| c as u64)
                );
            }
        }
    }

    #[test]
    fn hapo_history_only_decreases(
        batches in prop::collection::vec(
            prop::collection::vec((0u64..6, length(), any::<bool>()), 1..12), 1..8),
    ) {
        let mut hist = HapoHistory::new(HistoryMode::Min);
        let mut mean = HapoHistory::new(HistoryMode::Mean);
        let mut exact = HapoHistory::new(HistoryMode::ExactMean);
        let mut seen: std::collections::HashMap<u64, (f64, f64)> = Default::default();
        for batch in &batches {
            let keys: Vec<u64> = batch.iter().map(|x| x.0).collect();
            let lens: Vec<u32> = batch.iter().map(|x| x.1).collect();
            let corr: Vec<bool> = batch.iter().map(|x| x.2).collect();
            let before = hist.clone();
            hist.update(&keys, &lens, &corr).unwrap();
            mean.update(&keys, &lens, &corr).unwrap();
            exact.update(&keys, &lens, &corr).unwrap();
            for (k, _) in hist.iter() {
                let h = hist.get(k).unwrap();
                if let Some(b) = before.get(k) {
                    prop_assert!(h <= b);
                }
                // Min mode equals the minimum correct length ever seen.
                let m = batches.iter().take_while(|b| !std::ptr::eq(*b, batch)).chain([batch])
                    .flatten().filter(|x| x.0 == k && x.2).map(|x| x.1).min().unwrap();
                prop_assert_eq!(h, f64::from(m));
            }
            for (&k, (&l, &c)) in keys.iter().zip(lens.iter().zip(&corr)) {
                if c {
                    let e = seen.entry(k).or_insert((f64::INFINITY, 0.0));
                    e.0 = e.0.min(f64::from(l));
                    e.1 = e.1.max(f64::from(l));
                }
            }
            // The exact mean stays within the range of correct lengths seen; the reference's
            // truncated mean never exceeds it and stays >= 1 (it can round below the shortest
            // correct length: see `hapo_mean_can_drift_below_the_shortest`).
            for (k, _) in exact.iter() {
                let (lo, hi) = seen[&k];
                let h = exact.get(k).unwrap();
                prop_assert!(h >= lo && h <= hi);
                let r = mean.get(k).unwrap();
                prop_assert!(r >= 1.0 && r <= hi);
            }
        }
    }

    // ---------------------------------------------------------------- potential shaping

    #[test]
    fn potential_shaping_telescopes(
        rewards in prop::collection::vec(REWARD_RANGE, 0..40),
        phis in prop::collection::vec(REWARD_RANGE, 41),
        gamma in 0.0f64..=1.0,
        zero: bool,
    ) {
        let t = rewards.len();
        let phi = &phis[..=t];
        let term = if zero { TerminalPotential::Zero } else { TerminalPotential::Keep };
        let mut out = vec![0.0; t];
        potential_shaping(&mut out, &rewards, phi, gamma, term).unwrap();
        let phi_t = if zero && t > 0 { 0.0 } else { phi[t] };
        let want = oracle::discounted(&rewards, gamma) + gamma.powi(t as i32) * phi_t - phi[0];
        let got = oracle::discounted(&out, gamma);
        prop_assert!(close(got, want, 1e-9, 1e-9), "{got} vs {want}");
        // f32 against the f64 oracle at the rounded inputs.
        let r32: Vec<f32> = rewards.iter().map(|&x| x as f32).collect();
        let p32: Vec<f32> = phi.iter().map(|&x| x as f32).collect();
        let mut o32 = vec![0.0f32; t];
        potential_shaping(&mut o32, &r32, &p32, gamma as f32, term).unwrap();
        let mut o64 = vec![0.0f64; t];
        let (r64, p64): (Vec<f64>, Vec<f64>) = (r32.iter().map(|&x| f64::from(x)).collect(), p32.iter().map(|&x| f64::from(x)).collect());
        potential_shaping(&mut o64, &r64, &p64, f64::from(gamma as f32), term).unwrap();
        let scaled: Vec<f64> = o64.iter().map(|x| x / 10.0).collect();
        let o32s: Vec<f32> = o32.iter().map(|x| x / 10.0).collect();
        assert_oracle("shaping f32", &o32s, &scaled);
    }

    // ---------------------------------------------------------------- noise

    #[test]
    fn flip_rate_zero_is_identity(
        (ids, g) in group_ids(),
        scores in prop::collection::vec(REWARD_RANGE, 48),
        seed: u64,
        rate in 0.0f64..=1.0,
        answered in prop::collection::vec(any::<bool>(), 48),
    ) {
        let n = ids.len();
        let scores = &scores[..n];
        let answered = answered[..n].to_vec();
        let groups = GroupIndex::new(&ids, g).unwrap();
        for unit in [FlipUnit::Group, FlipUnit::Sample] {
            let mut out = vec![0.0; n];
            let mut rng = SplitMix64::new(seed);
            FlipNoise::new(0.0, unit).unwrap().apply(&mut out, scores, Some(&answered), Some(&groups), &mut rng).unwrap();
            prop_assert_eq!(&out[..], scores);
            // The RNG stream does not depend on the rate.
            let mut rng2 = SplitMix64::new(seed);
            FlipNoise::new(rate, unit).unwrap().apply(&mut out, scores, Some(&answered), Some(&groups), &mut rng2).unwrap();
            let next = rng2.next_u64();
            prop_assert_eq!(rng.next_u64(), next);
            // Flipping twice with the same draws restores the input.
            let mut back = vec![0.0; n];
            FlipNoise::new(rate, unit).unwrap()
                .apply(&mut back, &out, Some(&answered), Some(&groups), &mut SplitMix64::new(seed)).unwrap();
            for (b, s) in back.iter().zip(scores) {
                prop_assert!(close(*b, *s, 1e-12, 1e-12));
            }
            // Responses without an answer keep their score; the stream ignores the answers.
            for i in (0..n).filter(|&i| !answered[i]) {
                prop_assert_eq!(out[i], scores[i]);
            }
            let mut rng3 = SplitMix64::new(seed);
            FlipNoise::new(rate, unit).unwrap().with_flip_unanswered(true)
                .apply(&mut back, scores, None, Some(&groups), &mut rng3).unwrap();
            prop_assert_eq!(rng3.next_u64(), next);
            // Where answered, both modes made the same decision from the same draws.
            for i in (0..n).filter(|&i| answered[i]) {
                prop_assert_eq!(back[i], out[i]);
            }
        }
    }

    // ---------------------------------------------------------------- process rewards

    #[test]
    fn pure_outcome_between_min_and_mean(
        steps in prop::collection::vec(-1.0f64..=1.0, 1..20),
        t in 0.01f64..5.0,
    ) {
        let p = Pure::new(t, true).unwrap();
        let mut w = vec![0.0; steps.len()];
        let o = p.min_form(&mut w, &steps).unwrap();
        let min = steps.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = steps.iter().sum::<f64>() / steps.len() as f64;
        prop_assert!(o >= min - 1e-12 && o <= mean + 1e-12, "{min} ≤ {o} ≤ {mean}");
        let s32: Vec<f32> = steps.iter().map(|&x| x as f32).collect();
        let mut w32 = vec![0.0f32; steps.len()];
        let o32 = Pure::new(t as f32, true).unwrap().min_form(&mut w32, &s32).unwrap();
        let s64: Vec<f64> = s32.iter().map(|&x| f64::from(x)).collect();
        let o64 = Pure::new(f64::from(t as f32), true).unwrap().min_form(&mut w, &s64).unwrap();
        assert_oracle("pure f32", &[o32], &[o64]);
    }

    #[test]
    fn clip_and_delta_bound_returns(
        steps in prop::collection::vec(0.0f64..=1.0, 1..20),
        eta in 0.0f64..1.0,
        keep_last: bool,
    ) {
        let k = steps.len();
        let mut out = vec![0.0; k];
        ProcessRefine::new(RefineMode::Clip { eta }).unwrap().apply(&mut out, &steps).unwrap();
        prop_assert!(out.iter().all(|&x| x <= 0.0));
        ProcessRefine::new(RefineMode::Delta { keep_last }).unwrap().apply(&mut out, &steps).unwrap();
        for t in 0..k {
            let suffix: f64 = out[t..].iter().sum();
            let want = if keep_last { steps[t] } else { steps[t] - steps[k - 1] };
            prop_assert!(close(suffix, want, 1e-12, 1e-12));
        }
        ProcessRefine::new(RefineMode::ClipDelta { eta, keep_last: true }).unwrap()
            .apply(&mut out, &steps).unwrap();
        // The return from the first step is the clipped first reward, ≤ 0.
        prop_assert!(out.iter().sum::<f64>() <= 1e-12);
    }

    // ---------------------------------------------------------------- robust

    #[test]
    fn ensembles_and_brme_ordering(
        b in 1usize..6, k in 1usize..6,
        vals in prop::collection::vec(REWARD_RANGE, 36),
        sig in prop::collection::vec(0.0f64..3.0, 36),
        lambda in 0.0f64..=1.0,
    ) {
        let scores = &vals[..b * k];
        let (mut mean, mut min, mut mms) = (vec![0.0; b], vec![0.0; b], vec![0.0; b]);
        Ensemble::Mean.aggregate(&mut mean, scores).unwrap();
        Ensemble::Min.aggregate(&mut min, scores).unwrap();
        Ensemble::MeanMinusStd(lambda).aggregate(&mut mms, scores).unwrap();
        let mut br = vec![0.0; b];
        brme(&mut br, scores, &sig[..b * k], lambda).unwrap();
        for i in 0..b {
            let row = &scores[i * k..(i + 1) * k];
            let hi = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(min[i] <= mean[i] + 1e-12 && mms[i] <= mean[i] + 1e-12);
            prop_assert!(br[i] >= min[i] - 1e-12 && br[i] <= hi + 1e-12);
        }
    }

    #[test]
    fn r_squared_bounds_and_affine_invariance(
        xs in prop::collection::vec(REWARD_RANGE, 2..30),
        ys in prop::collection::vec(REWARD_RANGE, 30),
        a in prop::sample::select(vec![-3.0f64, -0.5, 0.25, 2.0]),
        c in -5.0f64..5.0,
    ) {
        let ys = &ys[..xs.len()];
        let r2: f64 = r_squared(&xs, ys, None).unwrap();
        prop_assert!((0.0..=1.0).contains(&r2));
        let tx: Vec<f64> = xs.iter().map(|x| a * x + c).collect();
        prop_assert!(close(r_squared(&tx, ys, None).unwrap(), r2, 1e-8, 1e-10));
        let xc = xs.iter().all(|&x| x == xs[0]);
        let yc = ys.iter().all(|&y| y == ys[0]);
        if !xc && !yc {
            prop_assert!(close(r_squared(ys, &xs, None).unwrap(), r2, 1e-9, 1e-12));
        }
    }

    // ---------------------------------------------------------------- masked positions

    #[test]
    fn masked_positions_are_never_read_and_written_zero(
        b in 1usize..4,
        t in 1usize..8,
        bits in prop::collection::vec(any::<bool>(), 32),
        vals in prop::collection::vec(-5.0f64..5.0, 32),
        junk in prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -7.0]),
    ) {
        let n = b * t;
        let mut bits = bits[..n].to_vec();
        for r in 0..b {
            bits[r * t] = true; // every row has a valid token (eval_tokens needs one)
        }
        let mask = Mask::new(&bits, t).unwrap();
        let clean = vals[..n].to_vec();
        let dirty: Vec<f64> = clean.iter().zip(&bits).map(|(&v, &m)| if m { v } else { junk }).collect();
        let half = |x: &[f64]| x.iter().map(|v| 0.5 * v).collect::<Vec<f64>>();
        let masked_zero = |x: &[f64]| x.iter().zip(&bits).all(|(&v, &m)| m || v == 0.0);

        // Fine-Grained RLHF with its KL term.
        let models = FineGrained::<f64>::qa_feedback_models();
        let fg = FineGrained::new(&models, 0.3).unwrap();
        let segs = [SegmentScore { row: 0, end: 1, model: 0, value: 1.0 }];
        let (mut a, mut d) = (vec![9.0; n], vec![-9.0; n]);
        fg.rewards(&mut a, mask, &segs, Some((&clean, &half(&clean)))).unwrap();
        fg.rewards(&mut d, mask, &segs, Some((&dirty, &half(&dirty)))).unwrap();
        prop_assert_eq!(&a, &d);
        prop_assert!(masked_zero(&a));

        // OREAL token weights.
        let (mut p1, mut n1, mut p2, mut n2) = (vec![9.0; n], vec![9.0; n], vec![-9.0; n], vec![-9.0; n]);
        Oreal::token_weights(&mut p1, &mut n1, &clean, mask).unwrap();
        Oreal::token_weights(&mut p2, &mut n2, &dirty, mask).unwrap();
        prop_assert_eq!((&p1, &n1), (&p2, &n2));
        prop_assert!(masked_zero(&p1) && masked_zero(&n1));

        // A pipeline whose token term writes anything at masked positions.
        struct Fixed<'a>(&'a [f64]);
        impl TokenRewardTerm<f64> for Fixed<'_> {
            fn name(&self) -> &'static str {
                "fixed"
            }
            fn score_tokens(&self, out: &mut [f64], _: &Batch<'_, f64>) -> rewardkit_core::Result<()> {
                out.copy_from_slice(self.0);
                Ok(())
            }
        }
        let zeroed: Vec<f64> = clean.iter().zip(&bits).map(|(&v, &m)| if m { v } else { 0.0 }).collect();
        let correct = vec![true; b];
        let batch = Batch::new(b).unwrap().with_mask(mask).unwrap().with_correct(&correct).unwrap();
        let c = Correctness::<f64>::default();
        let (tz, td) = (Fixed(&zeroed), Fixed(&dirty));
        let run = |term: &dyn TokenRewardTerm<f64>| {
            let terms = [Weighted::sequence(&c, 1.0), Weighted::token(term, 2.0)];
            let p = Pipeline::new(&terms).unwrap();
            let (mut out, mut parts, mut scratch) = (vec![5.0; n], vec![0.0; 2 * b], vec![0.0; n]);
            p.eval_tokens(&mut out, &mut parts, &mut scratch, &batch).unwrap();
            let mut per_sample = vec![0.0; b];
            p.eval(&mut per_sample, &mut parts, &mut scratch, &batch).unwrap();
            (out, per_sample)
        };
        let (z, zs) = run(&tz);
        let (g, gs) = run(&td);
        prop_assert_eq!(&z, &g);
        prop_assert_eq!(&zs, &gs);
        prop_assert!(masked_zero(&g));
    }

    #[test]
    fn filtration_keeps_the_best(
        (ids, g) in group_ids(),
        r in prop::collection::vec(REWARD_RANGE, 48),
        seed: u64,
    ) {
        let n = ids.len();
        let r = &r[..n];
        let groups = GroupIndex::new(&ids, g).unwrap();
        for f in [Filtration::BestOfN, Filtration::BestRandom, Filtration::BestWorst] {
            let mut keep = vec![false; n];
            f.select(&mut keep, r, &groups, &mut SplitMix64::new(seed)).unwrap();
            for gid in 0..g {
                let rows: Vec<usize> = (0..n).filter(|&i| ids[i] as usize == gid).collect();
                let kept = rows.iter().filter(|&&i| keep[i]).count();
                let want = if f == Filtration::BestOfN { 1 } else { rows.len().min(2) };
                prop_assert_eq!(kept, want);
                let max = rows.iter().map(|&i| r[i]).fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(rows.iter().any(|&i| keep[i] && r[i] == max));
            }
            // The deterministic variants keep exactly the samples their weights put mass on.
            let mut w = vec![0.0f64; n];
            f.weights(&mut w, r, &groups).unwrap();
            if f != Filtration::BestRandom {
                for i in 0..n {
                    prop_assert_eq!(keep[i], w[i] > 0.0);
                }
            }
        }
    }

    #[test]
    fn multi_objective_batch_normalization_is_centred(
        b in 2usize..20, m in 1usize..4,
        vals in prop::collection::vec(REWARD_RANGE, 80),
    ) {
        let w = vec![1.0; m];
        let mo = MultiObjective::new(&w, Normalization::Batch, 0.0).unwrap();
        let mut out = vec![0.0; b];
        mo.combine(&mut out, &vals[..b * m], None).unwrap();
        prop_assert!(out.iter().sum::<f64>().abs() < 1e-9 * b as f64);
        let mm = MultiObjective::new(&w, Normalization::MinMax, 0.0).unwrap();
        mm.combine(&mut out, &vals[..b * m], None).unwrap();
        prop_assert!(out.iter().all(|&x| x >= -1e-12 && x <= m as f64 + 1e-12));
    }

    #[test]
    fn oreal_token_weights_bounded(
        logits in prop::collection::vec(REWARD_RANGE, 24),
        bits in prop::collection::vec(any::<bool>(), 24),
    ) {
        let mask = Mask::new(&bits, 6).unwrap();
        let (mut p, mut n) = (vec![0.0; 24], vec![0.0; 24]);
        Oreal::token_weights(&mut p, &mut n, &logits, mask).unwrap();
        for i in 0..24 {
            prop_assert!((0.0..=1.0).contains(&p[i]) && (0.0..=1.0).contains(&n[i]));
            prop_assert!(p[i] * n[i] == 0.0);
            if !bits[i] { prop_assert!(p[i] == 0.0 && n[i] == 0.0); }
        }
    }

    // ---------------------------------------------------------------- text and repetition oracles

    #[test]
    fn repetition_matches_reference_code(t in tokens(60), n in 1usize..5) {
        let (mut f, mut s) = (vec![false; t.len()], vec![0u32; ngram_scratch_len(t.len())]);
        for (marking, only_start) in [(RepeatMarking::All, false), (RepeatMarking::NonOverlapping, true)] {
            let r = RepetitionPenalty::new(n, -1.0f64, marking).unwrap();
            if t.is_empty() {
                prop_assert!(r.sequence(&t, &mut f, &mut s).is_err());
                continue;
            }
            let got = r.sequence(&t, &mut f, &mut s).unwrap();
            prop_assert!(close(got, oracle::hapo_repetition(&t, n, -1.0, only_start), 1e-15, 1e-15));
        }
        if !t.is_empty() {
            for (marking, only_start) in [(RepeatMarking::All, false), (RepeatMarking::Spaced, true)] {
                let r = RepetitionPenalty::new(n, -0.5f64, marking).unwrap();
                let mut d = vec![0.0; t.len()];
                r.dense(&mut d, &t, &mut f, &mut s).unwrap();
                prop_assert_eq!(d, oracle::dense_repetition(&t, n, -0.5, only_start));
            }
        }
    }

    #[test]
    fn laser_detector_matches_reference_code(
        t in prop_oneof![tokens(40), prop::collection::vec(0u32..30, 0..250)],
    ) {
        let want = oracle::laser_detect(&t);
        let got = laser_repetition_start(&t);
        prop_assert_eq!(got.unwrap_or(t.len()), want);
    }

    #[test]
    fn answer_extraction_matches_reference_code(parts in prop::collection::vec(
        prop_oneof![
            // The delimiters the extraction looks for, often.
            3 => prop::sample::select(vec![
                "<answer>", "</answer>", "<think>", "</think>", "\\boxed", "\\boxed{", "{", "}",
                "\\(", "\\)", "\\[", "\\]", "$", " ",
            ]),
            // What the normalization of an <answer> block rewrites or removes.
            2 => prop::sample::select(vec![
                ",", "1", "23", "4,567", "frac", "sqrt", "rac", "\n", "\t", "a ", "an ", "dollars",
                "finalansweris", "oxed{", "\\text{", "\\textbf{", "\\overline{", ".", ".$", "\\$",
                "\\ ", "é", "\u{3000}", "\u{1c}", "x", "y=2", "\\le", "\\text{and}", "\\text{m}",
                "mbox", "^\\circ", "\\dots", "\"", "\r", "\u{c}", "\\frac12", "\\sqrt2", "units",
                "\\;", ",\\!", "{,}", "\\text{}^2", "\\text{\ns}", "final answer is",
            ]),
        ],
        0..16,
    )) {
        let t: String = parts.concat();
        let want = oracle::parse_answer(&t);
        prop_assert_eq!(text::extract_answer(&t, "</think>"), want.as_str());
        let has = !want.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)).is_empty();
        prop_assert_eq!(Format::default().flags(&t), (oracle::soft_format(&t), has));
    }

    #[test]
    fn text_rewards_bounded(words in prop::collection::vec(
        prop::sample::select(vec!["wait", "thus", "x", "y", "user:", "Hence", "<think>", "</think>", "\\boxed{1}", "so that"]),
        0..80), len in 1u32..6000) {
        let text = words.join(" ");
        let r: f64 = ReasoningPattern::default().value(&text);
        prop_assert!((0.0..=1.0).contains(&r));
        let (s, a) = Format::default().flags(&text);
        let v: f64 = FormatLength::default().value(s, a, len).unwrap();
        prop_assert!((-1.0..=2.0).contains(&v));
        let w: f64 = word_repetition_penalty(&text, 2, -1.0).unwrap();
        prop_assert!((-1.0..=0.0).contains(&w));
    }

    // ---------------------------------------------------------------- outcome and format

    #[test]
    fn answer_and_format_terms_are_independent_f32_f64(
        corr in prop::collection::vec(any::<bool>(), 1..24),
        flags in prop::collection::vec(any::<bool>(), 24),
        v in prop::collection::vec(REWARD_RANGE, 5),
        w in -3.0f64..3.0,
    ) {
        let n = corr.len();
        let wf = &flags[..n];
        let run = |c: &Correctness<f64>, f: &WellFormed<f64>| {
            let terms = [Weighted::sequence(c, 1.0), Weighted::sequence(f, w)];
            let batch = Batch::new(n).unwrap().with_correct(&corr).unwrap().with_well_formed(wf).unwrap();
            let (mut out, mut parts) = (vec![0.0; n], vec![0.0; 2 * n]);
            Pipeline::new(&terms).unwrap().eval(&mut out, &mut parts, &mut [], &batch).unwrap();
            (out, parts)
        };
        let c = Correctness::new(v[0], v[1], v[2]).unwrap().with_format_check(false);
        let f = WellFormed::new(v[3], v[4]).unwrap();
        let (out, parts) = run(&c, &f);
        // Answer-only correctness never reads the flag: it equals the checked term on all-true flags.
        let mut all_ok = vec![0.0; n];
        Correctness::new(v[0], v[1], v[2]).unwrap().rewards(&mut all_ok, &corr, None).unwrap();
        prop_assert_eq!(&parts[..n], &all_ok[..]);
        for i in 0..n {
            let want = (if corr[i] { v[0] } else { v[1] }) + w * (if wf[i] { v[3] } else { v[4] });
            prop_assert!(close(out[i], want, 1e-12, 1e-12));
        }
        // f32 against the f64 oracle.
        let c32 = Correctness::new(v[0] as f32, v[1] as f32, v[2] as f32).unwrap().with_format_check(false);
        let f32_term = WellFormed::new(v[3] as f32, v[4] as f32).unwrap();
        let terms = [Weighted::sequence(&c32, 1.0f32), Weighted::sequence(&f32_term, w as f32)];
        let batch = Batch::<f32>::new(n).unwrap().with_correct(&corr).unwrap().with_well_formed(wf).unwrap();
        let (mut o32, mut p32) = (vec![0.0f32; n], vec![0.0f32; 2 * n]);
        Pipeline::new(&terms).unwrap().eval(&mut o32, &mut p32, &mut [], &batch).unwrap();
        for i in 0..n {
            prop_assert!(close(f64::from(o32[i]), out[i], 1e-5, 1e-5));
        }
    }

    // ---------------------------------------------------------------- composition

    #[test]
    fn pipeline_is_the_weighted_sum_of_parts(
        n in 1usize..12,
        lens in prop::collection::vec(length(), 12),
        corr in prop::collection::vec(any::<bool>(), 12),
        w in prop::collection::vec(-3.0f64..3.0, 3),
    ) {
        let c = Correctness::<f64>::default();
        let l = Laser::<f64>::default();
        let o = Overlong::<f64>::new(5000, 1000, 1.0).unwrap();
        let terms = [Weighted::sequence(&c, w[0]), Weighted::sequence(&l, w[1]), Weighted::sequence(&o, w[2])];
        let p = Pipeline::new(&terms).unwrap();
        let batch = Batch::new(n).unwrap().with_lengths(&lens[..n]).unwrap().with_correct(&corr[..n]).unwrap();
        let (mut out, mut parts) = (vec![0.0; n], vec![0.0; 3 * n]);
        p.eval(&mut out, &mut parts, &mut [], &batch).unwrap();
        for i in 0..n {
            let want = w[0] * parts[i] + w[1] * parts[n + i] + w[2] * parts[2 * n + i];
            prop_assert!(close(out[i], want, 1e-14, 1e-14));
            prop_assert_eq!(parts[2 * n + i], o.value(lens[i]).unwrap());
        }
    }
}
