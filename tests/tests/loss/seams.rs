//! The seams a GPU backend and a trainer build on, used as they would be: per-token calls of the
//! policy loss against the batched loss, parts from per-row sums and from masks against the parts
//! a loss returns, and the masked-position rule (masked inputs are never read; 0 is written).

use proptest::prelude::*;
use rewardkit_core::loss::*;
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{KlEstimator, KlPenalty, KlTerm, Mask, Real};
use rewardkit_tests::approx_eq::assert_all_close;

/// A `(B, T)` batch with holes in the mask (row 0 always has a token; other rows may be empty),
/// weights, entropies, reference log-probs and both advantage layouts.
#[derive(Clone, Debug)]
struct Batch {
    t: usize,
    mask: Vec<bool>,
    lp: Vec<f64>,
    old: Vec<f64>,
    refp: Vec<f64>,
    adv_tok: Vec<f64>,
    adv_seq: Vec<f64>,
    w: Vec<f64>,
    ent: Vec<f64>,
}

fn batch() -> impl Strategy<Value = Batch> {
    (1..=4usize, 1..=5usize).prop_flat_map(|(b, t)| {
        let n = b * t;
        (
            prop::collection::vec(prop::bool::weighted(0.7), n),
            prop::collection::vec(-3.0..-0.05f64, n),
            prop::collection::vec(-0.6..0.6f64, n),
            prop::collection::vec(-0.4..0.4f64, n),
            prop::collection::vec(-2.0..2.0f64, n),
            prop::collection::vec(-2.0..2.0f64, b),
            prop::collection::vec(0.0..2.0f64, n),
            prop::collection::vec(0.0..3.0f64, n),
        )
            .prop_map(move |(mut mask, lp, d, r, adv_tok, adv_seq, w, ent)| {
                mask[0] = true;
                let old = lp.iter().zip(&d).map(|(l, d)| l - d).collect();
                let refp = lp.iter().zip(&r).map(|(l, r)| l - r).collect();
                Batch {
                    t,
                    mask,
                    lp,
                    old,
                    refp,
                    adv_tok,
                    adv_seq,
                    w,
                    ent,
                }
            })
    })
}

fn cast<F: Real>(x: &[f64]) -> Vec<F> {
    x.iter().map(|&v| F::lit(v)).collect()
}

/// A loss of `kind` with a KL term (estimator by `which`) and an entropy bonus.
fn configured<F: Real>(kind: PolicyLossKind, which: usize) -> PolicyLoss<F> {
    let est = KlEstimator::ALL[which % 4];
    let kl = KlTerm::new(KlPenalty::new(est), F::lit(0.05))
        .unwrap()
        .with_importance_weighted(which >= 4);
    PolicyLoss::new(kind)
        .with_kl(Some(kl))
        .with_entropy_coef(F::lit(0.01))
        .unwrap()
}

/// The kinds a per-token call reproduces without a batch-level selection.
const PER_TOKEN: [PolicyLossKind; 10] = [
    PolicyLossKind::Vanilla,
    PolicyLossKind::Gspo,
    PolicyLossKind::GspoToken,
    PolicyLossKind::Sapo,
    PolicyLossKind::Gpg,
    PolicyLossKind::Cispo,
    PolicyLossKind::DppoTv,
    PolicyLossKind::DppoKl,
    PolicyLossKind::Dro,
    PolicyLossKind::Vespo,
];

/// The batched loss rebuilt from `row_context` and `token` calls, as a GPU kernel would: returns
/// the per-row sums and lengths and the gradient of the sums.
fn per_token<F: Real>(
    bt: &Batch,
    loss: &PolicyLoss<F>,
    per_tok_adv: bool,
    weights: bool,
    entropy: bool,
) -> (Vec<f64>, Vec<u32>, Vec<F>) {
    let t = bt.t;
    let (lp, old, refp) = (cast::<F>(&bt.lp), cast::<F>(&bt.old), cast::<F>(&bt.refp));
    let (at, aseq, w, ent) = (
        cast::<F>(&bt.adv_tok),
        cast::<F>(&bt.adv_seq),
        cast::<F>(&bt.w),
        cast::<F>(&bt.ent),
    );
    let rows = bt.mask.len() / t;
    let (mut sums, mut lens, mut grad) =
        (vec![0.0; rows], vec![0u32; rows], vec![F::ZERO; rows * t]);
    for i in 0..rows {
        let r = i * t..(i + 1) * t;
        let m = &bt.mask[r.clone()];
        let ctx = loss
            .row_context(&lp[r.clone()], &old[r.clone()], m)
            .unwrap();
        let mut dseq = F::ZERO;
        for (j, &valid) in m.iter().enumerate() {
            let k = i * t + j;
            if !valid {
                continue;
            }
            let x = TokenInputs {
                weight: if weights { w[k] } else { F::ONE },
                ref_logp: refp[k],
                entropy: if entropy { ent[k] } else { F::ZERO },
                ..TokenInputs::new(lp[k], old[k], if per_tok_adv { at[k] } else { aseq[i] })
            };
            let tt = loss.token(&x, &ctx).unwrap();
            sums[i] += tt.value.as_f64();
            lens[i] += 1;
            grad[k] = tt.dlogp;
            dseq = dseq + tt.dseq;
        }
        // Pass 3 (GSPO): the sequence ratio's share of the gradient.
        let shared = dseq / F::from_usize((lens[i] as usize).max(1));
        for j in 0..t {
            if m[j] {
                grad[i * t + j] = grad[i * t + j] + shared;
            }
        }
    }
    (sums, lens, grad)
}

fn batched<F: Real>(
    bt: &Batch,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
    per_tok_adv: bool,
    weights: bool,
    entropy: bool,
) -> (LossParts, Vec<F>) {
    let mask = Mask::new(&bt.mask, bt.t).unwrap();
    let (lp, old, refp) = (cast::<F>(&bt.lp), cast::<F>(&bt.old), cast::<F>(&bt.refp));
    let adv = if per_tok_adv {
        cast::<F>(&bt.adv_tok)
    } else {
        cast::<F>(&bt.adv_seq)
    };
    let (w, ent) = (cast::<F>(&bt.w), cast::<F>(&bt.ent));
    let mut inp = PolicyInputs::new(&lp, &old, &adv, mask)
        .unwrap()
        .with_ref(&refp)
        .unwrap();
    if weights {
        inp = inp.with_weights(&w).unwrap();
    }
    if entropy {
        inp = inp.with_entropy(&ent).unwrap();
    }
    let mut g = vec![F::ZERO; lp.len()];
    let parts = policy_loss(&mut g, &inp, loss, agg).unwrap();
    (parts, g)
}

const AGGS: [Aggregation; 6] = [
    Aggregation::TokenMean,
    Aggregation::TokenSum,
    Aggregation::SeqMeanTokenSum,
    Aggregation::SeqMeanTokenMean { len_eps: 0.0 },
    Aggregation::SeqMeanTokenMean { len_eps: 1e-8 },
    Aggregation::RowMeanTokenMean,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The batched loss is the per-token function summed: identical row sums (hence parts, via
    /// `from_row_sums`) and an identical gradient, for every token-local and row-context kind.
    #[test]
    fn batched_loss_is_the_sum_of_token_calls(
        bt in batch(), kind in 0..10usize, which in 0..8usize, per_tok_adv in any::<bool>(),
        weights in any::<bool>(), entropy in any::<bool>(), ai in 0..6usize,
    ) {
        let agg = AGGS[ai];
        let loss = configured::<f64>(PER_TOKEN[kind], which);
        let (sums, lens, g_tok) = per_token(&bt, &loss, per_tok_adv, weights, entropy);
        let (parts, g) = batched(&bt, &loss, &agg, per_tok_adv, weights, entropy);
        prop_assert_eq!(&g_tok, &g);
        // The GPU seam: parts from (row_sum, len) equal the loss's parts exactly.
        prop_assert_eq!(LossParts::from_row_sums(&sums, &lens, &agg).unwrap(), parts);
        // f32: the same code path, the same bits.
        let loss32 = configured::<f32>(PER_TOKEN[kind], which);
        let (sums32, lens32, g_tok32) = per_token(&bt, &loss32, per_tok_adv, weights, entropy);
        let (parts32, g32) = batched(&bt, &loss32, &agg, per_tok_adv, weights, entropy);
        prop_assert_eq!(&g_tok32, &g32);
        prop_assert_eq!(LossParts::from_row_sums(&sums, &lens32, &agg).unwrap().tokens, parts32.tokens);
        // A GPU hands back f32 row sums: the parts then agree to f32 rounding.
        let s32: Vec<f32> = sums32.iter().map(|&s| s as f32).collect();
        let p = LossParts::from_row_sums(&s32, &lens32, &agg).unwrap();
        assert_all_close("f32 row sums", &[p.sum, p.seq_mean_sum], &[parts32.sum, parts32.seq_mean_sum], 1e-6, 1e-6);
    }

    /// Counts from the mask alone equal the counts of every loss on that mask, add across
    /// micro-batches, and normalize values and gradients exactly as the loss's own totals.
    #[test]
    fn mask_counts_equal_the_loss_parts(bt in batch(), cut in any::<prop::sample::Index>(), ai in 0..6usize) {
        let agg = AGGS[ai];
        let t = bt.t;
        let rows = bt.mask.len() / t;
        let loss = configured::<f64>(PolicyLossKind::Vanilla, 2);
        let (whole, mut g) = batched(&bt, &loss, &agg, true, true, true);
        let mask = Mask::new(&bt.mask, t).unwrap();
        let counts = LossParts::from_mask(mask);
        prop_assert_eq!((counts.tokens, counts.seqs, counts.rows), (whole.tokens, whole.seqs, whole.rows));
        prop_assert_eq!((counts.sum, counts.seq_mean_sum), (0.0, 0.0));
        // Two micro-batches: the total is known before either loss is computed.
        let c = cut.index(rows + 1);
        let (a, b) = bt.mask.split_at(c * t);
        let mut total = LossParts::ZERO;
        for part in [a, b] {
            if !part.is_empty() {
                total += LossParts::from_mask(Mask::new(part, t).unwrap());
            }
        }
        prop_assert_eq!(total, counts);
        // Normalizing with the mask counts = normalizing with the loss's totals.
        let mut g2 = g.clone();
        agg.scale_grad(&mut g, mask, &whole).unwrap();
        agg.scale_grad(&mut g2, mask, &total).unwrap();
        prop_assert_eq!(&g, &g2);
        prop_assert_eq!(agg.value::<f64>(&whole, &whole).unwrap(), agg.value::<f64>(&whole, &total).unwrap());
        // The value loss and an explicit loss matrix count the same way.
        let mut gv = vec![0.0; bt.lp.len()];
        let pv = value_loss(&mut gv, &bt.lp, &bt.old, &bt.refp, mask, &ValueLoss::new(None).unwrap(), &agg).unwrap();
        prop_assert_eq!((pv.tokens, pv.seqs, pv.rows), (counts.tokens, counts.seqs, counts.rows));
        let pm = LossParts::of_matrix(&bt.lp, mask, &agg).unwrap();
        prop_assert_eq!((pm.tokens, pm.seqs, pm.rows), (counts.tokens, counts.seqs, counts.rows));
    }

    /// The masked-position rule: garbage (NaN, ±∞, huge values) at masked positions — and in the
    /// per-sequence advantage of an empty row — changes no value and no gradient, raises no error,
    /// and 0 is written at every masked position of every output.
    #[test]
    fn masked_positions_are_never_read(bt in batch(), kind in 0..13usize, garbage in 0..4usize, ai in 0..6usize) {
        let junk = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300][garbage];
        let t = bt.t;
        let mut dirty = bt.clone();
        for (k, &m) in bt.mask.iter().enumerate() {
            if !m {
                for v in [&mut dirty.lp, &mut dirty.old, &mut dirty.refp, &mut dirty.adv_tok, &mut dirty.w, &mut dirty.ent] {
                    v[k] = junk;
                }
            }
        }
        for (i, row) in bt.mask.chunks(t).enumerate() {
            if !row.contains(&true) {
                dirty.adv_seq[i] = junk;
            }
        }
        let agg = AGGS[ai];
        let kind = PolicyLossKind::ALL[kind];
        let loss = configured::<f64>(kind, 3);
        let mask = Mask::new(&bt.mask, t).unwrap();
        let run = |b: &Batch, per_tok: bool| {
            let adv = if per_tok { &b.adv_tok } else { &b.adv_seq };
            let inp = PolicyInputs::new(&b.lp, &b.old, adv, mask).unwrap()
                .with_ref(&b.refp).unwrap().with_weights(&b.w).unwrap().with_entropy(&b.ent).unwrap();
            let mut g = vec![7.0; b.lp.len()];
            let p = policy_loss_rng(&mut g, &inp, &loss, &agg, &mut SplitMix64::new(3)).unwrap();
            let d = policy_diagnostics(&inp, &loss).unwrap();
            agg.scale_grad(&mut g, mask, &p).unwrap();
            (p, g, d)
        };
        for per_tok in [true, false] {
            let (p0, g0, d0) = run(&bt, per_tok);
            let (p1, g1, d1) = run(&dirty, per_tok);
            prop_assert_eq!(p0, p1);
            prop_assert_eq!(&g0, &g1);
            prop_assert_eq!(d0, d1);
            for (k, &m) in bt.mask.iter().enumerate() {
                if !m {
                    prop_assert_eq!(g1[k], 0.0);
                }
            }
        }
        // Value loss, loss matrices, IS weights, masks and rejection sampling.
        let vl = ValueLoss::new(Some(0.2)).unwrap();
        let (mut ga, mut gb) = (vec![7.0; bt.lp.len()], vec![7.0; bt.lp.len()]);
        prop_assert_eq!(
            value_loss(&mut ga, &bt.lp, &bt.old, &bt.refp, mask, &vl, &agg).unwrap(),
            value_loss(&mut gb, &dirty.lp, &dirty.old, &dirty.refp, mask, &vl, &agg).unwrap()
        );
        prop_assert_eq!(&ga, &gb);
        prop_assert_eq!(
            LossParts::of_matrix(&bt.lp, mask, &agg).unwrap(),
            LossParts::of_matrix(&dirty.lp, mask, &agg).unwrap()
        );
        for mode in [IsMode::TokenTruncate, IsMode::TokenMask, IsMode::SequenceTruncate, IsMode::SequenceMask, IsMode::GeoSequenceMask] {
            let c = IsCorrection::new(mode, 0.5, 2.0).unwrap().with_batch_normalize(true);
            let (mut wa, mut wb) = (vec![7.0; bt.lp.len()], vec![7.0; bt.lp.len()]);
            let na = is_weights(&mut wa, &bt.lp, &bt.old, mask, &c).unwrap();
            let nb = is_weights(&mut wb, &dirty.lp, &dirty.old, mask, &c).unwrap();
            prop_assert_eq!(na, nb);
            prop_assert_eq!(&wa, &wb);
        }
        let (mut ka, mut kb) = (vec![7.0; bt.lp.len()], vec![7.0; bt.lp.len()]);
        entropy_mask(&mut ka, &bt.ent, mask, 0.5).unwrap();
        entropy_mask(&mut kb, &dirty.ent, mask, 0.5).unwrap();
        prop_assert_eq!(&ka, &kb);
        off_policy_mask(&mut ka, &bt.lp, &bt.old, &bt.adv_seq, mask, 0.1).unwrap();
        off_policy_mask(&mut kb, &dirty.lp, &dirty.old, &dirty.adv_seq, mask, 0.1).unwrap();
        prop_assert_eq!(&ka, &kb);
        let rules = [
            RejectionRule::from_verl("token_k1".parse().unwrap(), "0.7_1.4").unwrap(),
            RejectionRule::from_verl("seq_mean_k3".parse().unwrap(), "0.02").unwrap(),
        ];
        let (mut a, mut b) = (vec![true; bt.lp.len()], vec![true; bt.lp.len()]);
        let (mut sa, mut sb) = ([RejectionStats::EMPTY; 2], [RejectionStats::EMPTY; 2]);
        let ra = rejection_mask(&mut a, &mut sa, &bt.lp, &bt.old, mask, &rules).unwrap();
        let rb = rejection_mask(&mut b, &mut sb, &dirty.lp, &dirty.old, mask, &rules).unwrap();
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(sa, sb);
        for (k, &m) in bt.mask.iter().enumerate() {
            if !m {
                prop_assert!(!a[k] && ka[k] == 0.0);
            }
        }
    }
}

/// `token` and `row_context` check what they read.
#[test]
fn token_seam_errors() {
    use rewardkit_core::Error;
    let loss = configured::<f64>(PolicyLossKind::Vanilla, 0);
    let ok = TokenInputs::new(-1.0, -1.0, 1.0);
    let ctx = RowContext::default();
    assert!(loss.token(&ok, &ctx).is_ok());
    for (x, what) in [
        (
            TokenInputs {
                logp: f64::NAN,
                ..ok
            },
            "logp",
        ),
        (
            TokenInputs {
                adv: f64::INFINITY,
                ..ok
            },
            "advantages",
        ),
        (TokenInputs { weight: -1.0, ..ok }, "weights"),
        (
            TokenInputs {
                ref_logp: f64::NAN,
                ..ok
            },
            "ref_logp",
        ),
        (
            TokenInputs {
                entropy: f64::NAN,
                ..ok
            },
            "entropy",
        ),
    ] {
        assert_eq!(
            loss.token(&x, &ctx),
            Err(Error::NonFinite { what, index: 0 })
        );
    }
    // Not read without a KL term, an entropy bonus or a row-context kind.
    let plain = PolicyLoss::<f64>::new(PolicyLossKind::Vanilla);
    let x = TokenInputs {
        ref_logp: f64::NAN,
        entropy: f64::NAN,
        ..ok
    };
    let bad_ctx = RowContext {
        seq_log_ratio: f64::NAN,
        pass: 1.0,
    };
    assert!(plain.token(&x, &bad_ctx).is_ok());
    let gspo = PolicyLoss::<f64>::new(PolicyLossKind::Gspo);
    assert!(matches!(
        gspo.token(&ok, &bad_ctx),
        Err(Error::NonFinite {
            what: "seq_log_ratio",
            ..
        })
    ));
    // ±∞ is a sequence ratio of 0 or ∞: accepted, the outputs are checked. (fuzz/losses: a row
    // mean of −1.7e38 was formed from an f32 sum, −∞, and rejected by row_context although the
    // batched loss accepted the row.)
    let zero = RowContext {
        seq_log_ratio: f64::NEG_INFINITY,
        pass: 1.0,
    };
    // s = 0, A = 1: max(−A·s, −A·clip(s, 0.8, 1.2)) = max(0, −0.8) = 0.
    assert_eq!(gspo.token(&ok, &zero).unwrap().value, 0.0);
    let row = PolicyLoss::<f32>::new(PolicyLossKind::GspoToken)
        .row_context(&[-1.7e38, -1.7e38], &[1e-19, 1e-19], &[true, true])
        .unwrap();
    assert_eq!(row.seq_log_ratio, -1.7e38);
    // An unclamped ratio overflows f32.
    let gpg = PolicyLoss::<f32>::new(PolicyLossKind::Gspo);
    let big = RowContext {
        seq_log_ratio: 100.0f32,
        pass: 1.0,
    };
    assert_eq!(
        gpg.token(&TokenInputs::new(0.0f32, 0.0, -1.0), &big),
        Err(Error::Overflow {
            what: "policy loss of a token"
        })
    );
    // row_context: lengths and values at valid positions.
    assert!(matches!(
        gspo.row_context(&[0.0, 1.0], &[0.0], &[true, true]),
        Err(Error::LengthMismatch {
            what: "old_logp",
            ..
        })
    ));
    assert_eq!(
        gspo.row_context(&[0.0, f64::NAN], &[0.0, 0.0], &[true, true]),
        Err(Error::NonFinite {
            what: "logp",
            index: 1
        })
    );
    assert!(
        gspo.row_context(&[0.0, f64::NAN], &[0.0, 0.0], &[true, false])
            .is_ok()
    );
    let vespo = PolicyLoss::<f64>::new(PolicyLossKind::Vespo);
    let c = vespo
        .row_context(&[-1.0, -2.0], &[-1.5, -2.0], &[true, true])
        .unwrap();
    assert_eq!(
        c,
        RowContext {
            seq_log_ratio: 0.5,
            pass: 1.0
        }
    );
    // Parameters are readable.
    let p = PolicyLoss::<f64>::new(PolicyLossKind::Vanilla)
        .with_clip(0.2, 0.28)
        .unwrap()
        .with_dual_clip(Some(3.0))
        .unwrap()
        .with_delta(Some(1.5))
        .unwrap()
        .with_entropy_coef(0.01)
        .unwrap();
    assert_eq!(
        (p.clip(), p.dual_clip(), p.delta(), p.entropy_coef()),
        ((0.2, 0.28), Some(3.0), Some(1.5), 0.01)
    );
    assert_eq!(
        (p.log_ratio_clamp(), p.seq_log_ratio_max(), p.truncation()),
        (Some(20.0), None, 20.0)
    );
    assert_eq!(
        (p.sapo_tau(), p.cov(), p.kl_cov_coef(), p.dro_beta()),
        ((1.0, 1.05), (2e-4, 1.0, 5.0), 1.0, 0.1)
    );
    assert_eq!(
        (p.vespo(), p.len_eps(), p.kl()),
        ((2.0, 3.0, 3.0, 2.0), 0.0, None)
    );
}
