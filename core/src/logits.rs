//! Math over rows of logits: log-sum-exp, softmax and log-softmax, log-probabilities of given
//! tokens, entropy and the exact full-vocabulary KL, each with its backward pass.
//!
//! # Conventions
//! - Logits are row-major `(N, V)`: `N` rows (flattened `(B, T)` positions) of `V` logits. `−∞` is
//!   a valid logit (a token of probability zero); NaN and `+∞` are errors, and so is a row of only
//!   `−∞` (no distribution).
//! - Every row is reduced in `f64`, whatever `F`: an `f32` result is the `f64` result rounded once.
//! - **Forward passes cache the row statistics.** [`RowStats`] holds `max z` and
//!   `ln Σ e^{z − max}` of a row. Each forward pass writes them into an `(N)` buffer the caller
//!   owns; the matching backward pass reads them back instead of reducing the row again (llm.c's
//!   pattern of caching what the backward needs).
//! - **Backward passes accumulate** (`grad_logits += …`), as llm.c does, so several loss terms —
//!   the policy loss through [`logprobs_backward`], a full-vocabulary KL, an entropy bonus — add
//!   their gradients into one `(N, V)` buffer. Zero it once before the first backward pass. A row
//!   whose upstream gradient is 0 (a masked position) is not read at all: its logits, statistics
//!   and cached values may hold anything, and its gradient row is left as it is.
//! - Log-probabilities are `(z − max) − ln Σ`, never `z − logsumexp(z)`: with huge logits
//!   (`|z| ≈ 1e32` in `f32`) `max + ln Σ` absorbs `ln Σ` and every log-probability would be 0. The
//!   row sum is `ln_1p` of the terms other than the maximum's (which is exactly 1), so a confident
//!   row keeps its tail: `log π(argmax) ≈ −e^{−40}`, not `0`.
//!
//! # Example: three loss terms, one gradient buffer
//! ```
//! use rewardkit_core::logits::{
//!     RowStats, entropy_backward, entropy_forward, logprobs_backward, logprobs_forward,
//! };
//!
//! // Two positions, V = 3.
//! let (v, z) = (3, [0.5f64, -1.0, 2.0, 0.0, 0.3, -0.7]);
//! let ids = [2u32, 1];
//! let (mut logp, mut h, mut stats) = ([0.0; 2], [0.0; 2], [RowStats::default(); 2]);
//! logprobs_forward(&mut logp, &mut stats, &z, &ids, v)?;
//! entropy_forward(&mut h, &mut stats, &z, v)?;
//! // d loss / d logp from a policy loss, and an entropy bonus −0.01·H per position.
//! let mut grad = [0.0; 6];
//! logprobs_backward(&mut grad, &[-0.5, 0.25], &z, &stats, &ids, v)?;
//! entropy_backward(&mut grad, &[-0.01, -0.01], &z, &stats, &h, v)?;
//! // Each row of a softmax gradient sums to zero.
//! assert!((grad[0] + grad[1] + grad[2]).abs() < 1e-15);
//! # Ok::<(), rewardkit_core::Error>(())
//! ```
//!
//! Citations: TRL `selective_log_softmax` (`trl/trainer/utils.py`); verl `logprobs_from_logits`,
//! `entropy_from_logits` (`verl/utils/torch_functional.py`); llm.c `train_gpt2.c` (cached forward
//! statistics, accumulating backward).

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, ensure_nonempty};
use crate::real::Real;

// ---------------------------------------------------------------------------------------------
// Row statistics
// ---------------------------------------------------------------------------------------------

/// The statistics of one row of logits that every softmax-family quantity is built from.
///
/// # Definition
/// `max = max_v z_v`, `ln_sum = ln Σ_v e^{z_v − max}` (computed as `ln_1p` of the terms other
/// than the first maximum's, so `ln_sum ≥ 0`); then `logsumexp(z) = max + ln_sum` and
/// `log π_v = (z_v − max) − ln_sum`.
///
/// # Shapes
/// One value per row: `(N)` buffers for `(N, V)` logits.
///
/// # Errors
/// [`RowStats::of`]: [`Error::Empty`] for an empty row, [`Error::NonFinite`] for NaN or `+∞` (the
/// index within the row) or a row of only `−∞`.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::RowStats;
/// let s = RowStats::of(&[0.0f64, 3f64.ln()])?; // π = (1/4, 3/4)
/// assert_eq!(s.max, 3f64.ln());
/// assert!((s.logsumexp() - 4f64.ln()).abs() < 1e-15);
/// assert!((s.log_prob(0.0) - 0.25f64.ln()).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RowStats {
    /// `max_v z_v`.
    pub max: f64,
    /// `ln Σ_v e^{z_v − max}` (`≥ 0`).
    pub ln_sum: f64,
}

impl RowStats {
    /// The statistics of one row.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn of<F: Real>(z: &[F]) -> Result<Self> {
        ensure_nonempty("logits", z.len())?;
        check_logits("logits", z, 0)?;
        stats_of(z)
    }

    /// `logsumexp(z) = max + ln_sum`.
    #[inline]
    pub fn logsumexp(&self) -> f64 {
        self.max + self.ln_sum
    }

    /// `log π = (z − max) − ln_sum` of a logit `z` of this row.
    #[inline(always)]
    pub fn log_prob(&self, z: f64) -> f64 {
        (z - self.max) - self.ln_sum
    }

    /// Whether the statistics can come from a valid row (finite `max`, finite `ln_sum ≥ 0`).
    #[inline]
    fn is_valid(&self) -> bool {
        self.max.is_finite() && self.ln_sum.is_finite() && self.ln_sum >= 0.0
    }
}

/// [`RowStats`] of a row already checked for NaN/`+∞`; `NonFinite` for a row of only `−∞`.
#[inline]
fn stats_of<F: Real>(z: &[F]) -> Result<RowStats> {
    stats_arg(z).map(|(_, s)| s)
}

/// [`stats_of`] and the index of the (first) maximum.
#[inline]
fn stats_arg<F: Real>(z: &[F]) -> Result<(usize, RowStats)> {
    let (arg, max) = z
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(i, m), (j, v)| {
            let x = v.as_f64();
            if x > m { (j, x) } else { (i, m) }
        });
    if max == f64::NEG_INFINITY {
        return Err(Error::NonFinite {
            what: "logits (a row is entirely -inf)",
            index: 0,
        });
    }
    let ln_sum = Float::ln_1p(exp_sum_except(z, arg, max, 1.0));
    Ok((arg, RowStats { max, ln_sum }))
}

/// `Σ_{v ≠ arg} e^{k·(z_v − m)}`, in two contiguous (vectorizable) loops.
#[inline]
fn exp_sum_except<F: Real>(z: &[F], arg: usize, m: f64, k: f64) -> f64 {
    let sum = |xs: &[F]| -> f64 { xs.iter().map(|v| Float::exp(k * (v.as_f64() - m))).sum() };
    sum(z.get(..arg).unwrap_or(&[])) + sum(z.get(arg + 1..).unwrap_or(&[]))
}

/// Rejects NaN and `+∞` (but not `−∞`); the index is offset by `base`.
#[inline]
fn check_logits<F: Real>(what: &'static str, x: &[F], base: usize) -> Result<()> {
    if x.iter()
        .fold(true, |ok, v| ok & !(v.is_nan() || *v == F::infinity()))
    {
        return Ok(());
    }
    match x.iter().position(|v| v.is_nan() || *v == F::infinity()) {
        Some(index) => Err(Error::NonFinite {
            what,
            index: base + index,
        }),
        None => Ok(()),
    }
}

/// Validates `(N, V)` logits and returns `N`.
fn check_rows<F: Real>(what: &'static str, x: &[F], vocab: usize) -> Result<usize> {
    ensure_nonempty(what, x.len())?;
    if vocab == 0 || x.len() % vocab != 0 {
        return Err(Error::BadShape {
            what,
            len: x.len(),
            dim: vocab,
        });
    }
    check_logits(what, x, 0)?;
    Ok(x.len() / vocab)
}

/// The statistics of row `i` for a backward pass: `NonFinite` naming `what` if they cannot come
/// from a forward pass.
#[inline]
fn stats_at(what: &'static str, stats: &[RowStats], i: usize) -> Result<RowStats> {
    match stats.get(i) {
        Some(s) if s.is_valid() => Ok(*s),
        _ => Err(Error::NonFinite { what, index: i }),
    }
}

/// `Err(Overflow)` if an accumulated gradient row is not finite.
#[inline]
fn check_grad_row<F: Real>(g: &[F]) -> Result<()> {
    if g.iter().fold(true, |ok, x| ok & x.is_finite()) {
        Ok(())
    } else {
        Err(Error::Overflow {
            what: "logits gradient",
        })
    }
}

/// `(N)` from `(N, V)` logits, with `out` (and further `(N)` buffers) checked.
fn rows_and_check<F: Real>(
    logits: &[F],
    vocab: usize,
    outs: &[(&'static str, usize)],
) -> Result<usize> {
    let n = check_rows("logits", logits, vocab)?;
    for &(what, len) in outs {
        ensure_len(what, n, len)?;
    }
    Ok(n)
}

/// Computes the [`RowStats`] of every row, the first step of every forward pass.
///
/// # Definition
/// See [`RowStats`].
///
/// # Shapes
/// `out`: `(N)`; `logits`: `(N, V)` row-major.
///
/// # Errors
/// [`Error::Empty`] for no logits; [`Error::BadShape`] if `V = 0` or `V` does not divide the
/// length; [`Error::LengthMismatch`] for `out`; [`Error::NonFinite`] for NaN or `+∞` (flat index)
/// or a row of only `−∞`.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, row_stats};
/// let mut s = [RowStats::default(); 2];
/// row_stats(&mut s, &[1.0f32, 1.0, 0.0, f32::NEG_INFINITY], 2)?;
/// assert!((s[0].logsumexp() - (1.0 + 2f64.ln())).abs() < 1e-15);
/// assert_eq!((s[1].max, s[1].ln_sum), (0.0, 0.0));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: llm.c `train_gpt2.c` (`softmax_forward` caches the row maximum and sum).
pub fn row_stats<F: Real>(out: &mut [RowStats], logits: &[F], vocab: usize) -> Result<()> {
    rows_and_check(logits, vocab, &[("stats", out.len())])?;
    for (s, z) in out.iter_mut().zip(logits.chunks_exact(vocab)) {
        *s = stats_of(z)?;
    }
    Ok(())
}

/// `logsumexp` of every row: `out[n] = ln Σ_v e^{z_{n,v}}`.
///
/// # Definition
/// `max z + ln Σ e^{z − max z}` ([`RowStats::logsumexp`]), in `f64`.
///
/// # Shapes
/// `out`: `(N)`; `logits`: `(N, V)`.
///
/// # Errors
/// As [`row_stats`] (the result always fits in `F`: `ln V` is below an ulp of `F::MAX`).
///
/// # Examples
/// ```
/// use rewardkit_core::logits::logsumexp_rows;
/// let mut out = [0.0f64; 2];
/// logsumexp_rows(&mut out, &[0.0, 0.0, 1000.0, 1000.0], 2)?;
/// assert!((out[0] - 2f64.ln()).abs() < 1e-15 && (out[1] - (1000.0 + 2f64.ln())).abs() < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: llm.c `train_gpt2.c` (`softmax_forward`).
pub fn logsumexp_rows<F: Real>(out: &mut [F], logits: &[F], vocab: usize) -> Result<()> {
    rows_and_check(logits, vocab, &[("out", out.len())])?;
    for (o, z) in out.iter_mut().zip(logits.chunks_exact(vocab)) {
        *o = F::lit(stats_of(z)?.logsumexp());
    }
    Ok(())
}

/// Log-softmax of every row, caching the row statistics for [`log_softmax_backward`].
///
/// # Definition
/// `out[n, v] = log π_{n,v} = (z_{n,v} − max) − ln Σ e^{z_n − max}` ([`RowStats::log_prob`]).
///
/// # Shapes
/// `out`, `logits`: `(N, V)`; `stats`: `(N)`.
///
/// # Errors
/// As [`row_stats`], plus [`Error::LengthMismatch`] for `out` and [`Error::Overflow`] if a
/// log-probability is below the range of `F`. A `−∞` logit gives `−∞` and is an error here (the
/// output must be finite); use [`softmax_forward`] for rows with impossible tokens.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, log_softmax_forward};
/// let (mut out, mut s) = ([0.0f64; 2], [RowStats::default()]);
/// log_softmax_forward(&mut out, &mut s, &[1e6, 1e6 + 3f64.ln()], 2)?;
/// assert!((out[0] - 0.25f64.ln()).abs() < 1e-9); // huge logits keep every digit
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: PyTorch `log_softmax`; llm.c `crossentropy_forward`.
pub fn log_softmax_forward<F: Real>(
    out: &mut [F],
    stats: &mut [RowStats],
    logits: &[F],
    vocab: usize,
) -> Result<()> {
    rows_and_check(logits, vocab, &[("stats", stats.len())])?;
    ensure_len("out", logits.len(), out.len())?;
    for ((o, s), z) in out
        .chunks_exact_mut(vocab)
        .zip(stats.iter_mut())
        .zip(logits.chunks_exact(vocab))
    {
        *s = stats_of(z)?;
        for (o, &x) in o.iter_mut().zip(z) {
            *o = F::lit(s.log_prob(x.as_f64()));
        }
    }
    crate::error::ensure_output("log-softmax", out)
}

/// Backward of [`log_softmax_forward`]: accumulates `∂L/∂z` given `∂L/∂ log π`.
///
/// # Definition
/// `grad_logits[n, v] += gₙᵥ − π_{n,v}·Σ_u gₙᵤ` with `g = grad_out`, in `f64` per row. Rows whose
/// upstream is entirely 0 are not read.
///
/// # Shapes
/// `grad_logits`, `grad_out`, `logits`: `(N, V)`; `stats`: `(N)` from the forward pass.
///
/// # Errors
/// As [`row_stats`] for `logits`; [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ in
/// `grad_out` or statistics that no forward pass produces (`what = "stats"`, the row index);
/// [`Error::Overflow`] if an accumulated gradient is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, log_softmax_backward, log_softmax_forward};
/// let z = [0.0f64, 3f64.ln()]; // π = (1/4, 3/4)
/// let (mut lp, mut s) = ([0.0; 2], [RowStats::default()]);
/// log_softmax_forward(&mut lp, &mut s, &z, 2)?;
/// // Cross-entropy of token 1: L = −log π₁, so g = (0, −1) and ∂L/∂z = π − e₁.
/// let mut g = [0.0; 2];
/// log_softmax_backward(&mut g, &[0.0, -1.0], &z, &s, 2)?;
/// assert!((g[0] - 0.25).abs() < 1e-15 && (g[1] + 0.25).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: llm.c `crossentropy_softmax_backward`.
pub fn log_softmax_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    stats: &[RowStats],
    vocab: usize,
) -> Result<()> {
    rows_and_check(logits, vocab, &[("stats", stats.len())])?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_len("grad_out", logits.len(), grad_out.len())?;
    ensure_finite("grad_out", grad_out)?;
    for (i, ((g, up), z)) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(grad_out.chunks_exact(vocab))
        .zip(logits.chunks_exact(vocab))
        .enumerate()
    {
        if up.iter().all(|&u| u == F::ZERO) {
            continue;
        }
        let s = stats_at("stats", stats, i)?;
        let total: f64 = up.iter().map(|u| u.as_f64()).sum();
        for ((g, &u), &x) in g.iter_mut().zip(up).zip(z) {
            let p = Float::exp(s.log_prob(x.as_f64()));
            *g = *g + F::lit(u.as_f64() - p * total);
        }
        check_grad_row(g)?;
    }
    Ok(())
}

/// Softmax of every row, caching the row statistics for [`softmax_backward`].
///
/// # Definition
/// `out[n, v] = π_{n,v} = e^{log π_{n,v}}` (`0` for a `−∞` logit).
///
/// # Shapes
/// `out`, `logits`: `(N, V)`; `stats`: `(N)`.
///
/// # Errors
/// As [`row_stats`], plus [`Error::LengthMismatch`] for `out`.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, softmax_forward};
/// let (mut p, mut s) = ([0.0f32; 3], [RowStats::default()]);
/// softmax_forward(&mut p, &mut s, &[0.0, 0.0, f32::NEG_INFINITY], 3)?;
/// assert_eq!(p, [0.5, 0.5, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: llm.c `softmax_forward`.
pub fn softmax_forward<F: Real>(
    out: &mut [F],
    stats: &mut [RowStats],
    logits: &[F],
    vocab: usize,
) -> Result<()> {
    rows_and_check(logits, vocab, &[("stats", stats.len())])?;
    ensure_len("out", logits.len(), out.len())?;
    for ((o, s), z) in out
        .chunks_exact_mut(vocab)
        .zip(stats.iter_mut())
        .zip(logits.chunks_exact(vocab))
    {
        *s = stats_of(z)?;
        for (o, &x) in o.iter_mut().zip(z) {
            *o = F::lit(Float::exp(s.log_prob(x.as_f64())));
        }
    }
    Ok(())
}

/// Backward of [`softmax_forward`]: accumulates `∂L/∂z` given `∂L/∂π`.
///
/// # Definition
/// `grad_logits[n, v] += π_{n,v}·(gₙᵥ − Σ_u π_{n,u} gₙᵤ)` with `g = grad_out`, in `f64` per row.
/// Rows whose upstream is entirely 0 are not read.
///
/// # Shapes
/// As [`log_softmax_backward`].
///
/// # Errors
/// As [`log_softmax_backward`].
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, softmax_backward, softmax_forward};
/// let z = [0.0f64, 0.0];
/// let (mut p, mut s) = ([0.0; 2], [RowStats::default()]);
/// softmax_forward(&mut p, &mut s, &z, 2)?;
/// // L = π₀: ∂L/∂z = π₀·(e₀ − π) = (1/4, −1/4).
/// let mut g = [0.0; 2];
/// softmax_backward(&mut g, &[1.0, 0.0], &z, &s, 2)?;
/// assert_eq!(g, [0.25, -0.25]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: the softmax Jacobian `diag(π) − ππᵀ`.
pub fn softmax_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    stats: &[RowStats],
    vocab: usize,
) -> Result<()> {
    rows_and_check(logits, vocab, &[("stats", stats.len())])?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_len("grad_out", logits.len(), grad_out.len())?;
    ensure_finite("grad_out", grad_out)?;
    for (i, ((g, up), z)) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(grad_out.chunks_exact(vocab))
        .zip(logits.chunks_exact(vocab))
        .enumerate()
    {
        if up.iter().all(|&u| u == F::ZERO) {
            continue;
        }
        let s = stats_at("stats", stats, i)?;
        let dot: f64 = up
            .iter()
            .zip(z)
            .map(|(u, x)| u.as_f64() * Float::exp(s.log_prob(x.as_f64())))
            .sum();
        for ((g, &u), &x) in g.iter_mut().zip(up).zip(z) {
            let p = Float::exp(s.log_prob(x.as_f64()));
            *g = *g + F::lit(p * (u.as_f64() - dot));
        }
        check_grad_row(g)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One vector
// ---------------------------------------------------------------------------------------------

/// `logsumexp(x) = ln Σ eˣⁱ` of one vector, computed as `max + ln Σ e^{xᵢ − max}` in `f64`
/// ([`RowStats`]).
///
/// # Shapes
/// `x`: `(V)`.
///
/// # Errors
/// [`Error::Empty`]; [`Error::NonFinite`] for NaN or `+∞` (`−∞` entries are allowed: they
/// contribute nothing; all `−∞` gives `−∞`).
///
/// # Examples
/// ```
/// use rewardkit_core::logits::logsumexp;
/// assert!((logsumexp(&[0.0f64, 0.0])? - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(logsumexp(&[f32::NEG_INFINITY; 2])?, f32::NEG_INFINITY);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see the module docs.
pub fn logsumexp<F: Real>(x: &[F]) -> Result<F> {
    ensure_nonempty("x", x.len())?;
    check_logits("x", x, 0)?;
    if x.iter().all(|&v| v == F::neg_infinity()) {
        return Ok(F::neg_infinity());
    }
    Ok(F::lit(stats_of(x)?.logsumexp()))
}

/// Log-softmax of one vector: `log_softmax(x)ᵢ = (xᵢ − max) − ln Σ e^{x − max}`
/// ([`log_softmax_forward`] with one row).
///
/// # Shapes
/// `out`, `x`: `(V)`.
///
/// # Errors
/// As [`log_softmax_forward`] (an empty `x` is [`Error::Empty`]).
///
/// # Examples
/// ```
/// use rewardkit_core::logits::log_softmax;
/// let mut out = [0.0f64; 2];
/// log_softmax(&mut out, &[1.0, 1.0])?;
/// assert!((out[0] + 2f64.ln()).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see the module docs.
pub fn log_softmax<F: Real>(out: &mut [F], x: &[F]) -> Result<()> {
    let mut s = [RowStats::default()];
    log_softmax_forward(out, &mut s, x, x.len().max(1))
}

/// Softmax of one vector: `softmax(x)ᵢ = e^{log_softmax(x)ᵢ}` ([`softmax_forward`] with one row).
///
/// # Shapes
/// `out`, `x`: `(V)`.
///
/// # Errors
/// As [`softmax_forward`] (an empty `x` is [`Error::Empty`]).
///
/// # Examples
/// ```
/// use rewardkit_core::logits::softmax;
/// let mut out = [0.0f32; 3];
/// softmax(&mut out, &[0.0, 0.0, f32::NEG_INFINITY])?;
/// assert_eq!(out, [0.5, 0.5, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see the module docs.
pub fn softmax<F: Real>(out: &mut [F], x: &[F]) -> Result<()> {
    let mut s = [RowStats::default()];
    softmax_forward(out, &mut s, x, x.len().max(1))
}

// ---------------------------------------------------------------------------------------------
// Log-probabilities of given tokens
// ---------------------------------------------------------------------------------------------

/// The logit of token `id` in a row, or [`Error::TokenOutOfRange`] (`index` is the row's index).
#[inline]
fn token_logit<F: Real>(z: &[F], id: u32, index: usize, vocab: usize) -> Result<F> {
    usize::try_from(id)
        .ok()
        .and_then(|k| z.get(k).copied())
        .ok_or(Error::TokenOutOfRange { index, id, vocab })
}

/// `Err(TokenOutOfRange)` for the first id `>= vocab`.
fn check_ids(ids: &[u32], vocab: usize) -> Result<()> {
    match ids
        .iter()
        .position(|&id| usize::try_from(id).map_or(true, |k| k >= vocab))
    {
        Some(index) => Err(Error::TokenOutOfRange {
            index,
            id: ids.get(index).copied().unwrap_or(0),
            vocab,
        }),
        None => Ok(()),
    }
}

/// Log-probabilities of given tokens from logits, `out[n] = log softmax(zₙ)[idₙ]` (TRL's
/// `selective_log_softmax`, verl's `logprobs_from_logits`), caching the row statistics for
/// [`logprobs_backward`].
///
/// # Definition
/// `log π(id) = (z_id − max z) − ln Σ_v e^{z_v − max z}` per row in `f64`. Language-model logits
/// predict the *next* token: for logits over a sequence `(B, L, V)` and tokens `(B, L)`, pass the
/// logits of positions `0..L−1` with the tokens of positions `1..L` (TRL's shift).
///
/// # Shapes
/// `out`, `stats`, `ids`: `(N)`; `logits`: `(N, V)` row-major; each id `< V`.
///
/// # Errors
/// As [`row_stats`]; [`Error::LengthMismatch`] for `ids`, `out`; [`Error::TokenOutOfRange`] for
/// an id `>= V`; [`Error::Overflow`] when a token has probability zero (its logit is `−∞`, or the
/// result is below the range of `F`).
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, logprobs_forward};
/// let (mut lp, mut s) = ([0.0f64; 2], [RowStats::default(); 2]);
/// // Row 0: π = (1/4, 3/4), token 1. Row 1: π = (1/2, 1/2), token 0.
/// logprobs_forward(&mut lp, &mut s, &[0.0, 3f64.ln(), 5.0, 5.0], &[1, 0], 2)?;
/// assert!((lp[0] - 0.75f64.ln()).abs() < 1e-15);
/// assert!((lp[1] - 0.5f64.ln()).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: TRL `trl/trainer/utils.py` (`selective_log_softmax`); verl
/// `verl/utils/torch_functional.py` (`logprobs_from_logits`).
pub fn logprobs_forward<F: Real>(
    out: &mut [F],
    stats: &mut [RowStats],
    logits: &[F],
    ids: &[u32],
    vocab: usize,
) -> Result<()> {
    rows_and_check(
        logits,
        vocab,
        &[
            ("ids", ids.len()),
            ("out", out.len()),
            ("stats", stats.len()),
        ],
    )?;
    check_ids(ids, vocab)?;
    for (i, (((o, s), z), &id)) in out
        .iter_mut()
        .zip(stats.iter_mut())
        .zip(logits.chunks_exact(vocab))
        .zip(ids)
        .enumerate()
    {
        *s = stats_of(z)?;
        *o = F::lit(s.log_prob(token_logit(z, id, i, vocab)?.as_f64()));
    }
    crate::error::ensure_output("token log-probability", out)
}

/// Backward of [`logprobs_forward`]: accumulates `gₙ·∂ log π(idₙ)/∂z_{n,v} = gₙ·([v = idₙ] − π_{n,v})`.
///
/// # Definition
/// `grad_logits[n, v] += gₙ·([v = idₙ] − softmax(zₙ)_v)` with `gₙ = grad_out[n]`, in `f64` per row;
/// the `v = idₙ` entry is `−gₙ·expm1(log π(idₙ))`, exact even when `π(idₙ) → 1`. Rows with
/// `gₙ = 0` (masked tokens) are not read. The gradient of any loss built from token
/// log-probabilities (a policy loss, DPO through sequence sums, the SFT term) reaches the logits
/// through this function with `gₙ = ∂loss/∂ log π(idₙ)`.
///
/// # Shapes
/// `grad_logits`, `logits`: `(N, V)`; `grad_out`, `stats`, `ids`: `(N)`.
///
/// # Errors
/// As [`row_stats`] for `logits`; [`Error::LengthMismatch`]; [`Error::TokenOutOfRange`];
/// [`Error::NonFinite`] for NaN/∞ in `grad_out` or statistics that no forward pass produces at a
/// row with `gₙ ≠ 0`; [`Error::Overflow`] if an accumulated gradient is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, logprobs_backward};
/// let z = [0.0f64, 3f64.ln()]; // π = (1/4, 3/4)
/// let s = [RowStats::of(&z)?];
/// let mut g = [1.0f64, 1.0]; // accumulates onto what is there
/// // Token 1, upstream 2: 2·(0 − 1/4, 1 − 3/4).
/// logprobs_backward(&mut g, &[2.0], &z, &s, &[1], 2)?;
/// assert!((g[0] - 0.5).abs() < 1e-15 && (g[1] - 1.5).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`logprobs_forward`].
pub fn logprobs_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    stats: &[RowStats],
    ids: &[u32],
    vocab: usize,
) -> Result<()> {
    rows_and_check(
        logits,
        vocab,
        &[
            ("ids", ids.len()),
            ("grad_out", grad_out.len()),
            ("stats", stats.len()),
        ],
    )?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_finite("grad_out", grad_out)?;
    check_ids(ids, vocab)?;
    for (i, (((g, z), &up), &id)) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(logits.chunks_exact(vocab))
        .zip(grad_out)
        .zip(ids)
        .enumerate()
    {
        if up == F::ZERO {
            continue;
        }
        let s = stats_at("stats", stats, i)?;
        let up = up.as_f64();
        let target = usize::try_from(id).unwrap_or(usize::MAX);
        for (v, (g, &a)) in g.iter_mut().zip(z).enumerate() {
            let lp = s.log_prob(a.as_f64());
            let d = if v == target {
                -up * Float::exp_m1(lp)
            } else {
                -up * Float::exp(lp)
            };
            *g = *g + F::lit(d);
        }
        check_grad_row(g)?;
    }
    Ok(())
}

/// `log π(id)` and `log Σ_v π_v²` of one valid row of logits, in `f64`: with the row statistics,
/// `log π(id) = (z_id − m) − ln_s` and `log Σ π² = ln Σ e^{2(z − m)} − 2·ln_s`
/// (`= LSE(2z) − 2·LSE(z)`, without forming either `LSE`; both sums as `ln_1p` of the terms other
/// than the maximum's). The row must be checked ([`check_logit_row`]); `index` names the row in a
/// `TokenOutOfRange` error.
pub(crate) fn token_logprob_and_concentration<F: Real>(
    z: &[F],
    id: u32,
    index: usize,
) -> Result<(f64, f64)> {
    let zi = token_logit(z, id, index, z.len())?.as_f64();
    let (arg, s) = stats_arg(z)?;
    let sq = Float::ln_1p(exp_sum_except(z, arg, s.max, 2.0));
    Ok((s.log_prob(zi), sq - 2.0 * s.ln_sum))
}

/// Validates one row of logits: `NonFinite` naming `what` for NaN or `+∞`, its index offset by
/// `base` (an all-`−∞` row is reported by the row statistics).
pub(crate) fn check_logit_row<F: Real>(what: &'static str, z: &[F], base: usize) -> Result<()> {
    check_logits(what, z, base)
}

// ---------------------------------------------------------------------------------------------
// Entropy and full-vocabulary KL
// ---------------------------------------------------------------------------------------------

/// `H = −Σ π log π` of a row with its statistics.
#[inline]
fn row_entropy<F: Real>(z: &[F], s: RowStats) -> f64 {
    let mut h = 0.0f64;
    for &a in z {
        let lp = s.log_prob(a.as_f64());
        if lp > f64::NEG_INFINITY {
            h -= Float::exp(lp) * lp;
        }
    }
    h.max(0.0)
}

/// Entropy `H = −Σ_v π_v log π_v` of every row (verl/OpenRLHF `entropy_from_logits`:
/// `logsumexp(z) − Σ softmax(z)·z`), caching the row statistics for [`entropy_backward`].
///
/// # Definition
/// `Hₙ = −Σ_v π_{n,v} log π_{n,v}` in `f64`; `−∞` logits contribute 0.
///
/// # Shapes
/// `out`, `stats`: `(N)`; `logits`: `(N, V)`.
///
/// # Errors
/// As [`row_stats`], plus [`Error::LengthMismatch`] for `out`.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, entropy_forward};
/// let (mut h, mut s) = ([0.0f32], [RowStats::default()]);
/// entropy_forward(&mut h, &mut s, &[0.0; 4], 4)?;
/// assert!((h[0] - 4f32.ln()).abs() < 1e-6);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: verl `verl/utils/torch_functional.py` (`entropy_from_logits`).
pub fn entropy_forward<F: Real>(
    out: &mut [F],
    stats: &mut [RowStats],
    logits: &[F],
    vocab: usize,
) -> Result<()> {
    rows_and_check(logits, vocab, &[("out", out.len()), ("stats", stats.len())])?;
    for ((o, s), z) in out
        .iter_mut()
        .zip(stats.iter_mut())
        .zip(logits.chunks_exact(vocab))
    {
        *s = stats_of(z)?;
        *o = F::lit(row_entropy(z, *s));
    }
    Ok(())
}

/// Backward of [`entropy_forward`]: accumulates `gₙ·∂Hₙ/∂z_{n,v} = −gₙ·π_{n,v}·(log π_{n,v} + Hₙ)`.
///
/// # Definition
/// As stated, in `f64`, with the row statistics and entropies of the forward pass. Rows with
/// `gₙ = 0` are not read.
///
/// # Shapes
/// `grad_logits`, `logits`: `(N, V)`; `grad_out`, `stats`, `entropy`: `(N)`.
///
/// # Errors
/// As [`row_stats`] for `logits`; [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ in
/// `grad_out`, an invalid row statistic or a non-finite entropy at a row with `gₙ ≠ 0`;
/// [`Error::Overflow`] if an accumulated gradient is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, entropy_backward, entropy_forward};
/// let z = [0.5f64; 3];
/// let (mut h, mut s) = ([0.0], [RowStats::default()]);
/// entropy_forward(&mut h, &mut s, &z, 3)?;
/// let mut g = [0.0; 3];
/// entropy_backward(&mut g, &[1.0], &z, &s, &h, 3)?;
/// assert!(g.iter().all(|v| v.abs() < 1e-16)); // the uniform distribution maximizes entropy
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`entropy_forward`].
pub fn entropy_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    stats: &[RowStats],
    entropy: &[F],
    vocab: usize,
) -> Result<()> {
    rows_and_check(
        logits,
        vocab,
        &[
            ("grad_out", grad_out.len()),
            ("stats", stats.len()),
            ("entropy", entropy.len()),
        ],
    )?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_finite("grad_out", grad_out)?;
    for (i, (((g, z), &up), &h)) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(logits.chunks_exact(vocab))
        .zip(grad_out)
        .zip(entropy)
        .enumerate()
    {
        if up == F::ZERO {
            continue;
        }
        let s = stats_at("stats", stats, i)?;
        if !h.is_finite() {
            return Err(Error::NonFinite {
                what: "entropy",
                index: i,
            });
        }
        let (up, h) = (up.as_f64(), h.as_f64());
        for (g, &a) in g.iter_mut().zip(z) {
            let lp = s.log_prob(a.as_f64());
            if lp > f64::NEG_INFINITY {
                *g = *g + F::lit(-up * Float::exp(lp) * (lp + h));
            }
        }
        check_grad_row(g)?;
    }
    Ok(())
}

/// `KL(π‖π_ref)` of a row with both rows' statistics; `Overflow` when it is infinite.
#[inline]
fn row_kl<F: Real>(z: &[F], zr: &[F], s: RowStats, sr: RowStats) -> Result<f64> {
    let mut kl = 0.0f64;
    for (&a, &b) in z.iter().zip(zr) {
        let lp = s.log_prob(a.as_f64());
        if lp == f64::NEG_INFINITY {
            continue; // π = 0 contributes nothing
        }
        kl += Float::exp(lp) * (lp - sr.log_prob(b.as_f64()));
    }
    if kl.is_finite() {
        Ok(kl.max(0.0))
    } else {
        Err(Error::Overflow {
            what: "full-vocabulary KL",
        })
    }
}

/// Exact `KL(π‖π_ref) = Σ_v π_v (log π_v − log π_ref,v)` of every row, from policy and reference
/// logits, caching both rows' statistics for [`full_kl_backward`].
///
/// verl lists this as `kl_penalty = "full"` but raises `NotImplementedError`; rewardkit computes it
/// exactly in `f64` per row.
///
/// # Definition
/// As stated; policy tokens with `π_v = 0` contribute 0.
///
/// # Shapes
/// `out`, `stats`, `ref_stats`: `(N)`; `logits`, `ref_logits`: `(N, V)` row-major.
///
/// # Errors
/// As [`row_stats`] for both logit buffers (`what` names which); [`Error::LengthMismatch`];
/// [`Error::Overflow`] when the KL is infinite (the reference has `−∞` where the policy does
/// not).
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, full_kl_forward};
/// let (mut kl, mut s, mut sr) = ([0.0f64], [RowStats::default()], [RowStats::default()]);
/// full_kl_forward(&mut kl, &mut s, &mut sr, &[0.0, 0.0], &[0.0, 3f64.ln()], 2)?;
/// // π = (1/2, 1/2), π_ref = (1/4, 3/4)
/// let expected = 0.5 * 2f64.ln() + 0.5 * (2.0f64 / 3.0).ln();
/// assert!((kl[0] - expected).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Schulman, "Approximating KL divergence" (2020); verl `kl_penalty` (`"full"`).
pub fn full_kl_forward<F: Real>(
    out: &mut [F],
    stats: &mut [RowStats],
    ref_stats: &mut [RowStats],
    logits: &[F],
    ref_logits: &[F],
    vocab: usize,
) -> Result<()> {
    rows_and_check(
        logits,
        vocab,
        &[
            ("out", out.len()),
            ("stats", stats.len()),
            ("ref_stats", ref_stats.len()),
        ],
    )?;
    ensure_len("ref_logits", logits.len(), ref_logits.len())?;
    check_rows("ref_logits", ref_logits, vocab)?;
    for ((((o, s), sr), z), zr) in out
        .iter_mut()
        .zip(stats.iter_mut())
        .zip(ref_stats.iter_mut())
        .zip(logits.chunks_exact(vocab))
        .zip(ref_logits.chunks_exact(vocab))
    {
        *s = stats_of(z)?;
        *sr = stats_of(zr)?;
        *o = F::lit(row_kl(z, zr, *s, *sr)?);
    }
    crate::error::ensure_output("full-vocabulary KL", out)
}

/// Backward of [`full_kl_forward`] with respect to the policy logits: accumulates
/// `gₙ·∂KLₙ/∂z_{n,v} = gₙ·π_{n,v}·(log π_{n,v} − log π_ref,{n,v} − KLₙ)`.
///
/// # Definition
/// As stated, in `f64`, with the statistics and KL values of the forward pass. Rows with `gₙ = 0`
/// are not read.
///
/// # Shapes
/// `grad_logits`, `logits`, `ref_logits`: `(N, V)`; `grad_out`, `stats`, `ref_stats`, `kl`: `(N)`.
///
/// # Errors
/// As [`full_kl_forward`] for the logits; [`Error::LengthMismatch`]; [`Error::NonFinite`] for
/// NaN/∞ in `grad_out`, invalid statistics or a non-finite KL at a row with `gₙ ≠ 0`;
/// [`Error::Overflow`] if an accumulated gradient is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::logits::{RowStats, full_kl_backward, full_kl_forward};
/// let z = [0.3f64, -0.2];
/// let (mut kl, mut s, mut sr) = ([0.0], [RowStats::default()], [RowStats::default()]);
/// full_kl_forward(&mut kl, &mut s, &mut sr, &z, &z, 2)?;
/// let mut g = [0.0; 2];
/// full_kl_backward(&mut g, &[1.0], &z, &z, &s, &sr, &kl, 2)?;
/// assert!(g.iter().all(|v| v.abs() < 1e-16)); // equal distributions: a minimum
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: see [`full_kl_forward`].
pub fn full_kl_backward<F: Real>(
    grad_logits: &mut [F],
    grad_out: &[F],
    logits: &[F],
    ref_logits: &[F],
    stats: &[RowStats],
    ref_stats: &[RowStats],
    kl: &[F],
    vocab: usize,
) -> Result<()> {
    rows_and_check(
        logits,
        vocab,
        &[
            ("grad_out", grad_out.len()),
            ("stats", stats.len()),
            ("ref_stats", ref_stats.len()),
            ("kl", kl.len()),
        ],
    )?;
    ensure_len("ref_logits", logits.len(), ref_logits.len())?;
    check_rows("ref_logits", ref_logits, vocab)?;
    ensure_len("grad_logits", logits.len(), grad_logits.len())?;
    ensure_finite("grad_out", grad_out)?;
    for (i, ((((g, z), zr), &up), &k)) in grad_logits
        .chunks_exact_mut(vocab)
        .zip(logits.chunks_exact(vocab))
        .zip(ref_logits.chunks_exact(vocab))
        .zip(grad_out)
        .zip(kl)
        .enumerate()
    {
        if up == F::ZERO {
            continue;
        }
        let s = stats_at("stats", stats, i)?;
        let sr = stats_at("ref_stats", ref_stats, i)?;
        if !k.is_finite() {
            return Err(Error::NonFinite {
                what: "kl",
                index: i,
            });
        }
        let (up, k) = (up.as_f64(), k.as_f64());
        for ((g, &a), &b) in g.iter_mut().zip(z).zip(zr) {
            let lp = s.log_prob(a.as_f64());
            if lp > f64::NEG_INFINITY {
                let d = up * Float::exp(lp) * (lp - sr.log_prob(b.as_f64()) - k);
                *g = *g + F::lit(d);
            }
        }
        check_grad_row(g)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_and_full_kl_literals() {
        // π = softmax(0, ln 3) = (1/4, 3/4); H = −(¼ ln ¼ + ¾ ln ¾).
        let (mut h, mut s) = ([0.0f64], [RowStats::default()]);
        entropy_forward(&mut h, &mut s, &[0.0, 3f64.ln()], 2).unwrap();
        let expected = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((h[0] - expected).abs() < 1e-15);
        // −∞ logits are zero-probability tokens.
        entropy_forward(&mut h, &mut s, &[0.0, f64::NEG_INFINITY], 2).unwrap();
        assert_eq!(h[0], 0.0);
        let (mut kl, mut sr) = ([0.0f64], [RowStats::default()]);
        let e = full_kl_forward(
            &mut kl,
            &mut s,
            &mut sr,
            &[0.0, 0.0],
            &[0.0, f64::NEG_INFINITY],
            2,
        );
        assert!(matches!(e, Err(Error::Overflow { .. })));
        let e = full_kl_forward(&mut kl, &mut s, &mut sr, &[0.0; 3], &[0.0; 3], 2);
        assert!(matches!(e, Err(Error::BadShape { .. })));
        assert!(entropy_forward(&mut h, &mut s, &[f64::NAN, 0.0], 2).is_err());
    }

    #[test]
    fn logprobs_literals() {
        // π = softmax(0, ln 3) = (1/4, 3/4).
        let z = [0.0, 3f64.ln()];
        let (mut lp, mut s) = ([0.0f64; 2], [RowStats::default(); 2]);
        logprobs_forward(&mut lp, &mut s, &[z, z].concat(), &[0, 1], 2).unwrap();
        assert!((lp[0] - 0.25f64.ln()).abs() < 1e-15);
        assert!((lp[1] - 0.75f64.ln()).abs() < 1e-15);
        assert_eq!(s[0], RowStats::of(&z).unwrap());
        // Huge logits: (z − max) − ln Σ keeps every digit (max + ln Σ would absorb ln Σ).
        let big = [1e6, 1e6 + 3f64.ln()];
        logprobs_forward(&mut lp[..1], &mut s[..1], &big, &[0], 2).unwrap();
        assert!((lp[0] - 0.25f64.ln()).abs() < 1e-9, "{}", lp[0]);
        // Backward: g·([v = id] − π_v), accumulated.
        let sz = [RowStats::of(&z).unwrap()];
        let mut g = [0.0f64; 2];
        logprobs_backward(&mut g, &[-2.0], &z, &sz, &[0], 2).unwrap();
        assert!(
            (g[0] + 1.5).abs() < 1e-15 && (g[1] - 1.5).abs() < 1e-15,
            "{g:?}"
        );
        logprobs_backward(&mut g, &[-2.0], &z, &sz, &[0], 2).unwrap();
        assert!(
            (g[0] + 3.0).abs() < 1e-15 && (g[1] - 3.0).abs() < 1e-15,
            "{g:?}"
        );
        // A confident token: 1 − π(id) = e^{−40}/(1 + e^{−40}) survives (expm1).
        let zc = [0.0, 40.0];
        let mut g = [0.0f64; 2];
        logprobs_backward(&mut g, &[1.0], &zc, &[RowStats::of(&zc).unwrap()], &[1], 2).unwrap();
        let tail = (-40f64).exp() / (1.0 + (-40f64).exp());
        assert!(
            (g[1] - tail).abs() < 1e-30 && (g[0] + tail).abs() < 1e-30,
            "{g:?}"
        );
        // Zero upstream: the row is not read (garbage statistics, all −∞ logits) and untouched.
        let mut g = [7.0f64; 2];
        let bad = [RowStats {
            max: f64::NAN,
            ln_sum: -1.0,
        }];
        logprobs_backward(&mut g, &[0.0], &[f64::NEG_INFINITY; 2], &bad, &[1], 2).unwrap();
        assert_eq!(g, [7.0, 7.0]);
        // …but read where the upstream is not zero.
        assert!(matches!(
            logprobs_backward(&mut g, &[1.0], &z, &bad, &[1], 2),
            Err(Error::NonFinite {
                what: "stats",
                index: 0
            })
        ));
        // −∞ logits are zero-probability tokens; choosing one is an error in the forward pass.
        logprobs_forward(
            &mut lp[..1],
            &mut s[..1],
            &[0.0, f64::NEG_INFINITY],
            &[0],
            2,
        )
        .unwrap();
        assert_eq!(lp[0], 0.0);
        let e = logprobs_forward(
            &mut lp[..1],
            &mut s[..1],
            &[0.0, f64::NEG_INFINITY],
            &[1],
            2,
        );
        assert!(matches!(e, Err(Error::Overflow { .. })));
        let zi = [0.0, f64::NEG_INFINITY];
        let mut g = [0.0f64; 2];
        logprobs_backward(&mut g, &[1.0], &zi, &[RowStats::of(&zi).unwrap()], &[1], 2).unwrap();
        assert_eq!(g, [-1.0, 1.0]);
    }

    #[test]
    fn softmax_family_literals() {
        // logsumexp of a row with a −∞ entry and of a huge row.
        let mut out = [0.0f64; 2];
        logsumexp_rows(&mut out, &[0.0, f64::NEG_INFINITY, 1e300, 1e300], 2).unwrap();
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1], 1e300);
        assert_eq!(logsumexp(&[1000.0f64, 1000.0]).unwrap(), 1000.0 + 2f64.ln());
        // max + ln V never leaves the float range: ln V is far below an ulp of f32::MAX.
        assert_eq!(logsumexp(&[f32::MAX, f32::MAX]).unwrap(), f32::MAX);
        assert!(logsumexp(&[1.0f32, f32::NAN]).is_err());
        assert!(logsumexp::<f64>(&[]).is_err());
        // Log-softmax backward of L = Σ_v c_v log π_v: c − π·Σc.
        let z = [0.0f64, 3f64.ln()];
        let (mut lp, mut s) = ([0.0; 2], [RowStats::default()]);
        log_softmax_forward(&mut lp, &mut s, &z, 2).unwrap();
        let mut g = [0.0; 2];
        log_softmax_backward(&mut g, &[1.0, 2.0], &z, &s, 2).unwrap();
        assert!((g[0] - (1.0 - 0.25 * 3.0)).abs() < 1e-15);
        assert!((g[1] - (2.0 - 0.75 * 3.0)).abs() < 1e-15);
        // log_softmax of a −∞ logit is −∞: an error (outputs are finite).
        let mut o = [0.0f64; 2];
        assert!(matches!(
            log_softmax(&mut o, &[0.0, f64::NEG_INFINITY]),
            Err(Error::Overflow { .. })
        ));
        assert!(matches!(
            log_softmax::<f64>(&mut [], &[]),
            Err(Error::Empty { .. })
        ));
    }

    #[test]
    fn wpo_concentration_literal() {
        // π = (1/4, 3/4): Σπ² = 5/8, so log Σπ² = ln(5/8); LSE(2z) − 2·LSE(z) says the same.
        let (lp, conc) = token_logprob_and_concentration(&[0.0f64, 3f64.ln()], 1, 0).unwrap();
        assert!((lp - 0.75f64.ln()).abs() < 1e-15);
        assert!((conc - 0.625f64.ln()).abs() < 1e-15);
        // Uniform over V: Σπ² = 1/V.
        let (_, conc) = token_logprob_and_concentration(&[2.5f32; 8], 3, 0).unwrap();
        assert!((conc - 0.125f64.ln()).abs() < 1e-15);
        assert!(matches!(
            token_logprob_and_concentration(&[0.0f64; 2], 2, 5),
            Err(Error::TokenOutOfRange {
                index: 5,
                id: 2,
                vocab: 2
            })
        ));
    }
}
