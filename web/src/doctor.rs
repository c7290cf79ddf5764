//! The reward doctor: compare a proposed reward with a reference reward on the gridworld and say
//! how they relate, what optimizing the proposal costs under the reference, and where they
//! disagree.
//!
//! # What it reports
//! - the four distances of [`crate::gridworld::distances`];
//! - core's reward doctor ([`rewardkit_core::distance::diagnose`], with [`TOL`]): the relation
//!   ([`Relation`]: identical, rescaled, shaped, rescaled+shaped, same ordering of policies,
//!   different, trivial), the regret (and normalized regret) under the reference of a policy
//!   optimal for the proposal and the reverse, and the states where the proposal's optimal action
//!   is not optimal for the reference (with that value loss).
//!
//! This module keeps the page's parts: the sentence for each relation ([`Verdict`]), parsing and
//! formatting rewards, and the named examples.

use rewardkit_core::distance as core_doctor;
use rewardkit_core::mdp::Reward;

use crate::gridworld::{self, Distances, Gridworld};
use crate::{Result, parse_numbers};

/// The tolerance of "zero distance", "α = 1" and "the same tensor" (core's
/// [`core_doctor::default_tolerance`] for `f64`).
pub const TOL: f64 = 1e-9;

/// How a proposed reward relates to the reference (core's [`core_doctor::Relation`]; `name()`
/// gives the stable name the page and the tests use).
pub type Relation = core_doctor::Relation<f64>;

/// A state whose proposed optimal action loses value under the reference (core's
/// [`core_doctor::Disagreement`]).
pub type Disagreement = core_doctor::Disagreement<f64>;

/// The page's sentence for a relation.
pub trait Verdict {
    /// One sentence for the page.
    fn verdict(self) -> String;
}

impl Verdict for Relation {
    fn verdict(self) -> String {
        match self {
            Self::Identical => "The proposed reward is the reference reward.".into(),
            Self::Rescaled { alpha } => {
                format!("A rescaled version of the reference (× {alpha:.6}): same optimal policies.")
            }
            Self::Shaped => {
                "A potential-shaped version of the reference (R + γΦ(s′) − Φ(s)): same optimal policies."
                    .into()
            }
            Self::RescaledShaped { alpha } => format!(
                "A rescaled (× {alpha:.6}) and potential-shaped version of the reference: same optimal policies."
            ),
            Self::SameOrdering => "Not a rescaling or shaping, but the same ordering of policies \
                 (an S′-redistribution): STARC says 0, EPIC and DARD do not."
                .into(),
            Self::Different => "A different reward: it orders policies differently.".into(),
            Self::TrivialReference => {
                "The reference makes every policy equally good: nothing to compare against.".into()
            }
            Self::TrivialProposal => {
                "The proposal makes every policy equally good: it gives no signal.".into()
            }
        }
    }
}

/// The doctor's report (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    /// The four distances.
    pub distances: Distances,
    /// How the proposal relates to the reference.
    pub relation: Relation,
    /// Regret under the reference of the proposal's optimal policy.
    pub regret: f64,
    /// The same, normalized by the reference's range of returns (in `[0, 1]`).
    pub normalized_regret: f64,
    /// Regret under the proposal of the reference's optimal policy.
    pub reverse_regret: f64,
    /// The same, normalized.
    pub reverse_normalized_regret: f64,
    /// The reference's optimal actions `(S)`.
    pub reference_policy: Vec<usize>,
    /// The proposal's optimal actions `(S)`.
    pub proposed_policy: Vec<usize>,
    /// The states where they disagree, in state order.
    pub disagreements: Vec<Disagreement>,
}

/// Reads a reward typed or pasted on the page: `S` numbers (a state reward), `S·A` (a
/// state-action reward) or `S·A·S` (a full reward), returned as the full `(S, A, S')` tensor.
///
/// # Errors
/// [`crate::DemoError::Parse`] for a token that is not a number; core's `BadShape` for any other count
/// (`dim` is `S`); `NonFinite` for NaN/∞.
pub fn parse_reward(world: &Gridworld, text: &str) -> Result<Vec<f64>> {
    let values = parse_numbers(text, "reward")?;
    let (s, a) = (world.n_states(), world.n_actions());
    let mdp = world.mdp()?;
    let reward = if values.len() == s {
        Reward::State(&values)
    } else if values.len() == s * a {
        Reward::StateAction(&values)
    } else if values.len() == world.full_len() {
        Reward::Full(&values)
    } else {
        return Err(rewardkit_core::Error::BadShape {
            what: "reward (S, S·A or S·A·S numbers)",
            len: values.len(),
            dim: s,
        }
        .into());
    };
    let mut out = vec![0.0; world.full_len()];
    reward.expand(&mut out, &mdp)?;
    Ok(out)
}

/// Formats a full reward as the page's text: a state table (one row of the grid per line) when
/// `R(s, ·, ·)` is one value per state, else one `(s, a)` row of `S'` values per line.
pub fn format_reward(world: &Gridworld, full: &[f64]) -> String {
    let join = |xs: &[f64]| xs.iter().map(f64::to_string).collect::<Vec<_>>().join(" ");
    match world.state_table(full) {
        Some(table) => table
            .chunks(world.width())
            .map(join)
            .collect::<Vec<_>>()
            .join("\n"),
        None => full
            .chunks(world.n_states())
            .map(join)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The named example rewards of the pick list: `(name, description)`. All are built from the goal
/// reward ([`Gridworld::goal`]) by core's transformations or a new state table.
pub const EXAMPLES: [(&str, &str); 9] = [
    (
        "goal",
        "+1 for leaving the bottom-right cell (the reference)",
    ),
    ("goal-x3", "the goal reward × 3"),
    (
        "goal-progress",
        "the goal reward shaped with Φ(s) = −(Manhattan distance to the goal)",
    ),
    (
        "goal-x2-progress",
        "the goal reward × 2, then shaped as above",
    ),
    (
        "step-cost",
        "the goal reward − 0.1 in every cell (a constant shift)",
    ),
    (
        "goal-redistributed",
        "the goal reward with reward moved between next states (S′-redistribution, seed 1)",
    ),
    (
        "near-goal",
        "+1 for leaving the cell left of the goal instead",
    ),
    (
        "distance-bonus",
        "−(Manhattan distance to the goal)/10 in every cell, and +1 at the goal",
    ),
    (
        "avoid-goal",
        "−1 for leaving the goal cell (the negated goal)",
    ),
];

/// Builds an example of [`EXAMPLES`] on `world`.
///
/// # Errors
/// A core `UnknownName` listing the examples for an unknown name; errors of the transformations.
pub fn example(world: &Gridworld, name: &str) -> Result<Vec<f64>> {
    let (w, h, n) = (world.width(), world.height(), world.n_states());
    let goal = world.goal();
    let manhattan = |s: usize| ((w - 1 - s % w) + (h - 1 - s / w)) as f64;
    let progress: Vec<f64> = (0..n).map(|s| -manhattan(s)).collect();
    let table = |f: &dyn Fn(usize) -> f64| world.from_states(&(0..n).map(f).collect::<Vec<_>>());
    match name {
        "goal" => Ok(goal),
        "goal-x3" => gridworld::scaled(world, &goal, 3.0),
        "goal-progress" => gridworld::shaped(world, &goal, &progress),
        "goal-x2-progress" => {
            gridworld::shaped(world, &gridworld::scaled(world, &goal, 2.0)?, &progress)
        }
        "step-cost" => table(&|s| if s + 1 == n { 0.9 } else { -0.1 }),
        "goal-redistributed" => gridworld::redistributed(
            world,
            &goal,
            &gridworld::random_values(1, world.full_len(), 1.0),
        ),
        "near-goal" => table(&|s| if s + 2 == n { 1.0 } else { 0.0 }),
        "distance-bonus" => table(&|s| {
            if s + 1 == n {
                1.0
            } else {
                -manhattan(s) / 10.0
            }
        }),
        "avoid-goal" => table(&|s| if s + 1 == n { -1.0 } else { 0.0 }),
        _ => Err(rewardkit_core::UnknownName {
            kind: "example reward",
            valid: &EXAMPLE_NAMES,
        }
        .into()),
    }
}

const EXAMPLE_NAMES: [&str; 9] = [
    EXAMPLES[0].0,
    EXAMPLES[1].0,
    EXAMPLES[2].0,
    EXAMPLES[3].0,
    EXAMPLES[4].0,
    EXAMPLES[5].0,
    EXAMPLES[6].0,
    EXAMPLES[7].0,
    EXAMPLES[8].0,
];

/// How `proposed` relates to `reference` (core's [`core_doctor::relation`] with [`TOL`]).
///
/// # Errors
/// Core errors for rewards of the wrong length or with NaN/∞.
pub fn relation(world: &Gridworld, reference: &[f64], proposed: &[f64]) -> Result<Relation> {
    let mdp = world.mdp()?;
    Ok(core_doctor::relation(
        &mdp,
        &Reward::Full(reference),
        &Reward::Full(proposed),
        TOL,
    )?)
}

/// The full report: the panel's four distances and core's [`core_doctor::diagnose`] with
/// [`TOL`].
///
/// # Errors
/// Core errors for rewards of the wrong length or with NaN/∞.
///
/// # Examples
/// ```
/// use rewardkit_web::doctor::{Relation, diagnose, example};
/// use rewardkit_web::gridworld::Gridworld;
/// let w = Gridworld::new(4, 4, 0.1, 0.9)?;
/// let d = diagnose(&w, &example(&w, "goal")?, &example(&w, "goal-progress")?)?;
/// assert_eq!(d.relation, Relation::Shaped);
/// assert!(d.regret < 1e-9 && d.disagreements.is_empty());
/// # Ok::<(), rewardkit_web::DemoError>(())
/// ```
pub fn diagnose(world: &Gridworld, reference: &[f64], proposed: &[f64]) -> Result<Diagnosis> {
    let mdp = world.mdp()?;
    let d = core_doctor::diagnose(&mdp, &Reward::Full(reference), &Reward::Full(proposed), TOL)?;
    Ok(Diagnosis {
        distances: gridworld::distances(world, reference, proposed)?,
        relation: d.relation,
        regret: d.regret,
        normalized_regret: d.normalized_regret,
        reverse_regret: d.reverse_regret,
        reverse_normalized_regret: d.reverse_normalized_regret,
        reference_policy: d.reference_policy,
        proposed_policy: d.proposed_policy,
        disagreements: d.disagreements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DemoError;
    use rewardkit_core::Error;

    fn world() -> Gridworld {
        Gridworld::new(4, 4, 0.1, 0.9).unwrap()
    }

    fn rel(name: &str) -> Relation {
        let w = world();
        relation(
            &w,
            &example(&w, "goal").unwrap(),
            &example(&w, name).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn examples_are_classified_as_constructed() {
        assert_eq!(rel("goal"), Relation::Identical);
        match rel("goal-x3") {
            Relation::Rescaled { alpha } => assert!((alpha - 3.0).abs() < 1e-9),
            r => panic!("{r:?}"),
        }
        assert_eq!(rel("goal-progress"), Relation::Shaped);
        match rel("goal-x2-progress") {
            Relation::RescaledShaped { alpha } => assert!((alpha - 2.0).abs() < 1e-9),
            r => panic!("{r:?}"),
        }
        // A constant shift is the shaping with Φ ≡ −c/(1 − γ).
        assert_eq!(rel("step-cost"), Relation::Shaped);
        assert_eq!(rel("goal-redistributed"), Relation::SameOrdering);
        assert_eq!(rel("near-goal"), Relation::Different);
        assert_eq!(rel("distance-bonus"), Relation::Different);
        assert_eq!(rel("avoid-goal"), Relation::Different);
        let w = world();
        let flat = w.from_states(&[0.25; 16]).unwrap();
        assert_eq!(
            relation(&w, &flat, &w.goal()).unwrap(),
            Relation::TrivialReference
        );
        assert_eq!(
            relation(&w, &w.goal(), &flat).unwrap(),
            Relation::TrivialProposal
        );
        for r in [
            Relation::Identical,
            Relation::Rescaled { alpha: 2.0 },
            Relation::Shaped,
            Relation::RescaledShaped { alpha: 2.0 },
            Relation::SameOrdering,
            Relation::Different,
            Relation::TrivialReference,
            Relation::TrivialProposal,
        ] {
            assert!(!r.name().is_empty() && r.verdict().ends_with('.'));
        }
    }

    #[test]
    fn avoiding_the_goal_disagrees_everywhere_it_matters() {
        let w = world();
        let d = diagnose(&w, &w.goal(), &example(&w, "avoid-goal").unwrap()).unwrap();
        assert!((d.normalized_regret - 1.0).abs() < 1e-9);
        assert!((d.reverse_normalized_regret - 1.0).abs() < 1e-9);
        assert!(d.regret > 0.0);
        // Every state's value depends on reaching the goal, so every state disagrees.
        assert_eq!(d.disagreements.len(), 16);
        for x in &d.disagreements {
            assert!(x.value_lost > 0.0);
            assert_eq!(d.proposed_policy[x.state], x.proposed_action);
            assert_eq!(d.reference_policy[x.state], x.reference_action);
        }
    }

    #[test]
    fn near_goal_disagrees_near_the_goal_only() {
        // Hand-checked on a deterministic 3 × 1 corridor, γ = 0.5: reference +1 for leaving cell
        // 2, proposal +1 for leaving cell 1. The reference goes right everywhere and stays at 2
        // (right bumps); the proposal sits in cell 1: at 2 it goes left, at 1 it bumps (up).
        let w = Gridworld::new(3, 1, 0.0, 0.5).unwrap();
        let d = diagnose(&w, &w.goal(), &example(&w, "near-goal").unwrap()).unwrap();
        assert_eq!(d.reference_policy, [1, 1, 0]);
        assert_eq!(d.proposed_policy, [1, 0, 3]);
        // V*_ref = [0.5, 1, 2]; Q*_ref(1, up) = 0 + 0.5·V(1) = 0.5 → loses 0.5;
        // Q*_ref(2, left) = 1 + 0.5·V(1) = 1.5 → loses 0.5.
        let lost: Vec<(usize, f64)> = d
            .disagreements
            .iter()
            .map(|x| (x.state, x.value_lost))
            .collect();
        assert_eq!(lost.len(), 2);
        assert_eq!(lost[0].0, 1);
        assert!((lost[0].1 - 0.5).abs() < 1e-12);
        assert_eq!(lost[1].0, 2);
        assert!((lost[1].1 - 0.5).abs() < 1e-12);
        // Regret from the uniform start: J(π*_ref) = (0.5 + 1 + 2)/3; the proposal's policy
        // never collects the reference's reward (it never leaves cell 2... it leaves 2 once):
        // V_ref^prop = [0.5·V(1), 0.5·V(1), 1 + 0.5·V(1)] with V(1) = 0.5·V(1) → 0: [0, 0, 1].
        assert!((d.regret - (3.5 - 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn parse_and_format_round_trip() {
        let w = Gridworld::new(2, 2, 0.1, 0.9).unwrap();
        let r = parse_reward(&w, "0 0\n0 1").unwrap();
        assert_eq!(r, w.goal());
        assert_eq!(format_reward(&w, &r), "0 0\n0 1");
        let sa = parse_reward(&w, &"1 ".repeat(16)).unwrap();
        assert_eq!(w.state_table(&sa).unwrap(), [1.0; 4]);
        let shaped = example(&w, "goal-progress").unwrap();
        let text = format_reward(&w, &shaped);
        assert_eq!(text.lines().count(), 16);
        assert_eq!(parse_reward(&w, &text).unwrap(), shaped);
    }

    #[test]
    fn every_documented_error() {
        let w = Gridworld::new(2, 2, 0.1, 0.9).unwrap();
        assert!(matches!(
            parse_reward(&w, "1 2 3"),
            Err(DemoError::Core(Error::BadShape { len: 3, dim: 4, .. }))
        ));
        assert!(matches!(
            parse_reward(&w, "1 2 3 x"),
            Err(DemoError::Parse { .. })
        ));
        assert!(matches!(
            parse_reward(&w, "1 2 3 inf"),
            Err(DemoError::Core(Error::NonFinite { .. }))
        ));
        let e = example(&w, "nope").unwrap_err();
        assert!(e.to_string().contains("goal-progress"), "{e}");
        assert!(matches!(
            diagnose(&w, &w.goal(), &[0.0; 3]),
            Err(DemoError::Core(Error::LengthMismatch { .. }))
        ));
    }
}
