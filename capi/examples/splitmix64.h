/* SplitMix64 (Steele, Lea and Flood, 2014) with rewardkit's mappings (rewardkit_core::rng):
 * the same stream and the same numbers as the Rust side for a given seed, so C programs can build
 * exactly the inputs of the Rust examples and tests. Header-only; C99 with unsigned __int128
 * (GCC, Clang). */
#ifndef REWARDKIT_SPLITMIX64_H
#define REWARDKIT_SPLITMIX64_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t state;
} rk_splitmix64;

static inline rk_splitmix64 rk_splitmix64_new(uint64_t seed) {
    rk_splitmix64 r = {seed};
    return r;
}

/* The next 64 random bits (RandomSource::next_u64). */
static inline uint64_t rk_splitmix64_next(rk_splitmix64 *r) {
    r->state += 0x9E3779B97F4A7C15ull;
    uint64_t z = r->state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits (RandomSource::next_f64). */
static inline double rk_splitmix64_f64(rk_splitmix64 *r) {
    return (double)(rk_splitmix64_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in 0..n, Lemire's multiply-shift (RandomSource::below). */
static inline size_t rk_splitmix64_below(rk_splitmix64 *r, size_t n) {
    __extension__ typedef unsigned __int128 u128;
    u128 m = (u128)rk_splitmix64_next(r) * (uint64_t)n;
    return (size_t)(m >> 64);
}

#endif /* REWARDKIT_SPLITMIX64_H */
