//! Integration tests for `rewardkit_core::loss`: golden vectors from verl, TRL and OpenRLHF
//! (values and gradients, f32 and f64), independent loop oracles, properties and gradient checks.

mod dpo_logits;
mod golden;
mod oracle;
mod props;
mod seams;
mod seed;
