//! CPU–GPU parity: every WGSL kernel against its CPU reference (`rewardkit-core`'s seams, or a
//! naive f64 loop), one GRPO step on the device against `core/examples/grpo_step.rs`, and the
//! trainer's GPU backend (model, `AdamW`, one GRPO step) against its CPU backend, on random
//! shapes including sizes that are not multiples of the tile or workgroup size,
//! and empty or degenerate inputs. Tolerances are per kernel and documented in `docs/numerics.md`
//! (GPU section). Without an adapter each test prints that it was skipped; with
//! `REWARDKIT_REQUIRE_GPU=1` it fails instead.

mod grpo_step;
mod matmul;
mod rl;
mod trainer;
mod transformer;
