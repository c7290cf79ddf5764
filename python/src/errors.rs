//! Python exceptions for core errors.
//!
//! | core [`Error`] variant | Python exception (all subclass `RewardkitError(ValueError)`) | attributes |
//! |---|---|---|
//! | `LengthMismatch` | `LengthMismatchError` | `what`, `expected`, `got` |
//! | `Empty` | `EmptyInputError` | `what` |
//! | `BadShape` | `BadShapeError` | `what`, `len`, `dim` |
//! | `GroupIdOutOfRange` | `GroupIdError` | `row`, `id`, `n_groups` |
//! | `EmptyGroup` | `EmptyGroupError` | `group` |
//! | `GroupTooSmall` | `GroupTooSmallError` | `group`, `size`, `min` |
//! | `NonFinite` | `NonFiniteError` | `what`, `index` |
//! | `Overflow` | `FloatRangeError` | `what` |
//! | `InvalidParam` | `InvalidParamError` | `name`, `value`, `expected` |
//! | `MissingInput` | `MissingInputError` | `what` |
//! | `TooFewValid` | `TooFewValidError` | `what`, `count`, `min` |
//! | `TooLarge` | `TooLargeError` | `what`, `len`, `max` |
//! | `UnknownName` | `UnknownNameError` | `what` (the kind of name), `valid` (the valid names) |
//! | `TokenOutOfRange` | `TokenOutOfRangeError` | `index`, `id`, `vocab` |
//! | (binding layer) shapes of two inputs differ, wrong number of dimensions | `ShapeMismatchError` | `what` |
//!
//! Every instance also has `kind`, the core variant's name (`"NonFinite"`, ...).

use pyo3::BoundObject;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rewardkit_core::{Error, UnknownName};

create_exception!(
    rewardkit,
    RewardkitError,
    PyValueError,
    "Base class of every rewardkit error (a ValueError carrying the core's message)."
);
create_exception!(
    rewardkit,
    LengthMismatchError,
    RewardkitError,
    "An input has the wrong length."
);
create_exception!(
    rewardkit,
    EmptyInputError,
    RewardkitError,
    "An input that needs elements is empty."
);
create_exception!(
    rewardkit,
    BadShapeError,
    RewardkitError,
    "A flat input does not fit a dimension."
);
create_exception!(
    rewardkit,
    GroupIdError,
    RewardkitError,
    "A group id is out of range."
);
create_exception!(
    rewardkit,
    EmptyGroupError,
    RewardkitError,
    "A declared group has no members."
);
create_exception!(
    rewardkit,
    GroupTooSmallError,
    RewardkitError,
    "A group is smaller than the estimator needs."
);
create_exception!(
    rewardkit,
    NonFiniteError,
    RewardkitError,
    "An input holds NaN or an infinity."
);
create_exception!(
    rewardkit,
    FloatRangeError,
    RewardkitError,
    "A result on finite inputs left the float range."
);
create_exception!(
    rewardkit,
    InvalidParamError,
    RewardkitError,
    "A parameter is out of its range."
);
create_exception!(
    rewardkit,
    MissingInputError,
    RewardkitError,
    "An input the method needs is missing."
);
create_exception!(
    rewardkit,
    TooFewValidError,
    RewardkitError,
    "Too few valid (unmasked) elements."
);
create_exception!(
    rewardkit,
    TooLargeError,
    RewardkitError,
    "An input is longer than supported."
);
create_exception!(
    rewardkit,
    UnknownNameError,
    RewardkitError,
    "A configuration name matched nothing."
);
create_exception!(
    rewardkit,
    TokenOutOfRangeError,
    RewardkitError,
    "A token id is not below the vocabulary size."
);
create_exception!(
    rewardkit,
    ShapeMismatchError,
    RewardkitError,
    "Array shapes do not fit together."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RewardkitError", py.get_type::<RewardkitError>())?;
    m.add("LengthMismatchError", py.get_type::<LengthMismatchError>())?;
    m.add("EmptyInputError", py.get_type::<EmptyInputError>())?;
    m.add("BadShapeError", py.get_type::<BadShapeError>())?;
    m.add("GroupIdError", py.get_type::<GroupIdError>())?;
    m.add("EmptyGroupError", py.get_type::<EmptyGroupError>())?;
    m.add("GroupTooSmallError", py.get_type::<GroupTooSmallError>())?;
    m.add("NonFiniteError", py.get_type::<NonFiniteError>())?;
    m.add("FloatRangeError", py.get_type::<FloatRangeError>())?;
    m.add("InvalidParamError", py.get_type::<InvalidParamError>())?;
    m.add("MissingInputError", py.get_type::<MissingInputError>())?;
    m.add("TooFewValidError", py.get_type::<TooFewValidError>())?;
    m.add("TooLargeError", py.get_type::<TooLargeError>())?;
    m.add("UnknownNameError", py.get_type::<UnknownNameError>())?;
    m.add(
        "TokenOutOfRangeError",
        py.get_type::<TokenOutOfRangeError>(),
    )?;
    m.add("ShapeMismatchError", py.get_type::<ShapeMismatchError>())?;
    Ok(())
}

/// An error instance with attributes; attribute failures cannot happen on a fresh exception
/// instance, and are ignored if they do (the message is what matters).
fn with_attrs(py: Python<'_>, err: PyErr, kind: &str, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let v = err.value(py);
    let _ = v.setattr("kind", kind);
    for (k, x) in attrs {
        let _ = v.setattr(*k, x.bind(py));
    }
    err
}

fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, x: T) -> Py<PyAny> {
    match x.into_pyobject(py) {
        Ok(b) => b.into_any().unbind(),
        Err(_) => py.None(),
    }
}

/// Converts a core error into the matching Python exception (see the module docs).
pub fn to_py(e: Error) -> PyErr {
    Python::attach(|py| {
        let msg = e.to_string();
        match e {
            Error::LengthMismatch {
                what,
                expected,
                got,
            } => with_attrs(
                py,
                LengthMismatchError::new_err(msg),
                "LengthMismatch",
                &[
                    ("what", obj(py, what)),
                    ("expected", obj(py, expected)),
                    ("got", obj(py, got)),
                ],
            ),
            Error::Empty { what } => with_attrs(
                py,
                EmptyInputError::new_err(msg),
                "Empty",
                &[("what", obj(py, what))],
            ),
            Error::BadShape { what, len, dim } => with_attrs(
                py,
                BadShapeError::new_err(msg),
                "BadShape",
                &[
                    ("what", obj(py, what)),
                    ("len", obj(py, len)),
                    ("dim", obj(py, dim)),
                ],
            ),
            Error::GroupIdOutOfRange { row, id, n_groups } => with_attrs(
                py,
                GroupIdError::new_err(msg),
                "GroupIdOutOfRange",
                &[
                    ("row", obj(py, row)),
                    ("id", obj(py, id)),
                    ("n_groups", obj(py, n_groups)),
                ],
            ),
            Error::EmptyGroup { group } => with_attrs(
                py,
                EmptyGroupError::new_err(msg),
                "EmptyGroup",
                &[("group", obj(py, group))],
            ),
            Error::GroupTooSmall { group, size, min } => with_attrs(
                py,
                GroupTooSmallError::new_err(msg),
                "GroupTooSmall",
                &[
                    ("group", obj(py, group)),
                    ("size", obj(py, size)),
                    ("min", obj(py, min)),
                ],
            ),
            Error::NonFinite { what, index } => with_attrs(
                py,
                NonFiniteError::new_err(msg),
                "NonFinite",
                &[("what", obj(py, what)), ("index", obj(py, index))],
            ),
            Error::Overflow { what } => with_attrs(
                py,
                FloatRangeError::new_err(msg),
                "Overflow",
                &[("what", obj(py, what))],
            ),
            Error::InvalidParam {
                name,
                value,
                expected,
            } => with_attrs(
                py,
                InvalidParamError::new_err(msg),
                "InvalidParam",
                &[
                    ("name", obj(py, name)),
                    ("value", obj(py, value)),
                    ("expected", obj(py, expected)),
                ],
            ),
            Error::MissingInput { what } => with_attrs(
                py,
                MissingInputError::new_err(msg),
                "MissingInput",
                &[("what", obj(py, what))],
            ),
            Error::TooFewValid { what, count, min } => with_attrs(
                py,
                TooFewValidError::new_err(msg),
                "TooFewValid",
                &[
                    ("what", obj(py, what)),
                    ("count", obj(py, count)),
                    ("min", obj(py, min)),
                ],
            ),
            Error::TooLarge { what, len, max } => with_attrs(
                py,
                TooLargeError::new_err(msg),
                "TooLarge",
                &[
                    ("what", obj(py, what)),
                    ("len", obj(py, len)),
                    ("max", obj(py, max)),
                ],
            ),
            Error::UnknownName(u) => unknown(py, u),
            Error::TokenOutOfRange { index, id, vocab } => with_attrs(
                py,
                TokenOutOfRangeError::new_err(msg),
                "TokenOutOfRange",
                &[
                    ("index", obj(py, index)),
                    ("id", obj(py, id)),
                    ("vocab", obj(py, vocab)),
                ],
            ),
            // `Error` is non-exhaustive: a future variant still raises the base class.
            _ => with_attrs(py, RewardkitError::new_err(msg), "Other", &[]),
        }
    })
}

fn unknown(py: Python<'_>, u: UnknownName) -> PyErr {
    with_attrs(
        py,
        UnknownNameError::new_err(u.to_string()),
        "UnknownName",
        &[
            ("what", obj(py, u.kind)),
            ("valid", obj(py, u.valid.to_vec())),
        ],
    )
}

/// Converts a parse error of a configuration name.
pub fn name_err(u: UnknownName) -> PyErr {
    to_py(Error::UnknownName(u))
}

/// A binding-layer shape error (`ShapeMismatchError`) about input `what`.
pub fn shape_err(what: &str, msg: String) -> PyErr {
    Python::attach(|py| {
        with_attrs(
            py,
            ShapeMismatchError::new_err(msg),
            "ShapeMismatch",
            &[("what", obj(py, what.to_string()))],
        )
    })
}

/// An `UnknownNameError` for a binding-level option (`scale_rewards`, a canonicalization, ...).
pub fn option_err(kind: &'static str, valid: &'static [&'static str]) -> PyErr {
    name_err(UnknownName { kind, valid })
}
