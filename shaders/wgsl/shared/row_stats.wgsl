// Shared streaming statistics of a row of logits (one home for logits.wgsl and rl_step.wgsl).
//
// Each thread keeps (m, arg, t, w) over its strided part of the row, with m the maximum, arg its
// first index, t = Σ_{v≠arg} e^{z_v−m} (the tail, excluding the maximum's own 1) and
// w = Σ_v e^{z_v−m}(z_v−m); partial states merge exactly (rescaling by e^{m'−m}) in a workgroup
// tree, ties going to the lower index. Then ln Σ e^{z−m} = log1p(t), log π_v = (z_v − m) − log1p(t)
// (no cancellation against the max, and a confident row keeps its tail, as in the core), and
// H = log1p(t) − w/(1 + t).

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

fn stats_empty() -> Stats {
    return Stats(0.0, EMPTY, 0.0, 0.0);
}

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

// Merges every thread's partial statistics (workgroup of `wg` threads, a power of two <= 256);
// the result is identical on every thread. Every thread must call it.
fn reduce_stats(s: Stats, lid: u32, wg: u32) -> Stats {
    sh_m[lid] = s.m;
    sh_a[lid] = s.arg;
    sh_t[lid] = s.t;
    sh_w[lid] = s.w;
    for (var k = wg / 2u; k > 0u; k = k / 2u) {
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

// The entropy of a row from its statistics (needs math.wgsl's log1p).
fn entropy_of(s: Stats) -> f32 {
    return max(log1p(s.t) - s.w / (1.0 + s.t), 0.0);
}

// ∂ log π(id)/∂z_v = [v = id] − π_v, with lp = log π_v: at v = id it is t/(1 + t) when id is the
// argmax (exact as π → 1), else 1 − π_id.
fn dlogp_dz(lp: f32, v: u32, id: u32, s: Stats) -> f32 {
    let pi = exp(lp);
    if (v == id) {
        if (id == s.arg) {
            return s.t / (1.0 + s.t);
        }
        return 1.0 - pi;
    }
    return -pi;
}
