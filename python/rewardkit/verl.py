"""verl adapter: rewardkit's advantage estimators and policy losses in verl's registries.

``register()`` adds, under ``rewardkit_*`` names,

* every rewardkit advantage estimator to verl's advantage-estimator registry
  (``core_algos.register_adv_est``), so ``algorithm.adv_estimator=rewardkit_grpo`` (or verl's own
  ``compute_advantage(data, adv_estimator="rewardkit_grpo", ...)``) runs rewardkit's GRPO;
* every rewardkit policy loss to verl's policy-loss registry (``core_algos.register_policy_loss``),
  so ``actor.policy_loss.loss_mode=rewardkit_vanilla`` runs rewardkit's PPO clip. The loss is a
  ``torch.autograd.Function`` whose backward is rewardkit's exact gradient.

The functions take verl's arguments and tensors (``token_level_rewards``, ``response_mask``,
``index`` = the uid array; ``old_log_prob, log_prob, advantages, response_mask, loss_agg_mode,
config, rollout_is_weights``), hand CPU views to rewardkit without copies (tensors on an
accelerator are copied to the host and the results copied back), and return tensors on the
input's device. Numerics follow ``preset`` (``"verl"`` by default: verl's numbers, including
its singleton and epsilon conventions; rewardkit's exact zeros for equal rewards hold in every
preset).

Example::

    import rewardkit.verl
    rewardkit.verl.register()          # once per process, before verl builds its trainer
    # algorithm.adv_estimator=rewardkit_grpo  actor.policy_loss.loss_mode=rewardkit_vanilla
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native as rk

#: rewardkit estimators registered by default (verl names; each becomes ``rewardkit_<name>``).
#: verl's ``compute_advantage`` passes critic values only to its own ``gae`` branch and the token
#: statistics only to its own optimal-token-baseline names, so GAE and OTB are not registered:
#: call ``rewardkit.compute_advantage("gae", ..., values=...)`` (or ``"optimal_token_baseline"``
#: with ``old_log_probs``, ``sum_pi_squared``) directly for those.
ESTIMATORS = (
    "grpo",
    "dr_grpo",
    "grpo_passk",
    "rloo",
    "reinforce_plus_plus",
    "reinforce_plus_plus_baseline",
    "remax",
    "opo",
    "gpg",
)

#: rewardkit policy losses registered by default (each becomes ``rewardkit_<mode>``).
POLICY_LOSSES = (
    "vanilla",
    "gspo",
    "gspo_token",
    "sapo",
    "gpg",
    "clip_cov",
    "kl_cov",
    "geo_mean",
    "cispo",
    "dppo_tv",
    "dppo_kl",
    "dro",
)


def _get(config: Any, name: str, default: Any = None) -> Any:
    """``config.name`` for verl's dataclass configs, ``config[name]`` for dicts, else ``default``."""
    if config is None:
        return default
    if isinstance(config, dict):
        v = config.get(name, default)
    else:
        v = getattr(config, name, default)
    return default if v is None else v


def _host(t):
    """A NumPy view of a tensor (a host copy for tensors on an accelerator); None stays None."""
    if t is None:
        return None
    if hasattr(t, "detach"):
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        return t.numpy()
    return np.asarray(t)


def _like(a: np.ndarray, ref):
    """``a`` as a tensor on ``ref``'s device (zero-copy on CPU)."""
    import torch

    out = torch.from_numpy(a)
    return out.to(ref.device) if hasattr(ref, "device") and ref.device.type != "cpu" else out


def make_estimator(name: str, preset: str = "verl"):
    """A verl advantage-estimator function running rewardkit's ``name`` under ``preset``."""

    def estimator(
        token_level_rewards,
        response_mask,
        index=None,
        epsilon: float | None = None,
        norm_adv_by_std_in_grpo: bool | None = None,
        config=None,
        reward_baselines=None,
        sum_pi_squared=None,
        old_log_probs=None,
        rollout_is_weights=None,
        values=None,
        gamma: float | None = None,
        lam: float | None = None,
        **_: Any,
    ):
        norm = norm_adv_by_std_in_grpo
        if norm is None:
            norm = _get(config, "norm_adv_by_std_in_grpo", True)
        adv, ret = rk.compute_advantage(
            name,
            _host(token_level_rewards),
            _host(response_mask),
            index,
            preset=preset,
            norm_adv_by_std_in_grpo=bool(norm),
            epsilon=epsilon,
            gamma=float(gamma if gamma is not None else _get(config, "gamma", 1.0)),
            lam=float(lam if lam is not None else _get(config, "lam", 1.0)),
            values=_host(values),
            reward_baselines=_host(reward_baselines),
            old_log_probs=_host(old_log_probs),
            sum_pi_squared=_host(sum_pi_squared),
            rollout_is_weights=_host(rollout_is_weights),
        )
        return _like(adv, token_level_rewards), _like(ret, token_level_rewards)

    estimator.__name__ = f"rewardkit_{name}"
    estimator.__doc__ = f"rewardkit's {name!r} advantage estimator (preset {preset!r}) with verl's signature."
    return estimator


def _loss_kwargs(mode: str, config: Any) -> dict:
    """rewardkit ``policy_loss`` keywords from verl's actor config."""
    clip = _get(config, "clip_ratio", 0.2)
    kw = dict(
        clip_ratio_low=float(_get(config, "clip_ratio_low", clip)),
        clip_ratio_high=float(_get(config, "clip_ratio_high", clip)),
    )
    pl = _get(config, "policy_loss", None)
    c = float(_get(config, "clip_ratio_c", 3.0))
    if mode == "vanilla":
        kw["clip_ratio_c"] = c
    elif mode in ("dppo_tv", "dppo_kl"):
        kw["truncation"] = c
    elif mode == "sapo":
        kw["tau_pos"] = float(_get(config, "tau_pos", 1.0))
        kw["tau_neg"] = float(_get(config, "tau_neg", 1.05))
    elif mode == "dro":
        kw["dro_beta"] = float(_get(pl, "dro_beta", 1.0))
    elif mode == "clip_cov":
        kw.update(
            cov_ratio=float(_get(pl, "clip_cov_ratio", 0.0002)),
            cov_lb=float(_get(pl, "clip_cov_lb", 1.0)),
            cov_ub=float(_get(pl, "clip_cov_ub", 5.0)),
        )
    elif mode == "kl_cov":
        kw.update(
            cov_ratio=float(_get(pl, "kl_cov_ratio", 0.0002)),
            cov_lb=0.0,
            cov_ub=1.0,
            kl_cov_coef=float(_get(pl, "ppo_kl_coef", 0.1)),
        )
    return kw


def _total(parts, info: dict, horizon_default: float):
    """verl's ``global_batch_info`` as the whole batch's parts and the data-parallel factor."""
    tokens = info.get("batch_num_tokens")
    seqs = info.get("global_batch_size")
    total = rk.LossParts(
        parts.sum,
        parts.seq_mean_sum,
        int(tokens) if tokens is not None else parts.tokens,
        int(seqs) if seqs is not None else parts.seqs,
        int(seqs) if seqs is not None else parts.rows,
    )
    horizon = info.get("loss_scale_factor") or horizon_default
    return total, float(info.get("dp_size", 1) or 1), float(horizon)


def make_policy_loss(mode: str, preset: str = "verl"):
    """A verl policy-loss function running rewardkit's ``mode`` under ``preset``; differentiable
    in ``log_prob`` through rewardkit's exact gradient."""
    import torch

    class _Loss(torch.autograd.Function):
        @staticmethod
        def forward(ctx, log_prob, value, grad):  # noqa: D401 - torch's signature
            ctx.save_for_backward(grad)
            return value.clone()

        @staticmethod
        def backward(ctx, g):
            (grad,) = ctx.saved_tensors
            return g * grad, None, None

    def policy_loss(
        old_log_prob,
        log_prob,
        advantages,
        response_mask,
        loss_agg_mode: str = "token-mean",
        config=None,
        rollout_is_weights=None,
    ):
        info = dict(_get(config, "global_batch_info", {}) or {})
        kw = _loss_kwargs(mode, config)
        kw.update(loss_mode=mode, preset=preset, weights=_host(rollout_is_weights))
        args = (_host(old_log_prob), _host(log_prob), _host(advantages), _host(response_mask))
        # As verl: GMPO averages per-sequence losses, SAPO always aggregates seq-mean-token-mean.
        agg = {"geo_mean": "row-mean-token-sum", "sapo": "seq-mean-token-mean"}.get(mode, loss_agg_mode)
        horizon = float(args[1].shape[-1])
        _, _, parts = rk.policy_loss(*args, loss_agg_mode=agg, horizon=horizon, **kw)
        total, dp, horizon = _total(parts, info, horizon)
        value, grad, _ = rk.policy_loss(*args, loss_agg_mode=agg, horizon=horizon, total=total, **kw)
        v = torch.tensor(value * dp, dtype=log_prob.dtype, device=log_prob.device)
        g = _like(grad, log_prob).to(log_prob.dtype) * dp
        loss = _Loss.apply(log_prob, v, g)
        metrics = {"actor/rewardkit_tokens": float(parts.tokens)}
        return loss, metrics

    policy_loss.__name__ = f"rewardkit_{mode}"
    policy_loss.__doc__ = f"rewardkit's {mode!r} policy loss (preset {preset!r}) with verl's signature."
    return policy_loss


def register(
    prefix: str = "rewardkit_",
    preset: str = "verl",
    estimators=ESTIMATORS,
    policy_losses=POLICY_LOSSES,
) -> list[str]:
    """Registers rewardkit's estimators and policy losses in verl's registries under
    ``prefix + name``; returns the registered names. Calling it again with the same settings is a
    no-op (verl rejects a different function under an existing name)."""
    from verl.trainer.ppo import core_algos

    names = []
    for name in estimators:
        key = prefix + name
        existing = core_algos.ADV_ESTIMATOR_REGISTRY.get(key)
        if existing is None or getattr(existing, "_rewardkit", None) != (name, preset):
            fn = make_estimator(name, preset)
            fn._rewardkit = (name, preset)
            core_algos.ADV_ESTIMATOR_REGISTRY.pop(key, None)
            core_algos.register_adv_est(key)(fn)
        names.append(key)
    for mode in policy_losses:
        key = prefix + mode
        fn = make_policy_loss(mode, preset)
        core_algos.register_policy_loss(key)(fn)
        names.append(key)
    return names
