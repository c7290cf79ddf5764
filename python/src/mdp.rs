//! Tabular MDPs (`rewardkit_core::mdp`): an `Mdp` class built from dense `(S, A, S)` transitions
//! or CSR-sparse ones, with policy evaluation, value iteration, policy iteration, returns and
//! regret, the reward doctor (`diagnose`: `rewardkit_core::distance::diagnose`), and Knox et
//! al.'s preference models over segments (`mdp::preference`: logit, loss with its gradient,
//! reward fitting). Everything is float64 (the core solves in `f64`).
//!
//! Rewards are `(S, A, S')`, `(S, A)` or `(S)` arrays. Policies are `None`/`"uniform"`, an integer
//! array `(S)` of actions (deterministic), or a float array `(S, A)` of probabilities.

use numpy::{PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rewardkit_core::distance::{self as core_distance, Diagnosis};
use rewardkit_core::mdp::preference::{
    Comparison, FitConfig, PreferenceModel, Segment, fit_reward, preference_logit, preference_loss,
};
use rewardkit_core::mdp::{
    self as core_mdp, Evaluation, Mdp, Policy, Reward, SparseTransitions, Transitions,
};

use crate::arrays::{check_shape, data, fmt_shape, np, view};
use crate::errors::{name_err, option_err, shape_err, to_py};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMdp>()?;
    Ok(())
}

type Arr<'py> = Bound<'py, PyAny>;

/// The transitions, owned.
#[derive(Clone, Debug)]
enum Tau {
    Dense(Vec<f64>),
    Sparse {
        offsets: Vec<usize>,
        next: Vec<u32>,
        probs: Vec<f64>,
    },
}

/// A tabular MDP `(S, A, τ, μ, γ)` (validated on construction: rows of `τ` and `μ` are
/// probability vectors, `γ ∈ [0, 1)`).
///
/// `Mdp(transitions, initial, gamma)` with dense `transitions` `(S, A, S)`, or
/// `Mdp.sparse(n_states, n_actions, offsets, next, probs, initial, gamma)` with CSR rows
/// (`offsets` `(S·A + 1)`, `next`/`probs` `(nnz)`). Raises `InvalidParamError`,
/// `LengthMismatchError`, `EmptyInputError`, `ShapeMismatchError`.
///
/// Citation: Puterman (1994), *Markov Decision Processes*.
#[pyclass(name = "Mdp", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyMdp {
    s: usize,
    a: usize,
    tau: Tau,
    initial: Vec<f64>,
    gamma: f64,
}

fn f64s(obj: &Arr<'_>, name: &str) -> PyResult<(Vec<usize>, Vec<f64>)> {
    let v = view::<f64>(obj, name)?;
    Ok((v.shape().to_vec(), data(&v, name)?.to_vec()))
}

fn ints(obj: &Arr<'_>, name: &'static str) -> PyResult<Vec<i64>> {
    let a = np(obj.py())?.call_method1("asarray", (obj,))?;
    let kind: String = a.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind != "i" && kind != "u" {
        return Err(PyTypeError::new_err(format!(
            "`{name}` must be an integer array"
        )));
    }
    a.call_method0("ravel")?.call_method0("tolist")?.extract()
}

fn nonneg<T: TryFrom<i64>>(v: Vec<i64>, name: &'static str) -> PyResult<Vec<T>> {
    v.into_iter()
        .map(|x| {
            T::try_from(x).map_err(|_| {
                to_py(rewardkit_core::Error::InvalidParam {
                    name,
                    value: x as f64,
                    expected: "a non-negative index",
                })
            })
        })
        .collect()
}

/// A policy read from Python.
enum OwnedPolicy {
    Uniform,
    Deterministic(Vec<usize>),
    Stochastic(Vec<f64>),
}

impl OwnedPolicy {
    fn read(obj: Option<&Arr<'_>>, s: usize, a: usize) -> PyResult<Self> {
        let Some(o) = obj.filter(|o| !o.is_none()) else {
            return Ok(Self::Uniform);
        };
        if let Ok(name) = o.extract::<String>() {
            return match name.as_str() {
                "uniform" => Ok(Self::Uniform),
                _ => Err(option_err("policy", &["uniform"])),
            };
        }
        let arr = np(o.py())?.call_method1("asarray", (o,))?;
        let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
        if kind == "i" || kind == "u" {
            let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
            check_shape("policy", &shape, &[s])?;
            Ok(Self::Deterministic(nonneg(
                ints(&arr, "policy")?,
                "policy",
            )?))
        } else {
            let (shape, p) = f64s(&arr, "policy")?;
            check_shape("policy", &shape, &[s, a])?;
            Ok(Self::Stochastic(p))
        }
    }

    fn as_core(&self) -> Policy<'_, f64> {
        match self {
            Self::Uniform => Policy::Uniform,
            Self::Deterministic(d) => Policy::Deterministic(d),
            Self::Stochastic(p) => Policy::Stochastic(p),
        }
    }
}

impl PyMdp {
    fn core(&self) -> rewardkit_core::Result<Mdp<'_, f64>> {
        let t = match &self.tau {
            Tau::Dense(t) => Transitions::Dense(t),
            Tau::Sparse {
                offsets,
                next,
                probs,
            } => Transitions::Sparse(SparseTransitions::new(offsets, next, probs)),
        };
        Mdp::new(self.s, self.a, t, &self.initial, self.gamma)
    }

    fn reward<'a>(
        &self,
        r: &'a PyReadonlyArrayDyn<'_, f64>,
        name: &str,
    ) -> PyResult<Reward<'a, f64>> {
        let d = data(r, name)?;
        let (s, a) = (self.s, self.a);
        match r.shape() {
            [x, y, z] if (*x, *y, *z) == (s, a, s) => Ok(Reward::Full(d)),
            [x, y] if (*x, *y) == (s, a) => Ok(Reward::StateAction(d)),
            [x] if *x == s => Ok(Reward::State(d)),
            sh => Err(shape_err(
                name,
                format!(
                    "`{name}` must be (S, A, S'), (S, A) or (S) with S = {s}, A = {a}; got {}",
                    fmt_shape(sh)
                ),
            )),
        }
    }

    /// The full reward `(S, A, S')` of a preference method (other shapes raise
    /// `ShapeMismatchError`).
    fn full_reward(&self, reward: &Arr<'_>) -> PyResult<Vec<f64>> {
        let (shape, r) = f64s(reward, "reward")?;
        check_shape("reward", &shape, &[self.s, self.a, self.s])?;
        Ok(r)
    }

    /// Runs `f` on the core MDP, a reward and a policy, with the GIL released.
    fn with<'py, R: Send>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
        policy: Option<&Arr<'py>>,
        f: impl FnOnce(&Mdp<'_, f64>, &Reward<'_, f64>, &Policy<'_, f64>) -> rewardkit_core::Result<R>
        + Send,
    ) -> PyResult<R> {
        let rv = view::<f64>(reward, "reward")?;
        let r = self.reward(&rv, "reward")?;
        let p = OwnedPolicy::read(policy, self.s, self.a)?;
        let pc = p.as_core();
        let m = self.core().map_err(to_py)?;
        py.detach(|| f(&m, &r, &pc)).map_err(to_py)
    }
}

/// A segment `(states (k + 1), actions (k))` read from Python.
type OwnedSegment = (Vec<usize>, Vec<usize>);

fn segment_of(obj: &Bound<'_, PyAny>) -> PyResult<OwnedSegment> {
    let (s, a): (Bound<'_, PyAny>, Bound<'_, PyAny>) = obj.extract().map_err(|_| {
        PyTypeError::new_err("a segment is a pair (states, actions) of integer sequences")
    })?;
    Ok((
        nonneg(ints(&s, "states")?, "states")?,
        nonneg(ints(&a, "actions")?, "actions")?,
    ))
}

/// Labelled comparisons `[(left, right, label), ...]` read from Python.
fn comparisons_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(OwnedSegment, OwnedSegment, f64)>> {
    obj.try_iter()?
        .map(|c| {
            let c = c?;
            let (l, r, y): (Bound<'_, PyAny>, Bound<'_, PyAny>, f64) =
                c.extract().map_err(|_| {
                    PyTypeError::new_err("a comparison is a triple (left, right, label)")
                })?;
            Ok((segment_of(&l)?, segment_of(&r)?, y))
        })
        .collect()
}

fn segment(s: &OwnedSegment) -> rewardkit_core::Result<Segment<'_>> {
    Segment::new(&s.0, &s.1)
}

fn core_comparisons(
    data: &[(OwnedSegment, OwnedSegment, f64)],
) -> rewardkit_core::Result<Vec<Comparison<'_, f64>>> {
    data.iter()
        .map(|(l, r, y)| {
            Ok(Comparison {
                left: segment(l)?,
                right: segment(r)?,
                label: *y,
            })
        })
        .collect()
}

fn model_of(name: &str) -> PyResult<PreferenceModel> {
    name.parse().map_err(name_err)
}

fn evaluation(method: &str, tol: f64, max_iters: usize) -> PyResult<Evaluation> {
    match method {
        "auto" => Ok(Evaluation::Auto),
        "exact" => Ok(Evaluation::Exact),
        "iterative" => Ok(Evaluation::Iterative { tol, max_iters }),
        _ => Err(option_err(
            "evaluation method",
            &["auto", "exact", "iterative"],
        )),
    }
}

fn array1<'py>(py: Python<'py>, v: Vec<f64>) -> Arr<'py> {
    numpy::PyArray1::from_vec(py, v).into_any()
}

fn actions_array<'py>(py: Python<'py>, a: &[usize]) -> Arr<'py> {
    let v: Vec<i64> = a
        .iter()
        .map(|&x| i64::try_from(x).unwrap_or(i64::MAX))
        .collect();
    numpy::PyArray1::from_vec(py, v).into_any()
}

/// The reward doctor's report as a dict (see `PyMdp::diagnose`).
fn diagnosis_dict<'py>(py: Python<'py>, d: &Diagnosis<f64>) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("relation", d.relation.name())?;
    out.set_item("alpha", d.relation.alpha())?;
    out.set_item("starc", d.starc)?;
    out.set_item("regret", d.regret)?;
    out.set_item("normalized_regret", d.normalized_regret)?;
    out.set_item("reverse_regret", d.reverse_regret)?;
    out.set_item("reverse_normalized_regret", d.reverse_normalized_regret)?;
    out.set_item("reference_policy", actions_array(py, &d.reference_policy))?;
    out.set_item("proposed_policy", actions_array(py, &d.proposed_policy))?;
    let list = PyList::empty(py);
    for x in &d.disagreements {
        let e = PyDict::new(py);
        e.set_item("state", x.state)?;
        e.set_item("reference_action", x.reference_action)?;
        e.set_item("proposed_action", x.proposed_action)?;
        e.set_item("value_lost", x.value_lost)?;
        list.append(e)?;
    }
    out.set_item("disagreements", list)?;
    Ok(out)
}

#[pymethods]
impl PyMdp {
    #[new]
    #[pyo3(signature = (transitions, initial, gamma))]
    fn new(transitions: &Arr<'_>, initial: &Arr<'_>, gamma: f64) -> PyResult<Self> {
        let (shape, tau) = f64s(transitions, "transitions")?;
        let (s, a) = match shape.as_slice() {
            [s, a, s2] if s == s2 => (*s, *a),
            sh => {
                return Err(shape_err(
                    "transitions",
                    format!(
                        "`transitions` must be (S, A, S), got shape {}",
                        fmt_shape(sh)
                    ),
                ));
            }
        };
        let (_, mu) = f64s(initial, "initial")?;
        let m = Self {
            s,
            a,
            tau: Tau::Dense(tau),
            initial: mu,
            gamma,
        };
        m.core().map_err(to_py)?;
        Ok(m)
    }

    /// An MDP with CSR-sparse transitions: row `s·A + a` holds the successors
    /// `next[offsets[r]..offsets[r+1]]` with probabilities `probs[...]`.
    #[staticmethod]
    #[pyo3(signature = (n_states, n_actions, offsets, next, probs, initial, gamma))]
    fn sparse(
        n_states: usize,
        n_actions: usize,
        offsets: &Arr<'_>,
        next: &Arr<'_>,
        probs: &Arr<'_>,
        initial: &Arr<'_>,
        gamma: f64,
    ) -> PyResult<Self> {
        let offsets = nonneg(ints(offsets, "offsets")?, "offsets")?;
        let next = nonneg(ints(next, "next")?, "next")?;
        let (_, probs) = f64s(probs, "probs")?;
        let (_, mu) = f64s(initial, "initial")?;
        let m = Self {
            s: n_states,
            a: n_actions,
            tau: Tau::Sparse {
                offsets,
                next,
                probs,
            },
            initial: mu,
            gamma,
        };
        m.core().map_err(to_py)?;
        Ok(m)
    }

    /// Number of states `S`.
    #[getter]
    fn n_states(&self) -> usize {
        self.s
    }

    /// Number of actions `A`.
    #[getter]
    fn n_actions(&self) -> usize {
        self.a
    }

    /// The discount `γ`.
    #[getter]
    fn gamma(&self) -> f64 {
        self.gamma
    }

    /// Whether the transitions are sparse.
    #[getter]
    fn is_sparse(&self) -> bool {
        matches!(self.tau, Tau::Sparse { .. })
    }

    /// State values `V^π` `(S)` of `policy` under `reward`: `method="auto"` (exact LU for
    /// `S ≤ 512`), `"exact"`, or `"iterative"` (Bellman sweeps to `tol` within `max_iters`).
    #[pyo3(signature = (reward, policy=None, method="auto", tol=1e-10, max_iters=100_000))]
    fn policy_values<'py>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
        policy: Option<&Arr<'py>>,
        method: &str,
        tol: f64,
        max_iters: usize,
    ) -> PyResult<Arr<'py>> {
        let e = evaluation(method, tol, max_iters)?;
        let n = self.s;
        let v = self.with(py, reward, policy, |m, r, p| {
            let mut out = vec![0.0; n];
            core_mdp::policy_values(&mut out, m, r, p, e)?;
            Ok(out)
        })?;
        Ok(array1(py, v))
    }

    /// Optimal state values `V*` `(S)` by value iteration, and the number of sweeps.
    #[pyo3(signature = (reward, tol=1e-10, max_iters=100_000))]
    fn value_iteration<'py>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
        tol: f64,
        max_iters: usize,
    ) -> PyResult<(Arr<'py>, usize)> {
        let n = self.s;
        let (v, it) = self.with(py, reward, None, |m, r, _| {
            let mut out = vec![0.0; n];
            let it = core_mdp::value_iteration(&mut out, m, r, tol, max_iters)?;
            Ok((out, it))
        })?;
        Ok((array1(py, v), it))
    }

    /// An optimal deterministic policy by policy iteration: `(actions (S) int64, values (S),
    /// q (S, A))`.
    fn optimal_policy<'py>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
    ) -> PyResult<(Arr<'py>, Arr<'py>, Arr<'py>)> {
        let o = self.with(py, reward, None, |m, r, _| core_mdp::optimal_policy(m, r))?;
        let actions: Vec<i64> = o
            .actions
            .iter()
            .map(|&x| i64::try_from(x).unwrap_or(i64::MAX))
            .collect();
        let q = numpy::PyArray1::from_vec(py, o.q).reshape([self.s, self.a])?;
        Ok((
            numpy::PyArray1::from_vec(py, actions).into_any(),
            array1(py, o.values),
            q.into_any(),
        ))
    }

    /// The expected discounted return `J(π) = Σ_s μ(s)·V^π(s)`.
    #[pyo3(signature = (reward, policy=None))]
    fn policy_return<'py>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
        policy: Option<&Arr<'py>>,
    ) -> PyResult<f64> {
        self.with(py, reward, policy, |m, r, p| {
            core_mdp::policy_return(m, r, p)
        })
    }

    /// The regret `J(π*) − J(π) ≥ 0` of `policy` under `reward` (Skalse et al. 2024, STARC §2).
    #[pyo3(signature = (reward, policy=None))]
    fn regret<'py>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
        policy: Option<&Arr<'py>>,
    ) -> PyResult<f64> {
        self.with(py, reward, policy, core_mdp::regret)
    }

    /// The regret over the range of returns, `(J(π*) − J(π))/(J(π*) − J(π_worst)) ∈ [0, 1]` (0
    /// when every policy has the same return).
    #[pyo3(signature = (reward, policy=None))]
    fn normalized_regret<'py>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
        policy: Option<&Arr<'py>>,
    ) -> PyResult<f64> {
        self.with(py, reward, policy, |m, r, p| {
            core_mdp::normalized_regret(m, r, p)
        })
    }

    /// The reward doctor (`rewardkit_core::distance::diagnose`): how `proposed` relates to
    /// `reference` and what optimising it costs. Both rewards are `(S, A, S')`, `(S, A)` or
    /// `(S)`; `tol` in `(0, 1)` is the tolerance of "zero distance", "`α = 1`" and "equal
    /// entries". Returns a dict: `relation` (`"identical"`, `"rescaled"`, `"shaped"`,
    /// `"rescaled+shaped"`, `"same-ordering"`, `"different"`, `"trivial-reference"`,
    /// `"trivial-proposal"`), `alpha` (the scale `α` of `R' = αR + shaping`, 1 for identical and
    /// shaped, else `None`), `starc` (STARC VAL distance), `regret`, `normalized_regret`
    /// (under the reference, of the proposal's optimal policy), `reverse_regret`,
    /// `reverse_normalized_regret`, `reference_policy`, `proposed_policy` (int64 `(S)`) and
    /// `disagreements` (`[{state, reference_action, proposed_action, value_lost}]`, the states
    /// where the proposal's action loses value under the reference). Citations: Ng et al.
    /// (1999); Gleave et al. (2021), EPIC; Skalse et al. (2024), STARC.
    #[pyo3(signature = (reference, proposed, tol=1e-9))]
    fn diagnose<'py>(
        &self,
        py: Python<'py>,
        reference: &Arr<'py>,
        proposed: &Arr<'py>,
        tol: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (rv, pv) = (
            view::<f64>(reference, "reference")?,
            view::<f64>(proposed, "proposed")?,
        );
        let (r, p) = (
            self.reward(&rv, "reference")?,
            self.reward(&pv, "proposed")?,
        );
        let m = self.core().map_err(to_py)?;
        let d = py
            .detach(|| core_distance::diagnose(&m, &r, &p, tol))
            .map_err(to_py)?;
        diagnosis_dict(py, &d)
    }

    /// The preference logit `z` with `P(left ≻ right) = σ(z)` (Knox et al. 2024) under a full
    /// reward `(S, A, S')`: `model="partial_return"` (summed rewards) or `"regret"` (summed optimal
    /// advantages). Segments are `(states (k + 1), actions (k))`.
    #[pyo3(signature = (reward, left, right, model="partial_return"))]
    fn preference_logit(
        &self,
        py: Python<'_>,
        reward: &Arr<'_>,
        left: &Arr<'_>,
        right: &Arr<'_>,
        model: &str,
    ) -> PyResult<f64> {
        let r = self.full_reward(reward)?;
        let (l, rt, m) = (segment_of(left)?, segment_of(right)?, model_of(model)?);
        let mdp = self.core().map_err(to_py)?;
        py.detach(|| preference_logit(&mdp, &r, &segment(&l)?, &segment(&rt)?, m))
            .map_err(to_py)
    }

    /// The mean cross-entropy of a preference model on `comparisons` (`[(left, right, label)]`,
    /// `label = P(left ≻ right) ∈ [0, 1]`) and its exact gradient `(S, A, S')` with respect to the
    /// reward.
    #[pyo3(signature = (reward, comparisons, model="partial_return"))]
    fn preference_loss<'py>(
        &self,
        py: Python<'py>,
        reward: &Arr<'py>,
        comparisons: &Arr<'py>,
        model: &str,
    ) -> PyResult<(f64, Arr<'py>)> {
        let r = self.full_reward(reward)?;
        let (data, m) = (comparisons_of(comparisons)?, model_of(model)?);
        let mdp = self.core().map_err(to_py)?;
        let mut g = vec![0.0; r.len()];
        let v = py
            .detach(|| {
                let c = core_comparisons(&data)?;
                preference_loss(Some(&mut g), &mdp, &r, &c, m)
            })
            .map_err(to_py)?;
        let g = numpy::PyArray1::from_vec(py, g).reshape([self.s, self.a, self.s])?;
        Ok((v, g.into_any()))
    }

    /// Learns a full reward `(S, A, S')` from `comparisons` by Adam on the preference loss plus
    /// `(l2/2)·‖R‖²`, from `init` (zeros by default): `(reward, loss, steps)`.
    #[pyo3(signature = (comparisons, model="partial_return", *, init=None, steps=2000,
        learning_rate=0.05, l2=1e-6))]
    fn fit_reward<'py>(
        &self,
        py: Python<'py>,
        comparisons: &Arr<'py>,
        model: &str,
        init: Option<&Arr<'py>>,
        steps: usize,
        learning_rate: f64,
        l2: f64,
    ) -> PyResult<(Arr<'py>, f64, usize)> {
        let (data, m) = (comparisons_of(comparisons)?, model_of(model)?);
        let cfg = FitConfig::new(steps, learning_rate, l2).map_err(to_py)?;
        let mut r = match init.filter(|i| !i.is_none()) {
            Some(i) => self.full_reward(i)?,
            None => vec![0.0; self.s * self.a * self.s],
        };
        let mdp = self.core().map_err(to_py)?;
        let rep = py
            .detach(|| {
                let c = core_comparisons(&data)?;
                fit_reward(&mut r, &mdp, &c, m, &cfg)
            })
            .map_err(to_py)?;
        let out = numpy::PyArray1::from_vec(py, r).reshape([self.s, self.a, self.s])?;
        Ok((out.into_any(), rep.loss, rep.steps))
    }

    fn __repr__(&self) -> String {
        format!(
            "Mdp(n_states={}, n_actions={}, gamma={}, sparse={})",
            self.s,
            self.a,
            self.gamma,
            self.is_sparse()
        )
    }
}
