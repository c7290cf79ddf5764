//! RL kernels against the core's seams, on random shapes: per-sequence advantages against
//! `AdvantagePlan::run_per_sequence` (the GPU runs the core's plan stage by stage), returns and GAE
//! against `discounted_returns` / `gae`, KL estimators against `KlPenalty::forward`, token losses
//! against `policy_loss` and the per-token seam `PolicyLoss::token` (with `row_context`), loss parts
//! against `LossParts::from_row_sums`, the logits ops against the `logits` module (backward passes
//! accumulate into a non-zero buffer), and the fused step against the core's chain. Every GPU call
//! takes the core's own parameter types (`PolicyLoss<f32>`, `KlPenalty<f32>`, `Whiten<f32>`,
//! `AdvantagePlan<f32>`); the `f64` oracle widens them exactly.
//!
//! Tolerances (f32 kernels vs the f64 core): advantages `1e-4·(scale + |x|)`; returns and GAE
//! `(T + 2)·2⁻²³·Σ|terms|`; KL `2e-6 + 1e-5·|x|`; losses and gradients `1e-6 + 1e-5·|x|`;
//! logits ops `2e-5·(1 + |x|)` with `|z| ≤ 8`.

use proptest::prelude::*;
use rewardkit_core::advantage::{
    self, AdvantageConfig, AdvantageInputs, AdvantagePlan, AffineScale, Gae, GroupStage, PlanSizes,
    Scale, Singleton, Stages,
};
use rewardkit_core::logits::{self, RowStats};
use rewardkit_core::loss::{
    Aggregation, LossParts, PolicyInputs, PolicyLoss, PolicyLossKind, TokenInputs,
    entropy_upstream, policy_loss,
};
use rewardkit_core::stats::Whiten;
use rewardkit_core::{
    AdvantageEstimator, Error, GroupIndex, KlEstimator, KlPenalty, KlTerm, Mask, Preset,
};
use rewardkit_gpu::{GpuContext, GpuError, GpuGroups, PolicyBuffers, RlStepBuffers, ScanMode};
use rewardkit_tests::gpu::{
    U32, assert_close, assert_within, context, down, fill, is_core, up, up_u32, widen_loss,
    widen_penalty, widen_whiten,
};

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

fn bits_of(mask: &[u32]) -> Vec<bool> {
    mask.iter().map(|&m| m != 0).collect()
}

// ---------------------------------------------------------------------------------------------
// Per-sequence advantages: the core's plan, stage by stage on the device
// ---------------------------------------------------------------------------------------------

/// Group ids: `g` groups with sizes in `1..=max_k` (some groups of one), shuffled; a `(B, T)`
/// batch of token rewards whose rows have `0..=T` valid tokens (a prefix), each row's outcome
/// reward (ties, zero-variance groups) on its last valid token and small process rewards before
/// it, NaN at masked positions (never read).
fn grouped_tokens() -> impl Strategy<Value = (Vec<u32>, usize, usize, Vec<u32>, Vec<f32>)> {
    (1usize..=7, 1usize..=40, 1usize..=9).prop_flat_map(|(g, max_k, t)| {
        prop::collection::vec(1..=max_k, g).prop_flat_map(move |sizes| {
            let mut ids: Vec<u32> = Vec::new();
            for (gid, &k) in sizes.iter().enumerate() {
                ids.extend(std::iter::repeat_n(gid as u32, k));
            }
            let b = ids.len();
            let outcome = prop::collection::vec(
                prop_oneof![3 => -5.0f32..5.0, 1 => prop::sample::select(vec![0.0f32, 1.0])],
                b,
            );
            let lens = prop::collection::vec(prop_oneof![1 => Just(0usize), 6 => 1..=t], b);
            let process = prop::collection::vec(-0.1f32..0.1, b * t);
            (Just(ids), Just(g), Just(t), lens, outcome, process).prop_perturb(
                |(mut ids, g, t, lens, outcome, process), mut rng| {
                    for i in (1..ids.len()).rev() {
                        let j = rng.random_range(0..=i);
                        ids.swap(i, j);
                    }
                    let b = ids.len();
                    let (mut mask, mut rewards) = (vec![0u32; b * t], vec![f32::NAN; b * t]);
                    for i in 0..b {
                        for k in 0..lens[i] {
                            mask[i * t + k] = 1;
                            rewards[i * t + k] = if k + 1 == lens[i] {
                                outcome[i]
                            } else {
                                process[i * t + k]
                            };
                        }
                    }
                    (ids, g, t, mask, rewards)
                },
            )
        })
    })
}

/// The per-sequence plans: every per-sequence estimator under every preset, with TRL's batch
/// scaling and verl's `norm_adv_by_std_in_grpo = false`.
fn plan_configs() -> Vec<(
    AdvantageEstimator,
    AdvantageConfig<f32>,
    AdvantageConfig<f64>,
)> {
    use AdvantageEstimator as E;
    let mut v = Vec::new();
    for preset in [
        Preset::Rewardkit,
        Preset::Verl,
        Preset::OpenRlhf,
        Preset::Trl,
    ] {
        let (c32, c64) = (
            AdvantageConfig::<f32>::new(preset),
            AdvantageConfig::<f64>::new(preset),
        );
        for est in [
            E::Grpo,
            E::DrGrpo,
            E::GrpoPassK,
            E::Rloo,
            E::Opo,
            E::Gpg,
            E::ReinforcePlusPlusBaseline,
        ] {
            v.push((est, c32, c64));
        }
        v.push((
            E::Grpo,
            c32.with_scale(Scale::Batch),
            c64.with_scale(Scale::Batch),
        ));
        v.push((
            E::Grpo,
            c32.with_norm_by_std(false),
            c64.with_norm_by_std(false),
        ));
        v.push((
            E::ReinforcePlusPlusBaseline,
            c32.with_no_std_norm(true),
            c64.with_no_std_norm(true),
        ));
    }
    v
}

/// The core's per-sequence result in `f64`, or its error.
fn cpu_plan(
    est: AdvantageEstimator,
    cfg: &AdvantageConfig<f64>,
    rewards: &[f64],
    bits: &[bool],
    t: usize,
    gi: &GroupIndex<'_>,
) -> Result<Vec<f64>, Error> {
    let plan = AdvantagePlan::<f64>::new(est, cfg)?;
    let mask = Mask::new(bits, t)?;
    let inputs = AdvantageInputs::new(rewards, mask).with_groups(gi);
    let mut scratch = vec![0.0f64; plan.scratch_len(&PlanSizes::of(&inputs))];
    let mut out = vec![0.0; bits.len() / t];
    plan.run_per_sequence(&mut out, &inputs, &mut scratch)?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Every per-sequence plan the GPU runs: equal to the core within `1e-4·(scale + |x|)` (the
    /// division by a small standard deviation amplifies the f32 rounding of the centred value);
    /// the same error where the core fails (a singleton under `Singleton::Error`, pass@k with a
    /// group of one); `Unsupported` exactly for the stages the device does not run (TRL's GRPO
    /// block). Stage 1 alone against `masked_sequence_sums`.
    #[test]
    fn per_sequence_plans_match_core((ids, g, t, mask, rewards) in grouped_tokens()) {
        prop_assume!(mask.contains(&1));
        let Some(ctx) = context("per_sequence_plans_match_core") else { return Ok(()) };
        let gi = GroupIndex::new(&ids, g).unwrap();
        let groups = GpuGroups::new(ctx, &gi).unwrap();
        let bits = bits_of(&mask);
        let cmask = Mask::new(&bits, t).unwrap();
        let b = ids.len();
        let (gr, gm) = (up(ctx, &rewards), ctx.upload_mask(cmask).unwrap());
        let r64 = f64s(&rewards);
        // Stage 1: scores and lengths.
        let (scores, lens) = (ctx.zeros::<f32>(b).unwrap(), ctx.zeros::<f32>(b).unwrap());
        ctx.masked_sequence_sums(&scores, &lens, &gr, &gm, t).unwrap();
        let mut want = vec![0.0; b];
        advantage::masked_sequence_sums(&mut want, &r64, cmask).unwrap();
        assert_close("masked_sequence_sums", &down(ctx, &scores), &want, 1e-6, 1e-6);
        let mut want_lens = vec![0u32; b];
        cmask.row_lens_u32(&mut want_lens).unwrap();
        let got_lens: Vec<u32> = down(ctx, &lens).iter().map(|&l| l as u32).collect();
        prop_assert_eq!(got_lens, want_lens);
        let scale = 1.0 + want.iter().map(|x| x.abs()).fold(0.0, f64::max);
        let out = ctx.zeros::<f32>(b).unwrap();
        for (est, c32, c64) in plan_configs() {
            let plan = AdvantagePlan::<f32>::new(est, &c32).unwrap();
            let what = format!("{est:?} {:?} {:?}", c32.preset(), plan.stages);
            let got = ctx.advantages_per_sequence(&out, &gr, &gm, t, &groups, &plan);
            let cpu = cpu_plan(est, &c64, &r64, &bits, t, &gi);
            let Stages::Sequence(s) = plan.stages else { unreachable!("{what}") };
            if matches!(s.group, GroupStage::Trl { .. }) {
                prop_assert!(matches!(got, Err(GpuError::Unsupported { .. })), "{}: {:?}", what, got);
                continue;
            }
            match cpu {
                Ok(want) => {
                    got.unwrap();
                    let got = down(ctx, &out);
                    assert_within(&what, &got, &want, |i| 1e-4 * (scale + want[i].abs()));
                }
                Err(e) => {
                    prop_assert_eq!(got, Err(GpuError::Core(e)), "{}", what);
                }
            }
        }
    }
}

#[test]
fn group_stage_literals_and_errors() {
    let Some(ctx) = context("group_stage_literals_and_errors") else {
        return;
    };
    // Group {1, 2, 3}: mean 2, sample std 1; a zero-variance group {0.7, 0.7} gives exact zeros.
    let gi = GroupIndex::new(&[0, 0, 1, 0, 1], 2).unwrap();
    let groups = GpuGroups::new(ctx, &gi).unwrap();
    let s = up(ctx, &[1.0, 2.0, 0.7, 3.0, 0.7]);
    let out = ctx.zeros::<f32>(5).unwrap();
    let grpo = GroupStage::Affine {
        scale: AffineScale::GroupStd { eps: 0.0 },
        singleton: Singleton::Zero,
    };
    ctx.group_advantages(&out, &s, None, &groups, &grpo)
        .unwrap();
    assert_eq!(down(ctx, &out), [-1.0, 0.0, 0.0, 1.0, 0.0]);
    // The group std per row: 1 for {1, 2, 3}, 0 for {0.7, 0.7}.
    ctx.group_std(&out, &s, &groups).unwrap();
    assert_eq!(down(ctx, &out), [1.0, 1.0, 0.0, 1.0, 0.0]);
    // Singleton errors, pass@k with a singleton, OPO without lengths, GPG f_norm = 0, ε < 0; the
    // multi-reward stages are not run on the device.
    let single = GpuGroups::new(ctx, &GroupIndex::new(&[0, 1, 1], 2).unwrap()).unwrap();
    let s3 = up(ctx, &[1.0, 2.0, 3.0]);
    let o3 = ctx.zeros::<f32>(3).unwrap();
    let core_errors = [
        GroupStage::Affine {
            scale: AffineScale::LeaveOneOut,
            singleton: Singleton::Error,
        },
        GroupStage::PassK {
            scale_by_std: false,
            eps: 0.0,
        },
        GroupStage::Opo {
            singleton: Singleton::Zero,
        },
        GroupStage::Affine {
            scale: AffineScale::Gpg {
                f_norm: 0.0,
                alpha_f32: false,
            },
            singleton: Singleton::Zero,
        },
        GroupStage::Affine {
            scale: AffineScale::GroupStd { eps: -1.0 },
            singleton: Singleton::Zero,
        },
    ];
    for stage in core_errors {
        let e = ctx
            .group_advantages(&o3, &s3, None, &single, &stage)
            .expect_err("invalid");
        assert!(is_core(&e), "{stage:?}: {e}");
    }
    let e = ctx
        .group_advantages(
            &o3,
            &s3,
            None,
            &single,
            &GroupStage::Affine {
                scale: AffineScale::LeaveOneOut,
                singleton: Singleton::Error,
            },
        )
        .expect_err("singleton");
    assert_eq!(
        e,
        GpuError::Core(Error::GroupTooSmall {
            group: 0,
            size: 1,
            min: 2
        })
    );
    let e = ctx.group_std(&out, &s3, &single).expect_err("len");
    assert!(is_core(&e), "{e}");
    // Plans: a token-level plan has no (B) result (the core's error); stages from reward
    // components and TRL's block are not run on the device.
    let groups2 = GpuGroups::new(ctx, &GroupIndex::uniform(2, 2).unwrap()).unwrap();
    let (r, m, o2) = (
        up(ctx, &[0.0, 1.0, 0.0, 0.0]),
        up_u32(ctx, &[1, 1, 1, 1]),
        ctx.zeros::<f32>(2).unwrap(),
    );
    let plan = |est, preset| AdvantagePlan::<f32>::new(est, &AdvantageConfig::new(preset)).unwrap();
    let e = ctx
        .advantages_per_sequence(
            &o2,
            &r,
            &m,
            2,
            &groups2,
            &plan(AdvantageEstimator::Gae, Preset::Rewardkit),
        )
        .expect_err("token plan");
    assert!(
        matches!(e, GpuError::Core(Error::InvalidParam { name: "plan", .. })),
        "{e}"
    );
    for (est, preset) in [
        (AdvantageEstimator::Grpo, Preset::Trl),
        (AdvantageEstimator::SumThenNormalize, Preset::Rewardkit),
        (AdvantageEstimator::Gdpo, Preset::Rewardkit),
        (AdvantageEstimator::NormalizeThenSum, Preset::Rewardkit),
    ] {
        let e = ctx
            .advantages_per_sequence(&o2, &r, &m, 2, &groups2, &plan(est, preset))
            .expect_err("not on the device");
        assert!(matches!(e, GpuError::Unsupported { .. }), "{est:?}: {e}");
    }
    // Shapes: T must divide the mask, the mask's rows must be the groups' rows.
    let rloo = plan(AdvantageEstimator::Rloo, Preset::Rewardkit);
    for (t, groups) in [(3, &groups2), (1, &groups2), (2, &single)] {
        let e = ctx
            .advantages_per_sequence(&o2, &r, &m, t, groups, &rloo)
            .expect_err("shape");
        assert!(is_core(&e), "T = {t}: {e}");
    }
    // The literal of the core's plan example: RLOO over shuffled rows.
    let shuffled = GpuGroups::new(ctx, &GroupIndex::new(&[0, 1, 1, 0], 2).unwrap()).unwrap();
    let rw = up(ctx, &[0.0, 1.0, 0.0, f32::NAN, 1.0, 0.0, 0.0, 7.0]);
    let mk = ctx
        .upload_mask(Mask::new(&[true, true, true, false, true, true, true, false], 2).unwrap())
        .unwrap();
    let o4 = ctx.zeros::<f32>(4).unwrap();
    ctx.advantages_per_sequence(&o4, &rw, &mk, 2, &shuffled, &rloo)
        .unwrap();
    assert_eq!(down(ctx, &o4), [1.0, -1.0, 1.0, -1.0]);
}

/// Masks with holes, all-masked rows, and `T` not a multiple of the scan workgroup.
fn token_batch() -> impl Strategy<Value = (usize, usize, Vec<u32>)> {
    (0usize..=5, 1usize..=300).prop_flat_map(|(b, t)| {
        (
            Just(b),
            Just(t),
            prop::collection::vec(prop_oneof![4 => Just(1u32), 1 => Just(0u32)], b * t),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]
    #[test]
    fn returns_and_gae_match_core((b, t, mask) in token_batch(), seed in 0u64..100,
        gamma in prop::sample::select(vec![1.0f32, 0.99, 0.5, 0.0]),
        lambda in prop::sample::select(vec![1.0f32, 0.95, 0.0])) {
        let Some(ctx) = context("returns_and_gae_match_core") else { return Ok(()) };
        let n = b * t;
        if n == 0 {
            // The core rejects an empty mask (`Empty`); so does the GPU.
            let e = ctx.discounted_returns(&up(ctx, &[]), &up(ctx, &[]), &up_u32(ctx, &[]), t, gamma, ScanMode::Rows);
            let empty = matches!(e, Err(GpuError::Core(Error::Empty { .. })));
            prop_assert!(empty, "expected Empty");
            return Ok(());
        }
        let rewards = fill(seed, n, -1.0, 1.0);
        let values = fill(seed + 1, n, -1.0, 1.0);
        let bits: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
        let cmask = Mask::new(&bits, t).unwrap();
        let (r64, v64) = (f64s(&rewards), f64s(&values));
        let mut g_cpu = vec![0.0; n];
        advantage::discounted_returns(&mut g_cpu, &r64, cmask, f64::from(gamma)).unwrap();
        let (mut a_cpu, mut ret_cpu) = (vec![0.0; n], vec![0.0; n]);
        let gae_p = Gae::new(f64::from(gamma), f64::from(lambda)).unwrap();
        advantage::gae(&mut a_cpu, &mut ret_cpu, &r64, &v64, cmask, &gae_p).unwrap();
        let (gr, gv, gm) = (up(ctx, &rewards), up(ctx, &values), up_u32(ctx, &mask));
        // Σ|terms| ≤ 3·T for |r|, |v| ≤ 1: the f32 error of a length-T recurrence.
        let bound = (t as f64 + 2.0) * f64::from(f32::EPSILON) * 3.0 * (t as f64 + 1.0) + 1e-6;
        for mode in [ScanMode::Rows, ScanMode::Scan] {
            let g = ctx.zeros::<f32>(n).unwrap();
            ctx.discounted_returns(&g, &gr, &gm, t, gamma, mode).unwrap();
            assert_within(&format!("returns {mode:?}"), &down(ctx, &g), &g_cpu, |_| bound);
            let (a, ret) = (ctx.zeros::<f32>(n).unwrap(), ctx.zeros::<f32>(n).unwrap());
            let gp = Gae::new(gamma, lambda).unwrap();
            ctx.gae(&a, &ret, &gr, &gv, &gm, t, &gp, mode).unwrap();
            assert_within(&format!("gae adv {mode:?}"), &down(ctx, &a), &a_cpu, |_| bound);
            assert_within(&format!("gae ret {mode:?}"), &down(ctx, &ret), &ret_cpu, |_| bound);
        }
    }
}

#[test]
fn returns_literals_and_errors() {
    let Some(ctx) = context("returns_literals_and_errors") else {
        return;
    };
    // The core's doc example: γ = 0.5, reward on the last valid token.
    let (r, m) = (up(ctx, &[0.0, 0.0, 1.0, 0.0]), up_u32(ctx, &[1, 1, 1, 0]));
    for mode in [ScanMode::Rows, ScanMode::Scan] {
        let g = ctx.zeros::<f32>(4).unwrap();
        ctx.discounted_returns(&g, &r, &m, 4, 0.5, mode).unwrap();
        assert_eq!(down(ctx, &g), [0.25, 0.5, 1.0, 0.0]);
    }
    let g = ctx.zeros::<f32>(4).unwrap();
    assert!(is_core(
        &ctx.discounted_returns(&g, &r, &m, 3, 0.5, ScanMode::Rows)
            .expect_err("T")
    ));
    assert!(is_core(
        &ctx.discounted_returns(&g, &r, &m, 4, 1.5, ScanMode::Rows)
            .expect_err("γ")
    ));
    let short = ctx.zeros::<f32>(3).unwrap();
    assert!(is_core(
        &ctx.discounted_returns(&short, &r, &m, 4, 0.5, ScanMode::Rows)
            .expect_err("len")
    ));
}

// ---------------------------------------------------------------------------------------------
// KL estimators and policy losses: the core's parameter types, the per-token seam, the parts
// ---------------------------------------------------------------------------------------------

#[test]
fn kl_estimators_match_core() {
    let Some(ctx) = context("kl_estimators_match_core") else {
        return;
    };
    let n = 1001;
    let mut logp = fill(1, n, -8.0, 0.0);
    let mut rf = fill(2, n, -8.0, 0.0);
    // Small log-ratios (the k3 series), exact zeros and large ones (the clamps).
    for i in 0..50 {
        rf[i] = logp[i] + (i as f32 - 25.0) * 1e-4;
    }
    logp[60] = 0.0;
    rf[60] = -30.0;
    rf[61] = logp[61];
    let (gl, gr) = (up(ctx, &logp), up(ctx, &rf));
    let (v, g) = (ctx.zeros::<f32>(n).unwrap(), ctx.zeros::<f32>(n).unwrap());
    for est in KlEstimator::ALL {
        for pen in [
            KlPenalty::<f32>::new(est),
            KlPenalty::from_preset(Preset::Verl, est).with_straight_through(true),
            KlPenalty::from_preset(Preset::OpenRlhf, est),
            KlPenalty::from_preset(Preset::Trl, est),
        ] {
            ctx.kl_penalty(&v, &g, &gl, &gr, &pen).unwrap();
            let (mut cv, mut cg) = (vec![0.0; n], vec![0.0; n]);
            widen_penalty(&pen)
                .forward(&mut cv, Some(&mut cg), &f64s(&logp), &f64s(&rf))
                .unwrap();
            // Relative to the value for k3's small-ratio series (≈ d²/2).
            assert_close(&format!("{pen:?} value"), &down(ctx, &v), &cv, 1e-5, 2e-6);
            assert_close(&format!("{pen:?} grad"), &down(ctx, &g), &cg, 1e-5, 2e-6);
        }
    }
    let short = ctx.zeros::<f32>(3).unwrap();
    assert!(is_core(
        &ctx.kl_penalty(&short, &g, &gl, &gr, &KlPenalty::default())
            .expect_err("len")
    ));
}

/// Core policy losses (`f32`, built with the core's setters and presets), every kind the GPU runs.
fn losses() -> Vec<PolicyLoss<f32>> {
    use PolicyLossKind as K;
    let k3 = KlTerm::new(KlPenalty::<f32>::new(KlEstimator::K3), 0.1).unwrap();
    let k2 = KlTerm::new(KlPenalty::from_preset(Preset::Verl, KlEstimator::K2), 0.05).unwrap();
    vec![
        PolicyLoss::new(K::Vanilla),
        // DAPO clip-higher with verl's dual clip.
        PolicyLoss::from_preset(Preset::Verl, K::Vanilla)
            .with_clip(0.2, 0.28)
            .unwrap(),
        PolicyLoss::new(K::Vanilla)
            .with_delta(Some(1.5))
            .unwrap()
            .with_kl(Some(k3))
            .with_entropy_coef(0.01)
            .unwrap(),
        PolicyLoss::new(K::Gpg).with_kl(Some(k2)),
        PolicyLoss::from_preset(Preset::Trl, K::Cispo),
        PolicyLoss::from_preset(Preset::Trl, K::Sapo),
        PolicyLoss::new(K::Dro),
        // Token-wise: DPPO's trust regions (with an importance-weighted KL term), VESPO.
        PolicyLoss::from_preset(Preset::Verl, K::DppoTv),
        PolicyLoss::new(K::DppoKl).with_kl(Some(k3.with_importance_weighted(true))),
        PolicyLoss::new(K::Vespo),
        // Sequence-coupled: GSPO (gradient through s; and with an active bound on log s),
        // GSPO-token (verl's bound 10), GMPO (verl's 1e-8).
        PolicyLoss::new(K::Gspo)
            .with_kl(Some(k3))
            .with_entropy_coef(0.01)
            .unwrap(),
        PolicyLoss::new(K::Gspo)
            .with_seq_log_ratio_max(Some(0.0))
            .unwrap(),
        PolicyLoss::from_preset(Preset::Verl, K::GspoToken),
        PolicyLoss::from_preset(Preset::Verl, K::GeoMean)
            .with_clip(0.4, 0.4)
            .unwrap()
            .with_entropy_coef(0.01)
            .unwrap(),
    ]
}

fn aggregations() -> Vec<Aggregation> {
    vec![
        Aggregation::TokenMean,
        Aggregation::TokenSum,
        Aggregation::SeqMeanTokenSum,
        Aggregation::SeqMeanTokenMean { len_eps: 0.0 },
        Aggregation::from_preset(Preset::Verl, "seq-mean-token-mean").unwrap(),
        Aggregation::RowMeanTokenMean,
        Aggregation::RowMeanTokenSumNorm { horizon: 64.0 },
    ]
}

/// A random token batch and its loss inputs.
struct LossBatch {
    mask: Vec<u32>,
    logp: Vec<f32>,
    old: Vec<f32>,
    rf: Vec<f32>,
    ent: Vec<f32>,
    adv: Vec<f32>,
    w: Vec<f32>,
}

impl LossBatch {
    fn new(b: usize, t: usize, mask: Vec<u32>, seed: u64, per_token: bool) -> Self {
        let n = b * t;
        let logp = fill(seed, n, -4.0, -0.01);
        let old = logp
            .iter()
            .zip(fill(seed + 1, n, -0.4, 0.4))
            .map(|(a, d)| a + d)
            .collect();
        let rf = logp
            .iter()
            .zip(fill(seed + 2, n, -0.5, 0.5))
            .map(|(a, d)| a + d)
            .collect();
        Self {
            mask,
            logp,
            old,
            rf,
            ent: fill(seed + 3, n, 0.0, 3.0),
            adv: fill(seed + 4, if per_token { n } else { b }, -2.0, 2.0),
            w: fill(seed + 5, n, 0.0, 2.0),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    /// Every kind and aggregation against `policy_loss` + `Aggregation::scale_grad`: the scaled
    /// gradient, the device-reduced parts, and those parts against `LossParts::from_row_sums` of
    /// the kernel's own per-row partials (with `Mask::row_lens_u32` as the lengths).
    #[test]
    fn policy_losses_match_core(
        (b, t, mask) in token_batch(), seed in 0u64..100, per_token: bool, with_weights: bool,
    ) {
        prop_assume!(mask.contains(&1));
        let Some(ctx) = context("policy_losses_match_core") else { return Ok(()) };
        let n = b * t;
        let x = LossBatch::new(b, t, mask, seed, per_token);
        let bits = bits_of(&x.mask);
        let cmask = Mask::new(&bits, t).unwrap();
        let mut lens = vec![0u32; b];
        cmask.row_lens_u32(&mut lens).unwrap();
        let (glp, gold, gref, gent, gadv, gm) = (up(ctx, &x.logp), up(ctx, &x.old), up(ctx, &x.rf),
            up(ctx, &x.ent), up(ctx, &x.adv), ctx.upload_mask(cmask).unwrap());
        // Detached per-token weights: with the entropies they share one binding (gathered).
        let gw = up(ctx, &x.w);
        let inp = PolicyBuffers { logp: &glp, old_logp: &gold, advantages: &gadv, mask: &gm,
            ref_logp: Some(&gref), weights: with_weights.then_some(&gw), entropy: Some(&gent) };
        let (grad, rows, parts) = (ctx.zeros::<f32>(n).unwrap(), ctx.zeros::<f32>(2 * b).unwrap(), ctx.zeros::<f32>(5).unwrap());
        let (l64, o64, r64, e64, a64, w64) =
            (f64s(&x.logp), f64s(&x.old), f64s(&x.rf), f64s(&x.ent), f64s(&x.adv), f64s(&x.w));
        for loss in losses() {
            for agg in aggregations() {
                ctx.policy_loss(&grad, &rows, &inp, t, &loss).unwrap();
                ctx.loss_parts(&parts, &rows, &agg).unwrap();
                // Parts from the kernel's own row partials, through the core's seam.
                let rp = down(ctx, &rows);
                let row_sums: Vec<f64> = rp.chunks(2).map(|c| c[0]).collect();
                let row_lens: Vec<u32> = rp.chunks(2).map(|c| c[1] as u32).collect();
                prop_assert_eq!(&row_lens, &lens);
                let seam = LossParts::from_row_sums(&row_sums, &row_lens, &agg).unwrap();
                ctx.scale_grad(&grad, &rows, &parts, &gm, t, &agg).unwrap();
                let gp = ctx.read_parts_blocking(&parts).unwrap();
                // CPU chain.
                let mut ci = PolicyInputs::new(&l64, &o64, &a64, cmask).unwrap()
                    .with_ref(&r64).unwrap().with_entropy(&e64).unwrap();
                if with_weights {
                    ci = ci.with_weights(&w64).unwrap();
                }
                let mut cg = vec![0.0; n];
                let cp = policy_loss(&mut cg, &ci, &widen_loss(&loss), &agg).unwrap();
                agg.scale_grad(&mut cg, cmask, &cp).unwrap();
                let what = format!("{loss:?} {agg:?} weights={with_weights}");
                prop_assert_eq!((gp.tokens, gp.seqs, gp.rows), (cp.tokens, cp.seqs, cp.rows));
                prop_assert_eq!((seam.tokens, seam.seqs, seam.rows), (cp.tokens, cp.seqs, cp.rows));
                let atol = 1e-5 * n as f64;
                assert_close(&what, &[gp.sum, gp.seq_mean_sum], &[cp.sum, cp.seq_mean_sum], 1e-5, atol);
                assert_close(&format!("{what} from_row_sums"), &[seam.sum, seam.seq_mean_sum],
                    &[gp.sum, gp.seq_mean_sum], 1e-5, atol);
                assert_close(&what, &down(ctx, &grad), &cg, 1e-5, 1e-6);
                // The value is a part divided by a normalizer >= 1: within the parts' bound.
                let (gv, cv) = (agg.value::<f64>(&gp, &gp).unwrap(), agg.value::<f64>(&cp, &cp).unwrap());
                assert_close(&what, &[gv], &[cv], 1e-5, atol);
            }
        }
    }

    /// The per-token seam: for every kind with a per-token form, the kernel's `∂/∂ log π` (before
    /// aggregation) is `PolicyLoss::token`'s `dlogp` (plus GSPO's `Σ dseq / L`, pass 3) with the
    /// row's `RowContext` from `row_context`, and each row's partial sum is `Σ value` over its
    /// valid tokens.
    #[test]
    fn policy_loss_follows_the_per_token_seam(
        (b, t, mask) in token_batch(), seed in 0u64..100, per_token: bool,
    ) {
        prop_assume!(mask.contains(&1));
        let Some(ctx) = context("policy_loss_follows_the_per_token_seam") else { return Ok(()) };
        let n = b * t;
        let x = LossBatch::new(b, t, mask, seed, per_token);
        let bits = bits_of(&x.mask);
        let cmask = Mask::new(&bits, t).unwrap();
        let (glp, gold, gref, gent, gadv, gm, gw) = (up(ctx, &x.logp), up(ctx, &x.old), up(ctx, &x.rf),
            up(ctx, &x.ent), up(ctx, &x.adv), ctx.upload_mask(cmask).unwrap(), up(ctx, &x.w));
        let inp = PolicyBuffers { logp: &glp, old_logp: &gold, advantages: &gadv, mask: &gm,
            ref_logp: Some(&gref), weights: Some(&gw), entropy: Some(&gent) };
        let (grad, rows) = (ctx.zeros::<f32>(n).unwrap(), ctx.zeros::<f32>(2 * b).unwrap());
        let (l64, o64, r64, e64, a64, w64) =
            (f64s(&x.logp), f64s(&x.old), f64s(&x.rf), f64s(&x.ent), f64s(&x.adv), f64s(&x.w));
        for loss in losses().into_iter().filter(|l| l.kind() != PolicyLossKind::GeoMean) {
            ctx.policy_loss(&grad, &rows, &inp, t, &loss).unwrap();
            let (g, rp) = (down(ctx, &grad), down(ctx, &rows));
            let core = widen_loss(&loss);
            let what = format!("{loss:?}");
            for i in 0..b {
                let span = i * t..(i + 1) * t;
                let ctx_row = core.row_context(&l64[span.clone()], &o64[span.clone()], &bits[span.clone()]).unwrap();
                let (mut sum, mut dseq, mut len) = (0.0, 0.0, 0usize);
                let mut dlogp = vec![0.0; t];
                for (k, d) in dlogp.iter_mut().enumerate() {
                    let j = i * t + k;
                    if !bits[j] {
                        continue;
                    }
                    let tok = TokenInputs {
                        weight: w64[j],
                        ref_logp: r64[j],
                        entropy: e64[j],
                        ..TokenInputs::new(l64[j], o64[j], a64[if per_token { j } else { i }])
                    };
                    let term = core.token(&tok, &ctx_row).unwrap();
                    sum += term.value;
                    dseq += term.dseq;
                    *d = term.dlogp;
                    len += 1;
                }
                let shared = dseq / len.max(1) as f64;
                let want: Vec<f64> = (0..t).map(|k| if bits[i * t + k] { dlogp[k] + shared } else { 0.0 }).collect();
                assert_close(&format!("{what} row {i} grad"), &g[i * t..(i + 1) * t], &want, 1e-5, 1e-6);
                assert_close(&format!("{what} row {i} sum"), &[rp[2 * i]], &[sum], 1e-5, 1e-5 * t as f64);
                prop_assert_eq!(rp[2 * i + 1] as usize, len);
            }
        }
    }
}

#[test]
fn policy_loss_errors() {
    let Some(ctx) = context("policy_loss_errors") else {
        return;
    };
    let x = up(ctx, &[-1.0, -1.0]);
    let m = up_u32(ctx, &[1, 1]);
    let (grad, rows) = (ctx.zeros::<f32>(2).unwrap(), ctx.zeros::<f32>(2).unwrap());
    let inp = PolicyBuffers {
        logp: &x,
        old_logp: &x,
        advantages: &x,
        mask: &m,
        ref_logp: None,
        weights: None,
        entropy: None,
    };
    let kl = PolicyLoss::new(PolicyLossKind::Vanilla)
        .with_kl(Some(KlTerm::new(KlPenalty::default(), 0.1).unwrap()));
    assert!(is_core(
        &ctx.policy_loss(&grad, &rows, &inp, 2, &kl)
            .expect_err("no ref")
    ));
    let ent = PolicyLoss::new(PolicyLossKind::Vanilla)
        .with_entropy_coef(0.1)
        .unwrap();
    assert!(is_core(
        &ctx.policy_loss(&grad, &rows, &inp, 2, &ent)
            .expect_err("no entropy")
    ));
    assert!(is_core(
        &ctx.policy_loss(&grad, &rows, &inp, 3, &PolicyLoss::new(PolicyLossKind::Gpg))
            .expect_err("T")
    ));
    // A VESPO shape the core accepts but whose φ leaves f32 on the device.
    let vespo = PolicyLoss::new(PolicyLossKind::Vespo)
        .with_vespo(5.0, 1.0, 1.0, 1.0)
        .unwrap();
    assert!(matches!(
        ctx.policy_loss(&grad, &rows, &inp, 2, &vespo),
        Err(GpuError::Core(Error::InvalidParam {
            name: "vespo_k_pos",
            ..
        }))
    ));
    // Batch-level selection is not run on the device.
    for kind in [PolicyLossKind::ClipCov, PolicyLossKind::KlCov] {
        let e = ctx
            .policy_loss(&grad, &rows, &inp, 2, &PolicyLoss::new(kind))
            .expect_err("batch-level selection");
        assert!(matches!(e, GpuError::Unsupported { .. }), "{kind:?}: {e}");
    }
    // The fused step takes token-wise losses only.
    let (z, ids) = (up(ctx, &[0.0; 4]), ctx.upload_ids(&[0, 1], 2).unwrap());
    let (g, tok, rows2, parts) = (
        ctx.zeros::<f32>(4).unwrap(),
        ctx.zeros::<f32>(6).unwrap(),
        ctx.zeros::<f32>(2).unwrap(),
        ctx.zeros::<f32>(5).unwrap(),
    );
    let s = RlStepBuffers {
        grad_logits: &g,
        tok: &tok,
        rows: &rows2,
        parts: &parts,
        logits: &z,
        ids: &ids,
        old_logp: &x,
        ref_logp: None,
        advantages: &up(ctx, &[1.0]),
        mask: &m,
    };
    for kind in [
        PolicyLossKind::Gspo,
        PolicyLossKind::GspoToken,
        PolicyLossKind::GeoMean,
        PolicyLossKind::Vespo,
        PolicyLossKind::ClipCov,
        PolicyLossKind::KlCov,
    ] {
        let e = ctx
            .rl_step(&s, 2, 2, &PolicyLoss::new(kind), &Aggregation::TokenMean)
            .expect_err("not token-wise");
        assert!(matches!(e, GpuError::Unsupported { .. }), "{kind:?}: {e}");
    }
    let e = ctx
        .rl_step(&s, 2, 2, &kl, &Aggregation::TokenMean)
        .expect_err("no ref");
    assert!(is_core(&e), "{e}");
    // An all-masked batch: parts with zero tokens, and the aggregation reports TooFewValid.
    let m0 = up_u32(ctx, &[0, 0]);
    let inp0 = PolicyBuffers { mask: &m0, ..inp };
    let parts = ctx.zeros::<f32>(5).unwrap();
    ctx.policy_loss(
        &grad,
        &rows,
        &inp0,
        2,
        &PolicyLoss::new(PolicyLossKind::Gpg),
    )
    .unwrap();
    ctx.loss_parts(&parts, &rows, &Aggregation::TokenMean)
        .unwrap();
    let p = ctx.read_parts_blocking(&parts).unwrap();
    assert_eq!((p.tokens, p.sum), (0, 0.0));
    assert_eq!(
        p,
        LossParts::from_mask(Mask::new(&[false, false], 2).unwrap())
    );
    assert!(Aggregation::TokenMean.value::<f64>(&p, &p).is_err());
    assert_eq!(down(ctx, &grad), [0.0, 0.0]);
}

// ---------------------------------------------------------------------------------------------
// Logits ops against the core's logits module (backward passes accumulate)
// ---------------------------------------------------------------------------------------------

/// Logits rows with `V` not a multiple of the workgroup, ties for the maximum, a confident row.
fn logits_case() -> impl Strategy<Value = (usize, usize, u64)> {
    (0usize..=6, 1usize..=700, 0u64..100)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]
    /// Forward passes against `logits::*_forward`; backward passes add into a non-zero gradient
    /// buffer exactly as `logits::*_backward` do, and leave rows with a zero upstream gradient (a
    /// masked position) as they are.
    #[test]
    fn logits_ops_match_core((n, v, seed) in logits_case()) {
        let Some(ctx) = context("logits_ops_match_core") else { return Ok(()) };
        let mut z = fill(seed, n * v, -8.0, 8.0);
        let zr = fill(seed + 1, n * v, -8.0, 8.0);
        if n > 0 && v > 2 {
            z[1] = z[0].max(z[1]) + 30.0; // a confident row (tail ~e^-30)
        }
        if n > 1 && v > 2 {
            z[v] = z[v + 1].max(z[v + 2]); // a tie for the maximum is possible in row 1
            z[v + 1] = z[v];
        }
        let ids: Vec<u32> = fill(seed + 2, n, 0.0, v as f64).iter().map(|&x| (x as u32).min(v as u32 - 1)).collect();
        let mut up_g = fill(seed + 3, n, -2.0, 2.0);
        if n > 2 {
            up_g[2] = 0.0; // a masked position: its gradient row is not touched
        }
        // The gradient buffer the backward passes add into.
        let g0 = fill(seed + 4, n * v, -1.0, 1.0);
        let (z64, zr64, g64) = (f64s(&z), f64s(&zr), f64s(&up_g));
        let (gz, gzr, gup) = (up(ctx, &z), up(ctx, &zr), up(ctx, &up_g));
        let gids = ctx.upload_ids(&ids, v).unwrap();
        let row = ctx.zeros::<f32>(n).unwrap();
        let full = ctx.zeros::<f32>(n * v).unwrap();
        let tol = |w: &[f64]| { let w = w.to_vec(); move |i: usize| 2e-5 * (1.0 + w[i].abs()) };
        if n == 0 {
            // The core rejects empty logits (`Empty`); so does the GPU.
            let e = ctx.logprobs_forward(&row, &gz, &gids, v);
            let empty = matches!(e, Err(GpuError::Core(Error::Empty { .. })));
            prop_assert!(empty, "expected Empty");
            return Ok(());
        }
        let (mut s, mut sr) = (vec![RowStats::default(); n], vec![RowStats::default(); n]);
        let mut c = vec![0.0; n];
        logits::logprobs_forward(&mut c, &mut s, &z64, &ids, v).unwrap();
        ctx.logprobs_forward(&row, &gz, &gids, v).unwrap();
        assert_within("logprobs_forward", &down(ctx, &row), &c, tol(&c));
        let mut cf = f64s(&g0);
        logits::logprobs_backward(&mut cf, &g64, &z64, &s, &ids, v).unwrap();
        ctx.write(&full, &g0).unwrap();
        ctx.logprobs_backward(&full, &gup, &gz, &gids, v).unwrap();
        assert_within("logprobs_backward (+=)", &down(ctx, &full), &cf, tol(&cf));
        logits::entropy_forward(&mut c, &mut s, &z64, v).unwrap();
        ctx.entropy_forward(&row, &gz, v).unwrap();
        assert_within("entropy_forward", &down(ctx, &row), &c, tol(&c));
        let h = c.clone();
        let mut cf = f64s(&g0);
        logits::entropy_backward(&mut cf, &g64, &z64, &s, &h, v).unwrap();
        ctx.write(&full, &g0).unwrap();
        ctx.entropy_backward(&full, &gup, &gz, v).unwrap();
        assert_within("entropy_backward (+=)", &down(ctx, &full), &cf, tol(&cf));
        logits::full_kl_forward(&mut c, &mut s, &mut sr, &z64, &zr64, v).unwrap();
        ctx.full_kl_forward(&row, &gz, &gzr, v).unwrap();
        assert_within("full_kl_forward", &down(ctx, &row), &c, tol(&c));
        let kl = c.clone();
        let mut cf = f64s(&g0);
        logits::full_kl_backward(&mut cf, &g64, &z64, &zr64, &s, &sr, &kl, v).unwrap();
        ctx.write(&full, &g0).unwrap();
        ctx.full_kl_backward(&full, &gup, &gz, &gzr, v).unwrap();
        assert_within("full_kl_backward (+=)", &down(ctx, &full), &cf, tol(&cf));
        if n > 2 {
            // The masked row is bit for bit what was there.
            let got = ctx.read_blocking(&full).unwrap();
            prop_assert_eq!(&got[2 * v..3 * v], &g0[2 * v..3 * v]);
        }
        // log-softmax against the core's.
        ctx.log_softmax(&full, &gz, v).unwrap();
        let mut want = vec![0.0; n * v];
        logits::log_softmax_forward(&mut want, &mut s, &z64, v).unwrap();
        assert_within("log_softmax", &down(ctx, &full), &want, tol(&want));
    }
}

#[test]
fn logits_errors_and_confident_rows() {
    let Some(ctx) = context("logits_errors_and_confident_rows") else {
        return;
    };
    assert!(is_core(&ctx.upload_ids(&[0, 3], 3).expect_err("id 3 >= V")));
    let z = up(ctx, &[0.0; 6]);
    let out = ctx.zeros::<f32>(2).unwrap();
    assert!(is_core(
        &ctx.entropy_forward(&out, &z, 4).expect_err("V ∤ len")
    ));
    assert!(is_core(
        &ctx.entropy_forward(&out, &z, 2)
            .expect_err("3 rows, out of 2")
    ));
    // A confident row keeps its tail: log π(argmax) = −log1p(e^-40 + e^-40) ≈ −2·e^-40, and the
    // gradient of log π(argmax) is 1 − π ≈ 2·e^-40, not 0.
    let zc = up(ctx, &[40.0, 0.0, 0.0]);
    let ids = ctx.upload_ids(&[0], 3).unwrap();
    let lp = ctx.zeros::<f32>(1).unwrap();
    ctx.logprobs_forward(&lp, &zc, &ids, 3).unwrap();
    let want = -2.0 * (-40.0f64).exp();
    let got = down(ctx, &lp)[0];
    assert!((got - want).abs() < 1e-3 * want.abs(), "{got} vs {want}");
    let g = ctx.zeros::<f32>(3).unwrap();
    ctx.logprobs_backward(&g, &up(ctx, &[1.0]), &zc, &ids, 3)
        .unwrap();
    let got = down(ctx, &g)[0];
    assert!((got + want).abs() < 1e-3 * want.abs(), "{got} vs {}", -want);
    // Accumulation, literally: the core's doc example, π = (1/4, 3/4), token 1, upstream 2, onto
    // a gradient of ones: 1 + 2·(0 − 1/4), 1 + 2·(1 − 3/4).
    let z2 = up(ctx, &[0.0, 3f32.ln()]);
    let g2 = up(ctx, &[1.0, 1.0]);
    let id1 = ctx.upload_ids(&[1], 2).unwrap();
    ctx.logprobs_backward(&g2, &up(ctx, &[2.0]), &z2, &id1, 2)
        .unwrap();
    assert_close("accumulate", &down(ctx, &g2), &[0.5, 1.5], 0.0, 1e-6);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    /// The fused step against the core's chain: logits::logprobs_forward → entropy_forward →
    /// policy_loss (KL and entropy terms) → scale_grad → entropy_upstream → logits::
    /// logprobs_backward + entropy_backward, both adding into the same non-zero gradient buffer.
    #[test]
    fn fused_rl_step_matches_core_chain(
        (b, t, mask) in token_batch(), v in 2usize..=300, seed in 0u64..100, per_token: bool, with_kl: bool,
    ) {
        prop_assume!(mask.contains(&1) && t <= 40);
        let Some(ctx) = context("fused_rl_step_matches_core_chain") else { return Ok(()) };
        let n = b * t;
        let z = fill(seed, n * v, -4.0, 4.0);
        let ids: Vec<u32> = fill(seed + 1, n, 0.0, v as f64).iter().map(|&x| (x as u32).min(v as u32 - 1)).collect();
        let z64 = f64s(&z);
        let (mut lp, mut s) = (vec![0.0; n], vec![RowStats::default(); n]);
        logits::logprobs_forward(&mut lp, &mut s, &z64, &ids, v).unwrap();
        let old: Vec<f32> = lp.iter().zip(fill(seed + 2, n, -0.3, 0.3)).map(|(&a, d)| a as f32 + d).collect();
        let rf: Vec<f32> = lp.iter().zip(fill(seed + 3, n, -0.3, 0.3)).map(|(&a, d)| a as f32 + d).collect();
        // Per-token or per-sequence advantages, with or without a KL term: the side inputs are
        // gathered into one binding at offsets that depend on both.
        let adv = fill(seed + 4, if per_token { n } else { b }, -2.0, 2.0);
        let bits = bits_of(&mask);
        let cmask = Mask::new(&bits, t).unwrap();
        let g0 = fill(seed + 5, n * v, -0.1, 0.1);
        // PPO with verl's dual clip, or DPPO-KL with an importance-weighted KL term (token-wise).
        let term = with_kl.then(|| KlTerm::new(KlPenalty::new(KlEstimator::K3), 0.1).unwrap());
        let loss = if seed % 2 == 0 {
            PolicyLoss::<f32>::from_preset(Preset::Verl, PolicyLossKind::Vanilla).with_kl(term)
        } else {
            PolicyLoss::new(PolicyLossKind::DppoKl).with_kl(term.map(|t| t.with_importance_weighted(true)))
        }
            .with_entropy_coef(0.01).unwrap();
        for agg in [Aggregation::TokenMean, Aggregation::SeqMeanTokenMean { len_eps: 0.0 }] {
            // CPU chain, from the same gradient buffer.
            let (mut h, mut hs) = (vec![0.0; n], vec![RowStats::default(); n]);
            logits::entropy_forward(&mut h, &mut hs, &z64, v).unwrap();
            let (o64, r64, a64) = (f64s(&old), f64s(&rf), f64s(&adv));
            let ci = PolicyInputs::new(&lp, &o64, &a64, cmask).unwrap().with_ref(&r64).unwrap().with_entropy(&h).unwrap();
            let mut g_lp = vec![0.0; n];
            let core = widen_loss(&loss);
            let cp = policy_loss(&mut g_lp, &ci, &core, &agg).unwrap();
            agg.scale_grad(&mut g_lp, cmask, &cp).unwrap();
            let mut g_h = vec![0.0; n];
            entropy_upstream(&mut g_h, cmask, &agg, &cp, core.entropy_coef()).unwrap();
            let mut want = f64s(&g0);
            logits::logprobs_backward(&mut want, &g_lp, &z64, &s, &ids, v).unwrap();
            logits::entropy_backward(&mut want, &g_h, &z64, &hs, &h, v).unwrap();
            // GPU.
            let (gz, gold, gref, gadv, gm) = (up(ctx, &z), up(ctx, &old), up(ctx, &rf), up(ctx, &adv), ctx.upload_mask(cmask).unwrap());
            let gids = ctx.upload_ids(&ids, v).unwrap();
            let (grad, tok) = (up(ctx, &g0), ctx.zeros::<f32>(3 * n).unwrap());
            let (rows, parts) = (ctx.zeros::<f32>(2 * b).unwrap(), ctx.zeros::<f32>(5).unwrap());
            let st = RlStepBuffers { grad_logits: &grad, tok: &tok, rows: &rows, parts: &parts, logits: &gz,
                ids: &gids, old_logp: &gold, ref_logp: Some(&gref), advantages: &gadv, mask: &gm };
            ctx.rl_step(&st, t, v, &loss, &agg).unwrap();
            let gp = ctx.read_parts_blocking(&parts).unwrap();
            prop_assert_eq!((gp.tokens, gp.seqs, gp.rows), (cp.tokens, cp.seqs, cp.rows));
            let what = format!("{agg:?} per_token={per_token} kl={with_kl}");
            assert_close(&what, &[agg.value::<f64>(&gp, &gp).unwrap()], &[agg.value::<f64>(&cp, &cp).unwrap()], 1e-4, 1e-5);
            // Relative to the step's own contribution (what was there is exact in f32 and adds one
            // rounding).
            let gw = f64s(&g0);
            assert_within(&what, &down(ctx, &grad), &want,
                |i| 2e-5 * (1e-2 + (want[i] - gw[i]).abs()) + f64::from(f32::EPSILON) * gw[i].abs());
            // Masked tokens' rows are what was there.
            let got = ctx.read_blocking(&grad).unwrap();
            for (k, &m) in bits.iter().enumerate() {
                if !m {
                    prop_assert_eq!(&got[k * v..(k + 1) * v], &g0[k * v..(k + 1) * v]);
                }
            }
            let tk = down(ctx, &tok);
            let lps: Vec<f64> = tk.chunks(3).map(|c| c[0]).collect();
            let hv: Vec<f64> = tk.chunks(3).map(|c| c[2]).collect();
            assert_close("token logp", &lps, &lp, 1e-5, 2e-5);
            assert_close("token entropy", &hv, &h, 1e-5, 2e-5);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batch whitening, REINFORCE++ and ReMax (reference: today's core functions)
// ---------------------------------------------------------------------------------------------

/// The core's whitening parameters: every preset, centring only, and each ε placement.
fn whitens() -> Vec<Whiten<f32>> {
    use rewardkit_core::stats::VarEps;
    vec![
        Whiten::default(),
        Whiten::from_preset(Preset::Verl),
        Whiten::from_preset(Preset::OpenRlhf),
        Whiten::default().mean_only(),
        Whiten::new(false, true, 1e-6, VarEps::AddToStd).unwrap(),
        Whiten::new(true, false, 0.0, VarEps::AddToVar).unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]
    /// Whitening against `stats::masked_whiten` (every preset and ε placement), REINFORCE++ and
    /// ReMax against the core, within `2e-5·(1 + |x|)` (`|x| ≤ 5`, `|r| ≤ 1`: the f32 mean and
    /// variance of up to 1500 values, where the core sums in f64). Several first-stage chunks:
    /// `whitening_literals_chunks_and_degenerate_masks`.
    #[test]
    fn whitening_and_returns_estimators_match_core(
        (b, t, mask) in token_batch(), seed in 0u64..100,
        gamma in prop::sample::select(vec![1.0f32, 0.9]),
    ) {
        prop_assume!(mask.contains(&1));
        let Some(ctx) = context("whitening_and_returns_estimators_match_core") else { return Ok(()) };
        check_whitening(ctx, b, t, &mask, seed, gamma);
    }
}

fn check_whitening(ctx: &GpuContext, b: usize, t: usize, mask: &[u32], seed: u64, gamma: f32) {
    use rewardkit_core::stats::masked_whiten;
    let n = b * t;
    let x = fill(seed, n, -3.0, 5.0);
    let r = fill(seed + 1, n, -1.0, 1.0);
    let base = fill(seed + 2, b, -1.0, 1.0);
    let bits: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
    let cmask = Mask::new(&bits, t).unwrap();
    let (gx, gr, gb, gm) = (
        up(ctx, &x),
        up(ctx, &r),
        up(ctx, &base),
        ctx.upload_mask(cmask).unwrap(),
    );
    let (out, adv, ret) = (
        ctx.zeros::<f32>(n).unwrap(),
        ctx.zeros::<f32>(n).unwrap(),
        ctx.zeros::<f32>(n).unwrap(),
    );
    for w in whitens() {
        let mut want = vec![0.0; n];
        masked_whiten(&mut want, &f64s(&x), cmask, &widen_whiten(&w)).unwrap();
        ctx.masked_whiten(&out, &gx, &gm, &w).unwrap();
        let wide = widen_whiten(&w);
        let xs = f64s(&x);
        let cond = whiten_conditioning(&xs, &bits, &wide);
        assert_within(
            &format!("masked_whiten {w:?}"),
            &down(ctx, &out),
            &want,
            |i| 2e-5 + 2e-5 * want[i].abs() + cond(xs[i]),
        );
        let mut ca = vec![0.0; n];
        let mut cr = vec![0.0; n];
        advantage::reinforce_plus_plus(
            &mut ca,
            &mut cr,
            &f64s(&r),
            cmask,
            f64::from(gamma),
            &widen_whiten(&w),
        )
        .unwrap();
        ctx.reinforce_plus_plus(&adv, &ret, &gr, &gm, t, gamma, &w, ScanMode::Rows)
            .unwrap();
        assert_close(
            &format!("reinforce++ returns {w:?}"),
            &down(ctx, &ret),
            &cr,
            2e-5,
            2e-5,
        );
        let cond = whiten_conditioning(&cr, &bits, &wide);
        assert_within(
            &format!("reinforce++ advantages {w:?}"),
            &down(ctx, &adv),
            &ca,
            |i| 2e-5 + 2e-5 * ca[i].abs() + cond(cr[i]),
        );
    }
    let (mut ca, mut cr) = (vec![0.0; n], vec![0.0; n]);
    advantage::remax(&mut ca, &mut cr, &f64s(&r), &f64s(&base), cmask).unwrap();
    ctx.remax(&adv, &ret, &gr, &gb, &gm, t, ScanMode::Scan)
        .unwrap();
    assert_close("remax returns", &down(ctx, &ret), &cr, 2e-5, 2e-5);
    assert_close("remax advantages", &down(ctx, &adv), &ca, 2e-5, 2e-5);
}

/// The part of whitening's `f32` error that no fixed tolerance covers: `x − μ` rounded in `f32`
/// (`≤ 8u·(|x| + |μ|)`) times the scale `1/σ`, which is huge when the variance is tiny. Example:
/// one valid element under verl's parameters (`count_eps = 1e-8`, unbiased): the core's `f64`
/// mean is `x/(1 + 1e-8)`, `f32`'s (the device's, and verl's float32 torch code) is `x`, and the
/// scale is `1/√ε = 1e4`, so the outputs are `x·1e-4` and 0. `μ` and `σ` are computed here from
/// the documented definition (`stats::Whiten`), independently of the core's code.
fn whiten_conditioning(x: &[f64], valid: &[bool], w: &Whiten<f64>) -> impl Fn(f64) -> f64 {
    use rewardkit_core::stats::VarEps;
    let vals: Vec<f64> = x.iter().zip(valid).filter(|p| *p.1).map(|p| *p.0).collect();
    let n = vals.len() as f64;
    let ce = w.count_eps();
    let mean = vals.iter().sum::<f64>() / (n + ce);
    let var_pop = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n + ce);
    let var = match (w.unbiased(), vals.len() > 1) {
        (true, true) => var_pop * n / (n - 1.0),
        (true, false) => 0.0,
        (false, _) => var_pop,
    };
    let scale = if w.scale_by_std() {
        match w.eps_mode() {
            VarEps::AddToVar => 1.0 / (var + w.eps()).sqrt(),
            VarEps::MaxWithVar => 1.0 / var.max(w.eps()).sqrt(),
            VarEps::AddToStd => 1.0 / (var.sqrt() + w.eps()),
        }
    } else {
        1.0
    };
    let scale = if scale.is_finite() { scale } else { 0.0 };
    move |xi: f64| 8.0 * U32 * (xi.abs() + mean.abs()) * scale
}

#[test]
fn whitening_literals_chunks_and_degenerate_masks() {
    let Some(ctx) = context("whitening_literals_chunks_and_degenerate_masks") else {
        return;
    };
    // Several first-stage chunks (4096 elements each), a masked tail, offset values.
    let (b, t) = (7usize, 1500usize);
    let mask: Vec<u32> = (0..b * t).map(|i| u32::from(i % 7 != 3)).collect();
    check_whitening(ctx, b, t, &mask, 5, 0.99);
    // One valid element: variance 0 (unbiased), the valid output 0.
    let (x, m) = (up(ctx, &[3.0, 9.0, -2.0]), up_u32(ctx, &[0, 1, 0]));
    let out = ctx.zeros::<f32>(3).unwrap();
    ctx.masked_whiten(&out, &x, &m, &Whiten::default()).unwrap();
    assert_eq!(down(ctx, &out)[1], 0.0);
    // The same under verl's parameters: in f32 (the device, and verl's float32 torch code)
    // 1 + 1e-8 rounds to 1, so μ = x and the output is 0; the core's f64 mean x/(1 + 1e-8) gives
    // x·1e-4 (scale 1/√1e-8). The property's bound allows for it (`whiten_conditioning`); this is
    // the case proptest found (one row, one token, seed 0).
    ctx.masked_whiten(&out, &x, &m, &Whiten::from_preset(Preset::Verl))
        .unwrap();
    assert_eq!(down(ctx, &out)[1], 0.0);
    check_whitening(ctx, 1, 1, &[1], 0, 1.0);
    // No valid element: every output 0 (the core reports TooFewValid; the device cannot).
    let m0 = up_u32(ctx, &[0, 0, 0]);
    ctx.masked_whiten(&out, &x, &m0, &Whiten::default())
        .unwrap();
    assert_eq!(down(ctx, &out), vec![0.0; 3]);
    // Errors: lengths, a bad ε, ReMax baselines.
    assert!(is_core(
        &ctx.masked_whiten(&ctx.zeros::<f32>(2).unwrap(), &x, &m, &Default::default())
            .expect_err("out")
    ));
    let (r, m2) = (up(ctx, &[1.0, 2.0, 3.0, 4.0]), up_u32(ctx, &[1, 1, 1, 1]));
    let (a, g) = (ctx.zeros::<f32>(4).unwrap(), ctx.zeros::<f32>(4).unwrap());
    assert!(is_core(
        &ctx.remax(&a, &g, &r, &up(ctx, &[0.0]), &m2, 2, ScanMode::Rows)
            .expect_err("2 rows, 1 baseline")
    ));
    assert!(is_core(
        &ctx.remax(&a, &g, &r, &up(ctx, &[0.0]), &m2, 3, ScanMode::Rows)
            .expect_err("T = 3")
    ));
}
