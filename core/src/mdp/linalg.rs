//! A small dense LU factorisation with partial pivoting, in `f64`, for the linear systems of exact
//! policy evaluation (`(I − γP_π)V = r_π`), the minimal canonicalisation's normal equations and
//! the regret-model gradient. No allocation: the caller owns the matrix and the pivot buffer.
//!
//! # Definition
//! [`lu_factor`] overwrites a row-major `n × n` matrix `A` with `L` (unit lower triangle, below the
//! diagonal) and `U` (upper triangle, diagonal included) such that `P·A = L·U`, where `P` applies
//! the row swaps recorded in `piv` (at step `k`, rows `k` and `piv[k]` were exchanged). The pivot of
//! each column is the entry of largest magnitude on or below the diagonal (partial pivoting;
//! Golub and Van Loan, *Matrix Computations*, 4th ed., Alg. 3.4.1).
//!
//! # Singular matrices
//! A column whose largest candidate pivot is 0, not finite, or at most `n·ε·max|A|` (numerically
//! singular) stops the factorisation with [`Error::InvalidParam`] (`name = "matrix"`, `value` = the
//! pivot's magnitude). `I − γP` with `γ < 1` and a stochastic `P` is strictly diagonally dominant
//! and never triggers this.

use num_traits::Float;

use crate::error::{Error, Result, ensure_len};
use crate::mdp::checked_size;

fn singular(value: f64) -> Error {
    Error::InvalidParam {
        name: "matrix",
        value,
        expected: "a nonsingular matrix (LU pivot is zero or below n·ε·max|A|)",
    }
}

fn check_square(what: &'static str, len: usize, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Empty { what });
    }
    ensure_len(what, checked_size(what, n, n)?, len)
}

/// Factorises `A = Pᵀ·L·U` in place (partial pivoting).
///
/// # Definition
/// See the [module docs](self): on return `a` holds `L` strictly below the diagonal (unit diagonal
/// implied) and `U` on and above it; `piv[k]` is the row swapped with row `k` at step `k`.
///
/// # Shapes
/// `a`: `(n, n)` row-major; `piv`: `(n)`.
///
/// # Errors
/// [`Error::Empty`] for `n = 0`; [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ in
/// `a`; [`Error::InvalidParam`] (`"matrix"`) for a singular matrix.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::linalg::{lu_factor, lu_solve};
/// let mut a = [0.0, 2.0, 1.0, 1.0f64]; // needs a row swap
/// let mut piv = [0usize; 2];
/// lu_factor(&mut a, &mut piv, 2)?;
/// let mut b = [4.0, 3.0f64]; // x = (1, 2)
/// lu_solve(&a, &piv, &mut b, 2)?;
/// assert_eq!(b, [1.0, 2.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Golub and Van Loan (2013), *Matrix Computations*, 4th ed., §3.4.
pub fn lu_factor(a: &mut [f64], piv: &mut [usize], n: usize) -> Result<()> {
    check_square("matrix", a.len(), n)?;
    ensure_len("piv", n, piv.len())?;
    crate::error::ensure_finite("matrix", a)?;
    let amax = a.iter().fold(0.0f64, |m, x| m.max(Float::abs(*x)));
    let tiny = (n as f64) * f64::EPSILON * amax;
    // Right-looking blocked LU: factor a panel of NB columns (unblocked), then apply the panel's NB
    // rank-one updates to each trailing row while it is in cache. The operations and their order
    // are those of the unblocked algorithm, so the factors are identical; only the memory traffic
    // of the trailing updates drops by NB.
    let mut k0 = 0;
    while k0 < n {
        let kend = (k0 + NB).min(n);
        for k in k0..kend {
            factor_column(a, piv, n, k, kend, tiny)?;
        }
        if kend < n {
            let Some((head, rest)) = a.split_at_mut_checked(kend * n) else {
                return Err(singular(0.0));
            };
            let block = head.get_mut(k0 * n..).unwrap_or(&mut []);
            // U₁₂: rows k0..kend, columns kend..n (forward substitution with the unit L₁₁).
            for k in 0..kend - k0 {
                let Some((upper, lower)) = block.split_at_mut_checked((k + 1) * n) else {
                    break;
                };
                let urow = upper.get(k * n + kend..(k + 1) * n).unwrap_or(&[]);
                for row in lower.chunks_exact_mut(n) {
                    let l = row.get(k0 + k).copied().unwrap_or(0.0);
                    if l != 0.0 {
                        let tail = row.get_mut(kend..).unwrap_or(&mut []);
                        for (x, &u) in tail.iter_mut().zip(urow) {
                            *x -= l * u;
                        }
                    }
                }
            }
            // Trailing rows: row[kend..] −= Σ_k L[row][k]·U[k][kend..], eight columns at a time
            // kept in registers across the panel's rows (same operations, same order).
            for row in rest.chunks_exact_mut(n) {
                let Some((left, right)) = row.split_at_mut_checked(kend) else {
                    continue;
                };
                let ls = left.get(k0..).unwrap_or(&[]);
                let mut chunks = right.chunks_exact_mut(W);
                for (c, xs) in (&mut chunks).enumerate() {
                    let j = kend + c * W;
                    let mut acc = [0.0f64; W];
                    acc.copy_from_slice(xs);
                    for (urow, &l) in block.chunks_exact(n).zip(ls) {
                        if let Some(u) = urow.get(j..j + W) {
                            for (a, &u) in acc.iter_mut().zip(u) {
                                *a -= l * u;
                            }
                        }
                    }
                    xs.copy_from_slice(&acc);
                }
                let tail = chunks.into_remainder();
                let j = n - tail.len();
                for (urow, &l) in block.chunks_exact(n).zip(ls) {
                    let u = urow.get(j..).unwrap_or(&[]);
                    for (x, &u) in tail.iter_mut().zip(u) {
                        *x -= l * u;
                    }
                }
            }
        }
        k0 = kend;
    }
    Ok(())
}

/// Columns per panel of the blocked LU.
const NB: usize = 16;
/// Columns of a trailing row updated together in registers.
const W: usize = 8;

/// One step of the unblocked LU restricted to the panel columns `k..kend`: choose the pivot of
/// column `k`, swap whole rows, store the multipliers and update the panel to the right of `k`.
fn factor_column(
    a: &mut [f64],
    piv: &mut [usize],
    n: usize,
    k: usize,
    kend: usize,
    tiny: f64,
) -> Result<()> {
    // Pivot: the largest |a[i][k]| for i >= k (first one on ties).
    let mut p = k;
    let mut best = -1.0f64;
    for (i, row) in a.chunks_exact(n).enumerate().skip(k) {
        let v = row.get(k).map_or(0.0, |x| Float::abs(*x));
        if v > best {
            best = v;
            p = i;
        }
    }
    if best.is_nan() || best <= tiny || best.is_infinite() {
        return Err(singular(best.max(0.0)));
    }
    if let Some(slot) = piv.get_mut(k) {
        *slot = p;
    }
    if p != k {
        let Some((lo, hi)) = a.split_at_mut_checked(p * n) else {
            return Err(singular(best));
        };
        if let (Some(rk), Some(rp)) = (lo.get_mut(k * n..(k + 1) * n), hi.get_mut(..n)) {
            rk.swap_with_slice(rp);
        }
    }
    let Some((top, bottom)) = a.split_at_mut_checked((k + 1) * n) else {
        return Err(singular(best));
    };
    let pivot_row = top.get(k * n..).unwrap_or(&[]);
    let pivot = pivot_row.get(k).copied().unwrap_or(1.0);
    let u_panel = pivot_row.get(k + 1..kend).unwrap_or(&[]);
    for row in bottom.chunks_exact_mut(n) {
        let Some((head, tail)) = row.split_at_mut_checked(k + 1) else {
            continue;
        };
        if let Some(l) = head.last_mut() {
            let f = *l / pivot;
            *l = f;
            if f != 0.0 {
                for (x, &u) in tail.iter_mut().zip(u_panel) {
                    *x -= f * u;
                }
            }
        }
    }
    Ok(())
}

fn check_factors(lu: &[f64], piv: &[usize], b: &[f64], n: usize) -> Result<()> {
    check_square("lu", lu.len(), n)?;
    ensure_len("piv", n, piv.len())?;
    ensure_len("b", n, b.len())?;
    crate::error::ensure_finite("b", b)?;
    if let Some(&p) = piv.iter().find(|&&p| p >= n) {
        return Err(Error::InvalidParam {
            name: "piv",
            value: p as f64,
            expected: "pivot rows < n (from lu_factor)",
        });
    }
    Ok(())
}

/// Solves `A·x = b` in place from the factors of [`lu_factor`].
///
/// # Definition
/// `b ← P·b`, then forward substitution `L·y = b` and back substitution `U·x = y`.
///
/// # Shapes
/// `lu`: `(n, n)`; `piv`, `b`: `(n)`; on return `b` holds `x`.
///
/// # Errors
/// [`Error::Empty`]; [`Error::LengthMismatch`]; [`Error::NonFinite`] for NaN/∞ in `b`;
/// [`Error::InvalidParam`] for a pivot index `>= n`; [`Error::Overflow`] if the solution is not
/// finite.
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::linalg::{lu_factor, lu_solve};
/// // (I − 0.5·P)V = r for P = [[0, 1], [0, 1]], r = (1, 1): V = (2, 2).
/// let mut a = [1.0, -0.5, 0.0, 0.5f64];
/// let mut piv = [0; 2];
/// lu_factor(&mut a, &mut piv, 2)?;
/// let mut v = [1.0, 1.0];
/// lu_solve(&a, &piv, &mut v, 2)?;
/// assert_eq!(v, [2.0, 2.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Golub and Van Loan (2013), *Matrix Computations*, 4th ed., §3.1.
pub fn lu_solve(lu: &[f64], piv: &[usize], b: &mut [f64], n: usize) -> Result<()> {
    check_factors(lu, piv, b, n)?;
    for (k, &p) in piv.iter().enumerate() {
        if p != k {
            b.swap(k, p);
        }
    }
    // Forward: y_i = b_i − Σ_{j<i} L_ij y_j.
    for (i, row) in lu.chunks_exact(n).enumerate() {
        let s: f64 = row.iter().take(i).zip(b.iter()).map(|(l, y)| l * y).sum();
        if let Some(bi) = b.get_mut(i) {
            *bi -= s;
        }
    }
    // Backward: x_i = (y_i − Σ_{j>i} U_ij x_j) / U_ii.
    for (i, row) in lu.chunks_exact(n).enumerate().rev() {
        let s: f64 = row
            .iter()
            .zip(b.iter())
            .skip(i + 1)
            .map(|(u, x)| u * x)
            .sum();
        let d = row.get(i).copied().unwrap_or(1.0);
        if let Some(bi) = b.get_mut(i) {
            *bi = (*bi - s) / d;
        }
    }
    if b.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::Overflow {
            what: "linear solve",
        })
    }
}

/// Solves `Aᵀ·x = b` in place from the factors of `A` computed by [`lu_factor`].
///
/// # Definition
/// With `P·A = L·U`, `Aᵀ = Uᵀ·Lᵀ·P`: forward substitution `Uᵀ·z = b`, back substitution
/// `Lᵀ·w = z`, then `x = Pᵀ·w` (the swaps undone in reverse order).
///
/// # Shapes
/// As [`lu_solve`].
///
/// # Errors
/// As [`lu_solve`].
///
/// # Examples
/// ```
/// use rewardkit_core::mdp::linalg::{lu_factor, lu_solve_transpose};
/// let mut a = [0.0, 2.0, 1.0, 1.0f64]; // Aᵀ = [[0, 1], [2, 1]]
/// let mut piv = [0; 2];
/// lu_factor(&mut a, &mut piv, 2)?;
/// let mut b = [2.0, 4.0f64]; // Aᵀx = b for x = (1, 2)
/// lu_solve_transpose(&a, &piv, &mut b, 2)?;
/// assert_eq!(b, [1.0, 2.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
///
/// Citation: Golub and Van Loan (2013), *Matrix Computations*, 4th ed., §3.4.
pub fn lu_solve_transpose(lu: &[f64], piv: &[usize], b: &mut [f64], n: usize) -> Result<()> {
    check_factors(lu, piv, b, n)?;
    // Uᵀ z = b: z_i = (b_i − Σ_{j<i} U_ji z_j) / U_ii.
    for i in 0..n {
        let mut s = 0.0;
        for (j, row) in lu.chunks_exact(n).enumerate().take(i) {
            s += row.get(i).copied().unwrap_or(0.0) * b.get(j).copied().unwrap_or(0.0);
        }
        let d = lu.get(i * n + i).copied().unwrap_or(1.0);
        if let Some(bi) = b.get_mut(i) {
            *bi = (*bi - s) / d;
        }
    }
    // Lᵀ w = z: w_i = z_i − Σ_{j>i} L_ji w_j.
    for i in (0..n).rev() {
        let mut s = 0.0;
        for (j, row) in lu.chunks_exact(n).enumerate().skip(i + 1) {
            s += row.get(i).copied().unwrap_or(0.0) * b.get(j).copied().unwrap_or(0.0);
        }
        if let Some(bi) = b.get_mut(i) {
            *bi -= s;
        }
    }
    for (k, &p) in piv.iter().enumerate().rev() {
        if p != k {
            b.swap(k, p);
        }
    }
    if b.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::Overflow {
            what: "linear solve",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matvec(a: &[f64], x: &[f64], n: usize, transpose: bool) -> Vec<f64> {
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| if transpose { a[j * n + i] } else { a[i * n + j] } * x[j])
                    .sum()
            })
            .collect()
    }

    #[test]
    fn solves_a_3x3_by_hand() {
        // A = [[2, 1, 1], [4, -6, 0], [-2, 7, 2]], x = (1, 1, 2) ⇒ b = (5, -2, 9)
        // (Strang, Linear Algebra, §2.6 example, pivoting swaps rows 0 and 1).
        let a0 = [2.0, 1.0, 1.0, 4.0, -6.0, 0.0, -2.0, 7.0, 2.0];
        let mut a = a0;
        let mut piv = [0; 3];
        lu_factor(&mut a, &mut piv, 3).unwrap();
        assert_eq!(piv[0], 1);
        let mut b = [5.0, -2.0, 9.0];
        lu_solve(&a, &piv, &mut b, 3).unwrap();
        for (got, want) in b.iter().zip([1.0, 1.0, 2.0]) {
            assert!((got - want).abs() < 1e-14, "{b:?}");
        }
        // Transpose: Aᵀ x = Aᵀ·(1, 1, 2).
        let mut bt = matvec(&a0, &[1.0, 1.0, 2.0], 3, true);
        lu_solve_transpose(&a, &piv, &mut bt, 3).unwrap();
        for (got, want) in bt.iter().zip([1.0, 1.0, 2.0]) {
            assert!((got - want).abs() < 1e-14, "{bt:?}");
        }
    }

    #[test]
    fn random_systems_round_trip() {
        use crate::rng::{RandomSource, SplitMix64};
        let mut rng = SplitMix64::new(11);
        for n in 1..=12 {
            let a0: Vec<f64> = (0..n * n).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
            let x: Vec<f64> = (0..n).map(|_| rng.next_f64() * 4.0 - 2.0).collect();
            for transpose in [false, true] {
                let mut b = matvec(&a0, &x, n, transpose);
                let mut a = a0.clone();
                let mut piv = alloc::vec![0; n];
                lu_factor(&mut a, &mut piv, n).unwrap();
                if transpose {
                    lu_solve_transpose(&a, &piv, &mut b, n).unwrap();
                } else {
                    lu_solve(&a, &piv, &mut b, n).unwrap();
                }
                for (g, w) in b.iter().zip(&x) {
                    assert!((g - w).abs() < 1e-9, "n = {n}: {g} vs {w}");
                }
            }
        }
    }

    /// The textbook unblocked algorithm, for comparison with the blocked one.
    fn unblocked(a: &mut [f64], piv: &mut [usize], n: usize) {
        for k in 0..n {
            let p = (k..n)
                .max_by(|&i, &j| {
                    // first maximum on ties, as lu_factor
                    a[i * n + k]
                        .abs()
                        .total_cmp(&a[j * n + k].abs())
                        .then(j.cmp(&i))
                })
                .unwrap();
            piv[k] = p;
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            for i in k + 1..n {
                let f = a[i * n + k] / a[k * n + k];
                a[i * n + k] = f;
                if f != 0.0 {
                    for j in k + 1..n {
                        a[i * n + j] -= f * a[k * n + j];
                    }
                }
            }
        }
    }

    #[test]
    fn blocked_factors_equal_the_unblocked_ones() {
        use crate::rng::{RandomSource, SplitMix64};
        let mut rng = SplitMix64::new(5);
        for n in [1, 15, 16, 17, 33, 70] {
            let a0: Vec<f64> = (0..n * n).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
            let (mut a, mut b) = (a0.clone(), a0.clone());
            let (mut pa, mut pb) = (vec![0; n], vec![0; n]);
            lu_factor(&mut a, &mut pa, n).unwrap();
            unblocked(&mut b, &mut pb, n);
            assert_eq!(pa, pb, "n = {n}");
            assert_eq!(a, b, "n = {n}: factors differ");
            let x: Vec<f64> = (0..n).map(|i| i as f64 - 3.0).collect();
            let mut rhs = matvec(&a0, &x, n, false);
            lu_solve(&a, &pa, &mut rhs, n).unwrap();
            for (g, w) in rhs.iter().zip(&x) {
                assert!((g - w).abs() < 1e-8 * (1.0 + w.abs()), "n = {n}");
            }
        }
    }

    #[test]
    fn errors() {
        let mut piv = [0; 2];
        let mut sing = [1.0, 2.0, 2.0, 4.0f64];
        assert!(matches!(
            lu_factor(&mut sing, &mut piv, 2),
            Err(Error::InvalidParam { name: "matrix", .. })
        ));
        let mut zero = [0.0f64; 4];
        assert!(lu_factor(&mut zero, &mut piv, 2).is_err());
        assert!(lu_factor(&mut [1.0f64; 3], &mut piv, 2).is_err());
        assert!(lu_factor(&mut [], &mut [], 0).is_err());
        assert!(lu_factor(&mut [1.0, f64::NAN, 0.0, 1.0], &mut piv, 2).is_err());
        let mut b = [1.0, 1.0];
        assert!(lu_solve(&[1.0, 0.0, 0.0, 1.0], &[0, 5], &mut b, 2).is_err());
        assert!(lu_solve(&[1.0, 0.0, 0.0, 1.0], &[0, 1], &mut [1.0], 2).is_err());
    }
}
