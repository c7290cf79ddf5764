//! Finite MDPs: policy evaluation, value iteration, regret (issue 5; in progress).
