//! Properties and gradient checks of the KL estimators, the full-vocabulary KL and entropy, and the
//! controllers.

use proptest::prelude::*;
use rewardkit_core::kl::{AdaptiveKlController, FixedKlController, KlController};
use rewardkit_core::logits::{RowStats, full_kl_forward};
use rewardkit_core::{Error, KlEstimator, KlPenalty, KlTerm, Preset};
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
            for preset in [
                Preset::Rewardkit,
                Preset::Verl,
                Preset::Trl,
                Preset::OpenRlhf,
            ] {
                v.push(KlPenalty::from_preset(preset, est).with_straight_through(st));
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn zero_at_equal_logprobs_and_nonnegative(lp in LOGPROB_RANGE, rp in LOGPROB_RANGE) {
        for kl in penalties() {
            let (v0, g0) = kl.eval(lp, lp).unwrap();
            prop_assert_eq!(v0, 0.0);
            // k2, k3 (and every straight-through form) are minimal at d = 0; k1 has slope 1.
            if kl.straight_through() || matches!(kl.estimator(), KlEstimator::K2 | KlEstimator::K3) {
                prop_assert_eq!(g0, 0.0);
            }
            let (v, _) = kl.eval(lp, rp).unwrap();
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
            let (v32, g32) = kl32.eval(lp as f32, rp as f32).unwrap();
            let (v64, g64) = kl.eval(f64::from(lp as f32), f64::from(rp as f32)).unwrap();
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
            let (_, g) = kl.eval(lp, rp).unwrap();
            let fd = central_diff(&[lp], 1e-6, |x| kl.eval(x[0], rp).unwrap().0);
            prop_assert!((g - fd[0]).abs() <= 1e-6 * (1.0 + g.abs()), "{est}: {g} vs {fd:?}");
            // Reference side: the derivative is the negative.
            let fd_ref = central_diff(&[rp], 1e-6, |x| kl.eval(lp, x[0]).unwrap().0);
            prop_assert!((g + fd_ref[0]).abs() <= 1e-6 * (1.0 + g.abs()));
            // Straight-through: the gradient of k2 = d²/2, whatever the value is.
            let st = kl.with_straight_through(true);
            let fd_k2 = central_diff(&[lp], 1e-6, |x| KlEstimator::K2.eval(x[0] - rp).0);
            prop_assert!((st.eval(lp, rp).unwrap().1 - fd_k2[0]).abs() < 1e-6);
            prop_assert_eq!(st.eval(lp, rp).unwrap().0, kl.eval(lp, rp).unwrap().0);
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
            prop_assert!((v[0] - (lp - old).exp() * kl.eval(lp, rp).unwrap().0).abs() < 1e-9 * (1.0 + v[0].abs()));
        }
    }

    #[test]
    fn k1_and_k3_are_unbiased_on_a_finite_support(z in prop::collection::vec(-4.0..4.0f64, 2..9), zr_seed in prop::collection::vec(-4.0..4.0f64, 9)) {
        // With a ~ π: E[k1] = E[k3] = KL(π‖q) exactly (E[e^{−d}] = Σ π·q/π = 1).
        let v = z.len();
        let zr = &zr_seed[..v];
        let mut kl = [0.0];
        let (mut s1, mut s2) = ([RowStats::default()], [RowStats::default()]);
        full_kl_forward(&mut kl, &mut s1, &mut s2, &z, zr, v).unwrap();
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
        let (a, b) = KlPenalty::<f64>::new(est).eval(lp, rp).unwrap();
        assert!(
            (a - v).abs() < 1e-15 && (b - g).abs() < 1e-15,
            "{est}: {a} {b}"
        );
    };
    check(KlEstimator::K1, 2f64.ln(), 1.0);
    check(KlEstimator::Abs, 2f64.ln(), 1.0);
    check(KlEstimator::K2, 0.5 * 2f64.ln().powi(2), 2f64.ln());
    check(KlEstimator::K3, 0.5 - 1.0 + 2f64.ln(), 0.5);
    // The KL term: coef·k, and coef·w·(k + k') importance-weighted with w = e^{log π − log π_old}.
    let t = KlTerm::new(KlPenalty::new(KlEstimator::K2), 0.5).unwrap();
    let (v, g) = t.eval(lp, lp, rp).unwrap();
    assert!((v - 0.25 * 2f64.ln().powi(2)).abs() < 1e-15 && (g - 0.5 * 2f64.ln()).abs() < 1e-15);
    let w = t.with_importance_weighted(true);
    assert!(w.importance_weighted() && !t.importance_weighted());
    // log π_old = log π − ln 2: w = 2; 0.5·2·(k2 + d) with d = ln 2.
    let (v, g) = w.eval(lp, lp - 2f64.ln(), rp).unwrap();
    let d = 2f64.ln();
    assert!((v - 0.5 * d * d).abs() < 1e-15 && (g - (0.5 * d * d + d)).abs() < 1e-15);
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
    assert!(AdaptiveKlController::new(0.1f64, -1.0, 1.0).is_err());
    assert!(AdaptiveKlController::new(0.1f64, 0.1, 0.0).is_err());
    assert!(FixedKlController::new(f64::NAN).is_err());
    assert!(KlTerm::new(kl, -0.1).is_err());
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
    // Unclamped k3 overflows f32 below d ≈ −88: Overflow from forward and eval alike.
    let k3 = KlPenalty::<f32>::new(KlEstimator::K3)
        .with_log_ratio_clamp(None)
        .unwrap();
    assert!(matches!(
        k3.forward(&mut v1, None, &[-100.0], &[0.0]),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(k3.eval(-100.0, 0.0), Err(Error::Overflow { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `eval` and `forward` are one rule: the same values, and the same verdict on bad input.
    #[test]
    fn eval_agrees_with_forward(lp in -1e4..1e4f64, rp in -1e4..1e4f64, which in 0..32usize, nan in 0..4u8) {
        let kl = penalties()[which % penalties().len()];
        let lp = if nan == 1 { f64::NAN } else { lp };
        let (mut v, mut g) = ([0.0], [0.0]);
        let f = kl.forward(&mut v, Some(&mut g), &[lp], &[rp]);
        match kl.eval(lp, rp) {
            Ok((a, b)) => {
                prop_assert!(f.is_ok());
                prop_assert_eq!((a, b), (v[0], g[0]));
            }
            Err(e) => prop_assert_eq!(std::mem::discriminant(&e), std::mem::discriminant(&f.unwrap_err())),
        }
        // f32 likewise (k2 and straight-through overflow there).
        let k32 = KlPenalty::<f32>::from_preset(Preset::Rewardkit, kl.estimator())
            .with_straight_through(kl.straight_through());
        let (mut v, mut g) = ([0.0f32], [0.0f32]);
        let (l32, r32) = ((lp * 1e34) as f32, (rp * 1e34) as f32);
        let f = k32.forward(&mut v, Some(&mut g), &[l32], &[r32]);
        match k32.eval(l32, r32) {
            Ok((a, b)) => {
                prop_assert!(f.is_ok());
                prop_assert_eq!((a, b), (v[0], g[0]));
                prop_assert!(a.is_finite() && b.is_finite());
            }
            Err(_) => prop_assert!(f.is_err()),
        }
    }
}
