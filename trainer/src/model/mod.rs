//! A GPT-2-style decoder on the CPU: token and position embeddings, pre-`LayerNorm` blocks with
//! causal multi-head attention and a GELU MLP, a final `LayerNorm` and a head tied to the token
//! embedding. Forward and backward are hand-written over the [`crate::ops`] kernels, as in llm.c
//! (`train_gpt2.c`); the head's log-probabilities come from `rewardkit_core` (see [`crate::step`]).
//!
//! Parameters live in one flat `f32` vector ([`Gpt::params`]) cut into named tensors
//! ([`ParamLayout`]), so the optimizer, gradient clipping and checkpoints treat them as one buffer.

use serde::{Deserialize, Serialize};

use crate::ops::{self, Result};

/// Model sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Vocabulary size `V` (set by the task; the config value is overwritten).
    #[serde(default)]
    pub vocab: usize,
    /// Largest sequence length `maxT` (prompt plus completion).
    pub max_t: usize,
    /// Number of blocks `L`.
    pub n_layer: usize,
    /// Number of attention heads `NH`.
    pub n_head: usize,
    /// Channels `C` (a multiple of `NH`).
    pub n_embd: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            vocab: 0,
            max_t: 48,
            n_layer: 2,
            n_head: 4,
            n_embd: 96,
        }
    }
}

/// One named tensor of the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// Name (used in checkpoints), e.g. `h.qkv.w`.
    pub name: &'static str,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Offset into the flat vector.
    pub offset: usize,
    /// Whether `AdamW`'s weight decay applies (matrices yes; biases, `LayerNorm` gains no).
    pub decay: bool,
}

impl TensorSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its slice of `flat`.
    pub fn of<'a>(&self, flat: &'a [f32]) -> &'a [f32] {
        &flat[self.offset..self.offset + self.len()]
    }
}

/// The parameter tensors in order (llm.c's `ParameterTensors`), each layer's tensors stacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    /// All tensors, in memory order.
    pub tensors: Vec<TensorSpec>,
    /// Total number of parameters.
    pub total: usize,
}

// Indices into `ParamLayout::tensors`.
const WTE: usize = 0;
const WPE: usize = 1;
const LN1W: usize = 2;
const LN1B: usize = 3;
const QKVW: usize = 4;
const QKVB: usize = 5;
const PROJW: usize = 6;
const PROJB: usize = 7;
const LN2W: usize = 8;
const LN2B: usize = 9;
const FCW: usize = 10;
const FCB: usize = 11;
const FCPW: usize = 12;
const FCPB: usize = 13;
const LNFW: usize = 14;
const LNFB: usize = 15;

impl ParamLayout {
    /// The layout for `cfg`.
    pub fn new(cfg: &ModelConfig) -> Self {
        let (v, t, l, c) = (cfg.vocab, cfg.max_t, cfg.n_layer, cfg.n_embd);
        let specs: [(&'static str, Vec<usize>, bool); 16] = [
            ("wte", vec![v, c], true),
            ("wpe", vec![t, c], true),
            ("h.ln_1.w", vec![l, c], false),
            ("h.ln_1.b", vec![l, c], false),
            ("h.attn.qkv.w", vec![l, 3 * c, c], true),
            ("h.attn.qkv.b", vec![l, 3 * c], false),
            ("h.attn.proj.w", vec![l, c, c], true),
            ("h.attn.proj.b", vec![l, c], false),
            ("h.ln_2.w", vec![l, c], false),
            ("h.ln_2.b", vec![l, c], false),
            ("h.mlp.fc.w", vec![l, 4 * c, c], true),
            ("h.mlp.fc.b", vec![l, 4 * c], false),
            ("h.mlp.proj.w", vec![l, c, 4 * c], true),
            ("h.mlp.proj.b", vec![l, c], false),
            ("ln_f.w", vec![c], false),
            ("ln_f.b", vec![c], false),
        ];
        let mut offset = 0;
        let tensors = specs
            .into_iter()
            .map(|(name, shape, decay)| {
                let spec = TensorSpec {
                    name,
                    shape,
                    offset,
                    decay,
                };
                offset += spec.len();
                spec
            })
            .collect();
        Self {
            tensors,
            total: offset,
        }
    }
}

/// Splits a flat parameter (or gradient) vector into its 16 tensors.
macro_rules! split {
    ($layout:expr, $flat:expr, $method:ident) => {{
        let mut rest = $flat;
        let mut out = Vec::with_capacity(16);
        for t in &$layout.tensors {
            let (head, tail) = rest.$method(t.len());
            out.push(head);
            rest = tail;
        }
        out
    }};
}

/// Activations of one forward pass over `(B, T)` tokens, kept for the backward pass.
#[derive(Clone, Debug, Default)]
pub struct Activations {
    b: usize,
    t: usize,
    encoded: Vec<f32>,
    ln1: Vec<f32>,
    ln1_mean: Vec<f32>,
    ln1_rstd: Vec<f32>,
    qkv: Vec<f32>,
    atty: Vec<f32>,
    preatt: Vec<f32>,
    att: Vec<f32>,
    attproj: Vec<f32>,
    residual2: Vec<f32>,
    ln2: Vec<f32>,
    ln2_mean: Vec<f32>,
    ln2_rstd: Vec<f32>,
    fch: Vec<f32>,
    fch_gelu: Vec<f32>,
    fcproj: Vec<f32>,
    residual3: Vec<f32>,
    lnf: Vec<f32>,
    lnf_mean: Vec<f32>,
    lnf_rstd: Vec<f32>,
    /// Logits `(B, T, V)` of the last forward pass.
    pub logits: Vec<f32>,
}

/// Sets `v` to `n` elements, keeping its allocation (the values are overwritten before use).
fn fit(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

impl Activations {
    /// Sizes the buffers for `(B, T)`, reusing their allocations (GRPO batches change `T` from
    /// step to step).
    fn resize(&mut self, cfg: &ModelConfig, b: usize, t: usize) {
        let (l, c, nh, v) = (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.vocab);
        let bt = b * t;
        (self.b, self.t) = (b, t);
        fit(&mut self.encoded, bt * c);
        fit(&mut self.ln1, l * bt * c);
        fit(&mut self.ln1_mean, l * bt);
        fit(&mut self.ln1_rstd, l * bt);
        fit(&mut self.qkv, l * bt * 3 * c);
        fit(&mut self.atty, l * bt * c);
        fit(&mut self.preatt, l * b * nh * t * t);
        fit(&mut self.att, l * b * nh * t * t);
        fit(&mut self.attproj, l * bt * c);
        fit(&mut self.residual2, l * bt * c);
        fit(&mut self.ln2, l * bt * c);
        fit(&mut self.ln2_mean, l * bt);
        fit(&mut self.ln2_rstd, l * bt);
        fit(&mut self.fch, l * bt * 4 * c);
        fit(&mut self.fch_gelu, l * bt * 4 * c);
        fit(&mut self.fcproj, l * bt * c);
        fit(&mut self.residual3, l * bt * c);
        fit(&mut self.lnf, bt * c);
        fit(&mut self.lnf_mean, bt);
        fit(&mut self.lnf_rstd, bt);
        fit(&mut self.logits, bt * v);
    }

    /// Batch and sequence length `(B, T)` these buffers are sized for.
    pub fn shape(&self) -> (usize, usize) {
        (self.b, self.t)
    }
}

/// Gradient scratch for activations (one layer's worth is reused across layers where possible).
#[derive(Clone, Debug, Default)]
struct ActGrads {
    dresidual: Vec<f32>,
    dln: Vec<f32>,
    dqkv: Vec<f32>,
    datty: Vec<f32>,
    dpreatt: Vec<f32>,
    datt: Vec<f32>,
    dfch: Vec<f32>,
    dfch_gelu: Vec<f32>,
}

impl ActGrads {
    /// Sizes the buffers for `(B, T)`, reusing their allocations (each is zeroed before use).
    fn resize(&mut self, cfg: &ModelConfig, b: usize, t: usize) {
        let (c, nh) = (cfg.n_embd, cfg.n_head);
        let bt = b * t;
        fit(&mut self.dresidual, bt * c);
        fit(&mut self.dln, bt * c);
        fit(&mut self.dqkv, bt * 3 * c);
        fit(&mut self.datty, bt * c);
        fit(&mut self.dpreatt, b * nh * t * t);
        fit(&mut self.datt, b * nh * t * t);
        fit(&mut self.dfch, bt * 4 * c);
        fit(&mut self.dfch_gelu, bt * 4 * c);
    }
}

/// The model: its configuration, layout and flat parameters.
#[derive(Clone, Debug)]
pub struct Gpt {
    /// Sizes.
    pub cfg: ModelConfig,
    /// Tensor layout of [`Gpt::params`].
    pub layout: ParamLayout,
    /// All parameters, flat.
    pub params: Vec<f32>,
    acts: Activations,
    dacts: ActGrads,
}

impl Gpt {
    /// A model with GPT-2 initialization: weights `N(0, 0.02)` (residual projections scaled by
    /// `1/√(2L)`), biases 0, `LayerNorm` gains 1, drawn from `rng`.
    ///
    /// # Errors
    /// [`rewardkit_core::Error::BadShape`] if `n_embd` is not a positive multiple of `n_head`, or a
    /// size is zero.
    pub fn new(cfg: ModelConfig, rng: &mut impl rewardkit_core::rng::RandomSource) -> Result<Self> {
        if cfg.n_head == 0 || cfg.n_embd == 0 || cfg.n_embd % cfg.n_head != 0 {
            return Err(rewardkit_core::Error::BadShape {
                what: "n_embd (a positive multiple of n_head)",
                len: cfg.n_embd,
                dim: cfg.n_head,
            });
        }
        if cfg.vocab == 0 || cfg.max_t == 0 || cfg.n_layer == 0 {
            return Err(rewardkit_core::Error::BadShape {
                what: "model sizes (vocab, max_t, n_layer must be positive)",
                len: 0,
                dim: 0,
            });
        }
        let layout = ParamLayout::new(&cfg);
        let mut params = vec![0.0f32; layout.total];
        let resid_scale = 1.0 / (2.0 * cfg.n_layer as f64).sqrt();
        for (i, spec) in layout.tensors.iter().enumerate() {
            let dst = &mut params[spec.offset..spec.offset + spec.len()];
            match i {
                LN1W | LN2W | LNFW => dst.fill(1.0),
                _ if spec.decay => {
                    let scale = if i == PROJW || i == FCPW {
                        0.02 * resid_scale
                    } else {
                        0.02
                    };
                    for x in dst.iter_mut() {
                        *x = (normal(rng) * scale) as f32;
                    }
                }
                _ => {}
            }
        }
        Ok(Self {
            cfg,
            layout,
            params,
            acts: Activations::default(),
            dacts: ActGrads::default(),
        })
    }

    /// A model with the given parameters.
    ///
    /// # Errors
    /// [`rewardkit_core::Error::LengthMismatch`] if `params` does not fit the layout.
    pub fn from_params(cfg: ModelConfig, params: Vec<f32>) -> Result<Self> {
        let layout = ParamLayout::new(&cfg);
        if params.len() != layout.total {
            return Err(rewardkit_core::Error::LengthMismatch {
                what: "params",
                expected: layout.total,
                got: params.len(),
            });
        }
        Ok(Self {
            cfg,
            layout,
            params,
            acts: Activations::default(),
            dacts: ActGrads::default(),
        })
    }

    /// The 16 parameter tensors as slices, in layout order.
    fn split_params(&self) -> Vec<&[f32]> {
        split!(self.layout, self.params.as_slice(), split_at)
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.layout.total
    }

    /// The activations of the last forward pass (logits in [`Activations::logits`]).
    pub fn acts(&self) -> &Activations {
        &self.acts
    }

    /// Forward pass over `tokens` `(B, T)`, `T ≤ maxT`; the logits `(B, T, V)` land in
    /// [`Activations::logits`].
    ///
    /// # Errors
    /// As the ops (wrong lengths, `T > maxT`, token ids `≥ V`).
    pub fn forward(&mut self, tokens: &[u32], b: usize, t: usize) -> Result {
        if self.acts.shape() != (b, t) {
            self.acts.resize(&self.cfg, b, t);
        }
        forward_into(
            &self.cfg,
            &self.layout,
            &self.params,
            &mut self.acts,
            tokens,
            b,
            t,
        )
    }

    /// Backward pass from `dlogits` `(B, T, V)` after [`Gpt::forward`] on the same tokens;
    /// **accumulates** into `grads` (length [`Gpt::num_params`]).
    ///
    /// # Errors
    /// As the ops; [`rewardkit_core::Error::LengthMismatch`] for wrong buffer sizes.
    pub fn backward(&mut self, grads: &mut [f32], dlogits: &[f32], tokens: &[u32]) -> Result {
        let (b, t) = self.acts.shape();
        if self.dacts.dresidual.len() != b * t * self.cfg.n_embd
            || self.dacts.dpreatt.len() != b * self.cfg.n_head * t * t
        {
            self.dacts.resize(&self.cfg, b, t);
        }
        if grads.len() != self.layout.total {
            return Err(rewardkit_core::Error::LengthMismatch {
                what: "grads",
                expected: self.layout.total,
                got: grads.len(),
            });
        }
        backward_into(
            &self.cfg,
            &self.layout,
            &self.params,
            &self.acts,
            &mut self.dacts,
            grads,
            dlogits,
            tokens,
        )
    }
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut impl rewardkit_core::rng::RandomSource) -> f64 {
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
}

fn forward_into(
    cfg: &ModelConfig,
    layout: &ParamLayout,
    params: &[f32],
    a: &mut Activations,
    tokens: &[u32],
    b: usize,
    t: usize,
) -> Result {
    let (l, c, nh, v) = (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.vocab);
    let p = split!(layout, params, split_at);
    let bt = b * t;
    ops::encoder_forward(&mut a.encoded, tokens, p[WTE], p[WPE], b, t, c)?;
    for li in 0..l {
        let residual: &[f32] = if li == 0 {
            &a.encoded
        } else {
            &a.residual3[(li - 1) * bt * c..li * bt * c]
        };
        let w = |i: usize, n: usize| &p[i][li * n..(li + 1) * n];
        let ln1 = &mut a.ln1[li * bt * c..(li + 1) * bt * c];
        ops::layernorm_forward(
            ln1,
            &mut a.ln1_mean[li * bt..(li + 1) * bt],
            &mut a.ln1_rstd[li * bt..(li + 1) * bt],
            residual,
            w(LN1W, c),
            w(LN1B, c),
            bt,
            c,
        )?;
        let qkv = &mut a.qkv[li * bt * 3 * c..(li + 1) * bt * 3 * c];
        ops::matmul_forward(
            qkv,
            ln1,
            w(QKVW, 3 * c * c),
            Some(w(QKVB, 3 * c)),
            bt,
            c,
            3 * c,
        )?;
        let att_n = b * nh * t * t;
        let atty = &mut a.atty[li * bt * c..(li + 1) * bt * c];
        ops::attention_forward(
            atty,
            &mut a.preatt[li * att_n..(li + 1) * att_n],
            &mut a.att[li * att_n..(li + 1) * att_n],
            qkv,
            b,
            t,
            c,
            nh,
        )?;
        let attproj = &mut a.attproj[li * bt * c..(li + 1) * bt * c];
        ops::matmul_forward(attproj, atty, w(PROJW, c * c), Some(w(PROJB, c)), bt, c, c)?;
        let residual2 = &mut a.residual2[li * bt * c..(li + 1) * bt * c];
        ops::residual_forward(residual2, residual, attproj, bt * c)?;
        let ln2 = &mut a.ln2[li * bt * c..(li + 1) * bt * c];
        ops::layernorm_forward(
            ln2,
            &mut a.ln2_mean[li * bt..(li + 1) * bt],
            &mut a.ln2_rstd[li * bt..(li + 1) * bt],
            residual2,
            w(LN2W, c),
            w(LN2B, c),
            bt,
            c,
        )?;
        let fch = &mut a.fch[li * bt * 4 * c..(li + 1) * bt * 4 * c];
        ops::matmul_forward(
            fch,
            ln2,
            w(FCW, 4 * c * c),
            Some(w(FCB, 4 * c)),
            bt,
            c,
            4 * c,
        )?;
        let fch_gelu = &mut a.fch_gelu[li * bt * 4 * c..(li + 1) * bt * 4 * c];
        ops::gelu_forward(fch_gelu, fch, bt * 4 * c)?;
        let fcproj = &mut a.fcproj[li * bt * c..(li + 1) * bt * c];
        ops::matmul_forward(
            fcproj,
            fch_gelu,
            w(FCPW, 4 * c * c),
            Some(w(FCPB, c)),
            bt,
            4 * c,
            c,
        )?;
        let residual3 = &mut a.residual3[li * bt * c..(li + 1) * bt * c];
        ops::residual_forward(residual3, residual2, fcproj, bt * c)?;
    }
    let last = &a.residual3[(l - 1) * bt * c..l * bt * c];
    ops::layernorm_forward(
        &mut a.lnf,
        &mut a.lnf_mean,
        &mut a.lnf_rstd,
        last,
        p[LNFW],
        p[LNFB],
        bt,
        c,
    )?;
    // Tied head: logits = lnf · wteᵀ.
    ops::matmul_forward(&mut a.logits, &a.lnf, p[WTE], None, bt, c, v)
}

#[expect(
    clippy::too_many_lines,
    reason = "one readable pass mirroring the forward pass"
)]
fn backward_into(
    cfg: &ModelConfig,
    layout: &ParamLayout,
    params: &[f32],
    a: &Activations,
    d: &mut ActGrads,
    grads: &mut [f32],
    dlogits: &[f32],
    tokens: &[u32],
) -> Result {
    let (l, c, nh, v) = (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.vocab);
    let (b, t) = a.shape();
    let bt = b * t;
    let p = split!(layout, params, split_at);
    let mut g = split!(layout, grads, split_at_mut);
    // Head (tied to wte) and final LayerNorm.
    d.dln.fill(0.0);
    ops::matmul_backward(&mut d.dln, g[WTE], None, dlogits, &a.lnf, p[WTE], bt, c, v)?;
    d.dresidual.fill(0.0);
    let last = &a.residual3[(l - 1) * bt * c..l * bt * c];
    {
        let (lnfw, lnfb) = split_pair(&mut g, LNFW, LNFB);
        ops::layernorm_backward(
            &mut d.dresidual,
            lnfw,
            lnfb,
            &d.dln,
            last,
            p[LNFW],
            &a.lnf_mean,
            &a.lnf_rstd,
            bt,
            c,
        )?;
    }
    for li in (0..l).rev() {
        let residual: &[f32] = if li == 0 {
            &a.encoded
        } else {
            &a.residual3[(li - 1) * bt * c..li * bt * c]
        };
        let pw = |i: usize, n: usize| &p[i][li * n..(li + 1) * n];
        // residual3 = residual2 + fcproj: dresidual flows to both (dresidual already holds it).
        // MLP projection.
        d.dfch_gelu.fill(0.0);
        {
            let (w, bias) = split_pair(&mut g, FCPW, FCPB);
            ops::matmul_backward(
                &mut d.dfch_gelu,
                &mut w[li * 4 * c * c..(li + 1) * 4 * c * c],
                Some(&mut bias[li * c..(li + 1) * c]),
                &d.dresidual,
                &a.fch_gelu[li * bt * 4 * c..(li + 1) * bt * 4 * c],
                pw(FCPW, 4 * c * c),
                bt,
                4 * c,
                c,
            )?;
        }
        d.dfch.fill(0.0);
        ops::gelu_backward(
            &mut d.dfch,
            &a.fch[li * bt * 4 * c..(li + 1) * bt * 4 * c],
            &d.dfch_gelu,
            bt * 4 * c,
        )?;
        d.dln.fill(0.0);
        {
            let (w, bias) = split_pair(&mut g, FCW, FCB);
            ops::matmul_backward(
                &mut d.dln,
                &mut w[li * 4 * c * c..(li + 1) * 4 * c * c],
                Some(&mut bias[li * 4 * c..(li + 1) * 4 * c]),
                &d.dfch,
                &a.ln2[li * bt * c..(li + 1) * bt * c],
                pw(FCW, 4 * c * c),
                bt,
                c,
                4 * c,
            )?;
        }
        // ln2 backward adds into dresidual (the gradient at residual2).
        {
            let (w, bias) = split_pair(&mut g, LN2W, LN2B);
            ops::layernorm_backward(
                &mut d.dresidual,
                &mut w[li * c..(li + 1) * c],
                &mut bias[li * c..(li + 1) * c],
                &d.dln,
                &a.residual2[li * bt * c..(li + 1) * bt * c],
                pw(LN2W, c),
                &a.ln2_mean[li * bt..(li + 1) * bt],
                &a.ln2_rstd[li * bt..(li + 1) * bt],
                bt,
                c,
            )?;
        }
        // residual2 = residual + attproj: dresidual is the gradient of both.
        d.datty.fill(0.0);
        {
            let (w, bias) = split_pair(&mut g, PROJW, PROJB);
            ops::matmul_backward(
                &mut d.datty,
                &mut w[li * c * c..(li + 1) * c * c],
                Some(&mut bias[li * c..(li + 1) * c]),
                &d.dresidual,
                &a.atty[li * bt * c..(li + 1) * bt * c],
                pw(PROJW, c * c),
                bt,
                c,
                c,
            )?;
        }
        let att_n = b * nh * t * t;
        d.dqkv.fill(0.0);
        d.dpreatt.fill(0.0);
        d.datt.fill(0.0);
        ops::attention_backward(
            &mut d.dqkv,
            &mut d.dpreatt,
            &mut d.datt,
            &d.datty,
            &a.qkv[li * bt * 3 * c..(li + 1) * bt * 3 * c],
            &a.att[li * att_n..(li + 1) * att_n],
            b,
            t,
            c,
            nh,
        )?;
        d.dln.fill(0.0);
        {
            let (w, bias) = split_pair(&mut g, QKVW, QKVB);
            ops::matmul_backward(
                &mut d.dln,
                &mut w[li * 3 * c * c..(li + 1) * 3 * c * c],
                Some(&mut bias[li * 3 * c..(li + 1) * 3 * c]),
                &d.dqkv,
                &a.ln1[li * bt * c..(li + 1) * bt * c],
                pw(QKVW, 3 * c * c),
                bt,
                c,
                3 * c,
            )?;
        }
        {
            let (w, bias) = split_pair(&mut g, LN1W, LN1B);
            ops::layernorm_backward(
                &mut d.dresidual,
                &mut w[li * c..(li + 1) * c],
                &mut bias[li * c..(li + 1) * c],
                &d.dln,
                residual,
                pw(LN1W, c),
                &a.ln1_mean[li * bt..(li + 1) * bt],
                &a.ln1_rstd[li * bt..(li + 1) * bt],
                bt,
                c,
            )?;
        }
        // dresidual now holds the gradient at this block's input.
    }
    let (dwte, dwpe) = split_pair(&mut g, WTE, WPE);
    ops::encoder_backward(dwte, dwpe, &d.dresidual, tokens, b, t, c)?;
    Ok(())
}

/// Two distinct tensors of a split gradient, mutably (`i < j`).
fn split_pair<'a>(g: &'a mut [&mut [f32]], i: usize, j: usize) -> (&'a mut [f32], &'a mut [f32]) {
    let (lo, hi) = g.split_at_mut(j);
    (&mut *lo[i], &mut *hi[0])
}

#[cfg(feature = "gpu")]
pub mod gpu;
mod sample;
pub use sample::pick;

#[cfg(test)]
mod tests;
