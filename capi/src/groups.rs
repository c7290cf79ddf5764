//! Group indexes: which rows (samples) share a prompt, built once per batch and reused by every
//! group-based estimator and reward (`rewardkit_core::GroupIndex`).

use rewardkit_core::GroupIndex;

use crate::error::{guard, rk_status};
use crate::ffi::{self, Args};

/// An immutable group index over `B` rows (opaque). Create with `rk_groups_new` or
/// `rk_groups_uniform`, free with `rk_groups_free`.
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_groups {
    pub(crate) index: GroupIndex<'static>,
}

/// Builds a group index from verl's dense group ids (its `index` after mapping uids to
/// `0..n_groups`): row `i` belongs to group `ids[i]`, rows in any order (`GroupIndex::new`,
/// `O(B + G)`). The ids are copied; the buffer may be reused after the call.
///
/// Shapes: `ids` `(B)` with `B = n_rows`.
///
/// Errors: `RK_ERR_NULL_POINTER` (`out`, or `ids` with `n_rows > 0`); `RK_ERR_EMPTY` for no rows;
/// `RK_ERR_GROUP_ID_OUT_OF_RANGE` for an id `>= n_groups`; `RK_ERR_EMPTY_GROUP` for a group id
/// with no row; `RK_ERR_TOO_LARGE` beyond `2^32 − 1` rows or groups. On error `*out` is `NULL`.
///
/// # Safety
/// `out` is null or points to writable storage for one pointer; `ids` is null or points to
/// `n_rows` readable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_groups_new(
    out: *mut *mut rk_groups,
    ids: *const u32,
    n_rows: usize,
    n_groups: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let ids = a.input("ids", ids, n_rows)?;
        let index = GroupIndex::new(ids, n_groups)?;
        *out = ffi::into_handle(rk_groups { index });
        Ok(())
    })
}

/// Builds the contiguous layout of TRL and OpenRLHF: rows `g·K .. (g+1)·K` form group `g`
/// (`GroupIndex::uniform`; stores no ids).
///
/// Errors: `RK_ERR_NULL_POINTER` (`out`); `RK_ERR_EMPTY` for `n_rows == 0`;
/// `RK_ERR_INVALID_PARAM` for `group_size == 0`; `RK_ERR_BAD_SHAPE` if `group_size` does not
/// divide `n_rows`. On error `*out` is `NULL`.
///
/// # Safety
/// `out` is null or points to writable storage for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_groups_uniform(
    out: *mut *mut rk_groups,
    n_rows: usize,
    group_size: usize,
) -> rk_status {
    guard(|| {
        let out = Args::new().output_one("out", out)?;
        *out = core::ptr::null_mut();
        let index = GroupIndex::uniform(n_rows, group_size)?;
        *out = ffi::into_handle(rk_groups { index });
        Ok(())
    })
}

/// Frees a group index (null is a no-op).
///
/// # Safety
/// `groups` is null or a handle from `rk_groups_new`/`rk_groups_uniform`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_groups_free(groups: *mut rk_groups) {
    ffi::free_handle(groups);
}
