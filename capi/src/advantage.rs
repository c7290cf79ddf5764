//! Advantages by estimator name, with verl's shapes (`token_level_rewards`, `response_mask`,
//! group ids): `rewardkit_core::advantage`.

use core::ffi::c_char;
use std::vec;

use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, AdvantagePlan, Grpo, PlanSizes, Scale, grpo, sequence_sums,
};
use rewardkit_core::{AdvantageEstimator, Mask, Real};

use crate::common::{groups_opt, mask_bits, name_and_params};
use crate::error::{Failure, Res, guard, rk_status};
use crate::ffi::{self, Args, product};
use crate::groups::rk_groups;
use crate::rk_param;

/// An advantage estimator resolved with its configuration (opaque; `rk_advantage_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_advantage {
    estimator: AdvantageEstimator,
    plan32: AdvantagePlan<f32>,
    plan64: AdvantagePlan<f64>,
    grpo32: Option<Grpo<f32>>,
    grpo64: Option<Grpo<f64>>,
}

/// The float type of an entry point, with its parts of the handle.
pub(crate) trait Float: Real {
    fn plan(h: &rk_advantage) -> &AdvantagePlan<Self>;
    fn grpo(h: &rk_advantage) -> Option<&Grpo<Self>>;
}

impl Float for f32 {
    fn plan(h: &rk_advantage) -> &AdvantagePlan<Self> {
        &h.plan32
    }
    fn grpo(h: &rk_advantage) -> Option<&Grpo<Self>> {
        h.grpo32.as_ref()
    }
}

impl Float for f64 {
    fn plan(h: &rk_advantage) -> &AdvantagePlan<Self> {
        &h.plan64
    }
    fn grpo(h: &rk_advantage) -> Option<&Grpo<Self>> {
        h.grpo64.as_ref()
    }
}

/// The parameters of `rk_advantage_new`, read once.
#[derive(Clone, Copy, Debug)]
struct Settings {
    preset: rewardkit_core::Preset,
    gamma: Option<f64>,
    lambda: Option<f64>,
    norm_by_std: bool,
    scale: Scale,
    eps: Option<f64>,
    handle_zero_tail: bool,
    no_std_norm: bool,
}

fn config<F: Real>(s: &Settings) -> Res<AdvantageConfig<F>> {
    let mut c = AdvantageConfig::<F>::new(s.preset)
        .with_norm_by_std(s.norm_by_std)
        .with_scale(s.scale)
        .with_handle_zero_tail(s.handle_zero_tail)
        .with_no_std_norm(s.no_std_norm);
    if s.gamma.is_some() || s.lambda.is_some() {
        let gamma = s.gamma.map_or(c.gamma(), F::lit);
        let lambda = s.lambda.map_or(c.lambda(), F::lit);
        c = c.with_gamma_lambda(gamma, lambda)?;
    }
    if let Some(eps) = s.eps {
        c = c.with_eps(F::lit(eps))?;
    }
    Ok(c)
}

/// The GRPO parameters `rk_grpo_*` uses: the config's for `grpo`, without the std division for
/// `dr_grpo`; none for the other estimators.
fn grpo_params<F: Real>(est: AdvantageEstimator, c: &AdvantageConfig<F>) -> Res<Option<Grpo<F>>> {
    let p = c.grpo_params();
    Ok(match est {
        AdvantageEstimator::Grpo => Some(p),
        AdvantageEstimator::DrGrpo => Some(Grpo::new(Scale::None, p.eps(), p.singleton())?),
        _ => None,
    })
}

/// Creates an advantage estimator from verl's `algorithm.adv_estimator` name (`"gae"`, `"grpo"`,
/// `"dr_grpo"`, `"grpo_passk"`, `"rloo"`, `"reinforce_plus_plus"`, `"reinforce_plus_plus_baseline"`,
/// `"remax"`, `"opo"`, `"gpg"`, ...; OpenRLHF's and TRL's aliases too), resolved once into an
/// `AdvantagePlan` for `float` and for `double`.
///
/// Parameters (`rk_param`; all optional):
/// - `preset` (name): `"rewardkit"` (default), `"verl"`, `"trl"`, `"openrlhf"`;
/// - `gamma`, `lambda` (numbers in `[0, 1]`, default 1): GAE and discounted returns;
/// - `norm_by_std` (flag, default 1): verl's `norm_adv_by_std_in_grpo`;
/// - `scale` (name): TRL's `scale_rewards`, `"group"` (default), `"batch"`, `"none"`;
/// - `eps` (number `>= 0`): overrides the preset's epsilon;
/// - `handle_zero_tail` (flag, default 1): the optimal token baseline's;
/// - `no_std_norm` (flag, default 0): OpenRLHF's mean-only batch normalization.
///
/// Errors: `RK_ERR_NULL_POINTER` (`out`, `name`, or `params` with `n_params > 0`);
/// `RK_ERR_UNKNOWN_NAME` for an unknown estimator (the message lists every name), preset, scale
/// or key; `RK_ERR_INVALID_PARAM` for a value out of range. On error `*out` is `NULL`.
///
/// # Safety
/// `out` is null or writable for one pointer; `name` is null or a NUL-terminated string; `params`
/// is null or points to `n_params` readable `rk_param` whose strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_advantage_new(
    out: *mut *mut rk_advantage,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "advantage estimator")?;
        let estimator: AdvantageEstimator = name.parse()?;
        let settings = Settings {
            preset: p.preset()?,
            gamma: p.num("gamma")?,
            lambda: p.num("lambda")?,
            norm_by_std: p.flag_or("norm_by_std", true)?,
            scale: p.choice(
                "scale",
                &[
                    ("group", Scale::Group),
                    ("batch", Scale::Batch),
                    ("none", Scale::None),
                ],
                Scale::Group,
            )?,
            eps: p.num("eps")?,
            handle_zero_tail: p.flag_or("handle_zero_tail", true)?,
            no_std_norm: p.flag_or("no_std_norm", false)?,
        };
        p.finish()?;
        let (c32, c64) = (config::<f32>(&settings)?, config::<f64>(&settings)?);
        let handle = rk_advantage {
            estimator,
            plan32: AdvantagePlan::new(estimator, &c32)?,
            plan64: AdvantagePlan::new(estimator, &c64)?,
            grpo32: grpo_params(estimator, &c32)?,
            grpo64: grpo_params(estimator, &c64)?,
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees an advantage estimator (null is a no-op).
///
/// # Safety
/// `advantage` is null or a handle from `rk_advantage_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_advantage_free(advantage: *mut rk_advantage) {
    ffi::free_handle(advantage);
}

fn run_plan<F: Float>(
    est: *const rk_advantage,
    advantages: *mut F,
    returns: *mut F,
    token_rewards: *const F,
    mask: *const u8,
    groups: *const rk_groups,
    values: *const F,
    reward_baselines: *const F,
    batch: usize,
    seq_len: usize,
) -> Res<()> {
    let est = ffi::handle("advantage", est)?;
    let mut a = Args::new();
    let n = product("B·T", batch, seq_len)?;
    let adv = a.output("advantages", advantages, n)?;
    let ret = a.output("returns", returns, n)?;
    let rewards = a.input("token_rewards", token_rewards, n)?;
    let bits = mask_bits(&mut a, mask, batch, seq_len)?;
    let values = a.input_opt("values", values, n)?;
    let baselines = a.input_opt("reward_baselines", reward_baselines, batch)?;
    let groups = groups_opt(groups)?;
    let mut inputs = AdvantageInputs::new(rewards, Mask::new(&bits, seq_len)?);
    if let Some(g) = groups {
        inputs = inputs.with_groups(g);
    }
    if let Some(v) = values {
        inputs = inputs.with_values(v);
    }
    if let Some(b) = baselines {
        inputs = inputs.with_reward_baselines(b);
    }
    let plan = F::plan(est);
    let mut scratch = vec![0.0f64; plan.scratch_len(&PlanSizes::of(&inputs))];
    plan.run(adv, ret, &inputs, &mut scratch)?;
    Ok(())
}

/// Per-token advantages and returns of the handle's estimator (`AdvantagePlan::run`), verl's
/// `compute_advantage` for one batch.
///
/// Shapes: `advantages`, `returns`, `token_rewards`, `mask`, `values`: `(B, T)` row-major with
/// `B = batch`, `T = seq_len`; `reward_baselines`: `(B)`. An outcome reward sits on the last valid
/// token of its row. `mask` may be null (every token valid); `groups` (an index over `B` rows),
/// `values` (GAE's critic values) and `reward_baselines` (ReMax's greedy rewards) may be null
/// when the estimator does not read them. Masked positions of the inputs are never read; under the
/// rewardkit preset masked positions of both outputs are 0.
///
/// Errors: those of `AdvantagePlan::run`: `RK_ERR_MISSING_INPUT` for a null input the estimator
/// needs (`"groups"`, `"values"`, ...), `RK_ERR_LENGTH_MISMATCH` for groups over another number
/// of rows, `RK_ERR_NON_FINITE` for NaN/∞ at a valid position, `RK_ERR_GROUP_TOO_SMALL`,
/// `RK_ERR_TOO_FEW_VALID`, `RK_ERR_OVERFLOW`; plus the pointer checks. Allocates `O(B + G)`
/// scratch per call (`O(T)` for the optimal token baseline).
///
/// # Safety
/// `advantage` and `groups` are null or live handles; every non-null buffer holds the elements
/// its shape gives (outputs writable, inputs readable); `mask` bytes are readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_advantages_f32(
    advantage: *const rk_advantage,
    advantages: *mut f32,
    returns: *mut f32,
    token_rewards: *const f32,
    mask: *const u8,
    groups: *const rk_groups,
    values: *const f32,
    reward_baselines: *const f32,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        run_plan(
            advantage,
            advantages,
            returns,
            token_rewards,
            mask,
            groups,
            values,
            reward_baselines,
            batch,
            seq_len,
        )
    })
}

/// `rk_advantages_f32` for `double`.
///
/// # Safety
/// As `rk_advantages_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_advantages_f64(
    advantage: *const rk_advantage,
    advantages: *mut f64,
    returns: *mut f64,
    token_rewards: *const f64,
    mask: *const u8,
    groups: *const rk_groups,
    values: *const f64,
    reward_baselines: *const f64,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| {
        run_plan(
            advantage,
            advantages,
            returns,
            token_rewards,
            mask,
            groups,
            values,
            reward_baselines,
            batch,
            seq_len,
        )
    })
}

fn advantages_seq<F: Float>(
    est: *const rk_advantage,
    out: *mut F,
    token_rewards: *const F,
    mask: *const u8,
    groups: *const rk_groups,
    batch: usize,
    seq_len: usize,
) -> Res<()> {
    let est = ffi::handle("advantage", est)?;
    let mut a = Args::new();
    let n = product("B·T", batch, seq_len)?;
    let out = a.output("out", out, batch)?;
    let rewards = a.input("token_rewards", token_rewards, n)?;
    let bits = mask_bits(&mut a, mask, batch, seq_len)?;
    let mut inputs = AdvantageInputs::new(rewards, Mask::new(&bits, seq_len)?);
    if let Some(g) = groups_opt(groups)? {
        inputs = inputs.with_groups(g);
    }
    let plan = F::plan(est);
    let mut scratch = vec![0.0f64; plan.scratch_len(&PlanSizes::of(&inputs))];
    plan.run_per_sequence(out, &inputs, &mut scratch)?;
    Ok(())
}

/// One advantage per row for a per-sequence estimator (`AdvantagePlan::run_per_sequence`): the
/// value every valid token of the row gets from `rk_advantages_f32`, without the `(B, T)`
/// broadcast. For scalar rewards pass them as `token_rewards` with `seq_len = 1` and a null mask.
///
/// Shapes: `out`: `(B)`; `token_rewards`, `mask`: `(B, T)`; `groups` over `B` rows (null for
/// estimators without groups).
///
/// Errors: as `rk_advantages_f32`, plus `RK_ERR_INVALID_PARAM` (`plan`) for a token-level
/// estimator (`gae`, `reinforce_plus_plus`, `remax`, the optimal token baselines).
///
/// # Safety
/// As `rk_advantages_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_advantages_seq_f32(
    advantage: *const rk_advantage,
    out: *mut f32,
    token_rewards: *const f32,
    mask: *const u8,
    groups: *const rk_groups,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| advantages_seq(advantage, out, token_rewards, mask, groups, batch, seq_len))
}

/// `rk_advantages_seq_f32` for `double`.
///
/// # Safety
/// As `rk_advantages_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_advantages_seq_f64(
    advantage: *const rk_advantage,
    out: *mut f64,
    token_rewards: *const f64,
    mask: *const u8,
    groups: *const rk_groups,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| advantages_seq(advantage, out, token_rewards, mask, groups, batch, seq_len))
}

fn grpo_call<F: Float>(
    est: *const rk_advantage,
    out: *mut F,
    scores: *const F,
    groups: *const rk_groups,
    n: usize,
) -> Res<()> {
    let est = ffi::handle("advantage", est)?;
    let Some(params) = F::grpo(est) else {
        return Err(Failure::invalid(std::format!(
            "rk_grpo needs a `grpo` or `dr_grpo` handle, got `{}`",
            est.estimator
        )));
    };
    let groups = ffi::handle("groups", groups)?;
    let mut a = Args::new();
    let out = a.output("out", out, n)?;
    let scores = a.input("scores", scores, n)?;
    grpo(out, scores, &groups.index, params)?;
    Ok(())
}

/// GRPO advantages of scalar rewards, `Aᵢ = (Rᵢ − mean_g)/(std_g + ε)` (`Rᵢ − mean_g` for a
/// `dr_grpo` handle): the plain function `rewardkit_core::advantage::grpo` with the handle's GRPO
/// parameters (`AdvantageConfig::grpo_params`: the preset's epsilon and singleton rule, `scale`,
/// `norm_by_std`, `eps`). For a preset's whole pipeline (TRL's NaN semantics) use
/// `rk_advantages_seq_f32`.
///
/// Shapes: `out`, `scores`: `(B)` with `B = n`; `groups` over `B` rows (required).
///
/// Errors: `RK_ERR_INVALID_ARGUMENT` for a handle of another estimator; `RK_ERR_NULL_POINTER`;
/// `RK_ERR_LENGTH_MISMATCH` (`scores`) when `groups` has another number of rows;
/// `RK_ERR_NON_FINITE` for a NaN/∞ score; `RK_ERR_GROUP_TOO_SMALL` for a singleton under the
/// OpenRLHF preset; `RK_ERR_OVERFLOW`.
///
/// # Safety
/// `advantage` and `groups` are null or live handles; `out` and `scores` are null or hold `n`
/// elements (writable, readable).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_grpo_f32(
    advantage: *const rk_advantage,
    out: *mut f32,
    scores: *const f32,
    groups: *const rk_groups,
    n: usize,
) -> rk_status {
    guard(|| grpo_call(advantage, out, scores, groups, n))
}

/// `rk_grpo_f32` for `double`.
///
/// # Safety
/// As `rk_grpo_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_grpo_f64(
    advantage: *const rk_advantage,
    out: *mut f64,
    scores: *const f64,
    groups: *const rk_groups,
    n: usize,
) -> rk_status {
    guard(|| grpo_call(advantage, out, scores, groups, n))
}

fn seq_sums<F: Real>(out: *mut F, x: *const F, batch: usize, seq_len: usize) -> Res<()> {
    let mut a = Args::new();
    let n = product("B·T", batch, seq_len)?;
    let out = a.output("out", out, batch)?;
    let x = a.input("x", x, n)?;
    sequence_sums(out, x, seq_len)?;
    Ok(())
}

/// Per-row sums of per-token values, `outᵢ = Σₜ x_{i,t}` in `double` (verl's
/// `token_level_rewards.sum(-1)`; `rewardkit_core::advantage::sequence_sums`).
///
/// Shapes: `out`: `(B)`; `x`: `(B, T)`.
///
/// Errors: `RK_ERR_BAD_SHAPE` for `T = 0`; `RK_ERR_NON_FINITE`; `RK_ERR_OVERFLOW`; pointer checks.
///
/// # Safety
/// `out` holds `batch` writable and `x` `batch·seq_len` readable elements (or is null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_sequence_sums_f32(
    out: *mut f32,
    x: *const f32,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| seq_sums(out, x, batch, seq_len))
}

/// `rk_sequence_sums_f32` for `double`.
///
/// # Safety
/// As `rk_sequence_sums_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_sequence_sums_f64(
    out: *mut f64,
    x: *const f64,
    batch: usize,
    seq_len: usize,
) -> rk_status {
    guard(|| seq_sums(out, x, batch, seq_len))
}
