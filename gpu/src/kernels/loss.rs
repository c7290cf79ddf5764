//! KL estimators (`kl_penalty.wgsl`), policy losses (`policy_loss.wgsl`) and their aggregation
//! (`loss_parts.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_core::loss::{Aggregation, LossParts};
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

/// The policy losses the GPU implements: every [`rewardkit_core::loss::PolicyLossKind`] except
/// Clip-Cov and KL-Cov (which select tokens across the whole batch: a random subset, a top-k).
///
/// The sequence-coupled kinds (`Gspo`, `GspoToken`, `GeoMean`, `Vespo`) run in
/// [`GpuContext::policy_loss`] only; the fused [`GpuContext::rl_step`] takes the token-wise ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GpuLossKind {
    /// PPO clip (asymmetric, dual clip, TRL `delta`): `PolicyLossKind::Vanilla`.
    Vanilla,
    /// `−A·log π`: `PolicyLossKind::Gpg`.
    Gpg,
    /// CISPO: `PolicyLossKind::Cispo`.
    Cispo,
    /// SAPO soft gate: `PolicyLossKind::Sapo`.
    Sapo,
    /// DRO: `PolicyLossKind::Dro`.
    Dro,
    /// GSPO-token (verl's `gspo`): `PolicyLossKind::GspoToken`.
    GspoToken,
    /// VESPO: `PolicyLossKind::Vespo`.
    Vespo,
    /// DPPO with a total-variation trust region: `PolicyLossKind::DppoTv`.
    DppoTv,
    /// DPPO with a binary-KL trust region: `PolicyLossKind::DppoKl`.
    DppoKl,
    /// GSPO with the gradient through the sequence ratio: `PolicyLossKind::Gspo`.
    Gspo,
    /// GMPO, the geometric-mean ratio per sequence: `PolicyLossKind::GeoMean`.
    GeoMean,
}

impl GpuLossKind {
    /// The kind's code in `shared/policy.wgsl`.
    fn code(self) -> u32 {
        match self {
            Self::Vanilla => 0,
            Self::Gpg => 1,
            Self::Cispo => 2,
            Self::Sapo => 3,
            Self::Dro => 4,
            Self::GspoToken => 5,
            Self::Vespo => 6,
            Self::DppoTv => 7,
            Self::DppoKl => 8,
            Self::Gspo => 9,
            Self::GeoMean => 10,
        }
    }

    /// Whether a token's loss depends on the other tokens of its sequence.
    pub fn sequence_coupled(self) -> bool {
        matches!(
            self,
            Self::Gspo | Self::GspoToken | Self::GeoMean | Self::Vespo
        )
    }
}

/// Parameters of a GPU policy loss, validated once; the same meaning and defaults as
/// [`rewardkit_core::loss::PolicyLoss::new`] for the kind (the core keeps its fields private, so
/// the GPU backend carries its own copy; [`GpuPolicyLoss::to_core`] builds the equivalent CPU loss).
///
/// # Definition
/// Per valid token `ℓ = policy(kind) + coef·k(log π, log π_ref) − c_H·H`, see
/// [`rewardkit_core::loss::PolicyLossKind`].
///
/// # Errors
/// The setters return [`GpuError::Core`] (`InvalidParam`) for the ranges of the core's setters.
///
/// # Examples
/// ```
/// use rewardkit_gpu::{GpuLossKind, GpuPolicyLoss};
/// let dapo = GpuPolicyLoss::new(GpuLossKind::Vanilla).with_clip(0.2, 0.28)?.with_dual_clip(Some(3.0))?;
/// assert!(dapo.with_dual_clip(Some(0.5)).is_err());
/// # Ok::<(), rewardkit_gpu::GpuError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuPolicyLoss {
    kind: GpuLossKind,
    clip: (f32, f32),
    dual_clip: Option<f32>,
    delta: Option<f32>,
    log_ratio_clamp: Option<f32>,
    seq_log_ratio_max: Option<f32>,
    trunc: f32,
    tau: (f32, f32),
    dro_beta: f32,
    vespo: [f32; 4],
    len_eps: f32,
    kl: Option<(KlPenalty<f32>, f32)>,
    kl_importance_weighted: bool,
    entropy_coef: f32,
}

fn invalid(name: &'static str, value: f32, expected: &'static str) -> GpuError {
    GpuError::Core(Error::InvalidParam {
        name,
        value: f64::from(value),
        expected,
    })
}

impl GpuPolicyLoss {
    /// The rewardkit defaults for `kind` (as `PolicyLoss::new`): clip `0.2/0.2`, no dual clip,
    /// no `delta`, `Δ` clamped to `±20` (none for DRO, GPG, GSPO, GSPO-token and GMPO), no bound on
    /// GSPO's `log s`, DPPO truncation `C = 20`, `τ = (1, 1.05)`, DRO `β = 0.1`, VESPO
    /// `k₊ = 2, λ₊ = 3, k₋ = 3, λ₋ = 2`, GMPO `len_eps = 0`, no KL term, no entropy bonus.
    pub fn new(kind: GpuLossKind) -> Self {
        Self {
            kind,
            clip: (0.2, 0.2),
            dual_clip: None,
            delta: None,
            log_ratio_clamp: match kind {
                GpuLossKind::Dro
                | GpuLossKind::Gpg
                | GpuLossKind::Gspo
                | GpuLossKind::GspoToken
                | GpuLossKind::GeoMean => None,
                _ => Some(20.0),
            },
            seq_log_ratio_max: None,
            trunc: 20.0,
            tau: (1.0, 1.05),
            dro_beta: 0.1,
            vespo: [2.0, 3.0, 3.0, 2.0],
            len_eps: 0.0,
            kl: None,
            kl_importance_weighted: false,
            entropy_coef: 0.0,
        }
    }

    /// Sets DPPO's truncation `C` of the ratio (`sg(min(r, C))`).
    ///
    /// # Errors
    /// `InvalidParam` unless finite and `> 0`.
    pub fn with_truncation(self, c: f32) -> Result<Self> {
        if !(c.is_finite() && c > 0.0) {
            return Err(invalid("clip_ratio_c", c, "a finite number > 0"));
        }
        Ok(Self { trunc: c, ..self })
    }

    /// Sets (or removes) the upper bound on GSPO's sequence log-ratio `log s` (verl: 10 for
    /// GSPO-token); the gradient through `s` is 0 where the bound is active.
    ///
    /// # Errors
    /// `InvalidParam` unless finite.
    pub fn with_seq_log_ratio_max(self, c: Option<f32>) -> Result<Self> {
        if let Some(c) = c {
            if !c.is_finite() {
                return Err(invalid("seq_log_ratio_max", c, "a finite number"));
            }
        }
        Ok(Self {
            seq_log_ratio_max: c,
            ..self
        })
    }

    /// Sets VESPO's shape `(k₊, λ₊, k₋, λ₋)` (`λ` raised to at least `1e-4`, as the core). On the
    /// GPU `φ` must stay finite in `f32`: `λ + 20·k < 88`.
    ///
    /// # Errors
    /// `InvalidParam` unless all are finite, `k >= 0`, `λ > 0`, and `λ + 20·k < 88`.
    pub fn with_vespo(
        self,
        k_pos: f32,
        lambda_pos: f32,
        k_neg: f32,
        lambda_neg: f32,
    ) -> Result<Self> {
        for (name, k) in [("vespo_k_pos", k_pos), ("vespo_k_neg", k_neg)] {
            if !(k.is_finite() && k >= 0.0) {
                return Err(invalid(name, k, "a finite number >= 0"));
            }
        }
        for (name, l) in [
            ("vespo_lambda_pos", lambda_pos),
            ("vespo_lambda_neg", lambda_neg),
        ] {
            if !(l.is_finite() && l > 0.0) {
                return Err(invalid(name, l, "a finite number > 0"));
            }
        }
        let (lp, ln) = (lambda_pos.max(1e-4), lambda_neg.max(1e-4));
        for (name, k, l) in [("vespo_k_pos", k_pos, lp), ("vespo_k_neg", k_neg, ln)] {
            if l + 20.0 * k >= 88.0 {
                return Err(invalid(name, k, "λ + 20·k < 88 (φ finite in f32)"));
            }
        }
        Ok(Self {
            vespo: [k_pos, lp, k_neg, ln],
            ..self
        })
    }

    /// Sets GMPO's length epsilon (the divisor `L + ε`; verl: `1e-8`).
    ///
    /// # Errors
    /// `InvalidParam` unless finite and `>= 0`.
    pub fn with_len_eps(self, eps: f32) -> Result<Self> {
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(invalid("len_eps", eps, "a finite number >= 0"));
        }
        Ok(Self {
            len_eps: eps,
            ..self
        })
    }

    /// Multiplies the KL term by `π/π_old` (TRL's `use_bias_correction_kl`).
    pub fn with_kl_importance_weighted(self, on: bool) -> Self {
        Self {
            kl_importance_weighted: on,
            ..self
        }
    }

    /// The kind.
    pub fn kind(&self) -> GpuLossKind {
        self.kind
    }

    /// Sets the clip range `[1 − ε_lo, 1 + ε_hi]`.
    ///
    /// # Errors
    /// `InvalidParam` unless `ε_lo ∈ [0, 1]` and `ε_hi >= 0`, finite.
    pub fn with_clip(self, low: f32, high: f32) -> Result<Self> {
        if !(low.is_finite() && (0.0..=1.0).contains(&low)) {
            return Err(invalid("clip_low", low, "in [0, 1]"));
        }
        if !(high.is_finite() && high >= 0.0) {
            return Err(invalid("clip_high", high, "a finite number >= 0"));
        }
        Ok(Self {
            clip: (low, high),
            ..self
        })
    }

    /// Sets the dual clip `c > 1` (or removes it).
    ///
    /// # Errors
    /// `InvalidParam` unless `c > 1` and finite.
    pub fn with_dual_clip(self, c: Option<f32>) -> Result<Self> {
        if let Some(c) = c {
            if !(c.is_finite() && c > 1.0) {
                return Err(invalid("dual_clip", c, "a finite number > 1"));
            }
        }
        Ok(Self {
            dual_clip: c,
            ..self
        })
    }

    /// Sets TRL's `delta` cap on the unclipped ratio (or removes it).
    ///
    /// # Errors
    /// `InvalidParam` unless `delta > 0` and finite.
    pub fn with_delta(self, delta: Option<f32>) -> Result<Self> {
        if let Some(d) = delta {
            if !(d.is_finite() && d > 0.0) {
                return Err(invalid("delta", d, "a finite number > 0"));
            }
        }
        Ok(Self { delta, ..self })
    }

    /// Sets the clamp on `Δ = log π − log π_old` before `exp` (or removes it).
    ///
    /// # Errors
    /// `InvalidParam` unless `> 0` and finite.
    pub fn with_log_ratio_clamp(self, c: Option<f32>) -> Result<Self> {
        if let Some(c) = c {
            if !(c.is_finite() && c > 0.0) {
                return Err(invalid("log_ratio_clamp", c, "a finite number > 0"));
            }
        }
        Ok(Self {
            log_ratio_clamp: c,
            ..self
        })
    }

    /// Sets SAPO's temperatures `τ₊, τ₋ > 0`.
    ///
    /// # Errors
    /// `InvalidParam` unless both are finite and `> 0`.
    pub fn with_sapo_tau(self, pos: f32, neg: f32) -> Result<Self> {
        for (name, t) in [("tau_pos", pos), ("tau_neg", neg)] {
            if !(t.is_finite() && t > 0.0) {
                return Err(invalid(name, t, "a finite number > 0"));
            }
        }
        Ok(Self {
            tau: (pos, neg),
            ..self
        })
    }

    /// Sets DRO's `β > 0`.
    ///
    /// # Errors
    /// `InvalidParam` unless finite and `> 0`.
    pub fn with_dro_beta(self, beta: f32) -> Result<Self> {
        if !(beta.is_finite() && beta > 0.0) {
            return Err(invalid("dro_beta", beta, "a finite number > 0"));
        }
        Ok(Self {
            dro_beta: beta,
            ..self
        })
    }

    /// Adds (or removes) a per-token KL term `coef·k(log π, log π_ref)` (importance weighting:
    /// [`GpuPolicyLoss::with_kl_importance_weighted`]).
    ///
    /// # Errors
    /// `InvalidParam` unless `coef >= 0` and finite.
    pub fn with_kl(self, kl: Option<(KlPenalty<f32>, f32)>) -> Result<Self> {
        if let Some((_, c)) = kl {
            if !(c.is_finite() && c >= 0.0) {
                return Err(invalid("kl_coef", c, "a finite number >= 0"));
            }
        }
        Ok(Self { kl, ..self })
    }

    /// Sets the entropy-bonus coefficient `c_H` (the term `−c_H·H`).
    ///
    /// # Errors
    /// `InvalidParam` unless finite.
    pub fn with_entropy_coef(self, c: f32) -> Result<Self> {
        if !c.is_finite() {
            return Err(invalid("entropy_coef", c, "a finite number"));
        }
        Ok(Self {
            entropy_coef: c,
            ..self
        })
    }

    /// The entropy coefficient.
    pub fn entropy_coef(&self) -> f32 {
        self.entropy_coef
    }

    /// The KL term.
    pub fn kl(&self) -> Option<(KlPenalty<f32>, f32)> {
        self.kl
    }

    /// The equivalent CPU loss (the parity tests' reference), in `f64`.
    ///
    /// # Errors
    /// As the core's setters (never for a validated `GpuPolicyLoss`).
    pub fn to_core(&self) -> rewardkit_core::Result<rewardkit_core::loss::PolicyLoss<f64>> {
        use rewardkit_core::loss::{KlTerm, PolicyLoss, PolicyLossKind as K};
        let kind = match self.kind {
            GpuLossKind::Vanilla => K::Vanilla,
            GpuLossKind::Gpg => K::Gpg,
            GpuLossKind::Cispo => K::Cispo,
            GpuLossKind::Sapo => K::Sapo,
            GpuLossKind::Dro => K::Dro,
            GpuLossKind::GspoToken => K::GspoToken,
            GpuLossKind::Vespo => K::Vespo,
            GpuLossKind::DppoTv => K::DppoTv,
            GpuLossKind::DppoKl => K::DppoKl,
            GpuLossKind::Gspo => K::Gspo,
            GpuLossKind::GeoMean => K::GeoMean,
        };
        let f = f64::from;
        let [kp, lp, kn, ln] = self.vespo;
        let mut p = PolicyLoss::<f64>::new(kind)
            .with_clip(f(self.clip.0), f(self.clip.1))?
            .with_dual_clip(self.dual_clip.map(f))?
            .with_delta(self.delta.map(f))?
            .with_log_ratio_clamp(self.log_ratio_clamp.map(f))?
            .with_seq_log_ratio_max(self.seq_log_ratio_max.map(f))?
            .with_truncation(f(self.trunc))?
            .with_sapo_tau(f(self.tau.0), f(self.tau.1))?
            .with_dro_beta(f(self.dro_beta))?
            .with_vespo(f(kp), f(lp), f(kn), f(ln))?
            .with_len_eps(f(self.len_eps))?
            .with_entropy_coef(f(self.entropy_coef))?;
        if let Some((k, c)) = self.kl {
            let pen = KlPenalty::<f64>::new(k.estimator())
                .with_straight_through(k.straight_through())
                .with_log_ratio_clamp(k.log_ratio_clamp().map(f))?
                .with_value_clamp(k.value_clamp().map(f))?;
            p = p.with_kl(Some(
                KlTerm::new(pen, f(c))?.with_importance_weighted(self.kl_importance_weighted),
            ));
        }
        Ok(p)
    }

    pub(crate) fn params(&self) -> LossParams {
        let (kl, coef) = match self.kl {
            Some((k, c)) => (Some(k), c),
            None => (None, 0.0),
        };
        LossParams {
            pol: PolicyCfg {
                kind: self.kind.code(),
                has_dual: u32::from(self.dual_clip.is_some()),
                has_delta: u32::from(self.delta.is_some()),
                has_seq_max: u32::from(self.seq_log_ratio_max.is_some()),
                clip_low: self.clip.0,
                clip_high: self.clip.1,
                dual_clip: self.dual_clip.unwrap_or(0.0),
                delta: self.delta.unwrap_or(0.0),
                log_ratio_clamp: self.log_ratio_clamp.unwrap_or(BIG),
                tau_pos: self.tau.0,
                tau_neg: self.tau.1,
                dro_beta: self.dro_beta,
                trunc: self.trunc,
                seq_max: self.seq_log_ratio_max.unwrap_or(0.0),
                len_eps: self.len_eps,
                pad: 0.0,
                vespo: self.vespo,
            },
            kl: KlCfg::of(kl.as_ref()),
            has_kl: u32::from(kl.is_some()),
            kl_iw: u32::from(kl.is_some() && self.kl_importance_weighted),
            kl_coef: coef,
            entropy_coef: self.entropy_coef,
        }
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

    /// A policy loss over `(B, T)`: writes `∂(Σ loss)/∂ log π` into `grad` (0 at masked
    /// positions) and per-row partials `rows = [Σℓ, L]` per row, for [`GpuContext::loss_parts`].
    ///
    /// # Definition
    /// As [`rewardkit_core::loss::policy_loss`] for the kinds of [`GpuLossKind`], in `f32`; the
    /// sequence-coupled kinds reduce each row first (GSPO's mean log-ratio, VESPO's `log w`,
    /// GMPO's clipped log-ratios, advantages and log-weights), in `f32` where the core uses `f64`.
    ///
    /// # Shapes
    /// `grad`: `(B, T)`; `rows`: `(2·B)`; inputs as [`PolicyBuffers`].
    ///
    /// # Errors
    /// [`GpuError::Core`]: `BadShape`, `LengthMismatch`; `MissingInput` for a KL term without
    /// `ref_logp` or an entropy bonus without `entropy`.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// use rewardkit_gpu::{GpuLossKind, GpuPolicyLoss, PolicyBuffers};
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let (lp, old) = (ctx.upload(&[-1.0f32, -2.0])?, ctx.upload(&[-1.0f32, -2.0])?);
    /// let (adv, mask) = (ctx.upload(&[0.5f32])?, ctx.upload(&[1u32, 1])?);
    /// let (grad, rows) = (ctx.zeros::<f32>(2)?, ctx.zeros::<f32>(2)?);
    /// let inp = PolicyBuffers { logp: &lp, old_logp: &old, advantages: &adv, mask: &mask,
    ///     ref_logp: None, weights: None, entropy: None };
    /// ctx.policy_loss(&grad, &rows, &inp, 2, &GpuPolicyLoss::new(GpuLossKind::Vanilla))?;
    /// assert_eq!(ctx.read_blocking(&rows)?, vec![-1.0, 2.0]); // Σ −A·r over 2 tokens
    /// # Ok(()) }
    /// ```
    pub fn policy_loss(
        &self,
        grad: &GpuBuffer<f32>,
        rows: &GpuBuffer<f32>,
        inp: &PolicyBuffers<'_>,
        seq_len: usize,
        loss: &GpuPolicyLoss,
    ) -> Result<()> {
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
        if loss.kl.is_some() && inp.ref_logp.is_none() {
            return Err(GpuError::Core(Error::MissingInput {
                what: "ref_logp (the loss has a KL term)",
            }));
        }
        if loss.entropy_coef != 0.0 && inp.entropy.is_none() {
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
        let l = loss.params();
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
