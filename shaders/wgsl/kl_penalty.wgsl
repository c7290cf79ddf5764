// Per-token KL estimators with their derivative with respect to log π, one thread per token; the
// estimators themselves (clamps, straight-through, the k3 series) are shared/kl.wgsl's kl_eval.
//
// CPU reference: rewardkit_core::kl::KlPenalty::forward

override WG: u32 = 256u;

struct Params {
    kl: KlCfg,
    n: u32,
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> value: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read> logp: array<f32>;
@group(0) @binding(3) var<storage, read> ref_logp: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn kl_penalty(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    let r = kl_eval(logp[i], ref_logp[i], p.kl);
    value[i] = r.x;
    grad[i] = r.y;
}
