//! Fuzzes finite-MDP construction (dense and sparse), the solvers, every reward distance and the
//! KL-tilt / best-of-N functions: arbitrary sizes, probabilities (NaN/∞ and non-stochastic rows
//! included), rewards and parameters must give `Ok` with finite outputs in the documented ranges,
//! or a typed `Err` — never a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, DardWeights, Epic, Norm, Order, Starc, Weights,
    shape_potential,
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
    let weights = if inp.weighted { Weights::Transition } else { Weights::Uniform };
    let canon = match inp.canon % 4 {
        0 => Canonicalization::Value(Policy::Uniform),
        1 => Canonicalization::MinimalL2,
        2 => Canonicalization::Epic(Coverage::uniform()),
        _ => Canonicalization::Dard(Coverage::uniform()),
    };
    let starc = Starc::new(canon, Norm::new(order, weights));
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
