//! The trainer's GPU backend against its CPU backend (the reference): the whole model
//! (`rewardkit_trainer::model::gpu::GpuGpt` against `Gpt`), `AdamW` with clipping on the device
//! against the CPU optimizer, and one GRPO step end to end through `Trainer::grpo_step_on` with the
//! same completions forced on both backends (the fused device loss, two epochs; and the host-loss
//! path by micro-batches).
//!
//! Tolerances (the device in `f32`; the CPU ops accumulate `LayerNorm` and the optimizer's norm in
//! `f64`), each relative to the scale of what is compared, measured values printed:
//! - logits: `|Δz| ≤ 1e-5·max|z|`;
//! - every parameter gradient, per tensor: `|Δg| ≤ 1e-4·max|g|` over the tensor (the gradient scale
//!   of that tensor; a gradient entry is a sum of `B·T` terms of both signs, so an entry far below
//!   its tensor's scale has no meaningful relative error);
//! - `AdamW`: the gradient norm `1e-5` relative; parameters after 3 steps
//!   `|Δθ| ≤ 3·lr·4·δ/ε + 8u·|θ|`, with `δ = 1e-4·max|g|` the gradient bound above and `ε` set to
//!   the gradient scale: an `AdamW` update `lr·m̂/(√v̂ + ε)` moves by at most `lr·|Δg|/ε` when the
//!   gradient moves by `Δg` (the `4` covers the moments of three steps). With the default
//!   `ε = 1e-8` the update is `lr·sign(g)` for every entry that is not tiny, so an entry whose
//!   gradient is at the `f32` noise level of its sum can flip its first update by `2·lr` on
//!   either backend: that compares rounding noise, not the backends;
//! - one GRPO step (`ε` again at the gradient scale): the loss `1e-5·(1 + |loss|)`, the logged KL,
//!   entropy and gradient norm `1e-4` relative, the clip fraction exactly; the parameter update
//!   `|Δθ_gpu − Δθ_cpu| ≤ 2·lr·1e-3 + 8u·|θ|` per entry (epochs × `lr·|Δg|/ε` with `|Δg|` at most
//!   `1e-4` of the gradient scale, and a factor 5 of margin).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rewardkit_core::logits::{RowStats, logprobs_backward, logprobs_forward};
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_gpu::GpuContext;
use rewardkit_tests::gpu::{U32, context};
use rewardkit_trainer::backend::Backend;
use rewardkit_trainer::config::{Config, OptimConfig};
use rewardkit_trainer::model::gpu::{GpuAdamW, GpuGpt, Weights};
use rewardkit_trainer::model::{Gpt, ModelConfig, ParamLayout, normal};
use rewardkit_trainer::optim::AdamW;
use rewardkit_trainer::task::Problem;
use rewardkit_trainer::train::Trainer;
use serde_json::Value;

/// A context of our own (the model takes an `Arc`), once the shared one says there is an adapter.
fn arc_context(test: &str) -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    context(test)?;
    Some(Arc::clone(CTX.get_or_init(|| {
        Arc::new(GpuContext::new_blocking().expect("a second context on the same adapter"))
    })))
}

/// Two layers, two heads of size 5 (`C = 10`: not a multiple of 4, so the scalar matmul paths run),
/// `V = 11`.
fn tiny() -> ModelConfig {
    ModelConfig {
        vocab: 11,
        max_t: 9,
        n_layer: 2,
        n_head: 2,
        n_embd: 10,
    }
}

/// A model with larger weights than the `0.02` init, so every path carries a visible gradient.
fn model(seed: u64) -> Gpt {
    let mut rng = SplitMix64::new(seed);
    let mut m = Gpt::new(tiny(), &mut rng).unwrap();
    for p in &mut m.params {
        *p += (normal(&mut rng) * 0.3) as f32;
    }
    m
}

fn ids(rng: &mut SplitMix64, n: usize, v: usize) -> Vec<u32> {
    (0..n).map(|_| rng.below(v) as u32).collect()
}

/// `∂/∂logits` of `Σ w·log π(target)` (the core's backward), from given logits.
fn dlogits(logits: &[f32], targets: &[u32], w: &[f32], v: usize) -> Vec<f32> {
    let n = targets.len();
    let (mut lp, mut stats) = (vec![0.0f32; n], vec![RowStats::default(); n]);
    logprobs_forward(&mut lp, &mut stats, logits, targets, v).unwrap();
    let mut d = vec![0.0f32; n * v];
    logprobs_backward(&mut d, w, logits, &stats, targets, v).unwrap();
    d
}

fn max_abs(x: &[f32]) -> f64 {
    x.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()))
}

/// Asserts `|a − b| ≤ bound(i)` per tensor of `layout`, naming the tensor; returns the worst
/// `|a − b| / scale` over all tensors, `scale` the tensor's `max|b|`.
#[track_caller]
fn per_tensor(
    what: &str,
    layout: &ParamLayout,
    gpu: &[f32],
    cpu: &[f32],
    bound: impl Fn(f64, usize) -> f64,
) -> f64 {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let mut worst = 0.0f64;
    for spec in &layout.tensors {
        let (g, c) = (spec.of(gpu), spec.of(cpu));
        let scale = max_abs(c);
        for (i, (&a, &b)) in g.iter().zip(c).enumerate() {
            let d = (f64::from(a) - f64::from(b)).abs();
            let bd = bound(scale, spec.offset + i);
            assert!(
                d <= bd,
                "{what} {}[{i}]: gpu {a} vs cpu {b} (|diff| {d:e} > bound {bd:e}, tensor scale {scale:e})",
                spec.name
            );
            if scale > 0.0 {
                worst = worst.max(d / scale);
            }
        }
    }
    worst
}

#[test]
fn gpu_model_matches_cpu_model() {
    let Some(ctx) = arc_context("gpu_model_matches_cpu_model") else {
        return;
    };
    let cfg = tiny();
    let (b, t, v) = (3, 7, cfg.vocab);
    let mut cpu = model(11);
    let mut gpu = GpuGpt::new(Arc::clone(&ctx), &cpu).unwrap();
    assert_eq!(
        gpu.params().unwrap(),
        cpu.params,
        "upload and readback are exact"
    );
    let mut rng = SplitMix64::new(5);
    let tokens = ids(&mut rng, b * t, v);
    let targets = ids(&mut rng, b * t, v);
    let w: Vec<f32> = (0..b * t)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect();

    // Forward: logits.
    cpu.forward(&tokens, b, t).unwrap();
    let tok = ctx.upload_ids(&tokens, v).unwrap();
    gpu.forward(Weights::Policy, &tok, b, t).unwrap();
    let zg = ctx.read_blocking(gpu.logits().unwrap()).unwrap();
    let zc = &cpu.acts().logits;
    let scale = max_abs(zc);
    let worst = zg
        .iter()
        .zip(zc)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= 1e-5 * scale,
        "logits: max |Δ| {worst:e} > 1e-5·max|z| ({scale:e})"
    );

    // Backward from the same ∂/∂logits: every parameter gradient.
    let d = dlogits(zc, &targets, &w, v);
    let mut gc = vec![0.0f32; cpu.num_params()];
    cpu.backward(&mut gc, &d, &tokens).unwrap();
    let dd = ctx.upload(&d).unwrap();
    gpu.backward(&dd, &tok).unwrap();
    let gg = gpu.grads().unwrap();
    assert!(
        cpu.layout.tensors.iter().all(|s| max_abs(s.of(&gc)) > 0.0),
        "every tensor has a gradient"
    );
    let wg = per_tensor("gradient", &cpu.layout, &gg, &gc, |s, _| 1e-4 * s);
    // Backward accumulates: a second pass doubles every gradient.
    gpu.backward(&dd, &tok).unwrap();
    let g2 = gpu.grads().unwrap();
    let doubled: Vec<f32> = gg.iter().map(|x| 2.0 * x).collect();
    per_tensor(
        "accumulated gradient",
        &cpu.layout,
        &g2,
        &doubled,
        |s, _| 1e-6 * s,
    );
    eprintln!(
        "GPU model vs CPU model (B={b}, T={t}, L=2, C=10, V={v}): logits max|Δ| = {:.2e}·max|z|, \
         gradients max|Δ| = {wg:.2e}·(tensor scale)",
        worst / scale
    );

    // The reference weights: a forward pass with them gives the reference's logits.
    let other = model(12);
    gpu.set_reference(Some(&other.params)).unwrap();
    gpu.forward(Weights::Reference, &tok, b, t).unwrap();
    let zr = ctx.read_blocking(gpu.logits().unwrap()).unwrap();
    let mut other = other;
    other.forward(&tokens, b, t).unwrap();
    let s2 = max_abs(&other.acts().logits);
    assert!(
        zr.iter()
            .zip(&other.acts().logits)
            .all(|(a, b)| (f64::from(*a) - f64::from(*b)).abs() <= 1e-5 * s2),
        "reference logits"
    );
}

#[test]
fn gpu_adamw_steps_match_cpu() {
    let Some(ctx) = arc_context("gpu_adamw_steps_match_cpu") else {
        return;
    };
    let cfg = tiny();
    let (b, t, v) = (3, 8, cfg.vocab);
    let mut cpu = model(21);
    let mut gpu = GpuGpt::new(Arc::clone(&ctx), &cpu).unwrap();
    let mut rng = SplitMix64::new(8);
    let tokens = ids(&mut rng, b * t, v);
    let targets = ids(&mut rng, b * t, v);
    let w = vec![-1.0 / (b * t) as f32; b * t];
    let tok = ctx.upload_ids(&tokens, v).unwrap();
    // The first gradient sets the scale: ε at its size, a clip below its norm (so clipping runs).
    cpu.forward(&tokens, b, t).unwrap();
    let mut g0 = vec![0.0f32; cpu.num_params()];
    cpu.backward(
        &mut g0,
        &dlogits(&cpu.acts().logits, &targets, &w, v),
        &tokens,
    )
    .unwrap();
    let gscale = max_abs(&g0);
    let norm0 = g0.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let opt_cfg = OptimConfig {
        beta1: 0.9,
        beta2: 0.99,
        eps: gscale as f32,
        weight_decay: 0.1,
        grad_clip: (0.5 * norm0) as f32,
    };
    let lr = 1e-2f32;
    let mut opt_c = AdamW::new(cpu.num_params());
    let mut opt_g = GpuAdamW::new(&ctx, gpu.pieces(), &opt_c.m, &opt_c.v, 0).unwrap();
    let mut clipped = 0;
    for step in 0..3 {
        cpu.forward(&tokens, b, t).unwrap();
        let mut gc = vec![0.0f32; cpu.num_params()];
        cpu.backward(
            &mut gc,
            &dlogits(&cpu.acts().logits, &targets, &w, v),
            &tokens,
        )
        .unwrap();
        gpu.zero_grads().unwrap();
        gpu.forward(Weights::Policy, &tok, b, t).unwrap();
        let zg = ctx.read_blocking(gpu.logits().unwrap()).unwrap();
        let dg = ctx.upload(&dlogits(&zg, &targets, &w, v)).unwrap();
        gpu.backward(&dg, &tok).unwrap();
        let nc = opt_c
            .update(&mut cpu.params, &mut gc, &cpu.layout, &opt_cfg, lr)
            .unwrap();
        let ng = opt_g.update(&gpu, &opt_cfg, lr).unwrap();
        assert!(
            (ng - nc).abs() <= 1e-5 * nc,
            "step {step}: gradient norm gpu {ng} vs cpu {nc}"
        );
        clipped += usize::from(nc > f64::from(opt_cfg.grad_clip));
    }
    assert!(clipped >= 1, "clipping ran");
    assert_eq!(opt_g.step, 3);
    let pg = gpu.params().unwrap();
    let delta = 1e-4 * gscale;
    let worst = per_tensor(
        "parameters after 3 steps",
        &cpu.layout,
        &pg,
        &cpu.params,
        |_, i| {
            3.0 * f64::from(lr) * 4.0 * delta / f64::from(opt_cfg.eps)
                + 8.0 * U32 * f64::from(cpu.params[i]).abs()
        },
    );
    let moved = pg
        .iter()
        .zip(&model(21).params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 0.5 * lr, "the parameters moved ({moved})");
    let (m, _) = opt_g.moments(&ctx, gpu.pieces()).unwrap();
    per_tensor("first moments", &cpu.layout, &m, &opt_c.m, |s, _| 1e-3 * s);
    eprintln!(
        "GPU AdamW vs CPU (3 steps, {clipped} clipped): parameters max|Δ| = {:.2e}·lr",
        worst * max_abs(&cpu.params) / f64::from(lr)
    );
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rewardkit-gpu-trainer-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A tiny run configuration (the trainer's unit-test sizes, two layers), with `extra` overrides.
fn run_config(extra: &[&str]) -> Config {
    let mut o: Vec<String> = [
        "task.digits=2",
        "task.max_checks=1",
        "model.max_t=20",
        "model.n_layer=2",
        "model.n_embd=16",
        "model.n_head=2",
        "warmup.steps=0",
        "warmup.target_accuracy=0",
        "grpo.prompts=3",
        "grpo.group=4",
        "grpo.kl_coef=0.05",
        "eval.prompts=8",
        "eval.every=0",
        "eval.checkpoint_every=0",
        // ε at the gradient scale (see the module docs).
        "optim.eps=0.01",
        "optim.grad_clip=0",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    o.extend(extra.iter().map(|s| (*s).to_string()));
    Config::load(None, &o).unwrap()
}

/// A trainer in GRPO: the reference is the initial policy, the policy a perturbed copy of it (so
/// the KL term and the importance ratios of a second epoch are not trivial).
fn grpo_trainer(cfg: &Config, dir: &std::path::Path) -> Trainer {
    let mut t = Trainer::new(cfg.clone(), dir).unwrap();
    t.reference = Some(t.policy.clone());
    let mut rng = SplitMix64::new(99);
    for p in &mut t.policy.params {
        *p += (normal(&mut rng) * 0.05) as f32;
    }
    t.opt = AdamW::new(t.policy.num_params());
    t
}

/// `grpo.group` completions per problem: correct demonstrations and random (wrong) ones, so the
/// groups have non-zero advantages.
fn forced_completions(cfg: &Config, problems: &[Problem]) -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(3);
    let v = rewardkit_trainer::task::vocab_size();
    let mut out = Vec::new();
    for p in problems {
        for j in 0..cfg.grpo.group {
            if j % 2 == 0 {
                out.push(cfg.task.demonstration(p, &mut rng));
            } else {
                let len = 1 + rng.below(cfg.max_new());
                let mut c: Vec<u32> = (0..len).map(|_| 1 + rng.below(v - 1) as u32).collect();
                if j % 4 == 1
                    && let Some(last) = c.last_mut()
                {
                    *last = rewardkit_trainer::task::EOS;
                }
                out.push(c);
            }
        }
    }
    out
}

fn num(m: &serde_json::Map<String, Value>, k: &str) -> f64 {
    m.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// One GRPO step on both backends with the same forced completions: the logged loss and
/// diagnostics, and the parameter update.
fn grpo_parity(name: &str, extra: &[&str]) {
    let Some(ctx) = arc_context(name) else {
        return;
    };
    let cfg = run_config(extra);
    let mut cpu = grpo_trainer(&cfg, &tmp(&format!("{name}-cpu")));
    let mut gpu = grpo_trainer(&cfg, &tmp(&format!("{name}-gpu")));
    gpu.set_backend(&Backend::Gpu(ctx)).unwrap();
    assert_eq!(cpu.policy.params, gpu.policy.params);
    let before = cpu.policy.params.clone();
    let problems: Vec<Problem> = cpu.pool()[..cfg.grpo.prompts].to_vec();
    let completions = forced_completions(&cfg, &problems);
    let mc = cpu.grpo_step_on(&problems, &completions).unwrap();
    let mg = gpu.grpo_step_on(&problems, &completions).unwrap();
    gpu.sync_host().unwrap();
    let (lc, lg) = (num(&mc, "loss"), num(&mg, "loss"));
    assert!(
        lc.is_finite() && lc != 0.0,
        "{name}: a non-trivial loss ({lc})"
    );
    assert!(
        (lg - lc).abs() <= 1e-5 * (1.0 + lc.abs()),
        "{name}: loss gpu {lg} vs cpu {lc}"
    );
    for k in ["kl", "entropy", "grad_norm"] {
        let (c, g) = (num(&mc, k), num(&mg, k));
        assert!(
            (g - c).abs() <= 1e-4 * c.abs() + 1e-9,
            "{name}: {k} gpu {g} vs cpu {c}"
        );
    }
    assert!(num(&mc, "kl") > 0.0, "{name}: the KL term is not trivial");
    assert_eq!(num(&mc, "clip_fraction"), num(&mg, "clip_fraction"));
    for k in ["reward", "accuracy", "length"] {
        assert_eq!(num(&mc, k), num(&mg, k), "{name}: {k}");
    }
    let lr = f64::from(cfg.grpo.lr);
    let du_c: Vec<f32> = cpu
        .policy
        .params
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect();
    let du_g: Vec<f32> = gpu
        .policy
        .params
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect();
    let moved = max_abs(&du_c);
    assert!(
        moved > 0.1 * lr,
        "{name}: the step moved the parameters ({moved})"
    );
    let worst = per_tensor(
        &format!("{name}: update"),
        &cpu.policy.layout,
        &du_g,
        &du_c,
        |_, i| 2.0 * lr * 1e-3 + 8.0 * U32 * f64::from(before[i]).abs(),
    );
    let abs = du_g
        .iter()
        .zip(&du_c)
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    eprintln!(
        "{name}: loss gpu {lg} vs cpu {lc}; update max|Δ| = {:.2e}·lr ({worst:.1e} of the tensor's update scale)",
        abs / lr
    );
}

#[test]
fn gpu_grpo_step_matches_cpu_fused_loss() {
    // PPO clip with a k3 KL term, token-mean, the whole batch in one pass: the device's fused
    // loss; two epochs (the second with importance ratios against the first).
    grpo_parity("gpu_grpo_step_matches_cpu_fused_loss", &["grpo.epochs=2"]);
}

#[test]
fn gpu_grpo_step_matches_cpu_host_loss() {
    // Micro-batches (normalized by the whole batch) and GSPO (sequence-coupled): the core's loss on
    // the host between the device's forward and backward passes.
    grpo_parity(
        "gpu_grpo_step_matches_cpu_host_loss",
        &[
            "grpo.micro_batch=5",
            "grpo.loss=gspo",
            "grpo.aggregation=seq-mean-token-mean",
        ],
    );
}
