//! The composition model: weighted terms, per-term parts, per-sample and per-token outputs.

use rewardkit_core::reward::*;
use rewardkit_core::{GroupIndex, Mask};

#[test]
fn four_term_pipeline_by_hand() {
    // correctness (w 1) + format (w 0.5) + HAPO (w 1) + repetition (w 1), three samples of prompt 9
    // whose history is h = 8 tokens.
    let mut hist = HapoHistory::default();
    hist.update(&[9], &[8], &[true]).unwrap();
    let correct = Correctness::<f64>::default();
    let format = Format::default();
    let hapo = HapoTerm {
        params: Hapo::default(),
        history: &hist,
    };
    let rep = RepetitionPenalty::new(2, -1.0, RepeatMarking::All).unwrap();
    let terms = [
        Weighted::sequence(&correct, 1.0),
        Weighted::sequence(&format, 0.5),
        Weighted::sequence(&hapo, 1.0),
        Weighted::sequence(&rep, 1.0),
    ];
    let p = Pipeline::new(&terms).unwrap();
    assert_eq!(
        p.names().collect::<Vec<_>>(),
        ["correctness", "format", "hapo", "repetition"]
    );
    let texts = ["<think>x</think> \\boxed{1}", "\\boxed{2}", "no answer"];
    // Sample 0: 4 distinct tokens; sample 1: (1, 2) repeats → 2 of 4 tokens marked; sample 2: 16.
    let t0: &[u32] = &[1, 2, 3, 4];
    let t1: &[u32] = &[1, 2, 1, 2];
    let t2: Vec<u32> = (0..16).collect();
    let tokens = [t0, t1, &t2[..]];
    let batch = Batch::new(3)
        .unwrap()
        .with_correct(&[true, true, false])
        .unwrap()
        .with_texts(&texts)
        .unwrap()
        .with_lengths(&[4, 4, 16])
        .unwrap()
        .with_keys(&[9, 9, 9])
        .unwrap()
        .with_tokens(&tokens)
        .unwrap();
    let (mut out, mut parts) = ([0.0; 3], [0.0; 12]);
    p.eval(&mut out, &mut parts, &mut [], &batch).unwrap();
    // HAPO: L = 4 = h/2 → cos(π/4); L = 16 = 2h, wrong → −1.
    let c = std::f64::consts::FRAC_1_SQRT_2;
    let want_parts = [
        1.0, 1.0, 0.0, // correctness
        1.0, 0.5, 0.0, // format: both flags; answer only; none
        c, c, -1.0, // hapo
        0.0, -0.5, 0.0, // repetition
    ];
    for (g, w) in parts.iter().zip(want_parts) {
        assert!((g - w).abs() < 1e-15, "{parts:?}");
    }
    let want = [1.0 + 0.5 + c, 1.0 + 0.25 + c - 0.5, -1.0];
    for (g, w) in out.iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{out:?}");
    }
}

#[test]
fn per_token_placement_with_token_terms() {
    // Two rows, T = 4; row 0 has 3 valid tokens, row 1 has a hole (valid 0, 2, 3).
    let bits = [true, true, true, false, true, false, true, true];
    let mask = Mask::new(&bits, 4).unwrap();
    let correct = Correctness::<f64>::default();
    let dense = RepetitionPenalty::new(1, -0.1, RepeatMarking::All).unwrap();
    let terms = [
        Weighted::sequence(&correct, 2.0),
        Weighted::token(&dense, 1.0),
    ];
    let p = Pipeline::new(&terms).unwrap();
    let t0: &[u32] = &[5, 5, 6]; // token 1 repeats token 0 → −0.1 there
    let t1: &[u32] = &[7, 8, 7]; // third valid token (position 3) repeats → −0.1
    let tokens = [t0, t1];
    let batch = Batch::new(2)
        .unwrap()
        .with_correct(&[true, false])
        .unwrap()
        .with_tokens(&tokens)
        .unwrap()
        .with_mask(mask)
        .unwrap();
    let (mut out, mut parts, mut scratch) = ([0.0; 8], [0.0; 4], [0.0; 8]);
    p.eval_tokens(&mut out, &mut parts, &mut scratch, &batch)
        .unwrap();
    // Row 0: −0.1 at 1, 2·1 on the last valid token (2). Row 1: −0.1 at 3, plus 2·0 there.
    assert_eq!(out, [0.0, -0.1, 2.0, 0.0, 0.0, 0.0, 0.0, -0.1]);
    assert_eq!(parts, [1.0, 0.0, -0.1, -0.1]);
    // The per-sample view sums the token term over each row.
    let mut seq = [0.0; 2];
    p.eval(&mut seq, &mut parts, &mut scratch, &batch).unwrap();
    assert_eq!(seq, [2.0 - 0.1, -0.1]);
}

#[test]
fn group_terms_in_a_pipeline() {
    // Kimi's penalty reads the groups from the batch; LASER-D-style group terms work the same way.
    let g = GroupIndex::new(&[1, 0, 1, 0], 2).unwrap();
    let kimi = KimiLength::<f64>::new(0.4, 0.0).unwrap();
    let glp = GroupLengthPenalty::<f64>::new(0.4, 0.0).unwrap();
    let terms = [
        Weighted::sequence(&kimi, 1.0),
        Weighted::sequence(&glp, 1.0),
    ];
    let p = Pipeline::new(&terms).unwrap();
    let batch = Batch::new(4)
        .unwrap()
        .with_correct(&[true, true, true, true])
        .unwrap()
        .with_lengths(&[10, 20, 30, 40])
        .unwrap()
        .with_groups(&g)
        .unwrap();
    let (mut out, mut parts) = ([0.0; 4], [0.0; 8]);
    p.eval(&mut out, &mut parts, &mut [], &batch).unwrap();
    // Group 1 = rows 0, 2 (lengths 10, 30): λ = ±0.5 → ±0.2. Group 0 = rows 1, 3 (20, 40): same.
    assert_eq!(parts[..4], [0.2, 0.2, -0.2, -0.2]);
    // Group penalty: z = ∓1/√2 within each group.
    let s = 1.0 / (1.0 + std::f64::consts::FRAC_1_SQRT_2.exp());
    assert!((parts[4] + 0.4 * s).abs() < 1e-15 && (parts[6] + 0.4 * (1.0 - s)).abs() < 1e-15);
    assert!((out[0] - (0.2 - 0.4 * s)).abs() < 1e-15);
}

#[test]
fn par_and_text_terms() {
    let par = Par::<f32>::default();
    let rpr = ReasoningPattern::default();
    let fl = FormatLength::<f32>::new(100, 0.5).unwrap();
    let terms = [
        Weighted::sequence(&par, 1.0f32),
        Weighted::sequence(&rpr, 1.0),
        Weighted::sequence(&fl, 1.0),
    ];
    let p = Pipeline::new(&terms).unwrap();
    let texts = ["<think>wait</think> \\boxed{1}"];
    let batch = Batch::new(1)
        .unwrap()
        .with_scores(&[1.0f32])
        .unwrap()
        .with_refs(&[1.0, 1.0])
        .unwrap()
        .with_texts(&texts)
        .unwrap()
        .with_lengths(&[50])
        .unwrap();
    let (mut out, mut parts) = ([0.0f32], [0.0f32; 3]);
    p.eval(&mut out, &mut parts, &mut [], &batch).unwrap();
    // PAR ½; RPR: "wait" → 1/20; format-length at the peak: 1 + 1.
    assert_eq!(parts, [0.5, 0.05, 2.0]);
    assert!((out[0] - 2.55).abs() < 1e-6);
    assert!(format!("{p:?}").contains("par"));
}

#[test]
fn laser_de_term_detects_repetition_from_tokens() {
    // L_A = 10 everywhere; both answers wrong and longer than 10: the exploration bonus goes to the
    // non-repetitive one only (row 1 loops (1, 2)).
    let state = LaserDState::new(10);
    let de = LaserDTerm {
        params: LaserD::<f64>::default(),
        state: &state,
        explore: true,
    };
    let d = LaserDTerm {
        explore: false,
        ..de
    };
    assert_eq!(
        (RewardTerm::<f64>::name(&de), RewardTerm::<f64>::name(&d)),
        ("laser_de", "laser_d")
    );
    let g = GroupIndex::uniform(2, 2).unwrap();
    let t0: Vec<u32> = (0..20).collect();
    let t1: Vec<u32> = (0..40).map(|i| 1 + i % 2).collect();
    let tokens = [&t0[..], &t1[..]];
    let batch = Batch::new(2)
        .unwrap()
        .with_lengths(&[20, 40])
        .unwrap()
        .with_correct(&[false, false])
        .unwrap()
        .with_groups(&g)
        .unwrap()
        .with_tokens(&tokens)
        .unwrap();
    let mut out = [0.0; 2];
    de.score(&mut out, &batch).unwrap();
    assert_eq!(out, [0.5, 0.0]);
    d.score(&mut out, &batch).unwrap();
    assert_eq!(out, [0.0, 0.0]);
}
