//! Token-level policy-gradient losses (PPO clip and its descendants), each as additive parts plus
//! the exact gradient of the loss sums with respect to the policy log-probabilities.
//!
//! # Gradient conventions
//! The gradient is what autograd returns through the framework's graph: stop-gradients (`sg`) are
//! honoured (CISPO's clipped weight, GSPO-token's sequence ratio, DPPO's truncated ratio, VESPO's
//! weight and every importance weight are constants). Where the loss is not differentiable the
//! convention is torch's: `clamp(x, lo, hi)` passes the gradient on the closed interval
//! `lo ≤ x ≤ hi` and blocks it outside; `max(a, b)` / `min(a, b)` send the gradient to the selected
//! argument and split it equally (½ each) on an exact tie; `|x|` has derivative 0 at 0.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use crate::error::{
    Error, Result, UnknownName, ensure_len, param_finite, param_in, param_nonneg, param_positive,
};
use crate::kl::KlTerm;
use crate::layout::{Mask, count_true};
use crate::loss::aggregate::{Aggregation, LossParts};
use crate::preset::Preset;
use crate::real::{Real, usize_f64};
use crate::rng::RandomSource;
use crate::stats::sigmoid;

/// Which policy loss: verl's `actor.policy_loss.loss_mode` names, with TRL's and OpenRLHF's where
/// they differ.
///
/// | variant | per-token loss `ℓ` (ratio `r = e^{log π − log π_old}`) | names |
/// |---|---|---|
/// | `Vanilla` | `max(−A·r̃, −A·clip(r, 1−ε_lo, 1+ε_hi))`, then `min(·, −A·c)` for `A < 0` (dual clip); `r̃ = min(r, δ)` (TRL `delta`) | `vanilla`, `ppo`, `grpo` |
/// | `Gspo` | the same surrogate with the sequence ratio `sᵢ = e^{Σₜ m·Δ / max(Lᵢ,1)}`, gradient through `sᵢ` | `gspo` (TRL `importance_sampling_level="sequence"`, OpenRLHF) |
/// | `GspoToken` | the surrogate with `sᵢₜ = sg(sᵢ)·π/sg(π)` (clamp `log s ≤ 10` in verl) | `gspo_token` (verl's `gspo`) |
/// | `Sapo` | `−A·σ(τ(r−1))·4/τ`, `τ = τ₊` if `A > 0` else `τ₋` | `sapo` |
/// | `Gpg` | `−A·log π` | `gpg`, `reinforce` |
/// | `ClipCov` | PPO clip, with a random subset of high-covariance tokens zeroed | `clip_cov` |
/// | `KlCov` | `−A·r`, plus `κ·\|Δ\|` on the top-k covariance tokens | `kl_cov` |
/// | `GeoMean` | per sequence `−Āᵢ·exp(mean of sign-aware clipped Δ)` | `geo_mean` (GMPO) |
/// | `Cispo` | `−sg(clip(r, 1−ε_lo, 1+ε_hi))·A·log π` | `cispo` |
/// | `DppoTv`, `DppoKl` | `−A·sg(min(r, C))·log π·valid` (TV / binary-KL trust mask) | `dppo_tv`, `dppo_kl` |
/// | `Dro` | `−(A·log π − β/2·Δ²)` | `dro` |
/// | `Vespo` | `−sg(φ(wᵢ))·A·log π`, `log φ = λ + k·log w − λ·w`, `log wᵢ = Σₜ m·Δ` | `vespo` (TRL) |
///
/// # Examples
/// ```
/// use rewardkit_core::loss::PolicyLossKind;
/// let k: PolicyLossKind = "vanilla".parse()?;
/// assert_eq!(k, PolicyLossKind::Vanilla);
/// assert_eq!(PolicyLossKind::from_verl("gspo")?, PolicyLossKind::GspoToken);
/// assert!("ppo2".parse::<PolicyLossKind>().is_err());
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
///
/// Citations: PPO, Schulman et al. (2017), arXiv:1707.06347; dual clip, Ye et al. (2019),
/// arXiv:1912.09729; DAPO clip-higher, arXiv:2503.14476; GSPO, arXiv:2507.18071; SAPO,
/// arXiv:2511.20347; GPG, arXiv:2504.02546; Clip-Cov/KL-Cov, Cui et al. (2025), arXiv:2505.22617;
/// GMPO, arXiv:2507.20673; CISPO, MiniMax-M1, arXiv:2506.13585; DPPO, arXiv:2602.04879; verl
/// `core_algos.py` (DRO); TRL `grpo_trainer.py` (VESPO, `delta` from INTELLECT-2, arXiv:2505.07291).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PolicyLossKind {
    /// PPO clip (asymmetric, dual clip, TRL `delta`).
    Vanilla,
    /// GSPO, sequence-level ratio with the gradient through it.
    Gspo,
    /// GSPO-token: detached sequence ratio times `π/sg(π)` (verl's `gspo`).
    GspoToken,
    /// SAPO soft gate.
    Sapo,
    /// GPG / REINFORCE `−A·log π`.
    Gpg,
    /// Clip-Cov (needs a random source).
    ClipCov,
    /// KL-Cov (needs the `alloc` feature).
    KlCov,
    /// GMPO geometric-mean ratio.
    GeoMean,
    /// CISPO clipped, detached IS weight.
    Cispo,
    /// DPPO with a total-variation trust mask.
    DppoTv,
    /// DPPO with a binary-KL trust mask.
    DppoKl,
    /// DRO quadratic log-ratio penalty.
    Dro,
    /// VESPO Gamma-shaped sequence weight (TRL).
    Vespo,
}

const KIND_NAMES: &[&str] = &[
    "vanilla",
    "ppo",
    "grpo",
    "gspo",
    "gspo_token",
    "sapo",
    "gpg",
    "reinforce",
    "clip_cov",
    "kl_cov",
    "geo_mean",
    "gmpo",
    "cispo",
    "dppo_tv",
    "dppo_kl",
    "dro",
    "vespo",
];

impl PolicyLossKind {
    /// Every variant.
    pub const ALL: [Self; 13] = [
        Self::Vanilla,
        Self::Gspo,
        Self::GspoToken,
        Self::Sapo,
        Self::Gpg,
        Self::ClipCov,
        Self::KlCov,
        Self::GeoMean,
        Self::Cispo,
        Self::DppoTv,
        Self::DppoKl,
        Self::Dro,
        Self::Vespo,
    ];

    /// Parses a verl `loss_mode`: as [`FromStr`], except that verl's `"gspo"` is the GSPO-token form.
    ///
    /// # Errors
    /// [`UnknownName`] listing every valid name.
    pub fn from_verl(name: &str) -> Result<Self, UnknownName> {
        match name {
            "gspo" => Ok(Self::GspoToken),
            other => other.parse(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Vanilla => "vanilla",
            Self::Gspo => "gspo",
            Self::GspoToken => "gspo_token",
            Self::Sapo => "sapo",
            Self::Gpg => "gpg",
            Self::ClipCov => "clip_cov",
            Self::KlCov => "kl_cov",
            Self::GeoMean => "geo_mean",
            Self::Cispo => "cispo",
            Self::DppoTv => "dppo_tv",
            Self::DppoKl => "dppo_kl",
            Self::Dro => "dro",
            Self::Vespo => "vespo",
        }
    }
}

impl fmt::Display for PolicyLossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyLossKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "vanilla" | "ppo" | "grpo" => Self::Vanilla,
            "gspo" => Self::Gspo,
            "gspo_token" => Self::GspoToken,
            "sapo" => Self::Sapo,
            "gpg" | "reinforce" => Self::Gpg,
            "clip_cov" => Self::ClipCov,
            "kl_cov" => Self::KlCov,
            "geo_mean" | "gmpo" => Self::GeoMean,
            "cispo" => Self::Cispo,
            "dppo_tv" => Self::DppoTv,
            "dppo_kl" => Self::DppoKl,
            "dro" => Self::Dro,
            "vespo" => Self::Vespo,
            _ => {
                return Err(UnknownName {
                    kind: "policy loss",
                    valid: KIND_NAMES,
                });
            }
        })
    }
}

/// A configured policy loss: the kind and its parameters, validated once.
///
/// # Definition
/// See [`PolicyLossKind`] for each loss. Parameters (rewardkit defaults from [`PolicyLoss::new`]):
/// `ε_lo = ε_hi = 0.2`; dual clip `c`: none (verl: 3.0); DPPO truncation `C = 20`; `delta`: none;
/// the log-ratio `Δ = log π − log π_old` is clamped to `±20` before `exp` (no clamp for `ClipCov`,
/// `KlCov`, `GeoMean`, `Gspo`, `Dro`, as in verl); `τ₊ = 1`, `τ₋ = 1.05`; Clip-Cov ratio `2e-4`,
/// bounds `(1, 5)`; KL-Cov ratio `2e-4`, `κ = 1`; DRO `β = 0.1`... (must be set explicitly > 0);
/// VESPO `k₊ = 2, λ₊ = 3, k₋ = 3, λ₋ = 2`; no KL term; entropy coefficient 0.
///
/// # Errors
/// Every `with_*` setter returns [`Error::InvalidParam`] for a value out of range: clip ranges
/// must be finite, `ε_lo ∈ [0, 1]`, `ε_hi ≥ 0`; the dual clip must be `> 1`; `delta`, `τ`, the
/// Clip-Cov/KL-Cov ratios and DRO's `β` must be `> 0`; the Clip-Cov bounds must satisfy `lb < ub`.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{PolicyLoss, PolicyLossKind};
/// let dapo = PolicyLoss::<f32>::new(PolicyLossKind::Vanilla).with_clip(0.2, 0.28)?;
/// assert_eq!(dapo.clip(), (0.2, 0.28));
/// assert!(dapo.with_dual_clip(Some(0.5)).is_err()); // c must exceed 1
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`PolicyLossKind`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PolicyLoss<F> {
    kind: PolicyLossKind,
    clip_low: F,
    clip_high: F,
    dual_clip: Option<F>,
    trunc: F,
    delta: Option<F>,
    log_ratio_clamp: Option<F>,
    seq_log_ratio_max: Option<F>,
    tau_pos: F,
    tau_neg: F,
    cov_ratio: F,
    cov_lb: F,
    cov_ub: F,
    kl_cov_coef: F,
    dro_beta: F,
    vespo: [F; 4],
    len_eps: F,
    kl: Option<KlTerm<F>>,
    entropy_coef: F,
}

impl<F: Real> PolicyLoss<F> {
    /// The rewardkit defaults for `kind` (see the type-level docs).
    pub fn new(kind: PolicyLossKind) -> Self {
        let clamp = match kind {
            PolicyLossKind::ClipCov
            | PolicyLossKind::KlCov
            | PolicyLossKind::GeoMean
            | PolicyLossKind::Gspo
            | PolicyLossKind::GspoToken
            | PolicyLossKind::Dro
            | PolicyLossKind::Gpg => None,
            _ => Some(F::lit(20.0)),
        };
        Self {
            kind,
            clip_low: F::lit(0.2),
            clip_high: F::lit(0.2),
            dual_clip: None,
            trunc: F::lit(20.0),
            delta: None,
            log_ratio_clamp: clamp,
            seq_log_ratio_max: None,
            tau_pos: F::ONE,
            tau_neg: F::lit(1.05),
            cov_ratio: F::lit(2e-4),
            cov_lb: F::ONE,
            cov_ub: F::lit(5.0),
            kl_cov_coef: F::ONE,
            dro_beta: F::lit(0.1),
            vespo: [F::lit(2.0), F::lit(3.0), F::lit(3.0), F::lit(2.0)],
            len_eps: F::ZERO,
            kl: None,
            entropy_coef: F::ZERO,
        }
    }

    /// A framework's defaults for `kind`.
    ///
    /// # Definition
    /// - `Rewardkit`: [`PolicyLoss::new`].
    /// - `Verl` (`actor.yaml`): `clip_ratio_c = 3.0` as the dual clip (`Vanilla`) and as DPPO's
    ///   truncation, GSPO-token clamps `log s ≤ 10`, GMPO divides by `L + 1e-8`,
    ///   `ppo_kl_coef = 0.1` for KL-Cov.
    /// - `Trl` (`GRPOTrainer`): no log-ratio clamp (except SAPO's), `τ₊`, `τ₋` rounded to `f32`
    ///   (TRL builds them as float32 tensors).
    /// - `OpenRlhf` (`PolicyLoss`): the rewardkit defaults (`ppo` clamps `Δ` to `±20`, `gspo`
    ///   does not).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::Preset;
    /// use rewardkit_core::loss::{PolicyLoss, PolicyLossKind};
    /// let verl = PolicyLoss::<f64>::from_preset(Preset::Verl, PolicyLossKind::Vanilla);
    /// assert_eq!(verl.dual_clip(), Some(3.0));
    /// let trl = PolicyLoss::<f64>::from_preset(Preset::Trl, PolicyLossKind::Vanilla);
    /// assert_eq!(trl.log_ratio_clamp(), None);
    /// ```
    ///
    /// Citation: verl `verl/trainer/config/actor/actor.yaml`; TRL `grpo_trainer.py`; OpenRLHF
    /// `openrlhf/models/loss.py`.
    pub fn from_preset(preset: Preset, kind: PolicyLossKind) -> Self {
        let mut p = Self::new(kind);
        match preset {
            Preset::Rewardkit | Preset::OpenRlhf => {}
            Preset::Verl => {
                p.trunc = F::lit(3.0);
                p.kl_cov_coef = F::lit(0.1);
                p.len_eps = F::lit(1e-8);
                match kind {
                    PolicyLossKind::Vanilla => p.dual_clip = Some(F::lit(3.0)),
                    PolicyLossKind::GspoToken => p.seq_log_ratio_max = Some(F::lit(10.0)),
                    _ => {}
                }
            }
            Preset::Trl => {
                if kind != PolicyLossKind::Sapo {
                    p.log_ratio_clamp = None;
                }
                p.tau_pos = F::lit(f64::from(1.0f32));
                p.tau_neg = F::lit(f64::from(1.05f32));
            }
        }
        p
    }

    /// The kind.
    pub fn kind(&self) -> PolicyLossKind {
        self.kind
    }

    /// `(ε_lo, ε_hi)`.
    pub fn clip(&self) -> (F, F) {
        (self.clip_low, self.clip_high)
    }

    /// The dual-clip bound `c`, if any.
    pub fn dual_clip(&self) -> Option<F> {
        self.dual_clip
    }

    /// The KL term, if any.
    pub fn kl(&self) -> Option<KlTerm<F>> {
        self.kl
    }

    /// DPPO's truncation `C` of the detached ratio.
    pub fn truncation(&self) -> F {
        self.trunc
    }

    /// TRL's `delta` (the cap on the unclipped ratio), if any.
    pub fn delta(&self) -> Option<F> {
        self.delta
    }

    /// The clamp `±c` on `Δ` before `exp`, if any.
    pub fn log_ratio_clamp(&self) -> Option<F> {
        self.log_ratio_clamp
    }

    /// The cap on GSPO's sequence log-ratio, if any.
    pub fn seq_log_ratio_max(&self) -> Option<F> {
        self.seq_log_ratio_max
    }

    /// SAPO's temperatures `(τ₊, τ₋)`.
    pub fn sapo_tau(&self) -> (F, F) {
        (self.tau_pos, self.tau_neg)
    }

    /// Clip-Cov's `(ratio, lb, ub)` (KL-Cov uses the ratio).
    pub fn cov(&self) -> (F, F, F) {
        (self.cov_ratio, self.cov_lb, self.cov_ub)
    }

    /// KL-Cov's coefficient `κ`.
    pub fn kl_cov_coef(&self) -> F {
        self.kl_cov_coef
    }

    /// DRO's `β`.
    pub fn dro_beta(&self) -> F {
        self.dro_beta
    }

    /// VESPO's `(k₊, λ₊, k₋, λ₋)`.
    pub fn vespo(&self) -> (F, F, F, F) {
        let [a, b, c, d] = self.vespo;
        (a, b, c, d)
    }

    /// GMPO's `ε` on the sequence length.
    pub fn len_eps(&self) -> F {
        self.len_eps
    }

    /// The entropy-bonus coefficient `c`.
    pub fn entropy_coef(&self) -> F {
        self.entropy_coef
    }

    /// Sets the clip range `[1 − ε_lo, 1 + ε_hi]` (DAPO clip-higher: `ε_hi > ε_lo`); for DPPO these
    /// are the divergence thresholds; for TRL's CISPO set `ε_lo = 1` and `ε_hi = epsilon_high − 1`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_clip(self, low: F, high: F) -> Result<Self> {
        Ok(Self {
            clip_low: param_in("clip_ratio_low", low, F::ZERO, F::ONE, "in [0, 1]")?,
            clip_high: param_nonneg("clip_ratio_high", high)?,
            ..self
        })
    }

    /// Sets the dual-clip bound `c > 1` (verl `clip_ratio_c`, OpenRLHF `--actor.dual_clip`).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_dual_clip(self, c: Option<F>) -> Result<Self> {
        if let Some(c) = c {
            if !(c.is_finite() && c > F::ONE) {
                return Err(crate::error::invalid(
                    "clip_ratio_c",
                    c,
                    "a finite number > 1",
                ));
            }
        }
        Ok(Self {
            dual_clip: c,
            ..self
        })
    }

    /// Sets DPPO's truncation `C` of the detached ratio (verl `clip_ratio_c`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `> 0`.
    pub fn with_truncation(self, c: F) -> Result<Self> {
        Ok(Self {
            trunc: param_positive("clip_ratio_c", c)?,
            ..self
        })
    }

    /// Sets TRL's `delta`: the ratio in the unclipped branch is capped at `δ` (two-sided clip).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `> 0`.
    pub fn with_delta(self, delta: Option<F>) -> Result<Self> {
        if let Some(d) = delta {
            param_positive("delta", d)?;
        }
        Ok(Self { delta, ..self })
    }

    /// Sets (or removes) the clamp `±c` on `Δ` before `exp`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `> 0`.
    pub fn with_log_ratio_clamp(self, c: Option<F>) -> Result<Self> {
        if let Some(c) = c {
            param_positive("log_ratio_clamp", c)?;
        }
        Ok(Self {
            log_ratio_clamp: c,
            ..self
        })
    }

    /// Sets (or removes) the upper clamp on the sequence log-ratio of GSPO (verl: 10).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite.
    pub fn with_seq_log_ratio_max(self, c: Option<F>) -> Result<Self> {
        if let Some(c) = c {
            param_finite("seq_log_ratio_max", c)?;
        }
        Ok(Self {
            seq_log_ratio_max: c,
            ..self
        })
    }

    /// Sets SAPO's temperatures `τ₊`, `τ₋`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless both are finite and `> 0`.
    pub fn with_sapo_tau(self, pos: F, neg: F) -> Result<Self> {
        Ok(Self {
            tau_pos: param_positive("tau_pos", pos)?,
            tau_neg: param_positive("tau_neg", neg)?,
            ..self
        })
    }

    /// Sets the Clip-Cov ratio and bounds, or KL-Cov's ratio (`lb`, `ub` ignored there).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless `ratio ∈ (0, 1]` and `lb < ub` (finite).
    pub fn with_cov(self, ratio: F, lb: F, ub: F) -> Result<Self> {
        param_in("cov_ratio", ratio, F::ZERO, F::ONE, "in (0, 1]")?;
        if ratio <= F::ZERO {
            return Err(crate::error::invalid("cov_ratio", ratio, "in (0, 1]"));
        }
        param_finite("clip_cov_lb", lb)?;
        param_finite("clip_cov_ub", ub)?;
        if lb >= ub {
            return Err(crate::error::invalid(
                "clip_cov_lb",
                lb,
                "below clip_cov_ub",
            ));
        }
        Ok(Self {
            cov_ratio: ratio,
            cov_lb: lb,
            cov_ub: ub,
            ..self
        })
    }

    /// Sets KL-Cov's coefficient `κ` (verl `ppo_kl_coef`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `>= 0`.
    pub fn with_kl_cov_coef(self, coef: F) -> Result<Self> {
        Ok(Self {
            kl_cov_coef: param_nonneg("ppo_kl_coef", coef)?,
            ..self
        })
    }

    /// Sets DRO's `β > 0` (verl `dro_beta`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `> 0`.
    pub fn with_dro_beta(self, beta: F) -> Result<Self> {
        Ok(Self {
            dro_beta: param_positive("dro_beta", beta)?,
            ..self
        })
    }

    /// Sets VESPO's `(k₊, λ₊, k₋, λ₋)`; `λ` is floored at `1e-4` as in TRL.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless all are finite, `k >= 0`, `λ > 0`.
    pub fn with_vespo(self, k_pos: F, lambda_pos: F, k_neg: F, lambda_neg: F) -> Result<Self> {
        Ok(Self {
            vespo: [
                param_nonneg("vespo_k_pos", k_pos)?,
                param_positive("vespo_lambda_pos", lambda_pos)?.max(F::lit(1e-4)),
                param_nonneg("vespo_k_neg", k_neg)?,
                param_positive("vespo_lambda_neg", lambda_neg)?.max(F::lit(1e-4)),
            ],
            ..self
        })
    }

    /// Sets the `ε` added to sequence lengths by GMPO (verl: `1e-8`; rewardkit: 0, empty rows give 0).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `>= 0`.
    pub fn with_len_eps(self, eps: F) -> Result<Self> {
        Ok(Self {
            len_eps: param_nonneg("len_eps", eps)?,
            ..self
        })
    }

    /// Adds (or removes) a per-token KL term.
    pub fn with_kl(self, kl: Option<KlTerm<F>>) -> Self {
        Self { kl, ..self }
    }

    /// Sets the entropy-bonus coefficient `c`: `−c·H` per valid token is added to the value (the
    /// entropy does not depend on `log π` of the sampled token; its gradient with respect to the
    /// logits is [`crate::logits::entropy_backward`], see [`entropy_upstream`]).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite.
    pub fn with_entropy_coef(self, coef: F) -> Result<Self> {
        Ok(Self {
            entropy_coef: param_finite("entropy_coef", coef)?,
            ..self
        })
    }
}

/// The inputs of a policy loss over a `(B, T)` batch.
///
/// # Shapes
/// `logp`, `old_logp`, and the optional `ref_logp` (KL term), `weights` (detached per-token weights
/// on the policy term: IS corrections and token masks multiplied together) and `entropy`: `(B, T)`;
/// `advantages`: `(B, T)` (per token, verl/OpenRLHF) or `(B)` (per sequence, TRL); `mask`: `(B, T)`.
/// Values at masked positions are ignored (they may be anything, NaN included).
///
/// # Errors
/// [`PolicyInputs::new`] and the setters return [`Error::LengthMismatch`] for a wrong length.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::PolicyInputs};
/// let mask = Mask::new(&[true, true, true, false], 2)?;
/// let inp = PolicyInputs::new(&[-1.0f64; 4], &[-1.0; 4], &[1.0, -1.0], mask)?; // (B) advantages
/// assert_eq!(inp.mask().count(), 3);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PolicyInputs<'a, F> {
    logp: &'a [F],
    old_logp: &'a [F],
    advantages: &'a [F],
    mask: Mask<'a>,
    ref_logp: Option<&'a [F]>,
    weights: Option<&'a [F]>,
    entropy: Option<&'a [F]>,
}

impl<'a, F: Real> PolicyInputs<'a, F> {
    /// Checks the shapes.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    pub fn new(
        logp: &'a [F],
        old_logp: &'a [F],
        advantages: &'a [F],
        mask: Mask<'a>,
    ) -> Result<Self> {
        let s = mask.shape();
        s.check("logp", logp.len())?;
        s.check("old_logp", old_logp.len())?;
        if advantages.len() != s.len() {
            s.check_batch("advantages", advantages.len())?;
        }
        Ok(Self {
            logp,
            old_logp,
            advantages,
            mask,
            ref_logp: None,
            weights: None,
            entropy: None,
        })
    }

    /// Reference log-probabilities for the KL term.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    pub fn with_ref(self, ref_logp: &'a [F]) -> Result<Self> {
        self.mask.shape().check("ref_logp", ref_logp.len())?;
        Ok(Self {
            ref_logp: Some(ref_logp),
            ..self
        })
    }

    /// Detached per-token weights multiplying the policy term (IS weights, entropy or off-policy
    /// masks as 0/1); must be finite and `>= 0` at valid positions.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    pub fn with_weights(self, weights: &'a [F]) -> Result<Self> {
        self.mask.shape().check("weights", weights.len())?;
        Ok(Self {
            weights: Some(weights),
            ..self
        })
    }

    /// Per-token entropies for the entropy bonus.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    pub fn with_entropy(self, entropy: &'a [F]) -> Result<Self> {
        self.mask.shape().check("entropy", entropy.len())?;
        Ok(Self {
            entropy: Some(entropy),
            ..self
        })
    }

    /// The mask.
    pub fn mask(&self) -> Mask<'a> {
        self.mask
    }

    /// `(logp, old_logp, advantages, mask)`.
    pub(crate) fn parts(&self) -> (&'a [F], &'a [F], &'a [F], Mask<'a>) {
        (self.logp, self.old_logp, self.advantages, self.mask)
    }

    #[inline(always)]
    fn adv_per_token(&self) -> bool {
        self.advantages.len() == self.logp.len()
    }

    /// First input that the loss reads and that is NaN/∞ (or a negative weight), at a valid
    /// position (the slow path of error reporting).
    fn first_non_finite(&self, loss: &PolicyLoss<F>) -> Option<Error> {
        let t = self.mask.shape().seq_len();
        let per_token = self.adv_per_token();
        for (idx, &m) in self.mask.bits().iter().enumerate() {
            if !m {
                continue;
            }
            let a_idx = if per_token { idx } else { idx / t };
            let checks: [(&'static str, Option<&[F]>, usize); 6] = [
                ("logp", Some(self.logp), idx),
                ("old_logp", Some(self.old_logp), idx),
                ("advantages", Some(self.advantages), a_idx),
                ("ref_logp", self.ref_logp.filter(|_| loss.kl.is_some()), idx),
                ("weights", self.weights, idx),
                (
                    "entropy",
                    self.entropy.filter(|_| loss.entropy_coef != F::ZERO),
                    idx,
                ),
            ];
            for (what, xs, i) in checks {
                if let Some(x) = xs.and_then(|xs| xs.get(i)) {
                    if !x.is_finite() || (what == "weights" && *x < F::ZERO) {
                        return Some(Error::NonFinite { what, index: i });
                    }
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// torch-semantics helpers: (value, derivative)
// ---------------------------------------------------------------------------------------------

#[inline(always)]
fn tmax<F: Real>(a: F, da: F, b: F, db: F) -> (F, F) {
    if a > b {
        (a, da)
    } else if b > a {
        (b, db)
    } else {
        (a, (da + db) * F::lit(0.5))
    }
}

#[inline(always)]
fn tmin<F: Real>(a: F, da: F, b: F, db: F) -> (F, F) {
    if a < b {
        (a, da)
    } else if b < a {
        (b, db)
    } else {
        (a, (da + db) * F::lit(0.5))
    }
}

/// `clamp(x, lo, hi)` and whether the gradient passes (closed interval).
#[inline(always)]
fn tclamp<F: Real>(x: F, lo: F, hi: F) -> (F, F) {
    if x < lo {
        (lo, F::ZERO)
    } else if x > hi {
        (hi, F::ZERO)
    } else {
        (x, F::ONE)
    }
}

/// `Δ` after the optional symmetric clamp, with its derivative.
#[inline(always)]
fn clamp_delta<F: Real>(d: F, c: Option<F>) -> (F, F) {
    match c {
        Some(c) => tclamp(d, -c, c),
        None => (d, F::ONE),
    }
}

// ---------------------------------------------------------------------------------------------
// The per-token seam: what one token contributes, and what it needs from its row
// ---------------------------------------------------------------------------------------------

/// One token's inputs to [`PolicyLoss::token`].
///
/// # Definition
/// - `logp`, `old_logp`: `log π`, `log π_old` of the sampled token; `adv`: its advantage `A`.
/// - `weight`: the detached weight `w ≥ 0` on the policy term (IS weights and token masks
///   multiplied together; 1 for none).
/// - `ref_logp`: `log π_ref`, read only when the loss has a [`KlTerm`].
/// - `entropy`: the token's entropy `H`, read only when the entropy coefficient is not 0.
/// - `selected`: the batch-level selection of Clip-Cov (the token's policy term is detached: value
///   and gradient 0) and KL-Cov (the token is penalized by `κ·|Δ|`); ignored by other kinds.
///
/// # Shapes
/// Scalars.
///
/// # Errors
/// None (plain data); [`PolicyLoss::token`] checks it.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::TokenInputs;
/// let x = TokenInputs::new(-1.0f32, -1.1, 0.5);
/// assert_eq!((x.weight, x.selected), (1.0, false));
/// let x = TokenInputs { ref_logp: -0.9, ..x };
/// assert_eq!(x.ref_logp, -0.9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenInputs<F> {
    /// `log π` of the token.
    pub logp: F,
    /// `log π_old` of the token.
    pub old_logp: F,
    /// The advantage `A`.
    pub adv: F,
    /// Detached weight on the policy term.
    pub weight: F,
    /// `log π_ref` (for the KL term).
    pub ref_logp: F,
    /// The token's entropy (for the entropy bonus).
    pub entropy: F,
    /// Clip-Cov / KL-Cov selection.
    pub selected: bool,
}

impl<F: Real> TokenInputs<F> {
    /// A token with weight 1, `ref_logp = entropy = 0` (set them when the loss has a KL term or an
    /// entropy bonus) and not selected.
    pub fn new(logp: F, old_logp: F, adv: F) -> Self {
        Self {
            logp,
            old_logp,
            adv,
            weight: F::ONE,
            ref_logp: F::ZERO,
            entropy: F::ZERO,
            selected: false,
        }
    }
}

/// What the tokens of a sequence-coupled kind need from their row (pass 1 of two), computed by
/// [`PolicyLoss::row_context`]; the default (zeros) for token-local kinds.
///
/// # Definition
/// With `Δₜ = log πₜ − log π_oldₜ` over the row's valid tokens and `L` their number:
/// - `Gspo`, `GspoToken`: `seq_log_ratio = min(Σ Δ / max(L, 1), c)` with `c` the sequence
///   log-ratio cap (verl: 10; none by default), `pass = 1` below the cap, else 0;
/// - `Vespo`: `seq_log_ratio = log w = clamp(Σ clamp(Δ, ±20), ln 1e-8, 20)`, `pass = 1`.
///
/// # Shapes
/// Scalars (one per row).
///
/// # Errors
/// None (plain data).
///
/// # Examples
/// See [`PolicyLoss::row_context`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RowContext<F> {
    /// The row's (clamped) sequence log-ratio.
    pub seq_log_ratio: F,
    /// 1 where the gradient passes the cap on `seq_log_ratio`, 0 where it is clamped.
    pub pass: F,
}

/// One token's contribution to a policy loss (the output of [`PolicyLoss::token`]).
///
/// # Definition
/// - `value`: `w·ℓ + coef·k − c_H·H`, the token's share of the row sum;
/// - `dlogp`: `∂value/∂ log πₜ` through the token itself;
/// - `dseq`: `∂value/∂ seq_log_ratio` of its row (non-zero only for `Gspo`, whose ratio carries
///   the gradient). The gradient of the row sum with respect to `log πₜ` is
///   `dlogpₜ + (Σ_u dseq_u) / max(L, 1)` (pass 3 of GSPO; just `dlogpₜ` for every other kind).
///
/// # Shapes
/// Scalars.
///
/// # Errors
/// None (plain data).
///
/// # Examples
/// See [`PolicyLoss::token`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenTerm<F> {
    /// The token's loss value.
    pub value: F,
    /// Its derivative with respect to the token's `log π`.
    pub dlogp: F,
    /// Its derivative with respect to the row's sequence log-ratio.
    pub dseq: F,
}

impl<F: Real> PolicyLoss<F> {
    /// The PPO surrogate at ratio `r` with `dr = ∂r/∂x` for some variable `x`: value and `∂ℓ/∂x`.
    #[inline(always)]
    fn surrogate(&self, r: F, dr: F, a: F, dual: Option<F>) -> (F, F) {
        let (r1, dr1) = match self.delta {
            Some(d) => tmin(r, dr, d, F::ZERO),
            None => (r, dr),
        };
        let (rc, pass) = tclamp(r, F::ONE - self.clip_low, F::ONE + self.clip_high);
        let (p, dp) = tmax(-a * r1, -a * dr1, -a * rc, -a * dr * pass);
        match dual {
            Some(c) if a < F::ZERO => tmin(p, dp, -a * c, F::ZERO),
            _ => (p, dp),
        }
    }

    /// The policy term of one token, before its weight: `(value, ∂/∂ log π, ∂/∂ seq_log_ratio)`.
    #[inline(always)]
    fn policy_term(&self, x: &TokenInputs<F>, row: &RowContext<F>) -> (F, F, F) {
        let (lp, old, a) = (x.logp, x.old_logp, x.adv);
        let raw = lp - old;
        let z = F::ZERO;
        match self.kind {
            PolicyLossKind::Vanilla => {
                let (d, dd) = clamp_delta(raw, self.log_ratio_clamp);
                let r = d.exp();
                let (v, g) = self.surrogate(r, r * dd, a, self.dual_clip);
                (v, g, z)
            }
            PolicyLossKind::ClipCov => {
                // verl's clip_cov: no log-ratio clamp, no dual clip; selected tokens detached.
                if x.selected {
                    return (z, z, z);
                }
                let r = raw.exp();
                let (v, g) = self.surrogate(r, r, a, None);
                (v, g, z)
            }
            PolicyLossKind::GspoToken => {
                let s = row.seq_log_ratio.exp();
                let (v, g) = self.surrogate(s, s * row.pass, a, self.dual_clip);
                (v, g, z)
            }
            PolicyLossKind::Gspo => {
                let s = row.seq_log_ratio.exp();
                let (v, dv) = self.surrogate(s, F::ONE, a, self.dual_clip);
                (v, z, dv * s * row.pass)
            }
            PolicyLossKind::Sapo => {
                let (d, dd) = clamp_delta(raw, self.log_ratio_clamp);
                let r = d.exp();
                let tau = if a > F::ZERO {
                    self.tau_pos
                } else {
                    self.tau_neg
                };
                let s = sigmoid(tau * (r - F::ONE));
                let four = F::lit(4.0);
                (
                    -(s * (four / tau)) * a,
                    -a * four * s * (F::ONE - s) * r * dd,
                    z,
                )
            }
            PolicyLossKind::Gpg => (-lp * a, -a, z),
            PolicyLossKind::Cispo => {
                let (d, _) = clamp_delta(raw, self.log_ratio_clamp);
                let (rc, _) = tclamp(d.exp(), F::ONE - self.clip_low, F::ONE + self.clip_high);
                (-rc * a * lp, -rc * a, z)
            }
            PolicyLossKind::DppoTv | PolicyLossKind::DppoKl => {
                let (d, _) = clamp_delta(raw, self.log_ratio_clamp);
                let tr = d.exp().min(self.trunc);
                let (p, po) = (lp.exp(), old.exp());
                let valid = if self.kind == PolicyLossKind::DppoTv {
                    if a > F::ZERO {
                        p - po <= self.clip_high
                    } else {
                        p - po >= -self.clip_low
                    }
                } else {
                    let tiny = F::lit(1e-8);
                    let bkl = po * (old - lp)
                        + (F::ONE - po) * ((F::ONE - po + tiny) / (F::ONE - p + tiny)).ln();
                    if a > F::ZERO {
                        bkl <= self.clip_high || p <= po
                    } else {
                        bkl <= self.clip_low || p >= po
                    }
                };
                if valid {
                    (-a * tr * lp, -a * tr, z)
                } else {
                    (z, z, z)
                }
            }
            PolicyLossKind::Dro => {
                let half = F::lit(0.5) * self.dro_beta;
                (-(lp * a - half * raw * raw), -a + self.dro_beta * raw, z)
            }
            PolicyLossKind::Vespo => {
                let phi = vespo_phi(self, row.seq_log_ratio, a);
                (-phi * a * lp, -phi * a, z)
            }
            PolicyLossKind::KlCov => {
                let r = raw.exp();
                let (mut v, mut dv) = (-a * r, -a * r);
                if x.selected {
                    let sgn = if raw > z {
                        F::ONE
                    } else if raw < z {
                        -F::ONE
                    } else {
                        z
                    };
                    v = v + self.kl_cov_coef * raw.abs();
                    dv = dv + self.kl_cov_coef * sgn;
                }
                (v, dv, z)
            }
            // GMPO's policy term is per sequence (see `policy_loss`); only the extras are per token.
            PolicyLossKind::GeoMean => (z, z, z),
        }
    }

    /// [`PolicyLoss::token`] without the checks: the function every batched loop calls.
    #[inline(always)]
    pub(crate) fn token_unchecked(&self, x: &TokenInputs<F>, row: &RowContext<F>) -> TokenTerm<F> {
        let (v, d, ds) = self.policy_term(x, row);
        let w = x.weight;
        let (mut ev, mut eg) = (F::ZERO, F::ZERO);
        if let Some(kl) = self.kl {
            (ev, eg) = kl.eval_unchecked(x.logp, x.old_logp, x.ref_logp);
        }
        if self.entropy_coef != F::ZERO {
            ev = ev - self.entropy_coef * x.entropy;
        }
        TokenTerm {
            value: v * w + ev,
            dlogp: d * w + eg,
            dseq: ds * w,
        }
    }

    /// One token's value and derivatives: the per-token function every batched policy loss is
    /// built from (and what a GPU kernel mirrors).
    ///
    /// # Definition
    /// `value = w·ℓ(kind) + coef·k(log π, log π_ref) − c_H·H` with `ℓ` as in [`PolicyLossKind`],
    /// the [`KlTerm`] if set and the entropy bonus if `c_H ≠ 0`; derivatives as [`TokenTerm`].
    ///
    /// **Token-local kinds** (`Vanilla` with dual clip and `delta`, `Sapo`, `Gpg`, `Cispo`,
    /// `DppoTv`, `DppoKl`, `Dro`): one call per token is the whole loss:
    /// `row sum = Σₜ valueₜ`, `∂/∂ log πₜ = dlogpₜ`.
    ///
    /// **Two passes** (`GspoToken`, `Vespo`): pass 1 reduces each row to a [`RowContext`]
    /// ([`PolicyLoss::row_context`]); pass 2 calls `token` per valid token with it.
    ///
    /// **Three passes** (`Gspo`, whose gradient flows through the sequence ratio): passes 1 and 2
    /// as above, then `∂/∂ log πₜ = dlogpₜ + (Σ_u dseq_u)/max(L, 1)` per valid token.
    ///
    /// **Batch-level selection** (`ClipCov`, `KlCov`): the batch chooses the tokens
    /// (`policy_loss_rng` / `policy_loss` do it from whole-batch statistics); pass the choice as
    /// [`TokenInputs::selected`], then one call per token as for the token-local kinds.
    ///
    /// **`GeoMean`**: its policy term is a per-sequence quantity (`−Āᵢ·ρᵢ`, reported as the row
    /// sum); `token` returns only the KL and entropy terms. Use [`policy_loss`].
    ///
    /// # Shapes
    /// Scalars.
    ///
    /// # Errors
    /// [`Error::NonFinite`] (`index` 0, `what` naming the field) for a NaN/∞ input that is read
    /// (the row's `seq_log_ratio` may be `±∞`, not NaN), or a negative weight; [`Error::Overflow`]
    /// when an output overflows (an unclamped ratio beyond the float range).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{KlPenalty, KlTerm, Mask};
    /// use rewardkit_core::loss::*;
    /// let loss = PolicyLoss::<f64>::new(PolicyLossKind::Vanilla)
    ///     .with_kl(Some(KlTerm::new(KlPenalty::default(), 0.1)?));
    /// // r = e^{0.1} inside the clip range: ℓ = −A·r, ∂ℓ/∂ log π = −A·r (plus the KL term).
    /// let x = TokenInputs { ref_logp: -1.0, ..TokenInputs::new(-1.0, -1.1, 2.0) };
    /// let t = loss.token(&x, &RowContext::default())?;
    /// assert!((t.value + 2.0 * 0.1f64.exp()).abs() < 1e-15); // k3 = 0 at log π = log π_ref
    /// assert!((t.dlogp + 2.0 * 0.1f64.exp()).abs() < 1e-15);
    ///
    /// // The batched loss is the sum of its tokens.
    /// let mask = Mask::new(&[true], 1)?;
    /// let inp = PolicyInputs::new(&[-1.0], &[-1.1], &[2.0], mask)?.with_ref(&[-1.0])?;
    /// let mut g = [0.0];
    /// let parts = policy_loss(&mut g, &inp, &loss, &Aggregation::TokenSum)?;
    /// assert_eq!((parts.sum, g[0]), (t.value, t.dlogp));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    ///
    /// Citation: see [`PolicyLossKind`].
    pub fn token(&self, x: &TokenInputs<F>, row: &RowContext<F>) -> Result<TokenTerm<F>> {
        let uses_row = matches!(
            self.kind,
            PolicyLossKind::Gspo | PolicyLossKind::GspoToken | PolicyLossKind::Vespo
        );
        let checks = [
            ("logp", x.logp, true),
            ("old_logp", x.old_logp, true),
            ("advantages", x.adv, true),
            ("weights", x.weight, true),
            ("ref_logp", x.ref_logp, self.kl.is_some()),
            ("entropy", x.entropy, self.entropy_coef != F::ZERO),
            ("pass", row.pass, uses_row),
        ];
        for (what, v, read) in checks {
            if read && (!v.is_finite() || (what == "weights" && v < F::ZERO)) {
                return Err(Error::NonFinite { what, index: 0 });
            }
        }
        // ±∞ is a valid sequence log-ratio (a ratio of 0 or ∞, see `row_context`); NaN is not.
        if uses_row && row.seq_log_ratio.is_nan() {
            return Err(Error::NonFinite {
                what: "seq_log_ratio",
                index: 0,
            });
        }
        let t = self.token_unchecked(x, row);
        if t.value.is_finite() && t.dlogp.is_finite() && t.dseq.is_finite() {
            Ok(t)
        } else {
            Err(Error::Overflow {
                what: "policy loss of a token",
            })
        }
    }

    /// [`PolicyLoss::row_context`] without the checks.
    #[inline]
    pub(crate) fn row_context_unchecked(&self, lp: &[F], old: &[F], m: &[bool]) -> RowContext<F> {
        match self.kind {
            PolicyLossKind::Gspo | PolicyLossKind::GspoToken => {
                // The mean in f64, rounded once (a sum of f32 values can overflow f32).
                let (s, n) = masked_delta_sum(lp, old, m, None);
                let ls = F::lit(s / usize_f64(n.max(1)));
                match self.seq_log_ratio_max {
                    Some(c) if ls > c => RowContext {
                        seq_log_ratio: c,
                        pass: F::ZERO,
                    },
                    _ => RowContext {
                        seq_log_ratio: ls,
                        pass: F::ONE,
                    },
                }
            }
            PolicyLossKind::Vespo => {
                let (s, _) = masked_delta_sum(lp, old, m, Some(F::lit(20.0)));
                RowContext {
                    seq_log_ratio: F::lit(s.clamp(LN_1E_8, 20.0)),
                    pass: F::ONE,
                }
            }
            _ => RowContext::default(),
        }
    }

    /// Pass 1 of the sequence-coupled kinds: the [`RowContext`] of one row (the default for the
    /// other kinds).
    ///
    /// # Definition
    /// See [`RowContext`]; sums accumulate in `f64`. Masked positions are not read.
    ///
    /// # Shapes
    /// `logp`, `old_logp`, `mask`: `(T)`, one row.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ at a valid position (its index in
    /// the row). A log-ratio `Δ = log π − log π_old` or a mean beyond the range of `F` gives an
    /// infinite `seq_log_ratio` (a sequence ratio of 0 or `∞`), which [`PolicyLoss::token`]
    /// accepts; the token outputs are checked there.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::loss::{PolicyLoss, PolicyLossKind, TokenInputs};
    /// let gspo = PolicyLoss::<f64>::new(PolicyLossKind::Gspo);
    /// let (lp, old, m) = ([-1.0, -2.0, 0.0], [-1.2, -1.9, 0.0], [true, true, false]);
    /// let ctx = gspo.row_context(&lp, &old, &m)?;
    /// assert!((ctx.seq_log_ratio - 0.05).abs() < 1e-15); // mean of (0.2, −0.1)
    /// // Pass 2 (values, dseq), then pass 3: ∂/∂ log πₜ = dlogpₜ + Σ dseq / L.
    /// let terms: Vec<_> = (0..2)
    ///     .map(|t| gspo.token(&TokenInputs::new(lp[t], old[t], 1.0), &ctx))
    ///     .collect::<Result<_, _>>()?;
    /// let shared: f64 = terms.iter().map(|t| t.dseq).sum::<f64>() / 2.0;
    /// // Row sum −2s with s = e^{0.05}: each token gets ∂(−2s)/∂ log πₜ = −2s/L = −s.
    /// assert!((terms[0].dlogp + shared + 0.05f64.exp()).abs() < 1e-15);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    ///
    /// Citation: GSPO, arXiv:2507.18071; verl `compute_policy_loss_gspo`; TRL `vespo`.
    pub fn row_context(&self, logp: &[F], old_logp: &[F], mask: &[bool]) -> Result<RowContext<F>> {
        ensure_len("logp", mask.len(), logp.len())?;
        ensure_len("old_logp", mask.len(), old_logp.len())?;
        for (j, ((&a, &b), &m)) in logp.iter().zip(old_logp).zip(mask).enumerate() {
            if m && !a.is_finite() {
                return Err(Error::NonFinite {
                    what: "logp",
                    index: j,
                });
            }
            if m && !b.is_finite() {
                return Err(Error::NonFinite {
                    what: "old_logp",
                    index: j,
                });
            }
        }
        Ok(self.row_context_unchecked(logp, old_logp, mask))
    }
}

/// Computes a policy loss: writes `∂(Σ loss sums)/∂ log π` into `grad` (0 at masked positions) and
/// returns the parts for `agg` (see [`LossParts`]). Scale the gradient with
/// [`Aggregation::scale_grad`] and the parts of the whole batch.
///
/// # Definition
/// Per valid token: `ℓ = w·policy(kind) + coef·k(log π, log π_ref) − c_H·H` (see
/// [`PolicyLossKind`], [`KlTerm`]); `w` are the detached input weights (1 if absent). GMPO's
/// per-sequence loss is reported as the row sum (aggregate it with
/// [`Aggregation::RowMeanTokenSum`] to reproduce verl).
///
/// # Shapes
/// `grad`: `(B, T)`; inputs as [`PolicyInputs`].
///
/// # Errors
/// [`Error::LengthMismatch`] for `grad`; [`Error::NonFinite`] for NaN/∞ at a valid position in an
/// input the loss reads (`ref_logp` only with a KL term, `entropy` only with a non-zero
/// coefficient), or a negative weight; masked positions are never read;
/// [`Error::MissingInput`] for a KL term without `ref_logp`, for `ClipCov`
/// without a random source (use [`policy_loss_rng`]) and for `KlCov` without the `alloc` feature;
/// [`Error::Overflow`] when the loss overflows on finite inputs (an unclamped ratio beyond the
/// float range). On error `grad` holds unspecified values.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::*};
/// let mask = Mask::new(&[true, true], 2)?;
/// let (logp, old) = ([-1.0f64, -2.0], [-1.0, -2.0]); // on-policy: ratio 1
/// let inp = PolicyInputs::new(&logp, &old, &[0.5], mask)?;
/// let agg = Aggregation::TokenMean;
/// let mut grad = [0.0; 2];
/// let parts = policy_loss(&mut grad, &inp, &PolicyLoss::new(PolicyLossKind::Vanilla), &agg)?;
/// assert_eq!(agg.value::<f64>(&parts, &parts)?, -0.5); // −A·r inside the clip range
/// agg.scale_grad(&mut grad, mask, &parts)?;
/// assert_eq!(grad, [-0.25, -0.25]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`PolicyLossKind`].
pub fn policy_loss<F: Real>(
    grad: &mut [F],
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
) -> Result<LossParts> {
    run(grad, inp, loss, agg, None::<&mut NoRng>)
}

/// [`policy_loss`] with a random source, required by `ClipCov` (which tokens get detached).
///
/// # Definition
/// As [`policy_loss`]. Clip-Cov: with masked batch means `Ā`, `log π̄`, the tokens not clipped by
/// PPO whose `cov = (A − Ā)(log π − log π̄)` lies strictly inside `(lb, ub)` are candidates;
/// `min(max(⌊ratio·N⌋, 1), #candidates)` of them, drawn uniformly without replacement from `rng`,
/// get weight 0.
///
/// # Shapes
/// As [`policy_loss`].
///
/// # Errors
/// As [`policy_loss`].
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::*, rng::SplitMix64};
/// let mask = Mask::new(&[true; 4], 4)?;
/// let inp = PolicyInputs::new(&[-1.0f64, -2.0, -0.5, -3.0], &[-1.0; 4], &[1.0, -1.0, 2.0, 0.0], mask)?;
/// let mut grad = [0.0; 4];
/// let p = PolicyLoss::new(PolicyLossKind::ClipCov);
/// let parts = policy_loss_rng(&mut grad, &inp, &p, &Aggregation::TokenMean, &mut SplitMix64::new(1))?;
/// assert_eq!(parts.tokens, 4);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Cui et al. (2025), *The Entropy Mechanism of RL for Reasoning LMs*, arXiv:2505.22617.
pub fn policy_loss_rng<F: Real, R: RandomSource + ?Sized>(
    grad: &mut [F],
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
    rng: &mut R,
) -> Result<LossParts> {
    run(grad, inp, loss, agg, Some(rng))
}

/// A random source that is never called (the type of "no RNG").
struct NoRng;
impl RandomSource for NoRng {
    fn next_u64(&mut self) -> u64 {
        0
    }
}

fn run<F: Real, R: RandomSource + ?Sized>(
    grad: &mut [F],
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
    rng: Option<&mut R>,
) -> Result<LossParts> {
    let shape = inp.mask.shape();
    shape.check("grad", grad.len())?;
    if loss.kl.is_some() && inp.ref_logp.is_none() {
        return Err(Error::MissingInput { what: "ref_logp" });
    }
    let (parts, inputs_ok) = match loss.kind {
        PolicyLossKind::GeoMean => geo_mean_rows(grad, inp, loss, agg),
        PolicyLossKind::ClipCov => {
            let rng = rng.ok_or(Error::MissingInput { what: "rng" })?;
            clip_cov(grad, inp, loss, agg, rng)
        }
        PolicyLossKind::KlCov => kl_cov(grad, inp, loss, agg),
        _ => token_rows(grad, inp, loss, agg, None),
    }?;
    let outputs_ok = parts.sum.is_finite() && parts.seq_mean_sum.is_finite() && all_finite(grad);
    if inputs_ok && outputs_ok {
        return Ok(parts);
    }
    // A NaN/∞ input can hide behind a finite output (a clamped log-ratio): name it.
    match inp.first_non_finite(loss) {
        Some(e) => Err(e),
        None if outputs_ok => Ok(parts),
        None => Err(Error::Overflow {
            what: "policy loss",
        }),
    }
}

#[inline]
fn all_finite<F: Real>(x: &[F]) -> bool {
    x.iter().fold(true, |ok, v| ok & v.is_finite())
}

#[inline(always)]
fn at<F: Real>(x: Option<&[F]>, idx: usize, default: F) -> F {
    match x {
        Some(x) => x.get(idx).copied().unwrap_or(F::ZERO),
        None => default,
    }
}

impl<F: Real> PolicyInputs<'_, F> {
    /// The [`TokenInputs`] of valid position `idx` (row `i`), with the batch-level selection.
    #[inline(always)]
    fn token_at(&self, i: usize, idx: usize, selected: bool) -> TokenInputs<F> {
        let a = if self.adv_per_token() { idx } else { i };
        TokenInputs {
            logp: self.logp.get(idx).copied().unwrap_or(F::ZERO),
            old_logp: self.old_logp.get(idx).copied().unwrap_or(F::ZERO),
            adv: self.advantages.get(a).copied().unwrap_or(F::ZERO),
            weight: at(self.weights, idx, F::ONE),
            ref_logp: at(self.ref_logp, idx, F::ZERO),
            entropy: at(self.entropy, idx, F::ZERO),
            selected,
        }
    }
}

/// Every kind but GMPO: pass 1 per row (the row context, if the kind needs one), pass 2
/// [`PolicyLoss::token_unchecked`] per valid token, and for GSPO pass 3 (`+ Σ dseq / max(L, 1)`).
fn token_rows<F: Real>(
    grad: &mut [F],
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
    selected: Option<&dyn Fn(usize) -> bool>,
) -> Result<(LossParts, bool)> {
    let t = inp.mask.shape().seq_len();
    let per_token = inp.adv_per_token();
    let mut ok = true;
    // Without weights, entropies and a selection, every token input comes from a zip of row
    // slices (no per-token lookups: the loop vectorizes where the kind allows).
    let plain = inp.weights.is_none() && inp.entropy.is_none() && selected.is_none();
    let mut parts = LossParts::ZERO;
    for (i, ((((g_row, lp_row), old_row), m_row), base)) in grad
        .chunks_exact_mut(t)
        .zip(inp.logp.chunks_exact(t))
        .zip(inp.old_logp.chunks_exact(t))
        .zip(inp.mask.rows())
        .zip((0..).step_by(t))
        .enumerate()
    {
        let ctx = loss.row_context_unchecked(lp_row, old_row, m_row);
        let row = base..base + t;
        let adv_row = per_token.then(|| inp.advantages.get(row.clone()).unwrap_or(&[]));
        let adv_one = inp.advantages.get(i).copied().unwrap_or(F::ZERO);
        let ref_row = inp.ref_logp.and_then(|r| r.get(row));
        let cols = Cols {
            g: g_row,
            lp: lp_row,
            old: old_row,
            m: m_row,
        };
        let (row_sum, len, dseq) = match (plain, adv_row, ref_row) {
            (true, Some(a), Some(r)) => {
                cols.run(loss, &ctx, &mut ok, a.iter().copied(), r.iter().copied())
            }
            (true, Some(a), None) => {
                cols.run(loss, &ctx, &mut ok, a.iter().copied(), repeat(F::ZERO))
            }
            (true, None, Some(r)) => {
                cols.run(loss, &ctx, &mut ok, repeat(adv_one), r.iter().copied())
            }
            (true, None, None) => cols.run(loss, &ctx, &mut ok, repeat(adv_one), repeat(F::ZERO)),
            (false, ..) => {
                let mut row_sum = 0.0f64;
                let mut len = 0usize;
                let mut dseq = F::ZERO;
                for (j, (g, &m)) in cols.g.iter_mut().zip(m_row).enumerate() {
                    if !m {
                        *g = F::ZERO;
                        continue;
                    }
                    let idx = base + j;
                    let sel = selected.is_some_and(|s| s(idx));
                    let x = inp.token_at(i, idx, sel);
                    ok &= inputs_finite(&x);
                    let tt = loss.token_unchecked(&x, &ctx);
                    *g = tt.dlogp;
                    row_sum += tt.value.as_f64();
                    dseq = dseq + tt.dseq;
                    len += 1;
                }
                (row_sum, len, dseq)
            }
        };
        if loss.kind == PolicyLossKind::Gspo {
            // Pass 3: the sequence ratio's share, ∂ls/∂ log πₜ = 1/max(L, 1).
            let shared = dseq / F::from_usize(len.max(1));
            for (g, &m) in g_row.iter_mut().zip(m_row) {
                if m {
                    *g = *g + shared;
                }
            }
        }
        parts.push_row(row_sum, len, agg);
    }
    Ok((parts, ok))
}

/// Whether every input of a token is finite and the weight `>= 0` (an over-approximation of
/// what is read: `first_non_finite` names the culprit, if any).
#[inline(always)]
fn inputs_finite<F: Real>(x: &TokenInputs<F>) -> bool {
    x.logp.is_finite()
        & x.old_logp.is_finite()
        & x.adv.is_finite()
        & x.weight.is_finite()
        & (x.weight >= F::ZERO)
        & x.ref_logp.is_finite()
        & x.entropy.is_finite()
}

use core::iter::repeat;

/// The columns of one row for the plain token loop.
struct Cols<'r, F> {
    g: &'r mut [F],
    lp: &'r [F],
    old: &'r [F],
    m: &'r [bool],
}

impl<F: Real> Cols<'_, F> {
    /// `(row sum, L, Σ dseq)` with weight 1, no entropy and no selection; writes `dlogp` (0 if
    /// masked).
    #[inline(always)]
    fn run(
        self,
        loss: &PolicyLoss<F>,
        ctx: &RowContext<F>,
        ok: &mut bool,
        adv: impl Iterator<Item = F>,
        ref_logp: impl Iterator<Item = F>,
    ) -> (f64, usize, F) {
        let mut fin = true;
        let mut row_sum = 0.0f64;
        let mut len = 0usize;
        let mut dseq = F::ZERO;
        for (((((g, &lp), &old), &m), a), r) in self
            .g
            .iter_mut()
            .zip(self.lp)
            .zip(self.old)
            .zip(self.m)
            .zip(adv)
            .zip(ref_logp)
        {
            if m {
                let x = TokenInputs {
                    ref_logp: r,
                    ..TokenInputs::new(lp, old, a)
                };
                fin &= lp.is_finite() & old.is_finite() & a.is_finite() & r.is_finite();
                let tt = loss.token_unchecked(&x, ctx);
                *g = tt.dlogp;
                row_sum += tt.value.as_f64();
                dseq = dseq + tt.dseq;
                len += 1;
            } else {
                *g = F::ZERO;
            }
        }
        *ok &= fin;
        (row_sum, len, dseq)
    }
}

/// `ln(1e-8)`, TRL's lower clamp of VESPO's `log w`.
const LN_1E_8: f64 = -18.420_680_743_952_367;

/// VESPO's weight `φ = exp(λ + k·log w − λ·w)` for the sign of `a` (0 if it overflows).
#[inline(always)]
fn vespo_phi<F: Real>(loss: &PolicyLoss<F>, lw: F, a: F) -> F {
    let [kp, lp, kn, ln] = loss.vespo;
    let (k, lam) = if a >= F::ZERO { (kp, lp) } else { (kn, ln) };
    let phi = (lam + k * lw - lam * lw.exp()).exp();
    if phi.is_finite() { phi } else { F::ZERO }
}

/// `(Σ m·Δ, L)` with `Δ` optionally clamped, accumulated in `f64`.
#[inline]
fn masked_delta_sum<F: Real>(lp: &[F], old: &[F], m: &[bool], clamp: Option<F>) -> (f64, usize) {
    let mut s = 0.0f64;
    let mut n = 0usize;
    for ((&a, &b), &mm) in lp.iter().zip(old).zip(m) {
        if mm {
            let d = a - b;
            let d = match clamp {
                Some(c) => d.max(-c).min(c),
                None => d,
            };
            s += d.as_f64();
            n += 1;
        }
    }
    (s, n)
}

/// GMPO: per-sequence loss `−Āᵢ·ρᵢ` reported as the row sum; the KL and entropy terms per token.
fn geo_mean_rows<F: Real>(
    grad: &mut [F],
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
) -> Result<(LossParts, bool)> {
    let t = inp.mask.shape().seq_len();
    let per_token = inp.adv_per_token();
    let (lo, hi) = (-loss.clip_low, loss.clip_high);
    let mut ok = true;
    let mut parts = LossParts::ZERO;
    for (i, (((g_row, lp_row), old_row), m_row)) in grad
        .chunks_exact_mut(t)
        .zip(inp.logp.chunks_exact(t))
        .zip(inp.old_logp.chunks_exact(t))
        .zip(inp.mask.rows())
        .enumerate()
    {
        let base = i * t;
        let len = count_true(m_row);
        let adv = |j: usize| {
            if per_token {
                inp.advantages.get(base + j)
            } else {
                inp.advantages.get(i)
            }
            .copied()
            .unwrap_or(F::ZERO)
        };
        let denom = F::from_usize(len) + loss.len_eps;
        let mut row_sum = 0.0f64;
        if len == 0 || denom <= F::ZERO {
            g_row.iter_mut().for_each(|g| *g = F::ZERO);
            parts.push_row(0.0, len, agg);
            continue;
        }
        // Clipped log-ratios, mean advantage, geometric-mean IS weight.
        let (mut lsum, mut asum, mut wlog) = (0.0f64, 0.0f64, 0.0f64);
        for (j, ((&lp, &old), &m)) in lp_row.iter().zip(old_row).zip(m_row).enumerate() {
            if m {
                let a = adv(j);
                let (dp, _) = gmpo_clip(lp - old, a, lo, hi);
                lsum += dp.as_f64();
                asum += a.as_f64();
                if let Some(w) = inp.weights {
                    let wv = w.get(base + j).copied().unwrap_or(F::ZERO).as_f64();
                    wlog += num_traits::Float::ln(wv + 1e-10);
                }
            }
        }
        let d = denom.as_f64();
        let rho = F::lit(num_traits::Float::exp(lsum / d));
        let abar = F::lit(asum / d);
        let seq_w = if inp.weights.is_some() {
            F::lit(num_traits::Float::exp(wlog / d))
        } else {
            F::ONE
        };
        let coef = -abar * rho * seq_w;
        row_sum += coef.as_f64();
        for (j, (((g, &lp), &old), &m)) in g_row
            .iter_mut()
            .zip(lp_row)
            .zip(old_row)
            .zip(m_row)
            .enumerate()
        {
            if !m {
                *g = F::ZERO;
                continue;
            }
            let (_, dd) = gmpo_clip(lp - old, adv(j), lo, hi);
            // The token's own terms (KL, entropy bonus); its policy term is the row's.
            let x = inp.token_at(i, base + j, false);
            ok &= inputs_finite(&x);
            let tt = loss.token_unchecked(&x, &RowContext::default());
            row_sum += tt.value.as_f64();
            *g = coef * dd / denom + tt.dlogp;
        }
        parts.push_row(row_sum, len, agg);
    }
    Ok((parts, ok))
}

/// GMPO's sign-aware clip `sgn(A)·min(sgn(A)·Δ, sgn(A)·clamp(Δ, lo, hi))` and its derivative.
#[inline(always)]
fn gmpo_clip<F: Real>(d: F, a: F, lo: F, hi: F) -> (F, F) {
    let s = if a > F::ZERO {
        F::ONE
    } else if a < F::ZERO {
        -F::ONE
    } else {
        F::ZERO
    };
    let (c, pass) = tclamp(d, lo, hi);
    let (m, dm) = tmin(s * d, s, s * c, s * pass);
    (s * m, s * dm)
}

/// Masked batch means of `A` and `log π` with `eps` added to the count (verl's `+1e-8`).
#[cfg(feature = "alloc")]
fn batch_means<F: Real>(inp: &PolicyInputs<'_, F>, eps: f64) -> (f64, f64, usize) {
    let t = inp.mask.shape().seq_len();
    let (mut sa, mut sl, mut n) = (0.0f64, 0.0f64, 0usize);
    for (idx, (&m, &lp)) in inp.mask.bits().iter().zip(inp.logp).enumerate() {
        if m {
            sa += inp.token_at(idx / t, idx, false).adv.as_f64();
            sl += lp.as_f64();
            n += 1;
        }
    }
    let d = usize_f64(n) + eps;
    if d > 0.0 {
        (sa / d, sl / d, n)
    } else {
        (0.0, 0.0, n)
    }
}

#[cfg(not(feature = "alloc"))]
fn clip_cov<F: Real, R: RandomSource + ?Sized>(
    _grad: &mut [F],
    _inp: &PolicyInputs<'_, F>,
    _loss: &PolicyLoss<F>,
    _agg: &Aggregation,
    _rng: &mut R,
) -> Result<(LossParts, bool)> {
    Err(Error::MissingInput {
        what: "alloc feature (clip_cov scratch memory)",
    })
}

/// Clip-Cov: the batch-level selection (a random subset of the high-covariance tokens that PPO
/// does not clip), then one token call each.
#[cfg(feature = "alloc")]
fn clip_cov<F: Real, R: RandomSource + ?Sized>(
    grad: &mut [F],
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
    rng: &mut R,
) -> Result<(LossParts, bool)> {
    let (abar, lbar, n) = batch_means(inp, 1e-8);
    let t = inp.mask.shape().seq_len();
    let (lo, hi) = (F::ONE - loss.clip_low, F::ONE + loss.clip_high);
    let (lb, ub) = (loss.cov_lb.as_f64(), loss.cov_ub.as_f64());
    let candidates: Vec<usize> = inp
        .mask
        .bits()
        .iter()
        .zip(inp.logp.iter().zip(inp.old_logp))
        .enumerate()
        .filter(|&(idx, (&m, (&lp, &old)))| {
            if !m {
                return false;
            }
            let a = inp.token_at(idx / t, idx, false).adv;
            let r = (lp - old).exp();
            let (rc, _) = tclamp(r, lo, hi);
            if -a * rc > -a * r {
                return false; // already clipped by PPO
            }
            let cov = (a.as_f64() - abar) * (lp.as_f64() - lbar);
            cov > lb && cov < ub
        })
        .map(|(idx, _)| idx)
        .collect();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a non-negative count below usize::MAX, floored as verl's int()"
    )]
    let clip_num = ((loss.cov_ratio.as_f64() * usize_f64(n)) as usize).max(1);
    let k = clip_num.min(candidates.len());
    // Selection sampling (Knuth, Algorithm S): every k-subset of the candidates is equally likely.
    let mut marked = alloc::vec![false; inp.logp.len()];
    let mut chosen = 0usize;
    for (seen, &idx) in candidates.iter().enumerate() {
        if chosen == k {
            break;
        }
        if rng.below(candidates.len() - seen) < k - chosen {
            if let Some(mk) = marked.get_mut(idx) {
                *mk = true;
            }
            chosen += 1;
        }
    }
    let selected = |idx: usize| marked.get(idx).copied().unwrap_or(false);
    token_rows(grad, inp, loss, agg, Some(&selected))
}

#[cfg(not(feature = "alloc"))]
fn kl_cov<F: Real>(
    _grad: &mut [F],
    _inp: &PolicyInputs<'_, F>,
    _loss: &PolicyLoss<F>,
    _agg: &Aggregation,
) -> Result<(LossParts, bool)> {
    Err(Error::MissingInput {
        what: "alloc feature (kl_cov scratch memory)",
    })
}

/// KL-Cov: the batch-level selection (the top-k covariance tokens), then one token call each.
#[cfg(feature = "alloc")]
fn kl_cov<F: Real>(
    grad: &mut [F],
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
) -> Result<(LossParts, bool)> {
    let (abar, lbar, n) = batch_means(inp, 0.0);
    let t = inp.mask.shape().seq_len();
    let mut cov: Vec<(f64, usize)> = inp
        .mask
        .bits()
        .iter()
        .enumerate()
        .filter(|&(_, &m)| m)
        .map(|(idx, _)| {
            let x = inp.token_at(idx / t, idx, false);
            ((x.adv.as_f64() - abar) * (x.logp.as_f64() - lbar), idx)
        })
        .collect();
    let mut top = alloc::vec![false; inp.logp.len()];
    if n > 0 {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a non-negative count below usize::MAX, floored as verl's int()"
        )]
        let k = ((usize_f64(n) * loss.cov_ratio.as_f64()) as usize).clamp(1, n);
        cov.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        for &(_, idx) in cov.get(..k).unwrap_or(&[]) {
            if let Some(t) = top.get_mut(idx) {
                *t = true;
            }
        }
    }
    let selected = |idx: usize| top.get(idx).copied().unwrap_or(false);
    token_rows(grad, inp, loss, agg, Some(&selected))
}

/// The upstream gradient for [`crate::logits::entropy_backward`] of an entropy bonus `−c·agg(H)`:
/// `out[i, t] = −c·wᵢ/normalizer` at valid positions, 0 elsewhere (`wᵢ` from
/// [`Aggregation::row_weights`]).
///
/// # Shapes
/// `out`: `(B, T)` like `mask`.
///
/// # Errors
/// As [`Aggregation::scale_grad`]; [`Error::InvalidParam`] for a non-finite `coef`.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::{Aggregation, LossParts, entropy_upstream}};
/// let mask = Mask::new(&[true, true, true, false], 2)?;
/// let total = LossParts { sum: 0.0, seq_mean_sum: 0.0, tokens: 3, seqs: 2, rows: 2 };
/// let mut up = [0.0f64; 4];
/// entropy_upstream(&mut up, mask, &Aggregation::TokenMean, &total, 0.3)?;
/// assert!((up[0] + 0.1).abs() < 1e-15 && up[3] == 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: verl `compute_entropy_loss` (`core_algos.py`).
pub fn entropy_upstream<F: Real>(
    out: &mut [F],
    mask: Mask<'_>,
    agg: &Aggregation,
    total: &LossParts,
    coef: F,
) -> Result<()> {
    param_finite("entropy_coef", coef)?;
    ensure_len("out", mask.shape().len(), out.len())?;
    for (o, &m) in out.iter_mut().zip(mask.bits()) {
        *o = if m { -coef } else { F::ZERO };
    }
    agg.scale_grad(out, mask, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(kind: PolicyLoss<f64>, lp: f64, old: f64, a: f64) -> (f64, f64) {
        let bits = [true];
        let mask = Mask::new(&bits, 1).unwrap();
        let (l, o, ad) = ([lp], [old], [a]);
        let inp = PolicyInputs::new(&l, &o, &ad, mask).unwrap();
        let mut g = [0.0];
        let p = policy_loss(&mut g, &inp, &kind, &Aggregation::TokenSum).unwrap();
        (p.sum, g[0])
    }

    #[test]
    fn ppo_literals() {
        let van = PolicyLoss::<f64>::new(PolicyLossKind::Vanilla);
        // r = e^{0.1} = 1.10517 inside [0.8, 1.2]: ℓ = −A·r, ∂ℓ/∂logp = −A·r.
        let r = 0.1f64.exp();
        assert_eq!(one(van, -1.0, -1.1, 2.0), (-2.0 * r, -2.0 * r));
        // r = e^{0.5} = 1.6487 > 1.2 with A > 0: clipped, ℓ = −1.2·A, gradient 0.
        assert_eq!(one(van, -0.5, -1.0, 1.0), (-1.2, 0.0));
        // A < 0 with r = 0.5 < 0.8: max(−A·r, −A·0.8) = 0.8·|A| (clipped, gradient 0).
        let (v, g) = one(van, (0.5f64).ln(), 0.0, -1.0);
        assert!((v - 0.8).abs() < 1e-15 && g == 0.0);
        // Dual clip c = 3 with A = −1, r = e^{2} = 7.39: ℓ = min(7.39, 3) = 3, gradient 0.
        let dual = van.with_dual_clip(Some(3.0)).unwrap();
        assert_eq!(one(dual, 2.0, 0.0, -1.0), (3.0, 0.0));
        // TRL delta = 1.5 caps the unclipped branch for A < 0: r = e^{1} → min(r, 1.5) = 1.5.
        let delta = van.with_delta(Some(1.5)).unwrap();
        assert_eq!(one(delta, 1.0, 0.0, -2.0), (3.0, 0.0));
        // GPG: −A·logp.
        let gpg = PolicyLoss::new(PolicyLossKind::Gpg);
        assert_eq!(one(gpg, -2.0, -1.0, 0.5), (1.0, -0.5));
        // DRO: −(A·logp − β/2·Δ²) = −(0.5·(−2) − 0.05·1) = 1.05; gradient −A + βΔ = −0.5 − 0.1.
        let dro = PolicyLoss::new(PolicyLossKind::Dro);
        let (v, g) = one(dro, -2.0, -1.0, 0.5);
        assert!((v - 1.05).abs() < 1e-15 && (g + 0.6).abs() < 1e-15);
        // CISPO: −sg(clip(r))·A·logp with r = e^{1} clipped to 1.2: ℓ = −1.2·1·(−1) = 1.2.
        let cispo = PolicyLoss::new(PolicyLossKind::Cispo);
        assert_eq!(one(cispo, -1.0, -2.0, 1.0), (1.2, -1.2));
        // SAPO at r = 1: gate σ(0)·4/τ = 2 (τ₊ = 1), ℓ = −2A; ∂ = −4A·¼·r = −A.
        let sapo = PolicyLoss::new(PolicyLossKind::Sapo);
        assert_eq!(one(sapo, -1.0, -1.0, 1.0), (-2.0, -1.0));
    }

    #[test]
    fn non_finite_inputs_behind_finite_outputs() {
        // fuzz/losses: +∞ log-probability at a valid token; the ±20 clamp on Δ kept the loss
        // finite and policy_loss returned Ok. Every input that is read is now checked.
        let mask = Mask::new(&[true, false], 2).unwrap();
        let van = PolicyLoss::<f64>::new(PolicyLossKind::Vanilla);
        let mut g = [0.0; 2];
        let inp = PolicyInputs::new(&[f64::INFINITY, 0.0], &[0.0; 2], &[1.0], mask).unwrap();
        assert_eq!(
            policy_loss(&mut g, &inp, &van, &Aggregation::TokenSum),
            Err(Error::NonFinite {
                what: "logp",
                index: 0
            })
        );
        // …but not what is not read: a NaN reference without a KL term, or at a masked position.
        let inp = PolicyInputs::new(&[-1.0, f64::NAN], &[-1.0, f64::NAN], &[1.0], mask)
            .unwrap()
            .with_ref(&[f64::NAN, 0.0])
            .unwrap();
        assert!(policy_loss(&mut g, &inp, &van, &Aggregation::TokenSum).is_ok());
        let with_kl = van.with_kl(Some(KlTerm::new(crate::KlPenalty::default(), 0.1).unwrap()));
        assert_eq!(
            policy_loss(&mut g, &inp, &with_kl, &Aggregation::TokenSum),
            Err(Error::NonFinite {
                what: "ref_logp",
                index: 0
            })
        );
    }

    #[test]
    fn names_round_trip() {
        for k in PolicyLossKind::ALL {
            assert_eq!(k.to_string().parse::<PolicyLossKind>().unwrap(), k);
        }
        for n in KIND_NAMES {
            assert!(n.parse::<PolicyLossKind>().is_ok(), "{n}");
        }
    }
}
