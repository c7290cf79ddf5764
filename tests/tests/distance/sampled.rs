//! The sample-based EPIC and DARD estimators converge to the exact tabular values as the sample
//! sizes grow (averaged over seeds), are exactly invariant to shaping with shared samples, and give
//! the documented extremes.

use rewardkit_core::distance::{
    Coverage, Dard, DardWeights, Epic, SampleSizes, dard_sampled, epic_sampled,
};
use rewardkit_core::mdp::{Mdp, Reward, Transitions};
use rewardkit_core::rng::{RandomSource, SplitMix64};

fn case() -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    // 4 states, 2 actions, a fixed random kernel (some zeros) and two random full rewards.
    let mut rng = SplitMix64::new(7);
    let (s, a) = (4usize, 2usize);
    let mut tau = vec![0.0f64; s * a * s];
    for row in tau.chunks_mut(s) {
        for x in row.iter_mut() {
            *x = if rng.next_f64() < 0.3 {
                0.0
            } else {
                rng.next_f64()
            };
        }
        if row.iter().all(|&x| x == 0.0) {
            row[0] = 1.0;
        }
        let sum: f64 = row.iter().sum();
        row.iter_mut().for_each(|x| *x /= sum);
    }
    let ra: Vec<f64> = (0..s * a * s).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
    let rb: Vec<f64> = ra
        .iter()
        .map(|x| 0.6 * x + 0.8 * (rng.next_f64() * 2.0 - 1.0))
        .collect();
    (tau, vec![0.25; 4], ra, rb)
}

fn lookup(r: &[f64]) -> impl Fn(usize, usize, usize) -> f64 + '_ {
    move |s, a, t| r[(s * 2 + a) * 4 + t]
}

// Mean absolute error over seeds at each sample size.
fn errors(
    exact: f64,
    sizes: &[(usize, usize)],
    mut est: impl FnMut(&mut SplitMix64, SampleSizes) -> f64,
) -> Vec<f64> {
    sizes
        .iter()
        .map(|&(n, m)| {
            let seeds = 6;
            (0..seeds)
                .map(|k| {
                    let mut rng = SplitMix64::new(1000 + k);
                    (est(&mut rng, SampleSizes::new(n, m).unwrap()) - exact).abs()
                })
                .sum::<f64>()
                / seeds as f64
        })
        .collect()
}

const SIZES: [(usize, usize); 3] = [(64, 8), (512, 32), (4096, 128)];

#[test]
fn sampled_epic_converges_to_exact_epic() {
    let (tau, init, ra, rb) = case();
    let mdp = Mdp::new(4, 2, Transitions::Dense(&tau), &init, 0.9).unwrap();
    for cov in [
        Coverage::uniform(),
        Coverage {
            states: Some(&[0.1, 0.2, 0.3, 0.4][..]),
            actions: Some(&[0.7, 0.3][..]),
        },
    ] {
        let exact = Epic::new(cov)
            .distance(&mdp, &Reward::Full(&ra), &Reward::Full(&rb))
            .unwrap();
        assert!(exact > 0.2 && exact < 0.8, "{exact}");
        let err = errors(exact, &SIZES, |rng, sz| {
            epic_sampled(rng, lookup(&ra), lookup(&rb), 4, 2, 0.9, &cov, sz).unwrap()
        });
        assert!(err[2] < err[0] / 3.0, "{err:?}");
        assert!(err[2] < 0.01, "exact {exact}, errors {err:?}");
    }
}

#[test]
fn sampled_dard_converges_to_exact_dard() {
    let (tau, init, ra, rb) = case();
    let mdp = Mdp::new(4, 2, Transitions::Dense(&tau), &init, 0.9).unwrap();
    for weights in [DardWeights::Dynamics, DardWeights::Coverage] {
        let exact = Dard::new(Coverage::uniform(), weights)
            .distance(&mdp, &Reward::Full(&ra), &Reward::Full(&rb))
            .unwrap();
        assert!(exact > 0.2 && exact < 0.8, "{exact}");
        let err = errors(exact, &SIZES, |rng, sz| {
            dard_sampled(
                rng,
                &mdp,
                lookup(&ra),
                lookup(&rb),
                &Coverage::uniform(),
                weights,
                sz,
            )
            .unwrap()
        });
        assert!(err[2] < err[0] / 3.0, "{weights:?}: {err:?}");
        assert!(err[2] < 0.01, "{weights:?}: exact {exact}, errors {err:?}");
    }
    // f32 inputs converge to the same value.
    let tau32: Vec<f32> = tau.iter().map(|&x| x as f32).collect();
    let init32 = [0.25f32; 4];
    let mdp32 = Mdp::new(4, 2, Transitions::Dense(&tau32), &init32, 0.9).unwrap();
    let exact = Dard::default()
        .distance(&mdp, &Reward::Full(&ra), &Reward::Full(&rb))
        .unwrap();
    let mut rng = SplitMix64::new(5);
    let est = dard_sampled(
        &mut rng,
        &mdp32,
        |s, a, t| ra[(s * 2 + a) * 4 + t] as f32,
        |s, a, t| rb[(s * 2 + a) * 4 + t] as f32,
        &Coverage::uniform(),
        DardWeights::Dynamics,
        SampleSizes::new(4096, 128).unwrap(),
    )
    .unwrap();
    assert!((f64::from(est) - exact).abs() < 0.03, "{est} vs {exact}");
}

// With the mean samples shared, the sampled canonical reward of a positive scaling plus a
// potential shaping is an affine image of the original's, so the estimate is exactly 0 (and
// exactly 1 for the negation) at any sample size; a constant reward has zero variance.
#[test]
fn sampled_estimators_keep_exact_invariances() {
    let (tau, init, ra, _) = case();
    let mdp = Mdp::new(4, 2, Transitions::Dense(&tau), &init, 0.9).unwrap();
    let phi = [0.3, -1.2, 2.0, 0.5];
    let shaped =
        |s: usize, a: usize, t: usize| 3.0 * ra[(s * 2 + a) * 4 + t] + 0.9 * phi[t] - phi[s];
    let neg = |s: usize, a: usize, t: usize| -ra[(s * 2 + a) * 4 + t];
    let sz = SampleSizes::new(128, 8).unwrap();
    let mut rng = SplitMix64::new(3);
    let d = epic_sampled(
        &mut rng,
        lookup(&ra),
        shaped,
        4,
        2,
        0.9,
        &Coverage::uniform(),
        sz,
    )
    .unwrap();
    assert!(d < 1e-7, "{d}");
    let d = epic_sampled(
        &mut rng,
        lookup(&ra),
        neg,
        4,
        2,
        0.9,
        &Coverage::uniform(),
        sz,
    )
    .unwrap();
    assert!((d - 1.0).abs() < 1e-12, "{d}");
    let d = dard_sampled(
        &mut rng,
        &mdp,
        lookup(&ra),
        shaped,
        &Coverage::uniform(),
        DardWeights::Dynamics,
        sz,
    )
    .unwrap();
    assert!(d < 1e-7, "{d}");
    let constant = |_: usize, _: usize, _: usize| 2.5;
    assert!(
        epic_sampled(
            &mut rng,
            lookup(&ra),
            constant,
            4,
            2,
            0.9,
            &Coverage::uniform(),
            sz
        )
        .is_err()
    );
    // Same seed, same estimate (reproducibility from the caller's RNG).
    let e1 = epic_sampled(
        &mut SplitMix64::new(9),
        lookup(&ra),
        neg,
        4,
        2,
        0.5,
        &Coverage::uniform(),
        sz,
    );
    let e2 = epic_sampled(
        &mut SplitMix64::new(9),
        lookup(&ra),
        neg,
        4,
        2,
        0.5,
        &Coverage::uniform(),
        sz,
    );
    assert_eq!(e1, e2);
}
