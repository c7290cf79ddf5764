// LayerNorm forward over the last dimension, one workgroup per row (threads stride over C):
//   μ = mean(x), σ² = mean((x − μ)²) (biased), r = 1/√(σ² + ε), ε = 1e-5,
//   out = (x − μ)·r·weight + bias;  mean[row] = μ, rstd[row] = r
// The mean is computed shifted by the row's first value (μ = x₀ + Σ(x − x₀)/C), so a constant
// row gets μ = x₀ exactly and out = bias exactly, as the CPU op (which sums in f64); the sums are
// shared/reduce.wgsl's tree sums of f32 strided partials.
//
// CPU reference: rewardkit_trainer::ops::layernorm_forward

override WG: u32 = 256u; // a power of two, at most 256

const LN_EPS: f32 = 1e-5;

struct Params {
    n_rows: u32,
    channels: u32,
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wid.x + wid.y * p.grid_x;
    if (row >= p.n_rows) {
        return;
    }
    let lid = lid3.x;
    let base = row * p.channels;
    let c = f32(p.channels);
    let x0 = inp[base];
    var s = 0.0;
    for (var i = lid; i < p.channels; i += WG) {
        s += inp[base + i] - x0;
    }
    let mu = x0 + block_sum(s, lid, WG) / c;
    var q = 0.0;
    for (var i = lid; i < p.channels; i += WG) {
        let d = inp[base + i] - mu;
        q += d * d;
    }
    let r = 1.0 / sqrt(block_sum(q, lid, WG) / c + LN_EPS);
    for (var i = lid; i < p.channels; i += WG) {
        out[base + i] = (inp[base + i] - mu) * r * weight[i] + bias[i];
    }
    if (lid == 0u) {
        mean[row] = mu;
        rstd[row] = r;
    }
}
