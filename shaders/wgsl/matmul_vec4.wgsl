// Matrix multiply with vec4 global loads and stores: the shared tiled core
// (shared/matmul_core.wgsl) with a, b, c and bias bound as vec4 arrays. For shapes whose
// contiguous dimensions are multiples of 4 (A's K, or M with TRANS_A; B's N, or K with TRANS_B;
// and N for c), so every vec4 is aligned and either wholly inside the matrix or wholly outside
// along its contiguous dimension (the host checks this and otherwise uses matmul.wgsl).
//
// CPU reference: rewardkit_trainer::ops::matmul_forward (and matmul_backward); the parity tests also use a naive f64 triple loop.

@group(0) @binding(0) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p: Params;

// Four consecutive elements of A along its contiguous dimension from (m, k), or 0 outside.
fn load_a4(base: u32, m: u32, k: u32) -> vec4<f32> {
    if (m >= p.m || k >= p.k) {
        return vec4<f32>(0.0);
    }
    if (TRANS_A) {
        return a[(base + k * p.m + m) / 4u];
    }
    return a[(base + m * p.k + k) / 4u];
}

// Four consecutive elements of B along its contiguous dimension from (k, n), or 0 outside.
fn load_b4(base: u32, k: u32, n: u32) -> vec4<f32> {
    if (k >= p.k || n >= p.n) {
        return vec4<f32>(0.0);
    }
    if (TRANS_B) {
        return b[(base + n * p.k + k) / 4u];
    }
    return b[(base + k * p.n + n) / 4u];
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_vec4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    matmul_core(wid, lid, li);
}
