//! Full-vocabulary ops on logits (`logits.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_core::Error;
use rewardkit_shaders::{
    CROSSENTROPY_FORWARD, CROSSENTROPY_SOFTMAX_BACKWARD, ENTROPY_BACKWARD, ENTROPY_FORWARD,
    FULL_KL_BACKWARD, FULL_KL_FORWARD, Kernel, LOG_SOFTMAX, LOGPROBS_BACKWARD, LOGPROBS_FORWARD,
    SOFTMAX_FORWARD,
};

use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n_rows: u32,
    vocab: u32,
    grid_x: u32,
    _pad: u32,
}

pub(crate) fn rows_of(len: usize, vocab: usize) -> Result<usize> {
    if len == 0 {
        return Err(GpuError::Core(Error::Empty { what: "logits" }));
    }
    if vocab == 0 || len % vocab != 0 {
        return Err(GpuError::Core(Error::BadShape {
            what: "logits",
            len,
            dim: vocab,
        }));
    }
    Ok(len / vocab)
}

/// Checks token ids against `V` on the host and uploads them.
///
/// # Errors
/// [`GpuError::Core`] (`TokenOutOfRange` for the first id `>= V`).
pub(crate) fn upload_ids(ctx: &GpuContext, ids: &[u32], vocab: usize) -> Result<GpuBuffer<u32>> {
    if let Some((index, &id)) = ids
        .iter()
        .enumerate()
        .find(|&(_, &id)| usize::try_from(id).map_or(true, |k| k >= vocab))
    {
        return Err(GpuError::Core(Error::TokenOutOfRange { index, id, vocab }));
    }
    ctx.upload(ids)
}

impl GpuContext {
    /// Token ids checked against the vocabulary (`TokenOutOfRange`) and uploaded: the kernels
    /// clamp ids to `V − 1` instead of reading out of bounds, so check them here.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`TokenOutOfRange`).
    pub fn upload_ids(&self, ids: &[u32], vocab: usize) -> Result<GpuBuffer<u32>> {
        upload_ids(self, ids, vocab)
    }

    fn logits_op(
        &self,
        k: &Kernel,
        out: &GpuBuffer<f32>,
        out_per_row: bool,
        logits: &GpuBuffer<f32>,
        ref_logits: Option<&GpuBuffer<f32>>,
        ids: Option<&GpuBuffer<u32>>,
        grad_out: Option<&GpuBuffer<f32>>,
        vocab: usize,
    ) -> Result<()> {
        let n = rows_of(logits.len(), vocab)?;
        check_len("out", if out_per_row { n } else { logits.len() }, out.len())?;
        if let Some(r) = ref_logits {
            check_len("ref_logits", logits.len(), r.len())?;
        }
        if let Some(i) = ids {
            check_len("ids", n, i.len())?;
        }
        if let Some(g) = grad_out {
            check_len("grad_out", n, g.len())?;
        }
        if n == 0 {
            return Ok(());
        }
        u32_of("logits", logits.len())?;
        let nn = u32_of("rows", n)?;
        let g = grid(nn);
        let p = Params {
            n_rows: nn,
            vocab: u32_of("vocab", vocab)?,
            grid_x: g[0],
            _pad: 0,
        };
        let d = self.dummy();
        let wg = vocab.next_power_of_two().clamp(32, 256);
        self.dispatch(
            k,
            &[("WG", wg as f64)],
            &[
                &out.raw,
                &logits.raw,
                ref_logits.map_or(d, |x| &x.raw),
                ids.map_or(d, |x| &x.raw),
                grad_out.map_or(d, |x| &x.raw),
            ],
            super::bytes(&p),
            g,
        )
    }

    /// Row-wise log-softmax `log π_v = (z_v − max z) − ln Σ e^{z − max z}`.
    ///
    /// # Shapes
    /// `out`, `logits`: `(N, V)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape` if `V` does not divide the length; `LengthMismatch`.
    pub fn log_softmax(
        &self,
        out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(&LOG_SOFTMAX, out, false, logits, None, None, None, vocab)
    }

    /// Log-probabilities of given tokens (TRL's `selective_log_softmax`).
    ///
    /// # Definition
    /// As [`rewardkit_core::logits::logprobs_forward`], in `f32`.
    ///
    /// # Shapes
    /// `out`, `ids`: `(N)`; `logits`: `(N, V)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch` (upload ids with
    /// [`GpuContext::upload_ids`] to check them).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let z = ctx.upload(&[0.0f32, 0.0])?;
    /// let ids = ctx.upload_ids(&[1], 2)?;
    /// let lp = ctx.zeros::<f32>(1)?;
    /// ctx.logprobs_forward(&lp, &z, &ids, 2)?;
    /// assert!((ctx.read_blocking(&lp)?[0] - 0.5f32.ln()).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn logprobs_forward(
        &self,
        out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        ids: &GpuBuffer<u32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &LOGPROBS_FORWARD,
            out,
            true,
            logits,
            None,
            Some(ids),
            None,
            vocab,
        )
    }

    /// Backward of [`GpuContext::logprobs_forward`], accumulating:
    /// `grad_logits += g·([v = id] − π_v)`.
    ///
    /// # Definition
    /// As [`rewardkit_core::logits::logprobs_backward`] (which reads the forward pass's row
    /// statistics; the kernel recomputes them from the logits): `grad_logits[n, v] +=
    /// gₙ·([v = idₙ] − π_{n,v})`, in `f32`. Rows with `gₙ = 0` (masked tokens) are not read or
    /// written, so several loss terms add into one `(N, V)` buffer (zero it once).
    ///
    /// # Shapes
    /// `grad_logits`, `logits`: `(N, V)`; `grad_out`, `ids`: `(N)`.
    ///
    /// # Errors
    /// As [`GpuContext::logprobs_forward`].
    pub fn logprobs_backward(
        &self,
        grad_logits: &GpuBuffer<f32>,
        grad_out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        ids: &GpuBuffer<u32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &LOGPROBS_BACKWARD,
            grad_logits,
            false,
            logits,
            None,
            Some(ids),
            Some(grad_out),
            vocab,
        )
    }

    /// Entropy per row.
    ///
    /// # Definition
    /// As [`rewardkit_core::logits::entropy_forward`].
    ///
    /// # Shapes
    /// `out`: `(N)`; `logits`: `(N, V)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`.
    pub fn entropy_forward(
        &self,
        out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(&ENTROPY_FORWARD, out, true, logits, None, None, None, vocab)
    }

    /// Backward of [`GpuContext::entropy_forward`], accumulating:
    /// `grad_logits += −g·π_v·(log π_v + H)`.
    ///
    /// # Definition
    /// As [`rewardkit_core::logits::entropy_backward`] (the kernel recomputes the row statistics
    /// and `H`), in `f32`; rows with `gₙ = 0` are left as they are.
    ///
    /// # Shapes
    /// `grad_logits`, `logits`: `(N, V)`; `grad_out`: `(N)`.
    ///
    /// # Errors
    /// As [`GpuContext::entropy_forward`].
    pub fn entropy_backward(
        &self,
        grad_logits: &GpuBuffer<f32>,
        grad_out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &ENTROPY_BACKWARD,
            grad_logits,
            false,
            logits,
            None,
            None,
            Some(grad_out),
            vocab,
        )
    }

    /// Exact `KL(π‖π_ref)` per row from policy and reference logits.
    ///
    /// # Definition
    /// As [`rewardkit_core::logits::full_kl_forward`].
    ///
    /// # Shapes
    /// `out`: `(N)`; `logits`, `ref_logits`: `(N, V)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`.
    pub fn full_kl_forward(
        &self,
        out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        ref_logits: &GpuBuffer<f32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &FULL_KL_FORWARD,
            out,
            true,
            logits,
            Some(ref_logits),
            None,
            None,
            vocab,
        )
    }

    /// Backward of [`GpuContext::full_kl_forward`] with respect to the policy logits,
    /// accumulating: `grad_logits += g·π_v·(log π_v − log π_ref,v − KL)`.
    ///
    /// # Definition
    /// As [`rewardkit_core::logits::full_kl_backward`] (the kernel recomputes both rows'
    /// statistics and the KL), in `f32`; rows with `gₙ = 0` are left as they are.
    ///
    /// # Shapes
    /// `grad_logits`, `logits`, `ref_logits`: `(N, V)`; `grad_out`: `(N)`.
    ///
    /// # Errors
    /// As [`GpuContext::full_kl_forward`].
    pub fn full_kl_backward(
        &self,
        grad_logits: &GpuBuffer<f32>,
        grad_out: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        ref_logits: &GpuBuffer<f32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &FULL_KL_BACKWARD,
            grad_logits,
            false,
            logits,
            Some(ref_logits),
            None,
            Some(grad_out),
            vocab,
        )
    }

    /// Row-wise softmax (llm.c's `softmax_forward`).
    ///
    /// # Definition
    /// `probs[n, v] = e^{(z_v − max z) − ln Σ e^{z − max z}}`, the exponential of the core's
    /// log-softmax ([`rewardkit_core::logits::log_softmax`]).
    ///
    /// # Shapes
    /// `probs`, `logits`: `(N, V)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `Empty` for no logits, `BadShape` if `V` does not divide the length,
    /// `LengthMismatch`.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let z = ctx.upload(&[0.0f32, 3f32.ln()])?;
    /// let p = ctx.zeros::<f32>(2)?;
    /// ctx.softmax_forward(&p, &z, 2)?;
    /// let p = ctx.read_blocking(&p)?;
    /// assert!((p[0] - 0.25).abs() < 1e-6 && (p[1] - 0.75).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`softmax_forward`).
    pub fn softmax_forward(
        &self,
        probs: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &SOFTMAX_FORWARD,
            probs,
            false,
            logits,
            None,
            None,
            None,
            vocab,
        )
    }

    /// Cross-entropy of the targets, from the logits (llm.c's `crossentropy_forward`, without
    /// materializing the softmax).
    ///
    /// # Definition
    /// `losses[n] = −log π(targetₙ) = ln Σ_v e^{z_v − max z} − (z_target − max z)`, the negated
    /// [`rewardkit_core::logits::logprobs_forward`].
    ///
    /// # Shapes
    /// `losses`, `targets`: `(N)`; `logits`: `(N, V)`.
    ///
    /// # Errors
    /// As [`GpuContext::softmax_forward`] (check targets with [`GpuContext::upload_ids`]: the
    /// kernel clamps ids to `V − 1`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let z = ctx.upload(&[0.0f32, 0.0])?;
    /// let y = ctx.upload_ids(&[1], 2)?;
    /// let loss = ctx.zeros::<f32>(1)?;
    /// ctx.crossentropy_forward(&loss, &z, &y, 2)?;
    /// assert!((ctx.read_blocking(&loss)?[0] - 2f32.ln()).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`crossentropy_forward`).
    pub fn crossentropy_forward(
        &self,
        losses: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        targets: &GpuBuffer<u32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &CROSSENTROPY_FORWARD,
            losses,
            true,
            logits,
            None,
            Some(targets),
            None,
            vocab,
        )
    }

    /// Fused softmax + cross-entropy backward, accumulating (llm.c's
    /// `crossentropy_softmax_backward`).
    ///
    /// # Definition
    /// `dlogits[n, v] += dlosses[n]·(π_{n,v} − [v = targetₙ])`: the negated
    /// [`rewardkit_core::logits::logprobs_backward`] added into `dlogits` (rows with `dlosses[n] = 0`
    /// add nothing).
    ///
    /// # Shapes
    /// `dlogits`, `logits`: `(N, V)`; `dlosses`, `targets`: `(N)`.
    ///
    /// # Errors
    /// As [`GpuContext::crossentropy_forward`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let z = ctx.upload(&[0.0f32, 0.0])?;
    /// let y = ctx.upload_ids(&[1], 2)?;
    /// let dloss = ctx.upload(&[2.0f32])?;
    /// let dz = ctx.upload(&[1.0f32, 1.0])?;
    /// ctx.crossentropy_softmax_backward(&dz, &dloss, &z, &y, 2)?;
    /// assert_eq!(ctx.read_blocking(&dz)?, vec![2.0, 0.0]); // 1 + 2·(½ − 0), 1 + 2·(½ − 1)
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: llm.c `train_gpt2.c` (`crossentropy_softmax_backward`).
    pub fn crossentropy_softmax_backward(
        &self,
        dlogits: &GpuBuffer<f32>,
        dlosses: &GpuBuffer<f32>,
        logits: &GpuBuffer<f32>,
        targets: &GpuBuffer<u32>,
        vocab: usize,
    ) -> Result<()> {
        self.logits_op(
            &CROSSENTROPY_SOFTMAX_BACKWARD,
            dlogits,
            false,
            logits,
            None,
            Some(targets),
            Some(dlosses),
            vocab,
        )
    }
}
