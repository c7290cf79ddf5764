//! Batch whitening and the estimators built on it (`whiten.wgsl`): REINFORCE++ and `ReMax`.

use bytemuck::{Pod, Zeroable};
use rewardkit_core::Error;
use rewardkit_core::stats::{VarEps, Whiten};
use rewardkit_shaders::{REMAX_APPLY, WHITEN_APPLY, WHITEN_FINALIZE, WHITEN_PARTIALS};

use super::returns::ScanMode;
use crate::error::{GpuError, Result};
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
}

/// Elements per workgroup of the first whitening stage.
const CHUNK: u32 = 4096;

/// Batch-whitening parameters on the device: the same meaning and presets as
/// [`rewardkit_core::stats::Whiten`] (whose fields are private, so the GPU backend carries its own
/// copy; [`GpuWhiten::to_core`] builds the equivalent CPU parameters).
///
/// # Definition
/// `μ = Σ m·x / (Σ m + count_eps)`, `var = Σ m·(x − μ)² / (Σ m + count_eps)` (× `n/(n − 1)` when
/// `unbiased`), the scale `s` from `var` and `ε` by [`VarEps`]; `out = (x − μ)·s` (`+ μ` without
/// the mean shift).
///
/// # Errors
/// [`GpuWhiten::new`] and [`GpuWhiten::with_count_eps`] return [`GpuError::Core`]
/// (`InvalidParam`) for a negative or non-finite `ε`.
///
/// # Examples
/// ```
/// use rewardkit_core::stats::{VarEps, Whiten};
/// use rewardkit_gpu::GpuWhiten;
/// // The core's default, with ε = 1e-8 as an f32.
/// let want = Whiten::new(true, true, f64::from(1e-8f32), VarEps::AddToVar)?;
/// assert_eq!(GpuWhiten::default().to_core()?, want);
/// assert!(GpuWhiten::default().with_count_eps(-1.0).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuWhiten {
    shift_mean: bool,
    scale_by_std: bool,
    unbiased: bool,
    eps: f32,
    eps_mode: VarEps,
    count_eps: f32,
}

impl Default for GpuWhiten {
    /// The rewardkit default, as [`Whiten::default`]: mean shift, unbiased variance, `ε = 1e-8`
    /// added to the variance, `count_eps = 0`.
    fn default() -> Self {
        Self {
            shift_mean: true,
            scale_by_std: true,
            unbiased: true,
            eps: 1e-8,
            eps_mode: VarEps::AddToVar,
            count_eps: 0.0,
        }
    }
}

fn nonneg(name: &'static str, x: f32) -> Result<f32> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(GpuError::Core(Error::InvalidParam {
            name,
            value: f64::from(x),
            expected: "a finite number >= 0",
        }))
    }
}

impl GpuWhiten {
    /// verl's `masked_whiten` ([`Whiten::from_preset`] with `Preset::Verl`).
    pub fn verl() -> Self {
        Self {
            count_eps: 1e-8,
            ..Self::default()
        }
    }

    /// OpenRLHF's global normalization ([`Whiten::from_preset`] with `Preset::OpenRlhf`).
    pub fn openrlhf() -> Self {
        Self {
            unbiased: false,
            eps_mode: VarEps::MaxWithVar,
            ..Self::default()
        }
    }

    /// As [`Whiten::new`].
    ///
    /// # Errors
    /// `InvalidParam` if `eps` is negative or not finite.
    pub fn new(shift_mean: bool, unbiased: bool, eps: f32, eps_mode: VarEps) -> Result<Self> {
        Ok(Self {
            shift_mean,
            scale_by_std: true,
            unbiased,
            eps: nonneg("eps", eps)?,
            eps_mode,
            count_eps: 0.0,
        })
    }

    /// As [`Whiten::with_count_eps`].
    ///
    /// # Errors
    /// `InvalidParam` if `count_eps` is negative or not finite.
    pub fn with_count_eps(self, count_eps: f32) -> Result<Self> {
        Ok(Self {
            count_eps: nonneg("count_eps", count_eps)?,
            ..self
        })
    }

    /// As [`Whiten::mean_only`].
    pub fn mean_only(self) -> Self {
        Self {
            scale_by_std: false,
            ..self
        }
    }

    /// The equivalent CPU parameters (the parity tests' reference), in `f64`.
    ///
    /// # Errors
    /// Never for a validated `GpuWhiten`.
    pub fn to_core(&self) -> rewardkit_core::Result<Whiten<f64>> {
        let w = Whiten::new(
            self.shift_mean,
            self.unbiased,
            f64::from(self.eps),
            self.eps_mode,
        )?
        .with_count_eps(f64::from(self.count_eps))?;
        Ok(if self.scale_by_std { w } else { w.mean_only() })
    }
}

impl GpuContext {
    fn whiten_into(
        &self,
        out: &GpuBuffer<f32>,
        x: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        w: &GpuWhiten,
        zero_masked: bool,
    ) -> Result<()> {
        let n = mask.len();
        if n == 0 {
            return Ok(());
        }
        let n32 = u32_of("x", n)?;
        let n_parts = n32.div_ceil(CHUNK);
        let stats = self.zeros::<f32>(4 * n_parts as usize + 4)?;
        let parts32 = n_parts;
        let mk = |grid_x: u32| Params {
            n: n32,
            seq_len: 1,
            n_parts: parts32,
            chunk: CHUNK,
            grid_x,
            zero_masked: u32::from(zero_masked),
            shift_mean: u32::from(w.shift_mean),
            scale_by_std: u32::from(w.scale_by_std),
            unbiased: u32::from(w.unbiased),
            eps_mode: match w.eps_mode {
                VarEps::AddToVar => 0,
                VarEps::MaxWithVar => 1,
                VarEps::AddToStd => 2,
            },
            eps: w.eps,
            count_eps: w.count_eps,
        };
        let bufs = [&out.raw, &stats.raw, &x.raw, &mask.raw, self.dummy()];
        let g = grid(parts32);
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
    /// As [`rewardkit_core::stats::masked_whiten`] with [`GpuWhiten`], in `f32`. Without any valid
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
    /// ctx.masked_whiten(&out, &x, &m, &rewardkit_gpu::GpuWhiten::default())?;
    /// let out = ctx.read_blocking(&out)?;
    /// assert!((out[0] + 1.0).abs() < 1e-6 && out[1] == 0.0 && (out[2] - 1.0).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn masked_whiten(
        &self,
        out: &GpuBuffer<f32>,
        x: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        whiten: &GpuWhiten,
    ) -> Result<()> {
        check_len("out", mask.len(), out.len())?;
        check_len("x", mask.len(), x.len())?;
        self.whiten_into(out, x, mask, whiten, false)
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
        whiten: &GpuWhiten,
        mode: ScanMode,
    ) -> Result<()> {
        check_len("advantages", mask.len(), advantages.len())?;
        self.discounted_returns(returns, rewards, mask, seq_len, gamma, mode)?;
        self.whiten_into(advantages, returns, mask, whiten, true)
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
