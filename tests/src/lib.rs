//! Shared test support for rewardkit: golden-vector loading, tolerances, finite-difference gradient
//! checks, proptest strategies and plain-loop oracles.
//!
//! Everything the tests read lives in this repository (`tests/data/`); nothing is read from outside.

#![allow(
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core,
    reason = "test support code: casts of small test sizes, std paths are fine"
)]

pub mod approx_eq;
pub mod fd;
pub mod golden;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod mdp_support;
pub mod oracle;
pub mod strategies;

/// Path of a file under `tests/data/`.
pub fn data_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(rel)
}
