/* Call overhead of the C API: rk_grpo_f32 timed from C, to compare with the same call timed from
 * Rust (capi/examples/bench_grpo.rs) on the same inputs; capi/bench.sh runs both and prints the
 * ratio.
 *
 *   grpo_bench [N] [REPS] [SMALL_ITERS]
 *
 * Inputs: N rewards u (SplitMix64(3), as floats), contiguous groups of 16 (ids i / 16), one
 * rk_groups built before timing. Prints the minimum and median time of REPS calls on N rewards,
 * and the mean time of a call on 16 rewards (one group) over SMALL_ITERS calls: the fixed cost of
 * a call, boundary checks and panic guard included. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rewardkit.h"
#include "splitmix64.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(rk_status s) {
    if (s != RK_OK) {
        fprintf(stderr, "%s: %s\n", rk_status_name((int32_t)s), rk_last_error_message());
        exit(1);
    }
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : (size_t)1 << 20;
    int reps = argc > 2 ? atoi(argv[2]) : 50;
    long small_iters = argc > 3 ? atol(argv[3]) : 200000;
    float *scores = malloc(n * sizeof *scores), *out = malloc(n * sizeof *out);
    uint32_t *ids = malloc(n * sizeof *ids);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!scores || !out || !ids || !t || n % 16 != 0 || reps < 1) return 2;
    rk_splitmix64 rng = rk_splitmix64_new(3);
    for (size_t i = 0; i < n; i++) scores[i] = (float)rk_splitmix64_f64(&rng);
    for (size_t i = 0; i < n; i++) ids[i] = (uint32_t)(i / 16);
    rk_groups *groups = NULL, *one = NULL;
    rk_advantage *grpo = NULL;
    check(rk_groups_new(&groups, ids, n, n / 16));
    check(rk_groups_new(&one, ids, 16, 1));
    check(rk_advantage_new(&grpo, "grpo", NULL, 0));

    check(rk_grpo_f32(grpo, out, scores, groups, n)); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_ns();
        check(rk_grpo_f32(grpo, out, scores, groups, n));
        t[r] = now_ns() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    double checksum = 0.0;
    for (size_t i = 0; i < n; i += 4099) checksum += out[i];
    double t0 = now_ns();
    for (long i = 0; i < small_iters; i++) check(rk_grpo_f32(grpo, out, scores, one, 16));
    double small = (now_ns() - t0) / (double)small_iters;
    printf("c n=%zu min_ns=%.0f median_ns=%.0f small16_ns=%.1f checksum=%.6f\n", n, t[0],
           t[reps / 2], small, checksum);
    rk_groups_free(groups);
    rk_groups_free(one);
    rk_advantage_free(grpo);
    free(scores);
    free(out);
    free(ids);
    free(t);
    return 0;
}
