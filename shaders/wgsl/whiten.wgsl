// Batch whitening of a (B, T) buffer over its valid (unmasked) elements, and the advantage
// estimators built on it (REINFORCE++, ReMax), without atomics:
//   whiten_partials: one workgroup per chunk of elements; each thread runs Welford's update over
//     its strided valid elements (weight 1; or, with `weighted`, West's weighted update with the
//     weights in `aux`: a per-sequence value standing for its row's L valid tokens, the whitening
//     stage of a per-sequence advantage plan), then the workgroup merges (n, mean, M2) with Chan's
//     formula in a tree (stable, fixed order) and writes stats[4·w .. 4·w + 3];
//   whiten_finalize: one workgroup merges the chunks the same way and writes the affine map
//     (mean, scale, add) to stats[4·n_parts ..], following the core's Whiten: μ = Σ m·x / (n + ce),
//     var = Σ m·(x − μ)² / (n + ce) (× n/(n − 1) if unbiased, 0 for n = 1), scale from var and ε by
//     eps_mode (ε added to var, max(var, ε), or added to the std; 1 without scaling; 0 where the
//     scale would be infinite), add = μ without the mean shift;
//   whiten_apply: out = (x − mean)·scale + add at every position (as the core's masked_whiten), or
//     0 at masked positions with zero_masked (REINFORCE++);
//   remax_apply: out = m ? x − aux[row] : 0 (ReMax: returns minus the greedy reward, aux holding
//     the baselines).
// No valid element gives mean = scale = 0 (the core returns TooFewValid; the device cannot tell
// the host without a readback), so the outputs are 0.
//
// CPU reference: rewardkit_core::stats::masked_whiten (and the whitening stage of AdvantagePlan::run_per_sequence, advantage::reinforce_plus_plus, advantage::remax)

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n: u32,          // elements B·T
    seq_len: u32,
    n_parts: u32,    // chunks of whiten_partials
    chunk: u32,      // elements per chunk
    grid_x: u32,
    zero_masked: u32,
    shift_mean: u32,
    scale_by_std: u32,
    unbiased: u32,
    eps_mode: u32,   // 0 add to var, 1 max with var, 2 add to std
    eps: f32,
    count_eps: f32,
    weighted: u32,   // weights in aux instead of the 0/1 mask
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>; // ReMax baselines (B) or weights (N)
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> wn: array<f32, 256>;
var<workgroup> wmean: array<f32, 256>;
var<workgroup> wm2: array<f32, 256>;

// Chan's merge of two (n, mean, M2) summaries.
fn chan(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    if (b.x == 0.0) {
        return a;
    }
    if (a.x == 0.0) {
        return b;
    }
    let n = a.x + b.x;
    let d = b.y - a.y;
    return vec3<f32>(n, a.y + d * (b.x / n), a.z + b.z + d * d * (a.x * b.x / n));
}

// Tree merge of one summary per thread (fixed order); the result on every thread.
fn merge_block(s: vec3<f32>, lid: u32) -> vec3<f32> {
    wn[lid] = s.x;
    wmean[lid] = s.y;
    wm2[lid] = s.z;
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        workgroupBarrier();
        if (lid < k) {
            let r = chan(vec3<f32>(wn[lid], wmean[lid], wm2[lid]), vec3<f32>(wn[lid + k], wmean[lid + k], wm2[lid + k]));
            wn[lid] = r.x;
            wmean[lid] = r.y;
            wm2[lid] = r.z;
        }
    }
    workgroupBarrier();
    let r = vec3<f32>(wn[0], wmean[0], wm2[0]);
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG)
fn whiten_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let part = wid.x + wid.y * p.grid_x;
    if (part >= p.n_parts) {
        return;
    }
    let lid = lid3.x;
    let start = part * p.chunk;
    let end = min(start + p.chunk, p.n);
    var s = vec3<f32>(0.0);
    for (var i = start + lid; i < end; i += WG) {
        var w = 0.0;
        if (p.weighted != 0u) {
            w = aux[i];
        } else if (mask[i] != 0u) {
            w = 1.0;
        }
        if (w > 0.0) {
            // Welford's update (West's, with weights).
            s.x += w;
            let d = x[i] - s.y;
            s.y += d * (w / s.x);
            s.z += w * d * (x[i] - s.y);
        }
    }
    let r = merge_block(s, lid);
    if (lid == 0u) {
        stats[4u * part] = r.x;
        stats[4u * part + 1u] = r.y;
        stats[4u * part + 2u] = r.z;
        stats[4u * part + 3u] = 0.0;
    }
}

@compute @workgroup_size(WG)
fn whiten_finalize(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    var s = vec3<f32>(0.0);
    for (var w = lid; w < p.n_parts; w += WG) {
        s = chan(s, vec3<f32>(stats[4u * w], stats[4u * w + 1u], stats[4u * w + 2u]));
    }
    let r = merge_block(s, lid);
    if (lid != 0u) {
        return;
    }
    let n = r.x;
    var mean = 0.0;
    var scale = 0.0;
    if (n > 0.0) {
        mean = r.y;
        var var_pop = r.z / n;
        if (p.count_eps != 0.0) {
            // verl divides by (n + ε) in both masked means, the variance around that mean.
            mean = r.y * (n / (n + p.count_eps));
            let d = r.y - mean;
            var_pop = (r.z + n * d * d) / (n + p.count_eps);
        }
        var v = var_pop;
        if (p.unbiased != 0u) {
            v = select(0.0, var_pop * (n / (n - 1.0)), n > 1.0);
        }
        scale = 1.0;
        if (p.scale_by_std != 0u) {
            var denom = 0.0;
            switch p.eps_mode {
                case 0u: {
                    denom = sqrt(v + p.eps);
                }
                case 1u: {
                    denom = sqrt(max(v, p.eps));
                }
                default: {
                    denom = sqrt(v) + p.eps;
                }
            }
            scale = select(0.0, 1.0 / denom, denom > 0.0);
        }
    }
    let f = 4u * p.n_parts;
    stats[f] = mean;
    stats[f + 1u] = scale;
    stats[f + 2u] = select(mean, 0.0, p.shift_mean != 0u);
    stats[f + 3u] = n;
}

@compute @workgroup_size(WG)
fn whiten_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    if (p.zero_masked != 0u && mask[i] == 0u) {
        out[i] = 0.0;
        return;
    }
    let f = 4u * p.n_parts;
    out[i] = (x[i] - stats[f]) * stats[f + 1u] + stats[f + 2u];
}

@compute @workgroup_size(WG)
fn remax_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    out[i] = select(0.0, x[i] - aux[i / p.seq_len], mask[i] != 0u);
}
