//! Reward distances (STARC, EPIC, DARD) on tabular MDPs, in `f64`.

use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, DardWeights, Epic, Norm, Order, Starc, Weights,
};
use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions};

use crate::arrays::{data, view};
use crate::errors::{name_err, option_err, shape_err, to_py};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(starc_distance, m)?)?;
    m.add_function(wrap_pyfunction!(epic_distance, m)?)?;
    m.add_function(wrap_pyfunction!(dard_distance, m)?)?;
    Ok(())
}

/// The arrays of a tabular MDP and two rewards, viewed as `f64`.
struct Tabular<'py> {
    s: usize,
    a: usize,
    tau: PyReadonlyArrayDyn<'py, f64>,
    mu: PyReadonlyArrayDyn<'py, f64>,
    ra: PyReadonlyArrayDyn<'py, f64>,
    rb: PyReadonlyArrayDyn<'py, f64>,
}

impl<'py> Tabular<'py> {
    fn read(
        transitions: &Bound<'py, PyAny>,
        initial: &Bound<'py, PyAny>,
        reward_a: &Bound<'py, PyAny>,
        reward_b: &Bound<'py, PyAny>,
    ) -> PyResult<Self> {
        let tau = view::<f64>(transitions, "transitions")?;
        let (s, a) = match tau.shape() {
            [s, a, s2] if s == s2 => (*s, *a),
            sh => {
                return Err(shape_err(
                    "transitions",
                    format!(
                        "`transitions` must be (S, A, S), got shape {}",
                        crate::arrays::fmt_shape(sh)
                    ),
                ));
            }
        };
        let mu = view::<f64>(initial, "initial")?;
        crate::arrays::check_shape("initial", mu.shape(), &[s])?;
        Ok(Self {
            s,
            a,
            tau,
            mu,
            ra: view::<f64>(reward_a, "reward_a")?,
            rb: view::<f64>(reward_b, "reward_b")?,
        })
    }

    fn mdp(&self, gamma: f64) -> PyResult<Mdp<'_, f64>> {
        Mdp::new(
            self.s,
            self.a,
            Transitions::Dense(data(&self.tau, "transitions")?),
            data(&self.mu, "initial")?,
            gamma,
        )
        .map_err(to_py)
    }

    fn reward<'a>(
        &'a self,
        r: &'a PyReadonlyArrayDyn<'py, f64>,
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
                    crate::arrays::fmt_shape(sh)
                ),
            )),
        }
    }
}

const CANONS: &[&str] = &["value", "minimal", "epic", "dard"];

fn norm(order: &str, weights: &str) -> PyResult<Norm<'static, f64>> {
    let order: Order = order.parse().map_err(name_err)?;
    let weights = match weights {
        "uniform" => Weights::Uniform,
        "transition" => Weights::Transition,
        _ => return Err(option_err("norm weights", &["uniform", "transition"])),
    };
    Ok(Norm { order, weights })
}

/// The STARC distance `d(R_a, R_b) ∈ [0, 2]` (Skalse et al., ICLR 2024) on a tabular MDP:
/// `transitions` `(S, A, S)`, `initial` `(S)`, `gamma ∈ [0, 1)`; rewards `(S, A, S)`, `(S, A)` or
/// `(S)`. `canonicalization`: `value` (STARC's VAL under the uniform policy, the default),
/// `minimal`, `epic`, `dard`; `norm` and `metric`: `l1`, `l2`, `linf`; `weights`: `uniform` or
/// `transition`.
#[pyfunction]
#[pyo3(signature = (transitions, initial, gamma, reward_a, reward_b, *, canonicalization="value",
    norm="l2", metric=None, weights="uniform"))]
fn starc_distance(
    py: Python<'_>,
    transitions: &Bound<'_, PyAny>,
    initial: &Bound<'_, PyAny>,
    gamma: f64,
    reward_a: &Bound<'_, PyAny>,
    reward_b: &Bound<'_, PyAny>,
    canonicalization: &str,
    norm: &str,
    metric: Option<&str>,
    weights: &str,
) -> PyResult<f64> {
    let t = Tabular::read(transitions, initial, reward_a, reward_b)?;
    let canon = match canonicalization {
        "value" => Canonicalization::Value(Policy::Uniform),
        "minimal" => Canonicalization::MinimalL2,
        "epic" => Canonicalization::Epic(Coverage::uniform()),
        "dard" => Canonicalization::Dard(Coverage::uniform()),
        _ => return Err(option_err("canonicalization", CANONS)),
    };
    let n = self::norm(norm, weights)?;
    let m = self::norm(metric.unwrap_or(norm), weights)?;
    let starc = Starc::new(canon, n).with_metric(m);
    let mdp = t.mdp(gamma)?;
    let (a, b) = (t.reward(&t.ra, "reward_a")?, t.reward(&t.rb, "reward_b")?);
    py.detach(|| starc.distance(&mdp, &a, &b)).map_err(to_py)
}

/// The EPIC distance `∈ [0, 1]` (Gleave et al. 2021) with uniform coverage distributions.
#[pyfunction]
fn epic_distance(
    py: Python<'_>,
    transitions: &Bound<'_, PyAny>,
    initial: &Bound<'_, PyAny>,
    gamma: f64,
    reward_a: &Bound<'_, PyAny>,
    reward_b: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let t = Tabular::read(transitions, initial, reward_a, reward_b)?;
    let mdp = t.mdp(gamma)?;
    let (a, b) = (t.reward(&t.ra, "reward_a")?, t.reward(&t.rb, "reward_b")?);
    let e = Epic::new(Coverage::uniform());
    py.detach(|| e.distance(&mdp, &a, &b)).map_err(to_py)
}

/// The DARD distance `∈ [0, 1]` (Wulfe et al. 2022) with uniform coverage; `weights` is
/// `dynamics` (transitions the environment can produce, the default) or `coverage` (EPIC's).
#[pyfunction]
#[pyo3(signature = (transitions, initial, gamma, reward_a, reward_b, *, weights="dynamics"))]
fn dard_distance(
    py: Python<'_>,
    transitions: &Bound<'_, PyAny>,
    initial: &Bound<'_, PyAny>,
    gamma: f64,
    reward_a: &Bound<'_, PyAny>,
    reward_b: &Bound<'_, PyAny>,
    weights: &str,
) -> PyResult<f64> {
    let w = match weights {
        "dynamics" => DardWeights::Dynamics,
        "coverage" => DardWeights::Coverage,
        _ => return Err(option_err("DARD weights", &["dynamics", "coverage"])),
    };
    let t = Tabular::read(transitions, initial, reward_a, reward_b)?;
    let mdp = t.mdp(gamma)?;
    let (a, b) = (t.reward(&t.ra, "reward_a")?, t.reward(&t.rb, "reward_b")?);
    let d = Dard::new(Coverage::uniform(), w);
    py.detach(|| d.distance(&mdp, &a, &b)).map_err(to_py)
}
