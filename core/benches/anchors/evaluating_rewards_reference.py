"""Transcription of the evaluating-rewards tabular canonicalisations, for literal test data.

Upstream: https://github.com/HumanCompatibleAI/evaluating-rewards (Gleave et al., "Quantifying
Differences in Reward Functions", ICLR 2021, arXiv:2006.13900), file
  src/evaluating_rewards/distances/tabular.py (commit 4eb398f9d42b298989ded7208355a7f40cbc859d):
  `shape`, `fully_connected_random_canonical_reward`, `fully_connected_greedy_canonical_reward`,
  `singleton_shaping_canonical_reward`.

Upstream is Apache-2.0 (Copyright 2019 DeepMind Technologies Limited, 2020 Adam Gleave). This file
is an independent transcription of those functions' definitions (same operations in the same
order: numpy weighted averages, max over actions, then the shaping), written for rewardkit; it is
not part of rewardkit's tested code path, which reads only the numbers it produced
(tests/data/distance/).
"""

import numpy as np


def _check_dist(dist):
    assert np.allclose(np.sum(dist), 1)
    assert np.all(dist >= 0)


def shape(reward, potential, discount):
    """R(s,a,s') + discount * potential(s') - potential(s)."""
    assert reward.ndim == 3 and potential.ndim == 1
    return reward + discount * potential[None, None, :] - potential[:, None, None]


def fully_connected_random_canonical_reward(rew, discount, state_dist=None, action_dist=None):
    """EPIC: shape(R, mean_{a, s'} R(s, a, s'), gamma) - gamma * mean_s of that mean."""
    assert 0 <= discount <= 1
    ns, _, ns2 = rew.shape
    assert ns == ns2
    if state_dist is not None:
        _check_dist(state_dist)
    if action_dist is not None:
        _check_dist(action_dist)
    mean_rew_sa = np.average(rew, axis=2, weights=state_dist)
    mean_rew_s = np.average(mean_rew_sa, axis=1, weights=action_dist)
    mean_rew = np.average(mean_rew_s, axis=0, weights=state_dist)
    return shape(rew, mean_rew_s, discount) - discount * mean_rew


def fully_connected_greedy_canonical_reward(rew, discount, state_dist=None):
    """Greedy variant: the potential is max_a E_{s'~D_S} R(s, a, s')."""
    assert 0 <= discount <= 1
    ns, _, ns2 = rew.shape
    assert ns == ns2
    if state_dist is None:
        state_dist = np.ones(ns) / ns
    _check_dist(state_dist)
    mean_rew_sa = np.average(rew, axis=2, weights=state_dist)
    optimal_rew_s = np.max(mean_rew_sa, axis=1)
    mean_rew = np.average(optimal_rew_s, axis=0, weights=state_dist)
    return shape(rew, optimal_rew_s, discount) - discount * mean_rew


def singleton_shaping_canonical_reward(rew, discount):
    """Every state absorbing, greedy policy: potential max_a R(s, a, s) / (1 - gamma)."""
    if discount >= 1:
        raise ValueError(f"discount '{discount}' >= 1: only undiscounted MDPs supported.")
    assert discount >= 0
    ns, _, ns2 = rew.shape
    assert ns == ns2
    instantaneous_reward = rew[np.arange(ns), :, np.arange(ns)]
    greedy_reward = instantaneous_reward.max(1)
    value = 1 / (1 - discount) * greedy_reward
    return shape(rew, value, discount)
