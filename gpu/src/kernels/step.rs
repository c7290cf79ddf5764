//! The fused RL step from logits (`rl_step.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_core::Error;
use rewardkit_core::loss::{Aggregation, PolicyLoss};
use rewardkit_shaders::{RL_MASK_ROWS, RL_ROWS, RL_STEP};

use super::loss::{KlCfg, LossParams, PolicyCfg, agg_code, sequence_coupled, token_shape};
use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    pol: PolicyCfg,
    kl: KlCfg,
    n_rows: u32,
    seq_len: u32,
    vocab: u32,
    adv_per_token: u32,
    has_kl: u32,
    agg: u32,
    grid_x: u32,
    ref_off: u32,
    adv_off: u32,
    kl_iw: u32,
    kl_coef: f32,
    entropy_coef: f32,
    len_eps: f32,
    horizon: f32,
}

/// Device inputs and outputs of [`GpuContext::rl_step`].
///
/// # Shapes
/// With `N = B·T` token rows: `logits`, `grad_logits`: `(N, V)`; `ids`, `old_logp`, `mask` and the
/// optional `ref_logp`: `(N)`; `advantages`: `(N)` or `(B)`; outputs `tok`: `(3·N)` (per token
/// `log π(id)`, `ℓ`, `H`), `rows`: `(2·B)`, `parts`: `(5)`.
#[derive(Clone, Copy, Debug)]
pub struct RlStepBuffers<'a> {
    /// Output, accumulated: `grad_logits += ∂loss/∂logits` (aggregated, ready for the backward
    /// pass; zero it before the first term).
    pub grad_logits: &'a GpuBuffer<f32>,
    /// Output: per token `(log π(id), ℓ, H)`.
    pub tok: &'a GpuBuffer<f32>,
    /// Output: per-row partials `(Σℓ, L)`.
    pub rows: &'a GpuBuffer<f32>,
    /// Output: the loss parts (read with [`GpuContext::read_parts`]).
    pub parts: &'a GpuBuffer<f32>,
    /// Policy logits.
    pub logits: &'a GpuBuffer<f32>,
    /// Sampled token ids (checked with [`GpuContext::upload_ids`]).
    pub ids: &'a GpuBuffer<u32>,
    /// `log π_old` of the sampled tokens.
    pub old_logp: &'a GpuBuffer<f32>,
    /// `log π_ref` of the sampled tokens (for a KL term).
    pub ref_logp: Option<&'a GpuBuffer<f32>>,
    /// Advantages per token or per sequence.
    pub advantages: &'a GpuBuffer<f32>,
    /// The mask (`0` = masked).
    pub mask: &'a GpuBuffer<u32>,
}

impl GpuContext {
    /// The fused RL step: logits → token log-probabilities and entropies → policy loss with KL and
    /// entropy terms → gradient with respect to the logits, reading the `(N, V)` logits in one
    /// kernel (twice per row: statistics, then the gradient) and adding into their gradient.
    ///
    /// # Definition
    /// The chain of `core/examples/grpo_step.rs` after the advantages:
    /// `log π = logits::logprobs_forward(z, ids)`, `H = logits::entropy_forward(z)`,
    /// `parts, g = policy_loss(log π, …, H)` with the core's [`PolicyLoss`] (its KL term and
    /// entropy bonus), `g ← agg.scale_grad(g)`, `g_H = entropy_upstream(agg, c_H)`, and
    /// `grad_logits += logits::logprobs_backward(g) + logits::entropy_backward(g_H)` (accumulating
    /// like the core's backward passes: several loss terms can share one gradient buffer). Five
    /// dispatches (valid-token counts, their parts, the fused pass, row sums, the final parts), no
    /// readback. Masked rows add 0.
    ///
    /// # Shapes
    /// See [`RlStepBuffers`].
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`; `MissingInput` for a KL term without
    /// `ref_logp` or a `*-norm` aggregation without a horizon; [`GpuError::Unsupported`] for a
    /// sequence-coupled loss (GSPO, GSPO-token, GMPO, VESPO: use [`GpuContext::policy_loss`]) and
    /// for Clip-Cov and KL-Cov.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// use rewardkit_core::loss::{Aggregation, PolicyLoss, PolicyLossKind};
    /// use rewardkit_gpu::{GpuContext, RlStepBuffers};
    /// let ctx = GpuContext::new_blocking()?;
    /// let (b, t, v) = (1, 2, 3);
    /// let logits = ctx.upload(&[0.0f32, 1.0, 2.0, 0.5, 0.5, 0.5])?;
    /// let ids = ctx.upload_ids(&[2, 0], v)?;
    /// let old = ctx.upload(&[-0.4f32, -1.1])?;
    /// let adv = ctx.upload(&[1.0f32])?;
    /// let mask = ctx.upload(&[1u32, 1])?;
    /// let (grad, tok) = (ctx.zeros::<f32>(b * t * v)?, ctx.zeros::<f32>(3 * b * t)?);
    /// let (rows, parts) = (ctx.zeros::<f32>(2 * b)?, ctx.zeros::<f32>(5)?);
    /// let bufs = RlStepBuffers { grad_logits: &grad, tok: &tok, rows: &rows, parts: &parts,
    ///     logits: &logits, ids: &ids, old_logp: &old, ref_logp: None, advantages: &adv, mask: &mask };
    /// let loss = PolicyLoss::new(PolicyLossKind::Vanilla);
    /// ctx.rl_step(&bufs, t, v, &loss, &Aggregation::TokenMean)?;
    /// let parts = ctx.read_parts_blocking(&parts)?;
    /// assert_eq!(parts.tokens, 2);
    /// # Ok(()) }
    /// ```
    pub fn rl_step(
        &self,
        s: &RlStepBuffers<'_>,
        seq_len: usize,
        vocab: usize,
        loss: &PolicyLoss<f32>,
        agg: &Aggregation,
    ) -> Result<()> {
        if sequence_coupled(loss.kind()) {
            return Err(GpuError::Unsupported {
                feature: "sequence-coupled policy losses (GSPO, GSPO-token, GMPO, VESPO) in the fused step; use policy_loss",
            });
        }
        let l = LossParams::of(loss)?;
        let n = s.mask.len();
        let b = token_shape(n, seq_len)?;
        let rows_n = super::logits::rows_of(s.logits.len(), vocab)?;
        check_len("logits rows", n, rows_n)?;
        check_len("grad_logits", s.logits.len(), s.grad_logits.len())?;
        check_len("ids", n, s.ids.len())?;
        check_len("old_logp", n, s.old_logp.len())?;
        check_len("tok", 3 * n, s.tok.len())?;
        check_len("rows", 2 * b, s.rows.len())?;
        check_len("parts", 5, s.parts.len())?;
        let per_token = s.advantages.len() == n && n != b;
        if !per_token {
            check_len("advantages", b, s.advantages.len())?;
        }
        if let Some(r) = s.ref_logp {
            check_len("ref_logp", n, r.len())?;
        }
        if l.has_kl != 0 && s.ref_logp.is_none() {
            return Err(GpuError::Core(Error::MissingInput {
                what: "ref_logp (the loss has a KL term)",
            }));
        }
        let (code, horizon, len_eps) = agg_code(agg);
        if (code == 3 || code == 7) && !(horizon.is_finite() && horizon > 0.0) {
            return Err(GpuError::Core(Error::MissingInput {
                what: "horizon (verl loss_scale_factor / TRL max_completion_length)",
            }));
        }
        if b == 0 {
            return Ok(());
        }
        u32_of("logits", s.logits.len())?;
        let (nb, t32, v32) = (
            u32_of("rows", b)?,
            u32_of("seq_len", seq_len)?,
            u32_of("vocab", vocab)?,
        );
        let nt = u32_of("tokens", n)?;
        // The per-token side inputs share one binding (WebGPU's 8 storage buffers per stage):
        // [old_logp | ref_logp (with a KL term) | advantages], gathered by device copies.
        let kl_ref = s.ref_logp.filter(|_| l.has_kl != 0);
        let ref_off = n;
        let adv_off = n + kl_ref.map_or(0, GpuBuffer::len);
        let side = self.zeros::<f32>(adv_off + s.advantages.len())?;
        self.copy_into(&side, 0, s.old_logp)?;
        if let Some(r) = kl_ref {
            self.copy_into(&side, ref_off, r)?;
        }
        self.copy_into(&side, adv_off, s.advantages)?;
        let mk = |n_work: u32| -> Result<Params> {
            Ok(Params {
                pol: l.pol,
                kl: l.kl,
                n_rows: nb,
                seq_len: t32,
                vocab: v32,
                adv_per_token: u32::from(per_token),
                has_kl: l.has_kl,
                agg: code,
                grid_x: grid(n_work)[0],
                ref_off: u32_of("side", ref_off)?,
                adv_off: u32_of("side", adv_off)?,
                kl_iw: l.kl_iw,
                kl_coef: l.kl_coef,
                entropy_coef: l.entropy_coef,
                len_eps,
                horizon,
            })
        };
        let bufs = [
            &s.grad_logits.raw,
            &s.tok.raw,
            &s.rows.raw,
            &s.logits.raw,
            &s.ids.raw,
            &s.mask.raw,
            &side.raw,
            &s.parts.raw,
        ];
        let wg_t = [("WG", seq_len.next_power_of_two().clamp(32, 256) as f64)];
        let wg_v = [("WG", vocab.next_power_of_two().clamp(32, 256) as f64)];
        // The parts binding is read by rl_step and written by loss_parts: separate dispatches.
        self.dispatch(
            &RL_MASK_ROWS,
            &wg_t,
            &bufs,
            super::bytes(&mk(nb)?),
            grid(nb),
        )?;
        self.loss_parts(s.parts, s.rows, agg)?;
        self.dispatch(&RL_STEP, &wg_v, &bufs, super::bytes(&mk(nt)?), grid(nt))?;
        self.dispatch(&RL_ROWS, &wg_t, &bufs, super::bytes(&mk(nb)?), grid(nb))?;
        self.loss_parts(s.parts, s.rows, agg)
    }
}
