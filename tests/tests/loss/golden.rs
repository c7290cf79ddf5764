//! The presets against the anchors' own outputs (`tests/data/golden/*.json`): every case of the
//! eight loss files, value and gradient, in the dtype the framework ran.

use rewardkit_core::kl::{KlEstimator, KlPenalty};
use rewardkit_core::loss::preference::{ld_token_weights, sequence_logps};
use rewardkit_core::loss::*;
use rewardkit_core::rng::SplitMix64;
use rewardkit_core::{Mask, Preset, Real};
use rewardkit_tests::approx_eq::{Tol, assert_all_close};
use rewardkit_tests::golden::{Case, Tensor, load};
use serde_json::Value;

use super::dpo_logits::{TrlDpo, trl_dpo_from_logits};

/// A scalar the golden suite runs in.
pub(crate) trait Fx: Real + Tol {
    fn vec(t: &Tensor) -> Vec<Self>;
}
impl Fx for f32 {
    fn vec(t: &Tensor) -> Vec<Self> {
        t.f32()
    }
}
impl Fx for f64 {
    fn vec(t: &Tensor) -> Vec<Self> {
        t.data.clone()
    }
}

fn widen<F: Fx>(x: &[F]) -> Vec<f64> {
    x.iter().map(|v| v.as_f64()).collect()
}

#[track_caller]
fn check<F: Fx>(c: &Case, what: &str, got: &[f64], want: &[f64], slack: f64) {
    let (r, a) = F::GOLDEN;
    assert_all_close(
        &format!("{} [{what}]", c.id),
        got,
        want,
        r * slack,
        a * slack,
    );
}

fn scalar(c: &Case, name: &str) -> f64 {
    c.output(name).data[0]
}

fn cfg(c: &Case) -> &Value {
    &c.params["config"]
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// Runs a policy loss and returns (value, scaled gradient) for the whole batch.
fn run_policy<F: Fx>(
    inp: &PolicyInputs<'_, F>,
    loss: &PolicyLoss<F>,
    agg: &Aggregation,
    total: Option<LossParts>,
    dp: f64,
) -> (f64, Vec<f64>) {
    let mask = inp.mask();
    let mut g = vec![F::ZERO; mask.shape().len()];
    let parts = policy_loss_rng(&mut g, inp, loss, agg, &mut SplitMix64::new(7)).unwrap();
    let total = total.unwrap_or(parts);
    let v = agg.value::<f64>(&parts, &total).unwrap() * dp;
    agg.scale_grad(&mut g, mask, &total).unwrap();
    (v, widen(&g).iter().map(|x| x * dp).collect())
}

fn agg_parse(name: &str, t: usize) -> Aggregation {
    Aggregation::from_preset(Preset::Verl, name)
        .unwrap()
        .with_horizon(t as f64)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// verl
// ---------------------------------------------------------------------------------------------

fn verl_policy<F: Fx>(c: &Case) {
    let lp = F::vec(c.input("log_prob"));
    let old_name = if c.inputs.contains_key("old_log_prob") {
        "old_log_prob"
    } else {
        "rollout_log_prob"
    };
    let old = F::vec(c.input(old_name));
    let adv = F::vec(c.input("advantages"));
    let bits = c.input("response_mask").bools();
    let t = c.input("log_prob").cols();
    let mask = Mask::new(&bits, t).unwrap();
    // The loss mask: the response mask, or what rejection sampling keeps of it (bypass mode).
    let mut keep = bits.clone();
    let conf = cfg(c);
    let pl = &conf["policy_loss"];
    let (lo, hi, cc) = if c.function == "compute_policy_loss" {
        let cr = c.param_f64("cliprange").unwrap();
        (
            c.param_f64("cliprange_low").unwrap_or(cr),
            c.param_f64("cliprange_high").unwrap_or(cr),
            c.param_f64("clip_ratio_c").unwrap(),
        )
    } else {
        (
            f(conf, "clip_ratio_low").unwrap(),
            f(conf, "clip_ratio_high").unwrap(),
            f(conf, "clip_ratio_c").unwrap(),
        )
    };
    let mut mode = pl["loss_mode"].as_str().unwrap_or("vanilla").to_string();
    if c.function == "compute_policy_loss" {
        mode = "vanilla".into();
    }
    if c.function == "compute_policy_loss_reinforce" {
        mode = "reinforce".into();
    }
    let mut weights: Option<Vec<F>> = None;
    if mode == "bypass_mode" {
        let rc = &pl["rollout_correction"];
        let reinforce = rc["loss_type"].as_str() == Some("reinforce");
        if let Some(level) = rc["rollout_is"].as_str() {
            let (lo_t, hi_t, mask_mode) = match &rc["rollout_is_threshold"] {
                Value::String(s) => {
                    let (a, b) = s.split_once('_').unwrap();
                    (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap(), true)
                }
                v => (0.0, v.as_f64().unwrap(), false),
            };
            let m = match (level, mask_mode) {
                ("token", false) => IsMode::TokenTruncate,
                ("token", true) => IsMode::TokenMask,
                ("sequence", false) => IsMode::SequenceTruncate,
                _ => IsMode::SequenceMask,
            };
            let corr = IsCorrection::from_preset(Preset::Verl, m, F::lit(lo_t), F::lit(hi_t))
                .unwrap()
                .with_batch_normalize(rc["rollout_is_batch_normalize"].as_bool() == Some(true));
            let mut w = vec![F::ZERO; lp.len()];
            // Bypass mode: the ratio of the current policy (detached) to the rollout policy.
            is_weights(&mut w, &lp, &old, mask, &corr).unwrap();
            if reinforce {
                weights = Some(w);
            }
        }
        if let Some(option) = rc["rollout_rs"].as_str() {
            let spec = match &rc["rollout_rs_threshold"] {
                Value::String(s) => s.clone(),
                v => v.as_f64().unwrap().to_string(),
            };
            verl_rejection::<F>(c, option, &spec, &lp, &old, mask, &mut keep);
        }
        mode = if reinforce { "reinforce" } else { "vanilla" }.into();
    }
    let kind = PolicyLossKind::from_verl(&mode).unwrap();
    let mut loss = PolicyLoss::<F>::from_preset(Preset::Verl, kind)
        .with_clip(F::lit(lo), F::lit(hi))
        .unwrap();
    match kind {
        PolicyLossKind::Vanilla => loss = loss.with_dual_clip(Some(F::lit(cc))).unwrap(),
        PolicyLossKind::DppoTv | PolicyLossKind::DppoKl => {
            loss = loss.with_truncation(F::lit(cc)).unwrap();
        }
        PolicyLossKind::Sapo => {
            loss = loss
                .with_sapo_tau(
                    F::lit(f(conf, "tau_pos").unwrap()),
                    F::lit(f(conf, "tau_neg").unwrap()),
                )
                .unwrap();
        }
        PolicyLossKind::Dro => {
            loss = loss
                .with_dro_beta(F::lit(f(pl, "dro_beta").unwrap()))
                .unwrap();
        }
        PolicyLossKind::ClipCov => {
            loss = loss
                .with_cov(
                    F::lit(f(pl, "clip_cov_ratio").unwrap()),
                    F::lit(f(pl, "clip_cov_lb").unwrap()),
                    F::lit(f(pl, "clip_cov_ub").unwrap()),
                )
                .unwrap();
        }
        PolicyLossKind::KlCov => {
            loss = loss
                .with_cov(F::lit(f(pl, "kl_cov_ratio").unwrap()), F::ZERO, F::ONE)
                .unwrap()
                .with_kl_cov_coef(F::lit(f(pl, "ppo_kl_coef").unwrap()))
                .unwrap();
        }
        _ => {}
    }
    let agg = match kind {
        PolicyLossKind::GspoToken | PolicyLossKind::Sapo => agg_parse("seq-mean-token-mean", t),
        PolicyLossKind::GeoMean => Aggregation::RowMeanTokenSum,
        _ => agg_parse(c.param_str("loss_agg_mode").unwrap(), t),
    };
    let mask = Mask::new(&keep, t).unwrap();
    let mut inp = PolicyInputs::new(&lp, &old, &adv, mask).unwrap();
    if let Some(w) = &weights {
        inp = inp.with_weights(w).unwrap();
    }
    let (v, g) = run_policy(&inp, &loss, &agg, None, 1.0);
    check::<F>(c, "pg_loss", &[v], &[scalar(c, "pg_loss")], 1.0);
    check::<F>(c, "grad", &g, &c.grad["log_prob"].data, 1.0);
    // Diagnostics against verl's metrics where it logs them.
    if c.function == "compute_policy_loss" {
        let d = policy_diagnostics(&inp, &loss).unwrap();
        // verl's masked_mean divides by count + 1e-8.
        let k = d.tokens as f64 / (d.tokens as f64 + 1e-8);
        check::<F>(
            c,
            "clipfrac",
            &[d.clip_fraction() * k],
            &[scalar(c, "pg_clipfrac")],
            1.0,
        );
        check::<F>(c, "ppo_kl", &[d.ppo_kl() * k], &[scalar(c, "ppo_kl")], 1.0);
        check::<F>(
            c,
            "clipfrac_lower",
            &[d.clip_fraction_lower() * k],
            &[scalar(c, "pg_clipfrac_lower")],
            1.0,
        );
    }
}

/// verl's `rollout_rs` (bypass mode): the rejection mask and the metrics verl logs for it.
fn verl_rejection<F: Fx>(
    c: &Case,
    option: &str,
    spec: &str,
    lp: &[F],
    rollout: &[F],
    mask: Mask<'_>,
    keep: &mut [bool],
) {
    let rule = RejectionRule::from_verl(option.parse().unwrap(), spec).unwrap();
    let mut st = [RejectionStats::EMPTY];
    let s = rejection_mask(keep, &mut st, lp, rollout, mask, &[rule]).unwrap();
    let st = st[0];
    let m = &c.raw["outputs"]["metrics"];
    let metric = |k: &str| {
        m.get(format!("rollout_corr/{k}"))
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{}: no metric {k}", c.id))
    };
    let p = format!("rollout_rs_{option}");
    // verl's masked means divide by N + 1e-8.
    let n = s.tokens as f64;
    let eps = n / (n + 1e-8);
    let seq_level = rule.mode().level != RsLevel::Token;
    let (units, max, min) = if seq_level {
        (st.seqs.count as f64, st.seqs.max, st.seqs.min)
    } else {
        (n, st.tokens.max, st.tokens.min)
    };
    let frac = |k: usize| {
        let f = k as f64 / units;
        if seq_level { f } else { f * eps }
    };
    let got = [
        ("mean", st.tokens.mean * eps),
        ("max", max),
        ("min", min),
        ("fraction_high", frac(st.above)),
        ("fraction_low", frac(st.below)),
        ("seq_mean", st.seqs.mean),
        ("seq_std", st.seqs.std(1)),
        ("seq_max", st.seqs.max),
        ("seq_min", st.seqs.min),
        ("masked_fraction", st.rejected_tokens as f64 / n * eps),
        (
            "seq_masked_fraction",
            st.rejected_seqs as f64 / st.seqs.count as f64,
        ),
    ];
    for (k, v) in got {
        check::<F>(
            c,
            &format!("{p}_{k}"),
            &[v],
            &[metric(&format!("{p}_{k}"))],
            1.0,
        );
    }
    let total = s.rejected_tokens as f64 / (n + 1e-8);
    check::<F>(
        c,
        "rollout_rs_masked_fraction",
        &[total],
        &[metric("rollout_rs_masked_fraction")],
        1.0,
    );
    let seqf = s.rejected_seqs as f64 / s.rows as f64;
    check::<F>(
        c,
        "rollout_rs_seq_masked_fraction",
        &[seqf],
        &[metric("rollout_rs_seq_masked_fraction")],
        1.0,
    );
}

fn verl_agg<F: Fx>(c: &Case) {
    let x = F::vec(c.input("loss_mat"));
    let bits = c.input("loss_mask").bools();
    let t = c.input("loss_mat").cols();
    let mask = Mask::new(&bits, t).unwrap();
    let horizon = c.param_f64("loss_scale_factor").unwrap_or(t as f64);
    let agg = Aggregation::from_preset(Preset::Verl, c.param_str("loss_agg_mode").unwrap())
        .unwrap()
        .with_horizon(horizon)
        .unwrap();
    let parts = LossParts::of_matrix(&x, mask, &agg).unwrap();
    let dp = c.param_f64("dp_size").unwrap_or(1.0);
    let total = match c.param_f64("batch_num_tokens") {
        Some(n) => {
            let q = c.param_f64("global_batch_size").unwrap() as usize;
            LossParts {
                tokens: n as usize,
                seqs: q,
                rows: q,
                ..parts
            }
        }
        None => parts,
    };
    let v = agg.value::<f64>(&parts, &total).unwrap() * dp;
    let mut g = vec![F::ONE; x.len()];
    agg.scale_grad(&mut g, mask, &total).unwrap();
    let g: Vec<f64> = g
        .iter()
        .zip(&bits)
        .map(|(g, &b)| if b { g.as_f64() * dp } else { 0.0 })
        .collect();
    check::<F>(c, "loss", &[v], &[scalar(c, "loss")], 1.0);
    check::<F>(c, "grad", &g, &c.grad["loss_mat"].data, 1.0);
}

fn value_case<F: Fx>(
    c: &Case,
    names: [&str; 4],
    clip: Option<f64>,
    agg: Aggregation,
    total: impl Fn(LossParts) -> LossParts,
    dp: f64,
    out: &str,
) {
    let v = F::vec(c.input(names[0]));
    let r = F::vec(c.input(names[1]));
    let old = F::vec(c.input(names[2]));
    let bits = c.input(names[3]).bools();
    let t = c.input(names[0]).cols();
    let mask = Mask::new(&bits, t).unwrap();
    let vl = ValueLoss::new(clip.map(F::lit)).unwrap();
    let mut g = vec![F::ZERO; v.len()];
    let parts = value_loss(&mut g, &v, &old, &r, mask, &vl, &agg).unwrap();
    let tot = total(parts);
    let val = agg.value::<f64>(&parts, &tot).unwrap() * dp;
    agg.scale_grad(&mut g, mask, &tot).unwrap();
    let g: Vec<f64> = widen(&g).iter().map(|x| x * dp).collect();
    check::<F>(c, "loss", &[val], &[scalar(c, out)], 1.0);
    check::<F>(c, "grad", &g, &c.grad[names[0]].data, 1.0);
}

fn verl_value<F: Fx>(c: &Case) {
    let t = c.input("vpreds").cols();
    let agg = agg_parse(c.param_str("loss_agg_mode").unwrap(), t);
    value_case::<F>(
        c,
        ["vpreds", "returns", "values", "response_mask"],
        c.param_f64("cliprange_value"),
        agg,
        |p| p,
        1.0,
        "vf_loss",
    );
}

// ---------------------------------------------------------------------------------------------
// TRL
// ---------------------------------------------------------------------------------------------

fn trl_grpo<F: Fx>(c: &Case) {
    let p = &c.params;
    let lp = F::vec(c.input("per_token_logps"));
    let old = c
        .inputs
        .get("old_per_token_logps")
        .map_or_else(|| lp.clone(), F::vec);
    let adv = F::vec(c.input("advantages"));
    let bits = c.input("completion_mask").bools();
    let t = c.input("per_token_logps").cols();
    let b = bits.len() / t;
    let mask = Mask::new(&bits, t).unwrap();
    let lt = c.param_str("loss_type").unwrap();
    let eps = c.param_f64("epsilon").unwrap();
    let eps_high = c.param_f64("epsilon_high").unwrap_or(eps);
    let seq_level = c.param_str("importance_sampling_level") == Some("sequence");
    let kind = match lt {
        "cispo" => PolicyLossKind::Cispo,
        "sapo" => PolicyLossKind::Sapo,
        "vespo" => PolicyLossKind::Vespo,
        _ if seq_level => PolicyLossKind::Gspo,
        _ => PolicyLossKind::Vanilla,
    };
    let mut loss = PolicyLoss::<F>::from_preset(Preset::Trl, kind);
    loss = if kind == PolicyLossKind::Cispo {
        // TRL's CISPO caps the weight at epsilon_high (absolute), no lower bound.
        loss.with_clip(F::ONE, F::lit(eps_high - 1.0)).unwrap()
    } else {
        loss.with_clip(F::lit(eps), F::lit(eps_high)).unwrap()
    };
    loss = loss.with_delta(c.param_f64("delta").map(F::lit)).unwrap();
    if kind == PolicyLossKind::Sapo {
        let r = |x: f64| F::lit(f64::from(x as f32));
        loss = loss
            .with_sapo_tau(
                r(c.param_f64("sapo_temperature_pos").unwrap()),
                r(c.param_f64("sapo_temperature_neg").unwrap()),
            )
            .unwrap();
    }
    if kind == PolicyLossKind::Vespo {
        let v = &p["vespo"];
        loss = loss
            .with_vespo(
                F::lit(f(v, "k_pos").unwrap()),
                F::lit(f(v, "lambda_pos").unwrap()),
                F::lit(f(v, "k_neg").unwrap()),
                F::lit(f(v, "lambda_neg").unwrap()),
            )
            .unwrap();
    }
    let refp;
    if let Some(beta) = c.param_f64("beta") {
        let kl = KlTerm::new(
            KlPenalty::from_preset(Preset::Trl, KlEstimator::K3),
            F::lit(beta),
        )
        .unwrap()
        .with_importance_weighted(c.param_bool("use_bias_correction_kl") == Some(true));
        loss = loss.with_kl(Some(kl));
        refp = F::vec(c.input("ref_per_token_logps"));
    } else {
        refp = Vec::new();
    }
    // Token masks: high-entropy selection, then the off-policy sequence mask.
    let ent = F::vec(c.input("entropies"));
    let mut w = vec![F::ONE; lp.len()];
    if let Some(q) = c.param_f64("top_entropy_quantile") {
        entropy_mask(&mut w, &ent, mask, F::lit(q)).unwrap();
    }
    if let Some(delta) = c.param_f64("off_policy_mask_threshold") {
        let samp = F::vec(c.input("sampling_per_token_logps"));
        let mut opm = vec![F::ZERO; lp.len()];
        off_policy_mask(&mut opm, &lp, &samp, &adv, mask, F::lit(delta)).unwrap();
        w.iter_mut().zip(&opm).for_each(|(a, b)| *a = *a * *b);
    }
    let mut inp = PolicyInputs::new(&lp, &old, &adv, mask)
        .unwrap()
        .with_weights(&w)
        .unwrap();
    if !refp.is_empty() {
        inp = inp.with_ref(&refp).unwrap();
    }
    let ga = c.param_f64("gradient_accumulation_steps").unwrap_or(1.0);
    let nproc = c.param_f64("num_processes").unwrap_or(1.0);
    let (agg, total, div) = match lt {
        "grpo" | "sapo" => (Aggregation::RowMeanTokenMean, None, ga),
        "bnpo" => (Aggregation::TokenMean, None, ga),
        "luspo" => (Aggregation::RowMeanTokenSum, None, ga),
        "dr_grpo" => (
            Aggregation::RowMeanTokenSumNorm { horizon: 0.0 }
                .with_horizon(c.param_f64("max_completion_length").unwrap())
                .unwrap(),
            None,
            ga,
        ),
        _ => {
            // dapo, cispo, vespo: normalized by the generation batch's token count per process.
            let n = c.input("num_items_in_batch").data[0] / nproc;
            let total = LossParts {
                tokens: n as usize,
                seqs: b,
                rows: b,
                ..LossParts::ZERO
            };
            assert_eq!(total.tokens as f64, n, "{}: integral token count", c.id);
            (Aggregation::TokenMean, Some(total), 1.0)
        }
    };
    let (mut v, g) = run_policy(&inp, &loss, &agg, total, 1.0 / div);
    if let Some(ec) = c.param_f64("entropy_coef") {
        // TRL's entropy bonus is always a token mean, whatever the loss type.
        let h = LossParts::of_matrix(&ent, mask, &Aggregation::TokenMean).unwrap();
        v -= ec * Aggregation::TokenMean.value::<f64>(&h, &h).unwrap();
    }
    check::<F>(c, "loss", &[v], &[scalar(c, "loss")], 1.0);
    check::<F>(c, "grad", &g, &c.grad["per_token_logps"].data, 1.0);
}

fn trl_dpo<F: Fx>(c: &Case) {
    let p = &c.params;
    let lp = F::vec(c.input("policy_per_token_logps"));
    let rf = F::vec(c.input("ref_per_token_logps"));
    let t = c.input("policy_per_token_logps").cols();
    // completion_mask covers input_ids; the log-probs are for input_ids[:, 1:].
    let full = c.input("completion_mask").bools();
    let tf = c.input("completion_mask").cols();
    let bits: Vec<bool> = full.chunks(tf).flat_map(|r| r[1..].to_vec()).collect();
    let rows = bits.len() / t;
    let n = rows / 2;
    let (mc, mr) = bits.split_at(n * t);
    let (mask_c, mask_r) = (Mask::new(mc, t).unwrap(), Mask::new(mr, t).unwrap());
    let mask_all = Mask::new(&bits, t).unwrap();
    // Token weights: 1, or LD-DPO's public-prefix weights.
    let mut w = vec![F::ZERO; bits.len()];
    match c.param_f64("ld_alpha") {
        Some(a) => {
            let (wc, wr) = w.split_at_mut(n * t);
            ld_token_weights(wc, wr, mask_c, mask_r, F::lit(a)).unwrap();
        }
        None => w
            .iter_mut()
            .zip(&bits)
            .for_each(|(w, &b)| *w = if b { F::ONE } else { F::ZERO }),
    }
    let mut seq = vec![F::ZERO; rows];
    let mut seq_ref = vec![F::ZERO; rows];
    sequence_logps(&mut seq, &lp, Some(&w), mask_all).unwrap();
    sequence_logps(&mut seq_ref, &rf, Some(&w), mask_all).unwrap();
    let (pc, pr) = seq.split_at(n);
    let (rc, rr) = seq_ref.split_at(n);
    for (name, got) in [
        ("chosen_logps", pc),
        ("rejected_logps", pr),
        ("ref_chosen_logps", rc),
        ("ref_rejected_logps", rr),
    ] {
        check::<F>(c, name, &widen(got), &c.output(name).data, 1.0);
    }
    let lens: Vec<F> = bits
        .chunks(t)
        .map(|r| F::from_usize(r.iter().filter(|&&b| b).count()))
        .collect();
    let (lc, lr) = lens.split_at(n);
    let inp = PairInputs::new(pc, pr, rc, rr)
        .unwrap()
        .with_lengths(lc, lr)
        .unwrap();
    let beta = F::lit(c.param_f64("beta").unwrap());
    let eps = c.param_f64("label_smoothing").unwrap_or(0.0);
    let div = match c.param_str("f_divergence_type").unwrap_or("reverse_kl") {
        "forward_kl" => DivergenceKind::ForwardKl,
        "js_divergence" => DivergenceKind::JsDivergence,
        "alpha_divergence" => {
            DivergenceKind::Alpha(c.param_f64("f_alpha_divergence_coef").unwrap_or(0.5))
        }
        _ => DivergenceKind::ReverseKl,
    };
    let types: Vec<&str> = p["loss_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let weights: Vec<f64> = p.get("loss_weights").and_then(Value::as_array).map_or_else(
        || vec![1.0; types.len()],
        |a| a.iter().map(|v| v.as_f64().unwrap()).collect(),
    );
    let (mut total, mut gc_all, mut gr_all) = (0.0, vec![0.0; n], vec![0.0; n]);
    let mut slack = 1.0;
    for (ty, wt) in types.iter().zip(&weights) {
        let kind: PreferenceLossKind = ty.parse().unwrap();
        // TRL's `sigmoid` ignores label_smoothing in this version; the others use it.
        let e = if kind == PreferenceLossKind::Sigmoid {
            0.0
        } else {
            eps
        };
        if kind == PreferenceLossKind::ExoPair {
            // Unexplained 2e-8 relative gap to TRL (see docs/numerics.md).
            slack = 1e3;
        }
        let loss = PreferenceLoss::new(kind)
            .with_beta(beta)
            .unwrap()
            .with_label_smoothing(F::lit(e))
            .unwrap()
            .with_divergence(div)
            .unwrap()
            .with_discopop_tau(F::lit(c.param_f64("discopop_tau").unwrap_or(0.05)))
            .unwrap();
        let inp = if kind == PreferenceLossKind::Ipo || kind == PreferenceLossKind::SigmoidNorm {
            inp
        } else {
            PairInputs::new(pc, pr, rc, rr).unwrap()
        };
        let (mut gc, mut gr) = (vec![F::ZERO; n], vec![F::ZERO; n]);
        let parts = preference_loss(&mut gc, &mut gr, &inp, &loss).unwrap();
        let agg = Aggregation::TokenMean;
        total += wt * agg.value::<f64>(&parts, &parts).unwrap();
        for k in 0..n {
            gc_all[k] += wt * gc[k].as_f64() / n as f64;
            gr_all[k] += wt * gr[k].as_f64() / n as f64;
        }
    }
    check::<F>(c, "loss", &[total], &[scalar(c, "loss")], slack);
    check::<F>(
        c,
        "d/d chosen",
        &gc_all,
        &c.grad["output:chosen_logps"].data,
        slack,
    );
    check::<F>(
        c,
        "d/d rejected",
        &gr_all,
        &c.grad["output:rejected_logps"].data,
        slack,
    );
    // Chain rule to the per-token log-probs: ∂/∂ log πᵢₜ = wᵢₜ·∂/∂ seqᵢ.
    let g: Vec<f64> = (0..rows * t)
        .map(|idx| {
            let row = idx / t;
            let up = if row < n {
                gc_all[row]
            } else {
                gr_all[row - n]
            };
            w[idx].as_f64() * up
        })
        .collect();
    check::<F>(
        c,
        "grad tokens",
        &g,
        &c.grad["policy_per_token_logps"].data,
        slack,
    );
}

/// TRL's `logits -> loss` block (`dpo_loss_from_logits`): shift as TRL does, then run the
/// composition of rewardkit kernels in `dpo_logits` and compare every output and the logits
/// gradient.
fn trl_dpo_logits<F: Fx>(c: &Case) {
    let p = &c.params;
    let shape = &c.input("logits").shape;
    let (rows, l, v) = (shape[0], shape[1], shape[2]);
    let (n, t) = (rows / 2, l - 1);
    // TRL's shift: logits[:, :-1] predict input_ids[:, 1:], masked by completion_mask[:, 1:].
    let shift = |x: &[F]| -> Vec<F> { x.chunks(l * v).flat_map(|r| r[..t * v].to_vec()).collect() };
    let logits = shift(&F::vec(c.input("logits")));
    let ref_logits = shift(&F::vec(c.input("ref_logits")));
    let ids: Vec<u32> = c
        .input("input_ids")
        .data
        .chunks(l)
        .flat_map(|r| r[1..].iter().map(|&x| x as u32))
        .collect();
    let bits: Vec<bool> = c
        .input("completion_mask")
        .bools()
        .chunks(l)
        .flat_map(|r| r[1..].to_vec())
        .collect();
    let types: Vec<String> = p["loss_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let cfg = TrlDpo {
        weights: p.get("loss_weights").and_then(Value::as_array).map_or_else(
            || vec![1.0; types.len()],
            |a| a.iter().map(|v| v.as_f64().unwrap()).collect(),
        ),
        types,
        beta: c.param_f64("beta").unwrap(),
        label_smoothing: c.param_f64("label_smoothing").unwrap_or(0.0),
        ld_alpha: c.param_f64("ld_alpha"),
        use_weighting: c.param_bool("use_weighting") == Some(true),
        frozen_wpo: None,
    };
    assert_eq!(c.param_str("f_divergence_type"), Some("reverse_kl"));
    let out = trl_dpo_from_logits(&cfg, &logits, &ref_logits, &ids, &bits, t, v);
    for (name, got) in [
        ("chosen_logps", &out.seq[..n]),
        ("rejected_logps", &out.seq[n..]),
        ("ref_chosen_logps", &out.seq_ref[..n]),
        ("ref_rejected_logps", &out.seq_ref[n..]),
    ] {
        check::<F>(c, name, got, &c.output(name).data, 1.0);
    }
    check::<F>(c, "loss", &[out.loss], &[scalar(c, "loss")], 1.0);
    check::<F>(
        c,
        "last_per_sequence_loss",
        &out.last,
        &c.output("last_per_sequence_loss").data,
        1.0,
    );
    // The last position predicts nothing and gets no gradient.
    let mut g = vec![0.0; rows * l * v];
    for (dst, src) in g.chunks_mut(l * v).zip(out.grad.chunks(t * v)) {
        dst[..t * v].copy_from_slice(src);
    }
    check::<F>(c, "grad logits", &g, &c.grad["logits"].data, 1.0);
}

// ---------------------------------------------------------------------------------------------
// OpenRLHF
// ---------------------------------------------------------------------------------------------

fn openrlhf_total(c: &Case, parts: LossParts) -> (LossParts, f64) {
    match c.param_f64("batch_num_tokens") {
        Some(n) => {
            let q = c.param_f64("global_batch_size").unwrap() as usize;
            (
                LossParts {
                    tokens: n as usize,
                    seqs: q,
                    rows: q,
                    ..parts
                },
                c.param_f64("dp_size").unwrap(),
            )
        }
        None => (parts, 1.0),
    }
}

fn openrlhf_agg(token_level: bool) -> Aggregation {
    if token_level {
        Aggregation::TokenMean
    } else {
        // OpenRLHF's sample-level `masked_mean` has no epsilon (the values confirm it).
        Aggregation::SeqMeanTokenMean { len_eps: 0.0 }
    }
}

fn openrlhf_policy<F: Fx>(c: &Case) {
    let lp = F::vec(c.input("log_probs"));
    let old = F::vec(c.input("old_log_probs"));
    let adv = F::vec(c.input("advantages"));
    let roll = F::vec(c.input("rollout_log_probs"));
    let bits = c.input("action_mask").bools();
    let t = c.input("log_probs").cols();
    let mask = Mask::new(&bits, t).unwrap();
    let gspo = c.param_str("policy_loss_type") == Some("gspo");
    let kind = if gspo {
        PolicyLossKind::Gspo
    } else {
        PolicyLossKind::Vanilla
    };
    let lo = c.param_f64("clip_eps_low").unwrap_or(0.2);
    let hi = c.param_f64("clip_eps_high").unwrap_or(0.2);
    let loss = PolicyLoss::<F>::from_preset(Preset::OpenRlhf, kind)
        .with_clip(F::lit(lo), F::lit(hi))
        .unwrap()
        .with_dual_clip(c.param_f64("dual_clip").map(F::lit))
        .unwrap();
    let mut w = None;
    let is_on = c.param_bool("enable_vllm_is_correction") == Some(true);
    // OpenRLHF's GSPO takes its sequence ratio against the rollout log-probs when IS is on.
    let old = if is_on && gspo { roll.clone() } else { old };
    if is_on && !gspo {
        let th = c.params["vllm_is_truncated_threshold"].as_array().unwrap();
        let (a, b) = (th[0].as_f64().unwrap(), th[1].as_f64().unwrap());
        let mode: IsMode = c
            .param_str("vllm_is_correction_type")
            .unwrap()
            .parse()
            .unwrap();
        let corr = IsCorrection::new(mode, F::lit(a), F::lit(b)).unwrap();
        let mut ww = vec![F::ZERO; lp.len()];
        is_weights(&mut ww, &old, &roll, mask, &corr).unwrap();
        w = Some(ww);
    }
    let token_level = c.param_bool("token_level_loss").unwrap_or(true) && !gspo;
    let agg = openrlhf_agg(token_level);
    let mut inp = PolicyInputs::new(&lp, &old, &adv, mask).unwrap();
    if let Some(w) = &w {
        inp = inp.with_weights(w).unwrap();
    }
    let mut g = vec![F::ZERO; lp.len()];
    let parts = policy_loss(&mut g, &inp, &loss, &agg).unwrap();
    let (total, dp) = openrlhf_total(c, parts);
    let v = agg.value::<f64>(&parts, &total).unwrap() * dp;
    agg.scale_grad(&mut g, mask, &total).unwrap();
    let g: Vec<f64> = widen(&g).iter().map(|x| x * dp).collect();
    check::<F>(c, "loss", &[v], &[scalar(c, "loss")], 1.0);
    check::<F>(c, "grad", &g, &c.grad["log_probs"].data, 1.0);
}

fn openrlhf_aggregate<F: Fx>(c: &Case) {
    let x = F::vec(c.input("loss"));
    let bits = c.input("loss_mask").bools();
    let mask = Mask::new(&bits, c.input("loss").cols()).unwrap();
    let agg = openrlhf_agg(c.param_bool("token_level_loss").unwrap());
    let parts = LossParts::of_matrix(&x, mask, &agg).unwrap();
    let (total, dp) = openrlhf_total(c, parts);
    let v = agg.value::<f64>(&parts, &total).unwrap() * dp;
    let mut g = vec![F::ONE; x.len()];
    agg.scale_grad(&mut g, mask, &total).unwrap();
    let g: Vec<f64> = g
        .iter()
        .zip(&bits)
        .map(|(g, &b)| if b { g.as_f64() * dp } else { 0.0 })
        .collect();
    check::<F>(c, "loss", &[v], &[scalar(c, "loss")], 1.0);
    check::<F>(c, "grad", &g, &c.grad["loss"].data, 1.0);
}

fn openrlhf_value<F: Fx>(c: &Case) {
    let agg = openrlhf_agg(c.param_bool("token_level_loss").unwrap());
    let bits = c.input("action_mask").bools();
    let t = c.input("values").cols();
    let x = F::vec(c.input("values"));
    let mask = Mask::new(&bits, t).unwrap();
    let parts = LossParts::of_matrix(&x, mask, &agg).unwrap();
    let (_, dp) = openrlhf_total(c, parts);
    value_case::<F>(
        c,
        ["values", "returns", "old_values", "action_mask"],
        c.param_f64("clip_eps"),
        agg,
        |p| openrlhf_total(c, p).0,
        dp,
        "loss",
    );
}

fn openrlhf_dpo<F: Fx>(c: &Case) {
    let agg = Aggregation::TokenMean;
    if c.function == "DPOLoss.forward" {
        let pc = F::vec(c.input("policy_chosen_logps"));
        let pr = F::vec(c.input("policy_rejected_logps"));
        let rc = F::vec(c.input("reference_chosen_logps"));
        let rr = F::vec(c.input("reference_rejected_logps"));
        let kind = if c.param_bool("ipo") == Some(true) {
            PreferenceLossKind::Ipo
        } else {
            PreferenceLossKind::Sigmoid
        };
        let beta = c.param_f64("beta").unwrap();
        let loss = PreferenceLoss::new(kind)
            .with_beta(F::lit(beta))
            .unwrap()
            .with_label_smoothing(F::lit(c.param_f64("label_smoothing").unwrap()))
            .unwrap();
        let inp = PairInputs::new(&pc, &pr, &rc, &rr).unwrap();
        let n = pc.len();
        let (mut gc, mut gr) = (vec![F::ZERO; n], vec![F::ZERO; n]);
        let parts = preference_loss(&mut gc, &mut gr, &inp, &loss).unwrap();
        let v = agg.value::<f64>(&parts, &parts).unwrap();
        check::<F>(c, "loss", &[v], &[scalar(c, "loss")], 1.0);
        let sc = |g: &[F]| -> Vec<f64> { g.iter().map(|x| x.as_f64() / n as f64).collect() };
        check::<F>(
            c,
            "grad c",
            &sc(&gc),
            &c.grad["policy_chosen_logps"].data,
            1.0,
        );
        check::<F>(
            c,
            "grad r",
            &sc(&gr),
            &c.grad["policy_rejected_logps"].data,
            1.0,
        );
        let rewards: Vec<f64> = (0..n)
            .map(|k| beta * (pc[k].as_f64() - rc[k].as_f64()))
            .collect();
        check::<F>(
            c,
            "chosen_rewards",
            &rewards,
            &c.output("chosen_rewards").data,
            1.0,
        );
    } else {
        let ch = F::vec(c.input("chosen_reward"));
        let rj = F::vec(c.input("reject_reward"));
        let n = ch.len();
        let margin: Option<Vec<F>> = c.param_f64("margin").map(|m| vec![F::lit(m); n]);
        let (mut gc, mut gr) = (vec![F::ZERO; n], vec![F::ZERO; n]);
        let bt = BradleyTerry::new(F::ZERO).unwrap();
        let parts = bradley_terry_loss(&mut gc, &mut gr, &ch, &rj, margin.as_deref(), &bt).unwrap();
        let v = agg.value::<f64>(&parts, &parts).unwrap();
        check::<F>(c, "loss", &[v], &[scalar(c, "loss")], 1.0);
        let sc = |g: &[F]| -> Vec<f64> { g.iter().map(|x| x.as_f64() / n as f64).collect() };
        check::<F>(c, "grad c", &sc(&gc), &c.grad["chosen_reward"].data, 1.0);
        check::<F>(c, "grad r", &sc(&gr), &c.grad["reject_reward"].data, 1.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------------------------

fn each(file: &str, skip: impl Fn(&Case) -> bool, run32: fn(&Case), run64: fn(&Case)) -> usize {
    let g = load(file);
    let mut n = 0;
    for c in &g.cases {
        if c.error.as_ref().is_some_and(|e| !e.is_null()) || skip(c) {
            continue;
        }
        if c.is_f32() {
            run32(c)
        } else {
            run64(c)
        }
        n += 1;
    }
    n
}

#[test]
fn verl_policy_losses() {
    let n = each(
        "verl_policy_losses",
        |_| false,
        verl_policy::<f32>,
        verl_policy::<f64>,
    );
    assert_eq!(n, 44);
}

#[test]
fn verl_agg_loss() {
    assert_eq!(
        each("verl_agg_loss", |_| false, verl_agg::<f32>, verl_agg::<f64>),
        22
    );
}

#[test]
fn verl_value_loss() {
    assert_eq!(
        each(
            "verl_value_loss",
            |_| false,
            verl_value::<f32>,
            verl_value::<f64>
        ),
        20
    );
}

#[test]
fn trl_grpo_loss() {
    assert_eq!(
        each("trl_grpo_loss", |_| false, trl_grpo::<f32>, trl_grpo::<f64>),
        60
    );
}

#[test]
fn trl_dpo_loss() {
    // The f64 alpha-divergence case raised in TRL itself (skipped as an error case).
    fn is_logits(c: &Case) -> bool {
        c.function.contains("logits")
    }
    let n = each(
        "trl_dpo_loss",
        |_| false,
        |c| {
            if is_logits(c) {
                trl_dpo_logits::<f32>(c)
            } else {
                trl_dpo::<f32>(c)
            }
        },
        |c| {
            if is_logits(c) {
                trl_dpo_logits::<f64>(c)
            } else {
                trl_dpo::<f64>(c)
            }
        },
    );
    assert_eq!(n, 61);
    // Every `logits -> loss` case ran (6 float64, 6 float32).
    let g = load("trl_dpo_loss");
    let logits: Vec<&Case> = g.cases.iter().filter(|c| is_logits(c)).collect();
    assert_eq!(logits.len(), 12);
    assert!(
        logits
            .iter()
            .all(|c| c.error.as_ref().is_none_or(Value::is_null))
    );
    assert_eq!(logits.iter().filter(|c| c.is_f32()).count(), 6);
}

#[test]
fn openrlhf_policy_loss() {
    let n = each(
        "openrlhf_policy_loss",
        |_| false,
        |c| {
            if c.function == "aggregate_loss" {
                openrlhf_aggregate::<f32>(c)
            } else {
                openrlhf_policy::<f32>(c)
            }
        },
        |c| {
            if c.function == "aggregate_loss" {
                openrlhf_aggregate::<f64>(c)
            } else {
                openrlhf_policy::<f64>(c)
            }
        },
    );
    assert_eq!(n, 36);
}

#[test]
fn openrlhf_value_loss() {
    assert_eq!(
        each(
            "openrlhf_value_loss",
            |_| false,
            openrlhf_value::<f32>,
            openrlhf_value::<f64>
        ),
        24
    );
}

#[test]
fn openrlhf_dpo_loss() {
    assert_eq!(
        each(
            "openrlhf_dpo_loss",
            |_| false,
            openrlhf_dpo::<f32>,
            openrlhf_dpo::<f64>
        ),
        16
    );
}

#[test]
fn kl_estimator_names_reach_the_loss() {
    // The KL term accepts every core estimator (smoke check of the wiring).
    for est in [
        KlEstimator::K1,
        KlEstimator::K2,
        KlEstimator::K3,
        KlEstimator::Abs,
    ] {
        let t = KlTerm::new(KlPenalty::<f64>::new(est), 0.1).unwrap();
        assert_eq!(t.penalty().estimator(), est);
    }
}
