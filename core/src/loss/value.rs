//! The clipped value (critic) loss of PPO.

use crate::error::{Error, Result, param_positive};
use crate::layout::Mask;
use crate::loss::aggregate::{Aggregation, LossParts};
use crate::real::Real;

/// Configuration of the value loss.
///
/// # Definition
/// Per valid token, with prediction `V`, old value `V_old`, return `R` and clip `c`:
/// `ℓ = ½·max((V − R)², (V_clip − R)²)`, `V_clip = V_old + clamp(V − V_old, −c, c)`;
/// without a clip, `ℓ = ½·(V − R)²`. Derivative with respect to `V` by the torch conventions of
/// [`crate::loss::policy`] (the clipped branch passes the gradient only inside the clip range;
/// ties split it).
///
/// # Errors
/// [`ValueLoss::new`]: [`Error::InvalidParam`] unless the clip is finite and `> 0`.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::ValueLoss;
/// let v = ValueLoss::new(Some(0.5f64))?; // verl cliprange_value, OpenRLHF --critic.value_clip
/// assert_eq!(v.clip(), Some(0.5));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: verl `compute_value_loss` (`core_algos.py`); OpenRLHF `ValueLoss`
/// (`openrlhf/models/loss.py`); PPO, arXiv:1707.06347.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ValueLoss<F> {
    clip: Option<F>,
}

impl<F: Real> ValueLoss<F> {
    /// A value loss with clip `c` (none for plain squared error).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(clip: Option<F>) -> Result<Self> {
        if let Some(c) = clip {
            param_positive("cliprange_value", c)?;
        }
        Ok(Self { clip })
    }

    /// The clip.
    pub fn clip(&self) -> Option<F> {
        self.clip
    }

    /// Value, derivative and whether the clipped branch was strictly larger (verl `vf_clipfrac`).
    #[inline(always)]
    pub(crate) fn eval(&self, v: F, old: F, r: F) -> (F, F, bool) {
        let half = F::lit(0.5);
        let e1 = v - r;
        let l1 = e1 * e1;
        match self.clip {
            None => (half * l1, e1, false),
            Some(c) => {
                let dv = v - old;
                let (cd, pass) = if dv < -c {
                    (-c, F::ZERO)
                } else if dv > c {
                    (c, F::ZERO)
                } else {
                    (dv, F::ONE)
                };
                let e2 = old + cd - r;
                let l2 = e2 * e2;
                let (two_l, d) = if l1 > l2 {
                    (l1, e1 + e1)
                } else if l2 > l1 {
                    (l2, (e2 + e2) * pass)
                } else {
                    (l1, e1 + e2 * pass)
                };
                (half * two_l, half * d, l2 > l1)
            }
        }
    }
}

/// Computes the value loss: writes `∂(Σ loss sums)/∂V` into `grad` (0 at masked positions) and
/// returns the parts for `agg`.
///
/// # Definition
/// See [`ValueLoss`]; aggregate with any [`Aggregation`] (verl passes its `loss_agg_mode`;
/// OpenRLHF uses token-mean, or sample-level mean for `token_level_loss=False`).
///
/// # Shapes
/// `grad`, `values`, `old_values`, `returns`: `(B, T)` like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ at a valid position (masked
/// positions are not read); [`Error::Overflow`] when the loss overflows on finite inputs
/// (`(V − R)²` beyond the float range).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::{Aggregation, ValueLoss, value_loss}};
/// let mask = Mask::new(&[true, true], 2)?;
/// let mut g = [0.0f64; 2];
/// // V = 2, V_old = 1, R = 3, clip 0.5: ½·max(1, (1.5 − 3)²) = 1.125 (clipped branch, no gradient).
/// let p = value_loss(&mut g, &[2.0, 1.0], &[1.0, 1.0], &[3.0, 1.0], mask, &ValueLoss::new(Some(0.5))?, &Aggregation::TokenSum)?;
/// assert_eq!(p.sum, 1.125);
/// assert_eq!(g, [0.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`ValueLoss`].
pub fn value_loss<F: Real>(
    grad: &mut [F],
    values: &[F],
    old_values: &[F],
    returns: &[F],
    mask: Mask<'_>,
    loss: &ValueLoss<F>,
    agg: &Aggregation,
) -> Result<LossParts> {
    let shape = mask.shape();
    shape.check("grad", grad.len())?;
    shape.check("values", values.len())?;
    shape.check("old_values", old_values.len())?;
    shape.check("returns", returns.len())?;
    let t = shape.seq_len();
    let mut parts = LossParts::ZERO;
    for (i, ((((g, v), o), r), m)) in grad
        .chunks_exact_mut(t)
        .zip(values.chunks_exact(t))
        .zip(old_values.chunks_exact(t))
        .zip(returns.chunks_exact(t))
        .zip(mask.rows())
        .enumerate()
    {
        let mut s = 0.0f64;
        let mut len = 0usize;
        for (j, ((((g, &v), &o), &r), &mm)) in g.iter_mut().zip(v).zip(o).zip(r).zip(m).enumerate()
        {
            if !mm {
                *g = F::ZERO;
                continue;
            }
            for (what, x) in [("values", v), ("old_values", o), ("returns", r)] {
                if !x.is_finite() {
                    return Err(Error::NonFinite {
                        what,
                        index: i * t + j,
                    });
                }
            }
            let (l, d, _) = loss.eval(v, o, r);
            *g = d;
            s += l.as_f64();
            len += 1;
        }
        parts.push_row(s, len, agg);
    }
    if !parts.sum.is_finite() {
        return Err(Error::Overflow { what: "value loss" });
    }
    if !grad.iter().fold(true, |ok, g| ok & g.is_finite()) {
        return Err(Error::Overflow {
            what: "value loss gradient",
        });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        let plain = ValueLoss::<f64>::new(None).unwrap();
        // ½(3 − 1)² = 2, derivative V − R = 2.
        assert_eq!(plain.eval(3.0, 0.0, 1.0), (2.0, 2.0, false));
        let c = ValueLoss::new(Some(0.2f64)).unwrap();
        // Inside the clip: V = 1.1, V_old = 1 -> V_clip = V (up to rounding), ½(V − R)².
        let (l, d, _) = c.eval(1.1, 1.0, 0.0);
        assert!((l - 0.605).abs() < 1e-12 && (d - 1.1).abs() < 1e-12);
        // Outside, unclipped branch larger: V = 2, V_old = 1, R = 0: max(4, 1.44) = 4, d = V − R.
        assert_eq!(c.eval(2.0, 1.0, 0.0), (2.0, 2.0, false));
        assert!(ValueLoss::new(Some(0.0f64)).is_err());
    }

    #[test]
    fn every_documented_error() {
        let mask = Mask::new(&[true, false], 2).unwrap();
        let vl = ValueLoss::new(None).unwrap();
        let agg = Aggregation::TokenMean;
        let mut g = [0.0f32; 2];
        assert!(matches!(
            value_loss(
                &mut g[..1],
                &[0.0; 2],
                &[0.0; 2],
                &[0.0; 2],
                mask,
                &vl,
                &agg
            ),
            Err(Error::LengthMismatch { what: "grad", .. })
        ));
        assert_eq!(
            value_loss(
                &mut g,
                &[0.0; 2],
                &[0.0; 2],
                &[f32::NAN, 0.0],
                mask,
                &vl,
                &agg
            ),
            Err(Error::NonFinite {
                what: "returns",
                index: 0
            })
        );
        // Masked positions are not read.
        assert!(
            value_loss(
                &mut g,
                &[0.0, f32::NAN],
                &[0.0; 2],
                &[0.0; 2],
                mask,
                &vl,
                &agg
            )
            .is_ok()
        );
        assert_eq!(
            value_loss(
                &mut g,
                &[3e38, 0.0],
                &[0.0; 2],
                &[-3e38, 0.0],
                mask,
                &vl,
                &agg
            ),
            Err(Error::Overflow { what: "value loss" })
        );
    }
}
