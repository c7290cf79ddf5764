//! Group statistics and the per-group affine map `A = (x − a)·b` of the GRPO family: the seam a GPU
//! backend implements and the CPU path runs.
//!
//! GRPO, Dr. GRPO, RLOO, GPG, REINFORCE++-baseline's centring and TRL's batch scaling all compute,
//! per group, the moments of the group's scores ([`GroupMoments`]: count, mean, `m2`), turn them
//! into two numbers with a rule ([`AffineRule`]: centre `a`, scale `b`), and map every score of the
//! group to `(x − a)·b`. The three steps are public functions ([`group_moments`],
//! [`group_affine_coefficients`], [`apply_group_affine`]); the estimators run a fused kernel that
//! calls the same per-group arithmetic, so the fused and the three-step paths agree bit for bit
//! (tested).
//!
//! # Summation order
//! A group's moments are accumulated in `f64`, in ascending row order, one value after the other,
//! shifted by the group's first value: `d = x − x₀`, `s1 = Σd`, `s2 = Σd²`, `mean = x₀ + s1/n`,
//! `m2 = s2 − s1·(s1/n)`. Shifting by a member bounds the cancellation in `m2`, and a group of
//! equal values has `s1 = s2 = 0`, hence exactly its value as mean and `m2 = 0`: every advantage is
//! exactly 0. The order is a function of the group's values in ascending row order only, so:
//! - every layout of the same batch (uniform blocks, sorted runs, scattered ids, owned or borrowed
//!   index) gives bit-identical results;
//! - reordering rows together with their ids permutes the outputs bit for bit whenever each
//!   group's rows keep their relative order (interleaving groups, moving whole groups);
//! - a reordering *within* a group changes the `f64` sums by rounding only (relative `1e-15`
//!   level in `f64`; invisible after rounding to `f32` except at ties).
//!
//! # Speed
//! Uniform blocks accumulate four groups side by side (independent dependency chains), then
//! compute the four groups' coefficients together (vectorized divisions and square roots), then
//! map; scattered ids accumulate into a `(G)` table in one sequential pass and map in a second.
//! Overflow is checked per group from the bound `|x − a| ≤ √m2 + |mean − a|`; only a group whose
//! bound comes near the float range has its outputs checked one by one.

use num_traits::Float;

use crate::error::{Error, Result, ensure_len};
use crate::layout::{GroupIndex, GroupLayout, GroupRows, GroupVisitor};
use crate::real::{Real, usize_f64};

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
    pub(crate) fn check(self, group: usize, size: usize) -> Result<()> {
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

/// Count, mean and spread of one group's values: what a group-statistics kernel produces.
///
/// # Definition
/// `count = n`, `mean = Σx/n`, `m2 = Σ(x − mean)²`, computed as described in the module docs
/// (shifted, `f64`, ascending row order). A group of equal values has `m2 = 0` and `mean` equal to
/// the value, exactly.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{GroupMoments, group_moments}};
/// let groups = GroupIndex::new(&[0, 1, 0, 1], 2)?;
/// let mut m = [GroupMoments::default(); 2];
/// group_moments(&mut m, &[1.0f32, 5.0, 3.0, 5.0], &groups)?;
/// assert_eq!((m[0].count, m[0].mean, m[0].m2), (2, 2.0, 2.0));
/// assert_eq!((m[1].mean, m[1].m2, m[1].std()), (5.0, 0.0, 0.0));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GroupMoments {
    /// Number of values `n`.
    pub count: usize,
    /// `Σx/n`.
    pub mean: f64,
    /// `Σ(x − mean)²`.
    pub m2: f64,
}

impl GroupMoments {
    /// Sample (Bessel) variance `m2/(n − 1)`; 0 for `n < 2`.
    #[inline]
    pub fn var(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            self.m2 / usize_f64(self.count - 1)
        }
    }

    /// Sample standard deviation `√var`; 0 for `n < 2`.
    #[inline]
    pub fn std(&self) -> f64 {
        Float::sqrt(self.var())
    }
}

/// The running sums of one group, shifted by its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Acc {
    pub(crate) shift: f64,
    pub(crate) s1: f64,
    pub(crate) s2: f64,
}

impl Acc {
    #[inline(always)]
    pub(crate) fn new(shift: f64) -> Self {
        Self {
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
    }

    /// The sums of `xs` in iteration order, shifted by the first value, and their count.
    #[inline(always)]
    pub(crate) fn of<I: Iterator<Item = f64> + Clone>(xs: I) -> (Self, usize) {
        let mut it = xs.clone();
        let mut a = Self::new(it.next().unwrap_or(0.0));
        let mut n = 0usize;
        for x in xs {
            a.push(x);
            n += 1;
        }
        (a, n)
    }

    /// The sums of a whole slice (a batch statistic), shifted by its first value, in eight
    /// interleaved lanes (element `i` in lane `i mod 8`, each lane in order) combined as
    /// `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`: a fixed tree with independent
    /// dependency chains.
    pub(crate) fn of_slice<X: Real>(xs: &[X]) -> Self {
        let shift = xs.first().map_or(0.0, |x| x.as_f64());
        let (mut s1, mut s2) = ([0.0f64; 8], [0.0f64; 8]);
        let mut blocks = xs.chunks_exact(8);
        for c in &mut blocks {
            for ((a, q), x) in s1.iter_mut().zip(s2.iter_mut()).zip(c) {
                let d = x.as_f64() - shift;
                *a += d;
                *q += d * d;
            }
        }
        for ((a, q), x) in s1.iter_mut().zip(s2.iter_mut()).zip(blocks.remainder()) {
            let d = x.as_f64() - shift;
            *a += d;
            *q += d * d;
        }
        let tree = |l: [f64; 8]| {
            let [l0, l1, l2, l3, l4, l5, l6, l7] = l;
            ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
        };
        Self {
            shift,
            s1: tree(s1),
            s2: tree(s2),
        }
    }

    #[inline(always)]
    pub(crate) fn finite(&self) -> bool {
        (self.s1 + self.s2 + self.shift).is_finite()
    }

    /// `(mean, m2)` for `n = nf >= 1` values: `q = s1/n`, `mean = shift + q`, `m2 = s2 − s1·q`
    /// (clamped at 0). Equal values give `s1 = s2 = 0`: the shift and 0, exactly.
    #[inline(always)]
    pub(crate) fn mean_m2(&self, nf: f64) -> (f64, f64) {
        let q = self.s1 / nf;
        (self.shift + q, Float::max(self.s2 - self.s1 * q, 0.0))
    }

    #[inline(always)]
    pub(crate) fn moments(&self, n: usize) -> GroupMoments {
        if n == 0 {
            return GroupMoments::default();
        }
        let (mean, m2) = self.mean_m2(usize_f64(n));
        GroupMoments { count: n, mean, m2 }
    }
}

/// How a group's spread becomes the scale `b` of its affine map.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum GroupScale {
    /// `b = 1/(σ + ε)` with `σ` the group's sample standard deviation (GRPO; `b = 0` when
    /// `σ + ε = 0`, where every centred value is 0 as well).
    Std {
        /// `ε >= 0`, added to `σ`.
        eps: f64,
    },
    /// `b = n/(n − 1)`: `(x − mean)·n/(n − 1) = x − mean of the others` (RLOO).
    LeaveOneOut,
    /// A scale shared by every group: 1 (Dr. GRPO, REINFORCE++-baseline), `1/(σ_batch + ε)`
    /// (TRL's `scale_rewards="batch"`), `α/f_norm` (GPG).
    Constant(f64),
}

/// The per-group affine map `A = (x − a)·b`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Affine {
    /// The centre `a`.
    pub a: f64,
    /// The scale `b`.
    pub b: f64,
}

impl Affine {
    /// `(x − a)·b`.
    #[inline(always)]
    pub fn apply(&self, x: f64) -> f64 {
        (x - self.a) * self.b
    }
}

/// A group rule: how [`GroupMoments`] become an [`Affine`] map.
///
/// # Definition
/// For `n >= 2`: `a = mean`, `b` from [`GroupScale`]. For `n = 1` ([`Singleton`]): `Zero` gives
/// `(mean, 0)`, i.e. `A = 0`; `Raw` gives `a = 0` and `b = 1/f32(1 + ε)` ([`GroupScale::Std`]),
/// `1` (`LeaveOneOut`) or the constant; `Error` is [`Error::GroupTooSmall`].
///
/// | estimator | rule |
/// |---|---|
/// | GRPO | `Std { eps }` |
/// | Dr. GRPO, REINFORCE++-baseline (before whitening) | `Constant(1.0)` |
/// | TRL `scale_rewards="batch"` | `Constant(1/(σ_batch + ε))` |
/// | RLOO | `LeaveOneOut` |
/// | GPG | `Constant(α/f_norm)` |
///
/// Pass@k is not affine in `x` (only the best row of a group gets a signal, the gap to the second
/// best over `σ + ε`) and OPO centres on a length-weighted mean: they are their own plan stages
/// ([`super::GroupStage::PassK`], [`super::GroupStage::Opo`]).
///
/// # Examples
/// ```
/// use rewardkit_core::advantage::{AffineRule, GroupMoments, GroupScale, Singleton};
/// let rloo = AffineRule::new(GroupScale::LeaveOneOut, Singleton::Zero)?;
/// let m = GroupMoments { count: 4, mean: 0.25, m2: 0.75 };
/// let f = rloo.coefficients(0, &m)?;
/// assert_eq!((f.a, f.b), (0.25, 4.0 / 3.0));
/// assert_eq!(f.apply(1.0), 1.0); // 1 − mean of the other three (0)
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AffineRule {
    /// How the scale is computed.
    pub scale: GroupScale,
    /// What a group of one gets.
    pub singleton: Singleton,
}

impl AffineRule {
    /// A validated rule.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a negative or non-finite `eps`, or a non-finite constant.
    pub fn new(scale: GroupScale, singleton: Singleton) -> Result<Self> {
        match scale {
            GroupScale::Std { eps } => {
                crate::error::param_nonneg("eps", eps)?;
            }
            GroupScale::Constant(c) => {
                crate::error::param_finite("scale", c)?;
            }
            GroupScale::LeaveOneOut => {}
        }
        Ok(Self { scale, singleton })
    }

    /// The affine map of group `group` from its moments.
    ///
    /// # Errors
    /// [`Error::GroupTooSmall`] for a singleton under [`Singleton::Error`]; [`Error::Empty`] for
    /// `count = 0`.
    pub fn coefficients(&self, group: usize, m: &GroupMoments) -> Result<Affine> {
        if m.count == 0 {
            return Err(Error::Empty { what: "group" });
        }
        let (a, b, _) = match self.scale {
            GroupScale::Std { eps } => {
                lane(StdScale(eps), self.singleton, group, m.count, m.mean, m.m2)?
            }
            GroupScale::LeaveOneOut => {
                lane(LeaveOneOut, self.singleton, group, m.count, m.mean, m.m2)?
            }
            GroupScale::Constant(c) => {
                lane(ConstScale(c), self.singleton, group, m.count, m.mean, m.m2)?
            }
        };
        Ok(Affine { a, b })
    }
}

/// `1/d`, or 0 when `d <= 0` (then every centred value is 0 as well). Branch-free.
#[inline(always)]
fn recip(d: f64) -> f64 {
    if d > 0.0 { 1.0 / d } else { 0.0 }
}

/// The scale of a rule, monomorphized so that a block of groups compiles to straight-line,
/// vectorizable code.
trait ScaleFn: Copy {
    /// `b` for a group of `n >= 2` values with spread `m2`.
    fn b(self, n: f64, m2: f64) -> f64;
    /// `b` for a singleton under [`Singleton::Raw`].
    fn raw(self) -> f64;
}

#[derive(Clone, Copy)]
struct StdScale(f64);
#[derive(Clone, Copy)]
struct LeaveOneOut;
#[derive(Clone, Copy)]
struct ConstScale(f64);

impl ScaleFn for StdScale {
    #[inline(always)]
    fn b(self, n: f64, m2: f64) -> f64 {
        recip(Float::sqrt(m2 / (n - 1.0)) + self.0)
    }
    #[inline(always)]
    fn raw(self) -> f64 {
        // verl's singleton std is `torch.tensor(1.0)`, a float32 tensor: `1 + ε` in float32.
        recip(super::round_f32(1.0 + super::round_f32(self.0)))
    }
}

impl ScaleFn for LeaveOneOut {
    #[inline(always)]
    fn b(self, n: f64, _m2: f64) -> f64 {
        n / (n - 1.0)
    }
    #[inline(always)]
    fn raw(self) -> f64 {
        1.0
    }
}

impl ScaleFn for ConstScale {
    #[inline(always)]
    fn b(self, _n: f64, _m2: f64) -> f64 {
        self.0
    }
    #[inline(always)]
    fn raw(self) -> f64 {
        self.0
    }
}

/// Relative slack for the rounding of the centre in the overflow bound (generous: the centre's
/// error is a few `f64` ulps).
const SLACK: f64 = 1.0 / (1u64 << 30) as f64;

/// `(a, b, bound)` for one group of `n >= 2` values: `a = mean`, `b` from the scale, and a bound
/// on `|A|` over the group.
#[inline(always)]
fn regular<S: ScaleFn>(s: S, nf: f64, mean: f64, m2: f64) -> (f64, f64, f64) {
    let b = s.b(nf, m2);
    let bound = (Float::sqrt(m2) + Float::abs(mean) * SLACK) * Float::abs(b);
    (mean, b, bound)
}

/// `(a, b, bound)` for one group of any size, singletons by the rule.
#[inline(always)]
fn lane<S: ScaleFn>(
    s: S,
    singleton: Singleton,
    group: usize,
    n: usize,
    mean: f64,
    m2: f64,
) -> Result<(f64, f64, f64)> {
    if n >= 2 {
        return Ok(regular(s, usize_f64(n), mean, m2));
    }
    singleton.check(group, n)?;
    Ok(match singleton {
        Singleton::Raw => {
            let b = s.raw();
            (0.0, b, Float::abs(mean) * (1.0 + SLACK) * Float::abs(b))
        }
        _ => (mean, 0.0, 0.0),
    })
}

/// The non-finite-input error for a group-statistics pass: the first NaN/∞ of `x`, or an
/// overflow of the statistics when every input is finite.
#[cold]
pub(crate) fn non_finite<X: Real>(what: &'static str, x: &[X]) -> Error {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Error::NonFinite { what, index },
        None => Error::Overflow {
            what: "group statistics",
        },
    }
}

/// Ratio of the float range below which a group's bound is trusted without checking outputs.
#[inline(always)]
fn limit<Y: Real>() -> f64 {
    Y::max_value().as_f64() * 0.5
}

#[cold]
fn overflow() -> Error {
    Error::Overflow {
        what: "advantages (beyond the float range)",
    }
}

/// Number of `f64` of scratch the fused kernel needs for `groups`: `3·G` for scattered ids (a
/// `(G)` table of shifts and running sums), 0 for contiguous layouts.
#[cfg(feature = "alloc")]
pub(crate) fn table_len(groups: &GroupIndex<'_>) -> usize {
    match groups.layout() {
        GroupLayout::Scattered { .. } => 3 * groups.n_groups(),
        _ => 0,
    }
}

/// The fused kernel: `out[i] = (x[i] − a_g)·b_g` for every row, with `(a_g, b_g)` from `rule` and
/// the moments of `x` over group `g`. `table` is scratch of at least [`table_len`] `f64` for
/// scattered ids (with `alloc`, a shorter one is replaced by an allocation; without, the gather
/// path runs). Bit-identical on every layout.
pub(crate) fn affine_kernel<X: Real, Y: Real>(
    out: &mut [Y],
    x: &[X],
    what: &'static str,
    groups: &GroupIndex<'_>,
    rule: &AffineRule,
    table: &mut [f64],
) -> Result<()> {
    groups.check_rows(what, x.len())?;
    ensure_len("out", x.len(), out.len())?;
    let r = *rule;
    match r.scale {
        GroupScale::Std { eps } => kernel(out, x, what, groups, StdScale(eps), r.singleton, table),
        GroupScale::LeaveOneOut => kernel(out, x, what, groups, LeaveOneOut, r.singleton, table),
        GroupScale::Constant(c) => kernel(out, x, what, groups, ConstScale(c), r.singleton, table),
    }
}

fn kernel<X: Real, Y: Real, S: ScaleFn>(
    out: &mut [Y],
    x: &[X],
    what: &'static str,
    groups: &GroupIndex<'_>,
    s: S,
    singleton: Singleton,
    table: &mut [f64],
) -> Result<()> {
    match groups.layout() {
        GroupLayout::Uniform { size } if size >= 2 => uniform(out, x, what, size, s),
        GroupLayout::Uniform { size } => {
            let n = groups.n_groups();
            let spans = (0..n).map(|g| (g * size, (g + 1) * size));
            contiguous(out, x, what, spans, s, singleton)
        }
        GroupLayout::Contiguous { offsets } => {
            let spans = offsets.windows(2).map(|w| match *w {
                [a, b] => (a as usize, b as usize),
                _ => (0, 0),
            });
            contiguous(out, x, what, spans, s, singleton)
        }
        GroupLayout::Scattered { ids, offsets, rows } => {
            let need = 3 * groups.n_groups();
            if let Some(t) = table.get_mut(..need) {
                return scattered(out, x, what, ids, offsets, rows, s, singleton, t);
            }
            #[cfg(feature = "alloc")]
            {
                let mut t = alloc::vec![0.0f64; need];
                scattered(out, x, what, ids, offsets, rows, s, singleton, &mut t)
            }
            #[cfg(not(feature = "alloc"))]
            {
                gathered(out, x, what, groups, s, singleton)
            }
        }
    }
}

/// Uniform blocks of `k >= 2` rows: four groups accumulate side by side (each in its own order),
/// their coefficients are computed together, then the four are mapped.
fn uniform<X: Real, Y: Real, S: ScaleFn>(
    out: &mut [Y],
    x: &[X],
    what: &'static str,
    k: usize,
    s: S,
) -> Result<()> {
    let nf = usize_f64(k);
    let (mut finite, mut max_bound) = (true, 0.0f64);
    let mut o4 = out.chunks_exact_mut(4 * k);
    let mut x4 = x.chunks_exact(4 * k);
    for (o, xs) in (&mut o4).zip(&mut x4) {
        let (x0, rest) = xs.split_at(k);
        let (x1, rest) = rest.split_at(k);
        let (x2, x3) = rest.split_at(k);
        let first = |v: &[X]| v.first().map_or(0.0, |f| f.as_f64());
        let sh = [first(x0), first(x1), first(x2), first(x3)];
        let mut s1 = [0.0f64; 4];
        let mut s2 = [0.0f64; 4];
        let quads = x0
            .chunks_exact(4)
            .zip(x1.chunks_exact(4))
            .zip(x2.chunks_exact(4).zip(x3.chunks_exact(4)));
        for ((c0, c1), (c2, c3)) in quads {
            for t in 0..4 {
                let v = [
                    c0.get(t).map_or(0.0, |v| v.as_f64()) - sh[0],
                    c1.get(t).map_or(0.0, |v| v.as_f64()) - sh[1],
                    c2.get(t).map_or(0.0, |v| v.as_f64()) - sh[2],
                    c3.get(t).map_or(0.0, |v| v.as_f64()) - sh[3],
                ];
                for ((a, q), d) in s1.iter_mut().zip(s2.iter_mut()).zip(v) {
                    *a += d;
                    *q += d * d;
                }
            }
        }
        let tail = k - k % 4;
        let tails = rem(x0, tail)
            .iter()
            .zip(rem(x1, tail))
            .zip(rem(x2, tail).iter().zip(rem(x3, tail)));
        for ((&a0, &a1), (&a2, &a3)) in tails {
            let v = [
                a0.as_f64() - sh[0],
                a1.as_f64() - sh[1],
                a2.as_f64() - sh[2],
                a3.as_f64() - sh[3],
            ];
            for ((a, q), d) in s1.iter_mut().zip(s2.iter_mut()).zip(v) {
                *a += d;
                *q += d * d;
            }
        }
        let mut coef = [(0.0f64, 0.0f64, 0.0f64); 4];
        for (c, ((&shift, &s1), &s2)) in coef.iter_mut().zip(sh.iter().zip(&s1).zip(&s2)) {
            let acc = Acc { shift, s1, s2 };
            finite &= acc.finite();
            let (mean, m2) = acc.mean_m2(nf);
            *c = regular(s, nf, mean, m2);
        }
        for ((o, xs), &(a, b, bound)) in o.chunks_exact_mut(k).zip(xs.chunks_exact(k)).zip(&coef) {
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = Y::lit((v.as_f64() - a) * b);
            }
            max_bound = Float::max(max_bound, bound);
        }
    }
    for (o, xs) in o4
        .into_remainder()
        .chunks_exact_mut(k)
        .zip(x4.remainder().chunks_exact(k))
    {
        let (acc, n) = Acc::of(xs.iter().map(|v| v.as_f64()));
        finite &= acc.finite();
        let (mean, m2) = acc.mean_m2(usize_f64(n));
        let (a, b, bound) = regular(s, nf, mean, m2);
        for (o, &v) in o.iter_mut().zip(xs) {
            *o = Y::lit((v.as_f64() - a) * b);
        }
        max_bound = Float::max(max_bound, bound);
    }
    // Errors are flagged in the loops and reported once (outputs on error are unspecified).
    if !finite {
        return Err(non_finite(what, x));
    }
    if max_bound >= limit::<Y>() && !out.iter().all(|v| v.is_finite()) {
        return Err(overflow());
    }
    Ok(())
}

/// `v[tail..]` (empty when out of range).
#[inline(always)]
fn rem<X>(v: &[X], tail: usize) -> &[X] {
    v.get(tail..).unwrap_or(&[])
}

/// Contiguous runs of any size (sorted ids, or uniform singletons), one group at a time.
fn contiguous<X: Real, Y: Real, S: ScaleFn>(
    out: &mut [Y],
    x: &[X],
    what: &'static str,
    spans: impl Iterator<Item = (usize, usize)>,
    s: S,
    singleton: Singleton,
) -> Result<()> {
    let (mut finite, mut max_bound) = (true, 0.0f64);
    for (g, (start, end)) in spans.enumerate() {
        let (Some(xs), Some(o)) = (x.get(start..end), out.get_mut(start..end)) else {
            continue;
        };
        let (acc, n) = Acc::of(xs.iter().map(|v| v.as_f64()));
        finite &= acc.finite();
        let (a, b, bound) = if n >= 2 {
            let nf = usize_f64(n);
            let (mean, m2) = acc.mean_m2(nf);
            regular(s, nf, mean, m2)
        } else {
            let m = acc.moments(n);
            lane(s, singleton, g, n, m.mean, m.m2)?
        };
        for (o, &v) in o.iter_mut().zip(xs) {
            *o = Y::lit((v.as_f64() - a) * b);
        }
        max_bound = Float::max(max_bound, bound);
    }
    if !finite {
        return Err(non_finite(what, x));
    }
    if max_bound >= limit::<Y>() && !out.iter().all(|v| v.is_finite()) {
        return Err(overflow());
    }
    Ok(())
}

/// Scattered ids: one sequential pass accumulates every group into the `(G)` table (each group in
/// ascending row order, as on every other layout), the coefficients replace the sums in place,
/// and a second sequential pass maps the rows. Only the table is accessed at random.
///
/// `table`: `3·G` `f64`: `[s1, s2]` pairs (then `[a, b]`), then the shifts.
fn scattered<X: Real, Y: Real, S: ScaleFn>(
    out: &mut [Y],
    x: &[X],
    what: &'static str,
    ids: &[u32],
    offsets: &[u32],
    rows: &[u32],
    s: S,
    singleton: Singleton,
    table: &mut [f64],
) -> Result<()> {
    let g = offsets.len().saturating_sub(1);
    let (pairs, shifts) = table.split_at_mut(2 * g);
    for ((sh, p), w) in shifts
        .iter_mut()
        .zip(pairs.chunks_exact_mut(2))
        .zip(offsets.windows(2))
    {
        let first = w
            .first()
            .and_then(|&a| rows.get(a as usize))
            .and_then(|&r| x.get(r as usize));
        *sh = first.map_or(0.0, |v| v.as_f64());
        p.fill(0.0);
    }
    for (&v, &id) in x.iter().zip(ids) {
        let i = id as usize;
        let (Some(&sh), Some(p)) = (shifts.get(i), pairs.get_mut(2 * i..2 * i + 2)) else {
            continue;
        };
        let d = v.as_f64() - sh;
        if let [s1, s2] = p {
            *s1 += d;
            *s2 += d * d;
        }
    }
    let mut max_bound = 0.0f64;
    let mut finite = true;
    for (grp, ((p, &sh), w)) in pairs
        .chunks_exact_mut(2)
        .zip(shifts.iter())
        .zip(offsets.windows(2))
        .enumerate()
    {
        let n = match *w {
            [a, b] => (b - a) as usize,
            _ => 0,
        };
        if let [s1, s2] = p {
            let acc = Acc {
                shift: sh,
                s1: *s1,
                s2: *s2,
            };
            finite &= acc.finite();
            let (a, b, bound) = if n >= 2 {
                let nf = usize_f64(n);
                let (mean, m2) = acc.mean_m2(nf);
                regular(s, nf, mean, m2)
            } else {
                let m = acc.moments(n);
                lane(s, singleton, grp, n, m.mean, m.m2)?
            };
            max_bound = Float::max(max_bound, bound);
            *s1 = a;
            *s2 = b;
        }
    }
    if !finite {
        return Err(non_finite(what, x));
    }
    for ((o, &v), &id) in out.iter_mut().zip(x).zip(ids) {
        let i = 2 * id as usize;
        let (a, b) = match pairs.get(i..i + 2) {
            Some(&[a, b]) => (a, b),
            _ => (0.0, 0.0),
        };
        *o = Y::lit((v.as_f64() - a) * b);
    }
    if max_bound < limit::<Y>() || out.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(overflow())
    }
}

/// Scattered ids without scratch and without an allocator: each group's rows are gathered through
/// the index (same order, same arithmetic).
#[cfg_attr(feature = "alloc", allow(dead_code, reason = "the no-alloc fallback"))]
fn gathered<X: Real, Y: Real, S: ScaleFn>(
    out: &mut [Y],
    x: &[X],
    what: &'static str,
    groups: &GroupIndex<'_>,
    s: S,
    singleton: Singleton,
) -> Result<()> {
    struct V<'a, X, Y, S> {
        out: &'a mut [Y],
        x: &'a [X],
        what: &'static str,
        s: S,
        singleton: Singleton,
    }
    impl<X: Real, Y: Real, S: ScaleFn> GroupVisitor for V<'_, X, Y, S> {
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let (acc, n) = Acc::of(rows.values(self.x).map(Real::as_f64));
            if !acc.finite() {
                return Err(non_finite(self.what, self.x));
            }
            let m = acc.moments(n);
            let (a, b, _) = lane(self.s, self.singleton, g, n, m.mean, m.m2)?;
            rows.map(self.out, self.x, |v| Y::lit((v.as_f64() - a) * b));
            Ok(())
        }
    }
    groups.visit(&mut V {
        out: &mut *out,
        x,
        what,
        s,
        singleton,
    })?;
    crate::error::ensure_output("advantages (beyond the float range)", out)
}

/// Per-group [`GroupMoments`] of a per-row input, in the summation order of the module docs.
///
/// # Shapes
/// `out`: `(G)`; `x`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for a NaN/∞ in `x`; [`Error::Overflow`] if a
/// group's sums overflow.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{GroupMoments, group_moments}};
/// let groups = GroupIndex::uniform(4, 2)?;
/// let mut m = [GroupMoments::default(); 2];
/// group_moments(&mut m, &[0.0f64, 2.0, 7.0, 7.0], &groups)?;
/// assert_eq!(m[0], GroupMoments { count: 2, mean: 1.0, m2: 2.0 });
/// assert_eq!(m[1], GroupMoments { count: 2, mean: 7.0, m2: 0.0 });
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn group_moments<F: Real>(
    out: &mut [GroupMoments],
    x: &[F],
    groups: &GroupIndex<'_>,
) -> Result<()> {
    ensure_len("out", groups.n_groups(), out.len())?;
    groups.check_rows("x", x.len())?;
    struct V<'a, F> {
        out: &'a mut [GroupMoments],
        x: &'a [F],
    }
    impl<F: Real> GroupVisitor for V<'_, F> {
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let (acc, n) = Acc::of(rows.values(self.x).map(Real::as_f64));
            if !acc.finite() {
                return Err(non_finite("x", self.x));
            }
            if let Some(o) = self.out.get_mut(g) {
                *o = acc.moments(n);
            }
            Ok(())
        }
    }
    groups.visit(&mut V { out, x })
}

/// Per-group [`Affine`] maps from moments and a rule (the second step of the seam).
///
/// # Shapes
/// `out`, `moments`: `(G)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; those of [`AffineRule::coefficients`].
///
/// # Examples
/// ```
/// use rewardkit_core::advantage::*;
/// let m = [GroupMoments { count: 2, mean: 1.0, m2: 2.0 }, GroupMoments { count: 1, mean: 3.0, m2: 0.0 }];
/// let mut f = [Affine::default(); 2];
/// group_affine_coefficients(&mut f, &m, &AffineRule::new(GroupScale::Std { eps: 0.0 }, Singleton::Zero)?)?;
/// assert_eq!(f[0], Affine { a: 1.0, b: 1.0 / 2f64.sqrt() });
/// assert_eq!(f[1].b, 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn group_affine_coefficients(
    out: &mut [Affine],
    moments: &[GroupMoments],
    rule: &AffineRule,
) -> Result<()> {
    ensure_len("out", moments.len(), out.len())?;
    for (g, (o, m)) in out.iter_mut().zip(moments).enumerate() {
        *o = rule.coefficients(g, m)?;
    }
    Ok(())
}

/// Applies per-group affine maps: `out[i] = (x[i] − a_g)·b_g` with `g` the group of row `i` (the
/// third step of the seam).
///
/// # Shapes
/// `out`, `x`: `(B)`; `coefs`: `(G)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for a NaN/∞ in `x`; [`Error::Overflow`] for an
/// output beyond the float range.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Affine, apply_group_affine}};
/// let groups = GroupIndex::new(&[1, 0, 1], 2)?;
/// let mut out = [0.0f32; 3];
/// let coefs = [Affine { a: 1.0, b: 2.0 }, Affine { a: 0.0, b: -1.0 }];
/// apply_group_affine(&mut out, &[3.0, 4.0, 5.0], &coefs, &groups)?;
/// assert_eq!(out, [-3.0, 6.0, -5.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn apply_group_affine<F: Real>(
    out: &mut [F],
    x: &[F],
    coefs: &[Affine],
    groups: &GroupIndex<'_>,
) -> Result<()> {
    groups.check_rows("x", x.len())?;
    ensure_len("out", x.len(), out.len())?;
    ensure_len("coefs", groups.n_groups(), coefs.len())?;
    crate::error::ensure_finite("x", x)?;
    struct V<'a, F> {
        out: &'a mut [F],
        x: &'a [F],
        coefs: &'a [Affine],
    }
    impl<F: Real> GroupVisitor for V<'_, F> {
        fn visit<R: GroupRows>(&mut self, g: usize, rows: R) -> Result<()> {
            let c = self.coefs.get(g).copied().unwrap_or_default();
            rows.map(self.out, self.x, |v| F::lit(c.apply(v.as_f64())));
            Ok(())
        }
    }
    groups.visit(&mut V { out, x, coefs })?;
    crate::error::ensure_output("advantages (beyond the float range)", out)
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn moments_literals() {
        // {1, 2, 3, 6}: mean 3, m2 = 4 + 1 + 0 + 9 = 14, var 14/3.
        let g = GroupIndex::uniform(4, 4).unwrap();
        let mut m = [GroupMoments::default()];
        group_moments(&mut m, &[1.0f64, 2.0, 3.0, 6.0], &g).unwrap();
        assert_eq!(
            m[0],
            GroupMoments {
                count: 4,
                mean: 3.0,
                m2: 14.0
            }
        );
        assert_eq!(m[0].var(), 14.0 / 3.0);
        // Eight 0.7: exactly 0.7 and 0 (a naive sum of eight 0.7 is not 5.6).
        let g8 = GroupIndex::uniform(8, 8).unwrap();
        group_moments(&mut m, &[0.7f64; 8], &g8).unwrap();
        assert_eq!((m[0].mean, m[0].m2), (0.7, 0.0));
    }

    #[test]
    fn singleton_rules() {
        let one = GroupMoments {
            count: 1,
            mean: 2.0,
            m2: 0.0,
        };
        let grpo = |s| AffineRule::new(GroupScale::Std { eps: 1e-6 }, s).unwrap();
        assert_eq!(
            grpo(Singleton::Zero)
                .coefficients(0, &one)
                .unwrap()
                .apply(2.0),
            0.0
        );
        let raw = grpo(Singleton::Raw).coefficients(0, &one).unwrap();
        assert_eq!(
            raw,
            Affine {
                a: 0.0,
                b: 1.0 / 1.000_000_953_674_316_4
            }
        );
        assert_eq!(
            grpo(Singleton::Error).coefficients(3, &one),
            Err(Error::GroupTooSmall {
                group: 3,
                size: 1,
                min: 2
            })
        );
        let loo = AffineRule::new(GroupScale::LeaveOneOut, Singleton::Raw).unwrap();
        assert_eq!(
            loo.coefficients(0, &one).unwrap(),
            Affine { a: 0.0, b: 1.0 }
        );
        assert!(AffineRule::new(GroupScale::Std { eps: -1.0 }, Singleton::Zero).is_err());
        assert!(AffineRule::new(GroupScale::Constant(f64::NAN), Singleton::Zero).is_err());
    }

    #[test]
    fn fused_equals_three_steps_on_every_layout() {
        // Groups of sizes 3, 1, 5, 2 (sorted and scattered) plus uniform blocks of 3 (with a remainder of
        // groups beyond the blocks of four).
        let x: Vec<f64> = (0..11)
            .map(|i| f64::from((i * 7 % 5) as u8) * 0.3 - 0.2)
            .collect();
        let sorted = [0u32, 0, 0, 1, 2, 2, 2, 2, 2, 3, 3];
        let scattered = [2u32, 0, 3, 2, 1, 0, 2, 3, 2, 0, 2];
        let rules = [
            AffineRule::new(GroupScale::Std { eps: 1e-6 }, Singleton::Raw).unwrap(),
            AffineRule::new(GroupScale::LeaveOneOut, Singleton::Zero).unwrap(),
            AffineRule::new(GroupScale::Constant(0.5), Singleton::Raw).unwrap(),
        ];
        let idx = [
            GroupIndex::new(&sorted, 4).unwrap(),
            GroupIndex::new(&scattered, 4).unwrap(),
        ];
        for g in &idx {
            for r in &rules {
                let mut m = vec![GroupMoments::default(); 4];
                group_moments(&mut m, &x, g).unwrap();
                let mut c = vec![Affine::default(); 4];
                group_affine_coefficients(&mut c, &m, r).unwrap();
                let mut want = vec![0.0f64; 11];
                apply_group_affine(&mut want, &x, &c, g).unwrap();
                let mut got = vec![0.0f64; 11];
                affine_kernel(&mut got, &x, "x", g, r, &mut []).unwrap();
                assert_eq!(got, want);
            }
        }
        let x15: Vec<f32> = (0..15).map(|i| (i * 5 % 7) as f32 * 0.25).collect();
        let u = GroupIndex::uniform(15, 3).unwrap();
        let r = rules[0];
        let mut m = vec![GroupMoments::default(); 5];
        group_moments(&mut m, &x15, &u).unwrap();
        let mut c = vec![Affine::default(); 5];
        group_affine_coefficients(&mut c, &m, &r).unwrap();
        let (mut want, mut got) = (vec![0.0f32; 15], vec![0.0f32; 15]);
        apply_group_affine(&mut want, &x15, &c, &u).unwrap();
        affine_kernel(&mut got, &x15, "x", &u, &r, &mut []).unwrap();
        assert_eq!(got, want);
    }
}
