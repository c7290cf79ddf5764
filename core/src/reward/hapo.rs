//! HAPO: History-Aware Policy Optimization's length reward, with the per-prompt history state.

use core::f64::consts::FRAC_PI_2;

use num_traits::Float;

use crate::error::{Error, Result, param_in, param_nonneg};
use crate::real::Real;

/// The shape of HAPO's length reward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum HapoShape {
    /// `cos(min(π·L/(2h), π))` (the default, `type_lr = "cosine"`).
    #[default]
    Cosine,
    /// Piecewise linear with a tolerance band (`type_lr = "linear"`).
    Linear,
}

/// How HAPO's history is updated after a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum HistoryMode {
    /// `h ← min(h, min_{correct} L)` (the default). The history never increases.
    #[default]
    Min,
    /// The reference's `"mean"` mode, exactly (`grpo_trainer.py::combined_reward_func`): for a
    /// prompt with `k ≥ 1` correct responses of mean length `m` in the batch, the update runs once
    /// **per occurrence** of the prompt in the batch (a GRPO batch holds each prompt `G` times, and
    /// the reference loops over every row's prompt index): the first time (`c = 0`) `h ← ⌊m⌋`,
    /// afterwards `h ← ⌊(k/(c+k))·m + (c/(c+k))·h⌋`, and `c ← c + k` each time. The history is an
    /// integer (the reference stores it in an `int64` tensor: `torch.full` with an integer fill
    /// value, so each assignment truncates). It is therefore not the mean of the correct lengths:
    /// the batch's mean is applied `G` times and the count grows by `G·k`; and a rounded value just
    /// below a whole number truncates one lower (`(1/12)·100 + (11/12)·100` evaluates to
    /// `99.99999999999999`, stored as 99), so the history can fall below the shortest correct
    /// length (never below 1). Evaluated in `f64` as the reference's Python floats.
    Mean,
    /// The exact running mean `Σ L / count` of every correct length seen (each correct response
    /// once, no truncation). Not the reference's rule; it merges across workers exactly.
    ExactMean,
}

/// HAPO's length reward (Huang et al.[^1]).
///
/// # Definition
/// With `h` the prompt's history (the shortest correct length seen in earlier batches; `None`
/// before any correct answer), `L` the response length, `w` the weight and `c` the floor:
/// - no history: `r = 0`;
/// - [`HapoShape::Cosine`]: `f = cos((L/h)·π/2)` for `L < 2h`, else `f = −1`; correct:
///   `r = w·max(−c, f)`; incorrect: `r = w·min(0, f)` (short wrong answers are not penalized);
/// - [`HapoShape::Linear`] with tolerance `ρ`: correct: `1 − L/h` for `L < h`, `0` for
///   `h ≤ L < (1+ρ)h`, else `max(−c, −(L − (1+ρ)h)/h)`; incorrect: `0` for `L < (1+ρ)h`, else
///   `max(−1, −(L − (1+ρ)h)/h)`; times `w`.
///
/// Defaults (the reference's): `w = 1`, `c = 0.7`, `ρ = 0.1`, cosine (and [`HistoryMode::Min`] for
/// the history). With
/// `w ≤ 1` and `c < 1`, every correct response (`1 + r ≥ 1 − c`) outranks every incorrect one
/// (`r ≤ 0`) when added to a 0/1 correctness reward. For correct answers the reward never increases
/// with `L` (shorter never scores lower). Rewards use the history as it was before the batch; update
/// it afterwards with [`HapoHistory::update`] (behind `alloc`).
///
/// # Errors
/// [`Hapo::new`]: [`Error::InvalidParam`] unless `w ∈ [0, 1]`. `with_floor`: unless `c ∈ [0, 1]`;
/// `with_tolerance`: unless `ρ >= 0`. [`Hapo::length_reward`]: `InvalidParam` for `L = 0` or a
/// history that is not finite and `>= 1`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Hapo, HapoShape};
///
/// let hapo = Hapo::<f64>::new(1.0, HapoShape::Cosine)?;
/// assert_eq!(hapo.length_reward(None, 500, true)?, 0.0);             // no history yet
/// assert!((hapo.length_reward(Some(300.0), 100, true)? - 3f64.sqrt() / 2.0).abs() < 1e-12);
/// assert_eq!(hapo.length_reward(Some(300.0), 100, false)?, 0.0);      // short and wrong: no penalty
/// assert_eq!(hapo.length_reward(Some(300.0), 600, true)?, -0.7);      // floor for correct answers
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Huang et al. (2025), *HAPO: Training Language Models to Reason Concisely via
///     History-Aware Policy Optimization*, arXiv:2505.11225 (`HCY123902/HAPO`, `utils.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Hapo<F> {
    weight: F,
    floor: F,
    tolerance: F,
    shape: HapoShape,
}

impl<F: Real> Default for Hapo<F> {
    fn default() -> Self {
        Self {
            weight: F::ONE,
            floor: F::lit(0.7),
            tolerance: F::lit(0.1),
            shape: HapoShape::Cosine,
        }
    }
}

impl<F: Real> Hapo<F> {
    /// Weight `w ∈ [0, 1]` and shape; floor 0.7 and tolerance 0.1.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(weight: F, shape: HapoShape) -> Result<Self> {
        Ok(Self {
            weight: param_in("weight", weight, F::ZERO, F::ONE, "a weight in [0, 1]")?,
            shape,
            ..Self::default()
        })
    }

    /// Sets the floor `c ∈ [0, 1]` of correct answers' length reward.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_floor(mut self, floor: F) -> Result<Self> {
        self.floor = param_in("floor", floor, F::ZERO, F::ONE, "a floor in [0, 1]")?;
        Ok(self)
    }

    /// Sets the tolerance `ρ >= 0` of the linear shape.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn with_tolerance(mut self, tolerance: F) -> Result<Self> {
        self.tolerance = param_nonneg("tolerance", tolerance)?;
        Ok(self)
    }

    /// The length reward of one response given its prompt's history.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn length_reward(&self, history: Option<f64>, len: u32, correct: bool) -> Result<F> {
        super::param_len("lengths", len)?;
        let Some(h) = history else {
            return Ok(F::ZERO);
        };
        if !(h.is_finite() && h >= 1.0) {
            return Err(Error::InvalidParam {
                name: "history",
                value: h,
                expected: "a history length >= 1 (or none)",
            });
        }
        let l = f64::from(len);
        let r = match self.shape {
            HapoShape::Cosine => {
                let f = if l < 2.0 * h {
                    Float::cos((l / h) * FRAC_PI_2)
                } else {
                    -1.0
                };
                if correct {
                    f.max(-self.floor.as_f64())
                } else {
                    f.min(0.0)
                }
            }
            HapoShape::Linear => {
                let band = (1.0 + self.tolerance.as_f64()) * h;
                let over = -((l - band) / h);
                if correct {
                    if l < h {
                        1.0 - l / h
                    } else if l < band {
                        0.0
                    } else {
                        over.max(-self.floor.as_f64())
                    }
                } else if l < band {
                    0.0
                } else {
                    over.max(-1.0)
                }
            }
        };
        Ok(F::lit(r * self.weight.as_f64()))
    }
}

#[cfg(feature = "alloc")]
pub use history::{HapoHistory, HapoTerm, HistoryEntry};

#[cfg(feature = "alloc")]
mod history {
    use alloc::collections::BTreeMap;

    use num_traits::Float;

    use super::{Hapo, HistoryMode};
    use crate::error::{Result, ensure_len};
    use crate::real::Real;
    use crate::reward::check_lengths;
    use crate::reward::compose::{Batch, RewardTerm};

    /// One prompt's history: the minimum, sum and number of the correct lengths seen, and the
    /// state of the reference's mean recurrence ([`HistoryMode::Mean`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    pub struct HistoryEntry {
        /// Shortest correct length seen.
        pub min: u32,
        /// Sum of the correct lengths seen (saturating).
        pub sum: u64,
        /// Correct responses seen (saturating).
        pub count: u64,
        /// The reference's mean-mode history times its count, `h·c` (saturating): for one worker
        /// `h` is the reference's integer history; after [`HapoHistory::merge`] the sum over
        /// workers of `h_w·c_w`.
        pub mean_weighted: u64,
        /// The reference's mean-mode count `c` (each correct response counted once per
        /// occurrence of its prompt in the batch; saturating), summed over merged workers.
        pub mean_count: u64,
    }

    impl HistoryEntry {
        /// The history length `h` under `mode`: the minimum, the reference's mean
        /// (`mean_weighted / mean_count`), or `sum/count`.
        pub fn length(&self, mode: HistoryMode) -> f64 {
            #[expect(
                clippy::cast_precision_loss,
                reason = "sums of token counts stay far below 2^53"
            )]
            let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
            match mode {
                HistoryMode::Min => f64::from(self.min),
                HistoryMode::Mean => ratio(self.mean_weighted, self.mean_count),
                HistoryMode::ExactMean => ratio(self.sum, self.count),
            }
        }

        fn absorb(&mut self, other: &Self) {
            self.min = self.min.min(other.min);
            self.sum = self.sum.saturating_add(other.sum);
            self.count = self.count.saturating_add(other.count);
            self.mean_weighted = self.mean_weighted.saturating_add(other.mean_weighted);
            self.mean_count = self.mean_count.saturating_add(other.mean_count);
        }

        /// The reference's mean update for one batch: `k` correct responses with length sum
        /// `s`, applied `occurrences` times.
        fn mean_update(&mut self, k: u64, s: u64, occurrences: u64) {
            #[expect(
                clippy::cast_precision_loss,
                reason = "sums of token counts stay far below 2^53"
            )]
            let (kf, m) = (k as f64, s as f64 / k as f64);
            let mut h = self.length(HistoryMode::Mean);
            let mut c = self.mean_count;
            for _ in 0..occurrences {
                let next = if c == 0 {
                    m
                } else {
                    #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
                    let ratio = kf / (c as f64 + kf);
                    ratio * m + (1.0 - ratio) * h
                };
                // Truncation toward zero, as an int64 tensor stores a float (values are >= 1).
                h = Float::trunc(next);
                c = c.saturating_add(k);
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "h is a whole number between the shortest and the longest length (u32)"
            )]
            let h_int = h as u64;
            self.mean_weighted = h_int.saturating_mul(c);
            self.mean_count = c;
        }
    }

    /// HAPO's per-prompt history state, owned by the caller (Huang et al.[^1]).
    ///
    /// # Definition
    /// A map from prompt key to [`HistoryEntry`]; a key without an entry has no history ("Null" in
    /// the reference, which encodes it as 100000). The history length is the entry's minimum
    /// ([`HistoryMode::Min`], the default), the reference's truncated per-occurrence mean
    /// ([`HistoryMode::Mean`]) or the exact mean ([`HistoryMode::ExactMean`]) of the correct
    /// lengths. [`HapoHistory::rewards`] reads the state; [`HapoHistory::update`] applies a batch
    /// afterwards (prompts without a correct response are unchanged; every row's key counts as an
    /// occurrence of its prompt for the mean mode). Keys are `u64` (e.g. a dataset index), kept in
    /// a `BTreeMap`; entries are integers, so iteration and serialization are deterministic and
    /// exact. Lengths are `>= 1`, so a history is never 0 (the reference would silently treat a
    /// correct empty response's `h = 0` as "no history" forever). In min mode a prompt's history
    /// never increases.
    ///
    /// Several workers: the reference keeps one state per worker, updated from the worker's own
    /// rows, and reads rewards from a gathered view: the element-wise minimum (min mode) or the
    /// count-weighted mean `Σ h_w·c_w / Σ c_w` (mean mode, computed there in `float32`). Reproduce it
    /// by updating one `HapoHistory` per worker and reading rewards from a merged copy
    /// ([`HapoHistory::merge`]); in min and exact-mean modes a merged state may also be updated
    /// further, in mean mode that continues from the gathered view, which the reference never does.
    ///
    /// # Shapes
    /// `out`, `keys`, `lengths`, `correct`: `(B)`.
    ///
    /// # Errors
    /// `rewards`, `update`: [`Error::LengthMismatch`](crate::Error::LengthMismatch);
    /// [`Error::InvalidParam`](crate::Error::InvalidParam) for a zero length.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::{Hapo, HapoHistory, HistoryMode};
    ///
    /// let hapo = Hapo::<f64>::default();
    /// let mut history = HapoHistory::new(HistoryMode::Min);
    /// let (keys, correct) = ([7u64, 7, 7], [true, true, false]);
    ///
    /// let mut r = [0.0; 3];
    /// history.rewards(&mut r, &keys, &[400, 300, 100], &correct, &hapo)?;
    /// assert_eq!(r, [0.0; 3]);                         // first encounter: no history
    /// history.update(&keys, &[400, 300, 100], &correct)?;
    /// assert_eq!(history.get(7), Some(300.0));         // shortest correct answer
    ///
    /// history.rewards(&mut r, &keys, &[150, 300, 100], &correct, &hapo)?;
    /// assert!((r[0] - (std::f64::consts::FRAC_PI_4).cos()).abs() < 1e-12); // cos(π/4)
    ///
    /// // The reference's mean mode: correct lengths 300 and 401 (m = 350.5) for a prompt that
    /// // occurs 3 times: h = ⌊350.5⌋ = 350, then ⌊½·350.5 + ½·350⌋ = 350 twice; c = 2 + 2 + 2.
    /// let mut mean = HapoHistory::new(HistoryMode::Mean);
    /// mean.update(&keys, &[300, 401, 100], &correct)?;
    /// assert_eq!(mean.get(7), Some(350.0));
    /// assert_eq!(mean.entry(7).map(|e| e.mean_count), Some(6));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    ///
    /// [^1]: Huang et al. (2025), arXiv:2505.11225 (`grpo_trainer.py::HistroyTracker`,
    ///     `combined_reward_func`).
    #[derive(Clone, Debug, Default, PartialEq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    pub struct HapoHistory {
        mode: HistoryMode,
        entries: BTreeMap<u64, HistoryEntry>,
    }

    impl HapoHistory {
        /// An empty history with the given mode.
        pub fn new(mode: HistoryMode) -> Self {
            Self {
                mode,
                entries: BTreeMap::new(),
            }
        }

        /// The history mode.
        pub fn mode(&self) -> HistoryMode {
            self.mode
        }

        /// The history length `h` of prompt `key`, if any.
        pub fn get(&self, key: u64) -> Option<f64> {
            self.entries.get(&key).map(|e| e.length(self.mode))
        }

        /// The entry of prompt `key`, if any.
        pub fn entry(&self, key: u64) -> Option<HistoryEntry> {
            self.entries.get(&key).copied()
        }

        /// Number of prompts with a history.
        pub fn len(&self) -> usize {
            self.entries.len()
        }

        /// `true` if no prompt has a history.
        pub fn is_empty(&self) -> bool {
            self.entries.is_empty()
        }

        /// All entries, by key.
        pub fn iter(&self) -> impl Iterator<Item = (u64, HistoryEntry)> + '_ {
            self.entries.iter().map(|(&k, &e)| (k, e))
        }

        /// A history rebuilt from its entries (what [`HapoHistory::iter`] lists): the way to
        /// restore a saved history without `serde` (the Python package pickles it this way). A
        /// key given twice keeps its last entry.
        ///
        /// # Examples
        /// ```
        /// use rewardkit_core::reward::{HapoHistory, HistoryMode};
        /// let mut h = HapoHistory::new(HistoryMode::Mean);
        /// h.update(&[7, 7, 9], &[80, 100, 60], &[true, true, true])?;
        /// let back = HapoHistory::from_entries(h.mode(), h.iter());
        /// assert_eq!(back, h);
        /// assert_eq!(back.get(7), h.get(7));
        /// # Ok::<(), rewardkit_core::Error>(())
        /// ```
        pub fn from_entries(
            mode: HistoryMode,
            entries: impl IntoIterator<Item = (u64, HistoryEntry)>,
        ) -> Self {
            Self {
                mode,
                entries: entries.into_iter().collect(),
            }
        }

        fn check(keys: &[u64], lengths: &[u32], correct: &[bool]) -> Result<()> {
            ensure_len("lengths", keys.len(), lengths.len())?;
            ensure_len("correct", keys.len(), correct.len())?;
            check_lengths("lengths", lengths)
        }

        /// Length rewards of a batch under the current history.
        ///
        /// # Errors
        /// See the type-level docs.
        pub fn rewards<F: Real>(
            &self,
            out: &mut [F],
            keys: &[u64],
            lengths: &[u32],
            correct: &[bool],
            params: &Hapo<F>,
        ) -> Result<()> {
            Self::check(keys, lengths, correct)?;
            ensure_len("out", keys.len(), out.len())?;
            for (((o, k), &l), &c) in out.iter_mut().zip(keys).zip(lengths).zip(correct) {
                *o = params.length_reward(self.get(*k), l, c)?;
            }
            Ok(())
        }

        /// Applies a batch: every prompt with a correct response updates its entry (minimum, exact
        /// sums, and the reference's mean recurrence once per occurrence of the prompt in `keys`).
        ///
        /// # Errors
        /// See the type-level docs.
        pub fn update(&mut self, keys: &[u64], lengths: &[u32], correct: &[bool]) -> Result<()> {
            Self::check(keys, lengths, correct)?;
            // Per prompt: (occurrences, correct responses, their min length, their length sum).
            let mut batch: BTreeMap<u64, (u64, u64, u32, u64)> = BTreeMap::new();
            for ((&k, &l), &c) in keys.iter().zip(lengths).zip(correct) {
                let e = batch.entry(k).or_insert((0, 0, u32::MAX, 0));
                e.0 += 1;
                if c {
                    e.1 += 1;
                    e.2 = e.2.min(l);
                    e.3 = e.3.saturating_add(u64::from(l));
                }
            }
            for (key, (occurrences, k, min, sum)) in batch {
                if k == 0 {
                    continue;
                }
                let e = self.entries.entry(key).or_insert(HistoryEntry {
                    min,
                    sum: 0,
                    count: 0,
                    mean_weighted: 0,
                    mean_count: 0,
                });
                e.min = e.min.min(min);
                e.sum = e.sum.saturating_add(sum);
                e.count = e.count.saturating_add(k);
                e.mean_update(k, sum, occurrences);
            }
            Ok(())
        }

        /// Merges another worker's history: the reference's cross-rank view (element-wise minimum;
        /// count-weighted mean of the mean-mode histories); exact sums and counts add.
        pub fn merge(&mut self, other: &Self) {
            for (k, e) in other.iter() {
                self.entries
                    .entry(k)
                    .and_modify(|x| x.absorb(&e))
                    .or_insert(e);
            }
        }
    }

    /// HAPO's length reward as a [`RewardTerm`]: reads `keys`, `lengths`, `correct` and a borrowed
    /// history.
    ///
    /// # Shapes
    /// `out`, `keys`, `lengths`, `correct`: `(B)`.
    ///
    /// # Errors
    /// `MissingInput` for a missing input; as [`HapoHistory::rewards`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::{Batch, Hapo, HapoHistory, HapoTerm, RewardTerm};
    /// let history = HapoHistory::default();
    /// let term = HapoTerm { params: Hapo::<f32>::default(), history: &history };
    /// let batch = Batch::new(1)?.with_keys(&[0])?.with_lengths(&[10])?.with_correct(&[true])?;
    /// let mut out = [1.0f32];
    /// term.score(&mut out, &batch)?;
    /// assert_eq!(out, [0.0]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    #[derive(Clone, Copy, Debug)]
    pub struct HapoTerm<'s, F> {
        /// Reward parameters.
        pub params: Hapo<F>,
        /// The history before this batch.
        pub history: &'s HapoHistory,
    }

    impl<F: Real> RewardTerm<F> for HapoTerm<'_, F> {
        fn name(&self) -> &'static str {
            "hapo"
        }

        fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
            self.history.rewards(
                out,
                batch.keys()?,
                batch.lengths()?,
                batch.correct()?,
                &self.params,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_hand_values() {
        let h = Hapo::<f64>::default();
        // L = h: cos(π/2) ≈ 6e-17 (floating), treated as 0 for both.
        assert!(h.length_reward(Some(100.0), 100, true).unwrap().abs() < 1e-15);
        // L = 1.2h: cos(0.6π) = −0.30901699437494734.
        assert!(
            (h.length_reward(Some(100.0), 120, true).unwrap() + 0.309_016_994_374_947_4).abs()
                < 1e-15
        );
        assert!(
            (h.length_reward(Some(100.0), 120, false).unwrap() + 0.309_016_994_374_947_4).abs()
                < 1e-15
        );
        // L ≥ 2h: −1 (wrong), floor −0.7 (correct).
        assert_eq!(h.length_reward(Some(100.0), 250, false).unwrap(), -1.0);
        assert_eq!(h.length_reward(Some(100.0), 250, true).unwrap(), -0.7);
        assert!(h.length_reward(Some(0.5), 1, true).is_err());
        assert!(h.length_reward(Some(100.0), 0, true).is_err());
    }

    #[test]
    fn linear_hand_values() {
        let h = Hapo::<f64>::new(0.5, HapoShape::Linear).unwrap();
        // correct, L = 50 < h = 100: 1 − 0.5 = 0.5, times w = 0.5.
        assert_eq!(h.length_reward(Some(100.0), 50, true).unwrap(), 0.25);
        // correct in the band [100, 110): 0.
        assert_eq!(h.length_reward(Some(100.0), 105, true).unwrap(), 0.0);
        // correct, L = 130: −(130 − 110)/100 = −0.2, times 0.5.
        assert!((h.length_reward(Some(100.0), 130, true).unwrap() + 0.1).abs() < 1e-15);
        // wrong, L = 300: max(−1, −1.9) = −1, times 0.5.
        assert_eq!(h.length_reward(Some(100.0), 300, false).unwrap(), -0.5);
        // wrong, L = 50: 0.
        assert_eq!(h.length_reward(Some(100.0), 50, false).unwrap(), 0.0);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn mean_mode_updates() {
        let mut hist = HapoHistory::new(HistoryMode::ExactMean);
        // Batch 1: key 1 correct lengths 100, 200 → m = 150, c = 2.
        hist.update(&[1, 1, 2], &[100, 200, 50], &[true, true, false])
            .unwrap();
        assert_eq!(hist.get(1), Some(150.0));
        assert_eq!(hist.get(2), None);
        // Batch 2: one correct of length 60 → (100 + 200 + 60)/3 = 120.
        hist.update(&[1], &[60], &[true]).unwrap();
        assert_eq!(hist.get(1), Some(120.0));
        assert_eq!(hist.entry(1).unwrap().count, 3);
        assert_eq!(hist.entry(1).unwrap().min, 60);
        // The same batches under the reference rule: key 1 occurs twice in batch 1, so
        // h = ⌊150⌋ = 150 (c = 2), then ⌊(2/4)·150 + (2/4)·150⌋ = 150 (c = 4); batch 2:
        // ⌊(1/5)·60 + (4/5)·150⌋ = ⌊132⌋ = 132 (c = 5).
        let mut hist = HapoHistory::new(HistoryMode::Mean);
        hist.update(&[1, 1, 2], &[100, 200, 50], &[true, true, false])
            .unwrap();
        assert_eq!(hist.get(1), Some(150.0));
        assert_eq!(hist.entry(1).unwrap().mean_count, 4);
        hist.update(&[1], &[60], &[true]).unwrap();
        assert_eq!(hist.get(1), Some(132.0));
        assert_eq!(hist.entry(1).unwrap().mean_count, 5);
    }
}
