//! Format rewards without ground truth: the format-only and format-length surrogate rewards, and the
//! reasoning-pattern reward (RPR).

use crate::error::{Result, ensure_len, param_in};
use crate::real::Real;

use super::compose::{Batch, RewardTerm};
use super::param_len;
#[cfg(feature = "alloc")]
use super::{
    check_lengths,
    text::{find_block, has_answer},
};

/// Format checks of a response: a reasoning block and an extractable answer.
///
/// # Definition
/// `soft = 1` if the text contains `open … close` (first `open`, then `close` after it; the
/// reference's `<think>.*?</think>` with `DOTALL`), else 0. `answer = 1` if the reference's answer
/// extraction finds an answer that is not empty (nor only whitespace):
/// [`has_answer`](super::text::has_answer) with the reasoning block ending at `close`. The answer is
/// looked for inside the `<answer>` block if there is one (its last `\boxed{…}`, else its last
/// `\(…\)`, else the normalized block), and otherwise only as a `\boxed{…}` **after** the last
/// `close`: a box inside the reasoning, or a `\(…\)` outside `<answer>`, earns nothing (see
/// [`text`](super::text)). The reference additionally requires the answer to parse with `sympy`,
/// which a `no_std` core cannot do: callers with a parser pass their own flags to [`format_only`]
/// or [`FormatLength::value`] (the answer string is [`extract_answer`](super::text::extract_answer)).
/// As a [`RewardTerm`](super::RewardTerm) (on `texts`) it scores [`format_only`]. Default delimiters `<think>`,
/// `</think>`[^1]. The text methods need `alloc` (the normalization of an `<answer>` block builds a
/// string).
///
/// # Shapes
/// As a term: `texts`, `out`: `(B)`.
///
/// # Errors
/// As a term: [`Error::MissingInput`](crate::Error::MissingInput) without `texts`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Format;
/// let f = Format::default();
/// assert_eq!(f.flags("<think>hmm</think> \\boxed{3}"), (true, true));
/// assert_eq!(f.flags("<think>hmm</think> <answer>3</answer>"), (true, true));
/// assert_eq!(f.flags("just 3"), (false, false));
/// // Answers inside the reasoning, or \( \) outside <answer>, do not count.
/// assert_eq!(f.flags("<think>so \\boxed{4}</think> no final answer"), (true, false));
/// assert_eq!(f.flags("<think>a</think> so \\(x = 3\\)"), (true, false));
/// ```
///
/// [^1]: Xin et al. (2025), *Surrogate Signals from Format and Length: Reinforcement Learning for
///     Solving Mathematical Problems without Ground Truth Answers*, arXiv:2505.19439
///     (`insightLLM/rl-without-gt`: `rl/verl/lib/src/rewards/math_reward.py`,
///     `rl/verl/lib/src/eval/evaluator.py::parse_answer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format<'p> {
    /// Opening delimiter of the reasoning block.
    pub open: &'p str,
    /// Closing delimiter of the reasoning block (answers are looked for after its last occurrence).
    pub close: &'p str,
}

impl Default for Format<'_> {
    fn default() -> Self {
        Self {
            open: "<think>",
            close: "</think>",
        }
    }
}

#[cfg(feature = "alloc")]
impl Format<'_> {
    /// `(soft, answer)` format flags of one response.
    pub fn flags(&self, text: &str) -> (bool, bool) {
        (
            find_block(text, self.open, self.close).is_some(),
            has_answer(text, self.close),
        )
    }
}

/// The format-only surrogate reward `0.5·(soft + answer)` ∈ {0, 0.5, 1} (Xin et al.[^1]).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::format_only;
/// assert_eq!(format_only::<f32>(true, false), 0.5);
/// ```
///
/// [^1]: Xin et al. (2025), arXiv:2505.19439.
#[inline]
pub fn format_only<F: Real>(soft: bool, answer: bool) -> F {
    F::lit(0.5) * (F::from_usize(usize::from(soft)) + F::from_usize(usize::from(answer)))
}

#[cfg(feature = "alloc")]
impl<F: Real> RewardTerm<F> for Format<'_> {
    fn name(&self) -> &'static str {
        "format"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let texts = batch.texts()?;
        ensure_len("out", texts.len(), out.len())?;
        for (o, t) in out.iter_mut().zip(texts) {
            let (s, a) = self.flags(t);
            *o = format_only(s, a);
        }
        Ok(())
    }
}

/// The format-length surrogate reward (Xin et al.[^1]).
///
/// # Definition
/// With `x = min(L, L_max)/L_max` and peak `p`:
/// `f(x) = 1 − (1 − x/p)²` for `x ≤ p` (rising from 0 to 1) and `f(x) = 1 − 2·((x − p)/(1 − p))²`
/// for `x > p` (falling to −1 at `x = 1`). The reward is `R = 0.5·(soft + answer) + f(x)` when the
/// answer format holds, else `R = min(0, f(x))`. Defaults `L_max = 3072`, `p = 0.5` (the
/// reference's). Lengths above `L_max` are clamped to `L_max` (the reference never sees them), so
/// `f ∈ [−1, 1]` and `R ∈ [−1, 2]`.
///
/// # Shapes
/// As a term: `texts`, `lengths`, `out`: `(B)` (flags from [`Format::default`]).
///
/// # Errors
/// [`FormatLength::new`]: [`Error::InvalidParam`](crate::Error::InvalidParam) unless
/// `L_max >= 1` and `p ∈ (0, 1)`. [`FormatLength::value`]: `InvalidParam` for `L = 0`. As a term:
/// `MissingInput` without `texts` or `lengths`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::FormatLength;
/// let fl = FormatLength::<f64>::default();
/// assert_eq!(fl.shape(1536), 1.0);                  // x = p: the peak
/// assert_eq!(fl.value(true, true, 1536)?, 2.0);       // 0.5·2 + 1
/// assert_eq!(fl.value(true, false, 3072)?, -1.0);     // no answer: min(0, f)
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Xin et al. (2025), arXiv:2505.19439 (`RewardMathFn_xrh`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FormatLength<F> {
    max_len: u32,
    peak: F,
}

impl<F: Real> Default for FormatLength<F> {
    fn default() -> Self {
        Self {
            max_len: 3072,
            peak: F::lit(0.5),
        }
    }
}

impl<F: Real> FormatLength<F> {
    /// Maximum length `L_max` and peak position `p`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(max_len: u32, peak: F) -> Result<Self> {
        let peak = param_in("peak", peak, F::ZERO, F::ONE, "a number in (0, 1)")?;
        if peak == F::ZERO || peak == F::ONE {
            return Err(crate::error::invalid("peak", peak, "a number in (0, 1)"));
        }
        Ok(Self {
            max_len: param_len("max_len", max_len)?,
            peak,
        })
    }

    /// The length curve `f(x)` at length `len` (lengths above `L_max` clamp to `L_max`).
    pub fn shape(&self, len: u32) -> F {
        let x = f64::from(len.min(self.max_len)) / f64::from(self.max_len);
        let p = self.peak.as_f64();
        let f = if x <= p {
            let u = 1.0 - x / p;
            1.0 - u * u
        } else {
            let u = (x - p) / (1.0 - p);
            1.0 - 2.0 * u * u
        };
        F::lit(f)
    }

    /// The reward of one response.
    ///
    /// # Errors
    /// `InvalidParam` for `len = 0`.
    pub fn value(&self, soft: bool, answer: bool, len: u32) -> Result<F> {
        param_len("lengths", len)?;
        let f = self.shape(len);
        Ok(if answer {
            format_only::<F>(soft, answer) + f
        } else {
            f.min(F::ZERO)
        })
    }
}

#[cfg(feature = "alloc")]
impl<F: Real> RewardTerm<F> for FormatLength<F> {
    fn name(&self) -> &'static str {
        "format_length"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let (texts, lengths) = (batch.texts()?, batch.lengths()?);
        ensure_len("out", texts.len(), out.len())?;
        check_lengths("lengths", lengths)?;
        let fmt = Format::default();
        for ((o, t), &l) in out.iter_mut().zip(texts).zip(lengths) {
            let (s, a) = fmt.flags(t);
            *o = self.value(s, a, l)?;
        }
        Ok(())
    }
}

/// The surrogate paper's tag-format rewards (`soft_format_reward_func`, `strict_format_reward_func`,
/// Xin et al.[^1]).
///
/// # Definition
/// `Soft`: `1` if the response holds `<think>…</think>`, whitespace, `<answer>…</answer>`
/// ([`soft_format`](super::text::soft_format)), else 0. `Strict`: `2` if the whole response is that
/// (only whitespace around it, [`strict_format`](super::text::strict_format)), else 0 — the
/// reference returns 2.0 (its comment says 4). The Format-Length recipe uses the think-only check
/// instead ([`Format`]).
///
/// # Shapes
/// As a term: `texts`, `out`: `(B)`.
///
/// # Errors
/// As a term: [`Error::MissingInput`](crate::Error::MissingInput) without `texts`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::TagFormat;
/// let text = "<think>a</think>\n<answer>4</answer>";
/// assert_eq!(TagFormat::Soft.value::<f64>(text), 1.0);
/// assert_eq!(TagFormat::Strict.value::<f64>(text), 2.0);
/// assert_eq!(TagFormat::Strict.value::<f64>("ok. <think>a</think><answer>4</answer>"), 0.0);
/// ```
///
/// [^1]: Xin et al. (2025), arXiv:2505.19439 (`insightLLM/rl-without-gt`,
///     `rl/verl/lib/src/rewards/math_reward.py`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TagFormat {
    /// `soft_format_reward_func`: 1 or 0 (the default).
    #[default]
    Soft,
    /// `strict_format_reward_func`: 2 or 0.
    Strict,
}

impl TagFormat {
    /// Whether the response has the format.
    pub fn matches(self, text: &str) -> bool {
        match self {
            Self::Soft => super::text::soft_format(text),
            Self::Strict => super::text::strict_format(text),
        }
    }

    /// The reward of one response.
    pub fn value<F: Real>(self, text: &str) -> F {
        match (self, self.matches(text)) {
            (_, false) => F::ZERO,
            (Self::Soft, true) => F::ONE,
            (Self::Strict, true) => F::lit(2.0),
        }
    }
}

impl<F: Real> RewardTerm<F> for TagFormat {
    fn name(&self) -> &'static str {
        match self {
            Self::Soft => "soft_format",
            Self::Strict => "strict_format",
        }
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let texts = batch.texts()?;
        ensure_len("out", texts.len(), out.len())?;
        for (o, t) in out.iter_mut().zip(texts) {
            *o = self.value(t);
        }
        Ok(())
    }
}

/// Which of the surrogate paper's character-length curves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CharCurve {
    /// `length_reward_func`: thresholds 0.3 and 0.6 (the default).
    #[default]
    V1,
    /// `length_reward_func_v2`: peak at 0.5.
    V2,
}

/// The surrogate paper's character-length rewards (`length_reward_func`, `length_reward_func_v2`,
/// Xin et al.[^1]).
///
/// # Definition
/// With `x = N/L_max`, `N` the response's length in characters (Python's `len(response)`: Unicode
/// code points) and `L_max = 4096`: [`CharCurve::V1`]: `x` for `x < 0.3`, `1 − x` for
/// `0.3 ≤ x < 0.6`, `−x` otherwise (a step down at 0.3 and at 0.6); [`CharCurve::V2`]: `x` for
/// `x < 0.5`, `1.5 − 2x` otherwise (continuous, peak ½ at `x = ½`, `−½` at `x = 1`). Neither is
/// clamped: responses longer than `L_max` characters get `−x` (V1) or `1.5 − 2x` (V2), as in the
/// reference. The Format-Length recipe's token-length curve is [`FormatLength`].
///
/// # Shapes
/// As a term: `texts`, `out`: `(B)`.
///
/// # Errors
/// [`CharLength::new`]: `InvalidParam` for `L_max = 0`. As a term: `MissingInput` without `texts`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{CharCurve, CharLength};
/// let v1 = CharLength::new(CharCurve::V1, 100)?;
/// assert_eq!(v1.value_len::<f64>(20), 0.2);
/// assert_eq!(v1.value_len::<f64>(40), 0.6);  // 1 − 0.4
/// assert_eq!(v1.value_len::<f64>(70), -0.7);
/// let v2 = CharLength::new(CharCurve::V2, 100)?;
/// assert_eq!(v2.value_len::<f64>(75), 0.0);  // 1.5 − 1.5
/// assert_eq!(v2.value::<f64>("héllo"), 0.05); // 5 characters, not 6 bytes
/// assert_eq!(CharLength::default(), CharLength::new(CharCurve::V1, 4096)?);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Xin et al. (2025), arXiv:2505.19439 (`math_reward.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CharLength {
    curve: CharCurve,
    max_len: u32,
}

impl Default for CharLength {
    fn default() -> Self {
        Self {
            curve: CharCurve::V1,
            max_len: 4096,
        }
    }
}

impl CharLength {
    /// A curve and `L_max` in characters (the reference's 4096).
    ///
    /// # Errors
    /// `InvalidParam` for `L_max = 0`.
    pub fn new(curve: CharCurve, max_len: u32) -> Result<Self> {
        Ok(Self {
            curve,
            max_len: param_len("max_len", max_len)?,
        })
    }

    /// The reward of a response of `chars` characters.
    pub fn value_len<F: Real>(&self, chars: usize) -> F {
        let x = crate::real::usize_f64(chars) / f64::from(self.max_len);
        F::lit(match self.curve {
            CharCurve::V1 => {
                if x < 0.3 {
                    x
                } else if x < 0.6 {
                    1.0 - x
                } else {
                    -x
                }
            }
            CharCurve::V2 => {
                if x < 0.5 {
                    x
                } else {
                    -2.0 * x + 1.5
                }
            }
        })
    }

    /// The reward of one response (its length in Unicode code points).
    pub fn value<F: Real>(&self, text: &str) -> F {
        self.value_len(text.chars().count())
    }
}

impl<F: Real> RewardTerm<F> for CharLength {
    fn name(&self) -> &'static str {
        match self.curve {
            CharCurve::V1 => "length_reward",
            CharCurve::V2 => "length_reward_v2",
        }
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let texts = batch.texts()?;
        ensure_len("out", texts.len(), out.len())?;
        for (o, t) in out.iter_mut().zip(texts) {
            *o = self.value(t);
        }
        Ok(())
    }
}

/// The five reasoning-action keywords of `reasoning_action_reward_func`.
pub const REASONING_ACTION_WORDS: [&str; 5] = ["however", "but", "wait", "verify", "alternatively"];

/// The surrogate paper's reasoning-action reward (`reasoning_action_reward_func`, Xin et al.[^1]).
///
/// # Definition
/// `k` = the number of whole-word, case-insensitive occurrences of the keywords (every occurrence
/// counts: Python's `re.findall(r"\b(?:however|but|wait|verify|alternatively)\b", text,
/// re.IGNORECASE)`); `r = s·min(k, k_max)/k_max`. Defaults: [`REASONING_ACTION_WORDS`],
/// `k_max = 20`, `s = 0.5`, so `r ∈ [0, 0.5]`. Words are maximal runs of letters, digits and `_`
/// (Python's `\w`) and match with Python's case folding (`İ`, `ı` match `i`, `ſ` matches `s`, the
/// Kelvin sign matches `k`).
///
/// # Shapes
/// As a term: `texts`, `out`: `(B)`.
///
/// # Errors
/// [`ReasoningAction::new`]: `InvalidParam` for no keywords, a keyword that is empty or not made of
/// ASCII lower-case letters, digits and `_` (the value is the keyword's index), `k_max = 0`, or a
/// negative or non-finite `s`. As a term: `MissingInput` without `texts`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::ReasoningAction;
/// let ra = ReasoningAction::<f64>::default();
/// // "Wait", "BUT", "verify": 3 of 20, times 0.5. "butter" and "awaits" are not the words.
/// assert_eq!(ra.value("Wait... BUT butter awaits; verify it."), 0.075);
/// assert_eq!(ra.count("wait ".repeat(30).as_str()), 30);
/// assert_eq!(ra.value("wait ".repeat(30).as_str()), 0.5); // capped at 20
/// ```
///
/// [^1]: Xin et al. (2025), arXiv:2505.19439 (`math_reward.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReasoningAction<'p, F> {
    words: &'p [&'p str],
    cap: usize,
    scale: F,
}

impl<F: Real> Default for ReasoningAction<'static, F> {
    fn default() -> Self {
        Self {
            words: &REASONING_ACTION_WORDS,
            cap: 20,
            scale: F::lit(0.5),
        }
    }
}

impl<'p, F: Real> ReasoningAction<'p, F> {
    /// Keywords, cap `k_max >= 1` and scale `s >= 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(words: &'p [&'p str], cap: usize, scale: F) -> Result<Self> {
        crate::error::ensure_nonempty("words", words.len())?;
        for (i, w) in words.iter().enumerate() {
            let ok = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(crate::Error::InvalidParam {
                    name: "words",
                    value: crate::real::usize_f64(i),
                    expected: "non-empty keywords of ASCII lower-case letters, digits and _",
                });
            }
        }
        if cap == 0 {
            return Err(crate::Error::InvalidParam {
                name: "cap",
                value: 0.0,
                expected: "a cap >= 1",
            });
        }
        Ok(Self {
            words,
            cap,
            scale: crate::error::param_nonneg("scale", scale)?,
        })
    }

    /// The number of keyword occurrences `k`.
    pub fn count(&self, text: &str) -> usize {
        super::text::count_words_ci(text, self.words)
    }

    /// The reward of one response.
    pub fn value(&self, text: &str) -> F {
        let k = self.count(text).min(self.cap);
        F::lit(self.scale.as_f64() * crate::real::usize_f64(k) / crate::real::usize_f64(self.cap))
    }
}

impl<F: Real> RewardTerm<F> for ReasoningAction<'_, F> {
    fn name(&self) -> &'static str {
        "reasoning_action"
    }

    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
        let texts = batch.texts()?;
        ensure_len("out", texts.len(), out.len())?;
        for (o, t) in out.iter_mut().zip(texts) {
            *o = self.value(t);
        }
        Ok(())
    }
}

#[cfg(feature = "alloc")]
pub use rpr::{RPR_MATH_PHRASES, RPR_OPEN_ENDED_PHRASES, ReasoningPattern};

#[cfg(feature = "alloc")]
mod rpr {
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::vec::Vec;

    use crate::error::{Result, ensure_len, param_positive};
    use crate::real::Real;
    use crate::reward::compose::{Batch, RewardTerm};
    use crate::reward::text::count_non_overlapping;

    /// The 40 reasoning phrases of the math RPR (`math_score.py::think_reward`), typos included
    /// (`"makes sence"`).
    pub const RPR_MATH_PHRASES: [&str; 40] = [
        "i need to",
        "we need to",
        "wait",
        "alternatively",
        "let me check",
        "let me see",
        "let's focus on",
        "we know that",
        "we can observe ",
        "we can see ",
        "let me try",
        "let's try",
        "let us try",
        "first, ",
        "firstly, ",
        "next, ",
        "finally, ",
        "let us first",
        "let's first",
        "let me first",
        "try again",
        "still not",
        "not working",
        "not correct",
        "does not work",
        "doesn't work",
        "makes sence",
        "since we ",
        "because we ",
        "consequently",
        "as a result",
        "thus",
        "therefore",
        "hence",
        "so that",
        "thereby",
        "if we",
        "given there ",
        "for instance ",
        "for example ",
    ];

    /// The 53 phrases of the open-ended (`HelpSteer3`) RPR: the 40 math phrases plus 13 more
    /// (`fsdp_workers.py::think_reward`).
    pub const RPR_OPEN_ENDED_PHRASES: [&str; 53] = [
        "i need to",
        "we need to",
        "wait",
        "alternatively",
        "let me check",
        "let me see",
        "let's focus on",
        "we know that",
        "we can observe ",
        "we can see ",
        "let me try",
        "let's try",
        "let us try",
        "first, ",
        "firstly, ",
        "next, ",
        "finally, ",
        "let us first",
        "let's first",
        "let me first",
        "try again",
        "still not",
        "not working",
        "not correct",
        "does not work",
        "doesn't work",
        "makes sence",
        "since we ",
        "because we ",
        "consequently",
        "as a result",
        "thus",
        "therefore",
        "hence",
        "so that",
        "thereby",
        "if we",
        "given there ",
        "for instance ",
        "for example ",
        "1. ",
        "2. ",
        "3. ",
        "4. ",
        "step 1 ",
        "step 2 ",
        "step 3. ",
        "step 4 ",
        "considering the",
        "i'll",
        "i will",
        "i would",
        "i should",
    ];

    /// Reasoning-pattern reward (RPR) of "The Climb Carves Wisdom Deeper Than the Summit"[^1].
    ///
    /// # Definition
    /// On the lower-cased response, with `k` the number of phrases that occur (each at most once),
    /// `rep` the fraction of word `n`-grams (whitespace-split) that are distinct and occur more than
    /// once among all `n`-grams (0 with fewer than `n` words), and `u` the number of non-overlapping
    /// occurrences of the user marker:
    /// `RPR = max(0, min(1, k/d) − rep − u)`. Defaults: [`RPR_MATH_PHRASES`], `d = 20`, `n = 20`,
    /// marker `"user: "` (the open-ended variant uses [`RPR_OPEN_ENDED_PHRASES`] and no marker).
    /// Lower-casing is Rust's Unicode `str::to_lowercase` (as Python's `str.lower`), and words split
    /// on Unicode whitespace. The reference's slicing after `"Assistant: <think> "` is the caller's
    /// job: pass the response text. `RPR ∈ [0, 1]`.
    ///
    /// # Shapes
    /// As a term: `texts`, `out`: `(B)`.
    ///
    /// # Errors
    /// [`ReasoningPattern::new`]: `InvalidParam` unless `d > 0` and `n >= 1`. As a term:
    /// `MissingInput` without `texts`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::ReasoningPattern;
    /// let rpr = ReasoningPattern::default();
    /// // "wait", "thus", "let me check": 3 phrases, no repetition.
    /// let r: f64 = rpr.value("Wait, let me check. Thus x = 2.");
    /// assert!((r - 3.0 / 20.0).abs() < 1e-15);
    /// assert_eq!(rpr.value::<f64>("user: solve this"), 0.0);
    /// ```
    ///
    /// [^1]: Lv et al. (2025), arXiv:2505.22653 (`math_score.py::think_reward`).
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct ReasoningPattern<'p> {
        phrases: &'p [&'p str],
        divisor: f64,
        ngram: usize,
        user_marker: Option<&'p str>,
    }

    impl Default for ReasoningPattern<'static> {
        fn default() -> Self {
            Self {
                phrases: &RPR_MATH_PHRASES,
                divisor: 20.0,
                ngram: 20,
                user_marker: Some("user: "),
            }
        }
    }

    impl<'p> ReasoningPattern<'p> {
        /// Phrases (lower case), divisor `d`, repetition `n`-gram size and user marker.
        ///
        /// # Errors
        /// `InvalidParam` unless `d > 0` and `n >= 1`.
        pub fn new(
            phrases: &'p [&'p str],
            divisor: f64,
            ngram: usize,
            user_marker: Option<&'p str>,
        ) -> Result<Self> {
            if ngram == 0 {
                return Err(crate::Error::InvalidParam {
                    name: "ngram",
                    value: 0.0,
                    expected: "an n-gram size >= 1",
                });
            }
            Ok(Self {
                phrases,
                divisor: param_positive("divisor", divisor)?,
                ngram,
                user_marker,
            })
        }

        /// The RPR of one response.
        pub fn value<F: Real>(&self, text: &str) -> F {
            let lower: String = text.to_lowercase();
            let k = self.phrases.iter().filter(|p| lower.contains(**p)).count();
            let mut score = (crate::real::usize_f64(k) / self.divisor).min(1.0);
            score -= word_ngram_repetition_ratio(&lower, self.ngram);
            if let Some(m) = self.user_marker {
                score -= crate::real::usize_f64(count_non_overlapping(&lower, m));
            }
            F::lit(score.max(0.0))
        }
    }

    /// Fraction of word `n`-grams that are distinct and repeated: `#{g : count(g) > 1} / #n-grams`.
    pub(crate) fn word_ngram_repetition_ratio(text: &str, n: usize) -> f64 {
        let words: Vec<&str> = text.split_whitespace().collect();
        if n == 0 || words.len() < n {
            return 0.0;
        }
        let mut counts: BTreeMap<&[&str], usize> = BTreeMap::new();
        let windows = words.windows(n);
        let total = windows.len();
        for w in windows {
            *counts.entry(w).or_insert(0) += 1;
        }
        let repeated = counts.values().filter(|&&c| c > 1).count();
        crate::real::usize_f64(repeated) / crate::real::usize_f64(total)
    }

    impl<F: Real> RewardTerm<F> for ReasoningPattern<'_> {
        fn name(&self) -> &'static str {
            "reasoning_pattern"
        }

        fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
            let texts = batch.texts()?;
            ensure_len("out", texts.len(), out.len())?;
            for (o, t) in out.iter_mut().zip(texts) {
                *o = self.value(t);
            }
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn repetition_ratio() {
            // 1-grams of "a b a c": a×2, b, c → 1 repeated distinct of 4 total.
            assert_eq!(word_ngram_repetition_ratio("a b a c", 1), 0.25);
            assert_eq!(word_ngram_repetition_ratio("a b", 3), 0.0);
            // 2-grams of "x y x y x y": (x,y)×3, (y,x)×2 → 2 of 5.
            assert_eq!(word_ngram_repetition_ratio("x y x y x y", 2), 0.4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_length_curve() {
        // Hand values with L_max = 100, p = 0.5: x = 0.25 → 1 − 0.5² = 0.75; x = 0.75 → 1 − 2·0.5² = 0.5.
        let fl = FormatLength::<f64>::new(100, 0.5).unwrap();
        assert_eq!(fl.shape(25), 0.75);
        assert_eq!(fl.shape(75), 0.5);
        assert_eq!(fl.shape(100), -1.0);
        assert_eq!(fl.shape(1000), -1.0);
        assert_eq!(fl.value(false, true, 25).unwrap(), 1.25);
        assert_eq!(fl.value(true, false, 25).unwrap(), 0.0);
        assert!(fl.value(true, true, 0).is_err());
        assert!(FormatLength::<f64>::new(100, 1.0).is_err());
        assert!(FormatLength::<f64>::new(0, 0.5).is_err());
    }
}
