//! The C entry points called from Rust through the rlib, so that `cargo test` alone (without a C
//! compiler) exercises the boundary: results equal the core's, bad input gives the documented code
//! and message. The full C test is `capi/tests/capi_test.c` (run by `capi/ci.sh`).
#![allow(
    clippy::std_instead_of_core,
    clippy::float_cmp,
    reason = "tests: std for CStr, exact float equality is the claim"
)]

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use rewardkit::advantage::{rk_advantage, rk_advantage_free, rk_advantage_new, rk_grpo_f32};
use rewardkit::groups::{rk_groups, rk_groups_free, rk_groups_new};
use rewardkit::kl::{rk_kl, rk_kl_f64, rk_kl_free, rk_kl_new};
use rewardkit::loss::{
    rk_aggregation, rk_aggregation_free, rk_aggregation_new, rk_aggregation_value_f64,
    rk_loss_parts, rk_policy_loss, rk_policy_loss_f64, rk_policy_loss_free, rk_policy_loss_new,
};
use rewardkit::reward::{
    rk_reward, rk_reward_f32, rk_reward_free, rk_reward_inputs, rk_reward_new,
};
use rewardkit::{rk_last_error_message, rk_param, rk_status};
use rewardkit_core::advantage::{Grpo, grpo};
use rewardkit_core::loss::{Aggregation, PolicyInputs, PolicyLoss, PolicyLossKind, policy_loss};
use rewardkit_core::reward::{Batch, Overlong, RewardTerm};
use rewardkit_core::{GroupIndex, KlEstimator, KlPenalty, Mask, Preset};

fn message() -> String {
    // SAFETY: the library returns a NUL-terminated thread-local buffer, valid until the next call.
    unsafe { CStr::from_ptr(rk_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

const IDS: [u32; 8] = [1, 0, 1, 0, 2, 2, 1, 0];
const REWARDS: [f32; 8] = [1.0, 0.0, 0.5, 1.0, 0.25, 0.0, 0.0, 1.0];

struct Handles {
    groups: *mut rk_groups,
    grpo: *mut rk_advantage,
}

fn handles() -> Handles {
    let (mut groups, mut grpo) = (null_mut(), null_mut());
    // SAFETY: out-pointers to locals; `IDS` holds 8 ids; a static name, no parameters.
    unsafe {
        assert_eq!(
            rk_groups_new(&mut groups, IDS.as_ptr(), 8, 3),
            rk_status::RK_OK
        );
        assert_eq!(
            rk_advantage_new(&mut grpo, c"grpo".as_ptr(), null(), 0),
            rk_status::RK_OK
        );
    }
    Handles { groups, grpo }
}

impl Drop for Handles {
    fn drop(&mut self) {
        // SAFETY: handles from the constructors above, freed once.
        unsafe {
            rk_groups_free(self.groups);
            rk_advantage_free(self.grpo);
        }
    }
}

#[test]
fn grpo_equals_the_core() {
    let h = handles();
    let mut out = [0.0f32; 8];
    // SAFETY: live handles; `out` and `REWARDS` hold 8 floats.
    let s = unsafe { rk_grpo_f32(h.grpo, out.as_mut_ptr(), REWARDS.as_ptr(), h.groups, 8) };
    assert_eq!(s, rk_status::RK_OK);
    assert_eq!(message(), "");
    let mut want = [0.0f32; 8];
    grpo(
        &mut want,
        &REWARDS,
        &GroupIndex::new(&IDS, 3).unwrap(),
        &Grpo::default(),
    )
    .unwrap();
    assert_eq!(out.map(f32::to_bits), want.map(f32::to_bits));
}

#[test]
fn bad_input_codes_and_messages() {
    let h = handles();
    let mut out = [0.0f32; 8];
    // SAFETY (every call below): live handles or null; buffers of at least the stated length.
    let s = unsafe { rk_grpo_f32(h.grpo, null_mut(), REWARDS.as_ptr(), h.groups, 8) };
    assert_eq!(
        (s, message()),
        (
            rk_status::RK_ERR_NULL_POINTER,
            "`out` is a null pointer".into()
        )
    );
    let s = unsafe { rk_grpo_f32(h.grpo, out.as_mut_ptr(), REWARDS.as_ptr(), h.groups, 7) };
    assert_eq!(s, rk_status::RK_ERR_LENGTH_MISMATCH);
    assert_eq!(message(), "`scores` has length 7, expected 8");
    let mut nan = REWARDS;
    nan[3] = f32::NAN;
    let s = unsafe { rk_grpo_f32(h.grpo, out.as_mut_ptr(), nan.as_ptr(), h.groups, 8) };
    assert_eq!(s, rk_status::RK_ERR_NON_FINITE);
    assert_eq!(
        message(),
        "`scores` holds a NaN or infinite value at index 3"
    );
    let s = unsafe { rk_grpo_f32(h.grpo, nan.as_mut_ptr(), nan.as_ptr(), h.groups, 8) };
    assert_eq!(s, rk_status::RK_ERR_INVALID_ARGUMENT);
    let mut a: *mut rk_advantage = null_mut();
    let s = unsafe { rk_advantage_new(&mut a, c"grpoo".as_ptr(), null(), 0) };
    assert_eq!(s, rk_status::RK_ERR_UNKNOWN_NAME);
    assert!(message().starts_with("unknown advantage estimator; valid names: gae, grpo"));
    assert!(a.is_null());
}

#[test]
fn kl_and_policy_loss_equal_the_core() {
    let (logp, refp, old) = (
        [-1.0f64, -0.5, -2.0, -0.1],
        [-1.2, -0.4, -1.0, -0.1],
        [-1.1, -0.5, -2.2, 0.0],
    );
    let verl = [rk_param {
        key: c"preset".as_ptr(),
        value: 0.0,
        text: c"verl".as_ptr(),
    }];
    let mut kl: *mut rk_kl = null_mut();
    let (mut v, mut g) = ([0.0f64; 4], [0.0f64; 4]);
    // SAFETY: out-pointer to a local; static strings; buffers of 4 doubles.
    unsafe {
        assert_eq!(
            rk_kl_new(&mut kl, c"k3+".as_ptr(), verl.as_ptr(), 1),
            rk_status::RK_OK
        );
        let s = rk_kl_f64(
            kl,
            v.as_mut_ptr(),
            g.as_mut_ptr(),
            logp.as_ptr(),
            refp.as_ptr(),
            4,
        );
        assert_eq!(s, rk_status::RK_OK);
        rk_kl_free(kl);
    }
    let (mut wv, mut wg) = ([0.0f64; 4], [0.0f64; 4]);
    KlPenalty::from_preset(Preset::Verl, KlEstimator::K3)
        .with_straight_through(true)
        .forward(&mut wv, Some(&mut wg), &logp, &refp)
        .unwrap();
    assert_eq!((v, g), (wv, wg));

    let mask_bytes = [1u8, 1, 1, 0];
    let adv = [0.5f64, -1.0];
    let (mut loss, mut agg): (*mut rk_policy_loss, *mut rk_aggregation) = (null_mut(), null_mut());
    let mut grad = [0.0f64; 4];
    let mut parts = rk_loss_parts::default();
    let mut value = 0.0f64;
    // SAFETY: as above; the mask holds 4 bytes, `adv` 2 doubles.
    unsafe {
        assert_eq!(
            rk_policy_loss_new(&mut loss, c"vanilla".as_ptr(), verl.as_ptr(), 1),
            rk_status::RK_OK
        );
        assert_eq!(
            rk_aggregation_new(&mut agg, c"seq-mean-token-mean".as_ptr(), verl.as_ptr(), 1),
            rk_status::RK_OK
        );
        let s = rk_policy_loss_f64(
            loss,
            agg,
            grad.as_mut_ptr(),
            &mut parts,
            logp.as_ptr(),
            old.as_ptr(),
            adv.as_ptr(),
            mask_bytes.as_ptr(),
            null(),
            null(),
            null(),
            2,
            2,
            2,
        );
        assert_eq!(s, rk_status::RK_OK, "{}", message());
        assert_eq!(
            rk_aggregation_value_f64(agg, &mut value, &parts, &parts),
            rk_status::RK_OK
        );
        rk_policy_loss_free(loss);
        rk_aggregation_free(agg);
    }
    let bits = [true, true, true, false];
    let mask = Mask::new(&bits, 2).unwrap();
    let a = Aggregation::from_preset(Preset::Verl, "seq-mean-token-mean").unwrap();
    let mut want = [0.0f64; 4];
    let inp = PolicyInputs::new(&logp, &old, &adv, mask).unwrap();
    let p = policy_loss(
        &mut want,
        &inp,
        &PolicyLoss::from_preset(Preset::Verl, PolicyLossKind::Vanilla),
        &a,
    )
    .unwrap();
    assert_eq!(grad, want);
    assert_eq!(
        (
            parts.sum,
            parts.seq_mean_sum,
            parts.tokens,
            parts.seqs,
            parts.rows
        ),
        (p.sum, p.seq_mean_sum, p.tokens, p.seqs, p.rows)
    );
    assert_eq!(value, a.value::<f64>(&p, &p).unwrap());
}

#[test]
fn reward_term_equals_the_core() {
    let params = [
        rk_param {
            key: c"max_len".as_ptr(),
            value: 8.0,
            text: null(),
        },
        rk_param {
            key: c"buffer".as_ptr(),
            value: 3.0,
            text: null(),
        },
    ];
    let lengths = [1u32, 5, 6, 8, 9];
    let mut r: *mut rk_reward = null_mut();
    let mut out = [0.0f32; 5];
    let inputs = rk_reward_inputs {
        batch: 5,
        correct: null(),
        well_formed: null(),
        lengths: lengths.as_ptr(),
        texts: null(),
        groups: null(),
        mask: null(),
        seq_len: 0,
    };
    // SAFETY: out-pointer to a local; static strings; `lengths` and `out` hold 5 elements.
    unsafe {
        assert_eq!(
            rk_reward_new(&mut r, c"overlong".as_ptr(), params.as_ptr(), 2),
            rk_status::RK_OK
        );
        assert_eq!(
            rk_reward_f32(r, out.as_mut_ptr(), &inputs),
            rk_status::RK_OK
        );
        rk_reward_free(r);
    }
    let mut want = [0.0f32; 5];
    let batch = Batch::<f32>::new(5)
        .unwrap()
        .with_lengths(&lengths)
        .unwrap();
    Overlong::new(8, 3, 1.0)
        .unwrap()
        .score(&mut want, &batch)
        .unwrap();
    assert_eq!(out, want);
}
