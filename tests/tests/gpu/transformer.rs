//! The transformer kernels against `rewardkit_trainer::ops` (llm.c's CPU kernels, same signatures)
//! and the core's logits functions, on random shapes including sizes that are not multiples of the
//! workgroup size or of 4, `T = 1`, and accumulation into non-zero gradients (every backward adds,
//! like the CPU ops). Bounds are per kernel and documented in `docs/numerics.md` (GPU section).

use proptest::prelude::*;
use rewardkit_core::logits::{self, RowStats};
use rewardkit_gpu::{GpuBuffer, GpuContext, GpuError};
use rewardkit_tests::gpu::{U32, assert_within, context, down, fill, up};
use rewardkit_trainer::ops;

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
            logits::log_softmax(o, r).unwrap();
        }
        let probs: Vec<f64> = lsm.iter().map(|x| x.exp()).collect();
        let (mut lp, mut stats) = (vec![0.0; n], vec![RowStats::default(); n]);
        logits::logprobs_forward(&mut lp, &mut stats, &z64, &targets, v).unwrap();
        let ce: Vec<f64> = lp.iter().map(|x| -x).collect();
        let mut dlp = vec![0.0; n * v];
        let neg: Vec<f64> = dloss.iter().map(|&g| -f64::from(g)).collect();
        logits::logprobs_backward(&mut dlp, &neg, &z64, &stats, &targets, v).unwrap();
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
        matches!(e, GpuError::Core(rewardkit_core::Error::BadShape { .. })),
        "{e}"
    );
    let out2 = ctx.zeros::<f32>(2).unwrap();
    let e = ctx
        .crossentropy_forward(&out2, &z2, &t, 2)
        .expect_err("one row, two outputs");
    assert!(
        matches!(
            e,
            GpuError::Core(rewardkit_core::Error::LengthMismatch { .. })
        ),
        "{e}"
    );
    let empty = up(ctx, &[]);
    let e = ctx
        .softmax_forward(&empty, &empty, 2)
        .expect_err("no logits");
    assert!(
        matches!(e, GpuError::Core(rewardkit_core::Error::Empty { .. })),
        "{e}"
    );
    let e = ctx.upload_ids(&[2], 2).expect_err("target 2 with V = 2");
    assert!(
        matches!(
            e,
            GpuError::Core(rewardkit_core::Error::TokenOutOfRange { .. })
        ),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// llm.c ops against rewardkit_trainer::ops
// ---------------------------------------------------------------------------------------------

/// `γ_n = n·u/(1 − n·u)` (Higham), the relative bound on an `n`-term `f32` sum in any order.
fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U32;
    nu / (1.0 - nu)
}

fn zeros(ctx: &GpuContext, n: usize) -> GpuBuffer<f32> {
    ctx.zeros::<f32>(n).expect("zeros")
}

/// `(B, T, C, V, maxT, tokens)` for the embedding: sizes not multiples of 4, `T = 1`, a `V` of 1.
fn encoder_case() -> impl Strategy<Value = (usize, usize, usize, usize, usize, Vec<u32>)> {
    (1usize..=3, 1usize..=9, 1usize..=13, 1usize..=20, 0usize..=2).prop_flat_map(
        |(b, t, c, v, extra)| {
            let toks = prop::collection::vec(0..v as u32, b * t);
            (Just(b), Just(t), Just(c), Just(v), Just(t + extra), toks)
        },
    )
}

/// The embedding forward (exact) and backward (sums of the same terms in another order: within
/// `2·γ_{K+1}·(|dwte₀| + Σ|dout|)` per entry for `K` occurrences, and likewise for `dwpe`).
fn check_encoder(
    ctx: &GpuContext,
    b: usize,
    t: usize,
    c: usize,
    v: usize,
    max_t: usize,
    tokens: &[u32],
    seed: u64,
) {
    let wte = fill(seed, v * c, -1.0, 1.0);
    let wpe = fill(seed + 1, max_t * c, -1.0, 1.0);
    let dout = fill(seed + 2, b * t * c, -1.0, 1.0);
    let (dwte0, dwpe0) = (
        fill(seed + 3, v * c, -1.0, 1.0),
        fill(seed + 4, max_t * c, -1.0, 1.0),
    );
    let mut out = vec![0.0f32; b * t * c];
    ops::encoder_forward(&mut out, tokens, &wte, &wpe, b, t, c).unwrap();
    let (mut dwte, mut dwpe) = (dwte0.clone(), dwpe0.clone());
    ops::encoder_backward(&mut dwte, &mut dwpe, &dout, tokens, b, t, c).unwrap();
    let gtok = ctx.upload_ids(tokens, v).unwrap();
    let (gwte, gwpe, gout) = (up(ctx, &wte), up(ctx, &wpe), zeros(ctx, b * t * c));
    ctx.encoder_forward(&gout, &gtok, &gwte, &gwpe, b, t, c)
        .unwrap();
    assert_eq!(down(ctx, &gout), f64s(&out), "encoder_forward (exact)");
    let (gdwte, gdwpe, gdout) = (up(ctx, &dwte0), up(ctx, &dwpe0), up(ctx, &dout));
    ctx.encoder_backward(&gdwte, &gdwpe, &gdout, &gtok, b, t, c)
        .unwrap();
    // Magnitudes and counts of the sums, in f64.
    let (mut mag_te, mut cnt_te) = (
        f64s(&dwte0).iter().map(|x| x.abs()).collect::<Vec<_>>(),
        vec![0usize; v],
    );
    let mut mag_pe: Vec<f64> = dwpe0.iter().map(|x| f64::from(x.abs())).collect();
    for (r, &id) in tokens.iter().enumerate() {
        cnt_te[id as usize] += 1;
        for j in 0..c {
            let d = f64::from(dout[r * c + j].abs());
            mag_te[id as usize * c + j] += d;
            mag_pe[(r % t) * c + j] += d;
        }
    }
    assert_within(
        "encoder_backward dwte",
        &down(ctx, &gdwte),
        &f64s(&dwte),
        |i| 2.0 * gamma(cnt_te[i / c] + 1) * mag_te[i],
    );
    assert_within(
        "encoder_backward dwpe",
        &down(ctx, &gdwpe),
        &f64s(&dwpe),
        |i| 2.0 * gamma(b + 1) * mag_pe[i],
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn encoder_matches_cpu_ops((b, t, c, v, max_t, tokens) in encoder_case(), seed in 0u64..1000) {
        let Some(ctx) = context("encoder_matches_cpu_ops") else { return Ok(()) };
        check_encoder(ctx, b, t, c, v, max_t, &tokens, seed);
    }
}

#[test]
fn encoder_backward_multi_stage_sort() {
    let Some(ctx) = context("encoder_backward_multi_stage_sort") else {
        return;
    };
    // B·T = 2100 keys: a 4096-key sort (local stages, then k = 1024, 2048, 4096 with global
    // steps), few distinct ids (long runs, one id never used) and C = 5.
    let (b, t, c, v) = (3, 700, 5, 8);
    let tokens: Vec<u32> = fill(7, b * t, 0.0, 7.0).iter().map(|&x| x as u32).collect();
    check_encoder(ctx, b, t, c, v, t, &tokens, 11);
    // Exactly 512 keys (one block, no global step) and 513 (two stages).
    for n in [512usize, 513] {
        let tokens: Vec<u32> = fill(n as u64, n, 0.0, 3.0)
            .iter()
            .map(|&x| x as u32)
            .collect();
        check_encoder(ctx, 1, n, 3, 3, n, &tokens, n as u64);
    }
}

#[test]
fn token_buckets_are_sorted_runs() {
    let Some(ctx) = context("token_buckets_are_sorted_runs") else {
        return;
    };
    // Sizes around the sort's block (512 keys) and several global stages; few and many ids.
    for (n, v) in [
        (1usize, 1usize),
        (5, 3),
        (511, 2),
        (512, 600),
        (513, 7),
        (1000, 50),
        (2100, 8),
        (5000, 3000),
    ] {
        let ids: Vec<u32> = fill(n as u64 + v as u64, n, 0.0, v as f64)
            .iter()
            .map(|&x| (x as u32).min(v as u32 - 1))
            .collect();
        let keys = ctx
            .read_blocking(
                &ctx.token_buckets(&ctx.upload_ids(&ids, v).unwrap(), v)
                    .unwrap(),
            )
            .unwrap();
        let mut want: Vec<(u32, u32)> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as u32))
            .collect();
        want.sort_unstable();
        let size = n.next_power_of_two().max(512);
        assert_eq!(keys.len(), 2 * size, "n = {n}");
        let got: Vec<(u32, u32)> = keys.chunks_exact(2).map(|k| (k[0], k[1])).collect();
        assert_eq!(
            &got[..n],
            &want[..],
            "n = {n}, V = {v}: sorted (id, position) pairs"
        );
        assert!(
            got[n..].iter().all(|&k| k == (u32::MAX, u32::MAX)),
            "n = {n}: padding"
        );
    }
}

/// Rows of `(N, C)` inputs: `C` from 1 to beyond one workgroup (256); values offset from 0.
fn layernorm_case() -> impl Strategy<Value = (usize, usize)> {
    (1usize..=9, prop_oneof![1usize..=17, 250usize..=300])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Forward within `4·γ_{C+4}·(r·|w|·M + |x̂·w|) + 2u·|bias|` per element, `M = maxᵢ|x − x₀|`
    /// of the row (the shifted f32 mean and variance against the CPU op's f64 statistics); the
    /// statistics within `4·γ_{C+4}·M + u|μ|` and `4·γ_{C+4}·r`. Backward (accumulating): `dinp`
    /// within `4·γ_{C+4}·r·(|g| + mean|g| + |x̂|·mean|g·x̂|) + 2u|dinp₀|`, `dweight`, `dbias` within
    /// `2·γ_{N+1}·(|init| + Σₙ|x̂·dout|)` (resp. `Σₙ|dout|`).
    #[test]
    fn layernorm_matches_cpu_ops((n, c) in layernorm_case(), seed in 0u64..1000) {
        let Some(ctx) = context("layernorm_matches_cpu_ops") else { return Ok(()) };
        let x: Vec<f32> = fill(seed, n * c, -2.0, 2.0).iter().map(|v| v + 3.0).collect();
        let w = fill(seed + 1, c, -1.5, 1.5);
        let bias = fill(seed + 2, c, -1.0, 1.0);
        let dout = fill(seed + 3, n * c, -1.0, 1.0);
        let (dinp0, dw0, db0) = (fill(seed + 4, n * c, -1.0, 1.0), fill(seed + 5, c, -1.0, 1.0), fill(seed + 6, c, -1.0, 1.0));
        let (mut out, mut mean, mut rstd) = (vec![0.0f32; n * c], vec![0.0f32; n], vec![0.0f32; n]);
        ops::layernorm_forward(&mut out, &mut mean, &mut rstd, &x, &w, &bias, n, c).unwrap();
        let (mut dinp, mut dw, mut db) = (dinp0.clone(), dw0.clone(), db0.clone());
        ops::layernorm_backward(&mut dinp, &mut dw, &mut db, &dout, &x, &w, &mean, &rstd, n, c).unwrap();
        // GPU forward.
        let (gx, gw, gb) = (up(ctx, &x), up(ctx, &w), up(ctx, &bias));
        let (gout, gmean, grstd) = (zeros(ctx, n * c), zeros(ctx, n), zeros(ctx, n));
        ctx.layernorm_forward(&gout, &gmean, &grstd, &gx, &gw, &gb, n, c).unwrap();
        let g4 = 4.0 * gamma(c + 4);
        let m_row: Vec<f64> = (0..n).map(|r| {
            let row = &x[r * c..][..c];
            row.iter().map(|&v| f64::from((v - row[0]).abs())).fold(0.0, f64::max)
        }).collect();
        let xhat = |i: usize| (f64::from(x[i]) - f64::from(mean[i / c])) * f64::from(rstd[i / c]);
        assert_within("layernorm mean", &down(ctx, &gmean), &f64s(&mean), |r| g4 * m_row[r] + U32 * f64::from(mean[r].abs()));
        assert_within("layernorm rstd", &down(ctx, &grstd), &f64s(&rstd), |r| g4 * f64::from(rstd[r]));
        assert_within("layernorm out", &down(ctx, &gout), &f64s(&out), |i| {
            let (r, j) = (i / c, i % c);
            let wj = f64::from(w[j].abs());
            g4 * (f64::from(rstd[r]) * wj * m_row[r] + (xhat(i) * wj).abs()) + 2.0 * U32 * f64::from(bias[j].abs())
        });
        // GPU backward from the CPU's statistics (the same inputs for both).
        let (gdinp, gdw, gdb, gdout) = (up(ctx, &dinp0), up(ctx, &dw0), up(ctx, &db0), up(ctx, &dout));
        let (gm, gr) = (up(ctx, &mean), up(ctx, &rstd));
        ctx.layernorm_backward(&gdinp, &gdw, &gdb, &gdout, &gx, &gw, &gm, &gr, n, c).unwrap();
        let mut row_g = vec![0.0f64; n];
        let mut row_gx = vec![0.0f64; n];
        let (mut mag_w, mut mag_b) = (f64s(&dw0).iter().map(|v| v.abs()).collect::<Vec<_>>(), f64s(&db0).iter().map(|v| v.abs()).collect::<Vec<_>>());
        for (i, &d) in dout.iter().enumerate() {
            let (r, j) = (i / c, i % c);
            let g = f64::from(w[j]) * f64::from(d);
            row_g[r] += g.abs() / c as f64;
            row_gx[r] += (g * xhat(i)).abs() / c as f64;
            mag_w[j] += (xhat(i) * f64::from(d)).abs();
            mag_b[j] += f64::from(d.abs());
        }
        assert_within("layernorm dinp", &down(ctx, &gdinp), &f64s(&dinp), |i| {
            let (r, j) = (i / c, i % c);
            let g = (f64::from(w[j]) * f64::from(dout[i])).abs();
            g4 * f64::from(rstd[r]) * (g + row_g[r] + xhat(i).abs() * row_gx[r]) + 2.0 * U32 * f64::from(dinp0[i].abs())
        });
        assert_within("layernorm dweight", &down(ctx, &gdw), &f64s(&dw), |j| 2.0 * gamma(n + 1) * mag_w[j]);
        assert_within("layernorm dbias", &down(ctx, &gdb), &f64s(&db), |j| 2.0 * gamma(n + 1) * mag_b[j]);
    }
}

#[test]
fn layernorm_constant_rows_give_bias_exactly() {
    let Some(ctx) = context("layernorm_constant_rows_give_bias_exactly") else {
        return;
    };
    // 0.1 is not a multiple of a power of two: an unshifted f32 mean of 7 copies is not 0.1.
    let (n, c) = (2, 7);
    let x: Vec<f32> = [0.1f32; 7]
        .iter()
        .chain([-3.3f32; 7].iter())
        .copied()
        .collect();
    let w = fill(1, c, -1.0, 1.0);
    let bias = fill(2, c, -1.0, 1.0);
    let (out, mean, rstd) = (zeros(ctx, n * c), zeros(ctx, n), zeros(ctx, n));
    ctx.layernorm_forward(
        &out,
        &mean,
        &rstd,
        &up(ctx, &x),
        &up(ctx, &w),
        &up(ctx, &bias),
        n,
        c,
    )
    .unwrap();
    let want: Vec<f64> = f64s(&bias)
        .iter()
        .chain(f64s(&bias).iter())
        .copied()
        .collect();
    assert_eq!(down(ctx, &out), want);
    assert_eq!(down(ctx, &mean), vec![0.1f32 as f64, -3.3f32 as f64]);
}

/// `(B, T, NH, hs)` for attention: `C = NH·hs` not a multiple of 4, `T = 1`.
fn attention_case() -> impl Strategy<Value = (usize, usize, usize, usize)> {
    (1usize..=2, 1usize..=12, 1usize..=3, 1usize..=5)
}

/// Attention forward and backward against the CPU op, `|qkv|, |dout|, |grad₀| ≤ 1`, within
/// `tol·(1 + |x|)` (every sum has at most `T + hs` terms of size at most ~`hs`).
fn check_attention(
    ctx: &GpuContext,
    b: usize,
    t: usize,
    nh: usize,
    hs: usize,
    seed: u64,
    tol: f64,
) {
    let c = nh * hs;
    let qkv = fill(seed, b * t * 3 * c, -1.0, 1.0);
    let dout = fill(seed + 1, b * t * c, -1.0, 1.0);
    let n_att = b * nh * t * t;
    let (dqkv0, dpre0, datt0) = (
        fill(seed + 2, qkv.len(), -1.0, 1.0),
        fill(seed + 3, n_att, -1.0, 1.0),
        fill(seed + 4, n_att, -1.0, 1.0),
    );
    let (mut out, mut pre, mut att) = (
        vec![0.0f32; b * t * c],
        vec![0.0f32; n_att],
        vec![0.0f32; n_att],
    );
    ops::attention_forward(&mut out, &mut pre, &mut att, &qkv, b, t, c, nh).unwrap();
    let (mut dqkv, mut dpre, mut datt) = (dqkv0.clone(), dpre0.clone(), datt0.clone());
    ops::attention_backward(
        &mut dqkv, &mut dpre, &mut datt, &dout, &qkv, &att, b, t, c, nh,
    )
    .unwrap();
    let gq = up(ctx, &qkv);
    let (gout, gpre, gatt) = (
        zeros(ctx, b * t * c),
        up(ctx, &fill(seed + 9, n_att, -1.0, 1.0)),
        up(ctx, &fill(seed + 10, n_att, -1.0, 1.0)),
    );
    ctx.attention_forward(&gout, &gpre, &gatt, &gq, b, t, c, nh)
        .unwrap();
    fn bound(w: &[f64], tol: f64) -> impl Fn(usize) -> f64 + '_ {
        move |i| tol * (1.0 + w[i].abs())
    }
    let (w_out, w_pre, w_att) = (f64s(&out), f64s(&pre), f64s(&att));
    let what = format!("B={b} T={t} NH={nh} hs={hs}");
    assert_within(
        &format!("attention out {what}"),
        &down(ctx, &gout),
        &w_out,
        bound(&w_out, tol),
    );
    assert_within(
        &format!("attention preatt {what}"),
        &down(ctx, &gpre),
        &w_pre,
        bound(&w_pre, tol),
    );
    assert_within(
        &format!("attention att {what}"),
        &down(ctx, &gatt),
        &w_att,
        bound(&w_att, tol),
    );
    // Backward from the CPU's att (the same inputs for both).
    let (gdq, gdp, gda, gdo, ga) = (
        up(ctx, &dqkv0),
        up(ctx, &dpre0),
        up(ctx, &datt0),
        up(ctx, &dout),
        up(ctx, &att),
    );
    ctx.attention_backward(&gdq, &gdp, &gda, &gdo, &gq, &ga, b, t, c, nh)
        .unwrap();
    let (w_dq, w_dp, w_da) = (f64s(&dqkv), f64s(&dpre), f64s(&datt));
    assert_within(
        &format!("attention dqkv {what}"),
        &down(ctx, &gdq),
        &w_dq,
        bound(&w_dq, tol),
    );
    assert_within(
        &format!("attention dpreatt {what}"),
        &down(ctx, &gdp),
        &w_dp,
        bound(&w_dp, tol),
    );
    assert_within(
        &format!("attention datt {what}"),
        &down(ctx, &gda),
        &w_da,
        bound(&w_da, tol),
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn attention_matches_cpu_ops((b, t, nh, hs) in attention_case(), seed in 0u64..1000) {
        let Some(ctx) = context("attention_matches_cpu_ops") else { return Ok(()) };
        check_attention(ctx, b, t, nh, hs, seed, 1e-5);
    }
}

#[test]
fn attention_longer_rows() {
    let Some(ctx) = context("attention_longer_rows") else {
        return;
    };
    // T beyond one workgroup of keys (64 threads stride over s) and a GPT-2-like head size.
    for (b, t, nh, hs) in [(1, 70, 2, 16), (1, 257, 1, 3)] {
        check_attention(ctx, b, t, nh, hs, (t * hs) as u64, (t + hs) as f64 * 2e-7);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// GELU within `2e-6·(1 + |x|)` forward and `1e-5·(1 + |x|)` backward (accumulating) with
    /// `|x| ≤ 6` and a few large inputs (±20, ±100, where tanh saturates); residual exactly.
    #[test]
    fn elementwise_ops_match_cpu_ops(n in 1usize..=600, seed in 0u64..1000) {
        let Some(ctx) = context("elementwise_ops_match_cpu_ops") else { return Ok(()) };
        let mut x = fill(seed, n, -6.0, 6.0);
        for (slot, v) in x.iter_mut().zip([20.0f32, -20.0, 100.0, -100.0]) {
            *slot = v;
        }
        let dout = fill(seed + 1, n, -1.0, 1.0);
        let d0 = fill(seed + 2, n, -1.0, 1.0);
        let mut out = vec![0.0f32; n];
        ops::gelu_forward(&mut out, &x, n).unwrap();
        let mut d = d0.clone();
        ops::gelu_backward(&mut d, &x, &dout, n).unwrap();
        let (gx, gd, gout, gdout) = (up(ctx, &x), up(ctx, &d0), zeros(ctx, n), up(ctx, &dout));
        ctx.gelu_forward(&gout, &gx, n).unwrap();
        ctx.gelu_backward(&gd, &gx, &gdout, n).unwrap();
        let (wo, wd) = (f64s(&out), f64s(&d));
        assert_within("gelu_forward", &down(ctx, &gout), &wo, |i| 2e-6 * (1.0 + wo[i].abs()));
        assert_within("gelu_backward", &down(ctx, &gd), &wd, |i| 1e-5 * (1.0 + wd[i].abs()));
        // Residual: one f32 addition per element, on both sides: exact.
        let mut r = vec![0.0f32; n];
        ops::residual_forward(&mut r, &x, &dout, n).unwrap();
        let gr = zeros(ctx, n);
        ctx.residual_forward(&gr, &gx, &gdout, n).unwrap();
        prop_assert_eq!(down(ctx, &gr), f64s(&r));
        let (mut da, mut db) = (d0.clone(), x.clone());
        ops::residual_backward(&mut da, &mut db, &dout, n).unwrap();
        let (gda, gdb) = (up(ctx, &d0), up(ctx, &x));
        ctx.residual_backward(&gda, &gdb, &gdout, n).unwrap();
        prop_assert_eq!(down(ctx, &gda), f64s(&da));
        prop_assert_eq!(down(ctx, &gdb), f64s(&db));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Three `AdamW` steps: `m`, `v` within `4u·|x|` (a multiply-add each; the GPU may fuse),
    /// parameters within `4u·|θ| + 1e-5·lr` (the update `m̂/(√v̂ + ε)` is O(1) and within a few ulp).
    #[test]
    fn adamw_matches_cpu_op(n in 1usize..=600, seed in 0u64..1000, wd in prop::sample::select(vec![0.0f32, 0.01])) {
        let Some(ctx) = context("adamw_matches_cpu_op") else { return Ok(()) };
        let (lr, b1, b2, eps) = (1e-3f32, 0.9f32, 0.999f32, 1e-8f32);
        let mut p = fill(seed, n, -1.0, 1.0);
        let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
        let (gp, gm, gv) = (up(ctx, &p), zeros(ctx, n), zeros(ctx, n));
        for step in 1..=3u32 {
            let g = fill(seed + u64::from(step), n, -1.0, 1.0);
            ops::adamw(&mut p, &g, &mut m, &mut v, step, lr, b1, b2, eps, wd, n).unwrap();
            ctx.adamw(&gp, &up(ctx, &g), &gm, &gv, step, lr, b1, b2, eps, wd, n).unwrap();
            let (wp, wm, wv) = (f64s(&p), f64s(&m), f64s(&v));
            assert_within("adamw m", &down(ctx, &gm), &wm, |i| 4.0 * U32 * step as f64 * wm[i].abs());
            assert_within("adamw v", &down(ctx, &gv), &wv, |i| 4.0 * U32 * step as f64 * wv[i].abs());
            assert_within("adamw params", &down(ctx, &gp), &wp, |i| 4.0 * U32 * wp[i].abs() + 1e-5 * f64::from(lr) * step as f64);
        }
    }
}

/// The GPU op's error, unwrapped to the core's.
fn core_err<T: std::fmt::Debug>(r: Result<T, GpuError>) -> rewardkit_core::Error {
    match r {
        Err(GpuError::Core(e)) => e,
        other => panic!("expected a core error, got {other:?}"),
    }
}

#[test]
fn errors_match_the_cpu_ops() {
    let Some(ctx) = context("errors_match_the_cpu_ops") else {
        return;
    };
    let z = |n: usize| vec![0.0f32; n];
    let g = |n: usize| zeros(ctx, n);
    // Embedding: c = 0, a table not a multiple of c, maxT < T, wrong token count, wrong output.
    let toks = ctx.upload_ids(&[0, 1], 2).unwrap();
    for (wte, wpe, out, b, t, c) in [
        (4, 4, 4, 1, 2, 0),
        (5, 4, 4, 1, 2, 2),
        (4, 2, 4, 1, 2, 2),
        (4, 4, 4, 2, 2, 2),
        (4, 4, 3, 1, 2, 2),
    ] {
        let cpu =
            ops::encoder_forward(&mut z(out), &[0, 1], &z(wte), &z(wpe), b, t, c).unwrap_err();
        let gpu = core_err(ctx.encoder_forward(&g(out), &toks, &g(wte), &g(wpe), b, t, c));
        assert_eq!(
            gpu, cpu,
            "encoder_forward wte={wte} wpe={wpe} out={out} b={b} t={t} c={c}"
        );
        let cpu =
            ops::encoder_backward(&mut z(wte), &mut z(wpe), &z(out), &[0, 1], b, t, c).unwrap_err();
        let gpu = core_err(ctx.encoder_backward(&g(wte), &g(wpe), &g(out), &toks, b, t, c));
        assert_eq!(
            gpu, cpu,
            "encoder_backward wte={wte} wpe={wpe} out={out} b={b} t={t} c={c}"
        );
    }
    // LayerNorm: each buffer in turn one too long.
    for bad in 0..6 {
        let len = |k: usize, n: usize| if k == bad { n + 1 } else { n };
        let (n, c) = (2, 3);
        let cpu = ops::layernorm_forward(
            &mut z(len(0, 6)),
            &mut z(len(1, n)),
            &mut z(len(2, n)),
            &z(len(3, 6)),
            &z(len(4, c)),
            &z(len(5, c)),
            n,
            c,
        )
        .unwrap_err();
        let gpu = core_err(ctx.layernorm_forward(
            &g(len(0, 6)),
            &g(len(1, n)),
            &g(len(2, n)),
            &g(len(3, 6)),
            &g(len(4, c)),
            &g(len(5, c)),
            n,
            c,
        ));
        assert_eq!(gpu, cpu, "layernorm_forward, buffer {bad}");
    }
    for bad in 0..8 {
        let len = |k: usize, n: usize| if k == bad { n + 1 } else { n };
        let (n, c) = (2, 3);
        let cpu = ops::layernorm_backward(
            &mut z(len(0, 6)),
            &mut z(len(1, c)),
            &mut z(len(2, c)),
            &z(len(3, 6)),
            &z(len(4, 6)),
            &z(len(5, c)),
            &z(len(6, n)),
            &z(len(7, n)),
            n,
            c,
        )
        .unwrap_err();
        let gpu = core_err(ctx.layernorm_backward(
            &g(len(0, 6)),
            &g(len(1, c)),
            &g(len(2, c)),
            &g(len(3, 6)),
            &g(len(4, 6)),
            &g(len(5, c)),
            &g(len(6, n)),
            &g(len(7, n)),
            n,
            c,
        ));
        assert_eq!(gpu, cpu, "layernorm_backward, buffer {bad}");
    }
    // Attention: nh = 0, c not a multiple of nh, each buffer wrong.
    let (b, t, c, nh) = (1, 2, 4, 2);
    let (nq, no, na) = (b * t * 3 * c, b * t * c, b * nh * t * t);
    for (c_, nh_) in [(c, 0), (c, 3)] {
        let cpu = ops::attention_forward(&mut z(no), &mut z(na), &mut z(na), &z(nq), b, t, c_, nh_)
            .unwrap_err();
        let gpu = core_err(ctx.attention_forward(&g(no), &g(na), &g(na), &g(nq), b, t, c_, nh_));
        assert_eq!(gpu, cpu, "attention_forward c={c_} nh={nh_}");
    }
    for bad in 0..4 {
        let len = |k: usize, n: usize| if k == bad { n + 1 } else { n };
        let cpu = ops::attention_forward(
            &mut z(len(0, no)),
            &mut z(len(1, na)),
            &mut z(len(2, na)),
            &z(len(3, nq)),
            b,
            t,
            c,
            nh,
        )
        .unwrap_err();
        let gpu = core_err(ctx.attention_forward(
            &g(len(0, no)),
            &g(len(1, na)),
            &g(len(2, na)),
            &g(len(3, nq)),
            b,
            t,
            c,
            nh,
        ));
        assert_eq!(gpu, cpu, "attention_forward, buffer {bad}");
    }
    for bad in 0..6 {
        let len = |k: usize, n: usize| if k == bad { n + 1 } else { n };
        let cpu = ops::attention_backward(
            &mut z(len(0, nq)),
            &mut z(len(1, na)),
            &mut z(len(2, na)),
            &z(len(3, no)),
            &z(len(4, nq)),
            &z(len(5, na)),
            b,
            t,
            c,
            nh,
        )
        .unwrap_err();
        let gpu = core_err(ctx.attention_backward(
            &g(len(0, nq)),
            &g(len(1, na)),
            &g(len(2, na)),
            &g(len(3, no)),
            &g(len(4, nq)),
            &g(len(5, na)),
            b,
            t,
            c,
            nh,
        ));
        assert_eq!(gpu, cpu, "attention_backward, buffer {bad}");
    }
    // Matrix products: each buffer in turn one too long.
    let (n, c, oc) = (2, 3, 4);
    for bad in 0..4 {
        let len = |k: usize, x: usize| if k == bad { x + 1 } else { x };
        let cpu = ops::matmul_forward(
            &mut z(len(2, n * oc)),
            &z(len(0, n * c)),
            &z(len(1, oc * c)),
            Some(&z(len(3, oc))),
            n,
            c,
            oc,
        )
        .unwrap_err();
        let gpu = core_err(ctx.matmul_forward(
            &g(len(2, n * oc)),
            &g(len(0, n * c)),
            &g(len(1, oc * c)),
            Some(&g(len(3, oc))),
            n,
            c,
            oc,
        ));
        assert_eq!(gpu, cpu, "matmul_forward, buffer {bad}");
    }
    for bad in 0..6 {
        let len = |k: usize, x: usize| if k == bad { x + 1 } else { x };
        let cpu = ops::matmul_backward(
            &mut z(len(1, n * c)),
            &mut z(len(3, oc * c)),
            Some(&mut z(len(5, oc))),
            &z(len(4, n * oc)),
            &z(len(0, n * c)),
            &z(len(2, oc * c)),
            n,
            c,
            oc,
        )
        .unwrap_err();
        let gpu = core_err(ctx.matmul_backward(
            &g(len(1, n * c)),
            &g(len(3, oc * c)),
            Some(&g(len(5, oc))),
            &g(len(4, n * oc)),
            &g(len(0, n * c)),
            &g(len(2, oc * c)),
            n,
            c,
            oc,
        ));
        assert_eq!(gpu, cpu, "matmul_backward, buffer {bad}");
    }
    // Elementwise ops and AdamW (including step = 0).
    for bad in 0..3 {
        let len = |k: usize| if k == bad { 5 } else { 4 };
        assert_eq!(
            core_err(ctx.gelu_backward(&g(len(0)), &g(len(1)), &g(len(2)), 4)),
            ops::gelu_backward(&mut z(len(0)), &z(len(1)), &z(len(2)), 4).unwrap_err(),
            "gelu_backward, buffer {bad}"
        );
        assert_eq!(
            core_err(ctx.residual_forward(&g(len(0)), &g(len(1)), &g(len(2)), 4)),
            ops::residual_forward(&mut z(len(0)), &z(len(1)), &z(len(2)), 4).unwrap_err(),
            "residual_forward, buffer {bad}"
        );
        assert_eq!(
            core_err(ctx.residual_backward(&g(len(0)), &g(len(1)), &g(len(2)), 4)),
            ops::residual_backward(&mut z(len(0)), &mut z(len(1)), &z(len(2)), 4).unwrap_err(),
            "residual_backward, buffer {bad}"
        );
    }
    assert_eq!(
        core_err(ctx.gelu_forward(&g(4), &g(5), 4)),
        ops::gelu_forward(&mut z(4), &z(5), 4).unwrap_err()
    );
    for (bad, step) in [(0, 1), (1, 1), (2, 1), (3, 1), (9, 0)] {
        let len = |k: usize| if k == bad { 5 } else { 4 };
        let cpu = ops::adamw(
            &mut z(len(0)),
            &z(len(1)),
            &mut z(len(2)),
            &mut z(len(3)),
            step,
            0.1,
            0.9,
            0.99,
            1e-8,
            0.0,
            4,
        )
        .unwrap_err();
        let gpu = core_err(ctx.adamw(
            &g(len(0)),
            &g(len(1)),
            &g(len(2)),
            &g(len(3)),
            step,
            0.1,
            0.9,
            0.99,
            1e-8,
            0.0,
            4,
        ));
        assert_eq!(gpu, cpu, "adamw, buffer {bad}, step {step}");
    }
}

#[test]
fn empty_and_degenerate_sizes() {
    let Some(ctx) = context("empty_and_degenerate_sizes") else {
        return;
    };
    let e = zeros(ctx, 0);
    let no_tokens = ctx.upload_ids(&[], 1).unwrap();
    // B = 0: nothing to do (and nothing dispatched), as the CPU ops.
    ctx.encoder_forward(&e, &no_tokens, &zeros(ctx, 3), &zeros(ctx, 3), 0, 1, 3)
        .unwrap();
    ctx.encoder_backward(&e, &e, &e, &no_tokens, 0, 0, 3)
        .unwrap();
    ctx.layernorm_forward(&e, &e, &e, &e, &zeros(ctx, 4), &zeros(ctx, 4), 0, 4)
        .unwrap();
    ctx.layernorm_backward(
        &e,
        &zeros(ctx, 4),
        &zeros(ctx, 4),
        &e,
        &e,
        &zeros(ctx, 4),
        &e,
        &e,
        0,
        4,
    )
    .unwrap();
    ctx.attention_forward(&e, &e, &e, &e, 0, 3, 4, 2).unwrap();
    ctx.attention_backward(&e, &e, &e, &e, &e, &e, 0, 3, 4, 2)
        .unwrap();
    ctx.gelu_forward(&e, &e, 0).unwrap();
    ctx.adamw(&e, &e, &e, &e, 1, 0.1, 0.9, 0.99, 1e-8, 0.0, 0)
        .unwrap();
    // C = 0 LayerNorm: nothing written.
    let m = up(ctx, &[7.0]);
    ctx.layernorm_forward(&e, &m, &m, &e, &e, &e, 1, 0).unwrap();
    assert_eq!(down(ctx, &m), vec![7.0]);
    // An empty vocabulary with tokens: an error (the CPU op reports the first token as out of
    // range; its ids are on the device here).
    let one = ctx.upload(&[0u32]).unwrap();
    assert!(matches!(
        core_err(ctx.encoder_forward(&zeros(ctx, 2), &one, &e, &zeros(ctx, 2), 1, 1, 2)),
        rewardkit_core::Error::Empty { what: "wte" }
    ));
}
