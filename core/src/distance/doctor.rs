//! The reward doctor: how a proposed reward relates to a reference reward on a finite MDP, what
//! optimising the proposal costs under the reference (and the reverse), and the states where their
//! optimal actions disagree.

use alloc::vec::Vec;

use num_traits::Float;

use super::canon::{Canonicalization, Coverage};
use super::norm::Norm;
use super::starc::Starc;
use crate::error::{Error, Result, invalid};
use crate::mdp::{Mdp, Policy, Reward, normalized_regret, optimal_policy, regret, to_real};
use crate::real::Real;

/// The default tolerance of the reward doctor for the float type `F`.
///
/// # Definition
/// `tol_F = max(1e-9, 1000·ε_F)`: `1e-9` for `f64` (the browser demo's tolerance) and
/// `1000·2⁻²³ ≈ 1.19e-4` for `f32`, whose rewards carry rounding errors near `ε_f32·max|R|`
/// that the distances amplify by up to `1/(1 − γ)`.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::default_tolerance;
/// assert_eq!(default_tolerance::<f64>(), 1e-9);
/// assert!((default_tolerance::<f32>() - 1.1920929e-4).abs() < 1e-10);
/// ```
///
/// Anchor: [`numerics`](crate::numerics#distances), section Distances (reward doctor).
pub fn default_tolerance<F: Real>() -> F {
    F::lit(Float::max(1e-9, 1000.0 * F::epsilon().as_f64()))
}

/// How a proposed reward `R'` relates to a reference reward `R` on an MDP.
///
/// # Definition
/// Decided in this order ("zero" means at most the tolerance `tol`, see [`relation`]):
/// 1. [`TrivialReference`](Relation::TrivialReference) / [`TrivialProposal`](Relation::TrivialProposal):
///    the reward's STARC VAL canonical form is zero (every policy is equally good under it);
/// 2. [`Identical`](Relation::Identical) if `R' = R` entry-wise (within `tol·max(1, max|R'|)`);
/// 3. with EPIC's canonicalisation `C` under uniform coverage and the standardisation
///    `s = C/‖C‖₂`: `s(R') = s(R)` means `R' = α·R + γΦ(s') − Φ(s)` with
///    `α = ‖C(R')‖₂/‖C(R)‖₂ > 0`; then [`Identical`](Relation::Identical) if `R' = α·R`
///    entry-wise (within `tol·max(1, max|R'|)`) and `α = 1` (within `tol`),
///    [`Rescaled`](Relation::Rescaled) if `R' = α·R` with `α ≠ 1`, [`Shaped`](Relation::Shaped)
///    if `α = 1` only, else [`RescaledShaped`](Relation::RescaledShaped);
/// 4. [`SameOrdering`](Relation::SameOrdering) if the STARC VAL distance ([`Starc::default`]) is
///    zero: an S'-redistribution of one of the above, the same ordering of policies;
/// 5. [`Different`](Relation::Different) otherwise.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::Relation;
/// assert_eq!(Relation::Rescaled { alpha: 2.0f64 }.name(), "rescaled");
/// assert_eq!(Relation::<f64>::Shaped.alpha(), Some(1.0));
/// ```
///
/// Citations: Ng, Harada and Russell (1999), *Policy invariance under reward transformations*,
/// ICML, Thm 1 (potential shaping keeps the optimal policies); Gleave et al. (2021), EPIC,
/// arXiv:2006.13900, §4 (EPIC = 0 iff equivalent up to potential shaping and positive
/// scaling, for coverage of full support); Skalse et al. (2024), STARC, arXiv:2309.15257, §3
/// (a STARC distance with VAL is 0 iff the rewards induce the same ordering of
/// policies).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Relation<F> {
    /// The same reward (`R' = R` within the tolerance).
    Identical,
    /// `R' = α·R` with `α > 0`, `α ≠ 1`.
    Rescaled {
        /// `α`.
        alpha: F,
    },
    /// `R' = R + γΦ(s') − Φ(s)` for some potential `Φ` (a constant shift `c` is `Φ ≡ −c/(1 − γ)`).
    Shaped,
    /// `R' = α·R + γΦ(s') − Φ(s)` with `α ≠ 1`.
    RescaledShaped {
        /// `α`.
        alpha: F,
    },
    /// Not a rescaling or shaping of `R`, but the same ordering of policies (STARC VAL is 0: an
    /// S'-redistribution of one, which EPIC and DARD do not ignore).
    SameOrdering,
    /// The rewards order some policies differently.
    Different,
    /// The reference is trivial: every policy is equally good under it.
    TrivialReference,
    /// The proposal is trivial: every policy is optimal for it.
    TrivialProposal,
}

impl<F: Real> Relation<F> {
    /// A stable name: `identical`, `rescaled`, `shaped`, `rescaled+shaped`, `same-ordering`,
    /// `different`, `trivial-reference`, `trivial-proposal`.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::distance::Relation;
    /// assert_eq!(Relation::<f32>::TrivialProposal.name(), "trivial-proposal");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Identical => "identical",
            Self::Rescaled { .. } => "rescaled",
            Self::Shaped => "shaped",
            Self::RescaledShaped { .. } => "rescaled+shaped",
            Self::SameOrdering => "same-ordering",
            Self::Different => "different",
            Self::TrivialReference => "trivial-reference",
            Self::TrivialProposal => "trivial-proposal",
        }
    }

    /// The scale `α` of `R' = α·R (+ shaping)`: 1 for `Identical` and `Shaped`, `α` for the
    /// rescaled relations, `None` otherwise.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::distance::Relation;
    /// assert_eq!(Relation::RescaledShaped { alpha: 3.0f64 }.alpha(), Some(3.0));
    /// assert_eq!(Relation::<f64>::Different.alpha(), None);
    /// ```
    pub fn alpha(self) -> Option<F> {
        match self {
            Self::Identical | Self::Shaped => Some(F::ONE),
            Self::Rescaled { alpha } | Self::RescaledShaped { alpha } => Some(alpha),
            _ => None,
        }
    }

    /// `true` for the relations that keep every optimal policy and the ordering of policies
    /// (`Identical`, `Rescaled`, `Shaped`, `RescaledShaped`, `SameOrdering`).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::distance::Relation;
    /// assert!(Relation::<f64>::SameOrdering.same_ordering());
    /// assert!(!Relation::<f64>::Different.same_ordering());
    /// ```
    pub fn same_ordering(self) -> bool {
        !matches!(
            self,
            Self::Different | Self::TrivialReference | Self::TrivialProposal
        )
    }
}

/// A state whose proposed optimal action loses value under the reference.
///
/// # Definition
/// `value_lost = V*_R(s) − Q*_R(s, π*_{R'}(s)) > tol·(1 + max_s |V*_R(s)|)`.
///
/// # Examples
/// See [`diagnose`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Disagreement<F> {
    /// The state `s`.
    pub state: usize,
    /// The reference's optimal action `π*_R(s)`.
    pub reference_action: usize,
    /// The proposal's optimal action `π*_{R'}(s)`.
    pub proposed_action: usize,
    /// `V*_R(s) − Q*_R(s, π*_{R'}(s)) > 0`.
    pub value_lost: F,
}

/// The reward doctor's report (see [`diagnose`]).
///
/// # Shapes
/// `reference_policy`, `proposed_policy`: `(S)`; `disagreements`: at most `S`, in state order.
///
/// # Examples
/// See [`diagnose`].
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis<F> {
    /// How the proposal relates to the reference ([`relation`]).
    pub relation: Relation<F>,
    /// The STARC VAL distance ([`Starc::default`]), in `[0, 2]`.
    pub starc: F,
    /// `J_R(π*_R) − J_R(π*_{R'})`: the regret under the reference of the proposal's optimal policy.
    pub regret: F,
    /// The same, over the reference's range of returns ([`normalized_regret`]), in `[0, 1]`.
    pub normalized_regret: F,
    /// `J_{R'}(π*_{R'}) − J_{R'}(π*_R)`: the regret under the proposal of the reference's optimal
    /// policy.
    pub reverse_regret: F,
    /// The same, normalized, in `[0, 1]`.
    pub reverse_normalized_regret: F,
    /// `π*_R`, the reference's optimal actions ([`optimal_policy`]).
    pub reference_policy: Vec<usize>,
    /// `π*_{R'}`, the proposal's optimal actions.
    pub proposed_policy: Vec<usize>,
    /// The states where `π*_{R'}` loses value under the reference, in state order.
    pub disagreements: Vec<Disagreement<F>>,
}

fn check_tol<F: Real>(tol: F) -> Result<f64> {
    let t = tol.as_f64();
    if tol.is_finite() && t > 0.0 && t < 1.0 {
        Ok(t)
    } else {
        Err(invalid("tol", tol, "a tolerance in (0, 1)"))
    }
}

fn check_rewards<F: Real>(
    mdp: &Mdp<'_, F>,
    reference: &Reward<'_, F>,
    proposed: &Reward<'_, F>,
) -> Result<()> {
    reference.validate("reference", mdp)?;
    proposed.validate("proposed", mdp)
}

/// `max_{s,a,s'} |α·R(s, a, s') − R'(s, a, s')| <= tol·max(1, max|R'|)`.
fn is_rescaling<F: Real>(
    mdp: &Mdp<'_, F>,
    reference: &Reward<'_, F>,
    proposed: &Reward<'_, F>,
    alpha: f64,
    tol: f64,
) -> bool {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let at = |r: &Reward<'_, F>, s, a, t| r.at(s, a, t, ns, na).as_f64();
    let mut scale = 1.0f64;
    let mut worst = 0.0f64;
    for s in 0..ns {
        for a in 0..na {
            for t in 0..ns {
                let y = at(proposed, s, a, t);
                scale = scale.max(Float::abs(y));
                worst = worst.max(Float::abs(alpha * at(reference, s, a, t) - y));
            }
        }
    }
    worst <= tol * scale
}

/// `α` in `F`, or [`Error::Overflow`] if it is not a finite positive number there (an `f32`
/// underflow to 0 included).
fn alpha_real<F: Real>(alpha: f64) -> Result<F> {
    let a: F = to_real(alpha, "alpha")?;
    if a > F::ZERO {
        Ok(a)
    } else {
        Err(Error::Overflow { what: "alpha" })
    }
}

/// How a proposed reward relates to a reference reward (see [`Relation`] for the decision).
///
/// # Definition
/// See [`Relation`]. `tol` is the tolerance of "zero distance" (both STARC distances, in
/// `[0, 2]`), of "`α = 1`" and (relative to `max(1, max|R'|)`) of "`R' = α·R` entry-wise";
/// [`default_tolerance`] gives `1e-9` for `f64`. Every computation runs in `f64`.
///
/// # Shapes
/// Each reward: `(S, A, S')`, `(S, A)` or `(S)` (see [`Reward`]).
///
/// # Errors
/// [`Error::InvalidParam`] for `tol` not in `(0, 1)` (NaN included); [`Error::LengthMismatch`]
/// and [`Error::NonFinite`] for a reward of the wrong length or with NaN/∞ (named `reference`
/// or `proposed`); [`Error::Overflow`] for non-finite intermediate results and for an `α`
/// outside the range of `F` (infinite, or rounding to 0: rewards `10³⁰` apart in `f32`).
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Relation, default_tolerance, relation, shape_potential};
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// // Two states, two actions (stay, switch), γ = 0.9.
/// let tau = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.9)?;
/// let r = Reward::State(&[0.0, 1.0]);
/// let tol = default_tolerance();
/// let rel = relation(&mdp, &r, &Reward::State(&[0.0, 3.0]), tol)?;
/// assert_eq!(rel.name(), "rescaled");
/// assert!((rel.alpha().unwrap() - 3.0).abs() < 1e-12);
/// let mut shaped = [0.0f64; 8];
/// shape_potential(&mut shaped, &mdp, &r, &[5.0, -3.0])?;
/// assert_eq!(relation(&mdp, &r, &Reward::Full(&shaped), tol)?, Relation::Shaped);
/// assert_eq!(relation(&mdp, &r, &Reward::State(&[1.0, 0.0]), tol)?, Relation::Different);
/// assert_eq!(relation(&mdp, &r, &Reward::State(&[2.0, 2.0]), tol)?, Relation::TrivialProposal);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citations: as [`Relation`].
pub fn relation<F: Real>(
    mdp: &Mdp<'_, F>,
    reference: &Reward<'_, F>,
    proposed: &Reward<'_, F>,
    tol: F,
) -> Result<Relation<F>> {
    let tol = check_tol(tol)?;
    check_rewards(mdp, reference, proposed)?;
    relation_checked(mdp, reference, proposed, tol).map(|(rel, _)| rel)
}

/// [`relation`] on validated inputs; also returns the STARC VAL distance.
fn relation_checked<F: Real>(
    mdp: &Mdp<'_, F>,
    reference: &Reward<'_, F>,
    proposed: &Reward<'_, F>,
    tol: f64,
) -> Result<(Relation<F>, F)> {
    let val = Starc::<F>::default();
    let all = val.standardize_all(mdp, &[*reference, *proposed])?;
    let (Some(vr), Some(vp)) = (all.first(), all.get(1)) else {
        return Err(Error::Empty { what: "rewards" });
    };
    let starc = val.distance_between(mdp, vr, vp)?;
    if vr.is_trivial() {
        return Ok((Relation::TrivialReference, starc));
    }
    if vp.is_trivial() {
        return Ok((Relation::TrivialProposal, starc));
    }
    if is_rescaling(mdp, reference, proposed, 1.0, tol) {
        return Ok((Relation::Identical, starc));
    }
    let epic = Starc::new(Canonicalization::Epic(Coverage::uniform()), Norm::l2());
    let all = epic.standardize_all(mdp, &[*reference, *proposed])?;
    let (Some(er), Some(ep)) = (all.first(), all.get(1)) else {
        return Err(Error::Empty { what: "rewards" });
    };
    if !er.is_trivial() && !ep.is_trivial() && epic.distance_between(mdp, er, ep)?.as_f64() <= tol {
        let alpha = ep.canonical_norm() / er.canonical_norm();
        let pure = is_rescaling(mdp, reference, proposed, alpha, tol);
        let unit = Float::abs(alpha - 1.0) <= tol;
        let rel = match (pure, unit) {
            (true, true) => Relation::Identical,
            (true, false) => Relation::Rescaled {
                alpha: alpha_real(alpha)?,
            },
            (false, true) => Relation::Shaped,
            (false, false) => Relation::RescaledShaped {
                alpha: alpha_real(alpha)?,
            },
        };
        return Ok((rel, starc));
    }
    if starc.as_f64() <= tol {
        return Ok((Relation::SameOrdering, starc));
    }
    Ok((Relation::Different, starc))
}

/// The reward doctor's full report: the [`relation`], the STARC VAL distance, the regret both
/// ways, both optimal policies and the states where they disagree.
///
/// # Definition
/// With `π*_R`, `π*_{R'}` the optimal policies of [`optimal_policy`] (ties keep the lower action):
/// `regret = J_R(π*_R) − J_R(π*_{R'})` and `reverse_regret = J_{R'}(π*_{R'}) − J_{R'}(π*_R)`
/// ([`regret`], returns from the initial distribution `μ`), normalised by the range of returns
/// ([`normalized_regret`]); a state `s` disagrees when
/// `V*_R(s) − Q*_R(s, π*_{R'}(s)) > tol·(1 + max_s |V*_R(s)|)` (the proposal's action there is
/// not optimal for the reference). Every state counts, reachable from `μ` or not, so a state can
/// disagree while the regret is 0.
///
/// # Shapes
/// See [`Diagnosis`].
///
/// # Errors
/// As [`relation`].
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Relation, default_tolerance, diagnose};
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// // A deterministic corridor 0 – 1 – 2, actions (left, right), γ = 0.5, uniform start.
/// let tau = [
///     1.0, 0.0, 0.0, /* right */ 0.0, 1.0, 0.0, // s = 0
///     1.0, 0.0, 0.0, /* right */ 0.0, 0.0, 1.0, // s = 1
///     0.0, 1.0, 0.0, /* right */ 0.0, 0.0, 1.0f64, // s = 2
/// ];
/// let mdp = Mdp::new(3, 2, Transitions::Dense(&tau), &[1.0 / 3.0; 3], 0.5)?;
/// let goal = Reward::State(&[0.0, 0.0, 1.0]); // +1 for leaving cell 2
/// let start = Reward::State(&[1.0, 0.0, 0.0]); // +1 for leaving cell 0 instead
/// let d = diagnose(&mdp, &goal, &start, default_tolerance())?;
/// assert_eq!(d.relation, Relation::Different);
/// assert_eq!(d.reference_policy, [1, 1, 1]); // right, then stay at 2 (V* = 0.5, 1, 2)
/// assert_eq!(d.proposed_policy, [0, 0, 0]); // left, then stay at 0
/// // Under the goal, walking left from 1 is worth Q*(1, left) = 0 + 0.5·V*(0) = 0.25, not 1.
/// assert_eq!(d.disagreements.iter().map(|x| x.state).collect::<Vec<_>>(), [0, 1, 2]);
/// assert!((d.disagreements[1].value_lost - 0.75).abs() < 1e-12);
/// assert!(d.regret > 0.0 && d.reverse_regret > 0.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citations: as [`Relation`]; regret: Skalse et al. (2024), STARC, arXiv:2309.15257, §2.
pub fn diagnose<F: Real>(
    mdp: &Mdp<'_, F>,
    reference: &Reward<'_, F>,
    proposed: &Reward<'_, F>,
    tol: F,
) -> Result<Diagnosis<F>> {
    let tol = check_tol(tol)?;
    check_rewards(mdp, reference, proposed)?;
    let (relation, starc) = relation_checked(mdp, reference, proposed, tol)?;
    let opt_ref = optimal_policy(mdp, reference)?;
    let opt_prop = optimal_policy(mdp, proposed)?;
    let pol_prop = Policy::Deterministic(&opt_prop.actions);
    let pol_ref = Policy::Deterministic(&opt_ref.actions);
    let vmax = opt_ref
        .values
        .iter()
        .fold(0.0f64, |m, v| m.max(Float::abs(v.as_f64())));
    let na = mdp.n_actions();
    let mut disagreements = Vec::new();
    for (s, &a) in opt_prop.actions.iter().enumerate() {
        let (Some(v), Some(q), Some(&r)) = (
            opt_ref.values.get(s),
            opt_ref.q.get(s * na + a),
            opt_ref.actions.get(s),
        ) else {
            continue;
        };
        let lost = v.as_f64() - q.as_f64();
        if lost > tol * (1.0 + vmax) {
            disagreements.push(Disagreement {
                state: s,
                reference_action: r,
                proposed_action: a,
                value_lost: to_real(lost, "value lost")?,
            });
        }
    }
    Ok(Diagnosis {
        relation,
        starc,
        regret: regret(mdp, reference, &pol_prop)?,
        normalized_regret: normalized_regret(mdp, reference, &pol_prop)?,
        reverse_regret: regret(mdp, proposed, &pol_ref)?,
        reverse_normalized_regret: normalized_regret(mdp, proposed, &pol_ref)?,
        reference_policy: opt_ref.actions,
        proposed_policy: opt_prop.actions,
        disagreements,
    })
}
