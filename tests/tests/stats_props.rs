//! Properties of the stable elementwise functions, logsumexp/softmax, and group summaries.

use proptest::prelude::*;
use rewardkit_core::GroupIndex;
use rewardkit_core::stats::{
    Summary, group_summaries, log_sigmoid, log_softmax, logsumexp, sigmoid, softmax, softplus,
};
use rewardkit_tests::approx_eq::assert_all_close;
use rewardkit_tests::{oracle, strategies::grouped_rewards};

proptest! {
    #[test]
    fn elementwise_identities(x in -700.0..700.0f64) {
        // σ(x) + σ(−x) = 1; ln σ(x) = x − softplus(x); softplus(x) − softplus(−x) = x.
        prop_assert!((sigmoid(x) + sigmoid(-x) - 1.0).abs() < 1e-15);
        prop_assert!((log_sigmoid(x) - (x - softplus(x))).abs() <= 1e-12 * (1.0 + x.abs()));
        prop_assert!((softplus(x) - softplus(-x) - x).abs() <= 1e-12 * (1.0 + x.abs()));
        prop_assert!(log_sigmoid(x).is_finite() && softplus(x).is_finite());
        let x32 = x as f32;
        prop_assert!((f64::from(sigmoid(x32)) - sigmoid(f64::from(x32))).abs() < 1e-7);
        prop_assert!((f64::from(softplus(x32)) - softplus(f64::from(x32))).abs() <= 1e-6 * (1.0 + x.abs()));
    }

    #[test]
    fn softmax_family(x in prop::collection::vec(-50.0..50.0f64, 1..20), c in -500.0..500.0f64) {
        let lse = logsumexp(&x).unwrap();
        let naive = x.iter().map(|v| v.exp()).sum::<f64>().ln();
        prop_assert!((lse - naive).abs() < 1e-12 * (1.0 + naive.abs()));
        // Shift equivariance: lse(x + c) = lse(x) + c.
        let shifted: Vec<f64> = x.iter().map(|v| v + c).collect();
        prop_assert!((logsumexp(&shifted).unwrap() - lse - c).abs() < 1e-9 * (1.0 + c.abs()));
        let mut p = vec![0.0; x.len()];
        softmax(&mut p, &x).unwrap();
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let mut lp = vec![0.0; x.len()];
        log_softmax(&mut lp, &x).unwrap();
        let back: Vec<f64> = lp.iter().map(|v| v.exp()).collect();
        assert_all_close("exp(log_softmax) = softmax", &back, &p, 1e-12, 1e-15);
    }

    #[test]
    fn group_summaries_match_oracle((ids, g, r) in grouped_rewards()) {
        let groups = GroupIndex::new(&ids, g).unwrap();
        let mut out = vec![Summary::EMPTY; g];
        group_summaries(&mut out, &r, &groups).unwrap();
        for (s, rows) in out.iter().zip(oracle::members(&ids, g)) {
            let vals: Vec<f64> = rows.iter().map(|&i| r[i]).collect();
            prop_assert_eq!(s.count, vals.len());
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            prop_assert!((s.mean - mean).abs() < 1e-12);
            prop_assert_eq!(s.min, vals.iter().cloned().fold(f64::INFINITY, f64::min));
            prop_assert_eq!(s.max, vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
            if vals.len() > 1 {
                prop_assert!((s.std(1) - oracle::mean_std(&vals).1).abs() < 1e-12);
            }
        }
        // f32 inputs accumulate in f64: the f32 summary equals the f64 summary of the same values.
        let r32: Vec<f32> = r.iter().map(|&x| x as f32).collect();
        let r32w: Vec<f64> = r32.iter().map(|&x| f64::from(x)).collect();
        let mut a = vec![Summary::EMPTY; g];
        let mut b = vec![Summary::EMPTY; g];
        group_summaries(&mut a, &r32, &groups).unwrap();
        group_summaries(&mut b, &r32w, &groups).unwrap();
        prop_assert_eq!(a, b);
    }
}
