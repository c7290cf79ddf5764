//! Reward distances on tabular MDPs: STARC, EPIC and DARD (`rewardkit_core::distance`).

use core::ffi::c_char;

use rewardkit_core::Real;
use rewardkit_core::distance::{
    Canonicalization, Coverage, Dard, DardWeights, Epic, Norm, Order, Starc, Weights,
};
use rewardkit_core::mdp::{Mdp, Policy, Reward, SparseTransitions, Transitions};

use crate::common::name_and_params;
use crate::error::{Res, guard, rk_status};
use crate::ffi::{self, Args, product};
use crate::rk_param;

/// A reward distance with its settings (opaque; `rk_distance_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_distance {
    kind: Kind,
}

/// The distances reachable from C (uniform coverage and policy; no custom weights).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Starc {
        canon: Canon,
        norm: (Order, bool),
        metric: (Order, bool),
    },
    Epic,
    Dard(DardWeights),
}

/// A canonicalisation without borrowed data.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Canon {
    Value,
    MinimalL2,
    Epic,
    Dard,
}

const ORDERS: &[(&str, Order)] = &[("l1", Order::L1), ("l2", Order::L2), ("linf", Order::LInf)];
const WEIGHTS: &[(&str, bool)] = &[("uniform", false), ("transition", true)];

fn norm<F: Real>((order, transition): (Order, bool)) -> Norm<'static, F> {
    Norm::new(
        order,
        if transition {
            Weights::Transition
        } else {
            Weights::Uniform
        },
    )
}

/// Creates a reward distance: `"starc"` (Skalse et al.: canonicalisation, normalising norm and
/// metric norm), `"epic"` (Gleave et al.) or `"dard"` (Wulfe et al.), with uniform coverage
/// distributions and, for STARC's value canonicalisation, the uniform policy.
///
/// Parameters (`rk_param`; all optional, names):
/// - `starc`: `canonicalization` (`"value"` (default; STARC's VAL), `"minimal_l2"`, `"epic"`,
///   `"dard"`), `norm` (`"l1"`, `"l2"` (default), `"linf"`), `norm_weights` (`"uniform"`
///   (default), `"transition"`), `metric`, `metric_weights` (default: those of the norm);
/// - `dard`: `weights` (`"dynamics"` (default) or `"coverage"`);
/// - `epic`: none.
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (distance, setting or key); `RK_ERR_NULL_POINTER`. On error
/// `*out` is `NULL`.
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_distance_new(
    out: *mut *mut rk_distance,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "distance")?;
        let kind = match name {
            "starc" => {
                let canon = p.choice(
                    "canonicalization",
                    &[
                        ("value", Canon::Value),
                        ("minimal_l2", Canon::MinimalL2),
                        ("epic", Canon::Epic),
                        ("dard", Canon::Dard),
                    ],
                    Canon::Value,
                )?;
                let n = (
                    p.choice("norm", ORDERS, Order::L2)?,
                    p.choice("norm_weights", WEIGHTS, false)?,
                );
                let m = (
                    p.choice("metric", ORDERS, n.0)?,
                    p.choice("metric_weights", WEIGHTS, n.1)?,
                );
                Kind::Starc {
                    canon,
                    norm: n,
                    metric: m,
                }
            }
            "epic" => Kind::Epic,
            "dard" => Kind::Dard(p.choice(
                "weights",
                &[
                    ("dynamics", DardWeights::Dynamics),
                    ("coverage", DardWeights::Coverage),
                ],
                DardWeights::Dynamics,
            )?),
            _ => {
                return Err(rewardkit_core::UnknownName {
                    kind: "reward distance",
                    valid: &["starc", "epic", "dard"],
                }
                .into());
            }
        };
        p.finish()?;
        *out = ffi::into_handle(rk_distance { kind });
        Ok(())
    })
}

/// Frees a reward distance (null is a no-op).
///
/// # Safety
/// `distance` is null or a handle from `rk_distance_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_distance_free(distance: *mut rk_distance) {
    ffi::free_handle(distance);
}

/// A reward of `len` values on an MDP of `S` states and `A` actions: `(S, A, S')`, `(S, A)` or
/// `(S)` by its length (the forms coincide where the lengths do).
fn reward_form<F: Real>(r: &[F], s: usize, a: usize) -> Res<Reward<'_, F>> {
    let sa = product("S·A", s, a)?;
    let full = product("S·A·S", sa, s)?;
    Ok(if r.len() == full {
        Reward::Full(r)
    } else if r.len() == sa {
        Reward::StateAction(r)
    } else if r.len() == s {
        Reward::State(r)
    } else {
        // The core's message for the full form.
        return Err(rewardkit_core::Error::LengthMismatch {
            what: "reward",
            expected: full,
            got: r.len(),
        }
        .into());
    })
}

#[derive(Clone, Copy)]
struct MdpArgs<F> {
    transitions: *const F,
    initial: *const F,
    reward_a: *const F,
    reward_b: *const F,
    gamma: F,
    n_states: usize,
    n_actions: usize,
    len_a: usize,
    len_b: usize,
}

/// The CSR arrays of a sparse kernel.
#[derive(Clone, Copy)]
struct Csr<F> {
    offsets: *const usize,
    next: *const u32,
    probs: *const F,
    nnz: usize,
}

fn distance<F: Real>(
    d: *const rk_distance,
    out: *mut F,
    x: MdpArgs<F>,
    csr: Option<Csr<F>>,
) -> Res<()> {
    let d = ffi::handle("distance", d)?;
    let mut a = Args::new();
    let out = a.output_one("out", out)?;
    let (s, act) = (x.n_states, x.n_actions);
    let sa = product("S·A", s, act)?;
    let transitions = match csr {
        None => {
            Transitions::Dense(a.input("transitions", x.transitions, product("S·A·S", sa, s)?)?)
        }
        Some(c) => {
            let rows = sa.checked_add(1).ok_or(rewardkit_core::Error::TooLarge {
                what: "offsets",
                len: sa,
                max: usize::MAX - 1,
            })?;
            Transitions::Sparse(SparseTransitions::new(
                a.input("offsets", c.offsets, rows)?,
                a.input("next", c.next, c.nnz)?,
                a.input("probs", c.probs, c.nnz)?,
            ))
        }
    };
    let initial = a.input("initial", x.initial, s)?;
    let ra = a.input("reward_a", x.reward_a, x.len_a)?;
    let rb = a.input("reward_b", x.reward_b, x.len_b)?;
    let mdp = Mdp::new(s, act, transitions, initial, x.gamma)?;
    let (ra, rb) = (reward_form(ra, s, act)?, reward_form(rb, s, act)?);
    let cov = Coverage::uniform();
    *out = match d.kind {
        Kind::Starc {
            canon,
            norm: n,
            metric: m,
        } => {
            let c = match canon {
                Canon::Value => Canonicalization::Value(Policy::Uniform),
                Canon::MinimalL2 => Canonicalization::MinimalL2,
                Canon::Epic => Canonicalization::Epic(cov),
                Canon::Dard => Canonicalization::Dard(cov),
            };
            Starc::new(c, norm(n))
                .with_metric(norm(m))
                .distance(&mdp, &ra, &rb)?
        }
        Kind::Epic => Epic::new(cov).distance(&mdp, &ra, &rb)?,
        Kind::Dard(w) => Dard::new(cov, w).distance(&mdp, &ra, &rb)?,
    };
    Ok(())
}

/// The distance between two rewards on a finite MDP `(S, A, τ, μ, γ)` (`Starc::distance`,
/// `Epic::distance`, `Dard::distance`): STARC in `[0, 2]` (0 exactly for rewards with the same
/// ordering of policies under `value`/`minimal_l2`), EPIC and DARD in `[0, 1]`.
///
/// Shapes: `transitions`: `(S, A, S')` row-major, each row a distribution; `initial`: `(S)`;
/// `reward_a`, `reward_b`: `(S, A, S')`, `(S, A)` or `(S)` values, told apart by their lengths
/// `len_a`, `len_b` (a state reward is `r(s)` of the current state).
///
/// Errors: `RK_ERR_INVALID_PARAM` for `γ ∉ [0, 1)`, rows that are not distributions, or (EPIC,
/// DARD) a reward whose canonical form is zero; `RK_ERR_LENGTH_MISMATCH` (`reward_a`/`reward_b`)
/// for a length of none of the three forms; `RK_ERR_EMPTY` for `S = 0` or `A = 0`;
/// `RK_ERR_NON_FINITE`; `RK_ERR_OVERFLOW`; pointer checks.
///
/// # Safety
/// `distance` is null or a live handle; `out` is null or writable; `transitions`, `initial`,
/// `reward_a`, `reward_b` are null or hold `S·A·S`, `S`, `len_a`, `len_b` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_distance_f32(
    distance: *const rk_distance,
    out: *mut f32,
    transitions: *const f32,
    initial: *const f32,
    reward_a: *const f32,
    reward_b: *const f32,
    gamma: f32,
    n_states: usize,
    n_actions: usize,
    len_a: usize,
    len_b: usize,
) -> rk_status {
    let x = MdpArgs {
        transitions,
        initial,
        reward_a,
        reward_b,
        gamma,
        n_states,
        n_actions,
        len_a,
        len_b,
    };
    guard(|| self::distance(distance, out, x, None))
}

/// `rk_distance_f32` for `double`.
///
/// # Safety
/// As `rk_distance_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_distance_f64(
    distance: *const rk_distance,
    out: *mut f64,
    transitions: *const f64,
    initial: *const f64,
    reward_a: *const f64,
    reward_b: *const f64,
    gamma: f64,
    n_states: usize,
    n_actions: usize,
    len_a: usize,
    len_b: usize,
) -> rk_status {
    let x = MdpArgs {
        transitions,
        initial,
        reward_a,
        reward_b,
        gamma,
        n_states,
        n_actions,
        len_a,
        len_b,
    };
    guard(|| self::distance(distance, out, x, None))
}

/// `rk_distance_f32` on an MDP with sparse transitions in CSR form (`Transitions::Sparse`,
/// `SparseTransitions`): row `i = s·A + a` holds the entries `offsets[i]..offsets[i + 1]` of
/// `next` (next-state indices, strictly increasing within a row) and `probs`; every other `s'`
/// has probability 0. For large `S` with few successors per `(s, a)` this avoids the `S·A·S`
/// dense tensor (the rewards may still be `(S, A, S')`, `(S, A)` or `(S)`).
///
/// Shapes: `offsets`: `(S·A + 1)`, from 0 to `nnz`; `next`, `probs`: `(nnz)`; `initial`: `(S)`;
/// `reward_a`, `reward_b`: `len_a`, `len_b` values as in `rk_distance_f32`.
///
/// Errors: as `rk_distance_f32`, plus `RK_ERR_INVALID_PARAM` for offsets that are not
/// non-decreasing from 0 to `nnz`, next-state indices `>= S` or not strictly increasing within a
/// row; `RK_ERR_LENGTH_MISMATCH` where the core reports one.
///
/// # Safety
/// `distance` is null or a live handle; `out` is null or writable; `offsets`, `next`, `probs`,
/// `initial`, `reward_a`, `reward_b` are null or hold `S·A + 1`, `nnz`, `nnz`, `S`, `len_a`,
/// `len_b` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_distance_sparse_f32(
    distance: *const rk_distance,
    out: *mut f32,
    offsets: *const usize,
    next: *const u32,
    probs: *const f32,
    initial: *const f32,
    reward_a: *const f32,
    reward_b: *const f32,
    gamma: f32,
    n_states: usize,
    n_actions: usize,
    nnz: usize,
    len_a: usize,
    len_b: usize,
) -> rk_status {
    let x = MdpArgs {
        transitions: core::ptr::null(),
        initial,
        reward_a,
        reward_b,
        gamma,
        n_states,
        n_actions,
        len_a,
        len_b,
    };
    let csr = Csr {
        offsets,
        next,
        probs,
        nnz,
    };
    guard(|| self::distance(distance, out, x, Some(csr)))
}

/// `rk_distance_sparse_f32` for `double`.
///
/// # Safety
/// As `rk_distance_sparse_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_distance_sparse_f64(
    distance: *const rk_distance,
    out: *mut f64,
    offsets: *const usize,
    next: *const u32,
    probs: *const f64,
    initial: *const f64,
    reward_a: *const f64,
    reward_b: *const f64,
    gamma: f64,
    n_states: usize,
    n_actions: usize,
    nnz: usize,
    len_a: usize,
    len_b: usize,
) -> rk_status {
    let x = MdpArgs {
        transitions: core::ptr::null(),
        initial,
        reward_a,
        reward_b,
        gamma,
        n_states,
        n_actions,
        len_a,
        len_b,
    };
    let csr = Csr {
        offsets,
        next,
        probs,
        nnz,
    };
    guard(|| self::distance(distance, out, x, Some(csr)))
}
