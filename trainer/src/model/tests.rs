//! The whole model's backward pass against central finite differences on a tiny configuration.

use super::*;
use rewardkit_core::logits::{RowStats, logprobs_backward, logprobs_forward, row_stats};
use rewardkit_core::rng::{RandomSource, SplitMix64};

pub(crate) fn tiny() -> ModelConfig {
    ModelConfig {
        vocab: 7,
        max_t: 5,
        n_layer: 2,
        n_head: 2,
        n_embd: 8,
    }
}

/// `L = Σ_n w_n·log π(target_n)` for the tokens `(B, T)` and their next-token targets.
fn loss(model: &mut Gpt, tokens: &[u32], targets: &[u32], w: &[f32], b: usize, t: usize) -> f64 {
    model.forward(tokens, b, t).unwrap();
    let mut lp = vec![0.0f32; b * t];
    let mut stats = vec![RowStats::default(); b * t];
    logprobs_forward(
        &mut lp,
        &mut stats,
        &model.acts().logits,
        targets,
        model.cfg.vocab,
    )
    .unwrap();
    lp.iter()
        .zip(w)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

#[test]
fn model_backward_matches_finite_differences() {
    let cfg = tiny();
    let mut rng = SplitMix64::new(11);
    let mut model = Gpt::new(cfg, &mut rng).unwrap();
    // Larger weights than the 0.02 init so every path carries a visible gradient.
    for p in &mut model.params {
        *p += (normal(&mut rng) * 0.3) as f32;
    }
    let (b, t) = (2, 4);
    let tokens: Vec<u32> = (0..b * t).map(|_| rng.below(cfg.vocab) as u32).collect();
    let targets: Vec<u32> = (0..b * t).map(|_| rng.below(cfg.vocab) as u32).collect();
    let w: Vec<f32> = (0..b * t)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect();

    let _ = loss(&mut model, &tokens, &targets, &w, b, t);
    let mut dlogits = vec![0.0f32; b * t * cfg.vocab];
    let mut stats = vec![RowStats::default(); b * t];
    row_stats(&mut stats, &model.acts().logits, cfg.vocab).unwrap();
    logprobs_backward(
        &mut dlogits,
        &w,
        &model.acts().logits.clone(),
        &stats,
        &targets,
        cfg.vocab,
    )
    .unwrap();
    let mut grads = vec![0.0f32; model.num_params()];
    model.backward(&mut grads, &dlogits, &tokens).unwrap();

    let h = 1e-2f32;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    #[expect(
        clippy::needless_range_loop,
        reason = "i indexes params, grads and the layout"
    )]
    for i in 0..model.num_params() {
        let orig = model.params[i];
        model.params[i] = orig + h;
        let lp = loss(&mut model, &tokens, &targets, &w, b, t);
        model.params[i] = orig - h;
        let lm = loss(&mut model, &tokens, &targets, &w, b, t);
        model.params[i] = orig;
        let fd = (lp - lm) / (2.0 * f64::from(h));
        let an = f64::from(grads[i]);
        let name = model
            .layout
            .tensors
            .iter()
            .find(|s| (s.offset..s.offset + s.len()).contains(&i))
            .map_or("?", |s| s.name);
        assert!(
            (fd - an).abs() < 2e-3 + 2e-2 * fd.abs(),
            "param {i} ({name}): finite difference {fd} vs backward {an}"
        );
        num += (fd - an).powi(2);
        den += fd.powi(2);
    }
    assert!(den > 1e-4, "the check saw no gradient");
    assert!(
        (num / den).sqrt() < 1e-2,
        "relative error {}",
        (num / den).sqrt()
    );
}

#[test]
fn backward_accumulates_and_errors() {
    let cfg = tiny();
    let mut model = Gpt::new(cfg, &mut SplitMix64::new(3)).unwrap();
    let tokens = [1u32, 2, 3];
    model.forward(&tokens, 1, 3).unwrap();
    let dlogits = vec![0.1f32; 3 * cfg.vocab];
    let mut g1 = vec![0.0f32; model.num_params()];
    model.backward(&mut g1, &dlogits, &tokens).unwrap();
    let mut g2 = g1.clone();
    model.backward(&mut g2, &dlogits, &tokens).unwrap();
    assert!(
        g1.iter()
            .zip(&g2)
            .all(|(a, b)| (2.0 * a - b).abs() <= 1e-6 * (1.0 + a.abs()))
    );
    assert!(matches!(
        model.backward(&mut [0.0; 3], &dlogits, &tokens),
        Err(rewardkit_core::Error::LengthMismatch { what: "grads", .. })
    ));
    // T beyond maxT, and a token outside the vocabulary.
    assert!(model.forward(&[0; 6], 1, 6).is_err());
    assert!(matches!(
        model.forward(&[9, 0], 1, 2),
        Err(rewardkit_core::Error::TokenOutOfRange { id: 9, .. })
    ));
    let bad = ModelConfig { n_embd: 9, ..cfg };
    assert!(matches!(
        Gpt::new(bad, &mut SplitMix64::new(1)),
        Err(rewardkit_core::Error::BadShape { .. })
    ));
}

#[test]
fn kv_cache_decoding_matches_the_full_forward_pass() {
    let cfg = tiny();
    let mut rng = SplitMix64::new(21);
    let mut model = Gpt::new(cfg, &mut rng).unwrap();
    for p in &mut model.params {
        *p += (normal(&mut rng) * 0.3) as f32;
    }
    // Greedy decoding of 3 tokens after a 2-token prompt, for 2 rows; then the full forward pass
    // over prompt + completion must pick the same tokens at every position.
    let prompts = [1u32, 2, 3, 4];
    let outs = model.generate(&prompts, 2, 3, 0.0, 99, &mut rng).unwrap();
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.len(), 3);
        let mut seq = prompts[i * 2..i * 2 + 2].to_vec();
        seq.extend_from_slice(out);
        model.forward(&seq, 1, seq.len()).unwrap();
        let v = cfg.vocab;
        for (k, &tok) in out.iter().enumerate() {
            let row = &model.acts().logits[(1 + k) * v..(2 + k) * v];
            assert_eq!(pick(row, 0.0, &mut rng), tok, "row {i}, position {k}");
        }
    }
    // Too long a request, and a bad prompt token.
    assert!(model.generate(&prompts, 2, 4, 1.0, 0, &mut rng).is_err());
    assert!(model.generate(&[1, 70], 1, 2, 1.0, 0, &mut rng).is_err());
}

#[test]
fn temperature_sampling_follows_the_softmax() {
    // logits ln(1), ln(3): probabilities 1/4, 3/4.
    let logits = [0.0f32, 3f32.ln()];
    let mut rng = SplitMix64::new(1);
    let n = 20_000;
    let ones = (0..n).filter(|_| pick(&logits, 1.0, &mut rng) == 1).count();
    let frac = ones as f64 / n as f64;
    assert!((frac - 0.75).abs() < 0.015, "{frac}");
    assert_eq!(pick(&logits, 0.0, &mut rng), 1);
}

#[test]
fn sampling_is_independent_of_the_thread_count() {
    // Enough rows that the decode step splits into 3 blocks; temperature sampling from one seed.
    let cfg = tiny();
    let mut rng = SplitMix64::new(31);
    let mut model = Gpt::new(cfg, &mut rng).unwrap();
    for p in &mut model.params {
        *p += (normal(&mut rng) * 0.3) as f32;
    }
    let b = 48;
    let per_row = 24 * cfg.n_layer * cfg.n_embd * cfg.n_embd;
    assert_eq!(
        ops::par::with_threads(3, || ops::par::blocks(b, per_row)).len(),
        3
    );
    let prompts: Vec<u32> = (0..b * 2).map(|_| rng.below(cfg.vocab) as u32).collect();
    let sample = |threads: usize| {
        ops::par::with_threads(threads, || {
            model
                .generate(&prompts, b, 3, 1.0, 0, &mut SplitMix64::new(5))
                .unwrap()
        })
    };
    assert_eq!(sample(1), sample(3));
}
