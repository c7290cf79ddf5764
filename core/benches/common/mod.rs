//! A small benchmark harness shared by the bench binaries: minimum wall time over repetitions, and
//! the floor every result is compared against, measured in the same run (a copy of the same bytes).
//!
//! `cargo bench -p rewardkit-core` runs full sizes; `-- --quick` (what CI runs) shrinks sizes and
//! repetitions so the run is only a smoke test. Absolute times on shared machines are noise: read
//! the ratio column.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::std_instead_of_core,
    clippy::cast_possible_truncation,
    clippy::print_stdout,
    reason = "benchmark harness: each bench binary uses a different subset; std paths and small casts are fine"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Harness settings from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Harness {
    /// Smoke-test mode: small sizes, few repetitions.
    pub quick: bool,
    /// Repetitions per measurement.
    pub reps: usize,
}

impl Harness {
    /// Parses `--quick` (and ignores the `--bench` flag cargo passes).
    pub fn from_args() -> Self {
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var_os("REWARDKIT_BENCH_QUICK").is_some();
        Self {
            quick,
            reps: if quick { 3 } else { 15 },
        }
    }

    /// `full` in normal runs, `full / div` (at least 1) in quick runs.
    pub fn size(&self, full: usize, div: usize) -> usize {
        if self.quick {
            (full / div).max(1)
        } else {
            full
        }
    }

    /// The minimum of `reps` timed runs of `f` after one warm-up run. On a shared machine, noise
    /// only ever adds time, so the minimum is the most stable estimate of the op's own cost; the
    /// floor is measured the same way, so their ratio is comparable.
    pub fn time<R>(&self, mut f: impl FnMut() -> R) -> Duration {
        black_box(f());
        (0..self.reps)
            .map(|_| {
                let t0 = Instant::now();
                black_box(f());
                t0.elapsed()
            })
            .min()
            .unwrap_or_default()
    }

    /// The copy floor: minimum time to copy `bytes` bytes from one buffer to another (read + write).
    pub fn copy_floor(&self, bytes: usize) -> Duration {
        let src = vec![1u8; bytes];
        let mut dst = vec![0u8; bytes];
        self.time(|| {
            dst.copy_from_slice(black_box(&src));
            dst[bytes / 2]
        })
    }

    /// Prints the table header.
    pub fn header(&self, title: &str) {
        println!(
            "\n## {title}{}",
            if self.quick { " (quick smoke run)" } else { "" }
        );
        println!(
            "{:<52} {:>12} {:>12} {:>8} {:>12}",
            "op", "time", "copy floor", "ratio", "per item"
        );
    }

    /// Prints one row: the op's time, the floor for its bytes, their ratio, and time per item.
    pub fn row(&self, name: &str, t: Duration, floor: Duration, items: usize) {
        let ratio = t.as_secs_f64() / floor.as_secs_f64().max(1e-12);
        let per = t.as_secs_f64() / items.max(1) as f64;
        println!(
            "{:<52} {:>12} {:>12} {:>7.2}x {:>12}",
            name,
            fmt(t.as_secs_f64()),
            fmt(floor.as_secs_f64()),
            ratio,
            fmt(per)
        );
    }

    /// Prints a row without a floor (operation counts instead of bytes).
    pub fn row_ops(&self, name: &str, t: Duration, ops: f64, items: usize) {
        let per = t.as_secs_f64() / items.max(1) as f64;
        println!(
            "{:<52} {:>12} {:>12.3e} ops {:>9.2} Gop/s {:>12}",
            name,
            fmt(t.as_secs_f64()),
            ops,
            ops / t.as_secs_f64() / 1e9,
            fmt(per)
        );
    }
}

/// Human units for seconds.
pub fn fmt(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.3} us", s * 1e6)
    } else {
        format!("{:.2} ns", s * 1e9)
    }
}

/// A deterministic xorshift generator for bench inputs (no dependency).
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles a slice in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.below(i + 1);
            x.swap(i, j);
        }
    }
}
