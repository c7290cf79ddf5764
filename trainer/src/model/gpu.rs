//! The GPU backend of the model: the same GPT as [`Gpt`] (same [`ModelConfig`], the same
//! [`ParamLayout`], the same initialization, since the parameters are uploaded from a [`Gpt`]),
//! whose forward and backward passes and `AdamW` run on `rewardkit-gpu`'s kernels. Those kernels
//! have the signatures of [`crate::ops`] (llm.c's) and are parity-tested against them, so
//! [`GpuGpt::forward`] and [`GpuGpt::backward`] are [`Gpt::forward`] and [`Gpt::backward`] line for
//! line with device buffers instead of slices.
//!
//! Parameters, gradients, activations and the optimizer's moments stay on the device. The GPU
//! kernels bind whole buffers, so each parameter tensor is stored as one buffer per layer (a
//! *piece*: `h.attn.qkv.w` of layer 1, `wte`, ...), in [`ParamLayout`] order; [`GpuGpt::params`]
//! and [`GpuGpt::set_params`] convert to and from the flat host vector. `AdamW` updates piece by
//! piece, which is the same elementwise update as over the flat vector.
//!
//! # Readback
//! Nothing is read back inside a forward or backward pass. [`GpuAdamW::update`] reads one scalar:
//! the sum of squared gradients, which the host needs to clip (`‖g‖ > clip` scales every gradient
//! by `clip/‖g‖`), to refuse a non-finite gradient as the CPU optimizer does
//! ([`rewardkit_core::Error::NonFinite`]), and to log the norm.
//!
//! # Numerics
//! `f32` on the device (the CPU ops accumulate some sums in `f64`); each kernel's bound against its
//! CPU op is in `docs/numerics.md` (GPU section), and the whole model's (logits and every parameter
//! gradient, and parameters after `AdamW` steps) in the trainer parity test
//! (`tests/tests/gpu/trainer.rs`). The sum of squared gradients is an `f32` matrix product
//! (`g·gᵀ` of a `1×n` row, [`Gemm`]) per piece, accumulated into one scalar; the CPU optimizer sums
//! in `f64`. Clipping multiplies each gradient by the same `f32` factor as the CPU (`α·g` through
//! [`Gemm::scaled`] with a `1×1` identity, one rounding, as `g *= s`).

use std::sync::Arc;

use rewardkit_gpu::{Gemm, GpuBuffer, GpuContext, GpuError};

use super::{
    FCB, FCPB, FCPW, FCW, Gpt, LN1B, LN1W, LN2B, LN2W, LNFB, LNFW, ModelConfig, PROJB, PROJW,
    ParamLayout, QKVB, QKVW, WPE, WTE,
};
use crate::config::OptimConfig;

/// Result alias of the GPU backend.
pub type GpuResult<T = ()> = Result<T, GpuError>;

/// One device buffer of the parameters: a tensor of [`ParamLayout`], or one layer of a tensor
/// whose first dimension is the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Index into [`ParamLayout::tensors`].
    pub tensor: usize,
    /// Layer (0 for tensors without one).
    pub layer: usize,
    /// Offset into the flat parameter vector.
    pub offset: usize,
    /// Number of values.
    pub len: usize,
    /// Whether `AdamW`'s weight decay applies (the tensor's [`super::TensorSpec::decay`]).
    pub decay: bool,
}

/// The pieces of a layout, in flat order, with the index of each tensor's first piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pieces {
    /// All pieces, in flat order (they tile the flat vector).
    pub list: Vec<Piece>,
    first: Vec<usize>,
}

impl Pieces {
    /// The pieces of `layout` for `n_layer` layers: tensors `h.*` split by layer, the others whole.
    pub fn new(layout: &ParamLayout, n_layer: usize) -> Self {
        let mut list = Vec::new();
        let mut first = Vec::with_capacity(layout.tensors.len());
        for (i, spec) in layout.tensors.iter().enumerate() {
            first.push(list.len());
            let layers = if (LN1W..=FCPB).contains(&i) {
                n_layer
            } else {
                1
            };
            let len = spec.len() / layers.max(1);
            for layer in 0..layers {
                list.push(Piece {
                    tensor: i,
                    layer,
                    offset: spec.offset + layer * len,
                    len,
                    decay: spec.decay,
                });
            }
        }
        Self { list, first }
    }

    /// Index of the piece of `tensor` at `layer` in [`Pieces::list`].
    fn at(&self, tensor: usize, layer: usize) -> usize {
        self.first.get(tensor).copied().unwrap_or(0) + layer
    }
}

/// A set of device buffers shaped like the parameters (parameters, gradients, moments).
#[derive(Debug)]
pub struct DeviceTensors {
    bufs: Vec<GpuBuffer<f32>>,
}

impl DeviceTensors {
    /// Zero-filled buffers for every piece.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] beyond the device's limits.
    pub fn zeros(ctx: &GpuContext, pieces: &Pieces) -> GpuResult<Self> {
        Ok(Self {
            bufs: pieces
                .list
                .iter()
                .map(|p| ctx.zeros::<f32>(p.len))
                .collect::<GpuResult<_>>()?,
        })
    }

    /// Buffers holding the pieces of the flat vector `flat`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`) if `flat` does not fit the pieces; device errors.
    pub fn upload(ctx: &GpuContext, pieces: &Pieces, flat: &[f32]) -> GpuResult<Self> {
        check_flat(pieces, flat.len())?;
        Ok(Self {
            bufs: pieces
                .list
                .iter()
                .map(|p| ctx.upload(&flat[p.offset..p.offset + p.len]))
                .collect::<GpuResult<_>>()?,
        })
    }

    /// Overwrites every piece from the flat vector `flat`.
    ///
    /// # Errors
    /// As [`DeviceTensors::upload`].
    pub fn write(&self, ctx: &GpuContext, pieces: &Pieces, flat: &[f32]) -> GpuResult {
        check_flat(pieces, flat.len())?;
        for (b, p) in self.bufs.iter().zip(&pieces.list) {
            ctx.write(b, &flat[p.offset..p.offset + p.len])?;
        }
        Ok(())
    }

    /// The flat vector (reads every piece back).
    ///
    /// # Errors
    /// Readback errors.
    pub fn read(&self, ctx: &GpuContext, pieces: &Pieces) -> GpuResult<Vec<f32>> {
        let total = pieces.list.iter().map(|p| p.len).sum();
        let mut flat = vec![0.0f32; total];
        for (b, p) in self.bufs.iter().zip(&pieces.list) {
            let v = ctx.read_blocking(b)?;
            flat[p.offset..p.offset + p.len].copy_from_slice(&v);
        }
        Ok(flat)
    }

    /// A device-side copy of `src` (same pieces) into these buffers.
    ///
    /// # Errors
    /// Device errors.
    pub fn copy_from(&self, ctx: &GpuContext, src: &Self) -> GpuResult {
        for (d, s) in self.bufs.iter().zip(&src.bufs) {
            ctx.copy(d, s)?;
        }
        Ok(())
    }

    /// The buffers, one per piece in [`Pieces::list`] order.
    pub fn buffers(&self) -> &[GpuBuffer<f32>] {
        &self.bufs
    }
}

fn check_flat(pieces: &Pieces, len: usize) -> GpuResult {
    let total: usize = pieces.list.iter().map(|p| p.len).sum();
    if total == len {
        Ok(())
    } else {
        Err(GpuError::Core(rewardkit_core::Error::LengthMismatch {
            what: "params",
            expected: total,
            got: len,
        }))
    }
}

/// One layer's activations (device buffers, as [`super::Activations`] per layer).
#[derive(Debug)]
struct LayerActs {
    ln1: GpuBuffer<f32>,
    ln1_mean: GpuBuffer<f32>,
    ln1_rstd: GpuBuffer<f32>,
    qkv: GpuBuffer<f32>,
    atty: GpuBuffer<f32>,
    preatt: GpuBuffer<f32>,
    att: GpuBuffer<f32>,
    attproj: GpuBuffer<f32>,
    residual2: GpuBuffer<f32>,
    ln2: GpuBuffer<f32>,
    ln2_mean: GpuBuffer<f32>,
    ln2_rstd: GpuBuffer<f32>,
    fch: GpuBuffer<f32>,
    fch_gelu: GpuBuffer<f32>,
    fcproj: GpuBuffer<f32>,
    residual3: GpuBuffer<f32>,
}

/// Activations of one forward pass over `(B, T)` tokens, on the device.
#[derive(Debug)]
struct GpuActs {
    b: usize,
    t: usize,
    encoded: GpuBuffer<f32>,
    layers: Vec<LayerActs>,
    lnf: GpuBuffer<f32>,
    lnf_mean: GpuBuffer<f32>,
    lnf_rstd: GpuBuffer<f32>,
    logits: GpuBuffer<f32>,
}

impl GpuActs {
    fn new(ctx: &GpuContext, cfg: &ModelConfig, b: usize, t: usize) -> GpuResult<Self> {
        let (c, nh, v) = (cfg.n_embd, cfg.n_head, cfg.vocab);
        let bt = b * t;
        let z = |n: usize| ctx.zeros::<f32>(n);
        let layers = (0..cfg.n_layer)
            .map(|_| {
                Ok(LayerActs {
                    ln1: z(bt * c)?,
                    ln1_mean: z(bt)?,
                    ln1_rstd: z(bt)?,
                    qkv: z(bt * 3 * c)?,
                    atty: z(bt * c)?,
                    preatt: z(b * nh * t * t)?,
                    att: z(b * nh * t * t)?,
                    attproj: z(bt * c)?,
                    residual2: z(bt * c)?,
                    ln2: z(bt * c)?,
                    ln2_mean: z(bt)?,
                    ln2_rstd: z(bt)?,
                    fch: z(bt * 4 * c)?,
                    fch_gelu: z(bt * 4 * c)?,
                    fcproj: z(bt * c)?,
                    residual3: z(bt * c)?,
                })
            })
            .collect::<GpuResult<_>>()?;
        Ok(Self {
            b,
            t,
            encoded: z(bt * c)?,
            layers,
            lnf: z(bt * c)?,
            lnf_mean: z(bt)?,
            lnf_rstd: z(bt)?,
            logits: z(bt * v)?,
        })
    }
}

/// Which weights a forward pass uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// The policy (trained) parameters.
    Policy,
    /// The frozen reference ([`GpuGpt::set_reference`]).
    Reference,
}

/// The model on the device: its configuration and layout, the policy's parameters and gradients,
/// optionally a frozen reference's parameters, and the activations of the last forward pass.
///
/// # Examples
/// ```no_run
/// use rewardkit_core::rng::SplitMix64;
/// use rewardkit_trainer::model::{Gpt, ModelConfig};
/// use rewardkit_trainer::model::gpu::{GpuGpt, Weights};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ctx = std::sync::Arc::new(rewardkit_gpu::GpuContext::new_blocking()?);
/// let cfg = ModelConfig { vocab: 7, max_t: 5, n_layer: 1, n_head: 2, n_embd: 8 };
/// let mut cpu = Gpt::new(cfg, &mut SplitMix64::new(1))?;
/// let mut gpu = GpuGpt::new(ctx.clone(), &cpu)?;
/// let tokens = [1u32, 2, 3];
/// cpu.forward(&tokens, 1, 3)?;
/// gpu.forward(Weights::Policy, &ctx.upload_ids(&tokens, 7)?, 1, 3)?;
/// let logits = ctx.read_blocking(gpu.logits().ok_or("no forward pass")?)?;
/// assert!(logits.iter().zip(&cpu.acts().logits).all(|(a, b)| (a - b).abs() < 1e-4));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GpuGpt {
    ctx: Arc<GpuContext>,
    /// Sizes.
    pub cfg: ModelConfig,
    /// Flat layout (of [`GpuGpt::params`]).
    pub layout: ParamLayout,
    pieces: Pieces,
    params: DeviceTensors,
    grads: DeviceTensors,
    reference: Option<DeviceTensors>,
    acts: Option<GpuActs>,
}

impl GpuGpt {
    /// The model `cpu` (its configuration and current parameters) on the device, gradients zero.
    ///
    /// # Errors
    /// Device errors ([`GpuError::TooLarge`] for a model beyond the device's buffer limits).
    pub fn new(ctx: Arc<GpuContext>, cpu: &Gpt) -> GpuResult<Self> {
        let pieces = Pieces::new(&cpu.layout, cpu.cfg.n_layer);
        let params = DeviceTensors::upload(&ctx, &pieces, &cpu.params)?;
        let grads = DeviceTensors::zeros(&ctx, &pieces)?;
        Ok(Self {
            cfg: cpu.cfg,
            layout: cpu.layout.clone(),
            params,
            grads,
            reference: None,
            acts: None,
            pieces,
            ctx,
        })
    }

    /// The context.
    pub fn ctx(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// The pieces (one device buffer each).
    pub fn pieces(&self) -> &Pieces {
        &self.pieces
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.layout.total
    }

    /// The policy's parameters, flat (read back).
    ///
    /// # Errors
    /// Readback errors.
    pub fn params(&self) -> GpuResult<Vec<f32>> {
        self.params.read(&self.ctx, &self.pieces)
    }

    /// Overwrites the policy's parameters from a flat vector.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`); device errors.
    pub fn set_params(&mut self, flat: &[f32]) -> GpuResult {
        self.params.write(&self.ctx, &self.pieces, flat)
    }

    /// The gradients accumulated since [`GpuGpt::zero_grads`], flat (read back).
    ///
    /// # Errors
    /// Readback errors.
    pub fn grads(&self) -> GpuResult<Vec<f32>> {
        self.grads.read(&self.ctx, &self.pieces)
    }

    /// The gradient buffers, one per piece.
    pub fn grad_buffers(&self) -> &DeviceTensors {
        &self.grads
    }

    /// The parameter buffers, one per piece.
    pub fn param_buffers(&self) -> &DeviceTensors {
        &self.params
    }

    /// Sets every gradient to zero (fresh zero-filled buffers).
    ///
    /// # Errors
    /// Device errors.
    pub fn zero_grads(&mut self) -> GpuResult {
        self.grads = DeviceTensors::zeros(&self.ctx, &self.pieces)?;
        Ok(())
    }

    /// Sets the frozen reference: a copy of `flat`, or of the policy's current parameters (on the
    /// device) for `None`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`); device errors.
    pub fn set_reference(&mut self, flat: Option<&[f32]>) -> GpuResult {
        let r = match flat {
            Some(f) => DeviceTensors::upload(&self.ctx, &self.pieces, f)?,
            None => {
                let r = DeviceTensors::zeros(&self.ctx, &self.pieces)?;
                r.copy_from(&self.ctx, &self.params)?;
                r
            }
        };
        self.reference = Some(r);
        Ok(())
    }

    /// Whether a reference is set.
    pub fn has_reference(&self) -> bool {
        self.reference.is_some()
    }

    /// The reference's parameters, flat (read back), if set.
    ///
    /// # Errors
    /// Readback errors.
    pub fn reference_params(&self) -> GpuResult<Option<Vec<f32>>> {
        self.reference
            .as_ref()
            .map(|r| r.read(&self.ctx, &self.pieces))
            .transpose()
    }

    /// The logits `(B, T, V)` of the last forward pass.
    pub fn logits(&self) -> Option<&GpuBuffer<f32>> {
        self.acts.as_ref().map(|a| &a.logits)
    }

    /// `(B, T)` of the last forward pass.
    pub fn shape(&self) -> Option<(usize, usize)> {
        self.acts.as_ref().map(|a| (a.b, a.t))
    }

    /// Forward pass over `tokens` `(B, T)` (uploaded with [`GpuContext::upload_ids`]), `T ≤ maxT`,
    /// with the policy's or the reference's weights; the logits `(B, T, V)` stay on the device
    /// ([`GpuGpt::logits`]). Exactly [`Gpt::forward`]'s sequence of ops.
    ///
    /// # Errors
    /// As the kernels (wrong lengths, `T > maxT`); [`GpuError::Core`] (`MissingInput`) for
    /// [`Weights::Reference`] without a reference.
    pub fn forward(
        &mut self,
        weights: Weights,
        tokens: &GpuBuffer<u32>,
        b: usize,
        t: usize,
    ) -> GpuResult {
        let cfg = self.cfg;
        let (c, nh, v) = (cfg.n_embd, cfg.n_head, cfg.vocab);
        if self.shape() != Some((b, t)) {
            self.acts = Some(GpuActs::new(&self.ctx, &cfg, b, t)?);
        }
        let p = match weights {
            Weights::Policy => &self.params,
            Weights::Reference => self.reference.as_ref().ok_or(GpuError::Core(
                rewardkit_core::Error::MissingInput {
                    what: "reference model",
                },
            ))?,
        };
        let pieces = &self.pieces;
        let w = |i: usize, li: usize| &p.bufs[pieces.at(i, li)];
        let ctx = &*self.ctx;
        let Some(a) = self.acts.as_ref() else {
            return Ok(());
        };
        let bt = b * t;
        ctx.encoder_forward(&a.encoded, tokens, w(WTE, 0), w(WPE, 0), b, t, c)?;
        for (li, la) in a.layers.iter().enumerate() {
            let residual = match li.checked_sub(1).and_then(|k| a.layers.get(k)) {
                Some(prev) => &prev.residual3,
                None => &a.encoded,
            };
            ctx.layernorm_forward(
                &la.ln1,
                &la.ln1_mean,
                &la.ln1_rstd,
                residual,
                w(LN1W, li),
                w(LN1B, li),
                bt,
                c,
            )?;
            ctx.matmul_forward(
                &la.qkv,
                &la.ln1,
                w(QKVW, li),
                Some(w(QKVB, li)),
                bt,
                c,
                3 * c,
            )?;
            ctx.attention_forward(&la.atty, &la.preatt, &la.att, &la.qkv, b, t, c, nh)?;
            ctx.matmul_forward(
                &la.attproj,
                &la.atty,
                w(PROJW, li),
                Some(w(PROJB, li)),
                bt,
                c,
                c,
            )?;
            ctx.residual_forward(&la.residual2, residual, &la.attproj, bt * c)?;
            ctx.layernorm_forward(
                &la.ln2,
                &la.ln2_mean,
                &la.ln2_rstd,
                &la.residual2,
                w(LN2W, li),
                w(LN2B, li),
                bt,
                c,
            )?;
            ctx.matmul_forward(&la.fch, &la.ln2, w(FCW, li), Some(w(FCB, li)), bt, c, 4 * c)?;
            ctx.gelu_forward(&la.fch_gelu, &la.fch, bt * 4 * c)?;
            ctx.matmul_forward(
                &la.fcproj,
                &la.fch_gelu,
                w(FCPW, li),
                Some(w(FCPB, li)),
                bt,
                4 * c,
                c,
            )?;
            ctx.residual_forward(&la.residual3, &la.residual2, &la.fcproj, bt * c)?;
        }
        let last = a
            .layers
            .last()
            .map_or(&a.encoded, |la: &LayerActs| &la.residual3);
        ctx.layernorm_forward(
            &a.lnf,
            &a.lnf_mean,
            &a.lnf_rstd,
            last,
            w(LNFW, 0),
            w(LNFB, 0),
            bt,
            c,
        )?;
        // Tied head: logits = lnf · wteᵀ.
        ctx.matmul_forward(&a.logits, &a.lnf, w(WTE, 0), None, bt, c, v)
    }

    /// Backward pass from `dlogits` `(B, T, V)` after a [`Weights::Policy`] forward pass on the
    /// same tokens; **accumulates** into the gradients ([`GpuGpt::zero_grads`] starts a new sum).
    /// Exactly [`Gpt::backward`]'s sequence of ops; the activation gradients are fresh zero-filled
    /// device buffers where the CPU zeroes its scratch.
    ///
    /// # Errors
    /// As the kernels; [`GpuError::Core`] (`MissingInput`) without a forward pass.
    #[expect(
        clippy::too_many_lines,
        reason = "one readable pass mirroring the forward pass, as Gpt::backward"
    )]
    pub fn backward(&mut self, dlogits: &GpuBuffer<f32>, tokens: &GpuBuffer<u32>) -> GpuResult {
        let cfg = self.cfg;
        let (c, nh, v) = (cfg.n_embd, cfg.n_head, cfg.vocab);
        let a = self
            .acts
            .as_ref()
            .ok_or(GpuError::Core(rewardkit_core::Error::MissingInput {
                what: "a forward pass before the backward pass",
            }))?;
        let (b, t) = (a.b, a.t);
        let bt = b * t;
        let ctx = &*self.ctx;
        let pieces = &self.pieces;
        let (p, g) = (&self.params, &self.grads);
        let w = |i: usize, li: usize| &p.bufs[pieces.at(i, li)];
        let gw = |i: usize, li: usize| &g.bufs[pieces.at(i, li)];
        let z = |n: usize| ctx.zeros::<f32>(n);
        // Head (tied to wte) and final LayerNorm.
        let dln = z(bt * c)?;
        ctx.matmul_backward(&dln, gw(WTE, 0), None, dlogits, &a.lnf, w(WTE, 0), bt, c, v)?;
        let dresidual = z(bt * c)?;
        let last = a.layers.last().map_or(&a.encoded, |la| &la.residual3);
        ctx.layernorm_backward(
            &dresidual,
            gw(LNFW, 0),
            gw(LNFB, 0),
            &dln,
            last,
            w(LNFW, 0),
            &a.lnf_mean,
            &a.lnf_rstd,
            bt,
            c,
        )?;
        for (li, la) in a.layers.iter().enumerate().rev() {
            let residual = match li.checked_sub(1).and_then(|k| a.layers.get(k)) {
                Some(prev) => &prev.residual3,
                None => &a.encoded,
            };
            // residual3 = residual2 + fcproj: dresidual flows to both. MLP projection.
            let dfch_gelu = z(bt * 4 * c)?;
            ctx.matmul_backward(
                &dfch_gelu,
                gw(FCPW, li),
                Some(gw(FCPB, li)),
                &dresidual,
                &la.fch_gelu,
                w(FCPW, li),
                bt,
                4 * c,
                c,
            )?;
            let dfch = z(bt * 4 * c)?;
            ctx.gelu_backward(&dfch, &la.fch, &dfch_gelu, bt * 4 * c)?;
            let dln = z(bt * c)?;
            ctx.matmul_backward(
                &dln,
                gw(FCW, li),
                Some(gw(FCB, li)),
                &dfch,
                &la.ln2,
                w(FCW, li),
                bt,
                c,
                4 * c,
            )?;
            // ln2 backward adds into dresidual (the gradient at residual2).
            ctx.layernorm_backward(
                &dresidual,
                gw(LN2W, li),
                gw(LN2B, li),
                &dln,
                &la.residual2,
                w(LN2W, li),
                &la.ln2_mean,
                &la.ln2_rstd,
                bt,
                c,
            )?;
            // residual2 = residual + attproj: dresidual is the gradient of both.
            let datty = z(bt * c)?;
            ctx.matmul_backward(
                &datty,
                gw(PROJW, li),
                Some(gw(PROJB, li)),
                &dresidual,
                &la.atty,
                w(PROJW, li),
                bt,
                c,
                c,
            )?;
            let (dqkv, dpreatt, datt) = (z(bt * 3 * c)?, z(b * nh * t * t)?, z(b * nh * t * t)?);
            ctx.attention_backward(
                &dqkv, &dpreatt, &datt, &datty, &la.qkv, &la.att, b, t, c, nh,
            )?;
            let dln = z(bt * c)?;
            ctx.matmul_backward(
                &dln,
                gw(QKVW, li),
                Some(gw(QKVB, li)),
                &dqkv,
                &la.ln1,
                w(QKVW, li),
                bt,
                c,
                3 * c,
            )?;
            ctx.layernorm_backward(
                &dresidual,
                gw(LN1W, li),
                gw(LN1B, li),
                &dln,
                residual,
                w(LN1W, li),
                &la.ln1_mean,
                &la.ln1_rstd,
                bt,
                c,
            )?;
            // dresidual now holds the gradient at this block's input.
        }
        ctx.encoder_backward(gw(WTE, 0), gw(WPE, 0), &dresidual, tokens, b, t, c)
    }
}

/// `AdamW` on the device, with global gradient-norm clipping: the moments `m`, `v` per piece and
/// the step count, the GPU twin of [`crate::optim::AdamW`] (same hyperparameters, weight decay on
/// the same tensors, the same clipping rule).
#[derive(Debug)]
pub struct GpuAdamW {
    m: DeviceTensors,
    v: DeviceTensors,
    /// Steps taken.
    pub step: u32,
    one: GpuBuffer<f32>,
}

impl GpuAdamW {
    /// The moments `m`, `v` (flat) and step count of a host optimizer, on the device.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`); device errors.
    pub fn new(
        ctx: &GpuContext,
        pieces: &Pieces,
        m: &[f32],
        v: &[f32],
        step: u32,
    ) -> GpuResult<Self> {
        Ok(Self {
            m: DeviceTensors::upload(ctx, pieces, m)?,
            v: DeviceTensors::upload(ctx, pieces, v)?,
            step,
            one: ctx.upload(&[1.0f32])?,
        })
    }

    /// Zero state (a new phase).
    ///
    /// # Errors
    /// Device errors.
    pub fn reset(&mut self, ctx: &GpuContext, pieces: &Pieces) -> GpuResult {
        self.m = DeviceTensors::zeros(ctx, pieces)?;
        self.v = DeviceTensors::zeros(ctx, pieces)?;
        self.step = 0;
        Ok(())
    }

    /// The moments, flat (read back).
    ///
    /// # Errors
    /// Readback errors.
    pub fn moments(&self, ctx: &GpuContext, pieces: &Pieces) -> GpuResult<(Vec<f32>, Vec<f32>)> {
        Ok((self.m.read(ctx, pieces)?, self.v.read(ctx, pieces)?))
    }

    /// `‖g‖₂` of `model`'s gradients: `Σ g²` on the device (one `1×1` product per piece, added
    /// into one scalar), read back, square root in `f64`.
    ///
    /// # Errors
    /// Device and readback errors.
    pub fn grad_norm(&self, model: &GpuGpt) -> GpuResult<f64> {
        let ctx = &**model.ctx();
        let sq = ctx.zeros::<f32>(1)?;
        for g in model.grad_buffers().buffers() {
            if g.is_empty() {
                continue;
            }
            ctx.matmul(&sq, g, g, None, Gemm::new(1, 1, g.len()).accumulate(true))?;
        }
        let s = ctx.read_blocking(&sq)?;
        Ok(f64::from(s.first().copied().unwrap_or(0.0)).sqrt())
    }

    /// Clips `model`'s gradients to global norm `cfg.grad_clip` (if `> 0`) and takes one step with
    /// `lr` on its parameters; returns the gradient norm before clipping (as
    /// [`crate::optim::AdamW::update`]).
    ///
    /// # Errors
    /// [`GpuError::Core`] (`NonFinite`, with the flat index of the first non-finite gradient) for
    /// a NaN/∞ gradient: the step is not taken; device errors.
    pub fn update(&mut self, model: &GpuGpt, cfg: &OptimConfig, lr: f32) -> GpuResult<f64> {
        let ctx = &**model.ctx();
        let norm = self.grad_norm(model)?;
        if !norm.is_finite() {
            let g = model.grads()?;
            let index = g.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(GpuError::Core(rewardkit_core::Error::NonFinite {
                what: "gradient",
                index,
            }));
        }
        let scale = (cfg.grad_clip > 0.0 && norm > f64::from(cfg.grad_clip))
            .then(|| (f64::from(cfg.grad_clip) / norm) as f32);
        self.step += 1;
        let pieces = model.pieces();
        let bufs = model.param_buffers().buffers().iter();
        for ((((p, g), m), v), piece) in bufs
            .zip(model.grad_buffers().buffers())
            .zip(&self.m.bufs)
            .zip(&self.v.bufs)
            .zip(&pieces.list)
        {
            let wd = if piece.decay { cfg.weight_decay } else { 0.0 };
            let n = piece.len;
            let clipped;
            let g = match scale {
                Some(s) => {
                    // α·g as the (n×1)·(1×1) product with the identity: one rounding, as `g *= s`.
                    clipped = ctx.zeros::<f32>(n)?;
                    ctx.matmul(&clipped, g, &self.one, None, Gemm::new(n, 1, 1).scaled(s))?;
                    &clipped
                }
                None => g,
            };
            ctx.adamw(
                p, g, m, v, self.step, lr, cfg.beta1, cfg.beta2, cfg.eps, wd, n,
            )?;
        }
        ctx.submit()?;
        Ok(norm)
    }
}
