// Residual connection and its backward, one thread per element:
//   residual_forward:  y0 = x0 + x1            (out = a + b)
//   residual_backward: y0 += x0, y1 += x0      (da += dout, db += dout; accumulates)
// The bindings are named by role (y written, x read) because the two entries use them
// differently; the host binds a small unused buffer where an entry has no use for one.
//
// CPU reference: rewardkit_trainer::ops::residual_forward (and residual_backward)

override WG: u32 = 256u;

struct Params {
    n: u32,
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> y0: array<f32>;
@group(0) @binding(1) var<storage, read_write> y1: array<f32>;
@group(0) @binding(2) var<storage, read> x0: array<f32>;
@group(0) @binding(3) var<storage, read> x1: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn residual_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    y0[i] = x0[i] + x1[i];
}

@compute @workgroup_size(WG)
fn residual_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    let g = x0[i];
    y0[i] += g;
    y1[i] += g;
}
