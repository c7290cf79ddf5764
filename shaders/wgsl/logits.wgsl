// Full-vocabulary ops on rows of logits (N, V), one workgroup per row: log-softmax, token
// log-probabilities and their gradient, entropy and its gradient, KL(π‖π_ref) and its gradient.
//
// Row statistics come from one streaming pass: each thread keeps (m, arg, t, w) over its strided
// part of the row, with m the maximum, arg its first index, t = Σ_{v≠arg} e^{z_v−m} (the tail,
// excluding the maximum's own 1) and w = Σ_v e^{z_v−m}(z_v−m); partial states merge exactly
// (rescaling by e^{m'−m}) in a workgroup tree, ties going to the lower index. Then
// ln Σ e^{z−m} = log1p(t), log π_v = (z_v − m) − log1p(t) (no cancellation against the max, and a
// confident row keeps its tail, as in the core), and H = log1p(t) − w/(1 + t). The gradient of
// log π(id) at v = id is (1 − π_id), written as t/(1 + t) when id is the argmax (exact as π → 1).
// Logits must be finite (WGSL may assume no infinities); ids must be < V (checked on the host).
//
// CPU reference: rewardkit_core::kl::logprobs_forward (logprobs_backward, entropy_forward, entropy_backward, full_kl_forward, full_kl_backward; stats::log_softmax)

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n_rows: u32,
    vocab: u32,
    grid_x: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> ref_logits: array<f32>;
@group(0) @binding(3) var<storage, read> ids: array<u32>;
@group(0) @binding(4) var<storage, read> grad_out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

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

// Statistics of row `base..base+V` of `ref_row ? ref_logits : logits`, identical on every thread.
fn row_stats(base: u32, lid: u32, use_ref: bool) -> Stats {
    var s = Stats(0.0, EMPTY, 0.0, 0.0);
    for (var v = lid; v < p.vocab; v += WG) {
        var z = logits[base + v];
        if (use_ref) {
            z = ref_logits[base + v];
        }
        s = push(s, z, v);
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

fn row_of(wid: vec3<u32>) -> u32 {
    return wid.x + wid.y * p.grid_x;
}

@compute @workgroup_size(WG)
fn log_softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        out[base + v] = (logits[base + v] - s.m) - ls;
    }
}

@compute @workgroup_size(WG)
fn logprobs_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let s = row_stats(base, lid3.x, false);
    if (lid3.x == 0u) {
        let id = min(ids[row], p.vocab - 1u);
        out[row] = (logits[base + id] - s.m) - log1p(s.t);
    }
}

@compute @workgroup_size(WG)
fn logprobs_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let g = grad_out[row];
    if (g == 0.0) {
        for (var v = lid3.x; v < p.vocab; v += WG) {
            out[base + v] = 0.0;
        }
        return;
    }
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    let id = min(ids[row], p.vocab - 1u);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - s.m) - ls;
        var r = -g * exp(lp);
        if (v == id) {
            if (id == s.arg) {
                r = g * (s.t / (1.0 + s.t));
            } else {
                r = -g * (exp(lp) - 1.0);
            }
        }
        out[base + v] = r;
    }
}

fn entropy_of(s: Stats) -> f32 {
    return max(log1p(s.t) - s.w / (1.0 + s.t), 0.0);
}

@compute @workgroup_size(WG)
fn entropy_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let s = row_stats(row * p.vocab, lid3.x, false);
    if (lid3.x == 0u) {
        out[row] = entropy_of(s);
    }
}

@compute @workgroup_size(WG)
fn entropy_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    let h = entropy_of(s);
    let g = grad_out[row];
    for (var v = lid3.x; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - s.m) - ls;
        out[base + v] = -g * exp(lp) * (lp + h);
    }
}

// KL(π‖π_ref) of one row, with both rows' statistics (identical on every thread).
fn row_kl(base: u32, lid: u32, sp: Stats, sq: Stats) -> f32 {
    let lsp = log1p(sp.t);
    let lsq = log1p(sq.t);
    var acc = 0.0;
    for (var v = lid; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - sp.m) - lsp;
        let lq = (ref_logits[base + v] - sq.m) - lsq;
        acc += exp(lp) * (lp - lq);
    }
    return max(block_sum(acc, lid), 0.0);
}

@compute @workgroup_size(WG)
fn full_kl_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let sp = row_stats(base, lid3.x, false);
    let sq = row_stats(base, lid3.x, true);
    let kl = row_kl(base, lid3.x, sp, sq);
    if (lid3.x == 0u) {
        out[row] = kl;
    }
}

@compute @workgroup_size(WG)
fn full_kl_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let sp = row_stats(base, lid3.x, false);
    let sq = row_stats(base, lid3.x, true);
    let kl = row_kl(base, lid3.x, sp, sq);
    let lsp = log1p(sp.t);
    let lsq = log1p(sq.t);
    let g = grad_out[row];
    for (var v = lid3.x; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - sp.m) - lsp;
        let lq = (ref_logits[base + v] - sq.m) - lsq;
        out[base + v] = g * exp(lp) * (lp - lq - kl);
    }
}
