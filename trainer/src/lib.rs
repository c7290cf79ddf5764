//! # rewardkit-trainer
//!
//! A small GRPO trainer whose rewards, advantages and losses all come from `rewardkit-core`.
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]
#![allow(
    clippy::cast_possible_truncation,
    reason = "the model is f32 and accumulates reductions in f64; rounding back is the intent"
)]
#![allow(
    clippy::std_instead_of_core,
    clippy::alloc_instead_of_core,
    reason = "the trainer is a std application"
)]

pub mod ops;
