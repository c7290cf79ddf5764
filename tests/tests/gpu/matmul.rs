//! `matmul.wgsl` against a naive f64 triple loop (the brief's oracle), and llm.c's
//! `matmul_forward`/`matmul_backward` conventions.

use proptest::prelude::*;
use rewardkit_gpu::{Gemm, GpuContext, GpuError, MatmulTiles};
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
    check(ctx, g, &a, &b, with_bias, seed, |ctx, c, a, b, bias| {
        ctx.matmul(c, &up(ctx, a), &up(ctx, b), bias, g)
    });
}

/// Runs `op` (an f32 or f16 matmul of `a`, `b` into `c`) and checks it against the f64 oracle
/// on the values in `a` and `b`.
fn check(
    ctx: &GpuContext,
    g: Gemm,
    a: &[f32],
    b: &[f32],
    with_bias: bool,
    seed: u64,
    op: impl Fn(
        &GpuContext,
        &rewardkit_gpu::GpuBuffer<f32>,
        &[f32],
        &[f32],
        Option<&rewardkit_gpu::GpuBuffer<f32>>,
    ) -> Result<(), GpuError>,
) {
    let c0 = fill(seed + 2, g.batch * g.m * g.n, -1.0, 1.0);
    let bias = fill(seed + 3, g.n, -1.0, 1.0);
    let (want, bound) = oracle(g, a, b, &c0, with_bias.then_some(&bias[..]));
    let (gc, gbias) = (up(ctx, &c0), up(ctx, &bias));
    op(ctx, &gc, a, b, with_bias.then_some(&gbias)).expect("matmul");
    let got = down(ctx, &gc);
    assert_within(
        &format!(
            "{g:?} bias={with_bias} vec4={}",
            g.vec4_ok() && !g.force_scalar
        ),
        &got,
        &want,
        |i| bound[i],
    );
}

/// Tile shapes: the default and smaller or deeper ones (register blocks of 4 and 8, non-square
/// workgroups, `bk` from 4 to 16).
fn tiles() -> impl Strategy<Value = MatmulTiles> {
    prop::sample::select(vec![
        MatmulTiles::default(),
        MatmulTiles {
            wg_x: 8,
            wg_y: 8,
            tm: 4,
            tn: 4,
            bk: 4,
        },
        MatmulTiles {
            wg_x: 16,
            wg_y: 8,
            tm: 8,
            tn: 4,
            bk: 16,
        },
        MatmulTiles {
            wg_x: 4,
            wg_y: 16,
            tm: 4,
            tn: 8,
            bk: 12,
        },
    ])
}

/// A dimension: anything in `1..=max`, or a multiple of 4 (the vec4 kernel's condition).
fn dim(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![1..=max, (1..=max / 4).prop_map(|d| 4 * d)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Random shapes (not multiples of the tile, or of 4; or multiples of 4, which take the vec4
    /// kernel unless scalar loads are forced), every transpose, accumulate and bias combination,
    /// batches, several tile shapes.
    #[test]
    fn matches_f64_loop(
        m in dim(150), n in dim(150), k in prop_oneof![Just(0usize), dim(70)], batch in 1usize..=2,
        ta: bool, tb: bool, acc: bool, bias: bool, alpha in prop::sample::select(vec![1.0f32, -0.5]),
        tiles in tiles(), scalar: bool, seed in 0u64..1000,
    ) {
        let g = Gemm::new(m, n, k).transpose_a(ta).transpose_b(tb).accumulate(acc).batched(batch)
            .scaled(alpha).with_tiles(tiles).scalar_loads(scalar);
        run(g, bias, seed);
    }
}

#[test]
fn tile_edges_and_degenerate_shapes() {
    // Exactly one tile, one more than a tile, K not a multiple of 8, a single row/column, and
    // K = 0 (c = bias, or c unchanged when accumulating); the vec4 kernel at and around a tile
    // (132 = 128 + 4) with K a multiple of 4 but not of the slice depth.
    for (m, n, k) in [
        (128, 128, 8),
        (129, 1, 9),
        (1, 129, 17),
        (3, 5, 0),
        (130, 131, 1),
        (132, 4, 12),
        (4, 132, 4),
        (128, 128, 20),
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
fn tile_shapes_beyond_the_device_are_errors() {
    let Some(ctx) = context("tile_shapes_beyond_the_device_are_errors") else {
        return;
    };
    let a = up(ctx, &[1.0; 16]);
    let c = ctx.zeros::<f32>(16).unwrap();
    let d = MatmulTiles::default();
    for t in [
        MatmulTiles { tm: 5, ..d },
        MatmulTiles { tn: 2, ..d },
        MatmulTiles { bk: 6, ..d },
        MatmulTiles { bk: 36, ..d },
        MatmulTiles { wg_x: 0, ..d },
        // 4096 invocations per workgroup (no device has that many).
        MatmulTiles {
            wg_x: 64,
            wg_y: 64,
            ..d
        },
        // 4·32·(64 + 1024) bytes = 136 KiB of workgroup memory.
        MatmulTiles {
            wg_x: 128,
            wg_y: 8,
            tm: 8,
            tn: 8,
            bk: 32,
        },
    ] {
        let e = ctx
            .matmul(&c, &a, &a, None, Gemm::new(4, 4, 4).with_tiles(t))
            .map(|()| format!("{t:?}"))
            .expect_err("bad tiles");
        assert!(
            matches!(
                e,
                GpuError::Core(rewardkit_core::Error::InvalidParam { .. })
            ),
            "{t:?}: {e}"
        );
    }
}

/// Decodes IEEE binary16 bits.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 => f64::INFINITY,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// The binary16 spacing at `x` (for `|x| <= 65504`).
fn ulp16(x: f64) -> f64 {
    let e = x.abs().log2().floor().max(-14.0) as i32;
    2f64.powi(e - 10)
}

#[test]
fn f16_conversion_is_a_nearest_neighbour() {
    let Some(ctx) = context("f16_conversion_is_a_nearest_neighbour") else {
        return;
    };
    // Representable values convert exactly; others to one of the two neighbours; odd length.
    let mut x = vec![
        0.0f32,
        1.0,
        -2.0,
        0.5,
        65504.0,
        -6.103_515_6e-5,
        5.960_464_5e-8,
    ];
    x.extend(fill(3, 200, -300.0, 300.0));
    x.extend(fill(4, 101, -1e-3, 1e-3));
    let h = ctx.zeros::<u16>(x.len()).unwrap();
    ctx.to_f16(&h, &up(ctx, &x)).unwrap();
    let h = ctx.read_blocking(&h).unwrap();
    assert_eq!(&h[..4], &[0x0000, 0x3c00, 0xc000, 0x3800]);
    for (i, (&v, &bits)) in x.iter().zip(&h).enumerate() {
        let (v, got) = (f64::from(v), f16_to_f64(bits));
        assert!(
            (got - v).abs() < ulp16(v) || (i < 7 && got == v),
            "x[{i}] = {v}: f16 {got} (bits {bits:#06x}) is not a nearest neighbour"
        );
        if i < 7 {
            assert_eq!(got, v, "x[{i}] is representable");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    /// The f16-input kernel (where the adapter has `SHADER_F16`) against the f64 loop over the
    /// f16 values it read (decoded from the device), with the f32 bound: products of binary16
    /// values are exact in f32, so only the f32 accumulation rounds.
    #[test]
    fn f16_matmul_matches_f64_loop(
        m in (1usize..=40).prop_map(|d| 4 * d), n in (1usize..=40).prop_map(|d| 4 * d),
        k in (0usize..=20).prop_map(|d| 4 * d), ta: bool, tb: bool, acc: bool, bias: bool,
        tiles in tiles(), seed in 0u64..1000,
    ) {
        let Some(ctx) = context("f16_matmul_matches_f64_loop") else { return Ok(()) };
        let g = Gemm::new(m, n, k).transpose_a(ta).transpose_b(tb).accumulate(acc).with_tiles(tiles);
        if !ctx.capabilities().f16 {
            eprintln!("skipped: f16_matmul_matches_f64_loop (the adapter has no SHADER_F16)");
            let e = ctx.matmul_f16(&ctx.zeros::<f32>(m * n).unwrap(), &ctx.zeros::<u16>(m * k).unwrap(),
                &ctx.zeros::<u16>(k * n).unwrap(), None, g).expect_err("no f16");
            prop_assert!(matches!(e, GpuError::Unsupported { .. }), "{}", e);
            return Ok(());
        }
        let to_f16 = |x: &[f32]| {
            let h = ctx.zeros::<u16>(x.len()).unwrap();
            ctx.to_f16(&h, &up(ctx, x)).unwrap();
            h
        };
        let (a32, b32) = (fill(seed, m * k, -1.0, 1.0), fill(seed + 1, k * n, -1.0, 1.0));
        let (a16, b16) = (to_f16(&a32), to_f16(&b32));
        // The oracle's inputs: the binary16 values on the device.
        let dec = |h: &rewardkit_gpu::GpuBuffer<u16>| -> Vec<f32> {
            ctx.read_blocking(h).unwrap().into_iter().map(|b| f16_to_f64(b) as f32).collect()
        };
        let (a, b) = (dec(&a16), dec(&b16));
        check(ctx, g, &a, &b, bias, seed, |ctx, c, _, _, bias| ctx.matmul_f16(c, &a16, &b16, bias, g));
    }
}

#[test]
fn f16_matmul_needs_vec4_shapes() {
    let Some(ctx) = context("f16_matmul_needs_vec4_shapes") else {
        return;
    };
    if !ctx.capabilities().f16 {
        eprintln!("skipped: f16_matmul_needs_vec4_shapes (the adapter has no SHADER_F16)");
        return;
    }
    let (a, c) = (ctx.zeros::<u16>(6).unwrap(), ctx.zeros::<f32>(4).unwrap());
    let e = ctx
        .matmul_f16(&c, &a, &a, None, Gemm::new(2, 2, 3))
        .expect_err("K = 3");
    assert!(
        matches!(e, GpuError::Core(rewardkit_core::Error::BadShape { .. })),
        "{e}"
    );
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

#[test]
fn llm_c_ops_match_trainer() {
    let Some(ctx) = context("llm_c_ops_match_trainer") else {
        return;
    };
    use rewardkit_trainer::ops;
    // The trainer's CPU ops (f32, packed sgemm) as the reference; both sides within the f32 bound
    // `2·γ_{K+2}·Σ|terms|` of the f64 truth. N = 600 and 257 make the bias gradient use chunks
    // of several rows; C, OC multiples of 4 take the vec4 kernel, 13 and 5 the scalar one.
    for (n, c, oc) in [(600usize, 12usize, 20usize), (37, 13, 5), (257, 64, 48)] {
        let inp = fill(1, n * c, -1.0, 1.0);
        let w = fill(2, oc * c, -1.0, 1.0);
        let bias = fill(3, oc, -1.0, 1.0);
        let dout = fill(4, n * oc, -1.0, 1.0);
        let (dinp0, dw0, db0) = (
            fill(5, n * c, -1.0, 1.0),
            fill(6, oc * c, -1.0, 1.0),
            fill(7, oc, -1.0, 1.0),
        );
        let mut out = vec![0.0f32; n * oc];
        ops::matmul_forward(&mut out, &inp, &w, Some(&bias), n, c, oc).unwrap();
        let (mut dinp, mut dw, mut db) = (dinp0.clone(), dw0.clone(), db0.clone());
        ops::matmul_backward(&mut dinp, &mut dw, Some(&mut db), &dout, &inp, &w, n, c, oc).unwrap();
        let gout = ctx.zeros::<f32>(n * oc).unwrap();
        let (gi, gw, gb, gd) = (up(ctx, &inp), up(ctx, &w), up(ctx, &bias), up(ctx, &dout));
        ctx.matmul_forward(&gout, &gi, &gw, Some(&gb), n, c, oc)
            .unwrap();
        let (gdi, gdw, gdb) = (up(ctx, &dinp0), up(ctx, &dw0), up(ctx, &db0));
        ctx.matmul_backward(&gdi, &gdw, Some(&gdb), &gd, &gi, &gw, n, c, oc)
            .unwrap();
        // |inputs| ≤ 1: Σ|terms| ≤ K (+ |init|, |bias| ≤ 1).
        let b = |k: usize| {
            2.0 * (k as f64 + 2.0) * U32 / (1.0 - (k as f64 + 2.0) * U32) * (k as f64 + 1.0)
        };
        let f64s = |x: &[f32]| x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        let what = format!("N={n} C={c} OC={oc}");
        assert_within(
            &format!("matmul_forward {what}"),
            &down(ctx, &gout),
            &f64s(&out),
            |_| b(c),
        );
        assert_within(
            &format!("dinp {what}"),
            &down(ctx, &gdi),
            &f64s(&dinp),
            |_| b(oc),
        );
        assert_within(
            &format!("dweight {what}"),
            &down(ctx, &gdw),
            &f64s(&dw),
            |_| b(n),
        );
        assert_within(
            &format!("dbias {what}"),
            &down(ctx, &gdb),
            &f64s(&db),
            |_| b(n),
        );
    }
}
