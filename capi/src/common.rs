//! Helpers shared by the entry points: masks, shapes, optional handles.

use std::borrow::Cow;
use std::vec::Vec;

use rewardkit_core::GroupIndex;

use crate::error::Res;
use crate::ffi::{self, Args, product};
use crate::groups::rk_groups;
use crate::params::{Param, Params};
use crate::rk_param;

/// The `(B, T)` mask bytes at `ptr`, or all valid when `ptr` is null.
pub(crate) fn mask_bits<'a>(
    a: &mut Args,
    ptr: *const u8,
    batch: usize,
    seq_len: usize,
) -> Res<Cow<'a, [bool]>> {
    let n = product("mask (B·T)", batch, seq_len)?;
    Ok(match a.bools_opt("mask", ptr, n)? {
        Some(bits) => Cow::Borrowed(bits),
        None => Cow::Owned(std::vec![true; n]),
    })
}

/// The group index of an optional `rk_groups` handle.
pub(crate) fn groups_opt<'a>(ptr: *const rk_groups) -> Res<Option<&'a GroupIndex<'static>>> {
    Ok(ffi::handle_opt("groups", ptr)?.map(|g| &g.index))
}

/// Reads a constructor's name and parameters.
pub(crate) fn name_and_params<'a>(
    a: &mut Args,
    name: *const core::ffi::c_char,
    params: *const rk_param,
    n_params: usize,
    kind: &str,
) -> Res<(&'a str, Params<'a>)> {
    let name = ffi::string("name", name)?;
    let items: Vec<Param<'a>> = ffi::params(a, params, n_params)?;
    Ok((name, Params::new(std::format!("{kind} `{name}`"), items)?))
}
