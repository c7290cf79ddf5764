//! # rewardkit (Python)
//!
//! The extension module `rewardkit._native` behind the Python package `rewardkit`: thin PyO3
//! bindings of `rewardkit-core`. This layer converts arrays and names, calls the core with the GIL
//! released, and turns core errors into Python exceptions; it computes nothing itself (every
//! number comes from `rewardkit-core`).
//!
//! | module | Python functions and classes | core entry points |
//! |---|---|---|
//! | [`advantage`] | `compute_advantage`, `trl_grpo_advantages`, `openrlhf_advantages`, `masked_whiten`, `masked_mean`, `masked_var`, `group_ids`, `ADVANTAGE_ESTIMATORS` | `AdvantageEstimator::compute`, `advantage::{trl_grpo_advantages, openrlhf_advantages_and_returns}`, `stats` |
//! | [`losses`] | `kl_penalty`, `policy_loss`, `value_loss`, `agg_loss`, `is_weights`, `entropy_mask`, `off_policy_mask`, `sequence_logps`, `ld_token_weights`, `preference_loss`, `bradley_terry_loss`, `LossParts`, `Aggregation` | `KlPenalty`, `loss::*` |
//! | [`rewards`] | `Correctness`, `Format`, `CosineLength`, `Laser`, `Overlong`, `RepetitionPenalty`, `KimiLength`, `Hapo`, `LaserD`, `Pipeline`, `label_hashes`, `format_flags` | `reward::*`, `layout::label_hash` |
//! | [`rm_losses`] | `odin_loss`, `odin_orthogonal`, `warm_average`, `oreal_counts`, `oreal_loss`, `oreal_rm_loss` | `loss::{Odin, warm_average, oreal_loss, oreal_rm_loss}` |
//! | [`mdp`] | `Mdp` (dense or sparse; `policy_values`, `value_iteration`, `optimal_policy`, `policy_return`, `regret`, `normalized_regret`, `preference_logit`, `preference_loss`, `fit_reward`) | `mdp::*`, `mdp::preference` |
//! | [`objective`] | `tilt`, `tilt_stats`, `beta_for_kl`, `best_of_n`, `best_of_n_kl_bound` | `objective::*` |
//! | [`distance`] | `starc_distance`, `epic_distance`, `dard_distance` | `distance::{Starc, Epic, Dard}`, `mdp::Mdp` |
//!
//! # Arrays
//! Float inputs are NumPy arrays of `float32` or `float64` (anything else with the array protocol,
//! torch CPU tensors included, is viewed through `numpy.asarray`). The first float input of a
//! call decides the precision: `float32` (or `float16`) computes in `f32`, everything else in
//! `f64`; the other float inputs are viewed in that dtype, without a copy when they already have
//! it and C-contiguous layout. Outputs are new arrays of that dtype, written in place by the core.
//!
//! # Errors
//! Every core [`rewardkit_core::Error`] becomes an instance of a subclass of `RewardkitError`
//! (itself a `ValueError`) whose message is the core's and whose attributes are the variant's
//! fields ([`errors`]). Shape problems of the binding layer (a 1-D array where `(B, T)` is needed,
//! two inputs of different shapes) raise `ShapeMismatchError`, also a `RewardkitError`.

use pyo3::prelude::*;

pub mod advantage;
pub mod arrays;
pub mod distance;
pub mod errors;
pub mod logits;
pub mod losses;
pub mod mdp;
pub mod objective;
pub mod rewards;
pub mod rm_losses;

/// The extension module `rewardkit._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    advantage::register(m)?;
    losses::register(m)?;
    logits::register(m)?;
    rewards::register(m)?;
    distance::register(m)?;
    objective::register(m)?;
    mdp::register(m)?;
    rm_losses::register(m)?;
    Ok(())
}
