//! Fuzzes every policy loss, the aggregations, the value loss, the IS corrections, rejection
//! sampling and every preference loss: arbitrary log-probabilities (NaN/∞ included), masks and
//! parameters must give `Ok` with finite outputs or a typed `Err`, never a panic or a NaN. The
//! seams must agree with the batched loss: per-token calls give its gradient and row sums
//! (`from_row_sums` its parts), and `from_mask` its counts.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::loss::*;
use rewardkit_core::reward::{Oreal, OrealRescale};
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{KlEstimator, KlPenalty, KlTerm, Mask, Preset};

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
    preset: u8,
    rs: Vec<(u8, f32, Option<f32>)>,
    /// Issue 14: OREAL's loss pieces, ODIN, WARM and the L2 term.
    positive: Vec<bool>,
    oreal: (
        f32,
        f32,
        bool,
        Option<(bool, f32)>,
        Option<(bool, f32, f32)>,
    ),
    odin: (f32, f32, u8, u8, u8),
    l2: f32,
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
    let preset = [
        Preset::Rewardkit,
        Preset::Verl,
        Preset::Trl,
        Preset::OpenRlhf,
    ][usize::from(inp.preset % 4)];
    let Ok(mut loss) =
        PolicyLoss::<f32>::from_preset(preset, kind).with_clip(inp.clip_low, inp.clip_high)
    else {
        return;
    };
    if let Ok(l) = loss.with_dual_clip(inp.dual) {
        loss = l;
    }
    if let Ok(l) = loss.with_delta(inp.delta) {
        loss = l;
    }
    if let Some((e, c)) = inp.kl {
        let est = [
            KlEstimator::K1,
            KlEstimator::K2,
            KlEstimator::K3,
            KlEstimator::Abs,
        ][usize::from(e % 4)];
        if let Ok(term) = KlTerm::new(KlPenalty::from_preset(preset, est), c) {
            loss = loss.with_kl(Some(term.with_importance_weighted(e >= 128)));
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
        assert!(
            parts.sum.is_finite() && parts.seq_mean_sum.is_finite(),
            "{parts:?}"
        );
        assert!(finite(&grad), "{grad:?}");
        assert!(parts.tokens <= n && parts.seqs <= b && parts.rows == b);
        let counts = LossParts::from_mask(mask);
        assert_eq!(
            (counts.tokens, counts.seqs, counts.rows),
            (parts.tokens, parts.seqs, parts.rows)
        );
        // The per-token seam reproduces the batched loss exactly.
        if !matches!(
            kind,
            PolicyLossKind::ClipCov | PolicyLossKind::KlCov | PolicyLossKind::GeoMean
        ) {
            let (mut sums, mut lens) = (vec![0.0f64; b], vec![0u32; b]);
            for i in 0..b {
                let r = i * t..(i + 1) * t;
                let ctx = loss
                    .row_context(&lp[r.clone()], &old[r.clone()], &bits[r.clone()])
                    .unwrap();
                let mut dseq = 0.0f32;
                let mut g_row = vec![0.0f32; t];
                for j in 0..t {
                    let k = i * t + j;
                    if !bits[k] {
                        continue;
                    }
                    let x = TokenInputs {
                        weight: if inp.weights { w[k] } else { 1.0 },
                        ref_logp: reference[k],
                        ..TokenInputs::new(
                            lp[k],
                            old[k],
                            if inp.per_seq_adv { adv[i] } else { adv[k] },
                        )
                    };
                    let tt = loss.token(&x, &ctx).unwrap();
                    sums[i] += f64::from(tt.value);
                    lens[i] += 1;
                    g_row[j] = tt.dlogp;
                    dseq += tt.dseq;
                }
                let shared = dseq / lens[i].max(1) as f32;
                for j in 0..t {
                    if bits[i * t + j] {
                        let want = if kind == PolicyLossKind::Gspo {
                            g_row[j] + shared
                        } else {
                            g_row[j]
                        };
                        assert_eq!(want.to_bits(), grad[i * t + j].to_bits(), "{kind} row {i}");
                    }
                }
            }
            assert_eq!(LossParts::from_row_sums(&sums, &lens, &agg).unwrap(), parts);
        }
        if let Ok(v) = agg.value::<f64>(&parts, &parts) {
            assert!(v.is_finite(), "{v}");
            if let Ok(v32) = agg.value::<f32>(&parts, &parts) {
                assert!(v32.is_finite());
            }
            if agg.scale_grad(&mut grad, mask, &parts).is_ok() {
                assert!(grad.iter().all(|g| !g.is_nan()), "{grad:?}");
                assert!(grad.iter().zip(bits).all(|(g, &m)| m || *g == 0.0));
            }
        }
    }
    if let Ok(d) = policy_diagnostics(&pin, &loss) {
        let f = d.clip_fraction();
        assert!((0.0..=1.0).contains(&f));
    }

    // Rejection sampling with up to three rules (verl's chained options).
    let rules: Vec<RejectionRule<f32>> = inp
        .rs
        .iter()
        .take(3)
        .filter_map(|&(m, hi, lo)| {
            let names = [
                "token_k1",
                "token_k2",
                "token_k3",
                "seq_sum_k1",
                "seq_sum_k2",
                "seq_sum_k3",
                "seq_mean_k1",
                "seq_mean_k2",
                "seq_mean_k3",
                "seq_max_k2",
                "seq_max_k3",
            ];
            let mode: RsMode = names[usize::from(m) % names.len()].parse().ok()?;
            RejectionRule::new(mode, lo, hi).ok()
        })
        .collect();
    let mut keep = vec![false; n];
    let mut st = vec![RejectionStats::EMPTY; rules.len()];
    if let Ok(sum) = rejection_mask(&mut keep, &mut st, &lp, &old, mask, &rules) {
        assert!(keep.iter().zip(bits).all(|(&k, &m)| m || !k));
        assert_eq!(sum.tokens, mask.count());
        assert_eq!(
            sum.tokens - sum.rejected_tokens,
            keep.iter().filter(|&&k| k).count()
        );
        assert!(sum.rejected_seqs <= sum.seqs && sum.seqs <= sum.rows);
        for s in &st {
            assert!(s.rejected_tokens <= sum.rejected_tokens);
        }
    }

    // Value loss on the same buffers.
    if let Ok(vl) = ValueLoss::new(inp.delta) {
        if let Ok(p) = value_loss(&mut grad, &lp, &old, &reference, mask, &vl, &agg) {
            assert!(p.sum.is_finite() && p.sum >= 0.0);
            assert!(finite(&grad));
        }
    }

    // OREAL's loss pieces against the batch's own counts: finite values and gradients, 0 at
    // masked positions; the token RM loss is a cross-entropy (>= 0).
    let positive: Vec<bool> = inp.positive.iter().copied().cycle().take(b).collect();
    if positive.len() == b {
        let (pf, nf, mult, kl, rescale) = inp.oreal;
        if let Ok(mut ol) = OrealLoss::new(pf, nf, mult) {
            ol = ol.with_kl(kl.and_then(|(k2, c)| {
                let est = if k2 { KlEstimator::K2 } else { KlEstimator::K3 };
                KlTerm::new(KlPenalty::new(est), c).ok()
            }));
            let advs = cyc(&adv, b);
            if let Ok(oi) = OrealInputs::new(&lp, &advs, &positive, mask) {
                let oi = oi.with_ref(&reference).unwrap_or(oi);
                let (mut wp, mut wn, mut sc) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f64; t]);
                let oi = match rescale {
                    Some((topk, a, c)) => {
                        let r = if topk {
                            OrealRescale::TopK {
                                positive: a,
                                negative: c,
                            }
                        } else {
                            OrealRescale::Threshold {
                                positive: a,
                                negative: c,
                            }
                        };
                        if Oreal::token_weights_rescaled(&mut wp, &mut wn, &mut sc, &old, mask, r)
                            .is_ok()
                        {
                            oi.with_weights(&wp, &wn).unwrap_or(oi)
                        } else {
                            oi
                        }
                    }
                    None => oi,
                };
                let counts = oi.counts().unwrap();
                assert_eq!(counts.tokens, mask.count());
                assert_eq!(
                    counts.positive_tokens + counts.negative_tokens,
                    counts.tokens
                );
                let mut g = vec![0.0f32; n];
                if let Ok(v) = oreal_loss(&mut g, &oi, &ol, &counts) {
                    assert!(v.total().is_finite() && v.kl >= 0.0, "{v:?}");
                    assert!(finite(&g) && g.iter().zip(bits).all(|(x, &m)| m || *x == 0.0));
                }
                if let Ok(v) = oreal_rm_loss(&mut g, &old, &positive, mask, counts.seqs) {
                    assert!(v.is_finite() && v >= 0.0);
                    assert!(finite(&g) && g.iter().zip(bits).all(|(x, &m)| m || *x == 0.0));
                }
            }
        }
    }

    // ODIN over the first 2·⌊b/2⌋ rows, lengths from the mask; its orthogonality on the buffers.
    let (lam_l, lam_o, h, k, d) = inp.odin;
    if let Ok(odin) = Odin::new(lam_l, lam_o) {
        let m2 = (b / 2) * 2;
        if m2 > 0 {
            let (q, l) = (cyc(&lp, m2), cyc(&old, m2));
            let lens: Vec<u32> = mask
                .rows()
                .take(m2)
                .map(|r| r.iter().filter(|&&x| x).count() as u32)
                .collect();
            let (mut gq, mut gl) = (vec![0.0f32; m2], vec![0.0f32; m2]);
            if let Ok(v) = odin.loss(&mut gq, &mut gl, &q, &l, &lens) {
                assert!(v.total.is_finite() && v.vanilla >= 0.0);
                assert!((-1.0 - 1e-9..=2.0 + 1e-9).contains(&v.length), "{v:?}");
                assert!(finite(&gq) && finite(&gl));
            }
        }
        let d = usize::from(d % 5);
        let (h, k) = (usize::from(h % 4), usize::from(k % 4));
        if d > 0 && h * d <= lp.len() && k * d <= old.len() {
            let (wq, wl) = (&lp[..h * d], &old[..k * d]);
            let (mut a, mut c) = (vec![0.0f32; wq.len()], vec![0.0f32; wl.len()]);
            if let Ok(o) = odin.orthogonal(&mut a, &mut c, wq, wl, d) {
                assert!(o >= 0.0 && o <= f64::from(lam_o) * (1.0 + 1e-9), "{o}");
                assert!(finite(&a) && finite(&c));
            }
        }
    }

    // WARM: the average of the rows of `(b, t)` lies within each column's range.
    let models: Vec<&[f32]> = lp.chunks_exact(t).collect();
    let mut merged = vec![0.0f32; t];
    if warm_average(&mut merged, &models).is_ok() {
        for (j, &v) in merged.iter().enumerate() {
            let (lo, hi) = models
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, c), m| {
                    (a.min(m[j]), c.max(m[j]))
                });
            assert!(v >= lo && v <= hi, "{v} {lo} {hi}");
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
    let Ok(pi) = PairInputs::new(&c, &r, &rc, &rr) else {
        return;
    };
    let pi = pi.with_lengths(&lens, &lens).unwrap_or(pi);
    let pi = pi.with_previous(&rr, &rc).unwrap_or(pi);
    let pi = if soft.len() == b {
        pi.with_soft_labels(&soft).unwrap_or(pi)
    } else {
        pi
    };
    let (mut gc, mut gr) = (vec![0.0f32; b], vec![0.0f32; b]);
    if let Ok(p) = preference_loss(&mut gc, &mut gr, &pi, &pl) {
        assert!(p.sum.is_finite(), "{pk}: {p:?}");
        assert!(finite(&gc) && finite(&gr));
    }
    if let Ok(bt) = BradleyTerry::new(inp.eps).and_then(|bt| bt.with_l2(inp.l2)) {
        if let Ok(p) = bradley_terry_loss(&mut gc, &mut gr, &c, &r, None, &bt) {
            assert!(p.sum.is_finite() && p.sum >= 0.0);
        }
    }
});
