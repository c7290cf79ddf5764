//! The reward doctor (`distance::{relation, diagnose}`): every relation built by hand on a 2-state
//! chain (dense and sparse, `f64` and `f32`) with hand-computed regrets and disagreements;
//! properties on random MDPs (scaling and shaping with `α` recovered, S'-redistribution, identity,
//! negation, regret ranges; dense = sparse; `f64` as the oracle for `f32`); one test per
//! documented error.

use proptest::prelude::*;
use rewardkit_core::distance::{
    Relation, default_tolerance, diagnose, redistribute, relation, scale_reward, shape_potential,
};
use rewardkit_core::mdp::{Mdp, Reward, SparseTransitions, Transitions};
use rewardkit_core::{Error, Real};
use rewardkit_tests::mdp_support::{MdpCase, mdp_with_rewards};

use super::{CHAIN_TAU, Owned, cast};

// ---------------------------------------------------------------------------------------------
// Literals: the 2-state chain (action 0 stays, action 1 switches), μ = (1, 0), γ = 0.5
// ---------------------------------------------------------------------------------------------

/// The reference: +1 for leaving state 1, as a full `(S, A, S')` tensor.
const GOAL: [f64; 8] = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];

/// Runs `f` on the chain in dense and in sparse form.
fn on_chain<F: Real>(f: impl Fn(&Mdp<'_, F>)) {
    let tau = cast::<F>(&CHAIN_TAU);
    let init = cast::<F>(&[1.0, 0.0]);
    let gamma = F::lit(0.5);
    let dense = Mdp::new(2, 2, Transitions::Dense(&tau), &init, gamma).unwrap();
    f(&dense);
    // Rows (s, a): (0, stay) → 0, (0, switch) → 1, (1, stay) → 1, (1, switch) → 0.
    let probs = cast::<F>(&[1.0; 4]);
    let sp = SparseTransitions::new(&[0, 1, 2, 3, 4], &[0, 1, 1, 0], &probs);
    let sparse = Mdp::new(2, 2, Transitions::Sparse(sp), &init, gamma).unwrap();
    f(&sparse);
}

fn rel<F: Real>(mdp: &Mdp<'_, F>, reference: &[f64], proposed: &[f64]) -> Relation<F> {
    let (a, b) = (cast::<F>(reference), cast::<F>(proposed));
    relation(
        mdp,
        &Reward::Full(&a),
        &Reward::Full(&b),
        default_tolerance(),
    )
    .unwrap()
}

fn close(x: f64, want: f64, tol: f64) -> bool {
    (x - want).abs() <= tol
}

fn literal_relations<F: Real>() {
    let tol = if F::NAME == "f64" { 1e-12 } else { 1e-5 };
    on_chain::<F>(|mdp| {
        assert_eq!(rel(mdp, &GOAL, &GOAL), Relation::Identical);
        // The same reward given as a state table.
        let goal_state = cast::<F>(&[0.0, 1.0]);
        let goal_full = cast::<F>(&GOAL);
        let r = relation(
            mdp,
            &Reward::Full(&goal_full),
            &Reward::State(&goal_state),
            default_tolerance(),
        )
        .unwrap();
        assert_eq!(r, Relation::Identical);
        // × 2.5.
        let scaled = GOAL.map(|x| 2.5 * x);
        match rel(mdp, &GOAL, &scaled) {
            Relation::Rescaled { alpha } => assert!(close(alpha.as_f64(), 2.5, tol)),
            r => panic!("{r:?}"),
        }
        // Shaping with Φ = (2, −4): R(s, a, s') + 0.5·Φ(s') − Φ(s); rows (s, a) over s' = (0, 1):
        // s = 0: 0 + 1 − 2 = −1, 0 − 2 − 2 = −4; s = 1: 1 + 1 + 4 = 6, 1 − 2 + 4 = 3.
        let shaped = [-1.0, -4.0, -1.0, -4.0, 6.0, 3.0, 6.0, 3.0];
        assert_eq!(rel(mdp, &GOAL, &shaped), Relation::Shaped);
        // 2·R + the same shaping: s = 1 rows become 7, 4.
        let both = [-1.0, -4.0, -1.0, -4.0, 7.0, 4.0, 7.0, 4.0];
        match rel(mdp, &GOAL, &both) {
            Relation::RescaledShaped { alpha } => assert!(close(alpha.as_f64(), 2.0, tol)),
            r => panic!("{r:?}"),
        }
        // A constant shift −0.1 is the shaping with Φ ≡ 0.2.
        assert_eq!(rel(mdp, &GOAL, &GOAL.map(|x| x - 0.1)), Relation::Shaped);
        // S'-redistribution onto a transition that cannot happen (staying in 0 never reaches 1):
        // the same values for every policy, but not a shaping (EPIC sees it).
        let mut moved = GOAL;
        moved[1] = 5.0;
        assert_eq!(rel(mdp, &GOAL, &moved), Relation::SameOrdering);
        // The swapped goal, and the negated goal.
        let swapped = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(rel(mdp, &GOAL, &swapped), Relation::Different);
        assert_eq!(rel(mdp, &GOAL, &GOAL.map(|x| -x)), Relation::Different);
        // Trivial rewards: a constant, and a pure shaping (Φ = (2, −4) on R = 0).
        let flat = [3.0; 8];
        let pure_shaping = [-1.0, -4.0, -1.0, -4.0, 5.0, 2.0, 5.0, 2.0];
        assert_eq!(rel(mdp, &flat, &GOAL), Relation::TrivialReference);
        assert_eq!(rel(mdp, &pure_shaping, &GOAL), Relation::TrivialReference);
        assert_eq!(rel(mdp, &GOAL, &flat), Relation::TrivialProposal);
        assert_eq!(rel(mdp, &GOAL, &pure_shaping), Relation::TrivialProposal);
        assert_eq!(rel(mdp, &flat, &flat), Relation::TrivialReference);
    });
}

#[test]
fn literal_relations_f64() {
    literal_relations::<f64>();
}

#[test]
fn literal_relations_f32() {
    literal_relations::<f32>();
}

fn literal_diagnosis<F: Real>() {
    let tol = if F::NAME == "f64" { 1e-12 } else { 1e-5 };
    on_chain::<F>(|mdp| {
        let (goal, swapped) = (
            cast::<F>(&[0.0, 1.0]),
            cast::<F>(&[1.0, 0.0]), // +1 for leaving state 0 instead
        );
        let d = diagnose(
            mdp,
            &Reward::State(&goal),
            &Reward::State(&swapped),
            default_tolerance(),
        )
        .unwrap();
        assert_eq!(d.relation, Relation::Different);
        // V*_goal = (0.5·2, 1/(1 − 0.5)) = (1, 2): switch from 0, stay in 1. The swapped goal:
        // stay in 0, switch from 1.
        assert_eq!(d.reference_policy, [1, 0]);
        assert_eq!(d.proposed_policy, [0, 1]);
        // Under the goal, staying in 0 earns 0 forever: J = 0 against J* = V*(0) = 1; the worst
        // return is also 0, so the normalised regret is 1.
        assert!(close(d.regret.as_f64(), 1.0, tol));
        assert!(close(d.normalized_regret.as_f64(), 1.0, tol));
        // Under the swapped goal, J* = 1/(1 − 0.5) = 2; the goal's policy earns 1 once, J = 1,
        // and no policy earns less than 1 from state 0: normalised 1.
        assert!(close(d.reverse_regret.as_f64(), 1.0, tol));
        assert!(close(d.reverse_normalized_regret.as_f64(), 1.0, tol));
        // Q*_goal(0, stay) = 0.5·1 = 0.5 (loses 0.5); Q*_goal(1, switch) = 1 + 0.5·1 = 1.5
        // (loses 0.5).
        assert_eq!(d.disagreements.len(), 2);
        for (x, (s, ra, pa)) in d.disagreements.iter().zip([(0, 1, 0), (1, 0, 1)]) {
            assert_eq!(
                (x.state, x.reference_action, x.proposed_action),
                (s, ra, pa)
            );
            assert!(close(x.value_lost.as_f64(), 0.5, tol));
        }
        // STARC VAL of opposite rewards on this chain: the swapped goal is −goal + 1 (a shift):
        // d = 2.
        assert!(close(d.starc.as_f64(), 2.0, tol));

        // The same reward: zero regret both ways, nothing disagrees, distance 0.
        let d = diagnose(
            mdp,
            &Reward::State(&goal),
            &Reward::StateAction(&cast::<F>(&[0.0, 0.0, 1.0, 1.0])),
            default_tolerance(),
        )
        .unwrap();
        assert_eq!(d.relation, Relation::Identical);
        assert_eq!(d.regret, F::ZERO);
        assert_eq!(d.reverse_regret, F::ZERO);
        assert!(d.disagreements.is_empty() && d.starc.as_f64() <= tol);
    });
}

#[test]
fn literal_diagnosis_f64() {
    literal_diagnosis::<f64>();
}

#[test]
fn literal_diagnosis_f32() {
    literal_diagnosis::<f32>();
}

#[test]
fn disagreement_off_the_start_distribution_has_zero_regret() {
    // The chain with μ = (1, 0). Reference: +1 for staying (in 0 or 1); proposal: +1 for
    // staying in 0 and for switching from 1. Both optimal policies stay in 0 forever from μ, so
    // the regret is 0, but in state 1 (never reached) the proposal's action loses value.
    on_chain::<f64>(|mdp| {
        let reference = [1.0, 0.0, 1.0, 0.0];
        let proposed = [1.0, 0.0, 0.0, 1.0];
        let d = diagnose(
            mdp,
            &Reward::StateAction(&reference),
            &Reward::StateAction(&proposed),
            1e-9,
        )
        .unwrap();
        assert_eq!(d.relation, Relation::Different);
        assert_eq!(d.proposed_policy, [0, 1]);
        assert_eq!(d.regret, 0.0);
        // V*_R(1) = 2; Q*_R(1, switch) = 0 + 0.5·2 = 1.
        assert_eq!(d.disagreements.len(), 1);
        assert_eq!(d.disagreements[0].state, 1);
        assert!(close(d.disagreements[0].value_lost, 1.0, 1e-12));
    });
}

// ---------------------------------------------------------------------------------------------
// Properties on random MDPs
// ---------------------------------------------------------------------------------------------

/// `α·R + γΦ(s') − Φ(s)` (shaping only if `phi` is given), then S'-redistributed by `d`, in
/// `f64`.
fn transform(
    m: &MdpCase,
    r: &[f64],
    alpha: f64,
    phi: Option<&[f64]>,
    d: Option<&[f64]>,
) -> Vec<f64> {
    let o = Owned::<f64>::new(m);
    let mdp = o.dense();
    let mut out = vec![0.0; m.full()];
    scale_reward(&mut out, &mdp, &Reward::Full(r), alpha).unwrap();
    if let Some(phi) = phi {
        let src = out.clone();
        shape_potential(&mut out, &mdp, &Reward::Full(&src), phi).unwrap();
    }
    if let Some(d) = d {
        let src = out.clone();
        redistribute(&mut out, &mdp, &Reward::Full(&src), d).unwrap();
    }
    out
}

/// The relation on the dense and the sparse MDP (which must agree), in `F`.
fn relation_both<F: Real>(m: &MdpCase, a: &[f64], b: &[f64]) -> Relation<F> {
    let o = Owned::<F>::new(m);
    let (fa, fb) = (cast::<F>(a), cast::<F>(b));
    let tol = default_tolerance::<F>();
    let dense = relation(&o.dense(), &Reward::Full(&fa), &Reward::Full(&fb), tol).unwrap();
    let sparse = relation(&o.sparse(), &Reward::Full(&fa), &Reward::Full(&fb), tol).unwrap();
    assert_eq!(dense.name(), sparse.name());
    if let (Some(x), Some(y)) = (dense.alpha(), sparse.alpha()) {
        assert!((x.as_f64() - y.as_f64()).abs() <= 1e-6 * x.as_f64().abs());
    }
    dense
}

/// Checks the relation in `f64` and `f32` (`f64` the oracle: same name, `α` within `1e-3`).
fn check_relation(m: &MdpCase, a: &[f64], b: &[f64], name: &str, alpha: Option<f64>) {
    let r64 = relation_both::<f64>(m, a, b);
    assert_eq!(r64.name(), name, "f64: {r64:?}");
    let r32 = relation_both::<f32>(m, a, b);
    assert_eq!(r32.name(), name, "f32: {r32:?}");
    if let Some(want) = alpha {
        let got = r64.alpha().unwrap();
        assert!((got - want).abs() <= 1e-9 * want, "α = {got} vs {want}");
        let got32 = f64::from(r32.alpha().unwrap());
        assert!(
            (got32 - want).abs() <= 1e-3 * want,
            "f32 α = {got32} vs {want}"
        );
    }
}

/// Regret checks on one pair: ranges, and zero when the relation keeps the ordering.
fn check_regrets<F: Real>(m: &MdpCase, a: &[f64], b: &[f64]) {
    let o = Owned::<F>::new(m);
    let (fa, fb) = (cast::<F>(a), cast::<F>(b));
    for mdp in [o.dense(), o.sparse()] {
        let d = diagnose(
            &mdp,
            &Reward::Full(&fa),
            &Reward::Full(&fb),
            default_tolerance(),
        )
        .unwrap();
        for x in [d.regret, d.reverse_regret] {
            assert!(x >= F::ZERO && x.is_finite());
        }
        for x in [d.normalized_regret, d.reverse_normalized_regret] {
            assert!(x >= F::ZERO && x <= F::ONE);
        }
        assert!(d.starc >= F::ZERO && d.starc <= F::lit(2.0));
        assert_eq!(d.reference_policy.len(), m.s);
        assert_eq!(d.proposed_policy.len(), m.s);
        let mut prev = None;
        for x in &d.disagreements {
            assert!(x.value_lost > F::ZERO && x.state < m.s);
            assert!(prev.is_none_or(|p| p < x.state));
            assert_eq!(d.proposed_policy[x.state], x.proposed_action);
            assert_eq!(d.reference_policy[x.state], x.reference_action);
            prev = Some(x.state);
        }
        if d.relation.same_ordering() {
            // Same optimal policies up to ties: the regret is rounding-level, relative to the
            // range of returns.
            let lim = if F::NAME == "f64" { 1e-7 } else { 1e-2 };
            assert!(d.normalized_regret.as_f64() <= lim, "{d:?}");
            assert!(d.reverse_normalized_regret.as_f64() <= lim, "{d:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn scaling_and_shaping_are_recognised_with_alpha((m, r, _, phi, alpha, _) in mdp_with_rewards()) {
        prop_assume!((alpha - 1.0).abs() > 1e-3);
        check_relation(&m, &r, &r, "identical", Some(1.0));
        check_relation(&m, &r, &transform(&m, &r, alpha, None, None), "rescaled", Some(alpha));
        check_relation(&m, &r, &transform(&m, &r, 1.0, Some(&phi), None), "shaped", Some(1.0));
        let both = transform(&m, &r, alpha, Some(&phi), None);
        check_relation(&m, &r, &both, "rescaled+shaped", Some(alpha));
        check_regrets::<f64>(&m, &r, &both);
        check_regrets::<f32>(&m, &r, &both);
    }

    #[test]
    fn identical_rewards_have_zero_regret((m, r, ..) in mdp_with_rewards()) {
        for mdp in [Owned::<f64>::new(&m).dense(), Owned::<f64>::new(&m).sparse()] {
            let d = diagnose(&mdp, &Reward::Full(&r), &Reward::Full(&r), 1e-9).unwrap();
            prop_assert_eq!(d.relation, Relation::Identical);
            prop_assert_eq!(d.regret, 0.0);
            prop_assert_eq!(d.reverse_regret, 0.0);
            prop_assert!(d.disagreements.is_empty());
            prop_assert_eq!(d.reference_policy, d.proposed_policy);
        }
    }

    #[test]
    fn redistribution_keeps_the_ordering((m, r, _, phi, alpha, noise) in mdp_with_rewards()) {
        let moved = transform(&m, &r, alpha, Some(&phi), Some(&noise));
        check_relation(&m, &r, &moved, "same-ordering", None);
        check_regrets::<f64>(&m, &r, &moved);
        check_regrets::<f32>(&m, &r, &moved);
    }

    #[test]
    fn negation_is_different_with_full_regret((m, r, _, phi, alpha, noise) in mdp_with_rewards()) {
        // −α·R + shaping + redistribution: STARC VAL = 2, so "different" whatever the MDP; the
        // proposal's optimal policy is the reference's worst in every state.
        let neg: Vec<f64> = r.iter().map(|x| -x).collect();
        let flipped = transform(&m, &neg, alpha, Some(&phi), Some(&noise));
        check_relation(&m, &r, &flipped, "different", None);
        let o = Owned::<f64>::new(&m);
        let d = diagnose(&o.dense(), &Reward::Full(&r), &Reward::Full(&flipped), 1e-9).unwrap();
        prop_assert!((d.starc - 2.0).abs() < 1e-9);
        prop_assert!((d.normalized_regret - 1.0).abs() < 1e-6, "{}", d.normalized_regret);
        prop_assert!((d.reverse_normalized_regret - 1.0).abs() < 1e-6);
        check_regrets::<f32>(&m, &r, &flipped);
    }

    #[test]
    fn regret_ranges_on_random_pairs((m, r, r2, ..) in mdp_with_rewards()) {
        check_regrets::<f64>(&m, &r, &r2);
        check_regrets::<f32>(&m, &r, &r2);
        // f64 is the oracle for f32 on the same rounded inputs.
        let (a, b) = (cast::<f32>(&r), cast::<f32>(&r2));
        let (a64, b64): (Vec<f64>, Vec<f64>) =
            (a.iter().map(|&x| f64::from(x)).collect(), b.iter().map(|&x| f64::from(x)).collect());
        let (o32, o64) = (Owned::<f32>::new(&m), Owned::<f64>::new(&m));
        let d32 = diagnose(&o32.dense(), &Reward::Full(&a), &Reward::Full(&b), default_tolerance()).unwrap();
        let d64 = diagnose(&o64.dense(), &Reward::Full(&a64), &Reward::Full(&b64), 1e-9).unwrap();
        prop_assert!((f64::from(d32.starc) - d64.starc).abs() <= 1e-4);
        let scale = r.iter().fold(1.0f64, |m, x| m.max(x.abs())) / (1.0 - m.gamma);
        if d32.proposed_policy == d64.proposed_policy && d32.reference_policy == d64.reference_policy {
            prop_assert!((f64::from(d32.regret) - d64.regret).abs() <= 1e-4 * scale);
            prop_assert!((f64::from(d32.reverse_regret) - d64.reverse_regret).abs() <= 1e-4 * scale);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn every_documented_error() {
    on_chain::<f64>(|mdp| {
        let goal = Reward::State(&[0.0, 1.0]);
        for bad_tol in [0.0, -1e-9, 1.0, 2.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                relation(mdp, &goal, &goal, bad_tol),
                Err(Error::InvalidParam { name: "tol", .. })
            ));
            assert!(matches!(
                diagnose(mdp, &goal, &goal, bad_tol),
                Err(Error::InvalidParam { name: "tol", .. })
            ));
        }
        let short = Reward::Full(&[0.0; 7]);
        assert!(matches!(
            relation(mdp, &short, &goal, 1e-9),
            Err(Error::LengthMismatch {
                what: "reference",
                expected: 8,
                got: 7
            })
        ));
        assert!(matches!(
            diagnose(mdp, &goal, &Reward::StateAction(&[0.0; 3]), 1e-9),
            Err(Error::LengthMismatch {
                what: "proposed",
                expected: 4,
                got: 3
            })
        ));
        let nan = Reward::State(&[0.0, f64::NAN]);
        assert!(matches!(
            relation(mdp, &goal, &nan, 1e-9),
            Err(Error::NonFinite {
                what: "proposed",
                index: 1
            })
        ));
        assert!(matches!(
            diagnose(mdp, &Reward::State(&[f64::INFINITY, 0.0]), &goal, 1e-9),
            Err(Error::NonFinite {
                what: "reference",
                index: 0
            })
        ));
    });
    // α = 1e60 and α = 1e-60 do not fit f32 (the second would round to 0).
    on_chain::<f32>(|mdp| {
        let tiny = Reward::State(&[0.0, 1e-30]);
        let huge = Reward::State(&[0.0, 1e30]);
        for (a, b) in [(&tiny, &huge), (&huge, &tiny)] {
            assert!(matches!(
                relation(mdp, a, b, default_tolerance()),
                Err(Error::Overflow { what: "alpha" })
            ));
        }
    });
}
