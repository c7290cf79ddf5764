//! KL presets against verl's `kl_penalty` and OpenRLHF's `compute_approx_kl`: values and autograd
//! gradients with respect to both log-probabilities, in f64 and f32.

use rewardkit_core::{KlEstimator, KlPenalty, Preset, Real};
use rewardkit_tests::approx_eq::{Tol, assert_all_close, widen};
use rewardkit_tests::golden::{Case, Tensor, load};

fn conv<F: Real>(t: &Tensor) -> Vec<F> {
    t.data.iter().map(|&x| F::lit(x)).collect()
}

fn check<F: Real + Tol>(c: &Case, kl: KlPenalty<F>, logp: &str, reference: &str, f32_inside: bool) {
    let lp: Vec<F> = conv(c.input(logp));
    let rp: Vec<F> = conv(c.input(reference));
    let (mut v, mut g) = (vec![F::ZERO; lp.len()], vec![F::ZERO; lp.len()]);
    kl.forward(&mut v, Some(&mut g), &lp, &rp).unwrap();
    let (r, a) = if f32_inside { f32::GOLDEN } else { F::GOLDEN };
    assert_all_close(
        &format!("{} value", c.id),
        &widen(&v),
        &c.output("kl").data,
        r,
        a,
    );
    assert_all_close(
        &format!("{} d/dlogp", c.id),
        &widen(&g),
        &c.grad[logp].data,
        r,
        a,
    );
    // Every estimator depends on logp − ref_logp only: the reference gradient is the negative.
    let neg: Vec<f64> = widen(&g).iter().map(|x| -x).collect();
    let want_ref: Vec<f64> = c.grad[reference].data.iter().map(|x| x + 0.0).collect();
    assert_all_close(&format!("{} d/dref", c.id), &neg, &want_ref, r, a);
}

#[test]
fn verl_kl_penalty_matches_golden() {
    let g = load("verl_kl");
    let mut checked = 0;
    for c in &g.cases {
        let name = c.param_str("kl_penalty").unwrap();
        if name == "full" {
            // verl raises NotImplementedError; rewardkit has `logits::full_kl_forward` instead and the
            // name is not an estimator.
            assert!(c.error.is_some());
            assert!(name.parse::<KlPenalty<f64>>().is_err());
            continue;
        }
        let (base, st) = match name.strip_suffix('+') {
            Some(b) => (b, true),
            None => (name, false),
        };
        let est: KlEstimator = base.parse().unwrap();
        if c.is_f32() {
            check::<f32>(
                c,
                KlPenalty::from_preset(Preset::Verl, est).with_straight_through(st),
                "logprob",
                "ref_logprob",
                false,
            );
        } else {
            check::<f64>(
                c,
                KlPenalty::from_preset(Preset::Verl, est).with_straight_through(st),
                "logprob",
                "ref_logprob",
                false,
            );
            check::<f32>(
                c,
                KlPenalty::from_preset(Preset::Verl, est).with_straight_through(st),
                "logprob",
                "ref_logprob",
                false,
            );
        }
        checked += 1;
    }
    assert!(checked >= 28, "{checked}");
}

#[test]
fn openrlhf_kl_matches_golden() {
    let g = load("openrlhf_kl");
    for c in &g.cases {
        let est: KlEstimator = c.param_str("kl_estimator").unwrap().parse().unwrap();
        // OpenRLHF casts to float32 (`.float()`): its f64 outputs are f32-accurate.
        if c.is_f32() {
            check::<f32>(
                c,
                KlPenalty::from_preset(Preset::OpenRlhf, est),
                "log_probs",
                "log_probs_base",
                true,
            );
        } else {
            check::<f64>(
                c,
                KlPenalty::from_preset(Preset::OpenRlhf, est),
                "log_probs",
                "log_probs_base",
                true,
            );
        }
    }
    assert_eq!(g.cases.len(), 6);
}
