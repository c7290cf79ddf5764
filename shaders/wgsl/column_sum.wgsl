// Column sums added into an output, one thread per column, rows in ascending order
// (deterministic): dst[c] += Σ_r src[offset + r·stride + c] for r < rows, c < cols. The second
// stage of the atomics-free parameter-gradient reductions (layernorm_backward.wgsl's chunk
// partials).
//
// CPU reference: rewardkit_trainer::ops::layernorm_backward (its dweight and dbias sums over rows)

override WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    stride: u32,
    offset: u32,
    grid_x: u32,
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
