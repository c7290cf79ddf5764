//! EPIC, computed exactly in streaming passes (no `(S, A, S')` buffer).

use num_traits::Float;

use alloc::vec::Vec;

use super::canon::{Coverage, epic_potential_checked, zero_tol};
use super::pearson::zero_variance;
use crate::error::{Error, Result};
use crate::mdp::{Mdp, Reward, RewardRow};
use crate::real::Real;

/// Weighted moments of the canonical pair `(x, y)` (one accumulator lane).
#[derive(Clone, Copy, Debug, Default)]
struct Moments {
    w: f64,
    x: f64,
    y: f64,
    xx: f64,
    yy: f64,
}

impl Moments {
    #[inline(always)]
    fn push(&mut self, x: f64, y: f64, d: f64) {
        self.w += d;
        self.x += d * x;
        self.y += d * y;
        self.xx += d * x * x;
        self.yy += d * y * y;
    }

    #[inline(always)]
    fn add_scaled(&mut self, o: &Self, k: f64) {
        self.w += k * o.w;
        self.x += k * o.x;
        self.y += k * o.y;
        self.xx += k * o.xx;
        self.yy += k * o.yy;
    }
}

/// The canonical values of one `(s, a)` row: `x_j = R_A(s, a, j) + γΦ_A(j) + off_A`, likewise `y`,
/// with next-state weights `D_S(j)`; calls `lane(k, x, y, d)` for `j` in lanes `k = j mod 4`.
#[inline(always)]
fn for_row<F: Real>(
    rows: (RewardRow<'_, F>, RewardRow<'_, F>),
    phi: (&[f64], &[f64]),
    ds: &[f64],
    g: f64,
    off: (f64, f64),
    mut lane: impl FnMut(usize, f64, f64, f64),
) {
    match rows {
        (RewardRow::Slice(xa), RewardRow::Slice(xb)) => {
            let chunks = xa
                .chunks_exact(4)
                .zip(xb.chunks_exact(4))
                .zip(phi.0.chunks_exact(4).zip(phi.1.chunks_exact(4)))
                .zip(ds.chunks_exact(4));
            for (((ca, cb), (qa, qb)), cd) in chunks {
                let vals = ca.iter().zip(cb).zip(qa.iter().zip(qb)).zip(cd);
                for (k, ((ya, yb), (pa, pb)), d) in vals.enumerate().map(|(k, (v, d))| (k, v, d)) {
                    lane(
                        k,
                        ya.as_f64() + g * pa + off.0,
                        yb.as_f64() + g * pb + off.1,
                        *d,
                    );
                }
            }
            let n4 = xa.len().min(xb.len()) / 4 * 4;
            let tail = xa
                .get(n4..)
                .unwrap_or(&[])
                .iter()
                .zip(xb.get(n4..).unwrap_or(&[]))
                .zip(
                    phi.0
                        .get(n4..)
                        .unwrap_or(&[])
                        .iter()
                        .zip(phi.1.get(n4..).unwrap_or(&[])),
                )
                .zip(ds.get(n4..).unwrap_or(&[]));
            for (((ya, yb), (pa, pb)), d) in tail {
                lane(
                    0,
                    ya.as_f64() + g * pa + off.0,
                    yb.as_f64() + g * pb + off.1,
                    *d,
                );
            }
        }
        (ra, rb) => {
            for (j, ((pa, pb), d)) in phi.0.iter().zip(phi.1).zip(ds).enumerate() {
                lane(
                    j % 4,
                    ra.at(j) + g * pa + off.0,
                    rb.at(j) + g * pb + off.1,
                    *d,
                );
            }
        }
    }
}

/// Exact EPIC in two streaming passes over `(s, a, s')` (moments, then the standardised
/// difference), four accumulator lanes per row. EPIC's canonical rewards have mean exactly 0 under
/// the product coverage, so the one-pass moments `E[x²] − E[x]²` lose no accuracy.
type Potential = (Vec<f64>, f64, f64);

fn epic_two_pass<F: Real>(
    mdp: &Mdp<'_, F>,
    rewards: (&Reward<'_, F>, &Reward<'_, F>),
    potentials: (Potential, Potential),
    ds: &[f64],
    da: &[f64],
    tol: (f64, f64),
) -> Result<f64> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let g = mdp.gamma().as_f64();
    let ((phi_a, ca, _), (phi_b, cb, _)) = potentials;
    let offsets = |s: usize| {
        (
            -phi_a.get(s).copied().unwrap_or(0.0) - g * ca,
            -phi_b.get(s).copied().unwrap_or(0.0) - g * cb,
        )
    };
    let rows = |s: usize, a: usize| (rewards.0.row(s, a, ns, na), rewards.1.row(s, a, ns, na));
    let phi = (phi_a.as_slice(), phi_b.as_slice());
    let mut total = Moments::default();
    for (s, &ws) in ds.iter().enumerate() {
        for (a, &wa) in da.iter().enumerate() {
            let wsa = ws * wa;
            if wsa == 0.0 {
                continue;
            }
            let mut lanes = [Moments::default(); 4];
            for_row(rows(s, a), phi, ds, g, offsets(s), |k, x, y, d| {
                if let Some(m) = lanes.get_mut(k) {
                    m.push(x, y, d);
                }
            });
            for m in &lanes {
                total.add_scaled(m, wsa);
            }
        }
    }
    let w = total.w;
    if w.is_nan() || w <= 0.0 || w.is_infinite() {
        return Err(Error::InvalidParam {
            name: "coverage",
            value: w,
            expected: "coverage weights with a positive, finite sum",
        });
    }
    let (mx, my) = (total.x / w, total.y / w);
    let sdx = Float::sqrt((total.xx / w - mx * mx).max(0.0));
    let sdy = Float::sqrt((total.yy / w - my * my).max(0.0));
    if !(sdx.is_finite() && sdy.is_finite() && mx.is_finite() && my.is_finite()) {
        return Err(Error::Overflow {
            what: "Pearson moments",
        });
    }
    if sdx <= tol.0 {
        return Err(zero_variance("reward_a", sdx));
    }
    if sdy <= tol.1 {
        return Err(zero_variance("reward_b", sdy));
    }
    let (ix, iy) = (1.0 / sdx, 1.0 / sdy);
    let mut d2 = 0.0f64;
    for (s, &ws) in ds.iter().enumerate() {
        for (a, &wa) in da.iter().enumerate() {
            let wsa = ws * wa;
            if wsa == 0.0 {
                continue;
            }
            let mut lanes = [0.0f64; 4];
            for_row(rows(s, a), phi, ds, g, offsets(s), |k, x, y, d| {
                let e = (x - mx) * ix - (y - my) * iy;
                if let Some(l) = lanes.get_mut(k) {
                    *l += d * e * e;
                }
            });
            let [l0, l1, l2, l3] = lanes;
            d2 += wsa * ((l0 + l1) + (l2 + l3));
        }
    }
    Ok((0.5 * Float::sqrt(d2 / w)).min(1.0))
}

/// EPIC: the Pearson distance between EPIC-canonicalised rewards.
///
/// # Definition
/// `D_EPIC(R_A, R_B) = D_ρ(C(R_A), C(R_B))` under `D_S(s)·D_A(a)·D_S(s')`, with `C` EPIC's canonical
/// shaping ([`crate::distance::Canonicalization::Epic`]) and `D_ρ` the Pearson distance
/// ([`crate::distance::pearson_distance`]). Computed in two streaming passes over `(s, a, s')`
/// (moments, then the standardised difference) plus one for the potentials: `O(S²A)` time,
/// `O(S + A)` memory.
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
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let (ds, da) = self.coverage.resolve(ns, na)?;
        let g = mdp.gamma().as_f64();
        let pot_a = epic_potential_checked(mdp, reward_a, "reward_a", &ds, &da)?;
        let pot_b = epic_potential_checked(mdp, reward_b, "reward_b", &ds, &da)?;
        let tol = (
            zero_tol::<F>(pot_a.2, g, false),
            zero_tol::<F>(pot_b.2, g, false),
        );
        let d = epic_two_pass(mdp, (reward_a, reward_b), (pot_a, pot_b), &ds, &da, tol)?;
        Ok(F::lit(d))
    }
}
