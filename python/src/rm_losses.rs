//! Reward-model and OREAL losses (`rewardkit_core::loss::{reward_model, oreal}`): ODIN's
//! disentangled reward-model loss and its orthogonality term, WARM's weight averaging, OREAL's
//! per-shard policy loss with whole-batch counts, and OREAL's token-level RM loss. Each returns
//! its value and its exact gradient; float32 or float64 (the first float input decides).

use numpy::PyUntypedArrayMethods;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rewardkit_core::kl::{KlEstimator, KlPenalty};
use rewardkit_core::loss::{
    KlTerm, Odin, OrealCounts, OrealInputs, OrealLoss, oreal_loss as core_oreal_loss,
    oreal_rm_loss as core_oreal_rm_loss, warm_average as core_warm_average,
};

use crate::arrays::{
    Dt, Float, MaskBuf, check_shape, data, data_mut, dtype_of, view, write, zeros,
};
use crate::errors::{option_err, shape_err, to_py};
use crate::rewards::{bools, u32s};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(odin_loss, m)?)?;
    m.add_function(wrap_pyfunction!(odin_orthogonal, m)?)?;
    m.add_function(wrap_pyfunction!(warm_average, m)?)?;
    m.add_function(wrap_pyfunction!(oreal_counts, m)?)?;
    m.add_function(wrap_pyfunction!(oreal_loss, m)?)?;
    m.add_function(wrap_pyfunction!(oreal_rm_loss, m)?)?;
    Ok(())
}

type Arr<'py> = Bound<'py, PyAny>;
/// `(positive_tokens, negative_tokens, tokens, seqs)`.
type Counts = (usize, usize, usize, usize);

macro_rules! by_dtype {
    ($x:expr, $f:ident ( $($arg:expr),* )) => {
        match dtype_of($x)? {
            Dt::F32 => $f::<f32>($($arg),*),
            Dt::F64 => $f::<f64>($($arg),*),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// ODIN
// ---------------------------------------------------------------------------------------------

fn odin_impl<'py, F: Float>(
    py: Python<'py>,
    quality: &Arr<'py>,
    length_head: &Arr<'py>,
    lengths: &[u32],
    odin: (f64, f64),
) -> PyResult<(Bound<'py, PyDict>, Arr<'py>, Arr<'py>)> {
    let o = Odin::new(F::lit(odin.0), F::lit(odin.1)).map_err(to_py)?;
    let q = view::<F>(quality, "quality")?;
    let l = view::<F>(length_head, "length_head")?;
    check_shape("length_head", l.shape(), q.shape())?;
    let shape = q.shape().to_vec();
    let (gq, gl) = (zeros::<F>(py, &shape), zeros::<F>(py, &shape));
    let v = {
        let (mut wq, mut wl) = (write(&gq)?, write(&gl)?);
        let (a, b) = (data_mut(&mut wq)?, data_mut(&mut wl)?);
        let (qs, ls) = (data(&q, "quality")?, data(&l, "length_head")?);
        py.detach(|| o.loss(a, b, qs, ls, lengths)).map_err(to_py)?
    };
    let d = PyDict::new(py);
    d.set_item("vanilla", v.vanilla)?;
    d.set_item("length", v.length)?;
    d.set_item("total", v.total)?;
    Ok((d, gq.into_any(), gl.into_any()))
}

/// ODIN's reward-model loss (Chen et al. 2024; the PAR study's `RewardTrainerODIN`): the pairwise
/// loss of the summed heads plus `length_coef·(|ρ(quality, len)| − ρ(length_head, len))`.
/// `quality`, `length_head`, `lengths`: `(2P)`, the `P` chosen responses first, then the `P`
/// rejected ones.
///
/// Returns `({"vanilla", "length", "total"}, ∂total/∂quality (2P), ∂total/∂length_head (2P))`.
///
/// Raises `EmptyInputError`, `BadShapeError` (an odd count), `LengthMismatchError`,
/// `NonFiniteError`, `InvalidParamError` (a negative coefficient).
///
/// Citation: Chen et al. (2024), arXiv:2402.07319.
#[pyfunction]
#[pyo3(signature = (quality, length_head, lengths, length_coef=1.0))]
fn odin_loss<'py>(
    py: Python<'py>,
    quality: &Arr<'py>,
    length_head: &Arr<'py>,
    lengths: &Arr<'py>,
    length_coef: f64,
) -> PyResult<(Bound<'py, PyDict>, Arr<'py>, Arr<'py>)> {
    let l = u32s(lengths, "lengths")?;
    by_dtype!(
        quality,
        odin_impl(py, quality, length_head, &l, (length_coef, 1.0))
    )
}

fn orth_impl<'py, F: Float>(
    py: Python<'py>,
    w_q: &Arr<'py>,
    w_l: &Arr<'py>,
    orth_coef: f64,
) -> PyResult<(f64, Arr<'py>, Arr<'py>)> {
    let o = Odin::new(F::ONE, F::lit(orth_coef)).map_err(to_py)?;
    let a = view::<F>(w_q, "w_q")?;
    let b = view::<F>(w_l, "w_l")?;
    let dim = match (a.shape(), b.shape()) {
        ([_, d], [_, e]) if d == e => *d,
        (sa, sb) => {
            return Err(shape_err(
                "w_l",
                format!(
                    "`w_q` (h, d) and `w_l` (k, d) must share d, got {} and {}",
                    crate::arrays::fmt_shape(sa),
                    crate::arrays::fmt_shape(sb)
                ),
            ));
        }
    };
    let (ga, gb) = (zeros::<F>(py, a.shape()), zeros::<F>(py, b.shape()));
    let v = {
        let (mut wa, mut wb) = (write(&ga)?, write(&gb)?);
        let (x, y) = (data_mut(&mut wa)?, data_mut(&mut wb)?);
        let (aq, bl) = (data(&a, "w_q")?, data(&b, "w_l")?);
        py.detach(|| o.orthogonal(x, y, aq, bl, dim))
            .map_err(to_py)?
    };
    Ok((v, ga.into_any(), gb.into_any()))
}

/// ODIN's orthogonality term `orth_coef·‖W_Q W_Lᵀ‖_F / (‖W_Q‖_F·‖W_L‖_F + 1e-6)` of the two heads'
/// weights `w_q` `(h, d)` and `w_l` `(k, d)`: `(value, ∂/∂w_q, ∂/∂w_l)`.
///
/// Raises `ShapeMismatchError`, `BadShapeError` (`d = 0`), `NonFiniteError`, `InvalidParamError`.
#[pyfunction]
#[pyo3(signature = (w_q, w_l, orth_coef=1.0))]
fn odin_orthogonal<'py>(
    py: Python<'py>,
    w_q: &Arr<'py>,
    w_l: &Arr<'py>,
    orth_coef: f64,
) -> PyResult<(f64, Arr<'py>, Arr<'py>)> {
    by_dtype!(w_q, orth_impl(py, w_q, w_l, orth_coef))
}

// ---------------------------------------------------------------------------------------------
// WARM
// ---------------------------------------------------------------------------------------------

fn warm_impl<'py, F: Float>(py: Python<'py>, models: &[Arr<'py>]) -> PyResult<Arr<'py>> {
    let views = models
        .iter()
        .map(|m| view::<F>(m, "models"))
        .collect::<PyResult<Vec<_>>>()?;
    let first = views
        .first()
        .map(|v| v.shape().to_vec())
        .unwrap_or_default();
    let slices = views
        .iter()
        .map(|v| data(v, "models"))
        .collect::<PyResult<Vec<_>>>()?;
    let out = zeros::<F>(py, &first);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        py.detach(|| core_warm_average(o, &slices)).map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// WARM's weight averaging (Ramé et al. 2024): the element-wise mean of `M` reward models'
/// parameter arrays (each of the same size; the output has the first one's shape), summed in f64
/// and rounded once.
///
/// Raises `EmptyInputError` (no models), `LengthMismatchError`, `NonFiniteError`.
///
/// Citation: Ramé et al. (2024), arXiv:2401.12187.
#[pyfunction]
fn warm_average<'py>(py: Python<'py>, models: Vec<Arr<'py>>) -> PyResult<Arr<'py>> {
    let Some(first) = models.first() else {
        return Err(to_py(rewardkit_core::Error::Empty { what: "models" }));
    };
    by_dtype!(first, warm_impl(py, &models))
}

// ---------------------------------------------------------------------------------------------
// OREAL
// ---------------------------------------------------------------------------------------------

fn counts_tuple(c: OrealCounts) -> Counts {
    (c.positive_tokens, c.negative_tokens, c.tokens, c.seqs)
}

/// OREAL's whole-batch counts of one shard, `(positive_tokens, negative_tokens, tokens, seqs)`,
/// from the outcomes `positive` `(B)` and the `(B, T)` mask; add the shards' tuples element-wise
/// and pass the sum as `total=` to `oreal_loss`.
///
/// Raises `LengthMismatchError`.
#[pyfunction]
fn oreal_counts(positive: &Arr<'_>, mask: &Arr<'_>) -> PyResult<Counts> {
    let p = bools(positive)?;
    let m = MaskBuf::new(mask, "mask")?;
    m.bt("mask")?;
    OrealCounts::new(&p, m.mask("mask")?)
        .map(counts_tuple)
        .map_err(to_py)
}

/// The OREAL loss's options, read from Python.
#[derive(Clone, Copy, Debug)]
struct OrealOpts {
    positive_factor: f64,
    negative_factor: f64,
    pos_mult_adv: bool,
    kl: Option<(KlEstimator, f64)>,
}

struct OrealArrays<'a, 'py> {
    logp: &'a Arr<'py>,
    advantages: &'a Arr<'py>,
    ref_logp: Option<&'a Arr<'py>>,
    weights: Option<(&'a Arr<'py>, &'a Arr<'py>)>,
}

fn oreal_impl<'py, F: Float>(
    py: Python<'py>,
    x: &OrealArrays<'_, 'py>,
    positive: &[bool],
    mask: &MaskBuf<'py>,
    o: OrealOpts,
    total: Option<Counts>,
) -> PyResult<(Bound<'py, PyDict>, Arr<'py>)> {
    let (b, t) = mask.bt("mask")?;
    let lp = view::<F>(x.logp, "logp")?;
    check_shape("logp", lp.shape(), &[b, t])?;
    let adv = view::<F>(x.advantages, "advantages")?;
    check_shape("advantages", adv.shape(), &[b])?;
    let rf = x.ref_logp.map(|r| view::<F>(r, "ref_logp")).transpose()?;
    let ws = x
        .weights
        .map(|(p, n)| Ok::<_, PyErr>((view::<F>(p, "pos_weight")?, view::<F>(n, "neg_weight")?)))
        .transpose()?;
    let kl =
        o.kl.map(|(e, c)| KlTerm::new(KlPenalty::new(e), F::lit(c)))
            .transpose()
            .map_err(to_py)?;
    let loss = OrealLoss::new(
        F::lit(o.positive_factor),
        F::lit(o.negative_factor),
        o.pos_mult_adv,
    )
    .map_err(to_py)?
    .with_kl(kl);
    let mk = mask.mask("mask")?;
    let mut inp = OrealInputs::new(data(&lp, "logp")?, data(&adv, "advantages")?, positive, mk)
        .map_err(to_py)?;
    if let Some(r) = &rf {
        inp = inp.with_ref(data(r, "ref_logp")?).map_err(to_py)?;
    }
    if let Some((p, n)) = &ws {
        inp = inp
            .with_weights(data(p, "pos_weight")?, data(n, "neg_weight")?)
            .map_err(to_py)?;
    }
    let total = match total {
        Some((positive_tokens, negative_tokens, tokens, seqs)) => OrealCounts {
            positive_tokens,
            negative_tokens,
            tokens,
            seqs,
        },
        None => inp.counts().map_err(to_py)?,
    };
    let grad = zeros::<F>(py, &[b, t]);
    let v = {
        let mut w = write(&grad)?;
        let g = data_mut(&mut w)?;
        py.detach(|| core_oreal_loss(g, &inp, &loss, &total))
            .map_err(to_py)?
    };
    let d = PyDict::new(py);
    d.set_item("positive", v.positive)?;
    d.set_item("negative", v.negative)?;
    d.set_item("kl", v.kl)?;
    d.set_item("total", v.total())?;
    Ok((d, grad.into_any()))
}

/// OREAL's policy loss for one shard (Lyu et al. 2025): behaviour cloning on positive samples
/// (`positive_factor·A/N⁺·Σ w⁺·(−logp)`, `A` dropped without `pos_mult_adv`), REINFORCE with the
/// reshaped advantage on negative ones (`negative_factor`), and a KL term against `ref_logp`
/// (`kl_type="unbias"` = k3 (the reference's default), `"mse"` = k2, or `None`; coefficient
/// `kl_coef`). `logp`, `ref_logp`, `pos_weight`, `neg_weight`: `(B, T)`; `advantages`,
/// `positive`: `(B)`. `total`: the whole batch's `oreal_counts` (this shard's by default).
///
/// Returns `({"positive", "negative", "kl", "total"}, ∂total/∂logp (B, T))`.
///
/// Raises `MissingInputError` (`ref_logp` with a KL term), `NonFiniteError`, `InvalidParamError`
/// (negative factors or weights, `total` below this shard's counts), `ShapeMismatchError`,
/// `UnknownNameError`.
///
/// Citation: Lyu et al. (2025), arXiv:2502.06781 (`InternLM/OREAL`, `train_oreal.py`).
#[pyfunction]
#[pyo3(signature = (logp, advantages, positive, mask, *, ref_logp=None, pos_weight=None,
    neg_weight=None, positive_factor=1.0, negative_factor=0.5, pos_mult_adv=true,
    kl_type=Some("unbias"), kl_coef=0.01, total=None))]
fn oreal_loss<'py>(
    py: Python<'py>,
    logp: &Arr<'py>,
    advantages: &Arr<'py>,
    positive: &Arr<'py>,
    mask: &Arr<'py>,
    ref_logp: Option<&Arr<'py>>,
    pos_weight: Option<&Arr<'py>>,
    neg_weight: Option<&Arr<'py>>,
    positive_factor: f64,
    negative_factor: f64,
    pos_mult_adv: bool,
    kl_type: Option<&str>,
    kl_coef: f64,
    total: Option<Counts>,
) -> PyResult<(Bound<'py, PyDict>, Arr<'py>)> {
    let kl = match kl_type {
        None => None,
        Some("unbias" | "k3") => Some((KlEstimator::K3, kl_coef)),
        Some("mse" | "k2") => Some((KlEstimator::K2, kl_coef)),
        Some(_) => return Err(option_err("OREAL kl_type", &["unbias", "k3", "mse", "k2"])),
    };
    let weights = match (pos_weight, neg_weight) {
        (Some(p), Some(n)) => Some((p, n)),
        (None, None) => None,
        _ => {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "pass both `pos_weight` and `neg_weight`, or neither",
            ));
        }
    };
    let opts = OrealOpts {
        positive_factor,
        negative_factor,
        pos_mult_adv,
        kl,
    };
    let p = bools(positive)?;
    let m = MaskBuf::new(mask, "mask")?;
    let x = OrealArrays {
        logp,
        advantages,
        ref_logp,
        weights,
    };
    by_dtype!(logp, oreal_impl(py, &x, &p, &m, opts, total))
}

fn rm_impl<'py, F: Float>(
    py: Python<'py>,
    logits: &Arr<'py>,
    positive: &[bool],
    mask: &MaskBuf<'py>,
    total_seqs: Option<usize>,
) -> PyResult<(f64, Arr<'py>)> {
    let (b, t) = mask.bt("mask")?;
    let z = view::<F>(logits, "logits")?;
    check_shape("logits", z.shape(), &[b, t])?;
    let mk = mask.mask("mask")?;
    let seqs = match total_seqs {
        Some(s) => s,
        None => OrealCounts::new(positive, mk).map_err(to_py)?.seqs,
    };
    let grad = zeros::<F>(py, &[b, t]);
    let v = {
        let mut w = write(&grad)?;
        let g = data_mut(&mut w)?;
        let zs = data(&z, "logits")?;
        py.detach(|| core_oreal_rm_loss(g, zs, positive, mk, seqs))
            .map_err(to_py)?
    };
    Ok((v, grad.into_any()))
}

/// OREAL's token-level reward model loss: the binary cross-entropy of each sample's mean valid
/// logit against its outcome, averaged over the whole batch's `total_seqs` sequences (this
/// shard's by default): `(value, ∂value/∂logits (B, T))`.
///
/// Raises `InvalidParamError` (`total_seqs` below this shard's), `NonFiniteError`,
/// `ShapeMismatchError`, `LengthMismatchError`.
///
/// Citation: `InternLM/OREAL`, `train_oreal.py` (`_token_level_rm_loss`).
#[pyfunction]
#[pyo3(signature = (logits, positive, mask, total_seqs=None))]
fn oreal_rm_loss<'py>(
    py: Python<'py>,
    logits: &Arr<'py>,
    positive: &Arr<'py>,
    mask: &Arr<'py>,
    total_seqs: Option<usize>,
) -> PyResult<(f64, Arr<'py>)> {
    let p = bools(positive)?;
    let m = MaskBuf::new(mask, "mask")?;
    by_dtype!(logits, rm_impl(py, logits, &p, &m, total_seqs))
}
