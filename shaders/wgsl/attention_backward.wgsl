// Causal multi-head self-attention backward (llm.c layout, shared/attention_layout.wgsl), accumulating
// into dqkv, dpreatt and datt like the CPU op, without atomics, in two dispatches:
//   attention_backward_rows, one workgroup per score row (b, h, t):
//     datt[s] += v_s·dout_t;  dpreatt[s] += att[s]·(datt[s] − Σ_u att[u]·datt[u]);
//     dq_t += Σ_s dpreatt[s]·k_s/√hs        (s ≤ t; datt and dpreatt as accumulated)
//   attention_backward_cols, one workgroup per key (b, h, s), after the rows:
//     dk_s += Σ_{t≥s} dpreatt[b,h,t,s]·q_t/√hs,  dv_s += Σ_{t≥s} att[b,h,t,s]·dout_t
// Each gradient entry has one writer per dispatch, and every sum a fixed order.
//
// CPU reference: rewardkit_trainer::ops::attention_backward

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

@group(0) @binding(0) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> dpreatt: array<f32>;
@group(0) @binding(2) var<storage, read_write> datt: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> qkv: array<f32>;
@group(0) @binding(5) var<storage, read> att: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn attention_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let r = wid.x + wid.y * p.grid_x;
    if (r >= p.n_rows) {
        return;
    }
    let lid = lid3.x;
    let hd = head_of(r);
    let row = r * p.t;
    let d_o = out_at(hd.b, hd.t, hd.h);
    // Through the weighted sum of values: datt[s] += v_s·dout_t.
    var dot = 0.0;
    for (var s = lid; s <= hd.t; s += WG) {
        let v = qkv_at(hd.b, s, hd.h, 2u);
        var d = 0.0;
        for (var i = 0u; i < p.hs; i++) {
            d += qkv[v + i] * dout[d_o + i];
        }
        let da = datt[row + s] + d;
        datt[row + s] = da;
        dot += att[row + s] * da;
    }
    dot = block_sum(dot, lid, WG);
    // Through the softmax.
    for (var s = lid; s <= hd.t; s += WG) {
        dpreatt[row + s] += att[row + s] * (datt[row + s] - dot);
    }
    storageBarrier();
    // Through the scaled scores, into the query.
    let q = qkv_at(hd.b, hd.t, hd.h, 0u);
    for (var i = lid; i < p.hs; i += WG) {
        var acc = 0.0;
        for (var s = 0u; s <= hd.t; s++) {
            acc += dpreatt[row + s] * p.scale * qkv[qkv_at(hd.b, s, hd.h, 1u) + i];
        }
        dqkv[q + i] += acc;
    }
}

@compute @workgroup_size(WG)
fn attention_backward_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let r = wid.x + wid.y * p.grid_x;
    if (r >= p.n_rows) {
        return;
    }
    let hd = head_of(r); // hd.t is the key position s
    let s = hd.t;
    let rows0 = (r - s) * p.t; // score row (b, h, 0)
    let k = qkv_at(hd.b, s, hd.h, 1u);
    let v = qkv_at(hd.b, s, hd.h, 2u);
    for (var i = lid3.x; i < p.hs; i += WG) {
        var dk = 0.0;
        var dv = 0.0;
        for (var t = s; t < p.t; t++) {
            let idx = rows0 + t * p.t + s;
            dk += dpreatt[idx] * p.scale * qkv[qkv_at(hd.b, t, hd.h, 0u) + i];
            dv += att[idx] * dout[out_at(hd.b, t, hd.h) + i];
        }
        dqkv[k + i] += dk;
        dqkv[v + i] += dv;
    }
}
