//! Issue 14 (rewards): the seed papers' reference functions that rewardkit added — LASER's adaptive
//! reward, the length-scaled sparse reward, the `ThinkPrune` schedule, HAPO's repetition ratio, the
//! surrogate format/length rewards, the noisy-reward format branch, PF-PPO's policy weights and
//! OREAL's rescales and filter. Each is checked against the numbers its reference code produced
//! (`tests/data/seed/reference.json`, see its README), against hand-computed literals, and for every
//! documented error.

use rewardkit_core::reward::text::{soft_format, strict_format, think_and_answer};
use rewardkit_core::reward::*;
use rewardkit_core::rng::RandomSource;
use rewardkit_core::{Error, GroupIndex, Mask};
use rewardkit_tests::approx_eq::{assert_all_close, assert_oracle};
use serde_json::Value;

/// The reference file.
pub(crate) fn reference() -> Value {
    let path = rewardkit_tests::data_path("seed/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("valid JSON")
}

pub(crate) fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as u32)
        .collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_bool().expect("bool"))
        .collect()
}

/// Relative closeness for values computed from the same formula in `f64` (a few ulps).
#[track_caller]
fn near(what: &str, got: &[f64], want: &[f64]) {
    assert_all_close(what, got, want, 1e-14, 1e-15);
}

/// A random source that replays given flip outcomes: `true` draws 0 (below any positive rate),
/// `false` draws just below 1.
struct Scripted(Vec<bool>, usize);

impl RandomSource for Scripted {
    fn next_u64(&mut self) -> u64 {
        let flip = self.0[self.1];
        self.1 += 1;
        if flip { 0 } else { u64::MAX }
    }
}

// ------------------------------------------------------------------------------ 1. LASER adaptive

#[test]
fn laser_adaptive_matches_reference() {
    let r = reference();
    for case in r["laser_adaptive"]["cases"].as_array().unwrap() {
        let scores = f64s(&case["scores"]);
        let a = case["acc_weight"].as_f64().unwrap();
        let ad = LaserAdaptive::new(a).unwrap();
        let mut out = vec![0.0; scores.len()];
        let stats = ad.apply(&mut out, &scores).unwrap();
        near("laser adaptive", &out, &f64s(&case["out"]));
        near(
            "laser beta",
            &[stats.beta.unwrap()],
            &[case["beta"].as_f64().unwrap()],
        );
        assert_eq!(
            stats.correct + stats.incorrect + stats.clipped,
            scores.len()
        );
        // f32 against the f64 result (the scores are exact in f32).
        let s32: Vec<f32> = scores.iter().map(|&x| x as f32).collect();
        let mut o32 = vec![0.0f32; s32.len()];
        LaserAdaptive::new(a as f32)
            .unwrap()
            .apply(&mut o32, &s32)
            .unwrap();
        // α is rounded to f32: compare with the f64 path at the rounded α.
        let mut o64r = vec![0.0; scores.len()];
        LaserAdaptive::new(f64::from(a as f32))
            .unwrap()
            .apply(&mut o64r, &scores)
            .unwrap();
        assert_oracle("laser adaptive f32", &o32, &o64r);
    }
    for case in r["laser_adaptive"]["beta_cases"].as_array().unwrap() {
        let ad = LaserAdaptive::new(case["alpha"].as_f64().unwrap()).unwrap();
        let b = ad
            .beta(case["c"].as_f64().unwrap(), case["p"].as_f64().unwrap())
            .unwrap();
        near("compute_beta", &[b], &[case["beta"].as_f64().unwrap()]);
    }
}

#[test]
fn laser_adaptive_literals_and_term() {
    // α = 0.5, 1 correct, 1 wrong, 2 clipped: c = ½, p = ½, E = ½ + ¼ = ¾, β = 0.25/(0.5·0.5·0.75) = 4/3.
    let ad = LaserAdaptive::new(0.5f64).unwrap();
    let mut out = [0.0; 4];
    let s = ad.apply(&mut out, &[1.0, -0.5, -1.0, 0.3]).unwrap();
    assert_eq!((s.correct, s.incorrect, s.clipped), (1, 1, 2));
    assert!((s.beta.unwrap() - 4.0 / 3.0).abs() < 1e-15);
    assert!((out[0] - 4.0 / 3.0).abs() < 1e-15 && (out[1] + 2.0 / 3.0).abs() < 1e-15);
    assert_eq!(&out[2..], &[-1.0, 0.3]);
    // All clipped: the reference divides by zero; rewardkit: no β, identity.
    let s = ad.apply(&mut out[..2], &[-1.0, 0.2]).unwrap();
    assert_eq!((s.beta, &out[..2]), (None, &[-1.0, 0.2][..]));
    // Nothing clipped: β = 0 (the reference's value).
    ad.apply(&mut out[..2], &[1.0, -0.5]).unwrap();
    assert_eq!(&out[..2], &[0.0, -0.0]);
    // Custom scores classify too.
    let custom = LaserAdaptive::new(0.5f64)
        .unwrap()
        .with_scores(2.0, -1.0, -3.0)
        .unwrap();
    // 1 correct (2), 0 wrong, 1 clipped: c = ½, p = 1, E = 2 → β = 0.25/(0.25·2) = ½.
    let s = custom.apply(&mut out[..2], &[2.0, -3.0]).unwrap();
    assert_eq!(s.beta, Some(0.5));
    assert_eq!(&out[..2], &[1.0, -3.0]);
    // As a pipeline term: correct ∧ formed → r_c, formed → r_w, malformed → r_x, then β.
    let batch = Batch::<f64>::new(4)
        .unwrap()
        .with_correct(&[true, true, false, true])
        .unwrap()
        .with_well_formed(&[true, true, true, false])
        .unwrap();
    let term = LaserAdaptive::default(); // α = 0.9: the docs' batch, β = 3.6
    let mut t = [0.0; 4];
    term.score(&mut t, &batch).unwrap();
    assert!((t[0] - 3.6).abs() < 1e-12 && (t[2] + 1.8).abs() < 1e-12 && t[3] == -1.0);
    assert_eq!(RewardTerm::<f64>::name(&term), "laser_adaptive");
}

#[test]
fn laser_adaptive_errors() {
    for a in [1.0, -0.1, 1.5, f64::NAN] {
        assert!(matches!(
            LaserAdaptive::new(a),
            Err(Error::InvalidParam {
                name: "acc_weight",
                ..
            })
        ));
    }
    let ad = LaserAdaptive::<f64>::default();
    for (c, w, x, name) in [
        (0.0, -0.5, -1.0, "correct"),
        (1.0, 0.0, -1.0, "wrong"),
        (1.0, -0.5, 1.0, "clipped"),
        (1.0, -0.5, -0.5, "clipped"),
        (1.0, -0.5, f64::INFINITY, "clipped"),
    ] {
        assert!(
            matches!(ad.with_scores(c, w, x), Err(Error::InvalidParam { name: n, .. }) if n == name),
            "{name}"
        );
    }
    assert!(matches!(
        ad.beta(1.0, 0.5),
        Err(Error::InvalidParam {
            name: "clip_ratio",
            ..
        })
    ));
    assert!(matches!(
        ad.beta(0.5, 1.5),
        Err(Error::InvalidParam {
            name: "correct_ratio",
            ..
        })
    ));
    let mut out = [0.0; 2];
    assert_eq!(
        ad.apply(&mut out[..0], &[]),
        Err(Error::Empty { what: "scores" })
    );
    assert!(matches!(
        ad.apply(&mut out, &[1.0]),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert!(matches!(
        ad.apply(&mut out, &[1.0, f64::NAN]),
        Err(Error::NonFinite {
            what: "scores",
            index: 1
        })
    ));
    // α a hair below 1 in f32: β = α·c/((1−α)(1−c)E) beyond f32 (never NaN).
    let tiny = LaserAdaptive::new(1.0f32 - f32::EPSILON / 2.0)
        .unwrap()
        .with_scores(1e-38, -1e-38, 1.0)
        .unwrap();
    let mut o = [0.0f32; 2];
    assert!(matches!(
        tiny.apply(&mut o, &[1e-38, 1.0]),
        Err(Error::Overflow { .. })
    ));
    let small = LaserAdaptive::new(0.5f32)
        .unwrap()
        .with_scores(1e-38, -1e-38, 1.0)
        .unwrap();
    // β = 0.495/(0.5·0.01·1e-38) ≈ 1e40 > f32::MAX.
    assert_eq!(
        small.beta(0.99, 1.0),
        Err(Error::Overflow {
            what: "adaptive beta"
        })
    );
    let batch = Batch::<f64>::new(1).unwrap();
    assert_eq!(
        ad.score(&mut [0.0], &batch),
        Err(Error::MissingInput { what: "correct" })
    );
}

// ------------------------------------------------------------------------------ 2. length-scaled

#[test]
fn length_scaled_matches_reference() {
    for case in reference()["length_scaled"].as_array().unwrap() {
        let exceed = case["exceed"].as_f64().unwrap_or(0.0);
        let p = LengthScaled::new(
            case["risk"].as_f64().unwrap(),
            case["max_len"].as_u64().unwrap() as u32,
            exceed,
        )
        .unwrap();
        let (lens, ok) = (u32s(&case["lengths"]), bools(&case["correct"]));
        let got: Vec<f64> = lens
            .iter()
            .zip(&ok)
            .map(|(&l, &c)| p.value(l, c).unwrap())
            .collect();
        near("length scaled", &got, &f64s(&case["out"]));
        // The term reads the same inputs.
        let batch = Batch::new(lens.len())
            .unwrap()
            .with_lengths(&lens)
            .unwrap()
            .with_correct(&ok)
            .unwrap();
        let mut t = vec![0.0; lens.len()];
        p.score(&mut t, &batch).unwrap();
        assert_eq!(t, got);
    }
}

#[test]
fn length_scaled_literals_and_errors() {
    // k = 0.5, L_max = 100: c = 0.5 → (0.5 + 0.25)·0.5 = 0.375; wrong −0.5; margin 16.
    let p = LengthScaled::<f64>::new(0.5, 100, -3.0).unwrap();
    assert_eq!(p.value(50, true).unwrap(), 0.375);
    assert_eq!(p.value(50, false).unwrap(), -0.5);
    assert_eq!(p.value(84, false).unwrap(), -3.0);
    assert_eq!(
        p.with_margin(0).value(84, false).unwrap(),
        -0.16000000000000003
    );
    assert_eq!(
        LengthScaled::<f64>::default().value(7168, true).unwrap(),
        0.375
    );
    for (k, m, e, name) in [
        (1.5, 100, 0.0, "risk"),
        (-0.1, 100, 0.0, "risk"),
        (0.5, 0, 0.0, "max_len"),
        (0.5, 100, f64::NAN, "exceed"),
    ] {
        assert!(
            matches!(LengthScaled::new(k, m, e), Err(Error::InvalidParam { name: n, .. }) if n == name),
            "{name}"
        );
    }
    assert!(matches!(
        p.value(0, true),
        Err(Error::InvalidParam {
            name: "lengths",
            ..
        })
    ));
    let batch = Batch::<f64>::new(1).unwrap().with_lengths(&[3]).unwrap();
    assert_eq!(
        p.score(&mut [0.0], &batch),
        Err(Error::MissingInput { what: "correct" })
    );
}

// ------------------------------------------------------------------------------ 3. ThinkPrune

#[test]
fn prune_schedule_matches_reference() {
    let r = reference();
    let cases = r["prune_schedule"].as_array().unwrap();
    let iv = &cases[0];
    let mut s = PruneSchedule::interval(
        iv["init"].as_u64().unwrap() as u32,
        iv["min"].as_u64().unwrap() as u32,
        iv["reduction"].as_u64().unwrap() as u32,
        iv["interval"].as_u64().unwrap(),
        iv["start"].as_u64().unwrap(),
    )
    .unwrap();
    let limits: Vec<u32> = u32s(&iv["steps"])
        .iter()
        .map(|&st| s.step(u64::from(st), None).unwrap())
        .collect();
    assert_eq!(limits, u32s(&iv["limits"]));
    let cr = &cases[1];
    let mut s = PruneSchedule::clip_ratio(
        cr["init"].as_u64().unwrap() as u32,
        cr["min"].as_u64().unwrap() as u32,
        cr["reduction"].as_u64().unwrap() as u32,
        cr["target"].as_f64().unwrap(),
        cr["times"].as_u64().unwrap() as u32,
        cr["start"].as_u64().unwrap(),
    )
    .unwrap();
    let limits: Vec<u32> = f64s(&cr["clips"])
        .iter()
        .enumerate()
        .map(|(st, &c)| {
            let c = if c == -1.0 { None } else { Some(c) };
            s.step(st as u64, c).unwrap()
        })
        .collect();
    assert_eq!(limits, u32s(&cr["limits"]));
}

#[test]
fn prune_schedule_literals_terms_and_errors() {
    let mut c = PruneSchedule::constant(3000).unwrap();
    assert_eq!(c.step(5, Some(0.0)).unwrap(), 3000);
    assert_eq!(c.shrink(), 3000); // Δ = 0, L_min = L_init
    let mut s = PruneSchedule::interval(4096, 2048, 1500, 1, 0).unwrap();
    assert_eq!(s.shrink(), 2596);
    assert_eq!(s.shrink(), 2048);
    assert_eq!(
        s.truncation(TruncationMode::Replace(-1.0f64))
            .unwrap()
            .value(1.0, true),
        -1.0
    );
    // The term: Scale(0.5) halves a truncated correct answer.
    let term = ThinkPruneTerm {
        mode: TruncationMode::Scale(0.5f64),
        schedule: &s,
    };
    let batch = Batch::new(3)
        .unwrap()
        .with_lengths(&[2048, 2049, 5000])
        .unwrap()
        .with_correct(&[true, true, false])
        .unwrap();
    let mut out = [0.0; 3];
    term.score(&mut out, &batch).unwrap();
    assert_eq!(out, [1.0, 0.5, 0.0]);
    assert_eq!(RewardTerm::<f64>::name(&term), "thinkprune");
    // A schedule round-trips through serde with its counters.
    let mut cr = PruneSchedule::clip_ratio(100, 10, 10, 0.2, 2, 0).unwrap();
    cr.step(0, Some(0.1)).unwrap();
    let json = serde_json::to_string(&cr).unwrap();
    let mut back: PruneSchedule = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cr);
    assert_eq!(back.step(1, None).unwrap(), 90); // reuses the stored 0.1: second good step
    // Errors.
    for (r, name) in [
        (PruneSchedule::constant(0), "init_length"),
        (PruneSchedule::interval(10, 0, 1, 1, 0), "min_length"),
        (PruneSchedule::interval(10, 11, 1, 1, 0), "min_length"),
        (PruneSchedule::interval(10, 5, 1, 0, 0), "interval"),
        (
            PruneSchedule::clip_ratio(10, 5, 1, 0.1, 0, 0),
            "target_acc_times",
        ),
        (
            PruneSchedule::clip_ratio(10, 5, 1, 1.5, 1, 0),
            "target_clip_ratio",
        ),
        (
            PruneSchedule::clip_ratio(10, 5, 1, f64::NAN, 1, 0),
            "target_clip_ratio",
        ),
    ] {
        assert!(
            matches!(r, Err(Error::InvalidParam { name: n, .. }) if n == name),
            "{name}"
        );
    }
    for bad in [-0.5, 1.5, f64::NAN] {
        assert!(matches!(
            cr.step(2, Some(bad)),
            Err(Error::InvalidParam {
                name: "clip_ratio",
                ..
            })
        ));
    }
    let bad_mode = ThinkPruneTerm {
        mode: TruncationMode::Replace(f64::NAN),
        schedule: &s,
    };
    assert!(matches!(
        bad_mode.score(&mut out, &batch),
        Err(Error::InvalidParam {
            name: "replace",
            ..
        })
    ));
}

// ------------------------------------------------------------------------------ 4. HAPO ratio

#[test]
fn repetition_ratio_matches_reference() {
    for case in reference()["hapo_repetition_ratio"].as_array().unwrap() {
        let tokens = u32s(&case["tokens"]);
        let n = case["n"].as_u64().unwrap() as usize;
        let p = RepetitionRatio::new(n, case["penalty"].as_f64().unwrap()).unwrap();
        let (mut flags, mut scratch) = (
            vec![false; tokens.len()],
            vec![0u32; ngram_scratch_len(tokens.len())],
        );
        let got = p.value(&tokens, &mut flags, &mut scratch).unwrap();
        near("repetition ratio", &[got], &[case["out"].as_f64().unwrap()]);
    }
}

#[test]
fn repetition_ratio_literals_term_and_errors() {
    let p = RepetitionRatio::<f64>::new(3, -1.0).unwrap();
    let (mut f, mut s) = ([false; 8], [0u32; 16]);
    // (1 1 1) ×4 starts of 6 tokens: 1 distinct of 4 → −3/4.
    assert_eq!(p.value(&[1; 6], &mut f, &mut s).unwrap(), -0.75);
    // L < n: 0 (the reference divides by zero).
    assert_eq!(p.value(&[1, 2], &mut f, &mut s).unwrap(), 0.0);
    // p = 0: 0 whatever the tokens.
    let off = RepetitionRatio::<f64>::new(3, 0.0).unwrap();
    assert_eq!(off.value(&[1; 6], &mut f, &mut s).unwrap(), 0.0);
    let toks: [&[u32]; 2] = [&[4, 4, 4, 4], &[1, 2, 3, 4]];
    let batch = Batch::<f64>::new(2).unwrap().with_tokens(&toks).unwrap();
    let mut out = [0.0; 2];
    RepetitionRatio::new(2, -2.0)
        .unwrap()
        .score(&mut out, &batch)
        .unwrap();
    assert_eq!(out, [-2.0 * 2.0 / 3.0, 0.0]);
    assert!(matches!(
        RepetitionRatio::<f64>::new(0, -1.0),
        Err(Error::InvalidParam { name: "ngram", .. })
    ));
    assert!(matches!(
        RepetitionRatio::<f64>::new(2, 0.5),
        Err(Error::InvalidParam {
            name: "penalty",
            ..
        })
    ));
    assert!(matches!(
        p.value(&[], &mut f, &mut s),
        Err(Error::InvalidParam { name: "tokens", .. })
    ));
    assert!(matches!(
        p.value(&[1; 8], &mut f, &mut s[..4]),
        Err(Error::LengthMismatch { .. })
    ));
}

// ------------------------------------------------------------------------------ 5. surrogates

#[test]
fn surrogate_rewards_match_reference() {
    let ra = ReasoningAction::<f64>::default();
    let (v1, v2) = (
        CharLength::new(CharCurve::V1, 4096).unwrap(),
        CharLength::new(CharCurve::V2, 4096).unwrap(),
    );
    for case in reference()["surrogate"].as_array().unwrap() {
        let t = case["text"].as_str().unwrap();
        let short: String = t.chars().take(40).collect();
        assert_eq!(
            TagFormat::Soft.value::<f64>(t),
            case["soft"].as_f64().unwrap(),
            "soft {short:?}"
        );
        assert_eq!(
            TagFormat::Strict.value::<f64>(t),
            case["strict"].as_f64().unwrap(),
            "strict {short:?}"
        );
        near(
            "length_reward_func",
            &[v1.value::<f64>(t)],
            &[case["length"].as_f64().unwrap()],
        );
        near(
            "length_reward_func_v2",
            &[v2.value::<f64>(t)],
            &[case["length_v2"].as_f64().unwrap()],
        );
        near(
            "reasoning_action_reward_func",
            &[ra.value(t)],
            &[case["action"].as_f64().unwrap()],
        );
    }
}

#[test]
fn surrogate_literals_terms_and_errors() {
    assert!(soft_format("<think>\n</think>\n\t<answer></answer>"));
    assert!(!soft_format("<think></think> x <answer></answer>"));
    // The first `</think>` is not followed by an answer, a later one is.
    assert!(soft_format("<think>a</think> b </think><answer>c</answer>"));
    assert!(strict_format(
        "<think>a</think> b </think><answer>c</answer>"
    ));
    assert!(!strict_format(
        "<think>a</think><answer>c</answer>x</answer>y"
    ));
    assert!(!strict_format("<think></answer>"));
    // Python whitespace includes U+001C..U+001F.
    assert!(strict_format(
        "\u{1f}<think>a</think>\u{1c}<answer>b</answer>\u{1d}"
    ));
    let texts = ["<think>a</think><answer>b</answer>", "plain text wait"];
    let batch = Batch::<f64>::new(2).unwrap().with_texts(&texts).unwrap();
    let mut out = [0.0; 2];
    TagFormat::Strict.score(&mut out, &batch).unwrap();
    assert_eq!(out, [2.0, 0.0]);
    assert_eq!(RewardTerm::<f64>::name(&TagFormat::Soft), "soft_format");
    CharLength::new(CharCurve::V2, 10)
        .unwrap()
        .score(&mut out, &batch)
        .unwrap();
    // 34 chars: x = 3.4 → 1.5 − 6.8; 15 chars: x = 1.5 → 1.5 − 3.
    assert_eq!(out, [1.5 - 6.8, -1.5]);
    assert_eq!(
        RewardTerm::<f64>::name(&CharLength::default()),
        "length_reward"
    );
    ReasoningAction::default().score(&mut out, &batch).unwrap();
    assert_eq!(out, [0.0, 0.025]);
    // Custom keywords, cap and scale.
    let words = ["hmm", "x_1"];
    let ra = ReasoningAction::new(&words, 2, 1.0f64).unwrap();
    assert_eq!(ra.count("HMM hmm x_1 X_1 hmmm"), 4);
    assert_eq!(ra.value("hmm"), 0.5);
    for (w, name) in [
        (&[][..], "words"),
        (&["Wait"][..], "words"),
        (&[""][..], "words"),
    ] {
        assert!(
            matches!(
                ReasoningAction::new(w, 20, 0.5f64),
                Err(Error::InvalidParam { name: n, .. } | Error::Empty { what: n }) if n == name
            ),
            "{w:?}"
        );
    }
    assert!(matches!(
        ReasoningAction::new(&words, 0, 0.5f64),
        Err(Error::InvalidParam { name: "cap", .. })
    ));
    assert!(matches!(
        ReasoningAction::new(&words, 1, -0.5f64),
        Err(Error::InvalidParam { name: "scale", .. })
    ));
    assert!(matches!(
        CharLength::new(CharCurve::V1, 0),
        Err(Error::InvalidParam {
            name: "max_len",
            ..
        })
    ));
    let empty = Batch::<f64>::new(1).unwrap();
    assert_eq!(
        TagFormat::Soft.score(&mut [0.0], &empty),
        Err(Error::MissingInput { what: "texts" })
    );
    assert_eq!(
        CharLength::default().score(&mut [0.0], &empty),
        Err(Error::MissingInput { what: "texts" })
    );
    assert_eq!(
        ReasoningAction::default().score(&mut [0.0], &empty),
        Err(Error::MissingInput { what: "texts" })
    );
}

// ------------------------------------------------------------------------------ 6. noisy rewards

#[test]
fn flip_format_branch_matches_reference() {
    for case in reference()["noisy_manager"].as_array().unwrap() {
        let scores = f64s(&case["scores"]);
        let raw = case["format"].as_array().unwrap();
        let answered: Vec<bool> = raw.iter().map(|v| !v.is_null()).collect();
        let format: Vec<f64> = raw.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect();
        let flips = bools(&case["flips"]);
        let k = case["group"].as_u64().unwrap() as usize;
        let groups = GroupIndex::uniform(scores.len(), k).unwrap();
        let noise = FlipNoise::new(0.5, FlipUnit::Group).unwrap();
        let mut out = vec![0.0; scores.len()];
        let mut rng = Scripted(flips.clone(), 0);
        if case["add_format"].as_bool().unwrap() {
            noise
                .apply_format(
                    &mut out,
                    &scores,
                    &format,
                    Some(&answered),
                    Some(&groups),
                    &mut rng,
                )
                .unwrap();
        } else {
            noise
                .apply(&mut out, &scores, Some(&answered), Some(&groups), &mut rng)
                .unwrap();
        }
        assert_eq!(rng.1, flips.len(), "one draw per group");
        assert_eq!(out, f64s(&case["out"]), "{case}");
    }
}

#[test]
fn flip_format_literals_and_errors() {
    // Sample unit, range [−1, 1]: not flipped wrong (−1) → format; flipped correct (1) → format;
    // flipped 0.5 → −0.5; not flipped 0.25 → 0.25.
    let noise = FlipNoise::new(0.5f64, FlipUnit::Sample)
        .unwrap()
        .with_range(-1.0, 1.0)
        .unwrap();
    let mut out = [0.0; 4];
    let mut rng = Scripted(vec![false, true, true, false], 0);
    noise
        .apply_format(
            &mut out,
            &[-1.0, 1.0, 0.5, 0.25],
            &[0.1, 0.2, 0.3, 0.4],
            Some(&[true; 4]),
            None,
            &mut rng,
        )
        .unwrap();
    assert_eq!(out, [0.1, 0.2, -0.5, 0.25]);
    let mut rng = Scripted(vec![true; 8], 0);
    assert!(matches!(
        noise.apply_format(
            &mut out,
            &[0.0; 4],
            &[0.0; 3],
            Some(&[true; 4]),
            None,
            &mut rng
        ),
        Err(Error::LengthMismatch { what: "format", .. })
    ));
    assert!(matches!(
        noise.apply_format(
            &mut out,
            &[0.0; 4],
            &[0.0, f64::NAN, 0.0, 0.0],
            Some(&[true; 4]),
            None,
            &mut rng
        ),
        Err(Error::NonFinite {
            what: "format",
            index: 1
        })
    ));
    assert_eq!(
        noise.apply_format(&mut out, &[0.0; 4], &[0.0; 4], None, None, &mut rng),
        Err(Error::MissingInput { what: "answered" })
    );
    let g = FlipNoise::new(0.5f64, FlipUnit::Group).unwrap();
    assert_eq!(
        g.apply_format(
            &mut out,
            &[0.0; 4],
            &[0.0; 4],
            Some(&[true; 4]),
            None,
            &mut rng
        ),
        Err(Error::MissingInput { what: "groups" })
    );
}

#[test]
fn think_and_answer_matches_reference() {
    for case in reference()["think_and_answer"].as_array().unwrap() {
        let t = case["text"].as_str().unwrap();
        let want = match (case["think"].as_str(), case["answer"].as_str()) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        assert_eq!(think_and_answer(t), want, "{t:?}");
    }
}

// ------------------------------------------------------------------------------ 7. PF-PPO

#[test]
fn policy_weights_match_reference() {
    let r = reference();
    let pw = &r["put_weight"];
    let rewards = f64s(&pw["rewards"]);
    let t = pw["t"].as_u64().unwrap() as usize;
    let bits = vec![true; rewards.len() * t];
    let mut out = vec![9.0; bits.len()];
    let kept = policy_weights(&mut out, &rewards, 5.0, Mask::new(&bits, t).unwrap()).unwrap();
    let want: Vec<f64> = pw["p_w"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(f64s)
        .collect();
    assert_eq!(out, want);
    assert_eq!(kept, 3);
    // Masked positions are 0; another threshold; errors.
    let bits = [true, false, true, true];
    let mut o = [9.0f32; 4];
    let m = Mask::new(&bits, 2).unwrap();
    assert_eq!(policy_weights(&mut o, &[1.0, 0.0], -1.0, m).unwrap(), 2);
    assert_eq!(o, [1.0, 0.0, 1.0, 1.0]);
    assert!(matches!(
        policy_weights(&mut o, &[1.0, 0.0], f32::NAN, m),
        Err(Error::InvalidParam {
            name: "threshold",
            ..
        })
    ));
    assert!(matches!(
        policy_weights(&mut o[..3], &[1.0, 0.0], 0.0, m),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert!(matches!(
        policy_weights(&mut o, &[1.0], 0.0, m),
        Err(Error::LengthMismatch {
            what: "rewards",
            ..
        })
    ));
    assert!(matches!(
        policy_weights(&mut o, &[1.0, f32::INFINITY], 0.0, m),
        Err(Error::NonFinite {
            what: "rewards",
            index: 1
        })
    ));
}

// ------------------------------------------------------------------------------ 8. OREAL

#[test]
fn oreal_rescales_match_reference() {
    for case in reference()["oreal_rescale"].as_array().unwrap() {
        let z = f64s(&case["logits"]);
        let n = z.len();
        let bits = vec![true; n];
        let mask = Mask::new(&bits, n).unwrap();
        for (key, val) in case.as_object().unwrap() {
            let parts: Vec<&str> = key.split('_').collect();
            let (p, q) = match parts.as_slice() {
                [_, p, q] => (p.parse::<f64>().unwrap(), q.parse::<f64>().unwrap()),
                _ => continue,
            };
            let rescale = if parts[0] == "threshold" {
                OrealRescale::Threshold {
                    positive: p,
                    negative: q,
                }
            } else {
                OrealRescale::TopK {
                    positive: p,
                    negative: q,
                }
            };
            let (mut pos, mut neg, mut scratch) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            let got =
                Oreal::token_weights_rescaled(&mut pos, &mut neg, &mut scratch, &z, mask, rescale);
            match val {
                Value::String(_) => assert!(
                    matches!(
                        got,
                        Err(Error::TooFewValid {
                            count: 0,
                            min: 1,
                            ..
                        })
                    ),
                    "{key}: {got:?}"
                ),
                _ => {
                    got.unwrap();
                    let want = val.as_array().unwrap();
                    near(key, &pos, &f64s(&want[0]));
                    near(key, &neg, &f64s(&want[1]));
                }
            }
        }
    }
}

#[test]
fn oreal_rescale_literals_and_errors() {
    // Ties: logits 0 → c = ½ everywhere; top-⌊3·0.7⌋ = 2 keeps the first two, each 1 (all
    // selected values are equal); top-⌊3·0.34⌋ = 1 of 1 − c keeps the first.
    let bits = [true, true, true, true, true, false];
    let mask = Mask::new(&bits, 3).unwrap();
    let z = [0.0f64, 0.0, 0.0, 0.0, 0.0, f64::NAN];
    let mut s = [0.0; 3];
    let topk = OrealRescale::TopK {
        positive: 0.7,
        negative: 0.34,
    };
    let bits3 = [true, true, true];
    let m3 = Mask::new(&bits3, 3).unwrap();
    let (mut p, mut n) = ([0.0; 3], [0.0; 3]);
    Oreal::token_weights_rescaled(&mut p, &mut n, &mut s, &z[..3], m3, topk).unwrap();
    assert_eq!(p, [1.0, 1.0, 0.0]);
    assert_eq!(n, [1.0, 0.0, 0.0]);
    // The default threshold path is `token_weights`.
    let (mut a, mut b, mut c, mut d) = ([0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3]);
    let zz = [1.5, -0.2, 3.0];
    Oreal::token_weights(&mut a, &mut b, &zz, m3).unwrap();
    Oreal::token_weights_rescaled(&mut c, &mut d, &mut [], &zz, m3, OrealRescale::default())
        .unwrap();
    assert_eq!((a, b), (c, d));
    // Errors.
    for (r, name) in [
        (
            OrealRescale::Threshold {
                positive: 1.0,
                negative: 0.5,
            },
            "correct_threshold",
        ),
        (
            OrealRescale::Threshold {
                positive: 0.5,
                negative: -0.1,
            },
            "incorrect_threshold",
        ),
        (
            OrealRescale::TopK {
                positive: 0.0,
                negative: 0.5,
            },
            "correct_topk_ratio",
        ),
        (
            OrealRescale::TopK {
                positive: 0.5,
                negative: 1.5,
            },
            "incorrect_topk_ratio",
        ),
        (
            OrealRescale::TopK {
                positive: f64::NAN,
                negative: 0.5,
            },
            "correct_topk_ratio",
        ),
    ] {
        assert!(
            matches!(r.check(), Err(Error::InvalidParam { name: n, .. }) if n == name),
            "{name}"
        );
        assert!(Oreal::token_weights_rescaled(&mut a, &mut b, &mut s, &zz, m3, r).is_err());
    }
    // k = ⌊2·0.34⌋ = 0 in the second row: the reference raises; a typed error here.
    assert!(matches!(
        Oreal::token_weights_rescaled(&mut [0.0; 6], &mut [0.0; 6], &mut s, &z, mask, topk),
        Err(Error::TooFewValid { count: 0, .. })
    ));
    // A short scratch for top-k; a NaN logit at a valid position; an overflowing row sum.
    assert!(matches!(
        Oreal::token_weights_rescaled(&mut a, &mut b, &mut s[..2], &zz, m3, topk),
        Err(Error::LengthMismatch {
            what: "scratch",
            ..
        })
    ));
    assert!(matches!(
        Oreal::token_weights_rescaled(&mut a, &mut b, &mut s, &[0.0, f64::NAN, 0.0], m3, topk),
        Err(Error::NonFinite {
            what: "logits",
            index: 1
        })
    ));
    assert!(matches!(
        Oreal::token_weights_rescaled(
            &mut [0.0f32; 3],
            &mut [0.0f32; 3],
            &mut s,
            &[f32::MAX, f32::MAX, 0.0],
            m3,
            OrealRescale::default()
        ),
        Ok(())
    ));
    assert!(matches!(
        Oreal::token_weights_rescaled(
            &mut a,
            &mut b,
            &mut s,
            &[f64::MAX, f64::MAX, 0.0],
            m3,
            OrealRescale::default()
        ),
        Err(Error::Overflow { .. })
    ));
}

#[test]
fn oreal_filter_all_matches_reference() {
    let r = reference();
    let f = &r["oreal_filter_all"];
    let correct: Vec<bool> = f64s(&f["rewards"]).iter().map(|&x| x == 1.0).collect();
    let k = f["k"].as_u64().unwrap() as usize;
    let groups = GroupIndex::uniform(correct.len(), k).unwrap();
    let mut keep = vec![false; correct.len()];
    Oreal::<f64>::filter_all(&mut keep, &correct, &groups).unwrap();
    let kept: Vec<u32> = keep
        .iter()
        .enumerate()
        .filter(|(_, k)| **k)
        .map(|(i, _)| i as u32)
        .collect();
    assert_eq!(kept, u32s(&f["kept"]));
    assert!(matches!(
        Oreal::<f64>::filter_all(&mut keep[..2], &correct, &groups),
        Err(Error::LengthMismatch { what: "keep", .. })
    ));
    assert!(matches!(
        Oreal::<f64>::filter_all(&mut keep, &correct[..3], &groups),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn new_terms_compose_in_a_pipeline() {
    // Per-sample terms of issue 14 side by side in one pipeline, each row reported unweighted.
    let schedule = PruneSchedule::interval(300, 100, 100, 1, 0).unwrap(); // limit 300
    let (adaptive, scaled, ratio, tags, chars, action) = (
        LaserAdaptive::<f64>::default(),
        LengthScaled::new(0.5, 1000, 0.0).unwrap(),
        RepetitionRatio::new(2, -1.0).unwrap(),
        TagFormat::Strict,
        CharLength::new(CharCurve::V2, 100).unwrap(),
        ReasoningAction::default(),
    );
    let prune = ThinkPruneTerm {
        mode: TruncationMode::Replace(-1.0),
        schedule: &schedule,
    };
    let terms = [
        Weighted::sequence(&adaptive, 1.0),
        Weighted::sequence(&scaled, 1.0),
        Weighted::sequence(&prune, 0.5),
        Weighted::sequence(&ratio, 1.0),
        Weighted::sequence(&tags, 0.25),
        Weighted::sequence(&chars, 1.0),
        Weighted::sequence(&action, 2.0),
    ];
    let p = Pipeline::new(&terms).unwrap();
    let texts = ["<think>wait</think><answer>4</answer>", "so 5"];
    let tokens: [&[u32]; 2] = [&[1, 2, 1, 2], &[7]];
    let batch = Batch::new(2)
        .unwrap()
        .with_correct(&[true, false])
        .unwrap()
        .with_well_formed(&[true, false])
        .unwrap()
        .with_lengths(&[250, 400])
        .unwrap()
        .with_texts(&texts)
        .unwrap()
        .with_tokens(&tokens)
        .unwrap();
    let (mut out, mut parts) = ([0.0; 2], [0.0; 14]);
    p.eval(&mut out, &mut parts, &mut [], &batch).unwrap();
    // Row 0: adaptive — 1 correct, 1 clipped: c = ½, p = 1, E = 1 → β = 0.9·0.5/(0.1·0.5) = 9;
    // length-scaled c = 0.25 → 0.46875; prune 1 (250 ≤ 300); ratio: bigrams (1,2) (2,1) (1,2) →
    // −1/3; strict tags 2; 37 chars → 0.37; one "wait" → 0.025.
    let row0 = [
        parts[0], parts[2], parts[4], parts[6], parts[8], parts[10], parts[12],
    ];
    let want0 = [9.0, 0.46875, 1.0, -1.0 / 3.0, 2.0, 0.37, 0.025];
    assert_all_close("row 0", &row0, &want0, 1e-12, 1e-15);
    // Row 1: malformed → −1 (unweighted by β); wrong at c = 0.4 → −0.6; truncated → −1; one
    // token → 0; no tags; 4 chars → 0.04; no keyword.
    let row1 = [
        parts[1], parts[3], parts[5], parts[7], parts[9], parts[11], parts[13],
    ];
    assert_all_close(
        "row 1",
        &row1,
        &[-1.0, -0.6, -1.0, 0.0, 0.0, 0.04, 0.0],
        1e-12,
        1e-15,
    );
    let weights = [1.0, 1.0, 0.5, 1.0, 0.25, 1.0, 2.0];
    let total0: f64 = want0.iter().zip(&weights).map(|(a, w)| a * w).sum();
    assert!((out[0] - total0).abs() < 1e-12);
}
