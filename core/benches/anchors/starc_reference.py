"""Transcription of the STARC reference canonicalisations, for literal test data and timing.

Upstream: https://github.com/lucyfarnik/starc (Skalse et al., "STARC: A General Framework For
Quantifying Differences Between Reward Functions", ICLR 2024, arXiv:2309.15257), files
  src/distance/canon/value.py              (commit 254454794cbe3675aa1f18bec393ccf55689cc4c)
  src/distance/canon/value_potential.py    (commit 254454794cbe3675aa1f18bec393ccf55689cc4c)
  src/distance/canon/minimal_potential.py  (commit 2cef79b2187706b2eb5285e06b4a99e8c182c597)
  src/distance/norm.py                     (commit f86919531a9c6e43948f4a6ab414a6b58f74961e)
  src/distance/canon/__init__.py           (commit 254454794cbe3675aa1f18bec393ccf55689cc4c)

The upstream repository carries no license, so nothing is copied: this file is an independent,
line-by-line faithful transcription of the algorithms (same loops, same iteration limits and
stopping rules, same optimizer and learning rate, same dtypes), written for rewardkit. It is not
part of rewardkit's tested code path: tests read only the numbers it produced
(tests/data/distance/), and the benchmark times it (core/benches/anchors/compare_starc.sh).

The one addition is the optional `deadline` argument of `minimal_potential_canon` (default None:
the upstream behaviour), which lets the timing script stop a run that would take longer than its
budget and report the time as a lower bound.
"""

import time

import numpy as np
import torch


class Env:
    """The fields of upstream `env.Env` that the canonicalisations read."""

    def __init__(self, n_s, n_a, discount, transition_dist):
        self.n_s = n_s
        self.n_a = n_a
        self.discount = discount
        self.transition_dist = transition_dist


def _uniform_policy_values(reward, env):
    """Upstream's in-place (Gauss-Seidel) evaluation of the uniform policy: at most 10000
    sweeps, stopping when no state value moved by 1e-8 or more."""
    policy = np.ones((env.n_s, env.n_a)) / env.n_a
    state_vals = np.zeros(env.n_s)
    for i in range(10000):
        prev_vals = state_vals.copy()
        for s in range(env.n_s):
            r_given_a_s_prime = reward[s] + env.discount * state_vals[None, :]
            r_dist = env.transition_dist[s] * policy[s, :, None] * r_given_a_s_prime
            state_vals[s] = r_dist.sum()
        if np.abs(state_vals - prev_vals).max() < 1e-8:
            break
        if i == 9999:
            print("state_val_canon Didn't converge")
    return state_vals


def value_canon(reward, env):
    """Upstream `Value` (VAL): C(R)(s,a,s') = E_{S'~tau(s,a)}[R(s,a,S') + gamma V(S') - V(s)]."""
    state_vals = _uniform_policy_values(reward, env)
    canon = np.zeros_like(reward)
    for s in range(env.n_s):
        for a in range(env.n_a):
            r_given_s_prime = reward[s, a] + env.discount * state_vals - state_vals[s]
            canon[s, a, :] = (env.transition_dist[s, a] * r_given_s_prime).sum()
    return canon


def value_potential_canon(reward, env):
    """Upstream `ValuePotential`: C(R)(s,a,s') = R(s,a,s') - V(s) + gamma V(s')."""
    state_vals = _uniform_policy_values(reward, env)
    canon = np.zeros_like(reward)
    for s in range(env.n_s):
        for a in range(env.n_a):
            for s_prime in range(env.n_s):
                canon[s, a, s_prime] = (
                    reward[s, a, s_prime] - state_vals[s] + env.discount * state_vals[s_prime]
                )
    return canon


def norm(reward, env, ord):
    """Upstream `norm`: ord in {0 (no norm), 1, 2, inf, 'weighted_1', 'weighted_2',
    'weighted_inf'}; weighted norms multiply |x|^p by tau, weighted_inf is max(tau*|x|)."""
    if ord == 0:
        return 1
    is_tensor = type(reward) is torch.Tensor
    if "weighted" in str(ord):
        p = float(ord.split("_")[1])
        if is_tensor:
            tau = torch.tensor(env.transition_dist)
            if p == np.inf:
                return torch.max(torch.abs(reward) * tau)
            x = torch.abs(reward)
            x **= p
            x *= tau
            total = torch.sum(x)
            total **= 1 / p
            return total
        if p == np.inf:
            return np.max(np.abs(reward) * env.transition_dist)
        x = np.abs(reward)
        x **= p
        x *= env.transition_dist
        total = np.sum(x)
        total **= 1 / p
        return total
    if is_tensor:
        return torch.norm(reward, ord)
    return np.linalg.norm(reward.flatten(), ord)


def minimal_potential_canon(reward, env, norm_ord, max_iters=1e6, deadline=None):
    """Upstream `MinimalPotential`: Adam (lr 1e-2) on the potential of a float32 zero start,
    minimising norm(R + gamma phi(s') - phi(s)); stops on a gradient norm below 1e-4, a potential
    unchanged (rtol 1e-3, atol 1e-2) over 10000 steps, or a loss change below 1e-8 over 1000
    steps. Returns (canonical reward, iterations run, stopped by `deadline`)."""
    r = torch.tensor(reward)
    potential = torch.zeros(env.n_s, requires_grad=True)
    frozen_potential = torch.clone(potential)
    loss_frozen = float("inf")
    optimizer = torch.optim.Adam([potential], lr=1e-2)
    for i in range(int(max_iters)):
        optimizer.zero_grad()
        r_prime = r + env.discount * potential[None, None, :] - potential[:, None, None]
        loss = norm(r_prime, env, norm_ord)
        loss.backward()
        optimizer.step()
        if torch.norm(potential.grad, 2) < 1e-4:
            break
        if i % 10000 == 0 and i != 0:
            if torch.isclose(potential, frozen_potential, rtol=1e-3, atol=1e-2).all():
                break
            else:
                frozen_potential = torch.clone(potential)
        if i % 1000 == 0:
            loss_val = loss.item()
            if abs(loss_val - loss_frozen) < 1e-8:
                break
            loss_frozen = loss_val
        if i == max_iters - 1:
            print("minimal_potential_canon Didn't converge")
            return None, i + 1, False
        if deadline is not None and time.perf_counter() > deadline:
            return r_prime.detach().numpy(), i + 1, True
    return r_prime.detach().numpy(), i + 1, False
