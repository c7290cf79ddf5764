//! Issue 14 (losses): OREAL's loss pieces, PAR's `Reg` loss, ODIN's two-head loss and WARM's weight
//! averaging — against the numbers and autograd gradients of their reference code
//! (`tests/data/seed/reference.json`), hand literals, central finite differences, properties (f32
//! against f64, shard additivity, masked garbage) and every documented error.

use proptest::prelude::*;
use rewardkit_core::loss::*;
use rewardkit_core::reward::{Oreal, OrealRescale};
use rewardkit_core::{Error, KlEstimator, KlPenalty, Mask};
use rewardkit_tests::approx_eq::{assert_all_close, assert_oracle, close};
use rewardkit_tests::fd::assert_grad;
use serde_json::Value;

fn reference() -> Value {
    let path = rewardkit_tests::data_path("seed/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(f64s).collect()
}

/// Ragged rows padded to `(B, T)` with `pad`, and the prefix mask.
fn pad(rows: &[Vec<f64>], pad: f64) -> (Vec<f64>, Vec<bool>, usize) {
    let t = rows.iter().map(Vec::len).max().unwrap();
    let mut x = vec![pad; rows.len() * t];
    let mut m = vec![false; rows.len() * t];
    for (i, r) in rows.iter().enumerate() {
        for (j, &v) in r.iter().enumerate() {
            x[i * t + j] = v;
            m[i * t + j] = true;
        }
    }
    (x, m, t)
}

fn kl_term(kind: &str, coef: f64) -> KlTerm<f64> {
    let est = match kind {
        "unbias" => KlEstimator::K3,
        "mse" => KlEstimator::K2,
        other => panic!("{other}"),
    };
    KlTerm::new(KlPenalty::new(est), coef).unwrap()
}

// ------------------------------------------------------------------------------ OREAL

#[test]
fn oreal_loss_matches_reference() {
    let r = reference();
    let o = &r["oreal_loss"];
    let (logp, bits, t) = pad(&rows(&o["logps"]), f64::NAN);
    let (refs, _, _) = pad(&rows(&o["refs"]), f64::NAN);
    let (rms, _, _) = pad(&rows(&o["rms"]), f64::NAN);
    let positive: Vec<bool> = f64s(&o["rewards"]).iter().map(|&x| x > 0.0).collect();
    let adv = f64s(&o["advantages"]);
    let mask = Mask::new(&bits, t).unwrap();
    let n = bits.len();
    for case in o["cases"].as_array().unwrap() {
        let label = case["label"].as_str().unwrap();
        let loss = OrealLoss::new(
            case["pf"].as_f64().unwrap(),
            case["nf"].as_f64().unwrap(),
            case["pos_mult_adv"].as_bool().unwrap(),
        )
        .unwrap()
        .with_kl(Some(kl_term(
            case["kl_type"].as_str().unwrap(),
            case["kl_coef"].as_f64().unwrap(),
        )));
        let (mut wp, mut wn) = (vec![0.0; n], vec![0.0; n]);
        let mut inp = OrealInputs::new(&logp, &adv, &positive, mask)
            .unwrap()
            .with_ref(&refs)
            .unwrap();
        if let Some(rs) = case["rescale"].as_array() {
            let rescale = OrealRescale::Threshold {
                positive: rs[1].as_f64().unwrap(),
                negative: rs[2].as_f64().unwrap(),
            };
            Oreal::token_weights_rescaled(&mut wp, &mut wn, &mut [], &rms, mask, rescale).unwrap();
            inp = inp.with_weights(&wp, &wn).unwrap();
        }
        let mut grad = vec![0.0; n];
        let v = oreal_loss(&mut grad, &inp, &loss, &inp.counts().unwrap()).unwrap();
        let want = [
            case["positive"].as_f64().unwrap(),
            case["negative"].as_f64().unwrap(),
            case["kl"].as_f64().unwrap(),
        ];
        assert_all_close(label, &[v.positive, v.negative, v.kl], &want, 1e-12, 1e-15);
        let (want_grad, _, _) = pad(&rows(&case["grad"]), 0.0);
        assert_all_close(label, &grad, &want_grad, 1e-12, 1e-15);
        if let Some(rm) = case["rm"].as_f64() {
            let mut g = vec![0.0; n];
            let value = oreal_rm_loss(&mut g, &rms, &positive, mask, 6).unwrap();
            assert_all_close("rm loss", &[value], &[rm], 1e-12, 1e-15);
            let (want_g, _, _) = pad(&rows(&case["rm_grad"]), 0.0);
            assert_all_close("rm grad", &g, &want_g, 1e-12, 1e-15);
        }
    }
}

/// OREAL's objective as a function of `ℓ` with the old log-probabilities `ℓ₀` held fixed (the
/// reference's `exp(ℓ − sg(ℓ))` differentiated), for finite differences.
#[expect(
    clippy::too_many_arguments,
    reason = "a test oracle with every input spelled out"
)]
fn oreal_objective(
    l: &[f64],
    l0: &[f64],
    refs: &[f64],
    bits: &[bool],
    t: usize,
    adv: &[f64],
    positive: &[bool],
    weights: (&[f64], &[f64]),
    (pf, nf, mult, beta): (f64, f64, bool, f64),
) -> f64 {
    let count = |p: Option<bool>| {
        bits.iter()
            .enumerate()
            .filter(|(k, m)| **m && p.is_none_or(|p| positive[k / t] == p))
            .count() as f64
    };
    let (np, nn, na) = (count(Some(true)), count(Some(false)), count(None));
    let mut v = 0.0;
    for k in 0..l.len() {
        if !bits[k] {
            continue;
        }
        let i = k / t;
        if positive[i] {
            v += pf * if mult { adv[i] } else { 1.0 } / np * weights.0[k] * -l[k];
        } else {
            v -= nf * adv[i] / nn * weights.1[k] * (l[k] - l0[k]).exp();
        }
        let d = refs[k] - l[k];
        v += beta * (d.exp() - d - 1.0) / na;
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn oreal_gradient_matches_finite_differences(
        (b, t, bits, x) in rewardkit_tests::strategies::masked_tokens(5, 6),
        adv in prop::collection::vec(-2.0f64..2.0, 5),
        pos in prop::collection::vec(any::<bool>(), 5),
        w in prop::collection::vec(0.0f64..1.0, 30),
        (pf, nf, mult, beta) in (0.0f64..2.0, 0.0f64..2.0, any::<bool>(), 0.0f64..0.5),
    ) {
        let n = b * t;
        let l: Vec<f64> = x.iter().map(|v| v - 1.5).collect();
        let refs: Vec<f64> = x.iter().rev().map(|v| v * 0.5 - 1.0).collect();
        let (wp, wn) = (&w[..n], &w[30 - n..]);
        let mask = Mask::new(&bits, t).unwrap();
        let loss = OrealLoss::new(pf, nf, mult).unwrap()
            .with_kl(Some(KlTerm::new(KlPenalty::new(KlEstimator::K3), beta).unwrap()));
        let inp = OrealInputs::new(&l, &adv[..b], &pos[..b], mask).unwrap()
            .with_ref(&refs).unwrap().with_weights(wp, wn).unwrap();
        let mut grad = vec![0.0; n];
        let v = oreal_loss(&mut grad, &inp, &loss, &inp.counts().unwrap()).unwrap();
        let f = |y: &[f64]| oreal_objective(y, &l, &refs, &bits, t, &adv, &pos, (wp, wn), (pf, nf, mult, beta));
        prop_assert!(close(v.total(), f(&l), 1e-12, 1e-12));
        assert_grad("oreal", &l, &grad, 1e-5, 1e-6, f);
    }

    #[test]
    fn oreal_shards_add_up_and_f32_agrees(
        (b, t, bits, x) in rewardkit_tests::strategies::masked_tokens(6, 5),
        adv in prop::collection::vec(-2.0f64..2.0, 6),
        pos in prop::collection::vec(any::<bool>(), 6),
        split in 0usize..7,
        garbage in -1e30f64..1e30,
    ) {
        let split = split.min(b);
        let n = b * t;
        let l: Vec<f64> = x.iter().zip(&bits).map(|(v, &m)| if m { v - 1.5 } else { garbage }).collect();
        let refs: Vec<f64> = x.iter().zip(&bits).map(|(v, &m)| if m { v * 0.3 - 1.0 } else { f64::NAN }).collect();
        let loss = OrealLoss::<f64>::default();
        let mask = Mask::new(&bits, t).unwrap();
        let inp = OrealInputs::new(&l, &adv[..b], &pos[..b], mask).unwrap().with_ref(&refs).unwrap();
        let total = inp.counts().unwrap();
        let mut whole = vec![0.0; n];
        let v = oreal_loss(&mut whole, &inp, &loss, &total).unwrap();
        // Two shards against the whole-batch counts.
        let mut parts = vec![0.0; n];
        let mut sum = 0.0;
        let mut counted = OrealCounts::default();
        for (lo, hi) in [(0, split), (split, b)] {
            if lo == hi { continue; }
            let m = Mask::new(&bits[lo * t..hi * t], t).unwrap();
            let s = OrealInputs::new(&l[lo * t..hi * t], &adv[lo..hi], &pos[lo..hi], m).unwrap()
                .with_ref(&refs[lo * t..hi * t]).unwrap();
            counted += s.counts().unwrap();
            sum += oreal_loss(&mut parts[lo * t..hi * t], &s, &loss, &total).unwrap().total();
        }
        prop_assert_eq!(counted, total);
        prop_assert!(close(sum, v.total(), 1e-12, 1e-14));
        for (a, c) in parts.iter().zip(&whole) {
            prop_assert!(close(*a, *c, 1e-12, 1e-15));
        }
        // Masked positions: gradient 0 whatever the garbage there.
        for (g, &m) in whole.iter().zip(&bits) {
            if !m { prop_assert_eq!(*g, 0.0); }
        }
        // f32 against f64 at the rounded inputs.
        let l32: Vec<f32> = l.iter().zip(&bits).map(|(&v, &m)| if m { v as f32 } else { 0.0 }).collect();
        let r32: Vec<f32> = refs.iter().zip(&bits).map(|(&v, &m)| if m { v as f32 } else { 0.0 }).collect();
        let a32: Vec<f32> = adv[..b].iter().map(|&v| v as f32).collect();
        let (lr, rr, ar): (Vec<f64>, Vec<f64>, Vec<f64>) = (
            l32.iter().map(|&v| f64::from(v)).collect(),
            r32.iter().map(|&v| f64::from(v)).collect(),
            a32.iter().map(|&v| f64::from(v)).collect(),
        );
        let loss32 = OrealLoss::<f32>::default();
        let i32_ = OrealInputs::new(&l32, &a32, &pos[..b], mask).unwrap().with_ref(&r32).unwrap();
        let mut g32 = vec![0.0f32; n];
        let v32 = oreal_loss(&mut g32, &i32_, &loss32, &total).unwrap();
        let loss_r = OrealLoss::<f64>::default().with_kl(Some(KlTerm::new(KlPenalty::new(KlEstimator::K3), f64::from(0.01f32)).unwrap()));
        let ir = OrealInputs::new(&lr, &ar, &pos[..b], mask).unwrap().with_ref(&rr).unwrap();
        let mut gr = vec![0.0; n];
        let vr = oreal_loss(&mut gr, &ir, &loss_r, &total).unwrap();
        assert_oracle("oreal f32 grad", &g32, &gr);
        prop_assert!(close(v32.total(), vr.total(), 1e-5, 1e-6));
    }

    #[test]
    fn oreal_rm_gradient_matches_finite_differences(
        (b, t, bits, x) in rewardkit_tests::strategies::masked_tokens(5, 6),
        pos in prop::collection::vec(any::<bool>(), 5),
        extra in 0usize..3,
    ) {
        let z: Vec<f64> = x.iter().map(|v| v * 3.0).collect();
        let mask = Mask::new(&bits, t).unwrap();
        let seqs = b + extra; // other shards hold `extra` more sequences
        let mut g = vec![0.0; b * t];
        let v = oreal_rm_loss(&mut g, &z, &pos[..b], mask, seqs).unwrap();
        prop_assert!(v >= 0.0);
        let f = |y: &[f64]| {
            let mut gg = vec![0.0; b * t];
            oreal_rm_loss(&mut gg, y, &pos[..b], mask, seqs).unwrap()
        };
        assert_grad("oreal rm", &z, &g, 1e-5, 1e-7, f);
    }
}

#[test]
fn oreal_literals_and_errors() {
    // Hand: one positive row (A = 2, T = 2) and one negative row (A = −1, T = 1), w = 1, no KL.
    // N⁺ = 2, N⁻ = 1: positive = (1·2/2)·(1 + 2) = 3; negative = −(0.5·(−1)/1)·1 = 0.5.
    let bits = [true, true, true, false];
    let mask = Mask::new(&bits, 2).unwrap();
    let logp = [-1.0f64, -2.0, -0.5, 7.0];
    let inp = OrealInputs::new(&logp, &[2.0, -1.0], &[true, false], mask).unwrap();
    let loss = OrealLoss::new(1.0, 0.5, true).unwrap().with_kl(None);
    let mut g = [0.0; 4];
    let v = oreal_loss(&mut g, &inp, &loss, &inp.counts().unwrap()).unwrap();
    assert_eq!((v.positive, v.negative, v.kl), (3.0, 0.5, 0.0));
    assert_eq!(g, [-1.0, -1.0, 0.5, 0.0]);
    // Without pos_mult_adv the advantage drops out of the positive term: (1/2)·3 = 1.5.
    let plain = OrealLoss::new(1.0, 0.5, false).unwrap().with_kl(None);
    assert_eq!(
        oreal_loss(&mut g, &inp, &plain, &inp.counts().unwrap())
            .unwrap()
            .positive,
        1.5
    );
    // KL only (k3 at ℓ = ℓ_ref is 0, its gradient too).
    let kl_only = OrealLoss::new(0.0, 0.0, true).unwrap();
    let with_ref = inp.with_ref(&logp).unwrap();
    let v = oreal_loss(&mut g, &with_ref, &kl_only, &inp.counts().unwrap()).unwrap();
    assert_eq!((v.total(), g), (0.0, [0.0; 4]));
    assert_eq!(
        OrealLoss::<f64>::default().kl().map(|k| k.coef()),
        Some(0.01)
    );
    // Errors, one per documented case.
    let counts = inp.counts().unwrap();
    assert!(matches!(
        OrealLoss::new(-1.0, 0.5, true),
        Err(Error::InvalidParam {
            name: "positive_loss_factor",
            ..
        })
    ));
    assert!(matches!(
        OrealLoss::new(1.0, f64::NAN, true),
        Err(Error::InvalidParam {
            name: "negative_loss_factor",
            ..
        })
    ));
    assert!(matches!(
        OrealInputs::new(&logp[..3], &[2.0, -1.0], &[true, false], mask),
        Err(Error::LengthMismatch { what: "logp", .. })
    ));
    assert!(matches!(
        OrealInputs::new(&logp, &[2.0], &[true, false], mask),
        Err(Error::LengthMismatch {
            what: "advantages",
            ..
        })
    ));
    assert!(matches!(
        OrealInputs::new(&logp, &[2.0, -1.0], &[true], mask),
        Err(Error::LengthMismatch {
            what: "positive",
            ..
        })
    ));
    assert!(matches!(
        inp.with_ref(&logp[..2]),
        Err(Error::LengthMismatch {
            what: "ref_logp",
            ..
        })
    ));
    assert!(matches!(
        inp.with_weights(&logp, &logp[..1]),
        Err(Error::LengthMismatch {
            what: "neg_weight",
            ..
        })
    ));
    assert!(matches!(
        oreal_loss(&mut g[..3], &inp, &loss, &counts),
        Err(Error::LengthMismatch { what: "grad", .. })
    ));
    assert_eq!(
        oreal_loss(&mut g, &inp, &OrealLoss::default(), &counts),
        Err(Error::MissingInput { what: "ref_logp" })
    );
    let nan_logp = [-1.0, f64::NAN, -0.5, 0.0];
    let bad = OrealInputs::new(&nan_logp, &[2.0, -1.0], &[true, false], mask).unwrap();
    assert_eq!(
        oreal_loss(&mut g, &bad, &loss, &counts),
        Err(Error::NonFinite {
            what: "logp",
            index: 1
        })
    );
    let nan_ref = [-1.0, -1.0, f64::INFINITY, f64::NAN]; // the masked NaN is never read
    assert_eq!(
        oreal_loss(
            &mut g,
            &inp.with_ref(&nan_ref).unwrap(),
            &OrealLoss::default(),
            &counts
        ),
        Err(Error::NonFinite {
            what: "ref_logp",
            index: 2
        })
    );
    let bad_adv = OrealInputs::new(&logp, &[2.0, f64::NAN], &[true, false], mask).unwrap();
    assert_eq!(
        oreal_loss(&mut g, &bad_adv, &loss, &counts),
        Err(Error::NonFinite {
            what: "advantages",
            index: 1
        })
    );
    let w = [1.0, -0.5, 1.0, 1.0];
    assert!(matches!(
        oreal_loss(&mut g, &inp.with_weights(&w, &w).unwrap(), &loss, &counts),
        Err(Error::InvalidParam {
            name: "pos_weight",
            ..
        })
    ));
    let nanw = [1.0, 1.0, f64::NAN, 1.0];
    assert!(matches!(
        oreal_loss(
            &mut g,
            &inp.with_weights(&[1.0; 4], &nanw).unwrap(),
            &loss,
            &counts
        ),
        Err(Error::NonFinite {
            what: "neg_weight",
            index: 2
        })
    ));
    let small = OrealCounts {
        positive_tokens: 1,
        ..counts
    };
    assert!(matches!(
        oreal_loss(&mut g, &inp, &loss, &small),
        Err(Error::InvalidParam { name: "total", .. })
    ));
    // f32 overflow: the gradient −f⁺·A/N⁺ = −2·3e38 of a single positive token.
    let one = [true, false, true, false];
    let m1 = Mask::new(&one, 2).unwrap();
    let l32 = [-2.0f32, 0.0, -0.5, 0.0];
    let i32_ = OrealInputs::new(&l32, &[3e38, -1.0], &[true, false], m1).unwrap();
    let mut g32 = [0.0f32; 4];
    let big = OrealLoss::<f32>::new(2.0, 0.5, true).unwrap().with_kl(None);
    assert_eq!(
        oreal_loss(&mut g32, &i32_, &big, &i32_.counts().unwrap()),
        Err(Error::Overflow {
            what: "OREAL gradient"
        })
    );
    // RM loss errors.
    let mut gr = [0.0; 4];
    assert!(matches!(
        oreal_rm_loss(&mut gr[..2], &logp, &[true, false], mask, 2),
        Err(Error::LengthMismatch { what: "grad", .. })
    ));
    assert!(matches!(
        oreal_rm_loss(&mut gr, &logp[..2], &[true, false], mask, 2),
        Err(Error::LengthMismatch { what: "logits", .. })
    ));
    assert!(matches!(
        oreal_rm_loss(&mut gr, &logp, &[true], mask, 2),
        Err(Error::LengthMismatch {
            what: "positive",
            ..
        })
    ));
    assert_eq!(
        oreal_rm_loss(&mut gr, &nan_logp, &[true, false], mask, 2),
        Err(Error::NonFinite {
            what: "logits",
            index: 1
        })
    );
    assert!(matches!(
        oreal_rm_loss(&mut gr, &logp, &[true, false], mask, 1),
        Err(Error::InvalidParam {
            name: "total_seqs",
            ..
        })
    ));
    assert!(matches!(
        oreal_rm_loss(
            &mut gr,
            &[f64::MAX, f64::MAX, 0.0, 0.0],
            &[true, false],
            mask,
            2
        ),
        Err(Error::Overflow { .. })
    ));
}

// ------------------------------------------------------------------------------ PAR: Reg

#[test]
fn par_reg_matches_reference() {
    let r = reference();
    let p = &r["par_reg"];
    let (c, rj) = (f64s(&p["chosen"]), f64s(&p["rejected"]));
    let bt = BradleyTerry::new(0.0)
        .unwrap()
        .with_l2(p["lambda"].as_f64().unwrap())
        .unwrap();
    let (mut gc, mut gr) = (vec![0.0; c.len()], vec![0.0; c.len()]);
    let parts = bradley_terry_loss(&mut gc, &mut gr, &c, &rj, None, &bt).unwrap();
    let want: f64 = f64s(&p["losses"]).iter().sum();
    assert_all_close("reg loss", &[parts.sum], &[want], 1e-14, 1e-15);
    assert_all_close("reg grad c", &gc, &f64s(&p["grad_chosen"]), 1e-14, 1e-15);
    assert_all_close("reg grad r", &gr, &f64s(&p["grad_rejected"]), 1e-14, 1e-15);
    // Literal: c = r = 0, λ = 0.005: ln 2. c = 2, r = 0: softplus(−2) + 0.005·4.
    let (mut a, mut b) = ([0.0], [0.0]);
    let v = bradley_terry_loss(&mut a, &mut b, &[2.0], &[0.0], None, &bt).unwrap();
    assert!((v.sum - ((-2.0f64).exp().ln_1p() + 0.02)).abs() < 1e-15);
    assert!(matches!(
        BradleyTerry::new(0.0).unwrap().with_l2(-1.0),
        Err(Error::InvalidParam {
            name: "reward_reg_val",
            ..
        })
    ));
    // λ·(r_c² + r_r²) beyond f32.
    let big = BradleyTerry::new(0.0f32).unwrap().with_l2(1.0).unwrap();
    assert!(matches!(
        bradley_terry_loss(&mut [0.0f32], &mut [0.0f32], &[2e19], &[2e19], None, &big),
        Err(Error::Overflow { .. })
    ));
}

// ------------------------------------------------------------------------------ ODIN

#[test]
fn odin_matches_reference() {
    for case in reference()["odin"].as_array().unwrap() {
        let odin = Odin::new(
            case["lambda_length"].as_f64().unwrap(),
            case["lambda_orth"].as_f64().unwrap(),
        )
        .unwrap();
        let (q, l) = (f64s(&case["quality"]), f64s(&case["length_head"]));
        let lengths: Vec<u32> = f64s(&case["lengths"]).iter().map(|&x| x as u32).collect();
        let (mut gq, mut gl) = (vec![0.0; q.len()], vec![0.0; q.len()]);
        let v = odin.loss(&mut gq, &mut gl, &q, &l, &lengths).unwrap();
        let (wq, wl) = (f64s(&case["w_q"]), f64s(&case["w_l"]));
        let (mut gwq, mut gwl) = (vec![0.0; wq.len()], vec![0.0; wl.len()]);
        let dim = case["dim"].as_u64().unwrap() as usize;
        let o = odin.orthogonal(&mut gwq, &mut gwl, &wq, &wl, dim).unwrap();
        let lam_o = case["lambda_orth"].as_f64().unwrap();
        assert_all_close(
            "odin pieces",
            &[v.vanilla, v.length, o / lam_o, v.total + o],
            &[
                case["vanilla"].as_f64().unwrap(),
                case["length"].as_f64().unwrap(),
                case["orth"].as_f64().unwrap(),
                case["loss"].as_f64().unwrap(),
            ],
            1e-12,
            1e-15,
        );
        assert_all_close(
            "odin grad q",
            &gq,
            &f64s(&case["grad_quality"]),
            1e-10,
            1e-14,
        );
        assert_all_close(
            "odin grad l",
            &gl,
            &f64s(&case["grad_length"]),
            1e-10,
            1e-14,
        );
        assert_all_close(
            "odin grad W_Q",
            &gwq,
            &f64s(&case["grad_w_q"]),
            1e-10,
            1e-14,
        );
        assert_all_close(
            "odin grad W_L",
            &gwl,
            &f64s(&case["grad_w_l"]),
            1e-10,
            1e-14,
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn odin_gradients_match_finite_differences(
        p in 1usize..5,
        xs in prop::collection::vec(-2.0f64..2.0, 16),
        lens in prop::collection::vec(1u32..400, 8),
        (lam_l, lam_o) in (0.0f64..2.0, 0.0f64..2.0),
        (h, k, d) in (0usize..3, 1usize..3, 1usize..4),
        ws in prop::collection::vec(-1.0f64..1.0, 12),
    ) {
        let n = 2 * p;
        let (q, l) = (&xs[..n], &xs[8..8 + n]);
        let lengths = &lens[..n];
        let odin = Odin::new(lam_l, lam_o).unwrap();
        let (mut gq, mut gl) = (vec![0.0; n], vec![0.0; n]);
        let v = odin.loss(&mut gq, &mut gl, q, l, lengths).unwrap();
        prop_assert!(v.length >= -1.0 - 1e-12 && v.length <= 2.0 + 1e-12);
        prop_assert!(v.vanilla > 0.0);
        // Away from ρ_Q = 0 (the kink of |ρ|) the gradient is the derivative.
        let rho_q = {
            let mut a = vec![0.0; n]; let mut b = vec![0.0; n];
            Odin::new(1.0, 0.0).unwrap().loss(&mut a, &mut b, q, &vec![0.0; n], lengths).unwrap().length
        };
        if rho_q.abs() > 1e-3 {
            let f = |x: &[f64]| {
                let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
                odin.loss(&mut a, &mut b, &x[..n], &x[n..], lengths).unwrap().total
            };
            let x: Vec<f64> = q.iter().chain(l).copied().collect();
            let g: Vec<f64> = gq.iter().chain(&gl).copied().collect();
            assert_grad("odin", &x, &g, 1e-5, 1e-6, f);
        }
        // Orthogonality: value in [0, 1), gradient = finite differences.
        let (wq, wl) = (&ws[..h * d], &ws[6..6 + k * d]);
        let (mut gwq, mut gwl) = (vec![0.0; wq.len()], vec![0.0; wl.len()]);
        let o = odin.orthogonal(&mut gwq, &mut gwl, wq, wl, d).unwrap();
        prop_assert!(o >= 0.0 && o <= lam_o);
        if h > 0 && o > 1e-4 * lam_o {
            let f = |x: &[f64]| {
                let (mut a, mut b) = (vec![0.0; wq.len()], vec![0.0; wl.len()]);
                odin.orthogonal(&mut a, &mut b, &x[..wq.len()], &x[wq.len()..], d).unwrap()
            };
            let x: Vec<f64> = wq.iter().chain(wl).copied().collect();
            let g: Vec<f64> = gwq.iter().chain(&gwl).copied().collect();
            assert_grad("odin orth", &x, &g, 1e-5, 1e-6, f);
        }
        // f32 against f64 at the rounded inputs.
        let (q32, l32): (Vec<f32>, Vec<f32>) = (q.iter().map(|&x| x as f32).collect(), l.iter().map(|&x| x as f32).collect());
        let (qr, lr): (Vec<f64>, Vec<f64>) = (q32.iter().map(|&x| f64::from(x)).collect(), l32.iter().map(|&x| f64::from(x)).collect());
        let o32 = Odin::new(lam_l as f32, lam_o as f32).unwrap();
        let or = Odin::new(f64::from(lam_l as f32), f64::from(lam_o as f32)).unwrap();
        let (mut a32, mut b32) = (vec![0.0f32; n], vec![0.0f32; n]);
        let (mut ar, mut br) = (vec![0.0; n], vec![0.0; n]);
        let v32 = o32.loss(&mut a32, &mut b32, &q32, &l32, lengths).unwrap();
        let vr = or.loss(&mut ar, &mut br, &qr, &lr, lengths).unwrap();
        prop_assert!(close(v32.total, vr.total, 1e-12, 1e-15));
        assert_oracle("odin f32 grad q", &a32, &ar);
        assert_oracle("odin f32 grad l", &b32, &br);
    }

    #[test]
    fn bradley_terry_l2_gradient_matches_finite_differences(
        c in prop::collection::vec(-5.0f64..5.0, 1..6), shift in -3.0f64..3.0,
        eta in 0.0f64..0.1, lam in 0.0f64..0.1,
    ) {
        let r: Vec<f64> = c.iter().map(|x| (x + shift) * 0.7).collect();
        let bt = BradleyTerry::new(eta).unwrap().with_l2(lam).unwrap();
        let (mut gc, mut gr) = (vec![0.0; c.len()], vec![0.0; c.len()]);
        bradley_terry_loss(&mut gc, &mut gr, &c, &r, None, &bt).unwrap();
        let n = c.len();
        let f = |x: &[f64]| {
            let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
            bradley_terry_loss(&mut a, &mut b, &x[..n], &x[n..], None, &bt).unwrap().sum
        };
        let x: Vec<f64> = c.iter().chain(&r).copied().collect();
        let g: Vec<f64> = gc.iter().chain(&gr).copied().collect();
        assert_grad("bt l2", &x, &g, 1e-5, 1e-6, f);
    }

    #[test]
    fn warm_average_properties(
        models in prop::collection::vec(prop::collection::vec(-1e3f64..1e3, 7), 1..6),
        rot in 0usize..6,
    ) {
        let refs: Vec<&[f64]> = models.iter().map(Vec::as_slice).collect();
        let mut out = [0.0; 7];
        warm_average(&mut out, &refs).unwrap();
        // Permutation invariance (up to summation order) and the mean's bounds.
        let mut rotated = refs.clone();
        rotated.rotate_left(rot % refs.len());
        let mut out2 = [0.0; 7];
        warm_average(&mut out2, &rotated).unwrap();
        for n in 0..7 {
            let (lo, hi) = models.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), m| (a.min(m[n]), b.max(m[n])));
            prop_assert!(out[n] >= lo - 1e-9 && out[n] <= hi + 1e-9);
            prop_assert!(close(out[n], out2[n], 1e-12, 1e-12));
            let want = models.iter().map(|m| m[n]).sum::<f64>() / models.len() as f64;
            prop_assert!(close(out[n], want, 1e-15, 1e-15));
        }
        // Averaging identical models returns the model (to the rounding of 3x/3).
        let same = vec![refs[0]; 3];
        warm_average(&mut out2, &same).unwrap();
        for (a, b) in out2.iter().zip(refs[0]) {
            prop_assert!(close(*a, *b, 2.3e-16, 0.0));
        }
        // f32: the f64 mean of the f32 inputs, rounded once.
        let m32: Vec<Vec<f32>> = models.iter().map(|m| m.iter().map(|&x| x as f32).collect()).collect();
        let r32: Vec<&[f32]> = m32.iter().map(Vec::as_slice).collect();
        let mut o32 = [0.0f32; 7];
        warm_average(&mut o32, &r32).unwrap();
        for n in 0..7 {
            let want = m32.iter().map(|m| f64::from(m[n])).sum::<f64>() / m32.len() as f64;
            prop_assert_eq!(o32[n], want as f32);
        }
    }
}

#[test]
fn odin_literals_and_errors() {
    // One pair: q = (1, 0), lengths (10, 20) → ρ_Q = −1; l = (0, 0) is constant → ρ_L = 0 (the
    // reference's 0/0): length = 1; margin 1: vanilla = ln(1 + e⁻¹).
    let odin = Odin::<f64>::default();
    let (mut gq, mut gl) = ([0.0; 2], [0.0; 2]);
    let v = odin
        .loss(&mut gq, &mut gl, &[1.0, 0.0], &[0.0, 0.0], &[10, 20])
        .unwrap();
    assert_eq!(v.length, 1.0);
    assert!((v.vanilla - (-1.0f64).exp().ln_1p()).abs() < 1e-15);
    // Equal lengths: both correlations 0, the length term vanishes with its gradient.
    let v = odin
        .loss(&mut gq, &mut gl, &[1.0, 0.0], &[0.5, 2.0], &[7, 7])
        .unwrap();
    assert_eq!(v.length, 0.0);
    assert_eq!(gl[0], gq[0]); // only the vanilla gradient, shared by both heads
    // Orthogonality of scalar heads: |cos| up to ε; with several rows the Frobenius form.
    let (mut a, mut b) = ([0.0; 4], [0.0; 2]);
    let o = odin
        .orthogonal(&mut a, &mut b, &[1.0, 0.0, 0.0, 1.0], &[1.0, 1.0], 2)
        .unwrap();
    // M = [1, 1]ᵀ: ‖M‖ = √2; ‖W_Q‖ = √2, ‖W_L‖ = √2.
    assert!((o - 2f64.sqrt() / (2.0 + 1e-6)).abs() < 1e-15);
    assert_eq!(
        odin.orthogonal(&mut [], &mut b, &[], &[1.0, 1.0], 2)
            .unwrap(),
        0.0
    );
    // Heads of more than 32 rows (the gradient is accumulated over blocks of rows).
    let wq: Vec<f64> = (0..6).map(|i| (f64::from(i) * 0.7).sin()).collect(); // (2, 3)
    let wl: Vec<f64> = (0..120).map(|i| (f64::from(i) * 1.3).cos()).collect(); // (40, 3)
    let (mut gq2, mut gl2) = (vec![0.0; 6], vec![0.0; 120]);
    let o2 = Odin::new(1.0, 1.5).unwrap();
    o2.orthogonal(&mut gq2, &mut gl2, &wq, &wl, 3).unwrap();
    let x: Vec<f64> = wq.iter().chain(&wl).copied().collect();
    let g: Vec<f64> = gq2.iter().chain(&gl2).copied().collect();
    assert_grad("odin orth, 40 rows", &x, &g, 1e-5, 1e-7, |y: &[f64]| {
        let (mut a, mut b) = (vec![0.0; 6], vec![0.0; 120]);
        o2.orthogonal(&mut a, &mut b, &y[..6], &y[6..], 3).unwrap()
    });
    // Errors.
    assert!(matches!(
        Odin::new(-1.0, 1.0),
        Err(Error::InvalidParam {
            name: "reward_odin_L",
            ..
        })
    ));
    assert!(matches!(
        Odin::new(1.0, f64::INFINITY),
        Err(Error::InvalidParam {
            name: "reward_odin_O",
            ..
        })
    ));
    assert_eq!(
        odin.loss(&mut [], &mut [], &[], &[], &[]),
        Err(Error::Empty { what: "quality" })
    );
    assert!(matches!(
        odin.loss(&mut [0.0; 3], &mut [0.0; 3], &[0.0; 3], &[0.0; 3], &[1; 3]),
        Err(Error::BadShape {
            what: "quality",
            ..
        })
    ));
    for (lh, ln, g1, g2, what) in [
        (1usize, 2usize, 2usize, 2usize, "length_head"),
        (2, 1, 2, 2, "lengths"),
        (2, 2, 1, 2, "grad_quality"),
        (2, 2, 2, 1, "grad_length"),
    ] {
        let e = odin.loss(
            &mut [0.0; 2][..g1],
            &mut [0.0; 2][..g2],
            &[0.0, 1.0],
            &[0.0, 1.0][..lh],
            &[1, 2][..ln],
        );
        assert!(
            matches!(e, Err(Error::LengthMismatch { what: w, .. }) if w == what),
            "{what}"
        );
    }
    assert!(matches!(
        odin.loss(&mut gq, &mut gl, &[0.0, f64::NAN], &[0.0; 2], &[1, 2]),
        Err(Error::NonFinite {
            what: "quality",
            index: 1
        })
    ));
    assert!(matches!(
        odin.loss(&mut gq, &mut gl, &[0.0; 2], &[f64::INFINITY, 0.0], &[1, 2]),
        Err(Error::NonFinite {
            what: "length_head",
            index: 0
        })
    ));
    // A margin below the f64 range: −log σ(−∞) = ∞ (and the correlations of ±f64::MAX are ∞/∞).
    assert_eq!(
        odin.loss(
            &mut gq,
            &mut gl,
            &[-f64::MAX, f64::MAX],
            &[-f64::MAX, f64::MAX],
            &[1, 2]
        ),
        Err(Error::Overflow { what: "ODIN loss" })
    );
    for (wq, d, what) in [
        (&[1.0, 2.0, 3.0][..], 2, "w_q"),
        (&[1.0, 2.0][..], 0, "w_q"),
    ] {
        assert!(matches!(
            odin.orthogonal(&mut [0.0; 3][..wq.len()], &mut b, wq, &[1.0, 1.0], d),
            Err(Error::BadShape { what: w, .. }) if w == what
        ));
    }
    assert!(matches!(
        odin.orthogonal(&mut a, &mut b, &[1.0, 0.0], &[1.0, 1.0], 2),
        Err(Error::LengthMismatch { what: "grad_q", .. })
    ));
    assert!(matches!(
        odin.orthogonal(&mut a[..2], &mut b, &[1.0, 0.0], &[f64::NAN, 1.0], 2),
        Err(Error::NonFinite {
            what: "w_l",
            index: 0
        })
    ));
}

#[test]
fn warm_matches_reference_and_errors() {
    let r = reference();
    let w = &r["warm"];
    let models = rows(&w["models"]);
    let refs: Vec<&[f64]> = models.iter().map(Vec::as_slice).collect();
    let mut out = vec![0.0; models[0].len()];
    warm_average(&mut out, &refs).unwrap();
    assert_all_close("warm", &out, &f64s(&w["merged"]), 1e-15, 1e-16);
    assert_eq!(
        warm_average::<f64>(&mut out, &[]),
        Err(Error::Empty { what: "models" })
    );
    assert!(matches!(
        warm_average(&mut out, &[&models[0][..2]]),
        Err(Error::LengthMismatch { what: "models", .. })
    ));
    assert!(matches!(
        warm_average(&mut [0.0f64; 2], &[&[1.0, f64::NAN]]),
        Err(Error::NonFinite {
            what: "models",
            index: 1
        })
    ));
    // Parameters near f64::MAX average without overflow.
    let mut o = [0.0f64];
    warm_average(&mut o, &[&[f64::MAX], &[f64::MAX]]).unwrap();
    assert_eq!(o, [f64::MAX]);
}

#[test]
fn oreal_gradient_reaches_the_logits_through_the_logits_module() {
    // Logits → token log-probabilities (logits::logprobs_forward) → OREAL pieces with a k3 KL
    // term → logits::logprobs_backward: the chain's gradient is the finite difference of the
    // objective as a function of the logits (old log-probabilities held fixed).
    use rewardkit_core::logits::{RowStats, logprobs_backward, logprobs_forward};
    let (b, t, v) = (2usize, 3usize, 4usize);
    let logits: Vec<f64> = (0..b * t * v)
        .map(|i| ((i as f64) * 0.37).sin() * 2.0)
        .collect();
    let ids = [1u32, 3, 0, 2, 2, 1];
    let bits = [true, true, true, true, true, false];
    let mask = Mask::new(&bits, t).unwrap();
    let refs = [-1.2, -0.9, -2.0, -1.5, -1.1, 0.0];
    let (adv, pos) = ([1.5, -0.5], [true, false]);
    let loss = OrealLoss::<f64>::default();
    let forward = |z: &[f64]| {
        let (mut lp, mut st) = (vec![0.0; b * t], vec![RowStats::default(); b * t]);
        logprobs_forward(&mut lp, &mut st, z, &ids, v).unwrap();
        (lp, st)
    };
    let (lp0, stats) = forward(&logits);
    let inp = OrealInputs::new(&lp0, &adv, &pos, mask)
        .unwrap()
        .with_ref(&refs)
        .unwrap();
    let mut up = vec![0.0; b * t];
    oreal_loss(&mut up, &inp, &loss, &inp.counts().unwrap()).unwrap();
    let mut grad = vec![0.0; b * t * v];
    logprobs_backward(&mut grad, &up, &logits, &stats, &ids, v).unwrap();
    let w1 = vec![1.0; b * t];
    assert_grad(
        "oreal through logits",
        &logits,
        &grad,
        1e-5,
        1e-7,
        |z: &[f64]| {
            let (lp, _) = forward(z);
            oreal_objective(
                &lp,
                &lp0,
                &refs,
                &bits,
                t,
                &adv,
                &pos,
                (&w1, &w1),
                (1.0, 0.5, true, 0.01),
            )
        },
    );
}
