//! Worked example (in progress).
fn main() {}
