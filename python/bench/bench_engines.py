"""rewardkit from Python against the engines' own torch code on the CPU, in the same run.

2^20 rewards per estimator:

* GRPO and RLOO: B = 2^20 responses, outcome rewards (a (B, 1) token matrix), groups of K = 8
  given by verl's uid strings (uuid4 strings repeated per prompt, as verl builds them), rows
  shuffled (as verl's balance_batch leaves them);
* GAE: B·T = 2^20 token rewards (B = 4096, T = 256) with critic values and ragged masks.

Each row times the whole call as an engine makes it, from torch CPU tensors in to torch tensors
out (rewardkit: tensors viewed as NumPy without copies, the estimator, results wrapped back with
`torch.from_numpy`), median of `--reps` runs. The references are verl's registered functions
(`compute_grpo_outcome_advantage` and its vectorized form, `compute_rloo_outcome_advantage` and
its vectorized form, `compute_gae_advantage_return`) and TRL's GRPO advantage block (contiguous
groups, the same torch operations as `GRPOTrainer`). The floor is a copy of the rewards' bytes
measured in the same run.

    python bench/bench_engines.py [--reps 5] [--skip-loops] [--log2n 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

import rewardkit as rk

K = 8


def timeit(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def rk_call(name, rewards, mask, index=None, **kw):
    """An engine's call into rewardkit: tensors in, tensors out."""
    kw = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
    adv, ret = rk.compute_advantage(name, rewards.numpy(), mask.numpy(), index, **kw)
    return torch.from_numpy(adv), torch.from_numpy(ret)


def trl_grpo(rewards, g):
    """TRL's GRPO advantage block (grpo_trainer.py, scale_rewards="group", one reward function)."""
    from trl.trainer.utils import nanstd

    mean = torch.nanmean(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    std = nanstd(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    return (rewards - mean) / (std + 1e-4)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--skip-loops", action="store_true", help="skip verl's per-row Python loops (slow)")
    ap.add_argument("--log2n", type=int, default=20, help="rewards per estimator: 2^log2n (CI smoke: 14)")
    args = ap.parse_args(argv)
    n = 1 << args.log2n
    from verl.trainer.ppo import core_algos as ca

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs), torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}, rewardkit {rk.__version__}")

    # Outcome rewards: 2^20 responses in groups of 8, shuffled. The uids are built as verl builds
    # them (ray_trainer: one uuid4 string per prompt, `DataProto.repeat` = np.repeat, so the K
    # responses of a prompt share one string object), then shuffled (balance_batch).
    import uuid

    prompt_uids = np.array([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, n // K)], dtype=object)
    uids = np.repeat(prompt_uids, K)[rng.permutation(n)]
    scores = torch.from_numpy(rng.integers(0, 2, n).astype(np.float32))[:, None].contiguous()
    mask1 = torch.ones(n, 1)
    # Contiguous copy for TRL (its block needs groups as consecutive rows).
    trl_rewards = scores[:, 0].clone()

    # GAE: (n / 256) x 256 token rewards.
    b, t = n // 256, 256
    lens = torch.from_numpy(rng.integers(1, t + 1, b))
    gmask = (torch.arange(t)[None, :] < lens[:, None]).float()
    trew = torch.zeros(b, t)
    trew[torch.arange(b), lens - 1] = torch.from_numpy(rng.random(b).astype(np.float32))
    vals = torch.from_numpy(rng.standard_normal((b, t)).astype(np.float32))

    floor_src = np.ascontiguousarray(scores.numpy())
    floor_dst = np.empty_like(floor_src)
    floor = timeit(lambda: np.copyto(floor_dst, floor_src), args.reps)

    rows = []

    def row(name, ours, theirs, label):
        t_rk = timeit(ours, args.reps)
        reps = 1 if "loop" in label else args.reps
        t_ref = timeit(theirs, reps)
        rows.append((name, label, t_rk, t_ref))
        print(f"{name:6s} {label:42s} rewardkit {t_rk * 1e3:9.2f} ms ({t_rk / floor:7.1f}x copy)  "
              f"engine {t_ref * 1e3:10.2f} ms  speedup {t_ref / t_rk:7.1f}x", flush=True)

    ours_grpo = lambda: rk_call("grpo", scores, mask1, uids, preset="verl")  # noqa: E731
    ours_rloo = lambda: rk_call("rloo", scores, mask1, uids, preset="verl")  # noqa: E731
    row("GRPO", ours_grpo, lambda: ca.compute_grpo_vectorized_outcome_advantage(scores, mask1, uids),
        "verl compute_grpo_vectorized_outcome_advantage")
    if not args.skip_loops:
        row("GRPO", ours_grpo, lambda: ca.compute_grpo_outcome_advantage(scores, mask1, uids),
            "verl compute_grpo_outcome_advantage (loop)")
    row("GRPO", lambda: rk_call("grpo", trl_rewards[:, None], mask1, num_generations=K, preset="trl"),
        lambda: trl_grpo(trl_rewards, K), "TRL GRPO block (contiguous groups)")
    row("RLOO", ours_rloo, lambda: ca.compute_rloo_vectorized_outcome_advantage(scores, mask1, uids),
        "verl compute_rloo_vectorized_outcome_advantage")
    if not args.skip_loops:
        row("RLOO", ours_rloo, lambda: ca.compute_rloo_outcome_advantage(scores, mask1, uids),
            "verl compute_rloo_outcome_advantage (loop)")
    row("GAE", lambda: rk_call("gae", trew, gmask, values=vals, gamma=1.0, lam=0.95, preset="verl"),
        lambda: ca.compute_gae_advantage_return(trew, vals, gmask, 1.0, 0.95),
        "verl compute_gae_advantage_return")

    # Agreement check on the same inputs (so the timed code computes the same thing).
    a, _ = ours_grpo()
    v, _ = ca.compute_grpo_vectorized_outcome_advantage(scores, mask1, uids)
    np.testing.assert_allclose(a.numpy(), v.numpy(), rtol=2e-5, atol=2e-5)
    a, _ = rk_call("gae", trew, gmask, values=vals, gamma=1.0, lam=0.95, preset="verl")
    v, _ = ca.compute_gae_advantage_return(trew, vals, gmask, 1.0, 0.95)
    np.testing.assert_allclose(a.numpy(), v.numpy(), rtol=1e-4, atol=1e-4)
    print(f"floor: copy of 2^{args.log2n} float32 = {floor * 1e6:.1f} us; results agree with the engines")
    worst = min(r[3] / r[2] for r in rows)
    print(f"smallest speedup: {worst:.1f}x")
    return rows


if __name__ == "__main__":
    main()
