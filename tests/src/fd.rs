//! Central finite differences, the reference for every analytic gradient in the suite.

/// `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h` for every coordinate `i`, in `f64`.
pub fn central_diff(x: &[f64], h: f64, mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let xi = x[i];
            xp[i] = xi + h;
            let up = f(&xp);
            xp[i] = xi - h;
            let down = f(&xp);
            xp[i] = xi;
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// Asserts that `grad` matches central differences of `f` at `x` within `rtol`/`atol`.
#[track_caller]
pub fn assert_grad(
    what: &str,
    x: &[f64],
    grad: &[f64],
    rtol: f64,
    atol: f64,
    f: impl FnMut(&[f64]) -> f64,
) {
    let fd = central_diff(x, 1e-6, f);
    crate::approx_eq::assert_all_close(what, grad, &fd, rtol, atol);
}
