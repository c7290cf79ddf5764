//! EPIC, computed exactly in streaming passes (no `(S, A, S')` buffer).

use alloc::vec::Vec;

use super::canon::{Coverage, epic_potential, zero_tol};
use super::pearson::{Pairs, pearson_pairs};
use crate::error::Result;
use crate::mdp::{Mdp, Reward, RewardRow};
use crate::real::Real;

/// EPIC's canonical pairs over `(s, a, s')` with weights `D_S(s)·D_A(a)·D_S(s')`.
struct EpicPairs<'r, F> {
    ra: Reward<'r, F>,
    rb: Reward<'r, F>,
    phi_a: Vec<f64>,
    phi_b: Vec<f64>,
    base: (f64, f64),
    ds: Vec<f64>,
    da: Vec<f64>,
    gamma: f64,
    shape: (usize, usize),
}

impl<F: Real> Pairs for EpicPairs<'_, F> {
    fn visit(&self, mut f: impl FnMut(f64, f64, f64)) {
        let (ns, na) = self.shape;
        let g = self.gamma;
        for (s, &wsv) in self.ds.iter().enumerate() {
            let off_a = -self.phi_a.get(s).copied().unwrap_or(0.0) - self.base.0;
            let off_b = -self.phi_b.get(s).copied().unwrap_or(0.0) - self.base.1;
            for (a, &wav) in self.da.iter().enumerate() {
                let wsa = wsv * wav;
                if wsa == 0.0 {
                    continue;
                }
                let it = self.ds.iter().zip(self.phi_a.iter().zip(&self.phi_b));
                match (self.ra.row(s, a, ns, na), self.rb.row(s, a, ns, na)) {
                    (RewardRow::Slice(xa), RewardRow::Slice(xb)) => {
                        for ((&wn, (&pa, &pb)), (ya, yb)) in it.zip(xa.iter().zip(xb)) {
                            f(
                                ya.as_f64() + g * pa + off_a,
                                yb.as_f64() + g * pb + off_b,
                                wsa * wn,
                            );
                        }
                    }
                    (rowa, rowb) => {
                        for (j, (&wn, (&pa, &pb))) in it.enumerate() {
                            f(
                                rowa.at(j) + g * pa + off_a,
                                rowb.at(j) + g * pb + off_b,
                                wsa * wn,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// EPIC: the Pearson distance between EPIC-canonicalised rewards.
///
/// # Definition
/// `D_EPIC(R_A, R_B) = D_ρ(C(R_A), C(R_B))` under `D_S(s)·D_A(a)·D_S(s')`, with `C` EPIC's canonical
/// shaping ([`crate::distance::Canonicalization::Epic`]) and `D_ρ` the Pearson distance
/// ([`crate::distance::pearson_distance`]). Computed in three streaming passes over `(s, a, s')` plus one for the
/// potentials: `O(S²A)` time, `O(S + A)` memory.
///
/// # Range and invariances
/// `D_EPIC ∈ [0, 1]`; a pseudometric; 0 between a reward and any positive scaling or potential
/// shaping of it (any `D_S`, `D_A`); 1 between a reward and its negation. It ignores the
/// transition kernel, so it is **not** invariant to S'-redistribution (the STARC paper's
/// criticism): rewards that differ only on impossible transitions can be far apart.
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NonFinite`]; [`Error::InvalidParam`] for invalid coverage
/// distributions, or when a canonical reward has zero variance (standard deviation at most
/// `64·ε_F·max|R|`: a constant or potential-shaping reward), `name = "reward_a"` or `"reward_b"`;
/// [`Error::Overflow`].
///
/// # Examples
/// ```
/// use rewardkit_core::distance::Epic;
/// use rewardkit_core::mdp::{Mdp, Reward, Transitions};
/// let tau = [1.0, 0.0, 0.0, 1.0f64];
/// let mdp = Mdp::new(2, 1, Transitions::Dense(&tau), &[1.0, 0.0], 0.9)?;
/// let r = [1.0, 0.0, 0.0, 0.0f64];
/// let neg = [-1.0, 0.0, 0.0, 0.0];
/// let d = Epic::default().distance(&mdp, &Reward::Full(&r), &Reward::Full(&neg))?;
/// assert!((d - 1.0).abs() < 1e-15);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Gleave et al. (2021), *Quantifying Differences in Reward Functions*, ICLR,
/// arXiv:2006.13900, Def. 4.2–4.4; `evaluating-rewards` `distances/tabular.py`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Epic<'a, F> {
    /// `D_S` and `D_A`.
    pub coverage: Coverage<'a, F>,
}

impl<'a, F: Real> Epic<'a, F> {
    /// EPIC under the given coverage distributions.
    pub fn new(coverage: Coverage<'a, F>) -> Self {
        Self { coverage }
    }

    /// `D_EPIC(R_A, R_B)`.
    ///
    /// # Errors
    /// As listed on [`Epic`].
    pub fn distance(
        &self,
        mdp: &Mdp<'_, F>,
        reward_a: &Reward<'_, F>,
        reward_b: &Reward<'_, F>,
    ) -> Result<F> {
        reward_a.validate("reward_a", mdp)?;
        reward_b.validate("reward_b", mdp)?;
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let (ds, da) = self.coverage.resolve(ns, na)?;
        let g = mdp.gamma().as_f64();
        let (phi_a, ca) = epic_potential(mdp, reward_a, &ds, &da);
        let (phi_b, cb) = epic_potential(mdp, reward_b, &ds, &da);
        let src = EpicPairs {
            ra: *reward_a,
            rb: *reward_b,
            phi_a,
            phi_b,
            base: (g * ca, g * cb),
            ds,
            da,
            gamma: g,
            shape: (ns, na),
        };
        let tol = (
            zero_tol::<F>(reward_a.max_abs(), g, false),
            zero_tol::<F>(reward_b.max_abs(), g, false),
        );
        Ok(F::lit(pearson_pairs(&src, ("reward_a", "reward_b"), tol)?))
    }
}
