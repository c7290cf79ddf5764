"""The rest of the reward catalogue from Python (issue 12, phase 2).

Every expected value below is a literal from the core's own docs/tests (`core/src/reward/*.rs`,
hand-computed there), or a property (finite differences, pickling resumes identically); none is
produced by the code under test. Bad input raises the documented exception.
"""

import math
import pickle

import numpy as np
import pytest

import rewardkit as rk

THINK = "<think>a</think> \\boxed{3}"


def roundtrip(x):
    return pickle.loads(pickle.dumps(x))


# ------------------------------------------------------------------------------------------------
# Terms (usable alone and in a Pipeline)
# ------------------------------------------------------------------------------------------------


def test_well_formed_and_format_length():
    np.testing.assert_array_equal(rk.WellFormed()(well_formed=[True, False]), [1.0, 0.0])
    np.testing.assert_array_equal(rk.WellFormed(2.0, -1.0)(well_formed=[True, False]), [2.0, -1.0])
    fl = rk.FormatLength()  # max_len 3072, peak 0.5
    # x = p: the peak, 0.5·2 + 1 = 2; no answer: min(0, f) = -1 at x = 1.
    np.testing.assert_array_equal(fl(texts=[THINK, "<think>a</think>"], lengths=[1536, 3072]), [2.0, -1.0])


def test_tag_format_and_char_length():
    text = "<think>a</think>\n<answer>4</answer>"
    assert rk.TagFormat("soft")(texts=[text])[0] == 1.0
    np.testing.assert_array_equal(
        rk.TagFormat("strict")(texts=[text, "ok. <think>a</think><answer>4</answer>"]), [2.0, 0.0])
    np.testing.assert_array_equal(rk.CharLength("v1", 100)(texts=["a" * 20, "a" * 40, "a" * 70]),
                                  [0.2, 0.6, -0.7])
    # 5 characters, not 6 bytes.
    np.testing.assert_array_equal(rk.CharLength("v2", 100)(texts=["a" * 75, "héllo"]), [0.0, 0.05])


def test_reasoning_action_and_pattern():
    ra = rk.ReasoningAction()
    # "Wait", "BUT", "verify": 3 of 20, times 0.5; "butter" and "awaits" are not the words.
    assert ra(texts=["Wait... BUT butter awaits; verify it."])[0] == 0.075
    assert ra.count("wait " * 30) == 30
    assert ra(texts=["wait " * 30])[0] == 0.5  # capped at 20
    assert "wait" in [w.lower() for w in rk.REASONING_ACTION_WORDS]
    rpr = rk.ReasoningPattern()
    r = rpr(texts=["Wait, let me check. Thus x = 2.", "user: solve this"])
    assert abs(r[0] - 3.0 / 20.0) < 1e-15 and r[1] == 0.0
    assert rk.ReasoningPattern("open_ended").__getnewargs__()[0] == list(rk.RPR_OPEN_ENDED_PHRASES)


def test_group_length_penalty_and_length_scaled():
    out = rk.GroupLengthPenalty(0.4, 0.0)(lengths=[100, 300, 50], correct=[True, True, False],
                                          index=[0, 0, 0])
    # μ = 200, σ = 141.42…: z = ∓0.7071.
    assert abs(out[0] + 0.4 / (1.0 + math.exp(math.sqrt(0.5)))) < 1e-12
    assert out[2] == 0.0
    # c = 0.25: correct (0.5 + 0.5·0.25)·0.75 = 0.46875; wrong −0.75; 984 + 16 ≥ 1000: exceed.
    np.testing.assert_array_equal(
        rk.LengthScaled(0.5, 1000, 0.0)(lengths=[250, 250, 984], correct=[True, False, True]),
        [0.46875, -0.75, 0.0])


def test_think_prune_schedule_and_pickle():
    tp = rk.ThinkPrune(4096, 2048, 1024, rule="interval", interval=100, start_step=100)
    assert [tp.step(0), tp.step(100), tp.step(150)] == [4096, 3072, 3072]
    saved = pickle.dumps(tp)
    assert [tp.step(200), tp.step(300)] == [2048, 2048]  # floor L_min
    np.testing.assert_array_equal(tp(lengths=[2000, 2100], correct=[True, True]), [1.0, 0.0])
    back = pickle.loads(saved)
    assert back.limit == 3072
    assert [back.step(200), back.step(300)] == [2048, 2048]
    assert back == tp
    c = rk.ThinkPrune(100)
    assert c.limit == 100 and c.shrink() == 100  # constant: no reduction
    with pytest.raises(rk.UnknownNameError):
        rk.ThinkPrune(rule="weekly")
    with pytest.raises(rk.UnknownNameError):
        rk.ThinkPrune(truncated="drop")


def test_laser_adaptive():
    ad = rk.LaserAdaptive()  # α = 0.9
    # 2 correct, 1 wrong, 1 clipped: β = 0.9·0.25 / (0.1·0.75·5/6) = 3.6.
    s = ad.stats(np.array([1.0, 1.0, -0.5, -1.0]))
    assert abs(s["beta"] - 3.6) < 1e-12
    out = ad(correct=[True, True, False, False], well_formed=[True, True, True, False])
    np.testing.assert_allclose(out, [3.6, 3.6, -1.8, -1.0], rtol=1e-12)
    # Nothing graded: no weight, scores unchanged.
    assert ad.stats(np.array([-1.0, -1.0]))["beta"] is None


def test_par_value_and_gradient():
    par = rk.Par()
    assert par(scores=[1.0], refs=[[1.0]])[0] == 0.5
    v, g = par.value_grad(np.array([0.0]), np.array([[0.0, 2.0]]))
    assert abs(v[0] - 0.5 * (0.5 + 1.0 / (1.0 + math.exp(2.0)))) < 1e-15
    # Central finite differences of the value.
    rng = np.random.default_rng(0)
    s, refs = rng.normal(size=5), rng.normal(size=(5, 3))
    _, g = par.value_grad(s, refs)
    h = 1e-6
    fd = (par.value_grad(s + h, refs)[0] - par.value_grad(s - h, refs)[0]) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
    with pytest.raises(rk.ShapeMismatchError):
        par(scores=[1.0, 2.0], refs=[[1.0]])
    with pytest.raises(rk.ShapeMismatchError):
        par.value_grad(np.array([1.0]), np.array([1.0]))


def test_repetition_ratio_and_word_repetition():
    # Bigrams of (5, 6, 5, 6, 7): 3 distinct of 4.
    assert rk.RepetitionRatio(2, -1.0)(tokens=[[5, 6, 5, 6, 7]])[0] == -0.25
    # "a b a b": 2-grams ab, ba, ab → 2 distinct of 3.
    assert abs(rk.word_repetition_penalty(["A b a B"], 2, -3.0)[0] + 1.0) < 1e-15


def test_catalogue_terms_in_a_pipeline_and_pickle():
    p = rk.Pipeline([(rk.WellFormed(), 1.0), (rk.LengthScaled(0.5, 1000, 0.0), 2.0)])
    total = p(well_formed=[True, False], lengths=[250, 250], correct=[True, False])
    total = total[0] if isinstance(total, tuple) else total
    np.testing.assert_array_equal(total, [1.0 + 2 * 0.46875, -1.5])
    for t in [rk.WellFormed(2.0, -1.0), rk.FormatLength(1000, 0.3), rk.TagFormat("strict"),
              rk.CharLength("v2", 50), rk.ReasoningAction(["hmm"], 3, 1.0),
              rk.ReasoningPattern(["so"], 2.0, 5, None), rk.GroupLengthPenalty(0.2, 1e-3, "reference"),
              rk.LengthScaled(0.3, 500, -1.0, 8), rk.LaserAdaptive(0.5, (1.0, -0.25, -2.0)),
              rk.Par(2.0, 3), rk.RepetitionRatio(4, -2.0)]:
        assert roundtrip(t).__getnewargs__() == t.__getnewargs__()


def test_term_errors():
    with pytest.raises(rk.UnknownNameError):
        rk.TagFormat("loose")
    with pytest.raises(rk.UnknownNameError):
        rk.CharLength("v3")
    with pytest.raises(rk.UnknownNameError):
        rk.GroupLengthPenalty(singleton="drop")
    with pytest.raises(rk.UnknownNameError):
        rk.ReasoningPattern("poetry")
    with pytest.raises(rk.InvalidParamError):
        rk.WellFormed(float("nan"))
    with pytest.raises(rk.RewardkitError):
        rk.Par(k=float("inf"))
    with pytest.raises(rk.MissingInputError):
        rk.LengthScaled()(correct=[True])
    with pytest.raises(rk.MissingInputError):
        rk.TagFormat()(lengths=[3])


# ------------------------------------------------------------------------------------------------
# Outcome noise, calibration, truncation, target length
# ------------------------------------------------------------------------------------------------


def test_flip_noise():
    idx = [0, 0, 1, 1]
    all_ = rk.FlipNoise(1.0, "group")
    np.testing.assert_array_equal(all_.apply([1.0, 0.0, 0.0, 0.0], [True, True, True, False], idx),
                                  [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(
        rk.FlipNoise(1.0, flip_unanswered=True).apply([1.0, 0.0, 0.0, 0.0], None, idx), [0.0, 1.0, 1.0, 1.0])
    scores, fmt = [1.0, 0.0, 1.0, 0.0], [0.3, 0.2, 0.6, 0.1]
    np.testing.assert_array_equal(rk.FlipNoise(0.0).apply_format(scores, fmt, [True] * 4, idx),
                                  [1.0, 0.2, 1.0, 0.1])
    np.testing.assert_array_equal(all_.apply_format(scores, fmt, [True] * 4, idx), [0.3, 1.0, 0.6, 1.0])
    # Reproducible from the seed; a 0.5 rate flips whole groups.
    half = rk.FlipNoise(0.5, "group", flip_unanswered=True)
    x = np.zeros(64)
    a, b = half.apply(x, None, np.repeat(np.arange(16), 4), seed=7), half.apply(
        x, None, np.repeat(np.arange(16), 4), seed=7)
    np.testing.assert_array_equal(a, b)
    assert np.all(a.reshape(16, 4) == a.reshape(16, 4)[:, :1])
    assert roundtrip(half).__getnewargs__() == half.__getnewargs__()
    with pytest.raises(rk.MissingInputError):  # who answered is needed unless every response flips
        rk.FlipNoise(0.5).apply(x, None, np.repeat(np.arange(16), 4))
    with pytest.raises(rk.UnknownNameError):
        rk.FlipNoise(0.1, "token")
    with pytest.raises(rk.InvalidParamError):
        rk.FlipNoise(1.5)


def test_rpr_calibration_truncation_target_length():
    out = rk.RprCalibration()([0.2, 0.7, 0.95], [0.5, 0.5, 1.0])
    assert abs(out[0] - 0.25) < 1e-15 and out[1] == 0.7
    t = rk.Truncation(100, "replace", -1.0)
    np.testing.assert_array_equal(t([1.0, 1.0], [100, 101]), [1.0, -1.0])
    np.testing.assert_array_equal(t([1.0, 1.0], truncated=[False, True]), [1.0, -1.0])
    with pytest.raises(TypeError):
        t([1.0])
    with pytest.raises(rk.UnknownNameError):
        rk.Truncation(mode="drop")
    exact = rk.TargetLength(0.001, 0.5, "exact")
    assert abs(exact([True], [1500], [1000])[0] - 0.5) < 1e-12
    mx = rk.TargetLength(0.001, 0.5, "max")
    np.testing.assert_array_equal(mx([True, False], [200, 200], [1000, 1000]), [1.0, 0.0])
    with pytest.raises(rk.UnknownNameError):
        rk.TargetLength(mode="min")
    with pytest.raises(rk.RewardkitError):
        rk.TargetLength()([True], [-1], [3])


# ------------------------------------------------------------------------------------------------
# PAR's shaper (stateful)
# ------------------------------------------------------------------------------------------------


def test_reward_shaper_par_literal():
    par = rk.RewardShaper.par()
    # Row 0: 310 tokens → −0.1 length penalty; PAR against refs (1, 1).
    out = par([1.1, 2.0], [310, 100], [[1.0, 1.0], [2.0, 2.0]])
    assert abs(out[0] - 0.5) < 1e-12 and out[1] == 0.5
    with pytest.raises(rk.MissingInputError):
        par([1.1], [310])
    with pytest.raises(rk.UnknownNameError):
        rk.RewardShaper(transform="relu")


def test_reward_shaper_running_stats_pickle_resume():
    sh = rk.RewardShaper(length_penalty=None, steps=(False, False, True, False, True))
    sh([1.0, -2.0, 0.5, 3.0])
    assert sh.running[0] > 0
    saved = pickle.dumps(sh)
    a1, a2 = sh([0.3, 0.1]), sh([2.0, -1.0])
    back = pickle.loads(saved)
    np.testing.assert_array_equal(back([0.3, 0.1]), a1)
    np.testing.assert_array_equal(back([2.0, -1.0]), a2)
    assert back == sh and back.running == sh.running
    with pytest.raises(rk.InvalidParamError):
        sh.__setstate__((1, 0.0, -1.0, 0.0, 0.0))


# ------------------------------------------------------------------------------------------------
# Process rewards
# ------------------------------------------------------------------------------------------------


def test_pure():
    w, o = rk.Pure().min_form([0.9, -0.5, 0.8], [3])
    assert abs(o[0] + 0.5) < 1e-5  # ≈ the worst step
    assert abs(rk.Pure(0.1, False).min_form([0.9, -0.5, 0.8], [3])[1][0] - 0.4) < 1e-15
    sr = rk.Pure.step_reward(np.array([0.0, 0.0]), np.array([0.0, math.log(2.0)]))
    assert sr[0] == 0.0 and abs(sr[1] - 1.0 / 3.0) < 1e-15
    b = rk.Pure.baseline([0.6, -0.3], [2, 1], [6, 5], [0, 0])
    assert abs(b[0] + 0.3 / 5.0) < 1e-15 and abs(b[1] - 0.6 / 6.0) < 1e-15
    w = rk.Pure.subtract_baseline([0.2, 0.4, -0.3], [-0.06, 0.1], [2, 1], [2, 3, 4])
    assert abs(w[0] - 0.32) < 1e-15 and abs(w[2] + 0.7) < 1e-15
    np.testing.assert_array_equal(rk.Pure.verifiable([True, False, False], [0, 0, 0], 1.0), [1.0, -0.5, -0.5])
    with pytest.raises(rk.InvalidParamError):
        rk.Pure(0.0)
    with pytest.raises(rk.UnknownNameError):
        rk.Pure.baseline([0.6], [1], [6], [0], "sample")
    with pytest.raises(rk.ShapeMismatchError):
        rk.Pure.step_reward(np.zeros(2), np.zeros(3))
    with pytest.raises(rk.RewardkitError):
        rk.Pure().min_form([0.9, -0.5], [3])


def test_process_refine():
    out = rk.ProcessRefine("clip", 0.5)([0.9, 0.3, 0.6])
    assert abs(out[1] + 0.2) < 1e-15 and out[0] == 0.0 and out[2] == 0.0
    d = rk.ProcessRefine("delta")([0.9, 0.3, 0.6])
    assert abs(d.sum() - 0.9) < 1e-15  # telescopes to r₁
    # Flat steps of two trajectories: each refined alone.
    both = rk.ProcessRefine("delta")([0.9, 0.3, 0.6, 0.9, 0.3, 0.6], [3, 3])
    np.testing.assert_array_equal(both, np.concatenate([d, d]))
    with pytest.raises(rk.MissingInputError):
        rk.ProcessRefine("clip")
    with pytest.raises(rk.UnknownNameError):
        rk.ProcessRefine("smooth")


# ------------------------------------------------------------------------------------------------
# Robust, multi-objective, PF-PPO
# ------------------------------------------------------------------------------------------------


def test_ensembles_brme_multi_objective():
    np.testing.assert_array_equal(rk.ensemble(np.array([[1.0, 3.0], [0.0, 0.0]])), [2.0, 0.0])
    np.testing.assert_array_equal(rk.ensemble(np.array([[1.0, 3.0], [0.0, 0.0]]), "mean_minus_std", 1.0),
                                  [1.0, 0.0])
    np.testing.assert_array_equal(rk.ensemble(np.array([[1.0, 3.0], [0.0, -2.0]]), "min"), [1.0, -2.0])
    # Heads (μ, σ): (2, 0.1), (0, 1): nominal 2 (most confident), minimum 0.
    np.testing.assert_array_equal(rk.brme(np.array([[2.0, 0.0]]), np.array([[0.1, 1.0]]), 0.75), [1.5])
    mo = rk.MultiObjective([0.5, 1.0])
    np.testing.assert_array_equal(mo(np.array([[2.0, 1.0], [4.0, -1.0]])), [2.0, 1.0])
    assert roundtrip(mo).__getnewargs__() == mo.__getnewargs__()
    with pytest.raises(rk.ShapeMismatchError):
        rk.ensemble(np.array([1.0, 2.0]))
    with pytest.raises(rk.UnknownNameError):
        rk.ensemble(np.ones((2, 2)), "median")
    with pytest.raises(rk.ShapeMismatchError):
        rk.brme(np.ones((1, 2)), np.ones((1, 3)), 0.5)
    with pytest.raises(rk.UnknownNameError):
        rk.MultiObjective([1.0], "zscore")
    with pytest.raises(rk.MissingInputError):
        rk.MultiObjective([1.0, 1.0], "group")(np.ones((2, 2)))


def test_pf_ppo():
    r, idx = [0.2, 0.9, -0.5, 0.1], [0, 0, 0, 0]
    np.testing.assert_array_equal(rk.filtration_select(r, idx, "best_worst", seed=1), [False, True, True, False])
    np.testing.assert_array_equal(rk.filtration_weights(r, idx), [0.1, 0.4, 0.1, 0.1])
    np.testing.assert_array_equal(rk.filtration_weights([1.0] * 4, idx, "best_worst"), [1.0, 0.0, 0.0, 1.0])
    w, kept = rk.policy_weights([6.0, 5.0], 5.0, np.array([[1, 1], [1, 0]], dtype=bool))
    assert kept == 1
    np.testing.assert_array_equal(w, [[1.0, 1.0], [0.0, 0.0]])  # 5.0 is not above the threshold
    np.testing.assert_array_equal(rk.reward_weights([-2.0, 0.5, 1.0], 2.0), [4.0, 0.25, 1.0])
    i = rk.resample([0.0, 1.0, 0.0, 3.0], 8, seed=5)
    assert i.dtype == np.int64 and len(i) == 8 and set(i.tolist()) <= {1, 3}
    np.testing.assert_array_equal(i, rk.resample([0.0, 1.0, 0.0, 3.0], 8, seed=5))
    assert rk.r_squared([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == 1.0
    assert rk.r_squared([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == 0.25
    with pytest.raises(rk.UnknownNameError):
        rk.filtration_select(r, idx, "worst")
    with pytest.raises(rk.LengthMismatchError):
        rk.r_squared([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(rk.RewardkitError):
        rk.resample([0.0, 0.0], 3)


# ------------------------------------------------------------------------------------------------
# OREAL, Fine-Grained RLHF, CaRL, potential shaping
# ------------------------------------------------------------------------------------------------


def test_oreal():
    o = rk.Oreal()
    out = o.advantages([True, False, False, False], [0, 0, 0, 0])
    # RLOO on (1, −1, −1, −1): 2 for the positive; −1 − (−1/3) = −2/3, halved.
    assert out[0] == 2.0 and abs(out[1] + 1.0 / 3.0) < 1e-15
    np.testing.assert_array_equal(
        rk.Oreal.filter([True, False, False, True, True, True], [0, 0, 0, 1, 1, 1], all=True),
        [True, True, True, False, False, False])
    k = rk.Oreal.filter([True, False, False, True, True, True], [0, 0, 0, 1, 1, 1], seed=1)
    assert k[0] and k[1] != k[2] and not k[3:].any()
    # Logits 2, −2, 4, 0: cumulative means 2, 0, 4/3, 1; top-k, k = 2.
    pos, neg = rk.Oreal.token_weights(np.array([[2.0, -2.0, 4.0, 0.0]]), np.ones((1, 4), bool), "topk", 0.5, 0.5)
    np.testing.assert_array_equal(pos, [[1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(neg, [[0.0, 1.0, 0.0, 0.0]])
    with pytest.raises(rk.UnknownNameError):
        rk.Oreal("ppo")
    with pytest.raises(rk.UnknownNameError):
        rk.Oreal.token_weights(np.zeros((1, 2)), np.ones((1, 2), bool), "softmax")
    with pytest.raises(rk.InvalidParamError):
        rk.Oreal.token_weights(np.zeros((1, 2)), np.ones((1, 2), bool), "threshold", 1.0, 0.5)
    with pytest.raises(rk.ShapeMismatchError):
        rk.Oreal.token_weights(np.zeros((1, 3)), np.ones((1, 2), bool))


def test_fine_grained():
    fg = rk.FineGrained.qa_feedback(0.3)
    mask = np.array([[True, True, True, False]])
    # relevant: +0.3 on token 0; factual error: −0.5, clipped to token 2.
    out = fg(mask, [0, 0], [0, 9], [0, 1], [1.0, 0.0])
    np.testing.assert_array_equal(out, [[0.3, 0.0, -0.5, 0.0]])
    back = roundtrip(fg)
    np.testing.assert_array_equal(back(mask, [0, 0], [0, 9], [0, 1], [1.0, 0.0]), out)
    # With log-probs: −β·(logp − ref_logp) on valid tokens.
    lp, ref = np.full((1, 4), -1.0), np.full((1, 4), -2.0)
    np.testing.assert_allclose(fg(mask, [], [], [], [], lp, ref), [[-0.3, -0.3, -0.3, 0.0]], rtol=1e-15)
    with pytest.raises(rk.LengthMismatchError):
        fg(mask, [0, 0], [0], [0, 1], [1.0, 0.0])
    with pytest.raises(TypeError):
        rk.FineGrained([["binary", 1.0]])
    with pytest.raises(rk.UnknownNameError):
        rk.FineGrained([("ternary", 1.0)])


def test_carl_and_potential_shaping():
    carl = rk.Carl()
    # Step 0: 0.2 % progress, TTC violation (×0.5); step 1: collision.
    np.testing.assert_array_equal(carl([0.2, 0.1], np.array([[0.5], [1.0]]), [False, True]), [0.1, 0.1 - 1.0])
    assert rk.Carl.speed_factor(12.0, 10.0) == 1.0 - 2.0 / 2.23
    assert roundtrip(carl).__getnewargs__() == carl.__getnewargs__()
    with pytest.raises(rk.UnknownNameError):
        rk.Carl("waymo")
    out = rk.potential_shaping([1.0, 0.0], [0.5, 2.0, 4.0], 0.5)
    np.testing.assert_array_equal(out, [1.0 + 0.5 * 2.0 - 0.5, 0.5 * 4.0 - 2.0])
    # Shaping preserves the return up to Φ(s_0) and the discounted terminal potential.
    assert out[0] + 0.5 * out[1] == 1.0 + 0.25 * 4.0 - 0.5
    z = rk.potential_shaping([1.0, 0.0], [0.5, 2.0, 4.0], 0.5, "zero")
    assert z[1] == -2.0
    with pytest.raises(rk.UnknownNameError):
        rk.potential_shaping([1.0], [0.0, 0.0], 0.5, "drop")
    with pytest.raises(rk.LengthMismatchError):
        rk.potential_shaping([1.0, 0.0], [0.5, 2.0], 0.5)
