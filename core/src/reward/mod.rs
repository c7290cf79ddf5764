//! Reward functions and shaping from the literature (issue 4; in progress).
