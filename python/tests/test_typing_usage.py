"""A usage file type-checked by ``mypy --strict`` against ``rewardkit/_native.pyi`` in
``python/ci.sh`` (it also runs: pytest imports it as a module of plain calls).

It exercises one call of each area with the types a user writes; a stub that drifts from the
package (a wrong return type, a missing parameter) fails mypy here or stubtest in ci.sh.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import rewardkit as rk


def usage() -> float:
    mask = np.ones((2, 3), dtype=bool)
    rewards = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    adv, ret = rk.compute_advantage("grpo", rewards, mask, ["a", "a"])
    loss, grad, parts = rk.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), adv, mask, clip_ratio=0.2)
    agg = rk.Aggregation("seq-mean-token-mean")
    share: float = agg.value(parts) + loss
    kl, _ = rk.kl_penalty(np.zeros((2, 3)), np.zeros((2, 3)))
    lp, stats = rk.logprobs_forward(np.zeros((2, 3, 5)), np.zeros((2, 3), dtype=np.int64))
    pref_loss, g_c, g_r = rk.preference_loss(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2))
    term = rk.Correctness()
    r: NDArray[np.float64] = term(correct=[True, False])
    total, parts_mat = rk.Pipeline([(term, 1.0), (rk.WellFormed(), 0.5)])(
        correct=[True, False], well_formed=[True, True])
    hapo = rk.Hapo()
    h = hapo(keys=["q", "q"], lengths=[3, 4], correct=[True, True], update=True)
    prev: float | None = hapo.history("q")
    tp = rk.ThinkPrune(4096, 2048, 1024, rule="interval", interval=10)
    limit: int = tp.step(10)
    shaper = rk.RewardShaper.par()
    shaped = shaper([1.0], [10], [[0.5, 0.2]])
    phi, s = rk.tilt([0.5, 0.5], [0.0, 1.0], 1.0)
    sol = rk.beta_for_kl([0.5, 0.5], [0.0, 1.0], 0.1)
    mdp = rk.Mdp(np.ones((1, 2, 1)), [1.0], 0.5)
    reg: float = mdp.regret(np.array([[1.0, 3.0]]), np.array([0]))
    actions, values, q = mdp.optimal_policy(np.array([[1.0, 3.0]]))
    report = mdp.diagnose(np.array([[1.0, 3.0]]), np.array([[2.0, 6.0]]), tol=1e-9)
    relation: str = report["relation"]
    pos, neg = rk.Oreal.token_weights(np.zeros((1, 2)), np.ones((1, 2), dtype=bool))
    keep = rk.filtration_select([0.1, 0.2], [0, 0], "best_of_n")
    d: float = rk.starc_distance(np.ones((1, 2, 1)), [1.0], 0.5, np.zeros((1, 2)), np.ones((1, 2)))
    try:
        rk.tilt([0.5, 0.5], [0.0, 1.0], -1.0)
    except rk.InvalidParamError as e:
        assert isinstance(e, ValueError)
    return (share + float(kl.sum()) + float(lp.sum()) + float(stats.sum()) + pref_loss
            + float(grad.sum() + g_c.sum() + g_r.sum() + r.sum() + total.sum() + parts_mat.sum() + h.sum())
            + (prev or 0.0) + limit + float(shaped.sum() + phi.sum()) + s["kl"] + float(sol["beta"])
            + reg + float(actions.sum() + values.sum() + q.sum() + pos.sum() + neg.sum() + keep.sum())
            + d + float(ret.sum()))


def test_usage_runs() -> None:
    assert np.isfinite(usage())
