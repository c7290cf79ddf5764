//! Reward-model training baselines of the PAR study (Fu et al. 2025): ODIN's two-head loss (a
//! length head and a quality head, with the correlation and orthogonality terms) and WARM's weight
//! averaging. The `Reg` loss `−log σ(r_c − r_r) + λ(r_c² + r_r²)` is the Bradley–Terry loss with an
//! L2 term ([`BradleyTerry::with_l2`](super::BradleyTerry::with_l2)).

use num_traits::Float;

use crate::error::{Error, Result, ensure_finite, ensure_len, ensure_nonempty, param_nonneg};
use crate::real::{Real, usize_f64};
use crate::stats::{log_sigmoid, sigmoid};

/// ODIN's reward-model loss (Chen et al.[^1], as the PAR study trains it[^2]).
///
/// # Definition
/// Each response has a quality score `r^Q` and a length score `r^L` (two scalar heads); the
/// preference uses their sum. Over `P` pairs (`2P` responses, chosen first, with lengths `len`):
/// - `vanilla = (1/P)·Σ_p −log σ((r^Q_c + r^L_c) − (r^Q_r + r^L_r))`;
/// - `length = |ρ(r^Q, len)| − ρ(r^L, len)`, `ρ` the Pearson correlation over the `2P` responses:
///   the quality head must not correlate with length, the length head should;
/// - `orthogonal = ‖W_Q W_Lᵀ‖_F / (‖W_Q‖_F·‖W_L‖_F + ε)` of the two heads' weights, `ε = 1e-6`
///   ([`Odin::orthogonal`]).
///
/// The loss is `vanilla + λ_L·length + λ_O·orthogonal`, defaults `λ_L = λ_O = 1`
/// (`reward_odin_L`, `reward_odin_O`); RL then uses the quality head alone. **Degenerate
/// correlation**: where the lengths or a head's scores are all equal, `ρ` is 0/0 in the reference
/// (a NaN loss); rewardkit takes `ρ = 0` with zero gradient there. At `ρ_Q = 0` the gradient of
/// `|ρ_Q|` is 0 (torch's).
///
/// # Errors
/// [`Odin::new`]: [`Error::InvalidParam`] for a negative or non-finite coefficient.
///
/// # Examples
/// See [`Odin::loss`].
///
/// [^1]: Chen et al. (2024), *ODIN: Disentangled Reward Mitigates Hacking in RLHF*,
///     arXiv:2402.07319.
///
/// [^2]: Fu et al. (2025), *Reward Shaping to Mitigate Reward Hacking in RLHF*, arXiv:2502.18770
///     (`PorUna-byte/PAR`, `trainers/paired_trainer.py::RewardTrainerODIN`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Odin<F> {
    length_coef: F,
    orth_coef: F,
}

impl<F: Real> Default for Odin<F> {
    fn default() -> Self {
        Self {
            length_coef: F::ONE,
            orth_coef: F::ONE,
        }
    }
}

/// The values of [`Odin::loss`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OdinValue {
    /// `vanilla`: the mean Bradley–Terry loss of the summed heads.
    pub vanilla: f64,
    /// `length = |ρ(r^Q, len)| − ρ(r^L, len)` (unweighted).
    pub length: f64,
    /// `vanilla + λ_L·length`, the value whose gradient was written.
    pub total: f64,
}

/// The Pearson correlation of scores `x` with lengths `y` and what its gradient needs.
struct Corr {
    rho: f64,
    mx: f64,
    my: f64,
    sxx: f64,
    denom: f64,
}

impl Corr {
    /// `ρ = Sxy/√(SxxSyy)` over centred sums (two passes in `f64`); `ρ = 0` for a constant `x` or
    /// `y` (the reference's 0/0).
    fn new<F: Real>(x: &[F], y: &[u32]) -> Self {
        let n = usize_f64(x.len());
        let mx = x.iter().map(|v| v.as_f64()).sum::<f64>() / n;
        let my = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let (mut sxx, mut syy, mut sxy) = (0.0f64, 0.0f64, 0.0f64);
        for (a, &b) in x.iter().zip(y) {
            let (dx, dy) = (a.as_f64() - mx, f64::from(b) - my);
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
        let denom = Float::sqrt(sxx * syy);
        let rho = if sxx == 0.0 || syy == 0.0 {
            0.0
        } else {
            (sxy / denom).clamp(-1.0, 1.0)
        };
        Self {
            rho,
            mx,
            my,
            sxx,
            denom,
        }
    }

    /// `∂ρ/∂xᵢ = ỹᵢ/√(SxxSyy) − ρ·x̃ᵢ/Sxx` (0 in the degenerate case).
    fn grad(&self, x: f64, y: f64) -> f64 {
        if self.sxx == 0.0 || self.denom == 0.0 {
            0.0
        } else {
            (y - self.my) / self.denom - self.rho * (x - self.mx) / self.sxx
        }
    }
}

impl<F: Real> Odin<F> {
    /// Coefficients `λ_L, λ_O >= 0`.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(length_coef: F, orth_coef: F) -> Result<Self> {
        Ok(Self {
            length_coef: param_nonneg("reward_odin_L", length_coef)?,
            orth_coef: param_nonneg("reward_odin_O", orth_coef)?,
        })
    }

    /// The score part of the loss, `vanilla + λ_L·length`, with its gradient with respect to both
    /// heads' scores.
    ///
    /// # Shapes
    /// `grad_quality`, `grad_length`, `quality`, `length_head`, `lengths`: `(2P)`, the `P` chosen
    /// responses first, then the `P` rejected ones (the reference's `concatenated_inputs`).
    ///
    /// # Errors
    /// [`Error::Empty`] for no responses; [`Error::BadShape`] for an odd count;
    /// [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ scores; [`Error::Overflow`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::loss::Odin;
    /// // One pair: chosen (q, l) = (1, 0), rejected (0, 1); lengths 10 and 20.
    /// let (mut gq, mut gl) = ([0.0f64; 2], [0.0f64; 2]);
    /// let v = Odin::default().loss(&mut gq, &mut gl, &[1.0, 0.0], &[0.0, 1.0], &[10, 20])?;
    /// // Margin 0: ln 2. ρ(q, len) = −1, ρ(l, len) = 1: length = 1 − 1 = 0.
    /// assert!((v.vanilla - 2f64.ln()).abs() < 1e-15);
    /// assert_eq!(v.length, 0.0);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn loss(
        &self,
        grad_quality: &mut [F],
        grad_length: &mut [F],
        quality: &[F],
        length_head: &[F],
        lengths: &[u32],
    ) -> Result<OdinValue> {
        let n = quality.len();
        ensure_nonempty("quality", n)?;
        if n % 2 != 0 {
            return Err(Error::BadShape {
                what: "quality",
                len: n,
                dim: 2,
            });
        }
        ensure_len("length_head", n, length_head.len())?;
        ensure_len("lengths", n, lengths.len())?;
        ensure_len("grad_quality", n, grad_quality.len())?;
        ensure_len("grad_length", n, grad_length.len())?;
        ensure_finite("quality", quality)?;
        ensure_finite("length_head", length_head)?;
        let p = n / 2;
        let inv_p = 1.0 / usize_f64(p);
        let lam = self.length_coef.as_f64();
        let cq = Corr::new(quality, lengths);
        let cl = Corr::new(length_head, lengths);
        // length = |ρ_Q| − ρ_L; ∂|ρ|/∂ρ = sign(ρ) (0 at 0).
        let length = cq.rho.abs() - cl.rho;
        let sign_q = if cq.rho > 0.0 {
            1.0
        } else if cq.rho < 0.0 {
            -1.0
        } else {
            0.0
        };
        let mut vanilla = 0.0f64;
        for i in 0..n {
            // The pair of response i and its sign in the margin m = (q_c + l_c) − (q_r + l_r).
            let (k, sign) = if i < p { (i, 1.0) } else { (i - p, -1.0) };
            let at = |x: &[F], j: usize| x.get(j).map_or(0.0, |v| v.as_f64());
            let m = (at(quality, k) + at(length_head, k))
                - (at(quality, k + p) + at(length_head, k + p));
            if i < p {
                vanilla -= log_sigmoid(m);
            }
            let dv = -sigmoid(-m) * inv_p * sign;
            let (y, xq, xl) = (
                lengths.get(i).map_or(0.0, |&v| f64::from(v)),
                at(quality, i),
                at(length_head, i),
            );
            if let Some(g) = grad_quality.get_mut(i) {
                *g = F::lit(dv + lam * sign_q * cq.grad(xq, y));
            }
            if let Some(g) = grad_length.get_mut(i) {
                *g = F::lit(dv - lam * cl.grad(xl, y));
            }
        }
        vanilla /= usize_f64(p);
        let total = vanilla + lam * length;
        if !total.is_finite() {
            return Err(Error::Overflow { what: "ODIN loss" });
        }
        crate::error::ensure_output("ODIN gradient", grad_quality)?;
        crate::error::ensure_output("ODIN gradient", grad_length)?;
        Ok(OdinValue {
            vanilla,
            length,
            total,
        })
    }

    /// The orthogonality term `λ_O·‖W_Q W_Lᵀ‖_F / (‖W_Q‖_F·‖W_L‖_F + ε)`, `ε = 1e-6`, with its
    /// gradient with respect to both heads' weights (the reference's `orthogonal`).
    ///
    /// # Definition
    /// `M = W_Q W_Lᵀ` (`h × k`), `o = ‖M‖_F/D`, `D = ‖W_Q‖_F‖W_L‖_F + ε`;
    /// `∂o/∂W_Q = M W_L/(‖M‖_F·D) − o·‖W_L‖_F·W_Q/(‖W_Q‖_F·D)` (and symmetrically for `W_L`); a
    /// zero norm contributes zero gradient (torch's convention). For scalar heads (`h = k = 1`) `o`
    /// is the absolute cosine of the two weight vectors (up to `ε`). A head without rows gives 0
    /// (the reference's guard).
    ///
    /// # Shapes
    /// `grad_q`, `w_q`: `(h, d)`; `grad_l`, `w_l`: `(k, d)`, row-major.
    ///
    /// # Errors
    /// [`Error::BadShape`] for `d = 0` or a length that is not a multiple of `d`;
    /// [`Error::LengthMismatch`] for a gradient buffer; [`Error::NonFinite`]; [`Error::Overflow`].
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::loss::Odin;
    /// let (mut gq, mut gl) = ([0.0f64; 2], [0.0f64; 2]);
    /// // Orthogonal heads: 0; gradient pushes nothing.
    /// let o = Odin::default().orthogonal(&mut gq, &mut gl, &[1.0, 0.0], &[0.0, 2.0], 2)?;
    /// assert_eq!(o, 0.0);
    /// // Parallel heads: |cos| = 1, up to ε.
    /// let o = Odin::default().orthogonal(&mut gq, &mut gl, &[1.0, 0.0], &[3.0, 0.0], 2)?;
    /// assert!((o - 3.0 / (3.0 + 1e-6)).abs() < 1e-15);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn orthogonal(
        &self,
        grad_q: &mut [F],
        grad_l: &mut [F],
        w_q: &[F],
        w_l: &[F],
        dim: usize,
    ) -> Result<f64> {
        for (what, w) in [("w_q", w_q), ("w_l", w_l)] {
            if dim == 0 || w.len() % dim != 0 {
                return Err(Error::BadShape {
                    what,
                    len: w.len(),
                    dim,
                });
            }
        }
        ensure_len("grad_q", w_q.len(), grad_q.len())?;
        ensure_len("grad_l", w_l.len(), grad_l.len())?;
        ensure_finite("w_q", w_q)?;
        ensure_finite("w_l", w_l)?;
        grad_q.iter_mut().for_each(|g| *g = F::ZERO);
        grad_l.iter_mut().for_each(|g| *g = F::ZERO);
        if w_q.is_empty() || w_l.is_empty() {
            return Ok(0.0);
        }
        const EPS: f64 = 1e-6;
        let dot = |a: &[F], b: &[F]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.as_f64() * y.as_f64())
                .sum::<f64>()
        };
        let norm = |a: &[F]| -> f64 { Float::sqrt(dot(a, a)) };
        let (na, nb) = (norm(w_q), norm(w_l));
        let mut m2 = 0.0f64;
        for a in w_q.chunks_exact(dim) {
            for b in w_l.chunks_exact(dim) {
                let v = dot(a, b);
                m2 += v * v;
            }
        }
        let nm = Float::sqrt(m2);
        let d = na * nb + EPS;
        let o = nm / d;
        let lam = self.orth_coef.as_f64();
        // ∂o/∂A = (M B)/(‖M‖·D) − o·‖B‖·A/(‖A‖·D), and symmetrically. The dots of a row of A
        // with the rows of B are computed once per row, in blocks of 32 rows of B; a second block
        // (heads of more than 32 rows) is added to the rounded value of the first.
        let side = |grad: &mut [F], a: &[F], b: &[F], na: f64, nb: f64| {
            let mut dots = [0.0f64; 32];
            for (ga, ra) in grad.chunks_exact_mut(dim).zip(a.chunks_exact(dim)) {
                for (blk, block) in b.chunks(32 * dim).enumerate() {
                    let rows = block.chunks_exact(dim);
                    for (dd, rb) in dots.iter_mut().zip(rows.clone()) {
                        *dd = dot(ra, rb);
                    }
                    for (j, g) in ga.iter_mut().enumerate() {
                        let mut v = 0.0f64;
                        if nm > 0.0 {
                            let mb: f64 = dots
                                .iter()
                                .zip(rows.clone())
                                .map(|(dd, rb)| dd * rb.get(j).map_or(0.0, |x| x.as_f64()))
                                .sum();
                            v += mb / (nm * d);
                        }
                        if blk == 0 {
                            if na > 0.0 {
                                v -= o * nb * ra.get(j).map_or(0.0, |x| x.as_f64()) / (na * d);
                            }
                            *g = F::lit(lam * v);
                        } else {
                            *g = F::lit(g.as_f64() + lam * v);
                        }
                    }
                }
            }
        };
        side(grad_q, w_q, w_l, na, nb);
        side(grad_l, w_l, w_q, nb, na);
        let value = lam * o;
        if !value.is_finite() {
            return Err(Error::Overflow {
                what: "ODIN orthogonality",
            });
        }
        crate::error::ensure_output("ODIN orthogonality gradient", grad_q)?;
        crate::error::ensure_output("ODIN orthogonality gradient", grad_l)?;
        Ok(value)
    }
}

/// WARM's weight averaging (Ramé et al.[^1]): the element-wise mean of `M` reward models'
/// parameter vectors, as the PAR study merges its five reward models[^2].
///
/// # Definition
/// `out_n = (1/M)·Σ_m θ_{m,n}`, summed in `f64` (the reference averages `bfloat16` tensors with
/// `torch.mean`) and rounded once.
///
/// # Shapes
/// `out`: `(N)`; `models`: `M` slices of `N` parameters each (flatten each model in one order).
///
/// # Errors
/// [`Error::Empty`] for no models (the reference raises); [`Error::LengthMismatch`] for a model of
/// another size; [`Error::NonFinite`] for a NaN/∞ parameter.
///
/// # Examples
/// ```
/// use rewardkit_core::loss::warm_average;
/// let (a, b, c) = ([1.0f32, -2.0], [3.0f32, 0.0], [2.0f32, 5.0]);
/// let mut merged = [0.0f32; 2];
/// warm_average(&mut merged, &[&a, &b, &c])?;
/// assert_eq!(merged, [2.0, 1.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// [^1]: Ramé et al. (2024), *WARM: On the Benefits of Weight Averaged Reward Models*,
///     arXiv:2401.12187.
///
/// [^2]: `PorUna-byte/PAR`, `utils/model_merge.py` (`ModelMerger.merge_models`).
pub fn warm_average<F: Real>(out: &mut [F], models: &[&[F]]) -> Result<()> {
    ensure_nonempty("models", models.len())?;
    for m in models {
        ensure_len("models", out.len(), m.len())?;
        ensure_finite("models", m)?;
    }
    let count = usize_f64(models.len());
    for (n, o) in out.iter_mut().enumerate() {
        let at = |m: &&[F]| m.get(n).map_or(0.0, |x| x.as_f64());
        let sum: f64 = models.iter().map(at).sum();
        // A sum beyond f64 (parameters near f64::MAX) is averaged term by term instead.
        let mean = if sum.is_finite() {
            sum / count
        } else {
            models.iter().map(|m| at(m) / count).sum()
        };
        *o = F::lit(mean);
    }
    Ok(())
}
