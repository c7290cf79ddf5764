//! Reward functions and shaping from the literature, as one catalogue of documented, composable
//! functions: outcome and format rewards, length shaping (HAPO, LASER, cosine, Kimi, DAPO, L1),
//! repetition penalties, reward-model shaping (PAR and its baselines), process rewards (PURE,
//! Clip/Delta), robust and multi-objective rewards (ensembles, BRME, PF-PPO, OREAL) and dense
//! rewards (Fine-Grained RLHF, CaRL, potential-based shaping).
//!
//! | method | paper | module item | what it rewards |
//! |---|---|---|---|
//! | binary correctness | — | [`Correctness`] | a verified answer (`1`/`0`, or LASER's `1 / −0.5 / −1`) |
//! | format (well-formedness) | DeepSeek-AI 2025, arXiv:2501.12948 | [`WellFormed`] | a response the verifier found well formed (`1`/`0`), as its own term |
//! | reward flipping | Lv et al. 2025, arXiv:2505.22653 | [`FlipNoise`] | nothing: flips `r ↦ lo + hi − r` at a rate, never for an unanswered response (robustness studies); [`FlipNoise::apply_format`] gives wrong and flipped-correct answers the format score |
//! | reasoning-pattern reward (RPR) | Lv et al. 2025, arXiv:2505.22653 | [`ReasoningPattern`], [`RprCalibration`] | reasoning phrases, minus 20-gram repetition |
//! | format-only surrogate | Xin et al. 2025, arXiv:2505.19439 | [`Format`], [`format_only`] | a `<think>` block and an answer where the reference looks ([`text`]) |
//! | format-length surrogate | Xin et al. 2025, arXiv:2505.19439 | [`FormatLength`] | format plus a length curve peaking at `p·L_max` |
//! | surrogate ablations | Xin et al. 2025, arXiv:2505.19439 | [`TagFormat`], [`CharLength`], [`ReasoningAction`] | think/answer tags, a character-length curve, reasoning keywords |
//! | HAPO | Huang et al. 2025, arXiv:2505.11225 | [`Hapo`], [`HapoHistory`] | correct answers shorter than the shortest correct one seen so far |
//! | LASER | Liu et al. 2025, arXiv:2505.15612 | [`Laser`] | correct answers within a target length (step function) |
//! | LASER-D | Liu et al. 2025, arXiv:2505.15612 | [`LaserD`], [`LaserDState`], [`LaserDTerm`] | as LASER, with difficulty-aware targets adapted from a monitor set |
//! | LASER-DE | Liu et al. 2025, arXiv:2505.15612 | [`LaserD::rewards_de`] | as LASER-D, plus exploration: long, non-repetitive wrong answers |
//! | LASER adaptive | Liu et al. 2025, arXiv:2505.15612 | [`LaserAdaptive`] | verified answers weighted by the batch's clip ratio (`compute_adaptive_reward`) |
//! | `ThinkPrune` | Hou et al. 2025, arXiv:2504.01296 | [`PruneSchedule`], [`ThinkPruneTerm`] | answers within a length limit that shrinks over stages |
//! | cosine length scaling | Yeo et al. 2025, arXiv:2502.03373 | [`CosineLength`] | short correct answers, long wrong answers (cosine schedule) |
//! | length-scaled sparse reward | Yeo et al. 2025, arXiv:2502.03373 | [`LengthScaled`] | short correct, long wrong answers; risk-averse when short |
//! | n-gram repetition penalty | Yeo et al. 2025, arXiv:2502.03373; HAPO | [`RepetitionPenalty`], [`RepetitionRatio`], [`word_repetition_penalty`] | penalizes repeated n-grams (per sequence or per token, or their repeated fraction) |
//! | Kimi length penalty | Kimi Team 2025, arXiv:2501.12599 | [`KimiLength`] | shorter-than-group-midrange answers |
//! | DAPO overlong penalty | Yu et al. 2025, arXiv:2503.14476 | [`Overlong`] | penalizes lengths in the last `L_cache` tokens before `L_max` |
//! | truncation penalty | Liu et al. 2025 (Table 2); `ProRL` arXiv:2505.24864 | [`Truncation`] | replaces or scales the reward of truncated answers |
//! | L1 target length (LCPO) | Aggarwal & Welleck 2025, arXiv:2503.04697 | [`TargetLength`] | correct answers close to a requested length |
//! | group length penalty | Arora & Zanette 2025, arXiv:2502.04463 | [`GroupLengthPenalty`] | correct answers shorter than the group's correct ones |
//! | PAR | Fu et al. 2025, arXiv:2502.18770 | [`Par`] | the RM score relative to reference responses, bounded in (0, 1) |
//! | PAR study baselines | Fu et al. 2025, arXiv:2502.18770 | [`RewardShaper`], [`RunningStats`] | ceil, length penalty, centering, mean/std, clip, min-max, sigmoid/tanh/poly, LSC |
//! | PURE min-form | Cheng et al. 2025, arXiv:2504.15275 | [`Pure`] | process rewards re-weighted toward the worst step (softmin) |
//! | Clip / Delta | Gao et al. 2024, arXiv:2410.15115 | [`ProcessRefine`] | bounded process rewards (no gain from adding steps) |
//! | RM ensembles, BRME | Coste et al. 2023, arXiv:2310.02743; Yan et al. 2024, arXiv:2409.15360 | [`Ensemble`], [`brme`] | ensemble mean / min / mean − λ·std; nominal/min mix |
//! | multi-objective | Li et al. 2025, arXiv:2503.21819 | [`MultiObjective`] | a weighted sum of normalized objectives |
//! | PF-PPO | Zhang et al. 2024, arXiv:2409.06957 | [`Filtration`], [`reward_weights`], [`resample`], [`r_squared`], [`policy_weights`] | trains on the samples where the RM is reliable (best-random, best-worst, reward-weighted, thresholded policy weights) |
//! | OREAL | Lyu et al. 2025, arXiv:2502.06781 | [`Oreal`], [`OrealRescale`] | binary outcomes with reshaped negatives; token importance weights (threshold or top-k); the loss is [`crate::loss::oreal`] |
//! | Fine-Grained RLHF | Wu et al. 2023, arXiv:2306.01693 | [`FineGrained`] | segment-level rewards from several RMs, on segment ends |
//! | CaRL | Jaeger et al. 2025, arXiv:2504.17838 | [`Carl`] | route progress, scaled by soft penalties; terminal penalty |
//! | potential-based shaping | Ng, Harada & Russell 1999 | [`potential_shaping`] | `F = γΦ(s') − Φ(s)` (policy-invariant) |
//!
//! # Composition
//! A [`RewardTerm`] scores a [`Batch`] (per-sample inputs: correctness, lengths, texts, token ids,
//! RM scores, prompt keys, groups); a [`Pipeline`] combines weighted terms into one scalar per sample
//! ([`Pipeline::eval`]) or a reward per token ([`Pipeline::eval_tokens`]: scalar terms on each row's
//! last valid token, token terms where they fall), and reports every term's unweighted value.
//!
//! # Conventions
//! - **Lengths** are token counts `u32 ≥ 1`: an empty response carries no token a reward could be
//!   placed on, and HAPO would record a history of 0, which its reference code then treats as
//!   "no history" forever. A zero length is an [`Error::InvalidParam`] naming `lengths`.
//! - **State** (HAPO history, LASER-D targets, running statistics) lives in values the caller owns,
//!   serializable with the `serde` feature; the same inputs and state give the same outputs.
//! - **Randomness** (reward flipping, PF-PPO best-random, resampling, OREAL selection) comes from a
//!   caller's [`RandomSource`](crate::rng::RandomSource), drawn in a documented order and mapping;
//!   `tests/tests/value_stability.rs` pins the outputs for fixed seeds.
//! - **Masked positions** are never read and always written 0: per-token outputs
//!   ([`Pipeline::eval_tokens`], [`FineGrained`], [`Oreal::token_weights`], the dense repetition
//!   term) are 0 where the mask is off, and inputs there (log-probabilities, token logits, a token
//!   term's output) may hold anything, NaN included.
//! - Text matchers are small hand-written functions (no regex) transcribing the references'
//!   extraction rules; see [`text`].
//! - Items that need a heap (history maps, n-gram sets, lower-cased text) sit behind `alloc`.
//!
//! Where the papers or their code are uncertain or disagree, the choice is a parameter and is listed
//! in [`numerics`](crate::numerics#rewards) (section *Rewards*).
//!
//! [`Error::InvalidParam`]: crate::Error::InvalidParam

mod compose;
mod dense;
mod format;
mod hapo;
mod laser;
mod length;
mod outcome;
mod par;
mod process;
mod repetition;
mod robust;
pub mod text;

pub use compose::{Batch, Pipeline, RewardTerm, Term, TokenRewardTerm, Weighted};
pub use dense::{
    Carl, CarlVariant, FineGrained, RmSpec, SegmentScore, TerminalPotential, potential_shaping,
};
pub use format::{
    CharCurve, CharLength, Format, FormatLength, REASONING_ACTION_WORDS, ReasoningAction,
    TagFormat, format_only,
};
#[cfg(feature = "alloc")]
pub use format::{RPR_MATH_PHRASES, RPR_OPEN_ENDED_PHRASES, ReasoningPattern};
pub use hapo::{Hapo, HapoShape, HistoryMode};
#[cfg(feature = "alloc")]
pub use hapo::{HapoHistory, HapoTerm, HistoryEntry};
#[cfg(feature = "alloc")]
pub use laser::laser_repetition_start;
pub use laser::{
    AdaptiveStats, Difficulty, Laser, LaserAdaptive, LaserD, LaserDState, LaserDTerm, LaserMode,
    MonitorBanding, Rounding, TargetLen, Thresholds,
};
pub use length::{
    CosineLength, GroupLengthPenalty, KimiLength, LengthScaled, LengthSingleton, Overlong,
    PruneRule, PruneSchedule, TargetLength, TargetMode, ThinkPruneTerm, Truncation, TruncationMode,
};
pub use outcome::{Correctness, FlipNoise, FlipUnit, RprCalibration, WellFormed};
pub use par::{Par, RewardShaper, RunningStats, Transform};
pub use process::{ProcessRefine, Pure, PureBaseline, RefineMode};
#[cfg(feature = "alloc")]
pub use repetition::word_repetition_penalty;
pub use repetition::{
    RepeatMarking, RepetitionPenalty, RepetitionRatio, ngram_scratch_len, repeated_ngram_starts,
};
pub use robust::{
    Ensemble, Filtration, MultiObjective, Normalization, Oreal, OrealRescale, OrealShaping, brme,
    policy_weights, r_squared, resample, reward_weights,
};

use crate::error::{Error, Result};

/// `Err(InvalidParam)` naming `what` if a length is 0.
#[inline]
pub(crate) fn check_lengths(what: &'static str, lengths: &[u32]) -> Result<()> {
    if lengths.contains(&0) {
        Err(Error::InvalidParam {
            name: what,
            value: 0.0,
            expected: "response lengths >= 1 token",
        })
    } else {
        Ok(())
    }
}

/// `Err(Overflow)` naming `what` if an output is not finite (finite inputs whose combination
/// overflows the output type, e.g. `f32`).
#[inline]
pub(crate) fn check_output<F: crate::real::Real>(what: &'static str, out: &[F]) -> Result<()> {
    if out.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::Overflow { what })
    }
}

/// `Err(NonFinite)` naming the first NaN or infinity of `xs` at a valid position (`bits[i]`);
/// masked positions are never read. `xs` and `bits` have the same length (checked by the caller).
#[inline]
pub(crate) fn ensure_finite_masked<F: crate::real::Real>(
    what: &'static str,
    xs: &[F],
    bits: &[bool],
) -> Result<()> {
    // Fast path: a branch-free AND (vectorizes); the scan for the index runs only on failure.
    if xs
        .iter()
        .zip(bits)
        .fold(true, |ok, (x, &m)| ok & (!m | x.is_finite()))
    {
        return Ok(());
    }
    match xs.iter().zip(bits).position(|(x, &m)| m && !x.is_finite()) {
        Some(index) => Err(Error::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// A length parameter (target, maximum, buffer): must be `>= 1`.
#[inline]
pub(crate) fn param_len(name: &'static str, value: u32) -> Result<u32> {
    if value == 0 {
        Err(Error::InvalidParam {
            name,
            value: 0.0,
            expected: "a length >= 1 token",
        })
    } else {
        Ok(value)
    }
}
