//! Literal values computed by hand, independent `f64` loop oracles written from each framework's
//! formula (edge cases beyond the golden subset), and one test per documented error.

use rewardkit_core::loss::preference::{self, ld_token_weights, sequence_logps};
use rewardkit_core::loss::*;
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{Error, KlEstimator, KlPenalty, Mask, Preset};
use rewardkit_tests::approx_eq::assert_all_close;

/// verl `compute_policy_loss_vanilla` + `agg_loss`, as a plain loop (from rl-frameworks §2.1.3).
fn verl_vanilla_oracle(
    lp: &[f64],
    old: &[f64],
    adv: &[f64],
    m: &[bool],
    t: usize,
    (lo, hi, c): (f64, f64, f64),
    mode: &str,
) -> (f64, Vec<f64>) {
    let b = lp.len() / t;
    let mut loss = vec![0.0; lp.len()];
    let mut dl = vec![0.0; lp.len()];
    for i in 0..lp.len() {
        let d = (lp[i] - old[i]).clamp(-20.0, 20.0);
        let live = (lp[i] - old[i]).abs() <= 20.0;
        let r = d.exp();
        let a = adv[i];
        let p1 = -a * r;
        let p2 = -a * r.clamp(1.0 - lo, 1.0 + hi);
        let inside = r >= 1.0 - lo && r <= 1.0 + hi;
        let (mut v, mut g) = if p1 > p2 {
            (p1, -a * r)
        } else if p2 > p1 {
            (p2, if inside { -a * r } else { 0.0 })
        } else {
            (p1, 0.5 * (-a * r) + 0.5 * if inside { -a * r } else { 0.0 })
        };
        if a < 0.0 {
            let p3 = -a * c;
            if p3 < v {
                v = p3;
                g = 0.0;
            }
        }
        loss[i] = v;
        dl[i] = if live { g } else { 0.0 };
    }
    let len: Vec<f64> = (0..b)
        .map(|i| m[i * t..(i + 1) * t].iter().filter(|&&x| x).count() as f64)
        .collect();
    let n: f64 = len.iter().sum();
    let q = len.iter().filter(|&&l| l > 0.0).count() as f64;
    let mut value = 0.0;
    let mut grad = vec![0.0; lp.len()];
    for (i, &li) in len.iter().enumerate() {
        for j in 0..t {
            let k = i * t + j;
            if !m[k] {
                continue;
            }
            let w = match mode {
                "token-mean" => 1.0 / n,
                "token-sum" => 1.0,
                "seq-mean-token-sum" => 1.0 / q,
                "seq-mean-token-mean" => 1.0 / (li * q),
                _ => unreachable!(),
            };
            value += w * loss[k];
            grad[k] = w * dl[k];
        }
    }
    (value, grad)
}

fn ours(
    lp: &[f64],
    old: &[f64],
    adv: &[f64],
    m: &[bool],
    t: usize,
    loss: &PolicyLoss<f64>,
    agg: &Aggregation,
) -> rewardkit_core::Result<(f64, Vec<f64>)> {
    let mask = Mask::new(m, t)?;
    let inp = PolicyInputs::new(lp, old, adv, mask)?;
    let mut g = vec![0.0; lp.len()];
    let parts = policy_loss_rng(&mut g, &inp, loss, agg, &mut SplitMix64::new(3))?;
    let v = agg.value::<f64>(&parts, &parts)?;
    agg.scale_grad(&mut g, mask, &parts)?;
    Ok((v, g))
}

#[test]
fn vanilla_edge_cases_match_the_verl_oracle() {
    // Rows: an all-masked row; ratios far outside the clip (Δ = ±30, clamped at ±20); the dual
    // clip active (A < 0, r = e² > 3); zero advantages; a plain row.
    let t = 4;
    let m = [
        false, false, false, false, //
        true, true, true, false, //
        true, true, true, true, //
        true, false, true, true,
    ];
    let lp = [
        -1.0,
        -2.0,
        -3.0,
        -4.0, //
        -1.0,
        -31.0,
        -0.5,
        f64::NAN, //
        0.0,
        -1.0,
        -2.0,
        -0.1, //
        -0.3,
        9.9,
        -0.2,
        -1.0,
    ];
    let old = [
        -1.0, -2.0, -3.0, -4.0, //
        -31.0, -1.0, -2.5, 0.0, //
        -0.1, -1.0, -2.05, -0.3, //
        -0.4, 0.0, -0.1, -2.0,
    ];
    let adv = [
        1.0, 1.0, 1.0, 1.0, //
        1.0, -1.0, -2.0, 0.0, //
        0.0, 0.0, 0.0, 0.0, //
        0.7, 1.0, -0.4, 1.5,
    ];
    let loss = PolicyLoss::from_preset(Preset::Verl, PolicyLossKind::Vanilla);
    for mode in [
        "token-mean",
        "token-sum",
        "seq-mean-token-sum",
        "seq-mean-token-mean",
    ] {
        let agg: Aggregation = mode.parse().unwrap();
        let (v, g) = ours(&lp, &old, &adv, &m, t, &loss, &agg).unwrap();
        let (ov, og) = verl_vanilla_oracle(&lp, &old, &adv, &m, t, (0.2, 0.2, 3.0), mode);
        assert_all_close(mode, &[v], &[ov], 1e-12, 1e-12);
        assert_all_close(mode, &g, &og, 1e-12, 1e-12);
    }
    // Zero advantages: zero loss and zero gradient on that row.
    let (_, g) = ours(&lp, &old, &adv, &m, t, &loss, &Aggregation::TokenSum).unwrap();
    assert!(g[8..12].iter().all(|&x| x == 0.0));
    // All-masked row contributes nothing and is not counted by the seq modes.
    assert!(g[0..4].iter().all(|&x| x == 0.0));
}

#[test]
fn literal_policy_values() {
    // One token, hand-computed; T = 1, TokenSum so the value is the per-token loss.
    let one = |p: PolicyLoss<f64>, lp: f64, old: f64, a: f64| {
        ours(&[lp], &[old], &[a], &[true], 1, &p, &Aggregation::TokenSum).unwrap()
    };
    // GSPO on one token = PPO on that token: r = e^{0.1} inside the clip -> −A·r.
    let r = 0.1f64.exp();
    let (v, g) = one(PolicyLoss::new(PolicyLossKind::Gspo), -1.0, -1.1, 1.0);
    assert!((v + r).abs() < 1e-15 && (g[0] + r).abs() < 1e-15);
    // GMPO with A = 1, Δ = 0.5 clipped at ε_hi = 0.2 (sign-aware): ρ = e^{0.2}, gradient 0.
    let (v, g) = one(PolicyLoss::new(PolicyLossKind::GeoMean), -0.5, -1.0, 1.0);
    assert!((v + 0.2f64.exp()).abs() < 1e-15 && g[0] == 0.0);
    // DPPO-TV with A = 1: p − p_old = e^{-0.5} − e^{-1} = 0.2386 > 0.2 -> invalid: 0.
    let (v, g) = one(PolicyLoss::new(PolicyLossKind::DppoTv), -0.5, -1.0, 1.0);
    assert_eq!((v, g[0]), (0.0, 0.0));
    // DPPO-TV valid (Δ = 0.1, p − p_old = 0.0350): −A·min(r, 20)·logp = r·1 with logp = −1.
    let (v, g) = one(PolicyLoss::new(PolicyLossKind::DppoTv), -1.0, -1.1, 1.0);
    assert!((v - r).abs() < 1e-15 && (g[0] + r).abs() < 1e-15);
    // VESPO, A = 1 (k = 2, λ = 3), log w = Δ = 0: log φ = 3 + 0 − 3 = 0, φ = 1: −A·logp = 1.
    let (v, g) = one(PolicyLoss::new(PolicyLossKind::Vespo), -1.0, -1.0, 1.0);
    assert!((v - 1.0).abs() < 1e-15 && (g[0] + 1.0).abs() < 1e-15);
    // GSPO-token with verl's clamp: a sequence log-ratio of 12 is clamped to 10, no gradient.
    let p = PolicyLoss::from_preset(Preset::Verl, PolicyLossKind::GspoToken);
    let (v, g) = one(p.with_clip(0.2, 1e6).unwrap(), 11.0, -1.0, 1.0);
    assert!((v + 10f64.exp()).abs() < 1e-6 && g[0] == 0.0);
    // KL-Cov: the single token is the top-1 covariance token: −A·r + κ·|Δ| with κ = 1.
    let (v, g) = one(PolicyLoss::new(PolicyLossKind::KlCov), -1.0, -1.1, 1.0);
    assert!((v - (-r + 0.1)).abs() < 1e-15 && (g[0] - (-r + 1.0)).abs() < 1e-15);
    // A k3 KL term with coefficient 0.5 at d = log 2 adds 0.5·(½ − 1 + ln 2), gradient 0.5·½.
    let kl = KlTerm::new(KlPenalty::new(KlEstimator::K3), 0.5).unwrap();
    let p = PolicyLoss::new(PolicyLossKind::Gpg).with_kl(Some(kl));
    let mask = Mask::new(&[true], 1).unwrap();
    let lp = [2f64.ln() - 1.0];
    let inp = PolicyInputs::new(&lp, &lp, &[0.0], mask)
        .unwrap()
        .with_ref(&[-1.0])
        .unwrap();
    let mut g = [0.0];
    let parts = policy_loss(&mut g, &inp, &p, &Aggregation::TokenSum).unwrap();
    assert!((parts.sum - 0.5 * (0.5 - 1.0 + 2f64.ln())).abs() < 1e-15);
    assert!((g[0] - 0.25).abs() < 1e-15);
}

#[test]
fn literal_preference_values() {
    // h_c = 1, h_r = −1 (u = 2), β = 0.5, lengths 2 and 4.
    let inp = PairInputs::new(&[-5.0f64], &[-7.0], &[-6.0], &[-6.0])
        .unwrap()
        .with_lengths(&[2.0], &[4.0])
        .unwrap();
    let s = |x: f64| 1.0 / (1.0 + (-x).exp());
    let ls = |x: f64| s(x).ln();
    let cases: Vec<(PreferenceLossKind, f64)> = vec![
        (PreferenceLossKind::Sigmoid, -ls(1.0)),
        (PreferenceLossKind::Hinge, 0.0), // max(0, 1 − 1)
        (PreferenceLossKind::Ipo, (0.5 + 0.25 - 1.0f64).powi(2)),
        (
            PreferenceLossKind::NcaPair,
            -ls(0.5) - 0.5 * ls(-0.5) - 0.5 * ls(0.5),
        ),
        (PreferenceLossKind::BcoPair, -ls(0.5) - ls(0.5)),
        (PreferenceLossKind::SppoHard, 0.0), // (1 − 1)² + (−1 + 1)²
        (PreferenceLossKind::ApoZero, 1.0 - s(0.5) + s(-0.5)),
        (PreferenceLossKind::ApoDown, s(0.5) + 1.0 - s(1.0)),
        (
            PreferenceLossKind::Discopop,
            (1.0 - s(20.0)) * -ls(1.0) + s(20.0) * (-1.0f64).exp(),
        ),
        (PreferenceLossKind::SigmoidNorm, -ls(0.5 * (0.5 + 0.25))),
        (PreferenceLossKind::Simpo, -ls(0.5 * (-2.5 + 1.75))),
        (PreferenceLossKind::Cpo, -ls(1.0)),
    ];
    for (kind, want) in cases {
        let loss = PreferenceLoss::new(kind).with_beta(0.5).unwrap();
        let (mut gc, mut gr) = ([0.0], [0.0]);
        let p = preference_loss(&mut gc, &mut gr, &inp, &loss).unwrap();
        assert!((p.sum - want).abs() < 1e-14, "{kind}: {} vs {want}", p.sum);
    }
    // Robust with ε = 0.1: (−0.9·log σ(1) + 0.1·log σ(−1)) / 0.8.
    let rob = PreferenceLoss::new(PreferenceLossKind::Robust)
        .with_beta(0.5)
        .unwrap()
        .with_label_smoothing(0.1)
        .unwrap();
    let (mut gc, mut gr) = ([0.0], [0.0]);
    let p = preference_loss(&mut gc, &mut gr, &inp, &rob).unwrap();
    assert!((p.sum - (-0.9 * ls(1.0) + 0.1 * ls(-1.0)) / 0.8).abs() < 1e-14);
    // INPO, η = 1, τ = 0.5 (ητ = 0.5): g = (−5 + 7) − 0.5·0 − 0.5·(−6 + 8) = 1; (1 − 0.5)² = 0.25.
    let inpo = PreferenceLoss::new(PreferenceLossKind::Inpo)
        .with_inpo(1.0, 0.5)
        .unwrap();
    let i2 = PairInputs::new(&[-5.0f64], &[-7.0], &[-6.0], &[-6.0])
        .unwrap()
        .with_previous(&[-6.0], &[-8.0])
        .unwrap();
    let p = preference_loss(&mut gc, &mut gr, &i2, &inpo).unwrap();
    assert!((p.sum - 0.25).abs() < 1e-15);
    // DNO with p = 1 is DPO.
    let dno = PreferenceLoss::new(PreferenceLossKind::Dno)
        .with_beta(0.5)
        .unwrap();
    let i3 = PairInputs::new(&[-5.0f64], &[-7.0], &[-6.0], &[-6.0])
        .unwrap()
        .with_soft_labels(&[1.0])
        .unwrap();
    let p = preference_loss(&mut gc, &mut gr, &i3, &dno).unwrap();
    assert!((p.sum + ls(1.0)).abs() < 1e-15);
    // Bradley–Terry with margin 1 and centering 0.1: −log σ(2 − 1) + 0.1·(1 + (−1))².
    let bt = BradleyTerry::new(0.1).unwrap();
    let p = bradley_terry_loss(&mut gc, &mut gr, &[1.0], &[-1.0], Some(&[1.0]), &bt).unwrap();
    assert!((p.sum + ls(1.0)).abs() < 1e-15);
}

#[test]
fn ld_dpo_equals_dpo_for_equal_lengths() {
    let m = [true, true, false, true, true, false];
    let mask = Mask::new(&m, 3).unwrap();
    let (mut wc, mut wr) = ([0.0f64; 6], [0.0f64; 6]);
    ld_token_weights(&mut wc, &mut wr, mask, mask, 0.3).unwrap();
    let ones: Vec<f64> = m.iter().map(|&b| f64::from(u8::from(b))).collect();
    assert_eq!(wc.to_vec(), ones);
    let mut s = [0.0f64; 2];
    sequence_logps(&mut s, &[-1.0, -2.0, 9.0, -0.5, -0.5, 9.0], Some(&wc), mask).unwrap();
    assert_eq!(s, [-3.0, -1.0]);
}

#[test]
fn errors_are_typed() {
    let m = [true, true];
    let mask = Mask::new(&m, 2).unwrap();
    // Shape mismatch.
    assert!(matches!(
        PolicyInputs::new(&[0.0f64; 3], &[0.0; 2], &[1.0], mask),
        Err(Error::LengthMismatch { what: "logp", .. })
    ));
    let inp = PolicyInputs::new(&[-1.0f64, -1.0], &[-1.0, -1.0], &[1.0], mask).unwrap();
    let mut short = [0.0; 1];
    let p = PolicyLoss::new(PolicyLossKind::Vanilla);
    assert!(matches!(
        policy_loss(&mut short, &inp, &p, &Aggregation::TokenMean),
        Err(Error::LengthMismatch { what: "grad", .. })
    ));
    // Non-finite log-probabilities at a valid position; NaN under the mask is ignored.
    let bad = PolicyInputs::new(&[-1.0f64, f64::NAN], &[-1.0, -1.0], &[1.0], mask).unwrap();
    let mut g = [0.0; 2];
    assert_eq!(
        policy_loss(&mut g, &bad, &p, &Aggregation::TokenMean),
        Err(Error::NonFinite {
            what: "logp",
            index: 1
        })
    );
    let half = Mask::new(&[true, false], 2).unwrap();
    let ok = PolicyInputs::new(&[-1.0f64, f64::NAN], &[-1.0, -1.0], &[1.0], half).unwrap();
    assert!(policy_loss(&mut g, &ok, &p, &Aggregation::TokenMean).is_ok());
    // An all-masked batch: the kernel returns empty parts, the aggregation refuses them.
    let none = Mask::new(&[false, false], 2).unwrap();
    let inp0 = PolicyInputs::new(&[-1.0f64, -1.0], &[-1.0, -1.0], &[1.0], none).unwrap();
    let parts = policy_loss(&mut g, &inp0, &p, &Aggregation::TokenMean).unwrap();
    assert!(matches!(
        Aggregation::TokenMean.value::<f64>(&parts, &parts),
        Err(Error::TooFewValid { .. })
    ));
    assert!(matches!(
        Aggregation::TokenMean.scale_grad(&mut g, none, &parts),
        Err(Error::TooFewValid { .. })
    ));
    // Invalid clip ranges and parameters.
    assert!(p.with_clip(-0.1, 0.2).is_err());
    assert!(p.with_clip(0.2, f64::NAN).is_err());
    assert!(p.with_clip(1.5, 0.2).is_err());
    assert!(p.with_dual_clip(Some(1.0)).is_err());
    assert!(p.with_delta(Some(0.0)).is_err());
    assert!(p.with_cov(0.1, 5.0, 1.0).is_err());
    assert!(p.with_dro_beta(0.0).is_err());
    assert!(p.with_sapo_tau(0.0, 1.0).is_err());
    assert!(KlTerm::new(KlPenalty::<f64>::default(), -1.0).is_err());
    // Missing inputs.
    let kl = KlTerm::new(KlPenalty::<f64>::default(), 0.1).unwrap();
    assert!(matches!(
        policy_loss(&mut g, &inp, &p.with_kl(Some(kl)), &Aggregation::TokenMean),
        Err(Error::MissingInput { .. })
    ));
    let cc = PolicyLoss::new(PolicyLossKind::ClipCov);
    assert!(matches!(
        policy_loss(&mut g, &inp, &cc, &Aggregation::TokenMean),
        Err(Error::MissingInput { .. })
    ));
    // Overflow of an unclamped ratio on finite inputs.
    let huge = PolicyInputs::new(&[2000.0f64, -1.0], &[-1.0, -1.0], &[1.0], mask).unwrap();
    let gspo = PolicyLoss::new(PolicyLossKind::Gspo);
    assert!(matches!(
        policy_loss(&mut g, &huge, &gspo, &Aggregation::TokenMean),
        Err(Error::Overflow { .. })
    ));
    // Preference and value inputs.
    assert!(PairInputs::new(&[0.0f64], &[0.0, 1.0], &[0.0], &[0.0]).is_err());
    assert!(PairInputs::<f64>::new(&[], &[], &[], &[]).is_err());
    let pi = PairInputs::new(&[f64::INFINITY], &[0.0], &[0.0], &[0.0]).unwrap();
    let (mut gc, mut gr) = ([0.0], [0.0]);
    let dpo = PreferenceLoss::new(PreferenceLossKind::Sigmoid);
    assert!(matches!(
        preference_loss(&mut gc, &mut gr, &pi, &dpo),
        Err(Error::NonFinite { .. })
    ));
    let pi = PairInputs::new(&[0.0f64], &[0.0], &[0.0], &[0.0]).unwrap();
    let norm = PreferenceLoss::new(PreferenceLossKind::SigmoidNorm);
    assert!(matches!(
        preference_loss(&mut gc, &mut gr, &pi, &norm),
        Err(Error::MissingInput { .. })
    ));
    assert!(dpo.with_beta(0.0).is_err());
    assert!(dpo.with_label_smoothing(0.5).is_err());
    let mut gv = [0.0; 2];
    assert!(matches!(
        value_loss(
            &mut gv,
            &[0.0, f64::NAN],
            &[0.0; 2],
            &[0.0; 2],
            mask,
            &ValueLoss::new(None).unwrap(),
            &Aggregation::TokenMean
        ),
        Err(Error::NonFinite { .. })
    ));
    assert!(IsCorrection::new(IsMode::TokenTruncate, 3.0f64, 2.0).is_err());
    // Fuzz regression (crash-8335f37d): a subnormal horizon made `1/normalizer` overflow f32 and
    // the scaled gradient 0·∞ = NaN; it is now a typed error.
    let tiny = Aggregation::RowMeanTokenSumNorm { horizon: 0.0 }
        .with_horizon(3.57e-43)
        .unwrap();
    let parts = LossParts {
        tokens: 2,
        seqs: 1,
        rows: 1,
        ..LossParts::ZERO
    };
    let mut g32 = [0.0f32; 2];
    assert!(matches!(
        tiny.scale_grad(&mut g32, mask, &parts),
        Err(Error::Overflow { .. })
    ));
    let mut rw = [0.0f32; 1];
    assert!(tiny.row_weights(&mut rw, mask, &parts).is_err());
    let mut w = [0.0; 2];
    assert!(entropy_mask(&mut w, &[1.0f64, 2.0], mask, 0.0).is_err());
}

#[test]
fn literal_pair_weights_combination_wpo_and_sft() {
    // One pair with u = 2 (β = 0.25, βu = 0.5) and one with u = 0.
    let (pc, pr, rc, rr) = ([-5.0f64, -3.0], [-7.0, -2.0], [-6.0, -3.0], [-6.0, -2.0]);
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let dpo = PreferenceLoss::new(PreferenceLossKind::Sigmoid)
        .with_beta(0.25)
        .unwrap();
    let hinge = PreferenceLoss::new(PreferenceLossKind::Hinge)
        .with_beta(0.25)
        .unwrap();
    // Pair weights ω = (2, 0.5) multiply each pair's loss and gradient.
    let omega = [2.0, 0.5];
    let inp = PairInputs::new(&pc, &pr, &rc, &rr)
        .unwrap()
        .with_pair_weights(&omega)
        .unwrap();
    let (mut gc, mut gr) = ([0.0; 2], [0.0; 2]);
    let p = preference_loss(&mut gc, &mut gr, &inp, &dpo).unwrap();
    let (l1, l2) = ((1.0 + (-0.5f64).exp()).ln(), 2f64.ln());
    assert!((p.sum - (2.0 * l1 + 0.5 * l2)).abs() < 1e-15);
    assert_eq!((p.tokens, p.seqs, p.rows), (2, 2, 2));
    let d1 = -0.25 * sig(-0.5);
    let d2 = -0.25 * 0.5;
    assert_all_close("ω grads", &gc, &[2.0 * d1, 0.5 * d2], 1e-15, 1e-16);
    assert_all_close("ω grads r", &gr, &[-2.0 * d1, -0.5 * d2], 1e-15, 1e-16);
    // 1·sigmoid + 2·hinge (hinge: 1 − βu = 0.5 and 1), unweighted pairs.
    let plain = PairInputs::new(&pc, &pr, &rc, &rr).unwrap();
    let p =
        combined_preference_loss(&mut gc, &mut gr, &plain, &[(dpo, 1.0), (hinge, 2.0)]).unwrap();
    assert!(
        (p.sum - (l1 + l2 + 2.0 * (0.5 + 1.0))).abs() < 1e-14,
        "{}",
        p.sum
    );
    assert_all_close(
        "mix grads",
        &gc,
        &[d1 - 2.0 * 0.25, d2 - 2.0 * 0.25],
        1e-15,
        1e-16,
    );
    // WPO: V = 2. Chosen: (0, ln 3) → token 1, π = 3/4, Σπ² = 5/8: ratio 6/5; (0, 0) → token 0,
    // ratio (1/2)/(1/2) = 1; a_c = ln(6/5)/2. Rejected: (0, ln 3) → token 0, ratio 2/5; the second
    // position is masked (NaN logits, any id): a_r = ln(2/5). ω = √(6/5)·2/5.
    let l3 = 3f64.ln();
    let zc = [0.0, l3, 0.0, 0.0];
    let zr = [0.0, l3, f64::NAN, f64::NAN];
    let (mc, mr) = ([true, true], [true, false]);
    let mut w = [0.0f64];
    preference::wpo_weights(
        &mut w,
        &zc,
        &[1, 0],
        Mask::new(&mc, 2).unwrap(),
        &zr,
        &[0, 77],
        Mask::new(&mr, 2).unwrap(),
        2,
    )
    .unwrap();
    assert!((w[0] - 1.2f64.sqrt() * 0.4).abs() < 1e-15, "{}", w[0]);
    // SFT: −log π over the valid chosen tokens; token mean and TRL's per-row mean.
    let bits = [true, true, false, true, false, false];
    let mask = Mask::new(&bits, 3).unwrap();
    let lp = [-1.0f64, -2.0, f64::NAN, -4.0, 9.0, 9.0];
    let mut g = [0.0; 6];
    let agg = Aggregation::TokenMean;
    let p = preference::sft_loss(&mut g, &lp, mask, &agg).unwrap();
    assert_eq!((p.sum, p.tokens), (7.0, 3));
    assert_eq!(g, [-1.0, -1.0, 0.0, -1.0, 0.0, 0.0]);
    assert_eq!(agg.value::<f64>(&p, &p).unwrap(), 7.0 / 3.0);
    let rows = Aggregation::RowMeanTokenMean;
    let p = preference::sft_loss(&mut g, &lp, mask, &rows).unwrap();
    assert_eq!(rows.value::<f64>(&p, &p).unwrap(), (1.5 + 4.0) / 2.0);
}

#[test]
fn dpo_from_logits_errors_are_typed() {
    let (pc, pr) = ([-5.0f64, -3.0], [-7.0, -2.0]);
    let (mut gc, mut gr) = ([0.0; 2], [0.0; 2]);
    let dpo = PreferenceLoss::new(PreferenceLossKind::Sigmoid);
    // Pair weights: length, NaN, negative.
    let inp = PairInputs::new(&pc, &pr, &pc, &pr).unwrap();
    assert!(matches!(
        inp.with_pair_weights(&[1.0]),
        Err(Error::LengthMismatch {
            what: "pair weights",
            ..
        })
    ));
    let nan = [1.0, f64::NAN];
    assert_eq!(
        preference_loss(
            &mut gc,
            &mut gr,
            &inp.with_pair_weights(&nan).unwrap(),
            &dpo
        ),
        Err(Error::NonFinite {
            what: "pair weights",
            index: 1
        })
    );
    let neg = [1.0, -0.5];
    assert!(matches!(
        preference_loss(
            &mut gc,
            &mut gr,
            &inp.with_pair_weights(&neg).unwrap(),
            &dpo
        ),
        Err(Error::InvalidParam {
            name: "pair weights",
            ..
        })
    ));
    // Combination: no terms, a non-finite coefficient, a term missing its input (nothing written).
    assert!(matches!(
        combined_preference_loss::<f64>(&mut gc, &mut gr, &inp, &[]),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        combined_preference_loss(&mut gc, &mut gr, &inp, &[(dpo, f64::INFINITY)]),
        Err(Error::InvalidParam { .. })
    ));
    let simpo = PreferenceLoss::new(PreferenceLossKind::Simpo);
    let (mut sc, mut sr) = ([7.0; 2], [7.0; 2]);
    assert!(matches!(
        combined_preference_loss(&mut sc, &mut sr, &inp, &[(dpo, 1.0), (simpo, 1.0)]),
        Err(Error::MissingInput { .. })
    ));
    assert_eq!((sc, sr), ([7.0; 2], [7.0; 2]));
    assert!(matches!(
        combined_preference_loss(&mut gc[..1], &mut gr, &inp, &[(dpo, 1.0)]),
        Err(Error::LengthMismatch { .. })
    ));
    // WPO weights: shapes, vocabulary, non-finite logits and ids at valid positions only.
    let bits = [true, false];
    let m = Mask::new(&bits, 2).unwrap();
    let z = [0.0f64; 4];
    let mut w = [0.0f64];
    let wpo = |w: &mut [f64], zc: &[f64], ic: &[u32], mc: Mask<'_>, v: usize| {
        preference::wpo_weights(w, zc, ic, mc, &z, &[0, 0], m, v)
    };
    assert!(wpo(&mut w, &z, &[0, 0], m, 2).is_ok());
    assert!(matches!(
        wpo(&mut w, &z, &[0, 0], Mask::new(&[true; 4], 2).unwrap(), 2),
        Err(Error::LengthMismatch {
            what: "mask_rejected",
            ..
        })
    ));
    assert!(matches!(
        wpo(&mut [0.0; 2], &z, &[0, 0], m, 2),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert!(matches!(
        wpo(&mut w, &z, &[0], m, 2),
        Err(Error::LengthMismatch {
            what: "ids_chosen",
            ..
        })
    ));
    assert!(matches!(
        wpo(&mut w, &z[..3], &[0, 0], m, 2),
        Err(Error::LengthMismatch {
            what: "logits_chosen",
            ..
        })
    ));
    assert!(matches!(
        wpo(&mut w, &z, &[0, 0], m, 0),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        wpo(&mut w, &z, &[0, 0], m, usize::MAX),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(
        wpo(&mut w, &[0.0, f64::INFINITY, 0.0, 0.0], &[0, 0], m, 2),
        Err(Error::NonFinite {
            what: "logits_chosen",
            index: 1
        })
    );
    // The masked position may hold anything.
    assert!(wpo(&mut w, &[0.0, 0.0, f64::NAN, 0.0], &[0, 99], m, 2).is_ok());
    assert_eq!(
        wpo(&mut w, &z, &[5, 0], m, 2),
        Err(Error::TokenOutOfRange {
            index: 0,
            id: 5,
            vocab: 2
        })
    );
    // SFT: lengths and non-finite log-probabilities at a valid position.
    let mut g = [0.0; 2];
    assert!(matches!(
        preference::sft_loss(&mut g[..1], &[-1.0, -1.0], m, &Aggregation::TokenMean),
        Err(Error::LengthMismatch { what: "grad", .. })
    ));
    assert!(matches!(
        preference::sft_loss(&mut g, &[-1.0], m, &Aggregation::TokenMean),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(
        preference::sft_loss(
            &mut g,
            &[f64::NEG_INFINITY, -1.0],
            m,
            &Aggregation::TokenMean
        ),
        Err(Error::NonFinite {
            what: "token_logps",
            index: 0
        })
    );
    assert!(preference::sft_loss(&mut g, &[-1.0, f64::NAN], m, &Aggregation::TokenMean).is_ok());
}
