//! Sample-based EPIC and DARD for spaces too large to enumerate: the reward is a function
//! `(s, a, s') ↦ R`, the randomness comes from the caller's [`RandomSource`], and memory is
//! `O(N + M)` (never the `N × M` mesh).

use alloc::vec;
use alloc::vec::Vec;

use num_traits::Float;

use super::canon::Coverage;
use super::dard::DardWeights;
use super::pearson::{Pairs, pearson_pairs};
use crate::error::{Error, Result, ensure_len, invalid};
use crate::mdp::{Mdp, check_probabilities};
use crate::real::Real;
use crate::rng::RandomSource;

/// Sample sizes of the sampled estimators.
///
/// # Definition
/// `transitions` (`N`): the batch of `(s, a, s')` the Pearson correlation is taken over;
/// `mean_samples` (`M`): the samples behind each estimated expectation (EPIC's `Φ(s)`, DARD's
/// `Φ_τ(s)` and `T(s, s')`). `evaluating-rewards` uses `N = M = 4096` ([`SampleSizes::default`]).
///
/// # Errors
/// [`SampleSizes::new`] returns [`Error::InvalidParam`] for `transitions < 2` or
/// `mean_samples < 1`.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::SampleSizes;
/// let s = SampleSizes::new(1024, 256)?;
/// assert_eq!((s.transitions(), s.mean_samples()), (1024, 256));
/// assert!(SampleSizes::new(1, 1).is_err());
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: `evaluating-rewards` `scripts/distances/epic.py` (`n_samples`, `n_mean_samples`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SampleSizes {
    transitions: usize,
    mean_samples: usize,
}

impl SampleSizes {
    /// Validated sizes.
    pub fn new(transitions: usize, mean_samples: usize) -> Result<Self> {
        if transitions < 2 {
            return Err(Error::InvalidParam {
                name: "transitions",
                value: transitions as f64,
                expected: "at least 2 sampled transitions",
            });
        }
        if mean_samples < 1 {
            return Err(Error::InvalidParam {
                name: "mean_samples",
                value: 0.0,
                expected: "at least 1 mean sample",
            });
        }
        Ok(Self {
            transitions,
            mean_samples,
        })
    }

    /// `N`.
    pub fn transitions(&self) -> usize {
        self.transitions
    }

    /// `M`.
    pub fn mean_samples(&self) -> usize {
        self.mean_samples
    }
}

impl Default for SampleSizes {
    fn default() -> Self {
        Self {
            transitions: 4096,
            mean_samples: 4096,
        }
    }
}

/// Draws indices from a distribution (uniform, or by inverse CDF).
struct Sampler {
    n: usize,
    cdf: Option<Vec<f64>>,
}

impl Sampler {
    fn new<F: Real>(what: &'static str, d: Option<&[F]>, n: usize) -> Result<Self> {
        let cdf = match d {
            None => None,
            Some(d) => {
                ensure_len(what, n, d.len())?;
                check_probabilities(what, d)?;
                let mut acc = 0.0;
                Some(
                    d.iter()
                        .map(|p| {
                            acc += p.as_f64();
                            acc
                        })
                        .collect(),
                )
            }
        };
        Ok(Self { n, cdf })
    }

    #[inline]
    fn draw<R: RandomSource + ?Sized>(&self, rng: &mut R) -> usize {
        match &self.cdf {
            None => rng.below(self.n),
            Some(c) => {
                let u = rng.next_f64() * c.last().copied().unwrap_or(1.0);
                c.partition_point(|&x| x <= u).min(self.n.saturating_sub(1))
            }
        }
    }
}

/// Evaluates a reward function, rejecting NaN/∞.
#[inline]
fn eval<F: Real>(
    f: &impl Fn(usize, usize, usize) -> F,
    what: &'static str,
    s: usize,
    a: usize,
    t: usize,
    index: usize,
    max: &mut f64,
) -> Result<f64> {
    let v = f(s, a, t);
    if !v.is_finite() {
        return Err(Error::NonFinite { what, index });
    }
    let v = v.as_f64();
    *max = max.max(Float::abs(v));
    Ok(v)
}

struct VecPairs<'a>(&'a [f64], &'a [f64]);

impl Pairs for VecPairs<'_> {
    fn visit(&self, mut f: impl FnMut(f64, f64, f64)) {
        for (&x, &y) in self.0.iter().zip(self.1) {
            f(x, y, 1.0);
        }
    }
}

fn finish<F: Real>(ca: &[f64], cb: &[f64], max: (f64, f64)) -> Result<F> {
    let eps = F::epsilon().as_f64();
    let d = pearson_pairs(
        &VecPairs(ca, cb),
        ("reward_a", "reward_b"),
        (64.0 * eps * max.0, 64.0 * eps * max.1),
    )?;
    Ok(F::lit(d))
}

fn check_space(n_states: usize, n_actions: usize) -> Result<()> {
    if n_states == 0 {
        return Err(Error::Empty { what: "states" });
    }
    if n_actions == 0 {
        return Err(Error::Empty { what: "actions" });
    }
    Ok(())
}

/// EPIC estimated from samples (the `evaluating-rewards` algorithm), for reward functions on spaces
/// too large to enumerate.
///
/// # Definition
/// Draw `N` transitions `(sᵢ, aᵢ, s'ᵢ) ~ D_S × D_A × D_S` and `M` pairs `(a_j, x_j) ~ D_A × D_S`
/// (shared by both rewards); estimate `Φ̂(s) = (1/M) Σ_j R(s, a_j, x_j)` and
/// `Ĉ(R)ᵢ = R(sᵢ, aᵢ, s'ᵢ) + γΦ̂(s'ᵢ) − Φ̂(sᵢ)`, then return the Pearson distance of `Ĉ(R_A)` and
/// `Ĉ(R_B)` over the batch. (EPIC's constant `−γE[Φ]` is omitted: the Pearson distance ignores
/// constant shifts.) The estimate converges to [`crate::distance::Epic`] as `N, M → ∞`; its bias is
/// `O(1/M)` and its standard deviation `O(1/√N)`. Cost: `N·(2M + 1)` evaluations per reward,
/// memory `O(N + M)`.
///
/// # Errors
/// [`Error::Empty`] for no states or actions; [`Error::InvalidParam`] for `γ` outside `[0, 1)`,
/// invalid coverage, or a sampled canonical reward with zero variance; [`Error::NonFinite`] if a
/// reward function returns NaN/∞ (`index` = the sample); [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Coverage, SampleSizes, epic_sampled};
/// use rewardkit_core::rng::SplitMix64;
/// let mut rng = SplitMix64::new(1);
/// // 10⁶ states: R_B is a positive scaling plus a potential shaping of R_A.
/// let ra = |s: usize, a: usize, t: usize| ((s * 7 + a * 3 + t) % 11) as f64;
/// let rb = |s: usize, a: usize, t: usize| 2.0 * ra(s, a, t) + 0.9 * (t as f64).sin() - (s as f64).sin();
/// let d = epic_sampled(&mut rng, ra, rb, 1_000_000, 4, 0.9, &Coverage::uniform(),
///     SampleSizes::new(512, 256)?)?;
/// assert!(d < 1e-12);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Gleave et al. (2021), EPIC, arXiv:2006.13900, §4.1 (sample-based approximation);
/// `evaluating-rewards` `distances/epic_sample.py::sample_canon_shaping`.
pub fn epic_sampled<F: Real, R: RandomSource + ?Sized>(
    rng: &mut R,
    reward_a: impl Fn(usize, usize, usize) -> F,
    reward_b: impl Fn(usize, usize, usize) -> F,
    n_states: usize,
    n_actions: usize,
    gamma: F,
    coverage: &Coverage<'_, F>,
    sizes: SampleSizes,
) -> Result<F> {
    check_space(n_states, n_actions)?;
    if !(gamma >= F::ZERO && gamma < F::ONE) {
        return Err(invalid("gamma", gamma, "in [0, 1)"));
    }
    let g = gamma.as_f64();
    let ds = Sampler::new("coverage_states", coverage.states, n_states)?;
    let da = Sampler::new("coverage_actions", coverage.actions, n_actions)?;
    let (n, m) = (sizes.transitions, sizes.mean_samples);
    let mean: Vec<(usize, usize)> = (0..m).map(|_| (da.draw(rng), ds.draw(rng))).collect();
    let (mut ca, mut cb) = (vec![0.0f64; n], vec![0.0f64; n]);
    let mut max = (0.0f64, 0.0f64);
    let inv_m = 1.0 / m as f64;
    for (i, (xa, xb)) in ca.iter_mut().zip(cb.iter_mut()).enumerate() {
        let (s, a, t) = (ds.draw(rng), da.draw(rng), ds.draw(rng));
        let (mut phi_s, mut phi_t) = ((0.0, 0.0), (0.0, 0.0));
        for &(aj, xj) in &mean {
            phi_s.0 += eval(&reward_a, "reward_a", s, aj, xj, i, &mut max.0)?;
            phi_s.1 += eval(&reward_b, "reward_b", s, aj, xj, i, &mut max.1)?;
            phi_t.0 += eval(&reward_a, "reward_a", t, aj, xj, i, &mut max.0)?;
            phi_t.1 += eval(&reward_b, "reward_b", t, aj, xj, i, &mut max.1)?;
        }
        let r_a = eval(&reward_a, "reward_a", s, a, t, i, &mut max.0)?;
        let r_b = eval(&reward_b, "reward_b", s, a, t, i, &mut max.1)?;
        *xa = r_a + g * phi_t.0 * inv_m - phi_s.0 * inv_m;
        *xb = r_b + g * phi_t.1 * inv_m - phi_s.1 * inv_m;
    }
    finish::<F>(&ca, &cb, max)
}

/// DARD estimated from samples, with transitions drawn from the MDP's kernel.
///
/// # Definition
/// Draw `N` transitions `sᵢ ~ D_S`, `aᵢ ~ D_A`, `s'ᵢ ~ τ(sᵢ, aᵢ)` ([`DardWeights::Dynamics`]) or
/// `s'ᵢ ~ D_S` ([`DardWeights::Coverage`]); for each, draw `M` triples `A_j ~ D_A`,
/// `S₁ⱼ ~ τ(sᵢ, A_j)`, `S₂ⱼ ~ τ(s'ᵢ, A_j)` (shared by all three estimates and both rewards) and
/// estimate `Φ̂_τ(sᵢ) = (1/M) Σ_j R(sᵢ, A_j, S₁ⱼ)`, `Φ̂_τ(s'ᵢ) = (1/M) Σ_j R(s'ᵢ, A_j, S₂ⱼ)`,
/// `T̂(sᵢ, s'ᵢ) = (1/M) Σ_j R(S₁ⱼ, A_j, S₂ⱼ)`; `Ĉᵢ = R(sᵢ, aᵢ, s'ᵢ) + γΦ̂_τ(s'ᵢ) − Φ̂_τ(sᵢ) −
/// γT̂(sᵢ, s'ᵢ)`; return the Pearson distance over the batch. Sharing the draws makes the estimate
/// exactly invariant to potential shaping (the shaping terms cancel draw by draw) and lowers its
/// variance. Converges to [`crate::distance::Dard`] as `N, M → ∞`. Cost: `N·(3M + 1)`
/// evaluations per reward.
///
/// # Errors
/// As [`epic_sampled`] (`γ` comes from the MDP).
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Coverage, DardWeights, SampleSizes, dard_sampled};
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// use rewardkit_core::rng::SplitMix64;
/// let tau = [0.5, 0.5, 1.0, 0.0, 0.0, 1.0, 0.3, 0.7f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.9)?;
/// let ra = |s: usize, a: usize, _t: usize| (s + 2 * a) as f64;
/// let rb = |s: usize, a: usize, t: usize| -ra(s, a, t);
/// let d = dard_sampled(&mut SplitMix64::new(3), &mdp, ra, rb, &Coverage::uniform(),
///     DardWeights::Dynamics, SampleSizes::new(256, 64)?)?;
/// assert!((d - 1.0).abs() < 1e-12); // negation is at distance 1 for any sample
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Wulfe et al. (2022), DARD, arXiv:2201.10081, §4 (sample-based estimate).
pub fn dard_sampled<F: Real, R: RandomSource + ?Sized>(
    rng: &mut R,
    mdp: &Mdp<'_, F>,
    reward_a: impl Fn(usize, usize, usize) -> F,
    reward_b: impl Fn(usize, usize, usize) -> F,
    coverage: &Coverage<'_, F>,
    weights: DardWeights,
    sizes: SampleSizes,
) -> Result<F> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let g = mdp.gamma().as_f64();
    let ds = Sampler::new("coverage_states", coverage.states, ns)?;
    let da = Sampler::new("coverage_actions", coverage.actions, na)?;
    let (n, m) = (sizes.transitions, sizes.mean_samples);
    let (mut ca, mut cb) = (vec![0.0f64; n], vec![0.0f64; n]);
    let mut max = (0.0f64, 0.0f64);
    let inv_m = 1.0 / m as f64;
    for (i, (xa, xb)) in ca.iter_mut().zip(cb.iter_mut()).enumerate() {
        let (s, a) = (ds.draw(rng), da.draw(rng));
        let t = match weights {
            DardWeights::Dynamics => mdp.row(s, a).sample(rng.next_f64()),
            DardWeights::Coverage => ds.draw(rng),
        };
        // Φ(s), Φ(s'), T(s, s') for A then B, from shared draws (A_j, S₁ ~ τ(s, A_j),
        // S₂ ~ τ(s', A_j)): the shaping terms then cancel exactly, as in the exact transformation.
        let mut acc = [0.0f64; 6];
        for _ in 0..m {
            let aj = da.draw(rng);
            let s1 = mdp.row(s, aj).sample(rng.next_f64());
            let s2 = mdp.row(t, aj).sample(rng.next_f64());
            acc[0] += eval(&reward_a, "reward_a", s, aj, s1, i, &mut max.0)?;
            acc[3] += eval(&reward_b, "reward_b", s, aj, s1, i, &mut max.1)?;
            acc[1] += eval(&reward_a, "reward_a", t, aj, s2, i, &mut max.0)?;
            acc[4] += eval(&reward_b, "reward_b", t, aj, s2, i, &mut max.1)?;
            acc[2] += eval(&reward_a, "reward_a", s1, aj, s2, i, &mut max.0)?;
            acc[5] += eval(&reward_b, "reward_b", s1, aj, s2, i, &mut max.1)?;
        }
        let r_a = eval(&reward_a, "reward_a", s, a, t, i, &mut max.0)?;
        let r_b = eval(&reward_b, "reward_b", s, a, t, i, &mut max.1)?;
        let [p0, p1, p2, p3, p4, p5] = acc.map(|x| x * inv_m);
        *xa = r_a + g * p1 - p0 - g * p2;
        *xb = r_b + g * p4 - p3 - g * p5;
    }
    finish::<F>(&ca, &cb, max)
}
