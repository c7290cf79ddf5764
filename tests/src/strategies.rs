//! proptest strategies with named domains. All randomness in properties comes from here.

use proptest::prelude::*;

/// Rewards in this range (outcome scores, reward-model logits).
pub const REWARD_RANGE: core::ops::RangeInclusive<f64> = -10.0..=10.0;
/// Group sizes.
pub const GROUP_SIZE: core::ops::RangeInclusive<usize> = 1..=8;
/// Number of groups.
pub const N_GROUPS: core::ops::RangeInclusive<usize> = 1..=6;
/// Log-probabilities.
pub const LOGPROB_RANGE: core::ops::RangeInclusive<f64> = -12.0..=-1e-3;

/// A reward value: mostly continuous, sometimes one of a few discrete levels (ties, zero variance).
pub fn reward() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => REWARD_RANGE,
        1 => prop::sample::select(vec![0.0, 0.5, 1.0]),
    ]
}

/// Group ids for `n_groups` groups with sizes in `GROUP_SIZE` (each group non-empty), shuffled.
pub fn group_ids() -> impl Strategy<Value = (Vec<u32>, usize)> {
    (N_GROUPS, GROUP_SIZE).prop_flat_map(|(g, max_k)| {
        prop::collection::vec(1..=max_k, g).prop_flat_map(move |sizes| {
            let mut ids = Vec::new();
            for (gid, &k) in sizes.iter().enumerate() {
                ids.extend(std::iter::repeat_n(gid as u32, k));
            }
            let n = ids.len();
            (Just(ids), Just(g)).prop_perturb(move |(mut ids, g), mut rng| {
                // Fisher–Yates with the proptest RNG: shrinkable through the seed, replayable.
                for i in (1..n).rev() {
                    let j = rng.random_range(0..=i);
                    ids.swap(i, j);
                }
                (ids, g)
            })
        })
    })
}

/// Contiguous uniform groups: `(n_groups, group_size)`.
pub fn uniform_groups() -> impl Strategy<Value = (usize, usize)> {
    (N_GROUPS, 2..=8usize)
}

/// Grouped rewards: ids (any order), number of groups, rewards.
pub fn grouped_rewards() -> impl Strategy<Value = (Vec<u32>, usize, Vec<f64>)> {
    group_ids().prop_flat_map(|(ids, g)| {
        let n = ids.len();
        (Just(ids), Just(g), prop::collection::vec(reward(), n))
    })
}

/// A `(B, T)` prefix mask (each row at least one valid token) with per-token values.
pub fn masked_tokens(
    max_b: usize,
    max_t: usize,
) -> impl Strategy<Value = (usize, usize, Vec<bool>, Vec<f64>)> {
    (1..=max_b, 1..=max_t).prop_flat_map(|(b, t)| {
        (
            Just(b),
            Just(t),
            prop::collection::vec(1..=t, b),
            prop::collection::vec(-2.0..2.0f64, b * t),
        )
            .prop_map(|(b, t, lens, x)| {
                let mut m = vec![false; b * t];
                for (i, &l) in lens.iter().enumerate() {
                    for j in 0..l {
                        m[i * t + j] = true;
                    }
                }
                (b, t, m, x)
            })
    })
}

/// A `(B, T)` mask with arbitrary holes (multi-turn observation spans); rows may be empty.
pub fn holey_mask(b: usize, t: usize) -> impl Strategy<Value = Vec<bool>> {
    prop::collection::vec(prop::bool::weighted(0.7), b * t)
}
