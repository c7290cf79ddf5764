//! The KL-regularised alignment objective (`rewardkit_core::objective`): the optimal tilted
//! distribution, the `β` that spends a KL budget, and the exact best-of-`N` law, on a finite
//! support of `N` responses with reference probabilities `p` and rewards `r` (`(N)` each, float32
//! or float64; the first decides the precision).

use numpy::PyUntypedArrayMethods;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rewardkit_core::objective as obj;

use crate::arrays::{Dt, Float, check_shape, data, data_mut, dtype_of, view, write, zeros};
use crate::errors::to_py;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tilt, m)?)?;
    m.add_function(wrap_pyfunction!(tilt_stats, m)?)?;
    m.add_function(wrap_pyfunction!(beta_for_kl, m)?)?;
    m.add_function(wrap_pyfunction!(best_of_n, m)?)?;
    m.add_function(wrap_pyfunction!(best_of_n_kl_bound, m)?)?;
    Ok(())
}

type Arr<'py> = Bound<'py, PyAny>;

macro_rules! by_dtype {
    ($x:expr, $f:ident ( $($arg:expr),* )) => {
        match dtype_of($x)? {
            Dt::F32 => $f::<f32>($($arg),*),
            Dt::F64 => $f::<f64>($($arg),*),
        }
    };
}

fn stats_dict<'py>(py: Python<'py>, kl: f64, er: f64) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kl", kl)?;
    d.set_item("expected_reward", er)?;
    Ok(d)
}

/// `(distribution (N), stats)` of one of the `out`-writing objective functions.
fn with_out<'py, F: Float, S: Send>(
    py: Python<'py>,
    p: &Arr<'py>,
    r: &Arr<'py>,
    f: impl FnOnce(&mut [F], &[F], &[F]) -> rewardkit_core::Result<S> + Send,
) -> PyResult<(Arr<'py>, S)> {
    let pv = view::<F>(p, "p")?;
    let rv = view::<F>(r, "r")?;
    check_shape("r", rv.shape(), pv.shape())?;
    let out = zeros::<F>(py, pv.shape());
    let s = {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let (ps, rs) = (data(&pv, "p")?, data(&rv, "r")?);
        py.detach(|| f(o, ps, rs)).map_err(to_py)?
    };
    Ok((out.into_any(), s))
}

fn tilt_impl<'py, F: Float>(
    py: Python<'py>,
    p: &Arr<'py>,
    r: &Arr<'py>,
    beta: Option<f64>,
    lam: Option<f64>,
) -> PyResult<(Arr<'py>, Bound<'py, PyDict>)> {
    let (phi, s) = with_out::<F, _>(py, p, r, |o, ps, rs| match (beta, lam) {
        (Some(b), _) => obj::tilt(o, ps, rs, F::lit(b)),
        (None, Some(l)) => obj::tilt_lambda(o, ps, rs, F::lit(l)),
        (None, None) => obj::tilt(o, ps, rs, F::ONE),
    })?;
    Ok((
        phi,
        stats_dict(py, s.kl.as_f64(), s.expected_reward.as_f64())?,
    ))
}

/// The optimal KL-regularised policy on a finite support: `φ_β(y) ∝ p(y)·exp(r(y)/β)`, the
/// maximiser of `E_φ[r] − β·KL(φ‖p)`. Pass `beta` (finite, `> 0`), or `lam = 1/β ∈ [0, +∞]`
/// (`lam=math.inf`: `p` restricted to the best responses).
///
/// Returns `(phi (N), {"kl": KL(φ‖p), "expected_reward": E_φ[r]})`.
///
/// Raises `InvalidParamError` (`β` not finite and positive, `λ` negative or NaN, `p` not a
/// probability vector), `EmptyInputError`, `NonFiniteError`, `ShapeMismatchError`.
///
/// Citation: Yang et al. (2024), arXiv:2404.01730, §2; Korbak et al. (2022), arXiv:2205.11275.
#[pyfunction]
#[pyo3(signature = (p, r, beta=None, *, lam=None))]
fn tilt<'py>(
    py: Python<'py>,
    p: &Arr<'py>,
    r: &Arr<'py>,
    beta: Option<f64>,
    lam: Option<f64>,
) -> PyResult<(Arr<'py>, Bound<'py, PyDict>)> {
    if beta.is_some() == lam.is_some() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "pass exactly one of `beta` and `lam`",
        ));
    }
    by_dtype!(p, tilt_impl(py, p, r, beta, lam))
}

/// `{"kl", "expected_reward"}` of the tilted distribution `φ_β` without materialising it.
///
/// Raises as `tilt`.
#[pyfunction]
fn tilt_stats<'py>(
    py: Python<'py>,
    p: &Arr<'py>,
    r: &Arr<'py>,
    beta: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let (pv, rv) = (view::<f64>(p, "p")?, view::<f64>(r, "r")?);
    check_shape("r", rv.shape(), pv.shape())?;
    let (ps, rs) = (data(&pv, "p")?, data(&rv, "r")?);
    let s = py.detach(|| obj::tilt_stats(ps, rs, beta)).map_err(to_py)?;
    stats_dict(py, s.kl, s.expected_reward)
}

/// The `β` whose optimal tilted distribution spends exactly the KL budget `budget = Δ ≥ 0`
/// (solved in float64 to `|KL − Δ| ≤ 1e-10·Δ`).
///
/// Returns `{"beta", "lam", "kl", "expected_reward", "saturated"}`; `saturated` means
/// `Δ ≥ −log p(Y*)`: the budget buys the best responses outright (`lam = inf`, `beta = 0`).
///
/// Raises `InvalidParamError` (`Δ` negative or not finite, `p` not a probability vector) and as
/// `tilt`.
///
/// Citation: Yang et al. (2024), arXiv:2404.01730, §2.
#[pyfunction]
fn beta_for_kl<'py>(
    py: Python<'py>,
    p: &Arr<'py>,
    r: &Arr<'py>,
    budget: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let (pv, rv) = (view::<f64>(p, "p")?, view::<f64>(r, "r")?);
    check_shape("r", rv.shape(), pv.shape())?;
    let (ps, rs) = (data(&pv, "p")?, data(&rv, "r")?);
    let s = py
        .detach(|| obj::beta_for_kl(ps, rs, budget))
        .map_err(to_py)?;
    let d = stats_dict(py, s.kl, s.expected_reward)?;
    d.set_item("beta", s.beta())?;
    d.set_item("lam", s.lambda)?;
    d.set_item("saturated", s.saturated)?;
    Ok(d)
}

fn bon_impl<'py, F: Float>(
    py: Python<'py>,
    p: &Arr<'py>,
    r: &Arr<'py>,
    n: usize,
) -> PyResult<(Arr<'py>, Bound<'py, PyDict>)> {
    let (pi, s) = with_out::<F, _>(py, p, r, |o, ps, rs| obj::best_of_n(o, ps, rs, n))?;
    let d = stats_dict(py, s.kl.as_f64(), s.expected_reward.as_f64())?;
    d.set_item("kl_bound", s.kl_bound.as_f64())?;
    Ok((pi, d))
}

/// The exact best-of-`n` distribution on a finite support (ties broken uniformly):
/// `(pi (N), {"kl", "expected_reward", "kl_bound"})` with `kl_bound = log n − (n − 1)/n`.
///
/// Raises `InvalidParamError` for `n = 0` and as `tilt`.
///
/// Citation: Beirami et al. (2024), arXiv:2401.01879, Lemma 1 and Thm 1.
#[pyfunction]
fn best_of_n<'py>(
    py: Python<'py>,
    p: &Arr<'py>,
    r: &Arr<'py>,
    n: usize,
) -> PyResult<(Arr<'py>, Bound<'py, PyDict>)> {
    by_dtype!(p, bon_impl(py, p, r, n))
}

/// `log n − (n − 1)/n`, the best-of-`n` KL of a continuous reward distribution and an upper bound
/// in general. Raises `InvalidParamError` for `n = 0`.
#[pyfunction]
fn best_of_n_kl_bound(n: usize) -> PyResult<f64> {
    obj::best_of_n_kl_bound::<f64>(n).map_err(to_py)
}
