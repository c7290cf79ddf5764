//! The reward-distances panel: a small gridworld MDP, rewards on it as full `(S, A, S')` tensors,
//! the transformations the distances are built to ignore (from core), and the distances and
//! optimal policies core computes for two rewards.
//!
//! # The gridworld
//! `W × H` cells, state `s = y·W + x` (`y = 0` is the top row), four actions
//! ([`ACTIONS`]: up, right, down, left). An action moves one cell; a move into the border leaves
//! the agent where it is. With probability `1 − slip` the intended action is taken, with
//! probability `slip` a uniformly random one (possibly the intended one), so
//! `τ(s, a, ·) = (1 − slip)·δ_{move(s, a)} + slip/4·Σ_b δ_{move(s, b)}`. The initial distribution is
//! uniform, `γ` is given.
//!
//! Rewards follow core's conventions ([`rewardkit_core::mdp::Reward`]): a state table `r(s)` stands
//! for `R(s, a, s') = r(s)`, the reward of the state the transition leaves.

use rewardkit_core::distance::{
    Canonicalization, Dard, Epic, Norm, Starc, redistribute, scale_reward, shape_potential,
};
use rewardkit_core::mdp::{
    Mdp, OptimalPolicy, Reward, Transitions, expected_reward, optimal_policy,
};
use rewardkit_core::rng::{RandomSource, SplitMix64};

use crate::Result;

/// The actions, in index order.
pub const ACTIONS: [&str; 4] = ["up", "right", "down", "left"];

/// The largest grid side the demo accepts.
pub const MAX_SIDE: usize = 10;

/// A gridworld MDP (see the module docs).
///
/// # Examples
/// ```
/// use rewardkit_web::gridworld::Gridworld;
/// let w = Gridworld::new(3, 2, 0.0, 0.9)?;
/// assert_eq!((w.n_states(), w.n_actions()), (6, 4));
/// // From the top-left cell, "right" reaches cell 1 and "up" bumps into the wall.
/// assert_eq!(w.transitions()[(0 * 4 + 1) * 6 + 1], 1.0);
/// assert_eq!(w.transitions()[(0 * 4 + 0) * 6 + 0], 1.0);
/// # Ok::<(), rewardkit_web::DemoError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Gridworld {
    width: usize,
    height: usize,
    slip: f64,
    gamma: f64,
    tau: Vec<f64>,
    initial: Vec<f64>,
}

impl Gridworld {
    /// A `width × height` gridworld with slip probability `slip` and discount `gamma`.
    ///
    /// # Errors
    /// [`rewardkit_core::Error::InvalidParam`] for a side outside `1..=MAX_SIDE`, `slip` outside
    /// `[0, 1]`, or (from core's [`Mdp::new`]) `γ` outside `[0, 1)`.
    pub fn new(width: usize, height: usize, slip: f64, gamma: f64) -> Result<Self> {
        for (name, side) in [("width", width), ("height", height)] {
            if !(1..=MAX_SIDE).contains(&side) {
                return Err(rewardkit_core::Error::InvalidParam {
                    name,
                    value: side as f64,
                    expected: "a grid side in 1..=10",
                }
                .into());
            }
        }
        if !(0.0..=1.0).contains(&slip) {
            return Err(rewardkit_core::Error::InvalidParam {
                name: "slip",
                value: slip,
                expected: "a probability in [0, 1]",
            }
            .into());
        }
        let n = width * height;
        let mut tau = vec![0.0; n * 4 * n];
        for s in 0..n {
            for a in 0..4 {
                let row = &mut tau[(s * 4 + a) * n..(s * 4 + a + 1) * n];
                row[step(width, height, s, a)] += 1.0 - slip;
                for b in 0..4 {
                    row[step(width, height, s, b)] += slip / 4.0;
                }
            }
        }
        let world = Self {
            width,
            height,
            slip,
            gamma,
            tau,
            initial: vec![1.0 / n as f64; n],
        };
        world.mdp()?;
        Ok(world)
    }

    /// The core MDP.
    ///
    /// # Errors
    /// None after [`Gridworld::new`] succeeded (the MDP is validated there).
    pub fn mdp(&self) -> Result<Mdp<'_, f64>> {
        Ok(Mdp::new(
            self.n_states(),
            4,
            Transitions::Dense(&self.tau),
            &self.initial,
            self.gamma,
        )?)
    }

    /// Width `W`.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height `H`.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The slip probability.
    pub fn slip(&self) -> f64 {
        self.slip
    }

    /// `γ`.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// `S = W·H`.
    pub fn n_states(&self) -> usize {
        self.width * self.height
    }

    /// `A = 4`.
    pub fn n_actions(&self) -> usize {
        4
    }

    /// `S·A·S`, the length of a full reward.
    pub fn full_len(&self) -> usize {
        self.n_states() * 4 * self.n_states()
    }

    /// `τ`, `(S, A, S')`.
    pub fn transitions(&self) -> &[f64] {
        &self.tau
    }

    /// The full reward `R(s, a, s') = r(s)` of a state table (core's [`Reward::expand`]).
    ///
    /// # Errors
    /// `LengthMismatch` unless `r` is `(S)`; `NonFinite`.
    pub fn from_states(&self, r: &[f64]) -> Result<Vec<f64>> {
        let mut out = vec![0.0; self.full_len()];
        Reward::State(r).expand(&mut out, &self.mdp()?)?;
        Ok(out)
    }

    /// The goal reward: 1 in the bottom-right cell, 0 elsewhere, as a full reward.
    pub fn goal(&self) -> Vec<f64> {
        let mut r = vec![0.0; self.n_states()];
        if let Some(last) = r.last_mut() {
            *last = 1.0;
        }
        // A state table of the right length always expands.
        self.from_states(&r).unwrap_or_default()
    }

    /// The state table of a full reward if `R(s, ·, ·)` is one value for every `s`.
    pub fn state_table(&self, full: &[f64]) -> Option<Vec<f64>> {
        if full.len() != self.full_len() {
            return None;
        }
        full.chunks_exact(4 * self.n_states())
            .map(|block| {
                let v = *block.first()?;
                block.iter().all(|&x| x == v).then_some(v)
            })
            .collect()
    }
}

/// The cell reached from `s` by action `a` (walls keep the agent in place).
fn step(width: usize, height: usize, s: usize, a: usize) -> usize {
    let (x, y) = (s % width, s / width);
    let (nx, ny) = match a {
        0 if y > 0 => (x, y - 1),
        1 if x + 1 < width => (x + 1, y),
        2 if y + 1 < height => (x, y + 1),
        3 if x > 0 => (x - 1, y),
        _ => (x, y),
    };
    ny * width + nx
}

/// `n` values `m·(2u − 1)`, uniform in `[−m, m)`, from core's `SplitMix64(seed)`.
pub fn random_values(seed: u64, n: usize, magnitude: f64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| magnitude * (2.0 * rng.next_f64() - 1.0))
        .collect()
}

/// Sets `R(s, ·, ·) = value` (the reward of leaving `s`, whatever the action and next state).
///
/// # Errors
/// `LengthMismatch` for a reward that is not `(S, A, S')`; `InvalidParam` for `s >= S`;
/// `NonFinite` for a NaN/∞ value.
pub fn set_state(world: &Gridworld, full: &mut [f64], s: usize, value: f64) -> Result<()> {
    crate::ensure_len("reward", world.full_len(), full.len())?;
    if s >= world.n_states() {
        return Err(rewardkit_core::Error::InvalidParam {
            name: "state",
            value: s as f64,
            expected: "a state index < S",
        }
        .into());
    }
    if !value.is_finite() {
        return Err(rewardkit_core::Error::NonFinite {
            what: "reward",
            index: s,
        }
        .into());
    }
    let block = 4 * world.n_states();
    full[s * block..(s + 1) * block].fill(value);
    Ok(())
}

/// `α·R` (core's [`scale_reward`]).
///
/// # Errors
/// As [`scale_reward`]: `InvalidParam` unless `α > 0` is finite.
pub fn scaled(world: &Gridworld, full: &[f64], alpha: f64) -> Result<Vec<f64>> {
    let mut out = vec![0.0; world.full_len()];
    scale_reward(&mut out, &world.mdp()?, &Reward::Full(full), alpha)?;
    Ok(out)
}

/// `R + γΦ(s') − Φ(s)` (core's [`shape_potential`]).
///
/// # Errors
/// As [`shape_potential`].
pub fn shaped(world: &Gridworld, full: &[f64], potential: &[f64]) -> Result<Vec<f64>> {
    let mut out = vec![0.0; world.full_len()];
    shape_potential(&mut out, &world.mdp()?, &Reward::Full(full), potential)?;
    Ok(out)
}

/// S'-redistribution by the perturbation `D` (core's [`redistribute`]).
///
/// # Errors
/// As [`redistribute`].
pub fn redistributed(world: &Gridworld, full: &[f64], perturbation: &[f64]) -> Result<Vec<f64>> {
    let mut out = vec![0.0; world.full_len()];
    redistribute(&mut out, &world.mdp()?, &Reward::Full(full), perturbation)?;
    Ok(out)
}

/// A perturbed reward: `R(s, ·, ·) + noise(s)`, one noise value per state.
///
/// # Errors
/// `LengthMismatch` for a reward or noise of the wrong length; `NonFinite` for a non-finite
/// result.
pub fn perturbed(world: &Gridworld, full: &[f64], noise: &[f64]) -> Result<Vec<f64>> {
    crate::ensure_len("reward", world.full_len(), full.len())?;
    crate::ensure_len("noise", world.n_states(), noise.len())?;
    let block = 4 * world.n_states();
    let out: Vec<f64> = full
        .chunks_exact(block)
        .zip(noise)
        .flat_map(|(b, &e)| b.iter().map(move |&x| x + e))
        .collect();
    if let Some(index) = out.iter().position(|x| !x.is_finite()) {
        return Err(rewardkit_core::Error::NonFinite {
            what: "perturbed reward",
            index,
        }
        .into());
    }
    Ok(out)
}

/// The four distances of the panel; each is computed on its own and may fail on its own (EPIC
/// and DARD are undefined for a reward whose canonical form is constant).
#[derive(Clone, Debug, PartialEq)]
pub struct Distances {
    /// STARC with VAL under the uniform policy, `L2` ([`Starc::default`]), in `[0, 2]`.
    pub starc: core::result::Result<f64, rewardkit_core::Error>,
    /// STARC with the minimal-`L2` canonicalisation, `L2`, in `[0, 2]`.
    pub starc_minimal: core::result::Result<f64, rewardkit_core::Error>,
    /// EPIC ([`Epic::default`]: uniform coverage), in `[0, 1]`.
    pub epic: core::result::Result<f64, rewardkit_core::Error>,
    /// DARD ([`Dard::default`]: uniform coverage, dynamics weights), in `[0, 1]`.
    pub dard: core::result::Result<f64, rewardkit_core::Error>,
}

/// STARC, minimal STARC, EPIC and DARD between two full rewards.
///
/// # Errors
/// None at this level: each distance carries its own `Result`.
///
/// # Examples
/// ```
/// use rewardkit_web::gridworld::{Gridworld, distances, scaled};
/// let w = Gridworld::new(3, 3, 0.1, 0.9)?;
/// let goal = w.goal();
/// let d = distances(&w, &goal, &scaled(&w, &goal, 3.0)?)?;
/// assert!(d.starc? < 1e-9 && d.epic? < 1e-9 && d.dard? < 1e-9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn distances(world: &Gridworld, a: &[f64], b: &[f64]) -> Result<Distances> {
    let mdp = world.mdp()?;
    let (ra, rb) = (Reward::Full(a), Reward::Full(b));
    Ok(Distances {
        starc: Starc::default().distance(&mdp, &ra, &rb),
        starc_minimal: Starc::new(Canonicalization::MinimalL2, Norm::l2()).distance(&mdp, &ra, &rb),
        epic: Epic::default().distance(&mdp, &ra, &rb),
        dard: Dard::default().distance(&mdp, &ra, &rb),
    })
}

/// An optimal policy of a full reward (core's [`optimal_policy`]).
///
/// # Errors
/// As [`optimal_policy`].
pub fn optimal(world: &Gridworld, full: &[f64]) -> Result<OptimalPolicy<f64>> {
    Ok(optimal_policy(&world.mdp()?, &Reward::Full(full))?)
}

/// `r̄(s, a)`, `(S, A)` (core's [`expected_reward`]).
///
/// # Errors
/// As [`expected_reward`].
pub fn expected(world: &Gridworld, full: &[f64]) -> Result<Vec<f64>> {
    let mut out = vec![0.0; world.n_states() * 4];
    expected_reward(&mut out, &world.mdp()?, &Reward::Full(full))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DemoError;
    use rewardkit_core::Error;

    #[test]
    fn transitions_hand_values() {
        // 2 × 2, slip 0.2: from cell 0, "right" goes to 1 with 0.8 + 0.05 and each other action's
        // cell gets 0.05: up → 0, down → 2, left → 0.
        let w = Gridworld::new(2, 2, 0.2, 0.9).unwrap();
        let row = &w.transitions()[4..8]; // (s = 0, a = 1)
        let want = [0.1, 0.85, 0.05, 0.0];
        for (x, y) in row.iter().zip(want) {
            assert!((x - y).abs() < 1e-15, "{row:?}");
        }
        // From cell 3 (bottom right), "down" bumps: stays with 0.8 + 0.05 (down) + 0.05 (right).
        let row = &w.transitions()[(3 * 4 + 2) * 4..(3 * 4 + 3) * 4];
        let want = [0.0, 0.05, 0.05, 0.9];
        for (x, y) in row.iter().zip(want) {
            assert!((x - y).abs() < 1e-15, "{row:?}");
        }
        assert_eq!(step(3, 3, 4, 0), 1);
        assert_eq!(step(3, 3, 4, 1), 5);
        assert_eq!(step(3, 3, 4, 2), 7);
        assert_eq!(step(3, 3, 4, 3), 3);
    }

    #[test]
    fn goal_policy_points_at_the_goal() {
        let w = Gridworld::new(3, 3, 0.0, 0.9).unwrap();
        let goal = w.goal();
        assert_eq!(
            w.state_table(&goal).unwrap(),
            [0., 0., 0., 0., 0., 0., 0., 0., 1.]
        );
        let p = optimal(&w, &goal).unwrap();
        // Top-left: right (ties between right and down keep the lower index); bottom row: right;
        // right column: down; the goal: any move that stays (up? no: up leaves) → down or right.
        assert_eq!(p.actions[0], 1);
        assert_eq!(p.actions[6], 1);
        assert_eq!(p.actions[2], 2);
        assert!(p.actions[8] == 1 || p.actions[8] == 2);
        // V*(goal) = 1/(1 − γ) = 10 when it can stay forever.
        assert!((p.values[8] - 10.0).abs() < 1e-9);
        let rbar = expected(&w, &goal).unwrap();
        assert_eq!(&rbar[32..36], &[1.0; 4]);
    }

    #[test]
    fn transforms_and_distances() {
        let w = Gridworld::new(3, 3, 0.1, 0.9).unwrap();
        let goal = w.goal();
        let phi = random_values(1, 9, 2.0);
        assert!(phi.iter().all(|x| (-2.0..2.0).contains(x)));
        let s = shaped(&w, &goal, &phi).unwrap();
        assert_eq!(w.state_table(&s), None);
        let d = distances(&w, &goal, &s).unwrap();
        for v in [d.starc, d.starc_minimal, d.epic, d.dard] {
            assert!(v.unwrap() < 1e-8);
        }
        // S'-redistribution: STARC stays 0, EPIC sees it.
        let noise = random_values(2, w.full_len(), 1.0);
        let r = redistributed(&w, &goal, &noise).unwrap();
        let d = distances(&w, &goal, &r).unwrap();
        assert!(d.starc.unwrap() < 1e-8 && d.starc_minimal.unwrap() < 1e-8);
        assert!(d.epic.unwrap() > 1e-3);
        // The negated goal is as far as it gets.
        let neg = perturbed(&w, &goal, &[0., 0., 0., 0., 0., 0., 0., 0., -2.]).unwrap();
        let d = distances(&w, &goal, &neg).unwrap();
        assert!((d.starc.unwrap() - 2.0).abs() < 1e-9);
        assert!((d.epic.unwrap() - 1.0).abs() < 1e-9);
        // A constant reward: STARC says 1, EPIC and DARD are undefined.
        let flat = w.from_states(&[0.5; 9]).unwrap();
        let d = distances(&w, &goal, &flat).unwrap();
        assert!((d.starc.unwrap() - 1.0).abs() < 1e-9);
        assert!(matches!(
            d.epic,
            Err(Error::InvalidParam {
                name: "reward_b",
                ..
            })
        ));
        assert!(matches!(
            d.dard,
            Err(Error::InvalidParam {
                name: "reward_b",
                ..
            })
        ));
    }

    #[test]
    fn set_state_writes_one_block() {
        let w = Gridworld::new(2, 1, 0.0, 0.5).unwrap();
        let mut r = vec![0.0; w.full_len()];
        set_state(&w, &mut r, 1, 3.0).unwrap();
        assert_eq!(
            r,
            [
                0., 0., 0., 0., 0., 0., 0., 0., 3., 3., 3., 3., 3., 3., 3., 3.
            ]
        );
        assert_eq!(w.state_table(&r).unwrap(), [0.0, 3.0]);
    }

    #[test]
    fn every_documented_error() {
        assert!(matches!(
            Gridworld::new(0, 3, 0.0, 0.9),
            Err(DemoError::Core(Error::InvalidParam { name: "width", .. }))
        ));
        assert!(matches!(
            Gridworld::new(3, 11, 0.0, 0.9),
            Err(DemoError::Core(Error::InvalidParam { name: "height", .. }))
        ));
        assert!(matches!(
            Gridworld::new(3, 3, 1.5, 0.9),
            Err(DemoError::Core(Error::InvalidParam { name: "slip", .. }))
        ));
        assert!(matches!(
            Gridworld::new(3, 3, 0.1, 1.0),
            Err(DemoError::Core(Error::InvalidParam { name: "gamma", .. }))
        ));
        let w = Gridworld::new(2, 2, 0.0, 0.9).unwrap();
        let mut r = w.goal();
        assert!(matches!(
            set_state(&w, &mut r, 4, 1.0),
            Err(DemoError::Core(Error::InvalidParam { name: "state", .. }))
        ));
        assert!(matches!(
            set_state(&w, &mut r, 0, f64::NAN),
            Err(DemoError::Core(Error::NonFinite { .. }))
        ));
        assert!(matches!(
            set_state(&w, &mut r[1..], 0, 1.0),
            Err(DemoError::Core(Error::LengthMismatch { .. }))
        ));
        assert!(matches!(
            scaled(&w, &r, 0.0),
            Err(DemoError::Core(Error::InvalidParam { name: "alpha", .. }))
        ));
        assert!(matches!(
            shaped(&w, &r, &[1.0]),
            Err(DemoError::Core(Error::LengthMismatch { .. }))
        ));
        assert!(matches!(
            perturbed(&w, &r, &[1.0]),
            Err(DemoError::Core(Error::LengthMismatch { .. }))
        ));
        assert!(matches!(
            perturbed(&w, &r, &[f64::MAX, f64::MAX, 0.0, 0.0]).and_then(|p| perturbed(
                &w,
                &p,
                &[f64::MAX, 0.0, 0.0, 0.0]
            )),
            Err(DemoError::Core(Error::NonFinite { .. }))
        ));
        assert!(matches!(
            redistributed(&w, &r, &[0.0; 3]),
            Err(DemoError::Core(Error::LengthMismatch { .. }))
        ));
        assert!(matches!(
            w.from_states(&[1.0]),
            Err(DemoError::Core(Error::LengthMismatch { .. }))
        ));
    }
}
