// Shared PPO-family token losses (one home for policy_loss.wgsl and rl_step.wgsl): the value of
// one token's policy term and its derivative with respect to log π. Needs math.wgsl (sigmoid).
//
// Kinds (PolicyCfg.kind): 0 PPO clip (asymmetric clip, dual clip, TRL's delta; ratio e^{clamp(Δ)}),
// 1 GPG/REINFORCE −A·log π, 2 CISPO −sg(clip(r))·A·log π, 3 SAPO soft gate, 4 DRO
// −(A·log π − β/2·Δ²). Gradients follow torch's conventions: clamp passes the gradient on the
// closed interval, max/min split it ½/½ on an exact tie.

// The loss's parameters (a 16-byte-aligned block of 48 bytes inside each kernel's Params).
struct PolicyCfg {
    kind: u32,
    has_dual: u32,
    has_delta: u32,
    _pad: u32,
    clip_low: f32,
    clip_high: f32,
    dual_clip: f32,
    delta: f32,
    log_ratio_clamp: f32,
    tau_pos: f32,
    tau_neg: f32,
    dro_beta: f32,
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

// The policy term of one token: (value, ∂/∂log π).
fn policy_token(lp: f32, old: f32, a: f32, c: PolicyCfg) -> vec2<f32> {
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
        default: {
            let half = 0.5 * c.dro_beta;
            return vec2<f32>(-(lp * a - half * raw * raw), -a + c.dro_beta * raw);
        }
    }
}
