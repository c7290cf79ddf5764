/* The C test of the rewardkit C API.
 *
 *   capi_test EXPECTED.txt
 *
 * EXPECTED.txt comes from `cargo run -p rewardkit-capi --example capi_expected`, which computes every
 * case by calling rewardkit-core directly. This program builds the same inputs from the same
 * SplitMix64 seed (capi/examples/splitmix64.h, the order of Inputs::new in capi_expected.rs), calls
 * the C API for float and double (capi_cases.h, included twice), and requires every result to
 * have the expected bit pattern. Then it checks bad input: null pointers, length mismatches,
 * unknown names, NaN rewards, misaligned and overlapping buffers, bad mask bytes, invalid UTF-8,
 * out-of-range parameters; each must return its documented code and message (the core's message
 * where the error is the core's, from EXPECTED.txt). CI runs it under Valgrind and under
 * AddressSanitizer, linked against the static and the shared library.
 *
 * Prints one line per failure and a closing "N passed, M failed" line; exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewardkit.h"
#include "splitmix64.h"

/* ---------------------------------------------------------------------------------------------
 * The expected values.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    char name[96];
    char type[4]; /* "f32", "f64", "u64", "msg" */
    size_t n;
    uint64_t *values;
    char *msg;
    int used;
} entry;

static entry *entries;
static size_t n_entries;
static int passed, failed;

static void fail(const char *fmt, const char *a, const char *b) {
    failed++;
    printf("FAIL ");
    printf(fmt, a, b);
    printf("\n");
}

static void load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s (make it with `cargo run -p rewardkit-capi --example "
                        "capi_expected -- %s`)\n",
                path, path);
        exit(2);
    }
    size_t cap = 0;
    char name[96], type[4];
    while (fscanf(f, "%95s %3s", name, type) == 2) {
        if (n_entries == cap) {
            cap = cap ? 2 * cap : 64;
            entries = realloc(entries, cap * sizeof *entries);
            if (!entries) exit(2);
        }
        entry *e = &entries[n_entries++];
        memset(e, 0, sizeof *e);
        strcpy(e->name, name);
        strcpy(e->type, type);
        if (strcmp(type, "msg") == 0) {
            char line[4096];
            if (fgetc(f) != ' ' || !fgets(line, sizeof line, f)) exit(2);
            line[strcspn(line, "\n")] = 0;
            e->msg = malloc(strlen(line) + 1);
            if (!e->msg) exit(2);
            strcpy(e->msg, line);
            continue;
        }
        if (fscanf(f, "%zu", &e->n) != 1) exit(2);
        e->values = calloc(e->n ? e->n : 1, sizeof(uint64_t));
        if (!e->values) exit(2);
        for (size_t i = 0; i < e->n; i++) {
            unsigned long long v;
            int ok = strcmp(type, "u64") == 0 ? fscanf(f, "%llu", &v) : fscanf(f, "%llx", &v);
            if (ok != 1) exit(2);
            e->values[i] = v;
        }
    }
    fclose(f);
}

static const entry *find(const char *name, const char *type) {
    for (size_t i = 0; i < n_entries; i++)
        if (strcmp(entries[i].name, name) == 0 && strcmp(entries[i].type, type) == 0) {
            entries[i].used = 1;
            return &entries[i];
        }
    fail("%s (%s): no expected value", name, type);
    return NULL;
}

/* got[i] bit for bit against the expected values of `name`. */
static void expect_bits(const char *name, const void *got, size_t n, const char *type) {
    const entry *e = find(name, type);
    if (!e) return;
    if (e->n != n) {
        char buf[64];
        snprintf(buf, sizeof buf, "%zu values, expected %zu", n, e->n);
        fail("%s: %s", name, buf);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        if (strcmp(type, "f32") == 0) {
            uint32_t b;
            memcpy(&b, (const char *)got + 4 * i, 4);
            bits = b;
        } else if (strcmp(type, "f64") == 0) {
            memcpy(&bits, (const char *)got + 8 * i, 8);
        } else {
            bits = ((const uint64_t *)got)[i];
        }
        if (bits != e->values[i]) {
            char buf[128];
            snprintf(buf, sizeof buf, "index %zu: got %016llx, expected %016llx", i,
                     (unsigned long long)bits, (unsigned long long)e->values[i]);
            fail("%s: %s", name, buf);
            return;
        }
    }
    passed++;
}

static void expect_f32(const char *name, const float *got, size_t n) {
    expect_bits(name, got, n, "f32");
}
static void expect_f64(const char *name, const double *got, size_t n) {
    expect_bits(name, got, n, "f64");
}
static void expect_counts(const char *name, const size_t *got, size_t n) {
    uint64_t v[8];
    for (size_t i = 0; i < n && i < 8; i++) v[i] = got[i];
    expect_bits(name, v, n, "u64");
}

/* A call that must succeed. */
#define OK(call)                                                                               \
    do {                                                                                       \
        rk_status s_ = (call);                                                                 \
        if (s_ != RK_OK) {                                                                     \
            char where_[160];                                                                  \
            snprintf(where_, sizeof where_, "%s:%d %s", __FILE__, __LINE__,                   \
                     rk_status_name((int32_t)s_));                                             \
            fail("%s: %s", where_, rk_last_error_message());                                  \
        }                                                                                      \
    } while (0)

/* A call that must fail with `code` and exactly the message `msg`. */
static void expect_error(const char *what, rk_status got, rk_status code, const char *msg) {
    if (got != code) {
        char buf[160];
        snprintf(buf, sizeof buf, "got %s, expected %s (%s)", rk_status_name((int32_t)got),
                 rk_status_name((int32_t)code), rk_last_error_message());
        fail("%s: %s", what, buf);
        return;
    }
    if (strcmp(rk_last_error_message(), msg) != 0) {
        fail("%s: message \"%s\"", what, rk_last_error_message());
        printf("     expected \"%s\"\n", msg);
        return;
    }
    passed++;
}

/* As expect_error, with the core's message from the expected file. */
static void expect_core_error(const char *name, rk_status got, rk_status code) {
    const entry *e = find(name, "msg");
    if (e) expect_error(name, got, code, e->msg);
}

static void expect_true(const char *what, int cond) {
    if (cond)
        passed++;
    else
        fail("%s%s", what, "");
}

/* ---------------------------------------------------------------------------------------------
 * The inputs: Inputs::new of capi_expected.rs, draw for draw.
 * ------------------------------------------------------------------------------------------- */

#define B 24
#define T 8
#define G 6
#define V 5
#define S 4
#define A 3

static const char *const TEXTS[6] = {
    "<think>a</think> \\boxed{1}",
    "no",
    "<think>b</think> <answer>2</answer>",
    "<think>c</think>",
    "\\boxed{3}",
    "<think>x</think> so \\(x\\)",
};

typedef struct {
    uint32_t ids[B], lens[B], tokens[B * T];
    uint8_t correct[B], mask[B * T];
    double scores[B], token_rewards[B * T], masked_rewards[B * T], values[B * T], baselines[B];
    double logp[B * T], old_logp[B * T], ref_logp[B * T], entropy[B * T], seq_adv[B];
    double logits[B * T * V], grad_out[B * T];
    double tau[S * A * S], initial[S], r_full[S * A * S], r_sa[S * A], r_s[S];
    const char *texts[B];
} inputs;

static void uniform(rk_splitmix64 *r, double *out, size_t n, double scale, double shift) {
    for (size_t i = 0; i < n; i++) out[i] = scale * rk_splitmix64_f64(r) + shift;
}

static void make_inputs(inputs *x) {
    rk_splitmix64 r = rk_splitmix64_new(11);
    for (size_t i = 0; i < B; i++) x->ids[i] = (uint32_t)(i % G);
    for (size_t i = B - 1; i >= 1; i--) {
        size_t j = rk_splitmix64_below(&r, i + 1);
        uint32_t t = x->ids[i];
        x->ids[i] = x->ids[j];
        x->ids[j] = t;
    }
    for (size_t i = 0; i < B; i++) x->lens[i] = (uint32_t)(1 + rk_splitmix64_below(&r, T));
    for (size_t i = 0; i < B; i++) x->correct[i] = rk_splitmix64_f64(&r) < 0.5;
    for (size_t k = 0; k < B * T; k++) x->mask[k] = (k % T) < x->lens[k / T];
    uniform(&r, x->scores, B, 2.0, -1.0);
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < T; j++) {
            size_t k = i * T + j;
            x->token_rewards[k] = !x->mask[k] ? 7.0 : (j + 1 == x->lens[i] ? x->scores[i] : 0.0);
            x->masked_rewards[k] = x->mask[k] ? x->token_rewards[k] : 0.0;
        }
    uniform(&r, x->values, B * T, 1.0, 0.0);
    uniform(&r, x->baselines, B, 1.0, -0.5);
    uniform(&r, x->logp, B * T, -3.0, 0.0);
    uniform(&r, x->old_logp, B * T, -3.0, 0.0);
    uniform(&r, x->ref_logp, B * T, -3.0, 0.0);
    uniform(&r, x->entropy, B * T, 2.0, 0.0);
    uniform(&r, x->seq_adv, B, 2.0, -1.0);
    uniform(&r, x->logits, B * T * V, 4.0, -2.0);
    for (size_t k = 0; k < B * T; k++) x->tokens[k] = (uint32_t)rk_splitmix64_below(&r, V);
    uniform(&r, x->grad_out, B * T, 1.0, -0.5);
    uniform(&r, x->tau, S * A * S, 1.0, 0.05);
    for (size_t row = 0; row < S * A; row++) {
        double sum = 0.0;
        for (size_t k = 0; k < S; k++) sum += x->tau[row * S + k];
        for (size_t k = 0; k < S; k++) x->tau[row * S + k] /= sum;
    }
    for (size_t s = 0; s < S; s++) x->initial[s] = 1.0 / S;
    uniform(&r, x->r_full, S * A * S, 2.0, -1.0);
    uniform(&r, x->r_sa, S * A, 2.0, -1.0);
    uniform(&r, x->r_s, S, 2.0, -1.0);
    for (size_t i = 0; i < B; i++) x->texts[i] = TEXTS[i % 6];
}

/* Casts (the Rust side's F::lit: round to nearest). */
static float *to_f32(const double *x, size_t n) {
    float *y = malloc(n * sizeof *y);
    if (!y) exit(2);
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
    return y;
}
static double *to_f64(const double *x, size_t n) {
    double *y = malloc(n * sizeof *y);
    if (!y) exit(2);
    memcpy(y, x, n * sizeof *y);
    return y;
}

/* The handles every case uses, made once. */
typedef struct {
    rk_groups *groups;
    rk_advantage *grpo, *dr_grpo_verl, *grpo_verl, *gae, *remax_verl, *rpp, *rloo, *grpo_trl_batch;
    rk_kl *k3plus_verl, *k2;
    rk_policy_loss *vanilla, *gspo, *clip_cov;
    rk_aggregation *smtm_verl, *token_mean;
    rk_reward *correctness, *overlong, *cosine, *kimi, *group_length, *laser, *format,
        *format_length;
    rk_distance *starc, *starc_min, *epic, *dard;
    rk_preference_loss *dpo, *simpo, *ipo;
    rk_is_correction *tis_verl, *icepop, *seq_truncate, *seq_mask_tis;
    rk_rejection_rule *rs_token_k1, *rs_seq_mean_k3_verl;
} handles;

#define P(k, v) {k, v, NULL}
#define PT(k, t) {k, 0, t}

static void make_handles(handles *h, const inputs *x) {
    OK(rk_groups_new(&h->groups, x->ids, B, G));
    const rk_param verl[] = {PT("preset", "verl")};
    OK(rk_advantage_new(&h->grpo, "grpo", NULL, 0));
    OK(rk_advantage_new(&h->dr_grpo_verl, "dr_grpo", verl, 1));
    OK(rk_advantage_new(&h->grpo_verl, "grpo", verl, 1));
    const rk_param gae[] = {P("gamma", 0.99), P("lambda", 0.95)};
    OK(rk_advantage_new(&h->gae, "gae", gae, 2));
    OK(rk_advantage_new(&h->remax_verl, "remax", verl, 1));
    const rk_param rpp[] = {P("gamma", 0.9)};
    OK(rk_advantage_new(&h->rpp, "reinforce_plus_plus", rpp, 1));
    OK(rk_advantage_new(&h->rloo, "rloo", NULL, 0));
    const rk_param trl[] = {PT("preset", "trl"), PT("scale", "batch")};
    OK(rk_advantage_new(&h->grpo_trl_batch, "grpo", trl, 2));
    OK(rk_kl_new(&h->k3plus_verl, "k3+", verl, 1));
    OK(rk_kl_new(&h->k2, "k2", NULL, 0));
    const rk_param van[] = {PT("preset", "verl"), PT("kl", "k3"), P("kl_coef", 0.1),
                            P("entropy_coef", 0.01)};
    OK(rk_policy_loss_new(&h->vanilla, "vanilla", van, 4));
    const rk_param gspo[] = {P("clip_low", 3e-4), P("clip_high", 4e-4)};
    OK(rk_policy_loss_new(&h->gspo, "gspo", gspo, 2));
    const rk_param cc[] = {P("cov_ratio", 0.2), P("cov_lb", -5.0), P("cov_ub", 5.0)};
    OK(rk_policy_loss_new(&h->clip_cov, "clip_cov", cc, 3));
    OK(rk_aggregation_new(&h->smtm_verl, "seq-mean-token-mean", verl, 1));
    OK(rk_aggregation_new(&h->token_mean, "token-mean", NULL, 0));
    OK(rk_reward_new(&h->correctness, "correctness", NULL, 0));
    const rk_param ol[] = {P("max_len", 8), P("buffer", 3), P("factor", 0.5)};
    OK(rk_reward_new(&h->overlong, "overlong", ol, 3));
    const rk_param cos[] = {P("max_len", 10), P("margin", 1), P("correct_short", 2),
                            P("correct_long", 1), P("wrong_short", -1), P("wrong_long", 0),
                            P("exceed", -2)};
    OK(rk_reward_new(&h->cosine, "cosine", cos, 7));
    OK(rk_reward_new(&h->kimi, "kimi", NULL, 0));
    const rk_param gl[] = {P("coef", 0.3), P("eps", 0)};
    OK(rk_reward_new(&h->group_length, "group_length", gl, 2));
    const rk_param laser[] = {P("alpha", 0.5), P("target", 4), PT("mode", "hybrid")};
    OK(rk_reward_new(&h->laser, "laser", laser, 3));
    OK(rk_reward_new(&h->format, "format", NULL, 0));
    const rk_param fl[] = {P("max_len", 8), P("peak", 0.25)};
    OK(rk_reward_new(&h->format_length, "format_length", fl, 2));
    OK(rk_distance_new(&h->starc, "starc", NULL, 0));
    const rk_param sm[] = {PT("canonicalization", "minimal_l2"), PT("norm", "linf"),
                           PT("norm_weights", "transition"), PT("metric", "l1")};
    OK(rk_distance_new(&h->starc_min, "starc", sm, 4));
    OK(rk_distance_new(&h->epic, "epic", NULL, 0));
    const rk_param dw[] = {PT("weights", "coverage")};
    OK(rk_distance_new(&h->dard, "dard", dw, 1));
    const rk_param dpo[] = {P("beta", 0.5), P("label_smoothing", 0.1)};
    OK(rk_preference_loss_new(&h->dpo, "sigmoid", dpo, 2));
    const rk_param simpo[] = {P("beta", 2.0), P("simpo_gamma", 0.5)};
    OK(rk_preference_loss_new(&h->simpo, "simpo", simpo, 2));
    OK(rk_preference_loss_new(&h->ipo, "ipo", NULL, 0));
    const rk_param tis[] = {PT("preset", "verl"), P("threshold_hi", 2.0)};
    OK(rk_is_correction_new(&h->tis_verl, "tis", tis, 2));
    const rk_param icepop[] = {P("threshold_lo", 0.5), P("threshold_hi", 2.0)};
    OK(rk_is_correction_new(&h->icepop, "icepop", icepop, 2));
    const rk_param seqt[] = {P("threshold_hi", 3.0), P("batch_normalize", 1)};
    OK(rk_is_correction_new(&h->seq_truncate, "sequence_truncate", seqt, 2));
    const rk_param smt[] = {P("threshold_lo", 0.5), P("threshold_hi", 5.0)};
    OK(rk_is_correction_new(&h->seq_mask_tis, "seq-mask-tis", smt, 2));
    const rk_param k1[] = {P("lower", 0.5), P("upper", 2.0)};
    OK(rk_rejection_rule_new(&h->rs_token_k1, "token_k1", k1, 2));
    const rk_param k3[] = {PT("preset", "verl"), P("upper", 0.5)};
    OK(rk_rejection_rule_new(&h->rs_seq_mean_k3_verl, "seq_mean_k3", k3, 2));
}

static void free_handles(handles *h) {
    rk_groups_free(h->groups);
    rk_advantage_free(h->grpo);
    rk_advantage_free(h->dr_grpo_verl);
    rk_advantage_free(h->grpo_verl);
    rk_advantage_free(h->gae);
    rk_advantage_free(h->remax_verl);
    rk_advantage_free(h->rpp);
    rk_advantage_free(h->rloo);
    rk_advantage_free(h->grpo_trl_batch);
    rk_kl_free(h->k3plus_verl);
    rk_kl_free(h->k2);
    rk_policy_loss_free(h->vanilla);
    rk_policy_loss_free(h->gspo);
    rk_policy_loss_free(h->clip_cov);
    rk_aggregation_free(h->smtm_verl);
    rk_aggregation_free(h->token_mean);
    rk_reward_free(h->correctness);
    rk_reward_free(h->overlong);
    rk_reward_free(h->cosine);
    rk_reward_free(h->kimi);
    rk_reward_free(h->group_length);
    rk_reward_free(h->laser);
    rk_reward_free(h->format);
    rk_reward_free(h->format_length);
    rk_distance_free(h->starc);
    rk_distance_free(h->starc_min);
    rk_distance_free(h->epic);
    rk_distance_free(h->dard);
    rk_preference_loss_free(h->dpo);
    rk_preference_loss_free(h->simpo);
    rk_preference_loss_free(h->ipo);
    rk_is_correction_free(h->tis_verl);
    rk_is_correction_free(h->icepop);
    rk_is_correction_free(h->seq_truncate);
    rk_is_correction_free(h->seq_mask_tis);
    rk_rejection_rule_free(h->rs_token_k1);
    rk_rejection_rule_free(h->rs_seq_mean_k3_verl);
}

/* The per-type cases: the same list as cases::<F> in capi_expected.rs. */
#define REAL float
#define TAG f32
#define TAGS "f32"
#include "capi_cases.h"
#undef REAL
#undef TAG
#undef TAGS
#define REAL double
#define TAG f64
#define TAGS "f64"
#include "capi_cases.h"
#undef REAL
#undef TAG
#undef TAGS

/* ---------------------------------------------------------------------------------------------
 * Bad input.
 * ------------------------------------------------------------------------------------------- */

static void errors(const handles *h, const inputs *x) {
    float *scores = to_f32(x->scores, B);
    float out[B * T], ret[B * T];
    rk_status s;

    /* Null pointers, for a buffer, a handle, a name and a parameter array. */
    s = rk_grpo_f32(h->grpo, NULL, scores, h->groups, B);
    expect_error("null out", s, RK_ERR_NULL_POINTER, "`out` is a null pointer");
    s = rk_grpo_f32(NULL, out, scores, h->groups, B);
    expect_error("null handle", s, RK_ERR_NULL_POINTER, "`advantage` is a null pointer");
    s = rk_grpo_f32(h->grpo, out, scores, NULL, B);
    expect_error("null groups", s, RK_ERR_NULL_POINTER, "`groups` is a null pointer");
    rk_advantage *adv = (rk_advantage *)1;
    s = rk_advantage_new(&adv, NULL, NULL, 0);
    expect_error("null name", s, RK_ERR_NULL_POINTER, "`name` is a null pointer");
    expect_true("out-handle is NULL after an error", adv == NULL);
    s = rk_advantage_new(&adv, "grpo", NULL, 2);
    expect_error("null params", s, RK_ERR_NULL_POINTER, "`params` is a null pointer");
    s = rk_advantage_new(NULL, "grpo", NULL, 0);
    expect_error("null out-handle", s, RK_ERR_NULL_POINTER, "`out` is a null pointer");
    const rk_param null_key[] = {{NULL, 1.0, NULL}};
    rk_reward *reward = NULL;
    s = rk_reward_new(&reward, "overlong", null_key, 1);
    expect_error("null key", s, RK_ERR_NULL_POINTER, "`params.key` is a null pointer");

    /* Length mismatches. */
    s = rk_grpo_f32(h->grpo, out, scores, h->groups, B - 1);
    expect_core_error("err_length_mismatch", s, RK_ERR_LENGTH_MISMATCH);
    float *logp = to_f32(x->logp, B * T), *adv_seq = to_f32(x->seq_adv, B);
    float *refp = to_f32(x->ref_logp, B * T);
    rk_loss_parts parts;
    s = rk_policy_loss_f32(h->vanilla, h->token_mean, out, &parts, logp, logp, adv_seq, x->mask,
                           refp, NULL, NULL, B, T, B - 1);
    expect_core_error("err_adv_length", s, RK_ERR_LENGTH_MISMATCH);

    /* NaN rewards. */
    float *nan = to_f32(x->scores, B);
    nan[2] = NAN;
    s = rk_grpo_f32(h->grpo, out, nan, h->groups, B);
    expect_core_error("err_nan_reward", s, RK_ERR_NON_FINITE);

    /* Unknown names (estimator, KL, loss, aggregation, preset, reward, key, mode). */
    rk_kl *kl = NULL;
    rk_policy_loss *loss = NULL;
    rk_aggregation *agg = NULL;
    rk_distance *dist = NULL;
    s = rk_advantage_new(&adv, "grpoo", NULL, 0);
    expect_core_error("err_unknown_estimator", s, RK_ERR_UNKNOWN_NAME);
    s = rk_kl_new(&kl, "k4", NULL, 0);
    expect_core_error("err_unknown_kl", s, RK_ERR_UNKNOWN_NAME);
    s = rk_policy_loss_new(&loss, "ppo2", NULL, 0);
    expect_core_error("err_unknown_loss", s, RK_ERR_UNKNOWN_NAME);
    s = rk_aggregation_new(&agg, "token-median", NULL, 0);
    expect_core_error("err_unknown_aggregation", s, RK_ERR_UNKNOWN_NAME);
    const rk_param vrl[] = {PT("preset", "vrl")};
    s = rk_advantage_new(&adv, "grpo", vrl, 1);
    expect_core_error("err_unknown_preset", s, RK_ERR_UNKNOWN_NAME);
    s = rk_reward_new(&reward, "lengthy", NULL, 0);
    expect_error("unknown reward", s, RK_ERR_UNKNOWN_NAME,
                 "unknown reward; valid names: correctness, overlong, cosine, kimi, group_length, "
                 "laser, format, format_length");
    const rk_param maxlen[] = {P("maxlen", 8)};
    s = rk_reward_new(&reward, "overlong", maxlen, 1);
    expect_error("unknown key", s, RK_ERR_UNKNOWN_NAME,
                 "unknown parameter `maxlen` of reward `overlong`; valid names: max_len, buffer, "
                 "factor, cap");
    const rk_param mode[] = {PT("mode", "both")};
    s = rk_reward_new(&reward, "laser", mode, 1);
    expect_error("unknown mode", s, RK_ERR_UNKNOWN_NAME,
                 "unknown `mode` of reward `laser`; valid names: reward, penalty, hybrid");
    s = rk_distance_new(&dist, "wasserstein", NULL, 0);
    expect_error("unknown distance", s, RK_ERR_UNKNOWN_NAME,
                 "unknown reward distance; valid names: starc, epic, dard");
    expect_true("no handle after failed constructors",
                !adv && !kl && !loss && !agg && !reward && !dist);

    /* Parameters out of range. */
    const rk_param buf[] = {P("max_len", 8), P("buffer", 9)};
    s = rk_reward_new(&reward, "overlong", buf, 2);
    expect_core_error("err_invalid_param", s, RK_ERR_INVALID_PARAM);
    const rk_param dual[] = {P("dual_clip", 0.5)};
    s = rk_policy_loss_new(&loss, "vanilla", dual, 1);
    expect_core_error("err_invalid_clip", s, RK_ERR_INVALID_PARAM);
    const rk_param frac[] = {P("target", 4.5)};
    s = rk_reward_new(&reward, "laser", frac, 1);
    expect_error("non-integer length", s, RK_ERR_INVALID_PARAM,
                 "parameter `target` = 4.5 is invalid: expected an integer in [1, 4294967295]");
    const rk_param twice[] = {P("gamma", 0.9), P("gamma", 0.8)};
    s = rk_advantage_new(&adv, "gae", twice, 2);
    expect_error("duplicate key", s, RK_ERR_INVALID_PARAM,
                 "parameter `gamma` of advantage estimator `gae` is given twice");
    const rk_param klnocoef[] = {PT("kl", "k3")};
    s = rk_policy_loss_new(&loss, "vanilla", klnocoef, 1);
    expect_error("kl without coefficient", s, RK_ERR_MISSING_INPUT,
                 "input `kl_coef` is required but missing");

    /* Groups. */
    rk_groups *g = NULL;
    uint32_t bad_ids[B];
    memcpy(bad_ids, x->ids, sizeof bad_ids);
    bad_ids[3] = G;
    s = rk_groups_new(&g, bad_ids, B, G);
    expect_core_error("err_group_id", s, RK_ERR_GROUP_ID_OUT_OF_RANGE);
    s = rk_groups_new(&g, x->ids, 0, G);
    expect_core_error("err_empty_groups", s, RK_ERR_EMPTY);
    s = rk_groups_uniform(&g, B, 5);
    expect_core_error("err_uniform_shape", s, RK_ERR_BAD_SHAPE);
    expect_true("no groups after errors", g == NULL);

    /* Missing inputs. */
    rk_reward_inputs in = {0};
    in.batch = B;
    in.correct = x->correct;
    in.lengths = x->lens;
    s = rk_reward_f32(h->kimi, out, &in);
    expect_core_error("err_missing_groups", s, RK_ERR_MISSING_INPUT);
    s = rk_reward_pipeline_tokens_f32((const rk_reward *const *)&h->correctness,
                                      (const float[]){1.0f}, out, ret, &in, 1);
    expect_core_error("err_missing_mask", s, RK_ERR_MISSING_INPUT);
    s = rk_policy_loss_f32(h->vanilla, h->token_mean, out, &parts, logp, logp, adv_seq, x->mask,
                           NULL, NULL, NULL, B, T, B);
    expect_core_error("err_missing_ref", s, RK_ERR_MISSING_INPUT);
    float *tr = to_f32(x->token_rewards, B * T);
    s = rk_advantages_f32(h->gae, out, ret, tr, x->mask, NULL, NULL, NULL, B, T);
    expect_core_error("err_missing_values", s, RK_ERR_MISSING_INPUT);
    s = rk_advantages_seq_f32(h->gae, out, tr, x->mask, NULL, B, T);
    expect_core_error("err_token_level_plan", s, RK_ERR_INVALID_PARAM);

    /* Zero lengths, bad flag and mask bytes, invalid UTF-8. */
    uint32_t lens[B];
    memcpy(lens, x->lens, sizeof lens);
    lens[1] = 0;
    in.lengths = lens;
    s = rk_reward_f32(h->overlong, out, &in);
    expect_core_error("err_zero_length", s, RK_ERR_INVALID_PARAM);
    in.lengths = x->lens;
    uint8_t flags[B];
    memcpy(flags, x->correct, sizeof flags);
    flags[0] = 3;
    in.correct = flags;
    s = rk_reward_f32(h->correctness, out, &in);
    expect_error("flag byte", s, RK_ERR_INVALID_ARGUMENT,
                 "`correct` holds 3 at index 0; expected 0 or 1");
    in.correct = x->correct;
    uint8_t mask[B * T];
    memcpy(mask, x->mask, sizeof mask);
    mask[5] = 2;
    s = rk_advantages_seq_f32(h->grpo, out, tr, mask, h->groups, B, T);
    expect_error("mask byte", s, RK_ERR_INVALID_ARGUMENT,
                 "`mask` holds 2 at index 5; expected 0 or 1");
    const char *texts[B];
    memcpy(texts, x->texts, sizeof texts);
    texts[7] = "caf\xc3";
    in.texts = texts;
    s = rk_reward_f32(h->format, out, &in);
    expect_error("invalid UTF-8", s, RK_ERR_INVALID_ARGUMENT, "`texts` is not valid UTF-8");

    /* Tokens, MDPs. */
    float *logits = to_f32(x->logits, B * T * V);
    uint32_t tokens[B * T];
    memcpy(tokens, x->tokens, sizeof tokens);
    tokens[4] = V;
    rk_row_stats stats[B * T];
    s = rk_logprobs_f32(out, stats, logits, tokens, B * T, V);
    expect_core_error("err_token_range", s, RK_ERR_TOKEN_OUT_OF_RANGE);
    double d;
    s = rk_distance_f64(h->epic, &d, x->tau, x->initial, x->r_full, x->r_sa, 1.0, S, A,
                        S * A * S, S * A);
    expect_core_error("err_gamma", s, RK_ERR_INVALID_PARAM);

    /* Misaligned, overlapping and oversized buffers; a handle of the wrong kind. */
    float *aligned = malloc((B + 1) * sizeof(float));
    if (!aligned) exit(2);
    memcpy(aligned, scores, B * sizeof(float));
    const float *misaligned = (const float *)(const void *)((const char *)aligned + 1);
    s = rk_grpo_f32(h->grpo, out, misaligned, h->groups, B);
    expect_error("misaligned", s, RK_ERR_MISALIGNED, "`scores` is not aligned to 4 bytes");
    s = rk_grpo_f32(h->grpo, aligned, aligned, h->groups, B);
    expect_error("in place", s, RK_ERR_INVALID_ARGUMENT,
                 "`scores` overlaps `out`; outputs may not share memory with another argument");
    s = rk_advantages_f32(h->grpo, out, ret, tr, NULL, h->groups, NULL, NULL, SIZE_MAX / 2, 4);
    expect_true("B·T overflow", s == RK_ERR_TOO_LARGE);
    s = rk_grpo_f32(h->rloo, out, scores, h->groups, B);
    expect_error("wrong handle", s, RK_ERR_INVALID_ARGUMENT,
                 "rk_grpo needs a `grpo` or `dr_grpo` handle, got `rloo`");

    /* Phase 2: preference losses, Bradley-Terry, the value loss, IS corrections, rejection. */
    rk_preference_loss *pref = NULL;
    s = rk_preference_loss_new(&pref, "dpo", NULL, 0);
    expect_core_error("err_unknown_preference", s, RK_ERR_UNKNOWN_NAME);
    const rk_param beta0[] = {P("beta", 0.0)};
    s = rk_preference_loss_new(&pref, "sigmoid", beta0, 1);
    expect_core_error("err_pref_beta", s, RK_ERR_INVALID_PARAM);
    const rk_param alpha_only[] = {P("f_alpha_divergence_coef", 0.5)};
    s = rk_preference_loss_new(&pref, "sigmoid", alpha_only, 1);
    expect_error("alpha without alpha_divergence", s, RK_ERR_INVALID_PARAM,
                 "parameter `f_alpha_divergence_coef` needs `f_divergence_type` = "
                 "\"alpha_divergence\"");
    const rk_param fdiv[] = {PT("f_divergence_type", "kl")};
    s = rk_preference_loss_new(&pref, "sigmoid", fdiv, 1);
    expect_error("unknown divergence", s, RK_ERR_UNKNOWN_NAME,
                 "unknown `f_divergence_type` of preference loss `sigmoid`; valid names: "
                 "reverse_kl, forward_kl, js_divergence, alpha_divergence");
    expect_true("no preference loss after errors", pref == NULL);
    float *oldp = to_f32(x->old_logp, B * T), *lens_f = malloc(B * sizeof(float));
    if (!lens_f) exit(2);
    for (size_t i = 0; i < B; i++) lens_f[i] = (float)x->lens[i];
    float gc[B], gr[B];
    s = rk_preference_loss_f32(h->simpo, gc, gr, &parts, logp, oldp, refp, logp + B, NULL, NULL,
                               NULL, NULL, NULL, NULL, B);
    expect_core_error("err_pref_lengths", s, RK_ERR_MISSING_INPUT);
    s = rk_preference_loss_f32(h->simpo, gc, gr, &parts, logp, oldp, refp, logp + B, lens_f, NULL,
                               NULL, NULL, NULL, NULL, B);
    expect_error("one length array", s, RK_ERR_MISSING_INPUT,
                 "input `rejected_lengths` is required but missing");
    float nan_pairs[B];
    memcpy(nan_pairs, logp, sizeof nan_pairs);
    nan_pairs[2] = NAN;
    s = rk_preference_loss_f32(h->dpo, gc, gr, &parts, nan_pairs, oldp, refp, logp + B, NULL, NULL,
                               NULL, NULL, NULL, NULL, B);
    expect_core_error("err_pref_nan", s, RK_ERR_NON_FINITE);
    s = rk_preference_loss_f32(h->dpo, gc, gr, NULL, logp, oldp, refp, logp + B, NULL, NULL, NULL,
                               NULL, NULL, NULL, B);
    expect_error("null parts", s, RK_ERR_NULL_POINTER, "`parts` is a null pointer");
    s = rk_preference_loss_f32(NULL, gc, gr, &parts, logp, oldp, refp, logp + B, NULL, NULL, NULL,
                               NULL, NULL, NULL, B);
    expect_error("null preference handle", s, RK_ERR_NULL_POINTER, "`loss` is a null pointer");
    const rk_preference_loss *no_terms[1] = {h->dpo};
    s = rk_preference_loss_combined_f32(no_terms, (const float[]){1.0f}, gc, gr, &parts, logp,
                                        oldp, refp, logp + B, NULL, NULL, NULL, NULL, NULL, NULL,
                                        0, B);
    expect_error("combined without terms", s, RK_ERR_EMPTY, "`terms` is empty");
    s = rk_bradley_terry_loss_f32(gc, gr, &parts, logp, oldp, NULL, -1.0f, 0.0f, B);
    expect_core_error("err_bt_center", s, RK_ERR_INVALID_PARAM);
    s = rk_bradley_terry_loss_f32(gc, gr, &parts, nan_pairs, oldp, NULL, 0.0f, 0.0f, B);
    expect_core_error("err_pref_nan", s, RK_ERR_NON_FINITE);
    float *vals = to_f32(x->values, B * T);
    s = rk_value_loss_f32(h->token_mean, out, &parts, vals, vals, vals, x->mask, 0.0f, B, T);
    expect_core_error("err_value_clip", s, RK_ERR_INVALID_PARAM);
    s = rk_value_loss_f32(h->token_mean, out, &parts, vals, vals, NULL, x->mask, 0.2f, B, T);
    expect_error("null returns", s, RK_ERR_NULL_POINTER, "`returns` is a null pointer");
    rk_is_correction *corr = NULL;
    const rk_param hi2[] = {P("threshold_hi", 2.0)};
    s = rk_is_correction_new(&corr, "token", hi2, 1);
    expect_core_error("err_unknown_is_mode", s, RK_ERR_UNKNOWN_NAME);
    s = rk_is_correction_new(&corr, "tis", NULL, 0);
    expect_error("IS without threshold_hi", s, RK_ERR_MISSING_INPUT,
                 "input `threshold_hi` is required but missing");
    const rk_param lohi[] = {P("threshold_lo", 3.0), P("threshold_hi", 2.0)};
    s = rk_is_correction_new(&corr, "tis", lohi, 2);
    expect_core_error("err_is_thresholds", s, RK_ERR_INVALID_PARAM);
    expect_true("no IS correction after errors", corr == NULL);
    float nan_tok[B * T];
    memcpy(nan_tok, logp, sizeof nan_tok);
    nan_tok[1] = NAN;
    s = rk_is_weights_f32(h->icepop, out, NULL, nan_tok, oldp, x->mask, B, T);
    expect_error("NaN train_logp", s, RK_ERR_NON_FINITE,
                 "`train_logp` holds a NaN or infinite value at index 1");
    rk_rejection_rule *rule = NULL;
    s = rk_rejection_rule_new(&rule, "seq_max_k1", NULL, 0);
    expect_core_error("err_unknown_rs", s, RK_ERR_UNKNOWN_NAME);
    const rk_param k3lower[] = {P("lower", 0.1), P("upper", 2.0)};
    s = rk_rejection_rule_new(&rule, "token_k3", k3lower, 2);
    expect_core_error("err_rs_lower", s, RK_ERR_INVALID_PARAM);
    s = rk_rejection_rule_new(&rule, "token_k3", NULL, 0);
    expect_error("rule without upper", s, RK_ERR_MISSING_INPUT,
                 "input `upper` is required but missing");
    expect_true("no rejection rule after errors", rule == NULL);
    uint8_t keep[B * T];
    const rk_rejection_rule *rules[2] = {h->rs_token_k1, NULL};
    s = rk_rejection_mask_f32(rules, keep, NULL, NULL, logp, oldp, x->mask, 2, B, T);
    expect_error("null rule", s, RK_ERR_NULL_POINTER, "`rules` is a null pointer");
    s = rk_rejection_mask_f32(rules, keep, NULL, NULL, nan_tok, oldp, x->mask, 1, B, T);
    expect_error("NaN in rejection", s, RK_ERR_NON_FINITE,
                 "`train_logp` holds a NaN or infinite value at index 1");
    s = rk_rejection_mask_f32(rules, keep, NULL, NULL, logp, oldp, mask, 1, B, T);
    expect_error("rejection mask byte", s, RK_ERR_INVALID_ARGUMENT,
                 "`mask` holds 2 at index 5; expected 0 or 1");
    rk_hapo *hapo = NULL;
    const rk_param hw[] = {P("weight", 1.5)};
    s = rk_hapo_new(&hapo, "linear", hw, 1);
    expect_core_error("err_hapo_weight", s, RK_ERR_INVALID_PARAM);
    s = rk_hapo_new(&hapo, "cos", NULL, 0);
    expect_error("unknown HAPO shape", s, RK_ERR_UNKNOWN_NAME,
                 "unknown HAPO shape; valid names: cosine, linear");
    expect_true("no HAPO handle after errors", hapo == NULL);
    OK(rk_hapo_new(&hapo, "cosine", NULL, 0));
    uint64_t hkeys[B];
    for (size_t i = 0; i < B; i++) hkeys[i] = x->ids[i];
    s = rk_hapo_update(hapo, hkeys, lens, x->correct, B); /* lens[1] == 0 */
    expect_core_error("err_hapo_zero_length", s, RK_ERR_INVALID_PARAM);
    size_t hn = 99;
    OK(rk_hapo_len(hapo, &hn));
    expect_true("failed update leaves the history empty", hn == 0);
    s = rk_hapo_update(hapo, hkeys, x->lens, flags, B); /* flags[0] == 3 */
    expect_error("HAPO flag byte", s, RK_ERR_INVALID_ARGUMENT,
                 "`correct` holds 3 at index 0; expected 0 or 1");
    s = rk_hapo_rewards_f32(NULL, out, hkeys, x->lens, x->correct, B);
    expect_error("null HAPO handle", s, RK_ERR_NULL_POINTER, "`hapo` is a null pointer");
    rk_hapo_entry bad_entry = {1, 0, 0, 0, 0, 0};
    s = rk_hapo_load(hapo, &bad_entry, 1);
    expect_error("HAPO entry min 0", s, RK_ERR_INVALID_PARAM,
                 "parameter `entries.min` = 0 is invalid: expected a shortest correct length >= 1");
    rk_hapo_entry one;
    s = rk_hapo_save(hapo, &one, 1);
    expect_error("HAPO save size", s, RK_ERR_LENGTH_MISMATCH, "`entries` has length 1, expected 0");
    rk_hapo_free(hapo);
    rk_laser_d *ld = NULL;
    const rk_param thr[] = {P("thresholds_lower", 8), P("thresholds_upper", 4)};
    s = rk_laser_d_new(&ld, "reward", thr, 2);
    expect_core_error("err_laser_thresholds", s, RK_ERR_INVALID_PARAM);
    s = rk_laser_d_new(&ld, "bonus", NULL, 0);
    expect_error("unknown LASER-D mode", s, RK_ERR_UNKNOWN_NAME,
                 "unknown LASER-D mode; valid names: reward, penalty, hybrid");
    expect_true("no LASER-D handle after errors", ld == NULL);
    OK(rk_laser_d_new(&ld, "reward", NULL, 0));
    rk_laser_target tg[3] = {{RK_LASER_TARGET_FIXED, 8}, {7, 1}, {RK_LASER_TARGET_NONE, 0}};
    s = rk_laser_d_load(ld, tg);
    expect_error("LASER-D target kind", s, RK_ERR_INVALID_ARGUMENT,
                 "`targets` holds kind 7; expected RK_LASER_TARGET_FIXED (0), "
                 "RK_LASER_TARGET_MONITORED (1) or RK_LASER_TARGET_NONE (2)");
    s = rk_laser_d_rewards_f32(ld, out, x->lens, x->correct, NULL, NULL, NULL, B);
    expect_error("LASER-D without groups", s, RK_ERR_NULL_POINTER, "`groups` is a null pointer");
    s = rk_laser_d_update(ld, x->lens, x->correct, h->groups, B - 1);
    expect_true("LASER-D update with the wrong batch", s == RK_ERR_LENGTH_MISMATCH);
    rk_laser_d_free(ld);
    size_t offsets[S * A + 1];
    uint32_t next[S * A * (S - 1)];
    double probs[S * A * (S - 1)];
    size_t nnz = 0;
    offsets[0] = 0;
    for (size_t row = 0; row < S * A; row++) {
        double rsum = 0.0;
        for (size_t k = 0; k < S; k++)
            if (k != row % S) rsum += x->tau[row * S + k];
        for (size_t k = 0; k < S; k++)
            if (k != row % S) {
                next[nnz] = (uint32_t)k;
                probs[nnz++] = x->tau[row * S + k] / rsum;
            }
        offsets[row + 1] = nnz;
    }
    offsets[S * A] -= 1;
    s = rk_distance_sparse_f64(h->epic, &d, offsets, next, probs, x->initial, x->r_sa, x->r_s, 0.9,
                               S, A, nnz, S * A, S);
    expect_core_error("err_sparse_offsets", s, RK_ERR_INVALID_PARAM);
    s = rk_distance_sparse_f64(h->epic, &d, NULL, next, probs, x->initial, x->r_sa, x->r_s, 0.9, S,
                               A, nnz, S * A, S);
    expect_error("null offsets", s, RK_ERR_NULL_POINTER, "`offsets` is a null pointer");
    free(oldp);
    free(lens_f);
    free(vals);

    /* A success clears the message. */
    OK(rk_grpo_f32(h->grpo, out, scores, h->groups, B));
    expect_true("message cleared by a success", rk_last_error_message()[0] == 0);

    /* Freeing NULL is a no-op. */
    rk_groups_free(NULL);
    rk_advantage_free(NULL);
    rk_kl_free(NULL);
    rk_policy_loss_free(NULL);
    rk_aggregation_free(NULL);
    rk_reward_free(NULL);
    rk_distance_free(NULL);
    rk_preference_loss_free(NULL);
    rk_is_correction_free(NULL);
    rk_rejection_rule_free(NULL);
    rk_hapo_free(NULL);
    rk_laser_d_free(NULL);

    free(scores);
    free(logp);
    free(adv_seq);
    free(refp);
    free(nan);
    free(tr);
    free(logits);
    free(aligned);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s EXPECTED.txt\n", argv[0]);
        return 2;
    }
    load(argv[1]);

    /* Version and status names. */
    expect_true("rk_version",
                rk_version() == ((RK_VERSION_MAJOR << 16) | (RK_VERSION_MINOR << 8) |
                                 RK_VERSION_PATCH));
    expect_true("RK_VERSION_COMPATIBLE", RK_VERSION_COMPATIBLE(rk_version()));
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", RK_VERSION_MAJOR, RK_VERSION_MINOR,
             RK_VERSION_PATCH);
    expect_true("rk_version_string", strcmp(rk_version_string(), version) == 0);
    expect_true("rk_status_name", strcmp(rk_status_name(RK_ERR_PANIC), "RK_ERR_PANIC") == 0 &&
                                      strcmp(rk_status_name(RK_OK), "RK_OK") == 0 &&
                                      strcmp(rk_status_name(99), "RK_UNKNOWN_STATUS") == 0);

    static inputs x;
    make_inputs(&x);
    handles h;
    memset(&h, 0, sizeof h);
    make_handles(&h, &x);
    cases_f32(&h, &x);
    cases_f64(&h, &x);
    errors(&h, &x);
    free_handles(&h);

    for (size_t i = 0; i < n_entries; i++) {
        if (!entries[i].used) fail("%s (%s): expected but never checked", entries[i].name,
                                   entries[i].type);
        free(entries[i].values);
        free(entries[i].msg);
    }
    free(entries);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
