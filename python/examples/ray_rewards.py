"""Score a large RL batch with a rewardkit reward pipeline across the workers of a local Ray
cluster, and check that the result equals one process's, bit for bit.

A GRPO step's reward math on B = G·K responses: a weighted reward pipeline (correctness, cosine
length scaling, an n-gram repetition penalty, DAPO's overlong penalty) per response, then GRPO
advantages per prompt group. The batch is split into shards of whole prompt groups (what verl's
and OpenRLHF's Ray workers hold); each Ray task imports rewardkit and runs the same exact math on
its shard. Because every number depends only on its response and its group (summed in row
order), the gathered result is identical to the single-process result.

    python examples/ray_rewards.py --prompts 20000 --k 8 --workers 2

Exit status 0 if the results are identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rewardkit as rk


def make_batch(prompts: int, k: int, seed: int = 0, vocab: int = 50, max_len: int = 256) -> dict:
    """A synthetic batch: G prompts × K responses, rows grouped by prompt (uid strings)."""
    rng = np.random.default_rng(seed)
    b = prompts * k
    lengths = rng.integers(1, max_len + 1, size=b)
    tokens = [rng.integers(0, vocab, size=n).astype(np.uint32) for n in lengths]
    return {
        "uid": np.array([f"prompt-{i // k}" for i in range(b)], dtype=object),
        "correct": rng.random(b) < 0.4,
        "lengths": lengths.astype(np.uint32),
        "tokens": tokens,
    }


def pipeline() -> rk.Pipeline:
    return rk.Pipeline([
        (rk.Correctness(), 1.0),
        (rk.CosineLength(max_len=256, correct=(1.0, 0.5), wrong=(-1.0, 0.0), exceed=-1.0), 0.5),
        (rk.RepetitionPenalty(ngram=4, penalty=-1.0), 0.2),
        (rk.Overlong(max_len=256, buffer=32), 1.0),
    ])


def score(shard: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rewards (B) and GRPO advantages (B) of one shard of whole prompt groups."""
    total, _ = pipeline()(correct=shard["correct"], lengths=shard["lengths"], tokens=shard["tokens"])
    tok = total[:, None]  # one outcome reward per response: a (B, 1) token matrix
    adv, _ = rk.compute_advantage("grpo", tok, np.ones_like(tok, dtype=bool), shard["uid"])
    return total, adv[:, 0]


def shards(batch: dict, n: int, k: int) -> list[dict]:
    """`n` shards of whole groups (contiguous rows of `k`)."""
    b = len(batch["uid"])
    cuts = [round(i * (b // k) / n) * k for i in range(n + 1)]
    return [{key: v[lo:hi] for key, v in batch.items()} for lo, hi in zip(cuts, cuts[1:])]


def run_ray(batch: dict, workers: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    import sys

    import ray
    from ray import cloudpickle

    # Ship this file's functions by value: the workers import rewardkit, not this example.
    if score.__module__ != "__main__":
        cloudpickle.register_pickle_by_value(sys.modules[score.__module__])
    ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        remote = ray.remote(score)
        refs = [remote.remote(s) for s in shards(batch, workers, k)]
        parts = ray.get(refs)
    finally:
        ray.shutdown()
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=20000)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    batch = make_batch(args.prompts, args.k)
    t0 = time.perf_counter()
    r1, a1 = score(batch)
    t1 = time.perf_counter()
    r2, a2 = run_ray(batch, args.workers, args.k)
    t2 = time.perf_counter()
    same = np.array_equal(r1, r2) and np.array_equal(a1, a2)
    print(f"responses: {len(r1)}  one process: {t1 - t0:.2f} s  ray ({args.workers} workers, incl. start): "
          f"{t2 - t1:.2f} s  identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
