//! The transformer kernels against `rewardkit_trainer::ops` (llm.c's CPU kernels, same signatures)
//! and the core's logits functions, on random shapes including sizes that are not multiples of the
//! workgroup size or of 4, `T = 1`, and accumulation into non-zero gradients (every backward adds,
//! like the CPU ops). Bounds are per kernel and documented in `docs/numerics.md` (GPU section).

use proptest::prelude::*;
use rewardkit_core::kl;
use rewardkit_tests::gpu::{U32, assert_within, context, down, fill, up};

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

// ---------------------------------------------------------------------------------------------
// Softmax, cross-entropy and its fused backward (reference: the core's f64 row functions)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// `softmax_forward`, `crossentropy_forward` and `crossentropy_softmax_backward` against the
    /// core: `exp(log_softmax)`, `−logprobs_forward` and `dlogits₀ − logprobs_backward(dloss)`.
    /// `V` from 1 (a single class) to beyond one workgroup (256); `|z| ≤ 8`.
    #[test]
    fn softmax_and_crossentropy_match_core(n in 1usize..=9, v in 1usize..=300, seed in 0u64..1000) {
        let Some(ctx) = context("softmax_and_crossentropy_match_core") else { return Ok(()) };
        let z = fill(seed, n * v, -8.0, 8.0);
        let targets: Vec<u32> = fill(seed + 1, n, 0.0, v as f64).iter().map(|&x| (x as u32).min(v as u32 - 1)).collect();
        // Some rows get no upstream gradient (they must add nothing).
        let dloss: Vec<f32> = fill(seed + 2, n, -2.0, 2.0).iter().enumerate().map(|(i, &g)| if i % 3 == 2 { 0.0 } else { g }).collect();
        let d0 = fill(seed + 3, n * v, -1.0, 1.0);
        let z64 = f64s(&z);
        // CPU (f64).
        let mut lsm = vec![0.0; n * v];
        for (o, r) in lsm.chunks_exact_mut(v).zip(z64.chunks_exact(v)) {
            rewardkit_core::stats::log_softmax(o, r).unwrap();
        }
        let probs: Vec<f64> = lsm.iter().map(|x| x.exp()).collect();
        let mut lp = vec![0.0; n];
        kl::logprobs_forward(&mut lp, &z64, &targets, v).unwrap();
        let ce: Vec<f64> = lp.iter().map(|x| -x).collect();
        let mut dlp = vec![0.0; n * v];
        let neg: Vec<f64> = dloss.iter().map(|&g| -f64::from(g)).collect();
        kl::logprobs_backward(&mut dlp, &neg, &z64, &targets, v).unwrap();
        let want_d: Vec<f64> = d0.iter().zip(&dlp).map(|(&a, &b)| f64::from(a) + b).collect();
        // GPU.
        let gz = up(ctx, &z);
        let gt = ctx.upload_ids(&targets, v).unwrap();
        let (gp, gce) = (ctx.zeros::<f32>(n * v).unwrap(), ctx.zeros::<f32>(n).unwrap());
        let (gdl, gd) = (up(ctx, &dloss), up(ctx, &d0));
        ctx.softmax_forward(&gp, &gz, v).unwrap();
        ctx.crossentropy_forward(&gce, &gz, &gt, v).unwrap();
        ctx.crossentropy_softmax_backward(&gd, &gdl, &gz, &gt, v).unwrap();
        assert_within("softmax", &down(ctx, &gp), &probs, |i| 2e-5 * probs[i] + 1e-7);
        assert_within("cross-entropy", &down(ctx, &gce), &ce, |i| 2e-5 * (1.0 + ce[i]));
        assert_within("crossentropy_softmax_backward", &down(ctx, &gd), &want_d, |i| {
            2e-5 * (1e-2 + dlp[i].abs()) + 2.0 * U32 * want_d[i].abs()
        });
    }
}

#[test]
fn crossentropy_literals_and_errors() {
    let Some(ctx) = context("crossentropy_literals_and_errors") else {
        return;
    };
    // V = 1: π = 1, CE = 0, the gradient adds nothing; V = 2 with equal logits: CE = ln 2.
    let z = up(ctx, &[3.0, 0.5, 0.5]);
    let (p1, ce1) = (ctx.zeros::<f32>(1).unwrap(), ctx.zeros::<f32>(1).unwrap());
    let z1 = up(ctx, &[3.0]);
    let t1 = ctx.upload_ids(&[0], 1).unwrap();
    ctx.softmax_forward(&p1, &z1, 1).unwrap();
    ctx.crossentropy_forward(&ce1, &z1, &t1, 1).unwrap();
    assert_eq!(down(ctx, &p1), vec![1.0]);
    assert_eq!(down(ctx, &ce1), vec![0.0]);
    let ce2 = ctx.zeros::<f32>(1).unwrap();
    let z2 = up(ctx, &[0.5, 0.5]);
    ctx.crossentropy_forward(&ce2, &z2, &ctx.upload_ids(&[1], 2).unwrap(), 2)
        .unwrap();
    assert!((down(ctx, &ce2)[0] - std::f64::consts::LN_2).abs() < 1e-6);
    // Errors, as the core's: V does not divide the logits, wrong output length, empty logits,
    // a target out of range at upload.
    let t = ctx.upload_ids(&[0], 2).unwrap();
    let out1 = ctx.zeros::<f32>(1).unwrap();
    let e = ctx
        .crossentropy_forward(&out1, &z, &t, 2)
        .expect_err("V = 2 does not divide 3");
    assert!(
        matches!(
            e,
            rewardkit_gpu::GpuError::Core(rewardkit_core::Error::BadShape { .. })
        ),
        "{e}"
    );
    let out2 = ctx.zeros::<f32>(2).unwrap();
    let e = ctx
        .crossentropy_forward(&out2, &z2, &t, 2)
        .expect_err("one row, two outputs");
    assert!(
        matches!(
            e,
            rewardkit_gpu::GpuError::Core(rewardkit_core::Error::LengthMismatch { .. })
        ),
        "{e}"
    );
    let empty = up(ctx, &[]);
    let e = ctx
        .softmax_forward(&empty, &empty, 2)
        .expect_err("no logits");
    assert!(
        matches!(
            e,
            rewardkit_gpu::GpuError::Core(rewardkit_core::Error::Empty { .. })
        ),
        "{e}"
    );
    let e = ctx.upload_ids(&[2], 2).expect_err("target 2 with V = 2");
    assert!(
        matches!(
            e,
            rewardkit_gpu::GpuError::Core(rewardkit_core::Error::TokenOutOfRange { .. })
        ),
        "{e}"
    );
}
