//! Loss benchmarks: PPO clip with a `k3` KL term (value and gradient, then the token-mean scaling)
//! over `B = 1024, T = 1024` tokens, GRPO-style per-sequence advantages, GSPO, and DPO over 65,536
//! pairs. Each row prints the time and its ratio to a copy of the same bytes (inputs read plus
//! gradient written) measured in the same run; the goal is within 3x of that floor.
//!
//! `cargo bench -p rewardkit-core --bench losses` (`-- --quick` for a smoke run).
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::print_stdout,
    clippy::std_instead_of_core,
    unreachable_pub,
    reason = "benchmark binary; the shared harness in common/ is written for std"
)]

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{Harness, Rng};
use rewardkit_core::loss::*;
use rewardkit_core::{KlEstimator, KlPenalty, Mask, Preset, Real};

struct Tokens<F> {
    t: usize,
    mask: Vec<bool>,
    lp: Vec<F>,
    old: Vec<F>,
    refp: Vec<F>,
    adv: Vec<F>,
    adv_seq: Vec<F>,
}

fn tokens<F: Real>(b: usize, t: usize, rng: &mut Rng) -> Tokens<F> {
    let n = b * t;
    let mut mask = vec![false; n];
    for (i, row) in mask.chunks_mut(t).enumerate() {
        // Random response lengths in [T/4, T]: realistic padding.
        let len = t / 4 + rng.below(t - t / 4 + 1).min(t);
        row.iter_mut().take(len.max(1)).for_each(|m| *m = true);
        let _ = i;
    }
    let lp: Vec<F> = (0..n).map(|_| F::lit(-4.0 * rng.unit() - 0.01)).collect();
    let old = lp
        .iter()
        .map(|&l| l - F::lit(0.4 * rng.unit() - 0.2))
        .collect();
    let refp = lp
        .iter()
        .map(|&l| l - F::lit(0.2 * rng.unit() - 0.1))
        .collect();
    let adv_seq: Vec<F> = (0..b).map(|_| F::lit(2.0 * rng.unit() - 1.0)).collect();
    let adv = adv_seq
        .iter()
        .flat_map(|&a| std::iter::repeat_n(a, t))
        .collect();
    Tokens {
        t,
        mask,
        lp,
        old,
        refp,
        adv,
        adv_seq,
    }
}

fn ppo<F: Real>(h: &Harness, b: usize, t: usize, rng: &mut Rng) {
    let d = tokens::<F>(b, t, rng);
    let n = b * t;
    let mask = Mask::new(&d.mask, d.t).unwrap();
    let kl = KlTerm::new(KlPenalty::new(KlEstimator::K3), F::lit(0.001)).unwrap();
    let loss =
        PolicyLoss::<F>::from_preset(Preset::Verl, PolicyLossKind::Vanilla).with_kl(Some(kl));
    let agg = Aggregation::TokenMean;
    let mut grad = vec![F::ZERO; n];
    let sz = size_of::<F>();

    // Per-token advantages: reads logp, old, ref, adv and the mask; writes grad.
    let inp = PolicyInputs::new(&d.lp, &d.old, &d.adv, mask)
        .unwrap()
        .with_ref(&d.refp)
        .unwrap();
    let tm = h.time(|| {
        let p = policy_loss(&mut grad, black_box(&inp), &loss, &agg).unwrap();
        agg.scale_grad(&mut grad, mask, &p).unwrap();
        agg.value::<F>(&p, &p).unwrap()
    });
    let bytes = n * (4 * sz + 1) + n * sz;
    h.row(
        &format!("ppo clip + k3, value+grad, {} (B={b},T={t})", F::NAME),
        tm,
        h.copy_floor(bytes),
        n,
    );

    // Per-sequence advantages (GRPO): one advantage per row.
    let inp = PolicyInputs::new(&d.lp, &d.old, &d.adv_seq, mask)
        .unwrap()
        .with_ref(&d.refp)
        .unwrap();
    let tm = h.time(|| {
        let p = policy_loss(&mut grad, black_box(&inp), &loss, &agg).unwrap();
        agg.scale_grad(&mut grad, mask, &p).unwrap();
        agg.value::<F>(&p, &p).unwrap()
    });
    let bytes = n * (3 * sz + 1) + b * sz + n * sz;
    h.row(
        &format!("ppo clip + k3, (B) advantages, {}", F::NAME),
        tm,
        h.copy_floor(bytes),
        n,
    );

    // Plain PPO without KL (the bare surrogate).
    let plain = PolicyLoss::<F>::from_preset(Preset::Verl, PolicyLossKind::Vanilla);
    let inp = PolicyInputs::new(&d.lp, &d.old, &d.adv, mask).unwrap();
    let tm = h.time(|| {
        let p = policy_loss(&mut grad, black_box(&inp), &plain, &agg).unwrap();
        agg.scale_grad(&mut grad, mask, &p).unwrap();
        agg.value::<F>(&p, &p).unwrap()
    });
    let bytes = n * (3 * sz + 1) + n * sz;
    h.row(
        &format!("ppo clip, value+grad, {}", F::NAME),
        tm,
        h.copy_floor(bytes),
        n,
    );

    // GSPO (sequence ratio, two passes per row), seq-mean-token-mean.
    let gspo = PolicyLoss::<F>::new(PolicyLossKind::Gspo);
    let smtm = Aggregation::SeqMeanTokenMean { len_eps: 0.0 };
    let tm = h.time(|| {
        let p = policy_loss(&mut grad, black_box(&inp), &gspo, &smtm).unwrap();
        smtm.scale_grad(&mut grad, mask, &p).unwrap();
        smtm.value::<F>(&p, &p).unwrap()
    });
    h.row(
        &format!("gspo, seq-mean-token-mean, {}", F::NAME),
        tm,
        h.copy_floor(bytes),
        n,
    );
}

fn dpo<F: Real>(h: &Harness, p: usize, rng: &mut Rng) {
    let mk = |rng: &mut Rng| -> Vec<F> { (0..p).map(|_| F::lit(-200.0 * rng.unit())).collect() };
    let (c, r, rc, rr) = (mk(rng), mk(rng), mk(rng), mk(rng));
    let inp = PairInputs::new(&c, &r, &rc, &rr).unwrap();
    let loss = PreferenceLoss::<F>::new(PreferenceLossKind::Sigmoid);
    let (mut gc, mut gr) = (vec![F::ZERO; p], vec![F::ZERO; p]);
    let tm = h.time(|| {
        let parts = preference_loss(&mut gc, &mut gr, black_box(&inp), &loss).unwrap();
        let inv = F::lit(1.0 / parts.tokens as f64);
        gc.iter_mut()
            .chain(gr.iter_mut())
            .for_each(|g| *g = *g * inv);
        parts.sum / parts.tokens as f64
    });
    let sz = size_of::<F>();
    h.row(
        &format!("dpo sigmoid, value+grad, {} (P={p})", F::NAME),
        tm,
        h.copy_floor(p * 6 * sz),
        p,
    );
}

fn main() {
    let h = Harness::from_args();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let (b, t) = (h.size(1024, 32), h.size(1024, 32));
    h.header("Losses");
    ppo::<f32>(&h, b, t, &mut rng);
    ppo::<f64>(&h, b, t, &mut rng);
    let p = h.size(65_536, 64);
    dpo::<f32>(&h, p, &mut rng);
    dpo::<f64>(&h, p, &mut rng);
}
