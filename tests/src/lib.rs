//! Shared test support for rewardkit: proptest strategies, loop oracles and tolerance helpers.
