//! `gpu-bench`: throughput of the rewardkit GPU kernels on the adapter found (or named by
//! `REWARDKIT_GPU_ADAPTER`), as ratios to floors measured in the same run.
//!
//! For every memory-bound kernel it prints the achieved GB/s (minimum bytes: every input read once,
//! every output written once) and the ratio to the device's copy bandwidth, measured by the `copy`
//! kernel on a buffer of the same size in the same run; for matmul the GFLOP/s (`2·M·N·K`) and,
//! with `--peak-tflops`, the fraction of fp32 peak. Times are GPU timestamps around each compute
//! pass when the adapter has `TIMESTAMP_QUERY`, else wall-clock times of a submit-and-wait (which
//! include launch overhead; said in the output). Each figure is the median of `--iters` runs after
//! one warm-up run.
//!
//! ```text
//! gpu-bench [--matmul 1024,2048,4096,8192] [--mem-mb 256] [--vocab 32768] [--iters 10]
//!           [--peak-tflops 66.9] [--quick]
//! ```
//! `--quick` uses tiny sizes (a smoke run on a software rasterizer such as lavapipe).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool"
)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core,
    reason = "benchmark sizes are small; a std binary"
)]

use std::time::Instant;

use rewardkit_core::advantage::Grpo;
use rewardkit_core::loss::Aggregation;
use rewardkit_core::{GroupIndex, KlPenalty};
use rewardkit_gpu::{
    Gemm, GpuBuffer, GpuContext, GpuError, GpuGroups, GpuLossKind, GpuPolicyLoss, GroupEstimator,
    PolicyBuffers, RlStepBuffers, ScanMode,
};

struct Args {
    matmul: Vec<usize>,
    mem_bytes: usize,
    vocab: usize,
    iters: usize,
    peak_tflops: Option<f64>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        matmul: vec![1024, 2048, 4096, 8192],
        mem_bytes: 256 << 20,
        vocab: 32768,
        iters: 10,
        peak_tflops: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--matmul" => {
                a.matmul = val()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().map_err(|e| format!("--matmul: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--mem-mb" => a.mem_bytes = val()?.parse::<usize>().map_err(|e| e.to_string())? << 20,
            "--vocab" => a.vocab = val()?.parse().map_err(|e| format!("--vocab: {e}"))?,
            "--iters" => a.iters = val()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--peak-tflops" => {
                a.peak_tflops = Some(val()?.parse().map_err(|e| format!("--peak-tflops: {e}"))?);
            }
            "--quick" => {
                a.matmul = vec![128, 256];
                a.mem_bytes = 4 << 20;
                a.vocab = 1024;
                a.iters = 3;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: gpu-bench [--matmul 1024,2048,4096,8192] [--mem-mb 256] \
                            [--vocab 32768] [--iters 10] [--peak-tflops X] [--quick]"
                        .into(),
                );
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    a.iters = a.iters.max(1);
    Ok(a)
}

/// Median seconds of `iters` runs of `f` (after one warm-up), GPU time when profiling.
fn time(
    ctx: &GpuContext,
    iters: usize,
    mut f: impl FnMut() -> Result<(), GpuError>,
) -> Result<f64, GpuError> {
    f()?;
    ctx.finish()?;
    let _ = ctx.take_timings_blocking()?;
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t0 = Instant::now();
        f()?;
        ctx.finish()?;
        let wall = t0.elapsed().as_secs_f64();
        let gpu: f64 = ctx.take_timings_blocking()?.iter().map(|t| t.seconds).sum();
        samples.push(if gpu > 0.0 { gpu } else { wall });
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

fn fill(n: usize, lo: f32, hi: f32, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            lo + (hi - lo) * (s as f32 / u32::MAX as f32)
        })
        .collect()
}

fn run() -> Result<(), GpuError> {
    let args = match parse() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let ctx = GpuContext::new_blocking()?;
    let info = ctx.adapter_info();
    let ts = ctx.set_profiling(true);
    println!(
        "adapter: {} ({:?}, {:?}, driver {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    );
    println!(
        "capabilities: {:?}; timing: {}",
        ctx.capabilities(),
        if ts {
            "GPU timestamps"
        } else {
            "wall clock (submit + wait; includes launch overhead)"
        }
    );
    let limit = ctx
        .limits()
        .max_storage_buffer_binding_size
        .min(ctx.limits().max_buffer_size) as usize;
    let bytes = args.mem_bytes.min(limit / 2).max(1 << 16);
    let n = bytes / 4;

    // Floor: device copy of `bytes` (read + write).
    let src = ctx.upload(&fill(n, -1.0, 1.0, 1))?;
    let dst = ctx.zeros::<f32>(n)?;
    let t_copy = time(&ctx, args.iters, || copy(&ctx, &dst, &src))?;
    let bw = 2.0 * bytes as f64 / t_copy;
    println!(
        "\ncopy {:.1} MiB: {:.3} ms, {:.1} GB/s (the floor below)",
        bytes as f64 / 1048576.0,
        t_copy * 1e3,
        bw / 1e9
    );

    println!(
        "\n{:<34} {:>10} {:>10} {:>9}",
        "memory-bound kernel", "ms", "GB/s", "÷ copy"
    );
    let report = |name: &str, t: f64, moved: f64| {
        println!(
            "{name:<34} {:>10.3} {:>10.1} {:>8.0}%",
            t * 1e3,
            moved / t / 1e9,
            100.0 * (moved / t) / bw
        );
    };
    // KL (k3): read logp, ref; write value, grad.
    {
        let (a, b) = (
            ctx.upload(&fill(n / 4, -5.0, 0.0, 2))?,
            ctx.upload(&fill(n / 4, -5.0, 0.0, 3))?,
        );
        let (v, g) = (ctx.zeros::<f32>(n / 4)?, ctx.zeros::<f32>(n / 4)?);
        let k3 = KlPenalty::default();
        let t = time(&ctx, args.iters, || ctx.kl_penalty(&v, &g, &a, &b, &k3))?;
        report("kl_penalty k3 (N = bytes/16)", t, (n / 4 * 16) as f64);
    }
    // GRPO over contiguous groups of 16: read scores + rows, write advantages.
    {
        let b = n / 3;
        let b = b - b % 16;
        let gi = GroupIndex::uniform(b, 16).map_err(GpuError::Core)?;
        let groups = GpuGroups::new(&ctx, &gi)?;
        let s = ctx.upload(&fill(b, 0.0, 1.0, 4))?;
        let out = ctx.zeros::<f32>(b)?;
        let est = GroupEstimator::Grpo(Grpo::default());
        let t = time(&ctx, args.iters, || {
            ctx.group_advantages(&out, &s, None, &groups, est)
        })?;
        report("grpo (K = 16, CSR index)", t, (b * 12) as f64);
    }
    // GAE, rows and scan: read r, v, mask; write adv, ret.
    for (mode, seq) in [(ScanMode::Rows, 1024usize), (ScanMode::Scan, 4096)] {
        let tok = (n / 5) - (n / 5) % seq;
        let (r, v) = (
            ctx.upload(&fill(tok, -1.0, 1.0, 5))?,
            ctx.upload(&fill(tok, -1.0, 1.0, 6))?,
        );
        let m = ctx.upload(&vec![1u32; tok])?;
        let (a, ret) = (ctx.zeros::<f32>(tok)?, ctx.zeros::<f32>(tok)?);
        let p = rewardkit_core::advantage::Gae::new(0.99, 0.95).map_err(GpuError::Core)?;
        let t = time(&ctx, args.iters, || {
            ctx.gae(&a, &ret, &r, &v, &m, seq, &p, mode)
        })?;
        report(&format!("gae {mode:?} (T = {seq})"), t, (tok * 20) as f64);
    }
    // PPO token loss + parts + scale: read logp, old, adv (per seq), mask; write grad.
    {
        let seq = 1024;
        let tok = (n / 4) - (n / 4) % seq;
        let rows = tok / seq;
        let lp = ctx.upload(&fill(tok, -3.0, -0.1, 7))?;
        let old = ctx.upload(&fill(tok, -3.0, -0.1, 8))?;
        let adv = ctx.upload(&fill(rows, -1.0, 1.0, 9))?;
        let m = ctx.upload(&vec![1u32; tok])?;
        let (grad, rb, parts) = (
            ctx.zeros::<f32>(tok)?,
            ctx.zeros::<f32>(2 * rows)?,
            ctx.zeros::<f32>(5)?,
        );
        let inp = PolicyBuffers {
            logp: &lp,
            old_logp: &old,
            advantages: &adv,
            mask: &m,
            ref_logp: None,
            weights: None,
            entropy: None,
        };
        let loss = GpuPolicyLoss::new(GpuLossKind::Vanilla);
        let agg = Aggregation::TokenMean;
        let t = time(&ctx, args.iters, || {
            ctx.policy_loss(&grad, &rb, &inp, seq, &loss)?;
            ctx.loss_parts(&parts, &rb, &agg)?;
            ctx.scale_grad(&grad, &rb, &parts, &m, seq, &agg)
        })?;
        report(
            "ppo loss + parts + scale (T=1024)",
            t,
            (tok * 16 + tok * 8) as f64,
        );
    }
    // Logits: (N, V) rows.
    {
        let v = args.vocab;
        let rows = (n / 2 / v).max(1);
        let z = ctx.upload(&fill(rows * v, -6.0, 6.0, 10))?;
        let ids = ctx.upload_ids(
            &(0..rows as u32).map(|i| i % v as u32).collect::<Vec<_>>(),
            v,
        )?;
        let out_row = ctx.zeros::<f32>(rows)?;
        let full = ctx.zeros::<f32>(rows * v)?;
        let t = time(&ctx, args.iters, || {
            ctx.logprobs_forward(&out_row, &z, &ids, v)
        })?;
        report(
            &format!("logprobs_forward (V = {v})"),
            t,
            (rows * v * 4) as f64,
        );
        let t = time(&ctx, args.iters, || ctx.entropy_forward(&out_row, &z, v))?;
        report("entropy_forward", t, (rows * v * 4) as f64);
        let t = time(&ctx, args.iters, || ctx.log_softmax(&full, &z, v))?;
        report("log_softmax", t, (rows * v * 8) as f64);
        // Fused RL step: read logits, write their gradient (+ small per-token data).
        let seq = rows;
        let old = ctx.upload(&fill(rows, -8.0, -1.0, 11))?;
        let adv = ctx.upload(&[0.5f32])?;
        let m = ctx.upload(&vec![1u32; rows])?;
        let (tok, rb, parts) = (
            ctx.zeros::<f32>(3 * rows)?,
            ctx.zeros::<f32>(2)?,
            ctx.zeros::<f32>(5)?,
        );
        let s = RlStepBuffers {
            grad_logits: &full,
            tok: &tok,
            rows: &rb,
            parts: &parts,
            logits: &z,
            ids: &ids,
            old_logp: &old,
            ref_logp: None,
            advantages: &adv,
            mask: &m,
        };
        let loss = GpuPolicyLoss::new(GpuLossKind::Vanilla).with_entropy_coef(0.01)?;
        let t = time(&ctx, args.iters, || {
            ctx.rl_step(&s, seq, v, &loss, &Aggregation::TokenMean)
        })?;
        report("fused rl_step (logits → grad)", t, (rows * v * 8) as f64);
    }

    println!(
        "\n{:<22} {:>10} {:>10} {:>12}",
        "matmul (fp32)", "ms", "GFLOP/s", "÷ fp32 peak"
    );
    for &s in &args.matmul {
        let elems = s * s;
        if elems * 4 > limit {
            println!("{s:>5}³: skipped (a {s}×{s} buffer exceeds the binding limit)");
            continue;
        }
        let a = ctx.upload(&fill(elems, -1.0, 1.0, 12))?;
        let b = ctx.upload(&fill(elems, -1.0, 1.0, 13))?;
        let c = ctx.zeros::<f32>(elems)?;
        for (label, g) in [
            ("", Gemm::new(s, s, s)),
            (" (B stored N×K)", Gemm::new(s, s, s).transpose_b(true)),
        ] {
            let t = time(&ctx, args.iters, || ctx.matmul(&c, &a, &b, None, g))?;
            let flops = 2.0 * (s as f64).powi(3) / t;
            let peak = args.peak_tflops.map_or("-".to_owned(), |p| {
                format!("{:.1}%", 100.0 * flops / (p * 1e12))
            });
            println!(
                "{:<22} {:>10.3} {:>10.1} {:>12}",
                format!("{s}³{label}"),
                t * 1e3,
                flops / 1e9,
                peak
            );
        }
    }
    Ok(())
}

fn copy(ctx: &GpuContext, dst: &GpuBuffer<f32>, src: &GpuBuffer<f32>) -> Result<(), GpuError> {
    ctx.copy_kernel(dst, src)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("gpu-bench: {e}");
        std::process::exit(1);
    }
}
