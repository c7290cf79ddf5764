//! The live-training panel: the trainer's tiny GPT trained with GRPO in the page, one step per
//! call (feature `training`; the page loads this build as a second `.wasm`, `pkg-train/`).
//!
//! A [`Session`] is a `rewardkit_trainer::train::Trainer` built in memory (no run directory) from
//! the trainer's default config with the overrides of [`crate::TRAINING_PRESET`] and a seed.
//! [`Session::step`] runs the next step as `Trainer::run` would: a supervised warm-up step while
//! fewer than `warmup.steps` are done and the accuracy monitor (every 10 steps) has not reached
//! `warmup.target_accuracy`, then (after [`Trainer::start_grpo`] froze the reference) a GRPO step
//! with the chosen length shaping. Every number — losses, rewards, advantages, KL, accuracy,
//! lengths — comes from the trainer and `rewardkit-core`; this module only reads the metrics back.
//!
//! In the browser the trainer runs on one thread (`wasm32-unknown-unknown` has none) with its
//! portable kernels; `rewardkit_trainer::clock::set_clock` (wasm32 only) gives its timings the
//! page's `performance.now()`.

use rewardkit_core::rng::SplitMix64;
use rewardkit_trainer::config::{Config, SHAPINGS};
use rewardkit_trainer::task::Problem;
use rewardkit_trainer::task::{EOS, render};
use rewardkit_trainer::train::{TrainError, Trainer, evaluate};
use serde_json::{Map, Value};

use crate::{DemoError, Result, TRAINING_PRESET};

impl From<TrainError> for DemoError {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Core(e) => Self::Core(e),
            e => Self::Training(e.to_string()),
        }
    }
}

impl From<rewardkit_trainer::config::ConfigError> for DemoError {
    fn from(e: rewardkit_trainer::config::ConfigError) -> Self {
        Self::Training(e.to_string())
    }
}

/// The demo's config: the trainer's default (`trainer/config/default.toml`) with
/// [`crate::TRAINING_PRESET`], the seed, the length shaping (one of
/// [`rewardkit_trainer::config::SHAPINGS`]: `none`, `hapo`, `laser`, `laser-d`, `cosine`) and,
/// if given, the number of warm-up steps instead of the preset's.
///
/// # Errors
/// [`DemoError::Training`] for an unknown shaping.
///
/// # Examples
/// ```
/// let cfg = rewardkit_web::training::config(7, "hapo", Some(20)).unwrap();
/// assert_eq!((cfg.seed, cfg.grpo.shaping.as_str(), cfg.warmup.steps), (7, "hapo", 20));
/// assert!(rewardkit_web::training::config(7, "shorter", None).is_err());
/// ```
pub fn config(seed: u64, shaping: &str, warmup_steps: Option<usize>) -> Result<Config> {
    if !SHAPINGS.contains(&shaping) {
        return Err(DemoError::Training(format!(
            "unknown length shaping {shaping:?} (expected one of {})",
            SHAPINGS.join(", ")
        )));
    }
    let mut overrides: Vec<String> = TRAINING_PRESET.iter().map(|s| (*s).to_owned()).collect();
    overrides.push(format!("seed={seed}"));
    overrides.push(format!("grpo.shaping=\"{shaping}\""));
    if let Some(w) = warmup_steps {
        overrides.push(format!("warmup.steps={w}"));
    }
    Ok(Config::load(None, &overrides)?)
}

/// Which phase a step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Supervised warm-up on demonstrations.
    Warmup,
    /// GRPO against the frozen warmed-up reference.
    Grpo,
}

impl Phase {
    /// `"warmup"` or `"grpo"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Warmup => "warmup",
            Self::Grpo => "grpo",
        }
    }
}

/// What one step reported. Warm-up steps carry `loss`, `seconds`, `tokens_per_s` and, every 10
/// steps, `monitor_accuracy`; the GRPO fields are `None` there.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The phase.
    pub phase: Phase,
    /// The step's number within its phase (1-based).
    pub step: usize,
    /// Warm-up: the batch's mean NLL of the demonstration tokens; GRPO: the policy loss (with the
    /// KL term), both before the update.
    pub loss: f64,
    /// Warm-up, every 10 steps (when `warmup.target_accuracy > 0`): greedy accuracy on the
    /// trainer's monitor prompts ([`Trainer::monitor_set`]); the warm-up ends once it reaches
    /// `warmup.target_accuracy`.
    pub monitor_accuracy: Option<f64>,
    /// GRPO: mean total reward of the batch (answer + format + length shaping).
    pub reward: Option<f64>,
    /// GRPO: fraction of correct answers among the sampled completions.
    pub accuracy: Option<f64>,
    /// GRPO: fraction of well-formed completions.
    pub format: Option<f64>,
    /// GRPO: mean completion length (tokens).
    pub length: Option<f64>,
    /// GRPO: mean per-token KL estimate against the reference.
    pub kl: Option<f64>,
    /// Wall time of the step (s; sampling + training for GRPO).
    pub seconds: f64,
    /// Tokens per second: warm-up, training tokens; GRPO, sampled plus training tokens over the
    /// step's time.
    pub tokens_per_s: f64,
}

/// A sampled completion of a held-out prompt ([`Session::samples`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The prompt as text (e.g. `123+456=`).
    pub prompt: String,
    /// The completion as text.
    pub completion: String,
    /// The verifier's verdict on the answer.
    pub correct: bool,
    /// Whether the completion is well formed.
    pub well_formed: bool,
}

/// A training run in the page.
#[derive(Debug)]
pub struct Session {
    trainer: Trainer,
    monitor: Vec<Problem>,
}

fn num(m: &Map<String, Value>, key: &str) -> Result<f64> {
    m.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| DemoError::Training(format!("the trainer reported no {key}")))
}

impl Session {
    /// A fresh run of [`config`]`(seed, shaping, warmup_steps)`.
    ///
    /// # Errors
    /// As [`config`]; [`DemoError::Training`] if the model cannot be built.
    pub fn new(seed: u64, shaping: &str, warmup_steps: Option<usize>) -> Result<Self> {
        Self::with_config(config(seed, shaping, warmup_steps)?)
    }

    /// A fresh run of any (validated) config.
    ///
    /// # Errors
    /// [`DemoError::Training`] if the model cannot be built.
    pub fn with_config(cfg: Config) -> Result<Self> {
        let trainer = Trainer::in_memory(cfg)?;
        Ok(Self {
            monitor: trainer.monitor_set(),
            trainer,
        })
    }

    /// The run's configuration.
    pub fn config(&self) -> &Config {
        &self.trainer.cfg
    }

    /// Whether the warm-up has ended (its steps done or its accuracy target reached).
    pub fn warmup_over(&self) -> bool {
        let t = &self.trainer;
        t.state.warmup_done >= t.cfg.warmup.steps || t.state.warmup_stopped
    }

    /// Warm-up steps done.
    pub fn warmup_done(&self) -> usize {
        self.trainer.state.warmup_done
    }

    /// GRPO steps done.
    pub fn grpo_done(&self) -> usize {
        self.trainer.state.grpo_done
    }

    /// Changes the length shaping of the GRPO steps to come; allowed until the first GRPO step.
    ///
    /// # Errors
    /// [`DemoError::Training`] for an unknown name or once GRPO has started.
    pub fn set_shaping(&mut self, shaping: &str) -> Result<()> {
        if self.trainer.reference.is_some() {
            return Err(DemoError::Training(
                "GRPO has started: reset to change the shaping".into(),
            ));
        }
        let cfg = config(self.trainer.cfg.seed, shaping, None)?;
        self.trainer.cfg.grpo.shaping = cfg.grpo.shaping;
        Ok(())
    }

    /// Runs the next step (warm-up until `warmup.steps` are done, then GRPO) and reports it.
    ///
    /// # Errors
    /// [`DemoError`] from the trainer (none expected for the preset).
    pub fn step(&mut self) -> Result<StepReport> {
        let t = &mut self.trainer;
        if t.state.warmup_done < t.cfg.warmup.steps && !t.state.warmup_stopped {
            let s = t.warmup_step()?;
            // The accuracy monitor of `Trainer::run`'s warm-up.
            let target = t.cfg.warmup.target_accuracy;
            let mut monitor_accuracy = None;
            if target > 0.0 && t.state.warmup_done.is_multiple_of(10) {
                let acc = evaluate(&t.cfg, &t.policy, &self.monitor, false)?.accuracy;
                t.state.warmup_stopped = acc >= f64::from(target);
                monitor_accuracy = Some(acc);
            }
            return Ok(StepReport {
                phase: Phase::Warmup,
                step: t.state.warmup_done,
                loss: s.loss,
                monitor_accuracy,
                reward: None,
                accuracy: None,
                format: None,
                length: None,
                kl: None,
                seconds: s.seconds,
                tokens_per_s: if s.seconds > 0.0 {
                    s.tokens as f64 / s.seconds
                } else {
                    0.0
                },
            });
        }
        if t.reference.is_none() {
            t.start_grpo()?;
        }
        let m = t.grpo_step()?;
        t.state.grpo_done += 1;
        let (ts, tt) = (num(&m, "time_sample_s")?, num(&m, "time_train_s")?);
        let tokens = num(&m, "time_sample_tok_s")? * ts + num(&m, "time_train_tok_s")? * tt;
        let seconds = ts + tt;
        Ok(StepReport {
            phase: Phase::Grpo,
            step: t.state.grpo_done,
            loss: num(&m, "loss")?,
            monitor_accuracy: None,
            reward: Some(num(&m, "reward")?),
            accuracy: Some(num(&m, "accuracy")?),
            format: Some(num(&m, "format")?),
            length: Some(num(&m, "length")?),
            kl: Some(num(&m, "kl")?),
            seconds,
            tokens_per_s: if seconds > 0.0 { tokens / seconds } else { 0.0 },
        })
    }

    /// `n` completions of the first `n` held-out prompts sampled from the current policy at the
    /// GRPO temperature, with a generator of their own (seeded from the run's seed and the steps
    /// done), so that showing samples never changes the run.
    ///
    /// # Errors
    /// [`DemoError::Core`] from the model (none expected).
    pub fn samples(&self, n: usize) -> Result<Vec<Sample>> {
        let t = &self.trainer;
        let problems = &t.eval_set()[..n.min(t.eval_set().len())];
        let prompts: Vec<u32> = problems.iter().flat_map(|p| p.prompt.clone()).collect();
        let mut rng = SplitMix64::new(
            t.cfg.seed
                ^ 0x05A3_D1E5
                ^ ((t.state.warmup_done as u64) << 32)
                ^ t.state.grpo_done as u64,
        );
        let outs = t.policy.generate(
            &prompts,
            problems.len(),
            t.cfg.max_new(),
            t.cfg.grpo.temperature,
            EOS,
            &mut rng,
        )?;
        Ok(problems
            .iter()
            .zip(outs)
            .map(|(p, o)| {
                let v = t.cfg.task.verify(p, &o);
                Sample {
                    prompt: render(&p.prompt),
                    completion: render(&o),
                    correct: v.correct,
                    well_formed: v.well_formed,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_grpo() {
        // Two warm-up steps and a small batch: host tests run the debug build.
        let mut cfg = config(1, "none", Some(2)).unwrap();
        cfg.grpo.prompts = 2;
        let mut s = Session::with_config(cfg).unwrap();
        let first = s.step().unwrap();
        assert_eq!((first.phase, first.step), (Phase::Warmup, 1));
        assert!(first.loss.is_finite() && first.loss > 0.0);
        assert!(first.reward.is_none());
        while !s.warmup_over() {
            s.step().unwrap();
        }
        let g = s.step().unwrap();
        assert_eq!((g.phase, g.step, s.grpo_done()), (Phase::Grpo, 1, 1));
        let acc = g.accuracy.unwrap();
        assert!((0.0..=1.0).contains(&acc));
        let len = g.length.unwrap();
        assert!(len >= 1.0 && len <= s.config().max_new() as f64);
        assert!(g.kl.unwrap().is_finite() && g.reward.unwrap().is_finite());
        assert!(s.set_shaping("hapo").is_err(), "GRPO has started");
    }

    #[test]
    fn the_warmup_monitor_reports_every_10_steps() {
        let mut cfg = config(2, "none", Some(20)).unwrap();
        cfg.warmup.batch = 4;
        let mut s = Session::with_config(cfg).unwrap();
        for k in 1..=10 {
            let r = s.step().unwrap();
            assert_eq!((r.phase, r.step), (Phase::Warmup, k));
            if k < 10 {
                assert_eq!(r.monitor_accuracy, None);
            } else {
                let acc = r.monitor_accuracy.unwrap();
                assert!((0.0..=1.0).contains(&acc));
                // An untrained model is below the 30 % target: the warm-up goes on.
                assert!(acc < 0.3 && !s.warmup_over());
            }
        }
        // Without a target there is no monitor.
        let mut cfg = config(2, "none", Some(20)).unwrap();
        (cfg.warmup.batch, cfg.warmup.target_accuracy) = (4, 0.0);
        let mut s = Session::with_config(cfg).unwrap();
        assert!((0..10).all(|_| s.step().unwrap().monitor_accuracy.is_none()));
    }

    #[test]
    fn shaping_is_checked_and_settable_before_grpo() {
        assert!(matches!(
            Session::new(1, "longer", None).unwrap_err(),
            DemoError::Training(m) if m.contains("hapo")
        ));
        let mut s = Session::new(1, "none", None).unwrap();
        s.set_shaping("laser").unwrap();
        assert_eq!(s.config().grpo.shaping, "laser");
        assert!(s.set_shaping("nope").is_err());
    }

    #[test]
    fn samples_do_not_touch_the_run() {
        let mut a = Session::new(3, "none", None).unwrap();
        let mut b = Session::new(3, "none", None).unwrap();
        let shown = a.samples(4).unwrap();
        assert_eq!(shown.len(), 4);
        assert!(
            shown
                .iter()
                .all(|s| s.prompt.len() == 8 && s.prompt.ends_with('='))
        );
        assert_eq!(shown, a.samples(4).unwrap(), "same state, same samples");
        assert_eq!(a.step().unwrap().loss, b.step().unwrap().loss);
    }
}
