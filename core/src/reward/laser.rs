//! LASER, LASER-D and LASER-DE: length-based step rewards with fixed, or difficulty-aware adaptive,
//! target lengths.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::error::{Error, Result, ensure_len, param_finite, param_nonneg};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor};
use crate::real::Real;

use super::compose::{Batch, RewardTerm};
use super::{check_lengths, param_len};

/// How the LASER step applies (`length_reward_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LaserMode {
    /// `+α` if `L ≤ L_T`, else 0 (the default).
    #[default]
    Reward,
    /// `−α` if `L > L_T`, else 0.
    Penalty,
    /// `+α` if `L ≤ L_T`, else `−α`.
    Hybrid,
}

impl LaserMode {
    #[inline]
    fn step<F: Real>(self, alpha: F, len: u32, target: u32) -> F {
        let short = len <= target;
        match (self, short) {
            (Self::Reward, true) | (Self::Hybrid, true) => alpha,
            (Self::Penalty, false) | (Self::Hybrid, false) => -alpha,
            _ => F::ZERO,
        }
    }
}

/// LASER's length step reward (Liu et al.[^1]).
///
/// # Definition
/// In the unified form `R̂ = C(y) + λ(y)·S(y)` with `λ = 1{correct}`, LASER's length term is the step
/// `S = α·1{L ≤ L_T}` ([`LaserMode::Reward`]); the code also offers `−α·1{L > L_T}`
/// ([`LaserMode::Penalty`]) and `±α` ([`LaserMode::Hybrid`]). Only correct, well-formed responses
/// (the code's `score == 1.0`) get the term; others get 0. Defaults `α = 0.5`, `L_T = 4096` (released
/// runs use 2048, 4096, 8192). For correct answers, shorter never scores lower.
///
/// # Shapes
/// As a term: `lengths`, `correct`, optional `well_formed`, `out`: `(B)`.
///
/// # Errors
/// [`Laser::new`]: [`Error::InvalidParam`] for `α < 0` or `L_T = 0`. `value`/term: `InvalidParam`
/// for a zero length; `MissingInput` for a missing input.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Laser, LaserMode};
/// let laser = Laser::<f32>::new(0.5, 4096, LaserMode::Reward)?;
/// assert_eq!(laser.value(4096, true)?, 0.5);
/// assert_eq!(laser.value(4097, true)?, 0.0);
/// assert_eq!(laser.value(100, false)?, 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Liu et al. (2025), *Learn to Reason Efficiently with Adaptive Length-based Reward
///     Shaping*, arXiv:2505.15612 (`hkust-nlp/Laser`, `length_penalty.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Laser<F> {
    alpha: F,
    target: u32,
    mode: LaserMode,
}

impl<F: Real> Default for Laser<F> {
    fn default() -> Self {
        Self {
            alpha: F::lit(0.5),
            target: 4096,
            mode: LaserMode::Reward,
        }
    }
}

impl<F: Real> Laser<F> {
    /// Scale `α >= 0`, target length `L_T >= 1` and mode.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(alpha: F, target: u32, mode: LaserMode) -> Result<Self> {
        Ok(Self {
            alpha: param_nonneg("alpha", alpha)?,
            target: param_len("target", target)?,
            mode,
        })
    }

    /// The length term of one response (`correct` meaning correct and well formed).
    ///
    /// # Errors
    /// `InvalidParam` for `len = 0`.
    pub fn value(&self, len: u32, correct: bool) -> Result<F> {
        param_len("lengths", len)?;
        Ok(if correct {
            self.mode.step(self.alpha, len, self.target)
        } else {
            F::ZERO
        })
    }
}

impl<F: Real> RewardTerm<F> for Laser<F> {
    fn name(&self) -> &'static str {
        "laser"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let (lengths, correct) = (batch.lengths()?, batch.correct()?);
        ensure_len("out", lengths.len(), out.len())?;
        check_lengths("lengths", lengths)?;
        let wf = batch.well_formed();
        for (i, ((o, &l), &c)) in out.iter_mut().zip(lengths).zip(correct).enumerate() {
            let ok = c && wf.is_none_or(|w| w.get(i).copied().unwrap_or(true));
            *o = self.value(l, ok)?;
        }
        Ok(())
    }
}

/// The counts and the weight of one [`LaserAdaptive`] batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveStats<F> {
    /// Responses with the correct score `r_c` (`n_correct`).
    pub correct: usize,
    /// Responses with the wrong-but-well-formed score `r_w` (`n_incorrect`).
    pub incorrect: usize,
    /// Every other response (`n_clipped`: format errors, above all truncated responses).
    pub clipped: usize,
    /// The accuracy weight `β`; `None` when no response is graded (`n_correct + n_incorrect = 0`),
    /// where the reference divides by zero and rewardkit leaves every score unchanged.
    pub beta: Option<F>,
}

/// LASER's adaptive reward: the correctness score weighted by the clip ratio (`compute_adaptive_reward`
/// with `compute_beta`, Liu et al.[^1]).
///
/// # Definition
/// Over a batch of verifier scores, `n_correct = #{s = r_c}`, `n_incorrect = #{s = r_w}` and
/// `n_clipped` = the rest (format errors; in LASER mostly responses truncated at the length limit).
/// With the clip ratio `c = n_clipped/B` and the correct ratio `p = n_correct/(n_correct + n_incorrect)`,
/// `E_acc = r_c·p − r_w·(1 − p)` and the accuracy weight
/// `β = α·c / ((1 − α)·(1 − c)·E_acc)` (`compute_beta`), every graded score is multiplied by `β`
/// (`s ↦ β·s` for `s ∈ {r_c, r_w}`); clipped scores are unchanged. Defaults: `α = 0.9`
/// (`acc_weight`), `r_c = 1`, `r_w = −0.5` (the verifier's scores, [`Correctness::laser`]).
/// `E_acc > 0` because `r_c > 0 > r_w`; `c = 0` (nothing clipped) gives `β = 0`, as in the reference.
/// **No graded response** (`n_correct + n_incorrect = 0`, so `c = 1`): the reference divides by zero;
/// rewardkit returns `beta: None` and leaves every score unchanged (there is nothing to weight).
///
/// # Shapes
/// `out`, `scores`: `(B)`. As a [`RewardTerm`]: `correct`, optional `well_formed`, `out`: `(B)`;
/// the scores are [`Correctness::laser`]'s with the clipped value `r_x` (default `−1`) for malformed
/// responses.
///
/// # Errors
/// [`LaserAdaptive::new`]: [`Error::InvalidParam`] unless `α ∈ [0, 1)`. `with_scores`: unless
/// `r_c > 0`, `r_w < 0` and `r_x` are finite and `r_x ∉ {r_c, r_w}`. [`LaserAdaptive::beta`]:
/// `InvalidParam` unless `c ∈ [0, 1)` and `p ∈ [0, 1]`; [`Error::Overflow`] for a `β` beyond the
/// float range (`α` or `c` next to 1, or tiny scores). [`LaserAdaptive::apply`]: [`Error::Empty`],
/// [`Error::LengthMismatch`], [`Error::NonFinite`], [`Error::Overflow`] (`β` or `β·s` beyond the
/// float range).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::LaserAdaptive;
/// let ad = LaserAdaptive::<f64>::default(); // α = 0.9
/// // 2 correct, 1 wrong, 1 clipped: c = 1/4, p = 2/3, E = 2/3 + 0.5/3 = 5/6,
/// // β = 0.9·0.25 / (0.1·0.75·5/6) = 3.6.
/// let mut out = [0.0; 4];
/// let stats = ad.apply(&mut out, &[1.0, 1.0, -0.5, -1.0])?;
/// assert!((stats.beta.unwrap() - 3.6).abs() < 1e-12);
/// assert!((out[0] - 3.6).abs() < 1e-12 && (out[2] + 1.8).abs() < 1e-12);
/// assert_eq!(out[3], -1.0); // clipped: unchanged
/// // Nothing graded: no weight, scores unchanged (the reference divides by zero).
/// assert_eq!(ad.apply(&mut out[..2], &[-1.0, -1.0])?.beta, None);
/// assert_eq!(&out[..2], &[-1.0, -1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Liu et al. (2025), arXiv:2505.15612 (`hkust-nlp/Laser`,
///     `verl/utils/reward_score/length_penalty.py`: `compute_adaptive_reward`, `compute_beta`).
///
/// [`Correctness::laser`]: super::Correctness::laser
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LaserAdaptive<F> {
    acc_weight: F,
    correct: F,
    wrong: F,
    clipped: F,
}

impl<F: Real> Default for LaserAdaptive<F> {
    fn default() -> Self {
        Self {
            acc_weight: F::lit(0.9),
            correct: F::ONE,
            wrong: F::lit(-0.5),
            clipped: -F::ONE,
        }
    }
}

impl<F: Real> LaserAdaptive<F> {
    /// Accuracy weight `α ∈ [0, 1)` (`acc_weight`); scores at their defaults.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(acc_weight: F) -> Result<Self> {
        let a = crate::error::param_in(
            "acc_weight",
            acc_weight,
            F::ZERO,
            F::ONE,
            "a number in [0, 1)",
        )?;
        if a == F::ONE {
            return Err(crate::error::invalid("acc_weight", a, "a number in [0, 1)"));
        }
        Ok(Self {
            acc_weight: a,
            ..Self::default()
        })
    }

    /// The verifier's correct score `r_c > 0`, wrong score `r_w < 0` (the reference's `r_c`,
    /// `r_w`, which also classify the scores) and the clipped score `r_x` the term writes for a
    /// malformed response.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_scores(mut self, correct: F, wrong: F, clipped: F) -> Result<Self> {
        let c = crate::error::param_positive("correct", correct)?;
        let w = param_finite("wrong", wrong)?;
        if w >= F::ZERO {
            return Err(crate::error::invalid("wrong", w, "a wrong score < 0"));
        }
        let x = param_finite("clipped", clipped)?;
        if x == c || x == w {
            return Err(crate::error::invalid(
                "clipped",
                x,
                "a clipped score other than the correct and wrong scores",
            ));
        }
        self.correct = c;
        self.wrong = w;
        self.clipped = x;
        Ok(self)
    }

    /// `compute_beta`: the accuracy weight `β` for clip ratio `c` and correct ratio `p`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn beta(&self, clip_ratio: F, correct_ratio: F) -> Result<F> {
        let c = crate::error::param_in(
            "clip_ratio",
            clip_ratio,
            F::ZERO,
            F::ONE,
            "a ratio in [0, 1)",
        )?;
        if c == F::ONE {
            return Err(crate::error::invalid("clip_ratio", c, "a ratio in [0, 1)"));
        }
        let p = crate::error::param_in(
            "correct_ratio",
            correct_ratio,
            F::ZERO,
            F::ONE,
            "a ratio in [0, 1]",
        )?;
        super::compose::finite_or_overflow(self.beta_f64(c.as_f64(), p.as_f64()), "adaptive beta")
    }

    fn beta_f64(&self, c: f64, p: f64) -> f64 {
        let (a, rc, rw) = (
            self.acc_weight.as_f64(),
            self.correct.as_f64(),
            self.wrong.as_f64(),
        );
        let exp_acc = rc * p - rw * (1.0 - p);
        (a * c) / ((1.0 - a) * (1.0 - c) * exp_acc)
    }

    /// Counts the scores and computes `β` (`None` when nothing is graded).
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::NonFinite`], [`Error::Overflow`].
    pub fn stats(&self, scores: &[F]) -> Result<AdaptiveStats<F>> {
        crate::error::ensure_nonempty("scores", scores.len())?;
        crate::error::ensure_finite("scores", scores)?;
        let correct = scores.iter().filter(|&&s| s == self.correct).count();
        let incorrect = scores.iter().filter(|&&s| s == self.wrong).count();
        let clipped = scores.len() - correct - incorrect;
        let graded = correct + incorrect;
        let beta = if graded == 0 {
            None
        } else {
            let c = crate::real::usize_f64(clipped) / crate::real::usize_f64(scores.len());
            let p = crate::real::usize_f64(correct) / crate::real::usize_f64(graded);
            Some(super::compose::finite_or_overflow(
                self.beta_f64(c, p),
                "adaptive beta",
            )?)
        };
        Ok(AdaptiveStats {
            correct,
            incorrect,
            clipped,
            beta,
        })
    }

    /// `compute_adaptive_reward`: writes `β·s` for graded scores and `s` otherwise.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn apply(&self, out: &mut [F], scores: &[F]) -> Result<AdaptiveStats<F>> {
        ensure_len("out", scores.len(), out.len())?;
        let stats = self.stats(scores)?;
        for (o, &s) in out.iter_mut().zip(scores) {
            *o = match stats.beta {
                Some(b) if s == self.correct || s == self.wrong => b * s,
                _ => s,
            };
        }
        super::check_output("adaptive reward", out)?;
        Ok(stats)
    }
}

impl<F: Real> RewardTerm<F> for LaserAdaptive<F> {
    fn name(&self) -> &'static str {
        "laser_adaptive"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let correct = batch.correct()?;
        ensure_len("out", correct.len(), out.len())?;
        let wf = batch.well_formed();
        for (i, (o, &c)) in out.iter_mut().zip(correct).enumerate() {
            let formed = wf.is_none_or(|w| w.get(i).copied().unwrap_or(true));
            *o = if !formed {
                self.clipped
            } else if c {
                self.correct
            } else {
                self.wrong
            };
        }
        let scores = &*out;
        let stats = self.stats(scores)?;
        if let Some(b) = stats.beta {
            for o in out.iter_mut() {
                if *o == self.correct || *o == self.wrong {
                    *o = b * *o;
                }
            }
        }
        super::check_output("adaptive reward", out)
    }
}

/// A prompt's difficulty band in LASER-D, from its group accuracy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Difficulty {
    /// Hard prompts (accuracy below 1/3).
    Low,
    /// Medium prompts.
    Medium,
    /// Easy prompts (accuracy at least 2/3).
    High,
}

impl Difficulty {
    /// All bands, in state order.
    pub const ALL: [Self; 3] = [Self::Low, Self::Medium, Self::High];

    /// The training-time band: `High` if `acc ≥ 2/3`, `Medium` if `1/3 ≤ acc < 2/3`, else `Low`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::Difficulty;
    /// assert_eq!(Difficulty::from_accuracy(2.0 / 3.0), Difficulty::High);
    /// assert_eq!(Difficulty::from_accuracy(0.25), Difficulty::Low);
    /// ```
    pub fn from_accuracy(acc: f64) -> Self {
        if acc >= 2.0 / 3.0 {
            Self::High
        } else if acc >= 1.0 / 3.0 {
            Self::Medium
        } else {
            Self::Low
        }
    }

    /// The monitor-time band of the reference's `count_accuracy_bands_metrics`: `Low` if
    /// `acc ≤ 1/3`, `Medium` if `1/3 < acc ≤ 2/3`, else `High` (ties land in the other band).
    pub fn from_monitor_accuracy(acc: f64) -> Self {
        if acc <= 1.0 / 3.0 {
            Self::Low
        } else if acc <= 2.0 / 3.0 {
            Self::Medium
        } else {
            Self::High
        }
    }

    #[inline]
    fn index(self) -> usize {
        match self {
            Self::Low => 0,
            Self::Medium => 1,
            Self::High => 2,
        }
    }
}

/// Which band boundaries the monitor uses (the reference code differs from training at exactly 1/3
/// and 2/3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MonitorBanding {
    /// [`Difficulty::from_monitor_accuracy`], as the reference (the default).
    #[default]
    Reference,
    /// [`Difficulty::from_accuracy`], the training-time boundaries.
    Training,
}

/// Rounding of the guaranteed number of correct responses per band (`round_method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Rounding {
    /// `lower_n = ⌊G·2/3⌋, ⌊G/3⌋, 1` and `⌊cov·lower_n⌋ ≥ n_expected` (the default).
    #[default]
    Floor,
    /// `lower_n = ⌈G·2/3⌉, ⌈G/3⌉, 1` and `cov·lower_n ≥ n_expected`.
    Ceil,
}

/// Candidate target lengths `T` of LASER-D (`get_length_threshold`).
///
/// # Definition
/// [`Thresholds::new`] (the reference): if `lower < 1024`: `[lower, 1024, 1024 + Δ, …]`, else
/// `[lower, lower + Δ, …]`, every value `< upper + Δ`. Default `(lower, upper, Δ) = (2048, 16384,
/// 1024)`. [`Thresholds::linear`]: `[lower, lower + Δ, …]` whatever `lower` is, for length scales far
/// below the reference's (with `upper < 1024` the reference grid is `[lower]` alone).
///
/// # Errors
/// [`Thresholds::new`], [`Thresholds::linear`]: `InvalidParam` for a zero value or `upper < lower`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Thresholds;
/// let t = Thresholds::new(512, 3072, 1024)?;
/// assert_eq!(t.iter().collect::<Vec<_>>(), [512, 1024, 2048, 3072]);
/// // The reference grid scaled by 1/512 (a 32-token budget instead of 16,384):
/// assert_eq!(Thresholds::new(4, 32, 2)?.iter().collect::<Vec<_>>(), [4]);
/// let small = Thresholds::linear(4, 12, 2)?;
/// assert_eq!(small.iter().collect::<Vec<_>>(), [4, 6, 8, 10, 12]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Thresholds {
    lower: u32,
    upper: u32,
    interval: u32,
    /// The reference's jump from `lower < 1024` to 1024 (absent in older serialized values: on).
    #[cfg_attr(feature = "serde", serde(default = "jump_default"))]
    jump_to_1024: bool,
}

/// Serialized [`Thresholds`] without `jump_to_1024` are the reference grid.
#[cfg(feature = "serde")]
fn jump_default() -> bool {
    true
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            lower: 2048,
            upper: 16384,
            interval: 1024,
            jump_to_1024: true,
        }
    }
}

impl Thresholds {
    /// Thresholds from `lower` to `upper` in steps of `interval`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(lower: u32, upper: u32, interval: u32) -> Result<Self> {
        param_len("lower", lower)?;
        param_len("interval", interval)?;
        if upper < lower {
            return Err(Error::InvalidParam {
                name: "upper",
                value: f64::from(upper),
                expected: "upper >= lower",
            });
        }
        Ok(Self {
            lower,
            upper,
            interval,
            jump_to_1024: true,
        })
    }

    /// The arithmetic grid `lower, lower + interval, …` up to `upper`, without the reference's jump
    /// to 1024 (see the type-level docs).
    ///
    /// # Errors
    /// As [`Thresholds::new`].
    pub fn linear(lower: u32, upper: u32, interval: u32) -> Result<Self> {
        Ok(Self {
            jump_to_1024: false,
            ..Self::new(lower, upper, interval)?
        })
    }

    /// The candidate lengths, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let end = u64::from(self.upper) + u64::from(self.interval);
        let step = u64::from(self.interval);
        let (head, start) = if self.jump_to_1024 && self.lower < 1024 {
            (Some(self.lower), 1024u64)
        } else {
            (None, u64::from(self.lower))
        };
        head.into_iter().chain(
            core::iter::successors(Some(start), move |v| Some(v + step))
                .take_while(move |&v| v < end)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        )
    }
}

/// A LASER-D target length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TargetLen {
    /// A configured target (before any monitor statistics), used as is.
    Fixed(u32),
    /// A monitor-derived threshold, capped by the current batch's longest response; `None` when no
    /// threshold qualified (the target is then the batch's longest response).
    Monitored(Option<u32>),
}

impl TargetLen {
    /// The target for a batch whose longest response has `batch_max` tokens.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::TargetLen;
    /// assert_eq!(TargetLen::Monitored(Some(4096)).resolve(3000), 3000);
    /// assert_eq!(TargetLen::Monitored(None).resolve(3000), 3000);
    /// assert_eq!(TargetLen::Fixed(8192).resolve(3000), 8192);
    /// ```
    pub fn resolve(self, batch_max: u32) -> u32 {
        match self {
            Self::Fixed(t) => t,
            Self::Monitored(Some(t)) => t.min(batch_max),
            Self::Monitored(None) => batch_max,
        }
    }
}

/// LASER-D's adaptive state: one target length per difficulty band, owned by the caller.
///
/// # Definition
/// Starts at [`TargetLen::Fixed`]`(default_target)` for every band; [`LaserDState::update`] recomputes
/// the targets from a monitor set (every `monitor_freq = 20` steps in the reference).
///
/// # Errors
/// [`LaserDState::update`]: [`Error::LengthMismatch`]; `InvalidParam` for a zero length.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Difficulty, LaserD, LaserDState, TargetLen, Thresholds};
/// use rewardkit_core::GroupIndex;
///
/// let params = LaserD::<f64>::default().with_thresholds(Thresholds::new(1024, 4096, 1024)?)?
///     .with_group_size(3)?;
/// let mut state = LaserDState::new(8192);
/// assert_eq!(state.target(Difficulty::High), TargetLen::Fixed(8192));
/// // One monitor prompt, 3 rollouts, all correct (high band): lower_n = ⌊3·2/3⌋ = 2.
/// let groups = GroupIndex::uniform(3, 3)?;
/// state.update(&params, &[900, 1500, 3000], &[true, true, true], &groups)?;
/// // cov(1024) = 1/3 → ⌊2/3⌋ = 0; cov(2048) = 2/3 → ⌊4/3⌋ = 1 ≥ 1: target 2048.
/// assert_eq!(state.target(Difficulty::High), TargetLen::Monitored(Some(2048)));
/// assert_eq!(state.target(Difficulty::Low), TargetLen::Monitored(None)); // empty band
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LaserDState {
    targets: [TargetLen; 3],
}

impl LaserDState {
    /// Every band at the configured `default_target` (the reference's `target_length`, 8192).
    pub fn new(default_target: u32) -> Self {
        Self {
            targets: [TargetLen::Fixed(default_target); 3],
        }
    }

    /// A state with the given targets of the bands `[Low, Medium, High]` (in
    /// [`Difficulty::ALL`] order): the way to restore a saved state without `serde` (the Python
    /// package pickles it this way).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::{Difficulty, LaserDState, TargetLen};
    /// let s = LaserDState::from_targets([TargetLen::Monitored(None), TargetLen::Fixed(8192),
    ///     TargetLen::Monitored(Some(2048))]);
    /// assert_eq!(s.target(Difficulty::High), TargetLen::Monitored(Some(2048)));
    /// assert_eq!(LaserDState::from_targets(s.targets()), s);
    /// ```
    pub fn from_targets(targets: [TargetLen; 3]) -> Self {
        Self { targets }
    }

    /// The targets of the bands, in [`Difficulty::ALL`] order.
    pub fn targets(&self) -> [TargetLen; 3] {
        self.targets
    }

    /// The target of a band.
    pub fn target(&self, level: Difficulty) -> TargetLen {
        self.targets
            .get(level.index())
            .copied()
            .unwrap_or(TargetLen::Monitored(None))
    }

    /// Recomputes every band's target from a monitor set: `G` rollouts of each monitor prompt with
    /// their lengths and verifier correctness (answer correct, format ignored, as in the reference).
    ///
    /// # Definition
    /// Bands from monitor accuracy (per [`MonitorBanding`]); `cov_b(L)` = fraction of all responses of
    /// band `b`'s prompts with length `≤ L` (0 for an empty band); `lower_n` per [`Rounding`];
    /// `L_A(b) = min{L ∈ T : ⌊cov_b(L)·lower_n⌋ ≥ n_expected}`, or none.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn update<F: Real>(
        &mut self,
        params: &LaserD<F>,
        lengths: &[u32],
        correct: &[bool],
        groups: &GroupIndex<'_>,
    ) -> Result<()> {
        groups.check_rows("lengths", lengths.len())?;
        groups.check_rows("correct", correct.len())?;
        check_lengths("lengths", lengths)?;
        let g = f64::from(params.group_size);
        let lower_n = |level: Difficulty| -> f64 {
            let raw = match level {
                Difficulty::High => g * 2.0 / 3.0,
                Difficulty::Medium => g / 3.0,
                Difficulty::Low => return 1.0,
            };
            match params.rounding {
                Rounding::Floor => num_traits::Float::floor(raw),
                Rounding::Ceil => num_traits::Float::ceil(raw),
            }
        };
        // Band totals once, then the coverage count per candidate threshold.
        let mut totals = [0usize; 3];
        count_bands(
            &mut totals,
            lengths,
            correct,
            groups,
            params.banding,
            u32::MAX,
        )?;
        let mut new = [TargetLen::Monitored(None); 3];
        for level in Difficulty::ALL {
            let i = level.index();
            let total = totals.get(i).copied().unwrap_or(0);
            let mut chosen = None;
            for t in params.thresholds.iter() {
                let mut covered = [0usize; 3];
                count_bands(&mut covered, lengths, correct, groups, params.banding, t)?;
                let c = covered.get(i).copied().unwrap_or(0);
                let ratio = if total == 0 {
                    0.0
                } else {
                    crate::real::usize_f64(c) / crate::real::usize_f64(total)
                };
                let n = ratio * lower_n(level);
                let n = match params.rounding {
                    Rounding::Floor => num_traits::Float::floor(n),
                    Rounding::Ceil => n,
                };
                if n >= f64::from(params.expected_correct) {
                    chosen = Some(t);
                    break;
                }
            }
            if let Some(slot) = new.get_mut(i) {
                *slot = TargetLen::Monitored(chosen);
            }
        }
        self.targets = new;
        Ok(())
    }
}

/// Counts, per band, the responses with length `≤ limit`.
fn count_bands(
    out: &mut [usize; 3],
    lengths: &[u32],
    correct: &[bool],
    groups: &GroupIndex<'_>,
    banding: MonitorBanding,
    limit: u32,
) -> Result<()> {
    struct V<'a> {
        out: &'a mut [usize; 3],
        lengths: &'a [u32],
        correct: &'a [bool],
        banding: MonitorBanding,
        limit: u32,
    }
    impl GroupVisitor for V<'_> {
        fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
            let n = rows.len();
            let k = rows.values(self.correct).filter(|&c| c).count();
            let acc = crate::real::usize_f64(k) / crate::real::usize_f64(n.max(1));
            let level = match self.banding {
                MonitorBanding::Reference => Difficulty::from_monitor_accuracy(acc),
                MonitorBanding::Training => Difficulty::from_accuracy(acc),
            };
            let c = rows
                .values(self.lengths)
                .filter(|&l| l <= self.limit)
                .count();
            if let Some(o) = self.out.get_mut(level.index()) {
                *o += c;
            }
            Ok(())
        }
    }
    groups.visit(&mut V {
        out,
        lengths,
        correct,
        banding,
        limit,
    })
}

/// LASER-D (difficulty-aware adaptive targets) and LASER-DE (plus exploration) (Liu et al.[^1]).
///
/// # Definition
/// A training prompt's difficulty is its group accuracy `acc = #{correct ∧ well formed}/|g|`
/// ([`Difficulty::from_accuracy`]); its target is `L_A = state.target(level).resolve(max_B L)`.
/// - LASER-D ([`LaserD::rewards`]): LASER's step with `L_T = L_A` for correct, well-formed answers.
/// - LASER-DE ([`LaserD::rewards_de`]): correct ∧ well formed ∧ `L ≤ L_A` ⇒ `+α`; wrong ∧ well
///   formed ∧ `L > L_A` ∧ not repetitive ⇒ `+α` (exploration bonus); else 0.
///
/// Defaults (the reference's): `α = 0.5`, [`LaserMode::Reward`], [`Thresholds::default`], `G = 8`,
/// `n_expected = 1`, [`Rounding::Floor`], [`MonitorBanding::Reference`]. Repetition flags for
/// LASER-DE come from [`laser_repetition_start`] (behind `alloc`) or the caller.
///
/// **The reference's repetition check never fires.** `compute_length_reward_larse_de` passes
/// `detect_token_ngram_repetition_optimized_reversed` a `torch` tensor (a slice of
/// `data.batch['responses'][i]`), not a list of ints. The detector keys its dictionaries by
/// `tuple(tokens[i:i+n])`, a tuple of fresh 0-d tensors, and `torch.Tensor.__hash__` is the
/// object's identity (`id`), so no two n-grams are ever the same key: every position list has one
/// entry (below the repeat threshold 2), the `len(set(ngram)) == 1` skip never applies, and the
/// `pattern in pattern_positions` check never matches. The detector returns `len(tokens)`, so
/// `is_repeated = true_length < response_length[i]` is always false and every wrong, well-formed
/// response longer than its target gets the bonus. rewardkit's detector is the one the code
/// intends (the function on a list of token ids); to reproduce the reference's numbers, pass
/// `repetitive = [false; B]` to [`LaserD::rewards_de`].
///
/// # Shapes
/// `out`, `lengths`, `correct`, `well_formed`, `repetitive`: `(B)`; `groups` over `B` rows.
///
/// # Errors
/// Builders: `InvalidParam` for `α < 0`, `G = 0`. Rewards: [`Error::LengthMismatch`],
/// `InvalidParam` for a zero length.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{LaserD, LaserDState};
/// use rewardkit_core::GroupIndex;
///
/// let params = LaserD::<f64>::default();
/// let state = LaserDState::new(100); // before monitoring: L_A = 100 for every band
/// let groups = GroupIndex::uniform(4, 4)?;
/// let (lengths, correct) = ([80, 120, 90, 150], [true, true, false, false]);
/// let mut out = [0.0; 4];
/// params.rewards(&mut out, &lengths, &correct, None, &groups, &state)?;
/// assert_eq!(out, [0.5, 0.0, 0.0, 0.0]);
/// params.rewards_de(&mut out, &lengths, &correct, None, &[false, false, false, true], &groups, &state)?;
/// assert_eq!(out, [0.5, 0.0, 0.0, 0.0]); // the long wrong answer is repetitive: no bonus
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Liu et al. (2025), arXiv:2505.15612 (`hkust-nlp/Laser`,
///     `verl/utils/reward_score/length_penalty.py`: `compute_length_reward_larse_d`, `_de`,
///     `_choose_target_length`; the identity hashing of tensors: `pytorch/pytorch#7733`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LaserD<F> {
    alpha: F,
    mode: LaserMode,
    thresholds: Thresholds,
    group_size: u32,
    expected_correct: u32,
    rounding: Rounding,
    banding: MonitorBanding,
}

impl<F: Real> Default for LaserD<F> {
    fn default() -> Self {
        Self {
            alpha: F::lit(0.5),
            mode: LaserMode::Reward,
            thresholds: Thresholds::default(),
            group_size: 8,
            expected_correct: 1,
            rounding: Rounding::Floor,
            banding: MonitorBanding::Reference,
        }
    }
}

impl<F: Real> LaserD<F> {
    /// Scale `α >= 0` and mode; other settings at their defaults.
    ///
    /// # Errors
    /// `InvalidParam` for `α < 0`.
    pub fn new(alpha: F, mode: LaserMode) -> Result<Self> {
        Ok(Self {
            alpha: param_nonneg("alpha", alpha)?,
            mode,
            ..Self::default()
        })
    }

    /// Sets the candidate thresholds.
    ///
    /// # Errors
    /// Never (the thresholds were validated); kept fallible for symmetry.
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Result<Self> {
        self.thresholds = thresholds;
        Ok(self)
    }

    /// Sets the rollouts per prompt `G` used for `lower_n`.
    ///
    /// # Errors
    /// `InvalidParam` for `G = 0`.
    pub fn with_group_size(mut self, g: u32) -> Result<Self> {
        self.group_size = param_len("group_size", g)?;
        Ok(self)
    }

    /// Sets the expected number of correct responses `n_expected`, the rounding and the banding.
    ///
    /// # Errors
    /// Never; kept fallible for symmetry.
    pub fn with_monitor(
        mut self,
        expected_correct: u32,
        rounding: Rounding,
        banding: MonitorBanding,
    ) -> Result<Self> {
        self.expected_correct = expected_correct;
        self.rounding = rounding;
        self.banding = banding;
        Ok(self)
    }

    /// LASER-D rewards.
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
        state: &LaserDState,
    ) -> Result<()> {
        self.run(out, lengths, correct, well_formed, None, groups, state)
    }

    /// LASER-DE rewards (`repetitive[i]` marks response `i` as repetitive).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn rewards_de(
        &self,
        out: &mut [F],
        lengths: &[u32],
        correct: &[bool],
        well_formed: Option<&[bool]>,
        repetitive: &[bool],
        groups: &GroupIndex<'_>,
        state: &LaserDState,
    ) -> Result<()> {
        self.run(
            out,
            lengths,
            correct,
            well_formed,
            Some(repetitive),
            groups,
            state,
        )
    }

    fn run(
        &self,
        out: &mut [F],
        lengths: &[u32],
        correct: &[bool],
        well_formed: Option<&[bool]>,
        repetitive: Option<&[bool]>,
        groups: &GroupIndex<'_>,
        state: &LaserDState,
    ) -> Result<()> {
        groups.check_rows("lengths", lengths.len())?;
        groups.check_rows("correct", correct.len())?;
        groups.check_rows("out", out.len())?;
        if let Some(w) = well_formed {
            groups.check_rows("well_formed", w.len())?;
        }
        if let Some(r) = repetitive {
            groups.check_rows("repetitive", r.len())?;
        }
        check_lengths("lengths", lengths)?;
        let batch_max = lengths.iter().copied().max().unwrap_or(1);
        let targets = Difficulty::ALL.map(|d| state.target(d).resolve(batch_max));
        struct V<'a, F> {
            out: &'a mut [F],
            lengths: &'a [u32],
            correct: &'a [bool],
            well_formed: Option<&'a [bool]>,
            repetitive: Option<&'a [bool]>,
            targets: [u32; 3],
            p: &'a LaserD<F>,
        }
        impl<F: Real> GroupVisitor for V<'_, F> {
            fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
                let ok = |i: usize| {
                    self.correct.get(i).copied().unwrap_or(false)
                        && self
                            .well_formed
                            .is_none_or(|w| w.get(i).copied().unwrap_or(true))
                };
                let k = rows.rows().filter(|&i| ok(i)).count();
                let acc = crate::real::usize_f64(k) / crate::real::usize_f64(rows.len().max(1));
                let level = Difficulty::from_accuracy(acc);
                let target = self.targets.get(level.index()).copied().unwrap_or(u32::MAX);
                let (alpha, mode) = (self.p.alpha, self.p.mode);
                let (lengths, wf, rep) = (self.lengths, self.well_formed, self.repetitive);
                rows.fill(self.out, |i| {
                    let len = lengths.get(i).copied().unwrap_or(0);
                    let good = ok(i);
                    match rep {
                        None => {
                            if good {
                                mode.step(alpha, len, target)
                            } else {
                                F::ZERO
                            }
                        }
                        Some(rep) => {
                            let formed = wf.is_none_or(|w| w.get(i).copied().unwrap_or(true));
                            let repetitive = rep.get(i).copied().unwrap_or(false);
                            if (good && len <= target)
                                || (!good && formed && len > target && !repetitive)
                            {
                                alpha
                            } else {
                                F::ZERO
                            }
                        }
                    }
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            out,
            lengths,
            correct,
            well_formed,
            repetitive,
            targets,
            p: self,
        })
    }
}

/// LASER-D / LASER-DE as a [`RewardTerm`]: reads `lengths`, `correct`, optional `well_formed` and
/// `groups` from the batch, and a borrowed [`LaserDState`]. With `explore` (LASER-DE), responses'
/// repetition flags come from [`laser_repetition_start`] on the batch's `tokens` (behind `alloc`;
/// without it the term reports [`Error::MissingInput`] for `tokens`): the detector the reference
/// intends, which its own code never applies (see [`LaserD`]).
///
/// # Shapes
/// `out` and the batch inputs: `(B)`.
///
/// # Errors
/// `MissingInput` for a missing input; as [`LaserD::rewards`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Batch, LaserD, LaserDState, LaserDTerm, RewardTerm};
/// use rewardkit_core::GroupIndex;
/// let state = LaserDState::new(100);
/// let term = LaserDTerm { params: LaserD::<f64>::default(), state: &state, explore: false };
/// let groups = GroupIndex::uniform(2, 2)?;
/// let batch = Batch::new(2)?.with_lengths(&[50, 150])?.with_correct(&[true, true])?
///     .with_groups(&groups)?;
/// let mut out = [0.0; 2];
/// term.score(&mut out, &batch)?;
/// assert_eq!(out, [0.5, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LaserDTerm<'s, F> {
    /// Reward parameters.
    pub params: LaserD<F>,
    /// The adaptive targets.
    pub state: &'s LaserDState,
    /// LASER-DE's exploration bonus.
    pub explore: bool,
}

impl<F: Real> RewardTerm<F> for LaserDTerm<'_, F> {
    fn name(&self) -> &'static str {
        if self.explore { "laser_de" } else { "laser_d" }
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let (lengths, correct, groups) = (batch.lengths()?, batch.correct()?, batch.groups()?);
        let wf = batch.well_formed();
        if !self.explore {
            return self
                .params
                .rewards(out, lengths, correct, wf, groups, self.state);
        }
        #[cfg(feature = "alloc")]
        {
            let tokens = batch.tokens()?;
            let rep: Vec<bool> = tokens
                .iter()
                .map(|t| laser_repetition_start(t).is_some())
                .collect();
            self.params
                .rewards_de(out, lengths, correct, wf, &rep, groups, self.state)
        }
        #[cfg(not(feature = "alloc"))]
        {
            let _ = (lengths, correct, groups, wf);
            Err(Error::MissingInput { what: "tokens" })
        }
    }
}

#[cfg(feature = "alloc")]
pub use rep::laser_repetition_start;

#[cfg(feature = "alloc")]
mod rep {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    /// The LASER code's repetition detector (`detect_token_ngram_repetition_optimized_reversed`
    /// in `verl/utils/reward_score/compute_unique_tokens.py`) on a list of token ids: the start of
    /// a detected repetition, or `None` (LASER-DE withholds its exploration bonus from repetitive
    /// responses). The reference calls it on a `torch` tensor, where it never detects anything
    /// (tensors hash by identity; see [`LaserD`](super::LaserD)).
    ///
    /// # Definition
    /// With `L` tokens: `None` if `L ≤ 8`. `n = 2` (`L < 30`), `3` (`L < 100`) or `4`; repeat
    /// threshold 2 (`L < 200`) or 3. Scanning start positions from the end, skipping `n`-grams of one
    /// repeated token when `n > 2`, an `n`-gram seen `≥ threshold` times with two consecutive
    /// occurrences less than `⌊L/3⌋` apart is a repetition starting at its earliest occurrence.
    /// Otherwise, if `L ≥ 4n`, any exact repeat of a `2n`-token pattern is one (earliest start).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::laser_repetition_start;
    /// let looped: Vec<u32> = (0..40).map(|i| i % 5).collect();
    /// assert_eq!(laser_repetition_start(&looped), Some(32)); // (2, 3, 4) at 37 and 32
    /// let fresh: Vec<u32> = (0..40).collect();
    /// assert_eq!(laser_repetition_start(&fresh), None);
    /// ```
    pub fn laser_repetition_start(tokens: &[u32]) -> Option<usize> {
        let len = tokens.len();
        if len <= 8 {
            return None;
        }
        let n = if len < 30 {
            2
        } else if len < 100 {
            3
        } else {
            4
        };
        let threshold = if len < 200 { 2 } else { 3 };
        let gap = len / 3;
        let mut positions: BTreeMap<&[u32], Vec<usize>> = BTreeMap::new();
        for i in (0..=len - n).rev() {
            let Some(g) = tokens.get(i..i + n) else {
                continue;
            };
            if n > 2 && g.iter().all(|t| Some(t) == g.first()) {
                continue;
            }
            let v = positions.entry(g).or_default();
            v.push(i);
            // Positions are pushed in decreasing order: consecutive pairs are adjacent entries.
            if v.len() >= threshold && v.windows(2).any(|w| matches!(w, [a, b] if a - b < gap)) {
                return Some(i);
            }
        }
        if len >= 4 * n {
            let mut seen: BTreeMap<&[u32], usize> = BTreeMap::new();
            for i in (0..=len - 2 * n).rev() {
                let Some(p) = tokens.get(i..i + 2 * n) else {
                    continue;
                };
                if seen.insert(p, i).is_some() {
                    return Some(i);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let p = Laser::<f64>::new(0.5, 10, LaserMode::Penalty).unwrap();
        assert_eq!(p.value(11, true).unwrap(), -0.5);
        assert_eq!(p.value(10, true).unwrap(), 0.0);
        let h = Laser::<f64>::new(0.5, 10, LaserMode::Hybrid).unwrap();
        assert_eq!(h.value(11, true).unwrap(), -0.5);
        assert_eq!(h.value(1, true).unwrap(), 0.5);
        assert_eq!(h.value(1, false).unwrap(), 0.0);
        assert!(h.value(0, true).is_err());
        assert!(Laser::<f64>::new(-1.0, 10, LaserMode::Reward).is_err());
        assert!(Laser::<f64>::new(1.0, 0, LaserMode::Reward).is_err());
    }

    #[test]
    fn thresholds_default() {
        let t = Thresholds::default();
        let v: Vec<u32> = t.iter().collect();
        assert_eq!(v.first(), Some(&2048));
        assert_eq!(v.last(), Some(&16384));
        assert_eq!(v.len(), 15);
        assert!(Thresholds::new(0, 10, 1).is_err());
        assert!(Thresholds::new(10, 5, 1).is_err());
        assert!(Thresholds::linear(10, 5, 1).is_err());
        assert!(Thresholds::linear(4, 10, 0).is_err());
        let lin: Vec<u32> = Thresholds::linear(3, 10, 3).unwrap().iter().collect();
        assert_eq!(lin, [3, 6, 9, 12]); // every value < upper + Δ, as the reference's range
        let big: Vec<u32> = Thresholds::linear(2048, 4096, 1024)
            .unwrap()
            .iter()
            .collect();
        assert_eq!(big, [2048, 3072, 4096]); // lower ≥ 1024: the same grid as `new`
    }

    #[test]
    fn monitor_ceil_rounding() {
        // G = 8, ceil: high lower_n = ⌈16/3⌉ = 6, medium ⌈8/3⌉ = 3; low 1 needs cov = 1.
        let params = LaserD::<f64>::default()
            .with_thresholds(Thresholds::new(100, 300, 100).unwrap())
            .unwrap()
            .with_monitor(1, Rounding::Ceil, MonitorBanding::Reference)
            .unwrap();
        let groups = GroupIndex::uniform(8, 8).unwrap();
        // 0 of 8 correct: low band; lengths 50..400 step 50.
        let lengths = [50, 100, 150, 200, 250, 300, 350, 400];
        let mut s = LaserDState::new(8192);
        s.update(&params, &lengths, &[false; 8], &groups).unwrap();
        // cov(300) = 6/8 < 1 for low: none qualifies.
        assert_eq!(s.target(Difficulty::Low), TargetLen::Monitored(None));
        // All correct: high band, needs cov·6 ≥ 1 → cov ≥ 1/6: cov(100) = 2/8 → 1.5 ≥ 1.
        s.update(&params, &lengths, &[true; 8], &groups).unwrap();
        assert_eq!(s.target(Difficulty::High), TargetLen::Monitored(Some(100)));
    }
}
