"""The Ray example on a local 2-worker cluster: the gathered result equals one process's."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import ray_rewards  # noqa: E402


def test_ray_matches_one_process_bit_for_bit():
    k = 8
    batch = ray_rewards.make_batch(prompts=500, k=k, seed=3)
    r1, a1 = ray_rewards.score(batch)
    r2, a2 = ray_rewards.run_ray(batch, workers=2, k=k)
    np.testing.assert_array_equal(r2, r1)
    np.testing.assert_array_equal(a2, a1)
    assert np.abs(a1).max() > 0.5 and len(r1) == 4000
    # The shards hold whole groups: a group split across shards would change its advantages.
    sizes = [len(s["uid"]) for s in ray_rewards.shards(batch, 2, k)]
    assert sum(sizes) == 4000 and all(s % k == 0 for s in sizes)


def test_example_main_exits_zero():
    assert ray_rewards.main(["--prompts", "200", "--k", "4", "--workers", "2"]) == 0
