//! The run configuration: a TOML file with embedded defaults ([`DEFAULT_TOML`]), plus
//! `section.key=value` overrides from the command line, validated once.

use std::path::Path;

use rewardkit_core::loss::{Aggregation, PolicyLossKind};
use rewardkit_core::{AdvantageEstimator, KlPenalty};
use serde::{Deserialize, Serialize};

use crate::model::ModelConfig;
use crate::task::Task;

/// The default configuration, as shipped (`trainer/config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A configuration error: what is wrong, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Supervised warm-up on generated demonstrations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Demonstrations per step.
    pub batch: usize,
    /// Learning rate.
    pub lr: f32,
    /// Stop the warm-up early once greedy accuracy on 128 training-distribution prompts (checked
    /// every 10 steps) reaches this (0 disables), so GRPO starts from a moderately good policy.
    pub target_accuracy: f32,
}

/// The GRPO phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpoConfig {
    /// Optimizer steps (one batch of prompts each; `epochs` passes over it).
    pub steps: usize,
    /// Prompts per step.
    pub prompts: usize,
    /// Completions per prompt (`K`, the group size).
    pub group: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Learning rate.
    pub lr: f32,
    /// Inner epochs over each batch (PPO-style; 1 = on-policy).
    pub epochs: usize,
    /// Advantage estimator, by verl's name (`grpo`, `dr_grpo`, `rloo`, `reinforce_plus_plus`, ...).
    pub estimator: String,
    /// Policy loss, by verl's `loss_mode` name (`vanilla`, `gspo`, `cispo`, ...).
    pub loss: String,
    /// Loss aggregation, by verl's or TRL's name (`token-mean`, `seq-mean-token-mean`, ...).
    pub aggregation: String,
    /// Lower and upper clip ranges `ε_low`, `ε_high`.
    pub clip_low: f32,
    /// Upper clip range.
    pub clip_high: f32,
    /// KL estimator against the frozen reference (`k1`, `k2`, `k3`/`low_var_kl`, ...).
    pub kl: String,
    /// KL coefficient `β` (0 disables the term).
    pub kl_coef: f32,
    /// Weight of the format term (`reward::WellFormed`, 1 for a well-formed completion, 0
    /// otherwise) beside the answer-only correctness term (1 correct, 0 wrong).
    pub format_weight: f32,
    /// Length shaping: `none`, `hapo`, `laser`, `laser-d`, `cosine` (parameters in `[shaping]`).
    pub shaping: String,
    /// Rows per forward/backward pass (0: the whole batch at once). The loss normalizer comes from
    /// the whole batch's mask (`LossParts::from_mask`), so the gradient does not depend on it.
    pub micro_batch: usize,
}

/// The length shapings' parameters: each paper's defaults, with lengths given as fractions of the
/// completion budget (`model.max_t` − prompt length) where the paper gives tokens out of its
/// 16,384-token budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapingConfig {
    /// HAPO's weight `w` (Huang et al.: 1).
    pub hapo_weight: f32,
    /// HAPO's floor `c` for correct answers longer than the history (reference: 0.7).
    pub hapo_floor: f32,
    /// LASER's and LASER-D's bonus `α` (Liu et al.: 0.5).
    pub laser_alpha: f32,
    /// LASER's target `L_T` as a fraction of the budget (the paper's models: 2048, 4096 or 8192
    /// of 16,384 tokens = 1/8, 1/4, 1/2).
    pub laser_target: f32,
    /// LASER-D's candidate targets: lowest, highest and step, as fractions of the budget (the
    /// reference's `range(2048, 16384 + 1024, 1024)` = 1/8 to 1 in steps of 1/16).
    pub laser_d_grid: [f32; 3],
    /// LASER-D: recompute the targets every this many steps (reference `monitor_freq`: 20), and
    /// before the first step.
    pub laser_d_every: usize,
    /// LASER-D: monitor prompts (a fixed subset of the training pool), each sampled `grpo.group`
    /// times.
    pub laser_d_monitor: usize,
    /// Cosine (Yeo et al., Sec. 4.2): `r₀ᶜ, r_Lᶜ, r₀ʷ, r_Lʷ, r_exceed` (paper: 2, 1, −10, 0, −10).
    pub cosine_rewards: [f32; 5],
    /// Cosine: `L_max` as a fraction of the budget (paper: 14,336 of 16,384 = 7/8).
    pub cosine_max: f32,
}

/// `AdamW` and gradient clipping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// `β₁`.
    pub beta1: f32,
    /// `β₂`.
    pub beta2: f32,
    /// `ε`.
    pub eps: f32,
    /// Decoupled weight decay `λ` (matrices only).
    pub weight_decay: f32,
    /// Clip the global gradient norm to this (0 disables).
    pub grad_clip: f32,
}

/// Held-out evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Held-out prompts (never used for training).
    pub prompts: usize,
    /// Evaluate every this many GRPO steps (0: only at the start and the end).
    pub every: usize,
    /// Write a checkpoint every this many GRPO steps (0: only at the end of each phase).
    pub checkpoint_every: usize,
    /// Samples per held-out prompt for the sampled accuracy and length (0: greedy only).
    pub samples: usize,
    /// Temperature of those samples.
    pub temperature: f32,
}

/// Everything a run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seed of every random draw of the run.
    pub seed: u64,
    /// The task.
    pub task: Task,
    /// Model sizes (`vocab` is set from the task).
    pub model: ModelConfig,
    /// Warm-up.
    pub warmup: WarmupConfig,
    /// GRPO.
    pub grpo: GrpoConfig,
    /// Length-shaping parameters.
    pub shaping: ShapingConfig,
    /// Optimizer.
    pub optim: OptimConfig,
    /// Evaluation.
    pub eval: EvalConfig,
}

/// Length shapings the trainer knows, by name.
pub const SHAPINGS: &[&str] = &["none", "hapo", "laser", "laser-d", "cosine"];

impl Config {
    /// Parses TOML text (missing keys are an error: start from [`DEFAULT_TOML`]) and validates.
    ///
    /// # Errors
    /// [`ConfigError`] for a parse error, an unknown key or an invalid value.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        cfg.validated()
    }

    /// The default configuration, a file's values over it, then `key=value` overrides
    /// (`grpo.steps=50`, `task.kind="sorting"`; bare words are taken as strings).
    ///
    /// # Errors
    /// [`ConfigError`] for an unreadable file, a bad override, an unknown key or an invalid value.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut table: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e: toml::de::Error| ConfigError(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            let user: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| ConfigError(format!("{}: {e}", path.display())))?;
            merge(&mut table, user);
        }
        for o in overrides {
            let Some((key, value)) = o.split_once('=') else {
                return err(format!("override `{o}` is not key=value"));
            };
            let value: toml::Value = match format!("v = {value}").parse::<toml::Table>() {
                Ok(mut t) => t
                    .remove("v")
                    .unwrap_or(toml::Value::String(value.to_string())),
                Err(_) => toml::Value::String(value.to_string()),
            };
            set_path(&mut table, key.trim(), value)?;
        }
        let cfg: Self = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError(e.to_string()))?;
        cfg.validated()
    }

    /// The configuration as TOML (what a run directory's `config.toml` holds).
    ///
    /// # Errors
    /// [`ConfigError`] if serialization fails.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError(e.to_string()))
    }

    /// Checks ranges and names, and sets `model.vocab` from the task.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid value.
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        self.model.vocab = crate::task::vocab_size();
        let m = &self.model;
        if m.n_layer == 0 || m.n_head == 0 || m.n_embd == 0 || m.n_embd % m.n_head != 0 {
            return err("model: n_layer, n_head > 0 and n_embd a positive multiple of n_head");
        }
        if self.task.digits == 0 || self.task.digits > 12 {
            return err("task.digits must be in 1..=12");
        }
        let need = self.task.prompt_len() + self.task.max_demo_len();
        if m.max_t < need {
            return err(format!(
                "model.max_t = {} is shorter than prompt + longest demonstration = {need}",
                m.max_t
            ));
        }
        let g = &self.grpo;
        if g.prompts == 0 || g.group < 2 || g.epochs == 0 {
            return err("grpo: prompts >= 1, group >= 2, epochs >= 1");
        }
        if self.task.train_prompts.saturating_add(self.eval.prompts) > self.task.distinct_prompts()
        {
            return err(format!(
                "task.train_prompts + eval.prompts = {} exceeds the task's {} distinct prompts",
                self.task.train_prompts.saturating_add(self.eval.prompts),
                self.task.distinct_prompts()
            ));
        }
        if self.task.train_prompts < g.prompts {
            return err(format!(
                "task.train_prompts = {} is smaller than grpo.prompts = {}",
                self.task.train_prompts, g.prompts
            ));
        }
        let sh = &self.shaping;
        if sh.laser_d_every == 0 || sh.laser_d_monitor == 0 {
            return err("shaping: laser_d_every and laser_d_monitor must be >= 1");
        }
        if sh.laser_d_monitor > self.task.train_prompts {
            return err("shaping.laser_d_monitor must be <= task.train_prompts");
        }
        for (name, v) in [
            ("shaping.laser_target", sh.laser_target),
            ("shaping.laser_d_grid[0]", sh.laser_d_grid[0]),
            ("shaping.laser_d_grid[1]", sh.laser_d_grid[1]),
            ("shaping.laser_d_grid[2]", sh.laser_d_grid[2]),
            ("shaping.cosine_max", sh.cosine_max),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                return err(format!(
                    "{name} must be a fraction of the budget in (0, 1] (got {v})"
                ));
            }
        }
        if sh.laser_d_grid[1] < sh.laser_d_grid[0] {
            return err("shaping.laser_d_grid: highest < lowest");
        }
        if sh.cosine_rewards.iter().any(|x| !x.is_finite()) {
            return err("shaping.cosine_rewards must be finite");
        }
        if self.warmup.batch == 0 {
            return err("warmup.batch must be >= 1");
        }
        if self.eval.prompts == 0 {
            return err("eval.prompts must be >= 1");
        }
        for (name, v) in [
            ("warmup.lr", self.warmup.lr),
            ("grpo.lr", g.lr),
            ("grpo.temperature", g.temperature),
            ("eval.temperature", self.eval.temperature),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return err(format!("{name} must be finite and > 0 (got {v})"));
            }
        }
        for (name, v) in [
            ("warmup.target_accuracy", self.warmup.target_accuracy),
            ("grpo.kl_coef", g.kl_coef),
            ("grpo.clip_low", g.clip_low),
            ("grpo.clip_high", g.clip_high),
            ("grpo.format_weight", g.format_weight),
            ("shaping.hapo_weight", self.shaping.hapo_weight),
            ("shaping.hapo_floor", self.shaping.hapo_floor),
            ("shaping.laser_alpha", self.shaping.laser_alpha),
            ("optim.weight_decay", self.optim.weight_decay),
            ("optim.grad_clip", self.optim.grad_clip),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return err(format!("{name} must be finite and >= 0 (got {v})"));
            }
        }
        let o = &self.optim;
        if !(0.0..1.0).contains(&o.beta1)
            || !(0.0..1.0).contains(&o.beta2)
            || o.eps.is_nan()
            || o.eps <= 0.0
        {
            return err("optim: beta1, beta2 in [0, 1) and eps > 0");
        }
        // Names: the core's parsers list every valid name on failure.
        g.estimator
            .parse::<AdvantageEstimator>()
            .map_err(|e| ConfigError(format!("grpo.estimator: {e}")))?;
        PolicyLossKind::from_verl(&g.loss).map_err(|e| ConfigError(format!("grpo.loss: {e}")))?;
        g.aggregation
            .parse::<Aggregation>()
            .map_err(|e| ConfigError(format!("grpo.aggregation: {e}")))?;
        g.kl.parse::<KlPenalty<f32>>()
            .map_err(|e| ConfigError(format!("grpo.kl: {e}")))?;
        if !SHAPINGS.contains(&g.shaping.as_str()) {
            return err(format!(
                "grpo.shaping: unknown `{}`; valid: {}",
                g.shaping,
                SHAPINGS.join(", ")
            ));
        }
        Ok(self)
    }

    /// Longest completion the sampler may produce (the completion budget).
    pub fn max_new(&self) -> usize {
        self.model.max_t - self.task.prompt_len()
    }

    /// A fraction of the completion budget in tokens (rounded, at least 1).
    pub fn budget_tokens(&self, fraction: f32) -> u32 {
        let t = (f64::from(fraction) * self.max_new() as f64).round();
        (t as u32).max(1)
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), ConfigError> {
    let mut parts = key.split('.').peekable();
    let mut cur = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            if !cur.contains_key(part) {
                return err(format!("unknown key `{key}`"));
            }
            cur.insert(part.to_string(), value);
            return Ok(());
        }
        cur = match cur.get_mut(part) {
            Some(toml::Value::Table(t)) => t,
            _ => return err(format!("unknown key `{key}`")),
        };
    }
    err(format!("empty key in `{key}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let cfg = Config::load(None, &[]).unwrap();
        assert_eq!(cfg.model.vocab, crate::task::vocab_size());
        let back = Config::from_toml(&cfg.to_toml().unwrap()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn overrides_apply() {
        let cfg = Config::load(
            None,
            &[
                "grpo.steps=7".into(),
                "grpo.shaping=laser".into(),
                "task.kind=\"sorting\"".into(),
            ],
        )
        .unwrap();
        assert_eq!(cfg.grpo.steps, 7);
        assert_eq!(cfg.grpo.shaping, "laser");
        assert_eq!(cfg.task.kind, crate::task::TaskKind::Sorting);
    }

    #[test]
    fn invalid_configs_are_errors() {
        let bad = |o: &str| Config::load(None, &[o.to_string()]).unwrap_err().0;
        assert!(bad("grpo.stepz=3").contains("unknown key"));
        assert!(bad("grpo.estimator=grpoo").contains("grpo.estimator"));
        assert!(bad("grpo.shaping=short").contains("none, hapo, laser"));
        assert!(bad("grpo.group=1").contains("group >= 2"));
        assert!(bad("grpo.lr=-1").contains("grpo.lr"));
        assert!(bad("task.train_prompts=4").contains("train_prompts"));
        assert!(bad("task.digits=1").contains("distinct prompts"));
        assert!(bad("shaping.laser_target=1.5").contains("fraction"));
        assert!(bad("shaping.laser_d_grid=[0.5, 0.25, 0.1]").contains("highest < lowest"));
        assert!(bad("shaping.laser_d_every=0").contains("laser_d_every"));
        assert!(bad("model.n_embd=10").contains("multiple of n_head"));
        assert!(bad("model.max_t=8").contains("max_t"));
        assert!(bad("nonsense").contains("key=value"));
        assert!(bad("grpo.steps=\"many\"").contains("invalid type"));
        assert!(
            Config::from_toml("seed = 1")
                .unwrap_err()
                .0
                .contains("missing field")
        );
    }
}
