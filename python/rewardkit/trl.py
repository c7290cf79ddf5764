"""TRL adapter: rewardkit's reward catalogue as TRL reward functions.

Each class here is a callable with TRL's ``reward_funcs`` calling convention,
``f(prompts=..., completions=..., completion_ids=..., **dataset_columns) -> list[float]``, and a
``__name__`` TRL logs it under. Pass instances to ``GRPOTrainer(reward_funcs=[...])``. State (the
HAPO history, the LASER-D targets) lives on the object: it carries over from batch to batch, and
pickling the object saves it (a restored object resumes with the same rewards).

Inputs the rewards read:

* **texts**: the completions (plain strings, or TRL's conversational form: the last message's
  ``content``);
* **lengths**: token counts from ``completion_ids`` (TRL passes them);
* **tokens**: ``completion_ids`` (repetition penalties, LASER-DE);
* **correctness**: a dataset column (``correct_column``, default ``"correct"``) of booleans, or a
  ``verifier(prompt, completion_text, **row) -> bool`` given at construction;
* **prompt keys and groups**: the prompt texts (the ``G`` completions of a prompt share it).

Example::

    from trl import GRPOTrainer
    from rewardkit.trl import Correctness, Format, Hapo, Repetition

    verify = lambda prompt, text, answer, **_: text.strip().endswith(str(answer))
    trainer = GRPOTrainer(model=..., train_dataset=...,
        reward_funcs=[Correctness(verifier=verify), Format(), Hapo(verifier=verify), Repetition()])
"""

from __future__ import annotations

from typing import Any, Callable

from . import _native as rk

Verifier = Callable[..., bool]


def _text(x: Any) -> str:
    """A completion or prompt as text (TRL's conversational form: the messages' contents)."""
    if isinstance(x, str):
        return x
    if isinstance(x, dict):
        return str(x.get("content", ""))
    if isinstance(x, (list, tuple)):
        if x and isinstance(x[-1], dict):
            return _text(x[-1])
        return "".join(_text(m) for m in x)
    return str(x)


def _prompt_key(x: Any) -> str:
    """The whole prompt (every message) as one string: the key of its group and HAPO history."""
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], dict):
        return "\x1e".join(f"{m.get('role', '')}\x1f{m.get('content', '')}" for m in x)
    return _text(x)


class RewardFunc:
    """Base class: turns TRL's arguments into rewardkit's batch inputs."""

    #: The name TRL logs the reward under (``rewards/<name>``).
    __name__ = "rewardkit"

    def __init__(self, verifier: Verifier | None = None, correct_column: str = "correct"):
        self.verifier = verifier
        self.correct_column = correct_column

    # -- inputs ---------------------------------------------------------------------------
    def correct(self, prompts, completions, kwargs) -> list[bool]:
        col = kwargs.get(self.correct_column)
        if col is not None:
            return [bool(c) for c in col]
        if self.verifier is None:
            raise rk.MissingInputError(
                f"{self.__name__} needs correctness: a dataset column {self.correct_column!r} or "
                "a verifier(prompt, completion_text, **row) -> bool"
            )
        skip = {"trainer_state", "log_extra", "log_metric", "environments", self.correct_column}
        rows = {k: v for k, v in kwargs.items() if k not in skip and isinstance(v, (list, tuple))}
        return [
            bool(self.verifier(_text(p), _text(c), **{k: v[i] for k, v in rows.items()}))
            for i, (p, c) in enumerate(zip(prompts, completions))
        ]

    @staticmethod
    def lengths(completions, completion_ids) -> list[int]:
        if completion_ids is None:
            raise rk.MissingInputError("this reward needs completion_ids (TRL passes them)")
        return [len(ids) for ids in completion_ids]

    @staticmethod
    def texts(completions) -> list[str]:
        return [_text(c) for c in completions]

    @staticmethod
    def keys(prompts) -> list[str]:
        return [_prompt_key(p) for p in prompts]

    def __call__(self, prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.__name__!r})"


class Correctness(RewardFunc):
    """``correct`` (1) / ``wrong`` (0) from the verifier or the dataset column."""

    __name__ = "rewardkit_correctness"

    def __init__(self, correct=1.0, wrong=0.0, verifier=None, correct_column="correct"):
        super().__init__(verifier, correct_column)
        self.term = rk.Correctness(correct, wrong, wrong)

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        return self.term(correct=self.correct(prompts, completions, kwargs)).tolist()


class Format(RewardFunc):
    """The format-only surrogate (Xin et al. 2025): ``0.5·(think block + answer)``."""

    __name__ = "rewardkit_format"

    def __init__(self, open="<think>", close="</think>"):  # noqa: A002 - the reference's names
        super().__init__()
        self.term = rk.Format(open, close)

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        return self.term(texts=self.texts(completions)).tolist()


class Cosine(RewardFunc):
    """Cosine length scaling (Yeo et al. 2025): short correct and long wrong answers."""

    __name__ = "rewardkit_cosine"

    def __init__(self, max_len=14336, correct=(2.0, 1.0), wrong=(-10.0, 0.0), exceed=-10.0,
                 verifier=None, correct_column="correct"):
        super().__init__(verifier, correct_column)
        self.term = rk.CosineLength(max_len, tuple(correct), tuple(wrong), exceed)

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        return self.term(
            lengths=self.lengths(completions, completion_ids),
            correct=self.correct(prompts, completions, kwargs),
        ).tolist()


class Repetition(RewardFunc):
    """The n-gram repetition penalty on ``completion_ids`` (Yeo et al. 2025; HAPO)."""

    __name__ = "rewardkit_repetition"

    def __init__(self, ngram=20, penalty=-5.0, marking="all"):
        super().__init__()
        self.term = rk.RepetitionPenalty(ngram, penalty, marking)

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        if completion_ids is None:
            raise rk.MissingInputError("rewardkit_repetition needs completion_ids (TRL passes them)")
        return self.term(tokens=completion_ids).tolist()


class Overlong(RewardFunc):
    """DAPO's overlong penalty on the completion lengths."""

    __name__ = "rewardkit_overlong"

    def __init__(self, max_len=20480, buffer=4096, factor=1.0):
        super().__init__()
        self.term = rk.Overlong(max_len, buffer, factor)

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        return self.term(lengths=self.lengths(completions, completion_ids)).tolist()


class Laser(RewardFunc):
    """LASER (Liu et al. 2025): ``+α`` for correct answers within ``target`` tokens."""

    __name__ = "rewardkit_laser"

    def __init__(self, alpha=0.5, target=4096, mode="reward", verifier=None, correct_column="correct"):
        super().__init__(verifier, correct_column)
        self.term = rk.Laser(alpha, target, mode)

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        return self.term(
            lengths=self.lengths(completions, completion_ids),
            correct=self.correct(prompts, completions, kwargs),
        ).tolist()


class Hapo(RewardFunc):
    """HAPO (Huang et al. 2025): correct answers shorter than the shortest (or, with
    ``mode="mean"``, the reference's mean) correct answer seen for the prompt. The history lives on
    ``self.term`` and is updated after each call (``update=False`` to freeze it)."""

    __name__ = "rewardkit_hapo"

    def __init__(self, weight=1.0, shape="cosine", mode="min", update=True, verifier=None,
                 correct_column="correct"):
        super().__init__(verifier, correct_column)
        self.term = rk.Hapo(weight, shape, None, None, mode)
        self.update = update

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        return self.term(
            keys=self.keys(prompts),
            lengths=self.lengths(completions, completion_ids),
            correct=self.correct(prompts, completions, kwargs),
            update=self.update,
        ).tolist()


class LaserD(RewardFunc):
    """LASER-D (Liu et al. 2025): LASER with difficulty-aware targets. The targets live on
    ``self.term``; every ``update_every`` calls they are recomputed from that call's rollouts (the
    prompts' groups as monitor set; call ``self.term.update(...)`` with a held-out monitor set
    instead and pass ``update_every=0`` to follow the paper exactly). ``explore=True`` is LASER-DE."""

    __name__ = "rewardkit_laser_d"

    def __init__(self, alpha=0.5, mode="reward", thresholds=(2048, 16384, 1024), group_size=8,
                 default_target=8192, explore=False, update_every=1, verifier=None,
                 correct_column="correct"):
        super().__init__(verifier, correct_column)
        self.term = rk.LaserD(alpha, mode, tuple(thresholds), group_size, default_target, explore=explore)
        self.update_every = update_every
        self.calls = 0

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        lengths = self.lengths(completions, completion_ids)
        correct = self.correct(prompts, completions, kwargs)
        index = self.keys(prompts)
        out = self.term(lengths=lengths, correct=correct, index=index, tokens=completion_ids).tolist()
        self.calls += 1
        if self.update_every and self.calls % self.update_every == 0:
            self.term.update(lengths, correct, index)
        return out
