//! The wall clock of the step timings: `std::time::Instant` everywhere but in the browser.
//!
//! `wasm32-unknown-unknown` has no clock in `std` (`Instant::now` panics there), so on that target
//! [`Instant`] reads a millisecond clock that the embedder installs once with `set_clock(fn() -> f64)`
//! (defined on wasm32 only; the browser demo passes `performance.now`); without one, every duration
//! is zero.

#[cfg(not(target_arch = "wasm32"))]
pub use std::time::Instant;

#[cfg(target_arch = "wasm32")]
pub use wasm::{Instant, set_clock};

#[cfg(target_arch = "wasm32")]
mod wasm {
    use core::time::Duration;
    use std::sync::OnceLock;

    static CLOCK: OnceLock<fn() -> f64> = OnceLock::new();

    /// Installs the millisecond clock (monotonic, e.g. `performance.now()`) that [`Instant`] reads;
    /// only the first call has an effect.
    pub fn set_clock(now_ms: fn() -> f64) {
        let _ = CLOCK.set(now_ms);
    }

    fn now_ms() -> f64 {
        CLOCK.get().map_or(0.0, |f| f())
    }

    /// A point in time on the installed clock (the subset of `std::time::Instant` the trainer uses).
    #[derive(Clone, Copy, Debug)]
    pub struct Instant(f64);

    impl Instant {
        /// Now.
        pub fn now() -> Self {
            Self(now_ms())
        }

        /// The time since `self` (zero if the clock went backwards or none is installed).
        pub fn elapsed(&self) -> Duration {
            Duration::from_secs_f64(((now_ms() - self.0) / 1000.0).max(0.0))
        }
    }
}
