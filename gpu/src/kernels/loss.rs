//! KL estimators (`kl_penalty.wgsl`), policy losses (`policy_loss.wgsl`) and their aggregation
//! (`loss_parts.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_core::loss::{Aggregation, LossParts, PolicyLoss, PolicyLossKind};
use rewardkit_core::{Error, KlEstimator, KlPenalty};
use rewardkit_shaders::{KL_PENALTY, LOSS_PARTS, POLICY_LOSS, SCALE_GRAD};

use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

/// "No clamp" on the device.
const BIG: f32 = f32::MAX;

/// `shared/kl.wgsl`'s `KlCfg` (32 bytes, 16-byte aligned inside each kernel's parameters).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct KlCfg {
    estimator: u32,
    straight_through: u32,
    pad: [u32; 2],
    lo: f32,
    hi: f32,
    vlo: f32,
    vhi: f32,
}

impl KlCfg {
    pub(crate) fn of(k: Option<&KlPenalty<f32>>) -> Self {
        let [lo, hi, vlo, vhi] = k.map_or([0.0; 4], kl_bounds);
        Self {
            estimator: k.map_or(0, |k| estimator_code(k.estimator())),
            straight_through: u32::from(k.is_some_and(KlPenalty::straight_through)),
            pad: [0; 2],
            lo,
            hi,
            vlo,
            vhi,
        }
    }
}

/// `shared/policy.wgsl`'s `PolicyCfg` (80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct PolicyCfg {
    pub(crate) kind: u32,
    has_dual: u32,
    has_delta: u32,
    has_seq_max: u32,
    clip_low: f32,
    clip_high: f32,
    dual_clip: f32,
    delta: f32,
    log_ratio_clamp: f32,
    tau_pos: f32,
    tau_neg: f32,
    dro_beta: f32,
    trunc: f32,
    seq_max: f32,
    len_eps: f32,
    pad: f32,
    vespo: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct KlParams {
    kl: KlCfg,
    n: u32,
    grid_x: u32,
}

pub(crate) fn estimator_code(e: KlEstimator) -> u32 {
    match e {
        KlEstimator::K1 => 0,
        KlEstimator::Abs => 1,
        KlEstimator::K2 => 2,
        KlEstimator::K3 => 3,
    }
}

/// `(lo, hi, vlo, vhi)` of a KL penalty on the device.
pub(crate) fn kl_bounds(k: &KlPenalty<f32>) -> [f32; 4] {
    let c = k.log_ratio_clamp().unwrap_or(BIG);
    let v = k.value_clamp().unwrap_or(BIG);
    [-c, c, -v, v]
}

/// The device code of a policy-loss kind (`shared/policy.wgsl`): every
/// [`PolicyLossKind`] except Clip-Cov and KL-Cov, which select tokens across the whole batch (a
/// random subset, a top-k) and are [`GpuError::Unsupported`].
fn kind_code(kind: PolicyLossKind) -> Result<u32> {
    Ok(match kind {
        PolicyLossKind::Vanilla => 0,
        PolicyLossKind::Gpg => 1,
        PolicyLossKind::Cispo => 2,
        PolicyLossKind::Sapo => 3,
        PolicyLossKind::Dro => 4,
        PolicyLossKind::GspoToken => 5,
        PolicyLossKind::Vespo => 6,
        PolicyLossKind::DppoTv => 7,
        PolicyLossKind::DppoKl => 8,
        PolicyLossKind::Gspo => 9,
        PolicyLossKind::GeoMean => 10,
        PolicyLossKind::ClipCov | PolicyLossKind::KlCov => {
            return Err(GpuError::Unsupported {
                feature: "Clip-Cov and KL-Cov (batch-level token selection) on the GPU",
            });
        }
    })
}

/// Whether a token's loss depends on the other tokens of its row (the kinds that need a
/// [`rewardkit_core::loss::RowContext`] or a per-sequence reduction): GSPO, GSPO-token, GMPO and
/// VESPO. [`GpuContext::policy_loss`] runs them; the fused [`GpuContext::rl_step`] does not.
pub(crate) fn sequence_coupled(kind: PolicyLossKind) -> bool {
    matches!(
        kind,
        PolicyLossKind::Gspo
            | PolicyLossKind::GspoToken
            | PolicyLossKind::GeoMean
            | PolicyLossKind::Vespo
    )
}

impl LossParams {
    /// The device parameters of a core [`PolicyLoss`], read through its getters (the core is the
    /// one home of the parameters and their validation).
    ///
    /// # Errors
    /// [`GpuError::Unsupported`] for Clip-Cov and KL-Cov; [`GpuError::Core`] (`InvalidParam`)
    /// for VESPO shapes whose weight `φ = e^{λ + k·log w − λ·w}` can leave the `f32` range on the
    /// device (`λ + 20·k ≥ 88`; the core's `f32` path maps such a `φ` to 0, which WGSL cannot
    /// test for: it may assume no infinities).
    pub(crate) fn of(loss: &PolicyLoss<f32>) -> Result<Self> {
        let kind = kind_code(loss.kind())?;
        let (kp, lp, kn, ln) = loss.vespo();
        if loss.kind() == PolicyLossKind::Vespo {
            for (name, k, l) in [("vespo_k_pos", kp, lp), ("vespo_k_neg", kn, ln)] {
                if l + 20.0 * k >= 88.0 {
                    return Err(GpuError::Core(Error::InvalidParam {
                        name,
                        value: f64::from(k),
                        expected: "λ + 20·k < 88 on the GPU (φ finite in f32)",
                    }));
                }
            }
        }
        let (clip_low, clip_high) = loss.clip();
        let (tau_pos, tau_neg) = loss.sapo_tau();
        let kl = loss.kl();
        let penalty = kl.map(|t| t.penalty());
        Ok(Self {
            pol: PolicyCfg {
                kind,
                has_dual: u32::from(loss.dual_clip().is_some()),
                has_delta: u32::from(loss.delta().is_some()),
                has_seq_max: u32::from(loss.seq_log_ratio_max().is_some()),
                clip_low,
                clip_high,
                dual_clip: loss.dual_clip().unwrap_or(0.0),
                delta: loss.delta().unwrap_or(0.0),
                log_ratio_clamp: loss.log_ratio_clamp().unwrap_or(BIG),
                tau_pos,
                tau_neg,
                dro_beta: loss.dro_beta(),
                trunc: loss.truncation(),
                seq_max: loss.seq_log_ratio_max().unwrap_or(0.0),
                len_eps: loss.len_eps(),
                pad: 0.0,
                vespo: [kp, lp, kn, ln],
            },
            kl: KlCfg::of(penalty.as_ref()),
            has_kl: u32::from(kl.is_some()),
            kl_iw: u32::from(kl.is_some_and(|t| t.importance_weighted())),
            kl_coef: kl.map_or(0.0, |t| t.coef()),
            entropy_coef: loss.entropy_coef(),
        })
    }
}

/// The loss parameters shared by `policy_loss.wgsl` and `rl_step.wgsl`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LossParams {
    pub(crate) pol: PolicyCfg,
    pub(crate) kl: KlCfg,
    pub(crate) has_kl: u32,
    pub(crate) kl_iw: u32,
    pub(crate) kl_coef: f32,
    pub(crate) entropy_coef: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct PolicyParams {
    pol: PolicyCfg,
    kl: KlCfg,
    n_rows: u32,
    seq_len: u32,
    adv_per_token: u32,
    has_kl: u32,
    has_weights: u32,
    has_entropy: u32,
    grid_x: u32,
    w_off: u32,
    e_off: u32,
    kl_iw: u32,
    kl_coef: f32,
    entropy_coef: f32,
}

/// The device inputs of [`GpuContext::policy_loss`].
///
/// # Shapes
/// `logp`, `old_logp`, `mask` and the optional `ref_logp` (needed by a KL term), `weights`
/// (detached per-token weights) and `entropy` (needed by an entropy bonus): `(B, T)`;
/// `advantages`: `(B, T)` or `(B)`.
#[derive(Clone, Copy, Debug)]
pub struct PolicyBuffers<'a> {
    /// `log π`.
    pub logp: &'a GpuBuffer<f32>,
    /// `log π_old`.
    pub old_logp: &'a GpuBuffer<f32>,
    /// Advantages per token or per sequence.
    pub advantages: &'a GpuBuffer<f32>,
    /// The mask (`0` = masked).
    pub mask: &'a GpuBuffer<u32>,
    /// `log π_ref` for the KL term.
    pub ref_logp: Option<&'a GpuBuffer<f32>>,
    /// Detached weights on the policy term.
    pub weights: Option<&'a GpuBuffer<f32>>,
    /// Per-token entropies for the entropy bonus.
    pub entropy: Option<&'a GpuBuffer<f32>>,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct AggParams {
    n_rows: u32,
    seq_len: u32,
    agg: u32,
    grid_x: u32,
    horizon: f32,
    len_eps: f32,
}

/// `(code, horizon, len_eps)` of an aggregation on the device.
pub(crate) fn agg_code(agg: &Aggregation) -> (u32, f32, f32) {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "horizon and len_eps are small f64 parameters, f32 on the device"
    )]
    match *agg {
        Aggregation::TokenMean => (0, 0.0, 0.0),
        Aggregation::TokenSum => (1, 0.0, 0.0),
        Aggregation::SeqMeanTokenSum => (2, 0.0, 0.0),
        Aggregation::SeqMeanTokenSumNorm { horizon } => (3, horizon as f32, 0.0),
        Aggregation::SeqMeanTokenMean { len_eps } => (4, 0.0, len_eps as f32),
        Aggregation::RowMeanTokenMean => (5, 0.0, 0.0),
        Aggregation::RowMeanTokenSum => (6, 0.0, 0.0),
        Aggregation::RowMeanTokenSumNorm { horizon } => (7, horizon as f32, 0.0),
    }
}

pub(crate) fn token_shape(len: usize, seq_len: usize) -> Result<usize> {
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
    /// Per-token KL estimator values and derivatives with respect to `log π`.
    ///
    /// # Definition
    /// As [`KlPenalty::forward`] (clamps, straight-through), in `f32`.
    ///
    /// # Shapes
    /// `value`, `grad`, `logp`, `ref_logp`: `(N)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// use rewardkit_core::{KlEstimator, KlPenalty};
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (lp, rf) = (ctx.upload(&[-1.0f32])?, ctx.upload(&[-1.0f32])?);
    /// let (v, g) = (ctx.zeros::<f32>(1)?, ctx.zeros::<f32>(1)?);
    /// ctx.kl_penalty(&v, &g, &lp, &rf, &KlPenalty::new(KlEstimator::K3))?;
    /// assert_eq!(ctx.read_blocking(&v)?, vec![0.0]);
    /// # Ok(()) }
    /// ```
    pub fn kl_penalty(
        &self,
        value: &GpuBuffer<f32>,
        grad: &GpuBuffer<f32>,
        logp: &GpuBuffer<f32>,
        ref_logp: &GpuBuffer<f32>,
        kl: &KlPenalty<f32>,
    ) -> Result<()> {
        let n = logp.len();
        check_len("ref_logp", n, ref_logp.len())?;
        check_len("value", n, value.len())?;
        check_len("grad", n, grad.len())?;
        let nn = u32_of("n", n)?;
        let g = grid(nn.div_ceil(256));
        let p = KlParams {
            kl: KlCfg::of(Some(kl)),
            n: nn,
            grid_x: g[0],
        };
        self.dispatch(
            &KL_PENALTY,
            &[],
            &[&value.raw, &grad.raw, &logp.raw, &ref_logp.raw],
            super::bytes(&p),
            g,
        )
    }

    /// A policy loss over `(B, T)`, configured by the core's [`PolicyLoss`]: writes
    /// `∂(Σ loss)/∂ log π` into `grad` (0 at masked positions) and per-row partials
    /// `rows = [Σℓ, L]` per row, for [`GpuContext::loss_parts`].
    ///
    /// # Definition
    /// As [`rewardkit_core::loss::policy_loss`] (per token [`PolicyLoss::token`], the sequence-coupled
    /// kinds with their [`rewardkit_core::loss::RowContext`]), in `f32`, for every
    /// [`PolicyLossKind`] except Clip-Cov and KL-Cov. The sequence-coupled kinds (GSPO,
    /// GSPO-token, GMPO, VESPO) reduce each row first (GSPO's mean log-ratio, VESPO's `log w`,
    /// GMPO's clipped log-ratios, advantages and log-weights), in `f32` where the core uses `f64`.
    /// Like the core, `grad` is written (not accumulated): it is `∂/∂ log π`, not a gradient
    /// buffer of the model.
    ///
    /// # Shapes
    /// `grad`: `(B, T)`; `rows`: `(2·B)`; inputs as [`PolicyBuffers`].
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`; `MissingInput` for a KL term without
    /// `ref_logp` or an entropy bonus without `entropy`; `InvalidParam` for a VESPO shape beyond
    /// `f32` on the device (`λ + 20·k ≥ 88`). [`GpuError::Unsupported`] for Clip-Cov and KL-Cov.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// use rewardkit_core::loss::{PolicyLoss, PolicyLossKind};
    /// use rewardkit_gpu::PolicyBuffers;
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (lp, old) = (ctx.upload(&[-1.0f32, -2.0])?, ctx.upload(&[-1.0f32, -2.0])?);
    /// let (adv, mask) = (ctx.upload(&[0.5f32])?, ctx.upload(&[1u32, 1])?);
    /// let (grad, rows) = (ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(2)?);
    /// let inp = PolicyBuffers { logp: &lp, old_logp: &old, advantages: &adv, mask: &mask,
    ///     ref_logp: None, weights: None, entropy: None };
    /// ctx.policy_loss(&grad, &rows, &inp, 2, &PolicyLoss::new(PolicyLossKind::Vanilla))?;
    /// assert_eq!(ctx.read_blocking(&rows)?, vec![-1.0, 2.0]); // Σ −A·r over 2 tokens
    /// # Ok(()) }
    /// ```
    pub fn policy_loss(
        &self,
        grad: &GpuBuffer<f32>,
        rows: &GpuBuffer<f32>,
        inp: &PolicyBuffers<'_>,
        seq_len: usize,
        loss: &PolicyLoss<f32>,
    ) -> Result<()> {
        let l = LossParams::of(loss)?;
        let n = inp.mask.len();
        let b = token_shape(n, seq_len)?;
        check_len("logp", n, inp.logp.len())?;
        check_len("old_logp", n, inp.old_logp.len())?;
        check_len("grad", n, grad.len())?;
        check_len("rows", 2 * b, rows.len())?;
        let per_token = inp.advantages.len() == n && n != b;
        if !per_token {
            check_len("advantages", b, inp.advantages.len())?;
        }
        for (what, x) in [
            ("ref_logp", inp.ref_logp),
            ("weights", inp.weights),
            ("entropy", inp.entropy),
        ] {
            if let Some(x) = x {
                check_len(what, n, x.len())?;
            }
        }
        if l.has_kl != 0 && inp.ref_logp.is_none() {
            return Err(GpuError::Core(Error::MissingInput {
                what: "ref_logp (the loss has a KL term)",
            }));
        }
        if l.entropy_coef != 0.0 && inp.entropy.is_none() {
            return Err(GpuError::Core(Error::MissingInput {
                what: "entropy (the loss has an entropy bonus)",
            }));
        }
        if b == 0 {
            return Ok(());
        }
        let nb = u32_of("rows", b)?;
        u32_of("tokens", n)?;
        let g = grid(nb);
        let has_entropy = inp.entropy.is_some() && l.entropy_coef != 0.0;
        let weights = inp.weights;
        let entropy = inp.entropy.filter(|_| has_entropy);
        // The optional weights and entropies share one binding (WebGPU's 8 storage buffers): the
        // one present is bound directly; both are gathered into one buffer by device copies.
        let gathered;
        let (extra, w_off, e_off) = match (weights, entropy) {
            (Some(w), Some(e)) => {
                gathered = self.zeros::<f32>(2 * n)?;
                self.copy_into(&gathered, 0, w)?;
                self.copy_into(&gathered, n, e)?;
                (&gathered.raw, 0, u32_of("tokens", n)?)
            }
            (Some(w), None) => (&w.raw, 0, 0),
            (None, Some(e)) => (&e.raw, 0, 0),
            (None, None) => (self.dummy(), 0, 0),
        };
        let p = PolicyParams {
            pol: l.pol,
            kl: l.kl,
            n_rows: nb,
            seq_len: u32_of("seq_len", seq_len)?,
            adv_per_token: u32::from(per_token),
            has_kl: l.has_kl,
            has_weights: u32::from(weights.is_some()),
            has_entropy: u32::from(has_entropy),
            grid_x: g[0],
            w_off,
            e_off,
            kl_iw: l.kl_iw,
            kl_coef: l.kl_coef,
            entropy_coef: l.entropy_coef,
        };
        let wg = seq_len.next_power_of_two().clamp(32, 256);
        self.dispatch(
            &POLICY_LOSS,
            &[("WG", wg as f64)],
            &[
                &grad.raw,
                &rows.raw,
                &inp.logp.raw,
                &inp.old_logp.raw,
                &inp.advantages.raw,
                &inp.mask.raw,
                inp.ref_logp.map_or(self.dummy(), |x| &x.raw),
                extra,
            ],
            super::bytes(&p),
            g,
        )
    }

    /// Reduces per-row partials (from [`GpuContext::policy_loss`] or [`GpuContext::rl_step`]) to
    /// the parts `[sum, seq_mean_sum, tokens, seqs, rows]` on the device.
    ///
    /// # Shapes
    /// `parts`: `(5)`; `rows`: `(2·B)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    pub fn loss_parts(
        &self,
        parts: &GpuBuffer<f32>,
        rows: &GpuBuffer<f32>,
        agg: &Aggregation,
    ) -> Result<()> {
        check_len("parts", 5, parts.len())?;
        if rows.len() % 2 != 0 {
            return Err(GpuError::Core(Error::BadShape {
                what: "rows",
                len: rows.len(),
                dim: 2,
            }));
        }
        let (code, horizon, len_eps) = agg_code(agg);
        let p = AggParams {
            n_rows: u32_of("rows", rows.len() / 2)?,
            seq_len: 1,
            agg: code,
            grid_x: 1,
            horizon,
            len_eps,
        };
        let scratch = self.zeros::<f32>(0)?;
        self.dispatch(
            &LOSS_PARTS,
            &[],
            &[&parts.raw, &scratch.raw, &rows.raw, self.dummy()],
            super::bytes(&p),
            [1, 1, 1],
        )
    }

    /// Scales the gradient of the loss sums by the aggregation (as
    /// [`Aggregation::scale_grad`] with the whole batch's parts), on the device.
    ///
    /// # Shapes
    /// `grad`, `mask`: `(B, T)`; `rows`: `(2·B)`; `parts`: `(5)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`; `MissingInput` for a `*-norm` aggregation
    /// without a horizon.
    pub fn scale_grad(
        &self,
        grad: &GpuBuffer<f32>,
        rows: &GpuBuffer<f32>,
        parts: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        seq_len: usize,
        agg: &Aggregation,
    ) -> Result<()> {
        let n = mask.len();
        let b = token_shape(n, seq_len)?;
        check_len("grad", n, grad.len())?;
        check_len("rows", 2 * b, rows.len())?;
        check_len("parts", 5, parts.len())?;
        let (code, horizon, len_eps) = agg_code(agg);
        if (code == 3 || code == 7) && !(horizon.is_finite() && horizon > 0.0) {
            return Err(GpuError::Core(Error::MissingInput {
                what: "horizon (verl loss_scale_factor / TRL max_completion_length)",
            }));
        }
        let nn = u32_of("tokens", n)?;
        let g = grid(nn.div_ceil(256));
        let p = AggParams {
            n_rows: u32_of("rows", b)?,
            seq_len: u32_of("seq_len", seq_len)?,
            agg: code,
            grid_x: g[0],
            horizon,
            len_eps,
        };
        self.dispatch(
            &SCALE_GRAD,
            &[],
            &[&parts.raw, &grad.raw, &rows.raw, &mask.raw],
            super::bytes(&p),
            g,
        )
    }

    /// Reads loss parts back as the core's [`LossParts`].
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`; `NonFinite` for a non-finite sum, `what = "loss"`);
    /// readback errors.
    pub async fn read_parts(&self, parts: &GpuBuffer<f32>) -> Result<LossParts> {
        check_len("parts", 5, parts.len())?;
        let v = self.read(parts).await?;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "counts are exact integers in f32 (below 2^24) and non-negative"
        )]
        let count = |x: f32| x.max(0.0) as usize;
        let (sum, seq_mean_sum) = (f64::from(v[0]), f64::from(v[1]));
        if !(sum.is_finite() && seq_mean_sum.is_finite()) {
            return Err(GpuError::Core(Error::NonFinite {
                what: "loss",
                index: 0,
            }));
        }
        Ok(LossParts {
            sum,
            seq_mean_sum,
            tokens: count(v[2]),
            seqs: count(v[3]),
            rows: count(v[4]),
        })
    }

    /// [`GpuContext::read_parts`], blocking.
    ///
    /// # Errors
    /// As [`GpuContext::read_parts`].
    pub fn read_parts_blocking(&self, parts: &GpuBuffer<f32>) -> Result<LossParts> {
        pollster::block_on(self.read_parts(parts))
    }
}
