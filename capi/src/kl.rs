//! Per-token KL estimators with their exact gradients (`rewardkit_core::kl`).

use core::ffi::c_char;

use rewardkit_core::{KlEstimator, KlPenalty, Real};

use crate::common::name_and_params;
use crate::error::{Res, guard, rk_status};
use crate::ffi::{self, Args};
use crate::params::Params;
use crate::rk_param;

/// A KL penalty: estimator, straight-through switch and clamps (opaque; `rk_kl_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_kl {
    k32: KlPenalty<f32>,
    k64: KlPenalty<f64>,
}

/// The float type of an entry point, with its penalty.
pub(crate) trait Float: Real {
    fn penalty(h: &rk_kl) -> &KlPenalty<Self>;
}

impl Float for f32 {
    fn penalty(h: &rk_kl) -> &KlPenalty<Self> {
        &h.k32
    }
}

impl Float for f64 {
    fn penalty(h: &rk_kl) -> &KlPenalty<Self> {
        &h.k64
    }
}

/// Parses verl's KL name (`"k1"`/`"kl"`, `"abs"`, `"k2"`/`"mse"`, `"k3"`/`"low_var_kl"`, each with an
/// optional `+` for the straight-through form: value of `kX`, gradient of `k2`) into the estimator
/// and the switch.
pub(crate) fn parse_kl_name(name: &str) -> Res<(KlEstimator, bool)> {
    let p: KlPenalty<f64> = name.parse()?;
    Ok((p.estimator(), p.straight_through()))
}

/// A penalty with `preset`'s clamps and the clamp keys of `p` applied.
pub(crate) fn penalty<F: Real>(
    est: KlEstimator,
    straight_through: bool,
    preset: rewardkit_core::Preset,
    log_ratio_clamp: Option<Option<f64>>,
    value_clamp: Option<Option<f64>>,
) -> Res<KlPenalty<F>> {
    let mut k = KlPenalty::<F>::from_preset(preset, est).with_straight_through(straight_through);
    if let Some(c) = log_ratio_clamp {
        k = k.with_log_ratio_clamp(c.map(F::lit))?;
    }
    if let Some(c) = value_clamp {
        k = k.with_value_clamp(c.map(F::lit))?;
    }
    Ok(k)
}

/// Reads an optional bound key: absent → `None` (keep the preset's), `INFINITY` → `Some(None)`
/// (no clamp), a number → `Some(Some(x))`.
pub(crate) fn clamp_key(p: &mut Params<'_>, key: &'static str) -> Res<Option<Option<f64>>> {
    Ok(p.num(key)?
        .map(|v| if v == f64::INFINITY { None } else { Some(v) }))
}

/// Creates a KL penalty from verl's `kl_penalty` / `kl_loss_type` name: `"k1"` (`"kl"`), `"abs"`,
/// `"k2"` (`"mse"`), `"k3"` (`"low_var_kl"`), and the straight-through forms with a `+` suffix
/// (`"k3+"`: the `k3` value with the `k2` gradient).
///
/// Parameters (`rk_param`; all optional):
/// - `preset` (name): the clamps of `"rewardkit"` (default: `|d| <= 20` for `k3`), `"verl"` (also
///   the value `<= 10` for `k3`), `"trl"` (none), `"openrlhf"` (value in `±10`);
/// - `log_ratio_clamp`, `value_clamp` (numbers `> 0`, `INFINITY` for none): override the preset's.
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (estimator, preset or key); `RK_ERR_INVALID_PARAM` for a clamp
/// `<= 0` or NaN; `RK_ERR_NULL_POINTER`. On error `*out` is `NULL`.
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_kl_new(
    out: *mut *mut rk_kl,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "KL penalty")?;
        let (est, st) = parse_kl_name(name)?;
        let preset = p.preset()?;
        let lr = clamp_key(&mut p, "log_ratio_clamp")?;
        let vc = clamp_key(&mut p, "value_clamp")?;
        p.finish()?;
        let handle = rk_kl {
            k32: penalty(est, st, preset, lr, vc)?,
            k64: penalty(est, st, preset, lr, vc)?,
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees a KL penalty (null is a no-op).
///
/// # Safety
/// `kl` is null or a handle from `rk_kl_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_kl_free(kl: *mut rk_kl) {
    ffi::free_handle(kl);
}

fn forward<F: Float>(
    kl: *const rk_kl,
    out: *mut F,
    grad: *mut F,
    logp: *const F,
    ref_logp: *const F,
    old_logp: Option<*const F>,
    n: usize,
) -> Res<()> {
    let kl = F::penalty(ffi::handle("kl", kl)?);
    let mut a = Args::new();
    let out = a.output("out", out, n)?;
    let grad = a.output_opt("grad", grad, n)?;
    let logp = a.input("logp", logp, n)?;
    let ref_logp = a.input("ref_logp", ref_logp, n)?;
    match old_logp {
        None => kl.forward(out, grad, logp, ref_logp)?,
        Some(old) => {
            let old = a.input("old_logp", old, n)?;
            kl.importance_weighted(out, grad, logp, ref_logp, old)?;
        }
    }
    Ok(())
}

/// Per-token KL values and (if `grad` is not null) their derivatives with respect to `logp`
/// (`KlPenalty::forward`): `d = logp − ref_logp`, `k1 = d`, `abs = |d|`, `k2 = d²/2`,
/// `k3 = e^{−d} − 1 + d`, with the handle's clamps and straight-through switch.
///
/// Shapes: `out`, `grad`, `logp`, `ref_logp`: `(N)` with `N = n` (flatten `(B, T)`).
///
/// Errors: `RK_ERR_NON_FINITE` for NaN/∞ log-probabilities (the message names the first index);
/// `RK_ERR_OVERFLOW` when a value or derivative overflows on finite inputs; pointer checks.
///
/// # Safety
/// `kl` is null or a live handle; `out`, `grad` (optional), `logp`, `ref_logp` are null or hold
/// `n` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_kl_f32(
    kl: *const rk_kl,
    out: *mut f32,
    grad: *mut f32,
    logp: *const f32,
    ref_logp: *const f32,
    n: usize,
) -> rk_status {
    guard(|| forward(kl, out, grad, logp, ref_logp, None, n))
}

/// `rk_kl_f32` for `double`.
///
/// # Safety
/// As `rk_kl_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_kl_f64(
    kl: *const rk_kl,
    out: *mut f64,
    grad: *mut f64,
    logp: *const f64,
    ref_logp: *const f64,
    n: usize,
) -> rk_status {
    guard(|| forward(kl, out, grad, logp, ref_logp, None, n))
}

/// The importance-weighted (off-policy) KL `w·k` with `w = e^{logp − old_logp}` and its exact
/// derivative `w·(k + k')` (`KlPenalty::importance_weighted`; TRL's `use_bias_correction_kl`).
///
/// Shapes: `out`, `grad`, `logp`, `ref_logp`, `old_logp`: `(N)`.
///
/// Errors: as `rk_kl_f32`, plus `RK_ERR_OVERFLOW` when `w` overflows.
///
/// # Safety
/// As `rk_kl_f32`, and `old_logp` holds `n` readable elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_kl_importance_weighted_f32(
    kl: *const rk_kl,
    out: *mut f32,
    grad: *mut f32,
    logp: *const f32,
    ref_logp: *const f32,
    old_logp: *const f32,
    n: usize,
) -> rk_status {
    guard(|| forward(kl, out, grad, logp, ref_logp, Some(old_logp), n))
}

/// `rk_kl_importance_weighted_f32` for `double`.
///
/// # Safety
/// As `rk_kl_importance_weighted_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_kl_importance_weighted_f64(
    kl: *const rk_kl,
    out: *mut f64,
    grad: *mut f64,
    logp: *const f64,
    ref_logp: *const f64,
    old_logp: *const f64,
    n: usize,
) -> rk_status {
    guard(|| forward(kl, out, grad, logp, ref_logp, Some(old_logp), n))
}
