"""Bad inputs raise the documented exception (a RewardkitError, hence a ValueError) carrying the
core's message and fields; nothing crashes the interpreter."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import rewardkit as rk

M = np.ones((2, 3), bool)
R = np.zeros((2, 3))


def raises(exc, match, fn, *a, **k):
    with pytest.raises(exc, match=match) as e:
        fn(*a, **k)
    assert isinstance(e.value, rk.RewardkitError) and isinstance(e.value, ValueError)
    return e.value


def test_every_error_class_is_a_value_error():
    for name in ["LengthMismatchError", "EmptyInputError", "BadShapeError", "GroupIdError", "EmptyGroupError",
                 "GroupTooSmallError", "NonFiniteError", "FloatRangeError", "InvalidParamError",
                 "MissingInputError", "TooFewValidError", "TooLargeError", "UnknownNameError",
                 "TokenOutOfRangeError", "ShapeMismatchError"]:
        cls = getattr(rk, name)
        assert issubclass(cls, rk.RewardkitError) and issubclass(cls, ValueError), name


def test_unknown_name_lists_the_valid_names():
    e = raises(rk.UnknownNameError, "valid names:.*rloo", rk.compute_advantage, "grpo2", R, M, [0, 0])
    assert e.kind == "UnknownName" and "grpo" in e.valid
    raises(rk.UnknownNameError, "preset", rk.compute_advantage, "grpo", R, M, [0, 0], preset="deepspeed")
    raises(rk.UnknownNameError, "KL penalty", rk.kl_penalty, np.zeros(2), np.zeros(2), "k4")
    raises(rk.UnknownNameError, "loss aggregation", rk.Aggregation, "mean")
    raises(rk.UnknownNameError, "scale_rewards", rk.trl_grpo_advantages, np.zeros((2, 1)), [1.0],
           num_generations=2, scale_rewards="groups")


def test_non_finite_reports_the_input_and_index():
    r = R.copy()
    r[1, 2] = np.nan
    e = raises(rk.NonFiniteError, "index 5", rk.compute_advantage, "grpo", r, M, [0, 0])
    assert (e.kind, e.what, e.index) == ("NonFinite", "token_rewards", 5)
    lp = np.array([-1.0, np.inf])
    raises(rk.NonFiniteError, "logp", rk.kl_penalty, lp, np.zeros(2))


def test_masked_garbage_is_never_read():
    r = R.copy()
    m = M.copy()
    m[1, 2] = False
    r[1, 2] = np.nan
    a, _ = rk.compute_advantage("grpo", r, m, [0, 0])
    assert np.isfinite(a).all() and a[1, 2] == 0.0


def test_shapes():
    e = raises(rk.ShapeMismatchError, r"shape \(3, 2\), expected \(2, 3\)", rk.compute_advantage, "grpo",
               np.zeros((3, 2)), M, [0, 0])
    assert e.what == "token_level_rewards"
    raises(rk.ShapeMismatchError, "must be 2-D", rk.compute_advantage, "grpo", np.zeros(6), np.ones(6, bool), [0] * 6)
    raises(rk.ShapeMismatchError, "advantages", rk.policy_loss, R, R, np.zeros(3), M)
    # Three group labels for two rows: the core reports the mismatch against the index.
    raises(rk.LengthMismatchError, "has length 2, expected 3", rk.compute_advantage, "grpo", R, M, [0, 0, 1])


def test_group_errors():
    raises(rk.GroupTooSmallError, "at least 2", rk.compute_advantage, "grpo_passk", R, M, [0, 1])
    e = raises(rk.GroupTooSmallError, "1 members", rk.compute_advantage, "grpo", R, M, [0, 1], preset="openrlhf")
    assert e.min == 2
    raises(rk.MissingInputError, "groups", rk.compute_advantage, "grpo", R, M)
    raises(rk.BadShapeError, "n_samples_per_prompt", rk.openrlhf_advantages, "rloo", np.zeros(3), np.ones((3, 2)), 2)


def test_params_and_missing_inputs():
    e = raises(rk.InvalidParamError, "gamma", rk.compute_advantage, "gae", R, M, gamma=1.5, values=R)
    assert e.name == "gamma" and e.value == 1.5
    raises(rk.InvalidParamError, "eps", rk.compute_advantage, "grpo", R, M, [0, 0], epsilon=-1.0)
    raises(rk.MissingInputError, "values", rk.compute_advantage, "gae", R, M)
    raises(rk.MissingInputError, "horizon|set", rk.policy_loss, R, R, np.zeros(2), M,
           loss_agg_mode="seq-mean-token-sum-norm")
    raises(rk.InvalidParamError, "horizon", rk.Aggregation, "dr_grpo", horizon=0.0)
    raises(rk.InvalidParamError, "ngram", rk.RepetitionPenalty, 0)
    raises(rk.InvalidParamError, "lengths", rk.CosineLength(), lengths=[0], correct=[True])
    raises(rk.MissingInputError, "correct", rk.CosineLength(), lengths=[3])


def test_too_few_valid_and_overflow():
    raises(rk.TooFewValidError, "valid", rk.policy_loss, R, R, np.zeros(2), np.zeros((2, 3), bool))
    raises(rk.TooFewValidError, "valid", rk.masked_whiten, R, np.zeros((2, 3), bool))
    big = np.full((1, 1), -200.0, np.float32)
    raises(rk.FloatRangeError, "float range", rk.kl_penalty, big, np.zeros((1, 1), np.float32), "k3",
           preset="trl")
    raises(rk.EmptyInputError, "empty", rk.preference_loss, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))


def test_distance_errors():
    tau = np.zeros((2, 2, 2))
    tau[:, :, 0] = 1.0
    mu = np.array([0.5, 0.5])
    raises(rk.InvalidParamError, "gamma", rk.starc_distance, tau, mu, 1.0, np.zeros(2), np.ones(2))
    raises(rk.ShapeMismatchError, "transitions", rk.epic_distance, np.zeros((2, 2)), mu, 0.9, np.zeros(2), np.ones(2))
    raises(rk.ShapeMismatchError, "reward_b", rk.starc_distance, tau, mu, 0.9, np.zeros(2), np.ones(3))
    # A constant reward has no variance: EPIC is undefined there.
    raises(rk.InvalidParamError, "reward_a", rk.epic_distance, tau, mu, 0.9, np.ones(2), np.array([0.0, 1.0]))


def test_group_labels_follow_python_equality_even_on_hash_collisions():
    class Label:
        def __init__(self, v):
            self.v = v

        def __hash__(self):
            return 7  # every label collides

        def __eq__(self, other):
            return self.v == other.v

    ids, g = rk.group_ids([Label(1), Label(2), Label(1), Label(3)])
    assert g == 3 and ids.tolist() == [0, 1, 0, 2]
    # -1 and -2 share CPython's hash; mixed labels go through Python's equality (1 == 1.0).
    ids, g = rk.group_ids([-1, -2, "x", -1, 1, 1.0])
    assert g == 4 and ids.tolist() == [0, 1, 2, 0, 3, 3]
    s = "shared"
    ids, g = rk.group_ids(np.array([s, "other", s, "sh" + "ared"], dtype=object))
    assert g == 2 and ids.tolist() == [0, 1, 0, 0]


def test_errors_pickle_with_their_message():
    try:
        rk.compute_advantage("nope", R, M, [0, 0])
    except rk.UnknownNameError as e:
        back = pickle.loads(pickle.dumps(e))
        assert str(back) == str(e) and isinstance(back, rk.UnknownNameError)


def test_no_input_crashes_the_interpreter():
    """A fuzz sweep of odd inputs in a child process: every call returns or raises a Python
    exception; the process exits normally (a panic or a segfault would kill it)."""
    code = r"""
import numpy as np, rewardkit as rk, itertools
vals = [np.zeros((0, 0)), np.zeros((1, 0)), np.zeros((0, 3)), np.full((2, 2), np.nan), np.full((2, 2), 1e308),
        np.full((2, 2), -1e308), np.zeros((2, 2), np.float32), [[1, 2], [3, 4]], "x", None, 3.5, np.zeros((2, 2, 2))]
masks = [np.ones((2, 2), bool), np.zeros((2, 2), bool), np.ones((0, 0), bool), np.ones(4, bool), "m"]
n = 0
for est in rk.ADVANTAGE_ESTIMATORS:
    for r, m, idx in itertools.product(vals, masks, [None, [0, 1], ["a", "a"], [5], "zz"]):
        try:
            rk.compute_advantage(est, r, m, idx, values=r)
        except (ValueError, TypeError, RuntimeError):
            pass
        n += 1
for r, m in itertools.product(vals, masks):
    for f in (lambda: rk.policy_loss(r, r, r, m), lambda: rk.value_loss(r, r, r, m), lambda: rk.kl_penalty(r, r),
              lambda: rk.masked_whiten(r, m), lambda: rk.agg_loss(r, m), lambda: rk.preference_loss(r, r, r, r)):
        try:
            f()
        except (ValueError, TypeError, RuntimeError):
            pass
        n += 1
print("calls", n)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "calls" in out.stdout
    assert "panicked" not in out.stderr
