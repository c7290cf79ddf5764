"""Writes tests/data/distance/reference_canonicalizations.json: the canonical rewards the two
reference transcriptions (starc_reference.py, evaluating_rewards_reference.py) compute on two
small fixed MDPs, with the inputs. Run from the repository root:

    python core/benches/anchors/gen_distance_data.py

Deterministic (fixed seed); numbers are written with Python's shortest round-trip repr.
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import evaluating_rewards_reference as er  # noqa: E402
import starc_reference as sr  # noqa: E402


def case(name, tau, gamma, reward, state_dist):
    n_s, n_a, _ = tau.shape
    env = sr.Env(n_s, n_a, gamma, tau)
    out = {
        "name": name,
        "n_states": n_s,
        "n_actions": n_a,
        "gamma": gamma,
        "tau": tau.flatten().tolist(),
        "reward": reward.flatten().tolist(),
        "state_dist": state_dist.tolist(),
        "starc_value": sr.value_canon(reward, env).flatten().tolist(),
        "starc_value_potential": sr.value_potential_canon(reward, env).flatten().tolist(),
        "er_fully_connected_random": er.fully_connected_random_canonical_reward(
            reward, gamma
        ).flatten().tolist(),
        "er_fully_connected_greedy": er.fully_connected_greedy_canonical_reward(
            reward, gamma
        ).flatten().tolist(),
        "er_fully_connected_greedy_state_dist": er.fully_connected_greedy_canonical_reward(
            reward, gamma, state_dist
        ).flatten().tolist(),
        "er_singleton_shaping": er.singleton_shaping_canonical_reward(
            reward, gamma
        ).flatten().tolist(),
        "starc_minimal_potential": {},
    }
    for ord_ in [1, 2, "weighted_1", "weighted_2"]:
        torch.manual_seed(0)
        canon, iters, _ = sr.minimal_potential_canon(reward, env, ord_)
        loss = float(sr.norm(canon, env, ord_))
        out["starc_minimal_potential"][str(ord_)] = {
            "canonical": canon.flatten().tolist(),
            "norm": loss,
            "adam_iterations": iters,
        }
    return out


def main():
    rng = np.random.default_rng(20240914)
    # Case 1: S = 3, A = 2, gamma = 0.9, transitions with zeros (sparse form differs).
    tau1 = np.array(
        [
            [[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]],
            [[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]],
            [[0.1, 0.1, 0.8], [0.5, 0.0, 0.5]],
        ]
    )
    r1 = np.round(rng.uniform(-1, 1, size=(3, 2, 3)), 2)
    # Case 2: S = 4, A = 3, gamma = 0.5, dense rational transitions, real rewards.
    w = rng.integers(1, 10, size=(4, 3, 4)).astype(float)
    tau2 = w / w.sum(axis=2, keepdims=True)
    r2 = rng.uniform(-1, 1, size=(4, 3, 4))
    cases = [
        case("s3a2_gamma0.9_sparse", tau1, 0.9, r1, np.array([0.2, 0.3, 0.5])),
        case("s4a3_gamma0.5_dense", tau2, 0.5, r2, np.array([0.1, 0.2, 0.3, 0.4])),
    ]
    meta = {
        "generator": "core/benches/anchors/gen_distance_data.py",
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cases": cases,
    }
    path = os.path.join("tests", "data", "distance", "reference_canonicalizations.json")
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
