//! Regressions of issue 8, part C (the reward catalogue): each test is the minimal input of a
//! reported defect and failed before its fix.

use rewardkit_core::Error;
use rewardkit_core::reward::*;

/// Defect 9: the uncapped DAPO penalty overflowed to `−∞` and was returned as `Ok`.
/// `φ = 1e30`, `L_cache = 1`, `L_max = 2`, `L = 2³² − 1`: `−(L − 1)·φ ≈ −4.3e39` is beyond `f32`.
#[test]
fn defect9_uncapped_overlong_overflow_is_an_error() {
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap().with_cap(false);
    assert_eq!(
        o.value(u32::MAX),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
    // f64: φ = 1e308 and two tokens past the buffer start: −2e308 overflows f64 as well.
    let o = Overlong::<f64>::new(2, 1, 1e308).unwrap().with_cap(false);
    assert_eq!(
        o.value(3),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
    // Capped, the same parameters are fine: the cap is −φ.
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap();
    assert_eq!(o.value(u32::MAX), Ok(-1e30));
    // As a term, the error surfaces unchanged.
    let b = Batch::<f32>::new(1).unwrap().with_lengths(&[u32::MAX]).unwrap();
    let o = Overlong::<f32>::new(2, 1, 1e30).unwrap().with_cap(false);
    assert_eq!(
        RewardTerm::score(&o, &mut [0.0], &b),
        Err(Error::Overflow {
            what: "overlong penalty"
        })
    );
}
