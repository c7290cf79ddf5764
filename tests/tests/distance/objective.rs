//! KL-regularised alignment: monotonicity of the tilt in `β`, the KL-budget solver, agreement with
//! brute force (grid search over the simplex for the tilt, enumeration of all `M^N` draws for
//! best-of-N), and the best-of-N KL against `log N − (N−1)/N`.

use proptest::prelude::*;
use rewardkit_core::Real;
use rewardkit_core::objective::{
    best_of_n, best_of_n_kl_bound, beta_for_kl, tilt, tilt_lambda, tilt_stats,
};

// A finite support: probabilities (some zero) and rewards (sometimes tied).
fn support() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (1..=8usize).prop_flat_map(|n| {
        (
            prop::collection::vec(prop_oneof![3 => 0.05..1.0f64, 1 => Just(0.0)], n),
            prop::collection::vec(
                prop_oneof![3 => -3.0..3.0f64, 1 => prop::sample::select(vec![-1.0, 0.0, 1.0])],
                n,
            ),
        )
            .prop_filter_map("needs mass", |(w, r)| {
                let s: f64 = w.iter().sum();
                (s > 0.0).then(|| (w.iter().map(|x| x / s).collect(), r))
            })
    })
}

fn kl_max(p: &[f64], r: &[f64]) -> f64 {
    let top = p
        .iter()
        .zip(r)
        .filter(|(p, _)| **p > 0.0)
        .fold(f64::NEG_INFINITY, |m, (_, r)| m.max(*r));
    let mass: f64 = p
        .iter()
        .zip(r)
        .filter(|(p, r)| **p > 0.0 && **r == top)
        .map(|(p, _)| p)
        .sum();
    // Σp rounds to 1 ± 1e-16: clamp, as the library does (a budget is never negative).
    (-mass.ln()).max(0.0)
}

fn check_monotone<F: Real>(p: &[f64], r: &[f64]) {
    let pf: Vec<F> = p.iter().map(|&x| F::lit(x)).collect();
    let rf: Vec<F> = r.iter().map(|&x| F::lit(x)).collect();
    let slack = if F::NAME == "f64" { 1e-14 } else { 1e-6 };
    let kmax = kl_max(p, r);
    let mut prev = (f64::INFINITY, f64::INFINITY);
    for beta in [1e-3, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1e4] {
        let s = tilt_stats(&pf, &rf, F::lit(beta)).unwrap();
        let (kl, er) = (s.kl.as_f64(), s.expected_reward.as_f64());
        // KL and E[r] both fall as β grows (λ = 1/β shrinks).
        assert!(
            kl <= prev.0 * (1.0 + slack) + slack,
            "β = {beta}: KL {kl} > {}",
            prev.0
        );
        assert!(
            er <= prev.1 + slack * (1.0 + er.abs()),
            "β = {beta}: E {er} > {}",
            prev.1
        );
        assert!(
            kl >= 0.0 && kl <= kmax * (1.0 + slack) + slack,
            "KL {kl} ∉ [0, {kmax}]"
        );
        prev = (kl, er);
    }
}

// The f64 brute-force tilt: `p·e^{r/β}` normalised, computed naïvely (fine for |r/β| < 700).
fn naive_tilt(p: &[f64], r: &[f64], beta: f64) -> (Vec<f64>, f64, f64) {
    let w: Vec<f64> = p.iter().zip(r).map(|(p, r)| p * (r / beta).exp()).collect();
    let z: f64 = w.iter().sum();
    let phi: Vec<f64> = w.iter().map(|x| x / z).collect();
    let kl = phi
        .iter()
        .zip(p)
        .filter(|(f, _)| **f > 0.0)
        .map(|(f, p)| f * (f / p).ln())
        .sum();
    let er = phi.iter().zip(r).map(|(f, r)| f * r).sum();
    (phi, kl, er)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn kl_and_reward_are_monotone_in_beta((p, r) in support()) {
        check_monotone::<f64>(&p, &r);
        check_monotone::<f32>(&p, &r);
    }

    #[test]
    fn tilt_matches_the_naive_formula((p, r) in support(), beta in 0.3..10.0f64) {
        let (want, kl, er) = naive_tilt(&p, &r, beta);
        let mut phi = vec![0.0f64; p.len()];
        let s = tilt(&mut phi, &p, &r, beta).unwrap();
        for (g, w) in phi.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1e-13, "{:?} vs {:?}", phi, want);
        }
        prop_assert!((s.kl - kl).abs() <= 1e-12 * (1.0 + kl));
        prop_assert!((s.expected_reward - er).abs() <= 1e-12 * (1.0 + er.abs()));
        // f32 against the f64 oracle.
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let r32: Vec<f32> = r.iter().map(|&x| x as f32).collect();
        let mut phi32 = vec![0.0f32; p.len()];
        let s32 = tilt(&mut phi32, &p32, &r32, beta as f32).unwrap();
        for (g, w) in phi32.iter().zip(&want) {
            prop_assert!((f64::from(*g) - w).abs() <= 2e-5);
        }
        prop_assert!((f64::from(s32.kl) - kl).abs() <= 2e-5 * (1.0 + kl));
    }

    // The budget solver meets Δ, and the tilt at the returned β spends exactly Δ.
    #[test]
    fn budget_solver_meets_the_budget((p, r) in support(), frac in 0.0..1.2f64) {
        let kmax = kl_max(&p, &r);
        let delta = frac * kmax;
        let sol = beta_for_kl(&p, &r, delta).unwrap();
        // A constant reward on the support has KL_max = 0 exactly (the library normalizes p); the
        // test's `kl_max` can be 1e-16 from the rounding of Σp, so test constancy directly.
        let mut on_support = p.iter().zip(&r).filter(|(p, _)| **p > 0.0).map(|(_, r)| *r);
        let first = on_support.next();
        let constant = on_support.all(|x| Some(x) == first);
        if delta >= kmax || constant {
            prop_assert!(sol.saturated);
            prop_assert_eq!(sol.lambda, f64::INFINITY);
            prop_assert!((sol.kl - kmax).abs() <= 1e-12);
        } else if delta == 0.0 {
            prop_assert_eq!(sol.lambda, 0.0);
        } else {
            prop_assert!(!sol.saturated);
            prop_assert!((sol.kl - delta).abs() <= 1e-10 * delta + 1e-14, "{} vs {}", sol.kl, delta);
            let again = tilt_stats(&p, &r, sol.beta()).unwrap();
            prop_assert!((again.kl - delta).abs() <= 1e-9 * delta + 1e-13);
            prop_assert!((again.expected_reward - sol.expected_reward).abs() <= 1e-12);
        }
        // f32: the budget is met to f32 precision.
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let r32: Vec<f32> = r.iter().map(|&x| x as f32).collect();
        let sol32 = beta_for_kl(&p32, &r32, delta as f32).unwrap();
        if !sol32.saturated && delta > 1e-3 {
            prop_assert!((f64::from(sol32.kl) - delta).abs() <= 1e-4 * delta, "{:?}", sol32);
        }
    }

    // φ_β maximises `E_q[r] − β·KL(q‖p)` over a grid of the 3-point simplex, and
    // `max = β·log E_p[e^{r/β}]`.
    #[test]
    fn tilt_maximises_the_regularised_objective(
        w in prop::collection::vec(0.05..1.0f64, 3),
        r in prop::collection::vec(-2.0..2.0f64, 3),
        beta in 0.2..5.0f64,
    ) {
        let s: f64 = w.iter().sum();
        let p: Vec<f64> = w.iter().map(|x| x / s).collect();
        let obj = |q: &[f64]| {
            let er: f64 = q.iter().zip(&r).map(|(q, r)| q * r).sum();
            let kl: f64 = q.iter().zip(&p).filter(|(q, _)| **q > 0.0).map(|(q, p)| q * (q / p).ln()).sum();
            er - beta * kl
        };
        let mut phi = vec![0.0f64; 3];
        tilt(&mut phi, &p, &r, beta).unwrap();
        let best = obj(&phi);
        let closed = beta * p.iter().zip(&r).map(|(p, r)| p * (r / beta).exp()).sum::<f64>().ln();
        prop_assert!((best - closed).abs() <= 1e-12 * (1.0 + closed.abs()));
        let k = 120;
        let mut grid_best = f64::NEG_INFINITY;
        for i in 0..=k {
            for j in 0..=(k - i) {
                let q = [i as f64 / k as f64, j as f64 / k as f64, (k - i - j) as f64 / k as f64];
                let v = obj(&q);
                prop_assert!(v <= best + 1e-12, "grid point {:?} beats φ: {} > {}", q, v, best);
                grid_best = grid_best.max(v);
            }
        }
        // The grid comes close to the optimum (resolution 1/120).
        prop_assert!(best - grid_best <= 0.02 * (1.0 + best.abs()));
    }

    // Best-of-N equals the law obtained by enumerating all M^N draws (ties broken uniformly).
    #[test]
    fn best_of_n_matches_enumeration(
        (p, r) in (1..=4usize).prop_flat_map(|m| (
            prop::collection::vec(prop_oneof![4 => 0.05..1.0f64, 1 => Just(0.0)], m),
            prop::collection::vec(prop::sample::select(vec![0.0, 0.5, 1.0, 2.0]), m),
        )).prop_filter_map("mass", |(w, r)| {
            let s: f64 = w.iter().sum();
            (s > 0.0).then(|| (w.iter().map(|x| x / s).collect::<Vec<f64>>(), r))
        }),
        n in 1..=4usize,
    ) {
        let m = p.len();
        let mut want = vec![0.0f64; m];
        for code in 0..m.pow(n as u32) {
            let mut c = code;
            let draws: Vec<usize> = (0..n).map(|_| { let d = c % m; c /= m; d }).collect();
            let prob: f64 = draws.iter().map(|&d| p[d]).product();
            if prob == 0.0 {
                continue;
            }
            let top = draws.iter().map(|&d| r[d]).fold(f64::NEG_INFINITY, f64::max);
            let winners: Vec<usize> = draws.iter().copied().filter(|&d| r[d] == top).collect();
            for &wi in &winners {
                want[wi] += prob / winners.len() as f64;
            }
        }
        let mut pi = vec![0.0f64; m];
        let b = best_of_n(&mut pi, &p, &r, n).unwrap();
        for (g, w) in pi.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1e-13, "{:?} vs {:?}", pi, want);
        }
        let kl: f64 = want.iter().zip(&p).filter(|(w, _)| **w > 0.0).map(|(w, p)| w * (w / p).ln()).sum();
        let er: f64 = want.iter().zip(&r).map(|(w, r)| w * r).sum();
        prop_assert!((b.kl - kl).abs() <= 1e-12);
        prop_assert!((b.expected_reward - er).abs() <= 1e-12);
        prop_assert!(b.kl <= b.kl_bound + 1e-12);
        // f32 against the f64 enumeration.
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let r32: Vec<f32> = r.iter().map(|&x| x as f32).collect();
        let mut pi32 = vec![0.0f32; m];
        let b32 = best_of_n(&mut pi32, &p32, &r32, n).unwrap();
        for (g, w) in pi32.iter().zip(&want) {
            prop_assert!((f64::from(*g) - w).abs() <= 1e-6);
        }
        prop_assert!((f64::from(b32.kl) - kl).abs() <= 1e-5);
    }

    // `KL(π_N‖p) <= log N − (N−1)/N` for any support and N.
    #[test]
    fn best_of_n_kl_is_bounded((p, r) in support(), n in 1..=64usize) {
        let mut pi = vec![0.0f64; p.len()];
        let b = best_of_n(&mut pi, &p, &r, n).unwrap();
        prop_assert!(b.kl >= 0.0 && b.kl <= b.kl_bound + 1e-12, "{:?}", b);
        prop_assert!((pi.iter().sum::<f64>() - 1.0).abs() <= 1e-12);
    }
}

// With distinct rewards on a uniform support of M points, `KL(π_N‖p)` approaches
// `log N − (N−1)/N` as M grows (the continuous limit), from below.
#[test]
fn best_of_n_kl_reaches_the_bound_in_the_continuous_limit() {
    for n in [2usize, 4, 16, 64] {
        let bound = best_of_n_kl_bound::<f64>(n).unwrap();
        let mut last_gap = f64::INFINITY;
        for m in [10usize, 100, 1000, 10_000, 100_000] {
            let p = vec![1.0 / m as f64; m];
            let r: Vec<f64> = (0..m).map(|i| (i as f64).sqrt()).collect(); // distinct
            let mut pi = vec![0.0f64; m];
            let b = best_of_n(&mut pi, &p, &r, n).unwrap();
            let gap = bound - b.kl;
            assert!(
                gap > 0.0,
                "N = {n}, M = {m}: KL {} above the bound {bound}",
                b.kl
            );
            assert!(
                gap < last_gap,
                "N = {n}: gap {gap} did not shrink from {last_gap}"
            );
            last_gap = gap;
        }
        assert!(last_gap < 1e-3, "N = {n}: gap {last_gap} at M = 1e5");
    }
    // On a coarse support the gap is large: two equally likely rewards, N = 2 (hand-computed in
    // the literals): KL = 0.1308… < log 2 − ½ = 0.1931….
    let mut pi = [0.0f64; 2];
    let b = best_of_n(&mut pi, &[0.5, 0.5], &[0.0, 1.0], 2).unwrap();
    assert!(b.kl_bound - b.kl > 0.06);
}

// The KL-constrained optimum beats best-of-N at the same KL (it is the optimum), and both beat p.
#[test]
fn tilt_dominates_best_of_n_at_equal_kl() {
    let m = 50;
    let p: Vec<f64> = (0..m).map(|i| 1.0 + (i % 7) as f64).collect();
    let s: f64 = p.iter().sum();
    let p: Vec<f64> = p.iter().map(|x| x / s).collect();
    let r: Vec<f64> = (0..m).map(|i| ((i * 37) % 101) as f64 / 10.0).collect();
    for n in [2usize, 4, 8, 32] {
        let mut pi = vec![0.0f64; m];
        let b = best_of_n(&mut pi, &p, &r, n).unwrap();
        let sol = beta_for_kl(&p, &r, b.kl).unwrap();
        assert!(sol.expected_reward >= b.expected_reward - 1e-12, "N = {n}");
        let mean: f64 = p.iter().zip(&r).map(|(p, r)| p * r).sum();
        assert!(b.expected_reward > mean);
    }
}

// Tiny λ keeps relative accuracy: KL ≈ `λ²·Var_p(r)/2·(1` + O(λ)).
#[test]
fn small_lambda_kl_has_full_relative_accuracy() {
    let p = [0.2f64, 0.3, 0.5];
    let r = [1.0f64, -2.0, 0.5];
    let mean: f64 = p.iter().zip(&r).map(|(p, r)| p * r).sum();
    let var: f64 = p.iter().zip(&r).map(|(p, r)| p * (r - mean).powi(2)).sum();
    let mut phi = [0.0f64; 3];
    for lambda in [1e-3f64, 1e-5, 1e-7, 1e-9] {
        let s = tilt_lambda(&mut phi, &p, &r, lambda).unwrap();
        let approx = lambda * lambda * var / 2.0;
        assert!(
            ((s.kl / approx) - 1.0).abs() <= 10.0 * lambda + 1e-9,
            "λ = {lambda}: {} vs {approx}",
            s.kl
        );
    }
}

// Found by the budget property: a constant reward whose Σp rounds below 1. Δ = 0 still saturates
// (KL_max is 0), as documented.
#[test]
fn constant_reward_saturates_at_zero_budget() {
    let p = [0.065_425_274_401_501_37f64, 0.934_574_725_598_498_5];
    let sol = beta_for_kl(&p, &[1.0, 1.0], 0.0).unwrap();
    assert!(sol.saturated);
    assert_eq!(sol.lambda, f64::INFINITY);
    assert_eq!(sol.kl, 0.0);
    assert_eq!(sol.expected_reward, 1.0);
    // Σp = 1 − 1e-16 here, which made `p(Y*)` round below 1, `KL_max` 1e-16 > Δ = 0, and the
    // solver return λ = 0 (or fail to bracket for a tiny positive Δ).
    let p = [
        0.454_424_829_991_688_7f64,
        0.251_178_607_905_824_2,
        0.294_396_562_102_487_27,
    ];
    for delta in [0.0, 1e-17, 1e-3] {
        let sol = beta_for_kl(&p, &[-1.0, -1.0, -1.0], delta).unwrap();
        assert!(sol.saturated, "Δ = {delta}");
        assert_eq!((sol.kl, sol.expected_reward), (0.0, -1.0));
    }
}
