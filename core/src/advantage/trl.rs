//! TRL's GRPO advantage block (`GRPOTrainer._generate_and_score_completions`, pinned `f2cd577`),
//! reproduced with its NaN semantics: a NaN reward component means the reward function returned
//! `None` for that completion.

#[cfg(feature = "alloc")]
use alloc::vec;

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor};
use crate::real::{Real, usize_f64};

use super::affine::Acc;
use super::group::Scale;

/// TRL's `multi_objective_aggregation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TrlAggregation {
    /// Weighted sum of the rewards, then group normalization (TRL default).
    #[default]
    SumThenNormalize,
    /// Per-reward group normalization, weighted sum, batch normalization (GDPO).
    NormalizeThenSum,
}

/// TRL's epsilon on every standard deviation of the block.
const TRL_EPS: f64 = 1e-4;

/// NaN-aware mean and TRL's `nanstd` of an iterator: moments shifted by the first non-NaN value
/// (so equal values have exactly their value as mean and spread 0), Bessel factor `c/(c−1)`
/// rounded to `f32` (TRL divides two integer tensors, which yields `float32`); `(NaN, NaN)` for no
/// value, std NaN for one.
fn nan_moments<I: Iterator<Item = f64> + Clone>(xs: I) -> (f64, f64) {
    let (acc, c) = Acc::of(xs.filter(|x| !x.is_nan()));
    if c == 0 {
        return (f64::NAN, f64::NAN);
    }
    let m = acc.moments(c);
    let std = if c <= 1 {
        f64::NAN
    } else {
        let cf = usize_f64(c);
        Float::sqrt(m.m2 / cf * super::round_f32(cf / (cf - 1.0)))
    };
    (m.mean, std)
}

/// Writes `dst[i] = f(src[i], mean_g, std_g)` for every row, with the NaN-aware moments of `src`
/// over the row's group.
fn per_group(
    dst: &mut [f64],
    src: &[f64],
    groups: &GroupIndex<'_>,
    f: impl Fn(f64, f64, f64) -> f64,
) -> Result<()> {
    struct V<'a, Fn> {
        dst: &'a mut [f64],
        src: &'a [f64],
        f: Fn,
    }
    impl<Fn: core::ops::Fn(f64, f64, f64) -> f64> GroupVisitor for V<'_, Fn> {
        fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
            let (mean, std) = nan_moments(rows.values(self.src));
            rows.map(self.dst, self.src, |x| (self.f)(x, mean, std));
            Ok(())
        }
    }
    groups.visit(&mut V { dst, src, f })
}

/// TRL's GRPO advantage block (`GRPOTrainer._generate_and_score_completions`), NaN semantics
/// included: a NaN component means the reward function returned `None`.
///
/// # Definition
/// A row is *unscorable* when every raw component is NaN (TRL's `unscorable_mask`); its reward is
/// NaN and its advantage 0. `sum_then_normalize`: `Rᵢ = nansum_k w_k·r_{i,k}` (0 when every term
/// is NaN), `Aᵢ = Rᵢ − nanmean_g`, divided by `nanstd_g + 1e-4` (`Scale::Group`) or
/// `nanstd_batch + 1e-4` (`Scale::Batch`); `normalize_then_sum`: each component normalized by its
/// group's `nanmean`/`nanstd + 1e-4`, weighted `nansum` (0 when every normalized component is NaN),
/// then normalized by the batch `nanmean`/`nanstd + 1e-4`. Finally NaN becomes 0. `nanstd` uses
/// Bessel's factor computed in `float32`, as TRL does; moments are shifted (exact zeros for equal
/// rewards).
///
/// # Shapes
/// `out`: `(B)`; `components`: `(B, K)` with `K = weights.len()`; `weights`: `(K)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for an infinite component or any non-finite
/// weight.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Scale, TrlAggregation, trl_grpo_advantages}};
/// let groups = GroupIndex::uniform(4, 4)?;
/// let mut adv = [0.0f64; 4];
/// trl_grpo_advantages(&mut adv, &[0.0, 1.0, 0.0, f64::NAN], &[1.0], &groups, Scale::Group,
///     TrlAggregation::SumThenNormalize)?;
/// assert_eq!(adv[3], 0.0); // unscorable
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn trl_grpo_advantages<F: Real>(
    out: &mut [F],
    components: &[F],
    weights: &[F],
    groups: &GroupIndex<'_>,
    scale: Scale,
    mode: TrlAggregation,
) -> Result<()> {
    let b = out.len();
    let (mut col, mut acc) = (vec![0.0f64; b], vec![0.0f64; b]);
    trl_run(
        out, components, weights, groups, scale, mode, &mut col, &mut acc,
    )
}

/// [`trl_grpo_advantages`] with caller scratch `col`, `acc` of `B` `f64` each; `components` of
/// any scalar type (the plan passes its `f64` scores).
pub(crate) fn trl_run<X: Real, F: Real>(
    out: &mut [F],
    components: &[X],
    weights: &[F],
    groups: &GroupIndex<'_>,
    scale: Scale,
    mode: TrlAggregation,
    col: &mut [f64],
    acc: &mut [f64],
) -> Result<()> {
    let b = out.len();
    groups.check_rows("out", b)?;
    let k = weights.len().max(1);
    ensure_len("reward_weights", k, weights.len())?;
    ensure_len("components", b * k, components.len())?;
    if let Some(index) = components.iter().position(|x| x.is_infinite()) {
        return Err(Error::NonFinite {
            what: "components",
            index,
        });
    }
    ensure_finite("reward_weights", weights)?;
    let unscorable = |row: &[X]| row.iter().all(|x| x.is_nan());
    match mode {
        TrlAggregation::SumThenNormalize => {
            for (a, row) in acc.iter_mut().zip(components.chunks_exact(k)) {
                *a = if unscorable(row) {
                    f64::NAN
                } else {
                    row.iter()
                        .zip(weights)
                        .filter(|(x, _)| !x.is_nan())
                        .map(|(x, w)| w.as_f64() * x.as_f64())
                        .sum()
                };
            }
            match scale {
                Scale::Group => per_group(col, acc, groups, |x, m, s| (x - m) / (s + TRL_EPS))?,
                Scale::None => per_group(col, acc, groups, |x, m, _| x - m)?,
                Scale::Batch => {
                    let (_, s) = nan_moments(acc.iter().copied());
                    per_group(col, acc, groups, |x, m, _| (x - m) / (s + TRL_EPS))?;
                }
            }
        }
        TrlAggregation::NormalizeThenSum => {
            acc.fill(0.0);
            for (j, w) in weights.iter().enumerate() {
                for (c, row) in col.iter_mut().zip(components.chunks_exact(k)) {
                    *c = row.get(j).map_or(f64::NAN, |x| x.as_f64());
                }
                // Each normalized value goes straight into the nansum: NaN terms are skipped.
                for_each_normalized(col, groups, |i, v| {
                    if let Some(a) = acc.get_mut(i) {
                        if !v.is_nan() {
                            *a += w.as_f64() * v;
                        }
                    }
                })?;
            }
            for (a, row) in acc.iter_mut().zip(components.chunks_exact(k)) {
                if unscorable(row) {
                    *a = f64::NAN;
                }
            }
            let (mean, s) = nan_moments(acc.iter().copied());
            for (c, &a) in col.iter_mut().zip(acc.iter()) {
                *c = (a - mean) / (s + TRL_EPS);
            }
        }
    }
    for (o, &a) in out.iter_mut().zip(col.iter()) {
        *o = if a.is_nan() { F::ZERO } else { F::lit(a) };
    }
    crate::error::ensure_output("advantages", out)
}

/// Calls `f(i, (x_i − mean_g)/(nanstd_g + 1e-4))` for every row `i` of `x`, group by group.
fn for_each_normalized(
    x: &[f64],
    groups: &GroupIndex<'_>,
    f: impl FnMut(usize, f64),
) -> Result<()> {
    struct V<'a, Fn> {
        x: &'a [f64],
        f: Fn,
    }
    impl<Fn: FnMut(usize, f64)> GroupVisitor for V<'_, Fn> {
        fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
            let (mean, std) = nan_moments(rows.values(self.x));
            for (i, v) in rows.rows().zip(rows.values(self.x)) {
                (self.f)(i, (v - mean) / (std + TRL_EPS));
            }
            Ok(())
        }
    }
    groups.visit(&mut V { x, f })
}
