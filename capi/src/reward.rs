//! The outcome, length and format rewards of the catalogue, alone or in a weighted pipeline
//! (`rewardkit_core::reward`).

use core::ffi::c_char;
use std::string::String;
use std::vec::Vec;

use rewardkit_core::Real;
use rewardkit_core::reward::{
    Batch, Correctness, CosineLength, Format, FormatLength, GroupLengthPenalty, KimiLength, Laser,
    LaserMode, LengthSingleton, Overlong, Pipeline, RewardTerm, Weighted,
};

use crate::common::{groups_opt, name_and_params};
use crate::error::{Res, guard, rk_status};
use crate::ffi::{self, Args, product};
use crate::groups::rk_groups;
use crate::params::Params;
use crate::rk_param;

/// The inputs reward terms read, one entry per sample (`rewardkit_core::reward::Batch`). Every
/// pointer is optional: a term that needs a missing input fails with `RK_ERR_MISSING_INPUT`
/// naming it.
///
/// | field | shape | read by |
/// |---|---|---|
/// | `correct` | `(B)` bytes 0/1 | correctness, cosine, kimi, group_length, laser |
/// | `well_formed` | `(B)` bytes 0/1 (null: all well formed) | correctness, kimi |
/// | `lengths` | `(B)` token counts `>= 1` | overlong, cosine, kimi, group_length, laser, format_length |
/// | `texts` | `(B)` NUL-terminated UTF-8 | format, format_length |
/// | `groups` | an index over `B` rows | kimi, group_length |
/// | `mask` | `(B, T)` bytes 0/1, `T = seq_len` | the token placement of `rk_reward_pipeline_tokens_f32` |
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
pub struct rk_reward_inputs {
    /// `B`, the number of samples (`>= 1`).
    pub batch: usize,
    /// Verified correctness, `(B)` bytes 0/1, or null.
    pub correct: *const u8,
    /// Format validity, `(B)` bytes 0/1, or null (all well formed).
    pub well_formed: *const u8,
    /// Response lengths in tokens, `(B)`, each `>= 1`, or null.
    pub lengths: *const u32,
    /// Response texts, `(B)` NUL-terminated UTF-8 strings, or null.
    pub texts: *const *const c_char,
    /// Prompt groups over `B` rows, or null.
    pub groups: *const rk_groups,
    /// The `(B, T)` token mask, or null.
    pub mask: *const u8,
    /// `T`, the columns of `mask` (ignored without a mask).
    pub seq_len: usize,
}

/// A reward term of the catalogue with its parameters (opaque; `rk_reward_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_reward {
    r32: Kind<f32>,
    r64: Kind<f64>,
    /// The delimiters of `format` (owned; the term borrows them).
    open: String,
    close: String,
}

/// The reward terms reachable from C.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind<F> {
    Correctness(Correctness<F>),
    Overlong(Overlong<F>),
    Cosine(CosineLength<F>),
    Kimi(KimiLength<F>),
    GroupLength(GroupLengthPenalty<F>),
    Laser(Laser<F>),
    FormatLength(FormatLength<F>),
    Format,
}

/// A term borrowed from a handle (the `format` term is built on the fly around its delimiters).
enum TermRef<'h, F: Real> {
    Term(&'h dyn RewardTerm<F>),
    Format(Format<'h>),
}

impl<'h, F: Real> TermRef<'h, F> {
    fn term(&self) -> &dyn RewardTerm<F> {
        match self {
            Self::Term(t) => *t,
            Self::Format(f) => f,
        }
    }
}

/// The float type of an entry point, with its term.
trait Float: Real {
    fn kind(h: &rk_reward) -> &Kind<Self>;
}

impl Float for f32 {
    fn kind(h: &rk_reward) -> &Kind<Self> {
        &h.r32
    }
}

impl Float for f64 {
    fn kind(h: &rk_reward) -> &Kind<Self> {
        &h.r64
    }
}

impl rk_reward {
    fn term<F: Float>(&self) -> TermRef<'_, F> {
        match F::kind(self) {
            Kind::Correctness(t) => TermRef::Term(t),
            Kind::Overlong(t) => TermRef::Term(t),
            Kind::Cosine(t) => TermRef::Term(t),
            Kind::Kimi(t) => TermRef::Term(t),
            Kind::GroupLength(t) => TermRef::Term(t),
            Kind::Laser(t) => TermRef::Term(t),
            Kind::FormatLength(t) => TermRef::Term(t),
            Kind::Format => TermRef::Format(Format {
                open: &self.open,
                close: &self.close,
            }),
        }
    }
}

/// The names `rk_reward_new` accepts.
const REWARD_NAMES: &[&str] = &[
    "correctness",
    "overlong",
    "cosine",
    "kimi",
    "group_length",
    "laser",
    "format",
    "format_length",
];

/// The defaults of each term (the core's `Default` values; a unit test checks they agree).
mod defaults {
    pub(super) const CORRECTNESS: (f64, f64, f64) = (1.0, 0.0, 0.0);
    pub(super) const OVERLONG: (u32, u32, f64) = (20480, 4096, 1.0);
    pub(super) const COSINE_LEN: (u32, u32) = (14336, 16);
    pub(super) const COSINE: [f64; 5] = [2.0, 1.0, -10.0, 0.0, -10.0];
    pub(super) const LENGTH_PENALTY: (f64, f64) = (0.4, 1e-6);
    pub(super) const LASER: (f64, u32) = (0.5, 4096);
    pub(super) const FORMAT_LENGTH: (u32, f64) = (3072, 0.5);
}

/// The settings of one reward, as read from the parameters (numbers in `f64`).
#[derive(Clone, Copy, Debug)]
enum Spec {
    Correctness([f64; 3]),
    Overlong(u32, u32, f64, bool),
    Cosine(u32, u32, [f64; 5]),
    Kimi(f64, f64, LengthSingleton),
    GroupLength(f64, f64, LengthSingleton),
    Laser(f64, u32, LaserMode),
    FormatLength(u32, f64),
    Format,
}

const SINGLETONS: &[(&str, LengthSingleton)] = &[
    ("neutral", LengthSingleton::Neutral),
    ("reference", LengthSingleton::Reference),
];

fn spec(name: &str, p: &mut Params<'_>) -> Res<Spec> {
    use defaults as d;
    Ok(match name {
        "correctness" => Spec::Correctness([
            p.num_or("correct", d::CORRECTNESS.0)?,
            p.num_or("wrong", d::CORRECTNESS.1)?,
            p.num_or("malformed", d::CORRECTNESS.2)?,
        ]),
        "overlong" => Spec::Overlong(
            p.len_or("max_len", d::OVERLONG.0)?,
            p.len_or("buffer", d::OVERLONG.1)?,
            p.num_or("factor", d::OVERLONG.2)?,
            p.flag_or("cap", true)?,
        ),
        "cosine" => Spec::Cosine(
            p.len_or("max_len", d::COSINE_LEN.0)?,
            p.count_or("margin", d::COSINE_LEN.1)?,
            [
                p.num_or("correct_short", d::COSINE[0])?,
                p.num_or("correct_long", d::COSINE[1])?,
                p.num_or("wrong_short", d::COSINE[2])?,
                p.num_or("wrong_long", d::COSINE[3])?,
                p.num_or("exceed", d::COSINE[4])?,
            ],
        ),
        "kimi" | "group_length" => {
            let coef = p.num_or("coef", d::LENGTH_PENALTY.0)?;
            let eps = p.num_or("eps", d::LENGTH_PENALTY.1)?;
            let single = p.choice("singleton", SINGLETONS, LengthSingleton::Neutral)?;
            if name == "kimi" {
                Spec::Kimi(coef, eps, single)
            } else {
                Spec::GroupLength(coef, eps, single)
            }
        }
        "laser" => Spec::Laser(
            p.num_or("alpha", d::LASER.0)?,
            p.len_or("target", d::LASER.1)?,
            p.choice(
                "mode",
                &[
                    ("reward", LaserMode::Reward),
                    ("penalty", LaserMode::Penalty),
                    ("hybrid", LaserMode::Hybrid),
                ],
                LaserMode::Reward,
            )?,
        ),
        "format_length" => Spec::FormatLength(
            p.len_or("max_len", d::FORMAT_LENGTH.0)?,
            p.num_or("peak", d::FORMAT_LENGTH.1)?,
        ),
        "format" => Spec::Format,
        _ => {
            return Err(rewardkit_core::UnknownName {
                kind: "reward",
                valid: REWARD_NAMES,
            }
            .into());
        }
    })
}

fn build<F: Real>(s: &Spec) -> Res<Kind<F>> {
    let l = F::lit;
    Ok(match *s {
        Spec::Correctness([c, w, m]) => Kind::Correctness(Correctness::new(l(c), l(w), l(m))?),
        Spec::Overlong(max, buf, f, cap) => {
            Kind::Overlong(Overlong::new(max, buf, l(f))?.with_cap(cap))
        }
        Spec::Cosine(max, margin, [cs, cl, ws, wl, ex]) => Kind::Cosine(
            CosineLength::new(max, (l(cs), l(cl)), (l(ws), l(wl)), l(ex))?.with_margin(margin),
        ),
        Spec::Kimi(c, e, s) => Kind::Kimi(KimiLength::new(l(c), l(e))?.with_singleton(s)),
        Spec::GroupLength(c, e, s) => {
            Kind::GroupLength(GroupLengthPenalty::new(l(c), l(e))?.with_singleton(s))
        }
        Spec::Laser(a, t, m) => Kind::Laser(Laser::new(l(a), t, m)?),
        Spec::FormatLength(max, peak) => Kind::FormatLength(FormatLength::new(max, l(peak))?),
        Spec::Format => Kind::Format,
    })
}

/// Creates a reward term of the catalogue by name, with its parameters checked once. Names and
/// keys (all optional; defaults are the core's):
///
/// | name | core item | keys (default) |
/// |---|---|---|
/// | `correctness` | `Correctness` | `correct` (1), `wrong` (0), `malformed` (0) |
/// | `overlong` | `Overlong` (DAPO) | `max_len` (20480), `buffer` (4096), `factor` (1), `cap` (1) |
/// | `cosine` | `CosineLength` (Yeo et al.) | `max_len` (14336), `margin` (16), `correct_short` (2), `correct_long` (1), `wrong_short` (−10), `wrong_long` (0), `exceed` (−10) |
/// | `kimi` | `KimiLength` (Kimi 1.5) | `coef` (0.4), `eps` (1e-6), `singleton` (`"neutral"` or `"reference"`) |
/// | `group_length` | `GroupLengthPenalty` (Arora & Zanette) | as `kimi` |
/// | `laser` | `Laser` (LASER) | `alpha` (0.5), `target` (4096), `mode` (`"reward"`, `"penalty"`, `"hybrid"`) |
/// | `format` | `Format` (Xin et al.) | `open` (`"<think>"`), `close` (`"</think>"`) (names) |
/// | `format_length` | `FormatLength` (Xin et al.) | `max_len` (3072), `peak` (0.5) |
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (reward, key, mode); `RK_ERR_INVALID_PARAM` for a value out of
/// range (the core's checks: lengths `>= 1`, non-finite numbers, a positive wrong-answer reward
/// for `cosine`, `buffer > max_len`, ...); `RK_ERR_NULL_POINTER`. On error `*out` is `NULL`.
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_new(
    out: *mut *mut rk_reward,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "reward")?;
        let s = spec(name, &mut p)?;
        let (open, close) = if matches!(s, Spec::Format) {
            (
                p.text("open")?.unwrap_or("<think>"),
                p.text("close")?.unwrap_or("</think>"),
            )
        } else {
            ("<think>", "</think>")
        };
        p.finish()?;
        let handle = rk_reward {
            r32: build(&s)?,
            r64: build(&s)?,
            open: open.into(),
            close: close.into(),
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees a reward term (null is a no-op).
///
/// # Safety
/// `reward` is null or a handle from `rk_reward_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_free(reward: *mut rk_reward) {
    ffi::free_handle(reward);
}

/// The borrowed inputs of a batch.
struct Inputs<'a> {
    batch: usize,
    correct: Option<&'a [bool]>,
    well_formed: Option<&'a [bool]>,
    lengths: Option<&'a [u32]>,
    texts: Option<Vec<&'a str>>,
    groups: Option<&'a rewardkit_core::GroupIndex<'static>>,
    mask: Option<&'a [bool]>,
    seq_len: usize,
}

fn read_inputs<'a>(a: &mut Args, inputs: *const rk_reward_inputs) -> Res<Inputs<'a>> {
    let x = *a.input_one("inputs", inputs)?;
    let b = x.batch;
    let texts = if x.texts.is_null() {
        None
    } else {
        Some(a.strings("texts", x.texts, b)?)
    };
    let mask = if x.mask.is_null() {
        None
    } else {
        Some(a.bools("mask", x.mask, product("mask (B·T)", b, x.seq_len)?)?)
    };
    Ok(Inputs {
        batch: b,
        correct: a.bools_opt("correct", x.correct, b)?,
        well_formed: a.bools_opt("well_formed", x.well_formed, b)?,
        lengths: a.input_opt("lengths", x.lengths, b)?,
        texts,
        groups: groups_opt(x.groups)?,
        mask,
        seq_len: x.seq_len,
    })
}

fn batch<'a, F: Real>(x: &'a Inputs<'a>) -> Res<Batch<'a, F>> {
    let mut b = Batch::<F>::new(x.batch)?;
    if let Some(c) = x.correct {
        b = b.with_correct(c)?;
    }
    if let Some(w) = x.well_formed {
        b = b.with_well_formed(w)?;
    }
    if let Some(l) = x.lengths {
        b = b.with_lengths(l)?;
    }
    if let Some(t) = &x.texts {
        b = b.with_texts(t)?;
    }
    if let Some(g) = x.groups {
        b = b.with_groups(g)?;
    }
    if let Some(m) = x.mask {
        b = b.with_mask(rewardkit_core::Mask::new(m, x.seq_len)?)?;
    }
    Ok(b)
}

fn score<F: Float>(
    reward: *const rk_reward,
    out: *mut F,
    inputs: *const rk_reward_inputs,
) -> Res<()> {
    let reward = ffi::handle("reward", reward)?;
    let mut a = Args::new();
    let x = read_inputs(&mut a, inputs)?;
    let out = a.output("out", out, x.batch)?;
    let b = batch::<F>(&x)?;
    reward.term::<F>().term().score(out, &b)?;
    Ok(())
}

/// One reward per sample from a term (`RewardTerm::score`).
///
/// Shapes: `out`: `(B)`, `B = inputs->batch`; the inputs as `rk_reward_inputs`.
///
/// Errors: `RK_ERR_MISSING_INPUT` for an input the term needs (its name in the message);
/// `RK_ERR_INVALID_PARAM` (`lengths`) for a zero length; `RK_ERR_EMPTY` for `B = 0`;
/// `RK_ERR_LENGTH_MISMATCH` for groups over another number of rows; pointer checks.
///
/// # Safety
/// `reward` is null or a live handle; `out` is null or holds `B` writable elements; `inputs` is
/// null or points to an `rk_reward_inputs` whose non-null pointers hold the elements of their
/// shape (strings NUL-terminated, `groups` a live handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_f32(
    reward: *const rk_reward,
    out: *mut f32,
    inputs: *const rk_reward_inputs,
) -> rk_status {
    guard(|| score(reward, out, inputs))
}

/// `rk_reward_f32` for `double`.
///
/// # Safety
/// As `rk_reward_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_f64(
    reward: *const rk_reward,
    out: *mut f64,
    inputs: *const rk_reward_inputs,
) -> rk_status {
    guard(|| score(reward, out, inputs))
}

fn pipeline<F: Float>(
    terms: *const *const rk_reward,
    weights: *const F,
    out: *mut F,
    parts: *mut F,
    inputs: *const rk_reward_inputs,
    n_terms: usize,
    per_token: bool,
) -> Res<()> {
    let mut a = Args::new();
    let handles = ffi::handles(&mut a, "terms", terms, n_terms)?;
    let weights = a.input("weights", weights, n_terms)?;
    let x = read_inputs(&mut a, inputs)?;
    let out_len = if per_token {
        product("B·T", x.batch, x.seq_len)?
    } else {
        x.batch
    };
    let out = a.output("out", out, out_len)?;
    let kb = product("parts (K·B)", n_terms, x.batch)?;
    let mut own_parts = Vec::new();
    let parts = match a.output_opt("parts", parts, kb)? {
        Some(p) => p,
        None => {
            own_parts.resize(kb, F::ZERO);
            &mut own_parts[..]
        }
    };
    let refs: Vec<TermRef<'_, F>> = handles.iter().map(|h| h.term::<F>()).collect();
    let weighted: Vec<Weighted<'_, F>> = refs
        .iter()
        .zip(weights)
        .map(|(t, &w)| Weighted::sequence(t.term(), w))
        .collect();
    let b = batch::<F>(&x)?;
    let p = Pipeline::new(&weighted)?;
    if per_token {
        p.eval_tokens(out, parts, &mut [], &b)?;
    } else {
        p.eval(out, parts, &mut [], &b)?;
    }
    Ok(())
}

/// Weighted terms combined into one reward per sample, `rᵢ = Σ_k w_k·x_{k,i}` summed in `double`
/// (`Pipeline::eval`), with every term's unweighted value in `parts` (for logging).
///
/// Shapes: `terms`, `weights`: `(K)` with `K = n_terms`; `out`: `(B)`; `parts`: `(K, B)`
/// row-major (`parts[k·B + i]`), or null if not wanted.
///
/// Errors: `RK_ERR_EMPTY` (`terms`) for `K = 0`; `RK_ERR_INVALID_PARAM` (`weight`) for a
/// non-finite weight; `RK_ERR_NON_FINITE` if a term writes NaN/∞; `RK_ERR_OVERFLOW`; each term's
/// errors (as `rk_reward_f32`); pointer checks.
///
/// # Safety
/// `terms` is null or holds `n_terms` live handles; `weights` is null or holds `n_terms`
/// elements; `out`/`parts` are null or writable for their shapes; `inputs` as `rk_reward_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_pipeline_f32(
    terms: *const *const rk_reward,
    weights: *const f32,
    out: *mut f32,
    parts: *mut f32,
    inputs: *const rk_reward_inputs,
    n_terms: usize,
) -> rk_status {
    guard(|| pipeline(terms, weights, out, parts, inputs, n_terms, false))
}

/// `rk_reward_pipeline_f32` for `double`.
///
/// # Safety
/// As `rk_reward_pipeline_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_pipeline_f64(
    terms: *const *const rk_reward,
    weights: *const f64,
    out: *mut f64,
    parts: *mut f64,
    inputs: *const rk_reward_inputs,
    n_terms: usize,
) -> rk_status {
    guard(|| pipeline(terms, weights, out, parts, inputs, n_terms, false))
}

/// One reward per token: each row's weighted sum of terms on its last valid token, 0 elsewhere
/// (`Pipeline::eval_tokens`, verl's `token_level_rewards`), ready for `rk_advantages_f32`.
///
/// Shapes: `out`: `(B, T)` with `T = inputs->seq_len`; `parts`: `(K, B)` or null; the inputs
/// must include `mask`.
///
/// Errors: as `rk_reward_pipeline_f32`, plus `RK_ERR_MISSING_INPUT` (`mask`) without a mask and
/// `RK_ERR_TOO_FEW_VALID` for a mask row without a valid token.
///
/// # Safety
/// As `rk_reward_pipeline_f32`, with `out` holding `B·T` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_pipeline_tokens_f32(
    terms: *const *const rk_reward,
    weights: *const f32,
    out: *mut f32,
    parts: *mut f32,
    inputs: *const rk_reward_inputs,
    n_terms: usize,
) -> rk_status {
    guard(|| pipeline(terms, weights, out, parts, inputs, n_terms, true))
}

/// `rk_reward_pipeline_tokens_f32` for `double`.
///
/// # Safety
/// As `rk_reward_pipeline_tokens_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_reward_pipeline_tokens_f64(
    terms: *const *const rk_reward,
    weights: *const f64,
    out: *mut f64,
    parts: *mut f64,
    inputs: *const rk_reward_inputs,
    n_terms: usize,
) -> rk_status {
    guard(|| pipeline(terms, weights, out, parts, inputs, n_terms, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    fn built(name: &str) -> Kind<f64> {
        let mut p = Params::new("reward", Vec::new()).unwrap();
        build::<f64>(&spec(name, &mut p).unwrap()).unwrap()
    }

    #[test]
    fn defaults_are_the_cores() {
        assert_eq!(
            built("correctness"),
            Kind::Correctness(Correctness::default())
        );
        assert_eq!(built("overlong"), Kind::Overlong(Overlong::default()));
        assert_eq!(built("cosine"), Kind::Cosine(CosineLength::default()));
        assert_eq!(built("kimi"), Kind::Kimi(KimiLength::default()));
        assert_eq!(
            built("group_length"),
            Kind::GroupLength(GroupLengthPenalty::default())
        );
        assert_eq!(built("laser"), Kind::Laser(Laser::default()));
        assert_eq!(
            built("format_length"),
            Kind::FormatLength(FormatLength::default())
        );
        let f = Format::default();
        assert_eq!((f.open, f.close), ("<think>", "</think>"));
    }
}
