// PPO-family policy losses with their gradient, reduced to per-row partial sums: one workgroup per
// row of the (B, T) batch; threads stride over T. Per valid token:
//   ℓ = w·policy(kind) + coef·k(log π, log π_ref) (·π/π_old if importance-weighted) − c_H·H,
// and ∂ℓ/∂log π is written to grad (0 at masked positions; the gradient of the *sums*, to be
// scaled by the aggregation, see loss_parts.wgsl). Row partials: rows[2b] = Σ ℓ over the row's
// valid tokens, rows[2b + 1] = the number of valid tokens (as f32). The policy terms are
// shared/policy.wgsl's, the KL term shared/kl.wgsl's kl_term.
//
// Sequence-coupled kinds first reduce the row (f32 tree sums of strided partials): GSPO-token and
// GSPO the mean log-ratio log s = Σ m·Δ / max(L, 1); VESPO log w = Σ m·clamp(Δ, ±20) (then clamped to
// [ln 1e-8, 20]); GMPO the sign-aware clipped log-ratios, the advantages and the log-weights.
// GSPO's loss is the surrogate at s for every token with the gradient through s:
// ∂(row sum)/∂log π_t = s·pass·Σ_u w_u·∂surr_u/∂s / max(L, 1). GMPO's row loss is
// −Ā·ρ·ω once per row (ρ = e^{Σ clip Δ / (L + ε)}, ω the geometric mean of the weights), gradient
// −Ā·ρ·ω·∂clip_t/(L + ε).
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
    kl_iw: u32,
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

// The KL and entropy terms of a valid token: (value, ∂/∂log π).
fn extras(i: u32, lp: f32, old: f32) -> vec2<f32> {
    var r = vec2<f32>(0.0);
    if (p.has_kl != 0u) {
        r = kl_term(lp, old, ref_logp[i], p.kl, p.kl_coef, p.kl_iw != 0u);
    }
    if (p.has_entropy != 0u) {
        r.x -= p.entropy_coef * extra[p.e_off + i];
    }
    return r;
}

fn weight_at(i: u32) -> f32 {
    if (p.has_weights != 0u) {
        return extra[p.w_off + i];
    }
    return 1.0;
}

fn adv_at(row: u32, i: u32) -> f32 {
    return select(adv[row], adv[i], p.adv_per_token != 0u);
}

@compute @workgroup_size(WG)
fn policy_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let row = wid.x + wid.y * p.grid_x;
    if (row >= p.n_rows) {
        return;
    }
    let kind = p.pol.kind;
    let base = row * p.seq_len;
    // Row reductions of the sequence-coupled kinds (uniform branches: every thread takes them).
    var seq = vec2<f32>(0.0);
    var len = 0.0;
    var s_delta = 0.0;
    var s_adv = 0.0;
    var s_wlog = 0.0;
    if (kind == 5u || kind == 6u || kind == 9u || kind == 10u) {
        for (var t = lid; t < p.seq_len; t += WG) {
            let i = base + t;
            if (mask[i] == 0u) {
                continue;
            }
            let d = logp[i] - old_logp[i];
            len += 1.0;
            if (kind == 6u) {
                s_delta += clamp(d, -20.0, 20.0);
            } else if (kind == 10u) {
                let a = adv_at(row, i);
                s_delta += gmpo_clip(d, a, p.pol).x;
                s_adv += a;
                if (p.has_weights != 0u) {
                    s_wlog += log(extra[p.w_off + i] + 1e-10);
                }
            } else {
                s_delta += d;
            }
        }
        len = block_sum(len, lid, WG);
        s_delta = block_sum(s_delta, lid, WG);
        if (kind == 10u) {
            s_adv = block_sum(s_adv, lid, WG);
            s_wlog = block_sum(s_wlog, lid, WG);
        }
        if (kind == 5u || kind == 9u) {
            seq = gspo_seq(s_delta, len, p.pol);
        } else if (kind == 6u) {
            let lw = clamp(s_delta, -18.420680743952367, 20.0);
            seq = vec2<f32>(0.0, lw);
            if (p.adv_per_token == 0u) {
                seq = vespo_phi(lw, adv[row], p.pol);
            }
        }
    }
    var sum = 0.0;
    var cnt = 0.0;
    if (kind == 9u) {
        // GSPO: values and Σ w·∂surr/∂s, then the shared gradient.
        let s = exp(seq.x);
        var dsum = 0.0;
        for (var t = lid; t < p.seq_len; t += WG) {
            let i = base + t;
            if (mask[i] == 0u) {
                grad[i] = 0.0;
                continue;
            }
            let v = surrogate(s, 1.0, adv_at(row, i), p.pol);
            let wt = weight_at(i);
            sum += v.x * wt + extras(i, logp[i], old_logp[i]).x;
            dsum += v.y * wt;
            cnt += 1.0;
        }
        let g_seq = s * seq.y * block_sum(dsum, lid, WG) / max(len, 1.0);
        for (var t = lid; t < p.seq_len; t += WG) {
            let i = base + t;
            if (mask[i] != 0u) {
                grad[i] = g_seq + extras(i, logp[i], old_logp[i]).y;
            }
        }
    } else if (kind == 10u) {
        // GMPO: one loss per row, −Ā·ρ·ω.
        let denom = len + p.pol.len_eps;
        let live = len > 0.0 && denom > 0.0;
        var coef = 0.0;
        if (live) {
            var omega = 1.0;
            if (p.has_weights != 0u) {
                omega = exp(s_wlog / denom);
            }
            coef = -(s_adv / denom) * exp(s_delta / denom) * omega;
        }
        for (var t = lid; t < p.seq_len; t += WG) {
            let i = base + t;
            if (mask[i] == 0u || !live) {
                grad[i] = 0.0;
                cnt += select(0.0, 1.0, mask[i] != 0u);
                continue;
            }
            let lp = logp[i];
            let old = old_logp[i];
            let e = extras(i, lp, old);
            grad[i] = coef * gmpo_clip(lp - old, adv_at(row, i), p.pol).y / denom + e.y;
            sum += e.x;
            cnt += 1.0;
        }
        if (lid == 0u) {
            sum += coef;
        }
    } else {
        for (var t = lid; t < p.seq_len; t += WG) {
            let i = base + t;
            if (mask[i] == 0u) {
                grad[i] = 0.0;
                continue;
            }
            let lp = logp[i];
            let old = old_logp[i];
            let a = adv_at(row, i);
            var sq = seq;
            if (kind == 6u && p.adv_per_token != 0u) {
                sq = vespo_phi(seq.y, a, p.pol);
            }
            let pt = policy_token(lp, old, a, sq, p.pol) * weight_at(i);
            let e = extras(i, lp, old);
            grad[i] = pt.y + e.y;
            sum += pt.x + e.x;
            cnt += 1.0;
        }
    }
    sh_sum[lid] = sum;
    sh_len[lid] = cnt;
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
