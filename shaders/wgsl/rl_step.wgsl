// The fused RL step from logits, one workgroup per token row of the (N, V) logits
// (N = B·T): one streaming pass computes the row statistics (see logits.wgsl), giving the token's
// log π(id) and the entropy H; the token's policy loss (policy_loss.wgsl's kinds), its per-token
// KL term against the reference log-probability and the entropy bonus give the loss value and
// ∂ℓ/∂log π and ∂ℓ/∂H, scaled by the aggregation's weight (computed on the device from the mask
// counts: mask_rows, then loss_parts); a second pass over the row writes
//   ∂ℓ/∂z_v = g_lp·([v = id] − π_v) − g_H·π_v·(log π_v + H),
// so the only (N, V) array besides the logits is their gradient. Per token it writes
// tok = (log π(id), ℓ, H); rl_rows then sums ℓ per sequence row for the loss parts.
//
// Entries: mask_rows (rows[2b + 1] = valid tokens of sequence b, rows[2b] = 0), rl_step,
// rl_rows (rows[2b] = Σ ℓ of sequence b). Dispatch order: mask_rows → loss_parts → rl_step →
// rl_rows → loss_parts.
//
// CPU reference: rewardkit_core::loss::policy_loss (chained with kl::logprobs_forward, kl::entropy_forward, Aggregation::scale_grad, loss::entropy_upstream, kl::logprobs_backward, kl::entropy_backward)

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n_rows: u32,    // B (sequences)
    seq_len: u32,   // T
    vocab: u32,     // V
    kind: u32,
    adv_per_token: u32,
    has_kl: u32,
    kl_estimator: u32,
    kl_straight_through: u32,
    has_dual: u32,
    has_delta: u32,
    agg: u32,
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
    len_eps: f32,
    horizon: f32,
}

@group(0) @binding(0) var<storage, read_write> grad_logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> tok: array<f32>;
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> ids: array<u32>;
@group(0) @binding(5) var<storage, read> old_logp: array<f32>;
@group(0) @binding(6) var<storage, read> ref_logp: array<f32>;
@group(0) @binding(7) var<storage, read> adv: array<f32>;
@group(0) @binding(8) var<storage, read> mask: array<u32>;
@group(0) @binding(9) var<storage, read> parts: array<f32>;
@group(0) @binding(10) var<uniform> p: Params;

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

struct Stats {
    m: f32,
    arg: u32,
    t: f32,
    w: f32,
}

const EMPTY: u32 = 0xffffffffu;

var<workgroup> sh_m: array<f32, 256>;
var<workgroup> sh_a: array<u32, 256>;
var<workgroup> sh_t: array<f32, 256>;
var<workgroup> sh_w: array<f32, 256>;

fn push(s: Stats, z: f32, v: u32) -> Stats {
    if (s.arg == EMPTY) {
        return Stats(z, v, 0.0, 0.0);
    }
    if (z > s.m) {
        let d = s.m - z;
        let e = exp(d);
        return Stats(z, v, (s.t + 1.0) * e, e * (s.w + d * (1.0 + s.t)));
    }
    let e = exp(z - s.m);
    return Stats(s.m, s.arg, s.t + e, s.w + e * (z - s.m));
}

fn merge(a: Stats, b: Stats) -> Stats {
    if (b.arg == EMPTY) {
        return a;
    }
    if (a.arg == EMPTY) {
        return b;
    }
    var hi = a;
    var lo = b;
    if (b.m > a.m || (b.m == a.m && b.arg < a.arg)) {
        hi = b;
        lo = a;
    }
    let d = lo.m - hi.m;
    let e = exp(d);
    return Stats(hi.m, hi.arg, hi.t + (lo.t + 1.0) * e, hi.w + e * (lo.w + d * (1.0 + lo.t)));
}

// Statistics of row `base..base+V` of the logits, identical on every thread.
fn row_stats(base: u32, lid: u32) -> Stats {
    var s = Stats(0.0, EMPTY, 0.0, 0.0);
    for (var v = lid; v < p.vocab; v += WG) {
        s = push(s, logits[base + v], v);
    }
    sh_m[lid] = s.m;
    sh_a[lid] = s.arg;
    sh_t[lid] = s.t;
    sh_w[lid] = s.w;
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        workgroupBarrier();
        if (lid < k) {
            let r = merge(
                Stats(sh_m[lid], sh_a[lid], sh_t[lid], sh_w[lid]),
                Stats(sh_m[lid + k], sh_a[lid + k], sh_t[lid + k], sh_w[lid + k]),
            );
            sh_m[lid] = r.m;
            sh_a[lid] = r.arg;
            sh_t[lid] = r.t;
            sh_w[lid] = r.w;
        }
    }
    workgroupBarrier();
    let r = Stats(sh_m[0], sh_a[0], sh_t[0], sh_w[0]);
    workgroupBarrier(); // the arrays may be reused right after
    return r;
}

// log(1 + x) for x >= 0, accurate for small x (Goldberg's correction).
fn log1p(x: f32) -> f32 {
    let u = 1.0 + x;
    if (u == 1.0) {
        return x;
    }
    return log(u) * (x / (u - 1.0));
}

// Tree-sum of one value per thread (identical result on every thread).
fn block_sum(x: f32, lid: u32) -> f32 {
    sh_t[lid] = x;
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        workgroupBarrier();
        if (lid < k) {
            sh_t[lid] += sh_t[lid + k];
        }
    }
    workgroupBarrier();
    let r = sh_t[0];
    workgroupBarrier();
    return r;
}

// The aggregation's normalizer from the (count) parts (see loss_parts.wgsl).
fn normalizer() -> f32 {
    switch p.agg {
        case 1u: {
            return 1.0;
        }
        case 0u: {
            return parts[2];
        }
        case 2u, 4u: {
            return parts[3];
        }
        case 3u: {
            return parts[3] * p.horizon;
        }
        case 7u: {
            return parts[4] * p.horizon;
        }
        default: {
            return parts[4];
        }
    }
}

// The gradient weight of a valid token of sequence b.
fn token_weight(b: u32) -> f32 {
    var d = normalizer();
    if (p.agg == 4u) {
        d = (rows[2u * b + 1u] + p.len_eps) * d;
    } else if (p.agg == 5u) {
        d = rows[2u * b + 1u] * d;
    }
    if (d > 0.0) {
        return 1.0 / d;
    }
    return 0.0;
}

@compute @workgroup_size(WG)
fn mask_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let b = wid.x + wid.y * p.grid_x;
    if (b >= p.n_rows) {
        return;
    }
    var c = 0.0;
    for (var t = lid; t < p.seq_len; t += WG) {
        if (mask[b * p.seq_len + t] != 0u) {
            c += 1.0;
        }
    }
    let total = block_sum(c, lid);
    if (lid == 0u) {
        rows[2u * b] = 0.0;
        rows[2u * b + 1u] = total;
    }
}

@compute @workgroup_size(WG)
fn rl_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let b = wid.x + wid.y * p.grid_x;
    if (b >= p.n_rows) {
        return;
    }
    var s = 0.0;
    for (var t = lid; t < p.seq_len; t += WG) {
        let n = b * p.seq_len + t;
        if (mask[n] != 0u) {
            s += tok[3u * n + 1u];
        }
    }
    let total = block_sum(s, lid);
    if (lid == 0u) {
        rows[2u * b] = total;
    }
}

@compute @workgroup_size(WG)
fn rl_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let n = wid.x + wid.y * p.grid_x;
    if (n >= p.n_rows * p.seq_len) {
        return;
    }
    let b = n / p.seq_len;
    let base = n * p.vocab;
    let s = row_stats(base, lid);
    let ls = log1p(s.t);
    let h = max(ls - s.w / (1.0 + s.t), 0.0);
    let id = min(ids[n], p.vocab - 1u);
    let lp = (logits[base + id] - s.m) - ls;
    var g_lp = 0.0;
    var g_h = 0.0;
    var value = 0.0;
    if (mask[n] != 0u) {
        let a = select(adv[b], adv[n], p.adv_per_token != 0u);
        let pt = policy_token(lp, old_logp[n], a);
        value = pt.x;
        g_lp = pt.y;
        if (p.has_kl != 0u) {
            let k = kl_eval(lp, ref_logp[n]);
            value += p.kl_coef * k.x;
            g_lp += p.kl_coef * k.y;
        }
        value -= p.entropy_coef * h;
        g_h = -p.entropy_coef;
        let w = token_weight(b);
        g_lp *= w;
        g_h *= w;
    }
    if (lid == 0u) {
        tok[3u * n] = lp;
        tok[3u * n + 1u] = value;
        tok[3u * n + 2u] = h;
    }
    for (var v = lid; v < p.vocab; v += WG) {
        let l = (logits[base + v] - s.m) - ls;
        let pi = exp(l);
        var r = -g_lp * pi;
        if (v == id) {
            if (id == s.arg) {
                r = g_lp * (s.t / (1.0 + s.t));
            } else {
                r = -g_lp * (pi - 1.0);
            }
        }
        grad_logits[base + v] = r - g_h * pi * (l + h);
    }
}
