//! `matmul.wgsl` against a naive f64 triple loop (the brief's oracle), and llm.c's
//! `matmul_forward`/`matmul_backward` conventions.

use proptest::prelude::*;
use rewardkit_gpu::Gemm;
use rewardkit_tests::gpu::{U32, assert_within, context, down, fill, up};

/// `c = α·op(a)·op(b) (+ c0) (+ bias)` in f64, and the bound `γ_K·Σ|α·a·b| + …` on the f32 error
/// of any summation order (Higham's `γ_K = K·u/(1 − K·u)`), per element.
fn oracle(g: Gemm, a: &[f32], b: &[f32], c0: &[f32], bias: Option<&[f32]>) -> (Vec<f64>, Vec<f64>) {
    let (m, n, k) = (g.m, g.n, g.k);
    let mut out = vec![0.0; g.batch * m * n];
    let mut bound = vec![0.0; g.batch * m * n];
    let gamma = (k as f64 + 2.0) * U32 / (1.0 - (k as f64 + 2.0) * U32);
    for bt in 0..g.batch {
        let (a, b) = (&a[bt * m * k..], &b[bt * k * n..]);
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut abs) = (0.0f64, 0.0f64);
                for l in 0..k {
                    let x = f64::from(if g.trans_a {
                        a[l * m + i]
                    } else {
                        a[i * k + l]
                    });
                    let y = f64::from(if g.trans_b {
                        b[j * k + l]
                    } else {
                        b[l * n + j]
                    });
                    s += x * y;
                    abs += (x * y).abs();
                }
                let idx = bt * m * n + i * n + j;
                let mut v = f64::from(g.alpha) * s;
                let mut extra = 0.0;
                if g.accumulate {
                    v += f64::from(c0[idx]);
                    extra += f64::from(c0[idx]).abs();
                }
                if let Some(bias) = bias {
                    v += f64::from(bias[j]);
                    extra += f64::from(bias[j]).abs();
                }
                out[idx] = v;
                bound[idx] = gamma * (f64::from(g.alpha).abs() * abs + extra) + 1e-30;
            }
        }
    }
    (out, bound)
}

fn run(g: Gemm, with_bias: bool, seed: u64) {
    let Some(ctx) = context("matmul") else { return };
    let a = fill(seed, g.batch * g.m * g.k, -1.0, 1.0);
    let b = fill(seed + 1, g.batch * g.k * g.n, -1.0, 1.0);
    let c0 = fill(seed + 2, g.batch * g.m * g.n, -1.0, 1.0);
    let bias = fill(seed + 3, g.n, -1.0, 1.0);
    let (want, bound) = oracle(g, &a, &b, &c0, with_bias.then_some(&bias[..]));
    let (ga, gb, gc, gbias) = (up(ctx, &a), up(ctx, &b), up(ctx, &c0), up(ctx, &bias));
    ctx.matmul(&gc, &ga, &gb, with_bias.then_some(&gbias), g)
        .expect("matmul");
    let got = down(ctx, &gc);
    assert_within(&format!("{g:?} bias={with_bias}"), &got, &want, |i| {
        bound[i]
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Random shapes (not multiples of the 128×128×8 tile or of 4), every transpose, accumulate
    /// and bias combination, batches.
    #[test]
    fn matches_f64_loop(
        m in 1usize..=150, n in 1usize..=150, k in 0usize..=70, batch in 1usize..=2,
        ta: bool, tb: bool, acc: bool, bias: bool, alpha in prop::sample::select(vec![1.0f32, -0.5]),
        seed in 0u64..1000,
    ) {
        let g = Gemm::new(m, n, k).transpose_a(ta).transpose_b(tb).accumulate(acc).batched(batch).scaled(alpha);
        run(g, bias, seed);
    }
}

#[test]
fn tile_edges_and_degenerate_shapes() {
    // Exactly one tile, one more than a tile, K not a multiple of 8, a single row/column, and
    // K = 0 (c = bias, or c unchanged when accumulating).
    for (m, n, k) in [
        (128, 128, 8),
        (129, 1, 9),
        (1, 129, 17),
        (3, 5, 0),
        (130, 131, 1),
    ] {
        for tb in [false, true] {
            run(Gemm::new(m, n, k).transpose_b(tb), true, (m * n + k) as u64);
            run(
                Gemm::new(m, n, k).transpose_a(tb).accumulate(true),
                false,
                k as u64,
            );
        }
    }
}

#[test]
fn empty_dimensions_dispatch_nothing() {
    let Some(ctx) = context("empty_dimensions_dispatch_nothing") else {
        return;
    };
    let e = up(ctx, &[]);
    ctx.matmul(&e, &e, &e, None, Gemm::new(0, 0, 0))
        .expect("empty");
    let a = up(ctx, &[1.0; 6]);
    // M = 0 with K = 6: a is 0×6 (empty), c empty, b is 6×1.
    ctx.matmul(&e, &e, &a, None, Gemm::new(0, 1, 6))
        .expect("m = 0");
    assert!(down(ctx, &e).is_empty());
}

#[test]
fn llm_c_forward_and_backward() {
    let Some(ctx) = context("llm_c_forward_and_backward") else {
        return;
    };
    let (n, c, oc) = (7usize, 13usize, 5usize);
    let inp = fill(1, n * c, -1.0, 1.0);
    let w = fill(2, oc * c, -1.0, 1.0);
    let bias = fill(3, oc, -1.0, 1.0);
    let dout = fill(4, n * oc, -1.0, 1.0);
    // Forward: out[i, o] = Σ_c inp[i, c]·w[o, c] + bias[o].
    let (gi, gw, gb, gd) = (up(ctx, &inp), up(ctx, &w), up(ctx, &bias), up(ctx, &dout));
    let out = ctx.zeros::<f32>(n * oc).expect("zeros");
    ctx.matmul_forward(&out, &gi, &gw, Some(&gb), n, c, oc)
        .expect("forward");
    let got = down(ctx, &out);
    for i in 0..n {
        for o in 0..oc {
            let want: f64 = (0..c)
                .map(|j| f64::from(inp[i * c + j]) * f64::from(w[o * c + j]))
                .sum::<f64>()
                + f64::from(bias[o]);
            assert!((got[i * oc + o] - want).abs() < 1e-5, "forward [{i},{o}]");
        }
    }
    // Backward accumulates into non-zero gradients.
    let dinp0 = fill(5, n * c, -1.0, 1.0);
    let dw0 = fill(6, oc * c, -1.0, 1.0);
    let db0 = fill(7, oc, -1.0, 1.0);
    let (dinp, dw, db) = (up(ctx, &dinp0), up(ctx, &dw0), up(ctx, &db0));
    ctx.matmul_backward(&dinp, &dw, Some(&db), &gd, &gi, &gw, n, c, oc)
        .expect("backward");
    let (gdi, gdw, gdb) = (down(ctx, &dinp), down(ctx, &dw), down(ctx, &db));
    for i in 0..n {
        for j in 0..c {
            let want = f64::from(dinp0[i * c + j])
                + (0..oc)
                    .map(|o| f64::from(dout[i * oc + o]) * f64::from(w[o * c + j]))
                    .sum::<f64>();
            assert!((gdi[i * c + j] - want).abs() < 1e-5, "dinp [{i},{j}]");
        }
    }
    for o in 0..oc {
        for j in 0..c {
            let want = f64::from(dw0[o * c + j])
                + (0..n)
                    .map(|i| f64::from(dout[i * oc + o]) * f64::from(inp[i * c + j]))
                    .sum::<f64>();
            assert!((gdw[o * c + j] - want).abs() < 1e-5, "dweight [{o},{j}]");
        }
        let want = f64::from(db0[o]) + (0..n).map(|i| f64::from(dout[i * oc + o])).sum::<f64>();
        assert!((gdb[o] - want).abs() < 1e-5, "dbias [{o}]");
    }
}

#[test]
fn shape_errors_are_values() {
    let Some(ctx) = context("shape_errors_are_values") else {
        return;
    };
    let a = up(ctx, &[1.0; 6]);
    let c = up(ctx, &[0.0; 4]);
    let err = ctx
        .matmul(&c, &a, &a, None, Gemm::new(2, 2, 2))
        .expect_err("a has 6 values, not 4");
    assert!(rewardkit_tests::gpu::is_core(&err), "{err}");
    let err = ctx
        .matmul(&c, &a, &a, None, Gemm::new(2, 2, 3).scaled(f32::NAN))
        .expect_err("NaN alpha");
    assert!(rewardkit_tests::gpu::is_core(&err), "{err}");
}
