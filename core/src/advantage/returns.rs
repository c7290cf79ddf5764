//! Token-level returns and advantages over `(B, T)`: discounted returns, GAE, REINFORCE++, ReMax, and
//! the stages that move between per-sequence and per-token data (masked sums, broadcast, batch
//! whitening of broadcast values).
//!
//! # Masked positions
//! Masked positions are never read: inputs there may hold anything, NaN included. The recursions
//! skip them: at a token with `m_t = 0` (padding after EOS, or an observation/tool token inside a
//! multi-turn response) the running return and the running GAE term are carried through unchanged,
//! so the masked span is invisible to the discounting (verl's semantics). rewardkit writes 0 at
//! masked positions of its outputs; the verl preset writes the carried value where verl does (see
//! `docs/numerics.md`).

use crate::error::{Error, Result, ensure_finite, param_in};
use crate::layout::{GroupIndex, Mask};
use crate::real::Real;
use crate::stats::{Whiten, whiten_affine, whiten_affine_rows};

/// Checks a `(B, T)` input against the mask: its length, and finiteness at valid positions only.
pub(crate) fn check_tokens<F: Real>(what: &'static str, x: &[F], mask: Mask<'_>) -> Result<()> {
    mask.shape().check(what, x.len())?;
    let ok = x
        .iter()
        .zip(mask.bits())
        .fold(true, |ok, (v, &m)| ok & (v.is_finite() | !m));
    if ok {
        return Ok(());
    }
    match x
        .iter()
        .zip(mask.bits())
        .position(|(v, &m)| m && !v.is_finite())
    {
        Some(index) => Err(Error::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// The discounted-returns recurrence over every row, skipping masked positions (never read); a
/// masked position receives 0, or the carried running return when `CARRY` (verl's ReMax returns).
pub(crate) fn returns_rows<F: Real, const CARRY: bool>(
    out: &mut [F],
    rewards: &[F],
    mask: Mask<'_>,
    gamma: f64,
) {
    let t = mask.shape().seq_len();
    for ((o, r), m) in out
        .chunks_exact_mut(t)
        .zip(rewards.chunks_exact(t))
        .zip(mask.rows())
    {
        let mut g = 0.0f64;
        for ((o, &r), &m) in o.iter_mut().zip(r).zip(m).rev() {
            if m {
                g = r.as_f64() + gamma * g;
            }
            *o = if m || CARRY { F::lit(g) } else { F::ZERO };
        }
    }
}

/// Validates a discount `γ ∈ [0, 1]`.
pub(crate) fn gamma_param<F: Real>(name: &'static str, gamma: F) -> Result<F> {
    param_in(name, gamma, F::ZERO, F::ONE, "in [0, 1]")
}

/// Per-sequence sums of per-token values: `out_i = Σ_t x_{i,t}` over all `T` positions (verl's
/// `token_level_rewards.sum(-1)`: an outcome reward sits on the last valid token).
///
/// # Shapes
/// `out`: `(B)`; `x`: `(B, T)`.
///
/// # Errors
/// [`Error::BadShape`](crate::Error::BadShape) for a bad `T`; [`Error::LengthMismatch`](crate::Error::LengthMismatch); [`Error::NonFinite`](crate::Error::NonFinite).
///
/// # Examples
/// ```
/// use rewardkit_core::advantage::sequence_sums;
/// let mut s = [0.0f32; 2];
/// sequence_sums(&mut s, &[0.0, 1.0, 0.5, 0.5], 2)?;
/// assert_eq!(s, [1.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn sequence_sums<F: Real>(out: &mut [F], x: &[F], seq_len: usize) -> Result<()> {
    let shape = crate::layout::TokenShape::from_len("x", x.len(), seq_len)?;
    shape.check_batch("out", out.len())?;
    ensure_finite("x", x)?;
    for (o, row) in out.iter_mut().zip(x.chunks_exact(seq_len)) {
        *o = F::lit(row.iter().map(|v| v.as_f64()).sum());
    }
    crate::error::ensure_output("sequence_sums", out)?;
    Ok(())
}

/// Per-sequence sums of the valid tokens: `out_i = Σ_t m_{i,t}·x_{i,t}` (masked positions are not
/// read). The first stage of every per-sequence estimator: an outcome reward on the last valid
/// token becomes the sequence's score.
///
/// # Shapes
/// `out`: `(B)`; `x`: `(B, T)` like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`](crate::Error::LengthMismatch); [`Error::NonFinite`](crate::Error::NonFinite) for a NaN/∞ at a valid position;
/// [`Error::Overflow`](crate::Error::Overflow) if a sum exceeds the float range.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, advantage::masked_sequence_sums};
/// let mask = Mask::new(&[true, false, true, true], 2)?;
/// let mut s = [0.0f32; 2];
/// masked_sequence_sums(&mut s, &[1.0, f32::NAN, 0.5, 0.5], mask)?;
/// assert_eq!(s, [1.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn masked_sequence_sums<F: Real>(out: &mut [F], x: &[F], mask: Mask<'_>) -> Result<()> {
    mask.shape().check_batch("out", out.len())?;
    check_tokens("token_rewards", x, mask)?;
    let t = mask.shape().seq_len();
    for ((o, row), m) in out.iter_mut().zip(x.chunks_exact(t)).zip(mask.rows()) {
        *o = F::lit(masked_row_sum(row, m));
    }
    crate::error::ensure_output("sequence scores", out)
}

/// `Σ m·x` of one row in `f64`, masked positions not read.
#[inline]
fn masked_row_sum<F: Real>(row: &[F], m: &[bool]) -> f64 {
    row.iter()
        .zip(m)
        .map(|(x, &m)| if m { x.as_f64() } else { 0.0 })
        .sum()
}

/// [`masked_sequence_sums`] into `f64` scratch, each sum rounded to `F` (what the per-sequence
/// functions would receive as `&[F]`). Validation is fused: a non-finite valid input makes its
/// row's sum non-finite, and only then are the inputs scanned for the error's index.
pub(crate) fn sequence_scores<F: Real>(out: &mut [f64], x: &[F], mask: Mask<'_>) -> Result<()> {
    mask.shape().check("token_rewards", x.len())?;
    let t = mask.shape().seq_len();
    let mut ok = true;
    for ((o, row), m) in out.iter_mut().zip(x.chunks_exact(t)).zip(mask.rows()) {
        let v = F::lit(masked_row_sum(row, m));
        ok &= v.is_finite();
        *o = v.as_f64();
    }
    if ok {
        return Ok(());
    }
    check_tokens("token_rewards", x, mask)?;
    Err(Error::Overflow {
        what: "sequence scores",
    })
}

/// Broadcasts per-sequence values to their valid tokens in place: `x[..B]` holds one value per
/// row; afterwards `x` is `(B, T)` with `x_{i,t} = v_i` (whitened by `whiten` over the valid tokens,
/// each row counted `Lᵢ` times) at valid positions and 0 at masked ones. Rows are written from the
/// last one backwards, so row `i` (written at `i·T.. >= i`) never overwrites a value before it is
/// read.
pub(crate) fn broadcast_rows_in_place<F: Real>(
    x: &mut [F],
    mask: Mask<'_>,
    whiten: Option<&Whiten<F>>,
) -> Result<()> {
    let shape = mask.shape();
    let (b, t) = (shape.batch(), shape.seq_len());
    shape.check("advantages", x.len())?;
    let (mean, scale, add) = match whiten {
        Some(w) => {
            let lens = mask.rows().map(crate::layout::count_true);
            let (mean, scale) = whiten_affine_rows(x.get(..b).unwrap_or(&[]), lens, w)?;
            (mean, scale, if w.shift_mean() { 0.0 } else { mean })
        }
        None => (0.0, 1.0, 0.0),
    };
    for (i, m) in mask.rows().enumerate().rev() {
        let v = x.get(i).copied().unwrap_or(F::ZERO);
        let v = if whiten.is_some() {
            F::lit((v.as_f64() - mean) * scale + add)
        } else {
            v
        };
        if let Some(row) = x.get_mut(i * t..(i + 1) * t) {
            for (o, &m) in row.iter_mut().zip(m) {
                *o = if m { v } else { F::ZERO };
            }
        }
    }
    crate::error::ensure_output("advantages", x)
}

/// Broadcasts a per-sequence value to its tokens: `out_{i,t} = a_i·m_{i,t}`.
///
/// # Shapes
/// `out`: `(B, T)`; `per_seq`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`](crate::Error::LengthMismatch); [`Error::NonFinite`](crate::Error::NonFinite).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, advantage::broadcast};
/// let mask = Mask::new(&[true, false, true, true], 2)?;
/// let mut out = [9.0f64; 4];
/// broadcast(&mut out, &[2.0, -1.0], mask)?;
/// assert_eq!(out, [2.0, 0.0, -1.0, -1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn broadcast<F: Real>(out: &mut [F], per_seq: &[F], mask: Mask<'_>) -> Result<()> {
    mask.shape().check("out", out.len())?;
    mask.shape().check_batch("per_seq", per_seq.len())?;
    ensure_finite("per_seq", per_seq)?;
    let t = mask.shape().seq_len();
    for ((row, m), &a) in out.chunks_exact_mut(t).zip(mask.rows()).zip(per_seq) {
        for (o, &m) in row.iter_mut().zip(m) {
            *o = if m { a } else { F::ZERO };
        }
    }
    Ok(())
}

/// Zeroes masked positions: `x ← x·m`.
pub(crate) fn apply_mask<F: Real>(x: &mut [F], mask: &[bool]) {
    for (v, &m) in x.iter_mut().zip(mask) {
        if !m {
            *v = F::ZERO;
        }
    }
}

/// Discounted reward-to-go `G_t = r_t + γ·G_{t+1}` over valid tokens, skipping masked positions.
///
/// # Definition
/// Backwards over `t`: at a valid token `G_t = r_t + γ·G_next`, then `G_next ← G_t`; at a masked
/// token `G_next` is carried unchanged (its reward is ignored) and `out = 0`. With `γ = 1` and a
/// prefix mask, `G_t` is the sum of the remaining rewards.
///
/// # Shapes
/// `out`, `rewards`: `(B, T)`, like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`](crate::Error::LengthMismatch); [`Error::NonFinite`](crate::Error::NonFinite); [`Error::InvalidParam`](crate::Error::InvalidParam) unless `γ ∈ [0, 1]`.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, advantage::discounted_returns};
/// let mask = Mask::new(&[true, true, true, false], 4)?;
/// let mut g = [0.0f64; 4];
/// discounted_returns(&mut g, &[0.0, 0.0, 1.0, 0.0], mask, 0.5)?;
/// assert_eq!(g, [0.25, 0.5, 1.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn discounted_returns<F: Real>(
    out: &mut [F],
    rewards: &[F],
    mask: Mask<'_>,
    gamma: F,
) -> Result<()> {
    mask.shape().check("out", out.len())?;
    check_tokens("rewards", rewards, mask)?;
    let gamma = gamma_param("gamma", gamma)?.as_f64();
    returns_rows::<F, false>(out, rewards, mask, gamma);
    crate::error::ensure_output("discounted_returns", out)?;
    Ok(())
}

/// GAE parameters `(γ, λ)` (Schulman et al., 2016, arXiv:1506.02438).
///
/// # Examples
/// ```
/// let p = rewardkit_core::advantage::Gae::new(0.99f32, 0.95)?;
/// assert_eq!(p.gamma(), 0.99);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Gae<F> {
    gamma: F,
    lambda: F,
}

impl<F: Real> Default for Gae<F> {
    /// `γ = 1`, `λ = 1` (verl's and OpenRLHF's defaults).
    fn default() -> Self {
        Self {
            gamma: F::ONE,
            lambda: F::ONE,
        }
    }
}

impl<F: Real> Gae<F> {
    /// Validated `γ, λ ∈ [0, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`](crate::Error::InvalidParam) for a value outside `[0, 1]` or not finite.
    pub fn new(gamma: F, lambda: F) -> Result<Self> {
        Ok(Self {
            gamma: gamma_param("gamma", gamma)?,
            lambda: gamma_param("lambda", lambda)?,
        })
    }

    /// `γ`.
    pub fn gamma(&self) -> F {
        self.gamma
    }

    /// `λ`.
    pub fn lambda(&self) -> F {
        self.lambda
    }
}

/// GAE over all rows, advantages and returns in one recurrence. At a valid position
/// `adv = Â`, `ret = Â + V`; at a masked one `ret = 0` and `adv = 0`, or the carried `Â` when
/// `CARRY` (verl: its `lastgaelam` at masked positions is the carried value). Masked inputs never
/// reach the state or the outputs (the update is selected, not branched to). Four rows run side by
/// side so their recurrences overlap (each row's arithmetic is unchanged).
///
/// Validation is fused into the pass: returns whether every valid reward and value and every
/// output was finite ([`gae_check`] finds which). Lengths must be checked by the caller (every
/// slice `B·T`).
#[expect(
    clippy::indexing_slicing,
    reason = "invariant: the four lanes are split at multiples of t from a chunk of 4·t, so every \
              lane has length t, and j < t"
)]
pub(crate) fn gae_rows<F: Real, const CARRY: bool>(
    adv: &mut [F],
    ret: &mut [F],
    rewards: &[F],
    values: &[F],
    mask: &[bool],
    t: usize,
    g: f64,
    gl: f64,
) -> bool {
    /// One position of one row. Branch-free: the candidate update is computed everywhere and
    /// selected only where `m`, so a masked input (NaN included) never reaches the state or the
    /// outputs. `st = (V_next, Â_next, poison)`: `poison` accumulates `0·x` of every output (0
    /// when finite, NaN otherwise), one independent chain per row, which costs far less than a
    /// shared boolean flag or a second pass.
    #[inline(always)]
    fn step<F: Real, const CARRY: bool>(
        a: &mut F,
        rt: &mut F,
        r: F,
        v: F,
        m: bool,
        st: &mut (f64, f64, F),
        g: f64,
        gl: f64,
    ) {
        let (next_v, last, poison) = st;
        let (r, v) = (r.as_f64(), v.as_f64());
        let cand = (r + g * *next_v - v) + gl * *last;
        let nl = if m { cand } else { *last };
        *next_v = if m { v } else { *next_v };
        *last = nl;
        let (av, rv) = (
            if m || CARRY { F::lit(nl) } else { F::ZERO },
            if m { F::lit(nl + v) } else { F::ZERO },
        );
        *a = av;
        *rt = rv;
        // A non-finite valid input makes `cand`, hence this position's outputs, non-finite: the
        // poison of the outputs catches it, and any overflow of the outputs.
        *poison = *poison + (av * F::ZERO + rv * F::ZERO);
    }
    let mut poison = 0.0f64;
    let block = 4 * t;
    let mut a_it = adv.chunks_exact_mut(block);
    let mut g_it = ret.chunks_exact_mut(block);
    let mut r_it = rewards.chunks_exact(block);
    let mut v_it = values.chunks_exact(block);
    let mut m_it = mask.chunks_exact(block);
    for ((((a, rt), r), v), m) in (&mut a_it)
        .zip(&mut g_it)
        .zip(&mut r_it)
        .zip(&mut v_it)
        .zip(&mut m_it)
    {
        let (a0, a) = a.split_at_mut(t);
        let (a1, a) = a.split_at_mut(t);
        let (a2, a3) = a.split_at_mut(t);
        let (g0, rt) = rt.split_at_mut(t);
        let (g1, rt) = rt.split_at_mut(t);
        let (g2, g3) = rt.split_at_mut(t);
        let (r0, r) = r.split_at(t);
        let (r1, r) = r.split_at(t);
        let (r2, r3) = r.split_at(t);
        let (v0, v) = v.split_at(t);
        let (v1, v) = v.split_at(t);
        let (v2, v3) = v.split_at(t);
        let (m0, m) = m.split_at(t);
        let (m1, m) = m.split_at(t);
        let (m2, m3) = m.split_at(t);
        let mut st = [(0.0f64, 0.0f64, F::ZERO); 4];
        let [s0, s1, s2, s3] = &mut st;
        for j in (0..t).rev() {
            step::<F, CARRY>(&mut a0[j], &mut g0[j], r0[j], v0[j], m0[j], s0, g, gl);
            step::<F, CARRY>(&mut a1[j], &mut g1[j], r1[j], v1[j], m1[j], s1, g, gl);
            step::<F, CARRY>(&mut a2[j], &mut g2[j], r2[j], v2[j], m2[j], s2, g, gl);
            step::<F, CARRY>(&mut a3[j], &mut g3[j], r3[j], v3[j], m3[j], s3, g, gl);
        }
        poison += ((s0.2 + s1.2) + (s2.2 + s3.2)).as_f64();
    }
    for ((((a, rt), r), v), m) in a_it
        .into_remainder()
        .chunks_exact_mut(t)
        .zip(g_it.into_remainder().chunks_exact_mut(t))
        .zip(r_it.remainder().chunks_exact(t))
        .zip(v_it.remainder().chunks_exact(t))
        .zip(m_it.remainder().chunks_exact(t))
    {
        let mut st = (0.0f64, 0.0f64, F::ZERO);
        for ((((a, rt), &r), &v), &m) in a.iter_mut().zip(rt).zip(r).zip(v).zip(m).rev() {
            step::<F, CARRY>(a, rt, r, v, m, &mut st, g, gl);
        }
        poison += st.2.as_f64();
    }
    poison == 0.0
}

/// Generalized advantage estimation with a critic, skipping masked positions.
///
/// # Definition
/// Backwards over the valid tokens of each row: `δ_t = r_t + γ·V_next − V_t`,
/// `Â_t = δ_t + γλ·Â_next`, `returns_t = Â_t + V_t`, where `V_next` and `Â_next` belong to the next
/// *valid* token (0 past the end). `λ = 1` gives the Monte Carlo return minus `V_t`; `λ = 0` the TD
/// error. Masked positions get 0 in both outputs. Whitening is a separate step
/// ([`crate::stats::masked_whiten`]).
///
/// # Shapes
/// `advantages`, `returns`, `rewards`, `values`: `(B, T)`, like `mask`.
///
/// # Errors
/// [`Error::LengthMismatch`](crate::Error::LengthMismatch); [`Error::NonFinite`](crate::Error::NonFinite).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, advantage::{Gae, gae}};
/// let mask = Mask::new(&[true, true], 2)?;
/// let (mut adv, mut ret) = ([0.0f64; 2], [0.0f64; 2]);
/// gae(&mut adv, &mut ret, &[0.0, 1.0], &[0.5, 0.5], mask, &Gae::new(1.0, 1.0)?)?;
/// assert_eq!(ret, [1.0, 1.0]); // Monte Carlo returns
/// assert_eq!(adv, [0.5, 0.5]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn gae<F: Real>(
    advantages: &mut [F],
    returns: &mut [F],
    rewards: &[F],
    values: &[F],
    mask: Mask<'_>,
    params: &Gae<F>,
) -> Result<()> {
    let shape = mask.shape();
    shape.check("advantages", advantages.len())?;
    shape.check("returns", returns.len())?;
    shape.check("rewards", rewards.len())?;
    shape.check("values", values.len())?;
    let (g, l) = (params.gamma.as_f64(), params.lambda.as_f64());
    let t = shape.seq_len();
    let ok = gae_rows::<F, false>(
        advantages,
        returns,
        rewards,
        values,
        mask.bits(),
        t,
        g,
        g * l,
    );
    gae_check(ok, rewards, values, mask)
}

/// The errors of a [`gae_rows`] pass: the first non-finite valid input, or else an overflow.
pub(crate) fn gae_check<F: Real>(
    ok: bool,
    rewards: &[F],
    values: &[F],
    mask: Mask<'_>,
) -> Result<()> {
    if ok {
        return Ok(());
    }
    check_tokens("rewards", rewards, mask)?;
    check_tokens("values", values, mask)?;
    Err(Error::Overflow { what: "gae" })
}

/// REINFORCE++ (Hu, 2025, arXiv:2501.03262): discounted returns whitened over the whole batch.
///
/// # Definition
/// `G = discounted_returns(r, γ)`, then `A = whiten(G)·m` with statistics over every valid token of
/// the batch ([`Whiten`]). `returns = G`.
///
/// # Shapes
/// `advantages`, `returns`, `rewards`: `(B, T)`, like `mask`.
///
/// # Errors
/// As [`discounted_returns`], plus [`Error::TooFewValid`](crate::Error::TooFewValid) when every token is masked.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, advantage::reinforce_plus_plus, stats::Whiten};
/// let mask = Mask::new(&[true, true, true, true], 2)?;
/// let (mut adv, mut ret) = ([0.0f64; 4], [0.0f64; 4]);
/// reinforce_plus_plus(&mut adv, &mut ret, &[0.0, 1.0, 0.0, 0.0], mask, 1.0, &Whiten::default())?;
/// assert_eq!(ret, [1.0, 1.0, 0.0, 0.0]);
/// assert!(adv[0] > 0.0 && adv[2] < 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn reinforce_plus_plus<F: Real>(
    advantages: &mut [F],
    returns: &mut [F],
    rewards: &[F],
    mask: Mask<'_>,
    gamma: F,
    whiten: &Whiten<F>,
) -> Result<()> {
    mask.shape().check("advantages", advantages.len())?;
    discounted_returns(returns, rewards, mask, gamma)?;
    advantages.copy_from_slice(returns);
    whiten_in_place(advantages, mask, whiten)
}

/// REINFORCE++-baseline (Hu, 2025): the group-mean baseline, broadcast to tokens, whitened over the
/// batch's valid tokens (so long responses weigh more in the statistics, as in verl and OpenRLHF).
///
/// # Definition
/// `aᵢ = Rᵢ − μ_g` (singletons per [`super::Singleton`]), `A_{i,t} = whiten(aᵢ·m)·m`.
///
/// # Shapes
/// `advantages`: `(B, T)`; `scores`: `(B)`.
///
/// # Errors
/// As [`super::grpo`] and [`crate::stats::masked_whiten`].
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, Mask, advantage::{Singleton, reinforce_plus_plus_baseline}, stats::Whiten};
/// let groups = GroupIndex::uniform(2, 2)?;
/// let mask = Mask::new(&[true, true, true, false], 2)?;
/// let mut adv = [0.0f64; 4];
/// reinforce_plus_plus_baseline(&mut adv, &[1.0, 0.0], mask, &groups, Singleton::Zero, &Whiten::default())?;
/// assert!(adv[0] > 0.0 && adv[2] < 0.0 && adv[3] == 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn reinforce_plus_plus_baseline<F: Real>(
    advantages: &mut [F],
    scores: &[F],
    mask: Mask<'_>,
    groups: &GroupIndex<'_>,
    singleton: super::Singleton,
    whiten: &Whiten<F>,
) -> Result<()> {
    let shape = mask.shape();
    shape.check("advantages", advantages.len())?;
    shape.check_batch("scores", scores.len())?;
    groups.check_rows("scores", scores.len())?;
    // The first B slots of `advantages` hold the centred scores, then broadcast in place.
    let b = shape.batch();
    if let Some(head) = advantages.get_mut(..b) {
        super::group_mean_baseline(head, scores, groups, singleton)?;
    }
    broadcast_rows_in_place(advantages, mask, Some(whiten))
}

/// `x ← whiten(x)·m`.
pub(crate) fn whiten_in_place<F: Real>(x: &mut [F], mask: Mask<'_>, w: &Whiten<F>) -> Result<()> {
    let (mean, scale) = whiten_affine(x, mask.bits(), w)?;
    let add = if w.shift_mean() { 0.0 } else { mean };
    for (v, &m) in x.iter_mut().zip(mask.bits()) {
        *v = if m {
            F::lit((v.as_f64() - mean) * scale + add)
        } else {
            F::ZERO
        };
    }
    crate::error::ensure_output("whitened advantages", x)
}

/// ReMax (Li et al., 2023, arXiv:2310.10505): the return minus the reward of a greedy rollout.
///
/// # Definition
/// `G_t = Σ_{k>=t} r_k·m_k` (undiscounted reward-to-go), `A_t = (G_t − bᵢ)·m_t`, with `bᵢ` the
/// baseline reward of row `i` (`reward_baselines`). `returns = G·m`.
///
/// # Shapes
/// `advantages`, `returns`, `rewards`: `(B, T)`; `baselines`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`](crate::Error::LengthMismatch); [`Error::NonFinite`](crate::Error::NonFinite).
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, advantage::remax};
/// let mask = Mask::new(&[true, true], 2)?;
/// let (mut adv, mut ret) = ([0.0f64; 2], [0.0f64; 2]);
/// remax(&mut adv, &mut ret, &[0.0, 1.0], &[0.25], mask)?;
/// assert_eq!(adv, [0.75, 0.75]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn remax<F: Real>(
    advantages: &mut [F],
    returns: &mut [F],
    rewards: &[F],
    baselines: &[F],
    mask: Mask<'_>,
) -> Result<()> {
    let shape = mask.shape();
    shape.check("advantages", advantages.len())?;
    shape.check("returns", returns.len())?;
    shape.check_batch("reward_baselines", baselines.len())?;
    ensure_finite("reward_baselines", baselines)?;
    check_tokens("rewards", rewards, mask)?;
    remax_rows::<F, false>(advantages, returns, rewards, baselines, mask);
    crate::error::ensure_output("remax", advantages)?;
    crate::error::ensure_output("remax", returns)?;
    Ok(())
}

/// ReMax over every row: `G_t = Σ_{k>=t} m_k·r_k` (masked rewards not read), at a valid position
/// `ret = G`, `adv = G − b`; at a masked one 0 and 0, or the carried `G` in both when `CARRY`
/// (verl: `A = G − b·m`, returns the reverse cumulative sum at every position).
pub(crate) fn remax_rows<F: Real, const CARRY: bool>(
    advantages: &mut [F],
    returns: &mut [F],
    rewards: &[F],
    baselines: &[F],
    mask: Mask<'_>,
) {
    let t = mask.shape().seq_len();
    for ((((a, g), r), m), &b) in advantages
        .chunks_exact_mut(t)
        .zip(returns.chunks_exact_mut(t))
        .zip(rewards.chunks_exact(t))
        .zip(mask.rows())
        .zip(baselines)
    {
        let mut acc = 0.0f64;
        for (((a, g), &r), &m) in a.iter_mut().zip(g).zip(r).zip(m).rev() {
            if m {
                acc += r.as_f64();
                *g = F::lit(acc);
                *a = F::lit(acc - b.as_f64());
            } else if CARRY {
                *g = F::lit(acc);
                *a = F::lit(acc);
            } else {
                *g = F::ZERO;
                *a = F::ZERO;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_skip_masked_spans() {
        // Row: valid, observation (masked), valid with reward 1; γ = 0.5.
        let mask = Mask::new(&[true, false, true], 3).unwrap();
        let mut g = [0.0f64; 3];
        discounted_returns(&mut g, &[0.0, 7.0, 1.0], mask, 0.5).unwrap();
        assert_eq!(g, [0.5, 0.0, 1.0]);
        assert!(discounted_returns(&mut g, &[0.0, 7.0, 1.0], mask, 1.5).is_err());
    }

    #[test]
    fn gae_hand_values() {
        // r = [0, 0, 1], V = [0.5, 0.25, 0.75], γ = 0.5, λ = 0.5.
        // δ2 = 1 − 0.75 = 0.25; A2 = 0.25
        // δ1 = 0 + 0.5·0.75 − 0.25 = 0.125; A1 = 0.125 + 0.25·0.25 = 0.1875
        // δ0 = 0 + 0.5·0.25 − 0.5 = −0.375; A0 = −0.375 + 0.25·0.1875 = −0.328125
        let mask = Mask::new(&[true; 3], 3).unwrap();
        let (mut a, mut r) = ([0.0f64; 3], [0.0f64; 3]);
        gae(
            &mut a,
            &mut r,
            &[0.0, 0.0, 1.0],
            &[0.5, 0.25, 0.75],
            mask,
            &Gae::new(0.5, 0.5).unwrap(),
        )
        .unwrap();
        assert_eq!(a, [-0.328125, 0.1875, 0.25]);
        assert_eq!(r, [0.171875, 0.4375, 1.0]);
        assert!(Gae::new(0.5f64, 1.5).is_err());
    }
}
