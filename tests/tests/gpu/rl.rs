//! RL kernels against today's core functions (`grpo`, `rloo`, `gae`, `discounted_returns`,
//! `KlPenalty::forward`, `policy_loss`, `kl::*`), on random shapes. The calls into the core are
//! kept in small helpers so they can move to the core's new seams (advantage plan, `logits`
//! module) after issue 8 merges.
//!
//! Tolerances (f32 kernels vs the f64 core): advantages `1e-4·scale`; returns and GAE
//! `(T + 2)·2⁻²³·Σ|terms|`; KL `2e-6·(1 + |x|)`; losses and gradients `1e-5·(1 + |x|)`;
//! logits ops `2e-5·(1 + |x|)` with `|z| ≤ 8`.

use proptest::prelude::*;
use rewardkit_core::advantage::{self, Gae, Grpo, Scale, Singleton};
use rewardkit_core::kl;
use rewardkit_core::loss::{Aggregation, PolicyInputs, entropy_upstream, policy_loss};
use rewardkit_core::{GroupIndex, KlEstimator, KlPenalty, Mask};
use rewardkit_gpu::{
    GpuGroups, GpuLossKind, GpuPolicyLoss, GroupEstimator, PolicyBuffers, RlStepBuffers, ScanMode,
};
use rewardkit_tests::gpu::{assert_close, assert_within, context, down, fill, is_core, up, up_u32};

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

/// Group ids: `g` groups with sizes in `1..=max_k` (some groups of one), shuffled, plus scores
/// with ties and zero-variance groups.
fn grouped() -> impl Strategy<Value = (Vec<u32>, usize, Vec<f32>)> {
    (1usize..=7, 1usize..=40).prop_flat_map(|(g, max_k)| {
        prop::collection::vec(1..=max_k, g).prop_flat_map(move |sizes| {
            let mut ids: Vec<u32> = Vec::new();
            for (gid, &k) in sizes.iter().enumerate() {
                ids.extend(std::iter::repeat_n(gid as u32, k));
            }
            let n = ids.len();
            let scores = prop::collection::vec(
                prop_oneof![3 => -5.0f32..5.0, 1 => prop::sample::select(vec![0.0f32, 1.0])],
                n,
            );
            (Just(ids), Just(g), scores).prop_perturb(|(mut ids, g, s), mut rng| {
                for i in (1..ids.len()).rev() {
                    let j = rng.random_range(0..=i);
                    ids.swap(i, j);
                }
                (ids, g, s)
            })
        })
    })
}

/// The CPU reference of a group estimator (today's core functions).
fn cpu_group(
    est: GroupEstimator,
    scores: &[f64],
    lengths: &[f64],
    gi: &GroupIndex<'_>,
) -> Vec<f64> {
    let mut out = vec![0.0; scores.len()];
    match est {
        GroupEstimator::Grpo(g) => {
            let p = Grpo::<f64>::new(g.scale(), f64::from(g.eps()), g.singleton()).unwrap();
            advantage::grpo(&mut out, scores, gi, &p).unwrap();
        }
        GroupEstimator::Rloo(s) => advantage::rloo(&mut out, scores, gi, s).unwrap(),
        GroupEstimator::MeanBaseline(s) => {
            advantage::group_mean_baseline(&mut out, scores, gi, s).unwrap();
        }
        GroupEstimator::Opo(s) => advantage::opo(&mut out, scores, lengths, gi, s).unwrap(),
        GroupEstimator::Gpg { f_norm, singleton } => {
            advantage::gpg(&mut out, scores, gi, f64::from(f_norm), singleton).unwrap();
        }
        GroupEstimator::PassK { scale_by_std, eps } => {
            advantage::grpo_passk(&mut out, scores, gi, scale_by_std, f64::from(eps)).unwrap();
        }
        GroupEstimator::GroupStd => advantage::group_std(&mut out, scores, gi).unwrap(),
        _ => unreachable!(),
    }
    out
}

fn estimators() -> Vec<GroupEstimator> {
    let mut v = Vec::new();
    for s in [Singleton::Zero, Singleton::Raw] {
        for scale in [Scale::Group, Scale::Batch, Scale::None] {
            v.push(GroupEstimator::Grpo(Grpo::new(scale, 1e-6, s).unwrap()));
        }
        v.push(GroupEstimator::Rloo(s));
        v.push(GroupEstimator::MeanBaseline(s));
        v.push(GroupEstimator::Opo(s));
        v.push(GroupEstimator::Gpg {
            f_norm: 0.5,
            singleton: s,
        });
    }
    v.push(GroupEstimator::GroupStd);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn group_advantages_match_core((ids, g, scores) in grouped(), seed in 0u64..100) {
        let Some(ctx) = context("group_advantages_match_core") else { return Ok(()) };
        let gi = GroupIndex::new(&ids, g).unwrap();
        let groups = GpuGroups::new(ctx, &gi).unwrap();
        let lengths = fill(seed, scores.len(), 0.0, 50.0);
        let (gs, gl) = (up(ctx, &scores), up(ctx, &lengths));
        let out = ctx.zeros::<f32>(scores.len()).unwrap();
        let scale = 1.0 + scores.iter().map(|x| f64::from(x.abs())).fold(0.0, f64::max);
        let mut ests = estimators();
        if gi.rows(0).count() >= 2 && (0..g).all(|k| gi.rows(k).count() >= 2) {
            ests.push(GroupEstimator::PassK { scale_by_std: false, eps: 0.0 });
            ests.push(GroupEstimator::PassK { scale_by_std: true, eps: 1e-6 });
        }
        for est in ests {
            ctx.group_advantages(&out, &gs, Some(&gl), &groups, est).unwrap();
            let got = down(ctx, &out);
            let want = cpu_group(est, &f64s(&scores), &f64s(&lengths), &gi);
            // Division by a small std amplifies the f32 rounding of the centred value: bound by
            // the magnitude of the output too.
            assert_within(&format!("{est:?}"), &got, &want, |i| 1e-4 * (scale + want[i].abs()));
        }
    }
}

#[test]
fn group_advantage_literals_and_errors() {
    let Some(ctx) = context("group_advantage_literals_and_errors") else {
        return;
    };
    // Group {1, 2, 3}: mean 2, sample std 1; a zero-variance group {0.7, 0.7} gives exact zeros.
    let gi = GroupIndex::new(&[0, 0, 1, 0, 1], 2).unwrap();
    let groups = GpuGroups::new(ctx, &gi).unwrap();
    let s = up(ctx, &[1.0, 2.0, 0.7, 3.0, 0.7]);
    let out = ctx.zeros::<f32>(5).unwrap();
    let grpo = Grpo::new(Scale::Group, 0.0, Singleton::Zero).unwrap();
    ctx.group_advantages(&out, &s, None, &groups, GroupEstimator::Grpo(grpo))
        .unwrap();
    assert_eq!(down(ctx, &out), [-1.0, 0.0, 0.0, 1.0, 0.0]);
    // Singleton errors, pass@k with a singleton, OPO without lengths, GPG f_norm = 0.
    let single = GpuGroups::new(ctx, &GroupIndex::new(&[0, 1, 1], 2).unwrap()).unwrap();
    let s3 = up(ctx, &[1.0, 2.0, 3.0]);
    let o3 = ctx.zeros::<f32>(3).unwrap();
    for est in [
        GroupEstimator::Rloo(Singleton::Error),
        GroupEstimator::PassK {
            scale_by_std: false,
            eps: 0.0,
        },
        GroupEstimator::Opo(Singleton::Zero),
        GroupEstimator::Gpg {
            f_norm: 0.0,
            singleton: Singleton::Zero,
        },
        GroupEstimator::PassK {
            scale_by_std: true,
            eps: -1.0,
        },
    ] {
        let e = ctx
            .group_advantages(&o3, &s3, None, &single, est)
            .expect_err("invalid");
        assert!(is_core(&e), "{est:?}: {e}");
    }
    let e = ctx
        .group_advantages(&out, &s3, None, &single, GroupEstimator::GroupStd)
        .expect_err("len");
    assert!(is_core(&e), "{e}");
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
            let empty = matches!(e, Err(rewardkit_gpu::GpuError::Core(rewardkit_core::Error::Empty { .. })));
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
    for est in [
        KlEstimator::K1,
        KlEstimator::Abs,
        KlEstimator::K2,
        KlEstimator::K3,
    ] {
        for pen in [
            KlPenalty::<f32>::new(est),
            KlPenalty::verl(est, true),
            KlPenalty::openrlhf(est),
        ] {
            ctx.kl_penalty(&v, &g, &gl, &gr, &pen).unwrap();
            let cpu = KlPenalty::<f64>::new(est)
                .with_straight_through(pen.straight_through())
                .with_log_ratio_clamp(pen.log_ratio_clamp().map(f64::from))
                .unwrap()
                .with_value_clamp(pen.value_clamp().map(f64::from))
                .unwrap();
            let (mut cv, mut cg) = (vec![0.0; n], vec![0.0; n]);
            cpu.forward(&mut cv, Some(&mut cg), &f64s(&logp), &f64s(&rf))
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

fn losses() -> Vec<GpuPolicyLoss> {
    let k3 = KlPenalty::<f32>::new(KlEstimator::K3);
    vec![
        GpuPolicyLoss::new(GpuLossKind::Vanilla),
        GpuPolicyLoss::new(GpuLossKind::Vanilla)
            .with_clip(0.2, 0.28)
            .unwrap()
            .with_dual_clip(Some(3.0))
            .unwrap(),
        GpuPolicyLoss::new(GpuLossKind::Vanilla)
            .with_delta(Some(1.5))
            .unwrap()
            .with_kl(Some((k3, 0.1)))
            .unwrap()
            .with_entropy_coef(0.01)
            .unwrap(),
        GpuPolicyLoss::new(GpuLossKind::Gpg)
            .with_kl(Some((KlPenalty::verl(KlEstimator::K2, false), 0.05)))
            .unwrap(),
        GpuPolicyLoss::new(GpuLossKind::Cispo),
        GpuPolicyLoss::new(GpuLossKind::Sapo),
        GpuPolicyLoss::new(GpuLossKind::Dro),
        // Token-wise: DPPO's trust regions (with an importance-weighted KL term), VESPO.
        GpuPolicyLoss::new(GpuLossKind::DppoTv)
            .with_truncation(3.0)
            .unwrap(),
        GpuPolicyLoss::new(GpuLossKind::DppoKl)
            .with_kl(Some((k3, 0.1)))
            .unwrap()
            .with_kl_importance_weighted(true),
        GpuPolicyLoss::new(GpuLossKind::Vespo),
        // Sequence-coupled: GSPO (gradient through s; and with an active bound on log s),
        // GSPO-token (verl's bound 10), GMPO (verl's 1e-8).
        GpuPolicyLoss::new(GpuLossKind::Gspo)
            .with_kl(Some((k3, 0.1)))
            .unwrap()
            .with_entropy_coef(0.01)
            .unwrap(),
        GpuPolicyLoss::new(GpuLossKind::Gspo)
            .with_seq_log_ratio_max(Some(0.0))
            .unwrap(),
        GpuPolicyLoss::new(GpuLossKind::GspoToken)
            .with_seq_log_ratio_max(Some(10.0))
            .unwrap(),
        GpuPolicyLoss::new(GpuLossKind::GeoMean)
            .with_clip(0.4, 0.4)
            .unwrap()
            .with_len_eps(1e-8)
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
        Aggregation::RowMeanTokenMean,
        Aggregation::RowMeanTokenSumNorm { horizon: 64.0 },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn policy_losses_match_core(
        (b, t, mask) in token_batch(), seed in 0u64..100, per_token: bool, with_weights: bool,
    ) {
        prop_assume!(mask.contains(&1));
        let Some(ctx) = context("policy_losses_match_core") else { return Ok(()) };
        let n = b * t;
        let logp = fill(seed, n, -4.0, -0.01);
        let old: Vec<f32> = logp.iter().zip(fill(seed + 1, n, -0.4, 0.4)).map(|(a, d)| a + d).collect();
        let rf: Vec<f32> = logp.iter().zip(fill(seed + 2, n, -0.5, 0.5)).map(|(a, d)| a + d).collect();
        let ent = fill(seed + 3, n, 0.0, 3.0);
        let adv = fill(seed + 4, if per_token { n } else { b }, -2.0, 2.0);
        // Detached per-token weights: with the entropies they share one binding (gathered).
        let w = fill(seed + 5, n, 0.0, 2.0);
        let bits: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
        let cmask = Mask::new(&bits, t).unwrap();
        let (glp, gold, gref, gent, gadv, gm) =
            (up(ctx, &logp), up(ctx, &old), up(ctx, &rf), up(ctx, &ent), up(ctx, &adv), up_u32(ctx, &mask));
        let gw = up(ctx, &w);
        let inp = PolicyBuffers { logp: &glp, old_logp: &gold, advantages: &gadv, mask: &gm,
            ref_logp: Some(&gref), weights: with_weights.then_some(&gw), entropy: Some(&gent) };
        let (grad, rows, parts) = (ctx.zeros::<f32>(n).unwrap(), ctx.zeros::<f32>(2 * b).unwrap(), ctx.zeros::<f32>(5).unwrap());
        for loss in losses() {
            for agg in aggregations() {
                ctx.policy_loss(&grad, &rows, &inp, t, &loss).unwrap();
                ctx.loss_parts(&parts, &rows, &agg).unwrap();
                ctx.scale_grad(&grad, &rows, &parts, &gm, t, &agg).unwrap();
                let gp = ctx.read_parts_blocking(&parts).unwrap();
                // CPU chain.
                let (l64, o64, r64, e64, a64) = (f64s(&logp), f64s(&old), f64s(&rf), f64s(&ent), f64s(&adv));
                let w64 = f64s(&w);
                let mut ci = PolicyInputs::new(&l64, &o64, &a64, cmask).unwrap()
                    .with_ref(&r64).unwrap().with_entropy(&e64).unwrap();
                if with_weights {
                    ci = ci.with_weights(&w64).unwrap();
                }
                let mut cg = vec![0.0; n];
                let cp = policy_loss(&mut cg, &ci, &loss.to_core().unwrap(), &agg).unwrap();
                agg.scale_grad(&mut cg, cmask, &cp).unwrap();
                prop_assert_eq!((gp.tokens, gp.seqs, gp.rows), (cp.tokens, cp.seqs, cp.rows));
                let what = format!("{loss:?} {agg:?} weights={with_weights}");
                assert_close(&what, &[gp.sum, gp.seq_mean_sum], &[cp.sum, cp.seq_mean_sum], 1e-5, 1e-5 * n as f64);
                assert_close(&what, &down(ctx, &grad), &cg, 1e-5, 1e-6);
                // The value is a part divided by a normalizer >= 1: within the parts' bound.
                let (gv, cv) = (agg.value(&gp, &gp).unwrap(), agg.value(&cp, &cp).unwrap());
                assert_close(&what, &[gv], &[cv], 1e-5, 1e-5 * n as f64);
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
    let kl = GpuPolicyLoss::new(GpuLossKind::Vanilla)
        .with_kl(Some((KlPenalty::default(), 0.1)))
        .unwrap();
    assert!(is_core(
        &ctx.policy_loss(&grad, &rows, &inp, 2, &kl)
            .expect_err("no ref")
    ));
    let ent = GpuPolicyLoss::new(GpuLossKind::Vanilla)
        .with_entropy_coef(0.1)
        .unwrap();
    assert!(is_core(
        &ctx.policy_loss(&grad, &rows, &inp, 2, &ent)
            .expect_err("no entropy")
    ));
    assert!(is_core(
        &ctx.policy_loss(&grad, &rows, &inp, 3, &GpuPolicyLoss::new(GpuLossKind::Gpg))
            .expect_err("T")
    ));
    assert!(
        GpuPolicyLoss::new(GpuLossKind::Vanilla)
            .with_dual_clip(Some(1.0))
            .is_err()
    );
    let dppo = GpuPolicyLoss::new(GpuLossKind::DppoTv);
    assert!(dppo.with_truncation(0.0).is_err());
    assert!(dppo.with_seq_log_ratio_max(Some(f32::NAN)).is_err());
    assert!(dppo.with_len_eps(-1.0).is_err());
    assert!(dppo.with_vespo(-1.0, 1.0, 1.0, 1.0).is_err());
    assert!(dppo.with_vespo(1.0, 0.0, 1.0, 1.0).is_err());
    assert!(
        dppo.with_vespo(5.0, 1.0, 1.0, 1.0).is_err(),
        "φ would overflow f32"
    );
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
        GpuLossKind::Gspo,
        GpuLossKind::GspoToken,
        GpuLossKind::GeoMean,
        GpuLossKind::Vespo,
    ] {
        let e = ctx
            .rl_step(&s, 2, 2, &GpuPolicyLoss::new(kind), &Aggregation::TokenMean)
            .expect_err("sequence-coupled");
        assert!(
            matches!(e, rewardkit_gpu::GpuError::Unsupported { .. }),
            "{e}"
        );
    }
    assert!(
        GpuPolicyLoss::new(GpuLossKind::Vanilla)
            .with_clip(-0.1, 0.2)
            .is_err()
    );
    // An all-masked batch: parts with zero tokens, and the aggregation reports TooFewValid.
    let m0 = up_u32(ctx, &[0, 0]);
    let inp0 = PolicyBuffers { mask: &m0, ..inp };
    let parts = ctx.zeros::<f32>(5).unwrap();
    ctx.policy_loss(
        &grad,
        &rows,
        &inp0,
        2,
        &GpuPolicyLoss::new(GpuLossKind::Gpg),
    )
    .unwrap();
    ctx.loss_parts(&parts, &rows, &Aggregation::TokenMean)
        .unwrap();
    let p = ctx.read_parts_blocking(&parts).unwrap();
    assert_eq!((p.tokens, p.sum), (0, 0.0));
    assert!(Aggregation::TokenMean.value(&p, &p).is_err());
    assert_eq!(down(ctx, &grad), [0.0, 0.0]);
}

/// Logits rows with `V` not a multiple of the workgroup, ties for the maximum, a confident row.
fn logits_case() -> impl Strategy<Value = (usize, usize, u64)> {
    (0usize..=6, 1usize..=700, 0u64..100)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]
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
        let up_g = fill(seed + 3, n, -2.0, 2.0);
        let (z64, zr64, g64) = (f64s(&z), f64s(&zr), f64s(&up_g));
        let (gz, gzr, gup) = (up(ctx, &z), up(ctx, &zr), up(ctx, &up_g));
        let gids = ctx.upload_ids(&ids, v).unwrap();
        let row = ctx.zeros::<f32>(n).unwrap();
        let full = ctx.zeros::<f32>(n * v).unwrap();
        let tol = |w: &[f64]| { let w = w.to_vec(); move |i: usize| 2e-5 * (1.0 + w[i].abs()) };
        if n == 0 {
            // The core rejects empty logits (`Empty`); so does the GPU.
            let e = ctx.logprobs_forward(&row, &gz, &gids, v);
            let empty = matches!(e, Err(rewardkit_gpu::GpuError::Core(rewardkit_core::Error::Empty { .. })));
            prop_assert!(empty, "expected Empty");
            return Ok(());
        }
        let mut c = vec![0.0; n];
        kl::logprobs_forward(&mut c, &z64, &ids, v).unwrap();
        ctx.logprobs_forward(&row, &gz, &gids, v).unwrap();
        assert_within("logprobs_forward", &down(ctx, &row), &c, tol(&c));
        let mut cf = vec![0.0; n * v];
        kl::logprobs_backward(&mut cf, &g64, &z64, &ids, v).unwrap();
        ctx.logprobs_backward(&full, &gup, &gz, &gids, v).unwrap();
        assert_within("logprobs_backward", &down(ctx, &full), &cf, tol(&cf));
        kl::entropy_forward(&mut c, &z64, v).unwrap();
        ctx.entropy_forward(&row, &gz, v).unwrap();
        assert_within("entropy_forward", &down(ctx, &row), &c, tol(&c));
        kl::entropy_backward(&mut cf, &g64, &z64, v).unwrap();
        ctx.entropy_backward(&full, &gup, &gz, v).unwrap();
        assert_within("entropy_backward", &down(ctx, &full), &cf, tol(&cf));
        kl::full_kl_forward(&mut c, &z64, &zr64, v).unwrap();
        ctx.full_kl_forward(&row, &gz, &gzr, v).unwrap();
        assert_within("full_kl_forward", &down(ctx, &row), &c, tol(&c));
        kl::full_kl_backward(&mut cf, &g64, &z64, &zr64, v).unwrap();
        ctx.full_kl_backward(&full, &gup, &gz, &gzr, v).unwrap();
        assert_within("full_kl_backward", &down(ctx, &full), &cf, tol(&cf));
        // log-softmax: rows of the core's token log-probabilities for every id.
        ctx.log_softmax(&full, &gz, v).unwrap();
        let got = down(ctx, &full);
        for r in 0..n {
            let all: Vec<u32> = (0..v as u32).collect();
            let rep: Vec<f64> = std::iter::repeat_n(&z64[r * v..(r + 1) * v], v).flatten().copied().collect();
            let mut want = vec![0.0; v];
            kl::logprobs_forward(&mut want, &rep, &all, v).unwrap();
            assert_within("log_softmax", &got[r * v..(r + 1) * v], &want, tol(&want));
        }
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
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    /// The fused step against the core's chain: logprobs_forward → entropy_forward → policy_loss
    /// (KL and entropy terms) → scale_grad → entropy_upstream → logprobs_backward +
    /// entropy_backward.
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
        let mut lp = vec![0.0; n];
        kl::logprobs_forward(&mut lp, &z64, &ids, v).unwrap();
        let old: Vec<f32> = lp.iter().zip(fill(seed + 2, n, -0.3, 0.3)).map(|(&a, d)| a as f32 + d).collect();
        let rf: Vec<f32> = lp.iter().zip(fill(seed + 3, n, -0.3, 0.3)).map(|(&a, d)| a as f32 + d).collect();
        // Per-token or per-sequence advantages, with or without a KL term: the side inputs are
        // gathered into one binding at offsets that depend on both.
        let adv = fill(seed + 4, if per_token { n } else { b }, -2.0, 2.0);
        let bits: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
        let cmask = Mask::new(&bits, t).unwrap();
        // PPO with dual clip, or DPPO-KL with an importance-weighted KL term (token-wise kinds).
        let loss = if seed % 2 == 0 {
            GpuPolicyLoss::new(GpuLossKind::Vanilla).with_dual_clip(Some(3.0)).unwrap()
        } else {
            GpuPolicyLoss::new(GpuLossKind::DppoKl).with_kl_importance_weighted(true)
        }
            .with_kl(with_kl.then_some((KlPenalty::new(KlEstimator::K3), 0.1))).unwrap()
            .with_entropy_coef(0.01).unwrap();
        for agg in [Aggregation::TokenMean, Aggregation::SeqMeanTokenMean { len_eps: 0.0 }] {
            // CPU chain.
            let mut h = vec![0.0; n];
            kl::entropy_forward(&mut h, &z64, v).unwrap();
            let (o64, r64, a64) = (f64s(&old), f64s(&rf), f64s(&adv));
            let ci = PolicyInputs::new(&lp, &o64, &a64, cmask).unwrap().with_ref(&r64).unwrap().with_entropy(&h).unwrap();
            let mut g_lp = vec![0.0; n];
            let cp = policy_loss(&mut g_lp, &ci, &loss.to_core().unwrap(), &agg).unwrap();
            agg.scale_grad(&mut g_lp, cmask, &cp).unwrap();
            let mut g_h = vec![0.0; n];
            entropy_upstream(&mut g_h, cmask, &agg, &cp, f64::from(loss.entropy_coef())).unwrap();
            let (mut d1, mut d2) = (vec![0.0; n * v], vec![0.0; n * v]);
            kl::logprobs_backward(&mut d1, &g_lp, &z64, &ids, v).unwrap();
            kl::entropy_backward(&mut d2, &g_h, &z64, v).unwrap();
            let want: Vec<f64> = d1.iter().zip(&d2).map(|(a, b)| a + b).collect();
            // GPU.
            let (gz, gold, gref, gadv, gm) = (up(ctx, &z), up(ctx, &old), up(ctx, &rf), up(ctx, &adv), up_u32(ctx, &mask));
            let gids = ctx.upload_ids(&ids, v).unwrap();
            let (grad, tok) = (ctx.zeros::<f32>(n * v).unwrap(), ctx.zeros::<f32>(3 * n).unwrap());
            let (rows, parts) = (ctx.zeros::<f32>(2 * b).unwrap(), ctx.zeros::<f32>(5).unwrap());
            let s = RlStepBuffers { grad_logits: &grad, tok: &tok, rows: &rows, parts: &parts, logits: &gz,
                ids: &gids, old_logp: &gold, ref_logp: Some(&gref), advantages: &gadv, mask: &gm };
            ctx.rl_step(&s, t, v, &loss, &agg).unwrap();
            let gp = ctx.read_parts_blocking(&parts).unwrap();
            prop_assert_eq!((gp.tokens, gp.seqs, gp.rows), (cp.tokens, cp.seqs, cp.rows));
            let what = format!("{agg:?} per_token={per_token} kl={with_kl}");
            assert_close(&what, &[agg.value(&gp, &gp).unwrap()], &[agg.value(&cp, &cp).unwrap()], 1e-4, 1e-5);
            assert_within(&what, &down(ctx, &grad), &want, |i| 2e-5 * (1e-2 + want[i].abs()));
            let tk = down(ctx, &tok);
            let lps: Vec<f64> = tk.chunks(3).map(|c| c[0]).collect();
            let hs: Vec<f64> = tk.chunks(3).map(|c| c[2]).collect();
            assert_close("token logp", &lps, &lp, 1e-5, 2e-5);
            assert_close("token entropy", &hs, &h, 1e-5, 2e-5);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batch whitening, REINFORCE++ and ReMax (reference: today's core functions)
// ---------------------------------------------------------------------------------------------

fn whitens() -> Vec<rewardkit_gpu::GpuWhiten> {
    use rewardkit_core::stats::VarEps;
    use rewardkit_gpu::GpuWhiten;
    vec![
        GpuWhiten::default(),
        GpuWhiten::verl(),
        GpuWhiten::openrlhf(),
        GpuWhiten::default().mean_only(),
        GpuWhiten::new(false, true, 1e-6, VarEps::AddToStd).unwrap(),
        GpuWhiten::new(true, false, 0.0, VarEps::AddToVar).unwrap(),
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

fn check_whitening(
    ctx: &rewardkit_gpu::GpuContext,
    b: usize,
    t: usize,
    mask: &[u32],
    seed: u64,
    gamma: f32,
) {
    use rewardkit_core::stats::masked_whiten;
    let n = b * t;
    let x = fill(seed, n, -3.0, 5.0);
    let r = fill(seed + 1, n, -1.0, 1.0);
    let base = fill(seed + 2, b, -1.0, 1.0);
    let bits: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
    let cmask = Mask::new(&bits, t).unwrap();
    let (gx, gr, gb, gm) = (up(ctx, &x), up(ctx, &r), up(ctx, &base), up_u32(ctx, mask));
    let (out, adv, ret) = (
        ctx.zeros::<f32>(n).unwrap(),
        ctx.zeros::<f32>(n).unwrap(),
        ctx.zeros::<f32>(n).unwrap(),
    );
    for w in whitens() {
        let mut want = vec![0.0; n];
        masked_whiten(&mut want, &f64s(&x), cmask, &w.to_core().unwrap()).unwrap();
        ctx.masked_whiten(&out, &gx, &gm, &w).unwrap();
        assert_close(
            &format!("masked_whiten {w:?}"),
            &down(ctx, &out),
            &want,
            2e-5,
            2e-5,
        );
        let mut ca = vec![0.0; n];
        let mut cr = vec![0.0; n];
        advantage::reinforce_plus_plus(
            &mut ca,
            &mut cr,
            &f64s(&r),
            cmask,
            f64::from(gamma),
            &w.to_core().unwrap(),
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
        assert_close(
            &format!("reinforce++ advantages {w:?}"),
            &down(ctx, &adv),
            &ca,
            2e-5,
            2e-5,
        );
    }
    let (mut ca, mut cr) = (vec![0.0; n], vec![0.0; n]);
    advantage::remax(&mut ca, &mut cr, &f64s(&r), &f64s(&base), cmask).unwrap();
    ctx.remax(&adv, &ret, &gr, &gb, &gm, t, ScanMode::Scan)
        .unwrap();
    assert_close("remax returns", &down(ctx, &ret), &cr, 2e-5, 2e-5);
    assert_close("remax advantages", &down(ctx, &adv), &ca, 2e-5, 2e-5);
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
    ctx.masked_whiten(&out, &x, &m, &rewardkit_gpu::GpuWhiten::default())
        .unwrap();
    assert_eq!(down(ctx, &out)[1], 0.0);
    // No valid element: every output 0 (the core reports TooFewValid; the device cannot).
    let m0 = up_u32(ctx, &[0, 0, 0]);
    ctx.masked_whiten(&out, &x, &m0, &rewardkit_gpu::GpuWhiten::default())
        .unwrap();
    assert_eq!(down(ctx, &out), vec![0.0; 3]);
    // Errors: lengths, a bad ε, ReMax baselines.
    assert!(is_core(
        &ctx.masked_whiten(&ctx.zeros::<f32>(2).unwrap(), &x, &m, &Default::default())
            .expect_err("out")
    ));
    assert!(
        rewardkit_gpu::GpuWhiten::new(
            true,
            true,
            f32::NAN,
            rewardkit_core::stats::VarEps::AddToVar
        )
        .is_err()
    );
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
