//! One test per documented error of `mdp`, `distance` and `objective`: bad input returns a typed
//! `Err`, never a panic and never a silent NaN.

use rewardkit_core::Error;
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, Epic, Norm, Order, SampleSizes, Starc, Weights, canonicalize,
    epic_sampled, norm, pearson_distance, redistribute, scale_reward, shape_potential,
};
use rewardkit_core::mdp::linalg::{lu_factor, lu_solve};
use rewardkit_core::mdp::preference::{
    Comparison, FitConfig, PreferenceModel, Segment, fit_reward, preference_loss,
};
use rewardkit_core::mdp::{
    Evaluation, Mdp, Policy, Reward, SparseTransitions, Transitions, expected_reward,
    policy_values, value_iteration,
};
use rewardkit_core::objective::{best_of_n, beta_for_kl, tilt, tilt_lambda};
use rewardkit_core::rng::SplitMix64;

use super::CHAIN_TAU;

fn chain() -> Mdp<'static, f64> {
    Mdp::new(2, 2, Transitions::Dense(&CHAIN_TAU), &[1.0, 0.0], 0.9).unwrap()
}

fn param(e: Result<impl std::fmt::Debug, Error>) -> &'static str {
    match e {
        Err(Error::InvalidParam { name, .. }) => name,
        other => panic!("expected InvalidParam, got {other:?}"),
    }
}

#[test]
fn mdp_construction() {
    let init = [1.0f64, 0.0];
    // Non-stochastic rows (sum 0.9), negative probabilities, NaN.
    let bad = [0.9, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    assert_eq!(
        param(Mdp::new(2, 2, Transitions::Dense(&bad), &init, 0.9)),
        "transitions"
    );
    let neg = [1.5, -0.5, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    assert_eq!(
        param(Mdp::new(2, 2, Transitions::Dense(&neg), &init, 0.9)),
        "transitions"
    );
    let nan = [f64::NAN, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    assert_eq!(
        Mdp::new(2, 2, Transitions::Dense(&nan), &init, 0.9),
        Err(Error::NonFinite {
            what: "transitions",
            index: 0
        })
    );
    // γ outside [0, 1).
    for g in [1.0, 1.5, -0.1, f64::NAN, f64::INFINITY] {
        assert_eq!(
            param(Mdp::new(2, 2, Transitions::Dense(&CHAIN_TAU), &init, g)),
            "gamma"
        );
    }
    // Mismatched shapes.
    assert_eq!(
        Mdp::new(2, 2, Transitions::Dense(&CHAIN_TAU[..6]), &init, 0.9),
        Err(Error::LengthMismatch {
            what: "transitions",
            expected: 8,
            got: 6
        })
    );
    assert_eq!(
        Mdp::new(2, 2, Transitions::Dense(&CHAIN_TAU), &[1.0], 0.9),
        Err(Error::LengthMismatch {
            what: "initial",
            expected: 2,
            got: 1
        })
    );
    assert_eq!(
        param(Mdp::new(
            2,
            2,
            Transitions::Dense(&CHAIN_TAU),
            &[0.7, 0.7],
            0.9
        )),
        "initial"
    );
    assert_eq!(
        Mdp::new(0, 2, Transitions::Dense(&[] as &[f64]), &[], 0.9),
        Err(Error::Empty { what: "states" })
    );
    assert!(matches!(
        Mdp::new(usize::MAX, 2, Transitions::Dense(&CHAIN_TAU), &init, 0.9),
        Err(Error::TooLarge { .. })
    ));
    // Sparse structure.
    let sp = SparseTransitions::new(&[0, 1, 2, 3, 4], &[0, 1, 1, 2], &[1.0, 1.0, 1.0, 1.0]);
    assert_eq!(
        param(Mdp::new(2, 2, Transitions::Sparse(sp), &init, 0.9)),
        "next_states"
    );
    let sp = SparseTransitions::new(&[0, 1, 3, 3, 4], &[0, 0, 1, 0], &[1.0, 0.5, 0.5, 1.0]);
    assert_eq!(
        param(Mdp::new(2, 2, Transitions::Sparse(sp), &init, 0.9)),
        "transitions"
    );
    let sp = SparseTransitions::new(&[1, 1, 2, 3, 4], &[0, 1, 1, 0], &[1.0, 1.0, 1.0, 1.0]);
    assert_eq!(
        param(Mdp::new(2, 2, Transitions::Sparse(sp), &init, 0.9)),
        "offsets"
    );
    let sp = SparseTransitions::new(&[0, 1, 2, 3, 4], &[0, 1, 1], &[1.0, 1.0, 1.0, 1.0]);
    assert!(matches!(
        Mdp::new(2, 2, Transitions::Sparse(sp), &init, 0.9),
        Err(Error::LengthMismatch {
            what: "next_states",
            ..
        })
    ));
}

#[test]
fn rewards_policies_and_solvers() {
    let mdp = chain();
    let mut v = [0.0f64; 2];
    let short = Reward::Full(&[0.0; 7]);
    assert!(matches!(
        policy_values(&mut v, &mdp, &short, &Policy::Uniform, Evaluation::Exact),
        Err(Error::LengthMismatch { what: "reward", .. })
    ));
    let nan = Reward::State(&[0.0, f64::NAN]);
    assert!(matches!(
        policy_values(&mut v, &mdp, &nan, &Policy::Uniform, Evaluation::Exact),
        Err(Error::NonFinite {
            what: "reward",
            index: 1
        })
    ));
    let r = Reward::State(&[0.0, 1.0]);
    assert_eq!(
        param(policy_values(
            &mut v,
            &mdp,
            &r,
            &Policy::Deterministic(&[0, 2]),
            Evaluation::Exact
        )),
        "policy"
    );
    assert_eq!(
        param(policy_values(
            &mut v,
            &mdp,
            &r,
            &Policy::Stochastic(&[0.5, 0.4, 1.0, 0.0]),
            Evaluation::Exact
        )),
        "policy"
    );
    let bad_it = Evaluation::Iterative {
        tol: 0.0,
        max_iters: 10,
    };
    assert_eq!(
        param(policy_values(&mut v, &mdp, &r, &Policy::Uniform, bad_it)),
        "tol"
    );
    let no_it = Evaluation::Iterative {
        tol: 1e-9,
        max_iters: 0,
    };
    assert_eq!(
        param(policy_values(&mut v, &mdp, &r, &Policy::Uniform, no_it)),
        "max_iters"
    );
    let short_it = Evaluation::Iterative {
        tol: 1e-15,
        max_iters: 5,
    };
    assert_eq!(
        param(policy_values(&mut v, &mdp, &r, &Policy::Uniform, short_it)),
        "max_iters"
    );
    assert_eq!(param(value_iteration(&mut v, &mdp, &r, -1.0, 10)), "tol");
    assert_eq!(
        param(value_iteration(&mut v, &mdp, &r, 1e-15, 3)),
        "max_iters"
    );
    assert!(matches!(
        value_iteration(&mut [0.0f64; 3], &mdp, &r, 1e-9, 10),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    let mut rbar = [0.0f64; 3];
    assert!(expected_reward(&mut rbar, &mdp, &r).is_err());
    // Rewards so large that values overflow.
    let huge = Reward::State(&[f64::MAX, f64::MAX]);
    assert!(matches!(
        policy_values(&mut v, &mdp, &huge, &Policy::Uniform, Evaluation::Exact),
        Err(Error::Overflow { .. })
    ));
    // A singular system for the LU.
    let mut a = [1.0, 1.0, 1.0, 1.0f64];
    let mut piv = [0usize; 2];
    assert_eq!(param(lu_factor(&mut a, &mut piv, 2)), "matrix");
    assert_eq!(
        param(lu_solve(&[1.0, 0.0, 0.0, 1.0], &[3, 1], &mut [1.0, 1.0], 2)),
        "piv"
    );
}

#[test]
fn distances() {
    let mdp = chain();
    let r = Reward::State(&[0.0, 1.0]);
    // Zero-variance rewards: the Pearson distance is undefined (constant and pure shaping).
    let constant = Reward::State(&[2.0, 2.0]);
    assert_eq!(
        param(Epic::default().distance(&mdp, &r, &constant)),
        "reward_b"
    );
    assert_eq!(
        param(Epic::default().distance(&mdp, &constant, &r)),
        "reward_a"
    );
    assert_eq!(
        param(Dard::default().distance(&mdp, &r, &constant)),
        "reward_b"
    );
    let mut shaping = [0.0f64; 8];
    shape_potential(
        &mut shaping,
        &mdp,
        &Reward::State(&[0.0, 0.0]),
        &[1.5, -4.0],
    )
    .unwrap();
    assert_eq!(
        param(Epic::default().distance(&mdp, &Reward::Full(&shaping), &r)),
        "reward_a"
    );
    assert_eq!(
        param(Dard::default().distance(&mdp, &Reward::Full(&shaping), &r)),
        "reward_a"
    );
    // … the same in f32, where the shaping is rounded.
    let tau32: Vec<f32> = CHAIN_TAU.iter().map(|&x| x as f32).collect();
    let mdp32 = Mdp::new(2, 2, Transitions::Dense(&tau32), &[1.0f32, 0.0], 0.9).unwrap();
    let mut sh32 = [0.0f32; 8];
    shape_potential(&mut sh32, &mdp32, &Reward::State(&[0.0, 0.0]), &[1.3, -4.7]).unwrap();
    let r32 = Reward::State(&[0.0f32, 1.0]);
    assert_eq!(
        param(Epic::default().distance(&mdp32, &Reward::Full(&sh32), &r32)),
        "reward_a"
    );
    // STARC standardises a trivial reward to 0 instead (documented): distance 1 with m = n.
    let d = Starc::default().distance(&mdp, &r, &constant).unwrap();
    assert!((d - 1.0).abs() < 1e-12);
    // Mismatched shapes and NaN.
    assert!(matches!(
        Epic::default().distance(&mdp, &r, &Reward::Full(&[0.0; 4])),
        Err(Error::LengthMismatch {
            what: "reward_b",
            ..
        })
    ));
    assert!(matches!(
        Starc::default().distance(
            &mdp,
            &Reward::StateAction(&[0.0, f64::INFINITY, 0.0, 0.0]),
            &r
        ),
        Err(Error::NonFinite {
            what: "reward_a",
            index: 1
        })
    ));
    // Coverage that is not a distribution.
    let cov = Coverage {
        states: Some(&[0.5, 0.6][..]),
        actions: None,
    };
    assert_eq!(
        param(Epic::new(cov).distance(&mdp, &r, &constant)),
        "coverage_states"
    );
    let cov = Coverage {
        states: None,
        actions: Some(&[1.0][..]),
    };
    assert!(matches!(
        Epic::new(cov).distance(&mdp, &r, &constant),
        Err(Error::LengthMismatch {
            what: "coverage_actions",
            ..
        })
    ));
    // Norm weights.
    let neg_w = [-1.0f64; 8];
    let s = Starc::new(
        Canonicalization::default(),
        Norm::new(Order::L2, Weights::Custom(&neg_w)),
    );
    assert_eq!(param(s.distance(&mdp, &r, &r)), "weights");
    assert!(
        norm(
            &[0.0f64; 8],
            &mdp,
            &Norm::new(Order::L1, Weights::Custom(&[1.0; 3]))
        )
        .is_err()
    );
    assert!(norm(&[f64::NAN; 8], &mdp, &Norm::l1()).is_err());
    // Standardised rewards of different MDPs / canonicalisations.
    let other = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.9).unwrap();
    let st = Starc::default();
    let a = st.standardize(&mdp, &r).unwrap();
    let b = st
        .standardize(&other, &Reward::StateAction(&[0.0, 1.0]))
        .unwrap();
    assert!(st.distance_between(&mdp, &a, &b).is_err());
    let e = Starc::new(Canonicalization::Epic(Coverage::uniform()), Norm::l2());
    let c = e.standardize(&mdp, &r).unwrap();
    assert_eq!(
        param(st.distance_between(&mdp, &a, &c)),
        "standardized reward"
    );
    // Pearson on slices.
    assert_eq!(
        pearson_distance::<f64>(&[], &[], None),
        Err(Error::Empty { what: "x" })
    );
    assert!(matches!(
        pearson_distance(&[1.0f64, 2.0], &[1.0], None),
        Err(Error::LengthMismatch { what: "y", .. })
    ));
    assert_eq!(
        param(pearson_distance(&[1.0f64, 1.0], &[1.0, 2.0], None)),
        "x"
    );
    assert_eq!(
        param(pearson_distance(&[1.0f64, 2.0], &[0.1, 0.1], None)),
        "y"
    );
    assert_eq!(
        param(pearson_distance(
            &[1.0f64, 2.0],
            &[1.0, 2.0],
            Some(&[0.0, 0.0])
        )),
        "weights"
    );
    assert_eq!(
        param(pearson_distance(
            &[1.0f64, 2.0],
            &[1.0, 2.0],
            Some(&[-1.0, 2.0])
        )),
        "weights"
    );
    // Transformations.
    let mut out = [0.0f64; 8];
    assert_eq!(param(scale_reward(&mut out, &mdp, &r, 0.0)), "alpha");
    assert_eq!(param(scale_reward(&mut out, &mdp, &r, -2.0)), "alpha");
    assert!(shape_potential(&mut out, &mdp, &r, &[1.0]).is_err());
    assert!(redistribute(&mut out, &mdp, &r, &[f64::NAN; 8]).is_err());
    assert!(canonicalize(&mut [0.0f64; 4], &mdp, &r, &Canonicalization::MinimalL2).is_err());
    assert_eq!(
        param(canonicalize(
            &mut out,
            &mdp,
            &r,
            &Canonicalization::Value(Policy::Deterministic(&[5, 0]))
        )),
        "policy"
    );
    // Sampled estimators.
    assert_eq!(param(SampleSizes::new(1, 10)), "transitions");
    assert_eq!(param(SampleSizes::new(10, 0)), "mean_samples");
    let ok = SampleSizes::new(8, 2).unwrap();
    let mut rng = SplitMix64::new(1);
    let good = |s: usize, a: usize, t: usize| (s + a + t) as f64;
    let nan = |_: usize, _: usize, _: usize| f64::NAN;
    assert!(matches!(
        epic_sampled(&mut rng, good, nan, 10, 2, 0.9, &Coverage::uniform(), ok),
        Err(Error::NonFinite {
            what: "reward_b",
            ..
        })
    ));
    assert_eq!(
        param(epic_sampled(
            &mut rng,
            good,
            good,
            10,
            2,
            1.0,
            &Coverage::uniform(),
            ok
        )),
        "gamma"
    );
    assert_eq!(
        epic_sampled(&mut rng, good, good, 0, 2, 0.9, &Coverage::uniform(), ok),
        Err(Error::Empty { what: "states" })
    );
}

#[test]
fn objective() {
    let mut out = [0.0f64; 2];
    let (p, r) = ([0.5f64, 0.5], [0.0f64, 1.0]);
    for beta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(param(tilt(&mut out, &p, &r, beta)), "beta");
    }
    assert_eq!(param(tilt_lambda(&mut out, &p, &r, -1.0)), "lambda");
    assert_eq!(param(tilt(&mut out, &[0.5, 0.6], &r, 1.0)), "p");
    assert_eq!(param(tilt(&mut out, &[1.5, -0.5], &r, 1.0)), "p");
    assert!(matches!(
        tilt(&mut out, &p, &[0.0, f64::NAN], 1.0),
        Err(Error::NonFinite {
            what: "r",
            index: 1
        })
    ));
    assert!(matches!(
        tilt(&mut out, &p, &[0.0], 1.0),
        Err(Error::LengthMismatch { what: "r", .. })
    ));
    assert!(matches!(
        tilt(&mut [0.0f64; 3], &p, &r, 1.0),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert_eq!(
        tilt::<f64>(&mut [], &[], &[], 1.0),
        Err(Error::Empty { what: "p" })
    );
    assert_eq!(param(beta_for_kl(&p, &r, -0.5)), "budget");
    assert_eq!(param(beta_for_kl(&p, &r, f64::NAN)), "budget");
    assert_eq!(param(best_of_n(&mut out, &p, &r, 0)), "n");
}

#[test]
fn preferences() {
    let mdp = chain();
    assert!(matches!(
        Segment::new(&[0, 1], &[0, 1]),
        Err(Error::LengthMismatch { .. })
    ));
    let good = Segment::new(&[0, 1], &[1]).unwrap();
    let bad_state = Segment::new(&[0, 7], &[1]).unwrap();
    let bad_action = Segment::new(&[0, 1], &[4]).unwrap();
    let r = [0.0f64; 8];
    let pr = PreferenceModel::PartialReturn;
    let data = |left, label| {
        [Comparison {
            left,
            right: good,
            label,
        }]
    };
    assert_eq!(
        param(preference_loss(None, &mdp, &r, &data(bad_state, 1.0), pr)),
        "segment states"
    );
    assert_eq!(
        param(preference_loss(None, &mdp, &r, &data(bad_action, 1.0), pr)),
        "segment actions"
    );
    assert_eq!(
        param(preference_loss(None, &mdp, &r, &data(good, 1.5), pr)),
        "label"
    );
    assert_eq!(
        preference_loss(None, &mdp, &r, &[], pr),
        Err(Error::Empty {
            what: "comparisons"
        })
    );
    assert!(matches!(
        preference_loss(None, &mdp, &r[..4], &data(good, 1.0), pr),
        Err(Error::LengthMismatch { what: "reward", .. })
    ));
    assert!(matches!(
        preference_loss(Some(&mut [0.0; 3]), &mdp, &r, &data(good, 1.0), pr),
        Err(Error::LengthMismatch { what: "grad", .. })
    ));
    assert_eq!(param(FitConfig::new(0, 0.1f64, 0.0)), "steps");
    assert_eq!(param(FitConfig::new(10, 0.0f64, 0.0)), "learning_rate");
    assert_eq!(param(FitConfig::new(10, 0.1f64, -1.0)), "l2");
    let mut fit = [f64::NAN; 8];
    assert!(matches!(
        fit_reward(&mut fit, &mdp, &data(good, 1.0), pr, &FitConfig::default()),
        Err(Error::NonFinite { what: "reward", .. })
    ));
}

// Regressions found by `fuzz/fuzz_targets/distances.rs` (root causes in the comments).
#[test]
fn fuzz_regressions() {
    // crash-64fe5af4: a constant reward of magnitude 1.8e10 with p = (1 − 4e-13, 4e-13) and a
    // subnormal β = 3.8e-40 (λ ≈ 2.6e39). The probability-weighted mean rounded above max r, so
    // λ·(r − mean) was −∞ and the log-partition −∞ − (−∞) = NaN. Fixed: the mean is clamped into
    // [min r, max r], a constant reward returns φ = p, and the small-λ branch is only taken when
    // every λ(r − mean) ∈ [−30, 1].
    let p = [6.340206e22f32, 2.8026348e10];
    let s: f32 = p.iter().sum();
    let p = [p[0] / s, p[1] / s];
    let r = [-1.7936843e10f32; 2];
    let mut out = [0.0f32; 2];
    let st = tilt(&mut out, &p, &r, 3.84523e-40).unwrap();
    assert_eq!(st.kl, 0.0);
    assert_eq!(st.expected_reward, -1.7936843e10);
    assert_eq!(out, p);
    // The same with a non-constant reward and an enormous λ: the argmax limit, no NaN.
    let mut out64 = [0.0f64; 2];
    let st = tilt(&mut out64, &[0.5f64, 0.5], &[-1e10, -1e10 + 1e-3], 1e-300).unwrap();
    assert!((st.kl - 2f64.ln()).abs() < 1e-12 && st.expected_reward == -1e10 + 1e-3);

    // crash-76335e12: f32 rewards near −f32::MAX give values beyond the f32 range; the f64
    // solver's finite results became −∞ when rounded to f32. Fixed: results that overflow `F`
    // are `Error::Overflow`.
    let mdp = Mdp::new(1, 1, Transitions::Dense(&[1.0f32]), &[1.0], 0.5).unwrap();
    let huge = Reward::State(&[-2.7997575e38f32]);
    assert_eq!(
        rewardkit_core::mdp::optimal_policy(&mdp, &huge),
        Err(Error::Overflow { what: "values" })
    );
    let mut v = [0.0f32];
    assert!(matches!(
        policy_values(&mut v, &mdp, &huge, &Policy::Uniform, Evaluation::Exact),
        Err(Error::Overflow { .. })
    ));
}

// The canonicalisations added for issue 14: STARC's MinimalPotential and ValuePotential,
// evaluating-rewards' greedy and singleton canonical rewards, the identity.
#[test]
fn new_canonicalisations() {
    use rewardkit_core::distance::minimal_potential;
    let mdp = chain();
    let r = Reward::Full(&[1.0, 0.0, 0.0, 2.0, 0.0, 3.0, -1.0, 0.0]);
    let (mut phi, mut cert) = ([0.0f64; 2], [0.0f64; 8]);
    // L∞ has no unique minimal potential: rejected, as a canonicalisation and directly.
    assert_eq!(
        param(minimal_potential(
            &mut phi,
            &mut cert,
            &mdp,
            &r,
            &Norm::linf()
        )),
        "norm"
    );
    let mp_inf = Canonicalization::MinimalPotential(Norm::linf());
    assert_eq!(
        param(canonicalize(&mut [0.0f64; 8], &mdp, &r, &mp_inf)),
        "norm"
    );
    assert_eq!(
        param(Starc::new(mp_inf, Norm::l2()).distance(&mdp, &r, &r)),
        "norm"
    );
    // Weights: all zero; negative; wrong length; NaN; not determining the potential (only the
    // self-transition of state 0 weighted: Φ(1) is free).
    for (w, what) in [
        ([0.0f64; 8], "weights"),
        ([-1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "weights"),
        ([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "weights"),
    ] {
        for order in [Order::L1, Order::L2] {
            let n = Norm::new(order, Weights::Custom(&w));
            assert_eq!(
                param(minimal_potential(&mut phi, &mut cert, &mdp, &r, &n)),
                what
            );
        }
    }
    let short = Norm::new(Order::L1, Weights::Custom(&[1.0f64; 3]));
    assert!(matches!(
        minimal_potential(&mut phi, &mut cert, &mdp, &r, &short),
        Err(Error::LengthMismatch {
            what: "weights",
            ..
        })
    ));
    let nan_w = [f64::NAN; 8];
    assert!(matches!(
        minimal_potential(
            &mut phi,
            &mut cert,
            &mdp,
            &r,
            &Norm::new(Order::L2, Weights::Custom(&nan_w))
        ),
        Err(Error::NonFinite {
            what: "weights",
            ..
        })
    ));
    // Output lengths and bad rewards.
    assert!(matches!(
        minimal_potential(&mut [0.0f64; 3], &mut cert, &mdp, &r, &Norm::l1()),
        Err(Error::LengthMismatch {
            what: "potential",
            ..
        })
    ));
    assert!(matches!(
        minimal_potential(&mut phi, &mut [0.0f64; 4], &mdp, &r, &Norm::l1()),
        Err(Error::LengthMismatch {
            what: "certificate",
            ..
        })
    ));
    let nan_r = Reward::Full(&[0.0, f64::NAN, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(
        minimal_potential(&mut phi, &mut cert, &mdp, &nan_r, &Norm::l1()),
        Err(Error::NonFinite {
            what: "reward",
            index: 1
        })
    );
    for c in [
        Canonicalization::ValuePotential(Policy::Uniform),
        Canonicalization::MinimalPotential(Norm::l1()),
        Canonicalization::FullyConnectedGreedy(None),
        Canonicalization::SingletonShaping,
        Canonicalization::Identity,
    ] {
        assert!(
            matches!(
                canonicalize(&mut [0.0f64; 8], &mdp, &nan_r, &c),
                Err(Error::NonFinite {
                    what: "reward",
                    index: 1
                })
            ),
            "{c:?}"
        );
        assert!(matches!(
            canonicalize(&mut [0.0f64; 8], &mdp, &Reward::Full(&[0.0; 5]), &c),
            Err(Error::LengthMismatch { what: "reward", .. })
        ));
    }
    // ValuePotential's policy; the greedy canonicalisation's next-state distribution.
    assert_eq!(
        param(canonicalize(
            &mut [0.0f64; 8],
            &mdp,
            &r,
            &Canonicalization::ValuePotential(Policy::Deterministic(&[2, 0]))
        )),
        "policy"
    );
    let greedy = |d: &'static [f64]| Canonicalization::FullyConnectedGreedy(Some(d));
    assert_eq!(
        param(canonicalize(
            &mut [0.0f64; 8],
            &mdp,
            &r,
            &greedy(&[0.7, 0.7])
        )),
        "coverage_states"
    );
    assert_eq!(
        param(canonicalize(
            &mut [0.0f64; 8],
            &mdp,
            &r,
            &greedy(&[1.5, -0.5])
        )),
        "coverage_states"
    );
    assert!(matches!(
        canonicalize(&mut [0.0f64; 8], &mdp, &r, &greedy(&[1.0])),
        Err(Error::LengthMismatch {
            what: "coverage_states",
            ..
        })
    ));
    // f32: a canonical reward beyond f32::MAX is an overflow, not ∞ (singleton: Φ = R/(1 − γ)).
    let tau32: Vec<f32> = CHAIN_TAU.iter().map(|&x| x as f32).collect();
    let mdp32 = Mdp::new(2, 2, Transitions::Dense(&tau32), &[1.0f32, 0.0], 0.9).unwrap();
    let big = [3e38f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    assert!(matches!(
        canonicalize(
            &mut [0.0f32; 8],
            &mdp32,
            &Reward::Full(&big),
            &Canonicalization::SingletonShaping
        ),
        Err(Error::Overflow { .. })
    ));
    let (mut phi32, mut cert32) = ([0.0f32; 2], [0.0f32; 8]);
    assert!(matches!(
        minimal_potential(
            &mut phi32,
            &mut cert32,
            &mdp32,
            &Reward::Full(&big),
            &Norm::l2()
        ),
        Err(Error::Overflow { .. })
    ));
}
