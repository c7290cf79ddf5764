//! Knox et al. preference models: hand-computed logits, central finite-difference checks of the
//! likelihood gradients, and the fitter recovering the generating reward (STARC distance near 0).

use proptest::prelude::*;
use rewardkit_core::distance::{Canonicalization, Norm, Starc};
use rewardkit_core::mdp::preference::{
    Comparison, FitConfig, PreferenceModel, Segment, fit_reward, preference_logit, preference_loss,
};
use rewardkit_core::mdp::{Mdp, Policy, Reward, Transitions, optimal_policy};
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_tests::fd::assert_grad;
use rewardkit_tests::mdp_support::{MdpCase, mdp_case_in};

use super::{CHAIN_TAU, Owned};

// Chain, R(s) = (0, 1), γ = ½: Q* = (½, 1, 2, 3/2), V* = (1, 2) ⇒ A* = (−½, 0, 0, −½).
// Left (0 →switch→ 1): ΣA* = 0; right (0 →stay→ 0): ΣA* = −½ ⇒ regret logit ½.
// Partial return: R = 0 on both transitions (they leave state 0) ⇒ logit 0.
// A 2-step left segment (0 →switch→ 1 →stay→ 1) vs (1 →switch→ 0 →stay→ 0):
// partial returns 0 + 1 vs 1 + 0 ⇒ 0; advantages 0 + 0 vs −½ − ½ ⇒ regret logit 1.
#[test]
fn hand_computed_logits() {
    let init = [1.0f64, 0.0];
    let mdp = Mdp::new(2, 2, Transitions::Dense(&CHAIN_TAU), &init, 0.5).unwrap();
    let mut r = [0.0f64; 8];
    Reward::State(&[0.0, 1.0]).expand(&mut r, &mdp).unwrap();
    let left = Segment::new(&[0, 1], &[1]).unwrap();
    let right = Segment::new(&[0, 0], &[0]).unwrap();
    let z = preference_logit(&mdp, &r, &left, &right, PreferenceModel::Regret).unwrap();
    assert!((z - 0.5).abs() < 1e-15, "{z}");
    let z = preference_logit(&mdp, &r, &left, &right, PreferenceModel::PartialReturn).unwrap();
    assert_eq!(z, 0.0);
    let l2 = Segment::new(&[0, 1, 1], &[1, 0]).unwrap();
    let r2 = Segment::new(&[1, 0, 0], &[1, 0]).unwrap();
    assert_eq!(
        preference_logit(&mdp, &r, &l2, &r2, PreferenceModel::PartialReturn).unwrap(),
        0.0
    );
    let z = preference_logit(&mdp, &r, &l2, &r2, PreferenceModel::Regret).unwrap();
    assert!((z - 1.0).abs() < 1e-15, "{z}");
    // Equal segments: probability ½, loss ln 2 whatever the label... for label ½ exactly.
    let data = [Comparison {
        left: l2,
        right: l2,
        label: 0.5,
    }];
    let loss = preference_loss(None, &mdp, &r, &data, PreferenceModel::Regret).unwrap();
    assert!((loss - 2f64.ln()).abs() < 1e-15);
    // Empty segments have partial return 0 and regret 0.
    let empty = Segment::new(&[1], &[]).unwrap();
    assert!(empty.is_empty());
    let z = preference_logit(&mdp, &r, &l2, &empty, PreferenceModel::Regret).unwrap();
    assert_eq!(z, 0.0);
}

// Raw comparisons: (left states, left actions, right states, right actions, label).
type Raw = Vec<(Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>, f64)>;

// Random segments of length 1..=3 following the dynamics, with random labels.
fn random_data(m: &MdpCase, seed: u64, count: usize) -> Raw {
    let mut rng = SplitMix64::new(seed);
    let seg = |rng: &mut SplitMix64| {
        let len = 1 + rng.below(3);
        let mut states = vec![rng.below(m.s)];
        let mut actions = Vec::new();
        for _ in 0..len {
            let s = *states.last().unwrap();
            let a = rng.below(m.a);
            let u = rng.next_f64();
            let mut acc = 0.0;
            let mut next = m.s - 1;
            for t in 0..m.s {
                acc += m.t(s, a, t);
                if u < acc {
                    next = t;
                    break;
                }
            }
            actions.push(a);
            states.push(next);
        }
        (states, actions)
    };
    (0..count)
        .map(|_| {
            let (s1, a1) = seg(&mut rng);
            let (s2, a2) = seg(&mut rng);
            let y = [0.0, 0.5, 1.0, rng.next_f64()][rng.below(4)];
            (s1, a1, s2, a2, y)
        })
        .collect()
}

fn comparisons(raw: &Raw) -> Vec<Comparison<'_, f64>> {
    raw.iter()
        .map(|(s1, a1, s2, a2, y)| Comparison {
            left: Segment::new(s1, a1).unwrap(),
            right: Segment::new(s2, a2).unwrap(),
            label: *y,
        })
        .collect()
}

fn min_gap(mdp: &Mdp<'_, f64>, r: &[f64]) -> f64 {
    let opt = optimal_policy(mdp, &Reward::Full(r)).unwrap();
    opt.q
        .chunks(mdp.n_actions())
        .map(|q| {
            let mut v = q.to_vec();
            v.sort_by(|a, b| b.total_cmp(a));
            v[0] - v[1]
        })
        .fold(f64::INFINITY, f64::min)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn partial_return_gradient_matches_finite_differences(
        m in mdp_case_in(2..=4, 1..=3),
        seed in any::<u64>(),
        r in prop::collection::vec(-1.0..1.0f64, 48),
    ) {
        let o = Owned::<f64>::new(&m);
        let mdp = o.dense();
        let r = &r[..m.full()];
        let raw = random_data(&m, seed, 12);
        let data = comparisons(&raw);
        let mut g = vec![0.0; m.full()];
        preference_loss(Some(&mut g), &mdp, r, &data, PreferenceModel::PartialReturn).unwrap();
        assert_grad("partial return", r, &g, 1e-5, 1e-8, |x| {
            preference_loss(None, &mdp, x, &data, PreferenceModel::PartialReturn).unwrap()
        });
        // The f32 gradient is the rounded f64 gradient.
        let o32 = Owned::<f32>::new(&m);
        let r32: Vec<f32> = r.iter().map(|&x| x as f32).collect();
        let d32: Vec<Comparison<'_, f32>> = data.iter().map(|c| Comparison {
            left: c.left, right: c.right, label: c.label as f32 }).collect();
        let mut g32 = vec![0.0f32; m.full()];
        preference_loss(Some(&mut g32), &o32.dense(), &r32, &d32, PreferenceModel::PartialReturn).unwrap();
        for (a, b) in g32.iter().zip(&g) {
            prop_assert!((f64::from(*a) - b).abs() <= 1e-5);
        }
    }

    #[test]
    fn regret_gradient_matches_finite_differences(
        m in mdp_case_in(2..=4, 2..=3),
        seed in any::<u64>(),
        r in prop::collection::vec(-1.0..1.0f64, 48),
    ) {
        let o = Owned::<f64>::new(&m);
        let mdp = o.dense();
        let r = &r[..m.full()];
        // The regret model is piecewise smooth: stay away from changes of the optimal policy.
        prop_assume!(min_gap(&mdp, r) > 1e-3);
        let raw = random_data(&m, seed, 12);
        let data = comparisons(&raw);
        let mut g = vec![0.0; m.full()];
        preference_loss(Some(&mut g), &mdp, r, &data, PreferenceModel::Regret).unwrap();
        assert_grad("regret", r, &g, 1e-5, 1e-8, |x| {
            preference_loss(None, &mdp, x, &data, PreferenceModel::Regret).unwrap()
        });
        // Sparse storage gives the same gradient.
        let mut gs = vec![0.0; m.full()];
        preference_loss(Some(&mut gs), &o.sparse(), r, &data, PreferenceModel::Regret).unwrap();
        for (a, b) in gs.iter().zip(&g) {
            prop_assert!((a - b).abs() <= 1e-12);
        }
    }
}

// Fits a reward from comparisons labelled by `model` under a generating reward and returns the
// STARC (VAL, L2) distance between the fit and the generator, and the final loss.
fn recover(
    m: &MdpCase,
    truth: &[f64],
    model: PreferenceModel,
    sampled_labels: Option<usize>,
    seed: u64,
) -> (f64, f64) {
    let o = Owned::<f64>::new(m);
    let mdp = o.dense();
    let count = sampled_labels.unwrap_or(600);
    let mut raw = random_data(m, seed, count);
    let mut rng = SplitMix64::new(seed ^ 0xABCD);
    for item in raw.iter_mut() {
        let c = Comparison {
            left: Segment::new(&item.0, &item.1).unwrap(),
            right: Segment::new(&item.2, &item.3).unwrap(),
            label: 0.5,
        };
        let z = preference_logit(&mdp, truth, &c.left, &c.right, model).unwrap();
        let p = 1.0 / (1.0 + (-z).exp());
        item.4 = match sampled_labels {
            None => p,                                          // infinitely many labellers
            Some(_) => f64::from(u8::from(rng.next_f64() < p)), // one 0/1 label each
        };
    }
    let data = comparisons(&raw);
    let mut fit = vec![0.0; m.full()];
    let steps = if sampled_labels.is_some() { 800 } else { 3000 };
    let cfg = FitConfig::new(steps, 0.05, 1e-6).unwrap();
    if model == PreferenceModel::Regret {
        // Warm start from the partial-return fit (the regret loss is not convex).
        fit_reward(
            &mut fit,
            &mdp,
            &data,
            PreferenceModel::PartialReturn,
            &FitConfig::new(500, 0.05, 1e-6).unwrap(),
        )
        .unwrap();
    }
    let rep = fit_reward(&mut fit, &mdp, &data, model, &cfg).unwrap();
    let starc = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2());
    let d = starc
        .distance(&mdp, &Reward::Full(truth), &Reward::Full(&fit))
        .unwrap();
    (d, rep.loss)
}

fn fit_case() -> (MdpCase, Vec<f64>) {
    let m = MdpCase {
        s: 3,
        a: 2,
        gamma: 0.7,
        tau: vec![
            0.6, 0.4, 0.0, 0.0, 0.3, 0.7, //
            0.5, 0.0, 0.5, 0.0, 1.0, 0.0, //
            0.0, 0.2, 0.8, 0.9, 0.0, 0.1,
        ],
        init: vec![1.0 / 3.0; 3],
    };
    let mut rng = SplitMix64::new(99);
    let truth: Vec<f64> = (0..m.full()).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
    (m, truth)
}

#[test]
fn fitter_recovers_the_generating_reward_partial_return() {
    let (m, truth) = fit_case();
    let (d, _) = recover(&m, &truth, PreferenceModel::PartialReturn, None, 1);
    assert!(d < 0.02, "STARC distance {d}");
    // From 4000 sampled 0/1 labels the fit is close, and closer than from 200.
    let (d_many, _) = recover(&m, &truth, PreferenceModel::PartialReturn, Some(4000), 2);
    let (d_few, _) = recover(&m, &truth, PreferenceModel::PartialReturn, Some(200), 2);
    eprintln!("sampled labels: d(4000) = {d_many}, d(200) = {d_few}");
    assert!(d_many < 0.1, "STARC distance {d_many}");
    assert!(d_many < d_few, "{d_many} vs {d_few}");
}

#[test]
fn fitter_recovers_the_generating_reward_regret() {
    let (m, truth) = fit_case();
    let (d, _) = recover(&m, &truth, PreferenceModel::Regret, None, 3);
    assert!(d < 0.05, "STARC distance {d}");
}
