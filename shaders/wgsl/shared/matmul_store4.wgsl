// Shared epilogue of the vec4 matmul kernels (one home for matmul_vec4.wgsl and
// matmul_f16.wgsl): c and bias are bound as vec4 arrays, N is a multiple of 4, so the four columns
// n .. n + 3 of row m are one aligned vec4 and all in range when n is.

fn store_c(base: u32, m: u32, n: u32, v: vec4<f32>) {
    let idx = (base + m * p.n + n) / 4u;
    var res = v;
    if (ACCUMULATE) {
        res += c[idx];
    }
    if (HAS_BIAS) {
        res += bias[n / 4u];
    }
    c[idx] = res;
}
