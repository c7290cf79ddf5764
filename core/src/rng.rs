//! Caller-supplied randomness. Anything stochastic in `rewardkit-core` (reward-flipping noise,
//! sample-based distance estimators, random filtration) takes `rng: &mut R` with `R: RandomSource`;
//! the crate never owns a global or thread RNG, so results are reproducible from the caller's seed.
//!
//! Adapting another generator takes one method; [`SplitMix64`] is a small, well-known generator for
//! tests, examples and `no_std` users without one.

/// A source of uniformly random 64-bit words.
///
/// # Examples
/// ```
/// use rewardkit_core::rng::{RandomSource, SplitMix64};
/// let mut rng = SplitMix64::new(7);
/// let u = rng.next_f64();
/// assert!((0.0..1.0).contains(&u));
/// assert!(rng.below(10) < 10);
/// ```
pub trait RandomSource {
    /// The next 64 uniformly random bits.
    fn next_u64(&mut self) -> u64;

    /// Uniform in `[0, 1)` with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift, bias below `n/2⁶⁴`; `0` when `n == 0`).
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let m = u128::from(self.next_u64()) * u128::from(n);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the high word of a product with n is below n, which fits usize"
        )]
        let r = (m >> 64) as usize;
        r
    }
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    fn next_u64(&mut self) -> u64 {
        (**self).next_u64()
    }
}

/// `SplitMix64` (Steele, Lea and Flood, 2014): a fast 64-bit generator with a 64-bit state, good enough
/// for simulation and tests (not for cryptography).
///
/// # Examples
/// ```
/// use rewardkit_core::rng::{RandomSource, SplitMix64};
/// let (mut a, mut b) = (SplitMix64::new(1), SplitMix64::new(1));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 0 from the reference implementation (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn ranges() {
        let mut r = SplitMix64::new(3);
        for _ in 0..1000 {
            assert!(r.next_f64() < 1.0);
            assert!(r.below(7) < 7);
        }
        assert_eq!(r.below(0), 0);
    }
}
