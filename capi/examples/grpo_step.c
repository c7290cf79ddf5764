/* One GRPO step, from verified outcomes to the gradient with respect to the logits, through the
 * rewardkit C API: the C twin of core/examples/grpo_step.rs. It builds the same demonstration
 * batch from the same seed and prints the same report; CI compares the two outputs byte for byte
 * (the C layer runs the core's code, so the numbers are the same bits).
 *
 *   outcomes --reward pipeline--> token rewards (B, T)   correctness + DAPO overlong penalty
 *            --rk_groups-->       groups                 prompt id of each row, any order
 *            --rk_advantage-->    advantages (B)         GRPO
 *   logits   --rk_logprobs-->     log pi (B*T)           + row statistics, reused by the backward
 *            --rk_entropy-->      H (B*T)
 *            --rk_policy_loss-->  parts, d/d log pi      PPO clip + k3 KL + entropy bonus
 *            --rk_aggregation-->  loss, scaled d/d log pi  token-mean over the whole batch
 *            --*_backward (+=)--> d loss / d logits      one (B*T, V) buffer for every term
 *
 * Build (from the repository root, after `cargo build --release -p rewardkit-capi`):
 *   cc -std=c11 -Wall -Wextra -Werror -Icapi/include capi/examples/grpo_step.c \
 *      -Ltarget/release -lrewardkit -lm -o grpo_step && LD_LIBRARY_PATH=target/release ./grpo_step
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "rewardkit.h"
#include "splitmix64.h"

/* Exits with the status name and the library's message when a call fails. */
#define CHECK(call)                                                                            \
    do {                                                                                       \
        rk_status s_ = (call);                                                                 \
        if (s_ != RK_OK) {                                                                     \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,           \
                    rk_status_name((int32_t)s_), rk_last_error_message());                     \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

/* A zeroed array of n elements of the given size (exits on failure). */
static void *zalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* What one step reads: B sampled completions of T tokens over a vocabulary of V. */
typedef struct {
    size_t b, t, v, prompts;
    uint32_t *prompt;  /* (B) prompt (group) id of each row, any order */
    uint32_t *lens;    /* (B) valid completion tokens, 1..=T */
    uint8_t *correct;  /* (B) verifier verdicts */
    uint8_t *mask;     /* (B, T) valid completion tokens */
    uint32_t *tokens;  /* (B*T) sampled token ids */
    float *logits;     /* (B*T, V) policy being trained */
    float *old_logp;   /* (B*T) sampling policy (detached) */
    float *ref_logp;   /* (B*T) reference policy (detached) */
} step_batch;

/* uniform(scale) of demo_batch: F::lit(scale * (2u - 1)) with u = next_f64(). */
static float uniform(rk_splitmix64 *rng, double scale) {
    return (float)(scale * (2.0 * rk_splitmix64_f64(rng) - 1.0));
}

/* demo_batch of grpo_step.rs: the same draws in the same order. */
static step_batch demo_batch(uint64_t seed, size_t prompts, size_t k, size_t t, size_t v) {
    rk_splitmix64 rng = rk_splitmix64_new(seed);
    step_batch x = {0};
    size_t b = prompts * k, n = b * t;
    x.b = b, x.t = t, x.v = v, x.prompts = prompts;
    x.prompt = zalloc(b, sizeof *x.prompt);
    x.lens = zalloc(b, sizeof *x.lens);
    x.correct = zalloc(b, sizeof *x.correct);
    x.mask = zalloc(n, sizeof *x.mask);
    x.tokens = zalloc(n, sizeof *x.tokens);
    x.logits = zalloc(n * v, sizeof *x.logits);
    x.old_logp = zalloc(n, sizeof *x.old_logp);
    x.ref_logp = zalloc(n, sizeof *x.ref_logp);
    for (size_t i = 0; i < b; i++) x.prompt[i] = (uint32_t)(i % prompts);
    for (size_t i = b - 1; i >= 1; i--) {
        size_t j = rk_splitmix64_below(&rng, i + 1);
        uint32_t tmp = x.prompt[i];
        x.prompt[i] = x.prompt[j];
        x.prompt[j] = tmp;
    }
    for (size_t i = 0; i < b; i++) x.lens[i] = (uint32_t)(1 + rk_splitmix64_below(&rng, t));
    for (size_t i = 0; i < b; i++) x.correct[i] = rk_splitmix64_f64(&rng) < 0.5;
    float *old_logits = zalloc(n * v, sizeof(float));
    float *ref_logits = zalloc(n * v, sizeof(float));
    for (size_t i = 0; i < n * v; i++) x.logits[i] = uniform(&rng, 2.0);
    for (size_t i = 0; i < n * v; i++) old_logits[i] = x.logits[i] + uniform(&rng, 0.3);
    for (size_t i = 0; i < n * v; i++) ref_logits[i] = x.logits[i] + uniform(&rng, 0.3);
    for (size_t i = 0; i < n; i++) x.tokens[i] = (uint32_t)rk_splitmix64_below(&rng, v);
    rk_row_stats *stats = zalloc(n, sizeof *stats);
    CHECK(rk_logprobs_f32(x.old_logp, stats, old_logits, x.tokens, n, v));
    CHECK(rk_logprobs_f32(x.ref_logp, stats, ref_logits, x.tokens, n, v));
    free(stats);
    free(old_logits);
    free(ref_logits);
    /* The completion mask: the first lens[i] tokens of each row (layout::prefix_mask). */
    for (size_t i = 0; i < b; i++)
        for (size_t j = 0; j < t; j++) x.mask[i * t + j] = j < x.lens[i];
    return x;
}

static void free_batch(step_batch *x) {
    free(x->prompt);
    free(x->lens);
    free(x->correct);
    free(x->mask);
    free(x->tokens);
    free(x->logits);
    free(x->old_logp);
    free(x->ref_logp);
}

int main(void) {
    if (!RK_VERSION_COMPATIBLE(rk_version())) {
        fprintf(stderr, "librewardkit %s does not match rewardkit.h\n", rk_version_string());
        return 1;
    }
    /* The step's hyperparameters (StepConfig::default of grpo_step.rs). */
    const double kl_coef = 0.05, entropy_coef = 0.01;
    const uint32_t overlong_buffer = 2;

    step_batch x = demo_batch(7, 3, 4, 6, 11);
    const size_t b = x.b, t = x.t, v = x.v, n = b * t;

    /* 1. Rewards: 1/0 correctness plus DAPO's overlong penalty, on each row's last valid token. */
    rk_reward *correct = NULL, *overlong = NULL;
    CHECK(rk_reward_new(&correct, "correctness", NULL, 0));
    const rk_param overlong_params[] = {
        {"max_len", (double)t, NULL},
        {"buffer", overlong_buffer, NULL},
        {"factor", 1.0, NULL},
    };
    CHECK(rk_reward_new(&overlong, "overlong", overlong_params, 3));
    const rk_reward *terms[] = {correct, overlong};
    const float weights[] = {1.0f, 1.0f};
    rk_reward_inputs in = {0};
    in.batch = b;
    in.correct = x.correct;
    in.lengths = x.lens;
    in.mask = x.mask;
    in.seq_len = t;
    float *token_rewards = zalloc(n, sizeof(float));
    float *parts = zalloc(2 * b, sizeof(float));
    float *rewards = zalloc(b, sizeof(float));
    CHECK(rk_reward_pipeline_tokens_f32(terms, weights, token_rewards, parts, &in, 2));
    CHECK(rk_sequence_sums_f32(rewards, token_rewards, b, t));

    /* 2. Groups: the prompt of each row, rows in any order. */
    rk_groups *groups = NULL;
    CHECK(rk_groups_new(&groups, x.prompt, b, x.prompts));

    /* 3. Advantages: GRPO under the rewardkit numerics, one per row. */
    rk_advantage *grpo = NULL;
    CHECK(rk_advantage_new(&grpo, "grpo", NULL, 0));
    float *adv = zalloc(b, sizeof(float));
    CHECK(rk_advantages_seq_f32(grpo, adv, token_rewards, x.mask, groups, b, t));

    /* 4. Log-probabilities and entropies from the logits (statistics kept for the backward). */
    float *logp = zalloc(n, sizeof(float)), *entropy = zalloc(n, sizeof(float));
    rk_row_stats *lp_stats = zalloc(n, sizeof(rk_row_stats));
    rk_row_stats *h_stats = zalloc(n, sizeof(rk_row_stats));
    CHECK(rk_logprobs_f32(logp, lp_stats, x.logits, x.tokens, n, v));
    CHECK(rk_entropy_f32(entropy, h_stats, x.logits, n, v));

    /* 5. PPO clip with verl's defaults, a k3 KL term and an entropy bonus; token-mean. */
    const rk_param loss_params[] = {
        {"preset", 0, "verl"},
        {"kl", 0, "low_var_kl"},
        {"kl_coef", kl_coef, NULL},
        {"entropy_coef", entropy_coef, NULL},
    };
    rk_policy_loss *loss = NULL;
    rk_aggregation *agg = NULL;
    CHECK(rk_policy_loss_new(&loss, "vanilla", loss_params, 4));
    CHECK(rk_aggregation_new(&agg, "token-mean", NULL, 0));
    float *dlogp = zalloc(n, sizeof(float));
    rk_loss_parts lp;
    CHECK(rk_policy_loss_f32(loss, agg, dlogp, &lp, logp, x.old_logp, adv, x.mask, x.ref_logp,
                             NULL, entropy, b, t, b));
    /* One shard here; with micro-batches, `total` is the sum of every shard's parts. */
    float value;
    CHECK(rk_aggregation_value_f32(agg, &value, &lp, &lp));

    /* 6. Aggregation: scale d/d log pi by the whole batch's normalizer. */
    CHECK(rk_aggregation_scale_grad_f32(agg, dlogp, x.mask, &lp, b, t));

    /* 7. Back to the logits: every term accumulates into one (B*T, V) buffer. */
    float *grad_logits = zalloc(n * v, sizeof(float));
    CHECK(rk_logprobs_backward_f32(grad_logits, dlogp, x.logits, lp_stats, x.tokens, n, v));
    float *dh = zalloc(n, sizeof(float));
    CHECK(rk_entropy_upstream_f32(agg, dh, x.mask, &lp, (float)entropy_coef, b, t));
    CHECK(rk_entropy_backward_f32(grad_logits, dh, x.logits, h_stats, entropy, n, v));

    /* 8. Diagnostics. */
    rk_policy_diagnostics d;
    CHECK(rk_policy_diagnostics_f32(loss, &d, logp, x.old_logp, adv, x.mask, b, t, b));

    /* The report of grpo_step.rs, format for format. */
    printf("one GRPO step: B = %zu rows (%zu prompts x 4), T = %zu, V = %zu\n\n", b, x.prompts, t,
           v);
    printf("row  prompt  len  correct   reward  advantage\n");
    for (size_t i = 0; i < b; i++)
        printf("%3zu  %6u  %3u  %7s  %7.3f  %9.4f\n", i, x.prompt[i], x.lens[i],
               x.correct[i] ? "true" : "false", rewards[i], adv[i]);
    double norm = 0.0;
    for (size_t i = 0; i < n * v; i++) norm += (double)grad_logits[i] * (double)grad_logits[i];
    norm = sqrt(norm);
    double tokens = (double)(d.tokens > 1 ? d.tokens : 1);
    printf("\nloss %.6f (PPO clip + %g KL %s - %g entropy, %s)\n", value, kl_coef, "low_var_kl",
           entropy_coef, "token-mean");
    printf("||d loss / d logits|| = %.6f; clip fraction %.3f; approx KL (k3) %.5f; ratio in "
           "[%.3f, %.3f]\n",
           norm, (double)d.clipped / tokens, d.k3_sum / tokens, d.ratio_min, d.ratio_max);

    rk_reward_free(correct);
    rk_reward_free(overlong);
    rk_groups_free(groups);
    rk_advantage_free(grpo);
    rk_policy_loss_free(loss);
    rk_aggregation_free(agg);
    free(token_rewards);
    free(parts);
    free(rewards);
    free(adv);
    free(logp);
    free(entropy);
    free(lp_stats);
    free(h_stats);
    free(dlogp);
    free(grad_logits);
    free(dh);
    free_batch(&x);
    return 0;
}
