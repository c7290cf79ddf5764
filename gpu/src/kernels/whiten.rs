//! Batch whitening and the estimators built on it (`whiten.wgsl`): REINFORCE++ and `ReMax`.

use bytemuck::{Pod, Zeroable};
use rewardkit_core::stats::{VarEps, Whiten};
use rewardkit_shaders::{REMAX_APPLY, WHITEN_APPLY, WHITEN_FINALIZE, WHITEN_PARTIALS};

use super::returns::ScanMode;
#[cfg(doc)]
use crate::error::GpuError;
use crate::error::Result;
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n: u32,
    seq_len: u32,
    n_parts: u32,
    chunk: u32,
    grid_x: u32,
    zero_masked: u32,
    shift_mean: u32,
    scale_by_std: u32,
    unbiased: u32,
    eps_mode: u32,
    eps: f32,
    count_eps: f32,
    weighted: u32,
    pad: [u32; 3],
}

/// Elements per workgroup of the first whitening stage.
const CHUNK: u32 = 4096;

/// How whitening counts the elements of `x`.
#[derive(Clone, Copy)]
pub(crate) enum Count<'a> {
    /// The valid elements of a `u32` mask, weight 1 each; masked outputs are written as the map
    /// gives them (`Keep`) or as 0 (`Zero`).
    Mask(&'a GpuBuffer<u32>, Masked),
    /// `f32` weights (a per-sequence value standing for its row's valid tokens).
    Weights(&'a GpuBuffer<f32>),
}

/// What masked positions of the output get.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Masked {
    Keep,
    Zero,
}

impl GpuContext {
    /// `out = (x − μ)·s (+ μ)` with the statistics of the counted elements of `x` (three
    /// dispatches; `out` and `x` must be different buffers).
    pub(crate) fn whiten_into(
        &self,
        out: &GpuBuffer<f32>,
        x: &GpuBuffer<f32>,
        count: Count<'_>,
        w: &Whiten<f32>,
    ) -> Result<()> {
        let n = x.len();
        if n == 0 {
            return Ok(());
        }
        let n32 = u32_of("x", n)?;
        let n_parts = n32.div_ceil(CHUNK);
        let stats = self.zeros::<f32>(4 * n_parts as usize + 4)?;
        let (mask, aux, zero_masked, weighted) = match count {
            Count::Mask(m, masked) => (&m.raw, self.dummy(), masked == Masked::Zero, false),
            Count::Weights(wt) => (self.dummy(), &wt.raw, false, true),
        };
        let mk = |grid_x: u32| Params {
            n: n32,
            seq_len: 1,
            n_parts,
            chunk: CHUNK,
            grid_x,
            zero_masked: u32::from(zero_masked),
            shift_mean: u32::from(w.shift_mean()),
            scale_by_std: u32::from(w.scale_by_std()),
            unbiased: u32::from(w.unbiased()),
            eps_mode: match w.eps_mode() {
                VarEps::AddToVar => 0,
                VarEps::MaxWithVar => 1,
                VarEps::AddToStd => 2,
            },
            eps: w.eps(),
            count_eps: w.count_eps(),
            weighted: u32::from(weighted),
            pad: [0; 3],
        };
        let bufs = [&out.raw, &stats.raw, &x.raw, mask, aux];
        let g = grid(n_parts);
        self.dispatch(&WHITEN_PARTIALS, &[], &bufs, super::bytes(&mk(g[0])), g)?;
        self.dispatch(
            &WHITEN_FINALIZE,
            &[],
            &bufs,
            super::bytes(&mk(1)),
            [1, 1, 1],
        )?;
        let g = grid(n32.div_ceil(256));
        self.dispatch(&WHITEN_APPLY, &[], &bufs, super::bytes(&mk(g[0])), g)
    }

    /// Whitens `x` with the statistics of its valid elements, `out = (x − μ)·s` at every position
    /// (masked ones included, as the core), on the device; deterministic (Welford per thread,
    /// Chan's merges in fixed trees, no atomics).
    ///
    /// # Definition
    /// As [`rewardkit_core::stats::masked_whiten`] with the core's [`Whiten`] parameters (any
    /// preset: [`Whiten::from_preset`]), in `f32`. Without any valid
    /// element the map is `μ = s = 0` (all outputs 0; the core returns `TooFewValid`, which the
    /// device cannot report without a readback).
    ///
    /// # Shapes
    /// `out`, `x`, `mask`: `(N)` (a flat `(B, T)`).
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (x, m) = (ctx.upload(&[1.0f32, 2.0, 3.0, 7.0])?, ctx.upload(&[1u32, 1, 1, 0])?);
    /// let out = ctx.zeros::<f32>(4)?;
    /// ctx.masked_whiten(&out, &x, &m, &rewardkit_core::stats::Whiten::default())?;
    /// let out = ctx.read_blocking(&out)?;
    /// assert!((out[0] + 1.0).abs() < 1e-6 && out[1] == 0.0 && (out[2] - 1.0).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn masked_whiten(
        &self,
        out: &GpuBuffer<f32>,
        x: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        whiten: &Whiten<f32>,
    ) -> Result<()> {
        check_len("out", mask.len(), out.len())?;
        check_len("x", mask.len(), x.len())?;
        self.whiten_into(out, x, Count::Mask(mask, Masked::Keep), whiten)
    }

    /// REINFORCE++: discounted returns of the token rewards, whitened over the batch's valid
    /// tokens, 0 at masked positions.
    ///
    /// # Definition
    /// As [`rewardkit_core::advantage::reinforce_plus_plus`]: `returns` = [`GpuContext::discounted_returns`],
    /// `advantages = whiten(returns)·m`, in `f32` (no valid token: advantages 0, see
    /// [`GpuContext::masked_whiten`]).
    ///
    /// # Shapes
    /// `advantages`, `returns`, `rewards`, `mask`: `(B, T)` with `T = seq_len`.
    ///
    /// # Errors
    /// As [`GpuContext::discounted_returns`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (r, m) = (ctx.upload(&[0.0f32, 1.0, 0.0, 0.0])?, ctx.upload(&[1u32, 1, 1, 0])?);
    /// let (adv, ret) = (ctx.zeros::<f32>(4)?, ctx.zeros::<f32>(4)?);
    /// ctx.reinforce_plus_plus(&adv, &ret, &r, &m, 2, 1.0, &Default::default(), Default::default())?;
    /// assert_eq!(ctx.read_blocking(&ret)?, vec![1.0, 1.0, 0.0, 0.0]);
    /// assert_eq!(ctx.read_blocking(&adv)?[3], 0.0);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: Hu (2025), REINFORCE++, arXiv:2501.03262.
    pub fn reinforce_plus_plus(
        &self,
        advantages: &GpuBuffer<f32>,
        returns: &GpuBuffer<f32>,
        rewards: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        seq_len: usize,
        gamma: f32,
        whiten: &Whiten<f32>,
        mode: ScanMode,
    ) -> Result<()> {
        check_len("advantages", mask.len(), advantages.len())?;
        self.discounted_returns(returns, rewards, mask, seq_len, gamma, mode)?;
        self.whiten_into(advantages, returns, Count::Mask(mask, Masked::Zero), whiten)
    }

    /// `ReMax`: undiscounted returns minus the greedy response's reward per sequence, 0 at masked
    /// positions.
    ///
    /// # Definition
    /// As [`rewardkit_core::advantage::remax`]: `returns` = [`GpuContext::discounted_returns`] with
    /// `γ = 1`, `A_{i,t} = (G_{i,t} − bᵢ)·m`, in `f32`.
    ///
    /// # Shapes
    /// `advantages`, `returns`, `rewards`, `mask`: `(B, T)`; `baselines`: `(B)`.
    ///
    /// # Errors
    /// As [`GpuContext::discounted_returns`]; `LengthMismatch` for `baselines`.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (r, m) = (ctx.upload(&[0.0f32, 1.0])?, ctx.upload(&[1u32, 1])?);
    /// let (adv, ret) = (ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(2)?);
    /// ctx.remax(&adv, &ret, &r, &ctx.upload(&[0.25f32])?, &m, 2, Default::default())?;
    /// assert_eq!(ctx.read_blocking(&adv)?, vec![0.75, 0.75]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: Li et al. (2023), `ReMax`, arXiv:2310.10505.
    pub fn remax(
        &self,
        advantages: &GpuBuffer<f32>,
        returns: &GpuBuffer<f32>,
        rewards: &GpuBuffer<f32>,
        baselines: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        seq_len: usize,
        mode: ScanMode,
    ) -> Result<()> {
        let b = super::returns::shape(mask.len(), seq_len)?;
        check_len("advantages", mask.len(), advantages.len())?;
        check_len("reward_baselines", b, baselines.len())?;
        self.discounted_returns(returns, rewards, mask, seq_len, 1.0, mode)?;
        let n32 = u32_of("advantages", mask.len())?;
        let g = grid(n32.div_ceil(256));
        let p = Params {
            n: n32,
            seq_len: u32_of("seq_len", seq_len)?,
            grid_x: g[0],
            ..Zeroable::zeroed()
        };
        self.dispatch(
            &REMAX_APPLY,
            &[],
            &[
                &advantages.raw,
                self.dummy(),
                &returns.raw,
                &mask.raw,
                &baselines.raw,
            ],
            super::bytes(&p),
            g,
        )
    }
}
