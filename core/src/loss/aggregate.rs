//! Additive loss parts and the aggregation that turns them into a scalar and a gradient scale.
//!
//! A token loss never returns "the loss": it returns [`LossParts`] (sums and counts) and the
//! per-token gradient of its *sums*. Parts of any split of a batch (data-parallel shards,
//! micro-batches, gradient-accumulation steps) add up to the parts of the whole batch, and an
//! [`Aggregation`] computes every normalizer from the combined parts only. Each shard's value
//! `numerator(shard) / normalizer(total)` and its scaled gradient are then exactly the shard's share
//! of the whole-batch value and gradient, whatever the split. Because the normalizer counts come out
//! of the same mask the loss was computed with, a mask changed after the counts were taken (verl
//! #4852) or a token count taken over the wrong window (TRL #5619) cannot happen.

use core::fmt;
use core::ops::{Add, AddAssign};
use core::str::FromStr;

use crate::error::{Error, Result, UnknownName, ensure_len};
use crate::layout::{Mask, count_true};
use crate::preset::Preset;
use crate::real::{Real, usize_f64};

/// Additive parts of a masked token loss over some rows of a batch.
///
/// # Definition
/// For rows `i` with valid-token counts `Lᵢ = Σₜ mᵢₜ` and per-token losses `ℓᵢₜ`:
/// - `sum = Σᵢ Σₜ mᵢₜ·ℓᵢₜ`
/// - `seq_mean_sum = Σᵢ (Σₜ mᵢₜ·ℓᵢₜ) / dᵢ`, where the row divisor `dᵢ` is set by the
///   [`Aggregation`] the parts were computed for (`Lᵢ`, `Lᵢ + 1e-8` or `max(Lᵢ, 1)`; rows with
///   `Lᵢ = 0` contribute 0)
/// - `tokens = Σ Lᵢ`, `seqs = #{i : Lᵢ > 0}`, `rows = B`
///
/// Parts of disjoint row sets add (`+`, `+=`, `Sum`).
///
/// # Shapes
/// Scalars.
///
/// # Errors
/// None (plain data).
///
/// # Examples
/// ```
/// use rewardkit_core::loss::LossParts;
/// let a = LossParts { sum: 1.0, seq_mean_sum: 0.5, tokens: 2, seqs: 1, rows: 1 };
/// let b = LossParts { sum: 3.0, seq_mean_sum: 1.0, tokens: 3, seqs: 1, rows: 2 };
/// let total: LossParts = [a, b].into_iter().sum();
/// assert_eq!(total, LossParts { sum: 4.0, seq_mean_sum: 1.5, tokens: 5, seqs: 2, rows: 3 });
/// ```
///
/// Citation: the normalizers are verl's `agg_loss` (`verl/trainer/ppo/core_algos.py`) and TRL's
/// `GRPOTrainer._compute_loss` (`trl/trainer/grpo_trainer.py`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LossParts {
    /// `Σᵢ Σₜ mᵢₜ·ℓᵢₜ`.
    pub sum: f64,
    /// `Σᵢ (Σₜ mᵢₜ·ℓᵢₜ) / dᵢ` (see the definition).
    pub seq_mean_sum: f64,
    /// Number of valid tokens `Σ Lᵢ`.
    pub tokens: usize,
    /// Number of rows with at least one valid token.
    pub seqs: usize,
    /// Number of rows, empty ones included.
    pub rows: usize,
}

impl LossParts {
    /// No rows.
    pub const ZERO: Self = Self {
        sum: 0.0,
        seq_mean_sum: 0.0,
        tokens: 0,
        seqs: 0,
        rows: 0,
    };

    /// Adds one row with row sum `row_sum` and `len` valid tokens.
    #[inline]
    pub(crate) fn push_row(&mut self, row_sum: f64, len: usize, agg: &Aggregation) {
        self.sum += row_sum;
        self.tokens += len;
        self.rows += 1;
        if len > 0 {
            self.seqs += 1;
            self.seq_mean_sum += row_sum / agg.row_divisor(len);
        }
    }

    /// Parts of an already masked `(B, T)` matrix of per-token losses (verl's `loss_mat`).
    ///
    /// # Definition
    /// As the type-level definition, with `ℓᵢₜ` read from `loss` where `mᵢₜ` is true (other positions
    /// are ignored, whatever they hold).
    ///
    /// # Shapes
    /// `loss`: `(B, T)` like `mask`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ at a valid position.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{Mask, loss::{Aggregation, LossParts}};
    /// let mask = Mask::new(&[true, true, false, true], 2)?;
    /// let p = LossParts::of_matrix(&[1.0f64, 3.0, 9.0, 4.0], mask, &Aggregation::SeqMeanTokenMean { len_eps: 0.0 })?;
    /// assert_eq!((p.sum, p.seq_mean_sum, p.tokens, p.seqs), (8.0, 6.0, 3, 2));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn of_matrix<F: Real>(loss: &[F], mask: Mask<'_>, agg: &Aggregation) -> Result<Self> {
        mask.shape().check("loss", loss.len())?;
        let t = mask.shape().seq_len();
        let mut parts = Self::ZERO;
        for (i, (row, m)) in loss.chunks_exact(t).zip(mask.rows()).enumerate() {
            let mut s = 0.0f64;
            for (j, (&x, &b)) in row.iter().zip(m).enumerate() {
                if b {
                    if !x.is_finite() {
                        return Err(Error::NonFinite {
                            what: "loss",
                            index: i * t + j,
                        });
                    }
                    s += x.as_f64();
                }
            }
            parts.push_row(s, count_true(m), agg);
        }
        Ok(parts)
    }
}

impl LossParts {
    /// The count parts of a batch from its mask alone (`sum = seq_mean_sum = 0`): what an engine
    /// needs to know the normalizer before the first micro-batch's backward pass.
    ///
    /// # Definition
    /// `tokens = Σ Lᵢ`, `seqs = #{i : Lᵢ > 0}`, `rows = B`. These are exactly the counts every loss
    /// returns for the same mask, and they add across micro-batches and shards; since
    /// [`Aggregation::normalizer`] reads only the counts, `agg.normalizer(&total)`,
    /// `agg.value(&shard_parts, &total)` and `agg.scale_grad(grad, mask, &total)` can use the sum
    /// of `from_mask` over the whole batch as `total`.
    ///
    /// # Shapes
    /// `mask`: `(B, T)`.
    ///
    /// # Errors
    /// None.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{Mask, loss::{Aggregation, LossParts}};
    /// // Two micro-batches; the global token count is known before any loss is computed.
    /// let (a, b) = ([true, true, false, false], [true, false, true, true]);
    /// let total = LossParts::from_mask(Mask::new(&a, 2)?) + LossParts::from_mask(Mask::new(&b, 2)?);
    /// assert_eq!((total.tokens, total.seqs, total.rows), (5, 3, 4));
    /// assert_eq!(Aggregation::TokenMean.normalizer(&total)?, 5.0);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn from_mask(mask: Mask<'_>) -> Self {
        let mut parts = Self::ZERO;
        for m in mask.rows() {
            let len = count_true(m);
            parts.tokens += len;
            parts.seqs += usize::from(len > 0);
            parts.rows += 1;
        }
        parts
    }

    /// Parts from per-row reductions `(row_sum, len)`, exactly as a loss kernel adds its rows: the
    /// seam for a GPU kernel that reduces each row itself.
    ///
    /// # Definition
    /// Per row `i`: `sum += sᵢ`, `tokens += Lᵢ`, `rows += 1`; if `Lᵢ > 0`: `seqs += 1` and
    /// `seq_mean_sum += sᵢ / dᵢ` with the row divisor `dᵢ` of `agg` (see [`LossParts`]). A row with
    /// `Lᵢ = 0` is empty: its sum is not read.
    ///
    /// # Shapes
    /// `row_sums`, `row_lens`: `(B)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`] for a NaN/∞ sum of a non-empty row (its
    /// index).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{Mask, loss::{Aggregation, LossParts}};
    /// let agg = Aggregation::SeqMeanTokenMean { len_eps: 0.0 };
    /// let mask = Mask::new(&[true, true, false, true, false, false], 3)?;
    /// let from_tokens = LossParts::of_matrix(&[1.0f32, 3.0, 9.0, 4.0, 0.0, 0.0], mask, &agg)?;
    /// let from_rows = LossParts::from_row_sums(&[4.0f32, 4.0], &[2, 1], &agg)?;
    /// assert_eq!(from_rows, from_tokens);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn from_row_sums<F: Real>(
        row_sums: &[F],
        row_lens: &[u32],
        agg: &Aggregation,
    ) -> Result<Self> {
        ensure_len("row_lens", row_sums.len(), row_lens.len())?;
        let mut parts = Self::ZERO;
        for (i, (&s, &len)) in row_sums.iter().zip(row_lens).enumerate() {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len == 0 {
                parts.push_row(0.0, 0, agg);
                continue;
            }
            if !s.is_finite() {
                return Err(Error::NonFinite {
                    what: "row_sums",
                    index: i,
                });
            }
            parts.push_row(s.as_f64(), len, agg);
        }
        Ok(parts)
    }
}

impl Add for LossParts {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            sum: self.sum + o.sum,
            seq_mean_sum: self.seq_mean_sum + o.seq_mean_sum,
            tokens: self.tokens + o.tokens,
            seqs: self.seqs + o.seqs,
            rows: self.rows + o.rows,
        }
    }
}

impl AddAssign for LossParts {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl core::iter::Sum for LossParts {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

/// How per-token losses become one scalar: verl's `loss_agg_mode` and TRL's `loss_type`
/// normalizers.
///
/// # Definition
/// With the parts `S = sum`, `M = seq_mean_sum`, `N = tokens`, `Q = seqs`, `R = rows` of the **whole**
/// batch (see [`LossParts`]):
///
/// | variant | value | row divisor `dᵢ` | names |
/// |---|---|---|---|
/// | `TokenMean` | `S / N` | – | `token-mean`; TRL `bnpo`, `dapo`, `cispo`, `vespo`; OpenRLHF token level |
/// | `TokenSum` | `S` | – | `token-sum` |
/// | `SeqMeanTokenSum` | `S / Q` | – | `seq-mean-token-sum` |
/// | `SeqMeanTokenSumNorm { horizon: H }` | `S / (Q·H)` | – | `seq-mean-token-sum-norm` (Dr. GRPO) |
/// | `SeqMeanTokenMean { len_eps: ε }` | `M / Q` | `Lᵢ + ε` | `seq-mean-token-mean`; OpenRLHF sample level |
/// | `RowMeanTokenMean` | `M / R` | `max(Lᵢ, 1)` | TRL `grpo`, `sapo` |
/// | `RowMeanTokenSum` | `S / R` | – | TRL `luspo`; verl `geo_mean` |
/// | `RowMeanTokenSumNorm { horizon: H }` | `S / (R·H)` | – | TRL `dr_grpo` (`H = max_completion_length`) |
///
/// The `Seq…` modes count only rows with a valid token (verl); the `Row…` modes count every row
/// (TRL's `.mean()` over the batch). The rewardkit default `len_eps` is 0 (exact `1/Lᵢ`); verl uses
/// `1e-8` ([`Aggregation::from_preset`]), OpenRLHF's sample-level mean none. The gradient of the
/// value with respect to a token
/// loss `ℓᵢₜ` (valid) is `wᵢ / normalizer`, with `wᵢ = 1/dᵢ` for the token-mean-per-row modes and 1
/// otherwise ([`Aggregation::scale_grad`]).
///
/// # Shapes
/// Parts are scalars; gradients are `(B, T)`.
///
/// # Errors
/// [`Aggregation::normalizer`] returns [`Error::TooFewValid`] when the whole batch has no valid token
/// (or no row, for the `Row…` modes) — the frameworks return NaN there — and
/// [`Error::MissingInput`] for a `…Norm` mode whose horizon was never set.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::{Aggregation, LossParts};
/// let agg: Aggregation = "token-mean".parse()?;
/// let shard_a = LossParts { sum: 2.0, seq_mean_sum: 0.0, tokens: 1, seqs: 1, rows: 1 };
/// let shard_b = LossParts { sum: 4.0, seq_mean_sum: 0.0, tokens: 3, seqs: 1, rows: 1 };
/// let total = shard_a + shard_b;
/// let v: f64 = agg.value::<f64>(&shard_a, &total)? + agg.value::<f64>(&shard_b, &total)?;
/// assert_eq!(v, agg.value::<f64>(&total, &total)?); // 6 / 4 whatever the split
/// assert_eq!(v, 1.5);
/// let dr: Aggregation = "dr_grpo".parse::<Aggregation>()?.with_horizon(512.0)?;
/// assert_eq!(dr, Aggregation::RowMeanTokenSumNorm { horizon: 512.0 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Citation: verl `agg_loss` (`verl/trainer/ppo/core_algos.py`); TRL `loss_type`
/// (`trl/trainer/grpo_trainer.py`); Dr. GRPO, Liu et al. (2025), arXiv:2503.20783; DAPO, Yu et al.
/// (2025), arXiv:2503.14476.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Aggregation {
    /// `S / N`: mean over every valid token of the batch.
    TokenMean,
    /// `S`: plain sum.
    TokenSum,
    /// `S / Q`: mean over non-empty rows of the row sums.
    SeqMeanTokenSum,
    /// `S / (Q·H)`: Dr. GRPO's constant normalizer (verl `loss_scale_factor`).
    SeqMeanTokenSumNorm {
        /// `H`, the constant (verl: `loss_scale_factor`, default the padded length; rewardkit: must
        /// be set). `0` means unset.
        horizon: f64,
    },
    /// `Σᵢ (rowsumᵢ / (Lᵢ + ε)) / Q`: mean over non-empty rows of the row means.
    SeqMeanTokenMean {
        /// `ε` added to each row length (verl: `1e-8`; rewardkit and OpenRLHF: 0).
        len_eps: f64,
    },
    /// `Σᵢ (rowsumᵢ / max(Lᵢ, 1)) / R`: TRL `grpo` (every row counts).
    RowMeanTokenMean,
    /// `S / R`: mean over every row of the row sums (TRL `luspo`; verl `geo_mean`'s `torch.mean`
    /// over per-sequence losses).
    RowMeanTokenSum,
    /// `S / (R·H)`: TRL `dr_grpo` (every row counts).
    RowMeanTokenSumNorm {
        /// `H` (TRL `max_completion_length`); `0` means unset.
        horizon: f64,
    },
}

const AGG_NAMES: &[&str] = &[
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "seq-mean-token-mean",
    "grpo",
    "sapo",
    "bnpo",
    "dapo",
    "cispo",
    "vespo",
    "luspo",
    "row-mean-token-sum",
    "dr_grpo",
];

impl Aggregation {
    /// The mode named `name` (verl `loss_agg_mode` or TRL `loss_type`, as [`FromStr`]) with a
    /// framework's numerics.
    ///
    /// # Definition
    /// `Verl`: `seq-mean-token-mean` divides each row by `Lᵢ + 1e-8` (verl's `masked_mean`);
    /// every other combination is the parsed mode unchanged (OpenRLHF's sample-level mean has no
    /// `ε`). The `…Norm` modes still need [`Aggregation::with_horizon`].
    ///
    /// # Errors
    /// [`UnknownName`] listing every valid name.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::Preset;
    /// use rewardkit_core::loss::Aggregation;
    /// let verl = Aggregation::from_preset(Preset::Verl, "seq-mean-token-mean")?;
    /// assert_eq!(verl, Aggregation::SeqMeanTokenMean { len_eps: 1e-8 });
    /// let dr = Aggregation::from_preset(Preset::Trl, "dr_grpo")?.with_horizon(1024.0)?;
    /// assert_eq!(dr, Aggregation::RowMeanTokenSumNorm { horizon: 1024.0 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Citation: verl `agg_loss` (`core_algos.py`); TRL `loss_type` (`grpo_trainer.py`).
    pub fn from_preset(preset: Preset, name: &str) -> Result<Self, UnknownName> {
        let agg: Self = name.parse()?;
        Ok(match (preset, agg) {
            (Preset::Verl, Self::SeqMeanTokenMean { .. }) => {
                Self::SeqMeanTokenMean { len_eps: 1e-8 }
            }
            (_, other) => other,
        })
    }

    /// Sets the horizon `H` of a `…Norm` mode (no-op for the other modes).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] unless `horizon` is finite and `> 0`.
    pub fn with_horizon(self, horizon: f64) -> Result<Self> {
        if !(horizon.is_finite() && horizon > 0.0) {
            return Err(Error::InvalidParam {
                name: "horizon",
                value: horizon,
                expected: "a finite number > 0",
            });
        }
        Ok(match self {
            Self::SeqMeanTokenSumNorm { .. } => Self::SeqMeanTokenSumNorm { horizon },
            Self::RowMeanTokenSumNorm { .. } => Self::RowMeanTokenSumNorm { horizon },
            other => other,
        })
    }

    /// The divisor `dᵢ` of a row with `len > 0` valid tokens in `seq_mean_sum`.
    #[inline]
    pub(crate) fn row_divisor(&self, len: usize) -> f64 {
        match self {
            Self::SeqMeanTokenMean { len_eps } => usize_f64(len) + len_eps,
            _ => usize_f64(len),
        }
    }

    /// Whether the value uses `seq_mean_sum` (per-row means) rather than `sum`.
    #[inline]
    pub fn uses_row_means(&self) -> bool {
        matches!(self, Self::SeqMeanTokenMean { .. } | Self::RowMeanTokenMean)
    }

    /// The numerator contributed by some rows: `seq_mean_sum` or `sum`.
    #[inline]
    pub fn numerator(&self, parts: &LossParts) -> f64 {
        if self.uses_row_means() {
            parts.seq_mean_sum
        } else {
            parts.sum
        }
    }

    /// The normalizer, from the parts of the whole batch.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn normalizer(&self, total: &LossParts) -> Result<f64> {
        let none = |what| Error::TooFewValid {
            what,
            count: 0,
            min: 1,
        };
        let horizon_of = |h: f64| {
            if h.is_finite() && h > 0.0 {
                Ok(h)
            } else {
                Err(Error::MissingInput { what: "horizon" })
            }
        };
        match *self {
            Self::TokenSum => Ok(1.0),
            Self::TokenMean => match total.tokens {
                0 => Err(none("valid tokens in the batch")),
                n => Ok(usize_f64(n)),
            },
            Self::SeqMeanTokenSum | Self::SeqMeanTokenMean { .. } => match total.seqs {
                0 => Err(none("non-empty sequences in the batch")),
                n => Ok(usize_f64(n)),
            },
            Self::SeqMeanTokenSumNorm { horizon } => match total.seqs {
                0 => Err(none("non-empty sequences in the batch")),
                n => Ok(usize_f64(n) * horizon_of(horizon)?),
            },
            Self::RowMeanTokenMean | Self::RowMeanTokenSum => match total.rows {
                0 => Err(none("rows in the batch")),
                n => Ok(usize_f64(n)),
            },
            Self::RowMeanTokenSumNorm { horizon } => match total.rows {
                0 => Err(none("rows in the batch")),
                n => Ok(usize_f64(n) * horizon_of(horizon)?),
            },
        }
    }

    /// This shard's share of the loss, `numerator(parts) / normalizer(total)`, computed in `f64` and
    /// returned as `F` (rounded once). With `parts == total` it is the loss of the whole batch.
    ///
    /// # Errors
    /// As [`Aggregation::normalizer`], plus [`Error::Overflow`] if the value does not fit in `F`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::loss::{Aggregation, LossParts};
    /// let p = LossParts { sum: 3.0, seq_mean_sum: 0.0, tokens: 2, seqs: 1, rows: 1 };
    /// let v: f32 = Aggregation::TokenMean.value(&p, &p)?; // f32 code gets an f32
    /// assert_eq!(v, 1.5);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn value<F: Real>(&self, parts: &LossParts, total: &LossParts) -> Result<F> {
        let v = F::lit(self.numerator(parts) / self.normalizer(total)?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::Overflow {
                what: "aggregated loss",
            })
        }
    }

    /// Scales the gradient of the loss *sums* (what the loss kernels write) into the gradient of
    /// this shard's share of the aggregated loss: row `i` is multiplied by `wᵢ / normalizer(total)`.
    /// Masked positions are not read and are set to 0.
    ///
    /// # Shapes
    /// `grad`: `(B, T)` like `mask` (the shard's rows).
    ///
    /// # Errors
    /// As [`Aggregation::normalizer`], plus [`Error::LengthMismatch`], and [`Error::Overflow`] when
    /// `1/normalizer` does not fit in `F` (a tiny horizon in `f32`).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{Mask, loss::{Aggregation, LossParts}};
    /// let mask = Mask::new(&[true, true, true, false], 2)?;
    /// let agg = Aggregation::SeqMeanTokenMean { len_eps: 0.0 };
    /// let total = LossParts { sum: 0.0, seq_mean_sum: 0.0, tokens: 3, seqs: 2, rows: 2 };
    /// let mut g = [1.0f64; 4];
    /// agg.scale_grad(&mut g, mask, &total)?;
    /// assert_eq!(g, [0.25, 0.25, 0.5, 0.0]); // 1/(Lᵢ·Q); 0 at the masked slot
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn scale_grad<F: Real>(
        &self,
        grad: &mut [F],
        mask: Mask<'_>,
        total: &LossParts,
    ) -> Result<()> {
        mask.shape().check("grad", grad.len())?;
        let norm = self.normalizer(total)?;
        let t = mask.shape().seq_len();
        if self.uses_row_means() {
            for (g, m) in grad.chunks_exact_mut(t).zip(mask.rows()) {
                let len = count_true(m);
                let w = if len == 0 {
                    F::ZERO
                } else {
                    finite_scale::<F>(1.0 / (self.row_divisor(len) * norm))?
                };
                for (g, &b) in g.iter_mut().zip(m) {
                    *g = if b { *g * w } else { F::ZERO };
                }
            }
        } else {
            let w = finite_scale::<F>(1.0 / norm)?;
            for (g, &b) in grad.iter_mut().zip(mask.bits()) {
                *g = if b { *g * w } else { F::ZERO };
            }
        }
        Ok(())
    }

    /// The weight `wᵢ / normalizer` of each row (what [`Aggregation::scale_grad`] multiplies by),
    /// for engines that scale the gradient themselves.
    ///
    /// # Shapes
    /// `out`: `(B)`; `mask`: `(B, T)`.
    ///
    /// # Errors
    /// As [`Aggregation::scale_grad`].
    pub fn row_weights<F: Real>(
        &self,
        out: &mut [F],
        mask: Mask<'_>,
        total: &LossParts,
    ) -> Result<()> {
        ensure_len("out", mask.shape().batch(), out.len())?;
        let norm = self.normalizer(total)?;
        for (o, m) in out.iter_mut().zip(mask.rows()) {
            let len = count_true(m);
            *o = if self.uses_row_means() {
                if len == 0 {
                    F::ZERO
                } else {
                    finite_scale(1.0 / (self.row_divisor(len) * norm))?
                }
            } else {
                finite_scale(1.0 / norm)?
            };
        }
        Ok(())
    }
}

/// A gradient scale as `F`, or `Err(Overflow)` when it does not fit (a tiny normalizer in `f32`).
fn finite_scale<F: Real>(w: f64) -> Result<F> {
    let w = F::lit(w);
    if w.is_finite() {
        Ok(w)
    } else {
        Err(Error::Overflow {
            what: "gradient scale",
        })
    }
}

impl Default for Aggregation {
    /// `token-mean` (the verl default).
    fn default() -> Self {
        Self::TokenMean
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TokenMean => "token-mean",
            Self::TokenSum => "token-sum",
            Self::SeqMeanTokenSum => "seq-mean-token-sum",
            Self::SeqMeanTokenSumNorm { .. } => "seq-mean-token-sum-norm",
            Self::SeqMeanTokenMean { .. } => "seq-mean-token-mean",
            Self::RowMeanTokenMean => "grpo",
            Self::RowMeanTokenSum => "luspo",
            Self::RowMeanTokenSumNorm { .. } => "dr_grpo",
        })
    }
}

impl FromStr for Aggregation {
    type Err = UnknownName;
    /// Parses verl's `loss_agg_mode` names and TRL's `loss_type` names. The `…Norm` modes come back
    /// with the horizon unset (set it with [`Aggregation::with_horizon`]); `seq-mean-token-mean`
    /// uses the rewardkit `len_eps = 0` (see [`Aggregation::from_preset`]).
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "token-mean" | "bnpo" | "dapo" | "cispo" | "vespo" => Self::TokenMean,
            "token-sum" => Self::TokenSum,
            "seq-mean-token-sum" => Self::SeqMeanTokenSum,
            "seq-mean-token-sum-norm" => Self::SeqMeanTokenSumNorm { horizon: 0.0 },
            "seq-mean-token-mean" => Self::SeqMeanTokenMean { len_eps: 0.0 },
            "grpo" | "sapo" => Self::RowMeanTokenMean,
            "luspo" | "row-mean-token-sum" => Self::RowMeanTokenSum,
            "dr_grpo" => Self::RowMeanTokenSumNorm { horizon: 0.0 },
            _ => {
                return Err(UnknownName {
                    kind: "loss aggregation",
                    valid: AGG_NAMES,
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_normalizers() {
        // Two rows: [1, 3 | masked 9] and [4]; hand-computed: S = 8, M = 2 + 4 = 6, N = 3, Q = 2.
        let bits = [true, true, false, true, false, false];
        let mask = Mask::new(&bits, 3).unwrap();
        let loss = [1.0f64, 3.0, 9.0, 4.0, 0.0, 0.0];
        let exact = Aggregation::SeqMeanTokenMean { len_eps: 0.0 };
        let p = LossParts::of_matrix(&loss, mask, &exact).unwrap();
        assert_eq!(p.value_with(&Aggregation::TokenMean), 8.0 / 3.0);
        assert_eq!(p.value_with(&Aggregation::TokenSum), 8.0);
        assert_eq!(p.value_with(&Aggregation::SeqMeanTokenSum), 4.0);
        assert_eq!(p.value_with(&exact), 3.0);
        let norm = Aggregation::SeqMeanTokenSumNorm { horizon: 4.0 };
        assert_eq!(p.value_with(&norm), 1.0);
        let trl = Aggregation::RowMeanTokenMean;
        assert_eq!(
            LossParts::of_matrix(&loss, mask, &trl)
                .unwrap()
                .value_with(&trl),
            3.0
        );
        assert_eq!(
            p.value_with(&Aggregation::RowMeanTokenSumNorm { horizon: 2.0 }),
            2.0
        );
        // verl's 1/(L + 1e-8).
        let v = Aggregation::SeqMeanTokenMean { len_eps: 1e-8 };
        let pv = LossParts::of_matrix(&loss, mask, &v).unwrap();
        assert_eq!(pv.seq_mean_sum, 4.0 / (2.0 + 1e-8) + 4.0 / (1.0 + 1e-8));
    }

    impl LossParts {
        fn value_with(&self, agg: &Aggregation) -> f64 {
            agg.value(self, self).unwrap()
        }
    }

    #[test]
    fn value_overflow_and_masked_zeros() {
        let p = LossParts {
            sum: 1e300,
            tokens: 1,
            seqs: 1,
            rows: 1,
            ..LossParts::ZERO
        };
        assert_eq!(Aggregation::TokenMean.value::<f64>(&p, &p), Ok(1e300));
        assert_eq!(
            Aggregation::TokenMean.value::<f32>(&p, &p),
            Err(Error::Overflow {
                what: "aggregated loss"
            })
        );
        // scale_grad writes 0 at masked positions whatever they held (NaN included).
        let mask = Mask::new(&[true, false, false, false], 2).unwrap();
        let mut g = [2.0f64, f64::NAN, f64::NAN, 7.0];
        let total = LossParts::from_mask(mask);
        Aggregation::RowMeanTokenMean
            .scale_grad(&mut g, mask, &total)
            .unwrap();
        assert_eq!(g, [1.0, 0.0, 0.0, 0.0]); // 1/(L₀·R) = 1/2
        // from_row_sums ignores the sum of an empty row.
        let agg = Aggregation::TokenMean;
        let p = LossParts::from_row_sums(&[1.0f64, f64::NAN], &[3, 0], &agg).unwrap();
        assert_eq!((p.sum, p.tokens, p.seqs, p.rows), (1.0, 3, 1, 2));
        assert_eq!(
            LossParts::from_row_sums(&[f64::NAN], &[1], &agg),
            Err(Error::NonFinite {
                what: "row_sums",
                index: 0
            })
        );
        assert!(matches!(
            LossParts::from_row_sums(&[1.0f64], &[1, 2], &agg),
            Err(Error::LengthMismatch { .. })
        ));
    }

    #[test]
    fn errors_and_names() {
        let empty = LossParts {
            rows: 2,
            ..LossParts::ZERO
        };
        assert!(matches!(
            Aggregation::TokenMean.normalizer(&empty),
            Err(Error::TooFewValid { .. })
        ));
        assert_eq!(Aggregation::TokenSum.normalizer(&empty), Ok(1.0));
        assert_eq!(Aggregation::RowMeanTokenMean.normalizer(&empty), Ok(2.0));
        let unset: Aggregation = "seq-mean-token-sum-norm".parse().unwrap();
        let one = LossParts {
            tokens: 1,
            seqs: 1,
            rows: 1,
            ..LossParts::ZERO
        };
        assert!(matches!(
            unset.normalizer(&one),
            Err(Error::MissingInput { .. })
        ));
        assert!(unset.with_horizon(0.0).is_err());
        for name in AGG_NAMES {
            let a: Aggregation = name.parse().unwrap();
            let back: Aggregation = a.to_string().parse().unwrap();
            assert_eq!(a.to_string(), back.to_string());
        }
        let e = "mean".parse::<Aggregation>().unwrap_err();
        assert!(e.to_string().contains("seq-mean-token-sum-norm"));
    }
}
