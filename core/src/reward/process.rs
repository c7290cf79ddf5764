//! Process rewards: PURE's min-form credit assignment and the Clip / Delta refinements.
//!
//! Step rewards of a batch are flat: trajectory `i` owns `counts[i]` consecutive steps (`Σ counts`
//! entries in all). Placing a step's reward on its last token is the caller's job (PURE puts it on
//! the step separator `"\n\n"` and on the final token).

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, param_finite, param_positive};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor};
use crate::real::{Real, usize_f64};

/// Checks flat step data against per-trajectory counts.
fn check_steps<F: Real>(steps: &[F], counts: &[usize]) -> Result<()> {
    let total = counts
        .iter()
        .try_fold(0usize, |a, &c| a.checked_add(c))
        .ok_or(Error::Overflow {
            what: "step counts",
        })?;
    ensure_len("steps", total, steps.len())?;
    ensure_finite("steps", steps)
}

/// Splits flat steps by counts.
fn split<'a, T>(xs: &'a [T], counts: &'a [usize]) -> impl Iterator<Item = &'a [T]> + 'a {
    let mut start = 0usize;
    counts.iter().map(move |&c| {
        let s = xs.get(start..start + c).unwrap_or(&[]);
        start += c;
        s
    })
}

/// Mutable version of [`split`].
fn split_mut<'a, T>(
    mut xs: &'a mut [T],
    counts: &'a [usize],
) -> impl Iterator<Item = &'a mut [T]> + 'a {
    counts.iter().map(move |&c| {
        let taken = core::mem::take(&mut xs);
        let (head, tail) = taken.split_at_mut(c.min(taken.len()));
        xs = tail;
        head
    })
}

/// How PURE's RLOO baseline for process rewards is formed (`reward_baseline`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PureBaseline {
    /// Average reward per token of the other samples, `b_i = Σ_{j≠i} O_j / Σ_{j≠i} |y_j|`, subtracted
    /// as `b_i·n_tok(i, k)` from each step (the released script's choice; the default).
    #[default]
    Token,
    /// Average reward per step of the other samples, `b_i = (1/(G−1))·Σ_{j≠i} O_j/K_j`, subtracted
    /// from every step (argparse default).
    Step,
}

/// PURE: min-form credit assignment for process rewards (Cheng et al.[^1]).
///
/// # Definition
/// A PRM gives each step `k = 1..K` two-class logits; the step reward is
/// `r_k = p_k[1] − p_k[0] = tanh((l₁ − l₀)/2) ∈ [−1, 1]` ([`Pure::step_reward`]). Min-form weighting:
/// `w = softmax(−r/T)`, `r*_k = w_k·r_k`, outcome `O = Σ_k r*_k`, which tends to `min_k r_k` as
/// `T → 0` (computed with max-subtraction, stable for any `T > 0`). With weighting disabled,
/// `w_k = 1/K`. The weights are computed once over all `K` steps, as the reference does (the
/// suffix sums of `r*` equal the softmin only from the first step). Defaults `T = 0.1`, weighted.
///
/// Baselines over the prompt group ([`Pure::baseline`], RLOO) and the verifiable-reward mix
/// ([`Pure::verifiable`]: `v_i = solved_i − 1`, minus the mean of the other samples' `v`, times a
/// coefficient, added at the final token) follow the reference. A group of one has baseline 0 (the
/// reference divides by zero).
///
/// # Shapes
/// `steps`, `out`: flat `(Σ counts)`; `counts`, `outcome`: `(B)`.
///
/// # Errors
/// [`Pure::new`]: `InvalidParam` unless `T > 0`. Evaluation: [`Error::LengthMismatch`] if the steps
/// do not match the counts; [`Error::NonFinite`]; [`Error::InvalidParam`] for a trajectory without
/// steps in [`Pure::baseline`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Pure;
/// let pure = Pure::<f64>::default();
/// let mut weighted = [0.0; 3];
/// let o = pure.min_form(&mut weighted, &[0.9, -0.5, 0.8])?;
/// assert!((o - -0.5).abs() < 1e-5); // ≈ the worst step
/// let uniform = Pure::<f64>::new(0.1, false)?;
/// assert!((uniform.min_form(&mut weighted, &[0.9, -0.5, 0.8])? - 0.4).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Cheng et al. (2025), *Stop Summation: Min-Form Credit Assignment Is All Process Reward
///     Model Needs for Reasoning*, arXiv:2504.15275 (`CJReinforce/PURE`,
///     `openrlhf/utils/utils.py::turn_process_reward_logits_to_reward`, `experience_maker.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pure<F> {
    temperature: F,
    weighted: bool,
}

impl<F: Real> Default for Pure<F> {
    fn default() -> Self {
        Self {
            temperature: F::lit(0.1),
            weighted: true,
        }
    }
}

impl<F: Real> Pure<F> {
    /// Temperature `T > 0` and whether to use the softmin weights.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(temperature: F, weighted: bool) -> Result<Self> {
        Ok(Self {
            temperature: param_positive("temperature", temperature)?,
            weighted,
        })
    }

    /// The step reward `p[1] − p[0]` of two-class PRM logits `(l₀, l₁)`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::Pure;
    /// assert_eq!(Pure::<f64>::step_reward(0.0, 0.0), 0.0);
    /// assert!((Pure::<f64>::step_reward(0.0, 2.0f64.ln()) - 1.0 / 3.0).abs() < 1e-15);
    /// ```
    pub fn step_reward(l0: F, l1: F) -> F {
        (F::lit(0.5) * (l1 - l0)).tanh()
    }

    /// Weighted step rewards `r*` of one trajectory into `out`; returns the outcome `O = Σ r*`
    /// (0 for no steps).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`].
    pub fn min_form(&self, out: &mut [F], rewards: &[F]) -> Result<F> {
        ensure_len("out", rewards.len(), out.len())?;
        ensure_finite("rewards", rewards)?;
        Ok(F::lit(self.raw(out, rewards)))
    }

    fn raw(&self, out: &mut [F], rewards: &[F]) -> f64 {
        let k = rewards.len();
        if k == 0 {
            return 0.0;
        }
        let t = self.temperature.as_f64();
        // softmax(−r/T) with max-subtraction: the largest −r/T is −min(r)/T.
        let min = rewards.iter().fold(f64::INFINITY, |m, r| m.min(r.as_f64()));
        let z: f64 = if self.weighted {
            rewards
                .iter()
                .map(|r| Float::exp(-(r.as_f64() - min) / t))
                .sum()
        } else {
            usize_f64(k)
        };
        let mut outcome = 0.0f64;
        for (o, r) in out.iter_mut().zip(rewards) {
            let r = r.as_f64();
            let w = if self.weighted {
                Float::exp(-(r - min) / t) / z
            } else {
                1.0 / z
            };
            let v = w * r;
            outcome += v;
            *o = F::lit(v);
        }
        outcome
    }

    /// [`Pure::min_form`] over a batch of trajectories with `counts[i]` steps each; `outcome[i] = Oᵢ`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn min_form_batch(
        &self,
        out: &mut [F],
        outcome: &mut [F],
        steps: &[F],
        counts: &[usize],
    ) -> Result<()> {
        check_steps(steps, counts)?;
        ensure_len("out", steps.len(), out.len())?;
        ensure_len("outcome", counts.len(), outcome.len())?;
        for ((o, s), oc) in split_mut(out, counts)
            .zip(split(steps, counts))
            .zip(outcome.iter_mut())
        {
            *oc = F::lit(self.raw(o, s));
        }
        Ok(())
    }

    /// PURE's RLOO baselines for process rewards, one per sample.
    ///
    /// # Definition
    /// With `Oᵢ` the outcome (sum of weighted steps, from [`Pure::min_form_batch`]) of sample `i`,
    /// `|yᵢ|` its length in tokens and `Kᵢ` its number of steps, over the other samples `j` of its
    /// group: [`PureBaseline::Token`]: `b_i = Σ_{j≠i} O_j / Σ_{j≠i} |y_j|` (reward per token);
    /// [`PureBaseline::Step`]: `b_i = (1/(G−1))·Σ_{j≠i} O_j/K_j` (reward per step). A group of one
    /// gets `b = 0`. Apply with [`Pure::subtract_baseline`].
    ///
    /// # Shapes
    /// `baselines`, `outcome`, `counts`, `lengths`: `(B)`; `groups` over `B`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`]; `InvalidParam` for a zero length or a
    /// trajectory with no steps; [`Error::Overflow`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::{Pure, PureBaseline};
    /// use rewardkit_core::GroupIndex;
    /// let groups = GroupIndex::uniform(2, 2)?;
    /// let mut b = [0.0f64; 2];
    /// Pure::baseline(&mut b, &[0.6, -0.3], &[2, 1], &[6, 5], &groups, PureBaseline::Token)?;
    /// assert!((b[0] + 0.3 / 5.0).abs() < 1e-15 && (b[1] - 0.6 / 6.0).abs() < 1e-15);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn baseline(
        baselines: &mut [F],
        outcome: &[F],
        counts: &[usize],
        lengths: &[u32],
        groups: &GroupIndex<'_>,
        kind: PureBaseline,
    ) -> Result<()> {
        groups.check_rows("outcome", outcome.len())?;
        groups.check_rows("counts", counts.len())?;
        groups.check_rows("lengths", lengths.len())?;
        ensure_len("baselines", outcome.len(), baselines.len())?;
        ensure_finite("outcome", outcome)?;
        super::check_lengths("lengths", lengths)?;
        if counts.contains(&0) {
            return Err(Error::InvalidParam {
                name: "counts",
                value: 0.0,
                expected: "at least one step per trajectory",
            });
        }
        struct V<'a, F> {
            out: &'a mut [F],
            outcome: &'a [F],
            counts: &'a [usize],
            lengths: &'a [u32],
            kind: PureBaseline,
        }
        impl<F: Real> GroupVisitor for V<'_, F> {
            fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
                let n = rows.len();
                let stat = |i: usize| -> (f64, f64) {
                    let o = self.outcome.get(i).map_or(0.0, |x| x.as_f64());
                    match self.kind {
                        PureBaseline::Token => {
                            (o, f64::from(self.lengths.get(i).copied().unwrap_or(1)))
                        }
                        PureBaseline::Step => {
                            let k = self.counts.get(i).copied().unwrap_or(1);
                            (o / usize_f64(k), 1.0)
                        }
                    }
                };
                let (num, den) = rows.rows().fold((0.0, 0.0), |(a, b), i| {
                    let (x, y) = stat(i);
                    (a + x, b + y)
                });
                let kind = self.kind;
                rows.fill(self.out, |i| {
                    if n < 2 {
                        return F::ZERO;
                    }
                    let (x, y) = stat(i);
                    F::lit(match kind {
                        PureBaseline::Token => (num - x) / (den - y),
                        PureBaseline::Step => (num - x) / usize_f64(n - 1),
                    })
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            out: &mut *baselines,
            outcome,
            counts,
            lengths,
            kind,
        })?;
        super::check_output("PURE baseline", baselines)
    }

    /// Subtracts per-sample baselines from weighted step rewards in place: `r*_{i,k} −= b_i·n_tok(i,k)`
    /// ([`PureBaseline::Token`], `n_tok` the step's tokens without its separator) or `r*_{i,k} −= b_i`
    /// ([`PureBaseline::Step`]).
    ///
    /// # Shapes
    /// `weighted`, `step_tokens`: flat `(Σ counts)`; `baselines`, `counts`: `(B)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::Overflow`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::{Pure, PureBaseline};
    /// let mut w = [0.2f64, 0.4, -0.3];
    /// Pure::subtract_baseline(&mut w, &[-0.06, 0.1], &[2, 1], &[2, 3, 4], PureBaseline::Token)?;
    /// assert!((w[0] - 0.32).abs() < 1e-15 && (w[2] + 0.7).abs() < 1e-15);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn subtract_baseline(
        weighted: &mut [F],
        baselines: &[F],
        counts: &[usize],
        step_tokens: &[u32],
        kind: PureBaseline,
    ) -> Result<()> {
        check_steps(weighted, counts)?;
        ensure_len("baselines", counts.len(), baselines.len())?;
        ensure_len("step_tokens", weighted.len(), step_tokens.len())?;
        ensure_finite("baselines", baselines)?;
        for ((w, t), &b) in split_mut(weighted, counts)
            .zip(split(step_tokens, counts))
            .zip(baselines)
        {
            let b = b.as_f64();
            for (r, &n) in w.iter_mut().zip(t) {
                let sub = match kind {
                    PureBaseline::Token => b * f64::from(n),
                    PureBaseline::Step => b,
                };
                *r = F::lit(r.as_f64() - sub);
            }
        }
        super::check_output("baselined process reward", weighted)
    }

    /// PURE's verifiable-reward term: `vᵢ = solvedᵢ − 1 ∈ {−1, 0}`, minus the mean of the other
    /// samples' `v` in the group (RLOO; 0 for a group of one), times `coef` (1.0 in the reference).
    ///
    /// # Shapes
    /// `out`, `solved`: `(B)`; `groups` over `B`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; `InvalidParam` for a non-finite `coef`; [`Error::Overflow`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::Pure;
    /// use rewardkit_core::GroupIndex;
    /// let mut out = [0.0f64; 3];
    /// Pure::verifiable(&mut out, &[true, false, false], &GroupIndex::uniform(3, 3)?, 1.0)?;
    /// assert_eq!(out, [1.0, -0.5, -0.5]); // v = (0, −1, −1)
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn verifiable(
        out: &mut [F],
        solved: &[bool],
        groups: &GroupIndex<'_>,
        coef: F,
    ) -> Result<()> {
        groups.check_rows("solved", solved.len())?;
        ensure_len("out", solved.len(), out.len())?;
        let coef = param_finite("coef", coef)?.as_f64();
        struct V<'a, F> {
            out: &'a mut [F],
            solved: &'a [bool],
            coef: f64,
        }
        impl<F: Real> GroupVisitor for V<'_, F> {
            fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
                let v = |s: bool| if s { 0.0 } else { -1.0 };
                let n = rows.len();
                let sum: f64 = rows.values(self.solved).map(v).sum();
                let coef = self.coef;
                rows.map(self.out, self.solved, |s| {
                    let x = v(s);
                    let b = if n < 2 {
                        0.0
                    } else {
                        (sum - x) / usize_f64(n - 1)
                    };
                    F::lit((x - b) * coef)
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            out: &mut *out,
            solved,
            coef,
        })?;
        super::check_output("verifiable reward", out)
    }
}

/// Which refinement of process rewards to apply.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RefineMode<F> {
    /// `r̃_k = min(r_k − η, 0)`.
    Clip {
        /// Threshold `η`.
        eta: F,
    },
    /// `r̃_k = r_k − r_{k+1}` for `k < K`; `r̃_K = r_K` (`keep_last`) or 0.
    Delta {
        /// Keep the last step's reward (`true`, the default) or zero it.
        keep_last: bool,
    },
    /// Delta applied to the clipped rewards.
    ClipDelta {
        /// Threshold `η`.
        eta: F,
        /// As in [`RefineMode::Delta`].
        keep_last: bool,
    },
}

/// The Clip and Delta refinements of process rewards (Gao et al.[^1]), which bound the return of
/// any trajectory so a policy cannot gain by adding steps.
///
/// # Definition
/// Clip: `r̃_k = min(r_k − η, 0) ≤ 0`, so every extra step can only lower the return. Delta:
/// `r̃_k = r_k − r_{k+1}` (`k < K`), `r̃_K = r_K`, so the return from step `t` telescopes to
/// `Σ_{k≥t} r̃_k = r_t` (with `keep_last = false`: `r̃_K = 0` and the return is `r_t − r_K`).
/// Clip-Delta applies Delta to the clipped rewards. No reference code was found and the paper's `η`
/// was not recovered: `η` is a required parameter (0.5 suits probability-valued PRMs), and the
/// last-step rule is an option (see [`numerics`](crate::numerics)). `K = 1`: Delta returns `r_1` (or 0).
///
/// # Shapes
/// One trajectory: `out`, `rewards`: `(K)`; batch: flat steps with `counts` `(B)`.
///
/// # Errors
/// [`ProcessRefine::new`]: `InvalidParam` for a non-finite `η`. Evaluation:
/// [`Error::LengthMismatch`], [`Error::NonFinite`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{ProcessRefine, RefineMode};
/// let clip = ProcessRefine::new(RefineMode::Clip { eta: 0.5f64 })?;
/// let mut out = [0.0; 3];
/// clip.apply(&mut out, &[0.9, 0.3, 0.6])?;
/// assert!((out[1] + 0.2).abs() < 1e-15);
/// assert_eq!((out[0], out[2]), (0.0, 0.0));
/// let delta = ProcessRefine::new(RefineMode::Delta { keep_last: true })?;
/// delta.apply(&mut out, &[0.9, 0.3, 0.6])?;
/// assert!((out[0] + out[1] + out[2] - 0.9).abs() < 1e-15); // telescopes to r₁
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Gao et al. (2024), *On Designing Effective RL Reward at Training Time for LLM Reasoning*,
///     arXiv:2410.15115.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProcessRefine<F> {
    mode: RefineMode<F>,
}

impl<F: Real> ProcessRefine<F> {
    /// A refinement.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(mode: RefineMode<F>) -> Result<Self> {
        match mode {
            RefineMode::Clip { eta } | RefineMode::ClipDelta { eta, .. } => {
                param_finite("eta", eta)?;
            }
            RefineMode::Delta { .. } => {}
        }
        Ok(Self { mode })
    }

    /// Refines the step rewards of one trajectory.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn apply(&self, out: &mut [F], rewards: &[F]) -> Result<()> {
        ensure_len("out", rewards.len(), out.len())?;
        ensure_finite("rewards", rewards)?;
        self.raw(out, rewards);
        if out.iter().any(|x| !x.is_finite()) {
            return Err(Error::Overflow {
                what: "refined process reward",
            });
        }
        Ok(())
    }

    fn raw(&self, out: &mut [F], rewards: &[F]) {
        let clip = |r: F, eta: F| (r - eta).min(F::ZERO);
        let (eta, delta, keep_last) = match self.mode {
            RefineMode::Clip { eta } => (Some(eta), false, true),
            RefineMode::Delta { keep_last } => (None, true, keep_last),
            RefineMode::ClipDelta { eta, keep_last } => (Some(eta), true, keep_last),
        };
        let base = |i: usize| rewards.get(i).map(|&r| eta.map_or(r, |e| clip(r, e)));
        for (i, o) in out.iter_mut().enumerate() {
            let r = base(i).unwrap_or(F::ZERO);
            *o = if !delta {
                r
            } else {
                match base(i + 1) {
                    Some(next) => r - next,
                    None if keep_last => r,
                    None => F::ZERO,
                }
            };
        }
    }

    /// Batch form over flat steps with `counts[i]` steps per trajectory.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn apply_batch(&self, out: &mut [F], steps: &[F], counts: &[usize]) -> Result<()> {
        check_steps(steps, counts)?;
        ensure_len("out", steps.len(), out.len())?;
        for (o, s) in split_mut(out, counts).zip(split(steps, counts)) {
            self.raw(o, s);
        }
        if out.iter().any(|x| !x.is_finite()) {
            return Err(Error::Overflow {
                what: "refined process reward",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_weights_hand_values() {
        // Two steps (0, 1), T = 1: w = softmax(0, −1) = (1/(1+e⁻¹), e⁻¹/(1+e⁻¹)); O = w₂.
        let p = Pure::<f64>::new(1.0, true).unwrap();
        let mut out = [0.0; 2];
        let o = p.min_form(&mut out, &[0.0, 1.0]).unwrap();
        let e = (-1.0f64).exp();
        assert!((o - e / (1.0 + e)).abs() < 1e-15);
        assert_eq!(out[0], 0.0);
        assert_eq!(p.min_form(&mut [], &[]).unwrap(), 0.0);
    }

    #[test]
    fn pure_baselines() {
        // Group of 2: weighted steps A = (0.2, 0.4) [tokens 2, 3, length 6], B = (−0.3) [tokens 4, length 5].
        let g = GroupIndex::uniform(2, 2).unwrap();
        let (counts, toks, lens) = ([2usize, 1], [2u32, 3, 4], [6u32, 5]);
        let mut b = [0.0f64; 2];
        Pure::baseline(
            &mut b,
            &[0.6, -0.3],
            &counts,
            &lens,
            &g,
            PureBaseline::Token,
        )
        .unwrap();
        // b_A = −0.3/5 = −0.06; b_B = 0.6/6 = 0.1 (leave-one-out sums by subtraction: ≤ 1 ulp off).
        assert!((b[0] + 0.06).abs() < 1e-15 && (b[1] - 0.1).abs() < 1e-15);
        let mut w = [0.2f64, 0.4, -0.3];
        Pure::subtract_baseline(&mut w, &b, &counts, &toks, PureBaseline::Token).unwrap();
        assert!((w[0] - 0.32).abs() < 1e-15 && (w[1] - 0.58).abs() < 1e-15);
        assert!((w[2] + 0.7).abs() < 1e-15);
        Pure::baseline(&mut b, &[0.6, -0.3], &counts, &lens, &g, PureBaseline::Step).unwrap();
        // b_A = −0.3/1; b_B = 0.6/2.
        assert!((b[0] + 0.3).abs() < 1e-15 && (b[1] - 0.3).abs() < 1e-15);
        assert!(
            Pure::baseline(&mut b, &[0.6, -0.3], &[3, 0], &lens, &g, PureBaseline::Step).is_err()
        );
        let g1 = GroupIndex::uniform(2, 1).unwrap();
        Pure::baseline(
            &mut b,
            &[0.6, -0.3],
            &counts,
            &lens,
            &g1,
            PureBaseline::Step,
        )
        .unwrap();
        assert_eq!(b, [0.0, 0.0]);
    }

    #[test]
    fn refine_batch_and_zero_last() {
        let d = ProcessRefine::new(RefineMode::Delta { keep_last: false }).unwrap();
        let mut out = [9.0f64; 3];
        d.apply_batch(&mut out, &[1.0, 0.25, 0.5], &[2, 1]).unwrap();
        assert_eq!(out, [0.75, 0.0, 0.0]);
        let cd = ProcessRefine::new(RefineMode::ClipDelta {
            eta: 0.5,
            keep_last: true,
        })
        .unwrap();
        cd.apply(&mut out, &[0.1, 0.9, 0.3]).unwrap();
        // clipped: (−0.4, 0, −0.2) → (−0.4, 0.2, −0.2).
        assert!((out[0] + 0.4).abs() < 1e-15 && (out[1] - 0.2).abs() < 1e-15);
        assert!((out[2] + 0.2).abs() < 1e-15);
        assert!(d.apply_batch(&mut out, &[1.0], &[2]).is_err());
    }
}
