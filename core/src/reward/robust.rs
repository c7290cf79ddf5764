//! Robust and multi-objective rewards: reward-model ensembles and BRME, weighted multi-objective
//! combination, PF-PPO policy filtration with its R² diagnostic, and OREAL's outcome reshaping.

use crate::error::{
    Error, Result, ensure_finite, ensure_len, param_finite, param_in, param_nonneg,
};
use crate::layout::{GroupIndex, GroupRows, GroupVisitor, Mask};
use crate::real::{Real, usize_f64};
use crate::rng::RandomSource;
use crate::stats::{Summary, sigmoid};

use super::compose::finite_or_overflow;

/// Splits `(B, K)` row-major scores into rows of `K`.
fn rows_of<F: Real>(what: &'static str, x: &[F], b: usize) -> Result<usize> {
    crate::error::ensure_nonempty(what, x.len())?;
    if b == 0 || x.len() % b != 0 {
        return Err(Error::BadShape {
            what,
            len: x.len(),
            dim: b,
        });
    }
    ensure_finite(what, x)?;
    Ok(x.len() / b)
}

/// How an ensemble of `K` reward models is aggregated per sample (Coste et al.[^1]).
///
/// # Definition
/// Over the `K` scores `r_1..r_K` of a sample, with `μ` their mean and `σ²` their population variance:
/// `Mean`: `μ` (the ensemble-mean baseline of the PAR study); `Min`: `min_k r_k` (worst-case
/// optimization); `MeanMinusStd(λ)`: `μ − λ·σ`; `MeanMinusVar(λ)`: `μ − λ·σ²` (uncertainty-weighted
/// optimization). `K = 1` gives the score itself for every mode.
///
/// # Shapes
/// `out`: `(B)`; `scores`: `(B, K)` row-major.
///
/// # Errors
/// [`Ensemble::check`]: `InvalidParam` for a negative or non-finite `λ`. `aggregate`:
/// [`Error::Empty`], [`Error::BadShape`], [`Error::NonFinite`], [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Ensemble;
/// let mut out = [0.0f64; 2];
/// Ensemble::Mean.aggregate(&mut out, &[1.0, 3.0, 0.0, 0.0])?;
/// assert_eq!(out, [2.0, 0.0]);
/// Ensemble::MeanMinusStd(1.0).aggregate(&mut out, &[1.0, 3.0, 0.0, 0.0])?;
/// assert_eq!(out, [1.0, 0.0]); // σ = 1
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Coste et al. (2023), *Reward Model Ensembles Help Mitigate Overoptimization*,
///     arXiv:2310.02743.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Ensemble<F> {
    /// Mean score.
    Mean,
    /// Minimum score.
    Min,
    /// Mean minus `λ` standard deviations.
    MeanMinusStd(F),
    /// Mean minus `λ` times the variance.
    MeanMinusVar(F),
}

impl<F: Real> Ensemble<F> {
    /// Validates `λ`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn check(self) -> Result<Self> {
        match self {
            Self::MeanMinusStd(l) => param_nonneg("lambda", l).map(Self::MeanMinusStd),
            Self::MeanMinusVar(l) => param_nonneg("lambda", l).map(Self::MeanMinusVar),
            other => Ok(other),
        }
    }

    /// Aggregates `(B, K)` scores.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn aggregate(&self, out: &mut [F], scores: &[F]) -> Result<()> {
        let agg = self.check()?;
        let k = rows_of("scores", scores, out.len())?;
        for (o, row) in out.iter_mut().zip(scores.chunks_exact(k)) {
            let s = Summary::from_iter(row.iter().map(|x| x.as_f64()));
            s.check("ensemble statistics")?;
            let v = match agg {
                Self::Mean => s.mean,
                Self::Min => s.min,
                Self::MeanMinusStd(l) => s.mean - l.as_f64() * s.std(0),
                Self::MeanMinusVar(l) => s.mean - l.as_f64() * s.var(0),
            };
            *o = finite_or_overflow(v, "ensemble reward")?;
        }
        Ok(())
    }
}

/// The BRME robust reward of reward-robust RLHF (Yan et al.[^1]).
///
/// # Definition
/// `K` Bayesian reward-model heads give each sample a Gaussian `(μ_k, σ_k)`. The nominal reward is
/// the mean of the most confident head, `r_nom = μ_{k*}`, `k* = argmin_k σ_k` (first on ties); the
/// robust reward is `r_min = min_k μ_k`; `r = λ·r_nom + (1 − λ)·r_min`, `λ ∈ [0, 1]` (`λ = 1`:
/// nominal only). No reference code exists: the nominal-head rule and the mix follow the paper's
/// description and `λ` has no recovered default (see [`numerics`](crate::numerics)). `K = 1` gives `μ_1`.
///
/// # Shapes
/// `out`: `(B)`; `mu`, `sigma`: `(B, K)` row-major.
///
/// # Errors
/// `InvalidParam` unless `λ ∈ [0, 1]`, or for a negative `σ`; [`Error::LengthMismatch`],
/// [`Error::BadShape`], [`Error::NonFinite`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::brme;
/// let mut out = [0.0f64];
/// // Heads (μ, σ): (2, 0.1), (0, 1): nominal 2 (most confident), minimum 0.
/// brme(&mut out, &[2.0, 0.0], &[0.1, 1.0], 0.75)?;
/// assert_eq!(out, [1.5]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Yan et al. (2024), *Reward-Robust RLHF in LLMs*, arXiv:2409.15360.
pub fn brme<F: Real>(out: &mut [F], mu: &[F], sigma: &[F], lambda: F) -> Result<()> {
    let lambda = param_in("lambda", lambda, F::ZERO, F::ONE, "a weight in [0, 1]")?.as_f64();
    let k = rows_of("mu", mu, out.len())?;
    ensure_len("sigma", mu.len(), sigma.len())?;
    ensure_finite("sigma", sigma)?;
    if let Some(s) = sigma.iter().find(|s| **s < F::ZERO) {
        return Err(crate::error::invalid(
            "sigma",
            *s,
            "standard deviations >= 0",
        ));
    }
    for ((o, m), s) in out
        .iter_mut()
        .zip(mu.chunks_exact(k))
        .zip(sigma.chunks_exact(k))
    {
        let mut best = (f64::INFINITY, 0.0f64);
        let mut min = f64::INFINITY;
        for (&mk, &sk) in m.iter().zip(s) {
            let (mk, sk) = (mk.as_f64(), sk.as_f64());
            if sk < best.0 {
                best = (sk, mk);
            }
            min = min.min(mk);
        }
        *o = finite_or_overflow(lambda * best.1 + (1.0 - lambda) * min, "BRME reward")?;
    }
    Ok(())
}

/// Per-objective normalization before a weighted sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Normalization {
    /// Raw scores (the default).
    #[default]
    None,
    /// Batch z-score `(x − μ)/(σ + ε)` per objective (Bessel `σ`; 0 for a constant objective).
    Batch,
    /// Within-group z-score per objective (needs groups; a group of one gives 0).
    Group,
    /// Batch min-max `(x − min)/(max − min)` per objective (½ for a constant objective).
    MinMax,
}

/// Multi-objective reward: a weighted sum of per-objective normalized scores (multi-objective
/// GRPO, Li et al.[^1]).
///
/// # Definition
/// For `M` objectives (e.g. politeness, meaningfulness, actionability, safety) with scores
/// `x_{i,m}`: `rᵢ = Σ_m w_m·N_m(x_{i,m})`, `N_m` per [`Normalization`] (computed per objective,
/// over the batch or within each group, in `f64`). The paper combines aspect scores "into a single
/// reward" without published weights: equal weights are the natural default (pass `&[1.0; M]`);
/// group-relative advantages then come from `advantage::grpo`. `ε = 1e-6`.
///
/// # Shapes
/// `out`: `(B)`; `scores`: `(B, M)` row-major; `weights`: `(M)`; `groups` over `B` for
/// [`Normalization::Group`].
///
/// # Errors
/// [`MultiObjective::new`]: [`Error::Empty`] for no weights, `InvalidParam` for a non-finite weight
/// or a negative `ε`. `combine`: [`Error::LengthMismatch`] (scores not `(B, M)`),
/// [`Error::NonFinite`], [`Error::MissingInput`] without groups for group normalization,
/// [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::{MultiObjective, Normalization};
/// let mo = MultiObjective::new(&[0.5f64, 1.0], Normalization::None, 1e-6)?;
/// let mut out = [0.0; 2];
/// mo.combine(&mut out, &[2.0, 1.0, 4.0, -1.0], None)?;
/// assert_eq!(out, [2.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Li et al. (2025), *Optimizing Safe and Aligned Language Generation: A Multi-Objective
///     GRPO Approach*, arXiv:2503.21819.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiObjective<'w, F> {
    weights: &'w [F],
    norm: Normalization,
    eps: F,
}

impl<'w, F: Real> MultiObjective<'w, F> {
    /// Weights `w_m`, normalization and `ε >= 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(weights: &'w [F], norm: Normalization, eps: F) -> Result<Self> {
        crate::error::ensure_nonempty("weights", weights.len())?;
        for &w in weights {
            param_finite("weights", w)?;
        }
        Ok(Self {
            weights,
            norm,
            eps: param_nonneg("eps", eps)?,
        })
    }

    /// Combines `(B, M)` scores into `(B)` rewards.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn combine(
        &self,
        out: &mut [F],
        scores: &[F],
        groups: Option<&GroupIndex<'_>>,
    ) -> Result<()> {
        let m = self.weights.len();
        ensure_len("scores", out.len() * m, scores.len())?;
        crate::error::ensure_nonempty("scores", scores.len())?;
        ensure_finite("scores", scores)?;
        let b = out.len();
        out.iter_mut().for_each(|o| *o = F::ZERO);
        let eps = self.eps.as_f64();
        for (j, &w) in self.weights.iter().enumerate() {
            let col = |i: usize| scores.get(i * m + j).map_or(0.0, |x| x.as_f64());
            let w = w.as_f64();
            match self.norm {
                Normalization::None => {
                    for (i, o) in out.iter_mut().enumerate() {
                        *o = finite_or_overflow(o.as_f64() + w * col(i), "multi-objective reward")?;
                    }
                }
                Normalization::Batch | Normalization::MinMax => {
                    let s = Summary::from_iter((0..b).map(col));
                    s.check("objective statistics")?;
                    let minmax = self.norm == Normalization::MinMax;
                    for (i, o) in out.iter_mut().enumerate() {
                        let x = col(i);
                        let z = if minmax {
                            if s.max == s.min {
                                0.5
                            } else {
                                (x - s.min) / (s.max - s.min)
                            }
                        } else {
                            let c = x - s.mean;
                            if c == 0.0 || b < 2 {
                                0.0
                            } else {
                                c / (s.std(1) + eps)
                            }
                        };
                        *o = finite_or_overflow(o.as_f64() + w * z, "multi-objective reward")?;
                    }
                }
                Normalization::Group => {
                    let groups = groups.ok_or(Error::MissingInput { what: "groups" })?;
                    groups.check_rows("out", b)?;
                    struct V<'a, F, C: Fn(usize) -> f64> {
                        out: &'a mut [F],
                        col: C,
                        w: f64,
                        eps: f64,
                    }
                    impl<F: Real, C: Fn(usize) -> f64> GroupVisitor for V<'_, F, C> {
                        fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
                            let s = Summary::from_iter(rows.rows().map(&self.col));
                            s.check("objective statistics")?;
                            let n = rows.len();
                            for i in rows.rows() {
                                let c = (self.col)(i) - s.mean;
                                let z = if c == 0.0 || n < 2 {
                                    0.0
                                } else {
                                    c / (s.std(1) + self.eps)
                                };
                                if let Some(o) = self.out.get_mut(i) {
                                    *o = finite_or_overflow(
                                        o.as_f64() + self.w * z,
                                        "multi-objective reward",
                                    )?;
                                }
                            }
                            Ok(())
                        }
                    }
                    groups.visit(&mut V {
                        out: &mut *out,
                        col,
                        w,
                        eps,
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// PF-PPO's policy filtration: which samples of each prompt group are trained on (Zhang et
/// al.[^1]).
///
/// # Definition
/// Per group, `best` is a sample of maximal reward and `worst` one of minimal reward; ties follow
/// the reference function of each variant:
///
/// | variant | [`select`](Filtration::select) keeps | [`weights`](Filtration::weights) |
/// |---|---|---|
/// | `BestOfN` | the first maximum | 1 on the first maximum, 0 elsewhere |
/// | `BestRandom` | the first maximum (`select_max_random`: `list.index(max)`) and one uniformly random other sample | 0.4 on the last maximum, 0.1 elsewhere (`replay_buffer.py::select_max_random`) |
/// | `BestWorst` | the last maximum and the first minimum | 1 on the last maximum and the first minimum, 0 elsewhere (`select_min_max`) |
///
/// "Last maximum, first minimum" is the reference's `sorted(group, key=reward)` (stable) read at
/// `[-1]` and `[0]`: a group whose rewards are all equal keeps (and weights) its first and last
/// samples, so `select` and `weights` agree, and a group of two or more always keeps two. A group
/// of one keeps its only sample (weight 1 for `BestOfN`/`BestWorst`, 0.4 for `BestRandom`; the
/// reference's `random.choice` fails there). `BestRandom` draws once per group of two or more
/// (`rng.below(n − 1)` picks the `j`-th of the other samples in row order). `weights` are the
/// replay-buffer sampling weights of the reweighting variant; verl's reward-weighted variant is
/// [`reward_weights`] (`|r|^p`); resample a batch from any weights with [`resample`]. Use
/// [`r_squared`] on the kept samples to choose the filter.
///
/// # Shapes
/// `keep`/`out`, `rewards`: `(B)`; `groups` over `B`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Filtration;
/// use rewardkit_core::{GroupIndex, rng::SplitMix64};
/// let groups = GroupIndex::uniform(4, 4)?;
/// let mut keep = [false; 4];
/// Filtration::BestWorst.select(&mut keep, &[0.2, 0.9, -0.5, 0.1], &groups, &mut SplitMix64::new(1))?;
/// assert_eq!(keep, [false, true, true, false]);
/// let mut w = [0.0f64; 4];
/// Filtration::BestRandom.weights(&mut w, &[0.2, 0.9, -0.5, 0.1], &groups)?;
/// assert_eq!(w, [0.1, 0.4, 0.1, 0.1]);
/// // All equal: the first and the last sample, in both forms.
/// Filtration::BestWorst.weights(&mut w, &[1.0; 4], &groups)?;
/// assert_eq!(w, [1.0, 0.0, 0.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Zhang et al. (2024), *Policy Filtration for RLHF to Mitigate Noise in Reward Models*,
///     arXiv:2409.06957 (`swtheing/PF-PPO-RLHF`: `openrlhf_filter/trainer/ppo_trainer.py`,
///     `openrlhf/trainer/ppo_utils/replay_buffer.py`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Filtration {
    /// Best-of-N.
    BestOfN,
    /// Best and one random other (the default; best results in the paper with `BestWorst`).
    #[default]
    BestRandom,
    /// Best and worst.
    BestWorst,
}

/// Positions within a group of its first maximum, last maximum and first minimum.
#[derive(Clone, Copy)]
struct Extremes {
    first_max: usize,
    last_max: usize,
    first_min: usize,
}

fn extremes<F: Real>(vals: impl Iterator<Item = F>) -> Extremes {
    let (mut hi, mut lo) = (F::neg_infinity(), F::infinity());
    let mut e = Extremes {
        first_max: 0,
        last_max: 0,
        first_min: 0,
    };
    for (j, v) in vals.enumerate() {
        if v > hi {
            hi = v;
            e.first_max = j;
        }
        if v >= hi {
            e.last_max = j;
        }
        if v < lo {
            lo = v;
            e.first_min = j;
        }
    }
    e
}

impl Filtration {
    /// Which samples to keep (`true`); `BestRandom` draws from `rng` once per group of two or more.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn select<F: Real, R: RandomSource + ?Sized>(
        self,
        keep: &mut [bool],
        rewards: &[F],
        groups: &GroupIndex<'_>,
        rng: &mut R,
    ) -> Result<()> {
        groups.check_rows("rewards", rewards.len())?;
        ensure_len("keep", rewards.len(), keep.len())?;
        ensure_finite("rewards", rewards)?;
        struct V<'a, F, R: ?Sized> {
            keep: &'a mut [bool],
            rewards: &'a [F],
            mode: Filtration,
            rng: &'a mut R,
        }
        impl<F: Real, R: RandomSource + ?Sized> GroupVisitor for V<'_, F, R> {
            fn visit<G: GroupRows>(&mut self, _g: usize, rows: G) -> Result<()> {
                let n = rows.len();
                let e = extremes(rows.values(self.rewards));
                let (best, other) = match self.mode {
                    Filtration::BestOfN => (e.first_max, None),
                    Filtration::BestRandom if n < 2 => (e.first_max, None),
                    Filtration::BestRandom => {
                        // Uniform over the n − 1 positions other than `best`, in row order.
                        let best = e.first_max;
                        let j = self.rng.below(n - 1);
                        (best, Some(if j >= best { j + 1 } else { j }))
                    }
                    // Distinct for n ≥ 2: equal rewards put the last maximum at n − 1 and the
                    // first minimum at 0.
                    Filtration::BestWorst => (e.last_max, Some(e.first_min)),
                };
                let mut pos = 0usize;
                rows.fill(self.keep, |_| {
                    let k = pos == best || Some(pos) == other;
                    pos += 1;
                    k
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            keep,
            rewards,
            mode: self,
            rng,
        })
    }

    /// Sampling weights of the reweighting variant.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn weights<F: Real>(
        self,
        out: &mut [F],
        rewards: &[F],
        groups: &GroupIndex<'_>,
    ) -> Result<()> {
        groups.check_rows("rewards", rewards.len())?;
        ensure_len("out", rewards.len(), out.len())?;
        ensure_finite("rewards", rewards)?;
        struct V<'a, F> {
            out: &'a mut [F],
            rewards: &'a [F],
            mode: Filtration,
        }
        impl<F: Real> GroupVisitor for V<'_, F> {
            fn visit<G: GroupRows>(&mut self, _g: usize, rows: G) -> Result<()> {
                let e = extremes(rows.values(self.rewards));
                let mode = self.mode;
                let mut pos = 0usize;
                rows.fill(self.out, |_| {
                    let w = match mode {
                        Filtration::BestOfN => f64::from(u8::from(pos == e.first_max)),
                        Filtration::BestWorst => {
                            f64::from(u8::from(pos == e.last_max || pos == e.first_min))
                        }
                        Filtration::BestRandom => {
                            if pos == e.last_max {
                                0.4
                            } else {
                                0.1
                            }
                        }
                    };
                    pos += 1;
                    F::lit(w)
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            out,
            rewards,
            mode: self,
        })
    }
}

/// PF-PPO's policy weights (`put_weight`, Zhang et al.[^1]): the policy loss keeps the samples whose
/// reward clears a threshold, the value loss keeps every sample.
///
/// # Definition
/// `w_{i,t} = 1{rᵢ > τ}` at every valid token of row `i`, 0 at masked positions; the value-loss
/// weights of the reference are all 1 (nothing to compute). The reference hard-codes `τ = 5.0` (its
/// RM's scale) and draws a random "other" sample it never uses; rewardkit makes `τ` a parameter and
/// draws nothing. Pass the result to [`PolicyInputs::with_weights`](crate::loss::PolicyInputs::with_weights)
/// (the reference multiplies the per-token PPO loss by it before its masked mean).
///
/// # Shapes
/// `out`: `(B, T)` (the mask's shape); `rewards`: `(B)`.
///
/// # Errors
/// [`Error::InvalidParam`] for a non-finite `τ`; [`Error::LengthMismatch`] unless `out` has the
/// mask's shape and `rewards` one entry per row; [`Error::NonFinite`] for a NaN/∞ reward. Returns the
/// number of rows kept.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::policy_weights;
/// use rewardkit_core::Mask;
/// let bits = [true, true, true, false];
/// let mut w = [9.0f32; 4];
/// let kept = policy_weights(&mut w, &[6.0, 5.0], 5.0, Mask::new(&bits, 2)?)?;
/// assert_eq!((kept, w), (1, [1.0, 1.0, 0.0, 0.0])); // 5.0 is not above the threshold
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Zhang et al. (2024), arXiv:2409.06957 (`swtheing/PF-PPO-RLHF`,
///     `openrlhf_filter/trainer/ppo_trainer.py::put_weight`, `openrlhf_filter/models/loss.py`).
pub fn policy_weights<F: Real>(
    out: &mut [F],
    rewards: &[F],
    threshold: F,
    mask: Mask<'_>,
) -> Result<usize> {
    let tau = param_finite("threshold", threshold)?;
    let shape = mask.shape();
    shape.check("out", out.len())?;
    shape.check_batch("rewards", rewards.len())?;
    ensure_finite("rewards", rewards)?;
    let t = shape.seq_len();
    let mut kept = 0usize;
    for ((row, bits), &r) in out.chunks_exact_mut(t).zip(mask.rows()).zip(rewards) {
        let keep = r > tau;
        kept += usize::from(keep);
        for (o, &m) in row.iter_mut().zip(bits) {
            *o = if keep && m { F::ONE } else { F::ZERO };
        }
    }
    Ok(kept)
}

/// PF-PPO's reward-weighted variant as verl implements it (`use_pf_ppo`, `reweight_method = "pow"`):
/// sampling weights `wᵢ = |rᵢ|^p` (default `p = 2`), for [`resample`].
///
/// # Definition
/// `wᵢ = |rᵢ|^p`, `p ≥ 0` (`0⁰ = 1`). verl's other methods, `max_min` and `max_random`, are
/// [`Filtration::weights`] with `BestWorst` / `BestRandom` applied to the whole batch as one group
/// (verl gives every tied maximum or minimum the weight; rewardkit one of each, as the PF-PPO
/// reference: see the table there).
///
/// # Shapes
/// `out`, `scores`: `(B)`.
///
/// # Errors
/// `InvalidParam` for a negative or non-finite `p`; [`Error::LengthMismatch`]; [`Error::NonFinite`];
/// [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::reward_weights;
/// let mut w = [0.0f64; 3];
/// reward_weights(&mut w, &[-2.0, 0.5, 1.0], 2.0)?;
/// assert_eq!(w, [4.0, 0.25, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn reward_weights<F: Real>(out: &mut [F], scores: &[F], pow: F) -> Result<()> {
    let p = param_nonneg("pow", pow)?.as_f64();
    ensure_len("out", scores.len(), out.len())?;
    ensure_finite("scores", scores)?;
    for (o, s) in out.iter_mut().zip(scores) {
        *o = finite_or_overflow(
            num_traits::Float::powf(s.as_f64().abs(), p),
            "reward weight",
        )?;
    }
    Ok(())
}

/// Samples `out.len()` indices with replacement, index `i` with probability `wᵢ/Σw`
/// (`torch.multinomial(weights, n, replacement=True)`, which verl's PF-PPO uses to resample the
/// batch). One `next_f64` draw per index; inverse-CDF search over `f64` prefix sums.
///
/// # Shapes
/// `out`: any length `N`; `weights`: `(B)`.
///
/// # Errors
/// [`Error::Empty`] for no weights; [`Error::NonFinite`]; `InvalidParam` for a negative weight or a
/// zero total; [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::resample;
/// use rewardkit_core::rng::SplitMix64;
/// let mut idx = [0usize; 8];
/// resample(&mut idx, &[0.0f64, 1.0, 0.0, 3.0], &mut SplitMix64::new(5))?;
/// assert!(idx.iter().all(|&i| i == 1 || i == 3));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn resample<F: Real, R: RandomSource + ?Sized>(
    out: &mut [usize],
    weights: &[F],
    rng: &mut R,
) -> Result<()> {
    crate::error::ensure_nonempty("weights", weights.len())?;
    ensure_finite("weights", weights)?;
    if let Some(w) = weights.iter().find(|w| **w < F::ZERO) {
        return Err(crate::error::invalid("weights", *w, "weights >= 0"));
    }
    let total: f64 = weights.iter().map(|w| w.as_f64()).sum();
    if !total.is_finite() {
        return Err(Error::Overflow {
            what: "weight total",
        });
    }
    if total <= 0.0 {
        return Err(Error::InvalidParam {
            name: "weights",
            value: total,
            expected: "a positive total weight",
        });
    }
    let last = weights.iter().rposition(|w| *w > F::ZERO).unwrap_or(0);
    for o in out.iter_mut() {
        let u = rng.next_f64() * total;
        // First index whose prefix sum exceeds u (a linear scan keeps this allocation-free).
        let mut acc = 0.0f64;
        let mut pick = last;
        for (i, w) in weights.iter().enumerate() {
            let w = w.as_f64();
            acc += w;
            if w > 0.0 && u < acc {
                pick = i;
                break;
            }
        }
        *o = pick;
    }
    Ok(())
}

/// The coefficient of determination of a least-squares line fitting the true score from the RM
/// reward over the kept samples: PF-PPO's diagnostic of where the RM is reliable (Zhang et al.[^1]).
///
/// # Definition
/// Over the kept samples `(xᵢ, yᵢ)` (RM reward, true score such as the unit-test pass rate), the OLS
/// fit `ŷ = a + b·x` has `R² = 1 − SS_res/SS_tot = S_xy²/(S_xx·S_yy)` (two-pass in `f64`). Degenerate
/// cases follow scikit-learn's `r2_score`: constant `y` ⇒ `R² = 1` (the fit is exact); constant `x`
/// with varying `y` ⇒ `R² = 0`. `R² ∈ [0, 1]`.
///
/// # Shapes
/// `rm`, `truth`, `keep`: `(B)`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::TooFewValid`] with fewer than two kept
/// samples; [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::reward::r_squared;
/// assert_eq!(r_squared(&[1.0f64, 2.0, 3.0], &[2.0, 4.0, 6.0], None)?, 1.0);
/// // y = (1, 3, 2) on x = (1, 2, 3): S_xy = 1, S_xx = 2, S_yy = 2 → R² = 1/4.
/// assert_eq!(r_squared(&[1.0f64, 2.0, 3.0], &[1.0, 3.0, 2.0], None)?, 0.25);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Zhang et al. (2024), arXiv:2409.06957.
pub fn r_squared<F: Real>(rm: &[F], truth: &[F], keep: Option<&[bool]>) -> Result<F> {
    ensure_len("truth", rm.len(), truth.len())?;
    if let Some(k) = keep {
        ensure_len("keep", rm.len(), k.len())?;
    }
    ensure_finite("rm", rm)?;
    ensure_finite("truth", truth)?;
    let kept = |i: usize| keep.is_none_or(|k| k.get(i).copied().unwrap_or(false));
    let pairs = || {
        rm.iter()
            .zip(truth)
            .enumerate()
            .filter(move |(i, _)| kept(*i))
            .map(|(_, (x, y))| (x.as_f64(), y.as_f64()))
    };
    let n = pairs().count();
    if n < 2 {
        return Err(Error::TooFewValid {
            what: "kept samples",
            count: n,
            min: 2,
        });
    }
    let sx = Summary::from_iter(pairs().map(|p| p.0));
    let sy = Summary::from_iter(pairs().map(|p| p.1));
    sx.check("R² statistics")?;
    sy.check("R² statistics")?;
    if sy.m2 == 0.0 {
        return Ok(F::ONE);
    }
    if sx.m2 == 0.0 {
        return Ok(F::ZERO);
    }
    let sxy: f64 = pairs().map(|(x, y)| (x - sx.mean) * (y - sy.mean)).sum();
    let r2 = (sxy * sxy) / (sx.m2 * sy.m2);
    finite_or_overflow(r2.clamp(0.0, 1.0), "R²")
}

/// How OREAL forms group-relative values from binary outcomes.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OrealShaping<F> {
    /// `Aᵢ = Rᵢ − (Σ_{j≠i} R_j)/(G − 1)` (the released config's `"rloo"`; 0 baseline for `G = 1`).
    Rloo,
    /// `Aᵢ = (Rᵢ − mean)/(std + ε)` (Bessel std; `"grpo"`, `ε = 1e-8`; 0 for a zero-variance group).
    Grpo {
        /// `ε`.
        eps: F,
    },
}

/// How OREAL turns a token-level RM's correctness probabilities into token weights
/// (`threshold_rescale`, `topk_rescale`).
///
/// # Definition
/// Per row, `c_t = σ((1/t)·Σ_{u≤t} z_u)` over the row's valid tokens (the cumulative mean of the
/// token RM's logits), the positive weights come from `c_t` and the negative ones from `1 − c_t`:
/// - `Threshold { positive: τ⁺, negative: τ⁻ }`: `w = clip((p − τ)/(1 − τ), 0, 1)` (defaults
///   0.5, 0.5: `w⁺ = clip(2c − 1, 0, 1)`); `τ ∈ [0, 1)`.
/// - `TopK { positive: ρ⁺, negative: ρ⁻ }`: of a row's `T` valid tokens, the `k = ⌊T·ρ⌋` with the
///   largest `p` get `(p − p_min)/(p_max − p_min)` (min and max over those `k`; 1 when they are
///   equal), the others 0. `ρ ∈ (0, 1]`; the reference config's alternative is `ρ = 0.25`. Ties at
///   the `k`-th value keep the earliest tokens (`torch.topk` leaves the choice unspecified; it
///   matters only when the `k` values are all equal). A row with `k = 0` (`T·ρ < 1`) is
///   [`Error::TooFewValid`]: the reference raises there (`max()` of an empty tensor).
///
/// # Errors
/// [`OrealRescale::check`]: [`Error::InvalidParam`] for a threshold outside `[0, 1)` or a ratio
/// outside `(0, 1]`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::OrealRescale;
/// assert!(OrealRescale::Threshold { positive: 1.0f64, negative: 0.5 }.check().is_err());
/// assert!(OrealRescale::TopK { positive: 0.25f64, negative: 0.25 }.check().is_ok());
/// ```
///
/// Citation: `InternLM/OREAL`, `train_oreal.py` (`threshold_rescale`, `topk_rescale`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OrealRescale<F> {
    /// `threshold_rescale` with `correct_threshold`, `incorrect_threshold`.
    Threshold {
        /// `τ⁺` (on `c`).
        positive: F,
        /// `τ⁻` (on `1 − c`).
        negative: F,
    },
    /// `topk_rescale` with `correct_topk_ratio`, `incorrect_topk_ratio`.
    TopK {
        /// `ρ⁺` (on `c`).
        positive: F,
        /// `ρ⁻` (on `1 − c`).
        negative: F,
    },
}

impl<F: Real> Default for OrealRescale<F> {
    fn default() -> Self {
        Self::Threshold {
            positive: F::lit(0.5),
            negative: F::lit(0.5),
        }
    }
}

impl<F: Real> OrealRescale<F> {
    /// Validates the thresholds or ratios.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn check(self) -> Result<Self> {
        match self {
            Self::Threshold { positive, negative } => {
                for (name, t) in [
                    ("correct_threshold", positive),
                    ("incorrect_threshold", negative),
                ] {
                    let t = param_in(name, t, F::ZERO, F::ONE, "a threshold in [0, 1)")?;
                    if t == F::ONE {
                        return Err(crate::error::invalid(name, t, "a threshold in [0, 1)"));
                    }
                }
            }
            Self::TopK { positive, negative } => {
                for (name, r) in [
                    ("correct_topk_ratio", positive),
                    ("incorrect_topk_ratio", negative),
                ] {
                    let r = param_in(name, r, F::ZERO, F::ONE, "a ratio in (0, 1]")?;
                    if r == F::ZERO {
                        return Err(crate::error::invalid(name, r, "a ratio in (0, 1]"));
                    }
                }
            }
        }
        Ok(self)
    }
}

/// `threshold_rescale(p, τ) = clip((p − τ)/(1 − τ), 0, 1)`.
#[inline]
fn threshold_rescale(p: f64, tau: f64) -> f64 {
    ((p - tau) / (1.0 - tau)).clamp(0.0, 1.0)
}

/// The running correctness probabilities `c_t` of one row's valid tokens, in order.
fn cum_probs<'a, F: Real>(z: &'a [F], bits: &'a [bool]) -> impl Iterator<Item = f64> + 'a {
    let (mut sum, mut count) = (0.0f64, 0usize);
    z.iter().zip(bits).filter(|(_, m)| **m).map(move |(z, _)| {
        sum += z.as_f64();
        count += 1;
        sigmoid(sum / usize_f64(count))
    })
}

/// `topk_rescale` of one row: writes the weights of the valid positions (`prob` maps `c_t` to the
/// ranked probability), using `scratch[..T]`.
fn topk_row<F: Real>(
    out: &mut [F],
    scratch: &mut [f64],
    z: &[F],
    bits: &[bool],
    ratio: f64,
    prob: impl Fn(f64) -> f64,
) -> Result<()> {
    let n = bits.iter().filter(|&&m| m).count();
    if n == 0 {
        out.iter_mut().for_each(|o| *o = F::ZERO);
        return Ok(());
    }
    // int(prob.numel() * topk_ratio)
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0 <= T·ρ <= T, a usize"
    )]
    let k = num_traits::Float::floor(usize_f64(n) * ratio) as usize;
    if k == 0 {
        return Err(Error::TooFewValid {
            what: "top-k tokens (floor(T * ratio))",
            count: 0,
            min: 1,
        });
    }
    let vals = scratch.get_mut(..n).ok_or(Error::LengthMismatch {
        what: "scratch",
        expected: n,
        got: 0,
    })?;
    for (v, c) in vals.iter_mut().zip(cum_probs(z, bits)) {
        *v = prob(c);
    }
    vals.sort_unstable_by(|a, b| b.total_cmp(a));
    let (hi, kth) = (
        vals.first().copied().unwrap_or(0.0),
        vals.get(k - 1).copied().unwrap_or(0.0),
    );
    let above = vals.iter().take(k).filter(|&&v| v > kth).count();
    let mut ties_left = k - above;
    let mut cs = cum_probs(z, bits);
    for (o, &m) in out.iter_mut().zip(bits) {
        if !m {
            *o = F::ZERO;
            continue;
        }
        let v = prob(cs.next().unwrap_or(0.0));
        let chosen = if v > kth {
            true
        } else if v == kth && ties_left > 0 {
            ties_left -= 1;
            true
        } else {
            false
        };
        *o = F::lit(if !chosen {
            0.0
        } else if hi == kth {
            1.0
        } else {
            (v - kth) / (hi - kth)
        });
    }
    Ok(())
}

/// OREAL: outcome-reward RL with reshaped negatives and token importance (Lyu et al.[^1]).
///
/// # Definition
/// Outcomes `Rᵢ = +1` (correct) or `−1`. Group values `Aᵢ` per [`OrealShaping`]; then positive samples
/// keep `Aᵢ` (or, with `negatives_only`, the raw `+1` of behaviour cloning on best-of-N positives —
/// the paper applies the group-relative reshaping to negatives only) and negative samples get
/// `ν·Aᵢ`, `ν = 0.5` the reference's `negative_loss_factor`. The per-token loss normalization
/// (positive and negative token counts) belongs to the loss. Filtering ([`Oreal::filter`]): groups
/// with pass rate 0 or 1 are dropped; otherwise one random correct and one random incorrect sample
/// are kept. Token weights ([`Oreal::token_weights`]) from a token-level RM's logits `z_t`:
/// `c_t = σ((1/t)·Σ_{u≤t} z_u)` over the row's valid tokens, `w⁺_t = clip(2c_t − 1, 0, 1)`,
/// `w⁻_t = clip(1 − 2c_t, 0, 1)`. Defaults: RLOO, `ν = 0.5`, `negatives_only = false` (the code).
///
/// # Shapes
/// `out`, `correct`, `keep`: `(B)`; `groups` over `B`; token weights `(B, T)` with the mask.
///
/// # Errors
/// [`Oreal::new`]: `InvalidParam` for a negative `ν` or `ε`. Evaluation:
/// [`Error::LengthMismatch`], [`Error::NonFinite`], [`Error::Overflow`] (a huge `ν`).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::Oreal;
/// use rewardkit_core::GroupIndex;
/// let oreal = Oreal::<f64>::default();
/// let mut out = [0.0; 4];
/// oreal.advantages(&mut out, &[true, false, false, false], &GroupIndex::uniform(4, 4)?)?;
/// // RLOO on (1, −1, −1, −1): 1 − (−1) = 2 for the positive; −1 − (−1/3) = −2/3, halved.
/// assert_eq!(out[0], 2.0);
/// assert!((out[1] + 1.0 / 3.0).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Lyu et al. (2025), *Exploring the Limit of Outcome Reward for Learning Mathematical
///     Reasoning*, arXiv:2502.06781 (`InternLM/OREAL`, `train_oreal.py`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Oreal<F> {
    shaping: OrealShaping<F>,
    negative_factor: F,
    negatives_only: bool,
}

impl<F: Real> Default for Oreal<F> {
    fn default() -> Self {
        Self {
            shaping: OrealShaping::Rloo,
            negative_factor: F::lit(0.5),
            negatives_only: false,
        }
    }
}

impl<F: Real> Oreal<F> {
    /// Shaping, negative factor `ν >= 0` and whether positives keep their raw reward.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(shaping: OrealShaping<F>, negative_factor: F, negatives_only: bool) -> Result<Self> {
        if let OrealShaping::Grpo { eps } = shaping {
            param_nonneg("eps", eps)?;
        }
        Ok(Self {
            shaping,
            negative_factor: param_nonneg("negative_factor", negative_factor)?,
            negatives_only,
        })
    }

    /// Reshaped per-sample advantages.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn advantages(
        &self,
        out: &mut [F],
        correct: &[bool],
        groups: &GroupIndex<'_>,
    ) -> Result<()> {
        groups.check_rows("correct", correct.len())?;
        ensure_len("out", correct.len(), out.len())?;
        struct V<'a, F> {
            out: &'a mut [F],
            correct: &'a [bool],
            p: &'a Oreal<F>,
        }
        impl<F: Real> GroupVisitor for V<'_, F> {
            fn visit<G: GroupRows>(&mut self, _g: usize, rows: G) -> Result<()> {
                let r = |c: bool| if c { 1.0 } else { -1.0 };
                let n = rows.len();
                let s = Summary::from_iter(rows.values(self.correct).map(r));
                let nu = self.p.negative_factor.as_f64();
                let (shaping, neg_only) = (self.p.shaping, self.p.negatives_only);
                rows.map(self.out, self.correct, |c| {
                    let x = r(c);
                    let a = match shaping {
                        OrealShaping::Rloo => {
                            if n < 2 {
                                x
                            } else {
                                x - (s.sum - x) / usize_f64(n - 1)
                            }
                        }
                        OrealShaping::Grpo { eps } => {
                            let d = x - s.mean;
                            if d == 0.0 || n < 2 {
                                0.0
                            } else {
                                d / (s.std(1) + eps.as_f64())
                            }
                        }
                    };
                    F::lit(if c {
                        if neg_only { 1.0 } else { a }
                    } else {
                        nu * a
                    })
                });
                Ok(())
            }
        }
        groups.visit(&mut V {
            out: &mut *out,
            correct,
            p: self,
        })?;
        super::check_output("OREAL advantage", out)
    }

    /// OREAL's trajectory filter: per group with both outcomes, keep one random correct and one
    /// random incorrect sample; drop groups with pass rate 0 or 1. Two draws per kept group.
    ///
    /// # Errors
    /// See the type-level docs.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::Oreal;
    /// use rewardkit_core::{GroupIndex, rng::SplitMix64};
    /// let groups = GroupIndex::uniform(6, 3)?;
    /// let correct = [true, false, false, true, true, true]; // the second group is all correct
    /// let mut keep = [false; 6];
    /// Oreal::<f32>::filter(&mut keep, &correct, &groups, &mut SplitMix64::new(1))?;
    /// assert!(keep[0] && keep[1] != keep[2] && !keep[3..].contains(&true));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn filter<R: RandomSource + ?Sized>(
        keep: &mut [bool],
        correct: &[bool],
        groups: &GroupIndex<'_>,
        rng: &mut R,
    ) -> Result<()> {
        groups.check_rows("correct", correct.len())?;
        ensure_len("keep", correct.len(), keep.len())?;
        struct V<'a, R: ?Sized> {
            keep: &'a mut [bool],
            correct: &'a [bool],
            rng: &'a mut R,
        }
        impl<R: RandomSource + ?Sized> GroupVisitor for V<'_, R> {
            fn visit<G: GroupRows>(&mut self, _g: usize, rows: G) -> Result<()> {
                let n_pos = rows.values(self.correct).filter(|&c| c).count();
                let n_neg = rows.len() - n_pos;
                if n_pos == 0 || n_neg == 0 {
                    rows.fill(self.keep, |_| false);
                    return Ok(());
                }
                let (pick_pos, pick_neg) = (self.rng.below(n_pos), self.rng.below(n_neg));
                let (mut ip, mut ineg) = (0usize, 0usize);
                let correct = self.correct;
                rows.fill(self.keep, |i| {
                    if correct.get(i).copied().unwrap_or(false) {
                        ip += 1;
                        ip - 1 == pick_pos
                    } else {
                        ineg += 1;
                        ineg - 1 == pick_neg
                    }
                });
                Ok(())
            }
        }
        groups.visit(&mut V { keep, correct, rng })
    }

    /// OREAL's trajectory filter with `only_keep_1_pair = false`: every sample of a group with both
    /// outcomes is kept; groups with pass rate 0 or 1 are dropped. No randomness.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::Oreal;
    /// use rewardkit_core::GroupIndex;
    /// let groups = GroupIndex::uniform(6, 3)?;
    /// let mut keep = [false; 6];
    /// Oreal::<f32>::filter_all(&mut keep, &[true, false, false, true, true, true], &groups)?;
    /// assert_eq!(keep, [true, true, true, false, false, false]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    ///
    /// Citation: `InternLM/OREAL`, `oreal/datasets/trajectory.py::TrajectoryDatasetWithFilter`.
    pub fn filter_all(keep: &mut [bool], correct: &[bool], groups: &GroupIndex<'_>) -> Result<()> {
        groups.check_rows("correct", correct.len())?;
        ensure_len("keep", correct.len(), keep.len())?;
        struct V<'a> {
            keep: &'a mut [bool],
            correct: &'a [bool],
        }
        impl GroupVisitor for V<'_> {
            fn visit<G: GroupRows>(&mut self, _g: usize, rows: G) -> Result<()> {
                let n_pos = rows.values(self.correct).filter(|&c| c).count();
                let mixed = n_pos > 0 && n_pos < rows.len();
                rows.fill(self.keep, |_| mixed);
                Ok(())
            }
        }
        groups.visit(&mut V { keep, correct })
    }

    /// Token importance weights `(w⁺, w⁻)` from a token-level RM's logits: 0 on masked tokens,
    /// whose logits are never read (they may hold anything, NaN included).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`] for a NaN/∞ logit at a valid token;
    /// [`Error::Overflow`] if a row's running logit sum overflows.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::Oreal;
    /// use rewardkit_core::Mask;
    /// let bits = [true, true];
    /// let (mut pos, mut neg) = ([0.0f64; 2], [0.0f64; 2]);
    /// Oreal::token_weights(&mut pos, &mut neg, &[0.0, 2.0], Mask::new(&bits, 2)?)?;
    /// // c = σ(0) = ½ → 0; then σ(1) = 0.731 → w⁺ = 0.462.
    /// assert_eq!(pos[0], 0.0);
    /// assert!((pos[1] - (2.0 / (1.0 + (-1f64).exp()) - 1.0)).abs() < 1e-15);
    /// assert_eq!(neg, [0.0, 0.0]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn token_weights(pos: &mut [F], neg: &mut [F], logits: &[F], mask: Mask<'_>) -> Result<()> {
        Self::token_weights_rescaled(pos, neg, &mut [], logits, mask, OrealRescale::default())
    }

    /// Token importance weights `(w⁺, w⁻)` with any [`OrealRescale`]: 0 on masked tokens, whose
    /// logits are never read.
    ///
    /// # Shapes
    /// `pos`, `neg`, `logits`: `(B, T)`; `scratch`: `≥ T` entries for `TopK` (unused, may be empty,
    /// for `Threshold`).
    ///
    /// # Errors
    /// As [`OrealRescale::check`]; [`Error::LengthMismatch`] (a short `scratch` for `TopK`);
    /// [`Error::NonFinite`] for a NaN/∞ logit at a valid token; [`Error::Overflow`] if a row's
    /// running logit sum overflows; [`Error::TooFewValid`] for a non-empty row where `⌊T·ρ⌋ = 0`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::reward::{Oreal, OrealRescale};
    /// use rewardkit_core::Mask;
    /// let bits = [true; 4];
    /// // Logits 2, −2, 4, 0: cumulative means 2, 0, 4/3, 1.
    /// let (mut pos, mut neg, mut scratch) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    /// let top = OrealRescale::TopK { positive: 0.5, negative: 0.5 };
    /// Oreal::token_weights_rescaled(&mut pos, &mut neg, &mut scratch, &[2.0, -2.0, 4.0, 0.0],
    ///     Mask::new(&bits, 4)?, top)?;
    /// // k = 2: the largest c are at t = 0 (σ(2)) and t = 2 (σ(4/3)): 1 and 0 after min-max.
    /// assert_eq!(pos, [1.0, 0.0, 0.0, 0.0]);
    /// // 1 − c is largest at t = 1 (½) and t = 3 (1 − σ(1)).
    /// assert_eq!(neg, [0.0, 1.0, 0.0, 0.0]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn token_weights_rescaled(
        pos: &mut [F],
        neg: &mut [F],
        scratch: &mut [f64],
        logits: &[F],
        mask: Mask<'_>,
        rescale: OrealRescale<F>,
    ) -> Result<()> {
        let rescale = rescale.check()?;
        let shape = mask.shape();
        shape.check("logits", logits.len())?;
        shape.check("pos", pos.len())?;
        shape.check("neg", neg.len())?;
        super::ensure_finite_masked("logits", logits, mask.bits())?;
        let t = shape.seq_len();
        if matches!(rescale, OrealRescale::TopK { .. }) && scratch.len() < t {
            return Err(Error::LengthMismatch {
                what: "scratch",
                expected: t,
                got: scratch.len(),
            });
        }
        for (((p, n), z), bits) in pos
            .chunks_exact_mut(t)
            .zip(neg.chunks_exact_mut(t))
            .zip(logits.chunks_exact(t))
            .zip(mask.rows())
        {
            let sum: f64 = z
                .iter()
                .zip(bits)
                .filter(|(_, m)| **m)
                .map(|(z, _)| z.as_f64())
                .sum();
            if !sum.is_finite() || cum_probs(z, bits).any(|c| !c.is_finite()) {
                return Err(Error::Overflow {
                    what: "token logit sum",
                });
            }
            match rescale {
                OrealRescale::Threshold { positive, negative } => {
                    let (tp, tn) = (positive.as_f64(), negative.as_f64());
                    let mut cs = cum_probs(z, bits);
                    for ((p, n), &m) in p.iter_mut().zip(n.iter_mut()).zip(bits) {
                        if m {
                            let c = cs.next().unwrap_or(0.5);
                            *p = F::lit(threshold_rescale(c, tp));
                            *n = F::lit(threshold_rescale(1.0 - c, tn));
                        } else {
                            *p = F::ZERO;
                            *n = F::ZERO;
                        }
                    }
                }
                OrealRescale::TopK { positive, negative } => {
                    topk_row(p, scratch, z, bits, positive.as_f64(), |c| c)?;
                    topk_row(n, scratch, z, bits, negative.as_f64(), |c| 1.0 - c)?;
                }
            }
        }
        Ok(())
    }
}
