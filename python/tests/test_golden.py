"""Every golden vector of tests/data/golden (verl's, TRL's and OpenRLHF's own outputs) through the
Python API, in the dtype the framework ran (and f64 cases also in f32 where the Rust suite does)."""

import numpy as np
import pytest

import rewardkit as rk
import golden
from golden import F32_TOL, close, count, load, ran

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
    ran(c)


def test_verl_advantages():
    cases = load("verl_advantages")
    for c in cases:
        verl_advantage_case(c, c.np_dtype)
        if c.dtype == "float64":
            verl_advantage_case(c, np.float32)
    assert count("verl_advantages") == len(cases) == 58


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
        ran(c)
    assert count("trl_grpo_advantages") == len(cases) == 8


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
        ran(c)
    assert count("openrlhf_advantages") == len(cases) == 44


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
        ran(c)
    assert count("verl_masked_whiten") == len(cases) == 10


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
            # verl raises NotImplementedError; rewardkit computes the exact full-vocabulary KL
            # from logits instead (full_kl_forward).
            ran(c)
            continue
        kl_case(c, name, "logprob", "ref_logprob", "verl", c.np_dtype)
        if c.dtype == "float64":
            kl_case(c, name, "logprob", "ref_logprob", "verl", np.float32)
        ran(c)
        checked += 1
    assert checked == 28 and count("verl_kl") == 30


def test_openrlhf_kl():
    cases = load("openrlhf_kl")
    for c in cases:
        kl_case(c, c.params["kl_estimator"], "log_probs", "log_probs_base", "openrlhf", c.np_dtype, True)
        ran(c)
    assert count("openrlhf_kl") == len(cases) == 6


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
    loss_mask = mask
    if mode == "bypass_mode":
        rc = pl["rollout_correction"]
        reinforce = rc.get("loss_type") == "reinforce"
        if rc.get("rollout_rs") is not None:
            # The loss mask is what rejection sampling keeps (IS weights see the input mask).
            loss_mask = verl_rejection(c, rc["rollout_rs"], rc["rollout_rs_threshold"], lp, old, mask)
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
    loss, grad, parts = rk.policy_loss(old, lp, adv, loss_mask, loss_agg_mode=agg, horizon=float(t), seed=7, **kw)
    assert grad.dtype == c.np_dtype
    close(c, "pg_loss", loss, c.scalar("pg_loss"))
    close(c, "grad", grad, c.grad("log_prob"))
    assert isinstance(parts, rk.LossParts) and parts.tokens == int(loss_mask.sum())
    ran(c)


def verl_rejection(c, option, spec, lp, rollout, mask):
    """verl's rollout_rs through rk.rejection_mask: the kept mask, and verl's logged metrics
    rebuilt from the returned statistics (as the Rust suite does)."""
    keep, s, stats = rk.rejection_mask(lp, rollout, mask, option, spec)
    assert keep.dtype == np.bool_ and keep.shape == mask.shape
    assert not np.any(keep & ~mask)
    (st,) = stats
    assert st["option"] == option
    m = c.raw["outputs"]["metrics"]
    p = f"rollout_rs_{option}"
    n = s["tokens"]
    eps = n / (n + 1e-8)  # verl's masked means divide by N + 1e-8
    seq_level = not option.startswith("token_")
    sq, tk = st["seqs"], st["tokens"]
    if seq_level:
        units, mx, mn = sq["count"], sq["max"], sq["min"]
    else:
        units, mx, mn = n, tk["max"], tk["min"]

    def frac(k):
        return k / units if seq_level else k / units * eps

    got = {
        "mean": tk["mean"] * eps,
        "max": mx,
        "min": mn,
        "fraction_high": frac(st["above"]),
        "fraction_low": frac(st["below"]),
        "seq_mean": sq["mean"],
        "seq_std": (sq["m2"] / (sq["count"] - 1)) ** 0.5,
        "seq_max": sq["max"],
        "seq_min": sq["min"],
        "masked_fraction": st["rejected_tokens"] / n * eps,
        "seq_masked_fraction": st["rejected_seqs"] / sq["count"],
    }
    for k, v in got.items():
        close(c, f"{p}_{k}", v, m[f"rollout_corr/{p}_{k}"])
    close(c, "rollout_rs_masked_fraction", s["rejected_tokens"] / (n + 1e-8), m["rollout_corr/rollout_rs_masked_fraction"])
    close(c, "rollout_rs_seq_masked_fraction", s["rejected_seqs"] / s["rows"], m["rollout_corr/rollout_rs_seq_masked_fraction"])
    assert int(keep.sum()) == n - s["rejected_tokens"]
    return keep


def test_verl_policy_losses():
    cases = load("verl_policy_losses")
    for c in cases:
        verl_policy_case(c)
    # Every case, the 4 bypass cases with verl's rollout rejection sampling (rollout_rs) included.
    assert count("verl_policy_losses") == len(cases) == 44


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
        ran(c)
    assert count("verl_agg_loss") == len(cases) == 22


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
        ran(c)
    assert count("verl_value_loss") == len(cases) == 20


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
        ran(c)
    assert count("trl_grpo_loss") == len(cases) == 60


def test_trl_dpo_loss():
    cases = load("trl_dpo_loss")
    for c in cases:
        if c.error is not None:
            trl_dpo_error_case(c, cases)
            continue
        if "logits" in c.function:
            trl_dpo_logits_case(c)
            continue
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
        ran(c)
    # 49 from sequence log-probabilities, 12 from logits, 1 that TRL itself could not compute.
    assert count("trl_dpo_loss") == len(cases) == 62
    assert len(golden.ERRORS["trl_dpo_loss"]) == 1


def trl_dpo_error_case(c, cases):
    """TRL raised (KeyError: torch.float64, its alpha-divergence table has no float64 entry):
    rewardkit computes the case; its value must be finite and match the float32 sibling case,
    which TRL did compute, to float32 accuracy."""
    assert c.params["f_divergence_type"] == "alpha_divergence" and c.dtype == "float64"
    (sib,) = [s for s in cases if s.id == c.id.replace("/float64", "/float32")]
    assert sib.error is None
    lp, rf = c.input("policy_per_token_logps"), c.input("ref_per_token_logps")
    bits = c.mask("completion_mask")[:, 1:]
    n = bits.shape[0] // 2
    seq, seq_ref = rk.sequence_logps(lp, bits), rk.sequence_logps(rf, bits)
    v, gc, gr = rk.preference_loss(
        seq[:n], seq[n:], seq_ref[:n], seq_ref[n:], loss_type="sigmoid", beta=c.params["beta"],
        f_divergence_type="alpha_divergence", f_alpha_divergence_coef=sib.p("f_alpha_divergence_coef", 0.5),
    )
    assert np.isfinite(v) and np.all(np.isfinite(gc)) and np.all(np.isfinite(gr))
    np.testing.assert_allclose(v, sib.scalar("loss"), rtol=1e-5, err_msg=c.id)
    np.testing.assert_allclose(gc, sib.grad("output:chosen_logps"), rtol=1e-4, atol=1e-6, err_msg=c.id)
    ran(c)


def trl_dpo_logits_case(c):
    """TRL's DPO `logits -> loss` block composed from the Python API, as the Rust suite composes
    it from the core (tests/tests/loss/dpo_logits.rs): token log-probabilities from the shifted
    logits, sequence sums (LD-DPO weights), WPO pair weights, the weighted pair losses, the SFT
    term, and the gradient back to the logits through logprobs_backward."""
    dt = c.np_dtype
    full, full_ref = c.input("logits"), c.input("ref_logits")
    rows, length, vocab = full.shape
    n, t = rows // 2, length - 1
    # TRL's shift: logits[:, :-1] predict input_ids[:, 1:], masked by completion_mask[:, 1:].
    logits, ref_logits = full[:, :-1], full_ref[:, :-1]
    ids = c.input("input_ids", np.float64).astype(np.int64)[:, 1:]
    bits = c.mask("completion_mask")[:, 1:]
    types = list(c.params["loss_type"])
    weights = c.params.get("loss_weights") or [1.0] * len(types)
    beta, eps = c.params["beta"], c.p("label_smoothing", 0.0)
    assert c.params.get("f_divergence_type") == "reverse_kl"
    lp, stats = rk.logprobs_forward(logits, ids)
    rf, _ = rk.logprobs_forward(ref_logits, ids)
    assert lp.dtype == dt and stats.shape == (rows, t, 2)
    if c.params.get("ld_alpha") is not None:
        wc, wr = rk.ld_token_weights(bits[:n], bits[n:], c.params["ld_alpha"])
        w = np.concatenate([wc, wr]).astype(dt)
    else:
        w = bits.astype(dt)
    seq, seq_ref = rk.sequence_logps(lp, bits, w), rk.sequence_logps(rf, bits, w)
    for name, got in [("chosen_logps", seq[:n]), ("rejected_logps", seq[n:]),
                      ("ref_chosen_logps", seq_ref[:n]), ("ref_rejected_logps", seq_ref[n:])]:
        close(c, name, got, c.output(name))
    omega = None
    if c.params.get("use_weighting") is True:
        omega = rk.wpo_weights(logits[:n], ids[:n], bits[:n], logits[n:], ids[n:], bits[n:])
        assert omega.dtype == dt and omega.shape == (n,)
    lens = bits.sum(axis=1).astype(dt)
    pair = [(ty, wt) for ty, wt in zip(types, weights) if ty != "sft"]

    def pref(sl, loss_type, loss_weights=None):
        return rk.preference_loss(
            seq[:n][sl], seq[n:][sl], seq_ref[:n][sl], seq_ref[n:][sl], loss_type=loss_type,
            loss_weights=loss_weights, beta=beta, label_smoothing=eps, chosen_lengths=lens[:n][sl],
            rejected_lengths=lens[n:][sl], pair_weights=None if omega is None else omega[sl],
        )

    loss = 0.0
    gc, gr = np.zeros(n, dt), np.zeros(n, dt)
    if pair:
        v, gc, gr = pref(slice(None), [ty for ty, _ in pair], [wt for _, wt in pair])
        loss += v
    # Upstream gradient of every token log-probability: the sequence gradient times the token weight.
    up = w * np.concatenate([gc, gr])[:, None]
    ce = None
    if "sft" in types:
        pos = types.index("sft")
        value, g, _ = rk.sft_loss(lp[:n], bits[:n], "token-mean")
        # TRL multiplies the SFT term by the WPO weights: only their mean survives.
        coef = weights[pos] * (1.0 if omega is None else float(omega.astype(np.float64).mean()))
        loss += coef * value
        up[:n] = up[:n] + dt(coef) * g
        ce = value
    close(c, "loss", loss, c.scalar("loss"))
    last = []
    for k in range(n):
        om = 1.0 if omega is None else float(omega[k])
        if types[-1] == "sft":
            last.append(ce * om)
        else:
            last.append(pref(slice(k, k + 1), types[-1])[0])
    close(c, "last_per_sequence_loss", last, c.output("last_per_sequence_loss"))
    g = rk.logprobs_backward(up, logits, stats, ids)
    assert g.shape == logits.shape and g.dtype == dt
    # The last position predicts nothing and gets no gradient; accumulating into a zero buffer
    # through out= gives the same gradient.
    acc = np.zeros(logits.shape, dt)
    rk.logprobs_backward(up, logits, stats, ids, out=acc)
    np.testing.assert_array_equal(acc, g)
    want = c.grad("logits")
    assert np.all(want[:, -1] == 0)
    close(c, "grad logits", g, want[:, :-1])
    ran(c)


def test_trl_dpo_weighted_combination_in_one_call():
    """The multi-term TRL cases (MPO-style `loss_type=[...]`, `loss_weights`) through one
    preference_loss call (label_smoothing is 0 there, so TRL's sigmoid quirk does not matter)."""
    checked = 0
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
        checked += 1
    assert checked == 2


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
            ran(c)
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
        ran(c)
    assert count("openrlhf_policy_loss") == len(cases) == 36


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
        ran(c)
    assert count("openrlhf_value_loss") == len(cases) == 24


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
        ran(c)
    assert count("openrlhf_dpo_loss") == len(cases) == 16


RUNNERS = {
    "verl_advantages": test_verl_advantages,
    "trl_grpo_advantages": test_trl_advantages,
    "openrlhf_advantages": test_openrlhf_advantages,
    "verl_masked_whiten": test_verl_masked_statistics,
    "verl_kl": test_verl_kl,
    "openrlhf_kl": test_openrlhf_kl,
    "verl_policy_losses": test_verl_policy_losses,
    "verl_agg_loss": test_verl_agg_loss,
    "verl_value_loss": test_verl_value_loss,
    "trl_grpo_loss": test_trl_grpo_loss,
    "trl_dpo_loss": test_trl_dpo_loss,
    "openrlhf_policy_loss": test_openrlhf_policy_loss,
    "openrlhf_value_loss": test_openrlhf_value_loss,
    "openrlhf_dpo_loss": test_openrlhf_dpo_loss,
}

# The Rust suite (tests/tests/{advantage_golden,kl_golden,loss/golden}.rs): every case of every
# file, 437 computed and compared (value and gradient) and the 3 error cases checked as errors.
RUST_VALUES, RUST_ERRORS = 437, 3


def test_every_golden_case_ran_through_python():
    """Last in this module: every case of every file in tests/data/golden went through the Python
    API (files whose test did not run in this session, e.g. under -k, are run here)."""
    assert sorted(RUNNERS) == golden.FILES
    for name, run in RUNNERS.items():
        if count(name) == 0:
            run()
    want = {(f, c.id) for f in golden.FILES for c in load(f)}
    got = {(f, i) for f in golden.FILES for i in golden.RAN[f] | golden.ERRORS[f]}
    assert got == want, sorted(want - got)[:5]
    values = sum(len(golden.RAN[f]) for f in golden.FILES)
    errors = sum(len(golden.ERRORS[f]) for f in golden.FILES)
    print(f"\ngolden cases through the Python API: {values} computed + {errors} error cases "
          f"= {values + errors} of {len(want)} (Rust suite: {RUST_VALUES} + {RUST_ERRORS})")
    assert (values, errors) == (RUST_VALUES, RUST_ERRORS)
