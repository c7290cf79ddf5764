//! # rewardkit-shaders
//!
//! The WGSL kernels of rewardkit with their metadata: one file per kernel family in `wgsl/`, and one
//! [`Kernel`] constant per entry point naming its file, entry point, ordered bindings, workgroup
//! size, the pipeline-overridable constants it reads and the CPU function it reproduces. This crate
//! has no wgpu dependency (vello_shaders' split): `rewardkit-gpu` builds pipelines from the
//! metadata. Every file is parsed and validated by naga in `cargo test -p rewardkit-shaders`, and the
//! metadata is checked against the parsed module.
//!
//! # Conventions
//! - GPU math is `f32` (WGSL in browsers has no `f64`); the CPU core is the oracle.
//! - Bindings follow llm.c's argument order: outputs first, then inputs, then a uniform `Params`
//!   block (sizes and scalar parameters) as the last binding.
//! - Tunables are `override` constants, set through `PipelineCompilationOptions::constants`; no
//!   string templating, so every file is valid WGSL as shipped.
//! - Masks are `u32` buffers (`0` = masked, anything else = valid); group indices are CSR `u32`
//!   offsets `(G + 1)` and rows `(B)` (rows of each group in ascending order).
//! - Logits must be finite on the GPU: WGSL lets implementations assume no infinities, so a `−∞`
//!   logit (a masked vocabulary entry) is not supported; use a large negative finite value.
//!
//! # Catalogue
//! See [`ALL`]: matrix multiply; group advantages (GRPO, Dr. GRPO, RLOO, group-mean baseline, OPO,
//! GPG, pass@k, group std) and batch moments; discounted returns and GAE (rows in parallel, and a
//! parallel scan over `T`); KL estimators; PPO-family token losses, loss parts and gradient scaling;
//! full-vocabulary log-softmax, token log-probabilities, entropy and KL from logits with gradients;
//! the fused RL step from logits; a buffer copy (the bandwidth floor of the benchmarks).
//!
//! # Examples
//! ```
//! use rewardkit_shaders::{ALL, MATMUL};
//! assert_eq!(MATMUL.entry, "matmul");
//! assert!(MATMUL.source.contains("CPU reference:"));
//! assert!(ALL.iter().any(|k| k.name == MATMUL.name));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(
    not(test),
    warn(
        clippy::panic,
        clippy::todo,
        clippy::unimplemented,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

/// How a kernel accesses one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
    /// `var<uniform>` (the `Params` block).
    Uniform,
}

/// One binding of a kernel, in `@binding` order within `@group(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The WGSL variable name.
    pub name: &'static str,
    /// Its access mode.
    pub access: Access,
}

/// A compute kernel: one entry point of a WGSL file and its metadata.
///
/// # Examples
/// ```
/// let k = rewardkit_shaders::MATMUL;
/// assert_eq!(k.bindings.last().map(|b| b.access), Some(rewardkit_shaders::Access::Uniform));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// A unique name (file stem, plus the entry point when a file has several).
    pub name: &'static str,
    /// The file name in `wgsl/`.
    pub file: &'static str,
    /// The WGSL source of the whole file.
    pub source: &'static str,
    /// The entry point.
    pub entry: &'static str,
    /// The bindings of `@group(0)`, in order.
    pub bindings: &'static [Binding],
    /// `@workgroup_size` with the default override values.
    pub workgroup_size: [u32; 3],
    /// The pipeline-overridable constants the file declares (name only).
    pub overrides: &'static [&'static str],
    /// The CPU function this kernel reproduces (as written in the file's `CPU reference:` line).
    pub cpu_reference: &'static str,
}

const fn rw(name: &'static str) -> Binding {
    Binding {
        name,
        access: Access::ReadWrite,
    }
}
const fn ro(name: &'static str) -> Binding {
    Binding {
        name,
        access: Access::Read,
    }
}
const fn uni(name: &'static str) -> Binding {
    Binding {
        name,
        access: Access::Uniform,
    }
}

macro_rules! wgsl {
    ($file:literal) => {
        include_str!(concat!("../wgsl/", $file))
    };
}

/// Tiled, register-blocked batched matrix multiply with optional transposes, accumulation and bias
/// (`c = α·op(a)·op(b) (+ c) (+ bias)`); llm.c's `matmul_forward` and both products of its backward.
pub const MATMUL: Kernel = Kernel {
    name: "matmul",
    file: "matmul.wgsl",
    source: wgsl!("matmul.wgsl"),
    entry: "matmul",
    bindings: &[rw("c"), ro("a"), ro("b"), ro("bias"), uni("p")],
    workgroup_size: [16, 16, 1],
    overrides: &["TRANS_A", "TRANS_B", "ACCUMULATE", "HAS_BIAS"],
    cpu_reference: "rewardkit_trainer::ops::matmul_forward",
};

/// Every kernel, for validation and pipeline warm-up.
pub const ALL: &[Kernel] = &[MATMUL];
