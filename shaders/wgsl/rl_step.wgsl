// The fused RL step from logits, one workgroup per token row of the (N, V) logits
// (N = B·T): one streaming pass computes the row statistics (shared/row_stats.wgsl), giving the
// token's log π(id) and the entropy H; the token's policy loss (shared/policy.wgsl; the token-wise
// kinds only: the host rejects GSPO, GSPO-token, VESPO and GMPO, which couple a row), its per-token
// KL term against the reference log-probability (shared/kl.wgsl) and the entropy bonus give the
// loss value and ∂ℓ/∂log π and ∂ℓ/∂H, scaled by the aggregation's weight (shared/agg.wgsl,
// computed on the device from the mask counts: mask_rows, then loss_parts); a second pass over
// the row adds
//   ∂ℓ/∂z_v = g_lp·([v = id] − π_v) − g_H·π_v·(log π_v + H)
// into grad_logits (accumulating, like every backward pass of the core's logits module; a masked
// token adds nothing and its row is not written), so the only (N, V) array besides the logits is
// their gradient. Per token it writes
// tok = (log π(id), ℓ, H); rl_rows then sums ℓ per sequence row for the loss parts.
//
// Entries: mask_rows (rows[2b + 1] = valid tokens of sequence b, rows[2b] = 0), rl_step,
// rl_rows (rows[2b] = Σ ℓ of sequence b). Dispatch order: mask_rows → loss_parts → rl_step →
// rl_rows → loss_parts.
//
// Bindings stay within WebGPU's 8 storage buffers per stage: the per-token side inputs share one
// buffer `side` = [old_logp (N) | ref_logp (N, when there is a KL term) | advantages (N or B)],
// gathered by the host with buffer copies (3N floats against the N·V logits).
//
// CPU reference: rewardkit_core::loss::policy_loss (chained as in core/examples/grpo_step.rs: logits::logprobs_forward, logits::entropy_forward, PolicyLoss::token, Aggregation::scale_grad, loss::entropy_upstream, logits::logprobs_backward, logits::entropy_backward)

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    pol: PolicyCfg,
    kl: KlCfg,
    n_rows: u32,    // B (sequences)
    seq_len: u32,   // T
    vocab: u32,     // V
    adv_per_token: u32,
    has_kl: u32,
    agg: u32,
    grid_x: u32,
    ref_off: u32,   // offset of ref_logp in side
    adv_off: u32,   // offset of the advantages in side
    kl_iw: u32,     // importance-weighted KL term
    kl_coef: f32,
    entropy_coef: f32,
    len_eps: f32,
    horizon: f32,
}

@group(0) @binding(0) var<storage, read_write> grad_logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> tok: array<f32>;
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> ids: array<u32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read> side: array<f32>;
@group(0) @binding(7) var<storage, read> parts: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn mask_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let b = wid.x + wid.y * p.grid_x;
    if (b >= p.n_rows) {
        return;
    }
    var c = 0.0;
    for (var t = lid; t < p.seq_len; t += WG) {
        if (mask[b * p.seq_len + t] != 0u) {
            c += 1.0;
        }
    }
    let total = block_sum(c, lid, WG);
    if (lid == 0u) {
        rows[2u * b] = 0.0;
        rows[2u * b + 1u] = total;
    }
}

@compute @workgroup_size(WG)
fn rl_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let b = wid.x + wid.y * p.grid_x;
    if (b >= p.n_rows) {
        return;
    }
    var s = 0.0;
    for (var t = lid; t < p.seq_len; t += WG) {
        let n = b * p.seq_len + t;
        if (mask[n] != 0u) {
            s += tok[3u * n + 1u];
        }
    }
    let total = block_sum(s, lid, WG);
    if (lid == 0u) {
        rows[2u * b] = total;
    }
}

@compute @workgroup_size(WG)
fn rl_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let n = wid.x + wid.y * p.grid_x;
    if (n >= p.n_rows * p.seq_len) {
        return;
    }
    let b = n / p.seq_len;
    let base = n * p.vocab;
    var s = stats_empty();
    for (var v = lid; v < p.vocab; v += WG) {
        s = push(s, logits[base + v], v);
    }
    s = reduce_stats(s, lid, WG);
    let ls = log1p(s.t);
    let h = entropy_of(s);
    let id = min(ids[n], p.vocab - 1u);
    let lp = (logits[base + id] - s.m) - ls;
    var g_lp = 0.0;
    var g_h = 0.0;
    var value = 0.0;
    if (mask[n] != 0u) {
        let a = side[p.adv_off + select(b, n, p.adv_per_token != 0u)];
        let old = side[n];
        let pt = policy_token(lp, old, a, vec2<f32>(0.0), p.pol);
        value = pt.x;
        g_lp = pt.y;
        if (p.has_kl != 0u) {
            let k = kl_term(lp, old, side[p.ref_off + n], p.kl, p.kl_coef, p.kl_iw != 0u);
            value += k.x;
            g_lp += k.y;
        }
        value -= p.entropy_coef * h;
        g_h = -p.entropy_coef;
        let norm = agg_normalizer(p.agg, parts[2], parts[3], parts[4], p.horizon);
        let w = agg_weight(p.agg, norm, rows[2u * b + 1u], p.len_eps);
        g_lp *= w;
        g_h *= w;
    }
    if (lid == 0u) {
        tok[3u * n] = lp;
        tok[3u * n + 1u] = value;
        tok[3u * n + 2u] = h;
    }
    if (g_lp == 0.0 && g_h == 0.0) {
        return; // adds nothing (a masked token)
    }
    for (var v = lid; v < p.vocab; v += WG) {
        let l = (logits[base + v] - s.m) - ls;
        grad_logits[base + v] += g_lp * dlogp_dz(l, v, id, s) - g_h * exp(l) * (l + h);
    }
}
