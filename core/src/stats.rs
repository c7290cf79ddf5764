//! Statistics and stable elementwise functions: group and masked moments, whitening, and
//! numerically stable `sigmoid`, `log_sigmoid` and `softplus`. `logsumexp`, `log_softmax` and
//! `softmax` of one vector are re-exported from [`crate::logits`], their one implementation.
//!
//! Every reduction accumulates in `f64` with two passes (mean, then squared deviations), so an `f32`
//! result is the rounded `f64` result. A set of exactly equal values has variance exactly 0 (the mean
//! is then taken as that value), so zero-variance groups never turn rounding noise into signal.

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_nonempty, param_nonneg};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor, Mask, count_true};
use crate::preset::Preset;
use crate::real::{Real, usize_f64};

// ---------------------------------------------------------------------------------------------
// Moments
// ---------------------------------------------------------------------------------------------

/// Count, sum, mean, spread and range of a set of values, accumulated in `f64`.
///
/// # Definition
/// `mean = Σx / n`; `m2 = Σ(x − mean)²` (two-pass); `min`, `max`. When `min == max`, `mean` is that
/// value and `m2 = 0` exactly.
///
/// # Examples
/// ```
/// use rewardkit_core::stats::Summary;
///
/// let s = Summary::of(&[1.0f64, 2.0, 3.0, 4.0])?;
/// assert_eq!(s.mean, 2.5);
/// assert_eq!(s.var(1), 5.0 / 3.0); // Bessel
/// assert_eq!(s.var(0), 1.25);      // population
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Summary {
    /// Number of values `n`.
    pub count: usize,
    /// `Σx`.
    pub sum: f64,
    /// `Σx / n` (0 for `n = 0`).
    pub mean: f64,
    /// `Σ(x − mean)²`.
    pub m2: f64,
    /// Smallest value (`+∞` for `n = 0`).
    pub min: f64,
    /// Largest value (`−∞` for `n = 0`).
    pub max: f64,
}

impl Summary {
    /// The summary of no values.
    pub const EMPTY: Self = Self {
        count: 0,
        sum: 0.0,
        mean: 0.0,
        m2: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// Summarizes finite values.
    ///
    /// # Errors
    /// [`Error::Empty`] for no values; [`Error::NonFinite`] for a NaN or infinity;
    /// [`Error::Overflow`] if the sum overflows `f64`.
    pub fn of<F: Real>(xs: &[F]) -> Result<Self> {
        ensure_nonempty("values", xs.len())?;
        ensure_finite("values", xs)?;
        let s = Self::from_iter(xs.iter().map(|x| x.as_f64()));
        s.check("values")?;
        Ok(s)
    }

    /// Two-pass summary of an iterator of `f64` values (which must be finite; not checked).
    #[inline]
    pub(crate) fn from_iter<I: Iterator<Item = f64> + Clone>(xs: I) -> Self {
        let mut n = 0usize;
        let mut sum = 0.0f64;
        let mut min = f64::INFINITY;
        let mut max = f64::NEG_INFINITY;
        for x in xs.clone() {
            n += 1;
            sum += x;
            min = min.min(x);
            max = max.max(x);
        }
        if n == 0 {
            return Self::EMPTY;
        }
        if min == max {
            return Self {
                count: n,
                sum,
                mean: min,
                m2: 0.0,
                min,
                max,
            };
        }
        let mean = sum / usize_f64(n);
        let m2 = xs.map(|x| (x - mean) * (x - mean)).sum();
        Self {
            count: n,
            sum,
            mean,
            m2,
            min,
            max,
        }
    }

    /// `Err(Overflow)` if a finite input produced a non-finite sum or spread.
    #[inline]
    pub(crate) fn check(&self, what: &'static str) -> Result<()> {
        if self.count == 0 || (self.sum.is_finite() && self.m2.is_finite()) {
            Ok(())
        } else {
            Err(Error::Overflow { what })
        }
    }

    /// Variance `m2 / (n − ddof)`: `ddof = 1` is Bessel's (sample) variance, `ddof = 0` the population
    /// variance. Returns NaN when `n <= ddof` (callers decide what that means).
    #[inline]
    pub fn var(&self, ddof: usize) -> f64 {
        if self.count <= ddof {
            f64::NAN
        } else {
            self.m2 / usize_f64(self.count - ddof)
        }
    }

    /// `sqrt(var(ddof))`.
    #[inline]
    pub fn std(&self, ddof: usize) -> f64 {
        Float::sqrt(self.var(ddof))
    }
}

struct GroupSummaries<'a, F> {
    x: &'a [F],
    out: &'a mut [Summary],
}

impl<F: Real> GroupVisitor for GroupSummaries<'_, F> {
    #[inline]
    fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
        let s = Summary::from_iter(rows.values(self.x).map(Real::as_f64));
        s.check("group statistics")?;
        if let Some(o) = self.out.get_mut(g) {
            *o = s;
        }
        Ok(())
    }
}

/// Per-group [`Summary`] (count, sum, mean, `m2`, min, max) of a per-row input.
///
/// # Shapes
/// `out`: `(G)`; `x`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths; [`Error::NonFinite`] for NaN/∞ in `x`;
/// [`Error::Overflow`] if a group sum overflows.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, stats::{Summary, group_summaries}};
///
/// let groups = GroupIndex::new(&[1, 0, 1, 0], 2)?;
/// let mut out = [Summary::EMPTY; 2];
/// group_summaries(&mut out, &[1.0f32, 2.0, 3.0, 6.0], &groups)?;
/// assert_eq!((out[0].mean, out[1].mean), (4.0, 2.0));
/// assert_eq!(out[0].var(1), 8.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn group_summaries<F: Real>(
    out: &mut [Summary],
    x: &[F],
    groups: &GroupIndex<'_>,
) -> Result<()> {
    crate::error::ensure_len("out", groups.n_groups(), out.len())?;
    groups.check_rows("x", x.len())?;
    ensure_finite("x", x)?;
    groups.visit(&mut GroupSummaries { x, out })
}

// ---------------------------------------------------------------------------------------------
// Masked moments and whitening
// ---------------------------------------------------------------------------------------------

fn check_masked<F: Real>(x: &[F], mask: Mask<'_>) -> Result<()> {
    mask.shape().check("x", x.len())?;
    ensure_finite("x", x)
}

/// Summary of the unmasked elements.
fn masked_summary<F: Real>(x: &[F], mask: Mask<'_>) -> Summary {
    let valid = x
        .iter()
        .zip(mask.bits())
        .filter(|&(_, &m)| m)
        .map(|(x, _)| x.as_f64());
    Summary::from_iter(valid)
}

/// Sum of the unmasked elements, `Σ m·x`.
///
/// # Shapes
/// `x`: `(B, T)`, like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ anywhere in `x` (masked positions
/// included: a NaN under the mask is still a bug upstream).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, stats::masked_sum};
/// let mask = Mask::new(&[true, false, true, true], 2)?;
/// assert_eq!(masked_sum(&[1.0f64, 9.0, 2.0, 3.0], mask)?, 6.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn masked_sum<F: Real>(x: &[F], mask: Mask<'_>) -> Result<F> {
    check_masked(x, mask)?;
    let s = masked_summary(x, mask);
    s.check("masked sum")?;
    Ok(F::lit(s.sum))
}

/// Mean of the unmasked elements, `Σ m·x / Σ m`.
///
/// # Shapes
/// `x`: `(B, T)`, like `mask`.
///
/// # Errors
/// As [`masked_sum`], plus [`Error::TooFewValid`] when every element is masked (the frameworks
/// return NaN or divide by `1e-8` there).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, stats::masked_mean};
/// let mask = Mask::new(&[true, false, true, true], 2)?;
/// assert_eq!(masked_mean(&[1.0f64, 9.0, 2.0, 3.0], mask)?, 2.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn masked_mean<F: Real>(x: &[F], mask: Mask<'_>) -> Result<F> {
    check_masked(x, mask)?;
    let s = masked_summary(x, mask);
    if s.count == 0 {
        return Err(Error::TooFewValid {
            what: "masked mean",
            count: 0,
            min: 1,
        });
    }
    s.check("masked mean")?;
    Ok(F::lit(s.mean))
}

/// Variance of the unmasked elements: `Σ m·(x − μ)² / (n − 1)` (`unbiased`, Bessel) or `/ n`.
///
/// # Shapes
/// `x`: `(B, T)`, like `mask`.
///
/// # Errors
/// As [`masked_sum`], plus [`Error::TooFewValid`] for fewer than 2 (unbiased) or 1 valid elements.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, stats::masked_var};
/// let mask = Mask::new(&[true, false, true, true], 2)?;
/// assert_eq!(masked_var(&[1.0f64, 9.0, 2.0, 3.0], mask, true)?, 1.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn masked_var<F: Real>(x: &[F], mask: Mask<'_>, unbiased: bool) -> Result<F> {
    check_masked(x, mask)?;
    let s = masked_summary(x, mask);
    let min = if unbiased { 2 } else { 1 };
    if s.count < min {
        return Err(Error::TooFewValid {
            what: "masked variance",
            count: s.count,
            min,
        });
    }
    s.check("masked variance")?;
    Ok(F::lit(s.var(usize::from(unbiased))))
}

/// Where whitening puts its epsilon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum VarEps {
    /// `(x − μ) / sqrt(var + ε)` (verl, TRL's PPO).
    AddToVar,
    /// `(x − μ) / sqrt(max(var, ε))` (OpenRLHF).
    MaxWithVar,
    /// `(x − μ) / (sqrt(var) + ε)` (TRL's RLOO).
    AddToStd,
}

/// Batch whitening parameters: `(x − μ)·s`, with `μ` and the scale `s` from the unmasked elements.
///
/// # Definition
/// `μ = Σ m·x / (Σ m + count_eps)`, `var = Σ m·(x − μ)² / (Σ m + count_eps)`, times `n / (n − 1)`
/// when `unbiased`; then `s` from `var` and `eps` as [`VarEps`] says. With `shift_mean = false` the
/// mean is added back: `(x − μ)·s + μ`.
///
/// The rewardkit default ([`Whiten::default`]) is `shift_mean`, `unbiased`, `ε = 1e-8` added to the
/// variance, `count_eps = 0`. [`Whiten::from_preset`] reproduces verl and OpenRLHF.
///
/// # Examples
/// ```
/// use rewardkit_core::{Preset, stats::{VarEps, Whiten}};
/// let w = Whiten::<f64>::new(true, true, 1e-8, VarEps::AddToVar)?;
/// assert_eq!(w, Whiten::default());
/// // Every parameter has a getter (a GPU backend reads them; they have one home here).
/// let o = Whiten::<f64>::from_preset(Preset::OpenRlhf);
/// assert_eq!((o.unbiased(), o.eps_mode(), o.eps(), o.count_eps()), (false, VarEps::MaxWithVar, 1e-8, 0.0));
/// assert!(o.scale_by_std() && !o.mean_only().scale_by_std());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Whiten<F> {
    shift_mean: bool,
    scale_by_std: bool,
    unbiased: bool,
    eps: F,
    eps_mode: VarEps,
    count_eps: F,
}

impl<F: Real> Default for Whiten<F> {
    fn default() -> Self {
        Self {
            shift_mean: true,
            scale_by_std: true,
            unbiased: true,
            eps: F::lit(1e-8),
            eps_mode: VarEps::AddToVar,
            count_eps: F::ZERO,
        }
    }
}

impl<F: Real> Whiten<F> {
    /// The batch whitening of `preset`: the rewardkit default for [`Preset::Rewardkit`] and
    /// [`Preset::Trl`]; verl's `masked_whiten` (unbiased variance, `rsqrt(var + 1e-8)`, and `1e-8`
    /// added to the mask count in both masked means, `verl/utils/torch_functional.py`); OpenRLHF's
    /// global advantage normalization (population variance over valid tokens,
    /// `rsqrt(max(var, 1e-8))`, `experience_maker.py`).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{Preset, stats::Whiten};
    /// assert_eq!(Whiten::<f64>::from_preset(Preset::Trl), Whiten::default());
    /// assert_ne!(Whiten::<f64>::from_preset(Preset::Verl), Whiten::default());
    /// ```
    pub fn from_preset(preset: Preset) -> Self {
        match preset {
            Preset::Rewardkit | Preset::Trl => Self::default(),
            Preset::Verl => Self {
                eps: F::lit(1e-8),
                count_eps: F::lit(1e-8),
                ..Self::default()
            },
            Preset::OpenRlhf => Self {
                unbiased: false,
                eps: F::lit(1e-8),
                eps_mode: VarEps::MaxWithVar,
                ..Self::default()
            },
        }
    }

    /// Whitening with the given mean shift, Bessel correction, epsilon and epsilon placement
    /// (`count_eps = 0`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `eps` is negative or not finite.
    pub fn new(shift_mean: bool, unbiased: bool, eps: F, eps_mode: VarEps) -> Result<Self> {
        Ok(Self {
            shift_mean,
            scale_by_std: true,
            unbiased,
            eps: param_nonneg("eps", eps)?,
            eps_mode,
            count_eps: F::ZERO,
        })
    }

    /// Sets the epsilon added to mask counts in the means (verl uses `1e-8`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `count_eps` is negative or not finite.
    pub fn with_count_eps(self, count_eps: F) -> Result<Self> {
        Ok(Self {
            count_eps: param_nonneg("count_eps", count_eps)?,
            ..self
        })
    }

    /// Centring only: the scale is 1 (OpenRLHF's `no_std_norm`).
    pub fn mean_only(self) -> Self {
        Self {
            scale_by_std: false,
            ..self
        }
    }

    /// Without the mean shift, the mean is added back after scaling.
    pub fn shift_mean(&self) -> bool {
        self.shift_mean
    }

    /// Whether the centred values are scaled (false after [`Whiten::mean_only`]).
    pub fn scale_by_std(&self) -> bool {
        self.scale_by_std
    }

    /// Whether the variance has Bessel's correction `n/(n − 1)`.
    pub fn unbiased(&self) -> bool {
        self.unbiased
    }

    /// The epsilon of the scale, placed as [`Whiten::eps_mode`] says.
    pub fn eps(&self) -> F {
        self.eps
    }

    /// Where the epsilon goes.
    pub fn eps_mode(&self) -> VarEps {
        self.eps_mode
    }

    /// The epsilon added to the mask count in the means (verl: `1e-8`).
    pub fn count_eps(&self) -> F {
        self.count_eps
    }
}

/// Whitens `x` with statistics of its unmasked elements: `out = (x − μ)·s` (see [`Whiten`]).
///
/// Every position is transformed by the same affine map, masked ones included (as verl and OpenRLHF
/// do); multiply by the mask afterwards if masked positions must be zero.
///
/// # Shapes
/// `out`, `x`: `(B, T)`, like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ in `x`; [`Error::TooFewValid`] when no
/// element is valid. With one valid element and `unbiased`, the variance is taken as 0 (every
/// output is then `(x − μ)/sqrt(ε)`, which is 0 at the valid element).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, stats::{Whiten, masked_whiten}};
/// let mask = Mask::new(&[true, true, true, false], 4)?;
/// let mut out = [0.0f64; 4];
/// masked_whiten(&mut out, &[1.0, 2.0, 3.0, 7.0], mask, &Whiten::default())?;
/// assert!((out[0] + 1.0).abs() < 1e-7 && out[1] == 0.0 && (out[2] - 1.0).abs() < 1e-7);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn masked_whiten<F: Real>(
    out: &mut [F],
    x: &[F],
    mask: Mask<'_>,
    params: &Whiten<F>,
) -> Result<()> {
    mask.shape().check("out", out.len())?;
    check_masked(x, mask)?;
    let (mean, scale) = whiten_affine(x, mask.bits(), params)?;
    apply_affine(out, x, mean, scale, params.shift_mean);
    crate::error::ensure_output("masked_whiten", out)?;
    Ok(())
}

/// The mean and scale of [`masked_whiten`] for a flat `x` and boolean mask of the same length
/// (only valid positions are read).
pub(crate) fn whiten_affine<F: Real>(
    x: &[F],
    mask: &[bool],
    params: &Whiten<F>,
) -> Result<(f64, f64)> {
    let n = count_true(mask);
    let valid = x
        .iter()
        .zip(mask)
        .filter(|&(_, &m)| m)
        .map(|(x, _)| (x.as_f64(), 1.0));
    whiten_stats(valid, n, params)
}

/// The mean and scale of whitening `(B, T)` data whose valid tokens in row `i` all hold
/// `values[i]` (a per-sequence value broadcast to its `lens[i]` valid tokens), in `O(B)`: the
/// statistics of the tokens, each row weighted by its length.
pub(crate) fn whiten_affine_rows<F: Real>(
    values: &[F],
    lens: impl Iterator<Item = usize> + Clone,
    params: &Whiten<F>,
) -> Result<(f64, f64)> {
    let n: usize = lens.clone().sum();
    let items = values
        .iter()
        .zip(lens)
        .filter(|&(_, l)| l > 0)
        .map(|(v, l)| (v.as_f64(), usize_f64(l)));
    whiten_stats(items, n, params)
}

/// Whitening statistics of weighted values `(x, w)` with total weight `n` (a token count):
/// `μ = Σw·x/(n + count_eps)`, `var = Σw·(x − μ)²/(n + count_eps)` (two passes; equal values
/// give their value and 0 exactly when `count_eps = 0`), Bessel's factor, then the scale.
fn whiten_stats<F: Real, I: Iterator<Item = (f64, f64)> + Clone>(
    items: I,
    n: usize,
    params: &Whiten<F>,
) -> Result<(f64, f64)> {
    if n == 0 {
        return Err(Error::TooFewValid {
            what: "whitening",
            count: 0,
            min: 1,
        });
    }
    let nf = usize_f64(n);
    let ce = params.count_eps.as_f64();
    let (mut sum, mut lo, mut hi) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for (x, w) in items.clone() {
        sum += w * x;
        lo = lo.min(x);
        hi = hi.max(x);
    }
    let (mean, m2) = if ce == 0.0 && lo == hi {
        (lo, 0.0)
    } else {
        let mean = sum / (nf + ce);
        let m2: f64 = items.map(|(x, w)| w * ((x - mean) * (x - mean))).sum();
        (mean, m2)
    };
    if !(sum.is_finite() && m2.is_finite()) {
        return Err(Error::Overflow {
            what: "whitening statistics",
        });
    }
    let var_pop = m2 / (nf + ce);
    let var = if params.unbiased {
        if n > 1 {
            var_pop * nf / (nf - 1.0)
        } else {
            0.0
        }
    } else {
        var_pop
    };
    if !params.scale_by_std {
        return Ok((mean, 1.0));
    }
    let eps = params.eps.as_f64();
    let scale = match params.eps_mode {
        VarEps::AddToVar => 1.0 / Float::sqrt(var + eps),
        VarEps::MaxWithVar => 1.0 / Float::sqrt(var.max(eps)),
        VarEps::AddToStd => 1.0 / (Float::sqrt(var) + eps),
    };
    // With ε = 0 and zero variance the scale is infinite; x − μ is then 0 at valid positions.
    let scale = if scale.is_finite() { scale } else { 0.0 };
    Ok((mean, scale))
}

/// `out = (x − mean)·scale (+ mean)`.
pub(crate) fn apply_affine<F: Real>(out: &mut [F], x: &[F], mean: f64, scale: f64, shift: bool) {
    let add = if shift { 0.0 } else { mean };
    for (o, &v) in out.iter_mut().zip(x) {
        *o = F::lit((v.as_f64() - mean) * scale + add);
    }
}

// ---------------------------------------------------------------------------------------------
// Stable elementwise functions (the softmax family lives in `crate::logits`)
// ---------------------------------------------------------------------------------------------

/// Logistic sigmoid `σ(x) = 1 / (1 + e^{−x})`, computed without overflow for any finite `x`.
///
/// # Examples
/// ```
/// use rewardkit_core::stats::sigmoid;
/// assert_eq!(sigmoid(0.0f64), 0.5);
/// assert!(sigmoid(-1000.0f32) >= 0.0 && sigmoid(1000.0f32) == 1.0);
/// ```
#[inline]
pub fn sigmoid<F: Real>(x: F) -> F {
    if x >= F::ZERO {
        F::ONE / (F::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::ONE + e)
    }
}

/// `softplus(x) = ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^{−|x|})`.
///
/// # Examples
/// ```
/// use rewardkit_core::stats::softplus;
/// assert!((softplus(0.0f64) - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(softplus(1000.0f32), 1000.0);
/// ```
#[inline]
pub fn softplus<F: Real>(x: F) -> F {
    x.max(F::ZERO) + (-x.abs()).exp().ln_1p()
}

/// `ln σ(x) = −softplus(−x)`, finite for every finite `x`.
///
/// # Examples
/// ```
/// use rewardkit_core::stats::log_sigmoid;
/// assert_eq!(log_sigmoid(-1000.0f64), -1000.0);
/// ```
#[inline]
pub fn log_sigmoid<F: Real>(x: F) -> F {
    -softplus(-x)
}

pub use crate::logits::{log_softmax, logsumexp, softmax};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_literals() {
        // Hand-computed: values 2, 4, 4, 4, 5, 5, 7, 9 -> mean 5, m2 = 32, pop var 4, sample 32/7.
        let s = Summary::of(&[2.0f64, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.mean, 5.0);
        assert_eq!(s.m2, 32.0);
        assert_eq!(s.var(0), 4.0);
        assert_eq!(s.var(1), 32.0 / 7.0);
        assert_eq!((s.min, s.max, s.count), (2.0, 9.0, 8));
        assert!(Summary::of::<f64>(&[]).is_err());
        assert!(Summary::of(&[1.0f32, f32::NAN]).is_err());
        assert!(Summary::of(&[f64::MAX, f64::MAX]).is_err());
        assert!(Summary::of(&[3.0f64]).unwrap().var(1).is_nan());
    }

    #[test]
    fn equal_values_have_zero_variance() {
        // 0.1 three times: the f64 sum 0.30000000000000004 / 3 is not 0.1, the rule makes it exact.
        let s = Summary::of(&[0.1f64, 0.1, 0.1]).unwrap();
        assert_eq!(s.mean, 0.1);
        assert_eq!(s.m2, 0.0);
    }

    #[test]
    fn whitening_literals() {
        // x = [1, 2, 3] valid, 7 masked. mean 2, unbiased var 1 -> (x - 2) / sqrt(1 + 1e-8).
        let mask = Mask::new(&[true, true, true, false], 4).unwrap();
        let mut out = [0.0f64; 4];
        masked_whiten(&mut out, &[1.0, 2.0, 3.0, 7.0], mask, &Whiten::default()).unwrap();
        let s = 1.0 / (1.0f64 + 1e-8).sqrt();
        assert_eq!(out, [-s, 0.0, s, 5.0 * s]);
        // Population variance 2/3 with max(var, 1e-8).
        masked_whiten(
            &mut out,
            &[1.0, 2.0, 3.0, 7.0],
            mask,
            &Whiten::from_preset(Preset::OpenRlhf),
        )
        .unwrap();
        let s = 1.0 / (2.0f64 / 3.0).sqrt();
        assert!((out[2] - s).abs() < 1e-15);
        // shift_mean = false adds the mean back.
        let w = Whiten::new(false, true, 0.0, VarEps::AddToVar).unwrap();
        masked_whiten(&mut out, &[1.0, 2.0, 3.0, 7.0], mask, &w).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.0, 7.0]);
        // All masked: an error, not NaN.
        let none = Mask::new(&[false; 4], 4).unwrap();
        assert!(masked_whiten(&mut out, &[1.0, 2.0, 3.0, 7.0], none, &Whiten::default()).is_err());
        assert!(Whiten::<f64>::new(true, true, -1.0, VarEps::AddToVar).is_err());
    }

    #[test]
    fn masked_moments() {
        let mask = Mask::new(&[true, false, true, true], 2).unwrap();
        let x = [1.0f32, 100.0, 2.0, 3.0];
        assert_eq!(masked_sum(&x, mask).unwrap(), 6.0);
        assert_eq!(masked_mean(&x, mask).unwrap(), 2.0);
        assert_eq!(masked_var(&x, mask, true).unwrap(), 1.0);
        assert_eq!(masked_var(&x, mask, false).unwrap(), 2.0 / 3.0);
        let one = Mask::new(&[true, false, false, false], 2).unwrap();
        assert!(masked_var(&x, one, true).is_err());
        assert_eq!(masked_var(&x, one, false).unwrap(), 0.0);
        let none = Mask::new(&[false; 4], 2).unwrap();
        assert!(masked_mean(&x, none).is_err());
        assert_eq!(masked_sum(&x, none).unwrap(), 0.0);
    }

    #[test]
    fn stable_functions() {
        assert_eq!(sigmoid(0.0f32), 0.5);
        assert!((sigmoid(2.0f64) - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-16);
        assert!((sigmoid(-2.0f64) - 1.0 / (1.0 + 2.0f64.exp())).abs() < 1e-16);
        assert_eq!(sigmoid(-800.0f64), 0.0);
        assert_eq!(softplus(-800.0f64), 0.0);
        assert!((log_sigmoid(0.0f64) + 2f64.ln()).abs() < 1e-16);
    }
}
