//! Discounted returns and GAE (`returns.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_core::Error;
use rewardkit_core::advantage::Gae;
use rewardkit_shaders::{GAE_ROWS, GAE_SCAN, RETURNS_ROWS, RETURNS_SCAN};

use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n_rows: u32,
    seq_len: u32,
    grid_x: u32,
    _pad: u32,
    gamma: f32,
    lambda: f32,
}

/// How a token recurrence is parallelised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ScanMode {
    /// One thread per row walks `t = T−1 … 0` (many rows).
    Rows,
    /// One workgroup per row, a parallel scan over `T` (long rows, few of them).
    Scan,
    /// `Scan` when `B < 4096` and `T >= 256`, else `Rows`.
    #[default]
    Auto,
}

impl ScanMode {
    fn scan(self, b: usize, t: usize) -> bool {
        match self {
            Self::Rows => false,
            Self::Scan => true,
            Self::Auto => b < 4096 && t >= 256,
        }
    }
}

fn gamma_ok(name: &'static str, x: f32) -> Result<()> {
    if (0.0..=1.0).contains(&x) {
        Ok(())
    } else {
        Err(GpuError::Core(Error::InvalidParam {
            name,
            value: f64::from(x),
            expected: "in [0, 1]",
        }))
    }
}

pub(crate) fn shape(len: usize, seq_len: usize) -> Result<usize> {
    if len == 0 {
        return Err(GpuError::Core(Error::Empty { what: "mask" }));
    }
    if seq_len == 0 || len % seq_len != 0 {
        return Err(GpuError::Core(Error::BadShape {
            what: "mask",
            len,
            dim: seq_len,
        }));
    }
    Ok(len / seq_len)
}

impl GpuContext {
    fn recurrence(
        &self,
        kernels: (&rewardkit_shaders::Kernel, &rewardkit_shaders::Kernel),
        bufs: [&wgpu::Buffer; 5],
        b: usize,
        t: usize,
        gamma: f32,
        lambda: f32,
        mode: ScanMode,
    ) -> Result<()> {
        if b == 0 {
            return Ok(());
        }
        u32_of("tokens", b * t)?;
        let n = u32_of("rows", b)?;
        let scan = mode.scan(b, t);
        let g = if scan { grid(n) } else { grid(n.div_ceil(64)) };
        let p = Params {
            n_rows: n,
            seq_len: u32_of("seq_len", t)?,
            grid_x: g[0],
            _pad: 0,
            gamma,
            lambda,
        };
        let k = if scan { kernels.1 } else { kernels.0 };
        self.dispatch(k, &[], &bufs, super::bytes(&p), g)
    }

    /// Discounted reward-to-go over `(B, T)`, skipping masked positions (0 there).
    ///
    /// # Definition
    /// As [`rewardkit_core::advantage::discounted_returns`]: `G_t = r_t + γ·G_next` over valid
    /// tokens, in `f32`.
    ///
    /// # Shapes
    /// `out`, `rewards`, `mask`: `(B, T)` with `T = seq_len`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`, `InvalidParam` unless `γ ∈ [0, 1]`.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (r, m) = (ctx.upload(&[0.0f32, 0.0, 1.0, 0.0])?, ctx.upload(&[1u32, 1, 1, 0])?);
    /// let g = ctx.zeros::<f32>(4)?;
    /// ctx.discounted_returns(&g, &r, &m, 4, 0.5, Default::default())?;
    /// assert_eq!(ctx.read_blocking(&g)?, vec![0.25, 0.5, 1.0, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn discounted_returns(
        &self,
        out: &GpuBuffer<f32>,
        rewards: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        seq_len: usize,
        gamma: f32,
        mode: ScanMode,
    ) -> Result<()> {
        let b = shape(mask.len(), seq_len)?;
        check_len("rewards", mask.len(), rewards.len())?;
        check_len("out", mask.len(), out.len())?;
        gamma_ok("gamma", gamma)?;
        let unused = self.zeros::<f32>(0)?;
        self.recurrence(
            (&RETURNS_ROWS, &RETURNS_SCAN),
            [&out.raw, &unused.raw, &rewards.raw, self.dummy(), &mask.raw],
            b,
            seq_len,
            gamma,
            1.0,
            mode,
        )
    }

    /// Generalized advantage estimation over `(B, T)`, skipping masked positions.
    ///
    /// # Definition
    /// As [`rewardkit_core::advantage::gae`]: `δ_t = r_t + γ·V_next − V_t`,
    /// `Â_t = δ_t + γλ·Â_next`, `returns = Â + V` over valid tokens, 0 at masked positions; `f32`.
    ///
    /// # Shapes
    /// `advantages`, `returns`, `rewards`, `values`, `mask`: `(B, T)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rewardkit_core::advantage::Gae;
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (r, v, m) = (ctx.upload(&[0.0f32, 1.0])?, ctx.upload(&[0.5f32, 0.5])?, ctx.upload(&[1u32, 1])?);
    /// let (adv, ret) = (ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(2)?);
    /// ctx.gae(&adv, &ret, &r, &v, &m, 2, &Gae::new(1.0, 1.0)?, Default::default())?;
    /// assert_eq!(ctx.read_blocking(&ret)?, vec![1.0, 1.0]);
    /// # Ok(()) }
    /// ```
    pub fn gae(
        &self,
        advantages: &GpuBuffer<f32>,
        returns: &GpuBuffer<f32>,
        rewards: &GpuBuffer<f32>,
        values: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        seq_len: usize,
        params: &Gae<f32>,
        mode: ScanMode,
    ) -> Result<()> {
        let b = shape(mask.len(), seq_len)?;
        for (what, len) in [
            ("advantages", advantages.len()),
            ("returns", returns.len()),
            ("rewards", rewards.len()),
            ("values", values.len()),
        ] {
            check_len(what, mask.len(), len)?;
        }
        self.recurrence(
            (&GAE_ROWS, &GAE_SCAN),
            [
                &advantages.raw,
                &returns.raw,
                &rewards.raw,
                &values.raw,
                &mask.raw,
            ],
            b,
            seq_len,
            params.gamma(),
            params.lambda(),
            mode,
        )
    }
}
