//! Properties of the gridworld and the reward doctor on random small gridworlds and rewards.
//!
//! The doctor's verdict must match how the proposal was built (positive scaling, potential
//! shaping, both, S'-redistribution), with `α` recovered; a proposal that keeps the optimal
//! policies has no regret and no disagreeing state, and any disagreeing state costs regret.

use proptest::prelude::*;
use rewardkit_web::doctor::{Relation, diagnose, relation};
use rewardkit_web::gridworld::{Gridworld, random_values, redistributed, scaled, shaped};

/// A gridworld of 2 to 9 cells and a state reward that is not (nearly) constant.
fn world_and_reward() -> impl Strategy<Value = (Gridworld, Vec<f64>)> {
    (1usize..=3, 1usize..=3, 0.0f64..0.5, 0.5f64..0.95)
        .prop_filter("at least two cells", |(w, h, _, _)| w * h >= 2)
        .prop_flat_map(|(w, h, slip, gamma)| {
            (
                Just(Gridworld::new(w, h, slip, gamma).unwrap()),
                prop::collection::vec(-1.0f64..1.0, w * h),
            )
        })
        .prop_filter("a reward that is not constant", |(_, r)| {
            let (lo, hi) = r
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            hi - lo > 0.1
        })
        .prop_map(|(world, r)| {
            let full = world.from_states(&r).unwrap();
            (world, full)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transition_rows_are_distributions((world, _) in world_and_reward()) {
        for row in world.transitions().chunks_exact(world.n_states()) {
            prop_assert!(row.iter().all(|&p| p >= 0.0));
            prop_assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn scaling_is_recognized((world, r) in world_and_reward(), alpha in 0.2f64..5.0) {
        let rel = relation(&world, &r, &scaled(&world, &r, alpha).unwrap()).unwrap();
        match rel {
            Relation::Rescaled { alpha: a } => prop_assert!((a - alpha).abs() <= 1e-6 * alpha),
            Relation::Identical => prop_assert!((alpha - 1.0).abs() < 1e-6),
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn shaping_is_recognized_and_costs_nothing(
        (world, r) in world_and_reward(),
        alpha in 0.2f64..5.0,
        seed in any::<u32>(),
    ) {
        let phi = random_values(u64::from(seed), world.n_states(), 2.0);
        let shaped_only = shaped(&world, &r, &phi).unwrap();
        let rel = relation(&world, &r, &shaped_only).unwrap();
        prop_assert!(matches!(rel, Relation::Shaped | Relation::Identical), "{rel:?}");
        let both = shaped(&world, &scaled(&world, &r, alpha).unwrap(), &phi).unwrap();
        match relation(&world, &r, &both).unwrap() {
            Relation::RescaledShaped { alpha: a } | Relation::Rescaled { alpha: a } => {
                prop_assert!((a - alpha).abs() <= 1e-6 * alpha)
            }
            Relation::Shaped | Relation::Identical => prop_assert!((alpha - 1.0).abs() < 1e-6),
            other => prop_assert!(false, "{other:?}"),
        }
        let d = diagnose(&world, &r, &both).unwrap();
        prop_assert!(d.disagreements.is_empty(), "{:?}", d.disagreements);
        prop_assert!(d.normalized_regret < 1e-6 && d.reverse_normalized_regret < 1e-6);
    }

    #[test]
    fn redistribution_keeps_the_ordering((world, r) in world_and_reward(), seed in any::<u32>()) {
        let d = random_values(u64::from(seed), world.full_len(), 1.0);
        let moved = redistributed(&world, &r, &d).unwrap();
        let rel = relation(&world, &r, &moved).unwrap();
        // Reward moves between next states (or onto impossible transitions): STARC's VAL still
        // says 0, EPIC's canonicalization does not.
        prop_assert_eq!(rel, Relation::SameOrdering);
        let diag = diagnose(&world, &r, &moved).unwrap();
        prop_assert!(diag.normalized_regret < 1e-6);
    }

    #[test]
    fn disagreements_and_regret_agree(
        (world, r) in world_and_reward(),
        other in prop::collection::vec(-1.0f64..1.0, 9),
    ) {
        let proposal = world.from_states(&other[..world.n_states()]).unwrap();
        let d = diagnose(&world, &r, &proposal).unwrap();
        prop_assert!((0.0..=1.0).contains(&d.normalized_regret));
        prop_assert!((0.0..=1.0).contains(&d.reverse_normalized_regret));
        let vmax = r.iter().fold(0.0f64, |m, x| m.max(x.abs())) / (1.0 - world.gamma());
        if d.disagreements.is_empty() {
            // The proposal's policy is greedy for Q*_ref: optimal.
            prop_assert!(d.regret <= 1e-7 * (1.0 + vmax), "{}", d.regret);
        } else {
            // From a uniform start, each disagreeing state s costs at least its loss / S.
            let worst = d.disagreements.iter().fold(0.0f64, |m, x| m.max(x.value_lost));
            prop_assert!(d.regret >= worst / world.n_states() as f64 - 1e-9, "{} {}", d.regret, worst);
        }
    }
}
