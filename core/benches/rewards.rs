//! Reward benchmarks: a four-term pipeline (correctness + format + HAPO + repetition penalty) and
//! PAR over 1,048,576 samples, each term separately, and the other catalogue families at the same
//! batch size. Every row prints ns per sample and the ratio to a copy of the bytes it reads.
//!
//! `cargo bench -p rewardkit-core --bench rewards` (full), `-- --quick` (smoke run, 1/64 size).
#![allow(
    clippy::std_instead_of_core,
    clippy::cast_possible_truncation,
    clippy::print_stdout,
    unreachable_pub,
    reason = "bench binary (with the shared harness compiled in): std timing, small test sizes"
)]

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{Harness, Rng};
use rewardkit_core::GroupIndex;
use rewardkit_core::reward::*;

/// Synthetic ~1 KB completions: a reasoning block with some repetition and a boxed answer; a few
/// lack the block or the answer.
fn templates(rng: &mut Rng) -> Vec<String> {
    let words = [
        "we",
        "need",
        "to",
        "find",
        "the",
        "value",
        "of",
        "x",
        "wait",
        "let",
        "me",
        "check",
        "so",
        "thus",
        "therefore",
        "compute",
        "sum",
        "terms",
        "first,",
        "next,",
        "2",
        "3",
        "=",
        "+",
    ];
    (0..64)
        .map(|i| {
            let mut s = String::from(if i % 8 == 7 { "" } else { "<think>" });
            while s.len() < 900 {
                s.push_str(words[rng.below(words.len())]);
                s.push(' ');
            }
            if i % 8 != 7 {
                s.push_str("</think> ");
            }
            if i % 5 != 4 {
                s.push_str(&format!("The answer is \\boxed{{{}}}.", rng.below(100)));
            }
            s
        })
        .collect()
}

fn main() {
    let mut h = Harness::from_args();
    if !h.quick {
        h.reps = 5;
    }
    let n = h.size(1 << 20, 64);
    let k = 16; // samples per prompt
    let n_prompts = n / k;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // Inputs.
    let lengths: Vec<u32> = (0..n).map(|_| 32 + rng.below(225) as u32).collect();
    let correct: Vec<bool> = (0..n).map(|_| rng.unit() < 0.5).collect();
    let keys: Vec<u64> = (0..n).map(|i| (i / k) as u64).collect();
    let pool: Vec<u32> = (0..n + 512).map(|_| rng.below(50) as u32).collect();
    let tokens: Vec<&[u32]> = (0..n).map(|i| &pool[i..i + lengths[i] as usize]).collect();
    let tpl = templates(&mut rng);
    let texts: Vec<&str> = (0..n)
        .map(|i| tpl[(i * 7 + i / 3) % tpl.len()].as_str())
        .collect();
    let mut history = HapoHistory::new(HistoryMode::Min);
    // Half of the prompts have been solved before, at 100–300 tokens.
    let hk: Vec<u64> = (0..n_prompts as u64).filter(|p| p % 2 == 0).collect();
    let hl: Vec<u32> = hk.iter().map(|_| 100 + rng.below(200) as u32).collect();
    history.update(&hk, &hl, &vec![true; hk.len()]).unwrap();

    let correctness = Correctness::<f32>::default();
    let format = Format::default();
    let hapo = HapoTerm {
        params: Hapo::<f32>::default(),
        history: &history,
    };
    let rep = RepetitionPenalty::<f32>::new(3, -1.0, RepeatMarking::All).unwrap();
    let terms = [
        Weighted::sequence(&correctness, 1.0f32),
        Weighted::sequence(&format, 0.5),
        Weighted::sequence(&hapo, 1.0),
        Weighted::sequence(&rep, 1.0),
    ];
    let pipeline = Pipeline::new(&terms).unwrap();
    let batch = Batch::new(n)
        .unwrap()
        .with_correct(&correct)
        .unwrap()
        .with_lengths(&lengths)
        .unwrap()
        .with_keys(&keys)
        .unwrap()
        .with_texts(&texts)
        .unwrap()
        .with_tokens(&tokens)
        .unwrap();
    let mut out = vec![0.0f32; n];
    let mut parts = vec![0.0f32; 4 * n];

    let text_bytes: usize = texts.iter().map(|t| t.len()).sum();
    let token_bytes: usize = tokens.iter().map(|t| 4 * t.len()).sum();
    let per_sample = 1 + 4 + 8 + 4; // correct, length, key, out

    h.header(&format!("Rewards: B = {n}, K = {k}, f32"));
    let floor = h.copy_floor(text_bytes + token_bytes + n * (per_sample + 16));
    let t = h.time(|| {
        pipeline
            .eval(&mut out, &mut parts, &mut [], &batch)
            .unwrap();
        out[n / 2]
    });
    h.row("pipeline: correctness+format+HAPO+repetition", t, floor, n);

    // Each term alone.
    let mut one = vec![0.0f32; n];
    let f = h.copy_floor(n * 6);
    let t = h.time(|| {
        RewardTerm::score(&correctness, &mut one, &batch).unwrap();
        one[n / 2]
    });
    h.row("  correctness", t, f, n);
    let f = h.copy_floor(text_bytes + 4 * n);
    let t = h.time(|| {
        RewardTerm::score(&format, &mut one, &batch).unwrap();
        one[n / 2]
    });
    h.row("  format (think block + answer extraction)", t, f, n);
    let f = h.copy_floor(n * 17);
    let t = h.time(|| {
        hapo.score(&mut one, &batch).unwrap();
        one[n / 2]
    });
    h.row("  HAPO (BTreeMap history lookup + cosine)", t, f, n);
    let f = h.copy_floor(token_bytes + 4 * n);
    let t = h.time(|| {
        RewardTerm::score(&rep, &mut one, &batch).unwrap();
        one[n / 2]
    });
    h.row("  repetition penalty (3-grams, exact, hash set)", t, f, n);

    // PAR over the same batch size, 10 references per sample.
    let m = 10;
    let scores: Vec<f32> = (0..n).map(|_| (rng.unit() * 8.0 - 4.0) as f32).collect();
    let refs: Vec<f32> = (0..n * m)
        .map(|_| (rng.unit() * 8.0 - 4.0) as f32)
        .collect();
    let par = Par::<f32>::default();
    let f = h.copy_floor(4 * (n + n * m + n));
    let t = h.time(|| {
        par.rewards(&mut one, None, &scores, &refs).unwrap();
        one[n / 2]
    });
    h.row("PAR (M = 10 references)", t, f, n);
    let mut grad = vec![0.0f32; n];
    let f = h.copy_floor(4 * (n + n * m + 2 * n));
    let t = h.time(|| {
        par.rewards(&mut one, Some(&mut grad), &scores, &refs)
            .unwrap();
        one[n / 2]
    });
    h.row("PAR value + gradient", t, f, n);
    let shaper = RewardShaper::<f32>::par();
    let f = h.copy_floor(4 * (n + n * m + n) + 4 * n);
    let t = h.time(|| {
        let mut stats = RunningStats::new();
        shaper
            .shape(&mut one, &scores, Some(&lengths), &refs, &mut stats)
            .unwrap();
        one[n / 2]
    });
    h.row("PAR study shaper (length penalty + PAR)", t, f, n);

    // Other families at the same size.
    let groups = GroupIndex::uniform(n, k).unwrap();
    let f = h.copy_floor(n * 9);
    let kimi = KimiLength::<f32>::default();
    let t = h.time(|| {
        kimi.rewards(&mut one, &lengths, &correct, None, &groups)
            .unwrap();
        one[n / 2]
    });
    h.row("Kimi length penalty (groups of 16)", t, f, n);
    let laser_d = LaserD::<f32>::default();
    let state = LaserDState::new(128);
    let t = h.time(|| {
        laser_d
            .rewards(&mut one, &lengths, &correct, None, &groups, &state)
            .unwrap();
        one[n / 2]
    });
    h.row("LASER-D (groups of 16)", t, f, n);
    let cosine = CosineLength::<f32>::default();
    let t = h.time(|| {
        RewardTerm::score(&cosine, &mut one, &batch).unwrap();
        one[n / 2]
    });
    h.row("cosine length reward", t, f, n);
    let pure = Pure::<f32>::default();
    let steps: Vec<f32> = (0..n).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
    let counts: Vec<usize> = vec![8; n / 8];
    let mut oc = vec![0.0f32; n / 8];
    let f = h.copy_floor(4 * 2 * n);
    let t = h.time(|| {
        pure.min_form_batch(&mut one, &mut oc, &steps, &counts)
            .unwrap();
        one[n / 2]
    });
    h.row("PURE min-form (per step, 8 steps/trajectory)", t, f, n);
    let phi: Vec<f32> = (0..=n).map(|_| rng.unit() as f32).collect();
    let f = h.copy_floor(4 * 3 * n);
    let t = h.time(|| {
        potential_shaping(&mut one, &steps, &phi, 0.99, TerminalPotential::Keep).unwrap();
        one[n / 2]
    });
    h.row("potential-based shaping (per step)", t, f, n);
    black_box((&out, &one, &grad, &oc));
}
