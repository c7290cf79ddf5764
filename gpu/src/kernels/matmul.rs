//! Matrix multiply (`matmul.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_shaders::MATMUL;

use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, u32_of};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    stride_a: u32,
    stride_b: u32,
    stride_c: u32,
    alpha: f32,
}

/// The shape and options of one (batched) matrix product for [`GpuContext::matmul`].
///
/// # Definition
/// `c[b] = α·op(a[b])·op(b[b]) (+ c[b] if accumulate) (+ bias)` for `b < batch`, with
/// `op(a) = a` stored `M×K` row-major or, with `trans_a`, `aᵀ` of an array stored `K×M`; likewise
/// `op(b)` is `K×N`, or `N×K` stored with `trans_b`. Batches are contiguous.
///
/// # Examples
/// ```
/// let g = rewardkit_gpu::Gemm::new(2, 3, 4).transpose_b(true).accumulate(true);
/// assert_eq!((g.m, g.n, g.k, g.trans_b, g.accumulate), (2, 3, 4, true, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of `c`.
    pub m: usize,
    /// Columns of `c`.
    pub n: usize,
    /// The contracted dimension.
    pub k: usize,
    /// Number of independent products (contiguous batches).
    pub batch: usize,
    /// `a` is stored `K×M`.
    pub trans_a: bool,
    /// `b` is stored `N×K`.
    pub trans_b: bool,
    /// Add into `c` instead of overwriting it.
    pub accumulate: bool,
    /// The scale `α`.
    pub alpha: f32,
}

impl Gemm {
    /// `c = a·b` with `a: M×K`, `b: K×N`, one batch, no transposes, `α = 1`.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        Self {
            m,
            n,
            k,
            batch: 1,
            trans_a: false,
            trans_b: false,
            accumulate: false,
            alpha: 1.0,
        }
    }

    /// Sets `trans_a`.
    pub fn transpose_a(self, on: bool) -> Self {
        Self {
            trans_a: on,
            ..self
        }
    }

    /// Sets `trans_b`.
    pub fn transpose_b(self, on: bool) -> Self {
        Self {
            trans_b: on,
            ..self
        }
    }

    /// Sets `accumulate`.
    pub fn accumulate(self, on: bool) -> Self {
        Self {
            accumulate: on,
            ..self
        }
    }

    /// Sets the batch count.
    pub fn batched(self, batch: usize) -> Self {
        Self { batch, ..self }
    }

    /// Sets `α`.
    pub fn scaled(self, alpha: f32) -> Self {
        Self { alpha, ..self }
    }
}

impl GpuContext {
    /// Batched matrix product ([`Gemm`]), tiled 128×128 per workgroup with 8×8 register blocks.
    ///
    /// # Shapes
    /// `c`: `(batch, M, N)`; `a`: `(batch, M, K)` (or `K×M` per batch with `trans_a`); `b`:
    /// `(batch, K, N)` (or `N×K`); `bias`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`) for wrong lengths, (`InvalidParam`) for a non-finite
    /// `α`; [`GpuError::TooLarge`] beyond 32-bit indexing or the device's dispatch limits.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let a = ctx.upload(&[1.0f32, 2.0, 3.0, 4.0])?; // 2×2
    /// let c = ctx.zeros::<f32>(4)?;
    /// ctx.matmul(&c, &a, &a, None, rewardkit_gpu::Gemm::new(2, 2, 2))?;
    /// assert_eq!(ctx.read_blocking(&c)?, vec![7.0, 10.0, 15.0, 22.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `matmul_forward`/`matmul_backward` (`train_gpt2.c`).
    pub fn matmul(
        &self,
        c: &GpuBuffer<f32>,
        a: &GpuBuffer<f32>,
        b: &GpuBuffer<f32>,
        bias: Option<&GpuBuffer<f32>>,
        g: Gemm,
    ) -> Result<()> {
        let (sa, sb, sc) = (g.m * g.k, g.k * g.n, g.m * g.n);
        check_len("a", g.batch * sa, a.len())?;
        check_len("b", g.batch * sb, b.len())?;
        check_len("c", g.batch * sc, c.len())?;
        if let Some(bias) = bias {
            check_len("bias", g.n, bias.len())?;
        }
        if !g.alpha.is_finite() {
            return Err(GpuError::Core(rewardkit_core::Error::InvalidParam {
                name: "alpha",
                value: f64::from(g.alpha),
                expected: "a finite number",
            }));
        }
        let p = Params {
            m: u32_of("m", g.m)?,
            n: u32_of("n", g.n)?,
            k: u32_of("k", g.k)?,
            batch: u32_of("batch", g.batch)?,
            stride_a: u32_of("a", g.batch * sa).and_then(|_| u32_of("a", sa))?,
            stride_b: u32_of("b", g.batch * sb).and_then(|_| u32_of("b", sb))?,
            stride_c: u32_of("c", g.batch * sc).and_then(|_| u32_of("c", sc))?,
            alpha: g.alpha,
        };
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        let overrides = [
            ("TRANS_A", flag(g.trans_a)),
            ("TRANS_B", flag(g.trans_b)),
            ("ACCUMULATE", flag(g.accumulate)),
            ("HAS_BIAS", flag(bias.is_some())),
        ];
        let bias_buf = bias.map_or(self.dummy(), |b| &b.raw);
        self.dispatch(
            &MATMUL,
            &overrides,
            &[&c.raw, &a.raw, &b.raw, bias_buf],
            super::bytes(&p),
            [p.n.div_ceil(128), p.m.div_ceil(128), p.batch],
        )
    }

    /// llm.c's `matmul_forward`: `out = inp·weightᵀ + bias`.
    ///
    /// # Shapes
    /// `out`: `(N, OC)`; `inp`: `(N, C)`; `weight`: `(OC, C)`; `bias`: `(OC)`.
    ///
    /// # Errors
    /// As [`GpuContext::matmul`].
    ///
    /// Citation: llm.c `train_gpt2.c` (`matmul_forward`).
    pub fn matmul_forward(
        &self,
        out: &GpuBuffer<f32>,
        inp: &GpuBuffer<f32>,
        weight: &GpuBuffer<f32>,
        bias: Option<&GpuBuffer<f32>>,
        n: usize,
        c: usize,
        oc: usize,
    ) -> Result<()> {
        self.matmul(
            out,
            inp,
            weight,
            bias,
            Gemm::new(n, oc, c).transpose_b(true),
        )
    }

    /// llm.c's `matmul_backward`, accumulating: `dinp += dout·weight`,
    /// `dweight += doutᵀ·inp`, `dbias += Σₙ dout`.
    ///
    /// # Shapes
    /// `dinp`, `inp`: `(N, C)`; `dweight`, `weight`: `(OC, C)`; `dbias`: `(OC)`; `dout`: `(N, OC)`.
    ///
    /// # Errors
    /// As [`GpuContext::matmul`].
    ///
    /// Citation: llm.c `train_gpt2.c` (`matmul_backward`).
    pub fn matmul_backward(
        &self,
        dinp: &GpuBuffer<f32>,
        dweight: &GpuBuffer<f32>,
        dbias: Option<&GpuBuffer<f32>>,
        dout: &GpuBuffer<f32>,
        inp: &GpuBuffer<f32>,
        weight: &GpuBuffer<f32>,
        n: usize,
        c: usize,
        oc: usize,
    ) -> Result<()> {
        self.matmul(
            dinp,
            dout,
            weight,
            None,
            Gemm::new(n, c, oc).accumulate(true),
        )?;
        self.matmul(
            dweight,
            dout,
            inp,
            None,
            Gemm::new(oc, c, n).transpose_a(true).accumulate(true),
        )?;
        if let Some(dbias) = dbias {
            // dbias (1×OC) += 1ᵀ (1×N) · dout (N×OC).
            let ones = self.upload(&vec![1.0f32; n])?;
            self.matmul(
                dbias,
                &ones,
                dout,
                None,
                Gemm::new(1, oc, n).accumulate(true),
            )?;
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct CopyParams {
    n4: u32,
    pad: [u32; 3],
}

impl GpuContext {
    /// `dst ← src` by the `copy` kernel in vec4 words (the benchmarks' bandwidth floor; unlike
    /// [`GpuContext::copy`] it runs in a compute pass, so it is timed like the other kernels).
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`); `BadShape` unless the length is a multiple of 4.
    pub fn copy_kernel(&self, dst: &GpuBuffer<f32>, src: &GpuBuffer<f32>) -> Result<()> {
        check_len("dst", src.len(), dst.len())?;
        if src.len() % 4 != 0 {
            return Err(GpuError::Core(rewardkit_core::Error::BadShape {
                what: "src",
                len: src.len(),
                dim: 4,
            }));
        }
        let n4 = u32_of("src", src.len() / 4)?;
        let g = crate::grid(n4.div_ceil(256));
        let p = CopyParams { n4, pad: [0; 3] };
        self.dispatch(
            &rewardkit_shaders::COPY,
            &[],
            &[&dst.raw, &src.raw],
            super::bytes(&p),
            g,
        )
    }
}
