// PPO-family token losses with their gradient, reduced to per-row partial sums: one workgroup per
// row of the (B, T) batch; threads stride over T. Per valid token:
//   ℓ = w·policy(kind) + coef·k(log π, log π_ref) − c_H·H,
// and ∂ℓ/∂log π is written to grad (0 at masked positions; the gradient of the *sums*, to be
// scaled by the aggregation, see loss_parts.wgsl). Row partials: rows[2b] = Σ ℓ over the row's
// valid tokens, rows[2b + 1] = the number of valid tokens (as f32).
//
// Kinds (Params.kind): 0 PPO clip (asymmetric clip, dual clip, TRL's delta; ratio e^{clamp(Δ)}),
// 1 GPG/REINFORCE −A·log π, 2 CISPO −sg(clip(r))·A·log π, 3 SAPO soft gate, 4 DRO
// −(A·log π − β/2·Δ²). Gradients follow torch's conventions: clamp passes the gradient on the
// closed interval, max/min split it ½/½ on an exact tie.
//
// CPU reference: rewardkit_core::loss::policy_loss

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n_rows: u32,
    seq_len: u32,
    kind: u32,
    adv_per_token: u32,
    has_kl: u32,
    has_weights: u32,
    has_entropy: u32,
    kl_estimator: u32,
    kl_straight_through: u32,
    has_dual: u32,
    has_delta: u32,
    grid_x: u32,
    clip_low: f32,
    clip_high: f32,
    dual_clip: f32,
    delta: f32,
    log_ratio_clamp: f32,
    tau_pos: f32,
    tau_neg: f32,
    dro_beta: f32,
    kl_coef: f32,
    kl_lo: f32,
    kl_hi: f32,
    kl_vlo: f32,
    kl_vhi: f32,
    entropy_coef: f32,
}

@group(0) @binding(0) var<storage, read_write> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<storage, read> logp: array<f32>;
@group(0) @binding(3) var<storage, read> old_logp: array<f32>;
@group(0) @binding(4) var<storage, read> adv: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read> ref_logp: array<f32>;
@group(0) @binding(7) var<storage, read> weights: array<f32>;
@group(0) @binding(8) var<storage, read> entropy: array<f32>;
@group(0) @binding(9) var<uniform> p: Params;

var<workgroup> sh_sum: array<f32, 256>;
var<workgroup> sh_len: array<f32, 256>;

fn tmax(a: f32, da: f32, b: f32, db: f32) -> vec2<f32> {
    if (a > b) {
        return vec2<f32>(a, da);
    }
    if (b > a) {
        return vec2<f32>(b, db);
    }
    return vec2<f32>(a, (da + db) * 0.5);
}

fn tmin(a: f32, da: f32, b: f32, db: f32) -> vec2<f32> {
    if (a < b) {
        return vec2<f32>(a, da);
    }
    if (b < a) {
        return vec2<f32>(b, db);
    }
    return vec2<f32>(a, (da + db) * 0.5);
}

// clamp(x, lo, hi) and whether the gradient passes.
fn tclamp(x: f32, lo: f32, hi: f32) -> vec2<f32> {
    if (x < lo) {
        return vec2<f32>(lo, 0.0);
    }
    if (x > hi) {
        return vec2<f32>(hi, 0.0);
    }
    return vec2<f32>(x, 1.0);
}

fn surrogate(r: f32, dr: f32, a: f32) -> vec2<f32> {
    var r1 = vec2<f32>(r, dr);
    if (p.has_delta != 0u) {
        r1 = tmin(r, dr, p.delta, 0.0);
    }
    let rc = tclamp(r, 1.0 - p.clip_low, 1.0 + p.clip_high);
    var v = tmax(-a * r1.x, -a * r1.y, -a * rc.x, -a * dr * rc.y);
    if (p.has_dual != 0u && a < 0.0) {
        v = tmin(v.x, v.y, -a * p.dual_clip, 0.0);
    }
    return v;
}

fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// The policy term of one token: (value, ∂/∂log π).
fn policy_token(lp: f32, old: f32, a: f32) -> vec2<f32> {
    let raw = lp - old;
    let dc = tclamp(raw, -p.log_ratio_clamp, p.log_ratio_clamp);
    switch p.kind {
        case 0u: {
            let r = exp(dc.x);
            return surrogate(r, r * dc.y, a);
        }
        case 1u: {
            return vec2<f32>(-lp * a, -a);
        }
        case 2u: {
            let rc = tclamp(exp(dc.x), 1.0 - p.clip_low, 1.0 + p.clip_high).x;
            return vec2<f32>(-rc * a * lp, -rc * a);
        }
        case 3u: {
            let r = exp(dc.x);
            let tau = select(p.tau_neg, p.tau_pos, a > 0.0);
            let s = sigmoid(tau * (r - 1.0));
            return vec2<f32>(-(s * (4.0 / tau)) * a, -a * 4.0 * s * (1.0 - s) * r * dc.y);
        }
        default: {
            let half = 0.5 * p.dro_beta;
            return vec2<f32>(-(lp * a - half * raw * raw), -a + p.dro_beta * raw);
        }
    }
}

// (e^u − 1 − u, e^u − 1) (see kl_penalty.wgsl).
fn k3_parts(u: f32) -> vec2<f32> {
    if (abs(u) < 0.5) {
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

// The KL estimator of kl_penalty.wgsl, parameterised by this file's Params.
fn kl_eval(lp: f32, rf: f32) -> vec2<f32> {
    let raw = lp - rf;
    let d = min(max(raw, p.kl_lo), p.kl_hi);
    var v = 0.0;
    var dk = 0.0;
    switch p.kl_estimator {
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
    let vc = min(max(v, p.kl_vlo), p.kl_vhi);
    var g = 0.0;
    if (p.kl_straight_through != 0u) {
        g = raw;
    } else if (d == raw && vc == v) {
        g = dk;
    }
    return vec2<f32>(vc, g);
}

@compute @workgroup_size(WG)
fn policy_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let row = wid.x + wid.y * p.grid_x;
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.seq_len;
    var sum = 0.0;
    var len = 0.0;
    for (var t = lid; t < p.seq_len; t += WG) {
        let i = base + t;
        if (mask[i] == 0u) {
            grad[i] = 0.0;
            continue;
        }
        let lp = logp[i];
        let a = select(adv[row], adv[i], p.adv_per_token != 0u);
        var pt = policy_token(lp, old_logp[i], a);
        if (p.has_weights != 0u) {
            pt = pt * weights[i];
        }
        var v = pt.x;
        var g = pt.y;
        if (p.has_kl != 0u) {
            let k = kl_eval(lp, ref_logp[i]);
            v += p.kl_coef * k.x;
            g += p.kl_coef * k.y;
        }
        if (p.has_entropy != 0u) {
            v -= p.entropy_coef * entropy[i];
        }
        grad[i] = g;
        sum += v;
        len += 1.0;
    }
    sh_sum[lid] = sum;
    sh_len[lid] = len;
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (lid < s) {
            sh_sum[lid] += sh_sum[lid + s];
            sh_len[lid] += sh_len[lid + s];
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        rows[2u * row] = sh_sum[0];
        rows[2u * row + 1u] = sh_len[0];
    }
}
