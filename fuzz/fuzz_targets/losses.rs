//! Fuzzes every policy loss, the aggregations, the value loss, the IS corrections and every
//! preference loss: arbitrary log-probabilities (NaN/∞ included), masks and parameters must give
//! `Ok` with finite outputs or a typed `Err`, never a panic or a NaN.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::loss::*;
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{KlEstimator, KlPenalty, Mask};

#[derive(Arbitrary, Debug)]
struct Input {
    seq_len: u8,
    mask: Vec<bool>,
    logp: Vec<f32>,
    old: Vec<f32>,
    adv: Vec<f32>,
    per_seq_adv: bool,
    kind: u8,
    agg: u8,
    clip_low: f32,
    clip_high: f32,
    dual: Option<f32>,
    delta: Option<f32>,
    kl: Option<(u8, f32)>,
    weights: bool,
    pref_kind: u8,
    beta: f32,
    eps: f32,
    horizon: f32,
    seed: u64,
}

fn finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

fuzz_target!(|inp: Input| {
    let t = usize::from(inp.seq_len % 9).max(1);
    let n = (inp.mask.len() / t) * t;
    if n == 0 || inp.logp.is_empty() || inp.old.is_empty() || inp.adv.is_empty() {
        return;
    }
    let bits = &inp.mask[..n];
    let Ok(mask) = Mask::new(bits, t) else { return };
    let b = n / t;
    let cyc = |x: &[f32], k: usize| -> Vec<f32> { x.iter().copied().cycle().take(k).collect() };
    let (lp, old) = (cyc(&inp.logp, n), cyc(&inp.old, n));
    let adv = cyc(&inp.adv, if inp.per_seq_adv { b } else { n });
    let reference = cyc(&inp.old, n).iter().map(|x| x * 0.5).collect::<Vec<_>>();

    // Policy losses.
    let kind = PolicyLossKind::ALL[usize::from(inp.kind) % PolicyLossKind::ALL.len()];
    let aggs = [
        Aggregation::TokenMean,
        Aggregation::TokenSum,
        Aggregation::SeqMeanTokenSum,
        Aggregation::SeqMeanTokenMean { len_eps: 0.0 },
        Aggregation::RowMeanTokenMean,
        Aggregation::RowMeanTokenSum,
        Aggregation::SeqMeanTokenSumNorm { horizon: 0.0 },
        Aggregation::RowMeanTokenSumNorm { horizon: 0.0 },
    ];
    let mut agg = aggs[usize::from(inp.agg) % aggs.len()];
    if let Ok(a) = agg.with_horizon(f64::from(inp.horizon)) {
        agg = a;
    }
    let Ok(mut loss) = PolicyLoss::<f32>::new(kind).with_clip(inp.clip_low, inp.clip_high) else {
        return;
    };
    if let Ok(l) = loss.with_dual_clip(inp.dual) {
        loss = l;
    }
    if let Ok(l) = loss.with_delta(inp.delta) {
        loss = l;
    }
    if let Some((e, c)) = inp.kl {
        let est = [KlEstimator::K1, KlEstimator::K2, KlEstimator::K3, KlEstimator::Abs]
            [usize::from(e % 4)];
        if let Ok(term) = KlTerm::new(KlPenalty::new(est), c) {
            loss = loss.with_kl(Some(term.importance_weighted(e >= 128)));
        }
    }
    let Ok(mut pin) = PolicyInputs::new(&lp, &old, &adv, mask) else {
        return;
    };
    pin = pin.with_ref(&reference).unwrap_or(pin);
    let mut w = vec![0.0f32; n];
    if inp.weights {
        let corr = IsCorrection::new(IsMode::TokenTruncate, 0.0, 2.0)
            .and_then(|c| c.with_log_clamp(Some(20.0)));
        if let Ok(c) = corr {
            if is_weights(&mut w, &lp, &old, mask, &c).is_ok() {
                assert!(finite(&w) && w.iter().all(|x| *x >= 0.0), "{w:?}");
                pin = pin.with_weights(&w).unwrap_or(pin);
            }
        }
    }
    let mut grad = vec![0.0f32; n];
    let mut rng = SplitMix64::new(inp.seed);
    if let Ok(parts) = policy_loss_rng(&mut grad, &pin, &loss, &agg, &mut rng) {
        assert!(parts.sum.is_finite() && parts.seq_mean_sum.is_finite(), "{parts:?}");
        assert!(finite(&grad), "{grad:?}");
        assert!(parts.tokens <= n && parts.seqs <= b && parts.rows == b);
        if let Ok(v) = agg.value(&parts, &parts) {
            assert!(v.is_finite() || agg == Aggregation::TokenSum, "{v}");
            if agg.scale_grad(&mut grad, mask, &parts).is_ok() {
                assert!(grad.iter().all(|g| !g.is_nan()), "{grad:?}");
            }
        }
    }
    if let Ok(d) = policy_diagnostics(&pin, &loss) {
        let f = d.clip_fraction();
        assert!((0.0..=1.0).contains(&f));
    }

    // Value loss on the same buffers.
    if let Ok(vl) = ValueLoss::new(inp.delta) {
        if let Ok(p) = value_loss(&mut grad, &lp, &old, &reference, mask, &vl, &agg) {
            assert!(p.sum.is_finite() && p.sum >= 0.0);
            assert!(finite(&grad));
        }
    }

    // Preference losses over the first b values.
    let pk = PreferenceLossKind::ALL[usize::from(inp.pref_kind) % PreferenceLossKind::ALL.len()];
    let pl = PreferenceLoss::<f32>::new(pk)
        .with_beta(inp.beta)
        .and_then(|l| l.with_label_smoothing(inp.eps));
    let Ok(pl) = pl else { return };
    let (c, r) = (cyc(&lp, b), cyc(&old, b));
    let (rc, rr) = (cyc(&reference, b), cyc(&adv, b));
    let lens = vec![3.0f32; b];
    let soft: Vec<f32> = adv.iter().take(b).map(|a| a.abs().fract()).collect();
    let Ok(pi) = PairInputs::new(&c, &r, &rc, &rr) else { return };
    let pi = pi.with_lengths(&lens, &lens).unwrap_or(pi);
    let pi = pi.with_previous(&rr, &rc).unwrap_or(pi);
    let pi = if soft.len() == b { pi.with_soft_labels(&soft).unwrap_or(pi) } else { pi };
    let (mut gc, mut gr) = (vec![0.0f32; b], vec![0.0f32; b]);
    if let Ok(p) = preference_loss(&mut gc, &mut gr, &pi, &pl) {
        assert!(p.sum.is_finite(), "{pk}: {p:?}");
        assert!(finite(&gc) && finite(&gr));
    }
    if let Ok(bt) = BradleyTerry::new(inp.eps) {
        if let Ok(p) = bradley_terry_loss(&mut gc, &mut gr, &c, &r, None, &bt) {
            assert!(p.sum.is_finite() && p.sum >= 0.0);
        }
    }
});
