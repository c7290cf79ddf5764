// Aggregation of a token loss on the device: loss_parts reduces per-row partials
// (rows[2b] = row sum, rows[2b + 1] = valid tokens) to the additive parts
// [sum, seq_mean_sum, tokens, seqs, rows] (one workgroup, f32; counts are exact below 2²⁴), and
// scale_grad multiplies the gradient of the sums by the aggregation's per-row weight
// (shared/agg.wgsl's agg_weight: 1/normalizer, or 1/(dᵢ·normalizer) for the row-mean modes),
// computed on the device from the parts, so a step needs no readback. A zero normalizer (no valid
// token) writes 0 (the host reports TooFewValid when it reads the parts).
//
// CPU reference: rewardkit_core::loss::Aggregation::scale_grad (and LossParts)

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n_rows: u32,
    seq_len: u32,
    agg: u32,
    grid_x: u32,
    horizon: f32,
    len_eps: f32,
}

@group(0) @binding(0) var<storage, read_write> parts: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> sh: array<vec4<f32>, 256>;

@compute @workgroup_size(WG)
fn loss_parts(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    var acc = vec4<f32>(0.0);
    for (var b = lid; b < p.n_rows; b += WG) {
        let s = rows[2u * b];
        let len = rows[2u * b + 1u];
        acc.x += s;
        acc.z += len;
        if (len > 0.0) {
            acc.y += s / agg_row_divisor(p.agg, len, p.len_eps);
            acc.w += 1.0;
        }
    }
    sh[lid] = acc;
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (lid < s) {
            sh[lid] += sh[lid + s];
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        parts[0] = sh[0].x;
        parts[1] = sh[0].y;
        parts[2] = sh[0].z;
        parts[3] = sh[0].w;
        parts[4] = f32(p.n_rows);
    }
}

@compute @workgroup_size(WG)
fn scale_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n_rows * p.seq_len) {
        return;
    }
    if (mask[i] == 0u) {
        return;
    }
    let norm = agg_normalizer(p.agg, parts[2], parts[3], parts[4], p.horizon);
    let w = agg_weight(p.agg, norm, rows[2u * (i / p.seq_len) + 1u], p.len_eps);
    grad[i] = select(grad[i] * w, 0.0, w == 0.0);
}
