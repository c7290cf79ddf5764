"""Property tests (hypothesis): f32 against the f64 oracle, shift invariance, gradients against
central finite differences, shard additivity; and what the bindings promise about arrays
(no copies, float types, the GIL released while computing)."""

import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rewardkit as rk

# derandomize: the same examples on every run, so CI cannot flake on a lucky draw.
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

REWARD = st.floats(-5, 5, allow_nan=False, allow_infinity=False, width=32)
LOGP = st.floats(-6, -0.015625, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def grouped(draw, min_k=2, max_k=6):
    """(rewards (B,), group labels (B,)) with G groups of K samples, rows shuffled."""
    g = draw(st.integers(1, 5))
    k = draw(st.integers(min_k, max_k))
    r = np.array(draw(st.lists(REWARD, min_size=g * k, max_size=g * k)), dtype=np.float64)
    perm = draw(st.permutations(range(g * k)))
    labels = np.array([f"p{i // k}" for i in range(g * k)], dtype=object)[list(perm)]
    return r, labels


@st.composite
def token_batch(draw, max_b=5, max_t=6):
    b, t = draw(st.integers(1, max_b)), draw(st.integers(1, max_t))
    lens = draw(st.lists(st.integers(1, t), min_size=b, max_size=b))
    mask = np.arange(t)[None, :] < np.array(lens)[:, None]
    lp = draw(hnp.arrays(np.float64, (b, t), elements=LOGP))
    old = lp + draw(hnp.arrays(np.float64, (b, t), elements=st.floats(-0.5, 0.5, width=32)))
    adv = draw(hnp.arrays(np.float64, (b,), elements=REWARD))
    return old, lp, adv, mask


def as_tokens(r):
    """Outcome rewards on the last of two tokens."""
    tok = np.zeros((len(r), 2), r.dtype)
    tok[:, 1] = r
    return tok, np.ones_like(tok, dtype=bool)


# ---------------------------------------------------------------------------------------------
# Advantages
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(grouped(), st.sampled_from(["grpo", "dr_grpo", "rloo", "reinforce_plus_plus_baseline", "gpg", "opo"]),
       st.sampled_from(["rewardkit", "verl", "trl"]))
def test_f32_matches_the_f64_oracle(data, name, preset):
    r, labels = data
    tok, mask = as_tokens(r)
    a64, _ = rk.compute_advantage(name, tok, mask, labels, preset=preset)
    a32, _ = rk.compute_advantage(name, tok.astype(np.float32), mask, labels, preset=preset)
    assert a64.dtype == np.float64 and a32.dtype == np.float32
    # f32 results are the f64 result rounded once (up to the f32 rounding of the inputs).
    scale = 1 + np.abs(a64).max()
    np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-5 * scale * 1e2)


@SETTINGS
@given(grouped(), st.floats(-100, 100, allow_nan=False), st.sampled_from(["grpo", "dr_grpo", "rloo"]))
def test_group_estimators_are_shift_invariant(data, c, name):
    r, labels = data
    tok, mask = as_tokens(r)
    a, _ = rk.compute_advantage(name, tok, mask, labels)
    b, _ = rk.compute_advantage(name, tok + np.where(mask & (np.arange(2) == 1), c, 0.0), mask, labels)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * (1 + abs(c)))


@SETTINGS
@given(grouped())
def test_grpo_is_centred_per_group_and_exact_zero_on_constant_groups(data):
    r, labels = data
    tok, mask = as_tokens(r)
    a, _ = rk.compute_advantage("grpo", tok, mask, labels)
    ids, g = rk.group_ids(labels)
    for j in range(g):
        rows = ids == j
        assert abs(a[rows, 1].sum()) < 1e-9 * (1 + np.abs(a[rows, 1]).sum())
        if np.all(r[rows] == r[rows][0]):
            assert np.all(a[rows] == 0.0)


def test_grpo_literal():
    # Group [1, 0, 1]: mean 2/3, sample std sqrt(1/3); A = (r - 2/3)/(std + 1e-6).
    tok, mask = as_tokens(np.array([1.0, 0.0, 1.0]))
    a, ret = rk.compute_advantage("grpo", tok, mask, ["u", "u", "u"])
    s = np.sqrt(1 / 3) + 1e-6
    np.testing.assert_allclose(a[:, 1], [(1 / 3) / s, (-2 / 3) / s, (1 / 3) / s], rtol=1e-15)
    np.testing.assert_allclose(a[:, 0], a[:, 1], rtol=0)  # broadcast to every valid token


# ---------------------------------------------------------------------------------------------
# Gradients by central finite differences (f64)
# ---------------------------------------------------------------------------------------------


def fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


@SETTINGS
@given(token_batch(), st.sampled_from(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"]),
       st.sampled_from(["vanilla", "gspo", "gpg", "sapo", "dro"]))
def test_policy_loss_gradient_matches_finite_differences(batch, agg, mode):
    old, lp, adv, mask = batch
    # Keep tokens away from the clip kinks (|r - 1| within 1e-3 of 0.2), where FD is undefined.
    r = np.exp(lp - old)
    lp = np.where(np.abs(np.abs(r - 1) - 0.2) < 2e-3, old, lp)
    kw = dict(loss_mode=mode, loss_agg_mode=agg, clip_ratio_c=3.0 if mode == "vanilla" else None)
    if mode == "dro":
        kw["dro_beta"] = 0.5
    _, grad, _ = rk.policy_loss(old, lp, adv, mask, **kw)
    num = fd(lambda x: rk.policy_loss(old, x, adv, mask, **kw)[0], lp)
    np.testing.assert_allclose(grad, np.where(mask, num, 0.0), rtol=1e-5, atol=1e-6)


@SETTINGS
@given(hnp.arrays(np.float64, (7,), elements=LOGP), hnp.arrays(np.float64, (7,), elements=LOGP),
       st.sampled_from(["k1", "k2", "k3", "low_var_kl", "abs"]))
def test_kl_gradient_matches_finite_differences(lp, rp, name):
    lp = np.where(np.abs(lp - rp) < 1e-3, rp + 1e-2, lp)  # |d| has a kink at 0
    _, g = rk.kl_penalty(lp, rp, name)
    num = np.array([(rk.kl_penalty(lp[i:i + 1] + 1e-6, rp[i:i + 1], name)[0][0]
                     - rk.kl_penalty(lp[i:i + 1] - 1e-6, rp[i:i + 1], name)[0][0]) / 2e-6 for i in range(7)])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


@SETTINGS
@given(hnp.arrays(np.float64, (4,), elements=LOGP), hnp.arrays(np.float64, (4,), elements=LOGP),
       hnp.arrays(np.float64, (4,), elements=LOGP), hnp.arrays(np.float64, (4,), elements=LOGP),
       st.sampled_from(["sigmoid", "hinge", "ipo", "robust", "bco_pair", "apo_zero"]))
def test_preference_gradient_matches_finite_differences(c, r, rc, rr, loss_type):
    kw = dict(loss_type=loss_type, beta=0.3, label_smoothing=0.1 if loss_type in ("robust",) else 0.0)
    _, gc, gr = rk.preference_loss(c, r, rc, rr, **kw)
    # The hinge kink: skip pairs at the hinge point.
    u = 0.3 * ((c - rc) - (r - rr))
    if loss_type == "hinge" and np.any(np.abs(1 - u) < 1e-3):
        return
    np.testing.assert_allclose(gc, fd(lambda x: rk.preference_loss(x, r, rc, rr, **kw)[0], c), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gr, fd(lambda x: rk.preference_loss(c, x, rc, rr, **kw)[0], r), rtol=1e-5, atol=1e-7)


@SETTINGS
@given(token_batch(), st.one_of(st.none(), st.floats(0.05, 1.0)))
def test_value_loss_gradient_matches_finite_differences(batch, clip):
    old, v, _, mask = batch
    ret = old[::-1].copy() if old.shape[0] > 1 else old + 0.3
    d = v - old
    if clip is not None:
        v = np.where(np.abs(np.abs(d) - clip) < 1e-3, old, v)
        both = np.abs(np.abs(v - ret) - np.abs(np.clip(v, old - clip, old + clip) - ret)) < 1e-3
        v = np.where(both, v + 0.01, v)
        v = np.where(np.abs(np.abs(v - old) - clip) < 1e-3, old, v)
    _, g, _ = rk.value_loss(v, ret, old, mask, clip)
    num = fd(lambda x: rk.value_loss(x, ret, old, mask, clip)[0], v)
    np.testing.assert_allclose(g, np.where(mask, num, 0.0), rtol=1e-5, atol=1e-6)


@SETTINGS
@given(token_batch(max_b=6), st.sampled_from(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "token-sum"]),
       st.data())
def test_shards_add_up_to_the_whole_batch(batch, agg, data):
    old, lp, adv, mask = batch
    b = mask.shape[0]
    cut = data.draw(st.integers(0, b))
    whole, g, total = rk.policy_loss(old, lp, adv, mask, loss_agg_mode=agg)
    parts = [rk.policy_loss(old[s], lp[s], adv[s], mask[s], loss_agg_mode=agg)[2]
             for s in (slice(0, cut), slice(cut, b)) if mask[s].shape[0] > 0]
    assert sum(parts) == total or abs(sum(parts).sum - total.sum) < 1e-12 * (1 + abs(total.sum))
    v, gs = 0.0, []
    for s in (slice(0, cut), slice(cut, b)):
        if mask[s].shape[0] == 0:
            continue
        val, gg, _ = rk.policy_loss(old[s], lp[s], adv[s], mask[s], loss_agg_mode=agg, total=total)
        v += val
        gs.append(gg)
    np.testing.assert_allclose(v, whole, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.concatenate(gs), g, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Arrays and the GIL
# ---------------------------------------------------------------------------------------------


def test_inputs_are_viewed_without_copies():
    """A float32 C-contiguous input is read in place: changing it between calls changes the
    result, and numpy reports no conversion (the view shares memory with the caller's array)."""
    r = np.zeros((4, 2), np.float32)
    r[:, 1] = [1, 0, 1, 0]
    m = np.ones((4, 2), bool)
    a1, _ = rk.compute_advantage("grpo", r, m, num_generations=4)
    r[:, 1] = [0, 1, 0, 1]
    a2, _ = rk.compute_advantage("grpo", r, m, num_generations=4)
    np.testing.assert_array_equal(a1, -a2)
    assert a1.dtype == np.float32 and a1.flags.c_contiguous and a1.flags.writeable


def test_torch_cpu_tensors_through_the_array_protocol():
    torch = pytest.importorskip("torch")
    r = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    a, _ = rk.compute_advantage("grpo", r, torch.ones(2, 2), num_generations=2)
    assert a.dtype == np.float64
    np.testing.assert_allclose(a[:, 1], [1 / (np.sqrt(0.5) + 1e-6) * 0.5, -0.5 / (np.sqrt(0.5) + 1e-6)])
    v, g = rk.kl_penalty(torch.zeros(3, dtype=torch.float32), torch.zeros(3, dtype=torch.float32))
    assert v.dtype == np.float32 and np.all(v == 0) and np.all(g == 0)


def test_non_contiguous_and_integer_inputs_are_converted():
    r = np.zeros((3, 4))
    r[:, 3] = [1, 2, 3]
    strided = r[:, ::2]  # not contiguous
    a, _ = rk.compute_advantage("grpo", strided, np.ones((3, 2), np.int64), num_generations=3)
    b, _ = rk.compute_advantage("grpo", np.ascontiguousarray(strided), np.ones((3, 2), bool), num_generations=3)
    np.testing.assert_array_equal(a, b)
    c, _ = rk.compute_advantage("grpo", [[0, 1], [0, 2], [0, 3]], [[1, 1]] * 3, [7, 7, 7])
    assert c.dtype == np.float64


def test_the_gil_is_released_while_computing():
    """A Python thread keeps running while rewardkit computes a large batch on another thread."""
    b, t = 1 << 12, 256
    r = np.random.default_rng(0).random((b, t)).astype(np.float32)
    m = np.ones((b, t), bool)
    idx = np.repeat(np.arange(b // 8), 8)
    start = time.perf_counter()
    rk.compute_advantage("reinforce_plus_plus", r, m, idx)
    solo = time.perf_counter() - start
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.01)
    n0 = len(ticks)
    for _ in range(max(1, int(0.3 / max(solo, 1e-3)))):
        rk.compute_advantage("reinforce_plus_plus", r, m, idx)
    n1 = len(ticks)
    stop.set()
    th.join()
    # With the GIL held for the whole computation the spinner could not tick in between.
    assert n1 - n0 >= 5, (n0, n1, solo)
