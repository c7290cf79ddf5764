//! The transformer's kernels, llm.c style (`encoder.wgsl`, `token_sort.wgsl`,
//! `encoder_backward.wgsl`, `layernorm.wgsl`, `layernorm_backward.wgsl`, `column_sum.wgsl`,
//! `attention.wgsl`, `attention_backward.wgsl`, `gelu.wgsl`, `residual.wgsl`, `adamw.wgsl`).
//!
//! Every method has the name, argument order and semantics of its CPU reference in
//! `rewardkit_trainer::ops` (outputs, then inputs, then sizes), with device buffers instead of
//! slices, and checks the same lengths and shapes first, returning the same
//! [`rewardkit_core::Error`] variants (wrapped in [`GpuError::Core`]). Backward methods accumulate
//! (`+=`) into their gradients, without atomics: every gradient entry has one writer per dispatch
//! and every sum a fixed order, so results are deterministic run to run.
//!
//! Token ids live on the device, so they cannot be checked against `V` here: upload them with
//! [`GpuContext::upload_ids`] (which returns `TokenOutOfRange` like the CPU ops); the kernels clamp
//! ids to `V − 1` instead of reading out of bounds.

use bytemuck::{Pod, Zeroable};
use rewardkit_core::Error;
use rewardkit_shaders::{
    ADAMW, ATTENTION_BACKWARD_COLS, ATTENTION_BACKWARD_ROWS, ATTENTION_FORWARD, COLUMN_PARTIALS,
    COLUMN_SUM, ENCODER_BACKWARD_WPE, ENCODER_BACKWARD_WTE, ENCODER_FORWARD, GELU_BACKWARD,
    GELU_FORWARD, LAYERNORM_BACKWARD, LAYERNORM_FORWARD, LAYERNORM_PARAM_PARTIALS,
    RESIDUAL_BACKWARD, RESIDUAL_FORWARD, TOKEN_SORT_GLOBAL, TOKEN_SORT_INIT, TOKEN_SORT_LOCAL,
    TOKEN_SORT_LOCAL_INIT,
};

use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

/// `a·b·…` or `TooLarge` on overflow (the CPU ops' `mul`).
fn mul(what: &'static str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or(GpuError::Core(Error::TooLarge {
            what,
            len: usize::MAX,
            max: usize::MAX,
        }))
}

/// Rows of a `(rows, c)` table, `BadShape` for `c = 0` or a length not a multiple of `c`.
fn table_rows(what: &'static str, len: usize, c: usize) -> Result<usize> {
    if c == 0 || len % c != 0 {
        return Err(GpuError::Core(Error::BadShape { what, len, dim: c }));
    }
    Ok(len / c)
}

/// Threads per workgroup for a loop over `n` items: the next power of two in `[32, 256]`.
fn wg_for(n: usize) -> f64 {
    n.next_power_of_two().clamp(32, 256) as f64
}

/// Workgroups for `n` elements at 256 per workgroup, as a 2-D grid.
fn elementwise_grid(n: u32) -> [u32; 3] {
    grid(n.div_ceil(256))
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ElemParams {
    n: u32,
    grid_x: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct EncoderParams {
    n: u32,
    seq_len: u32,
    channels: u32,
    vocab: u32,
    grid_x: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct SortParams {
    n: u32,
    size: u32,
    k: u32,
    j: u32,
    vocab: u32,
    grid_x: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct EncoderBackwardParams {
    n_tok: u32,
    seq_len: u32,
    channels: u32,
    n_pos: u32,
    grid_x: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct LayerNormParams {
    n_rows: u32,
    channels: u32,
    grid_x: u32,
    rows_per_chunk: u32,
    n_chunks: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ColumnSumParams {
    rows: u32,
    cols: u32,
    stride: u32,
    offset: u32,
    grid_x: u32,
    rows_per_chunk: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct AttentionParams {
    n_rows: u32,
    t: u32,
    c: u32,
    nh: u32,
    hs: u32,
    grid_x: u32,
    scale: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct AdamParams {
    n: u32,
    grid_x: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    c1: f32,
    c2: f32,
}

/// The keys per workgroup of the token sort's local steps.
const SORT_BLOCK: usize = 512;

/// Chunks of rows for the two-stage parameter-gradient sums.
const MAX_CHUNKS: usize = 256;

/// `(n, t, c)` checks of the embedding ops, shared by forward and backward: `(V, maxT, B·T)`.
fn encoder_sizes(
    names: [&'static str; 3],
    wte: usize,
    wpe: usize,
    tokens: usize,
    out: usize,
    b: usize,
    t: usize,
    c: usize,
) -> Result<(usize, usize)> {
    let [te, pe, o] = names;
    let vocab = table_rows(te, wte, c)?;
    let max_t = table_rows(pe, wpe, c)?;
    if max_t < t {
        return Err(GpuError::Core(Error::LengthMismatch {
            what: pe,
            expected: t * c,
            got: wpe,
        }));
    }
    let n_tok = mul("tokens", &[b, t])?;
    check_len("tokens", n_tok, tokens)?;
    check_len(o, mul(o, &[b, t, c])?, out)?;
    if vocab == 0 && n_tok > 0 {
        // Every token is out of range of an empty vocabulary (the CPU op names the first one;
        // the ids are on the device here).
        return Err(GpuError::Core(Error::Empty { what: te }));
    }
    Ok((vocab, n_tok))
}

/// The CPU op's shape checks of attention: `(qkv, out, att)` lengths and `n_rows = B·NH·T`.
fn attention_sizes(b: usize, t: usize, c: usize, nh: usize) -> Result<[usize; 4]> {
    if nh == 0 || c % nh != 0 {
        return Err(GpuError::Core(Error::BadShape {
            what: "attention channels (c must be a multiple of nh)",
            len: c,
            dim: nh,
        }));
    }
    Ok([
        mul("qkv", &[b, t, 3, c])?,
        mul("out", &[b, t, c])?,
        mul("att", &[b, nh, t, t])?,
        mul("rows", &[b, nh, t])?,
    ])
}

impl GpuContext {
    fn attention_params(
        &self,
        n_rows: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<AttentionParams> {
        let hs = c / nh;
        let nr = u32_of("attention rows", n_rows)?;
        u32_of("att", n_rows * t)?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "as the CPU op: 1/√hs in f32 for a small head size"
        )]
        let scale = 1.0 / (hs as f32).sqrt();
        Ok(AttentionParams {
            n_rows: nr,
            t: u32_of("t", t)?,
            c: u32_of("c", c)?,
            nh: u32_of("nh", nh)?,
            hs: u32_of("hs", hs)?,
            grid_x: grid(nr)[0],
            scale,
        })
    }

    /// Token plus position embedding (llm.c's `encoder_forward`).
    ///
    /// # Definition
    /// `out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]`; `V` and `maxT` from the lengths of `wte` and
    /// `wpe` (`len/c`). Exact (one `f32` addition per element, as the CPU op).
    ///
    /// # Shapes
    /// `out`: `(B,T,C)`; `tokens`: `(B,T)`; `wte`: `(V,C)`; `wpe`: `(maxT,C)` with `maxT ≥ T`.
    ///
    /// # Errors
    /// As `rewardkit_trainer::ops::encoder_forward`: [`GpuError::Core`] with `LengthMismatch`
    /// (also for `maxT < T`), `BadShape` (`c = 0`, a table length not a multiple of `c`); `Empty`
    /// for an empty `wte` with tokens. Token ids are checked by [`GpuContext::upload_ids`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (wte, wpe) = (ctx.upload(&[1.0f32, 2.0, 3.0, 4.0])?, ctx.upload(&[10.0f32, 20.0, 30.0, 40.0])?);
    /// let tokens = ctx.upload_ids(&[1, 0], 2)?;
    /// let out = ctx.zeros::<f32>(4)?;
    /// ctx.encoder_forward(&out, &tokens, &wte, &wpe, 1, 2, 2)?;
    /// assert_eq!(ctx.read_blocking(&out)?, vec![13.0, 24.0, 31.0, 42.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`encoder_forward`).
    pub fn encoder_forward(
        &self,
        out: &GpuBuffer<f32>,
        tokens: &GpuBuffer<u32>,
        wte: &GpuBuffer<f32>,
        wpe: &GpuBuffer<f32>,
        b: usize,
        t: usize,
        c: usize,
    ) -> Result<()> {
        let (vocab, _) = encoder_sizes(
            ["wte", "wpe", "out"],
            wte.len(),
            wpe.len(),
            tokens.len(),
            out.len(),
            b,
            t,
            c,
        )?;
        let n = u32_of("out", out.len())?;
        let g = elementwise_grid(n);
        let p = EncoderParams {
            n,
            seq_len: u32_of("t", t)?,
            channels: u32_of("c", c)?,
            vocab: u32_of("vocab", vocab)?,
            grid_x: g[0],
        };
        self.dispatch(
            &ENCODER_FORWARD,
            &[],
            &[&out.raw, &tokens.raw, &wte.raw, &wpe.raw],
            super::bytes(&p),
            g,
        )
    }

    /// Backward of [`GpuContext::encoder_forward`], accumulating (llm.c's `encoder_backward`),
    /// deterministic and without atomics.
    ///
    /// # Definition
    /// `dwte[tokens[b,t],:] += dout[b,t,:]`, `dwpe[t,:] += dout[b,t,:]`.
    ///
    /// The token buckets come from a bitonic sort of the keys `(id, position)` on the device
    /// (`token_sort.wgsl`, `O(S log² S)` work for `S = max(512, next_pow2(B·T))`); then one
    /// workgroup per run of equal ids sums the run's rows in position order and adds the sum
    /// into its row of `dwte` (one writer per row). `dwpe` is a sum over `b` per `(t, c)`.
    ///
    /// # Shapes
    /// As [`GpuContext::encoder_forward`], with `dwte`, `dwpe` shaped like `wte`, `wpe`.
    ///
    /// # Errors
    /// As [`GpuContext::encoder_forward`]; [`GpuError::TooLarge`] when the sort keys exceed the
    /// device's binding size.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (dwte, dwpe) = (ctx.zeros::<f32>(4)?, ctx.zeros::<f32>(4)?);
    /// let dout = ctx.upload(&[1.0f32, 2.0, 3.0, 4.0])?;
    /// let tokens = ctx.upload_ids(&[1, 1], 2)?;
    /// ctx.encoder_backward(&dwte, &dwpe, &dout, &tokens, 1, 2, 2)?;
    /// assert_eq!(ctx.read_blocking(&dwte)?, vec![0.0, 0.0, 4.0, 6.0]);
    /// assert_eq!(ctx.read_blocking(&dwpe)?, vec![1.0, 2.0, 3.0, 4.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`encoder_backward`); the atomics-free bucketing follows
    /// llm.c's deterministic CUDA `encoder_backward` (which buckets on the host).
    pub fn encoder_backward(
        &self,
        dwte: &GpuBuffer<f32>,
        dwpe: &GpuBuffer<f32>,
        dout: &GpuBuffer<f32>,
        tokens: &GpuBuffer<u32>,
        b: usize,
        t: usize,
        c: usize,
    ) -> Result<()> {
        let (vocab, n_tok) = encoder_sizes(
            ["dwte", "dwpe", "dout"],
            dwte.len(),
            dwpe.len(),
            tokens.len(),
            dout.len(),
            b,
            t,
            c,
        )?;
        if n_tok == 0 {
            return Ok(());
        }
        u32_of("dout", dout.len())?;
        let keys = self.token_buckets(tokens, vocab)?;
        let nt = u32_of("tokens", n_tok)?;
        let n_pos = u32_of("dwpe", t * c)?;
        let bp = |groups: [u32; 3]| -> Result<EncoderBackwardParams> {
            Ok(EncoderBackwardParams {
                n_tok: nt,
                seq_len: u32_of("t", t)?,
                channels: u32_of("c", c)?,
                n_pos,
                grid_x: groups[0],
            })
        };
        let bufs = [&dwte.raw, &dwpe.raw, &dout.raw, &keys.raw];
        let g = grid(nt);
        self.dispatch(
            &ENCODER_BACKWARD_WTE,
            &[("WG", wg_for(c))],
            &bufs,
            super::bytes(&bp(g)?),
            g,
        )?;
        let g = elementwise_grid(n_pos);
        self.dispatch(&ENCODER_BACKWARD_WPE, &[], &bufs, super::bytes(&bp(g)?), g)
    }

    /// The token buckets of the embedding backward: the pairs `(min(id, V − 1), position)` of
    /// `tokens`, sorted by id, then position, on the device (a bitonic sort, `token_sort.wgsl`),
    /// so each id's positions form one contiguous run in ascending order.
    ///
    /// # Definition
    /// `keys[2i], keys[2i + 1]` = the `i`-th smallest pair for `i < n`; then padding pairs
    /// `(u32::MAX, u32::MAX)` up to `S = max(512, next_pow2(n))` pairs. Deterministic (the pairs are
    /// distinct, so the order is unique).
    ///
    /// # Shapes
    /// `tokens`: `(n)`; result: `(2·S)` `u32`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`Empty`) for `vocab = 0` with tokens; [`GpuError::TooLarge`] beyond the
    /// device's binding size or 32-bit indexing.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let tokens = ctx.upload_ids(&[2, 0, 2], 3)?;
    /// let keys = ctx.read_blocking(&ctx.token_buckets(&tokens, 3)?)?;
    /// assert_eq!(&keys[..6], &[0, 1, 2, 0, 2, 2]);
    /// # Ok(()) }
    /// ```
    pub fn token_buckets(&self, tokens: &GpuBuffer<u32>, vocab: usize) -> Result<GpuBuffer<u32>> {
        let n_tok = tokens.len();
        if vocab == 0 && n_tok > 0 {
            return Err(GpuError::Core(Error::Empty { what: "vocabulary" }));
        }
        let size = n_tok.next_power_of_two().max(SORT_BLOCK);
        let keys = self.zeros::<u32>(2 * size)?;
        let sp = |k: usize, j: usize, groups: u32| -> Result<SortParams> {
            Ok(SortParams {
                n: u32_of("tokens", n_tok)?,
                size: u32_of("sort keys", size)?,
                k: u32_of("k", k)?,
                j: u32_of("j", j)?,
                vocab: u32_of("vocab", vocab)?,
                grid_x: grid(groups)[0],
            })
        };
        let size32 = u32_of("sort keys", size)?;
        let (g_elem, g_block, g_pair) = (size32 / 256, size32 / 512, size32 / 2 / 256);
        let bufs = [&keys.raw, &tokens.raw];
        self.dispatch(
            &TOKEN_SORT_INIT,
            &[],
            &bufs,
            super::bytes(&sp(0, 0, g_elem)?),
            grid(g_elem),
        )?;
        self.dispatch(
            &TOKEN_SORT_LOCAL_INIT,
            &[],
            &bufs,
            super::bytes(&sp(0, 0, g_block)?),
            grid(g_block),
        )?;
        let mut k = 2 * SORT_BLOCK;
        while k <= size {
            let mut j = k / 2;
            while j >= SORT_BLOCK {
                self.dispatch(
                    &TOKEN_SORT_GLOBAL,
                    &[],
                    &bufs,
                    super::bytes(&sp(k, j, g_pair)?),
                    grid(g_pair),
                )?;
                j /= 2;
            }
            self.dispatch(
                &TOKEN_SORT_LOCAL,
                &[],
                &bufs,
                super::bytes(&sp(k, 0, g_block)?),
                grid(g_block),
            )?;
            k *= 2;
        }
        Ok(keys)
    }

    /// `LayerNorm` over the last dimension, with the statistics for the backward (llm.c's
    /// `layernorm_forward`).
    ///
    /// # Definition
    /// `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased), `r = 1/√(σ² + ε)` with `ε = 1e-5`,
    /// `out = (x − μ)·r·weight + bias`; `mean[i] = μ`, `rstd[i] = r`. One workgroup per row;
    /// `f32` tree sums, the mean shifted by the row's first value (a constant row gives
    /// `out = bias` exactly, as the CPU op).
    ///
    /// # Shapes
    /// `out`, `inp`: `(N,C)`; `mean`, `rstd`: `(N)`; `weight`, `bias`: `(C)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`), as the CPU op.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (out, mean, rstd) = (ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(1)?, ctx.zeros::<f32>(1)?);
    /// let (x, w, b) = (ctx.upload(&[1.0f32, 3.0])?, ctx.upload(&[1.0f32, 1.0])?, ctx.upload(&[0.0f32, 0.5])?);
    /// ctx.layernorm_forward(&out, &mean, &rstd, &x, &w, &b, 1, 2)?;
    /// assert_eq!(ctx.read_blocking(&mean)?, vec![2.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`layernorm_forward`).
    pub fn layernorm_forward(
        &self,
        out: &GpuBuffer<f32>,
        mean: &GpuBuffer<f32>,
        rstd: &GpuBuffer<f32>,
        inp: &GpuBuffer<f32>,
        weight: &GpuBuffer<f32>,
        bias: &GpuBuffer<f32>,
        n: usize,
        c: usize,
    ) -> Result<()> {
        let nc = mul("inp", &[n, c])?;
        check_len("inp", nc, inp.len())?;
        check_len("out", nc, out.len())?;
        check_len("mean", n, mean.len())?;
        check_len("rstd", n, rstd.len())?;
        check_len("weight", c, weight.len())?;
        check_len("bias", c, bias.len())?;
        if c == 0 || n == 0 {
            return Ok(());
        }
        u32_of("inp", nc)?;
        let nr = u32_of("rows", n)?;
        let g = grid(nr);
        let p = LayerNormParams {
            n_rows: nr,
            channels: u32_of("c", c)?,
            grid_x: g[0],
            rows_per_chunk: 0,
            n_chunks: 0,
        };
        self.dispatch(
            &LAYERNORM_FORWARD,
            &[("WG", wg_for(c))],
            &[
                &out.raw,
                &mean.raw,
                &rstd.raw,
                &inp.raw,
                &weight.raw,
                &bias.raw,
            ],
            super::bytes(&p),
            g,
        )
    }

    /// Backward of [`GpuContext::layernorm_forward`], accumulating (llm.c's
    /// `layernorm_backward`), deterministic and without atomics.
    ///
    /// # Definition
    /// With `x̂ = (x − μ)·r` and `g = weight ⊙ dout`: `dbias += Σₙ dout`, `dweight += Σₙ x̂ ⊙ dout`,
    /// `dinp += r·(g − mean(g) − x̂·mean(g ⊙ x̂))`. `dinp`: one workgroup per row; `dweight`,
    /// `dbias`: partial sums over at most 256 chunks of rows, then the chunks in order
    /// (`column_sum.wgsl`).
    ///
    /// # Shapes
    /// As [`GpuContext::layernorm_forward`]; gradients shaped like their values.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`), as the CPU op.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (dinp, dw, db) = (ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(2)?);
    /// let dout = ctx.upload(&[-1.0f32, 1.0])?;
    /// let (x, w) = (ctx.upload(&[1.0f32, 3.0])?, ctx.upload(&[1.0f32, 1.0])?);
    /// let (mean, rstd) = (ctx.upload(&[2.0f32])?, ctx.upload(&[1.0f32])?);
    /// ctx.layernorm_backward(&dinp, &dw, &db, &dout, &x, &w, &mean, &rstd, 1, 2)?;
    /// assert_eq!(ctx.read_blocking(&db)?, vec![-1.0, 1.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`layernorm_backward`).
    pub fn layernorm_backward(
        &self,
        dinp: &GpuBuffer<f32>,
        dweight: &GpuBuffer<f32>,
        dbias: &GpuBuffer<f32>,
        dout: &GpuBuffer<f32>,
        inp: &GpuBuffer<f32>,
        weight: &GpuBuffer<f32>,
        mean: &GpuBuffer<f32>,
        rstd: &GpuBuffer<f32>,
        n: usize,
        c: usize,
    ) -> Result<()> {
        let nc = mul("inp", &[n, c])?;
        check_len("inp", nc, inp.len())?;
        check_len("dinp", nc, dinp.len())?;
        check_len("dout", nc, dout.len())?;
        check_len("mean", n, mean.len())?;
        check_len("rstd", n, rstd.len())?;
        check_len("weight", c, weight.len())?;
        check_len("dweight", c, dweight.len())?;
        check_len("dbias", c, dbias.len())?;
        if c == 0 || n == 0 {
            return Ok(());
        }
        u32_of("inp", nc)?;
        let nr = u32_of("rows", n)?;
        let rows_per_chunk = n.div_ceil(n.min(MAX_CHUNKS));
        let n_chunks = n.div_ceil(rows_per_chunk);
        let partials = self.zeros::<f32>(2 * c * n_chunks)?;
        let wg = wg_for(c);
        let p = |grid_x: u32| -> Result<LayerNormParams> {
            Ok(LayerNormParams {
                n_rows: nr,
                channels: u32_of("c", c)?,
                grid_x,
                rows_per_chunk: u32_of("rows", rows_per_chunk)?,
                n_chunks: u32_of("chunks", n_chunks)?,
            })
        };
        let bufs = [
            &dinp.raw,
            &partials.raw,
            &dout.raw,
            &inp.raw,
            &weight.raw,
            &mean.raw,
            &rstd.raw,
        ];
        let g = grid(nr);
        self.dispatch(
            &LAYERNORM_BACKWARD,
            &[("WG", wg)],
            &bufs,
            super::bytes(&p(g[0])?),
            g,
        )?;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "wg is a power of two in [32, 256]"
        )]
        let cols = u32_of("c", c)?.div_ceil(wg as u32);
        self.dispatch(
            &LAYERNORM_PARAM_PARTIALS,
            &[("WG", wg)],
            &bufs,
            super::bytes(&p(cols)?),
            [cols, u32_of("chunks", n_chunks)?, 1],
        )?;
        for (dst, offset) in [(dweight, 0), (dbias, c)] {
            self.column_sum(dst, &partials, n_chunks, c, 2 * c, offset)?;
        }
        Ok(())
    }

    /// `dst[j] += Σ_r src[r·cols + j]` for `r < rows` (`src` row-major `(rows, cols)`), in two
    /// deterministic stages: sums over at most 256 chunks of rows, then the chunks in order.
    pub(crate) fn column_sums_into(
        &self,
        dst: &GpuBuffer<f32>,
        src: &GpuBuffer<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let rows_per_chunk = rows.div_ceil(rows.min(MAX_CHUNKS));
        let n_chunks = rows.div_ceil(rows_per_chunk);
        let partials = self.zeros::<f32>(n_chunks * cols)?;
        let cols32 = u32_of("cols", cols)?;
        let groups = [cols32.div_ceil(256), u32_of("chunks", n_chunks)?, 1];
        let p = ColumnSumParams {
            rows: u32_of("rows", rows)?,
            cols: cols32,
            stride: cols32,
            offset: 0,
            grid_x: groups[0],
            rows_per_chunk: u32_of("rows", rows_per_chunk)?,
        };
        self.dispatch(
            &COLUMN_PARTIALS,
            &[],
            &[&partials.raw, &src.raw],
            super::bytes(&p),
            groups,
        )?;
        self.column_sum(dst, &partials, n_chunks, cols, cols, 0)
    }

    /// `dst[j] += Σ_r src[offset + r·stride + j]` for `r < rows`, `j < cols` (rows in order).
    fn column_sum(
        &self,
        dst: &GpuBuffer<f32>,
        src: &GpuBuffer<f32>,
        rows: usize,
        cols: usize,
        stride: usize,
        offset: usize,
    ) -> Result<()> {
        let cols32 = u32_of("cols", cols)?;
        let g = elementwise_grid(cols32);
        let p = ColumnSumParams {
            rows: u32_of("rows", rows)?,
            cols: cols32,
            stride: u32_of("stride", stride)?,
            offset: u32_of("offset", offset)?,
            grid_x: g[0],
            rows_per_chunk: 0,
        };
        self.dispatch(&COLUMN_SUM, &[], &[&dst.raw, &src.raw], super::bytes(&p), g)
    }

    /// Causal multi-head self-attention, keeping the scores for the backward (llm.c's
    /// `attention_forward`, layout `qkv (B,T,3C)`).
    ///
    /// # Definition
    /// For row `(b,t)` and head `h` with `hs = C/NH`: `preatt[b,h,t,s] = q_t·k_s/√hs`,
    /// `att = softmax_s(preatt)` for `s ≤ t` (entries `s > t` written as 0),
    /// `out[b,t,h·hs + i] = Σ_{s≤t} att[b,h,t,s]·v_s[i]`. One workgroup per score row.
    ///
    /// # Shapes
    /// `out`: `(B,T,C)`; `preatt`, `att`: `(B,NH,T,T)`; `qkv`: `(B,T,3C)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape` unless `nh ≥ 1` divides `c`; `LengthMismatch`, as the CPU op.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// // B = 1, T = 2, C = 1, NH = 1: q = k = 0, so the second token averages both values.
    /// let qkv = ctx.upload(&[0.0f32, 0.0, 2.0, 0.0, 0.0, 4.0])?;
    /// let (out, pre, att) = (ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(4)?, ctx.zeros::<f32>(4)?);
    /// ctx.attention_forward(&out, &pre, &att, &qkv, 1, 2, 1, 1)?;
    /// assert_eq!(ctx.read_blocking(&out)?, vec![2.0, 3.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`attention_forward`).
    pub fn attention_forward(
        &self,
        out: &GpuBuffer<f32>,
        preatt: &GpuBuffer<f32>,
        att: &GpuBuffer<f32>,
        qkv: &GpuBuffer<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        let [n_qkv, n_out, n_att, n_rows] = attention_sizes(b, t, c, nh)?;
        check_len("qkv", n_qkv, qkv.len())?;
        check_len("out", n_out, out.len())?;
        check_len("preatt", n_att, preatt.len())?;
        check_len("att", n_att, att.len())?;
        let hs = c / nh;
        if b == 0 || t == 0 || c == 0 {
            return Ok(());
        }
        u32_of("qkv", qkv.len())?;
        let p = self.attention_params(n_rows, t, c, nh)?;
        self.dispatch(
            &ATTENTION_FORWARD,
            &[("WG", wg_for(t.max(hs)))],
            &[&out.raw, &preatt.raw, &att.raw, &qkv.raw],
            super::bytes(&p),
            grid(p.n_rows),
        )
    }

    /// Backward of [`GpuContext::attention_forward`], accumulating into `dqkv`, `dpreatt` and
    /// `datt` exactly as the CPU op (llm.c's `attention_backward`), without atomics.
    ///
    /// # Definition
    /// `datt[s] += v_s·dout_t`, `dv_s += att[s]·dout_t`; softmax:
    /// `dpreatt[s] += att[s]·(datt[s] − Σ_u att[u]·datt[u])`; scores:
    /// `dq_t += Σ_s dpreatt[s]·k_s/√hs`, `dk_s += dpreatt[s]·q_t/√hs` (all for `s ≤ t`, with
    /// `datt` and `dpreatt` as accumulated). Two dispatches: per score row (`datt`, `dpreatt`,
    /// `dq`), then per key (`dk`, `dv`).
    ///
    /// # Shapes
    /// As [`GpuContext::attention_forward`]; `dqkv` like `qkv`, `dpreatt`, `datt` like `att`.
    ///
    /// # Errors
    /// As [`GpuContext::attention_forward`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// // T = 1: the output is v itself, so dv = dout and dq = dk = 0.
    /// let (dqkv, dpre, datt) = (ctx.zeros::<f32>(3)?, ctx.zeros::<f32>(1)?, ctx.zeros::<f32>(1)?);
    /// let (dout, qkv, att) = (ctx.upload(&[2.0f32])?, ctx.upload(&[0.3f32, 0.7, 5.0])?, ctx.upload(&[1.0f32])?);
    /// ctx.attention_backward(&dqkv, &dpre, &datt, &dout, &qkv, &att, 1, 1, 1, 1)?;
    /// assert_eq!(ctx.read_blocking(&dqkv)?, vec![0.0, 0.0, 2.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`attention_backward`).
    pub fn attention_backward(
        &self,
        dqkv: &GpuBuffer<f32>,
        dpreatt: &GpuBuffer<f32>,
        datt: &GpuBuffer<f32>,
        dout: &GpuBuffer<f32>,
        qkv: &GpuBuffer<f32>,
        att: &GpuBuffer<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        let [n_qkv, n_out, n_att, n_rows] = attention_sizes(b, t, c, nh)?;
        check_len("qkv", n_qkv, qkv.len())?;
        check_len("dqkv", n_qkv, dqkv.len())?;
        check_len("dout", n_out, dout.len())?;
        check_len("att", n_att, att.len())?;
        check_len("dpreatt", n_att, dpreatt.len())?;
        check_len("datt", n_att, datt.len())?;
        let hs = c / nh;
        if b == 0 || t == 0 || c == 0 {
            return Ok(());
        }
        u32_of("qkv", qkv.len())?;
        let p = self.attention_params(n_rows, t, c, nh)?;
        let bufs = [
            &dqkv.raw,
            &dpreatt.raw,
            &datt.raw,
            &dout.raw,
            &qkv.raw,
            &att.raw,
        ];
        self.dispatch(
            &ATTENTION_BACKWARD_ROWS,
            &[("WG", wg_for(t.max(hs)))],
            &bufs,
            super::bytes(&p),
            grid(p.n_rows),
        )?;
        self.dispatch(
            &ATTENTION_BACKWARD_COLS,
            &[("WG", wg_for(hs))],
            &bufs,
            super::bytes(&p),
            grid(p.n_rows),
        )
    }

    fn elementwise(
        &self,
        k: &rewardkit_shaders::Kernel,
        bufs: &[&wgpu::Buffer],
        n: usize,
    ) -> Result<()> {
        let n32 = u32_of("n", n)?;
        let g = elementwise_grid(n32);
        let p = ElemParams {
            n: n32,
            grid_x: g[0],
        };
        self.dispatch(k, &[], bufs, super::bytes(&p), g)
    }

    /// GELU, tanh approximation (llm.c's `gelu_forward`).
    ///
    /// # Definition
    /// `gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    ///
    /// # Shapes
    /// `out`, `inp`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (out, x) = (ctx.zeros::<f32>(2)?, ctx.upload(&[0.0f32, 1.0])?);
    /// ctx.gelu_forward(&out, &x, 2)?;
    /// assert!((ctx.read_blocking(&out)?[1] - 0.841_192).abs() < 1e-5);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`gelu_forward`).
    pub fn gelu_forward(&self, out: &GpuBuffer<f32>, inp: &GpuBuffer<f32>, n: usize) -> Result<()> {
        check_len("inp", n, inp.len())?;
        check_len("out", n, out.len())?;
        self.elementwise(&GELU_FORWARD, &[&out.raw, &inp.raw, self.dummy()], n)
    }

    /// Backward of [`GpuContext::gelu_forward`], accumulating (llm.c's `gelu_backward`).
    ///
    /// # Definition
    /// With `u = √(2/π)·(x + 0.044715·x³)`:
    /// `dinp += [½(1 + tanh u) + ½·x·sech²(u)·√(2/π)·(1 + 3·0.044715·x²)]·dout`.
    ///
    /// # Shapes
    /// `dinp`, `inp`, `dout`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (d, x, g) = (ctx.upload(&[1.0f32])?, ctx.upload(&[0.0f32])?, ctx.upload(&[2.0f32])?);
    /// ctx.gelu_backward(&d, &x, &g, 1)?;
    /// assert_eq!(ctx.read_blocking(&d)?, vec![2.0]); // 1 + gelu'(0)·2 = 1 + 0.5·2
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`gelu_backward`).
    pub fn gelu_backward(
        &self,
        dinp: &GpuBuffer<f32>,
        inp: &GpuBuffer<f32>,
        dout: &GpuBuffer<f32>,
        n: usize,
    ) -> Result<()> {
        check_len("inp", n, inp.len())?;
        check_len("dout", n, dout.len())?;
        check_len("dinp", n, dinp.len())?;
        self.elementwise(&GELU_BACKWARD, &[&dinp.raw, &inp.raw, &dout.raw], n)
    }

    /// Elementwise sum, a residual connection (llm.c's `residual_forward`). Exact.
    ///
    /// # Definition
    /// `out = a + b_`.
    ///
    /// # Shapes
    /// `out`, `a`, `b_`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (out, a, b) = (ctx.zeros::<f32>(2)?, ctx.upload(&[1.0f32, 2.0])?, ctx.upload(&[0.5f32, 0.5])?);
    /// ctx.residual_forward(&out, &a, &b, 2)?;
    /// assert_eq!(ctx.read_blocking(&out)?, vec![1.5, 2.5]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`residual_forward`).
    pub fn residual_forward(
        &self,
        out: &GpuBuffer<f32>,
        a: &GpuBuffer<f32>,
        b_: &GpuBuffer<f32>,
        n: usize,
    ) -> Result<()> {
        check_len("a", n, a.len())?;
        check_len("b", n, b_.len())?;
        check_len("out", n, out.len())?;
        // y1 is unused by this entry (the unused-binding buffer, bound once).
        self.elementwise(
            &RESIDUAL_FORWARD,
            &[&out.raw, self.dummy(), &a.raw, &b_.raw],
            n,
        )
    }

    /// Backward of [`GpuContext::residual_forward`]: `da += dout`, `db += dout` (exact).
    ///
    /// # Shapes
    /// `da`, `db`, `dout`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (da, db, g) = (ctx.upload(&[1.0f32])?, ctx.zeros::<f32>(1)?, ctx.upload(&[2.0f32])?);
    /// ctx.residual_backward(&da, &db, &g, 1)?;
    /// assert_eq!((ctx.read_blocking(&da)?, ctx.read_blocking(&db)?), (vec![3.0], vec![2.0]));
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`residual_backward`).
    pub fn residual_backward(
        &self,
        da: &GpuBuffer<f32>,
        db: &GpuBuffer<f32>,
        dout: &GpuBuffer<f32>,
        n: usize,
    ) -> Result<()> {
        check_len("da", n, da.len())?;
        check_len("db", n, db.len())?;
        check_len("dout", n, dout.len())?;
        self.elementwise(
            &RESIDUAL_BACKWARD,
            &[&da.raw, &db.raw, &dout.raw, self.dummy()],
            n,
        )
    }

    /// One `AdamW` step in place (Loshchilov & Hutter's decoupled weight decay; llm.c's
    /// `gpt2_update`), same argument order as `rewardkit_trainer::ops::adamw`.
    ///
    /// # Definition
    /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`,
    /// `θ ← θ − lr·(m̂/(√v̂ + ε) + λ·θ)` with `t = step ≥ 1`; the bias corrections are computed on
    /// the host in `f32` exactly as the CPU op.
    ///
    /// # Shapes
    /// `params`, `grads`, `m`, `v`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `LengthMismatch`; `InvalidParam` for `step = 0`.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (p, g, m, v) = (ctx.upload(&[1.0f32])?, ctx.upload(&[0.5f32])?, ctx.zeros::<f32>(1)?, ctx.zeros::<f32>(1)?);
    /// ctx.adamw(&p, &g, &m, &v, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, 1)?;
    /// assert!((ctx.read_blocking(&p)?[0] - 0.9).abs() < 1e-6); // the first step moves by lr·sign(g)
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: Loshchilov & Hutter (2019), arXiv:1711.05101; llm.c `train_gpt2.c`
    /// (`gpt2_update`).
    pub fn adamw(
        &self,
        params: &GpuBuffer<f32>,
        grads: &GpuBuffer<f32>,
        m: &GpuBuffer<f32>,
        v: &GpuBuffer<f32>,
        step: u32,
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        n: usize,
    ) -> Result<()> {
        check_len("params", n, params.len())?;
        check_len("grads", n, grads.len())?;
        check_len("m", n, m.len())?;
        check_len("v", n, v.len())?;
        if step == 0 {
            return Err(GpuError::Core(Error::InvalidParam {
                name: "step",
                value: 0.0,
                expected: "a step count >= 1",
            }));
        }
        let exp = i32::try_from(step).unwrap_or(i32::MAX);
        let n32 = u32_of("n", n)?;
        let g = elementwise_grid(n32);
        let p = AdamParams {
            n: n32,
            grid_x: g[0],
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            c1: 1.0 - beta1.powi(exp),
            c2: 1.0 - beta2.powi(exp),
        };
        self.dispatch(
            &ADAMW,
            &[],
            &[&params.raw, &m.raw, &v.raw, &grads.raw],
            super::bytes(&p),
            g,
        )
    }
}
