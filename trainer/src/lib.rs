//! # rewardkit-trainer
//!
//! A small GRPO trainer whose rewards, advantages and losses all come from `rewardkit-core`.
//!
//! # Features
//! - `gpu` (off by default): the GPU backend — the model (`model::gpu`) and the training passes
//!   (`device`) on `rewardkit-gpu`'s kernels, selected with `rewardkit train --backend gpu|auto`
//!   ([`backend`]). Without it the trainer has no wgpu dependency and runs on the CPU.
//! - `cli` (on by default): the `rewardkit` binary's crates (clap, indicatif). The library builds
//!   without it, also for `wasm32-unknown-unknown` (the browser demo's training panel): there the
//!   row kernels and matrix products run on the calling thread and the step timings read the clock
//!   the embedder installs ([`clock`]).
//!
//! # Backends
//! The CPU backend ([`ops`], [`model::Gpt`]) is the reference: a hand-written backward pass,
//! gradient-checked. The GPU backend is the same model on the device (same [`model::ModelConfig`],
//! parameter layout and seeded init) and must match it: the parity test
//! (`tests/tests/gpu/trainer.rs`, run on lavapipe in CI) compares logits, every parameter gradient,
//! `AdamW` steps and one GRPO step on forced completions between the two. Every core call stays in
//! [`step`]; the GPU passes use `rewardkit-gpu`'s kernels, the core's parity-tested twins.
//! Sampling and evaluation decode on the host copy of the weights for both backends. `--backend
//! auto` picks a hardware GPU when there is one and otherwise says once that it uses the CPU;
//! `--backend gpu` without an adapter is exit code 4 of the `rewardkit` command.
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

pub mod backend;
pub mod checkpoint;
pub mod clock;
pub mod config;
#[cfg(feature = "gpu")]
pub mod device;
pub mod model;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod step;
pub mod task;
pub mod train;

#[cfg(test)]
mod tests;
