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
//! gpu-bench [--matmul 1024,2048,4096,8192] [--tiles 16x16:8x8:8,8x8:8x8:16] [--mem-mb 256]
//!           [--vocab 32768] [--attn 8,12,1024,64] [--iters 10] [--peak-tflops 66.9] [--quick]
//! ```
//! `--tiles` lists matmul tile shapes to compare, each `WG_XxWG_Y:TMxTN:BK` (threads, outputs per
//! thread, slice depth; the default 16x16:8x8:8); every shape is run on the vec4 kernel (`NN` and
//! llm.c's `NT` layout), the scalar-load kernel and, with `SHADER_F16`, the f16-input kernel.
//! `--attn B,NH,T,HS` sizes the attention benchmark. `--quick` uses tiny sizes (a smoke run on a
//! software rasterizer such as lavapipe).
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

use rewardkit_core::advantage::{AdvantageConfig, AdvantagePlan, Stages};
use rewardkit_core::loss::{Aggregation, PolicyLoss, PolicyLossKind};
use rewardkit_core::stats::Whiten;
use rewardkit_core::{AdvantageEstimator, GroupIndex, KlPenalty};
use rewardkit_gpu::{
    Gemm, GpuBuffer, GpuContext, GpuError, GpuGroups, MatmulTiles, PolicyBuffers, RlStepBuffers,
    ScanMode,
};

struct Args {
    matmul: Vec<usize>,
    tiles: Vec<MatmulTiles>,
    mem_bytes: usize,
    vocab: usize,
    attn: [usize; 4],
    iters: usize,
    peak_tflops: Option<f64>,
}

/// `WG_XxWG_Y:TMxTN:BK`, for example `16x16:8x8:8`.
fn parse_tiles(s: &str) -> Result<MatmulTiles, String> {
    let nums: Vec<u32> = s
        .split([':', 'x'])
        .map(|t| t.parse::<u32>().map_err(|e| format!("--tiles {s}: {e}")))
        .collect::<Result<_, _>>()?;
    match nums[..] {
        [wg_x, wg_y, tm, tn, bk] => Ok(MatmulTiles {
            wg_x,
            wg_y,
            tm,
            tn,
            bk,
        }),
        _ => Err(format!("--tiles {s}: expected WG_XxWG_Y:TMxTN:BK")),
    }
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        matmul: vec![1024, 2048, 4096, 8192],
        tiles: vec![MatmulTiles::default()],
        mem_bytes: 256 << 20,
        vocab: 32768,
        attn: [8, 12, 1024, 64],
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
            "--tiles" => {
                a.tiles = val()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(parse_tiles)
                    .collect::<Result<_, _>>()?;
            }
            "--attn" => {
                let v: Vec<usize> = val()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--attn: {e}")))
                    .collect::<Result<_, _>>()?;
                a.attn = v
                    .try_into()
                    .map_err(|_| "--attn takes B,NH,T,HS".to_owned())?;
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
                a.attn = [1, 2, 64, 16];
                a.iters = 3;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: gpu-bench [--matmul 1024,2048,4096,8192] [--tiles WXxWY:TMxTN:BK,..] \
                            [--mem-mb 256] [--vocab 32768] [--attn B,NH,T,HS] [--iters 10] \
                            [--peak-tflops X] [--quick]"
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
        let plan = AdvantagePlan::<f32>::new(AdvantageEstimator::Grpo, &AdvantageConfig::default())
            .map_err(GpuError::Core)?;
        let Stages::Sequence(stages) = plan.stages else {
            return Err(GpuError::Unsupported {
                feature: "a token-level GRPO plan",
            });
        };
        let t = time(&ctx, args.iters, || {
            ctx.group_advantages(&out, &s, None, &groups, &stages.group)
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
    // Batch whitening: read x and mask, write out (the statistics pass reads them again).
    {
        let tok = n / 3;
        let x = ctx.upload(&fill(tok, -1.0, 1.0, 21))?;
        let m = ctx.upload(&vec![1u32; tok])?;
        let out = ctx.zeros::<f32>(tok)?;
        let w = Whiten::default();
        let t = time(&ctx, args.iters, || ctx.masked_whiten(&out, &x, &m, &w))?;
        report("masked_whiten (2 passes)", t, (tok * 12) as f64);
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
        let loss = PolicyLoss::new(PolicyLossKind::Vanilla);
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
        let loss = PolicyLoss::new(PolicyLossKind::Vanilla)
            .with_entropy_coef(0.01)
            .map_err(GpuError::Core)?;
        let t = time(&ctx, args.iters, || {
            ctx.rl_step(&s, seq, v, &loss, &Aggregation::TokenMean)
        })?;
        // Minimum bytes: the logits read once, the gradient read and written (it accumulates).
        report(
            "fused rl_step (logits → grad +=)",
            t,
            (rows * v * 12) as f64,
        );
    }

    // Transformer ops (llm.c's), memory-bound: minimum bytes moved per element.
    {
        let m = n / 4;
        let (x, y) = (
            ctx.upload(&fill(m, -2.0, 2.0, 14))?,
            ctx.upload(&fill(m, -1.0, 1.0, 15))?,
        );
        let (o, d) = (ctx.zeros::<f32>(m)?, ctx.zeros::<f32>(m)?);
        let t = time(&ctx, args.iters, || ctx.gelu_forward(&o, &x, m))?;
        report("gelu_forward", t, (m * 8) as f64);
        let t = time(&ctx, args.iters, || ctx.gelu_backward(&d, &x, &y, m))?;
        report("gelu_backward (accumulating)", t, (m * 16) as f64);
        let t = time(&ctx, args.iters, || ctx.residual_forward(&o, &x, &y, m))?;
        report("residual_forward", t, (m * 12) as f64);
        let t = time(&ctx, args.iters, || ctx.residual_backward(&o, &d, &y, m))?;
        report("residual_backward", t, (m * 20) as f64);
        let (pm, pv) = (ctx.zeros::<f32>(m)?, ctx.zeros::<f32>(m)?);
        let t = time(&ctx, args.iters, || {
            ctx.adamw(&o, &y, &pm, &pv, 1, 1e-3, 0.9, 0.999, 1e-8, 0.01, m)
        })?;
        report("adamw", t, (m * 28) as f64);
        // LayerNorm over C = 768 (GPT-2 small).
        let c = 768;
        let rows = m / c;
        let nc = rows * c;
        let (w, bias) = (
            ctx.upload(&fill(c, 0.5, 1.5, 16))?,
            ctx.upload(&fill(c, -0.1, 0.1, 17))?,
        );
        let (mean, rstd) = (ctx.zeros::<f32>(rows)?, ctx.zeros::<f32>(rows)?);
        let (xs, os, ds) = (
            ctx.upload(&fill(nc, -2.0, 2.0, 18))?,
            ctx.zeros::<f32>(nc)?,
            ctx.zeros::<f32>(nc)?,
        );
        let t = time(&ctx, args.iters, || {
            ctx.layernorm_forward(&os, &mean, &rstd, &xs, &w, &bias, rows, c)
        })?;
        report("layernorm_forward (C = 768)", t, (nc * 8) as f64);
        let (dw, db) = (ctx.zeros::<f32>(c)?, ctx.zeros::<f32>(c)?);
        let t = time(&ctx, args.iters, || {
            ctx.layernorm_backward(&ds, &dw, &db, &xs, &xs, &w, &mean, &rstd, rows, c)
        })?;
        report("layernorm_backward (C = 768)", t, (nc * 16) as f64);
        // Embedding: T = 1024 positions, V = 50257 rows (GPT-2's, fewer when the table would
        // exceed the memory budget); read rows + positions, write out.
        let (t_len, v) = (1024usize.min(rows.max(1)), (m / c).clamp(16, 50257));
        let b = (rows / t_len).max(1);
        let wte = ctx.zeros::<f32>(v * c)?;
        let wpe = ctx.zeros::<f32>(t_len * c)?;
        let toks = ctx.upload_ids(
            &(0..(b * t_len) as u32)
                .map(|i| (i * 7919) % v as u32)
                .collect::<Vec<_>>(),
            v,
        )?;
        let eo = ctx.zeros::<f32>(b * t_len * c)?;
        let t = time(&ctx, args.iters, || {
            ctx.encoder_forward(&eo, &toks, &wte, &wpe, b, t_len, c)
        })?;
        report("encoder_forward (C = 768)", t, (b * t_len * c * 12) as f64);
        let dwpe = ctx.zeros::<f32>(t_len * c)?;
        let t = time(&ctx, args.iters, || {
            ctx.encoder_backward(&wte, &dwpe, &eo, &toks, b, t_len, c)
        })?;
        report(
            "encoder_backward (sort + sums)",
            t,
            (b * t_len * c * 16) as f64,
        );
        // Cross-entropy from logits, and its fused backward.
        let vocab = args.vocab;
        let lr = (n / 2 / vocab).max(1);
        let z = ctx.upload(&fill(lr * vocab, -6.0, 6.0, 19))?;
        let ids = ctx.upload_ids(
            &(0..lr as u32).map(|i| i % vocab as u32).collect::<Vec<_>>(),
            vocab,
        )?;
        let (loss, dl) = (ctx.zeros::<f32>(lr)?, ctx.upload(&vec![1.0f32; lr])?);
        let dz = ctx.zeros::<f32>(lr * vocab)?;
        let t = time(&ctx, args.iters, || {
            ctx.crossentropy_forward(&loss, &z, &ids, vocab)
        })?;
        report("crossentropy_forward", t, (lr * vocab * 4) as f64);
        let t = time(&ctx, args.iters, || {
            ctx.crossentropy_softmax_backward(&dz, &dl, &z, &ids, vocab)
        })?;
        report("crossentropy_softmax_backward", t, (lr * vocab * 12) as f64);
    }

    // Attention (llm.c layout, materialized scores): FLOPs of q·k and att·v over s ≤ t.
    {
        let [b, nh, t_len, hs] = args.attn;
        let c = nh * hs;
        let n_att = b * nh * t_len * t_len;
        if n_att * 4 <= limit && b * t_len * 3 * c * 4 <= limit {
            let qkv = ctx.upload(&fill(b * t_len * 3 * c, -1.0, 1.0, 20))?;
            let (out, pre, att) = (
                ctx.zeros::<f32>(b * t_len * c)?,
                ctx.zeros::<f32>(n_att)?,
                ctx.zeros::<f32>(n_att)?,
            );
            let flops = 4.0 * (b * nh) as f64 * (t_len * (t_len + 1) / 2) as f64 * hs as f64;
            let t = time(&ctx, args.iters, || {
                ctx.attention_forward(&out, &pre, &att, &qkv, b, t_len, c, nh)
            })?;
            println!(
                "\nattention_forward B={b} NH={nh} T={t_len} hs={hs}: {:.3} ms, {:.1} GFLOP/s",
                t * 1e3,
                flops / t / 1e9
            );
            let (dqkv, dpre, datt) = (
                ctx.zeros::<f32>(b * t_len * 3 * c)?,
                ctx.zeros::<f32>(n_att)?,
                ctx.zeros::<f32>(n_att)?,
            );
            let t = time(&ctx, args.iters, || {
                ctx.attention_backward(&dqkv, &dpre, &datt, &out, &qkv, &att, b, t_len, c, nh)
            })?;
            println!(
                "attention_backward: {:.3} ms, {:.1} GFLOP/s (2× the forward's FLOPs)",
                t * 1e3,
                2.0 * flops / t / 1e9
            );
        } else {
            println!("\nattention: skipped (the scores exceed the binding limit)");
        }
    }

    println!(
        "\n{:<40} {:>10} {:>10} {:>12}",
        "matmul", "ms", "GFLOP/s", "÷ fp32 peak"
    );
    let f16 = ctx.capabilities().f16;
    for &s in &args.matmul {
        let elems = s * s;
        if elems * 4 > limit {
            println!("{s:>5}³: skipped (a {s}×{s} buffer exceeds the binding limit)");
            continue;
        }
        let a = ctx.upload(&fill(elems, -1.0, 1.0, 12))?;
        let b = ctx.upload(&fill(elems, -1.0, 1.0, 13))?;
        let c = ctx.zeros::<f32>(elems)?;
        let (a16, b16) = (ctx.zeros::<u16>(elems)?, ctx.zeros::<u16>(elems)?);
        if f16 {
            ctx.to_f16(&a16, &a)?;
            ctx.to_f16(&b16, &b)?;
        }
        for tiles in &args.tiles {
            let tl = format!(
                "{}x{}:{}x{}:{}",
                tiles.wg_x, tiles.wg_y, tiles.tm, tiles.tn, tiles.bk
            );
            let g = Gemm::new(s, s, s).with_tiles(*tiles);
            let mut runs: Vec<(&str, Gemm, bool)> = vec![
                ("vec4 NN", g, false),
                ("vec4 NT (llm.c weight)", g.transpose_b(true), false),
                ("scalar NN", g.scalar_loads(true), false),
            ];
            if f16 {
                runs.push(("f16 in, f32 acc NN", g, true));
            }
            for (label, g, half) in runs {
                let t = time(&ctx, args.iters, || {
                    if half {
                        ctx.matmul_f16(&c, &a16, &b16, None, g)
                    } else {
                        ctx.matmul(&c, &a, &b, None, g)
                    }
                })?;
                let flops = 2.0 * (s as f64).powi(3) / t;
                let peak = args.peak_tflops.map_or("-".to_owned(), |p| {
                    format!("{:.1}%", 100.0 * flops / (p * 1e12))
                });
                println!(
                    "{:<40} {:>10.3} {:>10.1} {:>12}",
                    format!("{s}³ {tl} {label}"),
                    t * 1e3,
                    flops / 1e9,
                    peak
                );
            }
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
