//! Properties of the issue-14 rewards, for f32 and f64 (f64 is the oracle for f32), with plain-loop
//! oracles transcribed from the reference code (Python) where the implementation takes another
//! route (counting, sorting, scanning).

use std::collections::HashSet;

use proptest::prelude::*;
use rewardkit_core::reward::text::{soft_format, strict_format, think_and_answer};
use rewardkit_core::reward::*;
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_core::{GroupIndex, Mask};
use rewardkit_tests::approx_eq::{assert_oracle, close};

use super::oracle;

/// `compute_adaptive_reward` as a loop (`None` for β where the reference divides by zero).
fn adaptive_oracle(scores: &[f64], a: f64) -> (Vec<f64>, Option<f64>) {
    let nc = scores.iter().filter(|&&s| s == 1.0).count() as f64;
    let ni = scores.iter().filter(|&&s| s == -0.5).count() as f64;
    let nx = scores.len() as f64 - nc - ni;
    if nc + ni == 0.0 {
        return (scores.to_vec(), None);
    }
    let c = nx / (nc + ni + nx);
    let p = nc / (nc + ni);
    let e = p + 0.5 * (1.0 - p);
    let beta = a * c / ((1.0 - a) * (1.0 - c) * e);
    let out = scores
        .iter()
        .map(|&s| if s == 1.0 || s == -0.5 { s * beta } else { s })
        .collect();
    (out, Some(beta))
}

/// Python's `re.search` of the surrogate patterns, by brute force over every choice of the tag
/// positions (what the regex engine's backtracking explores).
fn regex_oracle(text: &str, strict: bool) -> bool {
    let b = text.as_bytes();
    let at = |i: usize, s: &str| text.get(i..).is_some_and(|r| r.starts_with(s));
    let ws_end = |mut i: usize| {
        while let Some(c) = text.get(i..).and_then(|r| r.chars().next()) {
            if c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c) {
                i += c.len_utf8();
            } else {
                break;
            }
        }
        i
    };
    let starts: Vec<usize> = if strict {
        vec![ws_end(0)]
    } else {
        (0..=b.len()).collect()
    };
    for &i in &starts {
        if !at(i, "<think>") {
            continue;
        }
        for p in i + 7..=b.len() {
            if !at(p, "</think>") {
                continue;
            }
            let q = ws_end(p + 8);
            if !at(q, "<answer>") {
                continue;
            }
            for e in q + 8..=b.len() {
                if at(e, "</answer>") && (!strict || ws_end(e + 9) == b.len()) {
                    return true;
                }
            }
        }
    }
    false
}

/// Texts built from the tags, whitespace and filler (so the patterns often almost match).
fn tag_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "<think>",
            "</think>",
            "<answer>",
            "</answer>",
            " ",
            "\n",
            "\u{a0}",
            "\u{1c}",
            "x",
            "é",
            "<",
            "</",
            ">",
            "think",
            "\u{200b}",
        ]),
        0..14,
    )
    .prop_map(|parts| parts.concat())
}

/// `reasoning_action_reward_func`'s count for ASCII-and-Latin texts: split on characters that are
/// not letters, digits or `_`, compare lower-cased (`ı`/`İ` as `i`).
fn action_oracle(text: &str) -> usize {
    let words = ["however", "but", "wait", "verify", "alternatively"];
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| {
            let folded: String = w
                .chars()
                .map(|c| match c {
                    '\u{130}' | '\u{131}' => 'i',
                    c if c.is_ascii() => c.to_ascii_lowercase(),
                    c => c,
                })
                .collect();
            words.contains(&folded.as_str())
        })
        .count()
}

fn action_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "wait",
            "WAIT",
            "But",
            "but_",
            "however",
            "verify",
            "verified",
            "Alternatively",
            " ",
            ",",
            ".",
            "_",
            "1",
            "é",
            "waıt",
            "WAİT",
            "x",
            "\n",
        ]),
        0..20,
    )
    .prop_map(|parts| parts.concat())
}

/// HAPO's `compute_repetition_penalty_reward_1` with a set.
fn ratio_oracle(tokens: &[u32], n: usize, p: f64) -> f64 {
    if p == 0.0 || tokens.len() < n {
        return 0.0;
    }
    let grams: Vec<&[u32]> = tokens.windows(n).collect();
    let distinct: HashSet<&[u32]> = grams.iter().copied().collect();
    (1.0 - distinct.len() as f64 / grams.len() as f64) * p
}

proptest! {
    #![proptest_config(oracle::cases(128))]

    #[test]
    fn laser_adaptive_matches_loop_and_f32(
        scores in prop::collection::vec(prop::sample::select(vec![1.0, -0.5, -1.0, 0.0, 0.7]), 1..24),
        a in 0.0f64..0.99,
    ) {
        let ad = LaserAdaptive::new(a).unwrap();
        let mut out = vec![0.0; scores.len()];
        let stats = ad.apply(&mut out, &scores).unwrap();
        let (want, beta) = adaptive_oracle(&scores, a);
        prop_assert_eq!(stats.beta.is_some(), beta.is_some());
        if let (Some(b), Some(w)) = (stats.beta, beta) {
            prop_assert!(close(b, w, 1e-14, 0.0) && b >= 0.0);
        }
        for (g, w) in out.iter().zip(&want) {
            prop_assert!(close(*g, *w, 1e-14, 1e-300));
        }
        // Clipped scores unchanged; graded scores all scaled by the same β.
        for (&s, &o) in scores.iter().zip(&out) {
            if s != 1.0 && s != -0.5 {
                prop_assert_eq!(o, s);
            }
        }
        let s32: Vec<f32> = scores.iter().map(|&x| x as f32).collect();
        let mut o32 = vec![0.0f32; s32.len()];
        LaserAdaptive::new(a as f32).unwrap().apply(&mut o32, &s32).unwrap();
        let mut o64 = vec![0.0; scores.len()];
        LaserAdaptive::new(f64::from(a as f32)).unwrap().apply(&mut o64, &scores).unwrap();
        assert_oracle("laser adaptive f32", &o32, &o64);
    }

    #[test]
    fn length_scaled_shapes(a in 1u32..20000, b in 1u32..20000, k in 0.5f64..=1.0, mx in 32u32..20000) {
        let p = LengthScaled::new(k, mx, -2.0).unwrap();
        let (s, l) = (a.min(b), a.max(b));
        let below = |x: u32| u64::from(x) + 16 < u64::from(mx);
        if below(l) {
            // Shorter correct never lower; longer wrong never lower; correct beats wrong.
            prop_assert!(p.value(s, true).unwrap() >= p.value(l, true).unwrap());
            prop_assert!(p.value(l, false).unwrap() >= p.value(s, false).unwrap());
            let (c, w) = (p.value(l, true).unwrap(), p.value(s, false).unwrap());
            prop_assert!(c > 0.0 && c <= 1.0 && w > -1.0 && w < 0.0 && c > w);
        } else {
            prop_assert_eq!(p.value(l, true).unwrap(), -2.0);
        }
        let p32 = LengthScaled::new(k as f32, mx, -2.0).unwrap();
        let p64r = LengthScaled::new(f64::from(k as f32), mx, -2.0).unwrap();
        for c in [true, false] {
            assert_oracle("length scaled f32", &[p32.value(a, c).unwrap()], &[p64r.value(a, c).unwrap()]);
        }
    }

    #[test]
    fn prune_schedule_interval_closed_form(
        init in 1u32..10000, min_frac in 0.0f64..=1.0, red in 0u32..3000, every in 1u64..7,
        start in 0u64..20, steps in 0u64..60,
    ) {
        let min = ((f64::from(init) * min_frac) as u32).max(1);
        let mut s = PruneSchedule::interval(init, min, red, every, start).unwrap();
        let mut prev = init;
        for st in 0..steps {
            let l = s.step(st, None).unwrap();
            // Reductions so far: multiples of `every` at or after `start`, up to `st`.
            let n = if st < start { 0 } else { (st - start) / every + 1 };
            let want = (i64::from(init) - i64::from(red) * n as i64).max(i64::from(min));
            prop_assert_eq!(i64::from(l), want);
            prop_assert!(l <= prev && l >= min);
            prev = l;
        }
    }

    #[test]
    fn prune_schedule_clip_ratio_matches_loop(
        clips in prop::collection::vec(prop::option::of(0.0f64..0.4), 0..40),
        target in 0.0f64..0.3, times in 1u32..4, start in 0u64..5,
    ) {
        let mut s = PruneSchedule::clip_ratio(5000, 1200, 1000, target, times, start).unwrap();
        // The reference's `monitor_clip_ratio` as a loop.
        let (mut cur, mut acc, mut last) = (5000u32, 0u32, None::<f64>);
        for (st, c) in clips.iter().enumerate() {
            let got = s.step(st as u64, *c).unwrap();
            if let Some(c) = c.or(last) {
                if st as u64 >= start {
                    acc = if c <= target { acc + 1 } else { 0 };
                    if acc >= times {
                        cur = cur.saturating_sub(1000).max(1200);
                        acc = 0;
                    }
                }
                last = Some(c);
            }
            prop_assert_eq!(got, cur);
        }
    }

    #[test]
    fn repetition_ratio_matches_set_oracle(
        tokens in prop::collection::vec(0u32..4, 1..60), n in 1usize..6, p in -3.0f64..=0.0,
    ) {
        let r = RepetitionRatio::new(n, p).unwrap();
        let (mut f, mut s) = (vec![false; tokens.len()], vec![0u32; ngram_scratch_len(tokens.len())]);
        let got = r.value(&tokens, &mut f, &mut s).unwrap();
        prop_assert!(close(got, ratio_oracle(&tokens, n, p), 1e-14, 1e-15));
        prop_assert!(got <= 0.0 && got >= p);
        let r32 = RepetitionRatio::new(n, p as f32).unwrap();
        let g32 = r32.value(&tokens, &mut f, &mut s).unwrap();
        assert_oracle("repetition ratio f32", &[g32], &[ratio_oracle(&tokens, n, f64::from(p as f32))]);
    }

    #[test]
    fn tag_formats_match_regex_oracle(text in tag_text()) {
        prop_assert_eq!(soft_format(&text), regex_oracle(&text, false), "{:?}", text);
        prop_assert_eq!(strict_format(&text), regex_oracle(&text, true), "{:?}", text);
        // Strict implies soft.
        prop_assert!(!strict_format(&text) || soft_format(&text));
    }

    #[test]
    fn reasoning_action_matches_word_oracle(text in action_text()) {
        let ra = ReasoningAction::<f64>::default();
        let k = action_oracle(&text);
        prop_assert_eq!(ra.count(&text), k, "{:?}", text);
        prop_assert_eq!(ra.value(&text), 0.5 * k.min(20) as f64 / 20.0);
        prop_assert_eq!(f64::from(ReasoningAction::<f32>::default().value(&text)), f64::from((0.5 * k.min(20) as f64 / 20.0) as f32));
    }

    #[test]
    fn char_length_curves(n in 0usize..20000, mx in 1u32..9000) {
        let (v1, v2) = (
            CharLength::new(CharCurve::V1, mx).unwrap(),
            CharLength::new(CharCurve::V2, mx).unwrap(),
        );
        let x = n as f64 / f64::from(mx);
        let a: f64 = v1.value_len(n);
        let b: f64 = v2.value_len(n);
        // V2 peaks at ½ and never exceeds it; V1 stays below 0.7 (1 − 0.3).
        prop_assert!(b <= 0.5 && a <= 0.7 + 1e-15);
        if x < 0.3 { prop_assert_eq!(a, x); }
        if x >= 0.6 { prop_assert_eq!(a, -x); }
        let want_b = if x < 0.5 { x } else { 1.5 - 2.0 * x };
        prop_assert!(close(b, want_b, 1e-15, 1e-15));
        assert_oracle("char length f32", &[v1.value_len::<f32>(n), v2.value_len::<f32>(n)], &[a, b]);
    }

    #[test]
    fn think_and_answer_finds_generated_blocks(
        pre in "[a-z <>/]{0,6}", think in "[a-z ]{0,5}", mid in "[a-z ]{0,3}", ans in "[a-z ]{0,5}",
        post in "[a-z ]{0,4}",
    ) {
        // The filler holds no tag after the blocks, so the last tags are the blocks' own.
        let text = format!("{pre}<think>{think}</think>{mid}<answer>{ans}</answer>{post}");
        let got = think_and_answer(&text);
        if pre.contains("<think>") || pre.contains("</think>") {
            return Ok(());
        }
        if think.is_empty() || ans.is_empty() {
            prop_assert_eq!(got, None);
        } else {
            prop_assert_eq!(got, Some((think.as_str(), ans.as_str())));
        }
    }

    #[test]
    fn flip_format_agrees_with_apply_and_the_rule(
        scores in prop::collection::vec(prop::sample::select(vec![0.0, 1.0, 0.5]), 1..24),
        format in prop::collection::vec(0.0f64..1.0, 24),
        answered in prop::collection::vec(any::<bool>(), 24),
        rate in 0.0f64..=1.0, seed: u64, group: bool,
    ) {
        let n = scores.len();
        let (format, answered) = (&format[..n], &answered[..n]);
        let groups = GroupIndex::uniform(n, 1).unwrap();
        let unit = if group { FlipUnit::Group } else { FlipUnit::Sample };
        let noise = FlipNoise::new(rate, unit).unwrap();
        let (mut plain, mut with) = (vec![0.0; n], vec![0.0; n]);
        let (mut r1, mut r2) = (SplitMix64::new(seed), SplitMix64::new(seed));
        noise.apply(&mut plain, &scores, Some(answered), Some(&groups), &mut r1).unwrap();
        noise.apply_format(&mut with, &scores, format, Some(answered), Some(&groups), &mut r2).unwrap();
        prop_assert_eq!(r1.next_u64(), r2.next_u64(), "same draws");
        for i in 0..n {
            if !answered[i] {
                prop_assert_eq!(with[i], scores[i]);
            } else if scores[i] == 0.5 {
                // Neither correct nor wrong: as `apply`.
                prop_assert_eq!(with[i], plain[i]);
            } else if plain[i] == scores[i] {
                // Not flipped: wrong → format, correct → 1.
                prop_assert_eq!(with[i], if scores[i] == 0.0 { format[i] } else { 1.0 });
            } else {
                // Flipped: correct → format, wrong → 1.
                prop_assert_eq!(with[i], if scores[i] == 1.0 { format[i] } else { 1.0 });
            }
        }
    }

    #[test]
    fn policy_weights_are_row_indicators(
        (b, t, bits, x) in rewardkit_tests::strategies::masked_tokens(6, 5),
        tau in -2.0f64..2.0,
    ) {
        let rewards: Vec<f64> = x.iter().step_by(t).copied().take(b).collect();
        let mask = Mask::new(&bits, t).unwrap();
        let mut w = vec![9.0; b * t];
        let kept = policy_weights(&mut w, &rewards, tau, mask).unwrap();
        prop_assert_eq!(kept, rewards.iter().filter(|&&r| r > tau).count());
        for (i, row) in w.chunks(t).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let want = if bits[i * t + j] && rewards[i] > tau { 1.0 } else { 0.0 };
                prop_assert_eq!(v, want);
            }
        }
    }

    #[test]
    fn oreal_rescaled_weights(
        (b, t, bits, z) in rewardkit_tests::strategies::masked_tokens(5, 9),
        tp in 0.0f64..0.95, tn in 0.0f64..0.95, rp in 0.05f64..=1.0, rn in 0.05f64..=1.0,
        garbage in -1e6f64..1e6,
    ) {
        let mask = Mask::new(&bits, t).unwrap();
        let z: Vec<f64> = z.iter().map(|v| v * 3.0).collect();
        // Garbage at masked positions changes nothing.
        let zg: Vec<f64> = z.iter().zip(&bits).map(|(&v, &m)| if m { v } else { garbage }).collect();
        let mut s = vec![0.0; t];
        for rescale in [
            OrealRescale::Threshold { positive: tp, negative: tn },
            OrealRescale::TopK { positive: rp, negative: rn },
        ] {
            let (mut p, mut n) = (vec![0.0; b * t], vec![0.0; b * t]);
            let res = Oreal::token_weights_rescaled(&mut p, &mut n, &mut s, &z, mask, rescale);
            let (mut pg, mut ng) = (vec![1.0; b * t], vec![1.0; b * t]);
            let res_g = Oreal::token_weights_rescaled(&mut pg, &mut ng, &mut s, &zg, mask, rescale);
            prop_assert_eq!(res.is_ok(), res_g.is_ok());
            if res.is_err() {
                // Only a top-k row with ⌊T·ρ⌋ = 0 may fail.
                let short = mask.rows().any(|r| {
                    let n = r.iter().filter(|&&m| m).count() as f64;
                    n > 0.0 && ((n * rp).floor() == 0.0 || (n * rn).floor() == 0.0)
                });
                let is_topk = matches!(rescale, OrealRescale::TopK { .. });
                prop_assert!(short && is_topk);
                continue;
            }
            prop_assert_eq!(&p, &pg);
            prop_assert_eq!(&n, &ng);
            for (k, (&pv, &nv)) in p.iter().zip(&n).enumerate() {
                prop_assert!((0.0..=1.0).contains(&pv) && (0.0..=1.0).contains(&nv));
                if !bits[k] { prop_assert!(pv == 0.0 && nv == 0.0); }
            }
            if let OrealRescale::TopK { positive, .. } = rescale {
                for (row, mrow) in p.chunks(t).zip(mask.rows()) {
                    let valid = mrow.iter().filter(|&&m| m).count();
                    if valid == 0 { continue; }
                    let k = ((valid as f64) * positive).floor() as usize;
                    prop_assert!(row.iter().filter(|&&v| v > 0.0).count() <= k);
                    // The largest probability always gets weight 1.
                    prop_assert!(row.contains(&1.0));
                }
            }
            // f32 against f64 at the rounded inputs.
            let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
            let zr: Vec<f64> = z32.iter().map(|&v| f64::from(v)).collect();
            let r32 = match rescale {
                OrealRescale::Threshold { positive, negative } => OrealRescale::Threshold { positive: positive as f32, negative: negative as f32 },
                OrealRescale::TopK { positive, negative } => OrealRescale::TopK { positive: positive as f32, negative: negative as f32 },
            };
            let r64 = match r32 {
                OrealRescale::Threshold { positive, negative } => OrealRescale::Threshold { positive: f64::from(positive), negative: f64::from(negative) },
                OrealRescale::TopK { positive, negative } => OrealRescale::TopK { positive: f64::from(positive), negative: f64::from(negative) },
            };
            let (mut p32, mut n32) = (vec![0.0f32; b * t], vec![0.0f32; b * t]);
            let (mut p64, mut n64) = (vec![0.0f64; b * t], vec![0.0f64; b * t]);
            if Oreal::token_weights_rescaled(&mut p64, &mut n64, &mut s, &zr, mask, r64).is_ok() {
                Oreal::token_weights_rescaled(&mut p32, &mut n32, &mut s, &z32, mask, r32).unwrap();
                assert_oracle("oreal weights f32 pos", &p32, &p64);
                assert_oracle("oreal weights f32 neg", &n32, &n64);
            }
        }
    }

    #[test]
    fn oreal_filter_all_keeps_mixed_groups((ids, g) in rewardkit_tests::strategies::group_ids(), seed: u64) {
        let mut rng = SplitMix64::new(seed);
        let correct: Vec<bool> = ids.iter().map(|_| rng.next_u64().is_multiple_of(2)).collect();
        let groups = GroupIndex::new(&ids, g).unwrap();
        let mut keep = vec![false; ids.len()];
        Oreal::<f64>::filter_all(&mut keep, &correct, &groups).unwrap();
        for (i, &id) in ids.iter().enumerate() {
            let members: Vec<bool> = ids.iter().zip(&correct).filter(|(j, _)| **j == id).map(|(_, c)| *c).collect();
            let mixed = members.contains(&true) && members.contains(&false);
            prop_assert_eq!(keep[i], mixed);
        }
    }
}
