//! Errors: one small `Copy` enum, [`Error`], whose variants carry the offending names, sizes and
//! indices, plus [`UnknownName`] for parsing configuration names.
//!
//! Policy: every input-dependent failure in `rewardkit-core` is an `Err`, never a panic and never a
//! silent NaN. Degenerate but valid inputs (a group of one, a zero-variance group, an all-masked row)
//! have documented outputs instead of errors; see [`numerics`](crate::numerics).

use core::fmt;

use crate::real::Real;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in `rewardkit-core`.
///
/// The enum is `Copy` and allocation-free so it works in `no_std` builds; `what`/`name` fields are
/// static names of the argument concerned (for example `"rewards"` or `"gamma"`).
///
/// # Examples
/// ```
/// use rewardkit_core::{Error, GroupIndex};
///
/// let err = GroupIndex::new(&[0, 3], 2).unwrap_err();
/// assert_eq!(err, Error::GroupIdOutOfRange { row: 1, id: 3, n_groups: 2 });
/// assert_eq!(err.to_string(), "group id 3 at row 1 is out of range for 2 groups");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An input's length differs from the length the other inputs imply.
    LengthMismatch {
        /// The argument whose length is wrong.
        what: &'static str,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// An input that must hold at least one element is empty.
    Empty {
        /// The empty argument.
        what: &'static str,
    },
    /// A flat buffer cannot be viewed with the requested dimension (for example a `(B, T)` matrix whose
    /// length is not `B·T`, or a zero dimension).
    BadShape {
        /// The argument concerned.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The dimension that does not fit.
        dim: usize,
    },
    /// A group id is not below the number of groups.
    GroupIdOutOfRange {
        /// Row (sample) index.
        row: usize,
        /// The id found there.
        id: u32,
        /// Number of groups declared.
        n_groups: usize,
    },
    /// A declared group has no members.
    EmptyGroup {
        /// The group id.
        group: usize,
    },
    /// A group is smaller than the estimator requires (for example pass@k needs two samples).
    GroupTooSmall {
        /// The group id.
        group: usize,
        /// Its size.
        size: usize,
        /// The minimum size.
        min: usize,
    },
    /// An input value is NaN or infinite.
    NonFinite {
        /// The argument concerned.
        what: &'static str,
        /// Flat index of the first offending element.
        index: usize,
    },
    /// A computation on finite inputs overflowed (for example a sum beyond `f64::MAX`).
    Overflow {
        /// The quantity that overflowed.
        what: &'static str,
    },
    /// A parameter is outside its valid range or not finite.
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// The value given (widened to `f64`).
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// An input that the selected method needs was not provided.
    MissingInput {
        /// The missing argument.
        what: &'static str,
    },
    /// Fewer valid (unmasked) elements than the statistic needs.
    TooFewValid {
        /// The statistic or argument concerned.
        what: &'static str,
        /// Valid elements found.
        count: usize,
        /// Valid elements needed.
        min: usize,
    },
    /// An input is longer than the crate's index type allows.
    TooLarge {
        /// The argument concerned.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The largest supported length.
        max: usize,
    },
    /// A configuration name matched no variant (from `?` on a `parse`; see [`UnknownName`]).
    UnknownName(UnknownName),
    /// A token id is not below the vocabulary size.
    TokenOutOfRange {
        /// Flat index of the token.
        index: usize,
        /// The id found there.
        id: u32,
        /// The vocabulary size `V`.
        vocab: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::LengthMismatch {
                what,
                expected,
                got,
            } => write!(f, "`{what}` has length {got}, expected {expected}"),
            Self::Empty { what } => write!(f, "`{what}` is empty"),
            Self::BadShape { what, len, dim } => {
                write!(
                    f,
                    "`{what}` of length {len} cannot be viewed with dimension {dim}"
                )
            }
            Self::GroupIdOutOfRange { row, id, n_groups } => {
                write!(
                    f,
                    "group id {id} at row {row} is out of range for {n_groups} groups"
                )
            }
            Self::EmptyGroup { group } => write!(f, "group {group} has no members"),
            Self::GroupTooSmall { group, size, min } => {
                write!(f, "group {group} has {size} members, at least {min} needed")
            }
            Self::NonFinite { what, index } => {
                write!(f, "`{what}` holds a NaN or infinite value at index {index}")
            }
            Self::Overflow { what } => write!(f, "{what}: the result is outside the float range"),
            Self::InvalidParam {
                name,
                value,
                expected,
            } => write!(
                f,
                "parameter `{name}` = {value} is invalid: expected {expected}"
            ),
            Self::MissingInput { what } => write!(f, "input `{what}` is required but missing"),
            Self::TooFewValid { what, count, min } => {
                write!(
                    f,
                    "`{what}` has {count} valid elements, at least {min} needed"
                )
            }
            Self::TooLarge { what, len, max } => {
                write!(f, "`{what}` has length {len}, the maximum is {max}")
            }
            Self::UnknownName(e) => fmt::Display::fmt(&e, f),
            Self::TokenOutOfRange { index, id, vocab } => write!(
                f,
                "token id {id} at index {index} is out of range for a vocabulary of {vocab}"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// A configuration name that matches no variant; its message lists every valid name.
///
/// # Examples
/// ```
/// use rewardkit_core::KlEstimator;
///
/// let err = "k4".parse::<KlEstimator>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown KL estimator; valid names:"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What kind of name was parsed (for example `"advantage estimator"`).
    pub kind: &'static str,
    /// Every accepted spelling.
    pub valid: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}; valid names: ", self.kind)?;
        for (i, name) in self.valid.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl core::error::Error for UnknownName {}

/// `?` on a name parse works in functions returning the crate's [`Result`].
///
/// # Examples
/// ```
/// use rewardkit_core::{AdvantageEstimator, Error, Result};
///
/// fn estimator(name: &str) -> Result<AdvantageEstimator> {
///     Ok(name.parse()?)
/// }
/// assert_eq!(estimator("rloo")?, AdvantageEstimator::Rloo);
/// assert!(matches!(estimator("rlooo"), Err(Error::UnknownName(_))));
/// # Ok::<(), Error>(())
/// ```
impl From<UnknownName> for Error {
    fn from(e: UnknownName) -> Self {
        Self::UnknownName(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation helpers shared by every module.
// ---------------------------------------------------------------------------------------------

/// `Err(LengthMismatch)` unless `got == expected`.
#[inline]
pub(crate) fn ensure_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}

/// `Err(Empty)` if `len == 0`.
#[inline]
pub(crate) fn ensure_nonempty(what: &'static str, len: usize) -> Result<()> {
    if len == 0 {
        Err(Error::Empty { what })
    } else {
        Ok(())
    }
}

/// `Err(NonFinite)` naming the first NaN or infinity in `xs`.
#[inline]
pub(crate) fn ensure_finite<F: Real>(what: &'static str, xs: &[F]) -> Result<()> {
    // Fast path: a branch-free AND over the whole slice (vectorizes); the scan for the index
    // runs only when something is wrong.
    if xs.iter().fold(true, |ok, x| ok & x.is_finite()) {
        return Ok(());
    }
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(Error::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// `Err(Overflow)` if a computed output is not finite (finite inputs whose result exceeds the
/// float range, for example an `f32` advantage beyond `f32::MAX`). Branch-free fast path.
#[inline]
pub(crate) fn ensure_output<F: Real>(what: &'static str, out: &[F]) -> Result<()> {
    if out.iter().fold(true, |ok, x| ok & x.is_finite()) {
        Ok(())
    } else {
        Err(Error::Overflow { what })
    }
}

/// A parameter that must be finite.
#[inline]
pub(crate) fn param_finite<F: Real>(name: &'static str, value: F) -> Result<F> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid(name, value, "a finite number"))
    }
}

/// A parameter that must be finite and `>= 0`.
#[inline]
pub(crate) fn param_nonneg<F: Real>(name: &'static str, value: F) -> Result<F> {
    if value.is_finite() && value >= F::ZERO {
        Ok(value)
    } else {
        Err(invalid(name, value, "a finite number >= 0"))
    }
}

/// A parameter that must be finite and `> 0`.
#[inline]
pub(crate) fn param_positive<F: Real>(name: &'static str, value: F) -> Result<F> {
    if value.is_finite() && value > F::ZERO {
        Ok(value)
    } else {
        Err(invalid(name, value, "a finite number > 0"))
    }
}

/// A parameter in the closed interval `[lo, hi]`; `expected` describes the interval in words.
#[inline]
pub(crate) fn param_in<F: Real>(
    name: &'static str,
    value: F,
    lo: F,
    hi: F,
    expected: &'static str,
) -> Result<F> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(invalid(name, value, expected))
    }
}

/// Builds an [`Error::InvalidParam`]; an `f32` value is stored as the `f64` of its shortest decimal,
/// so the message shows `-0.1`, not `-0.10000000149011612`.
#[inline]
pub(crate) fn invalid<F: Real>(name: &'static str, value: F, expected: &'static str) -> Error {
    Error::InvalidParam {
        name,
        value: value.as_f64_decimal(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_check_reports_first_bad_index() {
        assert_eq!(ensure_finite("x", &[1.0f32, 2.0, 3.0]), Ok(()));
        assert_eq!(
            ensure_finite("x", &[1.0f64, f64::NAN, f64::INFINITY]),
            Err(Error::NonFinite {
                what: "x",
                index: 1
            })
        );
        assert_eq!(
            ensure_finite("x", &[f32::NEG_INFINITY]),
            Err(Error::NonFinite {
                what: "x",
                index: 0
            })
        );
        // Large finite values whose sum overflows are still finite inputs.
        assert_eq!(ensure_finite("x", &[f32::MAX, f32::MAX]), Ok(()));
        assert_eq!(ensure_finite::<f64>("x", &[]), Ok(()));
    }

    #[test]
    fn params() {
        assert!(param_positive("beta", 0.0f64).is_err());
        assert!(param_positive("beta", f64::NAN).is_err());
        assert_eq!(param_positive("beta", 0.5f32), Ok(0.5));
        assert!(param_nonneg("c", -1e-9f64).is_err());
        assert_eq!(param_nonneg("c", 0.0f64), Ok(0.0));
        assert!(param_in("g", 1.5f64, 0.0, 1.0, "in [0, 1]").is_err());
        assert_eq!(param_in("g", 1.0f64, 0.0, 1.0, "in [0, 1]"), Ok(1.0));
        assert!(param_finite("x", f32::INFINITY).is_err());
        let e = invalid("gamma", 2.0f32, "in [0, 1]");
        assert_eq!(
            e.to_string(),
            "parameter `gamma` = 2 is invalid: expected in [0, 1]"
        );
        let e = invalid("clip_ratio_low", -0.1f32, "a finite number >= 0");
        assert_eq!(
            e.to_string(),
            "parameter `clip_ratio_low` = -0.1 is invalid: expected a finite number >= 0"
        );
        assert_eq!(
            Error::Overflow { what: "advantages" }.to_string(),
            "advantages: the result is outside the float range"
        );
    }

    #[test]
    fn unknown_name_lists_all() {
        let e = UnknownName {
            kind: "thing",
            valid: &["a", "b"],
        };
        assert_eq!(e.to_string(), "unknown thing; valid names: a, b");
        assert_eq!(
            Error::from(e).to_string(),
            "unknown thing; valid names: a, b"
        );
    }
}
