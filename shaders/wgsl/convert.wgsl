// f32 → f16 conversion with WGSL's pack2x16float, two values per thread packed into one u32
// (little-endian: the even element in the low half), so the destination is a buffer of IEEE
// binary16 values. WGSL gives one of the two binary16 values nearest to the input (which one is
// the implementation's choice; most round to nearest even) and leaves values beyond ±65504
// undefined. Core WGSL: needs no f16 feature; the f16 matmul reads the result.
//
// CPU reference: IEEE 754 binary16 conversion (the tests accept either neighbour and decode the result in f64)

override WG: u32 = 256u;

struct Params {
    n: u32, // f32 values
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn f32_to_f16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (2u * i >= p.n) {
        return;
    }
    var hi = 0.0;
    if (2u * i + 1u < p.n) {
        hi = src[2u * i + 1u];
    }
    dst[i] = pack2x16float(vec2<f32>(src[2u * i], hi));
}
