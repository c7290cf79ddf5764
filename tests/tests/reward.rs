//! Integration tests for `rewardkit_core::reward` (in progress).
