//! Values worked out by hand on the 2-state chain (`CHAIN_TAU`: action 0 stays, action 1 switches,
//! `γ = 0.5`, `μ = (1, 0)`). The derivations are in the comments; nothing here is produced by the
//! code under test.

use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, DardWeights, Epic, Norm, Order, Starc, Weights, canonicalize,
    pearson_distance,
};
use rewardkit_core::mdp::{
    Evaluation, Mdp, Policy, Reward, Transitions, normalized_regret, optimal_policy, policy_return,
    policy_values, regret, value_iteration,
};
use rewardkit_core::objective::{best_of_n, beta_for_kl, tilt, tilt_stats};

use super::CHAIN_TAU;

fn chain<F: rewardkit_core::Real>(tau: &[F], init: &[F]) -> Mdp<'static, F> {
    // Leak the two small buffers so the MDP can be returned ('static is fine in tests).
    let tau: &'static [F] = Box::leak(tau.to_vec().into_boxed_slice());
    let init: &'static [F] = Box::leak(init.to_vec().into_boxed_slice());
    Mdp::new(2, 2, Transitions::Dense(tau), init, F::lit(0.5)).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// R₁(s) = (0, 1).
//
// Optimal: stay in 1 (V = 1 + V/2 ⇒ V(1) = 2), switch from 0 (V(0) = 0.5·2 = 1); J* = 1.
// Worst: stay in 0 (V(0) = 0), switch from 1 (V(1) = 1 + 0.5·0 = 1); `J_min` = 0.
// Uniform: V(0) = ¼V(0) + ¼V(1), V(1) = 1 + ¼V(1) + ¼V(0) ⇒ V = (0.5, 1.5).
#[test]
fn chain_values_policies_and_regret() {
    let tau: Vec<f64> = CHAIN_TAU.to_vec();
    let mdp = chain(&tau, &[1.0, 0.0]);
    let r = Reward::State(&[0.0, 1.0]);
    let mut v = [0.0f64; 2];
    policy_values(&mut v, &mdp, &r, &Policy::Uniform, Evaluation::Exact).unwrap();
    assert!(close(v[0], 0.5, 1e-15) && close(v[1], 1.5, 1e-15), "{v:?}");
    let it = Evaluation::Iterative {
        tol: 1e-13,
        max_iters: 10_000,
    };
    policy_values(&mut v, &mdp, &r, &Policy::Uniform, it).unwrap();
    assert!(close(v[0], 0.5, 1e-13) && close(v[1], 1.5, 1e-13), "{v:?}");

    let n = value_iteration(&mut v, &mdp, &r, 1e-12, 1000).unwrap();
    assert!(close(v[0], 1.0, 1e-12) && close(v[1], 2.0, 1e-12), "{v:?}");
    // Sup-norm error after k sweeps from 0 is ≤ 2·0.5ᵏ; the stopping rule needs ~41 sweeps.
    assert!((30..=60).contains(&n), "{n} sweeps");

    let opt = optimal_policy(&mdp, &r).unwrap();
    assert_eq!(opt.actions, [1, 0]);
    assert_eq!(opt.values, [1.0, 2.0]);
    // Q*(0, stay) = 0.5·1, Q*(0, switch) = 0.5·2, Q*(1, stay) = 1 + 1, Q*(1, switch) = 1 + 0.5.
    assert_eq!(opt.q, [0.5, 1.0, 2.0, 1.5]);

    assert_eq!(policy_return(&mdp, &r, &Policy::Uniform).unwrap(), 0.5);
    assert_eq!(regret(&mdp, &r, &Policy::Uniform).unwrap(), 0.5);
    assert_eq!(
        regret(&mdp, &r, &Policy::Deterministic(&[1, 0])).unwrap(),
        0.0
    );
    assert_eq!(normalized_regret(&mdp, &r, &Policy::Uniform).unwrap(), 0.5);
    assert_eq!(
        normalized_regret(&mdp, &r, &Policy::Deterministic(&[0, 1])).unwrap(),
        1.0
    );
    // Always switching: V(0) = ½V(1), V(1) = 1 + ½V(0) ⇒ V(0) = 2/3 = J.
    let j = policy_return(&mdp, &r, &Policy::Deterministic(&[1, 1])).unwrap();
    assert!(close(j, 2.0 / 3.0, 1e-15));

    // f32 gives the rounded f64 results.
    let tau32: Vec<f32> = CHAIN_TAU.iter().map(|&x| x as f32).collect();
    let mdp32 = chain(&tau32, &[1.0f32, 0.0]);
    let opt32 = optimal_policy(&mdp32, &Reward::State(&[0.0f32, 1.0])).unwrap();
    assert_eq!(opt32.values, [1.0f32, 2.0]);
}

// VAL under the uniform policy, with `V = (0.5, 1.5)` for R₁ = (0, 1):
// c(0, stay) = 0 + ½·0.5 − 0.5 = −¼, c(0, switch) = ½·1.5 − 0.5 = ¼, c(1, stay) = 1 + ½·1.5 − 1.5
// = ¼, c(1, switch) = 1 + ½·0.5 − 1.5 = −¼, repeated over s'.
// R₃ = 1 for (0, switch): V = (0.75, 0.25), c₃ = (−0.375, 0.375, −0.125, 0.125).
// ⟨c₁, c₃⟩ = 2·0.125, ‖c₁‖² = 0.5, ‖c₃‖² = 0.625 (L2 over the 8 entries) ⇒ ⟨s₁, s₃⟩ = 1/√5 and
// d = √(2 − 2/√5).
#[test]
fn chain_starc_value_l2() {
    let tau: Vec<f64> = CHAIN_TAU.to_vec();
    let mdp = chain(&tau, &[1.0, 0.0]);
    let r1 = Reward::State(&[0.0, 1.0]);
    let r3 = Reward::StateAction(&[0.0, 1.0, 0.0, 0.0]);
    let mut c = [0.0f64; 8];
    canonicalize(&mut c, &mdp, &r1, &Canonicalization::Value(Policy::Uniform)).unwrap();
    let want = [-0.25, -0.25, 0.25, 0.25, 0.25, 0.25, -0.25, -0.25];
    for (g, w) in c.iter().zip(want) {
        assert!(close(*g, w, 1e-15), "{c:?}");
    }
    canonicalize(&mut c, &mdp, &r3, &Canonicalization::Value(Policy::Uniform)).unwrap();
    let want3 = [-0.375, -0.375, 0.375, 0.375, -0.125, -0.125, 0.125, 0.125];
    for (g, w) in c.iter().zip(want3) {
        assert!(close(*g, w, 1e-15), "{c:?}");
    }
    let starc = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2());
    let d = starc.distance(&mdp, &r1, &r3).unwrap();
    assert!(close(d, (2.0 - 2.0 / 5f64.sqrt()).sqrt(), 1e-14), "{d}");
    // 1 − R₁ differs from −R₁ by a constant (a potential shaping for γ < 1): distance 2.
    let d = starc
        .distance(&mdp, &r1, &Reward::State(&[1.0, 0.0]))
        .unwrap();
    assert!(close(d, 2.0, 1e-14), "{d}");
    // A constant reward is trivial: at distance 1 from any standardised reward.
    let d = starc
        .distance(&mdp, &r1, &Reward::State(&[3.0, 3.0]))
        .unwrap();
    assert!(close(d, 1.0, 1e-14), "{d}");

    // L1 normalisation and L1 metric: ‖c₁‖₁ = 8·¼ = 2, ‖c₃‖₁ = 2·(2·0.375 + 2·0.125) = 2;
    // s₁ − s₃ = (0.0625, −0.0625, 0.1875, −0.1875) per (s, a), twice ⇒ L1 = 2·0.5 = 1.
    let l1 = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l1());
    assert!(close(l1.distance(&mdp, &r1, &r3).unwrap(), 1.0, 1e-14));
    // L∞: s₁ = c₁/max|c₁| = (−1, 1, 1, −1), s₃ = c₃/0.375 = (−1, 1, −1/3, 1/3);
    // max |s₁ − s₃| = |1 − (−1/3)| = 4/3.
    let linf = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::linf());
    assert!(close(
        linf.distance(&mdp, &r1, &r3).unwrap(),
        4.0 / 3.0,
        1e-14
    ));
    // τ-weighted L2 on a per-(s, a) canonical reward is the L2 norm over (s, a): ‖c₁‖ = ½,
    // ‖c₃‖ = √0.3125, ⟨c₁, c₃⟩ = 0.125 ⇒ the same d as the unweighted metric (√2 cancels).
    let tw = Starc::new(
        Canonicalization::Value(Policy::Uniform),
        Norm::new(Order::L2, Weights::Transition),
    );
    assert!(close(
        tw.distance(&mdp, &r1, &r3).unwrap(),
        (2.0 - 2.0 / 5f64.sqrt()).sqrt(),
        1e-14
    ));
}

// EPIC with uniform coverage. R₁(s, a, s') = r(s) with r = (0, 1): Φ = (0, 1), c̄ = ½,
// C₁ = r(s) + ½Φ(s') − Φ(s) − ¼ = ½r(s') − ¼ = ∓¼. R₃ (1 at (0, switch)): Φ = (½, 0), c̄ = ¼,
// C₃ over (s, a, s') = (−0.375, −0.625, 0.625, 0.375, 0.125, −0.125, 0.125, −0.125).
// Both have mean 0; cov = −1/32, var₁ = 1/16, var₃ = 9/64 ⇒ ρ = −1/3, D = √(2/3).
#[test]
fn chain_epic() {
    let tau: Vec<f64> = CHAIN_TAU.to_vec();
    let mdp = chain(&tau, &[1.0, 0.0]);
    let r1 = Reward::State(&[0.0, 1.0]);
    let r3 = Reward::StateAction(&[0.0, 1.0, 0.0, 0.0]);
    let mut c = [0.0f64; 8];
    canonicalize(
        &mut c,
        &mdp,
        &r3,
        &Canonicalization::Epic(Coverage::uniform()),
    )
    .unwrap();
    let want = [-0.375, -0.625, 0.625, 0.375, 0.125, -0.125, 0.125, -0.125];
    for (g, w) in c.iter().zip(want) {
        assert!(close(*g, w, 1e-15), "{c:?}");
    }
    let d = Epic::default().distance(&mdp, &r1, &r3).unwrap();
    assert!(close(d, (2.0f64 / 3.0).sqrt(), 1e-15), "{d}");
    let d = Epic::default()
        .distance(&mdp, &r1, &Reward::State(&[1.0, 0.0]))
        .unwrap();
    assert!(close(d, 1.0, 1e-15), "{d}");
    // The same Pearson distance from the canonical tensors directly.
    let c1 = [-0.25, 0.25, -0.25, 0.25, -0.25, 0.25, -0.25, 0.25];
    assert!(close(
        pearson_distance(&c1, &want, None).unwrap(),
        (2.0f64 / 3.0).sqrt(),
        1e-15
    ));
    // Coverage D_S = (1, 0): only s = s' = 0 counts. C₁ there: R = 0, Φ = (0, 1) under
    // D_S ⊗ uniform D_A... Φ(s) = E_{A, S'~D_S} R(s, A, S') = r(s) still, c̄ = Φ(0) = 0 ⇒ C₁(0, a, 0)
    // = 0 for both a: zero variance ⇒ undefined.
    let cov = Coverage {
        states: Some(&[1.0, 0.0][..]),
        actions: None,
    };
    assert!(Epic::new(cov).distance(&mdp, &r1, &r3).is_err());
}

// DARD with uniform `D_S`, `D_A` and dynamics weights (the 4 transitions with τ = 1, weight ¼).
// R₁: `Φ_τ` = (0, 1), T(s, s') = ½[r(s) + r(1 − s)] = ½ ⇒ C₁ = ½r(s') − ¼ = (−¼, ¼, ¼, −¼) on
// (0, stay, 0), (0, switch, 1), (1, stay, 1), (1, switch, 0).
// R₃: `Φ_τ` = (½, 0), T(s, ·) = ½·1{s = 1} ⇒ C₃ = (−¼, ½, −¼, 0).
// cov = 1/32, var₁ = 1/16, var₃ = 3/32 ⇒ ρ = 1/√6, D = √((1 − 1/√6)/2).
#[test]
fn chain_dard() {
    let tau: Vec<f64> = CHAIN_TAU.to_vec();
    let mdp = chain(&tau, &[1.0, 0.0]);
    let r1 = Reward::State(&[0.0, 1.0]);
    let r3 = Reward::StateAction(&[0.0, 1.0, 0.0, 0.0]);
    let d = Dard::default().distance(&mdp, &r1, &r3).unwrap();
    let want = ((1.0 - 1.0 / 6f64.sqrt()) / 2.0).sqrt();
    assert!(close(d, want, 1e-15), "{d} vs {want}");
    let mut c = [0.0f64; 8];
    canonicalize(
        &mut c,
        &mdp,
        &r3,
        &Canonicalization::Dard(Coverage::uniform()),
    )
    .unwrap();
    // On-support entries: indices (0,0,0) = 0, (0,1,1) = 3, (1,0,1) = 5, (1,1,0) = 6.
    for (i, w) in [(0, -0.25), (3, 0.5), (5, -0.25), (6, 0.0)] {
        assert!(close(c[i], w, 1e-15), "{c:?}");
    }
    // With EPIC-style coverage weights DARD uses all 8 entries; C₁ = ½r(s') − ¼ everywhere and
    // C₃ off the support: (0,0,1) = 0 + 0 − ½ − 0 = −½, (0,1,0) = 1 + ¼ − ½ − 0 = ¾,
    // (1,0,0) = 0 + ¼ − 0 − ¼ = 0, (1,1,1) = 0 + 0 − 0 − ¼ = −¼.
    // C₁ = (−¼, ¼, −¼, ¼, −¼, ¼, −¼, ¼), C₃ = (−¼, −½, ¾, ½, 0, −¼, 0, −¼): means 0 and 0,
    // cov = (1/16 − 1/8 − 3/16 + 1/8 + 0 − 1/16 + 0 − 1/16)/8 = −1/32, var₁ = 1/16,
    // var₃ = (1/16 + 1/4 + 9/16 + 1/4 + 0 + 1/16 + 0 + 1/16)/8 = 5/32 ⇒ ρ = −1/√10.
    let cov_d = Dard::new(Coverage::uniform(), DardWeights::Coverage)
        .distance(&mdp, &r1, &r3)
        .unwrap();
    let rho = -1.0 / 10f64.sqrt();
    assert!(close(cov_d, ((1.0 - rho) / 2.0).sqrt(), 1e-15), "{cov_d}");
}

// Minimal L2 canonicalisation on a 1-state, 2-action MDP with deterministic self-loops:
// equivalence class = R + γΦ − Φ = R − (1 − γ)Φ (a constant shift) and S'-redistribution is
// trivial (one next state), so the minimal L2 member is R minus its mean: R = (1, 3) ⇒ (−1, 1).
#[test]
fn minimal_l2_centres_a_bandit() {
    let tau = [1.0f64, 1.0];
    let mdp = Mdp::new(1, 2, Transitions::Dense(&tau), &[1.0], 0.9).unwrap();
    let mut c = [0.0f64; 2];
    canonicalize(
        &mut c,
        &mdp,
        &Reward::StateAction(&[1.0, 3.0]),
        &Canonicalization::MinimalL2,
    )
    .unwrap();
    assert!(close(c[0], -1.0, 1e-13) && close(c[1], 1.0, 1e-13), "{c:?}");
    // Two next states with τ = (½, ½): the minimal member spreads m(s, a) evenly:
    // R' = τ·m/‖τ‖² = m on both next states.
    let tau2 = [0.5f64, 0.5, 0.5, 0.5];
    let mdp2 = Mdp::new(2, 1, Transitions::Dense(&tau2), &[1.0, 0.0], 0.0).unwrap();
    // γ = 0, one action: the class is R − Φ(s) + redistribution; every state can be zeroed.
    let mut c2 = [1.0f64; 4];
    canonicalize(
        &mut c2,
        &mdp2,
        &Reward::Full(&[1.0, 5.0, -2.0, 0.0]),
        &Canonicalization::MinimalL2,
    )
    .unwrap();
    assert!(c2.iter().all(|x| x.abs() < 1e-14), "{c2:?}");
}

// Tilted distribution, p = (½, ½), r = (0, ln 2), β = 1: φ ∝ (1, 2) ⇒ (⅓, ⅔);
// `E_φ`[r] = ⅔·ln 2; KL = ⅓·ln(⅔) + ⅔·ln(4/3).
#[test]
fn tilt_literals() {
    let mut phi = [0.0f64; 2];
    let s = tilt(&mut phi, &[0.5, 0.5], &[0.0, 2f64.ln()], 1.0).unwrap();
    assert!(close(phi[0], 1.0 / 3.0, 1e-16) && close(phi[1], 2.0 / 3.0, 1e-16));
    let kl = (1.0f64 / 3.0) * (2.0f64 / 3.0).ln() + (2.0 / 3.0) * (4.0f64 / 3.0).ln();
    assert!(close(s.kl, kl, 1e-16), "{} vs {kl}", s.kl);
    assert!(close(s.expected_reward, 2.0 / 3.0 * 2f64.ln(), 1e-16));
    // Two points r = (0, 1): KL(λ) = λ·e^λ/(1 + e^λ) − ln((1 + e^λ)/2); at λ = 1 this is
    // 0.7310585786300049 − 0.6201145069582775 = 0.11094407167172735.
    let e = 1f64.exp();
    let kl1 = e / (1.0 + e) - ((1.0 + e) / 2.0).ln();
    let sol = beta_for_kl(&[0.5f64, 0.5], &[0.0, 1.0], kl1).unwrap();
    assert!(close(sol.lambda, 1.0, 1e-9), "{sol:?}");
    assert!(close(sol.beta(), 1.0, 1e-9));
    let st = tilt_stats(&[0.5f64, 0.5], &[0.0, 1.0], 1.0).unwrap();
    assert!(close(st.kl, kl1, 1e-16));
    // f32 inputs: the same values rounded.
    let st32 = tilt_stats(&[0.5f32, 0.5], &[0.0, 1.0], 1.0).unwrap();
    assert!(close(f64::from(st32.kl), kl1, 1e-7));
}

// Best-of-N by hand.
// - p = (¼, ¼, ½), r = (1, 1, 0), N = 2 (a tie at the top): the worse level wins only if both
//   draws are in it, ¼; the tied level gets ¾, split by p ⇒ π = (⅜, ⅜, ¼);
//   KL = ¾·ln(¾/½) + ¼·ln(¼/½), E[r] = ¾.
// - p uniform on 3, r = (0, 1, 2), N = 3: q = (1/27, 8/27 − 1/27, 1 − 8/27);
//   KL = Σ q·ln(3q), E[r] = 7/27 + 2·19/27 = 5/3.
#[test]
fn best_of_n_literals() {
    let mut pi = [0.0f64; 3];
    let b = best_of_n(&mut pi, &[0.25, 0.25, 0.5], &[1.0, 1.0, 0.0], 2).unwrap();
    assert!(close(pi[0], 0.375, 1e-16) && close(pi[1], 0.375, 1e-16) && close(pi[2], 0.25, 1e-16));
    let kl = 0.75 * 1.5f64.ln() + 0.25 * 0.5f64.ln();
    assert!(close(b.kl, kl, 1e-15) && close(b.expected_reward, 0.75, 1e-16));
    let third = 1.0 / 3.0;
    let b = best_of_n(&mut pi, &[third, third, third], &[0.0, 1.0, 2.0], 3).unwrap();
    let q = [1.0 / 27.0, 7.0 / 27.0, 19.0 / 27.0];
    for (g, w) in pi.iter().zip(q) {
        assert!(close(*g, w, 1e-15), "{pi:?}");
    }
    let kl: f64 = q.iter().map(|q| q * (3.0 * q).ln()).sum();
    assert!(close(b.kl, kl, 1e-15));
    assert!(close(b.expected_reward, 5.0 / 3.0, 1e-15));
    assert!(close(b.kl_bound, 3f64.ln() - 2.0 / 3.0, 1e-16));
    assert!(b.kl < b.kl_bound);
    // N = 1 is p itself.
    let b = best_of_n(&mut pi, &[0.2, 0.3, 0.5], &[3.0, 1.0, 2.0], 1).unwrap();
    assert_eq!(b.kl, 0.0);
    assert!(close(pi[0], 0.2, 1e-16) && close(pi[2], 0.5, 1e-16));
}
