"""The alignment objective from Python: the core's doc literals (`core/src/objective.rs`), f32
against f64, and bad input."""

import math

import numpy as np
import pytest

import rewardkit as rk


def test_tilt_literals():
    # e^{r} = (1, 2) ⇒ φ = (1/3, 2/3).
    phi, s = rk.tilt(np.array([0.5, 0.5]), np.array([0.0, math.log(2.0)]), 1.0)
    np.testing.assert_allclose(phi, [1.0 / 3.0, 2.0 / 3.0], rtol=0, atol=1e-15)
    assert abs(s["expected_reward"] - 2.0 / 3.0 * math.log(2.0)) < 1e-15
    # λ = ∞: p restricted to the best responses, KL = −log p(Y*) = log 2.
    phi, s = rk.tilt(np.array([0.25, 0.25, 0.5], np.float32), np.array([1.0, 1.0, 0.0], np.float32),
                     lam=math.inf)
    assert phi.dtype == np.float32
    np.testing.assert_array_equal(phi, [0.5, 0.5, 0.0])
    assert abs(s["kl"] - math.log(2.0)) < 1e-7
    # φ = (1, e)/(1 + e): E[r] = e/(1 + e), KL = E[r] − log((1 + e)/2).
    e = math.e
    st = rk.tilt_stats([0.5, 0.5], [0.0, 1.0], 1.0)
    assert abs(st["expected_reward"] - e / (1 + e)) < 1e-15
    assert abs(st["kl"] - (e / (1 + e) - math.log((1 + e) / 2))) < 1e-15


def test_tilt_f32_matches_f64():
    rng = np.random.default_rng(3)
    p = rng.random(50)
    p /= p.sum()
    r = rng.normal(size=50)
    phi64, s64 = rk.tilt(p, r, 0.7)
    phi32, s32 = rk.tilt(p.astype(np.float32), r.astype(np.float32), 0.7)
    np.testing.assert_allclose(phi32, phi64, rtol=1e-5, atol=1e-7)
    assert abs(s32["kl"] - s64["kl"]) < 1e-5
    # β → λ = 1/β gives the same distribution.
    np.testing.assert_allclose(rk.tilt(p, r, lam=1 / 0.7)[0], phi64, rtol=1e-12)


def test_beta_for_kl():
    p, r = [0.25, 0.25, 0.5], [1.0, 0.0, -1.0]
    sol = rk.beta_for_kl(p, r, 0.1)
    assert not sol["saturated"]
    assert abs(rk.tilt_stats(p, r, sol["beta"])["kl"] - 0.1) < 1e-10
    assert abs(sol["lam"] * sol["beta"] - 1.0) < 1e-12
    full = rk.beta_for_kl(p, r, 5.0)  # more than −log(1/4)
    assert full["saturated"] and full["expected_reward"] == 1.0 and full["lam"] == math.inf


def test_best_of_n():
    pi, b = rk.best_of_n(np.array([0.5, 0.5]), np.array([0.0, 1.0]), 2)
    np.testing.assert_array_equal(pi, [0.25, 0.75])  # the better one wins unless both draws are worse
    assert abs(b["kl"] - (0.25 * math.log(0.5) + 0.75 * math.log(1.5))) < 1e-15
    assert b["kl"] < b["kl_bound"]
    assert rk.best_of_n_kl_bound(1) == 0.0
    assert abs(rk.best_of_n_kl_bound(2) - (math.log(2.0) - 0.5)) < 1e-16


def test_objective_errors():
    with pytest.raises(rk.InvalidParamError):
        rk.tilt([0.5, 0.5], [0.0, 1.0], 0.0)
    with pytest.raises(rk.InvalidParamError):
        rk.tilt([0.5, 0.5], [0.0, 1.0], lam=-1.0)
    with pytest.raises(TypeError):
        rk.tilt([0.5, 0.5], [0.0, 1.0])
    with pytest.raises(rk.InvalidParamError):  # not a probability vector
        rk.tilt([0.5, 0.7], [0.0, 1.0], 1.0)
    with pytest.raises(rk.ShapeMismatchError):
        rk.tilt([0.5, 0.5], [0.0, 1.0, 2.0], 1.0)
    with pytest.raises(rk.NonFiniteError):
        rk.tilt_stats([0.5, 0.5], [0.0, math.nan], 1.0)
    with pytest.raises(rk.InvalidParamError):
        rk.beta_for_kl([0.5, 0.5], [0.0, 1.0], -0.1)
    with pytest.raises(rk.InvalidParamError):
        rk.best_of_n([0.5, 0.5], [0.0, 1.0], 0)
    with pytest.raises(rk.InvalidParamError):
        rk.best_of_n_kl_bound(0)
    with pytest.raises(rk.EmptyInputError):
        rk.tilt(np.zeros(0), np.zeros(0), 1.0)
