"""Tabular MDPs from Python: the core's doc literals (`core/src/mdp/solve.rs`), dense vs sparse,
solver agreement (exact, iterative, value iteration, policy iteration), and bad input."""

import math

import numpy as np
import pytest

import rewardkit as rk

# 2-state chain, action 0 stays, action 1 switches; γ = 0.5.
TAU = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]).reshape(2, 2, 2)
R = np.array([0.0, 1.0])  # reward 1 in state 1


def chain():
    return rk.Mdp(TAU, [1.0, 0.0], 0.5)


def test_policy_evaluation_literals():
    m = chain()
    assert (m.n_states, m.n_actions, m.gamma, m.is_sparse) == (2, 2, 0.5, False)
    # Always switch: V(0) = 0.5·V(1), V(1) = 1 + 0.5·V(0) ⇒ V = (2/3, 4/3).
    v = m.policy_values(R, np.array([1, 1]), "exact")
    assert abs(v[0] - 2 / 3) < 1e-15 and abs(v[1] - 4 / 3) < 1e-15
    vi = m.policy_values(R, np.array([1, 1]), "iterative", tol=1e-12)
    np.testing.assert_allclose(vi, v, atol=1e-12)
    # A stochastic policy equal to the deterministic one gives the same values.
    np.testing.assert_allclose(m.policy_values(R, np.array([[0.0, 1.0], [0.0, 1.0]])), v, rtol=1e-14)
    # One state, reward 1, γ = 0.5: V = 1/(1 − γ) = 2 under any policy.
    one = rk.Mdp(np.ones((1, 2, 1)), [1.0], 0.5)
    assert abs(one.policy_values(np.array([1.0]), "uniform", "iterative", tol=1e-12)[0] - 2.0) <= 1e-12


def test_optimal_values_and_policy():
    m = chain()
    v, sweeps = m.value_iteration(R, 1e-12, 1000)
    # Optimal: switch from 0, stay in 1: V(1) = 2, V(0) = 1.
    assert abs(v[0] - 1.0) < 1e-12 and abs(v[1] - 2.0) < 1e-12 and sweeps > 1
    actions, values, q = m.optimal_policy(R)
    assert actions.tolist() == [1, 0] and abs(values[1] - 2.0) < 1e-15
    assert q.shape == (2, 2)
    np.testing.assert_allclose(q.max(axis=1), values, rtol=1e-14)


def test_returns_and_regret():
    m = rk.Mdp(np.ones((1, 2, 1)), [1.0], 0.5)
    r = np.array([[1.0, 3.0]])
    assert m.policy_return(r) == 4.0  # uniform: 2/(1 − 0.5)
    assert m.regret(r, np.array([0])) == 4.0  # 6 − 2
    assert m.regret(r, np.array([1])) == 0.0
    assert m.normalized_regret(r, np.array([0])) == 1.0
    assert m.normalized_regret(r) == 0.5


def test_sparse_equals_dense():
    rng = np.random.default_rng(1)
    s, a = 6, 3
    tau = rng.random((s, a, s)) * (rng.random((s, a, s)) < 0.5)
    tau[..., 0] += 0.1  # every row has a successor
    tau /= tau.sum(axis=2, keepdims=True)
    mu = np.full(s, 1 / s)
    dense = rk.Mdp(tau, mu, 0.9)
    rows = tau.reshape(s * a, s)
    nz = [np.nonzero(row)[0] for row in rows]
    offsets = np.concatenate([[0], np.cumsum([len(n) for n in nz])])
    nxt = np.concatenate(nz)
    probs = np.concatenate([row[n] for row, n in zip(rows, nz)])
    sparse = rk.Mdp.sparse(s, a, offsets, nxt, probs, mu, 0.9)
    assert sparse.is_sparse
    r = rng.normal(size=(s, a, s))
    pol = rng.random((s, a))
    pol /= pol.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(sparse.policy_values(r, pol), dense.policy_values(r, pol), rtol=1e-12)
    assert abs(sparse.regret(r, pol) - dense.regret(r, pol)) < 1e-10
    assert dense.regret(r, pol) >= 0.0
    # Value iteration and policy iteration agree.
    np.testing.assert_allclose(dense.value_iteration(r, 1e-11)[0], dense.optimal_policy(r)[1], atol=1e-10)


def test_mdp_errors():
    with pytest.raises(rk.InvalidParamError):
        rk.Mdp(TAU, [1.0, 0.0], 1.0)  # γ = 1
    with pytest.raises(rk.InvalidParamError):  # a row not summing to 1
        rk.Mdp(np.full((1, 1, 1), 0.5), [1.0], 0.9)
    with pytest.raises(rk.ShapeMismatchError):
        rk.Mdp(np.ones((2, 2)), [1.0, 0.0], 0.5)
    with pytest.raises(rk.RewardkitError):
        rk.Mdp(TAU, [1.0], 0.5)
    with pytest.raises(rk.RewardkitError):  # offsets of the wrong length
        rk.Mdp.sparse(2, 1, [0, 1], [1], [1.0], [1.0, 0.0], 0.9)
    m = chain()
    with pytest.raises(rk.ShapeMismatchError):
        m.policy_values(np.ones(3))
    with pytest.raises(rk.RewardkitError):  # action 2 of 2
        m.policy_values(R, np.array([2, 0]))
    with pytest.raises(rk.InvalidParamError):  # not a distribution
        m.policy_values(R, np.array([[0.3, 0.3], [0.5, 0.5]]))
    with pytest.raises(rk.ShapeMismatchError):
        m.policy_values(R, np.array([0, 1, 1]))
    with pytest.raises(rk.UnknownNameError):
        m.policy_values(R, "greedy")
    with pytest.raises(rk.UnknownNameError):
        m.policy_values(R, None, "lu")
    with pytest.raises(rk.InvalidParamError):  # sweep budget exhausted
        m.value_iteration(R, 1e-12, 1)
    with pytest.raises(rk.NonFiniteError):
        m.regret(np.array([0.0, np.nan]))


# ------------------------------------------------------------------------------------------------
# Preference models (Knox et al. 2024), `core/src/mdp/preference.rs`
# ------------------------------------------------------------------------------------------------


def knox():
    # 2 states, 1 action, every transition to state 1; γ = 0.5.
    return rk.Mdp(np.array([0.0, 1.0, 0.0, 1.0]).reshape(2, 1, 2), [1.0, 0.0], 0.5)


A_SEG, B_SEG = ([0, 1], [0]), ([1, 1], [0])


def test_preference_logit_and_loss_literals():
    m = knox()
    r = np.array([0.0, 2.0, 0.0, 1.0]).reshape(2, 1, 2)  # R(0, 0, 1) = 2, R(1, 0, 1) = 1
    assert m.preference_logit(r, A_SEG, B_SEG) == 1.0
    # One action: every advantage is 0, so the regret model is indifferent.
    assert m.preference_logit(r, A_SEG, B_SEG, "regret") == 0.0
    loss, g = m.preference_loss(np.zeros((2, 1, 2)), [(A_SEG, B_SEG, 1.0)])
    assert abs(loss - math.log(2.0)) < 1e-15  # z = 0
    np.testing.assert_array_equal(g.ravel(), [0.0, -0.5, 0.0, 0.5])


def test_preference_loss_gradients_by_finite_differences():
    rng = np.random.default_rng(4)
    s, a = 3, 2
    tau = rng.random((s, a, s))
    tau /= tau.sum(axis=2, keepdims=True)
    m = rk.Mdp(tau, np.full(s, 1 / s), 0.7)
    data = [(([0, 1, 2], [1, 0]), ([2, 0, 1], [0, 1]), 1.0), (([1, 1], [1]), ([0, 2], [0]), 0.3)]
    r = rng.normal(size=(s, a, s))
    for model in ["partial_return", "regret"]:
        _, g = m.preference_loss(r, data, model)
        num = np.zeros_like(r)
        h = 1e-6
        for i in np.ndindex(r.shape):
            rp, rm_ = r.copy(), r.copy()
            rp[i] += h
            rm_[i] -= h
            num[i] = (m.preference_loss(rp, data, model)[0] - m.preference_loss(rm_, data, model)[0]) / (2 * h)
        np.testing.assert_allclose(g, num, atol=1e-7)


def test_fit_reward_recovers_the_logit():
    # σ(1) of the labellers prefer a: the fit recovers R(0,0,1) − R(1,0,1) = 1.
    y = 1.0 / (1.0 + math.exp(-1.0))
    r, loss, steps = knox().fit_reward([(A_SEG, B_SEG, y)], steps=3000, learning_rate=0.05, l2=0.0)
    assert r.shape == (2, 1, 2) and steps == 3000
    assert abs(r[0, 0, 1] - r[1, 0, 1] - 1.0) < 1e-3


def test_preference_errors():
    m = knox()
    z = np.zeros((2, 1, 2))
    with pytest.raises(rk.UnknownNameError):
        m.preference_logit(z, A_SEG, B_SEG, "boltzmann")
    with pytest.raises(rk.LengthMismatchError):  # k + 1 states for k actions
        m.preference_logit(z, ([0, 1], [0, 0]), B_SEG)
    with pytest.raises(rk.InvalidParamError):  # state 5 of 2
        m.preference_logit(z, ([0, 5], [0]), B_SEG)
    with pytest.raises(rk.ShapeMismatchError):
        m.preference_logit(np.zeros((2, 1)), A_SEG, B_SEG)
    with pytest.raises(rk.InvalidParamError):  # label outside [0, 1]
        m.preference_loss(z, [(A_SEG, B_SEG, 1.5)])
    with pytest.raises(rk.EmptyInputError):
        m.preference_loss(z, [])
    with pytest.raises(TypeError):
        m.preference_loss(z, [(A_SEG, B_SEG)])
    with pytest.raises(rk.InvalidParamError):
        m.fit_reward([(A_SEG, B_SEG, 1.0)], steps=0)


def test_diagnose_literals():
    # The chain, γ = 0.5, μ = (1, 0); the reference rewards leaving state 1.
    m = chain()
    same = m.diagnose(R, np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert same["relation"] == "identical" and same["alpha"] == 1.0
    assert same["regret"] == 0.0 and same["disagreements"] == []
    scaled = m.diagnose(R, 2.5 * R)
    assert scaled["relation"] == "rescaled" and abs(scaled["alpha"] - 2.5) < 1e-12
    # Φ = (2, −4): R(s, a, s') + 0.5·Φ(s') − Φ(s) (rows over s' = 0, 1).
    shaped = np.array([[[-1.0, -4.0], [-1.0, -4.0]], [[6.0, 3.0], [6.0, 3.0]]])
    assert m.diagnose(R, shaped)["relation"] == "shaped"
    both = np.array([[[-1.0, -4.0], [-1.0, -4.0]], [[7.0, 4.0], [7.0, 4.0]]])
    d = m.diagnose(R, both)
    assert d["relation"] == "rescaled+shaped" and abs(d["alpha"] - 2.0) < 1e-12
    # Reward on a transition that cannot happen (staying in 0 never reaches 1).
    moved = np.array([[[0.0, 5.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    assert m.diagnose(R, moved)["relation"] == "same-ordering"
    assert m.diagnose(R, np.array([3.0, 3.0]))["relation"] == "trivial-proposal"
    assert m.diagnose(np.array([3.0, 3.0]), R)["relation"] == "trivial-reference"
    # The swapped goal: V*_R = (1, 2); the proposal stays in 0 (J_R = 0 vs 1) and switches away
    # from 1; Q*_R(0, stay) = 0.5 and Q*_R(1, switch) = 1.5 each lose 0.5.
    d = m.diagnose(R, np.array([1.0, 0.0]))
    assert d["relation"] == "different" and d["alpha"] is None
    assert abs(d["regret"] - 1.0) < 1e-12 and abs(d["normalized_regret"] - 1.0) < 1e-12
    assert abs(d["reverse_regret"] - 1.0) < 1e-12 and abs(d["starc"] - 2.0) < 1e-12
    assert d["reference_policy"].tolist() == [1, 0] and d["proposed_policy"].tolist() == [0, 1]
    assert d["reference_policy"].dtype == np.int64
    assert [(x["state"], x["reference_action"], x["proposed_action"]) for x in d["disagreements"]] == [
        (0, 1, 0),
        (1, 0, 1),
    ]
    assert all(abs(x["value_lost"] - 0.5) < 1e-12 for x in d["disagreements"])


def test_diagnose_sparse_and_errors():
    m = chain()
    sparse = rk.Mdp.sparse(2, 2, [0, 1, 2, 3, 4], [0, 1, 1, 0], [1.0] * 4, [1.0, 0.0], 0.5)
    for mdp in (m, sparse):
        assert mdp.diagnose(R, np.array([1.0, 0.0]), tol=1e-6)["relation"] == "different"
    for tol in (0.0, 1.0, -1.0, float("nan")):
        with pytest.raises(rk.InvalidParamError):
            m.diagnose(R, R, tol=tol)
    with pytest.raises(rk.ShapeMismatchError):
        m.diagnose(R, np.zeros(3))
    with pytest.raises(rk.NonFiniteError):
        m.diagnose(R, np.array([0.0, np.nan]))
