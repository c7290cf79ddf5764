//! Preference losses (DPO and the TRL family by `loss_type` name) and the Bradley–Terry reward
//! model loss (`rewardkit_core::loss::preference`).

use core::ffi::c_char;

use rewardkit_core::loss::{
    BradleyTerry, DivergenceKind, PairInputs, PreferenceLoss, PreferenceLossKind,
    bradley_terry_loss, combined_preference_loss, preference_loss,
};
use std::vec::Vec;

use rewardkit_core::{Error, Real};

use crate::common::name_and_params;
use crate::error::{Failure, Res, guard, rk_status};
use crate::ffi::{self, Args};
use crate::loss::rk_loss_parts;
use crate::params::Params;
use crate::rk_param;

/// A configured preference loss (opaque; `rk_preference_loss_new`).
#[allow(
    non_camel_case_types,
    reason = "C names: the type appears as written in rewardkit.h"
)]
#[derive(Debug)]
pub struct rk_preference_loss {
    l32: PreferenceLoss<f32>,
    l64: PreferenceLoss<f64>,
}

/// The float type of an entry point, with its loss.
trait Float: Real {
    fn loss(h: &rk_preference_loss) -> &PreferenceLoss<Self>;
}

impl Float for f32 {
    fn loss(h: &rk_preference_loss) -> &PreferenceLoss<Self> {
        &h.l32
    }
}

impl Float for f64 {
    fn loss(h: &rk_preference_loss) -> &PreferenceLoss<Self> {
        &h.l64
    }
}

/// TRL's `f_divergence_type` names.
const DIVERGENCES: &[(&str, DivergenceKind)] = &[
    ("reverse_kl", DivergenceKind::ReverseKl),
    ("forward_kl", DivergenceKind::ForwardKl),
    ("js_divergence", DivergenceKind::JsDivergence),
    ("alpha_divergence", DivergenceKind::Alpha(1.0)),
];

/// The keys of `rk_preference_loss_new`, read once.
#[derive(Clone, Copy, Debug)]
struct Settings {
    beta: Option<f64>,
    label_smoothing: Option<f64>,
    divergence: Option<DivergenceKind>,
    discopop_tau: Option<f64>,
    gamma: Option<f64>,
    inpo_eta: Option<f64>,
    inpo_tau: Option<f64>,
}

fn settings(p: &mut Params<'_>) -> Res<Settings> {
    let beta = p.num("beta")?;
    let label_smoothing = p.num("label_smoothing")?;
    let div = p.choice("f_divergence_type", DIVERGENCES, DivergenceKind::ReverseKl)?;
    let alpha = p.num("f_alpha_divergence_coef")?;
    let divergence = match (div, alpha) {
        (DivergenceKind::ReverseKl, None) => None,
        (DivergenceKind::Alpha(_), a) => Some(DivergenceKind::Alpha(a.unwrap_or(1.0))),
        (d, None) => Some(d),
        (_, Some(_)) => {
            return Err(Failure::new(
                rk_status::RK_ERR_INVALID_PARAM,
                "parameter `f_alpha_divergence_coef` needs `f_divergence_type` = \
                 \"alpha_divergence\"",
            ));
        }
    };
    Ok(Settings {
        beta,
        label_smoothing,
        divergence,
        discopop_tau: p.num("discopop_tau")?,
        gamma: p.num("simpo_gamma")?,
        inpo_eta: p.num("inpo_eta")?,
        inpo_tau: p.num("inpo_tau")?,
    })
}

fn build<F: Real>(kind: PreferenceLossKind, s: &Settings) -> Res<PreferenceLoss<F>> {
    let mut l = PreferenceLoss::<F>::new(kind);
    if let Some(b) = s.beta {
        l = l.with_beta(F::lit(b))?;
    }
    if let Some(e) = s.label_smoothing {
        l = l.with_label_smoothing(F::lit(e))?;
    }
    if let Some(d) = s.divergence {
        l = l.with_divergence(d)?;
    }
    if let Some(t) = s.discopop_tau {
        l = l.with_discopop_tau(F::lit(t))?;
    }
    if let Some(g) = s.gamma {
        l = l.with_gamma(F::lit(g))?;
    }
    if s.inpo_eta.is_some() || s.inpo_tau.is_some() {
        // The core's defaults: η = 1, τ = 0.
        l = l.with_inpo(
            F::lit(s.inpo_eta.unwrap_or(1.0)),
            F::lit(s.inpo_tau.unwrap_or(0.0)),
        )?;
    }
    Ok(l)
}

/// Creates a preference loss from TRL's `loss_type` name (`PreferenceLossKind`): `"sigmoid"`
/// (DPO; cDPO with `label_smoothing`), `"hinge"`, `"ipo"`, `"robust"`, `"exo_pair"`,
/// `"nca_pair"`, `"bco_pair"`, `"sppo_hard"`, `"aot"`, `"aot_unpaired"`, `"apo_zero"`,
/// `"apo_down"`, `"discopop"`, `"sigmoid_norm"`, `"simpo"`, `"cpo"`, `"inpo"`, `"dno"`, with the
/// core's defaults (`PreferenceLoss::new`: `β = 0.1`, `ε = 0`, reverse KL, `DiscoPOP` `τ = 0.05`,
/// SimPO `γ = 0`, INPO `η = 1`, `τ = 0`) and the given overrides, checked by the core's setters.
///
/// Parameters (`rk_param`; all optional; TRL's `DPOConfig` names where it has one):
/// - `beta` (`> 0`); `label_smoothing` (`ε ∈ [0, ½)`);
/// - `f_divergence_type` (name): `"reverse_kl"` (default), `"forward_kl"`, `"js_divergence"`,
///   `"alpha_divergence"` with `f_alpha_divergence_coef` (finite, default 1; only with
///   `"alpha_divergence"`);
/// - `discopop_tau` (`> 0`); `simpo_gamma` (SimPO's margin `γ`, finite); `inpo_eta` (`> 0`),
///   `inpo_tau` (`>= 0`).
///
/// Errors: `RK_ERR_UNKNOWN_NAME` (loss type, divergence, key); `RK_ERR_INVALID_PARAM` for a value
/// out of range (the core's message), or `f_alpha_divergence_coef` without `"alpha_divergence"`;
/// `RK_ERR_NULL_POINTER`. On error `*out` is `NULL`.
///
/// Citation: TRL `dpo_trainer.py` (`loss_type`); see `rewardkit_core::loss::PreferenceLossKind`.
///
/// # Safety
/// As `rk_advantage_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_preference_loss_new(
    out: *mut *mut rk_preference_loss,
    name: *const c_char,
    params: *const rk_param,
    n_params: usize,
) -> rk_status {
    guard(|| {
        let mut a = Args::new();
        let out = a.output_one("out", out)?;
        *out = core::ptr::null_mut();
        let (name, mut p) = name_and_params(&mut a, name, params, n_params, "preference loss")?;
        let kind: PreferenceLossKind = name.parse()?;
        let s = settings(&mut p)?;
        p.finish()?;
        let handle = rk_preference_loss {
            l32: build(kind, &s)?,
            l64: build(kind, &s)?,
        };
        *out = ffi::into_handle(handle);
        Ok(())
    })
}

/// Frees a preference loss (null is a no-op).
///
/// # Safety
/// `loss` is null or a handle from `rk_preference_loss_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_preference_loss_free(loss: *mut rk_preference_loss) {
    ffi::free_handle(loss);
}

/// The raw pointers of one preference-loss call.
#[derive(Clone, Copy)]
struct PairArgs<F> {
    chosen: *const F,
    rejected: *const F,
    ref_chosen: *const F,
    ref_rejected: *const F,
    chosen_lengths: *const F,
    rejected_lengths: *const F,
    prev_chosen: *const F,
    prev_rejected: *const F,
    soft_labels: *const F,
    pair_weights: *const F,
    n_pairs: usize,
}

/// Both of an optional pair of inputs, or neither (`RK_ERR_MISSING_INPUT` naming the absent one).
fn both<'a, F>(
    x: Option<&'a [F]>,
    y: Option<&'a [F]>,
    names: [&'static str; 2],
) -> Res<Option<(&'a [F], &'a [F])>> {
    match (x, y) {
        (Some(x), Some(y)) => Ok(Some((x, y))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::MissingInput { what: names[1] }.into()),
        (None, Some(_)) => Err(Error::MissingInput { what: names[0] }.into()),
    }
}

/// The loss of a call: one handle, or weighted terms (`combined_preference_loss`).
#[derive(Clone, Copy)]
enum Terms<F> {
    One(*const rk_preference_loss),
    Many {
        losses: *const *const rk_preference_loss,
        coefs: *const F,
        n_terms: usize,
    },
}

fn pref_call<F: Float>(
    terms: Terms<F>,
    grad_chosen: *mut F,
    grad_rejected: *mut F,
    parts: *mut rk_loss_parts,
    x: PairArgs<F>,
) -> Res<()> {
    let n = x.n_pairs;
    let mut a = Args::new();
    let combined: Option<Vec<(PreferenceLoss<F>, F)>> = match terms {
        Terms::One(_) => None,
        Terms::Many {
            losses,
            coefs,
            n_terms,
        } => {
            let hs = ffi::handles(&mut a, "losses", losses, n_terms)?;
            let cs = a.input("coefs", coefs, n_terms)?;
            Some(hs.iter().zip(cs).map(|(h, &c)| (*F::loss(h), c)).collect())
        }
    };
    let single = match terms {
        Terms::One(h) => Some(F::loss(ffi::handle("loss", h)?)),
        Terms::Many { .. } => None,
    };
    let gc = a.output("grad_chosen", grad_chosen, n)?;
    let gr = a.output("grad_rejected", grad_rejected, n)?;
    let parts = a.output_one("parts", parts)?;
    let chosen = a.input("chosen", x.chosen, n)?;
    let rejected = a.input("rejected", x.rejected, n)?;
    let ref_chosen = a.input("ref_chosen", x.ref_chosen, n)?;
    let ref_rejected = a.input("ref_rejected", x.ref_rejected, n)?;
    let lengths = both(
        a.input_opt("chosen_lengths", x.chosen_lengths, n)?,
        a.input_opt("rejected_lengths", x.rejected_lengths, n)?,
        ["chosen_lengths", "rejected_lengths"],
    )?;
    let prev = both(
        a.input_opt("prev_chosen", x.prev_chosen, n)?,
        a.input_opt("prev_rejected", x.prev_rejected, n)?,
        ["prev_chosen", "prev_rejected"],
    )?;
    let soft = a.input_opt("soft_labels", x.soft_labels, n)?;
    let weights = a.input_opt("pair_weights", x.pair_weights, n)?;
    let mut inp = PairInputs::new(chosen, rejected, ref_chosen, ref_rejected)?;
    if let Some((c, r)) = lengths {
        inp = inp.with_lengths(c, r)?;
    }
    if let Some((c, r)) = prev {
        inp = inp.with_previous(c, r)?;
    }
    if let Some(p) = soft {
        inp = inp.with_soft_labels(p)?;
    }
    if let Some(w) = weights {
        inp = inp.with_pair_weights(w)?;
    }
    *parts = match (single, combined) {
        (Some(loss), _) => preference_loss(gc, gr, &inp, loss)?,
        (None, Some(t)) => combined_preference_loss(gc, gr, &inp, &t)?,
        (None, None) => return Err(Error::MissingInput { what: "loss" }.into()),
    }
    .into();
    Ok(())
}

/// A preference loss over `P` pairs (`rewardkit_core::loss::preference_loss`): writes the
/// gradient of the loss *sum* with respect to the policy's sequence log-probabilities of the
/// chosen and the rejected responses, and the parts (`sum` = `Σ_p ω_p·ℓ_p`, one "token" and one
/// row per pair). TRL's loss (the mean over pairs) is `rk_aggregation_value_f32` of a
/// `"token-mean"` aggregation, or `parts.sum / P`; its gradient is `grad / P`. The reference
/// (and previous-iterate) log-probabilities are constants: they get no gradient.
///
/// Definition per pair (`h_c = ℓ_c − ℓ_ref,c`, `h_r = ℓ_r − ℓ_ref,r`, `u = h_c − h_r`): see
/// `PreferenceLossKind`; DPO is `−(1−ε)·log σ(βu) − ε·log σ(−βu)`.
///
/// Shapes: every buffer `(P)`, `P = n_pairs >= 1`: `chosen`, `rejected` (policy sequence
/// log-probabilities, masked token sums), `ref_chosen`, `ref_rejected` (required even by the
/// reference-free `simpo` and `cpo`, which do not read them: pass the policy's); optional (null
/// for none): `chosen_lengths` and `rejected_lengths` (together; required by `sigmoid_norm` and
/// `simpo`), `prev_chosen` and `prev_rejected` (together; required by `inpo`), `soft_labels`
/// (`p ∈ [0, 1]`, required by `dno`), `pair_weights` (`ω >= 0`, TRL's `use_weighting`).
///
/// Errors: `RK_ERR_EMPTY` (`P = 0`); `RK_ERR_NON_FINITE` for NaN/∞ inputs or negative lengths;
/// `RK_ERR_INVALID_PARAM` for soft labels outside `[0, 1]` or negative pair weights;
/// `RK_ERR_MISSING_INPUT` for an input the loss needs, or one of a pair given without the other;
/// `RK_ERR_OVERFLOW` for a non-finite loss on finite inputs; pointer checks.
///
/// Citation: Rafailov et al. (2023), arXiv:2305.18290; TRL `dpo_trainer.py`.
///
/// # Safety
/// `loss` is null or a live handle; `parts` is null or writable; every non-null buffer holds
/// `n_pairs` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_preference_loss_f32(
    loss: *const rk_preference_loss,
    grad_chosen: *mut f32,
    grad_rejected: *mut f32,
    parts: *mut rk_loss_parts,
    chosen: *const f32,
    rejected: *const f32,
    ref_chosen: *const f32,
    ref_rejected: *const f32,
    chosen_lengths: *const f32,
    rejected_lengths: *const f32,
    prev_chosen: *const f32,
    prev_rejected: *const f32,
    soft_labels: *const f32,
    pair_weights: *const f32,
    n_pairs: usize,
) -> rk_status {
    let x = PairArgs {
        chosen,
        rejected,
        ref_chosen,
        ref_rejected,
        chosen_lengths,
        rejected_lengths,
        prev_chosen,
        prev_rejected,
        soft_labels,
        pair_weights,
        n_pairs,
    };
    guard(|| pref_call(Terms::One(loss), grad_chosen, grad_rejected, parts, x))
}

/// `rk_preference_loss_f32` for `double`.
///
/// # Safety
/// As `rk_preference_loss_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_preference_loss_f64(
    loss: *const rk_preference_loss,
    grad_chosen: *mut f64,
    grad_rejected: *mut f64,
    parts: *mut rk_loss_parts,
    chosen: *const f64,
    rejected: *const f64,
    ref_chosen: *const f64,
    ref_rejected: *const f64,
    chosen_lengths: *const f64,
    rejected_lengths: *const f64,
    prev_chosen: *const f64,
    prev_rejected: *const f64,
    soft_labels: *const f64,
    pair_weights: *const f64,
    n_pairs: usize,
) -> rk_status {
    let x = PairArgs {
        chosen,
        rejected,
        ref_chosen,
        ref_rejected,
        chosen_lengths,
        rejected_lengths,
        prev_chosen,
        prev_rejected,
        soft_labels,
        pair_weights,
        n_pairs,
    };
    guard(|| pref_call(Terms::One(loss), grad_chosen, grad_rejected, parts, x))
}

/// A weighted combination of preference losses over the same pairs
/// (`rewardkit_core::loss::combined_preference_loss`), TRL's `loss_type=[...]` with
/// `loss_weights` (MPO: `sigmoid` + `bco_pair`, plus an SFT term the caller adds): the parts'
/// `sum` is `Σₖ cₖ·Σ_p ω_p·ℓₖ(p)` and the gradients are those of that sum. TRL's loss is
/// `sum / P`.
///
/// Shapes: `losses`, `coefs`: `n_terms >= 1` handles and finite coefficients; the rest as
/// `rk_preference_loss_f32`.
///
/// Errors: `RK_ERR_EMPTY` (`terms`) for `n_terms = 0`; `RK_ERR_INVALID_PARAM` for a non-finite
/// coefficient; otherwise as `rk_preference_loss_f32` for each term (every term is checked before
/// anything is written); a null handle in `losses` is `RK_ERR_NULL_POINTER`.
///
/// Citation: TRL `dpo_trainer.py` (`loss_type` list, `loss_weights`); MPO, Wang et al. (2024),
/// arXiv:2411.10442.
///
/// # Safety
/// `losses` is null (only with `n_terms == 0`) or holds `n_terms` live handles; `coefs` holds
/// `n_terms` elements; the rest as `rk_preference_loss_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_preference_loss_combined_f32(
    losses: *const *const rk_preference_loss,
    coefs: *const f32,
    grad_chosen: *mut f32,
    grad_rejected: *mut f32,
    parts: *mut rk_loss_parts,
    chosen: *const f32,
    rejected: *const f32,
    ref_chosen: *const f32,
    ref_rejected: *const f32,
    chosen_lengths: *const f32,
    rejected_lengths: *const f32,
    prev_chosen: *const f32,
    prev_rejected: *const f32,
    soft_labels: *const f32,
    pair_weights: *const f32,
    n_terms: usize,
    n_pairs: usize,
) -> rk_status {
    let x = PairArgs {
        chosen,
        rejected,
        ref_chosen,
        ref_rejected,
        chosen_lengths,
        rejected_lengths,
        prev_chosen,
        prev_rejected,
        soft_labels,
        pair_weights,
        n_pairs,
    };
    let terms = Terms::Many {
        losses,
        coefs,
        n_terms,
    };
    guard(|| pref_call(terms, grad_chosen, grad_rejected, parts, x))
}

/// `rk_preference_loss_combined_f32` for `double`.
///
/// # Safety
/// As `rk_preference_loss_combined_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_preference_loss_combined_f64(
    losses: *const *const rk_preference_loss,
    coefs: *const f64,
    grad_chosen: *mut f64,
    grad_rejected: *mut f64,
    parts: *mut rk_loss_parts,
    chosen: *const f64,
    rejected: *const f64,
    ref_chosen: *const f64,
    ref_rejected: *const f64,
    chosen_lengths: *const f64,
    rejected_lengths: *const f64,
    prev_chosen: *const f64,
    prev_rejected: *const f64,
    soft_labels: *const f64,
    pair_weights: *const f64,
    n_terms: usize,
    n_pairs: usize,
) -> rk_status {
    let x = PairArgs {
        chosen,
        rejected,
        ref_chosen,
        ref_rejected,
        chosen_lengths,
        rejected_lengths,
        prev_chosen,
        prev_rejected,
        soft_labels,
        pair_weights,
        n_pairs,
    };
    let terms = Terms::Many {
        losses,
        coefs,
        n_terms,
    };
    guard(|| pref_call(terms, grad_chosen, grad_rejected, parts, x))
}

#[expect(
    clippy::too_many_arguments,
    reason = "the C signature: outputs, inputs, coefficients, size"
)]
fn bt_call<F: Real>(
    grad_chosen: *mut F,
    grad_rejected: *mut F,
    parts: *mut rk_loss_parts,
    chosen: *const F,
    rejected: *const F,
    margin: *const F,
    center_coef: F,
    l2_coef: F,
    n: usize,
) -> Res<()> {
    let bt = BradleyTerry::new(center_coef)?.with_l2(l2_coef)?;
    let mut a = Args::new();
    let gc = a.output("grad_chosen", grad_chosen, n)?;
    let gr = a.output("grad_rejected", grad_rejected, n)?;
    let parts = a.output_one("parts", parts)?;
    let chosen = a.input("chosen", chosen, n)?;
    let rejected = a.input("rejected", rejected, n)?;
    let margin = a.input_opt("margin", margin, n)?;
    *parts = bradley_terry_loss(gc, gr, chosen, rejected, margin, &bt)?.into();
    Ok(())
}

/// The Bradley–Terry reward-model loss over `P` pairs (`rewardkit_core::loss::bradley_terry_loss`):
/// per pair `−log σ(r_c − r_r − m) + η·(r_c + r_r)² + λ·(r_c² + r_r²)`; writes the gradient of the
/// sum with respect to the chosen and rejected rewards and the parts (one "token" per pair; the
/// mean is `parts.sum / P`).
///
/// `center_coef` is TRL's `center_rewards_coefficient` `η >= 0` (0 for none), `l2_coef` PAR's
/// `reward_reg_val` `λ >= 0` (0 for none); `margin` (null for none) is the per-pair margin `m`
/// (Llama 2, OpenRLHF's `margin`).
///
/// Shapes: `grad_chosen`, `grad_rejected`, `chosen`, `rejected`, `margin`: `(P)`, `P = n_pairs`.
///
/// Errors: `RK_ERR_INVALID_PARAM` for a coefficient negative or not finite; `RK_ERR_EMPTY` for
/// `P = 0`; `RK_ERR_NON_FINITE` for NaN/∞ in `chosen`, `rejected` or `margin`;
/// `RK_ERR_OVERFLOW`; pointer checks.
///
/// Citation: Bradley and Terry (1952); Ouyang et al. (2022), arXiv:2203.02155; TRL
/// `reward_trainer.py`; OpenRLHF `loss.py`.
///
/// # Safety
/// `parts` is null or writable; every non-null buffer holds `n_pairs` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_bradley_terry_loss_f32(
    grad_chosen: *mut f32,
    grad_rejected: *mut f32,
    parts: *mut rk_loss_parts,
    chosen: *const f32,
    rejected: *const f32,
    margin: *const f32,
    center_coef: f32,
    l2_coef: f32,
    n_pairs: usize,
) -> rk_status {
    guard(|| {
        bt_call(
            grad_chosen,
            grad_rejected,
            parts,
            chosen,
            rejected,
            margin,
            center_coef,
            l2_coef,
            n_pairs,
        )
    })
}

/// `rk_bradley_terry_loss_f32` for `double`.
///
/// # Safety
/// As `rk_bradley_terry_loss_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rk_bradley_terry_loss_f64(
    grad_chosen: *mut f64,
    grad_rejected: *mut f64,
    parts: *mut rk_loss_parts,
    chosen: *const f64,
    rejected: *const f64,
    margin: *const f64,
    center_coef: f64,
    l2_coef: f64,
    n_pairs: usize,
) -> rk_status {
    guard(|| {
        bt_call(
            grad_chosen,
            grad_rejected,
            parts,
            chosen,
            rejected,
            margin,
            center_coef,
            l2_coef,
            n_pairs,
        )
    })
}
