//! The seam to `rewardkit-core`: every reward, advantage, log-probability, loss and gradient the
//! trainer uses is computed here by core functions, in a few small functions (so that a change of
//! the core API touches this file only). The trainer owns the model and its backward pass; the
//! core never sees a model (`design.md` §3).

use rewardkit_core::advantage::{AdvantageConfig, AdvantageInputs};
pub use rewardkit_core::logits::RowStats;
use rewardkit_core::logits::{entropy_forward, logprobs_backward, logprobs_forward};
use rewardkit_core::loss::{
    Aggregation, KlTerm, PolicyInputs, PolicyLoss, PolicyLossKind, policy_diagnostics, policy_loss,
};
use rewardkit_core::reward::{
    Batch, Correctness, CosineLength, Hapo, HapoHistory, HapoShape, HapoTerm, Laser, LaserD,
    LaserDState, LaserDTerm, LaserMode, Pipeline, Thresholds, Weighted,
};
use rewardkit_core::{AdvantageEstimator, Error, GroupIndex, KlPenalty, Mask, Preset};
use serde::{Deserialize, Serialize};

use crate::config::GrpoConfig;

/// Result alias.
pub type Result<T = ()> = core::result::Result<T, Error>;

/// Token log-probabilities `log π(ids[n] | logits[n])` from logits `(N, V)` (core), with each
/// row's statistics (max, log-sum-exp) for the backward.
///
/// # Errors
/// As [`rewardkit_core::logits::logprobs_forward`].
pub fn token_logprobs(
    out: &mut [f32],
    stats: &mut [RowStats],
    logits: &[f32],
    ids: &[u32],
    vocab: usize,
) -> Result {
    logprobs_forward(out, stats, logits, ids, vocab)
}

/// `∂L/∂logits` from `∂L/∂log π` (core): **accumulates** into `dlogits` (`+=`, so every term of a
/// loss can share one buffer); rows with a zero upstream gradient are not touched. `stats` come
/// from [`token_logprobs`] on the same logits.
///
/// # Errors
/// As [`rewardkit_core::logits::logprobs_backward`].
pub fn token_logprobs_backward(
    dlogits: &mut [f32],
    dlogp: &[f32],
    logits: &[f32],
    stats: &[RowStats],
    ids: &[u32],
    vocab: usize,
) -> Result {
    logprobs_backward(dlogits, dlogp, logits, stats, ids, vocab)
}

/// Mean token entropy of the policy over `(M, V)` logits (core), for logging.
///
/// # Errors
/// As [`rewardkit_core::logits::entropy_forward`].
pub fn mean_entropy(logits: &[f32], vocab: usize) -> Result<f64> {
    let n = logits.len() / vocab.max(1);
    if n == 0 {
        return Ok(0.0);
    }
    let (mut h, mut stats) = (vec![0.0f32; n], vec![RowStats::default(); n]);
    entropy_forward(&mut h, &mut stats, logits, vocab)?;
    Ok(h.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64)
}

/// Per-prompt reward state the shapings keep across steps (serialized into checkpoints).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ShapingState {
    /// HAPO's shortest-correct-length history per prompt key.
    pub hapo: HapoHistory,
    /// LASER-D's adaptive target lengths.
    pub laser_d: Option<LaserDState>,
}

/// What one sampled batch looks like to the reward pipeline.
#[derive(Clone, Copy, Debug)]
pub struct RewardInputs<'a> {
    /// Verifier: answer correct, per completion `(B)`.
    pub correct: &'a [bool],
    /// Verifier: completion well formed `(B)`.
    pub well_formed: &'a [bool],
    /// Completion lengths in tokens (`≥ 1`, `$` included) `(B)`.
    pub lengths: &'a [u32],
    /// Prompt keys `(B)`.
    pub keys: &'a [u64],
    /// Group (prompt) index of each row `(B)`.
    pub groups: &'a [u32],
    /// Number of prompts.
    pub n_groups: usize,
    /// Completion mask `(B, T)`.
    pub mask: Mask<'a>,
    /// Largest completion length the sampler allows (`L_max` for the cosine reward).
    pub max_len: u32,
    /// The shortest demonstration length without re-checks (LASER's target and LASER-D's lowest
    /// threshold at this scale).
    pub base_len: u32,
}

/// Rewards of one batch: per token `(B, T)` (the sequence reward on each row's last token) and the
/// unweighted terms `(K, B)` with their names.
#[derive(Clone, Debug)]
pub struct Rewards {
    /// Per-token rewards `(B, T)`.
    pub tokens: Vec<f32>,
    /// Per-sequence total `(B)`.
    pub total: Vec<f32>,
    /// Unweighted term values `(K, B)`.
    pub parts: Vec<f32>,
    /// Term names (`K`).
    pub names: Vec<&'static str>,
}

/// The reward pipeline: correctness (with the malformed value as the format term) plus the named
/// length shaping, evaluated by `rewardkit_core::reward::Pipeline`; updates the shaping state
/// afterwards (HAPO history, LASER-D targets from this batch as the monitor set).
///
/// # Errors
/// Core errors (invalid parameters, shapes).
pub fn rewards(
    cfg: &GrpoConfig,
    state: &mut ShapingState,
    inp: &RewardInputs<'_>,
) -> Result<Rewards> {
    let b = inp.correct.len();
    let correctness = Correctness::new(1.0f32, 0.0, cfg.malformed_reward)?;
    let w = cfg.shaping_weight;
    let group_index = GroupIndex::new(inp.groups, inp.n_groups)?;
    let hapo = Hapo::new(w.min(1.0), HapoShape::Cosine)?;
    let laser = Laser::new(w, inp.base_len, LaserMode::Reward)?;
    let laser_d = LaserD::new(w, LaserMode::Reward)?
        .with_thresholds(Thresholds::new(
            inp.base_len,
            inp.max_len.max(inp.base_len),
            1,
        )?)?
        .with_group_size(u32::try_from(b / inp.n_groups.max(1)).unwrap_or(u32::MAX))?;
    let laser_state = state
        .laser_d
        .get_or_insert_with(|| LaserDState::new(inp.base_len));
    let laser_state = *laser_state;
    // Cosine (Yeo et al.): replaces correctness, with the paper's ratios (r₀ᶜ = 2, r_Lᶜ = 1,
    // r₀ʷ = −1, r_Lʷ = 0 here, scaled to a 0/1 correctness) and L_max = the sampler's limit.
    let cosine =
        CosineLength::new(inp.max_len + 1, (2.0f32, 1.0), (-1.0, 0.0), -1.0)?.with_margin(0);
    let hapo_term = HapoTerm {
        params: hapo,
        history: &state.hapo,
    };
    let laser_d_term = LaserDTerm {
        params: laser_d,
        state: &laser_state,
        explore: false,
    };
    let terms: Vec<Weighted<'_, f32>> = match cfg.shaping.as_str() {
        "hapo" => vec![
            Weighted::sequence(&correctness, 1.0),
            Weighted::sequence(&hapo_term, 1.0),
        ],
        "laser" => vec![
            Weighted::sequence(&correctness, 1.0),
            Weighted::sequence(&laser, 1.0),
        ],
        "laser-d" => vec![
            Weighted::sequence(&correctness, 1.0),
            Weighted::sequence(&laser_d_term, 1.0),
        ],
        "cosine" => vec![Weighted::sequence(&cosine, 1.0)],
        _ => vec![Weighted::sequence(&correctness, 1.0)],
    };
    let pipeline = Pipeline::new(&terms)?;
    let batch = Batch::new(b)?
        .with_correct(inp.correct)?
        .with_well_formed(inp.well_formed)?
        .with_lengths(inp.lengths)?
        .with_keys(inp.keys)?
        .with_groups(&group_index)?
        .with_mask(inp.mask)?;
    let bt = inp.mask.shape().len();
    let mut tokens = vec![0.0f32; bt];
    let mut parts = vec![0.0f32; terms.len() * b];
    let mut scratch = vec![0.0f32; bt];
    pipeline.eval_tokens(&mut tokens, &mut parts, &mut scratch, &batch)?;
    let mut total = vec![0.0f32; b];
    pipeline.eval(&mut total, &mut parts, &mut scratch, &batch)?;
    let names = pipeline.names().collect();
    // State updates use this batch (after scoring it).
    match cfg.shaping.as_str() {
        "hapo" => state.hapo.update(inp.keys, inp.lengths, inp.correct)?,
        "laser-d" => {
            if let Some(s) = state.laser_d.as_mut() {
                s.update(&laser_d, inp.lengths, inp.correct, &group_index)?;
            }
        }
        _ => {}
    }
    Ok(Rewards {
        tokens,
        total,
        parts,
        names,
    })
}

/// Advantages `(B, T)` from per-token rewards with the estimator named in the config (core,
/// rewardkit preset), groups from the prompt index of each row.
///
/// # Errors
/// Core errors (unknown estimator, shapes).
pub fn advantages(
    cfg: &GrpoConfig,
    token_rewards: &[f32],
    mask: Mask<'_>,
    groups: &[u32],
    n_groups: usize,
) -> Result<Vec<f32>> {
    let est: AdvantageEstimator = cfg.estimator.parse()?;
    let index = GroupIndex::new(groups, n_groups)?;
    let n = token_rewards.len();
    let (mut adv, mut ret) = (vec![0.0f32; n], vec![0.0f32; n]);
    est.compute(
        &mut adv,
        &mut ret,
        &AdvantageInputs::new(token_rewards, mask).with_groups(&index),
        &AdvantageConfig::new(Preset::Rewardkit),
    )?;
    Ok(adv)
}

/// Loss value, its gradient with respect to the policy log-probabilities, and diagnostics.
#[derive(Clone, Debug)]
pub struct LossOut {
    /// The aggregated loss (policy term plus `β·KL`).
    pub loss: f64,
    /// `∂loss/∂log π` `(B, T)` (0 at masked positions).
    pub dlogp: Vec<f32>,
    /// Fraction of tokens where the clip was active.
    pub clip_fraction: f64,
    /// Mean per-token KL estimate against the reference (the configured estimator).
    pub kl: f64,
    /// The policy log-probabilities the loss saw `(B, T)`.
    pub logp: Vec<f32>,
}

/// The policy loss of the configured kind, aggregation and KL term (core), with its gradient.
///
/// # Errors
/// Core errors (non-finite inputs, unknown names).
pub fn loss(
    cfg: &GrpoConfig,
    logp: &[f32],
    old_logp: &[f32],
    ref_logp: &[f32],
    adv: &[f32],
    mask: Mask<'_>,
) -> Result<LossOut> {
    let kind = PolicyLossKind::from_verl(&cfg.loss)?;
    let agg: Aggregation = cfg.aggregation.parse()?;
    let penalty: KlPenalty<f32> = cfg.kl.parse()?;
    let kl = KlTerm::new(penalty, cfg.kl_coef)?;
    let policy = PolicyLoss::new(kind)
        .with_clip(cfg.clip_low, cfg.clip_high)?
        .with_kl(if cfg.kl_coef > 0.0 { Some(kl) } else { None });
    let inp = PolicyInputs::new(logp, old_logp, adv, mask)?.with_ref(ref_logp)?;
    let mut dlogp = vec![0.0f32; logp.len()];
    let parts = policy_loss(&mut dlogp, &inp, &policy, &agg)?;
    let value: f64 = agg.value(&parts, &parts)?;
    agg.scale_grad(&mut dlogp, mask, &parts)?;
    let diag = policy_diagnostics(&inp, &policy)?;
    // KL estimate for logging, whether or not it is in the loss.
    let mut kl_tok = vec![0.0f32; logp.len()];
    penalty.forward(&mut kl_tok, None, logp, ref_logp)?;
    let (mut s, mut cnt) = (0.0f64, 0usize);
    for (&k, &m) in kl_tok.iter().zip(mask.bits()) {
        if m {
            s += f64::from(k);
            cnt += 1;
        }
    }
    Ok(LossOut {
        loss: value,
        dlogp,
        clip_fraction: diag.clip_fraction(),
        kl: if cnt == 0 { 0.0 } else { s / cnt as f64 },
        logp: logp.to_vec(),
    })
}
