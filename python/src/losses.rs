//! KL penalties, policy and value losses with their gradients, loss parts and aggregation,
//! importance weights, preference losses.

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rewardkit_core::loss::preference::{sft_loss, wpo_weights};
use rewardkit_core::loss::{
    Aggregation, BradleyTerry, DivergenceKind, IsCorrection, IsMode, LossParts, PairInputs,
    PolicyInputs, PolicyLoss, PolicyLossKind, PreferenceLoss, PreferenceLossKind, RejectionRule,
    RejectionStats, RsMode, ValueLoss, bradley_terry_loss as core_bt, combined_preference_loss,
    is_weights as core_is, policy_loss_rng, rejection_mask, value_loss as core_value,
};
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::stats::Summary;
use rewardkit_core::{KlPenalty, KlTerm, Mask, Preset, Real};

use crate::advantage::preset as parse_preset;
use crate::arrays::{
    Dt, Float, MaskBuf, check_shape, data, data_mut, dtype_of, view, view_opt, write, zeros,
};
use crate::errors::{name_err, option_err, shape_err, to_py};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLossParts>()?;
    m.add_class::<PyAggregation>()?;
    m.add_function(wrap_pyfunction!(kl_penalty, m)?)?;
    m.add_function(wrap_pyfunction!(policy_loss, m)?)?;
    m.add_function(wrap_pyfunction!(value_loss, m)?)?;
    m.add_function(wrap_pyfunction!(agg_loss, m)?)?;
    m.add_function(wrap_pyfunction!(is_weights, m)?)?;
    m.add_function(wrap_pyfunction!(preference_loss, m)?)?;
    m.add_function(wrap_pyfunction!(bradley_terry_loss, m)?)?;
    m.add_function(wrap_pyfunction!(aggregation_from_state, m)?)?;
    m.add_function(wrap_pyfunction!(entropy_mask, m)?)?;
    m.add_function(wrap_pyfunction!(off_policy_mask, m)?)?;
    m.add_function(wrap_pyfunction!(sequence_logps, m)?)?;
    m.add_function(wrap_pyfunction!(ld_token_weights, m)?)?;
    m.add_function(wrap_pyfunction!(rejection_mask_py, m)?)?;
    m.add_function(wrap_pyfunction!(wpo_weights_py, m)?)?;
    m.add_function(wrap_pyfunction!(sft_loss_py, m)?)?;
    Ok(())
}

type Arr<'py> = Bound<'py, PyAny>;

// ---------------------------------------------------------------------------------------------
// KL
// ---------------------------------------------------------------------------------------------

fn penalty<F: Float>(name: &str, preset: Preset) -> PyResult<KlPenalty<F>> {
    let parsed: KlPenalty<F> = name.parse().map_err(name_err)?;
    Ok(KlPenalty::from_preset(preset, parsed.estimator())
        .with_straight_through(parsed.straight_through()))
}

fn kl_impl<'py, F: Float>(
    py: Python<'py>,
    logprob: &Arr<'py>,
    ref_logprob: &Arr<'py>,
    old_logprob: Option<&Arr<'py>>,
    pen: &KlPenalty<F>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let lp = view::<F>(logprob, "logprob")?;
    let shape = lp.shape().to_vec();
    let rp = view::<F>(ref_logprob, "ref_logprob")?;
    check_shape("ref_logprob", rp.shape(), &shape)?;
    let old = view_opt::<F>(old_logprob, "old_logprob")?;
    if let Some(o) = &old {
        check_shape("old_logprob", o.shape(), &shape)?;
    }
    let (val, grad) = (zeros::<F>(py, &shape), zeros::<F>(py, &shape));
    {
        let (mut vw, mut gw) = (write(&val)?, write(&grad)?);
        let (v, g) = (data_mut(&mut vw)?, data_mut(&mut gw)?);
        let (l, r) = (data(&lp, "logprob")?, data(&rp, "ref_logprob")?);
        let o = match &old {
            Some(o) => Some(data(o, "old_logprob")?),
            None => None,
        };
        py.detach(|| match o {
            None => pen.forward(v, Some(g), l, r),
            Some(o) => pen.importance_weighted(v, Some(g), l, r, o),
        })
        .map_err(to_py)?;
    }
    Ok((val.into_any(), grad.into_any()))
}

/// Per-token KL estimate between the policy and the reference, with its exact gradient with respect
/// to `logprob`: verl's `kl_penalty(logprob, ref_logprob, kl_penalty)` names (`k1`/`kl`, `abs`,
/// `k2`/`mse`, `k3`/`low_var_kl`, a `+` suffix for the straight-through gradient). With
/// `old_logprob`, the importance-weighted form `w·k`, `w = π/π_old`. Clamps follow `preset`.
/// Returns `(kl, grad)`, each of the input's shape.
#[pyfunction]
#[pyo3(signature = (logprob, ref_logprob, kl_penalty="low_var_kl", *, preset="rewardkit", old_logprob=None))]
fn kl_penalty<'py>(
    py: Python<'py>,
    logprob: &Arr<'py>,
    ref_logprob: &Arr<'py>,
    kl_penalty: &str,
    preset: &str,
    old_logprob: Option<&Arr<'py>>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let p = parse_preset(preset)?;
    match dtype_of(logprob)? {
        Dt::F32 => kl_impl(
            py,
            logprob,
            ref_logprob,
            old_logprob,
            &penalty::<f32>(kl_penalty, p)?,
        ),
        Dt::F64 => kl_impl(
            py,
            logprob,
            ref_logprob,
            old_logprob,
            &penalty::<f64>(kl_penalty, p)?,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Loss parts and aggregation
// ---------------------------------------------------------------------------------------------

/// Additive parts of a token loss: `sum`, `seq_mean_sum`, `tokens`, `seqs`, `rows`. Parts of shards
/// add up (`a + b`, `sum([...])`) to the parts of the whole batch; pass the total to
/// `Aggregation.value`, `policy_loss(total=...)`, ... so every shard uses the whole batch's
/// normalizer.
#[pyclass(name = "LossParts", module = "rewardkit", frozen, eq, from_py_object)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PyLossParts(pub LossParts);

#[pymethods]
impl PyLossParts {
    #[new]
    #[pyo3(signature = (sum=0.0, seq_mean_sum=0.0, tokens=0, seqs=0, rows=0))]
    fn new(sum: f64, seq_mean_sum: f64, tokens: usize, seqs: usize, rows: usize) -> Self {
        Self(LossParts {
            sum,
            seq_mean_sum,
            tokens,
            seqs,
            rows,
        })
    }

    /// The parts of a mask alone (the counts; sums 0): the normalizer before any loss is computed.
    #[staticmethod]
    fn from_mask(mask: &Arr<'_>) -> PyResult<Self> {
        let m = MaskBuf::new(mask, "mask")?;
        Ok(Self(LossParts::from_mask(m.mask("mask")?)))
    }

    /// `Σ` of the loss over valid tokens.
    #[getter]
    fn sum(&self) -> f64 {
        self.0.sum
    }
    /// `Σᵢ rowsumᵢ / dᵢ` (the per-row means' numerator).
    #[getter]
    fn seq_mean_sum(&self) -> f64 {
        self.0.seq_mean_sum
    }
    /// Valid tokens.
    #[getter]
    fn tokens(&self) -> usize {
        self.0.tokens
    }
    /// Rows with at least one valid token.
    #[getter]
    fn seqs(&self) -> usize {
        self.0.seqs
    }
    /// Rows.
    #[getter]
    fn rows(&self) -> usize {
        self.0.rows
    }

    fn __add__(&self, other: &Self) -> Self {
        Self(self.0 + other.0)
    }

    fn __radd__(&self, other: &Bound<'_, PyAny>) -> PyResult<Self> {
        // `sum([...])` starts from the integer 0.
        if let Ok(0) = other.extract::<i64>() {
            return Ok(*self);
        }
        Ok(Self(self.0 + other.extract::<Self>()?.0))
    }

    fn __repr__(&self) -> String {
        let p = self.0;
        format!(
            "LossParts(sum={:?}, seq_mean_sum={:?}, tokens={}, seqs={}, rows={})",
            p.sum, p.seq_mean_sum, p.tokens, p.seqs, p.rows
        )
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let p = slf.get().0;
        let args = PyTuple::new(
            slf.py(),
            [
                p.sum.into_pyobject(slf.py())?.into_any(),
                p.seq_mean_sum.into_pyobject(slf.py())?.into_any(),
                p.tokens.into_pyobject(slf.py())?.into_any(),
                p.seqs.into_pyobject(slf.py())?.into_any(),
                p.rows.into_pyobject(slf.py())?.into_any(),
            ],
        )?;
        Ok((slf.get_type().into_any(), args))
    }
}

/// How token losses become one scalar: verl's `loss_agg_mode` (`token-mean`, `token-sum`,
/// `seq-mean-token-sum`, `seq-mean-token-mean`, `seq-mean-token-sum-norm`) and TRL's `loss_type`
/// (`grpo`, `bnpo`, `dapo`, `dr_grpo`, ...), with the numerics of `preset`. The `…-norm` modes and
/// `dr_grpo` need `horizon` (verl's `loss_scale_factor`, TRL's `max_completion_length`).
#[pyclass(name = "Aggregation", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Copy, Debug)]
pub struct PyAggregation {
    agg: Aggregation,
    name: &'static str,
    preset: Preset,
    horizon: Option<f64>,
}

const AGG_MODES: &[&str] = &[
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "seq-mean-token-mean",
    "grpo",
    "sapo",
    "bnpo",
    "dapo",
    "cispo",
    "vespo",
    "luspo",
    "row-mean-token-sum",
    "dr_grpo",
];

impl PyAggregation {
    pub(crate) fn build(mode: &str, preset: Preset, horizon: Option<f64>) -> PyResult<Self> {
        let name = AGG_MODES
            .iter()
            .copied()
            .find(|n| *n == mode)
            .ok_or_else(|| option_err("loss aggregation", AGG_MODES))?;
        let mut agg = Aggregation::from_preset(preset, mode).map_err(name_err)?;
        if let Some(h) = horizon {
            agg = agg.with_horizon(h).map_err(to_py)?;
        }
        Ok(Self {
            agg,
            name,
            preset,
            horizon,
        })
    }
}

fn total_or(parts: LossParts, total: Option<PyLossParts>) -> LossParts {
    total.map_or(parts, |t| t.0)
}

#[pymethods]
impl PyAggregation {
    #[new]
    #[pyo3(signature = (mode="token-mean", *, preset="rewardkit", horizon=None))]
    fn new(mode: &str, preset: &str, horizon: Option<f64>) -> PyResult<Self> {
        Self::build(mode, parse_preset(preset)?, horizon)
    }

    /// The mode's name.
    #[getter]
    fn mode(&self) -> &'static str {
        self.name
    }

    /// The normalizer of the whole batch whose parts are `total`.
    fn normalizer(&self, total: PyLossParts) -> PyResult<f64> {
        self.agg.normalizer(&total.0).map_err(to_py)
    }

    /// This shard's share of the loss: `numerator(parts) / normalizer(total)` (`total` defaults
    /// to `parts`, the whole batch).
    #[pyo3(signature = (parts, total=None))]
    fn value(&self, parts: PyLossParts, total: Option<PyLossParts>) -> PyResult<f64> {
        self.agg
            .value::<f64>(&parts.0, &total_or(parts.0, total))
            .map_err(to_py)
    }

    /// The parts of a `(B, T)` matrix of per-token losses under `mask`.
    fn parts(&self, loss_mat: &Arr<'_>, mask: &Arr<'_>) -> PyResult<PyLossParts> {
        let m = MaskBuf::new(mask, "mask")?;
        match dtype_of(loss_mat)? {
            Dt::F32 => parts_impl::<f32>(loss_mat, &m, &self.agg),
            Dt::F64 => parts_impl::<f64>(loss_mat, &m, &self.agg),
        }
    }

    /// Scales, **in place**, the gradient of the loss sums (what the loss kernels write) into the
    /// gradient of this shard's share: row `i` times `wᵢ / normalizer(total)`, masked positions 0.
    /// `grad` must be a writable, C-contiguous `float32`/`float64` array of the mask's shape.
    fn scale_grad(&self, grad: &Arr<'_>, mask: &Arr<'_>, total: PyLossParts) -> PyResult<()> {
        let m = MaskBuf::new(mask, "mask")?;
        if let Ok(g) = grad.cast::<PyArrayDyn<f32>>() {
            return scale_impl(g, &m, &self.agg, &total.0);
        }
        if let Ok(g) = grad.cast::<PyArrayDyn<f64>>() {
            return scale_impl(g, &m, &self.agg, &total.0);
        }
        Err(pyo3::exceptions::PyTypeError::new_err(
            "`grad` must be a NumPy float32 or float64 array (it is scaled in place)",
        ))
    }

    /// The weight `wᵢ / normalizer(total)` of each row `(B)` (float64).
    fn row_weights<'py>(
        &self,
        py: Python<'py>,
        mask: &Arr<'py>,
        total: PyLossParts,
    ) -> PyResult<Arr<'py>> {
        let m = MaskBuf::new(mask, "mask")?;
        let (b, _) = m.bt("mask")?;
        let out = zeros::<f64>(py, &[b]);
        {
            let mut w = write(&out)?;
            self.agg
                .row_weights(data_mut(&mut w)?, m.mask("mask")?, &total.0)
                .map_err(to_py)?;
        }
        Ok(out.into_any())
    }

    fn __repr__(&self) -> String {
        match self.horizon {
            Some(h) => format!(
                "Aggregation({:?}, preset={:?}, horizon={h:?})",
                self.name,
                self.preset.to_string()
            ),
            None => format!(
                "Aggregation({:?}, preset={:?})",
                self.name,
                self.preset.to_string()
            ),
        }
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let me = slf.get();
        let ctor = py.import("rewardkit._native")?.getattr("_aggregation")?;
        let args = PyTuple::new(
            py,
            [
                me.name.into_pyobject(py)?.into_any(),
                me.preset.to_string().into_pyobject(py)?.into_any(),
                me.horizon.into_pyobject(py)?.into_any(),
            ],
        )?;
        Ok((ctor, args, py.None().into_bound(py)))
    }
}

fn parts_impl<F: Float>(
    loss: &Arr<'_>,
    m: &MaskBuf<'_>,
    agg: &Aggregation,
) -> PyResult<PyLossParts> {
    let (b, t) = m.bt("mask")?;
    let l = view::<F>(loss, "loss_mat")?;
    check_shape("loss_mat", l.shape(), &[b, t])?;
    let ls = data(&l, "loss_mat")?;
    let mask = m.mask("mask")?;
    let py = loss.py();
    py.detach(|| LossParts::of_matrix(ls, mask, agg))
        .map(PyLossParts)
        .map_err(to_py)
}

fn scale_impl<F: Float>(
    g: &Bound<'_, PyArrayDyn<F>>,
    m: &MaskBuf<'_>,
    agg: &Aggregation,
    total: &LossParts,
) -> PyResult<()> {
    let (b, t) = m.bt("mask")?;
    check_shape("grad", g.shape(), &[b, t])?;
    let mut w = g
        .try_readwrite()
        .map_err(|e| PyRuntimeError::new_err(format!("`grad` cannot be written: {e}")))?;
    let gs = w.as_slice_mut().map_err(|e| {
        pyo3::exceptions::PyTypeError::new_err(format!("`grad` must be C-contiguous: {e}"))
    })?;
    let mask = m.mask("mask")?;
    agg.scale_grad(gs, mask, total).map_err(to_py)
}

/// verl's `agg_loss(loss_mat, loss_mask, loss_agg_mode)`: the aggregated value of a `(B, T)`
/// matrix of per-token losses.
#[pyfunction]
#[pyo3(signature = (loss_mat, loss_mask, loss_agg_mode="token-mean", *, preset="rewardkit", horizon=None))]
fn agg_loss(
    loss_mat: &Arr<'_>,
    loss_mask: &Arr<'_>,
    loss_agg_mode: &str,
    preset: &str,
    horizon: Option<f64>,
) -> PyResult<f64> {
    let agg = PyAggregation::build(loss_agg_mode, parse_preset(preset)?, horizon)?;
    let parts = agg.parts(loss_mat, loss_mask)?;
    agg.value(parts, None)
}

// ---------------------------------------------------------------------------------------------
// Policy loss
// ---------------------------------------------------------------------------------------------

/// The optional knobs of a policy loss (each `None` keeps the preset's value).
#[derive(Clone, Copy, Debug, Default)]
struct PolicyKnobs {
    clip_ratio: Option<f64>,
    clip_ratio_low: Option<f64>,
    clip_ratio_high: Option<f64>,
    clip_ratio_c: Option<f64>,
    delta: Option<f64>,
    truncation: Option<f64>,
    tau: Option<(f64, f64)>,
    dro_beta: Option<f64>,
    cov: Option<(f64, f64, f64)>,
    kl_cov_coef: Option<f64>,
    vespo: Option<(f64, f64, f64, f64)>,
    len_eps: Option<f64>,
    entropy_coef: f64,
    kl_coef: f64,
    kl_importance_weighted: bool,
}

fn build_policy<F: Float>(
    kind: PolicyLossKind,
    preset: Preset,
    k: &PolicyKnobs,
    kl_type: &str,
    with_ref: bool,
) -> PyResult<PolicyLoss<F>> {
    let e = to_py;
    let mut l = PolicyLoss::<F>::from_preset(preset, kind);
    if k.clip_ratio.is_some() || k.clip_ratio_low.is_some() || k.clip_ratio_high.is_some() {
        let (lo0, hi0) = l.clip();
        let base = k.clip_ratio;
        let lo = k.clip_ratio_low.or(base).map_or(lo0, F::lit);
        let hi = k.clip_ratio_high.or(base).map_or(hi0, F::lit);
        l = l.with_clip(lo, hi).map_err(e)?;
    }
    if let Some(c) = k.clip_ratio_c {
        l = l.with_dual_clip(Some(F::lit(c))).map_err(e)?;
    }
    if let Some(d) = k.delta {
        l = l.with_delta(Some(F::lit(d))).map_err(e)?;
    }
    if let Some(c) = k.truncation {
        l = l.with_truncation(F::lit(c)).map_err(e)?;
    }
    if let Some((p, n)) = k.tau {
        l = l.with_sapo_tau(F::lit(p), F::lit(n)).map_err(e)?;
    }
    if let Some(b) = k.dro_beta {
        l = l.with_dro_beta(F::lit(b)).map_err(e)?;
    }
    if let Some((r, lb, ub)) = k.cov {
        l = l.with_cov(F::lit(r), F::lit(lb), F::lit(ub)).map_err(e)?;
    }
    if let Some(c) = k.kl_cov_coef {
        l = l.with_kl_cov_coef(F::lit(c)).map_err(e)?;
    }
    if let Some((a, b, c, d)) = k.vespo {
        l = l
            .with_vespo(F::lit(a), F::lit(b), F::lit(c), F::lit(d))
            .map_err(e)?;
    }
    if let Some(x) = k.len_eps {
        l = l.with_len_eps(F::lit(x)).map_err(e)?;
    }
    if k.entropy_coef != 0.0 {
        l = l.with_entropy_coef(F::lit(k.entropy_coef)).map_err(e)?;
    }
    if with_ref && k.kl_coef != 0.0 {
        let term = KlTerm::new(penalty::<F>(kl_type, preset)?, F::lit(k.kl_coef))
            .map_err(e)?
            .with_importance_weighted(k.kl_importance_weighted);
        l = l.with_kl(Some(term));
    }
    Ok(l)
}

/// The token inputs of a policy loss.
struct PolicyArrays<'a, 'py> {
    old_log_prob: &'a Arr<'py>,
    log_prob: &'a Arr<'py>,
    advantages: &'a Arr<'py>,
    ref_log_prob: Option<&'a Arr<'py>>,
    entropy: Option<&'a Arr<'py>>,
    weights: Option<&'a Arr<'py>>,
}

type LossOut<'py> = (f64, Arr<'py>, PyLossParts);

fn policy_impl<'py, F: Float>(
    py: Python<'py>,
    x: &PolicyArrays<'_, 'py>,
    mask: &MaskBuf<'py>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
    total: Option<PyLossParts>,
    seed: u64,
) -> PyResult<LossOut<'py>> {
    let (b, t) = mask.bt("response_mask")?;
    let lp = view::<F>(x.log_prob, "log_prob")?;
    check_shape("log_prob", lp.shape(), &[b, t])?;
    let old = view::<F>(x.old_log_prob, "old_log_prob")?;
    check_shape("old_log_prob", old.shape(), &[b, t])?;
    let adv = view::<F>(x.advantages, "advantages")?;
    if adv.shape() != [b, t] && adv.shape() != [b] {
        return Err(shape_err(
            "advantages",
            format!(
                "`advantages` has shape {}, expected ({b}, {t}) or ({b},)",
                crate::arrays::fmt_shape(adv.shape())
            ),
        ));
    }
    let tok = |o: Option<&Arr<'py>>, name: &str| -> PyResult<_> {
        let v = view_opt::<F>(o, name)?;
        if let Some(v) = &v {
            check_shape(name, v.shape(), &[b, t])?;
        }
        Ok(v)
    };
    let rf = tok(x.ref_log_prob, "ref_log_prob")?;
    let ent = tok(x.entropy, "entropy")?;
    let wt = tok(x.weights, "weights")?;
    let m = mask.mask("response_mask")?;
    let mut inp = PolicyInputs::new(
        data(&lp, "log_prob")?,
        data(&old, "old_log_prob")?,
        data(&adv, "advantages")?,
        m,
    )
    .map_err(to_py)?;
    if let Some(r) = &rf {
        inp = inp.with_ref(data(r, "ref_log_prob")?).map_err(to_py)?;
    }
    if let Some(en) = &ent {
        inp = inp.with_entropy(data(en, "entropy")?).map_err(to_py)?;
    }
    if let Some(w) = &wt {
        inp = inp.with_weights(data(w, "weights")?).map_err(to_py)?;
    }
    let grad = zeros::<F>(py, &[b, t]);
    let (value, parts) = {
        let mut gw = write(&grad)?;
        let g = data_mut(&mut gw)?;
        py.detach(|| -> rewardkit_core::Result<(f64, LossParts)> {
            let parts = policy_loss_rng(g, &inp, loss, agg, &mut SplitMix64::new(seed))?;
            let tot = total_or(parts, total);
            let v = agg.value::<f64>(&parts, &tot)?;
            agg.scale_grad(g, m, &tot)?;
            Ok((v, parts))
        })
        .map_err(to_py)?
    };
    Ok((value, grad.into_any(), PyLossParts(parts)))
}

/// A policy-gradient loss, its gradient with respect to `log_prob`, and its parts, in verl's
/// argument order (`compute_policy_loss(old_log_prob, log_prob, advantages, response_mask, ...)`).
///
/// `loss_mode`: verl's names (`vanilla`, `gspo`, `sapo`, `gpg`, `clip_cov`, `kl_cov`, `geo_mean`,
/// `cispo`, `dppo_tv`, `dppo_kl`, `dro`) and `gspo_token`, `vespo`; with `preset="verl"`, `gspo` is
/// verl's GSPO-token form. `advantages` is `(B, T)` or `(B)`. Returns `(loss, grad, parts)`:
/// `loss` is this batch's aggregated value (or its share of `total`, the whole batch's parts, when
/// given), `grad` = `∂loss/∂log_prob` `(B, T)`, `parts` the additive parts. A KL term is added with
/// `ref_log_prob` and `kl_coef`; an entropy bonus with `entropy` and `entropy_coef`; detached
/// per-token `weights` (IS weights, masks) multiply the policy term.
#[pyfunction]
#[pyo3(signature = (old_log_prob, log_prob, advantages, response_mask, *, loss_mode="vanilla",
    loss_agg_mode="token-mean", preset="rewardkit", clip_ratio=None, clip_ratio_low=None,
    clip_ratio_high=None, clip_ratio_c=None, delta=None, truncation=None, tau_pos=None, tau_neg=None,
    dro_beta=None, cov_ratio=None, cov_lb=None, cov_ub=None, kl_cov_coef=None, vespo=None,
    len_eps=None, ref_log_prob=None, kl_coef=0.0, kl_type="low_var_kl",
    kl_importance_weighted=false, entropy=None, entropy_coef=0.0, weights=None, horizon=None,
    total=None, seed=0))]
fn policy_loss<'py>(
    py: Python<'py>,
    old_log_prob: &Arr<'py>,
    log_prob: &Arr<'py>,
    advantages: &Arr<'py>,
    response_mask: &Arr<'py>,
    loss_mode: &str,
    loss_agg_mode: &str,
    preset: &str,
    clip_ratio: Option<f64>,
    clip_ratio_low: Option<f64>,
    clip_ratio_high: Option<f64>,
    clip_ratio_c: Option<f64>,
    delta: Option<f64>,
    truncation: Option<f64>,
    tau_pos: Option<f64>,
    tau_neg: Option<f64>,
    dro_beta: Option<f64>,
    cov_ratio: Option<f64>,
    cov_lb: Option<f64>,
    cov_ub: Option<f64>,
    kl_cov_coef: Option<f64>,
    vespo: Option<(f64, f64, f64, f64)>,
    len_eps: Option<f64>,
    ref_log_prob: Option<&Arr<'py>>,
    kl_coef: f64,
    kl_type: &str,
    kl_importance_weighted: bool,
    entropy: Option<&Arr<'py>>,
    entropy_coef: f64,
    weights: Option<&Arr<'py>>,
    horizon: Option<f64>,
    total: Option<PyLossParts>,
    seed: u64,
) -> PyResult<LossOut<'py>> {
    let p = parse_preset(preset)?;
    let kind = if p == Preset::Verl {
        PolicyLossKind::from_verl(loss_mode)
    } else {
        loss_mode.parse()
    }
    .map_err(name_err)?;
    let tau = match (tau_pos, tau_neg) {
        (None, None) => None,
        (a, b) => Some((a.or(b).unwrap_or(1.0), b.or(a).unwrap_or(1.0))),
    };
    let cov = match (cov_ratio, cov_lb, cov_ub) {
        (None, None, None) => None,
        (r, lb, ub) => Some((r.unwrap_or(0.0002), lb.unwrap_or(1.0), ub.unwrap_or(5.0))),
    };
    let knobs = PolicyKnobs {
        clip_ratio,
        clip_ratio_low,
        clip_ratio_high,
        clip_ratio_c,
        delta,
        truncation,
        tau,
        dro_beta,
        cov,
        kl_cov_coef,
        vespo,
        len_eps,
        entropy_coef,
        kl_coef,
        kl_importance_weighted,
    };
    let agg = PyAggregation::build(loss_agg_mode, p, horizon)?.agg;
    let mask = MaskBuf::new(response_mask, "response_mask")?;
    let arrays = PolicyArrays {
        old_log_prob,
        log_prob,
        advantages,
        ref_log_prob,
        entropy,
        weights,
    };
    let with_ref = ref_log_prob.is_some_and(|r| !r.is_none());
    match dtype_of(log_prob)? {
        Dt::F32 => {
            let l = build_policy::<f32>(kind, p, &knobs, kl_type, with_ref)?;
            policy_impl(py, &arrays, &mask, &l, &agg, total, seed)
        }
        Dt::F64 => {
            let l = build_policy::<f64>(kind, p, &knobs, kl_type, with_ref)?;
            policy_impl(py, &arrays, &mask, &l, &agg, total, seed)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Value loss
// ---------------------------------------------------------------------------------------------

fn value_impl<'py, F: Float>(
    py: Python<'py>,
    vpreds: &Arr<'py>,
    returns: &Arr<'py>,
    values: &Arr<'py>,
    mask: &MaskBuf<'py>,
    clip: Option<f64>,
    agg: &Aggregation,
    total: Option<PyLossParts>,
) -> PyResult<LossOut<'py>> {
    let (b, t) = mask.bt("response_mask")?;
    let v = view::<F>(vpreds, "vpreds")?;
    check_shape("vpreds", v.shape(), &[b, t])?;
    let r = view::<F>(returns, "returns")?;
    check_shape("returns", r.shape(), &[b, t])?;
    let o = view::<F>(values, "values")?;
    check_shape("values", o.shape(), &[b, t])?;
    let loss = ValueLoss::<F>::new(clip.map(F::lit)).map_err(to_py)?;
    let m = mask.mask("response_mask")?;
    let grad = zeros::<F>(py, &[b, t]);
    let (value, parts) = {
        let mut gw = write(&grad)?;
        let g = data_mut(&mut gw)?;
        let (vs, os, rs) = (
            data(&v, "vpreds")?,
            data(&o, "values")?,
            data(&r, "returns")?,
        );
        py.detach(|| -> rewardkit_core::Result<(f64, LossParts)> {
            let parts = core_value(g, vs, os, rs, m, &loss, agg)?;
            let tot = total_or(parts, total);
            let val = agg.value::<f64>(&parts, &tot)?;
            agg.scale_grad(g, m, &tot)?;
            Ok((val, parts))
        })
        .map_err(to_py)?
    };
    Ok((value, grad.into_any(), PyLossParts(parts)))
}

/// The (clipped) value loss `½·max((V − R)², (clip(V, V_old ± c) − R)²)` in verl's argument order
/// (`compute_value_loss(vpreds, returns, values, response_mask, cliprange_value, loss_agg_mode)`).
/// Returns `(loss, grad, parts)` with `grad = ∂loss/∂vpreds`.
#[pyfunction]
#[pyo3(signature = (vpreds, returns, values, response_mask, cliprange_value=None,
    loss_agg_mode="token-mean", *, preset="rewardkit", horizon=None, total=None))]
fn value_loss<'py>(
    py: Python<'py>,
    vpreds: &Arr<'py>,
    returns: &Arr<'py>,
    values: &Arr<'py>,
    response_mask: &Arr<'py>,
    cliprange_value: Option<f64>,
    loss_agg_mode: &str,
    preset: &str,
    horizon: Option<f64>,
    total: Option<PyLossParts>,
) -> PyResult<LossOut<'py>> {
    let agg = PyAggregation::build(loss_agg_mode, parse_preset(preset)?, horizon)?.agg;
    let mask = MaskBuf::new(response_mask, "response_mask")?;
    match dtype_of(vpreds)? {
        Dt::F32 => value_impl::<f32>(
            py,
            vpreds,
            returns,
            values,
            &mask,
            cliprange_value,
            &agg,
            total,
        ),
        Dt::F64 => value_impl::<f64>(
            py,
            vpreds,
            returns,
            values,
            &mask,
            cliprange_value,
            &agg,
            total,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Importance weights
// ---------------------------------------------------------------------------------------------

fn is_impl<'py, F: Float>(
    py: Python<'py>,
    log_prob: &Arr<'py>,
    rollout: &Arr<'py>,
    mask: &MaskBuf<'py>,
    corr: &IsCorrection<F>,
) -> PyResult<(Arr<'py>, usize)> {
    let (b, t) = mask.bt("response_mask")?;
    let lp = view::<F>(log_prob, "log_prob")?;
    check_shape("log_prob", lp.shape(), &[b, t])?;
    let rp = view::<F>(rollout, "rollout_log_prob")?;
    check_shape("rollout_log_prob", rp.shape(), &[b, t])?;
    let out = zeros::<F>(py, &[b, t]);
    let kept = {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let (l, r) = (data(&lp, "log_prob")?, data(&rp, "rollout_log_prob")?);
        let m = mask.mask("response_mask")?;
        py.detach(|| core_is(o, l, r, m, corr)).map_err(to_py)?
    };
    Ok((out.into_any(), kept))
}

/// Detached importance weights for a rollout/training mismatch: `mode` is `token_truncate`
/// (`tis`), `token_mask` (`icepop`), `sequence_truncate`, `sequence_mask` or `seq-mask-tis`, with
/// thresholds `[lower, upper]`. Returns `(weights (B, T), kept)` (`kept`: the count the mode keeps).
#[pyfunction]
#[pyo3(signature = (log_prob, rollout_log_prob, response_mask, mode="token_truncate", lower=0.0,
    upper=2.0, *, preset="rewardkit", batch_normalize=false))]
fn is_weights<'py>(
    py: Python<'py>,
    log_prob: &Arr<'py>,
    rollout_log_prob: &Arr<'py>,
    response_mask: &Arr<'py>,
    mode: &str,
    lower: f64,
    upper: f64,
    preset: &str,
    batch_normalize: bool,
) -> PyResult<(Arr<'py>, usize)> {
    let p = parse_preset(preset)?;
    let mode: IsMode = mode.parse().map_err(name_err)?;
    let mask = MaskBuf::new(response_mask, "response_mask")?;
    match dtype_of(log_prob)? {
        Dt::F32 => {
            let c = IsCorrection::<f32>::from_preset(p, mode, f32::lit(lower), f32::lit(upper))
                .map_err(to_py)?
                .with_batch_normalize(batch_normalize);
            is_impl(py, log_prob, rollout_log_prob, &mask, &c)
        }
        Dt::F64 => {
            let c = IsCorrection::<f64>::from_preset(p, mode, lower, upper)
                .map_err(to_py)?
                .with_batch_normalize(batch_normalize);
            is_impl(py, log_prob, rollout_log_prob, &mask, &c)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Preference losses
// ---------------------------------------------------------------------------------------------

/// The settings of a preference loss.
#[derive(Clone, Copy, Debug)]
struct PrefKnobs {
    beta: f64,
    label_smoothing: f64,
    divergence: DivergenceKind,
    gamma: Option<f64>,
    discopop_tau: Option<f64>,
    inpo: Option<(f64, f64)>,
}

const DIVERGENCES: &[&str] = &[
    "reverse_kl",
    "forward_kl",
    "js_divergence",
    "alpha_divergence",
];

fn build_pref<F: Float>(kind: PreferenceLossKind, k: &PrefKnobs) -> PyResult<PreferenceLoss<F>> {
    let mut l = PreferenceLoss::<F>::new(kind)
        .with_beta(F::lit(k.beta))
        .map_err(to_py)?;
    if k.label_smoothing != 0.0 {
        l = l
            .with_label_smoothing(F::lit(k.label_smoothing))
            .map_err(to_py)?;
    }
    if k.divergence != DivergenceKind::ReverseKl {
        l = l.with_divergence(k.divergence).map_err(to_py)?;
    }
    if let Some(g) = k.gamma {
        l = l.with_gamma(F::lit(g)).map_err(to_py)?;
    }
    if let Some(t) = k.discopop_tau {
        l = l.with_discopop_tau(F::lit(t)).map_err(to_py)?;
    }
    if let Some((eta, tau)) = k.inpo {
        l = l.with_inpo(F::lit(eta), F::lit(tau)).map_err(to_py)?;
    }
    Ok(l)
}

/// The per-pair inputs of a preference loss.
struct PairArrays<'a, 'py> {
    chosen: &'a Arr<'py>,
    rejected: &'a Arr<'py>,
    ref_chosen: &'a Arr<'py>,
    ref_rejected: &'a Arr<'py>,
    lengths: Option<(&'a Arr<'py>, &'a Arr<'py>)>,
    previous: Option<(&'a Arr<'py>, &'a Arr<'py>)>,
    soft_labels: Option<&'a Arr<'py>>,
    pair_weights: Option<&'a Arr<'py>>,
}

type PairOut<'py> = (f64, Arr<'py>, Arr<'py>);

fn pref_impl<'py, F: Float>(
    py: Python<'py>,
    x: &PairArrays<'_, 'py>,
    terms: &[(PreferenceLoss<F>, F)],
) -> PyResult<PairOut<'py>> {
    let c = view::<F>(x.chosen, "chosen_logps")?;
    let n = c.len();
    let pair = |o: &Arr<'py>, name: &str| -> PyResult<_> {
        let v = view::<F>(o, name)?;
        check_shape(name, v.shape(), c.shape())?;
        Ok(v)
    };
    let r = pair(x.rejected, "rejected_logps")?;
    let rc = pair(x.ref_chosen, "ref_chosen_logps")?;
    let rr = pair(x.ref_rejected, "ref_rejected_logps")?;
    let lens = match x.lengths {
        Some((a, b)) => Some((pair(a, "chosen_lengths")?, pair(b, "rejected_lengths")?)),
        None => None,
    };
    let prev = match x.previous {
        Some((a, b)) => Some((
            pair(a, "prev_chosen_logps")?,
            pair(b, "prev_rejected_logps")?,
        )),
        None => None,
    };
    let soft = match x.soft_labels {
        Some(s) if !s.is_none() => Some(pair(s, "soft_labels")?),
        _ => None,
    };
    let pw = match x.pair_weights {
        Some(s) if !s.is_none() => Some(pair(s, "pair_weights")?),
        _ => None,
    };
    let mut inp = PairInputs::new(
        data(&c, "chosen_logps")?,
        data(&r, "rejected_logps")?,
        data(&rc, "ref_chosen_logps")?,
        data(&rr, "ref_rejected_logps")?,
    )
    .map_err(to_py)?;
    if let Some((a, b)) = &lens {
        inp = inp
            .with_lengths(data(a, "chosen_lengths")?, data(b, "rejected_lengths")?)
            .map_err(to_py)?;
    }
    if let Some((a, b)) = &prev {
        inp = inp
            .with_previous(
                data(a, "prev_chosen_logps")?,
                data(b, "prev_rejected_logps")?,
            )
            .map_err(to_py)?;
    }
    if let Some(s) = &soft {
        inp = inp
            .with_soft_labels(data(s, "soft_labels")?)
            .map_err(to_py)?;
    }
    if let Some(w) = &pw {
        inp = inp
            .with_pair_weights(data(w, "pair_weights")?)
            .map_err(to_py)?;
    }
    let shape = c.shape().to_vec();
    let (gc, gr) = (zeros::<F>(py, &shape), zeros::<F>(py, &shape));
    let value = {
        let (mut cw, mut rw) = (write(&gc)?, write(&gr)?);
        let (gcs, grs) = (data_mut(&mut cw)?, data_mut(&mut rw)?);
        // The mean over pairs is the token mean over a (P, 1) all-valid matrix.
        let bits = vec![true; n];
        py.detach(|| -> rewardkit_core::Result<f64> {
            let parts = combined_preference_loss(gcs, grs, &inp, terms)?;
            let agg = Aggregation::TokenMean;
            let mask = Mask::new(&bits, 1)?;
            agg.scale_grad(gcs, mask, &parts)?;
            agg.scale_grad(grs, mask, &parts)?;
            agg.value::<f64>(&parts, &parts)
        })
        .map_err(to_py)?
    };
    Ok((value, gc.into_any(), gr.into_any()))
}

/// A preference loss over `P` pairs of sequence log-probabilities (TRL's `DPOTrainer` names:
/// `sigmoid`, `hinge`, `ipo`, `robust`, `exo_pair`, `nca_pair`, `bco_pair`, `sppo_hard`, `aot`,
/// `aot_unpaired`, `apo_zero`, `apo_down`, `discopop`, `sigmoid_norm`, `simpo`, `cpo`, `inpo`,
/// `dno`; default `sigmoid`; a list of names with `loss_weights` for TRL's weighted combination). Returns
/// `(loss, grad_chosen, grad_rejected)`: the mean loss over pairs and its gradients with respect
/// to `chosen_logps` and `rejected_logps`.
#[pyfunction]
#[pyo3(signature = (chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, *,
    loss_type=None, loss_weights=None, beta=0.1, label_smoothing=0.0,
    f_divergence_type="reverse_kl", f_alpha_divergence_coef=1.0, gamma=None, discopop_tau=None,
    inpo_eta=None, inpo_tau=None, chosen_lengths=None, rejected_lengths=None,
    prev_chosen_logps=None, prev_rejected_logps=None, soft_labels=None, pair_weights=None))]
fn preference_loss<'py>(
    py: Python<'py>,
    chosen_logps: &Arr<'py>,
    rejected_logps: &Arr<'py>,
    ref_chosen_logps: &Arr<'py>,
    ref_rejected_logps: &Arr<'py>,
    loss_type: Option<&Arr<'py>>,
    loss_weights: Option<Vec<f64>>,
    beta: f64,
    label_smoothing: f64,
    f_divergence_type: &str,
    f_alpha_divergence_coef: f64,
    gamma: Option<f64>,
    discopop_tau: Option<f64>,
    inpo_eta: Option<f64>,
    inpo_tau: Option<f64>,
    chosen_lengths: Option<&Arr<'py>>,
    rejected_lengths: Option<&Arr<'py>>,
    prev_chosen_logps: Option<&Arr<'py>>,
    prev_rejected_logps: Option<&Arr<'py>>,
    soft_labels: Option<&Arr<'py>>,
    pair_weights: Option<&Arr<'py>>,
) -> PyResult<PairOut<'py>> {
    let names: Vec<String> = match loss_type {
        Some(l) if l.cast::<PyList>().is_ok() => l.extract()?,
        Some(l) if !l.is_none() => vec![l.extract::<String>()?],
        _ => vec!["sigmoid".to_string()],
    };
    let weights = loss_weights.unwrap_or_else(|| vec![1.0; names.len()]);
    if weights.len() != names.len() {
        return Err(to_py(rewardkit_core::Error::LengthMismatch {
            what: "loss_weights",
            expected: names.len(),
            got: weights.len(),
        }));
    }
    let kinds = names
        .iter()
        .map(|n| n.parse::<PreferenceLossKind>().map_err(name_err))
        .collect::<PyResult<Vec<_>>>()?;
    let divergence = match f_divergence_type {
        "reverse_kl" => DivergenceKind::ReverseKl,
        "forward_kl" => DivergenceKind::ForwardKl,
        "js_divergence" => DivergenceKind::JsDivergence,
        "alpha_divergence" => DivergenceKind::Alpha(f_alpha_divergence_coef),
        _ => return Err(option_err("f_divergence_type", DIVERGENCES)),
    };
    let inpo = match (inpo_eta, inpo_tau) {
        (None, None) => None,
        (e, t) => Some((e.unwrap_or(0.0), t.unwrap_or(0.0))),
    };
    let knobs = PrefKnobs {
        beta,
        label_smoothing,
        divergence,
        gamma,
        discopop_tau,
        inpo,
    };
    fn both<'a, 'py>(
        a: Option<&'a Arr<'py>>,
        b: Option<&'a Arr<'py>>,
    ) -> Option<(&'a Arr<'py>, &'a Arr<'py>)> {
        match (a, b) {
            (Some(a), Some(b)) if !a.is_none() && !b.is_none() => Some((a, b)),
            _ => None,
        }
    }
    let arrays = PairArrays {
        chosen: chosen_logps,
        rejected: rejected_logps,
        ref_chosen: ref_chosen_logps,
        ref_rejected: ref_rejected_logps,
        lengths: both(chosen_lengths, rejected_lengths),
        previous: both(prev_chosen_logps, prev_rejected_logps),
        soft_labels,
        pair_weights,
    };
    fn terms<F: Float>(
        kinds: &[PreferenceLossKind],
        w: &[f64],
        k: &PrefKnobs,
    ) -> PyResult<Vec<(PreferenceLoss<F>, F)>> {
        kinds
            .iter()
            .zip(w)
            .map(|(kind, c)| Ok((build_pref::<F>(*kind, k)?, F::lit(*c))))
            .collect()
    }
    match dtype_of(chosen_logps)? {
        Dt::F32 => pref_impl(py, &arrays, &terms::<f32>(&kinds, &weights, &knobs)?),
        Dt::F64 => pref_impl(py, &arrays, &terms::<f64>(&kinds, &weights, &knobs)?),
    }
}

fn bt_impl<'py, F: Float>(
    py: Python<'py>,
    chosen: &Arr<'py>,
    rejected: &Arr<'py>,
    margin: Option<&Arr<'py>>,
    coef: f64,
    l2: f64,
) -> PyResult<PairOut<'py>> {
    let c = view::<F>(chosen, "chosen_rewards")?;
    let r = view::<F>(rejected, "rejected_rewards")?;
    check_shape("rejected_rewards", r.shape(), c.shape())?;
    let m = view_opt::<F>(margin, "margin")?;
    if let Some(m) = &m {
        check_shape("margin", m.shape(), c.shape())?;
    }
    let bt = BradleyTerry::new(F::lit(coef))
        .and_then(|b| b.with_l2(F::lit(l2)))
        .map_err(to_py)?;
    let shape = c.shape().to_vec();
    let n = c.len();
    let (gc, gr) = (zeros::<F>(py, &shape), zeros::<F>(py, &shape));
    let value = {
        let (mut cw, mut rw) = (write(&gc)?, write(&gr)?);
        let (gcs, grs) = (data_mut(&mut cw)?, data_mut(&mut rw)?);
        let (cs, rs) = (data(&c, "chosen_rewards")?, data(&r, "rejected_rewards")?);
        let ms = match &m {
            Some(m) => Some(data(m, "margin")?),
            None => None,
        };
        let bits = vec![true; n];
        py.detach(|| -> rewardkit_core::Result<f64> {
            let parts = core_bt(gcs, grs, cs, rs, ms, &bt)?;
            let agg = Aggregation::TokenMean;
            let mask = Mask::new(&bits, 1)?;
            agg.scale_grad(gcs, mask, &parts)?;
            agg.scale_grad(grs, mask, &parts)?;
            agg.value::<f64>(&parts, &parts)
        })
        .map_err(to_py)?
    };
    Ok((value, gc.into_any(), gr.into_any()))
}

/// The Bradley–Terry reward-model loss `mean(−log σ(r_c − r_r − m)) + η·mean((r_c + r_r)²)
/// + λ·mean(r_c² + r_r²)` (TRL's `RewardTrainer` with `center_rewards_coefficient = η`, OpenRLHF's
/// `PairWiseLoss`, PAR's `Reg` with `reward_reg_val = λ`). Returns
/// `(loss, grad_chosen, grad_rejected)`.
#[pyfunction]
#[pyo3(signature = (chosen_rewards, rejected_rewards, margin=None, *, center_rewards_coefficient=0.0,
    reward_reg_val=0.0))]
fn bradley_terry_loss<'py>(
    py: Python<'py>,
    chosen_rewards: &Arr<'py>,
    rejected_rewards: &Arr<'py>,
    margin: Option<&Arr<'py>>,
    center_rewards_coefficient: f64,
    reward_reg_val: f64,
) -> PyResult<PairOut<'py>> {
    match dtype_of(chosen_rewards)? {
        Dt::F32 => bt_impl::<f32>(
            py,
            chosen_rewards,
            rejected_rewards,
            margin,
            center_rewards_coefficient,
            reward_reg_val,
        ),
        Dt::F64 => bt_impl::<f64>(
            py,
            chosen_rewards,
            rejected_rewards,
            margin,
            center_rewards_coefficient,
            reward_reg_val,
        ),
    }
}

/// `Aggregation` rebuilt from its pickled state.
#[pyfunction]
#[pyo3(name = "_aggregation")]
pub(crate) fn aggregation_from_state(
    mode: &str,
    preset: &str,
    horizon: Option<f64>,
) -> PyResult<PyAggregation> {
    PyAggregation::new(mode, preset, horizon)
}

// ---------------------------------------------------------------------------------------------
// Token masks and sequence log-probabilities (TRL's GRPO and DPO blocks)
// ---------------------------------------------------------------------------------------------

fn token_mask_impl<'py, F: Float>(
    py: Python<'py>,
    mask: &MaskBuf<'py>,
    inputs: &[(&Arr<'py>, &str)],
    adv: Option<&Arr<'py>>,
    param: f64,
    entropy: bool,
) -> PyResult<Arr<'py>> {
    let (b, t) = mask.bt("mask")?;
    let views = inputs
        .iter()
        .map(|(o, n)| {
            let v = view::<F>(o, n)?;
            check_shape(n, v.shape(), &[b, t])?;
            Ok(v)
        })
        .collect::<PyResult<Vec<_>>>()?;
    let adv = view_opt::<F>(adv, "advantages")?;
    let out = zeros::<F>(py, &[b, t]);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let m = mask.mask("mask")?;
        let p = F::lit(param);
        let slices = views
            .iter()
            .zip(inputs)
            .map(|(v, (_, n))| data(v, n))
            .collect::<PyResult<Vec<_>>>()?;
        let a = match &adv {
            Some(a) => Some(data(a, "advantages")?),
            None => None,
        };
        py.detach(|| match (entropy, slices.as_slice(), a) {
            (true, [h], _) => rewardkit_core::loss::entropy_mask(o, h, m, p),
            (false, [l, s], Some(a)) => rewardkit_core::loss::off_policy_mask(o, l, s, a, m, p),
            _ => Err(rewardkit_core::Error::MissingInput { what: "advantages" }),
        })
        .map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// TRL's high-entropy token selection (`top_entropy_quantile = ρ`): 1 for valid tokens whose
/// entropy is at least the `1 − ρ` quantile of the valid entropies, else 0. `(B, T)`.
#[pyfunction]
fn entropy_mask<'py>(
    py: Python<'py>,
    entropy: &Arr<'py>,
    mask: &Arr<'py>,
    top_entropy_quantile: f64,
) -> PyResult<Arr<'py>> {
    let m = MaskBuf::new(mask, "mask")?;
    match dtype_of(entropy)? {
        Dt::F32 => token_mask_impl::<f32>(
            py,
            &m,
            &[(entropy, "entropy")],
            None,
            top_entropy_quantile,
            true,
        ),
        Dt::F64 => token_mask_impl::<f64>(
            py,
            &m,
            &[(entropy, "entropy")],
            None,
            top_entropy_quantile,
            true,
        ),
    }
}

/// TRL's off-policy sequence mask (`off_policy_mask_threshold = δ`, DeepSeek-V3.2): 0 for the
/// tokens of rows with a negative advantage whose mean `log π_sampling − log π` exceeds `δ`.
#[pyfunction]
fn off_policy_mask<'py>(
    py: Python<'py>,
    log_prob: &Arr<'py>,
    sampling_log_prob: &Arr<'py>,
    advantages: &Arr<'py>,
    mask: &Arr<'py>,
    off_policy_mask_threshold: f64,
) -> PyResult<Arr<'py>> {
    let m = MaskBuf::new(mask, "mask")?;
    let ins = [
        (log_prob, "log_prob"),
        (sampling_log_prob, "sampling_log_prob"),
    ];
    match dtype_of(log_prob)? {
        Dt::F32 => token_mask_impl::<f32>(
            py,
            &m,
            &ins,
            Some(advantages),
            off_policy_mask_threshold,
            false,
        ),
        Dt::F64 => token_mask_impl::<f64>(
            py,
            &m,
            &ins,
            Some(advantages),
            off_policy_mask_threshold,
            false,
        ),
    }
}

fn seq_logps_impl<'py, F: Float>(
    py: Python<'py>,
    lp: &Arr<'py>,
    mask: &MaskBuf<'py>,
    weights: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    let (b, t) = mask.bt("mask")?;
    let l = view::<F>(lp, "per_token_logps")?;
    check_shape("per_token_logps", l.shape(), &[b, t])?;
    let w = view_opt::<F>(weights, "weights")?;
    if let Some(w) = &w {
        check_shape("weights", w.shape(), &[b, t])?;
    }
    let out = zeros::<F>(py, &[b]);
    {
        let mut ow = write(&out)?;
        let o = data_mut(&mut ow)?;
        let ls = data(&l, "per_token_logps")?;
        let ws = match &w {
            Some(w) => Some(data(w, "weights")?),
            None => None,
        };
        let m = mask.mask("mask")?;
        py.detach(|| rewardkit_core::loss::preference::sequence_logps(o, ls, ws, m))
            .map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// Sequence log-probabilities `Σₜ wₜ·log π` over valid tokens (TRL's `concatenated_forward`;
/// LD-DPO weights through `weights`). `(B)`.
#[pyfunction]
#[pyo3(signature = (per_token_logps, mask, weights=None))]
fn sequence_logps<'py>(
    py: Python<'py>,
    per_token_logps: &Arr<'py>,
    mask: &Arr<'py>,
    weights: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    let m = MaskBuf::new(mask, "mask")?;
    match dtype_of(per_token_logps)? {
        Dt::F32 => seq_logps_impl::<f32>(py, per_token_logps, &m, weights),
        Dt::F64 => seq_logps_impl::<f64>(py, per_token_logps, &m, weights),
    }
}

/// LD-DPO token weights (TRL's `ld_alpha`): 1 on the tokens both responses share in length, `α`
/// on the chosen or rejected response's extra tokens, 0 at masked positions. Returns
/// `(w_chosen, w_rejected)`, float64 `(P, T)`.
#[pyfunction]
fn ld_token_weights<'py>(
    py: Python<'py>,
    mask_chosen: &Arr<'py>,
    mask_rejected: &Arr<'py>,
    ld_alpha: f64,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let (mc, mr) = (
        MaskBuf::new(mask_chosen, "mask_chosen")?,
        MaskBuf::new(mask_rejected, "mask_rejected")?,
    );
    let (b, t) = mc.bt("mask_chosen")?;
    check_shape("mask_rejected", mr.shape(), &[b, t])?;
    let (wc, wr) = (zeros::<f64>(py, &[b, t]), zeros::<f64>(py, &[b, t]));
    {
        let (mut cw, mut rw) = (write(&wc)?, write(&wr)?);
        rewardkit_core::loss::preference::ld_token_weights(
            data_mut(&mut cw)?,
            data_mut(&mut rw)?,
            mc.mask("mask_chosen")?,
            mr.mask("mask_rejected")?,
            ld_alpha,
        )
        .map_err(to_py)?;
    }
    Ok((wc.into_any(), wr.into_any()))
}

// ---------------------------------------------------------------------------------------------
// Rollout rejection sampling (verl's `rollout_rs`)
// ---------------------------------------------------------------------------------------------

/// verl's `rollout_rs` options (comma-separated, duplicates dropped, in order) and their
/// `rollout_rs_threshold` specs: one spec shared by every option, or one per option (as verl's
/// `_parse_rollout_rs_thresholds`).
fn rs_specs(options: &str, threshold: &Bound<'_, PyAny>) -> PyResult<Vec<(RsMode, String)>> {
    let mut modes: Vec<RsMode> = Vec::new();
    for o in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let m: RsMode = o.parse().map_err(name_err)?;
        if !modes.contains(&m) {
            modes.push(m);
        }
    }
    if modes.is_empty() {
        return Err(to_py(rewardkit_core::Error::Empty { what: "rollout_rs" }));
    }
    let specs: Vec<String> = if let Ok(s) = threshold.extract::<String>() {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    } else {
        vec![threshold.extract::<f64>()?.to_string()]
    };
    let specs = match specs.as_slice() {
        [] => {
            return Err(to_py(rewardkit_core::Error::Empty {
                what: "rollout_rs_threshold",
            }));
        }
        [one] => vec![one.clone(); modes.len()],
        s if s.len() == modes.len() => specs,
        s => {
            return Err(to_py(rewardkit_core::Error::LengthMismatch {
                what: "rollout_rs_threshold",
                expected: modes.len(),
                got: s.len(),
            }));
        }
    };
    Ok(modes.into_iter().zip(specs).collect())
}

fn summary_dict<'py>(py: Python<'py>, s: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("count", s.count)?;
    d.set_item("sum", s.sum)?;
    d.set_item("mean", s.mean)?;
    d.set_item("m2", s.m2)?;
    d.set_item("min", s.min)?;
    d.set_item("max", s.max)?;
    Ok(d)
}

type RsOut<'py> = (Arr<'py>, Bound<'py, PyDict>, Vec<Bound<'py, PyDict>>);

fn rs_impl<'py, F: Float>(
    py: Python<'py>,
    log_prob: &Arr<'py>,
    rollout: &Arr<'py>,
    mask: &MaskBuf<'py>,
    specs: &[(RsMode, String)],
    preset: Preset,
) -> PyResult<RsOut<'py>> {
    let (b, t) = mask.bt("response_mask")?;
    let lp = view::<F>(log_prob, "log_prob")?;
    check_shape("log_prob", lp.shape(), &[b, t])?;
    let rp = view::<F>(rollout, "rollout_log_prob")?;
    check_shape("rollout_log_prob", rp.shape(), &[b, t])?;
    let rules = specs
        .iter()
        .map(|(m, s)| {
            let r = RejectionRule::<F>::from_verl(*m, s)?;
            match preset {
                Preset::Verl => Ok(r),
                _ => r.with_len_eps(0.0),
            }
        })
        .collect::<rewardkit_core::Result<Vec<_>>>()
        .map_err(to_py)?;
    let keep = PyArrayDyn::<bool>::zeros(py, numpy::ndarray::IxDyn(&[b, t]), false);
    let mut stats = vec![RejectionStats::EMPTY; rules.len()];
    let summary = {
        let mut kw = keep
            .try_readwrite()
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let k = kw
            .as_slice_mut()
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let (l, r) = (data(&lp, "log_prob")?, data(&rp, "rollout_log_prob")?);
        let m = mask.mask("response_mask")?;
        py.detach(|| rejection_mask(k, &mut stats, l, r, m, &rules))
            .map_err(to_py)?
    };
    let sd = PyDict::new(py);
    sd.set_item("tokens", summary.tokens)?;
    sd.set_item("rejected_tokens", summary.rejected_tokens)?;
    sd.set_item("seqs", summary.seqs)?;
    sd.set_item("rejected_seqs", summary.rejected_seqs)?;
    sd.set_item("rows", summary.rows)?;
    let per = stats
        .iter()
        .zip(&rules)
        .map(|(st, r)| {
            let d = PyDict::new(py);
            d.set_item("option", r.mode().to_string())?;
            let (lo, hi) = r.thresholds();
            d.set_item("lower", lo.map(Real::as_f64))?;
            d.set_item("upper", hi.as_f64())?;
            d.set_item("tokens", summary_dict(py, &st.tokens)?)?;
            d.set_item("seqs", summary_dict(py, &st.seqs)?)?;
            d.set_item("above", st.above)?;
            d.set_item("below", st.below)?;
            d.set_item("rejected_tokens", st.rejected_tokens)?;
            d.set_item("rejected_seqs", st.rejected_seqs)?;
            Ok(d)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok((keep.into_any(), sd, per))
}

/// verl's rollout rejection sampling (`rollout_rs`, bypass mode's hard trust region): the mask of
/// the tokens every rule keeps, with `d = clamp(log π_rollout − log π_train, ±20)` per token.
///
/// `rollout_rs`: verl's comma-separated options (`token_k1` … `seq_max_k3`); `rollout_rs_threshold`:
/// verl's spec (`"upper"` or `"lower_upper"` for `k1` options, one upper bound for `k2`/`k3`),
/// one shared or one per option, as a string or a number. `log_prob` is the training policy's
/// (verl's bypass mode: the current policy), `rollout_log_prob` the rollout's, both `(B, T)`.
/// `preset="verl"` (default) divides row means by `L + 1e-8` like verl's `masked_mean`.
///
/// Returns `(keep, summary, stats)`: `keep` a bool `(B, T)` mask (pass it to the loss as its
/// `response_mask`, so sums and normalizers come from the same final mask); `summary` a dict
/// (`tokens`, `rejected_tokens`, `seqs`, `rejected_seqs`, `rows`); `stats` one dict per option
/// (`option`, `lower`, `upper`, `tokens` and `seqs` summaries (`count`, `sum`, `mean`, `m2`,
/// `min`, `max`), `above`, `below`, `rejected_tokens`, `rejected_seqs`): the numbers verl's
/// `rollout_corr/rollout_rs_*` metrics are made of.
#[pyfunction]
#[pyo3(name = "rejection_mask")]
#[pyo3(signature = (log_prob, rollout_log_prob, response_mask, rollout_rs="token_k1",
    rollout_rs_threshold=None, *, preset="verl"))]
fn rejection_mask_py<'py>(
    py: Python<'py>,
    log_prob: &Arr<'py>,
    rollout_log_prob: &Arr<'py>,
    response_mask: &Arr<'py>,
    rollout_rs: &str,
    rollout_rs_threshold: Option<&Arr<'py>>,
    preset: &str,
) -> PyResult<RsOut<'py>> {
    let p = parse_preset(preset)?;
    let th = rollout_rs_threshold
        .filter(|t| !t.is_none())
        .ok_or_else(|| {
            to_py(rewardkit_core::Error::MissingInput {
                what: "rollout_rs_threshold",
            })
        })?;
    let specs = rs_specs(rollout_rs, th)?;
    let mask = MaskBuf::new(response_mask, "response_mask")?;
    match dtype_of(log_prob)? {
        Dt::F32 => rs_impl::<f32>(py, log_prob, rollout_log_prob, &mask, &specs, p),
        Dt::F64 => rs_impl::<f64>(py, log_prob, rollout_log_prob, &mask, &specs, p),
    }
}

// ---------------------------------------------------------------------------------------------
// DPO from logits: WPO weights, the SFT term
// ---------------------------------------------------------------------------------------------

fn wpo_impl<'py, F: Float>(
    py: Python<'py>,
    lc: &Arr<'py>,
    ic: &Arr<'py>,
    mc: &MaskBuf<'py>,
    lr: &Arr<'py>,
    ir: &Arr<'py>,
    mr: &MaskBuf<'py>,
) -> PyResult<Arr<'py>> {
    let (p, t) = mc.bt("mask_chosen")?;
    check_shape("mask_rejected", mr.shape(), &[p, t])?;
    let zc = view::<F>(lc, "logits_chosen")?;
    let v = match zc.shape() {
        [a, b, v] if (*a, *b) == (p, t) => *v,
        s => {
            return Err(shape_err(
                "logits_chosen",
                format!(
                    "`logits_chosen` has shape {}, expected ({p}, {t}, V)",
                    crate::arrays::fmt_shape(s)
                ),
            ));
        }
    };
    let zr = view::<F>(lr, "logits_rejected")?;
    check_shape("logits_rejected", zr.shape(), &[p, t, v])?;
    let idc = crate::logits::ids_of(ic, "ids_chosen", &[p, t])?;
    let idr = crate::logits::ids_of(ir, "ids_rejected", &[p, t])?;
    let out = zeros::<F>(py, &[p]);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let (a, b) = (data(&zc, "logits_chosen")?, data(&zr, "logits_rejected")?);
        let (ma, mb) = (mc.mask("mask_chosen")?, mr.mask("mask_rejected")?);
        py.detach(|| wpo_weights(o, a, &idc, ma, b, &idr, mb, v))
            .map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// WPO pair weights (TRL's `use_weighting`, Zhou et al. 2024): `ω = exp(a_c + a_r)` with
/// `a = mean over valid tokens of (log π(y) − log Σ_v π_v²)`, from the (already shifted) policy
/// logits `(P, T, V)`, token ids `(P, T)` and masks `(P, T)` of the chosen and rejected responses.
/// Returns `(P)`: constants for `preference_loss(pair_weights=...)`.
#[pyfunction]
#[pyo3(name = "wpo_weights")]
fn wpo_weights_py<'py>(
    py: Python<'py>,
    logits_chosen: &Arr<'py>,
    ids_chosen: &Arr<'py>,
    mask_chosen: &Arr<'py>,
    logits_rejected: &Arr<'py>,
    ids_rejected: &Arr<'py>,
    mask_rejected: &Arr<'py>,
) -> PyResult<Arr<'py>> {
    let mc = MaskBuf::new(mask_chosen, "mask_chosen")?;
    let mr = MaskBuf::new(mask_rejected, "mask_rejected")?;
    match dtype_of(logits_chosen)? {
        Dt::F32 => wpo_impl::<f32>(
            py,
            logits_chosen,
            ids_chosen,
            &mc,
            logits_rejected,
            ids_rejected,
            &mr,
        ),
        Dt::F64 => wpo_impl::<f64>(
            py,
            logits_chosen,
            ids_chosen,
            &mc,
            logits_rejected,
            ids_rejected,
            &mr,
        ),
    }
}

fn sft_impl<'py, F: Float>(
    py: Python<'py>,
    lp: &Arr<'py>,
    mask: &MaskBuf<'py>,
    agg: &Aggregation,
    total: Option<PyLossParts>,
) -> PyResult<LossOut<'py>> {
    let (b, t) = mask.bt("mask")?;
    let l = view::<F>(lp, "token_logps")?;
    check_shape("token_logps", l.shape(), &[b, t])?;
    let grad = zeros::<F>(py, &[b, t]);
    let (value, parts) = {
        let mut gw = write(&grad)?;
        let g = data_mut(&mut gw)?;
        let ls = data(&l, "token_logps")?;
        let m = mask.mask("mask")?;
        py.detach(|| -> rewardkit_core::Result<(f64, LossParts)> {
            let parts = sft_loss(g, ls, m, agg)?;
            let tot = total_or(parts, total);
            let v = agg.value::<f64>(&parts, &tot)?;
            agg.scale_grad(g, m, &tot)?;
            Ok((v, parts))
        })
        .map_err(to_py)?
    };
    Ok((value, grad.into_any(), PyLossParts(parts)))
}

/// The SFT (negative log-likelihood) term of TRL's DPO `loss_type="sft"` and RPO:
/// `ℓₜ = −log π(yₜ)` over the valid tokens of `token_logps` `(B, T)` (the chosen responses),
/// aggregated by `loss_agg_mode` (`token-mean`: TRL's cross-entropy). Returns
/// `(loss, grad, parts)` with `grad = ∂loss/∂token_logps`.
#[pyfunction]
#[pyo3(name = "sft_loss")]
#[pyo3(signature = (token_logps, mask, loss_agg_mode="token-mean", *, preset="rewardkit",
    horizon=None, total=None))]
fn sft_loss_py<'py>(
    py: Python<'py>,
    token_logps: &Arr<'py>,
    mask: &Arr<'py>,
    loss_agg_mode: &str,
    preset: &str,
    horizon: Option<f64>,
    total: Option<PyLossParts>,
) -> PyResult<LossOut<'py>> {
    let agg = PyAggregation::build(loss_agg_mode, parse_preset(preset)?, horizon)?.agg;
    let m = MaskBuf::new(mask, "mask")?;
    match dtype_of(token_logps)? {
        Dt::F32 => sft_impl::<f32>(py, token_logps, &m, &agg, total),
        Dt::F64 => sft_impl::<f64>(py, token_logps, &m, &agg, total),
    }
}
