//! Dense and control rewards: Fine-Grained RLHF's segment rewards, CaRL's route-completion reward,
//! and potential-based shaping.

use crate::error::{
    Error, Result, ensure_finite, ensure_len, param_finite, param_in, param_nonneg,
};
use crate::layout::Mask;
use crate::real::Real;

use super::compose::finite_or_overflow;

/// How one Fine-Grained RLHF reward model turns its output into a segment reward.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RmSpec<F> {
    /// A token-classifier RM that labels a segment "no error" (value `> 0`) or "error" (`≤ 0`):
    /// `r = +w` or `−w`.
    Binary {
        /// Weight `w`.
        weight: F,
    },
    /// A sequence-level RM score `s`, normalized: `r = ((s − μ)/σ)·w + b`.
    Normalized {
        /// Weight `w`.
        weight: F,
        /// Mean `μ`.
        mean: F,
        /// Standard deviation `σ > 0`.
        std: F,
        /// Bias `b`.
        bias: F,
    },
}

impl<F: Real> RmSpec<F> {
    fn check(self) -> Result<Self> {
        match self {
            Self::Binary { weight } => Ok(Self::Binary {
                weight: param_finite("weight", weight)?,
            }),
            Self::Normalized {
                weight,
                mean,
                std,
                bias,
            } => Ok(Self::Normalized {
                weight: param_finite("weight", weight)?,
                mean: param_finite("mean", mean)?,
                std: crate::error::param_positive("std", std)?,
                bias: param_finite("bias", bias)?,
            }),
        }
    }

    /// The segment reward for a model output `value`.
    #[inline]
    pub fn reward(self, value: F) -> F {
        match self {
            Self::Binary { weight } => {
                if value > F::ZERO {
                    weight
                } else {
                    -weight
                }
            }
            Self::Normalized {
                weight,
                mean,
                std,
                bias,
            } => (value - mean) / std * weight + bias,
        }
    }
}

/// One reward model's verdict on one segment of one response.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SegmentScore<F> {
    /// The response (row) index.
    pub row: usize,
    /// The segment's last token, as an index into the response's tokens (clipped to the last
    /// generated token).
    pub end: usize,
    /// Which reward model (index into the spec list).
    pub model: usize,
    /// The model's output: a label for [`RmSpec::Binary`], a score for [`RmSpec::Normalized`].
    pub value: F,
}

/// Fine-Grained RLHF: dense segment-level rewards from several reward models (Wu et al.[^1]).
///
/// # Definition
/// Every [`SegmentScore`] adds its model's [`RmSpec::reward`] on the segment's last token (its
/// `end`-th valid token, clipped to the row's last valid token); per token, with a KL penalty:
/// `r_t = Σ_k r_{k,t} − β·(log π(y_t) − log π_ref(y_t))` on valid tokens, 0 elsewhere (masked
/// positions of `logp` and `ref_logp` are never read: they may hold anything). The QA-Feedback
/// configuration ([`FineGrained::qa_feedback_models`]): relevance (sub-sentences) `Binary{0.3}`,
/// factuality (sentences) `Binary{0.5}`, completeness (sequence, on the final token)
/// `Normalized{0.3, −0.44678, 8.30116, 0}`; `β = 0.3`. Segmentation (spaCy sentences in the
/// reference) is the caller's job.
///
/// # Shapes
/// `out`, `logp`, `ref_logp`: `(B, T)` with the mask; `segments`: any number.
///
/// # Errors
/// [`FineGrained::new`]: [`Error::Empty`] for no models; `InvalidParam` for invalid specs or a
/// negative `β`. [`FineGrained::rewards`]: `LengthMismatch`, [`Error::NonFinite`] (a segment value,
/// or `logp`/`ref_logp` at a valid token);
/// `InvalidParam` for a segment whose row or model is out of range; [`Error::TooFewValid`] for a
/// segment on a row without valid tokens.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{FineGrained, SegmentScore};
/// use rewardkit_core::Mask;
/// let models = FineGrained::<f64>::qa_feedback_models();
/// let fg = FineGrained::new(&models, 0.3)?;
/// let bits = [true, true, true, false];
/// let mask = Mask::new(&bits, 4)?;
/// let segs = [
///     SegmentScore { row: 0, end: 0, model: 0, value: 1.0 },   // relevant: +0.3 on token 0
///     SegmentScore { row: 0, end: 9, model: 1, value: 0.0 },   // factual error: −0.5, clipped to token 2
/// ];
/// let mut out = [0.0; 4];
/// fg.rewards(&mut out, mask, &segs, None)?;
/// assert_eq!(out, [0.3, 0.0, -0.5, 0.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Wu et al. (2023), *Fine-Grained Human Feedback Gives Better Rewards for Language Model
///     Training*, arXiv:2306.01693 (`allenai/FineGrainedRLHF`, `tasks/qa_feedback/training/reward.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FineGrained<'m, F> {
    models: &'m [RmSpec<F>],
    kl_coef: F,
}

impl<'m, F: Real> FineGrained<'m, F> {
    /// The QA-Feedback reward models: relevance, factuality, completeness.
    pub fn qa_feedback_models() -> [RmSpec<F>; 3] {
        [
            RmSpec::Binary {
                weight: F::lit(0.3),
            },
            RmSpec::Binary {
                weight: F::lit(0.5),
            },
            RmSpec::Normalized {
                weight: F::lit(0.3),
                mean: F::lit(-0.44678),
                std: F::lit(8.30116),
                bias: F::ZERO,
            },
        ]
    }

    /// Reward models and KL coefficient `β >= 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(models: &'m [RmSpec<F>], kl_coef: F) -> Result<Self> {
        crate::error::ensure_nonempty("models", models.len())?;
        for m in models {
            m.check()?;
        }
        Ok(Self {
            models,
            kl_coef: param_nonneg("kl_coef", kl_coef)?,
        })
    }

    /// Per-token rewards; `kl = Some((logp, ref_logp))` subtracts `β·(logp − ref_logp)` on valid
    /// tokens.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn rewards(
        &self,
        out: &mut [F],
        mask: Mask<'_>,
        segments: &[SegmentScore<F>],
        kl: Option<(&[F], &[F])>,
    ) -> Result<()> {
        let shape = mask.shape();
        shape.check("out", out.len())?;
        let t = shape.seq_len();
        out.iter_mut().for_each(|o| *o = F::ZERO);
        for s in segments {
            let spec = self.models.get(s.model).ok_or(Error::InvalidParam {
                name: "segment.model",
                value: s.model as f64,
                expected: "a reward-model index below the number of models",
            })?;
            let bits = mask.row(s.row).ok_or(Error::InvalidParam {
                name: "segment.row",
                value: s.row as f64,
                expected: "a row index below B",
            })?;
            ensure_finite("segment.value", &[s.value])?;
            let valid = crate::layout::count_true(bits);
            if valid == 0 {
                return Err(Error::TooFewValid {
                    what: "segment row",
                    count: 0,
                    min: 1,
                });
            }
            let k = s.end.min(valid - 1);
            let pos = bits
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .nth(k)
                .map_or(0, |(j, _)| j);
            if let Some(o) = out.get_mut(s.row * t + pos) {
                *o = *o + spec.reward(s.value);
            }
        }
        if let Some((logp, ref_logp)) = kl {
            shape.check("logp", logp.len())?;
            shape.check("ref_logp", ref_logp.len())?;
            super::ensure_finite_masked("logp", logp, mask.bits())?;
            super::ensure_finite_masked("ref_logp", ref_logp, mask.bits())?;
            let beta = self.kl_coef;
            for (((o, &a), &b), &m) in out.iter_mut().zip(logp).zip(ref_logp).zip(mask.bits()) {
                if m {
                    *o = *o - beta * (a - b);
                }
            }
        }
        if out.iter().any(|x| !x.is_finite()) {
            return Err(Error::Overflow {
                what: "fine-grained reward",
            });
        }
        Ok(())
    }
}

/// CaRL's reward flavour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CarlVariant {
    /// CARLA `SimpleReward`: `r = RC·Π p_k`, plus `terminal_reward − terminal_hint` on a penalized
    /// termination (the default).
    #[default]
    Carla,
    /// nuPlan `default_reward_builder`: `r = s·(RC·Π p_k·1{not terminated} + T·1{terminated})`.
    NuPlan,
}

/// CaRL's route-completion reward with multiplicative soft penalties and termination (Jaeger et
/// al.[^1]).
///
/// # Definition
/// Per step, `RC` is the route-completion progress (percent of the route gained this step) and
/// `p_1..p_K ∈ [0, 1]` the soft-penalty factors (outside lanes 0, speeding, TTC 0.5, comfort, lane
/// centering; see the helpers). [`CarlVariant::Carla`]: `r = RC·Π_k p_k`, and on a termination caused
/// by a hard infraction (collision, red light, vehicle too close, ...) `r += r_term − h`
/// (`r_term = 0`, hint `h = 1`). [`CarlVariant::NuPlan`]: `r = s·(RC·Π_k p_k·(1 − d) + T·d)` with
/// `d = 1{terminated}`, `s = 100`, `T = 0`. Hard constraints end the episode; finishing the route is a
/// truncation without penalty.
///
/// # Shapes
/// `out`, `progress`, `terminated`: `(B)` (steps); `factors`: `(B, K)` row-major.
///
/// # Errors
/// [`Carl::new`]: `InvalidParam` for a non-finite value. [`Carl::rewards`]: `LengthMismatch`,
/// [`Error::BadShape`], [`Error::NonFinite`], `InvalidParam` for a factor outside `[0, 1]`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Carl;
/// let carl = Carl::<f64>::default();
/// let mut out = [0.0; 2];
/// // Step 0: 0.2 % progress, TTC violation (×0.5); step 1: collision.
/// carl.rewards(&mut out, &[0.2, 0.1], &[0.5, 1.0], &[false, true])?;
/// assert_eq!(out, [0.1, 0.1 - 1.0]);
/// assert_eq!(Carl::<f64>::speed_factor(12.0, 10.0), 1.0 - 2.0 / 2.23);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Jaeger et al. (2025), *CaRL: Learning Scalable Planning Policies with Simple Rewards*,
///     arXiv:2504.17838 (`autonomousvision/CaRL`, `CARLA/team_code/reward/simple_reward.py`,
///     nuPlan `default_reward_builder.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Carl<F> {
    variant: CarlVariant,
    terminal_reward: F,
    terminal_hint: F,
    scale: F,
    terminal_penalty: F,
}

impl<F: Real> Default for Carl<F> {
    fn default() -> Self {
        Self {
            variant: CarlVariant::Carla,
            terminal_reward: F::ZERO,
            terminal_hint: F::ONE,
            scale: F::lit(100.0),
            terminal_penalty: F::ZERO,
        }
    }
}

impl<F: Real> Carl<F> {
    /// The nuPlan flavour with `s = 100`, `T = 0`.
    pub fn nuplan() -> Self {
        Self {
            variant: CarlVariant::NuPlan,
            ..Self::default()
        }
    }

    /// Explicit constants: CARLA's `(r_term, h)` and nuPlan's `(s, T)`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(
        variant: CarlVariant,
        terminal_reward: F,
        terminal_hint: F,
        scale: F,
        terminal_penalty: F,
    ) -> Result<Self> {
        Ok(Self {
            variant,
            terminal_reward: param_finite("terminal_reward", terminal_reward)?,
            terminal_hint: param_finite("terminal_hint", terminal_hint)?,
            scale: param_finite("scale", scale)?,
            terminal_penalty: param_finite("terminal_penalty", terminal_penalty)?,
        })
    }

    /// The speeding factor `max(0, 1 − (v − v_limit)/2.23)` above the limit, else 1 (speeds in m/s).
    pub fn speed_factor(speed: F, limit: F) -> F {
        if speed > limit {
            (F::ONE - (speed - limit) / F::lit(2.23)).max(F::ZERO)
        } else {
            F::ONE
        }
    }

    /// The lane-centering factor `1 − clip((d − 0.5)/max(w/2 − 0.5, 10⁻⁶), 0, 1)·softener` for a
    /// lateral distance `d` from the lane center in a lane of width `w` (meters).
    pub fn lane_factor(distance: F, lane_width: F, softener: F) -> F {
        let half = F::lit(0.5);
        let denom = (lane_width * half - half).max(F::lit(1e-6));
        let x = ((distance - half) / denom).max(F::ZERO).min(F::ONE);
        F::ONE - x * softener
    }

    /// Per-step rewards.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn rewards(
        &self,
        out: &mut [F],
        progress: &[F],
        factors: &[F],
        terminated: &[bool],
    ) -> Result<()> {
        let b = progress.len();
        ensure_len("out", b, out.len())?;
        ensure_len("terminated", b, terminated.len())?;
        ensure_finite("progress", progress)?;
        ensure_finite("factors", factors)?;
        if b == 0 {
            return Ok(());
        }
        if factors.len() % b != 0 {
            return Err(Error::BadShape {
                what: "factors",
                len: factors.len(),
                dim: b,
            });
        }
        if let Some(f) = factors.iter().find(|f| !(**f >= F::ZERO && **f <= F::ONE)) {
            param_in(
                "factors",
                *f,
                F::ZERO,
                F::ONE,
                "soft-penalty factors in [0, 1]",
            )?;
        }
        let k = factors.len() / b;
        for (i, ((o, &rc), &term)) in out.iter_mut().zip(progress).zip(terminated).enumerate() {
            let prod: f64 = factors
                .get(i * k..(i + 1) * k)
                .unwrap_or(&[])
                .iter()
                .map(|f| f.as_f64())
                .product();
            let base = rc.as_f64() * prod;
            let v = match self.variant {
                CarlVariant::Carla => {
                    if term {
                        base + self.terminal_reward.as_f64() - self.terminal_hint.as_f64()
                    } else {
                        base
                    }
                }
                CarlVariant::NuPlan => {
                    let s = self.scale.as_f64();
                    if term {
                        s * self.terminal_penalty.as_f64()
                    } else {
                        s * base
                    }
                }
            };
            *o = finite_or_overflow(v, "CaRL reward")?;
        }
        Ok(())
    }
}

/// The potential of the state after the last step, `Φ(s_T)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TerminalPotential {
    /// Use the given `Φ(s_T)` (a truncated or continuing trajectory; the default).
    #[default]
    Keep,
    /// `Φ(s_T) = 0` (an episode that ends in a terminal state, Ng et al.'s episodic convention).
    Zero,
}

/// Potential-based reward shaping of one trajectory (Ng, Harada & Russell[^1]).
///
/// # Definition
/// A trajectory `s_0, a_0, r_0, s_1, …, s_{T−1}, a_{T−1}, r_{T−1}, s_T` with potentials
/// `Φ(s_0..s_T)` (`T + 1` values) gets `r'_t = r_t + γ·Φ(s_{t+1}) − Φ(s_t)` for `t = 0..T−1`, i.e.
/// the shaping term `F(s, s') = γΦ(s') − Φ(s)` is added (sign convention: `Φ` is a potential, not a
/// cost). Discounting starts at `γ⁰` on `r_0`, and the shaped discounted return telescopes:
/// `Σ_t γᵗ·r'_t = Σ_t γᵗ·r_t + γᵀ·Φ(s_T) − Φ(s_0)` for every trajectory, so every policy's value
/// shifts by `−Φ(s_0)` (plus the terminal term) and optimal policies are unchanged. With
/// [`TerminalPotential::Zero`], `Φ(s_T)` is taken as 0 (and the return shifts by `−Φ(s_0)` only).
/// `γ ∈ [0, 1]`. Finite MDPs and reward distances with shaping on `(S, A, S')` tensors live in
/// `mdp` / `distance`.
///
/// # Shapes
/// `out`, `rewards`: `(T)`; `potentials`: `(T + 1)`.
///
/// # Errors
/// `InvalidParam` unless `γ ∈ [0, 1]`; [`Error::LengthMismatch`]; [`Error::NonFinite`];
/// [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{potential_shaping, TerminalPotential};
/// let mut out = [0.0f64; 2];
/// potential_shaping(&mut out, &[1.0, 0.0], &[0.5, 2.0, 4.0], 0.5, TerminalPotential::Keep)?;
/// assert_eq!(out, [1.0 + 0.5 * 2.0 - 0.5, 0.5 * 4.0 - 2.0]);
/// // Return check: 1.5 + 0.5·0 = 1.5 = (1 + 0) + 0.5²·4 − 0.5.
/// assert_eq!(out[0] + 0.5 * out[1], 1.0 + 0.25 * 4.0 - 0.5);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Ng, Harada & Russell (1999), *Policy Invariance under Reward Transformations: Theory and
///     Application to Reward Shaping*, ICML.
pub fn potential_shaping<F: Real>(
    out: &mut [F],
    rewards: &[F],
    potentials: &[F],
    gamma: F,
    terminal: TerminalPotential,
) -> Result<()> {
    let gamma = param_in("gamma", gamma, F::ZERO, F::ONE, "a discount in [0, 1]")?;
    ensure_len("out", rewards.len(), out.len())?;
    ensure_len("potentials", rewards.len() + 1, potentials.len())?;
    ensure_finite("rewards", rewards)?;
    ensure_finite("potentials", potentials)?;
    let last = rewards.len();
    for (t, ((o, &r), w)) in out
        .iter_mut()
        .zip(rewards)
        .zip(potentials.windows(2))
        .enumerate()
    {
        if let [phi, next] = *w {
            let next = if t + 1 == last && terminal == TerminalPotential::Zero {
                F::ZERO
            } else {
                next
            };
            let v = r.as_f64() + gamma.as_f64() * next.as_f64() - phi.as_f64();
            *o = finite_or_overflow(v, "shaped reward")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaping_zero_terminal() {
        let mut out = [0.0f64; 2];
        potential_shaping(
            &mut out,
            &[1.0, 2.0],
            &[3.0, 5.0, 7.0],
            1.0,
            TerminalPotential::Zero,
        )
        .unwrap();
        // r'_0 = 1 + 5 − 3 = 3; r'_1 = 2 + 0 − 5 = −3; return 0 = 3 − 3 = (1 + 2) − Φ(s_0).
        assert_eq!(out, [3.0, -3.0]);
        assert!(
            potential_shaping(
                &mut out,
                &[1.0, 2.0],
                &[3.0, 5.0],
                1.0,
                TerminalPotential::Zero
            )
            .is_err()
        );
        assert!(
            potential_shaping(
                &mut out,
                &[1.0, 2.0],
                &[3.0, 5.0, 7.0],
                1.5,
                TerminalPotential::Zero
            )
            .is_err()
        );
        let mut e: [f64; 0] = [];
        potential_shaping(&mut e, &[], &[1.0], 0.9, TerminalPotential::Keep).unwrap();
    }

    #[test]
    fn carl_nuplan_and_factor_errors() {
        let c = Carl::<f64>::nuplan();
        let mut out = [0.0; 2];
        c.rewards(
            &mut out,
            &[0.01, 0.02],
            &[1.0, 0.5, 0.2, 0.5],
            &[false, true],
        )
        .unwrap();
        assert!((out[0] - 0.5).abs() < 1e-12);
        assert_eq!(out[1], 0.0);
        assert!(
            c.rewards(
                &mut out,
                &[0.01, 0.02],
                &[1.5, 0.5, 0.2, 0.5],
                &[false, true]
            )
            .is_err()
        );
        assert_eq!(Carl::<f64>::lane_factor(0.25, 3.5, 1.0), 1.0);
        // d = 1.25 in a 3.5 m lane: (1.25 − 0.5)/1.25 = 0.6 → 0.4; d = 1.75 → 0.
        assert!((Carl::<f64>::lane_factor(1.25, 3.5, 1.0) - 0.4).abs() < 1e-15);
        assert_eq!(Carl::<f64>::lane_factor(1.75, 3.5, 1.0), 0.0);
        assert_eq!(Carl::<f64>::speed_factor(20.0, 10.0), 0.0);
    }
}
