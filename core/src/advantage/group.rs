//! Group-relative outcome advantages: one scalar score per sample, a baseline from the other samples
//! of the same prompt. GRPO (with Dr. GRPO and TRL's `scale_rewards`), pass@k, RLOO, the plain group
//! mean baseline (REINFORCE++-baseline), OPO and GPG.

use num_traits::Float;

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::error::{Error, Result, ensure_finite, ensure_len, param_nonneg, param_positive};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor};
use crate::real::{Real, usize_f64};
use crate::stats::Summary;

/// What a group of one sample gets (it has no other sample to compare with).
///
/// | variant | advantage | used by |
/// |---|---|---|
/// | `Zero` | `0` (no signal) | rewardkit default; TRL (NaN std, then `nan_to_num`); verl `rloo_vectorized` |
/// | `Raw` | the baseline is 0 and the scale 1: `R` (GRPO: `R/(1+ε)`, with `1 + ε` rounded to `f32` as verl's float32 `std` tensor) | verl `grpo`, `rloo`, `gpg`, `opo`, `reinforce_plus_plus_baseline` |
/// | `Error` | [`Error::GroupTooSmall`] | OpenRLHF (asserts `n_samples_per_prompt > 1`) |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Singleton {
    /// Advantage 0.
    #[default]
    Zero,
    /// Baseline 0, scale 1 (verl).
    Raw,
    /// An error.
    Error,
}

impl Singleton {
    #[inline]
    fn check(self, group: usize, size: usize) -> Result<()> {
        if size == 1 && self == Self::Error {
            Err(Error::GroupTooSmall {
                group,
                size,
                min: 2,
            })
        } else {
            Ok(())
        }
    }
}

/// How GRPO scales the centred reward (TRL's `scale_rewards`; verl's `norm_adv_by_std_in_grpo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Scale {
    /// Divide by the group's standard deviation plus `ε` (GRPO; TRL `"group"`; verl `True`).
    #[default]
    Group,
    /// Divide by the whole batch's standard deviation plus `ε` (TRL `"batch"`, PPO-Lite).
    Batch,
    /// No division: `R − mean_g` (Dr. GRPO; TRL `"none"`; verl `False`).
    None,
}

/// GRPO parameters.
///
/// # Definition
/// `Aᵢ = (Rᵢ − μ_g) / (σ + ε)` with `μ_g` the mean of sample `i`'s group and `σ` the sample (Bessel)
/// standard deviation of the group ([`Scale::Group`]) or of the batch ([`Scale::Batch`]);
/// `Aᵢ = Rᵢ − μ_g` with [`Scale::None`] (Dr. GRPO). Statistics are two-pass in `f64`; a group of equal
/// rewards gets exactly 0. Singletons follow [`Singleton`].
///
/// Defaults: `Scale::Group`, `ε = 1e-6` (verl's), `Singleton::Zero`.
///
/// # Examples
/// ```
/// use rewardkit_core::advantage::{Grpo, Scale, Singleton};
/// let dr_grpo = Grpo::<f32>::new(Scale::None, 0.0, Singleton::Zero)?;
/// assert_eq!(Grpo::<f32>::default().scale(), Scale::Group);
/// # let _ = dr_grpo;
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Grpo<F> {
    scale: Scale,
    eps: F,
    singleton: Singleton,
}

impl<F: Real> Default for Grpo<F> {
    fn default() -> Self {
        Self {
            scale: Scale::Group,
            eps: F::lit(1e-6),
            singleton: Singleton::Zero,
        }
    }
}

impl<F: Real> Grpo<F> {
    /// GRPO with the given scaling, epsilon (added to the standard deviation) and singleton rule.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `eps` is negative or not finite.
    pub fn new(scale: Scale, eps: F, singleton: Singleton) -> Result<Self> {
        Ok(Self {
            scale,
            eps: param_nonneg("eps", eps)?,
            singleton,
        })
    }

    /// The scaling mode.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// The epsilon added to the standard deviation.
    pub fn eps(&self) -> F {
        self.eps
    }

    /// The singleton rule.
    pub fn singleton(&self) -> Singleton {
        self.singleton
    }
}

/// `(x − mean)/(std + eps)` in `f64`, with `0/0 = 0` (a zero-variance group with `ε = 0`).
#[inline(always)]
fn normalize(x: f64, mean: f64, denom: f64) -> f64 {
    let c = x - mean;
    if c == 0.0 { 0.0 } else { c / denom }
}

/// `1/denom`, or 0 when `denom` is 0 (then every centred value is 0 as well).
#[inline(always)]
fn recip(denom: f64) -> f64 {
    if denom > 0.0 { 1.0 / denom } else { 0.0 }
}

/// Moments of one group accumulated in one pass, in ascending row order, shifted by the group's
/// first value: `d = x − shift`, `s1 = Σd`, `s2 = Σd²`, `m2 = s2 − s1²/n`.
///
/// Shifting by a member of the group bounds the cancellation in `m2` by a factor `2n` (in `f64`
/// the error is far below `f32` resolution), and a group of equal values gives `s2 = 0` exactly,
/// hence a mean equal to the value and a zero spread. Every layout accumulates each group
/// sequentially in ascending row order, so a group gives bit-identical statistics whether its rows
/// are contiguous or scattered.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Moments {
    pub(crate) n: usize,
    pub(crate) shift: f64,
    pub(crate) s1: f64,
    pub(crate) s2: f64,
}

impl Moments {
    #[inline(always)]
    pub(crate) fn new(shift: f64) -> Self {
        Self {
            n: 0,
            shift,
            s1: 0.0,
            s2: 0.0,
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, x: f64) {
        let d = x - self.shift;
        self.s1 += d;
        self.s2 += d * d;
        self.n += 1;
    }

    /// The moments of `xs` in iteration order, shifted by the first value.
    #[inline(always)]
    pub(crate) fn of<I: Iterator<Item = f64> + Clone>(xs: I) -> Self {
        let mut it = xs.clone();
        let mut m = Self::new(it.next().unwrap_or(0.0));
        for x in xs {
            m.push(x);
        }
        m
    }

    #[inline(always)]
    pub(crate) fn finite(&self) -> bool {
        self.s1.is_finite() && self.s2.is_finite() && self.shift.is_finite()
    }

    #[inline(always)]
    pub(crate) fn mean(&self) -> f64 {
        if self.s2 == 0.0 || self.n == 0 {
            self.shift
        } else {
            self.shift + self.s1 / usize_f64(self.n)
        }
    }

    /// `Σ(x − mean)² = s2 − s1·(s1/n)`.
    #[inline(always)]
    pub(crate) fn m2(&self) -> f64 {
        if self.s2 == 0.0 || self.n == 0 {
            0.0
        } else {
            (self.s2 - self.s1 * (self.s1 / usize_f64(self.n))).max(0.0)
        }
    }

    /// Sample (Bessel) standard deviation; 0 for `n < 2`.
    #[inline(always)]
    pub(crate) fn std(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            Float::sqrt(self.m2() / usize_f64(self.n - 1))
        }
    }
}

/// The error for non-finite group statistics: the first NaN/∞ input, or an overflow.
#[cold]
fn non_finite<F: Real>(scores: &[F]) -> Error {
    match scores.iter().position(|x| !x.is_finite()) {
        Some(index) => Error::NonFinite {
            what: "scores",
            index,
        },
        None => Error::Overflow {
            what: "group statistics",
        },
    }
}

/// `Ok` when every advantage written was finite, else [`Error::Overflow`] (finite rewards whose
/// advantage exceeds the float range, for example an `f32` RLOO advantage beyond `f32::MAX`).
#[inline(always)]
fn finite_outputs(ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Overflow {
            what: "advantages (beyond the float range)",
        })
    }
}

/// Applies `coef` to one contiguous group's moments and writes its advantages; an advantage beyond
/// the float range is an [`Error::Overflow`].
#[inline(always)]
fn affine_slice<F: Real>(
    o: &mut [F],
    x: &[F],
    g: usize,
    m: &Moments,
    coef: &mut impl FnMut(usize, &Moments) -> Result<(f64, f64)>,
) -> Result<()> {
    if !m.finite() {
        return Err(non_finite(x));
    }
    let (a, b) = coef(g, m)?;
    let mut ok = true;
    for (o, &v) in o.iter_mut().zip(x) {
        *o = F::lit((v.as_f64() - a) * b);
        ok &= o.is_finite();
    }
    finite_outputs(ok)
}

/// [`group_affine`] for contiguous blocks of `k` rows: four groups are accumulated side by side
/// (independent dependency chains; each group still sequential in ascending row order).
fn uniform_affine<F: Real>(
    out: &mut [F],
    scores: &[F],
    k: usize,
    coef: &mut impl FnMut(usize, &Moments) -> Result<(f64, f64)>,
) -> Result<()> {
    let mut g = 0usize;
    let mut o4 = out.chunks_exact_mut(4 * k);
    let mut x4 = scores.chunks_exact(4 * k);
    for (o, x) in (&mut o4).zip(&mut x4) {
        let (x0, rest) = x.split_at(k);
        let (x1, rest) = rest.split_at(k);
        let (x2, x3) = rest.split_at(k);
        let first = |v: &[F]| v.first().map_or(0.0, |f| f.as_f64());
        let mut m = [
            Moments::new(first(x0)),
            Moments::new(first(x1)),
            Moments::new(first(x2)),
            Moments::new(first(x3)),
        ];
        for (((&a, &b), &c), &d) in x0.iter().zip(x1).zip(x2).zip(x3) {
            let [m0, m1, m2, m3] = &mut m;
            m0.push(a.as_f64());
            m1.push(b.as_f64());
            m2.push(c.as_f64());
            m3.push(d.as_f64());
        }
        for (l, ((o, x), mm)) in o
            .chunks_exact_mut(k)
            .zip(x.chunks_exact(k))
            .zip(&m)
            .enumerate()
        {
            affine_slice(o, x, g + l, mm, coef).map_err(|e| fix_error(e, scores))?;
        }
        g += 4;
    }
    for (o, x) in o4
        .into_remainder()
        .chunks_exact_mut(k)
        .zip(x4.remainder().chunks_exact(k))
    {
        let m = Moments::of(x.iter().map(|v| v.as_f64()));
        affine_slice(o, x, g, &m, coef).map_err(|e| fix_error(e, scores))?;
        g += 1;
    }
    Ok(())
}

/// Replaces a group-local non-finite error by the batch-wide one (first offending row).
#[cold]
fn fix_error<F: Real>(e: Error, scores: &[F]) -> Error {
    match e {
        Error::NonFinite { what: "scores", .. } => non_finite(scores),
        other => other,
    }
}

/// [`group_affine`] for the scattered layout: one sequential pass accumulates every group into a
/// `(G)` table (each group in ascending row order, as in every other path, so a group's statistics
/// are bit-identical whatever the layout), a second sequential pass maps the rows. Only the small
/// tables are accessed at random, and nothing of size `B` is allocated.
#[cfg(feature = "alloc")]
fn scattered_affine<F: Real>(
    out: &mut [F],
    scores: &[F],
    ids: &[u32],
    firsts: impl Iterator<Item = usize>,
    coef: &mut impl FnMut(usize, &Moments) -> Result<(f64, f64)>,
) -> Result<()> {
    let mut acc: Vec<Moments> = firsts
        .map(|r| Moments::new(scores.get(r).map_or(0.0, |x| x.as_f64())))
        .collect();
    for (&x, &id) in scores.iter().zip(ids) {
        if let Some(m) = acc.get_mut(id as usize) {
            m.push(x.as_f64());
        }
    }
    let mut table = Vec::with_capacity(acc.len());
    for (g, m) in acc.iter().enumerate() {
        if !m.finite() {
            return Err(non_finite(scores));
        }
        table.push(coef(g, m)?);
    }
    let mut ok = true;
    for ((o, &x), &id) in out.iter_mut().zip(scores).zip(ids) {
        let (a, b) = table.get(id as usize).copied().unwrap_or((0.0, 0.0));
        *o = F::lit((x.as_f64() - a) * b);
        ok &= o.is_finite();
    }
    finite_outputs(ok)
}

/// Per-group affine maps `Aᵢ = (xᵢ − a_g)·b_g`, with `(a_g, b_g) = coef(g, moments_g)`.
///
/// The hot path of GRPO, Dr. GRPO, RLOO and GPG, on every layout with the same per-group
/// arithmetic.
fn group_affine<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    mut coef: impl FnMut(usize, &Moments) -> Result<(f64, f64)>,
) -> Result<()> {
    groups.check_rows("scores", scores.len())?;
    ensure_len("out", scores.len(), out.len())?;
    if let Some(k) = groups.uniform_size() {
        return uniform_affine(out, scores, k, &mut coef);
    }
    #[cfg(feature = "alloc")]
    if let Some((ids, offsets, order)) = groups.scattered_parts() {
        let firsts = offsets.windows(2).map(|w| {
            w.first()
                .and_then(|&a| order.get(a as usize))
                .map_or(0, |&r| r as usize)
        });
        return scattered_affine(out, scores, ids, firsts, &mut coef);
    }
    struct V<'a, F, C> {
        out: &'a mut [F],
        scores: &'a [F],
        coef: C,
    }
    impl<F: Real, C: FnMut(usize, &Moments) -> Result<(f64, f64)>> GroupVisitor for V<'_, F, C> {
        #[inline(always)]
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let m = Moments::of(rows.values(self.scores).map(Real::as_f64));
            if !m.finite() {
                return Err(non_finite(self.scores));
            }
            let (a, b) = (self.coef)(g, &m)?;
            rows.map(self.out, self.scores, |x| F::lit((x.as_f64() - a) * b));
            Ok(())
        }
    }
    groups.visit(&mut V {
        out: &mut *out,
        scores,
        coef: &mut coef,
    })?;
    crate::error::ensure_output("advantages (beyond the float range)", out)
}

/// Checks a per-row score vector against the groups.
pub(crate) fn check_scores<F: Real>(
    out_len: usize,
    scores: &[F],
    groups: &GroupIndex<'_>,
) -> Result<()> {
    groups.check_rows("scores", scores.len())?;
    ensure_len("out", scores.len(), out_len)?;
    ensure_finite("scores", scores)
}

/// GRPO advantages (Shao et al., 2024), with Dr. GRPO (Liu et al., 2025) and TRL's batch scaling.
///
/// # Definition
/// See [`Grpo`]: `Aᵢ = (Rᵢ − μ_g) / (σ + ε)`, or `Rᵢ − μ_g`.
///
/// # Shapes
/// `out`, `scores`: `(B)`, rows grouped by `groups`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for a NaN/∞ score; [`Error::GroupTooSmall`] for a
/// singleton with [`Singleton::Error`]; [`Error::Overflow`] if a group's statistics overflow.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Grpo, grpo}};
/// let groups = GroupIndex::uniform(4, 4)?;
/// let mut adv = [0.0f64; 4];
/// grpo(&mut adv, &[1.0, 0.0, 0.0, 0.0], &groups, &Grpo::default())?;
/// // mean 1/4, sample std 1/2: A = (1 − 1/4)/(1/2 + 1e-6)
/// assert!((adv[0] - 0.75 / (0.5 + 1e-6)).abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Shao et al. (2024), *DeepSeekMath*, arXiv:2402.03300 (GRPO).
///
/// [^2]: Liu et al. (2025), *Understanding R1-Zero-Like Training*, arXiv:2503.20783 (Dr. GRPO).
pub fn grpo<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    params: &Grpo<F>,
) -> Result<()> {
    groups.check_rows("scores", scores.len())?;
    let batch_std = if params.scale == Scale::Batch {
        let m = Moments::of(scores.iter().map(|x| x.as_f64()));
        if !m.finite() {
            return Err(non_finite(scores));
        }
        m.std()
    } else {
        0.0
    };
    let eps = params.eps.as_f64();
    let (scale, singleton) = (params.scale, params.singleton);
    group_affine(out, scores, groups, |g, m| {
        singleton.check(g, m.n)?;
        let denom = match scale {
            // verl's singleton std is `torch.tensor(1.0)`, a float32 tensor: `1 + ε` in float32.
            Scale::Group if m.n == 1 => {
                crate::preset::round_f32(1.0 + crate::preset::round_f32(eps))
            }
            Scale::Group => m.std() + eps,
            Scale::Batch => batch_std + eps,
            Scale::None => 1.0,
        };
        Ok(match (m.n, singleton) {
            (1, Singleton::Raw) => (0.0, recip(denom)),
            (1, _) => (m.shift, 0.0),
            _ => (m.mean(), recip(denom)),
        })
    })
}

/// Pass@k advantage (verl `grpo_passk`; Chen et al., 2025, arXiv:2503.19595).
///
/// # Definition
/// In each group only the best sample gets a signal: `A = R₍₁₎ − R₍₂₎` (the gap between the largest
/// and second-largest reward), divided by `σ_g + ε` when `scale_by_std`; every other sample gets 0. Ties
/// for the maximum go to the first row in ascending row order (then the gap is 0).
///
/// # Shapes
/// `out`, `scores`: `(B)`.
///
/// # Errors
/// As [`grpo`], plus [`Error::GroupTooSmall`] for any group of fewer than 2 samples and
/// [`Error::InvalidParam`] for a negative `eps`.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::grpo_passk};
/// let groups = GroupIndex::uniform(3, 3)?;
/// let mut adv = [0.0f64; 3];
/// grpo_passk(&mut adv, &[0.2, 1.0, 0.5], &groups, false, 0.0)?;
/// assert_eq!(adv, [0.0, 0.5, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn grpo_passk<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    scale_by_std: bool,
    eps: F,
) -> Result<()> {
    check_scores(out.len(), scores, groups)?;
    let eps = param_nonneg("eps", eps)?.as_f64();
    struct V<'a, F> {
        out: &'a mut [F],
        scores: &'a [F],
        scale_by_std: bool,
        eps: f64,
    }
    impl<F: Real> GroupVisitor for V<'_, F> {
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let n = rows.len();
            if n < 2 {
                return Err(Error::GroupTooSmall {
                    group: g,
                    size: n,
                    min: 2,
                });
            }
            // Best and second best (first occurrence wins ties).
            let mut best = (f64::NEG_INFINITY, usize::MAX);
            let mut second = f64::NEG_INFINITY;
            for (row, x) in rows.rows().zip(rows.values(self.scores)) {
                let x = x.as_f64();
                if x > best.0 {
                    second = best.0;
                    best = (x, row);
                } else if x > second {
                    second = x;
                }
            }
            let mut adv = best.0 - second;
            if self.scale_by_std {
                let s = Summary::from_iter(rows.values(self.scores).map(Real::as_f64));
                s.check("group statistics")?;
                adv = normalize(adv, 0.0, s.std(1) + self.eps);
            }
            let adv = F::lit(adv);
            rows.fill(self.out, |row| if row == best.1 { adv } else { F::ZERO });
            Ok(())
        }
    }
    groups.visit(&mut V {
        out: &mut *out,
        scores,
        scale_by_std,
        eps,
    })?;
    crate::error::ensure_output("grpo_passk", out)
}

/// RLOO advantage (Ahmadian et al., 2024, arXiv:2402.14740; Kool et al., 2019).
///
/// # Definition
/// `Aᵢ = Rᵢ − (1/(n−1))·Σ_{j≠i} R_j = (n/(n−1))·(Rᵢ − μ_g)` for a group of `n >= 2`; singletons
/// follow [`Singleton`] (`Raw` gives `Rᵢ`).
///
/// # Shapes
/// `out`, `scores`: `(B)`.
///
/// # Errors
/// As [`grpo`].
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Singleton, rloo}};
/// let groups = GroupIndex::uniform(3, 3)?;
/// let mut adv = [0.0f64; 3];
/// rloo(&mut adv, &[1.0, 0.0, 2.0], &groups, Singleton::Zero)?;
/// assert_eq!(adv, [0.0, -1.5, 1.5]); // 1 − (0+2)/2, 0 − (1+2)/2, 2 − (1+0)/2
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn rloo<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    singleton: Singleton,
) -> Result<()> {
    group_affine(out, scores, groups, |g, m| {
        singleton.check(g, m.n)?;
        Ok(match (m.n, singleton) {
            (1, Singleton::Raw) => (0.0, 1.0),
            (1, _) => (m.shift, 0.0),
            (n, _) => (m.mean(), usize_f64(n) / usize_f64(n - 1)),
        })
    })
}

/// Group-mean baseline `Aᵢ = Rᵢ − μ_g` (Dr. GRPO without scaling; the first step of
/// REINFORCE++-baseline, Hu, 2025, arXiv:2501.03262).
///
/// # Shapes
/// `out`, `scores`: `(B)`.
///
/// # Errors
/// As [`grpo`].
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Singleton, group_mean_baseline}};
/// let groups = GroupIndex::new(&[0, 1, 0], 2)?;
/// let mut adv = [0.0f32; 3];
/// group_mean_baseline(&mut adv, &[1.0, 5.0, 3.0], &groups, Singleton::Raw)?;
/// assert_eq!(adv, [-1.0, 5.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn group_mean_baseline<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    singleton: Singleton,
) -> Result<()> {
    let p = Grpo {
        scale: Scale::None,
        eps: F::ZERO,
        singleton,
    };
    grpo(out, scores, groups, &p)
}

/// OPO advantage: a length-weighted group baseline (Hao et al., 2025, arXiv:2505.23585; verl `opo`).
///
/// # Definition
/// `b_g = Σ_{j∈g} L_j·R_j / Σ_{j∈g} L_j`, `Aᵢ = Rᵢ − b_g`, with `L` the response lengths. A group
/// whose lengths sum to 0 uses the plain mean. Singletons follow [`Singleton`].
///
/// # Shapes
/// `out`, `scores`, `lengths`: `(B)`.
///
/// # Errors
/// As [`grpo`], plus [`Error::InvalidParam`] for a negative or non-finite length.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Singleton, opo}};
/// let groups = GroupIndex::uniform(2, 2)?;
/// let mut adv = [0.0f64; 2];
/// opo(&mut adv, &[1.0, 0.0], &[1.0, 3.0], &groups, Singleton::Zero)?;
/// assert_eq!(adv, [0.75, -0.25]); // b = (1·1 + 3·0)/4
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn opo<F: Real>(
    out: &mut [F],
    scores: &[F],
    lengths: &[F],
    groups: &GroupIndex<'_>,
    singleton: Singleton,
) -> Result<()> {
    check_scores(out.len(), scores, groups)?;
    groups.check_rows("lengths", lengths.len())?;
    if let Some(i) = lengths
        .iter()
        .position(|l| !(l.is_finite() && *l >= F::ZERO))
    {
        return Err(Error::InvalidParam {
            name: "lengths",
            value: lengths.get(i).map_or(f64::NAN, |l| l.as_f64()),
            expected: "finite lengths >= 0",
        });
    }
    struct V<'a, F> {
        out: &'a mut [F],
        scores: &'a [F],
        lengths: &'a [F],
        singleton: Singleton,
    }
    impl<F: Real> GroupVisitor for V<'_, F> {
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let n = rows.len();
            self.singleton.check(g, n)?;
            let b = if n == 1 {
                if self.singleton == Singleton::Zero {
                    rows.fill(self.out, |_| F::ZERO);
                    return Ok(());
                }
                0.0
            } else {
                // Shifted by the group's first score, so equal scores give exactly that score.
                let shift = rows.values(self.scores).next().map_or(0.0, |r| r.as_f64());
                let (mut num, mut den) = (0.0f64, 0.0f64);
                for (r, l) in rows.values(self.scores).zip(rows.values(self.lengths)) {
                    num += l.as_f64() * (r.as_f64() - shift);
                    den += l.as_f64();
                }
                if den > 0.0 {
                    if num == 0.0 { shift } else { shift + num / den }
                } else {
                    Summary::from_iter(rows.values(self.scores).map(Real::as_f64)).mean
                }
            };
            if !b.is_finite() {
                return Err(Error::Overflow {
                    what: "OPO baseline",
                });
            }
            rows.map(self.out, self.scores, |x| {
                F::lit(normalize(x.as_f64(), b, 1.0))
            });
            Ok(())
        }
    }
    groups.visit(&mut V {
        out: &mut *out,
        scores,
        lengths,
        singleton,
    })?;
    crate::error::ensure_output("opo", out)
}

/// GPG advantage (Chu et al., 2025, arXiv:2504.02546; verl `gpg`).
///
/// # Definition
/// `Aᵢ = α·(Rᵢ − μ_g)/f_norm` with `α = B / max(#{i : Rᵢ ≠ 0}, 1)`, the batch size over the number of
/// non-zero rewards (verl counts non-zero *rewards*, not informative groups). Singletons follow
/// [`Singleton`].
///
/// # Shapes
/// `out`, `scores`: `(B)`.
///
/// # Errors
/// As [`grpo`], plus [`Error::InvalidParam`] unless `f_norm > 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Singleton, gpg}};
/// let groups = GroupIndex::uniform(4, 2)?;
/// let mut adv = [0.0f64; 4];
/// gpg(&mut adv, &[1.0, 0.0, 0.0, 0.0], &groups, 1.0, Singleton::Zero)?;
/// assert_eq!(adv, [2.0, -2.0, 0.0, 0.0]); // α = 4/1
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn gpg<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    f_norm: F,
    singleton: Singleton,
) -> Result<()> {
    gpg_impl(out, scores, groups, f_norm, singleton, false)
}

/// [`gpg`], optionally with `α` rounded to `f32` (verl divides two integer tensors, which gives
/// `float32`).
pub(crate) fn gpg_impl<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    f_norm: F,
    singleton: Singleton,
    alpha_f32: bool,
) -> Result<()> {
    let f_norm = param_positive("f_norm", f_norm)?;
    group_mean_baseline(out, scores, groups, singleton)?;
    let nonzero = scores.iter().filter(|&&x| x != F::ZERO).count();
    let mut alpha = usize_f64(scores.len()) / usize_f64(nonzero.max(1));
    if alpha_f32 {
        alpha = crate::preset::round_f32(alpha);
    }
    let alpha = alpha / f_norm.as_f64();
    for o in out.iter_mut() {
        *o = F::lit(o.as_f64() * alpha);
    }
    crate::error::ensure_output("gpg", out)
}

/// Sample standard deviation of each row's group, written per row (a logging helper, like
/// OpenRLHF's `group_reward_std` and TRL's `std_rewards`); singletons get 0.
///
/// # Shapes
/// `out`, `scores`: `(B)`.
///
/// # Errors
/// As [`grpo`].
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::group_std};
/// let groups = GroupIndex::uniform(2, 2)?;
/// let mut sd = [0.0f64; 2];
/// group_std(&mut sd, &[1.0, 3.0], &groups)?;
/// assert_eq!(sd, [2f64.sqrt(); 2]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn group_std<F: Real>(out: &mut [F], scores: &[F], groups: &GroupIndex<'_>) -> Result<()> {
    check_scores(out.len(), scores, groups)?;
    struct V<'a, F> {
        out: &'a mut [F],
        scores: &'a [F],
    }
    impl<F: Real> GroupVisitor for V<'_, F> {
        fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
            let s = Summary::from_iter(rows.values(self.scores).map(Real::as_f64));
            s.check("group statistics")?;
            let sd = if s.count > 1 { s.std(1) } else { 0.0 };
            let sd = F::lit(Float::max(sd, 0.0));
            rows.fill(self.out, |_| sd);
            Ok(())
        }
    }
    groups.visit(&mut V {
        out: &mut *out,
        scores,
    })?;
    crate::error::ensure_output("group_std", out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpo_hand_values() {
        // Group {1, 2, 3}: mean 2, sample std 1.
        let g = GroupIndex::uniform(3, 3).unwrap();
        let mut out = [0.0f64; 3];
        let p = Grpo::new(Scale::Group, 0.0, Singleton::Zero).unwrap();
        grpo(&mut out, &[1.0, 2.0, 3.0], &g, &p).unwrap();
        assert_eq!(out, [-1.0, 0.0, 1.0]);
        // Dr. GRPO.
        let p = Grpo::new(Scale::None, 0.0, Singleton::Zero).unwrap();
        grpo(&mut out, &[1.0, 2.0, 3.0], &g, &p).unwrap();
        assert_eq!(out, [-1.0, 0.0, 1.0]);
        // Zero variance with ε = 0: exactly 0, not NaN.
        let p = Grpo::new(Scale::Group, 0.0, Singleton::Zero).unwrap();
        grpo(&mut out, &[0.7, 0.7, 0.7], &g, &p).unwrap();
        assert_eq!(out, [0.0; 3]);
    }

    #[test]
    fn singletons() {
        let g = GroupIndex::new(&[0, 1, 1], 2).unwrap();
        let mut out = [9.0f64; 3];
        grpo(&mut out, &[2.0, 1.0, 3.0], &g, &Grpo::default()).unwrap();
        assert_eq!(out[0], 0.0);
        let raw = Grpo::new(Scale::Group, 1e-6, Singleton::Raw).unwrap();
        grpo(&mut out, &[2.0, 1.0, 3.0], &g, &raw).unwrap();
        assert_eq!(out[0], 2.0 / 1.000_000_953_674_316_4); // f32(1 + 1e-6)
        let err = Grpo::new(Scale::Group, 1e-6, Singleton::Error).unwrap();
        assert_eq!(
            grpo(&mut out, &[2.0, 1.0, 3.0], &g, &err),
            Err(Error::GroupTooSmall {
                group: 0,
                size: 1,
                min: 2
            })
        );
        rloo(&mut out, &[2.0, 1.0, 3.0], &g, Singleton::Raw).unwrap();
        assert_eq!(out, [2.0, -2.0, 2.0]);
    }

    #[test]
    fn batch_scale() {
        // Groups {0, 2} and {4, 4}: group means 1 and 4; batch sample std of [0,2,4,4] = sqrt(11/3).
        let g = GroupIndex::uniform(4, 2).unwrap();
        let mut out = [0.0f64; 4];
        let p = Grpo::new(Scale::Batch, 0.0, Singleton::Zero).unwrap();
        grpo(&mut out, &[0.0, 2.0, 4.0, 4.0], &g, &p).unwrap();
        let sd = (11.0f64 / 3.0).sqrt();
        assert!((out[0] + 1.0 / sd).abs() < 1e-15 && (out[1] - 1.0 / sd).abs() < 1e-15);
        assert_eq!(&out[2..], [0.0, 0.0]);
    }

    #[test]
    fn passk_and_errors() {
        let g = GroupIndex::uniform(4, 2).unwrap();
        let mut out = [0.0f64; 4];
        grpo_passk(&mut out, &[1.0, 1.0, 0.0, 3.0], &g, false, 0.0).unwrap();
        assert_eq!(out, [0.0, 0.0, 0.0, 3.0]);
        grpo_passk(&mut out, &[1.0, 0.0, 0.0, 3.0], &g, true, 0.0).unwrap();
        // group {1, 0}: gap 1, std sqrt(1/2).
        assert!((out[0] - 2f64.sqrt()).abs() < 1e-15);
        let single = GroupIndex::new(&[0, 1, 1], 2).unwrap();
        assert!(grpo_passk(&mut [0.0; 3], &[1.0, 2.0, 3.0], &single, false, 0.0).is_err());
        assert!(
            grpo(
                &mut [0.0; 3],
                &[1.0, f64::NAN, 3.0],
                &single,
                &Grpo::default()
            )
            .is_err()
        );
        assert!(grpo(&mut [0.0; 2], &[1.0, 2.0, 3.0], &single, &Grpo::default()).is_err());
        assert!(Grpo::<f64>::new(Scale::Group, -1.0, Singleton::Zero).is_err());
        assert!(
            gpg(
                &mut [0.0; 3],
                &[1.0, 2.0, 3.0],
                &single,
                0.0,
                Singleton::Zero
            )
            .is_err()
        );
        assert!(
            opo(
                &mut [0.0; 3],
                &[1.0, 2.0, 3.0],
                &[1.0, -1.0, 1.0],
                &single,
                Singleton::Zero
            )
            .is_err()
        );
    }
}
