//! KL-regularized alignment: optimal tilt, β from a KL budget, best-of-N (issue 5; in progress).
