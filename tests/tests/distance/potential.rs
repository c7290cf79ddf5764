//! STARC's `MinimalPotential` (`minimal_potential` and `Canonicalization::MinimalPotential`):
//! hand-worked literals, an independent brute-force oracle (every vertex of the `L1` problem, and
//! the least-`L2` point of the optimal face from those vertices), the dual certificate checked
//! from its definition, finite differences of the optimal value against the certificate (its
//! gradient), the invariances the paper claims and the one it does not (S'-redistribution), and
//! `f32` against `f64`.

use proptest::prelude::*;
use rewardkit_core::Real;
use rewardkit_core::distance::{
    Canonicalization, Norm, Order, Starc, Weights, canonicalize, minimal_potential, redistribute,
    shape_potential,
};
use rewardkit_core::mdp::{Mdp, Reward, Transitions};
use rewardkit_tests::fd::central_diff;
use rewardkit_tests::mdp_support::{self as ms, MdpCase, mdp_case_in};

use super::{Owned, cast};

// ---------------------------------------------------------------------------------------------
// Oracles (plain loops over the definition; independent of the library)
// ---------------------------------------------------------------------------------------------

/// Which weights a test uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum W {
    Uniform,
    Transition,
    Custom,
}

/// The `(S, A, S')` weights of `which` (custom: a fixed pattern of positive numbers with some
/// zeros that keeps every state's outgoing entries).
pub(crate) fn weights(m: &MdpCase, which: W) -> Vec<f64> {
    match which {
        W::Uniform => vec![1.0; m.full()],
        W::Transition => m.tau.clone(),
        W::Custom => (0..m.full())
            .map(|i| {
                let t = i % m.s;
                let s = i / (m.a * m.s);
                if (i % 5 == 3) && t != s {
                    0.0
                } else {
                    0.25 + (i % 7) as f64 * 0.5
                }
            })
            .collect(),
    }
}

/// `x = R + γΦ(s') − Φ(s)`.
pub(crate) fn shaped(m: &MdpCase, r: &[f64], phi: &[f64]) -> Vec<f64> {
    (0..m.full())
        .map(|i| {
            let (s, t) = (i / (m.a * m.s), i % m.s);
            r[i] + m.gamma * phi[t] - phi[s]
        })
        .collect()
}

fn l1(x: &[f64], w: &[f64]) -> f64 {
    x.iter().zip(w).map(|(x, w)| w * x.abs()).sum()
}

fn l2sq(x: &[f64], w: &[f64]) -> f64 {
    x.iter().zip(w).map(|(x, w)| w * x * x).sum()
}

/// The weighted least-squares potential by the normal equations built entry by entry.
pub(crate) fn l2_potential(m: &MdpCase, r: &[f64], w: &[f64]) -> Vec<f64> {
    let n = m.s;
    let mut mat = vec![0.0; n * n];
    let mut b = vec![0.0; n];
    for i in 0..m.full() {
        let (s, t) = (i / (m.a * m.s), i % m.s);
        let mut v = vec![0.0; n];
        v[t] += m.gamma;
        v[s] -= 1.0;
        for j in 0..n {
            for k in 0..n {
                mat[j * n + k] += w[i] * v[j] * v[k];
            }
            b[j] -= w[i] * r[i] * v[j];
        }
    }
    ms::solve(mat, b, n)
}

/// Every vertex of the weighted-`L1` problem: `S` positive-weight entries with `x = 0` whose rows
/// are independent. Returns `(min value, the residual vectors x of every optimal vertex)`.
pub(crate) fn l1_vertices(m: &MdpCase, r: &[f64], w: &[f64]) -> (f64, Vec<Vec<f64>>) {
    let n = m.s;
    let entries: Vec<usize> = (0..m.full()).filter(|&i| w[i] > 0.0).collect();
    let mut best = f64::INFINITY;
    let mut verts: Vec<(f64, Vec<f64>)> = Vec::new();
    let mut pick = vec![0usize; n];
    fn rec(
        depth: usize,
        start: usize,
        pick: &mut Vec<usize>,
        entries: &[usize],
        f: &mut dyn FnMut(&[usize]),
    ) {
        if depth == pick.len() {
            f(pick);
            return;
        }
        for k in start..entries.len() {
            pick[depth] = entries[k];
            rec(depth + 1, k + 1, pick, entries, f);
        }
    }
    let mut visit = |b: &[usize]| {
        let mut mat = vec![0.0; n * n];
        let mut rhs = vec![0.0; n];
        for (row, &i) in b.iter().enumerate() {
            let (s, t) = (i / (m.a * m.s), i % m.s);
            mat[row * n + t] += m.gamma;
            mat[row * n + s] -= 1.0;
            rhs[row] = -r[i];
        }
        // Skip singular selections (determinant by elimination).
        let mut a = mat.clone();
        let mut det = 1.0;
        for k in 0..n {
            let p = (k..n)
                .max_by(|&i, &j| a[i * n + k].abs().total_cmp(&a[j * n + k].abs()))
                .unwrap();
            if a[p * n + k].abs() < 1e-9 {
                det = 0.0;
                break;
            }
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            det *= a[k * n + k];
            for i in k + 1..n {
                let f = a[i * n + k] / a[k * n + k];
                for j in k..n {
                    a[i * n + j] -= f * a[k * n + j];
                }
            }
        }
        if det.abs() < 1e-9 {
            return;
        }
        let phi = ms::solve(mat, rhs, n);
        let x = shaped(m, r, &phi);
        let v = l1(&x, w);
        best = best.min(v);
        verts.push((v, x));
    };
    rec(0, 0, &mut pick, &entries, &mut visit);
    let tol = 1e-9 * (1.0 + best.abs());
    let mut opt: Vec<Vec<f64>> = Vec::new();
    for (v, x) in verts {
        if v <= best + tol
            && !opt
                .iter()
                .any(|o| o.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-9))
        {
            opt.push(x);
        }
    }
    (best, opt)
}

/// The point of least weighted `L2` norm in the convex hull of `points` (every subset's
/// affine-hull minimiser with non-negative barycentric weights; the best of them).
pub(crate) fn least_l2_in_hull(points: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
    let k = points.len();
    let mut best: Option<(f64, Vec<f64>)> = None;
    for mask in 1u32..(1 << k) {
        let idx: Vec<usize> = (0..k).filter(|j| mask >> j & 1 == 1).collect();
        let q = idx.len();
        // KKT: [G 1; 1ᵀ 0][λ; ν] = [0; 1], G_ij = ⟨p_i, p_j⟩_w.
        let dim = q + 1;
        let mut a = vec![0.0; dim * dim];
        let mut b = vec![0.0; dim];
        for (ii, &i) in idx.iter().enumerate() {
            for (jj, &j) in idx.iter().enumerate() {
                a[ii * dim + jj] = points[i]
                    .iter()
                    .zip(&points[j])
                    .zip(w)
                    .map(|((x, y), w)| w * x * y)
                    .sum();
            }
            a[ii * dim + q] = 1.0;
            a[q * dim + ii] = 1.0;
        }
        b[q] = 1.0;
        let lam = ms::solve(a, b, dim);
        if lam.iter().any(|x| !x.is_finite()) || lam[..q].iter().any(|&l| l < -1e-9) {
            continue;
        }
        let mut x = vec![0.0; points[0].len()];
        for (ii, &i) in idx.iter().enumerate() {
            for (xv, pv) in x.iter_mut().zip(&points[i]) {
                *xv += lam[ii] * pv;
            }
        }
        let v = l2sq(&x, w);
        if best.as_ref().is_none_or(|(bv, _)| v < *bv - 1e-14) {
            best = Some((v, x));
        }
    }
    best.unwrap().1
}

/// The library's canonical reward and potential, certificate and value, in `F`.
struct Solved {
    phi: Vec<f64>,
    cert: Vec<f64>,
    value: f64,
    canon: Vec<f64>,
}

fn norm_of<F: Real>(order: Order, which: W, wf: &[F]) -> Norm<'_, F> {
    let weights = match which {
        W::Uniform => Weights::Uniform,
        W::Transition => Weights::Transition,
        W::Custom => Weights::Custom(wf),
    };
    Norm::new(order, weights)
}

fn solve<F: Real>(mdp: &Mdp<'_, F>, m: &MdpCase, r: &[f64], order: Order, which: W) -> Solved {
    let wf = cast::<F>(&weights(m, which));
    let rf = cast::<F>(r);
    let nrm = norm_of(order, which, &wf);
    let mut phi = vec![F::ZERO; m.s];
    let mut cert = vec![F::ZERO; m.full()];
    let value = minimal_potential(&mut phi, &mut cert, mdp, &Reward::Full(&rf), &nrm)
        .unwrap_or_else(|e| panic!("{order:?} {which:?}: {e}"))
        .as_f64();
    let mut canon = vec![F::ZERO; m.full()];
    canonicalize(
        &mut canon,
        mdp,
        &Reward::Full(&rf),
        &Canonicalization::MinimalPotential(nrm),
    )
    .unwrap();
    let f = |v: &[F]| v.iter().map(|x| x.as_f64()).collect::<Vec<f64>>();
    Solved {
        phi: f(&phi),
        cert: f(&cert),
        value,
        canon: f(&canon),
    }
}

/// Checks a certificate from its definition: `Dᵀy = 0`, the dual-norm bound, `yᵀR = value`.
fn check_certificate(m: &MdpCase, r: &[f64], w: &[f64], order: Order, sol: &Solved, tol: f64) {
    let y = &sol.cert;
    let mut dty = vec![0.0; m.s];
    for i in 0..m.full() {
        let (s, t) = (i / (m.a * m.s), i % m.s);
        dty[t] += m.gamma * y[i];
        dty[s] -= y[i];
        if w[i] == 0.0 {
            assert_eq!(y[i], 0.0, "certificate off the support");
        }
    }
    let scale = 1.0 + w.iter().sum::<f64>();
    for v in &dty {
        assert!(
            v.abs() <= tol * scale,
            "{order:?}: Dᵀy = {dty:?}, y = {y:?}, R = {r:?}, w = {w:?}, γ = {}",
            m.gamma
        );
    }
    match order {
        Order::L1 => {
            for (yi, wi) in y.iter().zip(w) {
                assert!(yi.abs() <= wi * (1.0 + tol) + tol, "|y| = {yi} > w = {wi}");
            }
        }
        _ => {
            let q: f64 = y
                .iter()
                .zip(w)
                .filter(|(_, w)| **w > 0.0)
                .map(|(y, w)| y * y / w)
                .sum();
            assert!(q <= 1.0 + tol, "Σy²/w = {q}");
        }
    }
    let dual: f64 = y.iter().zip(r).map(|(a, b)| a * b).sum();
    assert!(
        (dual - sol.value).abs() <= tol * (1.0 + sol.value),
        "yᵀR = {dual} vs n* = {}",
        sol.value
    );
}

// ---------------------------------------------------------------------------------------------
// Literals (hand-worked)
// ---------------------------------------------------------------------------------------------

fn one_state(a: usize, gamma: f64) -> Mdp<'static, f64> {
    let tau: &'static [f64] = Box::leak(vec![1.0; a].into_boxed_slice());
    Mdp::new(1, a, Transitions::Dense(tau), &[1.0], gamma).unwrap()
}

// One state: x(a) = R(a) − (1 − γ)Φ, so minimal potentials are location estimates of R: L2 the
// mean, L1 a median; an even count makes the L1 optimum an interval whose least-L2 point is the
// midpoint of the two middle values. γ = 0.5, so Φ = 2·(location).
#[test]
fn one_state_median_mean_and_midpoint() {
    let norm1 = Norm::<f64>::l1();
    let (mut phi, mut y) = ([0.0f64], [0.0f64; 4]);
    // A = 3, R = (5, −1, 2): median 2 ⇒ Φ = 4, x = (3, −3, 0), n* = 6; the certificate is
    // (1, −1, y₃) with Σy·(1 − γ)… Dᵀy = −(1 − γ)Σy = 0 ⇒ y₃ = 0.
    let mdp = one_state(3, 0.5);
    let v = minimal_potential(
        &mut phi,
        &mut y[..3],
        &mdp,
        &Reward::Full(&[5.0, -1.0, 2.0]),
        &norm1,
    )
    .unwrap();
    assert!(
        (v - 6.0).abs() < 1e-12 && (phi[0] - 4.0).abs() < 1e-12,
        "{v} {phi:?}"
    );
    assert!((y[0] - 1.0).abs() < 1e-12 && (y[1] + 1.0).abs() < 1e-12 && y[2].abs() < 1e-12);
    // A = 4: every location ℓ in [R₍₂₎, R₍₃₎] is L1-optimal; the least-L2 residual on that
    // interval is at ℓ = clamp(mean, R₍₂₎, R₍₃₎).
    // R = (0, 1, 3, 4): mean 2 ∈ [1, 3] ⇒ ℓ = 2, Φ = 4, x = (−2, −1, 1, 2), n* = 6.
    let mdp = one_state(4, 0.5);
    let r = Reward::Full(&[0.0, 1.0, 3.0, 4.0]);
    let v = minimal_potential(&mut phi, &mut y, &mdp, &r, &norm1).unwrap();
    assert!(
        (v - 6.0).abs() < 1e-12 && (phi[0] - 4.0).abs() < 1e-12,
        "{v} {phi:?}"
    );
    let mut c = [0.0f64; 4];
    canonicalize(&mut c, &mdp, &r, &Canonicalization::MinimalPotential(norm1)).unwrap();
    assert_eq!(c, [-2.0, -1.0, 1.0, 2.0]);
    // R = (0, 1, 3, 10): mean 3.5 > 3 ⇒ ℓ = 3, Φ = 6, x = (−3, −2, 0, 7), n* = 12.
    let r = Reward::Full(&[0.0, 1.0, 3.0, 10.0]);
    let v = minimal_potential(&mut phi, &mut y, &mdp, &r, &norm1).unwrap();
    assert!(
        (v - 12.0).abs() < 1e-12 && (phi[0] - 6.0).abs() < 1e-12,
        "{v} {phi:?}"
    );
    canonicalize(&mut c, &mdp, &r, &Canonicalization::MinimalPotential(norm1)).unwrap();
    assert_eq!(c, [-3.0, -2.0, 0.0, 7.0]);
    // L2: mean 3.5 ⇒ Φ = 7, x = (−3.5, −2.5, −0.5, 6.5), n* = √(12.25 + 6.25 + 0.25 + 42.25) = √61.
    let v = minimal_potential(&mut phi, &mut y, &mdp, &r, &Norm::l2()).unwrap();
    assert!((v - 61f64.sqrt()).abs() < 1e-12 && (phi[0] - 7.0).abs() < 1e-12);
    // y = x/‖x‖.
    assert!((y[3] - 6.5 / 61f64.sqrt()).abs() < 1e-12);
    // Weighted L1, weights (1, 1, 1, 3): the weighted median is 10 (weight 3 of 6 on each side
    // of (3, 10]: the optimum is any location in [3, 10]; least weighted L2 over
    // x = R − ℓ, ℓ ∈ [3, 10]: d/dℓ Σw(R − ℓ)² = 0 ⇒ ℓ = mean_w = (0 + 1 + 3 + 30)/6 = 34/6,
    // inside [3, 10] ⇒ Φ = 2·34/6 = 34/3; n* = 3 + 2 + 0 + 3·7 = 26 at ℓ = 3 (any ℓ in range:
    // (34/6)·3 − 4 + 3·(10 − 34/6) = 26).
    let w = [1.0, 1.0, 1.0, 3.0];
    let nw = Norm::new(Order::L1, Weights::Custom(&w));
    let v = minimal_potential(&mut phi, &mut y, &mdp, &r, &nw).unwrap();
    assert!(
        (v - 26.0).abs() < 1e-12 && (phi[0] - 34.0 / 3.0).abs() < 1e-12,
        "{v} {phi:?}"
    );
}

// Two states, one action, τ = identity (each state stays), γ = 0.5:
// x(s, s') = R(s, s') + 0.5Φ(s') − Φ(s). R = [[0, 4], [2, 0]] (flat (s, a, s')).
// L2 (counting measure), closed form: b = rowsum − γ·colsum = (4 − 1, 2 − 2) = (3, 0);
// M = A((1 + γ²)S·I − 2γ·11ᵀ) = 2.5·I − 11ᵀ ⇒ Φ = (b + 2γΣb/(S(1−γ)²)·1)/(A(1+γ²)S)
// = ((3, 0) + 6·1)/2.5 = (3.6, 2.4); x = (0 + 1.8 − 3.6, 4 + 1.2 − 3.6, 2 + 1.8 − 2.4, 0 + 1.2 − 2.4)
// = (−1.8, 1.6, 1.4, −1.2); check ∂/∂Φ: Dᵀx = 0: state 0: −(−1.8) − 1.6 + 0.5(−1.8) + 0.5(1.4) = 0 ✓.
// L1 with τ-weights: only the self-transitions count (weights 1): x(0,0) = −0.5Φ(0), x(1,1) =
// −0.5Φ(1) ⇒ Φ = 0 is the unique optimum (n* = 0), canonical reward = R.
#[test]
fn two_states_l2_closed_form_and_transition_weighted_l1() {
    let tau = [1.0, 0.0, 0.0, 1.0f64];
    let mdp = Mdp::new(2, 1, Transitions::Dense(&tau), &[1.0, 0.0], 0.5).unwrap();
    let r = [0.0, 4.0, 2.0, 0.0f64];
    let (mut phi, mut y) = ([0.0f64; 2], [0.0f64; 4]);
    let v = minimal_potential(&mut phi, &mut y, &mdp, &Reward::Full(&r), &Norm::l2()).unwrap();
    assert!(
        (phi[0] - 3.6).abs() < 1e-12 && (phi[1] - 2.4).abs() < 1e-12,
        "{phi:?}"
    );
    let want = (1.8f64 * 1.8 + 1.6 * 1.6 + 1.4 * 1.4 + 1.2 * 1.2).sqrt();
    assert!((v - want).abs() < 1e-12);
    let mut c = [0.0f64; 4];
    let canon = Canonicalization::MinimalPotential(Norm::l2());
    canonicalize(&mut c, &mdp, &Reward::Full(&r), &canon).unwrap();
    for (g, w) in c.iter().zip([-1.8, 1.6, 1.4, -1.2]) {
        assert!((g - w).abs() < 1e-12, "{c:?}");
    }
    let n1w = Norm::new(Order::L1, Weights::Transition);
    let v = minimal_potential(&mut phi, &mut y, &mdp, &Reward::Full(&r), &n1w).unwrap();
    assert!(
        v.abs() < 1e-15 && phi.iter().all(|p| p.abs() < 1e-15),
        "{v} {phi:?}"
    );
    canonicalize(
        &mut c,
        &mdp,
        &Reward::Full(&r),
        &Canonicalization::MinimalPotential(n1w),
    )
    .unwrap();
    assert_eq!(c, r);
    // Unweighted L1 on the same reward, by hand: the residuals are x = (−Φ₀/2, 4 + Φ₁/2 − Φ₀,
    // 2 + Φ₀/2 − Φ₁, −Φ₁/2). The six vertices (two residuals zero) and their costs:
    //   x₀₀ = x₁₁ = 0: Φ = (0, 0), cost 4 + 2 = 6;   x₀₁ = x₁₀ = 0: Φ = (20/3, 16/3), cost 6;
    //   x₀₀ = x₁₀ = 0: Φ = (0, 2), cost 5 + 1 = 6;   x₁₁ = x₀₁ = 0: Φ = (4, 0), cost 2 + 4 = 6;
    //   x₀₀ = x₀₁ = 0: Φ = (0, −8), cost 14;         x₁₁ = x₁₀ = 0: Φ = (−4, 0), cost 10.
    // The optimum 6 is attained on the whole quadrilateral of the first four vertices, which
    // contains the unconstrained least-L2 potential (3.6, 2.4) (it lies on the inner side of each
    // edge); so the tie-break returns the L2 canonical reward, at L1 cost 1.8 + 1.6 + 1.4 + 1.2 = 6.
    let v = minimal_potential(&mut phi, &mut y, &mdp, &Reward::Full(&r), &Norm::l1()).unwrap();
    assert!(
        (v - 6.0).abs() < 1e-12 && (phi[0] - 3.6).abs() < 1e-12 && (phi[1] - 2.4).abs() < 1e-12,
        "{v} {phi:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn small_case() -> impl Strategy<Value = (MdpCase, Vec<f64>, Vec<f64>, f64, bool)> {
    mdp_case_in(1..=3, 1..=2).prop_flat_map(|m| {
        let (n, s) = (m.full(), m.s);
        (
            Just(m),
            // Integer-valued rewards half of the time: they make L1 ties (non-unique optima).
            (
                prop::collection::vec(-3i32..=3, n),
                prop::collection::vec(ms::REWARD, n),
                any::<bool>(),
            )
                .prop_map(|(ints, reals, use_int)| {
                    if use_int {
                        ints.iter().map(|&v| f64::from(v)).collect()
                    } else {
                        reals
                    }
                }),
            prop::collection::vec(ms::POTENTIAL, s),
            0.1..10.0f64,
            any::<bool>(),
        )
    })
}

fn check_against_oracles<F: Real>(m: &MdpCase, r: &[f64], which: W) {
    let o = Owned::<F>::new(m);
    let w = weights(m, which);
    let f64_ = F::NAME == "f64";
    let tol = if f64_ { 1e-9 } else { 2e-4 };
    let rscale = 1.0 + r.iter().fold(0.0f64, |a, x| a.max(x.abs())) / (1.0 - m.gamma);
    for mdp in [o.dense(), o.sparse()] {
        // L2: against the entry-by-entry normal equations.
        let sol = solve(&mdp, m, r, Order::L2, which);
        let phi = l2_potential(m, r, &w);
        let x = shaped(m, r, &phi);
        for (g, want) in sol.canon.iter().zip(&x) {
            assert!(
                (g - want).abs() <= tol * rscale,
                "L2 {which:?}: {:?} vs {x:?}",
                sol.canon
            );
        }
        assert!((sol.value - l2sq(&x, &w).sqrt()).abs() <= tol * rscale);
        check_certificate(m, r, &w, Order::L2, &sol, tol * 10.0);
        // L1: the minimum over all vertices, and the least-L2 point of the optimal face.
        let sol = solve(&mdp, m, r, Order::L1, which);
        let (best, opt) = l1_vertices(m, r, &w);
        assert!(
            (sol.value - best).abs() <= tol * (1.0 + best),
            "L1 {which:?}: {} vs brute force {best}",
            sol.value
        );
        check_certificate(m, r, &w, Order::L1, &sol, tol * 10.0);
        let face = least_l2_in_hull(&opt, &w);
        // Compare on the weighted entries (zero-weight entries follow from Φ).
        for ((g, want), wi) in sol.canon.iter().zip(&face).zip(&w) {
            if *wi > 0.0 {
                assert!(
                    (g - want).abs() <= tol * rscale * 10.0,
                    "L1 tie-break {which:?}: {:?} vs {face:?} ({} optimal vertices)",
                    sol.canon,
                    opt.len()
                );
            }
        }
        let xs = shaped(m, r, &sol.phi);
        for (a, b) in xs.iter().zip(&sol.canon) {
            assert!((a - b).abs() <= tol * rscale);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn minimal_potential_matches_brute_force((m, r, ..) in small_case()) {
        for which in [W::Uniform, W::Transition, W::Custom] {
            check_against_oracles::<f64>(&m, &r, which);
            check_against_oracles::<f32>(&m, &r, which);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The certificate is the gradient of the optimal value (finite differences)
// ---------------------------------------------------------------------------------------------

// n*(R) = min_Φ n(R + DΦ) is convex; where it is differentiable its gradient is the dual solution
// (envelope theorem), which the certificate must then be. L2: differentiable wherever n* > 0. L1:
// piecewise linear, differentiable where the dual is unique — generic for continuous weights
// (τ, custom), not for the counting measure, whose unit weights make ties (there the certificate
// is one subgradient; checked by the certificate test instead).
fn check_gradient(m: &MdpCase, r: &[f64], order: Order, which: W) {
    let o = Owned::<f64>::new(m);
    let mdp = o.dense();
    let w = weights(m, which);
    let nrm = norm_of(order, which, &w);
    let value = |x: &[f64]| {
        let mut phi = vec![0.0; m.s];
        let mut cert = vec![0.0; m.full()];
        minimal_potential(&mut phi, &mut cert, &mdp, &Reward::Full(x), &nrm).unwrap()
    };
    let sol = solve(&mdp, m, r, order, which);
    if sol.value < 1e-6 {
        return;
    }
    let fd = central_diff(r, 1e-6, value);
    // A kink within h of R (an L1 basis change) shows as a central difference between two
    // one-sided slopes; skip such coordinates (rare for continuous data).
    let h = 1e-6;
    for (i, (f, c)) in fd.iter().zip(&sol.cert).enumerate() {
        let mut up = r.to_vec();
        up[i] += h;
        let mut dn = r.to_vec();
        dn[i] -= h;
        let (vu, v0, vd) = (value(&up), value(r), value(&dn));
        let kink = ((vu - v0) - (v0 - vd)).abs() > 1e-9;
        if order == Order::L1 && kink {
            continue;
        }
        assert!(
            (f - c).abs() <= 1e-5 * (1.0 + c.abs()),
            "{order:?} {which:?}: ∂n*/∂R[{i}] = {f} vs certificate {c}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn certificate_is_the_gradient_of_the_optimal_value(
        (m, r) in mdp_case_in(1..=3, 1..=2).prop_flat_map(|m| {
            let n = m.full();
            (Just(m), prop::collection::vec(ms::REWARD, n))
        })
    ) {
        for which in [W::Uniform, W::Transition, W::Custom] {
            check_gradient(&m, &r, Order::L2, which);
        }
        for which in [W::Transition, W::Custom] {
            check_gradient(&m, &r, Order::L1, which);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Larger MDPs: optimality by certificate; invariances and oddness of the canonical reward
// ---------------------------------------------------------------------------------------------

fn check_larger<F: Real>(m: &MdpCase, r: &[f64], phi: &[f64], alpha: f64) {
    let o = Owned::<F>::new(m);
    let f64_ = F::NAME == "f64";
    let tol = if f64_ { 1e-10 } else { 3e-6 };
    let k = 1.0 / (1.0 - m.gamma);
    let pmax = phi.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    // αR + shaping, and −R (in f64, then rounded to F).
    let other: Vec<f64> = shaped(m, &r.iter().map(|x| alpha * x).collect::<Vec<_>>(), phi);
    let neg: Vec<f64> = r.iter().map(|x| -x).collect();
    for which in [W::Uniform, W::Transition, W::Custom] {
        let w = weights(m, which);
        for order in [Order::L1, Order::L2] {
            for mdp in [o.dense(), o.sparse()] {
                let base = solve(&mdp, m, r, order, which);
                check_certificate(m, r, &w, order, &base, if f64_ { 1e-9 } else { 1e-6 });
                let sh = solve(&mdp, m, &other, order, which);
                let ng = solve(&mdp, m, &neg, order, which);
                let scale = tol * k * (1.0 + pmax + alpha) * 10.0;
                for ((a, b), c) in base.canon.iter().zip(&sh.canon).zip(&ng.canon) {
                    assert!(
                        (alpha * a - b).abs() <= scale,
                        "{order:?} {which:?}: c(αR + shaping) ≠ αc(R): {:?} vs {:?}",
                        base.canon,
                        sh.canon
                    );
                    assert!((a + c).abs() <= scale, "{order:?} {which:?}: c(−R) ≠ −c(R)");
                }
                assert!((alpha * base.value - sh.value).abs() <= scale);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn optimal_invariant_and_odd_on_larger_mdps(
        (m, r, phi, alpha) in mdp_case_in(3..=7, 1..=4).prop_flat_map(|m| {
            let (n, s) = (m.full(), m.s);
            (
                Just(m),
                (prop::collection::vec(-2i32..=2, n), prop::collection::vec(ms::REWARD, n), any::<bool>())
                    .prop_map(|(ints, reals, use_int)| {
                        if use_int { ints.iter().map(|&v| f64::from(v)).collect() } else { reals }
                    }),
                prop::collection::vec(ms::POTENTIAL, s),
                prop::sample::select(vec![0.5, 1.0, 2.0, 4.0]),
            )
        })
    ) {
        check_larger::<f64>(&m, &r, &phi, alpha);
        check_larger::<f32>(&m, &r, &phi, alpha);
    }
}

// STARC distances with MinimalPotential ignore scaling and shaping and see redistribution.
#[test]
fn starc_minimal_potential_distances() {
    let tau = [0.5f64; 8];
    let mdp = Mdp::new(2, 2, Transitions::Dense(&tau), &[1.0, 0.0], 0.9).unwrap();
    let r = [1.0, -2.0, 0.5, 3.0, 0.0, 1.5, -1.0, 2.0f64];
    let mut shaped_r = [0.0f64; 8];
    shape_potential(&mut shaped_r, &mdp, &Reward::Full(&r), &[4.0, -7.0]).unwrap();
    let scaled: Vec<f64> = shaped_r.iter().map(|x| 3.0 * x).collect();
    for n in [
        Norm::l1(),
        Norm::l2(),
        Norm::new(Order::L1, Weights::Transition),
    ] {
        let s = Starc::new(Canonicalization::MinimalPotential(n), n);
        let d = s
            .distance(&mdp, &Reward::Full(&r), &Reward::Full(&scaled))
            .unwrap();
        assert!(d < 1e-12, "{n:?}: {d}");
        let neg: Vec<f64> = r.iter().map(|x| -x).collect();
        let d = s
            .distance(&mdp, &Reward::Full(&r), &Reward::Full(&neg))
            .unwrap();
        assert!((d - 2.0).abs() < 1e-12, "{n:?}: d(R, −R) = {d}");
        let mut red = [0.0f64; 8];
        redistribute(
            &mut red,
            &mdp,
            &Reward::Full(&r),
            &[1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        )
        .unwrap();
        let d = s
            .distance(&mdp, &Reward::Full(&r), &Reward::Full(&red))
            .unwrap();
        assert!(d > 1e-3, "{n:?}: redistribution unseen ({d})");
    }
}
