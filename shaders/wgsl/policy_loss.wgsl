// PPO-family token losses with their gradient, reduced to per-row partial sums: one workgroup per
// row of the (B, T) batch; threads stride over T. Per valid token:
//   ℓ = w·policy(kind) + coef·k(log π, log π_ref) − c_H·H,
// and ∂ℓ/∂log π is written to grad (0 at masked positions; the gradient of the *sums*, to be
// scaled by the aggregation, see loss_parts.wgsl). Row partials: rows[2b] = Σ ℓ over the row's
// valid tokens, rows[2b + 1] = the number of valid tokens (as f32). The policy terms are
// shared/policy.wgsl's policy_token, the KL term shared/kl.wgsl's kl_eval.
//
// Bindings stay within WebGPU's 8 storage buffers per stage: the optional detached weights and
// entropies share one binding `extra` (weights at Params.w_off, entropies at Params.e_off; the
// host binds the one that is present directly, or both gathered into one buffer).
//
// CPU reference: rewardkit_core::loss::policy_loss

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    pol: PolicyCfg,
    kl: KlCfg,
    n_rows: u32,
    seq_len: u32,
    adv_per_token: u32,
    has_kl: u32,
    has_weights: u32,
    has_entropy: u32,
    grid_x: u32,
    w_off: u32,
    e_off: u32,
    kl_coef: f32,
    entropy_coef: f32,
}

@group(0) @binding(0) var<storage, read_write> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<storage, read> logp: array<f32>;
@group(0) @binding(3) var<storage, read> old_logp: array<f32>;
@group(0) @binding(4) var<storage, read> adv: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read> ref_logp: array<f32>;
@group(0) @binding(7) var<storage, read> extra: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

var<workgroup> sh_sum: array<f32, 256>;
var<workgroup> sh_len: array<f32, 256>;

@compute @workgroup_size(WG)
fn policy_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let row = wid.x + wid.y * p.grid_x;
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.seq_len;
    var sum = 0.0;
    var len = 0.0;
    for (var t = lid; t < p.seq_len; t += WG) {
        let i = base + t;
        if (mask[i] == 0u) {
            grad[i] = 0.0;
            continue;
        }
        let lp = logp[i];
        let a = select(adv[row], adv[i], p.adv_per_token != 0u);
        var pt = policy_token(lp, old_logp[i], a, p.pol);
        if (p.has_weights != 0u) {
            pt = pt * extra[p.w_off + i];
        }
        var v = pt.x;
        var g = pt.y;
        if (p.has_kl != 0u) {
            let k = kl_eval(lp, ref_logp[i], p.kl);
            v += p.kl_coef * k.x;
            g += p.kl_coef * k.y;
        }
        if (p.has_entropy != 0u) {
            v -= p.entropy_coef * extra[p.e_off + i];
        }
        grad[i] = g;
        sum += v;
        len += 1.0;
    }
    sh_sum[lid] = sum;
    sh_len[lid] = len;
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (lid < s) {
            sh_sum[lid] += sh_sum[lid + s];
            sh_len[lid] += sh_len[lid + s];
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        rows[2u * row] = sh_sum[0];
        rows[2u * row + 1u] = sh_len[0];
    }
}
