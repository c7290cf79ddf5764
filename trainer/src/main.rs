//! The `rewardkit` command line: `train` (the default), `eval`, `sample`, `compare` and `bench`,
//! each with `--backend cpu|gpu|auto`.
//!
//! Exit codes: 0 success, 1 a run failed, 2 invalid command line or config, 3 a checkpoint that
//! cannot be read or written, 4 `--backend gpu` without a usable GPU backend (no adapter, or a
//! build without the `gpu` feature).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program"
)]
#![allow(
    clippy::std_instead_of_core,
    clippy::cast_possible_truncation,
    reason = "a std application"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rewardkit_core::rng::SplitMix64;
use rewardkit_trainer::backend::{Backend as Compute, BackendChoice, Selection, select};
use rewardkit_trainer::config::{Config, SHAPINGS};
use rewardkit_trainer::task::{EOS, render};
use rewardkit_trainer::train::{self, Progress, Summary, TrainError, Trainer};

/// Train a small GPT with GRPO on a verifiable task; rewards, advantages and losses come from
/// rewardkit-core. With no command, runs `train` with the default config.
#[derive(Debug, Parser)]
#[command(name = "rewardkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Backend {
    /// The CPU kernels.
    Cpu,
    /// The GPU kernels (needs a build with `--features gpu` and an adapter; else exit code 4).
    Gpu,
    /// The GPU if a hardware adapter is usable, else the CPU (with one message).
    Auto,
}

impl Backend {
    fn choice(self) -> BackendChoice {
        match self {
            Self::Cpu => BackendChoice::Cpu,
            Self::Gpu => BackendChoice::Gpu,
            Self::Auto => BackendChoice::Auto,
        }
    }

    /// Resolves the option, printing `auto`'s fallback message (once).
    fn select(self) -> Result<Selection, TrainError> {
        let s = select(self.choice())?;
        if let Some(n) = &s.note {
            eprintln!("note: {n}");
        }
        Ok(s)
    }
}

/// The `--backend` option of every command that runs a model.
#[derive(Debug, Clone, Copy, clap::Args)]
struct BackendArg {
    /// Compute backend: `gpu` needs a build with `--features gpu` and a GPU adapter
    /// (`REWARDKIT_GPU_ADAPTER=<name>` picks one; exit code 4 without); `auto` uses a hardware GPU
    /// if there is one, else the CPU. Sampling and evaluation decode on the CPU copy of the
    /// weights for every backend.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// A TOML config file (values over the embedded defaults; see trainer/config/default.toml).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Override a config key, e.g. `--set grpo.steps=50 --set grpo.shaping=hapo` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Warm up on demonstrations, then train with GRPO; writes config, metrics.jsonl, plots.svg,
    /// summary.json and checkpoint.safetensors into the run directory.
    Train {
        #[command(flatten)]
        config: ConfigArgs,
        /// Run directory.
        #[arg(long, default_value = "runs/default")]
        run_dir: PathBuf,
        /// Continue the run in --run-dir from its checkpoint (same trajectory as an uninterrupted
        /// run); config options are ignored.
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Greedy held-out accuracy, format rate and mean length of a run's checkpoint.
    Eval {
        /// Run directory holding checkpoint.safetensors.
        #[arg(long, default_value = "runs/default")]
        run_dir: PathBuf,
        /// Evaluate the reference (warmed-up) model instead of the policy.
        #[arg(long)]
        reference: bool,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Print completions sampled from a run's checkpoint for fresh prompts.
    Sample {
        /// Run directory holding checkpoint.safetensors.
        #[arg(long, default_value = "runs/default")]
        run_dir: PathBuf,
        /// Number of prompts.
        #[arg(long, short, default_value_t = 8)]
        n: usize,
        /// Sampling temperature (0: greedy).
        #[arg(long, default_value_t = 1.0)]
        temperature: f32,
        /// Seed of the prompts and the sampling.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Throughput of the model at the default config on random tokens: training (forward +
    /// backward + optimizer step) and KV-cache sampling tokens/s, model FLOP/s against the matmul rate
    /// measured in the same run (compare with the PyTorch eager reference script in the repo).
    Bench {
        #[command(flatten)]
        config: ConfigArgs,
        /// Rows per batch.
        #[arg(long, default_value_t = 256)]
        b: usize,
        /// Tokens per row for training.
        #[arg(long, default_value_t = 32)]
        t: usize,
        /// Timed training steps.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Train the same task from one warm-up under several length shapings and print a table:
    /// method, accuracy, mean response length, relative length change against `none`.
    Compare {
        #[command(flatten)]
        config: ConfigArgs,
        /// Shapings to compare (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "none,hapo,laser,laser-d,cosine"
        )]
        shapings: Vec<String>,
        /// Seeds (comma-separated): the whole comparison (warm-up and every shaping) runs once per
        /// seed; the table shows the mean over seeds and each seed's value.
        #[arg(long, value_delimiter = ',', default_value = "1")]
        seeds: Vec<u64>,
        /// Directory for the runs (`seed-<s>/<shaping>`).
        #[arg(long, default_value = "runs/compare")]
        run_dir: PathBuf,
        #[command(flatten)]
        backend: BackendArg,
    },
}

/// An indicatif progress bar per phase.
struct Bars {
    bar: Option<ProgressBar>,
    prefix: String,
}

impl Progress for Bars {
    fn phase(&mut self, name: &str, total: usize, done: usize) {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>18} [{bar:30}] {pos}/{len} {elapsed}<{eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}{name}", self.prefix));
        bar.set_position(done as u64);
        self.bar = Some(bar);
    }
    fn step(&mut self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
            b.inc(1);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Train {
        config: ConfigArgs {
            config: None,
            set: Vec::new(),
        },
        run_dir: PathBuf::from("runs/default"),
        resume: false,
        backend: BackendArg {
            backend: Backend::Auto,
        },
    });
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                TrainError::Config(_) => 2,
                TrainError::Checkpoint(_) => 3,
                TrainError::NoGpu(_) => 4,
                _ => 1,
            })
        }
    }
}

fn run(command: Command) -> Result<(), TrainError> {
    match command {
        Command::Train {
            config,
            run_dir,
            resume,
            backend,
        } => {
            let sel = backend.backend.select()?;
            let mut trainer = if resume {
                Trainer::resume(&run_dir)?
            } else {
                Trainer::new(
                    Config::load(config.config.as_deref(), &config.set)?,
                    &run_dir,
                )?
            };
            trainer.set_backend(&sel.backend)?;
            print_header(&trainer);
            let mut bars = Bars {
                bar: None,
                prefix: String::new(),
            };
            if let Some(s) = trainer.run(&mut bars, None)? {
                print_summary(&s, &run_dir);
            }
            Ok(())
        }
        Command::Eval {
            run_dir,
            reference,
            backend,
        } => {
            // Decoding runs on the host copy of the weights for every backend (see `device`);
            // the option still resolves (and fails) as everywhere.
            let _ = backend.backend.select()?;
            let t = Trainer::resume_readonly(&run_dir)?;
            let model = if reference {
                t.reference.clone().unwrap_or_else(|| t.policy.clone())
            } else {
                t.policy.clone()
            };
            let e = t.evaluate(&model)?;
            println!(
                "held-out ({} prompts, greedy): accuracy {:.1} %, well-formed {:.1} %, mean length {:.2} tokens",
                t.eval_set().len(),
                100.0 * e.accuracy,
                100.0 * e.format,
                e.length
            );
            println!(
                "sampled ({} per prompt, temperature {}): accuracy {:.1} %, mean length {:.2} tokens",
                t.cfg.eval.samples,
                t.cfg.eval.temperature,
                100.0 * e.sampled_accuracy,
                e.sampled_length
            );
            Ok(())
        }
        Command::Sample {
            run_dir,
            n,
            temperature,
            seed,
            backend,
        } => {
            let _ = backend.backend.select()?;
            let t = Trainer::resume_readonly(&run_dir)?;
            let mut rng = SplitMix64::new(seed);
            let problems: Vec<_> = (0..n).map(|_| t.cfg.task.sample(&mut rng)).collect();
            let prompts: Vec<u32> = problems
                .iter()
                .flat_map(|p| p.prompt.iter().copied())
                .collect();
            let outs =
                t.policy
                    .generate(&prompts, n, t.cfg.max_new(), temperature, EOS, &mut rng)?;
            for (p, o) in problems.iter().zip(&outs) {
                let r = t.cfg.task.verify(p, o);
                println!(
                    "{}{}   [{}{}]",
                    render(&p.prompt),
                    render(o),
                    if r.correct { "correct" } else { "wrong" },
                    if r.well_formed { "" } else { ", malformed" }
                );
            }
            Ok(())
        }
        Command::Bench {
            config,
            b,
            t,
            steps,
            backend,
        } => bench(
            &Config::load(config.config.as_deref(), &config.set)?,
            b,
            t,
            steps,
            &backend.backend.select()?.backend,
        ),
        Command::Compare {
            config,
            shapings,
            seeds,
            run_dir,
            backend,
        } => compare(
            Config::load(config.config.as_deref(), &config.set)?,
            &shapings,
            &seeds,
            &run_dir,
            &backend.backend.select()?.backend,
        ),
    }
}

fn bench(
    cfg: &Config,
    b: usize,
    t: usize,
    steps: usize,
    backend: &Compute,
) -> Result<(), TrainError> {
    use rewardkit_core::rng::RandomSource;
    use rewardkit_trainer::model::Gpt;
    use rewardkit_trainer::optim::AdamW;
    use std::time::Instant;
    let mut rng = SplitMix64::new(0);
    let mut model = Gpt::new(cfg.model, &mut rng)?;
    let v = cfg.model.vocab;
    let t = t.min(cfg.model.max_t);
    let tokens: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let targets: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let dlogp = vec![-1.0 / (b * t) as f32; b * t];
    let mut opt = AdamW::new(model.num_params());
    let mut train_step = |model: &mut Gpt| -> Result<(), TrainError> {
        model.forward(&tokens, b, t)?;
        let mut logp = vec![0.0f32; b * t];
        let mut stats = vec![rewardkit_trainer::step::RowStats::default(); b * t];
        rewardkit_trainer::step::token_logprobs(
            &mut logp,
            &mut stats,
            &model.acts().logits,
            &targets,
            v,
        )?;
        let mut dlogits = vec![0.0f32; b * t * v];
        rewardkit_trainer::step::token_logprobs_backward(
            &mut dlogits,
            &dlogp,
            &model.acts().logits,
            &stats,
            &targets,
            v,
        )?;
        let mut grads = vec![0.0f32; model.num_params()];
        model.backward(&mut grads, &dlogits, &tokens)?;
        opt.update(
            &mut model.params,
            &mut grads,
            &model.layout,
            &cfg.optim,
            1e-3,
        )?;
        Ok(())
    };
    let (dt, mm) = match backend {
        Compute::Cpu => {
            for _ in 0..3 {
                train_step(&mut model)?;
            }
            let t0 = Instant::now();
            for _ in 0..steps {
                train_step(&mut model)?;
            }
            let dt = t0.elapsed().as_secs_f64();
            (dt, train::measure_matmul_rate(cfg))
        }
        // The same step on the device: forward, token log-probabilities and their backward, the
        // model's backward, AdamW (each step ends with the gradient-norm readback, so the time is
        // the device's, not just the recording's).
        #[cfg(feature = "gpu")]
        Compute::Gpu(ctx) => {
            let mut d = rewardkit_trainer::device::Device::new(
                std::sync::Arc::clone(ctx),
                &model,
                None,
                &AdamW::new(model.num_params()),
            )?;
            for _ in 0..3 {
                d.sft_step(&tokens, &targets, &dlogp, b, t, &cfg.optim, 1e-3)?;
            }
            let t0 = Instant::now();
            for _ in 0..steps {
                d.sft_step(&tokens, &targets, &dlogp, b, t, &cfg.optim, 1e-3)?;
            }
            let dt = t0.elapsed().as_secs_f64();
            d.sync_params(&mut model)?;
            (dt, d.matmul_rate(train::matmul_rows(cfg))?)
        }
    };
    let flop = 3.0 * train::forward_flop(&model, b, t) * steps as f64;
    println!("backend {}", backend.describe());
    println!(
        "model L={} C={} NH={} V={v} ({} parameters), B={b} T={t}",
        cfg.model.n_layer,
        cfg.model.n_embd,
        cfg.model.n_head,
        model.num_params()
    );
    println!(
        "training: {:.0} tok/s (forward + backward + AdamW), {:.2} GFLOP/s = {:.0} % of the measured matmul rate {:.2} GFLOP/s",
        (b * t * steps) as f64 / dt,
        flop / dt / 1e9,
        100.0 * flop / dt / mm,
        mm / 1e9
    );
    let p_len = 8.min(cfg.model.max_t - 1);
    let n_new = cfg.model.max_t - p_len;
    let prompts: Vec<u32> = (0..b * p_len).map(|_| rng.below(v) as u32).collect();
    let _ = model.generate(&prompts, b, 4, 1.0, u32::MAX, &mut rng)?;
    let t0 = Instant::now();
    let reps = 3;
    let mut n_tok = 0;
    for _ in 0..reps {
        let outs = model.generate(&prompts, b, n_new - 1, 1.0, u32::MAX, &mut rng)?;
        n_tok += outs.iter().map(Vec::len).sum::<usize>();
    }
    println!(
        "sampling: {:.0} tok/s (KV cache on the CPU{}, {b} rows, {} new tokens)",
        n_tok as f64 / t0.elapsed().as_secs_f64(),
        if backend.is_gpu() {
            ": the GPU backend samples on the host copy of the weights"
        } else {
            ""
        },
        n_new - 1
    );
    Ok(())
}

fn print_header(t: &Trainer) {
    let c = &t.cfg;
    eprintln!(
        "backend {} | task {} ({} digits) | model L={} C={} NH={} maxT={} ({} parameters) | warm-up {} steps, GRPO {} steps x {} prompts x {} samples, shaping `{}`",
        t.backend(),
        c.task.kind,
        c.task.digits,
        c.model.n_layer,
        c.model.n_embd,
        c.model.n_head,
        c.model.max_t,
        t.policy.num_params(),
        c.warmup.steps,
        c.grpo.steps,
        c.grpo.prompts,
        c.grpo.group,
        c.grpo.shaping
    );
}

fn print_summary(s: &Summary, run_dir: &Path) {
    println!();
    println!(
        "| | held-out accuracy (greedy) | well-formed | mean length | sampled accuracy | sampled length |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, e) in [("warm-up", &s.warmup), ("after GRPO", &s.final_eval)] {
        println!(
            "| {name} | {:.1} % | {:.1} % | {:.2} | {:.1} % | {:.2} |",
            100.0 * e.accuracy,
            100.0 * e.format,
            e.length,
            100.0 * e.sampled_accuracy,
            e.sampled_length
        );
    }
    println!(
        "\nGRPO changed held-out accuracy by {:+.1} points.",
        100.0 * (s.final_eval.accuracy - s.warmup.accuracy)
    );
    println!(
        "throughput: sampling {:.0} tok/s, training {:.0} tok/s at {:.2} GFLOP/s = {:.0} % of the measured matmul rate ({:.2} GFLOP/s); run {:.0} s",
        s.sample_tok_s,
        s.train_tok_s,
        s.train_flops / 1e9,
        100.0 * s.train_flops / s.matmul_flops.max(1.0),
        s.matmul_flops / 1e9,
        s.seconds
    );
    println!("outputs in {}", run_dir.display());
}

/// One seed's comparison: the shared warm-up's evaluation and each shaping's final evaluation.
struct SeedResult {
    seed: u64,
    warmup: train::EvalResult,
    rows: Vec<(String, train::EvalResult)>,
    seconds: f64,
}

fn compare_seed(
    cfg: &Config,
    shapings: &[String],
    run_dir: &Path,
    backend: &Compute,
) -> Result<SeedResult, TrainError> {
    // One warm-up, shared by every method.
    let mut base_cfg = cfg.clone();
    base_cfg.grpo.steps = 0;
    let mut base = Trainer::new(base_cfg, &run_dir.join("warmup"))?;
    base.set_backend(backend)?;
    print_header(&base);
    let mut bars = Bars {
        bar: None,
        prefix: format!("seed {}: ", cfg.seed),
    };
    let warm = base.run(&mut bars, None)?.unwrap_or_default();
    let mut rows = Vec::new();
    let mut seconds = warm.seconds;
    for s in shapings {
        let mut c = cfg.clone();
        c.grpo.shaping.clone_from(s);
        let mut t = base.fork(c, &run_dir.join(s))?;
        let mut bars = Bars {
            bar: None,
            prefix: format!("seed {} {s}: ", cfg.seed),
        };
        let sum = t.run(&mut bars, None)?.unwrap_or_default();
        eprintln!(
            "seed {} {s}: accuracy {:.1} %, mean length {:.2}, {:.0} s",
            cfg.seed,
            100.0 * sum.final_eval.accuracy,
            sum.final_eval.length,
            sum.seconds
        );
        seconds += sum.seconds;
        rows.push((s.clone(), sum.final_eval));
    }
    Ok(SeedResult {
        seed: cfg.seed,
        warmup: warm.warmup,
        rows,
        seconds,
    })
}

fn compare(
    cfg: Config,
    shapings: &[String],
    seeds: &[u64],
    run_dir: &Path,
    backend: &Compute,
) -> Result<(), TrainError> {
    for s in shapings {
        if !SHAPINGS.contains(&s.as_str()) {
            return Err(TrainError::Config(rewardkit_trainer::config::ConfigError(
                format!("unknown shaping `{s}`; valid: {}", SHAPINGS.join(", ")),
            )));
        }
    }
    if seeds.is_empty() {
        return Err(TrainError::Config(rewardkit_trainer::config::ConfigError(
            "compare: --seeds needs at least one seed".into(),
        )));
    }
    let mut results = Vec::new();
    for &seed in seeds {
        let mut c = cfg.clone();
        c.seed = seed;
        results.push(compare_seed(
            &c,
            shapings,
            &run_dir.join(format!("seed-{seed}")),
            backend,
        )?);
    }
    let table = compare_table(&cfg, shapings, &results);
    println!("\n{table}");
    std::fs::write(run_dir.join("table.md"), &table)?;
    Ok(())
}

/// The comparison table: per method the mean over seeds of greedy accuracy and length, the
/// changes against `none` (mean of the per-seed changes, with each seed's value), and the sampled
/// accuracy and length.
fn compare_table(cfg: &Config, shapings: &[String], results: &[SeedResult]) -> String {
    let n = results.len() as f64;
    let mean = |f: &dyn Fn(&SeedResult) -> f64| results.iter().map(f).sum::<f64>() / n;
    let eval_of = |r: &SeedResult, m: &str| r.rows.iter().find(|(s, _)| s == m).map(|(_, e)| *e);
    let per_seed = |f: &dyn Fn(&SeedResult) -> Option<f64>, unit: &str, scale: f64| -> String {
        if results.len() < 2 {
            return String::new();
        }
        let v: Vec<String> = results
            .iter()
            .filter_map(|r| f(r).map(|x| format!("{:+.1}", scale * x)))
            .collect();
        format!(" ({}{unit})", v.join(", "))
    };
    let mut t = String::new();
    t.push_str(
        "| method | accuracy | mean length | length vs none | accuracy vs none | sampled accuracy | sampled length |\n\
         |---|---|---|---|---|---|---|\n",
    );
    t.push_str(&format!(
        "| warm-up (SFT) | {:.1} % | {:.2} | | | {:.1} % | {:.2} |\n",
        100.0 * mean(&|r| r.warmup.accuracy),
        mean(&|r| r.warmup.length),
        100.0 * mean(&|r| r.warmup.sampled_accuracy),
        mean(&|r| r.warmup.sampled_length)
    ));
    for m in shapings {
        let get = |r: &SeedResult| eval_of(r, m).unwrap_or_default();
        let dl = |r: &SeedResult| Some(get(r).length / eval_of(r, "none")?.length - 1.0);
        let da = |r: &SeedResult| Some(get(r).accuracy - eval_of(r, "none")?.accuracy);
        let has_none = results.iter().all(|r| eval_of(r, "none").is_some());
        let (dls, das) = if has_none {
            (
                format!(
                    "{:+.1} %{}",
                    100.0 * mean(&|r| dl(r).unwrap_or(0.0)),
                    per_seed(&dl, " %", 100.0)
                ),
                format!(
                    "{:+.1} pt{}",
                    100.0 * mean(&|r| da(r).unwrap_or(0.0)),
                    per_seed(&da, " pt", 100.0)
                ),
            )
        } else {
            (String::new(), String::new())
        };
        t.push_str(&format!(
            "| {m} | {:.1} % | {:.2} | {dls} | {das} | {:.1} % | {:.2} |\n",
            100.0 * mean(&|r| get(r).accuracy),
            mean(&|r| get(r).length),
            100.0 * mean(&|r| get(r).sampled_accuracy),
            mean(&|r| get(r).sampled_length)
        ));
    }
    let seeds: Vec<String> = results.iter().map(|r| r.seed.to_string()).collect();
    t.push_str(&format!(
        "\nSeeds {} (means; per-seed changes in brackets). Held-out: {} prompts per seed; accuracy \
         and length greedy, sampled ones from {} samples per prompt at temperature {}. Wall time \
         {:.0} s (warm-ups and every method).\n",
        seeds.join(", "),
        cfg.eval.prompts,
        cfg.eval.samples,
        cfg.eval.temperature,
        results.iter().map(|r| r.seconds).sum::<f64>()
    ));
    t
}
