//! Fuzzes the reward catalogue: arbitrary lengths, scores (NaN/∞ included), texts, tokens, groups
//! and parameters must give `Ok` with outputs that satisfy each reward's invariants, or a typed
//! `Err` — never a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rewardkit_core::reward::*;
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{GroupIndex, Mask};

#[derive(Arbitrary, Debug)]
enum Case {
    Hapo {
        keys: Vec<u8>,
        lengths: Vec<u32>,
        correct: Vec<bool>,
        weight: f32,
        linear: bool,
        mean: bool,
        batches: u8,
    },
    Laser {
        ids: Vec<u8>,
        n_groups: u8,
        lengths: Vec<u32>,
        correct: Vec<bool>,
        repetitive: Vec<bool>,
        alpha: f32,
        lower: u32,
        upper: u32,
        interval: u32,
        g: u32,
        ceil: bool,
        tokens: Vec<u8>,
    },
    Lengths {
        lengths: Vec<u32>,
        correct: Vec<bool>,
        ids: Vec<u8>,
        n_groups: u8,
        params: [f32; 6],
        max_len: u32,
        buffer: u32,
        target: u32,
    },
    Repetition {
        tokens: Vec<u8>,
        n: u8,
        penalty: f32,
        marking: u8,
        text: String,
    },
    Par {
        scores: Vec<f32>,
        refs: Vec<f32>,
        k: f32,
        m: u8,
        steps: u8,
        lengths: Vec<u32>,
        ceil: f32,
    },
    Process {
        steps: Vec<f32>,
        counts: Vec<u8>,
        t: f32,
        eta: f32,
        mode: u8,
        solved: Vec<bool>,
    },
    Robust {
        scores: Vec<f32>,
        sigma: Vec<f32>,
        k: u8,
        lambda: f32,
        ids: Vec<u8>,
        n_groups: u8,
        weights: Vec<f32>,
        seed: u64,
        norm: u8,
        truth: Vec<f32>,
    },
    Dense {
        rewards: Vec<f32>,
        potentials: Vec<f32>,
        gamma: f32,
        zero: bool,
        bits: Vec<bool>,
        t: u8,
        segments: Vec<(u8, u8, u8, f32)>,
        factors: Vec<f32>,
        terminated: Vec<bool>,
    },
    Text {
        texts: Vec<String>,
        lengths: Vec<u32>,
        rate: f32,
        seed: u64,
    },
    /// Issue 14: the seed papers' functions.
    Seed {
        scores: Vec<f32>,
        alpha: f32,
        ratios: (f32, f32),
        lengths: Vec<u32>,
        correct: Vec<bool>,
        risk: f32,
        max_len: u32,
        exceed: f32,
        schedule: (u32, u32, u32, u8, u8, f32, u8),
        steps: Vec<(u8, Option<f32>)>,
        tokens: Vec<u8>,
        n: u8,
        penalty: f32,
        texts: Vec<String>,
        format: Vec<f32>,
        rate: f32,
        seed: u64,
        ids: Vec<u8>,
        n_groups: u8,
        bits: Vec<bool>,
        t: u8,
        logits: Vec<f32>,
        rescale: (bool, f32, f32),
        threshold: f32,
    },
}

fn groups(ids: &[u8], n_groups: u8) -> Option<GroupIndex<'static>> {
    let ids: Vec<u32> = ids.iter().map(|&x| u32::from(x % 8)).collect();
    GroupIndex::new(&ids, usize::from(n_groups % 9)).ok()
}

fn finite(xs: &[f32]) -> bool {
    xs.iter().all(|x| x.is_finite())
}

fuzz_target!(|case: Case| {
    match case {
        Case::Hapo {
            keys,
            lengths,
            correct,
            weight,
            linear,
            mean,
            batches,
        } => {
            let shape = if linear {
                HapoShape::Linear
            } else {
                HapoShape::Cosine
            };
            let Ok(p) = Hapo::new(weight, shape) else {
                return;
            };
            let mode = match (mean, batches & 4 != 0) {
                (false, _) => HistoryMode::Min,
                (true, false) => HistoryMode::Mean,
                (true, true) => HistoryMode::ExactMean,
            };
            let mut hist = HapoHistory::new(mode);
            let keys: Vec<u64> = keys.iter().map(|&k| u64::from(k % 4)).collect();
            for _ in 0..=(batches % 4) {
                let before = hist.clone();
                let mut out = vec![0.0f32; keys.len()];
                if hist
                    .rewards(&mut out, &keys, &lengths, &correct, &p)
                    .is_ok()
                {
                    assert!(finite(&out));
                    assert!(out.iter().all(|&r| r <= weight && r >= -weight));
                }
                if hist.update(&keys, &lengths, &correct).is_err() {
                    assert_eq!(hist, before);
                    break;
                }
                if !mean {
                    for (k, _) in hist.iter() {
                        if let Some(b) = before.get(k) {
                            assert!(hist.get(k).unwrap() <= b);
                        }
                    }
                }
                // A history never exceeds the longest correct length, and lies above the shortest
                // one, except that the reference's truncated mean can round one token below it.
                let longest = lengths
                    .iter()
                    .zip(&correct)
                    .filter(|(_, c)| **c)
                    .map(|(l, _)| *l)
                    .max();
                for (k, e) in hist.iter() {
                    let h = hist.get(k).unwrap();
                    let floor = if mode == HistoryMode::Mean {
                        1.0
                    } else {
                        f64::from(e.min)
                    };
                    assert!(h >= floor, "{mode:?} {h} {e:?}");
                    if before.entry(k).is_none() {
                        assert!(h <= f64::from(longest.unwrap()), "{mode:?} {h} {e:?}");
                    }
                }
            }
        }
        Case::Laser {
            ids,
            n_groups,
            lengths,
            correct,
            repetitive,
            alpha,
            lower,
            upper,
            interval,
            g,
            ceil,
            tokens,
        } => {
            let Some(groups) = groups(&ids, n_groups) else {
                return;
            };
            let Ok(th) = Thresholds::new(lower % 20000, upper % 20000, interval % 5000) else {
                return;
            };
            let rounding = if ceil {
                Rounding::Ceil
            } else {
                Rounding::Floor
            };
            let Ok(p) = LaserD::new(alpha, LaserMode::Reward)
                .and_then(|p| p.with_thresholds(th))
                .and_then(|p| p.with_group_size(g % 64))
                .and_then(|p| p.with_monitor(1, rounding, MonitorBanding::Reference))
            else {
                return;
            };
            let mut state = LaserDState::new(8192);
            let _ = state.update(&p, &lengths, &correct, &groups);
            let mut out = vec![0.0f32; groups.n_rows()];
            if p.rewards(&mut out, &lengths, &correct, None, &groups, &state)
                .is_ok()
            {
                assert!(out.iter().all(|&x| x == 0.0 || x == alpha));
            }
            if p.rewards_de(
                &mut out,
                &lengths,
                &correct,
                None,
                &repetitive,
                &groups,
                &state,
            )
            .is_ok()
            {
                assert!(out.iter().all(|&x| x == 0.0 || x == alpha));
            }
            let toks: Vec<u32> = tokens.iter().map(|&t| u32::from(t % 6)).collect();
            if let Some(s) = laser_repetition_start(&toks) {
                assert!(s < toks.len());
            }
        }
        Case::Lengths {
            lengths,
            correct,
            ids,
            n_groups,
            params,
            max_len,
            buffer,
            target,
        } => {
            let [a, b, c, d, e, f] = params;
            let n = lengths.len().min(correct.len());
            let (lengths, correct) = (&lengths[..n], &correct[..n]);
            if let Ok(cos) = CosineLength::new(max_len % 40000, (a, b), (c, d), e) {
                for (&l, &ok) in lengths.iter().zip(correct) {
                    if let Ok(v) = cos.value(l, ok) {
                        assert!(v.is_finite());
                    }
                }
            }
            if let Ok(o) = Overlong::new(max_len, buffer, f) {
                for &l in lengths {
                    if let Ok(v) = o.value(l) {
                        assert!(v <= 0.0 && v >= -f);
                    }
                }
            }
            for mode in [TargetMode::Exact, TargetMode::Max] {
                if let Ok(t) = TargetLength::new(a, b, mode) {
                    let mut out = vec![0.0f32; n];
                    let targets = vec![target; n];
                    if t.rewards(&mut out, correct, lengths, &targets).is_ok() {
                        assert!(finite(&out));
                    }
                }
            }
            if let Some(groups) = groups(&ids, n_groups) {
                let mut out = vec![0.0f32; groups.n_rows()];
                if let Ok(k) = KimiLength::new(a, b.abs()) {
                    if k.rewards(&mut out, lengths, correct, None, &groups).is_ok() {
                        assert!(finite(&out));
                    }
                }
                if let Ok(k) = GroupLengthPenalty::new(a, b.abs()) {
                    if k.rewards(&mut out, lengths, correct, &groups).is_ok() {
                        assert!(out.iter().all(|&x| x <= 0.0 && x >= -a));
                    }
                }
            }
            if let Ok(t) = Truncation::new(target, TruncationMode::Replace(c)) {
                let rewards = vec![d; n];
                let mut out = vec![0.0f32; n];
                if t.apply(&mut out, &rewards, lengths).is_ok() {
                    assert!(finite(&out));
                }
            }
        }
        Case::Repetition {
            tokens,
            n,
            penalty,
            marking,
            text,
        } => {
            let marking = [
                RepeatMarking::All,
                RepeatMarking::NonOverlapping,
                RepeatMarking::Spaced,
            ][usize::from(marking % 3)];
            let toks: Vec<u32> = tokens.iter().map(|&t| u32::from(t % 5)).collect();
            let Ok(r) = RepetitionPenalty::new(usize::from(n % 8), penalty, marking) else {
                return;
            };
            let (mut f, mut s) = (
                vec![false; toks.len()],
                vec![0u32; ngram_scratch_len(toks.len())],
            );
            if let Ok(v) = r.sequence(&toks, &mut f, &mut s) {
                assert!(v <= 0.0 && v >= penalty);
            }
            let mut d = vec![0.0f32; toks.len()];
            if r.dense(&mut d, &toks, &mut f, &mut s).is_ok() {
                assert!(d.iter().all(|&x| x == 0.0 || x == penalty));
            }
            if let Ok(w) = word_repetition_penalty(&text, usize::from(n % 8), penalty) {
                assert!(w <= 0.0 && w >= penalty);
            }
        }
        Case::Par {
            scores,
            refs,
            k,
            m,
            steps,
            lengths,
            ceil,
        } => {
            if let Ok(p) = Par::new(k, usize::from(m)) {
                let mut out = vec![0.0f32; scores.len()];
                let mut grad = vec![0.0f32; scores.len()];
                if p.rewards(&mut out, Some(&mut grad), &scores, &refs).is_ok() {
                    assert!(out.iter().all(|&x| (0.0..=1.0).contains(&x)));
                    assert!(grad.iter().all(|&g| g >= 0.0 && g.is_finite()));
                }
            }
            let transform = [
                Transform::None,
                Transform::Sigmoid,
                Transform::Tanh,
                Transform::Arctan,
                Transform::FittedPoly,
            ][usize::from(steps % 5)];
            let Ok(sh) = RewardShaper::default().with_ceil(Some(ceil)).map(|s| {
                s.with_steps(
                    steps & 1 != 0,
                    steps & 2 != 0,
                    steps & 4 != 0,
                    steps & 8 != 0,
                    steps & 16 != 0,
                )
                .with_transform(transform, steps & 32 != 0, steps & 64 != 0)
            }) else {
                return;
            };
            let mut stats = RunningStats::new();
            let mut out = vec![0.0f32; scores.len()];
            for _ in 0..2 {
                if sh
                    .shape(&mut out, &scores, Some(&lengths), &refs, &mut stats)
                    .is_ok()
                {
                    assert!(finite(&out));
                }
            }
        }
        Case::Process {
            steps,
            counts,
            t,
            eta,
            mode,
            solved,
        } => {
            let counts: Vec<usize> = counts.iter().map(|&c| usize::from(c % 6)).collect();
            if let Ok(p) = Pure::new(t, mode & 1 != 0) {
                let mut out = vec![0.0f32; steps.len()];
                let mut oc = vec![0.0f32; counts.len()];
                if p.min_form_batch(&mut out, &mut oc, &steps, &counts).is_ok() {
                    assert!(finite(&out) && finite(&oc));
                }
                let b = counts.len();
                if let Ok(g) = GroupIndex::uniform(b, 2) {
                    let lens: Vec<u32> = counts.iter().map(|&c| c as u32 + 1).collect();
                    let mut base = vec![0.0f32; b];
                    if Pure::baseline(&mut base, &oc, &counts, &lens, &g, PureBaseline::Token)
                        .is_ok()
                    {
                        assert!(base.iter().all(|x| !x.is_nan()));
                    }
                    let mut v = vec![0.0f32; b];
                    if Pure::verifiable(&mut v, &solved, &g, 1.0).is_ok() {
                        assert!(v.iter().all(|&x| (-1.0..=1.0).contains(&x)));
                    }
                }
            }
            let rm = match mode % 3 {
                0 => RefineMode::Clip { eta },
                1 => RefineMode::Delta {
                    keep_last: mode & 4 != 0,
                },
                _ => RefineMode::ClipDelta {
                    eta,
                    keep_last: mode & 4 != 0,
                },
            };
            if let Ok(r) = ProcessRefine::new(rm) {
                let mut out = vec![0.0f32; steps.len()];
                if r.apply(&mut out, &steps).is_ok() {
                    assert!(finite(&out));
                    if mode % 3 == 0 {
                        assert!(out.iter().all(|&x| x <= 0.0));
                    }
                }
            }
        }
        Case::Robust {
            scores,
            sigma,
            k,
            lambda,
            ids,
            n_groups,
            weights,
            seed,
            norm,
            truth,
        } => {
            let k = usize::from(k % 5).max(1);
            let b = scores.len() / k;
            let mut out = vec![0.0f32; b];
            for e in [
                Ensemble::Mean,
                Ensemble::Min,
                Ensemble::MeanMinusStd(lambda),
                Ensemble::MeanMinusVar(lambda),
            ] {
                if e.aggregate(&mut out, &scores).is_ok() {
                    assert!(finite(&out));
                }
            }
            if brme(&mut out, &scores, &sigma, lambda).is_ok() {
                assert!(finite(&out));
            }
            let norm = [
                Normalization::None,
                Normalization::Batch,
                Normalization::Group,
                Normalization::MinMax,
            ][usize::from(norm % 4)];
            let gi = groups(&ids, n_groups);
            if let Ok(mo) = MultiObjective::new(&weights, norm, 1e-6) {
                let b = scores.len() / weights.len().max(1);
                let mut out = vec![0.0f32; b];
                if mo.combine(&mut out, &scores, gi.as_ref()).is_ok() {
                    assert!(finite(&out));
                }
            }
            if let Some(g) = gi {
                let n = g.n_rows();
                let r: Vec<f32> = scores.iter().copied().cycle().take(n).collect();
                if r.len() == n {
                    for f in [
                        Filtration::BestOfN,
                        Filtration::BestRandom,
                        Filtration::BestWorst,
                    ] {
                        let mut keep = vec![false; n];
                        if f.select(&mut keep, &r, &g, &mut SplitMix64::new(seed))
                            .is_ok()
                        {
                            assert!(keep.iter().any(|&x| x));
                        }
                        let mut w = vec![0.0f32; n];
                        let _ = f.weights(&mut w, &r, &g);
                    }
                    let correct: Vec<bool> = r.iter().map(|&x| x > 0.0).collect();
                    let mut a = vec![0.0f32; n];
                    if Oreal::<f32>::default()
                        .advantages(&mut a, &correct, &g)
                        .is_ok()
                    {
                        assert!(finite(&a));
                    }
                    let mut keep = vec![false; n];
                    let _ =
                        Oreal::<f32>::filter(&mut keep, &correct, &g, &mut SplitMix64::new(seed));
                }
            }
            let mut w = vec![0.0f32; scores.len()];
            if reward_weights(&mut w, &scores, lambda).is_ok() {
                assert!(w.iter().all(|&x| x >= 0.0 && x.is_finite()));
                let mut idx = [0usize; 8];
                if resample(&mut idx, &w, &mut SplitMix64::new(seed)).is_ok() {
                    assert!(idx.iter().all(|&i| i < w.len() && w[i] > 0.0));
                }
            }
            if let Ok(r2) = r_squared(&scores, &truth, None) {
                assert!((0.0..=1.0).contains(&r2));
            }
        }
        Case::Dense {
            rewards,
            potentials,
            gamma,
            zero,
            bits,
            t,
            segments,
            factors,
            terminated,
        } => {
            let term = if zero {
                TerminalPotential::Zero
            } else {
                TerminalPotential::Keep
            };
            let mut out = vec![0.0f32; rewards.len()];
            if potential_shaping(&mut out, &rewards, &potentials, gamma, term).is_ok() {
                assert!(finite(&out));
            }
            let t = usize::from(t % 8).max(1);
            let bits: Vec<bool> = bits.iter().copied().take(bits.len() / t * t).collect();
            if let Ok(mask) = Mask::new(&bits, t) {
                let models = FineGrained::<f32>::qa_feedback_models();
                let fg = FineGrained::new(&models, 0.3).unwrap();
                let segs: Vec<SegmentScore<f32>> = segments
                    .iter()
                    .map(|&(row, end, model, value)| SegmentScore {
                        row: usize::from(row),
                        end: usize::from(end),
                        model: usize::from(model % 4),
                        value,
                    })
                    .collect();
                let mut out = vec![0.0f32; bits.len()];
                if fg.rewards(&mut out, mask, &segs, None).is_ok() {
                    assert!(finite(&out));
                }
                let (mut p, mut n) = (vec![0.0f32; bits.len()], vec![0.0f32; bits.len()]);
                let logits: Vec<f32> = rewards.iter().copied().cycle().take(bits.len()).collect();
                if logits.len() == bits.len()
                    && Oreal::token_weights(&mut p, &mut n, &logits, mask).is_ok()
                {
                    assert!(p.iter().chain(&n).all(|&x| (0.0..=1.0).contains(&x)));
                }
            }
            for carl in [Carl::<f32>::default(), Carl::nuplan()] {
                let mut out = vec![0.0f32; rewards.len()];
                if carl
                    .rewards(&mut out, &rewards, &factors, &terminated)
                    .is_ok()
                {
                    assert!(finite(&out));
                }
            }
        }
        Case::Text {
            texts,
            lengths,
            rate,
            seed,
        } => {
            let n = texts.len();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            for t in &refs {
                let r: f32 = ReasoningPattern::default().value(t);
                assert!((0.0..=1.0).contains(&r));
                let (s, a) = Format::default().flags(t);
                if let Some(l) = lengths.first() {
                    if let Ok(v) = FormatLength::<f32>::default().value(s, a, *l) {
                        assert!((-1.0..=2.0).contains(&v));
                    }
                }
                // The answer flag is exactly "the reference's answer is not blank".
                let answer = text::extract_answer(t, "</think>");
                let blank = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
                assert_eq!(a, !answer.trim_matches(blank).is_empty());
                assert_eq!(a, text::has_answer(t, "</think>"));
                if let Some(text::AnswerSpan::Boxed(b) | text::AnswerSpan::Inline(b)) =
                    text::locate_answer(t, "</think>")
                {
                    assert_eq!(answer, b);
                }
                let _ = text::last_boxed(t);
                let _ = text::last_inline_math(t);
            }
            let Ok(batch) = Batch::<f32>::new(n).and_then(|b| b.with_texts(&refs)) else {
                return;
            };
            let fl = FormatLength::<f32>::default();
            let fmt = Format::default();
            let terms = [
                Weighted::sequence(&fmt as &dyn RewardTerm<f32>, 1.0),
                Weighted::sequence(&fl, 1.0),
            ];
            let p = Pipeline::new(&terms).unwrap();
            let batch = match batch.with_lengths(&lengths) {
                Ok(b) => b,
                Err(_) => batch,
            };
            let (mut out, mut parts) = (vec![0.0f32; n], vec![0.0f32; 2 * n]);
            if p.eval(&mut out, &mut parts, &mut [], &batch).is_ok() {
                assert!(finite(&out));
            }
            let scores: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
            let answered: Vec<bool> = refs.iter().map(|t| Format::default().flags(t).1).collect();
            if let Ok(noise) = FlipNoise::new(rate, FlipUnit::Sample) {
                let mut out = vec![0.0f32; n];
                noise
                    .apply(
                        &mut out,
                        &scores,
                        Some(&answered),
                        None,
                        &mut SplitMix64::new(seed),
                    )
                    .unwrap();
                assert!(out.iter().all(|&x| x == 0.0 || x == 1.0));
                // Unanswered responses keep their score.
                for ((o, s), a) in out.iter().zip(&scores).zip(&answered) {
                    assert!(*a || o == s);
                }
                if rate == 0.0 {
                    assert_eq!(out, scores);
                }
            }
        }
        Case::Seed {
            scores,
            alpha,
            ratios,
            lengths,
            correct,
            risk,
            max_len,
            exceed,
            schedule,
            steps,
            tokens,
            n,
            penalty,
            texts,
            format,
            rate,
            seed,
            ids,
            n_groups,
            bits,
            t,
            logits,
            rescale,
            threshold,
        } => {
            // LASER's adaptive reward: graded scores scaled by one β ≥ 0, others unchanged; no
            // graded score means no β and the identity (never a NaN).
            if let Ok(ad) = LaserAdaptive::new(alpha) {
                let mut out = vec![0.0f32; scores.len()];
                if let Ok(st) = ad.apply(&mut out, &scores) {
                    assert!(finite(&out));
                    assert_eq!(st.correct + st.incorrect + st.clipped, scores.len());
                    match st.beta {
                        None => assert_eq!(out, scores),
                        Some(b) => {
                            assert!(b >= 0.0 && b.is_finite());
                            for (&o, &s) in out.iter().zip(&scores) {
                                assert!(o == s || o == b * s);
                            }
                        }
                    }
                }
                if let Ok(b) = ad.beta(ratios.0, ratios.1) {
                    assert!(b >= 0.0, "{b}");
                }
            }
            // The length-scaled reward stays in its ranges.
            if let Ok(ls) = LengthScaled::new(risk, max_len, exceed) {
                for (&l, &c) in lengths.iter().zip(&correct) {
                    if let Ok(v) = ls.value(l, c) {
                        let below = u64::from(l) + 16 < u64::from(max_len);
                        assert!(
                            !below
                                || if c {
                                    v > 0.0 && v <= 1.0
                                } else {
                                    (-1.0..0.0).contains(&v)
                                }
                        );
                        assert!(below || v == exceed);
                    }
                }
            }
            // The ThinkPrune schedule never grows, never falls below its floor.
            let (init, min, red, every, times, target, kind) = schedule;
            let sched = match kind % 3 {
                0 => PruneSchedule::constant(init),
                1 => PruneSchedule::interval(init, min, red, u64::from(every), u64::from(times)),
                _ => PruneSchedule::clip_ratio(
                    init,
                    min,
                    red,
                    f64::from(target),
                    u32::from(times),
                    u64::from(every),
                ),
            };
            if let Ok(mut s) = sched {
                let mut prev = s.limit();
                for (i, &(dt, c)) in steps.iter().enumerate() {
                    let step = i as u64 * u64::from(dt % 4 + 1);
                    if let Ok(l) = s.step(step, c.map(f64::from)) {
                        assert!(l <= prev && l >= 1);
                        prev = l;
                    }
                }
                let term = ThinkPruneTerm {
                    mode: TruncationMode::Replace(exceed),
                    schedule: &s,
                };
                let k = lengths.len().min(correct.len());
                if let Ok(batch) = Batch::<f32>::new(k)
                    .and_then(|b| b.with_lengths(&lengths[..k]))
                    .and_then(|b| b.with_correct(&correct[..k]))
                {
                    let mut out = vec![0.0f32; k];
                    if term.score(&mut out, &batch).is_ok() {
                        assert!(out.iter().all(|&x| x == 0.0 || x == 1.0 || x == exceed));
                    }
                }
            }
            // HAPO's repetition ratio in [p, 0].
            let toks: Vec<u32> = tokens.iter().map(|&x| u32::from(x % 5)).collect();
            if let Ok(r) = RepetitionRatio::new(usize::from(n % 8), penalty) {
                let (mut f, mut sc) = (
                    vec![false; toks.len()],
                    vec![0u32; ngram_scratch_len(toks.len())],
                );
                if let Ok(v) = r.value(&toks, &mut f, &mut sc) {
                    assert!(v <= 0.0 && v >= penalty);
                }
            }
            // Surrogate rewards on arbitrary text.
            let ra = ReasoningAction::<f32>::default();
            for t in &texts {
                let (soft, strict) = (
                    TagFormat::Soft.value::<f32>(t),
                    TagFormat::Strict.value::<f32>(t),
                );
                assert!(soft == 0.0 || soft == 1.0);
                assert!(strict == 0.0 || (strict == 2.0 && soft == 1.0));
                let v: f32 = CharLength::new(CharCurve::V2, max_len.max(1))
                    .unwrap()
                    .value(t);
                assert!(v.is_finite() && v <= 0.5);
                let a = ra.value(t);
                assert!((0.0..=0.5).contains(&a));
                if let Some((th, an)) = text::think_and_answer(t) {
                    assert!(!th.is_empty() && !an.is_empty());
                }
            }
            // The noisy-reward format branch: every output is a score, a format score or a flip.
            let m = scores.len().min(format.len());
            let (sc, fm) = (&scores[..m], &format[..m]);
            let answered: Vec<bool> = (0..m).map(|i| i % 3 != 0).collect();
            if let Ok(noise) = FlipNoise::new(rate, FlipUnit::Sample) {
                let mut out = vec![0.0f32; m];
                if noise
                    .apply_format(
                        &mut out,
                        sc,
                        fm,
                        Some(&answered),
                        None,
                        &mut SplitMix64::new(seed),
                    )
                    .is_ok()
                {
                    for i in 0..m {
                        let o = out[i];
                        assert!(
                            o == sc[i] || o == fm[i] || o == 1.0 - sc[i],
                            "{o} {} {}",
                            sc[i],
                            fm[i]
                        );
                        if !answered[i] {
                            assert_eq!(o, sc[i]);
                        }
                    }
                }
            }
            // PF-PPO policy weights and OREAL's rescales on a mask.
            let t = usize::from(t % 8).max(1);
            let bits: Vec<bool> = bits.iter().copied().take(bits.len() / t * t).collect();
            if let Ok(mask) = Mask::new(&bits, t) {
                let nb = bits.len() / t;
                let r: Vec<f32> = scores.iter().copied().cycle().take(nb).collect();
                let mut w = vec![0.0f32; bits.len()];
                if let Ok(kept) = policy_weights(&mut w, &r, threshold, mask) {
                    assert!(kept <= nb);
                    assert!(
                        w.iter()
                            .zip(&bits)
                            .all(|(&x, &b)| x == 0.0 || (x == 1.0 && b))
                    );
                }
                let z: Vec<f32> = logits.iter().copied().cycle().take(bits.len()).collect();
                if z.len() == bits.len() {
                    let res = if rescale.0 {
                        OrealRescale::TopK {
                            positive: rescale.1,
                            negative: rescale.2,
                        }
                    } else {
                        OrealRescale::Threshold {
                            positive: rescale.1,
                            negative: rescale.2,
                        }
                    };
                    let (mut p, mut q, mut sc) = (
                        vec![0.0f32; bits.len()],
                        vec![0.0f32; bits.len()],
                        vec![0.0f64; t],
                    );
                    if Oreal::token_weights_rescaled(&mut p, &mut q, &mut sc, &z, mask, res).is_ok()
                    {
                        assert!(p.iter().chain(&q).all(|&x| (0.0..=1.0).contains(&x)));
                        assert!(p.iter().zip(&bits).all(|(&x, &b)| b || x == 0.0));
                    }
                }
            }
            if let Some(g) = groups(&ids, n_groups) {
                let c: Vec<bool> = correct.iter().copied().cycle().take(g.n_rows()).collect();
                let mut keep = vec![false; g.n_rows()];
                if c.len() == g.n_rows() && Oreal::<f32>::filter_all(&mut keep, &c, &g).is_ok() {
                    // A kept sample's group holds both outcomes.
                    for (i, &k) in keep.iter().enumerate() {
                        let gid = g.group_of(i).unwrap();
                        let members: Vec<bool> = g.rows(gid).map(|j| c[j]).collect();
                        assert_eq!(k, members.contains(&true) && members.contains(&false));
                    }
                }
            }
        }
    }
});
