//! Canonicalisations: EPIC's and its greedy and singleton variants (`evaluating-rewards`), DARD's,
//! STARC's value-adjusted levelling (VAL), value-potential, minimal-potential and minimal-`L2`
//! representatives, and the identity, computed exactly in `f64`.

use alloc::vec;
use alloc::vec::Vec;

use num_traits::Float;

use super::norm::{Layout, Norm};
use super::potential::{PotentialSystem, shaped_full};
use crate::error::{Error, Result, ensure_len};
use crate::mdp::linalg::{lu_factor, lu_solve};
use crate::mdp::{
    Evaluation, Evaluator, Mdp, Policy, Reward, RewardRow, check_probabilities, checked_size,
    dot_lanes, expected_reward_checked, fill_expected_reward, scan_lanes, state_actions,
};
use crate::real::Real;

/// Coverage distributions over states and actions (`None` = uniform), as EPIC and DARD use them.
///
/// # Definition
/// `D_S` over states and `D_A` over actions; EPIC's Pearson correlation is taken under
/// `D_S(s)·D_A(a)·D_S(s')`.
///
/// # Shapes
/// `states`: `(S)`; `actions`: `(A)`.
///
/// # Errors
/// Users return [`Error::LengthMismatch`], [`Error::NonFinite`] or [`Error::InvalidParam`] if a
/// given distribution has the wrong length or is not a probability vector within
/// [`crate::mdp::stochastic_tolerance`].
///
/// # Examples
/// ```
/// use rewardkit_core::distance::Coverage;
/// let c = Coverage::<f64>::uniform();
/// assert!(c.states.is_none() && c.actions.is_none());
/// ```
///
/// Citation: Gleave et al. (2021), EPIC, arXiv:2006.13900, §4.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Coverage<'a, F> {
    /// `D_S`, `(S)`; `None` is uniform.
    pub states: Option<&'a [F]>,
    /// `D_A`, `(A)`; `None` is uniform.
    pub actions: Option<&'a [F]>,
}

impl<'a, F: Real> Coverage<'a, F> {
    /// Uniform `D_S` and `D_A`.
    pub const fn uniform() -> Self {
        Self {
            states: None,
            actions: None,
        }
    }

    /// Validated distributions as `f64` vectors `(D_S, D_A)`.
    pub(crate) fn resolve(
        &self,
        n_states: usize,
        n_actions: usize,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        fn one<F: Real>(what: &'static str, d: Option<&[F]>, n: usize) -> Result<Vec<f64>> {
            match d {
                None => Ok(vec![1.0 / n as f64; n]),
                Some(d) => {
                    ensure_len(what, n, d.len())?;
                    check_probabilities(what, d)?;
                    Ok(d.iter().map(|x| x.as_f64()).collect())
                }
            }
        }
        Ok((
            one("coverage_states", self.states, n_states)?,
            one("coverage_actions", self.actions, n_actions)?,
        ))
    }
}

/// A canonicalisation `c`: a map that removes potential shaping (and, for `Value` and
/// `MinimalL2`, S'-redistribution) from a reward; `Identity` is the "no canonicalisation"
/// baseline of the STARC experiments.
///
/// # Definition
/// With `Φ` a potential, `r̄(s, a) = E_{S'~τ(s,a)}[R(s, a, S')]` and `V^π` the values of `π` under
/// `R`:
/// - `Epic(cov)`: `C(R)(s, a, s') = R(s, a, s') + γΦ(s') − Φ(s) − γ·E_{D_S}[Φ]` with
///   `Φ(s) = E_{A~D_A, S'~D_S}[R(s, A, S')]` (Gleave et al.; `evaluating-rewards`
///   `fully_connected_random_canonical_reward`).
/// - `FullyConnectedGreedy(D_S)` (`evaluating-rewards` `fully_connected_greedy_canonical_reward`):
///   the same with a greedy instead of a random policy, `Φ(s) = max_a E_{S'~D_S}[R(s, a, S')]`
///   (`None`: uniform `D_S`). Not linear: `C(αR) = αC(R)` only for `α >= 0`.
/// - `SingletonShaping` (`evaluating-rewards` `singleton_shaping_canonical_reward`):
///   `C(R)(s, a, s') = R(s, a, s') + γΦ(s') − Φ(s)` with `Φ(s) = max_a R(s, a, s)/(1 − γ)`, the
///   greedy value when every state is absorbing. Not linear either (positively homogeneous).
/// - `Dard(cov)`: `C(R)(s, a, s') = R(s, a, s') + γΦ_τ(s') − Φ_τ(s) − γ·E_{A~D_A, S₁~τ(s,A),
///   S₂~τ(s',A)}[R(S₁, A, S₂)]` with `Φ_τ(s) = E_{A~D_A}[r̄(s, A)]` (Wulfe et al.; only `D_A` is
///   used).
/// - `Value(π)` (STARC's value-adjusted levelling, VAL; STARC code `Value`): `c(R)(s, a, s') =
///   r̄(s, a) + γ·E_{S'~τ(s,a)}[V^π(S')] − V^π(s)`; constant in `s'`.
/// - `ValuePotential(π)` (STARC code `ValuePotential`): `c(R)(s, a, s') = R(s, a, s') − V^π(s) +
///   γV^π(s')`: VAL without the expectation over `s'`, so it removes potential shaping but not
///   S'-redistribution (`c(R + ξ) = c(R) + ξ` for any `ξ` with `E_τ[ξ] = 0`).
/// - `MinimalPotential(n)` (STARC code `MinimalPotential`): `c(R) = R + γΦ*(s') − Φ*(s)` with
///   `Φ*` minimising `n(R + γΦ(s') − Φ(s))`, for a (weighted) `L1` or `L2` norm `n`, solved
///   exactly (see [`minimal_potential`](super::minimal_potential); an `L1` tie is broken by the
///   least weighted `L2` norm). Removes potential shaping, not S'-redistribution.
/// - `MinimalL2` (STARC code `Minimal`): the element of smallest unweighted `L2` norm among all
///   rewards that differ from `R` by potential shaping and S'-redistribution. Closed form
///   (derived; the STARC code runs Adam instead): `c(R)(s, a, s') = τ(s, a, s')·m(s, a)/‖τ(s, a,
///   ·)‖₂²` with `m(s, a) = r̄(s, a) + γ(τΦ*)(s, a) − Φ*(s)` and `Φ*` the weighted least-squares
///   potential `argmin_Φ Σ_{s,a} m_Φ(s, a)²/‖τ(s, a, ·)‖₂²` (unique for `γ < 1`; a dense `S × S`
///   solve).
/// - `Identity` (STARC code `None`): `c(R) = R`.
///
/// `Value` and `MinimalL2` are canonicalisations in the STARC sense: `c(R₁) = c(R₂)` exactly when
/// `R₁, R₂` differ by potential shaping and S'-redistribution. `Epic`, `FullyConnectedGreedy`,
/// `SingletonShaping`, `Dard`, `ValuePotential` and `MinimalPotential` are invariant to potential
/// shaping only; `Identity` to nothing. Every variant satisfies `c(αR) = αc(R)` for `α > 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Canonicalization, canonicalize};
/// use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions};
/// // One state, two actions that both stay: c(R)(s, a) = r(a) − mean_a r(a) under VAL.
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.9)?;
/// let mut c = [0.0f64; 2];
/// canonicalize(&mut c, &mdp, &Reward::StateAction(&[1.0, 3.0]),
///     &Canonicalization::Value(Policy::Uniform))?;
/// assert!((c[0] + 1.0).abs() < 1e-12 && (c[1] - 1.0).abs() < 1e-12);
/// // Singleton shaping: Φ = max_a R(s, a, s)/(1 − γ) = 30, c = R + 0.9·30 − 30 = R − 3.
/// canonicalize(&mut c, &mdp, &Reward::StateAction(&[1.0, 3.0]),
///     &Canonicalization::SingletonShaping)?;
/// assert!((c[0] + 2.0).abs() < 1e-12 && c[1].abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citations: Skalse et al. (2024), STARC, arXiv:2309.15257, §3 (canonicalisation functions, VAL,
/// minimal canonicalisation) and `lucyfarnik/starc` `src/distance/canon/` (`value.py`,
/// `value_potential.py`, `minimal_potential.py`, `minimal.py`, `__init__.py::canon_funcs`);
/// Gleave et al. (2021), EPIC, arXiv:2006.13900, and `HumanCompatibleAI/evaluating-rewards`
/// `src/evaluating_rewards/distances/tabular.py`; Wulfe et al. (2022), DARD, arXiv:2201.10081.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Canonicalization<'a, F> {
    /// EPIC's canonically shaped reward (`fully_connected_random_canonical_reward`).
    Epic(Coverage<'a, F>),
    /// `evaluating-rewards` `fully_connected_greedy_canonical_reward` with next-state
    /// distribution `D_S` (`(S)`; `None` is uniform).
    FullyConnectedGreedy(Option<&'a [F]>),
    /// `evaluating-rewards` `singleton_shaping_canonical_reward`.
    SingletonShaping,
    /// DARD's dynamics-aware transformation.
    Dard(Coverage<'a, F>),
    /// STARC's value-adjusted levelling under the given policy.
    Value(Policy<'a, F>),
    /// STARC's `ValuePotential` under the given policy: `R − V^π(s) + γV^π(s')`.
    ValuePotential(Policy<'a, F>),
    /// STARC's `MinimalPotential`: the potential-shaped reward of least norm (`L1` or `L2`,
    /// weighted or not).
    MinimalPotential(Norm<'a, F>),
    /// The minimal-`L2` representative of the equivalence class (STARC's `Minimal`).
    MinimalL2,
    /// No canonicalisation (STARC's `None`): `c(R) = R`.
    Identity,
}

impl<F: Real> Canonicalization<'_, F> {
    /// Whether the canonical reward is built from values or potentials of size up to
    /// `max|R|/(1 − γ)` (this scales the threshold under which it counts as zero).
    pub(crate) fn value_scaled(&self) -> bool {
        matches!(
            self,
            Self::Value(_)
                | Self::ValuePotential(_)
                | Self::MinimalPotential(_)
                | Self::MinimalL2
                | Self::SingletonShaping
        )
    }
}

impl<F: Real> Default for Canonicalization<'_, F> {
    /// `Value(Policy::Uniform)`, the canonicalisation of the STARC code's headline metric.
    fn default() -> Self {
        Canonicalization::Value(Policy::Uniform)
    }
}

/// A canonical reward in `f64`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Canon {
    pub(crate) layout: Layout,
    pub(crate) values: Vec<f64>,
}

/// Threshold under which a canonical reward is treated as exactly 0: `64·ε_F·max|R|·κ`, with
/// `κ = 1/(1−γ)` for canonicalisations built from values (VAL, minimal) and `κ = 1` otherwise.
pub(crate) fn zero_tol<F: Real>(scale: f64, gamma: f64, value_based: bool) -> f64 {
    let k = if value_based {
        1.0 / (1.0 - gamma)
    } else {
        1.0
    };
    64.0 * F::epsilon().as_f64() * scale * k
}

/// `Φ(s) = Σ_a D_A(a) Σ_{s'} D_S(s') R(s, a, s')` and `c̄ = Σ_s D_S(s) Φ(s)`.
pub(crate) fn epic_potential<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    ds: &[f64],
    da: &[f64],
) -> (Vec<f64>, f64) {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let ds_sum: f64 = ds.iter().sum();
    let phi: Vec<f64> = (0..ns)
        .map(|s| {
            da.iter()
                .enumerate()
                .map(|(a, &wa)| {
                    let m = match reward.row(s, a, ns, na) {
                        RewardRow::Slice(r) => dot_lanes(r, ds),
                        RewardRow::Const(c) => c * ds_sum,
                    };
                    wa * m
                })
                .sum()
        })
        .collect();
    let cbar = phi.iter().zip(ds).map(|(p, w)| p * w).sum();
    (phi, cbar)
}

/// [`epic_potential`] fused with the reward's validation: checks the length, and scans each row
/// for NaN/∞ and `max |R|` while it is in cache for the dot product (one memory pass instead of
/// two). Returns `(Φ, c̄, max |R|)`.
pub(crate) fn epic_potential_checked<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    what: &'static str,
    ds: &[f64],
    da: &[f64],
) -> Result<(Vec<f64>, f64, f64)> {
    let Reward::Full(values) = *reward else {
        // Small tables: validate up front.
        let max = reward.validate_max(what, mdp)?;
        let (phi, cbar) = epic_potential(mdp, reward, ds, da);
        return Ok((phi, cbar, max));
    };
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    ensure_len(what, mdp.full_len(), values.len())?;
    let mut max = 0.0f64;
    let mut finite = true;
    let mut phi = vec![0.0f64; ns];
    for (row, (s, a)) in values.chunks_exact(ns).zip(state_actions(ns, na)) {
        let (m, f) = scan_lanes(row);
        max = max.max(m);
        finite &= f;
        if let (Some(p), Some(&wa)) = (phi.get_mut(s), da.get(a)) {
            *p += wa * dot_lanes(row, ds);
        }
    }
    if !finite {
        crate::error::ensure_finite(what, values)?;
    }
    let cbar = phi.iter().zip(ds).map(|(p, w)| p * w).sum();
    Ok((phi, cbar, max))
}

/// DARD's `Φ_τ(s) = Σ_a D_A(a) r̄(s, a)` and `T(s, s') = Σ_a D_A(a) Σ_{s₁,s₂} τ(s,a,s₁) τ(s',a,s₂)
/// R(s₁, a, s₂)` (row-major `S × S`).
pub(crate) fn dard_parts<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    da: &[f64],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let mut rbar = vec![0.0f64; ns * na];
    fill_expected_reward(&mut rbar, mdp, reward);
    let phi: Vec<f64> = rbar
        .chunks_exact(na)
        .map(|row| row.iter().zip(da).map(|(r, w)| r * w).sum())
        .collect();
    let mut t = vec![0.0f64; checked_size("states x states", ns, ns)?];
    let mut m1 = vec![0.0f64; ns];
    for (a, &wa) in da.iter().enumerate() {
        if wa == 0.0 {
            continue;
        }
        for (s, trow) in t.chunks_exact_mut(ns).enumerate() {
            // m1(x) = Σ_{s₁} τ(s, a, s₁) R(s₁, a, x)
            m1.iter_mut().for_each(|x| *x = 0.0);
            mdp.row(s, a)
                .for_each_nonzero(|s1, p| match reward.row(s1, a, ns, na) {
                    RewardRow::Slice(r) => {
                        for (x, v) in m1.iter_mut().zip(r) {
                            *x += p * v.as_f64();
                        }
                    }
                    RewardRow::Const(c) => m1.iter_mut().for_each(|x| *x += p * c),
                });
            for (s2, tv) in trow.iter_mut().enumerate() {
                *tv += wa * mdp.row(s2, a).dot(&m1);
            }
        }
    }
    Ok((phi, t))
}

/// `V^π`-based VAL canonical reward, `(S, A)`.
fn value_canon<F: Real>(
    mdp: &Mdp<'_, F>,
    rbar: &[f64],
    policy: &Policy<'_, F>,
    evaluator: &Evaluator,
) -> Result<Vec<f64>> {
    let v = evaluator.values(mdp, rbar, policy, None)?;
    let g = mdp.gamma().as_f64();
    let na = mdp.n_actions();
    Ok(rbar
        .iter()
        .zip(mdp.rows())
        .zip(state_actions(mdp.n_states(), na))
        .map(|((r, row), (s, _))| r + g * row.dot(&v) - v.get(s).copied().unwrap_or(0.0))
        .collect())
}

/// `γτ(s, a, ·) − e_s` as `(index, value)` pairs.
fn shaping_row<F: Real>(
    row: crate::mdp::Row<'_, F>,
    s: usize,
    g: f64,
    ent: &mut Vec<(usize, f64)>,
) {
    ent.clear();
    row.for_each_nonzero(|j, p| ent.push((j, g * p)));
    match ent.iter_mut().find(|(j, _)| *j == s) {
        Some((_, v)) => *v -= 1.0,
        None => ent.push((s, -1.0)),
    }
}

/// The reward-independent part of the minimal-`L2` canonicalisation: the factored normal matrix
/// `Σ_{s,a} w(s, a)·v vᵀ` (`v = γτ(s, a, ·) − e_s`, `w = 1/‖τ(s, a, ·)‖₂²`) and the weights.
pub(crate) struct MinimalSystem {
    lu: Vec<f64>,
    piv: Vec<usize>,
    inv_q: Vec<f64>,
}

impl MinimalSystem {
    fn new<F: Real>(mdp: &Mdp<'_, F>) -> Result<Self> {
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let g = mdp.gamma().as_f64();
        let mut normal = vec![0.0f64; checked_size("states x states", ns, ns)?];
        let mut ent: Vec<(usize, f64)> = Vec::new();
        let mut inv_q = vec![0.0f64; ns * na];
        let mut dense = vec![0.0f64; ns];
        for (i, (row, wq)) in mdp.rows().zip(inv_q.iter_mut()).enumerate() {
            let w = 1.0 / row.sum_sq();
            *wq = w;
            shaping_row(row, i / na, g, &mut ent);
            if 4 * ent.len() >= ns {
                // Many entries: rank-one update row by row with a dense copy of v (vectorises).
                dense.iter_mut().for_each(|x| *x = 0.0);
                for &(k, vk) in &ent {
                    if let Some(x) = dense.get_mut(k) {
                        *x = vk;
                    }
                }
                for &(j, vj) in &ent {
                    if let Some(nrow) = normal.get_mut(j * ns..(j + 1) * ns) {
                        let f = w * vj;
                        for (x, v) in nrow.iter_mut().zip(&dense) {
                            *x += f * v;
                        }
                    }
                }
            } else {
                for &(j, vj) in &ent {
                    if let Some(nrow) = normal.get_mut(j * ns..(j + 1) * ns) {
                        for &(k, vk) in &ent {
                            if let Some(x) = nrow.get_mut(k) {
                                *x += w * vj * vk;
                            }
                        }
                    }
                }
            }
        }
        let mut piv = vec![0usize; ns];
        lu_factor(&mut normal, &mut piv, ns)?;
        Ok(Self {
            lu: normal,
            piv,
            inv_q,
        })
    }

    /// The minimal-`L2` canonical reward of expected rewards `r̄`.
    fn canon<F: Real>(&self, mdp: &Mdp<'_, F>, rbar: &[f64]) -> Result<Canon> {
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let g = mdp.gamma().as_f64();
        let mut phi = vec![0.0f64; ns];
        let mut ent: Vec<(usize, f64)> = Vec::new();
        for (i, ((row, &r), &w)) in mdp.rows().zip(rbar).zip(&self.inv_q).enumerate() {
            shaping_row(row, i / na, g, &mut ent);
            for &(j, vj) in &ent {
                if let Some(x) = phi.get_mut(j) {
                    *x -= w * r * vj;
                }
            }
        }
        lu_solve(&self.lu, &self.piv, &mut phi, ns)?;
        // m(s, a)·w(s, a), then spread over τ(s, a, ·).
        let mut values = Vec::with_capacity(mdp.nnz());
        for (((row, &r), &w), (s, _)) in mdp
            .rows()
            .zip(rbar)
            .zip(&self.inv_q)
            .zip(state_actions(ns, na))
        {
            let m = r + g * row.dot(&phi) - phi.get(s).copied().unwrap_or(0.0);
            row.for_each(|_, p| values.push(p * m * w));
        }
        let layout = if mdp.is_sparse() {
            Layout::Support
        } else {
            Layout::Full
        };
        Ok(Canon { layout, values })
    }
}

/// Work shared by every reward canonicalised on one MDP: validated coverage, the policy
/// evaluator of VAL, or the factored normal equations of the minimal canonicalisation.
pub(crate) enum Prepared {
    Epic(Vec<f64>, Vec<f64>),
    Greedy(Vec<f64>),
    Plain,
    Dard(Vec<f64>),
    Value(Evaluator),
    Minimal(MinimalSystem),
    Potential(PotentialSystem),
}

/// Validates a canonicalisation's parameters and does its reward-independent work.
pub(crate) fn prepare<F: Real>(
    mdp: &Mdp<'_, F>,
    canon: &Canonicalization<'_, F>,
    evaluation: Evaluation,
) -> Result<Prepared> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    Ok(match canon {
        Canonicalization::Epic(cov) => {
            let (ds, da) = cov.resolve(ns, na)?;
            Prepared::Epic(ds, da)
        }
        Canonicalization::Dard(cov) => Prepared::Dard(cov.resolve(ns, na)?.1),
        Canonicalization::Value(policy) => {
            policy.validate(mdp)?;
            Prepared::Value(Evaluator::new(mdp, policy, evaluation)?)
        }
        Canonicalization::MinimalL2 => Prepared::Minimal(MinimalSystem::new(mdp)?),
        Canonicalization::ValuePotential(policy) => {
            policy.validate(mdp)?;
            Prepared::Value(Evaluator::new(mdp, policy, evaluation)?)
        }
        Canonicalization::MinimalPotential(norm) => {
            Prepared::Potential(PotentialSystem::new(mdp, norm)?)
        }
        Canonicalization::FullyConnectedGreedy(states) => {
            let cov = Coverage {
                states: *states,
                actions: None,
            };
            Prepared::Greedy(cov.resolve(ns, na)?.0)
        }
        Canonicalization::SingletonShaping | Canonicalization::Identity => Prepared::Plain,
    })
}

/// Computes `c(R)` in its natural layout from the prepared, reward-independent work (`prep` comes
/// from [`prepare`] with the same `canon`); also returns `max |R|`.
pub(crate) fn canonical<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    what: &'static str,
    canon: &Canonicalization<'_, F>,
    prep: &Prepared,
) -> Result<(Canon, f64)> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let g = mdp.gamma().as_f64();
    let (values, max) = match (canon, prep) {
        (Canonicalization::Value(policy), Prepared::Value(ev)) => {
            let (rbar, max) = expected_reward_checked(mdp, reward, what)?;
            let c = Canon {
                layout: Layout::PerSa,
                values: value_canon(mdp, &rbar, policy, ev)?,
            };
            (c, max)
        }
        (Canonicalization::MinimalL2, Prepared::Minimal(sys)) => {
            let (rbar, max) = expected_reward_checked(mdp, reward, what)?;
            (sys.canon(mdp, &rbar)?, max)
        }
        (Canonicalization::ValuePotential(policy), Prepared::Value(ev)) => {
            let (rbar, max) = expected_reward_checked(mdp, reward, what)?;
            let v = ev.values(mdp, &rbar, policy, None)?;
            let values = shaped_full(reward, &v, ns, na, g);
            let c = Canon {
                layout: Layout::Full,
                values,
            };
            (c, max)
        }
        (Canonicalization::MinimalPotential(norm), Prepared::Potential(sys)) => {
            let max = reward.validate_max(what, mdp)?;
            let sol = sys.solve(mdp, &norm.weights, reward, None)?;
            let c = Canon {
                layout: Layout::Full,
                values: shaped_full(reward, &sol.phi, ns, na, g),
            };
            (c, max)
        }
        (Canonicalization::FullyConnectedGreedy(_), Prepared::Greedy(ds)) => {
            let max = reward.validate_max(what, mdp)?;
            // Φ(s) = max_a Σ_{s'} D_S(s') R(s, a, s'), c̄ = Σ_s D_S(s) Φ(s).
            let ds_sum: f64 = ds.iter().sum();
            let phi: Vec<f64> = (0..ns)
                .map(|s| {
                    (0..na)
                        .map(|a| match reward.row(s, a, ns, na) {
                            RewardRow::Slice(r) => dot_lanes(r, ds),
                            RewardRow::Const(c) => c * ds_sum,
                        })
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .collect();
            let cbar: f64 = phi.iter().zip(ds).map(|(p, w)| p * w).sum();
            let mut values = shaped_full(reward, &phi, ns, na, g);
            values.iter_mut().for_each(|v| *v -= g * cbar);
            let c = Canon {
                layout: Layout::Full,
                values,
            };
            (c, max)
        }
        (Canonicalization::SingletonShaping, Prepared::Plain) => {
            let max = reward.validate_max(what, mdp)?;
            // Φ(s) = max_a R(s, a, s)/(1 − γ).
            let k = 1.0 / (1.0 - g);
            let phi: Vec<f64> = (0..ns)
                .map(|s| {
                    (0..na)
                        .map(|a| reward.row(s, a, ns, na).at(s))
                        .fold(f64::NEG_INFINITY, f64::max)
                        * k
                })
                .collect();
            let c = Canon {
                layout: Layout::Full,
                values: shaped_full(reward, &phi, ns, na, g),
            };
            (c, max)
        }
        (Canonicalization::Identity, Prepared::Plain) => {
            let max = reward.validate_max(what, mdp)?;
            let c = match *reward {
                Reward::Full(r) => Canon {
                    layout: Layout::Full,
                    values: r.iter().map(|v| v.as_f64()).collect(),
                },
                _ => Canon {
                    layout: Layout::PerSa,
                    values: state_actions(ns, na)
                        .map(|(s, a)| reward.row(s, a, ns, na).at(0))
                        .collect(),
                },
            };
            (c, max)
        }
        _ => canonical_plain(mdp, reward, what, canon, prep)?,
    };
    if scan_lanes(&values.values).1 {
        Ok((values, max))
    } else {
        Err(Error::Overflow {
            what: "canonical reward",
        })
    }
}

/// EPIC's and DARD's canonical rewards (full tensors).
fn canonical_plain<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    what: &'static str,
    canon: &Canonicalization<'_, F>,
    prep: &Prepared,
) -> Result<(Canon, f64)> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let g = mdp.gamma().as_f64();
    let (values, max) = match (canon, prep) {
        (Canonicalization::Epic(_), Prepared::Epic(ds, da)) => {
            let (phi, cbar, max) = epic_potential_checked(mdp, reward, what, ds, da)?;
            let mut out = vec![0.0f64; mdp.full_len()];
            for (orow, (s, a)) in out.chunks_exact_mut(ns).zip(state_actions(ns, na)) {
                let base = -phi.get(s).copied().unwrap_or(0.0) - g * cbar;
                match reward.row(s, a, ns, na) {
                    RewardRow::Slice(x) => {
                        for ((o, v), p) in orow.iter_mut().zip(x).zip(&phi) {
                            *o = v.as_f64() + g * p + base;
                        }
                    }
                    RewardRow::Const(c) => {
                        for (o, p) in orow.iter_mut().zip(&phi) {
                            *o = c + g * p + base;
                        }
                    }
                }
            }
            let c = Canon {
                layout: Layout::Full,
                values: out,
            };
            (c, max)
        }
        (Canonicalization::Dard(_), Prepared::Dard(da)) => {
            let max = reward.validate_max(what, mdp)?;
            let (phi, t) = dard_parts(mdp, reward, da)?;
            let mut out = vec![0.0f64; mdp.full_len()];
            for (orow, (s, a)) in out.chunks_exact_mut(ns).zip(state_actions(ns, na)) {
                let base = -phi.get(s).copied().unwrap_or(0.0);
                let trow = t.get(s * ns..(s + 1) * ns).unwrap_or(&[]);
                let r = reward.row(s, a, ns, na);
                for ((j, o), (p, tv)) in orow.iter_mut().enumerate().zip(phi.iter().zip(trow)) {
                    *o = r.at(j) + g * p + base - g * tv;
                }
            }
            let c = Canon {
                layout: Layout::Full,
                values: out,
            };
            (c, max)
        }
        _ => {
            return Err(Error::InvalidParam {
                name: "canonicalization",
                value: 0.0,
                expected: "prepared work of the same canonicalisation",
            });
        }
    };
    Ok((values, max))
}

impl Canon {
    /// Writes the full `(S, A, S')` tensor `scale·c`.
    pub(crate) fn expand<F: Real>(
        &self,
        out: &mut [F],
        mdp: &Mdp<'_, F>,
        scale: f64,
    ) -> Result<()> {
        ensure_len("out", mdp.full_len(), out.len())?;
        let ns = mdp.n_states();
        match self.layout {
            Layout::Full => {
                for (o, v) in out.iter_mut().zip(&self.values) {
                    *o = F::lit(v * scale);
                }
            }
            Layout::PerSa => {
                for (orow, v) in out.chunks_exact_mut(ns).zip(&self.values) {
                    let x = F::lit(v * scale);
                    orow.iter_mut().for_each(|o| *o = x);
                }
            }
            Layout::Support => {
                out.iter_mut().for_each(|o| *o = F::ZERO);
                let mut vals = self.values.iter();
                for (orow, row) in out.chunks_exact_mut(ns).zip(mdp.rows()) {
                    row.for_each(|j, _| {
                        if let (Some(o), Some(v)) = (orow.get_mut(j), vals.next()) {
                            *o = F::lit(v * scale);
                        }
                    });
                }
            }
        }
        // Finite f64 values can still overflow f32.
        if scan_lanes(out).1 {
            Ok(())
        } else {
            Err(Error::Overflow {
                what: "canonical reward",
            })
        }
    }

    /// `max |c|`.
    pub(crate) fn max_abs(&self) -> f64 {
        self.values
            .iter()
            .fold(0.0f64, |m, x| m.max(Float::abs(*x)))
    }
}

/// Writes the canonical reward `c(R)` as a full `(S, A, S')` tensor.
///
/// # Definition
/// See [`Canonicalization`]. `Value` is evaluated with [`Evaluation::Auto`].
///
/// # Shapes
/// `out`: `(S, A, S')`; the reward: see [`Reward`].
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ rewards; [`Error::InvalidParam`] for
/// an invalid coverage distribution or policy; [`Error::Overflow`] if the result is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Canonicalization, Coverage, canonicalize};
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// // EPIC removes potential shaping: a pure shaping term canonicalises to 0.
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&[0.5f64, 0.5, 0.5, 0.5]), &[1.0, 0.0], 0.5)?;
/// let phi = [1.0, -2.0];
/// let shaping: Vec<f64> = (0..4).map(|i| 0.5 * phi[i % 2] - phi[i / 2]).collect();
/// let mut c = [1.0f64; 4];
/// canonicalize(&mut c, &mdp, &Reward::Full(&shaping), &Canonicalization::Epic(Coverage::uniform()))?;
/// assert!(c.iter().all(|x| x.abs() < 1e-15));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), STARC, arXiv:2309.15257, §3.
pub fn canonicalize<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    canon: &Canonicalization<'_, F>,
) -> Result<()> {
    ensure_len("out", mdp.full_len(), out.len())?;
    let prep = prepare(mdp, canon, Evaluation::Auto)?;
    canonical(mdp, reward, "reward", canon, &prep)?
        .0
        .expand(out, mdp, 1.0)
}
