//! Outcome rewards: binary correctness, reward-flipping noise, and the reasoning-pattern calibration
//! of a noisy reward model.

use crate::error::{Error, Result, ensure_finite, ensure_len, param_finite, param_in};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor};
use crate::real::Real;
use crate::rng::RandomSource;

use super::compose::{Batch, RewardTerm};

/// Binary correctness reward, with an optional value for malformed responses.
///
/// # Definition
/// `r = malformed` if the response is not well formed, else `r = correct` if verified correct, else
/// `r = wrong`. Defaults `(correct, wrong, malformed) = (1, 0, 0)`. [`Correctness::laser`] is the
/// LASER code's `hf_math_verifier` score `(1, −0.5, −1)`[^1]; [`Correctness::oreal`] is OREAL's
/// `(1, −1, −1)`[^2]. With [`Correctness::with_format_check`]`(false)` the well-formedness flag is
/// not read (`r = correct` or `wrong` from the answer alone), so that a separate [`WellFormed`]
/// term can score the format, as in DeepSeek-R1's accuracy + format rewards[^3].
///
/// # Shapes
/// `out`, `correct`: `(B)`; `well_formed`: `(B)` or absent (all well formed).
///
/// # Errors
/// [`Correctness::new`]: [`Error::InvalidParam`] for a non-finite value. [`Correctness::rewards`]:
/// [`Error::LengthMismatch`]. As a [`RewardTerm`]: [`Error::MissingInput`] without `correct`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Correctness;
///
/// let laser = Correctness::<f32>::laser();
/// let mut out = [0.0f32; 3];
/// laser.rewards(&mut out, &[true, false, true], Some(&[true, true, false]))?;
/// assert_eq!(out, [1.0, -0.5, -1.0]);
/// // The answer alone: the correct but malformed third response scores 1.
/// laser.with_format_check(false).rewards(&mut out, &[true, false, true], Some(&[true, true, false]))?;
/// assert_eq!(out, [1.0, -0.5, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Liu et al. (2025), *Learn to Reason Efficiently with Adaptive Length-based Reward
///     Shaping*, arXiv:2505.15612 (`hkust-nlp/Laser`, `hf_math_verifier.py`).
///
/// [^2]: Lyu et al. (2025), *Exploring the Limit of Outcome Reward for Learning Mathematical
///     Reasoning*, arXiv:2502.06781.
///
/// [^3]: DeepSeek-AI (2025), *DeepSeek-R1*, arXiv:2501.12948 (Sec. 2.2.2, rule-based rewards:
///     an accuracy reward and a format reward).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Correctness<F> {
    correct: F,
    wrong: F,
    malformed: F,
    /// Whether `well_formed` is read (absent in older serialized values: read).
    #[cfg_attr(feature = "serde", serde(default = "format_check_default"))]
    format_check: bool,
}

/// Serialized [`Correctness`] values without `format_check` read the flag, as before it existed.
#[cfg(feature = "serde")]
fn format_check_default() -> bool {
    true
}

impl<F: Real> Default for Correctness<F> {
    fn default() -> Self {
        Self {
            correct: F::ONE,
            wrong: F::ZERO,
            malformed: F::ZERO,
            format_check: true,
        }
    }
}

impl<F: Real> Correctness<F> {
    /// Values for correct, wrong and malformed responses.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a non-finite value.
    pub fn new(correct: F, wrong: F, malformed: F) -> Result<Self> {
        Ok(Self {
            correct: param_finite("correct", correct)?,
            wrong: param_finite("wrong", wrong)?,
            malformed: param_finite("malformed", malformed)?,
            format_check: true,
        })
    }

    /// `false`: score the answer alone and never read `well_formed` (`malformed` is unused); `true`
    /// (the default): a malformed response scores `malformed`.
    pub fn with_format_check(mut self, on: bool) -> Self {
        self.format_check = on;
        self
    }

    /// LASER's verifier score: `1` correct, `−0.5` wrong but well formed, `−1` malformed.
    pub fn laser() -> Self {
        Self {
            correct: F::ONE,
            wrong: F::lit(-0.5),
            malformed: -F::ONE,
            format_check: true,
        }
    }

    /// OREAL's outcome reward: `1` correct, `−1` otherwise.
    pub fn oreal() -> Self {
        Self {
            correct: F::ONE,
            wrong: -F::ONE,
            malformed: -F::ONE,
            format_check: true,
        }
    }

    /// The reward of one response.
    #[inline]
    pub fn value(&self, correct: bool, well_formed: bool) -> F {
        if self.format_check && !well_formed {
            self.malformed
        } else if correct {
            self.correct
        } else {
            self.wrong
        }
    }

    /// Batch form.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for inputs of different lengths.
    pub fn rewards(
        &self,
        out: &mut [F],
        correct: &[bool],
        well_formed: Option<&[bool]>,
    ) -> Result<()> {
        ensure_len("out", correct.len(), out.len())?;
        match well_formed {
            Some(wf) => {
                ensure_len("well_formed", correct.len(), wf.len())?;
                for ((o, &c), &w) in out.iter_mut().zip(correct).zip(wf) {
                    *o = self.value(c, w);
                }
            }
            None => {
                for (o, &c) in out.iter_mut().zip(correct) {
                    *o = self.value(c, true);
                }
            }
        }
        Ok(())
    }
}

impl<F: Real> RewardTerm<F> for Correctness<F> {
    fn name(&self) -> &'static str {
        "correctness"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        self.rewards(out, batch.correct()?, batch.well_formed())
    }
}

/// Format reward from the verifier's well-formedness flag: the format term of an "accuracy +
/// format" reward, kept apart from correctness so that each is weighted and logged on its own.
///
/// # Definition
/// `r = ok` if the response is well formed, else `r = malformed`. Defaults `(ok, malformed) =
/// (1, 0)`, DeepSeek-R1's rule-based format reward[^1] (what "well formed" means is the verifier's
/// business: tags in R1, the task grammar in rewardkit's trainer). Pair it with
/// [`Correctness::with_format_check`]`(false)` so that a malformed response is not penalized twice.
///
/// # Shapes
/// `out`, `well_formed`: `(B)`.
///
/// # Errors
/// [`WellFormed::new`]: [`Error::InvalidParam`] for a non-finite value. [`WellFormed::rewards`]:
/// [`Error::LengthMismatch`]. As a [`RewardTerm`]: [`Error::MissingInput`] without `well_formed`
/// (a batch without the flag counts every response as well formed, which would make this term a
/// silent constant).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Batch, Correctness, Pipeline, WellFormed, Weighted};
///
/// let (correct, format) = (Correctness::<f32>::default().with_format_check(false), WellFormed::default());
/// let terms = [Weighted::sequence(&correct, 1.0), Weighted::sequence(&format, 0.5)];
/// let batch = Batch::new(3)?
///     .with_correct(&[true, true, false])?
///     .with_well_formed(&[true, false, true])?;
/// let (mut reward, mut parts) = ([0.0f32; 3], [0.0f32; 6]);
/// Pipeline::new(&terms)?.eval(&mut reward, &mut parts, &mut [], &batch)?;
/// assert_eq!(reward, [1.5, 1.0, 0.5]);
/// assert_eq!(parts, [1.0, 1.0, 0.0, /* well formed: */ 1.0, 0.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: DeepSeek-AI (2025), *DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via
///     Reinforcement Learning*, arXiv:2501.12948 (Sec. 2.2.2: accuracy rewards and format rewards).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WellFormed<F> {
    ok: F,
    malformed: F,
}

impl<F: Real> Default for WellFormed<F> {
    fn default() -> Self {
        Self {
            ok: F::ONE,
            malformed: F::ZERO,
        }
    }
}

impl<F: Real> WellFormed<F> {
    /// Values for well-formed and malformed responses.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a non-finite value.
    pub fn new(ok: F, malformed: F) -> Result<Self> {
        Ok(Self {
            ok: param_finite("ok", ok)?,
            malformed: param_finite("malformed", malformed)?,
        })
    }

    /// The reward of one response.
    #[inline]
    pub fn value(&self, well_formed: bool) -> F {
        if well_formed { self.ok } else { self.malformed }
    }

    /// Batch form.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for inputs of different lengths.
    pub fn rewards(&self, out: &mut [F], well_formed: &[bool]) -> Result<()> {
        ensure_len("out", well_formed.len(), out.len())?;
        for (o, &w) in out.iter_mut().zip(well_formed) {
            *o = self.value(w);
        }
        Ok(())
    }
}

impl<F: Real> RewardTerm<F> for WellFormed<F> {
    fn name(&self) -> &'static str {
        "well_formed"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let flags = batch.well_formed().ok_or(Error::MissingInput {
            what: "well_formed",
        })?;
        self.rewards(out, flags)
    }
}

/// What one reward-flip draw applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FlipUnit {
    /// One draw per prompt group, applied to all its samples (the reference code).
    #[default]
    Group,
    /// One draw per sample.
    Sample,
}

/// Reward-flipping noise for robustness studies ("The Climb Carves Wisdom Deeper Than the
/// Summit"[^1]).
///
/// # Definition
/// For each unit (a prompt group by default, or a sample), draw `u ~ U[0, 1)` from the caller's RNG
/// (`u = (x >> 11)·2⁻⁵³` for the next 64-bit word `x`, [`RandomSource::next_f64`]); if `u < rate`,
/// every reward of the unit becomes `lo + hi − r` (with the default `[lo, hi] = [0, 1]`: `1 − r`, the
/// reference's flip of a binary score), else it is unchanged. A response without an extractable
/// answer (`answered[i] = false`) is never flipped and keeps its score, as in the reference, where
/// such a response has no format score and keeps its correctness score 0 whatever the draw; so a
/// flipped group cannot reward a response for giving no answer. [`FlipNoise::with_flip_unanswered`]
/// flips them too (plain label noise over every response). One draw is made per unit whatever the
/// rate and whatever the answers, in group order (or row order), so the RNG stream depends on
/// neither; at `rate = 0` the output equals the input.
///
/// # Shapes
/// `out`, `scores`, `answered`: `(B)`; `groups` over `B` rows (needed for [`FlipUnit::Group`]).
///
/// # Errors
/// [`FlipNoise::new`]: [`Error::InvalidParam`] unless `rate ∈ [0, 1]`; `with_range`: unless
/// `lo`, `hi` are finite. [`FlipNoise::apply`]: [`Error::LengthMismatch`], [`Error::NonFinite`],
/// [`Error::MissingInput`] for group flipping without groups or, unless unanswered responses are
/// flipped too, without `answered`; [`Error::Overflow`] if `lo + hi − r` overflows.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{FlipNoise, FlipUnit};
/// use rewardkit_core::{GroupIndex, rng::SplitMix64};
///
/// let groups = GroupIndex::uniform(4, 2)?;
/// let noise = FlipNoise::new(1.0f64, FlipUnit::Group)?; // flip everything
/// let answered = [true, true, true, false]; // the last response gave no answer
/// let mut out = [0.0; 4];
/// noise.apply(&mut out, &[1.0, 0.0, 0.0, 0.0], Some(&answered), Some(&groups), &mut SplitMix64::new(0))?;
/// assert_eq!(out, [0.0, 1.0, 1.0, 0.0]);
/// // Plain label noise: every response flips.
/// let all = noise.with_flip_unanswered(true);
/// all.apply(&mut out, &[1.0, 0.0, 0.0, 0.0], None, Some(&groups), &mut SplitMix64::new(0))?;
/// assert_eq!(out, [0.0, 1.0, 1.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Lv et al. (2025), *The Climb Carves Wisdom Deeper Than the Summit: On the Noisy Rewards
///     in Learning to Reason*, arXiv:2505.22653 (`trestad/Noisy-Rewards-in-Learning-to-Reason`,
///     `verl/workers/reward_manager/naive.py`: `format_score is None` keeps the score;
///     `reward_score/math_score.py`: no extracted answer returns `(0.0, None)`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FlipNoise<F> {
    rate: F,
    unit: FlipUnit,
    lo: F,
    hi: F,
    flip_unanswered: bool,
}

impl<F: Real> FlipNoise<F> {
    /// Flipping at `rate` per `unit`, over the range `[0, 1]`, unanswered responses exempt.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless `rate ∈ [0, 1]`.
    pub fn new(rate: F, unit: FlipUnit) -> Result<Self> {
        Ok(Self {
            rate: param_in("rate", rate, F::ZERO, F::ONE, "a probability in [0, 1]")?,
            unit,
            lo: F::ZERO,
            hi: F::ONE,
            flip_unanswered: false,
        })
    }

    /// Flips over `[lo, hi]`: `r ↦ lo + hi − r`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a non-finite bound.
    pub fn with_range(mut self, lo: F, hi: F) -> Result<Self> {
        self.lo = param_finite("lo", lo)?;
        self.hi = param_finite("hi", hi)?;
        Ok(self)
    }

    /// `true` flips responses without an extractable answer as well (then `answered` may be
    /// omitted and is ignored); `false`, the default, keeps their score (the reference).
    pub fn with_flip_unanswered(mut self, flip: bool) -> Self {
        self.flip_unanswered = flip;
        self
    }

    /// The flip rate.
    pub fn rate(&self) -> F {
        self.rate
    }

    /// Applies the noise; `answered[i]` says whether response `i` has an extractable answer.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn apply<R: RandomSource + ?Sized>(
        &self,
        out: &mut [F],
        scores: &[F],
        answered: Option<&[bool]>,
        groups: Option<&GroupIndex<'_>>,
        rng: &mut R,
    ) -> Result<()> {
        self.run(out, scores, None, answered, groups, rng)
    }

    /// The reference reward manager's `add_format_reward_when_wrong` branch: the noise of
    /// [`FlipNoise::apply`], with the format score `fᵢ` (the reasoning-pattern reward,
    /// [`ReasoningPattern`](super::ReasoningPattern)) in place of the wrong answer's score.
    ///
    /// # Definition
    /// For an answered response in a unit that is **not flipped**: `r = fᵢ` if `sᵢ = lo` (a wrong
    /// answer), else `sᵢ`. In a **flipped** unit: `r = fᵢ` if `sᵢ = hi` (a correct answer, flipped
    /// to wrong), else `lo + hi − sᵢ`. An unanswered response keeps `sᵢ` (the reference has no
    /// format score for it). With the default `[lo, hi] = [0, 1]` on binary scores: correct → 1,
    /// wrong → `f`; flipped: correct → `f`, wrong → 1. The draws are those of `apply` (same order,
    /// same count), so for the same seed the two differ only where a format score is used.
    ///
    /// # Shapes
    /// `out`, `scores`, `format`, `answered`: `(B)`.
    ///
    /// # Errors
    /// As [`FlipNoise::apply`]; [`Error::LengthMismatch`] and [`Error::NonFinite`] for `format`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::{FlipNoise, FlipUnit};
    /// use rewardkit_core::{GroupIndex, rng::SplitMix64};
    /// let groups = GroupIndex::uniform(4, 2)?;
    /// let scores = [1.0, 0.0, 1.0, 0.0];
    /// let format = [0.3, 0.2, 0.6, 0.1];
    /// let mut out = [0.0; 4];
    /// // Rate 0: correct keep 1, wrong get their format score.
    /// let none = FlipNoise::new(0.0f64, FlipUnit::Group)?;
    /// none.apply_format(&mut out, &scores, &format, Some(&[true; 4]), Some(&groups), &mut SplitMix64::new(0))?;
    /// assert_eq!(out, [1.0, 0.2, 1.0, 0.1]);
    /// // Rate 1: correct get their format score, wrong get 1.
    /// let all = FlipNoise::new(1.0f64, FlipUnit::Group)?;
    /// all.apply_format(&mut out, &scores, &format, Some(&[true; 4]), Some(&groups), &mut SplitMix64::new(0))?;
    /// assert_eq!(out, [0.3, 1.0, 0.6, 1.0]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn apply_format<R: RandomSource + ?Sized>(
        &self,
        out: &mut [F],
        scores: &[F],
        format: &[F],
        answered: Option<&[bool]>,
        groups: Option<&GroupIndex<'_>>,
        rng: &mut R,
    ) -> Result<()> {
        ensure_len("format", scores.len(), format.len())?;
        ensure_finite("format", format)?;
        self.run(out, scores, Some(format), answered, groups, rng)
    }

    fn run<R: RandomSource + ?Sized>(
        &self,
        out: &mut [F],
        scores: &[F],
        format: Option<&[F]>,
        answered: Option<&[bool]>,
        groups: Option<&GroupIndex<'_>>,
        rng: &mut R,
    ) -> Result<()> {
        ensure_len("out", scores.len(), out.len())?;
        ensure_finite("scores", scores)?;
        let answered = if self.flip_unanswered {
            None
        } else {
            let a = answered.ok_or(Error::MissingInput { what: "answered" })?;
            ensure_len("answered", scores.len(), a.len())?;
            Some(a)
        };
        let rate = self.rate.as_f64();
        let (lo, hi) = (self.lo, self.hi);
        // The reward of row `i` with score `s` in a unit whose draw is `flip`.
        let value = move |i: usize, flip: bool, s: F| -> F {
            if !answered.is_none_or(|a| a.get(i).copied().unwrap_or(false)) {
                return s;
            }
            let f = format.and_then(|f| f.get(i).copied());
            match (flip, f) {
                (true, Some(f)) if s == hi => f,
                (false, Some(f)) if s == lo => f,
                (true, _) => lo + hi - s,
                (false, _) => s,
            }
        };
        match self.unit {
            FlipUnit::Sample => {
                for (i, (o, &s)) in out.iter_mut().zip(scores).enumerate() {
                    let flip = rng.next_f64() < rate;
                    *o = value(i, flip, s);
                }
            }
            FlipUnit::Group => {
                let groups = groups.ok_or(Error::MissingInput { what: "groups" })?;
                groups.check_rows("scores", scores.len())?;
                struct V<'a, F, R: ?Sized, P> {
                    out: &'a mut [F],
                    scores: &'a [F],
                    rate: f64,
                    value: P,
                    rng: &'a mut R,
                }
                impl<F: Real, R: RandomSource + ?Sized, P: Fn(usize, bool, F) -> F> GroupVisitor
                    for V<'_, F, R, P>
                {
                    fn visit<G: GroupRows>(&mut self, _g: usize, rows: G) -> Result<()> {
                        let flip = self.rng.next_f64() < self.rate;
                        let (scores, value) = (self.scores, &self.value);
                        rows.fill(self.out, |i| {
                            value(i, flip, scores.get(i).copied().unwrap_or(F::ZERO))
                        });
                        Ok(())
                    }
                }
                groups.visit(&mut V {
                    out: &mut *out,
                    scores,
                    rate,
                    value,
                    rng,
                })?;
            }
        }
        super::check_output("flipped reward", out)
    }
}

/// Calibration of a noisy reward model with the reasoning-pattern reward (Lv et al.[^1]).
///
/// # Definition
/// `r' = min(cap, r + c·RPR)` if `r < τ`, else `r' = r`. Defaults `c = 0.1`, `τ = 0.5`, `cap = 1`
/// (the reference's `add_format_reward_when_wrong` path). RPR values come from
/// [`ReasoningPattern`](super::ReasoningPattern) (behind `alloc`) or the caller.
///
/// # Shapes
/// `out`, `rm`, `rpr`: `(B)`.
///
/// # Errors
/// [`RprCalibration::new`]: [`Error::InvalidParam`] for a negative `c` or non-finite value.
/// [`RprCalibration::apply`]: [`Error::LengthMismatch`], [`Error::NonFinite`], [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::RprCalibration;
/// let cal = RprCalibration::<f64>::default();
/// let mut out = [0.0; 3];
/// cal.apply(&mut out, &[0.2, 0.7, 0.95], &[0.5, 0.5, 1.0])?;
/// assert!((out[0] - 0.25).abs() < 1e-15); // 0.2 + 0.1·0.5
/// assert_eq!(out[1], 0.7);                 // above the threshold: unchanged
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Lv et al. (2025), arXiv:2505.22653.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RprCalibration<F> {
    coef: F,
    threshold: F,
    cap: F,
}

impl<F: Real> Default for RprCalibration<F> {
    fn default() -> Self {
        Self {
            coef: F::lit(0.1),
            threshold: F::lit(0.5),
            cap: F::ONE,
        }
    }
}

impl<F: Real> RprCalibration<F> {
    /// Coefficient `c >= 0`, threshold `τ` and cap.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a negative `c` or a non-finite value.
    pub fn new(coef: F, threshold: F, cap: F) -> Result<Self> {
        Ok(Self {
            coef: crate::error::param_nonneg("coef", coef)?,
            threshold: param_finite("threshold", threshold)?,
            cap: param_finite("cap", cap)?,
        })
    }

    /// The calibrated reward of one response.
    #[inline]
    pub fn value(&self, rm: F, rpr: F) -> F {
        if rm < self.threshold {
            (rm + self.coef * rpr).min(self.cap)
        } else {
            rm
        }
    }

    /// Batch form.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn apply(&self, out: &mut [F], rm: &[F], rpr: &[F]) -> Result<()> {
        ensure_len("out", rm.len(), out.len())?;
        ensure_len("rpr", rm.len(), rpr.len())?;
        ensure_finite("rm", rm)?;
        ensure_finite("rpr", rpr)?;
        for ((o, &r), &p) in out.iter_mut().zip(rm).zip(rpr) {
            *o = self.value(r, p);
        }
        super::check_output("calibrated reward", out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn correctness_values() {
        let c = Correctness::<f64>::new(2.0, -1.0, -3.0).unwrap();
        assert_eq!(c.value(true, true), 2.0);
        assert_eq!(c.value(false, true), -1.0);
        assert_eq!(c.value(true, false), -3.0);
        assert!(Correctness::<f64>::new(f64::NAN, 0.0, 0.0).is_err());
        let answer_only = c.with_format_check(false);
        assert_eq!(answer_only.value(true, false), 2.0);
        assert_eq!(answer_only.value(false, false), -1.0);
        assert_eq!(answer_only.with_format_check(true), c);
    }

    #[test]
    fn well_formed_values() {
        let w = WellFormed::<f32>::new(0.5, -2.0).unwrap();
        let mut out = [0.0f32; 3];
        w.rewards(&mut out, &[true, false, true]).unwrap();
        assert_eq!(out, [0.5, -2.0, 0.5]);
        assert_eq!(WellFormed::<f64>::default().value(false), 0.0);
        assert!(WellFormed::<f64>::new(1.0, f64::NEG_INFINITY).is_err());
    }

    #[test]
    fn flip_rate_zero_is_identity_and_sample_unit() {
        let s = [0.0f32, 1.0, 0.5];
        let mut out = [9.0f32; 3];
        let all = [true; 3];
        let n = FlipNoise::new(0.0, FlipUnit::Sample).unwrap();
        n.apply(&mut out, &s, Some(&all), None, &mut SplitMix64::new(1))
            .unwrap();
        assert_eq!(out, s);
        let n = FlipNoise::new(1.0, FlipUnit::Sample).unwrap();
        n.apply(&mut out, &s, Some(&all), None, &mut SplitMix64::new(1))
            .unwrap();
        assert_eq!(out, [1.0, 0.0, 0.5]);
        // The second response gave no answer: it keeps its score.
        n.apply(
            &mut out,
            &s,
            Some(&[true, false, true]),
            None,
            &mut SplitMix64::new(1),
        )
        .unwrap();
        assert_eq!(out, [1.0, 1.0, 0.5]);
        let g = FlipNoise::new(0.5f32, FlipUnit::Group).unwrap();
        assert_eq!(
            g.apply(&mut out, &s, Some(&all), None, &mut SplitMix64::new(1)),
            Err(Error::MissingInput { what: "groups" })
        );
        assert_eq!(
            n.apply(&mut out, &s, None, None, &mut SplitMix64::new(1)),
            Err(Error::MissingInput { what: "answered" })
        );
        assert!(FlipNoise::new(1.5f32, FlipUnit::Group).is_err());
    }
}
