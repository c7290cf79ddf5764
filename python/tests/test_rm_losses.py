"""ODIN, WARM and OREAL's losses from Python: the core's doc literals
(`core/src/loss/{reward_model,oreal}.rs`, hand-computed there), central finite differences of
every gradient, shards adding up to the whole batch, and bad input."""

import math

import numpy as np
import pytest

import rewardkit as rk


def fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def test_odin_literal_and_gradient():
    # One pair: chosen (q, l) = (1, 0), rejected (0, 1); lengths 10 and 20.
    v, gq, gl = rk.odin_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0]), [10, 20])
    # Margin 0: ln 2. ρ(q, len) = −1, ρ(l, len) = 1: length = 1 − 1 = 0.
    assert abs(v["vanilla"] - math.log(2.0)) < 1e-15 and v["length"] == 0.0
    rng = np.random.default_rng(0)
    q, lh = rng.normal(size=6), rng.normal(size=6)
    lens = [12, 40, 7, 30, 22, 5]
    _, gq, gl = rk.odin_loss(q, lh, lens, 0.7)
    np.testing.assert_allclose(gq, fd(lambda x: rk.odin_loss(x, lh, lens, 0.7)[0]["total"], q), atol=1e-7)
    np.testing.assert_allclose(gl, fd(lambda x: rk.odin_loss(q, x, lens, 0.7)[0]["total"], lh), atol=1e-7)


def test_odin_orthogonal():
    o, gq, gl = rk.odin_orthogonal(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]]))
    assert o == 0.0  # orthogonal heads
    o, _, _ = rk.odin_orthogonal(np.array([[1.0, 0.0]]), np.array([[3.0, 0.0]]))
    assert abs(o - 3.0 / (3.0 + 1e-6)) < 1e-15  # parallel: |cos| = 1, up to ε
    rng = np.random.default_rng(1)
    wq, wl = rng.normal(size=(2, 4)), rng.normal(size=(3, 4))
    _, gq, gl = rk.odin_orthogonal(wq, wl, 0.5)
    np.testing.assert_allclose(gq, fd(lambda x: rk.odin_orthogonal(x, wl, 0.5)[0], wq), atol=1e-7)
    np.testing.assert_allclose(gl, fd(lambda x: rk.odin_orthogonal(wq, x, 0.5)[0], wl), atol=1e-7)


def test_warm_average():
    merged = rk.warm_average([np.array([1.0, -2.0], np.float32), np.array([3.0, 0.0], np.float32),
                              np.array([2.0, 5.0], np.float32)])
    assert merged.dtype == np.float32
    np.testing.assert_array_equal(merged, [2.0, 1.0])
    np.testing.assert_array_equal(rk.warm_average([np.ones((2, 2)), 3 * np.ones((2, 2))]), 2 * np.ones((2, 2)))


def test_oreal_loss_literal_gradient_and_shards():
    mask = np.ones((2, 2), bool)
    logp = np.array([[-0.5, -1.0], [-2.0, -0.1]])
    v, g = rk.oreal_loss(logp, np.array([1.0, -1.0]), [True, False], mask, kl_type=None)
    assert v["positive"] == 0.75  # (1·1/2)·(0.5 + 1.0)
    assert v["negative"] == 0.5  # −(0.5·(−1)/2)·2
    np.testing.assert_array_equal(g, [[-0.5, -0.5], [0.25, 0.25]])
    assert rk.oreal_counts([True, False], np.array([[1, 1], [1, 0]], bool)) == (2, 1, 3, 2)
    # With the KL term (k3): finite differences of the total.
    rng = np.random.default_rng(2)
    b, t = 4, 5
    lp, ref = -rng.random((b, t)), -rng.random((b, t))
    m = rng.random((b, t)) < 0.8
    m[:, 0] = True
    adv, pos = rng.normal(size=b), [True, False, True, False]
    kw = dict(ref_logp=ref, kl_coef=0.3)
    v, g = rk.oreal_loss(lp, adv, pos, m, **kw)
    assert v["kl"] > 0.0
    num = fd(lambda x: rk.oreal_loss(x, adv, pos, m, **kw)[0]["total"], lp)
    # The negative term is REINFORCE's surrogate: its value −(f⁻·A/N⁻)·Σ w⁻·exp(ℓ − sg(ℓ)) does
    # not move with ℓ, its gradient is −(f⁻·A/N⁻)·w⁻ (w⁻ = 1). Finite differences see the rest.
    n_neg = int(m[~np.array(pos)].sum())
    surrogate = np.where(np.array(pos)[:, None], 0.0, -0.5 * adv[:, None] / n_neg)
    np.testing.assert_allclose(g, np.where(m, num + surrogate, 0.0), atol=1e-7)
    # Two shards against the whole batch's counts add up to the whole batch.
    c1, c2 = rk.oreal_counts(pos[:2], m[:2]), rk.oreal_counts(pos[2:], m[2:])
    total = tuple(a + b for a, b in zip(c1, c2))
    v1, g1 = rk.oreal_loss(lp[:2], adv[:2], pos[:2], m[:2], total=total, ref_logp=ref[:2], kl_coef=0.3)
    v2, g2 = rk.oreal_loss(lp[2:], adv[2:], pos[2:], m[2:], total=total, ref_logp=ref[2:], kl_coef=0.3)
    assert abs(v1["total"] + v2["total"] - v["total"]) < 1e-12
    np.testing.assert_allclose(np.concatenate([g1, g2]), g, atol=1e-15)
    # float32 is the float64 result rounded (to float32 precision).
    v32, g32 = rk.oreal_loss(lp.astype(np.float32), adv.astype(np.float32), pos, m, **kw)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g, rtol=1e-5, atol=1e-6)


def test_oreal_rm_loss():
    # z̄ = 0, y = 1: ℓ = ln 2; ∂/∂z_t = (½ − 1)/2.
    v, g = rk.oreal_rm_loss(np.array([[1.0, -1.0]]), [True], np.ones((1, 2), bool), 1)
    assert abs(v - math.log(2.0)) < 1e-15
    np.testing.assert_array_equal(g, [[-0.25, -0.25]])
    rng = np.random.default_rng(3)
    z, m = rng.normal(size=(3, 4)), np.ones((3, 4), bool)
    _, g = rk.oreal_rm_loss(z, [True, False, True], m)
    np.testing.assert_allclose(g, fd(lambda x: rk.oreal_rm_loss(x, [True, False, True], m)[0], z), atol=1e-8)


def test_rm_loss_errors():
    with pytest.raises(rk.BadShapeError):
        rk.odin_loss(np.zeros(3), np.zeros(3), [1, 2, 3])
    with pytest.raises(rk.EmptyInputError):
        rk.odin_loss(np.zeros(0), np.zeros(0), [])
    with pytest.raises(rk.InvalidParamError):
        rk.odin_loss(np.zeros(2), np.zeros(2), [1, 2], -1.0)
    with pytest.raises(rk.NonFiniteError):
        rk.odin_loss(np.array([np.nan, 0.0]), np.zeros(2), [1, 2])
    with pytest.raises(rk.ShapeMismatchError):
        rk.odin_orthogonal(np.zeros((1, 2)), np.zeros((1, 3)))
    with pytest.raises(rk.EmptyInputError):
        rk.warm_average([])
    with pytest.raises(rk.LengthMismatchError):
        rk.warm_average([np.zeros(2), np.zeros(3)])
    mask = np.ones((1, 2), bool)
    with pytest.raises(rk.MissingInputError):  # the default KL term needs ref_logp
        rk.oreal_loss(np.zeros((1, 2)), np.zeros(1), [True], mask)
    with pytest.raises(rk.UnknownNameError):
        rk.oreal_loss(np.zeros((1, 2)), np.zeros(1), [True], mask, kl_type="kl")
    with pytest.raises(rk.InvalidParamError):  # total below this shard's counts
        rk.oreal_loss(np.zeros((1, 2)), np.zeros(1), [True], mask, kl_type=None, total=(0, 0, 0, 0))
    with pytest.raises(TypeError):
        rk.oreal_loss(np.zeros((1, 2)), np.zeros(1), [True], mask, kl_type=None, pos_weight=np.ones((1, 2)))
    with pytest.raises(rk.InvalidParamError):
        rk.oreal_loss(np.zeros((1, 2)), np.zeros(1), [True], mask, kl_type=None,
                      pos_weight=-np.ones((1, 2)), neg_weight=np.ones((1, 2)))
    with pytest.raises(rk.ShapeMismatchError):
        rk.oreal_loss(np.zeros((1, 3)), np.zeros(1), [True], mask, kl_type=None)
    with pytest.raises(rk.InvalidParamError):
        rk.oreal_rm_loss(np.zeros((2, 2)), [True, False], np.ones((2, 2), bool), 1)
