//! Literal values, each worked by hand (the comment says how) or transcribed from the reference
//! code's formula with the inputs plugged in.

use rewardkit_core::GroupIndex;
use rewardkit_core::Mask;
use rewardkit_core::reward::*;
use rewardkit_core::rng::SplitMix64;

const S2: f64 = std::f64::consts::FRAC_1_SQRT_2;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn hapo_cosine_weighted() {
    // h = 200, w = 0.5. L = 100: cos(π/4) = 1/√2. L = 300: cos(3π/4) = −1/√2, floored at −0.7 when
    // correct. L = 50 wrong: min(0, cos(π/8)) = 0. L = 400: L ≥ 2h → −1 (wrong).
    let h = Hapo::<f64>::new(0.5, HapoShape::Cosine).unwrap();
    assert!(close(
        h.length_reward(Some(200.0), 100, true).unwrap(),
        0.5 * S2,
        1e-15
    ));
    assert!(close(
        h.length_reward(Some(200.0), 300, true).unwrap(),
        -0.35,
        1e-15
    ));
    assert!(close(
        h.length_reward(Some(200.0), 300, false).unwrap(),
        -0.5 * S2,
        1e-15
    ));
    assert_eq!(h.length_reward(Some(200.0), 50, false).unwrap(), 0.0);
    assert_eq!(h.length_reward(Some(200.0), 400, false).unwrap(), -0.5);
    // The floor is reached at L = (2/π)·arccos(−0.7)·h ≈ 1.494h (seed notes): just below, above −0.7.
    assert!(h.length_reward(Some(1000.0), 1490, true).unwrap() > -0.35);
    assert_eq!(h.length_reward(Some(1000.0), 1500, true).unwrap(), -0.35);
}

#[test]
fn hapo_two_batches() {
    // Batch 1 (empty history): all rewards 0; prompt 1 solved at lengths 120 and 80 → h₁ = 80;
    // prompt 2 unsolved → no history. Batch 2: prompt 1, L = 40 correct → cos(π/4)·1;
    // L = 160 wrong → L ≥ 2h → −1; prompt 2 → 0.
    let hapo = Hapo::<f64>::default();
    let mut hist = HapoHistory::new(HistoryMode::Min);
    let mut r = [9.0; 4];
    let (k1, l1, c1) = (
        [1u64, 1, 2, 2],
        [120u32, 80, 50, 60],
        [true, true, false, false],
    );
    hist.rewards(&mut r, &k1, &l1, &c1, &hapo).unwrap();
    assert_eq!(r, [0.0; 4]);
    hist.update(&k1, &l1, &c1).unwrap();
    assert_eq!(hist.get(1), Some(80.0));
    assert_eq!(hist.get(2), None);
    let (k2, l2, c2) = (
        [1u64, 1, 2, 2],
        [40u32, 160, 10, 10],
        [true, false, true, true],
    );
    hist.rewards(&mut r, &k2, &l2, &c2, &hapo).unwrap();
    assert!(close(r[0], S2, 1e-15));
    assert_eq!(r[1..], [-1.0, 0.0, 0.0]);
    hist.update(&k2, &l2, &c2).unwrap();
    assert_eq!((hist.get(1), hist.get(2)), (Some(40.0), Some(10.0)));
}

#[test]
fn hapo_merge_workers() {
    // Worker A: key 5 → (min 100, 2 correct); worker B: key 5 → (min 60, 1), key 6 → (30, 1).
    let mut a = HapoHistory::new(HistoryMode::Min);
    a.update(&[5, 5], &[100, 140], &[true, true]).unwrap();
    let mut b = HapoHistory::new(HistoryMode::Min);
    b.update(&[5, 6], &[60, 30], &[true, true]).unwrap();
    a.merge(&b);
    assert_eq!((a.get(5), a.get(6)), (Some(60.0), Some(30.0)));
    // Exact mean: A mean 120 over 2, B mean 60 over 1 → (2·120 + 60)/3 = 100.
    let mut a = HapoHistory::new(HistoryMode::ExactMean);
    a.update(&[5, 5], &[100, 140], &[true, true]).unwrap();
    let mut b = HapoHistory::new(HistoryMode::ExactMean);
    b.update(&[5], &[60], &[true]).unwrap();
    a.merge(&b);
    assert!(close(a.get(5).unwrap(), 100.0, 1e-12));
    // The reference's mean: key 5 occurs twice in A's batch, so A has h = 120 with c = 2 + 2 = 4;
    // B has h = 60, c = 1. The gathered view is (120·4 + 60·1)/5 = 108.
    let mut a = HapoHistory::new(HistoryMode::Mean);
    a.update(&[5, 5], &[100, 140], &[true, true]).unwrap();
    let mut b = HapoHistory::new(HistoryMode::Mean);
    b.update(&[5], &[60], &[true]).unwrap();
    a.merge(&b);
    assert_eq!(a.get(5), Some(108.0));
}

#[test]
fn hapo_mean_can_drift_below_the_shortest() {
    // The reference's truncated mean, one correct answer of 100 tokens per batch (one occurrence):
    // h = 100 with c = 1, 2, ..., 11; at c = 11 the update is (1/12)·100 + (11/12)·100, which
    // Python's floats (and f64) evaluate to 99.99999999999999, truncated to 99: the history falls
    // below every correct length ever seen. rewardkit reproduces it; the exact mean stays 100.
    let (mut h, mut e) = (
        HapoHistory::new(HistoryMode::Mean),
        HapoHistory::new(HistoryMode::ExactMean),
    );
    for batch in 1..=12 {
        h.update(&[1], &[100], &[true]).unwrap();
        e.update(&[1], &[100], &[true]).unwrap();
        let want = if batch < 12 { 100.0 } else { 99.0 };
        assert_eq!(h.get(1), Some(want), "batch {batch}");
        assert_eq!(e.get(1), Some(100.0));
    }
    let r = 1.0f64 / 12.0;
    assert_eq!(r * 100.0 + (1.0 - r) * 100.0, 99.999_999_999_999_99);
}

#[test]
fn laser_d_full_cycle() {
    // Monitor: 2 prompts × G = 4 (uniform groups). Prompt A: 4/4 correct (high), lengths
    // 1000, 1500, 2500, 5000. Prompt B: 0/4 (low), lengths 900, 1100, 1200, 1300.
    // Thresholds 1024..4096 step 1024. High: lower_n = ⌊4·2/3⌋ = 2; cov(1024) = 1/4 → ⌊0.5⌋ = 0;
    // cov(2048) = 2/4 → ⌊1⌋ = 1 ≥ 1 → 2048. Low: lower_n = 1 needs cov = 1: cov(2048) = 4/4 → 2048
    // (cov(1024) = 2/4). Medium: empty → none (batch max at training time).
    let params = LaserD::<f64>::default()
        .with_thresholds(Thresholds::new(1024, 4096, 1024).unwrap())
        .unwrap()
        .with_group_size(4)
        .unwrap();
    let groups = GroupIndex::uniform(8, 4).unwrap();
    let mut state = LaserDState::new(8192);
    let lengths = [1000, 1500, 2500, 5000, 900, 1100, 1200, 1300];
    let correct = [true, true, true, true, false, false, false, false];
    state.update(&params, &lengths, &correct, &groups).unwrap();
    assert_eq!(
        state.target(Difficulty::High),
        TargetLen::Monitored(Some(2048))
    );
    assert_eq!(
        state.target(Difficulty::Low),
        TargetLen::Monitored(Some(2048))
    );
    assert_eq!(state.target(Difficulty::Medium), TargetLen::Monitored(None));
    // Training batch: one prompt with 2/4 correct (acc 0.5: medium → L_A = batch max 3000),
    // one with 3/4 (high → min(2048, 3000) = 2048).
    let tl = [1000, 3000, 500, 500, 2000, 2100, 100, 100];
    let tc = [true, true, false, false, true, true, true, false];
    let mut out = [0.0; 8];
    params
        .rewards(&mut out, &tl, &tc, None, &groups, &state)
        .unwrap();
    assert_eq!(out, [0.5, 0.5, 0.0, 0.0, 0.5, 0.0, 0.5, 0.0]);
    // LASER-DE: wrong answers longer than L_A and not repetitive also get +α: none here (the wrong
    // ones are short), except when we shrink the state.
    let small = LaserDState::new(50);
    params
        .rewards_de(&mut out, &tl, &tc, None, &[false; 8], &groups, &small)
        .unwrap();
    // L_A = 50 everywhere: correct ones are all longer → 0; wrong ones (500, 500, 100) > 50 → +α.
    assert_eq!(out, [0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.5]);
    // Malformed wrong answers never get the bonus.
    let wf = [true, true, false, true, true, true, true, true];
    params
        .rewards_de(&mut out, &tl, &tc, Some(&wf), &[false; 8], &groups, &small)
        .unwrap();
    assert_eq!(out, [0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.5]);
}

#[test]
fn laser_d_linear_thresholds_at_toy_scale() {
    // One monitor prompt, G = 3, all correct (high band): lower_n = ⌊3·2/3⌋ = 2; lengths 5, 9, 12.
    // Linear grid 4, 6, 8, 10, 12: cov(4) = 0, cov(6) = cov(8) = 1/3 → ⌊2/3⌋ = 0; cov(10) = 2/3 →
    // ⌊4/3⌋ = 1 ≥ 1 → L_A = 10. The reference grid for the same numbers is [4] alone (it jumps to
    // 1024 > upper), where cov(4) = 0: no target.
    let groups = GroupIndex::uniform(3, 3).unwrap();
    let (lengths, correct) = ([5, 9, 12], [true, true, true]);
    let run = |t: Thresholds| {
        let params = LaserD::<f64>::default()
            .with_thresholds(t)
            .unwrap()
            .with_group_size(3)
            .unwrap();
        let mut state = LaserDState::new(16);
        state.update(&params, &lengths, &correct, &groups).unwrap();
        state.target(Difficulty::High)
    };
    assert_eq!(
        run(Thresholds::linear(4, 12, 2).unwrap()),
        TargetLen::Monitored(Some(10))
    );
    assert_eq!(
        run(Thresholds::new(4, 12, 2).unwrap()),
        TargetLen::Monitored(None)
    );
}

#[test]
fn laser_repetition_detector_paths() {
    // L = 20 (n = 2, threshold 2, gap ⌊20/3⌋ = 6): 0..10 twice. Every bigram repeats 10 apart
    // (≥ 6): no bigram hit. Fallback (L ≥ 4n): the 4-gram (6, 7, 8, 9) at 16 was seen, and again at 6.
    let t: Vec<u32> = (0..10).chain(0..10).collect();
    assert_eq!(laser_repetition_start(&t), Some(6));
    // A tight loop: 0..30 then (7, 8) ×5 → L = 40, n = 3; scanning back, the trigram (8, 7, 8) is
    // seen at 37 and again at 35 (gap 2 < 13).
    let mut t: Vec<u32> = (0..30).collect();
    for _ in 0..5 {
        t.extend([7, 8]);
    }
    assert_eq!(laser_repetition_start(&t), Some(35));
    // Runs of one token are skipped when n > 2 (L = 40: n = 3): 30 distinct then 10 × 99.
    let mut t: Vec<u32> = (0..30).collect();
    t.extend([99; 10]);
    // The 3-grams (99, 99, 99) are skipped; (29, 99, 99) and (28, 29, 99) occur once; the 6-gram
    // fallback finds (99 × 6) at 34 and 33 → 33.
    assert_eq!(laser_repetition_start(&t), Some(33));
    // Short sequences are never repetitive.
    assert_eq!(laser_repetition_start(&[1, 1, 1, 1, 1, 1, 1, 1]), None);
}

#[test]
fn cosine_paper_values() {
    // Paper Sec. 4.2 constants, L = L_max/4: cos(π/4) = 1/√2.
    // Correct: 1 + ½·(2 − 1)·(1 + 1/√2) = 1.853553…; wrong: 0 + ½·(−10 − 0)·(1 + 1/√2) = −8.535533….
    let c = CosineLength::<f64>::default();
    assert!(close(
        c.value(3584, true).unwrap(),
        1.0 + 0.5 * (1.0 + S2),
        1e-12
    ));
    assert!(close(
        c.value(3584, false).unwrap(),
        -5.0 * (1.0 + S2),
        1e-12
    ));
    // Variant A of Sec 4.3 (longer correct answers rewarded more): (min, max) = (10, 0).
    let a = CosineLength::<f64>::new(14336, (0.0, 10.0), (0.0, 0.0), -10.0).unwrap();
    assert!(a.value(7000, true).unwrap() < a.value(8000, true).unwrap());
}

#[test]
fn kimi_group_values() {
    // Group lengths (100, 150, 300), ε = 1e-6: λ = 0.5 − (L − 100)/(200 + 10⁻⁶).
    // L = 100 (correct): 0.4·0.5 = 0.2. L = 150 (wrong): λ > 0 → min(0, λ) = 0.
    // L = 300 (correct): 0.4·(0.5 − 200/200.000001).
    let k = KimiLength::<f64>::default();
    let mut out = [0.0; 3];
    k.rewards(
        &mut out,
        &[100, 150, 300],
        &[true, false, true],
        None,
        &GroupIndex::uniform(3, 3).unwrap(),
    )
    .unwrap();
    assert_eq!(out[0], 0.2);
    assert_eq!(out[1], 0.0);
    assert!(close(out[2], 0.4 * (0.5 - 200.0 / 200.000_001), 1e-15));
}

#[test]
fn dapo_l1_truncation_values() {
    // DAPO defaults: L_exp = 20480 − 4096 = 16384; L = 17408 exceeds by 1024 → −1024/4096 = −0.25.
    let o = Overlong::<f64>::default();
    assert_eq!(o.value(17408).unwrap(), -0.25);
    assert_eq!(o.value(20480).unwrap(), -1.0);
    // L1-Exact (α = 3e-4): correct, |2000 − 1000| → 1 − 0.3; wrong → −0.3.
    let ex = TargetLength::<f64>::default();
    assert!(close(ex.value(true, 1000, 2000).unwrap(), 0.7, 1e-15));
    assert!(close(ex.value(false, 1000, 2000).unwrap(), -0.3, 1e-15));
    // L1-Max (δ = 0.5): L = 3000 vs 2000 → clip(−0.3 + 0.5) = 0.2.
    let mx = TargetLength::<f64>::new(0.0003, 0.5, TargetMode::Max).unwrap();
    assert!(close(mx.value(true, 3000, 2000).unwrap(), 0.2, 1e-15));
    // Truncation, ProRL-style scaling by 0.5.
    let t = Truncation::new(10, TruncationMode::Scale(0.5f64)).unwrap();
    let mut out = [0.0; 2];
    t.apply_flags(&mut out, &[1.0, 1.0], &[false, true])
        .unwrap();
    assert_eq!(out, [1.0, 0.5]);
}

#[test]
fn par_values() {
    // r = 0 against refs (0, 1, −1), k = 1: (σ(0) + σ(−1) + σ(1))/3 = (½ + 1)/3 = ½.
    let par = Par::<f64>::default();
    assert!(close(
        par.value(0.0, &[0.0, 1.0, -1.0]).unwrap(),
        0.5,
        1e-16
    ));
    // max_refs = 2: (½ + σ(−1))/2 with σ(−1) = 1/(1 + e) = 0.2689414213699951.
    let par2 = Par::<f64>::new(1.0, 2).unwrap();
    let s = 1.0 / (1.0 + 1f64.exp());
    assert!(close(
        par2.value(0.0, &[0.0, 1.0, -1.0]).unwrap(),
        (0.5 + s) / 2.0,
        1e-16
    ));
    // Gradient at r = ref: k·σ(1 − σ) = ¼ (k = 2 → ½).
    let (_, g) = Par::<f64>::new(2.0, 10)
        .unwrap()
        .value_grad(3.0, &[3.0])
        .unwrap();
    assert_eq!(g, 0.5);
}

#[test]
fn shaper_steps_by_hand() {
    // Mean/std on the batch (1, 3): μ = 2, population σ = 1 → (−1, 1); then sigmoid(k·r), k = 1.
    let sh = RewardShaper::<f64>::default()
        .with_length_penalty(None)
        .unwrap()
        .with_steps(false, false, true, false, false)
        .with_transform(Transform::Sigmoid, false, false);
    let mut stats = RunningStats::new();
    let mut out = [0.0; 2];
    sh.shape(&mut out, &[1.0, 3.0], None, &[], &mut stats)
        .unwrap();
    let s = 1.0 / (1.0 + 1f64.exp());
    assert!(close(out[0], s, 1e-15) && close(out[1], 1.0 - s, 1e-15));
    assert_eq!(stats.count(), 2);
    // Centered on refs (1, 3) then tanh: r = 2 → ((2 − 1) + (2 − 3))/2 = 0 → tanh 0 = 0.
    let c = RewardShaper::<f64>::default()
        .with_length_penalty(None)
        .unwrap()
        .with_steps(true, false, false, false, false)
        .with_transform(Transform::Tanh, false, false);
    let mut o = [1.0];
    c.shape(&mut o, &[2.0], None, &[1.0, 3.0], &mut RunningStats::new())
        .unwrap();
    assert_eq!(o, [0.0]);
    // Ceil 1.5 then min-max over running (init ±10000): batch (1, 2) → min 1, max 1.5 after ceil.
    let m = RewardShaper::<f64>::default()
        .with_length_penalty(None)
        .unwrap()
        .with_ceil(Some(1.5))
        .unwrap()
        .with_steps(false, false, false, false, true);
    m.shape(&mut out, &[1.0, 2.0], None, &[], &mut RunningStats::new())
        .unwrap();
    assert_eq!(out, [0.0, 1.0]);
    // SgFc: σ(k·((r − 3) − ref)) with r = 3, ref = 0 → ½.
    let g = RewardShaper::<f64>::default()
        .with_length_penalty(None)
        .unwrap()
        .with_steps(false, true, false, false, false);
    g.shape(&mut o, &[3.0], None, &[0.0], &mut RunningStats::new())
        .unwrap();
    assert_eq!(o, [0.5]);
    // Fitted polynomial at 1: a + c + e + ½ = 0.71895825... (coefficients of the exact LSQ fit).
    let p = RewardShaper::<f64>::default()
        .with_length_penalty(None)
        .unwrap()
        .with_transform(Transform::FittedPoly, false, false);
    p.shape(&mut o, &[1.0], None, &[], &mut RunningStats::new())
        .unwrap();
    let want =
        2.026_691_698_321_841_4e-4 - 1.013_091_205_649_203_6e-2 + 0.228_788_511_778_260_98 + 0.5;
    assert!(close(o[0], want, 1e-15));
}

#[test]
fn running_stats_merge_equals_union() {
    // Batches (1, 2) and (4, 5, 8): union mean 4, population variance (9+4+0+1+16)/5 = 6.
    let mut s = RunningStats::new();
    s.update(&[1.0f64, 2.0]).unwrap();
    s.update(&[4.0f64, 5.0, 8.0]).unwrap();
    assert!(close(s.mean(), 4.0, 1e-15));
    assert!(close(s.variance(), 6.0, 1e-12));
    assert!(close(s.clip(100.0), 4.0 + 6f64.sqrt(), 1e-12));
    assert_eq!(s.minmax(8.0), 1.0);
}

#[test]
fn pure_from_logits() {
    // Logits (0, ln 3) → p = (¼, ¾) → r = ½; (ln 3, 0) → −½. T = 0.1: w ∝ (e^{−5}, e^{5}).
    let r1 = Pure::<f64>::step_reward(0.0, 3f64.ln());
    let r2 = Pure::<f64>::step_reward(3f64.ln(), 0.0);
    assert!(close(r1, 0.5, 1e-15) && close(r2, -0.5, 1e-15));
    let mut w = [0.0; 2];
    let o = Pure::<f64>::default()
        .min_form(&mut w, &[0.5, -0.5])
        .unwrap();
    let e = (-10f64).exp(); // w₁/w₂ = e^{−10}
    let (w1, w2) = (e / (1.0 + e), 1.0 / (1.0 + e));
    assert!(close(o, 0.5 * w1 - 0.5 * w2, 1e-15));
    // Batch: trajectories of 2 and 1 steps.
    let mut out = [0.0; 3];
    let mut oc = [0.0; 2];
    Pure::<f64>::default()
        .min_form_batch(&mut out, &mut oc, &[0.5, -0.5, 0.3], &[2, 1])
        .unwrap();
    assert!(close(oc[0], o, 1e-15));
    assert_eq!(oc[1], 0.3);
}

#[test]
fn ensembles_and_brme() {
    // Scores (1, 2, 3, 6): μ = 3, population σ² = (4 + 1 + 0 + 9)/4 = 3.5.
    let mut out = [0.0f64];
    Ensemble::MeanMinusVar(0.5)
        .aggregate(&mut out, &[1.0, 2.0, 3.0, 6.0])
        .unwrap();
    assert!(close(out[0], 3.0 - 1.75, 1e-15));
    Ensemble::Min
        .aggregate(&mut out, &[1.0, 2.0, 3.0, 6.0])
        .unwrap();
    assert_eq!(out, [1.0]);
    // BRME with a tie on σ: the first head is nominal (μ = 5); min μ = −1; λ = 0.5 → 2.
    brme(&mut out, &[5.0, -1.0, 3.0], &[0.2, 0.2, 0.9], 0.5).unwrap();
    assert_eq!(out, [2.0]);
}

#[test]
fn multi_objective_normalizations() {
    // Objective 0: (1, 2, 3): μ = 2, Bessel σ = 1 → z = (−1, 0, 1). Objective 1 constant → 0.
    let mo = MultiObjective::new(&[1.0f64, 5.0], Normalization::Batch, 0.0).unwrap();
    let mut out = [0.0; 3];
    mo.combine(&mut out, &[1.0, 7.0, 2.0, 7.0, 3.0, 7.0], None)
        .unwrap();
    assert_eq!(out, [-1.0, 0.0, 1.0]);
    // Min-max: objective 0 → (0, ½, 1); constant objective 1 → ½ each, weight 5 → 2.5.
    let mm = MultiObjective::new(&[1.0f64, 5.0], Normalization::MinMax, 0.0).unwrap();
    mm.combine(&mut out, &[1.0, 7.0, 2.0, 7.0, 3.0, 7.0], None)
        .unwrap();
    assert_eq!(out, [2.5, 3.0, 3.5]);
    // Group z-score with groups {0, 2}, {1}: (1, 3) → (−1/√2, 1/√2); singleton → 0.
    let g = GroupIndex::new(&[0, 1, 0], 2).unwrap();
    let gm = MultiObjective::new(&[1.0f64], Normalization::Group, 0.0).unwrap();
    gm.combine(&mut out, &[1.0, 9.0, 3.0], Some(&g)).unwrap();
    assert!(close(out[0], -S2, 1e-15) && out[1] == 0.0 && close(out[2], S2, 1e-15));
}

#[test]
fn pf_ppo_selection() {
    let g = GroupIndex::uniform(6, 3).unwrap();
    let r = [0.1f64, 0.9, 0.5, -1.0, -1.0, -1.0];
    let mut keep = [false; 6];
    Filtration::BestOfN
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    // Ties → first index.
    assert_eq!(keep, [false, true, false, true, false, false]);
    Filtration::BestWorst
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    // Group 2 all equal: the last maximum (2) and the first minimum (0), as the reference's
    // stable sort reads them.
    assert_eq!(keep, [true, true, false, true, false, true]);
    Filtration::BestRandom
        .select(&mut keep, &r, &g, &mut SplitMix64::new(7))
        .unwrap();
    assert_eq!(keep.iter().filter(|&&k| k).count(), 4);
    assert!(keep[1] && keep[3]);
}

#[test]
fn pf_ppo_reward_weighted_resampling() {
    // verl's "pow" weights with p = 2: (−1, 0, 3) → (1, 0, 9); resampling frequencies ≈ (0.1, 0, 0.9).
    let mut w = [0.0f64; 3];
    reward_weights(&mut w, &[-1.0, 0.0, 3.0], 2.0).unwrap();
    assert_eq!(w, [1.0, 0.0, 9.0]);
    let mut idx = vec![0usize; 40_000];
    resample(&mut idx, &w, &mut SplitMix64::new(9)).unwrap();
    assert!(idx.iter().all(|&i| i != 1));
    let f0 = idx.iter().filter(|&&i| i == 0).count() as f64 / 40_000.0;
    // Binomial standard deviation √(0.1·0.9/40000) = 0.0015: 5σ band.
    assert!((f0 - 0.1).abs() < 0.0075, "{f0}");
}

#[test]
fn oreal_grpo_and_filter() {
    // (1, −1, −1, −1): mean −½, Bessel std √((2.25 + 3·0.25)/3) = 1 → (1.5, −0.5, …)/(1 + 1e-8);
    // negatives × 0.5.
    let o = Oreal::new(OrealShaping::Grpo { eps: 1e-8f64 }, 0.5, false).unwrap();
    let g = GroupIndex::uniform(4, 4).unwrap();
    let mut out = [0.0; 4];
    o.advantages(&mut out, &[true, false, false, false], &g)
        .unwrap();
    assert!(close(out[0], 1.5 / (1.0 + 1e-8), 1e-15));
    assert!(close(out[1], -0.25 / (1.0 + 1e-8), 1e-15));
    // negatives_only: the positive keeps +1.
    let n = Oreal::new(OrealShaping::Rloo, 0.5f64, true).unwrap();
    n.advantages(&mut out, &[true, false, false, false], &g)
        .unwrap();
    assert_eq!(out[0], 1.0);
    // Filter: group (T, F, T, F) keeps one of each; all-correct group dropped.
    let g2 = GroupIndex::uniform(8, 4).unwrap();
    let c = [true, false, true, false, true, true, true, true];
    let mut keep = [false; 8];
    Oreal::<f64>::filter(&mut keep, &c, &g2, &mut SplitMix64::new(3)).unwrap();
    let kept: Vec<usize> = (0..8).filter(|&i| keep[i]).collect();
    assert_eq!(kept.len(), 2);
    assert!(c[kept[0]] != c[kept[1]] && kept[1] < 4);
}

#[test]
fn fine_grained_with_kl() {
    // Completeness score s = μ + σ → ((s − μ)/σ)·0.3 = 0.3 on the final token; KL β = 0.3 with
    // logp − ref = 0.1 on each valid token → −0.03.
    let models = FineGrained::<f64>::qa_feedback_models();
    let fg = FineGrained::new(&models, 0.3).unwrap();
    let bits = [true, true, true];
    let mask = Mask::new(&bits, 3).unwrap();
    let segs = [SegmentScore {
        row: 0,
        end: 2,
        model: 2,
        value: -0.44678 + 8.30116,
    }];
    let mut out = [0.0; 3];
    fg.rewards(
        &mut out,
        mask,
        &segs,
        Some((&[-1.0, -1.0, -1.0], &[-1.1, -1.1, -1.1])),
    )
    .unwrap();
    assert!(close(out[0], -0.03, 1e-12) && close(out[2], 0.27, 1e-12));
}

#[test]
fn carl_values() {
    // CARLA: RC = 0.5 %, factors (speeding 1 − 1/2.23, TTC ½) → 0.5·(1 − 1/2.23)·0.5.
    let c = Carl::<f64>::default();
    let f = Carl::<f64>::speed_factor(11.0, 10.0);
    let mut out = [0.0];
    c.rewards(&mut out, &[0.5], &[f, 0.5], &[false]).unwrap();
    assert!(close(out[0], 0.25 * (1.0 - 1.0 / 2.23), 1e-15));
    // Terminal hint 10 (the second config variant): collision step → RC·Π − 10.
    let c10 = Carl::new(CarlVariant::Carla, 0.0, 10.0, 100.0, 0.0).unwrap();
    c10.rewards(&mut out, &[0.5], &[1.0, 1.0], &[true]).unwrap();
    assert_eq!(out, [-9.5]);
}

#[test]
fn rpr_by_hand() {
    // 22 × "x" then 6 phrases: 28 words, 9 word 20-grams; the all-"x" gram occurs 3 times (1
    // distinct repeated) → rep = 1/9; k = 6 → min(1, 6/20) = 0.3 → RPR = 0.3 − 1/9.
    let mut text = "x ".repeat(22);
    text.push_str("Wait Thus hence therefore consequently thereby");
    let r: f64 = ReasoningPattern::default().value(&text);
    assert!(close(r, 0.3 - 1.0 / 9.0, 1e-15));
    // Two "user: " markers → max(0, 0.1 − 2) = 0.
    assert_eq!(
        ReasoningPattern::default().value::<f64>("wait thus user: a User: b"),
        0.0
    );
    // Open-ended phrases: "1. " and "step 1 " count.
    let rp = ReasoningPattern::new(&RPR_OPEN_ENDED_PHRASES, 20.0, 20, None).unwrap();
    assert!(close(rp.value::<f64>("Step 1 do 1. this"), 0.1, 1e-15));
    // Calibration of a noisy RM with it.
    let mut out = [0.0];
    RprCalibration::default()
        .apply(&mut out, &[0.45], &[1.0])
        .unwrap();
    assert!(close(out[0], 0.55, 1e-15));
}

#[test]
fn accuracy_plus_format_by_hand() {
    // R1-style: answer-only correctness (1/0) plus 0.25 × format (1/0 from the verifier's flag).
    // Rows: correct+well formed = 1 + 0.25; correct+malformed = 1 + 0; wrong+well formed = 0 + 0.25;
    // wrong+malformed = 0.
    let c = Correctness::<f64>::default().with_format_check(false);
    let f = WellFormed::<f64>::default();
    let terms = [Weighted::sequence(&c, 1.0), Weighted::sequence(&f, 0.25)];
    let batch = Batch::new(4)
        .unwrap()
        .with_correct(&[true, true, false, false])
        .unwrap()
        .with_well_formed(&[true, false, true, false])
        .unwrap();
    let (mut out, mut parts) = ([0.0; 4], [0.0; 8]);
    Pipeline::new(&terms)
        .unwrap()
        .eval(&mut out, &mut parts, &mut [], &batch)
        .unwrap();
    assert_eq!(out, [1.25, 1.0, 0.25, 0.0]);
    assert_eq!(parts, [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    // With the format check on (the default), the malformed correct row scores `malformed` = 0.
    let checked = Correctness::<f64>::default();
    let mut v = [0.0; 4];
    checked
        .rewards(
            &mut v,
            &[true, true, false, false],
            Some(&[true, false, true, false]),
        )
        .unwrap();
    assert_eq!(v, [1.0, 0.0, 0.0, 0.0]);
    // Custom values: a −1 penalty for malformed responses.
    let pen = WellFormed::<f32>::new(0.0, -1.0).unwrap();
    let mut w = [9.0f32; 2];
    pen.rewards(&mut w, &[false, true]).unwrap();
    assert_eq!(w, [-1.0, 0.0]);
}

#[test]
fn format_rewards() {
    let f = Format::default();
    let batch_texts = [
        "<think>a</think><answer>3</answer>",
        "<think>a",
        r"\boxed{2}",
    ];
    let flags: Vec<_> = batch_texts.iter().map(|t| f.flags(t)).collect();
    assert_eq!(flags, [(true, true), (false, false), (false, true)]);
    // Format-length with L_max = 3072: L = 768 → x = ¼ → f = 1 − ½² = ¾; both flags → 1.75.
    let fl = FormatLength::<f64>::default();
    assert_eq!(fl.value(true, true, 768).unwrap(), 1.75);
    // x = ¾ → 1 − 2·½² = ½; answer only → 0.5 + 0.5.
    assert_eq!(fl.value(false, true, 2304).unwrap(), 1.0);
    assert_eq!(format_only::<f32>(true, true), 1.0);
}

#[test]
fn potential_shaping_by_hand() {
    // γ = 0.9, r = (1, 2, 3), Φ = (1, 0, 2, 1):
    // r' = (1 + 0 − 1, 2 + 1.8 − 0, 3 + 0.9 − 2) = (0, 3.8, 1.9).
    let mut out = [0.0f64; 3];
    potential_shaping(
        &mut out,
        &[1.0, 2.0, 3.0],
        &[1.0, 0.0, 2.0, 1.0],
        0.9,
        TerminalPotential::Keep,
    )
    .unwrap();
    assert!(close(out[0], 0.0, 1e-15) && close(out[1], 3.8, 1e-15) && close(out[2], 1.9, 1e-15));
    // Zero terminal: last r' = 3 + 0 − 2 = 1.
    potential_shaping(
        &mut out,
        &[1.0, 2.0, 3.0],
        &[1.0, 0.0, 2.0, 1.0],
        0.9,
        TerminalPotential::Zero,
    )
    .unwrap();
    assert!(close(out[2], 1.0, 1e-15));
}

#[test]
fn flip_noise_group_unit_is_per_group() {
    // With rate ½ and a fixed seed, every group is either entirely flipped or entirely kept.
    let g = GroupIndex::new(&[0, 1, 0, 1, 2, 2], 3).unwrap();
    let s = [1.0f64, 0.0, 1.0, 0.0, 1.0, 1.0];
    let mut out = [0.0; 6];
    FlipNoise::new(0.5, FlipUnit::Group)
        .unwrap()
        .apply(
            &mut out,
            &s,
            Some(&[true; 6]),
            Some(&g),
            &mut SplitMix64::new(11),
        )
        .unwrap();
    for rows in [[0usize, 2], [1, 3], [4, 5]] {
        let flipped: Vec<bool> = rows.iter().map(|&i| out[i] != s[i]).collect();
        assert_eq!(flipped[0], flipped[1]);
    }
    // Flipping over [−1, 1]: r ↦ −r.
    let n = FlipNoise::new(1.0f64, FlipUnit::Sample)
        .unwrap()
        .with_range(-1.0, 1.0)
        .unwrap();
    n.apply(
        &mut out[..2],
        &[0.25, -1.0],
        Some(&[true; 2]),
        None,
        &mut SplitMix64::new(0),
    )
    .unwrap();
    assert_eq!(out[..2], [-0.25, 1.0]);
}
