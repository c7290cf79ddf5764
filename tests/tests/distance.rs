//! Integration tests for `rewardkit_core::distance` (in progress).
