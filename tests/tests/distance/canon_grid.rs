//! STARC's `ValuePotential` and `Identity` and `evaluating-rewards`' greedy and singleton
//! canonicalisations: hand-worked literals on the 2-state chain, the numbers of the reference
//! transcriptions (`tests/data/distance/reference_canonicalizations.json`), every cell of the
//! STARC grid (canonicalisation × normalisation × metric), and the invariances each one lacks.

use proptest::prelude::*;
use rewardkit_core::Real;
use rewardkit_core::distance::{
    Canonicalization, Coverage, Norm, Order, Starc, Weights, canonicalize, minimal_potential,
    redistribute, shape_potential,
};
use rewardkit_core::mdp::{Mdp, Policy, Reward, SparseTransitions, Transitions};
use rewardkit_tests::mdp_support::{self as ms, mdp_with_rewards};
use serde_json::Value;

use super::{CHAIN_TAU, Owned, cast};

fn chain() -> Mdp<'static, f64> {
    Mdp::new(2, 2, Transitions::Dense(&CHAIN_TAU), &[1.0, 0.0], 0.5).unwrap()
}

fn canon_of(mdp: &Mdp<'_, f64>, r: &[f64], c: &Canonicalization<'_, f64>) -> Vec<f64> {
    let mut out = vec![0.0; mdp.full_len()];
    canonicalize(&mut out, mdp, &Reward::Full(r), c).unwrap();
    out
}

#[track_caller]
fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: [{i}] {g} vs {w}\n got {got:?}\nwant {want:?}"
        );
    }
}

// The chain (action 0 stays, action 1 switches, γ = 0.5) with a full reward, flat (s, a, s'):
// R = [R(0,0,0), R(0,0,1), R(0,1,0), R(0,1,1), R(1,0,0), R(1,0,1), R(1,1,0), R(1,1,1)].
const R: [f64; 8] = [1.0, 0.0, 0.0, 2.0, 0.0, 3.0, -1.0, 0.0];

// ValuePotential (uniform π): r̄ = (R(0,0,0), R(0,1,1), R(1,0,1), R(1,1,0)) = (1, 2, 3, −1),
// r_π = (1.5, 1); from either state the next state is 0 or 1 with ½ each, so with m = V₀ + V₁:
// V₀ = 1.5 + m/4, V₁ = 1 + m/4 ⇒ m = 2.5 + m/2 ⇒ m = 5, V = (2.75, 2.25).
// c = R − V(s) + ½V(s'): from s = 0 add (−1.375, −1.625) for s' = (0, 1); from s = 1 add
// (−0.875, −1.125).
// VAL is its expectation under τ: (0, stay) −0.375, (0, switch) 0.375, (1, stay) 1.875,
// (1, switch) −1.875 (and equals r̄ + ½E[V] − V, e.g. 1 + 1.375 − 2.75 = −0.375).
#[test]
fn value_potential_by_hand() {
    let mdp = chain();
    let vp = canon_of(&mdp, &R, &Canonicalization::ValuePotential(Policy::Uniform));
    let want = [-0.375, -1.625, -1.375, 0.375, -0.875, 1.875, -1.875, -1.125];
    assert_close("ValuePotential", &vp, &want, 1e-15);
    let val = canon_of(&mdp, &R, &Canonicalization::Value(Policy::Uniform));
    let want_val = [-0.375, -0.375, 0.375, 0.375, 1.875, 1.875, -1.875, -1.875];
    assert_close("VAL", &val, &want_val, 1e-15);
    // A deterministic policy (switch in 0, stay in 1): V₁ = 3 + V₁/2 ⇒ 6; V₀ = 2 + 3 = 5.
    // c = R − V(s) + ½V(s'): s = 0: R + (2.5 − 5, 3 − 5) = R + (−2.5, −2); s = 1: R + (−3.5, −3).
    let pol = Canonicalization::ValuePotential(Policy::Deterministic(&[1, 0]));
    let want = [-1.5, -2.0, -2.5, 0.0, -3.5, 0.0, -4.5, -3.0];
    assert_close("ValuePotential(π)", &canon_of(&mdp, &R, &pol), &want, 1e-15);
}

// Greedy (`fully_connected_greedy_canonical_reward`, uniform D_S = (½, ½)):
// mean over s' of R(s, a, ·): (0,0) ½, (0,1) 1, (1,0) 1.5, (1,1) −½ ⇒ Φ = max_a = (1, 1.5),
// E_{D_S}[Φ] = 1.25; c = R + ½Φ(s') − Φ(s) − ½·1.25: s = 0 adds (−1.125, −0.875), s = 1 adds
// (−1.625, −1.375).
// With D_S = (0.25, 0.75): means (0,0) 0.25, (0,1) 1.5, (1,0) 2.25, (1,1) −0.25 ⇒ Φ = (1.5, 2.25),
// E[Φ] = 0.375 + 1.6875 = 2.0625; c = R + ½Φ(s') − Φ(s) − 1.03125: s = 0 adds
// (0.75 − 1.5 − 1.03125, 1.125 − 1.5 − 1.03125) = (−1.78125, −1.40625); s = 1 adds (−2.53125,
// −2.15625).
// Singleton: R(s, a, s) = (1, 0) in s = 0 and (3, 0) in s = 1 ⇒ Φ = (1, 3)/(1 − ½) = (2, 6);
// c = R + ½Φ(s') − Φ(s): s = 0 adds (−1, 1), s = 1 adds (−5, −3).
#[test]
fn greedy_and_singleton_by_hand() {
    let mdp = chain();
    let g = canon_of(&mdp, &R, &Canonicalization::FullyConnectedGreedy(None));
    let want = [-0.125, -0.875, -1.125, 1.125, -1.625, 1.625, -2.625, -1.375];
    assert_close("greedy", &g, &want, 1e-15);
    let ds = [0.25, 0.75];
    let g = canon_of(&mdp, &R, &Canonicalization::FullyConnectedGreedy(Some(&ds)));
    let want = [
        1.0 - 1.78125,
        -1.40625,
        -1.78125,
        2.0 - 1.40625,
        -2.53125,
        3.0 - 2.15625,
        -1.0 - 2.53125,
        -2.15625,
    ];
    assert_close("greedy D_S", &g, &want, 1e-15);
    let sg = canon_of(&mdp, &R, &Canonicalization::SingletonShaping);
    let want = [0.0, 1.0, -1.0, 3.0, -5.0, 0.0, -6.0, -3.0];
    assert_close("singleton", &sg, &want, 1e-15);
    // Identity.
    assert_eq!(canon_of(&mdp, &R, &Canonicalization::Identity), R);
    let mut c = [0.0f64; 8];
    canonicalize(
        &mut c,
        &mdp,
        &Reward::StateAction(&[1.0, 2.0, 3.0, 4.0]),
        &Canonicalization::Identity,
    )
    .unwrap();
    assert_eq!(c, [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
}

// STARC distances with the new canonicalisations, by hand.
// Identity, L1 normalisation, L1 metric: s(R) = R/‖R‖₁ with ‖R‖₁ = 7, s(2R) = s(R), and for
// R' = R + e₀ (first entry 2): ‖R'‖₁ = 8 ⇒ d = Σ|R/7 − R'/8| over the four non-zero entries.
// Without normalisation, d(R, R') = ‖R − R'‖₁ = 1 and d(R, 2R) = ‖R‖₁ = 7.
#[test]
fn starc_with_identity_and_no_normalisation() {
    let mdp = chain();
    let s = Starc::new(Canonicalization::Identity, Norm::l1());
    let twice: Vec<f64> = R.iter().map(|x| 2.0 * x).collect();
    assert!(
        s.distance(&mdp, &Reward::Full(&R), &Reward::Full(&twice))
            .unwrap()
            < 1e-15
    );
    let mut r2 = R;
    r2[0] = 2.0;
    // Entry-wise |R/7 − R'/8|: nonzero entries of R are (1, 2, 3, −1) at 0, 3, 5, 6; R' has 2 at 0.
    let want = (1.0 / 7.0 - 2.0 / 8.0f64).abs()
        + (2.0 / 7.0 - 2.0 / 8.0f64).abs()
        + (3.0 / 7.0 - 3.0 / 8.0f64).abs()
        + (1.0 / 7.0 - 1.0 / 8.0f64).abs();
    let d = s
        .distance(&mdp, &Reward::Full(&R), &Reward::Full(&r2))
        .unwrap();
    assert!((d - want).abs() < 1e-15, "{d} vs {want}");
    let raw = s.with_normalization(false);
    assert_eq!(
        raw.distance(&mdp, &Reward::Full(&R), &Reward::Full(&r2))
            .unwrap(),
        1.0
    );
    assert_eq!(
        raw.distance(&mdp, &Reward::Full(&R), &Reward::Full(&twice))
            .unwrap(),
        7.0
    );
    // Potential shaping is invisible to ValuePotential but not to the identity: Φ = (1, 0) adds
    // γΦ(s') − Φ(s) = (−½, −1) in the rows of s = 0 and (½, 0) in those of s = 1, for each of the
    // two actions: ‖Δ‖₁ = 2·(½ + 1 + ½ + 0) = 4.
    let mut shaped = [0.0f64; 8];
    shape_potential(&mut shaped, &mdp, &Reward::Full(&R), &[1.0, 0.0]).unwrap();
    let vp = Starc::new(
        Canonicalization::ValuePotential(Policy::Uniform),
        Norm::l2(),
    );
    assert!(
        vp.distance(&mdp, &Reward::Full(&R), &Reward::Full(&shaped))
            .unwrap()
            < 1e-15
    );
    let d = raw
        .distance(&mdp, &Reward::Full(&R), &Reward::Full(&shaped))
        .unwrap();
    assert!((d - 4.0).abs() < 1e-15, "{d}");
}

// ---------------------------------------------------------------------------------------------
// The reference transcriptions' numbers
// ---------------------------------------------------------------------------------------------

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn reference_cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/distance/reference_canonicalizations.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn check_reference<F: Real>(case: &Value) {
    let (s, a) = (
        case["n_states"].as_u64().unwrap() as usize,
        case["n_actions"].as_u64().unwrap() as usize,
    );
    let gamma = case["gamma"].as_f64().unwrap();
    let tau64 = floats(&case["tau"]);
    let r64 = floats(&case["reward"]);
    let ds64 = floats(&case["state_dist"]);
    let m = ms::MdpCase {
        s,
        a,
        gamma,
        tau: tau64.clone(),
        init: vec![1.0 / s as f64; s],
    };
    let o = Owned::<F>::new(&m);
    let (rf, dsf) = (cast::<F>(&r64), cast::<F>(&ds64));
    let f64_ = F::NAME == "f64";
    // Exact formulas: round-off (f64) or the f32 rounding of the inputs (f32).
    let exact = if f64_ { 1e-12 } else { 2e-6 };
    // The STARC code's value iteration stops when no value moves by 1e-8 (error ≲ 1e-8/(1 − γ)).
    let vi = if f64_ { 1e-6 } else { 1e-5 };
    let name = case["name"].as_str().unwrap();
    for mdp in [o.dense(), o.sparse()] {
        let run = |c: &Canonicalization<'_, F>| {
            let mut out = vec![F::ZERO; m.full()];
            canonicalize(&mut out, &mdp, &Reward::Full(&rf), c).unwrap();
            out.iter().map(|x| x.as_f64()).collect::<Vec<f64>>()
        };
        let cases: [(&str, Canonicalization<'_, F>, f64); 6] = [
            ("starc_value", Canonicalization::Value(Policy::Uniform), vi),
            (
                "starc_value_potential",
                Canonicalization::ValuePotential(Policy::Uniform),
                vi,
            ),
            (
                "er_fully_connected_random",
                Canonicalization::Epic(Coverage::uniform()),
                exact,
            ),
            (
                "er_fully_connected_greedy",
                Canonicalization::FullyConnectedGreedy(None),
                exact,
            ),
            (
                "er_fully_connected_greedy_state_dist",
                Canonicalization::FullyConnectedGreedy(Some(&dsf)),
                exact,
            ),
            (
                "er_singleton_shaping",
                Canonicalization::SingletonShaping,
                exact * 10.0,
            ),
        ];
        for (key, c, tol) in cases {
            assert_close(&format!("{name} {key}"), &run(&c), &floats(&case[key]), tol);
        }
        // MinimalPotential: the STARC code runs Adam (lr 1e-2) and stops on loose criteria, so its
        // result is only near the optimum. The exact solution is never worse than Adam's, and
        // Adam's is within 1 % of it.
        for (key, order, weights) in [
            ("1", Order::L1, Weights::Uniform),
            ("2", Order::L2, Weights::Uniform),
            ("weighted_1", Order::L1, Weights::Transition),
            ("weighted_2", Order::L2, Weights::Transition),
        ] {
            let refd = &case["starc_minimal_potential"][key];
            let adam = refd["norm"].as_f64().unwrap();
            let nrm = Norm::new(order, weights);
            let mut phi = vec![F::ZERO; s];
            let mut cert = vec![F::ZERO; m.full()];
            let exact_n = minimal_potential(&mut phi, &mut cert, &mdp, &Reward::Full(&rf), &nrm)
                .unwrap()
                .as_f64();
            let slack = if f64_ { 1e-12 } else { 1e-5 } * (1.0 + adam);
            assert!(
                exact_n <= adam + slack,
                "{name} {key}: exact {exact_n} > Adam {adam}"
            );
            assert!(
                adam - exact_n <= 1e-2 * (1.0 + exact_n),
                "{name} {key}: Adam {adam} vs exact {exact_n}"
            );
            // L2 optima are unique: Adam's canonical reward is close to the exact one.
            if order == Order::L2 {
                let got = run(&Canonicalization::MinimalPotential(nrm));
                let want = floats(&refd["canonical"]);
                let dev = got
                    .iter()
                    .zip(&want)
                    .fold(0.0f64, |acc, (g, w)| acc.max((g - w).abs()));
                assert!(dev <= 0.05, "{name} {key}: max deviation {dev}");
            }
        }
    }
}

#[test]
fn reference_transcriptions_agree() {
    let cases = reference_cases();
    assert_eq!(cases.len(), 2);
    for case in &cases {
        check_reference::<f64>(case);
        check_reference::<f32>(case);
    }
}

// ---------------------------------------------------------------------------------------------
// The STARC grid: every canonicalisation × normalisation × metric computes
// ---------------------------------------------------------------------------------------------

#[test]
fn every_cell_of_the_starc_grid() {
    // A sparse MDP (τ with zeros), both storages.
    let m = ms::MdpCase {
        s: 3,
        a: 2,
        gamma: 0.8,
        tau: vec![
            0.2, 0.8, 0.0, 0.0, 0.5, 0.5, //
            1.0, 0.0, 0.0, 0.3, 0.3, 0.4, //
            0.0, 0.0, 1.0, 0.6, 0.0, 0.4,
        ],
        init: vec![0.5, 0.25, 0.25],
    };
    let o = Owned::<f64>::new(&m);
    let r1: Vec<f64> = (0..18).map(|i| ((i * 7) % 11) as f64 / 5.0 - 1.0).collect();
    let r2: Vec<f64> = (0..18).map(|i| ((i * 5) % 13) as f64 / 6.0 - 1.0).collect();
    let norms = [
        Norm::l1(),
        Norm::l2(),
        Norm::linf(),
        Norm::new(Order::L1, Weights::Transition),
        Norm::new(Order::L2, Weights::Transition),
        Norm::new(Order::LInf, Weights::Transition),
    ];
    let mut cells = 0;
    for mdp in [o.dense(), o.sparse()] {
        for n in norms {
            let canons = [
                Canonicalization::Identity,
                Canonicalization::Epic(Coverage::uniform()),
                Canonicalization::Dard(Coverage::uniform()),
                Canonicalization::MinimalPotential(n),
                Canonicalization::ValuePotential(Policy::Uniform),
                Canonicalization::Value(Policy::Uniform),
                Canonicalization::MinimalL2,
                Canonicalization::FullyConnectedGreedy(None),
                Canonicalization::SingletonShaping,
            ];
            for c in canons {
                for normalize in [true, false] {
                    for metric in [Norm::l1(), Norm::l2(), Norm::linf()] {
                        let s = Starc::new(c, n)
                            .with_metric(metric)
                            .with_normalization(normalize);
                        let d = s.distance(&mdp, &Reward::Full(&r1), &Reward::Full(&r2));
                        if matches!(c, Canonicalization::MinimalPotential(_))
                            && n.order == Order::LInf
                        {
                            // The STARC code skips MinimalPotential-∞ (not unique); so does
                            // rewardkit, with an error.
                            assert!(
                                matches!(
                                    d,
                                    Err(rewardkit_core::Error::InvalidParam { name: "norm", .. })
                                ),
                                "{d:?}"
                            );
                            continue;
                        }
                        let d = d.unwrap_or_else(|e| panic!("{c:?} {n:?} {metric:?}: {e}"));
                        assert!(d.is_finite() && d >= 0.0);
                        if normalize && metric == n {
                            assert!(d <= 2.0);
                        }
                        cells += 1;
                    }
                }
            }
        }
    }
    // 9 canonicalisations × 6 norms × 2 (normalised or not) × 3 metrics, less MinimalPotential-L∞
    // (2 norms), on two storages.
    assert_eq!(cells, 2 * (9 * 6 - 2) * 2 * 3);
}

// ---------------------------------------------------------------------------------------------
// Invariances claimed, and the claims that fail
// ---------------------------------------------------------------------------------------------

fn shaped_scaled(mdp: &Mdp<'_, f64>, r: &[f64], phi: &[f64], alpha: f64) -> Vec<f64> {
    let scaled: Vec<f64> = r.iter().map(|x| alpha * x).collect();
    let mut out = vec![0.0; r.len()];
    shape_potential(&mut out, mdp, &Reward::Full(&scaled), phi).unwrap();
    out
}

fn check_claims<F: Real>(m: &ms::MdpCase, r: &[f64], phi: &[f64], alpha: f64, pert: &[f64]) {
    let o = Owned::<f64>::new(m);
    let mdp64 = o.dense();
    let of = Owned::<F>::new(m);
    let f64_ = F::NAME == "f64";
    let k = 1.0 / (1.0 - m.gamma);
    let pmax = phi.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    let tol = if f64_ { 1e-10 } else { 5e-5 } * k * (1.0 + pmax + alpha);
    let other = shaped_scaled(&mdp64, r, phi, alpha);
    let mut redis = vec![0.0; r.len()];
    redistribute(&mut redis, &mdp64, &Reward::Full(r), pert).unwrap();
    let neg: Vec<f64> = r.iter().map(|x| -x).collect();
    let (rf, of_, rdf, nf) = (
        cast::<F>(r),
        cast::<F>(&other),
        cast::<F>(&redis),
        cast::<F>(&neg),
    );
    for mdp in [of.dense(), of.sparse()] {
        let c = |x: &[F], cn: &Canonicalization<'_, F>| {
            let mut out = vec![F::ZERO; m.full()];
            canonicalize(&mut out, &mdp, &Reward::Full(x), cn).unwrap();
            out.iter().map(|v| v.as_f64()).collect::<Vec<f64>>()
        };
        for cn in [
            Canonicalization::ValuePotential(Policy::Uniform),
            Canonicalization::FullyConnectedGreedy(None),
            Canonicalization::SingletonShaping,
        ] {
            // c(αR + shaping) = α·c(R).
            let base = c(&rf, &cn);
            let want: Vec<f64> = base.iter().map(|x| alpha * x).collect();
            let got = c(&of_, &cn);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= tol, "{cn:?}: {got:?} vs {want:?}");
            }
        }
        // ValuePotential keeps an S'-redistribution: c(R + ξ) = c(R) + ξ (E_τ ξ = 0).
        let vp = Canonicalization::ValuePotential(Policy::Uniform);
        let (cr, crd) = (c(&rf, &vp), c(&rdf, &vp));
        for ((a, b), (x, y)) in crd.iter().zip(&cr).zip(redis.iter().zip(r)) {
            assert!(
                (a - b - (x - y)).abs() <= tol,
                "ValuePotential redistribution"
            );
        }
        // The identity keeps the shaping: c(αR + shaping) = αR + shaping.
        let id = c(&of_, &Canonicalization::Identity);
        for (g, w) in id.iter().zip(&other) {
            assert!((g - w).abs() <= tol);
        }
        // ValuePotential is linear: c(−R) = −c(R).
        for (a, b) in c(&nf, &vp).iter().zip(&cr) {
            assert!((a + b).abs() <= tol);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn claimed_invariances_hold_and_redistribution_is_kept(
        (m, r, _, phi, alpha, pert) in mdp_with_rewards()
    ) {
        check_claims::<f64>(&m, &r, &phi, alpha, &pert);
        check_claims::<f32>(&m, &r, &phi, alpha, &pert);
    }
}

// Concrete failures: (1) the greedy and singleton canonicalisations are not linear, so
// c(−R) ≠ −c(R) and STARC's d(R, −R) is below 2; (2) MinimalPotential and ValuePotential are not
// invariant to S'-redistribution (STARC's VAL and minimal-L2 are).
#[test]
fn where_the_claims_fail() {
    let mdp = chain();
    // (1) Chain, R as above: greedy Φ(R) = max_a mean = (1, 1.5); for −R the means negate and
    // Φ(−R) = −min_a mean = (−0.5, 0.5), not −(1, 1.5). Hence c(−R) ≠ −c(R).
    let neg: Vec<f64> = R.iter().map(|x| -x).collect();
    for cn in [
        Canonicalization::FullyConnectedGreedy(None),
        Canonicalization::SingletonShaping,
    ] {
        let (a, b) = (canon_of(&mdp, &R, &cn), canon_of(&mdp, &neg, &cn));
        let dev = a
            .iter()
            .zip(&b)
            .fold(0.0f64, |m, (x, y)| m.max((x + y).abs()));
        assert!(dev > 0.5, "{cn:?}: {dev}");
        let d = Starc::new(cn, Norm::l2())
            .distance(&mdp, &Reward::Full(&R), &Reward::Full(&neg))
            .unwrap();
        assert!(d < 1.99, "{cn:?}: d(R, −R) = {d}");
    }
    // Greedy, −R: means (−½, −1, −1.5, ½) ⇒ Φ = (−½, ½), E[Φ] = 0 ⇒ c = −R + ½Φ(s') − Φ(s):
    // s = 0 adds (−¼ + ½, ¼ + ½) = (¼, ¾); s = 1 adds (−¼ − ½, ¼ − ½) = (−¾, −¼).
    let g = canon_of(&mdp, &neg, &Canonicalization::FullyConnectedGreedy(None));
    assert_close(
        "greedy(−R)",
        &g,
        &[-0.75, 0.75, 0.25, -1.25, -0.75, -3.25, 0.25, -0.25],
        1e-15,
    );
    // (2) τ(s, a, ·) = (½, ½) everywhere; ξ moves +3/−3 between the next states of (0, 0).
    let tau = [0.5f64; 8];
    let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.9).unwrap();
    let r = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0f64];
    let mut r2 = [0.0f64; 8];
    redistribute(
        &mut r2,
        &mdp,
        &Reward::Full(&r),
        &[3.0, -3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    )
    .unwrap();
    for (cn, invariant) in [
        (Canonicalization::Value(Policy::Uniform), true),
        (Canonicalization::MinimalL2, true),
        (Canonicalization::ValuePotential(Policy::Uniform), false),
        (Canonicalization::MinimalPotential(Norm::l2()), false),
        (Canonicalization::MinimalPotential(Norm::l1()), false),
        (
            Canonicalization::MinimalPotential(Norm::new(Order::L2, Weights::Transition)),
            false,
        ),
    ] {
        let d = Starc::new(cn, Norm::l2())
            .distance(&mdp, &Reward::Full(&r), &Reward::Full(&r2))
            .unwrap();
        if invariant {
            assert!(d < 1e-12, "{cn:?}: {d}");
        } else {
            assert!(d > 0.1, "{cn:?}: {d}");
        }
    }
}

// Sparse storage of τ gives the same canonical rewards as dense storage.
#[test]
fn sparse_and_dense_agree() {
    let offsets = [0usize, 1, 2, 4, 5];
    let next = [0u32, 1, 0, 1, 0];
    let probs = [1.0f64, 1.0, 0.25, 0.75, 1.0];
    let sp = Mdp::new(
        2,
        2,
        Transitions::Sparse(SparseTransitions::new(&offsets, &next, &probs)),
        &[1.0, 0.0],
        0.7,
    )
    .unwrap();
    let tau = [1.0, 0.0, 0.0, 1.0, 0.25, 0.75, 1.0, 0.0f64];
    let de = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.7).unwrap();
    for cn in [
        Canonicalization::ValuePotential(Policy::Uniform),
        Canonicalization::MinimalPotential(Norm::l1()),
        Canonicalization::MinimalPotential(Norm::new(Order::L1, Weights::Transition)),
        Canonicalization::MinimalPotential(Norm::new(Order::L2, Weights::Transition)),
        Canonicalization::FullyConnectedGreedy(None),
        Canonicalization::SingletonShaping,
        Canonicalization::Identity,
    ] {
        let (a, b) = (canon_of(&sp, &R, &cn), canon_of(&de, &R, &cn));
        assert_close(&format!("{cn:?}"), &a, &b, 1e-14);
    }
}
