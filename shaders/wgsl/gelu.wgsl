// GELU, tanh approximation (GPT-2's), and its backward, one thread per element:
//   gelu(x) = ½·x·(1 + tanh u),  u = √(2/π)·(x + 0.044715·x³)
//   dinp += [½(1 + tanh u) + ½·x·sech²(u)·√(2/π)·(1 + 3·0.044715·x²)]·dout   (accumulates)
// tanh is shared/math.wgsl's tanh_stable (WGSL's builtin may give ∞/∞ for large |u| on some
// backends). Entries: gelu_forward (out = gelu(inp)), gelu_backward (out += gelu'(inp)·dout).
//
// CPU reference: rewardkit_trainer::ops::gelu_forward (and gelu_backward)

override WG: u32 = 256u;

const GELU_SCALE: f32 = 0.7978846; // √(2/π), the CPU op's constant
const GELU_CUBE: f32 = 0.044715;

struct Params {
    n: u32,
    grid_x: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn elem(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = elem(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let x = inp[i];
    let cube = GELU_CUBE * x * x * x;
    out[i] = 0.5 * x * (1.0 + tanh_stable(GELU_SCALE * (x + cube)));
}

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = elem(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let x = inp[i];
    let cube = GELU_CUBE * x * x * x;
    let th = tanh_stable(GELU_SCALE * (x + cube));
    let sech2 = 1.0 - th * th;
    let local = 0.5 * (1.0 + th) + 0.5 * x * sech2 * GELU_SCALE * (1.0 + 3.0 * GELU_CUBE * x * x);
    out[i] += local * dout[i];
}
