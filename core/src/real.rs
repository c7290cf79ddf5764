//! The scalar type: [`Real`], implemented for `f32` and `f64` only.
//!
//! Every numeric routine in the crate is generic over `F: Real`. The trait is sealed, so methods can be
//! added without breaking users, and it gives infallible literals ([`Real::lit`]) instead of the
//! `F::from(0.5).unwrap()` idiom, which is a panic path.
//!
//! # Accumulation
//! Reductions (sums, means, variances) accumulate in `f64` whatever `F` is: [`Real::as_f64`] widens
//! exactly and [`Real::lit`] rounds back once at the end. An `f32` result is therefore the correctly
//! rounded `f64` result in most cases, and the `f64` path is the oracle for the `f32` path
//! (tolerances in [`numerics`](crate::numerics)).

use core::fmt::{Debug, Display};

use num_traits::{ConstOne, ConstZero, Float, FloatConst};

mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point scalar: `f32` or `f64`.
///
/// # Examples
/// ```
/// use rewardkit_core::Real;
///
/// fn half<F: Real>(x: F) -> F {
///     x * F::lit(0.5)
/// }
/// assert_eq!(half(3.0f32), 1.5);
/// assert_eq!(half(3.0f64), 1.5);
/// ```
pub trait Real:
    Float
    + FloatConst
    + ConstZero
    + ConstOne
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
    + private::Sealed
{
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// Converts an `f64` literal: lossless for `f64`, round-to-nearest for `f32`. Never fails; values
    /// beyond `f32::MAX` become infinite, so use it for constants, not for user data.
    fn lit(x: f64) -> Self;

    /// Widens to `f64` exactly.
    fn as_f64(self) -> f64;

    /// The `f64` nearest to the shortest decimal that round-trips `self`: `0.1f32` gives `0.1`, not
    /// [`Real::as_f64`]'s exact `0.10000000149011612`. For messages (errors print parameter values
    /// this way), never for arithmetic. The identity for `f64`.
    fn as_f64_decimal(self) -> f64;

    /// Converts a count. Exact below 2^24 (`f32`) or 2^53 (`f64`).
    fn from_usize(n: usize) -> Self;

    /// `eˣ − 1`, branch-free so that loops over it vectorize: Cody–Waite range reduction
    /// `x = n·ln 2 + r`, a Taylor polynomial for `expm1(r)` on `|r| <= ln 2 / 2`, and
    /// `expm1(x) = 2ⁿ·expm1(r) + (2ⁿ − 1)`. Accurate to a few ulp over the whole range (tested
    /// against the platform's `exp_m1`); `+∞` above the overflow threshold, `−1` far below zero,
    /// NaN for NaN.
    fn exp_m1_fast(self) -> Self;

    /// `eˣ`, branch-free (vectorizes), with the reduction of [`Real::exp_m1_fast`]:
    /// `eˣ = 2ⁿ + 2ⁿ·expm1(r)`. A few ulp over the normal range; results below `e^−86.6` (`f32`) or
    /// `e^−707.7` (`f64`) are flushed to `0`; `+∞` above the overflow threshold; NaN for NaN.
    fn exp_fast(self) -> Self;
}

impl Real for f32 {
    const NAME: &'static str = "f32";

    #[inline(always)]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "rounding an f64 literal to f32 is the documented behaviour"
    )]
    fn lit(x: f64) -> Self {
        x as Self
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }

    fn as_f64_decimal(self) -> f64 {
        // `{:e}` prints the shortest digits that round-trip the f32; parsing them as f64 gives the
        // f64 nearest to that decimal. At most 15 bytes ("-3.4028235e38"); the buffer has room.
        let mut buf = StackStr::<32>::new();
        if core::fmt::write(&mut buf, format_args!("{self:e}")).is_ok() {
            if let Ok(v) = buf.as_str().parse::<f64>() {
                return v;
            }
        }
        f64::from(self)
    }

    #[inline(always)]
    fn from_usize(n: usize) -> Self {
        n as Self
    }

    #[inline(always)]
    fn exp_m1_fast(self) -> Self {
        const OVERFLOW: f32 = 88.722_84;
        let (p, s, n0) = reduce_f32(self);
        let y = if n0 { p } else { s * p + (s - 1.0) };
        if self > OVERFLOW { Self::INFINITY } else { y }
    }

    #[inline(always)]
    fn exp_fast(self) -> Self {
        const OVERFLOW: f32 = 88.722_84;
        const UNDERFLOW: f32 = -86.6; // the reduction's lower bound (2⁻¹²⁵ ≈ e^−86.64)
        let (p, s, _) = reduce_f32(self);
        let y = s + s * p;
        if self > OVERFLOW {
            Self::INFINITY
        } else if self < UNDERFLOW {
            0.0
        } else {
            y
        }
    }
}

/// Cody–Waite reduction for `f32`: `x = n·ln 2 + r`, returns `(expm1(r), 2ⁿ, n == 0)`.
#[inline(always)]
#[expect(
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "n is an integer in [-125, 129] after the clamp: the casts are exact and the exponent field is in range"
)]
fn reduce_f32(x: f32) -> (f32, f32, bool) {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    // ln 2 split into a high part with trailing zero bits and the rest (Cody–Waite).
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding and subtracting it rounds to an integer
    let x = x.clamp(-86.6, 89.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = r + r
        * r
        * (0.5
            + r * (1.0 / 6.0
                + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0)))));
    // n as an integer from the low mantissa bits of t (no float-to-int conversion, which is
    // scalar and saturating); 2ⁿ = 2ⁿ⁻¹·2 keeps the exponent field valid up to n = 128.
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let half = f32::from_bits(((ni - 1 + 127) as u32) << 23);
    (p, half * 2.0, ni == 0)
}

impl Real for f64 {
    const NAME: &'static str = "f64";

    #[inline(always)]
    fn lit(x: f64) -> Self {
        x
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }

    #[inline(always)]
    fn as_f64_decimal(self) -> f64 {
        self
    }

    #[inline(always)]
    fn from_usize(n: usize) -> Self {
        n as Self
    }

    #[inline(always)]
    fn exp_m1_fast(self) -> Self {
        const OVERFLOW: f64 = 709.782_712_893_384;
        let (p, s, n0) = reduce_f64(self);
        let y = if n0 { p } else { s * p + (s - 1.0) };
        if self > OVERFLOW { Self::INFINITY } else { y }
    }

    #[inline(always)]
    fn exp_fast(self) -> Self {
        const OVERFLOW: f64 = 709.782_712_893_384;
        const UNDERFLOW: f64 = -707.7; // the reduction's lower bound (2⁻¹⁰²¹ ≈ e^−707.7)
        let (p, s, _) = reduce_f64(self);
        let y = s + s * p;
        if self > OVERFLOW {
            Self::INFINITY
        } else if self < UNDERFLOW {
            0.0
        } else {
            y
        }
    }
}

/// Cody–Waite reduction for `f64`: `x = n·ln 2 + r`, returns `(expm1(r), 2ⁿ, n == 0)`.
#[inline(always)]
#[expect(
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "n is an integer in [-1010, 1025] after the clamp: the casts are exact and the exponent field is in range"
)]
fn reduce_f64(x: f64) -> (f64, f64, bool) {
    const LOG2E: f64 = core::f64::consts::LOG2_E;
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵²
    let x = x.clamp(-707.7, 710.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients 1/k! for k = 2..13 (Horner); truncation below 1e-17 relative.
    let mut q = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ] {
        q = c + r * q;
    }
    let p = r + r * r * q;
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i64;
    let half = f64::from_bits(((ni - 1 + 1023) as u64) << 52);
    (p, half * 2.0, ni == 0)
}

/// A fixed-capacity string for formatting without `alloc`; writes past the capacity fail.
struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl<const N: usize> core::fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Converts a count to `f64` (exact below 2^53).
#[inline(always)]
pub(crate) fn usize_f64(n: usize) -> f64 {
    n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_m1_matches_the_platform() {
        // Relative error against std's expm1 over the whole range, in ulps of the result.
        let mut worst32 = 0.0f64;
        let mut x = -90.0f32;
        while x < 89.0 {
            let (got, want) = (x.exp_m1_fast(), x.exp_m1());
            if want.is_finite() && want != 0.0 {
                let ulp = f64::from(f32::EPSILON) * f64::from(want.abs());
                worst32 = worst32.max(f64::from((got - want).abs()) / ulp);
            } else {
                assert_eq!(got, want, "{x}");
            }
            x += 0.001_37;
        }
        assert!(worst32 <= 2.0, "f32 worst {worst32} ulp");
        let mut worst64 = 0.0f64;
        let mut y = -745.0f64;
        while y < 710.0 {
            let (got, want) = (y.exp_m1_fast(), y.exp_m1());
            if want.is_finite() && want != 0.0 {
                worst64 = worst64.max((got - want).abs() / (f64::EPSILON * want.abs()));
            } else {
                assert_eq!(got, want, "{y}");
            }
            y += 0.000_731;
        }
        assert!(worst64 <= 4.0, "f64 worst {worst64} ulp");
        // exp_fast over the normal range.
        let mut worst = 0.0f64;
        let mut z = -86.5f32;
        while z < 88.7 {
            let (got, want) = (f64::from(z.exp_fast()), f64::from(z.exp()));
            worst = worst.max((got - want).abs() / (f64::from(f32::EPSILON) * want));
            z += 0.000_93;
        }
        assert!(worst <= 2.0, "f32 exp worst {worst} ulp");
        let mut worst = 0.0f64;
        let mut z = -707.6f64;
        while z < 709.7 {
            let (got, want) = (z.exp_fast(), z.exp());
            worst = worst.max((got - want).abs() / (f64::EPSILON * want));
            z += 0.000_611;
        }
        assert!(worst <= 4.0, "f64 exp worst {worst} ulp");
        assert_eq!((-100.0f32).exp_fast(), 0.0);
        assert_eq!(100.0f32.exp_fast(), f32::INFINITY);
        assert_eq!(0.0f64.exp_fast(), 1.0);
        assert!(f32::NAN.exp_fast().is_nan());
        // Tiny arguments keep full relative precision; specials.
        assert_eq!(1e-30f64.exp_m1_fast(), 1e-30);
        assert_eq!((-1e-20f32).exp_m1_fast(), -1e-20);
        assert!(f64::NAN.exp_m1_fast().is_nan());
        assert_eq!(f32::INFINITY.exp_m1_fast(), f32::INFINITY);
        assert_eq!(f64::NEG_INFINITY.exp_m1_fast(), -1.0);
        assert_eq!(1000.0f64.exp_m1_fast(), f64::INFINITY);
    }

    #[test]
    fn literals_round_once() {
        assert_eq!(f32::lit(0.1), 0.1f32);
        assert_eq!(f64::lit(0.1), 0.1f64);
        assert_eq!(f32::lit(1e300), f32::INFINITY);
        assert_eq!(f32::from_usize(16_777_216), 16_777_216.0);
        assert_eq!(0.1f32.as_f64(), f64::from(0.1f32));
        assert_eq!(<f32 as Real>::NAME, "f32");
        assert_eq!(usize_f64(7), 7.0);
    }

    #[test]
    fn decimal_widening_prints_what_the_user_wrote() {
        assert_eq!((-0.1f32).as_f64_decimal(), -0.1);
        assert_eq!(0.1f32.as_f64(), 0.100_000_001_490_116_12);
        assert_eq!(f32::MAX.as_f64_decimal(), 3.402_823_5e38);
        assert_eq!(f32::MIN_POSITIVE.as_f64_decimal(), 1.175_494_4e-38);
        assert_eq!(1e-45f32.as_f64_decimal(), 1e-45); // subnormal
        assert_eq!(f32::INFINITY.as_f64_decimal(), f64::INFINITY);
        assert_eq!(f32::NEG_INFINITY.as_f64_decimal(), f64::NEG_INFINITY);
        assert!(f32::NAN.as_f64_decimal().is_nan());
        assert_eq!(0.1f64.as_f64_decimal(), 0.1);
        assert_eq!(alloc::format!("{}", 0.7f32.as_f64_decimal()), "0.7");
    }
}
