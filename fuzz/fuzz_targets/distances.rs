//! Fuzzes finite-MDP construction (dense and sparse), the solvers, every reward distance and
//! canonicalisation (STARC's MinimalPotential/ValuePotential/identity, evaluating-rewards' greedy
//! and singleton included), the minimal potential and its certificate, and the KL-tilt / best-of-N
//! functions, and the reward doctor (`relation`, `diagnose`): arbitrary sizes, probabilities (NaN/∞ and non-stochastic rows included), rewards,
//! weights and parameters must give `Ok` with finite outputs in the documented ranges, or a typed
//! `Err` — never a panic. The exact `L1` solver must succeed on every well-scaled reward.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, DardWeights, Epic, Norm, Order, Relation, Starc, Weights,
    canonicalize, default_tolerance, diagnose, minimal_potential, relation, shape_potential,
};
use rewardkit_core::mdp::{
    Mdp, Policy, Reward, SparseTransitions, Transitions, normalized_regret, optimal_policy,
};
use rewardkit_core::objective::{best_of_n, beta_for_kl, tilt};

#[derive(Arbitrary, Debug)]
struct Input {
    n_states: u8,
    n_actions: u8,
    gamma: f32,
    normalize: bool,
    sparse: bool,
    tau: Vec<f32>,
    init: Vec<f32>,
    reward_a: Vec<f32>,
    reward_b: Vec<f32>,
    potential: Vec<f32>,
    canon: u8,
    order: u8,
    weighted: bool,
    custom_weights: Vec<f32>,
    unnormalized: bool,
    p: Vec<f32>,
    r: Vec<f32>,
    beta: f32,
    n: u8,
}

/// `len` values cycled from `src` (None if `src` is empty).
fn cycle(src: &[f32], len: usize) -> Option<Vec<f32>> {
    (!src.is_empty()).then(|| src.iter().copied().cycle().take(len).collect())
}

/// Rows of `|x|` normalised to sum 1 (left unnormalised when the sum is 0 or not finite).
fn normalize_rows(x: &mut [f32], row: usize) {
    for r in x.chunks_mut(row) {
        r.iter_mut().for_each(|v| *v = v.abs());
        let s: f32 = r.iter().sum();
        if s.is_finite() && s > 0.0 {
            r.iter_mut().for_each(|v| *v /= s);
        }
    }
}

fn check_distances(mdp: &Mdp<'_, f32>, inp: &Input) {
    let full = mdp.full_len();
    let (Some(ra), Some(rb)) = (cycle(&inp.reward_a, full), cycle(&inp.reward_b, full)) else {
        return;
    };
    let (a, b) = (Reward::Full(&ra), Reward::Full(&rb));
    let order = [Order::L1, Order::L2, Order::LInf][usize::from(inp.order % 3)];
    let custom: Vec<f32> = cycle(&inp.custom_weights, full).unwrap_or_default();
    let weights = if inp.weighted {
        Weights::Transition
    } else if inp.order & 4 != 0 && !custom.is_empty() {
        Weights::Custom(&custom)
    } else {
        Weights::Uniform
    };
    let norm = Norm::new(order, weights);
    let canon = match inp.canon % 9 {
        0 => Canonicalization::Value(Policy::Uniform),
        1 => Canonicalization::MinimalL2,
        2 => Canonicalization::Epic(Coverage::uniform()),
        3 => Canonicalization::Dard(Coverage::uniform()),
        4 => Canonicalization::ValuePotential(Policy::Uniform),
        5 => Canonicalization::MinimalPotential(norm),
        6 => Canonicalization::FullyConnectedGreedy(Some(mdp.initial())),
        7 => Canonicalization::SingletonShaping,
        _ => Canonicalization::Identity,
    };
    check_minimal_potential(mdp, &ra, norm);
    let mut c = vec![0.0f32; full];
    if canonicalize(&mut c, mdp, &a, &canon).is_ok() {
        assert!(c.iter().all(|x| x.is_finite()), "{canon:?}: non-finite canonical reward");
    }
    if inp.unnormalized {
        let raw = Starc::new(canon, norm).with_normalization(false);
        if let Ok(d) = raw.distance(mdp, &a, &b) {
            assert!(d.is_finite() && d >= 0.0, "unnormalised STARC {d}");
        }
    }
    let starc = Starc::new(canon, norm);
    // Exact doubling keeps every canonical value, threshold and norm exactly proportional.
    let moderate = ra.iter().all(|x| x.abs() < 1e30 && (*x == 0.0 || x.abs() > 1e-30));
    let twice: Vec<f32> = ra.iter().map(|x| 2.0 * x).collect();
    if let Ok(d) = starc.distance(mdp, &a, &b) {
        assert!(d.is_finite() && (0.0..=2.0).contains(&d), "STARC {d}");
        let d_ab = starc.distance(mdp, &b, &a).expect("symmetric call fails");
        assert!((d - d_ab).abs() <= 1e-5, "STARC asymmetric: {d} vs {d_ab}");
        if moderate {
            let d2 = starc.distance(mdp, &a, &Reward::Full(&twice)).expect("2R fails");
            assert!(d2 <= 1e-6, "STARC d(R, 2R) = {d2}");
        }
    }
    let dard = Dard::new(Coverage::uniform(), [DardWeights::Dynamics, DardWeights::Coverage][usize::from(inp.weighted)]);
    for d in [Epic::default().distance(mdp, &a, &b), dard.distance(mdp, &a, &b)] {
        if let Ok(d) = d {
            assert!(d.is_finite() && (0.0..=1.0).contains(&d), "Pearson distance {d}");
        }
    }
    if moderate {
        if let Ok(d) = Epic::default().distance(mdp, &a, &Reward::Full(&twice)) {
            assert!(d <= 1e-6, "EPIC d(R, 2R) = {d}");
        }
    }
    if let Some(phi) = cycle(&inp.potential, mdp.n_states()) {
        let mut shaped = vec![0.0f32; full];
        if shape_potential(&mut shaped, mdp, &a, &phi).is_ok() {
            assert!(shaped.iter().all(|x| x.is_finite()));
            if let Ok(d) = starc.distance(mdp, &a, &Reward::Full(&shaped)) {
                assert!(d.is_finite() && (0.0..=2.0).contains(&d));
            }
        }
    }
    check_doctor(mdp, &a, &b, inp.beta);
    if let Ok(opt) = optimal_policy(mdp, &a) {
        assert!(opt.values.iter().chain(&opt.q).all(|x| x.is_finite()));
        if let Ok(nr) = normalized_regret(mdp, &a, &Policy::Deterministic(&opt.actions)) {
            assert!((0.0..=1e-3).contains(&nr), "optimal policy has regret {nr}");
        }
        if let Ok(nr) = normalized_regret(mdp, &a, &Policy::Uniform) {
            assert!((0.0..=1.0).contains(&nr));
        }
    }
}

/// The minimal potential: finite outputs and a valid certificate (`Dᵀy ≈ 0`, `|y| <= w` for `L1`,
/// `yᵀR ≈ n*`); `Ok` for every moderate reward under uniform or transition weights.
fn check_minimal_potential(mdp: &Mdp<'_, f32>, r: &[f32], norm: Norm<'_, f32>) {
    let (s, full) = (mdp.n_states(), mdp.full_len());
    let mut phi = vec![0.0f32; s];
    let mut cert = vec![0.0f32; full];
    let res = minimal_potential(&mut phi, &mut cert, mdp, &Reward::Full(r), &norm);
    let moderate = r.iter().all(|x| x.abs() <= 1e6 && (*x == 0.0 || x.abs() >= 1e-6));
    // The exact solver must succeed on well-conditioned problems: γ <= 0.999 (the normal matrix's
    // condition number grows like 1/(1 − γ)²; closer to 1 the documented `max_pivots` or
    // `weights` errors are allowed), weights not custom, norm not L∞.
    let standard = !matches!(norm.weights, Weights::Custom(_))
        && norm.order != Order::LInf
        && f64::from(mdp.gamma()) <= 0.999;
    let n = match res {
        Ok(n) => n,
        Err(e) => {
            assert!(!(moderate && standard), "minimal potential failed: {e} ({norm:?}, R = {r:?})");
            return;
        }
    };
    assert!(n.is_finite() && n >= 0.0 && phi.iter().chain(&cert).all(|x| x.is_finite()));
    let w: Vec<f64> = match norm.weights {
        Weights::Uniform => vec![1.0; full],
        Weights::Transition => {
            let mut w = vec![0.0; full];
            match mdp.transitions() {
                Transitions::Dense(t) => w.iter_mut().zip(t).for_each(|(o, &p)| *o = f64::from(p)),
                Transitions::Sparse(sp) => {
                    for (row, win) in sp.offsets().windows(2).enumerate() {
                        for k in win[0]..win[1] {
                            w[row * s + sp.next()[k] as usize] = f64::from(sp.probs()[k]);
                        }
                    }
                }
            }
            w
        }
        Weights::Custom(c) => c.iter().map(|&x| f64::from(x)).collect(),
    };
    let g = f64::from(mdp.gamma());
    let mut dty = vec![0.0f64; s];
    let (mut yr, mut scale) = (0.0f64, 0.0f64);
    for (i, (&y, &rv)) in cert.iter().zip(r).enumerate() {
        let (y, rv) = (f64::from(y), f64::from(rv));
        let (src, dst) = (i / (full / s), i % s);
        dty[dst] += g * y;
        dty[src] -= y;
        yr += y * rv;
        scale += (y * rv).abs();
        if norm.order == Order::L1 {
            assert!(y.abs() <= w[i] * (1.0 + 1e-5) + 1e-30, "|y| = {y} > w = {}", w[i]);
        }
    }
    let ysum: f64 = cert.iter().map(|y| f64::from(y.abs())).sum::<f64>() + w.iter().sum::<f64>();
    // L2: y = Wx/‖x‖ inherits the rounding of the residuals x (~ε·(|R| + 2|Φ|)/(1 − γ):
    // cancellation when |R| ≫ |x|, amplified along the slowest direction of DᵀWD), relative to
    // n* = ‖x‖.
    let pmax = phi.iter().fold(0.0f64, |m, x| m.max(f64::from(x.abs())));
    let xround: f64 = r
        .iter()
        .zip(&w)
        .map(|(&rv, &wi)| 64.0 * f64::EPSILON * wi * (f64::from(rv.abs()) + (1.0 + g) * pmax))
        .sum::<f64>()
        / (1.0 - g)
        / f64::from(n).max(f64::MIN_POSITIVE);
    let dtol = 1e-4 * (1.0 + ysum) + if norm.order == Order::L2 { xround.min(1e300) } else { 0.0 };
    assert!(dty.iter().all(|v| v.abs() <= dtol), "Dᵀy = {dty:?}");
    // n* is the norm of the computed canonical reward: rounding of order ε·max|R|/(1 − γ) per entry.
    let rmax = r.iter().fold(0.0f64, |m, x| m.max(f64::from(x.abs())));
    let noise = 1e-12 * rmax / (1.0 - g) * full as f64 * (1.0 + w.iter().sum::<f64>());
    // yᵀR = yᵀx − (Dᵀy)ᵀΦ: the f32 rounding of y moves Dᵀy by ~ε₃₂·|y|, hence yᵀR by that
    // times |Φ|.
    let yabs: f64 = cert.iter().map(|y| f64::from(y.abs())).sum();
    let cast = 1e-6 * yabs * (1.0 + g) * pmax;
    // Residuals x = R + γΦ(s') − Φ(s) are known to ~ε·(|R| + 2|Φ|) only (cancellation when
    // |R| ≫ |x|); that error reaches n* directly and yᵀR through y = Wx/‖x‖ (L2).
    let n64 = f64::from(n).max(f64::MIN_POSITIVE);
    let resid: f64 = r
        .iter()
        .zip(&w)
        .filter(|(_, wi)| **wi > 0.0)
        .map(|(&rv, &wi)| {
            let rv = f64::from(rv.abs());
            let e = 64.0 * f64::EPSILON * wi * (rv + (1.0 + g) * pmax) / (1.0 - g);
            e + e * (rv / n64).min(1e300)
        })
        .sum();
    assert!(
        (yr - f64::from(n)).abs() <= 1e-4 * (1.0 + scale + f64::from(n)) + noise + cast + resid,
        "yᵀR = {yr} vs n* = {n}"
    );
}

/// The reward doctor: `Ok` with finite outputs in range (regrets `>= 0`, normalised ones and
/// STARC in range, disagreements in state order with a positive loss), or a typed `Err`; a
/// reward is always identical to itself (unless trivial), and any tolerance outside `(0, 1)` is
/// rejected.
fn check_doctor(mdp: &Mdp<'_, f32>, a: &Reward<'_, f32>, b: &Reward<'_, f32>, tol: f32) {
    let in_range = tol.is_finite() && tol > 0.0 && tol < 1.0;
    let rel = relation(mdp, a, b, tol);
    if !in_range {
        assert!(rel.is_err() && diagnose(mdp, a, b, tol).is_err(), "tol {tol} accepted");
    }
    if let Ok(Relation::Rescaled { alpha } | Relation::RescaledShaped { alpha }) = rel {
        assert!(alpha.is_finite() && alpha > 0.0, "alpha {alpha}");
    }
    if let Ok(d) = diagnose(mdp, a, b, default_tolerance()) {
        for x in [d.regret, d.reverse_regret] {
            assert!(x.is_finite() && x >= 0.0, "regret {x}");
        }
        for x in [d.normalized_regret, d.reverse_normalized_regret] {
            assert!((0.0..=1.0).contains(&x), "normalized regret {x}");
        }
        assert!((0.0..=2.0).contains(&d.starc), "doctor STARC {}", d.starc);
        let n = mdp.n_states();
        assert!(d.reference_policy.len() == n && d.proposed_policy.len() == n);
        assert!(d.disagreements.windows(2).all(|w| w[0].state < w[1].state));
        assert!(d.disagreements.iter().all(|x| x.state < n && x.value_lost > 0.0));
    }
    if let Ok(r) = relation(mdp, a, a, default_tolerance()) {
        assert!(
            matches!(r, Relation::Identical | Relation::TrivialReference),
            "R vs R: {r:?}"
        );
    }
}

fn check_objective(inp: &Input) {
    let m = inp.p.len().min(64);
    let mut p = inp.p[..m].to_vec();
    normalize_rows(&mut p, m.max(1));
    let Some(r) = cycle(&inp.r, m) else {
        return;
    };
    let mut out = vec![0.0f32; m];
    if let Ok(s) = tilt(&mut out, &p, &r, inp.beta) {
        assert!(s.kl.is_finite() && s.kl >= 0.0 && s.expected_reward.is_finite(), "{s:?}");
        assert!(out.iter().all(|x| x.is_finite() && *x >= 0.0));
        let total: f32 = out.iter().sum();
        assert!((total - 1.0).abs() <= 1e-4, "tilt sums to {total}");
    }
    if let Ok(sol) = beta_for_kl(&p, &r, inp.beta.abs() % 8.0) {
        assert!(sol.kl.is_finite() && sol.kl >= 0.0 && !sol.lambda.is_nan(), "{sol:?}");
    }
    let n = usize::from(inp.n % 32) + 1;
    if let Ok(b) = best_of_n(&mut out, &p, &r, n) {
        assert!(b.kl.is_finite() && b.kl >= 0.0 && b.kl <= b.kl_bound * (1.0 + 1e-4) + 1e-5, "{b:?}");
        let total: f32 = out.iter().sum();
        assert!((total - 1.0).abs() <= 1e-4, "best-of-N sums to {total}");
    }
}

fuzz_target!(|inp: Input| {
    check_objective(&inp);
    let (s, a) = (usize::from(inp.n_states % 6) + 1, usize::from(inp.n_actions % 4) + 1);
    let (Some(mut tau), Some(mut init)) = (cycle(&inp.tau, s * a * s), cycle(&inp.init, s)) else {
        return;
    };
    if inp.normalize {
        normalize_rows(&mut tau, s);
        normalize_rows(&mut init, s);
    }
    let gamma = if inp.normalize { inp.gamma.abs().fract() } else { inp.gamma };
    // Sparse form: the non-zero entries of the dense kernel.
    let mut offsets = vec![0usize];
    let (mut next, mut probs) = (Vec::new(), Vec::new());
    for row in tau.chunks(s) {
        for (j, &x) in row.iter().enumerate() {
            if x != 0.0 {
                next.push(j as u32);
                probs.push(x);
            }
        }
        offsets.push(next.len());
    }
    let transitions = if inp.sparse {
        Transitions::Sparse(SparseTransitions::new(&offsets, &next, &probs))
    } else {
        Transitions::Dense(&tau)
    };
    let Ok(mdp) = Mdp::new(s, a, transitions, &init, gamma) else {
        return;
    };
    check_distances(&mdp, &inp);
});
