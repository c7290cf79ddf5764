//! # rewardkit-gpu
//!
//! The GPU backend of rewardkit: the batched RL math of one training step and the transformer
//! ops, as WGSL kernels ([`rewardkit_shaders`]) run through wgpu (Vulkan, Metal, DX12, GL, and
//! WebGPU in the browser: every kernel fits WebGPU's default limits, see
//! [`GpuContext::new_with_limits`]).
//!
//! - [`GpuContext`]: created once (adapter, device, queue); a pipeline cache keyed by
//!   (kernel, overrides); typed device buffers ([`GpuBuffer`]); kernels record into one pending
//!   command encoder, so a step's kernels run as one submission with every buffer on the device;
//!   asynchronous readback ([`GpuContext::read`]) with blocking wrappers for native code;
//!   validation errors captured as values ([`GpuError`]).
//! - One method per kernel, with llm.c's argument order (outputs, inputs, sizes):
//!   - linear algebra: [`GpuContext::matmul`] (tile shape [`MatmulTiles`]; vec4 or scalar
//!     loads), [`GpuContext::matmul_f16`] (f16 inputs, `SHADER_F16`), [`GpuContext::to_f16`],
//!     [`GpuContext::matmul_forward`], [`GpuContext::matmul_backward`];
//!   - the transformer's other ops, with the signatures of `rewardkit_trainer::ops` (llm.c):
//!     [`GpuContext::encoder_forward`], [`GpuContext::encoder_backward`] (with
//!     [`GpuContext::token_buckets`]), [`GpuContext::layernorm_forward`],
//!     [`GpuContext::layernorm_backward`], [`GpuContext::attention_forward`],
//!     [`GpuContext::attention_backward`], [`GpuContext::gelu_forward`],
//!     [`GpuContext::gelu_backward`], [`GpuContext::residual_forward`],
//!     [`GpuContext::residual_backward`], [`GpuContext::adamw`], [`GpuContext::softmax_forward`],
//!     [`GpuContext::crossentropy_forward`], [`GpuContext::crossentropy_softmax_backward`];
//!     backward methods accumulate and are deterministic (no atomics);
//!   - advantages, configured by the core's [`rewardkit_core::advantage::AdvantagePlan`]:
//!     [`GpuContext::advantages_per_sequence`] runs a per-sequence plan stage by stage
//!     ([`GpuContext::masked_sequence_sums`], [`GpuContext::group_advantages`] for the plan's
//!     `GroupStage` over a [`GpuGroups`] index, the plan's whitening); [`GpuContext::group_std`];
//!     [`GpuContext::discounted_returns`] and [`GpuContext::gae`] (rows in parallel, or a parallel
//!     scan over `T` for long sequences, [`ScanMode`]); batch whitening
//!     [`GpuContext::masked_whiten`] (the core's [`rewardkit_core::stats::Whiten`]),
//!     [`GpuContext::reinforce_plus_plus`], [`GpuContext::remax`];
//!   - KL: [`GpuContext::kl_penalty`] (the core's [`rewardkit_core::KlPenalty`]);
//!   - losses, configured by the core's [`rewardkit_core::loss::PolicyLoss`] (read through its
//!     getters; its KL term and entropy bonus included): [`GpuContext::policy_loss`] (PPO clip
//!     with dual clip and `delta`, GPG, CISPO, SAPO, DRO, DPPO-TV/KL, VESPO, GSPO, GSPO-token,
//!     GMPO; not Clip-Cov/KL-Cov), [`GpuContext::loss_parts`], [`GpuContext::scale_grad`],
//!     [`GpuContext::read_parts`] (the core's [`rewardkit_core::loss::LossParts`]);
//!   - logits: [`GpuContext::log_softmax`], [`GpuContext::logprobs_forward`],
//!     [`GpuContext::logprobs_backward`], [`GpuContext::entropy_forward`],
//!     [`GpuContext::entropy_backward`], [`GpuContext::full_kl_forward`],
//!     [`GpuContext::full_kl_backward`] (backward passes accumulate, as the core's
//!     `rewardkit_core::logits`);
//!   - the fused RL step from logits: [`GpuContext::rl_step`] (accumulates into the logits
//!     gradient); with [`GpuContext::advantages_per_sequence`] it is the device form of
//!     `core/examples/grpo_step.rs`.
//! - One home for parameters: the GPU takes the core's parameter types (`PolicyLoss<f32>`,
//!   `KlPenalty<f32>`, `Aggregation`, `Whiten<f32>`, `AdvantagePlan<f32>`, `GroupIndex`, `Mask`
//!   through [`GpuContext::upload_mask`]) and reports what it has no kernel for as
//!   [`GpuError::Unsupported`].
//!
//! # Numerics
//! GPU math is `f32` (the f16 matmul reads binary16 inputs and accumulates in `f32`); every kernel
//! has a CPU reference in `rewardkit-core` (which accumulates in `f64`) or `rewardkit-trainer`'s
//! llm.c-style ops, and a parity test in `rewardkit-tests` (feature `gpu`) with the tolerances of
//! `docs/numerics.md` (GPU section). Inputs uploaded from the host are validated like the core's
//! (lengths, finiteness, ranges) and errors are [`GpuError::Core`] with the core's variants; values
//! produced on the device are not re-checked between kernels (that would need a readback), and
//! readers of results ([`GpuContext::loss_parts`] returns parts through the host) report
//! non-finite results as errors.
//!
//! # Environment
//! - `REWARDKIT_GPU_ADAPTER=<substring>` picks the adapter by name ([`ADAPTER_ENV`]); otherwise the
//!   high-performance adapter is preferred.
//! - `WGPU_BACKEND=vulkan|metal|dx12|gl` restricts the backends.
//!
//! # Errors and panics
//! No adapter gives [`GpuError::NoAdapter`], never a panic. Every fallible operation returns
//! [`GpuError`].
//!
//! # Example
//! ```no_run
//! use rewardkit_gpu::GpuContext;
//! # fn main() -> Result<(), rewardkit_gpu::GpuError> {
//! let ctx = GpuContext::new_blocking()?;
//! // out (2×2) = inp (2×3) · weightᵀ (weight is 2×3) + bias
//! let inp = ctx.upload(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//! let w = ctx.upload(&[1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0])?;
//! let bias = ctx.upload(&[0.5f32, -0.5])?;
//! let out = ctx.zeros::<f32>(4)?;
//! ctx.matmul_forward(&out, &inp, &w, Some(&bias), 2, 3, 2)?;
//! assert_eq!(ctx.read_blocking(&out)?, vec![1.5, 1.5, 4.5, 4.5]);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(
    not(test),
    warn(
        clippy::panic,
        clippy::todo,
        clippy::unimplemented,
        clippy::dbg_macro,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]
#![allow(
    clippy::std_instead_of_core,
    reason = "a std crate: wgpu, threads and mutexes need std"
)]

mod buffer;
mod context;
mod error;
mod kernels;

pub use buffer::GpuBuffer;
pub use context::{ADAPTER_ENV, Capabilities, GpuContext, KernelTiming};
pub use error::{GpuError, Result};
pub use kernels::advantage::GpuGroups;
pub use kernels::loss::PolicyBuffers;
pub use kernels::matmul::{Gemm, MatmulTiles};
pub use kernels::returns::ScanMode;
pub use kernels::step::RlStepBuffers;

/// Kernels and their metadata (re-exported from `rewardkit-shaders`).
pub use rewardkit_shaders as shaders;
/// The wgpu version this crate is built on (for [`GpuContext::new_with_limits`], interop with
/// [`GpuContext::device`] and [`GpuBuffer::raw`]).
pub use wgpu;

/// `Err(LengthMismatch)` unless `got == expected`.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(GpuError::Core(rewardkit_core::Error::LengthMismatch {
            what,
            expected,
            got,
        }))
    }
}

/// A size as `u32` (kernels index with 32-bit integers).
pub(crate) fn u32_of(what: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| GpuError::TooLarge {
        what,
        size: n as u64,
        limit: u64::from(u32::MAX),
    })
}

/// A 1-D grid of `n` workgroups as `[x, y, 1]` with `x <= 65535` (kernels linearize
/// `wid.x + wid.y·num_workgroups.x`).
pub(crate) fn grid(n: u32) -> [u32; 3] {
    const MAX: u32 = 65_535;
    if n <= MAX {
        [n, 1, 1]
    } else {
        [MAX, n.div_ceil(MAX), 1]
    }
}
