//! Several rewards per sample: weighted sums, GDPO (normalize each reward, then combine) and TRL's two
//! `multi_objective_aggregation` modes (rewardkit numerics; TRL's own NaN semantics are in
//! [`super::trl_grpo_advantages`]).

#[cfg(feature = "alloc")]
use alloc::vec;

use crate::error::{Error, Result, ensure_finite, ensure_len, ensure_nonempty};
use crate::layout::GroupIndex;
#[cfg(feature = "alloc")]
use crate::layout::Mask;
use crate::real::Real;
#[cfg(feature = "alloc")]
use crate::stats::Whiten;

use super::affine::{Acc, affine_kernel, non_finite};
use super::group::Grpo;

/// Checks a `(B, K)` component matrix and `(K)` weights; returns `K`.
pub(crate) fn check_components<X: Real, F: Real>(
    components: &[X],
    weights: &[F],
    n_rows: usize,
) -> Result<usize> {
    ensure_nonempty("reward_weights", weights.len())?;
    let k = weights.len();
    ensure_len("components", n_rows * k, components.len())?;
    ensure_finite("components", components)?;
    if let Some(index) = weights.iter().position(|w| !w.is_finite()) {
        return Err(Error::NonFinite {
            what: "reward_weights",
            index,
        });
    }
    Ok(k)
}

/// `Σ_k w_k·r_{i,k}` of one row in `f64`.
#[inline]
pub(crate) fn row_weighted_sum<X: Real, F: Real>(row: &[X], weights: &[F]) -> f64 {
    row.iter()
        .zip(weights)
        .map(|(r, w)| r.as_f64() * w.as_f64())
        .sum()
}

/// Weighted sum of reward components: `Rᵢ = Σ_k w_k·r_{i,k}` (TRL's first step of
/// `sum_then_normalize`).
///
/// # Shapes
/// `out`: `(B)`; `components`: `(B, K)` row-major; `weights`: `(K)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::Empty`] for no weights; [`Error::NonFinite`].
///
/// # Examples
/// ```
/// use rewardkit_core::advantage::weighted_sum;
/// let mut r = [0.0f32; 2];
/// weighted_sum(&mut r, &[1.0, 0.0, 0.0, 1.0], &[1.0, 0.5])?;
/// assert_eq!(r, [1.0, 0.5]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn weighted_sum<F: Real>(out: &mut [F], components: &[F], weights: &[F]) -> Result<()> {
    let k = check_components(components, weights, out.len())?;
    for (o, row) in out.iter_mut().zip(components.chunks_exact(k)) {
        *o = F::lit(row_weighted_sum(row, weights));
    }
    crate::error::ensure_output("weighted_sum", out)?;
    Ok(())
}

/// TRL's default `sum_then_normalize`: the weighted sum of the components, then [`super::grpo`].
///
/// # Shapes
/// `out`: `(B)`; `components`: `(B, K)`; `weights`: `(K)`.
///
/// # Errors
/// As [`weighted_sum`] and [`super::grpo`].
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::{Grpo, sum_then_normalize}};
/// let groups = GroupIndex::uniform(2, 2)?;
/// let mut adv = [0.0f64; 2];
/// sum_then_normalize(&mut adv, &[1.0, 1.0, 0.0, 0.0], &[1.0, 1.0], &groups, &Grpo::default())?;
/// assert!(adv[0] > 0.0 && adv[1] < 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn sum_then_normalize<F: Real>(
    out: &mut [F],
    components: &[F],
    weights: &[F],
    groups: &GroupIndex<'_>,
    params: &Grpo<F>,
) -> Result<()> {
    groups.check_rows("out", out.len())?;
    let mut total = vec![F::ZERO; out.len()];
    weighted_sum(&mut total, components, weights)?;
    super::grpo(out, &total, groups, params)
}

/// Per-row `accᵢ = Σ_k w_k·A_{i,k}` with `A_{·,k}` the group advantage of component `k`
/// (`params`), each `A` rounded to `F` as [`super::grpo`] writes it. Scratch: `col` `(B)`, `adv`
/// `(B)`, `table` for scattered groups.
pub(crate) fn decoupled_sum<X: Real, F: Real>(
    acc: &mut [f64],
    col: &mut [f64],
    adv: &mut [F],
    components: &[X],
    weights: &[F],
    groups: &GroupIndex<'_>,
    params: &Grpo<F>,
    table: &mut [f64],
) -> Result<()> {
    let b = acc.len();
    groups.check_rows("rows", b)?;
    let k = check_components(components, weights, b)?;
    acc.fill(0.0);
    for (j, w) in weights.iter().enumerate() {
        for (c, row) in col.iter_mut().zip(components.chunks_exact(k)) {
            *c = row.get(j).map_or(0.0, |x| x.as_f64());
        }
        let rule = params.rule(col)?;
        affine_kernel(adv, col, "components", groups, &rule, table)?;
        for (a, &x) in acc.iter_mut().zip(adv.iter()) {
            *a += w.as_f64() * x.as_f64();
        }
    }
    Ok(())
}

/// Batch normalization of per-sequence values (`normalize_then_sum`'s last step):
/// `(x − mean)/(std + ε)` with Bessel's `std` over the batch (0 for one row); equal values give 0.
pub(crate) fn batch_normalize<F: Real>(out: &mut [F], eps: f64) -> Result<()> {
    let (acc, n) = Acc::of(out.iter().map(|x| x.as_f64()));
    if !acc.finite() {
        return Err(non_finite("advantages", out));
    }
    let m = acc.moments(n.max(1));
    let denom = m.std() + eps;
    for o in out.iter_mut() {
        let c = o.as_f64() - m.mean;
        *o = F::lit(if c == 0.0 { 0.0 } else { c / denom });
    }
    crate::error::ensure_output("normalize_then_sum", out)
}

/// GDPO (Liu et al., 2026, arXiv:2601.05242; verl `gdpo`): normalize each reward within its groups,
/// combine with weights, broadcast to tokens and whiten over the batch.
///
/// # Definition
/// `A_k = GRPO(r_{·,k})` per component (with `params`), `aᵢ = Σ_k w_k·A_{i,k}`,
/// `A_{i,t} = whiten(aᵢ·m)·m` ([`Whiten`], statistics over the valid tokens).
///
/// # Shapes
/// `advantages`: `(B, T)`; `components`: `(B, K)`; `weights`: `(K)`.
///
/// # Errors
/// As [`weighted_sum`], [`super::grpo`] and [`crate::stats::masked_whiten`].
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, Mask, advantage::{Grpo, Scale, Singleton, gdpo}, stats::Whiten};
/// let groups = GroupIndex::uniform(2, 2)?;
/// let mask = Mask::new(&[true, true], 1)?;
/// let mut adv = [0.0f64; 2];
/// // Row 0 wins reward 0 by 10, row 1 wins reward 1 by 1: after per-reward normalization the two
/// // rewards have equal say and cancel (a plain sum would favour row 0).
/// let p = Grpo::new(Scale::Group, 0.0, Singleton::Zero)?;
/// gdpo(&mut adv, &[10.0, 0.0, 0.0, 1.0], &[1.0, 1.0], mask, &groups, &p, &Whiten::default())?;
/// assert!(adv[0].abs() < 1e-6 && adv[1].abs() < 1e-6);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn gdpo<F: Real>(
    advantages: &mut [F],
    components: &[F],
    weights: &[F],
    mask: Mask<'_>,
    groups: &GroupIndex<'_>,
    params: &Grpo<F>,
    whiten: &Whiten<F>,
) -> Result<()> {
    let b = mask.shape().batch();
    mask.shape().check("advantages", advantages.len())?;
    groups.check_rows("mask rows", b)?;
    let (mut acc, mut col) = (vec![0.0f64; b], vec![0.0f64; b]);
    let mut table = vec![0.0f64; super::affine::table_len(groups)];
    let head = advantages.get_mut(..b).unwrap_or(&mut []);
    decoupled_sum(
        &mut acc, &mut col, head, components, weights, groups, params, &mut table,
    )?;
    for (o, a) in head.iter_mut().zip(&acc) {
        *o = F::lit(*a);
    }
    super::returns::broadcast_rows_in_place(advantages, mask, Some(whiten))
}

/// TRL's `normalize_then_sum` (GDPO form, per sequence) with rewardkit numerics: each component
/// normalized within its groups, weighted and summed, then normalized over the batch.
///
/// # Definition
/// `r̃_{i,k} = (r_{i,k} − μ_{g,k})/(σ_{g,k} + ε)`, `Rᵢ = Σ_k w_k·r̃_{i,k}`,
/// `Aᵢ = (Rᵢ − mean(R))/(std(R) + ε)`; standard deviations are Bessel-corrected; singleton groups
/// give `r̃ = 0`.
///
/// # Shapes
/// `out`: `(B)`; `components`: `(B, K)`; `weights`: `(K)`.
///
/// # Errors
/// As [`weighted_sum`] and [`super::grpo`], plus [`Error::InvalidParam`] for a negative `eps`.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, advantage::normalize_then_sum};
/// let groups = GroupIndex::uniform(4, 2)?;
/// let mut adv = [0.0f64; 4];
/// normalize_then_sum(&mut adv, &[1.0, 0.0, 0.0, 1.0], &[1.0], &groups, 1e-4)?;
/// assert!((adv.iter().sum::<f64>()).abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn normalize_then_sum<F: Real>(
    out: &mut [F],
    components: &[F],
    weights: &[F],
    groups: &GroupIndex<'_>,
    eps: F,
) -> Result<()> {
    let params = Grpo::new(super::Scale::Group, eps, super::Singleton::Zero)?;
    let b = out.len();
    let (mut acc, mut col) = (vec![0.0f64; b], vec![0.0f64; b]);
    let mut table = vec![0.0f64; super::affine::table_len(groups)];
    decoupled_sum(
        &mut acc, &mut col, out, components, weights, groups, &params, &mut table,
    )?;
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = F::lit(*a);
    }
    batch_normalize(out, eps.as_f64())
}
