// Shared per-token KL estimators with their derivative with respect to log π (one home for
// kl_penalty.wgsl, policy_loss.wgsl and rl_step.wgsl):
// d = clamp(log π − log π_ref, lo, hi); k1 = d, abs = |d|, k2 = d²/2, k3 = e^{−d} − 1 + d; the value
// is clamped to [vlo, vhi]; the derivative is 0 where a clamp is active, and with the
// straight-through switch it is k2's (the raw log-ratio). k3 and its derivative use a Taylor
// series of expm1(u) − u for |u| < 0.5 (u = −d), so small log-ratios keep full f32 relative
// accuracy (e^{−d} − 1 + d cancels there). Absent clamps are ±3.4e38.

// The estimator's parameters (a 16-byte-aligned block of 32 bytes inside each kernel's Params).
struct KlCfg {
    estimator: u32, // 0 k1, 1 abs, 2 k2, 3 k3
    straight_through: u32,
    _pad0: u32,
    _pad1: u32,
    lo: f32,
    hi: f32,
    vlo: f32,
    vhi: f32,
}

// (e^u − 1 − u, e^u − 1), accurate for every u (series below |u| = 0.5).
fn k3_parts(u: f32) -> vec2<f32> {
    if (abs(u) < 0.5) {
        // Σ_{k≥2} u^k/k! by Horner over 1/k!, k = 2..12 (truncation < 1e-13 relative).
        var q = 1.0 / 479001600.0;
        q = 1.0 / 39916800.0 + u * q;
        q = 1.0 / 3628800.0 + u * q;
        q = 1.0 / 362880.0 + u * q;
        q = 1.0 / 40320.0 + u * q;
        q = 1.0 / 5040.0 + u * q;
        q = 1.0 / 720.0 + u * q;
        q = 1.0 / 120.0 + u * q;
        q = 1.0 / 24.0 + u * q;
        q = 1.0 / 6.0 + u * q;
        q = 0.5 + u * q;
        let tail = u * u * q;
        return vec2<f32>(tail, u + tail);
    }
    let em1 = exp(u) - 1.0;
    return vec2<f32>(em1 - u, em1);
}

// Value and derivative of one token's estimator.
fn kl_eval(lp: f32, rf: f32, c: KlCfg) -> vec2<f32> {
    let raw = lp - rf;
    let d = min(max(raw, c.lo), c.hi);
    var v = 0.0;
    var dk = 0.0;
    switch c.estimator {
        case 0u: {
            v = d;
            dk = 1.0;
        }
        case 1u: {
            v = abs(d);
            dk = sign(d);
        }
        case 2u: {
            v = 0.5 * d * d;
            dk = d;
        }
        default: {
            let k = k3_parts(-d);
            v = k.x;
            dk = -k.y;
        }
    }
    let vc = min(max(v, c.vlo), c.vhi);
    var g = 0.0;
    if (c.straight_through != 0u) {
        g = raw;
    } else if (d == raw && vc == v) {
        g = dk;
    }
    return vec2<f32>(vc, g);
}

// A KL term coef·k(log π, log π_ref) and its derivative; importance-weighted (TRL's
// use_bias_correction_kl) it is coef·w·k with w = π/π_old, derivative coef·w·(k + ∂k).
fn kl_term(lp: f32, old: f32, rf: f32, c: KlCfg, coef: f32, importance_weighted: bool) -> vec2<f32> {
    let k = kl_eval(lp, rf, c);
    if (importance_weighted) {
        let w = exp(lp - old);
        return vec2<f32>(coef * w * k.x, coef * w * (k.x + k.y));
    }
    return coef * k;
}
