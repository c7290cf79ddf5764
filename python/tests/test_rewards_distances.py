"""The reward catalogue and reward distances from Python: literal values, state that pickles and
resumes identically, and the distances' invariances."""

import math
import pickle

import numpy as np
import pytest

import rewardkit as rk


def test_literals():
    np.testing.assert_array_equal(rk.Correctness()(correct=[True, False]), [1.0, 0.0])
    np.testing.assert_array_equal(
        rk.Correctness(1.0, -0.5, -1.0)(correct=[True, False, False], well_formed=[True, True, False]),
        [1.0, -0.5, -1.0])
    np.testing.assert_array_equal(rk.Format()(texts=["<think>a</think> \\boxed{3}", "<think>a</think>", "3"]),
                                  [1.0, 0.5, 0.0])
    assert rk.format_flags(["<think>so \\boxed{4}</think> no final answer"]) == ([True], [False])
    # LASER: +alpha for correct answers within the target.
    np.testing.assert_array_equal(rk.Laser(0.5, 100)(lengths=[100, 101, 50], correct=[True, True, False]),
                                  [0.5, 0.0, 0.0])
    # Cosine at half of L_max: the midpoint of (r_0, r_L) = (2, 1).
    np.testing.assert_allclose(rk.CosineLength()(lengths=[7168], correct=[True]), [1.5], rtol=1e-12)
    # Overlong (DAPO): -(L - (L_max - L_cache))/L_cache inside the buffer.
    np.testing.assert_allclose(rk.Overlong(100, 20)(lengths=[80, 90, 100]), [0.0, -0.5, -1.0], rtol=1e-12)


def test_hapo_resumes_identically_after_pickling():
    h = rk.Hapo()
    keys = ["q1", "q1", "q2", "q2"]
    h(keys=keys, lengths=[300, 200, 50, 80], correct=[True, True, True, False], update=True)
    assert h.history("q1") == 200.0 and h.history("q2") == 50.0 and len(h) == 2
    saved = pickle.dumps(h)
    batch = dict(keys=keys, lengths=[100, 400, 25, 120], correct=[True, True, True, False])
    a1 = h(**batch, update=True)
    a2 = h(**batch, update=True)
    back = pickle.loads(saved)
    np.testing.assert_array_equal(back(**batch, update=True), a1)
    np.testing.assert_array_equal(back(**batch, update=True), a2)
    assert back == h
    # Literal: h = 200 for q1: cos(100/200 * pi/2); 400 >= 2h: floor -0.7.
    np.testing.assert_allclose(a1[:2], [math.cos(math.pi / 4), -0.7], rtol=1e-12)


def test_hapo_mean_mode_and_merge():
    a, b = rk.Hapo(mode="exact_mean"), rk.Hapo(mode="exact_mean")
    a.update(["k"], [100], [True])
    b.update(["k", "k"], [200, 300], [True, True])
    a.merge(b)
    assert a.history("k") == 200.0  # (100 + 200 + 300) / 3


def test_laser_d_state_pickles():
    ld = rk.LaserD(group_size=3, thresholds=(1024, 4096, 1024))
    ld.update([900, 1500, 3000], [True, True, True], [0, 0, 0])
    # The core's documented example: all correct -> high band; cov(2048) = 2/3 qualifies; the
    # empty low and medium bands have no monitored target (None: the batch's longest response).
    assert ld.targets() == [None, None, 2048]
    back = pickle.loads(pickle.dumps(ld))
    assert back == ld and back.targets() == ld.targets()
    batch = dict(lengths=[1000, 2500, 5000], correct=[True, True, True], index=[0, 0, 0])
    np.testing.assert_array_equal(back(**batch), ld(**batch))


def test_pipeline_and_parts():
    p = rk.Pipeline([(rk.Correctness(), 1.0), (rk.Format(), 0.5), (rk.RepetitionPenalty(2, -1.0), 1.0)])
    total, parts = p(correct=[True, False], texts=["<think>x</think> \\boxed{1}", "no"],
                     tokens=[[1, 2, 1, 2], [3, 4, 5]])
    np.testing.assert_allclose(parts, [[1, 0], [1, 0], [-0.5, 0]])
    np.testing.assert_allclose(total, [1 + 0.5 - 0.5, 0.0])
    assert p.names == ["correctness", "format", "repetition"]
    back = pickle.loads(pickle.dumps(p))
    assert back.names == p.names
    with pytest.raises(TypeError):
        rk.Pipeline([(lambda **k: 0, 1.0)])


def test_label_hashes_are_stable():
    h = rk.label_hashes(["uid-1", "uid-2", "uid-1"])
    assert h.dtype == np.uint64 and h[0] == h[2] and h[0] != h[1]


# ---------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------

# Two states, two actions (stay, switch), gamma = 0.9 (the README's example).
TAU = np.array([1, 0, 0, 1, 0, 1, 1, 0.0]).reshape(2, 2, 2)
MU = np.array([1.0, 0.0])


def shaped(r_state, phi, gamma=0.9):
    """R(s, a, s') + gamma*phi(s') - phi(s) as a full (S, A, S) tensor (the test's oracle)."""
    s = len(r_state)
    out = np.zeros((s, 2, s))
    for i in range(s):
        for j in range(s):
            out[i, :, j] = r_state[i] + gamma * phi[j] - phi[i]
    return out


def test_starc_epic_dard_invariances():
    r = np.array([0.0, 1.0])
    sh = shaped(r, [5.0, -3.0])
    assert rk.starc_distance(TAU, MU, 0.9, r, sh) < 1e-12
    assert abs(rk.starc_distance(TAU, MU, 0.9, r, np.array([1.0, 0.0])) - 2.0) < 1e-12
    assert rk.starc_distance(TAU, MU, 0.9, r, 3 * r) < 1e-12
    assert rk.epic_distance(TAU, MU, 0.9, r, sh) < 1e-12
    assert abs(rk.epic_distance(TAU, MU, 0.9, r, -r) - 1.0) < 1e-12
    assert rk.dard_distance(TAU, MU, 0.9, r, 2 * r) < 1e-12
    for canon in ("value", "minimal", "epic", "dard"):
        d = rk.starc_distance(TAU, MU, 0.9, r, np.array([0.3, -1.0]), canonicalization=canon, norm="l1", metric="linf")
        assert 0.0 <= d <= 2.0 + 1e-12


def test_distance_f32_inputs_compute_in_f64():
    r = np.array([0.0, 1.0], np.float32)
    d = rk.starc_distance(TAU.astype(np.float32), MU.astype(np.float32), 0.9, r, np.array([1.0, 0.0], np.float32))
    assert isinstance(d, float) and abs(d - 2.0) < 1e-12


def test_parameter_objects_pickle():
    a = rk.Aggregation("dr_grpo", preset="trl", horizon=512.0)
    b = pickle.loads(pickle.dumps(a))
    assert repr(b) == repr(a) and b.mode == "dr_grpo"
    parts = rk.LossParts(3.0, 1.5, 4, 2, 2)
    assert pickle.loads(pickle.dumps(parts)) == parts
    assert a.value(parts) == b.value(parts) == 3.0 / (2 * 512.0)
    for term in (rk.CosineLength(100), rk.Laser(0.3, 50, "hybrid"), rk.Overlong(100, 10, 2.0),
                 rk.RepetitionPenalty(3, -2.0, "spaced"), rk.Format("<t>", "</t>"), rk.Correctness(2.0, -1.0, -3.0)):
        back = pickle.loads(pickle.dumps(term))
        kw = dict(lengths=[5, 60, 95], correct=[True, False, True], texts=["<t>a</t> \\boxed{1}", "x", "<t>"],
                  tokens=[[1, 2, 3, 1, 2, 3], [4], [5, 5, 5, 5]])
        np.testing.assert_array_equal(back(**kw), term(**kw))
    assert pickle.loads(pickle.dumps(rk.LaserD(explore=True))).name == "laser_de"
