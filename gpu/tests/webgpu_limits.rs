//! Every kernel compiles on a device created with WebGPU's default limits (`wgpu::Limits::default()`:
//! 8 storage buffers per stage, 16 KiB of workgroup memory, 256 invocations per workgroup), so the
//! kernels that run natively also run in a browser. wgpu checks the bind-group layouts, the
//! workgroup memory and the workgroup size against the device's limits when a pipeline is built.
#![allow(clippy::print_stderr, reason = "test output")]

use rewardkit_gpu::{GpuContext, shaders, wgpu};

#[test]
fn every_kernel_fits_webgpu_default_limits() {
    let ctx = match GpuContext::new_with_limits_blocking(wgpu::Limits::default()) {
        Ok(ctx) => ctx,
        Err(e) => {
            assert!(
                std::env::var("REWARDKIT_REQUIRE_GPU").as_deref() != Ok("1"),
                "REWARDKIT_REQUIRE_GPU=1 but: {e}"
            );
            eprintln!("skipped: no GPU adapter ({e})");
            return;
        }
    };
    assert_eq!(ctx.limits().max_storage_buffers_per_shader_stage, 8);
    if !ctx.capabilities().f16 {
        eprintln!("skipped: the f16 kernels (the adapter has no SHADER_F16)");
    }
    ctx.warm_up(shaders::ALL)
        .expect("every kernel builds under WebGPU's default limits");
    // And one runs.
    let a = ctx.upload(&[1.0f32, 2.0, 3.0, 4.0]).expect("upload");
    let c = ctx.zeros::<f32>(4).expect("zeros");
    ctx.matmul(&c, &a, &a, None, rewardkit_gpu::Gemm::new(2, 2, 2))
        .expect("matmul");
    assert_eq!(
        ctx.read_blocking(&c).expect("read"),
        vec![7.0, 10.0, 15.0, 22.0]
    );
}
