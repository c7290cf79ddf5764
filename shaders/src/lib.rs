//! # rewardkit-shaders
//!
//! The WGSL kernels of rewardkit with their metadata: one file per kernel family in `wgsl/`, the
//! functions several kernels share once in `wgsl/shared/`, and one [`Kernel`] constant per entry
//! point naming its file, its shared parts, entry point, ordered bindings, workgroup size, the
//! pipeline-overridable constants it reads and the CPU function it reproduces. WGSL has no
//! includes: a kernel's [`Kernel::source`] is its parts and its file concatenated at compile time.
//! This crate has no wgpu dependency (`vello_shaders`' split): `rewardkit-gpu` builds pipelines
//! from the metadata. Every source is parsed and validated by naga in
//! `cargo test -p rewardkit-shaders`, the metadata is checked against the parsed module, no
//! function body appears twice, and every kernel fits WebGPU's default 8 storage buffers per stage.
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
//! See [`ALL`]: matrix multiply (scalar, vec4 and f16-input loads over one tiled core) and f16
//! conversion; the transformer's embedding (with a bitonic token sort for its backward),
//! `LayerNorm`, causal attention, GELU, residual, `AdamW`, column sums, softmax and cross-entropy;
//! the stages of a per-sequence advantage plan (masked sequence sums; the group stages of GRPO,
//! Dr. GRPO, RLOO, OPO, GPG and pass@k, the group std, batch moments; length-weighted whitening);
//! discounted returns and GAE (rows in parallel, and a
//! parallel scan over `T`); KL estimators; PPO-family token losses, loss parts and gradient scaling;
//! full-vocabulary log-softmax, token log-probabilities, entropy and KL from logits with gradients
//! (accumulating); the fused RL step from logits; a buffer copy (the bandwidth floor of the
//! benchmarks).
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
/// let k = rewardkit_shaders::KL_PENALTY;
/// assert_eq!(k.bindings.last().map(|b| b.access), Some(rewardkit_shaders::Access::Uniform));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// A unique name (file stem, plus the entry point when a file has several).
    pub name: &'static str,
    /// The kernel's own file in `wgsl/`.
    pub file: &'static str,
    /// The shared files (in `wgsl/shared/`) concatenated ahead of `file`, in order: WGSL has no
    /// includes, so each shared function has one home and every kernel that uses it lists it here.
    pub parts: &'static [&'static str],
    /// The WGSL source: the shared `parts`, then `file`, concatenated (what naga validates and
    /// what the GPU compiles).
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

impl Kernel {
    /// Whether the kernel needs the adapter feature `SHADER_F16` (its source enables `f16`).
    ///
    /// # Examples
    /// ```
    /// assert!(rewardkit_shaders::MATMUL_F16.requires_f16());
    /// assert!(!rewardkit_shaders::MATMUL.requires_f16());
    /// ```
    pub fn requires_f16(&self) -> bool {
        self.source.contains("enable f16;")
    }
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

/// The source of a kernel: its shared parts (in `wgsl/shared/`), then its own file.
macro_rules! wgsl {
    ($file:literal) => {
        include_str!(concat!("../wgsl/", $file))
    };
    ([$($part:literal),* $(,)?], $file:literal) => {
        concat!(
            $(include_str!(concat!("../wgsl/shared/", $part)),)*
            include_str!(concat!("../wgsl/", $file))
        )
    };
}

const MATMUL_OVERRIDES: &[&str] = &[
    "TRANS_A",
    "TRANS_B",
    "ACCUMULATE",
    "HAS_BIAS",
    "WG_X",
    "WG_Y",
    "TM",
    "TN",
    "BK",
];

/// Tiled, register-blocked batched matrix multiply with optional transposes, accumulation and bias
/// (`c = α·op(a)·op(b) (+ c) (+ bias)`); llm.c's `matmul_forward` and both products of its
/// backward. Scalar global loads: any shape.
pub const MATMUL: Kernel = Kernel {
    name: "matmul",
    file: "matmul.wgsl",
    parts: &["matmul_core.wgsl"],
    source: wgsl!(["matmul_core.wgsl"], "matmul.wgsl"),
    entry: "matmul",
    bindings: &[rw("c"), ro("a"), ro("b"), ro("bias"), uni("p")],
    workgroup_size: [16, 16, 1],
    overrides: MATMUL_OVERRIDES,
    cpu_reference: "rewardkit_trainer::ops::matmul_forward (and matmul_backward); the parity tests also use a naive f64 triple loop.",
};

/// [`MATMUL`] with vec4 global loads and stores, for shapes whose contiguous dimensions are
/// multiples of 4.
pub const MATMUL_VEC4: Kernel = Kernel {
    name: "matmul_vec4",
    file: "matmul_vec4.wgsl",
    parts: &["matmul_core.wgsl", "matmul_store4.wgsl"],
    source: wgsl!(
        ["matmul_core.wgsl", "matmul_store4.wgsl"],
        "matmul_vec4.wgsl"
    ),
    entry: "matmul_vec4",
    ..MATMUL
};

/// [`MATMUL_VEC4`] with f16 inputs (`a`, `b`) and f32 accumulation and output; needs the adapter
/// feature `SHADER_F16`.
pub const MATMUL_F16: Kernel = Kernel {
    name: "matmul_f16",
    file: "matmul_f16.wgsl",
    parts: &["enable_f16.wgsl", "matmul_core.wgsl", "matmul_store4.wgsl"],
    source: wgsl!(
        ["enable_f16.wgsl", "matmul_core.wgsl", "matmul_store4.wgsl"],
        "matmul_f16.wgsl"
    ),
    entry: "matmul_f16",
    cpu_reference: "rewardkit_trainer::ops::matmul_forward (with inputs rounded to f16); the parity tests use a naive f64 triple loop over the rounded inputs.",
    ..MATMUL
};

/// f32 → f16 conversion, two values packed per `u32` (core WGSL, no feature needed).
pub const F32_TO_F16: Kernel = Kernel {
    name: "f32_to_f16",
    file: "convert.wgsl",
    parts: &[],
    source: wgsl!("convert.wgsl"),
    entry: "f32_to_f16",
    bindings: &[rw("dst"), ro("src"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "IEEE 754 binary16 conversion (the tests accept either neighbour and decode the result in f64)",
};

const GA_BINDINGS: &[Binding] = &[
    rw("out"),
    rw("stats"),
    ro("scores"),
    ro("lengths"),
    ro("offsets"),
    ro("rows"),
    uni("p"),
];

/// Group advantages over a CSR group index, one workgroup per group: stage 2 of a per-sequence
/// advantage plan (the affine group stages of GRPO, Dr. GRPO, RLOO, GPG and TRL's batch scaling;
/// pass@k; OPO) and the group standard deviation.
pub const GROUP_ADVANTAGE: Kernel = Kernel {
    name: "group_advantage",
    file: "group_advantage.wgsl",
    parts: &[],
    source: wgsl!("group_advantage.wgsl"),
    entry: "group_advantage",
    bindings: GA_BINDINGS,
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::advantage::AdvantagePlan::run_per_sequence (stage 2, GroupStage: Affine as group_moments, AffineRule::coefficients and apply_group_affine; PassK; Opo) and advantage::group_std",
};

/// Whole-batch moments `[n, mean, std, #non-zero]` (GRPO batch scaling, GPG's `α`).
pub const BATCH_MOMENTS: Kernel = Kernel {
    name: "batch_moments",
    entry: "batch_moments",
    ..GROUP_ADVANTAGE
};

/// Stage 1 of a per-sequence advantage plan: the sum of each row's valid token rewards and its
/// number of valid tokens.
pub const MASKED_SEQUENCE_SUMS: Kernel = Kernel {
    name: "masked_sequence_sums",
    file: "masked_sequence_sums.wgsl",
    parts: &["reduce.wgsl"],
    source: wgsl!(["reduce.wgsl"], "masked_sequence_sums.wgsl"),
    entry: "masked_sequence_sums",
    bindings: &[
        rw("scores"),
        rw("lengths"),
        ro("rewards"),
        ro("mask"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::advantage::masked_sequence_sums",
};

const RET_BINDINGS: &[Binding] = &[
    rw("out0"),
    rw("out1"),
    ro("rewards"),
    ro("values"),
    ro("mask"),
    uni("p"),
];

const RETURNS_BASE: Kernel = Kernel {
    name: "returns_rows",
    file: "returns.wgsl",
    parts: &[],
    source: wgsl!("returns.wgsl"),
    entry: "returns_rows",
    bindings: RET_BINDINGS,
    workgroup_size: [64, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::advantage::gae (and discounted_returns)",
};

/// Discounted returns, one thread per row.
pub const RETURNS_ROWS: Kernel = RETURNS_BASE;

/// Discounted returns, one workgroup per row (parallel scan over `T`).
pub const RETURNS_SCAN: Kernel = Kernel {
    name: "returns_scan",
    entry: "returns_scan",
    workgroup_size: [256, 1, 1],
    ..RETURNS_BASE
};

/// GAE, one thread per row.
pub const GAE_ROWS: Kernel = Kernel {
    name: "gae_rows",
    entry: "gae_rows",
    ..RETURNS_BASE
};

/// GAE, one workgroup per row (parallel scan over `T`).
pub const GAE_SCAN: Kernel = Kernel {
    name: "gae_scan",
    entry: "gae_scan",
    workgroup_size: [256, 1, 1],
    ..RETURNS_BASE
};

/// Per-token KL estimators with derivatives.
pub const KL_PENALTY: Kernel = Kernel {
    name: "kl_penalty",
    file: "kl_penalty.wgsl",
    parts: &["kl.wgsl"],
    source: wgsl!(["kl.wgsl"], "kl_penalty.wgsl"),
    entry: "kl_penalty",
    bindings: &[
        rw("value"),
        rw("grad"),
        ro("logp"),
        ro("ref_logp"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::kl::KlPenalty::forward",
};

/// PPO-family token losses with gradients, reduced to per-row partial sums.
pub const POLICY_LOSS: Kernel = Kernel {
    name: "policy_loss",
    file: "policy_loss.wgsl",
    parts: &["math.wgsl", "reduce.wgsl", "kl.wgsl", "policy.wgsl"],
    source: wgsl!(
        ["math.wgsl", "reduce.wgsl", "kl.wgsl", "policy.wgsl"],
        "policy_loss.wgsl"
    ),
    entry: "policy_loss",
    bindings: &[
        rw("grad"),
        rw("rows"),
        ro("logp"),
        ro("old_logp"),
        ro("adv"),
        ro("mask"),
        ro("ref_logp"),
        ro("extra"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::loss::policy_loss",
};

/// Per-row partial sums to loss parts `[sum, seq_mean_sum, tokens, seqs, rows]`.
pub const LOSS_PARTS: Kernel = Kernel {
    name: "loss_parts",
    file: "loss_parts.wgsl",
    parts: &["agg.wgsl"],
    source: wgsl!(["agg.wgsl"], "loss_parts.wgsl"),
    entry: "loss_parts",
    bindings: &[rw("parts"), rw("grad"), ro("rows"), ro("mask"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::loss::Aggregation::scale_grad (and LossParts)",
};

/// Scales the gradient of the loss sums by the aggregation's weights.
pub const SCALE_GRAD: Kernel = Kernel {
    name: "scale_grad",
    entry: "scale_grad",
    ..LOSS_PARTS
};

const LOGITS_BASE: Kernel = Kernel {
    name: "log_softmax",
    file: "logits.wgsl",
    parts: &["math.wgsl", "reduce.wgsl", "row_stats.wgsl"],
    source: wgsl!(
        ["math.wgsl", "reduce.wgsl", "row_stats.wgsl"],
        "logits.wgsl"
    ),
    entry: "log_softmax",
    bindings: &[
        rw("out"),
        ro("logits"),
        ro("ref_logits"),
        ro("ids"),
        ro("grad_out"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::logits::logprobs_forward (logprobs_backward, entropy_forward, entropy_backward, full_kl_forward, full_kl_backward, log_softmax_forward, softmax_forward)",
};

/// Row-wise log-softmax of logits.
pub const LOG_SOFTMAX: Kernel = LOGITS_BASE;
/// Log-probabilities of given tokens.
pub const LOGPROBS_FORWARD: Kernel = Kernel {
    name: "logprobs_forward",
    entry: "logprobs_forward",
    ..LOGITS_BASE
};
/// Gradient of token log-probabilities with respect to the logits, accumulating (`+=`).
pub const LOGPROBS_BACKWARD: Kernel = Kernel {
    name: "logprobs_backward",
    entry: "logprobs_backward",
    ..LOGITS_BASE
};
/// Entropy per row.
pub const ENTROPY_FORWARD: Kernel = Kernel {
    name: "entropy_forward",
    entry: "entropy_forward",
    ..LOGITS_BASE
};
/// Gradient of the entropy with respect to the logits, accumulating (`+=`).
pub const ENTROPY_BACKWARD: Kernel = Kernel {
    name: "entropy_backward",
    entry: "entropy_backward",
    ..LOGITS_BASE
};
/// Full-vocabulary `KL(π‖π_ref)` per row.
pub const FULL_KL_FORWARD: Kernel = Kernel {
    name: "full_kl_forward",
    entry: "full_kl_forward",
    ..LOGITS_BASE
};
/// Gradient of the full-vocabulary KL with respect to the policy logits, accumulating (`+=`).
pub const FULL_KL_BACKWARD: Kernel = Kernel {
    name: "full_kl_backward",
    entry: "full_kl_backward",
    ..LOGITS_BASE
};

/// Row-wise softmax `π_v = e^{z_v − max z} / Σ e^{z − max z}` (llm.c's `softmax_forward`).
pub const SOFTMAX_FORWARD: Kernel = Kernel {
    name: "softmax_forward",
    entry: "softmax_forward",
    ..LOGITS_BASE
};
/// Cross-entropy `−log π(target)` per row from the logits (llm.c's `crossentropy_forward`).
pub const CROSSENTROPY_FORWARD: Kernel = Kernel {
    name: "crossentropy_forward",
    entry: "crossentropy_forward",
    ..LOGITS_BASE
};
/// Fused softmax + cross-entropy backward, accumulating `dlogits += dloss·(π − onehot)` (llm.c's
/// `crossentropy_softmax_backward`).
pub const CROSSENTROPY_SOFTMAX_BACKWARD: Kernel = Kernel {
    name: "crossentropy_softmax_backward",
    entry: "crossentropy_softmax_backward",
    ..LOGITS_BASE
};

const STEP_BASE: Kernel = Kernel {
    name: "rl_step",
    file: "rl_step.wgsl",
    parts: &[
        "math.wgsl",
        "reduce.wgsl",
        "row_stats.wgsl",
        "kl.wgsl",
        "policy.wgsl",
        "agg.wgsl",
    ],
    source: wgsl!(
        [
            "math.wgsl",
            "reduce.wgsl",
            "row_stats.wgsl",
            "kl.wgsl",
            "policy.wgsl",
            "agg.wgsl"
        ],
        "rl_step.wgsl"
    ),
    entry: "rl_step",
    bindings: &[
        rw("grad_logits"),
        rw("tok"),
        rw("rows"),
        ro("logits"),
        ro("ids"),
        ro("mask"),
        ro("side"),
        ro("parts"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::loss::policy_loss (chained as in core/examples/grpo_step.rs: logits::logprobs_forward, logits::entropy_forward, PolicyLoss::token, Aggregation::scale_grad, loss::entropy_upstream, logits::logprobs_backward, logits::entropy_backward)",
};

/// The fused RL step: logits → token log-probability, entropy, policy loss with KL and entropy
/// terms → gradient with respect to the logits (accumulated into `grad_logits`).
pub const RL_STEP: Kernel = STEP_BASE;
/// Valid-token counts per sequence (before the fused step).
pub const RL_MASK_ROWS: Kernel = Kernel {
    name: "mask_rows",
    entry: "mask_rows",
    ..STEP_BASE
};
/// Per-sequence sums of the fused step's token losses.
pub const RL_ROWS: Kernel = Kernel {
    name: "rl_rows",
    entry: "rl_rows",
    ..STEP_BASE
};

// ---------------------------------------------------------------------------------------------
// Transformer ops (llm.c's CPU kernels in rewardkit_trainer::ops are the references)
// ---------------------------------------------------------------------------------------------

/// Token plus position embedding (llm.c's `encoder_forward`).
pub const ENCODER_FORWARD: Kernel = Kernel {
    name: "encoder_forward",
    file: "encoder.wgsl",
    parts: &[],
    source: wgsl!("encoder.wgsl"),
    entry: "encoder_forward",
    bindings: &[rw("out"), ro("tokens"), ro("wte"), ro("wpe"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::encoder_forward",
};

const TOKEN_SORT_BASE: Kernel = Kernel {
    name: "sort_init",
    file: "token_sort.wgsl",
    parts: &[],
    source: wgsl!("token_sort.wgsl"),
    entry: "sort_init",
    bindings: &[rw("keys"), ro("tokens"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &[],
    cpu_reference: "rewardkit_trainer::ops::encoder_backward (the token buckets it accumulates in position order)",
};

/// Keys `(token, position)` of the embedding backward's bitonic sort, padded to a power of two.
pub const TOKEN_SORT_INIT: Kernel = TOKEN_SORT_BASE;
/// Sorts each block of 512 keys through every bitonic stage `k ≤ 512` in workgroup memory.
pub const TOKEN_SORT_LOCAL_INIT: Kernel = Kernel {
    name: "sort_local_init",
    entry: "sort_local_init",
    ..TOKEN_SORT_BASE
};
/// One global compare-exchange step `(k, j ≥ 512)` of the bitonic sort.
pub const TOKEN_SORT_GLOBAL: Kernel = Kernel {
    name: "sort_global",
    entry: "sort_global",
    ..TOKEN_SORT_BASE
};
/// The steps `j = 256..1` of bitonic stage `k` inside each block of 512 keys.
pub const TOKEN_SORT_LOCAL: Kernel = Kernel {
    name: "sort_local",
    entry: "sort_local",
    ..TOKEN_SORT_BASE
};

const ENCODER_BACKWARD_BASE: Kernel = Kernel {
    name: "encoder_backward_wte",
    file: "encoder_backward.wgsl",
    parts: &[],
    source: wgsl!("encoder_backward.wgsl"),
    entry: "encoder_backward_wte",
    bindings: &[rw("dwte"), rw("dwpe"), ro("dout"), ro("keys"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::encoder_backward",
};

/// Token-embedding gradient from the sorted token buckets (one writer per row, no atomics).
pub const ENCODER_BACKWARD_WTE: Kernel = ENCODER_BACKWARD_BASE;
/// Position-embedding gradient (sum over the batch).
pub const ENCODER_BACKWARD_WPE: Kernel = Kernel {
    name: "encoder_backward_wpe",
    entry: "encoder_backward_wpe",
    ..ENCODER_BACKWARD_BASE
};

/// `LayerNorm` forward with the statistics for the backward (llm.c's `layernorm_forward`).
pub const LAYERNORM_FORWARD: Kernel = Kernel {
    name: "layernorm_forward",
    file: "layernorm.wgsl",
    parts: &["reduce.wgsl"],
    source: wgsl!(["reduce.wgsl"], "layernorm.wgsl"),
    entry: "layernorm_forward",
    bindings: &[
        rw("out"),
        rw("mean"),
        rw("rstd"),
        ro("inp"),
        ro("weight"),
        ro("bias"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::layernorm_forward",
};

const LAYERNORM_BACKWARD_BASE: Kernel = Kernel {
    name: "layernorm_backward",
    file: "layernorm_backward.wgsl",
    parts: &["reduce.wgsl"],
    source: wgsl!(["reduce.wgsl"], "layernorm_backward.wgsl"),
    entry: "layernorm_backward",
    bindings: &[
        rw("dinp"),
        rw("partials"),
        ro("dout"),
        ro("inp"),
        ro("weight"),
        ro("mean"),
        ro("rstd"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::layernorm_backward",
};

/// `LayerNorm` backward into the input gradient, one workgroup per row (accumulates).
pub const LAYERNORM_BACKWARD: Kernel = LAYERNORM_BACKWARD_BASE;
/// Per-chunk partial sums of the `LayerNorm` weight and bias gradients.
pub const LAYERNORM_PARAM_PARTIALS: Kernel = Kernel {
    name: "layernorm_param_partials",
    entry: "layernorm_param_partials",
    ..LAYERNORM_BACKWARD_BASE
};

/// Column sums added into an output, rows in order (the second stage of the parameter-gradient
/// reductions).
pub const COLUMN_SUM: Kernel = Kernel {
    name: "column_sum",
    file: "column_sum.wgsl",
    parts: &[],
    source: wgsl!("column_sum.wgsl"),
    entry: "column_sum",
    bindings: &[rw("dst"), ro("src"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::matmul_backward (its dbias sum over rows; also layernorm_backward's dweight and dbias)",
};

/// Per-chunk column sums (the first stage of matmul's bias gradient).
pub const COLUMN_PARTIALS: Kernel = Kernel {
    name: "column_partials",
    entry: "column_partials",
    ..COLUMN_SUM
};

/// Causal multi-head self-attention forward (llm.c's `attention_forward`).
pub const ATTENTION_FORWARD: Kernel = Kernel {
    name: "attention_forward",
    file: "attention.wgsl",
    parts: &["reduce.wgsl", "attention_layout.wgsl"],
    source: wgsl!(["reduce.wgsl", "attention_layout.wgsl"], "attention.wgsl"),
    entry: "attention_forward",
    bindings: &[rw("out"), rw("preatt"), rw("att"), ro("qkv"), uni("p")],
    workgroup_size: [64, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::attention_forward",
};

const ATTENTION_BACKWARD_BASE: Kernel = Kernel {
    name: "attention_backward_rows",
    file: "attention_backward.wgsl",
    parts: &["reduce.wgsl", "attention_layout.wgsl"],
    source: wgsl!(
        ["reduce.wgsl", "attention_layout.wgsl"],
        "attention_backward.wgsl"
    ),
    entry: "attention_backward_rows",
    bindings: &[
        rw("dqkv"),
        rw("dpreatt"),
        rw("datt"),
        ro("dout"),
        ro("qkv"),
        ro("att"),
        uni("p"),
    ],
    workgroup_size: [64, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::attention_backward",
};

/// Attention backward through the values' weights, the softmax and the query (one workgroup per
/// score row; accumulates).
pub const ATTENTION_BACKWARD_ROWS: Kernel = ATTENTION_BACKWARD_BASE;
/// Attention backward into the keys and values (one workgroup per key; accumulates).
pub const ATTENTION_BACKWARD_COLS: Kernel = Kernel {
    name: "attention_backward_cols",
    entry: "attention_backward_cols",
    ..ATTENTION_BACKWARD_BASE
};

const GELU_BASE: Kernel = Kernel {
    name: "gelu_forward",
    file: "gelu.wgsl",
    parts: &["math.wgsl"],
    source: wgsl!(["math.wgsl"], "gelu.wgsl"),
    entry: "gelu_forward",
    bindings: &[rw("out"), ro("inp"), ro("dout"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::gelu_forward (and gelu_backward)",
};

/// GELU, tanh approximation (llm.c's `gelu_forward`).
pub const GELU_FORWARD: Kernel = GELU_BASE;
/// Backward of GELU (accumulates).
pub const GELU_BACKWARD: Kernel = Kernel {
    name: "gelu_backward",
    entry: "gelu_backward",
    ..GELU_BASE
};

const RESIDUAL_BASE: Kernel = Kernel {
    name: "residual_forward",
    file: "residual.wgsl",
    parts: &[],
    source: wgsl!("residual.wgsl"),
    entry: "residual_forward",
    bindings: &[rw("y0"), rw("y1"), ro("x0"), ro("x1"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::residual_forward (and residual_backward)",
};

/// Residual connection `out = a + b`.
pub const RESIDUAL_FORWARD: Kernel = RESIDUAL_BASE;
/// Its backward `da += dout, db += dout`.
pub const RESIDUAL_BACKWARD: Kernel = Kernel {
    name: "residual_backward",
    entry: "residual_backward",
    ..RESIDUAL_BASE
};

/// One `AdamW` step in place (llm.c's `gpt2_update`).
pub const ADAMW: Kernel = Kernel {
    name: "adamw",
    file: "adamw.wgsl",
    parts: &[],
    source: wgsl!("adamw.wgsl"),
    entry: "adamw",
    bindings: &[rw("params"), rw("m"), rw("v"), ro("grads"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_trainer::ops::adamw",
};

const WHITEN_BASE: Kernel = Kernel {
    name: "whiten_partials",
    file: "whiten.wgsl",
    parts: &[],
    source: wgsl!("whiten.wgsl"),
    entry: "whiten_partials",
    bindings: &[
        rw("out"),
        rw("stats"),
        ro("x"),
        ro("mask"),
        ro("aux"),
        uni("p"),
    ],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "rewardkit_core::stats::masked_whiten (and the whitening stage of AdvantagePlan::run_per_sequence, advantage::reinforce_plus_plus, advantage::remax)",
};

/// Per-chunk Welford summaries `(n, mean, M2)` of the valid (or weighted) elements (batch
/// whitening, stage 1).
pub const WHITEN_PARTIALS: Kernel = WHITEN_BASE;
/// Merges the chunks (Chan) and computes the whitening map (stage 2).
pub const WHITEN_FINALIZE: Kernel = Kernel {
    name: "whiten_finalize",
    entry: "whiten_finalize",
    ..WHITEN_BASE
};
/// Applies the whitening map (stage 3).
pub const WHITEN_APPLY: Kernel = Kernel {
    name: "whiten_apply",
    entry: "whiten_apply",
    ..WHITEN_BASE
};
/// `ReMax`: returns minus the per-row baseline at valid positions.
pub const REMAX_APPLY: Kernel = Kernel {
    name: "remax_apply",
    entry: "remax_apply",
    ..WHITEN_BASE
};

/// vec4 device copy (the benchmarks' bandwidth floor).
pub const COPY: Kernel = Kernel {
    name: "copy",
    file: "copy.wgsl",
    parts: &[],
    source: wgsl!("copy.wgsl"),
    entry: "copy",
    bindings: &[rw("dst"), ro("src"), uni("p")],
    workgroup_size: [256, 1, 1],
    overrides: &["WG"],
    cpu_reference: "core::slice::copy_from_slice",
};

/// Every kernel, for validation and pipeline warm-up.
pub const ALL: &[Kernel] = &[
    MATMUL,
    MATMUL_VEC4,
    MATMUL_F16,
    F32_TO_F16,
    MASKED_SEQUENCE_SUMS,
    GROUP_ADVANTAGE,
    BATCH_MOMENTS,
    RETURNS_ROWS,
    RETURNS_SCAN,
    GAE_ROWS,
    GAE_SCAN,
    KL_PENALTY,
    POLICY_LOSS,
    LOSS_PARTS,
    SCALE_GRAD,
    LOG_SOFTMAX,
    LOGPROBS_FORWARD,
    LOGPROBS_BACKWARD,
    ENTROPY_FORWARD,
    ENTROPY_BACKWARD,
    FULL_KL_FORWARD,
    FULL_KL_BACKWARD,
    SOFTMAX_FORWARD,
    CROSSENTROPY_FORWARD,
    CROSSENTROPY_SOFTMAX_BACKWARD,
    RL_STEP,
    RL_MASK_ROWS,
    RL_ROWS,
    ENCODER_FORWARD,
    TOKEN_SORT_INIT,
    TOKEN_SORT_LOCAL_INIT,
    TOKEN_SORT_GLOBAL,
    TOKEN_SORT_LOCAL,
    ENCODER_BACKWARD_WTE,
    ENCODER_BACKWARD_WPE,
    LAYERNORM_FORWARD,
    LAYERNORM_BACKWARD,
    LAYERNORM_PARAM_PARTIALS,
    COLUMN_SUM,
    COLUMN_PARTIALS,
    ATTENTION_FORWARD,
    ATTENTION_BACKWARD_ROWS,
    ATTENTION_BACKWARD_COLS,
    GELU_FORWARD,
    GELU_BACKWARD,
    RESIDUAL_FORWARD,
    RESIDUAL_BACKWARD,
    ADAMW,
    WHITEN_PARTIALS,
    WHITEN_FINALIZE,
    WHITEN_APPLY,
    REMAX_APPLY,
    COPY,
];
