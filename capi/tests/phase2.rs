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
