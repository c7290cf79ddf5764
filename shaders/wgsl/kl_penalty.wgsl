// Per-token KL estimators with their derivative with respect to log π, one thread per token:
// d = clamp(log π − log π_ref, lo, hi); k1 = d, abs = |d|, k2 = d²/2, k3 = e^{−d} − 1 + d; the value
// is clamped to [vlo, vhi]; the derivative is 0 where a clamp is active, and with the
// straight-through switch it is k2's (the raw log-ratio). k3 and its derivative use a Taylor
// series of expm1(u) − u for |u| < 0.5 (u = −d), so small log-ratios keep full f32 relative
// accuracy (e^{−d} − 1 + d cancels there). Absent clamps are ±3.4e38.
//
// CPU reference: rewardkit_core::kl::KlPenalty::forward

override WG: u32 = 256u;

struct Params {
    n: u32,
    estimator: u32, // 0 k1, 1 abs, 2 k2, 3 k3
    straight_through: u32,
    grid_x: u32,
    lo: f32,
    hi: f32,
    vlo: f32,
    vhi: f32,
}

@group(0) @binding(0) var<storage, read_write> value: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read> logp: array<f32>;
@group(0) @binding(3) var<storage, read> ref_logp: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

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

// Value and derivative of one token's estimator (shared with the fused RL step).
fn kl_eval(lp: f32, rf: f32, est: u32, st: bool, lo: f32, hi: f32, vlo: f32, vhi: f32) -> vec2<f32> {
    let raw = lp - rf;
    let d = min(max(raw, lo), hi);
    var v = 0.0;
    var dk = 0.0;
    switch est {
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
    let vc = min(max(v, vlo), vhi);
    var g = 0.0;
    if (st) {
        g = raw;
    } else if (d == raw && vc == v) {
        g = dk;
    }
    return vec2<f32>(vc, g);
}

@compute @workgroup_size(WG)
fn kl_penalty(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    let r = kl_eval(logp[i], ref_logp[i], p.estimator, p.straight_through != 0u, p.lo, p.hi, p.vlo, p.vhi);
    value[i] = r.x;
    grad[i] = r.y;
}
