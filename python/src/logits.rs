//! The logits module (`rewardkit_core::logits`): log-sum-exp, softmax and log-softmax, token
//! log-probabilities, entropy and the exact full-vocabulary KL, each forward pass returning the
//! row statistics its backward pass reads, each backward pass accumulating into a gradient
//! buffer (`out=`), as the core does.
//!
//! # Shapes
//! `logits` is `(..., V)`: any leading shape `S` (flattened `(B, T)` positions, or `(B, T)`
//! itself) of rows of `V` logits. Per-row values (`ids`, token log-probabilities, entropies, KL,
//! upstream gradients of per-row values) have shape `S`; the row statistics are a float64 array
//! `S + (2,)` holding each row's `(max z, ln Σ e^{z − max z})` ([`RowStats`]).

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods, dtype};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use rewardkit_core::logits::{
    self as core_logits, RowStats, entropy_backward as core_entropy_bwd,
    entropy_forward as core_entropy_fwd, full_kl_backward as core_kl_bwd,
    full_kl_forward as core_kl_fwd, log_softmax_backward as core_lsm_bwd,
    log_softmax_forward as core_lsm_fwd, logprobs_backward as core_lp_bwd,
    logprobs_forward as core_lp_fwd, softmax_backward as core_sm_bwd,
    softmax_forward as core_sm_fwd,
};
use rewardkit_core::{Error, Real};

use crate::arrays::{Dt, Float, check_shape, data, data_mut, dtype_of, np, view, write, zeros};
use crate::errors::{shape_err, to_py};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(row_stats, m)?)?;
    m.add_function(wrap_pyfunction!(logsumexp_rows, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax_forward, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_forward, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(logprobs_forward, m)?)?;
    m.add_function(wrap_pyfunction!(logprobs_backward, m)?)?;
    m.add_function(wrap_pyfunction!(entropy_forward, m)?)?;
    m.add_function(wrap_pyfunction!(entropy_backward, m)?)?;
    m.add_function(wrap_pyfunction!(full_kl_forward, m)?)?;
    m.add_function(wrap_pyfunction!(full_kl_backward, m)?)?;
    Ok(())
}

type Arr<'py> = Bound<'py, PyAny>;

/// `(S, V)` of `(..., V)` logits: the leading shape and the vocabulary size.
fn split_vocab(name: &str, shape: &[usize]) -> PyResult<(Vec<usize>, usize)> {
    match shape.split_last() {
        Some((&v, lead)) => Ok((lead.to_vec(), v)),
        None => Err(shape_err(
            name,
            format!("`{name}` must have a vocabulary axis (..., V), got a scalar"),
        )),
    }
}

/// Token ids `S` as `u32` (an owned copy of `N` ids, never of the logits).
pub(crate) fn ids_of(obj: &Arr<'_>, name: &'static str, want: &[usize]) -> PyResult<Vec<u32>> {
    let py = obj.py();
    let a = np(py)?.call_method1("asarray", (obj,))?;
    let kind: String = a.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind != "i" && kind != "u" {
        return Err(PyTypeError::new_err(format!(
            "`{name}` must be an integer array of token ids"
        )));
    }
    let a = np(py)?.call_method1("ascontiguousarray", (a, dtype::<i64>(py)))?;
    let a = a
        .cast_into::<PyArrayDyn<i64>>()
        .map_err(|_| PyTypeError::new_err(format!("`{name}` could not be read as integers")))?;
    let ro = a.readonly();
    check_shape(name, ro.shape(), want)?;
    let s = ro
        .as_slice()
        .map_err(|e| PyTypeError::new_err(format!("`{name}`: {e}")))?;
    s.iter()
        .map(|&x| {
            u32::try_from(x).map_err(|_| {
                to_py(Error::InvalidParam {
                    name,
                    value: x as f64,
                    expected: "token ids in [0, 2^32)",
                })
            })
        })
        .collect()
}

/// Row statistics from a `S + (2,)` float64 array.
fn stats_of(obj: &Arr<'_>, name: &str, lead: &[usize]) -> PyResult<Vec<RowStats>> {
    let v = view::<f64>(obj, name)?;
    let mut want = lead.to_vec();
    want.push(2);
    check_shape(name, v.shape(), &want)?;
    Ok(data(&v, name)?
        .chunks_exact(2)
        .map(|c| match c {
            [max, ln_sum] => RowStats {
                max: *max,
                ln_sum: *ln_sum,
            },
            _ => RowStats::default(),
        })
        .collect())
}

/// Row statistics as a new `S + (2,)` float64 array.
fn stats_array<'py>(py: Python<'py>, s: &[RowStats], lead: &[usize]) -> PyResult<Arr<'py>> {
    let mut shape = lead.to_vec();
    shape.push(2);
    let out = zeros::<f64>(py, &shape);
    {
        let mut w = write(&out)?;
        for (o, r) in data_mut(&mut w)?.chunks_exact_mut(2).zip(s) {
            if let [a, b] = o {
                *a = r.max;
                *b = r.ln_sum;
            }
        }
    }
    Ok(out.into_any())
}

/// The gradient buffer of a backward pass: `out` (accumulated into in place: a writable,
/// C-contiguous array of the call's dtype and of `shape`) or a new zero array.
fn grad_buffer<'py, F: Float>(
    py: Python<'py>,
    out: Option<&Arr<'py>>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<F>>> {
    match out {
        Some(o) if !o.is_none() => {
            let a = o.cast::<PyArrayDyn<F>>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "`out` must be a NumPy {} array (it is accumulated into in place)",
                    if F::IS_F32 { "float32" } else { "float64" }
                ))
            })?;
            if !a.is_c_contiguous() {
                return Err(PyTypeError::new_err("`out` must be C-contiguous"));
            }
            check_shape("out", a.shape(), shape)?;
            Ok(a.clone())
        }
        _ => Ok(zeros::<F>(py, shape)),
    }
}

fn writable<'py, F: Float>(
    a: &Bound<'py, PyArrayDyn<F>>,
) -> PyResult<numpy::PyReadwriteArrayDyn<'py, F>> {
    a.try_readwrite()
        .map_err(|e| PyRuntimeError::new_err(format!("`out` cannot be written: {e}")))
}

/// Dispatches a generic body on the dtype of `$x`.
macro_rules! by_dtype {
    ($x:expr, $f:ident ( $($arg:expr),* )) => {
        match dtype_of($x)? {
            Dt::F32 => $f::<f32>($($arg),*),
            Dt::F64 => $f::<f64>($($arg),*),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Row statistics, log-sum-exp
// ---------------------------------------------------------------------------------------------

fn row_stats_impl<'py, F: Float>(py: Python<'py>, logits: &Arr<'py>) -> PyResult<Arr<'py>> {
    let z = view::<F>(logits, "logits")?;
    let (lead, v) = split_vocab("logits", z.shape())?;
    let n = lead.iter().product();
    let mut s = vec![RowStats::default(); n];
    let zs = data(&z, "logits")?;
    py.detach(|| core_logits::row_stats(&mut s, zs, v))
        .map_err(to_py)?;
    stats_array(py, &s, &lead)
}

/// The row statistics `(max z, ln Σ e^{z − max z})` of `(..., V)` logits, a float64 array
/// `(..., 2)` (what every forward pass also returns).
#[pyfunction]
fn row_stats<'py>(py: Python<'py>, logits: &Arr<'py>) -> PyResult<Arr<'py>> {
    by_dtype!(logits, row_stats_impl(py, logits))
}

fn lse_impl<'py, F: Float>(py: Python<'py>, logits: &Arr<'py>) -> PyResult<Arr<'py>> {
    let z = view::<F>(logits, "logits")?;
    let (lead, v) = split_vocab("logits", z.shape())?;
    let out = zeros::<F>(py, &lead);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let zs = data(&z, "logits")?;
        py.detach(|| core_logits::logsumexp_rows(o, zs, v))
            .map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// `log Σ_v e^{z_v}` of every row of `(..., V)` logits (reduced in f64). Shape `(...)`.
#[pyfunction]
fn logsumexp_rows<'py>(py: Python<'py>, logits: &Arr<'py>) -> PyResult<Arr<'py>> {
    by_dtype!(logits, lse_impl(py, logits))
}

// ---------------------------------------------------------------------------------------------
// Log-softmax and softmax
// ---------------------------------------------------------------------------------------------

fn full_fwd_impl<'py, F: Float>(
    py: Python<'py>,
    logits: &Arr<'py>,
    log: bool,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let z = view::<F>(logits, "logits")?;
    let shape = z.shape().to_vec();
    let (lead, v) = split_vocab("logits", &shape)?;
    let n = lead.iter().product();
    let mut s = vec![RowStats::default(); n];
    let out = zeros::<F>(py, &shape);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let zs = data(&z, "logits")?;
        py.detach(|| {
            if log {
                core_lsm_fwd(o, &mut s, zs, v)
            } else {
                core_sm_fwd(o, &mut s, zs, v)
            }
        })
        .map_err(to_py)?;
    }
    Ok((out.into_any(), stats_array(py, &s, &lead)?))
}

fn full_bwd_impl<'py, F: Float>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    stats: &Arr<'py>,
    out: Option<&Arr<'py>>,
    log: bool,
) -> PyResult<Arr<'py>> {
    let z = view::<F>(logits, "logits")?;
    let shape = z.shape().to_vec();
    let (lead, v) = split_vocab("logits", &shape)?;
    let g = view::<F>(grad_out, "grad_out")?;
    check_shape("grad_out", g.shape(), &shape)?;
    let s = stats_of(stats, "stats", &lead)?;
    let buf = grad_buffer::<F>(py, out, &shape)?;
    {
        let mut w = writable(&buf)?;
        let o = data_mut(&mut w)?;
        let (gs, zs) = (data(&g, "grad_out")?, data(&z, "logits")?);
        py.detach(|| {
            if log {
                core_lsm_bwd(o, gs, zs, &s, v)
            } else {
                core_sm_bwd(o, gs, zs, &s, v)
            }
        })
        .map_err(to_py)?;
    }
    Ok(buf.into_any())
}

/// Log-softmax of every row of `(..., V)` logits: `(log_probs (..., V), stats (..., 2))`.
/// `log π = (z − max z) − ln Σ e^{z − max z}` in f64 (huge logits keep every digit).
#[pyfunction]
fn log_softmax_forward<'py>(py: Python<'py>, logits: &Arr<'py>) -> PyResult<(Arr<'py>, Arr<'py>)> {
    by_dtype!(logits, full_fwd_impl(py, logits, true))
}

/// Backward of `log_softmax_forward`: `∂L/∂z = g − π·Σ_v g_v` per row, given `grad_out = ∂L/∂ log π`
/// `(..., V)`; **accumulated** into `out` (in place) when given, else into a new zero array.
/// Returns the gradient `(..., V)`.
#[pyfunction]
#[pyo3(signature = (grad_out, logits, stats, *, out=None))]
fn log_softmax_backward<'py>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    stats: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    by_dtype!(
        logits,
        full_bwd_impl(py, grad_out, logits, stats, out, true)
    )
}

/// Softmax of every row of `(..., V)` logits: `(probs (..., V), stats (..., 2))` (`−∞` logits
/// give probability 0).
#[pyfunction]
fn softmax_forward<'py>(py: Python<'py>, logits: &Arr<'py>) -> PyResult<(Arr<'py>, Arr<'py>)> {
    by_dtype!(logits, full_fwd_impl(py, logits, false))
}

/// Backward of `softmax_forward`: `∂L/∂z = π·(g − Σ_v π_v g_v)` given `grad_out = ∂L/∂π`,
/// accumulated into `out` when given.
#[pyfunction]
#[pyo3(signature = (grad_out, logits, stats, *, out=None))]
fn softmax_backward<'py>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    stats: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    by_dtype!(
        logits,
        full_bwd_impl(py, grad_out, logits, stats, out, false)
    )
}

// ---------------------------------------------------------------------------------------------
// Token log-probabilities
// ---------------------------------------------------------------------------------------------

fn lp_fwd_impl<'py, F: Float>(
    py: Python<'py>,
    logits: &Arr<'py>,
    ids: &Arr<'py>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let z = view::<F>(logits, "logits")?;
    let (lead, v) = split_vocab("logits", z.shape())?;
    let id = ids_of(ids, "ids", &lead)?;
    let mut s = vec![RowStats::default(); id.len()];
    let out = zeros::<F>(py, &lead);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let zs = data(&z, "logits")?;
        py.detach(|| core_lp_fwd(o, &mut s, zs, &id, v))
            .map_err(to_py)?;
    }
    Ok((out.into_any(), stats_array(py, &s, &lead)?))
}

fn lp_bwd_impl<'py, F: Float>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    stats: &Arr<'py>,
    ids: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    let z = view::<F>(logits, "logits")?;
    let shape = z.shape().to_vec();
    let (lead, v) = split_vocab("logits", &shape)?;
    let g = view::<F>(grad_out, "grad_out")?;
    check_shape("grad_out", g.shape(), &lead)?;
    let id = ids_of(ids, "ids", &lead)?;
    let s = stats_of(stats, "stats", &lead)?;
    let buf = grad_buffer::<F>(py, out, &shape)?;
    {
        let mut w = writable(&buf)?;
        let o = data_mut(&mut w)?;
        let (gs, zs) = (data(&g, "grad_out")?, data(&z, "logits")?);
        py.detach(|| core_lp_bwd(o, gs, zs, &s, &id, v))
            .map_err(to_py)?;
    }
    Ok(buf.into_any())
}

/// Log-probabilities of given tokens (TRL's `selective_log_softmax`, verl's
/// `logprobs_from_logits`): `logits` `(..., V)`, `ids` `(...)` (each `< V`). Returns
/// `(logp (...), stats (..., 2))`. Language-model logits predict the next token: pass
/// `logits[:, :-1]` with `ids[:, 1:]`.
#[pyfunction]
fn logprobs_forward<'py>(
    py: Python<'py>,
    logits: &Arr<'py>,
    ids: &Arr<'py>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    by_dtype!(logits, lp_fwd_impl(py, logits, ids))
}

/// Backward of `logprobs_forward`: `∂L/∂z_v = g·([v = id] − π_v)` per row given `grad_out =
/// ∂L/∂ log π(id)` `(...)` (rows with `g = 0` are not read); accumulated into `out`
/// `(..., V)` when given, else into a new zero array. Returns the gradient.
#[pyfunction]
#[pyo3(signature = (grad_out, logits, stats, ids, *, out=None))]
fn logprobs_backward<'py>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    stats: &Arr<'py>,
    ids: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    by_dtype!(logits, lp_bwd_impl(py, grad_out, logits, stats, ids, out))
}

// ---------------------------------------------------------------------------------------------
// Entropy
// ---------------------------------------------------------------------------------------------

fn ent_fwd_impl<'py, F: Float>(
    py: Python<'py>,
    logits: &Arr<'py>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let z = view::<F>(logits, "logits")?;
    let (lead, v) = split_vocab("logits", z.shape())?;
    let n = lead.iter().product();
    let mut s = vec![RowStats::default(); n];
    let out = zeros::<F>(py, &lead);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let zs = data(&z, "logits")?;
        py.detach(|| core_entropy_fwd(o, &mut s, zs, v))
            .map_err(to_py)?;
    }
    Ok((out.into_any(), stats_array(py, &s, &lead)?))
}

fn ent_bwd_impl<'py, F: Float>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    stats: &Arr<'py>,
    entropy: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    let z = view::<F>(logits, "logits")?;
    let shape = z.shape().to_vec();
    let (lead, v) = split_vocab("logits", &shape)?;
    let g = view::<F>(grad_out, "grad_out")?;
    check_shape("grad_out", g.shape(), &lead)?;
    let h = view::<F>(entropy, "entropy")?;
    check_shape("entropy", h.shape(), &lead)?;
    let s = stats_of(stats, "stats", &lead)?;
    let buf = grad_buffer::<F>(py, out, &shape)?;
    {
        let mut w = writable(&buf)?;
        let o = data_mut(&mut w)?;
        let (gs, zs, hs) = (
            data(&g, "grad_out")?,
            data(&z, "logits")?,
            data(&h, "entropy")?,
        );
        py.detach(|| core_entropy_bwd(o, gs, zs, &s, hs, v))
            .map_err(to_py)?;
    }
    Ok(buf.into_any())
}

/// Entropy `H = −Σ_v π_v log π_v` of every row of `(..., V)` logits (verl's
/// `entropy_from_logits`): `(entropy (...), stats (..., 2))`.
#[pyfunction]
fn entropy_forward<'py>(py: Python<'py>, logits: &Arr<'py>) -> PyResult<(Arr<'py>, Arr<'py>)> {
    by_dtype!(logits, ent_fwd_impl(py, logits))
}

/// Backward of `entropy_forward`: `∂L/∂z_v = −g·π_v·(log π_v + H)` given `grad_out = ∂L/∂H`
/// `(...)`, the forward's `stats` and `entropy`; accumulated into `out` when given.
#[pyfunction]
#[pyo3(signature = (grad_out, logits, stats, entropy, *, out=None))]
fn entropy_backward<'py>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    stats: &Arr<'py>,
    entropy: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    by_dtype!(
        logits,
        ent_bwd_impl(py, grad_out, logits, stats, entropy, out)
    )
}

// ---------------------------------------------------------------------------------------------
// Full-vocabulary KL
// ---------------------------------------------------------------------------------------------

type KlOut<'py> = (Arr<'py>, Arr<'py>, Arr<'py>);

fn kl_fwd_impl<'py, F: Float>(
    py: Python<'py>,
    logits: &Arr<'py>,
    ref_logits: &Arr<'py>,
) -> PyResult<KlOut<'py>> {
    let z = view::<F>(logits, "logits")?;
    let shape = z.shape().to_vec();
    let (lead, v) = split_vocab("logits", &shape)?;
    let zr = view::<F>(ref_logits, "ref_logits")?;
    check_shape("ref_logits", zr.shape(), &shape)?;
    let n = lead.iter().product();
    let (mut s, mut sr) = (vec![RowStats::default(); n], vec![RowStats::default(); n]);
    let out = zeros::<F>(py, &lead);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let (zs, zrs) = (data(&z, "logits")?, data(&zr, "ref_logits")?);
        py.detach(|| core_kl_fwd(o, &mut s, &mut sr, zs, zrs, v))
            .map_err(to_py)?;
    }
    Ok((
        out.into_any(),
        stats_array(py, &s, &lead)?,
        stats_array(py, &sr, &lead)?,
    ))
}

fn kl_bwd_impl<'py, F: Float>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    ref_logits: &Arr<'py>,
    stats: &Arr<'py>,
    ref_stats: &Arr<'py>,
    kl: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    let z = view::<F>(logits, "logits")?;
    let shape = z.shape().to_vec();
    let (lead, v) = split_vocab("logits", &shape)?;
    let zr = view::<F>(ref_logits, "ref_logits")?;
    check_shape("ref_logits", zr.shape(), &shape)?;
    let g = view::<F>(grad_out, "grad_out")?;
    check_shape("grad_out", g.shape(), &lead)?;
    let k = view::<F>(kl, "kl")?;
    check_shape("kl", k.shape(), &lead)?;
    let s = stats_of(stats, "stats", &lead)?;
    let sr = stats_of(ref_stats, "ref_stats", &lead)?;
    let buf = grad_buffer::<F>(py, out, &shape)?;
    {
        let mut w = writable(&buf)?;
        let o = data_mut(&mut w)?;
        let (gs, zs, zrs, ks) = (
            data(&g, "grad_out")?,
            data(&z, "logits")?,
            data(&zr, "ref_logits")?,
            data(&k, "kl")?,
        );
        py.detach(|| core_kl_bwd(o, gs, zs, zrs, &s, &sr, ks, v))
            .map_err(to_py)?;
    }
    Ok(buf.into_any())
}

/// Exact `KL(π‖π_ref) = Σ_v π_v (log π_v − log π_ref,v)` of every row, from policy and reference
/// logits `(..., V)` (verl's `kl_penalty="full"`, which verl itself does not implement). Returns
/// `(kl (...), stats (..., 2), ref_stats (..., 2))`.
#[pyfunction]
fn full_kl_forward<'py>(
    py: Python<'py>,
    logits: &Arr<'py>,
    ref_logits: &Arr<'py>,
) -> PyResult<KlOut<'py>> {
    by_dtype!(logits, kl_fwd_impl(py, logits, ref_logits))
}

/// Backward of `full_kl_forward` with respect to the policy logits:
/// `∂L/∂z_v = g·π_v·(log π_v − log π_ref,v − KL)` given `grad_out = ∂L/∂KL` `(...)`;
/// accumulated into `out` when given.
#[pyfunction]
#[pyo3(signature = (grad_out, logits, ref_logits, stats, ref_stats, kl, *, out=None))]
fn full_kl_backward<'py>(
    py: Python<'py>,
    grad_out: &Arr<'py>,
    logits: &Arr<'py>,
    ref_logits: &Arr<'py>,
    stats: &Arr<'py>,
    ref_stats: &Arr<'py>,
    kl: &Arr<'py>,
    out: Option<&Arr<'py>>,
) -> PyResult<Arr<'py>> {
    by_dtype!(
        logits,
        kl_bwd_impl(py, grad_out, logits, ref_logits, stats, ref_stats, kl, out)
    )
}

/// The float type name of `F`, for messages.
trait IsF32 {
    const IS_F32: bool;
}
impl<F: Real> IsF32 for F {
    const IS_F32: bool = size_of::<F>() == 4;
}
