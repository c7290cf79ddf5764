//! The trainer's passes on the GPU backend (feature `gpu`): the warm-up step, the reference's
//! log-probabilities and the GRPO policy gradient with `AdamW`, on a [`GpuGpt`]. They mirror the
//! CPU passes of [`crate::train`] (`sft_step`, [`crate::train::completion_logprobs`],
//! [`crate::train::policy_gradient`]) stage for stage.
//!
//! # What runs where
//! - **On the device:** the model's forward and backward passes (policy and frozen reference),
//!   token log-probabilities and their backward (`logprobs_forward`/`logprobs_backward`, the
//!   core's twins), and `AdamW` with clipping. With the whole batch in one pass (`micro_batch = 0`
//!   or `≥ B`) and a token-wise policy loss (PPO clip and the other kinds `rl_step` runs), the
//!   loss, its KL term, the aggregation and `∂loss/∂logits` run as **one fused device step**
//!   ([`LossStage::run_fused`], `GpuContext::rl_step`), configured by the core's `PolicyLoss` and
//!   `Aggregation`.
//! - **On the host, through the core** (`crate::step`): rewards and advantages (the verifier runs
//!   on the host; a batch has `B` advantages, uploaded); the loss of the sequence-coupled kinds
//!   (GSPO, GSPO-token, GMPO, VESPO, which `rl_step` does not run), of Clip-Cov/KL-Cov, and of
//!   micro-batches (whose normalizer is the whole batch's, [`LossStage::normalizer`]): the
//!   device's log-probabilities are read back, [`LossStage::run`] computes the loss and
//!   `∂loss/∂log π` exactly as on the CPU, and the gradient goes back up for the device's
//!   `logprobs_backward`; the logged diagnostics (clip fraction, KL, entropy) of every step.
//! - **Sampling** runs on the CPU copy of the policy (the KV-cache sampler of [`crate::model`]),
//!   synced from the device once per step (after `AdamW`): the GPU crate has no decode kernel
//!   (single-query attention over a key/value cache), so decoding on the device would recompute
//!   the whole prefix for every new token and read the logits back once per token, and the host
//!   draws tokens with the run's seeded generator in row order either way. Evaluation and
//!   checkpoints use the same synced copy.
//!
//! # Readback per GRPO step
//! The reference's and the policy's token log-probabilities, the per-token `(log π, ℓ, H)` of the
//! fused step and its loss parts (`5` floats): what the host needs for the logged metrics, read
//! after the backward pass is recorded; the sum of squared gradients (`1` float) for clipping;
//! the parameters once (the sampler's copy). The host-loss path also reads `log π` and uploads
//! `∂loss/∂log π` per micro-batch.

use std::sync::Arc;

use rewardkit_core::Mask;
use rewardkit_gpu::{Gemm, GpuBuffer, GpuContext, GpuError, RlStepBuffers};

use crate::config::{GrpoConfig, OptimConfig};
use crate::model::Gpt;
use crate::model::gpu::{GpuAdamW, GpuGpt, Weights};
use crate::optim::AdamW;
use crate::step::device as dev;
use crate::step::{LossParts, LossStage, PolicyDiagnostics};
use crate::train::{Packed, PolicyGradient, TrainError, forward_flop_of, micro_batches};

impl From<GpuError> for TrainError {
    fn from(e: GpuError) -> Self {
        match e {
            GpuError::Core(e) => Self::Core(e),
            other => Self::Device(other.to_string()),
        }
    }
}

/// The trainer's state on the device: the policy (parameters, gradients, activations, the frozen
/// reference) and its optimizer.
#[derive(Debug)]
pub struct Device {
    /// The model on the device.
    pub model: GpuGpt,
    /// Its optimizer.
    pub opt: GpuAdamW,
    /// The device parameters changed since the host copy was last synced.
    pub stale: bool,
    /// `Some(false)` once the fused loss reported `Unsupported` for this run's loss.
    fused: Option<bool>,
    /// `log π_old` of the current GRPO step on the full `(B, T)` grid (its first epoch).
    old_full: Option<GpuBuffer<f32>>,
}

/// The reference's token log-probabilities of a packed batch: one device buffer per micro-batch,
/// on the `(rows, T)` grid of the batch's targets.
#[derive(Debug)]
pub struct RefLogp {
    bufs: Vec<GpuBuffer<f32>>,
}

fn no_forward() -> TrainError {
    TrainError::Core(rewardkit_core::Error::MissingInput {
        what: "a forward pass",
    })
}

/// Rows `(B, T)` of `x` `(B, T)` for `rows`.
fn rows_of<T: Copy>(x: &[T], rows: core::ops::Range<usize>, t: usize) -> &[T] {
    &x[rows.start * t..rows.end * t]
}

impl Device {
    /// The policy `policy`, the reference `reference` and the optimizer state `opt` on the device.
    ///
    /// # Errors
    /// Device errors.
    pub fn new(
        ctx: Arc<GpuContext>,
        policy: &Gpt,
        reference: Option<&Gpt>,
        opt: &AdamW,
    ) -> Result<Self, TrainError> {
        let mut model = GpuGpt::new(ctx, policy)?;
        if let Some(r) = reference {
            model.set_reference(Some(&r.params))?;
        }
        let opt = GpuAdamW::new(model.ctx(), model.pieces(), &opt.m, &opt.v, opt.step)?;
        Ok(Self {
            model,
            opt,
            stale: false,
            fused: None,
            old_full: None,
        })
    }

    /// The context.
    pub fn ctx(&self) -> &GpuContext {
        self.model.ctx()
    }

    /// The adapter's name.
    pub fn adapter(&self) -> String {
        let info = self.ctx().adapter_info();
        format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
    }

    /// Copies the device's parameters into `host` if they changed.
    ///
    /// # Errors
    /// Readback errors.
    pub fn sync_params(&mut self, host: &mut Gpt) -> Result<(), TrainError> {
        if self.stale {
            host.params = self.model.params()?;
            self.stale = false;
        }
        Ok(())
    }

    /// Copies the optimizer state into `host` (for a checkpoint).
    ///
    /// # Errors
    /// Readback errors.
    pub fn sync_opt(&self, host: &mut AdamW) -> Result<(), TrainError> {
        let (m, v) = self.opt.moments(self.ctx(), self.model.pieces())?;
        host.m = m;
        host.v = v;
        host.step = self.opt.step;
        Ok(())
    }

    /// Starts GRPO: the reference is the policy as it is now, and the optimizer starts afresh.
    ///
    /// # Errors
    /// Device errors.
    pub fn start_grpo(&mut self) -> Result<(), TrainError> {
        self.model.set_reference(None)?;
        self.opt.reset(self.model.ctx(), self.model.pieces())?;
        Ok(())
    }

    /// One supervised step (the device form of `Trainer::sft_step`): forward, token
    /// log-probabilities, `∂/∂logits` of `Σ dlogp·log π`, backward, `AdamW`. Returns the loss
    /// `Σ dlogp·log π`.
    ///
    /// # Errors
    /// [`TrainError`] (device or numerical errors).
    pub fn sft_step(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        dlogp: &[f32],
        b: usize,
        t: usize,
        optim: &OptimConfig,
        lr: f32,
    ) -> Result<f64, TrainError> {
        let v = self.model.cfg.vocab;
        let ctx = Arc::clone(self.model.ctx());
        let ids = ctx.upload_ids(tokens, v)?;
        let tgt = ctx.upload_ids(targets, v)?;
        self.model.zero_grads()?;
        self.model.forward(Weights::Policy, &ids, b, t)?;
        let logits = self.logits()?;
        let lp = ctx.zeros::<f32>(b * t)?;
        dev::token_logprobs(&ctx, &lp, logits, &tgt, v)?;
        let dlogits = ctx.zeros::<f32>(b * t * v)?;
        dev::token_logprobs_backward(&ctx, &dlogits, &ctx.upload(dlogp)?, logits, &tgt, v)?;
        self.model.backward(&dlogits, &ids)?;
        let logp = ctx.read_blocking(&lp)?;
        let loss = logp
            .iter()
            .zip(dlogp)
            .map(|(&l, &d)| f64::from(l) * f64::from(d))
            .sum();
        self.opt.update(&self.model, optim, lr)?;
        self.stale = true;
        Ok(loss)
    }

    fn logits(&self) -> Result<&GpuBuffer<f32>, TrainError> {
        self.model.logits().ok_or(no_forward())
    }

    /// The reference's token log-probabilities on a packed batch, by micro-batches, kept on the
    /// device (the device form of [`crate::train::completion_logprobs`]).
    ///
    /// # Errors
    /// [`TrainError`].
    pub fn reference_logprobs(
        &mut self,
        batch: &Packed<'_>,
        micro: usize,
    ) -> Result<RefLogp, TrainError> {
        let (v, t) = (self.model.cfg.vocab, batch.t);
        let ctx = Arc::clone(self.model.ctx());
        let mut bufs = Vec::new();
        for rows in micro_batches(batch.b, micro) {
            let ids = ctx.upload_ids(rows_of(batch.tokens, rows.clone(), t), v)?;
            let tgt = ctx.upload_ids(rows_of(batch.targets, rows.clone(), t), v)?;
            self.model
                .forward(Weights::Reference, &ids, rows.len(), t)?;
            let lp = ctx.zeros::<f32>(rows.len() * t)?;
            dev::token_logprobs(&ctx, &lp, self.logits()?, &tgt, v)?;
            bufs.push(lp);
        }
        Ok(RefLogp { bufs })
    }

    /// The completion grid `(B, Tc)` of log-probabilities on the full grid `(rows, T)`, read back
    /// and appended to `out`.
    fn read_completions(
        &self,
        out: &mut Vec<f32>,
        full: &GpuBuffer<f32>,
        batch: &Packed<'_>,
    ) -> Result<(), TrainError> {
        let tc = batch.t + 1 - batch.p_len;
        let v = self.ctx().read_blocking(full)?;
        for row in v.chunks_exact(batch.t) {
            out.extend_from_slice(&row[batch.p_len - 1..][..tc]);
        }
        Ok(())
    }

    /// The reference's log-probabilities on the completion grid `(B, Tc)` (read back).
    ///
    /// # Errors
    /// Readback errors.
    pub fn reference_host(&self, r: &RefLogp, batch: &Packed<'_>) -> Result<Vec<f32>, TrainError> {
        let tc = batch.t + 1 - batch.p_len;
        let mut out = Vec::with_capacity(batch.b * tc);
        for buf in &r.bufs {
            self.read_completions(&mut out, buf, batch)?;
        }
        Ok(out)
    }

    /// The GRPO passes of one step on the device (the device form of steps 5–7 of
    /// `Trainer::grpo_step`): the reference's log-probabilities, then `cfg.epochs` times the policy
    /// gradient (fused on the device, or the host loss per micro-batch; see the module docs) and
    /// `AdamW`. Returns the last epoch's loss report,
    /// the last gradient norm and the model FLOPs of these passes.
    ///
    /// # Errors
    /// [`TrainError`].
    pub fn grpo_passes(
        &mut self,
        loss: &LossStage,
        batch: &Packed<'_>,
        adv: &[f32],
        mask: Mask<'_>,
        cfg: &GrpoConfig,
        optim: &OptimConfig,
    ) -> Result<(PolicyGradient, f64, f64), TrainError> {
        let (b, t) = (batch.b, batch.t);
        let micro = cfg.micro_batch;
        let refs = self.reference_logprobs(batch, micro)?;
        let mut flop = forward_flop_of(&self.model.cfg, b, t);
        let mut old: Option<Vec<f32>> = None;
        let mut ref_host: Option<Vec<f32>> = None;
        let mut last = None;
        let mut grad_norm = 0.0;
        self.old_full = None;
        for epoch in 0..cfg.epochs {
            let mut logp = Vec::new();
            let out = self.policy_gradient(
                loss,
                batch,
                &refs,
                &mut ref_host,
                old.as_deref(),
                adv,
                mask,
                micro,
                epoch == 0,
                &mut logp,
            )?;
            if epoch == 0 {
                old = Some(logp);
            }
            grad_norm = self.opt.update(&self.model, optim, cfg.lr)?;
            self.stale = true;
            flop += 3.0 * forward_flop_of(&self.model.cfg, b, t);
            last = Some(out);
        }
        let out = last.ok_or(rewardkit_core::Error::Empty { what: "epochs" })?;
        Ok((out, grad_norm, flop))
    }

    /// The policy loss of a packed batch and its gradient with respect to every parameter (in the
    /// model's gradient buffers, zeroed first), the device form of
    /// [`crate::train::policy_gradient`]: the fused device loss for the whole batch when it covers
    /// the configured loss, else the host loss per micro-batch (see the module docs). The policy's
    /// completion log-probabilities `(B, Tc)` land in `logp`.
    #[expect(
        clippy::too_many_lines,
        reason = "one readable pass: forward, loss (fused or host), backward, report"
    )]
    fn policy_gradient(
        &mut self,
        loss: &LossStage,
        batch: &Packed<'_>,
        refs: &RefLogp,
        ref_host: &mut Option<Vec<f32>>,
        old: Option<&[f32]>,
        adv: &[f32],
        mask: Mask<'_>,
        micro: usize,
        entropy: bool,
        logp: &mut Vec<f32>,
    ) -> Result<PolicyGradient, TrainError> {
        let Packed {
            tokens,
            targets,
            b,
            t,
            p_len,
        } = *batch;
        let v = self.model.cfg.vocab;
        let tc = t + 1 - p_len;
        let ctx = Arc::clone(self.model.ctx());
        let bits = mask.bits();
        let total = loss.normalizer(mask);
        let per_seq = adv.len() == b;
        self.model.zero_grads()?;
        let mut out = PolicyGradient {
            loss: 0.0,
            parts: LossParts::ZERO,
            diag: PolicyDiagnostics::EMPTY,
            kl_sum: 0.0,
            entropy_sum: 0.0,
        };
        logp.clear();
        let whole = micro == 0 || micro >= b;
        for (k, rows) in micro_batches(b, micro).enumerate() {
            let (r0, r1, mb) = (rows.start, rows.end, rows.len());
            let ids = ctx.upload_ids(rows_of(tokens, rows.clone(), t), v)?;
            let tgt = ctx.upload_ids(rows_of(targets, rows.clone(), t), v)?;
            self.model.forward(Weights::Policy, &ids, mb, t)?;
            let ref_full = refs
                .bufs
                .get(k)
                .ok_or(rewardkit_core::Error::MissingInput {
                    what: "reference log-probabilities",
                })?;
            // Inputs on the full (rows, T) grid: completion slot j of a row is column P − 1 + j.
            let mut mask_full = vec![0u32; mb * t];
            for (i, m) in bits[r0 * tc..r1 * tc].chunks_exact(tc).enumerate() {
                for (j, &on) in m.iter().enumerate() {
                    mask_full[i * t + p_len - 1 + j] = u32::from(on);
                }
            }
            let adv_dev = if per_seq {
                ctx.upload(&adv[r0..r1])?
            } else {
                let mut a = vec![0.0f32; mb * t];
                for (i, row) in adv[r0 * tc..r1 * tc].chunks_exact(tc).enumerate() {
                    a[i * t + p_len - 1..][..tc].copy_from_slice(row);
                }
                ctx.upload(&a)?
            };
            let mask_dev = ctx.upload(&mask_full)?;
            let dlogits = ctx.zeros::<f32>(mb * t * v)?;
            let fused = whole && self.fused != Some(false);
            let mut done = false;
            if fused {
                let logits = self.model.logits().ok_or(no_forward())?;
                // log π_old: this step's first-epoch log-probabilities (on-policy), kept.
                if old.is_none() || self.old_full.is_none() {
                    let o = ctx.zeros::<f32>(mb * t)?;
                    dev::token_logprobs(&ctx, &o, logits, &tgt, v)?;
                    self.old_full = Some(o);
                }
                let old_full = self
                    .old_full
                    .as_ref()
                    .ok_or(rewardkit_core::Error::MissingInput { what: "old logp" })?;
                let (tok, rows_buf, parts) = (
                    ctx.zeros::<f32>(3 * mb * t)?,
                    ctx.zeros::<f32>(2 * mb)?,
                    ctx.zeros::<f32>(5)?,
                );
                let s = RlStepBuffers {
                    grad_logits: &dlogits,
                    tok: &tok,
                    rows: &rows_buf,
                    parts: &parts,
                    logits,
                    ids: &tgt,
                    old_logp: old_full,
                    ref_logp: Some(ref_full),
                    advantages: &adv_dev,
                    mask: &mask_dev,
                };
                match loss.run_fused(&ctx, &s, t, v) {
                    Ok(()) => {
                        self.fused = Some(true);
                        self.model.backward(&dlogits, &ids)?;
                        // What the host logs: read after the backward pass is recorded.
                        let p = ctx.read_parts_blocking(&parts)?;
                        // Per token (log π, ℓ, H), interleaved.
                        let tokv = ctx.read_blocking(&tok)?;
                        let lp: Vec<f32> = tokv.chunks_exact(3).map(|x| x[0]).collect();
                        let h: Vec<f32> = tokv.chunks_exact(3).map(|x| x[2]).collect();
                        for row in lp.chunks_exact(t) {
                            logp.extend_from_slice(&row[p_len - 1..][..tc]);
                        }
                        if entropy {
                            for (i, m) in mask_full.chunks_exact(t).enumerate() {
                                for (j, _) in m.iter().enumerate().filter(|&(_, &on)| on != 0) {
                                    out.entropy_sum += f64::from(h[i * t + j]);
                                }
                            }
                        }
                        let mut old_host = Vec::new();
                        let old_c = match old {
                            Some(o) => o,
                            None => {
                                self.read_completions(&mut old_host, old_full, batch)?;
                                &old_host
                            }
                        };
                        let refc = self.ref_host(refs, batch, ref_host)?;
                        let mut kl_tok = vec![0.0f32; b * tc];
                        let (diag, kl_sum) =
                            loss.report(&mut kl_tok, logp, old_c, refc, adv, mask)?;
                        out.loss = loss.value(&p, &total)?;
                        out.parts = p;
                        out.diag = diag;
                        out.kl_sum = kl_sum;
                        done = true;
                    }
                    Err(GpuError::Unsupported { .. }) => self.fused = Some(false),
                    Err(e) => return Err(e.into()),
                }
            }
            if done {
                continue;
            }
            // Host loss: the device's log-probabilities through the core's loss (exactly
            // `LossStage::run`, as on the CPU), its gradient back to the device.
            let logits = self.model.logits().ok_or(no_forward())?;
            let lp_full = ctx.zeros::<f32>(mb * t)?;
            dev::token_logprobs(&ctx, &lp_full, logits, &tgt, v)?;
            let start = logp.len();
            self.read_completions(logp, &lp_full, batch)?;
            let refc = self.ref_host(refs, batch, ref_host)?;
            let lp_mb = &logp[start..];
            let m = Mask::new(&bits[r0 * tc..r1 * tc], tc)?;
            let adv_mb = if per_seq {
                &adv[r0..r1]
            } else {
                &adv[r0 * tc..r1 * tc]
            };
            let mut dlogp = vec![0.0f32; mb * tc];
            let mut kl_tok = vec![0.0f32; mb * tc];
            let part = loss.run(
                &mut dlogp,
                &mut kl_tok,
                lp_mb,
                old.map_or(lp_mb, |o| &o[r0 * tc..r1 * tc]),
                &refc[r0 * tc..r1 * tc],
                adv_mb,
                m,
                &total,
            )?;
            out.loss += part.value;
            out.parts += part.parts;
            out.diag = out.diag + part.diag;
            out.kl_sum += part.kl_sum;
            if entropy {
                let h = ctx.zeros::<f32>(mb * t)?;
                dev::entropies(&ctx, &h, logits, v)?;
                let h = ctx.read_blocking(&h)?;
                for (i, row) in m.bits().chunks_exact(tc).enumerate() {
                    for (j, _) in row.iter().enumerate().filter(|&(_, &on)| on) {
                        out.entropy_sum += f64::from(h[i * t + p_len - 1 + j]);
                    }
                }
            }
            let mut dfull = vec![0.0f32; mb * t];
            for (i, row) in dlogp.chunks_exact(tc).enumerate() {
                dfull[i * t + p_len - 1..][..tc].copy_from_slice(row);
            }
            dev::token_logprobs_backward(&ctx, &dlogits, &ctx.upload(&dfull)?, logits, &tgt, v)?;
            self.model.backward(&dlogits, &ids)?;
        }
        Ok(out)
    }

    /// The reference's completion log-probabilities, read back once per step.
    fn ref_host<'a>(
        &self,
        refs: &RefLogp,
        batch: &Packed<'_>,
        cache: &'a mut Option<Vec<f32>>,
    ) -> Result<&'a [f32], TrainError> {
        if cache.is_none() {
            *cache = Some(self.reference_host(refs, batch)?);
        }
        Ok(cache.as_deref().unwrap_or_default())
    }

    /// The matrix-product rate of this adapter on the model's largest training product
    /// (`(B·T) × C × 4C`, the MLP, as `crate::train::measure_matmul_rate` on the CPU), in FLOP/s
    /// (about 0.3 s of measurement; products are submitted 8 at a time and waited for, so on a real
    /// GPU the rate is not one submission's latency per product).
    ///
    /// # Errors
    /// Device errors.
    pub fn matmul_rate(&self, n: usize) -> Result<f64, TrainError> {
        let c = self.model.cfg.n_embd;
        let ctx = self.ctx();
        let inp = ctx.upload(&vec![0.5f32; n * c])?;
        let w = ctx.upload(&vec![0.25f32; 4 * c * c])?;
        let out = ctx.zeros::<f32>(n * 4 * c)?;
        let flop = 2.0 * (n * c * 4 * c) as f64;
        let g = Gemm::new(n, 4 * c, c).transpose_b(true);
        ctx.matmul(&out, &inp, &w, None, g)?;
        ctx.finish()?;
        let t0 = std::time::Instant::now();
        let mut reps = 0u32;
        while t0.elapsed().as_secs_f64() < 0.3 {
            for _ in 0..8 {
                ctx.matmul(&out, &inp, &w, None, g)?;
            }
            ctx.finish()?;
            reps += 8;
        }
        Ok(flop * f64::from(reps) / t0.elapsed().as_secs_f64())
    }
}
