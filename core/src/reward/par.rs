//! Reward-model shaping: PAR (Preference As Reward) and the baselines of its study, applied in the
//! reference code's order, with the running statistics as caller-owned state.

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, param_finite, param_positive};
use crate::real::{Real, usize_f64};
use crate::stats::{Summary, log_sigmoid, sigmoid};

use super::check_lengths;
use super::compose::{Batch, RewardTerm};

/// Splits `(B, M)` references into rows, checking the shape.
fn ref_rows<F: Real>(refs: &[F], b: usize) -> Result<(usize, core::slice::ChunksExact<'_, F>)> {
    if refs.is_empty() {
        return Err(Error::MissingInput { what: "refs" });
    }
    if b == 0 || refs.len() % b != 0 {
        return Err(Error::BadShape {
            what: "refs",
            len: refs.len(),
            dim: b,
        });
    }
    ensure_finite("refs", refs)?;
    let m = refs.len() / b;
    Ok((m, refs.chunks_exact(m)))
}

/// PAR: the reward-model score as a preference against reference responses (Fu et al.[^1]).
///
/// # Definition
/// With the RM score `r` of a response and the scores `r_ref,1..M` of `M` reference (SFT-policy)
/// responses to the same prompt (the first `M = min(max_refs, available)`):
/// `r_PAR = (1/M)·Σ_m σ(k·(r − r_ref,m))`, and `∂r_PAR/∂r = (k/M)·Σ_m σ_m·(1 − σ_m)`.
/// Centered on the references (`r = r_ref` gives ½) and bounded: `r_PAR ∈ (0, 1)` in exact
/// arithmetic (in floating point `[0, 1]`; strictly inside while `|k·(r − r_ref)| < 36` in `f64`,
/// `< 16` in `f32`). Defaults `k = 1`, `max_refs = 10` (the reference's `sigmoid_k`,
/// `reward_maxref`).
///
/// # Shapes
/// `out`, `grad`, `scores`: `(B)`; `refs`: `(B, M)` row-major.
///
/// # Errors
/// [`Par::new`]: `InvalidParam` for `k ≤ 0` or `max_refs = 0`. Evaluation:
/// [`Error::MissingInput`] without references, [`Error::BadShape`] if their length is not a multiple
/// of `B`, [`Error::LengthMismatch`], [`Error::NonFinite`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Par;
/// let par = Par::<f64>::default();
/// assert_eq!(par.value(1.0, &[1.0])?, 0.5);
/// let (v, g) = par.value_grad(0.0, &[0.0, 2.0])?;
/// // ½·(σ(0) + σ(−2)) and ½·(¼ + σ(−2)·σ(2)).
/// assert!((v - 0.5 * (0.5 + 1.0 / (1.0 + 2f64.exp()))).abs() < 1e-15);
/// assert!(g > 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Fu et al. (2025), *Reward Shaping to Mitigate Reward Hacking in RLHF*, arXiv:2502.18770
///     (`PorUna-byte/PAR`, `trainers/reward_shaper.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Par<F> {
    k: F,
    max_refs: usize,
}

impl<F: Real> Default for Par<F> {
    fn default() -> Self {
        Self {
            k: F::ONE,
            max_refs: 10,
        }
    }
}

impl<F: Real> Par<F> {
    /// Slope `k > 0` and the number of references used, `max_refs >= 1`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(k: F, max_refs: usize) -> Result<Self> {
        if max_refs == 0 {
            return Err(Error::InvalidParam {
                name: "max_refs",
                value: 0.0,
                expected: "at least 1 reference",
            });
        }
        Ok(Self {
            k: param_positive("k", k)?,
            max_refs,
        })
    }

    /// `(r_PAR, ∂r_PAR/∂r)` of one response.
    ///
    /// # Errors
    /// [`Error::MissingInput`] for no references; [`Error::NonFinite`] for NaN/∞.
    pub fn value_grad(&self, r: F, refs: &[F]) -> Result<(F, F)> {
        if refs.is_empty() {
            return Err(Error::MissingInput { what: "refs" });
        }
        ensure_finite("scores", &[r])?;
        ensure_finite("refs", refs)?;
        Ok(self.raw(r.as_f64(), refs))
    }

    /// `r_PAR` of one response.
    ///
    /// # Errors
    /// As [`Par::value_grad`].
    pub fn value(&self, r: F, refs: &[F]) -> Result<F> {
        self.value_grad(r, refs).map(|(v, _)| v)
    }

    #[inline]
    fn raw(&self, r: f64, refs: &[F]) -> (F, F) {
        let m = refs.len().min(self.max_refs);
        let k = self.k.as_f64();
        let (mut s, mut g) = (0.0f64, 0.0f64);
        for rr in refs.iter().take(m) {
            let p = sigmoid(k * (r - rr.as_f64()));
            s += p;
            g += p * (1.0 - p);
        }
        let inv = 1.0 / usize_f64(m.max(1));
        (F::lit(s * inv), F::lit(k * g * inv))
    }

    /// Batch form: `out[i] = r_PAR(scores[i], refs[i, ..])`, and the derivative when `grad` is given.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn rewards(
        &self,
        out: &mut [F],
        mut grad: Option<&mut [F]>,
        scores: &[F],
        refs: &[F],
    ) -> Result<()> {
        ensure_len("out", scores.len(), out.len())?;
        if let Some(g) = grad.as_deref() {
            ensure_len("grad", scores.len(), g.len())?;
        }
        ensure_finite("scores", scores)?;
        let (_, rows) = ref_rows(refs, scores.len())?;
        for (i, ((o, &r), row)) in out.iter_mut().zip(scores).zip(rows).enumerate() {
            let (v, d) = self.raw(r.as_f64(), row);
            *o = v;
            if let Some(slot) = grad.as_deref_mut().and_then(|g| g.get_mut(i)) {
                *slot = d;
            }
        }
        Ok(())
    }
}

impl<F: Real> RewardTerm<F> for Par<F> {
    fn name(&self) -> &'static str {
        "par"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let (refs, _) = batch.refs()?;
        self.rewards(out, None, batch.scores()?, refs)
    }
}

/// The running statistics of the PAR code's `RunningStats` (state owned by the caller).
///
/// # Definition
/// Batch merge (Chan et al.): with batch size `b`, mean `μ_b`, population variance `v_b`, and
/// `δ = μ_b − μ`: `μ ← μ + δ·b/(n + b)`, `M2 ← M2 + v_b·b + δ²·n·b/(n + b)`, `n ← n + b`;
/// variance `M2/n` (0 while `n ≤ 1`); running `min`/`max` start at `+10000`/`−10000` (the
/// reference's). `normalize(r) = (r − μ)/σ` (σ = 0 ⇒ divide by 1); `clip(r) = clamp(r, μ − σ, μ + σ)`;
/// `minmax(r) = (r − min)/(max − min)`, and `½` when `max = min` (the reference divides by zero).
///
/// # Errors
/// [`RunningStats::update`]: [`Error::Empty`], [`Error::NonFinite`], [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::RunningStats;
/// let mut s = RunningStats::new();
/// s.update(&[1.0f64, 3.0])?;
/// s.update(&[5.0f64])?;
/// assert_eq!(s.mean(), 3.0);
/// assert!((s.variance() - 8.0 / 3.0).abs() < 1e-12);
/// assert_eq!(s.minmax(4.0), 0.75);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RunningStats {
    n: u64,
    mean: f64,
    m2: f64,
    max: f64,
    min: f64,
}

impl Default for RunningStats {
    fn default() -> Self {
        Self::new()
    }
}

impl RunningStats {
    /// No observations: `n = 0`, `μ = 0`, `M2 = 0`, `max = −10000`, `min = 10000`.
    pub fn new() -> Self {
        Self {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            max: -10000.0,
            min: 10000.0,
        }
    }

    /// Merges a batch of rewards.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn update<F: Real>(&mut self, rewards: &[F]) -> Result<()> {
        let s = Summary::of(rewards)?;
        self.merge(&s)
    }

    fn merge(&mut self, s: &Summary) -> Result<()> {
        let b = s.count as f64;
        let n = self.n as f64;
        let new_n = n + b;
        let delta = s.mean - self.mean;
        let mean = self.mean + delta * (b / new_n);
        // `δ·(δ·w)`: the cross term is exactly 0 for the first batch (`n = 0`) however large `δ` is.
        let m2 = self.m2 + s.var(0) * b + delta * (delta * (n * b / new_n));
        if !(mean.is_finite() && m2.is_finite()) {
            return Err(Error::Overflow {
                what: "running statistics",
            });
        }
        self.max = self.max.max(s.max);
        self.min = self.min.min(s.min);
        self.mean = mean;
        self.m2 = m2;
        self.n += s.count as u64;
        Ok(())
    }

    /// The state `(n, μ, M2, min, max)`, e.g. to save it; [`RunningStats::from_parts`] restores it
    /// exactly.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::RunningStats;
    /// let mut s = RunningStats::new();
    /// s.update(&[1.0f64, 3.0])?;
    /// assert_eq!(s.parts(), (2, 2.0, 2.0, 1.0, 3.0));
    /// assert_eq!(RunningStats::new().parts(), (0, 0.0, 0.0, 10000.0, -10000.0));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn parts(&self) -> (u64, f64, f64, f64, f64) {
        (self.n, self.mean, self.m2, self.min, self.max)
    }

    /// Restores the state returned by [`RunningStats::parts`] (the Python package pickles
    /// [`RewardShaper`]'s statistics this way).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a non-finite value or a negative `M2`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::RunningStats;
    /// let mut s = RunningStats::new();
    /// s.update(&[1.0f64, 3.0, 7.0])?;
    /// let (n, mean, m2, min, max) = s.parts();
    /// let mut r = RunningStats::from_parts(n, mean, m2, min, max)?;
    /// assert_eq!(r, s);
    /// r.update(&[2.0f64])?;
    /// s.update(&[2.0f64])?;
    /// assert_eq!(r, s);
    /// assert!(RunningStats::from_parts(1, 0.0, -1.0, 0.0, 0.0).is_err());
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn from_parts(n: u64, mean: f64, m2: f64, min: f64, max: f64) -> Result<Self> {
        Ok(Self {
            n,
            mean: param_finite("mean", mean)?,
            m2: crate::error::param_nonneg("m2", m2)?,
            min: param_finite("min", min)?,
            max: param_finite("max", max)?,
        })
    }

    /// Number of observations `n`.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Running mean `μ`.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Population variance `M2/n` (0 while `n ≤ 1`).
    pub fn variance(&self) -> f64 {
        if self.n > 1 {
            self.m2 / self.n as f64
        } else {
            0.0
        }
    }

    /// `sqrt(variance)`.
    pub fn std(&self) -> f64 {
        Float::sqrt(self.variance())
    }

    /// `(r − μ)/σ`, dividing by 1 when `σ = 0`.
    pub fn normalize(&self, r: f64) -> f64 {
        let s = self.std();
        (r - self.mean) / if s > 0.0 { s } else { 1.0 }
    }

    /// `clamp(r, μ − σ, μ + σ)`.
    pub fn clip(&self, r: f64) -> f64 {
        let s = self.std();
        r.max(self.mean - s).min(self.mean + s)
    }

    /// `(r − min)/(max − min)`, `½` when `max = min`.
    pub fn minmax(&self, r: f64) -> f64 {
        let d = self.max - self.min;
        if d == 0.0 { 0.5 } else { (r - self.min) / d }
    }
}

/// The bounded transform applied after normalization (PAR study).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Transform {
    /// No transform (the default).
    #[default]
    None,
    /// `σ(k·r)`; relative: PAR, `(1/M)·Σ σ(k·(r − r_ref,m))`.
    Sigmoid,
    /// `tanh(r)`; relative: `(1/M)·Σ tanh(r − r_ref,m)` (no `k`, as the reference).
    Tanh,
    /// `atan(r)`; relative: `(1/M)·Σ atan(r − r_ref,m)`.
    Arctan,
    /// The reference's quintic least-squares fit of σ on `[−5, 5]` (0 below, 1 above); relative:
    /// averaged over references.
    FittedPoly,
}

/// Coefficients `(x⁵, x³, x¹, x⁰)` of the least-squares quintic fit of `σ(x)` on 100 equispaced
/// points of `[−5, 5]` (`np.linspace(-5, 5, 100)`); the even coefficients vanish by symmetry. The
/// reference obtains them with `scipy.optimize.curve_fit`, whose iterative solution agrees with this
/// exact least-squares solution to its convergence tolerance.
pub(crate) const SIGMOID_POLY: [f64; 4] = [
    2.026_691_698_321_841_4e-4,
    -1.013_091_205_649_203_6e-2,
    0.228_788_511_778_260_98,
    0.5,
];

fn fitted_poly(x: f64) -> f64 {
    if x <= -5.0 {
        0.0
    } else if x >= 5.0 {
        1.0
    } else {
        let [a, c, e, f] = SIGMOID_POLY;
        let x2 = x * x;
        ((a * x2 + c) * x2 + e) * x + f
    }
}

/// The PAR study's reward shaper: the RM-score baselines of the paper, applied in the order of the
/// reference's `RewardShaper.shaped_reward` (Fu et al.[^1]).
///
/// # Definition
/// Each step runs only if enabled, in this order, on the batch of RM scores `r` (`refs` are the
/// first `M = max_refs` references of each row; `L` the response lengths):
/// 1. ceil: `r ← min(r, c)`;
/// 2. length penalty (on by default): `r ← r − λ·(L − L₀)` if `L > L₀` (`λ = 0.01`, `L₀ = 300`);
/// 3. centered: `r ← (1/M)·Σ(r − r_ref,m)`;
/// 4. `SgFc`: `r ← (1/M)·Σ σ(k·((r − 3) − r_ref,m))`;
/// 5. mean/std: update the running statistics with the batch, then `r ← (r − μ)/σ`;
/// 6. clipping: update, then `r ← clamp(r, μ − σ, μ + σ)`;
/// 7. ceil again;
/// 8. min-max: update, then `r ← (r − min)/(max − min)`;
/// 9. the [`Transform`] (relative forms over the references: PAR is `Sigmoid` + relative);
/// 10. LSC (log-sigmoid-centered): `r ← log σ(r − r₈₅)`, `r₈₅ = μ_ref + (s_ref + 10⁻⁵)·Φ⁻¹(0.85)`
///     with `μ_ref`, `s_ref` the mean and sample (Bessel) standard deviation of **all** the row's
///     references (`s_ref = 0` for a single reference).
///
/// Steps 5, 6 and 8 share one [`RunningStats`] (as the reference does) that the caller owns.
/// [`RewardShaper::default`] is the reference configuration's default (length penalty only);
/// [`RewardShaper::par`] adds the PAR transform. Other baselines of the study (WARM's weight
/// averaging, ODIN's and Reg's RM losses) change the reward model, not the reward; an ensemble mean
/// of RM scores is [`Ensemble::Mean`](super::Ensemble::Mean).
///
/// # Shapes
/// `out`, `scores`, `lengths`: `(B)`; `refs`: `(B, M)` row-major or empty.
///
/// # Errors
/// Builders: `InvalidParam` for non-finite values, `k ≤ 0`, `max_refs = 0`. [`RewardShaper::shape`]:
/// [`Error::LengthMismatch`]; [`Error::MissingInput`] for lengths (length penalty) or references
/// (centered, `SgFc`, relative transform, LSC) that a step needs; [`Error::BadShape`];
/// [`Error::NonFinite`]; [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{RewardShaper, RunningStats};
/// let par = RewardShaper::<f64>::par();
/// let mut stats = RunningStats::new();
/// let mut out = [0.0; 2];
/// // Row 0: 310 tokens → −0.1 length penalty; PAR against refs (1, 1).
/// par.shape(&mut out, &[1.1, 2.0], Some(&[310, 100]), &[1.0, 1.0, 2.0, 2.0], &mut stats)?;
/// assert!((out[0] - 0.5).abs() < 1e-12);
/// assert_eq!(out[1], 0.5);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Fu et al. (2025), arXiv:2502.18770 (`trainers/reward_shaper.py`, `configs/config.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RewardShaper<F> {
    ceil: Option<F>,
    length_penalty: Option<(F, u32)>,
    centered: bool,
    sgfc: bool,
    meanstd: bool,
    clipping: bool,
    minmax: bool,
    transform: Transform,
    relative: bool,
    lsc: bool,
    k: F,
    max_refs: usize,
}

impl<F: Real> Default for RewardShaper<F> {
    fn default() -> Self {
        Self {
            ceil: None,
            length_penalty: Some((F::lit(0.01), 300)),
            centered: false,
            sgfc: false,
            meanstd: false,
            clipping: false,
            minmax: false,
            transform: Transform::None,
            relative: false,
            lsc: false,
            k: F::ONE,
            max_refs: 10,
        }
    }
}

/// `Φ⁻¹(0.85)` of the standard normal distribution.
const Z85: f64 = 1.036_433_389_493_789_8;

impl<F: Real> RewardShaper<F> {
    /// PAR as run in the paper: the default length penalty, then `Sigmoid` relative to references.
    pub fn par() -> Self {
        Self {
            transform: Transform::Sigmoid,
            relative: true,
            ..Self::default()
        }
    }

    /// Sets the ceiling `c` (applied at steps 1 and 7), or none.
    ///
    /// # Errors
    /// `InvalidParam` for a non-finite ceiling.
    pub fn with_ceil(mut self, ceil: Option<F>) -> Result<Self> {
        self.ceil = match ceil {
            Some(c) => Some(param_finite("ceil", c)?),
            None => None,
        };
        Ok(self)
    }

    /// Sets the length penalty `(λ, L₀)`, or none.
    ///
    /// # Errors
    /// `InvalidParam` for a negative or non-finite `λ`.
    pub fn with_length_penalty(mut self, penalty: Option<(F, u32)>) -> Result<Self> {
        self.length_penalty = match penalty {
            Some((c, l)) => Some((crate::error::param_nonneg("len_penalty", c)?, l)),
            None => None,
        };
        Ok(self)
    }

    /// Enables steps 3–6 and 8: `(centered, sgfc, meanstd, clipping, minmax)`.
    pub fn with_steps(
        mut self,
        centered: bool,
        sgfc: bool,
        meanstd: bool,
        clipping: bool,
        minmax: bool,
    ) -> Self {
        (
            self.centered,
            self.sgfc,
            self.meanstd,
            self.clipping,
            self.minmax,
        ) = (centered, sgfc, meanstd, clipping, minmax);
        self
    }

    /// Sets the transform, whether it is relative to references, and LSC.
    pub fn with_transform(mut self, transform: Transform, relative: bool, lsc: bool) -> Self {
        (self.transform, self.relative, self.lsc) = (transform, relative, lsc);
        self
    }

    /// Sets the sigmoid slope `k > 0` and the number of references `max_refs >= 1`.
    ///
    /// # Errors
    /// `InvalidParam` for `k ≤ 0` or `max_refs = 0`.
    pub fn with_refs(mut self, k: F, max_refs: usize) -> Result<Self> {
        let p = Par::new(k, max_refs)?;
        (self.k, self.max_refs) = (p.k, p.max_refs);
        Ok(self)
    }

    fn needs_refs(&self) -> bool {
        self.centered
            || self.sgfc
            || self.lsc
            || (self.relative && self.transform != Transform::None)
    }

    /// Shapes a batch of RM scores, updating `stats` where the steps need it.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn shape(
        &self,
        out: &mut [F],
        scores: &[F],
        lengths: Option<&[u32]>,
        refs: &[F],
        stats: &mut RunningStats,
    ) -> Result<()> {
        let b = scores.len();
        ensure_len("out", b, out.len())?;
        crate::error::ensure_nonempty("scores", b)?;
        ensure_finite("scores", scores)?;
        if let Some(l) = lengths {
            ensure_len("lengths", b, l.len())?;
            check_lengths("lengths", l)?;
        }
        let m_all = if self.needs_refs() {
            ref_rows(refs, b)?.0
        } else {
            0
        };
        let row = |i: usize| refs.get(i * m_all..(i + 1) * m_all).unwrap_or(&[]);
        let first = |i: usize| {
            let r = row(i);
            r.get(..r.len().min(self.max_refs)).unwrap_or(r)
        };
        let k = self.k.as_f64();
        let mean_over = |i: usize, f: &dyn Fn(f64) -> f64| -> f64 {
            let r = first(i);
            r.iter().map(|x| f(x.as_f64())).sum::<f64>() / usize_f64(r.len().max(1))
        };
        let ceil = self.ceil.map(Real::as_f64);
        for (o, &s) in out.iter_mut().zip(scores) {
            *o = s;
        }
        let apply = |out: &mut [F], f: &dyn Fn(usize, f64) -> f64| -> Result<()> {
            for (i, o) in out.iter_mut().enumerate() {
                let v = f(i, o.as_f64());
                *o = super::compose::finite_or_overflow(v, "shaped reward")?;
            }
            Ok(())
        };
        if let Some(c) = ceil {
            apply(out, &|_, r| r.min(c))?;
        }
        if let Some((coef, valid)) = self.length_penalty {
            let lengths = lengths.ok_or(Error::MissingInput { what: "lengths" })?;
            let coef = coef.as_f64();
            apply(out, &|i, r| {
                let l = lengths.get(i).copied().unwrap_or(0);
                if l > valid {
                    r - coef * f64::from(l - valid)
                } else {
                    r
                }
            })?;
        }
        if self.centered {
            apply(out, &|i, r| mean_over(i, &|x| r - x))?;
        }
        if self.sgfc {
            apply(out, &|i, r| mean_over(i, &|x| sigmoid(k * ((r - 3.0) - x))))?;
        }
        if self.meanstd {
            stats.update(out)?;
            let st = *stats;
            apply(out, &|_, r| st.normalize(r))?;
        }
        if self.clipping {
            stats.update(out)?;
            let st = *stats;
            apply(out, &|_, r| st.clip(r))?;
        }
        if let Some(c) = ceil {
            apply(out, &|_, r| r.min(c))?;
        }
        if self.minmax {
            stats.update(out)?;
            let st = *stats;
            apply(out, &|_, r| st.minmax(r))?;
        }
        let rel = self.relative;
        match self.transform {
            Transform::None => {}
            Transform::Sigmoid if rel => {
                apply(out, &|i, r| mean_over(i, &|x| sigmoid(k * (r - x))))?
            }
            Transform::Sigmoid => apply(out, &|_, r| sigmoid(k * r))?,
            Transform::Tanh if rel => apply(out, &|i, r| mean_over(i, &|x| Float::tanh(r - x)))?,
            Transform::Tanh => apply(out, &|_, r| Float::tanh(r))?,
            Transform::Arctan if rel => apply(out, &|i, r| mean_over(i, &|x| Float::atan(r - x)))?,
            Transform::Arctan => apply(out, &|_, r| Float::atan(r))?,
            Transform::FittedPoly if rel => {
                apply(out, &|i, r| mean_over(i, &|x| fitted_poly(r - x)))?
            }
            Transform::FittedPoly => apply(out, &|_, r| fitted_poly(r))?,
        }
        if self.lsc {
            apply(out, &|i, r| {
                let s = Summary::from_iter(row(i).iter().map(|x| x.as_f64()));
                let sd = if s.count > 1 { s.std(1) } else { 0.0 };
                let r85 = s.mean + (sd + 1e-5) * Z85;
                log_sigmoid(r - r85)
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poly_matches_sigmoid_roughly() {
        // The fit is within 0.02 of σ on [−5, 5] and exactly ½ at 0.
        assert_eq!(fitted_poly(0.0), 0.5);
        for i in -50..=50 {
            let x = f64::from(i) / 10.0;
            assert!((fitted_poly(x) - sigmoid(x)).abs() < 0.02, "{x}");
        }
        assert_eq!(fitted_poly(-6.0), 0.0);
        assert_eq!(fitted_poly(5.0), 1.0);
    }

    #[test]
    fn minmax_guard_and_stats() {
        let mut s = RunningStats::new();
        assert_eq!(s.variance(), 0.0);
        s.update(&[2.0f64]).unwrap();
        // min = 2, max = 2 after one value: max − min = 0 → ½.
        assert_eq!(s.minmax(2.0), 0.5);
        assert_eq!(s.normalize(5.0), 3.0); // σ = 0 → divide by 1
        assert!(s.update::<f64>(&[]).is_err());
    }

    #[test]
    fn lsc_hand_value() {
        // refs (0, 2): μ = 1, s = √2; r₈₅ = 1 + (√2 + 1e-5)·1.0364…; r = r₈₅ → log ½.
        let sh = RewardShaper::<f64>::default()
            .with_length_penalty(None)
            .unwrap()
            .with_transform(Transform::None, false, true);
        let r85 = 1.0 + (2f64.sqrt() + 1e-5) * Z85;
        let mut out = [0.0];
        sh.shape(
            &mut out,
            &[r85],
            None,
            &[0.0, 2.0],
            &mut RunningStats::new(),
        )
        .unwrap();
        assert!((out[0] - 0.5f64.ln()).abs() < 1e-12);
    }
}
