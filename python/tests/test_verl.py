"""rewardkit inside the real verl (installed from the package registry): its own advantage
dispatch (`ray_trainer.compute_advantage`) and its policy-loss registry."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("verl")

import rewardkit.verl as rkv  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.ppo import core_algos  # noqa: E402
from verl.trainer.ppo.ray_trainer import compute_advantage  # noqa: E402

F32 = dict(rtol=2e-5, atol=2e-6)


@pytest.fixture(scope="module", autouse=True)
def registered():
    return rkv.register()


def batch(rewards, uids, lengths, t=6):
    """A verl DataProto: outcome rewards on each row's last valid token."""
    b = len(rewards)
    mask = torch.zeros(b, t)
    tl = torch.zeros(b, t)
    for i, (r, n) in enumerate(zip(rewards, lengths)):
        mask[i, :n] = 1
        tl[i, n - 1] = float(r)
    return DataProto.from_dict(
        tensors={
            "token_level_rewards": tl,
            "response_mask": mask,
            "responses": torch.zeros(b, t, dtype=torch.long),
            "attention_mask": torch.ones(b, 2 * t, dtype=torch.long),
        },
        non_tensors={"uid": np.array(uids, dtype=object)},
    )


def random_batch(seed, groups=6, k=4, t=6, singleton=True):
    rng = np.random.default_rng(seed)
    uids = [f"uid-{g}" for g in range(groups) for _ in range(k)]
    if singleton:
        uids.append("lonely")  # a group of one: verl keeps the raw reward
    perm = rng.permutation(len(uids))  # verl's balance_batch leaves groups scattered
    uids = [uids[i] for i in perm]
    rewards = rng.choice([0.0, 1.0, 0.5], size=len(uids)).astype(np.float32)
    lengths = rng.integers(1, t + 1, size=len(uids))
    return batch(rewards, uids, lengths, t)


def test_registry_holds_rewardkit_names(registered):
    assert "rewardkit_grpo" in registered and "rewardkit_vanilla" in registered
    assert core_algos.get_adv_estimator_fn("rewardkit_grpo").__name__ == "rewardkit_grpo"
    assert core_algos.get_policy_loss_fn("rewardkit_vanilla").__name__ == "rewardkit_vanilla"
    # Registering again is a no-op (verl rejects a different function under an existing name).
    assert rkv.register() == registered


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("norm", [True, False])
def test_compute_advantage_grpo_matches_verl(seed, norm):
    ours = compute_advantage(random_batch(seed), adv_estimator="rewardkit_grpo", num_repeat=4,
                             norm_adv_by_std_in_grpo=norm, config={"norm_adv_by_std_in_grpo": norm})
    theirs = compute_advantage(random_batch(seed), adv_estimator="grpo", num_repeat=4,
                               norm_adv_by_std_in_grpo=norm)
    a, b = ours.batch["advantages"], theirs.batch["advantages"]
    assert a.dtype == torch.float32 and a.shape == b.shape
    np.testing.assert_allclose(a.numpy(), b.numpy(), **F32)
    np.testing.assert_allclose(ours.batch["returns"].numpy(), theirs.batch["returns"].numpy(), **F32)
    assert a.abs().max() > 0.5  # a real signal, not all zeros


@pytest.mark.parametrize("name", ["rloo", "reinforce_plus_plus", "reinforce_plus_plus_baseline", "gpg", "opo", "grpo_passk"])
def test_other_estimators_match_verl(name):
    from verl.trainer.config import AlgoConfig

    cfg = AlgoConfig(gamma=1.0, lam=1.0)
    single = name != "grpo_passk"  # pass@k needs two samples per group
    ours = compute_advantage(random_batch(4, singleton=single), adv_estimator=f"rewardkit_{name}",
                             num_repeat=4, config=cfg)
    theirs = compute_advantage(random_batch(4, singleton=single), adv_estimator=name, num_repeat=4, config=cfg)
    np.testing.assert_allclose(ours.batch["advantages"].numpy(), theirs.batch["advantages"].numpy(), **F32)


def test_constant_group_is_exactly_zero_where_verl_is_not():
    # Three equal float32 rewards: verl's float32 group mean differs from the value by rounding,
    # and (x - mean) / (std + 1e-6) turns that into an O(0.1) advantage.
    v = -1.381279706954956
    theirs = compute_advantage(batch([v] * 3, ["a"] * 3, [2, 3, 1]), adv_estimator="grpo", num_repeat=3)
    ours = compute_advantage(batch([v] * 3, ["a"] * 3, [2, 3, 1]), adv_estimator="rewardkit_grpo", num_repeat=3)
    assert theirs.batch["advantages"].abs().max() > 0.01
    assert torch.count_nonzero(ours.batch["advantages"]) == 0


def actor_config(mode="vanilla", global_batch_info=None):
    """verl's own ActorConfig (its losses assert the type)."""
    from verl.workers.config import ActorConfig
    from verl.workers.config.actor import PolicyLossConfig

    return ActorConfig(
        strategy="fsdp", rollout_n=4, ppo_micro_batch_size_per_gpu=1,
        clip_ratio=0.2, clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0,
        policy_loss=PolicyLossConfig(loss_mode=mode, dro_beta=1.0),
        global_batch_info=global_batch_info or {},
    )


def loss_inputs(seed, b=5, t=7):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(b, t, generator=g) * 3
    lp = old + 0.3 * torch.randn(b, t, generator=g)
    adv = torch.randn(b, 1, generator=g).expand(b, t).contiguous()
    mask = (torch.arange(t)[None, :] < torch.randint(1, t + 1, (b, 1), generator=g)).float()
    return old, lp, adv, mask


@pytest.mark.parametrize("mode", ["vanilla", "gspo", "sapo", "cispo", "gpg", "dro"])
@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
def test_policy_loss_matches_verl_value_and_gradient(mode, agg):
    cfg = actor_config(mode)
    old, lp, adv, mask = loss_inputs(3)
    out = {}
    for name in (mode, f"rewardkit_{mode}"):
        x = lp.clone().requires_grad_(True)
        loss, _ = core_algos.get_policy_loss_fn(name)(old, x, adv, mask, agg, cfg)
        loss.backward()
        out[name] = (loss.item(), x.grad.numpy().copy())
    (v0, g0), (v1, g1) = out[mode], out[f"rewardkit_{mode}"]
    np.testing.assert_allclose(v1, v0, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(g1, g0, rtol=2e-5, atol=2e-6)
    assert np.abs(g1).max() > 0


def test_policy_loss_global_batch_info_shards():
    """Two micro-batches with verl's global_batch_info give verl's shard losses and gradients."""
    old, lp, adv, mask = loss_inputs(5, b=6)
    info = dict(dp_size=1, batch_num_tokens=int(mask.sum()), global_batch_size=6)
    cfg = actor_config("vanilla", info)
    for agg in ("token-mean", "seq-mean-token-mean"):
        for sl in (slice(0, 2), slice(2, 6)):
            res = []
            for name in ("vanilla", "rewardkit_vanilla"):
                x = lp[sl].clone().requires_grad_(True)
                loss, _ = core_algos.get_policy_loss_fn(name)(old[sl], x, adv[sl], mask[sl], agg, cfg)
                loss.backward()
                res.append((loss.item(), x.grad.numpy()))
            np.testing.assert_allclose(res[1][0], res[0][0], rtol=2e-5, atol=2e-6)
            np.testing.assert_allclose(res[1][1], res[0][1], rtol=2e-5, atol=2e-6)
