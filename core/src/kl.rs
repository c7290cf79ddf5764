//! KL divergence between the policy and a reference policy: per-token estimators from sampled
//! log-probabilities (`k1`, `k2`, `k3`, `abs`, their straight-through `+` forms, the
//! importance-weighted off-policy form), the exact full-vocabulary KL, entropy and token
//! log-probabilities from logits, and the fixed and adaptive KL-coefficient controllers.
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

use num_traits::Float;

use crate::error::{
    Error, Result, UnknownName, ensure_finite, ensure_len, ensure_nonempty, param_nonneg,
    param_positive,
};
use crate::real::Real;
use crate::stats::check_logits;

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
    /// Value and derivative `∂k/∂d` at `d = log π − log π_ref`, without clamping.
    #[inline]
    pub fn eval<F: Real>(self, d: F) -> (F, F) {
        match self {
            Self::K1 => (d, F::ONE),
            Self::Abs => (d.abs(), sign(d)),
            Self::K2 => (F::lit(0.5) * d * d, d),
            Self::K3 => k3(d),
        }
    }
}

#[inline(always)]
fn sign<F: Real>(d: F) -> F {
    if d > F::ZERO {
        F::ONE
    } else if d < F::ZERO {
        -F::ONE
    } else {
        F::ZERO
    }
}

/// `k3(d) = e^{−d} − 1 + d` and `1 − e^{−d}`, accurate for small `|d|` (a series below 1e-2 avoids
/// the cancellation in `expm1(−d) + d`). Branch-free, so loops over it vectorize.
#[inline(always)]
fn k3<F: Real>(d: F) -> (F, F) {
    let u = -d;
    let em1 = u.exp_m1_fast();
    // u²/2 + u³/6 + u⁴/24 + u⁵/120 + u⁶/720; truncation error < 2e-18 relative below 1e-2.
    let u2 = u * u;
    let series = u2
        * (F::lit(0.5)
            + u * (F::lit(1.0 / 6.0)
                + u * (F::lit(1.0 / 24.0) + u * (F::lit(1.0 / 120.0) + u * F::lit(1.0 / 720.0)))));
    let value = if u.abs() < F::lit(1e-2) {
        series
    } else {
        em1 - u
    };
    (value, -em1)
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
/// 2. `value = k(d)`; derivative `k'(d)`, or `d` when `straight_through` (verl's `+` suffix: the value
///    of `kX` with the gradient of `k2`, i.e. `k2 − sg(k2) + sg(kX)`);
/// 3. if `value_clamp = Some(c)`: `value ← clamp(value, −c, c)` (derivative 0 outside).
///
/// Defaults ([`KlPenalty::new`]): no value clamp; `k3` clamps `d` to `±20` so `e^{−d}` stays finite in
/// `f32` (exact inside that range); the others are unclamped. [`KlPenalty::verl`],
/// [`KlPenalty::openrlhf`] and [`KlPenalty::trl`] reproduce those frameworks (see
/// [`numerics`](crate::numerics)).
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

    /// verl's `kl_penalty`: `k3` clamps `d` to `±20` and the value to `±10`; the others are
    /// unclamped (`verl/trainer/ppo/core_algos.py`, `kl_penalty_forward`).
    pub fn verl(estimator: KlEstimator, straight_through: bool) -> Self {
        let is_k3 = estimator == KlEstimator::K3;
        Self {
            estimator,
            straight_through,
            log_ratio_clamp: is_k3.then(|| F::lit(20.0)),
            value_clamp: is_k3.then(|| F::lit(10.0)),
        }
    }

    /// OpenRLHF's `compute_approx_kl`: no clamp on `d`, every estimator's value clamped to `±10`
    /// (`openrlhf/models/utils.py`). OpenRLHF computes in `f32` even for `f64` inputs.
    pub fn openrlhf(estimator: KlEstimator) -> Self {
        Self {
            estimator,
            straight_through: false,
            log_ratio_clamp: None,
            value_clamp: Some(F::lit(10.0)),
        }
    }

    /// TRL's GRPO KL: unclamped `k3` (`trl/trainer/grpo_trainer.py`).
    pub fn trl() -> Self {
        Self {
            estimator: KlEstimator::K3,
            straight_through: false,
            log_ratio_clamp: None,
            value_clamp: None,
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

    /// Value and derivative with respect to `log π` for one token.
    #[inline(always)]
    pub fn eval(&self, logp: F, ref_logp: F) -> (F, F) {
        let (lo, hi) = bounds(self.log_ratio_clamp);
        let (vlo, vhi) = bounds(self.value_clamp);
        eval_with(
            |d| self.estimator.eval(d),
            self.straight_through,
            lo,
            hi,
            vlo,
            vhi,
            logp,
            ref_logp,
        )
    }

    /// Per-token values and (optionally) derivatives with respect to `log π`.
    ///
    /// # Shapes
    /// `out`, `grad`, `logp`, `ref_logp`: any common length `N` (flatten `(B, T)`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ log-probabilities.
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
        match self.estimator {
            KlEstimator::K1 => self.run(out, grad, logp, ref_logp, |d| KlEstimator::K1.eval(d)),
            KlEstimator::Abs => self.run(out, grad, logp, ref_logp, |d| KlEstimator::Abs.eval(d)),
            KlEstimator::K2 => self.run(out, grad, logp, ref_logp, |d| KlEstimator::K2.eval(d)),
            KlEstimator::K3 => self.run(out, grad, logp, ref_logp, k3),
        }
        // Finite inputs can still overflow (k3 without a clamp at d below about −88 in f32).
        if !out.iter().fold(true, |ok, v| ok & v.is_finite()) {
            return Err(Error::Overflow {
                what: "KL value (clamp the log-ratio)",
            });
        }
        Ok(())
    }

    #[inline(always)]
    fn run(
        &self,
        out: &mut [F],
        grad: Option<&mut [F]>,
        logp: &[F],
        ref_logp: &[F],
        est: impl Fn(F) -> (F, F) + Copy,
    ) {
        let (lo, hi) = bounds(self.log_ratio_clamp);
        let (vlo, vhi) = bounds(self.value_clamp);
        let st = self.straight_through;
        match grad {
            Some(grad) => {
                for (((o, g), &lp), &lr) in out.iter_mut().zip(grad).zip(logp).zip(ref_logp) {
                    (*o, *g) = eval_with(est, st, lo, hi, vlo, vhi, lp, lr);
                }
            }
            None => {
                for ((o, &lp), &lr) in out.iter_mut().zip(logp).zip(ref_logp) {
                    *o = eval_with(est, st, lo, hi, vlo, vhi, lp, lr).0;
                }
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
    /// As [`KlPenalty::forward`], plus [`Error::Overflow`] if `w` overflows (`log π − log π_old`
    /// beyond about 88 in `f32`).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{KlEstimator, KlPenalty};
    /// let kl = KlPenalty::<f64>::new(KlEstimator::K3);
    /// let (mut v, mut g) = ([0.0], [0.0]);
    /// // On-policy (log π = log π_old) the weight is 1 and the form equals plain k3.
    /// kl.importance_weighted(&mut v, Some(&mut g), &[-1.0], &[-1.2], &[-1.0])?;
    /// assert_eq!(v[0], kl.eval(-1.0, -1.2).0);
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
        ensure_len("old_logp", logp.len(), old_logp.len())?;
        ensure_finite("old_logp", old_logp)?;
        let n = logp.len();
        let mut dummy = [F::ZERO; 0];
        let has_grad = grad.is_some();
        let grad: &mut [F] = match grad {
            Some(g) => {
                ensure_len("grad", n, g.len())?;
                g
            }
            None => &mut dummy,
        };
        ensure_len("ref_logp", n, ref_logp.len())?;
        ensure_len("out", n, out.len())?;
        ensure_finite("logp", logp)?;
        ensure_finite("ref_logp", ref_logp)?;
        for (i, ((o, &lp), (&lr, &lo))) in out
            .iter_mut()
            .zip(logp)
            .zip(ref_logp.iter().zip(old_logp))
            .enumerate()
        {
            let w = (lp - lo).exp();
            if !w.is_finite() {
                return Err(Error::Overflow {
                    what: "importance weight exp(logp - old_logp)",
                });
            }
            let (k, dk) = self.eval(lp, lr);
            *o = w * k;
            if has_grad {
                if let Some(g) = grad.get_mut(i) {
                    *g = w * (k + dk);
                }
            }
        }
        crate::error::ensure_output("importance-weighted KL", out)
    }
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
    let d = raw.max(lo).min(hi);
    let (value, dk) = est(d);
    let clamped = value.max(vlo).min(vhi);
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
// Full-vocabulary KL and entropy from logits
// ---------------------------------------------------------------------------------------------

fn check_rows<F: Real>(what: &'static str, x: &[F], vocab: usize) -> Result<usize> {
    ensure_nonempty(what, x.len())?;
    if vocab == 0 || x.len() % vocab != 0 {
        return Err(Error::BadShape {
            what,
            len: x.len(),
            dim: vocab,
        });
    }
    check_logits(x).map_err(|e| match e {
        Error::NonFinite { index, .. } => Error::NonFinite { what, index },
        other => other,
    })?;
    Ok(x.len() / vocab)
}

/// Row statistics `(max, ln Σ e^{z − max})`. Log-probabilities are then `(z − max) − ln_sum`, which
/// keeps full precision even when the logits are huge (`max + ln_sum` would absorb `ln_sum`).
/// `ln_sum = ln_1p(Σ_{v ≠ argmax} e^{z_v − max})`: the maximum contributes exactly 1, so a
/// confident row keeps its tail (`log π(argmax) ≈ −e^{−40}` instead of `0`).
#[inline]
fn row_lse<F: Real>(z: &[F]) -> Result<RowStats> {
    row_lse_arg(z).map(|(_, stats)| stats)
}

/// [`row_lse`] and the index of the (first) maximum.
#[inline]
fn row_lse_arg<F: Real>(z: &[F]) -> Result<(usize, RowStats)> {
    let (arg, m) = z
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(i, m), (j, v)| {
            let x = v.as_f64();
            if x > m { (j, x) } else { (i, m) }
        });
    if m == f64::NEG_INFINITY {
        // Every logit is −∞: no distribution.
        return Err(Error::NonFinite {
            what: "logits (a row is entirely -inf)",
            index: 0,
        });
    }
    Ok((arg, (m, Float::ln_1p(exp_sum_except(z, arg, m, 1.0)))))
}

/// `Σ_{v ≠ arg} e^{k·(z_v − m)}`, in two contiguous (vectorizable) loops.
#[inline]
fn exp_sum_except<F: Real>(z: &[F], arg: usize, m: f64, k: f64) -> f64 {
    let sum = |xs: &[F]| -> f64 { xs.iter().map(|v| Float::exp(k * (v.as_f64() - m))).sum() };
    sum(z.get(..arg).unwrap_or(&[])) + sum(z.get(arg + 1..).unwrap_or(&[]))
}

/// `log π_v` from a logit and its row statistics.
#[inline(always)]
fn logprob(z: f64, (m, ln_s): RowStats) -> f64 {
    (z - m) - ln_s
}

/// `(max, ln Σ e^{z − max})` of one row of logits.
type RowStats = (f64, f64);

/// KL of one row, with the row statistics of both distributions.
fn row_kl<F: Real>(z: &[F], zr: &[F]) -> Result<(f64, RowStats, RowStats)> {
    let (lp, lq) = (row_lse(z)?, row_lse(zr)?);
    let mut kl = 0.0f64;
    for (&a, &b) in z.iter().zip(zr) {
        let logp = logprob(a.as_f64(), lp);
        if logp == f64::NEG_INFINITY {
            continue; // p = 0 contributes nothing
        }
        let logq = logprob(b.as_f64(), lq);
        kl += Float::exp(logp) * (logp - logq);
    }
    if !kl.is_finite() {
        return Err(Error::Overflow {
            what: "full-vocabulary KL (the reference gives zero probability to a policy token)",
        });
    }
    Ok((kl.max(0.0), lp, lq))
}

/// Exact `KL(π‖π_ref) = Σ_v π_v (log π_v − log π_ref,v)` per token, from policy and reference logits.
///
/// verl lists this as `kl_penalty = "full"` but raises `NotImplementedError`; rewardkit computes it
/// in `f64` per row (two-pass `logsumexp`).
///
/// # Shapes
/// `out`: `(N)`; `logits`, `ref_logits`: `(N, V)` row-major.
///
/// # Errors
/// [`Error::BadShape`] if `V` does not divide the length; [`Error::LengthMismatch`];
/// [`Error::NonFinite`] for NaN or `+∞` logits or a row of only `−∞`; [`Error::Overflow`] when the KL
/// is infinite (the reference has `−∞` where the policy does not).
///
/// # Examples
/// ```
/// use rewardkit_core::kl::full_kl_forward;
/// let mut kl = [0.0f64];
/// full_kl_forward(&mut kl, &[0.0, 0.0], &[0.0, (3.0f64).ln()], 2)?;
/// // π = (1/2, 1/2), π_ref = (1/4, 3/4)
/// let expected = 0.5 * (2.0f64).ln() + 0.5 * (2.0f64 / 3.0).ln();
/// assert!((kl[0] - expected).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn full_kl_forward<F: Real>(
    out: &mut [F],
    logits: &[F],
    ref_logits: &[F],
    vocab: usize,
) -> Result<()> {
    let n = check_rows("logits", logits, vocab)?;
    ensure_len("ref_logits", logits.len(), ref_logits.len())?;
    check_rows("ref_logits", ref_logits, vocab)?;
    ensure_len("out", n, out.len())?;
    for ((o, z), zr) in out
        .iter_mut()
        .zip(logits.chunks_exact(vocab))
        .zip(ref_logits.chunks_exact(vocab))
    {
        *o = F::lit(row_kl(z, zr)?.0);
    }
    crate::error::ensure_output("full_kl_forward", out)
}

/// Gradient of the full-vocabulary KL with respect to the policy logits:
/// `∂KL/∂z_v = π_v·(log π_v − log π_ref,v − KL)`, scaled by the upstream gradient of each token.
/// Overwrites `grad_logits`.
///
/// # Shapes
/// `grad_logits`, `logits`, `ref_logits`: `(N, V)`; `grad_out`: `(N)`.
///
/// # Errors
/// As [`full_kl_forward`], plus [`Error::NonFinite`] for NaN/∞ in `grad_out`.
///
/// # Examples
/// ```
/// use rewardkit_core::kl::full_kl_backward;
/// let mut g = [0.0f64; 2];
/// // Equal distributions: KL is at its minimum and the gradient is zero.
/// full_kl_backward(&mut g, &[1.0], &[0.3, -0.2], &[0.3, -0.2], 2)?;
/// assert!(g.iter().all(|v| v.abs() < 1e-16));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn full_kl_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    ref_logits: &[F],
    vocab: usize,
) -> Result<()> {
    let n = check_rows("logits", logits, vocab)?;
    ensure_len("ref_logits", logits.len(), ref_logits.len())?;
    check_rows("ref_logits", ref_logits, vocab)?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_len("grad_out", n, grad_out.len())?;
    ensure_finite("grad_out", grad_out)?;
    for (((g, z), zr), &up) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(logits.chunks_exact(vocab))
        .zip(ref_logits.chunks_exact(vocab))
        .zip(grad_out)
    {
        let (kl, lp, lq) = row_kl(z, zr)?;
        let up = up.as_f64();
        for ((g, &a), &b) in g.iter_mut().zip(z).zip(zr) {
            let logp = logprob(a.as_f64(), lp);
            *g = if logp == f64::NEG_INFINITY {
                F::ZERO
            } else {
                F::lit(up * Float::exp(logp) * (logp - logprob(b.as_f64(), lq) - kl))
            };
        }
    }
    crate::error::ensure_output("full_kl_backward", grad_logits)
}

/// Entropy `H = −Σ_v π_v log π_v` per token, from logits (verl/OpenRLHF
/// `entropy_from_logits`: `logsumexp(z) − Σ softmax(z)·z`).
///
/// # Shapes
/// `out`: `(N)`; `logits`: `(N, V)`.
///
/// # Errors
/// [`Error::BadShape`]; [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN or `+∞` logits or an
/// all-`−∞` row.
///
/// # Examples
/// ```
/// use rewardkit_core::kl::entropy_forward;
/// let mut h = [0.0f32];
/// entropy_forward(&mut h, &[0.0; 4], 4)?;
/// assert!((h[0] - 4f32.ln()).abs() < 1e-6);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn entropy_forward<F: Real>(out: &mut [F], logits: &[F], vocab: usize) -> Result<()> {
    let n = check_rows("logits", logits, vocab)?;
    ensure_len("out", n, out.len())?;
    for (o, z) in out.iter_mut().zip(logits.chunks_exact(vocab)) {
        *o = F::lit(row_entropy(z)?.0);
    }
    crate::error::ensure_output("entropy_forward", out)
}

fn row_entropy<F: Real>(z: &[F]) -> Result<(f64, RowStats)> {
    let lse = row_lse(z)?;
    let mut h = 0.0f64;
    for &a in z {
        let logp = logprob(a.as_f64(), lse);
        if logp > f64::NEG_INFINITY {
            h -= Float::exp(logp) * logp;
        }
    }
    Ok((h.max(0.0), lse))
}

/// Gradient of the entropy with respect to the logits, `∂H/∂z_v = −π_v·(log π_v + H)`, scaled by the
/// upstream gradient of each token. Overwrites `grad_logits`.
///
/// # Shapes
/// `grad_logits`, `logits`: `(N, V)`; `grad_out`: `(N)`.
///
/// # Errors
/// As [`entropy_forward`], plus [`Error::LengthMismatch`] and [`Error::NonFinite`] for `grad_out`.
///
/// # Examples
/// ```
/// use rewardkit_core::kl::entropy_backward;
/// let mut g = [0.0f64; 3];
/// // The uniform distribution maximizes entropy: zero gradient.
/// entropy_backward(&mut g, &[1.0], &[0.5; 3], 3)?;
/// assert!(g.iter().all(|v| v.abs() < 1e-16));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn entropy_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    vocab: usize,
) -> Result<()> {
    let n = check_rows("logits", logits, vocab)?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_len("grad_out", n, grad_out.len())?;
    ensure_finite("grad_out", grad_out)?;
    for ((g, z), &up) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(logits.chunks_exact(vocab))
        .zip(grad_out)
    {
        let (h, lse) = row_entropy(z)?;
        let up = up.as_f64();
        for (g, &a) in g.iter_mut().zip(z) {
            let logp = logprob(a.as_f64(), lse);
            *g = if logp == f64::NEG_INFINITY {
                F::ZERO
            } else {
                F::lit(-up * Float::exp(logp) * (logp + h))
            };
        }
    }
    crate::error::ensure_output("entropy_backward", grad_logits)
}

// ---------------------------------------------------------------------------------------------
// Log-probabilities of given tokens from logits
// ---------------------------------------------------------------------------------------------

/// The logit of token `id` in a row, or [`Error::TokenOutOfRange`] (`index` is the row's flat index).
#[inline]
fn token_logit<F: Real>(z: &[F], id: u32, index: usize, vocab: usize) -> Result<F> {
    usize::try_from(id)
        .ok()
        .and_then(|k| z.get(k).copied())
        .ok_or(Error::TokenOutOfRange { index, id, vocab })
}

/// `Err(TokenOutOfRange)` for the first id `>= vocab`.
fn check_ids(ids: &[u32], vocab: usize) -> Result<()> {
    match ids
        .iter()
        .position(|&id| usize::try_from(id).map_or(true, |k| k >= vocab))
    {
        Some(index) => Err(Error::TokenOutOfRange {
            index,
            id: ids.get(index).copied().unwrap_or(0),
            vocab,
        }),
        None => Ok(()),
    }
}

/// `log π(id)` and `log Σ_v π_v²` of one row of logits, in `f64`: with `m = max z` and
/// `ln_s = ln Σ e^{z − m}`, `log π(id) = (z_id − m) − ln_s` and
/// `log Σ π² = ln Σ e^{2(z − m)} − 2·ln_s` (`= LSE(2z) − 2·LSE(z)`, without forming either `LSE`;
/// both sums as `ln_1p` of the terms other than the maximum's).
/// The row must be valid (see [`check_rows`]) and `id < V`.
pub(crate) fn token_logprob_and_concentration<F: Real>(
    z: &[F],
    id: u32,
    index: usize,
) -> Result<(f64, f64)> {
    let zi = token_logit(z, id, index, z.len())?.as_f64();
    let (arg, lse) = row_lse_arg(z)?;
    let sq = Float::ln_1p(exp_sum_except(z, arg, lse.0, 2.0));
    Ok((logprob(zi, lse), sq - 2.0 * lse.1))
}

/// Validates one row of logits: `NonFinite` for NaN or `+∞`, its index offset by `base` (an
/// all-`−∞` row is reported by the row statistics).
pub(crate) fn check_logit_row<F: Real>(what: &'static str, z: &[F], base: usize) -> Result<()> {
    check_logits(z).map_err(|e| match e {
        Error::NonFinite { index, .. } => Error::NonFinite {
            what,
            index: base + index,
        },
        other => other,
    })
}

/// Log-probabilities of given tokens from logits: `out[n] = log softmax(zₙ)[idₙ]`, TRL's
/// `selective_log_softmax` and verl's `logprobs_from_logits`, computed per row in `f64`.
///
/// # Definition
/// `log π(id) = (z_id − max z) − ln Σ_v e^{z_v − max z}`. The form keeps full precision for huge
/// logits (`z_id − logsumexp(z)` would lose `ln Σ` against `max z`). Language-model logits predict
/// the *next* token: for logits over a sequence `(B, L, V)` and tokens `(B, L)`, pass the logits
/// of positions `0..L−1` with the tokens of positions `1..L` (TRL's shift).
///
/// # Shapes
/// `out`: `(N)`; `logits`: `(N, V)` row-major; `ids`: `(N)`, each `< V`.
///
/// # Errors
/// [`Error::BadShape`] if `V` does not divide the length of `logits` (or `V = 0`);
/// [`Error::Empty`] for no logits; [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN or `+∞`
/// logits or a row of only `−∞`; [`Error::TokenOutOfRange`] for an id `>= V`; [`Error::Overflow`]
/// when a token has probability zero (its logit is `−∞`, or the result is below the range of `F`).
///
/// # Examples
/// ```
/// use rewardkit_core::kl::logprobs_forward;
/// let mut lp = [0.0f64; 2];
/// // Row 0: π = (1/4, 3/4), token 1. Row 1: π = (1/2, 1/2), token 0.
/// logprobs_forward(&mut lp, &[0.0, 3f64.ln(), 5.0, 5.0], &[1, 0], 2)?;
/// assert!((lp[0] - 0.75f64.ln()).abs() < 1e-15);
/// assert!((lp[1] - 0.5f64.ln()).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: TRL `trl/trainer/utils.py` (`selective_log_softmax`); verl
/// `verl/utils/torch_functional.py` (`logprobs_from_logits`).
pub fn logprobs_forward<F: Real>(
    out: &mut [F],
    logits: &[F],
    ids: &[u32],
    vocab: usize,
) -> Result<()> {
    let n = check_rows("logits", logits, vocab)?;
    ensure_len("ids", n, ids.len())?;
    ensure_len("out", n, out.len())?;
    check_ids(ids, vocab)?;
    for (i, ((o, z), &id)) in out
        .iter_mut()
        .zip(logits.chunks_exact(vocab))
        .zip(ids)
        .enumerate()
    {
        let zi = token_logit(z, id, i, vocab)?;
        *o = F::lit(logprob(zi.as_f64(), row_lse(z)?));
    }
    crate::error::ensure_output("log-probability (a token has probability zero)", out)
}

/// Gradient of the token log-probabilities with respect to the logits,
/// `∂ log π(idₙ)/∂z_{n,v} = [v = idₙ] − π_{n,v}`, scaled by the upstream gradient `grad_out[n]`.
/// Overwrites `grad_logits`.
///
/// # Definition
/// `grad_logits[n, v] = gₙ·([v = idₙ] − softmax(zₙ)_v)` with `gₙ = grad_out[n]`, in `f64` per row;
/// the `v = idₙ` entry is `−gₙ·expm1(log π(idₙ))`, exact even when `π(idₙ) → 1`. Rows with
/// `gₙ = 0` (masked tokens) are written as zeros without evaluating the softmax. The gradient of
/// any loss built from token log-probabilities (DPO through sequence sums, the SFT term, a policy
/// loss) reaches the logits through this function with `gₙ = ∂loss/∂ log π(idₙ)`.
///
/// # Shapes
/// `grad_logits`, `logits`: `(N, V)`; `grad_out`, `ids`: `(N)`.
///
/// # Errors
/// As [`logprobs_forward`] (except `Overflow`: the gradient is finite for a zero-probability
/// token; and a row of only `−∞` is an error only where `gₙ ≠ 0`), plus
/// [`Error::LengthMismatch`] and [`Error::NonFinite`] for `grad_out`.
///
/// # Examples
/// ```
/// use rewardkit_core::kl::logprobs_backward;
/// let mut g = [0.0f64; 2];
/// // π = (1/4, 3/4), token 1, upstream 2: 2·(0 − 1/4, 1 − 3/4).
/// logprobs_backward(&mut g, &[2.0], &[0.0, 3f64.ln()], &[1], 2)?;
/// assert!((g[0] + 0.5).abs() < 1e-15 && (g[1] - 0.5).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`logprobs_forward`].
pub fn logprobs_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    ids: &[u32],
    vocab: usize,
) -> Result<()> {
    let n = check_rows("logits", logits, vocab)?;
    ensure_len("ids", n, ids.len())?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_len("grad_out", n, grad_out.len())?;
    ensure_finite("grad_out", grad_out)?;
    check_ids(ids, vocab)?;
    for (((g, z), &up), &id) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(logits.chunks_exact(vocab))
        .zip(grad_out)
        .zip(ids)
    {
        if up == F::ZERO {
            g.iter_mut().for_each(|x| *x = F::ZERO);
            continue;
        }
        let lse = row_lse(z)?;
        let up = up.as_f64();
        let target = usize::try_from(id).unwrap_or(usize::MAX);
        for (v, (g, &a)) in g.iter_mut().zip(z).enumerate() {
            let lp = logprob(a.as_f64(), lse);
            *g = F::lit(if v == target {
                -up * Float::exp_m1(lp)
            } else {
                -up * Float::exp(lp)
            });
        }
    }
    crate::error::ensure_output("logprobs_backward", grad_logits)
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
    /// [`Error::InvalidParam`] if `current_kl` is not finite.
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
/// Defaults in verl: `target_kl = 0.1`, `horizon = 10000`.
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
        self.coef = (self.coef * mult).max(F::ZERO);
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
        let verl = KlPenalty::<f64>::verl(KlEstimator::K3, false);
        // d = -30: clamped to -20, e^{20} − 1 − 20 > 10, value clamped to 10, gradient 0.
        assert_eq!(verl.eval(-30.0, 0.0), (10.0, 0.0));
        let def = KlPenalty::<f64>::new(KlEstimator::K3);
        let (v, g) = def.eval(-30.0, 0.0);
        assert!((v - (20f64.exp() - 21.0)).abs() < 1e-6);
        assert_eq!(g, 0.0);
        let st = KlPenalty::<f64>::verl(KlEstimator::K3, true);
        assert_eq!(st.eval(-30.0, 0.0), (10.0, -30.0));
        let orl = KlPenalty::<f64>::openrlhf(KlEstimator::K1);
        assert_eq!(orl.eval(-30.0, 0.0), (-10.0, 0.0));
        assert!(def.with_value_clamp(Some(0.0)).is_err());
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
    fn full_kl_and_entropy_literals() {
        // π = softmax(0, ln 3) = (1/4, 3/4); H = −(¼ ln ¼ + ¾ ln ¾).
        let mut h = [0.0f64];
        entropy_forward(&mut h, &[0.0, 3f64.ln()], 2).unwrap();
        let expected = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((h[0] - expected).abs() < 1e-15);
        // −∞ logits are zero-probability tokens.
        entropy_forward(&mut h, &[0.0, f64::NEG_INFINITY], 2).unwrap();
        assert_eq!(h[0], 0.0);
        let mut kl = [0.0f64];
        assert!(full_kl_forward(&mut kl, &[0.0, 0.0], &[0.0, f64::NEG_INFINITY], 2).is_err());
        assert!(full_kl_forward(&mut kl, &[0.0, 0.0, 0.0], &[0.0, 0.0, 0.0], 2).is_err());
        assert!(entropy_forward(&mut h, &[f64::NAN, 0.0], 2).is_err());
    }

    #[test]
    fn logprobs_literals() {
        // π = softmax(0, ln 3) = (1/4, 3/4).
        let z = [0.0, 3f64.ln()];
        let mut lp = [0.0f64; 2];
        logprobs_forward(&mut lp, &[z, z].concat(), &[0, 1], 2).unwrap();
        assert!((lp[0] - 0.25f64.ln()).abs() < 1e-15);
        assert!((lp[1] - 0.75f64.ln()).abs() < 1e-15);
        // Huge logits: (z − max) − ln Σ keeps every digit (max + ln Σ would absorb ln Σ).
        let big = [1e6, 1e6 + 3f64.ln()];
        logprobs_forward(&mut lp[..1], &big, &[0], 2).unwrap();
        assert!((lp[0] - 0.25f64.ln()).abs() < 1e-9, "{}", lp[0]);
        // Backward: g·([v = id] − π_v).
        let mut g = [0.0f64; 2];
        logprobs_backward(&mut g, &[-2.0], &z, &[0], 2).unwrap();
        assert!(
            (g[0] + 1.5).abs() < 1e-15 && (g[1] - 1.5).abs() < 1e-15,
            "{g:?}"
        );
        // A confident token: 1 − π(id) = e^{−40}/(1 + e^{−40}) survives (expm1), 1 − exp would give 0.
        logprobs_backward(&mut g, &[1.0], &[0.0, 40.0], &[1], 2).unwrap();
        let tail = (-40f64).exp() / (1.0 + (-40f64).exp());
        assert!(
            (g[1] - tail).abs() < 1e-30 && (g[0] + tail).abs() < 1e-30,
            "{g:?}"
        );
        // Zero upstream: zeros, whatever the row.
        let mut g = [7.0f64; 2];
        logprobs_backward(&mut g, &[0.0], &[f64::NEG_INFINITY; 2], &[1], 2).unwrap();
        assert_eq!(g, [0.0, 0.0]);
        // −∞ logits are zero-probability tokens; choosing one is an error in the forward pass only.
        logprobs_forward(&mut lp[..1], &[0.0, f64::NEG_INFINITY], &[0], 2).unwrap();
        assert_eq!(lp[0], 0.0);
        assert!(logprobs_forward(&mut lp[..1], &[0.0, f64::NEG_INFINITY], &[1], 2).is_err());
        logprobs_backward(&mut g, &[1.0], &[0.0, f64::NEG_INFINITY], &[1], 2).unwrap();
        assert_eq!(g, [-1.0, 1.0]);
    }

    #[test]
    fn wpo_concentration_literal() {
        // π = (1/4, 3/4): Σπ² = 5/8, so log Σπ² = ln(5/8); LSE(2z) − 2·LSE(z) says the same.
        let (lp, conc) = token_logprob_and_concentration(&[0.0f64, 3f64.ln()], 1, 0).unwrap();
        assert!((lp - 0.75f64.ln()).abs() < 1e-15);
        assert!((conc - 0.625f64.ln()).abs() < 1e-15);
        // Uniform over V: Σπ² = 1/V.
        let (_, conc) = token_logprob_and_concentration(&[2.5f32; 8], 3, 0).unwrap();
        assert!((conc - 0.125f64.ln()).abs() < 1e-15);
        assert!(matches!(
            token_logprob_and_concentration(&[0.0f64; 2], 2, 5),
            Err(Error::TokenOutOfRange {
                index: 5,
                id: 2,
                vocab: 2
            })
        ));
    }

    #[test]
    fn adaptive_controller() {
        let mut c = AdaptiveKlController::new(0.2f64, 0.1, 100.0).unwrap();
        c.update(0.05, 10).unwrap(); // e = -0.5 -> -0.2; β·(1 − 0.02)
        assert!((c.coef() - 0.196).abs() < 1e-15);
        assert!(c.update(f64::NAN, 1).is_err());
        assert!(AdaptiveKlController::new(0.1f64, 0.0, 1.0).is_err());
    }
}
