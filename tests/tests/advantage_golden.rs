//! Advantage presets against vectors produced by the frameworks' own code (verl, TRL, OpenRLHF), in
//! f64 and f32, plus the masked-statistics helpers verl uses.

use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, OpenRlhfAdvantage, OpenRlhfEstimator, Scale, TrlAggregation,
    openrlhf_advantages_and_returns, trl_grpo_advantages,
};
use rewardkit_core::stats::{Whiten, masked_mean, masked_var, masked_whiten};
use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, Preset, Real};
use rewardkit_tests::approx_eq::{Tol, assert_all_close, widen};
use rewardkit_tests::golden::{Case, Tensor, load};

fn conv<F: Real>(t: &Tensor) -> Vec<F> {
    t.data.iter().map(|&x| F::lit(x)).collect()
}

/// Tolerance for a golden comparison: the type's golden tolerance, widened to f32 level for cases
/// where the framework itself computes in float32 whatever the input type.
fn tol<F: Tol>(f32_inside: bool) -> (f64, f64) {
    if f32_inside { f32::GOLDEN } else { F::GOLDEN }
}

fn verl_case<F: Real + Tol>(c: &Case) {
    let rewards: Vec<F> = conv(c.input("token_level_rewards"));
    let mask_t = c.input("response_mask");
    let bits = mask_t.bools();
    let t = mask_t.cols();
    let mask = Mask::new(&bits, t).unwrap();
    let labels = c.group_index.clone().unwrap();
    let groups = GroupIndex::from_labels(&labels).unwrap();
    let p = &c.params;
    let cfg_norm = p
        .get("config")
        .and_then(|v| v.get("norm_adv_by_std_in_grpo"))
        .and_then(serde_json::Value::as_bool);
    let norm = c
        .param_bool("norm_adv_by_std_in_grpo")
        .or(cfg_norm)
        .unwrap_or(true);
    let gamma = c
        .param_f64("gamma")
        .or_else(|| {
            p.get("config")
                .and_then(|v| v.get("gamma"))
                .and_then(|v| v.as_f64())
        })
        .unwrap_or(1.0);
    let lam = c.param_f64("lam").unwrap_or(1.0);
    let mut cfg = AdvantageConfig::<F>::new(Preset::Verl)
        .with_norm_by_std(norm)
        .with_gamma_lambda(F::lit(gamma), F::lit(lam))
        .unwrap();
    if let Some(eps) = c.param_f64("epsilon")
        && !c.function.contains("optimal_token_baseline")
    {
        cfg = cfg.with_eps(F::lit(eps)).unwrap();
    }
    if let Some(h) = c.param_bool("handle_zero_tail") {
        cfg = cfg.with_handle_zero_tail(h);
    }
    let est = match c.function.as_str() {
        "compute_grpo_outcome_advantage" | "compute_grpo_vectorized_outcome_advantage" => {
            AdvantageEstimator::Grpo
        }
        "compute_grpo_passk_outcome_advantage" => AdvantageEstimator::GrpoPassK,
        "compute_gdpo_outcome_advantage" => AdvantageEstimator::Gdpo,
        "compute_rloo_outcome_advantage" | "compute_rloo_vectorized_outcome_advantage" => {
            AdvantageEstimator::Rloo
        }
        "compute_opo_outcome_advantage" => AdvantageEstimator::Opo,
        "compute_reinforce_plus_plus_baseline_outcome_advantage" => {
            AdvantageEstimator::ReinforcePlusPlusBaseline
        }
        "compute_gpg_outcome_advantage" => AdvantageEstimator::Gpg,
        "compute_gae_advantage_return" => AdvantageEstimator::Gae,
        "compute_reinforce_plus_plus_outcome_advantage" => AdvantageEstimator::ReinforcePlusPlus,
        "compute_remax_outcome_advantage" => AdvantageEstimator::Remax,
        "compute_optimal_token_baseline_advantage" => AdvantageEstimator::OptimalTokenBaseline,
        "compute_multi_turn_optimal_token_baseline_advantage" => {
            AdvantageEstimator::TirOptimalTokenBaseline
        }
        other => panic!("{}: unmapped function {other}", c.id),
    };
    let values: Option<Vec<F>> = c.inputs.get("values").map(conv);
    let baselines: Option<Vec<F>> = c.inputs.get("reward_baselines").map(conv);
    let old: Option<Vec<F>> = c.inputs.get("old_log_probs").map(conv);
    let spp: Option<Vec<F>> = c.inputs.get("sum_pi_squared").map(conv);
    let isw: Option<Vec<F>> = c.inputs.get("rollout_is_weights").map(conv);
    // GDPO with reward keys: components (B, K) from the per-key scores, weights from the config.
    let mut comps: Vec<F> = Vec::new();
    let mut weights: Vec<F> = Vec::new();
    if let Some(keys) = p
        .get("config")
        .and_then(|v| v.get("gdpo_reward_keys"))
        .and_then(|v| v.as_array())
    {
        let cols: Vec<Vec<F>> = keys
            .iter()
            .map(|k| conv(c.input(k.as_str().unwrap())))
            .collect();
        let b = cols[0].len();
        for i in 0..b {
            for col in &cols {
                comps.push(col[i]);
            }
        }
        weights = p["config"]["gdpo_reward_weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| F::lit(w.as_f64().unwrap()))
            .collect();
    }
    let mut inputs = AdvantageInputs::new(&rewards, mask).with_groups(&groups);
    if let Some(v) = &values {
        inputs = inputs.with_values(v);
    }
    if let Some(b) = &baselines {
        inputs = inputs.with_reward_baselines(b);
    }
    if let (Some(o), Some(s)) = (&old, &spp) {
        inputs = inputs.with_token_stats(o, s, isw.as_deref());
    }
    if !comps.is_empty() {
        inputs = inputs.with_components(&comps, &weights);
    }
    let n = rewards.len();
    let (mut adv, mut ret) = (vec![F::ZERO; n], vec![F::ZERO; n]);
    est.compute(&mut adv, &mut ret, &inputs, &cfg)
        .unwrap_or_else(|e| panic!("{}: {e}", c.id));
    // verl's GDPO per-key scores are float32 tensors, and `group_mean_std` (the `*_vectorized`
    // estimators) casts to float32, so those f64 results are only f32-accurate.
    let (r, a) = tol::<F>(!comps.is_empty() || c.function.contains("vectorized"));
    assert_all_close(
        &format!("{} advantages", c.id),
        &widen(&adv),
        &c.output("advantages").data,
        r,
        a,
    );
    // verl's GAE returns at masked positions are `A + V` with the masked `V`: a masked input,
    // which rewardkit never reads (it writes 0 there). Every other value is compared everywhere.
    let mut want_ret = c.output("returns").data.clone();
    if est == AdvantageEstimator::Gae {
        for ((w, &m), g) in want_ret.iter_mut().zip(&bits).zip(&ret) {
            if !m {
                assert_eq!(g.f(), 0.0, "{}: masked return", c.id);
                *w = 0.0;
            }
        }
    }
    assert_all_close(&format!("{} returns", c.id), &widen(&ret), &want_ret, r, a);
}

#[test]
fn verl_advantages_match_golden() {
    let g = load("verl_advantages");
    assert_eq!(g.framework, "verl");
    let mut n = 0;
    for c in &g.cases {
        if c.is_f32() {
            verl_case::<f32>(c);
        } else {
            verl_case::<f64>(c);
            // The f32 path agrees with the f64 golden to f32 precision.
            verl_case::<f32>(c);
        }
        n += 1;
    }
    assert!(n >= 50, "only {n} cases");
}

fn trl_case<F: Real + Tol>(c: &Case) {
    let comps: Vec<F> = conv(c.input("rewards_per_func"));
    let weights: Vec<F> = conv(c.input("reward_weights"));
    let k = weights.len();
    let g = c.params["num_generations"].as_u64().unwrap() as usize;
    let b = comps.len() / k;
    let groups = GroupIndex::uniform(b, g).unwrap();
    let scale = match c.param_str("scale_rewards").unwrap() {
        "group" => Scale::Group,
        "batch" => Scale::Batch,
        "none" => Scale::None,
        other => panic!("scale {other}"),
    };
    let mode = match c.param_str("multi_objective_aggregation").unwrap() {
        "sum_then_normalize" => TrlAggregation::SumThenNormalize,
        "normalize_then_sum" => TrlAggregation::NormalizeThenSum,
        other => panic!("mode {other}"),
    };
    let mut out = vec![F::ZERO; b];
    trl_grpo_advantages(&mut out, &comps, &weights, &groups, scale, mode).unwrap();
    let (r, a) = F::GOLDEN;
    assert_all_close(&c.id, &widen(&out), &c.output("advantages").data, r, a);
}

#[test]
fn trl_advantages_match_golden() {
    let g = load("trl_grpo_advantages");
    for c in &g.cases {
        if c.is_f32() {
            trl_case::<f32>(c);
        } else {
            trl_case::<f64>(c);
        }
    }
    assert_eq!(g.cases.len(), 8);
}

#[test]
fn trl_preset_through_the_estimator_enum() {
    // The same first TRL case through AdvantageEstimator with Preset::Trl: rewards on the last token.
    let g = load("trl_grpo_advantages");
    let c = &g.cases[0];
    let r = &c.input("rewards_per_func").data;
    let b = r.len();
    let mut tok = vec![0.0f64; b * 2];
    for i in 0..b {
        tok[i * 2 + 1] = r[i];
    }
    let bits = vec![true; b * 2];
    let mask = Mask::new(&bits, 2).unwrap();
    let groups = GroupIndex::uniform(b, 4).unwrap();
    let (mut adv, mut ret) = (vec![0.0; b * 2], vec![0.0; b * 2]);
    AdvantageEstimator::Grpo
        .compute(
            &mut adv,
            &mut ret,
            &AdvantageInputs::new(&tok, mask).with_groups(&groups),
            &AdvantageConfig::new(Preset::Trl),
        )
        .unwrap();
    let per_seq: Vec<f64> = adv.chunks(2).map(|r| r[0]).collect();
    assert_all_close(
        "trl via enum",
        &per_seq,
        &c.output("advantages").data,
        1e-10,
        1e-12,
    );
}

fn openrlhf_case<F: Real + Tol>(c: &Case) {
    let est: OpenRlhfEstimator = c.param_str("estimator").unwrap().parse().unwrap();
    let n = c.params["n_samples_per_prompt"].as_u64().unwrap() as usize;
    let mut p = OpenRlhfAdvantage::<F>::new(est, n);
    p.gamma = F::lit(c.param_f64("gamma").unwrap());
    p.lambd = F::lit(c.param_f64("lambd").unwrap());
    p.no_std_norm = c.param_bool("no_std_norm").unwrap();
    p.kl_coef = F::lit(c.param_f64("kl_coef").unwrap());
    let clip = c.params["reward_clip_range"].as_array().unwrap();
    p.reward_clip = Some((
        F::lit(clip[0].as_f64().unwrap()),
        F::lit(clip[1].as_f64().unwrap()),
    ));
    let rewards: Vec<F> = conv(c.input("rewards"));
    let kl: Vec<F> = conv(c.input("kl"));
    let values: Vec<F> = conv(c.input("values"));
    let m = c.input("action_mask");
    let bits = m.bools();
    let mask = Mask::new(&bits, m.cols()).unwrap();
    let len = bits.len();
    let (mut adv, mut ret, mut info) = (
        vec![F::ZERO; len],
        vec![F::ZERO; len],
        vec![F::ZERO; rewards.len()],
    );
    openrlhf_advantages_and_returns(
        &mut adv,
        &mut ret,
        &mut info,
        &rewards,
        &kl,
        mask,
        Some(&values),
        &p,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", c.id));
    // OpenRLHF normalizes with float32 statistics whatever the dtype: f32-level tolerance there.
    let normalized = matches!(
        est,
        OpenRlhfEstimator::Gae
            | OpenRlhfEstimator::Reinforce
            | OpenRlhfEstimator::ReinforceBaseline
    );
    let (r, a) = tol::<F>(normalized);
    assert_all_close(
        &format!("{} advantages", c.id),
        &widen(&adv),
        &c.output("advantages").data,
        r,
        a,
    );
    let (r, a) = F::GOLDEN;
    assert_all_close(
        &format!("{} returns", c.id),
        &widen(&ret),
        &c.output("returns").data,
        r,
        a,
    );
    assert_all_close(
        &format!("{} info_return", c.id),
        &widen(&info),
        &c.output("info_return").data,
        r,
        a,
    );
}

#[test]
fn openrlhf_advantages_match_golden() {
    let g = load("openrlhf_advantages");
    for c in &g.cases {
        if c.is_f32() {
            openrlhf_case::<f32>(c);
        } else {
            openrlhf_case::<f64>(c);
        }
    }
    assert_eq!(g.cases.len(), 44);
}

fn whiten_case<F: Real + Tol>(c: &Case) {
    let x: Vec<F> = conv(c.input("values"));
    let m = c.input("mask");
    let bits = m.bools();
    let mask = Mask::new(&bits, m.cols()).unwrap();
    let (r, a) = F::GOLDEN;
    match c.function.as_str() {
        "masked_whiten" => {
            let shift = c.param_bool("shift_mean").unwrap();
            let w = Whiten::<F>::from_preset(Preset::Verl);
            let w = if shift {
                w
            } else {
                Whiten::new(
                    false,
                    true,
                    F::lit(1e-8),
                    rewardkit_core::stats::VarEps::AddToVar,
                )
                .unwrap()
                .with_count_eps(F::lit(1e-8))
                .unwrap()
            };
            let mut out = vec![F::ZERO; x.len()];
            masked_whiten(&mut out, &x, mask, &w).unwrap();
            assert_all_close(&c.id, &widen(&out), &c.output("whitened").data, r, a);
        }
        "masked_mean" => {
            // verl divides by (Σm + 1e-8); rewardkit divides by Σm exactly.
            let got = masked_mean(&x, mask).unwrap().f();
            let n = mask.count() as f64;
            let want = c.output("mean").data[0] * (n + 1e-8) / n;
            assert_all_close(&c.id, &[got], &[want], r.max(1e-9), a);
        }
        "masked_var" => {
            let unbiased = c.param_bool("unbiased").unwrap();
            let got = masked_var(&x, mask, unbiased).unwrap().f();
            assert_all_close(&c.id, &[got], &c.output("var").data, 1e-7, a);
        }
        other => panic!("unmapped {other}"),
    }
}

#[test]
fn verl_masked_statistics_match_golden() {
    let g = load("verl_masked_whiten");
    for c in &g.cases {
        if c.is_f32() {
            whiten_case::<f32>(c);
        } else {
            whiten_case::<f64>(c);
        }
    }
    assert_eq!(g.cases.len(), 10);
}
