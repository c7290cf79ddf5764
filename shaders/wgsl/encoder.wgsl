// Token plus position embedding, one thread per output element:
//   out[b, t, c] = wte[tokens[b, t], c] + wpe[t, c]
// Token ids are clamped to V − 1 rather than read out of bounds (the host checks them when they
// are uploaded, GpuContext::upload_ids).
//
// CPU reference: rewardkit_trainer::ops::encoder_forward

override WG: u32 = 256u;

struct Params {
    n: u32,     // B·T·C
    seq_len: u32,
    channels: u32,
    vocab: u32,
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<f32>;
@group(0) @binding(3) var<storage, read> wpe: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn encoder_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    let row = i / p.channels;
    let c = i - row * p.channels;
    let t = row % p.seq_len;
    let id = min(tokens[row], p.vocab - 1u);
    out[i] = wte[id * p.channels + c] + wpe[t * p.channels + c];
}
