//! The composition model: a [`Batch`] of per-sample inputs, [`RewardTerm`]s that score it, and a
//! [`Pipeline`] that combines weighted terms into one reward per sample or per token while reporting
//! each term separately.

use core::fmt;

use crate::error::{Error, Result, ensure_finite, ensure_len, ensure_nonempty};
use crate::layout::{GroupIndex, Mask};
use crate::real::Real;

/// The per-sample inputs reward terms read: `B` sampled responses and whatever is known about them.
///
/// Every input is optional; a term asks for what it needs and gets [`Error::MissingInput`] if it was
/// not provided. Each `with_*` method checks that the input has one entry per sample.
///
/// | input | type | read by |
/// |---|---|---|
/// | `correct` | `(B)` `bool` | correctness, length rewards |
/// | `well_formed` | `(B)` `bool` (default: all `true`) | [`Correctness`](super::Correctness) malformed value, [`WellFormed`](super::WellFormed) (required), LASER-D/DE |
/// | `lengths` | `(B)` `u32 ≥ 1` token counts | length rewards |
/// | `scores` | `(B)` RM scores | PAR, reward shaping |
/// | `refs` | `(B, M)` reference rewards | PAR |
/// | `texts` | `(B)` `&str` | format, reasoning-pattern rewards |
/// | `tokens` | `(B)` `&[u32]` token ids | repetition penalties |
/// | `keys` | `(B)` `u64` prompt keys | HAPO history |
/// | `groups` | [`GroupIndex`] over `B` rows | group-relative terms (Kimi, LASER-D) |
/// | `mask` | `(B, T)` [`Mask`] | token-level terms, per-token placement |
///
/// # Errors
/// [`Batch::new`] returns [`Error::Empty`] for `B = 0`; every `with_*` returns
/// [`Error::LengthMismatch`] for an input without `B` entries (and [`Error::BadShape`] for
/// references whose length is not a multiple of `B`, or a mask with another number of rows).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Batch;
///
/// let batch = Batch::<f32>::new(2)?
///     .with_correct(&[true, false])?
///     .with_lengths(&[120, 300])?;
/// assert_eq!(batch.len(), 2);
/// assert_eq!(batch.lengths()?, &[120, 300]);
/// assert!(batch.texts().is_err()); // not provided
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a, F> {
    len: usize,
    correct: Option<&'a [bool]>,
    well_formed: Option<&'a [bool]>,
    lengths: Option<&'a [u32]>,
    scores: Option<&'a [F]>,
    refs: Option<(&'a [F], usize)>,
    texts: Option<&'a [&'a str]>,
    tokens: Option<&'a [&'a [u32]]>,
    keys: Option<&'a [u64]>,
    groups: Option<&'a GroupIndex<'a>>,
    mask: Option<Mask<'a>>,
}

macro_rules! accessor {
    ($(#[$doc:meta])* $name:ident, $ty:ty) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// [`Error::MissingInput`] if it was not provided.
        #[inline]
        pub fn $name(&self) -> Result<$ty> {
            self.$name.ok_or(Error::MissingInput { what: stringify!($name) })
        }
    };
}

impl<'a, F: Real> Batch<'a, F> {
    /// A batch of `len` samples with no inputs yet.
    ///
    /// # Errors
    /// [`Error::Empty`] if `len == 0`.
    pub fn new(len: usize) -> Result<Self> {
        ensure_nonempty("batch", len)?;
        Ok(Self {
            len,
            correct: None,
            well_formed: None,
            lengths: None,
            scores: None,
            refs: None,
            texts: None,
            tokens: None,
            keys: None,
            groups: None,
            mask: None,
        })
    }

    /// Number of samples `B`.
    #[inline]
    #[expect(clippy::len_without_is_empty, reason = "a batch is never empty")]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Per-sample verified correctness.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless it has `B` entries.
    pub fn with_correct(mut self, correct: &'a [bool]) -> Result<Self> {
        ensure_len("correct", self.len, correct.len())?;
        self.correct = Some(correct);
        Ok(self)
    }

    /// Per-sample format validity (`false` = malformed, e.g. no extractable answer).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless it has `B` entries.
    pub fn with_well_formed(mut self, well_formed: &'a [bool]) -> Result<Self> {
        ensure_len("well_formed", self.len, well_formed.len())?;
        self.well_formed = Some(well_formed);
        Ok(self)
    }

    /// Per-sample response lengths in tokens (each `>= 1`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless it has `B` entries; [`Error::InvalidParam`] for a zero length.
    pub fn with_lengths(mut self, lengths: &'a [u32]) -> Result<Self> {
        ensure_len("lengths", self.len, lengths.len())?;
        super::check_lengths("lengths", lengths)?;
        self.lengths = Some(lengths);
        Ok(self)
    }

    /// Per-sample reward-model scores.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless it has `B` entries; [`Error::NonFinite`] for NaN/∞.
    pub fn with_scores(mut self, scores: &'a [F]) -> Result<Self> {
        ensure_len("scores", self.len, scores.len())?;
        ensure_finite("scores", scores)?;
        self.scores = Some(scores);
        Ok(self)
    }

    /// Reference rewards, row-major `(B, M)`: `M` per sample (PAR).
    ///
    /// # Errors
    /// [`Error::MissingInput`] for no references; [`Error::BadShape`] unless the length is `B·M`
    /// for some `M >= 1`; [`Error::NonFinite`] for NaN/∞.
    pub fn with_refs(mut self, refs: &'a [F]) -> Result<Self> {
        if refs.is_empty() {
            return Err(Error::MissingInput { what: "refs" });
        }
        if refs.len() % self.len != 0 {
            return Err(Error::BadShape {
                what: "refs",
                len: refs.len(),
                dim: self.len,
            });
        }
        ensure_finite("refs", refs)?;
        self.refs = Some((refs, refs.len() / self.len));
        Ok(self)
    }

    /// Response texts.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless it has `B` entries.
    pub fn with_texts(mut self, texts: &'a [&'a str]) -> Result<Self> {
        ensure_len("texts", self.len, texts.len())?;
        self.texts = Some(texts);
        Ok(self)
    }

    /// Response token ids, one slice per sample.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless it has `B` entries.
    pub fn with_tokens(mut self, tokens: &'a [&'a [u32]]) -> Result<Self> {
        ensure_len("tokens", self.len, tokens.len())?;
        self.tokens = Some(tokens);
        Ok(self)
    }

    /// Per-sample prompt keys (stable across batches, e.g. a dataset index), for history terms.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless it has `B` entries.
    pub fn with_keys(mut self, keys: &'a [u64]) -> Result<Self> {
        ensure_len("keys", self.len, keys.len())?;
        self.keys = Some(keys);
        Ok(self)
    }

    /// The prompt groups.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless the index has `B` rows.
    pub fn with_groups(mut self, groups: &'a GroupIndex<'a>) -> Result<Self> {
        groups.check_rows("groups", self.len)?;
        self.groups = Some(groups);
        Ok(self)
    }

    /// The `(B, T)` token mask, for token-level terms and per-token placement.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless the mask has `B` rows.
    pub fn with_mask(mut self, mask: Mask<'a>) -> Result<Self> {
        mask.shape().check_batch("mask", self.len)?;
        self.mask = Some(mask);
        Ok(self)
    }

    accessor!(
        /// Verified correctness, `(B)`.
        correct, &'a [bool]
    );
    accessor!(
        /// Response lengths, `(B)`.
        lengths, &'a [u32]
    );
    accessor!(
        /// RM scores, `(B)`.
        scores, &'a [F]
    );
    accessor!(
        /// Response texts, `(B)`.
        texts, &'a [&'a str]
    );
    accessor!(
        /// Token ids, `(B)` slices.
        tokens, &'a [&'a [u32]]
    );
    accessor!(
        /// Prompt keys, `(B)`.
        keys, &'a [u64]
    );
    accessor!(
        /// Prompt groups.
        groups, &'a GroupIndex<'a>
    );
    accessor!(
        /// The `(B, T)` mask.
        mask, Mask<'a>
    );

    /// Format validity, `(B)`, if provided (absent means every response is well formed).
    #[inline]
    pub fn well_formed(&self) -> Option<&'a [bool]> {
        self.well_formed
    }

    /// Reference rewards `(B, M)` and `M`.
    ///
    /// # Errors
    /// [`Error::MissingInput`] if they were not provided.
    #[inline]
    pub fn refs(&self) -> Result<(&'a [F], usize)> {
        self.refs.ok_or(Error::MissingInput { what: "refs" })
    }
}

/// A reward term that scores every sample of a [`Batch`] with one scalar.
///
/// Implemented by the catalogue's parameter types ([`Correctness`](super::Correctness),
/// [`Format`](super::Format), [`Laser`](super::Laser), [`Par`](super::Par), ...); implement it for
/// your own reward. A term must write every entry of `out` and report bad input as an `Err`.
///
/// # Shapes
/// `out`: `(B)`.
///
/// # Errors
/// Whatever the term reports: typically [`Error::MissingInput`] for an input it needs.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Batch, RewardTerm};
/// use rewardkit_core::Result;
///
/// /// +1 for answers under 100 tokens.
/// struct Short;
/// impl RewardTerm<f64> for Short {
///     fn name(&self) -> &'static str { "short" }
///     fn score(&self, out: &mut [f64], batch: &Batch<'_, f64>) -> Result<()> {
///         for (o, &l) in out.iter_mut().zip(batch.lengths()?) {
///             *o = if l < 100 { 1.0 } else { 0.0 };
///         }
///         Ok(())
///     }
/// }
/// let batch = Batch::new(2)?.with_lengths(&[50, 150])?;
/// let mut out = [0.0; 2];
/// Short.score(&mut out, &batch)?;
/// assert_eq!(out, [1.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub trait RewardTerm<F: Real> {
    /// A short name for logs (`"correctness"`, `"hapo"`, ...).
    fn name(&self) -> &'static str;

    /// Writes one reward per sample into `out` (`B` entries).
    ///
    /// # Errors
    /// As the implementation documents.
    fn score(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()>;
}

/// A reward term that scores tokens: writes a `(B, T)` reward matrix. Positions where the mask is
/// off are never read by a [`Pipeline`] (rewardkit's own terms write 0 there).
///
/// # Shapes
/// `out`: `(B, T)`, the shape of the batch's mask.
///
/// # Errors
/// Whatever the term reports; [`Error::MissingInput`] without a mask.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Batch, TokenRewardTerm};
/// use rewardkit_core::{Mask, Result};
///
/// /// −0.01 per valid token.
/// struct PerToken;
/// impl TokenRewardTerm<f32> for PerToken {
///     fn name(&self) -> &'static str { "per_token" }
///     fn score_tokens(&self, out: &mut [f32], batch: &Batch<'_, f32>) -> Result<()> {
///         for (o, &m) in out.iter_mut().zip(batch.mask()?.bits()) {
///             *o = if m { -0.01 } else { 0.0 };
///         }
///         Ok(())
///     }
/// }
/// let bits = [true, true, true, false];
/// let batch = Batch::new(2)?.with_mask(Mask::new(&bits, 2)?)?;
/// let mut out = [0.0f32; 4];
/// PerToken.score_tokens(&mut out, &batch)?;
/// assert_eq!(out, [-0.01, -0.01, -0.01, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub trait TokenRewardTerm<F: Real> {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// Writes the `(B, T)` per-token rewards into `out`.
    ///
    /// # Errors
    /// As the implementation documents.
    fn score_tokens(&self, out: &mut [F], batch: &Batch<'_, F>) -> Result<()>;
}

/// A term of a [`Pipeline`]: one scalar per sample, or one reward per token.
#[derive(Clone, Copy)]
pub enum Term<'t, F> {
    /// A per-sample term.
    Sequence(&'t dyn RewardTerm<F>),
    /// A per-token term.
    Token(&'t dyn TokenRewardTerm<F>),
}

impl<F: Real> Term<'_, F> {
    /// The term's name.
    pub fn name(&self) -> &'static str {
        match self {
            Term::Sequence(t) => t.name(),
            Term::Token(t) => t.name(),
        }
    }
}

impl<F: Real> fmt::Debug for Term<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Sequence(t) => write!(f, "Sequence({})", t.name()),
            Term::Token(t) => write!(f, "Token({})", t.name()),
        }
    }
}

/// A term with its weight.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Correctness, Weighted};
/// let c = Correctness::<f32>::default();
/// let w = Weighted::sequence(&c, 1.0);
/// assert_eq!(w.term.name(), "correctness");
/// ```
#[derive(Clone, Copy)]
pub struct Weighted<'t, F> {
    /// The term.
    pub term: Term<'t, F>,
    /// Its weight `w_k` (validated finite by [`Pipeline::new`]).
    pub weight: F,
}

impl<F: Real> fmt::Debug for Weighted<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Weighted")
            .field("term", &self.term)
            .field("weight", &self.weight)
            .finish()
    }
}

impl<'t, F: Real> Weighted<'t, F> {
    /// A per-sample term with weight `weight`.
    pub fn sequence(term: &'t dyn RewardTerm<F>, weight: F) -> Self {
        Self {
            term: Term::Sequence(term),
            weight,
        }
    }

    /// A per-token term with weight `weight`.
    pub fn token(term: &'t dyn TokenRewardTerm<F>, weight: F) -> Self {
        Self {
            term: Term::Token(term),
            weight,
        }
    }
}

/// Weighted reward terms combined into one reward per sample or per token, with every term reported.
///
/// # Definition
/// Per sample: `rᵢ = Σ_k w_k·x_{k,i}`, where `x_{k,i}` is term `k`'s value for sample `i` (a token
/// term's value is the sum of its rewards over the row's valid tokens). Per token:
/// `r_{i,t} = Σ_{k token} w_k·x_{k,i,t} + 1{t = last valid token of row i}·Σ_{k sequence} w_k·x_{k,i}`
/// (the verl/OpenRLHF convention of putting an outcome reward on the last valid token).
/// Sums over terms of a sample accumulate in `f64`.
///
/// # Shapes
/// `parts`: `(K, B)` row-major, `K` = number of terms: `parts[k·B + i] = x_{k,i}` (unweighted,
/// for logging). `scratch`: `(B, T)` when the pipeline has token terms, else may be empty.
///
/// # Errors
/// [`Pipeline::new`]: [`Error::Empty`] for no terms, [`Error::InvalidParam`] for a non-finite
/// weight. Evaluation: [`Error::LengthMismatch`] for wrong buffer sizes, [`Error::MissingInput`] for
/// an input a term needs (a mask for token terms or per-token placement), [`Error::TooFewValid`] for
/// a mask row without a valid token in [`Pipeline::eval_tokens`], [`Error::NonFinite`] if a term
/// writes NaN/∞, [`Error::Overflow`] if a weighted sum overflows; plus each term's own errors.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{Batch, Correctness, Laser, LaserMode, Pipeline, Weighted};
///
/// let correct = Correctness::<f64>::default();
/// let laser = Laser::new(0.5, 100, LaserMode::Reward)?;
/// let terms = [Weighted::sequence(&correct, 1.0), Weighted::sequence(&laser, 2.0)];
/// let pipeline = Pipeline::new(&terms)?;
///
/// let batch = Batch::new(3)?.with_correct(&[true, true, false])?.with_lengths(&[80, 120, 50])?;
/// let (mut out, mut parts) = ([0.0; 3], [0.0; 6]);
/// pipeline.eval(&mut out, &mut parts, &mut [], &batch)?;
/// assert_eq!(out, [2.0, 1.0, 0.0]);                 // 1 + 2·0.5, 1 + 0, 0 + 0
/// assert_eq!(parts, [1.0, 1.0, 0.0, 0.5, 0.0, 0.0]); // per term, unweighted
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Pipeline<'t, F> {
    terms: &'t [Weighted<'t, F>],
}

impl<F: Real> fmt::Debug for Pipeline<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.terms.iter().map(|w| (w.term.name(), w.weight)))
            .finish()
    }
}

impl<'t, F: Real> Pipeline<'t, F> {
    /// A pipeline over `terms`.
    ///
    /// # Errors
    /// [`Error::Empty`] for no terms; [`Error::InvalidParam`] for a non-finite weight.
    pub fn new(terms: &'t [Weighted<'t, F>]) -> Result<Self> {
        ensure_nonempty("terms", terms.len())?;
        for w in terms {
            crate::error::param_finite("weight", w.weight)?;
        }
        Ok(Self { terms })
    }

    /// Number of terms `K`.
    pub fn n_terms(&self) -> usize {
        self.terms.len()
    }

    /// The terms' names, in order (the rows of `parts`).
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.terms.iter().map(|w| w.term.name())
    }

    /// Computes every term into its row of `parts`; token terms also write their weighted rewards
    /// into `tokens_out` when given.
    fn parts(
        &self,
        parts: &mut [F],
        scratch: &mut [F],
        batch: &Batch<'_, F>,
        mut tokens_out: Option<&mut [F]>,
    ) -> Result<()> {
        let b = batch.len();
        ensure_len("parts", self.terms.len() * b, parts.len())?;
        for (w, part) in self.terms.iter().zip(parts.chunks_exact_mut(b)) {
            match w.term {
                Term::Sequence(t) => {
                    t.score(part, batch)?;
                    check_term_output(part)?;
                }
                Term::Token(t) => {
                    let mask = batch.mask()?;
                    mask.shape().check("scratch", scratch.len())?;
                    t.score_tokens(scratch, batch)?;
                    // Masked positions of a token term's output are never read.
                    super::ensure_finite_masked("term output", scratch, mask.bits())?;
                    let tcols = mask.shape().seq_len();
                    for ((p, row), bits) in part
                        .iter_mut()
                        .zip(scratch.chunks_exact(tcols))
                        .zip(mask.rows())
                    {
                        let s: f64 = row
                            .iter()
                            .zip(bits)
                            .filter(|(_, m)| **m)
                            .map(|(x, _)| x.as_f64())
                            .sum();
                        *p = finite_or_overflow(s, "token term sum")?;
                    }
                    if let Some(out) = tokens_out.as_deref_mut() {
                        for ((o, &x), &m) in out.iter_mut().zip(scratch.iter()).zip(mask.bits()) {
                            if m {
                                *o = *o + w.weight * x;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `Σ_k w_k·parts[k·B + i]` over the terms selected by `select`, in `f64`.
    fn combine(
        &self,
        parts: &[F],
        b: usize,
        i: usize,
        select: impl Fn(&Term<'_, F>) -> bool,
    ) -> f64 {
        self.terms
            .iter()
            .zip(parts.chunks_exact(b))
            .filter(|(w, _)| select(&w.term))
            .map(|(w, part)| w.weight.as_f64() * part.get(i).map_or(0.0, |p| p.as_f64()))
            .sum()
    }

    /// One combined reward per sample.
    ///
    /// # Shapes
    /// `out`: `(B)`; `parts`: `(K, B)`; `scratch`: `(B, T)` if there are token terms.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn eval(
        &self,
        out: &mut [F],
        parts: &mut [F],
        scratch: &mut [F],
        batch: &Batch<'_, F>,
    ) -> Result<()> {
        let b = batch.len();
        ensure_len("out", b, out.len())?;
        self.parts(parts, scratch, batch, None)?;
        for (i, o) in out.iter_mut().enumerate() {
            *o = finite_or_overflow(self.combine(parts, b, i, |_| true), "combined reward")?;
        }
        Ok(())
    }

    /// One reward per token: token terms where they fall, sequence terms summed onto each row's last
    /// valid token.
    ///
    /// # Shapes
    /// `out`, `scratch`: `(B, T)` (the batch's mask); `parts`: `(K, B)`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn eval_tokens(
        &self,
        out: &mut [F],
        parts: &mut [F],
        scratch: &mut [F],
        batch: &Batch<'_, F>,
    ) -> Result<()> {
        let mask = batch.mask()?;
        mask.shape().check("out", out.len())?;
        let b = batch.len();
        // Every row needs a token to carry its sequence reward.
        if mask.rows().any(|r| !r.contains(&true)) {
            return Err(Error::TooFewValid {
                what: "mask row",
                count: 0,
                min: 1,
            });
        }
        out.iter_mut().for_each(|o| *o = F::ZERO);
        self.parts(parts, scratch, batch, Some(out))?;
        let tcols = mask.shape().seq_len();
        for (i, (row, bits)) in out.chunks_exact_mut(tcols).zip(mask.rows()).enumerate() {
            let seq = self.combine(parts, b, i, |t| matches!(t, Term::Sequence(_)));
            if let Some(last) = bits.iter().rposition(|&m| m) {
                if let Some(o) = row.get_mut(last) {
                    *o = finite_or_overflow(o.as_f64() + seq, "combined reward")?;
                }
            }
        }
        if out.iter().any(|x| !x.is_finite()) {
            return Err(Error::Overflow {
                what: "combined token reward",
            });
        }
        Ok(())
    }
}

/// A term's output must be finite.
fn check_term_output<F: Real>(xs: &[F]) -> Result<()> {
    ensure_finite("term output", xs)
}

/// Rounds an `f64` sum to `F`, reporting overflow.
#[inline]
pub(crate) fn finite_or_overflow<F: Real>(x: f64, what: &'static str) -> Result<F> {
    let v = F::lit(x);
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Overflow { what })
    }
}
