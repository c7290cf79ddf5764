// Device copy dst ← src in vec4 words, one word per thread: the bandwidth floor that the benchmark
// measures in the same run (bytes moved = 2 × size).
//
// CPU reference: core::slice::copy_from_slice

override WG: u32 = 256u;

struct Params {
    n4: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < p.n4) {
        dst[i] = src[i];
    }
}
