// Shared PPO-family token losses (one home for policy_loss.wgsl and rl_step.wgsl): the value of
// one token's policy term and its derivative with respect to log π. Needs math.wgsl (sigmoid).
// The device form of the core's per-token seam rewardkit_core::loss::PolicyLoss::token (whose
// RowContext is the row term `seq` below); the host fills PolicyCfg from the core's PolicyLoss
// getters, so the parameters have one home.
//
// Kinds (PolicyCfg.kind): 0 PPO clip (asymmetric clip, dual clip, TRL's delta; ratio e^{clamp(Δ)}),
// 1 GPG/REINFORCE −A·log π, 2 CISPO −sg(clip(r))·A·log π, 3 SAPO soft gate, 4 DRO
// −(A·log π − β/2·Δ²), 5 GSPO-token (the surrogate at sg(s)·π/sg(π), s the sequence ratio), 6 VESPO
// −sg(φ)·A·log π, 7 DPPO-TV and 8 DPPO-KL −A·sg(min(r, C))·log π on the trust region; the
// sequence-coupled 9 GSPO and 10 GMPO are computed by policy_loss.wgsl from gmpo_clip and the
// surrogate. For 5 and 6 the caller passes the row term `seq`: (log s, pass-through) or (φ, log w).
// Gradients follow torch's conventions: clamp passes the gradient on the closed interval, max/min
// split it ½/½ on an exact tie.

// The loss's parameters (a 16-byte-aligned block of 80 bytes inside each kernel's Params).
struct PolicyCfg {
    kind: u32,
    has_dual: u32,
    has_delta: u32,
    has_seq_max: u32,
    clip_low: f32,
    clip_high: f32,
    dual_clip: f32,
    delta: f32,
    log_ratio_clamp: f32,
    tau_pos: f32,
    tau_neg: f32,
    dro_beta: f32,
    trunc: f32,    // DPPO's truncation C
    seq_max: f32,  // GSPO's bound on log s (with has_seq_max)
    len_eps: f32,  // GMPO's divisor L + len_eps
    _pad: f32,
    vespo_k_pos: f32,
    vespo_lambda_pos: f32,
    vespo_k_neg: f32,
    vespo_lambda_neg: f32,
}

fn tmax(a: f32, da: f32, b: f32, db: f32) -> vec2<f32> {
    if (a > b) {
        return vec2<f32>(a, da);
    }
    if (b > a) {
        return vec2<f32>(b, db);
    }
    return vec2<f32>(a, (da + db) * 0.5);
}

fn tmin(a: f32, da: f32, b: f32, db: f32) -> vec2<f32> {
    if (a < b) {
        return vec2<f32>(a, da);
    }
    if (b < a) {
        return vec2<f32>(b, db);
    }
    return vec2<f32>(a, (da + db) * 0.5);
}

// clamp(x, lo, hi) and whether the gradient passes.
fn tclamp(x: f32, lo: f32, hi: f32) -> vec2<f32> {
    if (x < lo) {
        return vec2<f32>(lo, 0.0);
    }
    if (x > hi) {
        return vec2<f32>(hi, 0.0);
    }
    return vec2<f32>(x, 1.0);
}

fn surrogate(r: f32, dr: f32, a: f32, c: PolicyCfg) -> vec2<f32> {
    var r1 = vec2<f32>(r, dr);
    if (c.has_delta != 0u) {
        r1 = tmin(r, dr, c.delta, 0.0);
    }
    let rc = tclamp(r, 1.0 - c.clip_low, 1.0 + c.clip_high);
    var v = tmax(-a * r1.x, -a * r1.y, -a * rc.x, -a * dr * rc.y);
    if (c.has_dual != 0u && a < 0.0) {
        v = tmin(v.x, v.y, -a * c.dual_clip, 0.0);
    }
    return v;
}

// VESPO's weight (φ, log w) = (e^{λ + k·log w − λ·w}, log w) with (k, λ) by the sign of A.
fn vespo_phi(lw: f32, a: f32, c: PolicyCfg) -> vec2<f32> {
    var k = c.vespo_k_neg;
    var lam = c.vespo_lambda_neg;
    if (a >= 0.0) {
        k = c.vespo_k_pos;
        lam = c.vespo_lambda_pos;
    }
    return vec2<f32>(exp(lam + k * lw - lam * exp(lw)), lw);
}

// GSPO's sequence log-ratio from the row's masked Σ Δ and count: (log s, pass-through), clamped
// above at seq_max when set.
fn gspo_seq(sum_delta: f32, len: f32, c: PolicyCfg) -> vec2<f32> {
    let ls = sum_delta / max(len, 1.0);
    if (c.has_seq_max != 0u && ls > c.seq_max) {
        return vec2<f32>(c.seq_max, 0.0);
    }
    return vec2<f32>(ls, 1.0);
}

// GMPO's sign-aware clip sgn(A)·min(sgn(A)·Δ, sgn(A)·clamp(Δ, −ε_lo, ε_hi)) and its derivative.
fn gmpo_clip(d: f32, a: f32, c: PolicyCfg) -> vec2<f32> {
    let s = sign(a);
    let cl = tclamp(d, -c.clip_low, c.clip_high);
    let m = tmin(s * d, s, s * cl.x, s * cl.y);
    return s * m;
}

// DPPO's trust region: TV |π − π_old| or the binary KL, one-sided by the sign of A.
fn dppo_valid(lp: f32, old: f32, a: f32, c: PolicyCfg) -> bool {
    let pi = exp(lp);
    let po = exp(old);
    if (c.kind == 7u) {
        if (a > 0.0) {
            return pi - po <= c.clip_high;
        }
        return pi - po >= -c.clip_low;
    }
    let tiny = 1e-8;
    let bkl = po * (old - lp) + (1.0 - po) * log((1.0 - po + tiny) / (1.0 - pi + tiny));
    if (a > 0.0) {
        return bkl <= c.clip_high || pi <= po;
    }
    return bkl <= c.clip_low || pi >= po;
}

// The policy term of one token: (value, ∂/∂log π); `seq` is the row term of kinds 5 and 6.
fn policy_token(lp: f32, old: f32, a: f32, seq: vec2<f32>, c: PolicyCfg) -> vec2<f32> {
    let raw = lp - old;
    let dc = tclamp(raw, -c.log_ratio_clamp, c.log_ratio_clamp);
    switch c.kind {
        case 0u: {
            let r = exp(dc.x);
            return surrogate(r, r * dc.y, a, c);
        }
        case 1u: {
            return vec2<f32>(-lp * a, -a);
        }
        case 2u: {
            let rc = tclamp(exp(dc.x), 1.0 - c.clip_low, 1.0 + c.clip_high).x;
            return vec2<f32>(-rc * a * lp, -rc * a);
        }
        case 3u: {
            let r = exp(dc.x);
            let tau = select(c.tau_neg, c.tau_pos, a > 0.0);
            let s = sigmoid(tau * (r - 1.0));
            return vec2<f32>(-(s * (4.0 / tau)) * a, -a * 4.0 * s * (1.0 - s) * r * dc.y);
        }
        case 5u: {
            let s = exp(seq.x);
            return surrogate(s, s * seq.y, a, c);
        }
        case 6u: {
            return vec2<f32>(-seq.x * a * lp, -seq.x * a);
        }
        case 7u, 8u: {
            if (!dppo_valid(lp, old, a, c)) {
                return vec2<f32>(0.0);
            }
            let tr = min(exp(dc.x), c.trunc);
            return vec2<f32>(-a * tr * lp, -a * tr);
        }
        case 4u: {
            let half = 0.5 * c.dro_beta;
            return vec2<f32>(-(lp * a - half * raw * raw), -a + c.dro_beta * raw);
        }
        default: {
            // The sequence-coupled kinds (9 GSPO, 10 GMPO) have no per-token term.
            return vec2<f32>(0.0);
        }
    }
}
