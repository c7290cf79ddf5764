//! DARD: the Pearson distance between dynamics-aware canonical rewards.

use alloc::vec::Vec;

use super::canon::{Coverage, dard_parts, zero_tol};
use super::pearson::{Pairs, pearson_pairs};
use crate::error::Result;
use crate::mdp::{Mdp, Reward};
use crate::real::Real;

/// Which transitions DARD's Pearson correlation is taken over.
///
/// # Definition
/// - `Dynamics` (default): `D_S(s)·D_A(a)·τ(s, a, s')`, transitions the environment can produce
///   (DARD's point: compare rewards in distribution).
/// - `Coverage`: `D_S(s)·D_A(a)·D_S(s')`, as EPIC does.
///
/// # Examples
/// ```
/// use rewardkit_core::distance::DardWeights;
/// assert_eq!(DardWeights::default(), DardWeights::Dynamics);
/// ```
///
/// Citation: Wulfe et al. (2022), DARD, arXiv:2201.10081, §4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DardWeights {
    /// `D_S(s)·D_A(a)·τ(s, a, s')`.
    #[default]
    Dynamics,
    /// `D_S(s)·D_A(a)·D_S(s')`.
    Coverage,
}

struct DardPairs<'r, F> {
    mdp: Mdp<'r, F>,
    ra: Reward<'r, F>,
    rb: Reward<'r, F>,
    phi: (Vec<f64>, Vec<f64>),
    t: (Vec<f64>, Vec<f64>),
    ds: Vec<f64>,
    da: Vec<f64>,
    weights: DardWeights,
}

impl<F: Real> Pairs for DardPairs<'_, F> {
    fn visit(&self, mut f: impl FnMut(f64, f64, f64)) {
        let (ns, na) = (self.mdp.n_states(), self.mdp.n_actions());
        let g = self.mdp.gamma().as_f64();
        let (pa, pb) = (&self.phi.0, &self.phi.1);
        for (s, &wsv) in self.ds.iter().enumerate() {
            let (ta, tb) = (
                self.t.0.get(s * ns..(s + 1) * ns).unwrap_or(&[]),
                self.t.1.get(s * ns..(s + 1) * ns).unwrap_or(&[]),
            );
            let off_a = -pa.get(s).copied().unwrap_or(0.0);
            let off_b = -pb.get(s).copied().unwrap_or(0.0);
            for (a, &wav) in self.da.iter().enumerate() {
                let wsa = wsv * wav;
                if wsa == 0.0 {
                    continue;
                }
                let (rowa, rowb) = (self.ra.row(s, a, ns, na), self.rb.row(s, a, ns, na));
                let mut emit = |j: usize, w: f64| {
                    let get = |v: &[f64]| v.get(j).copied().unwrap_or(0.0);
                    f(
                        rowa.at(j) + g * get(pa) + off_a - g * get(ta),
                        rowb.at(j) + g * get(pb) + off_b - g * get(tb),
                        w,
                    );
                };
                match self.weights {
                    DardWeights::Dynamics => {
                        self.mdp.row(s, a).for_each_nonzero(|j, p| emit(j, wsa * p));
                    }
                    DardWeights::Coverage => {
                        for (j, &wn) in self.ds.iter().enumerate() {
                            emit(j, wsa * wn);
                        }
                    }
                }
            }
        }
    }
}

/// DARD: the Pearson distance between dynamics-aware canonicalised rewards.
///
/// # Definition
/// `D_DARD(R_A, R_B) = D_ρ(C_τ(R_A), C_τ(R_B))` with `C_τ` the DARD transformation
/// ([`crate::distance::Canonicalization::Dard`]) and the Pearson distance taken under
/// [`DardWeights`] (default: transitions from the dynamics). Time `O(A·S·(nnz_row·S + S·nnz_row))`
/// (two products with `τ` per action), memory `O(S²)`.
///
/// # Range and invariances
/// `D_DARD ∈ [0, 1]`; a pseudometric; 0 between a reward and any positive scaling or potential
/// shaping of it; 1 between a reward and its negation. Not invariant to S'-redistribution (its
/// last term evaluates `R(S₁, A, S₂)` on pairs that need not be transitions).
///
/// # Errors
/// As [`crate::distance::Epic`].
///
/// # Examples
/// ```
/// use rewardkit_core::distance::Dard;
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// let tau = [0.5, 0.5, 1.0, 0.0, 0.0, 1.0, 0.3, 0.7f64];
/// let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.9)?;
/// let r = [1.0, 0.0, 0.5, 2.0];
/// let twice = [2.0, 0.0, 1.0, 4.0];
/// let d = Dard::default().distance(&mdp, &Reward::StateAction(&r), &Reward::StateAction(&twice))?;
/// assert!(d < 1e-7);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Wulfe et al. (2022), *Dynamics-Aware Comparison of Learned Reward Functions*, ICLR,
/// arXiv:2201.10081, Eq. 3–4; `lucyfarnik/starc` `src/distance/canon/dard.py`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dard<'a, F> {
    /// `D_S` and `D_A`.
    pub coverage: Coverage<'a, F>,
    /// The transitions of the Pearson correlation.
    pub weights: DardWeights,
}

impl<'a, F: Real> Dard<'a, F> {
    /// DARD under the given coverage and Pearson weights.
    pub fn new(coverage: Coverage<'a, F>, weights: DardWeights) -> Self {
        Self { coverage, weights }
    }

    /// `D_DARD(R_A, R_B)`.
    ///
    /// # Errors
    /// As listed on [`Dard`].
    pub fn distance(
        &self,
        mdp: &Mdp<'_, F>,
        reward_a: &Reward<'_, F>,
        reward_b: &Reward<'_, F>,
    ) -> Result<F> {
        let max_a = reward_a.validate_max("reward_a", mdp)?;
        let max_b = reward_b.validate_max("reward_b", mdp)?;
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let (ds, da) = self.coverage.resolve(ns, na)?;
        let (phi_a, t_a) = dard_parts(mdp, reward_a, &da)?;
        let (phi_b, t_b) = dard_parts(mdp, reward_b, &da)?;
        let g = mdp.gamma().as_f64();
        let tol = (
            zero_tol::<F>(max_a, g, false),
            zero_tol::<F>(max_b, g, false),
        );
        let src = DardPairs {
            mdp: *mdp,
            ra: *reward_a,
            rb: *reward_b,
            phi: (phi_a, phi_b),
            t: (t_a, t_b),
            ds,
            da,
            weights: self.weights,
        };
        Ok(F::lit(pearson_pairs(&src, ("reward_a", "reward_b"), tol)?))
    }
}
