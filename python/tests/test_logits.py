"""The logits module, rejection sampling, WPO weights, the SFT term and Bradley-Terry's L2 through
the Python API: literals from the core's docs, gradients against central finite differences,
f32 against the f64 oracle, accumulation through out=, and every documented error."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewardkit as rk

L3 = math.log(3.0)


def fd(f, x, h=1e-6):
    """Central finite differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


# ---------------------------------------------------------------------------------------------
# Literals (the core's doc examples)
# ---------------------------------------------------------------------------------------------


def test_logits_literals():
    # Row 0: π = (1/4, 3/4), token 1; row 1: π = (1/2, 1/2), token 0.
    z = np.array([[0.0, L3], [5.0, 5.0]])
    lp, s = rk.logprobs_forward(z, np.array([1, 0]))
    np.testing.assert_allclose(lp, [math.log(0.75), math.log(0.5)], rtol=0, atol=1e-15)
    assert s.shape == (2, 2) and s.dtype == np.float64
    np.testing.assert_array_equal(s[:, 0], [L3, 5.0])  # the row maxima
    # Token 1 with upstream 2 accumulates 2·(0 − 1/4, 1 − 3/4) onto what is there.
    out = np.ones((1, 2))
    g = rk.logprobs_backward(np.array([2.0]), z[:1], s[:1], np.array([1]), out=out)
    assert g is out
    np.testing.assert_allclose(out, [[0.5, 1.5]], atol=1e-15)
    # log-sum-exp of huge logits keeps every digit.
    np.testing.assert_allclose(rk.logsumexp_rows(np.array([[0.0, 0.0], [1000.0, 1000.0]])),
                               [math.log(2), 1000 + math.log(2)], rtol=1e-15)
    ls, _ = rk.log_softmax_forward(np.array([1e6, 1e6 + L3]))
    np.testing.assert_allclose(ls[0], math.log(0.25), atol=1e-9)
    p, _ = rk.softmax_forward(np.array([0.0, 0.0, -np.inf], np.float32))
    np.testing.assert_array_equal(p, np.array([0.5, 0.5, 0.0], np.float32))
    h, _ = rk.entropy_forward(np.zeros((1, 4), np.float32))
    assert h.dtype == np.float32 and abs(h[0] - math.log(4)) < 1e-6
    kl, s, sr = rk.full_kl_forward(np.array([[0.0, 0.0]]), np.array([[0.0, L3]]))
    want = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert abs(kl[0] - want) < 1e-15 and sr.shape == (1, 2)
    # Cross-entropy of token 1: ∂L/∂z = π − e₁.
    ls, s = rk.log_softmax_forward(np.array([0.0, L3]))
    g = rk.log_softmax_backward(np.array([0.0, -1.0]), np.array([0.0, L3]), s)
    np.testing.assert_allclose(g, [0.25, -0.25], atol=1e-15)
    # The uniform distribution maximizes entropy; equal distributions minimize the KL.
    z = np.full(3, 0.5)
    h, s = rk.entropy_forward(z)
    assert np.all(np.abs(rk.entropy_backward(np.array(1.0), z, s, h)) < 1e-16)
    z = np.array([0.3, -0.2])
    kl, s, sr = rk.full_kl_forward(z, z)
    assert np.all(np.abs(rk.full_kl_backward(np.array(1.0), z, z, s, sr, kl)) < 1e-16)
    assert rk.row_stats(np.array([[1.0, 1.0], [0.0, -np.inf]]))[1].tolist() == [0.0, 0.0]


# ---------------------------------------------------------------------------------------------
# Gradients against finite differences (f64), and f32 against the f64 oracle
# ---------------------------------------------------------------------------------------------

logit_rows = st.integers(1, 3).flatmap(
    lambda n: st.integers(2, 5).flatmap(
        lambda v: st.tuples(
            st.lists(st.floats(-4, 4), min_size=n * v, max_size=n * v).map(
                lambda xs, n=n, v=v: np.array(xs).reshape(n, v)),
            st.lists(st.floats(-4, 4), min_size=n * v, max_size=n * v).map(
                lambda xs, n=n, v=v: np.array(xs).reshape(n, v)),
            st.lists(st.integers(0, v - 1), min_size=n, max_size=n).map(np.array),
            st.lists(st.floats(-2, 2), min_size=n * v, max_size=n * v).map(
                lambda xs, n=n, v=v: np.array(xs).reshape(n, v)),
        )))


@settings(max_examples=40, deadline=None)
@given(logit_rows)
def test_backward_passes_match_finite_differences(x):
    z, zr, ids, w = x
    u = w[:, 0]  # an upstream per row

    def check(name, f, grad):
        np.testing.assert_allclose(grad, fd(f, z), rtol=1e-6, atol=1e-7, err_msg=name)

    lp, s = rk.logprobs_forward(z, ids)
    check("logprobs", lambda q: float(u @ rk.logprobs_forward(q, ids)[0]),
          rk.logprobs_backward(u, z, s, ids))
    ls, s = rk.log_softmax_forward(z)
    check("log_softmax", lambda q: float(np.sum(w * rk.log_softmax_forward(q)[0])),
          rk.log_softmax_backward(w, z, s))
    p, s = rk.softmax_forward(z)
    check("softmax", lambda q: float(np.sum(w * rk.softmax_forward(q)[0])),
          rk.softmax_backward(w, z, s))
    h, s = rk.entropy_forward(z)
    check("entropy", lambda q: float(u @ rk.entropy_forward(q)[0]),
          rk.entropy_backward(u, z, s, h))
    kl, s, sr = rk.full_kl_forward(z, zr)
    check("full_kl", lambda q: float(u @ rk.full_kl_forward(q, zr)[0]),
          rk.full_kl_backward(u, z, zr, s, sr, kl))
    # Backward passes accumulate: three terms into one buffer equal the sum of the three.
    g = np.zeros_like(z)
    rk.logprobs_backward(u, z, rk.logprobs_forward(z, ids)[1], ids, out=g)
    rk.entropy_backward(u, z, s, h, out=g)
    rk.full_kl_backward(u, z, zr, s, sr, kl, out=g)
    want = (rk.logprobs_backward(u, z, s, ids) + rk.entropy_backward(u, z, s, h)
            + rk.full_kl_backward(u, z, zr, s, sr, kl))
    np.testing.assert_allclose(g, want, rtol=1e-14, atol=1e-15)
    # f32: the f64 result rounded once (rows are reduced in f64).
    z32 = z.astype(np.float32)
    lp64, _ = rk.logprobs_forward(z32.astype(np.float64), ids)
    lp32, _ = rk.logprobs_forward(z32, ids)
    assert lp32.dtype == np.float32
    np.testing.assert_array_equal(lp32, lp64.astype(np.float32))
    h64, _ = rk.entropy_forward(z32.astype(np.float64))
    h32, _ = rk.entropy_forward(z32)
    np.testing.assert_array_equal(h32, h64.astype(np.float32))


def test_shift_invariance_and_leading_shapes():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(2, 3, 5))
    ids = rng.integers(0, 5, size=(2, 3))
    lp, s = rk.logprobs_forward(z, ids)
    assert lp.shape == (2, 3) and s.shape == (2, 3, 2)
    lp2, _ = rk.logprobs_forward(z + 7.5, ids)  # a constant per row changes nothing
    np.testing.assert_allclose(lp2, lp, atol=1e-13)
    flat, _ = rk.logprobs_forward(z.reshape(6, 5), ids.reshape(6))
    np.testing.assert_array_equal(flat.reshape(2, 3), lp)
    # log_softmax at the ids is the token log-probability.
    ls, _ = rk.log_softmax_forward(z)
    np.testing.assert_allclose(np.take_along_axis(ls, ids[..., None], -1)[..., 0], lp, atol=1e-15)


def test_logits_errors():
    z = np.array([[0.0, 1.0], [2.0, 3.0]])
    with pytest.raises(rk.TokenOutOfRangeError) as e:
        rk.logprobs_forward(z, np.array([0, 2]))
    assert (e.value.index, e.value.id, e.value.vocab) == (1, 2, 2)
    with pytest.raises(rk.InvalidParamError):
        rk.logprobs_forward(z, np.array([0, -1]))
    with pytest.raises(TypeError):
        rk.logprobs_forward(z, np.array([0.0, 1.0]))
    with pytest.raises(rk.NonFiniteError) as e:
        rk.entropy_forward(np.array([[0.0, np.nan]]))
    assert e.value.what == "logits"
    with pytest.raises(rk.NonFiniteError):
        rk.row_stats(np.array([[-np.inf, -np.inf]]))  # no distribution
    with pytest.raises(rk.FloatRangeError):
        rk.logprobs_forward(np.array([[0.0, -np.inf]]), np.array([1]))  # probability zero
    with pytest.raises(rk.FloatRangeError):
        rk.full_kl_forward(np.array([[0.0, 0.0]]), np.array([[0.0, -np.inf]]))
    with pytest.raises(rk.ShapeMismatchError):
        rk.logprobs_forward(z, np.array([0, 1, 1]))
    with pytest.raises(rk.ShapeMismatchError):
        rk.full_kl_forward(z, z[:1])
    with pytest.raises(rk.EmptyInputError):
        rk.row_stats(np.zeros((2, 0)))
    _, s = rk.log_softmax_forward(z)
    with pytest.raises(rk.ShapeMismatchError):
        rk.log_softmax_backward(np.ones_like(z), z, s[:1])
    with pytest.raises(rk.NonFiniteError) as e:  # statistics no forward pass produces
        rk.log_softmax_backward(np.ones_like(z), z, np.full_like(s, np.nan))
    assert e.value.what == "stats"
    with pytest.raises(rk.NonFiniteError):
        rk.log_softmax_backward(np.full_like(z, np.inf), z, s)
    with pytest.raises(TypeError):  # out= must be of the call's dtype (accumulated in place)
        rk.log_softmax_backward(np.ones_like(z), z, s, out=np.zeros(z.shape, np.float32))
    with pytest.raises(rk.ShapeMismatchError):
        rk.log_softmax_backward(np.ones_like(z), z, s, out=np.zeros((2, 3)))


# ---------------------------------------------------------------------------------------------
# Rejection sampling
# ---------------------------------------------------------------------------------------------


def test_rejection_literals():
    # The core's doc example: d = log π_rollout − log π_train; token_k1 with ratio bounds [½, 2].
    mask = np.array([[1, 1], [1, 0]])
    keep, s, (st0,) = rk.rejection_mask(np.zeros((2, 2)), np.array([[0.1, -1.0], [0.05, 0.0]]), mask,
                                        "token_k1", "0.5_2.0")
    assert keep.tolist() == [[True, False], [True, False]]
    assert (s["rejected_tokens"], s["rejected_seqs"], st0["below"]) == (1, 1, 1)
    assert (st0["lower"], st0["upper"]) == (0.5, 2.0)
    # The core's unit batch: d = [0, ln 2, −ln 4 | ln 3, 0, ·] with train = 0.
    l2 = math.log(2)
    bits = np.array([[1, 1, 1], [1, 1, 0]], bool)
    roll = np.array([[0.0, l2, -2 * l2], [L3, 0.0, np.nan]])  # masked positions are not read
    train = np.zeros((2, 3))
    keep, _, (st0,) = rk.rejection_mask(train, roll, bits, "seq_mean_k3", 0.5, preset="rewardkit")
    assert keep.tolist() == [[False] * 3, [True, True, False]]
    assert abs(st0["seqs"]["max"] - (2.5 - l2) / 3) < 1e-15
    # Chained options combine with a logical and; one threshold per option.
    keep, s, st = rk.rejection_mask(train, roll, bits, "token_k1,seq_mean_k3", "0.5_2.0,0.5")
    assert keep.tolist() == [[False] * 3, [False, True, False]]
    assert [x["rejected_tokens"] for x in st] == [2, 3] and s["rejected_tokens"] == 4
    # verl's one-number threshold for k1 means [1/upper, upper]; a duplicated option counts once.
    _, _, st = rk.rejection_mask(train, roll, bits, "token_k1, token_k1", 2.0)
    assert len(st) == 1 and st[0]["lower"] == 0.5
    # f32 inputs away from the bounds: the same mask.
    roll = np.array([[0.1, -1.0, 0.9], [0.05, 0.0, np.nan]])
    k32, _, _ = rk.rejection_mask(train.astype(np.float32), roll.astype(np.float32), bits, "token_k1", "0.5_2.0")
    k64, _, _ = rk.rejection_mask(train, roll, bits, "token_k1", "0.5_2.0")
    assert k64.tolist() == [[True, False, False], [True, True, False]]
    np.testing.assert_array_equal(k32, k64)


def test_rejection_errors():
    z, m = np.zeros((1, 2)), np.ones((1, 2), bool)
    with pytest.raises(rk.UnknownNameError) as e:
        rk.rejection_mask(z, z, m, "seq_max_k1", 2.0)
    assert "token_k1" in e.value.valid
    with pytest.raises(rk.MissingInputError):
        rk.rejection_mask(z, z, m, "token_k1")
    with pytest.raises(rk.LengthMismatchError):
        rk.rejection_mask(z, z, m, "token_k1,seq_mean_k3", "2.0,0.5,0.1")
    with pytest.raises(rk.InvalidParamError):
        rk.rejection_mask(z, z, m, "seq_mean_k3", "0.01_0.05")  # k2/k3 take no lower bound
    with pytest.raises(rk.InvalidParamError):
        rk.rejection_mask(z, z, m, "token_k1", "3.0_2.0")
    with pytest.raises(rk.InvalidParamError):
        rk.rejection_mask(z, z, m, "token_k1", "abc")
    with pytest.raises(rk.EmptyInputError):
        rk.rejection_mask(z, z, m, " , ", 2.0)
    with pytest.raises(rk.NonFiniteError) as e:
        rk.rejection_mask(np.array([[0.0, np.nan]]), z, m, "token_k1", 2.0)
    assert (e.value.what, e.value.index) == ("train_logp", 1)
    with pytest.raises(rk.ShapeMismatchError):
        rk.rejection_mask(np.zeros((1, 3)), z, m, "token_k1", 2.0)


# ---------------------------------------------------------------------------------------------
# WPO weights, SFT, Bradley–Terry with L2
# ---------------------------------------------------------------------------------------------


def test_wpo_sft_bt_literals():
    # One pair, one token each, V = 2, π = (1/4, 3/4): Σπ² = 5/8; (3/4)/(5/8) · (1/4)/(5/8) = 0.48.
    z = np.array([[[0.0, L3]]])
    m = np.ones((1, 1), bool)
    w = rk.wpo_weights(z, np.array([[1]]), m, z, np.array([[0]]), m)
    assert abs(w[0] - 0.48) < 1e-15
    with pytest.raises(rk.TokenOutOfRangeError):
        rk.wpo_weights(z, np.array([[2]]), m, z, np.array([[0]]), m)
    with pytest.raises(rk.ShapeMismatchError):
        rk.wpo_weights(z, np.array([[1]]), m, z[:, :, :1], np.array([[0]]), m)
    loss, g, parts = rk.sft_loss(np.array([[-1.0, -2.0], [np.nan, -3.0]]), np.array([[1, 1], [0, 1]]))
    assert loss == 2.0 and parts.tokens == 3
    np.testing.assert_allclose(g, [[-1 / 3, -1 / 3], [0, -1 / 3]], rtol=1e-15)
    with pytest.raises(rk.NonFiniteError):
        rk.sft_loss(np.array([[np.nan]]), np.array([[1]]))
    # Bradley–Terry with PAR's L2: equal rewards 1, λ = 0.005: ln 2 + λ·2, ∂/∂r_c = −½ + 2λ.
    v, gc, gr = rk.bradley_terry_loss(np.array([1.0]), np.array([1.0]), reward_reg_val=0.005)
    assert abs(v - (math.log(2) + 0.01)) < 1e-15
    assert abs(gc[0] - (-0.49)) < 1e-15 and abs(gr[0] - 0.51) < 1e-15
    with pytest.raises(rk.InvalidParamError):
        rk.bradley_terry_loss(np.array([1.0]), np.array([1.0]), reward_reg_val=-1.0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=5),
       st.floats(0, 0.5), st.floats(0, 0.5))
def test_bradley_terry_l2_gradient(pairs, eta, lam):
    c = np.array([p[0] for p in pairs])
    r = np.array([p[1] for p in pairs])
    _, gc, gr = rk.bradley_terry_loss(c, r, center_rewards_coefficient=eta, reward_reg_val=lam)

    def f(x):
        return rk.bradley_terry_loss(x, r, center_rewards_coefficient=eta, reward_reg_val=lam)[0]

    np.testing.assert_allclose(gc, fd(f, c), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gr, fd(lambda x: rk.bradley_terry_loss(c, x, center_rewards_coefficient=eta,
                                                                      reward_reg_val=lam)[0], r),
                               rtol=1e-6, atol=1e-8)
