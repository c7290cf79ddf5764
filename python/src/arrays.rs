//! Array conversion: NumPy views without copies where the input allows it, the float type of a
//! call, masks and group indices.
//!
//! No arithmetic happens here: inputs are viewed (or, when their dtype or layout differs, converted
//! by NumPy) and outputs are allocated as NumPy arrays that the core writes into.

use numpy::ndarray::IxDyn;
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyReadwriteArrayDyn, PyUntypedArray, PyUntypedArrayMethods, dtype,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rewardkit_core::{GroupIndex, Mask, Real};

use crate::errors::{shape_err, to_py};

/// The scalar type a call computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dt {
    /// `float32` (also chosen for `float16` inputs).
    F32,
    /// `float64` (everything else: `float64`, integers, Python lists of floats).
    F64,
}

/// A float type the bindings compute in: `f32` or `f64`.
pub trait Float: Real + Element {}
impl Float for f32 {}
impl Float for f64 {}

/// `numpy`, imported once per call site (a dictionary lookup after the first import).
pub fn np(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

/// The float type of a call from its first float input: `Dt::F32` for a `float32` or `float16`
/// array (or tensor), `Dt::F64` otherwise.
pub fn dtype_of(obj: &Bound<'_, PyAny>) -> PyResult<Dt> {
    let py = obj.py();
    let arr = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => np(py)?
            .call_method1("asarray", (obj,))?
            .cast_into::<PyUntypedArray>()
            .map_err(PyErr::from)?,
    };
    let d = arr.dtype();
    // float32 and float16 compute in f32; float64, integers and bools in f64.
    Ok(if d.kind() == b'f' && d.itemsize() <= 4 {
        Dt::F32
    } else {
        Dt::F64
    })
}

/// A read-only, C-contiguous view of `obj` as `F`: the array itself when it already is one (no
/// copy), otherwise `numpy.ascontiguousarray(obj, dtype=F)` (a copy only where dtype or layout
/// differ; torch CPU tensors of dtype `F` are viewed without a copy).
pub fn view<'py, F: Float>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, F>> {
    let py = obj.py();
    if let Ok(a) = obj.cast::<PyArrayDyn<F>>()
        && a.is_c_contiguous()
    {
        return a.try_readonly().map_err(|e| borrow_err(name, &e));
    }
    let conv = np(py)?.call_method1("ascontiguousarray", (obj, dtype::<F>(py)))?;
    let a = conv.cast_into::<PyArrayDyn<F>>().map_err(|_| {
        PyTypeError::new_err(format!("`{name}` could not be converted to an array"))
    })?;
    a.try_readonly().map_err(|e| borrow_err(name, &e))
}

/// An optional input (`None` is absent).
pub fn view_opt<'py, F: Float>(
    obj: Option<&Bound<'py, PyAny>>,
    name: &str,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, F>>> {
    match obj {
        Some(o) if !o.is_none() => Ok(Some(view(o, name)?)),
        _ => Ok(None),
    }
}

fn borrow_err(name: &str, e: &dyn core::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(format!("`{name}` is being written elsewhere: {e}"))
}

/// The contiguous data of a view (C-contiguity was ensured by [`view`]).
pub fn data<'a, F: Float>(a: &'a PyReadonlyArrayDyn<'_, F>, name: &str) -> PyResult<&'a [F]> {
    a.as_slice()
        .map_err(|e| PyTypeError::new_err(format!("`{name}` is not contiguous: {e}")))
}

/// A new zero-filled output array of the given shape.
pub fn zeros<'py, F: Float>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArrayDyn<F>> {
    PyArrayDyn::<F>::zeros(py, IxDyn(shape), false)
}

/// A writable view of a fresh output array.
pub fn write<'py, F: Float>(
    a: &Bound<'py, PyArrayDyn<F>>,
) -> PyResult<PyReadwriteArrayDyn<'py, F>> {
    a.try_readwrite().map_err(|e| borrow_err("output", &e))
}

/// Mutable data of a writable view.
pub fn data_mut<'a, F: Float>(a: &'a mut PyReadwriteArrayDyn<'_, F>) -> PyResult<&'a mut [F]> {
    a.as_slice_mut()
        .map_err(|e| PyTypeError::new_err(format!("output is not contiguous: {e}")))
}

/// A boolean mask, borrowed from a contiguous `bool` array or converted (`x != 0`) from any other
/// array (float or integer masks, as verl's `response_mask`).
#[derive(Debug)]
pub enum MaskBuf<'py> {
    /// A view of a `bool` array.
    View(PyReadonlyArrayDyn<'py, bool>),
}

impl<'py> MaskBuf<'py> {
    /// Views `obj` as a `(B, T)` mask.
    pub fn new(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        let py = obj.py();
        if let Ok(a) = obj.cast::<PyArrayDyn<bool>>()
            && a.is_c_contiguous()
        {
            return Ok(Self::View(
                a.try_readonly().map_err(|e| borrow_err(name, &e))?,
            ));
        }
        let np = np(py)?;
        let a = np.call_method1("asarray", (obj,))?;
        let b = if a.cast::<PyArrayDyn<bool>>().is_ok() {
            np.call_method1("ascontiguousarray", (a,))?
        } else {
            np.call_method1("not_equal", (a, 0))?
        };
        let b = b
            .cast_into::<PyArrayDyn<bool>>()
            .map_err(|_| PyTypeError::new_err(format!("`{name}` is not a mask array")))?;
        Ok(Self::View(
            b.try_readonly().map_err(|e| borrow_err(name, &e))?,
        ))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Self::View(v) => v.shape(),
        }
    }

    /// The bits, row-major.
    pub fn bits(&self) -> PyResult<&[bool]> {
        match self {
            Self::View(v) => v
                .as_slice()
                .map_err(|e| PyTypeError::new_err(format!("mask is not contiguous: {e}"))),
        }
    }

    /// The `(B, T)` shape, or a `ShapeMismatchError` for anything but 2-D.
    pub fn bt(&self, name: &str) -> PyResult<(usize, usize)> {
        match self.shape() {
            [b, t] => Ok((*b, *t)),
            s => Err(shape_err(
                name,
                format!("`{name}` must be 2-D (B, T), got shape {}", fmt_shape(s)),
            )),
        }
    }

    /// The core mask over `(B, T)`.
    pub fn mask(&self, name: &str) -> PyResult<Mask<'_>> {
        let (_, t) = self.bt(name)?;
        Mask::new(self.bits()?, t).map_err(to_py)
    }
}

/// A shape as Python prints it: `(3, 2)`, `(3,)`.
pub fn fmt_shape(s: &[usize]) -> String {
    match s {
        [x] => format!("({x},)"),
        _ => format!(
            "({})",
            s.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `Ok` if `a` has shape `want`, else a `ShapeMismatchError` naming `name`.
pub fn check_shape(name: &str, got: &[usize], want: &[usize]) -> PyResult<()> {
    if got == want {
        Ok(())
    } else {
        Err(shape_err(
            name,
            format!(
                "`{name}` has shape {}, expected {}",
                fmt_shape(got),
                fmt_shape(want)
            ),
        ))
    }
}

/// Group labels of verl's `index` (uid strings, integers, or any hashable Python objects): rows
/// with equal labels form a group, numbered by first appearance.
pub fn group_index(obj: &Bound<'_, PyAny>) -> PyResult<GroupIndex<'static>> {
    let py = obj.py();
    // Integer arrays (NumPy or torch, or lists of ints): compared as i64 by the core.
    let arr = np(py)?.call_method1("asarray", (obj,)).ok();
    if let Some(arr) = &arr {
        let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
        if kind == "i" || kind == "u" || kind == "b" {
            let a = np(py)?.call_method1("ascontiguousarray", (arr.clone(), dtype::<i64>(py)))?;
            let a = a
                .cast_into::<PyArrayDyn<i64>>()
                .map_err(|_| PyTypeError::new_err("`index` could not be read as integers"))?;
            let ro = a.readonly();
            let ids = ro
                .as_slice()
                .map_err(|e| PyTypeError::new_err(format!("`index`: {e}")))?;
            return GroupIndex::from_labels(ids).map_err(to_py);
        }
    }
    // Strings (verl's uids: an object array of str) or any other hashable labels: numbered by
    // first appearance, with Python's hash and equality deciding. Each row's (cached) Python hash
    // is looked up in a Rust table of the groups seen so far; a hit is confirmed against the
    // group's first label by identity (verl repeats one uid object per prompt) or `==`. A hash
    // shared by two different labels falls back to a Python dict, so grouping is always exact.
    let list = match (obj.cast::<PyList>(), &arr) {
        (Ok(l), _) => l.clone(),
        (Err(_), Some(a)) => a.call_method0("tolist")?.cast_into::<PyList>()?,
        (Err(_), None) => PyList::new(py, obj.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
    };
    let n = list.len();
    if n == 0 {
        return Err(to_py(rewardkit_core::Error::Empty { what: "index" }));
    }
    let too_large = || {
        to_py(rewardkit_core::Error::TooLarge {
            what: "index",
            len: n,
            max: u32::MAX as usize,
        })
    };
    let mut table: std::collections::HashMap<isize, u32> = std::collections::HashMap::new();
    let mut firsts: Vec<Bound<'_, PyAny>> = Vec::new();
    let mut ids: Vec<u32> = Vec::with_capacity(n);
    let mut collision = false;
    for item in list.iter() {
        let h = item.hash()?;
        match table.get(&h) {
            Some(&id) => {
                let first = firsts.get(id as usize).ok_or_else(too_large)?;
                if item.is(first) || item.eq(first)? {
                    ids.push(id);
                } else {
                    collision = true;
                    break;
                }
            }
            None => {
                let id = u32::try_from(firsts.len()).map_err(|_| too_large())?;
                table.insert(h, id);
                firsts.push(item);
                ids.push(id);
            }
        }
    }
    if !collision {
        return GroupIndex::new(&ids, firsts.len()).map_err(to_py);
    }
    let seen = PyDict::new(py);
    ids.clear();
    for item in list.iter() {
        let id = match seen.get_item(&item)? {
            Some(v) => v.extract::<u32>()?,
            None => {
                let id = u32::try_from(seen.len()).map_err(|_| too_large())?;
                seen.set_item(&item, id)?;
                id
            }
        };
        ids.push(id);
    }
    GroupIndex::new(&ids, seen.len()).map_err(to_py)
}

/// Group index from `index` (labels) or `num_generations` (contiguous blocks of that size).
pub fn groups_from(
    index: Option<&Bound<'_, PyAny>>,
    num_generations: Option<usize>,
    rows: usize,
) -> PyResult<Option<GroupIndex<'static>>> {
    match (index, num_generations) {
        (Some(i), _) if !i.is_none() => Ok(Some(group_index(i)?)),
        (_, Some(g)) => Ok(Some(GroupIndex::uniform(rows, g).map_err(to_py)?)),
        _ => Ok(None),
    }
}
