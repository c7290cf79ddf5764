//! Status codes, the thread-local last error message, and the panic boundary.

use core::cell::RefCell;
use core::ffi::c_char;
use core::panic::AssertUnwindSafe;
use std::panic::catch_unwind;
use std::string::String;
use std::vec::Vec;

use rewardkit_core::{Error, UnknownName};

/// The status every computing function returns: `RK_OK` (0) or an error code.
///
/// Codes are stable: a code keeps its number in every later version of the ABI, and new codes are
/// only appended. Each error code comes with a message from `rk_last_error_message()`: for the
/// codes that mirror `rewardkit_core::Error` it is the core's message, word for word.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type and its constants appear as written in rewardkit.h"
)]
pub enum rk_status {
    /// Success.
    RK_OK = 0,
    /// A pointer that must not be null is null (message: `` `x` is a null pointer ``).
    RK_ERR_NULL_POINTER = 1,
    /// A buffer is not aligned for its element type (message: `` `x` is not aligned to 4 bytes ``).
    RK_ERR_MISALIGNED = 2,
    /// An argument the C layer rejects before calling the core: a mask or flag byte other than 0
    /// or 1, a string that is not UTF-8, an output buffer overlapping another argument, a handle
    /// of the wrong kind for the function.
    RK_ERR_INVALID_ARGUMENT = 3,
    /// `Error::LengthMismatch`: an input's length differs from the length the others imply.
    RK_ERR_LENGTH_MISMATCH = 4,
    /// `Error::Empty`: an input that needs at least one element is empty.
    RK_ERR_EMPTY = 5,
    /// `Error::BadShape`: a buffer cannot be viewed with the requested dimension.
    RK_ERR_BAD_SHAPE = 6,
    /// `Error::GroupIdOutOfRange`: a group id is not below the number of groups.
    RK_ERR_GROUP_ID_OUT_OF_RANGE = 7,
    /// `Error::EmptyGroup`: a declared group has no members.
    RK_ERR_EMPTY_GROUP = 8,
    /// `Error::GroupTooSmall`: a group is smaller than the estimator needs.
    RK_ERR_GROUP_TOO_SMALL = 9,
    /// `Error::NonFinite`: an input holds NaN or an infinity (the message names it and the index).
    RK_ERR_NON_FINITE = 10,
    /// `Error::Overflow`: a result on finite inputs is outside the float range.
    RK_ERR_OVERFLOW = 11,
    /// `Error::InvalidParam`: a parameter is out of range or not finite.
    RK_ERR_INVALID_PARAM = 12,
    /// `Error::MissingInput`: an input the selected method needs was not given (a null optional
    /// pointer).
    RK_ERR_MISSING_INPUT = 13,
    /// `Error::TooFewValid`: fewer valid (unmasked) elements than the statistic needs.
    RK_ERR_TOO_FEW_VALID = 14,
    /// `Error::TooLarge`: a length beyond what the core or the address space allows (also a
    /// `B·T` or byte size that overflows `size_t`).
    RK_ERR_TOO_LARGE = 15,
    /// `Error::UnknownName`: a name matched nothing; the message lists every valid name. Also an
    /// unknown parameter key.
    RK_ERR_UNKNOWN_NAME = 16,
    /// `Error::TokenOutOfRange`: a token id is not below the vocabulary size.
    RK_ERR_TOKEN_OUT_OF_RANGE = 17,
    /// A Rust panic was caught at the boundary (a bug in rewardkit; please report the message).
    RK_ERR_PANIC = 18,
    /// A core error this version of the C layer has no code for (the message says what).
    RK_ERR_OTHER = 19,
}

/// Every status, in code order (`ALL[i] as i32 == i`).
pub(crate) const ALL: [rk_status; 20] = [
    rk_status::RK_OK,
    rk_status::RK_ERR_NULL_POINTER,
    rk_status::RK_ERR_MISALIGNED,
    rk_status::RK_ERR_INVALID_ARGUMENT,
    rk_status::RK_ERR_LENGTH_MISMATCH,
    rk_status::RK_ERR_EMPTY,
    rk_status::RK_ERR_BAD_SHAPE,
    rk_status::RK_ERR_GROUP_ID_OUT_OF_RANGE,
    rk_status::RK_ERR_EMPTY_GROUP,
    rk_status::RK_ERR_GROUP_TOO_SMALL,
    rk_status::RK_ERR_NON_FINITE,
    rk_status::RK_ERR_OVERFLOW,
    rk_status::RK_ERR_INVALID_PARAM,
    rk_status::RK_ERR_MISSING_INPUT,
    rk_status::RK_ERR_TOO_FEW_VALID,
    rk_status::RK_ERR_TOO_LARGE,
    rk_status::RK_ERR_UNKNOWN_NAME,
    rk_status::RK_ERR_TOKEN_OUT_OF_RANGE,
    rk_status::RK_ERR_PANIC,
    rk_status::RK_ERR_OTHER,
];

impl rk_status {
    /// The constant's name as a NUL-terminated C string.
    pub(crate) fn name(self) -> &'static core::ffi::CStr {
        match self {
            Self::RK_OK => c"RK_OK",
            Self::RK_ERR_NULL_POINTER => c"RK_ERR_NULL_POINTER",
            Self::RK_ERR_MISALIGNED => c"RK_ERR_MISALIGNED",
            Self::RK_ERR_INVALID_ARGUMENT => c"RK_ERR_INVALID_ARGUMENT",
            Self::RK_ERR_LENGTH_MISMATCH => c"RK_ERR_LENGTH_MISMATCH",
            Self::RK_ERR_EMPTY => c"RK_ERR_EMPTY",
            Self::RK_ERR_BAD_SHAPE => c"RK_ERR_BAD_SHAPE",
            Self::RK_ERR_GROUP_ID_OUT_OF_RANGE => c"RK_ERR_GROUP_ID_OUT_OF_RANGE",
            Self::RK_ERR_EMPTY_GROUP => c"RK_ERR_EMPTY_GROUP",
            Self::RK_ERR_GROUP_TOO_SMALL => c"RK_ERR_GROUP_TOO_SMALL",
            Self::RK_ERR_NON_FINITE => c"RK_ERR_NON_FINITE",
            Self::RK_ERR_OVERFLOW => c"RK_ERR_OVERFLOW",
            Self::RK_ERR_INVALID_PARAM => c"RK_ERR_INVALID_PARAM",
            Self::RK_ERR_MISSING_INPUT => c"RK_ERR_MISSING_INPUT",
            Self::RK_ERR_TOO_FEW_VALID => c"RK_ERR_TOO_FEW_VALID",
            Self::RK_ERR_TOO_LARGE => c"RK_ERR_TOO_LARGE",
            Self::RK_ERR_UNKNOWN_NAME => c"RK_ERR_UNKNOWN_NAME",
            Self::RK_ERR_TOKEN_OUT_OF_RANGE => c"RK_ERR_TOKEN_OUT_OF_RANGE",
            Self::RK_ERR_PANIC => c"RK_ERR_PANIC",
            Self::RK_ERR_OTHER => c"RK_ERR_OTHER",
        }
    }
}

/// A failed call: its status code and message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Failure {
    pub(crate) code: rk_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: rk_status, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `RK_ERR_INVALID_ARGUMENT` with `message`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(rk_status::RK_ERR_INVALID_ARGUMENT, message)
    }
}

/// The code of a core error.
pub(crate) fn code_of(e: &Error) -> rk_status {
    use rk_status as S;
    match e {
        Error::LengthMismatch { .. } => S::RK_ERR_LENGTH_MISMATCH,
        Error::Empty { .. } => S::RK_ERR_EMPTY,
        Error::BadShape { .. } => S::RK_ERR_BAD_SHAPE,
        Error::GroupIdOutOfRange { .. } => S::RK_ERR_GROUP_ID_OUT_OF_RANGE,
        Error::EmptyGroup { .. } => S::RK_ERR_EMPTY_GROUP,
        Error::GroupTooSmall { .. } => S::RK_ERR_GROUP_TOO_SMALL,
        Error::NonFinite { .. } => S::RK_ERR_NON_FINITE,
        Error::Overflow { .. } => S::RK_ERR_OVERFLOW,
        Error::InvalidParam { .. } => S::RK_ERR_INVALID_PARAM,
        Error::MissingInput { .. } => S::RK_ERR_MISSING_INPUT,
        Error::TooFewValid { .. } => S::RK_ERR_TOO_FEW_VALID,
        Error::TooLarge { .. } => S::RK_ERR_TOO_LARGE,
        Error::UnknownName(_) => S::RK_ERR_UNKNOWN_NAME,
        Error::TokenOutOfRange { .. } => S::RK_ERR_TOKEN_OUT_OF_RANGE,
        _ => S::RK_ERR_OTHER,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::new(code_of(&e), e.to_string())
    }
}

impl From<UnknownName> for Failure {
    fn from(e: UnknownName) -> Self {
        Error::from(e).into()
    }
}

/// The result of the C layer's internal functions.
pub(crate) type Res<T> = Result<T, Failure>;

thread_local! {
    /// The last message of this thread, NUL-terminated (just `[0]` after a successful call).
    static LAST: RefCell<Vec<u8>> = RefCell::new(std::vec![0]);
}

/// Stores `message` as this thread's last error (interior NULs become `?`).
fn set_message(message: &str) {
    let _ = LAST.try_with(|m| {
        if let Ok(mut buf) = m.try_borrow_mut() {
            buf.clear();
            buf.extend(message.bytes().map(|b| if b == 0 { b'?' } else { b }));
            buf.push(0);
        }
    });
}

/// Clears this thread's last error in place (pointers handed out earlier stay valid and read "").
fn clear_message() {
    let _ = LAST.try_with(|m| {
        if let Ok(mut buf) = m.try_borrow_mut() {
            if let Some(first) = buf.first_mut() {
                *first = 0;
            }
        }
    });
}

/// This thread's last message (a static empty string if the thread-local is gone).
pub(crate) fn last_message() -> *const c_char {
    LAST.try_with(|m| m.try_borrow().map(|buf| buf.as_ptr().cast::<c_char>()).ok())
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
}

/// The panic boundary around every computing entry point: runs `f`, records its message, returns
/// its status. A panic inside `f` is caught and reported as `RK_ERR_PANIC` with the panic's text;
/// it never unwinds into C.
pub(crate) fn guard(f: impl FnOnce() -> Res<()>) -> rk_status {
    // AssertUnwindSafe: on a panic the outputs hold unspecified values, which every function's
    // documentation states for every error; nothing else is observed after the unwind.
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_message();
            rk_status::RK_OK
        }
        Ok(Err(e)) => {
            set_message(&e.message);
            e.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a non-string payload");
            set_message(&std::format!("panic in rewardkit: {what}"));
            rk_status::RK_ERR_PANIC
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: `last_message` returns a NUL-terminated buffer that lives until the next call.
        unsafe { CStr::from_ptr(last_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn codes_are_dense_and_named() {
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            let name = s.name().to_str().unwrap();
            assert!(name.starts_with("RK_"));
            assert_eq!(format!("{s:?}"), name);
        }
    }

    #[test]
    fn guard_records_and_clears_messages() {
        let s = guard(|| Err(Error::Empty { what: "rewards" }.into()));
        assert_eq!(s, rk_status::RK_ERR_EMPTY);
        assert_eq!(last(), "`rewards` is empty");
        let p = last_message();
        assert_eq!(guard(|| Ok(())), rk_status::RK_OK);
        assert_eq!(last(), "");
        // The pointer handed out before the successful call still points at the (now empty) text.
        // SAFETY: the buffer was cleared in place, not reallocated.
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_bytes(), b"");
        let s = guard(|| Err(Failure::invalid("a\0b")));
        assert_eq!(s, rk_status::RK_ERR_INVALID_ARGUMENT);
        assert_eq!(last(), "a?b");
    }

    #[test]
    fn guard_catches_panics() {
        let s = guard(|| panic!("boom {}", 7));
        assert_eq!(s, rk_status::RK_ERR_PANIC);
        assert_eq!(last(), "panic in rewardkit: boom 7");
        let s = guard(|| std::panic::panic_any(3u8));
        assert_eq!(s, rk_status::RK_ERR_PANIC);
        assert_eq!(last(), "panic in rewardkit: a non-string payload");
    }

    #[test]
    fn messages_are_per_thread() {
        let _ = guard(|| Err(Error::Empty { what: "x" }.into()));
        std::thread::spawn(|| {
            assert_eq!(last(), "");
            let _ = guard(|| Err(Error::Empty { what: "y" }.into()));
            assert_eq!(last(), "`y` is empty");
        })
        .join()
        .unwrap();
        assert_eq!(last(), "`x` is empty");
    }

    #[test]
    fn every_core_error_has_its_code() {
        let u = UnknownName {
            kind: "thing",
            valid: &["a"],
        };
        let cases = [
            (
                Error::LengthMismatch {
                    what: "x",
                    expected: 1,
                    got: 2,
                },
                rk_status::RK_ERR_LENGTH_MISMATCH,
            ),
            (Error::Empty { what: "x" }, rk_status::RK_ERR_EMPTY),
            (
                Error::BadShape {
                    what: "x",
                    len: 3,
                    dim: 2,
                },
                rk_status::RK_ERR_BAD_SHAPE,
            ),
            (
                Error::GroupIdOutOfRange {
                    row: 0,
                    id: 5,
                    n_groups: 2,
                },
                rk_status::RK_ERR_GROUP_ID_OUT_OF_RANGE,
            ),
            (
                Error::EmptyGroup { group: 1 },
                rk_status::RK_ERR_EMPTY_GROUP,
            ),
            (
                Error::GroupTooSmall {
                    group: 0,
                    size: 1,
                    min: 2,
                },
                rk_status::RK_ERR_GROUP_TOO_SMALL,
            ),
            (
                Error::NonFinite {
                    what: "x",
                    index: 0,
                },
                rk_status::RK_ERR_NON_FINITE,
            ),
            (Error::Overflow { what: "x" }, rk_status::RK_ERR_OVERFLOW),
            (
                Error::InvalidParam {
                    name: "x",
                    value: 1.0,
                    expected: "y",
                },
                rk_status::RK_ERR_INVALID_PARAM,
            ),
            (
                Error::MissingInput { what: "x" },
                rk_status::RK_ERR_MISSING_INPUT,
            ),
            (
                Error::TooFewValid {
                    what: "x",
                    count: 0,
                    min: 1,
                },
                rk_status::RK_ERR_TOO_FEW_VALID,
            ),
            (
                Error::TooLarge {
                    what: "x",
                    len: 9,
                    max: 8,
                },
                rk_status::RK_ERR_TOO_LARGE,
            ),
            (Error::UnknownName(u), rk_status::RK_ERR_UNKNOWN_NAME),
            (
                Error::TokenOutOfRange {
                    index: 0,
                    id: 9,
                    vocab: 4,
                },
                rk_status::RK_ERR_TOKEN_OUT_OF_RANGE,
            ),
        ];
        for (e, code) in cases {
            let f = Failure::from(e);
            assert_eq!(f.code, code, "{e:?}");
            assert_eq!(f.message, e.to_string());
        }
    }
}
