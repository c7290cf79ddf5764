//! Norms on reward tensors: `L1`, `L2`, `L∞`, unweighted (counting measure) or weighted by the
//! transition kernel or by a caller's distribution over `(s, a, s')`.

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, invalid};
use crate::mdp::Mdp;
use crate::real::Real;

/// The order `p` of an `Lp` norm.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::Order;
/// assert_eq!("l2".parse::<Order>()?, Order::L2);
/// assert_eq!(Order::LInf.to_string(), "linf");
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Order {
    /// `Σ w|x|`.
    L1,
    /// `(Σ w x²)^{1/2}`.
    L2,
    /// `max_{w > 0} |x|`.
    LInf,
}

impl Order {
    const NAMES: &'static [&'static str] = &["l1", "l2", "linf"];
}

impl core::fmt::Display for Order {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::L1 => "l1",
            Self::L2 => "l2",
            Self::LInf => "linf",
        })
    }
}

impl core::str::FromStr for Order {
    type Err = crate::error::UnknownName;
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        match s {
            "l1" | "1" => Ok(Self::L1),
            "l2" | "2" => Ok(Self::L2),
            "linf" | "inf" => Ok(Self::LInf),
            _ => Err(crate::error::UnknownName {
                kind: "norm order",
                valid: Self::NAMES,
            }),
        }
    }
}

/// The measure a norm integrates against.
///
/// # Definition
/// - `Uniform`: the counting measure on `(s, a, s')` (`np.linalg.norm` of the flattened tensor,
///   as `lucyfarnik/starc` computes it; *not* the mean-normalised norm of `evaluating-rewards`).
/// - `Transition`: `w(s, a, s') = τ(s, a, s')` (the STARC code's `weighted_p` norms).
/// - `Custom(w)`: caller weights, `(S, A, S')`, finite and `>= 0` (for example a distribution of
///   transitions).
///
/// Weights with zeros make a seminorm: entries of weight 0 are ignored. The STARC theory needs a
/// norm on the image of the canonicalisation; transition weights give one for the value and
/// minimal canonicalisations (whose canonical rewards vanish off the support of `τ` or do not depend
/// on `s'`) but not for EPIC's or DARD's.
///
/// # Shapes
/// `Custom`: `(S, A, S')`.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Norm, Order, Weights};
/// let n = Norm::<f64>::new(Order::L2, Weights::Transition);
/// assert_eq!(n.order, Order::L2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Weights<'a, F> {
    /// Counting measure.
    Uniform,
    /// `τ(s, a, s')`.
    Transition,
    /// Caller weights, `(S, A, S')`.
    Custom(&'a [F]),
}

/// A (possibly weighted) `Lp` norm on `(S, A, S')` reward tensors.
///
/// # Definition
/// `‖x‖_{p,w} = (Σ_{s,a,s'} w(s, a, s')·|x(s, a, s')|^p)^{1/p}` for `p ∈ {1, 2}` and
/// `‖x‖_{∞,w} = max_{w(s,a,s') > 0} |x(s, a, s')|` (the limit of the weighted `p`-norms; the STARC
/// code's `weighted_inf` is `max τ·|x|` instead, which is not that limit).
///
/// # Errors
/// Users return [`Error::LengthMismatch`], [`Error::NonFinite`] or [`Error::InvalidParam`] for
/// custom weights of the wrong length, non-finite or negative.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Norm, norm};
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// let mdp = Mdp::new(1, 1, Transitions::Dense(&[1.0f64]), &[1.0], 0.5)?;
/// assert_eq!(norm(&[-3.0], &mdp, &Norm::l1())?, 3.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), STARC, arXiv:2309.15257, §3 (norms `n` and metrics `m`);
/// `lucyfarnik/starc` `src/distance/norm.py`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Norm<'a, F> {
    /// `p`.
    pub order: Order,
    /// The measure.
    pub weights: Weights<'a, F>,
}

impl<'a, F: Real> Norm<'a, F> {
    /// A norm of the given order and weights.
    pub const fn new(order: Order, weights: Weights<'a, F>) -> Self {
        Self { order, weights }
    }

    /// Unweighted `L1`.
    pub const fn l1() -> Self {
        Self::new(Order::L1, Weights::Uniform)
    }

    /// Unweighted `L2`.
    pub const fn l2() -> Self {
        Self::new(Order::L2, Weights::Uniform)
    }

    /// Unweighted `L∞`.
    pub const fn linf() -> Self {
        Self::new(Order::LInf, Weights::Uniform)
    }

    /// Checks custom weights against `mdp`.
    pub(crate) fn validate(&self, mdp: &Mdp<'_, F>) -> Result<()> {
        if let Weights::Custom(w) = self.weights {
            ensure_len("weights", mdp.full_len(), w.len())?;
            ensure_finite("weights", w)?;
            if let Some(&x) = w.iter().find(|&&x| x < F::ZERO) {
                return Err(invalid("weights", x, "weights >= 0"));
            }
        }
        Ok(())
    }
}

impl<F: Real> Default for Norm<'_, F> {
    fn default() -> Self {
        Self::l2()
    }
}

/// Accumulates a weighted `Lp` norm in `f64`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NormAcc {
    order: Order,
    sum: f64,
    max: f64,
}

impl NormAcc {
    pub(crate) fn new(order: Order) -> Self {
        Self {
            order,
            sum: 0.0,
            max: 0.0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, x: f64, w: f64) {
        if w > 0.0 {
            match self.order {
                Order::L1 => self.sum += w * Float::abs(x),
                Order::L2 => self.sum += w * x * x,
                Order::LInf => self.max = self.max.max(Float::abs(x)),
            }
        }
    }

    pub(crate) fn finish(self) -> Result<f64> {
        let v = match self.order {
            Order::L1 => self.sum,
            Order::L2 => Float::sqrt(self.sum),
            Order::LInf => self.max,
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::Overflow { what: "norm" })
        }
    }
}

/// How a canonical reward is stored: which `(s, a, s')` each stored value stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "alloc"),
    expect(
        dead_code,
        reason = "only the canonicalisations (alloc) build PerSa/Support"
    )
)]
pub(crate) enum Layout {
    /// `(S, A, S')`.
    Full,
    /// `(S, A)`, constant in `s'`.
    PerSa,
    /// One value per stored entry of a sparse `τ`, zero elsewhere.
    Support,
}

/// Calls `f(index, weight)` for every stored value of a tensor in `layout`, where `weight` is the
/// total weight of the `(s, a, s')` it stands for (entries with zero weight may be skipped).
pub(crate) fn for_each_weighted<F: Real>(
    mdp: &Mdp<'_, F>,
    layout: Layout,
    weights: &Weights<'_, F>,
    mut f: impl FnMut(usize, f64),
) {
    let ns = mdp.n_states();
    match (layout, weights) {
        (Layout::Full, Weights::Uniform) => (0..mdp.full_len()).for_each(|i| f(i, 1.0)),
        (Layout::Full, Weights::Transition) => {
            for (i, row) in mdp.rows().enumerate() {
                row.for_each_nonzero(|j, p| f(i * ns + j, p));
            }
        }
        (Layout::Full, Weights::Custom(w)) => {
            for (i, x) in w.iter().enumerate() {
                f(i, x.as_f64());
            }
        }
        (Layout::PerSa, Weights::Uniform) => {
            (0..mdp.n_states() * mdp.n_actions()).for_each(|i| f(i, ns as f64));
        }
        (Layout::PerSa, Weights::Transition) => {
            for (i, row) in mdp.rows().enumerate() {
                f(i, row.sum());
            }
        }
        (Layout::PerSa, Weights::Custom(w)) => {
            for (i, chunk) in w.chunks_exact(ns.max(1)).enumerate() {
                f(i, chunk.iter().map(|x| x.as_f64()).sum());
            }
        }
        (Layout::Support, _) => {
            let mut e = 0usize;
            for (i, row) in mdp.rows().enumerate() {
                row.for_each(|j, p| {
                    let w = match weights {
                        Weights::Uniform => 1.0,
                        Weights::Transition => p,
                        Weights::Custom(w) => w.get(i * ns + j).map_or(0.0, |x| x.as_f64()),
                    };
                    f(e, w);
                    e += 1;
                });
            }
        }
    }
}

/// The norm of a full `(S, A, S')` tensor.
///
/// # Definition
/// See [`Norm`].
///
/// # Shapes
/// `x`: `(S, A, S')`.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::InvalidParam`] for bad custom
/// weights; [`Error::Overflow`] if the norm is not finite.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::{Norm, Order, Weights, norm};
/// use rewardkit_core::mdp::{Mdp, Transitions};
/// let tau = [0.25, 0.75, 0.0, 1.0f64];
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&tau), &[1.0, 0.0], 0.5)?;
/// let x = [2.0, -2.0, 5.0, 1.0];
/// assert_eq!(norm(&x, &mdp, &Norm::l1())?, 10.0);
/// // τ-weighted: 0.25·4 + 0.75·4 + 1·1 = 5.
/// assert_eq!(norm(&x, &mdp, &Norm::new(Order::L2, Weights::Transition))?, 5f64.sqrt());
/// // τ-weighted L∞ ignores the τ = 0 entry (5).
/// assert_eq!(norm(&x, &mdp, &Norm::new(Order::LInf, Weights::Transition))?, 2.0);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Skalse et al. (2024), STARC, arXiv:2309.15257, §3.
pub fn norm<F: Real>(x: &[F], mdp: &Mdp<'_, F>, norm: &Norm<'_, F>) -> Result<F> {
    ensure_len("x", mdp.full_len(), x.len())?;
    ensure_finite("x", x)?;
    norm.validate(mdp)?;
    let mut acc = NormAcc::new(norm.order);
    for_each_weighted(mdp, Layout::Full, &norm.weights, |i, w| {
        acc.push(x.get(i).map_or(0.0, |v| v.as_f64()), w);
    });
    Ok(F::lit(acc.finish()?))
}
