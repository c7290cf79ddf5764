// Full-vocabulary ops on rows of logits (N, V), one workgroup per row: log-softmax, softmax, token
// log-probabilities and their gradient, cross-entropy and its fused softmax backward, entropy and
// its gradient, KL(π‖π_ref) and its gradient.
//
// Row statistics are shared/row_stats.wgsl's streaming (max, argmax, tail, weighted tail) state,
// so log π_v = (z_v − m) − log1p(t) with no cancellation against the max; the gradient of
// log π(id) at v = id is (1 − π_id), written as t/(1 + t) when id is the argmax (exact as π → 1).
// Cross-entropy is −log π(target) (llm.c's crossentropy_forward from the logits, not from a
// stored softmax) and its backward is llm.c's fused crossentropy_softmax_backward,
// dlogits += dloss·(π − onehot(target)). Every backward kernel accumulates (grad += …), as the
// core's logits module and llm.c do, so several loss terms add into one (N, V) gradient buffer; a
// row whose upstream gradient is 0 (a masked position) is left as it is.
// Logits must be finite (WGSL may assume no infinities); ids must be < V (checked on the host).
//
// CPU reference: rewardkit_core::logits::logprobs_forward (logprobs_backward, entropy_forward, entropy_backward, full_kl_forward, full_kl_backward, log_softmax_forward, softmax_forward)

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    n_rows: u32,
    vocab: u32,
    grid_x: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> ref_logits: array<f32>;
@group(0) @binding(3) var<storage, read> ids: array<u32>;
@group(0) @binding(4) var<storage, read> grad_out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// Statistics of row `base..base+V` of `use_ref ? ref_logits : logits`, identical on every thread.
fn row_stats(base: u32, lid: u32, use_ref: bool) -> Stats {
    var s = stats_empty();
    for (var v = lid; v < p.vocab; v += WG) {
        var z = logits[base + v];
        if (use_ref) {
            z = ref_logits[base + v];
        }
        s = push(s, z, v);
    }
    return reduce_stats(s, lid, WG);
}

fn row_of(wid: vec3<u32>) -> u32 {
    return wid.x + wid.y * p.grid_x;
}

@compute @workgroup_size(WG)
fn log_softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        out[base + v] = (logits[base + v] - s.m) - ls;
    }
}

@compute @workgroup_size(WG)
fn logprobs_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let s = row_stats(base, lid3.x, false);
    if (lid3.x == 0u) {
        let id = min(ids[row], p.vocab - 1u);
        out[row] = (logits[base + id] - s.m) - log1p(s.t);
    }
}

@compute @workgroup_size(WG)
fn logprobs_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let g = grad_out[row];
    if (g == 0.0) {
        return; // adds nothing
    }
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    let id = min(ids[row], p.vocab - 1u);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - s.m) - ls;
        out[base + v] += g * dlogp_dz(lp, v, id, s);
    }
}

@compute @workgroup_size(WG)
fn entropy_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let s = row_stats(row * p.vocab, lid3.x, false);
    if (lid3.x == 0u) {
        out[row] = entropy_of(s);
    }
}

@compute @workgroup_size(WG)
fn entropy_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let g = grad_out[row];
    if (g == 0.0) {
        return; // adds nothing
    }
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    let h = entropy_of(s);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - s.m) - ls;
        out[base + v] += -g * exp(lp) * (lp + h);
    }
}

// KL(π‖π_ref) of one row, with both rows' statistics (identical on every thread).
fn row_kl(base: u32, lid: u32, sp: Stats, sq: Stats) -> f32 {
    let lsp = log1p(sp.t);
    let lsq = log1p(sq.t);
    var acc = 0.0;
    for (var v = lid; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - sp.m) - lsp;
        let lq = (ref_logits[base + v] - sq.m) - lsq;
        acc += exp(lp) * (lp - lq);
    }
    return max(block_sum(acc, lid, WG), 0.0);
}

@compute @workgroup_size(WG)
fn full_kl_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let sp = row_stats(base, lid3.x, false);
    let sq = row_stats(base, lid3.x, true);
    let kl = row_kl(base, lid3.x, sp, sq);
    if (lid3.x == 0u) {
        out[row] = kl;
    }
}

@compute @workgroup_size(WG)
fn full_kl_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let g = grad_out[row];
    if (g == 0.0) {
        return; // adds nothing
    }
    let sp = row_stats(base, lid3.x, false);
    let sq = row_stats(base, lid3.x, true);
    let kl = row_kl(base, lid3.x, sp, sq);
    let lsp = log1p(sp.t);
    let lsq = log1p(sq.t);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - sp.m) - lsp;
        let lq = (ref_logits[base + v] - sq.m) - lsq;
        out[base + v] += g * exp(lp) * (lp - lq - kl);
    }
}

@compute @workgroup_size(WG)
fn softmax_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        out[base + v] = exp((logits[base + v] - s.m) - ls);
    }
}

@compute @workgroup_size(WG)
fn crossentropy_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let s = row_stats(base, lid3.x, false);
    if (lid3.x == 0u) {
        let id = min(ids[row], p.vocab - 1u);
        out[row] = log1p(s.t) - (logits[base + id] - s.m);
    }
}

@compute @workgroup_size(WG)
fn crossentropy_softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = row_of(wid);
    if (row >= p.n_rows) {
        return;
    }
    let base = row * p.vocab;
    let g = grad_out[row];
    if (g == 0.0) {
        return; // adds nothing
    }
    let s = row_stats(base, lid3.x, false);
    let ls = log1p(s.t);
    let id = min(ids[row], p.vocab - 1u);
    for (var v = lid3.x; v < p.vocab; v += WG) {
        let lp = (logits[base + v] - s.m) - ls;
        // ∂(−log π(id))/∂z_v = π_v − [v = id]
        out[base + v] += -g * dlogp_dz(lp, v, id, s);
    }
}
