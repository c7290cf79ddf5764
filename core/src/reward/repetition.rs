//! n-gram repetition penalties: token n-grams per sequence (HAPO) or per token (Demystify's dense
//! penalty), and the word n-gram sparse penalty.

use crate::error::{Error, Result, param_finite};
use crate::real::{Real, usize_f64};

/// The scratch length [`repeated_ngram_starts`] needs for `len` tokens: the smallest power of two
/// `≥ 2·len` (at least 1).
///
/// # Examples
/// ```
/// assert_eq!(rewardkit_core::reward::ngram_scratch_len(5), 16);
/// ```
pub fn ngram_scratch_len(len: usize) -> usize {
    len.saturating_mul(2).max(1).next_power_of_two()
}

/// Multiplier of the rolling polynomial hash of `n`-grams (odd, so `·B` is a bijection mod 2⁶⁴).
const ROLL: u64 = 0x0000_0100_0000_01B3;

/// The table slot of a rolling hash: Fibonacci hashing (the high bits of a multiply).
#[inline(always)]
fn slot_of(h: u64, shift: u32) -> usize {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the shift leaves at most log2(table size) bits, which fit usize"
    )]
    let s = ((h ^ (h >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
    s
}

/// Flags the starts of repeated token `n`-grams: `flags[s] = true` iff the `n`-gram starting at `s`
/// also starts at some earlier position (the reference's "seen before" set test). Returns the
/// number of flagged starts.
///
/// # Definition
/// `m = L − n + 1` start positions (none if `L < n`), scanned in order through an open-addressing
/// set kept in `scratch` (positions, linear probing, a rolling polynomial hash updated in `O(1)` per
/// start); membership compares the token slices themselves, so the result is exact whatever the
/// hash does. Expected `O(L)` plus `O(n)` per slot comparison; no allocation; deterministic.
///
/// # Shapes
/// `flags`: at least `m` entries (only the first `m` are written); `scratch`: at least
/// [`ngram_scratch_len`]`(L)` entries.
///
/// # Errors
/// [`Error::InvalidParam`] for `n = 0`; [`Error::LengthMismatch`] for short buffers;
/// [`Error::TooLarge`] for `L ≥ 2³² − 1`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{ngram_scratch_len, repeated_ngram_starts};
/// let tokens = [1, 2, 3, 1, 2, 3, 1];
/// let (mut flags, mut scratch) = ([false; 7], vec![0u32; ngram_scratch_len(7)]);
/// let n = repeated_ngram_starts(&mut flags, &mut scratch, &tokens, 3)?;
/// assert_eq!(n, 2);
/// assert_eq!(&flags[..5], &[false, false, false, true, true]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn repeated_ngram_starts(
    flags: &mut [bool],
    scratch: &mut [u32],
    tokens: &[u32],
    n: usize,
) -> Result<usize> {
    if n == 0 {
        return Err(Error::InvalidParam {
            name: "ngram",
            value: 0.0,
            expected: "an n-gram size >= 1",
        });
    }
    let max = u32::MAX as usize - 1;
    if tokens.len() >= max {
        return Err(Error::TooLarge {
            what: "tokens",
            len: tokens.len(),
            max: max - 1,
        });
    }
    let m = (tokens.len() + 1).saturating_sub(n);
    if flags.len() < m {
        return Err(Error::LengthMismatch {
            what: "flags",
            expected: m,
            got: flags.len(),
        });
    }
    let size = ngram_scratch_len(tokens.len());
    let (Some(table), Some(flags)) = (scratch.get_mut(..size), flags.get_mut(..m)) else {
        return Err(Error::LengthMismatch {
            what: "scratch",
            expected: size,
            got: scratch.len(),
        });
    };
    table.iter_mut().for_each(|x| *x = 0);
    let mask = size - 1;
    let shift = 64 - size.trailing_zeros();
    // Rolling polynomial hash h_s = Σ_j t_{s+j}·B^{n−1−j} (wrapping), updated in O(1) per start.
    let top = (1..n).fold(1u64, |p, _| p.wrapping_mul(ROLL));
    let mut h = tokens.iter().take(n).fold(0u64, |h, &t| {
        h.wrapping_mul(ROLL).wrapping_add(u64::from(t))
    });
    let mut count = 0usize;
    for (s, f) in flags.iter_mut().enumerate() {
        let gram = tokens.get(s..s + n).unwrap_or(&[]);
        let mut slot = if size == 1 { 0 } else { slot_of(h, shift) };
        *f = loop {
            match table.get(slot).copied() {
                Some(0) | None => {
                    if let Some(e) = table.get_mut(slot) {
                        #[expect(
                            clippy::cast_possible_truncation,
                            reason = "s + 1 < 2³² − 1 is checked"
                        )]
                        let stored = (s + 1) as u32;
                        *e = stored;
                    }
                    break false;
                }
                Some(e) => {
                    let start = e as usize - 1;
                    if tokens.get(start..start + n) == Some(gram) {
                        break true;
                    }
                    slot = (slot + 1) & mask;
                }
            }
        };
        count += usize::from(*f);
        if let (Some(&out), Some(&inc)) = (tokens.get(s), tokens.get(s + n)) {
            h = h
                .wrapping_sub(u64::from(out).wrapping_mul(top))
                .wrapping_mul(ROLL)
                .wrapping_add(u64::from(inc));
        }
    }
    Ok(count)
}

/// Which repeated `n`-gram occurrences are marked (the reference's `only_start`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RepeatMarking {
    /// Every repeated occurrence marks its `n` tokens (`only_start = False`, the default).
    #[default]
    All,
    /// HAPO's `only_start`: an occurrence is marked only if it starts after the last token of the
    /// previous repeated occurrence (`start > prev + n − 1`).
    NonOverlapping,
    /// Demystify's `only_start`: only if it starts after `prev + n` (`curr_end_idx = start + n`).
    Spaced,
}

/// Token `n`-gram repetition penalty (HAPO[^1]; Demystifying Long Chain-of-Thought, dense form[^2]).
///
/// # Definition
/// Every occurrence of a token `n`-gram after its first ([`repeated_ngram_starts`]), selected by
/// [`RepeatMarking`] in position order, marks its `n` tokens. Per token (dense): `r_t = p` on marked
/// tokens, 0 elsewhere. Per sequence (HAPO): `r = p·(#marked tokens)/L` ∈ `[p, 0]`; `0` when `L < n`
/// or `p = 0`. `p ≤ 0`. Defaults: `n = 20`, `p = −5`, [`RepeatMarking::All`] (Demystify's CLI
/// defaults; its scripts use `n = 40`, `p = −0.05`; HAPO uses `n = 3` with `p = 0`, i.e. off, by
/// default).
///
/// # Shapes
/// `tokens`: `(L)`; `flags`: `≥ L` (`bool`); `scratch`: `≥` [`ngram_scratch_len`]`(L)` (`u32`);
/// dense `out`: `(L)`.
/// As a term (behind `alloc`): `tokens` `(B)`; as a token term, each row's tokens fill its valid
/// mask positions in order.
///
/// # Errors
/// [`RepetitionPenalty::new`]: `InvalidParam` for `n = 0` or `p > 0`. Evaluation:
/// `InvalidParam` for an empty response; buffer-size `LengthMismatch`; `TooLarge`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{RepeatMarking, RepetitionPenalty, ngram_scratch_len};
/// let rep = RepetitionPenalty::<f64>::new(2, -1.0, RepeatMarking::All)?;
/// let tokens = [5, 6, 5, 6, 7];              // (5, 6) repeats at 2: marks tokens 2 and 3
/// let (mut flags, mut scratch) = ([false; 5], vec![0u32; ngram_scratch_len(5)]);
/// assert_eq!(rep.sequence(&tokens, &mut flags, &mut scratch)?, -0.4); // −1·2/5
/// let mut dense = [0.0; 5];
/// rep.dense(&mut dense, &tokens, &mut flags, &mut scratch)?;
/// assert_eq!(dense, [0.0, 0.0, -1.0, -1.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Huang et al. (2025), arXiv:2505.11225 (`utils.py::compute_repetition_penalty_reward`).
///
/// [^2]: Yeo et al. (2025), arXiv:2502.03373 (`reward/repetition.py::RepetitionDensePenalty`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RepetitionPenalty<F> {
    ngram: usize,
    penalty: F,
    marking: RepeatMarking,
}

impl<F: Real> Default for RepetitionPenalty<F> {
    fn default() -> Self {
        Self {
            ngram: 20,
            penalty: F::lit(-5.0),
            marking: RepeatMarking::All,
        }
    }
}

impl<F: Real> RepetitionPenalty<F> {
    /// `n >= 1`, penalty `p <= 0` and marking.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(ngram: usize, penalty: F, marking: RepeatMarking) -> Result<Self> {
        if ngram == 0 {
            return Err(Error::InvalidParam {
                name: "ngram",
                value: 0.0,
                expected: "an n-gram size >= 1",
            });
        }
        let penalty = param_finite("penalty", penalty)?;
        if penalty > F::ZERO {
            return Err(crate::error::invalid("penalty", penalty, "a penalty <= 0"));
        }
        Ok(Self {
            ngram,
            penalty,
            marking,
        })
    }

    /// The `n`-gram size.
    pub fn ngram(&self) -> usize {
        self.ngram
    }

    /// Visits the marked token ranges `[s, s + n)` in position order.
    fn marks(
        &self,
        tokens: &[u32],
        flags: &mut [bool],
        scratch: &mut [u32],
        mut f: impl FnMut(usize, usize),
    ) -> Result<()> {
        if tokens.is_empty() {
            return Err(Error::InvalidParam {
                name: "tokens",
                value: 0.0,
                expected: "a non-empty response",
            });
        }
        if self.penalty == F::ZERO || tokens.len() < self.ngram {
            return Ok(());
        }
        let n = self.ngram;
        let m = tokens.len() + 1 - n;
        repeated_ngram_starts(flags, scratch, tokens, n)?;
        let mut curr_end: Option<usize> = None;
        for (s, _) in flags.iter().take(m).enumerate().filter(|(_, f)| **f) {
            let apply = match self.marking {
                RepeatMarking::All => true,
                _ => curr_end.is_none_or(|e| s > e),
            };
            if apply {
                f(s, s + n);
            }
            curr_end = match self.marking {
                RepeatMarking::All => None,
                RepeatMarking::NonOverlapping => Some(s + n - 1),
                RepeatMarking::Spaced => Some(s + n),
            };
        }
        Ok(())
    }

    /// The per-sequence penalty `p·(#marked tokens)/L` (HAPO).
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn sequence(&self, tokens: &[u32], flags: &mut [bool], scratch: &mut [u32]) -> Result<F> {
        let mut covered = 0usize;
        let mut until = 0usize;
        self.marks(tokens, flags, scratch, |a, b| {
            let a = a.max(until);
            if b > a {
                covered += b - a;
                until = b;
            }
        })?;
        Ok(F::lit(
            self.penalty.as_f64() * usize_f64(covered) / usize_f64(tokens.len().max(1)),
        ))
    }

    /// The per-token penalty (Demystify's dense form) into `out` (`L` entries, the rest untouched).
    ///
    /// # Errors
    /// See the type-level docs; `LengthMismatch` if `out` is shorter than `L`.
    pub fn dense(
        &self,
        out: &mut [F],
        tokens: &[u32],
        flags: &mut [bool],
        scratch: &mut [u32],
    ) -> Result<()> {
        if out.len() < tokens.len() {
            return Err(Error::LengthMismatch {
                what: "out",
                expected: tokens.len(),
                got: out.len(),
            });
        }
        let p = self.penalty;
        if let Some(o) = out.get_mut(..tokens.len()) {
            o.iter_mut().for_each(|x| *x = F::ZERO);
        }
        self.marks(tokens, flags, scratch, |a, b| {
            if let Some(o) = out.get_mut(a..b) {
                o.iter_mut().for_each(|x| *x = p);
            }
        })
    }
}

/// HAPO's unique-`n`-gram repetition ratio (`compute_repetition_penalty_reward_1`, Huang et
/// al.[^1]), beside the position-marking [`RepetitionPenalty`].
///
/// # Definition
/// Over the `m = L − n + 1` token `n`-grams of a response, `r = (1 − #distinct/m)·p`, `p ≤ 0`:
/// the fraction of `n`-gram occurrences that repeat an earlier one, times the penalty. `r = 0`
/// when `p = 0` (the reference returns before counting) or `L < n` (no `n`-gram: the reference
/// divides by zero). Counting is exact ([`repeated_ngram_starts`]: `#distinct = m − #repeated
/// starts`). `r ∈ [p·(m − 1)/m, 0]`. Defaults: `n = 3`, `p = −1`.
///
/// # Shapes
/// `tokens`: `(L)`; `flags`: `≥ L` (`bool`); `scratch`: `≥` [`ngram_scratch_len`]`(L)` (`u32`).
/// As a term (behind `alloc`): `tokens`, `out`: `(B)`.
///
/// # Errors
/// [`RepetitionRatio::new`]: `InvalidParam` for `n = 0` or `p > 0` (the reference raises) or a
/// non-finite `p`. [`RepetitionRatio::value`]: `InvalidParam` for an empty response; buffer-size
/// `LengthMismatch`; `TooLarge`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{RepetitionRatio, ngram_scratch_len};
/// let rep = RepetitionRatio::<f64>::new(2, -1.0)?;
/// // Bigrams of (5, 6, 5, 6, 7): (5,6) (6,5) (5,6) (6,7): 3 distinct of 4.
/// let (mut flags, mut scratch) = ([false; 5], vec![0u32; ngram_scratch_len(5)]);
/// assert_eq!(rep.value(&[5, 6, 5, 6, 7], &mut flags, &mut scratch)?, -0.25);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Huang et al. (2025), arXiv:2505.11225 (`HCY123902/HAPO`, `utils.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RepetitionRatio<F> {
    ngram: usize,
    penalty: F,
}

impl<F: Real> Default for RepetitionRatio<F> {
    fn default() -> Self {
        Self {
            ngram: 3,
            penalty: -F::ONE,
        }
    }
}

impl<F: Real> RepetitionRatio<F> {
    /// `n >= 1` and penalty `p <= 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(ngram: usize, penalty: F) -> Result<Self> {
        let p = RepetitionPenalty::new(ngram, penalty, RepeatMarking::All)?;
        Ok(Self {
            ngram,
            penalty: p.penalty,
        })
    }

    /// The ratio penalty of one response.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn value(&self, tokens: &[u32], flags: &mut [bool], scratch: &mut [u32]) -> Result<F> {
        if tokens.is_empty() {
            return Err(Error::InvalidParam {
                name: "tokens",
                value: 0.0,
                expected: "a non-empty response",
            });
        }
        if self.penalty == F::ZERO || tokens.len() < self.ngram {
            return Ok(F::ZERO);
        }
        let m = tokens.len() + 1 - self.ngram;
        let repeated = repeated_ngram_starts(flags, scratch, tokens, self.ngram)?;
        Ok(F::lit(
            (usize_f64(repeated) / usize_f64(m)) * self.penalty.as_f64(),
        ))
    }
}

#[cfg(feature = "alloc")]
mod terms {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::RepetitionPenalty;
    use crate::error::{Error, Result, ensure_len};
    use crate::real::Real;
    use crate::reward::compose::{Batch, RewardTerm, TokenRewardTerm};

    impl<F: Real> RewardTerm<F> for RepetitionPenalty<F> {
        fn name(&self) -> &'static str {
            "repetition"
        }

        fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
            let tokens = batch.tokens()?;
            ensure_len("out", tokens.len(), out.len())?;
            let max = tokens.iter().map(|t| t.len()).max().unwrap_or(0);
            let (mut flags, mut scratch) =
                (vec![false; max], vec![0u32; super::ngram_scratch_len(max)]);
            for (o, t) in out.iter_mut().zip(tokens) {
                *o = self.sequence(t, &mut flags, &mut scratch)?;
            }
            Ok(())
        }
    }

    impl<F: Real> RewardTerm<F> for super::RepetitionRatio<F> {
        fn name(&self) -> &'static str {
            "repetition_ratio"
        }

        fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
            let tokens = batch.tokens()?;
            ensure_len("out", tokens.len(), out.len())?;
            let max = tokens.iter().map(|t| t.len()).max().unwrap_or(0);
            let (mut flags, mut scratch) =
                (vec![false; max], vec![0u32; super::ngram_scratch_len(max)]);
            for (o, t) in out.iter_mut().zip(tokens) {
                *o = self.value(t, &mut flags, &mut scratch)?;
            }
            Ok(())
        }
    }

    impl<F: Real> TokenRewardTerm<F> for RepetitionPenalty<F> {
        fn name(&self) -> &'static str {
            "repetition_dense"
        }

        fn score_tokens(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()> {
            let (tokens, mask) = (batch.tokens()?, batch.mask()?);
            mask.shape().check("out", out.len())?;
            let t = mask.shape().seq_len();
            let max = tokens.iter().map(|t| t.len()).max().unwrap_or(0);
            let (mut flags, mut scratch) =
                (vec![false; max], vec![0u32; super::ngram_scratch_len(max)]);
            let mut row_buf: Vec<F> = vec![F::ZERO; max];
            for ((orow, bits), toks) in out.chunks_exact_mut(t).zip(mask.rows()).zip(tokens) {
                let valid = crate::layout::count_true(bits);
                if valid != toks.len() {
                    return Err(Error::LengthMismatch {
                        what: "tokens (per mask row)",
                        expected: valid,
                        got: toks.len(),
                    });
                }
                orow.iter_mut().for_each(|x| *x = F::ZERO);
                if toks.is_empty() {
                    continue;
                }
                self.dense(&mut row_buf, toks, &mut flags, &mut scratch)?;
                let slots = orow.iter_mut().zip(bits).filter(|(_, m)| **m);
                for ((o, _), &v) in slots.zip(row_buf.iter()) {
                    *o = v;
                }
            }
            Ok(())
        }
    }
}

/// The sparse word `n`-gram repetition penalty of "Demystifying Long Chain-of-Thought" (`get_repetition_penalty`).
///
/// # Definition
/// Over the word `n`-grams of the lower-cased, whitespace-split text:
/// `r = (1 − #distinct/#total)·p`, `p ≤ 0`; `r = 0` when `p = 0` or there is no `n`-gram (the
/// reference divides by zero there).
///
/// # Errors
/// `InvalidParam` for `n = 0`, `p > 0` or a non-finite `p`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::word_repetition_penalty;
/// // "a b a b": 2-grams ab, ba, ab → 2 distinct of 3.
/// let r: f64 = word_repetition_penalty("A b a B", 2, -3.0)?;
/// assert!((r + 1.0).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[cfg(feature = "alloc")]
pub fn word_repetition_penalty<F: Real>(text: &str, n: usize, max_penalty: F) -> Result<F> {
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;
    let p = RepetitionPenalty::new(n, max_penalty, RepeatMarking::All)?.penalty;
    if p == F::ZERO {
        return Ok(F::ZERO);
    }
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    if words.len() < n {
        return Ok(F::ZERO);
    }
    let total = words.len() + 1 - n;
    let distinct: BTreeSet<&[&str]> = words.windows(n).collect();
    Ok(F::lit(
        (1.0 - usize_f64(distinct.len()) / usize_f64(total)) * p.as_f64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markings() {
        // tokens: a a a a a (n = 2): repeated starts 1, 2, 3.
        let t = [9u32; 5];
        let (mut f, mut s) = ([false; 5], [0u32; 16]);
        let all = RepetitionPenalty::<f64>::new(2, -1.0, RepeatMarking::All).unwrap();
        // marks [1,3), [2,4), [3,5) → tokens 1..5 → 4 of 5.
        assert_eq!(all.sequence(&t, &mut f, &mut s).unwrap(), -0.8);
        // HAPO only_start: 1 applied (end 2); 2 skipped (2 ≤ 2), end 3; 3 skipped → tokens 1, 2.
        let no = RepetitionPenalty::<f64>::new(2, -1.0, RepeatMarking::NonOverlapping).unwrap();
        assert_eq!(no.sequence(&t, &mut f, &mut s).unwrap(), -0.4);
        // Demystify only_start: 1 applied (end 3); 2, 3 skipped.
        let sp = RepetitionPenalty::<f64>::new(2, -1.0, RepeatMarking::Spaced).unwrap();
        let mut d = [0.0; 5];
        sp.dense(&mut d, &t, &mut f, &mut s).unwrap();
        assert_eq!(d, [0.0, -1.0, -1.0, 0.0, 0.0]);
        // Short and zero-penalty cases.
        assert_eq!(all.sequence(&[1], &mut f, &mut s).unwrap(), 0.0);
        assert!(all.sequence(&[], &mut f, &mut s).is_err());
        assert!(RepetitionPenalty::<f64>::new(0, -1.0, RepeatMarking::All).is_err());
        assert!(RepetitionPenalty::<f64>::new(2, 1.0, RepeatMarking::All).is_err());
        assert!(repeated_ngram_starts(&mut f, &mut [0u32; 8], &t, 2).is_err());
        // The hash table handles collisions: a long sequence with many distinct bigrams.
        let long: Vec<u32> = (0..1000u32).map(|i| i % 37 * 1_000_003).collect();
        let mut fl = vec![false; 1000];
        let mut sc = vec![0u32; ngram_scratch_len(1000)];
        // Bigram (i % 37, (i+1) % 37) repeats with period 37: every start ≥ 37 is a repeat.
        assert_eq!(
            repeated_ngram_starts(&mut fl, &mut sc, &long, 2).unwrap(),
            999 - 37
        );
    }
}
