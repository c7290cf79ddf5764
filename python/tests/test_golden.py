"""Every golden vector of tests/data/golden (verl's, TRL's and OpenRLHF's own outputs) through the
Python API, in the dtype the framework ran (and f64 cases also in f32 where the Rust suite does)."""

import numpy as np
import pytest

import rewardkit as rk
from golden import F32_TOL, close, load

VERL_ADV = {
    "compute_grpo_outcome_advantage": "grpo",
    "compute_grpo_vectorized_outcome_advantage": "grpo",
    "compute_grpo_passk_outcome_advantage": "grpo_passk",
    "compute_gdpo_outcome_advantage": "gdpo",
    "compute_rloo_outcome_advantage": "rloo",
    "compute_rloo_vectorized_outcome_advantage": "rloo",
    "compute_opo_outcome_advantage": "opo",
    "compute_reinforce_plus_plus_baseline_outcome_advantage": "reinforce_plus_plus_baseline",
    "compute_gpg_outcome_advantage": "gpg",
    "compute_gae_advantage_return": "gae",
    "compute_reinforce_plus_plus_outcome_advantage": "reinforce_plus_plus",
    "compute_remax_outcome_advantage": "remax",
    "compute_optimal_token_baseline_advantage": "optimal_token_baseline",
    "compute_multi_turn_optimal_token_baseline_advantage": "tir_optimal_token_baseline",
}


def verl_advantage_case(c, dtype):
    cfg = c.p("config", {}) or {}
    norm = c.params.get("norm_adv_by_std_in_grpo")
    if norm is None:
        norm = cfg.get("norm_adv_by_std_in_grpo", True)
    gamma = c.params.get("gamma", cfg.get("gamma", 1.0))
    kw = dict(
        preset="verl",
        norm_adv_by_std_in_grpo=norm,
        gamma=gamma if gamma is not None else 1.0,
        lam=c.p("lam", 1.0),
    )
    if c.params.get("epsilon") is not None and "optimal_token_baseline" not in c.function:
        kw["epsilon"] = c.params["epsilon"]
    if c.params.get("handle_zero_tail") is not None:
        kw["handle_zero_tail"] = c.params["handle_zero_tail"]
    for name, key in [
        ("values", "values"),
        ("reward_baselines", "reward_baselines"),
        ("old_log_probs", "old_log_probs"),
        ("sum_pi_squared", "sum_pi_squared"),
        ("rollout_is_weights", "rollout_is_weights"),
    ]:
        if c.has(name):
            kw[key] = c.input(name, dtype)
    keys = cfg.get("gdpo_reward_keys")
    if keys:
        kw["components"] = np.stack([c.input(k, dtype) for k in keys], axis=1)
        kw["component_weights"] = np.array(cfg["gdpo_reward_weights"], dtype)
    adv, ret = rk.compute_advantage(
        VERL_ADV[c.function],
        c.input("token_level_rewards", dtype),
        c.mask("response_mask"),
        np.array(c.group_index, dtype=object),
        **kw,
    )
    assert adv.dtype == dtype and ret.dtype == dtype
    # verl's GDPO per-key scores are float32 tensors and the *_vectorized estimators compute
    # group statistics in float32: their f64 outputs are f32-accurate.
    f32_inside = bool(keys) or "vectorized" in c.function
    tol = F32_TOL if (f32_inside or dtype == np.float32) else c.tol
    close(c, "advantages", adv, c.output("advantages"), tol=tol)
    want_ret = c.output("returns")
    if VERL_ADV[c.function] == "gae":
        # verl's GAE returns at masked positions read the masked values; rewardkit writes 0 there.
        m = c.mask("response_mask")
        assert np.all(ret[~m] == 0), c.id
        want_ret = np.where(m, want_ret, 0.0)
    close(c, "returns", ret, want_ret, tol=tol)


def test_verl_advantages():
    cases = load("verl_advantages")
    for c in cases:
        verl_advantage_case(c, c.np_dtype)
        if c.dtype == "float64":
            verl_advantage_case(c, np.float32)
    assert len(cases) == 58


def test_trl_advantages():
    cases = load("trl_grpo_advantages")
    for c in cases:
        adv = rk.trl_grpo_advantages(
            c.input("rewards_per_func"),
            c.input("reward_weights"),
            num_generations=c.params["num_generations"],
            scale_rewards=c.params["scale_rewards"],
            multi_objective_aggregation=c.params["multi_objective_aggregation"],
        )
        assert adv.dtype == c.np_dtype
        close(c, "advantages", adv, c.output("advantages"))
    assert len(cases) == 8


def test_trl_preset_through_compute_advantage():
    c = load("trl_grpo_advantages")[0]
    r = c.input("rewards_per_func", np.float64)[:, 0]
    tok = np.zeros((len(r), 2))
    tok[:, 1] = r
    adv, _ = rk.compute_advantage("grpo", tok, np.ones_like(tok, bool), num_generations=4, preset="trl")
    close(c, "trl via compute_advantage", adv[:, 0], c.output("advantages"), tol=(1e-10, 1e-12))


def test_openrlhf_advantages():
    cases = load("openrlhf_advantages")
    for c in cases:
        est = c.params["estimator"]
        adv, ret, info = rk.openrlhf_advantages(
            est,
            c.input("rewards"),
            c.mask("action_mask"),
            c.params["n_samples_per_prompt"],
            kl=c.input("kl"),
            values=c.input("values"),
            gamma=c.params["gamma"],
            lambd=c.params["lambd"],
            no_std_norm=c.params["no_std_norm"],
            kl_coef=c.params["kl_coef"],
            reward_clip=tuple(c.params["reward_clip_range"]),
        )
        # OpenRLHF normalizes with float32 statistics whatever the dtype.
        normalized = est in ("gae", "reinforce", "reinforce_baseline")
        close(c, "advantages", adv, c.output("advantages"), tol=F32_TOL if normalized else None)
        close(c, "returns", ret, c.output("returns"))
        close(c, "info_return", info, c.output("info_return"))
    assert len(cases) == 44


def test_verl_masked_statistics():
    cases = load("verl_masked_whiten")
    for c in cases:
        x, m = c.input("values"), c.mask("mask")
        if c.function == "masked_whiten":
            out = rk.masked_whiten(x, m, c.params["shift_mean"], preset="verl")
            close(c, "whitened", out, c.output("whitened"))
        elif c.function == "masked_mean":
            n = m.sum()
            # verl divides by count + 1e-8; rewardkit's masked_mean is exact.
            want = c.scalar("mean") * (n + 1e-8) / n
            close(c, "mean", rk.masked_mean(x, m), want, tol=(max(c.tol[0], 1e-9), c.tol[1]))
        else:
            got = rk.masked_var(x, m, c.params["unbiased"])
            close(c, "var", got, c.output("var").reshape(-1)[0], tol=(1e-7, c.tol[1]))
    assert len(cases) == 10


def kl_case(c, name, logp, ref, preset, dtype, f32_inside=False):
    lp, rp = c.input(logp, dtype), c.input(ref, dtype)
    v, g = rk.kl_penalty(lp, rp, name, preset=preset)
    tol = F32_TOL if (f32_inside or dtype == np.float32) else c.tol
    close(c, "value", v, c.output("kl"), tol=tol)
    close(c, "d/dlogp", g, c.grad(logp), tol=tol)
    close(c, "d/dref", -g, c.grad(ref), tol=tol)


def test_verl_kl():
    checked = 0
    for c in load("verl_kl"):
        name = c.params["kl_penalty"]
        if name == "full":
            assert c.error is not None
            with pytest.raises(rk.UnknownNameError):
                rk.kl_penalty(np.zeros(2), np.zeros(2), name)
            continue
        kl_case(c, name, "logprob", "ref_logprob", "verl", c.np_dtype)
        if c.dtype == "float64":
            kl_case(c, name, "logprob", "ref_logprob", "verl", np.float32)
        checked += 1
    assert checked >= 28


def test_openrlhf_kl():
    cases = load("openrlhf_kl")
    for c in cases:
        kl_case(c, c.params["kl_estimator"], "log_probs", "log_probs_base", "openrlhf", c.np_dtype, True)
    assert len(cases) == 6


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def verl_policy_case(c):
    conf = c.p("config", {})
    pl = conf.get("policy_loss", {}) or {}
    old_name = "old_log_prob" if c.has("old_log_prob") else "rollout_log_prob"
    lp, old, adv = c.input("log_prob"), c.input(old_name), c.input("advantages")
    mask = c.mask("response_mask")
    t = lp.shape[1]
    if c.function == "compute_policy_loss":
        cr = c.params["cliprange"]
        lo, hi, cc = c.p("cliprange_low", cr), c.p("cliprange_high", cr), c.params["clip_ratio_c"]
    else:
        lo, hi, cc = conf["clip_ratio_low"], conf["clip_ratio_high"], conf["clip_ratio_c"]
    mode = pl.get("loss_mode") or "vanilla"
    if c.function == "compute_policy_loss":
        mode = "vanilla"
    if c.function == "compute_policy_loss_reinforce":
        mode = "reinforce"
    weights = None
    if mode == "bypass_mode":
        rc = pl["rollout_correction"]
        reinforce = rc.get("loss_type") == "reinforce"
        if rc.get("rollout_rs") is not None:
            return False  # rejection sampling (verl rollout_rs) is not bound in Python
        level = rc.get("rollout_is")
        if level is not None:
            th = rc["rollout_is_threshold"]
            if isinstance(th, str):
                a, b = th.split("_")
                lo_t, hi_t, mask_mode = float(a), float(b), True
            else:
                lo_t, hi_t, mask_mode = 0.0, float(th), False
            is_mode = {
                ("token", False): "token_truncate",
                ("token", True): "token_mask",
                ("sequence", False): "sequence_truncate",
            }.get((level, mask_mode), "sequence_mask")
            w, _ = rk.is_weights(
                lp, old, mask, is_mode, lo_t, hi_t, preset="verl",
                batch_normalize=rc.get("rollout_is_batch_normalize") is True,
            )
            if reinforce:
                weights = w
        mode = "reinforce" if reinforce else "vanilla"
    kw = dict(preset="verl", clip_ratio_low=lo, clip_ratio_high=hi, loss_mode=mode, weights=weights)
    kind = {"gspo": "gspo_token"}.get(mode, mode)
    if kind == "vanilla":
        kw["clip_ratio_c"] = cc
    elif kind in ("dppo_tv", "dppo_kl"):
        kw["truncation"] = cc
    elif kind == "sapo":
        kw["tau_pos"], kw["tau_neg"] = conf["tau_pos"], conf["tau_neg"]
    elif kind == "dro":
        kw["dro_beta"] = pl["dro_beta"]
    elif kind == "clip_cov":
        kw.update(cov_ratio=pl["clip_cov_ratio"], cov_lb=pl["clip_cov_lb"], cov_ub=pl["clip_cov_ub"])
    elif kind == "kl_cov":
        kw.update(cov_ratio=pl["kl_cov_ratio"], cov_lb=0.0, cov_ub=1.0, kl_cov_coef=pl["ppo_kl_coef"])
    if kind in ("gspo_token", "sapo"):
        agg = "seq-mean-token-mean"
    elif kind == "geo_mean":
        agg = "row-mean-token-sum"
    else:
        agg = c.params["loss_agg_mode"]
    loss, grad, parts = rk.policy_loss(old, lp, adv, mask, loss_agg_mode=agg, horizon=float(t), seed=7, **kw)
    assert grad.dtype == c.np_dtype
    close(c, "pg_loss", loss, c.scalar("pg_loss"))
    close(c, "grad", grad, c.grad("log_prob"))
    assert isinstance(parts, rk.LossParts) and parts.tokens == int(mask.sum())
    return True


def test_verl_policy_losses():
    cases = load("verl_policy_losses")
    ran = sum(verl_policy_case(c) for c in cases)
    # The 4 bypass cases with verl's rollout rejection sampling (rollout_rs) need rejection_mask,
    # which the Python API does not bind; every other case runs.
    assert ran == 40, ran


def test_verl_agg_loss():
    cases = load("verl_agg_loss")
    for c in cases:
        x, m = c.input("loss_mat"), c.mask("loss_mask")
        t = x.shape[1]
        agg = rk.Aggregation(c.params["loss_agg_mode"], preset="verl", horizon=c.p("loss_scale_factor", float(t)))
        parts = agg.parts(x, m)
        dp = c.p("dp_size", 1.0)
        total = parts
        if c.params.get("batch_num_tokens") is not None:
            q = int(c.params["global_batch_size"])
            total = rk.LossParts(parts.sum, parts.seq_mean_sum, int(c.params["batch_num_tokens"]), q, q)
        v = agg.value(parts, total) * dp
        g = np.ones_like(x)
        agg.scale_grad(g, m, total)
        close(c, "loss", v, c.scalar("loss"))
        close(c, "grad", np.where(m, g * dp, 0.0), c.grad("loss_mat"))
        if total == parts and dp == 1.0:
            close(c, "agg_loss", rk.agg_loss(x, m, c.params["loss_agg_mode"], preset="verl",
                                               horizon=c.p("loss_scale_factor", float(t))), c.scalar("loss"))
    assert len(cases) == 22


def test_verl_value_loss():
    cases = load("verl_value_loss")
    for c in cases:
        t = c.input("vpreds").shape[1]
        loss, grad, _ = rk.value_loss(
            c.input("vpreds"), c.input("returns"), c.input("values"), c.mask("response_mask"),
            c.params.get("cliprange_value"), c.params["loss_agg_mode"], preset="verl", horizon=float(t),
        )
        close(c, "loss", loss, c.scalar("vf_loss"))
        close(c, "grad", grad, c.grad("vpreds"))
    assert len(cases) == 20


def test_trl_grpo_loss():
    cases = load("trl_grpo_loss")
    for c in cases:
        lp = c.input("per_token_logps")
        old = c.input("old_per_token_logps") if c.has("old_per_token_logps") else lp
        adv, mask = c.input("advantages"), c.mask("completion_mask")
        b = mask.shape[0]
        lt = c.params["loss_type"]
        eps = c.params["epsilon"]
        eps_high = c.p("epsilon_high", eps)
        seq_level = c.params.get("importance_sampling_level") == "sequence"
        kind = {"cispo": "cispo", "sapo": "sapo", "vespo": "vespo"}.get(lt, "gspo" if seq_level else "vanilla")
        kw = dict(loss_mode=kind, preset="trl", delta=c.params.get("delta"))
        if kind == "cispo":
            # TRL's CISPO caps the weight at epsilon_high (absolute), no lower bound.
            kw.update(clip_ratio_low=1.0, clip_ratio_high=eps_high - 1.0)
        else:
            kw.update(clip_ratio_low=eps, clip_ratio_high=eps_high)
        if kind == "sapo":
            # TRL's temperatures are float32 tensors.
            kw.update(tau_pos=float(np.float32(c.params["sapo_temperature_pos"])),
                      tau_neg=float(np.float32(c.params["sapo_temperature_neg"])))
        if kind == "vespo":
            v = c.params["vespo"]
            kw["vespo"] = (v["k_pos"], v["lambda_pos"], v["k_neg"], v["lambda_neg"])
        if c.params.get("beta") is not None:
            kw.update(ref_log_prob=c.input("ref_per_token_logps"), kl_coef=c.params["beta"],
                      kl_type="k3", kl_importance_weighted=c.params.get("use_bias_correction_kl") is True)
        ent = c.input("entropies")
        w = np.ones_like(lp)
        if c.params.get("top_entropy_quantile") is not None:
            w = rk.entropy_mask(ent, mask, c.params["top_entropy_quantile"])
        if c.params.get("off_policy_mask_threshold") is not None:
            w = w * rk.off_policy_mask(lp, c.input("sampling_per_token_logps"), adv, mask,
                                       c.params["off_policy_mask_threshold"])
        kw["weights"] = w
        ga = c.p("gradient_accumulation_steps", 1.0)
        nproc = c.p("num_processes", 1.0)
        total, div = None, ga
        if lt in ("grpo", "sapo", "bnpo", "luspo"):
            agg = {"bnpo": "bnpo", "luspo": "luspo"}.get(lt, "grpo")
        elif lt == "dr_grpo":
            agg = "dr_grpo"
            kw["horizon"] = c.params["max_completion_length"]
        else:
            # dapo, cispo, vespo: normalized by the generation batch's token count per process.
            n = c.input("num_items_in_batch", np.float64).reshape(-1)[0] / nproc
            assert n == int(n)
            agg, total, div = "token-mean", rk.LossParts(0.0, 0.0, int(n), b, b), 1.0
        loss, grad, _ = rk.policy_loss(old, lp, adv, mask, loss_agg_mode=agg, total=total, **kw)
        loss, grad = loss / div, grad / div
        if c.params.get("entropy_coef") is not None:
            # TRL's entropy bonus is always a token mean, whatever the loss type.
            loss -= c.params["entropy_coef"] * rk.agg_loss(ent, mask, "token-mean")
        close(c, "loss", loss, c.scalar("loss"))
        close(c, "grad", grad, c.grad("per_token_logps"))
    assert len(cases) == 60


def test_trl_dpo_loss():
    ran = 0
    for c in load("trl_dpo_loss"):
        if c.error is not None or "logits" in c.function:
            continue  # the logits -> loss block needs the logits module (not bound in Python)
        lp, rf = c.input("policy_per_token_logps"), c.input("ref_per_token_logps")
        t = lp.shape[1]
        # completion_mask covers input_ids; the log-probs are for input_ids[:, 1:].
        bits = c.mask("completion_mask")[:, 1:]
        assert bits.shape[1] == t
        n = bits.shape[0] // 2
        if c.params.get("ld_alpha") is not None:
            wc, wr = rk.ld_token_weights(bits[:n], bits[n:], c.params["ld_alpha"])
            w = np.concatenate([wc, wr]).astype(lp.dtype)
        else:
            w = bits.astype(lp.dtype)
        seq = rk.sequence_logps(lp, bits, w)
        seq_ref = rk.sequence_logps(rf, bits, w)
        for name, got in [("chosen_logps", seq[:n]), ("rejected_logps", seq[n:]),
                          ("ref_chosen_logps", seq_ref[:n]), ("ref_rejected_logps", seq_ref[n:])]:
            close(c, name, got, c.output(name))
        lens = bits.sum(axis=1).astype(lp.dtype)
        eps = c.p("label_smoothing", 0.0)
        types = c.params["loss_type"]
        weights = c.params.get("loss_weights") or [1.0] * len(types)
        div = c.p("f_divergence_type", "reverse_kl")
        total, gc_all, gr_all, slack = 0.0, 0.0, 0.0, 1.0
        for ty, wt in zip(types, weights):
            if ty == "exo_pair":
                slack = 1e3  # known 2e-8 relative gap to TRL (docs/numerics.md)
            kw = dict(
                loss_type=ty, beta=c.params["beta"], label_smoothing=0.0 if ty == "sigmoid" else eps,
                f_divergence_type=div, f_alpha_divergence_coef=c.p("f_alpha_divergence_coef", 0.5),
                discopop_tau=c.p("discopop_tau", 0.05),
            )
            if ty in ("ipo", "sigmoid_norm"):
                kw.update(chosen_lengths=lens[:n], rejected_lengths=lens[n:])
            v, gc, gr = rk.preference_loss(seq[:n], seq[n:], seq_ref[:n], seq_ref[n:], **kw)
            total += wt * v
            gc_all = gc_all + wt * gc.astype(np.float64)
            gr_all = gr_all + wt * gr.astype(np.float64)
        close(c, "loss", total, c.scalar("loss"), slack)
        close(c, "d/d chosen", gc_all, c.grad("output:chosen_logps"), slack)
        close(c, "d/d rejected", gr_all, c.grad("output:rejected_logps"), slack)
        up = np.concatenate([gc_all, gr_all])[:, None]
        close(c, "grad tokens", w * up, c.grad("policy_per_token_logps"), slack)
        ran += 1
    assert ran == 49


def test_trl_dpo_weighted_combination_in_one_call():
    """The multi-term TRL cases (MPO-style `loss_type=[...]`, `loss_weights`) through one
    preference_loss call (label_smoothing is 0 there, so TRL's sigmoid quirk does not matter)."""
    ran = 0
    for c in load("trl_dpo_loss"):
        types = c.params.get("loss_type") or []
        if c.error is not None or "logits" in c.function or len(types) < 2:
            continue
        assert c.p("label_smoothing", 0.0) == 0.0 and not c.params.get("ld_alpha")
        lp, rf = c.input("policy_per_token_logps"), c.input("ref_per_token_logps")
        bits = c.mask("completion_mask")[:, 1:]
        n = bits.shape[0] // 2
        seq, seq_ref = rk.sequence_logps(lp, bits), rk.sequence_logps(rf, bits)
        v, gc, gr = rk.preference_loss(
            seq[:n], seq[n:], seq_ref[:n], seq_ref[n:], loss_type=list(types),
            loss_weights=c.params.get("loss_weights"), beta=c.params["beta"],
            label_smoothing=c.p("label_smoothing", 0.0), discopop_tau=c.p("discopop_tau", 0.05),
        )
        close(c, "loss", v, c.scalar("loss"))
        close(c, "d/d chosen", gc, c.grad("output:chosen_logps"))
        close(c, "d/d rejected", gr, c.grad("output:rejected_logps"))
        ran += 1
    assert ran == 2


def openrlhf_total(c, parts):
    if c.params.get("batch_num_tokens") is not None:
        q = int(c.params["global_batch_size"])
        return rk.LossParts(parts.sum, parts.seq_mean_sum, int(c.params["batch_num_tokens"]), q, q), c.params["dp_size"]
    return parts, 1.0


def test_openrlhf_policy_loss():
    cases = load("openrlhf_policy_loss")
    for c in cases:
        if c.function == "aggregate_loss":
            x, m = c.input("loss"), c.mask("loss_mask")
            agg = rk.Aggregation("token-mean" if c.params["token_level_loss"] else "seq-mean-token-mean", preset="openrlhf")
            parts = agg.parts(x, m)
            total, dp = openrlhf_total(c, parts)
            g = np.ones_like(x)
            agg.scale_grad(g, m, total)
            close(c, "loss", agg.value(parts, total) * dp, c.scalar("loss"))
            close(c, "grad", np.where(m, g * dp, 0.0), c.grad("loss"))
            continue
        lp, old, adv = c.input("log_probs"), c.input("old_log_probs"), c.input("advantages")
        roll, mask = c.input("rollout_log_probs"), c.mask("action_mask")
        gspo = c.params.get("policy_loss_type") == "gspo"
        is_on = c.params.get("enable_vllm_is_correction") is True
        w = None
        if is_on and gspo:
            old = roll
        if is_on and not gspo:
            a, b = c.params["vllm_is_truncated_threshold"]
            w, _ = rk.is_weights(old, roll, mask, c.params["vllm_is_correction_type"], a, b)
        token_level = c.p("token_level_loss", True) and not gspo
        agg = "token-mean" if token_level else "seq-mean-token-mean"
        kw = dict(loss_mode="gspo" if gspo else "vanilla", preset="openrlhf", loss_agg_mode=agg,
                  clip_ratio_low=c.p("clip_eps_low", 0.2), clip_ratio_high=c.p("clip_eps_high", 0.2),
                  clip_ratio_c=c.params.get("dual_clip"), weights=w)
        _, _, parts = rk.policy_loss(old, lp, adv, mask, **kw)
        total, dp = openrlhf_total(c, parts)
        loss, grad, _ = rk.policy_loss(old, lp, adv, mask, total=total, **kw)
        close(c, "loss", loss * dp, c.scalar("loss"))
        close(c, "grad", grad * dp, c.grad("log_probs"))
    assert len(cases) == 36


def test_openrlhf_value_loss():
    cases = load("openrlhf_value_loss")
    for c in cases:
        agg = "token-mean" if c.params["token_level_loss"] else "seq-mean-token-mean"
        args = (c.input("values"), c.input("returns"), c.input("old_values"), c.mask("action_mask"), c.params.get("clip_eps"), agg)
        _, _, parts = rk.value_loss(*args, preset="openrlhf")
        total, dp = openrlhf_total(c, parts)
        loss, grad, _ = rk.value_loss(*args, preset="openrlhf", total=total)
        close(c, "loss", loss * dp, c.scalar("loss"))
        close(c, "grad", grad * dp, c.grad("values"))
    assert len(cases) == 24


def test_openrlhf_dpo_loss():
    cases = load("openrlhf_dpo_loss")
    for c in cases:
        if c.function == "DPOLoss.forward":
            pc, pr = c.input("policy_chosen_logps"), c.input("policy_rejected_logps")
            rc, rr = c.input("reference_chosen_logps"), c.input("reference_rejected_logps")
            v, gc, gr = rk.preference_loss(
                pc, pr, rc, rr, loss_type="ipo" if c.params.get("ipo") else "sigmoid",
                beta=c.params["beta"], label_smoothing=c.params["label_smoothing"],
            )
            close(c, "loss", v, c.scalar("loss"))
            close(c, "grad c", gc, c.grad("policy_chosen_logps"))
            close(c, "grad r", gr, c.grad("policy_rejected_logps"))
        else:
            ch, rj = c.input("chosen_reward"), c.input("reject_reward")
            margin = None if c.params.get("margin") is None else np.full_like(ch, c.params["margin"])
            v, gc, gr = rk.bradley_terry_loss(ch, rj, margin)
            close(c, "loss", v, c.scalar("loss"))
            close(c, "grad c", gc, c.grad("chosen_reward"))
            close(c, "grad r", gr, c.grad("reject_reward"))
    assert len(cases) == 16
