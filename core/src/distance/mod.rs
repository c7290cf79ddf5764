//! Reward distances: STARC, EPIC, DARD (issue 5; in progress).
