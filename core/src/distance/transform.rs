//! The reward transformations that STARC, EPIC and DARD are built to ignore: positive scaling,
//! potential-based shaping and S'-redistribution. Each writes a full `(S, A, S')` tensor.

use crate::error::{Result, ensure_finite, ensure_len, param_positive};
use crate::mdp::{Mdp, Reward};
use crate::real::Real;

fn check_out<F: Real>(out: &[F], mdp: &Mdp<'_, F>, reward: &Reward<'_, F>) -> Result<()> {
    reward.validate("reward", mdp)?;
    ensure_len("out", mdp.full_len(), out.len())
}

fn finish<F: Real>(out: &[F]) -> Result<()> {
    match out.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(_) => Err(crate::error::Error::Overflow {
            what: "transformed reward",
        }),
    }
}

/// Positive scaling of a reward.
///
/// # Definition
/// `R'(s, a, s') = α·R(s, a, s')`, `α > 0`. Every optimal policy of `R` is optimal for `R'`.
///
/// # Shapes
/// `out`: `(S, A, S')`.
///
/// # Errors
/// [`Error::LengthMismatch`](crate::Error::LengthMismatch); [`Error::NonFinite`](crate::Error::NonFinite)
/// for NaN/∞ rewards; [`Error::InvalidParam`](crate::Error::InvalidParam) for `α` not finite and
/// positive; [`Error::Overflow`](crate::Error::Overflow) if a result is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::scale_reward;
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// let mdp = Mdp::new(1, 2, Transitions::Dense(&[1.0f64, 1.0]), &[1.0], 0.9)?;
/// let mut out = [0.0f64; 2];
/// scale_reward(&mut out, &mdp, &Reward::StateAction(&[1.0, -2.0]), 3.0)?;
/// assert_eq!(out, [3.0, -6.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Ng, Harada and Russell (1999), *Policy invariance under reward transformations*, ICML.
pub fn scale_reward<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    alpha: F,
) -> Result<()> {
    check_out(out, mdp, reward)?;
    let alpha = param_positive("alpha", alpha)?;
    reward.expand(out, mdp)?;
    out.iter_mut().for_each(|x| *x = *x * alpha);
    finish(out)
}

/// Potential-based shaping of a reward.
///
/// # Definition
/// `R'(s, a, s') = R(s, a, s') + γ·Φ(s') − Φ(s)`. `Q'^π = Q^π − Φ(s)` for every policy, so the
/// optimal policies are unchanged (and, for state-only `F`, shaping of this form is the only
/// additive term with that guarantee for every `τ`). A constant shift `c` is the shaping with
/// `Φ ≡ −c/(1−γ)`.
///
/// # Shapes
/// `out`: `(S, A, S')`; `potential`: `(S)`.
///
/// # Errors
/// As [`scale_reward`], with [`Error::NonFinite`](crate::Error::NonFinite) for a NaN/∞ potential.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::shape_potential;
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// let tau = [1.0, 0.0, 0.0, 1.0f64];
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&tau), &[1.0, 0.0], 0.5)?;
/// let mut out = [0.0f64; 4];
/// shape_potential(&mut out, &mdp, &Reward::State(&[0.0, 0.0]), &[2.0, 4.0])?;
/// // R'(s, s') = 0.5·Φ(s') − Φ(s)
/// assert_eq!(out, [-1.0, 0.0, -3.0, -2.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Ng, Harada and Russell (1999), ICML, Thm 1; `evaluating-rewards`
/// `distances/tabular.py::shape`.
pub fn shape_potential<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    potential: &[F],
) -> Result<()> {
    check_out(out, mdp, reward)?;
    let ns = mdp.n_states();
    ensure_len("potential", ns, potential.len())?;
    ensure_finite("potential", potential)?;
    reward.expand(out, mdp)?;
    let g = mdp.gamma().as_f64();
    for (i, row) in out.chunks_exact_mut(ns).enumerate() {
        let s = i / mdp.n_actions();
        let from = potential.get(s).map_or(0.0, |x| x.as_f64());
        for (o, p) in row.iter_mut().zip(potential) {
            *o = F::lit(o.as_f64() + g * p.as_f64() - from);
        }
    }
    finish(out)
}

/// S'-redistribution of a reward: move reward between next states without changing its
/// expectation under `τ`.
///
/// # Definition
/// `R'(s, a, s') = R(s, a, s') + D(s, a, s') − E_{S'~τ(s,a)}[D(s, a, S')]/Σ_{x} τ(s, a, x)`, so that
/// `E_{S'~τ(s,a)}[R'(s, a, S')] = E_{S'~τ(s,a)}[R(s, a, S')]` for every `(s, a)` (exactly, whatever
/// the rounding of the row sums). Values on transitions with `τ = 0` move freely.
///
/// # Shapes
/// `out`, `perturbation`: `(S, A, S')`.
///
/// # Errors
/// As [`scale_reward`], with [`Error::NonFinite`](crate::Error::NonFinite) for a NaN/∞
/// perturbation.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::redistribute;
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&[0.5, 0.5, 0.5, 0.5]), &[1.0, 0.0], 0.5)?;
/// let mut out = [0.0f64; 4];
/// redistribute(&mut out, &mdp, &Reward::State(&[1.0, 1.0]), &[2.0, 0.0, 0.0, 0.0])?;
/// assert_eq!(out, [2.0, 0.0, 1.0, 1.0]); // the mean of row 0 stays 1
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), STARC, arXiv:2309.15257, Def. of S'-redistribution (§2).
pub fn redistribute<F: Real>(
    out: &mut [F],
    mdp: &Mdp<'_, F>,
    reward: &Reward<'_, F>,
    perturbation: &[F],
) -> Result<()> {
    check_out(out, mdp, reward)?;
    let ns = mdp.n_states();
    ensure_len("perturbation", mdp.full_len(), perturbation.len())?;
    ensure_finite("perturbation", perturbation)?;
    reward.expand(out, mdp)?;
    for ((orow, drow), trow) in out
        .chunks_exact_mut(ns)
        .zip(perturbation.chunks_exact(ns))
        .zip(mdp.rows())
    {
        let mut mean = 0.0;
        trow.for_each(|j, p| mean += p * drow.get(j).map_or(0.0, |x| x.as_f64()));
        let mean = mean / trow.sum();
        for (o, d) in orow.iter_mut().zip(drow) {
            *o = F::lit(o.as_f64() + d.as_f64() - mean);
        }
    }
    finish(out)
}
