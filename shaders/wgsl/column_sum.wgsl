// Column sums of a row-major matrix without atomics, in a fixed order (deterministic):
//   column_partials: dst[chunk·cols + c] = Σ_{r in chunk} src[offset + r·stride + c] (one thread
//     per (column, chunk of rows_per_chunk rows); the first stage, e.g. of matmul's dbias);
//   column_sum: dst[c] += Σ_r src[offset + r·stride + c] for r < rows (one thread per column,
//     rows ascending; the second stage, adding the chunks into the gradient).
//
// CPU reference: rewardkit_trainer::ops::matmul_backward (its dbias sum over rows; also layernorm_backward's dweight and dbias)

override WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    stride: u32,
    offset: u32,
    grid_x: u32,
    rows_per_chunk: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = gid.x + gid.y * nwg.x * WG;
    if (c >= p.cols) {
        return;
    }
    var acc = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        acc += src[p.offset + r * p.stride + c];
    }
    dst[c] += acc;
}

@compute @workgroup_size(WG)
fn column_partials(@builtin(global_invocation_id) gid: vec3<u32>) {
    // x: columns (coalesced across threads), y: chunks of rows.
    let col = gid.x;
    let r0 = gid.y * p.rows_per_chunk;
    if (col >= p.cols || r0 >= p.rows) {
        return;
    }
    let r1 = min(r0 + p.rows_per_chunk, p.rows);
    var acc = 0.0;
    for (var r = r0; r < r1; r++) {
        acc += src[p.offset + r * p.stride + col];
    }
    dst[gid.y * p.cols + col] = acc;
}
