/* The per-type cases of capi_test.c, included once with REAL = float (TAG f32) and once with
 * REAL = double (TAG f64): the list of cases::<F> in capi/examples/capi_expected.rs, in its
 * order.
 * No include guard on purpose. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(CAT(name, _), TAG)
#define CAST(x, n) CAT(to_, TAG)(x, n)
#define EXPECT(name, got, n) CAT(expect_, TAG)(name, got, n)

static void FN(cases)(const handles *h, const inputs *x) {
    REAL *scores = CAST(x->scores, B), *tr = CAST(x->token_rewards, B * T);
    REAL *masked = CAST(x->masked_rewards, B * T);
    REAL *values = CAST(x->values, B * T), *baselines = CAST(x->baselines, B);
    REAL out[B], adv[B * T], ret[B * T];

    /* GRPO on scalar rewards. */
    OK(FN(rk_grpo)(h->grpo, out, scores, h->groups, B));
    EXPECT("grpo_" TAGS, out, B);
    OK(FN(rk_grpo)(h->dr_grpo_verl, out, scores, h->groups, B));
    EXPECT("dr_grpo_verl_" TAGS, out, B);
    rk_groups *blocks = NULL;
    OK(rk_groups_uniform(&blocks, B, 4));
    OK(FN(rk_grpo)(h->grpo, out, scores, blocks, B));
    EXPECT("grpo_uniform_" TAGS, out, B);
    rk_groups_free(blocks);

    /* Full plans over (B, T). */
    OK(FN(rk_advantages)(h->grpo_verl, adv, ret, tr, x->mask, h->groups, NULL, NULL, B, T));
    EXPECT("adv_grpo_verl.adv_" TAGS, adv, B * T);
    EXPECT("adv_grpo_verl.ret_" TAGS, ret, B * T);
    OK(FN(rk_advantages)(h->gae, adv, ret, tr, x->mask, h->groups, values, NULL, B, T));
    EXPECT("adv_gae.adv_" TAGS, adv, B * T);
    EXPECT("adv_gae.ret_" TAGS, ret, B * T);
    OK(FN(rk_advantages)(h->remax_verl, adv, ret, tr, x->mask, h->groups, NULL, baselines, B, T));
    EXPECT("adv_remax_verl.adv_" TAGS, adv, B * T);
    EXPECT("adv_remax_verl.ret_" TAGS, ret, B * T);
    OK(FN(rk_advantages)(h->rpp, adv, ret, tr, x->mask, h->groups, NULL, NULL, B, T));
    EXPECT("adv_rpp.adv_" TAGS, adv, B * T);
    EXPECT("adv_rpp.ret_" TAGS, ret, B * T);

    /* Per-sequence plans. */
    OK(FN(rk_advantages_seq)(h->rloo, out, tr, x->mask, h->groups, B, T));
    EXPECT("seq_rloo_" TAGS, out, B);
    OK(FN(rk_advantages_seq)(h->grpo_trl_batch, out, tr, x->mask, h->groups, B, T));
    EXPECT("seq_grpo_trl_batch_" TAGS, out, B);
    OK(FN(rk_sequence_sums)(out, masked, B, T));
    EXPECT("sequence_sums_" TAGS, out, B);

    /* KL. */
    REAL *logp = CAST(x->logp, B * T), *old = CAST(x->old_logp, B * T);
    REAL *refp = CAST(x->ref_logp, B * T), *entropy = CAST(x->entropy, B * T);
    REAL *seq_adv = CAST(x->seq_adv, B);
    OK(FN(rk_kl)(h->k3plus_verl, adv, ret, logp, refp, B * T));
    EXPECT("kl_k3plus_verl.value_" TAGS, adv, B * T);
    EXPECT("kl_k3plus_verl.grad_" TAGS, ret, B * T);
    OK(FN(rk_kl_importance_weighted)(h->k2, adv, ret, logp, refp, old, B * T));
    EXPECT("kl_k2_iw.value_" TAGS, adv, B * T);
    EXPECT("kl_k2_iw.grad_" TAGS, ret, B * T);

    /* Policy losses, aggregation, diagnostics. */
    rk_loss_parts parts;
    REAL grad[B * T], value;
    OK(FN(rk_policy_loss)(h->vanilla, h->smtm_verl, grad, &parts, logp, old, seq_adv, x->mask,
                          refp, NULL, entropy, B, T, B));
    EXPECT("loss_vanilla.grad_" TAGS, grad, B * T);
    expect_f64("loss_vanilla_" TAGS ".sums", &parts.sum, 2);
    expect_counts("loss_vanilla_" TAGS ".counts", &parts.tokens, 3);
    OK(FN(rk_aggregation_value)(h->smtm_verl, &value, &parts, &parts));
    EXPECT("loss_vanilla.value_" TAGS, &value, 1);
    OK(FN(rk_aggregation_scale_grad)(h->smtm_verl, grad, x->mask, &parts, B, T));
    EXPECT("loss_vanilla.scaled_" TAGS, grad, B * T);
    OK(FN(rk_entropy_upstream)(h->smtm_verl, adv, x->mask, &parts, (REAL)0.01, B, T));
    EXPECT("entropy_upstream_" TAGS, adv, B * T);
    rk_policy_diagnostics d;
    OK(FN(rk_policy_diagnostics)(h->vanilla, &d, logp, old, seq_adv, x->mask, B, T, B));
    size_t dc[3] = {d.clipped, d.clipped_lower, d.tokens};
    expect_counts("diag_" TAGS ".counts", dc, 3);
    expect_f64("diag_" TAGS ".sums", &d.neg_log_ratio_sum, 5);
    OK(FN(rk_policy_loss)(h->gspo, h->token_mean, grad, &parts, logp, old, masked, x->mask, NULL,
                          NULL, NULL, B, T, B * T));
    EXPECT("loss_gspo.grad_" TAGS, grad, B * T);
    expect_f64("loss_gspo_" TAGS ".sums", &parts.sum, 2);
    expect_counts("loss_gspo_" TAGS ".counts", &parts.tokens, 3);
    OK(FN(rk_policy_loss_rng)(h->clip_cov, h->token_mean, grad, &parts, logp, old, seq_adv,
                              x->mask, NULL, NULL, NULL, B, T, B, 5));
    EXPECT("loss_clip_cov.grad_" TAGS, grad, B * T);
    expect_f64("loss_clip_cov_" TAGS ".sums", &parts.sum, 2);
    expect_counts("loss_clip_cov_" TAGS ".counts", &parts.tokens, 3);
    OK(rk_loss_parts_from_mask(&parts, x->mask, B, T));
    expect_counts("parts_from_mask_" TAGS, &parts.tokens, 3);

    /* Logits. */
    REAL *logits = CAST(x->logits, B * T * V), *g_out = CAST(x->grad_out, B * T);
    REAL *gl = calloc(B * T * V, sizeof(REAL));
    rk_row_stats *stats = calloc(B * T, sizeof(rk_row_stats));
    if (!gl || !stats) exit(2);
    OK(FN(rk_logprobs)(adv, stats, logits, x->tokens, B * T, V));
    EXPECT("logprobs_" TAGS, adv, B * T);
    expect_f64("logprobs.stats_" TAGS, &stats[0].max, 2 * B * T);
    OK(FN(rk_logprobs_backward)(gl, g_out, logits, stats, x->tokens, B * T, V));
    EXPECT("logprobs_backward_" TAGS, gl, B * T * V);
    OK(FN(rk_entropy)(adv, stats, logits, B * T, V));
    EXPECT("entropy_" TAGS, adv, B * T);
    OK(FN(rk_entropy_backward)(gl, g_out, logits, stats, adv, B * T, V));
    EXPECT("entropy_backward_" TAGS, gl, B * T * V);

    /* Rewards. */
    rk_reward_inputs in = {0};
    in.batch = B;
    in.correct = x->correct;
    in.lengths = x->lens;
    in.texts = x->texts;
    in.groups = h->groups;
    in.mask = x->mask;
    in.seq_len = T;
    const rk_reward *terms[8] = {h->correctness, h->kimi, h->overlong, h->cosine,
                                 h->group_length, h->laser, h->format, h->format_length};
    const char *names[8] = {"reward_correctness_" TAGS, "reward_kimi_" TAGS,
                            "reward_overlong_" TAGS, "reward_cosine_" TAGS,
                            "reward_group_length_" TAGS, "reward_laser_" TAGS,
                            "reward_format_" TAGS, "reward_format_length_" TAGS};
    for (size_t k = 0; k < 8; k++) {
        OK(FN(rk_reward)(terms[k], out, &in));
        EXPECT(names[k], out, B);
    }
    const rk_reward *pipe[3] = {h->correctness, h->overlong, h->laser};
    const REAL weights[3] = {1.0, 0.5, 2.0};
    REAL pparts[3 * B];
    OK(FN(rk_reward_pipeline)(pipe, weights, out, pparts, &in, 3));
    EXPECT("pipeline_" TAGS, out, B);
    EXPECT("pipeline.parts_" TAGS, pparts, 3 * B);
    OK(FN(rk_reward_pipeline_tokens)(pipe, weights, adv, NULL, &in, 3));
    EXPECT("pipeline_tokens_" TAGS, adv, B * T);

    /* Distances. */
    REAL *tau = CAST(x->tau, S * A * S), *init = CAST(x->initial, S);
    REAL *rf = CAST(x->r_full, S * A * S), *rsa = CAST(x->r_sa, S * A), *rs = CAST(x->r_s, S);
    REAL dist[4];
    OK(FN(rk_distance)(h->starc, &dist[0], tau, init, rf, rsa, (REAL)0.9, S, A, S * A * S, S * A));
    OK(FN(rk_distance)(h->starc_min, &dist[1], tau, init, rf, rs, (REAL)0.9, S, A, S * A * S, S));
    OK(FN(rk_distance)(h->epic, &dist[2], tau, init, rf, rsa, (REAL)0.9, S, A, S * A * S, S * A));
    OK(FN(rk_distance)(h->dard, &dist[3], tau, init, rsa, rs, (REAL)0.9, S, A, S * A, S));
    EXPECT("distances_" TAGS, dist, 4);

    /* Phase 2. Preference losses on B pairs: chosen logp[..B], rejected old_logp[..B],
     * references ref_logp[..B] and logp[B..2B], lengths lens, pair weights values[..B]. */
    REAL lens[B], gc[B], gr[B];
    for (size_t i = 0; i < B; i++) lens[i] = (REAL)x->lens[i];
    OK(FN(rk_preference_loss)(h->dpo, gc, gr, &parts, logp, old, refp, logp + B, NULL, NULL, NULL,
                              NULL, NULL, values, B));
    EXPECT("pref_sigmoid.grad_chosen_" TAGS, gc, B);
    EXPECT("pref_sigmoid.grad_rejected_" TAGS, gr, B);
    expect_f64("pref_sigmoid_" TAGS ".sums", &parts.sum, 2);
    expect_counts("pref_sigmoid_" TAGS ".counts", &parts.tokens, 3);
    OK(FN(rk_preference_loss)(h->simpo, gc, gr, &parts, logp, old, refp, logp + B, lens, lens,
                              NULL, NULL, NULL, NULL, B));
    EXPECT("pref_simpo.grad_chosen_" TAGS, gc, B);
    EXPECT("pref_simpo.grad_rejected_" TAGS, gr, B);
    expect_f64("pref_simpo_" TAGS ".sums", &parts.sum, 2);
    expect_counts("pref_simpo_" TAGS ".counts", &parts.tokens, 3);
    OK(FN(rk_preference_loss)(h->ipo, gc, gr, &parts, logp, old, refp, logp + B, lens, lens, NULL,
                              NULL, NULL, NULL, B));
    EXPECT("pref_ipo.grad_chosen_" TAGS, gc, B);
    EXPECT("pref_ipo.grad_rejected_" TAGS, gr, B);
    expect_f64("pref_ipo_" TAGS ".sums", &parts.sum, 2);
    expect_counts("pref_ipo_" TAGS ".counts", &parts.tokens, 3);
    const rk_preference_loss *mix[2] = {h->dpo, h->ipo};
    const REAL mix_coefs[2] = {(REAL)0.8, (REAL)0.2};
    OK(FN(rk_preference_loss_combined)(mix, mix_coefs, gc, gr, &parts, logp, old, refp, logp + B,
                                       lens, lens, NULL, NULL, NULL, values, 2, B));
    EXPECT("pref_combined.grad_chosen_" TAGS, gc, B);
    EXPECT("pref_combined.grad_rejected_" TAGS, gr, B);
    expect_f64("pref_combined_" TAGS ".sums", &parts.sum, 2);
    expect_counts("pref_combined_" TAGS ".counts", &parts.tokens, 3);
    OK(FN(rk_bradley_terry_loss)(gc, gr, &parts, logp, old, baselines, (REAL)0.01, (REAL)0.005,
                                 B));
    EXPECT("bt.grad_chosen_" TAGS, gc, B);
    EXPECT("bt.grad_rejected_" TAGS, gr, B);
    expect_f64("bt_" TAGS ".sums", &parts.sum, 2);
    expect_counts("bt_" TAGS ".counts", &parts.tokens, 3);

    /* The value loss: old values = grad_out, returns = the masked token rewards. */
    OK(FN(rk_value_loss)(h->smtm_verl, grad, &parts, values, g_out, masked, x->mask, (REAL)0.2, B,
                         T));
    EXPECT("value_clip.grad_" TAGS, grad, B * T);
    expect_f64("value_clip_" TAGS ".sums", &parts.sum, 2);
    expect_counts("value_clip_" TAGS ".counts", &parts.tokens, 3);
    OK(FN(rk_value_loss)(h->token_mean, grad, &parts, values, g_out, masked, x->mask,
                         (REAL)INFINITY, B, T));
    EXPECT("value_noclip.grad_" TAGS, grad, B * T);
    expect_f64("value_noclip_" TAGS ".sums", &parts.sum, 2);
    expect_counts("value_noclip_" TAGS ".counts", &parts.tokens, 3);

    /* IS weights, train = logp, rollout = old_logp. */
    const rk_is_correction *corrs[4] = {h->tis_verl, h->icepop, h->seq_truncate, h->seq_mask_tis};
    const char *cnames[4][2] = {{"is_tis_verl.w_" TAGS, "is_tis_verl.zeroed_" TAGS},
                                {"is_icepop.w_" TAGS, "is_icepop.zeroed_" TAGS},
                                {"is_seq_truncate.w_" TAGS, "is_seq_truncate.zeroed_" TAGS},
                                {"is_seq_mask_tis.w_" TAGS, "is_seq_mask_tis.zeroed_" TAGS}};
    for (size_t k = 0; k < 4; k++) {
        size_t zeroed = 0;
        OK(FN(rk_is_weights)(corrs[k], grad, &zeroed, logp, old, x->mask, B, T));
        EXPECT(cnames[k][0], grad, B * T);
        expect_counts(cnames[k][1], &zeroed, 1);
    }

    /* Rejection: token_k1 in [0.5, 2] and verl's seq_mean_k3 <= 0.5. */
    const rk_rejection_rule *rules[2] = {h->rs_token_k1, h->rs_seq_mean_k3_verl};
    uint8_t keep[B * T];
    rk_rejection_stats rst[2];
    rk_rejection_summary sum;
    OK(FN(rk_rejection_mask)(rules, keep, rst, &sum, logp, old, x->mask, 2, B, T));
    double keep_f[B * T];
    for (size_t k = 0; k < B * T; k++) keep_f[k] = keep[k];
    expect_f64("rs.keep_" TAGS, keep_f, B * T);
    size_t sc[5] = {sum.tokens, sum.rejected_tokens, sum.seqs, sum.rejected_seqs, sum.rows};
    expect_counts("rs.summary_" TAGS, sc, 5);
    const char *rnames[2][3] = {
        {"rs.stats0.counts_" TAGS, "rs.stats0.tokens_" TAGS, "rs.stats0.seqs_" TAGS},
        {"rs.stats1.counts_" TAGS, "rs.stats1.tokens_" TAGS, "rs.stats1.seqs_" TAGS}};
    for (size_t k = 0; k < 2; k++) {
        size_t c[6] = {rst[k].tokens.count, rst[k].seqs.count,       rst[k].above,
                       rst[k].below,        rst[k].rejected_tokens, rst[k].rejected_seqs};
        expect_counts(rnames[k][0], c, 6);
        expect_f64(rnames[k][1], &rst[k].tokens.sum, 5);
        expect_f64(rnames[k][2], &rst[k].seqs.sum, 5);
    }

    /* HAPO (stateful: a fresh handle for this type): keys = the group ids; rewards (no history),
     * update, rewards of the lengths reversed, the saved entries, and a restored copy. */
    uint64_t keys[B];
    uint32_t lens2[B];
    for (size_t i = 0; i < B; i++) {
        keys[i] = x->ids[i];
        lens2[i] = x->lens[B - 1 - i];
    }
    rk_hapo *hapo = NULL, *hapo2 = NULL;
    const rk_param hp[] = {P("weight", 0.8), P("floor", 0.5), PT("history", "mean")};
    OK(rk_hapo_new(&hapo, "cosine", hp, 3));
    OK(FN(rk_hapo_rewards)(hapo, out, keys, x->lens, x->correct, B));
    EXPECT("hapo.before_" TAGS, out, B);
    OK(rk_hapo_update(hapo, keys, x->lens, x->correct, B));
    OK(FN(rk_hapo_rewards)(hapo, out, keys, lens2, x->correct, B));
    EXPECT("hapo.after_" TAGS, out, B);
    size_t n_entries_h = 0;
    OK(rk_hapo_len(hapo, &n_entries_h));
    rk_hapo_entry saved[G];
    uint64_t flat[6 * G];
    if (n_entries_h > G) exit(2);
    OK(rk_hapo_save(hapo, saved, n_entries_h));
    for (size_t k = 0; k < n_entries_h; k++) {
        uint64_t e[6] = {saved[k].key,           saved[k].sum,        saved[k].count,
                         saved[k].mean_weighted, saved[k].mean_count, saved[k].min};
        memcpy(&flat[6 * k], e, sizeof e);
    }
    expect_bits("hapo.entries_" TAGS, flat, 6 * n_entries_h, "u64");
    OK(rk_hapo_new(&hapo2, "cosine", hp, 3));
    OK(rk_hapo_load(hapo2, saved, n_entries_h));
    OK(FN(rk_hapo_rewards)(hapo2, out, keys, lens2, x->correct, B));
    EXPECT("hapo.after_" TAGS, out, B);
    rk_hapo_free(hapo);
    rk_hapo_free(hapo2);

    /* LASER-D (stateful: a fresh handle): rewards, update with the same batch as the monitor set,
     * rewards, LASER-DE rewards, the saved targets, and a restored copy. */
    rk_laser_d *ld = NULL, *ld2 = NULL;
    const rk_param lp[] = {P("alpha", 0.25),          P("target", 6),
                           P("thresholds_lower", 2),  P("thresholds_upper", 8),
                           P("thresholds_interval", 2), P("thresholds_linear", 1),
                           P("group_size", 4),        PT("rounding", "ceil"),
                           PT("banding", "training")};
    OK(rk_laser_d_new(&ld, "hybrid", lp, 9));
    OK(FN(rk_laser_d_rewards)(ld, out, x->lens, x->correct, NULL, NULL, h->groups, B));
    EXPECT("laser_d.before_" TAGS, out, B);
    OK(rk_laser_d_update(ld, x->lens, x->correct, h->groups, B));
    OK(FN(rk_laser_d_rewards)(ld, out, x->lens, x->correct, NULL, NULL, h->groups, B));
    EXPECT("laser_d.after_" TAGS, out, B);
    uint8_t rep[B];
    for (size_t i = 0; i < B; i++) rep[i] = i % 5 == 0;
    OK(FN(rk_laser_d_rewards)(ld, out, x->lens, x->correct, NULL, rep, h->groups, B));
    EXPECT("laser_de.after_" TAGS, out, B);
    rk_laser_target tg[3];
    OK(rk_laser_d_save(ld, tg));
    size_t tflat[6];
    for (size_t k = 0; k < 3; k++) {
        tflat[2 * k] = tg[k].kind;
        tflat[2 * k + 1] = tg[k].length;
    }
    expect_counts("laser_d.targets_" TAGS, tflat, 6);
    OK(rk_laser_d_new(&ld2, "hybrid", lp, 9));
    OK(rk_laser_d_load(ld2, tg));
    OK(FN(rk_laser_d_rewards)(ld2, out, x->lens, x->correct, NULL, rep, h->groups, B));
    EXPECT("laser_de.after_" TAGS, out, B);
    rk_laser_d_free(ld);
    rk_laser_d_free(ld2);

    /* Sparse (CSR) MDP: x->tau without entry (row % S) of each row, renormalized in double
     * (the kept entries summed in order), cast; STARC and EPIC. */
    size_t offsets[S * A + 1];
    uint32_t next[S * A * (S - 1)];
    double probs_d[S * A * (S - 1)];
    size_t nnz = 0;
    offsets[0] = 0;
    for (size_t row = 0; row < S * A; row++) {
        double rsum = 0.0;
        for (size_t k = 0; k < S; k++)
            if (k != row % S) rsum += x->tau[row * S + k];
        for (size_t k = 0; k < S; k++)
            if (k != row % S) {
                next[nnz] = (uint32_t)k;
                probs_d[nnz++] = x->tau[row * S + k] / rsum;
            }
        offsets[row + 1] = nnz;
    }
    REAL *probs = CAST(probs_d, nnz);
    REAL sd[2];
    OK(FN(rk_distance_sparse)(h->starc, &sd[0], offsets, next, probs, init, rsa, rs, (REAL)0.9, S,
                              A, nnz, S * A, S));
    OK(FN(rk_distance_sparse)(h->epic, &sd[1], offsets, next, probs, init, rsa, rs, (REAL)0.9, S,
                              A, nnz, S * A, S));
    EXPECT("sparse_distances_" TAGS, sd, 2);
    free(probs);

    free(scores);
    free(tr);
    free(masked);
    free(values);
    free(baselines);
    free(logp);
    free(old);
    free(refp);
    free(entropy);
    free(seq_adv);
    free(logits);
    free(g_out);
    free(gl);
    free(stats);
    free(tau);
    free(init);
    free(rf);
    free(rsa);
    free(rs);
}

#undef CAT_
#undef CAT
#undef FN
#undef CAST
#undef EXPECT
