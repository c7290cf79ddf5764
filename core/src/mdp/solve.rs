//! Policy evaluation (exact and iterative), value iteration, policy iteration, returns and regret.
//! Everything here allocates `O(S)` (iterative) or `O(S²)` (exact) `f64` workspace.

use alloc::vec;
use alloc::vec::Vec;

use num_traits::Float;

use crate::error::{Error, Result, ensure_len, param_positive};
use crate::mdp::linalg::{lu_factor, lu_solve};
use crate::mdp::{Mdp, Policy, Reward, checked_size, expected_reward_checked, to_real};
use crate::real::Real;

/// Largest `S` that [`Evaluation::Auto`] evaluates exactly (dense LU, `O(S³)`).
const AUTO_EXACT_MAX_STATES: usize = 512;
/// Relative tolerance of [`Evaluation::Auto`]'s iterative path (relative to `max|r_π|/(1−γ)`).
const AUTO_REL_TOL: f64 = 1e-13;
/// Sweep budget of [`Evaluation::Auto`]'s iterative path.
const AUTO_MAX_SWEEPS: usize = 50_000_000;
/// Policy-iteration budget (far above the `O(S·A/(1−γ)·log(1/(1−γ)))` bound seen in practice).
const MAX_POLICY_ITERATIONS: usize = 100_000;

/// How to evaluate a policy: solve `(I − γP_π)V = r_π` exactly, or iterate the Bellman operator.
///
/// # Definition
/// - `Exact`: dense LU with partial pivoting ([`crate::mdp::linalg`]), `O(S³)` time, `O(S²)` memory.
/// - `Iterative { tol, max_iters }`: `V_{k+1} = r_π + γP_πV_k` from `V_0 = 0` until
///   `γ/(1−γ)·‖V_{k+1} − V_k‖∞ <= tol`, which bounds `‖V_{k+1} − V^π‖∞ <= tol`; `O(nnz)` per sweep.
/// - `Auto` (default): `Exact` for `S <= 512`, else `Iterative` with
///   `tol = 1e-13·max(1, max|r_π|)/(1−γ)` and a budget of `5·10⁷` sweeps.
///
/// # Errors
/// Users return [`Error::InvalidParam`] for a `tol` that is not finite and positive, `max_iters = 0`,
/// or when the sweep budget runs out before the tolerance is met (`name = "max_iters"`).
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Evaluation, Mdp, Policy, Reward, Transitions, policy_values};
/// let mdp = Mdp::new(1, 1, Transitions::Dense(&[1.0f64]), &[1.0], 0.5)?;
/// let mut v = [0.0f64];
/// let it = Evaluation::Iterative { tol: 1e-12, max_iters: 1000 };
/// policy_values(&mut v, &mdp, &Reward::State(&[1.0]), &Policy::Uniform, it)?;
/// assert!((v[0] - 2.0).abs() <= 1e-12); // 1/(1 − γ)
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Puterman (1994), *Markov Decision Processes*, §6.1–6.3.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Evaluation {
    /// Exact for `S <= 512`, iterative above.
    #[default]
    Auto,
    /// Dense LU solve.
    Exact,
    /// Bellman sweeps with an a-posteriori error bound.
    Iterative {
        /// Absolute bound on `‖V − V^π‖∞` at exit.
        tol: f64,
        /// Sweep budget.
        max_iters: usize,
    },
}

impl Evaluation {
    /// Checks the iterative parameters.
    fn validate(self) -> Result<()> {
        if let Self::Iterative { tol, max_iters } = self {
            param_positive("tol", tol)?;
            if max_iters == 0 {
                return Err(Error::InvalidParam {
                    name: "max_iters",
                    value: 0.0,
                    expected: "at least 1",
                });
            }
        }
        Ok(())
    }

    /// The absolute error bound of this method (0 for exact solves).
    fn tolerance(self, n_states: usize, scale: f64, gamma: f64) -> f64 {
        match self {
            Self::Exact => 0.0,
            Self::Auto if n_states <= AUTO_EXACT_MAX_STATES => 0.0,
            Self::Auto => AUTO_REL_TOL * scale.max(1.0) / (1.0 - gamma),
            Self::Iterative { tol, .. } => tol,
        }
    }
}

/// `r_π(s) = Σ_a π(a|s) r̄(s, a)`.
fn policy_reward<F: Real>(mdp: &Mdp<'_, F>, rbar: &[f64], policy: &Policy<'_, F>) -> Vec<f64> {
    let na = mdp.n_actions();
    rbar.chunks_exact(na)
        .enumerate()
        .map(|(s, row)| {
            row.iter()
                .enumerate()
                .map(|(a, r)| policy.prob(s, a, na) * r)
                .sum()
        })
        .collect()
}

fn max_abs(x: &[f64]) -> f64 {
    x.iter().fold(0.0f64, |m, v| m.max(Float::abs(*v)))
}

/// A policy evaluator for a fixed MDP and policy: the LU factors of `I − γP_π` (exact), or the
/// sweep settings (iterative). Factor once, evaluate many rewards.
pub(crate) enum Evaluator {
    Exact {
        lu: Vec<f64>,
        piv: Vec<usize>,
    },
    Iterative {
        tol: Option<f64>,
        max_iters: usize,
        /// `γP_π` in compressed rows (the actions of a state concatenated; zeros dropped).
        offsets: Vec<usize>,
        next: Vec<u32>,
        weight: Vec<f64>,
    },
}

/// `γP_π` as compressed rows over states.
fn discounted_policy_kernel<F: Real>(
    mdp: &Mdp<'_, F>,
    policy: &Policy<'_, F>,
) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let g = mdp.gamma().as_f64();
    let mut offsets = Vec::with_capacity(ns + 1);
    offsets.push(0);
    let (mut next, mut weight) = (Vec::new(), Vec::new());
    for s in 0..ns {
        for a in 0..na {
            let w = policy.prob(s, a, na);
            if w != 0.0 {
                mdp.row(s, a).for_each_nonzero(|j, p| {
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "invariant: j < S and Mdp::new checks that S fits u32"
                    )]
                    next.push(j as u32);
                    weight.push(g * w * p);
                });
            }
        }
        offsets.push(next.len());
    }
    (offsets, next, weight)
}

impl Evaluator {
    /// Prepares the evaluation of `policy` (validated by the caller) with `method`.
    pub(crate) fn new<F: Real>(
        mdp: &Mdp<'_, F>,
        policy: &Policy<'_, F>,
        method: Evaluation,
    ) -> Result<Self> {
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let g = mdp.gamma().as_f64();
        let exact = match method {
            Evaluation::Exact => true,
            Evaluation::Auto => ns <= AUTO_EXACT_MAX_STATES,
            Evaluation::Iterative { tol, max_iters } => {
                method.validate()?;
                let (offsets, next, weight) = discounted_policy_kernel(mdp, policy);
                return Ok(Self::Iterative {
                    tol: Some(tol),
                    max_iters,
                    offsets,
                    next,
                    weight,
                });
            }
        };
        if !exact {
            let (offsets, next, weight) = discounted_policy_kernel(mdp, policy);
            return Ok(Self::Iterative {
                tol: None,
                max_iters: AUTO_MAX_SWEEPS,
                offsets,
                next,
                weight,
            });
        }
        let mut a = vec![0.0f64; checked_size("states x states", ns, ns)?];
        for (s, arow) in a.chunks_exact_mut(ns).enumerate() {
            for act in 0..na {
                let w = policy.prob(s, act, na);
                if w == 0.0 {
                    continue;
                }
                mdp.row(s, act).axpy(arow, -g * w);
            }
            if let Some(x) = arow.get_mut(s) {
                *x += 1.0;
            }
        }
        let mut piv = vec![0usize; ns];
        lu_factor(&mut a, &mut piv, ns)?;
        Ok(Self::Exact { lu: a, piv })
    }

    /// The absolute error bound of the iterative path for rewards of scale `scale` (0 if exact).
    pub(crate) fn tolerance(&self, scale: f64, gamma: f64) -> f64 {
        match *self {
            Self::Exact { .. } => 0.0,
            Self::Iterative { tol: Some(t), .. } => t,
            Self::Iterative { tol: None, .. } => AUTO_REL_TOL * scale.max(1.0) / (1.0 - gamma),
        }
    }

    /// `V^π` for the expected rewards `r̄`.
    pub(crate) fn values<F: Real>(
        &self,
        mdp: &Mdp<'_, F>,
        rbar: &[f64],
        policy: &Policy<'_, F>,
        warm: Option<&[f64]>,
    ) -> Result<Vec<f64>> {
        let ns = mdp.n_states();
        let g = mdp.gamma().as_f64();
        let r_pi = policy_reward(mdp, rbar, policy);
        match self {
            Self::Exact { lu, piv } => {
                let mut v = r_pi;
                lu_solve(lu, piv, &mut v, ns)?;
                Ok(v)
            }
            Self::Iterative {
                max_iters,
                offsets,
                next: idx,
                weight,
                ..
            } => {
                let tol = self.tolerance(max_abs(&r_pi), g);
                let mut v = match warm {
                    Some(w) if w.len() == ns => w.to_vec(),
                    _ => vec![0.0; ns],
                };
                let mut next = vec![0.0; ns];
                let factor = g / (1.0 - g);
                for _ in 0..*max_iters {
                    let mut delta = 0.0f64;
                    for ((nv, (&rp, &old)), win) in next
                        .iter_mut()
                        .zip(r_pi.iter().zip(&v))
                        .zip(offsets.windows(2))
                    {
                        let (lo, hi) = match *win {
                            [lo, hi] => (lo, hi),
                            _ => (0, 0),
                        };
                        let js = idx.get(lo..hi).unwrap_or(&[]);
                        let ws = weight.get(lo..hi).unwrap_or(&[]);
                        let mut acc = rp;
                        for (&j, &w) in js.iter().zip(ws) {
                            acc += w * v.get(j as usize).copied().unwrap_or(0.0);
                        }
                        *nv = acc;
                        delta = delta.max(Float::abs(acc - old));
                    }
                    core::mem::swap(&mut v, &mut next);
                    if !delta.is_finite() {
                        return Err(Error::Overflow {
                            what: "policy evaluation",
                        });
                    }
                    if factor * delta <= tol {
                        return Ok(v);
                    }
                }
                Err(Error::InvalidParam {
                    name: "max_iters",
                    value: *max_iters as f64,
                    expected: "enough sweeps to reach the tolerance",
                })
            }
        }
    }
}

/// `V^π` in `f64` from `r̄` (policy validated by the caller).
pub(crate) fn evaluate_f64<F: Real>(
    mdp: &Mdp<'_, F>,
    rbar: &[f64],
    policy: &Policy<'_, F>,
    method: Evaluation,
    warm: Option<&[f64]>,
) -> Result<Vec<f64>> {
    Evaluator::new(mdp, policy, method)?.values(mdp, rbar, policy, warm)
}

/// `Q(s, a) = r̄(s, a) + γ Σ τ(s, a, s') V(s')`.
pub(crate) fn q_from_values_f64<F: Real>(mdp: &Mdp<'_, F>, rbar: &[f64], v: &[f64]) -> Vec<f64> {
    let g = mdp.gamma().as_f64();
    rbar.iter()
        .zip(mdp.rows())
        .map(|(r, row)| r + g * row.dot(v))
        .collect()
}

/// First argmax per state.
pub(crate) fn greedy_f64(q: &[f64], n_actions: usize) -> Vec<usize> {
    q.chunks_exact(n_actions)
        .map(|row| {
            let mut best = 0usize;
            let mut bv = f64::NEG_INFINITY;
            for (a, &x) in row.iter().enumerate() {
                if x > bv {
                    bv = x;
                    best = a;
                }
            }
            best
        })
        .collect()
}

/// `J = Σ μ(s) V(s)`.
pub(crate) fn return_f64<F: Real>(mdp: &Mdp<'_, F>, v: &[f64]) -> f64 {
    mdp.initial()
        .iter()
        .zip(v)
        .map(|(m, x)| m.as_f64() * x)
        .sum()
}

/// An optimal deterministic policy with its values, in `f64`.
pub(crate) struct OptimalF64 {
    pub(crate) actions: Vec<usize>,
    pub(crate) v: Vec<f64>,
    pub(crate) q: Vec<f64>,
}

/// Policy iteration from the greedy policy of `r̄`; switches an action only when it improves `Q` by
/// more than a tie tolerance, so it terminates and keeps the first optimal action on ties.
pub(crate) fn solve_optimal_f64<F: Real>(
    mdp: &Mdp<'_, F>,
    rbar: &[f64],
    method: Evaluation,
) -> Result<OptimalF64> {
    let na = mdp.n_actions();
    let g = mdp.gamma().as_f64();
    let mut actions = greedy_f64(rbar, na);
    let mut warm: Option<Vec<f64>> = None;
    let scale = max_abs(rbar);
    let tie = 1e-12 * (1.0 + scale / (1.0 - g)) + 8.0 * method.tolerance(mdp.n_states(), scale, g);
    for _ in 0..MAX_POLICY_ITERATIONS {
        let v = evaluate_f64(
            mdp,
            rbar,
            &Policy::Deterministic(&actions),
            method,
            warm.as_deref(),
        )?;
        let q = q_from_values_f64(mdp, rbar, &v);
        let mut changed = false;
        for (a_s, row) in actions.iter_mut().zip(q.chunks_exact(na)) {
            let cur = row.get(*a_s).copied().unwrap_or(f64::NEG_INFINITY);
            let mut best = *a_s;
            let mut bv = cur;
            for (a, &x) in row.iter().enumerate() {
                if x > bv {
                    bv = x;
                    best = a;
                }
            }
            if bv > cur + tie {
                *a_s = best;
                changed = true;
            }
        }
        if !changed {
            return Ok(OptimalF64 { actions, v, q });
        }
        warm = Some(v);
    }
    Err(Error::InvalidParam {
        name: "policy iterations",
        value: MAX_POLICY_ITERATIONS as f64,
        expected: "policy iteration to converge (a tie tolerance cycle)",
    })
}

fn rbar_of<F: Real>(mdp: &Mdp<'_, F>, reward: &Reward<'_, F>) -> Result<Vec<f64>> {
    Ok(expected_reward_checked(mdp, reward, "reward")?.0)
}

fn write_out<F: Real>(out: &mut [F], v: &[f64]) -> Result<()> {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = to_real(x, "values")?;
    }
    Ok(())
}

/// State values of a policy.
///
/// # Definition
/// `V^π = (I − γP_π)⁻¹ r_π` with `P_π(s, s') = Σ_a π(a|s) τ(s, a, s')` and
/// `r_π(s) = Σ_a π(a|s) r̄(s, a)`, computed as `method` says ([`Evaluation`]).
///
/// # Shapes
/// `out`: `(S)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ rewards; [`Error::InvalidParam`] for
/// an invalid policy or evaluation parameters, or when the sweep budget runs out;
/// [`Error::Overflow`] for non-finite values.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Evaluation, Mdp, Policy, Reward, Transitions, policy_values};
/// // 2-state chain, action 0 stays, action 1 switches; reward 1 in state 1; γ = 0.5.
/// let tau = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.5)?;
/// let mut v = [0.0f64; 2];
/// // Always switch: V(0) = 0.5·V(1), V(1) = 1 + 0.5·V(0) ⇒ V = (2/3, 4/3).
/// policy_values(&mut v, &mdp, &Reward::State(&[0.0, 1.0]), &Policy::Deterministic(&[1, 1]),
///     Evaluation::Exact)?;
/// assert!((v[0] - 2.0 / 3.0).abs() < 1e-15 && (v[1] - 4.0 / 3.0).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Puterman (1994), *Markov Decision Processes*, Thm 6.1.1.
pub fn policy_values<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    policy: &Policy<'_, F>,
    method: Evaluation,
) -> Result<()> {
    ensure_len("out", mdp.n_states(), out.len())?;
    policy.validate(mdp)?;
    let rbar = rbar_of(mdp, reward)?;
    let v = evaluate_f64(mdp, &rbar, policy, method, None)?;
    write_out(out, &v)
}

/// Optimal state values by value iteration; returns the number of sweeps.
///
/// # Definition
/// `V_{k+1}(s) = max_a Σ_{s'} τ(s, a, s')(R(s, a, s') + γV_k(s'))` from `V_0 = 0`, until
/// `γ/(1−γ)·‖V_{k+1} − V_k‖∞ <= tol` (then `‖V_{k+1} − V*‖∞ <= tol`).
///
/// # Shapes
/// `out`: `(S)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::InvalidParam`] for `tol` not finite
/// and positive, `max_iters = 0`, or when `max_iters` sweeps do not reach `tol`;
/// [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions, value_iteration};
/// let tau = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.5)?;
/// let mut v = [0.0f64; 2];
/// value_iteration(&mut v, &mdp, &Reward::State(&[0.0, 1.0]), 1e-12, 1000)?;
/// // Optimal: switch from 0, stay in 1: V(1) = 2, V(0) = 1.
/// assert!((v[0] - 1.0).abs() < 1e-12 && (v[1] - 2.0).abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Puterman (1994), *Markov Decision Processes*, §6.3 (Thm 6.3.1).
pub fn value_iteration<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    tol: F,
    max_iters: usize,
) -> Result<usize> {
    ensure_len("out", mdp.n_states(), out.len())?;
    let tol = param_positive("tol", tol)?.as_f64();
    if max_iters == 0 {
        return Err(Error::InvalidParam {
            name: "max_iters",
            value: 0.0,
            expected: "at least 1",
        });
    }
    let rbar = rbar_of(mdp, reward)?;
    let na = mdp.n_actions();
    let g = mdp.gamma().as_f64();
    let factor = g / (1.0 - g);
    let mut v = vec![0.0f64; mdp.n_states()];
    for it in 1..=max_iters {
        let q = q_from_values_f64(mdp, &rbar, &v);
        let mut delta = 0.0f64;
        for (x, row) in v.iter_mut().zip(q.chunks_exact(na)) {
            let best = row.iter().fold(f64::NEG_INFINITY, |m, y| m.max(*y));
            delta = delta.max(Float::abs(best - *x));
            *x = best;
        }
        if !delta.is_finite() {
            return Err(Error::Overflow {
                what: "value iteration",
            });
        }
        if factor * delta <= tol {
            write_out(out, &v)?;
            return Ok(it);
        }
    }
    Err(Error::InvalidParam {
        name: "max_iters",
        value: max_iters as f64,
        expected: "enough sweeps to reach the tolerance",
    })
}

/// An optimal deterministic policy and its values.
///
/// # Shapes
/// `actions`, `values`: `(S)`; `q`: `(S, A)`.
///
/// # Examples
/// See [`optimal_policy`].
#[derive(Clone, Debug, PartialEq)]
pub struct OptimalPolicy<F> {
    /// The first optimal action of each state (ties within rounding keep the lower index).
    pub actions: Vec<usize>,
    /// `V*(s)`.
    pub values: Vec<F>,
    /// `Q*(s, a)`.
    pub q: Vec<F>,
}

/// An optimal deterministic policy by policy iteration (with [`Evaluation::Auto`]).
///
/// # Definition
/// Howard's policy iteration from the greedy policy of `r̄`: evaluate `π`, switch each state to
/// `argmax_a Q^π(s, a)` when that beats the current action by more than a tie tolerance
/// (`1e-12·(1 + max|r̄|/(1−γ))`, plus 8× the evaluation tolerance when iterative); stop when
/// nothing changes. The result satisfies `Q*(s, π(s)) >= max_a Q*(s, a) − tie`.
///
/// # Shapes
/// See [`OptimalPolicy`].
///
/// # Errors
/// As [`policy_values`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions, optimal_policy};
/// let tau = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.5)?;
/// let opt = optimal_policy(&mdp, &Reward::State(&[0.0, 1.0]))?;
/// assert_eq!(opt.actions, [1, 0]); // switch to state 1, then stay
/// assert!((opt.values[1] - 2.0).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Howard (1960), *Dynamic Programming and Markov Processes*; Puterman (1994), §6.4.
pub fn optimal_policy<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
) -> Result<OptimalPolicy<F>> {
    let rbar = rbar_of(mdp, reward)?;
    let opt = solve_optimal_f64(mdp, &rbar, Evaluation::Auto)?;
    let mut values = vec![F::ZERO; opt.v.len()];
    write_out(&mut values, &opt.v)?;
    let mut q = vec![F::ZERO; opt.q.len()];
    write_out(&mut q, &opt.q)?;
    Ok(OptimalPolicy {
        actions: opt.actions,
        values,
        q,
    })
}

/// The return of a policy from the initial distribution.
///
/// # Definition
/// `J(π) = Σ_s μ(s) V^π(s)`.
///
/// # Errors
/// As [`policy_values`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions, policy_return};
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
/// let j = policy_return(&mdp, &Reward::StateAction(&[1.0, 3.0]), &Policy::Uniform)?;
/// assert_eq!(j, 4.0); // 2/(1 − 0.5)
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Sutton and Barto (2018), *Reinforcement Learning*, §3.5.
pub fn policy_return<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    policy: &Policy<'_, F>,
) -> Result<F> {
    policy.validate(mdp)?;
    let rbar = rbar_of(mdp, reward)?;
    let v = evaluate_f64(mdp, &rbar, policy, Evaluation::Auto, None)?;
    to_real(return_f64(mdp, &v), "return")
}

/// Optimal and worst returns and the return of `policy`, in `f64`.
fn returns<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    policy: &Policy<'_, F>,
) -> Result<(f64, f64, f64)> {
    policy.validate(mdp)?;
    let rbar = rbar_of(mdp, reward)?;
    let best = solve_optimal_f64(mdp, &rbar, Evaluation::Auto)?;
    let neg: Vec<f64> = rbar.iter().map(|x| -x).collect();
    let worst = solve_optimal_f64(mdp, &neg, Evaluation::Auto)?;
    let v = evaluate_f64(mdp, &rbar, policy, Evaluation::Auto, None)?;
    Ok((
        return_f64(mdp, &best.v),
        -return_f64(mdp, &worst.v),
        return_f64(mdp, &v),
    ))
}

/// The regret of a policy under a reward.
///
/// # Definition
/// `regret(π) = J(π*) − J(π) >= 0` (rounding below 0 is clamped to 0).
///
/// # Errors
/// As [`policy_values`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions, regret};
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
/// let r = Reward::StateAction(&[1.0, 3.0]);
/// assert_eq!(regret(&mdp, &r, &Policy::Deterministic(&[0]))?, 4.0); // 6 − 2
/// assert_eq!(regret(&mdp, &r, &Policy::Deterministic(&[1]))?, 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), STARC, arXiv:2309.15257, §2.
pub fn regret<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    policy: &Policy<'_, F>,
) -> Result<F> {
    policy.validate(mdp)?;
    let rbar = rbar_of(mdp, reward)?;
    let best = solve_optimal_f64(mdp, &rbar, Evaluation::Auto)?;
    let v = evaluate_f64(mdp, &rbar, policy, Evaluation::Auto, None)?;
    to_real(
        (return_f64(mdp, &best.v) - return_f64(mdp, &v)).max(0.0),
        "regret",
    )
}

/// Regret normalised by the range of returns, as in the STARC experiments.
///
/// # Definition
/// `(J(π*) − J(π)) / (J(π*) − J(π_worst))` with `π_worst` optimal for `−R`; `0` when every policy
/// has the same return (`J(π*) − J(π_worst) <= 1e-12·(1 + |J(π*)|)`). The result lies in `[0, 1]`.
///
/// # Errors
/// As [`policy_values`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions, normalized_regret};
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
/// let r = Reward::StateAction(&[1.0, 3.0]);
/// assert_eq!(normalized_regret(&mdp, &r, &Policy::Uniform)?, 0.5);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), STARC, arXiv:2309.15257; `lucyfarnik/starc`
/// `src/experiments/interpolated.py` (`regret1`).
pub fn normalized_regret<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    policy: &Policy<'_, F>,
) -> Result<F> {
    let (best, worst, j) = returns(mdp, reward, policy)?;
    let range = best - worst;
    if range <= 1e-12 * (1.0 + Float::abs(best)) {
        return Ok(F::ZERO);
    }
    Ok(F::lit(((best - j) / range).clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdp::Transitions;

    #[test]
    fn exact_and_iterative_agree_on_a_chain() {
        // 3-state ring with noise; compare both methods to each other and to V = r/(1−γ) for a
        // constant reward.
        let tau = [
            0.8, 0.2, 0.0, 0.1, 0.0, 0.9, //
            0.0, 0.7, 0.3, 0.5, 0.5, 0.0, //
            0.2, 0.0, 0.8, 0.0, 0.0, 1.0f64,
        ];
        let mdp = Mdp::new(3, 2, Transitions::Dense(&tau), &[1.0, 0.0, 0.0], 0.9).unwrap();
        let r = [1.0, -2.0, 0.5, 0.25, 3.0, -1.0f64];
        let mut ve = [0.0f64; 3];
        let mut vi = [0.0f64; 3];
        let pol = Policy::Stochastic(&[0.3, 0.7, 0.5, 0.5, 1.0, 0.0]);
        policy_values(
            &mut ve,
            &mdp,
            &Reward::StateAction(&r),
            &pol,
            Evaluation::Exact,
        )
        .unwrap();
        let it = Evaluation::Iterative {
            tol: 1e-12,
            max_iters: 100_000,
        };
        policy_values(&mut vi, &mdp, &Reward::StateAction(&r), &pol, it).unwrap();
        for (a, b) in ve.iter().zip(&vi) {
            assert!((a - b).abs() <= 1e-11, "{ve:?} vs {vi:?}");
        }
        policy_values(
            &mut ve,
            &mdp,
            &Reward::State(&[2.0; 3]),
            &pol,
            Evaluation::Exact,
        )
        .unwrap();
        for v in ve {
            assert!((v - 20.0).abs() < 1e-12);
        }
        let tiny = Evaluation::Iterative {
            tol: 1e-12,
            max_iters: 3,
        };
        assert!(matches!(
            policy_values(&mut vi, &mdp, &Reward::StateAction(&r), &pol, tiny),
            Err(Error::InvalidParam {
                name: "max_iters",
                ..
            })
        ));
        let bad = Evaluation::Iterative {
            tol: -1.0,
            max_iters: 3,
        };
        assert!(policy_values(&mut vi, &mdp, &Reward::StateAction(&r), &pol, bad).is_err());
    }

    #[test]
    fn policy_iteration_matches_value_iteration() {
        let tau = [
            0.8, 0.2, 0.0, 0.1, 0.0, 0.9, //
            0.0, 0.7, 0.3, 0.5, 0.5, 0.0, //
            0.2, 0.0, 0.8, 0.0, 0.0, 1.0f64,
        ];
        let mdp = Mdp::new(3, 2, Transitions::Dense(&tau), &[0.2, 0.3, 0.5], 0.95).unwrap();
        let r = Reward::StateAction(&[1.0, -2.0, 0.5, 0.25, 3.0, -1.0f64]);
        let opt = optimal_policy(&mdp, &r).unwrap();
        let mut v = [0.0f64; 3];
        value_iteration(&mut v, &mdp, &r, 1e-11, 100_000).unwrap();
        for (a, b) in opt.values.iter().zip(&v) {
            assert!((a - b).abs() < 1e-10);
        }
        assert_eq!(
            regret(&mdp, &r, &Policy::Deterministic(&opt.actions)).unwrap(),
            0.0
        );
        let nr = normalized_regret(&mdp, &r, &Policy::Uniform).unwrap();
        assert!(nr > 0.0 && nr < 1.0);
    }
}
