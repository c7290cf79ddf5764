// Matrix multiply with half-precision inputs and single-precision accumulation: a and b hold f16
// (IEEE binary16) values, loaded as vec4<f16> (half the memory traffic of f32) and widened to f32
// before staging, so the tiled core (shared/matmul_core.wgsl) and its f32 FMAs are unchanged;
// c and bias are f32 vec4. Same shape conditions as matmul_vec4.wgsl. Needs the adapter feature
// SHADER_F16 (the host says so when it is missing).
//
// CPU reference: rewardkit_trainer::ops::matmul_forward (with inputs rounded to f16); the parity tests use a naive f64 triple loop over the rounded inputs.

@group(0) @binding(0) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> a: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p: Params;

fn load_a4(base: u32, m: u32, k: u32) -> vec4<f32> {
    if (m >= p.m || k >= p.k) {
        return vec4<f32>(0.0);
    }
    if (TRANS_A) {
        return vec4<f32>(a[(base + k * p.m + m) / 4u]);
    }
    return vec4<f32>(a[(base + m * p.k + k) / 4u]);
}

fn load_b4(base: u32, k: u32, n: u32) -> vec4<f32> {
    if (k >= p.k || n >= p.n) {
        return vec4<f32>(0.0);
    }
    if (TRANS_B) {
        return vec4<f32>(b[(base + n * p.k + k) / 4u]);
    }
    return vec4<f32>(b[(base + k * p.n + n) / 4u]);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_f16(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    matmul_core(wid, lid, li);
}
