// Discounted returns and GAE over (B, T), skipping masked positions (the running return and the
// running GAE term are carried through a masked token and its reward is ignored; masked outputs
// are 0), in two layouts:
//
// - *_rows: one thread per row walks t = T−1 … 0 (enough parallelism when B is large);
// - *_scan: one workgroup per row, a parallel scan over T (long sequences, small B). Each step is an
//   affine map of the carried state: returns g ← γ·g + r (identity when masked); GAE
//   (v_next, â) ← (v_t, γλ·â + γ·v_next + r_t − v_t) (identity when masked). Each thread composes the
//   maps of its contiguous chunk of T, a Hillis–Steele suffix scan over the WG chunk maps gives
//   every chunk its incoming state, and each thread replays its chunk writing the outputs (the
//   inputs are read twice, the outputs written once).
//
// Masks are u32 (0 = masked). f32 arithmetic (the core runs the recurrence in f64).
//
// CPU reference: rewardkit_core::advantage::gae (and discounted_returns)

override WG: u32 = 256u; // scan workgroup size: a power of two, at most 256

struct Params {
    n_rows: u32,
    seq_len: u32,
    grid_x: u32,
    _pad: u32,
    gamma: f32,
    lambda: f32,
}

@group(0) @binding(0) var<storage, read_write> out0: array<f32>; // returns, or GAE advantages
@group(0) @binding(1) var<storage, read_write> out1: array<f32>; // GAE returns (unused by returns)
@group(0) @binding(2) var<storage, read> rewards: array<f32>;
@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

// Scan state: a 2×2 matrix (column-major m0..m3) and an offset (c0, c1) per thread. Returns use
// only m0 and c0.
var<workgroup> sm: array<vec4<f32>, 256>;
var<workgroup> sc: array<vec2<f32>, 256>;

@compute @workgroup_size(64)
fn returns_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.seq_len;
    var g = 0.0;
    for (var j = 0u; j < p.seq_len; j++) {
        let i = base + p.seq_len - 1u - j;
        if (mask[i] != 0u) {
            g = rewards[i] + p.gamma * g;
            out0[i] = g;
        } else {
            out0[i] = 0.0;
        }
    }
}

@compute @workgroup_size(64)
fn gae_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.seq_len;
    let gl = p.gamma * p.lambda;
    var next_v = 0.0;
    var last = 0.0;
    for (var j = 0u; j < p.seq_len; j++) {
        let i = base + p.seq_len - 1u - j;
        if (mask[i] != 0u) {
            let v = values[i];
            last = (rewards[i] + p.gamma * next_v - v) + gl * last;
            next_v = v;
            out0[i] = last;
            out1[i] = last + v;
        } else {
            out0[i] = 0.0;
            out1[i] = 0.0;
        }
    }
}

// The chunk [t0, t1) of thread lid for a row of length T split into WG chunks.
fn chunk(lid: u32) -> vec2<u32> {
    let len = (p.seq_len + WG - 1u) / WG;
    let t0 = min(lid * len, p.seq_len);
    let t1 = min(t0 + len, p.seq_len);
    return vec2<u32>(t0, t1);
}

// (M2, c2) ∘ (M1, c1): apply (M1, c1) first. Matrices column-major: (m0 m2; m1 m3).
fn mat_mul(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(
        a.x * b.x + a.z * b.y,
        a.y * b.x + a.w * b.y,
        a.x * b.z + a.z * b.w,
        a.y * b.z + a.w * b.w,
    );
}

fn mat_vec(a: vec4<f32>, v: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x * v.x + a.z * v.y, a.y * v.x + a.w * v.y);
}

// Suffix scan of the chunk maps: afterwards slot i holds F_i ∘ F_{i+1} ∘ … ∘ F_{WG−1}.
fn suffix_scan(lid: u32) {
    for (var off = 1u; off < WG; off = off * 2u) {
        workgroupBarrier();
        var m = sm[lid];
        var c = sc[lid];
        if (lid + off < WG) {
            // F_i ∘ G where G = slot[i + off] is applied first (later positions come first).
            let gm = sm[lid + off];
            let gc = sc[lid + off];
            c = mat_vec(m, gc) + c;
            m = mat_mul(m, gm);
        }
        workgroupBarrier();
        sm[lid] = m;
        sc[lid] = c;
    }
    workgroupBarrier();
}

@compute @workgroup_size(WG)
fn returns_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let row = wid.x + wid.y * p.grid_x;
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.seq_len;
    let ch = chunk(lid);
    // Compose the chunk's maps g ← a·g + b from its end to its start.
    var a = 1.0;
    var b = 0.0;
    for (var t = ch.y; t > ch.x; t--) {
        let i = base + t - 1u;
        if (mask[i] != 0u) {
            b = rewards[i] + p.gamma * b;
            a = p.gamma * a;
        }
    }
    sm[lid] = vec4<f32>(a, 0.0, 0.0, 1.0);
    sc[lid] = vec2<f32>(b, 0.0);
    suffix_scan(lid);
    var g = 0.0;
    if (lid + 1u < WG) {
        g = sc[lid + 1u].x; // the later chunks applied to 0
    }
    for (var t = ch.y; t > ch.x; t--) {
        let i = base + t - 1u;
        if (mask[i] != 0u) {
            g = rewards[i] + p.gamma * g;
            out0[i] = g;
        } else {
            out0[i] = 0.0;
        }
    }
}

@compute @workgroup_size(WG)
fn gae_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let row = wid.x + wid.y * p.grid_x;
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.seq_len;
    let gl = p.gamma * p.lambda;
    let ch = chunk(lid);
    // The chunk's composite map of the state s = (v_next, â): s ← M·s + c.
    var m = vec4<f32>(1.0, 0.0, 0.0, 1.0);
    var c = vec2<f32>(0.0, 0.0);
    for (var t = ch.y; t > ch.x; t--) {
        let i = base + t - 1u;
        if (mask[i] != 0u) {
            let v = values[i];
            // Step map: (v_next, â) ← (v, γ·v_next + γλ·â + r − v), applied after (m, c).
            let step = vec4<f32>(0.0, p.gamma, 0.0, gl);
            let off = vec2<f32>(v, rewards[i] - v);
            c = mat_vec(step, c) + off;
            m = mat_mul(step, m);
        }
    }
    sm[lid] = m;
    sc[lid] = c;
    suffix_scan(lid);
    var s = vec2<f32>(0.0, 0.0);
    if (lid + 1u < WG) {
        s = sc[lid + 1u];
    }
    var next_v = s.x;
    var last = s.y;
    for (var t = ch.y; t > ch.x; t--) {
        let i = base + t - 1u;
        if (mask[i] != 0u) {
            let v = values[i];
            last = (rewards[i] + p.gamma * next_v - v) + gl * last;
            next_v = v;
            out0[i] = last;
            out1[i] = last + v;
        } else {
            out0[i] = 0.0;
            out1[i] = 0.0;
        }
    }
}
