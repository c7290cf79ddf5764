//! Preference losses over sequence log-probabilities of chosen/rejected pairs (DPO and its family),
//! their weighted combinations, the pieces of TRL's DPO block around them (LD-DPO token weights,
//! WPO pair weights, the SFT term), and the Bradley–Terry reward-model loss, each with its gradient.
//!
//! Every loss returns [`LossParts`] with one "token" per pair (`sum` = Σ per-pair losses,
//! `tokens = seqs = rows = P`); the anchors average over pairs, i.e. [`Aggregation::TokenMean`].
//! The gradients written are those of the *sum*; scale them with `1/P` (or
//! [`Aggregation::normalizer`]) of the whole batch.
//!
//! # From logits to the gradient of the logits (TRL's DPO block)
//! Every term is a function of the per-token log-probabilities `ℓ` (the WPO weights are
//! constants), so one [`logprobs_backward`] call takes the summed upstream gradient to the logits:
//! 1. `ℓ` from the (shifted) logits: [`logprobs_forward`], policy and reference;
//! 2. sequence sums: [`sequence_logps`] (token weights: the mask, or [`ld_token_weights`]);
//! 3. pair losses: [`combined_preference_loss`] (or [`preference_loss`]), optionally with
//!    [`wpo_weights`] through [`PairInputs::with_pair_weights`]; the SFT term: [`sft_loss`];
//! 4. upstream `∂L/∂ℓᵢₜ = wᵢₜ·∂L/∂seqᵢ (+ c_sft·∂sft/∂ℓᵢₜ)`, then [`logprobs_backward`].
//!
//! ```
//! use rewardkit_core::logits::{RowStats, logprobs_backward, logprobs_forward};
//! use rewardkit_core::loss::preference::{sequence_logps, sft_loss};
//! use rewardkit_core::loss::{
//!     Aggregation, PairInputs, PreferenceLoss, PreferenceLossKind, combined_preference_loss,
//! };
//! use rewardkit_core::Mask;
//!
//! // One pair (row 0 chosen, row 1 rejected), T = 2 tokens, V = 3; logits already shifted.
//! let (t, v) = (2, 3);
//! let logits = [0.5f64, -1.0, 0.2, 1.0, 0.0, -0.5, -0.3, 0.8, 0.1, 0.0, 0.4, -1.2];
//! let ref_logits = [0.0f64; 12];
//! let ids = [0u32, 2, 1, 1];
//! let bits = [true, true, true, false];
//! let mask = Mask::new(&bits, t)?;
//!
//! let (mut lp, mut rf) = ([0.0; 4], [0.0; 4]);
//! let (mut stats, mut ref_stats) = ([RowStats::default(); 4], [RowStats::default(); 4]);
//! logprobs_forward(&mut lp, &mut stats, &logits, &ids, v)?;
//! logprobs_forward(&mut rf, &mut ref_stats, &ref_logits, &ids, v)?;
//! let (mut seq, mut seq_ref) = ([0.0; 2], [0.0; 2]);
//! sequence_logps(&mut seq, &lp, None, mask)?;
//! sequence_logps(&mut seq_ref, &rf, None, mask)?;
//!
//! // loss_type = ["sigmoid", "sft"], loss_weights = [1.0, 0.5].
//! let inp = PairInputs::new(&seq[..1], &seq[1..], &seq_ref[..1], &seq_ref[1..])?;
//! let dpo = PreferenceLoss::new(PreferenceLossKind::Sigmoid);
//! let (mut gc, mut gr) = ([0.0], [0.0]);
//! let pairs = combined_preference_loss(&mut gc, &mut gr, &inp, &[(dpo, 1.0)])?; // P = 1
//! let agg = Aggregation::TokenMean;
//! let mut g_sft = [0.0; 2];
//! let chosen = Mask::new(&bits[..t], t)?;
//! let sft = sft_loss(&mut g_sft, &lp[..t], chosen, &agg)?;
//! agg.scale_grad(&mut g_sft, chosen, &sft)?;
//! let loss = pairs.sum + 0.5 * agg.value::<f64>(&sft, &sft)?;
//!
//! // Upstream: the sequence gradient on every valid token of its row, plus the SFT term.
//! let up = [gc[0] + 0.5 * g_sft[0], gc[0] + 0.5 * g_sft[1], gr[0], 0.0];
//! let mut grad = [0.0; 12];
//! logprobs_backward(&mut grad, &up, &logits, &stats, &ids, v)?;
//! assert!(loss.is_finite() && grad[9..].iter().all(|&g| g == 0.0)); // masked token: no gradient
//! # Ok::<(), rewardkit_core::Error>(())
//! ```
//!
//! [`Aggregation::TokenMean`]: crate::loss::Aggregation::TokenMean
//! [`Aggregation::normalizer`]: crate::loss::Aggregation::normalizer
//! [`logprobs_forward`]: crate::logits::logprobs_forward
//! [`logprobs_backward`]: crate::logits::logprobs_backward

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use crate::error::{
    Error, Result, UnknownName, ensure_len, ensure_nonempty, param_finite, param_in, param_nonneg,
    param_positive,
};
use crate::layout::{Mask, count_true};
use crate::logits::{check_logit_row, token_logprob_and_concentration};
use crate::loss::aggregate::{Aggregation, LossParts};
use crate::real::{Real, usize_f64};
use crate::stats::{log_sigmoid, sigmoid};

/// Which preference loss. With `h_c = log π(y_c) − log π_ref(y_c)`, `h_r` likewise, scores `s`
/// (`s = h` unless a [`DivergenceKind`] says otherwise), `u = s_c − s_r`, `σ` the logistic function,
/// `ε` the label smoothing and `Lᵧ` the lengths:
///
/// | variant | per-pair loss | names |
/// |---|---|---|
/// | `Sigmoid` | `−(1−ε)·log σ(βu) − ε·log σ(−βu)` (cDPO) | `sigmoid` |
/// | `Hinge` | `max(0, 1 − βu)` (`SLiC`) | `hinge` |
/// | `Ipo` | `(h̄_c − h̄_r − 1/(2β))²`, `h̄ = h/max(L,1)` when lengths are given (TRL), else `h` (OpenRLHF) | `ipo` |
/// | `Robust` | `(−(1−ε)·log σ(βu) + ε·log σ(−βu)) / (1 − 2ε)` | `robust` |
/// | `ExoPair` | `q_w·(log q_w − log(1−ε)) + q_l·(log q_l − log ε)`, `q_w = σ(βu)`, `q_l = σ(−βu)` | `exo_pair` |
/// | `NcaPair` | `−log σ(βh_c) − ½·log σ(−βh_c) − ½·log σ(−βh_r)` | `nca_pair` |
/// | `BcoPair` | `−log σ(βh_c) − log σ(−βh_r)` | `bco_pair` |
/// | `SppoHard` | `(h_c − 1/(2β))² + (h_r + 1/(2β))²` | `sppo_hard` |
/// | `Aot` | sigmoid loss of `δₖ = sort(log π_c − log π_r)ₖ − sort(log π_ref,c − log π_ref,r)ₖ` | `aot` |
/// | `AotUnpaired` | the same with `δₖ = sort(h_c)ₖ − sort(h_r)ₖ` | `aot_unpaired` |
/// | `ApoZero` | `1 − σ(βh_c) + σ(βh_r)` | `apo_zero` |
/// | `ApoDown` | `σ(βh_c) + 1 − σ(βu)` | `apo_down` |
/// | `Discopop` | `z = βu`, `m = σ(z/τ)`: `(1−m)·(−log σ(z)) + m·e^{−z}` | `discopop` |
/// | `SigmoidNorm` | `−log σ(β(h_c/L_c − h_r/L_r))` | `sigmoid_norm` |
/// | `Simpo` | `−(1−ε)·log σ(β(ℓ_c/L_c − ℓ_r/L_r) − γ) − ε·log σ(−·)` (reference-free) | `simpo` |
/// | `Cpo` | `−(1−ε)·log σ(β(ℓ_c − ℓ_r)) − ε·log σ(−·)` (reference-free) | `cpo` |
/// | `Inpo` | `(g − η/2)²`, `g = (ℓ_c − ℓ_r) − ητ·(ℓ_ref,c − ℓ_ref,r) − (1−ητ)·(ℓ_t,c − ℓ_t,r)` | `inpo` |
/// | `Dno` | `−p·log σ(βu) − (1−p)·log σ(−βu)` with soft labels `p` (reference = previous iterate) | `dno` |
///
/// LD-DPO is not a separate loss: it changes the sequence log-probabilities (see
/// [`ld_token_weights`]) and then applies any loss above.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::PreferenceLossKind;
/// assert_eq!("ipo".parse::<PreferenceLossKind>()?, PreferenceLossKind::Ipo);
/// assert_eq!(PreferenceLossKind::Hinge.to_string(), "hinge");
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
///
/// Citations: DPO, Rafailov et al. (2023), arXiv:2305.18290; cDPO, Mitchell (2023); IPO, Azar et
/// al. (2023), arXiv:2310.12036; `SLiC`, Zhao et al. (2023), arXiv:2305.10425; robust DPO, Chowdhury
/// et al. (2024), arXiv:2403.00409; EXO, Ji et al. (2024), arXiv:2402.00856; NCA, Chen et al. (2024),
/// arXiv:2402.05369; BCO, Jung et al. (2024), arXiv:2404.04656; SPPO, Wu et al. (2024),
/// arXiv:2405.00675; AOT, Melnyk et al. (2024), arXiv:2406.05882; APO, D'Oosterlinck et al. (2024),
/// arXiv:2408.06266; `DiscoPOP`, Lu et al. (2024), arXiv:2406.08414; SimPO, Meng et al. (2024),
/// arXiv:2405.14734; CPO, Xu et al. (2024), arXiv:2401.08417; INPO, Zhang et al. (2024),
/// arXiv:2407.00617; DNO, Rosset et al. (2024), arXiv:2404.03715; TRL `dpo_trainer.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PreferenceLossKind {
    /// DPO (cDPO with label smoothing).
    Sigmoid,
    /// `SLiC` hinge.
    Hinge,
    /// IPO.
    Ipo,
    /// Robust DPO.
    Robust,
    /// EXO (pairwise).
    ExoPair,
    /// NCA (pairwise).
    NcaPair,
    /// BCO (pairwise, no running mean).
    BcoPair,
    /// SPPO (hard labels).
    SppoHard,
    /// AOT (paired).
    Aot,
    /// AOT (unpaired).
    AotUnpaired,
    /// APO-zero.
    ApoZero,
    /// APO-down.
    ApoDown,
    /// `DiscoPOP`.
    Discopop,
    /// Length-normalized sigmoid.
    SigmoidNorm,
    /// SimPO (reference-free, length-normalized, margin `γ`).
    Simpo,
    /// CPO preference term (reference-free).
    Cpo,
    /// INPO.
    Inpo,
    /// DNO soft-label logistic loss.
    Dno,
}

const PREF_NAMES: &[&str] = &[
    "sigmoid",
    "hinge",
    "ipo",
    "robust",
    "exo_pair",
    "nca_pair",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
    "simpo",
    "cpo",
    "inpo",
    "dno",
];

impl PreferenceLossKind {
    /// Every variant, in the order of their names.
    pub const ALL: [Self; 18] = [
        Self::Sigmoid,
        Self::Hinge,
        Self::Ipo,
        Self::Robust,
        Self::ExoPair,
        Self::NcaPair,
        Self::BcoPair,
        Self::SppoHard,
        Self::Aot,
        Self::AotUnpaired,
        Self::ApoZero,
        Self::ApoDown,
        Self::Discopop,
        Self::SigmoidNorm,
        Self::Simpo,
        Self::Cpo,
        Self::Inpo,
        Self::Dno,
    ];
}

impl fmt::Display for PreferenceLossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = Self::ALL.iter().position(|k| k == self).unwrap_or(0);
        f.write_str(PREF_NAMES.get(i).copied().unwrap_or("sigmoid"))
    }
}

impl FromStr for PreferenceLossKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        PREF_NAMES
            .iter()
            .position(|n| *n == s)
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or(UnknownName {
                kind: "preference loss",
                valid: PREF_NAMES,
            })
    }
}

/// TRL's `f_divergence_type`: how a log-ratio `h` becomes a score `s`.
///
/// | variant | `s(h)` |
/// |---|---|
/// | `ReverseKl` | `h` |
/// | `ForwardKl` | `−e^{−h}` |
/// | `JsDivergence` | `log σ(h)` |
/// | `Alpha(α)` | `e^{(α−1)h}/(α−1)` (exponent clamped to `≤ 80`); `h` for `α = 1` |
///
/// # Examples
/// ```
/// use rewardkit_core::loss::DivergenceKind;
/// assert_eq!(DivergenceKind::ReverseKl.score(0.3f64), (0.3, 1.0));
/// ```
///
/// Citation: Wang et al. (2023), *Beyond Reverse KL*, arXiv:2309.16240; TRL `dpo_trainer.py`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DivergenceKind {
    /// `s = h` (standard DPO).
    #[default]
    ReverseKl,
    /// `s = −e^{−h}`.
    ForwardKl,
    /// `s = log σ(h)`.
    JsDivergence,
    /// `s = e^{(α−1)h}/(α−1)`.
    Alpha(f64),
}

impl DivergenceKind {
    /// Score and derivative `ds/dh`.
    #[inline]
    pub fn score<F: Real>(self, h: F) -> (F, F) {
        match self {
            Self::ReverseKl => (h, F::ONE),
            Self::ForwardKl => {
                let e = (-h).exp();
                (-e, e)
            }
            Self::JsDivergence => (log_sigmoid(h), sigmoid(-h)),
            Self::Alpha(a) => {
                let am1 = F::lit(a - 1.0);
                if am1 == F::ZERO {
                    return (h, F::ONE);
                }
                let x = am1 * h;
                let (x, pass) = if x > F::lit(80.0) {
                    (F::lit(80.0), F::ZERO)
                } else {
                    (x, F::ONE)
                };
                let e = x.exp();
                (e / am1, e * pass)
            }
        }
    }
}

/// A configured preference loss.
///
/// # Definition
/// See [`PreferenceLossKind`]. Defaults ([`PreferenceLoss::new`]): `β = 0.1`, `ε = 0` (EXO uses
/// `1e-3` when `ε = 0`, as TRL), reverse KL, `DiscoPOP` `τ = 0.05`, SimPO `γ = 0`, INPO `η = 1`,
/// `τ = 0`.
///
/// # Errors
/// Setters return [`Error::InvalidParam`]: `β > 0`; `ε ∈ [0, ½)` (`Robust` needs `ε < ½`; EXO
/// `ε ∈ (0, 1)`), `τ > 0`, `γ`, `η > 0`, INPO `τ ≥ 0` finite; `Alpha(α)` finite.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{PreferenceLoss, PreferenceLossKind};
/// let dpo = PreferenceLoss::<f64>::new(PreferenceLossKind::Sigmoid).with_beta(0.5)?;
/// assert_eq!(dpo.beta(), 0.5);
/// assert!(dpo.with_label_smoothing(0.5).is_err());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`PreferenceLossKind`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PreferenceLoss<F> {
    kind: PreferenceLossKind,
    beta: F,
    label_smoothing: F,
    divergence: DivergenceKind,
    discopop_tau: F,
    gamma: F,
    eta: F,
    inpo_tau: F,
}

impl<F: Real> PreferenceLoss<F> {
    /// The defaults for `kind`.
    pub fn new(kind: PreferenceLossKind) -> Self {
        Self {
            kind,
            beta: F::lit(0.1),
            label_smoothing: F::ZERO,
            divergence: DivergenceKind::ReverseKl,
            discopop_tau: F::lit(0.05),
            gamma: F::ZERO,
            eta: F::ONE,
            inpo_tau: F::ZERO,
        }
    }

    /// The kind.
    pub fn kind(&self) -> PreferenceLossKind {
        self.kind
    }

    /// `β`.
    pub fn beta(&self) -> F {
        self.beta
    }

    /// Sets `β > 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_beta(self, beta: F) -> Result<Self> {
        Ok(Self {
            beta: param_positive("beta", beta)?,
            ..self
        })
    }

    /// Sets the label smoothing `ε ∈ [0, ½)`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_label_smoothing(self, eps: F) -> Result<Self> {
        param_in("label_smoothing", eps, F::ZERO, F::ONE, "in [0, 0.5)")?;
        if eps >= F::lit(0.5) {
            return Err(crate::error::invalid("label_smoothing", eps, "in [0, 0.5)"));
        }
        Ok(Self {
            label_smoothing: eps,
            ..self
        })
    }

    /// Sets the f-divergence.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a non-finite `α`.
    pub fn with_divergence(self, divergence: DivergenceKind) -> Result<Self> {
        if let DivergenceKind::Alpha(a) = divergence {
            param_finite("f_alpha_divergence_coef", a)?;
        }
        Ok(Self { divergence, ..self })
    }

    /// Sets `DiscoPOP`'s `τ > 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_discopop_tau(self, tau: F) -> Result<Self> {
        Ok(Self {
            discopop_tau: param_positive("discopop_tau", tau)?,
            ..self
        })
    }

    /// Sets SimPO's target margin `γ` (finite).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_gamma(self, gamma: F) -> Result<Self> {
        Ok(Self {
            gamma: param_finite("gamma", gamma)?,
            ..self
        })
    }

    /// Sets INPO's `η > 0` and `τ ≥ 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_inpo(self, eta: F, tau: F) -> Result<Self> {
        Ok(Self {
            eta: param_positive("eta", eta)?,
            inpo_tau: param_nonneg("tau", tau)?,
            ..self
        })
    }
}

/// Per-pair inputs of a preference loss.
///
/// # Shapes
/// Every slice is `(P)`: sequence log-probabilities (masked token sums, see
/// [`sequence_logps`]) of the chosen and rejected responses under the policy and the reference,
/// optional lengths `L` (IPO/TRL, `SigmoidNorm`, `Simpo`), optional previous-iterate
/// log-probabilities (`Inpo`), soft labels `p ∈ [0, 1]` (`Dno`) and per-pair weights `ω ≥ 0`
/// (WPO, [`wpo_weights`]).
///
/// # Errors
/// [`PairInputs::new`] and the setters: [`Error::Empty`], [`Error::LengthMismatch`].
///
/// # Examples
/// ```
/// use rewardkit_core::loss::PairInputs;
/// let p = PairInputs::new(&[-5.0f64], &[-7.0], &[-6.0], &[-6.0])?.with_lengths(&[3.0], &[4.0])?;
/// assert_eq!(p.len(), 1);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PairInputs<'a, F> {
    chosen: &'a [F],
    rejected: &'a [F],
    ref_chosen: &'a [F],
    ref_rejected: &'a [F],
    lengths: Option<(&'a [F], &'a [F])>,
    prev: Option<(&'a [F], &'a [F])>,
    soft_labels: Option<&'a [F]>,
    pair_weights: Option<&'a [F]>,
}

impl<'a, F: Real> PairInputs<'a, F> {
    /// Policy and reference sequence log-probabilities.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(
        chosen: &'a [F],
        rejected: &'a [F],
        ref_chosen: &'a [F],
        ref_rejected: &'a [F],
    ) -> Result<Self> {
        ensure_nonempty("chosen", chosen.len())?;
        ensure_len("rejected", chosen.len(), rejected.len())?;
        ensure_len("ref_chosen", chosen.len(), ref_chosen.len())?;
        ensure_len("ref_rejected", chosen.len(), ref_rejected.len())?;
        Ok(Self {
            chosen,
            rejected,
            ref_chosen,
            ref_rejected,
            lengths: None,
            prev: None,
            soft_labels: None,
            pair_weights: None,
        })
    }

    /// Number of pairs `P`.
    #[expect(clippy::len_without_is_empty, reason = "never empty by construction")]
    pub fn len(&self) -> usize {
        self.chosen.len()
    }

    /// Response lengths (valid tokens).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_lengths(self, chosen: &'a [F], rejected: &'a [F]) -> Result<Self> {
        ensure_len("chosen lengths", self.len(), chosen.len())?;
        ensure_len("rejected lengths", self.len(), rejected.len())?;
        Ok(Self {
            lengths: Some((chosen, rejected)),
            ..self
        })
    }

    /// Previous-iterate log-probabilities `π_t` (INPO).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_previous(self, chosen: &'a [F], rejected: &'a [F]) -> Result<Self> {
        ensure_len("previous chosen", self.len(), chosen.len())?;
        ensure_len("previous rejected", self.len(), rejected.len())?;
        Ok(Self {
            prev: Some((chosen, rejected)),
            ..self
        })
    }

    /// Soft preference labels `p = P(chosen ≻ rejected)` (DNO).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_soft_labels(self, p: &'a [F]) -> Result<Self> {
        ensure_len("soft labels", self.len(), p.len())?;
        Ok(Self {
            soft_labels: Some(p),
            ..self
        })
    }

    /// Per-pair weights `ω ≥ 0`, constants that multiply each pair's loss and gradient (TRL's
    /// `use_weighting`: `per_sequence_loss *= ω`, see [`wpo_weights`]). For `Aot`/`AotUnpaired`
    /// the weight of index `k` multiplies the loss of sorted position `k`, as TRL does.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; NaN/∞ or negative weights are reported by the loss
    /// ([`Error::NonFinite`], [`Error::InvalidParam`]).
    pub fn with_pair_weights(self, weights: &'a [F]) -> Result<Self> {
        ensure_len("pair weights", self.len(), weights.len())?;
        Ok(Self {
            pair_weights: Some(weights),
            ..self
        })
    }

    /// The weight of pair `k` (1 without weights).
    #[inline(always)]
    fn weight(&self, k: usize) -> F {
        self.pair_weights.map_or(F::ONE, |w| at(w, k))
    }

    fn check(&self, loss: &PreferenceLoss<F>) -> Result<()> {
        let named: [(&'static str, Option<&[F]>); 10] = [
            ("chosen", Some(self.chosen)),
            ("rejected", Some(self.rejected)),
            ("ref_chosen", Some(self.ref_chosen)),
            ("ref_rejected", Some(self.ref_rejected)),
            ("chosen lengths", self.lengths.map(|l| l.0)),
            ("rejected lengths", self.lengths.map(|l| l.1)),
            ("previous chosen", self.prev.map(|l| l.0)),
            ("previous rejected", self.prev.map(|l| l.1)),
            ("soft labels", self.soft_labels),
            ("pair weights", self.pair_weights),
        ];
        for (what, xs) in named {
            if let Some(xs) = xs {
                crate::error::ensure_finite(what, xs)?;
            }
        }
        if let Some((a, b)) = self.lengths {
            for (what, xs) in [("chosen lengths", a), ("rejected lengths", b)] {
                if let Some(index) = xs.iter().position(|&l| l < F::ZERO) {
                    return Err(Error::NonFinite { what, index });
                }
            }
        }
        if let Some(w) = self.pair_weights {
            if let Some(index) = w.iter().position(|&x| x < F::ZERO) {
                return Err(Error::InvalidParam {
                    name: "pair weights",
                    value: w.get(index).map_or(f64::NAN, |x| x.as_f64()),
                    expected: ">= 0",
                });
            }
        }
        if let Some(p) = self.soft_labels {
            if let Some(index) = p.iter().position(|&x| x < F::ZERO || x > F::ONE) {
                return Err(Error::InvalidParam {
                    name: "soft labels",
                    value: p.get(index).map_or(f64::NAN, |x| x.as_f64()),
                    expected: "in [0, 1]",
                });
            }
        }
        let needs_len = matches!(
            loss.kind,
            PreferenceLossKind::SigmoidNorm | PreferenceLossKind::Simpo
        );
        if needs_len && self.lengths.is_none() {
            return Err(Error::MissingInput {
                what: "lengths (length-normalized loss)",
            });
        }
        if loss.kind == PreferenceLossKind::Inpo && self.prev.is_none() {
            return Err(Error::MissingInput {
                what: "previous-iterate log-probabilities (INPO)",
            });
        }
        if loss.kind == PreferenceLossKind::Dno && self.soft_labels.is_none() {
            return Err(Error::MissingInput {
                what: "soft labels (DNO)",
            });
        }
        Ok(())
    }
}

/// `−(1−ε)·log σ(x) − ε·log σ(−x)` and its derivative in `x`, from one `exp` and one `ln_1p` in
/// `f64` (`log σ(±x) = −max(∓x, 0) − ln(1 + e^{−|x|})`).
#[inline(always)]
fn smoothed_logistic<F: Real>(x: F, eps: F) -> (F, F) {
    let (x, eps) = (x.as_f64(), eps.as_f64());
    let e = num_traits::Float::exp(-num_traits::Float::abs(x));
    let l = num_traits::Float::ln_1p(e);
    let (sig_pos, sig_neg) = if x >= 0.0 {
        (1.0 / (1.0 + e), e / (1.0 + e))
    } else {
        (e / (1.0 + e), 1.0 / (1.0 + e))
    };
    let ls_pos = -((-x).max(0.0) + l); // log σ(x)
    let ls_neg = -(x.max(0.0) + l); // log σ(−x)
    let v = -(1.0 - eps) * ls_pos - eps * ls_neg;
    // d/dx: −(1−ε)·σ(−x) + ε·σ(x)
    (F::lit(v), F::lit(-(1.0 - eps) * sig_neg + eps * sig_pos))
}

/// Computes a preference loss over `P` pairs: writes `∂(Σ losses)/∂ log π(y_c)` and
/// `∂(Σ losses)/∂ log π(y_r)` and returns the parts (mean over pairs = `agg.value` with
/// [`crate::loss::Aggregation::TokenMean`]).
///
/// # Definition
/// See [`PreferenceLossKind`]. Reference log-probabilities are constants.
///
/// # Shapes
/// `grad_chosen`, `grad_rejected`: `(P)`; inputs as [`PairInputs`].
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ inputs or negative lengths;
/// [`Error::InvalidParam`] for soft labels outside `[0, 1]` or negative pair weights;
/// [`Error::MissingInput`] for a loss whose extra input is absent, and for `Aot`/`AotUnpaired`
/// without the `alloc` feature;
/// [`Error::Overflow`] for a non-finite loss on finite inputs (for example `SppoHard` with
/// enormous log-ratios).
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{PairInputs, PreferenceLoss, PreferenceLossKind, preference_loss};
/// let inp = PairInputs::new(&[-5.0f64], &[-7.0], &[-6.0], &[-6.0])?; // u = 1 − (−1) = 2
/// let (mut gc, mut gr) = ([0.0], [0.0]);
/// let dpo = PreferenceLoss::new(PreferenceLossKind::Sigmoid).with_beta(0.5)?;
/// let p = preference_loss(&mut gc, &mut gr, &inp, &dpo)?;
/// let expect = (1.0 + (-1.0f64).exp()).ln(); // −log σ(βu) = log(1 + e^{−1})
/// assert!((p.sum - expect).abs() < 1e-15);
/// assert!((gc[0] + gr[0]).abs() < 1e-15); // antisymmetric in the two responses
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`PreferenceLossKind`].
pub fn preference_loss<F: Real>(
    grad_chosen: &mut [F],
    grad_rejected: &mut [F],
    inp: &PairInputs<'_, F>,
    loss: &PreferenceLoss<F>,
) -> Result<LossParts> {
    let n = inp.len();
    ensure_len("grad_chosen", n, grad_chosen.len())?;
    ensure_len("grad_rejected", n, grad_rejected.len())?;
    inp.check(loss)?;
    grad_chosen
        .iter_mut()
        .chain(grad_rejected.iter_mut())
        .for_each(|g| *g = F::ZERO);
    let sum = accumulate(grad_chosen, grad_rejected, inp, loss, F::ONE)?;
    finish(grad_chosen, grad_rejected, n, sum)
}

/// The parts of `P` pairs with loss sum `sum`, or [`Error::Overflow`] for a non-finite sum or
/// gradient.
fn finish<F: Real>(
    grad_chosen: &[F],
    grad_rejected: &[F],
    n: usize,
    sum: f64,
) -> Result<LossParts> {
    if !sum.is_finite()
        || grad_chosen
            .iter()
            .chain(grad_rejected.iter())
            .any(|g| !g.is_finite())
    {
        return Err(Error::Overflow {
            what: "preference loss",
        });
    }
    Ok(LossParts {
        sum,
        seq_mean_sum: sum,
        tokens: n,
        seqs: n,
        rows: n,
    })
}

/// Adds `scale·ω_k·∂loss_k` to the gradients and returns `Σ_k ω_k·loss_k` (unscaled). Inputs
/// already checked.
fn accumulate<F: Real>(
    grad_chosen: &mut [F],
    grad_rejected: &mut [F],
    inp: &PairInputs<'_, F>,
    loss: &PreferenceLoss<F>,
    scale: F,
) -> Result<f64> {
    if matches!(
        loss.kind,
        PreferenceLossKind::Aot | PreferenceLossKind::AotUnpaired
    ) {
        return aot(grad_chosen, grad_rejected, inp, loss, scale);
    }
    let mut s = 0.0f64;
    for (k, (gc, gr)) in grad_chosen
        .iter_mut()
        .zip(grad_rejected.iter_mut())
        .enumerate()
    {
        let (v, dc, dr) = pair(inp, loss, k);
        let w = inp.weight(k);
        let ws = w * scale;
        *gc = *gc + ws * dc;
        *gr = *gr + ws * dr;
        s += w.as_f64() * v.as_f64();
    }
    Ok(s)
}

/// A weighted combination of preference losses over the same pairs, TRL's `loss_type=[..]` with
/// `loss_weights` (MPO: `sigmoid` + `bco_pair` + `sft`).
///
/// # Definition
/// `Σₖ Σ_p cₖ·ω_p·ℓₖ(p)` for terms `(lossₖ, cₖ)`, with the pair weights `ω` of the inputs (1
/// without). Divided by `P` (`Aggregation::TokenMean`) this is TRL's `Σₖ cₖ·mean_p(ω_p·ℓₖ(p))`.
/// The gradients written are those of the sum. TRL's `sft` term is a token loss over the chosen
/// responses, not a pair loss: add `c_sft·mean_p(ω_p)·`[`sft_loss`] (TRL multiplies it by the pair
/// weights too, and only their mean survives).
///
/// # Shapes
/// `grad_chosen`, `grad_rejected`: `(P)`; inputs as [`PairInputs`]; `terms`: any number `>= 1`.
///
/// # Errors
/// [`Error::Empty`] for no terms; [`Error::InvalidParam`] for a non-finite coefficient; otherwise
/// as [`preference_loss`] for each term (every term is validated before anything is written).
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{PairInputs, PreferenceLoss, PreferenceLossKind as K};
/// use rewardkit_core::loss::{combined_preference_loss, preference_loss};
/// let inp = PairInputs::new(&[-5.0f64, -3.0], &[-7.0, -2.0], &[-6.0, -3.0], &[-6.0, -2.5])?;
/// let (dpo, hinge) = (PreferenceLoss::new(K::Sigmoid), PreferenceLoss::new(K::Hinge));
/// let (mut gc, mut gr) = ([0.0; 2], [0.0; 2]);
/// let mix = combined_preference_loss(&mut gc, &mut gr, &inp, &[(dpo, 1.0), (hinge, 0.5)])?;
/// let a = preference_loss(&mut gc.clone(), &mut gr.clone(), &inp, &dpo)?;
/// let b = preference_loss(&mut gc.clone(), &mut gr.clone(), &inp, &hinge)?;
/// assert!((mix.sum - (a.sum + 0.5 * b.sum)).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: TRL `dpo_trainer.py` (`loss_type` list, `loss_weights`); MPO, Wang et al. (2024),
/// arXiv:2411.10442.
pub fn combined_preference_loss<F: Real>(
    grad_chosen: &mut [F],
    grad_rejected: &mut [F],
    inp: &PairInputs<'_, F>,
    terms: &[(PreferenceLoss<F>, F)],
) -> Result<LossParts> {
    let n = inp.len();
    ensure_nonempty("terms", terms.len())?;
    ensure_len("grad_chosen", n, grad_chosen.len())?;
    ensure_len("grad_rejected", n, grad_rejected.len())?;
    for (loss, c) in terms {
        param_finite("loss_weights", *c)?;
        inp.check(loss)?;
    }
    grad_chosen
        .iter_mut()
        .chain(grad_rejected.iter_mut())
        .for_each(|g| *g = F::ZERO);
    let mut sum = 0.0f64;
    for (loss, c) in terms {
        sum += c.as_f64() * accumulate(grad_chosen, grad_rejected, inp, loss, *c)?;
    }
    finish(grad_chosen, grad_rejected, n, sum)
}

#[inline(always)]
fn at<F: Real>(xs: &[F], k: usize) -> F {
    xs.get(k).copied().unwrap_or(F::ZERO)
}

/// One pair: value and derivatives with respect to the chosen and rejected policy log-probs.
fn pair<F: Real>(inp: &PairInputs<'_, F>, loss: &PreferenceLoss<F>, k: usize) -> (F, F, F) {
    use PreferenceLossKind as K;
    let (pc, pr) = (at(inp.chosen, k), at(inp.rejected, k));
    let (hc, hr) = (pc - at(inp.ref_chosen, k), pr - at(inp.ref_rejected, k));
    let (sc, dsc) = loss.divergence.score(hc);
    let (sr, dsr) = loss.divergence.score(hr);
    let u = sc - sr;
    let b = loss.beta;
    let eps = loss.label_smoothing;
    let half = F::lit(0.5);
    let (lc, lr) = match inp.lengths {
        Some((a, c)) => (at(a, k).max(F::ONE), at(c, k).max(F::ONE)),
        None => (F::ONE, F::ONE),
    };
    // Losses of u: value and dℓ/du, then chain through the scores.
    let via_u = |v: F, du: F| (v, du * dsc, -du * dsr);
    match loss.kind {
        K::Sigmoid => {
            let (v, d) = smoothed_logistic(b * u, eps);
            via_u(v, d * b)
        }
        K::Hinge => {
            let x = F::ONE - b * u;
            if x > F::ZERO {
                via_u(x, -b)
            } else {
                via_u(F::ZERO, F::ZERO)
            }
        }
        K::Ipo => {
            let x = hc / lc - hr / lr - F::ONE / (F::lit(2.0) * b);
            (x * x, F::lit(2.0) * x / lc, -F::lit(2.0) * x / lr)
        }
        K::Robust => {
            let x = b * u;
            let den = F::ONE - F::lit(2.0) * eps;
            let v = (-(F::ONE - eps) * log_sigmoid(x) + eps * log_sigmoid(-x)) / den;
            let d = (-(F::ONE - eps) * sigmoid(-x) - eps * sigmoid(x)) / den;
            via_u(v, d * b)
        }
        K::ExoPair => {
            let e = if eps > F::ZERO { eps } else { F::lit(1e-3) };
            let x = b * u;
            let (qw, qlw) = (sigmoid(x), log_sigmoid(x));
            let (ql, qll) = (sigmoid(-x), log_sigmoid(-x));
            let (a1, a2) = (qlw - (F::ONE - e).ln(), qll - e.ln());
            let v = qw * a1 + ql * a2;
            // dqw/dx = qw·ql, d log qw/dx = ql; dql/dx = −qw·ql, d log ql/dx = −qw.
            let d = qw * ql * a1 + qw * ql - qw * ql * a2 - ql * qw;
            via_u(v, d * b)
        }
        K::NcaPair => {
            let (xc, xr) = (b * sc, b * sr);
            let v = -log_sigmoid(xc) - half * log_sigmoid(-xc) - half * log_sigmoid(-xr);
            let dc = -sigmoid(-xc) + half * sigmoid(xc);
            let dr = half * sigmoid(xr);
            (v, dc * b * dsc, dr * b * dsr)
        }
        K::BcoPair => {
            let (xc, xr) = (b * sc, b * sr);
            let v = -log_sigmoid(xc) - log_sigmoid(-xr);
            (v, -sigmoid(-xc) * b * dsc, sigmoid(xr) * b * dsr)
        }
        K::SppoHard => {
            let c = F::ONE / (F::lit(2.0) * b);
            let (a, r) = (sc - c, sr + c);
            (a * a + r * r, F::lit(2.0) * a * dsc, F::lit(2.0) * r * dsr)
        }
        K::ApoZero => {
            let (qc, qr) = (sigmoid(b * hc), sigmoid(b * hr));
            (
                F::ONE - qc + qr,
                -qc * (F::ONE - qc) * b,
                qr * (F::ONE - qr) * b,
            )
        }
        K::ApoDown => {
            let qc = sigmoid(b * hc);
            let qu = sigmoid(b * u);
            let v = qc + F::ONE - qu;
            let du = -qu * (F::ONE - qu) * b;
            (v, qc * (F::ONE - qc) * b + du * dsc, -du * dsr)
        }
        K::Discopop => {
            let z = b * u;
            let tau = loss.discopop_tau;
            let m = sigmoid(z / tau);
            let dm = m * (F::ONE - m) / tau;
            let lg = -log_sigmoid(z);
            let ex = (-z).exp();
            let v = (F::ONE - m) * lg + m * ex;
            let d = -dm * lg - (F::ONE - m) * sigmoid(-z) + dm * ex - m * ex;
            via_u(v, d * b)
        }
        K::SigmoidNorm => {
            let x = b * (hc / lc - hr / lr);
            let (v, d) = smoothed_logistic(x, F::ZERO);
            (v, d * b / lc, -d * b / lr)
        }
        K::Simpo => {
            let x = b * (pc / lc - pr / lr) - loss.gamma;
            let (v, d) = smoothed_logistic(x, eps);
            (v, d * b / lc, -d * b / lr)
        }
        K::Cpo => {
            let (v, d) = smoothed_logistic(b * (pc - pr), eps);
            (v, d * b, -d * b)
        }
        K::Inpo => {
            let (tc, tr) = match inp.prev {
                Some((a, c)) => (at(a, k), at(c, k)),
                None => (F::ZERO, F::ZERO),
            };
            let et = loss.eta * loss.inpo_tau;
            let g = (pc - pr)
                - et * (at(inp.ref_chosen, k) - at(inp.ref_rejected, k))
                - (F::ONE - et) * (tc - tr);
            let x = g - loss.eta * half;
            (x * x, F::lit(2.0) * x, -F::lit(2.0) * x)
        }
        K::Dno => {
            let p = inp.soft_labels.map_or(F::ONE, |s| at(s, k));
            let x = b * u;
            let v = -p * log_sigmoid(x) - (F::ONE - p) * log_sigmoid(-x);
            let d = -p * sigmoid(-x) + (F::ONE - p) * sigmoid(x);
            via_u(v, d * b)
        }
        K::Aot | K::AotUnpaired => (F::ZERO, F::ZERO, F::ZERO),
    }
}

#[cfg(not(feature = "alloc"))]
fn aot<F: Real>(
    _gc: &mut [F],
    _gr: &mut [F],
    _inp: &PairInputs<'_, F>,
    _loss: &PreferenceLoss<F>,
    _scale: F,
) -> Result<f64> {
    Err(Error::MissingInput {
        what: "alloc feature (aot scratch memory)",
    })
}

/// AOT: sorted margins; the gradient of position `k` (times `scale·ω_k`) is added to the pairs
/// sorted there; returns `Σₖ ω_k·loss_k`.
#[cfg(feature = "alloc")]
fn aot<F: Real>(
    gc: &mut [F],
    gr: &mut [F],
    inp: &PairInputs<'_, F>,
    loss: &PreferenceLoss<F>,
    scale: F,
) -> Result<f64> {
    let n = inp.len();
    let order = |vals: Vec<F>| -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&a, &b| at(&vals, a).as_f64().total_cmp(&at(&vals, b).as_f64()));
        idx
    };
    let b = loss.beta;
    let mut s = 0.0f64;
    // AOT sorts the policy and reference log-ratio differences (`pol`, `rf`) and pairs them by rank;
    // AOT-unpaired sorts the chosen and rejected log-ratios (`hc`, `hr`). Both differ only in the
    // two sorted vectors and in which pair the second one's gradient goes to.
    let paired = loss.kind == PreferenceLossKind::Aot;
    let (x, y): (Vec<F>, Vec<F>) = if paired {
        (
            (0..n)
                .map(|k| at(inp.chosen, k) - at(inp.rejected, k))
                .collect(),
            (0..n)
                .map(|k| at(inp.ref_chosen, k) - at(inp.ref_rejected, k))
                .collect(),
        )
    } else {
        (
            (0..n)
                .map(|k| at(inp.chosen, k) - at(inp.ref_chosen, k))
                .collect(),
            (0..n)
                .map(|k| at(inp.rejected, k) - at(inp.ref_rejected, k))
                .collect(),
        )
    };
    let (ox, oy) = (order(x.clone()), order(y.clone()));
    for (k, (&i, &j)) in ox.iter().zip(&oy).enumerate() {
        let d = at(&x, i) - at(&y, j);
        let (v, dv) = smoothed_logistic(b * d, loss.label_smoothing);
        let w = inp.weight(k);
        s += w.as_f64() * v.as_f64();
        let dv = dv * b * w * scale;
        if let Some(g) = gc.get_mut(i) {
            *g = *g + dv;
        }
        // AOT: the reference side has no gradient, so pair i's rejected log-prob takes it.
        let r = if paired { i } else { j };
        if let Some(g) = gr.get_mut(r) {
            *g = *g - dv;
        }
    }
    Ok(s)
}

/// Sequence log-probabilities as masked token sums, `out[i] = Σₜ mᵢₜ·wᵢₜ·log πᵢₜ`, with optional
/// per-token weights (LD-DPO, [`ld_token_weights`]). The gradient of `out[i]` with respect to
/// `log πᵢₜ` is `mᵢₜ·wᵢₜ`.
///
/// # Shapes
/// `out`: `(B)`; `token_logps`, `weights`: `(B, T)` like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] at a valid position.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::preference::sequence_logps};
/// let mask = Mask::new(&[true, true, false], 3)?;
/// let mut out = [0.0f64];
/// sequence_logps(&mut out, &[-1.0, -2.0, f64::NAN], None, mask)?;
/// assert_eq!(out, [-3.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: TRL `dpo_trainer.py` (`concatenated_forward`).
pub fn sequence_logps<F: Real>(
    out: &mut [F],
    token_logps: &[F],
    weights: Option<&[F]>,
    mask: Mask<'_>,
) -> Result<()> {
    let shape = mask.shape();
    shape.check_batch("out", out.len())?;
    shape.check("token_logps", token_logps.len())?;
    if let Some(w) = weights {
        shape.check("weights", w.len())?;
    }
    let t = shape.seq_len();
    for (i, ((o, x), m)) in out
        .iter_mut()
        .zip(token_logps.chunks_exact(t))
        .zip(mask.rows())
        .enumerate()
    {
        let mut s = 0.0f64;
        for (j, (&v, &mm)) in x.iter().zip(m).enumerate() {
            if mm {
                let idx = i * t + j;
                if !v.is_finite() {
                    return Err(Error::NonFinite {
                        what: "token_logps",
                        index: idx,
                    });
                }
                let w = weights.map_or(F::ONE, |w| at(w, idx));
                s += (w * v).as_f64();
            }
        }
        *o = F::lit(s);
    }
    Ok(())
}

/// LD-DPO token weights: for each pair, the first `l_p = min(L_c, L_r)` valid tokens of both
/// responses get weight 1, the later ones `α`; masked tokens 0.
///
/// # Definition
/// `log π̂(y) = Σ_{t ≤ l_p} log π(y_t) + α·Σ_{t > l_p} log π(y_t)` (valid tokens counted in order);
/// use the weights for the policy **and** the reference log-probabilities.
///
/// # Shapes
/// `w_chosen`, `mask_chosen`, `w_rejected`, `mask_rejected`: `(P, T)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::InvalidParam`] unless `α ∈ [0, 1]`.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::preference::ld_token_weights};
/// let (mc, mr) = ([true, true, true], [true, false, false]);
/// let (mut wc, mut wr) = ([0.0f64; 3], [0.0f64; 3]);
/// ld_token_weights(&mut wc, &mut wr, Mask::new(&mc, 3)?, Mask::new(&mr, 3)?, 0.5)?;
/// assert_eq!(wc, [1.0, 0.5, 0.5]);
/// assert_eq!(wr, [1.0, 0.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Liu et al. (2024), *LD-DPO*, arXiv:2409.06411; TRL `ld_alpha`.
pub fn ld_token_weights<F: Real>(
    w_chosen: &mut [F],
    w_rejected: &mut [F],
    mask_chosen: Mask<'_>,
    mask_rejected: Mask<'_>,
    alpha: F,
) -> Result<()> {
    param_in("ld_alpha", alpha, F::ZERO, F::ONE, "in [0, 1]")?;
    let shape = mask_chosen.shape();
    if mask_rejected.shape() != shape {
        return Err(Error::LengthMismatch {
            what: "mask_rejected",
            expected: shape.len(),
            got: mask_rejected.shape().len(),
        });
    }
    shape.check("w_chosen", w_chosen.len())?;
    shape.check("w_rejected", w_rejected.len())?;
    let t = shape.seq_len();
    for (((wc, wr), mc), mr) in w_chosen
        .chunks_exact_mut(t)
        .zip(w_rejected.chunks_exact_mut(t))
        .zip(mask_chosen.rows())
        .zip(mask_rejected.rows())
    {
        let public = count_true(mc).min(count_true(mr));
        for (w, m) in [(wc, mc), (wr, mr)] {
            let mut k = 0usize;
            for (w, &b) in w.iter_mut().zip(m) {
                *w = if !b {
                    F::ZERO
                } else {
                    k += 1;
                    if k <= public { F::ONE } else { alpha }
                };
            }
        }
    }
    Ok(())
}

/// WPO pair weights from the policy logits: how likely the policy itself is to produce each
/// response, token by token, relative to its own concentration.
///
/// # Definition
/// For a response `i` with valid tokens `t` (`Lᵢ` of them), logits `z_{it}` and tokens `y_{it}`:
/// `aᵢ = Σₜ (log π(y_{it}) − log Σ_v π_v²) / max(Lᵢ, 1)` with `log Σ_v π_v² = LSE(2z) − 2·LSE(z)`,
/// and the pair weight `ω_p = exp(a_c + a_r)` (chosen × rejected). The weights are constants (no
/// gradient flows through them); use them with [`PairInputs::with_pair_weights`]. They are not
/// clamped (TRL's current `use_weighting`; older TRL clamped `ω ≤ 1`). Computed per row in `f64`
/// from `(z − max z)`, so neither `LSE` is formed. A valid token of probability zero gives `ω = 0`.
///
/// # Shapes
/// `out`: `(P)`; `logits_chosen`, `logits_rejected`: `(P, T, V)` (the logits that predict each
/// token, i.e. already shifted); `ids_*`, `mask_*`: `(P, T)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::BadShape`] for `V = 0`; [`Error::TooLarge`] when `P·T·V`
/// overflows `usize`; at valid positions only: [`Error::NonFinite`] for NaN or `+∞` logits or a row
/// of only `−∞`, [`Error::TokenOutOfRange`] for an id `>= V`.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::preference::wpo_weights};
/// // One pair, one token each, V = 2, π = (1/4, 3/4): Σπ² = 5/8.
/// let z = [0.0f64, 3f64.ln()];
/// let m = [true];
/// let mask = Mask::new(&m, 1)?;
/// let mut w = [0.0];
/// wpo_weights(&mut w, &z, &[1], mask, &z, &[0], mask, 2)?;
/// // chosen: (3/4)/(5/8) = 6/5; rejected: (1/4)/(5/8) = 2/5.
/// assert!((w[0] - 0.48).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Zhou et al. (2024), *WPO: Enhancing RLHF with Weighted Preference Optimization*,
/// arXiv:2406.11827 (Eq. 2); TRL `dpo_trainer.py` (`use_weighting`).
pub fn wpo_weights<F: Real>(
    out: &mut [F],
    logits_chosen: &[F],
    ids_chosen: &[u32],
    mask_chosen: Mask<'_>,
    logits_rejected: &[F],
    ids_rejected: &[u32],
    mask_rejected: Mask<'_>,
    vocab: usize,
) -> Result<()> {
    let shape = mask_chosen.shape();
    if mask_rejected.shape() != shape {
        return Err(Error::LengthMismatch {
            what: "mask_rejected",
            expected: shape.len(),
            got: mask_rejected.shape().len(),
        });
    }
    shape.check_batch("out", out.len())?;
    shape.check("ids_chosen", ids_chosen.len())?;
    shape.check("ids_rejected", ids_rejected.len())?;
    if vocab == 0 {
        return Err(Error::BadShape {
            what: "logits_chosen",
            len: logits_chosen.len(),
            dim: vocab,
        });
    }
    let need = shape.len().checked_mul(vocab).ok_or(Error::TooLarge {
        what: "logits_chosen",
        len: shape.len(),
        max: usize::MAX / vocab,
    })?;
    ensure_len("logits_chosen", need, logits_chosen.len())?;
    ensure_len("logits_rejected", need, logits_rejected.len())?;
    let t = shape.seq_len();
    for (k, ((o, mc), mr)) in out
        .iter_mut()
        .zip(mask_chosen.rows())
        .zip(mask_rejected.rows())
        .enumerate()
    {
        let a = wpo_log_weight("logits_chosen", logits_chosen, ids_chosen, mc, k * t, vocab)?;
        let b = wpo_log_weight(
            "logits_rejected",
            logits_rejected,
            ids_rejected,
            mr,
            k * t,
            vocab,
        )?;
        *o = F::lit(num_traits::Float::exp(a + b));
    }
    crate::error::ensure_output("WPO weights", out)
}

/// `aᵢ` of one response whose first token has flat index `start` (see [`wpo_weights`]).
fn wpo_log_weight<F: Real>(
    what: &'static str,
    logits: &[F],
    ids: &[u32],
    mask: &[bool],
    start: usize,
    vocab: usize,
) -> Result<f64> {
    let (mut s, mut n) = (0.0f64, 0usize);
    for (j, &m) in mask.iter().enumerate() {
        if !m {
            continue;
        }
        let idx = start + j;
        let z = logits
            .get(idx * vocab..(idx + 1) * vocab)
            .ok_or(Error::LengthMismatch {
                what,
                expected: (idx + 1) * vocab,
                got: logits.len(),
            })?;
        check_logit_row(what, z, idx * vocab)?;
        let id = ids.get(idx).copied().unwrap_or(u32::MAX);
        let (lp, conc) = token_logprob_and_concentration(z, id, idx)?;
        s += lp - conc;
        n += 1;
    }
    Ok(s / usize_f64(n.max(1)))
}

/// The SFT (negative log-likelihood) term of TRL's `loss_type="sft"` and RPO: a token loss
/// `ℓₜ = −log π(yₜ)` over the chosen responses, written as additive parts.
///
/// # Definition
/// Per valid token `ℓᵢₜ = −log πᵢₜ`; returns the [`LossParts`] of `ℓ` for `agg` and writes the
/// gradient of the sums, `∂/∂ log πᵢₜ = −mᵢₜ`; scale it with `agg.scale_grad`. With
/// [`Aggregation::TokenMean`] the value is TRL's `F.cross_entropy(chosen_logits[mask],
/// chosen_labels[mask])`, the mean over every valid chosen token of the batch. In a weighted
/// combination TRL multiplies this term by its weight `c_sft` and, with `use_weighting`, by the mean
/// WPO pair weight (see [`combined_preference_loss`]).
///
/// # Shapes
/// `grad`, `token_logps`: `(B, T)` like `mask` (the chosen responses only).
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ at a valid position.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, loss::{Aggregation, preference::sft_loss}};
/// let mask = Mask::new(&[true, true, false, true], 2)?;
/// let mut g = [0.0f64; 4];
/// let agg = Aggregation::TokenMean;
/// let p = sft_loss(&mut g, &[-1.0, -2.0, f64::NAN, -3.0], mask, &agg)?;
/// assert_eq!(agg.value::<f64>(&p, &p)?, 2.0); // (1 + 2 + 3) / 3
/// agg.scale_grad(&mut g, mask, &p)?;
/// assert_eq!(g, [-1.0 / 3.0, -1.0 / 3.0, 0.0, -1.0 / 3.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Pang et al. (2024), *Iterative Reasoning Preference Optimization*, arXiv:2404.19733
/// (RPO's NLL term); MPO, Wang et al. (2024), arXiv:2411.10442; TRL `dpo_trainer.py`
/// (`loss_type="sft"`).
pub fn sft_loss<F: Real>(
    grad: &mut [F],
    token_logps: &[F],
    mask: Mask<'_>,
    agg: &Aggregation,
) -> Result<LossParts> {
    let shape = mask.shape();
    shape.check("token_logps", token_logps.len())?;
    shape.check("grad", grad.len())?;
    let t = shape.seq_len();
    let mut parts = LossParts::ZERO;
    for (i, ((g, x), m)) in grad
        .chunks_exact_mut(t)
        .zip(token_logps.chunks_exact(t))
        .zip(mask.rows())
        .enumerate()
    {
        let mut s = 0.0f64;
        for (j, ((g, &v), &b)) in g.iter_mut().zip(x).zip(m).enumerate() {
            if b {
                if !v.is_finite() {
                    return Err(Error::NonFinite {
                        what: "token_logps",
                        index: i * t + j,
                    });
                }
                s -= v.as_f64();
                *g = -F::ONE;
            } else {
                *g = F::ZERO;
            }
        }
        parts.push_row(s, count_true(m), agg);
    }
    Ok(parts)
}

/// The Bradley–Terry reward-model loss.
///
/// # Definition
/// Per pair: `−log σ(r_c − r_r − mᵢ) + η·(r_c + r_r)² + λ·(r_c² + r_r²)` with optional margins `m`
/// (TRL `RewardTrainer`, OpenRLHF `PairWiseLoss`), centering coefficient `η`
/// (`center_rewards_coefficient`) and L2 coefficient `λ` (the PAR study's `Reg` baseline,
/// `reward_reg_val = 0.005`: [`BradleyTerry::with_l2`]). OpenRLHF's `LogExpLoss`
/// `log(1 + e^{r_r − r_c})` is the same value without margin.
///
/// # Errors
/// [`BradleyTerry::new`], [`BradleyTerry::with_l2`]: [`Error::InvalidParam`] for a negative or
/// non-finite coefficient.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::BradleyTerry;
/// let bt = BradleyTerry::new(0.01f64)?;
/// assert_eq!(bt.center_coef(), 0.01);
/// let reg = BradleyTerry::new(0.0f64)?.with_l2(0.005)?; // PAR's Reg
/// assert_eq!(reg.l2_coef(), 0.005);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Bradley and Terry (1952); Ouyang et al. (2022), arXiv:2203.02155; Eisenstein et al.
/// (2023), arXiv:2312.09244 (centering); TRL `reward_trainer.py`; OpenRLHF `loss.py`; Fu et al.
/// (2025), arXiv:2502.18770 (`PorUna-byte/PAR`, `trainers/paired_trainer.py::RewardTrainer.loss`,
/// `reward_reg`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BradleyTerry<F> {
    center: F,
    #[cfg_attr(feature = "serde", serde(default))]
    l2: F,
}

impl<F: Real> BradleyTerry<F> {
    /// With centering coefficient `η ≥ 0` (no L2 term).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `>= 0`.
    pub fn new(center_coef: F) -> Result<Self> {
        Ok(Self {
            center: param_nonneg("center_rewards_coefficient", center_coef)?,
            l2: F::ZERO,
        })
    }

    /// Adds the L2 term `λ·(r_c² + r_r²)` (PAR's `Reg` baseline: `reward_reg_val`, 0.005).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `>= 0`.
    pub fn with_l2(mut self, l2_coef: F) -> Result<Self> {
        self.l2 = param_nonneg("reward_reg_val", l2_coef)?;
        Ok(self)
    }

    /// `η`.
    pub fn center_coef(&self) -> F {
        self.center
    }

    /// `λ`.
    pub fn l2_coef(&self) -> F {
        self.l2
    }
}

/// Computes the Bradley–Terry loss: writes `∂(Σ losses)/∂r_c` and `∂/∂r_r`, returns the parts (one
/// "token" per pair).
///
/// # Definition
/// See [`BradleyTerry`].
///
/// # Shapes
/// `grad_chosen`, `grad_rejected`, `chosen`, `rejected`, `margin`: `(P)`.
///
/// # Errors
/// [`Error::Empty`] for no pairs; [`Error::LengthMismatch`] for `rejected`, `grad_chosen`,
/// `grad_rejected` or `margin`; [`Error::NonFinite`] for NaN/∞ in `chosen`, `rejected` or
/// `margin`; [`Error::Overflow`] when the loss or a gradient overflows on finite inputs (a margin
/// `r_c − r_r − m` below the float range, or `η·(r_c + r_r)²` or `λ·(r_c² + r_r²)` beyond it).
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{BradleyTerry, bradley_terry_loss};
/// let (mut gc, mut gr) = ([0.0f64], [0.0]);
/// let p = bradley_terry_loss(&mut gc, &mut gr, &[1.0], &[1.0], None, &BradleyTerry::new(0.0)?)?;
/// assert!((p.sum - 2f64.ln()).abs() < 1e-15); // equal rewards: log 2
/// assert_eq!((gc[0], gr[0]), (-0.5, 0.5));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`BradleyTerry`].
pub fn bradley_terry_loss<F: Real>(
    grad_chosen: &mut [F],
    grad_rejected: &mut [F],
    chosen: &[F],
    rejected: &[F],
    margin: Option<&[F]>,
    bt: &BradleyTerry<F>,
) -> Result<LossParts> {
    let n = chosen.len();
    ensure_nonempty("chosen", n)?;
    ensure_len("rejected", n, rejected.len())?;
    ensure_len("grad_chosen", n, grad_chosen.len())?;
    ensure_len("grad_rejected", n, grad_rejected.len())?;
    crate::error::ensure_finite("chosen", chosen)?;
    crate::error::ensure_finite("rejected", rejected)?;
    if let Some(m) = margin {
        ensure_len("margin", n, m.len())?;
        crate::error::ensure_finite("margin", m)?;
    }
    let mut s = 0.0f64;
    for (k, ((gc, gr), (&c, &r))) in grad_chosen
        .iter_mut()
        .zip(grad_rejected.iter_mut())
        .zip(chosen.iter().zip(rejected))
        .enumerate()
    {
        let m = margin.map_or(F::ZERO, |m| at(m, k));
        let x = c - r - m;
        let sum = c + r;
        let two = F::lit(2.0);
        let v = -log_sigmoid(x) + bt.center * sum * sum + bt.l2 * (c * c + r * r);
        let d = -sigmoid(-x);
        *gc = d + two * bt.center * sum + two * bt.l2 * c;
        *gr = -d + two * bt.center * sum + two * bt.l2 * r;
        s += v.as_f64();
    }
    if !s.is_finite() {
        return Err(Error::Overflow {
            what: "Bradley-Terry loss",
        });
    }
    crate::error::ensure_output("Bradley-Terry gradient", grad_chosen)?;
    crate::error::ensure_output("Bradley-Terry gradient", grad_rejected)?;
    Ok(LossParts {
        sum: s,
        seq_mean_sum: s,
        tokens: n,
        seqs: n,
        rows: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bradley_terry_every_documented_error() {
        // Regression (issue 8, defect 10): the error list of bradley_terry_loss, one case each.
        let bt = BradleyTerry::new(0.0f32).unwrap();
        let (mut a, mut b) = ([0.0f32; 2], [0.0f32; 2]);
        assert_eq!(
            bradley_terry_loss(&mut a[..0], &mut b[..0], &[], &[], None, &bt),
            Err(Error::Empty { what: "chosen" })
        );
        for (ga, gb, r, m, what) in [
            (2usize, 2usize, 1usize, 2usize, "rejected"),
            (1, 2, 2, 2, "grad_chosen"),
            (2, 1, 2, 2, "grad_rejected"),
            (2, 2, 2, 1, "margin"),
        ] {
            let margin = [0.0f32; 2];
            let e = bradley_terry_loss(
                &mut a[..ga],
                &mut b[..gb],
                &[0.0, 1.0],
                &[0.0, 1.0][..r],
                Some(&margin[..m]),
                &bt,
            );
            assert!(
                matches!(e, Err(Error::LengthMismatch { what: w, .. }) if w == what),
                "{what}: {e:?}"
            );
        }
        for (c, r, m, what) in [
            ([f32::NAN, 0.0], [0.0, 0.0], [0.0, 0.0], "chosen"),
            ([0.0, 0.0], [0.0, f32::INFINITY], [0.0, 0.0], "rejected"),
            ([0.0, 0.0], [0.0, 0.0], [0.0, f32::NAN], "margin"),
        ] {
            assert!(matches!(
                bradley_terry_loss(&mut a, &mut b, &c, &r, Some(&m), &bt),
                Err(Error::NonFinite { what: w, .. }) if w == what
            ));
        }
        // The margin r_c − r_r = −6e38 is below the f32 range: −log σ(−∞) = ∞.
        assert_eq!(
            bradley_terry_loss(&mut a, &mut b, &[-3e38, 0.0], &[3e38, 0.0], None, &bt),
            Err(Error::Overflow {
                what: "Bradley-Terry loss"
            })
        );
        // Centering: η·(r_c + r_r)² beyond f32 with a finite margin.
        let center = BradleyTerry::new(1.0f32).unwrap();
        assert!(matches!(
            bradley_terry_loss(&mut a, &mut b, &[2e19, 0.0], &[2e19, 0.0], None, &center),
            Err(Error::Overflow { .. })
        ));
    }
}
