// Shared scalar math (one home for every kernel that needs it; concatenated ahead of the kernel's
// own file, see rewardkit_shaders::Kernel::parts).
//
// log1p(x) for x >= 0 with Goldberg's correction, a logistic sigmoid that never overflows, and a
// tanh that never divides ∞ by ∞ (WGSL's builtin may, for large |x|, on some backends).

// log(1 + x) for x >= 0, accurate for small x (Goldberg's correction).
fn log1p(x: f32) -> f32 {
    let u = 1.0 + x;
    if (u == 1.0) {
        return x;
    }
    return log(u) * (x / (u - 1.0));
}

// 1 / (1 + e^{−x}) without overflow on either side.
fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// tanh(x) = sign(x)·(1 − e^{−2|x|}) / (1 + e^{−2|x|}): e^{−2|x|} ∈ (0, 1], so no overflow; absolute
// error a few ulp of 1 (relative accuracy near 0 is not needed by its users, GELU).
fn tanh_stable(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(t, -t, x < 0.0);
}
