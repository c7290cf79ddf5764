// Causal multi-head self-attention forward (llm.c layout, shared/attention_layout.wgsl), one workgroup
// per score row (b, h, t); threads stride over the keys s ≤ t, then over the head's channels:
//   preatt[b,h,t,s] = q_t·k_s/√hs,  att = softmax_s(preatt) over s ≤ t,
//   out[b,t,h·hs + i] = Σ_{s≤t} att[b,h,t,s]·v_s[i];  entries s > t of preatt and att are 0.
// Each thread writes the scores of its own keys and reads them back; the weighted sum of values
// reads the whole row after a storage barrier. Work O(B·NH·T²·hs), like the CPU op (correctness
// first; a flash-style kernel would keep the row in registers and skip materializing att).
//
// CPU reference: rewardkit_trainer::ops::attention_forward

override WG: u32 = 64u; // a power of two, at most 256

struct Params {
    n_rows: u32, // B·NH·T
    t: u32,
    c: u32,
    nh: u32,
    hs: u32,
    grid_x: u32,
    scale: f32, // 1/√hs
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> preatt: array<f32>;
@group(0) @binding(2) var<storage, read_write> att: array<f32>;
@group(0) @binding(3) var<storage, read> qkv: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let r = wid.x + wid.y * p.grid_x;
    if (r >= p.n_rows) {
        return;
    }
    let lid = lid3.x;
    let hd = head_of(r);
    let row = r * p.t;
    let q = qkv_at(hd.b, hd.t, hd.h, 0u);
    var mx = -3.0e38;
    for (var s = lid; s <= hd.t; s += WG) {
        let k = qkv_at(hd.b, s, hd.h, 1u);
        var dot = 0.0;
        for (var i = 0u; i < p.hs; i++) {
            dot += qkv[q + i] * qkv[k + i];
        }
        let pre = dot * p.scale;
        preatt[row + s] = pre;
        mx = max(mx, pre);
    }
    for (var s = hd.t + 1u + lid; s < p.t; s += WG) {
        preatt[row + s] = 0.0;
        att[row + s] = 0.0;
    }
    mx = block_max(mx, lid, WG);
    var sum = 0.0;
    for (var s = lid; s <= hd.t; s += WG) {
        let e = exp(preatt[row + s] - mx);
        att[row + s] = e;
        sum += e;
    }
    let inv = 1.0 / block_sum(sum, lid, WG);
    for (var s = lid; s <= hd.t; s += WG) {
        att[row + s] *= inv;
    }
    storageBarrier();
    let o = out_at(hd.b, hd.t, hd.h);
    for (var i = lid; i < p.hs; i += WG) {
        var acc = 0.0;
        for (var s = 0u; s <= hd.t; s++) {
            acc += att[row + s] * qkv[qkv_at(hd.b, s, hd.h, 2u) + i];
        }
        out[o + i] = acc;
    }
}
