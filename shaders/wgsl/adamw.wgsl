// One AdamW step in place, one thread per parameter (llm.c's gpt2_update):
//   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  m̂ = m/c₁,  v̂ = v/c₂,
//   θ ← θ − lr·(m̂/(√v̂ + ε) + λ·θ)
// with the bias corrections c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ computed on the host in f32 exactly as the
// CPU op does (powi), so both sides divide by the same numbers.
//
// CPU reference: rewardkit_trainer::ops::adamw

override WG: u32 = 256u;

struct Params {
    n: u32,
    grid_x: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    c1: f32,
    c2: f32,
}

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> grads: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    let g = grads[i];
    let mm = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let vv = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = mm;
    v[i] = vv;
    let mhat = mm / p.c1;
    let vhat = vv / p.c2;
    let theta = params[i];
    params[i] = theta - p.lr * (mhat / (sqrt(vhat) + p.eps) + p.weight_decay * theta);
}
