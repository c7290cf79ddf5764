//! KL divergence between the policy and a reference policy: per-token estimators from sampled
//! log-probabilities (`k1`, `k2`, `k3`, `abs`, their straight-through `+` forms, the
//! importance-weighted off-policy form), the KL term of a loss ([`KlTerm`]), and the fixed and
//! adaptive KL-coefficient controllers. The exact full-vocabulary KL and entropy from logits live in
//! [`crate::logits`].
//!
//! **One rule.** Every per-token KL value in the crate comes from [`KlEstimator::eval`] (one
//! function per estimator, value and derivative) through [`KlPenalty`] (clamps, straight-through):
//! the [`KlPenalty::forward`] kernel, the KL term of a policy loss ([`KlTerm`],
//! [`crate::loss::PolicyLoss`]), the `approx_kl` diagnostic and verl's rejection-sampling
//! statistics ([`crate::loss::rejection_mask`]).
//!
//! Every estimator returns its value **and** its exact derivative with respect to the policy
//! log-probability `log π(a)`; the derivative with respect to the reference log-probability is its
//! negative (each estimator depends on `d = log π − log π_ref` only).
//!
//! # Which estimator?
//! With `d = log π(a) − log π_ref(a)` and `a ~ π` (Schulman, "Approximating KL divergence", 2020):
//! - `k1 = d` is unbiased for `KL(π‖π_ref)` but has high variance and can be negative; its expected
//!   gradient is zero (do not use it as a loss term).
//! - `k2 = d²/2` is biased, always `>= 0`; its gradient `d·∇log π` is the unbiased on-policy gradient of
//!   the reverse KL.
//! - `k3 = e^{−d} − 1 + d` is unbiased, `>= 0` and low-variance as a *value*, but its gradient
//!   descends the forward KL (verl PR #2953). The straight-through `k3+` keeps the `k3` value with the
//!   `k2` gradient.

use core::fmt;
use core::str::FromStr;

use crate::error::{
    Error, Result, UnknownName, ensure_finite, ensure_len, param_nonneg, param_positive,
};
use crate::preset::Preset;
use crate::real::Real;

/// A per-token KL estimator, named as verl's `kl_penalty` / `kl_loss_type` does.
///
/// | variant | value `k(d)` | `∂k/∂ log π` | names |
/// |---|---|---|---|
/// | `K1` | `d` | `1` | `"k1"`, `"kl"` |
/// | `Abs` | `\|d\|` | `sign(d)` (0 at 0) | `"abs"` |
/// | `K2` | `d²/2` | `d` | `"k2"`, `"mse"` |
/// | `K3` | `e^{−d} − 1 + d` | `1 − e^{−d}` | `"k3"`, `"low_var_kl"` |
///
/// # Examples
/// ```
/// use rewardkit_core::KlEstimator;
///
/// let k3: KlEstimator = "low_var_kl".parse()?;
/// assert_eq!(k3, KlEstimator::K3);
/// assert_eq!(k3.to_string(), "k3");
/// let (value, grad) = k3.eval(0.0f64);
/// assert_eq!((value, grad), (0.0, 0.0));
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
///
/// Citation: Schulman, "Approximating KL divergence" (2020); verl `kl_penalty_forward`
/// (`verl/trainer/ppo/core_algos.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum KlEstimator {
    /// `k1 = d`.
    K1,
    /// `|d|`.
    Abs,
    /// `k2 = d²/2` (verl's `mse`).
    K2,
    /// `k3 = e^{−d} − 1 + d` (verl's `low_var_kl`).
    K3,
}

const KL_NAMES: &[&str] = &["k1", "kl", "abs", "k2", "mse", "k3", "low_var_kl"];

impl KlEstimator {
    /// Every variant.
    pub const ALL: [Self; 4] = [Self::K1, Self::Abs, Self::K2, Self::K3];

    /// Value and derivative `∂k/∂d` at `d = log π − log π_ref`, without clamping: the one
    /// implementation of each estimator in the crate.
    ///
    /// # Definition
    /// See the type-level table. `k3`: a series of `e^{−d} − 1 + d` (and of the derivative) for
    /// `|d| < 0.1` (no cancellation and no exponential; truncation below `1e-18` relative in `f64`,
    /// `4e-9` in `f32`), `expm1(−d) + d` otherwise ([`Real::exp_m1_fast`]).
    ///
    /// # Errors
    /// None: this is the pure formula, and a NaN or infinite `d` propagates. [`KlPenalty::eval`] is
    /// the checked evaluation.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::KlEstimator;
    /// let d = 2f64.ln(); // π twice π_ref
    /// let (v, g) = KlEstimator::K3.eval(d);
    /// assert!((v - (0.5 - 1.0 + d)).abs() < 1e-16 && (g - 0.5).abs() < 1e-16);
    /// ```
    #[inline(always)]
    pub fn eval<F: Real>(self, d: F) -> (F, F) {
        match self {
            Self::K1 => k1(d),
            Self::Abs => abs(d),
            Self::K2 => k2(d),
            Self::K3 => k3(d),
        }
    }
}

/// `k1 = d`, `∂ = 1`.
#[inline(always)]
fn k1<F: Real>(d: F) -> (F, F) {
    (d, F::ONE)
}

/// `|d|`, `∂ = sign(d)` (0 at 0, torch's subgradient).
#[inline(always)]
fn abs<F: Real>(d: F) -> (F, F) {
    let s = if d > F::ZERO {
        F::ONE
    } else if d < F::ZERO {
        -F::ONE
    } else {
        F::ZERO
    };
    (d.abs(), s)
}

/// `k2 = d²/2`, `∂ = d`.
#[inline(always)]
fn k2<F: Real>(d: F) -> (F, F) {
    (F::lit(0.5) * d * d, d)
}

/// `1/k!` for `k = 11` down to `2`: the series of `expm1(u) − u = u²·Σ_{k≥2} u^{k−2}/k!`.
const K3_SERIES: [f64; 10] = [
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];

/// `k3(d) = e^{−d} − 1 + d` and `1 − e^{−d}`. With `u = −d`: for `|u| < 0.1` the series
/// `tail = u²·Σ_{k≥2} u^{k−2}/k!` (the subtraction `expm1(u) − u` would cancel) with
/// `expm1(u) = u + tail`, which needs no exponential; otherwise `expm1(u) − u` and `−expm1(u)`.
/// The series stops at `k = 11` in `f64` and `k = 6` in `f32` (truncation below `1e-18` and `4e-9`
/// relative at `|u| = 0.1`).
#[inline(always)]
fn k3<F: Real>(d: F) -> (F, F) {
    let u = -d;
    if u.abs() < F::lit(0.1) {
        // Horner (a loop: rustfmt's time grows exponentially with the depth of a nested expression).
        let terms: &[f64] = if size_of::<F>() == 4 {
            K3_SERIES.get(5..).unwrap_or(&K3_SERIES)
        } else {
            &K3_SERIES
        };
        let mut q = F::ZERO;
        for &c in terms {
            q = F::lit(c) + u * q;
        }
        let tail = u * u * q;
        (tail, -(u + tail))
    } else {
        let em1 = u.exp_m1_fast();
        // At u = +∞ (a log-ratio that overflowed to −∞) em1 − u would be ∞ − ∞ = NaN.
        let value = if em1.is_infinite() { em1 } else { em1 - u };
        (value, -em1)
    }
}

impl fmt::Display for KlEstimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::K1 => "k1",
            Self::Abs => "abs",
            Self::K2 => "k2",
            Self::K3 => "k3",
        })
    }
}

impl FromStr for KlEstimator {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "k1" | "kl" => Ok(Self::K1),
            "abs" => Ok(Self::Abs),
            "k2" | "mse" => Ok(Self::K2),
            "k3" | "low_var_kl" => Ok(Self::K3),
            _ => Err(UnknownName {
                kind: "KL estimator",
                valid: KL_NAMES,
            }),
        }
    }
}

/// A configured per-token KL penalty: an estimator, the straight-through switch, and optional clamps.
///
/// # Definition
/// With `d = log π − log π_ref`:
/// 1. if `log_ratio_clamp = Some(c)`: `d ← clamp(d, −c, c)` (derivative 0 outside);
/// 2. `value = k(d)` ([`KlEstimator::eval`]); derivative `k'(d)`, or the unclamped `d` when
///    `straight_through` (verl's `+` suffix: the value of `kX` with the gradient of `k2`, i.e.
///    `k2 − sg(k2) + sg(kX)`);
/// 3. if `value_clamp = Some(c)`: `value ← clamp(value, −c, c)` (derivative 0 outside, except for
///    the straight-through gradient).
///
/// Defaults ([`KlPenalty::new`]): no value clamp; `k3` clamps `d` to `±20` so `e^{−d}` stays finite in
/// `f32` (exact inside that range); the others are unclamped. [`KlPenalty::from_preset`] reproduces
/// verl, TRL and OpenRLHF (see [`numerics`](crate::numerics)).
///
/// # Errors
/// The setters: [`Error::InvalidParam`] for a clamp that is not finite and `> 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::{KlEstimator, KlPenalty};
///
/// let kl: KlPenalty<f64> = "k3+".parse()?;
/// assert_eq!(kl.estimator(), KlEstimator::K3);
/// assert!(kl.straight_through());
/// let (logp, ref_logp) = ([-1.0, -2.0], [-1.5, -1.0]);
/// let (mut value, mut grad) = ([0.0; 2], [0.0; 2]);
/// kl.forward(&mut value, Some(&mut grad), &logp, &ref_logp)?;
/// assert!((value[0] - ((-0.5f64).exp() - 1.0 + 0.5)).abs() < 1e-15);
/// assert_eq!(grad, [0.5, -1.0]); // the k2 gradient d
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Citation: Schulman, "Approximating KL divergence" (2020); verl `kl_penalty_forward`; OpenRLHF
/// `compute_approx_kl`; TRL `GRPOTrainer._compute_loss`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KlPenalty<F> {
    estimator: KlEstimator,
    straight_through: bool,
    log_ratio_clamp: Option<F>,
    value_clamp: Option<F>,
}

impl<F: Real> KlPenalty<F> {
    /// The rewardkit default for `estimator` (see the type-level docs).
    pub fn new(estimator: KlEstimator) -> Self {
        Self {
            estimator,
            straight_through: false,
            log_ratio_clamp: (estimator == KlEstimator::K3).then(|| F::lit(20.0)),
            value_clamp: None,
        }
    }

    /// The penalty for `estimator` with a framework's clamps (straight-through off; set it with
    /// [`KlPenalty::with_straight_through`]).
    ///
    /// # Definition
    /// | preset | clamp on `d` | clamp on the value |
    /// |---|---|---|
    /// | `Rewardkit` | `±20` for `k3` | none |
    /// | `Verl` (`kl_penalty_forward`) | `±20` for `k3` | `±10` for `k3` |
    /// | `Trl` (`GRPOTrainer`, `k3` only) | none | none |
    /// | `OpenRlhf` (`compute_approx_kl`) | none | `±10` for every estimator |
    ///
    /// TRL implements only `k3`; for another estimator its preset gives the unclamped estimator.
    /// OpenRLHF computes in `f32` even for `f64` inputs (compare with `f32` tolerances).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{KlEstimator, KlPenalty, Preset};
    /// let verl = KlPenalty::<f64>::from_preset(Preset::Verl, KlEstimator::K3);
    /// assert_eq!((verl.log_ratio_clamp(), verl.value_clamp()), (Some(20.0), Some(10.0)));
    /// assert_eq!(verl.eval(-30.0, 0.0)?, (10.0, 0.0)); // both clamps active: no gradient
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn from_preset(preset: Preset, estimator: KlEstimator) -> Self {
        let is_k3 = estimator == KlEstimator::K3;
        let (log_ratio_clamp, value_clamp) = match preset {
            Preset::Rewardkit => (is_k3.then(|| F::lit(20.0)), None),
            Preset::Verl => (is_k3.then(|| F::lit(20.0)), is_k3.then(|| F::lit(10.0))),
            Preset::Trl => (None, None),
            Preset::OpenRlhf => (None, Some(F::lit(10.0))),
        };
        Self {
            estimator,
            straight_through: false,
            log_ratio_clamp,
            value_clamp,
        }
    }

    /// Sets the straight-through switch.
    pub fn with_straight_through(self, straight_through: bool) -> Self {
        Self {
            straight_through,
            ..self
        }
    }

    /// Sets (or removes) the clamp on `d`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless the bound is finite and `> 0`.
    pub fn with_log_ratio_clamp(self, clamp: Option<F>) -> Result<Self> {
        if let Some(c) = clamp {
            param_positive("log_ratio_clamp", c)?;
        }
        Ok(Self {
            log_ratio_clamp: clamp,
            ..self
        })
    }

    /// Sets (or removes) the clamp on the value.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless the bound is finite and `> 0`.
    pub fn with_value_clamp(self, clamp: Option<F>) -> Result<Self> {
        if let Some(c) = clamp {
            param_positive("value_clamp", c)?;
        }
        Ok(Self {
            value_clamp: clamp,
            ..self
        })
    }

    /// The estimator.
    pub fn estimator(&self) -> KlEstimator {
        self.estimator
    }

    /// Whether the gradient is `k2`'s.
    pub fn straight_through(&self) -> bool {
        self.straight_through
    }

    /// The clamp on `d`, if any.
    pub fn log_ratio_clamp(&self) -> Option<F> {
        self.log_ratio_clamp
    }

    /// The clamp on the value, if any.
    pub fn value_clamp(&self) -> Option<F> {
        self.value_clamp
    }

    /// Value and derivative with respect to `log π` of one token, checked.
    ///
    /// # Definition
    /// See the type-level docs.
    ///
    /// # Errors
    /// [`Error::NonFinite`] (`index` 0) for a NaN/∞ `logp` or `ref_logp`; [`Error::Overflow`] when the
    /// value or the derivative overflows on finite inputs (`k2` of a log-ratio beyond the float
    /// range, unclamped `k3` below `d ≈ −88` in `f32`, a straight-through gradient of an infinite
    /// log-ratio).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{Error, KlEstimator, KlPenalty};
    /// let k3 = KlPenalty::<f64>::new(KlEstimator::K3);
    /// let (v, g) = k3.eval(-1.0, -1.0 - 2f64.ln())?;
    /// assert!((v - (0.5 - 1.0 + 2f64.ln())).abs() < 1e-15 && (g - 0.5).abs() < 1e-15);
    /// assert!(matches!(k3.eval(f64::NAN, 0.0), Err(Error::NonFinite { .. })));
    /// let k2 = KlPenalty::<f32>::new(KlEstimator::K2);
    /// assert!(matches!(k2.eval(3e38, -3e38), Err(Error::Overflow { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn eval(&self, logp: F, ref_logp: F) -> Result<(F, F)> {
        if !logp.is_finite() {
            return Err(Error::NonFinite {
                what: "logp",
                index: 0,
            });
        }
        if !ref_logp.is_finite() {
            return Err(Error::NonFinite {
                what: "ref_logp",
                index: 0,
            });
        }
        let (v, g) = self.eval_unchecked(logp, ref_logp);
        if v.is_finite() && g.is_finite() {
            Ok((v, g))
        } else {
            Err(Error::Overflow {
                what: "KL estimate",
            })
        }
    }

    /// [`KlPenalty::eval`] without the checks (the hot loops check their outputs once).
    #[inline(always)]
    pub(crate) fn eval_unchecked(&self, logp: F, ref_logp: F) -> (F, F) {
        let (lo, hi) = bounds(self.log_ratio_clamp);
        let (vlo, vhi) = bounds(self.value_clamp);
        let st = self.straight_through;
        // Dispatch once to a monomorphic body per estimator.
        match self.estimator {
            KlEstimator::K1 => eval_with(k1, st, lo, hi, vlo, vhi, logp, ref_logp),
            KlEstimator::Abs => eval_with(abs, st, lo, hi, vlo, vhi, logp, ref_logp),
            KlEstimator::K2 => eval_with(k2, st, lo, hi, vlo, vhi, logp, ref_logp),
            KlEstimator::K3 => eval_with(k3, st, lo, hi, vlo, vhi, logp, ref_logp),
        }
    }

    /// Per-token values and (optionally) derivatives with respect to `log π`.
    ///
    /// # Definition
    /// [`KlPenalty::eval`] per token.
    ///
    /// # Shapes
    /// `out`, `grad`, `logp`, `ref_logp`: any common length `N` (flatten `(B, T)`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ log-probabilities (first index);
    /// [`Error::Overflow`] as [`KlPenalty::eval`].
    ///
    /// # Examples
    /// See the type-level docs.
    pub fn forward(
        &self,
        out: &mut [F],
        grad: Option<&mut [F]>,
        logp: &[F],
        ref_logp: &[F],
    ) -> Result<()> {
        ensure_len("ref_logp", logp.len(), ref_logp.len())?;
        ensure_len("out", logp.len(), out.len())?;
        ensure_finite("logp", logp)?;
        ensure_finite("ref_logp", ref_logp)?;
        if let Some(g) = &grad {
            ensure_len("grad", logp.len(), g.len())?;
        }
        // One monomorphic loop per estimator, so the body is branch-free and vectorizes.
        let grad = match self.estimator {
            KlEstimator::K1 => self.run(out, grad, logp, ref_logp, k1),
            KlEstimator::Abs => self.run(out, grad, logp, ref_logp, abs),
            KlEstimator::K2 => self.run(out, grad, logp, ref_logp, k2),
            KlEstimator::K3 => self.run(out, grad, logp, ref_logp, k3),
        };
        // Finite inputs can still overflow (k3 without a clamp at d below about −88 in f32, k2 of
        // a log-ratio beyond the float range, a straight-through gradient of one).
        crate::error::ensure_output("KL estimate", out)?;
        match grad {
            Some(g) => crate::error::ensure_output("KL gradient", g),
            None => Ok(()),
        }
    }

    #[inline(always)]
    fn run<'g>(
        &self,
        out: &mut [F],
        grad: Option<&'g mut [F]>,
        logp: &[F],
        ref_logp: &[F],
        est: impl Fn(F) -> (F, F) + Copy,
    ) -> Option<&'g mut [F]> {
        let (lo, hi) = bounds(self.log_ratio_clamp);
        let (vlo, vhi) = bounds(self.value_clamp);
        let st = self.straight_through;
        match grad {
            Some(grad) => {
                for (((o, g), &lp), &lr) in
                    out.iter_mut().zip(grad.iter_mut()).zip(logp).zip(ref_logp)
                {
                    (*o, *g) = eval_with(est, st, lo, hi, vlo, vhi, lp, lr);
                }
                Some(grad)
            }
            None => {
                for ((o, &lp), &lr) in out.iter_mut().zip(logp).zip(ref_logp) {
                    *o = eval_with(est, st, lo, hi, vlo, vhi, lp, lr).0;
                }
                None
            }
        }
    }

    /// The importance-weighted (off-policy) form `w·k` with `w = π/π_old = e^{log π − log π_old}`,
    /// for samples drawn from `π_old` (TRL's `use_bias_correction_kl`, DeepSeek-V3.2). The derivative
    /// is exact with `w` not detached: `∂(w·k)/∂ log π = w·(k + k')`.
    ///
    /// # Shapes
    /// As [`KlPenalty::forward`], plus `old_logp` of the same length.
    ///
    /// # Errors
    /// As [`KlPenalty::forward`], plus [`Error::Overflow`] if `w`, the value or the derivative
    /// overflows (`log π − log π_old` beyond about 88 in `f32`).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{KlEstimator, KlPenalty};
    /// let kl = KlPenalty::<f64>::new(KlEstimator::K3);
    /// let (mut v, mut g) = ([0.0], [0.0]);
    /// // On-policy (log π = log π_old) the weight is 1 and the form equals plain k3.
    /// kl.importance_weighted(&mut v, Some(&mut g), &[-1.0], &[-1.2], &[-1.0])?;
    /// assert_eq!(v[0], kl.eval(-1.0, -1.2)?.0);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn importance_weighted(
        &self,
        out: &mut [F],
        grad: Option<&mut [F]>,
        logp: &[F],
        ref_logp: &[F],
        old_logp: &[F],
    ) -> Result<()> {
        let n = logp.len();
        ensure_len("ref_logp", n, ref_logp.len())?;
        ensure_len("old_logp", n, old_logp.len())?;
        ensure_len("out", n, out.len())?;
        if let Some(g) = &grad {
            ensure_len("grad", n, g.len())?;
        }
        ensure_finite("logp", logp)?;
        ensure_finite("ref_logp", ref_logp)?;
        ensure_finite("old_logp", old_logp)?;
        let mut grad = grad;
        for (i, ((o, &lp), (&lr, &lo))) in out
            .iter_mut()
            .zip(logp)
            .zip(ref_logp.iter().zip(old_logp))
            .enumerate()
        {
            let (v, g) = weighted(self, lp, lo, lr);
            if !(v.is_finite() && g.is_finite()) {
                return Err(Error::Overflow {
                    what: "importance-weighted KL",
                });
            }
            *o = v;
            if let Some(gs) = grad.as_deref_mut() {
                if let Some(x) = gs.get_mut(i) {
                    *x = g;
                }
            }
        }
        Ok(())
    }
}

/// `(w·k, w·(k + k'))` with `w = e^{logp − old}` (not detached).
#[inline(always)]
fn weighted<F: Real>(p: &KlPenalty<F>, logp: F, old: F, ref_logp: F) -> (F, F) {
    let w = (logp - old).exp();
    let (k, dk) = p.eval_unchecked(logp, ref_logp);
    (w * k, w * (k + dk))
}

/// `(−c, c)` for a clamp `c`, or `(−∞, ∞)`.
#[inline(always)]
fn bounds<F: Real>(c: Option<F>) -> (F, F) {
    match c {
        Some(c) => (-c, c),
        None => (F::neg_infinity(), F::infinity()),
    }
}

/// One token: clamp `d`, evaluate, pick the gradient, clamp the value (torch.clamp passes the
/// gradient on the closed interval and zeroes it outside).
#[inline(always)]
fn eval_with<F: Real>(
    est: impl Fn(F) -> (F, F),
    straight_through: bool,
    lo: F,
    hi: F,
    vlo: F,
    vhi: F,
    logp: F,
    ref_logp: F,
) -> (F, F) {
    let raw = logp - ref_logp;
    // Comparisons rather than `max`/`min`: cheaper, and a NaN propagates instead of being
    // replaced by a bound.
    let d = if raw < lo {
        lo
    } else if raw > hi {
        hi
    } else {
        raw
    };
    let (value, dk) = est(d);
    let clamped = if value < vlo {
        vlo
    } else if value > vhi {
        vhi
    } else {
        value
    };
    let grad = if straight_through {
        // The k2 gradient uses the unclamped log-ratio: verl computes k2 on the raw log-probs.
        raw
    } else if d == raw && clamped == value {
        dk
    } else {
        F::ZERO
    };
    (clamped, grad)
}

impl<F: Real> Default for KlPenalty<F> {
    /// `k3` with the rewardkit defaults.
    fn default() -> Self {
        Self::new(KlEstimator::K3)
    }
}

impl<F: Real> FromStr for KlPenalty<F> {
    type Err = UnknownName;
    /// Parses verl's names, with an optional `+` suffix for the straight-through form
    /// (`"k3+"`, `"low_var_kl+"`); clamps are the rewardkit defaults.
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        let (base, st) = match s.strip_suffix('+') {
            Some(b) => (b, true),
            None => (s, false),
        };
        let est: KlEstimator = base.parse().map_err(|_| UnknownName {
            kind: "KL penalty",
            valid: &[
                "k1",
                "kl",
                "abs",
                "k2",
                "mse",
                "k3",
                "low_var_kl",
                "k1+",
                "kl+",
                "abs+",
                "k2+",
                "mse+",
                "k3+",
                "low_var_kl+",
            ],
        })?;
        Ok(Self::new(est).with_straight_through(st))
    }
}

impl<F: Real> fmt::Display for KlPenalty<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.estimator)?;
        if self.straight_through {
            f.write_str("+")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The KL term of a loss
// ---------------------------------------------------------------------------------------------

/// A per-token KL term `coef·k(log π, log π_ref)` added to a loss (verl `use_kl_loss`, TRL `beta`,
/// OpenRLHF `--algo.kl.use_loss`), with any [`KlPenalty`].
///
/// # Definition
/// `coef·k` with derivative `coef·k'` ([`KlPenalty::eval`]); with importance weighting:
/// `coef·w·k` with `w = π/π_old = e^{log π − log π_old}` (not detached), derivative
/// `coef·w·(k + k')` (TRL `use_bias_correction_kl`).
///
/// # Errors
/// [`KlTerm::new`]: [`Error::InvalidParam`] unless `coef` is finite and `>= 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::{KlPenalty, KlTerm};
/// let t = KlTerm::new(KlPenalty::<f64>::default(), 0.04)?;
/// assert_eq!(t.coef(), 0.04);
/// let (v, g) = t.eval(-1.0, -1.0, -1.0 - 2f64.ln())?; // on-policy token, π = 2·π_ref
/// assert!((v - 0.04 * (0.5 - 1.0 + 2f64.ln())).abs() < 1e-16 && (g - 0.02).abs() < 1e-16);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Schulman, "Approximating KL divergence" (2020); DeepSeek-V3.2 (importance-weighted
/// `k3`); TRL `grpo_trainer.py` (`use_bias_correction_kl`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KlTerm<F> {
    penalty: KlPenalty<F>,
    coef: F,
    importance_weighted: bool,
}

impl<F: Real> KlTerm<F> {
    /// A KL term with coefficient `coef`, not importance-weighted.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless `coef` is finite and `>= 0`.
    pub fn new(penalty: KlPenalty<F>, coef: F) -> Result<Self> {
        Ok(Self {
            penalty,
            coef: param_nonneg("kl_coef", coef)?,
            importance_weighted: false,
        })
    }

    /// Multiplies the estimate by `π/π_old` (TRL `use_bias_correction_kl`).
    pub fn with_importance_weighted(self, on: bool) -> Self {
        Self {
            importance_weighted: on,
            ..self
        }
    }

    /// The coefficient.
    pub fn coef(&self) -> F {
        self.coef
    }

    /// The penalty (estimator, straight-through switch, clamps).
    pub fn penalty(&self) -> KlPenalty<F> {
        self.penalty
    }

    /// Whether the estimate is multiplied by `π/π_old`.
    pub fn importance_weighted(&self) -> bool {
        self.importance_weighted
    }

    /// Value and derivative with respect to `log π` of one token, checked.
    ///
    /// # Definition
    /// See the type-level docs (`old_logp` is read only when importance-weighted).
    ///
    /// # Errors
    /// [`Error::NonFinite`] (`index` 0) for a NaN/∞ input; [`Error::Overflow`] when the value or the
    /// derivative overflows.
    ///
    /// # Examples
    /// See the type-level docs.
    pub fn eval(&self, logp: F, old_logp: F, ref_logp: F) -> Result<(F, F)> {
        for (what, x) in [
            ("logp", logp),
            ("old_logp", old_logp),
            ("ref_logp", ref_logp),
        ] {
            if !x.is_finite() && (what != "old_logp" || self.importance_weighted) {
                return Err(Error::NonFinite { what, index: 0 });
            }
        }
        let (v, g) = self.eval_unchecked(logp, old_logp, ref_logp);
        if v.is_finite() && g.is_finite() {
            Ok((v, g))
        } else {
            Err(Error::Overflow { what: "KL term" })
        }
    }

    /// [`KlTerm::eval`] without the checks.
    #[inline(always)]
    pub(crate) fn eval_unchecked(&self, logp: F, old_logp: F, ref_logp: F) -> (F, F) {
        let (k, dk) = if self.importance_weighted {
            weighted(&self.penalty, logp, old_logp, ref_logp)
        } else {
            self.penalty.eval_unchecked(logp, ref_logp)
        };
        (self.coef * k, self.coef * dk)
    }
}

// ---------------------------------------------------------------------------------------------
// Controllers
// ---------------------------------------------------------------------------------------------

/// A KL-coefficient controller (`β` in `r − β·KL`): fixed or adaptive.
pub trait KlController<F: Real> {
    /// The current coefficient `β`.
    fn coef(&self) -> F;

    /// Updates `β` after observing `current_kl` over `n_steps` samples.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `current_kl` is not finite; [`Error::Overflow`] if the new `β`
    /// would not be finite (`β` is then left unchanged).
    fn update(&mut self, current_kl: F, n_steps: usize) -> Result<()>;
}

/// A constant `β` (verl `kl_ctrl.type = "fixed"`, default `kl_coef = 0.001`).
///
/// # Examples
/// ```
/// use rewardkit_core::kl::{FixedKlController, KlController};
/// let mut c = FixedKlController::new(0.001f64)?;
/// c.update(5.0, 256)?;
/// assert_eq!(c.coef(), 0.001);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FixedKlController<F> {
    coef: F,
}

impl<F: Real> FixedKlController<F> {
    /// A fixed coefficient.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless `coef` is finite and `>= 0`.
    pub fn new(coef: F) -> Result<Self> {
        Ok(Self {
            coef: param_nonneg("coef", coef)?,
        })
    }
}

impl<F: Real> KlController<F> for FixedKlController<F> {
    fn coef(&self) -> F {
        self.coef
    }
    fn update(&mut self, current_kl: F, _n_steps: usize) -> Result<()> {
        crate::error::param_finite("current_kl", current_kl)?;
        Ok(())
    }
}

/// The adaptive controller of Ziegler et al. (2019), as in verl and OpenRLHF:
/// `e = clip(KL/target − 1, −0.2, 0.2)`, `β ← β·(1 + e·n_steps/horizon)`.
///
/// Defaults in verl: `target_kl = 0.1`, `horizon = 10000`. While the KL stays above the target,
/// `β` grows geometrically (by up to `1 + 0.2·n_steps/horizon` per update); an update that would
/// take it beyond the float range returns [`Error::Overflow`] and leaves `β` unchanged (the
/// frameworks keep going with `inf`).
///
/// # Examples
/// ```
/// use rewardkit_core::kl::{AdaptiveKlController, KlController};
/// let mut c = AdaptiveKlController::new(0.1f64, 0.1, 10_000.0)?;
/// c.update(0.2, 1_000)?; // KL twice the target: e clipped to 0.2, β grows by 2 %
/// assert!((c.coef() - 0.102).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdaptiveKlController<F> {
    coef: F,
    target: F,
    horizon: F,
}

impl<F: Real> AdaptiveKlController<F> {
    /// An adaptive controller starting at `init_coef`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless `init_coef >= 0`, `target > 0` and `horizon > 0`, all finite.
    pub fn new(init_coef: F, target: F, horizon: F) -> Result<Self> {
        Ok(Self {
            coef: param_nonneg("init_coef", init_coef)?,
            target: param_positive("target", target)?,
            horizon: param_positive("horizon", horizon)?,
        })
    }
}

impl<F: Real> KlController<F> for AdaptiveKlController<F> {
    fn coef(&self) -> F {
        self.coef
    }

    fn update(&mut self, current_kl: F, n_steps: usize) -> Result<()> {
        crate::error::param_finite("current_kl", current_kl)?;
        let lim = F::lit(0.2);
        let e = (current_kl / self.target - F::ONE).max(-lim).min(lim);
        let mult = F::ONE + e * F::from_usize(n_steps) / self.horizon;
        let next = (self.coef * mult).max(F::ZERO);
        if !next.is_finite() {
            // β grows geometrically while the KL stays above target: stop at the float range
            // instead of returning ∞ (the coefficient is left as it was).
            return Err(Error::Overflow {
                what: "adaptive KL coefficient",
            });
        }
        self.coef = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimator_literals() {
        // d = log 2: k1 = ln 2, k2 = (ln 2)²/2, k3 = 1/2 − 1 + ln 2.
        let d = 2f64.ln();
        assert_eq!(KlEstimator::K1.eval(d), (d, 1.0));
        assert_eq!(KlEstimator::K2.eval(d), (0.5 * d * d, d));
        let (v, g) = KlEstimator::K3.eval(d);
        assert!((v - (0.5 - 1.0 + d)).abs() < 1e-16);
        assert!((g - 0.5).abs() < 1e-16);
        assert_eq!(KlEstimator::Abs.eval(-0.5f64), (0.5, -1.0));
        assert_eq!(KlEstimator::Abs.eval(0.0f64), (0.0, 0.0));
        // Small d: series branch, k3 = d²/2 − d³/6 + d⁴/24 − …
        let (v, _) = KlEstimator::K3.eval(1e-5f64);
        let expected = 0.5e-10 - 1e-15 / 6.0 + 1e-20 / 24.0;
        assert!((v - expected).abs() < 1e-25, "{v} vs {expected}");
    }

    #[test]
    fn clamps() {
        let verl = KlPenalty::<f64>::from_preset(Preset::Verl, KlEstimator::K3);
        // d = -30: clamped to -20, e^{20} − 1 − 20 > 10, value clamped to 10, gradient 0.
        assert_eq!(verl.eval(-30.0, 0.0).unwrap(), (10.0, 0.0));
        let def = KlPenalty::<f64>::new(KlEstimator::K3);
        let (v, g) = def.eval(-30.0, 0.0).unwrap();
        assert!((v - (20f64.exp() - 21.0)).abs() < 1e-6);
        assert_eq!(g, 0.0);
        let st = verl.with_straight_through(true);
        assert_eq!(st.eval(-30.0, 0.0).unwrap(), (10.0, -30.0));
        let orl = KlPenalty::<f64>::from_preset(Preset::OpenRlhf, KlEstimator::K1);
        assert_eq!(orl.eval(-30.0, 0.0).unwrap(), (-10.0, 0.0));
        let trl = KlPenalty::<f64>::from_preset(Preset::Trl, KlEstimator::K3);
        assert_eq!((trl.log_ratio_clamp(), trl.value_clamp()), (None, None));
        assert_eq!(
            KlPenalty::<f32>::from_preset(Preset::Rewardkit, KlEstimator::K2),
            KlPenalty::new(KlEstimator::K2)
        );
        assert!(def.with_value_clamp(Some(0.0)).is_err());
    }

    #[test]
    fn k3_series_and_expm1_branches_agree() {
        // At |u| = 0.1 both forms are accurate: they agree to a few ulp of the value.
        for d in [0.1f64, -0.1, 0.099_999_999, -0.100_000_001] {
            let series = {
                let u = -d;
                let mut q = 0.0;
                let mut f = 1.0;
                for k in 2..=20 {
                    f *= f64::from(k);
                    q += u.powi(k) / f;
                }
                q
            };
            let (v, _) = KlEstimator::K3.eval(d);
            assert!((v - series).abs() <= 4e-15 * series, "{d}: {v} vs {series}");
        }
        // f32: the series keeps full relative precision for small d (within an ulp of the exact
        // k3 of the f32 input d = 0.0010000000474974513).
        let d = 1e-3f32;
        let x = f64::from(d);
        let want = x * x / 2.0 - x.powi(3) / 6.0 + x.powi(4) / 24.0;
        let (v, g) = KlEstimator::K3.eval(d);
        assert!(
            (f64::from(v) - want).abs() <= 1.2e-7 * want,
            "{v} vs {want}"
        );
        assert!((f64::from(g) - (-(-x).exp_m1())).abs() <= 1.2e-7 * x, "{g}");
    }

    #[test]
    fn eval_is_checked() {
        // Regression (issue 8, defect 9): eval skipped the checks forward does.
        let k2 = KlPenalty::<f32>::new(KlEstimator::K2);
        assert_eq!(
            k2.eval(3e38, -3e38),
            Err(Error::Overflow {
                what: "KL estimate"
            })
        );
        let k3 = KlPenalty::<f32>::new(KlEstimator::K3);
        assert_eq!(
            k3.eval(f32::NAN, 0.0),
            Err(Error::NonFinite {
                what: "logp",
                index: 0
            })
        );
        assert!(matches!(
            k3.eval(0.0, f32::INFINITY),
            Err(Error::NonFinite {
                what: "ref_logp",
                ..
            })
        ));
        // forward checks the gradient too: a straight-through gradient of an overflowing d.
        let st = k3.with_straight_through(true);
        let (mut v, mut g) = ([0.0f32], [0.0f32]);
        assert_eq!(
            st.forward(&mut v, Some(&mut g), &[3e38], &[-3e38]),
            Err(Error::Overflow {
                what: "KL gradient"
            })
        );
        assert!(st.forward(&mut v, None, &[3e38], &[-3e38]).is_ok()); // the value is clamped
        // fuzz/kl: d = −1.7e38 − 1.7e38 overflows to −∞ in f32, and k3 there was ∞ − ∞ = NaN,
        // which OpenRLHF's value clamp silently turned into −10. k3(−∞) = +∞, clamped to +10.
        let orl = KlPenalty::<f32>::from_preset(Preset::OpenRlhf, KlEstimator::K3);
        assert_eq!(orl.eval(-1.701_411_8e38, 1.701_438e38), Ok((10.0, 0.0)));
        assert_eq!(
            KlEstimator::K3.eval(f32::NEG_INFINITY),
            (f32::INFINITY, f32::NEG_INFINITY)
        );
        let t = KlTerm::new(k2, 1.0).unwrap();
        assert!(matches!(
            t.eval(3e38, 0.0, -3e38),
            Err(Error::Overflow { .. })
        ));
        assert!(t.eval(0.0, f32::NAN, 0.0).is_ok()); // old_logp is not read without weighting
        assert!(matches!(
            t.with_importance_weighted(true).eval(0.0, f32::NAN, 0.0),
            Err(Error::NonFinite {
                what: "old_logp",
                ..
            })
        ));
    }

    #[test]
    fn names() {
        for name in KL_NAMES {
            let e: KlEstimator = name.parse().unwrap();
            assert_eq!(e.to_string().parse::<KlEstimator>().unwrap(), e);
        }
        let p: KlPenalty<f32> = "low_var_kl+".parse().unwrap();
        assert_eq!(p.to_string(), "k3+");
        assert!("full".parse::<KlPenalty<f32>>().is_err());
    }

    #[test]
    fn adaptive_controller() {
        let mut c = AdaptiveKlController::new(0.2f64, 0.1, 100.0).unwrap();
        c.update(0.05, 10).unwrap(); // e = -0.5 -> -0.2; β·(1 − 0.02)
        assert!((c.coef() - 0.196).abs() < 1e-15);
        assert!(c.update(f64::NAN, 1).is_err());
        assert!(AdaptiveKlController::new(0.1f64, 0.0, 1.0).is_err());
    }

    #[test]
    fn adaptive_controller_never_returns_infinity() {
        // Regression (issue 8, defect 9): f32, horizon 1, KL ten times the target: β grows by
        // 1 + 0.2·256 = 52.2 per update and used to reach +∞ while every update returned Ok.
        let mut c = AdaptiveKlController::new(0.1f32, 0.1, 1.0).unwrap();
        let mut errors = 0;
        for _ in 0..30 {
            let before = c.coef();
            match c.update(1.0, 256) {
                Ok(()) => assert!(c.coef().is_finite()),
                Err(e) => {
                    assert_eq!(
                        e,
                        Error::Overflow {
                            what: "adaptive KL coefficient"
                        }
                    );
                    assert_eq!(c.coef(), before); // unchanged
                    errors += 1;
                }
            }
        }
        // 0.1·52.2²³ ≈ 3.2e38 < f32::MAX ≈ 3.4e38 < 0.1·52.2²⁴: the last 7 updates are refused.
        assert_eq!(errors, 7);
        assert!(c.coef() > 1e36);
    }
}
