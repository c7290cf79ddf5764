//! Stateful rewards as handles: HAPO's per-prompt history (`rewardkit_core::reward::HapoHistory`)
//! and LASER-D's adaptive targets (`rewardkit_core::reward::LaserDState`), with their update calls
//! and a save/restore of the state as plain `repr(C)` records.
//!
//! Unlike the configuration handles, these handles hold state that `rk_*_update` and
//! `rk_*_load` change. The state sits behind a mutex, so calls on one handle from several threads
//! are serialized (never a data race); what a reward call sees is the state after the updates
//! that completed before it.

use core::ffi::c_char;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rewardkit_core::reward::{
    Hapo, HapoHistory, HapoShape, HistoryEntry, HistoryMode, LaserD, LaserDState, LaserMode,
    MonitorBanding, Rounding, TargetLen, Thresholds,
};
use rewardkit_core::{Error, Real};

use crate::common::name_and_params;
use crate::error::{Failure, Res, guard, rk_status};
use crate::ffi::{self, Args};
use crate::groups::rk_groups;
use crate::rk_param;

/// Locks a state mutex; a mutex poisoned by a panic (reported then as `RK_ERR_PANIC`) still holds
/// a consistent state (every update replaces it in one assignment or fails before writing).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ------------------------------------------------------------------------------------------------
// HAPO
// ------------------------------------------------------------------------------------------------

/// HAPO's length reward with its per-prompt history (opaque; `rk_hapo_new`). Stateful: see the
/// module documentation in the header (`rk_hapo_update`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_hapo {
    p32: Hapo<f32>,
    p64: Hapo<f64>,
    history: Mutex<HapoHistory>,
}

/// One prompt's HAPO history (`rewardkit_core::reward::HistoryEntry`) with its key: the unit of
/// `rk_hapo_save` / `rk_hapo_load`. Integers only, so a saved history restores exactly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_hapo_entry {
    /// The prompt key (e.g. a dataset index).
    pub key: u64,
    /// Sum of the correct lengths seen (saturating).
    pub sum: u64,
    /// Correct responses seen (saturating).
    pub count: u64,
    /// The reference's mean-mode history times its count (`h·c`).
    pub mean_weighted: u64,
    /// The reference's mean-mode count `c`.
    pub mean_count: u64,
    /// Shortest correct length seen (`>= 1`).
    pub min: u32,
}

impl rk_hapo_entry {
    fn from_core(key: u64, e: HistoryEntry) -> Self {
        Self {
            key,
            sum: e.sum,
            count: e.count,
            mean_weighted: e.mean_weighted,
            mean_count: e.mean_count,
            min: e.min,
        }
    }

    fn to_core(self) -> (u64, HistoryEntry) {
        (
            self.key,
            HistoryEntry {
                min: self.min,
                sum: self.sum,
                count: self.count,
                mean_weighted: self.mean_weighted,
                mean_count: self.mean_count,
            },
        )
    }
}

const HAPO_SHAPES: &[(&str, HapoShape)] =
    &[("cosine", HapoShape::Cosine), ("linear", HapoShape::Linear)];
const HISTORY_MODES: &[(&str, HistoryMode)] = &[
    ("min", HistoryMode::Min),
    ("mean", HistoryMode::Mean),
    ("exact_mean", HistoryMode::ExactMean),
];

fn build_hapo<F: Real>(
    shape: HapoShape,
    weight: Option<f64>,
    floor: Option<f64>,
    tolerance: Option<f64>,
) -> Res<Hapo<F>> {
    let mut h = Hapo::<F>::new(F::lit(weight.unwrap_or(1.0)), shape)?;
    if let Some(c) = floor {
        h = h.with_floor(F::lit(c))?;
    }
    if let Some(t) = tolerance {
        h = h.with_tolerance(F::lit(t))?;
    }
    Ok(h)
}

/// Creates HAPO's length reward with an empty history, from its shape name (the reference's
/// `type_lr`): `"cosine"` or `"linear"` (`HapoShape`).
///
/// Parameters (`rk_param`; all optional; the reference's defaults): `weight` (`w ∈ [0, 1]`, 1),
/// `floor` (`c ∈ [0, 1]`, 0.7), `tolerance` (`ρ >= 0`, 0.1; linear shape), `history` (name:
/// `"min"` (default), `"mean"` (the reference's truncated per-occurrence mean), `"exact_mean"`).
///
/// Definition: see `rewardkit_core::reward::Hapo` (with `h` the prompt's history: no history
/// gives 0; cosine: `f = cos((L/h)·π/2)` for `L < 2h`, else −1; correct `w·max(−c, f)`, wrong
/// `w·min(0, f)`).
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (shape, history mode, key); `RK_ERR_INVALID_PARAM` for a value
/// out of range; `RK_ERR_NULL_POINTER`. On error `*out` is `NULL`.
///
/// Citation: Huang et al. (2025), *HAPO*, arXiv:2505.11225 (`HCY123902/HAPO`).
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_new(
    out: *mut *mut rk_hapo,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "HAPO reward")?;
        let shape = HAPO_SHAPES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                Failure::new(
                    rk_status::RK_ERR_UNKNOWN_NAME,
                    "unknown HAPO shape; valid names: cosine, linear",
                )
            })?;
        let weight = p.num("weight")?;
        let floor = p.num("floor")?;
        let tolerance = p.num("tolerance")?;
        let mode = p.choice("history", HISTORY_MODES, HistoryMode::Min)?;
        p.finish()?;
        let handle = rk_hapo {
            p32: build_hapo(shape, weight, floor, tolerance)?,
            p64: build_hapo(shape, weight, floor, tolerance)?,
            history: Mutex::new(HapoHistory::new(mode)),
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees a HAPO handle and its history (null is a no-op).
///
/// # Safety
/// `hapo` is null or a handle from `rk_hapo_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_free(hapo: *mut rk_hapo) {
    ffi::free_handle(hapo);
}

/// The float type of an entry point, with its parameters.
trait Float: Real {
    fn hapo(h: &rk_hapo) -> &Hapo<Self>;
    fn laser(h: &rk_laser_d) -> &LaserD<Self>;
}

impl Float for f32 {
    fn hapo(h: &rk_hapo) -> &Hapo<Self> {
        &h.p32
    }
    fn laser(h: &rk_laser_d) -> &LaserD<Self> {
        &h.p32
    }
}

impl Float for f64 {
    fn hapo(h: &rk_hapo) -> &Hapo<Self> {
        &h.p64
    }
    fn laser(h: &rk_laser_d) -> &LaserD<Self> {
        &h.p64
    }
}

fn hapo_rewards<F: Float>(
    hapo: *const rk_hapo,
    out: *mut F,
    keys: *const u64,
    lengths: *const u32,
    correct: *const u8,
    batch: usize,
) -> Res<()> {
    let h = ffi::handle("hapo", hapo)?;
    let mut a = Args::new();
    let out = a.output("out", out, batch)?;
    let keys = a.input("keys", keys, batch)?;
    let lengths = a.input("lengths", lengths, batch)?;
    let correct = a.bools("correct", correct, batch)?;
    lock(&h.history).rewards(out, keys, lengths, correct, F::hapo(h))?;
    Ok(())
}

/// HAPO length rewards of a batch under the current history (`HapoHistory::rewards`); the
/// history is not changed (call `rk_hapo_update` after the batch, as the reference does).
///
/// Shapes: `out`, `keys` (prompt ids), `lengths` (`>= 1`), `correct` (bytes 0/1): `(B)`.
///
/// Errors: `RK_ERR_INVALID_PARAM` for a zero length (or a loaded history below 1);
/// `RK_ERR_INVALID_ARGUMENT` for a `correct` byte other than 0/1; pointer checks.
///
/// # Safety
/// `hapo` is null or a live handle; every non-null buffer holds `batch` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_rewards_f32(
    hapo: *const rk_hapo,
    out: *mut f32,
    keys: *const u64,
    lengths: *const u32,
    correct: *const u8,
    batch: usize,
) -> rk_status {
    guard(|| hapo_rewards(hapo, out, keys, lengths, correct, batch))
}

/// `rk_hapo_rewards_f32` for `double`.
///
/// # Safety
/// As `rk_hapo_rewards_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_rewards_f64(
    hapo: *const rk_hapo,
    out: *mut f64,
    keys: *const u64,
    lengths: *const u32,
    correct: *const u8,
    batch: usize,
) -> rk_status {
    guard(|| hapo_rewards(hapo, out, keys, lengths, correct, batch))
}

/// Applies a batch to HAPO's history (`HapoHistory::update`): every prompt with a correct response
/// updates its entry (minimum, exact sums, and the reference's mean recurrence once per
/// occurrence of the prompt in `keys`). On error the history is unchanged.
///
/// Shapes: `keys`, `lengths` (`>= 1`), `correct` (bytes 0/1): `(B)`.
///
/// Errors: `RK_ERR_INVALID_PARAM` for a zero length; `RK_ERR_INVALID_ARGUMENT` for a `correct`
/// byte other than 0/1; pointer checks.
///
/// # Safety
/// `hapo` is null or a live handle; every non-null buffer holds `batch` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_update(
    hapo: *mut rk_hapo,
    keys: *const u64,
    lengths: *const u32,
    correct: *const u8,
    batch: usize,
) -> rk_status {
    guard(|| {
        let h = ffi::handle("hapo", hapo.cast_const())?;
        let mut a = Args::new();
        let keys = a.input("keys", keys, batch)?;
        let lengths = a.input("lengths", lengths, batch)?;
        let correct = a.bools("correct", correct, batch)?;
        let mut history = lock(&h.history);
        // Update a copy and swap it in: the core validates before writing, but the copy makes
        // "unchanged on error" independent of that.
        let mut next = history.clone();
        next.update(keys, lengths, correct)?;
        *history = next;
        Ok(())
    })
}

/// The number of prompts with a history (the entries `rk_hapo_save` writes).
///
/// Errors: `RK_ERR_NULL_POINTER`.
///
/// # Safety
/// `hapo` is null or a live handle; `n` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_len(hapo: *const rk_hapo, n: *mut usize) -> rk_status {
    guard(|| {
        let h = ffi::handle("hapo", hapo)?;
        let n = Args::new().output_one("n", n)?;
        *n = lock(&h.history).len();
        Ok(())
    })
}

/// Saves HAPO's history: writes its `n` entries (`n` = `rk_hapo_len`) in ascending key order.
/// The history mode is part of the handle's configuration, not of the entries.
///
/// Errors: `RK_ERR_LENGTH_MISMATCH` when `n` differs from the number of entries; pointer checks.
///
/// # Safety
/// `hapo` is null or a live handle; `entries` holds `n` writable records.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_save(
    hapo: *const rk_hapo,
    entries: *mut rk_hapo_entry,
    n: usize,
) -> rk_status {
    guard(|| {
        let h = ffi::handle("hapo", hapo)?;
        let history = lock(&h.history);
        if n != history.len() {
            return Err(Error::LengthMismatch {
                what: "entries",
                expected: history.len(),
                got: n,
            }
            .into());
        }
        let out = Args::new().output("entries", entries, n)?;
        for (o, (k, e)) in out.iter_mut().zip(history.iter()) {
            *o = rk_hapo_entry::from_core(k, e);
        }
        Ok(())
    })
}

/// Replaces HAPO's history by the given entries (`HapoHistory::from_entries` with the handle's
/// history mode): what `rk_hapo_save` wrote restores the same history exactly. A key given twice
/// keeps its last entry; `n = 0` clears the history.
///
/// Errors: `RK_ERR_INVALID_PARAM` for an entry with `min = 0` (lengths are `>= 1`); pointer
/// checks. On error the history is unchanged.
///
/// # Safety
/// `hapo` is null or a live handle; `entries` holds `n` records.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_hapo_load(
    hapo: *mut rk_hapo,
    entries: *const rk_hapo_entry,
    n: usize,
) -> rk_status {
    guard(|| {
        let h = ffi::handle("hapo", hapo.cast_const())?;
        let entries = Args::new().input("entries", entries, n)?;
        if entries.iter().any(|e| e.min == 0) {
            return Err(Error::InvalidParam {
                name: "entries.min",
                value: 0.0,
                expected: "a shortest correct length >= 1",
            }
            .into());
        }
        let mut history = lock(&h.history);
        let mode = history.mode();
        *history = HapoHistory::from_entries(mode, entries.iter().map(|e| e.to_core()));
        Ok(())
    })
}

// ------------------------------------------------------------------------------------------------
// LASER-D
// ------------------------------------------------------------------------------------------------

/// LASER-D / LASER-DE with its adaptive target state (opaque; `rk_laser_d_new`). Stateful: see
/// `rk_laser_d_update`.
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_laser_d {
    p32: LaserD<f32>,
    p64: LaserD<f64>,
    state: Mutex<LaserDState>,
}

/// `rk_laser_target.kind`: a configured target, used as is (before any monitor statistics).
pub const RK_LASER_TARGET_FIXED: u32 = 0;
/// `rk_laser_target.kind`: a target chosen by the monitor, capped by the batch's longest response.
pub const RK_LASER_TARGET_MONITORED: u32 = 1;
/// `rk_laser_target.kind`: the monitor found no target for the band (the batch's longest response
/// is used; `length` is ignored).
pub const RK_LASER_TARGET_NONE: u32 = 2;

/// One band's LASER-D target (`rewardkit_core::reward::TargetLen`): the unit of
/// `rk_laser_d_save` / `rk_laser_d_load` (three of them, bands low, medium, high).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_laser_target {
    /// `RK_LASER_TARGET_FIXED`, `RK_LASER_TARGET_MONITORED` or `RK_LASER_TARGET_NONE`.
    pub kind: u32,
    /// The target length in tokens (0 for `RK_LASER_TARGET_NONE`).
    pub length: u32,
}

impl From<TargetLen> for rk_laser_target {
    fn from(t: TargetLen) -> Self {
        match t {
            TargetLen::Fixed(l) => Self {
                kind: RK_LASER_TARGET_FIXED,
                length: l,
            },
            TargetLen::Monitored(Some(l)) => Self {
                kind: RK_LASER_TARGET_MONITORED,
                length: l,
            },
            TargetLen::Monitored(None) => Self {
                kind: RK_LASER_TARGET_NONE,
                length: 0,
            },
        }
    }
}

impl rk_laser_target {
    fn to_core(self) -> Res<TargetLen> {
        match self.kind {
            RK_LASER_TARGET_FIXED => Ok(TargetLen::Fixed(self.length)),
            RK_LASER_TARGET_MONITORED => Ok(TargetLen::Monitored(Some(self.length))),
            RK_LASER_TARGET_NONE => Ok(TargetLen::Monitored(None)),
            k => Err(Failure::invalid(std::format!(
                "`targets` holds kind {k}; expected RK_LASER_TARGET_FIXED (0), \
                 RK_LASER_TARGET_MONITORED (1) or RK_LASER_TARGET_NONE (2)"
            ))),
        }
    }
}

const LASER_MODES: &[(&str, LaserMode)] = &[
    ("reward", LaserMode::Reward),
    ("penalty", LaserMode::Penalty),
    ("hybrid", LaserMode::Hybrid),
];
const ROUNDINGS: &[(&str, Rounding)] = &[("floor", Rounding::Floor), ("ceil", Rounding::Ceil)];
const BANDINGS: &[(&str, MonitorBanding)] = &[
    ("reference", MonitorBanding::Reference),
    ("training", MonitorBanding::Training),
];

/// The settings of `rk_laser_d_new`.
#[derive(Clone, Copy, Debug)]
struct LaserSettings {
    mode: LaserMode,
    alpha: f64,
    thresholds: Thresholds,
    group_size: u32,
    expected_correct: u32,
    rounding: Rounding,
    banding: MonitorBanding,
}

fn build_laser<F: Real>(s: &LaserSettings) -> Res<LaserD<F>> {
    Ok(LaserD::<F>::new(F::lit(s.alpha), s.mode)?
        .with_thresholds(s.thresholds)?
        .with_group_size(s.group_size)?
        .with_monitor(s.expected_correct, s.rounding, s.banding)?)
}

/// Creates LASER-D (`rewardkit_core::reward::LaserD`) with every band's target at `target`, from
/// the reference's `length_reward_type` name: `"reward"`, `"penalty"` or `"hybrid"` (`LaserMode`).
///
/// Parameters (`rk_param`; all optional; the reference's defaults): `alpha` (`>= 0`, 0.5);
/// `target` (the initial target of every band, the reference's `target_length`, 8192);
/// `thresholds_lower`, `thresholds_upper`, `thresholds_interval` (the candidate targets, 2048,
/// 16384, 1024; `Thresholds::new`) with `thresholds_linear` (flag: `Thresholds::linear`, no jump
/// to 1024); `group_size` (`G >= 1`, 8); `expected_correct` (`n_expected`, 1); `rounding` (name:
/// `"floor"`, `"ceil"`); `banding` (name: `"reference"`, `"training"`).
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (mode, rounding, banding, key); `RK_ERR_INVALID_PARAM` for a
/// value out of range (non-integral lengths included); `RK_ERR_NULL_POINTER`. On error `*out` is
/// `NULL`.
///
/// Citation: Liu et al. (2025), *Learn to Reason Efficiently with Adaptive Length-based Reward
/// Shaping*, arXiv:2505.15612 (`hkust-nlp/Laser`).
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_laser_d_new(
    out: *mut *mut rk_laser_d,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "LASER-D reward")?;
        let mode = LASER_MODES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                Failure::new(
                    rk_status::RK_ERR_UNKNOWN_NAME,
                    "unknown LASER-D mode; valid names: reward, penalty, hybrid",
                )
            })?;
        let alpha = p.num_or("alpha", 0.5)?;
        let target = p.len_or("target", 8192)?;
        let lower = p.len_or("thresholds_lower", 2048)?;
        let upper = p.len_or("thresholds_upper", 16384)?;
        let interval = p.len_or("thresholds_interval", 1024)?;
        let linear = p.flag_or("thresholds_linear", false)?;
        let group_size = p.len_or("group_size", 8)?;
        let expected_correct = p.count_or("expected_correct", 1)?;
        let rounding = p.choice("rounding", ROUNDINGS, Rounding::Floor)?;
        let banding = p.choice("banding", BANDINGS, MonitorBanding::Reference)?;
        p.finish()?;
        let thresholds = if linear {
            Thresholds::linear(lower, upper, interval)?
        } else {
            Thresholds::new(lower, upper, interval)?
        };
        let s = LaserSettings {
            mode,
            alpha,
            thresholds,
            group_size,
            expected_correct,
            rounding,
            banding,
        };
        let handle = rk_laser_d {
            p32: build_laser(&s)?,
            p64: build_laser(&s)?,
            state: Mutex::new(LaserDState::new(target)),
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees a LASER-D handle and its state (null is a no-op).
///
/// # Safety
/// `laser` is null or a handle from `rk_laser_d_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_laser_d_free(laser: *mut rk_laser_d) {
    ffi::free_handle(laser);
}

/// The raw pointers of a LASER-D reward call.
#[derive(Clone, Copy)]
struct LaserArgs {
    lengths: *const u32,
    correct: *const u8,
    well_formed: *const u8,
    repetitive: *const u8,
    groups: *const rk_groups,
    batch: usize,
}

fn laser_rewards<F: Float>(laser: *const rk_laser_d, out: *mut F, x: LaserArgs) -> Res<()> {
    let h = ffi::handle("laser", laser)?;
    let groups = &ffi::handle("groups", x.groups)?.index;
    let mut a = Args::new();
    let out = a.output("out", out, x.batch)?;
    let lengths = a.input("lengths", x.lengths, x.batch)?;
    let correct = a.bools("correct", x.correct, x.batch)?;
    let well_formed = a.bools_opt("well_formed", x.well_formed, x.batch)?;
    let repetitive = a.bools_opt("repetitive", x.repetitive, x.batch)?;
    let state = *lock(&h.state);
    let p = F::laser(h);
    match repetitive {
        None => p.rewards(out, lengths, correct, well_formed, groups, &state)?,
        Some(r) => p.rewards_de(out, lengths, correct, well_formed, r, groups, &state)?,
    }
    Ok(())
}

/// LASER-D rewards of a training batch under the current targets (`LaserD::rewards`), or
/// LASER-DE's (`LaserD::rewards_de`) when `repetitive` is given. The targets are not changed
/// (`rk_laser_d_update` recomputes them from a monitor set).
///
/// Definition: a prompt's difficulty band comes from its group accuracy (correct and well
/// formed); its target `L_A` is the band's target (capped by the batch's longest response for a
/// monitored target); LASER-D: LASER's step at `L_A` for correct, well-formed answers;
/// LASER-DE: `+α` for correct, well-formed `L <= L_A`, and for wrong, well-formed, non-repetitive
/// `L > L_A`.
///
/// Shapes: `out`, `lengths` (`>= 1`), `correct`, `well_formed` (null: all well formed),
/// `repetitive` (null: LASER-D): `(B)`; `groups`: an index over `B` rows.
///
/// Errors: `RK_ERR_LENGTH_MISMATCH` (`groups` over another number of rows);
/// `RK_ERR_INVALID_PARAM` for a zero length; `RK_ERR_INVALID_ARGUMENT` for a flag byte other than
/// 0/1; pointer checks.
///
/// # Safety
/// `laser` and `groups` are null or live handles; every non-null buffer holds `batch` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_laser_d_rewards_f32(
    laser: *const rk_laser_d,
    out: *mut f32,
    lengths: *const u32,
    correct: *const u8,
    well_formed: *const u8,
    repetitive: *const u8,
    groups: *const rk_groups,
    batch: usize,
) -> rk_status {
    let x = LaserArgs {
        lengths,
        correct,
        well_formed,
        repetitive,
        groups,
        batch,
    };
    guard(|| laser_rewards(laser, out, x))
}

/// `rk_laser_d_rewards_f32` for `double`.
///
/// # Safety
/// As `rk_laser_d_rewards_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_laser_d_rewards_f64(
    laser: *const rk_laser_d,
    out: *mut f64,
    lengths: *const u32,
    correct: *const u8,
    well_formed: *const u8,
    repetitive: *const u8,
    groups: *const rk_groups,
    batch: usize,
) -> rk_status {
    let x = LaserArgs {
        lengths,
        correct,
        well_formed,
        repetitive,
        groups,
        batch,
    };
    guard(|| laser_rewards(laser, out, x))
}

/// Recomputes every band's target from a monitor set (`LaserDState::update`): `G` rollouts of
/// each monitor prompt with their lengths and verifier correctness. On error the targets are
/// unchanged.
///
/// Shapes: `lengths` (`>= 1`), `correct` (bytes 0/1): `(B)`; `groups`: the monitor prompts over
/// `B` rows.
///
/// Errors: `RK_ERR_LENGTH_MISMATCH`; `RK_ERR_INVALID_PARAM` for a zero length;
/// `RK_ERR_INVALID_ARGUMENT` for a `correct` byte other than 0/1; pointer checks.
///
/// # Safety
/// `laser` and `groups` are null or live handles; every non-null buffer holds `batch` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_laser_d_update(
    laser: *mut rk_laser_d,
    lengths: *const u32,
    correct: *const u8,
    groups: *const rk_groups,
    batch: usize,
) -> rk_status {
    guard(|| {
        let h = ffi::handle("laser", laser.cast_const())?;
        let groups = &ffi::handle("groups", groups)?.index;
        let mut a = Args::new();
        let lengths = a.input("lengths", lengths, batch)?;
        let correct = a.bools("correct", correct, batch)?;
        let mut state = lock(&h.state);
        let mut next = *state;
        next.update(&h.p64, lengths, correct, groups)?;
        *state = next;
        Ok(())
    })
}

/// Saves LASER-D's state: the targets of the bands low, medium, high into `targets[0..3]`.
///
/// Errors: `RK_ERR_NULL_POINTER`.
///
/// # Safety
/// `laser` is null or a live handle; `targets` is null or holds 3 writable records.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_laser_d_save(
    laser: *const rk_laser_d,
    targets: *mut rk_laser_target,
) -> rk_status {
    guard(|| {
        let h = ffi::handle("laser", laser)?;
        let out = Args::new().output("targets", targets, 3)?;
        let saved = lock(&h.state).targets();
        for (o, t) in out.iter_mut().zip(saved) {
            *o = t.into();
        }
        Ok(())
    })
}

/// Restores LASER-D's state from `targets[0..3]` (bands low, medium, high), as `rk_laser_d_save`
/// wrote them (`LaserDState::from_targets`).
///
/// Errors: `RK_ERR_INVALID_ARGUMENT` for an unknown `kind`; `RK_ERR_INVALID_PARAM` for a fixed or
/// monitored target of length 0; `RK_ERR_NULL_POINTER`. On error the state is unchanged.
///
/// # Safety
/// `laser` is null or a live handle; `targets` is null or holds 3 records.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_laser_d_load(
    laser: *mut rk_laser_d,
    targets: *const rk_laser_target,
) -> rk_status {
    guard(|| {
        let h = ffi::handle("laser", laser.cast_const())?;
        let given = Args::new().input("targets", targets, 3)?;
        let mut t = [TargetLen::Monitored(None); 3];
        for (slot, g) in t.iter_mut().zip(given) {
            let v = g.to_core()?;
            if g.kind != RK_LASER_TARGET_NONE && g.length == 0 {
                return Err(Error::InvalidParam {
                    name: "targets.length",
                    value: 0.0,
                    expected: "a target length >= 1",
                }
                .into());
            }
            *slot = v;
        }
        *lock(&h.state) = LaserDState::from_targets(t);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_records_round_trip() {
        for t in [
            TargetLen::Fixed(8192),
            TargetLen::Monitored(Some(2048)),
            TargetLen::Monitored(None),
        ] {
            assert_eq!(rk_laser_target::from(t).to_core().unwrap(), t);
        }
        let bad = rk_laser_target { kind: 7, length: 1 };
        assert_eq!(
            bad.to_core().unwrap_err().code,
            rk_status::RK_ERR_INVALID_ARGUMENT
        );
    }
}
