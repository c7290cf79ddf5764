//! Regressions of issue 8, part C (the reward catalogue): each test is the minimal input of a
//! reported defect and failed before its fix.

use rewardkit_core::Error;
use rewardkit_core::reward::*;

/// Defect 9: the uncapped DAPO penalty overflowed to `−∞` and was returned as `Ok`.
/// `φ = 1e30`, `L_cache = 1`, `L_max = 2`, `L = 2³² − 1`: `−(L − 1)·φ ≈ −4.3e39` is beyond `f32`.
#[test]
fn defect9_uncapped_overlong_overflow_is_an_error() {
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap().with_cap(false);
    assert_eq!(
        o.value(u32::MAX),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
    // f64: φ = 1e308 and two tokens past the buffer start: −2e308 overflows f64 as well.
    let o = Overlong::<f64>::new(2, 1, 1e308).unwrap().with_cap(false);
    assert_eq!(
        o.value(3),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
    // Capped, the same parameters are fine: the cap is −φ.
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap();
    assert_eq!(o.value(u32::MAX), Ok(-1e30));
    // As a term, the error surfaces unchanged.
    let b = Batch::<f32>::new(1).unwrap().with_lengths(&[u32::MAX]).unwrap();
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap().with_cap(false);
    assert_eq!(
        RewardTerm::score(&o, &mut [0.0], &b),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
}

/// Defect 8: PF-PPO best-worst on an all-equal group. The reference (`swtheing/PF-PPO-RLHF`,
/// `replay_buffer.py::select_min_max`) sorts each group by reward with Python's stable `sorted` and
/// weights `val[-1]` (the last maximal sample) and `val[0]` (the first minimal one): `[1, 0, 1]` for
/// three equal rewards. rewardkit weighted `[1, 0, 0]` while `select` kept the first two samples.
#[test]
fn defect8_best_worst_all_equal_group() {
    use rewardkit_core::GroupIndex;
    use rewardkit_core::rng::SplitMix64;
    let g = GroupIndex::uniform(3, 3).unwrap();
    let r = [2.0f64, 2.0, 2.0];
    let mut w = [9.0f64; 3];
    Filtration::BestWorst.weights(&mut w, &r, &g).unwrap();
    assert_eq!(w, [1.0, 0.0, 1.0]);
    let mut keep = [false; 3];
    Filtration::BestWorst
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    assert_eq!(keep, [true, false, true]);
    // Ties on the maximum only: sorted (0, 3), (1, 0), (3, 1), (3, 2) → best = index 2, worst = 3.
    let g = GroupIndex::uniform(4, 4).unwrap();
    let r = [1.0f64, 3.0, 3.0, 0.0];
    let mut w = [9.0f64; 4];
    Filtration::BestWorst.weights(&mut w, &r, &g).unwrap();
    assert_eq!(w, [0.0, 0.0, 1.0, 1.0]);
    let mut keep = [false; 4];
    Filtration::BestWorst
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    assert_eq!(keep, [false, false, true, true]);
    // Ties on the minimum: (0, 3, 0, 3) → worst = first minimum 0, best = last maximum 3.
    let r = [0.0f64, 3.0, 0.0, 3.0];
    Filtration::BestWorst.weights(&mut w, &r, &g).unwrap();
    assert_eq!(w, [1.0, 0.0, 0.0, 1.0]);
    Filtration::BestWorst
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    assert_eq!(keep, [true, false, false, true]);
    // The replay buffer's best-random weights sort the same way: 0.4 on the last maximum.
    let g = GroupIndex::uniform(3, 3).unwrap();
    let mut w = [9.0f64; 3];
    Filtration::BestRandom
        .weights(&mut w, &[3.0, 1.0, 3.0], &g)
        .unwrap();
    assert_eq!(w, [0.1, 0.1, 0.4]);
}

/// Defect 7: reward flipping flipped responses with no extractable answer. In the reference
/// (`trestad/Noisy-Rewards-in-Learning-to-Reason`, `naive.py`) such a response has no format score
/// and keeps its correctness score 0 even in a flipped group; rewardkit turned its 0 into 1, so a
/// model could farm the flip by answering nothing. Minimal input: one group of two, rate 1, the
/// second response unanswered with score 0 (it must stay 0; the answered one flips 0 → 1).
#[test]
fn defect7_unanswered_responses_are_not_flipped() {
    use rewardkit_core::GroupIndex;
    use rewardkit_core::rng::SplitMix64;
    let g = GroupIndex::uniform(2, 2).unwrap();
    let noise = FlipNoise::new(1.0f64, FlipUnit::Group).unwrap();
    let mut out = [9.0; 2];
    noise
        .apply(&mut out, &[0.0, 0.0], Some(&[true, false]), Some(&g), &mut SplitMix64::new(3))
        .unwrap();
    assert_eq!(out, [1.0, 0.0]);
    // The same per sample.
    let noise = FlipNoise::new(1.0f64, FlipUnit::Sample).unwrap();
    noise
        .apply(&mut out, &[0.0, 0.0], Some(&[true, false]), None, &mut SplitMix64::new(3))
        .unwrap();
    assert_eq!(out, [1.0, 0.0]);
    // Without the answers the default (reference) behaviour cannot be applied: an error, not a
    // silent flip of every response.
    assert_eq!(
        noise.apply(&mut out, &[0.0, 0.0], None, None, &mut SplitMix64::new(3)),
        Err(Error::MissingInput { what: "answered" })
    );
    // The old behaviour, on request.
    noise
        .with_flip_unanswered(true)
        .apply(&mut out, &[0.0, 0.0], None, None, &mut SplitMix64::new(3))
        .unwrap();
    assert_eq!(out, [1.0, 1.0]);
}
