//! Models of human preferences between trajectory segments (Knox et al.): the partial-return
//! (Bradley–Terry) model and the regret model, their likelihoods and exact gradients with respect
//! to a tabular reward, and a small fitter that learns a reward from preferences.
//!
//! # Definitions
//! A segment `σ = (s₀, a₀, s₁, …, a_{k−1}, s_k)`; a comparison labels `y = P(σ₁ ≻ σ₂)` (1, 0, or
//! 0.5 for a tie). For a candidate reward `R` (a full `(S, A, S')` tensor):
//! - partial return: `z = Σ_t R(σ₁_t) − Σ_t R(σ₂_t)` with `R(σ_t) = R(s_t, a_t, s_{t+1})`
//!   (undiscounted, as in the paper and its code);
//! - regret (the general, stochastic-transition form): `regret(σ) = −Σ_t A*_R(s_t, a_t)` with
//!   `A* = Q* − V*` under the MDP's `γ`, and `z = Σ_t A*(σ₁_t) − Σ_t A*(σ₂_t)`;
//! - `P(σ₁ ≻ σ₂) = σ(z)` (logistic), and the loss is the mean cross-entropy
//!   `L = (1/n) Σ_i softplus(zᵢ) − yᵢ·zᵢ`.
//!
//! The regret model depends on `R` only through `A*`, which is invariant to potential shaping and
//! S'-redistribution: it identifies a reward up to those (Knox et al., Thm 1), so learned rewards
//! are compared with a STARC distance. `V*` is exact (policy iteration), not the soft-max over
//! candidate policies of the authors' code; the gradient treats the optimal policy as locally
//! constant (it is, almost everywhere).
//!
//! Citation: Knox, Hatgis-Kessell, Booth, Niekum, Stone and Allievi (2024), *Models of human
//! preference for learning reward functions*, TMLR, arXiv:2206.02231; code
//! `Stephanehk/Regret_Based_Reward_Learning` `Reward_Learning/models.py`.

use alloc::vec;
use alloc::vec::Vec;

use num_traits::Float;

use crate::error::{
    Error, Result, ensure_finite, ensure_len, param_in, param_nonneg, param_positive,
};
use crate::mdp::linalg::{lu_factor, lu_solve_transpose};
use crate::mdp::{
    Evaluation, Mdp, Reward, checked_size, fill_expected_reward, solve_optimal_f64, to_real,
};
use crate::real::Real;

/// A trajectory segment `(s₀, a₀, s₁, …, a_{k−1}, s_k)`.
///
/// # Shapes
/// `states`: `(k + 1)`; `actions`: `(k)`.
///
/// # Errors
/// [`Segment::new`] returns [`Error::LengthMismatch`] unless `states.len() == actions.len() + 1`;
/// users return [`Error::InvalidParam`] for indices outside the MDP.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::preference::Segment;
/// let seg = Segment::new(&[0, 1, 1], &[1, 0])?;
/// assert_eq!(seg.len(), 2);
/// assert!(Segment::new(&[0, 1], &[1, 0]).is_err());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    states: &'a [usize],
    actions: &'a [usize],
}

impl<'a> Segment<'a> {
    /// A segment of `actions.len()` transitions.
    pub fn new(states: &'a [usize], actions: &'a [usize]) -> Result<Self> {
        ensure_len("segment states", actions.len() + 1, states.len())?;
        Ok(Self { states, actions })
    }

    /// Number of transitions `k`.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// `true` for a segment without transitions.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The transitions `(s_t, a_t, s_{t+1})`.
    pub fn transitions(&self) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
        let (st, ac) = (self.states, self.actions);
        ac.iter()
            .zip(st.iter().zip(st.iter().skip(1)))
            .map(|(&a, (&s, &t))| (s, a, t))
    }

    fn validate<F: Real>(&self, mdp: &Mdp<'_, F>) -> Result<()> {
        if let Some(&s) = self.states.iter().find(|&&s| s >= mdp.n_states()) {
            return Err(Error::InvalidParam {
                name: "segment states",
                value: s as f64,
                expected: "state indices < S",
            });
        }
        if let Some(&a) = self.actions.iter().find(|&&a| a >= mdp.n_actions()) {
            return Err(Error::InvalidParam {
                name: "segment actions",
                value: a as f64,
                expected: "action indices < A",
            });
        }
        Ok(())
    }
}

/// One labelled comparison of two segments.
///
/// # Definition
/// `label = P(left ≻ right)`: 1 if `left` was preferred, 0 if `right` was, 0.5 for a tie (any
/// value in `[0, 1]` is accepted, e.g. an average of several labellers).
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::preference::{Comparison, Segment};
/// let c = Comparison { left: Segment::new(&[0, 1], &[0])?, right: Segment::new(&[1, 1], &[0])?,
///     label: 1.0f64 };
/// assert_eq!(c.label, 1.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison<'a, F> {
    /// The first segment.
    pub left: Segment<'a>,
    /// The second segment.
    pub right: Segment<'a>,
    /// `P(left ≻ right) ∈ [0, 1]`.
    pub label: F,
}

/// Which model of preferences generates the labels.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::preference::PreferenceModel;
/// assert_eq!("regret".parse::<PreferenceModel>()?, PreferenceModel::Regret);
/// assert_eq!(PreferenceModel::PartialReturn.to_string(), "partial_return");
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
///
/// Citation: Knox et al. (2024), arXiv:2206.02231, §3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PreferenceModel {
    /// Bradley–Terry on the segments' summed rewards.
    #[default]
    PartialReturn,
    /// Logistic in the difference of the segments' summed optimal advantages.
    Regret,
}

impl PreferenceModel {
    const NAMES: &'static [&'static str] = &["partial_return", "regret"];
}

impl core::fmt::Display for PreferenceModel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::PartialReturn => "partial_return",
            Self::Regret => "regret",
        })
    }
}

impl core::str::FromStr for PreferenceModel {
    type Err = crate::error::UnknownName;
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        match s {
            "partial_return" | "pr" | "bradley_terry" => Ok(Self::PartialReturn),
            "regret" => Ok(Self::Regret),
            _ => Err(crate::error::UnknownName {
                kind: "preference model",
                valid: Self::NAMES,
            }),
        }
    }
}

/// Per-reward quantities a model needs: `A*` for the regret model.
struct Scorer {
    /// `A*(s, a)` (regret model) or empty.
    adv: Vec<f64>,
    /// The optimal policy (regret model).
    policy: Vec<usize>,
}

impl Scorer {
    fn new<F: Real>(mdp: &Mdp<'_, F>, reward: &[F], model: PreferenceModel) -> Result<Self> {
        match model {
            PreferenceModel::PartialReturn => Ok(Self {
                adv: Vec::new(),
                policy: Vec::new(),
            }),
            PreferenceModel::Regret => {
                let na = mdp.n_actions();
                let mut rbar = vec![0.0f64; mdp.n_states() * na];
                fill_expected_reward(&mut rbar, mdp, &Reward::Full(reward));
                let opt = solve_optimal_f64(mdp, &rbar, Evaluation::Exact)?;
                let adv = opt
                    .q
                    .iter()
                    .enumerate()
                    .map(|(i, q)| q - opt.v.get(i / na).copied().unwrap_or(0.0))
                    .collect();
                Ok(Self {
                    adv,
                    policy: opt.actions,
                })
            }
        }
    }

    /// `Σ_t R(s_t, a_t, s_{t+1})` or `Σ_t A*(s_t, a_t)`.
    fn score<F: Real>(&self, mdp: &Mdp<'_, F>, reward: &[F], seg: &Segment<'_>) -> f64 {
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        if self.adv.is_empty() {
            seg.transitions()
                .map(|(s, a, t)| {
                    reward
                        .get((s * na + a) * ns + t)
                        .map_or(0.0, |x| x.as_f64())
                })
                .sum()
        } else {
            seg.transitions()
                .map(|(s, a, _)| self.adv.get(s * na + a).copied().unwrap_or(0.0))
                .sum()
        }
    }
}

fn check_data<F: Real>(mdp: &Mdp<'_, F>, reward: &[F], data: &[Comparison<'_, F>]) -> Result<()> {
    ensure_len("reward", mdp.full_len(), reward.len())?;
    ensure_finite("reward", reward)?;
    crate::error::ensure_nonempty("comparisons", data.len())?;
    for c in data {
        c.left.validate(mdp)?;
        c.right.validate(mdp)?;
        param_in("label", c.label, F::ZERO, F::ONE, "in [0, 1]")?;
    }
    Ok(())
}

/// `softplus(z) − y·z` and its derivative `σ(z) − y`.
fn cross_entropy(z: f64, y: f64) -> (f64, f64) {
    let sp = z.max(0.0) + Float::ln_1p(Float::exp(-Float::abs(z)));
    let sig = if z >= 0.0 {
        1.0 / (1.0 + Float::exp(-z))
    } else {
        let e = Float::exp(z);
        e / (1.0 + e)
    };
    (sp - y * z, sig - y)
}

/// The preference logit `z` with `P(left ≻ right) = σ(z)` under a model.
///
/// # Definition
/// See the [module docs](self).
///
/// # Shapes
/// `reward`: `(S, A, S')`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::InvalidParam`] for segment indices
/// outside the MDP; errors of the optimal-policy solve (regret model).
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// use rewardkit_core::mdp::preference::{PreferenceModel, Segment, preference_logit};
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&[0.0f64, 1.0, 0.0, 1.0]), &[1.0, 0.0], 0.5)?;
/// let r = [0.0, 2.0, 0.0, 1.0]; // R(0, 0, 1) = 2, R(1, 0, 1) = 1
/// let (a, b) = (Segment::new(&[0, 1], &[0])?, Segment::new(&[1, 1], &[0])?);
/// assert_eq!(preference_logit(&mdp, &r, &a, &b, PreferenceModel::PartialReturn)?, 1.0);
/// // One action: every advantage is 0, so the regret model is indifferent.
/// assert_eq!(preference_logit(&mdp, &r, &a, &b, PreferenceModel::Regret)?, 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Knox et al. (2024), arXiv:2206.02231, Eq. 1 (partial return) and Eq. 5 (regret).
pub fn preference_logit<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &[F],
    left: &Segment<'_>,
    right: &Segment<'_>,
    model: PreferenceModel,
) -> Result<F> {
    ensure_len("reward", mdp.full_len(), reward.len())?;
    ensure_finite("reward", reward)?;
    left.validate(mdp)?;
    right.validate(mdp)?;
    let sc = Scorer::new(mdp, reward, model)?;
    to_real(
        sc.score(mdp, reward, left) - sc.score(mdp, reward, right),
        "preference logit",
    )
}

/// The mean cross-entropy of a preference model on labelled comparisons, and optionally its exact
/// gradient with respect to the tabular reward.
///
/// # Definition
/// `L(R) = (1/n) Σ_i softplus(zᵢ) − yᵢzᵢ`. Partial return: `∂L/∂R(s, a, s') = (1/n) Σ_i
/// (σ(zᵢ) − yᵢ)·(count of (s, a, s') in σ₁ − in σ₂)`. Regret: with `c(s, a) = (1/n) Σ_i (σ(zᵢ) −
/// yᵢ)·(count of (s, a) in σ₁ − in σ₂)`, `g(x) = γ Σ_{s,a} c(s, a)τ(s, a, x) − Σ_a c(x, a)` and
/// `u = (I − γP_{π*})⁻ᵀ g`, `∂L/∂r̄(s, a) = c(s, a) + u(s)·1{a = π*(s)}` and
/// `∂L/∂R(s, a, s') = τ(s, a, s')·∂L/∂r̄(s, a)` (`A* = r̄ + γτV* − V*`, `V* = (I − γP_{π*})⁻¹r̄_{π*}`,
/// with `π*` held fixed).
///
/// # Shapes
/// `grad`, `reward`: `(S, A, S')`; `data`: `(n)`.
///
/// # Errors
/// As [`preference_logit`], plus [`Error::Empty`] for no comparisons, [`Error::InvalidParam`] for a
/// label outside `[0, 1]`, [`Error::LengthMismatch`] for `grad`, [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// use rewardkit_core::mdp::preference::{Comparison, PreferenceModel, Segment, preference_loss};
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&[0.0f64, 1.0, 0.0, 1.0]), &[1.0, 0.0], 0.5)?;
/// let data = [Comparison { left: Segment::new(&[0, 1], &[0])?, right: Segment::new(&[1, 1], &[0])?,
///     label: 1.0 }];
/// let mut grad = [0.0f64; 4];
/// let loss = preference_loss(Some(&mut grad), &mdp, &[0.0; 4], &data, PreferenceModel::PartialReturn)?;
/// assert!((loss - 2f64.ln()).abs() < 1e-15); // z = 0
/// assert_eq!(grad, [0.0, -0.5, 0.0, 0.5]); // (σ(0) − 1)·(+1 at (0,0,1), −1 at (1,0,1))
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Knox et al. (2024), arXiv:2206.02231, §3.
pub fn preference_loss<F: Real>(
    grad: Option<&mut [F]>,
    mdp: &Mdp<'_, F>,
    reward: &[F],
    data: &[Comparison<'_, F>],
    model: PreferenceModel,
) -> Result<F> {
    check_data(mdp, reward, data)?;
    let mut g64 = grad.as_ref().map(|_| vec![0.0f64; mdp.full_len()]);
    let loss = loss_grad_f64(mdp, reward, data, model, g64.as_deref_mut())?;
    if let (Some(g), Some(g64)) = (grad, g64) {
        ensure_len("grad", mdp.full_len(), g.len())?;
        for (o, v) in g.iter_mut().zip(&g64) {
            *o = to_real(*v, "preference gradient")?;
        }
    }
    to_real(loss, "preference loss")
}

/// Loss and (optionally) gradient in `f64`, data validated.
fn loss_grad_f64<F: Real>(
    mdp: &Mdp<'_, F>,
    reward: &[F],
    data: &[Comparison<'_, F>],
    model: PreferenceModel,
    grad: Option<&mut [f64]>,
) -> Result<f64> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let sc = Scorer::new(mdp, reward, model)?;
    let inv_n = 1.0 / data.len() as f64;
    let mut loss = 0.0;
    // Weighted counts: per (s, a, s') for partial return, per (s, a) for regret.
    let mut counts = grad.as_ref().map(|_| match model {
        PreferenceModel::PartialReturn => vec![0.0f64; mdp.full_len()],
        PreferenceModel::Regret => vec![0.0f64; ns * na],
    });
    for c in data {
        let z = sc.score(mdp, reward, &c.left) - sc.score(mdp, reward, &c.right);
        let (l, dz) = cross_entropy(z, c.label.as_f64());
        loss += l * inv_n;
        if let Some(cnt) = counts.as_mut() {
            let w = dz * inv_n;
            for (seg, sign) in [(&c.left, w), (&c.right, -w)] {
                for (s, a, t) in seg.transitions() {
                    let idx = match model {
                        PreferenceModel::PartialReturn => (s * na + a) * ns + t,
                        PreferenceModel::Regret => s * na + a,
                    };
                    if let Some(x) = cnt.get_mut(idx) {
                        *x += sign;
                    }
                }
            }
        }
    }
    if !loss.is_finite() {
        return Err(Error::Overflow {
            what: "preference loss",
        });
    }
    let (Some(grad), Some(cnt)) = (grad, counts) else {
        return Ok(loss);
    };
    match model {
        PreferenceModel::PartialReturn => grad.copy_from_slice(&cnt),
        PreferenceModel::Regret => {
            let g = mdp.gamma().as_f64();
            // g(x) = γ Σ c(s,a) τ(s,a,x) − Σ_a c(x,a)
            let mut rhs = vec![0.0f64; ns];
            for (i, (row, &c)) in mdp.rows().zip(&cnt).enumerate() {
                if c == 0.0 {
                    continue;
                }
                row.for_each_nonzero(|x, p| {
                    if let Some(v) = rhs.get_mut(x) {
                        *v += g * c * p;
                    }
                });
                if let Some(v) = rhs.get_mut(i / na) {
                    *v -= c;
                }
            }
            // (I − γP_π)ᵀ u = g
            let mut m = vec![0.0f64; checked_size("states x states", ns, ns)?];
            for (s, mrow) in m.chunks_exact_mut(ns).enumerate() {
                let a = sc.policy.get(s).copied().unwrap_or(0);
                mdp.row(s, a).for_each(|j, p| {
                    if let Some(x) = mrow.get_mut(j) {
                        *x -= g * p;
                    }
                });
                if let Some(x) = mrow.get_mut(s) {
                    *x += 1.0;
                }
            }
            let mut piv = vec![0usize; ns];
            lu_factor(&mut m, &mut piv, ns)?;
            lu_solve_transpose(&m, &piv, &mut rhs, ns)?;
            for (i, ((grow, row), &c)) in grad
                .chunks_exact_mut(ns)
                .zip(mdp.rows())
                .zip(&cnt)
                .enumerate()
            {
                let (s, a) = (i / na, i % na);
                let mut d = c;
                if sc.policy.get(s) == Some(&a) {
                    d += rhs.get(s).copied().unwrap_or(0.0);
                }
                grow.iter_mut().for_each(|x| *x = 0.0);
                row.for_each(|j, p| {
                    if let Some(x) = grow.get_mut(j) {
                        *x = p * d;
                    }
                });
            }
        }
    }
    if grad.iter().all(|x| x.is_finite()) {
        Ok(loss)
    } else {
        Err(Error::Overflow {
            what: "preference gradient",
        })
    }
}

/// Settings of [`fit_reward`]: Adam on the mean cross-entropy plus an `L2` penalty.
///
/// # Definition
/// Minimises `L(R) + (l2/2)·‖R‖₂²` for `steps` Adam steps (`β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`)
/// with step size `learning_rate`. The small `L2` penalty pins the directions the data cannot
/// identify (transitions never compared, the constant and shaping directions) to their smallest
/// norm.
///
/// # Errors
/// [`FitConfig::new`] returns [`Error::InvalidParam`] for `steps = 0`, a learning rate that is not
/// finite and positive, or a negative or non-finite `l2`.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::preference::FitConfig;
/// let cfg = FitConfig::new(500, 0.05f64, 1e-4)?;
/// assert_eq!(cfg.steps(), 500);
/// assert!(FitConfig::new(0, 0.05f64, 0.0).is_err());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Kingma and Ba (2015), *Adam*, arXiv:1412.6980.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FitConfig<F> {
    steps: usize,
    learning_rate: F,
    l2: F,
}

impl<F: Real> FitConfig<F> {
    /// Validated settings.
    pub fn new(steps: usize, learning_rate: F, l2: F) -> Result<Self> {
        if steps == 0 {
            return Err(Error::InvalidParam {
                name: "steps",
                value: 0.0,
                expected: "at least 1 step",
            });
        }
        Ok(Self {
            steps,
            learning_rate: param_positive("learning_rate", learning_rate)?,
            l2: param_nonneg("l2", l2)?,
        })
    }

    /// Number of Adam steps.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Adam step size.
    pub fn learning_rate(&self) -> F {
        self.learning_rate
    }

    /// `L2` penalty coefficient.
    pub fn l2(&self) -> F {
        self.l2
    }
}

impl<F: Real> Default for FitConfig<F> {
    /// 2000 steps, learning rate 0.05, `l2 = 1e-6`.
    fn default() -> Self {
        Self {
            steps: 2000,
            learning_rate: F::lit(0.05),
            l2: F::lit(1e-6),
        }
    }
}

/// The outcome of [`fit_reward`].
///
/// # Examples
/// See [`fit_reward`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitReport<F> {
    /// The mean cross-entropy `L(R)` at the returned reward (without the penalty).
    pub loss: F,
    /// Adam steps taken.
    pub steps: usize,
}

/// Learns a tabular reward from labelled comparisons under a preference model.
///
/// # Definition
/// Adam on `L(R) + (l2/2)‖R‖²` ([`FitConfig`]), starting from the reward in `out` (zeros are a
/// fine start; a partial-return fit is a good start for the non-convex regret model). The
/// partial-return loss is convex in `R`; the regret loss is piecewise smooth.
///
/// # Shapes
/// `out`: `(S, A, S')`, the initial reward on entry and the fit on return.
///
/// # Errors
/// As [`preference_loss`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// use rewardkit_core::mdp::preference::{Comparison, FitConfig, PreferenceModel, Segment, fit_reward};
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&[0.0f64, 1.0, 0.0, 1.0]), &[1.0, 0.0], 0.5)?;
/// let (a, b) = (Segment::new(&[0, 1], &[0])?, Segment::new(&[1, 1], &[0])?);
/// // σ(1) of the labellers prefer a: the fit recovers R(0,0,1) − R(1,0,1) = 1.
/// let y = 1.0 / (1.0 + (-1.0f64).exp());
/// let data = [Comparison { left: a, right: b, label: y }];
/// let mut r = [0.0f64; 4];
/// fit_reward(&mut r, &mdp, &data, PreferenceModel::PartialReturn, &FitConfig::new(3000, 0.05, 0.0)?)?;
/// assert!((r[1] - r[3] - 1.0).abs() < 1e-3);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Knox et al. (2024), arXiv:2206.02231, §5 (learning rewards from preferences);
/// Christiano et al. (2017), arXiv:1706.03741.
pub fn fit_reward<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    data: &[Comparison<'_, F>],
    model: PreferenceModel,
    config: &FitConfig<F>,
) -> Result<FitReport<F>> {
    check_data(mdp, out, data)?;
    let n = mdp.full_len();
    let mut theta: Vec<f64> = out.iter().map(|x| x.as_f64()).collect();
    let (lr, l2) = (config.learning_rate.as_f64(), config.l2.as_f64());
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let (mut m, mut v, mut g) = (vec![0.0f64; n], vec![0.0f64; n], vec![0.0f64; n]);
    let mut cur: Vec<F> = vec![F::ZERO; n];
    let (mut p1, mut p2) = (1.0f64, 1.0f64);
    for _ in 0..config.steps {
        for (c, t) in cur.iter_mut().zip(&theta) {
            *c = to_real(*t, "fitted reward")?;
        }
        loss_grad_f64(mdp, &cur, data, model, Some(&mut g))?;
        p1 *= b1;
        p2 *= b2;
        for (((t, gi), mi), vi) in theta.iter_mut().zip(&g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let gi = gi + l2 * *t;
            *mi = b1 * *mi + (1.0 - b1) * gi;
            *vi = b2 * *vi + (1.0 - b2) * gi * gi;
            let mhat = *mi / (1.0 - p1);
            let vhat = *vi / (1.0 - p2);
            *t -= lr * mhat / (Float::sqrt(vhat) + eps);
        }
    }
    for (o, t) in out.iter_mut().zip(&theta) {
        *o = to_real(*t, "fitted reward")?;
    }
    let loss = loss_grad_f64(mdp, out, data, model, None)?;
    Ok(FitReport {
        loss: to_real(loss, "preference loss")?,
        steps: config.steps,
    })
}
