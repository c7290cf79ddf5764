//! Properties and gradient checks of the KL estimators, the full-vocabulary KL and entropy, and the
//! controllers.

use proptest::prelude::*;
use rewardkit_core::kl::{
    AdaptiveKlController, FixedKlController, KlController, entropy_backward, entropy_forward,
    full_kl_backward, full_kl_forward, logprobs_backward, logprobs_forward,
};
use rewardkit_core::{Error, KlEstimator, KlPenalty, Preset};
use rewardkit_tests::approx_eq::{assert_all_close, widen};
use rewardkit_tests::fd::central_diff;
use rewardkit_tests::strategies::LOGPROB_RANGE;

const ESTIMATORS: [KlEstimator; 4] = [
    KlEstimator::K1,
    KlEstimator::Abs,
    KlEstimator::K2,
    KlEstimator::K3,
];

fn penalties() -> Vec<KlPenalty<f64>> {
    let mut v = Vec::new();
    for est in ESTIMATORS {
        for st in [false, true] {
            for preset in [Preset::Rewardkit, Preset::Verl, Preset::OpenRlhf] {
                v.push(preset.kl(est, st));
            }
        }
    }
    v.push(KlPenalty::trl());
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn zero_at_equal_logprobs_and_nonnegative(lp in LOGPROB_RANGE, rp in LOGPROB_RANGE) {
        for kl in penalties() {
            let (v0, g0) = kl.eval(lp, lp);
            prop_assert_eq!(v0, 0.0);
            // k2, k3 (and every straight-through form) are minimal at d = 0; k1 has slope 1.
            if kl.straight_through() || matches!(kl.estimator(), KlEstimator::K2 | KlEstimator::K3) {
                prop_assert_eq!(g0, 0.0);
            }
            let (v, _) = kl.eval(lp, rp);
            if matches!(kl.estimator(), KlEstimator::K2 | KlEstimator::K3 | KlEstimator::Abs) {
                prop_assert!(v >= 0.0, "{kl}: {v}");
            }
            // f32 agrees with f64.
            let kl32 = KlPenalty::<f32>::new(kl.estimator())
                .with_straight_through(kl.straight_through())
                .with_log_ratio_clamp(kl.log_ratio_clamp().map(|c| c as f32))
                .unwrap()
                .with_value_clamp(kl.value_clamp().map(|c| c as f32))
                .unwrap();
            let (v32, g32) = kl32.eval(lp as f32, rp as f32);
            let (v64, g64) = kl.eval(f64::from(lp as f32), f64::from(rp as f32));
            prop_assert!((f64::from(v32) - v64).abs() <= 1e-5 * (1.0 + v64.abs()), "{kl} {v32} {v64}");
            prop_assert!((f64::from(g32) - g64).abs() <= 1e-5 * (1.0 + g64.abs()), "{kl} {g32} {g64}");
        }
    }

    #[test]
    fn gradients_match_finite_differences(lp in LOGPROB_RANGE, rp in LOGPROB_RANGE) {
        let d = lp - rp;
        prop_assume!(d.abs() > 1e-3); // away from the kink of |d|
        for est in ESTIMATORS {
            // Unclamped values are smooth: the gradient is the derivative of the value.
            let kl = KlPenalty::<f64>::new(est).with_log_ratio_clamp(None).unwrap();
            let (_, g) = kl.eval(lp, rp);
            let fd = central_diff(&[lp], 1e-6, |x| kl.eval(x[0], rp).0);
            prop_assert!((g - fd[0]).abs() <= 1e-6 * (1.0 + g.abs()), "{est}: {g} vs {fd:?}");
            // Reference side: the derivative is the negative.
            let fd_ref = central_diff(&[rp], 1e-6, |x| kl.eval(lp, x[0]).0);
            prop_assert!((g + fd_ref[0]).abs() <= 1e-6 * (1.0 + g.abs()));
            // Straight-through: the gradient of k2 = d²/2, whatever the value is.
            let st = kl.with_straight_through(true);
            let fd_k2 = central_diff(&[lp], 1e-6, |x| KlEstimator::K2.eval(x[0] - rp).0);
            prop_assert!((st.eval(lp, rp).1 - fd_k2[0]).abs() < 1e-6);
            prop_assert_eq!(st.eval(lp, rp).0, kl.eval(lp, rp).0);
        }
    }

    #[test]
    fn importance_weighted_gradient(lp in LOGPROB_RANGE, rp in LOGPROB_RANGE, old in LOGPROB_RANGE) {
        prop_assume!((lp - old).abs() < 5.0);
        for est in [KlEstimator::K1, KlEstimator::K2, KlEstimator::K3] {
            let kl = KlPenalty::<f64>::new(est).with_log_ratio_clamp(None).unwrap();
            let (mut v, mut g) = ([0.0], [0.0]);
            kl.importance_weighted(&mut v, Some(&mut g), &[lp], &[rp], &[old]).unwrap();
            let f = |x: &[f64]| {
                let mut o = [0.0];
                kl.importance_weighted(&mut o, None, &[x[0]], &[rp], &[old]).unwrap();
                o[0]
            };
            let fd = central_diff(&[lp], 1e-6, f);
            prop_assert!((g[0] - fd[0]).abs() <= 1e-5 * (1.0 + g[0].abs()), "{est}: {} vs {}", g[0], fd[0]);
            prop_assert!((v[0] - (lp - old).exp() * kl.eval(lp, rp).0).abs() < 1e-9 * (1.0 + v[0].abs()));
        }
    }

    #[test]
    fn k1_and_k3_are_unbiased_on_a_finite_support(z in prop::collection::vec(-4.0..4.0f64, 2..9), zr_seed in prop::collection::vec(-4.0..4.0f64, 9)) {
        // With a ~ π: E[k1] = E[k3] = KL(π‖q) exactly (E[e^{−d}] = Σ π·q/π = 1).
        let v = z.len();
        let zr = &zr_seed[..v];
        let mut kl = [0.0];
        full_kl_forward(&mut kl, &z, zr, v).unwrap();
        let lse = |x: &[f64]| { let m = x.iter().cloned().fold(f64::MIN, f64::max); m + x.iter().map(|y| (y - m).exp()).sum::<f64>().ln() };
        let (lp, lq) = (lse(&z), lse(zr));
        for est in [KlEstimator::K1, KlEstimator::K3] {
            let e: f64 = z.iter().zip(zr).map(|(a, b)| {
                let (logp, logq) = (a - lp, b - lq);
                logp.exp() * est.eval(logp - logq).0
            }).sum();
            prop_assert!((e - kl[0]).abs() < 1e-9, "{est}: {e} vs {}", kl[0]);
        }
        prop_assert!(kl[0] >= 0.0);
    }

    #[test]
    fn full_kl_and_entropy_gradients(z in prop::collection::vec(-3.0..3.0f64, 6), zr in prop::collection::vec(-3.0..3.0f64, 6), up in prop::collection::vec(-2.0..2.0f64, 2)) {
        // Two rows of V = 3.
        let v = 3;
        let mut g = vec![0.0; 6];
        full_kl_backward(&mut g, &up, &z, &zr, v).unwrap();
        let f = |x: &[f64]| { let mut o = [0.0; 2]; full_kl_forward(&mut o, x, &zr, v).unwrap(); o[0] * up[0] + o[1] * up[1] };
        assert_all_close("full KL grad", &g, &central_diff(&z, 1e-6, f), 1e-6, 1e-7);
        entropy_backward(&mut g, &up, &z, v).unwrap();
        let f = |x: &[f64]| { let mut o = [0.0; 2]; entropy_forward(&mut o, x, v).unwrap(); o[0] * up[0] + o[1] * up[1] };
        assert_all_close("entropy grad", &g, &central_diff(&z, 1e-6, f), 1e-6, 1e-7);
        // Ranges: 0 <= H <= ln V; KL >= 0, and 0 for logits equal up to a shift.
        let mut h = [0.0; 2];
        entropy_forward(&mut h, &z, v).unwrap();
        prop_assert!(h.iter().all(|&x| (0.0..=3f64.ln() + 1e-12).contains(&x)));
        let shifted: Vec<f64> = z.iter().map(|x| x + 1.7).collect();
        let mut k = [1.0; 2];
        full_kl_forward(&mut k, &z, &shifted, v).unwrap();
        prop_assert!(k.iter().all(|x| x.abs() < 1e-12));
        // f32 vs f64.
        let z32: Vec<f32> = z.iter().map(|&x| x as f32).collect();
        let zr32: Vec<f32> = zr.iter().map(|&x| x as f32).collect();
        let (mut k32, mut k64) = ([0.0f32; 2], [0.0f64; 2]);
        full_kl_forward(&mut k32, &z32, &zr32, v).unwrap();
        full_kl_forward(&mut k64, &widen(&z32), &widen(&zr32), v).unwrap();
        assert_all_close("full KL f32", &widen(&k32), &k64, 1e-5, 1e-6);
    }

    #[test]
    fn logprobs_gradient_shift_invariance_and_f32(
        v in 2..7usize,
        z in prop::collection::vec(-6.0..6.0f64, 3 * 6),
        ids in prop::collection::vec(0..6u32, 3),
        up in prop::collection::vec(-2.0..2.0f64, 3),
        shift in -50.0..50.0f64,
    ) {
        // Three rows of V logits; ids folded into the vocabulary.
        let z = &z[..3 * v];
        let ids: Vec<u32> = ids.iter().map(|&i| i % v as u32).collect();
        let mut lp = [0.0; 3];
        logprobs_forward(&mut lp, z, &ids, v).unwrap();
        prop_assert!(lp.iter().all(|&x| x <= 0.0));
        // Against the definition: log softmax via exp/ln of the row.
        for (r, (&x, &id)) in lp.iter().zip(&ids).enumerate() {
            let row = &z[r * v..(r + 1) * v];
            let s: f64 = row.iter().map(|y| y.exp()).sum();
            prop_assert!((x - (row[id as usize] - s.ln())).abs() < 1e-12, "{x}");
        }
        // Gradient of Σ gₙ·log π(idₙ) against central differences; each row sums to zero.
        let mut g = vec![0.0; 3 * v];
        logprobs_backward(&mut g, &up, z, &ids, v).unwrap();
        let f = |x: &[f64]| { let mut o = [0.0; 3]; logprobs_forward(&mut o, x, &ids, v).unwrap(); o.iter().zip(&up).map(|(a, b)| a * b).sum::<f64>() };
        assert_all_close("logprobs grad", &g, &central_diff(z, 1e-6, f), 1e-6, 1e-7);
        for row in g.chunks(v) {
            prop_assert!(row.iter().sum::<f64>().abs() < 1e-12);
        }
        // A shift of the logits changes nothing.
        let zs: Vec<f64> = z.iter().map(|x| x + shift).collect();
        let mut lps = [0.0; 3];
        logprobs_forward(&mut lps, &zs, &ids, v).unwrap();
        assert_all_close("shift", &lps, &lp, 1e-12, 1e-12);
        // f32 against f64 on the same (rounded) inputs.
        let z32: Vec<f32> = z.iter().map(|&x| x as f32).collect();
        let up32: Vec<f32> = up.iter().map(|&x| x as f32).collect();
        let (mut l32, mut g32) = ([0.0f32; 3], vec![0.0f32; 3 * v]);
        logprobs_forward(&mut l32, &z32, &ids, v).unwrap();
        logprobs_backward(&mut g32, &up32, &z32, &ids, v).unwrap();
        let (mut l64, mut g64) = ([0.0f64; 3], vec![0.0f64; 3 * v]);
        logprobs_forward(&mut l64, &widen(&z32), &ids, v).unwrap();
        logprobs_backward(&mut g64, &widen(&up32), &widen(&z32), &ids, v).unwrap();
        assert_all_close("logprobs f32", &widen(&l32), &l64, 1e-5, 1e-6);
        assert_all_close("logprobs grad f32", &widen(&g32), &g64, 1e-5, 1e-6);
    }

    #[test]
    fn adaptive_controller_moves_toward_target(kl in 0.0..1.0f64, steps in 1usize..5000) {
        let mut c = AdaptiveKlController::new(0.1, 0.1, 10_000.0).unwrap();
        let before = c.coef();
        c.update(kl, steps).unwrap();
        if kl > 0.1 { prop_assert!(c.coef() >= before); }
        if kl < 0.1 { prop_assert!(c.coef() <= before); }
        prop_assert!(c.coef() >= 0.0);
        // The step is bounded by ±20 % × n_steps / horizon.
        prop_assert!((c.coef() / before - 1.0).abs() <= 0.2 * steps as f64 / 10_000.0 + 1e-15);
    }
}

#[test]
fn literal_values() {
    // d = ln 2 (π twice π_ref): k1 = ln 2 = 0.6931.., k2 = 0.2402.., k3 = 1/2 − 1 + ln 2 = 0.1931..
    let lp = -1.0f64;
    let rp = lp - 2f64.ln();
    let check = |est: KlEstimator, v: f64, g: f64| {
        let (a, b) = KlPenalty::<f64>::new(est).eval(lp, rp);
        assert!(
            (a - v).abs() < 1e-15 && (b - g).abs() < 1e-15,
            "{est}: {a} {b}"
        );
    };
    check(KlEstimator::K1, 2f64.ln(), 1.0);
    check(KlEstimator::Abs, 2f64.ln(), 1.0);
    check(KlEstimator::K2, 0.5 * 2f64.ln().powi(2), 2f64.ln());
    check(KlEstimator::K3, 0.5 - 1.0 + 2f64.ln(), 0.5);
    // Full KL of π = (1/2, 1/2) from π_ref = (1/4, 3/4): ½ ln 2 + ½ ln(2/3).
    let mut k = [0.0f64];
    full_kl_forward(&mut k, &[0.0, 0.0], &[0.0, 3f64.ln()], 2).unwrap();
    assert!((k[0] - (0.5 * 2f64.ln() + 0.5 * (2.0f64 / 3.0).ln())).abs() < 1e-15);
    let mut fixed = FixedKlController::new(0.001f64).unwrap();
    fixed.update(3.0, 10).unwrap();
    assert_eq!(fixed.coef(), 0.001);
}

#[test]
fn bad_input() {
    let kl = KlPenalty::<f64>::default();
    let mut v = [0.0; 2];
    assert!(matches!(
        kl.forward(&mut v, None, &[0.0, 1.0], &[0.0]),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(
        kl.forward(&mut v, None, &[0.0, f64::NAN], &[0.0, 0.0]),
        Err(Error::NonFinite {
            what: "logp",
            index: 1
        })
    );
    assert!(kl.with_log_ratio_clamp(Some(-1.0)).is_err());
    assert!(kl.with_value_clamp(Some(f64::NAN)).is_err());
    let mut g = [0.0; 2];
    assert!(matches!(
        full_kl_backward(&mut g, &[1.0], &[0.0, 0.0], &[0.0], 2),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        entropy_forward(&mut v, &[0.0, 0.0, 0.0], 2),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        entropy_forward(&mut v[..1], &[f64::INFINITY, 0.0], 2),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        entropy_forward(&mut v[..1], &[f64::NEG_INFINITY, f64::NEG_INFINITY], 2),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        full_kl_forward(&mut v[..1], &[0.0, 0.0], &[0.0, f64::NEG_INFINITY], 2),
        Err(Error::Overflow { .. })
    ));
    // Token log-probabilities: one case per documented error.
    let mut lp = [0.0f64; 2];
    let mut gl = [0.0f64; 4];
    assert!(matches!(
        logprobs_forward(&mut lp, &[0.0; 3], &[0, 0], 2),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        logprobs_forward(&mut lp, &[0.0; 4], &[0, 0], 0),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        logprobs_forward(&mut lp, &[], &[], 2),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        logprobs_forward(&mut lp, &[0.0; 4], &[0], 2),
        Err(Error::LengthMismatch { what: "ids", .. })
    ));
    assert!(matches!(
        logprobs_forward(&mut lp[..1], &[0.0; 4], &[0, 0], 2),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert_eq!(
        logprobs_forward(&mut lp, &[0.0, 0.0, 0.0, f64::NAN], &[0, 0], 2),
        Err(Error::NonFinite {
            what: "logits",
            index: 3
        })
    );
    assert!(matches!(
        logprobs_forward(
            &mut lp,
            &[0.0, 0.0, f64::NEG_INFINITY, f64::NEG_INFINITY],
            &[0, 0],
            2
        ),
        Err(Error::NonFinite { .. })
    ));
    assert_eq!(
        logprobs_forward(&mut lp, &[0.0; 4], &[1, 2], 2),
        Err(Error::TokenOutOfRange {
            index: 1,
            id: 2,
            vocab: 2
        })
    );
    assert!(matches!(
        logprobs_forward(&mut lp, &[0.0, 0.0, 0.0, f64::NEG_INFINITY], &[0, 1], 2),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        logprobs_backward(&mut gl, &[1.0, f64::NAN], &[0.0; 4], &[0, 0], 2),
        Err(Error::NonFinite {
            what: "grad_out",
            ..
        })
    ));
    assert!(matches!(
        logprobs_backward(&mut gl[..3], &[1.0, 1.0], &[0.0; 4], &[0, 0], 2),
        Err(Error::LengthMismatch {
            what: "grad_logits",
            ..
        })
    ));
    assert!(matches!(
        logprobs_backward(&mut gl, &[1.0], &[0.0; 4], &[0, 0], 2),
        Err(Error::LengthMismatch {
            what: "grad_out",
            ..
        })
    ));
    assert!(matches!(
        logprobs_backward(&mut gl, &[1.0, 1.0], &[0.0; 4], &[0, 9], 2),
        Err(Error::TokenOutOfRange { id: 9, .. })
    ));
    assert!(AdaptiveKlController::new(0.1f64, -1.0, 1.0).is_err());
    assert!(AdaptiveKlController::new(0.1f64, 0.1, 0.0).is_err());
    assert!(FixedKlController::new(f64::NAN).is_err());
    let e = "k5".parse::<KlEstimator>().unwrap_err().to_string();
    assert!(e.contains("low_var_kl"), "{e}");
    // Overflowing importance weight.
    let (mut v1, mut g1) = ([0.0f32], [0.0f32]);
    assert!(matches!(
        KlPenalty::<f32>::default().importance_weighted(
            &mut v1,
            Some(&mut g1),
            &[-0.1],
            &[-0.2],
            &[-200.0]
        ),
        Err(Error::Overflow { .. })
    ));
}

#[test]
fn fuzz_regressions() {
    // fuzz/kl crash: logits of magnitude 3e32. `max + ln Σ` absorbed ln Σ, so every log-probability
    // came out as 0 (KL 0 instead of ln 3, and an f32 overflow in the next row). Log-probabilities
    // are now (z − max) − ln Σ.
    let z = [
        3.177_232_1e32f32,
        3.111_560_2e32,
        3.111_560_2e32,
        3.111_560_2e32,
        3.111_560_2e32,
        3.111_560_2e32,
    ];
    let zr = [
        3.111_560_2e32f32,
        3.111_560_2e32,
        3.107_648_3e32,
        3.111_560_2e32,
        2.030_387_7e-22,
        1.283_005_8e-22,
    ];
    let mut out = [0.0f32];
    full_kl_forward(&mut out, &z, &zr, 6).unwrap();
    assert!((out[0] - 3f32.ln()).abs() < 1e-6, "{out:?}");
    // An entropy of six equal huge logits is ln 6, not 0.
    let mut h = [0.0f32];
    entropy_forward(&mut h, &[3.1e32f32; 6], 6).unwrap();
    assert!((h[0] - 6f32.ln()).abs() < 1e-6, "{h:?}");
}
