//! TRL's DPO `logits -> loss` block composed from rewardkit's kernels, shared by the golden driver
//! and the properties: per-token log-probabilities from (already shifted) logits, sequence sums
//! (LD-DPO token weights), WPO pair weights, the weighted pair losses, the SFT term, and the
//! gradient of the loss back to the logits.

use rewardkit_core::logits::{RowStats, logprobs_backward, logprobs_forward};
use rewardkit_core::loss::preference::{ld_token_weights, sequence_logps, sft_loss, wpo_weights};
use rewardkit_core::loss::*;
use rewardkit_core::{Mask, Real};

/// TRL's configuration of the block.
#[derive(Clone, Debug)]
pub(crate) struct TrlDpo {
    /// `loss_type` (pair losses by name, and `"sft"`).
    pub types: Vec<String>,
    /// `loss_weights` (one per type).
    pub weights: Vec<f64>,
    pub beta: f64,
    pub label_smoothing: f64,
    pub ld_alpha: Option<f64>,
    pub use_weighting: bool,
    /// WPO weights to use instead of computing them (finite-difference checks hold the weights,
    /// which carry no gradient, fixed).
    pub frozen_wpo: Option<Vec<f64>>,
}

/// Everything the block computes, widened to `f64`.
#[derive(Clone, Debug)]
pub(crate) struct DpoOut {
    /// Policy sequence log-probs, `(2P)`: chosen then rejected.
    pub seq: Vec<f64>,
    /// Reference sequence log-probs, `(2P)`.
    pub seq_ref: Vec<f64>,
    /// The scalar loss.
    pub loss: f64,
    /// The last loss type's per-pair loss, times the WPO weights (TRL's `per_sequence_loss`).
    pub last: Vec<f64>,
    /// The WPO pair weights, when used.
    pub wpo: Option<Vec<f64>>,
    /// `∂loss/∂logits`, `(2P, T, V)`.
    pub grad: Vec<f64>,
}

fn widen<F: Real>(x: &[F]) -> Vec<f64> {
    x.iter().map(|v| v.as_f64()).collect()
}

/// Runs the block on shifted inputs: `logits`, `ref_logits` `(2P, T, V)` predict `ids` `(2P, T)`,
/// `bits` `(2P, T)` is the completion mask; rows `0..P` chosen, `P..2P` rejected.
pub(crate) fn trl_dpo_from_logits<F: Real>(
    cfg: &TrlDpo,
    logits: &[F],
    ref_logits: &[F],
    ids: &[u32],
    bits: &[bool],
    t: usize,
    v: usize,
) -> DpoOut {
    let rows = bits.len() / t;
    let n = rows / 2;
    let (mc, mr) = bits.split_at(n * t);
    let (mask_c, mask_r) = (Mask::new(mc, t).unwrap(), Mask::new(mr, t).unwrap());
    let mask_all = Mask::new(bits, t).unwrap();
    let mut lp = vec![F::ZERO; rows * t];
    let mut rf = vec![F::ZERO; rows * t];
    let mut stats = vec![RowStats::default(); rows * t];
    let mut ref_stats = vec![RowStats::default(); rows * t];
    logprobs_forward(&mut lp, &mut stats, logits, ids, v).unwrap();
    logprobs_forward(&mut rf, &mut ref_stats, ref_logits, ids, v).unwrap();
    // Token weights: the mask, or LD-DPO's public-prefix weights (policy and reference alike).
    let mut w = vec![F::ZERO; rows * t];
    match cfg.ld_alpha {
        Some(a) => {
            let (wc, wr) = w.split_at_mut(n * t);
            ld_token_weights(wc, wr, mask_c, mask_r, F::lit(a)).unwrap();
        }
        None => w
            .iter_mut()
            .zip(bits)
            .for_each(|(w, &b)| *w = if b { F::ONE } else { F::ZERO }),
    }
    let mut seq = vec![F::ZERO; rows];
    let mut seq_ref = vec![F::ZERO; rows];
    sequence_logps(&mut seq, &lp, Some(&w), mask_all).unwrap();
    sequence_logps(&mut seq_ref, &rf, Some(&w), mask_all).unwrap();
    let (pc, pr) = seq.split_at(n);
    let (rc, rr) = seq_ref.split_at(n);
    // WPO pair weights (constants).
    let omega: Option<Vec<F>> = cfg.use_weighting.then(|| match &cfg.frozen_wpo {
        Some(o) => o.iter().map(|&x| F::lit(x)).collect(),
        None => {
            let mut o = vec![F::ZERO; n];
            let (lc, lr) = logits.split_at(n * t * v);
            let (ic, ir) = ids.split_at(n * t);
            wpo_weights(&mut o, lc, ic, mask_c, lr, ir, mask_r, v).unwrap();
            o
        }
    });
    let lens: Vec<F> = bits
        .chunks(t)
        .map(|r| F::from_usize(r.iter().filter(|&&b| b).count()))
        .collect();
    let (lc, lr) = lens.split_at(n);
    let mut inp = PairInputs::new(pc, pr, rc, rr)
        .unwrap()
        .with_lengths(lc, lr)
        .unwrap();
    if let Some(o) = &omega {
        inp = inp.with_pair_weights(o).unwrap();
    }
    let pair_loss = |name: &str| {
        PreferenceLoss::new(name.parse().unwrap())
            .with_beta(F::lit(cfg.beta))
            .unwrap()
            .with_label_smoothing(F::lit(cfg.label_smoothing))
            .unwrap()
    };
    // Pair terms through one weighted combination (mean over pairs); the SFT term as a token loss.
    let terms: Vec<(PreferenceLoss<F>, F)> = cfg
        .types
        .iter()
        .zip(&cfg.weights)
        .filter(|(ty, _)| *ty != "sft")
        .map(|(ty, &c)| (pair_loss(ty), F::lit(c)))
        .collect();
    let (mut gc, mut gr) = (vec![F::ZERO; n], vec![F::ZERO; n]);
    let mut loss = 0.0;
    let pairs = vec![true; n];
    let pair_mask = Mask::new(&pairs, 1).unwrap();
    let agg = Aggregation::TokenMean;
    if !terms.is_empty() {
        let parts = combined_preference_loss(&mut gc, &mut gr, &inp, &terms).unwrap();
        loss += agg.value::<f64>(&parts, &parts).unwrap();
        agg.scale_grad(&mut gc, pair_mask, &parts).unwrap();
        agg.scale_grad(&mut gr, pair_mask, &parts).unwrap();
    }
    // Upstream gradient of every token log-prob: the sequence gradient times the token weight.
    let mut up: Vec<F> = (0..rows * t)
        .map(|idx| {
            let row = idx / t;
            let g = if row < n { gc[row] } else { gr[row - n] };
            w[idx] * g
        })
        .collect();
    let mean_omega = omega.as_ref().map_or(1.0, |o| {
        o.iter().map(|x| x.as_f64()).sum::<f64>() / n as f64
    });
    let mut ce = None;
    if let Some(pos) = cfg.types.iter().position(|ty| ty == "sft") {
        let mut g = vec![F::ZERO; n * t];
        let parts = sft_loss(&mut g, &lp[..n * t], mask_c, &agg).unwrap();
        agg.scale_grad(&mut g, mask_c, &parts).unwrap();
        let value = agg.value::<f64>(&parts, &parts).unwrap();
        // TRL multiplies the expanded SFT term by the WPO weights: only their mean survives.
        let coef = cfg.weights[pos] * mean_omega;
        loss += coef * value;
        for (u, g) in up.iter_mut().zip(&g) {
            *u = *u + F::lit(coef) * *g;
        }
        ce = Some(value);
    }
    // The last loss type's per-pair values, one pair at a time.
    let last_type = cfg.types.last().unwrap();
    let last = (0..n)
        .map(|k| {
            let om = omega.as_ref().map_or(1.0, |o| o[k].as_f64());
            match ce {
                Some(ce) if last_type == "sft" => ce * om,
                _ => {
                    let one = |x: &[F]| [x[k]];
                    let (a, b, c, d) = (one(pc), one(pr), one(rc), one(rr));
                    let (la, lb) = (one(lc), one(lr));
                    let ok = omega.as_ref().map(|o| [o[k]]);
                    let mut i1 = PairInputs::new(&a, &b, &c, &d)
                        .unwrap()
                        .with_lengths(&la, &lb)
                        .unwrap();
                    if let Some(o) = &ok {
                        i1 = i1.with_pair_weights(o).unwrap();
                    }
                    let (mut g1, mut g2) = ([F::ZERO], [F::ZERO]);
                    preference_loss(&mut g1, &mut g2, &i1, &pair_loss(last_type))
                        .unwrap()
                        .sum
                }
            }
        })
        .collect();
    // Back to the logits.
    let mut g = vec![F::ZERO; rows * t * v];
    logprobs_backward(&mut g, &up, logits, &stats, ids, v).unwrap();
    DpoOut {
        seq: widen(&seq),
        seq_ref: widen(&seq_ref),
        loss,
        last,
        wpo: omega.as_deref().map(widen),
        grad: widen(&g),
    }
}
