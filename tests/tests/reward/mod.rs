//! Integration tests for `rewardkit_core::reward`: literal values worked by hand or taken from the
//! reference code's formulas, properties (f32 and f64, f64 as the oracle for f32), every documented
//! error, state determinism and serde round-trips, and the composition pipeline.

mod compose;
mod errors;
mod literal;
mod oracle;
mod props;
mod regression;
mod seed;
mod seed_props;
mod state;
