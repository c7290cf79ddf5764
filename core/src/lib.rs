//! # rewardkit-core
//!
//! The reward-math layer of reinforcement learning for language models, exact and `no_std`: what verl,
//! TRL and OpenRLHF compute between "the model produced some tokens" and "here is the gradient".
//!
//! - [`advantage`]: GRPO (and Dr. GRPO, pass@k), RLOO, REINFORCE++ (and its baseline form), ReMax,
//!   OPO, GPG, the optimal token baseline, GDPO and TRL's multi-reward aggregation, GAE and discounted
//!   returns, selected by [`AdvantageEstimator`] (verl's names) and resolved into an
//!   [`advantage::AdvantagePlan`] (public stages, caller scratch, no allocation per call), or called
//!   as plain functions.
//! - [`kl`]: per-token KL estimators `k1`, `k2`, `k3`, `abs`, their straight-through `+` forms and the
//!   importance-weighted form, each with its exact derivative; the KL term of a loss
//!   ([`KlTerm`]); fixed and adaptive KL controllers.
//! - [`logits`]: math over rows of logits — log-sum-exp, (log-)softmax, token log-probabilities,
//!   entropy and the exact full-vocabulary KL — with cached row statistics and accumulating
//!   backward passes.
//! - [`stats`]: group and masked moments, whitening, stable `sigmoid`, `log_sigmoid` and
//!   `softplus`.
//! - [`layout`]: [`GroupIndex`] (groups from dense ids in any order, built once in `O(B)`) and the
//!   `(B, T)` token view ([`TokenShape`], [`Mask`]).
//! - [`loss`]: policy-gradient losses (PPO clip with asymmetric and dual clip, GSPO, SAPO, CISPO,
//!   GMPO, GPG, Clip-Cov/KL-Cov, DPPO, DRO, VESPO), importance-sampling corrections, the value loss,
//!   diagnostics and preference losses (DPO and its family, SimPO/CPO, LD-DPO, WPO, INPO, DNO,
//!   weighted combinations and the SFT term, Bradley–Terry with PAR's L2 term), OREAL's loss
//!   pieces, ODIN's two-head reward-model loss and WARM averaging, each with its exact gradient,
//!   returned as additive [`loss::LossParts`] that an
//!   [`loss::Aggregation`] turns into a shard-safe scalar.
//! - [`reward`]: reward functions and shaping from the literature (correctness and format, HAPO,
//!   LASER and its adaptive weight, `ThinkPrune`, cosine and length-scaled rewards, DAPO overlong,
//!   PAR, PURE, ensembles, PF-PPO, OREAL, CaRL, potential shaping),
//!   composable in a weighted [`reward::Pipeline`] with caller-owned, serializable state.
//! - [`mdp`]: finite MDPs, exact and iterative policy evaluation, value iteration, regret, and the
//!   Knox et al. preference models with a reward fitter.
//! - [`distance`]: STARC (canonicalizations × norms), EPIC and DARD reward distances, exact and
//!   sampled, with the reward transformations they are invariant to.
//! - [`objective`]: KL-regularized alignment on a finite support: the optimal tilt, `β` from a KL
//!   budget, and the exact best-of-N distribution.
//! - [`preset`]: [`Preset`] selects the rewardkit numerics contract or reproduces verl, TRL or
//!   OpenRLHF exactly (see [`numerics`]).
//! - [`numerics`]: the numerics contract (the repository's `docs/numerics.md`, rendered here): every
//!   epsilon, clamp and masked-position rule, and every framework difference the presets reproduce.
//! - [`rng`]: the caller-supplied randomness trait ([`rng::RandomSource`]) and `SplitMix64`.
//!
//! # Shapes
//! Docs use fixed letters: `B` sequences (rows), `T` tokens per sequence (padded), `G` groups
//! (prompts), `K` samples per group, `V` vocabulary, `N` a flat count. Per-token data is row-major
//! `(B, T)` with a boolean mask; per-sequence data is `(B)`.
//!
//! # Conventions
//! Kernels follow llm.c: outputs first, then inputs, then sizes; they write into caller slices and
//! allocate nothing on the hot path. Parameter objects are validated once by `new(..) -> Result` and
//! are immutable afterwards. Configuration enums parse the anchors' names (`"grpo"`, `"k3"`,
//! `"low_var_kl"`) and their parse error lists every valid name.
//!
//! # Errors and panics
//! `rewardkit-core` returns `Result` for every input-dependent failure (wrong lengths, empty inputs,
//! NaN/∞, group ids out of range, parameters out of range) with the offending names and indices in
//! [`Error`]. It never panics on user input and never returns a silent NaN: degenerate but valid
//! inputs (a group of one, a zero-variance group, an all-masked row) have documented outputs.
//! Lints deny `unwrap`, `expect`, indexing and `panic!` in library code.
//!
//! # Features
//! - `std` (default): std float math (overrides `libm`) and `alloc`.
//! - `alloc`: owned [`GroupIndex`] construction, the allocating conveniences
//!   ([`AdvantageEstimator::compute`], multi-reward and framework pipelines).
//! - `libm`: float math from the pure-Rust `libm`, for targets without std.
//! - `serde`: `Serialize`/`Deserialize` for parameter objects.
//!
//! At least one of `std` and `libm` is required; `std` overrides `libm`. Any crate in the build that
//! enables `num-traits/std` switches the math backend for everyone (feature unification), so compare
//! results with tolerances, never bit-for-bit across builds.
//!
//! # Example
//! ```
//! use rewardkit_core::{GroupIndex, advantage::{Grpo, grpo}};
//!
//! // Two prompts, three samples each, rows shuffled (as verl's balance_batch leaves them).
//! let groups = GroupIndex::new(&[0, 1, 0, 1, 0, 1], 2)?;
//! let rewards = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let mut adv = [0.0f32; 6];
//! grpo(&mut adv, &rewards, &groups, &Grpo::default())?;
//! assert!((adv[0] + adv[2] + adv[4]).abs() < 1e-6); // centred within each group
//! # Ok::<(), rewardkit_core::Error>(())
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

#[cfg(not(any(feature = "std", feature = "libm")))]
compile_error!("rewardkit-core requires either the `std` or `libm` feature");

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod advantage;
pub mod distance;
pub mod error;
pub mod kl;
pub mod layout;
pub mod logits;
pub mod loss;
pub mod mdp;
#[doc = include_str!("../numerics.md")]
#[allow(
    clippy::doc_markdown,
    clippy::doc_lazy_continuation,
    reason = "a prose document shared with the repository's docs/ (names like ProRL are not code)"
)]
pub mod numerics {}
pub mod objective;
pub mod preset;
pub mod real;
pub mod reward;
pub mod rng;
pub mod stats;

pub use advantage::AdvantageEstimator;
pub use error::{Error, Result, UnknownName};
pub use kl::{KlEstimator, KlPenalty, KlTerm};
pub use layout::{GroupIndex, GroupRows, GroupVisitor, Mask, TokenShape};
pub use preset::Preset;
pub use real::Real;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The crate README's examples (the page crates.io shows), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctests;
