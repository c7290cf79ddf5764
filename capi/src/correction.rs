//! Importance-sampling corrections for the rollout/trainer mismatch (TIS, MIS/IcePop, sequence
//! modes; `rewardkit_core::loss::correction`) and verl's rollout rejection sampling
//! (`rewardkit_core::loss::rejection`).

use core::ffi::c_char;
use std::vec::Vec;

use rewardkit_core::loss::{
    IsCorrection, IsMode, RejectionRule, RejectionStats, RejectionSummary, RsMode, is_weights,
    rejection_mask,
};
use rewardkit_core::stats::Summary;
use rewardkit_core::{Error, Mask, Real};

use crate::common::{mask_bits, name_and_params};
use crate::error::{Res, guard, rk_status};
use crate::ffi::{self, Args, product};
use crate::kl::clamp_key;
use crate::rk_param;

/// A configured importance-sampling correction (opaque; `rk_is_correction_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_is_correction {
    c32: IsCorrection<f32>,
    c64: IsCorrection<f64>,
}

/// A configured rollout rejection rule (opaque; `rk_rejection_rule_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_rejection_rule {
    r32: RejectionRule<f32>,
    r64: RejectionRule<f64>,
}

/// The float type of an entry point, with its configurations.
trait Float: Real {
    fn corr(h: &rk_is_correction) -> &IsCorrection<Self>;
    fn rule(h: &rk_rejection_rule) -> &RejectionRule<Self>;
}

impl Float for f32 {
    fn corr(h: &rk_is_correction) -> &IsCorrection<Self> {
        &h.c32
    }
    fn rule(h: &rk_rejection_rule) -> &RejectionRule<Self> {
        &h.r32
    }
}

impl Float for f64 {
    fn corr(h: &rk_is_correction) -> &IsCorrection<Self> {
        &h.c64
    }
    fn rule(h: &rk_rejection_rule) -> &RejectionRule<Self> {
        &h.r64
    }
}

fn build_is<F: Real>(
    preset: rewardkit_core::Preset,
    mode: IsMode,
    lo: f64,
    hi: f64,
    log_clamp: Option<Option<f64>>,
    batch_normalize: bool,
) -> Res<IsCorrection<F>> {
    let mut c = IsCorrection::<F>::from_preset(preset, mode, F::lit(lo), F::lit(hi))?;
    if let Some(clamp) = log_clamp {
        c = c.with_log_clamp(clamp.map(F::lit))?;
    }
    Ok(c.with_batch_normalize(batch_normalize))
}

/// Creates an importance-sampling correction from its mode name (`IsMode`): `"token_truncate"`
/// (`"tis"`; verl `rollout_is="token"`), `"token_mask"` (`"icepop"`; MIS), `"sequence_truncate"`
/// (verl `rollout_is="sequence"`), `"sequence_mask"` (TRL's default), `"seq-mask-tis"`
/// (OpenRLHF).
///
/// Parameters (`rk_param`):
/// - `threshold_hi` (required, `> 0`): the upper ratio threshold (verl
///   `rollout_is_threshold`, 2 for TIS; TRL 3; OpenRLHF 5);
/// - `threshold_lo` (default 0, in `[0, threshold_hi]`);
/// - `preset` (name): `"verl"` clamps `d` to `±20` before `exp` and divides the
///   batch-normalization mean by `count + 1e-8`; the others (default `"rewardkit"`) do neither;
/// - `log_clamp` (`> 0`, `INFINITY` for none): overrides the preset's clamp on `d`;
/// - `batch_normalize` (flag, default 0): weights divided by their batch mean (verl
///   `rollout_is_batch_normalize`).
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (mode, preset, key); `RK_ERR_MISSING_INPUT` (`threshold_hi`);
/// `RK_ERR_INVALID_PARAM` for thresholds or a clamp out of range; `RK_ERR_NULL_POINTER`. On
/// error `*out` is `NULL`.
///
/// Citation: Yao et al. (2025), *Your efficient RL framework secretly brings you off-policy RL
/// training* (TIS); IcePop, arXiv:2510.18855; verl `rollout_corr_helper.py`; TRL
/// `grpo_trainer.py`; OpenRLHF `loss.py`.
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_is_correction_new(
    out: *mut *mut rk_is_correction,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(
            &mut a,
            name,
            params,
            n_params,
            "importance-sampling correction",
        )?;
        let mode: IsMode = name.parse()?;
        let preset = p.preset()?;
        let hi = p.num("threshold_hi")?;
        let lo = p.num_or("threshold_lo", 0.0)?;
        let log_clamp = clamp_key(&mut p, "log_clamp")?;
        let norm = p.flag_or("batch_normalize", false)?;
        p.finish()?;
        let hi = hi.ok_or(Error::MissingInput {
            what: "threshold_hi",
        })?;
        let handle = rk_is_correction {
            c32: build_is(preset, mode, lo, hi, log_clamp, norm)?,
            c64: build_is(preset, mode, lo, hi, log_clamp, norm)?,
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees an importance-sampling correction (null is a no-op).
///
/// # Safety
/// `correction` is null or a handle from `rk_is_correction_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_is_correction_free(correction: *mut rk_is_correction) {
    ffi::free_handle(correction);
}

#[expect(
    clippy::too_many_arguments,
    reason = "the C signature: handle, outputs, inputs, sizes"
)]
fn is_call<F: Float>(
    corr: *const rk_is_correction,
    out: *mut F,
    n_zeroed: *mut usize,
    train_logp: *const F,
    rollout_logp: *const F,
    mask: *const u8,
    batch: usize,
    seq_len: usize,
) -> Res<()> {
    let corr = F::corr(ffi::handle("correction", corr)?);
    let mut a = Args::new();
    let n = product("B·T", batch, seq_len)?;
    let out = a.output("out", out, n)?;
    let zeroed = if n_zeroed.is_null() {
        None
    } else {
        Some(a.output_one("n_zeroed", n_zeroed)?)
    };
    let train = a.input("train_logp", train_logp, n)?;
    let rollout = a.input("rollout_logp", rollout_logp, n)?;
    let bits = mask_bits(&mut a, mask, batch, seq_len)?;
    let z = is_weights(out, train, rollout, Mask::new(&bits, seq_len)?, corr)?;
    if let Some(zeroed) = zeroed {
        *zeroed = z;
    }
    Ok(())
}

/// The importance weights of a correction over a `(B, T)` batch (`rewardkit_core::loss::
/// is_weights`): detached per-token weights (0 at masked positions), to pass as the `weights` of
/// `rk_policy_loss_f32` (multiplied with any other weights). `*n_zeroed` (if not null) receives
/// the number of valid tokens whose weight is 0 (masked out by the correction).
///
/// Definition (`d = train_logp − rollout_logp`, verl's `old_log_prob − rollout_log_prob`): see
/// `rk_is_correction_new` and `IsMode`; for example `token_truncate`: `clamp(e^d, lo, hi)`.
///
/// Shapes: `out`, `train_logp`, `rollout_logp`, `mask`: `(B, T)` (`mask` may be null: all valid).
///
/// Errors: `RK_ERR_NON_FINITE` for NaN/∞ log-probabilities at a valid position;
/// `RK_ERR_OVERFLOW` for a `seq-mask-tis` token weight beyond the float range; pointer checks.
///
/// # Safety
/// `correction` is null or a live handle; `n_zeroed` is null or writable; every non-null buffer
/// holds the elements its shape gives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_is_weights_f32(
    correction: *const rk_is_correction,
    out: *mut f32,
    n_zeroed: *mut usize,
    train_logp: *const f32,
    rollout_logp: *const f32,
    mask: *const u8,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        is_call(
            correction,
            out,
            n_zeroed,
            train_logp,
            rollout_logp,
            mask,
            batch,
            seq_len,
        )
    })
}

/// `rk_is_weights_f32` for `double`.
///
/// # Safety
/// As `rk_is_weights_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_is_weights_f64(
    correction: *const rk_is_correction,
    out: *mut f64,
    n_zeroed: *mut usize,
    train_logp: *const f64,
    rollout_logp: *const f64,
    mask: *const u8,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        is_call(
            correction,
            out,
            n_zeroed,
            train_logp,
            rollout_logp,
            mask,
            batch,
            seq_len,
        )
    })
}

fn build_rule<F: Real>(
    preset: rewardkit_core::Preset,
    mode: RsMode,
    lower: Option<f64>,
    upper: f64,
    len_eps: Option<f64>,
) -> Res<RejectionRule<F>> {
    let mut r = RejectionRule::<F>::from_preset(preset, mode, lower.map(F::lit), F::lit(upper))?;
    if let Some(e) = len_eps {
        r = r.with_len_eps(e)?;
    }
    Ok(r)
}

/// Creates a rollout rejection rule from verl's `rollout_rs` option name (`RsMode`):
/// `"token_k1"`, `"token_k2"`, `"token_k3"`, `"seq_sum_k1"` … `"seq_sum_k3"`, `"seq_mean_k1"` …
/// `"seq_mean_k3"`, `"seq_max_k2"`, `"seq_max_k3"`.
///
/// Parameters (`rk_param`):
/// - `upper` (required, `> 0`): for `k1`, the upper ratio bound; for `k2`/`k3`, the bound on the
///   statistic (verl `rollout_rs_threshold`, or the part after `_` of `"lower_upper"`);
/// - `lower` (`k1` only; `> 0`, at most `upper`; default `1/upper`);
/// - `preset` (name): `"verl"` divides row means by `L + 1e-8` (its `masked_mean`); the others
///   (default `"rewardkit"`) by `L`;
/// - `len_eps` (`>= 0`): overrides that `ε`.
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (option, preset, key); `RK_ERR_MISSING_INPUT` (`upper`);
/// `RK_ERR_INVALID_PARAM` for thresholds out of range, or a `lower` with `k2`/`k3`;
/// `RK_ERR_NULL_POINTER`. On error `*out` is `NULL`.
///
/// Citation: verl `rollout_corr_helper.py` (`compute_rollout_rejection_mask`).
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_rejection_rule_new(
    out: *mut *mut rk_rejection_rule,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "rejection rule")?;
        let mode: RsMode = name.parse()?;
        let preset = p.preset()?;
        let upper = p.num("upper")?;
        let lower = p.num("lower")?;
        let len_eps = p.num("len_eps")?;
        p.finish()?;
        let upper = upper.ok_or(Error::MissingInput { what: "upper" })?;
        let handle = rk_rejection_rule {
            r32: build_rule(preset, mode, lower, upper, len_eps)?,
            r64: build_rule(preset, mode, lower, upper, len_eps)?,
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees a rejection rule (null is a no-op).
///
/// # Safety
/// `rule` is null or a handle from `rk_rejection_rule_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_rejection_rule_free(rule: *mut rk_rejection_rule) {
    ffi::free_handle(rule);
}

/// Count, sum, mean, `Σ(x − mean)²`, min and max of a set of values
/// (`rewardkit_core::stats::Summary`; the standard deviation is `sqrt(m2 / count)`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_summary {
    /// Number of values `n`.
    pub count: usize,
    /// `Σx`.
    pub sum: f64,
    /// `Σx / n` (0 for `n = 0`).
    pub mean: f64,
    /// `Σ(x − mean)²`.
    pub m2: f64,
    /// Smallest value (`+∞` for `n = 0`).
    pub min: f64,
    /// Largest value (`−∞` for `n = 0`).
    pub max: f64,
}

impl From<Summary> for rk_summary {
    fn from(s: Summary) -> Self {
        Self {
            count: s.count,
            sum: s.sum,
            mean: s.mean,
            m2: s.m2,
            min: s.min,
            max: s.max,
        }
    }
}

/// What one rejection rule saw over the input mask (`rewardkit_core::loss::RejectionStats`,
/// verl's per-option metrics).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_rejection_stats {
    /// The per-token statistic over valid tokens (sequence levels: the row statistic on each of
    /// its tokens).
    pub tokens: rk_summary,
    /// The per-row statistic over non-empty rows (token level: the row mean).
    pub seqs: rk_summary,
    /// Units (tokens, or rows at sequence level) above the upper bound.
    pub above: usize,
    /// Units below the lower bound (`k1` only).
    pub below: usize,
    /// Valid tokens this rule rejects.
    pub rejected_tokens: usize,
    /// Non-empty rows with at least one token this rule rejects.
    pub rejected_seqs: usize,
}

impl From<RejectionStats> for rk_rejection_stats {
    fn from(s: RejectionStats) -> Self {
        Self {
            tokens: s.tokens.into(),
            seqs: s.seqs.into(),
            above: s.above,
            below: s.below,
            rejected_tokens: s.rejected_tokens,
            rejected_seqs: s.rejected_seqs,
        }
    }
}

/// The combined outcome of all rules (`rewardkit_core::loss::RejectionSummary`): verl's
/// `rollout_rs_masked_fraction` is `rejected_tokens / (tokens + 1e-8)`,
/// `rollout_rs_seq_masked_fraction` is `rejected_seqs / rows`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_rejection_summary {
    /// Valid tokens of the input mask.
    pub tokens: usize,
    /// Valid tokens dropped.
    pub rejected_tokens: usize,
    /// Rows with a valid token.
    pub seqs: usize,
    /// Rows with a dropped token.
    pub rejected_seqs: usize,
    /// Rows.
    pub rows: usize,
}

impl From<RejectionSummary> for rk_rejection_summary {
    fn from(s: RejectionSummary) -> Self {
        Self {
            tokens: s.tokens,
            rejected_tokens: s.rejected_tokens,
            seqs: s.seqs,
            rejected_seqs: s.rejected_seqs,
            rows: s.rows,
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the C signature: handles, outputs, inputs, sizes"
)]
fn rs_call<F: Float>(
    rules: *const *const rk_rejection_rule,
    keep: *mut u8,
    stats: *mut rk_rejection_stats,
    summary: *mut rk_rejection_summary,
    train_logp: *const F,
    rollout_logp: *const F,
    mask: *const u8,
    n_rules: usize,
    batch: usize,
    seq_len: usize,
) -> Res<()> {
    let mut a = Args::new();
    let rules: Vec<RejectionRule<F>> = ffi::handles(&mut a, "rules", rules, n_rules)?
        .into_iter()
        .map(|r| *F::rule(r))
        .collect();
    let n = product("B·T", batch, seq_len)?;
    let keep = a.output("keep", keep, n)?;
    let stats = a.output_opt("stats", stats, n_rules)?;
    let summary = if summary.is_null() {
        None
    } else {
        Some(a.output_one("summary", summary)?)
    };
    let train = a.input("train_logp", train_logp, n)?;
    let rollout = a.input("rollout_logp", rollout_logp, n)?;
    let bits = mask_bits(&mut a, mask, batch, seq_len)?;
    let mut kept = std::vec![false; n];
    let mut st = std::vec![RejectionStats::EMPTY; n_rules];
    let s = rejection_mask(
        &mut kept,
        &mut st,
        train,
        rollout,
        Mask::new(&bits, seq_len)?,
        &rules,
    )?;
    for (k, &b) in keep.iter_mut().zip(&kept) {
        *k = u8::from(b);
    }
    if let Some(stats) = stats {
        for (o, s) in stats.iter_mut().zip(st) {
            *o = s.into();
        }
    }
    if let Some(summary) = summary {
        *summary = s.into();
    }
    Ok(())
}

/// verl's rollout rejection sampling over a `(B, T)` batch (`rewardkit_core::loss::
/// rejection_mask`): writes `keep` (bytes 0/1), the tokens of `mask` that every rule keeps —
/// the mask to give the loss and `rk_loss_parts_from_mask` — and, optionally, each rule's
/// statistics and the combined summary. All rules see the input mask (verl's comma-separated
/// options combine with a logical and).
///
/// Definition: with `d = clamp(rollout_logp − train_logp, ±20)` per token, a rule's statistic is
/// `k1 = d`, `k2 = d²/2` or `k3 = e^{−d} − 1 + d` per token, or its sum, mean or max over a row;
/// `k1` keeps `ln lower ≤ x ≤ ln upper`, `k2`/`k3` keep `x ≤ upper`; a rejected row drops all its
/// tokens. In verl's bypass mode `train_logp` is the current policy's `log_prob`.
///
/// Shapes: `rules`: `n_rules` handles (`n_rules` may be 0: `keep` = `mask`); `keep`,
/// `train_logp`, `rollout_logp`, `mask`: `(B, T)` (`mask` may be null: all valid); `stats`: null
/// or `n_rules` elements; `summary`: null or one.
///
/// Errors: `RK_ERR_NON_FINITE` for NaN/∞ log-probabilities at a valid position; pointer checks
/// (a null rule handle is `RK_ERR_NULL_POINTER`).
///
/// Citation: verl `rollout_corr_helper.py` (`compute_rollout_rejection_mask`,
/// `compute_rs_metrics`).
///
/// # Safety
/// `rules` is null (only with `n_rules == 0`) or holds `n_rules` pointers to live handles;
/// `stats` and `summary` are null or writable; every non-null buffer holds the elements its
/// shape gives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_rejection_mask_f32(
    rules: *const *const rk_rejection_rule,
    keep: *mut u8,
    stats: *mut rk_rejection_stats,
    summary: *mut rk_rejection_summary,
    train_logp: *const f32,
    rollout_logp: *const f32,
    mask: *const u8,
    n_rules: usize,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        rs_call(
            rules,
            keep,
            stats,
            summary,
            train_logp,
            rollout_logp,
            mask,
            n_rules,
            batch,
            seq_len,
        )
    })
}

/// `rk_rejection_mask_f32` for `double`.
///
/// # Safety
/// As `rk_rejection_mask_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_rejection_mask_f64(
    rules: *const *const rk_rejection_rule,
    keep: *mut u8,
    stats: *mut rk_rejection_stats,
    summary: *mut rk_rejection_summary,
    train_logp: *const f64,
    rollout_logp: *const f64,
    mask: *const u8,
    n_rules: usize,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        rs_call(
            rules,
            keep,
            stats,
            summary,
            train_logp,
            rollout_logp,
            mask,
            n_rules,
            batch,
            seq_len,
        )
    })
}
