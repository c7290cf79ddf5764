"""rewardkit's TRL reward functions called by TRL itself (GRPOTrainer._calculate_rewards, the
code path that calls `reward_funcs` during training), with state carried across batches."""

import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

import rewardkit as rk  # noqa: E402
import rewardkit.trl as rkt  # noqa: E402
from trl import GRPOTrainer  # noqa: E402
from trl.trainer.utils import get_callable_name  # noqa: E402


def verify(prompt, text, answer, **_):
    return text.strip().endswith(f"\\boxed{{{answer}}}")


def trl_rewards(funcs, inputs, prompts, completions, completion_ids):
    """TRL's own `_calculate_rewards` on a trainer holding only what that method reads."""
    from accelerate import Accelerator
    from transformers import TrainerState

    t = object.__new__(GRPOTrainer)
    t.accelerator = Accelerator(cpu=True)
    t.args = SimpleNamespace(report_to=[])
    t.state = TrainerState()
    t.reward_funcs = funcs
    t.reward_processing_classes = [None] * len(funcs)
    t.reward_func_names = [get_callable_name(f) for f in funcs]
    t._log_completion_extra = lambda *a, **k: None
    t._log_metric = lambda *a, **k: None
    t.environments = None
    return GRPOTrainer._calculate_rewards(t, inputs, prompts, completions, completion_ids).numpy()


def batch(conversational=False):
    """Two prompts, two completions each (TRL repeats each prompt G times)."""
    prompts = ["What is 1+1?", "What is 1+1?", "What is 2+2?", "What is 2+2?"]
    texts = ["<think>easy</think> \\boxed{2}", "3", "<think>hmm</think> \\boxed{5}", "<think>so</think> \\boxed{4}"]
    ids = [[1, 2, 3, 4, 5], [7], [1, 2, 1, 2, 1, 2, 9], [4, 4, 4]]
    answers = [2, 2, 4, 4]
    if conversational:
        prompts = [[{"role": "user", "content": p}] for p in prompts]
        completions = [[{"role": "assistant", "content": c}] for c in texts]
    else:
        completions = texts
    inputs = [{"prompt": p, "answer": a} for p, a in zip(prompts, answers)]
    return inputs, prompts, completions, ids


def cosine(L, correct, lmax=100, c=(2.0, 1.0), w=(-10.0, 0.0)):
    """Yeo et al.'s cosine schedule, written out (the test's oracle)."""
    hi, lo = c if correct else w
    return lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * L / lmax))


@pytest.mark.parametrize("conversational", [False, True])
def test_reward_functions_through_trl(conversational):
    inputs, prompts, completions, ids = batch(conversational)
    funcs = [rkt.Correctness(verifier=verify), rkt.Format(), rkt.Cosine(max_len=100, verifier=verify),
             rkt.Repetition(ngram=2, penalty=-1.0), rkt.Overlong(max_len=8, buffer=4)]
    r = trl_rewards(funcs, inputs, prompts, completions, ids)
    assert r.shape == (4, 5) and r.dtype == np.float32
    correct = [True, False, False, True]
    np.testing.assert_array_equal(r[:, 0], [1, 0, 0, 1])
    np.testing.assert_array_equal(r[:, 1], [1.0, 0.0, 1.0, 1.0])
    want = [cosine(len(i), c) for i, c in zip(ids, correct)]
    np.testing.assert_allclose(r[:, 2], want, rtol=1e-6)
    # Repeated bigrams: (1,2) three times in row 2 marks 4 of 7 tokens; (4,4) once in row 3.
    np.testing.assert_allclose(r[:, 3], [0.0, 0.0, -4 / 7, -2 / 3], rtol=1e-6)
    # DAPO: no penalty up to L_max - L_cache = 4 tokens, then -(L - 4)/4.
    np.testing.assert_allclose(r[:, 4], [-0.25, 0.0, -0.75, 0.0], rtol=1e-6)
    assert [get_callable_name(f) for f in funcs] == [
        "rewardkit_correctness", "rewardkit_format", "rewardkit_cosine", "rewardkit_repetition", "rewardkit_overlong"]


def test_hapo_state_lives_on_the_object_and_pickles():
    inputs, prompts, completions, ids = batch()
    hapo = rkt.Hapo(verifier=verify)
    first = trl_rewards([hapo], inputs, prompts, completions, ids)[:, 0]
    # No history yet: every length reward is 0.
    np.testing.assert_array_equal(first, [0, 0, 0, 0])
    saved = pickle.dumps(hapo)
    # Second batch: prompt 1's shortest correct answer so far has 5 tokens, prompt 2's 3 tokens.
    ids2 = [[1, 2], [7], [1, 2, 3, 4, 5, 6], [4]]
    second = trl_rewards([hapo], inputs, prompts, completions, ids2)[:, 0]
    # HAPO (cosine): correct -> cos(L/h * pi/2) (floored at -0.7); wrong -> min(0, f) with
    # f = -1 from L >= 2h on: row 1 (1 token, h = 5) is short and wrong (0), row 2 (6 tokens,
    # h = 3) long and wrong (-1).
    want = [math.cos(2 / 5 * math.pi / 2), 0.0, -1.0, math.cos(1 / 3 * math.pi / 2)]
    np.testing.assert_allclose(second, want, rtol=1e-6)
    restored = pickle.loads(saved)
    again = trl_rewards([restored], inputs, prompts, completions, ids2)[:, 0]
    np.testing.assert_array_equal(again, second)
    assert pickle.loads(pickle.dumps(restored)).term == restored.term


def test_laser_d_targets_carry_over_and_pickle():
    inputs, prompts, completions, ids = batch()
    f = rkt.LaserD(thresholds=(2, 8, 2), group_size=2, default_target=4, verifier=verify)
    a = trl_rewards([f], inputs, prompts, completions, ids)[:, 0]
    # Before any update every band's target is the configured 4 tokens: +0.5 for correct answers
    # of at most 4 tokens (row 3), nothing for the 5-token correct row 0.
    np.testing.assert_array_equal(a, [0.0, 0.0, 0.0, 0.5])
    saved = pickle.dumps(f)
    b = trl_rewards([f], inputs, prompts, completions, ids)[:, 0]
    restored = pickle.loads(saved)
    np.testing.assert_array_equal(trl_rewards([restored], inputs, prompts, completions, ids)[:, 0], b)
    assert restored.term.targets() == f.term.targets()


def test_missing_correctness_is_a_clear_error():
    inputs, prompts, completions, ids = batch()
    with pytest.raises(rk.MissingInputError, match="verifier"):
        trl_rewards([rkt.Cosine()], inputs, prompts, completions, ids)


def test_correct_column_instead_of_a_verifier():
    inputs, prompts, completions, ids = batch()
    for row, c in zip(inputs, [True, True, False, False]):
        row["correct"] = c
    r = trl_rewards([rkt.Correctness(correct=2.0, wrong=-1.0)], inputs, prompts, completions, ids)
    np.testing.assert_array_equal(r[:, 0], [2, 2, -1, -1])
