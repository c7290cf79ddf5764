#!/usr/bin/env bash
# Call overhead of the C API (issue 15): rk_grpo_f32 timed from C (capi/bench/grpo_bench.c,
# linked against librewardkit.a) against the same call timed from Rust through rewardkit-core
# (capi/examples/bench_grpo.rs), on the same 2^20 rewards, alternating in the same run.
#
#   bash capi/bench.sh            # 3 rounds of 50 calls each side (about a minute)
#   bash capi/bench.sh --quick    # CI smoke run: 1 round of 5 calls
#
# Prints each side's minimum time over all rounds and the overhead, (C − Rust)/Rust, plus the
# fixed cost of a call measured on 16 rewards (checks, panic guard, thread-local message) as a
# fraction of the Rust figure. Both sides must produce the same checksum.
set -euo pipefail
cd "$(dirname "$0")/.."
N=$((1 << 20)) REPS=50 SMALL=200000 ROUNDS=3
if [ "${1:-}" = --quick ]; then REPS=5 SMALL=20000 ROUNDS=1; fi
PROFILE=release
source capi/c-env.sh
cargo build -q --release -p rewardkit-capi --lib --example bench_grpo
mkdir -p target/capi
# shellcheck disable=SC2086 # RK_CFLAGS and RK_STATIC_LIBS are word lists
cc -O2 $RK_CFLAGS capi/bench/grpo_bench.c "$RK_LIBDIR/librewardkit.a" $RK_STATIC_LIBS \
  -o target/capi/grpo_bench
out=""
for _ in $(seq "$ROUNDS"); do
  out+="$("$RK_LIBDIR/examples/bench_grpo" "$N" "$REPS" "$SMALL")"$'\n'
  out+="$(target/capi/grpo_bench "$N" "$REPS" "$SMALL")"$'\n'
done
printf '%s' "$out"
printf '%s' "$out" | awk '
  { side = $1; for (i = 2; i <= NF; i++) { split($i, kv, "="); v[side, kv[1]] = kv[2] }
    if (!((side, "min") in best) || v[side, "min_ns"] < best[side, "min"]) best[side, "min"] = v[side, "min_ns"]
    if (!((side, "small") in best) || v[side, "small16_ns"] < best[side, "small"]) best[side, "small"] = v[side, "small16_ns"]
    sum[side] = v[side, "checksum"] }
  END {
    if (sum["c"] != sum["rust"]) { print "checksums differ: C " sum["c"] ", Rust " sum["rust"]; exit 1 }
    r = best["rust", "min"]; c = best["c", "min"]
    printf "rk_grpo_f32, N = 2^20: Rust %.3f ms, C %.3f ms (minimum of each side); overhead (C - Rust)/Rust = %+.2f %%\n", r / 1e6, c / 1e6, 100 * (c - r) / r
    d = best["c", "small"] - best["rust", "small"]
    printf "fixed cost per call (16 rewards): Rust %.1f ns, C %.1f ns; difference %.1f ns = %.5f %% of the Rust figure at 2^20\n", best["rust", "small"], best["c", "small"], d, 100 * d / r
  }'
