//! Integration tests for `rewardkit_core::loss` (in progress).
