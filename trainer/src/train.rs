//! The training run: a supervised warm-up on demonstrations, then GRPO against a frozen copy of the
//! warmed-up model, with held-out evaluation, metrics, plots and atomic checkpoints.
//!
//! [`Trainer::grpo_step`] is the whole GRPO loop body in one function: sample `K` completions per
//! prompt → verify → rewards → advantages → log-probabilities → loss and gradient → backward →
//! `AdamW`. Every reward, advantage, log-probability and loss comes from `rewardkit-core` through
//! [`crate::step`].

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rewardkit_core::Mask;
use rewardkit_core::rng::{RandomSource, SplitMix64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[cfg(feature = "gpu")]
use std::sync::Arc;

use crate::backend::Backend;
use crate::checkpoint::{self, Checkpoint};
use crate::clock::Instant;
use crate::config::Config;
use crate::model::Gpt;
use crate::optim::AdamW;
use crate::step::{
    self, AdvantageStage, Advantages, LossParts, LossStage, PolicyDiagnostics, RewardInputs,
    RewardTerms, ShapingState,
};
use crate::task::{EOS, Problem};

/// Any failure of a run, with a message for the user.
#[derive(Debug)]
pub enum TrainError {
    /// Invalid configuration.
    Config(crate::config::ConfigError),
    /// A checkpoint could not be read or written.
    Checkpoint(checkpoint::CheckpointError),
    /// A numerical or shape error from the kernels or the core.
    Core(rewardkit_core::Error),
    /// A file could not be written.
    Io(std::io::Error),
    /// `--backend gpu` without a usable GPU backend (no adapter, or a build without the `gpu`
    /// feature).
    NoGpu(String),
    /// The GPU device failed during the run (lost device, out of memory, a validation error).
    Device(String),
}

impl core::fmt::Display for TrainError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Checkpoint(e) => write!(f, "{e}"),
            Self::Core(e) => write!(f, "numerics: {e}"),
            Self::Io(e) => write!(f, "i/o: {e}"),
            Self::NoGpu(m) => write!(f, "{m}"),
            Self::Device(m) => write!(f, "GPU: {m}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<rewardkit_core::Error> for TrainError {
    fn from(e: rewardkit_core::Error) -> Self {
        Self::Core(e)
    }
}
impl From<std::io::Error> for TrainError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}
impl From<checkpoint::CheckpointError> for TrainError {
    fn from(e: checkpoint::CheckpointError) -> Self {
        Self::Checkpoint(e)
    }
}
impl From<crate::config::ConfigError> for TrainError {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::Config(e)
    }
}

/// Held-out evaluation result: greedy decoding, and `eval.samples` samples per prompt at
/// `eval.temperature` (the papers report sampled lengths; a greedy length is one decision per
/// prompt and jumps when the argmax of "re-check or stop" flips).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Fraction of correct answers (greedy).
    pub accuracy: f64,
    /// Fraction of well-formed completions (greedy).
    pub format: f64,
    /// Mean completion length in tokens, `$` included (greedy).
    pub length: f64,
    /// Fraction of correct answers over the samples.
    #[serde(default)]
    pub sampled_accuracy: f64,
    /// Mean completion length over the samples.
    #[serde(default)]
    pub sampled_length: f64,
}

/// The end-of-run numbers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Held-out result of the warmed-up model.
    pub warmup: EvalResult,
    /// Held-out result after GRPO.
    pub final_eval: EvalResult,
    /// Sampling throughput (generated tokens/s) over the GRPO phase.
    pub sample_tok_s: f64,
    /// Training throughput (tokens/s through forward + backward + `AdamW`) over the GRPO phase.
    pub train_tok_s: f64,
    /// Model FLOP/s of the training passes.
    pub train_flops: f64,
    /// The matrix product rate measured at the start of the run (FLOP/s).
    pub matmul_flops: f64,
    /// Wall time of the run (s).
    pub seconds: f64,
}

/// Everything that is not a tensor but is needed to continue a run exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    /// Warm-up steps done.
    pub warmup_done: usize,
    /// The warm-up reached `warmup.target_accuracy` on its monitor set and stopped.
    #[serde(default)]
    pub warmup_stopped: bool,
    /// GRPO steps done.
    pub grpo_done: usize,
    /// The run's random generator.
    pub rng: SplitMix64,
    /// Reward-shaping state.
    pub shaping: ShapingState,
    /// Held-out result of the warmed-up model, once measured.
    pub warmup_eval: Option<EvalResult>,
    /// Lines of `metrics.jsonl` that belong to the steps done.
    pub metrics_lines: usize,
    /// `AdamW` step count (the moments are tensors in the checkpoint).
    pub adam_step: u32,
    /// Accumulated throughput counters (tokens, seconds) for the summary.
    pub counters: Counters,
    /// The order in which the training pool is visited this epoch (indices into the pool,
    /// reshuffled with the run's generator at the start of every epoch).
    #[serde(default)]
    pub pool_order: Vec<u32>,
    /// Prompts of `pool_order` already used this epoch.
    #[serde(default)]
    pub pool_cursor: usize,
}

/// Throughput counters.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Tokens generated while sampling.
    pub sample_tokens: f64,
    /// Seconds spent sampling.
    pub sample_s: f64,
    /// Tokens through training passes (forward + backward).
    pub train_tokens: f64,
    /// Model FLOPs of training passes.
    pub train_flop: f64,
    /// Seconds spent in training passes.
    pub train_s: f64,
}

/// What one warm-up step did ([`Trainer::warmup_step`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarmupStep {
    /// The batch's mean negative log-likelihood of the demonstration tokens, before the update.
    pub loss: f64,
    /// Wall time of the step (s).
    pub seconds: f64,
    /// Tokens through the training pass (`warmup.batch` rows × the packed length).
    pub tokens: usize,
}

/// A training run in progress.
#[derive(Debug)]
pub struct Trainer {
    /// The resolved configuration.
    pub cfg: Config,
    /// The policy.
    pub policy: Gpt,
    /// The frozen reference (the warmed-up policy), once GRPO starts.
    pub reference: Option<Gpt>,
    /// Optimizer state of the current phase.
    pub opt: AdamW,
    /// Counters and random state.
    pub state: RunState,
    eval_set: Vec<Problem>,
    eval_keys: HashSet<u64>,
    pool: Vec<Problem>,
    run_dir: PathBuf,
    matmul_flops: f64,
    stages: Option<Stages>,
    scratch: Scratch,
    /// The GPU backend's state (`None`: the CPU backend).
    #[cfg(feature = "gpu")]
    device: Option<crate::device::Device>,
}

/// The core's pieces of a step, resolved once from the config.
#[derive(Clone, Debug)]
struct Stages {
    terms: RewardTerms,
    adv: AdvantageStage,
    loss: LossStage,
    adv_out: Advantages,
}

impl Stages {
    fn new(cfg: &Config) -> Result<Self, TrainError> {
        Ok(Self {
            terms: RewardTerms::new(cfg)?,
            adv: AdvantageStage::new(&cfg.grpo)?,
            loss: LossStage::new(&cfg.grpo)?,
            adv_out: Advantages::default(),
        })
    }
}

/// What the progress display needs (a no-op implementation for tests).
pub trait Progress {
    /// A phase starts with `total` steps, `done` of them already done.
    fn phase(&mut self, name: &str, total: usize, done: usize);
    /// One step finished; `msg` is a short status line.
    fn step(&mut self, msg: &str);
    /// The phase ended.
    fn finish(&mut self);
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&mut self, _: &str, _: usize, _: usize) {}
    fn step(&mut self, _: &str) {}
    fn finish(&mut self) {}
}

const METRICS: &str = "metrics.jsonl";
/// The checkpoint's file name in a run directory.
pub const CHECKPOINT: &str = "checkpoint.safetensors";

impl Trainer {
    /// A fresh run in `run_dir` (created), writing the resolved config there.
    ///
    /// # Errors
    /// [`TrainError`] for a model that cannot be built or an unwritable directory.
    pub fn new(cfg: Config, run_dir: &Path) -> Result<Self, TrainError> {
        fs::create_dir_all(run_dir)?;
        let t = Self::fresh(cfg, run_dir)?;
        fs::write(run_dir.join("config.toml"), t.cfg.to_toml()?)?;
        fs::write(run_dir.join(METRICS), "")?;
        Ok(t)
    }

    /// A fresh run that touches no file (the browser demo's): the same model, random state and
    /// prompts as [`Trainer::new`] with the same config, driven step by step with
    /// [`Trainer::warmup_step`], [`Trainer::start_grpo`] and [`Trainer::grpo_step`]. Its
    /// [`Trainer::run`] and [`Trainer::checkpoint`] would write to the current directory.
    ///
    /// # Errors
    /// [`TrainError`] for a model that cannot be built.
    pub fn in_memory(cfg: Config) -> Result<Self, TrainError> {
        Self::fresh(cfg, Path::new(""))
    }

    fn fresh(cfg: Config, run_dir: &Path) -> Result<Self, TrainError> {
        let mut rng = SplitMix64::new(cfg.seed);
        let policy = Gpt::new(cfg.model, &mut rng)?;
        let n = policy.num_params();
        let mut t = Self {
            opt: AdamW::new(n),
            policy,
            reference: None,
            state: RunState {
                warmup_done: 0,
                warmup_stopped: false,
                grpo_done: 0,
                rng,
                shaping: ShapingState::default(),
                warmup_eval: None,
                metrics_lines: 0,
                adam_step: 0,
                counters: Counters::default(),
                pool_order: Vec::new(),
                pool_cursor: 0,
            },
            eval_set: Vec::new(),
            eval_keys: HashSet::new(),
            pool: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            matmul_flops: 0.0,
            stages: None,
            scratch: Scratch::default(),
            #[cfg(feature = "gpu")]
            device: None,
            cfg,
        };
        t.make_eval_set();
        Ok(t)
    }

    /// Continues the run whose checkpoint is in `run_dir` (its config, weights, optimizer and
    /// random state); `metrics.jsonl` is cut back to the checkpoint's steps.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] for a missing, truncated or corrupted checkpoint.
    pub fn resume(run_dir: &Path) -> Result<Self, TrainError> {
        Self::from_checkpoint(run_dir, true)
    }

    /// Loads the run in `run_dir` for evaluation or sampling, touching no file.
    ///
    /// # Errors
    /// As [`Trainer::resume`].
    pub fn resume_readonly(run_dir: &Path) -> Result<Self, TrainError> {
        Self::from_checkpoint(run_dir, false)
    }

    /// A new run in `run_dir` that starts from this run's current weights and random state, with
    /// `cfg` (used by `compare` to train every shaping from one warm-up).
    ///
    /// # Errors
    /// [`TrainError::Io`] for an unwritable directory.
    pub fn fork(&mut self, cfg: Config, run_dir: &Path) -> Result<Self, TrainError> {
        self.sync_host()?;
        fs::create_dir_all(run_dir)?;
        fs::write(run_dir.join("config.toml"), cfg.to_toml()?)?;
        fs::write(run_dir.join(METRICS), "")?;
        let mut t = Self {
            opt: AdamW::new(self.policy.num_params()),
            policy: self.policy.clone(),
            reference: None,
            state: RunState {
                warmup_done: cfg.warmup.steps,
                warmup_stopped: true,
                grpo_done: 0,
                rng: self.state.rng.clone(),
                shaping: ShapingState::default(),
                warmup_eval: self.state.warmup_eval,
                metrics_lines: 0,
                adam_step: 0,
                counters: Counters::default(),
                pool_order: Vec::new(),
                pool_cursor: 0,
            },
            eval_set: Vec::new(),
            eval_keys: HashSet::new(),
            pool: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            matmul_flops: 0.0,
            stages: None,
            scratch: Scratch::default(),
            #[cfg(feature = "gpu")]
            device: None,
            cfg,
        };
        t.make_eval_set();
        #[cfg(feature = "gpu")]
        if let Some(d) = &self.device {
            t.set_backend(&Backend::Gpu(Arc::clone(d.model.ctx())))?;
        }
        if let Some(e) = t.state.warmup_eval {
            t.log_eval(0, &e)?;
        }
        Ok(t)
    }

    /// Runs the training passes on `backend` from now on: for the GPU, the policy, the reference
    /// and the optimizer state are uploaded (the host keeps the sampler's copy of the policy,
    /// synced after every device update); for the CPU, the device's state is copied back first.
    ///
    /// # Errors
    /// [`TrainError::Device`] (or `Core`) if the model cannot be put on the device or read back.
    pub fn set_backend(&mut self, backend: &Backend) -> Result<(), TrainError> {
        self.sync_host()?;
        #[cfg(feature = "gpu")]
        {
            if let Some(d) = self.device.take() {
                d.sync_opt(&mut self.opt)?;
            }
            if let Backend::Gpu(ctx) = backend {
                self.device = Some(crate::device::Device::new(
                    Arc::clone(ctx),
                    &self.policy,
                    self.reference.as_ref(),
                    &self.opt,
                )?);
            }
        }
        let _ = backend;
        Ok(())
    }

    /// The backend the training passes run on, in words (`cpu`, or `gpu: <adapter>`).
    pub fn backend(&self) -> String {
        #[cfg(feature = "gpu")]
        if let Some(d) = &self.device {
            return format!("gpu: {}", d.adapter());
        }
        "cpu".into()
    }

    /// Brings the host copy of the policy ([`Trainer::policy`]: the sampler's, the evaluation's,
    /// the checkpoint's) up to date with the device (a no-op on the CPU backend).
    ///
    /// # Errors
    /// [`TrainError::Device`] if the parameters cannot be read back.
    pub fn sync_host(&mut self) -> Result<(), TrainError> {
        #[cfg(feature = "gpu")]
        if let Some(d) = self.device.as_mut() {
            d.sync_params(&mut self.policy)?;
        }
        Ok(())
    }

    /// The matrix-product rate the run's FLOP/s are compared with: measured on the backend's
    /// device (the model's largest training product).
    fn matmul_rate(&self) -> Result<f64, TrainError> {
        #[cfg(feature = "gpu")]
        if let Some(d) = &self.device {
            return d.matmul_rate(matmul_rows(&self.cfg));
        }
        Ok(measure_matmul_rate(&self.cfg))
    }

    fn from_checkpoint(run_dir: &Path, truncate: bool) -> Result<Self, TrainError> {
        let ck = checkpoint::load(&run_dir.join(CHECKPOINT))?;
        let Checkpoint {
            cfg,
            policy,
            reference,
            m,
            v,
            state,
        } = ck;
        let policy = Gpt::from_params(cfg.model, policy)?;
        let reference = reference
            .map(|p| Gpt::from_params(cfg.model, p))
            .transpose()?;
        if truncate {
            let metrics = run_dir.join(METRICS);
            let text = fs::read_to_string(&metrics).unwrap_or_default();
            let kept: String = text
                .lines()
                .take(state.metrics_lines)
                .map(|l| format!("{l}\n"))
                .collect();
            fs::write(&metrics, kept)?;
        }
        let mut t = Self {
            opt: AdamW {
                m,
                v,
                step: state.adam_step,
            },
            policy,
            reference,
            state,
            eval_set: Vec::new(),
            eval_keys: HashSet::new(),
            pool: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            matmul_flops: 0.0,
            stages: None,
            scratch: Scratch::default(),
            #[cfg(feature = "gpu")]
            device: None,
            cfg,
        };
        t.make_eval_set();
        Ok(t)
    }

    /// Training-distribution prompts (never held-out ones) on which the warm-up checks its
    /// accuracy against `warmup.target_accuracy` (128, from a stream of their own; [`Trainer::run`]
    /// checks greedy accuracy on them every 10 warm-up steps).
    pub fn monitor_set(&self) -> Vec<Problem> {
        let mut rng = SplitMix64::new(self.cfg.seed ^ 0x0000_4D0E_170E);
        let mut out = Vec::with_capacity(128);
        while out.len() < 128 {
            let p = self.cfg.task.sample(&mut rng);
            if !self.eval_keys.contains(&p.key) {
                out.push(p);
            }
        }
        out
    }

    fn make_eval_set(&mut self) {
        // A separate stream: the held-out set never depends on the training draws.
        let mut rng = SplitMix64::new(self.cfg.seed ^ 0x5EED_E7A1);
        let mut seen = HashSet::new();
        while self.eval_set.len() < self.cfg.eval.prompts {
            let p = self.cfg.task.sample(&mut rng);
            if seen.insert(p.key) {
                self.eval_set.push(p);
            }
        }
        self.eval_keys = seen;
        // The training pool: distinct prompts outside the held-out set, from a third stream.
        let mut rng = SplitMix64::new(self.cfg.seed ^ 0x0000_9001_7001);
        let mut keys = HashSet::new();
        self.pool.clear();
        while self.pool.len() < self.cfg.task.train_prompts {
            let p = self.cfg.task.sample(&mut rng);
            if !self.eval_keys.contains(&p.key) && keys.insert(p.key) {
                self.pool.push(p);
            }
        }
    }

    /// The training pool (GRPO's prompts; fixed for the run, disjoint from the held-out set).
    pub fn pool(&self) -> &[Problem] {
        &self.pool
    }

    /// The next `n` prompts of the pool in this epoch's order, starting a new epoch (a fresh
    /// shuffle with the run's generator) when the current one is used up.
    fn next_prompts(&mut self, n: usize) -> Vec<Problem> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.state.pool_order.len() != self.pool.len()
                || self.state.pool_cursor >= self.state.pool_order.len()
            {
                let mut order: Vec<u32> = (0..self.pool.len() as u32).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, self.state.rng.below(i + 1));
                }
                self.state.pool_order = order;
                self.state.pool_cursor = 0;
            }
            let i = self.state.pool_order[self.state.pool_cursor] as usize;
            self.state.pool_cursor += 1;
            out.push(self.pool[i].clone());
        }
        out
    }

    /// A training prompt that is not in the held-out set.
    fn train_problem(&mut self) -> Problem {
        loop {
            let p = self.cfg.task.sample(&mut self.state.rng);
            if !self.eval_keys.contains(&p.key) {
                return p;
            }
        }
    }

    /// The held-out set.
    pub fn eval_set(&self) -> &[Problem] {
        &self.eval_set
    }

    /// Runs (or continues) the whole run: warm-up, GRPO, final evaluation; writes metrics, plots
    /// and checkpoints; stops early after `stop_after` GRPO steps if given (for tests of resume).
    ///
    /// # Errors
    /// [`TrainError`].
    pub fn run(
        &mut self,
        progress: &mut dyn Progress,
        stop_after: Option<usize>,
    ) -> Result<Option<Summary>, TrainError> {
        let t0 = Instant::now();
        self.matmul_flops = self.matmul_rate()?;
        let w = self.cfg.warmup.steps;
        if self.state.warmup_done < w && !self.state.warmup_stopped {
            progress.phase("warm-up", w, self.state.warmup_done);
            let monitor = self.monitor_set();
            while self.state.warmup_done < w && !self.state.warmup_stopped {
                let WarmupStep {
                    loss,
                    seconds: secs,
                    ..
                } = self.sft_step()?;
                self.state.warmup_done += 1;
                let mut m = Map::new();
                m.insert("phase".into(), json!("warmup"));
                m.insert("step".into(), json!(self.state.warmup_done));
                m.insert("loss".into(), json!(loss));
                m.insert("time_s".into(), json!(secs));
                let target = self.cfg.warmup.target_accuracy;
                if target > 0.0 && self.state.warmup_done % 10 == 0 {
                    self.sync_host()?;
                    let acc = evaluate(&self.cfg, &self.policy, &monitor, false)?.accuracy;
                    m.insert("monitor_accuracy".into(), json!(acc));
                    self.state.warmup_stopped = acc >= f64::from(target);
                }
                self.log(m)?;
                progress.step(&format!("loss {loss:.3}"));
            }
            progress.finish();
        }
        if self.state.warmup_eval.is_none() {
            self.sync_host()?;
            let e = self.evaluate(&self.policy.clone())?;
            self.state.warmup_eval = Some(e);
            self.log_eval(0, &e)?;
            self.checkpoint()?;
        }
        if self.reference.is_none() {
            self.start_grpo()?;
        }
        let g = self.cfg.grpo.steps;
        progress.phase("GRPO", g, self.state.grpo_done);
        while self.state.grpo_done < g {
            let mut m = self.grpo_step()?;
            self.state.grpo_done += 1;
            let k = self.state.grpo_done;
            let every = self.cfg.eval.every;
            let msg = format!(
                "acc {:.2} len {:.1} kl {:.4}",
                m.get("accuracy").and_then(Value::as_f64).unwrap_or(0.0),
                m.get("length").and_then(Value::as_f64).unwrap_or(0.0),
                m.get("kl").and_then(Value::as_f64).unwrap_or(0.0),
            );
            m.insert("phase".into(), json!("grpo"));
            m.insert("step".into(), json!(k));
            self.log(m)?;
            if every > 0 && k % every == 0 && k < g {
                self.sync_host()?;
                let e = self.evaluate(&self.policy.clone())?;
                self.log_eval(k, &e)?;
            }
            let ce = self.cfg.eval.checkpoint_every;
            if ce > 0 && k % ce == 0 && k < g {
                self.checkpoint()?;
            }
            progress.step(&msg);
            if stop_after.is_some_and(|s| k >= s) && k < g {
                progress.finish();
                self.checkpoint()?;
                return Ok(None);
            }
        }
        progress.finish();
        self.sync_host()?;
        let fin = self.evaluate(&self.policy.clone())?;
        self.log_eval(g, &fin)?;
        self.checkpoint()?;
        crate::plot::write_plots(&self.run_dir)?;
        let c = self.state.counters;
        let rate = |x: f64, s: f64| if s > 0.0 { x / s } else { 0.0 };
        let summary = Summary {
            warmup: self.state.warmup_eval.unwrap_or_default(),
            final_eval: fin,
            sample_tok_s: rate(c.sample_tokens, c.sample_s),
            train_tok_s: rate(c.train_tokens, c.train_s),
            train_flops: rate(c.train_flop, c.train_s),
            matmul_flops: self.matmul_flops,
            seconds: t0.elapsed().as_secs_f64(),
        };
        fs::write(
            self.run_dir.join("summary.json"),
            serde_json::to_string_pretty(&summary).unwrap_or_default(),
        )?;
        Ok(Some(summary))
    }

    fn log_eval(&mut self, step: usize, e: &EvalResult) -> Result<(), TrainError> {
        let mut m = Map::new();
        m.insert("phase".into(), json!("eval"));
        m.insert("step".into(), json!(step));
        m.insert("eval_accuracy".into(), json!(e.accuracy));
        m.insert("eval_format".into(), json!(e.format));
        m.insert("eval_length".into(), json!(e.length));
        m.insert("eval_sampled_accuracy".into(), json!(e.sampled_accuracy));
        m.insert("eval_sampled_length".into(), json!(e.sampled_length));
        self.log(m)
    }

    fn log(&mut self, m: Map<String, Value>) -> Result<(), TrainError> {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.run_dir.join(METRICS))?;
        writeln!(f, "{}", Value::Object(m))?;
        self.state.metrics_lines += 1;
        Ok(())
    }

    /// Writes the checkpoint atomically.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`].
    pub fn checkpoint(&mut self) -> Result<(), TrainError> {
        self.sync_host()?;
        #[cfg(feature = "gpu")]
        if let Some(d) = &self.device {
            d.sync_opt(&mut self.opt)?;
        }
        self.state.adam_step = self.opt.step;
        checkpoint::save(
            &self.run_dir.join(CHECKPOINT),
            &self.cfg,
            &self.policy,
            self.reference.as_ref(),
            &self.opt,
            &self.state,
        )?;
        Ok(())
    }

    /// One warm-up step (as [`Trainer::run`] takes them, without its accuracy monitor): a
    /// supervised step on `warmup.batch` demonstrations with the cosine learning-rate schedule over
    /// `warmup.steps`; counts it in `state.warmup_done`.
    ///
    /// # Errors
    /// [`TrainError`].
    pub fn warmup_step(&mut self) -> Result<WarmupStep, TrainError> {
        let s = self.sft_step()?;
        self.state.warmup_done += 1;
        Ok(s)
    }

    /// Ends the warm-up (as [`Trainer::run`] does before its first GRPO step): the current policy
    /// becomes the frozen reference and the optimizer restarts.
    ///
    /// # Errors
    /// [`TrainError::Device`] on the GPU backend if the device's state cannot be set up.
    pub fn start_grpo(&mut self) -> Result<(), TrainError> {
        self.sync_host()?;
        self.reference = Some(self.policy.clone());
        self.opt = AdamW::new(self.policy.num_params());
        #[cfg(feature = "gpu")]
        if let Some(d) = self.device.as_mut() {
            d.start_grpo()?;
        }
        Ok(())
    }

    /// One supervised step on a batch of demonstrations: mean negative log-likelihood of the
    /// completion tokens (log-probabilities and their gradient from core).
    fn sft_step(&mut self) -> Result<WarmupStep, TrainError> {
        let t0 = Instant::now();
        let bsz = self.cfg.warmup.batch;
        let p_len = self.cfg.task.prompt_len();
        let mut seqs = Vec::with_capacity(bsz);
        for _ in 0..bsz {
            let p = self.train_problem();
            let demo = self.cfg.task.demonstration(&p, &mut self.state.rng);
            seqs.push((p.prompt, demo));
        }
        let (tokens, targets, weights, t) = pack(&seqs, p_len);
        let n_tok: f32 = weights.iter().sum();
        let dlogp: Vec<f32> = weights.iter().map(|&w| -w / n_tok).collect();
        #[cfg(feature = "gpu")]
        if let Some(d) = self.device.as_mut() {
            let lr = self.cfg.warmup.lr * cosine_lr(self.state.warmup_done, self.cfg.warmup.steps);
            let loss = d.sft_step(&tokens, &targets, &dlogp, bsz, t, &self.cfg.optim, lr)?;
            return Ok(WarmupStep {
                loss,
                seconds: t0.elapsed().as_secs_f64(),
                tokens: bsz * t,
            });
        }
        let v = self.policy.cfg.vocab;
        self.policy.forward(&tokens, bsz, t)?;
        let mut logp = vec![0.0f32; bsz * t];
        let mut stats = vec![step::RowStats::default(); bsz * t];
        step::token_logprobs(
            &mut logp,
            &mut stats,
            &self.policy.acts().logits,
            &targets,
            v,
        )?;
        let loss: f64 = logp
            .iter()
            .zip(&dlogp)
            .map(|(&l, &d)| f64::from(l) * f64::from(d))
            .sum();
        let mut dlogits = vec![0.0f32; bsz * t * v];
        step::token_logprobs_backward(
            &mut dlogits,
            &dlogp,
            &self.policy.acts().logits,
            &stats,
            &targets,
            v,
        )?;
        let mut grads = vec![0.0f32; self.policy.num_params()];
        self.policy.backward(&mut grads, &dlogits, &tokens)?;
        let lr = self.cfg.warmup.lr * cosine_lr(self.state.warmup_done, self.cfg.warmup.steps);
        self.opt.update(
            &mut self.policy.params,
            &mut grads,
            &self.policy.layout,
            &self.cfg.optim,
            lr,
        )?;
        Ok(WarmupStep {
            loss,
            seconds: t0.elapsed().as_secs_f64(),
            tokens: bsz * t,
        })
    }

    /// LASER-D's monitor: `G` samples of each monitor prompt (a fixed subset of the pool) at the
    /// training temperature; the core recomputes the target of every difficulty band from them.
    /// Returns the new targets (low, medium, high; `None` = the batch's longest response).
    fn laser_d_monitor(&mut self, stages: &Stages) -> Result<[Option<u32>; 3], TrainError> {
        let (m, k) = (self.cfg.shaping.laser_d_monitor, self.cfg.grpo.group);
        self.sync_host()?;
        let problems: Vec<Problem> = self.pool[..m].to_vec();
        let prompts: Vec<u32> = problems
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.prompt.iter().copied(), k).flatten())
            .collect();
        let t0 = Instant::now();
        let outs = self.policy.generate(
            &prompts,
            m * k,
            self.cfg.max_new(),
            self.cfg.grpo.temperature,
            EOS,
            &mut self.state.rng,
        )?;
        let c = &mut self.state.counters;
        c.sample_s += t0.elapsed().as_secs_f64();
        c.sample_tokens += outs.iter().map(Vec::len).sum::<usize>() as f64;
        // The reference's monitor counts answer correctness (format ignored).
        let correct: Vec<bool> = outs
            .iter()
            .enumerate()
            .map(|(i, o)| self.cfg.task.verify(&problems[i / k], o).correct)
            .collect();
        let lengths: Vec<u32> = outs.iter().map(|o| o.len().max(1) as u32).collect();
        let groups: Vec<u32> = (0..m * k).map(|i| (i / k) as u32).collect();
        let index = step::groups(&groups, m)?;
        Ok(stages
            .terms
            .monitor(&mut self.state.shaping, &lengths, &correct, &index)?)
    }

    /// One GRPO step; returns its metrics.
    ///
    /// # Errors
    /// [`TrainError`].
    pub fn grpo_step(&mut self) -> Result<Map<String, Value>, TrainError> {
        let mut stages = match self.stages.take() {
            Some(s) => s,
            None => Stages::new(&self.cfg)?,
        };
        let r = self.grpo_step_with(&mut stages);
        self.stages = Some(stages);
        r
    }

    fn grpo_step_with(&mut self, stages: &mut Stages) -> Result<Map<String, Value>, TrainError> {
        self.sync_host()?;
        let cfg = self.cfg.grpo.clone();
        let (n_prompts, k) = (cfg.prompts, cfg.group);
        let b = n_prompts * k;
        let max_new = self.cfg.max_new();
        let mut m = Map::new();

        // 0. LASER-D's monitor, before the first step and every `laser_d_every` steps.
        if cfg.shaping == "laser-d" && self.state.grpo_done % self.cfg.shaping.laser_d_every == 0 {
            let targets = self.laser_d_monitor(stages)?;
            m.insert("laser_d_targets".into(), json!(targets));
        }

        // 1. Sample K completions for each of the next prompts of the pool (KV cache).
        let t_sample = Instant::now();
        let problems = self.next_prompts(n_prompts);
        let prompts: Vec<u32> = problems
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.prompt.iter().copied(), k).flatten())
            .collect();
        let completions = self.policy.generate(
            &prompts,
            b,
            max_new,
            cfg.temperature,
            EOS,
            &mut self.state.rng,
        )?;
        let sample_s = t_sample.elapsed().as_secs_f64();
        self.grpo_update(stages, m, &problems, &completions, sample_s)
    }

    /// One GRPO step on given completions instead of sampled ones: steps 2–7 of
    /// [`Trainer::grpo_step`] (verify, rewards, advantages, log-probabilities, loss and gradient,
    /// `AdamW`) for `completions` of `problems`, `grpo.group` per prompt, prompt-major. The GPU
    /// parity tests force the same completions on both backends through it.
    ///
    /// # Errors
    /// [`TrainError::Core`] (`LengthMismatch`) unless there are `grpo.group` completions per
    /// problem; as [`Trainer::grpo_step`].
    pub fn grpo_step_on(
        &mut self,
        problems: &[Problem],
        completions: &[Vec<u32>],
    ) -> Result<Map<String, Value>, TrainError> {
        if problems.len() * self.cfg.grpo.group != completions.len() {
            return Err(TrainError::Core(rewardkit_core::Error::LengthMismatch {
                what: "completions (grpo.group per problem)",
                expected: problems.len() * self.cfg.grpo.group,
                got: completions.len(),
            }));
        }
        self.sync_host()?;
        let mut stages = match self.stages.take() {
            Some(s) => s,
            None => Stages::new(&self.cfg)?,
        };
        let r = self.grpo_update(&mut stages, Map::new(), problems, completions, 0.0);
        self.stages = Some(stages);
        r
    }

    /// Steps 2–7 of a GRPO step on sampled (or given) completions.
    fn grpo_update(
        &mut self,
        stages: &mut Stages,
        mut m: Map<String, Value>,
        problems: &[Problem],
        completions: &[Vec<u32>],
        sample_s: f64,
    ) -> Result<Map<String, Value>, TrainError> {
        let cfg = self.cfg.grpo.clone();
        let k = cfg.group;
        let n_prompts = problems.len();
        let b = completions.len();
        let p_len = self.cfg.task.prompt_len();

        // 2. Verify.
        let groups: Vec<u32> = (0..b).map(|i| (i / k) as u32).collect();
        let outcomes: Vec<_> = completions
            .iter()
            .enumerate()
            .map(|(i, c)| self.cfg.task.verify(&problems[i / k], c))
            .collect();
        let correct: Vec<bool> = outcomes.iter().map(|o| o.correct).collect();
        let well_formed: Vec<bool> = outcomes.iter().map(|o| o.well_formed).collect();
        let lengths: Vec<u32> = completions.iter().map(|c| c.len().max(1) as u32).collect();
        let keys: Vec<u64> = (0..b).map(|i| problems[i / k].key).collect();

        // Pack (B, T) inputs and the (B, Tc) completion mask.
        let t_train = Instant::now();
        let seqs: Vec<(Vec<u32>, Vec<u32>)> = completions
            .iter()
            .enumerate()
            .map(|(i, c)| (problems[i / k].prompt.clone(), c.clone()))
            .collect();
        let (tokens, targets, _, t) = pack(&seqs, p_len);
        let tc = t + 1 - p_len;
        let mask_bits: Vec<bool> = (0..b)
            .flat_map(|i| (0..tc).map(move |j| (i, j)))
            .map(|(i, j)| j < completions[i].len())
            .collect();
        let mask = step::mask(&mask_bits, tc)?;
        let index = step::groups(&groups, n_prompts)?;

        // 3. Rewards (core pipeline) and 4. advantages (core plan, per sequence for GRPO).
        let rewards = stages.terms.rewards(
            &mut self.state.shaping,
            &RewardInputs {
                correct: &correct,
                well_formed: &well_formed,
                lengths: &lengths,
                keys: &keys,
                groups: &index,
                mask,
            },
        )?;
        stages
            .adv
            .run(&mut stages.adv_out, &rewards.tokens, mask, &index)?;

        // 5. Log-probabilities of the frozen reference.
        let packed = Packed {
            tokens: &tokens,
            targets: &targets,
            b,
            t,
            p_len,
        };
        let micro = cfg.micro_batch;
        // On the GPU backend steps 5–7 run on the device (`crate::device`, the same stages).
        #[cfg(feature = "gpu")]
        let on_device = match self.device.as_mut() {
            Some(d) => Some(d.grpo_passes(
                &stages.loss,
                &packed,
                &stages.adv_out.values,
                mask,
                &cfg,
                &self.cfg.optim,
            )?),
            None => None,
        };
        #[cfg(not(feature = "gpu"))]
        let on_device: Option<(PolicyGradient, f64, f64)> = None;
        let (out, grad_norm, flop) = match on_device {
            Some(r) => r,
            None => {
                let reference =
                    self.reference
                        .as_mut()
                        .ok_or(rewardkit_core::Error::MissingInput {
                            what: "reference model",
                        })?;
                let ref_logp = completion_logprobs(reference, &packed, micro, &mut self.scratch)?;
                let mut flop = forward_flop(&self.policy, b, t);

                // 6. Policy loss and gradient (core) through the model's backward, 7. AdamW; the first
                // epoch is on-policy (the sampling policy's log-probabilities are its own, detached).
                let mut old_logp: Option<Vec<f32>> = None;
                let mut last = None;
                let mut grad_norm = 0.0;
                for epoch in 0..cfg.epochs {
                    let out = policy_gradient(
                        &mut self.policy,
                        &stages.loss,
                        &packed,
                        &PolicyData {
                            old: old_logp.as_deref(),
                            reference: &ref_logp,
                            adv: &stages.adv_out.values,
                            mask,
                        },
                        micro,
                        epoch == 0,
                        &mut self.scratch,
                    )?;
                    if epoch == 0 {
                        old_logp = Some(self.scratch.logp.clone());
                    }
                    grad_norm = self.opt.update(
                        &mut self.policy.params,
                        &mut self.scratch.grads,
                        &self.policy.layout,
                        &self.cfg.optim,
                        cfg.lr,
                    )?;
                    flop += 3.0 * forward_flop(&self.policy, b, t);
                    last = Some(out);
                }
                let out = last.ok_or(rewardkit_core::Error::Empty { what: "epochs" })?;
                (out, grad_norm, flop)
            }
        };
        let train_s = t_train.elapsed().as_secs_f64();

        let gen_tokens: usize = completions.iter().map(Vec::len).sum();
        let c = &mut self.state.counters;
        c.sample_tokens += gen_tokens as f64;
        c.sample_s += sample_s;
        c.train_tokens += (b * t * (cfg.epochs + 1)) as f64;
        c.train_flop += flop;
        c.train_s += train_s;

        let mean = |x: &[f32]| x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
        let frac = |x: &[bool]| x.iter().filter(|&&v| v).count() as f64 / x.len().max(1) as f64;
        let tokens_valid = out.parts.tokens.max(1) as f64;
        m.insert("reward".into(), json!(mean(&rewards.total)));
        for (name, part) in rewards.names.iter().zip(rewards.parts.chunks_exact(b)) {
            m.insert(format!("reward_{name}"), json!(mean(part)));
        }
        if let Some(c) = rewards.hapo_coverage {
            m.insert("hapo_coverage".into(), json!(c));
        }
        m.insert("accuracy".into(), json!(frac(&correct)));
        m.insert("format".into(), json!(frac(&well_formed)));
        m.insert(
            "length".into(),
            json!(lengths.iter().map(|&l| f64::from(l)).sum::<f64>() / b as f64),
        );
        m.insert("kl".into(), json!(out.kl_sum / tokens_valid));
        m.insert("clip_fraction".into(), json!(out.diag.clip_fraction()));
        m.insert("entropy".into(), json!(out.entropy_sum / tokens_valid));
        m.insert("loss".into(), json!(out.loss));
        m.insert("grad_norm".into(), json!(grad_norm));
        m.insert("time_sample_s".into(), json!(sample_s));
        m.insert("time_train_s".into(), json!(train_s));
        m.insert(
            "time_sample_tok_s".into(),
            json!(gen_tokens as f64 / sample_s.max(1e-9)),
        );
        m.insert(
            "time_train_tok_s".into(),
            json!((b * t * (cfg.epochs + 1)) as f64 / train_s.max(1e-9)),
        );
        Ok(m)
    }

    /// Greedy decoding on the held-out set.
    ///
    /// # Errors
    /// [`TrainError::Core`].
    pub fn evaluate(&self, model: &Gpt) -> Result<EvalResult, TrainError> {
        evaluate(&self.cfg, model, &self.eval_set, true)
    }
}

/// A packed batch: inputs and next-token targets `(B, T)`; completions start at column `P − 1`.
#[derive(Clone, Copy, Debug)]
pub struct Packed<'a> {
    /// Input tokens `(B, T)`.
    pub tokens: &'a [u32],
    /// Next-token targets `(B, T)`.
    pub targets: &'a [u32],
    /// Rows `B`.
    pub b: usize,
    /// Columns `T`.
    pub t: usize,
    /// Prompt length `P`.
    pub p_len: usize,
}

/// The detached inputs of the policy loss, on the `(B, Tc)` completion grid.
#[derive(Clone, Copy, Debug)]
pub struct PolicyData<'a> {
    /// Log-probabilities of the sampling policy (`None`: on-policy, the current ones detached).
    pub old: Option<&'a [f32]>,
    /// Log-probabilities of the frozen reference.
    pub reference: &'a [f32],
    /// Advantages, `(B)` (one per sequence) or `(B, Tc)`.
    pub adv: &'a [f32],
    /// Completion mask.
    pub mask: Mask<'a>,
}

/// Buffers of the training passes, reused from step to step (sized for the largest micro-batch
/// seen).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// Policy log-probabilities of the completions `(B, Tc)` from the last [`policy_gradient`]
    /// (the on-policy "old" log-probabilities of the first epoch).
    pub logp: Vec<f32>,
    /// Gradient of the loss with respect to every parameter, from the last [`policy_gradient`].
    pub grads: Vec<f32>,
    full: Vec<f32>,
    stats: Vec<step::RowStats>,
    dfull: Vec<f32>,
    dlogits: Vec<f32>,
    dlogp: Vec<f32>,
    kl_tok: Vec<f32>,
    entropy: Vec<f32>,
    entropy_stats: Vec<step::RowStats>,
}

/// `v` resized to `n` zeros (keeping its capacity).
fn zeroed<T: Clone + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    v.clear();
    v.resize(n, T::default());
    v
}

/// Micro-batches of rows: `[0, m), [m, 2m), …` (one batch of all rows for `micro = 0`).
pub(crate) fn micro_batches(
    b: usize,
    micro: usize,
) -> impl Iterator<Item = core::ops::Range<usize>> {
    let m = if micro == 0 { b.max(1) } else { micro };
    (0..b).step_by(m).map(move |r| r..(r + m).min(b))
}

/// The completion log-probabilities `(B, Tc)` of `model` on a packed batch (forward passes only,
/// by micro-batches; core log-probabilities).
///
/// # Errors
/// [`TrainError::Core`].
pub fn completion_logprobs(
    model: &mut Gpt,
    batch: &Packed<'_>,
    micro: usize,
    scratch: &mut Scratch,
) -> Result<Vec<f32>, TrainError> {
    let Packed {
        tokens,
        targets,
        b,
        t,
        p_len,
    } = *batch;
    let v = model.cfg.vocab;
    let tc = t + 1 - p_len;
    let mut out = vec![0.0f32; b * tc];
    for rows in micro_batches(b, micro) {
        let (r0, mb) = (rows.start, rows.len());
        model.forward(&tokens[r0 * t..rows.end * t], mb, t)?;
        let full = zeroed(&mut scratch.full, mb * t);
        let stats = zeroed(&mut scratch.stats, mb * t);
        step::token_logprobs(
            full,
            stats,
            &model.acts().logits,
            &targets[r0 * t..rows.end * t],
            v,
        )?;
        for (i, row) in out[r0 * tc..rows.end * tc].chunks_exact_mut(tc).enumerate() {
            row.copy_from_slice(&full[i * t + p_len - 1..][..tc]);
        }
    }
    Ok(out)
}

/// What [`policy_gradient`] measured.
#[derive(Clone, Copy, Debug)]
pub struct PolicyGradient {
    /// The aggregated loss (policy term plus `β·KL`) over the whole batch.
    pub loss: f64,
    /// The loss parts over the whole batch.
    pub parts: LossParts,
    /// Clip and ratio diagnostics over the whole batch.
    pub diag: PolicyDiagnostics,
    /// `Σ` of the per-token KL estimate against the reference over valid tokens.
    pub kl_sum: f64,
    /// `Σ` of the policy's token entropies over valid tokens (0 unless asked for).
    pub entropy_sum: f64,
}

/// The policy loss (core) of `policy` on a packed batch and its gradient with respect to every
/// parameter (in `scratch.grads`), by micro-batches of `micro` rows (0: all): forward →
/// log-probabilities (core) → loss and `∂loss/∂log π` (core, normalized by the whole batch's
/// `LossParts::from_mask`, so the sum over micro-batches is the whole-batch loss and gradient) →
/// `∂loss/∂logits` (core) → the model's backward pass, accumulating. The policy's completion
/// log-probabilities land in `scratch.logp`.
///
/// # Errors
/// [`TrainError::Core`].
pub fn policy_gradient(
    policy: &mut Gpt,
    loss: &LossStage,
    batch: &Packed<'_>,
    data: &PolicyData<'_>,
    micro: usize,
    entropy: bool,
    scratch: &mut Scratch,
) -> Result<PolicyGradient, TrainError> {
    let Packed {
        tokens,
        targets,
        b,
        t,
        p_len,
    } = *batch;
    let v = policy.cfg.vocab;
    let tc = t + 1 - p_len;
    let bits = data.mask.bits();
    let total = loss.normalizer(data.mask);
    let per_seq = data.adv.len() == b;
    zeroed(&mut scratch.logp, b * tc);
    zeroed(&mut scratch.grads, policy.num_params());
    let mut out = PolicyGradient {
        loss: 0.0,
        parts: LossParts::ZERO,
        diag: PolicyDiagnostics::EMPTY,
        kl_sum: 0.0,
        entropy_sum: 0.0,
    };
    for rows in micro_batches(b, micro) {
        let (r0, r1, mb) = (rows.start, rows.end, rows.len());
        let (tok, tgt) = (&tokens[r0 * t..r1 * t], &targets[r0 * t..r1 * t]);
        policy.forward(tok, mb, t)?;
        let full = zeroed(&mut scratch.full, mb * t);
        let stats = zeroed(&mut scratch.stats, mb * t);
        step::token_logprobs(full, stats, &policy.acts().logits, tgt, v)?;
        let logp = &mut scratch.logp[r0 * tc..r1 * tc];
        for (i, row) in logp.chunks_exact_mut(tc).enumerate() {
            row.copy_from_slice(&full[i * t + p_len - 1..][..tc]);
        }
        let logp = &scratch.logp[r0 * tc..r1 * tc];
        let mask = step::mask(&bits[r0 * tc..r1 * tc], tc)?;
        let adv = if per_seq {
            &data.adv[r0..r1]
        } else {
            &data.adv[r0 * tc..r1 * tc]
        };
        let dlogp = zeroed(&mut scratch.dlogp, mb * tc);
        let kl_tok = zeroed(&mut scratch.kl_tok, mb * tc);
        let part = loss.run(
            dlogp,
            kl_tok,
            logp,
            data.old.map_or(logp, |o| &o[r0 * tc..r1 * tc]),
            &data.reference[r0 * tc..r1 * tc],
            adv,
            mask,
            &total,
        )?;
        out.loss += part.value;
        out.parts += part.parts;
        out.diag = out.diag + part.diag;
        out.kl_sum += part.kl_sum;
        if entropy {
            let h = zeroed(&mut scratch.entropy, mb * t);
            let hs = zeroed(&mut scratch.entropy_stats, mb * t);
            step::entropies(h, hs, &policy.acts().logits, v)?;
            for (i, m) in mask.bits().chunks_exact(tc).enumerate() {
                for (j, _) in m.iter().enumerate().filter(|&(_, &on)| on) {
                    out.entropy_sum += f64::from(h[i * t + p_len - 1 + j]);
                }
            }
        }
        let dfull = zeroed(&mut scratch.dfull, mb * t);
        for (i, row) in scratch.dlogp.chunks_exact(tc).enumerate() {
            dfull[i * t + p_len - 1..][..tc].copy_from_slice(row);
        }
        let dlogits = zeroed(&mut scratch.dlogits, mb * t * v);
        step::token_logprobs_backward(
            dlogits,
            dfull,
            &policy.acts().logits,
            &scratch.stats,
            tgt,
            v,
        )?;
        policy.backward(&mut scratch.grads, &scratch.dlogits, tok)?;
    }
    Ok(out)
}

/// Greedy decoding of `problems` with `model` (accuracy, format rate and mean length), and with
/// `sampled`, `cfg.eval.samples` samples per prompt at `cfg.eval.temperature` (fixed seed).
///
/// # Errors
/// [`TrainError::Core`].
pub fn evaluate(
    cfg: &Config,
    model: &Gpt,
    problems: &[Problem],
    sampled: bool,
) -> Result<EvalResult, TrainError> {
    let run = |k: usize, temperature: f32, rng: &mut SplitMix64| {
        let (mut ok, mut wf, mut len) = (0usize, 0usize, 0usize);
        for chunk in problems.chunks(256) {
            let prompts: Vec<u32> = chunk
                .iter()
                .flat_map(|p| std::iter::repeat_n(p.prompt.iter().copied(), k).flatten())
                .collect();
            let outs = model.generate(
                &prompts,
                chunk.len() * k,
                cfg.max_new(),
                temperature,
                EOS,
                rng,
            )?;
            for (i, o) in outs.iter().enumerate() {
                let r = cfg.task.verify(&chunk[i / k], o);
                ok += usize::from(r.correct);
                wf += usize::from(r.well_formed);
                len += o.len();
            }
        }
        let n = (problems.len() * k).max(1) as f64;
        Ok::<_, TrainError>((ok as f64 / n, wf as f64 / n, len as f64 / n))
    };
    let (accuracy, format, length) = run(1, 0.0, &mut SplitMix64::new(0))?;
    let (sampled_accuracy, sampled_length) = if sampled && cfg.eval.samples > 0 {
        let mut rng = SplitMix64::new(cfg.seed ^ 0x0E7A_1540);
        let (a, _, l) = run(cfg.eval.samples, cfg.eval.temperature, &mut rng)?;
        (a, l)
    } else {
        (0.0, 0.0)
    };
    Ok(EvalResult {
        accuracy,
        format,
        length,
        sampled_accuracy,
        sampled_length,
    })
}

/// Packs `(prompt, completion)` pairs into model inputs `(B, T)`, next-token targets `(B, T)` and
/// completion weights `(B, T)` (1 where the target is a completion token), with
/// `T = P + max completion length − 1`.
fn pack(seqs: &[(Vec<u32>, Vec<u32>)], p_len: usize) -> (Vec<u32>, Vec<u32>, Vec<f32>, usize) {
    let longest = seqs.iter().map(|(_, c)| c.len()).max().unwrap_or(1).max(1);
    let t = p_len + longest - 1;
    let b = seqs.len();
    let (mut tokens, mut targets, mut weights) =
        (vec![EOS; b * t], vec![EOS; b * t], vec![0.0f32; b * t]);
    for (i, (p, c)) in seqs.iter().enumerate() {
        let full: Vec<u32> = p.iter().chain(c.iter()).copied().collect();
        for j in 0..t {
            if let Some(&x) = full.get(j) {
                tokens[i * t + j] = x;
            }
            if let Some(&y) = full.get(j + 1) {
                targets[i * t + j] = y;
                weights[i * t + j] = if j + 1 >= p.len() { 1.0 } else { 0.0 };
            }
        }
    }
    (tokens, targets, weights, t)
}

/// Forward-pass FLOPs of the model on `(B, T)` tokens: `2·(12·L·C² + C·V)` per token for the
/// matrix products, plus `2·L·T·C` per token for the causal attention scores and weighted sums.
pub fn forward_flop(model: &Gpt, b: usize, t: usize) -> f64 {
    forward_flop_of(&model.cfg, b, t)
}

/// [`forward_flop`] for a model of configuration `c`.
pub fn forward_flop_of(c: &crate::model::ModelConfig, b: usize, t: usize) -> f64 {
    let (l, ch, v) = (c.n_layer as f64, c.n_embd as f64, c.vocab as f64);
    let per_token = 2.0 * (12.0 * l * ch * ch + ch * v) + 2.0 * l * t as f64 * ch;
    per_token * (b * t) as f64
}

/// Cosine decay from 1 to 0.1 over `total` steps.
fn cosine_lr(step: usize, total: usize) -> f32 {
    let x = step as f64 / total.max(1) as f64;
    (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * x).cos())) as f32
}

/// Rows `N` of the model's largest training product: a GRPO batch, `prompts·group·maxT`, within
/// `[64, 65536]`.
pub fn matmul_rows(cfg: &Config) -> usize {
    (cfg.grpo.prompts * cfg.grpo.group * cfg.model.max_t).clamp(64, 1 << 16)
}

/// The matrix-product rate of this machine on the model's largest training product
/// (`(B·T) × C × 4C`, the MLP), in FLOP/s (about 0.3 s of measurement).
pub fn measure_matmul_rate(cfg: &Config) -> f64 {
    let c = cfg.model.n_embd;
    let n = matmul_rows(cfg);
    let inp = vec![0.5f32; n * c];
    let w = vec![0.25f32; 4 * c * c];
    let mut out = vec![0.0f32; n * 4 * c];
    let flop = 2.0 * (n * c * 4 * c) as f64;
    let _ = crate::ops::matmul_forward(&mut out, &inp, &w, None, n, c, 4 * c);
    let t0 = Instant::now();
    let mut reps = 0;
    while t0.elapsed().as_secs_f64() < 0.3 {
        let _ = crate::ops::matmul_forward(&mut out, &inp, &w, None, n, c, 4 * c);
        reps += 1;
    }
    flop * f64::from(reps) / t0.elapsed().as_secs_f64()
}
