//! Tolerances, one table for the whole suite (`docs/numerics.md` repeats it).
//!
//! | comparison | rtol | atol |
//! |---|---|---|
//! | f64 result vs f64 oracle / golden | 1e-12 | 1e-12 |
//! | f32 result vs f64 oracle | 1e-5 | 1e-6 (scaled by the magnitude of the inputs where stated) |
//! | f32 result vs f32 golden (framework accumulates in f32) | 2e-5 | 2e-6 |
//! | central finite differences, f64 | 1e-5 | 1e-6 |

/// Tolerance for a scalar type.
pub trait Tol: Copy {
    /// `(rtol, atol)` against an f64 oracle.
    const ORACLE: (f64, f64);
    /// `(rtol, atol)` against golden vectors from the frameworks.
    const GOLDEN: (f64, f64);
    /// Widens to f64.
    fn f(self) -> f64;
}

impl Tol for f64 {
    const ORACLE: (Self, Self) = (1e-12, 1e-12);
    const GOLDEN: (Self, Self) = (1e-10, 1e-12);
    fn f(self) -> f64 {
        self
    }
}

impl Tol for f32 {
    const ORACLE: (f64, f64) = (1e-5, 1e-6);
    const GOLDEN: (f64, f64) = (2e-5, 2e-6);
    fn f(self) -> f64 {
        f64::from(self)
    }
}

/// `|a − b| <= atol + rtol·|b|`, with NaN equal to NaN and equal infinities equal.
pub fn close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    // approx: |a − b| <= atol, or |a − b| <= rtol·max(|a|, |b|).
    approx::relative_eq!(a, b, epsilon = atol, max_relative = rtol)
}

/// Asserts element-wise closeness with a message naming the first mismatch.
#[track_caller]
pub fn assert_all_close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            close(g, w, rtol, atol),
            "{what}: element {i}: got {g:e}, want {w:e} (rtol {rtol:e}, atol {atol:e})\n got: {got:?}\nwant: {want:?}"
        );
    }
}

/// Widens any tolerance-aware slice to f64.
pub fn widen<T: Tol>(x: &[T]) -> Vec<f64> {
    x.iter().map(|v| v.f()).collect()
}

/// Asserts against an f64 oracle with the type's oracle tolerance.
#[track_caller]
pub fn assert_oracle<T: Tol>(what: &str, got: &[T], want: &[f64]) {
    let (r, a) = T::ORACLE;
    assert_all_close(what, &widen(got), want, r, a);
}

/// Asserts against golden values with the type's golden tolerance.
#[track_caller]
pub fn assert_golden<T: Tol>(what: &str, got: &[T], want: &[f64]) {
    let (r, a) = T::GOLDEN;
    assert_all_close(what, &widen(got), want, r, a);
}
