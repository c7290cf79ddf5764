//! Regressions of issue 8, part C (the reward catalogue): each test is the minimal input of a
//! reported defect and failed before its fix.

use rewardkit_core::Error;
use rewardkit_core::reward::text;
use rewardkit_core::reward::*;

/// Defect 9: the uncapped DAPO penalty overflowed to `−∞` and was returned as `Ok`.
/// `φ = 1e30`, `L_cache = 1`, `L_max = 2`, `L = 2³² − 1`: `−(L − 1)·φ ≈ −4.3e39` is beyond `f32`.
#[test]
fn defect9_uncapped_overlong_overflow_is_an_error() {
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap().with_cap(false);
    assert_eq!(
        o.value(u32::MAX),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
    // f64: φ = 1e308 and two tokens past the buffer start: −2e308 overflows f64 as well.
    let o = Overlong::<f64>::new(2, 1, 1e308).unwrap().with_cap(false);
    assert_eq!(
        o.value(3),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
    // Capped, the same parameters are fine: the cap is −φ.
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap();
    assert_eq!(o.value(u32::MAX), Ok(-1e30));
    // As a term, the error surfaces unchanged.
    let b = Batch::<f32>::new(1)
        .unwrap()
        .with_lengths(&[u32::MAX])
        .unwrap();
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap().with_cap(false);
    assert_eq!(
        RewardTerm::score(&o, &mut [0.0], &b),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
}

/// Defect 8: PF-PPO best-worst on an all-equal group. The reference (`swtheing/PF-PPO-RLHF`,
/// `replay_buffer.py::select_min_max`) sorts each group by reward with Python's stable `sorted` and
/// weights `val[-1]` (the last maximal sample) and `val[0]` (the first minimal one): `[1, 0, 1]` for
/// three equal rewards. rewardkit weighted `[1, 0, 0]` while `select` kept the first two samples.
#[test]
fn defect8_best_worst_all_equal_group() {
    use rewardkit_core::GroupIndex;
    use rewardkit_core::rng::SplitMix64;
    let g = GroupIndex::uniform(3, 3).unwrap();
    let r = [2.0f64, 2.0, 2.0];
    let mut w = [9.0f64; 3];
    Filtration::BestWorst.weights(&mut w, &r, &g).unwrap();
    assert_eq!(w, [1.0, 0.0, 1.0]);
    let mut keep = [false; 3];
    Filtration::BestWorst
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    assert_eq!(keep, [true, false, true]);
    // Ties on the maximum only: sorted (0, 3), (1, 0), (3, 1), (3, 2) → best = index 2, worst = 3.
    let g = GroupIndex::uniform(4, 4).unwrap();
    let r = [1.0f64, 3.0, 3.0, 0.0];
    let mut w = [9.0f64; 4];
    Filtration::BestWorst.weights(&mut w, &r, &g).unwrap();
    assert_eq!(w, [0.0, 0.0, 1.0, 1.0]);
    let mut keep = [false; 4];
    Filtration::BestWorst
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    assert_eq!(keep, [false, false, true, true]);
    // Ties on the minimum: (0, 3, 0, 3) → worst = first minimum 0, best = last maximum 3.
    let r = [0.0f64, 3.0, 0.0, 3.0];
    Filtration::BestWorst.weights(&mut w, &r, &g).unwrap();
    assert_eq!(w, [1.0, 0.0, 0.0, 1.0]);
    Filtration::BestWorst
        .select(&mut keep, &r, &g, &mut SplitMix64::new(0))
        .unwrap();
    assert_eq!(keep, [true, false, false, true]);
    // The replay buffer's best-random weights sort the same way: 0.4 on the last maximum.
    let g = GroupIndex::uniform(3, 3).unwrap();
    let mut w = [9.0f64; 3];
    Filtration::BestRandom
        .weights(&mut w, &[3.0, 1.0, 3.0], &g)
        .unwrap();
    assert_eq!(w, [0.1, 0.1, 0.4]);
}

/// Defect 7: reward flipping flipped responses with no extractable answer. In the reference
/// (`trestad/Noisy-Rewards-in-Learning-to-Reason`, `naive.py`) such a response has no format score
/// and keeps its correctness score 0 even in a flipped group; rewardkit turned its 0 into 1, so a
/// model could farm the flip by answering nothing. Minimal input: one group of two, rate 1, the
/// second response unanswered with score 0 (it must stay 0; the answered one flips 0 → 1).
#[test]
fn defect7_unanswered_responses_are_not_flipped() {
    use rewardkit_core::GroupIndex;
    use rewardkit_core::rng::SplitMix64;
    let g = GroupIndex::uniform(2, 2).unwrap();
    let noise = FlipNoise::new(1.0f64, FlipUnit::Group).unwrap();
    let mut out = [9.0; 2];
    noise
        .apply(
            &mut out,
            &[0.0, 0.0],
            Some(&[true, false]),
            Some(&g),
            &mut SplitMix64::new(3),
        )
        .unwrap();
    assert_eq!(out, [1.0, 0.0]);
    // The same per sample.
    let noise = FlipNoise::new(1.0f64, FlipUnit::Sample).unwrap();
    noise
        .apply(
            &mut out,
            &[0.0, 0.0],
            Some(&[true, false]),
            None,
            &mut SplitMix64::new(3),
        )
        .unwrap();
    assert_eq!(out, [1.0, 0.0]);
    // Without the answers the default (reference) behaviour cannot be applied: an error, not a
    // silent flip of every response.
    assert_eq!(
        noise.apply(&mut out, &[0.0, 0.0], None, None, &mut SplitMix64::new(3)),
        Err(Error::MissingInput { what: "answered" })
    );
    // The old behaviour, on request.
    noise
        .with_flip_unanswered(true)
        .apply(&mut out, &[0.0, 0.0], None, None, &mut SplitMix64::new(3))
        .unwrap();
    assert_eq!(out, [1.0, 1.0]);
}

/// Defect 6: answer extraction searched the whole text. The reference
/// (`insightLLM/rl-without-gt`, `evaluator.py::parse_answer`) looks inside `<answer>…</answer>`
/// (box, then `\(…\)`, then the normalized block) and, without that block, only for a `\boxed{}`
/// after the last `</think>`. Both repros earned the answer flag before the fix.
#[test]
fn defect6_answers_only_where_the_reference_looks() {
    let f = Format::default();
    // Repro 1: `\(…\)` outside <answer> is no answer (reference format-only reward 0.5, not 1).
    let t = r"<think>a</think> so \(x = 3\)";
    assert_eq!(f.flags(t), (true, false));
    assert_eq!(text::extract_answer(t, "</think>"), "");
    // Repro 2: a box inside the reasoning only is no answer.
    let t = r"<think>so \boxed{4}</think> no final answer";
    assert_eq!(f.flags(t), (true, false));
    assert_eq!(text::extract_answer(t, "</think>"), "");
    // The format-length reward follows: no answer ⇒ min(0, f(x)) = 0 at the peak, not 2.
    let fl = FormatLength::<f64>::default();
    let (s, a) = f.flags(t);
    assert_eq!(fl.value(s, a, 1536).unwrap(), 0.0);
    // As pipeline terms (the format-only term is the mean of the two flags).
    let texts = [
        r"<think>a</think> so \(x = 3\)",
        r"<think>so \boxed{4}</think> no final answer",
    ];
    let batch = Batch::<f64>::new(2).unwrap().with_texts(&texts).unwrap();
    let mut out = [9.0; 2];
    RewardTerm::score(&f, &mut out, &batch).unwrap();
    assert_eq!(out, [0.5, 0.5]);
}

/// The reference's own positive cases (`evaluator.py`'s `__main__` responses, reduced to the
/// structure the extraction sees; long reasoning replaced by a few words). Expected answers by hand
/// from `parse_answer`: the box (or the last `\(…\)`) of the `<answer>` block as is, the normalized
/// block, or the box after the last `</think>`.
#[test]
fn defect6_reference_positive_cases() {
    let cases: [(&str, &str); 15] = [
        // 1. <answer> holds only the answer: normalized block ("\n1000\n" → "1000"); the box in the
        //    reasoning is not used.
        (
            "\n<think>\nso our answer is\\[(9+1)^3 = \\boxed{1000}\\]\n</think>\n<answer>\n1000\n</answer>\n",
            "1000",
        ),
        // 2. <answer> holds a boxed answer inside \( \) or \[ \]: the box wins over the \( \).
        (
            "\nassistant\n<think>\nx = 7\n</think>\n<answer>\n\\(\\boxed{7}\\)\n</answer>",
            "7",
        ),
        (
            "<think>\\(\\frac{8}{22}\\) is \\(\\boxed{\\frac{4}{11}}\\).</think>\n<answer>\n\\(\\boxed{\\frac{4}{11}}\\)\n</answer>",
            "\\frac{4}{11}",
        ),
        (
            "<think>\n\\[\n\\boxed{(-\\infty, \\infty)}\n\\]\n</think>\n<answer>\n\\[\n\\boxed{(-\\infty, \\infty)}\n\\]\n</answer>\n<|im_end|>",
            "(-\\infty, \\infty)",
        ),
        // 3. \[ \boxed{} \] in <answer>.
        (
            "<think>\n10 × 35 × 20 = 7000\n</think>\n<answer>\n\\[\n\\boxed{7000}\n\\]\n</answer>",
            "7000",
        ),
        // 4. Analysis and answer in <answer>, no box: the last \( \).
        (
            "<think>\n\\(A + B = 160\\)\n</think>\n<answer>\nTo find \\(A + D\\), add them:\n\\[\nA + D = 540 - 360 = 180\n\\]\nTherefore, Abby and Damon weigh together \\(180\\) pounds.\n</answer>",
            "180",
        ),
        // 5. Analysis and a boxed answer in <answer>.
        (
            "<think>\nevaluate $g(4)$\n</think>\n<answer>\nFirst, \\[g(4) = 3.\\] Finally \\[f(g(4)) - g(f(3)) = 4 - 3 = \\boxed{1}.\\]\n</answer>",
            "1",
        ),
        (
            "<think>\nf(1) = 3/2\n</think>\n<answer>\nThe value of \\( f(g(1)) \\cdot g(f(1)) \\) is \\(\\boxed{-3}\\).\n</answer>",
            "-3",
        ),
        (
            "<think>\n\\(\\boxed{(0, \\infty)}\\)\n</think>\n<answer>\nThe range is \\(\\boxed{(0, \\infty)}\\).\n</answer>\n<|im_end|>",
            "(0, \\infty)",
        ),
        (
            "<think>\n<think>\nu = sin^2 x\n</think>\n<answer>\nThe range is:\n\\[\n\\boxed{\\left[\\frac{3}{4}, 1\\right]}\n\\]\n</answer>\n<|im_end|>",
            "\\left[\\frac{3}{4}, 1\\right]",
        ),
        // 6. Analysis and a boxed answer after </think>, no <answer>.
        (
            "<think>\n**Final Answer**\nThe largest prime factor of \\( S \\) is \\boxed{103}.\n</think>\n\nThus the largest prime factor of \\( S \\) is \\boxed{103}.",
            "103",
        ),
        // 7. No reasoning block at all: the whole text is "after the last </think>".
        (
            "So the volume is \\( 32\\pi \\) cubic feet.\n\nThe final answer is:\n\n\\[\n\\boxed{32\\pi}\n\\]<|endoftext|>",
            "32\\pi",
        ),
        (
            "So the final answer is:\n\\[\n\\boxed{(2, \\frac{5\\pi}{3})}\n\\]<|endoftext|>",
            "(2, \\frac{5\\pi}{3})",
        ),
        (" \\boxed{1, 3,  5} ", "1, 3,  5"),
        ("\\boxed{16}", "16"),
    ];
    let f = Format::default();
    for (t, want) in cases {
        assert_eq!(text::extract_answer(t, "</think>"), want, "{t:?}");
        assert!(f.flags(t).1, "{t:?}");
    }
}

/// Defect 10 (reward part): HAPO's mean history was documented as "the reference's recurrence, up
/// to rounding", but the reference (`HCY123902/HAPO`, `grpo_trainer.py::combined_reward_func`)
/// runs its update once per **occurrence** of a prompt in the batch (each GRPO prompt occurs `G`
/// times) and stores the history in an `int64` tensor (truncating). Minimal input: one prompt,
/// `G = 4`, two batches. Batch 1: correct lengths 80, 100, 95 (`k = 3`, `m = 91.67`), applied four
/// times: `h = ⌊91.67⌋ = 91` (c = 3), `⌊½·91.67 + ½·91⌋ = 91` (6), `⌊⅓·91.67 + ⅔·91⌋ = 91` (9),
/// `⌊¼·91.67 + ¾·91⌋ = 91` (12). Batch 2: correct 60, 70 (`k = 2`, `m = 65`):
/// `⌊(2/14)·65 + (12/14)·91⌋ = ⌊87.29⌋ = 87` (14), `⌊(2/16)·65 + (14/16)·87⌋ = ⌊84.25⌋ = 84` (16),
/// `⌊(2/18)·65 + (16/18)·84⌋ = ⌊81.89⌋ = 81` (18), `⌊(2/20)·65 + (18/20)·81⌋ = ⌊79.4⌋ = 79` (20).
/// The old rule gave the exact mean 405/5 = 81 (and 91.67 after batch 1).
#[test]
fn defect10_hapo_mean_is_the_reference_integer_rule() {
    let keys = [7u64; 4];
    let mut h = HapoHistory::new(HistoryMode::Mean);
    h.update(&keys, &[80, 100, 95, 300], &[true, true, true, false])
        .unwrap();
    assert_eq!(h.get(7), Some(91.0));
    assert_eq!(h.entry(7).unwrap().mean_count, 12);
    h.update(&keys, &[60, 70, 200, 210], &[true, true, false, false])
        .unwrap();
    assert_eq!(h.get(7), Some(79.0));
    assert_eq!(h.entry(7).unwrap().mean_count, 20);
    // The exact mean is still available, as its own mode.
    let mut e = HapoHistory::new(HistoryMode::ExactMean);
    e.update(&keys, &[80, 100, 95, 300], &[true, true, true, false])
        .unwrap();
    assert!((e.get(7).unwrap() - 275.0 / 3.0).abs() < 1e-12);
    e.update(&keys, &[60, 70, 200, 210], &[true, true, false, false])
        .unwrap();
    assert_eq!(e.get(7), Some(81.0));
    // Two workers, as the reference gathers them: worker A (h = 91, c = 12 from batch 1 above) and
    // worker B with correct lengths 50, 52 over two occurrences (h = 51, then ⌊½·51 + ½·51⌋ = 51;
    // c = 4): the merged view is (91·12 + 51·4)/16 = 81.
    let mut a = HapoHistory::new(HistoryMode::Mean);
    a.update(&keys, &[80, 100, 95, 300], &[true, true, true, false])
        .unwrap();
    let mut b = HapoHistory::new(HistoryMode::Mean);
    b.update(&[7, 7], &[50, 52], &[true, true]).unwrap();
    assert_eq!(b.get(7), Some(51.0));
    a.merge(&b);
    assert_eq!(a.get(7), Some(81.0));
}
