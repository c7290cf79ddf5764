//! Reward-distance benchmarks: STARC (value canonicalisation, L2) and EPIC between two rewards on
//! a dense MDP (S = 256, A = 8) and a sparse one (S = 2048, A = 4, 8 next states per row), plus the
//! reference points of `performance.md` §8.5 (32 × 4 tabular STARC/EPIC, the 16,384-comparison
//! interpolation experiment, sampled EPIC at 4096 × 4096).
//!
//! Each row prints the median time and the operation count the algorithm implies (flops, or
//! reward evaluations for the sampled estimator), as Gop/s; EPIC rows also print the time of a
//! copy of the two reward tensors (one sweep over the bytes EPIC reads four times).
//!
//! The STARC reference comparison (CPU time of the thread, wall time in brackets: on a shared
//! machine CPU time is the stable figure) of `ValuePotential` and `MinimalPotential` with `L1`, `L2` and the
//! τ-weighted norms on the same dense size) prints each canonicalisation's time and, when
//! `REWARDKIT_STARC_REFERENCE` names the file written by
//! `core/benches/anchors/time_starc_reference.py` in the same session, the reference's time and
//! the ratio (`core/benches/anchors/compare_starc.sh` runs both).
//!
//! `cargo bench -p rewardkit-core --bench distances` (full sizes) or `-- --quick` (smoke run).
#![allow(
    unreachable_pub,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core,
    reason = "a benchmark prints its table; the shared harness's items are pub; sizes are small casts"
)]

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{Harness, Rng, fmt};
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, Epic, Norm, Order, SampleSizes, Starc, Weights, canonicalize,
    epic_sampled,
};
use rewardkit_core::mdp::{Evaluation, Mdp, Policy, Reward, SparseTransitions, Transitions};
use rewardkit_core::rng::SplitMix64;

/// A dense random kernel: every entry positive, rows normalised.
fn dense_kernel(rng: &mut Rng, s: usize, a: usize) -> Vec<f64> {
    let mut tau: Vec<f64> = (0..s * a * s).map(|_| rng.unit() + 1e-3).collect();
    for row in tau.chunks_mut(s) {
        let sum: f64 = row.iter().sum();
        row.iter_mut().for_each(|x| *x /= sum);
    }
    tau
}

/// A sparse random kernel: `k` distinct next states per row.
fn sparse_kernel(rng: &mut Rng, s: usize, a: usize, k: usize) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    let mut offsets = vec![0usize];
    let (mut next, mut probs) = (Vec::new(), Vec::new());
    for _ in 0..s * a {
        let mut js: Vec<u32> = Vec::with_capacity(k);
        while js.len() < k.min(s) {
            let j = rng.below(s) as u32;
            if !js.contains(&j) {
                js.push(j);
            }
        }
        js.sort_unstable();
        let w: Vec<f64> = js.iter().map(|_| rng.unit() + 1e-3).collect();
        let sum: f64 = w.iter().sum();
        next.extend_from_slice(&js);
        probs.extend(w.iter().map(|x| x / sum));
        offsets.push(next.len());
    }
    (offsets, next, probs)
}

fn rewards(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| 2.0 * rng.unit() - 1.0).collect()
}

/// Sweeps of `Evaluation::Auto`'s iterative path: `γ^k <= 1e-13` (its relative tolerance).
fn auto_sweeps(gamma: f64) -> f64 {
    ((1e-13f64).ln() / gamma.ln()).ceil()
}

/// Flops of one STARC (VAL, exact, L2) distance on a dense MDP: per reward `r̄` (2S²A), `P_π`
/// (2S²A), LU (2S³/3) and solve (2S²), canonical reward (2S²A), norm (2SA); then the metric (3SA).
fn starc_dense_flops(s: f64, a: f64) -> f64 {
    2.0 * (6.0 * s * s * a + 2.0 * s * s * s / 3.0 + 2.0 * s * s + 2.0 * s * a) + 3.0 * s * a
}

/// Flops of one STARC (VAL, iterative, L2) distance on a sparse MDP with `nnz` entries: per reward
/// `r̄` (2·nnz), `K` sweeps (2·nnz each), canonical reward (2·nnz); metric (3SA).
fn starc_sparse_flops(nnz: f64, sweeps: f64, sa: f64) -> f64 {
    2.0 * (2.0 * nnz * (sweeps + 2.0) + 2.0 * sa) + 3.0 * sa
}

/// Flops of one exact EPIC distance: potentials (2 per entry per reward) and three Pearson passes
/// (10 + 11 + 13 per (s, a, s')): 38 per (s, a, s').
fn epic_flops(full: f64) -> f64 {
    38.0 * full
}

/// One line of the reference timing file: `name wall_seconds cpu_seconds capped iterations`.
struct RefTime {
    name: String,
    wall: f64,
    cpu: f64,
    capped: bool,
    iterations: u64,
}

/// CPU time of the calling thread in seconds (Linux `schedstat`, nanoseconds, updated at scheduler
/// ticks), if available: on a shared machine it is far more stable than wall-clock time.
fn thread_cpu() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

/// `(minimum wall time, minimum CPU time)` per call over `reps` measurements after one warm-up;
/// each measurement repeats `f` until it spans at least 0.25 s, so the tick-granular thread clock
/// resolves it to about 2 % (CPU time = wall time where the thread clock is unavailable).
fn time_wall_cpu<R>(reps: usize, mut f: impl FnMut() -> R) -> (f64, f64) {
    let t0 = std::time::Instant::now();
    black_box(f());
    let first = t0.elapsed().as_secs_f64().max(1e-9);
    let k = (0.25 / first).ceil().clamp(1.0, 1e6) as usize;
    let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps.max(1) {
        let c0 = thread_cpu();
        let t0 = std::time::Instant::now();
        for _ in 0..k {
            black_box(f());
        }
        let w = t0.elapsed().as_secs_f64() / k as f64;
        let c = match (c0, thread_cpu()) {
            (Some(a), Some(b)) => (b - a) / k as f64,
            _ => w,
        };
        wall = wall.min(w);
        cpu = cpu.min(c);
    }
    (wall, cpu)
}

/// The reference times written by `time_starc_reference.py`, if `REWARDKIT_STARC_REFERENCE` is set.
fn reference_times() -> Vec<RefTime> {
    let Some(path) = std::env::var_os("REWARDKIT_STARC_REFERENCE") else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [name, wall, cpu, capped, iters] => Some(RefTime {
                    name: (*name).to_string(),
                    wall: wall.parse().ok()?,
                    cpu: cpu.parse().ok()?,
                    capped: *capped == "1",
                    iterations: iters.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// `ValuePotential` and `MinimalPotential` (L2, τ-weighted L2, L1, τ-weighted L1) on one reward of
/// the dense MDP, against the STARC reference's times when available.
fn starc_reference_rows(h: &Harness, mdp: &Mdp<'_, f64>, reward: &Reward<'_, f64>) {
    let refs = reference_times();
    let reps = if h.quick { 1 } else { 3 };
    let (s, a) = (mdp.n_states(), mdp.n_actions());
    println!(
        "\n## STARC reference canonicalisations, dense S={s} A={a} (one reward, f64; CPU time, \
         wall time in brackets){}",
        if refs.is_empty() {
            " (set REWARDKIT_STARC_REFERENCE for the reference times)"
        } else {
            ""
        }
    );
    println!(
        "{:<32} {:>24} {:>26} {:>20} {:>9}",
        "canonicalisation", "rewardkit", "reference", "reference steps", "speed-up"
    );
    let rows = [
        (
            "ValuePotential (uniform π)",
            "value_potential",
            Canonicalization::ValuePotential(Policy::Uniform),
        ),
        (
            "MinimalPotential L2",
            "minimal_potential_2",
            Canonicalization::MinimalPotential(Norm::l2()),
        ),
        (
            "MinimalPotential τ-weighted L2",
            "minimal_potential_weighted_2",
            Canonicalization::MinimalPotential(Norm::new(Order::L2, Weights::Transition)),
        ),
        (
            "MinimalPotential L1",
            "minimal_potential_1",
            Canonicalization::MinimalPotential(Norm::l1()),
        ),
        (
            "MinimalPotential τ-weighted L1",
            "minimal_potential_weighted_1",
            Canonicalization::MinimalPotential(Norm::new(Order::L1, Weights::Transition)),
        ),
    ];
    let mut out = vec![0.0f64; mdp.full_len()];
    for (label, key, canon) in rows {
        let (wall, cpu) = time_wall_cpu(reps, || {
            canonicalize(&mut out, mdp, black_box(reward), &canon).unwrap()
        });
        let ours = format!("{} ({})", fmt(cpu), fmt(wall));
        match refs.iter().find(|r| r.name == key) {
            Some(r) => {
                let steps = if key == "value_potential" {
                    "value iteration".to_string()
                } else {
                    format!(
                        "{} Adam{}",
                        r.iterations,
                        if r.capped { ", capped" } else { "" }
                    )
                };
                let theirs = format!(
                    "{}{} ({})",
                    if r.capped { ">= " } else { "" },
                    fmt(r.cpu),
                    fmt(r.wall)
                );
                println!(
                    "{:<32} {:>24} {:>26} {:>20} {:>8.0}x",
                    label,
                    ours,
                    theirs,
                    steps,
                    r.cpu / cpu
                );
                if r.capped {
                    println!(
                        "{:<32} (the reference stopped at its time cap: the speed-up is a lower bound)",
                        ""
                    );
                }
            }
            None => println!(
                "{:<32} {:>24} {:>26} {:>20} {:>9}",
                label, ours, "-", "-", "-"
            ),
        }
    }
}

fn main() {
    let h = Harness::from_args();
    let mut rng = Rng(0x5EED_D157);
    h.header("Reward distances (f64, one distance = two rewards)");

    // ---- dense: S = 256, A = 8 -------------------------------------------------------------
    let (s, a) = (h.size(256, 8), 8);
    let gamma = 0.95;
    let tau = dense_kernel(&mut rng, s, a);
    let init = vec![1.0 / s as f64; s];
    let mdp = Mdp::new(s, a, Transitions::Dense(&tau), &init, gamma).unwrap();
    let (ra, rb) = (rewards(&mut rng, s * a * s), rewards(&mut rng, s * a * s));
    let (fa, fb) = (Reward::Full(&ra), Reward::Full(&rb));
    let starc = Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2());
    let t = h.time(|| {
        starc
            .distance(&mdp, black_box(&fa), black_box(&fb))
            .unwrap()
    });
    let (sf, af) = (s as f64, a as f64);
    h.row_ops(
        &format!("STARC VAL-L2 exact, dense S={s} A={a}"),
        t,
        starc_dense_flops(sf, af),
        1,
    );
    let full = s * a * s;
    let t = h.time(|| {
        Epic::default()
            .distance(&mdp, black_box(&fa), black_box(&fb))
            .unwrap()
    });
    h.row_ops(
        &format!("EPIC exact, dense S={s} A={a}"),
        t,
        epic_flops(full as f64),
        1,
    );
    h.row(
        &format!("EPIC exact vs copy of both rewards, S={s} A={a}"),
        t,
        h.copy_floor(2 * 8 * full),
        full,
    );
    // Other canonicalisations at this size, for reference.
    let t = h.time(|| Dard::default().distance(&mdp, &fa, &fb).unwrap());
    h.row_ops(
        &format!("DARD exact, dense S={s} A={a}"),
        t,
        2.0 * 4.0 * af * sf * sf * sf,
        1,
    );
    let minimal = Starc::new(Canonicalization::MinimalL2, Norm::l2());
    let t = h.time(|| minimal.distance(&mdp, &fa, &fb).unwrap());
    h.row_ops(
        &format!("STARC minimal-L2, dense S={s} A={a}"),
        t,
        2.0 * (2.0 * sf * af * sf * sf + 2.0 * sf * sf * sf / 3.0),
        1,
    );
    starc_reference_rows(&h, &mdp, &fa);
    h.header("Reward distances (f64, one distance = two rewards), continued");

    // ---- sparse: S = 2048, A = 4, 8 next states ------------------------------------------------
    let (s, a, k) = (h.size(2048, 16), 4, 8);
    let (offsets, next, probs) = sparse_kernel(&mut rng, s, a, k);
    let init = vec![1.0 / s as f64; s];
    let sp = SparseTransitions::new(&offsets, &next, &probs);
    let mdp = Mdp::new(s, a, Transitions::Sparse(sp), &init, gamma).unwrap();
    let (ra, rb) = (rewards(&mut rng, s * a * s), rewards(&mut rng, s * a * s));
    let (fa, fb) = (Reward::Full(&ra), Reward::Full(&rb));
    // Iterative evaluation (what `Evaluation::Auto` picks above S = 512), also in quick runs.
    let it = starc.with_evaluation(Evaluation::Iterative {
        tol: 1e-13 / (1.0 - gamma),
        max_iters: 1_000_000,
    });
    let t = h.time(|| it.distance(&mdp, black_box(&fa), black_box(&fb)).unwrap());
    let nnz = mdp.nnz() as f64;
    h.row_ops(
        &format!("STARC VAL-L2 iterative, sparse S={s} A={a} k={k}"),
        t,
        starc_sparse_flops(nnz, auto_sweeps(gamma), (s * a) as f64),
        1,
    );
    let full = s * a * s;
    let t = h.time(|| {
        Epic::default()
            .distance(&mdp, black_box(&fa), black_box(&fb))
            .unwrap()
    });
    h.row_ops(
        &format!("EPIC exact, sparse-MDP S={s} A={a}"),
        t,
        epic_flops(full as f64),
        1,
    );
    h.row(
        &format!("EPIC exact vs copy of both rewards, S={s} A={a}"),
        t,
        h.copy_floor(2 * 8 * full),
        full,
    );

    // ---- performance.md §8.5 reference points ------------------------------------------------
    let (s, a) = (32, 4);
    let tau = dense_kernel(&mut rng, s, a);
    let init = vec![1.0 / s as f64; s];
    let mdp = Mdp::new(s, a, Transitions::Dense(&tau), &init, gamma).unwrap();
    let (ra, rb) = (rewards(&mut rng, s * a * s), rewards(&mut rng, s * a * s));
    let fa = Reward::Full(&ra);
    let t = h.time(|| starc.standardize(&mdp, black_box(&fa)).unwrap());
    h.row_ops(
        "D1: STARC VAL standardise one reward, 32x4x32",
        t,
        (starc_dense_flops(32.0, 4.0) - 384.0) / 2.0,
        1,
    );
    let mut out = vec![0.0f64; s * a * s];
    let epic_canon = Canonicalization::Epic(Coverage::uniform());
    let t = h.time(|| canonicalize(&mut out, &mdp, black_box(&fa), &epic_canon).unwrap());
    h.row_ops(
        "D2: EPIC canonicalise one reward, 32x4x32",
        t,
        5.0 * (s * a * s) as f64,
        1,
    );
    // The interpolation experiment: 128 envs x 8 pairs x 16 steps = 16,384 comparisons. Naive: one
    // standardisation (factorisation included) per comparison. Batched: per (env, pair), the 16
    // interpolated rewards are standardised together (one factorisation), as `standardize_all`
    // allows within one environment.
    let comparisons = h.size(16_384, 64);
    let s1 = starc.standardize(&mdp, &fa).unwrap();
    let steps: Vec<Vec<f64>> = (0..16)
        .map(|i| {
            let t = i as f64 / 15.0;
            ra.iter()
                .zip(&rb)
                .map(|(x, y)| t * x + (1.0 - t) * y)
                .collect()
        })
        .collect();
    let t = h.time(|| {
        let mut acc = 0.0;
        for c in 0..comparisons {
            let ri = starc
                .standardize(&mdp, &Reward::Full(&steps[c % 16]))
                .unwrap();
            acc += starc.distance_between(&mdp, &s1, &ri).unwrap();
        }
        acc
    });
    h.row_ops(
        &format!("D1: {comparisons} STARC comparisons, 32x4x32, naive"),
        t,
        comparisons as f64 * starc_dense_flops(32.0, 4.0) / 2.0,
        comparisons,
    );
    let step_rewards: Vec<Reward<'_, f64>> = steps.iter().map(|r| Reward::Full(r)).collect();
    let t = h.time(|| {
        let mut acc = 0.0;
        for _ in 0..comparisons / 16 {
            for si in starc.standardize_all(&mdp, &step_rewards).unwrap() {
                acc += starc.distance_between(&mdp, &s1, &si).unwrap();
            }
        }
        acc
    });
    let (sf, af) = (32.0, 4.0);
    let lu = 2.0 * sf * af * sf + 2.0 * sf * sf * sf / 3.0;
    h.row_ops(
        &format!("D1: {comparisons} STARC comparisons, 32x4x32, batched"),
        t,
        comparisons as f64 * (starc_dense_flops(sf, af) / 2.0 - lu)
            + (comparisons / 16) as f64 * lu,
        comparisons,
    );
    // Sampled EPIC on a 10⁶-state space with a cheap closed-form reward (a multiplicative hash, so
    // the estimator's own cost dominates).
    let n = h.size(4096, 64);
    let sizes = SampleSizes::new(n, n).unwrap();
    let hash = |s: usize, a: usize, t: usize| {
        let x = (s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (t as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ (a as u64);
        (x >> 54) as f64 * (1.0 / 1024.0)
    };
    let rf = hash;
    let rg = |s: usize, a: usize, t: usize| 0.5 * hash(s, a, t) + hash(t, a, s);
    let t = h.time(|| {
        epic_sampled(
            &mut SplitMix64::new(1),
            rf,
            rg,
            1_000_000,
            8,
            0.99,
            &Coverage::uniform(),
            sizes,
        )
        .unwrap()
    });
    h.row_ops(
        &format!("D3: sampled EPIC N=M={n} (reward evaluations)"),
        t,
        2.0 * (n * (2 * n + 1)) as f64,
        1,
    );
}
