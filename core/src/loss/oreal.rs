//! OREAL's per-sample loss pieces (Lyu et al. 2025): behaviour cloning on positive samples, a
//! policy gradient with reshaped advantages on negative ones, a KL term, and the token-level reward
//! model's loss, each with its exact gradient.
//!
//! The pieces have **different normalizers** (the whole batch's positive tokens, negative tokens,
//! all action tokens and sequences), so a shard is computed against the whole batch's
//! [`OrealCounts`], which are known before any loss is (the mask and the outcomes): count every
//! shard, add the counts, then call [`oreal_loss`] per shard with the total. The values of the
//! shards add up to the whole-batch loss and their gradients are the whole-batch gradient.
//!
//! The gradients are with respect to the token log-probabilities (and the token RM's logits);
//! [`logits::logprobs_backward`](crate::logits::logprobs_backward) takes them to the policy's
//! logits (the positive term is the cross-entropy `−log π`, whose logit gradient is
//! `softmax − onehot`).

use core::ops::{Add, AddAssign};

use crate::error::{Error, Result, ensure_len, param_nonneg};
use crate::kl::{KlEstimator, KlPenalty, KlTerm};
use crate::layout::{Mask, count_true};
use crate::real::{Real, usize_f64};
use crate::stats::{sigmoid, softplus};

/// The whole-batch counts that normalize OREAL's loss pieces (additive over shards).
///
/// # Definition
/// `positive_tokens` (`N⁺`) and `negative_tokens` (`N⁻`): valid tokens of positive (`R > 0`) and of
/// other samples; `tokens = N⁺ + N⁻` (the reference's `global_action_tokens`); `seqs`: samples with
/// at least one valid token (`global_num_seqs`).
///
/// # Examples
/// ```
/// use rewardkit_core::loss::OrealCounts;
/// use rewardkit_core::Mask;
/// let bits = [true, true, true, false];
/// let c = OrealCounts::new(&[true, false], Mask::new(&bits, 2)?)?;
/// assert_eq!((c.positive_tokens, c.negative_tokens, c.tokens, c.seqs), (2, 1, 3, 2));
/// assert_eq!(c + c, OrealCounts { positive_tokens: 4, negative_tokens: 2, tokens: 6, seqs: 4 });
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OrealCounts {
    /// `N⁺`: valid tokens of positive samples.
    pub positive_tokens: usize,
    /// `N⁻`: valid tokens of the other samples.
    pub negative_tokens: usize,
    /// `N = N⁺ + N⁻`.
    pub tokens: usize,
    /// Samples with at least one valid token.
    pub seqs: usize,
}

impl OrealCounts {
    /// The counts of one shard.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `positive` has one entry per mask row.
    pub fn new(positive: &[bool], mask: Mask<'_>) -> Result<Self> {
        mask.shape().check_batch("positive", positive.len())?;
        let mut c = Self::default();
        for (bits, &p) in mask.rows().zip(positive) {
            let n = count_true(bits);
            if p {
                c.positive_tokens += n;
            } else {
                c.negative_tokens += n;
            }
            c.tokens += n;
            c.seqs += usize::from(n > 0);
        }
        Ok(c)
    }

    /// `Err` unless every count of `self` is at most the same count of `total`.
    fn check_within(&self, total: &Self) -> Result<()> {
        for (have, all) in [
            (self.positive_tokens, total.positive_tokens),
            (self.negative_tokens, total.negative_tokens),
            (self.tokens, total.tokens),
            (self.seqs, total.seqs),
        ] {
            if have > all {
                return Err(Error::InvalidParam {
                    name: "total",
                    value: usize_f64(all),
                    expected: "whole-batch counts >= this shard's counts",
                });
            }
        }
        Ok(())
    }
}

impl Add for OrealCounts {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            positive_tokens: self.positive_tokens + o.positive_tokens,
            negative_tokens: self.negative_tokens + o.negative_tokens,
            tokens: self.tokens + o.tokens,
            seqs: self.seqs + o.seqs,
        }
    }
}

impl AddAssign for OrealCounts {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl core::iter::Sum for OrealCounts {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// The value of each OREAL loss piece for one shard (already normalized by the whole-batch
/// counts, so the pieces of the shards add up).
///
/// # Examples
/// ```
/// use rewardkit_core::loss::OrealValue;
/// let v = OrealValue { positive: 0.5, negative: 0.25, kl: 0.125 };
/// assert_eq!(v.total(), 0.875);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OrealValue {
    /// The behaviour-cloning term of positive samples.
    pub positive: f64,
    /// The policy-gradient term of negative samples.
    pub negative: f64,
    /// The KL term (0 without one).
    pub kl: f64,
}

impl OrealValue {
    /// `positive + negative + kl` (the reference's per-step `rl_loss`).
    pub fn total(&self) -> f64 {
        self.positive + self.negative + self.kl
    }
}

/// OREAL's policy loss (Lyu et al.[^1]).
///
/// # Definition
/// Per sample `i` with valid tokens `t`, token log-probabilities `ℓ_t`, advantage `Aᵢ` (the group
/// RLOO or GRPO value **without** the negative factor: [`Oreal`](crate::reward::Oreal) with
/// `ν = 1`), token weights `w⁺`, `w⁻` (1 without a token RM; else from
/// [`Oreal::token_weights_rescaled`](crate::reward::Oreal::token_weights_rescaled)) and the
/// whole-batch [`OrealCounts`]:
/// - positive (`Rᵢ > 0`): `L⁺ᵢ = (f⁺·Aᵢ/N⁺)·Σ_t w⁺_t·(−ℓ_t)` (with `pos_mult_adv`; without it the
///   `Aᵢ` is dropped) — behaviour cloning, the cross-entropy of the sample's tokens;
/// - negative: `L⁻ᵢ = −(f⁻·Aᵢ/N⁻)·Σ_t w⁻_t·exp(ℓ_t − sg(ℓ_t))` — REINFORCE with the reshaped
///   advantage, value `−(f⁻·Aᵢ/N⁻)·Σ_t w⁻_t`;
/// - KL (every sample): `(1/N)·Σ_t β·k(ℓ_t, ℓ^ref_t)` with a [`KlTerm`] (the reference's default
///   `kl_type = "unbias"` is `k3`, `β = 0.01`; `"mse"` is `k2`), evaluated on-policy
///   (`π_old = sg(π)`).
///
/// Gradients with respect to `ℓ_t`: `−(f⁺·Aᵢ/N⁺)·w⁺_t`, `−(f⁻·Aᵢ/N⁻)·w⁻_t`, `β·k'(ℓ_t)/N`. Defaults
/// (the released config): `f⁺ = 1` (`positive_loss_factor`), `f⁻ = 0.5`
/// (`negative_loss_factor`), `pos_mult_adv = true`, `k3` with `β = 0.01`. The reference's
/// `kl_type = "kl"` adds `β·(ℓ^ref − ℓ)` (minus `k1`, a negative coefficient for a [`KlTerm`]) and
/// is not offered. The multiplication by the data-parallel size in the reference undoes the
/// gradient averaging of its data-parallel backend; with whole-batch counts it is not needed.
///
/// # Errors
/// [`OrealLoss::new`]: [`Error::InvalidParam`] for a negative or non-finite factor.
///
/// # Examples
/// See [`oreal_loss`].
///
/// [^1]: Lyu et al. (2025), *Exploring the Limit of Outcome Reward for Learning Mathematical
///     Reasoning*, arXiv:2502.06781 (`InternLM/OREAL`, `train_oreal.py`; configs
///     `oreal/configs/oreal_w_tokenrm_OREAL-7B-SFT_seqlen16k.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OrealLoss<F> {
    positive_factor: F,
    negative_factor: F,
    pos_mult_adv: bool,
    kl: Option<KlTerm<F>>,
}

impl<F: Real> Default for OrealLoss<F> {
    fn default() -> Self {
        Self {
            positive_factor: F::ONE,
            negative_factor: F::lit(0.5),
            pos_mult_adv: true,
            // β = 0.01 is valid, so `new` cannot fail here.
            kl: KlTerm::new(KlPenalty::new(KlEstimator::K3), F::lit(0.01)).ok(),
        }
    }
}

impl<F: Real> OrealLoss<F> {
    /// Factors `f⁺, f⁻ >= 0` and `pos_mult_adv`; the KL term at its default.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(positive_factor: F, negative_factor: F, pos_mult_adv: bool) -> Result<Self> {
        Ok(Self {
            positive_factor: param_nonneg("positive_loss_factor", positive_factor)?,
            negative_factor: param_nonneg("negative_loss_factor", negative_factor)?,
            pos_mult_adv,
            ..Self::default()
        })
    }

    /// Sets (or removes) the KL term.
    pub fn with_kl(mut self, kl: Option<KlTerm<F>>) -> Self {
        self.kl = kl;
        self
    }

    /// The KL term.
    pub fn kl(&self) -> Option<KlTerm<F>> {
        self.kl
    }
}

/// The inputs of [`oreal_loss`] for one shard.
///
/// # Shapes
/// `logp`, `ref_logp`, `pos_weight`, `neg_weight`: `(B, T)` with the mask; `advantages`, `positive`:
/// `(B)`.
///
/// # Errors
/// The constructor and builders: [`Error::LengthMismatch`] for a wrong size.
///
/// # Examples
/// See [`oreal_loss`]; with a token-level RM, the weights come from
/// [`Oreal::token_weights_rescaled`](crate::reward::Oreal::token_weights_rescaled):
/// ```
/// use rewardkit_core::loss::OrealInputs;
/// use rewardkit_core::reward::{Oreal, OrealRescale};
/// use rewardkit_core::Mask;
/// let bits = [true; 3];
/// let mask = Mask::new(&bits, 3)?;
/// let (mut wp, mut wn) = ([0.0f64; 3], [0.0f64; 3]);
/// Oreal::token_weights_rescaled(&mut wp, &mut wn, &mut [], &[0.3, 1.2, -0.4], mask,
///     OrealRescale::default())?;
/// let logp = [-0.2, -1.0, -0.7];
/// let inp = OrealInputs::new(&logp, &[0.8], &[true], mask)?.with_weights(&wp, &wn)?;
/// assert_eq!(inp.counts()?.positive_tokens, 3);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`OrealLoss`].
#[derive(Clone, Copy, Debug)]
pub struct OrealInputs<'a, F> {
    logp: &'a [F],
    advantages: &'a [F],
    positive: &'a [bool],
    mask: Mask<'a>,
    ref_logp: Option<&'a [F]>,
    weights: Option<(&'a [F], &'a [F])>,
}

impl<'a, F: Real> OrealInputs<'a, F> {
    /// Token log-probabilities, per-sample advantages and outcomes (`R > 0`), and the mask.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(
        logp: &'a [F],
        advantages: &'a [F],
        positive: &'a [bool],
        mask: Mask<'a>,
    ) -> Result<Self> {
        let shape = mask.shape();
        shape.check("logp", logp.len())?;
        shape.check_batch("advantages", advantages.len())?;
        shape.check_batch("positive", positive.len())?;
        Ok(Self {
            logp,
            advantages,
            positive,
            mask,
            ref_logp: None,
            weights: None,
        })
    }

    /// The reference model's log-probabilities (needed with a KL term).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    pub fn with_ref(mut self, ref_logp: &'a [F]) -> Result<Self> {
        self.mask.shape().check("ref_logp", ref_logp.len())?;
        self.ref_logp = Some(ref_logp);
        Ok(self)
    }

    /// Token weights `w⁺`, `w⁻` (detached; finite and `>= 0` at valid positions).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    pub fn with_weights(mut self, pos_weight: &'a [F], neg_weight: &'a [F]) -> Result<Self> {
        self.mask.shape().check("pos_weight", pos_weight.len())?;
        self.mask.shape().check("neg_weight", neg_weight.len())?;
        self.weights = Some((pos_weight, neg_weight));
        Ok(self)
    }

    /// The counts of this shard.
    ///
    /// # Errors
    /// None in practice (the sizes were checked).
    pub fn counts(&self) -> Result<OrealCounts> {
        OrealCounts::new(self.positive, self.mask)
    }
}

/// Checks that `xs` is finite and `>= 0` at valid positions.
fn check_weights<F: Real>(what: &'static str, xs: &[F], bits: &[bool]) -> Result<()> {
    crate::reward::ensure_finite_masked(what, xs, bits)?;
    match xs.iter().zip(bits).position(|(x, &m)| m && *x < F::ZERO) {
        Some(index) => Err(Error::InvalidParam {
            name: what,
            value: usize_f64(index),
            expected: "weights >= 0 at valid positions (the value is the flat index)",
        }),
        None => Ok(()),
    }
}

/// Computes one shard's OREAL loss pieces and writes `∂(Σ pieces)/∂ℓ` into `grad` (0 at masked
/// positions).
///
/// # Definition
/// See [`OrealLoss`]; `total` are the whole batch's counts (the shard's own for a whole batch). A
/// piece whose normalizer is 0 in the whole batch has no terms (no positive sample, no negative
/// sample, no valid token).
///
/// # Shapes
/// `grad`: `(B, T)`; the inputs as [`OrealInputs`].
///
/// # Errors
/// [`Error::LengthMismatch`] for `grad`; [`Error::MissingInput`] for `ref_logp` with a KL term;
/// [`Error::NonFinite`] for NaN/∞ in `logp`, `ref_logp` or a weight at a valid position, or in
/// the advantage of a row with valid tokens; [`Error::InvalidParam`] for a negative weight or a
/// `total` smaller than the shard's own counts; [`Error::Overflow`] if a value or gradient
/// overflows.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{OrealInputs, OrealLoss, oreal_loss};
/// use rewardkit_core::Mask;
/// // One positive (A = 1) and one negative (A = −1) sample, two tokens each, no KL.
/// let bits = [true; 4];
/// let mask = Mask::new(&bits, 2)?;
/// let logp = [-0.5f64, -1.0, -2.0, -0.1];
/// let inp = OrealInputs::new(&logp, &[1.0, -1.0], &[true, false], mask)?;
/// let loss = OrealLoss::new(1.0, 0.5, true)?.with_kl(None);
/// let mut grad = [0.0; 4];
/// let v = oreal_loss(&mut grad, &inp, &loss, &inp.counts()?)?;
/// assert_eq!(v.positive, 0.75); // (1·1/2)·(0.5 + 1.0)
/// assert_eq!(v.negative, 0.5);  // −(0.5·(−1)/2)·2
/// assert_eq!(grad, [-0.5, -0.5, 0.25, 0.25]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`OrealLoss`].
pub fn oreal_loss<F: Real>(
    grad: &mut [F],
    inp: &OrealInputs<'_, F>,
    loss: &OrealLoss<F>,
    total: &OrealCounts,
) -> Result<OrealValue> {
    let mask = inp.mask;
    let shape = mask.shape();
    shape.check("grad", grad.len())?;
    let bits = mask.bits();
    crate::reward::ensure_finite_masked("logp", inp.logp, bits)?;
    let ref_logp = match (loss.kl, inp.ref_logp) {
        (Some(_), None) => return Err(Error::MissingInput { what: "ref_logp" }),
        (Some(_), Some(r)) => {
            crate::reward::ensure_finite_masked("ref_logp", r, bits)?;
            Some(r)
        }
        (None, _) => None,
    };
    if let Some((wp, wn)) = inp.weights {
        check_weights("pos_weight", wp, bits)?;
        check_weights("neg_weight", wn, bits)?;
    }
    for (i, (bits, &a)) in mask.rows().zip(inp.advantages).enumerate() {
        if bits.contains(&true) && !a.is_finite() {
            return Err(Error::NonFinite {
                what: "advantages",
                index: i,
            });
        }
    }
    inp.counts()?.check_within(total)?;

    let t = shape.seq_len();
    let inv = |n: usize| if n == 0 { 0.0 } else { 1.0 / usize_f64(n) };
    let (inv_pos, inv_neg, inv_all) = (
        inv(total.positive_tokens),
        inv(total.negative_tokens),
        inv(total.tokens),
    );
    let (fp, fn_) = (loss.positive_factor.as_f64(), loss.negative_factor.as_f64());
    let mut value = OrealValue::default();
    for (i, (g, bits)) in grad.chunks_exact_mut(t).zip(mask.rows()).enumerate() {
        let off = i * t;
        let positive = inp.positive.get(i).copied().unwrap_or(false);
        let a = inp.advantages.get(i).map_or(0.0, |a| a.as_f64());
        // The coefficient c of the sample's policy term: value c·Σ w·x, gradient −c·w.
        let (coef, sign_pos) = if positive {
            let adv = if loss.pos_mult_adv { a } else { 1.0 };
            (fp * adv * inv_pos, true)
        } else {
            (fn_ * a * inv_neg, false)
        };
        for (j, (g, &m)) in g.iter_mut().zip(bits).enumerate() {
            if !m {
                *g = F::ZERO;
                continue;
            }
            let k = off + j;
            let w = inp.weights.map_or(1.0, |(wp, wn)| {
                let src = if sign_pos { wp } else { wn };
                src.get(k).map_or(0.0, |w| w.as_f64())
            });
            let lp = inp.logp.get(k).copied().unwrap_or(F::ZERO);
            let mut d = -coef * w;
            if sign_pos {
                value.positive += coef * w * -lp.as_f64();
            } else {
                value.negative -= coef * w;
            }
            if let (Some(kl), Some(r)) = (loss.kl, ref_logp) {
                let rl = r.get(k).copied().unwrap_or(F::ZERO);
                let (v, dv) = kl.eval(lp, lp, rl)?;
                value.kl += v.as_f64() * inv_all;
                d += dv.as_f64() * inv_all;
            }
            *g = F::lit(d);
        }
    }
    if !(value.positive.is_finite() && value.negative.is_finite() && value.kl.is_finite()) {
        return Err(Error::Overflow { what: "OREAL loss" });
    }
    crate::error::ensure_output("OREAL gradient", grad)?;
    Ok(value)
}

/// The token-level reward model's loss of OREAL: binary cross-entropy of each sample's mean token
/// logit against its outcome, per sequence of the whole batch, with the gradient with respect to
/// the token logits.
///
/// # Definition
/// For a sample with valid tokens `t = 1..T`, logits `z_t` and label `y = 1{R > 0}`:
/// `z̄ = (1/T)·Σ_t z_t`, `ℓ = softplus(z̄) − y·z̄` (`F.binary_cross_entropy_with_logits`), summed over
/// the shard's samples and divided by the whole batch's sequence count `S` (`seqs` of
/// [`OrealCounts`]). Gradient: `∂/∂z_t = (σ(z̄) − y)/(T·S)`. Samples without a valid token have no
/// term. The reference's label is `int(max(R, 0))`, i.e. `y = 1` for `R = 1` and 0 for `R = −1`.
///
/// # Shapes
/// `grad`, `logits`: `(B, T)` with the mask; `positive`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`] for a NaN/∞ logit at a valid position;
/// [`Error::InvalidParam`] if `total_seqs` is below the shard's own count; [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::loss::oreal_rm_loss;
/// use rewardkit_core::Mask;
/// let bits = [true, true];
/// let mut grad = [0.0f64; 2];
/// // z̄ = 0, y = 1: ℓ = ln 2; ∂/∂z_t = (½ − 1)/2.
/// let v = oreal_rm_loss(&mut grad, &[1.0, -1.0], &[true], Mask::new(&bits, 2)?, 1)?;
/// assert!((v - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(grad, [-0.25, -0.25]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: `InternLM/OREAL`, `train_oreal.py` (`_token_level_rm_loss`).
pub fn oreal_rm_loss<F: Real>(
    grad: &mut [F],
    logits: &[F],
    positive: &[bool],
    mask: Mask<'_>,
    total_seqs: usize,
) -> Result<f64> {
    let shape = mask.shape();
    shape.check("grad", grad.len())?;
    shape.check("logits", logits.len())?;
    ensure_len("positive", shape.batch(), positive.len())?;
    crate::reward::ensure_finite_masked("logits", logits, mask.bits())?;
    let own = OrealCounts::new(positive, mask)?;
    if own.seqs > total_seqs {
        return Err(Error::InvalidParam {
            name: "total_seqs",
            value: usize_f64(total_seqs),
            expected: "a whole-batch sequence count >= this shard's",
        });
    }
    let t = shape.seq_len();
    let inv_s = if total_seqs == 0 {
        0.0
    } else {
        1.0 / usize_f64(total_seqs)
    };
    let mut value = 0.0f64;
    for (((g, z), bits), &p) in grad
        .chunks_exact_mut(t)
        .zip(logits.chunks_exact(t))
        .zip(mask.rows())
        .zip(positive)
    {
        let n = count_true(bits);
        if n == 0 {
            g.iter_mut().for_each(|x| *x = F::ZERO);
            continue;
        }
        let mean = z
            .iter()
            .zip(bits)
            .filter(|(_, m)| **m)
            .map(|(z, _)| z.as_f64())
            .sum::<f64>()
            / usize_f64(n);
        if !mean.is_finite() {
            return Err(Error::Overflow {
                what: "token RM mean logit",
            });
        }
        let y = if p { 1.0 } else { 0.0 };
        value += (softplus(mean) - y * mean) * inv_s;
        let d = (sigmoid(mean) - y) / usize_f64(n) * inv_s;
        for (g, &m) in g.iter_mut().zip(bits) {
            *g = if m { F::lit(d) } else { F::ZERO };
        }
    }
    if !value.is_finite() {
        return Err(Error::Overflow {
            what: "token RM loss",
        });
    }
    crate::error::ensure_output("token RM gradient", grad)?;
    Ok(value)
}
