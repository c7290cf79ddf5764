// Shared core of the tiled, register-blocked fp32 matrix multiply (one home for matmul.wgsl,
// matmul_vec4.wgsl and matmul_f16.wgsl, which differ only in how they load and store):
//
//   c[b, m, n] = alpha · Σ_k A(b, m, k) · B(b, k, n)  (+ c[b, m, n] if ACCUMULATE)  (+ bias[n] if HAS_BIAS)
//
// with A(m, k) = a[m·K + k] (row-major M×K), or a[k·M + m] when TRANS_A (a stored K×M), and
// B(k, n) = b[k·N + n] (row-major K×N), or b[n·K + k] when TRANS_B (b stored N×K, as llm.c's
// weight (OC×C)). llm.c's matmul_forward(out, inp, weight, bias, n, c, oc) is TRANS_B with
// M = n, K = c, N = oc; its backward is dinp += dout·W (no transpose, ACCUMULATE) and
// dW += doutᵀ·inp (TRANS_A, ACCUMULATE).
//
// Algorithm: a workgroup of WG_X × WG_Y threads computes a BM × BN tile of c (BM = WG_Y·TM,
// BN = WG_X·TN); each thread owns TM × TN outputs in registers: TM/4 groups of 4 rows strided by
// 4·WG_Y and TN/4 groups of 4 columns strided by 4·WG_X (so neighbouring threads read neighbouring
// vec4 of the staged slices). The K loop stages a BK-deep slice of A (BM × BK) and B (BK × BN) in
// workgroup memory, k-major as vec4 (as_[k][m/4], bs[k][n/4]); per k the inner loop reads TM/4 vec4
// of A and TN/4 vec4 of B for TM·TN FMAs. Staging (stage_a/stage_b) reads 4 consecutive elements
// along each operand's contiguous dimension with the including file's load_a4/load_b4: along m or
// n they are one staged vec4; along k a thread reads a 4×4 block and writes it transposed (every
// thread writes whole vec4, never a component). Outside the matrix loads give 0, so any M, N, K
// works. The batch index is the z workgroup id.
//
// Tunables are pipeline-overridable constants: TRANS_A, TRANS_B, ACCUMULATE, HAS_BIAS select the
// variant; WG_X, WG_Y (threads), TM, TN (4 or 8 outputs per thread and dimension) and BK (a
// multiple of 4) set the tile. The register array has the maximal 8 × 8 shape (WGSL function
// arrays need a constant size); with smaller TM/TN the unused registers are dead code.
//
// The including file supplies the bindings (c, a, b, bias), load_a4, load_b4 and store_c.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;
override HAS_BIAS: bool = false;
override WG_X: u32 = 16u; // threads along n
override WG_Y: u32 = 16u; // threads along m
override TM: u32 = 8u;    // rows per thread: 4 or 8
override TN: u32 = 8u;    // columns per thread: 4 or 8
override BK: u32 = 8u;    // depth of a staged slice: a multiple of 4

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

var<workgroup> as_: array<vec4<f32>, BK * WG_Y * TM / 4u>; // as_[k · BM/4 + m/4]
var<workgroup> bs: array<vec4<f32>, BK * WG_X * TN / 4u>;  // bs[k · BN/4 + n/4]

// Stages A's slice k0 .. k0 + BK of rows row0 .. row0 + BM.
fn stage_a(base: u32, row0: u32, k0: u32, li: u32) {
    let nt = WG_X * WG_Y;
    let bm4 = WG_Y * TM / 4u;
    if (TRANS_A) {
        // Contiguous along m: one loaded vec4 is one staged vec4.
        for (var e = li; e < BK * bm4; e += nt) {
            let kk = e / bm4;
            let m4 = e % bm4;
            as_[kk * bm4 + m4] = load_a4(base, row0 + 4u * m4, k0 + kk);
        }
    } else {
        // Contiguous along k: a 4×4 block (4 rows × 4 k) per thread, written transposed.
        let kb = BK / 4u;
        for (var e = li; e < bm4 * kb; e += nt) {
            let m4 = e / kb;
            let k4 = e % kb;
            let m = row0 + 4u * m4;
            let k = k0 + 4u * k4;
            let r0 = load_a4(base, m, k);
            let r1 = load_a4(base, m + 1u, k);
            let r2 = load_a4(base, m + 2u, k);
            let r3 = load_a4(base, m + 3u, k);
            let s = 4u * k4 * bm4 + m4;
            as_[s] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
            as_[s + bm4] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
            as_[s + 2u * bm4] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
            as_[s + 3u * bm4] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
        }
    }
}

// Stages B's slice k0 .. k0 + BK of columns col0 .. col0 + BN.
fn stage_b(base: u32, col0: u32, k0: u32, li: u32) {
    let nt = WG_X * WG_Y;
    let bn4 = WG_X * TN / 4u;
    if (TRANS_B) {
        // Contiguous along k (llm.c's weight): 4×4 blocks, transposed.
        let kb = BK / 4u;
        for (var e = li; e < bn4 * kb; e += nt) {
            let n4 = e / kb;
            let k4 = e % kb;
            let n = col0 + 4u * n4;
            let k = k0 + 4u * k4;
            let r0 = load_b4(base, k, n);
            let r1 = load_b4(base, k, n + 1u);
            let r2 = load_b4(base, k, n + 2u);
            let r3 = load_b4(base, k, n + 3u);
            let s = 4u * k4 * bn4 + n4;
            bs[s] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
            bs[s + bn4] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
            bs[s + 2u * bn4] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
            bs[s + 3u * bn4] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
        }
    } else {
        // Contiguous along n.
        for (var e = li; e < BK * bn4; e += nt) {
            let kk = e / bn4;
            let n4 = e % bn4;
            bs[kk * bn4 + n4] = load_b4(base, k0 + kk, col0 + 4u * n4);
        }
    }
}

fn matmul_core(wid: vec3<u32>, lid: vec3<u32>, li: u32) {
    let batch = wid.z;
    let bm4 = WG_Y * TM / 4u;
    let bn4 = WG_X * TN / 4u;
    let row0 = wid.y * 4u * bm4;
    let col0 = wid.x * 4u * bn4;
    let base_a = batch * p.stride_a;
    let base_b = batch * p.stride_b;
    let base_c = batch * p.stride_c;

    // acc[(4·g + i)·2 + h]: row 4·g + i of the thread's rows, column group h.
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    let n_tiles = (p.k + BK - 1u) / BK;
    for (var t = 0u; t < n_tiles; t++) {
        let k0 = t * BK;
        stage_a(base_a, row0, k0, li);
        stage_b(base_b, col0, k0, li);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let b0 = bs[kk * bn4 + lid.x];
            var b1 = vec4<f32>(0.0);
            if (TN == 8u) {
                b1 = bs[kk * bn4 + WG_X + lid.x];
            }
            for (var g = 0u; g < TM / 4u; g++) {
                let a = as_[kk * bm4 + g * WG_Y + lid.y];
                for (var i = 0u; i < 4u; i++) {
                    let r = (4u * g + i) * 2u;
                    acc[r] = fma(vec4<f32>(a[i]), b0, acc[r]);
                    if (TN == 8u) {
                        acc[r + 1u] = fma(vec4<f32>(a[i]), b1, acc[r + 1u]);
                    }
                }
            }
        }
        workgroupBarrier();
    }

    // Epilogue: thread rows 4·WG_Y·g + 4·lid.y + i, columns 4·WG_X·h + 4·lid.x + (0..4).
    for (var g = 0u; g < TM / 4u; g++) {
        for (var i = 0u; i < 4u; i++) {
            let m = row0 + g * 4u * WG_Y + lid.y * 4u + i;
            if (m >= p.m) {
                continue;
            }
            for (var h = 0u; h < TN / 4u; h++) {
                let n = col0 + h * 4u * WG_X + lid.x * 4u;
                if (n < p.n) {
                    store_c(base_c, m, n, p.alpha * acc[(4u * g + i) * 2u + h]);
                }
            }
        }
    }
}
