//! verl's rollout rejection sampling (`rollout_rs`, the bypass-mode trust region): tokens or whole
//! sequences whose divergence between the rollout and the training policy exceeds a threshold
//! are dropped from the loss. rewardkit writes the resulting mask (and the statistics verl logs)
//! instead of mutating the input mask; pass the output mask to the loss and to
//! [`crate::loss::LossParts::from_mask`], so the normalizers and the sums come from the same final
//! mask (verl #4852).

use core::fmt;
use core::str::FromStr;

use num_traits::Float;

use crate::error::{Error, Result, UnknownName, ensure_len, param_positive};
use crate::kl::KlEstimator;
use crate::layout::{Mask, count_true};
use crate::preset::Preset;
use crate::real::{Real, usize_f64};
use crate::stats::Summary;

/// Where a rejection rule's statistic lives.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{RsLevel, RsMode};
/// assert_eq!("seq_mean_k3".parse::<RsMode>()?.level, RsLevel::SeqMean);
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RsLevel {
    /// Per token: a token is kept or dropped on its own statistic.
    Token,
    /// Per sequence, the sum of the token statistics.
    SeqSum,
    /// Per sequence, their mean.
    SeqMean,
    /// Per sequence, their maximum.
    SeqMax,
}

/// One verl `rollout_rs` option: a [`KlEstimator`] (`k1`, `k2`, `k3`) at an [`RsLevel`]; verl's
/// names `token_k1` … `seq_max_k3`.
///
/// # Definition
/// With `d = log π_rollout − log π_train` (verl's `−log_ratio`), clamped to `±20`, the token
/// statistic is `k(d)` ([`KlEstimator::eval`]): `k1 = d`, `k2 = d²/2`, `k3 = e^{−d} − 1 + d`
/// (verl's `exp(log_ratio) − 1 − log_ratio`). `seq_max` exists for `k2` and `k3` only.
///
/// # Examples
/// ```
/// use rewardkit_core::KlEstimator;
/// use rewardkit_core::loss::{RsLevel, RsMode};
/// let m: RsMode = "token_k1".parse()?;
/// assert_eq!((m.level, m.estimator), (RsLevel::Token, KlEstimator::K1));
/// assert_eq!(m.to_string(), "token_k1");
/// assert!("seq_max_k1".parse::<RsMode>().is_err());
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
///
/// Citation: verl `rollout_corr_helper.py` (`SUPPORTED_ROLLOUT_RS_OPTIONS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RsMode {
    /// Token or sequence level.
    pub level: RsLevel,
    /// The statistic.
    pub estimator: KlEstimator,
}

const RS_NAMES: &[&str] = &[
    "token_k1",
    "token_k2",
    "token_k3",
    "seq_sum_k1",
    "seq_sum_k2",
    "seq_sum_k3",
    "seq_mean_k1",
    "seq_mean_k2",
    "seq_mean_k3",
    "seq_max_k2",
    "seq_max_k3",
];

impl FromStr for RsMode {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        let err = UnknownName {
            kind: "rollout rejection-sampling option",
            valid: RS_NAMES,
        };
        let (level, est) = s.rsplit_once('_').ok_or(err)?;
        let level = match level {
            "token" => RsLevel::Token,
            "seq_sum" => RsLevel::SeqSum,
            "seq_mean" => RsLevel::SeqMean,
            "seq_max" => RsLevel::SeqMax,
            _ => return Err(err),
        };
        let estimator = match est {
            "k1" if level != RsLevel::SeqMax => KlEstimator::K1,
            "k2" => KlEstimator::K2,
            "k3" => KlEstimator::K3,
            _ => return Err(err),
        };
        Ok(Self { level, estimator })
    }
}

impl fmt::Display for RsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            RsLevel::Token => "token",
            RsLevel::SeqSum => "seq_sum",
            RsLevel::SeqMean => "seq_mean",
            RsLevel::SeqMax => "seq_max",
        };
        write!(f, "{level}_{}", self.estimator)
    }
}

/// A configured rejection rule: a mode and its thresholds.
///
/// # Definition
/// - `k1` modes keep a unit (token or sequence) whose statistic `x` satisfies
///   `ln lower ≤ x ≤ ln upper`; the thresholds are ratio bounds (verl: `"lower_upper"`, or one
///   value `upper` with `lower = 1/upper`).
/// - `k2`, `k3` modes keep `x ≤ upper` (no lower bound).
/// - Sequence levels reduce the valid tokens of a row: `Σ`, `Σ / (L + ε)` (`ε = len_eps`: 0 by
///   default, verl's `1e-8` with [`RejectionRule::from_preset`]) or `max`; a rejected sequence
///   drops all its tokens.
///
/// # Errors
/// [`RejectionRule::new`]: [`Error::InvalidParam`] unless `upper` is finite and `> 0`; for `k1`,
/// `lower` (if given) must be finite, `> 0` and `≤ upper`; `k2`/`k3` take no lower bound.
/// [`RejectionRule::from_verl`] also for a threshold string that is not a number or
/// `"lower_upper"`.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::RejectionRule;
/// let r = RejectionRule::<f32>::from_verl("token_k1".parse()?, "0.5_2.0")?;
/// assert_eq!(r.thresholds(), (Some(0.5), 2.0));
/// let r = RejectionRule::<f32>::from_verl("seq_mean_k3".parse()?, "0.05")?;
/// assert_eq!(r.thresholds(), (None, 0.05));
/// assert!(RejectionRule::<f32>::from_verl("seq_mean_k3".parse()?, "0.01_0.05").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Citation: verl `rollout_corr_helper.py` (`compute_rollout_rejection_mask`,
/// `_parse_rollout_rs_thresholds`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RejectionRule<F> {
    mode: RsMode,
    lower: Option<F>,
    upper: F,
    len_eps: f64,
}

impl<F: Real> RejectionRule<F> {
    /// A rule with thresholds `lower` (`k1` only; default `1/upper`) and `upper`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(mode: RsMode, lower: Option<F>, upper: F) -> Result<Self> {
        let upper = param_positive("rollout_rs_threshold", upper)?;
        let lower = match (mode.estimator, lower) {
            (KlEstimator::K1, None) => {
                let l = F::ONE / upper;
                if !l.is_finite() {
                    return Err(crate::error::invalid(
                        "rollout_rs_threshold",
                        upper,
                        "a number > 0 whose reciprocal is finite",
                    ));
                }
                Some(l)
            }
            (KlEstimator::K1, Some(l)) => {
                let l = param_positive("rollout_rs_threshold_lower", l)?;
                if l > upper {
                    return Err(crate::error::invalid(
                        "rollout_rs_threshold_lower",
                        l,
                        "at most the upper threshold",
                    ));
                }
                Some(l)
            }
            (_, None) => None,
            (_, Some(l)) => {
                return Err(crate::error::invalid(
                    "rollout_rs_threshold_lower",
                    l,
                    "no lower threshold for k2/k3 options",
                ));
            }
        };
        Ok(Self {
            mode,
            lower,
            upper,
            len_eps: 0.0,
        })
    }

    /// A rule with a framework's numerics: `Verl` divides row means (the `seq_mean` statistic, and
    /// the row means a token-level rule reports) by `L + 1e-8` (its `masked_mean`); the others by
    /// `L`.
    ///
    /// # Errors
    /// As [`RejectionRule::new`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::Preset;
    /// use rewardkit_core::loss::RejectionRule;
    /// let r = RejectionRule::<f64>::from_preset(Preset::Verl, "seq_mean_k3".parse()?, None, 0.05)?;
    /// assert_eq!(r.len_eps(), 1e-8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_preset(preset: Preset, mode: RsMode, lower: Option<F>, upper: F) -> Result<Self> {
        let r = Self::new(mode, lower, upper)?;
        Ok(match preset {
            Preset::Verl => Self { len_eps: 1e-8, ..r },
            Preset::Rewardkit | Preset::Trl | Preset::OpenRlhf => r,
        })
    }

    /// verl's configuration: an option and its `rollout_rs_threshold` entry (`"upper"` or
    /// `"lower_upper"`), with verl's numerics ([`RejectionRule::from_preset`]). For several
    /// comma-separated options, make one rule per option.
    ///
    /// # Errors
    /// See the type-level docs.
    ///
    /// # Examples
    /// See the type-level docs.
    pub fn from_verl(mode: RsMode, threshold: &str) -> Result<Self> {
        let num = |s: &str| {
            s.trim().parse::<f64>().map_err(|_| Error::InvalidParam {
                name: "rollout_rs_threshold",
                value: f64::NAN,
                expected: "a number or \"lower_upper\"",
            })
        };
        let (lower, upper) = match threshold.split_once('_') {
            Some((l, u)) => (Some(F::lit(num(l)?)), F::lit(num(u)?)),
            None => (None, F::lit(num(threshold)?)),
        };
        Self::from_preset(Preset::Verl, mode, lower, upper)
    }

    /// Sets `ε` in the `seq_mean` row divisor `L + ε`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless finite and `>= 0`.
    pub fn with_len_eps(self, eps: f64) -> Result<Self> {
        Ok(Self {
            len_eps: crate::error::param_nonneg("len_eps", eps)?,
            ..self
        })
    }

    /// The mode.
    pub fn mode(&self) -> RsMode {
        self.mode
    }

    /// `(lower, upper)`: ratio bounds for `k1`, an upper bound on the statistic for `k2`/`k3`.
    pub fn thresholds(&self) -> (Option<F>, F) {
        (self.lower, self.upper)
    }

    /// `ε` in the `seq_mean` divisor.
    pub fn len_eps(&self) -> f64 {
        self.len_eps
    }

    /// The bounds on the statistic, `(lo, hi)` (`ln` of the ratio bounds for `k1`).
    fn bounds(&self) -> (f64, f64) {
        match self.lower {
            Some(l) => (Float::ln(l.as_f64()), Float::ln(self.upper.as_f64())),
            None => (f64::NEG_INFINITY, self.upper.as_f64()),
        }
    }
}

/// What one rule saw, over the **input** mask (verl's per-option metrics).
///
/// # Definition
/// - `tokens`: [`Summary`] of the per-token statistic over valid tokens (for sequence levels, the
///   row statistic repeated on each of its tokens); verl's `_mean` (which divides by `N + 1e-8`),
///   `_max`/`_min` at token level;
/// - `seqs`: [`Summary`] of the per-row statistic over rows with a valid token (for the token
///   level, the row mean `Σ/(L + ε)` of the token statistic); verl's `_seq_mean`, `_seq_std` (`std(1)`),
///   `_seq_max`, `_seq_min`, and `_max`/`_min` at sequence level;
/// - `above`, `below`: units (tokens at token level, rows at sequence level) above the upper /
///   below the lower bound (verl's `_fraction_high`/`_fraction_low` numerators);
/// - `rejected_tokens`, `rejected_seqs`: valid tokens this rule drops, and rows with at least one
///   (verl's `_masked_fraction` = `rejected_tokens / N`, `_seq_masked_fraction` =
///   `rejected_seqs / seqs.count`).
///
/// verl's `_std` clamps the statistic to the thresholds first; `tokens.std(0)` is unclamped.
///
/// # Examples
/// See [`rejection_mask`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RejectionStats {
    /// The per-token statistic over valid tokens.
    pub tokens: Summary,
    /// The per-row statistic over non-empty rows.
    pub seqs: Summary,
    /// Units above the upper bound.
    pub above: usize,
    /// Units below the lower bound (`k1` only).
    pub below: usize,
    /// Valid tokens this rule rejects.
    pub rejected_tokens: usize,
    /// Non-empty rows with at least one token this rule rejects.
    pub rejected_seqs: usize,
}

impl RejectionStats {
    /// Nothing observed.
    pub const EMPTY: Self = Self {
        tokens: Summary::EMPTY,
        seqs: Summary::EMPTY,
        above: 0,
        below: 0,
        rejected_tokens: 0,
        rejected_seqs: 0,
    };
}

/// The combined outcome of all rules.
///
/// # Definition
/// `tokens`, `seqs`, `rows`: valid tokens, non-empty rows and rows of the input mask;
/// `rejected_tokens`: valid tokens dropped by at least one rule; `rejected_seqs`: rows with at
/// least one dropped token. verl's `rollout_rs_masked_fraction` is
/// `rejected_tokens / (tokens + 1e-8)` and `rollout_rs_seq_masked_fraction` is
/// `rejected_seqs / rows`.
///
/// # Examples
/// See [`rejection_mask`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RejectionSummary {
    /// Valid tokens of the input mask.
    pub tokens: usize,
    /// Valid tokens dropped.
    pub rejected_tokens: usize,
    /// Rows with a valid token.
    pub seqs: usize,
    /// Rows with a dropped token.
    pub rejected_seqs: usize,
    /// Rows.
    pub rows: usize,
}

/// Rejection sampling (verl `rollout_rs`): writes the mask of the tokens every rule keeps, and
/// each rule's statistics.
///
/// # Definition
/// `keep[i, t] = mask[i, t] ∧ ⋀_rules pass(rule, i, t)`, where a rule passes a token when its unit
/// (the token, or its row) has its statistic inside the rule's bounds ([`RejectionRule`]), with
/// `d = clamp(log π_rollout − log π_train, ±20)` per token. Statistics are computed in `f64` on the
/// input mask; all rules see the same input (verl's chained options combine with a logical and).
/// In verl's bypass mode `train_logp` is the current policy's `log_prob` and `rollout_logp` the
/// rollout's.
///
/// # Shapes
/// `keep`, `train_logp`, `rollout_logp`: `(B, T)` like `mask`; `stats`: one per rule.
///
/// # Errors
/// [`Error::LengthMismatch`] for a buffer of the wrong length (`stats` included);
/// [`Error::NonFinite`] for NaN/∞ log-probabilities at a valid position (masked positions are
/// not read).
///
/// # Examples
/// ```
/// use rewardkit_core::Mask;
/// use rewardkit_core::loss::{RejectionRule, RejectionStats, rejection_mask};
/// // Two rows; d = log π_rollout − log π_train per token.
/// let mask = Mask::new(&[true, true, true, false], 2)?;
/// let train = [0.0f64, 0.0, 0.0, 0.0];
/// let rollout = [0.1, -1.0, 0.05, 0.0];
/// // token_k1 with ratio bounds [1/2, 2]: the token with d = −1 < ln ½ is dropped.
/// let rule = RejectionRule::from_verl("token_k1".parse()?, "0.5_2.0")?;
/// let (mut keep, mut stats) = ([false; 4], [RejectionStats::EMPTY]);
/// let s = rejection_mask(&mut keep, &mut stats, &train, &rollout, mask, &[rule])?;
/// assert_eq!(keep, [true, false, true, false]);
/// assert_eq!((s.rejected_tokens, s.rejected_seqs, stats[0].below), (1, 1, 1));
/// let final_mask = Mask::new(&keep, 2)?; // the loss mask: sums and normalizers alike
/// assert_eq!(final_mask.count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Citation: verl `rollout_corr_helper.py` (`compute_rollout_rejection_mask`,
/// `compute_rs_metrics`); Yao et al. (2025), *Your efficient RL framework secretly brings you
/// off-policy RL training*.
pub fn rejection_mask<F: Real>(
    keep: &mut [bool],
    stats: &mut [RejectionStats],
    train_logp: &[F],
    rollout_logp: &[F],
    mask: Mask<'_>,
    rules: &[RejectionRule<F>],
) -> Result<RejectionSummary> {
    let shape = mask.shape();
    shape.check("keep", keep.len())?;
    shape.check("train_logp", train_logp.len())?;
    shape.check("rollout_logp", rollout_logp.len())?;
    ensure_len("stats", rules.len(), stats.len())?;
    let t = shape.seq_len();
    for (idx, ((&a, &b), &m)) in train_logp
        .iter()
        .zip(rollout_logp)
        .zip(mask.bits())
        .enumerate()
    {
        if m && !a.is_finite() {
            return Err(Error::NonFinite {
                what: "train_logp",
                index: idx,
            });
        }
        if m && !b.is_finite() {
            return Err(Error::NonFinite {
                what: "rollout_logp",
                index: idx,
            });
        }
    }
    keep.copy_from_slice(mask.bits());
    // d per token, clamped as verl's SAFETY_BOUND; the statistic of one token.
    let stat = |est: KlEstimator, idx: usize| -> f64 {
        let (a, b) = (
            train_logp.get(idx).map_or(0.0, |x| x.as_f64()),
            rollout_logp.get(idx).map_or(0.0, |x| x.as_f64()),
        );
        est.eval((b - a).clamp(-20.0, 20.0)).0
    };
    for (rule, st) in rules.iter().zip(stats.iter_mut()) {
        let est = rule.mode.estimator;
        let (lo, hi) = rule.bounds();
        let inside = |x: f64| lo <= x && x <= hi;
        // The row statistic of row i (sequence levels), or the row mean (token level).
        let row_stat = |i: usize, m: &[bool]| -> f64 {
            let vals = m
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b)
                .map(|(j, _)| stat(est, i * t + j));
            match rule.mode.level {
                RsLevel::SeqSum => vals.sum(),
                RsLevel::SeqMax => vals.fold(f64::NEG_INFINITY, f64::max),
                RsLevel::SeqMean | RsLevel::Token => {
                    vals.sum::<f64>() / (usize_f64(count_true(m)) + rule.len_eps)
                }
            }
        };
        let seq_level = rule.mode.level != RsLevel::Token;
        let nonempty = || mask.rows().enumerate().filter(|(_, m)| m.contains(&true));
        let seqs = Summary::from_iter(nonempty().map(|(i, m)| row_stat(i, m)));
        let tokens = if seq_level {
            Summary::from_iter(
                nonempty().flat_map(|(i, m)| core::iter::repeat_n(row_stat(i, m), count_true(m))),
            )
        } else {
            Summary::from_iter(
                mask.bits()
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b)
                    .map(|(idx, _)| stat(est, idx)),
            )
        };
        let mut out = RejectionStats {
            tokens,
            seqs,
            ..RejectionStats::EMPTY
        };
        for ((i, m), k) in mask.rows().enumerate().zip(keep.chunks_exact_mut(t)) {
            if !m.contains(&true) {
                continue;
            }
            let mut dropped = 0usize;
            if seq_level {
                let x = row_stat(i, m);
                out.above += usize::from(x > hi);
                out.below += usize::from(x < lo);
                if !inside(x) {
                    dropped = count_true(m);
                    k.iter_mut().for_each(|k| *k = false);
                }
            } else {
                for (j, (k, &b)) in k.iter_mut().zip(m).enumerate() {
                    if b {
                        let x = stat(est, i * t + j);
                        out.above += usize::from(x > hi);
                        out.below += usize::from(x < lo);
                        if !inside(x) {
                            dropped += 1;
                            *k = false;
                        }
                    }
                }
            }
            out.rejected_tokens += dropped;
            out.rejected_seqs += usize::from(dropped > 0);
        }
        *st = out;
    }
    let mut summary = RejectionSummary {
        rows: shape.batch(),
        ..RejectionSummary::default()
    };
    for (m, k) in mask.rows().zip(keep.chunks_exact(t)) {
        let len = count_true(m);
        let dropped = len - count_true(k);
        summary.tokens += len;
        summary.seqs += usize::from(len > 0);
        summary.rejected_tokens += dropped;
        summary.rejected_seqs += usize::from(dropped > 0);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// B = 2, T = 3 (row 1 has two valid tokens); `d = log π_rollout − log π_train` is
    /// `[0, ln 2, −ln 4 | ln 3, 0, ·]` with `train = 0`.
    fn batch() -> ([bool; 6], [f64; 6], [f64; 6]) {
        let (l2, l3) = (2f64.ln(), 3f64.ln());
        (
            [true, true, true, true, true, false],
            [0.0; 6],
            [0.0, l2, -2.0 * l2, l3, 0.0, f64::NAN],
        )
    }

    fn run(rules: &[RejectionRule<f64>]) -> ([bool; 6], Vec<RejectionStats>, RejectionSummary) {
        let (bits, train, roll) = batch();
        let mask = Mask::new(&bits, 3).unwrap();
        let mut keep = [false; 6];
        let mut st = vec![RejectionStats::EMPTY; rules.len()];
        let s = rejection_mask(&mut keep, &mut st, &train, &roll, mask, rules).unwrap();
        (keep, st, s)
    }

    #[test]
    fn token_k1_literal() {
        // Ratio bounds [½, 2] ⇔ ln ½ ≤ d ≤ ln 2 (inclusive): d = −ln 4 and ln 3 are outside.
        let r = RejectionRule::from_verl("token_k1".parse().unwrap(), "0.5_2.0").unwrap();
        let (keep, st, s) = run(&[r]);
        assert_eq!(keep, [true, true, false, false, true, false]);
        let (l2, l3) = (2f64.ln(), 3f64.ln());
        let st = st[0];
        assert!((st.tokens.mean - (l3 - l2) / 5.0).abs() < 1e-15);
        assert_eq!((st.tokens.min, st.tokens.max), (-2.0 * l2, l3));
        assert_eq!((st.above, st.below), (1, 1));
        assert_eq!((st.rejected_tokens, st.rejected_seqs), (2, 2));
        // Row means of the token statistic, with verl's L + 1e-8: (0 + ln 2 − 2 ln 2)/3, ln 3 / 2.
        let want = (-l2 / (3.0 + 1e-8) + l3 / (2.0 + 1e-8)) / 2.0;
        assert!((st.seqs.mean - want).abs() < 1e-16, "{}", st.seqs.mean);
        assert_eq!(
            s,
            RejectionSummary {
                tokens: 5,
                rejected_tokens: 2,
                seqs: 2,
                rejected_seqs: 2,
                rows: 2
            }
        );
        // One threshold means [1/upper, upper].
        let one = RejectionRule::from_verl("token_k1".parse().unwrap(), "2.0").unwrap();
        assert_eq!(one.thresholds(), (Some(0.5), 2.0));
    }

    #[test]
    fn sequence_modes_literal() {
        let (l2, l3) = (2f64.ln(), 3f64.ln());
        // k3 = e^{−d} − 1 + d: row 0 (0, ln 2 − ½, 3 − 2 ln 2), mean (2.5 − ln 2)/3 ≈ 0.602;
        // row 1 (ln 3 − ⅔, 0), mean ≈ 0.216. Threshold 0.5 drops row 0.
        let mean_k3 = RejectionRule::new("seq_mean_k3".parse().unwrap(), None, 0.5).unwrap();
        let (keep, st, _) = run(&[mean_k3]);
        assert_eq!(keep, [false, false, false, true, true, false]);
        let row0 = (2.5 - l2) / 3.0;
        let row1 = (l3 - 2.0 / 3.0) / 2.0;
        assert!((st[0].seqs.max - row0).abs() < 1e-15 && (st[0].seqs.min - row1).abs() < 1e-15);
        // Token-weighted mean of the row statistic: (3·row0 + 2·row1)/5.
        assert!((st[0].tokens.mean - (3.0 * row0 + 2.0 * row1) / 5.0).abs() < 1e-15);
        assert_eq!(
            (st[0].above, st[0].rejected_tokens, st[0].rejected_seqs),
            (1, 3, 1)
        );
        // seq_max_k2: ½(2 ln 2)² ≈ 0.96 and ½(ln 3)² ≈ 0.60; threshold 0.7 drops row 0 only.
        let max_k2 = RejectionRule::new("seq_max_k2".parse().unwrap(), None, 0.7).unwrap();
        let (keep, st, _) = run(&[max_k2]);
        assert_eq!(keep, [false, false, false, true, true, false]);
        assert!((st[0].seqs.max - 2.0 * l2 * l2).abs() < 1e-15);
        // seq_sum_k1 with ratio bounds [0.4, 2.5]: row sums −ln 2 and ln 3 > ln 2.5.
        let sum_k1 = RejectionRule::new("seq_sum_k1".parse().unwrap(), Some(0.4), 2.5).unwrap();
        let (keep, st, _) = run(&[sum_k1]);
        assert_eq!(keep, [true, true, true, false, false, false]);
        assert_eq!((st[0].above, st[0].below), (1, 0));
        // Chained options: a token survives only if every rule keeps it.
        let tok = RejectionRule::from_verl("token_k1".parse().unwrap(), "0.5_2.0").unwrap();
        let (keep, st, s) = run(&[tok, mean_k3]);
        assert_eq!(keep, [false, false, false, false, true, false]);
        assert_eq!((st[0].rejected_tokens, st[1].rejected_tokens), (2, 3));
        assert_eq!((s.rejected_tokens, s.rejected_seqs), (4, 2));
    }

    #[test]
    fn parameters_and_names() {
        for name in RS_NAMES {
            let m: RsMode = name.parse().unwrap();
            assert_eq!(m.to_string(), *name);
        }
        assert!("token_k4".parse::<RsMode>().is_err());
        assert!("k1".parse::<RsMode>().is_err());
        let k1: RsMode = "token_k1".parse().unwrap();
        let k3: RsMode = "token_k3".parse().unwrap();
        assert!(RejectionRule::new(k1, Some(3.0), 2.0f64).is_err());
        assert!(RejectionRule::new(k1, Some(0.0), 2.0f64).is_err());
        assert!(RejectionRule::new(k3, Some(0.1), 2.0f64).is_err());
        assert!(RejectionRule::new(k3, None, 0.0f64).is_err());
        assert!(RejectionRule::<f64>::from_verl(k3, "abc").is_err());
        assert!(RejectionRule::<f64>::from_verl(k1, "0.5_x").is_err());
        assert_eq!(
            RejectionRule::<f64>::new(k3, None, 1.0).unwrap().len_eps(),
            0.0
        );
    }
}
