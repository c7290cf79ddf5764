//! Group-relative outcome advantages: one scalar score per sample, a baseline from the other samples
//! of the same prompt. GRPO (with Dr. GRPO and TRL's `scale_rewards`), pass@k, RLOO, the plain group
//! mean baseline (REINFORCE++-baseline), OPO and GPG. GRPO, RLOO, the group mean baseline and GPG
//! are one fused kernel with different [`AffineRule`]s (see [`super::affine`]).

use crate::error::{Error, Result, ensure_finite, ensure_len, param_nonneg, param_positive};
use crate::layout::{GroupIndex, GroupLayout, GroupRows, GroupVisitor};
use crate::preset::Preset;
use crate::real::{Real, usize_f64};

use super::affine::{Acc, AffineRule, GroupScale, Singleton, affine_kernel, non_finite};

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

    /// GRPO with `preset`'s epsilon and singleton rule ([`Preset::grpo_eps`], [`Preset::singleton`])
    /// and the given scaling.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{Preset, advantage::{Grpo, Scale, Singleton}};
    /// let p = Grpo::<f64>::from_preset(Preset::Trl, Scale::Group);
    /// assert_eq!((p.eps(), p.singleton()), (1e-4, Singleton::Zero));
    /// ```
    pub fn from_preset(preset: Preset, scale: Scale) -> Self {
        Self {
            scale,
            eps: F::lit(preset.grpo_eps()),
            singleton: preset.singleton(),
        }
    }

    /// The group rule for these parameters on `scores` (which gives the batch standard deviation
    /// for [`Scale::Batch`]).
    ///
    /// # Errors
    /// [`Error::NonFinite`] for a NaN/∞ score ([`Scale::Batch`] only; otherwise nothing is read).
    pub fn rule<X: Real>(&self, scores: &[X]) -> Result<AffineRule> {
        let eps = self.eps.as_f64();
        let scale = match self.scale {
            Scale::Group => GroupScale::Std { eps },
            Scale::None => GroupScale::Constant(1.0),
            Scale::Batch => {
                let acc = Acc::of_slice(scores);
                if !acc.finite() {
                    return Err(non_finite("scores", scores));
                }
                let sd = acc.moments(scores.len().max(1)).std();
                let d = sd + eps;
                GroupScale::Constant(if d > 0.0 { 1.0 / d } else { 0.0 })
            }
        };
        Ok(AffineRule {
            scale,
            singleton: self.singleton,
        })
    }
}

/// `(x − mean)/d` in `f64`, with `0/0 = 0` (a zero-variance group with `ε = 0`).
#[inline(always)]
fn normalize(x: f64, mean: f64, denom: f64) -> f64 {
    let c = x - mean;
    if c == 0.0 { 0.0 } else { c / denom }
}

/// Checks a per-row score vector against the groups.
pub(crate) fn check_scores<X: Real>(
    out_len: usize,
    scores: &[X],
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
    let rule = params.rule(scores)?;
    affine_kernel(out, scores, "scores", groups, &rule, &mut [])
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
    let eps = param_nonneg("eps", eps)?.as_f64();
    passk_impl(out, scores, groups, scale_by_std, eps)
}

/// [`grpo_passk`] on scores of any scalar type.
pub(crate) fn passk_impl<X: Real, F: Real>(
    out: &mut [F],
    scores: &[X],
    groups: &GroupIndex<'_>,
    scale_by_std: bool,
    eps: f64,
) -> Result<()> {
    check_scores(out.len(), scores, groups)?;
    let spans = match groups.layout() {
        GroupLayout::Uniform { size } => Some(Spans::Uniform(size)),
        GroupLayout::Contiguous { offsets } => Some(Spans::Offsets(offsets)),
        GroupLayout::Scattered { .. } => None,
    };
    if let Some(spans) = spans {
        // Contiguous groups: slice loops, the same per-group arithmetic as the gather path;
        // uniform blocks run four groups side by side (independent chains).
        let (mut finite, mut ok) = (true, true);
        let mut write = |o: &mut [F], st: &PassK, n: usize| {
            finite &= st.acc.finite();
            let adv = F::lit(st.adv(n, scale_by_std, eps));
            ok &= adv.is_finite();
            o.fill(F::ZERO);
            if let Some(slot) = o.get_mut(st.best_k) {
                *slot = adv;
            }
        };
        let mut rest = (out, scores, 0usize);
        if let Spans::Uniform(k) = spans {
            if k >= 2 {
                let mut o4 = rest.0.chunks_exact_mut(4 * k);
                let mut x4 = rest.1.chunks_exact(4 * k);
                for (o, xs) in (&mut o4).zip(&mut x4) {
                    let first = |i: usize| xs.get(i * k).map_or(0.0, |x| x.as_f64());
                    let mut st = [
                        PassK::new(first(0)),
                        PassK::new(first(1)),
                        PassK::new(first(2)),
                        PassK::new(first(3)),
                    ];
                    let (x0, r) = xs.split_at(k);
                    let (x1, r) = r.split_at(k);
                    let (x2, x3) = r.split_at(k);
                    let lanes = x0.iter().zip(x1).zip(x2.iter().zip(x3)).enumerate();
                    for (j, ((&a, &b), (&c, &d))) in lanes {
                        let [s0, s1, s2, s3] = &mut st;
                        s0.push(j, a.as_f64());
                        s1.push(j, b.as_f64());
                        s2.push(j, c.as_f64());
                        s3.push(j, d.as_f64());
                    }
                    for (o, st) in o.chunks_exact_mut(k).zip(&st) {
                        write(o, st, k);
                    }
                }
                let done = scores.len() - x4.remainder().len();
                rest = (o4.into_remainder(), x4.remainder(), done / k);
            }
        }
        let (out_rest, scores_rest, g0) = rest;
        let base = scores.len() - scores_rest.len();
        for (g, (start, end)) in spans.iter(groups.n_groups()).enumerate().skip(g0) {
            let (Some(xs), Some(o)) = (
                scores_rest.get(start - base..end - base),
                out_rest.get_mut(start - base..end - base),
            ) else {
                continue;
            };
            if xs.len() < 2 {
                return Err(Error::GroupTooSmall {
                    group: g,
                    size: xs.len(),
                    min: 2,
                });
            }
            let mut st = PassK::new(xs.first().map_or(0.0, |x| x.as_f64()));
            for (j, x) in xs.iter().enumerate() {
                st.push(j, x.as_f64());
            }
            write(o, &st, xs.len());
        }
        if !finite {
            return Err(non_finite("scores", scores));
        }
        return if ok {
            Ok(())
        } else {
            Err(Error::Overflow { what: "grpo_passk" })
        };
    }
    struct V<'a, X, F> {
        out: &'a mut [F],
        scores: &'a [X],
        scale_by_std: bool,
        eps: f64,
    }
    impl<X: Real, F: Real> GroupVisitor for V<'_, X, F> {
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let n = rows.len();
            if n < 2 {
                return Err(Error::GroupTooSmall {
                    group: g,
                    size: n,
                    min: 2,
                });
            }
            let mut st = PassK::new(rows.values(self.scores).next().map_or(0.0, |x| x.as_f64()));
            for (k, x) in rows.values(self.scores).enumerate() {
                st.push(k, x.as_f64());
            }
            if !st.acc.finite() {
                return Err(non_finite("scores", self.scores));
            }
            let adv = F::lit(st.adv(n, self.scale_by_std, self.eps));
            let best = rows.rows().nth(st.best_k).unwrap_or(usize::MAX);
            rows.fill(self.out, |row| if row == best { adv } else { F::ZERO });
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

/// The contiguous spans of a uniform or sorted layout.
#[derive(Clone, Copy)]
enum Spans<'a> {
    Uniform(usize),
    Offsets(&'a [u32]),
}

impl<'a> Spans<'a> {
    fn iter(self, n_groups: usize) -> impl Iterator<Item = (usize, usize)> + 'a {
        let (k, offsets) = match self {
            Self::Uniform(k) => (k, &[][..]),
            Self::Offsets(o) => (0, o),
        };
        let uniform = (0..if k > 0 { n_groups } else { 0 }).map(move |g| (g * k, (g + 1) * k));
        let sorted = offsets.windows(2).map(|w| match *w {
            [a, b] => (a as usize, b as usize),
            _ => (0, 0),
        });
        uniform.chain(sorted)
    }
}

/// Pass@k's running state over one group: best (first occurrence wins ties), second best, and
/// the group's moments, in one pass with selects instead of branches.
struct PassK {
    best: f64,
    best_k: usize,
    second: f64,
    acc: Acc,
}

impl PassK {
    #[inline(always)]
    fn new(shift: f64) -> Self {
        Self {
            best: f64::NEG_INFINITY,
            best_k: 0,
            second: f64::NEG_INFINITY,
            acc: Acc::new(shift),
        }
    }

    #[inline(always)]
    fn push(&mut self, k: usize, x: f64) {
        let gt = x > self.best;
        self.second = if gt {
            self.best
        } else if x > self.second {
            x
        } else {
            self.second
        };
        self.best_k = if gt { k } else { self.best_k };
        self.best = if gt { x } else { self.best };
        self.acc.push(x);
    }

    /// The best row's advantage: the gap, over `σ + ε` when `scale_by_std`.
    #[inline(always)]
    fn adv(&self, n: usize, scale_by_std: bool, eps: f64) -> f64 {
        let gap = self.best - self.second;
        if scale_by_std {
            normalize(gap, 0.0, self.acc.moments(n).std() + eps)
        } else {
            gap
        }
    }
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
    let rule = AffineRule {
        scale: GroupScale::LeaveOneOut,
        singleton,
    };
    affine_kernel(out, scores, "scores", groups, &rule, &mut [])
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
    let rule = AffineRule {
        scale: GroupScale::Constant(1.0),
        singleton,
    };
    affine_kernel(out, scores, "scores", groups, &rule, &mut [])
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
    opo_impl(out, scores, lengths, groups, singleton)
}

/// [`opo`] on scores and lengths of any scalar type.
pub(crate) fn opo_impl<X: Real, F: Real>(
    out: &mut [F],
    scores: &[X],
    lengths: &[X],
    groups: &GroupIndex<'_>,
    singleton: Singleton,
) -> Result<()> {
    check_scores(out.len(), scores, groups)?;
    groups.check_rows("lengths", lengths.len())?;
    if let Some(i) = lengths
        .iter()
        .position(|l| !(l.is_finite() && *l >= X::ZERO))
    {
        return Err(Error::InvalidParam {
            name: "lengths",
            value: lengths.get(i).map_or(f64::NAN, |l| l.as_f64()),
            expected: "finite lengths >= 0",
        });
    }
    let spans = match groups.layout() {
        GroupLayout::Uniform { size } => Some(Spans::Uniform(size)),
        GroupLayout::Contiguous { offsets } => Some(Spans::Offsets(offsets)),
        GroupLayout::Scattered { .. } => None,
    };
    if let Some(spans) = spans {
        // Contiguous groups: slice loops, the same per-group arithmetic as the gather path;
        // uniform blocks of k >= 2 accumulate four groups side by side (independent chains).
        let mut ok = true;
        let mut g0 = 0usize;
        if let Spans::Uniform(k) = spans {
            if k >= 2 {
                let mut o4 = out.chunks_exact_mut(4 * k);
                let (mut x4, mut l4) = (scores.chunks_exact(4 * k), lengths.chunks_exact(4 * k));
                for ((o, xs), ls) in (&mut o4).zip(&mut x4).zip(&mut l4) {
                    let first = |i: usize| xs.get(i * k).map_or(0.0, |x| x.as_f64());
                    let sh = [first(0), first(1), first(2), first(3)];
                    let (mut num, mut den) = ([0.0f64; 4], [0.0f64; 4]);
                    let (x0, r) = xs.split_at(k);
                    let (x1, r) = r.split_at(k);
                    let (x2, x3) = r.split_at(k);
                    let (l0, r) = ls.split_at(k);
                    let (l1, r) = r.split_at(k);
                    let (l2, l3) = r.split_at(k);
                    let lanes = x0
                        .iter()
                        .zip(x1)
                        .zip(x2.iter().zip(x3))
                        .zip(l0.iter().zip(l1).zip(l2.iter().zip(l3)));
                    for (((&a, &b), (&c, &d)), ((&la, &lb), (&lc, &ld))) in lanes {
                        let v = [a, b, c, d];
                        let w = [la, lb, lc, ld];
                        for (((nu, de), (&x, &l)), &s) in num
                            .iter_mut()
                            .zip(den.iter_mut())
                            .zip(v.iter().zip(&w))
                            .zip(&sh)
                        {
                            *nu += l.as_f64() * (x.as_f64() - s);
                            *de += l.as_f64();
                        }
                    }
                    for (((o, xs), (&nu, &de)), &s) in o
                        .chunks_exact_mut(k)
                        .zip(xs.chunks_exact(k))
                        .zip(num.iter().zip(&den))
                        .zip(&sh)
                    {
                        let b = if de > 0.0 {
                            if nu == 0.0 { s } else { s + nu / de }
                        } else {
                            let (acc, n) = Acc::of(xs.iter().map(|x| x.as_f64()));
                            acc.moments(n).mean
                        };
                        ok &= b.is_finite();
                        for (o, x) in o.iter_mut().zip(xs) {
                            *o = F::lit(x.as_f64() - b);
                        }
                    }
                }
                g0 = (scores.len() - x4.remainder().len()) / k;
            }
        }
        for (g, (start, end)) in spans.iter(groups.n_groups()).enumerate().skip(g0) {
            let (Some(xs), Some(ls), Some(o)) = (
                scores.get(start..end),
                lengths.get(start..end),
                out.get_mut(start..end),
            ) else {
                continue;
            };
            let b = opo_baseline(
                singleton,
                g,
                xs.iter().map(|x| x.as_f64()),
                ls.iter().map(|l| l.as_f64()),
            )?;
            for (o, x) in o.iter_mut().zip(xs) {
                *o = F::lit(b.map_or(0.0, |b| x.as_f64() - b));
            }
        }
        if !ok {
            return Err(Error::Overflow {
                what: "OPO baseline",
            });
        }
        return crate::error::ensure_output("opo", out);
    }
    struct V<'a, X, F> {
        out: &'a mut [F],
        scores: &'a [X],
        lengths: &'a [X],
        singleton: Singleton,
    }
    impl<X: Real, F: Real> GroupVisitor for V<'_, X, F> {
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let b = opo_baseline(
                self.singleton,
                g,
                rows.values(self.scores).map(Real::as_f64),
                rows.values(self.lengths).map(Real::as_f64),
            )?;
            rows.map(self.out, self.scores, |x| {
                F::lit(b.map_or(0.0, |b| x.as_f64() - b))
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

/// OPO's baseline of one group: `Σ L·R / Σ L`, shifted by the first score (equal scores give
/// exactly that score), the plain mean when the lengths sum to 0; `None` for a singleton under
/// [`Singleton::Zero`] (advantage 0), 0 under [`Singleton::Raw`].
#[inline(always)]
fn opo_baseline(
    singleton: Singleton,
    g: usize,
    xs: impl Iterator<Item = f64> + Clone,
    ls: impl Iterator<Item = f64>,
) -> Result<Option<f64>> {
    let mut it = xs.clone();
    let shift = it.next().unwrap_or(0.0);
    let n = 1 + it.count();
    singleton.check(g, n)?;
    if n == 1 {
        return Ok((singleton != Singleton::Zero).then_some(0.0));
    }
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (r, l) in xs.clone().zip(ls) {
        num += l * (r - shift);
        den += l;
    }
    let b = if den > 0.0 {
        if num == 0.0 { shift } else { shift + num / den }
    } else {
        let (acc, n) = Acc::of(xs);
        acc.moments(n).mean
    };
    if b.is_finite() {
        Ok(Some(b))
    } else {
        Err(Error::Overflow {
            what: "OPO baseline",
        })
    }
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

/// GPG's group rule: `b = α/f_norm` with `α = B/max(#{R ≠ 0}, 1)`, optionally rounded to `f32`
/// (verl divides two integer tensors, which gives `float32`).
pub(crate) fn gpg_rule<X: Real>(
    scores: &[X],
    f_norm: f64,
    singleton: Singleton,
    alpha_f32: bool,
) -> AffineRule {
    let nonzero = scores
        .iter()
        .fold(0u32, |n, &x| n + u32::from(x != X::ZERO)) as usize;
    let mut alpha = usize_f64(scores.len()) / usize_f64(nonzero.max(1));
    if alpha_f32 {
        alpha = super::round_f32(alpha);
    }
    AffineRule {
        scale: GroupScale::Constant(alpha / f_norm),
        singleton,
    }
}

/// [`gpg`], optionally with `α` rounded to `f32`.
pub(crate) fn gpg_impl<F: Real>(
    out: &mut [F],
    scores: &[F],
    groups: &GroupIndex<'_>,
    f_norm: F,
    singleton: Singleton,
    alpha_f32: bool,
) -> Result<()> {
    let f_norm = param_positive("f_norm", f_norm)?.as_f64();
    groups.check_rows("scores", scores.len())?;
    let rule = gpg_rule(scores, f_norm, singleton, alpha_f32);
    affine_kernel(out, scores, "scores", groups, &rule, &mut [])
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
            let (acc, n) = Acc::of(rows.values(self.scores).map(Real::as_f64));
            if !acc.finite() {
                return Err(non_finite("scores", self.scores));
            }
            let sd = F::lit(acc.moments(n).std());
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
