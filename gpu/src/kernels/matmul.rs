//! Matrix multiply (`matmul.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_core::Error;
use rewardkit_shaders::{F32_TO_F16, Kernel, MATMUL, MATMUL_F16, MATMUL_VEC4};

use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

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
    /// The tile shape (pipeline-overridable constants of the kernel).
    pub tiles: MatmulTiles,
    /// Use the scalar-load kernel even where the vec4 kernel applies (for tests and benchmarks).
    pub force_scalar: bool,
}

/// The tile shape of the matmul kernels, set through pipeline-overridable constants: a workgroup
/// of `wg_x × wg_y` threads computes a `(wg_y·tm) × (wg_x·tn)` tile of `c`, staging `bk`-deep slices
/// of the operands in workgroup memory (`4·bk·(wg_y·tm + wg_x·tn)` bytes).
///
/// The default (`16 × 16` threads, `8 × 8` outputs per thread, `bk = 8`: 128 × 128 tiles, 8 KiB of
/// workgroup memory) fits WebGPU's default limits; other shapes are for tuning on a given GPU
/// (`gpu-bench --tiles`).
///
/// # Errors
/// [`GpuContext::matmul`] returns [`GpuError::Core`] (`InvalidParam`) unless `tm, tn ∈ {4, 8}`,
/// `bk ∈ {4, 8, …, 32}` and the workgroup fits the device's limits (invocations, sizes, workgroup
/// memory).
///
/// # Examples
/// ```
/// let t = rewardkit_gpu::MatmulTiles { wg_x: 8, wg_y: 8, ..Default::default() };
/// assert_eq!((t.tile_m(), t.tile_n(), t.shared_bytes()), (64, 64, 4096));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatmulTiles {
    /// Threads along `n`.
    pub wg_x: u32,
    /// Threads along `m`.
    pub wg_y: u32,
    /// Rows per thread (4 or 8).
    pub tm: u32,
    /// Columns per thread (4 or 8).
    pub tn: u32,
    /// Depth of a staged slice (a multiple of 4, at most 32).
    pub bk: u32,
}

impl Default for MatmulTiles {
    fn default() -> Self {
        Self {
            wg_x: 16,
            wg_y: 16,
            tm: 8,
            tn: 8,
            bk: 8,
        }
    }
}

impl MatmulTiles {
    /// Rows of `c` per workgroup.
    pub fn tile_m(&self) -> u32 {
        self.wg_y * self.tm
    }

    /// Columns of `c` per workgroup.
    pub fn tile_n(&self) -> u32 {
        self.wg_x * self.tn
    }

    /// Workgroup memory of the staged slices, in bytes.
    pub fn shared_bytes(&self) -> u32 {
        4 * self.bk * (self.tile_m() + self.tile_n())
    }

    fn check(&self, limits: &wgpu::Limits) -> Result<()> {
        let bad = |name: &'static str, value: u32, expected: &'static str| {
            Err(GpuError::Core(Error::InvalidParam {
                name,
                value: f64::from(value),
                expected,
            }))
        };
        if !matches!(self.tm, 4 | 8) {
            return bad("tiles.tm", self.tm, "4 or 8");
        }
        if !matches!(self.tn, 4 | 8) {
            return bad("tiles.tn", self.tn, "4 or 8");
        }
        if !(self.bk % 4 == 0 && (4..=32).contains(&self.bk)) {
            return bad("tiles.bk", self.bk, "a multiple of 4 in [4, 32]");
        }
        if self.wg_x == 0 || self.wg_x > limits.max_compute_workgroup_size_x {
            return bad(
                "tiles.wg_x",
                self.wg_x,
                "in [1, the device's workgroup size x]",
            );
        }
        if self.wg_y == 0 || self.wg_y > limits.max_compute_workgroup_size_y {
            return bad(
                "tiles.wg_y",
                self.wg_y,
                "in [1, the device's workgroup size y]",
            );
        }
        let threads = self.wg_x.saturating_mul(self.wg_y);
        if threads > limits.max_compute_invocations_per_workgroup {
            return bad(
                "tiles.wg_x·wg_y",
                threads,
                "at most the device's invocations per workgroup",
            );
        }
        if self.shared_bytes() > limits.max_compute_workgroup_storage_size {
            return bad(
                "tiles shared bytes",
                self.shared_bytes(),
                "at most the device's workgroup storage",
            );
        }
        Ok(())
    }
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
            tiles: MatmulTiles::default(),
            force_scalar: false,
        }
    }

    /// Sets the tile shape.
    pub fn with_tiles(self, tiles: MatmulTiles) -> Self {
        Self { tiles, ..self }
    }

    /// Forces the scalar-load kernel.
    pub fn scalar_loads(self, on: bool) -> Self {
        Self {
            force_scalar: on,
            ..self
        }
    }

    /// Whether the vec4 kernels apply: every contiguous dimension (A's `K`, or `M` with
    /// `trans_a`; B's `N`, or `K` with `trans_b`; and `N` for `c`) is a multiple of 4.
    pub fn vec4_ok(&self) -> bool {
        let a_inner = if self.trans_a { self.m } else { self.k };
        let b_inner = if self.trans_b { self.k } else { self.n };
        a_inner % 4 == 0 && b_inner % 4 == 0 && self.n % 4 == 0
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
    /// Batched matrix product ([`Gemm`]): register-blocked tiles ([`MatmulTiles`], 128×128 per
    /// workgroup with 8×8 outputs per thread by default), vec4 global loads where the shape allows
    /// ([`Gemm::vec4_ok`]), scalar loads otherwise.
    ///
    /// # Shapes
    /// `c`: `(batch, M, N)`; `a`: `(batch, M, K)` (or `K×M` per batch with `trans_a`); `b`:
    /// `(batch, K, N)` (or `N×K`); `bias`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`) for wrong lengths, (`InvalidParam`) for a non-finite
    /// `α` or tiles beyond the device's limits; [`GpuError::TooLarge`] beyond 32-bit indexing or
    /// the device's dispatch limits.
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
        let k = if g.vec4_ok() && !g.force_scalar {
            &MATMUL_VEC4
        } else {
            &MATMUL
        };
        self.gemm(k, c, (&a.raw, a.len()), (&b.raw, b.len()), bias, g)
    }

    /// [`GpuContext::matmul`] with half-precision inputs: `a` and `b` hold IEEE binary16 values
    /// (for example from [`GpuContext::to_f16`]), widened to `f32` on load; products accumulate
    /// in `f32` and `c`, `bias` are `f32`. Half the operand memory traffic of the `f32` kernel.
    ///
    /// # Shapes
    /// As [`GpuContext::matmul`], lengths in f16 values.
    ///
    /// # Errors
    /// [`GpuError::Unsupported`] without the adapter feature `SHADER_F16`
    /// ([`crate::Capabilities::f16`]); [`GpuError::Core`] (`BadShape`) unless
    /// [`Gemm::vec4_ok`]; otherwise as [`GpuContext::matmul`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let a = ctx.upload(&[1.0f32; 16])?; // 4×4 ones
    /// let a16 = ctx.zeros::<u16>(16)?;
    /// ctx.to_f16(&a16, &a)?;
    /// let c = ctx.zeros::<f32>(16)?;
    /// ctx.matmul_f16(&c, &a16, &a16, None, rewardkit_gpu::Gemm::new(4, 4, 4))?;
    /// assert_eq!(ctx.read_blocking(&c)?, vec![4.0; 16]);
    /// # Ok(()) }
    /// ```
    pub fn matmul_f16(
        &self,
        c: &GpuBuffer<f32>,
        a: &GpuBuffer<u16>,
        b: &GpuBuffer<u16>,
        bias: Option<&GpuBuffer<f32>>,
        g: Gemm,
    ) -> Result<()> {
        if !self.capabilities().f16 {
            return Err(GpuError::Unsupported {
                feature: "f16 matmul on an adapter without SHADER_F16",
            });
        }
        if !g.vec4_ok() {
            return Err(GpuError::Core(Error::BadShape {
                what: "f16 matmul (contiguous dimensions must be multiples of 4)",
                len: if g.trans_a { g.m } else { g.k },
                dim: 4,
            }));
        }
        self.gemm(
            &MATMUL_F16,
            c,
            (&a.raw, a.len()),
            (&b.raw, b.len()),
            bias,
            g,
        )
    }

    fn gemm(
        &self,
        kernel: &Kernel,
        c: &GpuBuffer<f32>,
        a: (&wgpu::Buffer, usize),
        b: (&wgpu::Buffer, usize),
        bias: Option<&GpuBuffer<f32>>,
        g: Gemm,
    ) -> Result<()> {
        let (sa, sb, sc) = (g.m * g.k, g.k * g.n, g.m * g.n);
        check_len("a", g.batch * sa, a.1)?;
        check_len("b", g.batch * sb, b.1)?;
        check_len("c", g.batch * sc, c.len())?;
        if let Some(bias) = bias {
            check_len("bias", g.n, bias.len())?;
        }
        if !g.alpha.is_finite() {
            return Err(GpuError::Core(Error::InvalidParam {
                name: "alpha",
                value: f64::from(g.alpha),
                expected: "a finite number",
            }));
        }
        g.tiles.check(self.limits())?;
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
        let t = g.tiles;
        let overrides = [
            ("TRANS_A", flag(g.trans_a)),
            ("TRANS_B", flag(g.trans_b)),
            ("ACCUMULATE", flag(g.accumulate)),
            ("HAS_BIAS", flag(bias.is_some())),
            ("WG_X", f64::from(t.wg_x)),
            ("WG_Y", f64::from(t.wg_y)),
            ("TM", f64::from(t.tm)),
            ("TN", f64::from(t.tn)),
            ("BK", f64::from(t.bk)),
        ];
        let bias_buf = bias.map_or(self.dummy(), |b| &b.raw);
        self.dispatch(
            kernel,
            &overrides,
            &[&c.raw, a.0, b.0, bias_buf],
            super::bytes(&p),
            [p.n.div_ceil(t.tile_n()), p.m.div_ceil(t.tile_m()), p.batch],
        )
    }

    /// Converts `f32` values to IEEE binary16 (two per `u32` word, WGSL's `pack2x16float`): each
    /// result is one of the two binary16 values nearest to the input (the implementation's
    /// choice; usually round to nearest even). Needs no adapter feature. Values beyond `±65504`
    /// give undefined results (WGSL).
    ///
    /// # Shapes
    /// `dst`, `src`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let h = ctx.zeros::<u16>(3)?;
    /// ctx.to_f16(&h, &ctx.upload(&[1.0f32, -2.0, 0.5])?)?;
    /// assert_eq!(ctx.read_blocking(&h)?, vec![0x3c00, 0xc000, 0x3800]);
    /// # Ok(()) }
    /// ```
    pub fn to_f16(&self, dst: &GpuBuffer<u16>, src: &GpuBuffer<f32>) -> Result<()> {
        check_len("dst", src.len(), dst.len())?;
        let n = u32_of("src", src.len())?;
        let g = grid(n.div_ceil(2).div_ceil(256));
        let p = ConvertParams { n, grid_x: g[0] };
        self.dispatch(&F32_TO_F16, &[], &[&dst.raw, &src.raw], super::bytes(&p), g)
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
        // The CPU op's checks, in its order.
        check_len("inp", n * c, inp.len())?;
        check_len("weight", oc * c, weight.len())?;
        check_len("out", n * oc, out.len())?;
        if let Some(b) = bias {
            check_len("bias", oc, b.len())?;
        }
        self.matmul(
            out,
            inp,
            weight,
            bias,
            Gemm::new(n, oc, c).transpose_b(true),
        )
    }

    /// llm.c's `matmul_backward`, accumulating: `dinp += dout·weight`,
    /// `dweight += doutᵀ·inp` (two [`GpuContext::matmul`]s), `dbias += Σₙ dout` (column sums over
    /// at most 256 chunks of rows, then the chunks in order; deterministic).
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
        // The CPU op's checks, in its order, before anything is recorded.
        let (nc, occ, noc) = (n * c, oc * c, n * oc);
        check_len("inp", nc, inp.len())?;
        check_len("dinp", nc, dinp.len())?;
        check_len("weight", occ, weight.len())?;
        check_len("dweight", occ, dweight.len())?;
        check_len("dout", noc, dout.len())?;
        if let Some(db) = dbias {
            check_len("dbias", oc, db.len())?;
        }
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
            // dbias += Σₙ dout[n, :]: chunked column sums, then the chunks in order.
            self.column_sums_into(dbias, dout, n, oc)?;
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ConvertParams {
    n: u32,
    grid_x: u32,
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
            return Err(GpuError::Core(Error::BadShape {
                what: "src",
                len: src.len(),
                dim: 4,
            }));
        }
        let n4 = u32_of("src", src.len() / 4)?;
        let g = grid(n4.div_ceil(256));
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
