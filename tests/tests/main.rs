//! The rewardkit integration suite: golden vectors from the anchors' own code, properties
//! (proptest, f32 and f64), and gradient checks. One binary, one module per concern.
#![allow(
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core,
    reason = "test code: casts of small test sizes, std paths are fine"
)]

mod advantage_golden;
mod advantage_plan;
mod advantage_props;
mod advantage_regressions;
mod distance;
#[cfg(feature = "gpu")]
mod gpu;
mod grpo_step;
mod kl_golden;
mod kl_props;
mod layout_props;
mod logits_props;
mod loss;
mod preset_oracles;
mod reward;
mod stats_props;
mod value_stability;
