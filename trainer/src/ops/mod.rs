//! The transformer's CPU kernels, llm.c style: free functions over flat `f32` buffers, row-major,
//! **outputs first, then inputs, then sizes**. These signatures are a contract: the GPU backend's
//! WGSL kernels have the same names, argument order and semantics, and are tested against these.
//!
//! # Shapes
//! `B` sequences, `T` tokens per sequence, `C` channels, `NH` heads (`C = NH·hs`), `V` vocabulary,
//! `maxT` positions, `N` a flat row count (`B·T`), `OC` output channels.
//!
//! # The contract
//! | op | signature (outputs; inputs; sizes) |
//! |---|---|
//! | [`encoder_forward`] | `out (B,T,C)`; `tokens (B,T) u32, wte (V,C), wpe (maxT,C)`; `b, t, c` |
//! | [`encoder_backward`] | `dwte (V,C) +=, dwpe (maxT,C) +=`; `dout (B,T,C), tokens`; `b, t, c` |
//! | [`layernorm_forward`] | `out (N,C), mean (N), rstd (N)`; `inp (N,C), weight (C), bias (C)`; `n, c` (ε = 1e-5) |
//! | [`layernorm_backward`] | `dinp +=, dweight +=, dbias +=`; `dout, inp, weight, mean, rstd`; `n, c` |
//! | [`matmul_forward`] | `out (N,OC)`; `inp (N,C), weight (OC,C), bias Option<(OC)>`; `n, c, oc` — `out = inp·Wᵀ + b` |
//! | [`matmul_backward`] | `dinp +=, dweight +=, dbias Option +=`; `dout, inp, weight`; `n, c, oc` |
//! | [`attention_forward`] | `out (B,T,C), preatt (B,NH,T,T), att (B,NH,T,T)`; `qkv (B,T,3C)`; `b, t, c, nh` |
//! | [`attention_backward`] | `dqkv +=, dpreatt +=, datt +=`; `dout, qkv, att`; `b, t, c, nh` |
//! | [`gelu_forward`] | `out (N)`; `inp (N)`; `n` (tanh approximation) |
//! | [`gelu_backward`] | `dinp (N) +=`; `inp, dout`; `n` |
//! | [`residual_forward`] | `out (N)`; `a (N), b (N)`; `n` (its backward adds `dout` into both inputs) |
//! | [`residual_backward`] | `da +=, db +=`; `dout`; `n` |
//! | [`adamw`] | `params (N), m (N), v (N)` updated in place; `grads (N)`; `step ≥ 1, lr, β₁, β₂, ε, λ, n` |
//!
//! Backward functions **accumulate** (`+=`) into their gradient buffers, so a caller zeroes them
//! once per step (llm.c's convention; a weight used twice, like the tied embedding, just gets both
//! contributions). `attention_forward` writes `preatt` and `att` for the backward pass; entries
//! above the causal diagonal are written as `0`.
//!
//! The logits → log-probabilities part of the head is not here: it is
//! [`rewardkit_core::logits::logprobs_forward`] / [`rewardkit_core::logits::logprobs_backward`] (called by the trainer in `crate::step`, over the same blocks of rows).
//!
//! # Errors
//! Every op checks its buffer lengths against its sizes first and returns
//! [`Error::LengthMismatch`] (or [`Error::BadShape`] when `c` is not a multiple of `nh`, or a
//! zero size where one is needed, or [`Error::TokenOutOfRange`] for a token id `≥ V`) before it
//! writes anything; [`adamw`] returns [`Error::InvalidParam`] for `step = 0`.
//!
//! # Matrix products
//! [`matmul_forward`] and [`matmul_backward`] call `matrixmultiply::sgemm` (packed AVX-512/AVX2/FMA
//! micro-kernels) with its own thread pool (`threading`). It was chosen over the `gemm` crate by
//! measurement on this project's 2-core machine for the trainer's shapes (`N` = a few thousand
//! rows, `C`, `OC` = 64…512), and its pool over splitting the rows on this module's threads
//! (measured: about 250 against 190 GFLOP/s at `(10240, 64, 256)`): see `docs/benchmarks.md`,
//! *Trainer*.
//!
//! # Threads
//! The other kernels run over blocks of rows on [`threads`] scoped threads (`REWARDKIT_THREADS`,
//! default: the machine's available parallelism) once a call has enough work (about 32 K
//! elements; tiny calls stay on the calling thread). Every row is computed by exactly the loop
//! one thread would run, and the weight and bias gradients that sum over rows are split over
//! columns, each summed over the rows in order, so **results are bit-identical for any number of
//! threads** (tested). The matrix products run on `matrixmultiply`'s pool, which splits the
//! output, never a sum, so they are deterministic too. [`encoder_backward`]'s scatter into `dwte`
//! stays on one thread.
//!
//! # GELU and `exp`
//! [`gelu_forward`] and [`gelu_backward`] use `½(1 + tanh u) = σ(2u)` with an `exp` that the
//! compiler vectorizes ([`exp_f32`]: range reduction to `|r| ≤ ln 2/2`, a degree-7 Taylor
//! polynomial, relative error below `3·10⁻⁷` on `[−87, 88]`, tested against `f64`), instead of the
//! scalar `tanhf` that dominated the training step. The attention softmax uses the same `exp`.
//!
//! Reference: Karpathy, *llm.c* (`train_gpt2.c`), whose forward/backward kernels these follow.

use rewardkit_core::Error;

pub(crate) mod par;
pub use par::threads;
use par::{blocks, run, split, split_mut};

/// Defines a kernel loop twice, for the baseline target and with AVX2 enabled, and calls the AVX2
/// build when the CPU has it (runtime detection, cached by `std`). Same source, same operation
/// order, no fused multiply-adds (Rust never contracts `a·b + c` on its own): both builds give
/// bit-identical results; AVX2 only doubles the vector width of the loops the compiler vectorizes.
macro_rules! with_avx2 {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            unsafe fn avx2($($arg: $ty),*) {
                generic($($arg),*);
            }
            #[cfg(target_arch = "x86_64")]
            if par::simd_allowed() && std::is_x86_feature_detected!("avx2") {
                // SAFETY: `avx2` only enables a target feature, which the CPU has (checked above).
                unsafe { avx2($($arg),*) };
                return;
            }
            generic($($arg),*);
        }
    };
}

/// Result alias (errors are [`rewardkit_core::Error`]).
pub type Result<T = ()> = core::result::Result<T, Error>;

/// `LayerNorm`'s `ε`.
pub const LN_EPS: f32 = 1e-5;

/// `√(2/π)`, the GELU tanh approximation's constant.
const GELU_SCALE: f32 = 0.797_884_6;

/// `eˣ` for `f32`, written so that loops over it vectorize (no libm call, no branch).
///
/// # Definition
/// `x` is clamped to `[−87, 88]` (so `2ᵏ` stays a normal number: `e^{−87} ≈ 1.6·10⁻³⁸`,
/// `e^{88} ≈ 1.7·10³⁸`); `k = round(x·log₂e)` (the `1.5·2²³` rounding trick), `r = x − k·ln 2`
/// (Cody–Waite: `ln 2` split into an exact head and a tail), `eʳ` by the Taylor polynomial of
/// degree 7 (truncation `≤ r⁸/8! < 6·10⁻⁹` for `|r| ≤ 0.35`), times `2ᵏ` built from its exponent
/// bits. Relative error below `3·10⁻⁷` against `f64::exp` on the clamped range (tested).
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::exp_f32;
/// assert_eq!(exp_f32(0.0), 1.0);
/// assert!((exp_f32(1.0) - std::f32::consts::E).abs() < 1e-6);
/// assert!(exp_f32(-1000.0) > 0.0 && exp_f32(1000.0).is_finite()); // clamped
/// ```
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with 9 significant bits so that k·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4; // = 355/512 exactly
    const LN2_LO: f32 = -2.121_944_4e-4;
    const SHIFT: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer in the low bits
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + SHIFT;
    let k = t - SHIFT;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // t's bits are those of 1.5·2²³ plus k: the integer k sits in the low mantissa bits.
    let ki = t.to_bits().wrapping_sub(0x4B40_0000) as i32;
    p * f32::from_bits(((ki + 127) as u32) << 23)
}

#[inline]
fn check(what: &'static str, got: usize, expected: usize) -> Result {
    if got == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}

#[inline]
fn mul(what: &'static str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or(Error::TooLarge {
            what,
            len: usize::MAX,
            max: usize::MAX,
        })
}

fn check_tokens(tokens: &[u32], vocab: usize) -> Result {
    for (index, &id) in tokens.iter().enumerate() {
        if usize::try_from(id).map_or(true, |k| k >= vocab) {
            return Err(Error::TokenOutOfRange { index, id, vocab });
        }
    }
    Ok(())
}

/// Token plus position embedding.
///
/// # Definition
/// `out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]`. `V` and `maxT` are taken from the lengths of `wte`
/// and `wpe` (`len/c`).
///
/// # Shapes
/// `out`: `(B,T,C)`; `tokens`: `(B,T)`; `wte`: `(V,C)`; `wpe`: `(maxT,C)` with `maxT ≥ T`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths (or `maxT < T`), [`Error::BadShape`] for `c = 0` or
/// a table whose length is not a multiple of `c`, [`Error::TokenOutOfRange`] for an id `≥ V`.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::encoder_forward;
/// let (wte, wpe) = ([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]); // V = 2, maxT = 2, C = 2
/// let mut out = [0.0f32; 4];
/// encoder_forward(&mut out, &[1, 0], &wte, &wpe, 1, 2, 2)?;
/// assert_eq!(out, [13.0, 24.0, 31.0, 42.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn encoder_forward(
    out: &mut [f32],
    tokens: &[u32],
    wte: &[f32],
    wpe: &[f32],
    b: usize,
    t: usize,
    c: usize,
) -> Result {
    let vocab = table_rows("wte", wte, c)?;
    let max_t = table_rows("wpe", wpe, c)?;
    if max_t < t {
        return Err(Error::LengthMismatch {
            what: "wpe",
            expected: t * c,
            got: wpe.len(),
        });
    }
    check("tokens", tokens.len(), mul("tokens", &[b, t])?)?;
    check("out", out.len(), mul("out", &[b, t, c])?)?;
    check_tokens(tokens, vocab)?;
    let bl = blocks(b * t, c);
    let items: Vec<_> = split_mut(out, &bl, c)
        .into_iter()
        .zip(bl.iter().cloned())
        .collect();
    run(items, |(out, rows)| {
        for (r, row) in rows.zip(out.chunks_exact_mut(c)) {
            let (id, pos) = (tokens[r] as usize, r % t);
            let te = &wte[id * c..][..c];
            let pe = &wpe[pos * c..][..c];
            for ((o, &x), &p) in row.iter_mut().zip(te).zip(pe) {
                *o = x + p;
            }
        }
    });
    Ok(())
}

fn table_rows(what: &'static str, table: &[f32], c: usize) -> Result<usize> {
    if c == 0 || table.len() % c != 0 {
        return Err(Error::BadShape {
            what,
            len: table.len(),
            dim: c,
        });
    }
    Ok(table.len() / c)
}

/// Backward of [`encoder_forward`]: accumulates `dout` into the rows of `dwte` and `dwpe` it came
/// from.
///
/// # Definition
/// `dwte[tokens[b,t],:] += dout[b,t,:]`, `dwpe[t,:] += dout[b,t,:]`.
///
/// # Shapes
/// As [`encoder_forward`], with `dwte`, `dwpe` shaped like `wte`, `wpe`.
///
/// # Errors
/// As [`encoder_forward`].
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::encoder_backward;
/// let (mut dwte, mut dwpe) = ([0.0f32; 4], [0.0f32; 4]);
/// encoder_backward(&mut dwte, &mut dwpe, &[1.0, 2.0, 3.0, 4.0], &[1, 1], 1, 2, 2)?;
/// assert_eq!(dwte, [0.0, 0.0, 4.0, 6.0]);
/// assert_eq!(dwpe, [1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn encoder_backward(
    dwte: &mut [f32],
    dwpe: &mut [f32],
    dout: &[f32],
    tokens: &[u32],
    b: usize,
    t: usize,
    c: usize,
) -> Result {
    let vocab = table_rows("dwte", dwte, c)?;
    let max_t = table_rows("dwpe", dwpe, c)?;
    if max_t < t {
        return Err(Error::LengthMismatch {
            what: "dwpe",
            expected: t * c,
            got: dwpe.len(),
        });
    }
    check("tokens", tokens.len(), mul("tokens", &[b, t])?)?;
    check("dout", dout.len(), mul("dout", &[b, t, c])?)?;
    check_tokens(tokens, vocab)?;
    for (row, (d, &id)) in dout.chunks_exact(c).zip(tokens).enumerate() {
        let pos = row % t;
        for (g, &x) in dwte[id as usize * c..][..c].iter_mut().zip(d) {
            *g += x;
        }
        for (g, &x) in dwpe[pos * c..][..c].iter_mut().zip(d) {
            *g += x;
        }
    }
    Ok(())
}

/// `LayerNorm` over the last dimension, with the statistics the backward pass needs.
///
/// # Definition
/// `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased), `r = 1/√(σ² + ε)` with `ε = 1e-5`,
/// `out = (x − μ)·r·weight + bias`; `mean[i] = μ`, `rstd[i] = r`. Statistics accumulate in `f64`.
///
/// # Shapes
/// `out`, `inp`: `(N,C)`; `mean`, `rstd`: `(N)`; `weight`, `bias`: `(C)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::layernorm_forward;
/// let (mut out, mut mean, mut rstd) = ([0.0f32; 2], [0.0f32; 1], [0.0f32; 1]);
/// layernorm_forward(&mut out, &mut mean, &mut rstd, &[1.0, 3.0], &[1.0, 1.0], &[0.0, 0.5], 1, 2)?;
/// assert_eq!(mean[0], 2.0);
/// assert!((out[0] + 1.0).abs() < 1e-4 && (out[1] - 1.5).abs() < 1e-4);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: &[f32],
    n: usize,
    c: usize,
) -> Result {
    let nc = mul("inp", &[n, c])?;
    check("inp", inp.len(), nc)?;
    check("out", out.len(), nc)?;
    check("mean", mean.len(), n)?;
    check("rstd", rstd.len(), n)?;
    check("weight", weight.len(), c)?;
    check("bias", bias.len(), c)?;
    if c == 0 {
        return Ok(());
    }
    let bl = blocks(n, c);
    let items: Vec<_> = split_mut(out, &bl, c)
        .into_iter()
        .zip(split_mut(mean, &bl, 1))
        .zip(split_mut(rstd, &bl, 1))
        .zip(split(inp, &bl, c))
        .collect();
    run(items, |(((out, mean), rstd), inp)| {
        layernorm_forward_rows(out, mean, rstd, inp, weight, bias, c);
    });
    Ok(())
}

with_avx2! {
fn layernorm_forward_rows(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: &[f32],
    c: usize,
) {
    for (((o, x), m), r) in out
        .chunks_exact_mut(c)
        .zip(inp.chunks_exact(c))
        .zip(mean.iter_mut())
        .zip(rstd.iter_mut())
    {
        let mu = x.iter().map(|&v| f64::from(v)).sum::<f64>() / c as f64;
        let var = x.iter().map(|&v| (f64::from(v) - mu).powi(2)).sum::<f64>() / c as f64;
        let rs = 1.0 / (var + f64::from(LN_EPS)).sqrt();
        let (mu32, rs32) = (mu as f32, rs as f32);
        for (((o, &v), &w), &bb) in o.iter_mut().zip(x).zip(weight).zip(bias) {
            *o = (v - mu32) * rs32 * w + bb;
        }
        *m = mu32;
        *r = rs32;
    }
}
}

/// Backward of [`layernorm_forward`] (accumulates).
///
/// # Definition
/// With `x̂ = (x − μ)·r` and `g = weight ⊙ dout`: `dbias += dout`, `dweight += x̂ ⊙ dout`,
/// `dinp += r·(g − mean(g) − x̂·mean(g ⊙ x̂))`.
///
/// # Shapes
/// As [`layernorm_forward`]; gradients shaped like their values.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::layernorm_backward;
/// let (mut dinp, mut dw, mut db) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
/// // x = [1, 3]: μ = 2, x̂ ≈ [−1, 1]; a gradient along x̂ itself is projected out of dinp.
/// layernorm_backward(&mut dinp, &mut dw, &mut db, &[-1.0, 1.0], &[1.0, 3.0], &[1.0, 1.0],
///     &[2.0], &[1.0], 1, 2)?;
/// assert_eq!(db, [-1.0, 1.0]);
/// assert!(dinp.iter().all(|d| d.abs() < 1e-6));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn layernorm_backward(
    dinp: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    weight: &[f32],
    mean: &[f32],
    rstd: &[f32],
    n: usize,
    c: usize,
) -> Result {
    let nc = mul("inp", &[n, c])?;
    check("inp", inp.len(), nc)?;
    check("dinp", dinp.len(), nc)?;
    check("dout", dout.len(), nc)?;
    check("mean", mean.len(), n)?;
    check("rstd", rstd.len(), n)?;
    check("weight", weight.len(), c)?;
    check("dweight", dweight.len(), c)?;
    check("dbias", dbias.len(), c)?;
    if c == 0 {
        return Ok(());
    }
    // dinp by blocks of rows.
    let bl = blocks(n, c);
    let items: Vec<_> = split_mut(dinp, &bl, c)
        .into_iter()
        .zip(bl.iter().cloned())
        .collect();
    run(items, |(dinp, rows)| {
        let (inp, dout) = (&inp[rows.start * c..], &dout[rows.start * c..]);
        layernorm_backward_rows(dinp, dout, inp, weight, &mean[rows.clone()], &rstd[rows], c);
    });
    // dweight, dbias: sums over the rows, by blocks of columns (each column in row order).
    let cols = blocks(c, n);
    let items: Vec<_> = split_mut(dweight, &cols, 1)
        .into_iter()
        .zip(split_mut(dbias, &cols, 1))
        .zip(cols.iter().cloned())
        .collect();
    run(items, |((dw, db), cr)| {
        layernorm_backward_cols(dw, db, dout, inp, mean, rstd, c, cr.start);
    });
    Ok(())
}

with_avx2! {
/// `dinp` of [`layernorm_backward`] for a block of rows.
fn layernorm_backward_rows(
    dinp: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    weight: &[f32],
    mean: &[f32],
    rstd: &[f32],
    c: usize,
) {
    for ((((di, d), x), &mu), &rs) in dinp
        .chunks_exact_mut(c)
        .zip(dout.chunks_exact(c))
        .zip(inp.chunks_exact(c))
        .zip(mean)
        .zip(rstd)
    {
        // The two reductions of the chain rule through the mean and the variance.
        let (mut g_mean, mut gx_mean) = (0.0f32, 0.0f32);
        for ((&dv, &xv), &w) in d.iter().zip(x).zip(weight) {
            let norm = (xv - mu) * rs;
            let g = w * dv;
            g_mean += g;
            gx_mean += g * norm;
        }
        g_mean /= c as f32;
        gx_mean /= c as f32;
        for (((dxi, &dv), &xv), &w) in di.iter_mut().zip(d).zip(x).zip(weight) {
            let norm = (xv - mu) * rs;
            // term 1: through x̂ directly; term 2: through μ; term 3: through r.
            *dxi += (w * dv - g_mean - norm * gx_mean) * rs;
        }
    }
}
}

with_avx2! {
/// `dweight`, `dbias` of [`layernorm_backward`] for the columns `c0..c0 + dw.len()`, summed over
/// every row in order.
fn layernorm_backward_cols(
    dw: &mut [f32],
    db: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    mean: &[f32],
    rstd: &[f32],
    c: usize,
    c0: usize,
) {
    let w = dw.len();
    for (((d, x), &mu), &rs) in dout
        .chunks_exact(c)
        .zip(inp.chunks_exact(c))
        .zip(mean)
        .zip(rstd)
    {
        let (d, x) = (&d[c0..c0 + w], &x[c0..c0 + w]);
        for (((dw, db), &dv), &xv) in dw.iter_mut().zip(db.iter_mut()).zip(d).zip(x) {
            let norm = (xv - mu) * rs;
            *db += dv;
            *dw += norm * dv;
        }
    }
}
}

/// `C = α·A·B + β·C` over strided views; `unsafe` is confined here, behind bounds checks.
///
/// `a` is `(m,k)` with strides `(rsa, csa)`, `b` is `(k,n)` with `(rsb, csb)`, `c` is `(m,n)` with
/// `(rsc, csc)`; all strides are non-negative and the largest index each view reaches is checked
/// against its slice before the call.
fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    beta: f32,
    c: (&mut [f32], usize, usize),
) -> Result {
    if m == 0 || n == 0 {
        return Ok(());
    }
    let reach = |rows: usize, cols: usize, rs: usize, cs: usize| {
        (rows - 1).checked_mul(rs).and_then(|r| {
            (cols.max(1) - 1)
                .checked_mul(cs)
                .and_then(|q| r.checked_add(q))
        })
    };
    let fits = |what, len: usize, rows, cols, rs, cs| match reach(rows, cols, rs, cs) {
        Some(last) if last < len => Ok(()),
        _ => Err(Error::LengthMismatch {
            what,
            expected: rows * cols,
            got: len,
        }),
    };
    fits("sgemm a", a.0.len(), m, k, a.1, a.2)?;
    fits("sgemm b", b.0.len(), k, n, b.1, b.2)?;
    fits("sgemm c", c.0.len(), m, n, c.1, c.2)?;
    let s = |x: usize| isize::try_from(x).unwrap_or(isize::MAX);
    // SAFETY: every index the kernel reads or writes is `row·rs + col·cs` with `row < rows`,
    // `col < cols`, which is at most the `reach` checked above against each slice's length; the
    // output slice is borrowed mutably, so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.0.as_ptr(),
            s(a.1),
            s(a.2),
            b.0.as_ptr(),
            s(b.1),
            s(b.2),
            beta,
            c.0.as_mut_ptr(),
            s(c.1),
            s(c.2),
        );
    }
    Ok(())
}

/// Matrix product with a transposed weight and an optional bias (a linear layer).
///
/// # Definition
/// `out[n,o] = Σ_c inp[n,c]·weight[o,c] + bias[o]` (`out = inp·Wᵀ + b`), through
/// `matrixmultiply::sgemm`.
///
/// # Shapes
/// `out`: `(N,OC)`; `inp`: `(N,C)`; `weight`: `(OC,C)`; `bias`: `(OC)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::matmul_forward;
/// let mut out = [0.0f32; 2];
/// // One row [1, 2] times W = [[1, 0], [1, 1]]ᵀ plus b = [0.5, 0].
/// matmul_forward(&mut out, &[1.0, 2.0], &[1.0, 0.0, 1.0, 1.0], Some(&[0.5, 0.0]), 1, 2, 2)?;
/// assert_eq!(out, [1.5, 3.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn matmul_forward(
    out: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    n: usize,
    c: usize,
    oc: usize,
) -> Result {
    check("inp", inp.len(), mul("inp", &[n, c])?)?;
    check("weight", weight.len(), mul("weight", &[oc, c])?)?;
    check("out", out.len(), mul("out", &[n, oc])?)?;
    if let Some(bias) = bias {
        check("bias", bias.len(), oc)?;
    }
    if oc == 0 {
        return Ok(());
    }
    match bias {
        Some(bias) => out
            .chunks_exact_mut(oc)
            .for_each(|r| r.copy_from_slice(bias)),
        None => out.fill(0.0),
    }
    if c == 0 {
        return Ok(());
    }
    // out (N×OC) += inp (N×C) · Wᵀ (C×OC); Wᵀ[k,j] = W[j·C + k]: row stride 1, column stride C.
    sgemm(n, c, oc, (inp, c, 1), (weight, 1, c), 1.0, (out, oc, 1))
}

/// Backward of [`matmul_forward`] (accumulates).
///
/// # Definition
/// `dinp += dout·W`, `dweight += doutᵀ·inp`, `dbias += Σ_n dout[n,:]`.
///
/// # Shapes
/// As [`matmul_forward`]; gradients shaped like their values.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::matmul_backward;
/// let (mut dinp, mut dw, mut db) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 1]);
/// matmul_backward(&mut dinp, &mut dw, Some(&mut db), &[2.0], &[1.0, 3.0], &[0.5, -1.0], 1, 2, 1)?;
/// assert_eq!((dinp, dw, db), ([1.0, -2.0], [2.0, 6.0], [2.0]));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn matmul_backward(
    dinp: &mut [f32],
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    inp: &[f32],
    weight: &[f32],
    n: usize,
    c: usize,
    oc: usize,
) -> Result {
    let (nc, occ, noc) = (
        mul("inp", &[n, c])?,
        mul("weight", &[oc, c])?,
        mul("dout", &[n, oc])?,
    );
    check("inp", inp.len(), nc)?;
    check("dinp", dinp.len(), nc)?;
    check("weight", weight.len(), occ)?;
    check("dweight", dweight.len(), occ)?;
    check("dout", dout.len(), noc)?;
    if let Some(db) = dbias.as_deref() {
        check("dbias", db.len(), oc)?;
    }
    if oc == 0 {
        return Ok(());
    }
    if let Some(db) = dbias {
        // A sum over rows: by blocks of columns, each column in row order.
        let cols = blocks(oc, n);
        let items: Vec<_> = split_mut(db, &cols, 1)
            .into_iter()
            .zip(cols.iter().cloned())
            .collect();
        run(items, |(db, cr)| {
            for row in dout.chunks_exact(oc) {
                for (g, &d) in db.iter_mut().zip(&row[cr.clone()]) {
                    *g += d;
                }
            }
        });
    }
    if c == 0 {
        return Ok(());
    }
    // dinp (N×C) += dout (N×OC) · W (OC×C).
    sgemm(n, oc, c, (dout, oc, 1), (weight, c, 1), 1.0, (dinp, c, 1))?;
    // dweight (OC×C) += doutᵀ (OC×N) · inp (N×C); doutᵀ[o,r] = dout[r·OC + o].
    sgemm(oc, n, c, (dout, 1, oc), (inp, c, 1), 1.0, (dweight, c, 1))
}

fn attention_sizes(
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) -> Result<(usize, usize, usize, usize)> {
    if nh == 0 || c % nh != 0 {
        return Err(Error::BadShape {
            what: "attention channels (c must be a multiple of nh)",
            len: c,
            dim: nh,
        });
    }
    Ok((
        mul("qkv", &[b, t, 3, c])?,
        mul("out", &[b, t, c])?,
        mul("att", &[b, nh, t, t])?,
        c / nh,
    ))
}

/// Causal multi-head self-attention (llm.c layout), keeping the scores for the backward pass.
///
/// # Definition
/// For row `(b,t)`, head `h` with `hs = C/NH`: `q`, `k`, `v` are `qkv[b,t, h·hs..]`,
/// `qkv[b,t, C + h·hs..]`, `qkv[b,t, 2C + h·hs..]`;
/// `preatt[b,h,t,s] = q_t·k_s/√hs` and `att = softmax_s(preatt)` for `s ≤ t` (entries `s > t` are
/// written as 0); `out[b,t, h·hs + i] = Σ_{s≤t} att[b,h,t,s]·v_s[i]`.
///
/// # Shapes
/// `out`: `(B,T,C)`; `preatt`, `att`: `(B,NH,T,T)`; `qkv`: `(B,T,3C)`.
///
/// # Errors
/// [`Error::BadShape`] unless `nh ≥ 1` divides `c`; [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::attention_forward;
/// // B = 1, T = 2, C = 1, NH = 1: q = k = 0, so the second token averages both values.
/// let qkv = [0.0, 0.0, 2.0, 0.0, 0.0, 4.0];
/// let (mut out, mut pre, mut att) = ([0.0f32; 2], [0.0f32; 4], [0.0f32; 4]);
/// attention_forward(&mut out, &mut pre, &mut att, &qkv, 1, 2, 1, 1)?;
/// assert_eq!(out, [2.0, 3.0]);
/// assert_eq!(att, [1.0, 0.0, 0.5, 0.5]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn attention_forward(
    out: &mut [f32],
    preatt: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) -> Result {
    let (n_qkv, n_out, n_att, hs) = attention_sizes(b, t, c, nh)?;
    check("qkv", qkv.len(), n_qkv)?;
    check("out", out.len(), n_out)?;
    check("preatt", preatt.len(), n_att)?;
    check("att", att.len(), n_att)?;
    if b == 0 || t == 0 || c == 0 {
        return Ok(());
    }
    let bl = blocks(b, nh * t * t * hs);
    let items: Vec<_> = split_mut(out, &bl, t * c)
        .into_iter()
        .zip(split_mut(preatt, &bl, nh * t * t))
        .zip(split_mut(att, &bl, nh * t * t))
        .zip(split(qkv, &bl, t * 3 * c))
        .collect();
    run(items, |(((out, preatt), att), qkv)| {
        let mut hd = HeadScratch::new(t, hs);
        for (((out_b, pre_b), att_b), qkv_b) in out
            .chunks_exact_mut(t * c)
            .zip(preatt.chunks_exact_mut(nh * t * t))
            .zip(att.chunks_exact_mut(nh * t * t))
            .zip(qkv.chunks_exact(t * 3 * c))
        {
            attention_forward_seq(out_b, pre_b, att_b, qkv_b, t, c, nh, &mut hd);
        }
    });
    Ok(())
}

/// Per-thread scratch of the attention kernels: one head's keys and values, row-major `(T, hs)`
/// and transposed `(hs, T)`, and the key/value gradients of one head `(T, hs)`.
#[derive(Default)]
struct HeadScratch {
    k: Vec<f32>,
    kt: Vec<f32>,
    v: Vec<f32>,
    vt: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
}

impl HeadScratch {
    fn new(t: usize, hs: usize) -> Self {
        let z = || vec![0.0f32; t * hs];
        Self {
            k: z(),
            kt: z(),
            v: z(),
            vt: z(),
            dk: z(),
            dv: z(),
        }
    }

    /// Copies head `h`'s keys and values of one sequence out of `qkv (T, 3C)` (one loop writing all
    /// four layouts: `hs` is a few floats, where a `memcpy` call per row costs more than the copy).
    fn load(&mut self, qkv_b: &[f32], t: usize, c: usize, h: usize, hs: usize) {
        for s in 0..t {
            let k = &qkv_b[s * 3 * c + c + h * hs..][..hs];
            let v = &qkv_b[s * 3 * c + 2 * c + h * hs..][..hs];
            let (kr, vr) = (&mut self.k[s * hs..][..hs], &mut self.v[s * hs..][..hs]);
            for i in 0..hs {
                kr[i] = k[i];
                vr[i] = v[i];
                self.kt[i * t + s] = k[i];
                self.vt[i * t + s] = v[i];
            }
        }
    }
}

/// `y[..] = a·x[..]` (vectorizes; no `memset` call for a tiny `y`).
#[inline(always)]
fn scale_into(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = a * x;
    }
}

/// `y[..] += a·x[..]` (vectorizes).
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `out[s] (+)= Σ_i w[i]·mt[i·t + s]` for `s < out.len()`: a vector times a transposed `(hs, T)`
/// matrix, as `hs` vectorized `axpy`s over `s`; `accumulate = false` overwrites `out`.
#[inline(always)]
fn gemv_t(out: &mut [f32], w: &[f32], mt: &[f32], t: usize, accumulate: bool) {
    let n = out.len();
    for (i, &wi) in w.iter().enumerate() {
        let row = &mt[i * t..i * t + n];
        if i == 0 && !accumulate {
            scale_into(out, wi, row);
        } else {
            axpy(out, wi, row);
        }
    }
}

with_avx2! {
/// [`attention_forward`] for one sequence (`B = 1`). The loops run over keys (`s`) or channels
/// (`i`) innermost, on contiguous copies of the head's keys and values, so that they vectorize.
fn attention_forward_seq(
    out_b: &mut [f32],
    pre_b: &mut [f32],
    att_b: &mut [f32],
    qkv_b: &[f32],
    t: usize,
    c: usize,
    nh: usize,
    hd: &mut HeadScratch,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    let c3 = 3 * c;
    // Entries above the causal diagonal are 0: one fill per sequence, then only s ≤ ti is written.
    pre_b.fill(0.0);
    att_b.fill(0.0);
    for h in 0..nh {
        hd.load(qkv_b, t, c, h, hs);
        for ti in 0..t {
            let q = &qkv_b[ti * c3 + h * hs..][..hs];
            let valid = &mut pre_b[(h * t + ti) * t..][..=ti];
            let av = &mut att_b[(h * t + ti) * t..][..=ti];
            // Scores q·k_s for s ≤ ti, then the scale.
            gemv_t(valid, q, &hd.kt, t, false);
            let mut maxv = f32::NEG_INFINITY;
            for p in valid.iter_mut() {
                *p *= scale;
                maxv = maxv.max(*p);
            }
            // The exponentials in one loop (vectorizes), their sum in another (in order).
            for (e, &p) in av.iter_mut().zip(valid.iter()) {
                *e = exp_f32(p - maxv);
            }
            let sum: f32 = av.iter().sum();
            let inv = 1.0 / sum;
            av.iter_mut().for_each(|v| *v *= inv);
            let o = &mut out_b[ti * c + h * hs..][..hs];
            scale_into(o, av[0], &hd.v[..hs]);
            for (s, &w) in av.iter().enumerate().skip(1) {
                axpy(o, w, &hd.v[s * hs..(s + 1) * hs]);
            }
        }
    }
}
}

/// Backward of [`attention_forward`] (accumulates into `dqkv`, `dpreatt` and `datt`).
///
/// # Definition
/// `datt[s] += v_s·dout_t`, `dv_s += att[s]·dout_t`; softmax:
/// `dpreatt[s] += att[s]·(datt[s] − Σ_u att[u]·datt[u])`; scores:
/// `dq_t += Σ_s dpreatt[s]·k_s/√hs`, `dk_s += dpreatt[s]·q_t/√hs` (all for `s ≤ t`).
///
/// # Shapes
/// As [`attention_forward`]; `dqkv` like `qkv`, `dpreatt`, `datt` like `att`.
///
/// # Errors
/// As [`attention_forward`].
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::attention_backward;
/// // T = 1: the output is v itself, so dv = dout and dq = dk = 0.
/// let (mut dqkv, mut dpre, mut datt) = ([0.0f32; 3], [0.0f32; 1], [0.0f32; 1]);
/// attention_backward(&mut dqkv, &mut dpre, &mut datt, &[2.0], &[0.3, 0.7, 5.0], &[1.0], 1, 1, 1, 1)?;
/// assert_eq!(dqkv, [0.0, 0.0, 2.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn attention_backward(
    dqkv: &mut [f32],
    dpreatt: &mut [f32],
    datt: &mut [f32],
    dout: &[f32],
    qkv: &[f32],
    att: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) -> Result {
    let (n_qkv, n_out, n_att, hs) = attention_sizes(b, t, c, nh)?;
    check("qkv", qkv.len(), n_qkv)?;
    check("dqkv", dqkv.len(), n_qkv)?;
    check("dout", dout.len(), n_out)?;
    check("att", att.len(), n_att)?;
    check("dpreatt", dpreatt.len(), n_att)?;
    check("datt", datt.len(), n_att)?;
    if b == 0 || t == 0 || c == 0 {
        return Ok(());
    }
    let bl = blocks(b, 2 * nh * t * t * hs);
    let items: Vec<_> = split_mut(dqkv, &bl, t * 3 * c)
        .into_iter()
        .zip(split_mut(dpreatt, &bl, nh * t * t))
        .zip(split_mut(datt, &bl, nh * t * t))
        .zip(split(dout, &bl, t * c))
        .zip(
            split(qkv, &bl, t * 3 * c)
                .into_iter()
                .zip(split(att, &bl, nh * t * t)),
        )
        .collect();
    run(items, |((((dqkv, dpreatt), datt), dout), (qkv, att))| {
        let mut hd = HeadScratch::new(t, hs);
        for ((((dqkv_b, dpre_b), datt_b), (dout_b, qkv_b)), att_b) in dqkv
            .chunks_exact_mut(t * 3 * c)
            .zip(dpreatt.chunks_exact_mut(nh * t * t))
            .zip(datt.chunks_exact_mut(nh * t * t))
            .zip(dout.chunks_exact(t * c).zip(qkv.chunks_exact(t * 3 * c)))
            .zip(att.chunks_exact(nh * t * t))
        {
            attention_backward_seq(
                dqkv_b, dpre_b, datt_b, dout_b, qkv_b, att_b, t, c, nh, &mut hd,
            );
        }
    });
    Ok(())
}

with_avx2! {
/// [`attention_backward`] for one sequence (`B = 1`), with the same vectorizable loop order as
/// [`attention_forward_seq`]; the key and value gradients of a head gather in the scratch and are
/// added to `dqkv` once per head.
fn attention_backward_seq(
    dqkv_b: &mut [f32],
    dpre_b: &mut [f32],
    datt_b: &mut [f32],
    dout_b: &[f32],
    qkv_b: &[f32],
    att_b: &[f32],
    t: usize,
    c: usize,
    nh: usize,
    hd: &mut HeadScratch,
) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    let c3 = 3 * c;
    for h in 0..nh {
        hd.load(qkv_b, t, c, h, hs);
        hd.dk.fill(0.0);
        hd.dv.fill(0.0);
        for ti in 0..t {
            let row = (h * t + ti) * t;
            let a = &att_b[row..][..=ti];
            let da = &mut datt_b[row..][..=ti];
            let dpre = &mut dpre_b[row..][..=ti];
            let d_o = &dout_b[ti * c + h * hs..][..hs];
            // Through the weighted sum of values: datt[s] += v_s·dout, dv_s += att[s]·dout.
            gemv_t(da, d_o, &hd.vt, t, true);
            for (s, &w) in a.iter().enumerate() {
                axpy(&mut hd.dv[s * hs..(s + 1) * hs], w, d_o);
            }
            // Through the softmax.
            let dot: f32 = a.iter().zip(da.iter()).map(|(x, y)| x * y).sum();
            for ((dp, &av), &dav) in dpre.iter_mut().zip(a).zip(da.iter()) {
                *dp += av * (dav - dot);
            }
            // Through the scaled scores q·k: dq += Σ_s g_s·k_s, dk_s += g_s·q.
            let (q, dq) = (
                &qkv_b[ti * c3 + h * hs..][..hs],
                &mut dqkv_b[ti * c3 + h * hs..][..hs],
            );
            for (s, &dp) in dpre.iter().enumerate() {
                let g = dp * scale;
                axpy(dq, g, &hd.k[s * hs..(s + 1) * hs]);
                axpy(&mut hd.dk[s * hs..(s + 1) * hs], g, q);
            }
        }
        for s in 0..t {
            let row = &mut dqkv_b[s * c3..(s + 1) * c3];
            for (g, &d) in row[c + h * hs..c + (h + 1) * hs]
                .iter_mut()
                .zip(&hd.dk[s * hs..(s + 1) * hs])
            {
                *g += d;
            }
            for (g, &d) in row[2 * c + h * hs..2 * c + (h + 1) * hs]
                .iter_mut()
                .zip(&hd.dv[s * hs..(s + 1) * hs])
            {
                *g += d;
            }
        }
    }
}
}

/// GELU, tanh approximation (GPT-2's).
///
/// # Definition
/// `gelu(x) = ½·x·(1 + tanh(u))`, `u = √(2/π)·(x + 0.044715·x³)`, computed as the equal
/// `x·σ(2u) = x / (1 + e^{−2u})` with [`exp_f32`].
///
/// # Shapes
/// `out`, `inp`: `(N)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::gelu_forward;
/// let mut out = [0.0f32; 2];
/// gelu_forward(&mut out, &[0.0, 1.0], 2)?;
/// assert_eq!(out[0], 0.0);
/// assert!((out[1] - 0.841_192).abs() < 1e-5);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn gelu_forward(out: &mut [f32], inp: &[f32], n: usize) -> Result {
    check("inp", inp.len(), n)?;
    check("out", out.len(), n)?;
    let b = blocks(n, 1);
    let items: Vec<_> = split_mut(out, &b, 1)
        .into_iter()
        .zip(split(inp, &b, 1))
        .collect();
    run(items, |(out, inp)| gelu_forward_rows(out, inp));
    Ok(())
}

/// `σ(2u)` of GELU's tanh form, `u = √(2/π)·(x + 0.044715·x³)`.
#[inline(always)]
fn gelu_gate(x: f32) -> f32 {
    let u = GELU_SCALE * (x + 0.044_715 * x * x * x);
    1.0 / (1.0 + exp_f32(-2.0 * u))
}

with_avx2! {
fn gelu_forward_rows(out: &mut [f32], inp: &[f32]) {
    for (o, &x) in out.iter_mut().zip(inp) {
        *o = x * gelu_gate(x);
    }
}
}

/// Backward of [`gelu_forward`] (accumulates).
///
/// # Definition
/// With `u = √(2/π)·(x + 0.044715·x³)` and `s = σ(2u) = ½(1 + tanh u)`:
/// `gelu'(x) = s + 2·x·s·(1 − s)·√(2/π)·(1 + 3·0.044715·x²)` (the same as
/// `½(1 + tanh u) + ½·x·sech²(u)·u'`); `dinp += gelu'(x)·dout`.
///
/// # Shapes
/// `dinp`, `inp`, `dout`: `(N)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::gelu_backward;
/// let mut d = [1.0f32];
/// gelu_backward(&mut d, &[0.0], &[2.0], 1)?;
/// assert_eq!(d, [2.0]); // 1 + gelu'(0)·2 = 1 + 0.5·2
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn gelu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32], n: usize) -> Result {
    check("inp", inp.len(), n)?;
    check("dout", dout.len(), n)?;
    check("dinp", dinp.len(), n)?;
    let b = blocks(n, 1);
    let items: Vec<_> = split_mut(dinp, &b, 1)
        .into_iter()
        .zip(split(inp, &b, 1).into_iter().zip(split(dout, &b, 1)))
        .collect();
    run(items, |(dinp, (inp, dout))| {
        gelu_backward_rows(dinp, inp, dout)
    });
    Ok(())
}

with_avx2! {
fn gelu_backward_rows(dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
    for ((d, &x), &g) in dinp.iter_mut().zip(inp).zip(dout) {
        let s = gelu_gate(x);
        let du = GELU_SCALE * (1.0 + 3.0 * 0.044_715 * x * x);
        *d += (s + 2.0 * x * s * (1.0 - s) * du) * g;
    }
}
}

/// Elementwise sum (a residual connection).
///
/// # Definition
/// `out = a + b_`.
///
/// # Shapes
/// `out`, `a`, `b_`: `(N)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::residual_forward;
/// let mut out = [0.0f32; 2];
/// residual_forward(&mut out, &[1.0, 2.0], &[0.5, 0.5], 2)?;
/// assert_eq!(out, [1.5, 2.5]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn residual_forward(out: &mut [f32], a: &[f32], b_: &[f32], n: usize) -> Result {
    check("a", a.len(), n)?;
    check("b", b_.len(), n)?;
    check("out", out.len(), n)?;
    let bl = blocks(n, 1);
    let items: Vec<_> = split_mut(out, &bl, 1)
        .into_iter()
        .zip(split(a, &bl, 1).into_iter().zip(split(b_, &bl, 1)))
        .collect();
    run(items, |(out, (a, b_))| {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b_) {
            *o = x + y;
        }
    });
    Ok(())
}

/// Backward of [`residual_forward`]: `da += dout`, `db += dout`.
///
/// # Shapes
/// `da`, `db`, `dout`: `(N)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::residual_backward;
/// let (mut da, mut db) = ([1.0f32], [0.0f32]);
/// residual_backward(&mut da, &mut db, &[2.0], 1)?;
/// assert_eq!((da, db), ([3.0], [2.0]));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn residual_backward(da: &mut [f32], db: &mut [f32], dout: &[f32], n: usize) -> Result {
    check("da", da.len(), n)?;
    check("db", db.len(), n)?;
    check("dout", dout.len(), n)?;
    for ((x, y), &g) in da.iter_mut().zip(db.iter_mut()).zip(dout) {
        *x += g;
        *y += g;
    }
    Ok(())
}

/// One `AdamW` step (Loshchilov & Hutter's decoupled weight decay), in place.
///
/// # Definition
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`,
/// `θ ← θ − lr·(m̂/(√v̂ + ε) + λ·θ)` with `t = step ≥ 1` (llm.c's `gpt2_update`).
///
/// # Shapes
/// `params`, `grads`, `m`, `v`: `(N)`.
///
/// # Errors
/// [`Error::LengthMismatch`] for wrong lengths; [`Error::InvalidParam`] for `step = 0`.
///
/// # Examples
/// ```
/// use rewardkit_trainer::ops::adamw;
/// let (mut p, mut m, mut v) = ([1.0f32], [0.0f32], [0.0f32]);
/// adamw(&mut p, &[0.5], &mut m, &mut v, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, 1)?;
/// assert!((p[0] - 0.9).abs() < 1e-6); // the first step moves by lr·sign(g)
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Reference: Loshchilov & Hutter (2019), *Decoupled Weight Decay Regularization*, arXiv:1711.05101.
pub fn adamw(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    n: usize,
) -> Result {
    check("params", params.len(), n)?;
    check("grads", grads.len(), n)?;
    check("m", m.len(), n)?;
    check("v", v.len(), n)?;
    if step == 0 {
        return Err(Error::InvalidParam {
            name: "step",
            value: 0.0,
            expected: "a step count >= 1",
        });
    }
    let exp = i32::try_from(step).unwrap_or(i32::MAX);
    let c1 = 1.0 - beta1.powi(exp);
    let c2 = 1.0 - beta2.powi(exp);
    let bl = blocks(n, 4);
    let items: Vec<_> = split_mut(params, &bl, 1)
        .into_iter()
        .zip(split(grads, &bl, 1))
        .zip(split_mut(m, &bl, 1).into_iter().zip(split_mut(v, &bl, 1)))
        .collect();
    run(items, |((params, grads), (m, v))| {
        for (((p, &g), mm), vv) in params
            .iter_mut()
            .zip(grads)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            *mm = beta1 * *mm + (1.0 - beta1) * g;
            *vv = beta2 * *vv + (1.0 - beta2) * g * g;
            let mhat = *mm / c1;
            let vhat = *vv / c2;
            *p -= lr * (mhat / (vhat.sqrt() + eps) + weight_decay * *p);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;
