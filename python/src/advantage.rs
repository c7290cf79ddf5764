//! Advantages by name with verl's shapes, TRL's multi-reward block, OpenRLHF's pipeline, and the
//! masked statistics verl uses.

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, OpenRlhfAdvantage, OpenRlhfEstimator, Scale, TrlAggregation,
    openrlhf_advantages_and_returns, trl_grpo_advantages as core_trl,
};
use rewardkit_core::stats::{self, Whiten};
use rewardkit_core::{AdvantageEstimator, GroupIndex, Preset};

use crate::arrays::{
    Dt, Float, MaskBuf, check_shape, data, data_mut, dtype_of, groups_from, view, view_opt, write,
    zeros,
};
use crate::errors::{name_err, option_err, shape_err, to_py};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compute_advantage, m)?)?;
    m.add_function(wrap_pyfunction!(trl_grpo_advantages, m)?)?;
    m.add_function(wrap_pyfunction!(openrlhf_advantages, m)?)?;
    m.add_function(wrap_pyfunction!(masked_whiten, m)?)?;
    m.add_function(wrap_pyfunction!(masked_mean, m)?)?;
    m.add_function(wrap_pyfunction!(masked_var, m)?)?;
    m.add_function(wrap_pyfunction!(group_ids, m)?)?;
    m.add(
        "ADVANTAGE_ESTIMATORS",
        AdvantageEstimator::ALL
            .map(AdvantageEstimator::name)
            .to_vec(),
    )?;
    Ok(())
}

/// Parses a preset name (`rewardkit`, `verl`, `trl`, `openrlhf`).
pub(crate) fn preset(name: &str) -> PyResult<Preset> {
    name.parse().map_err(name_err)
}

const SCALES: &[&str] = &["group", "batch", "none"];

fn scale(s: &str) -> PyResult<Scale> {
    match s {
        "group" => Ok(Scale::Group),
        "batch" => Ok(Scale::Batch),
        "none" => Ok(Scale::None),
        _ => Err(option_err("scale_rewards", SCALES)),
    }
}

type Pair<'py, F> = (Bound<'py, PyArrayDyn<F>>, Bound<'py, PyArrayDyn<F>>);

/// Optional `(B, T)` token inputs of an estimator.
struct TokenExtras<'a, 'py> {
    values: Option<&'a Bound<'py, PyAny>>,
    reward_baselines: Option<&'a Bound<'py, PyAny>>,
    old_log_probs: Option<&'a Bound<'py, PyAny>>,
    sum_pi_squared: Option<&'a Bound<'py, PyAny>>,
    rollout_is_weights: Option<&'a Bound<'py, PyAny>>,
    components: Option<&'a Bound<'py, PyAny>>,
    component_weights: Option<&'a Bound<'py, PyAny>>,
}

fn advantage_impl<'py, F: Float>(
    py: Python<'py>,
    est: AdvantageEstimator,
    cfg: &AdvantageConfig<F>,
    rewards: &Bound<'py, PyAny>,
    mask: &MaskBuf<'py>,
    groups: Option<&GroupIndex<'static>>,
    x: &TokenExtras<'_, 'py>,
) -> PyResult<Pair<'py, F>> {
    let (b, t) = mask.bt("response_mask")?;
    let r = view::<F>(rewards, "token_level_rewards")?;
    check_shape("token_level_rewards", r.shape(), &[b, t])?;
    let tok = |o: Option<&Bound<'py, PyAny>>, name: &str| -> PyResult<_> {
        let v = view_opt::<F>(o, name)?;
        if let Some(v) = &v {
            check_shape(name, v.shape(), &[b, t])?;
        }
        Ok(v)
    };
    let values = tok(x.values, "values")?;
    let old = tok(x.old_log_probs, "old_log_probs")?;
    let spp = tok(x.sum_pi_squared, "sum_pi_squared")?;
    let isw = tok(x.rollout_is_weights, "rollout_is_weights")?;
    let base = view_opt::<F>(x.reward_baselines, "reward_baselines")?;
    if let Some(v) = &base {
        check_shape("reward_baselines", v.shape(), &[b])?;
    }
    let comps = view_opt::<F>(x.components, "components")?;
    let weights = view_opt::<F>(x.component_weights, "component_weights")?;
    if let Some(c) = &comps {
        let k = match c.shape() {
            [bb, k] if *bb == b => *k,
            s => {
                return Err(shape_err(
                    "components",
                    format!(
                        "`components` has shape {}, expected ({b}, K)",
                        crate::arrays::fmt_shape(s)
                    ),
                ));
            }
        };
        match &weights {
            Some(w) => check_shape("component_weights", w.shape(), &[k])?,
            None => {
                return Err(to_py(rewardkit_core::Error::MissingInput {
                    what: "component_weights",
                }));
            }
        }
    }
    let m = mask.mask("response_mask")?;
    let mut inputs = AdvantageInputs::new(data(&r, "token_level_rewards")?, m);
    if let Some(g) = groups {
        inputs = inputs.with_groups(g);
    }
    if let Some(v) = &values {
        inputs = inputs.with_values(data(v, "values")?);
    }
    if let Some(v) = &base {
        inputs = inputs.with_reward_baselines(data(v, "reward_baselines")?);
    }
    match (&old, &spp) {
        (Some(o), Some(s)) => {
            let w = match &isw {
                Some(w) => Some(data(w, "rollout_is_weights")?),
                None => None,
            };
            inputs =
                inputs.with_token_stats(data(o, "old_log_probs")?, data(s, "sum_pi_squared")?, w);
        }
        (None, None) => {}
        (None, Some(_)) => {
            return Err(to_py(rewardkit_core::Error::MissingInput {
                what: "old_log_probs",
            }));
        }
        (Some(_), None) => {
            return Err(to_py(rewardkit_core::Error::MissingInput {
                what: "sum_pi_squared",
            }));
        }
    }
    if let (Some(c), Some(w)) = (&comps, &weights) {
        inputs = inputs.with_components(data(c, "components")?, data(w, "component_weights")?);
    }
    let (adv, ret) = (zeros::<F>(py, &[b, t]), zeros::<F>(py, &[b, t]));
    {
        let (mut aw, mut rw) = (write(&adv)?, write(&ret)?);
        let (a, rr) = (data_mut(&mut aw)?, data_mut(&mut rw)?);
        py.detach(|| est.compute(a, rr, &inputs, cfg))
            .map_err(to_py)?;
    }
    Ok((adv, ret))
}

/// Advantages and returns of the estimator `estimator` (verl's `adv_estimator` names:
/// `ADVANTAGE_ESTIMATORS`), with verl's shapes.
///
/// `token_level_rewards`, `response_mask`: `(B, T)` (the mask may be bool, int or float; an
/// outcome reward sits on the last valid token); `index`: `(B)` group labels (uid strings or
/// integers, any order), or `num_generations` for contiguous groups of that size. Returns
/// `(advantages, returns)`, each `(B, T)` of the rewards' float type. `preset` selects the numerics
/// (`"rewardkit"`, `"verl"`, `"trl"`, `"openrlhf"`); the other keywords are verl's options.
#[pyfunction]
#[pyo3(signature = (estimator, token_level_rewards, response_mask, index=None, *, preset="rewardkit",
    norm_adv_by_std_in_grpo=true, epsilon=None, gamma=1.0, lam=1.0, values=None, reward_baselines=None,
    old_log_probs=None, sum_pi_squared=None, rollout_is_weights=None, components=None,
    component_weights=None, scale_rewards="group", handle_zero_tail=true, no_std_norm=false,
    num_generations=None))]
fn compute_advantage<'py>(
    py: Python<'py>,
    estimator: &str,
    token_level_rewards: &Bound<'py, PyAny>,
    response_mask: &Bound<'py, PyAny>,
    index: Option<&Bound<'py, PyAny>>,
    preset: &str,
    norm_adv_by_std_in_grpo: bool,
    epsilon: Option<f64>,
    gamma: f64,
    lam: f64,
    values: Option<&Bound<'py, PyAny>>,
    reward_baselines: Option<&Bound<'py, PyAny>>,
    old_log_probs: Option<&Bound<'py, PyAny>>,
    sum_pi_squared: Option<&Bound<'py, PyAny>>,
    rollout_is_weights: Option<&Bound<'py, PyAny>>,
    components: Option<&Bound<'py, PyAny>>,
    component_weights: Option<&Bound<'py, PyAny>>,
    scale_rewards: &str,
    handle_zero_tail: bool,
    no_std_norm: bool,
    num_generations: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let est: AdvantageEstimator = estimator.parse().map_err(name_err)?;
    let p = self::preset(preset)?;
    let sc = scale(scale_rewards)?;
    let mask = MaskBuf::new(response_mask, "response_mask")?;
    let (b, _) = mask.bt("response_mask")?;
    let groups = groups_from(index, num_generations, b)?;
    let x = TokenExtras {
        values,
        reward_baselines,
        old_log_probs,
        sum_pi_squared,
        rollout_is_weights,
        components,
        component_weights,
    };
    fn cfg<F: Float>(
        p: Preset,
        norm: bool,
        eps: Option<f64>,
        gamma: f64,
        lam: f64,
        sc: Scale,
        hzt: bool,
        nsn: bool,
    ) -> PyResult<AdvantageConfig<F>> {
        let mut c = AdvantageConfig::<F>::new(p)
            .with_norm_by_std(norm)
            .with_gamma_lambda(F::lit(gamma), F::lit(lam))
            .map_err(to_py)?
            .with_scale(sc)
            .with_handle_zero_tail(hzt)
            .with_no_std_norm(nsn);
        if let Some(e) = eps {
            c = c.with_eps(F::lit(e)).map_err(to_py)?;
        }
        Ok(c)
    }
    let args = (
        p,
        norm_adv_by_std_in_grpo,
        epsilon,
        gamma,
        lam,
        sc,
        handle_zero_tail,
        no_std_norm,
    );
    Ok(match dtype_of(token_level_rewards)? {
        Dt::F32 => {
            let c = cfg::<f32>(
                args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7,
            )?;
            let (a, r) =
                advantage_impl(py, est, &c, token_level_rewards, &mask, groups.as_ref(), &x)?;
            (a.into_any(), r.into_any())
        }
        Dt::F64 => {
            let c = cfg::<f64>(
                args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7,
            )?;
            let (a, r) =
                advantage_impl(py, est, &c, token_level_rewards, &mask, groups.as_ref(), &x)?;
            (a.into_any(), r.into_any())
        }
    })
}

fn trl_impl<'py, F: Float>(
    py: Python<'py>,
    comps: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
    index: Option<&Bound<'py, PyAny>>,
    num_generations: Option<usize>,
    sc: Scale,
    mode: TrlAggregation,
) -> PyResult<Bound<'py, PyAny>> {
    let c = view::<F>(comps, "rewards_per_func")?;
    let (b, k) = match c.shape() {
        [b, k] => (*b, *k),
        [b] => (*b, 1),
        s => {
            return Err(shape_err(
                "rewards_per_func",
                format!(
                    "`rewards_per_func` must be (B, K), got shape {}",
                    crate::arrays::fmt_shape(s)
                ),
            ));
        }
    };
    let w = view::<F>(weights, "reward_weights")?;
    check_shape("reward_weights", w.shape(), &[k])?;
    let groups = groups_from(index, num_generations, b)?.ok_or_else(|| {
        to_py(rewardkit_core::Error::MissingInput {
            what: "index or num_generations",
        })
    })?;
    let out = zeros::<F>(py, &[b]);
    {
        let mut ow = write(&out)?;
        let o = data_mut(&mut ow)?;
        let (cs, ws) = (data(&c, "rewards_per_func")?, data(&w, "reward_weights")?);
        py.detach(|| core_trl(o, cs, ws, &groups, sc, mode))
            .map_err(to_py)?;
    }
    Ok(out.into_any())
}

const TRL_AGGS: &[&str] = &["sum_then_normalize", "normalize_then_sum"];

/// TRL's GRPO advantage block: `rewards_per_func` `(B, K)` (NaN = "this reward does not apply"),
/// `reward_weights` `(K)`, groups from `index` or `num_generations`; returns `(B)` advantages.
/// `scale_rewards` is `"group"`, `"batch"` or `"none"`; `multi_objective_aggregation` is
/// `"sum_then_normalize"` (TRL's default) or `"normalize_then_sum"`.
#[pyfunction]
#[pyo3(signature = (rewards_per_func, reward_weights, index=None, *, num_generations=None,
    scale_rewards="group", multi_objective_aggregation="sum_then_normalize"))]
fn trl_grpo_advantages<'py>(
    py: Python<'py>,
    rewards_per_func: &Bound<'py, PyAny>,
    reward_weights: &Bound<'py, PyAny>,
    index: Option<&Bound<'py, PyAny>>,
    num_generations: Option<usize>,
    scale_rewards: &str,
    multi_objective_aggregation: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let sc = scale(scale_rewards)?;
    let mode = match multi_objective_aggregation {
        "sum_then_normalize" => TrlAggregation::SumThenNormalize,
        "normalize_then_sum" => TrlAggregation::NormalizeThenSum,
        _ => return Err(option_err("multi_objective_aggregation", TRL_AGGS)),
    };
    match dtype_of(rewards_per_func)? {
        Dt::F32 => trl_impl::<f32>(
            py,
            rewards_per_func,
            reward_weights,
            index,
            num_generations,
            sc,
            mode,
        ),
        Dt::F64 => trl_impl::<f64>(
            py,
            rewards_per_func,
            reward_weights,
            index,
            num_generations,
            sc,
            mode,
        ),
    }
}

fn openrlhf_impl<'py, F: Float>(
    py: Python<'py>,
    p: &OpenRlhfAdvantage<F>,
    rewards: &Bound<'py, PyAny>,
    mask: &MaskBuf<'py>,
    kl: Option<&Bound<'py, PyAny>>,
    values: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (b, t) = mask.bt("action_mask")?;
    let r = view::<F>(rewards, "rewards")?;
    check_shape("rewards", r.shape(), &[b])?;
    let kl = view_opt::<F>(kl, "kl")?;
    if let Some(k) = &kl {
        check_shape("kl", k.shape(), &[b, t])?;
    }
    let values = view_opt::<F>(values, "values")?;
    if let Some(v) = &values {
        check_shape("values", v.shape(), &[b, t])?;
    }
    let zero_kl;
    let kl_s: &[F] = match &kl {
        Some(k) => data(k, "kl")?,
        None => {
            zero_kl = vec![F::ZERO; b * t];
            &zero_kl
        }
    };
    let v_s = match &values {
        Some(v) => Some(data(v, "values")?),
        None => None,
    };
    let m = mask.mask("action_mask")?;
    let (adv, ret, info) = (
        zeros::<F>(py, &[b, t]),
        zeros::<F>(py, &[b, t]),
        zeros::<F>(py, &[b]),
    );
    {
        let (mut aw, mut rw, mut iw) = (write(&adv)?, write(&ret)?, write(&info)?);
        let (a, rr, i) = (data_mut(&mut aw)?, data_mut(&mut rw)?, data_mut(&mut iw)?);
        let rs = data(&r, "rewards")?;
        py.detach(|| openrlhf_advantages_and_returns(a, rr, i, rs, kl_s, m, v_s, p))
            .map_err(to_py)?;
    }
    Ok((adv.into_any(), ret.into_any(), info.into_any()))
}

/// OpenRLHF's advantage pipeline (`compute_advantages_and_returns`): outcome `rewards` `(B)`,
/// `action_mask` `(B, T)`, optional per-token `kl` and critic `values` `(B, T)`, contiguous groups of
/// `n_samples_per_prompt`. Returns `(advantages, returns, info_return)`.
#[pyfunction]
#[pyo3(signature = (estimator, rewards, action_mask, n_samples_per_prompt, *, kl=None, values=None,
    gamma=1.0, lambd=1.0, no_std_norm=false, kl_coef=0.0, reward_clip=Some((-10.0, 10.0))))]
fn openrlhf_advantages<'py>(
    py: Python<'py>,
    estimator: &str,
    rewards: &Bound<'py, PyAny>,
    action_mask: &Bound<'py, PyAny>,
    n_samples_per_prompt: usize,
    kl: Option<&Bound<'py, PyAny>>,
    values: Option<&Bound<'py, PyAny>>,
    gamma: f64,
    lambd: f64,
    no_std_norm: bool,
    kl_coef: f64,
    reward_clip: Option<(f64, f64)>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let est: OpenRlhfEstimator = estimator.parse().map_err(name_err)?;
    let mask = MaskBuf::new(action_mask, "action_mask")?;
    fn params<F: Float>(
        est: OpenRlhfEstimator,
        n: usize,
        gamma: f64,
        lambd: f64,
        nsn: bool,
        kl_coef: f64,
        clip: Option<(f64, f64)>,
    ) -> OpenRlhfAdvantage<F> {
        let mut p = OpenRlhfAdvantage::<F>::new(est, n);
        p.gamma = F::lit(gamma);
        p.lambd = F::lit(lambd);
        p.no_std_norm = nsn;
        p.kl_coef = F::lit(kl_coef);
        p.reward_clip = clip.map(|(a, b)| (F::lit(a), F::lit(b)));
        p
    }
    match dtype_of(rewards)? {
        Dt::F32 => {
            let p = params::<f32>(
                est,
                n_samples_per_prompt,
                gamma,
                lambd,
                no_std_norm,
                kl_coef,
                reward_clip,
            );
            openrlhf_impl(py, &p, rewards, &mask, kl, values)
        }
        Dt::F64 => {
            let p = params::<f64>(
                est,
                n_samples_per_prompt,
                gamma,
                lambd,
                no_std_norm,
                kl_coef,
                reward_clip,
            );
            openrlhf_impl(py, &p, rewards, &mask, kl, values)
        }
    }
}

fn whiten_impl<'py, F: Float>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    mask: &MaskBuf<'py>,
    w: &Whiten<F>,
) -> PyResult<Bound<'py, PyAny>> {
    let (b, t) = mask.bt("mask")?;
    let x = view::<F>(values, "values")?;
    check_shape("values", x.shape(), &[b, t])?;
    let out = zeros::<F>(py, &[b, t]);
    {
        let mut ow = write(&out)?;
        let o = data_mut(&mut ow)?;
        let xs = data(&x, "values")?;
        let m = mask.mask("mask")?;
        py.detach(|| stats::masked_whiten(o, xs, m, w))
            .map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// Batch whitening of `values` over the valid entries of `mask` (both `(B, T)`), with the numerics
/// of `preset` (verl's `masked_whiten` for `"verl"`); `shift_mean=False` adds the mean back.
#[pyfunction]
#[pyo3(signature = (values, mask, shift_mean=true, *, preset="rewardkit"))]
fn masked_whiten<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    shift_mean: bool,
    preset: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let p = self::preset(preset)?;
    let mask = MaskBuf::new(mask, "mask")?;
    match dtype_of(values)? {
        Dt::F32 => whiten_impl(py, values, &mask, &whiten::<f32>(p, shift_mean)?),
        Dt::F64 => whiten_impl(py, values, &mask, &whiten::<f64>(p, shift_mean)?),
    }
}

/// The preset's whitening, with the mean added back when `shift_mean` is false (verl's flag).
fn whiten<F: Float>(p: Preset, shift_mean: bool) -> PyResult<Whiten<F>> {
    let w = Whiten::<F>::from_preset(p);
    if shift_mean {
        return Ok(w);
    }
    // `Whiten` has no setter for the shift alone: rebuild verl's parameters with it off.
    let base =
        Whiten::<F>::new(false, true, F::lit(1e-8), stats::VarEps::AddToVar).map_err(to_py)?;
    Ok(match p {
        Preset::Verl => base.with_count_eps(F::lit(1e-8)).map_err(to_py)?,
        _ => base,
    })
}

fn reduce_impl<F: Float>(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    mask: &MaskBuf<'_>,
    var: Option<bool>,
) -> PyResult<f64> {
    let (b, t) = mask.bt("mask")?;
    let x = view::<F>(values, "values")?;
    check_shape("values", x.shape(), &[b, t])?;
    let xs = data(&x, "values")?;
    let m = mask.mask("mask")?;
    let r = py.detach(|| match var {
        None => stats::masked_mean(xs, m),
        Some(unbiased) => stats::masked_var(xs, m, unbiased),
    });
    r.map(|v| v.as_f64()).map_err(to_py)
}

/// verl's `masked_mean(values, mask)` (a Python float).
#[pyfunction]
fn masked_mean(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let mask = MaskBuf::new(mask, "mask")?;
    match dtype_of(values)? {
        Dt::F32 => reduce_impl::<f32>(py, values, &mask, None),
        Dt::F64 => reduce_impl::<f64>(py, values, &mask, None),
    }
}

/// verl's `masked_var(values, mask, unbiased=True)` (a Python float).
#[pyfunction]
#[pyo3(signature = (values, mask, unbiased=true))]
fn masked_var(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    unbiased: bool,
) -> PyResult<f64> {
    let mask = MaskBuf::new(mask, "mask")?;
    match dtype_of(values)? {
        Dt::F32 => reduce_impl::<f32>(py, values, &mask, Some(unbiased)),
        Dt::F64 => reduce_impl::<f64>(py, values, &mask, Some(unbiased)),
    }
}

/// Dense group ids `(B)` (`uint32`, numbered by first appearance) and the number of groups, from
/// labels (uid strings or integers): how rewardkit groups verl's `index`.
#[pyfunction]
fn group_ids<'py>(
    py: Python<'py>,
    index: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, usize)> {
    let g = crate::arrays::group_index(index)?;
    let out = PyArrayDyn::<u32>::zeros(py, numpy::ndarray::IxDyn(&[g.n_rows()]), false);
    {
        let mut w = out
            .try_readwrite()
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        let s = w
            .as_slice_mut()
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        g.write_ids(s).map_err(to_py)?;
    }
    let _ = out.shape();
    Ok((out.into_any(), g.n_groups()))
}
