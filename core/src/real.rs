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
//! (tolerances in `docs/numerics.md`).

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

    /// Converts a count. Exact below 2^24 (`f32`) or 2^53 (`f64`).
    fn from_usize(n: usize) -> Self;
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

    #[inline(always)]
    fn from_usize(n: usize) -> Self {
        n as Self
    }
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
    fn from_usize(n: usize) -> Self {
        n as Self
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
    fn literals_round_once() {
        assert_eq!(f32::lit(0.1), 0.1f32);
        assert_eq!(f64::lit(0.1), 0.1f64);
        assert_eq!(f32::lit(1e300), f32::INFINITY);
        assert_eq!(f32::from_usize(16_777_216), 16_777_216.0);
        assert_eq!(0.1f32.as_f64(), f64::from(0.1f32));
        assert_eq!(<f32 as Real>::NAME, "f32");
        assert_eq!(usize_f64(7), 7.0);
    }
}
