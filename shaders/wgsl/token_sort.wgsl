// Deterministic bucketing of token positions by token id, for the embedding backward without
// atomics: a bitonic sort of the keys (id, position) over a power-of-two size S ≥ 512, padded with
// (0xffffffff, 0xffffffff). The keys are distinct, so the sorted order (ids ascending, positions
// ascending within an id) is unique and every run gives the same sums in the same order.
//
// Entries: sort_init (keys[i] = (min(tokens[i], V − 1), i), padding beyond n); sort_local_init
// (each workgroup sorts its block of 512 keys in workgroup memory through every stage k ≤ 512);
// sort_global (one compare-exchange step (k, j) with j ≥ 512 over all of S); sort_local (the steps
// j = 256..1 of stage k inside each block). The host runs sort_init, sort_local_init, then for
// k = 1024..S: sort_global for j = k/2..512, then sort_local: O(S log² S) compare-exchanges in
// O(log² (S/512)) dispatches.
//
// CPU reference: rewardkit_trainer::ops::encoder_backward (the token buckets it accumulates in position order)

const BLOCK: u32 = 512u; // keys per workgroup in the local steps (2 per thread)
const PAD: vec2<u32> = vec2<u32>(0xffffffffu, 0xffffffffu);

struct Params {
    n: u32,     // real keys (B·T)
    size: u32,  // S, a power of two ≥ 512
    k: u32,
    j: u32,
    vocab: u32,
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> keys: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> sk: array<vec2<u32>, 512>;

fn key_less(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.x < b.x || (a.x == b.x && a.y < b.y);
}

// The pair (i, i + j) handled by compare-exchange number q of a step with distance j.
fn pair_of(q: u32, j: u32) -> u32 {
    return 2u * j * (q / j) + (q % j);
}

@compute @workgroup_size(256)
fn sort_init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.size) {
        return;
    }
    if (i < p.n) {
        keys[i] = vec2<u32>(min(tokens[i], p.vocab - 1u), i);
    } else {
        keys[i] = PAD;
    }
}

// One compare-exchange step (k, j) on the block in workgroup memory (j < 512).
fn local_step(lid: u32, base: u32, k: u32, j: u32) {
    let i = pair_of(lid, j);
    let l = i + j;
    let a = sk[i];
    let b = sk[l];
    let ascending = ((base + i) & k) == 0u;
    if (key_less(b, a) == ascending) {
        sk[i] = b;
        sk[l] = a;
    }
    workgroupBarrier();
}

fn block_of(wid: vec3<u32>) -> u32 {
    return (wid.x + wid.y * p.grid_x) * BLOCK;
}

@compute @workgroup_size(256)
fn sort_local_init(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let base = block_of(wid);
    if (base >= p.size) {
        return;
    }
    let lid = lid3.x;
    sk[lid] = keys[base + lid];
    sk[lid + 256u] = keys[base + lid + 256u];
    workgroupBarrier();
    for (var k = 2u; k <= BLOCK; k = k * 2u) {
        for (var j = k / 2u; j > 0u; j = j / 2u) {
            local_step(lid, base, k, j);
        }
    }
    keys[base + lid] = sk[lid];
    keys[base + lid + 256u] = sk[lid + 256u];
}

@compute @workgroup_size(256)
fn sort_local(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let base = block_of(wid);
    if (base >= p.size) {
        return;
    }
    let lid = lid3.x;
    sk[lid] = keys[base + lid];
    sk[lid + 256u] = keys[base + lid + 256u];
    workgroupBarrier();
    for (var j = BLOCK / 2u; j > 0u; j = j / 2u) {
        local_step(lid, base, p.k, j);
    }
    keys[base + lid] = sk[lid];
    keys[base + lid + 256u] = sk[lid + 256u];
}

@compute @workgroup_size(256)
fn sort_global(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = gid.x + gid.y * nwg.x * 256u;
    if (q >= p.size / 2u) {
        return;
    }
    let i = pair_of(q, p.j);
    let l = i + p.j;
    let a = keys[i];
    let b = keys[l];
    let ascending = (i & p.k) == 0u;
    if (key_less(b, a) == ascending) {
        keys[i] = b;
        keys[l] = a;
    }
}
