//! Policy losses (parts and the gradient with respect to the log-probabilities), aggregation and
//! diagnostics (`rewardkit_core::loss`).

use core::ffi::c_char;

use rewardkit_core::loss::{
    Aggregation, LossParts, PolicyDiagnostics, PolicyInputs, PolicyLoss, PolicyLossKind, ValueLoss,
    entropy_upstream, policy_diagnostics, policy_loss, policy_loss_rng, value_loss,
};
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{KlEstimator, KlTerm, Mask, Preset, Real};

use crate::common::{mask_bits, name_and_params};
use crate::error::{Res, guard, rk_status};
use crate::ffi::{self, Args, product};
use crate::kl::{clamp_key, parse_kl_name, penalty};
use crate::rk_param;

/// Additive parts of a masked token loss (`rewardkit_core::loss::LossParts`): what a loss returns
/// instead of "the loss". Parts of disjoint rows (shards, micro-batches) add field by field; an
/// aggregation turns this shard's parts and the whole batch's into the value and the gradient
/// scale.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_loss_parts {
    /// `Σᵢ Σₜ mᵢₜ·ℓᵢₜ`.
    pub sum: f64,
    /// `Σᵢ (Σₜ mᵢₜ·ℓᵢₜ)/dᵢ` with the aggregation's row divisor `dᵢ` (rows without tokens add 0).
    pub seq_mean_sum: f64,
    /// Valid tokens `Σ Lᵢ`.
    pub tokens: usize,
    /// Rows with at least one valid token.
    pub seqs: usize,
    /// Rows, empty ones included.
    pub rows: usize,
}

impl From<LossParts> for rk_loss_parts {
    fn from(p: LossParts) -> Self {
        Self {
            sum: p.sum,
            seq_mean_sum: p.seq_mean_sum,
            tokens: p.tokens,
            seqs: p.seqs,
            rows: p.rows,
        }
    }
}

impl From<rk_loss_parts> for LossParts {
    fn from(p: rk_loss_parts) -> Self {
        Self {
            sum: p.sum,
            seq_mean_sum: p.seq_mean_sum,
            tokens: p.tokens,
            seqs: p.seqs,
            rows: p.rows,
        }
    }
}

/// PPO diagnostics of a policy-loss batch (`rewardkit_core::loss::PolicyDiagnostics`): sums that
/// add across shards; divide by `tokens` for the means (clip fraction, `ppo_kl`, approximate KL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_policy_diagnostics {
    /// Tokens clipped by the PPO clip.
    pub clipped: usize,
    /// Tokens bounded by the dual clip.
    pub clipped_lower: usize,
    /// `Σ −Δ`, `Δ = log π − log π_old` (verl's `ppo_kl` times `tokens`).
    pub neg_log_ratio_sum: f64,
    /// `Σ k3` of `KL(π_old ‖ π)` (the approximate KL times `tokens`).
    pub k3_sum: f64,
    /// `Σ r`, `r = e^Δ`.
    pub ratio_sum: f64,
    /// Smallest ratio (`+∞` without tokens).
    pub ratio_min: f64,
    /// Largest ratio (`−∞` without tokens).
    pub ratio_max: f64,
    /// Valid tokens.
    pub tokens: usize,
}

impl From<PolicyDiagnostics> for rk_policy_diagnostics {
    fn from(d: PolicyDiagnostics) -> Self {
        Self {
            clipped: d.clipped,
            clipped_lower: d.clipped_lower,
            neg_log_ratio_sum: d.neg_log_ratio_sum,
            k3_sum: d.k3_sum,
            ratio_sum: d.ratio_sum,
            ratio_min: d.ratio_min,
            ratio_max: d.ratio_max,
            tokens: d.tokens,
        }
    }
}

/// A configured policy loss (opaque; `rk_policy_loss_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_policy_loss {
    l32: PolicyLoss<f32>,
    l64: PolicyLoss<f64>,
}

/// A loss aggregation mode (opaque; `rk_aggregation_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_aggregation {
    agg: Aggregation,
}

/// The float type of an entry point, with its loss.
pub(crate) trait Float: Real {
    fn loss(h: &rk_policy_loss) -> &PolicyLoss<Self>;
}

impl Float for f32 {
    fn loss(h: &rk_policy_loss) -> &PolicyLoss<Self> {
        &h.l32
    }
}

impl Float for f64 {
    fn loss(h: &rk_policy_loss) -> &PolicyLoss<Self> {
        &h.l64
    }
}

/// The keys of `rk_policy_loss_new`, read once.
#[derive(Clone, Copy, Debug, Default)]
struct Settings {
    clip_low: Option<f64>,
    clip_high: Option<f64>,
    dual_clip: Option<Option<f64>>,
    truncation: Option<f64>,
    delta: Option<Option<f64>>,
    log_ratio_clamp: Option<Option<f64>>,
    seq_log_ratio_max: Option<Option<f64>>,
    tau_pos: Option<f64>,
    tau_neg: Option<f64>,
    cov_ratio: Option<f64>,
    cov_lb: Option<f64>,
    cov_ub: Option<f64>,
    kl_cov_coef: Option<f64>,
    dro_beta: Option<f64>,
    vespo: [Option<f64>; 4],
    len_eps: Option<f64>,
    entropy_coef: Option<f64>,
    kl: Option<(KlEstimator, bool)>,
    kl_coef: Option<f64>,
    kl_importance_weighted: bool,
    kl_log_ratio_clamp: Option<Option<f64>>,
    kl_value_clamp: Option<Option<f64>>,
}

fn or<F: Real>(given: Option<f64>, current: F) -> F {
    given.map_or(current, F::lit)
}

fn build<F: Real>(kind: PolicyLossKind, preset: Preset, s: &Settings) -> Res<PolicyLoss<F>> {
    let mut l = PolicyLoss::<F>::from_preset(preset, kind);
    if s.clip_low.is_some() || s.clip_high.is_some() {
        let (lo, hi) = l.clip();
        l = l.with_clip(or(s.clip_low, lo), or(s.clip_high, hi))?;
    }
    if let Some(c) = s.dual_clip {
        l = l.with_dual_clip(c.map(F::lit))?;
    }
    if let Some(c) = s.truncation {
        l = l.with_truncation(F::lit(c))?;
    }
    if let Some(d) = s.delta {
        l = l.with_delta(d.map(F::lit))?;
    }
    if let Some(c) = s.log_ratio_clamp {
        l = l.with_log_ratio_clamp(c.map(F::lit))?;
    }
    if let Some(c) = s.seq_log_ratio_max {
        l = l.with_seq_log_ratio_max(c.map(F::lit))?;
    }
    if s.tau_pos.is_some() || s.tau_neg.is_some() {
        let (p, n) = l.sapo_tau();
        l = l.with_sapo_tau(or(s.tau_pos, p), or(s.tau_neg, n))?;
    }
    if s.cov_ratio.is_some() || s.cov_lb.is_some() || s.cov_ub.is_some() {
        let (r, lb, ub) = l.cov();
        l = l.with_cov(or(s.cov_ratio, r), or(s.cov_lb, lb), or(s.cov_ub, ub))?;
    }
    if let Some(c) = s.kl_cov_coef {
        l = l.with_kl_cov_coef(F::lit(c))?;
    }
    if let Some(b) = s.dro_beta {
        l = l.with_dro_beta(F::lit(b))?;
    }
    if s.vespo.iter().any(Option::is_some) {
        let (kp, lp, kn, ln) = l.vespo();
        let [a, b, c, d] = s.vespo;
        l = l.with_vespo(or(a, kp), or(b, lp), or(c, kn), or(d, ln))?;
    }
    if let Some(e) = s.len_eps {
        l = l.with_len_eps(F::lit(e))?;
    }
    if let Some(c) = s.entropy_coef {
        l = l.with_entropy_coef(F::lit(c))?;
    }
    if let Some((est, st)) = s.kl {
        let coef = s
            .kl_coef
            .ok_or(rewardkit_core::Error::MissingInput { what: "kl_coef" })?;
        let pen = penalty::<F>(est, st, preset, s.kl_log_ratio_clamp, s.kl_value_clamp)?;
        let term =
            KlTerm::new(pen, F::lit(coef))?.with_importance_weighted(s.kl_importance_weighted);
        l = l.with_kl(Some(term));
    }
    Ok(l)
}

/// Creates a policy loss from its name: `"vanilla"` (`"ppo"`, `"grpo"`), `"gspo"`, `"gspo_token"`
/// (verl's `gspo`), `"sapo"`, `"gpg"` (`"reinforce"`), `"clip_cov"`, `"kl_cov"`, `"geo_mean"`
/// (`"gmpo"`), `"cispo"`, `"dppo_tv"`, `"dppo_kl"`, `"dro"`, `"vespo"` (`PolicyLossKind`), with the
/// preset's defaults (`PolicyLoss::from_preset`) and the given overrides.
///
/// Parameters (`rk_param`; all optional; see `rewardkit_core::loss::PolicyLoss` for ranges):
/// - `preset` (name): `"rewardkit"` (default), `"verl"`, `"trl"`, `"openrlhf"`;
/// - `clip_low`, `clip_high`; `dual_clip` (`> 1`, `INFINITY` for none); `truncation` (DPPO);
///   `delta` (TRL, `INFINITY` for none); `log_ratio_clamp`, `seq_log_ratio_max` (`INFINITY` for
///   none); `sapo_tau_pos`, `sapo_tau_neg`; `cov_ratio`, `cov_lb`, `cov_ub` (Clip-Cov, KL-Cov);
///   `kl_cov_coef`; `dro_beta`; `vespo_k_pos`, `vespo_lambda_pos`, `vespo_k_neg`,
///   `vespo_lambda_neg`; `len_eps` (GMPO); `entropy_coef` (the entropy bonus coefficient);
/// - `kl` (name, as `rk_kl_new`: `"low_var_kl"`, `"k3+"`, ...) with `kl_coef` (required with
///   `kl`, `>= 0`), `kl_importance_weighted` (flag), `kl_log_ratio_clamp`, `kl_value_clamp`: a KL
///   term with the preset's clamps (verl's `use_kl_loss`, TRL's `beta`).
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (kind, preset, KL name, key); `RK_ERR_INVALID_PARAM` for a
/// value out of range; `RK_ERR_MISSING_INPUT` (`kl_coef`) for `kl` without a coefficient;
/// `RK_ERR_NULL_POINTER`. On error `*out` is `NULL`.
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_loss_new(
    out: *mut *mut rk_policy_loss,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "policy loss")?;
        let kind: PolicyLossKind = name.parse()?;
        let preset = p.preset()?;
        let s = Settings {
            clip_low: p.num("clip_low")?,
            clip_high: p.num("clip_high")?,
            dual_clip: clamp_key(&mut p, "dual_clip")?,
            truncation: p.num("truncation")?,
            delta: clamp_key(&mut p, "delta")?,
            log_ratio_clamp: clamp_key(&mut p, "log_ratio_clamp")?,
            seq_log_ratio_max: clamp_key(&mut p, "seq_log_ratio_max")?,
            tau_pos: p.num("sapo_tau_pos")?,
            tau_neg: p.num("sapo_tau_neg")?,
            cov_ratio: p.num("cov_ratio")?,
            cov_lb: p.num("cov_lb")?,
            cov_ub: p.num("cov_ub")?,
            kl_cov_coef: p.num("kl_cov_coef")?,
            dro_beta: p.num("dro_beta")?,
            vespo: [
                p.num("vespo_k_pos")?,
                p.num("vespo_lambda_pos")?,
                p.num("vespo_k_neg")?,
                p.num("vespo_lambda_neg")?,
            ],
            len_eps: p.num("len_eps")?,
            entropy_coef: p.num("entropy_coef")?,
            kl: p.text("kl")?.map(parse_kl_name).transpose()?,
            kl_coef: p.num("kl_coef")?,
            kl_importance_weighted: p.flag_or("kl_importance_weighted", false)?,
            kl_log_ratio_clamp: clamp_key(&mut p, "kl_log_ratio_clamp")?,
            kl_value_clamp: clamp_key(&mut p, "kl_value_clamp")?,
        };
        p.finish()?;
        let handle = rk_policy_loss {
            l32: build(kind, preset, &s)?,
            l64: build(kind, preset, &s)?,
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees a policy loss (null is a no-op).
///
/// # Safety
/// `loss` is null or a handle from `rk_policy_loss_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_loss_free(loss: *mut rk_policy_loss) {
    ffi::free_handle(loss);
}

/// Creates an aggregation from verl's `loss_agg_mode` or TRL's `loss_type`: `"token-mean"`,
/// `"token-sum"`, `"seq-mean-token-sum"`, `"seq-mean-token-sum-norm"`, `"seq-mean-token-mean"`,
/// `"grpo"`, `"dr_grpo"`, `"bnpo"`, `"dapo"`, `"luspo"`, ... (`Aggregation::from_preset`).
///
/// Parameters (`rk_param`; all optional): `preset` (name; `"verl"` adds `1e-8` to the row lengths
/// of `seq-mean-token-mean`); `horizon` (number `> 0`): the constant `H` of the `…-norm` modes
/// and `dr_grpo` (required by those modes at use, `RK_ERR_MISSING_INPUT` otherwise).
///
/// Errors: `RK_ERR_UNKNOWN_NAME`; `RK_ERR_INVALID_PARAM` for a horizon `<= 0` or not finite;
/// `RK_ERR_NULL_POINTER`. On error `*out` is `NULL`.
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_aggregation_new(
    out: *mut *mut rk_aggregation,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "aggregation")?;
        let preset = p.preset()?;
        let horizon = p.num("horizon")?;
        p.finish()?;
        let mut agg = Aggregation::from_preset(preset, name)?;
        if let Some(h) = horizon {
            agg = agg.with_horizon(h)?;
        }
        *out = ffi::into_handle(rk_aggregation { agg });
        Ok(())
    })
}

/// Frees an aggregation (null is a no-op).
///
/// # Safety
/// `aggregation` is null or a handle from `rk_aggregation_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_aggregation_free(aggregation: *mut rk_aggregation) {
    ffi::free_handle(aggregation);
}

/// The raw pointers of one policy-loss call.
#[derive(Clone, Copy)]
struct LossArgs<F> {
    logp: *const F,
    old_logp: *const F,
    advantages: *const F,
    mask: *const u8,
    ref_logp: *const F,
    weights: *const F,
    entropy: *const F,
    batch: usize,
    seq_len: usize,
    n_advantages: usize,
}

fn loss_call<F: Float>(
    loss: *const rk_policy_loss,
    agg: *const rk_aggregation,
    grad: *mut F,
    parts_out: *mut rk_loss_parts,
    x: LossArgs<F>,
    seed: Option<u64>,
) -> Res<()> {
    let loss = F::loss(ffi::handle("loss", loss)?);
    let agg = &ffi::handle("aggregation", agg)?.agg;
    let mut a = Args::new();
    let n = product("B·T", x.batch, x.seq_len)?;
    let grad = a.output("grad", grad, n)?;
    let parts_out = a.output_one("parts", parts_out)?;
    let logp = a.input("logp", x.logp, n)?;
    let old = a.input("old_logp", x.old_logp, n)?;
    let adv = a.input("advantages", x.advantages, x.n_advantages)?;
    let bits = mask_bits(&mut a, x.mask, x.batch, x.seq_len)?;
    let ref_logp = a.input_opt("ref_logp", x.ref_logp, n)?;
    let weights = a.input_opt("weights", x.weights, n)?;
    let entropy = a.input_opt("entropy", x.entropy, n)?;
    let mut inp = PolicyInputs::new(logp, old, adv, Mask::new(&bits, x.seq_len)?)?;
    if let Some(r) = ref_logp {
        inp = inp.with_ref(r)?;
    }
    if let Some(w) = weights {
        inp = inp.with_weights(w)?;
    }
    if let Some(e) = entropy {
        inp = inp.with_entropy(e)?;
    }
    let parts = match seed {
        None => policy_loss(grad, &inp, loss, agg)?,
        Some(s) => policy_loss_rng(grad, &inp, loss, agg, &mut SplitMix64::new(s))?,
    };
    *parts_out = parts.into();
    Ok(())
}

/// A policy loss over a `(B, T)` batch (`rewardkit_core::loss::policy_loss`): writes the gradient
/// of the loss *sums* with respect to `logp` into `grad` (0 at masked positions) and the additive
/// parts into `*parts`. Turn them into the loss and its gradient with `rk_aggregation_value_f32`
/// and `rk_aggregation_scale_grad_f32`, using the parts of the whole batch as `total`.
///
/// Per valid token: `ℓ = w·policy(kind) + kl_coef·k(logp, ref_logp) − entropy_coef·H`.
///
/// Shapes: `grad`, `logp`, `old_logp`, `mask`, `ref_logp`, `weights`, `entropy`: `(B, T)`;
/// `advantages`: `(B, T)` (per token) or `(B)` (per sequence), `n_advantages` elements. `mask`
/// may be null (all valid); `ref_logp` (needed with a KL term), `weights` (detached per-token
/// weights such as IS corrections, `>= 0`) and `entropy` (needed with an entropy coefficient) may
/// be null. The aggregation sets the row divisor of `seq_mean_sum`.
///
/// Errors: `RK_ERR_LENGTH_MISMATCH` (`advantages` neither `B` nor `B·T`); `RK_ERR_NON_FINITE`
/// for NaN/∞ at a valid position of an input the loss reads; `RK_ERR_MISSING_INPUT` (`ref_logp`
/// with a KL term; `rng` for `clip_cov`: use `rk_policy_loss_rng_f32`); `RK_ERR_OVERFLOW`; pointer
/// checks.
///
/// # Safety
/// `loss` and `aggregation` are null or live handles; `parts` is null or writable; every non-null
/// buffer holds the elements its shape gives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_loss_f32(
    loss: *const rk_policy_loss,
    aggregation: *const rk_aggregation,
    grad: *mut f32,
    parts: *mut rk_loss_parts,
    logp: *const f32,
    old_logp: *const f32,
    advantages: *const f32,
    mask: *const u8,
    ref_logp: *const f32,
    weights: *const f32,
    entropy: *const f32,
    batch: usize,
    seq_len: usize,
    n_advantages: usize,
) -> rk_status {
    let x = LossArgs {
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        weights,
        entropy,
        batch,
        seq_len,
        n_advantages,
    };
    guard(|| loss_call(loss, aggregation, grad, parts, x, None))
}

/// `rk_policy_loss_f32` for `double`.
///
/// # Safety
/// As `rk_policy_loss_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_loss_f64(
    loss: *const rk_policy_loss,
    aggregation: *const rk_aggregation,
    grad: *mut f64,
    parts: *mut rk_loss_parts,
    logp: *const f64,
    old_logp: *const f64,
    advantages: *const f64,
    mask: *const u8,
    ref_logp: *const f64,
    weights: *const f64,
    entropy: *const f64,
    batch: usize,
    seq_len: usize,
    n_advantages: usize,
) -> rk_status {
    let x = LossArgs {
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        weights,
        entropy,
        batch,
        seq_len,
        n_advantages,
    };
    guard(|| loss_call(loss, aggregation, grad, parts, x, None))
}

/// `rk_policy_loss_f32` with a random source, `SplitMix64` seeded with `seed`
/// (`policy_loss_rng`): required by `clip_cov` (which tokens get detached), ignored by the other
/// kinds. The same seed gives the same selection.
///
/// # Safety
/// As `rk_policy_loss_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_loss_rng_f32(
    loss: *const rk_policy_loss,
    aggregation: *const rk_aggregation,
    grad: *mut f32,
    parts: *mut rk_loss_parts,
    logp: *const f32,
    old_logp: *const f32,
    advantages: *const f32,
    mask: *const u8,
    ref_logp: *const f32,
    weights: *const f32,
    entropy: *const f32,
    batch: usize,
    seq_len: usize,
    n_advantages: usize,
    seed: u64,
) -> rk_status {
    let x = LossArgs {
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        weights,
        entropy,
        batch,
        seq_len,
        n_advantages,
    };
    guard(|| loss_call(loss, aggregation, grad, parts, x, Some(seed)))
}

/// `rk_policy_loss_rng_f32` for `double`.
///
/// # Safety
/// As `rk_policy_loss_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_loss_rng_f64(
    loss: *const rk_policy_loss,
    aggregation: *const rk_aggregation,
    grad: *mut f64,
    parts: *mut rk_loss_parts,
    logp: *const f64,
    old_logp: *const f64,
    advantages: *const f64,
    mask: *const u8,
    ref_logp: *const f64,
    weights: *const f64,
    entropy: *const f64,
    batch: usize,
    seq_len: usize,
    n_advantages: usize,
    seed: u64,
) -> rk_status {
    let x = LossArgs {
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        weights,
        entropy,
        batch,
        seq_len,
        n_advantages,
    };
    guard(|| loss_call(loss, aggregation, grad, parts, x, Some(seed)))
}

fn diagnostics<F: Float>(
    loss: *const rk_policy_loss,
    out: *mut rk_policy_diagnostics,
    x: LossArgs<F>,
) -> Res<()> {
    let loss = F::loss(ffi::handle("loss", loss)?);
    let mut a = Args::new();
    let n = product("B·T", x.batch, x.seq_len)?;
    let out = a.output_one("out", out)?;
    let logp = a.input("logp", x.logp, n)?;
    let old = a.input("old_logp", x.old_logp, n)?;
    let adv = a.input("advantages", x.advantages, x.n_advantages)?;
    let bits = mask_bits(&mut a, x.mask, x.batch, x.seq_len)?;
    let inp = PolicyInputs::new(logp, old, adv, Mask::new(&bits, x.seq_len)?)?;
    *out = policy_diagnostics(&inp, loss)?.into();
    Ok(())
}

/// PPO diagnostics of a batch under the loss's clip range (`policy_diagnostics`): clipped tokens,
/// dual-clipped tokens, `Σ −Δ`, `Σ k3`, the ratio's sum and range.
///
/// Shapes: as `rk_policy_loss_f32` (without the optional inputs).
///
/// Errors: `RK_ERR_NON_FINITE` for NaN/∞ at a valid position; `RK_ERR_LENGTH_MISMATCH`; pointer
/// checks.
///
/// # Safety
/// As `rk_policy_loss_f32`; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_diagnostics_f32(
    loss: *const rk_policy_loss,
    out: *mut rk_policy_diagnostics,
    logp: *const f32,
    old_logp: *const f32,
    advantages: *const f32,
    mask: *const u8,
    batch: usize,
    seq_len: usize,
    n_advantages: usize,
) -> rk_status {
    let x = LossArgs {
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp: core::ptr::null(),
        weights: core::ptr::null(),
        entropy: core::ptr::null(),
        batch,
        seq_len,
        n_advantages,
    };
    guard(|| diagnostics(loss, out, x))
}

/// `rk_policy_diagnostics_f32` for `double`.
///
/// # Safety
/// As `rk_policy_diagnostics_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_policy_diagnostics_f64(
    loss: *const rk_policy_loss,
    out: *mut rk_policy_diagnostics,
    logp: *const f64,
    old_logp: *const f64,
    advantages: *const f64,
    mask: *const u8,
    batch: usize,
    seq_len: usize,
    n_advantages: usize,
) -> rk_status {
    let x = LossArgs {
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp: core::ptr::null(),
        weights: core::ptr::null(),
        entropy: core::ptr::null(),
        batch,
        seq_len,
        n_advantages,
    };
    guard(|| diagnostics(loss, out, x))
}

fn value_call<F: Real>(
    agg: *const rk_aggregation,
    out: *mut F,
    parts: *const rk_loss_parts,
    total: *const rk_loss_parts,
) -> Res<()> {
    let agg = &ffi::handle("aggregation", agg)?.agg;
    let mut a = Args::new();
    let out = a.output_one("value", out)?;
    let parts: LossParts = (*a.input_one("parts", parts)?).into();
    let total: LossParts = (*a.input_one("total", total)?).into();
    *out = agg.value::<F>(&parts, &total)?;
    Ok(())
}

/// This shard's share of the loss, `numerator(parts) / normalizer(total)` in `double`, rounded
/// once (`Aggregation::value`). With `parts == total` it is the whole batch's loss.
///
/// Errors: `RK_ERR_TOO_FEW_VALID` when `total` has no valid token / row the mode divides by;
/// `RK_ERR_MISSING_INPUT` (`horizon`) for a `…-norm` mode without one; `RK_ERR_OVERFLOW`;
/// `RK_ERR_NULL_POINTER`.
///
/// # Safety
/// `aggregation` is null or a live handle; `value` is null or writable; `parts` and `total` are
/// null or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_aggregation_value_f32(
    aggregation: *const rk_aggregation,
    value: *mut f32,
    parts: *const rk_loss_parts,
    total: *const rk_loss_parts,
) -> rk_status {
    guard(|| value_call(aggregation, value, parts, total))
}

/// `rk_aggregation_value_f32` for `double`.
///
/// # Safety
/// As `rk_aggregation_value_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_aggregation_value_f64(
    aggregation: *const rk_aggregation,
    value: *mut f64,
    parts: *const rk_loss_parts,
    total: *const rk_loss_parts,
) -> rk_status {
    guard(|| value_call(aggregation, value, parts, total))
}

fn scale_grad<F: Real>(
    agg: *const rk_aggregation,
    grad: *mut F,
    mask: *const u8,
    total: *const rk_loss_parts,
    batch: usize,
    seq_len: usize,
) -> Res<()> {
    let agg = &ffi::handle("aggregation", agg)?.agg;
    let mut a = Args::new();
    let n = product("B·T", batch, seq_len)?;
    let grad = a.output("grad", grad, n)?;
    let bits = mask_bits(&mut a, mask, batch, seq_len)?;
    let total: LossParts = (*a.input_one("total", total)?).into();
    agg.scale_grad(grad, Mask::new(&bits, seq_len)?, &total)?;
    Ok(())
}

/// Scales, in place, the gradient of the loss sums (what `rk_policy_loss_f32` wrote) into the
/// gradient of this shard's share of the aggregated loss: row `i` times `wᵢ / normalizer(total)`
/// (`Aggregation::scale_grad`). Masked positions are set to 0.
///
/// Shapes: `grad`, `mask`: `(B, T)` (`mask` may be null: all valid).
///
/// Errors: as `rk_aggregation_value_f32`, plus `RK_ERR_LENGTH_MISMATCH` and pointer checks.
///
/// # Safety
/// `aggregation` is null or a live handle; `grad` holds `B·T` writable elements; `mask` is null or
/// holds `B·T` bytes; `total` is null or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_aggregation_scale_grad_f32(
    aggregation: *const rk_aggregation,
    grad: *mut f32,
    mask: *const u8,
    total: *const rk_loss_parts,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| scale_grad(aggregation, grad, mask, total, batch, seq_len))
}

/// `rk_aggregation_scale_grad_f32` for `double`.
///
/// # Safety
/// As `rk_aggregation_scale_grad_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_aggregation_scale_grad_f64(
    aggregation: *const rk_aggregation,
    grad: *mut f64,
    mask: *const u8,
    total: *const rk_loss_parts,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| scale_grad(aggregation, grad, mask, total, batch, seq_len))
}

fn upstream<F: Real>(
    agg: *const rk_aggregation,
    out: *mut F,
    mask: *const u8,
    total: *const rk_loss_parts,
    coef: F,
    batch: usize,
    seq_len: usize,
) -> Res<()> {
    let agg = &ffi::handle("aggregation", agg)?.agg;
    let mut a = Args::new();
    let n = product("B·T", batch, seq_len)?;
    let out = a.output("out", out, n)?;
    let bits = mask_bits(&mut a, mask, batch, seq_len)?;
    let total: LossParts = (*a.input_one("total", total)?).into();
    entropy_upstream(out, Mask::new(&bits, seq_len)?, agg, &total, coef)?;
    Ok(())
}

/// The upstream gradient of the entropy bonus `−coef·H` with respect to each token's entropy,
/// scaled like the loss (`entropy_upstream`): feed it to `rk_entropy_backward_f32`.
///
/// Shapes: `out`, `mask`: `(B, T)` (`mask` may be null: all valid).
///
/// Errors: as `rk_aggregation_scale_grad_f32`; `RK_ERR_INVALID_PARAM` for a non-finite `coef`.
///
/// # Safety
/// As `rk_aggregation_scale_grad_f32`, with `out` in place of `grad`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_entropy_upstream_f32(
    aggregation: *const rk_aggregation,
    out: *mut f32,
    mask: *const u8,
    total: *const rk_loss_parts,
    coef: f32,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| upstream(aggregation, out, mask, total, coef, batch, seq_len))
}

/// `rk_entropy_upstream_f32` for `double`.
///
/// # Safety
/// As `rk_entropy_upstream_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_entropy_upstream_f64(
    aggregation: *const rk_aggregation,
    out: *mut f64,
    mask: *const u8,
    total: *const rk_loss_parts,
    coef: f64,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| upstream(aggregation, out, mask, total, coef, batch, seq_len))
}

/// The count parts of a batch from its mask alone (`LossParts::from_mask`: `sum = seq_mean_sum
/// = 0`): the normalizer's inputs, known before any loss of a micro-batch is computed. Add the
/// counts of every micro-batch for `total`.
///
/// Shapes: `mask`: `(B, T)` (null: all valid).
///
/// Errors: `RK_ERR_BAD_SHAPE` for `T = 0` with `B > 0`; pointer checks.
///
/// # Safety
/// `out` is null or writable; `mask` is null or holds `B·T` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_loss_parts_from_mask(
    out: *mut rk_loss_parts,
    mask: *const u8,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        let bits = mask_bits(&mut a, mask, batch, seq_len)?;
        *out = LossParts::from_mask(Mask::new(&bits, seq_len)?).into();
        Ok(())
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "the C signature: handle, outputs, inputs, clip, sizes"
)]
fn value_loss_call<F: Real>(
    agg: *const rk_aggregation,
    grad: *mut F,
    parts: *mut rk_loss_parts,
    values: *const F,
    old_values: *const F,
    returns: *const F,
    mask: *const u8,
    clip: F,
    batch: usize,
    seq_len: usize,
) -> Res<()> {
    let agg = &ffi::handle("aggregation", agg)?.agg;
    let loss = ValueLoss::new((clip.as_f64() != f64::INFINITY).then_some(clip))?;
    let mut a = Args::new();
    let n = product("B·T", batch, seq_len)?;
    let grad = a.output("grad", grad, n)?;
    let parts = a.output_one("parts", parts)?;
    let values = a.input("values", values, n)?;
    let old_values = a.input("old_values", old_values, n)?;
    let returns = a.input("returns", returns, n)?;
    let bits = mask_bits(&mut a, mask, batch, seq_len)?;
    let mask = Mask::new(&bits, seq_len)?;
    *parts = value_loss(grad, values, old_values, returns, mask, &loss, agg)?.into();
    Ok(())
}

/// The clipped value (critic) loss of PPO over a `(B, T)` batch (`rewardkit_core::loss::
/// value_loss`): per valid token `½·max((V − R)², (V_clip − R)²)`, `V_clip = V_old + clamp(V −
/// V_old, −c, c)` (verl `compute_value_loss`, OpenRLHF `ValueLoss`; both frameworks use this
/// form), or `½·(V − R)²` without a clip. Writes the gradient of the loss *sums* with respect to
/// `values` into `grad` (0 at masked positions; the clipped branch passes no gradient outside the
/// clip range) and the parts; finish with `rk_aggregation_value_f32` and
/// `rk_aggregation_scale_grad_f32` like a policy loss (verl passes its `loss_agg_mode`, OpenRLHF
/// uses `"token-mean"`).
///
/// `clip` is `c` (verl `cliprange_value`, OpenRLHF `value_clip`), `> 0`, or `INFINITY` for none.
///
/// Shapes: `grad`, `values`, `old_values`, `returns`, `mask`: `(B, T)` (`mask` may be null: all
/// valid).
///
/// Errors: `RK_ERR_INVALID_PARAM` for a clip `<= 0` or NaN; `RK_ERR_NON_FINITE` for NaN/∞ at a
/// valid position; `RK_ERR_OVERFLOW` when the loss overflows on finite inputs; pointer checks.
///
/// Citation: PPO, arXiv:1707.06347; verl `core_algos.py`; OpenRLHF `openrlhf/models/loss.py`.
///
/// # Safety
/// `aggregation` is null or a live handle; `parts` is null or writable; every non-null buffer
/// holds the elements its shape gives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_value_loss_f32(
    aggregation: *const rk_aggregation,
    grad: *mut f32,
    parts: *mut rk_loss_parts,
    values: *const f32,
    old_values: *const f32,
    returns: *const f32,
    mask: *const u8,
    clip: f32,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        value_loss_call(
            aggregation,
            grad,
            parts,
            values,
            old_values,
            returns,
            mask,
            clip,
            batch,
            seq_len,
        )
    })
}

/// `rk_value_loss_f32` for `double`.
///
/// # Safety
/// As `rk_value_loss_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_value_loss_f64(
    aggregation: *const rk_aggregation,
    grad: *mut f64,
    parts: *mut rk_loss_parts,
    values: *const f64,
    old_values: *const f64,
    returns: *const f64,
    mask: *const u8,
    clip: f64,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        value_loss_call(
            aggregation,
            grad,
            parts,
            values,
            old_values,
            returns,
            mask,
            clip,
            batch,
            seq_len,
        )
    })
}
