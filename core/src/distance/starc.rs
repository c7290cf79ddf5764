//! STARC metrics: `d(R₁, R₂) = m(s(R₁), s(R₂))` with `s(R) = c(R)/n(c(R))`.

use alloc::vec::Vec;

use super::canon::{Canon, Canonicalization, Prepared, canonical, prepare, zero_tol};
use super::norm::{Norm, NormAcc, for_each_weighted};
use crate::error::{Error, Result, ensure_len};
use crate::mdp::{Evaluation, Mdp, Reward, to_real};
use crate::real::Real;

/// A STARC metric: canonicalisation `c`, normalising norm `n`, and metric `m(x, y) = n'(x − y)`.
///
/// # Definition
/// `s(R) = c(R)/n(c(R))` if `n(c(R)) ≠ 0`, else `c(R)`; `d(R₁, R₂) = n'(s(R₁) − s(R₂))`. Without
/// normalisation ([`Starc::with_normalization`]`(false)`, the STARC code's norm `0`),
/// `s(R) = c(R)`. Every cell of the STARC paper's grid is one `Starc`: canonicalisation
/// (`Identity` = `None`, `Epic`, `Dard`, `MinimalPotential`, `ValuePotential`, `Value`,
/// `MinimalL2` = `Minimal`) × normalisation (`L1`, `L2`, `L∞`, τ-weighted, none) × metric.
/// A canonical reward whose largest entry is at most `64·ε_F·max|R|·κ` (`κ = 1/(1−γ)` for `Value`
/// and `MinimalL2`, 1 otherwise) is rounding noise of an exactly-zero canonical reward (a
/// constant or potential-shaping reward: every policy is equally good) and is set to 0.
///
/// # Range and invariances
/// - `d` is a pseudometric on rewards: `d(R, R) = 0`, symmetric, triangle inequality; `d(R₁, R₂)
///   = 0` for rewards that differ by positive scaling and potential shaping, and, with `Value`
///   and `MinimalL2`, S'-redistribution (a metric on those equivalence classes).
/// - With `m = n` (the default, [`Starc::new`]), `d ∈ [0, 2]` (rounding above 2 is clamped);
///   `d(R, −R) = 2` whenever `n(c(R)) > 0`; `d(R, R₀) = 1` for a trivial `R₀` (zero canonical
///   reward). In general `d <= n'(s(R₁)) + n'(s(R₂))`.
/// - Soundness (STARC Thm 3.8): with `Value`/`MinimalL2` and a norm, small `d` bounds the
///   normalised regret of an optimal policy for one reward under the other.
///
/// The STARC paper's `m` is any metric bilipschitz to a norm; this type offers `m(x, y) = n'(x −
/// y)` for any of the [`Norm`]s (the STARC code's `np.linalg.norm(r1 − r2, ord)`), without the
/// `1/2` factor that `evaluating-rewards` puts on its direct distances.
///
/// # Errors
/// [`Starc::distance`] and [`Starc::standardize`] return [`Error::LengthMismatch`] and
/// [`Error::NonFinite`] for bad rewards, [`Error::InvalidParam`] for invalid coverage, policy,
/// weights or evaluation settings, [`Error::Overflow`] for non-finite intermediate results.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Canonicalization, Norm, Starc};
/// use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions};
/// let tau = [0.9, 0.1, 0.2, 0.8, 0.5, 0.5, 0.0, 1.0f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.9)?;
/// let starc = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2());
/// let r = [1.0, 0.0, 0.0, 2.0];
/// let scaled = [3.0, 0.0, 0.0, 6.0];
/// let d = starc.distance(&mdp, &Reward::StateAction(&r), &Reward::StateAction(&scaled))?;
/// assert!(d < 1e-12);
/// let neg = [-1.0, 0.0, 0.0, -2.0];
/// let d = starc.distance(&mdp, &Reward::StateAction(&r), &Reward::StateAction(&neg))?;
/// assert!((d - 2.0).abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), *STARC: A General Framework For Quantifying Differences Between
/// Reward Functions*, ICLR, arXiv:2309.15257, Def. 3.1–3.6 and Thm 3.8; `lucyfarnik/starc`
/// `src/distance/canon/__init__.py::canon_and_norm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Starc<'a, F> {
    canon: Canonicalization<'a, F>,
    norm: Norm<'a, F>,
    metric: Norm<'a, F>,
    evaluation: Evaluation,
    normalize: bool,
}

impl<F: Real> Default for Starc<'_, F> {
    /// VAL under the uniform policy, `L2` normalisation, `L2` metric.
    fn default() -> Self {
        Self::new(Canonicalization::default(), Norm::l2())
    }
}

/// A standardised reward `s(R)`, stored in `f64`, reusable against many other rewards.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::Starc;
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.9)?;
/// let starc = Starc::default();
/// let s = starc.standardize(&mdp, &Reward::StateAction(&[1.0, 3.0]))?;
/// assert!(!s.is_trivial());
/// // c = (−1, 1) over (S, A), repeated over S' = 1: ‖c‖₂ = √2.
/// assert!((s.canonical_norm() - 2f64.sqrt()).abs() < 1e-12);
/// let t = starc.standardize(&mdp, &Reward::StateAction(&[2.0, 2.0]))?;
/// assert!(t.is_trivial());
/// assert!((starc.distance_between(&mdp, &s, &t)? - 1.0).abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Standardized {
    canon: Canon,
    scale: f64,
    norm: f64,
    trivial: bool,
    shape: (usize, usize, usize),
}

impl Standardized {
    /// `n(c(R))`, the norm of the canonical reward before normalisation (0 if trivial).
    pub fn canonical_norm(&self) -> f64 {
        self.norm
    }

    /// `true` if `c(R)` is zero up to rounding: `R` is a constant or potential-shaping reward (for
    /// `Value`/`MinimalL2`: up to S'-redistribution), and `s(R) = 0`.
    pub fn is_trivial(&self) -> bool {
        self.trivial
    }

    /// Writes `s(R)` as a full `(S, A, S')` tensor.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for `out` or an MDP of another shape.
    pub fn expand<F: Real>(&self, out: &mut [F], mdp: &Mdp<'_, F>) -> Result<()> {
        self.check_mdp(mdp)?;
        self.canon.expand(out, mdp, self.scale)
    }

    fn check_mdp<F: Real>(&self, mdp: &Mdp<'_, F>) -> Result<()> {
        ensure_len("mdp states", self.shape.0, mdp.n_states())?;
        ensure_len("mdp actions", self.shape.1, mdp.n_actions())?;
        ensure_len("mdp transitions", self.shape.2, mdp.nnz())
    }
}

impl<'a, F: Real> Starc<'a, F> {
    /// A STARC metric whose metric norm equals its normalising norm (`m(x, y) = n(x − y)`).
    pub fn new(canon: Canonicalization<'a, F>, norm: Norm<'a, F>) -> Self {
        Self {
            canon,
            norm,
            metric: norm,
            evaluation: Evaluation::Auto,
            normalize: true,
        }
    }

    /// Uses `m(x, y) = metric(x − y)`.
    pub fn with_metric(self, metric: Norm<'a, F>) -> Self {
        Self { metric, ..self }
    }

    /// With `false`, skips the normalisation: `s(R) = c(R)` (the STARC code's norm `0`, the
    /// "no normalisation" baseline of its grid). The distance is then `n'(c(R₁) − c(R₂))`, in
    /// `[0, ∞)`, and no longer invariant to positive scaling; `n` is unused.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::distance::{Canonicalization, Norm, Starc};
    /// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
    /// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.5)?;
    /// let raw = Starc::new(Canonicalization::Identity, Norm::l1()).with_normalization(false);
    /// let d = raw.distance(&mdp, &Reward::Full(&[1.0, 2.0]), &Reward::Full(&[3.0, 2.0]))?;
    /// assert_eq!(d, 2.0); // |1 − 3| + |2 − 2|
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn with_normalization(self, normalize: bool) -> Self {
        Self { normalize, ..self }
    }

    /// Evaluates `V^π` for the `Value` canonicalisation with `evaluation` (default `Auto`).
    pub fn with_evaluation(self, evaluation: Evaluation) -> Self {
        Self { evaluation, ..self }
    }

    /// The canonicalisation.
    pub fn canonicalization(&self) -> Canonicalization<'a, F> {
        self.canon
    }

    /// The normalising norm `n`.
    pub fn norm(&self) -> Norm<'a, F> {
        self.norm
    }

    /// The metric norm `n'`.
    pub fn metric(&self) -> Norm<'a, F> {
        self.metric
    }

    fn prepared(&self, mdp: &Mdp<'_, F>) -> Result<Prepared> {
        self.norm.validate(mdp)?;
        self.metric.validate(mdp)?;
        prepare(mdp, &self.canon, self.evaluation)
    }

    fn standardize_with(
        &self,
        mdp: &Mdp<'_, F>,
        reward: &Reward<'_, F>,
        what: &'static str,
        prep: &Prepared,
    ) -> Result<Standardized> {
        let (canon, max) = canonical(mdp, reward, what, &self.canon, prep)?;
        let tol = zero_tol::<F>(max, mdp.gamma().as_f64(), self.canon.value_scaled());
        let shape = (mdp.n_states(), mdp.n_actions(), mdp.nnz());
        if canon.max_abs() <= tol {
            return Ok(Standardized {
                canon,
                scale: 0.0,
                norm: 0.0,
                trivial: true,
                shape,
            });
        }
        let mut acc = NormAcc::new(self.norm.order);
        for_each_weighted(mdp, canon.layout, &self.norm.weights, |i, w| {
            acc.push(canon.values.get(i).copied().unwrap_or(0.0), w);
        });
        let n = acc.finish()?;
        let scale = if n > 0.0 && self.normalize {
            1.0 / n
        } else {
            1.0
        };
        Ok(Standardized {
            canon,
            scale,
            norm: n,
            trivial: false,
            shape,
        })
    }

    /// Computes `s(R)`.
    ///
    /// # Errors
    /// As listed on [`Starc`].
    pub fn standardize(&self, mdp: &Mdp<'_, F>, reward: &Reward<'_, F>) -> Result<Standardized> {
        let prep = self.prepared(mdp)?;
        self.standardize_with(mdp, reward, "reward", &prep)
    }

    /// Computes `s(R)` for many rewards of one MDP, doing the reward-independent work once (the LU
    /// factors of `I − γP_π` for `Value` with an exact evaluation, the factored normal equations
    /// for `MinimalL2`).
    ///
    /// # Errors
    /// As listed on [`Starc`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::distance::Starc;
    /// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
    /// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.9)?;
    /// let starc = Starc::default();
    /// let all = starc.standardize_all(&mdp, &[Reward::StateAction(&[1.0, 3.0]),
    ///     Reward::StateAction(&[0.0, 7.0])])?;
    /// assert!(starc.distance_between(&mdp, &all[0], &all[1])? < 1e-12);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn standardize_all(
        &self,
        mdp: &Mdp<'_, F>,
        rewards: &[Reward<'_, F>],
    ) -> Result<Vec<Standardized>> {
        let prep = self.prepared(mdp)?;
        rewards
            .iter()
            .map(|r| self.standardize_with(mdp, r, "rewards", &prep))
            .collect()
    }

    /// `m(a, b) = n'(a − b)` for two standardised rewards of the same MDP and metric.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if they come from different MDP shapes or canonicalisations;
    /// [`Error::InvalidParam`] for invalid metric weights; [`Error::Overflow`].
    pub fn distance_between(
        &self,
        mdp: &Mdp<'_, F>,
        a: &Standardized,
        b: &Standardized,
    ) -> Result<F> {
        a.check_mdp(mdp)?;
        b.check_mdp(mdp)?;
        self.metric.validate(mdp)?;
        if a.canon.layout != b.canon.layout {
            return Err(Error::InvalidParam {
                name: "standardized reward",
                value: 0.0,
                expected: "standardized rewards from the same canonicalisation",
            });
        }
        ensure_len(
            "standardized reward",
            a.canon.values.len(),
            b.canon.values.len(),
        )?;
        let mut acc = NormAcc::new(self.metric.order);
        let (ka, kb) = (a.scale, b.scale);
        for_each_weighted(mdp, a.canon.layout, &self.metric.weights, |i, w| {
            let x = a.canon.values.get(i).copied().unwrap_or(0.0) * ka;
            let y = b.canon.values.get(i).copied().unwrap_or(0.0) * kb;
            acc.push(x - y, w);
        });
        let d = acc.finish()?;
        // With m = n the triangle inequality bounds d by n(s₁) + n(s₂) <= 2; clamp the rounding.
        let d = if self.metric == self.norm && self.normalize {
            d.min(2.0)
        } else {
            d
        };
        // Without normalisation a finite f64 distance can exceed f32::MAX.
        to_real(d, "distance")
    }

    /// The STARC distance `d(R₁, R₂)`.
    ///
    /// # Errors
    /// As listed on [`Starc`] (the rewards are named `reward_a` and `reward_b` in errors).
    pub fn distance(
        &self,
        mdp: &Mdp<'_, F>,
        reward_a: &Reward<'_, F>,
        reward_b: &Reward<'_, F>,
    ) -> Result<F> {
        let prep = self.prepared(mdp)?;
        let a = self.standardize_with(mdp, reward_a, "reward_a", &prep)?;
        let b = self.standardize_with(mdp, reward_b, "reward_b", &prep)?;
        self.distance_between(mdp, &a, &b)
    }
}
