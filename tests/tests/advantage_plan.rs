//! The advantage plan and its seams: every estimator through `AdvantagePlan` with caller scratch
//! equals the plain functions; masked positions are never read; the three-step group seam equals
//! the fused kernel; the typed errors of the new entry points.

use proptest::prelude::*;
use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, AdvantagePlan, Affine, AffineRule, AffineScale, Gae,
    GroupMoments, GroupScale, GroupStage, Grpo, Otb, OtbPositions, PlanSizes, Scale, ScoreSource,
    Singleton, Stages, apply_group_affine, discounted_returns, gae, gdpo, gpg,
    group_affine_coefficients, group_mean_baseline, group_moments, grpo, grpo_passk,
    masked_sequence_sums, normalize_then_sum, opo, optimal_token_baseline, reinforce_plus_plus,
    reinforce_plus_plus_baseline, remax, rloo, sum_then_normalize,
};
use rewardkit_core::stats::{Whiten, masked_whiten};
use rewardkit_core::{AdvantageEstimator, Error, GroupIndex, Mask, Preset, Real};
use rewardkit_tests::approx_eq::assert_oracle;
use rewardkit_tests::oracle;
use rewardkit_tests::strategies::group_ids;

const PRESETS: [Preset; 4] = [
    Preset::Rewardkit,
    Preset::Verl,
    Preset::Trl,
    Preset::OpenRlhf,
];

/// A random batch in `f64`: group ids (shuffled, singletons likely), a `(B, T)` mask with holes
/// and empty rows, and every per-token and per-row input.
#[derive(Clone, Debug)]
struct Batch {
    ids: Vec<u32>,
    g: usize,
    t: usize,
    mask: Vec<bool>,
    rewards: Vec<f64>,
    values: Vec<f64>,
    old_logp: Vec<f64>,
    spp: Vec<f64>,
    baselines: Vec<f64>,
    comps: Vec<f64>,
}

fn batch() -> impl Strategy<Value = Batch> {
    group_ids().prop_flat_map(|(ids, g)| {
        let b = ids.len();
        (1usize..6).prop_flat_map(move |t| {
            let n = b * t;
            (
                Just(ids.clone()),
                Just(g),
                Just(t),
                prop::collection::vec(prop::bool::weighted(0.75), n),
                prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), -2.0..2.0f64], n),
                prop::collection::vec(-1.0..1.0f64, n),
                prop::collection::vec(-4.0..-0.01f64, n),
                prop::collection::vec(0.05..1.0f64, n),
                prop::collection::vec(-1.0..1.0f64, b),
                prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), -1.0..1.0f64], 2 * b),
            )
                .prop_map(
                    |(ids, g, t, mask, rewards, values, old_logp, spp, baselines, comps)| Batch {
                        ids,
                        g,
                        t,
                        mask,
                        rewards,
                        values,
                        old_logp,
                        spp,
                        baselines,
                        comps,
                    },
                )
        })
    })
}

fn to<F: Real>(x: &[f64]) -> Vec<F> {
    x.iter().map(|&v| F::lit(v)).collect()
}

/// The batch's inputs in `F`.
struct Typed<F> {
    rewards: Vec<F>,
    values: Vec<F>,
    old_logp: Vec<F>,
    spp: Vec<F>,
    baselines: Vec<F>,
    comps: Vec<F>,
    weights: Vec<F>,
}

impl<F: Real> Typed<F> {
    fn of(b: &Batch) -> Self {
        Self {
            rewards: to(&b.rewards),
            values: to(&b.values),
            old_logp: to(&b.old_logp),
            spp: to(&b.spp),
            baselines: to(&b.baselines),
            comps: to(&b.comps),
            weights: to(&[1.0, 0.5]),
        }
    }

    fn inputs<'a>(&'a self, mask: Mask<'a>, groups: &'a GroupIndex<'a>) -> AdvantageInputs<'a, F> {
        AdvantageInputs::new(&self.rewards, mask)
            .with_groups(groups)
            .with_values(&self.values)
            .with_reward_baselines(&self.baselines)
            .with_token_stats(&self.old_logp, &self.spp, None)
            .with_components(&self.comps, &self.weights)
    }
}

type Out<F> = Result<(Vec<F>, Vec<F>), Error>;

/// Runs `est` under `preset` through the plan with exactly the scratch it asks for.
fn via_plan<F: Real>(
    est: AdvantageEstimator,
    preset: Preset,
    inputs: &AdvantageInputs<'_, F>,
) -> Out<F> {
    let cfg = AdvantageConfig::<F>::new(preset)
        .with_gamma_lambda(F::lit(0.9), F::lit(0.8))
        .unwrap();
    let plan = AdvantagePlan::new(est, &cfg)?;
    let mut scratch = vec![0.0f64; plan.scratch_len(&PlanSizes::of(inputs))];
    let n = inputs.token_rewards.len();
    let (mut a, mut r) = (vec![F::ZERO; n], vec![F::ZERO; n]);
    plan.run(&mut a, &mut r, inputs, &mut scratch)?;
    Ok((a, r))
}

/// Broadcast of per-sequence values: `v_i` at valid tokens, 0 elsewhere.
fn spread<F: Real>(per_seq: &[F], mask: &[bool], t: usize) -> Vec<F> {
    mask.iter()
        .enumerate()
        .map(|(k, &m)| if m { per_seq[k / t] } else { F::ZERO })
        .collect()
}

/// The same estimator through the plain functions of `advantage` (rewardkit numerics).
fn via_functions<F: Real>(
    est: AdvantageEstimator,
    b: &Batch,
    x: &Typed<F>,
    groups: &GroupIndex<'_>,
) -> Out<F> {
    use AdvantageEstimator as E;
    let mask = Mask::new(&b.mask, b.t).unwrap();
    let rows = b.ids.len();
    let n = rows * b.t;
    let mut scores = vec![F::ZERO; rows];
    masked_sequence_sums(&mut scores, &x.rewards, mask)?;
    let mut per = vec![F::ZERO; rows];
    let (mut a, mut r) = (vec![F::ZERO; n], vec![F::ZERO; n]);
    let per_seq = |per: &[F]| {
        let a = spread(per, &b.mask, b.t);
        Ok((a.clone(), a))
    };
    let grpo_p = Grpo::<F>::default();
    let whiten = Whiten::<F>::default();
    match est {
        E::Grpo => {
            grpo(&mut per, &scores, groups, &grpo_p)?;
            per_seq(&per)
        }
        E::DrGrpo => {
            grpo(
                &mut per,
                &scores,
                groups,
                &Grpo::new(Scale::None, F::lit(1e-6), Singleton::Zero)?,
            )?;
            per_seq(&per)
        }
        E::GrpoPassK => {
            grpo_passk(&mut per, &scores, groups, true, F::lit(1e-6))?;
            per_seq(&per)
        }
        E::Rloo => {
            rloo(&mut per, &scores, groups, Singleton::Zero)?;
            per_seq(&per)
        }
        E::Opo => {
            let lens: Vec<F> = b
                .mask
                .chunks(b.t)
                .map(|r| F::from_usize(r.iter().filter(|&&m| m).count()))
                .collect();
            opo(&mut per, &scores, &lens, groups, Singleton::Zero)?;
            per_seq(&per)
        }
        E::Gpg => {
            gpg(&mut per, &scores, groups, F::ONE, Singleton::Zero)?;
            per_seq(&per)
        }
        E::SumThenNormalize => {
            sum_then_normalize(&mut per, &x.comps, &x.weights, groups, &grpo_p)?;
            per_seq(&per)
        }
        E::NormalizeThenSum => {
            normalize_then_sum(&mut per, &x.comps, &x.weights, groups, F::lit(1e-4))?;
            per_seq(&per)
        }
        E::Gdpo => {
            gdpo(&mut a, &x.comps, &x.weights, mask, groups, &grpo_p, &whiten)?;
            Ok((a.clone(), a))
        }
        E::ReinforcePlusPlusBaseline => {
            reinforce_plus_plus_baseline(&mut a, &scores, mask, groups, Singleton::Zero, &whiten)?;
            Ok((a.clone(), a))
        }
        E::Gae => {
            gae(
                &mut a,
                &mut r,
                &x.rewards,
                &x.values,
                mask,
                &Gae::new(F::lit(0.9), F::lit(0.8))?,
            )?;
            let mut w = vec![F::ZERO; n];
            masked_whiten(&mut w, &a, mask, &whiten)?;
            let w = w
                .iter()
                .zip(&b.mask)
                .map(|(&v, &m)| if m { v } else { F::ZERO })
                .collect();
            Ok((w, r))
        }
        E::ReinforcePlusPlus => {
            reinforce_plus_plus(&mut a, &mut r, &x.rewards, mask, F::lit(0.9), &whiten)?;
            Ok((a, r))
        }
        E::Remax => {
            remax(&mut a, &mut r, &x.rewards, &x.baselines, mask)?;
            Ok((a, r))
        }
        E::OptimalTokenBaseline | E::TirOptimalTokenBaseline => {
            let pos = if est == E::OptimalTokenBaseline {
                OtbPositions::Absolute
            } else {
                OtbPositions::Compacted
            };
            let p = Otb::new(true, F::lit(1e-8), pos)?;
            optimal_token_baseline(
                &mut a,
                &mut r,
                &x.rewards,
                &x.old_logp,
                &x.spp,
                None,
                mask,
                groups,
                &p,
            )?;
            let r = r
                .iter()
                .zip(&b.mask)
                .map(|(&v, &m)| if m { v } else { F::ZERO })
                .collect();
            Ok((a, r))
        }
        other => panic!("no plain function mapped for {other}"),
    }
}

fn plan_equals_functions<F: Real>(b: &Batch) {
    let groups = GroupIndex::new(&b.ids, b.g).unwrap();
    let x = Typed::<F>::of(b);
    let mask = Mask::new(&b.mask, b.t).unwrap();
    let inputs = x.inputs(mask, &groups);
    for est in AdvantageEstimator::ALL {
        let plan = via_plan(est, Preset::Rewardkit, &inputs);
        let plain = via_functions(est, b, &x, &groups);
        assert_eq!(plan, plain, "{est} ({})", F::NAME);
    }
}

/// The batch with garbage (NaN, ±∞, huge) at every masked position of every `(B, T)` input.
fn poisoned(b: &Batch, seed: u64) -> Batch {
    let junk = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -7.0];
    let mut p = b.clone();
    let mut s = seed | 1;
    for k in 0..b.mask.len() {
        if !b.mask[k] {
            for v in [&mut p.rewards, &mut p.values, &mut p.old_logp, &mut p.spp] {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                v[k] = junk[(s % 5) as usize];
            }
        }
    }
    p
}

fn masked_inputs_are_never_read<F: Real>(b: &Batch, seed: u64) {
    let groups = GroupIndex::new(&b.ids, b.g).unwrap();
    let mask = Mask::new(&b.mask, b.t).unwrap();
    // Clean: zeros at masked positions.
    let mut clean = b.clone();
    for k in 0..b.mask.len() {
        if !b.mask[k] {
            clean.rewards[k] = 0.0;
            clean.values[k] = 0.0;
            clean.old_logp[k] = -1.0;
            clean.spp[k] = 0.5;
        }
    }
    let dirty = poisoned(b, seed);
    let (xc, xd) = (Typed::<F>::of(&clean), Typed::<F>::of(&dirty));
    for est in AdvantageEstimator::ALL {
        for preset in PRESETS {
            let c = via_plan(est, preset, &xc.inputs(mask, &groups));
            let d = via_plan(est, preset, &xd.inputs(mask, &groups));
            assert_eq!(c, d, "{est} {preset} ({})", F::NAME);
            if let (Ok((a, r)), Preset::Rewardkit) = (&c, preset) {
                for (k, &m) in b.mask.iter().enumerate() {
                    if !m {
                        assert!(
                            a[k] == F::ZERO && r[k] == F::ZERO,
                            "{est}: masked output at {k}"
                        );
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_estimator_through_the_plan_equals_the_plain_functions(b in batch()) {
        plan_equals_functions::<f64>(&b);
        plan_equals_functions::<f32>(&b);
    }

    #[test]
    fn garbage_at_masked_positions_changes_nothing(b in batch(), seed in any::<u64>()) {
        masked_inputs_are_never_read::<f64>(&b, seed);
        masked_inputs_are_never_read::<f32>(&b, seed);
    }

    #[test]
    fn per_sequence_result_is_the_broadcast_value(b in batch()) {
        // run_per_sequence gives, for every row, the value each of its valid tokens gets from run.
        let groups = GroupIndex::new(&b.ids, b.g).unwrap();
        let mask = Mask::new(&b.mask, b.t).unwrap();
        let x = Typed::<f64>::of(&b);
        let inputs = x.inputs(mask, &groups);
        for est in AdvantageEstimator::ALL {
            for preset in PRESETS {
                let cfg = AdvantageConfig::<f64>::new(preset);
                let plan = AdvantagePlan::new(est, &cfg).unwrap();
                let mut scratch = vec![0.0; plan.scratch_len(&PlanSizes::of(&inputs))];
                let mut per = vec![0.0; b.ids.len()];
                let got = plan.run_per_sequence(&mut per, &inputs, &mut scratch);
                if !plan.is_per_sequence() {
                    prop_assert!(got.is_err());
                    continue;
                }
                let full = via_plan(est, preset, &inputs);
                match (got, full) {
                    (Ok(()), Ok((a, _))) => prop_assert_eq!(a, spread(&per, &b.mask, b.t), "{} {}", est, preset),
                    (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
                    (g, f) => prop_assert!(false, "{est} {preset}: {g:?} vs {:?}", f.map(|_| ())),
                }
            }
        }
    }

    #[test]
    fn group_seam_three_steps_equal_the_fused_kernel((ids, g) in group_ids(), vals in prop::collection::vec(prop_oneof![Just(0.5), -3.0..3.0f64], 48), eps in 0.0..1e-3f64) {
        // moments -> coefficients -> apply, against the estimators' fused kernel, bit for bit.
        let groups = GroupIndex::new(&ids, g).unwrap();
        let x = &vals[..ids.len()];
        let mut m = vec![GroupMoments::default(); g];
        group_moments(&mut m, x, &groups).unwrap();
        // The moments against a plain two-pass loop.
        for (k, rows) in oracle::members(&ids, g).iter().enumerate() {
            let v: Vec<f64> = rows.iter().map(|&i| x[i]).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let m2: f64 = v.iter().map(|y| (y - mean).powi(2)).sum();
            prop_assert_eq!(m[k].count, v.len());
            prop_assert!((m[k].mean - mean).abs() <= 1e-12 * (1.0 + mean.abs()));
            prop_assert!((m[k].m2 - m2).abs() <= 1e-10 * (1.0 + m2));
        }
        for (rule, run) in [
            (AffineRule::new(GroupScale::Std { eps }, Singleton::Zero).unwrap(), 0),
            (AffineRule::new(GroupScale::LeaveOneOut, Singleton::Raw).unwrap(), 1),
            (AffineRule::new(GroupScale::Constant(1.0), Singleton::Raw).unwrap(), 2),
        ] {
            let mut c = vec![Affine::default(); g];
            group_affine_coefficients(&mut c, &m, &rule).unwrap();
            let mut three = vec![0.0; x.len()];
            apply_group_affine(&mut three, x, &c, &groups).unwrap();
            let mut fused = vec![0.0; x.len()];
            match run {
                0 => grpo(&mut fused, x, &groups, &Grpo::new(Scale::Group, eps, Singleton::Zero).unwrap()).unwrap(),
                1 => rloo(&mut fused, x, &groups, Singleton::Raw).unwrap(),
                _ => group_mean_baseline(&mut fused, x, &groups, Singleton::Raw).unwrap(),
            }
            prop_assert_eq!(&fused, &three);
        }
    }
}

#[test]
fn plans_are_readable_data() {
    let verl = AdvantageConfig::<f32>::new(Preset::Verl);
    let p = AdvantagePlan::new(AdvantageEstimator::Gpg, &verl).unwrap();
    let Stages::Sequence(s) = p.stages else {
        panic!("gpg is per-sequence")
    };
    assert_eq!(s.scores, ScoreSource::TokenSums);
    assert_eq!(
        s.group,
        GroupStage::Affine {
            scale: AffineScale::Gpg {
                f_norm: 1.0,
                alpha_f32: true
            },
            singleton: Singleton::Raw
        }
    );
    assert!(s.whiten.is_none());
    let p = AdvantagePlan::new(AdvantageEstimator::ReinforcePlusPlusBaseline, &verl).unwrap();
    let Stages::Sequence(s) = p.stages else {
        panic!()
    };
    assert_eq!(s.whiten, Some(Whiten::from_preset(Preset::Verl)));
    let trl = AdvantagePlan::new(
        AdvantageEstimator::Grpo,
        &AdvantageConfig::<f32>::new(Preset::Trl),
    )
    .unwrap();
    assert!(matches!(
        trl.stages,
        Stages::Sequence(s) if matches!(s.group, GroupStage::Trl { .. }) && s.scores == ScoreSource::Components
    ));
    assert!(
        !AdvantagePlan::new(AdvantageEstimator::Gae, &verl)
            .unwrap()
            .is_per_sequence()
    );
}

#[test]
fn scattered_and_contiguous_layouts_need_their_scratch() {
    let plan =
        AdvantagePlan::<f64>::new(AdvantageEstimator::Grpo, &AdvantageConfig::default()).unwrap();
    let mut sizes = PlanSizes {
        batch: 8,
        seq_len: 3,
        groups: 2,
        scattered: false,
    };
    assert_eq!(plan.scratch_len(&sizes), 8);
    sizes.scattered = true;
    assert_eq!(plan.scratch_len(&sizes), 8 + 6);
    let otb = AdvantagePlan::<f64>::new(
        AdvantageEstimator::OptimalTokenBaseline,
        &AdvantageConfig::default(),
    )
    .unwrap();
    assert_eq!(otb.scratch_len(&sizes), 12);
    let gae =
        AdvantagePlan::<f64>::new(AdvantageEstimator::Gae, &AdvantageConfig::default()).unwrap();
    assert_eq!(gae.scratch_len(&sizes), 0);
    // A token plan with no scratch at all, on a no-allocation path.
    let bits = [true, true, false, true];
    let mask = Mask::new(&bits, 2).unwrap();
    let r = [0.0, 1.0, f64::NAN, 2.0];
    let v = [0.5, 0.5, f64::NAN, 1.0];
    let (mut a, mut ret) = ([0.0; 4], [0.0; 4]);
    gae.run(
        &mut a,
        &mut ret,
        &AdvantageInputs::new(&r, mask).with_values(&v),
        &mut [],
    )
    .unwrap();
    assert_eq!((a[2], ret[2]), (0.0, 0.0));
}

#[test]
fn hand_computed_plan_outputs() {
    // Dr. GRPO under verl with a singleton: groups {0, 2} (scores 1, 0) and {1} (score 3).
    // Group 0: mean 1/2 -> ±1/2; the singleton keeps its raw score (verl), broadcast to 2 tokens.
    let groups = GroupIndex::new(&[0, 1, 0], 2).unwrap();
    let bits = [true, true, true, false, true, true];
    let mask = Mask::new(&bits, 2).unwrap();
    let r = [0.0, 1.0, 3.0, f64::NAN, 0.0, 0.0];
    let cfg = AdvantageConfig::<f64>::new(Preset::Verl).with_norm_by_std(false);
    let plan = AdvantagePlan::new(AdvantageEstimator::Grpo, &cfg).unwrap();
    let inputs = AdvantageInputs::new(&r, mask).with_groups(&groups);
    let mut scratch = vec![0.0; plan.scratch_len(&PlanSizes::of(&inputs))];
    let (mut a, mut ret) = ([0.0; 6], [0.0; 6]);
    plan.run(&mut a, &mut ret, &inputs, &mut scratch).unwrap();
    assert_eq!(a, [0.5, 0.5, 3.0, 0.0, -0.5, -0.5]);
    assert_eq!(ret, a);
    // The same under rewardkit: the singleton gets 0.
    let plan = AdvantagePlan::new(
        AdvantageEstimator::DrGrpo,
        &AdvantageConfig::<f64>::new(Preset::Rewardkit),
    )
    .unwrap();
    plan.run(&mut a, &mut ret, &inputs, &mut scratch).unwrap();
    assert_eq!(a, [0.5, 0.5, 0.0, 0.0, -0.5, -0.5]);
}

#[test]
fn seam_errors() {
    let groups = GroupIndex::uniform(4, 2).unwrap();
    let mut m = [GroupMoments::default(); 2];
    assert_eq!(
        group_moments(&mut m, &[1.0, f64::NAN, 0.0, 1.0], &groups),
        Err(Error::NonFinite {
            what: "x",
            index: 1
        })
    );
    assert_eq!(
        group_moments(&mut m[..1], &[1.0, 2.0, 0.0, 1.0], &groups),
        Err(Error::LengthMismatch {
            what: "out",
            expected: 2,
            got: 1
        })
    );
    assert!(matches!(
        group_moments(&mut m, &[f64::MAX, -f64::MAX, 0.0, 1.0], &groups),
        Err(Error::Overflow { .. })
    ));
    let rule = AffineRule::new(GroupScale::Std { eps: 0.0 }, Singleton::Error).unwrap();
    assert_eq!(
        rule.coefficients(
            5,
            &GroupMoments {
                count: 1,
                mean: 1.0,
                m2: 0.0
            }
        ),
        Err(Error::GroupTooSmall {
            group: 5,
            size: 1,
            min: 2
        })
    );
    assert_eq!(
        rule.coefficients(0, &GroupMoments::default()),
        Err(Error::Empty { what: "group" })
    );
    assert!(matches!(
        AffineRule::new(GroupScale::Std { eps: f64::NAN }, Singleton::Zero),
        Err(Error::InvalidParam { name: "eps", .. })
    ));
    assert!(matches!(
        AffineRule::new(GroupScale::Constant(f64::INFINITY), Singleton::Zero),
        Err(Error::InvalidParam { name: "scale", .. })
    ));
    let mut c = [Affine::default(); 1];
    assert!(matches!(
        group_affine_coefficients(&mut c, &m, &rule),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    let coefs = [Affine { a: 0.0, b: 1e30 }, Affine { a: 0.0, b: 1.0 }];
    let mut out = [0.0f32; 4];
    assert_eq!(
        apply_group_affine(&mut out, &[1e10, 1.0, 0.0, 0.0], &coefs, &groups),
        Err(Error::Overflow {
            what: "advantages (beyond the float range)"
        })
    );
    assert_eq!(
        apply_group_affine(&mut out, &[f32::NAN, 1.0, 0.0, 0.0], &coefs, &groups),
        Err(Error::NonFinite {
            what: "x",
            index: 0
        })
    );
    assert!(matches!(
        apply_group_affine(&mut out, &[1.0, 1.0, 0.0, 0.0], &coefs[..1], &groups),
        Err(Error::LengthMismatch { what: "coefs", .. })
    ));
    // Masked sums: NaN at a valid position is an error, at a masked one it is ignored.
    let bits = [true, false, true, true];
    let mask = Mask::new(&bits, 2).unwrap();
    let mut s = [0.0f32; 2];
    masked_sequence_sums(&mut s, &[1.0, f32::NAN, 2.0, 3.0], mask).unwrap();
    assert_eq!(s, [1.0, 5.0]);
    assert_eq!(
        masked_sequence_sums(&mut s, &[1.0, 0.0, f32::INFINITY, 3.0], mask),
        Err(Error::NonFinite {
            what: "token_rewards",
            index: 2
        })
    );
    assert!(matches!(
        masked_sequence_sums(&mut s, &[3e38, 0.0, 3e38, 3e38], mask),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        masked_sequence_sums(&mut s[..1], &[1.0, 0.0, 2.0, 3.0], mask),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    // AffineScale::rule: a NaN score poisons the batch std.
    assert!(matches!(
        AffineScale::BatchStd { eps: 1e-6 }.rule(Singleton::Zero, &[1.0, f64::NAN]),
        Err(Error::NonFinite {
            what: "scores",
            index: 1
        })
    ));
    // Missing inputs through the plan.
    let plan =
        AdvantagePlan::<f64>::new(AdvantageEstimator::Remax, &AdvantageConfig::default()).unwrap();
    let r = [0.0, 1.0, 0.0, 0.0];
    let (mut a, mut ret) = ([0.0; 4], [0.0; 4]);
    assert_eq!(
        plan.run(&mut a, &mut ret, &AdvantageInputs::new(&r, mask), &mut []),
        Err(Error::MissingInput {
            what: "reward_baselines"
        })
    );
}

#[test]
fn returns_match_their_oracle_with_garbage_under_the_mask() {
    // discounted_returns never reads a masked reward (NaN there) and writes 0 there.
    let bits = [true, false, true, false, true, true];
    let mask = Mask::new(&bits, 3).unwrap();
    let r = [1.0, f64::NAN, 2.0, f64::INFINITY, 0.5, -1.0];
    let mut g = [0.0; 6];
    discounted_returns(&mut g, &r, mask, 0.5).unwrap();
    let clean = [1.0, 0.0, 2.0, 0.0, 0.5, -1.0];
    let mut want = oracle::mc_returns(&clean[..3], &bits[..3], 0.5);
    want.extend(oracle::mc_returns(&clean[3..], &bits[3..], 0.5));
    assert_oracle("returns", &g, &want);
    assert_eq!(g, [2.0, 0.0, 2.0, 0.0, 0.0, -1.0]);
}
