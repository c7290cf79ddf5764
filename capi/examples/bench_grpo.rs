//! The Rust figure of the C call-overhead benchmark: the call `rk_grpo_f32` makes, timed from
//! Rust on the same inputs as `capi/bench/grpo_bench.c` (see there), through `rewardkit-core`
//! directly: `advantage::grpo` with the rewardkit GRPO parameters and a prebuilt `GroupIndex`.
//!
//! `cargo run --release -p rewardkit-capi --example bench_grpo -- [N] [REPS] [SMALL_ITERS]`
//! prints one line in the C program's format; `capi/bench.sh` runs both and the ratio.
#![allow(
    clippy::print_stdout,
    clippy::std_instead_of_core,
    clippy::cast_possible_truncation,
    reason = "a benchmark binary: prints, uses std, and rounds its inputs to f32 and u32 as the C side does"
)]

use std::time::Instant;

use rewardkit_core::advantage::{Grpo, Scale, grpo};
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_core::{GroupIndex, Preset};

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = arg(1, 1 << 20);
    let reps: usize = arg(2, 50);
    let small_iters: u32 = arg(3, 200_000);
    let mut rng = SplitMix64::new(3);
    let scores: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32).collect();
    let ids: Vec<u32> = (0..n).map(|i| (i / 16) as u32).collect();
    let groups = GroupIndex::new(&ids, n / 16)?;
    let one = GroupIndex::new(&ids[..16], 1)?;
    // What `rk_advantage_new("grpo")` resolves to: AdvantageConfig::new(Rewardkit).grpo_params().
    let params = Grpo::<f32>::from_preset(Preset::Rewardkit, Scale::Group);
    let mut out = vec![0.0f32; n];
    grpo(&mut out, &scores, &groups, &params)?; // warm-up
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t0 = Instant::now();
        grpo(&mut out, &scores, &groups, &params)?;
        t.push(t0.elapsed().as_nanos() as f64);
    }
    t.sort_by(f64::total_cmp);
    let checksum: f64 = out.iter().step_by(4099).map(|&x| f64::from(x)).sum();
    let t0 = Instant::now();
    for _ in 0..small_iters {
        grpo(&mut out[..16], &scores[..16], &one, &params)?;
    }
    let small = t0.elapsed().as_nanos() as f64 / f64::from(small_iters);
    println!(
        "rust n={n} min_ns={:.0} median_ns={:.0} small16_ns={small:.1} checksum={checksum:.6}",
        t[0],
        t[reps / 2]
    );
    Ok(())
}
