//! Fuzzes the KL estimators and the KL term (`eval` and `forward` must agree, on values and on
//! errors), the logits math (every forward and accumulating backward pass), and the controllers:
//! any input gives `Ok` with finite values or a typed `Err`; `k2`, `k3`, entropy and full KL are
//! never negative, log-probabilities never positive, and the controller's coefficient is always
//! finite.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::kl::{AdaptiveKlController, KlController};
use rewardkit_core::logits::{
    RowStats, entropy_backward, entropy_forward, full_kl_backward, full_kl_forward,
    log_softmax_backward, log_softmax_forward, logprobs_backward, logprobs_forward,
    logsumexp_rows, row_stats, softmax_backward, softmax_forward,
};
use rewardkit_core::{KlEstimator, KlPenalty, KlTerm, Preset};

#[derive(Arbitrary, Debug)]
struct Input {
    logp: Vec<f32>,
    ref_logp: Vec<f32>,
    estimator: u8,
    preset: u8,
    straight_through: bool,
    clamp: Option<f32>,
    coef: f32,
    vocab: u8,
    kl: f32,
    target: f32,
    horizon: f32,
    steps: u16,
}

fn finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

fuzz_target!(|inp: Input| {
    let n = inp.logp.len().min(inp.ref_logp.len());
    let (logp, ref_logp) = (&inp.logp[..n], &inp.ref_logp[..n]);
    let est = KlEstimator::ALL[usize::from(inp.estimator % 4)];
    let preset = [Preset::Rewardkit, Preset::Verl, Preset::Trl, Preset::OpenRlhf]
        [usize::from(inp.preset % 4)];
    let base = KlPenalty::<f32>::from_preset(preset, est).with_straight_through(inp.straight_through);
    let kl = base.with_log_ratio_clamp(inp.clamp).unwrap_or(base);
    let (mut v, mut g) = (vec![0.0f32; n], vec![0.0f32; n]);
    let fwd = kl.forward(&mut v, Some(&mut g), logp, ref_logp);
    if fwd.is_ok() {
        assert!(finite(&v) && finite(&g), "{v:?} {g:?}");
        if matches!(est, KlEstimator::K2 | KlEstimator::K3) {
            assert!(v.iter().all(|x| *x >= 0.0), "{v:?}");
        }
    }
    // One rule: eval agrees with forward token by token.
    for (i, (&a, &b)) in logp.iter().zip(ref_logp).enumerate() {
        match kl.eval(a, b) {
            Ok((x, y)) => {
                assert!(x.is_finite() && y.is_finite());
                if fwd.is_ok() {
                    assert_eq!((x.to_bits(), y.to_bits()), (v[i].to_bits(), g[i].to_bits()));
                }
            }
            Err(_) => assert!(fwd.is_err()),
        }
    }
    if kl.importance_weighted(&mut v, Some(&mut g), logp, ref_logp, ref_logp).is_ok() {
        assert!(finite(&v) && finite(&g));
    }
    if let Ok(term) = KlTerm::new(kl, inp.coef) {
        let term = term.with_importance_weighted(inp.straight_through);
        for (&a, &b) in logp.iter().zip(ref_logp) {
            if let Ok((x, y)) = term.eval(a, b, b) {
                assert!(x.is_finite() && y.is_finite());
            }
        }
    }

    // Logits: rows of V values (the ref buffer as the reference logits).
    let vocab = usize::from(inp.vocab % 8).max(1);
    let m = n / vocab * vocab;
    let rows = m / vocab;
    let (z, zr) = (&logp[..m], &ref_logp[..m]);
    let mut s = vec![RowStats::default(); rows];
    let mut sr = vec![RowStats::default(); rows];
    let mut out = vec![0.0f32; rows];
    let up = vec![0.5f32; rows];
    let mut grad = vec![0.0f32; m];
    if row_stats(&mut s, z, vocab).is_ok() {
        assert!(s.iter().all(|r| r.max.is_finite() && r.ln_sum >= 0.0 && r.ln_sum.is_finite()));
    }
    if logsumexp_rows(&mut out, z, vocab).is_ok() {
        assert!(finite(&out));
    }
    if full_kl_forward(&mut out, &mut s, &mut sr, z, zr, vocab).is_ok() {
        assert!(out.iter().all(|x| x.is_finite() && *x >= 0.0), "{out:?}");
        if full_kl_backward(&mut grad, &up, z, zr, &s, &sr, &out, vocab).is_ok() {
            assert!(finite(&grad));
        }
    }
    if entropy_forward(&mut out, &mut s, z, vocab).is_ok() {
        assert!(out.iter().all(|x| x.is_finite() && *x >= 0.0));
        // Accumulating into the KL gradient: still finite or a typed error.
        if entropy_backward(&mut grad, &up, z, &s, &out, vocab).is_ok() {
            assert!(finite(&grad));
        }
    }
    let ids: Vec<u32> = (0..rows)
        .map(|i| u32::from(inp.estimator).wrapping_add(i as u32) % 9)
        .collect();
    if logprobs_forward(&mut out, &mut s, z, &ids, vocab).is_ok() {
        assert!(out.iter().all(|x| x.is_finite() && *x <= 0.0), "{out:?}");
        let mut g1 = vec![0.0f32; m];
        if logprobs_backward(&mut g1, &up, z, &s, &ids, vocab).is_ok() {
            assert!(finite(&g1));
            // Twice into one buffer is twice the gradient (up to f32 rounding of the sum).
            let once = g1.clone();
            if logprobs_backward(&mut g1, &up, z, &s, &ids, vocab).is_ok() {
                for (a, b) in g1.iter().zip(&once) {
                    assert_eq!(*a, *b + *b);
                }
            }
        }
    }
    // Garbage statistics where the upstream is 0 are never read.
    let bad = vec![RowStats { max: f64::NAN, ln_sum: -1.0 }; rows];
    let zero = vec![0.0f32; rows];
    let mut g0 = vec![0.0f32; m];
    if rows > 0 && vocab > 0 && finite(z) {
        assert!(logprobs_backward(&mut g0, &zero, z, &bad, &vec![0; rows], vocab).is_ok());
        assert!(g0.iter().all(|x| *x == 0.0));
    }
    let mut full = vec![0.0f32; m];
    if log_softmax_forward(&mut full, &mut s, z, vocab).is_ok() {
        assert!(full.iter().all(|x| x.is_finite() && *x <= 0.0));
        let gup = vec![0.25f32; m];
        if log_softmax_backward(&mut grad, &gup, z, &s, vocab).is_ok() {
            assert!(finite(&grad));
        }
    }
    if softmax_forward(&mut full, &mut s, z, vocab).is_ok() {
        assert!(full.iter().all(|x| (0.0..=1.0).contains(x)));
        for row in full.chunks(vocab) {
            let t: f32 = row.iter().sum();
            assert!((t - 1.0).abs() < 1e-3, "{row:?}");
        }
        let gup = vec![0.25f32; m];
        if softmax_backward(&mut grad, &gup, z, &s, vocab).is_ok() {
            assert!(finite(&grad));
        }
    }

    if let Ok(mut c) = AdaptiveKlController::new(0.1f32, inp.target, inp.horizon) {
        for _ in 0..(inp.steps % 64) {
            let before = c.coef();
            if c.update(inp.kl, 256).is_err() {
                assert_eq!(c.coef(), before);
            }
            assert!(c.coef().is_finite() && c.coef() >= 0.0);
        }
    }
});
