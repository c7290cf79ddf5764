// Tiled, register-blocked fp32 matrix multiply (batched), llm.c's matmul family as one kernel:
//
//   c[b, m, n] = alpha · Σ_k A(b, m, k) · B(b, k, n)  (+ c[b, m, n] if ACCUMULATE)  (+ bias[n] if HAS_BIAS)
//
// with A(m, k) = a[m·K + k] (row-major M×K), or a[k·M + m] when TRANS_A (a stored K×M), and
// B(k, n) = b[k·N + n] (row-major K×N), or b[n·K + k] when TRANS_B (b stored N×K, as llm.c's
// weight (OC×C)). llm.c's matmul_forward(out, inp, weight, bias, n, c, oc) is TRANS_B with
// M = n, K = c, N = oc; its backward is dinp += dout·W (no transpose, ACCUMULATE) and
// dW += doutᵀ·inp (TRANS_A, ACCUMULATE).
//
// Algorithm: each workgroup of 16×16 threads computes a 128×128 tile of c; each thread owns an
// 8×8 register block (64 accumulators). The K loop stages an 8-deep slice of A (128×8) and B
// (8×128) in workgroup memory, stored k-major as vec4 so the inner loop reads two vec4 of A and two
// vec4 of B per k (64 FMAs per 4 loads); each thread stages whole vec4s (no partial writes); global loads are coalesced along the contiguous dimension
// of each operand (which one depends on the transposes) and zero-filled outside the matrix, so any
// M, N, K works (no multiple-of-tile requirement). The batch index is the z workgroup id.
//
// Tunables are pipeline-overridable constants (TRANS_A, TRANS_B, ACCUMULATE, HAS_BIAS select the
// variant; the tile shape is a compile-time constant because register arrays must be
// constant-sized in WGSL).
//
// CPU reference: rewardkit_trainer::ops::matmul_forward (and matmul_backward); the parity tests
// also use a naive f64 triple loop.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;
override HAS_BIAS: bool = false;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 8u;
const TM: u32 = 8u;
const TN: u32 = 8u;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    stride_a: u32,
    stride_b: u32,
    stride_c: u32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// k-major tiles: as_[k][m / 4], bs[k][n / 4].
var<workgroup> as_: array<vec4<f32>, 256>; // BK * BM / 4
var<workgroup> bs: array<vec4<f32>, 256>;  // BK * BN / 4

fn load_a(base: u32, m: u32, k: u32) -> f32 {
    if (m >= p.m || k >= p.k) {
        return 0.0;
    }
    if (TRANS_A) {
        return a[base + k * p.m + m];
    }
    return a[base + m * p.k + k];
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
    if (k >= p.k || n >= p.n) {
        return 0.0;
    }
    if (TRANS_B) {
        return b[base + n * p.k + k];
    }
    return b[base + k * p.n + n];
}

@compute @workgroup_size(16, 16, 1)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let batch = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let base_a = batch * p.stride_a;
    let base_b = batch * p.stride_b;
    let base_c = batch * p.stride_c;

    var acc: array<vec4<f32>, 16>; // TM rows × (TN / 4) vec4
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    let n_tiles = (p.k + BK - 1u) / BK;
    for (var t = 0u; t < n_tiles; t++) {
        let k0 = t * BK;
        // Stage A: 128×8 values, 4 per thread, coalesced along the contiguous dimension.
        if (TRANS_A) {
            // a is K×M: consecutive threads read consecutive m.
            let kk = li / 32u;
            let mm = (li % 32u) * 4u;
            as_[kk * 32u + mm / 4u] = vec4<f32>(
                load_a(base_a, row0 + mm, k0 + kk),
                load_a(base_a, row0 + mm + 1u, k0 + kk),
                load_a(base_a, row0 + mm + 2u, k0 + kk),
                load_a(base_a, row0 + mm + 3u, k0 + kk),
            );
        } else {
            // a is M×K: eight consecutive threads read eight consecutive k of four rows (one
            // 32-byte sector per row), and each thread writes one whole vec4 (4 rows, one k).
            let kk = li % 8u;
            let mm = (li / 8u) * 4u;
            as_[kk * 32u + mm / 4u] = vec4<f32>(
                load_a(base_a, row0 + mm, k0 + kk),
                load_a(base_a, row0 + mm + 1u, k0 + kk),
                load_a(base_a, row0 + mm + 2u, k0 + kk),
                load_a(base_a, row0 + mm + 3u, k0 + kk),
            );
        }
        // Stage B: 8×128 values.
        if (TRANS_B) {
            // b is N×K (llm.c's weight): as for a row-major A.
            let kk = li % 8u;
            let nn = (li / 8u) * 4u;
            bs[kk * 32u + nn / 4u] = vec4<f32>(
                load_b(base_b, k0 + kk, col0 + nn),
                load_b(base_b, k0 + kk, col0 + nn + 1u),
                load_b(base_b, k0 + kk, col0 + nn + 2u),
                load_b(base_b, k0 + kk, col0 + nn + 3u),
            );
        } else {
            let kk = li / 32u;
            let nn = (li % 32u) * 4u;
            bs[kk * 32u + nn / 4u] = vec4<f32>(
                load_b(base_b, k0 + kk, col0 + nn),
                load_b(base_b, k0 + kk, col0 + nn + 1u),
                load_b(base_b, k0 + kk, col0 + nn + 2u),
                load_b(base_b, k0 + kk, col0 + nn + 3u),
            );
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            // Rows lid.y*4 .. +4 and 64 + lid.y*4 .. +4; columns likewise (strided halves keep the
            // vec4 reads of neighbouring threads contiguous).
            let a0 = as_[kk * 32u + lid.y];
            let a1 = as_[kk * 32u + 16u + lid.y];
            let b0 = bs[kk * 32u + lid.x];
            let b1 = bs[kk * 32u + 16u + lid.x];
            for (var i = 0u; i < 4u; i++) {
                acc[i * 2u] = fma(vec4<f32>(a0[i]), b0, acc[i * 2u]);
                acc[i * 2u + 1u] = fma(vec4<f32>(a0[i]), b1, acc[i * 2u + 1u]);
                acc[8u + i * 2u] = fma(vec4<f32>(a1[i]), b0, acc[8u + i * 2u]);
                acc[8u + i * 2u + 1u] = fma(vec4<f32>(a1[i]), b1, acc[8u + i * 2u + 1u]);
            }
        }
        workgroupBarrier();
    }

    // Epilogue: thread rows {4·ly + i, 64 + 4·ly + i}, columns {4·lx + j, 64 + 4·lx + j}.
    for (var h = 0u; h < 2u; h++) {
        for (var i = 0u; i < 4u; i++) {
            let m = row0 + h * 64u + lid.y * 4u + i;
            if (m >= p.m) {
                continue;
            }
            for (var w = 0u; w < 2u; w++) {
                let v = acc[h * 8u + i * 2u + w];
                for (var j = 0u; j < 4u; j++) {
                    let n = col0 + w * 64u + lid.x * 4u + j;
                    if (n < p.n) {
                        let idx = base_c + m * p.n + n;
                        var res = p.alpha * v[j];
                        if (ACCUMULATE) {
                            res += c[idx];
                        }
                        if (HAS_BIAS) {
                            res += bias[n];
                        }
                        c[idx] = res;
                    }
                }
            }
        }
    }
}
