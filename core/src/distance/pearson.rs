//! The Pearson distance, streaming and exact (no cancellation near `ρ = 1`).

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, ensure_nonempty, invalid};
use crate::real::Real;

/// A source of weighted pairs `(x, y, w)`, visited three times in the same order.
pub(crate) trait Pairs {
    fn visit(&self, f: impl FnMut(f64, f64, f64));
}

pub(crate) fn zero_variance(what: &'static str, sd: f64) -> Error {
    Error::InvalidParam {
        name: what,
        value: sd,
        expected: "a reward whose canonical form has non-zero variance under the weights (the \
                   Pearson distance is undefined for a constant)",
    }
}

/// Streaming weighted Pearson distance `D = ½·sqrt(E_w[(x̂ − ŷ)²]) = sqrt((1 − ρ)/2)` with
/// standardised `x̂ = (x − μ_x)/σ_x`; errors when `σ_x <= tol_x` or `σ_y <= tol_y`.
pub(crate) fn pearson_pairs(
    src: &impl Pairs,
    names: (&'static str, &'static str),
    tol: (f64, f64),
) -> Result<f64> {
    let (mut w_sum, mut sx, mut sy) = (0.0f64, 0.0f64, 0.0f64);
    src.visit(|x, y, w| {
        w_sum += w;
        sx += w * x;
        sy += w * y;
    });
    if w_sum.is_nan() || w_sum <= 0.0 || w_sum.is_infinite() {
        return Err(Error::InvalidParam {
            name: "weights",
            value: w_sum,
            expected: "weights with a positive, finite sum",
        });
    }
    let (mx, my) = (sx / w_sum, sy / w_sum);
    let (mut vx, mut vy) = (0.0f64, 0.0f64);
    src.visit(|x, y, w| {
        vx += w * (x - mx) * (x - mx);
        vy += w * (y - my) * (y - my);
    });
    let (sdx, sdy) = (Float::sqrt(vx / w_sum), Float::sqrt(vy / w_sum));
    if !(sdx.is_finite() && sdy.is_finite() && mx.is_finite() && my.is_finite()) {
        return Err(Error::Overflow {
            what: "Pearson moments",
        });
    }
    if sdx <= tol.0 {
        return Err(zero_variance(names.0, sdx));
    }
    if sdy <= tol.1 {
        return Err(zero_variance(names.1, sdy));
    }
    let mut d2 = 0.0f64;
    src.visit(|x, y, w| {
        let e = (x - mx) / sdx - (y - my) / sdy;
        d2 += w * e * e;
    });
    Ok((0.5 * Float::sqrt(d2 / w_sum)).min(1.0))
}

struct SlicePairs<'a, F> {
    x: &'a [F],
    y: &'a [F],
    w: Option<&'a [F]>,
}

impl<F: Real> Pairs for SlicePairs<'_, F> {
    fn visit(&self, mut f: impl FnMut(f64, f64, f64)) {
        match self.w {
            Some(w) => {
                for ((x, y), w) in self.x.iter().zip(self.y).zip(w) {
                    f(x.as_f64(), y.as_f64(), w.as_f64());
                }
            }
            None => {
                for (x, y) in self.x.iter().zip(self.y) {
                    f(x.as_f64(), y.as_f64(), 1.0);
                }
            }
        }
    }
}

fn max_abs<F: Real>(x: &[F]) -> f64 {
    x.iter().fold(0.0f64, |m, v| m.max(Float::abs(v.as_f64())))
}

/// The Pearson distance between two weighted samples.
///
/// # Definition
/// `D_ρ(x, y) = sqrt((1 − ρ(x, y))/2)` with `ρ` the Pearson correlation under weights `w`
/// (uniform if `None`), computed as `½·sqrt(E_w[(x̂ − ŷ)²])` for the standardised `x̂, ŷ`, which
/// equals it exactly and has no cancellation near `ρ = 1`. `D ∈ [0, 1]`: 0 iff `y = αx + β`
/// with `α > 0` (on the support of `w`), 1 iff `α < 0`. A sample whose weighted standard deviation
/// is at most `64·ε_F·max|x|` counts as constant.
///
/// # Shapes
/// `x`, `y`, `weights`: `(N)`.
///
/// # Errors
/// [`Error::Empty`]; [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::InvalidParam`] for
/// negative weights, weights summing to 0, or a constant `x` (`name = "x"`) or `y` (`"y"`), where
/// the distance is undefined; [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::distance::pearson_distance;
/// assert!(pearson_distance(&[1.0f64, 2.0, 3.0], &[10.0, 20.0, 30.0], None)? < 1e-15);
/// assert!((pearson_distance(&[1.0f64, 2.0, 3.0], &[3.0, 2.0, 1.0], None)? - 1.0).abs() < 1e-15);
/// // ρ = 0 ⇒ D = sqrt(1/2).
/// let d = pearson_distance(&[1.0f64, -1.0, 1.0, -1.0], &[1.0, 1.0, -1.0, -1.0], None)?;
/// assert!((d - 0.5f64.sqrt()).abs() < 1e-15);
/// assert!(pearson_distance(&[1.0f64, 1.0], &[1.0, 2.0], None).is_err());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Gleave et al. (2021), EPIC, arXiv:2006.13900, Def. 4.4 (Pearson distance);
/// `evaluating-rewards` `tabular.py::pearson_distance`.
pub fn pearson_distance<F: Real>(x: &[F], y: &[F], weights: Option<&[F]>) -> Result<F> {
    ensure_nonempty("x", x.len())?;
    ensure_len("y", x.len(), y.len())?;
    ensure_finite("x", x)?;
    ensure_finite("y", y)?;
    if let Some(w) = weights {
        ensure_len("weights", x.len(), w.len())?;
        ensure_finite("weights", w)?;
        if let Some(&v) = w.iter().find(|&&v| v < F::ZERO) {
            return Err(invalid("weights", v, "weights >= 0"));
        }
    }
    let eps = F::epsilon().as_f64();
    let src = SlicePairs { x, y, w: weights };
    let d = pearson_pairs(
        &src,
        ("x", "y"),
        (64.0 * eps * max_abs(x), 64.0 * eps * max_abs(y)),
    )?;
    Ok(F::lit(d))
}
