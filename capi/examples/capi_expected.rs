//! The expected values of the C test (`capi/tests/capi_test.c`), computed by calling
//! `rewardkit-core` directly, never through this crate's C functions (the code under test).
//!
//! `cargo run -p rewardkit-capi --example capi_expected -- OUT.txt` writes one line per case:
//!
//! ```text
//! NAME f32 N HEX...      bit patterns of N floats (8 hex digits each)
//! NAME f64 N HEX...      bit patterns of N doubles (16 hex digits each)
//! NAME u64 N DEC...      N counts
//! NAME msg TEXT          the message of an error (the rest of the line)
//! ```
//!
//! The C test builds the same inputs from the same `SplitMix64` seeds (`capi/examples/splitmix64.h`,
//! in the same order as [`Inputs::new`] here), calls the C API, and compares bit for bit.

#![allow(
    clippy::print_stdout,
    clippy::std_instead_of_core,
    clippy::cast_possible_truncation,
    reason = "a generator binary: prints, uses std, and draws u32 ids and lengths as the C side does"
)]

use std::fmt::Write as _;

use rewardkit_core::advantage::{
    AdvantageConfig, AdvantageInputs, AdvantagePlan, Grpo, PlanSizes, Scale, grpo, sequence_sums,
};
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, DardWeights, Epic, Norm, Order, Starc, Weights,
};
use rewardkit_core::logits::{
    RowStats, entropy_backward, entropy_forward, logprobs_backward, logprobs_forward,
};
use rewardkit_core::loss::{
    Aggregation, BradleyTerry, IsCorrection, IsMode, LossParts, PairInputs, PolicyInputs,
    PolicyLoss, PolicyLossKind, PreferenceLoss, PreferenceLossKind, RejectionRule, RejectionStats,
    ValueLoss, bradley_terry_loss, combined_preference_loss, entropy_upstream, is_weights,
    policy_diagnostics, policy_loss, policy_loss_rng, preference_loss, rejection_mask, value_loss,
};
use rewardkit_core::mdp::{Mdp, Policy, Reward, SparseTransitions, Transitions};
use rewardkit_core::reward::{
    Batch, Correctness, CosineLength, Format, FormatLength, GroupLengthPenalty, KimiLength, Laser,
    LaserMode, Overlong, Pipeline, RewardTerm, Weighted,
};
use rewardkit_core::reward::{
    Hapo, HapoHistory, HapoShape, HistoryMode, LaserD, LaserDState, MonitorBanding, Rounding,
    TargetLen, Thresholds,
};
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_core::stats::Summary;
use rewardkit_core::{
    AdvantageEstimator, Error, GroupIndex, KlEstimator, KlPenalty, KlTerm, Mask, Preset, Real,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Sizes of the shared batch.
const B: usize = 24;
const T: usize = 8;
const G: usize = 6;
const V: usize = 5;
/// MDP sizes.
const S: usize = 4;
const A: usize = 3;

/// The response texts, row `i` gets `TEXTS[i % 6]`.
const TEXTS: [&str; 6] = [
    "<think>a</think> \\boxed{1}",
    "no",
    "<think>b</think> <answer>2</answer>",
    "<think>c</think>",
    "\\boxed{3}",
    "<think>x</think> so \\(x\\)",
];

/// Every input of the test, drawn in this order from `SplitMix64::new(11)` (the C test draws the same).
struct Inputs {
    ids: Vec<u32>,
    lens: Vec<u32>,
    correct: Vec<bool>,
    mask: Vec<bool>,
    /// `(B)`.
    scores: Vec<f64>,
    /// `(B, T)`: the score on the last valid token, 0 elsewhere, 7 at masked positions.
    token_rewards: Vec<f64>,
    values: Vec<f64>,
    baselines: Vec<f64>,
    logp: Vec<f64>,
    old_logp: Vec<f64>,
    ref_logp: Vec<f64>,
    entropy: Vec<f64>,
    seq_adv: Vec<f64>,
    logits: Vec<f64>,
    tokens: Vec<u32>,
    grad_out: Vec<f64>,
    /// `(S, A, S)`, rows normalized in f64.
    tau: Vec<f64>,
    initial: Vec<f64>,
    r_full: Vec<f64>,
    r_sa: Vec<f64>,
    r_s: Vec<f64>,
}

impl Inputs {
    fn new() -> Self {
        let mut rng = SplitMix64::new(11);
        let u = |n: usize, f: &dyn Fn(f64) -> f64, rng: &mut SplitMix64| -> Vec<f64> {
            (0..n).map(|_| f(rng.next_f64())).collect()
        };
        let mut ids: Vec<u32> = (0..B).map(|i| (i % G) as u32).collect();
        for i in (1..B).rev() {
            ids.swap(i, rng.below(i + 1));
        }
        let lens: Vec<u32> = (0..B).map(|_| 1 + rng.below(T) as u32).collect();
        let correct: Vec<bool> = (0..B).map(|_| rng.next_f64() < 0.5).collect();
        let mask: Vec<bool> = (0..B * T).map(|k| (k % T) < lens[k / T] as usize).collect();
        let scores = u(B, &|x| 2.0 * x - 1.0, &mut rng);
        let mut token_rewards = vec![0.0; B * T];
        for i in 0..B {
            for j in 0..T {
                let k = i * T + j;
                token_rewards[k] = if !mask[k] {
                    7.0
                } else if j + 1 == lens[i] as usize {
                    scores[i]
                } else {
                    0.0
                };
            }
        }
        let values = u(B * T, &|x| x, &mut rng);
        let baselines = u(B, &|x| x - 0.5, &mut rng);
        let logp = u(B * T, &|x| -3.0 * x, &mut rng);
        let old_logp = u(B * T, &|x| -3.0 * x, &mut rng);
        let ref_logp = u(B * T, &|x| -3.0 * x, &mut rng);
        let entropy = u(B * T, &|x| 2.0 * x, &mut rng);
        let seq_adv = u(B, &|x| 2.0 * x - 1.0, &mut rng);
        let logits = u(B * T * V, &|x| 4.0 * x - 2.0, &mut rng);
        let tokens: Vec<u32> = (0..B * T).map(|_| rng.below(V) as u32).collect();
        let grad_out = u(B * T, &|x| x - 0.5, &mut rng);
        let mut tau = u(S * A * S, &|x| x + 0.05, &mut rng);
        for row in tau.chunks_mut(S) {
            let mut sum = 0.0;
            for &x in row.iter() {
                sum += x;
            }
            for x in row.iter_mut() {
                *x /= sum;
            }
        }
        let initial = vec![1.0 / S as f64; S];
        let r_full = u(S * A * S, &|x| 2.0 * x - 1.0, &mut rng);
        let r_sa = u(S * A, &|x| 2.0 * x - 1.0, &mut rng);
        let r_s = u(S, &|x| 2.0 * x - 1.0, &mut rng);
        Self {
            ids,
            lens,
            correct,
            mask,
            scores,
            token_rewards,
            values,
            baselines,
            logp,
            old_logp,
            ref_logp,
            entropy,
            seq_adv,
            logits,
            tokens,
            grad_out,
            tau,
            initial,
            r_full,
            r_sa,
            r_s,
        }
    }
}

/// The output file.
#[derive(Default)]
struct Out {
    text: String,
}

/// A float type's line format.
trait Bits: Real {
    const TAG: &'static str;
    fn hex(self) -> String;
}

impl Bits for f32 {
    const TAG: &'static str = "f32";
    fn hex(self) -> String {
        format!("{:08x}", self.to_bits())
    }
}

impl Bits for f64 {
    const TAG: &'static str = "f64";
    fn hex(self) -> String {
        format!("{:016x}", self.to_bits())
    }
}

impl Out {
    fn floats<F: Bits>(&mut self, name: &str, xs: &[F]) {
        let _ = write!(self.text, "{name} {} {}", F::TAG, xs.len());
        for x in xs {
            let _ = write!(self.text, " {}", x.hex());
        }
        self.text.push('\n');
    }

    fn f64s(&mut self, name: &str, xs: &[f64]) {
        self.floats::<f64>(name, xs);
    }

    fn counts(&mut self, name: &str, xs: &[usize]) {
        let _ = write!(self.text, "{name} u64 {}", xs.len());
        for x in xs {
            let _ = write!(self.text, " {x}");
        }
        self.text.push('\n');
    }

    fn msg(&mut self, name: &str, e: impl std::fmt::Display) {
        let _ = writeln!(self.text, "{name} msg {e}");
    }

    fn parts(&mut self, name: &str, p: &LossParts) {
        self.f64s(&format!("{name}.sums"), &[p.sum, p.seq_mean_sum]);
        self.counts(&format!("{name}.counts"), &[p.tokens, p.seqs, p.rows]);
    }
}

fn cast<F: Real>(x: &[f64]) -> Vec<F> {
    x.iter().map(|&v| F::lit(v)).collect()
}

/// Every case for one float type (the C test runs the same list for `float` and `double`).
fn cases<F: Bits>(x: &Inputs, o: &mut Out) -> Res<()> {
    let t = F::TAG;
    let groups = GroupIndex::new(&x.ids, G)?;
    let mask = Mask::new(&x.mask, T)?;
    let scores: Vec<F> = cast(&x.scores);
    let token_rewards: Vec<F> = cast(&x.token_rewards);

    // GRPO on scalar rewards: rewardkit defaults, and dr_grpo under verl.
    let mut out = vec![F::ZERO; B];
    grpo(
        &mut out,
        &scores,
        &groups,
        &Grpo::from_preset(Preset::Rewardkit, Scale::Group),
    )?;
    o.floats(&format!("grpo_{t}"), &out);
    grpo(
        &mut out,
        &scores,
        &groups,
        &Grpo::from_preset(Preset::Verl, Scale::None),
    )?;
    o.floats(&format!("dr_grpo_verl_{t}"), &out);
    let blocks = GroupIndex::uniform(B, 4)?;
    grpo(
        &mut out,
        &scores,
        &blocks,
        &Grpo::from_preset(Preset::Rewardkit, Scale::Group),
    )?;
    o.floats(&format!("grpo_uniform_{t}"), &out);

    // Full plans over (B, T).
    let full =
        |est: AdvantageEstimator, cfg: AdvantageConfig<F>, o: &mut Out, name: &str| -> Res<()> {
            let mut inputs = AdvantageInputs::new(&token_rewards, mask).with_groups(&groups);
            let values: Vec<F> = cast(&x.values);
            let baselines: Vec<F> = cast(&x.baselines);
            if est == AdvantageEstimator::Gae {
                inputs = inputs.with_values(&values);
            }
            if est == AdvantageEstimator::Remax {
                inputs = inputs.with_reward_baselines(&baselines);
            }
            let (mut adv, mut ret) = (vec![F::ZERO; B * T], vec![F::ZERO; B * T]);
            est.compute(&mut adv, &mut ret, &inputs, &cfg)?;
            o.floats(&format!("{name}.adv_{t}"), &adv);
            o.floats(&format!("{name}.ret_{t}"), &ret);
            Ok(())
        };
    full(
        AdvantageEstimator::Grpo,
        AdvantageConfig::new(Preset::Verl),
        o,
        "adv_grpo_verl",
    )?;
    full(
        AdvantageEstimator::Gae,
        AdvantageConfig::new(Preset::Rewardkit).with_gamma_lambda(F::lit(0.99), F::lit(0.95))?,
        o,
        "adv_gae",
    )?;
    full(
        AdvantageEstimator::Remax,
        AdvantageConfig::new(Preset::Verl),
        o,
        "adv_remax_verl",
    )?;
    full(
        AdvantageEstimator::ReinforcePlusPlus,
        AdvantageConfig::new(Preset::Rewardkit).with_gamma_lambda(F::lit(0.9), F::ONE)?,
        o,
        "adv_rpp",
    )?;

    // Per-sequence plans.
    let plan = AdvantagePlan::<F>::new(AdvantageEstimator::Rloo, &AdvantageConfig::default())?;
    let inputs = AdvantageInputs::new(&token_rewards, mask).with_groups(&groups);
    let mut scratch = vec![0.0; plan.scratch_len(&PlanSizes::of(&inputs))];
    plan.run_per_sequence(&mut out, &inputs, &mut scratch)?;
    o.floats(&format!("seq_rloo_{t}"), &out);
    let cfg = AdvantageConfig::<F>::new(Preset::Trl).with_scale(Scale::Batch);
    let plan = AdvantagePlan::<F>::new(AdvantageEstimator::Grpo, &cfg)?;
    let mut scratch = vec![0.0; plan.scratch_len(&PlanSizes::of(&inputs))];
    plan.run_per_sequence(&mut out, &inputs, &mut scratch)?;
    o.floats(&format!("seq_grpo_trl_batch_{t}"), &out);
    let masked_rewards: Vec<F> = token_rewards
        .iter()
        .zip(&x.mask)
        .map(|(&r, &m)| if m { r } else { F::ZERO })
        .collect();
    sequence_sums(&mut out, &masked_rewards, T)?;
    o.floats(&format!("sequence_sums_{t}"), &out);

    // KL.
    let logp: Vec<F> = cast(&x.logp);
    let old: Vec<F> = cast(&x.old_logp);
    let refp: Vec<F> = cast(&x.ref_logp);
    let (mut kv, mut kg) = (vec![F::ZERO; B * T], vec![F::ZERO; B * T]);
    KlPenalty::<F>::from_preset(Preset::Verl, KlEstimator::K3)
        .with_straight_through(true)
        .forward(&mut kv, Some(&mut kg), &logp, &refp)?;
    o.floats(&format!("kl_k3plus_verl.value_{t}"), &kv);
    o.floats(&format!("kl_k3plus_verl.grad_{t}"), &kg);
    KlPenalty::<F>::new(KlEstimator::K2).importance_weighted(
        &mut kv,
        Some(&mut kg),
        &logp,
        &refp,
        &old,
    )?;
    o.floats(&format!("kl_k2_iw.value_{t}"), &kv);
    o.floats(&format!("kl_k2_iw.grad_{t}"), &kg);

    // Policy losses, aggregation, diagnostics.
    let entropy: Vec<F> = cast(&x.entropy);
    let seq_adv: Vec<F> = cast(&x.seq_adv);
    let kl = KlTerm::new(
        KlPenalty::from_preset(Preset::Verl, KlEstimator::K3),
        F::lit(0.1),
    )?;
    let vanilla = PolicyLoss::<F>::from_preset(Preset::Verl, PolicyLossKind::Vanilla)
        .with_kl(Some(kl))
        .with_entropy_coef(F::lit(0.01))?;
    let agg = Aggregation::from_preset(Preset::Verl, "seq-mean-token-mean")?;
    let inp = PolicyInputs::new(&logp, &old, &seq_adv, mask)?
        .with_ref(&refp)?
        .with_entropy(&entropy)?;
    let mut grad = vec![F::ZERO; B * T];
    let parts = policy_loss(&mut grad, &inp, &vanilla, &agg)?;
    o.floats(&format!("loss_vanilla.grad_{t}"), &grad);
    o.parts(&format!("loss_vanilla_{t}"), &parts);
    o.floats(
        &format!("loss_vanilla.value_{t}"),
        &[agg.value::<F>(&parts, &parts)?],
    );
    agg.scale_grad(&mut grad, mask, &parts)?;
    o.floats(&format!("loss_vanilla.scaled_{t}"), &grad);
    let mut up = vec![F::ZERO; B * T];
    entropy_upstream(&mut up, mask, &agg, &parts, F::lit(0.01))?;
    o.floats(&format!("entropy_upstream_{t}"), &up);
    let d = policy_diagnostics(&PolicyInputs::new(&logp, &old, &seq_adv, mask)?, &vanilla)?;
    o.counts(
        &format!("diag_{t}.counts"),
        &[d.clipped, d.clipped_lower, d.tokens],
    );
    o.f64s(
        &format!("diag_{t}.sums"),
        &[
            d.neg_log_ratio_sum,
            d.k3_sum,
            d.ratio_sum,
            d.ratio_min,
            d.ratio_max,
        ],
    );
    // GSPO with per-token advantages (the token rewards as advantages), token-mean.
    let gspo = PolicyLoss::<F>::from_preset(Preset::Rewardkit, PolicyLossKind::Gspo)
        .with_clip(F::lit(3e-4), F::lit(4e-4))?;
    let tm = Aggregation::TokenMean;
    let inp = PolicyInputs::new(&logp, &old, &masked_rewards, mask)?;
    let parts = policy_loss(&mut grad, &inp, &gspo, &tm)?;
    o.floats(&format!("loss_gspo.grad_{t}"), &grad);
    o.parts(&format!("loss_gspo_{t}"), &parts);
    // Clip-Cov with a seeded random source.
    let cc = PolicyLoss::<F>::new(PolicyLossKind::ClipCov).with_cov(
        F::lit(0.2),
        F::lit(-5.0),
        F::lit(5.0),
    )?;
    let inp = PolicyInputs::new(&logp, &old, &seq_adv, mask)?;
    let parts = policy_loss_rng(&mut grad, &inp, &cc, &tm, &mut SplitMix64::new(5))?;
    o.floats(&format!("loss_clip_cov.grad_{t}"), &grad);
    o.parts(&format!("loss_clip_cov_{t}"), &parts);
    let pm = LossParts::from_mask(mask);
    o.counts(
        &format!("parts_from_mask_{t}"),
        &[pm.tokens, pm.seqs, pm.rows],
    );

    // Logits.
    let logits: Vec<F> = cast(&x.logits);
    let n = B * T;
    let mut lp = vec![F::ZERO; n];
    let mut stats = vec![RowStats::default(); n];
    logprobs_forward(&mut lp, &mut stats, &logits, &x.tokens, V)?;
    o.floats(&format!("logprobs_{t}"), &lp);
    let flat: Vec<f64> = stats.iter().flat_map(|s| [s.max, s.ln_sum]).collect();
    o.f64s(&format!("logprobs.stats_{t}"), &flat);
    let g_out: Vec<F> = cast(&x.grad_out);
    let mut gl = vec![F::ZERO; n * V];
    logprobs_backward(&mut gl, &g_out, &logits, &stats, &x.tokens, V)?;
    o.floats(&format!("logprobs_backward_{t}"), &gl);
    let mut h = vec![F::ZERO; n];
    entropy_forward(&mut h, &mut stats, &logits, V)?;
    o.floats(&format!("entropy_{t}"), &h);
    entropy_backward(&mut gl, &g_out, &logits, &stats, &h, V)?;
    o.floats(&format!("entropy_backward_{t}"), &gl);

    // Rewards.
    let texts: Vec<&str> = (0..B).map(|i| TEXTS[i % TEXTS.len()]).collect();
    let batch = Batch::<F>::new(B)?
        .with_correct(&x.correct)?
        .with_lengths(&x.lens)?
        .with_texts(&texts)?
        .with_groups(&groups)?
        .with_mask(mask)?;
    let correctness = Correctness::<F>::default();
    let overlong = Overlong::<F>::new(8, 3, F::lit(0.5))?;
    let cosine = CosineLength::<F>::new(
        10,
        (F::lit(2.0), F::ONE),
        (F::lit(-1.0), F::ZERO),
        F::lit(-2.0),
    )?
    .with_margin(1);
    let kimi = KimiLength::<F>::default();
    let glp = GroupLengthPenalty::<F>::new(F::lit(0.3), F::ZERO)?;
    let laser = Laser::<F>::new(F::lit(0.5), 4, LaserMode::Hybrid)?;
    let format = Format::default();
    let format_length = FormatLength::<F>::new(8, F::lit(0.25))?;
    let terms: [(&str, &dyn RewardTerm<F>); 8] = [
        ("correctness", &correctness),
        ("overlong", &overlong),
        ("cosine", &cosine),
        ("kimi", &kimi),
        ("group_length", &glp),
        ("laser", &laser),
        ("format", &format),
        ("format_length", &format_length),
    ];
    for (name, term) in terms {
        term.score(&mut out, &batch)?;
        o.floats(&format!("reward_{name}_{t}"), &out);
    }
    let weighted = [
        Weighted::sequence(&correctness as &dyn RewardTerm<F>, F::ONE),
        Weighted::sequence(&overlong, F::lit(0.5)),
        Weighted::sequence(&laser, F::lit(2.0)),
    ];
    let p = Pipeline::new(&weighted)?;
    let mut parts = vec![F::ZERO; 3 * B];
    p.eval(&mut out, &mut parts, &mut [], &batch)?;
    o.floats(&format!("pipeline_{t}"), &out);
    o.floats(&format!("pipeline.parts_{t}"), &parts);
    let mut tok = vec![F::ZERO; B * T];
    p.eval_tokens(&mut tok, &mut parts, &mut [], &batch)?;
    o.floats(&format!("pipeline_tokens_{t}"), &tok);

    // Distances.
    let tau: Vec<F> = cast(&x.tau);
    let init: Vec<F> = cast(&x.initial);
    let (rf, rsa, rs): (Vec<F>, Vec<F>, Vec<F>) = (cast(&x.r_full), cast(&x.r_sa), cast(&x.r_s));
    let mdp = Mdp::new(S, A, Transitions::Dense(&tau), &init, F::lit(0.9))?;
    let cov = Coverage::uniform();
    let d1 = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2()).distance(
        &mdp,
        &Reward::Full(&rf),
        &Reward::StateAction(&rsa),
    )?;
    let d2 = Starc::new(
        Canonicalization::MinimalL2,
        Norm::new(Order::LInf, Weights::Transition),
    )
    .with_metric(Norm::new(Order::L1, Weights::Transition))
    .distance(&mdp, &Reward::Full(&rf), &Reward::State(&rs))?;
    let d3 = Epic::new(cov).distance(&mdp, &Reward::Full(&rf), &Reward::StateAction(&rsa))?;
    let d4 = Dard::new(cov, DardWeights::Coverage).distance(
        &mdp,
        &Reward::StateAction(&rsa),
        &Reward::State(&rs),
    )?;
    o.floats(&format!("distances_{t}"), &[d1, d2, d3, d4]);

    phase2::<F>(x, o)
}

/// The cases of issue 15 phase 2, from the same inputs (no new draws): preference losses on `B`
/// pairs (chosen `logp[..B]`, rejected `old_logp[..B]`, references `ref_logp[..B]` and
/// `logp[B..2B]`, lengths `lens`, pair weights `values[..B]`), Bradley–Terry, the value loss, IS
/// weights and rejection masks.
fn phase2<F: Bits>(x: &Inputs, o: &mut Out) -> Res<()> {
    let t = F::TAG;
    let mask = Mask::new(&x.mask, T)?;
    let logp: Vec<F> = cast(&x.logp);
    let old: Vec<F> = cast(&x.old_logp);
    let refp: Vec<F> = cast(&x.ref_logp);
    let values: Vec<F> = cast(&x.values);
    let lens: Vec<F> = x.lens.iter().map(|&l| F::lit(f64::from(l))).collect();
    let (ch, rj, rc, rr) = (&logp[..B], &old[..B], &refp[..B], &logp[B..2 * B]);
    let w = &values[..B];
    let (mut gc, mut gr) = (vec![F::ZERO; B], vec![F::ZERO; B]);

    // Preference losses: DPO (cDPO, pair weights), SimPO and IPO (with lengths).
    let dpo = PreferenceLoss::<F>::new(PreferenceLossKind::Sigmoid)
        .with_beta(F::lit(0.5))?
        .with_label_smoothing(F::lit(0.1))?;
    let inp = PairInputs::new(ch, rj, rc, rr)?.with_pair_weights(w)?;
    let p = preference_loss(&mut gc, &mut gr, &inp, &dpo)?;
    o.floats(&format!("pref_sigmoid.grad_chosen_{t}"), &gc);
    o.floats(&format!("pref_sigmoid.grad_rejected_{t}"), &gr);
    o.parts(&format!("pref_sigmoid_{t}"), &p);
    let simpo = PreferenceLoss::<F>::new(PreferenceLossKind::Simpo)
        .with_beta(F::lit(2.0))?
        .with_gamma(F::lit(0.5))?;
    let inp = PairInputs::new(ch, rj, rc, rr)?.with_lengths(&lens, &lens)?;
    let p = preference_loss(&mut gc, &mut gr, &inp, &simpo)?;
    o.floats(&format!("pref_simpo.grad_chosen_{t}"), &gc);
    o.floats(&format!("pref_simpo.grad_rejected_{t}"), &gr);
    o.parts(&format!("pref_simpo_{t}"), &p);
    let ipo = PreferenceLoss::<F>::new(PreferenceLossKind::Ipo);
    let p = preference_loss(&mut gc, &mut gr, &inp, &ipo)?;
    o.floats(&format!("pref_ipo.grad_chosen_{t}"), &gc);
    o.floats(&format!("pref_ipo.grad_rejected_{t}"), &gr);
    o.parts(&format!("pref_ipo_{t}"), &p);
    // Combined (MPO-style): 0.8·DPO + 0.2·IPO with lengths and pair weights.
    let inp = inp.with_pair_weights(w)?;
    let terms = [(dpo, F::lit(0.8)), (ipo, F::lit(0.2))];
    let p = combined_preference_loss(&mut gc, &mut gr, &inp, &terms)?;
    o.floats(&format!("pref_combined.grad_chosen_{t}"), &gc);
    o.floats(&format!("pref_combined.grad_rejected_{t}"), &gr);
    o.parts(&format!("pref_combined_{t}"), &p);

    // Bradley-Terry with a margin (the baselines), centering and L2.
    let bt = BradleyTerry::new(F::lit(0.01))?.with_l2(F::lit(0.005))?;
    let margin: Vec<F> = cast(&x.baselines);
    let p = bradley_terry_loss(&mut gc, &mut gr, ch, rj, Some(&margin), &bt)?;
    o.floats(&format!("bt.grad_chosen_{t}"), &gc);
    o.floats(&format!("bt.grad_rejected_{t}"), &gr);
    o.parts(&format!("bt_{t}"), &p);

    // The value loss: values, old values = grad_out, returns = the masked token rewards.
    let old_values: Vec<F> = cast(&x.grad_out);
    let returns: Vec<F> = cast(
        &x.token_rewards
            .iter()
            .zip(&x.mask)
            .map(|(&r, &m)| if m { r } else { 0.0 })
            .collect::<Vec<f64>>(),
    );
    let agg = Aggregation::from_preset(Preset::Verl, "seq-mean-token-mean")?;
    let mut grad = vec![F::ZERO; B * T];
    let vl = ValueLoss::new(Some(F::lit(0.2)))?;
    let p = value_loss(&mut grad, &values, &old_values, &returns, mask, &vl, &agg)?;
    o.floats(&format!("value_clip.grad_{t}"), &grad);
    o.parts(&format!("value_clip_{t}"), &p);
    let vl = ValueLoss::new(None)?;
    let tm = Aggregation::TokenMean;
    let p = value_loss(&mut grad, &values, &old_values, &returns, mask, &vl, &tm)?;
    o.floats(&format!("value_noclip.grad_{t}"), &grad);
    o.parts(&format!("value_noclip_{t}"), &p);

    // IS weights, train = logp, rollout = old_logp.
    let corrs = [
        (
            "is_tis_verl",
            IsCorrection::<F>::from_preset(
                Preset::Verl,
                IsMode::TokenTruncate,
                F::ZERO,
                F::lit(2.0),
            )?,
        ),
        (
            "is_icepop",
            IsCorrection::new(IsMode::TokenMask, F::lit(0.5), F::lit(2.0))?,
        ),
        (
            "is_seq_truncate",
            IsCorrection::new(IsMode::SequenceTruncate, F::ZERO, F::lit(3.0))?
                .with_batch_normalize(true),
        ),
        (
            "is_seq_mask_tis",
            IsCorrection::new(IsMode::GeoSequenceMask, F::lit(0.5), F::lit(5.0))?,
        ),
    ];
    for (name, c) in corrs {
        let z = is_weights(&mut grad, &logp, &old, mask, &c)?;
        o.floats(&format!("{name}.w_{t}"), &grad);
        o.counts(&format!("{name}.zeroed_{t}"), &[z]);
    }

    // Rejection: token_k1 in [0.5, 2] and verl's seq_mean_k3 <= 0.5, train = logp, rollout =
    // old_logp.
    let rules = [
        RejectionRule::new("token_k1".parse()?, Some(F::lit(0.5)), F::lit(2.0))?,
        RejectionRule::from_preset(Preset::Verl, "seq_mean_k3".parse()?, None, F::lit(0.5))?,
    ];
    let mut keep = vec![false; B * T];
    let mut stats = [RejectionStats::EMPTY; 2];
    let s = rejection_mask(&mut keep, &mut stats, &logp, &old, mask, &rules)?;
    let keep_f: Vec<f64> = keep.iter().map(|&k| f64::from(u8::from(k))).collect();
    o.f64s(&format!("rs.keep_{t}"), &keep_f);
    o.counts(
        &format!("rs.summary_{t}"),
        &[s.tokens, s.rejected_tokens, s.seqs, s.rejected_seqs, s.rows],
    );
    for (k, st) in stats.iter().enumerate() {
        o.counts(
            &format!("rs.stats{k}.counts_{t}"),
            &[
                st.tokens.count,
                st.seqs.count,
                st.above,
                st.below,
                st.rejected_tokens,
                st.rejected_seqs,
            ],
        );
        let sum = |s: &Summary| [s.sum, s.mean, s.m2, s.min, s.max];
        o.f64s(&format!("rs.stats{k}.tokens_{t}"), &sum(&st.tokens));
        o.f64s(&format!("rs.stats{k}.seqs_{t}"), &sum(&st.seqs));
    }

    // HAPO (cosine, weight 0.8, floor 0.5, the reference's mean history): keys = the group ids;
    // rewards of a first batch (no history: 0), update with it, rewards of the lengths reversed,
    // and the saved entries (key, sum, count, mean_weighted, mean_count, min).
    let keys: Vec<u64> = x.ids.iter().map(|&i| u64::from(i)).collect();
    let hapo = Hapo::<F>::new(F::lit(0.8), HapoShape::Cosine)?.with_floor(F::lit(0.5))?;
    let mut history = HapoHistory::new(HistoryMode::Mean);
    let mut out = vec![F::ZERO; B];
    history.rewards(&mut out, &keys, &x.lens, &x.correct, &hapo)?;
    o.floats(&format!("hapo.before_{t}"), &out);
    history.update(&keys, &x.lens, &x.correct)?;
    let lens2: Vec<u32> = x.lens.iter().rev().copied().collect();
    history.rewards(&mut out, &keys, &lens2, &x.correct, &hapo)?;
    o.floats(&format!("hapo.after_{t}"), &out);
    let mut entries = Vec::new();
    for (k, e) in history.iter() {
        let min = u64::from(e.min);
        entries.extend([k, e.sum, e.count, e.mean_weighted, e.mean_count, min]);
    }
    let entries: Vec<usize> = entries.iter().map(|&v| v as usize).collect();
    o.counts(&format!("hapo.entries_{t}"), &entries);

    // LASER-D (hybrid, alpha 0.25, initial target 6, linear thresholds 2..8 step 2, G = 4, ceil,
    // training banding) on the shared groups: rewards, update with the same batch (as the monitor
    // set), rewards, LASER-DE rewards with repetitive = (i % 5 == 0), and the saved targets
    // (kind, length) of the three bands.
    let groups = GroupIndex::new(&x.ids, G)?;
    let laser = LaserD::new(F::lit(0.25), LaserMode::Hybrid)?
        .with_thresholds(Thresholds::linear(2, 8, 2)?)?
        .with_group_size(4)?
        .with_monitor(1, Rounding::Ceil, MonitorBanding::Training)?;
    let mut state = LaserDState::new(6);
    laser.rewards(&mut out, &x.lens, &x.correct, None, &groups, &state)?;
    o.floats(&format!("laser_d.before_{t}"), &out);
    state.update(&laser, &x.lens, &x.correct, &groups)?;
    laser.rewards(&mut out, &x.lens, &x.correct, None, &groups, &state)?;
    o.floats(&format!("laser_d.after_{t}"), &out);
    let rep: Vec<bool> = (0..B).map(|i| i % 5 == 0).collect();
    laser.rewards_de(&mut out, &x.lens, &x.correct, None, &rep, &groups, &state)?;
    o.floats(&format!("laser_de.after_{t}"), &out);
    let mut targets = Vec::new();
    for tl in state.targets() {
        targets.extend(match tl {
            TargetLen::Fixed(l) => [0, l as usize],
            TargetLen::Monitored(Some(l)) => [1, l as usize],
            TargetLen::Monitored(None) => [2, 0],
        });
    }
    o.counts(&format!("laser_d.targets_{t}"), &targets);

    // Sparse (CSR) MDP: the dense kernel with entry (row % S) of each row (s, a) dropped and the
    // row renormalized in f64 (the kept entries summed in order); STARC (defaults) and EPIC
    // between the state-action and the state reward.
    let (offsets, next, probs) = sparse_kernel(&x.tau);
    let probs: Vec<F> = cast(&probs);
    let init: Vec<F> = cast(&x.initial);
    let (rsa, rs): (Vec<F>, Vec<F>) = (cast(&x.r_sa), cast(&x.r_s));
    let mdp = Mdp::new(
        S,
        A,
        Transitions::Sparse(SparseTransitions::new(&offsets, &next, &probs)),
        &init,
        F::lit(0.9),
    )?;
    let (ra, rb) = (Reward::StateAction(&rsa), Reward::State(&rs));
    let d1 = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2())
        .distance(&mdp, &ra, &rb)?;
    let d2 = Epic::new(Coverage::uniform()).distance(&mdp, &ra, &rb)?;
    o.floats(&format!("sparse_distances_{t}"), &[d1, d2]);
    Ok(())
}

/// The CSR kernel of the sparse-distance case (see `phase2`).
fn sparse_kernel(tau: &[f64]) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    let (mut offsets, mut next, mut probs) = (vec![0usize], Vec::new(), Vec::new());
    for (row, r) in tau.chunks(S).enumerate() {
        let mut sum = 0.0;
        for (k, &p) in r.iter().enumerate() {
            if k != row % S {
                sum += p;
            }
        }
        for (k, &p) in r.iter().enumerate() {
            if k != row % S {
                next.push(k as u32);
                probs.push(p / sum);
            }
        }
        offsets.push(next.len());
    }
    (offsets, next, probs)
}

/// The messages of the error cases that come from the core.
fn errors(x: &Inputs, o: &mut Out) -> Res<()> {
    let groups = GroupIndex::new(&x.ids, G)?;
    let scores: Vec<f32> = cast(&x.scores);
    let p = Grpo::<f32>::default();
    let mut out = vec![0.0f32; B];
    let err = |r: Result<(), Error>| r.err().map(|e| e.to_string()).unwrap_or_default();
    o.msg(
        "err_length_mismatch",
        err(grpo(&mut out[..B - 1], &scores[..B - 1], &groups, &p)),
    );
    let mut nan = scores.clone();
    nan[2] = f32::NAN;
    o.msg("err_nan_reward", err(grpo(&mut out, &nan, &groups, &p)));
    o.msg(
        "err_unknown_estimator",
        "grpoo".parse::<AdvantageEstimator>().unwrap_err(),
    );
    o.msg(
        "err_unknown_kl",
        "k4".parse::<KlPenalty<f64>>().unwrap_err(),
    );
    o.msg(
        "err_unknown_loss",
        "ppo2".parse::<PolicyLossKind>().unwrap_err(),
    );
    o.msg(
        "err_unknown_aggregation",
        "token-median".parse::<Aggregation>().unwrap_err(),
    );
    o.msg("err_unknown_preset", "vrl".parse::<Preset>().unwrap_err());
    o.msg(
        "err_invalid_param",
        Overlong::<f32>::new(8, 9, 1.0).unwrap_err(),
    );
    o.msg(
        "err_invalid_clip",
        PolicyLoss::<f32>::new(PolicyLossKind::Vanilla)
            .with_dual_clip(Some(0.5))
            .unwrap_err(),
    );
    let mut bad_ids = x.ids.clone();
    bad_ids[3] = G as u32;
    o.msg("err_group_id", GroupIndex::new(&bad_ids, G).unwrap_err());
    o.msg("err_empty_groups", GroupIndex::new(&[], G).unwrap_err());
    o.msg("err_uniform_shape", GroupIndex::uniform(B, 5).unwrap_err());
    let batch = Batch::<f32>::new(B)?
        .with_correct(&x.correct)?
        .with_lengths(&x.lens)?;
    o.msg(
        "err_missing_groups",
        err(KimiLength::<f32>::default().score(&mut out, &batch)),
    );
    let mut zero_len = x.lens.clone();
    zero_len[1] = 0;
    o.msg(
        "err_zero_length",
        Batch::<f32>::new(B)?.with_lengths(&zero_len).unwrap_err(),
    );
    let logits: Vec<f32> = cast(&x.logits);
    let mut tokens = x.tokens.clone();
    tokens[4] = V as u32;
    let mut lp = vec![0.0f32; B * T];
    let mut stats = vec![RowStats::default(); B * T];
    o.msg(
        "err_token_range",
        err(logprobs_forward(&mut lp, &mut stats, &logits, &tokens, V)),
    );
    let tau: Vec<f64> = x.tau.clone();
    o.msg(
        "err_gamma",
        Mdp::new(S, A, Transitions::Dense(&tau), &x.initial, 1.0).unwrap_err(),
    );
    let mask = Mask::new(&x.mask, T)?;
    let logp: Vec<f32> = cast(&x.logp);
    let kl = KlTerm::new(KlPenalty::new(KlEstimator::K3), 0.1f32)?;
    let with_kl = PolicyLoss::<f32>::new(PolicyLossKind::Vanilla).with_kl(Some(kl));
    let adv: Vec<f32> = cast(&x.seq_adv);
    let inp = PolicyInputs::new(&logp, &logp, &adv, mask)?;
    let mut grad = vec![0.0f32; B * T];
    o.msg(
        "err_missing_ref",
        policy_loss(&mut grad, &inp, &with_kl, &Aggregation::TokenMean).unwrap_err(),
    );
    o.msg(
        "err_adv_length",
        PolicyInputs::new(&logp, &logp, &adv[..B - 1], mask).unwrap_err(),
    );
    let plan = AdvantagePlan::<f32>::new(AdvantageEstimator::Gae, &AdvantageConfig::default())?;
    let tr: Vec<f32> = cast(&x.token_rewards);
    let inputs = AdvantageInputs::new(&tr, mask);
    o.msg(
        "err_token_level_plan",
        plan.run_per_sequence(&mut out, &inputs, &mut [])
            .unwrap_err(),
    );
    let nomask = Batch::<f32>::new(B)?.with_correct(&x.correct)?;
    let corr = Correctness::<f32>::default();
    let w = [Weighted::sequence(&corr as &dyn RewardTerm<f32>, 1.0)];
    let mut tok = vec![0.0f32; B * T];
    let mut parts = vec![0.0f32; B];
    o.msg(
        "err_missing_mask",
        Pipeline::new(&w)?
            .eval_tokens(&mut tok, &mut parts, &mut [], &nomask)
            .unwrap_err(),
    );
    let mut adv_t = vec![0.0f32; B * T];
    let mut ret_t = vec![0.0f32; B * T];
    o.msg(
        "err_missing_values",
        AdvantageEstimator::Gae
            .compute(&mut adv_t, &mut ret_t, &inputs, &AdvantageConfig::default())
            .unwrap_err(),
    );

    // Phase 2: preference losses, Bradley-Terry, value loss, IS corrections, rejection.
    o.msg(
        "err_unknown_preference",
        "dpo".parse::<PreferenceLossKind>().unwrap_err(),
    );
    o.msg(
        "err_pref_beta",
        PreferenceLoss::<f32>::new(PreferenceLossKind::Sigmoid)
            .with_beta(0.0)
            .unwrap_err(),
    );
    let old: Vec<f32> = cast(&x.old_logp);
    let refp: Vec<f32> = cast(&x.ref_logp);
    let (mut gc, mut gr) = (vec![0.0f32; B], vec![0.0f32; B]);
    let simpo = PreferenceLoss::<f32>::new(PreferenceLossKind::Simpo);
    let inp = PairInputs::new(&logp[..B], &old[..B], &refp[..B], &logp[B..2 * B])?;
    o.msg(
        "err_pref_lengths",
        preference_loss(&mut gc, &mut gr, &inp, &simpo).unwrap_err(),
    );
    let mut nan = logp[..B].to_vec();
    nan[2] = f32::NAN;
    let inp = PairInputs::new(&nan, &old[..B], &refp[..B], &logp[B..2 * B])?;
    o.msg(
        "err_pref_nan",
        preference_loss(
            &mut gc,
            &mut gr,
            &inp,
            &PreferenceLoss::new(PreferenceLossKind::Sigmoid),
        )
        .unwrap_err(),
    );
    o.msg("err_bt_center", BradleyTerry::new(-1.0f32).unwrap_err());
    o.msg("err_value_clip", ValueLoss::new(Some(0.0f32)).unwrap_err());
    o.msg(
        "err_unknown_is_mode",
        "token".parse::<IsMode>().unwrap_err(),
    );
    o.msg(
        "err_is_thresholds",
        IsCorrection::<f32>::new(IsMode::TokenTruncate, 3.0, 2.0).unwrap_err(),
    );
    o.msg(
        "err_unknown_rs",
        "seq_max_k1"
            .parse::<rewardkit_core::loss::RsMode>()
            .unwrap_err(),
    );
    o.msg(
        "err_rs_lower",
        RejectionRule::<f32>::new("token_k3".parse()?, Some(0.1), 2.0).unwrap_err(),
    );
    o.msg(
        "err_hapo_weight",
        Hapo::<f32>::new(1.5, HapoShape::Linear).unwrap_err(),
    );
    let mut zero = x.lens.clone();
    zero[1] = 0;
    let keys: Vec<u64> = x.ids.iter().map(|&i| u64::from(i)).collect();
    o.msg(
        "err_hapo_zero_length",
        HapoHistory::new(HistoryMode::Min)
            .update(&keys, &zero, &x.correct)
            .unwrap_err(),
    );
    o.msg(
        "err_laser_thresholds",
        Thresholds::new(8, 4, 1024).unwrap_err(),
    );
    let (mut offsets, next, probs) = sparse_kernel(&x.tau);
    if let Some(last) = offsets.last_mut() {
        *last -= 1;
    }
    o.msg(
        "err_sparse_offsets",
        Mdp::new(
            S,
            A,
            Transitions::Sparse(SparseTransitions::new(&offsets, &next, &probs)),
            &x.initial,
            0.9,
        )
        .unwrap_err(),
    );
    Ok(())
}

fn main() -> Res<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/capi/expected.txt".into());
    let x = Inputs::new();
    let mut o = Out::default();
    cases::<f32>(&x, &mut o)?;
    cases::<f64>(&x, &mut o)?;
    errors(&x, &mut o)?;
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, &o.text)?;
    println!("wrote {} cases to {path}", o.text.lines().count());
    Ok(())
}
