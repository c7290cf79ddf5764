// Matrix multiply, scalar loads and stores (any M, N, K and any strides): the shared tiled core
// (shared/matmul_core.wgsl, which documents the algorithm and the overrides) with scalar global
// memory access, zero-filled outside the matrix. matmul_vec4.wgsl is the vectorized variant for
// shapes whose contiguous dimensions are multiples of 4.
//
// CPU reference: rewardkit_trainer::ops::matmul_forward (and matmul_backward); the parity tests also use a naive f64 triple loop.

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn a_at(base: u32, m: u32, k: u32) -> f32 {
    if (m >= p.m || k >= p.k) {
        return 0.0;
    }
    if (TRANS_A) {
        return a[base + k * p.m + m];
    }
    return a[base + m * p.k + k];
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
    if (k >= p.k || n >= p.n) {
        return 0.0;
    }
    if (TRANS_B) {
        return b[base + n * p.k + k];
    }
    return b[base + k * p.n + n];
}

// Four consecutive elements of A along its contiguous dimension from (m, k).
fn load_a4(base: u32, m: u32, k: u32) -> vec4<f32> {
    if (TRANS_A) {
        return vec4<f32>(a_at(base, m, k), a_at(base, m + 1u, k), a_at(base, m + 2u, k), a_at(base, m + 3u, k));
    }
    return vec4<f32>(a_at(base, m, k), a_at(base, m, k + 1u), a_at(base, m, k + 2u), a_at(base, m, k + 3u));
}

// Four consecutive elements of B along its contiguous dimension from (k, n).
fn load_b4(base: u32, k: u32, n: u32) -> vec4<f32> {
    if (TRANS_B) {
        return vec4<f32>(b_at(base, k, n), b_at(base, k + 1u, n), b_at(base, k + 2u, n), b_at(base, k + 3u, n));
    }
    return vec4<f32>(b_at(base, k, n), b_at(base, k, n + 1u), b_at(base, k, n + 2u), b_at(base, k, n + 3u));
}

fn store_c(base: u32, m: u32, n: u32, v: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (n + j < p.n) {
            let idx = base + m * p.n + n + j;
            var res = v[j];
            if (ACCUMULATE) {
                res += c[idx];
            }
            if (HAS_BIAS) {
                res += bias[n + j];
            }
            c[idx] = res;
        }
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    matmul_core(wid, lid, li);
}
