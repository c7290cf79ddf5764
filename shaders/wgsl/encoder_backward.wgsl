// Backward of the token plus position embedding, accumulating, without atomics:
//   encoder_backward_wpe: dwpe[t, c] += Σ_b dout[b, t, c]   (one thread per (t, c), b ascending)
//   encoder_backward_wte: dwte[id, c] += Σ_{positions of id} dout[pos, c]
// The token buckets come from token_sort.wgsl: keys (id, position) sorted, so each id's positions
// are one contiguous run in ascending order. One workgroup per sorted key; the workgroup at the
// start of a run sums the run's rows (threads over c, positions in ascending order) and adds the
// sum into dwte; every other workgroup exits. Deterministic: fixed sum order, one writer per row.
//
// CPU reference: rewardkit_trainer::ops::encoder_backward

override WG: u32 = 256u; // threads over channels in encoder_backward_wte

struct Params {
    n_tok: u32,  // B·T
    seq_len: u32,
    channels: u32,
    n_pos: u32,  // T·C (encoder_backward_wpe's threads)
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> dwte: array<f32>;
@group(0) @binding(1) var<storage, read_write> dwpe: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> keys: array<vec2<u32>>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn encoder_backward_wte(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let i = wid.x + wid.y * p.grid_x;
    if (i >= p.n_tok) {
        return;
    }
    let id = keys[i].x;
    if (i > 0u && keys[i - 1u].x == id) {
        return; // not the start of a run
    }
    for (var c = lid3.x; c < p.channels; c += WG) {
        var acc = 0.0;
        for (var j = i; j < p.n_tok; j++) {
            let key = keys[j];
            if (key.x != id) {
                break;
            }
            acc += dout[key.y * p.channels + c];
        }
        dwte[id * p.channels + c] += acc;
    }
}

@compute @workgroup_size(WG)
fn encoder_backward_wpe(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n_pos) {
        return;
    }
    let stride = p.seq_len * p.channels;
    var acc = 0.0;
    for (var r = i; r < p.n_tok * p.channels; r += stride) {
        acc += dout[r];
    }
    dwpe[i] += acc;
}
