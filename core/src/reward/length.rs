//! Length rewards: the cosine length-scaling reward, Kimi's and the group-normalized length
//! penalties, DAPO's overlong soft penalty, truncation penalties and L1-style target lengths.

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, param_finite, param_nonneg};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor};
use crate::real::Real;
use crate::stats::sigmoid;

use super::compose::{Batch, RewardTerm, finite_or_overflow};
use super::{check_lengths, param_len};

/// Checks the common `(out, lengths, correct)` triple.
fn check3(out: usize, lengths: &[u32], correct: &[bool]) -> Result<()> {
    ensure_len("correct", lengths.len(), correct.len())?;
    ensure_len("out", lengths.len(), out)?;
    check_lengths("lengths", lengths)
}

/// The cosine length-scaling reward of "Demystifying Long Chain-of-Thought Reasoning" (Yeo et
/// al.[^1]).
///
/// # Definition
/// If `L + m ≥ L_max`: `r = r_exceed` (the response hit the length limit). Otherwise, with
/// `(r_lo, r_hi) = (r_L^c, r_0^c)` for correct and `(r_L^w, r_0^w)` for wrong answers,
/// `r = r_lo + ½·(r_hi − r_lo)·(1 + cos(π·L/L_max))`, so `r(0) = r_hi` and `r(L_max) = r_lo`: short
/// correct answers earn `r_0^c`, long ones `r_L^c`; short wrong answers get `r_0^w`, long ones
/// `r_L^w`. Defaults (paper Sec. 4.2): `r_0^c = 2`, `r_L^c = 1`, `r_0^w = −10`, `r_L^w = 0`,
/// `r_exceed = −10`, `L_max = 14336`, margin `m = 16`. Wrong-answer values must be `≤ 0` (the
/// reference raises otherwise). With `r_0^c ≥ r_L^c ≥ r_exceed`, shorter correct answers never score
/// lower.
///
/// # Shapes
/// As a term: `lengths`, `correct`, `out`: `(B)`.
///
/// # Errors
/// [`CosineLength::new`]: [`Error::InvalidParam`] for a non-finite value, a positive wrong-answer
/// value, `L_max = 0`. `value`/term: `InvalidParam` for a zero length.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::CosineLength;
/// let c = CosineLength::<f64>::default();
/// assert!((c.value(1, true)? - 2.0).abs() < 1e-7);       // short and correct: ≈ r_0^c
/// assert!((c.value(7168, true)? - 1.5).abs() < 1e-12);   // half way: the midpoint
/// assert!((c.value(1, false)? + 10.0).abs() < 1e-6);     // short and wrong: ≈ r_0^w
/// assert_eq!(c.value(14320, true)?, -10.0);               // L + 16 ≥ L_max: exceed
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Yeo et al. (2025), *Demystifying Long Chain-of-Thought Reasoning in LLMs*,
///     arXiv:2502.03373 (`eddycmu/demystify-long-cot`, `openrlhf/reward/cosine.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CosineLength<F> {
    max_len: u32,
    margin: u32,
    correct_short: F,
    correct_long: F,
    wrong_short: F,
    wrong_long: F,
    exceed: F,
}

impl<F: Real> Default for CosineLength<F> {
    fn default() -> Self {
        Self {
            max_len: 14336,
            margin: 16,
            correct_short: F::lit(2.0),
            correct_long: F::ONE,
            wrong_short: F::lit(-10.0),
            wrong_long: F::ZERO,
            exceed: F::lit(-10.0),
        }
    }
}

impl<F: Real> CosineLength<F> {
    /// `L_max`; `(r_0^c, r_L^c)` for correct and `(r_0^w, r_L^w)` for wrong answers (at length 0 and
    /// `L_max`); `r_exceed`. The margin is 16 (see [`CosineLength::with_margin`]).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(max_len: u32, correct: (F, F), wrong: (F, F), exceed: F) -> Result<Self> {
        let nonpos = |name, v: F| {
            let v = param_finite(name, v)?;
            if v > F::ZERO {
                Err(crate::error::invalid(name, v, "a wrong-answer reward <= 0"))
            } else {
                Ok(v)
            }
        };
        Ok(Self {
            max_len: param_len("max_len", max_len)?,
            margin: 16,
            correct_short: param_finite("correct_short", correct.0)?,
            correct_long: param_finite("correct_long", correct.1)?,
            wrong_short: nonpos("wrong_short", wrong.0)?,
            wrong_long: nonpos("wrong_long", wrong.1)?,
            exceed: param_finite("exceed", exceed)?,
        })
    }

    /// Sets the margin `m` (the reference's `MAX_LEN_MARGIN = 16`).
    pub fn with_margin(mut self, margin: u32) -> Self {
        self.margin = margin;
        self
    }

    /// The reward of one response.
    ///
    /// # Errors
    /// `InvalidParam` for `len = 0`.
    pub fn value(&self, len: u32, correct: bool) -> Result<F> {
        param_len("lengths", len)?;
        if u64::from(len) + u64::from(self.margin) >= u64::from(self.max_len) {
            return Ok(self.exceed);
        }
        let (lo, hi) = if correct {
            (self.correct_long.as_f64(), self.correct_short.as_f64())
        } else {
            (self.wrong_long.as_f64(), self.wrong_short.as_f64())
        };
        let progress = f64::from(len) / f64::from(self.max_len);
        let cosfn = Float::cos(progress * core::f64::consts::PI);
        Ok(F::lit(lo + 0.5 * (hi - lo) * (1.0 + cosfn)))
    }
}

impl<F: Real> RewardTerm<F> for CosineLength<F> {
    fn name(&self) -> &'static str {
        "cosine_length"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let (lengths, correct) = (batch.lengths()?, batch.correct()?);
        check3(out.len(), lengths, correct)?;
        for ((o, &l), &c) in out.iter_mut().zip(lengths).zip(correct) {
            *o = self.value(l, c)?;
        }
        Ok(())
    }
}

/// What a group of one response gets from a group-relative length term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LengthSingleton {
    /// Neutral: `λ = 0` (Kimi) or `z = 0` (group penalty) — the rewardkit default.
    #[default]
    Neutral,
    /// The LASER code's baseline: Kimi uses `(L_min, L_max) = (0, 1)`; the group penalty uses mean 0,
    /// std 1 (both make a lone response's term depend on its raw length).
    Reference,
}

/// Kimi k1.5's length penalty (Kimi Team[^1]), as implemented in the LASER code's baseline.
///
/// # Definition
/// Per prompt group, over all its responses, `L_min`, `L_max`; `λ = 0` if `L_max = L_min`, else
/// `λ = 0.5 − (L − L_min)/(L_max − L_min + ε)`. Correct answers get `α·λ`; wrong (well-formed)
/// answers `α·min(0, λ)`; malformed answers 0. Defaults `α = 0.4`, `ε = 1e-6`,
/// [`LengthSingleton::Neutral`]. Within a group, shorter correct answers never score lower.
///
/// # Shapes
/// `out`, `lengths`, `correct`, `well_formed`: `(B)`; `groups` over `B` rows.
///
/// # Errors
/// [`KimiLength::new`]: `InvalidParam` for `α < 0` or `ε < 0`. Rewards:
/// [`Error::LengthMismatch`], `InvalidParam` for a zero length; as a term, `MissingInput`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::KimiLength;
/// use rewardkit_core::GroupIndex;
/// let kimi = KimiLength::<f64>::new(0.4, 0.0)?;
/// let groups = GroupIndex::uniform(3, 3)?;
/// let mut out = [0.0; 3];
/// kimi.rewards(&mut out, &[100, 200, 300], &[true, true, false], None, &groups)?;
/// // λ = 0.5, 0, −0.5.
/// assert_eq!(out, [0.2, 0.0, -0.2]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Kimi Team (2025), *Kimi k1.5: Scaling Reinforcement Learning with LLMs*,
///     arXiv:2501.12599; code: `hkust-nlp/Laser` `compute_kimi_penalty`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KimiLength<F> {
    coef: F,
    eps: F,
    singleton: LengthSingleton,
}

impl<F: Real> Default for KimiLength<F> {
    fn default() -> Self {
        Self {
            coef: F::lit(0.4),
            eps: F::lit(1e-6),
            singleton: LengthSingleton::Neutral,
        }
    }
}

impl<F: Real> KimiLength<F> {
    /// Coefficient `α >= 0` and `ε >= 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(coef: F, eps: F) -> Result<Self> {
        Ok(Self {
            coef: param_nonneg("coef", coef)?,
            eps: param_nonneg("eps", eps)?,
            singleton: LengthSingleton::Neutral,
        })
    }

    /// Sets the singleton rule.
    pub fn with_singleton(mut self, singleton: LengthSingleton) -> Self {
        self.singleton = singleton;
        self
    }

    /// Rewards of a batch.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn rewards(
        &self,
        out: &mut [F],
        lengths: &[u32],
        correct: &[bool],
        well_formed: Option<&[bool]>,
        groups: &GroupIndex<'_>,
    ) -> Result<()> {
        check3(out.len(), lengths, correct)?;
        groups.check_rows("lengths", lengths.len())?;
        if let Some(w) = well_formed {
            ensure_len("well_formed", lengths.len(), w.len())?;
        }
        struct V<'a, F> {
            out: &'a mut [F],
            lengths: &'a [u32],
            correct: &'a [bool],
            well_formed: Option<&'a [bool]>,
            p: &'a KimiLength<F>,
        }
        impl<F: Real> GroupVisitor for V<'_, F> {
            fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
                let (mut lo, mut hi) = rows
                    .values(self.lengths)
                    .fold((u32::MAX, 0u32), |(a, b), l| (a.min(l), b.max(l)));
                // A group of one has L_min = L_max (λ = 0) unless the reference's (0, 1) is asked for.
                if rows.len() == 1 && self.p.singleton == LengthSingleton::Reference {
                    (lo, hi) = (0, 1);
                }
                let (coef, eps) = (self.p.coef.as_f64(), self.p.eps.as_f64());
                let (lengths, correct, wf) = (self.lengths, self.correct, self.well_formed);
                rows.fill(self.out, |i| {
                    let l = f64::from(lengths.get(i).copied().unwrap_or(0));
                    let lambda = if hi == lo {
                        0.0
                    } else {
                        0.5 - (l - f64::from(lo)) / (f64::from(hi) - f64::from(lo) + eps)
                    };
                    let formed = wf.is_none_or(|w| w.get(i).copied().unwrap_or(true));
                    let r = if !formed {
                        0.0
                    } else if correct.get(i).copied().unwrap_or(false) {
                        coef * lambda
                    } else {
                        coef * lambda.min(0.0)
                    };
                    F::lit(r)
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            out,
            lengths,
            correct,
            well_formed,
            p: self,
        })
    }
}

impl<F: Real> RewardTerm<F> for KimiLength<F> {
    fn name(&self) -> &'static str {
        "kimi_length"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        self.rewards(
            out,
            batch.lengths()?,
            batch.correct()?,
            batch.well_formed(),
            batch.groups()?,
        )
    }
}

/// The group-normalized length penalty of "Training Language Models to Reason Efficiently"
/// (Arora & Zanette[^1]), as in the LASER code's baseline.
///
/// # Definition
/// Per prompt group, `μ`, `σ` (Bessel) of the lengths of its **correct** responses; a correct
/// response gets the length term `−α·sigmoid((L − μ)/(σ + ε))` (the code multiplies the correctness
/// score 1 by `1 − α·sigmoid(·)`, which is `1` plus this term); other responses get 0. A group with
/// one correct response uses `z = 0` ([`LengthSingleton::Neutral`], the default) or the code's
/// `μ = 0, σ = 1` ([`LengthSingleton::Reference`]). Defaults `α = 0.4`, `ε = 1e-6`. Within a group,
/// shorter correct answers never score lower; the term lies in `[−α, 0]`.
///
/// # Shapes
/// `out`, `lengths`, `correct`: `(B)`; `groups` over `B` rows.
///
/// # Errors
/// `new`: `InvalidParam` for `α < 0` or `ε < 0`. Rewards: [`Error::LengthMismatch`],
/// `InvalidParam` for a zero length.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::GroupLengthPenalty;
/// use rewardkit_core::GroupIndex;
/// let p = GroupLengthPenalty::<f64>::new(0.4, 0.0)?;
/// let mut out = [0.0; 3];
/// p.rewards(&mut out, &[100, 300, 50], &[true, true, false], &GroupIndex::uniform(3, 3)?)?;
/// // μ = 200, σ = 141.42…: z = ∓0.7071.
/// assert!((out[0] + 0.4 / (1.0 + 0.5f64.sqrt().exp())).abs() < 1e-12);
/// assert_eq!(out[2], 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Arora & Zanette (2025), *Training Language Models to Reason Efficiently*,
///     arXiv:2502.04463; code: `hkust-nlp/Laser` `compute_norm_length_penalty`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GroupLengthPenalty<F> {
    coef: F,
    eps: F,
    singleton: LengthSingleton,
}

impl<F: Real> Default for GroupLengthPenalty<F> {
    fn default() -> Self {
        Self {
            coef: F::lit(0.4),
            eps: F::lit(1e-6),
            singleton: LengthSingleton::Neutral,
        }
    }
}

impl<F: Real> GroupLengthPenalty<F> {
    /// Coefficient `α >= 0` and `ε >= 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(coef: F, eps: F) -> Result<Self> {
        Ok(Self {
            coef: param_nonneg("coef", coef)?,
            eps: param_nonneg("eps", eps)?,
            singleton: LengthSingleton::Neutral,
        })
    }

    /// Sets the singleton rule.
    pub fn with_singleton(mut self, singleton: LengthSingleton) -> Self {
        self.singleton = singleton;
        self
    }

    /// Rewards of a batch.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn rewards(
        &self,
        out: &mut [F],
        lengths: &[u32],
        correct: &[bool],
        groups: &GroupIndex<'_>,
    ) -> Result<()> {
        check3(out.len(), lengths, correct)?;
        groups.check_rows("lengths", lengths.len())?;
        struct V<'a, F> {
            out: &'a mut [F],
            lengths: &'a [u32],
            correct: &'a [bool],
            p: &'a GroupLengthPenalty<F>,
        }
        impl<F: Real> GroupVisitor for V<'_, F> {
            fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
                let (lengths, correct) = (self.lengths, self.correct);
                let ok = |i: usize| correct.get(i).copied().unwrap_or(false);
                let vals = rows
                    .rows()
                    .filter(|&i| ok(i))
                    .map(|i| f64::from(lengths.get(i).copied().unwrap_or(0)));
                let s = crate::stats::Summary::from_iter(vals);
                let (mean, std) = match (s.count, self.p.singleton) {
                    (0, _) => (0.0, 1.0),
                    (1, LengthSingleton::Reference) => (0.0, 1.0),
                    (1, LengthSingleton::Neutral) => (s.mean, 1.0),
                    _ => (s.mean, s.std(1)),
                };
                let (coef, eps) = (self.p.coef.as_f64(), self.p.eps.as_f64());
                rows.fill(self.out, |i| {
                    if !ok(i) {
                        return F::ZERO;
                    }
                    let l = f64::from(lengths.get(i).copied().unwrap_or(0));
                    let c = l - mean;
                    let z = if c == 0.0 { 0.0 } else { c / (std + eps) };
                    F::lit(-coef * sigmoid(z))
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            out,
            lengths,
            correct,
            p: self,
        })
    }
}

impl<F: Real> RewardTerm<F> for GroupLengthPenalty<F> {
    fn name(&self) -> &'static str {
        "group_length_penalty"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        self.rewards(out, batch.lengths()?, batch.correct()?, batch.groups()?)
    }
}

/// DAPO's overlong soft penalty (Yu et al.[^1]; verl `reward_model.overlong_buffer`, OpenRLHF
/// `--reward.overlong_buffer_len`).
///
/// # Definition
/// With `L_exp = L_max − L_cache`: `r = min(−(L − L_exp)/L_cache·φ, 0)`, i.e. 0 up to `L_exp`, then
/// linear down to `−φ` at `L_max`. Past `L_max` the paper's penalty is `−1` (times `φ`); verl's code
/// keeps decreasing (it never sees such lengths): `cap = true` (the default) clamps at `−φ`.
/// Defaults (DAPO): `L_max = 20480`, `L_cache = 4096`, `φ = 1`. Shorter never scores lower.
///
/// # Shapes
/// As a term: `lengths`, `out`: `(B)`.
///
/// # Errors
/// [`Overlong::new`]: `InvalidParam` for a zero length, `L_cache > L_max`, `φ < 0`. `value`/term:
/// `InvalidParam` for a zero length; [`Error::Overflow`] if the uncapped penalty (`cap = false`)
/// exceeds the output type's range (a huge `φ` far past `L_max`).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Overlong;
/// let o = Overlong::<f64>::new(20480, 4096, 1.0)?;
/// assert_eq!(o.value(16384)?, 0.0);
/// assert_eq!(o.value(18432)?, -0.5);
/// assert_eq!(o.value(30000)?, -1.0); // capped
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Yu et al. (2025), *DAPO: An Open-Source LLM Reinforcement Learning System at Scale*,
///     arXiv:2503.14476 (verl `workers/reward_manager/dapo.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Overlong<F> {
    max_len: u32,
    buffer: u32,
    factor: F,
    cap: bool,
}

impl<F: Real> Default for Overlong<F> {
    fn default() -> Self {
        Self {
            max_len: 20480,
            buffer: 4096,
            factor: F::ONE,
            cap: true,
        }
    }
}

impl<F: Real> Overlong<F> {
    /// `L_max`, buffer `L_cache` and factor `φ`; capped at `−φ`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(max_len: u32, buffer: u32, factor: F) -> Result<Self> {
        let max_len = param_len("max_len", max_len)?;
        let buffer = param_len("buffer", buffer)?;
        if buffer > max_len {
            return Err(Error::InvalidParam {
                name: "buffer",
                value: f64::from(buffer),
                expected: "a buffer <= max_len",
            });
        }
        Ok(Self {
            max_len,
            buffer,
            factor: param_nonneg("factor", factor)?,
            cap: true,
        })
    }

    /// `false` reproduces verl's uncapped formula beyond `L_max`.
    pub fn with_cap(mut self, cap: bool) -> Self {
        self.cap = cap;
        self
    }

    /// The penalty of one response.
    ///
    /// # Errors
    /// `InvalidParam` for `len = 0`; [`Error::Overflow`] if the uncapped penalty is beyond `F`'s
    /// range.
    pub fn value(&self, len: u32) -> Result<F> {
        param_len("lengths", len)?;
        let expected = i64::from(self.max_len) - i64::from(self.buffer);
        let exceed = i64::from(len) - expected;
        #[expect(
            clippy::cast_precision_loss,
            reason = "lengths are u32 differences, exact in f64"
        )]
        let raw = (-(exceed as f64) / f64::from(self.buffer)) * self.factor.as_f64();
        let mut r = raw.min(0.0);
        if self.cap {
            r = r.max(-self.factor.as_f64());
        }
        finite_or_overflow(r, "overlong penalty")
    }
}

impl<F: Real> RewardTerm<F> for Overlong<F> {
    fn name(&self) -> &'static str {
        "overlong"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let lengths = batch.lengths()?;
        ensure_len("out", lengths.len(), out.len())?;
        for (o, &l) in out.iter_mut().zip(lengths) {
            *o = self.value(l)?;
        }
        Ok(())
    }
}

/// What happens to a truncated response's reward.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TruncationMode<F> {
    /// Replace it by `ρ` (LASER's "Truncation" row: treated as incorrect).
    Replace(F),
    /// Multiply it by `c` (`ProRL` / OpenRLHF `stop_properly_penalty_coef ≥ 0`).
    Scale(F),
}

/// Truncation penalty (LASER's unified-framework "Truncation" row[^1]; `ProRL`[^2]).
///
/// # Definition
/// A response is truncated if `L > L_T` (or by an explicit flag); then `r' = ρ`
/// ([`TruncationMode::Replace`]) or `r' = c·r` ([`TruncationMode::Scale`]); otherwise `r' = r`.
/// Default: `L_T = 16384`, `Replace(0)`. With `ρ ≤` every untruncated reward (or `c ∈ [0, 1]` and
/// `r ≥ 0`), shorter never scores lower.
///
/// # Shapes
/// `out`, `rewards`, `lengths` / `truncated`: `(B)`.
///
/// # Errors
/// `new`: `InvalidParam` for `L_T = 0` or a non-finite value. `apply`: [`Error::LengthMismatch`],
/// [`Error::NonFinite`], `InvalidParam` for a zero length, [`Error::Overflow`] if `c·r` overflows.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Truncation, TruncationMode};
/// let t = Truncation::new(100, TruncationMode::Replace(-1.0f32))?;
/// let mut out = [0.0f32; 2];
/// t.apply(&mut out, &[1.0, 1.0], &[100, 101])?;
/// assert_eq!(out, [1.0, -1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Liu et al. (2025), arXiv:2505.15612, Table 2.
///
/// [^2]: Liu et al. (2025), *`ProRL`: Prolonged Reinforcement Learning Expands Reasoning Boundaries
///     in Large Language Models*, arXiv:2505.24864.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Truncation<F> {
    limit: u32,
    mode: TruncationMode<F>,
}

impl<F: Real> Default for Truncation<F> {
    fn default() -> Self {
        Self {
            limit: 16384,
            mode: TruncationMode::Replace(F::ZERO),
        }
    }
}

impl<F: Real> Truncation<F> {
    /// Limit `L_T` and mode.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(limit: u32, mode: TruncationMode<F>) -> Result<Self> {
        let mode = match mode {
            TruncationMode::Replace(v) => TruncationMode::Replace(param_finite("replace", v)?),
            TruncationMode::Scale(c) => TruncationMode::Scale(param_finite("scale", c)?),
        };
        Ok(Self {
            limit: param_len("limit", limit)?,
            mode,
        })
    }

    /// The reward of one response, truncated or not.
    #[inline]
    pub fn value(&self, reward: F, truncated: bool) -> F {
        match (truncated, self.mode) {
            (false, _) => reward,
            (true, TruncationMode::Replace(v)) => v,
            (true, TruncationMode::Scale(c)) => c * reward,
        }
    }

    /// Applies the penalty to responses longer than `L_T`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn apply(&self, out: &mut [F], rewards: &[F], lengths: &[u32]) -> Result<()> {
        ensure_len("lengths", rewards.len(), lengths.len())?;
        ensure_len("out", rewards.len(), out.len())?;
        ensure_finite("rewards", rewards)?;
        check_lengths("lengths", lengths)?;
        for ((o, &r), &l) in out.iter_mut().zip(rewards).zip(lengths) {
            *o = self.value(r, l > self.limit);
        }
        super::check_output("truncated reward", out)
    }

    /// Applies the penalty to responses flagged as truncated (e.g. no EOS before the limit).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn apply_flags(&self, out: &mut [F], rewards: &[F], truncated: &[bool]) -> Result<()> {
        ensure_len("truncated", rewards.len(), truncated.len())?;
        ensure_len("out", rewards.len(), out.len())?;
        ensure_finite("rewards", rewards)?;
        for ((o, &r), &t) in out.iter_mut().zip(rewards).zip(truncated) {
            *o = self.value(r, t);
        }
        super::check_output("truncated reward", out)
    }
}

/// L1 / LCPO's target-length rewards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TargetMode {
    /// L1-Exact: `r = R − α·|L_T − L|` (the default).
    #[default]
    Exact,
    /// L1-Max: `r = R·clip(α·(L_T − L) + δ, 0, 1)`.
    Max,
}

/// A target-length reward in the style of L1 (LCPO, Aggarwal & Welleck[^1]).
///
/// # Definition
/// With `R = 1{correct}` and the prompt's requested length `L_T`:
/// [`TargetMode::Exact`]: `r = R − α·|L_T − L|`; [`TargetMode::Max`]:
/// `r = R·clip(α·(L_T − L) + δ, 0, 1)`. Defaults `α = 0.0003`, `δ = 0.5` (the paper's). Under
/// `Max`, shorter correct answers never score lower; `Exact` rewards hitting the target.
///
/// # Shapes
/// `out`, `correct`, `lengths`, `targets`: `(B)`.
///
/// # Errors
/// `new`: `InvalidParam` for `α < 0` or a non-finite `δ`. `value`/`rewards`:
/// [`Error::LengthMismatch`], `InvalidParam` for a zero length or target, [`Error::Overflow`] if the
/// penalty overflows the output type.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{TargetLength, TargetMode};
/// let exact = TargetLength::<f64>::new(0.001, 0.5, TargetMode::Exact)?;
/// assert!((exact.value(true, 1500, 1000)? - 0.5).abs() < 1e-12);
/// let max = TargetLength::<f64>::new(0.001, 0.5, TargetMode::Max)?;
/// assert_eq!(max.value(true, 200, 1000)?, 1.0);   // clip(0.8 + 0.5) = 1
/// assert_eq!(max.value(false, 200, 1000)?, 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Aggarwal & Welleck (2025), *L1: Controlling How Long A Reasoning Model Thinks With
///     Reinforcement Learning*, arXiv:2503.04697.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TargetLength<F> {
    alpha: F,
    delta: F,
    mode: TargetMode,
}

impl<F: Real> Default for TargetLength<F> {
    fn default() -> Self {
        Self {
            alpha: F::lit(0.0003),
            delta: F::lit(0.5),
            mode: TargetMode::Exact,
        }
    }
}

impl<F: Real> TargetLength<F> {
    /// `α >= 0`, `δ` and mode.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(alpha: F, delta: F, mode: TargetMode) -> Result<Self> {
        Ok(Self {
            alpha: param_nonneg("alpha", alpha)?,
            delta: param_finite("delta", delta)?,
            mode,
        })
    }

    /// The reward of one response.
    ///
    /// # Errors
    /// `InvalidParam` for a zero length or target.
    pub fn value(&self, correct: bool, len: u32, target: u32) -> Result<F> {
        param_len("lengths", len)?;
        param_len("targets", target)?;
        let r = if correct { 1.0 } else { 0.0 };
        let d = f64::from(target) - f64::from(len);
        let a = self.alpha.as_f64();
        finite_or_overflow(
            match self.mode {
                TargetMode::Exact => r - a * d.abs(),
                TargetMode::Max => r * (a * d + self.delta.as_f64()).clamp(0.0, 1.0),
            },
            "target-length reward",
        )
    }

    /// Batch form.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn rewards(
        &self,
        out: &mut [F],
        correct: &[bool],
        lengths: &[u32],
        targets: &[u32],
    ) -> Result<()> {
        check3(out.len(), lengths, correct)?;
        ensure_len("targets", lengths.len(), targets.len())?;
        for (((o, &c), &l), &t) in out.iter_mut().zip(correct).zip(lengths).zip(targets) {
            *o = self.value(c, l, t)?;
        }
        Ok(())
    }
}

/// The length-scaled sparse reward of "Demystifying Long Chain-of-Thought" (`LengthScaledSparseReward`,
/// Yeo et al.[^1]), beside the cosine reward ([`CosineLength`]).
///
/// # Definition
/// If `L + m ≥ L_max`: `r = r_exceed` (the response hit the length limit). Otherwise, with
/// `c = L/L_max` and the risk factor `k`: correct answers get `(k + (1 − k)·c)·(1 − c)`, wrong
/// answers `−1 + c`. Shorter correct answers are rewarded over longer ones (for `k ≥ ½`), longer
/// wrong answers over shorter ones, and short answers are risk-averse (a wrong answer loses more than
/// a correct one gains) while the risk evens out as `L` grows. Below the limit, correct answers
/// get a value in `(0, 1]` and wrong answers one in `(−1, 0)` (in `f32`, `−1 + c` rounds to `−1`
/// when `L_max > 2²⁴`), so a correct answer always beats a wrong one of any length. Defaults (the reference CLI): `k = 0.5`
/// (`--math_rule_len_scale_risk`), `r_exceed = 0` (`exceed_length = None`), margin `m = 16`
/// (`MAX_LEN_MARGIN`); `L_max` is the generation limit (`generate_max_len`; default here 14336, the
/// paper's).
///
/// # Shapes
/// As a term: `lengths`, `correct`, `out`: `(B)`.
///
/// # Errors
/// [`LengthScaled::new`]: [`Error::InvalidParam`] for `L_max = 0`, `k ∉ [0, 1]` or a non-finite
/// `r_exceed`. `value`/term: `InvalidParam` for a zero length; `MissingInput` as a term.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::LengthScaled;
/// let r = LengthScaled::<f64>::new(0.5, 1000, 0.0)?;
/// // c = 0.25: correct (0.5 + 0.5·0.25)·0.75 = 0.46875; wrong −0.75.
/// assert_eq!(r.value(250, true)?, 0.46875);
/// assert_eq!(r.value(250, false)?, -0.75);
/// assert_eq!(r.value(984, true)?, 0.0); // 984 + 16 ≥ 1000: exceed
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Yeo et al. (2025), arXiv:2502.03373 (`eddycmu/demystify-long-cot`,
///     `openrlhf/openrlhf/reward/`: `LengthScaledSparseReward`, `remote_rm_url=math_rule_len_scale`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LengthScaled<F> {
    risk: F,
    max_len: u32,
    margin: u32,
    exceed: F,
}

impl<F: Real> Default for LengthScaled<F> {
    fn default() -> Self {
        Self {
            risk: F::lit(0.5),
            max_len: 14336,
            margin: 16,
            exceed: F::ZERO,
        }
    }
}

impl<F: Real> LengthScaled<F> {
    /// Risk factor `k ∈ [0, 1]`, `L_max` and `r_exceed`; margin 16.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(risk: F, max_len: u32, exceed: F) -> Result<Self> {
        Ok(Self {
            risk: crate::error::param_in("risk", risk, F::ZERO, F::ONE, "a risk factor in [0, 1]")?,
            max_len: param_len("max_len", max_len)?,
            margin: 16,
            exceed: param_finite("exceed", exceed)?,
        })
    }

    /// Sets the margin `m` (the reference's `MAX_LEN_MARGIN = 16`).
    pub fn with_margin(mut self, margin: u32) -> Self {
        self.margin = margin;
        self
    }

    /// The reward of one response.
    ///
    /// # Errors
    /// `InvalidParam` for `len = 0`.
    pub fn value(&self, len: u32, correct: bool) -> Result<F> {
        param_len("lengths", len)?;
        if u64::from(len) + u64::from(self.margin) >= u64::from(self.max_len) {
            return Ok(self.exceed);
        }
        let k = self.risk.as_f64();
        let c = f64::from(len) / f64::from(self.max_len);
        Ok(F::lit(if correct {
            (k + (1.0 - k) * c) * (1.0 - c)
        } else {
            -1.0 + c
        }))
    }
}

impl<F: Real> RewardTerm<F> for LengthScaled<F> {
    fn name(&self) -> &'static str {
        "length_scaled"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let (lengths, correct) = (batch.lengths()?, batch.correct()?);
        check3(out.len(), lengths, correct)?;
        for ((o, &l), &c) in out.iter_mut().zip(lengths).zip(correct) {
            *o = self.value(l, c)?;
        }
        Ok(())
    }
}

/// When a [`PruneSchedule`] shrinks its length limit (the LASER code's `LengthController`
/// strategies).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{PruneRule, PruneSchedule};
/// let s = PruneSchedule::clip_ratio(4096, 1024, 1024, 0.1, 5, 0)?;
/// assert_eq!(s.rule(), PruneRule::ClipRatio { target: 0.1, times: 5 });
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: `hkust-nlp/Laser`, `verl/trainer/ppo/len_ctrl.py`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PruneRule {
    /// `constant`: the limit stays at its initial value.
    Constant,
    /// `interval_reduction`: at every step `s ≥ s₀` with `(s − s₀) mod every = 0`.
    Interval {
        /// Steps between reductions (`interval`, 10 in the reference config).
        every: u64,
    },
    /// `monitor_clip_ratio`: after `times` consecutive steps `s ≥ s₀` whose clip ratio is
    /// `≤ target` (the count restarts after each reduction and at every step above the target).
    ClipRatio {
        /// The clip ratio to reach (`target_clip_ratio`).
        target: f64,
        /// Consecutive steps needed (`target_acc_times`).
        times: u32,
    },
}

/// A length limit that shrinks over training stages, owned by the caller like HAPO's history:
/// `ThinkPrune`'s iterative pruning (LASER's Table 2 baseline[^1]) as the LASER code's
/// `LengthController` schedules it[^2].
///
/// # Definition
/// The limit `L_T` starts at `L_init`; a reduction sets `L_T ← max(L_T − Δ, L_min)`. When it
/// happens is the [`PruneRule`]: never, every `every` steps from `s₀` on (`interval_reduction`),
/// or after `times` consecutive steps from `s₀` on with clip ratio `≤ target`
/// (`monitor_clip_ratio`; a step without a clip ratio — the reference's `−1` — reuses the last one
/// seen, and is skipped when none was). [`PruneSchedule::shrink`] reduces once, for stages driven
/// by hand (`ThinkPrune`'s 4k → 3k → 2k rounds). The reward is the truncation penalty at the current
/// limit ([`ThinkPruneTerm`], [`PruneSchedule::truncation`]): a response longer than `L_T` gets
/// `ρ` (default 0: the truncated answer is treated as wrong, C = 0, λ = 1 in LASER's table).
///
/// # Errors
/// Constructors: [`Error::InvalidParam`] for a zero `L_init` or `L_min`, `L_min > L_init`, a zero
/// `every`, a zero `times`, or a `target` outside `[0, 1]`. [`PruneSchedule::step`]:
/// `InvalidParam` for a clip ratio outside `[0, 1]`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{PruneSchedule, ThinkPruneTerm, TruncationMode, Batch, RewardTerm};
/// // ThinkPrune-style: 4096 → 3072 → 2048, one stage every 100 steps from step 100.
/// let mut s = PruneSchedule::interval(4096, 2048, 1024, 100, 100)?;
/// assert_eq!(s.step(0, None)?, 4096);
/// assert_eq!(s.step(100, None)?, 3072);
/// assert_eq!(s.step(150, None)?, 3072);
/// assert_eq!(s.step(200, None)?, 2048);
/// assert_eq!(s.step(300, None)?, 2048); // floor L_min
/// let term = ThinkPruneTerm { mode: TruncationMode::Replace(0.0f64), schedule: &s };
/// let batch = Batch::new(2)?.with_correct(&[true, true])?.with_lengths(&[2000, 2100])?;
/// let mut out = [0.0; 2];
/// term.score(&mut out, &batch)?;
/// assert_eq!(out, [1.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Hou et al. (2025), *`ThinkPrune`: Pruning Long Chain-of-Thought of LLMs via Reinforcement
///     Learning*, arXiv:2504.01296; Liu et al. (2025), arXiv:2505.15612, Table 2.
///
/// [^2]: `hkust-nlp/Laser`, `verl/trainer/ppo/len_ctrl.py` (`LengthController`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PruneSchedule {
    init: u32,
    current: u32,
    min: u32,
    reduction: u32,
    start_step: u64,
    rule: PruneRule,
    good_steps: u32,
    last_clip_ratio: Option<f64>,
}

impl PruneSchedule {
    fn build(
        init: u32,
        min: u32,
        reduction: u32,
        start_step: u64,
        rule: PruneRule,
    ) -> Result<Self> {
        let init = param_len("init_length", init)?;
        let min = param_len("min_length", min)?;
        if min > init {
            return Err(Error::InvalidParam {
                name: "min_length",
                value: f64::from(min),
                expected: "min_length <= init_length",
            });
        }
        match rule {
            PruneRule::Interval { every: 0 } => {
                return Err(Error::InvalidParam {
                    name: "interval",
                    value: 0.0,
                    expected: "an interval >= 1 step",
                });
            }
            PruneRule::ClipRatio { times: 0, .. } => {
                return Err(Error::InvalidParam {
                    name: "target_acc_times",
                    value: 0.0,
                    expected: "a count >= 1",
                });
            }
            PruneRule::ClipRatio { target, .. } if !(0.0..=1.0).contains(&target) => {
                return Err(Error::InvalidParam {
                    name: "target_clip_ratio",
                    value: target,
                    expected: "a ratio in [0, 1]",
                });
            }
            _ => {}
        }
        Ok(Self {
            init,
            current: init,
            min,
            reduction,
            start_step,
            rule,
            good_steps: 0,
            last_clip_ratio: None,
        })
    }

    /// A constant limit (`constant`).
    ///
    /// # Errors
    /// `InvalidParam` for a zero length.
    pub fn constant(length: u32) -> Result<Self> {
        Self::build(length, length, 0, 0, PruneRule::Constant)
    }

    /// `interval_reduction`: `L_init`, `L_min`, `Δ`, `every` and the first step `s₀`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn interval(
        init: u32,
        min: u32,
        reduction: u32,
        every: u64,
        start_step: u64,
    ) -> Result<Self> {
        Self::build(
            init,
            min,
            reduction,
            start_step,
            PruneRule::Interval { every },
        )
    }

    /// `monitor_clip_ratio`: `L_init`, `L_min`, `Δ`, the clip-ratio target, the number of
    /// consecutive steps and the first step `s₀`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn clip_ratio(
        init: u32,
        min: u32,
        reduction: u32,
        target: f64,
        times: u32,
        start_step: u64,
    ) -> Result<Self> {
        Self::build(
            init,
            min,
            reduction,
            start_step,
            PruneRule::ClipRatio { target, times },
        )
    }

    /// The current limit `L_T`.
    pub fn limit(&self) -> u32 {
        self.current
    }

    /// The rule.
    pub fn rule(&self) -> PruneRule {
        self.rule
    }

    /// One reduction: `L_T ← max(L_T − Δ, L_min)`.
    pub fn shrink(&mut self) -> u32 {
        self.current = self.current.saturating_sub(self.reduction).max(self.min);
        self.current
    }

    /// The reference's `__call__(global_step, clip_ratio)`: applies the rule at `step` and returns
    /// the limit. `clip_ratio` is the batch's fraction of truncated responses (`None` when not
    /// measured, the reference's `−1`); only [`PruneRule::ClipRatio`] reads it.
    ///
    /// # Errors
    /// `InvalidParam` for a clip ratio outside `[0, 1]` (NaN included).
    pub fn step(&mut self, step: u64, clip_ratio: Option<f64>) -> Result<u32> {
        if let Some(c) = clip_ratio {
            if !(0.0..=1.0).contains(&c) {
                return Err(Error::InvalidParam {
                    name: "clip_ratio",
                    value: c,
                    expected: "a ratio in [0, 1]",
                });
            }
        }
        match self.rule {
            PruneRule::Constant => self.current = self.init,
            PruneRule::Interval { every } => {
                if step >= self.start_step && (step - self.start_step) % every == 0 {
                    self.shrink();
                }
            }
            PruneRule::ClipRatio { target, times } => {
                let Some(c) = clip_ratio.or(self.last_clip_ratio) else {
                    return Ok(self.current);
                };
                if step >= self.start_step {
                    if c <= target {
                        self.good_steps = self.good_steps.saturating_add(1);
                    } else {
                        self.good_steps = 0;
                    }
                    if self.good_steps >= times {
                        self.shrink();
                        self.good_steps = 0;
                    }
                }
                self.last_clip_ratio = Some(c);
            }
        }
        Ok(self.current)
    }

    /// The truncation penalty at the current limit.
    ///
    /// # Errors
    /// As [`Truncation::new`].
    pub fn truncation<F: Real>(&self, mode: TruncationMode<F>) -> Result<Truncation<F>> {
        Truncation::new(self.current, mode)
    }
}

/// `ThinkPrune` as a [`RewardTerm`]: the truncation penalty of `R = 1{correct}` at the schedule's
/// current limit, `r = R` if `L ≤ L_T`, else `ρ` (`Replace`) or `c·R` (`Scale`).
///
/// # Shapes
/// `lengths`, `correct`, `out`: `(B)`.
///
/// # Errors
/// `MissingInput` without `lengths` or `correct`; as [`Truncation::new`] for the mode.
///
/// # Examples
/// See [`PruneSchedule`].
#[derive(Clone, Copy, Debug)]
pub struct ThinkPruneTerm<'s, F> {
    /// What a truncated response gets.
    pub mode: TruncationMode<F>,
    /// The schedule (its current limit).
    pub schedule: &'s PruneSchedule,
}

impl<F: Real> RewardTerm<F> for ThinkPruneTerm<'_, F> {
    fn name(&self) -> &'static str {
        "thinkprune"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let (lengths, correct) = (batch.lengths()?, batch.correct()?);
        check3(out.len(), lengths, correct)?;
        let t = self.schedule.truncation(self.mode)?;
        for ((o, &l), &c) in out.iter_mut().zip(lengths).zip(correct) {
            let r = if c { F::ONE } else { F::ZERO };
            *o = t.value(r, l > self.schedule.limit());
        }
        super::check_output("truncated reward", out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_hand_values() {
        // CLI defaults (0, 1; −1, 0), L_max = 100: L = 50 → midpoint; wrong: −1 at 0, rising.
        let c = CosineLength::<f64>::new(100, (1.0, 0.0), (-1.0, 0.0), 0.0).unwrap();
        assert!((c.value(50, true).unwrap() - 0.5).abs() < 1e-15);
        assert!((c.value(50, false).unwrap() + 0.5).abs() < 1e-15);
        // L = 25: cos(π/4) → 0.5·(1 + 0.7071…) = 0.853553…
        assert!((c.value(25, true).unwrap() - 0.853_553_390_593_273_7).abs() < 1e-15);
        assert_eq!(c.value(84, true).unwrap(), 0.0); // 84 + 16 ≥ 100
        assert!(CosineLength::<f64>::new(100, (1.0, 0.0), (1.0, 0.0), 0.0).is_err());
    }

    #[test]
    fn overlong_uncapped() {
        let o = Overlong::<f64>::new(100, 20, 2.0).unwrap().with_cap(false);
        assert_eq!(o.value(90).unwrap(), -1.0);
        assert_eq!(o.value(120).unwrap(), -4.0);
        assert!(Overlong::<f64>::new(10, 20, 1.0).is_err());
    }

    #[test]
    fn group_penalty_singletons() {
        let g = GroupIndex::uniform(2, 2).unwrap();
        let mut out = [0.0f64; 2];
        let p = GroupLengthPenalty::<f64>::new(0.4, 1e-6).unwrap();
        p.rewards(&mut out, &[100, 50], &[true, false], &g).unwrap();
        assert_eq!(out, [-0.2, 0.0]);
        let p = p.with_singleton(LengthSingleton::Reference);
        p.rewards(&mut out, &[100, 50], &[true, false], &g).unwrap();
        // σ(100/(1 + 1e-6)) rounds to 1.
        assert_eq!(out, [-0.4, 0.0]);
        let k = KimiLength::<f64>::default().with_singleton(LengthSingleton::Reference);
        let g1 = GroupIndex::uniform(1, 1).unwrap();
        let mut o1 = [0.0f64];
        k.rewards(&mut o1, &[3], &[true], None, &g1).unwrap();
        // λ = 0.5 − 3/(1 + 1e-6).
        assert!((o1[0] - 0.4 * (0.5 - 3.0 / (1.0 + 1e-6))).abs() < 1e-15);
        let k = KimiLength::<f64>::default();
        k.rewards(&mut o1, &[3], &[true], None, &g1).unwrap();
        assert_eq!(o1, [0.0]);
    }
}
