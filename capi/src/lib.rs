//! # rewardkit-capi: the C ABI of rewardkit
//!
//! `librewardkit.so` / `librewardkit.a` and one header, `capi/include/rewardkit.h` (generated from
//! this crate by cbindgen and checked in), expose `rewardkit-core` to C, C++ and anything with a C
//! FFI: advantages by estimator name with verl's shapes and group ids, KL estimators, policy losses
//! with their parts and the gradient with respect to the log-probabilities, aggregation, the
//! clipped value loss, preference losses by TRL's `loss_type` name and the Bradley–Terry loss,
//! importance-sampling corrections (TIS/MIS, sequence modes) and verl's rejection mask,
//! log-probabilities and entropy from logits, the length and format rewards of the catalogue, the
//! stateful HAPO and LASER-D rewards, and STARC/EPIC/DARD distances on tabular MDPs (dense or
//! CSR), each for `float` and `double`.
//!
//! # Conventions
//! - **Handles.** Configuration objects (`rk_advantage`, `rk_kl`, `rk_policy_loss`,
//!   `rk_aggregation`, `rk_preference_loss`, `rk_is_correction`, `rk_rejection_rule`,
//!   `rk_reward`, `rk_distance`) and group indexes (`rk_groups`) are opaque, created by
//!   `rk_*_new` from a name and `rk_param` key/value pairs that are checked once, and freed by
//!   `rk_*_free` (null is a no-op). A configuration handle is immutable: one handle may be used
//!   from several threads at once, and serves both the `_f32` and `_f64` functions.
//! - **Stateful handles.** `rk_hapo` (a history per prompt key) and `rk_laser_d` (adaptive
//!   targets) also hold state, changed only by `rk_*_update` and `rk_*_load` and saved exactly by
//!   `rk_*_save` as `repr(C)` records. The state is behind a mutex: calls on one handle from
//!   several threads are serialized, never a data race; a failed update leaves it unchanged.
//! - **Status codes.** Every computing function returns an `rk_status`: `RK_OK` or an error code.
//!   `rk_last_error_message()` then gives the message of the thread's last call (`""` after a
//!   success): for the codes that mirror `rewardkit_core::Error` it is the core's message, word for
//!   word. On error, output buffers hold unspecified values and out-handles are set to `NULL`.
//! - **Checks.** Null pointers, misaligned buffers, sizes that overflow, mask bytes other than 0/1,
//!   strings that are not UTF-8 and output buffers overlapping another argument are errors, never
//!   undefined behaviour; a null buffer is accepted only for a length of 0 or where the function
//!   documents it as optional. What C cannot express (the true size of a buffer) is the caller's
//!   promise: every buffer holds at least the number of elements its shape gives.
//! - **Panics** never cross the boundary: each entry point catches them and returns
//!   `RK_ERR_PANIC` (the library must be built with `panic = "unwind"`, Cargo's default).
//! - **Argument order** follows llm.c: the handle, then outputs, then inputs, then sizes. Shapes
//!   use the core's letters: `B` rows, `T` tokens per row, `V` vocabulary, `S` states, `A` actions.
//!   Masks are `uint8_t` bytes (0 or 1), row-major `(B, T)`.
//! - **Same code path.** Each function converts pointers to slices and calls one `rewardkit-core`
//!   function; there is no math in this layer, so results equal the Rust results bit for bit
//!   (`capi/tests/capi_test.c` checks this against the values of
//!   `cargo run -p rewardkit-capi --example capi_expected`).
//!
//! # Versioning
//! The ABI has its own semantic version (`RK_VERSION_MAJOR/MINOR/PATCH` in the header,
//! `rk_version()` at run time). Status codes and parameter keys are never renumbered or renamed
//! within a major version.
//!
//! # Examples
//! `capi/examples/grpo_step.c` (one GRPO step from outcomes to the logits gradient, the C twin of
//! `core/examples/grpo_step.rs`, with the same output), `capi/tests/capi_test.c` (every function,
//! bad inputs included), and the README's section "From C and C++" (building and linking).
#![deny(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]

use core::ffi::c_char;

mod common;
mod error;
mod ffi;
mod params;

pub mod advantage;
pub mod correction;
pub mod distance;
pub mod groups;
pub mod kl;
pub mod logits;
pub mod loss;
pub mod preference;
pub mod reward;
pub mod stateful;

pub use error::rk_status;

/// The ABI's major version (semantic versioning; see the crate docs).
pub const RK_VERSION_MAJOR: u32 = 0;
/// The ABI's minor version.
pub const RK_VERSION_MINOR: u32 = 1;
/// The ABI's patch version.
pub const RK_VERSION_PATCH: u32 = 1;

/// One constructor parameter: a key and its value, a number or a name.
///
/// Numeric keys read `value` and need `text == NULL`; name-valued keys (`"preset"`, `"mode"`, ...)
/// read `text` (a NUL-terminated string) and ignore `value`. Flags are 0 or 1; integers must be
/// integral. For bounds that may be absent (clamps, the dual clip), `INFINITY` means none.
/// Keys are case-sensitive and may appear once; an unknown key is `RK_ERR_UNKNOWN_NAME`, with every
/// valid key in the message. The keys of each constructor are listed in its documentation.
///
/// In C: `rk_param p[] = {{"max_len", 4096, NULL}, {"preset", 0, "verl"}};`
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_param {
    /// The key (NUL-terminated).
    pub key: *const c_char,
    /// The value of a numeric key.
    pub value: f64,
    /// The value of a name-valued key (NUL-terminated), or `NULL`.
    pub text: *const c_char,
}

/// The ABI version this library implements: `MAJOR << 16 | MINOR << 8 | PATCH`.
///
/// A program compiled against `rewardkit.h` can check at run time that the library it loaded is
/// compatible: same major version and (for major 0, same minor) a version at least the header's
/// (`RK_VERSION_COMPATIBLE(rk_version())` in the header does exactly this).
#[unsafe(no_mangle)]
pub extern "C" fn rk_version() -> u32 {
    (RK_VERSION_MAJOR << 16) | (RK_VERSION_MINOR << 8) | RK_VERSION_PATCH
}

/// The ABI version as a static string, `"MAJOR.MINOR.PATCH"`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_version_string() -> *const c_char {
    c"0.1.1".as_ptr()
}

/// The message of the last computing call (one returning `rk_status`) on this thread: `""` after
/// a success, the error's message otherwise. The string is owned by the library and stays valid until the next `rk_*` call on
/// the same thread; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn rk_last_error_message() -> *const c_char {
    error::last_message()
}

/// The name of a status code (`"RK_ERR_NULL_POINTER"`), or `"RK_UNKNOWN_STATUS"` for a number that
/// is no status. Static storage.
#[unsafe(no_mangle)]
pub extern "C" fn rk_status_name(status: i32) -> *const c_char {
    usize::try_from(status)
        .ok()
        .and_then(|i| error::ALL.get(i))
        .map_or(c"RK_UNKNOWN_STATUS", |s| s.name())
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_matches_the_package() {
        let v = rk_version();
        let parts: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(
            parts,
            [RK_VERSION_MAJOR, RK_VERSION_MINOR, RK_VERSION_PATCH]
        );
        assert_eq!(v, (parts[0] << 16) | (parts[1] << 8) | parts[2]);
        // SAFETY: a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(rk_version_string()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn status_names() {
        let name = |i| {
            // SAFETY: `rk_status_name` returns static NUL-terminated strings.
            unsafe { CStr::from_ptr(rk_status_name(i)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(name(0), "RK_OK");
        assert_eq!(name(1), "RK_ERR_NULL_POINTER");
        assert_eq!(name(18), "RK_ERR_PANIC");
        assert_eq!(name(-1), "RK_UNKNOWN_STATUS");
        assert_eq!(name(1000), "RK_UNKNOWN_STATUS");
    }
}
