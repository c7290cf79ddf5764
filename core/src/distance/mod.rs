//! Reward distances on finite MDPs: STARC metrics (canonicalisations × norms × metrics), EPIC and
//! DARD, exactly on tabular MDPs and from samples; the minimal potential of a reward with its
//! certificate of optimality; and the transformations the distances are built to ignore
//! (positive scaling, potential shaping, S'-redistribution).
//!
//! # Which distance
//!
//! | distance | definition | range | zero between `R` and … | `d(R, −R)` |
//! |---|---|---|---|---|
//! | [`Starc`] with `Value` or `MinimalL2`, `m = n` | `n(s(R₁) − s(R₂))`, `s = c/n(c)` | `[0, 2]` | `αR` (`α > 0`), shaping, S'-redistribution | 2 |
//! | [`Starc`] with `Epic`, `Dard`, `ValuePotential` or `MinimalPotential` | same | `[0, 2]` | `αR`, shaping | 2 |
//! | [`Starc`] with `FullyConnectedGreedy` or `SingletonShaping` | same | `[0, 2]` | `αR`, shaping | ≤ 2 |
//! | [`Starc`] with `Identity` | same | `[0, 2]` | `αR` | 2 |
//! | [`Epic`] | Pearson distance of EPIC-canonical rewards | `[0, 1]` | `αR`, shaping | 1 |
//! | [`Dard`] | Pearson distance of DARD-canonical rewards | `[0, 1]` | `αR`, shaping | 1 |
//!
//! All are pseudometrics (zero on different rewards, symmetric, triangle inequality). Only the
//! STARC metrics with a STARC canonicalisation (`Value`, `MinimalL2`) are zero exactly on the
//! rewards that induce the same ordering of policies, and bound regret (Skalse et al. 2024,
//! Thm 3.8): prefer them. EPIC and DARD ignore (EPIC) or only partly use (DARD) the dynamics, so
//! moving reward between next states without changing its expectation changes them. When a
//! STARC metric uses a metric norm `n'` different from its normalising norm `n`, its range is
//! `[0, n'(s(R₁)) + n'(s(R₂))]` instead of `[0, 2]`; without normalisation
//! ([`Starc::with_normalization`]) it is `[0, ∞)`. Every cell of the STARC paper's grid of
//! canonicalisations × norms is one [`Starc`] (see [`Canonicalization`]).
//!
//! # Degenerate rewards
//! A reward whose canonical form is zero (a constant or a potential shaping; for STARC's `Value`
//! and `MinimalL2` also any S'-redistribution of one) makes every policy equally good. STARC
//! standardises it to 0 (`d(R, R₀) = 1` with `m = n`); the Pearson distances of EPIC and DARD are
//! undefined and return [`Error::InvalidParam`](crate::Error::InvalidParam) naming the reward.
//! "Zero" means at most `64·ε_F·max|R|` (times `1/(1−γ)` for the value-based canonicalisations),
//! which absorbs the rounding of an exactly-zero canonical reward.
//!
//! # Reward doctor
//! [`relation`] and [`diagnose`] say how a proposed reward relates to a reference on any finite
//! MDP (dense or sparse): identical, rescaled, potential-shaped (Ng et al. 1999: optimal policies
//! kept), both, the same ordering of policies (STARC VAL = 0: an S'-redistribution), different,
//! or trivial; plus the regret both ways and the states where the optimal actions disagree.
//! The tolerance is a parameter ([`default_tolerance`]: `1e-9` for `f64`).
//!
//! # Cost
//! `n = S·A·S'` (dense) or `nnz` (sparse). EPIC: `O(n)` time and `O(S + A)` memory in three passes.
//! STARC `Value`: one policy evaluation (`O(S³)` dense LU up to `S = 512`, then `O(nnz)` sweeps)
//! plus `O(nnz)`. `MinimalL2`: an `S × S` weighted least-squares solve. DARD: `O(A·S²·k)` with `k`
//! next states per row. Sampled EPIC/DARD: `O(N·M)` reward evaluations, `O(N + M)` memory.
//!
//! # Example
//! ```
//! use rewardkit_core::distance::{Canonicalization, Epic, Norm, Starc, shape_potential};
//! use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions};
//!
//! let tau = [0.9, 0.1, 0.2, 0.8, 0.5, 0.5, 0.0, 1.0f64];
//! let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.9)?;
//! let r = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0];
//! let mut shaped = [0.0f64; 8];
//! shape_potential(&mut shaped, &mdp, &Reward::Full(&r), &[3.0, -1.0])?;
//! let starc = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2());
//! assert!(starc.distance(&mdp, &Reward::Full(&r), &Reward::Full(&shaped))? < 1e-12);
//! assert!(Epic::default().distance(&mdp, &Reward::Full(&r), &Reward::Full(&shaped))? < 1e-7);
//! # Ok::<(), rewardkit_core::Error>(())
//! ```
//!
//! Citations: Skalse et al. (2024), STARC, arXiv:2309.15257 (reference code `lucyfarnik/starc`);
//! Gleave et al. (2021), EPIC, arXiv:2006.13900 (reference code
//! `HumanCompatibleAI/evaluating-rewards`); Wulfe et al. (2022), DARD, arXiv:2201.10081; Ng,
//! Harada and Russell (1999), potential-based shaping.

#[cfg(feature = "alloc")]
mod canon;
#[cfg(feature = "alloc")]
mod dard;
#[cfg(feature = "alloc")]
mod doctor;
#[cfg(feature = "alloc")]
mod epic;
mod norm;
mod pearson;
#[cfg(feature = "alloc")]
mod potential;
#[cfg(feature = "alloc")]
mod sample;
#[cfg(feature = "alloc")]
mod starc;
mod transform;

#[cfg(feature = "alloc")]
pub use canon::{Canonicalization, Coverage, canonicalize};
#[cfg(feature = "alloc")]
pub use dard::{Dard, DardWeights};
#[cfg(feature = "alloc")]
pub use doctor::{Diagnosis, Disagreement, Relation, default_tolerance, diagnose, relation};
#[cfg(feature = "alloc")]
pub use epic::Epic;
pub use norm::{Norm, Order, Weights, norm};
pub use pearson::pearson_distance;
#[cfg(feature = "alloc")]
pub use potential::minimal_potential;
#[cfg(feature = "alloc")]
pub use sample::{SampleSizes, dard_sampled, epic_sampled};
#[cfg(feature = "alloc")]
pub use starc::{Standardized, Starc};
pub use transform::{redistribute, scale_reward, shape_potential};
