"""Times the STARC reference canonicalisations (transcribed in starc_reference.py) on S = 256,
A = 8, gamma = 0.95, for the comparison printed by `cargo bench -p rewardkit-core --bench
distances` (see compare_starc.sh, which runs both in one session).

The MDP and rewards follow the Rust benchmark's recipe (dense kernel with entries uniform in
[1e-3, 1 + 1e-3) normalised per row, rewards uniform in [-1, 1)); the random streams differ.
Each `MinimalPotential` run is stopped at `--cap` seconds if the reference's own stopping rules
have not fired by then; the time is then a lower bound (reported as capped).

Times are both wall-clock and process CPU time (`time.process_time`, one torch thread): on a
shared machine the CPU time is the stable figure, and the Rust side measures the same.

Usage: python core/benches/anchors/time_starc_reference.py OUT [--cap SECONDS] [--quick]
Writes one line per canonicalisation to OUT: `name wall_seconds cpu_seconds capped iterations`.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import starc_reference as sr  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--cap", type=float, default=180.0)
    ap.add_argument("--quick", action="store_true", help="S = 32 smoke run")
    args = ap.parse_args()
    n_s, n_a, gamma = (32 if args.quick else 256), 8, 0.95
    rng = np.random.default_rng(5)
    tau = rng.uniform(size=(n_s, n_a, n_s)) + 1e-3
    tau /= tau.sum(axis=2, keepdims=True)
    reward = rng.uniform(-1.0, 1.0, size=(n_s, n_a, n_s))
    env = sr.Env(n_s, n_a, gamma, tau)
    torch.set_num_threads(1)
    lines = []

    t0, c0 = time.perf_counter(), time.process_time()
    sr.value_potential_canon(reward, env)
    t, c = time.perf_counter() - t0, time.process_time() - c0
    lines.append(f"value_potential {t:.6f} {c:.6f} 0 0")
    print(f"ValuePotential: {t:.3f} s wall, {c:.3f} s CPU", flush=True)

    for ord_ in [2, "weighted_2", 1, "weighted_1"]:
        torch.manual_seed(0)
        t0, c0 = time.perf_counter(), time.process_time()
        _, iters, capped = sr.minimal_potential_canon(
            reward, env, ord_, deadline=t0 + args.cap
        )
        t, c = time.perf_counter() - t0, time.process_time() - c0
        lines.append(f"minimal_potential_{ord_} {t:.6f} {c:.6f} {int(capped)} {iters}")
        print(
            f"MinimalPotential {ord_}: {t:.3f} s wall, {c:.3f} s CPU, {iters} Adam steps"
            + (" (capped: lower bound)" if capped else ""),
            flush=True,
        )

    with open(args.out, "w") as f:
        f.write(f"# S={n_s} A={n_a} gamma={gamma} torch_threads=1 numpy={np.__version__} "
                f"torch={torch.__version__}\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
