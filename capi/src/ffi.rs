//! The boundary: raw pointers and lengths from C turned into Rust references, with every check
//! that can be made. This is the only module of the crate with `unsafe` code.
//!
//! # The contract
//! Every pointer reaching these functions is an argument of an `unsafe extern "C"` entry point,
//! whose C caller guarantees (each function's *Safety* section): a non-null buffer pointer is
//! valid for reads (inputs) or reads and writes (outputs) of the number of elements the call
//! implies, for the duration of the call, and is not written by anyone else meanwhile; a string
//! is NUL-terminated; a handle came from the matching `rk_*_new` and was not freed. What cannot be
//! verified from Rust rests on that promise; everything else is checked here, before any
//! reference is formed:
//!
//! - null pointers (`RK_ERR_NULL_POINTER`; a null buffer of length 0 is an empty slice);
//! - alignment for the element type (`RK_ERR_MISALIGNED`);
//! - `len · size_of::<T>()` overflowing or exceeding `isize::MAX` (`RK_ERR_TOO_LARGE`), so the
//!   slice is one Rust can form;
//! - mask and flag bytes other than 0 and 1, which are not valid `bool`s (`RK_ERR_INVALID_ARGUMENT`);
//! - strings that are not UTF-8 (`RK_ERR_INVALID_ARGUMENT`);
//! - an output buffer overlapping any other buffer of the same call (`RK_ERR_INVALID_ARGUMENT`):
//!   a `&mut [T]` must not alias anything, so in-place calls are refused rather than undefined.
//!
//! [`Args`] collects the buffers of one call and performs the overlap check as each is added.

use core::ffi::{CStr, c_char};
use core::mem::{align_of, size_of};
use std::boxed::Box;
use std::format;
use std::vec::Vec;

use rewardkit_core::Error;

use crate::error::{Failure, Res, rk_status};

/// One buffer of a call: its address range and whether it is written.
#[derive(Clone, Copy, Debug)]
struct Region {
    what: &'static str,
    start: usize,
    end: usize,
    output: bool,
}

/// The buffers of one entry-point call, checked as they are added. The first [`INLINE`] regions
/// live on the stack (no call has more), the rest, if any, on the heap.
#[derive(Debug, Default)]
pub(crate) struct Args {
    inline: [Option<Region>; INLINE],
    spill: Vec<Region>,
}

/// Regions kept without allocating.
const INLINE: usize = 16;

/// `RK_ERR_NULL_POINTER` naming `what`.
fn null(what: &str) -> Failure {
    Failure::new(
        rk_status::RK_ERR_NULL_POINTER,
        format!("`{what}` is a null pointer"),
    )
}

/// The byte size of `len` elements of `T`, if Rust can form such a slice.
fn byte_len<T>(what: &'static str, len: usize) -> Res<usize> {
    let max = isize::MAX.unsigned_abs() / size_of::<T>().max(1);
    if len > max {
        return Err(Error::TooLarge { what, len, max }.into());
    }
    Ok(len * size_of::<T>())
}

/// Null and alignment checks of a buffer pointer of `len > 0` elements.
fn check_ptr<T>(what: &'static str, addr: usize) -> Res<()> {
    if addr == 0 {
        return Err(null(what));
    }
    if addr % align_of::<T>() != 0 {
        return Err(Failure::new(
            rk_status::RK_ERR_MISALIGNED,
            format!("`{what}` is not aligned to {} bytes", align_of::<T>()),
        ));
    }
    Ok(())
}

/// `a · b` for a shape, or `RK_ERR_TOO_LARGE`.
pub(crate) fn product(what: &'static str, a: usize, b: usize) -> Res<usize> {
    a.checked_mul(b).ok_or_else(|| {
        Error::TooLarge {
            what,
            len: a,
            max: usize::MAX / b.max(1),
        }
        .into()
    })
}

impl Args {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records a buffer after checking it against the outputs already recorded (and, for an
    /// output, against everything recorded).
    fn record(&mut self, what: &'static str, start: usize, bytes: usize, output: bool) -> Res<()> {
        if bytes == 0 {
            return Ok(());
        }
        let end = start.saturating_add(bytes);
        let recorded = self.inline.iter().flatten().chain(&self.spill);
        for r in recorded {
            if (output || r.output) && start < r.end && r.start < end {
                return Err(Failure::invalid(format!(
                    "`{what}` overlaps `{}`; outputs may not share memory with another argument",
                    r.what
                )));
            }
        }
        let region = Region {
            what,
            start,
            end,
            output,
        };
        match self.inline.iter_mut().find(|r| r.is_none()) {
            Some(slot) => *slot = Some(region),
            None => self.spill.push(region),
        }
        Ok(())
    }

    /// An input buffer of `len` elements (`ptr` may be null only when `len == 0`).
    pub(crate) fn input<'a, T>(
        &mut self,
        what: &'static str,
        ptr: *const T,
        len: usize,
    ) -> Res<&'a [T]> {
        let bytes = byte_len::<T>(what, len)?;
        if len == 0 {
            return Ok(&[]);
        }
        check_ptr::<T>(what, ptr as usize)?;
        self.record(what, ptr as usize, bytes, false)?;
        // SAFETY: `ptr` is non-null and aligned (checked above), `len · size_of::<T>() <=
        // isize::MAX` (checked by `byte_len`), and the caller guarantees (module contract) that it
        // points to `len` initialized elements that nobody writes during the call. No output of
        // this call overlaps it (checked by `record`).
        Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
    }

    /// An optional input buffer: `None` for a null pointer.
    pub(crate) fn input_opt<'a, T>(
        &mut self,
        what: &'static str,
        ptr: *const T,
        len: usize,
    ) -> Res<Option<&'a [T]>> {
        if ptr.is_null() {
            Ok(None)
        } else {
            self.input(what, ptr, len).map(Some)
        }
    }

    /// An output buffer of `len` elements.
    pub(crate) fn output<'a, T>(
        &mut self,
        what: &'static str,
        ptr: *mut T,
        len: usize,
    ) -> Res<&'a mut [T]> {
        let bytes = byte_len::<T>(what, len)?;
        if len == 0 {
            return Ok(&mut []);
        }
        check_ptr::<T>(what, ptr as usize)?;
        self.record(what, ptr as usize, bytes, true)?;
        // SAFETY: non-null, aligned, size fits `isize` (checked above); the caller guarantees
        // `len` writable elements of `T` (plain floats or integers here, for which every bit
        // pattern is valid) that nobody else accesses during the call; no other buffer of the call
        // overlaps it (checked by `record`), so this is the only reference to that memory.
        Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
    }

    /// An optional output buffer: `None` for a null pointer.
    pub(crate) fn output_opt<'a, T>(
        &mut self,
        what: &'static str,
        ptr: *mut T,
        len: usize,
    ) -> Res<Option<&'a mut [T]>> {
        if ptr.is_null() {
            Ok(None)
        } else {
            self.output(what, ptr, len).map(Some)
        }
    }

    /// One output value (an out-parameter).
    pub(crate) fn output_one<'a, T>(&mut self, what: &'static str, ptr: *mut T) -> Res<&'a mut T> {
        check_ptr::<T>(what, ptr as usize)?;
        self.record(what, ptr as usize, size_of::<T>(), true)?;
        // SAFETY: non-null and aligned (checked); the caller guarantees one writable `T` that no
        // other argument of the call overlaps (checked by `record`). Every `T` used here is a
        // `repr(C)` struct of plain numbers or a pointer, valid for any bit pattern the caller
        // may have left there, and is only assigned, never read.
        Ok(unsafe { &mut *ptr })
    }

    /// One input value.
    pub(crate) fn input_one<'a, T>(&mut self, what: &'static str, ptr: *const T) -> Res<&'a T> {
        check_ptr::<T>(what, ptr as usize)?;
        self.record(what, ptr as usize, size_of::<T>(), false)?;
        // SAFETY: non-null and aligned (checked); the caller guarantees an initialized `T` (a
        // `repr(C)` struct of plain numbers) not written during the call.
        Ok(unsafe { &*ptr })
    }

    /// Mask or flag bytes (`uint8_t`, each 0 or 1) viewed as `bool`s without a copy.
    pub(crate) fn bools<'a>(
        &mut self,
        what: &'static str,
        ptr: *const u8,
        len: usize,
    ) -> Res<&'a [bool]> {
        let bytes: &[u8] = self.input(what, ptr, len)?;
        if let Some(index) = bytes.iter().position(|&b| b > 1) {
            let value = bytes.get(index).copied().unwrap_or(0);
            return Err(Failure::invalid(format!(
                "`{what}` holds {value} at index {index}; expected 0 or 1"
            )));
        }
        // SAFETY: `bool` has the size and alignment of `u8`, and every byte was just checked to be
        // 0 or 1, the two valid `bool` representations; the memory is borrowed for the same
        // lifetime as `bytes` and is not written during the call (module contract).
        Ok(unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<bool>(), bytes.len()) })
    }

    /// Optional mask or flag bytes: `None` for a null pointer.
    pub(crate) fn bools_opt<'a>(
        &mut self,
        what: &'static str,
        ptr: *const u8,
        len: usize,
    ) -> Res<Option<&'a [bool]>> {
        if ptr.is_null() {
            Ok(None)
        } else {
            self.bools(what, ptr, len).map(Some)
        }
    }

    /// `len` NUL-terminated UTF-8 strings.
    pub(crate) fn strings<'a>(
        &mut self,
        what: &'static str,
        ptr: *const *const c_char,
        len: usize,
    ) -> Res<Vec<&'a str>> {
        let ptrs = self.input(what, ptr, len)?;
        ptrs.iter().map(|&p| string(what, p)).collect()
    }
}

/// A NUL-terminated UTF-8 string.
pub(crate) fn string<'a>(what: &'static str, ptr: *const c_char) -> Res<&'a str> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null (checked); the caller guarantees a NUL-terminated string that is not
    // written during the call (module contract). `c_char` has alignment 1.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map_err(|_| Failure::invalid(format!("`{what}` is not valid UTF-8")))
}

/// A shared reference to a handle made by `rk_*_new`.
pub(crate) fn handle<'a, T>(what: &'static str, ptr: *const T) -> Res<&'a T> {
    check_ptr::<T>(what, ptr as usize)?;
    // SAFETY: non-null and aligned (checked); the caller guarantees the pointer came from the
    // matching `rk_*_new` (a `Box<T>` leaked by `into_handle`) and has not been freed. Handles are
    // immutable after construction, so shared references from several threads are fine.
    Ok(unsafe { &*ptr })
}

/// An optional handle: `None` for a null pointer.
pub(crate) fn handle_opt<'a, T>(what: &'static str, ptr: *const T) -> Res<Option<&'a T>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        handle(what, ptr).map(Some)
    }
}

/// `len` handles from an array of handle pointers (each non-null).
pub(crate) fn handles<'a, T>(
    args: &mut Args,
    what: &'static str,
    ptr: *const *const T,
    len: usize,
) -> Res<Vec<&'a T>> {
    let ptrs = args.input(what, ptr, len)?;
    ptrs.iter().map(|&p| handle(what, p)).collect()
}

/// Moves a value to the heap and hands its pointer to C.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_handle`]; null is a no-op.
pub(crate) fn free_handle<T>(ptr: *mut T) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: the caller guarantees `ptr` came from `into_handle::<T>` (via the matching
    // `rk_*_new`) and is freed once; after this call C no longer uses it.
    drop(unsafe { Box::from_raw(ptr) });
}

/// `(key, number, text)` of the `rk_param` array of a constructor.
pub(crate) fn params<'a>(
    args: &mut Args,
    ptr: *const crate::rk_param,
    len: usize,
) -> Res<Vec<crate::params::Param<'a>>> {
    let raw = args.input("params", ptr, len)?;
    raw.iter()
        .map(|p| {
            Ok(crate::params::Param {
                key: string("params.key", p.key)?,
                value: p.value,
                text: if p.text.is_null() {
                    None
                } else {
                    Some(string("params.text", p.text)?)
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty() {
        let mut a = Args::new();
        let s: &[f32] = a.input("x", core::ptr::null(), 0).unwrap();
        assert!(s.is_empty());
        let e = a.input::<f32>("x", core::ptr::null(), 3).unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_NULL_POINTER);
        assert_eq!(e.message, "`x` is a null pointer");
        assert_eq!(a.input_opt::<f32>("x", core::ptr::null(), 3).unwrap(), None);
    }

    #[test]
    fn alignment() {
        let buf = [0.0f64; 4];
        let p = buf.as_ptr().cast::<u8>().wrapping_add(1).cast::<f64>();
        let e = Args::new().input("x", p, 2).unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_MISALIGNED);
        assert_eq!(e.message, "`x` is not aligned to 8 bytes");
        let p = buf.as_ptr().cast::<u8>().wrapping_add(4).cast::<f32>();
        assert!(Args::new().input("x", p, 2).is_ok()); // 4-aligned is enough for f32
    }

    #[test]
    fn size_overflow() {
        let buf = [0.0f32; 1];
        let e = Args::new()
            .input("x", buf.as_ptr(), usize::MAX / 2)
            .unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_TOO_LARGE);
        let e = product("B·T", usize::MAX, 2).unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_TOO_LARGE);
        assert_eq!(product("B·T", 3, 4).unwrap(), 12);
    }

    #[test]
    fn overlap() {
        let mut buf = [0.0f32; 8];
        let p = buf.as_mut_ptr();
        let mut a = Args::new();
        a.input("x", p.cast_const(), 4).unwrap();
        a.input("y", p.cast_const(), 8).unwrap(); // inputs may share memory
        let e = a.output("out", p.wrapping_add(3), 2).unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_INVALID_ARGUMENT);
        assert_eq!(
            e.message,
            "`out` overlaps `x`; outputs may not share memory with another argument"
        );
        let mut other = [0.0f32; 2];
        let mut b = Args::new();
        b.output("out", other.as_mut_ptr(), 2).unwrap();
        let e = b.input("x", other.as_ptr(), 1).unwrap_err();
        assert!(e.message.starts_with("`x` overlaps `out`"));
    }

    #[test]
    fn many_regions_spill_and_still_overlap() {
        let bufs = [[0.0f32; 2]; INLINE + 3];
        let mut a = Args::new();
        for b in &bufs {
            a.input("x", b.as_ptr(), 2).unwrap();
        }
        let last = bufs.last().unwrap().as_ptr().cast_mut();
        let e = a.output("out", last, 1).unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_INVALID_ARGUMENT);
    }

    #[test]
    fn mask_bytes() {
        let ok = [0u8, 1, 1, 0];
        assert_eq!(
            Args::new().bools("mask", ok.as_ptr(), 4).unwrap(),
            &[false, true, true, false]
        );
        let bad = [0u8, 1, 2];
        let e = Args::new().bools("mask", bad.as_ptr(), 3).unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_INVALID_ARGUMENT);
        assert_eq!(e.message, "`mask` holds 2 at index 2; expected 0 or 1");
    }

    #[test]
    fn strings() {
        assert_eq!(string("name", c"grpo".as_ptr()).unwrap(), "grpo");
        let bad = [0xffu8, 0];
        let e = string("name", bad.as_ptr().cast()).unwrap_err();
        assert_eq!(e.message, "`name` is not valid UTF-8");
        assert_eq!(
            string("name", core::ptr::null()).unwrap_err().code,
            rk_status::RK_ERR_NULL_POINTER
        );
    }

    #[test]
    fn handles_roundtrip() {
        let h = into_handle(41u64);
        assert_eq!(*handle("h", h.cast_const()).unwrap(), 41);
        free_handle(h);
        free_handle::<u64>(core::ptr::null_mut());
    }
}
