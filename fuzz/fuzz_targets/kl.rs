//! Fuzzes the KL estimators, the full-vocabulary KL and entropy, and the controllers: any input gives
//! `Ok` with finite values or a typed `Err`; `k2`, `k3` and full KL are never negative.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::kl::{
    AdaptiveKlController, KlController, entropy_backward, entropy_forward, full_kl_backward,
    full_kl_forward, logprobs_backward, logprobs_forward,
};
use rewardkit_core::{KlEstimator, KlPenalty};

#[derive(Arbitrary, Debug)]
struct Input {
    logp: Vec<f32>,
    ref_logp: Vec<f32>,
    estimator: u8,
    straight_through: bool,
    clamp: Option<f32>,
    vocab: u8,
    kl: f32,
    target: f32,
}

fuzz_target!(|inp: Input| {
    let n = inp.logp.len().min(inp.ref_logp.len());
    let (logp, ref_logp) = (&inp.logp[..n], &inp.ref_logp[..n]);
    let est = [KlEstimator::K1, KlEstimator::Abs, KlEstimator::K2, KlEstimator::K3]
        [usize::from(inp.estimator % 4)];
    let Ok(kl) = KlPenalty::<f32>::new(est)
        .with_straight_through(inp.straight_through)
        .with_log_ratio_clamp(inp.clamp)
    else {
        return;
    };
    let (mut v, mut g) = (vec![0.0f32; n], vec![0.0f32; n]);
    if kl.forward(&mut v, Some(&mut g), logp, ref_logp).is_ok()
        && matches!(est, KlEstimator::K2 | KlEstimator::K3)
    {
        assert!(v.iter().all(|x| *x >= 0.0 || x.is_infinite()), "{v:?}");
    }
    let _ = kl.importance_weighted(&mut v, Some(&mut g), logp, ref_logp, ref_logp);

    let vocab = usize::from(inp.vocab % 8).max(1);
    let m = n / vocab * vocab;
    let rows = m / vocab;
    let mut out = vec![0.0f32; rows];
    if full_kl_forward(&mut out, &logp[..m], &ref_logp[..m], vocab).is_ok() {
        assert!(out.iter().all(|x| x.is_finite() && *x >= 0.0), "{out:?}");
    }
    let mut grad = vec![0.0f32; m];
    let up = vec![1.0f32; rows];
    let _ = full_kl_backward(&mut grad, &up, &logp[..m], &ref_logp[..m], vocab);
    if entropy_forward(&mut out, &logp[..m], vocab).is_ok() {
        assert!(out.iter().all(|x| x.is_finite() && *x >= 0.0));
    }
    let _ = entropy_backward(&mut grad, &up, &logp[..m], vocab);
    // Token log-probabilities from logits: never positive, gradients finite.
    let ids: Vec<u32> = (0..rows).map(|i| u32::from(inp.estimator).wrapping_add(i as u32) % 9).collect();
    if logprobs_forward(&mut out, &logp[..m], &ids, vocab).is_ok() {
        assert!(out.iter().all(|x| x.is_finite() && *x <= 0.0), "{out:?}");
    }
    let _ = logprobs_backward(&mut grad, &up, &logp[..m], &ids, vocab);

    if let Ok(mut c) = AdaptiveKlController::new(0.1f32, inp.target, 10_000.0) {
        let _ = c.update(inp.kl, 256);
        assert!(c.coef() >= 0.0);
    }
});
