// Stage 2 of a per-sequence advantage plan (the core's GroupStage) over a group index, in one
// fused dispatch: one workgroup per group reads the group's scores (rows listed by a CSR index
// written by GroupIndex::write_offsets / write_rows: offsets (G + 1), rows (B) in ascending order
// within each group), reduces its moments in workgroup memory (GroupMoments), computes the group's
// affine map A = (x − a)·b on every thread (AffineRule::coefficients), and writes every row of the
// group (apply_group_affine).
//
// Moments are shifted by the group's first score (d = x − x₀; s1 = Σd, s2 = Σd²,
// m2 = s2 − s1·(s1/n)), as in the core, so a group of equal scores has mean = x₀ and m2 = 0
// exactly (advantage exactly 0, never rounding noise) and the cancellation in m2 stays small.
// The sums are f32 (the core's are f64): per-thread strided partial sums, then a tree.
//
// Modes (Params.mode), by the plan's stage: 0 Affine/GroupStd (GRPO), 1 Affine/BatchStd (TRL's
// batch scaling; needs batch_moments first), 2 Affine/One (Dr. GRPO, REINFORCE++-baseline before
// its whitening), 3 Affine/LeaveOneOut (RLOO), 4 Opo (length-weighted baseline), 5 Affine/Gpg
// (needs batch_moments for the count of non-zero rewards), 6 PassK; and 7, the group's std per row
// (advantage::group_std). Singletons: Params.singleton = 0 gives 0 (Singleton::Zero), 1 the raw
// rule (Singleton::Raw: a = 0, b as the scale's singleton value); Singleton::Error is checked on
// the host, which knows the group sizes.
//
// batch_moments (one workgroup) writes stats = [n, mean, sample std, #non-zero] of all scores.
//
// CPU reference: rewardkit_core::advantage::AdvantagePlan::run_per_sequence (stage 2, GroupStage: Affine as group_moments, AffineRule::coefficients and apply_group_affine; PassK; Opo) and advantage::group_std

override WG: u32 = 256u; // a power of two, at most 256

struct Params {
    mode: u32,
    singleton: u32,
    scale_by_std: u32,
    n_groups: u32,
    n_rows: u32,
    grid_x: u32,
    eps: f32,
    f_norm: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read> scores: array<f32>;
@group(0) @binding(3) var<storage, read> lengths: array<f32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read> rows: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> sh1: array<f32, 256>;
var<workgroup> sh2: array<f32, 256>;
var<workgroup> sh3: array<f32, 256>;
var<workgroup> sh4: array<f32, 256>;
var<workgroup> shi: array<u32, 256>;

// Tree-sums sh1..sh4 over the workgroup; the totals end in slot 0.
fn reduce4(lid: u32) {
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (lid < s) {
            sh1[lid] += sh1[lid + s];
            sh2[lid] += sh2[lid + s];
            sh3[lid] += sh3[lid + s];
            sh4[lid] += sh4[lid + s];
        }
    }
    workgroupBarrier();
}

// (x − a)·b with 0 when x = a (a zero-variance group with ε = 0 has b = 1/0 → 0).
fn affine(x: f32, a: f32, b: f32) -> f32 {
    let c = x - a;
    if (c == 0.0) {
        return 0.0;
    }
    return c * b;
}

fn recip(d: f32) -> f32 {
    if (d > 0.0) {
        return 1.0 / d;
    }
    return 0.0;
}

@compute @workgroup_size(WG)
fn group_advantage(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
) {
    let lid = lid3.x;
    let g = wid.x + wid.y * p.grid_x;
    if (g >= p.n_groups) {
        return;
    }
    let start = offsets[g];
    let end = offsets[g + 1u];
    let n = end - start;
    if (n == 0u) {
        return;
    }
    let shift = scores[rows[start]];
    var s1 = 0.0;
    var s2 = 0.0;
    var lw = 0.0;
    var lr = 0.0;
    var best = -3.4028235e38;
    var best_i = 0xffffffffu;
    var second = -3.4028235e38;
    for (var i = start + lid; i < end; i += WG) {
        let x = scores[rows[i]];
        let d = x - shift;
        s1 += d;
        s2 += d * d;
        if (p.mode == 4u) {
            let l = lengths[rows[i]];
            lw += l;
            lr += l * x;
        }
        if (p.mode == 6u) {
            if (x > best) {
                second = best;
                best = x;
                best_i = i;
            } else if (x > second) {
                second = x;
            }
        }
    }
    sh1[lid] = s1;
    sh2[lid] = s2;
    sh3[lid] = lw;
    sh4[lid] = lr;
    reduce4(lid);
    let t1 = sh1[0];
    let t2 = sh2[0];
    let t_lw = sh3[0];
    let t_lr = sh4[0];
    var b_pos = 0xffffffffu;
    var b_val = 0.0;
    var s_val = 0.0;
    if (p.mode == 6u) {
        // Reduce (best, position, second): the larger best wins, the lower position on ties, and
        // the loser's best competes for second (so tied maxima give a gap of 0).
        workgroupBarrier();
        sh1[lid] = best;
        sh2[lid] = second;
        shi[lid] = best_i;
        for (var s = WG / 2u; s > 0u; s = s / 2u) {
            workgroupBarrier();
            if (lid < s) {
                let b1 = sh1[lid];
                let b2 = sh1[lid + s];
                let i1 = shi[lid];
                let i2 = shi[lid + s];
                if (b1 > b2 || (b1 == b2 && i1 < i2)) {
                    sh2[lid] = max(sh2[lid], b2);
                } else {
                    sh1[lid] = b2;
                    shi[lid] = i2;
                    sh2[lid] = max(sh2[lid + s], b1);
                }
            }
        }
        workgroupBarrier();
        b_val = sh1[0];
        s_val = sh2[0];
        b_pos = shi[0];
    }

    // Every thread derives the group's map from the shared totals (no broadcast needed).
    let nf = f32(n);
    var mean = shift;
    var m2 = 0.0;
    if (t2 != 0.0) {
        mean = shift + t1 / nf;
        m2 = max(t2 - t1 * (t1 / nf), 0.0);
    }
    var sd = 0.0;
    if (n > 1u) {
        sd = sqrt(m2 / (nf - 1.0));
    }
    let raw = p.singleton == 1u;
    var a = mean;
    var b = 1.0;
    switch p.mode {
        case 0u, 1u: {
            var denom = sd + p.eps;
            if (p.mode == 1u) {
                denom = stats[2] + p.eps;
            } else if (n == 1u) {
                denom = 1.0 + p.eps;
            }
            b = recip(denom);
            if (n == 1u && raw) {
                a = 0.0;
            }
        }
        case 3u: {
            b = nf / (nf - 1.0);
            if (n == 1u && raw) {
                a = 0.0;
                b = 1.0;
            }
        }
        case 4u: {
            if (t_lw > 0.0) {
                a = t_lr / t_lw;
            }
            if (n == 1u && raw) {
                a = 0.0;
            }
        }
        case 5u: {
            b = (f32(p.n_rows) / max(stats[3], 1.0)) / p.f_norm;
            if (n == 1u && raw) {
                a = 0.0;
            }
        }
        default: {
            if (n == 1u && raw) {
                a = 0.0;
            }
        }
    }
    if (n == 1u && !raw) {
        // A singleton without the raw rule has no signal.
        a = shift;
        b = 0.0;
    }
    var gap = b_val - s_val;
    if (p.scale_by_std != 0u && gap != 0.0) {
        gap = gap / (sd + p.eps);
    }
    for (var i = start + lid; i < end; i += WG) {
        let r = rows[i];
        let x = scores[r];
        var v = affine(x, a, b);
        if (p.mode == 6u) {
            v = select(0.0, gap, i == b_pos);
        } else if (p.mode == 7u) {
            v = sd;
        }
        out[r] = v;
    }
}

@compute @workgroup_size(WG)
fn batch_moments(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    if (p.n_rows == 0u) {
        return;
    }
    let shift = scores[0];
    var s1 = 0.0;
    var s2 = 0.0;
    var nz = 0.0;
    for (var i = lid; i < p.n_rows; i += WG) {
        let x = scores[i];
        let d = x - shift;
        s1 += d;
        s2 += d * d;
        if (x != 0.0) {
            nz += 1.0;
        }
    }
    sh1[lid] = s1;
    sh2[lid] = s2;
    sh3[lid] = nz;
    sh4[lid] = 0.0;
    reduce4(lid);
    if (lid == 0u) {
        let nf = f32(p.n_rows);
        let t1 = sh1[0];
        let t2 = sh2[0];
        var mean = shift;
        var m2 = 0.0;
        if (t2 != 0.0) {
            mean = shift + t1 / nf;
            m2 = max(t2 - t1 * (t1 / nf), 0.0);
        }
        var sd = 0.0;
        if (p.n_rows > 1u) {
            sd = sqrt(m2 / (nf - 1.0));
        }
        stats[0] = nf;
        stats[1] = mean;
        stats[2] = sd;
        stats[3] = sh3[0];
    }
}
