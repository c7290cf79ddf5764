// Shared workgroup reductions (one home): tree sum and tree max of one value per thread over a
// workgroup of `wg` threads (a power of two, at most 256), in a fixed order (deterministic), with the
// result returned to every thread. Every thread of the workgroup must call them (barriers inside).

var<workgroup> red_f32: array<f32, 256>;

fn block_sum(x: f32, lid: u32, wg: u32) -> f32 {
    red_f32[lid] = x;
    for (var k = wg / 2u; k > 0u; k = k / 2u) {
        workgroupBarrier();
        if (lid < k) {
            red_f32[lid] += red_f32[lid + k];
        }
    }
    workgroupBarrier();
    let r = red_f32[0];
    workgroupBarrier(); // the array may be reused right after
    return r;
}

fn block_max(x: f32, lid: u32, wg: u32) -> f32 {
    red_f32[lid] = x;
    for (var k = wg / 2u; k > 0u; k = k / 2u) {
        workgroupBarrier();
        if (lid < k) {
            red_f32[lid] = max(red_f32[lid], red_f32[lid + k]);
        }
    }
    workgroupBarrier();
    let r = red_f32[0];
    workgroupBarrier();
    return r;
}
