//! Token log-probabilities and entropy from logits, with cached row statistics and backward
//! passes that accumulate into one gradient buffer (`rewardkit_core::logits`).

use std::vec::Vec;

use rewardkit_core::Real;
use rewardkit_core::logits::{
    RowStats, entropy_backward, entropy_forward, logprobs_backward, logprobs_forward,
};

use crate::error::{Res, guard, rk_status};
use crate::ffi::{Args, product};

/// The statistics of one row of logits (`rewardkit_core::logits::RowStats`): `max = max_v z_v`,
/// `ln_sum = ln Σ_v e^{z_v − max}`. Forward passes write them; backward passes read them back.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_row_stats {
    /// `max_v z_v`.
    pub max: f64,
    /// `ln Σ_v e^{z_v − max}` (`>= 0`).
    pub ln_sum: f64,
}

fn to_core(s: &[rk_row_stats]) -> Vec<RowStats> {
    s.iter()
        .map(|s| RowStats {
            max: s.max,
            ln_sum: s.ln_sum,
        })
        .collect()
}

fn write_stats(out: &mut [rk_row_stats], s: &[RowStats]) {
    for (o, s) in out.iter_mut().zip(s) {
        *o = rk_row_stats {
            max: s.max,
            ln_sum: s.ln_sum,
        };
    }
}

fn logprobs<F: Real>(
    out: *mut F,
    stats: *mut rk_row_stats,
    logits: *const F,
    tokens: *const u32,
    n: usize,
    vocab: usize,
) -> Res<()> {
    let mut a = Args::new();
    let out = a.output("out", out, n)?;
    let stats_out = a.output("stats", stats, n)?;
    let logits = a.input("logits", logits, product("N·V", n, vocab)?)?;
    let tokens = a.input("tokens", tokens, n)?;
    let mut s = std::vec![RowStats::default(); n];
    logprobs_forward(out, &mut s, logits, tokens, vocab)?;
    write_stats(stats_out, &s);
    Ok(())
}

/// Log-probabilities of the sampled tokens, `out[n] = log softmax(logits[n])[tokens[n]]`, computed
/// in `double` per row (`logprobs_forward`; TRL's `selective_log_softmax`, verl's
/// `logprobs_from_logits`), and each row's statistics for the backward pass.
///
/// Shapes: `out`, `stats`, `tokens`: `(N)`; `logits`: `(N, V)` row-major.
///
/// Errors: `RK_ERR_BAD_SHAPE`/`RK_ERR_EMPTY` for `V = 0`; `RK_ERR_TOKEN_OUT_OF_RANGE` for an id
/// `>= V`; `RK_ERR_NON_FINITE` for NaN or `+∞` logits (or a row of only `−∞`); `RK_ERR_OVERFLOW`
/// for a token of probability zero; pointer checks.
///
/// # Safety
/// `out`, `stats`, `tokens` are null or hold `n` elements; `logits` is null or holds `n·vocab`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_logprobs_f32(
    out: *mut f32,
    stats: *mut rk_row_stats,
    logits: *const f32,
    tokens: *const u32,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| logprobs(out, stats, logits, tokens, n, vocab))
}

/// `rk_logprobs_f32` for `double`.
///
/// # Safety
/// As `rk_logprobs_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_logprobs_f64(
    out: *mut f64,
    stats: *mut rk_row_stats,
    logits: *const f64,
    tokens: *const u32,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| logprobs(out, stats, logits, tokens, n, vocab))
}

fn logprobs_back<F: Real>(
    grad_logits: *mut F,
    grad_out: *const F,
    logits: *const F,
    stats: *const rk_row_stats,
    tokens: *const u32,
    n: usize,
    vocab: usize,
) -> Res<()> {
    let mut a = Args::new();
    let nv = product("N·V", n, vocab)?;
    let grad_logits = a.output("grad_logits", grad_logits, nv)?;
    let grad_out = a.input("grad_out", grad_out, n)?;
    let logits = a.input("logits", logits, nv)?;
    let stats = to_core(a.input("stats", stats, n)?);
    let tokens = a.input("tokens", tokens, n)?;
    logprobs_backward(grad_logits, grad_out, logits, &stats, tokens, vocab)?;
    Ok(())
}

/// Backward of `rk_logprobs_f32`: **accumulates** `grad_out[n]·([v = tokens[n]] − π_{n,v})` into
/// `grad_logits` (`logprobs_backward`), so every term of a loss can add into one buffer. Rows with
/// `grad_out[n] = 0` are not read.
///
/// Shapes: `grad_logits`, `logits`: `(N, V)`; `grad_out`, `stats`, `tokens`: `(N)`; `stats` from
/// the forward pass over the same logits.
///
/// Errors: as `rk_logprobs_f32`; `RK_ERR_NON_FINITE` for NaN/∞ in `grad_out` or statistics no
/// forward pass produces; `RK_ERR_OVERFLOW` for a non-finite accumulated gradient.
///
/// # Safety
/// `grad_logits` and `logits` are null or hold `n·vocab` elements; `grad_out`, `stats`, `tokens`
/// are null or hold `n`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_logprobs_backward_f32(
    grad_logits: *mut f32,
    grad_out: *const f32,
    logits: *const f32,
    stats: *const rk_row_stats,
    tokens: *const u32,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| logprobs_back(grad_logits, grad_out, logits, stats, tokens, n, vocab))
}

/// `rk_logprobs_backward_f32` for `double`.
///
/// # Safety
/// As `rk_logprobs_backward_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_logprobs_backward_f64(
    grad_logits: *mut f64,
    grad_out: *const f64,
    logits: *const f64,
    stats: *const rk_row_stats,
    tokens: *const u32,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| logprobs_back(grad_logits, grad_out, logits, stats, tokens, n, vocab))
}

fn entropy<F: Real>(
    out: *mut F,
    stats: *mut rk_row_stats,
    logits: *const F,
    n: usize,
    vocab: usize,
) -> Res<()> {
    let mut a = Args::new();
    let out = a.output("out", out, n)?;
    let stats_out = a.output("stats", stats, n)?;
    let logits = a.input("logits", logits, product("N·V", n, vocab)?)?;
    let mut s = std::vec![RowStats::default(); n];
    entropy_forward(out, &mut s, logits, vocab)?;
    write_stats(stats_out, &s);
    Ok(())
}

/// Entropy of each row's softmax, `out[n] = −Σ_v π_{n,v} log π_{n,v}` (`entropy_forward`; verl's
/// `entropy_from_logits`), and each row's statistics.
///
/// Shapes: `out`, `stats`: `(N)`; `logits`: `(N, V)`.
///
/// Errors: as `rk_logprobs_f32` (without the token checks).
///
/// # Safety
/// `out`, `stats` are null or hold `n` elements; `logits` is null or holds `n·vocab`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_entropy_f32(
    out: *mut f32,
    stats: *mut rk_row_stats,
    logits: *const f32,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| entropy(out, stats, logits, n, vocab))
}

/// `rk_entropy_f32` for `double`.
///
/// # Safety
/// As `rk_entropy_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_entropy_f64(
    out: *mut f64,
    stats: *mut rk_row_stats,
    logits: *const f64,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| entropy(out, stats, logits, n, vocab))
}

fn entropy_back<F: Real>(
    grad_logits: *mut F,
    grad_out: *const F,
    logits: *const F,
    stats: *const rk_row_stats,
    entropy: *const F,
    n: usize,
    vocab: usize,
) -> Res<()> {
    let mut a = Args::new();
    let nv = product("N·V", n, vocab)?;
    let grad_logits = a.output("grad_logits", grad_logits, nv)?;
    let grad_out = a.input("grad_out", grad_out, n)?;
    let logits = a.input("logits", logits, nv)?;
    let stats = to_core(a.input("stats", stats, n)?);
    let entropy = a.input("entropy", entropy, n)?;
    entropy_backward(grad_logits, grad_out, logits, &stats, entropy, vocab)?;
    Ok(())
}

/// Backward of `rk_entropy_f32`: **accumulates** `grad_out[n]·∂H_n/∂z_{n,v} =
/// −grad_out[n]·π_{n,v}·(log π_{n,v} + H_n)` into `grad_logits` (`entropy_backward`).
///
/// Shapes: `grad_logits`, `logits`: `(N, V)`; `grad_out`, `stats`, `entropy`: `(N)` from the
/// forward pass.
///
/// Errors: as `rk_logprobs_backward_f32`.
///
/// # Safety
/// `grad_logits` and `logits` are null or hold `n·vocab` elements; `grad_out`, `stats`, `entropy`
/// are null or hold `n`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_entropy_backward_f32(
    grad_logits: *mut f32,
    grad_out: *const f32,
    logits: *const f32,
    stats: *const rk_row_stats,
    entropy: *const f32,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| entropy_back(grad_logits, grad_out, logits, stats, entropy, n, vocab))
}

/// `rk_entropy_backward_f32` for `double`.
///
/// # Safety
/// As `rk_entropy_backward_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_entropy_backward_f64(
    grad_logits: *mut f64,
    grad_out: *const f64,
    logits: *const f64,
    stats: *const rk_row_stats,
    entropy: *const f64,
    n: usize,
    vocab: usize,
) -> rk_status {
    guard(|| entropy_back(grad_logits, grad_out, logits, stats, entropy, n, vocab))
}
