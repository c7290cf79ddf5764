// Stage 1 of every per-sequence advantage plan: the score of each row is the sum of its valid
// token rewards (an outcome reward sits on the last valid token), and its length the number of
// valid tokens (OPO's weights; the row weights of a whitening over tokens). One workgroup per row
// of the (B, T) rewards: strided partial sums per thread, then a fixed-order tree
// (shared/reduce.wgsl), so the result is deterministic. Masked positions are never read. The sums
// are f32 (the core's are f64, rounded once).
//
// CPU reference: rewardkit_core::advantage::masked_sequence_sums

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n_rows: u32,   // B
    seq_len: u32,  // T
    grid_x: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> lengths: array<f32>;
@group(0) @binding(2) var<storage, read> rewards: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn masked_sequence_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let b = wid.x + wid.y * p.grid_x;
    if (b >= p.n_rows) {
        return;
    }
    var s = 0.0;
    var c = 0.0;
    for (var t = lid; t < p.seq_len; t += WG) {
        let i = b * p.seq_len + t;
        if (mask[i] != 0u) {
            s += rewards[i];
            c += 1.0;
        }
    }
    let total = block_sum(s, lid, WG);
    let count = block_sum(c, lid, WG);
    if (lid == 0u) {
        scores[b] = total;
        lengths[b] = count;
    }
}
