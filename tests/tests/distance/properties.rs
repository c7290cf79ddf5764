//! Properties on random small MDPs (proptest): solvers against brute force and plain-loop oracles,
//! and every distance's invariances, symmetry, triangle inequality, range, negation, distance-0 ⇒
//! same optimal policies, and regret → 0 along a path. Each property runs in `f64` and `f32`;
//! `f64` is the oracle for `f32`.

use proptest::prelude::*;
use rewardkit_core::Real;
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, DardWeights, Epic, Norm, Order, Starc, Weights, canonicalize,
    norm, redistribute, scale_reward, shape_potential,
};
use rewardkit_core::mdp::{
    Evaluation, Mdp, Policy, Reward, normalized_regret, optimal_policy, policy_values, regret,
    value_iteration,
};
use rewardkit_tests::mdp_support::{
    self as ms, MdpCase, brute_force_returns, coverage_weights, dynamics_weights, mdp_case,
    mdp_with_rewards,
};

use super::{Owned, cast};

// ---------------------------------------------------------------------------------------------
// The metrics under test
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Canon {
    Value,
    Minimal,
    Epic,
    Dard,
    ValuePotential,
    // STARC's MinimalPotential under the metric's normalising norm (as the STARC grid pairs them).
    MinimalPotential,
    Greedy,
    Singleton,
    Identity,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Metric {
    Starc(Canon, Order, bool),
    Epic,
    DardDynamics,
    DardCoverage,
}

const METRICS: [Metric; 23] = [
    Metric::Starc(Canon::Value, Order::L2, false),
    Metric::Starc(Canon::Value, Order::L1, false),
    Metric::Starc(Canon::Value, Order::LInf, false),
    Metric::Starc(Canon::Value, Order::L1, true),
    Metric::Starc(Canon::Value, Order::L2, true),
    Metric::Starc(Canon::Value, Order::LInf, true),
    Metric::Starc(Canon::Minimal, Order::L2, false),
    Metric::Starc(Canon::Minimal, Order::L1, false),
    Metric::Starc(Canon::Minimal, Order::LInf, true),
    Metric::Starc(Canon::Epic, Order::L2, false),
    Metric::Starc(Canon::Dard, Order::L2, false),
    Metric::Starc(Canon::ValuePotential, Order::L2, false),
    Metric::Starc(Canon::ValuePotential, Order::L1, true),
    Metric::Starc(Canon::MinimalPotential, Order::L1, false),
    Metric::Starc(Canon::MinimalPotential, Order::L2, false),
    Metric::Starc(Canon::MinimalPotential, Order::L1, true),
    Metric::Starc(Canon::MinimalPotential, Order::L2, true),
    Metric::Starc(Canon::Greedy, Order::L2, false),
    Metric::Starc(Canon::Singleton, Order::L2, false),
    Metric::Starc(Canon::Identity, Order::L2, false),
    Metric::Epic,
    Metric::DardDynamics,
    Metric::DardCoverage,
];

impl Metric {
    // The documented upper end of the range.
    fn max(self) -> f64 {
        match self {
            Self::Starc(..) => 2.0,
            _ => 1.0,
        }
    }

    // Whether the theory makes the metric invariant to S'-redistribution.
    fn removes_redistribution(self) -> bool {
        matches!(self, Self::Starc(Canon::Value | Canon::Minimal, _, _))
    }

    // Whether it is invariant to potential shaping (every canonicalisation but the identity).
    fn removes_shaping(self) -> bool {
        !matches!(self, Self::Starc(Canon::Identity, _, _))
    }

    // Whether `c(−R) = −c(R)` (linear canonicalisations, and the minimal potential thanks to its
    // symmetric tie-break); the greedy ones take a max and are only positively homogeneous.
    fn odd(self) -> bool {
        !matches!(self, Self::Starc(Canon::Greedy | Canon::Singleton, _, _))
    }

    fn starc<F: Real>(self) -> Option<Starc<'static, F>> {
        let Self::Starc(c, order, weighted) = self else {
            return None;
        };
        let w = if weighted {
            Weights::Transition
        } else {
            Weights::Uniform
        };
        let canon = match c {
            Canon::Value => Canonicalization::Value(Policy::Uniform),
            Canon::Minimal => Canonicalization::MinimalL2,
            Canon::Epic => Canonicalization::Epic(Coverage::uniform()),
            Canon::Dard => Canonicalization::Dard(Coverage::uniform()),
            Canon::ValuePotential => Canonicalization::ValuePotential(Policy::Uniform),
            Canon::MinimalPotential => Canonicalization::MinimalPotential(Norm::new(order, w)),
            Canon::Greedy => Canonicalization::FullyConnectedGreedy(None),
            Canon::Singleton => Canonicalization::SingletonShaping,
            Canon::Identity => Canonicalization::Identity,
        };
        Some(Starc::new(canon, Norm::new(order, w)))
    }

    fn distance<F: Real>(self, mdp: &Mdp<'_, F>, a: &[F], b: &[F]) -> f64 {
        let (ra, rb) = (Reward::Full(a), Reward::Full(b));
        let d = match self {
            Self::Starc(..) => self.starc::<F>().unwrap().distance(mdp, &ra, &rb),
            Self::Epic => Epic::default().distance(mdp, &ra, &rb),
            Self::DardDynamics => Dard::default().distance(mdp, &ra, &rb),
            Self::DardCoverage => {
                Dard::new(Coverage::uniform(), DardWeights::Coverage).distance(mdp, &ra, &rb)
            }
        };
        d.unwrap_or_else(|e| panic!("{self:?}: {e}")).as_f64()
    }
}

// Absolute tolerance for "distance 0" in `F`.
fn zero_tol<F: Real>() -> f64 {
    if F::NAME == "f64" { 1e-8 } else { 3e-3 }
}

// ---------------------------------------------------------------------------------------------
// Transformations (built in f64, then cast)
// ---------------------------------------------------------------------------------------------

// `α·R + γΦ(s') − Φ(s)`, then S'-redistributed by `d` (all in `f64`).
fn equivalent(m: &MdpCase, r: &[f64], alpha: f64, phi: &[f64], d: Option<&[f64]>) -> Vec<f64> {
    let o = Owned::<f64>::new(m);
    let mdp = o.dense();
    let mut scaled = vec![0.0; m.full()];
    scale_reward(&mut scaled, &mdp, &Reward::Full(r), alpha).unwrap();
    let mut shaped = vec![0.0; m.full()];
    shape_potential(&mut shaped, &mdp, &Reward::Full(&scaled), phi).unwrap();
    match d {
        None => shaped,
        Some(d) => {
            let mut out = vec![0.0; m.full()];
            redistribute(&mut out, &mdp, &Reward::Full(&shaped), d).unwrap();
            out
        }
    }
}

// Smallest gap between the best and second-best `Q*` over states (∞ for one action).
fn optimality_gap(m: &MdpCase, r: &[f64]) -> f64 {
    let o = Owned::<f64>::new(m);
    let opt = optimal_policy(&o.dense(), &Reward::Full(r)).unwrap();
    opt.q
        .chunks(m.a)
        .map(|q| {
            let mut v = q.to_vec();
            v.sort_by(|a, b| b.total_cmp(a));
            v[0] - v[1]
        })
        .fold(f64::INFINITY, f64::min)
}

// ---------------------------------------------------------------------------------------------
// Solvers
// ---------------------------------------------------------------------------------------------

fn check_solvers<F: Real>(m: &MdpCase, r: &[f64], pi: &[f64]) {
    let o = Owned::<F>::new(m);
    let (rf, pif) = (cast::<F>(r), cast::<F>(pi));
    let tol = if F::NAME == "f64" { 1e-9 } else { 2e-3 };
    let want = ms::values(m, &ms::rbar(m, r), pi);
    let it = Evaluation::Iterative {
        tol: 1e-12,
        max_iters: 1_000_000,
    };
    for mdp in [o.dense(), o.sparse()] {
        for method in [Evaluation::Exact, it, Evaluation::Auto] {
            let mut v = vec![F::ZERO; m.s];
            policy_values(
                &mut v,
                &mdp,
                &Reward::Full(&rf),
                &Policy::Stochastic(&pif),
                method,
            )
            .unwrap();
            for (g, w) in v.iter().zip(&want) {
                assert!(
                    (g.as_f64() - w).abs() <= tol * (1.0 + w.abs()),
                    "{method:?}: {v:?} vs {want:?}"
                );
            }
        }
        // Optimal policy: its return equals the brute-force optimum over all A^S policies.
        let (best, worst, _) = brute_force_returns(m, r);
        let opt = optimal_policy(&mdp, &Reward::Full(&rf)).unwrap();
        let j: f64 = opt
            .values
            .iter()
            .zip(&m.init)
            .map(|(v, p)| v.as_f64() * p)
            .sum();
        assert!(
            (j - best).abs() <= tol * (1.0 + best.abs()),
            "{j} vs {best}"
        );
        let pol = Policy::Deterministic(&opt.actions);
        assert!(regret(&mdp, &Reward::Full(&rf), &pol).unwrap().as_f64() <= tol);
        // Value iteration agrees with policy iteration.
        let mut v = vec![F::ZERO; m.s];
        value_iteration(&mut v, &mdp, &Reward::Full(&rf), F::lit(1e-6), 100_000).unwrap();
        for (a, b) in v.iter().zip(&opt.values) {
            assert!((a.as_f64() - b.as_f64()).abs() <= 1e-5 + tol);
        }
        // Normalised regret of π in [0, 1] and equal to the brute-force ratio.
        let nr = normalized_regret(&mdp, &Reward::Full(&rf), &Policy::Stochastic(&pif))
            .unwrap()
            .as_f64();
        let jp = ms::policy_return(m, r, pi);
        let want_nr = if best - worst > 1e-9 {
            (best - jp) / (best - worst)
        } else {
            0.0
        };
        assert!((0.0..=1.0).contains(&nr));
        assert!((nr - want_nr).abs() <= 10.0 * tol, "{nr} vs {want_nr}");
    }
}

fn random_policy() -> impl Strategy<Value = (MdpCase, Vec<f64>, Vec<f64>)> {
    mdp_case().prop_flat_map(|m| {
        let (n, s, a) = (m.full(), m.s, m.a);
        (
            Just(m),
            prop::collection::vec(ms::REWARD, n),
            prop::collection::vec(0.01..1.0f64, s * a),
        )
            .prop_map(move |(m, r, w)| {
                let mut pi = w;
                for row in pi.chunks_mut(a) {
                    let sum: f64 = row.iter().sum();
                    row.iter_mut().for_each(|x| *x /= sum);
                }
                (m, r, pi)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn solvers_match_oracles_and_brute_force((m, r, pi) in random_policy()) {
        check_solvers::<f64>(&m, &r, &pi);
        check_solvers::<f32>(&m, &r, &pi);
    }
}

// ---------------------------------------------------------------------------------------------
// Canonicalisations against plain-loop oracles
// ---------------------------------------------------------------------------------------------

fn check_canonical_oracles<F: Real>(m: &MdpCase, r: &[f64]) {
    let o = Owned::<F>::new(m);
    let rf = cast::<F>(r);
    let tol = if F::NAME == "f64" { 1e-11 } else { 1e-4 };
    let ds = vec![1.0 / m.s as f64; m.s];
    let da = vec![1.0 / m.a as f64; m.a];
    let uniform_pi = vec![1.0 / m.a as f64; m.s * m.a];
    let cases: [(Canonicalization<'_, F>, Vec<f64>); 3] = [
        (
            Canonicalization::Epic(Coverage::uniform()),
            ms::epic_canon(m, r, &ds, &da),
        ),
        (
            Canonicalization::Dard(Coverage::uniform()),
            ms::dard_canon(m, r, &da),
        ),
        (
            Canonicalization::Value(Policy::Uniform),
            ms::val_canon(m, r, &uniform_pi),
        ),
    ];
    for mdp in [o.dense(), o.sparse()] {
        for (canon, want) in &cases {
            let mut c = vec![F::ZERO; m.full()];
            canonicalize(&mut c, &mdp, &Reward::Full(&rf), canon).unwrap();
            for (g, w) in c.iter().zip(want) {
                assert!(
                    (g.as_f64() - w).abs() <= tol * 10.0,
                    "{canon:?}: {c:?} vs {want:?}"
                );
            }
        }
    }
}

fn check_distance_oracles<F: Real>(m: &MdpCase, r1: &[f64], r2: &[f64]) {
    let o = Owned::<F>::new(m);
    let (a, b) = (cast::<F>(r1), cast::<F>(r2));
    let tol = if F::NAME == "f64" { 1e-10 } else { 2e-4 };
    let ds = vec![1.0 / m.s as f64; m.s];
    let da = vec![1.0 / m.a as f64; m.a];
    let pi = vec![1.0 / m.a as f64; m.s * m.a];
    let epic = ms::pearson(
        &ms::epic_canon(m, r1, &ds, &da),
        &ms::epic_canon(m, r2, &ds, &da),
        &coverage_weights(m, &ds, &da),
    );
    let dard = ms::pearson(
        &ms::dard_canon(m, r1, &da),
        &ms::dard_canon(m, r2, &da),
        &dynamics_weights(m, &ds, &da),
    );
    let (c1, c2) = (ms::val_canon(m, r1, &pi), ms::val_canon(m, r2, &pi));
    let ones = vec![1.0; m.full()];
    let (n1, n2) = (ms::lp(&c1, &ones, 2.0), ms::lp(&c2, &ones, 2.0));
    let diff: Vec<f64> = c1.iter().zip(&c2).map(|(x, y)| x / n1 - y / n2).collect();
    let starc = ms::lp(&diff, &ones, 2.0);
    for mdp in [o.dense(), o.sparse()] {
        let e = Metric::Epic.distance(&mdp, &a, &b);
        let d = Metric::DardDynamics.distance(&mdp, &a, &b);
        let s = Metric::Starc(Canon::Value, Order::L2, false).distance(&mdp, &a, &b);
        assert!((e - epic).abs() <= tol, "EPIC {e} vs {epic}");
        assert!((d - dard).abs() <= tol, "DARD {d} vs {dard}");
        assert!((s - starc).abs() <= tol, "STARC {s} vs {starc}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn canonicalisations_and_distances_match_oracles((m, r1, r2, ..) in mdp_with_rewards()) {
        check_canonical_oracles::<f64>(&m, &r1);
        check_canonical_oracles::<f32>(&m, &r1);
        check_distance_oracles::<f64>(&m, &r1, &r2);
        check_distance_oracles::<f32>(&m, &r1, &r2);
    }
}

// ---------------------------------------------------------------------------------------------
// Invariances
// ---------------------------------------------------------------------------------------------

fn check_invariances<F: Real>(m: &MdpCase, r: &[f64], phi: &[f64], alpha: f64, pert: &[f64]) {
    let o = Owned::<F>::new(m);
    let rf = cast::<F>(r);
    let scaled = cast::<F>(&equivalent(m, r, alpha, &vec![0.0; m.s], None));
    let shaped = cast::<F>(&equivalent(m, r, 1.0, phi, None));
    let redistributed = cast::<F>(&equivalent(m, r, 1.0, &vec![0.0; m.s], Some(pert)));
    let all = cast::<F>(&equivalent(m, r, alpha, phi, Some(pert)));
    let tol = zero_tol::<F>();
    for mdp in [o.dense(), o.sparse()] {
        for metric in METRICS {
            let d = |x: &[F]| metric.distance(&mdp, &rf, x);
            assert!(d(&rf) <= tol, "{metric:?}: d(R, R) = {}", d(&rf));
            assert!(d(&scaled) <= tol, "{metric:?}: scaling {}", d(&scaled));
            if metric.removes_shaping() {
                assert!(d(&shaped) <= tol, "{metric:?}: shaping {}", d(&shaped));
            }
            if metric.removes_redistribution() {
                assert!(
                    d(&redistributed) <= tol,
                    "{metric:?}: S' {}",
                    d(&redistributed)
                );
                assert!(d(&all) <= tol, "{metric:?}: all three {}", d(&all));
            }
        }
    }
}

fn check_canonical_forms_are_equal<F: Real>(m: &MdpCase, r: &[f64], phi: &[f64], pert: &[f64]) {
    // The canonicalisation property itself: c(R') = c(R) for R' in R's class.
    let o = Owned::<F>::new(m);
    let mdp = o.dense();
    let rf = cast::<F>(r);
    let shaped = cast::<F>(&equivalent(m, r, 1.0, phi, None));
    let all = cast::<F>(&equivalent(m, r, 1.0, phi, Some(pert)));
    let tol = if F::NAME == "f64" { 1e-11 } else { 3e-5 }
        * (1.0 + phi.iter().fold(0.0f64, |a, b| a.max(b.abs())));
    let canon_of = |c: &Canonicalization<'_, F>, x: &[F]| {
        let mut out = vec![F::ZERO; m.full()];
        canonicalize(&mut out, &mdp, &Reward::Full(x), c).unwrap();
        out
    };
    let k = 1.0 / (1.0 - m.gamma);
    let wf = cast::<F>(&super::potential::weights(m, super::potential::W::Custom));
    for c in [
        Canonicalization::Value(Policy::Uniform),
        Canonicalization::MinimalL2,
        Canonicalization::Epic(Coverage::uniform()),
        Canonicalization::Dard(Coverage::uniform()),
        Canonicalization::ValuePotential(Policy::Uniform),
        Canonicalization::MinimalPotential(Norm::l1()),
        Canonicalization::MinimalPotential(Norm::l2()),
        Canonicalization::MinimalPotential(Norm::new(Order::L1, Weights::Transition)),
        Canonicalization::MinimalPotential(Norm::new(Order::L2, Weights::Custom(&wf))),
        Canonicalization::FullyConnectedGreedy(None),
        Canonicalization::SingletonShaping,
    ] {
        let base = canon_of(&c, &rf);
        let other = if matches!(c, Canonicalization::Value(_) | Canonicalization::MinimalL2) {
            canon_of(&c, &all)
        } else {
            canon_of(&c, &shaped)
        };
        for (x, y) in base.iter().zip(&other) {
            assert!(
                (x.as_f64() - y.as_f64()).abs() <= tol * k,
                "{c:?}: {base:?} vs {other:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn distances_ignore_scaling_shaping_and_redistribution(
        (m, r, _, phi, alpha, pert) in mdp_with_rewards()
    ) {
        check_invariances::<f64>(&m, &r, &phi, alpha, &pert);
        check_invariances::<f32>(&m, &r, &phi, alpha, &pert);
        check_canonical_forms_are_equal::<f64>(&m, &r, &phi, &pert);
        check_canonical_forms_are_equal::<f32>(&m, &r, &phi, &pert);
    }
}

// EPIC and DARD are *not* invariant to S'-redistribution (the STARC paper's criticism of them), so
// "0 under S'-redistribution" holds only for STARC's canonicalisations (`Value`, `MinimalL2`).
// A concrete case: 2 states, 2 actions, τ(s, a, ·) = (½, ½) everywhere, R = 1{a = 1}; R' moves
// +3/−3 between the two next states of (0, 0), keeping every expectation under τ.
#[test]
fn epic_and_dard_see_redistribution() {
    let tau = [0.5f64, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
    let init = [1.0f64, 0.0];
    let mdp = Mdp::new(
        2,
        2,
        rewardkit_core::mdp::Transitions::Dense(&tau),
        &init,
        0.9,
    )
    .unwrap();
    // R(s, a, s') = 1{a = 1}: action 1 is better everywhere.
    let r = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0f64];
    let mut r2 = [0.0f64; 8];
    redistribute(
        &mut r2,
        &mdp,
        &Reward::Full(&r),
        &[3.0, -3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    )
    .unwrap();
    assert_eq!(r2, [3.0, -3.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
    let d_epic = Metric::Epic.distance(&mdp, &r, &r2);
    let d_dard = Metric::DardDynamics.distance(&mdp, &r, &r2);
    let d_starc = Metric::Starc(Canon::Value, Order::L2, false).distance(&mdp, &r, &r2);
    let d_min = Metric::Starc(Canon::Minimal, Order::L2, false).distance(&mdp, &r, &r2);
    assert!(d_epic > 0.3 && d_dard > 0.3, "{d_epic} {d_dard}");
    assert!(d_starc < 1e-12 && d_min < 1e-12, "{d_starc} {d_min}");
}

// ---------------------------------------------------------------------------------------------
// Metric axioms and ranges
// ---------------------------------------------------------------------------------------------

fn check_axioms<F: Real>(m: &MdpCase, r1: &[f64], r2: &[f64], r3: &[f64]) {
    let o = Owned::<F>::new(m);
    let (a, b, c) = (cast::<F>(r1), cast::<F>(r2), cast::<F>(r3));
    let neg: Vec<F> = a.iter().map(|x| -*x).collect();
    let slack = if F::NAME == "f64" { 1e-12 } else { 1e-5 };
    for mdp in [o.dense(), o.sparse()] {
        for metric in METRICS {
            let ab = metric.distance(&mdp, &a, &b);
            let ba = metric.distance(&mdp, &b, &a);
            let bc = metric.distance(&mdp, &b, &c);
            let ac = metric.distance(&mdp, &a, &c);
            assert!((ab - ba).abs() <= slack, "{metric:?}: symmetry {ab} {ba}");
            assert!(
                ac <= ab + bc + slack,
                "{metric:?}: triangle {ac} > {ab} + {bc}"
            );
            for d in [ab, bc, ac] {
                assert!((0.0..=metric.max()).contains(&d), "{metric:?}: range {d}");
            }
            // Negation is at the maximal distance whenever the canonical reward is non-trivial
            // (and, for a STARC metric, its normalising norm is positive).
            let dn = metric.distance(&mdp, &a, &neg);
            let trivial = match metric.starc::<F>() {
                Some(s) => {
                    let st = s.standardize(&mdp, &Reward::Full(&a)).unwrap();
                    st.is_trivial() || st.canonical_norm() == 0.0
                }
                None => false,
            };
            let want = if trivial { 0.0 } else { metric.max() };
            if metric.odd() {
                assert!(
                    (dn - want).abs() <= 10.0 * slack,
                    "{metric:?}: d(R, −R) = {dn}"
                );
            }
        }
    }
}

// With a metric norm `n'` other than the normalising norm `n`, the range is
// `[0, n'(s(R₁)) + n'(s(R₂))]`.
fn check_mixed_norm_range<F: Real>(m: &MdpCase, r1: &[f64], r2: &[f64]) {
    let o = Owned::<F>::new(m);
    let mdp = o.dense();
    let (a, b) = (cast::<F>(r1), cast::<F>(r2));
    for (n, n2) in [
        (Norm::l2(), Norm::l1()),
        (Norm::l1(), Norm::linf()),
        (Norm::linf(), Norm::new(Order::L2, Weights::Transition)),
    ] {
        let s = Starc::new(Canonicalization::Value(Policy::Uniform), n).with_metric(n2);
        let d = s
            .distance(&mdp, &Reward::Full(&a), &Reward::Full(&b))
            .unwrap()
            .as_f64();
        let mut sa = vec![F::ZERO; m.full()];
        let mut sb = vec![F::ZERO; m.full()];
        s.standardize(&mdp, &Reward::Full(&a))
            .unwrap()
            .expand(&mut sa, &mdp)
            .unwrap();
        s.standardize(&mdp, &Reward::Full(&b))
            .unwrap()
            .expand(&mut sb, &mdp)
            .unwrap();
        let bound = norm(&sa, &mdp, &n2).unwrap().as_f64() + norm(&sb, &mdp, &n2).unwrap().as_f64();
        assert!(
            d >= 0.0 && d <= bound * (1.0 + 1e-5) + 1e-12,
            "{d} > {bound}"
        );
        // The standardised rewards have unit n-norm.
        let na = norm(&sa, &mdp, &n).unwrap().as_f64();
        assert!((na - 1.0).abs() <= 1e-5, "{na}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn symmetric_triangle_range_and_negation(
        (m, r1, r2, r3) in mdp_case().prop_flat_map(|m| {
            let n = m.full();
            (
                Just(m),
                prop::collection::vec(ms::REWARD, n),
                prop::collection::vec(ms::REWARD, n),
                prop::collection::vec(ms::REWARD, n),
            )
        })
    ) {
        // Pearson distances are undefined for constant rewards (tested in `errors`).
        let spread = |r: &[f64]| r.iter().cloned().fold(f64::MIN, f64::max) - r.iter().cloned().fold(f64::MAX, f64::min);
        prop_assume!(spread(&r1) > 0.1 && spread(&r2) > 0.1 && spread(&r3) > 0.1);
        check_axioms::<f64>(&m, &r1, &r2, &r3);
        check_axioms::<f32>(&m, &r1, &r2, &r3);
        check_mixed_norm_range::<f64>(&m, &r1, &r2);
        check_mixed_norm_range::<f32>(&m, &r1, &r2);
    }

    #[test]
    fn f32_distances_match_f64((m, r1, r2, ..) in mdp_with_rewards()) {
        let (o32, o64) = (Owned::<f32>::new(&m), Owned::<f64>::new(&m));
        let (a32, b32) = (cast::<f32>(&r1), cast::<f32>(&r2));
        // The f64 oracle on the same (f32-rounded) inputs.
        let a64: Vec<f64> = a32.iter().map(|&x| f64::from(x)).collect();
        let b64: Vec<f64> = b32.iter().map(|&x| f64::from(x)).collect();
        for metric in METRICS {
            let d32 = metric.distance(&o32.dense(), &a32, &b32);
            let d64 = metric.distance(&o64.dense(), &a64, &b64);
            // Transition probabilities are rounded to f32 too; distances move by O(ε₃₂·κ).
            prop_assert!((d32 - d64).abs() <= 1e-4, "{:?}: {} vs {}", metric, d32, d64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Distance 0 ⇒ same optimal policies; regret → 0 along a path
// ---------------------------------------------------------------------------------------------

fn check_same_optimal_policies<F: Real>(
    m: &MdpCase,
    r: &[f64],
    phi: &[f64],
    alpha: f64,
    pert: &[f64],
) {
    let o = Owned::<F>::new(m);
    let mdp = o.dense();
    let rf = cast::<F>(r);
    let other = cast::<F>(&equivalent(m, r, alpha, phi, Some(pert)));
    let tol = zero_tol::<F>();
    let d = Metric::Starc(Canon::Value, Order::L2, false).distance(&mdp, &rf, &other);
    assert!(d <= tol);
    let rtol = if F::NAME == "f64" { 1e-9 } else { 1e-3 };
    // Each reward's optimal policy is optimal for the other (zero normalised regret), and the
    // greedy actions coincide wherever the optimum is unique.
    let p1 = optimal_policy(&mdp, &Reward::Full(&rf)).unwrap();
    let p2 = optimal_policy(&mdp, &Reward::Full(&other)).unwrap();
    let nr12 = normalized_regret(
        &mdp,
        &Reward::Full(&rf),
        &Policy::Deterministic(&p2.actions),
    );
    let nr21 = normalized_regret(
        &mdp,
        &Reward::Full(&other),
        &Policy::Deterministic(&p1.actions),
    );
    assert!(nr12.unwrap().as_f64() <= rtol && nr21.unwrap().as_f64() <= rtol);
    let gap = if F::NAME == "f64" { 1e-6 } else { 1e-2 };
    if optimality_gap(m, r) > gap {
        assert_eq!(p1.actions, p2.actions);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn zero_distance_means_same_optimal_policies(
        (m, r, _, phi, alpha, pert) in mdp_with_rewards()
    ) {
        check_same_optimal_policies::<f64>(&m, &r, &phi, alpha, &pert);
        check_same_optimal_policies::<f32>(&m, &r, &phi, alpha, &pert);
    }

    // Along `R_t = (1 − t)R₂ + tR₁`, every distance to R₁ goes to 0 and the normalised regret
    // (under R₁) of an optimal policy for R_t goes to 0 — and is exactly 0 once `R_t` is within
    // R₁'s optimality gap.
    #[test]
    fn regret_vanishes_as_distance_vanishes((m, r1, r2, ..) in mdp_with_rewards()) {
        let gap = optimality_gap(&m, &r1);
        prop_assume!(gap > 1e-4);
        let o = Owned::<f64>::new(&m);
        let mdp = o.dense();
        let ts = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0 - 1e-5, 1.0 - 1e-7, 1.0];
        for metric in METRICS {
            let mut last_d = f64::INFINITY;
            let mut regrets = Vec::new();
            for &t in &ts {
                let rt: Vec<f64> = r1.iter().zip(&r2).map(|(a, b)| t * a + (1.0 - t) * b).collect();
                let d = metric.distance(&mdp, &r1, &rt);
                let pt = optimal_policy(&mdp, &Reward::Full(&rt)).unwrap();
                let nr = normalized_regret(&mdp, &Reward::Full(&r1), &Policy::Deterministic(&pt.actions))
                    .unwrap();
                regrets.push(nr);
                if t >= 0.99 {
                    // Close to R₁ the distance shrinks with 1 − t.
                    prop_assert!(d <= last_d + 1e-12, "{:?}: d not shrinking {} -> {}", metric, last_d, d);
                }
                last_d = d;
            }
            prop_assert!(last_d <= 1e-10, "{:?}: d(R₁, R₁) = {}", metric, last_d);
            // ‖R_t − R₁‖∞ <= 2·1e-7 moves Q* by at most 4e-7/(1 − γ) < gap/2 for γ < 0.95.
            prop_assert!(regrets[6] <= 1e-12, "{:?}: regrets {:?}", metric, regrets);
            prop_assert!(regrets[7] <= 1e-12);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The minimal canonicalisation is minimal
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn minimal_l2_is_the_smallest_equivalent_reward(
        (m, r, _, phi, _, pert) in mdp_with_rewards(), scale in 0.0..1.0f64
    ) {
        let o = Owned::<f64>::new(&m);
        let mdp = o.dense();
        let mut cmin = vec![0.0; m.full()];
        canonicalize(&mut cmin, &mdp, &Reward::Full(&r), &Canonicalization::MinimalL2).unwrap();
        let l2 = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
        // Any equivalent reward is at least as large.
        let phi_s: Vec<f64> = phi.iter().map(|x| x * scale).collect();
        let pert_s: Vec<f64> = pert.iter().map(|x| x * scale).collect();
        let other = equivalent(&m, &r, 1.0, &phi_s, Some(&pert_s));
        prop_assert!(l2(&cmin) <= l2(&other) + 1e-10);
        prop_assert!(l2(&cmin) <= l2(&r) + 1e-10);
        // And it is equivalent to R: same VAL canonical form.
        let val = |x: &[f64]| {
            let mut c = vec![0.0; m.full()];
            canonicalize(&mut c, &mdp, &Reward::Full(x), &Canonicalization::Value(Policy::Uniform)).unwrap();
            c
        };
        for (a, b) in val(&cmin).iter().zip(val(&r)) {
            prop_assert!((a - b).abs() <= 1e-10, "{} vs {}", a, b);
        }
        // Sparse and dense storage give the same canonical reward.
        let mut cs = vec![0.0; m.full()];
        canonicalize(&mut cs, &o.sparse(), &Reward::Full(&r), &Canonicalization::MinimalL2).unwrap();
        for (a, b) in cs.iter().zip(&cmin) {
            prop_assert!((a - b).abs() <= 1e-12);
        }
    }
}

// `(S)` and `(S, A)` rewards are the same as their full expansions for every metric.
#[test]
fn reward_conveniences_match_full_tensors() {
    let m = MdpCase {
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
    let mdp = o.dense();
    let rs = [0.3, -1.0, 0.7];
    let rsa = [0.1, 0.9, -0.4, 0.0, 0.5, -0.2];
    let mut full_s = vec![0.0; 18];
    let mut full_sa = vec![0.0; 18];
    Reward::State(&rs).expand(&mut full_s, &mdp).unwrap();
    Reward::StateAction(&rsa)
        .expand(&mut full_sa, &mdp)
        .unwrap();
    for metric in METRICS {
        let (da, db) = (Reward::State(&rs), Reward::StateAction(&rsa));
        let want = metric.distance(&mdp, &full_s, &full_sa);
        let got = match metric {
            Metric::Starc(..) => metric
                .starc::<f64>()
                .unwrap()
                .distance(&mdp, &da, &db)
                .unwrap(),
            Metric::Epic => Epic::default().distance(&mdp, &da, &db).unwrap(),
            Metric::DardDynamics => Dard::default().distance(&mdp, &da, &db).unwrap(),
            Metric::DardCoverage => Dard::new(Coverage::uniform(), DardWeights::Coverage)
                .distance(&mdp, &da, &db)
                .unwrap(),
        };
        assert!((got - want).abs() <= 1e-13, "{metric:?}: {got} vs {want}");
    }
}
