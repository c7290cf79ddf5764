//! The plain `cargo test` path: with an adapter, one tiny kernel runs and is checked; without one,
//! the context returns `GpuError::NoAdapter` (a value, not a panic) and the test says it skipped,
//! unless `REWARDKIT_REQUIRE_GPU=1`. The full parity suite is `rewardkit-tests --features gpu`.
#![allow(clippy::print_stderr, reason = "test output")]

use rewardkit_gpu::{GpuContext, GpuError};

#[test]
fn context_or_clear_error() {
    match GpuContext::new_blocking() {
        Ok(ctx) => {
            let a = ctx.upload(&[1.0f32, 2.0, 3.0, 4.0]).expect("upload");
            let c = ctx.zeros::<f32>(4).expect("zeros");
            ctx.matmul(&c, &a, &a, None, rewardkit_gpu::Gemm::new(2, 2, 2))
                .expect("matmul");
            assert_eq!(
                ctx.read_blocking(&c).expect("read"),
                vec![7.0, 10.0, 15.0, 22.0]
            );
        }
        Err(e) => {
            assert!(
                std::env::var("REWARDKIT_REQUIRE_GPU").as_deref() != Ok("1"),
                "REWARDKIT_REQUIRE_GPU=1 but: {e}"
            );
            assert!(
                matches!(e, GpuError::NoAdapter { .. } | GpuError::Device(_)),
                "{e:?}"
            );
            eprintln!("skipped: no GPU adapter ({e})");
        }
    }
}
