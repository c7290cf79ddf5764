//! Every documented error of the reward catalogue: bad input gives a typed `Err`, never a panic and
//! never a silent NaN.

use rewardkit_core::reward::*;
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{Error, GroupIndex, Mask, Result};

macro_rules! err {
    ($e:expr, $pat:pat) => {{
        let got = $e;
        assert!(
            matches!(got, Err($pat)),
            "{}: got {:?}",
            stringify!($e),
            got
        );
    }};
}

#[test]
fn batch_errors() {
    err!(Batch::<f32>::new(0), Error::Empty { what: "batch" });
    let b = Batch::<f32>::new(2).unwrap();
    err!(
        b.with_correct(&[true]),
        Error::LengthMismatch {
            what: "correct",
            expected: 2,
            got: 1
        }
    );
    err!(
        b.with_lengths(&[3, 0]),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        b.with_scores(&[1.0, f32::NAN]),
        Error::NonFinite {
            what: "scores",
            index: 1
        }
    );
    err!(b.with_refs(&[]), Error::MissingInput { what: "refs" });
    err!(
        b.with_refs(&[1.0, 2.0, 3.0]),
        Error::BadShape { what: "refs", .. }
    );
    err!(
        b.with_texts(&["a"]),
        Error::LengthMismatch { what: "texts", .. }
    );
    err!(
        b.with_tokens(&[]),
        Error::LengthMismatch { what: "tokens", .. }
    );
    err!(
        b.with_keys(&[1, 2, 3]),
        Error::LengthMismatch { what: "keys", .. }
    );
    let g = GroupIndex::uniform(3, 3).unwrap();
    err!(b.with_groups(&g), Error::LengthMismatch { .. });
    let bits = [true; 3];
    err!(
        b.with_mask(Mask::new(&bits, 1).unwrap()),
        Error::LengthMismatch { what: "mask", .. }
    );
    err!(b.texts(), Error::MissingInput { what: "texts" });
    err!(b.groups(), Error::MissingInput { what: "groups" });
}

struct Nan;
impl RewardTerm<f64> for Nan {
    fn name(&self) -> &'static str {
        "nan"
    }
    fn score(&self, out: &mut [f64], _: &Batch<'_, f64>) -> Result<()> {
        out.fill(f64::NAN);
        Ok(())
    }
}

#[test]
fn pipeline_errors() {
    let empty: [Weighted<'_, f64>; 0] = [];
    err!(Pipeline::new(&empty), Error::Empty { what: "terms" });
    let c = Correctness::<f64>::default();
    let bad = [Weighted::sequence(&c, f64::INFINITY)];
    err!(
        Pipeline::new(&bad),
        Error::InvalidParam { name: "weight", .. }
    );
    let terms = [Weighted::sequence(&c, 1.0)];
    let p = Pipeline::new(&terms).unwrap();
    let batch = Batch::new(2).unwrap().with_correct(&[true, false]).unwrap();
    let mut out = [0.0; 2];
    err!(
        p.eval(&mut out, &mut [0.0; 3], &mut [], &batch),
        Error::LengthMismatch { what: "parts", .. }
    );
    err!(
        p.eval(&mut [0.0; 1], &mut [0.0; 2], &mut [], &batch),
        Error::LengthMismatch { what: "out", .. }
    );
    err!(
        p.eval_tokens(&mut out, &mut [0.0; 2], &mut [], &batch),
        Error::MissingInput { what: "mask" }
    );
    let bits = [true, false, false, false];
    let masked = batch.with_mask(Mask::new(&bits, 2).unwrap()).unwrap();
    err!(
        p.eval_tokens(&mut [0.0; 4], &mut [0.0; 2], &mut [], &masked),
        Error::TooFewValid {
            what: "mask row",
            ..
        }
    );
    let nan = Nan;
    let t2 = [Weighted::sequence(&nan, 1.0)];
    err!(
        Pipeline::new(&t2)
            .unwrap()
            .eval(&mut out, &mut [0.0; 2], &mut [], &batch),
        Error::NonFinite {
            what: "term output",
            ..
        }
    );
    // A finite weight times a finite value can overflow f32.
    let big = Correctness::<f32>::new(3e38, 0.0, 0.0).unwrap();
    let t3 = [Weighted::sequence(&big, 10.0f32)];
    let b32 = Batch::<f32>::new(1).unwrap().with_correct(&[true]).unwrap();
    err!(
        Pipeline::new(&t3)
            .unwrap()
            .eval(&mut [0.0f32], &mut [0.0f32], &mut [], &b32),
        Error::Overflow { .. }
    );
    // Token terms need scratch of the mask's size.
    let rep = RepetitionPenalty::<f64>::default();
    let t4 = [Weighted::token(&rep, 1.0)];
    let bits = [true, true];
    let toks: [&[u32]; 1] = [&[1, 2]];
    let tb = Batch::<f64>::new(1)
        .unwrap()
        .with_tokens(&toks)
        .unwrap()
        .with_mask(Mask::new(&bits, 2).unwrap())
        .unwrap();
    err!(
        Pipeline::new(&t4)
            .unwrap()
            .eval(&mut [0.0], &mut [0.0], &mut [0.0], &tb),
        Error::LengthMismatch {
            what: "scratch",
            ..
        }
    );
}

#[test]
fn outcome_errors() {
    err!(
        Correctness::<f64>::new(f64::NAN, 0.0, 0.0),
        Error::InvalidParam {
            name: "correct",
            ..
        }
    );
    err!(
        Correctness::<f64>::default().rewards(&mut [0.0; 2], &[true], None),
        Error::LengthMismatch { .. }
    );
    err!(
        Correctness::<f64>::default().rewards(&mut [0.0; 1], &[true], Some(&[true, true])),
        Error::LengthMismatch {
            what: "well_formed",
            ..
        }
    );
    let b = Batch::<f64>::new(1).unwrap();
    err!(
        RewardTerm::score(&Correctness::<f64>::default(), &mut [0.0], &b),
        Error::MissingInput { what: "correct" }
    );
    err!(
        WellFormed::<f64>::new(f64::NAN, 0.0),
        Error::InvalidParam { name: "ok", .. }
    );
    err!(
        WellFormed::<f32>::new(1.0, f32::INFINITY),
        Error::InvalidParam {
            name: "malformed",
            ..
        }
    );
    err!(
        WellFormed::<f64>::default().rewards(&mut [0.0; 2], &[true]),
        Error::LengthMismatch { what: "out", .. }
    );
    // Without the flag the term cannot score anything (absent would mean "all well formed").
    let with_correct = b.with_correct(&[true]).unwrap();
    err!(
        RewardTerm::score(&WellFormed::<f64>::default(), &mut [0.0], &with_correct),
        Error::MissingInput {
            what: "well_formed"
        }
    );
    err!(
        FlipNoise::new(1.5f64, FlipUnit::Sample),
        Error::InvalidParam { name: "rate", .. }
    );
    err!(
        FlipNoise::new(f64::NAN, FlipUnit::Sample),
        Error::InvalidParam { .. }
    );
    let n = FlipNoise::new(0.5f64, FlipUnit::Group).unwrap();
    let mut rng = SplitMix64::new(0);
    err!(
        n.apply(&mut [0.0], &[1.0], Some(&[true]), None, &mut rng),
        Error::MissingInput { what: "groups" }
    );
    err!(
        n.apply(&mut [0.0], &[1.0], None, None, &mut rng),
        Error::MissingInput { what: "answered" }
    );
    err!(
        n.apply(&mut [0.0], &[1.0], Some(&[true, true]), None, &mut rng),
        Error::LengthMismatch {
            what: "answered",
            expected: 1,
            got: 2
        }
    );
    err!(
        n.with_range(0.0, f64::NAN),
        Error::InvalidParam { name: "hi", .. }
    );
    let s = FlipNoise::new(0.5f64, FlipUnit::Sample).unwrap();
    err!(
        s.apply(&mut [0.0], &[f64::NAN], Some(&[true]), None, &mut rng),
        Error::NonFinite { what: "scores", .. }
    );
    err!(
        s.apply(&mut [0.0; 2], &[1.0], Some(&[true]), None, &mut rng),
        Error::LengthMismatch { .. }
    );
    err!(
        RprCalibration::new(-0.1f64, 0.5, 1.0),
        Error::InvalidParam { name: "coef", .. }
    );
    err!(
        RprCalibration::<f64>::default().apply(&mut [0.0], &[0.1], &[f64::NAN]),
        Error::NonFinite { what: "rpr", .. }
    );
}

#[test]
fn format_errors() {
    err!(
        FormatLength::new(3072, 0.0f64),
        Error::InvalidParam { name: "peak", .. }
    );
    err!(
        FormatLength::new(3072, 1.0f64),
        Error::InvalidParam { name: "peak", .. }
    );
    err!(
        FormatLength::new(0, 0.5f64),
        Error::InvalidParam {
            name: "max_len",
            ..
        }
    );
    err!(
        FormatLength::<f64>::default().value(true, true, 0),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    let b = Batch::<f64>::new(1).unwrap().with_lengths(&[5]).unwrap();
    err!(
        RewardTerm::score(&FormatLength::<f64>::default(), &mut [0.0], &b),
        Error::MissingInput { what: "texts" }
    );
    err!(
        RewardTerm::score(&Format::default(), &mut [0.0], &b),
        Error::MissingInput { what: "texts" }
    );
    err!(
        ReasoningPattern::new(&RPR_MATH_PHRASES, 0.0, 20, None),
        Error::InvalidParam {
            name: "divisor",
            ..
        }
    );
    err!(
        ReasoningPattern::new(&RPR_MATH_PHRASES, 20.0, 0, None),
        Error::InvalidParam { name: "ngram", .. }
    );
}

#[test]
fn hapo_errors() {
    err!(
        Hapo::new(1.5f64, HapoShape::Cosine),
        Error::InvalidParam { name: "weight", .. }
    );
    let h = Hapo::<f64>::default();
    err!(h.with_floor(1.5), Error::InvalidParam { name: "floor", .. });
    err!(
        h.with_tolerance(-0.1),
        Error::InvalidParam {
            name: "tolerance",
            ..
        }
    );
    err!(
        h.length_reward(Some(10.0), 0, true),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        h.length_reward(Some(0.5), 3, true),
        Error::InvalidParam {
            name: "history",
            ..
        }
    );
    err!(
        h.length_reward(Some(f64::NAN), 3, true),
        Error::InvalidParam {
            name: "history",
            ..
        }
    );
    let mut hist = HapoHistory::default();
    err!(
        hist.rewards(&mut [0.0; 2], &[1, 2], &[3], &[true, true], &h),
        Error::LengthMismatch {
            what: "lengths",
            ..
        }
    );
    err!(
        hist.rewards(&mut [0.0; 1], &[1, 2], &[3, 4], &[true, true], &h),
        Error::LengthMismatch { what: "out", .. }
    );
    err!(
        hist.update(&[1], &[0], &[true]),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        hist.update(&[1], &[3], &[true, false]),
        Error::LengthMismatch {
            what: "correct",
            ..
        }
    );
    let term = HapoTerm {
        params: h,
        history: &hist,
    };
    let b = Batch::<f64>::new(1).unwrap().with_lengths(&[3]).unwrap();
    err!(
        term.score(&mut [0.0], &b),
        Error::MissingInput { what: "keys" }
    );
}

#[test]
fn laser_errors() {
    err!(
        Laser::new(-0.5f64, 10, LaserMode::Reward),
        Error::InvalidParam { name: "alpha", .. }
    );
    err!(
        Laser::new(0.5f64, 0, LaserMode::Reward),
        Error::InvalidParam { name: "target", .. }
    );
    err!(
        Laser::<f64>::default().value(0, true),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        Thresholds::new(0, 10, 1),
        Error::InvalidParam { name: "lower", .. }
    );
    err!(
        Thresholds::new(1, 10, 0),
        Error::InvalidParam {
            name: "interval",
            ..
        }
    );
    err!(
        Thresholds::new(20, 10, 1),
        Error::InvalidParam { name: "upper", .. }
    );
    let p = LaserD::<f64>::default();
    err!(
        p.with_group_size(0),
        Error::InvalidParam {
            name: "group_size",
            ..
        }
    );
    err!(
        LaserD::new(-1.0f64, LaserMode::Reward),
        Error::InvalidParam { .. }
    );
    let g = GroupIndex::uniform(2, 2).unwrap();
    let s = LaserDState::new(100);
    err!(
        p.rewards(&mut [0.0; 2], &[1, 2, 3], &[true, true], None, &g, &s),
        Error::LengthMismatch {
            what: "lengths",
            ..
        }
    );
    err!(
        p.rewards(&mut [0.0; 2], &[1, 0], &[true, true], None, &g, &s),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        p.rewards(&mut [0.0; 2], &[1, 2], &[true, true], Some(&[true]), &g, &s),
        Error::LengthMismatch {
            what: "well_formed",
            ..
        }
    );
    err!(
        p.rewards_de(&mut [0.0; 2], &[1, 2], &[true, true], None, &[true], &g, &s),
        Error::LengthMismatch {
            what: "repetitive",
            ..
        }
    );
    let mut st = LaserDState::new(100);
    err!(
        st.update(&p, &[1, 2], &[true], &g),
        Error::LengthMismatch {
            what: "correct",
            ..
        }
    );
    err!(
        st.update(&p, &[0, 2], &[true, true], &g),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
}

#[test]
fn length_errors() {
    err!(
        CosineLength::new(100, (1.0f64, 0.0), (0.5, 0.0), 0.0),
        Error::InvalidParam {
            name: "wrong_short",
            ..
        }
    );
    err!(
        CosineLength::new(100, (f64::NAN, 0.0), (-1.0, 0.0), 0.0),
        Error::InvalidParam { .. }
    );
    err!(
        CosineLength::new(0, (1.0f64, 0.0), (-1.0, 0.0), 0.0),
        Error::InvalidParam {
            name: "max_len",
            ..
        }
    );
    err!(
        CosineLength::<f64>::default().value(0, true),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        KimiLength::new(-0.4f64, 0.0),
        Error::InvalidParam { name: "coef", .. }
    );
    err!(
        KimiLength::new(0.4f64, -1.0),
        Error::InvalidParam { name: "eps", .. }
    );
    let g = GroupIndex::uniform(2, 2).unwrap();
    err!(
        KimiLength::<f64>::default().rewards(&mut [0.0; 2], &[1, 2], &[true], None, &g),
        Error::LengthMismatch {
            what: "correct",
            ..
        }
    );
    err!(
        GroupLengthPenalty::new(0.4f64, -1.0),
        Error::InvalidParam { name: "eps", .. }
    );
    err!(
        GroupLengthPenalty::<f64>::default().rewards(&mut [0.0; 2], &[0, 2], &[true, true], &g),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        Overlong::new(10, 20, 1.0f64),
        Error::InvalidParam { name: "buffer", .. }
    );
    err!(
        Overlong::new(10, 0, 1.0f64),
        Error::InvalidParam { name: "buffer", .. }
    );
    err!(
        Overlong::new(20, 10, -1.0f64),
        Error::InvalidParam { name: "factor", .. }
    );
    err!(
        Overlong::<f64>::default().value(0),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        Truncation::new(0, TruncationMode::Replace(0.0f64)),
        Error::InvalidParam { name: "limit", .. }
    );
    err!(
        Truncation::new(5, TruncationMode::Scale(f64::NAN)),
        Error::InvalidParam { name: "scale", .. }
    );
    err!(
        Truncation::<f64>::default().apply(&mut [0.0], &[f64::NAN], &[3]),
        Error::NonFinite {
            what: "rewards",
            ..
        }
    );
    err!(
        Truncation::<f64>::default().apply_flags(&mut [0.0], &[1.0], &[true, false]),
        Error::LengthMismatch {
            what: "truncated",
            ..
        }
    );
    err!(
        TargetLength::new(-1.0f64, 0.5, TargetMode::Exact),
        Error::InvalidParam { name: "alpha", .. }
    );
    err!(
        TargetLength::<f64>::default().value(true, 10, 0),
        Error::InvalidParam {
            name: "targets",
            ..
        }
    );
    err!(
        TargetLength::<f64>::default().rewards(&mut [0.0], &[true], &[10], &[]),
        Error::LengthMismatch {
            what: "targets",
            ..
        }
    );
}

#[test]
fn repetition_errors() {
    err!(
        RepetitionPenalty::new(0, -1.0f64, RepeatMarking::All),
        Error::InvalidParam { name: "ngram", .. }
    );
    err!(
        RepetitionPenalty::new(3, 0.5f64, RepeatMarking::All),
        Error::InvalidParam {
            name: "penalty",
            ..
        }
    );
    let r = RepetitionPenalty::new(2, -1.0f64, RepeatMarking::All).unwrap();
    let (mut f, mut s) = ([false; 4], [0u32; 4]);
    err!(
        r.sequence(&[], &mut f, &mut s),
        Error::InvalidParam { name: "tokens", .. }
    );
    err!(
        r.sequence(&[1, 2, 3, 4, 5, 6], &mut f, &mut s),
        Error::LengthMismatch { what: "flags", .. }
    );
    err!(
        r.dense(&mut [0.0; 2], &[1, 2, 3], &mut f, &mut s),
        Error::LengthMismatch { what: "out", .. }
    );
    err!(
        repeated_ngram_starts(&mut [false; 4], &mut [0u32; 1], &[1, 2, 3, 4], 2),
        Error::LengthMismatch {
            what: "scratch",
            ..
        }
    );
    err!(
        word_repetition_penalty("a b", 2, 1.0f64),
        Error::InvalidParam {
            name: "penalty",
            ..
        }
    );
    // Dense token term: tokens must fill exactly the valid positions of each mask row.
    let bits = [true, true, false];
    let toks: [&[u32]; 1] = [&[1]];
    let b = Batch::<f64>::new(1)
        .unwrap()
        .with_tokens(&toks)
        .unwrap()
        .with_mask(Mask::new(&bits, 3).unwrap())
        .unwrap();
    err!(
        TokenRewardTerm::score_tokens(&r, &mut [0.0; 3], &b),
        Error::LengthMismatch { .. }
    );
}

#[test]
fn par_errors() {
    err!(Par::new(0.0f64, 3), Error::InvalidParam { name: "k", .. });
    err!(
        Par::new(1.0f64, 0),
        Error::InvalidParam {
            name: "max_refs",
            ..
        }
    );
    let p = Par::<f64>::default();
    err!(p.value(1.0, &[]), Error::MissingInput { what: "refs" });
    err!(p.value(f64::NAN, &[1.0]), Error::NonFinite { .. });
    err!(
        p.rewards(&mut [0.0; 2], None, &[1.0, 2.0], &[1.0, 2.0, 3.0]),
        Error::BadShape { what: "refs", .. }
    );
    err!(
        p.rewards(&mut [0.0; 2], None, &[1.0, 2.0], &[]),
        Error::MissingInput { what: "refs" }
    );
    err!(
        p.rewards(&mut [0.0; 2], Some(&mut [0.0; 1]), &[1.0, 2.0], &[1.0, 2.0]),
        Error::LengthMismatch { what: "grad", .. }
    );
    err!(
        p.rewards(&mut [0.0; 1], None, &[f64::NAN], &[1.0]),
        Error::NonFinite { what: "scores", .. }
    );
    let sh = RewardShaper::<f64>::default();
    let mut st = RunningStats::new();
    err!(
        sh.shape(&mut [0.0], &[1.0], None, &[], &mut st),
        Error::MissingInput { what: "lengths" }
    );
    err!(
        RewardShaper::<f64>::par().shape(&mut [0.0], &[1.0], Some(&[3]), &[], &mut st),
        Error::MissingInput { what: "refs" }
    );
    err!(
        sh.with_ceil(Some(f64::NAN)),
        Error::InvalidParam { name: "ceil", .. }
    );
    err!(sh.with_refs(0.0, 3), Error::InvalidParam { name: "k", .. });
    err!(
        sh.with_length_penalty(Some((-1.0, 3))),
        Error::InvalidParam { .. }
    );
    err!(
        sh.shape(&mut [0.0], &[], None, &[], &mut st),
        Error::LengthMismatch { .. }
    );
    err!(
        sh.shape(&mut [], &[], None, &[], &mut st),
        Error::Empty { .. }
    );
    err!(
        RunningStats::from_parts(1, 0.0, -1.0, 0.0, 0.0),
        Error::InvalidParam { name: "m2", .. }
    );
    err!(
        RunningStats::from_parts(1, f64::NAN, 0.0, 0.0, 0.0),
        Error::InvalidParam { name: "mean", .. }
    );
    err!(
        RunningStats::from_parts(1, 0.0, f64::INFINITY, 0.0, 0.0),
        Error::InvalidParam { name: "m2", .. }
    );
    err!(
        RunningStats::from_parts(1, 0.0, 0.0, f64::NEG_INFINITY, 0.0),
        Error::InvalidParam { name: "min", .. }
    );
    err!(
        RunningStats::from_parts(1, 0.0, 0.0, 0.0, f64::NAN),
        Error::InvalidParam { name: "max", .. }
    );
    err!(st.update::<f64>(&[]), Error::Empty { .. });
    err!(st.update(&[f64::INFINITY]), Error::NonFinite { .. });
    // Running statistics that overflow f64.
    let mut big = RunningStats::new();
    big.update(&[1e300f64]).unwrap();
    err!(big.update(&[-1e300f64]), Error::Overflow { .. });
}

#[test]
fn process_errors() {
    err!(
        Pure::new(0.0f64, true),
        Error::InvalidParam {
            name: "temperature",
            ..
        }
    );
    let p = Pure::<f64>::default();
    err!(
        p.min_form(&mut [0.0; 1], &[1.0, 2.0]),
        Error::LengthMismatch { .. }
    );
    err!(
        p.min_form(&mut [0.0; 1], &[f64::NAN]),
        Error::NonFinite { .. }
    );
    err!(
        p.min_form_batch(&mut [0.0; 2], &mut [0.0; 2], &[1.0, 2.0], &[1, 2]),
        Error::LengthMismatch { what: "steps", .. }
    );
    err!(
        p.min_form_batch(&mut [0.0; 2], &mut [0.0; 1], &[1.0, 2.0], &[1, 1]),
        Error::LengthMismatch {
            what: "outcome",
            ..
        }
    );
    let g = GroupIndex::uniform(2, 2).unwrap();
    err!(
        Pure::baseline(
            &mut [0.0; 2],
            &[1.0, 2.0],
            &[1, 0],
            &[3, 3],
            &g,
            PureBaseline::Step
        ),
        Error::InvalidParam { name: "counts", .. }
    );
    err!(
        Pure::baseline(
            &mut [0.0; 2],
            &[1.0, 2.0],
            &[1, 1],
            &[0, 3],
            &g,
            PureBaseline::Token
        ),
        Error::InvalidParam {
            name: "lengths",
            ..
        }
    );
    err!(
        Pure::subtract_baseline(&mut [0.0; 2], &[1.0], &[1, 1], &[1, 1], PureBaseline::Step),
        Error::LengthMismatch {
            what: "baselines",
            ..
        }
    );
    err!(
        Pure::verifiable(&mut [0.0; 2], &[true], &g, 1.0),
        Error::LengthMismatch { .. }
    );
    err!(
        Pure::verifiable(&mut [0.0; 2], &[true, false], &g, f64::NAN),
        Error::InvalidParam { name: "coef", .. }
    );
    err!(
        ProcessRefine::new(RefineMode::Clip { eta: f64::NAN }),
        Error::InvalidParam { name: "eta", .. }
    );
    let d = ProcessRefine::new(RefineMode::<f64>::Delta { keep_last: true }).unwrap();
    err!(d.apply(&mut [0.0; 2], &[1.0]), Error::LengthMismatch { .. });
    err!(d.apply(&mut [0.0; 1], &[f64::NAN]), Error::NonFinite { .. });
    // Differences of finite values can overflow.
    err!(
        d.apply(&mut [0.0; 2], &[f64::MAX, -f64::MAX]),
        Error::Overflow { .. }
    );
}

#[test]
fn robust_errors() {
    err!(
        Ensemble::MeanMinusStd(-1.0f64).aggregate(&mut [0.0], &[1.0]),
        Error::InvalidParam { name: "lambda", .. }
    );
    err!(
        Ensemble::<f64>::Mean.aggregate(&mut [0.0; 2], &[1.0, 2.0, 3.0]),
        Error::BadShape { .. }
    );
    err!(
        Ensemble::<f64>::Mean.aggregate(&mut [0.0], &[]),
        Error::Empty { .. }
    );
    err!(
        Ensemble::<f64>::Min.aggregate(&mut [0.0], &[f64::NAN]),
        Error::NonFinite { .. }
    );
    err!(
        brme(&mut [0.0], &[1.0], &[1.0], 2.0f64),
        Error::InvalidParam { name: "lambda", .. }
    );
    err!(
        brme(&mut [0.0], &[1.0], &[-1.0], 0.5f64),
        Error::InvalidParam { name: "sigma", .. }
    );
    err!(
        brme(&mut [0.0], &[1.0, 2.0], &[1.0], 0.5f64),
        Error::LengthMismatch { what: "sigma", .. }
    );
    err!(
        MultiObjective::<f64>::new(&[], Normalization::None, 0.0),
        Error::Empty { what: "weights" }
    );
    err!(
        MultiObjective::new(&[f64::NAN], Normalization::None, 0.0),
        Error::InvalidParam {
            name: "weights",
            ..
        }
    );
    err!(
        MultiObjective::new(&[1.0f64], Normalization::None, -1.0),
        Error::InvalidParam { name: "eps", .. }
    );
    let mo = MultiObjective::new(&[1.0f64, 1.0], Normalization::Group, 0.0).unwrap();
    err!(
        mo.combine(&mut [0.0; 2], &[1.0; 3], None),
        Error::LengthMismatch { what: "scores", .. }
    );
    err!(
        mo.combine(&mut [0.0; 2], &[1.0; 4], None),
        Error::MissingInput { what: "groups" }
    );
    let g = GroupIndex::uniform(2, 2).unwrap();
    let mut rng = SplitMix64::new(0);
    err!(
        Filtration::BestRandom.select(&mut [false; 2], &[1.0f64, f64::NAN], &g, &mut rng),
        Error::NonFinite { .. }
    );
    err!(
        Filtration::BestWorst.weights(&mut [0.0f64; 1], &[1.0, 2.0], &g),
        Error::LengthMismatch { what: "out", .. }
    );
    err!(
        r_squared(&[1.0f64, 2.0], &[1.0, 2.0], Some(&[true, false])),
        Error::TooFewValid { count: 1, .. }
    );
    err!(
        r_squared(&[1.0f64], &[1.0, 2.0], None),
        Error::LengthMismatch { .. }
    );
    err!(
        r_squared(&[1.0f64, f64::NAN], &[1.0, 2.0], None),
        Error::NonFinite { what: "rm", .. }
    );
    err!(
        reward_weights(&mut [0.0f64], &[1.0], -1.0),
        Error::InvalidParam { name: "pow", .. }
    );
    err!(
        reward_weights(&mut [0.0f32], &[1e30], 2.0),
        Error::Overflow { .. }
    );
    err!(
        resample::<f64, _>(&mut [0], &[], &mut rng),
        Error::Empty { .. }
    );
    err!(
        resample(&mut [0], &[1.0f64, -1.0], &mut rng),
        Error::InvalidParam {
            name: "weights",
            ..
        }
    );
    err!(
        resample(&mut [0], &[0.0f64, 0.0], &mut rng),
        Error::InvalidParam {
            name: "weights",
            ..
        }
    );
    err!(
        resample(&mut [0], &[f64::NAN], &mut rng),
        Error::NonFinite { .. }
    );
    err!(
        Oreal::new(OrealShaping::Rloo, -0.5f64, false),
        Error::InvalidParam {
            name: "negative_factor",
            ..
        }
    );
    err!(
        Oreal::new(OrealShaping::Grpo { eps: -1.0f64 }, 0.5, false),
        Error::InvalidParam { name: "eps", .. }
    );
    err!(
        Oreal::<f64>::default().advantages(&mut [0.0; 1], &[true, false], &g),
        Error::LengthMismatch { .. }
    );
    err!(
        Oreal::<f64>::filter(&mut [false; 1], &[true, false], &g, &mut rng),
        Error::LengthMismatch { what: "keep", .. }
    );
    let bits = [true, true];
    err!(
        Oreal::token_weights(
            &mut [0.0f64; 2],
            &mut [0.0; 2],
            &[f64::NAN, 0.0],
            Mask::new(&bits, 2).unwrap()
        ),
        Error::NonFinite { .. }
    );
}

#[test]
fn dense_errors() {
    err!(
        FineGrained::<f64>::new(&[], 0.3),
        Error::Empty { what: "models" }
    );
    let bad = [RmSpec::Normalized {
        weight: 1.0f64,
        mean: 0.0,
        std: 0.0,
        bias: 0.0,
    }];
    err!(
        FineGrained::new(&bad, 0.3),
        Error::InvalidParam { name: "std", .. }
    );
    let models = FineGrained::<f64>::qa_feedback_models();
    err!(
        FineGrained::new(&models, -0.3),
        Error::InvalidParam {
            name: "kl_coef",
            ..
        }
    );
    let fg = FineGrained::new(&models, 0.3).unwrap();
    let bits = [true, true, false, false];
    let mask = Mask::new(&bits, 2).unwrap();
    let seg = |row, model| SegmentScore {
        row,
        end: 0,
        model,
        value: 1.0,
    };
    err!(
        fg.rewards(&mut [0.0; 4], mask, &[seg(0, 7)], None),
        Error::InvalidParam {
            name: "segment.model",
            ..
        }
    );
    err!(
        fg.rewards(&mut [0.0; 4], mask, &[seg(5, 0)], None),
        Error::InvalidParam {
            name: "segment.row",
            ..
        }
    );
    err!(
        fg.rewards(&mut [0.0; 4], mask, &[seg(1, 0)], None),
        Error::TooFewValid { .. }
    );
    err!(
        fg.rewards(&mut [0.0; 3], mask, &[], None),
        Error::LengthMismatch { what: "out", .. }
    );
    err!(
        fg.rewards(&mut [0.0; 4], mask, &[], Some((&[0.0; 4], &[0.0; 3]))),
        Error::LengthMismatch {
            what: "ref_logp",
            ..
        }
    );
    // NaN at a valid token is an error; masked positions (row 1) are never read.
    err!(
        fg.rewards(
            &mut [0.0; 4],
            mask,
            &[],
            Some((&[0.0, f64::NAN, 0.0, 0.0], &[0.0; 4]))
        ),
        Error::NonFinite {
            what: "logp",
            index: 1
        }
    );
    err!(
        fg.rewards(
            &mut [0.0; 4],
            mask,
            &[],
            Some((&[0.0; 4], &[f64::NEG_INFINITY, 0.0, 0.0, 0.0]))
        ),
        Error::NonFinite {
            what: "ref_logp",
            index: 0
        }
    );
    let nan = f64::NAN;
    let mut out = [9.0; 4];
    fg.rewards(
        &mut out,
        mask,
        &[],
        Some((&[0.0, 0.0, nan, nan], &[0.0, 0.0, nan, 1.0])),
    )
    .unwrap();
    assert_eq!(out, [0.0; 4]);
    let c = Carl::<f64>::default();
    err!(
        c.rewards(&mut [0.0], &[1.0], &[1.5], &[false]),
        Error::InvalidParam {
            name: "factors",
            ..
        }
    );
    err!(
        c.rewards(&mut [0.0; 2], &[1.0, 1.0], &[1.0; 3], &[false; 2]),
        Error::BadShape {
            what: "factors",
            ..
        }
    );
    err!(
        c.rewards(&mut [0.0], &[f64::NAN], &[1.0], &[false]),
        Error::NonFinite {
            what: "progress",
            ..
        }
    );
    err!(
        Carl::new(CarlVariant::NuPlan, 0.0, f64::NAN, 100.0, 0.0),
        Error::InvalidParam { .. }
    );
    err!(
        potential_shaping(
            &mut [0.0],
            &[1.0],
            &[0.0, 0.0],
            1.5f64,
            TerminalPotential::Keep
        ),
        Error::InvalidParam { name: "gamma", .. }
    );
    err!(
        potential_shaping(&mut [0.0], &[1.0], &[0.0], 0.5f64, TerminalPotential::Keep),
        Error::LengthMismatch {
            what: "potentials",
            ..
        }
    );
    err!(
        potential_shaping(
            &mut [0.0],
            &[1.0],
            &[0.0, f64::NAN],
            0.5f64,
            TerminalPotential::Keep
        ),
        Error::NonFinite {
            what: "potentials",
            ..
        }
    );
}
