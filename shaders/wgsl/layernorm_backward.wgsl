// LayerNorm backward (accumulating), without atomics. With x̂ = (x − μ)·r and g = weight ⊙ dout:
//   layernorm_backward: one workgroup per row,
//     dinp += r·(g − mean(g) − x̂·mean(g ⊙ x̂))   (term 1 through x̂, 2 through μ, 3 through r)
//   layernorm_param_partials: one thread per (column, chunk of rows) writes the chunk's sums
//     partials[chunk, c] = Σ x̂·dout (dweight) and partials[chunk, C + c] = Σ dout (dbias);
// then column_sum.wgsl adds the chunks, in chunk order, into dweight and dbias. Every sum has a
// fixed order, so results are deterministic.
//
// CPU reference: rewardkit_trainer::ops::layernorm_backward

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n_rows: u32,
    channels: u32,
    grid_x: u32,
    rows_per_chunk: u32,
    n_chunks: u32,
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> rstd: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wid.x + wid.y * p.grid_x;
    if (row >= p.n_rows) {
        return;
    }
    let lid = lid3.x;
    let base = row * p.channels;
    let mu = mean[row];
    let r = rstd[row];
    var sg = 0.0;
    var sgx = 0.0;
    for (var i = lid; i < p.channels; i += WG) {
        let g = weight[i] * dout[base + i];
        sg += g;
        sgx += g * ((inp[base + i] - mu) * r);
    }
    let c = f32(p.channels);
    let g_mean = block_sum(sg, lid, WG) / c;
    let gx_mean = block_sum(sgx, lid, WG) / c;
    for (var i = lid; i < p.channels; i += WG) {
        let norm = (inp[base + i] - mu) * r;
        dinp[base + i] += (weight[i] * dout[base + i] - g_mean - norm * gx_mean) * r;
    }
}

@compute @workgroup_size(WG)
fn layernorm_param_partials(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // x: columns (coalesced across threads), y: chunks of rows.
    let col = gid.x;
    let chunk = gid.y;
    if (col >= p.channels || chunk >= p.n_chunks) {
        return;
    }
    let r0 = chunk * p.rows_per_chunk;
    let r1 = min(r0 + p.rows_per_chunk, p.n_rows);
    var dw = 0.0;
    var db = 0.0;
    for (var row = r0; row < r1; row++) {
        let d = dout[row * p.channels + col];
        dw += (inp[row * p.channels + col] - mean[row]) * rstd[row] * d;
        db += d;
    }
    partials[chunk * 2u * p.channels + col] = dw;
    partials[chunk * 2u * p.channels + p.channels + col] = db;
}
