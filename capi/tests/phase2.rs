//! The entry points of issue 15 phase 2 (preference losses, Bradley–Terry, the value loss, IS
//! corrections, rejection sampling) called from Rust through the rlib: every result equals the
//! core's bit for bit, and bad input gives the documented code and message.
#![allow(
    clippy::std_instead_of_core,
    clippy::float_cmp,
    clippy::too_many_lines,
    clippy::type_complexity,
    reason = "tests: std for CStr, exact float equality is the claim, tables of cases"
)]

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use rewardkit::correction::{
    rk_is_correction, rk_is_correction_free, rk_is_correction_new, rk_is_weights_f32,
    rk_is_weights_f64, rk_rejection_mask_f32, rk_rejection_mask_f64, rk_rejection_rule,
    rk_rejection_rule_free, rk_rejection_rule_new, rk_rejection_stats, rk_rejection_summary,
};
use rewardkit::loss::{
    rk_aggregation, rk_aggregation_free, rk_aggregation_new, rk_loss_parts, rk_value_loss_f32,
    rk_value_loss_f64,
};
use rewardkit::preference::{
    rk_bradley_terry_loss_f32, rk_bradley_terry_loss_f64, rk_preference_loss,
    rk_preference_loss_f32, rk_preference_loss_f64, rk_preference_loss_free,
    rk_preference_loss_new,
};
use rewardkit::{rk_last_error_message, rk_param, rk_status};
use rewardkit_core::loss::{
    Aggregation, BradleyTerry, DivergenceKind, IsCorrection, IsMode, LossParts, PairInputs,
    PreferenceLoss, PreferenceLossKind, RejectionRule, RejectionStats, ValueLoss,
    bradley_terry_loss, is_weights, preference_loss, rejection_mask, value_loss,
};
use rewardkit_core::{Error, Mask, Preset, Real};

fn message() -> String {
    // SAFETY: the library returns a NUL-terminated thread-local buffer, valid until the next call.
    unsafe { CStr::from_ptr(rk_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn num(key: &'static CStr, value: f64) -> rk_param {
    rk_param {
        key: key.as_ptr(),
        value,
        text: null(),
    }
}

fn text(key: &'static CStr, value: &'static CStr) -> rk_param {
    rk_param {
        key: key.as_ptr(),
        value: 0.0,
        text: value.as_ptr(),
    }
}

fn same_parts(got: &rk_loss_parts, want: &LossParts) {
    assert_eq!(got.sum.to_bits(), want.sum.to_bits());
    assert_eq!(got.seq_mean_sum.to_bits(), want.seq_mean_sum.to_bits());
    assert_eq!(
        (got.tokens, got.seqs, got.rows),
        (want.tokens, want.seqs, want.rows)
    );
}

fn bits<F: Real>(xs: &[F]) -> Vec<u64> {
    xs.iter().map(|x| x.as_f64().to_bits()).collect()
}

/// `rk_*_new` for a handle type: out-pointer, name, params.
unsafe fn make<T>(
    new: unsafe extern "C" fn(*mut *mut T, *const c_char, *const rk_param, usize) -> rk_status,
    name: &CStr,
    params: &[rk_param],
) -> (rk_status, *mut T) {
    let mut h: *mut T = null_mut();
    // SAFETY: the caller passes a constructor; `params` is a live slice.
    let s = unsafe { new(&mut h, name.as_ptr(), params.as_ptr(), params.len()) };
    (s, h)
}

// Five pairs of sequence log-probabilities, lengths, weights.
const CH: [f64; 5] = [-5.0, -3.25, -7.5, -2.0, -9.0];
const RJ: [f64; 5] = [-7.0, -2.5, -7.0, -6.0, -8.5];
const RC: [f64; 5] = [-6.0, -3.0, -7.25, -2.5, -8.0];
const RR: [f64; 5] = [-6.0, -2.75, -7.5, -5.0, -8.75];
const LC: [f64; 5] = [3.0, 4.0, 7.0, 2.0, 9.0];
const LR: [f64; 5] = [4.0, 2.0, 6.0, 5.0, 8.0];
const W: [f64; 5] = [1.0, 0.5, 2.0, 0.0, 1.5];

fn cast<F: Real>(x: &[f64]) -> Vec<F> {
    x.iter().map(|&v| F::lit(v)).collect()
}

type PrefFn<F> = unsafe extern "C" fn(
    *const rk_preference_loss,
    *mut F,
    *mut F,
    *mut rk_loss_parts,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    usize,
) -> rk_status;

fn pref_case<F: Real>(f: PrefFn<F>) {
    let (ch, rj, rc, rr, lc, lr, w) = (
        cast::<F>(&CH),
        cast::<F>(&RJ),
        cast::<F>(&RC),
        cast::<F>(&RR),
        cast::<F>(&LC),
        cast::<F>(&LR),
        cast::<F>(&W),
    );
    let cases: [(&CStr, Vec<rk_param>, PreferenceLoss<F>, bool, bool); 4] = [
        (
            c"sigmoid",
            vec![num(c"beta", 0.5), num(c"label_smoothing", 0.1)],
            PreferenceLoss::new(PreferenceLossKind::Sigmoid)
                .with_beta(F::lit(0.5))
                .unwrap()
                .with_label_smoothing(F::lit(0.1))
                .unwrap(),
            false,
            true,
        ),
        (
            c"simpo",
            vec![num(c"beta", 2.0), num(c"simpo_gamma", 0.5)],
            PreferenceLoss::new(PreferenceLossKind::Simpo)
                .with_beta(F::lit(2.0))
                .unwrap()
                .with_gamma(F::lit(0.5))
                .unwrap(),
            true,
            false,
        ),
        (
            c"ipo",
            vec![],
            PreferenceLoss::new(PreferenceLossKind::Ipo),
            true,
            true,
        ),
        (
            c"sigmoid",
            vec![
                text(c"f_divergence_type", c"alpha_divergence"),
                num(c"f_alpha_divergence_coef", 0.5),
            ],
            PreferenceLoss::new(PreferenceLossKind::Sigmoid)
                .with_divergence(DivergenceKind::Alpha(0.5))
                .unwrap(),
            false,
            false,
        ),
    ];
    for (name, params, core, lengths, weights) in cases {
        // SAFETY: a constructor with a static name and a live parameter slice.
        let (s, h) = unsafe { make(rk_preference_loss_new, name, &params) };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        let (mut gc, mut gr) = (vec![F::ZERO; 5], vec![F::ZERO; 5]);
        let mut parts = rk_loss_parts::default();
        let opt = |on: bool, x: &Vec<F>| if on { x.as_ptr() } else { null() };
        // SAFETY: a live handle; every buffer holds 5 elements or is null.
        let s = unsafe {
            f(
                h,
                gc.as_mut_ptr(),
                gr.as_mut_ptr(),
                &mut parts,
                ch.as_ptr(),
                rj.as_ptr(),
                rc.as_ptr(),
                rr.as_ptr(),
                opt(lengths, &lc),
                opt(lengths, &lr),
                null(),
                null(),
                null(),
                opt(weights, &w),
                5,
            )
        };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        let mut inp = PairInputs::new(&ch, &rj, &rc, &rr).unwrap();
        if lengths {
            inp = inp.with_lengths(&lc, &lr).unwrap();
        }
        if weights {
            inp = inp.with_pair_weights(&w).unwrap();
        }
        let (mut wc, mut wr) = (vec![F::ZERO; 5], vec![F::ZERO; 5]);
        let p = preference_loss(&mut wc, &mut wr, &inp, &core).unwrap();
        assert_eq!(bits(&gc), bits(&wc), "{name:?}");
        assert_eq!(bits(&gr), bits(&wr), "{name:?}");
        same_parts(&parts, &p);
        // SAFETY: from rk_preference_loss_new, freed once.
        unsafe { rk_preference_loss_free(h) };
    }
}

#[test]
fn preference_losses_equal_the_core() {
    pref_case::<f32>(rk_preference_loss_f32);
    pref_case::<f64>(rk_preference_loss_f64);
}

#[test]
fn preference_loss_bad_input() {
    // SAFETY (every call below): static names, live slices, buffers of 5 doubles or null.
    let (s, h) = unsafe { make(rk_preference_loss_new, c"dpo", &[]) };
    assert_eq!(s, rk_status::RK_ERR_UNKNOWN_NAME);
    assert!(h.is_null());
    assert_eq!(
        message(),
        "unknown preference loss; valid names: sigmoid, hinge, ipo, robust, exo_pair, nca_pair, \
         bco_pair, sppo_hard, aot, aot_unpaired, apo_zero, apo_down, discopop, sigmoid_norm, \
         simpo, cpo, inpo, dno"
    );
    let (s, _) = unsafe { make(rk_preference_loss_new, c"sigmoid", &[num(c"beta", 0.0)]) };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    let want = PreferenceLoss::<f64>::new(PreferenceLossKind::Sigmoid)
        .with_beta(0.0)
        .unwrap_err();
    assert_eq!(message(), want.to_string());
    let (s, _) = unsafe {
        make(
            rk_preference_loss_new,
            c"sigmoid",
            &[num(c"label_smoothing", 0.5)],
        )
    };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    let (s, _) = unsafe {
        make(
            rk_preference_loss_new,
            c"sigmoid",
            &[num(c"f_alpha_divergence_coef", 0.5)],
        )
    };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        "parameter `f_alpha_divergence_coef` needs `f_divergence_type` = \"alpha_divergence\""
    );
    let (s, _) = unsafe {
        make(
            rk_preference_loss_new,
            c"sigmoid",
            &[text(c"f_divergence_type", c"kl")],
        )
    };
    assert_eq!(s, rk_status::RK_ERR_UNKNOWN_NAME);
    assert_eq!(
        message(),
        "unknown `f_divergence_type` of preference loss `sigmoid`; valid names: reverse_kl, \
         forward_kl, js_divergence, alpha_divergence"
    );
    let (s, _) = unsafe { make(rk_preference_loss_new, c"sigmoid", &[num(c"gamma", 1.0)]) };
    assert_eq!(s, rk_status::RK_ERR_UNKNOWN_NAME);
    assert!(message().starts_with("unknown parameter `gamma` of preference loss `sigmoid`"));

    let (s, simpo) = unsafe { make(rk_preference_loss_new, c"simpo", &[]) };
    assert_eq!(s, rk_status::RK_OK);
    let (mut gc, mut gr) = ([0.0f64; 5], [0.0f64; 5]);
    let mut parts = rk_loss_parts::default();
    let mut call = |simpo, gc: &mut [f64; 5], lc: *const f64, lr: *const f64, ch: &[f64; 5]| unsafe {
        rk_preference_loss_f64(
            simpo,
            gc.as_mut_ptr(),
            gr.as_mut_ptr(),
            &mut parts,
            ch.as_ptr(),
            RJ.as_ptr(),
            RC.as_ptr(),
            RR.as_ptr(),
            lc,
            lr,
            null(),
            null(),
            null(),
            null(),
            5,
        )
    };
    let s = call(simpo, &mut gc, null(), null(), &CH);
    assert_eq!(s, rk_status::RK_ERR_MISSING_INPUT);
    assert_eq!(
        message(),
        "input `lengths (length-normalized loss)` is required but missing"
    );
    let s = call(simpo, &mut gc, LC.as_ptr(), null(), &CH);
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_MISSING_INPUT,
            "input `rejected_lengths` is required but missing".into()
        )
    );
    let mut nan = CH;
    nan[2] = f64::NAN;
    let s = call(simpo, &mut gc, LC.as_ptr(), LR.as_ptr(), &nan);
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NON_FINITE,
            "`chosen` holds a NaN or infinite value at index 2".into()
        )
    );
    // SAFETY: a live handle; a null parts pointer.
    let s = unsafe {
        rk_preference_loss_f64(
            simpo,
            gc.as_mut_ptr(),
            gr.as_mut_ptr(),
            null_mut(),
            CH.as_ptr(),
            RJ.as_ptr(),
            RC.as_ptr(),
            RR.as_ptr(),
            LC.as_ptr(),
            LR.as_ptr(),
            null(),
            null(),
            null(),
            null(),
            5,
        )
    };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NULL_POINTER,
            "`parts` is a null pointer".into()
        )
    );
    // SAFETY: from rk_preference_loss_new, freed once.
    unsafe { rk_preference_loss_free(simpo) };
}

fn bt_case<F: Real>(
    f: unsafe extern "C" fn(
        *mut F,
        *mut F,
        *mut rk_loss_parts,
        *const F,
        *const F,
        *const F,
        F,
        F,
        usize,
    ) -> rk_status,
) {
    let (ch, rj, m) = (cast::<F>(&CH), cast::<F>(&RJ), cast::<F>(&W));
    for (margin, center, l2) in [(false, 0.0, 0.0), (true, 0.01, 0.005)] {
        let (mut gc, mut gr) = (vec![F::ZERO; 5], vec![F::ZERO; 5]);
        let mut parts = rk_loss_parts::default();
        let mp = if margin { m.as_ptr() } else { null() };
        // SAFETY: buffers of 5 elements or null.
        let s = unsafe {
            f(
                gc.as_mut_ptr(),
                gr.as_mut_ptr(),
                &mut parts,
                ch.as_ptr(),
                rj.as_ptr(),
                mp,
                F::lit(center),
                F::lit(l2),
                5,
            )
        };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        let bt = BradleyTerry::new(F::lit(center))
            .unwrap()
            .with_l2(F::lit(l2))
            .unwrap();
        let (mut wc, mut wr) = (vec![F::ZERO; 5], vec![F::ZERO; 5]);
        let p =
            bradley_terry_loss(&mut wc, &mut wr, &ch, &rj, margin.then_some(&m[..]), &bt).unwrap();
        assert_eq!(bits(&gc), bits(&wc));
        assert_eq!(bits(&gr), bits(&wr));
        same_parts(&parts, &p);
    }
    let (mut gc, mut gr) = (vec![F::ZERO; 5], vec![F::ZERO; 5]);
    let mut parts = rk_loss_parts::default();
    // SAFETY: as above.
    let s = unsafe {
        f(
            gc.as_mut_ptr(),
            gr.as_mut_ptr(),
            &mut parts,
            ch.as_ptr(),
            rj.as_ptr(),
            null(),
            F::lit(-1.0),
            F::ZERO,
            5,
        )
    };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        BradleyTerry::new(F::lit(-1.0)).unwrap_err().to_string()
    );
    // SAFETY: as above; no pairs.
    let s = unsafe {
        f(
            gc.as_mut_ptr(),
            gr.as_mut_ptr(),
            &mut parts,
            ch.as_ptr(),
            rj.as_ptr(),
            null(),
            F::ZERO,
            F::ZERO,
            0,
        )
    };
    assert_eq!(
        (s, message()),
        (rk_status::RK_ERR_EMPTY, "`chosen` is empty".into())
    );
}

#[test]
fn bradley_terry_equals_the_core() {
    bt_case::<f32>(rk_bradley_terry_loss_f32);
    bt_case::<f64>(rk_bradley_terry_loss_f64);
}

const MASK: [u8; 8] = [1, 1, 1, 0, 1, 0, 0, 0];
const BOOLS: [bool; 8] = [true, true, true, false, true, false, false, false];
const VALS: [f64; 8] = [2.0, 0.5, -1.0, 9.0, 0.25, 7.0, 7.0, 7.0];
const OLD: [f64; 8] = [1.0, 0.75, -0.5, 9.0, 1.0, 7.0, 7.0, 7.0];
const RET: [f64; 8] = [3.0, 0.5, -0.25, 9.0, -1.0, 7.0, 7.0, 7.0];

fn value_case<F: Real>(
    f: unsafe extern "C" fn(
        *const rk_aggregation,
        *mut F,
        *mut rk_loss_parts,
        *const F,
        *const F,
        *const F,
        *const u8,
        F,
        usize,
        usize,
    ) -> rk_status,
) {
    // SAFETY: a constructor with a static name and a live parameter slice.
    let (s, agg) = unsafe {
        make(
            rk_aggregation_new,
            c"seq-mean-token-mean",
            &[text(c"preset", c"verl")],
        )
    };
    assert_eq!(s, rk_status::RK_OK);
    let (v, o, r) = (cast::<F>(&VALS), cast::<F>(&OLD), cast::<F>(&RET));
    let core_agg = Aggregation::from_preset(Preset::Verl, "seq-mean-token-mean").unwrap();
    let mask = Mask::new(&BOOLS, 4).unwrap();
    for clip in [Some(0.5), None] {
        let mut g = vec![F::ZERO; 8];
        let mut parts = rk_loss_parts::default();
        let c = F::lit(clip.unwrap_or(f64::INFINITY));
        // SAFETY: a live handle; buffers of 8 elements.
        let s = unsafe {
            f(
                agg,
                g.as_mut_ptr(),
                &mut parts,
                v.as_ptr(),
                o.as_ptr(),
                r.as_ptr(),
                MASK.as_ptr(),
                c,
                2,
                4,
            )
        };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        let mut w = vec![F::ZERO; 8];
        let loss = ValueLoss::new(clip.map(F::lit)).unwrap();
        let p = value_loss(&mut w, &v, &o, &r, mask, &loss, &core_agg).unwrap();
        assert_eq!(bits(&g), bits(&w));
        same_parts(&parts, &p);
    }
    let mut g = vec![F::ZERO; 8];
    let mut parts = rk_loss_parts::default();
    // SAFETY: as above.
    let s = unsafe {
        f(
            agg,
            g.as_mut_ptr(),
            &mut parts,
            v.as_ptr(),
            o.as_ptr(),
            r.as_ptr(),
            MASK.as_ptr(),
            F::ZERO,
            2,
            4,
        )
    };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        ValueLoss::new(Some(F::ZERO)).unwrap_err().to_string()
    );
    let mut nan = v.clone();
    nan[4] = F::lit(f64::NAN);
    // SAFETY: as above.
    let s = unsafe {
        f(
            agg,
            g.as_mut_ptr(),
            &mut parts,
            nan.as_ptr(),
            o.as_ptr(),
            r.as_ptr(),
            MASK.as_ptr(),
            F::lit(0.5),
            2,
            4,
        )
    };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NON_FINITE,
            "`values` holds a NaN or infinite value at index 4".into()
        )
    );
    // SAFETY: as above; `returns` has 8 elements but the shape asks for 2·5.
    let s = unsafe {
        f(
            agg,
            g.as_mut_ptr(),
            &mut parts,
            v.as_ptr(),
            o.as_ptr(),
            null(),
            MASK.as_ptr(),
            F::lit(0.5),
            2,
            4,
        )
    };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NULL_POINTER,
            "`returns` is a null pointer".into()
        )
    );
    // SAFETY: from rk_aggregation_new, freed once.
    unsafe { rk_aggregation_free(agg) };
}

#[test]
fn value_loss_equals_the_core() {
    value_case::<f32>(rk_value_loss_f32);
    value_case::<f64>(rk_value_loss_f64);
}

const TRAIN: [f64; 8] = [-1.0, -0.5, -2.0, 5.0, -0.1, 0.0, 0.0, 0.0];
const ROLL: [f64; 8] = [-1.5, -0.4, -0.5, -9.0, -0.2, 0.0, 0.0, 0.0];

fn is_case<F: Real>(
    f: unsafe extern "C" fn(
        *const rk_is_correction,
        *mut F,
        *mut usize,
        *const F,
        *const F,
        *const u8,
        usize,
        usize,
    ) -> rk_status,
) {
    let (tr, ro) = (cast::<F>(&TRAIN), cast::<F>(&ROLL));
    let mask = Mask::new(&BOOLS, 4).unwrap();
    let cases: [(&CStr, Vec<rk_param>, IsCorrection<F>); 4] = [
        (
            c"tis",
            vec![text(c"preset", c"verl"), num(c"threshold_hi", 2.0)],
            IsCorrection::from_preset(Preset::Verl, IsMode::TokenTruncate, F::ZERO, F::lit(2.0))
                .unwrap(),
        ),
        (
            c"icepop",
            vec![num(c"threshold_lo", 0.5), num(c"threshold_hi", 2.0)],
            IsCorrection::new(IsMode::TokenMask, F::lit(0.5), F::lit(2.0)).unwrap(),
        ),
        (
            c"sequence_truncate",
            vec![
                num(c"threshold_hi", 3.0),
                num(c"batch_normalize", 1.0),
                num(c"log_clamp", 10.0),
            ],
            IsCorrection::new(IsMode::SequenceTruncate, F::ZERO, F::lit(3.0))
                .unwrap()
                .with_log_clamp(Some(F::lit(10.0)))
                .unwrap()
                .with_batch_normalize(true),
        ),
        (
            c"seq-mask-tis",
            vec![num(c"threshold_lo", 0.5), num(c"threshold_hi", 5.0)],
            IsCorrection::new(IsMode::GeoSequenceMask, F::lit(0.5), F::lit(5.0)).unwrap(),
        ),
    ];
    for (name, params, core) in cases {
        // SAFETY: a constructor with a static name and a live parameter slice.
        let (s, h) = unsafe { make(rk_is_correction_new, name, &params) };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        let mut out = vec![F::ZERO; 8];
        let mut zeroed = 99usize;
        // SAFETY: a live handle; buffers of 8 elements.
        let s = unsafe {
            f(
                h,
                out.as_mut_ptr(),
                &mut zeroed,
                tr.as_ptr(),
                ro.as_ptr(),
                MASK.as_ptr(),
                2,
                4,
            )
        };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        let mut want = vec![F::ZERO; 8];
        let z = is_weights(&mut want, &tr, &ro, mask, &core).unwrap();
        assert_eq!(bits(&out), bits(&want), "{name:?}");
        assert_eq!(zeroed, z);
        // A null count is accepted.
        // SAFETY: as above.
        let s = unsafe {
            f(
                h,
                out.as_mut_ptr(),
                null_mut(),
                tr.as_ptr(),
                ro.as_ptr(),
                MASK.as_ptr(),
                2,
                4,
            )
        };
        assert_eq!(s, rk_status::RK_OK);
        let mut nan = tr.clone();
        nan[1] = F::lit(f64::INFINITY);
        // SAFETY: as above.
        let s = unsafe {
            f(
                h,
                out.as_mut_ptr(),
                null_mut(),
                nan.as_ptr(),
                ro.as_ptr(),
                MASK.as_ptr(),
                2,
                4,
            )
        };
        assert_eq!(
            (s, message()),
            (
                rk_status::RK_ERR_NON_FINITE,
                "`train_logp` holds a NaN or infinite value at index 1".into()
            )
        );
        // SAFETY: from rk_is_correction_new, freed once.
        unsafe { rk_is_correction_free(h) };
    }
}

#[test]
fn is_weights_equal_the_core() {
    is_case::<f32>(rk_is_weights_f32);
    is_case::<f64>(rk_is_weights_f64);
}

#[test]
fn is_correction_bad_parameters() {
    // SAFETY (every call): static names, live parameter slices.
    let (s, h) = unsafe { make(rk_is_correction_new, c"token", &[num(c"threshold_hi", 2.0)]) };
    assert_eq!(s, rk_status::RK_ERR_UNKNOWN_NAME);
    assert!(h.is_null());
    assert_eq!(
        message(),
        "unknown importance-sampling mode; valid names: token_truncate, tis, token_mask, icepop, \
         sequence_truncate, sequence_mask, seq-mask-tis"
    );
    let (s, _) = unsafe { make(rk_is_correction_new, c"tis", &[]) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_MISSING_INPUT,
            "input `threshold_hi` is required but missing".into()
        )
    );
    let (s, _) = unsafe {
        make(
            rk_is_correction_new,
            c"tis",
            &[num(c"threshold_lo", 3.0), num(c"threshold_hi", 2.0)],
        )
    };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        IsCorrection::<f64>::new(IsMode::TokenTruncate, 3.0, 2.0)
            .unwrap_err()
            .to_string()
    );
}

fn rs_case<F: Real>(
    f: unsafe extern "C" fn(
        *const *const rk_rejection_rule,
        *mut u8,
        *mut rk_rejection_stats,
        *mut rk_rejection_summary,
        *const F,
        *const F,
        *const u8,
        usize,
        usize,
        usize,
    ) -> rk_status,
) {
    let (tr, ro) = (cast::<F>(&TRAIN), cast::<F>(&ROLL));
    // SAFETY: constructors with static names and live parameter slices.
    let (s1, r1) = unsafe {
        make(
            rk_rejection_rule_new,
            c"token_k1",
            &[num(c"lower", 0.5), num(c"upper", 2.0)],
        )
    };
    let (s2, r2) = unsafe {
        make(
            rk_rejection_rule_new,
            c"seq_mean_k3",
            &[text(c"preset", c"verl"), num(c"upper", 0.05)],
        )
    };
    assert_eq!((s1, s2), (rk_status::RK_OK, rk_status::RK_OK));
    let rules = [r1.cast_const(), r2.cast_const()];
    let mut keep = [9u8; 8];
    let mut stats = [rk_rejection_stats::default(); 2];
    let mut summary = rk_rejection_summary::default();
    // SAFETY: two live handles; buffers of 8 elements, 2 stats.
    let s = unsafe {
        f(
            rules.as_ptr(),
            keep.as_mut_ptr(),
            stats.as_mut_ptr(),
            &mut summary,
            tr.as_ptr(),
            ro.as_ptr(),
            MASK.as_ptr(),
            2,
            2,
            4,
        )
    };
    assert_eq!(s, rk_status::RK_OK, "{}", message());
    let core_rules = [
        RejectionRule::new("token_k1".parse().unwrap(), Some(F::lit(0.5)), F::lit(2.0)).unwrap(),
        RejectionRule::from_preset(
            Preset::Verl,
            "seq_mean_k3".parse().unwrap(),
            None,
            F::lit(0.05),
        )
        .unwrap(),
    ];
    let mut wk = [false; 8];
    let mut ws = [RejectionStats::EMPTY; 2];
    let sum = rejection_mask(
        &mut wk,
        &mut ws,
        &tr,
        &ro,
        Mask::new(&BOOLS, 4).unwrap(),
        &core_rules,
    )
    .unwrap();
    assert_eq!(keep, wk.map(u8::from));
    assert_eq!(
        (
            summary.tokens,
            summary.rejected_tokens,
            summary.seqs,
            summary.rejected_seqs,
            summary.rows
        ),
        (
            sum.tokens,
            sum.rejected_tokens,
            sum.seqs,
            sum.rejected_seqs,
            sum.rows
        )
    );
    for (g, w) in stats.iter().zip(&ws) {
        for (a, b) in [(g.tokens, w.tokens), (g.seqs, w.seqs)] {
            assert_eq!(a.count, b.count);
            assert_eq!(
                [a.sum, a.mean, a.m2, a.min, a.max].map(f64::to_bits),
                [b.sum, b.mean, b.m2, b.min, b.max].map(f64::to_bits)
            );
        }
        assert_eq!(
            (g.above, g.below, g.rejected_tokens, g.rejected_seqs),
            (w.above, w.below, w.rejected_tokens, w.rejected_seqs)
        );
    }
    // Optional outputs may be null; no rules keep the mask.
    // SAFETY: as above.
    let s = unsafe {
        f(
            null(),
            keep.as_mut_ptr(),
            null_mut(),
            null_mut(),
            tr.as_ptr(),
            ro.as_ptr(),
            MASK.as_ptr(),
            0,
            2,
            4,
        )
    };
    assert_eq!(s, rk_status::RK_OK);
    assert_eq!(keep, MASK);
    // A null handle in the array.
    let bad = [r1.cast_const(), null()];
    // SAFETY: as above; the second handle is null (checked).
    let s = unsafe {
        f(
            bad.as_ptr(),
            keep.as_mut_ptr(),
            null_mut(),
            null_mut(),
            tr.as_ptr(),
            ro.as_ptr(),
            MASK.as_ptr(),
            2,
            2,
            4,
        )
    };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NULL_POINTER,
            "`rules` is a null pointer".into()
        )
    );
    let mut nan = ro.clone();
    nan[4] = F::lit(f64::NAN);
    // SAFETY: as above.
    let s = unsafe {
        f(
            rules.as_ptr(),
            keep.as_mut_ptr(),
            null_mut(),
            null_mut(),
            tr.as_ptr(),
            nan.as_ptr(),
            MASK.as_ptr(),
            2,
            2,
            4,
        )
    };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NON_FINITE,
            "`rollout_logp` holds a NaN or infinite value at index 4".into()
        )
    );
    // SAFETY: from rk_rejection_rule_new, freed once each.
    unsafe {
        rk_rejection_rule_free(r1);
        rk_rejection_rule_free(r2);
    }
}

#[test]
fn rejection_mask_equals_the_core() {
    rs_case::<f32>(rk_rejection_mask_f32);
    rs_case::<f64>(rk_rejection_mask_f64);
}

#[test]
fn rejection_rule_bad_parameters() {
    // SAFETY (every call): static names, live parameter slices.
    let (s, h) = unsafe { make(rk_rejection_rule_new, c"seq_max_k1", &[num(c"upper", 2.0)]) };
    assert_eq!(s, rk_status::RK_ERR_UNKNOWN_NAME);
    assert!(h.is_null());
    assert!(message().starts_with("unknown rollout rejection-sampling option; valid names:"));
    let (s, _) = unsafe { make(rk_rejection_rule_new, c"token_k3", &[]) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_MISSING_INPUT,
            "input `upper` is required but missing".into()
        )
    );
    let (s, _) = unsafe {
        make(
            rk_rejection_rule_new,
            c"token_k3",
            &[num(c"lower", 0.1), num(c"upper", 2.0)],
        )
    };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    let want: Error =
        RejectionRule::<f64>::new("token_k3".parse().unwrap(), Some(0.1), 2.0).unwrap_err();
    assert_eq!(message(), want.to_string());
}

// ------------------------------------------------------------------------------------------------
// Stateful rewards: HAPO and LASER-D.
// ------------------------------------------------------------------------------------------------

use rewardkit::groups::{rk_groups, rk_groups_free, rk_groups_new};
use rewardkit::stateful::{
    RK_LASER_TARGET_MONITORED, rk_hapo, rk_hapo_entry, rk_hapo_free, rk_hapo_len, rk_hapo_load,
    rk_hapo_new, rk_hapo_rewards_f32, rk_hapo_rewards_f64, rk_hapo_save, rk_hapo_update,
    rk_laser_d, rk_laser_d_free, rk_laser_d_load, rk_laser_d_new, rk_laser_d_rewards_f32,
    rk_laser_d_rewards_f64, rk_laser_d_save, rk_laser_d_update, rk_laser_target,
};
use rewardkit_core::GroupIndex;
use rewardkit_core::reward::{
    Hapo, HapoHistory, HapoShape, HistoryMode, LaserD, LaserDState, LaserMode, MonitorBanding,
    Rounding, TargetLen, Thresholds,
};

const KEYS: [u64; 8] = [7, 7, 9, 9, 7, 9, 11, 11];
const HLENS: [u32; 8] = [400, 300, 120, 200, 350, 90, 50, 70];
const HOK: [u8; 8] = [1, 1, 0, 1, 0, 1, 0, 0];
const HOK_B: [bool; 8] = [true, true, false, true, false, true, false, false];
const HLENS2: [u32; 8] = [150, 500, 100, 60, 290, 250, 40, 80];

fn hapo_rewards<F: Real>(
    f: unsafe extern "C" fn(
        *const rk_hapo,
        *mut F,
        *const u64,
        *const u32,
        *const u8,
        usize,
    ) -> rk_status,
    h: *const rk_hapo,
    lens: &[u32; 8],
) -> Vec<F> {
    let mut out = vec![F::ZERO; 8];
    // SAFETY: a live handle; buffers of 8 elements.
    let s = unsafe {
        f(
            h,
            out.as_mut_ptr(),
            KEYS.as_ptr(),
            lens.as_ptr(),
            HOK.as_ptr(),
            8,
        )
    };
    assert_eq!(s, rk_status::RK_OK, "{}", message());
    out
}

#[test]
fn hapo_equals_the_core_and_saves_its_history() {
    let params = [
        num(c"weight", 0.8),
        num(c"floor", 0.5),
        text(c"history", c"mean"),
    ];
    // SAFETY: a constructor with a static name and a live parameter slice.
    let (s, h) = unsafe { make(rk_hapo_new, c"cosine", &params) };
    assert_eq!(s, rk_status::RK_OK, "{}", message());
    let p32 = Hapo::<f32>::new(0.8, HapoShape::Cosine)
        .unwrap()
        .with_floor(0.5)
        .unwrap();
    let p64 = Hapo::<f64>::new(0.8, HapoShape::Cosine)
        .unwrap()
        .with_floor(0.5)
        .unwrap();
    let mut core = HapoHistory::new(HistoryMode::Mean);
    for batch in [&HLENS, &HLENS2] {
        let got32 = hapo_rewards(rk_hapo_rewards_f32, h, batch);
        let got64 = hapo_rewards(rk_hapo_rewards_f64, h, batch);
        let (mut w32, mut w64) = (vec![0.0f32; 8], vec![0.0f64; 8]);
        core.rewards(&mut w32, &KEYS, batch, &HOK_B, &p32).unwrap();
        core.rewards(&mut w64, &KEYS, batch, &HOK_B, &p64).unwrap();
        assert_eq!(bits(&got32), bits(&w32));
        assert_eq!(bits(&got64), bits(&w64));
        // SAFETY: a live handle; buffers of 8 elements.
        let s = unsafe { rk_hapo_update(h, KEYS.as_ptr(), batch.as_ptr(), HOK.as_ptr(), 8) };
        assert_eq!(s, rk_status::RK_OK);
        core.update(&KEYS, batch, &HOK_B).unwrap();
    }
    assert!(
        hapo_rewards(rk_hapo_rewards_f64, h, &HLENS)
            .iter()
            .any(|&r| r != 0.0)
    );
    // A failed update leaves the history as it was.
    let mut zero = HLENS;
    zero[3] = 0;
    // SAFETY: as above.
    let s = unsafe { rk_hapo_update(h, KEYS.as_ptr(), zero.as_ptr(), HOK.as_ptr(), 8) };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        core.update(&KEYS, &zero, &HOK_B).unwrap_err().to_string()
    );
    // Save: the entries of the core's history, in key order.
    let mut n = 0usize;
    // SAFETY: a live handle; `n` is a local.
    assert_eq!(unsafe { rk_hapo_len(h, &mut n) }, rk_status::RK_OK);
    assert_eq!(n, core.len());
    let mut saved = vec![rk_hapo_entry::default(); n];
    // SAFETY: `saved` holds n records.
    assert_eq!(
        unsafe { rk_hapo_save(h, saved.as_mut_ptr(), n) },
        rk_status::RK_OK
    );
    let want: Vec<(u64, u32, u64, u64, u64, u64)> = core
        .iter()
        .map(|(k, e)| (k, e.min, e.sum, e.count, e.mean_weighted, e.mean_count))
        .collect();
    let got: Vec<(u64, u32, u64, u64, u64, u64)> = saved
        .iter()
        .map(|e| (e.key, e.min, e.sum, e.count, e.mean_weighted, e.mean_count))
        .collect();
    assert_eq!(got, want);
    // SAFETY: as above, one record short.
    let s = unsafe { rk_hapo_save(h, saved.as_mut_ptr(), n - 1) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_LENGTH_MISMATCH,
            format!("`entries` has length {}, expected {n}", n - 1)
        )
    );
    // Restore into a fresh handle: the same rewards.
    // SAFETY: as above.
    let (s, h2) = unsafe { make(rk_hapo_new, c"cosine", &params) };
    assert_eq!(s, rk_status::RK_OK);
    // SAFETY: `saved` holds n records.
    assert_eq!(
        unsafe { rk_hapo_load(h2, saved.as_ptr(), n) },
        rk_status::RK_OK
    );
    assert_eq!(
        bits(&hapo_rewards(rk_hapo_rewards_f64, h2, &HLENS2)),
        bits(&hapo_rewards(rk_hapo_rewards_f64, h, &HLENS2))
    );
    saved[0].min = 0;
    // SAFETY: as above.
    let s = unsafe { rk_hapo_load(h2, saved.as_ptr(), n) };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    // SAFETY: handles from rk_hapo_new, freed once.
    unsafe {
        rk_hapo_free(h);
        rk_hapo_free(h2);
    }
}

#[test]
fn hapo_bad_parameters() {
    // SAFETY (every call): static names, live parameter slices.
    let (s, h) = unsafe { make(rk_hapo_new, c"cos", &[]) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_UNKNOWN_NAME,
            "unknown HAPO shape; valid names: cosine, linear".into()
        )
    );
    assert!(h.is_null());
    let (s, _) = unsafe { make(rk_hapo_new, c"linear", &[text(c"history", c"max")]) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_UNKNOWN_NAME,
            "unknown `history` of HAPO reward `linear`; valid names: min, mean, exact_mean".into()
        )
    );
    let (s, _) = unsafe { make(rk_hapo_new, c"linear", &[num(c"weight", 1.5)]) };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        Hapo::<f32>::new(1.5, HapoShape::Linear)
            .unwrap_err()
            .to_string()
    );
}

const LLENS: [u32; 8] = [3, 9, 5, 4, 12, 2, 7, 8];
const LOK: [u8; 8] = [1, 0, 1, 1, 0, 1, 1, 0];
const LOK_B: [bool; 8] = [true, false, true, true, false, true, true, false];
const LIDS: [u32; 8] = [0, 0, 0, 0, 1, 1, 1, 1];
const REP: [u8; 8] = [0, 1, 0, 0, 0, 0, 0, 0];
const REP_B: [bool; 8] = [false, true, false, false, false, false, false, false];

#[test]
fn laser_d_equals_the_core_and_saves_its_targets() {
    let params = [
        num(c"alpha", 0.25),
        num(c"target", 6.0),
        num(c"thresholds_lower", 2.0),
        num(c"thresholds_upper", 10.0),
        num(c"thresholds_interval", 2.0),
        num(c"thresholds_linear", 1.0),
        num(c"group_size", 4.0),
        text(c"rounding", c"ceil"),
        text(c"banding", c"training"),
    ];
    let mut g: *mut rk_groups = null_mut();
    // SAFETY: an out-pointer to a local; `LIDS` holds 8 ids.
    assert_eq!(
        unsafe { rk_groups_new(&mut g, LIDS.as_ptr(), 8, 2) },
        rk_status::RK_OK
    );
    // SAFETY: a constructor with a static name and a live parameter slice.
    let (s, h): (rk_status, *mut rk_laser_d) = unsafe { make(rk_laser_d_new, c"hybrid", &params) };
    assert_eq!(s, rk_status::RK_OK, "{}", message());
    fn core<F: Real>(alpha: F) -> LaserD<F> {
        LaserD::new(alpha, LaserMode::Hybrid)
            .unwrap()
            .with_thresholds(Thresholds::linear(2, 10, 2).unwrap())
            .unwrap()
            .with_group_size(4)
            .unwrap()
            .with_monitor(1, Rounding::Ceil, MonitorBanding::Training)
            .unwrap()
    }
    let (c32, c64) = (core(0.25f32), core(0.25f64));
    let groups = GroupIndex::new(&LIDS, 2).unwrap();
    let mut state = LaserDState::new(6);
    for round in 0..2 {
        for de in [false, true] {
            let rep = if de { REP.as_ptr() } else { null() };
            let (mut o32, mut o64) = ([0.0f32; 8], [0.0f64; 8]);
            // SAFETY: live handles; buffers of 8 elements or null.
            unsafe {
                assert_eq!(
                    rk_laser_d_rewards_f32(
                        h,
                        o32.as_mut_ptr(),
                        LLENS.as_ptr(),
                        LOK.as_ptr(),
                        null(),
                        rep,
                        g,
                        8
                    ),
                    rk_status::RK_OK
                );
                assert_eq!(
                    rk_laser_d_rewards_f64(
                        h,
                        o64.as_mut_ptr(),
                        LLENS.as_ptr(),
                        LOK.as_ptr(),
                        null(),
                        rep,
                        g,
                        8
                    ),
                    rk_status::RK_OK
                );
            }
            let (mut w32, mut w64) = ([0.0f32; 8], [0.0f64; 8]);
            if de {
                c32.rewards_de(&mut w32, &LLENS, &LOK_B, None, &REP_B, &groups, &state)
                    .unwrap();
                c64.rewards_de(&mut w64, &LLENS, &LOK_B, None, &REP_B, &groups, &state)
                    .unwrap();
            } else {
                c32.rewards(&mut w32, &LLENS, &LOK_B, None, &groups, &state)
                    .unwrap();
                c64.rewards(&mut w64, &LLENS, &LOK_B, None, &groups, &state)
                    .unwrap();
            }
            assert_eq!(bits(&o32), bits(&w32), "round {round}, de {de}");
            assert_eq!(bits(&o64), bits(&w64), "round {round}, de {de}");
        }
        // SAFETY: live handles; buffers of 8 elements.
        let s = unsafe { rk_laser_d_update(h, LLENS.as_ptr(), LOK.as_ptr(), g, 8) };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        state.update(&c64, &LLENS, &LOK_B, &groups).unwrap();
    }
    let mut saved = [rk_laser_target::default(); 3];
    // SAFETY: `saved` holds 3 records.
    assert_eq!(
        unsafe { rk_laser_d_save(h, saved.as_mut_ptr()) },
        rk_status::RK_OK
    );
    assert_eq!(saved.map(|t| t.to_core_for_test()), state.targets());
    assert!(saved.iter().any(|t| t.kind == RK_LASER_TARGET_MONITORED));
    // Restore into a fresh handle: same targets.
    // SAFETY: as above.
    let (s, h2) = unsafe { make(rk_laser_d_new, c"hybrid", &params) };
    assert_eq!(s, rk_status::RK_OK);
    let mut back = [rk_laser_target::default(); 3];
    // SAFETY: `saved` and `back` hold 3 records.
    unsafe {
        assert_eq!(rk_laser_d_load(h2, saved.as_ptr()), rk_status::RK_OK);
        assert_eq!(rk_laser_d_save(h2, back.as_mut_ptr()), rk_status::RK_OK);
    }
    assert_eq!(back, saved);
    let mut bad = saved;
    bad[1] = rk_laser_target { kind: 5, length: 3 };
    // SAFETY: as above.
    let s = unsafe { rk_laser_d_load(h2, bad.as_ptr()) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_INVALID_ARGUMENT,
            "`targets` holds kind 5; expected RK_LASER_TARGET_FIXED (0), \
             RK_LASER_TARGET_MONITORED (1) or RK_LASER_TARGET_NONE (2)"
                .into()
        )
    );
    // Groups over another number of rows.
    let mut out = [0.0f32; 8];
    // SAFETY: as above; the index covers 8 rows, the call says 7.
    let s = unsafe {
        rk_laser_d_rewards_f32(
            h,
            out.as_mut_ptr(),
            LLENS.as_ptr(),
            LOK.as_ptr(),
            null(),
            null(),
            g,
            7,
        )
    };
    assert_eq!(s, rk_status::RK_ERR_LENGTH_MISMATCH);
    // SAFETY: handles from their constructors, freed once.
    unsafe {
        rk_laser_d_free(h);
        rk_laser_d_free(h2);
        rk_groups_free(g);
    }
}

/// The core value of a saved target (the test's own decoding of the documented record).
trait ToCore {
    fn to_core_for_test(self) -> TargetLen;
}

impl ToCore for rk_laser_target {
    fn to_core_for_test(self) -> TargetLen {
        match self.kind {
            0 => TargetLen::Fixed(self.length),
            1 => TargetLen::Monitored(Some(self.length)),
            2 => TargetLen::Monitored(None),
            k => panic!("kind {k}"),
        }
    }
}

#[test]
fn laser_d_bad_parameters() {
    // SAFETY (every call): static names, live parameter slices.
    let (s, h) = unsafe { make(rk_laser_d_new, c"bonus", &[]) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_UNKNOWN_NAME,
            "unknown LASER-D mode; valid names: reward, penalty, hybrid".into()
        )
    );
    assert!(h.is_null());
    let (s, _) = unsafe {
        make(
            rk_laser_d_new,
            c"reward",
            &[num(c"thresholds_lower", 8.0), num(c"thresholds_upper", 4.0)],
        )
    };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        Thresholds::new(8, 4, 1024).unwrap_err().to_string()
    );
    let (s, _) = unsafe { make(rk_laser_d_new, c"reward", &[num(c"group_size", 0.0)]) };
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
}

// ------------------------------------------------------------------------------------------------
// Sparse (CSR) MDPs for the distances.
// ------------------------------------------------------------------------------------------------

use rewardkit::distance::{
    rk_distance, rk_distance_free, rk_distance_new, rk_distance_sparse_f32, rk_distance_sparse_f64,
};
use rewardkit_core::distance::{Canonicalization, Coverage, Epic, Norm, Starc};
use rewardkit_core::mdp::{Mdp, Policy, Reward, SparseTransitions, Transitions};

// 3 states, 2 actions; rows (s, a) in order: successors and probabilities.
const OFFSETS: [usize; 7] = [0, 1, 3, 4, 6, 7, 9];
const NEXT: [u32; 9] = [1, 0, 2, 2, 0, 1, 0, 1, 2];
const PROBS: [f64; 9] = [1.0, 0.25, 0.75, 1.0, 0.5, 0.5, 1.0, 0.125, 0.875];
const INIT: [f64; 3] = [0.5, 0.25, 0.25];
const R_SA: [f64; 6] = [1.0, -0.5, 0.25, 2.0, -1.0, 0.0];
const R_S: [f64; 3] = [0.5, -1.0, 2.0];

type SparseFn<F> = unsafe extern "C" fn(
    *const rk_distance,
    *mut F,
    *const usize,
    *const u32,
    *const F,
    *const F,
    *const F,
    *const F,
    F,
    usize,
    usize,
    usize,
    usize,
    usize,
) -> rk_status;

fn sparse_case<F: Real>(f: SparseFn<F>) {
    let (probs, init, rsa, rs) = (
        cast::<F>(&PROBS),
        cast::<F>(&INIT),
        cast::<F>(&R_SA),
        cast::<F>(&R_S),
    );
    // SAFETY: constructors with static names and live parameter slices.
    let (s1, starc) = unsafe { make(rk_distance_new, c"starc", &[]) };
    let (s2, epic) = unsafe { make(rk_distance_new, c"epic", &[]) };
    assert_eq!((s1, s2), (rk_status::RK_OK, rk_status::RK_OK));
    let mdp = Mdp::new(
        3,
        2,
        Transitions::Sparse(SparseTransitions::new(&OFFSETS, &NEXT, &probs)),
        &init,
        F::lit(0.9),
    )
    .unwrap();
    let (a, b) = (Reward::StateAction(&rsa), Reward::State(&rs));
    let want = [
        Starc::new(Canonicalization::Value(Policy::Uniform), Norm::l2())
            .distance(&mdp, &a, &b)
            .unwrap(),
        Epic::new(Coverage::uniform())
            .distance(&mdp, &a, &b)
            .unwrap(),
    ];
    for (h, w) in [starc, epic].into_iter().zip(want) {
        let mut d = F::ZERO;
        // SAFETY: a live handle; the CSR arrays and rewards hold the stated lengths.
        let s = unsafe {
            f(
                h,
                &mut d,
                OFFSETS.as_ptr(),
                NEXT.as_ptr(),
                probs.as_ptr(),
                init.as_ptr(),
                rsa.as_ptr(),
                rs.as_ptr(),
                F::lit(0.9),
                3,
                2,
                9,
                6,
                3,
            )
        };
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        assert_eq!(d.as_f64().to_bits(), w.as_f64().to_bits());
        assert!(w.as_f64() > 0.0);
    }
    // Offsets that do not end at nnz: the core's message.
    let mut bad = OFFSETS;
    bad[6] = 8;
    let mut d = F::ZERO;
    // SAFETY: as above.
    let s = unsafe {
        f(
            epic,
            &mut d,
            bad.as_ptr(),
            NEXT.as_ptr(),
            probs.as_ptr(),
            init.as_ptr(),
            rsa.as_ptr(),
            rs.as_ptr(),
            F::lit(0.9),
            3,
            2,
            9,
            6,
            3,
        )
    };
    let e = Mdp::new(
        3,
        2,
        Transitions::Sparse(SparseTransitions::new(&bad, &NEXT, &probs)),
        &init,
        F::lit(0.9),
    )
    .unwrap_err();
    assert_eq!(
        (s, message()),
        (rk_status::RK_ERR_INVALID_PARAM, e.to_string())
    );
    // A null offsets array.
    // SAFETY: as above; `offsets` is null (checked).
    let s = unsafe {
        f(
            epic,
            &mut d,
            null(),
            NEXT.as_ptr(),
            probs.as_ptr(),
            init.as_ptr(),
            rsa.as_ptr(),
            rs.as_ptr(),
            F::lit(0.9),
            3,
            2,
            9,
            6,
            3,
        )
    };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NULL_POINTER,
            "`offsets` is a null pointer".into()
        )
    );
    // SAFETY: handles from rk_distance_new, freed once.
    unsafe {
        rk_distance_free(starc);
        rk_distance_free(epic);
    }
}

#[test]
fn sparse_distances_equal_the_core() {
    sparse_case::<f32>(rk_distance_sparse_f32);
    sparse_case::<f64>(rk_distance_sparse_f64);
}

// ------------------------------------------------------------------------------------------------
// Combined preference losses (MPO).
// ------------------------------------------------------------------------------------------------

use rewardkit::preference::{rk_preference_loss_combined_f32, rk_preference_loss_combined_f64};
use rewardkit_core::loss::combined_preference_loss;

type CombinedFn<F> = unsafe extern "C" fn(
    *const *const rk_preference_loss,
    *const F,
    *mut F,
    *mut F,
    *mut rk_loss_parts,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    *const F,
    usize,
    usize,
) -> rk_status;

fn combined_case<F: Real>(f: CombinedFn<F>) {
    let (ch, rj, rc, rr, w) = (
        cast::<F>(&CH),
        cast::<F>(&RJ),
        cast::<F>(&RC),
        cast::<F>(&RR),
        cast::<F>(&W),
    );
    // SAFETY: constructors with static names and live parameter slices.
    let (s1, dpo) = unsafe { make(rk_preference_loss_new, c"sigmoid", &[num(c"beta", 0.5)]) };
    let (s2, bco) = unsafe { make(rk_preference_loss_new, c"bco_pair", &[]) };
    assert_eq!((s1, s2), (rk_status::RK_OK, rk_status::RK_OK));
    let handles = [dpo.cast_const(), bco.cast_const()];
    let coefs = [F::lit(0.8), F::lit(0.2)];
    let (mut gc, mut gr) = (vec![F::ZERO; 5], vec![F::ZERO; 5]);
    let mut parts = rk_loss_parts::default();
    let call = |handles: &[*const rk_preference_loss],
                coefs: &[F],
                gc: &mut [F],
                gr: &mut [F],
                parts: &mut rk_loss_parts,
                n_terms: usize| {
        // SAFETY: live handles (or a null one, checked); buffers of 5 elements.
        unsafe {
            f(
                handles.as_ptr(),
                coefs.as_ptr(),
                gc.as_mut_ptr(),
                gr.as_mut_ptr(),
                parts,
                ch.as_ptr(),
                rj.as_ptr(),
                rc.as_ptr(),
                rr.as_ptr(),
                null(),
                null(),
                null(),
                null(),
                null(),
                w.as_ptr(),
                n_terms,
                5,
            )
        }
    };
    let s = call(&handles, &coefs, &mut gc, &mut gr, &mut parts, 2);
    assert_eq!(s, rk_status::RK_OK, "{}", message());
    let terms = [
        (
            PreferenceLoss::new(PreferenceLossKind::Sigmoid)
                .with_beta(F::lit(0.5))
                .unwrap(),
            F::lit(0.8),
        ),
        (
            PreferenceLoss::new(PreferenceLossKind::BcoPair),
            F::lit(0.2),
        ),
    ];
    let inp = PairInputs::new(&ch, &rj, &rc, &rr)
        .unwrap()
        .with_pair_weights(&w)
        .unwrap();
    let (mut wc, mut wr) = (vec![F::ZERO; 5], vec![F::ZERO; 5]);
    let p = combined_preference_loss(&mut wc, &mut wr, &inp, &terms).unwrap();
    assert_eq!(bits(&gc), bits(&wc));
    assert_eq!(bits(&gr), bits(&wr));
    same_parts(&parts, &p);
    let s = call(&handles, &coefs, &mut gc, &mut gr, &mut parts, 0);
    assert_eq!(
        (s, message()),
        (rk_status::RK_ERR_EMPTY, "`terms` is empty".into())
    );
    let nan = [F::lit(0.8), F::lit(f64::NAN)];
    let s = call(&handles, &nan, &mut gc, &mut gr, &mut parts, 2);
    assert_eq!(s, rk_status::RK_ERR_INVALID_PARAM);
    assert_eq!(
        message(),
        combined_preference_loss(&mut wc, &mut wr, &inp, &[(terms[0].0, F::lit(f64::NAN))])
            .unwrap_err()
            .to_string()
    );
    let with_null = [dpo.cast_const(), null()];
    let s = call(&with_null, &coefs, &mut gc, &mut gr, &mut parts, 2);
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NULL_POINTER,
            "`losses` is a null pointer".into()
        )
    );
    // SAFETY: handles from rk_preference_loss_new, freed once.
    unsafe {
        rk_preference_loss_free(dpo);
        rk_preference_loss_free(bco);
    }
}

#[test]
fn combined_preference_loss_equals_the_core() {
    combined_case::<f32>(rk_preference_loss_combined_f32);
    combined_case::<f64>(rk_preference_loss_combined_f64);
}
