//! Caller-owned state: the same inputs and state give the same outputs, and every state and
//! parameter object survives a serde round-trip (JSON) with identical behaviour.

use proptest::prelude::*;
use rewardkit_core::GroupIndex;
use rewardkit_core::reward::*;
use rewardkit_core::rng::SplitMix64;
/// JSON round-trip (a macro: the tests crate reaches serde only through `serde_json`).
macro_rules! round_trip {
    ($x:expr) => {
        serde_json::from_str(&serde_json::to_string($x).unwrap()).unwrap()
    };
}

proptest! {
    #![proptest_config(super::oracle::cases(64))]

    #[test]
    fn hapo_history_restores(
        batches in prop::collection::vec(
            prop::collection::vec((0u64..5, 1u32..3000, any::<bool>()), 1..10), 1..6),
        mode in prop::sample::select(vec![HistoryMode::Min, HistoryMode::Mean, HistoryMode::ExactMean]),
    ) {
        let params = Hapo::<f64>::new(0.8, HapoShape::Cosine).unwrap();
        let mut live = HapoHistory::new(mode);
        for (step, batch) in batches.iter().enumerate() {
            let keys: Vec<u64> = batch.iter().map(|x| x.0).collect();
            let lens: Vec<u32> = batch.iter().map(|x| x.1).collect();
            let corr: Vec<bool> = batch.iter().map(|x| x.2).collect();
            // Checkpoint and restore mid-run: the restored state behaves identically.
            let restored: HapoHistory = round_trip!(&live);
            prop_assert_eq!(&restored, &live);
            let p2: Hapo<f64> = round_trip!(&params);
            let (mut a, mut b) = (vec![0.0; keys.len()], vec![0.0; keys.len()]);
            live.rewards(&mut a, &keys, &lens, &corr, &params).unwrap();
            restored.rewards(&mut b, &keys, &lens, &corr, &p2).unwrap();
            prop_assert_eq!(&a, &b, "step {}", step);
            // Same inputs and state, computed again: same outputs.
            live.rewards(&mut b, &keys, &lens, &corr, &params).unwrap();
            prop_assert_eq!(&a, &b);
            live.update(&keys, &lens, &corr).unwrap();
        }
    }
}

#[test]
fn laser_d_state_restores() {
    let params = LaserD::<f32>::default()
        .with_thresholds(Thresholds::new(512, 4096, 512).unwrap())
        .unwrap()
        .with_group_size(4)
        .unwrap()
        .with_monitor(1, Rounding::Ceil, MonitorBanding::Training)
        .unwrap();
    let groups = GroupIndex::uniform(8, 4).unwrap();
    let mut state = LaserDState::new(8192);
    state
        .update(
            &params,
            &[600, 700, 3000, 4000, 100, 5000, 5000, 5000],
            &[true, true, true, false, false, false, false, true],
            &groups,
        )
        .unwrap();
    let restored: LaserDState = round_trip!(&state);
    assert_eq!(restored, state);
    let p2: LaserD<f32> = round_trip!(&params);
    assert_eq!(p2, params);
    let (l, c) = ([600, 900, 100, 3000, 20, 30, 40, 50], [true; 8]);
    let (mut a, mut b) = ([0.0f32; 8], [0.0f32; 8]);
    params
        .rewards(&mut a, &l, &c, None, &groups, &state)
        .unwrap();
    p2.rewards(&mut b, &l, &c, None, &groups, &restored)
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn running_stats_and_shaper_restore() {
    let shaper = RewardShaper::<f64>::default()
        .with_steps(true, false, true, true, true)
        .with_transform(Transform::Tanh, true, false);
    let mut stats = RunningStats::new();
    let scores = [1.0, -2.0, 0.5, 3.0];
    let refs = [0.0, 1.0, 0.5, 0.5, -1.0, 2.0, 0.0, 0.0];
    let lens = [10, 400, 320, 50];
    let mut out = [0.0; 4];
    shaper
        .shape(&mut out, &scores, Some(&lens), &refs, &mut stats)
        .unwrap();
    // Restore mid-run and continue both.
    let mut restored: RunningStats = round_trip!(&stats);
    assert_eq!(restored, stats);
    let s2: RewardShaper<f64> = round_trip!(&shaper);
    let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
    shaper
        .shape(&mut a, &scores, Some(&lens), &refs, &mut stats)
        .unwrap();
    s2.shape(&mut b, &scores, Some(&lens), &refs, &mut restored)
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(restored, stats);
    // The state evolves: a second identical batch is shaped differently from the first.
    assert_ne!(a, out);
}

#[test]
fn running_stats_parts_restore() {
    // `parts`/`from_parts` (the Python package's pickle path) restore the state exactly, like serde.
    let mut s = RunningStats::new();
    s.update(&[1.0f64, 3.0, 7.0]).unwrap();
    // n = 3, mean = 11/3, M2 = Σ(x − μ)² = (8/3)² + (2/3)² + (10/3)² = 168/9 = 56/3.
    let (n, mean, m2, min, max) = s.parts();
    assert_eq!((n, min, max), (3, 1.0, 7.0));
    assert!((mean - 11.0 / 3.0).abs() < 1e-15 && (m2 - 56.0 / 3.0).abs() < 1e-13);
    let mut r = RunningStats::from_parts(n, mean, m2, min, max).unwrap();
    assert_eq!(r, s);
    let via_serde: RunningStats = round_trip!(&s);
    assert_eq!(r, via_serde);
    r.update(&[-2.0f64, 0.5]).unwrap();
    s.update(&[-2.0f64, 0.5]).unwrap();
    assert_eq!(r, s);
    assert_eq!(r.parts(), s.parts());
    // The empty state's sentinels survive too.
    let e = RunningStats::new();
    let (n, mean, m2, min, max) = e.parts();
    assert_eq!(RunningStats::from_parts(n, mean, m2, min, max).unwrap(), e);
}

#[test]
fn parameter_objects_round_trip() {
    macro_rules! same {
        ($x:expr) => {{
            let x = $x;
            let back = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(x, back);
        }};
    }
    same!(Correctness::<f64>::laser());
    same!(Correctness::<f32>::default().with_format_check(false));
    same!(WellFormed::new(0.5f64, -1.0).unwrap());
    same!(Thresholds::linear(4, 32, 2).unwrap());
    let reference: Thresholds =
        serde_json::from_str(r#"{"lower":512,"upper":3072,"interval":1024}"#).unwrap();
    assert_eq!(reference, Thresholds::new(512, 3072, 1024).unwrap());
    // A `Correctness` serialized before the format switch existed still reads the flag.
    let old: Correctness<f64> =
        serde_json::from_str(r#"{"correct":1.0,"wrong":0.0,"malformed":-1.0}"#).unwrap();
    assert_eq!(old, Correctness::new(1.0, 0.0, -1.0).unwrap());
    assert_eq!(old.value(true, false), -1.0);
    same!(FlipNoise::new(0.3f32, FlipUnit::Sample).unwrap());
    same!(RprCalibration::<f64>::default());
    same!(FormatLength::<f64>::default());
    same!(Hapo::<f32>::default().with_floor(0.5).unwrap());
    same!(Laser::new(0.5f64, 2048, LaserMode::Hybrid).unwrap());
    same!(CosineLength::<f64>::default());
    same!(KimiLength::<f64>::default());
    same!(GroupLengthPenalty::<f64>::default());
    same!(Overlong::<f64>::default().with_cap(false));
    same!(Truncation::new(100, TruncationMode::Scale(0.5f64)).unwrap());
    same!(TargetLength::<f64>::default());
    same!(RepetitionPenalty::<f64>::default());
    same!(Par::new(2.0f64, 3).unwrap());
    same!(Pure::<f64>::default());
    same!(
        ProcessRefine::new(RefineMode::ClipDelta {
            eta: 0.4f64,
            keep_last: false,
        })
        .unwrap()
    );
    same!(Ensemble::MeanMinusVar(0.5f64));
    same!(Filtration::BestWorst);
    same!(Oreal::new(OrealShaping::Grpo { eps: 1e-8f64 }, 0.5, true).unwrap());
    same!(Carl::<f64>::nuplan());
    same!(RmSpec::Binary { weight: 0.3f64 });
    same!(SegmentScore {
        row: 1,
        end: 4,
        model: 0,
        value: 1.0f64,
    });
    same!(TerminalPotential::Zero);
    same!(HistoryEntry {
        min: 12,
        sum: 40,
        count: 3,
        mean_weighted: 13 * 9,
        mean_count: 9,
    });
}

#[test]
fn stochastic_terms_are_reproducible_from_the_seed() {
    let g = GroupIndex::uniform(12, 4).unwrap();
    let r: Vec<f64> = (0..12).map(|i| f64::from(i % 5)).collect();
    let c: Vec<bool> = (0..12).map(|i| i % 3 == 0).collect();
    let run = |seed: u64| {
        let mut rng = SplitMix64::new(seed);
        let mut flips = [0.0; 12];
        FlipNoise::new(0.5, FlipUnit::Group)
            .unwrap()
            .apply(&mut flips, &r, Some(&[true; 12]), Some(&g), &mut rng)
            .unwrap();
        let mut keep = [false; 12];
        Filtration::BestRandom
            .select(&mut keep, &r, &g, &mut rng)
            .unwrap();
        let mut okeep = [false; 12];
        Oreal::<f64>::filter(&mut okeep, &c, &g, &mut rng).unwrap();
        (flips, keep, okeep)
    };
    assert_eq!(run(42), run(42));
    // Over several seeds, the stochastic choices actually vary.
    let outs: Vec<_> = (0..16).map(run).collect();
    assert!(outs.windows(2).any(|w| w[0] != w[1]));
}
