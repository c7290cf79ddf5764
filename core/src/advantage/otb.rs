//! The optimal token baseline (verl `optimal_token_baseline` and `tir_optimal_token_baseline`): a
//! per-position baseline within each group, weighted by a cumulative path-variance proxy.

use alloc::vec;
use alloc::vec::Vec;

use num_traits::Float;

use crate::error::{Error, Result, param_nonneg};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor, Mask, count_true};
use crate::real::Real;

use super::returns::check_tokens;

/// How token positions are aligned across the trajectories of a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OtbPositions {
    /// Position `t` of every row (verl `optimal_token_baseline`).
    #[default]
    Absolute,
    /// The `k`-th *valid* token of every row, so multi-turn responses with masked observation spans
    /// line up (verl `tir_optimal_token_baseline`); rows with no valid token are left out of their
    /// group.
    Compacted,
}

/// Optimal-token-baseline parameters.
///
/// # Definition
/// With `πₜ = e^{old_logp_t}`, `wₜ = 1 − 2πₜ + Σ_v π²_{t,v}` (times `ρ̄ₜ²` when rollout importance
/// weights are given), `Wₜ = Σ_{j<=t} m_j·w_j` and the reward-to-go `Gₜ = Σ_{k>=t} m_k·r_k`, the
/// baseline of a group at position `t` is `Bₜ = Σᵢ Gᵢₜ·Wᵢₜ·mᵢₜ / (Σᵢ Wᵢₜ·mᵢₜ + ε)` and
/// `Aₜ = (Gₜ − Bₜ)·mₜ`. A group of one gets `B = 0`. With `handle_zero_tail`, when a single longest
/// trajectory is strictly longer than the second longest (length `L₂`), its baseline is 0 from
/// position `L₂` on (no other trajectory informs it there).
///
/// Defaults: `handle_zero_tail = true`, `ε = 1e-8`, [`OtbPositions::Absolute`] (current verl).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Otb<F> {
    handle_zero_tail: bool,
    eps: F,
    positions: OtbPositions,
}

impl<F: Real> Default for Otb<F> {
    fn default() -> Self {
        Self {
            handle_zero_tail: true,
            eps: F::lit(1e-8),
            positions: OtbPositions::Absolute,
        }
    }
}

impl<F: Real> Otb<F> {
    /// Validated parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a negative or non-finite `eps`.
    pub fn new(handle_zero_tail: bool, eps: F, positions: OtbPositions) -> Result<Self> {
        Ok(Self {
            handle_zero_tail,
            eps: param_nonneg("eps", eps)?,
            positions,
        })
    }
}

/// Optimal token baseline advantages (verl's OTB).
///
/// # Definition
/// See [`Otb`].
///
/// # Shapes
/// `advantages`, `returns`, `rewards`, `old_logp`, `sum_pi_squared`, `is_weights`: `(B, T)`, like
/// `mask`; `groups` over the `B` rows. `sum_pi_squared` is `Σ_v π²` per token
/// (`exp(logsumexp(2z) − 2·logsumexp(z))` from the logits).
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::Overflow`] if a baseline overflows.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, Mask, advantage::{Otb, optimal_token_baseline}};
/// let groups = GroupIndex::uniform(2, 2)?;
/// let mask = Mask::new(&[true, true, true, true], 2)?;
/// let (mut adv, mut ret) = ([0.0f64; 4], [0.0f64; 4]);
/// // Deterministic tokens (π = 1, Σπ² = 1) carry no variance: w = 0, baseline 0.
/// optimal_token_baseline(&mut adv, &mut ret, &[0.0, 1.0, 0.0, 0.0], &[0.0; 4], &[1.0; 4], None,
///     mask, &groups, &Otb::default())?;
/// assert_eq!(adv, [1.0, 1.0, 0.0, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn optimal_token_baseline<F: Real>(
    advantages: &mut [F],
    returns: &mut [F],
    rewards: &[F],
    old_logp: &[F],
    sum_pi_squared: &[F],
    is_weights: Option<&[F]>,
    mask: Mask<'_>,
    groups: &GroupIndex<'_>,
    params: &Otb<F>,
) -> Result<()> {
    let shape = mask.shape();
    shape.check("advantages", advantages.len())?;
    shape.check("returns", returns.len())?;
    check_tokens("rewards", rewards, mask)?;
    check_tokens("old_logp", old_logp, mask)?;
    check_tokens("sum_pi_squared", sum_pi_squared, mask)?;
    if let Some(w) = is_weights {
        check_tokens("is_weights", w, mask)?;
    }
    groups.check_rows("mask rows", shape.batch())?;
    let t = shape.seq_len();

    // Returns (undiscounted reward-to-go of masked rewards) and W (cumulative weights) per row, in
    // f64, stored compacted or absolute.
    let n = shape.len();
    let mut g_all = vec![0.0f64; n];
    let mut w_all = vec![0.0f64; n];
    let mut lens = vec![0usize; shape.batch()];
    for (i, m) in mask.rows().enumerate() {
        let base = i * t;
        let row = |x: &[F]| x.get(base..base + t).unwrap_or(&[]).to_vec();
        let (r, lp, sp) = (row(rewards), row(old_logp), row(sum_pi_squared));
        let isw = is_weights.map(row);
        // Reward-to-go over all positions (masked rewards count as 0).
        let mut acc = 0.0f64;
        for (j, (&mj, &rj)) in m.iter().zip(&r).enumerate().rev() {
            if mj {
                acc += rj.as_f64();
            }
            if let Some(o) = returns.get_mut(base + j) {
                *o = F::lit(acc);
            }
        }
        let mut cum = 0.0f64;
        let mut k = 0usize;
        for (j, &mj) in m.iter().enumerate() {
            let (Some(&lpj), Some(&spj)) = (lp.get(j), sp.get(j)) else {
                continue;
            };
            let mut w = 1.0 - 2.0 * Float::exp(lpj.as_f64()) + spj.as_f64();
            if let Some(iw) = isw.as_ref().and_then(|v| v.get(j)) {
                w *= iw.as_f64() * iw.as_f64();
            }
            if mj {
                cum += w;
            }
            let pos = match params.positions {
                OtbPositions::Absolute => Some(j),
                OtbPositions::Compacted => mj.then_some(k),
            };
            if let Some(pos) = pos {
                if let (Some(gs), Some(ws), Some(ret)) = (
                    g_all.get_mut(base + pos),
                    w_all.get_mut(base + pos),
                    returns.get(base + j),
                ) {
                    *gs = ret.as_f64();
                    *ws = cum;
                }
            }
            if mj {
                k += 1;
            }
        }
        if let Some(l) = lens.get_mut(i) {
            *l = count_true(m);
        }
    }

    // Per group and position: the baseline, written back into `advantages` (as G − B).
    struct V<'a, F> {
        adv: &'a mut [F],
        g_all: &'a [f64],
        w_all: &'a [f64],
        lens: &'a [usize],
        mask: Mask<'a>,
        t: usize,
        p: Otb<F>,
        num: Vec<f64>,
        den: Vec<f64>,
    }
    impl<F: Real> GroupVisitor for V<'_, F> {
        fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
            let t = self.t;
            let compact = self.p.positions == OtbPositions::Compacted;
            // Rows taking part: all rows, or (compacted) rows with at least one valid token.
            let member = |i: usize| !compact || self.lens.get(i).is_some_and(|&l| l > 0);
            let n_members = rows.rows().filter(|&i| member(i)).count();
            self.num.iter_mut().for_each(|x| *x = 0.0);
            self.den.iter_mut().for_each(|x| *x = 0.0);
            if n_members > 1 {
                for i in rows.rows().filter(|&i| member(i)) {
                    let len = self.lens.get(i).copied().unwrap_or(0);
                    for k in 0..t {
                        // Absolute: weight only valid positions; compacted: the first `len` slots.
                        let valid = if compact {
                            k < len
                        } else {
                            self.mask.bits().get(i * t + k).copied().unwrap_or(false)
                        };
                        if !valid {
                            continue;
                        }
                        let (g, w) = (
                            self.g_all.get(i * t + k).copied().unwrap_or(0.0),
                            self.w_all.get(i * t + k).copied().unwrap_or(0.0),
                        );
                        if let (Some(nu), Some(de)) = (self.num.get_mut(k), self.den.get_mut(k)) {
                            *nu += g * w;
                            *de += w;
                        }
                    }
                }
            }
            let eps = self.p.eps.as_f64();
            // Zero tail: the unique longest member beyond the second longest.
            let mut tail: Option<(usize, usize)> = None;
            if self.p.handle_zero_tail && n_members > 1 {
                let len_of = |i: usize| self.lens.get(i).copied().unwrap_or(0);
                let (mut l1, mut arg, mut ties) = (0usize, usize::MAX, 0usize);
                for i in rows.rows().filter(|&i| member(i)) {
                    let l = len_of(i);
                    if arg == usize::MAX || l > l1 {
                        (l1, arg, ties) = (l, i, 1);
                    } else if l == l1 {
                        ties += 1;
                    }
                }
                let l2 = rows
                    .rows()
                    .filter(|&i| member(i) && i != arg)
                    .map(len_of)
                    .max()
                    .unwrap_or(0);
                if ties == 1 && l1 > l2 {
                    tail = Some((arg, l2));
                }
            }
            for i in rows.rows() {
                let mut k = 0usize;
                for j in 0..t {
                    let m = self.mask.bits().get(i * t + j).copied().unwrap_or(false);
                    let pos = if compact { k } else { j };
                    let mut b = 0.0;
                    if n_members > 1 && member(i) && (!compact || m) {
                        let (nu, de) = (
                            self.num.get(pos).copied().unwrap_or(0.0),
                            self.den.get(pos).copied().unwrap_or(0.0),
                        );
                        let d = de + eps;
                        b = if nu == 0.0 { 0.0 } else { nu / d };
                        if let Some((arg, l2)) = tail {
                            if arg == i && pos >= l2 {
                                b = 0.0;
                            }
                        }
                    }
                    if !b.is_finite() {
                        return Err(Error::Overflow {
                            what: "optimal token baseline",
                        });
                    }
                    let g = self.g_all.get(i * t + pos).copied().unwrap_or(0.0);
                    if let Some(a) = self.adv.get_mut(i * t + j) {
                        *a = if m { F::lit(g - b) } else { F::ZERO };
                    }
                    if m {
                        k += 1;
                    }
                }
            }
            Ok(())
        }
    }
    crate::error::ensure_output("optimal token baseline returns", returns)?;
    groups.visit(&mut V {
        adv: &mut *advantages,
        g_all: &g_all,
        w_all: &w_all,
        lens: &lens,
        mask,
        t,
        p: *params,
        num: vec![0.0; t],
        den: vec![0.0; t],
    })?;
    crate::error::ensure_output("optimal token baseline", advantages)
}
