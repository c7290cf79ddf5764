//! GPU test support: one shared context for the whole suite, skip-or-fail when no adapter exists,
//! error bounds for f32 kernels against f64 oracles, and the `f64` oracles of the core's `f32`
//! parameter types (the GPU takes the core's parameters; the oracle widens them exactly).

use std::sync::OnceLock;

use rewardkit_core::loss::PolicyLoss;
use rewardkit_core::stats::Whiten;
use rewardkit_core::{KlPenalty, KlTerm};
use rewardkit_gpu::{GpuBuffer, GpuContext, GpuError};

/// Environment variable that turns a missing adapter into a test failure (CI sets it).
pub const REQUIRE_ENV: &str = "REWARDKIT_REQUIRE_GPU";

static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();

/// The shared GPU context, or `None` (after printing that the test is skipped) when there is no
/// adapter. With `REWARDKIT_REQUIRE_GPU=1` a missing adapter panics instead, so CI cannot skip.
pub fn context(test: &str) -> Option<&'static GpuContext> {
    let ctx = CTX.get_or_init(|| match GpuContext::new_blocking() {
        Ok(ctx) => {
            eprintln!(
                "GPU tests run on: {} ({:?})",
                ctx.adapter_name(),
                ctx.adapter_info().backend
            );
            Some(ctx)
        }
        Err(e) => {
            assert!(
                std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
                "{REQUIRE_ENV}=1 but no GPU adapter: {e}"
            );
            eprintln!("no GPU adapter ({e})");
            None
        }
    });
    if ctx.is_none() {
        eprintln!("skipped: {test} (no GPU adapter)");
    }
    ctx.as_ref()
}

/// Uploads f32 values.
pub fn up(ctx: &GpuContext, x: &[f32]) -> GpuBuffer<f32> {
    ctx.upload(x).expect("upload")
}

/// Uploads u32 values.
pub fn up_u32(ctx: &GpuContext, x: &[u32]) -> GpuBuffer<u32> {
    ctx.upload(x).expect("upload")
}

/// Reads a buffer back as f64.
pub fn down(ctx: &GpuContext, b: &GpuBuffer<f32>) -> Vec<f64> {
    ctx.read_blocking(b)
        .expect("read")
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Asserts `|got − want| <= bound` element-wise, naming the first failure.
#[track_caller]
pub fn assert_within(what: &str, got: &[f64], want: &[f64], bound: impl Fn(usize) -> f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let b = bound(i);
        assert!(
            (g - w).abs() <= b,
            "{what}[{i}]: gpu {g} vs cpu {w} (|diff| {} > bound {b})",
            (g - w).abs()
        );
    }
}

/// Asserts `|got − want| <= atol + rtol·|want|` element-wise.
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_within(what, got, want, |i| atol + rtol * want[i].abs());
}

/// Unit roundoff of f32.
pub const U32: f64 = f32::EPSILON as f64 / 2.0;

/// A deterministic uniform generator in `[lo, hi)` for kernel inputs whose distribution does not
/// matter (shapes come from proptest).
pub fn fill(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            (lo + (hi - lo) * u) as f32
        })
        .collect()
}

/// `true` for the core's error variant wrapped by the GPU error.
pub fn is_core(e: &GpuError) -> bool {
    matches!(e, GpuError::Core(_))
}

/// The `f64` oracle of a GPU policy loss: the same core [`PolicyLoss`] with every parameter
/// widened exactly from `f32` (read through the getters), so clip boundaries and clamps sit at the
/// same values on both sides.
///
/// # Panics
/// Never for a loss built by the core's setters (a widened valid parameter is valid).
pub fn widen_loss(l: &PolicyLoss<f32>) -> PolicyLoss<f64> {
    let f = f64::from;
    let (lo, hi) = l.clip();
    let (tp, tn) = l.sapo_tau();
    let (kp, lp, kn, ln) = l.vespo();
    let (ratio, lb, ub) = l.cov();
    PolicyLoss::<f64>::new(l.kind())
        .with_clip(f(lo), f(hi))
        .and_then(|x| x.with_dual_clip(l.dual_clip().map(f)))
        .and_then(|x| x.with_delta(l.delta().map(f)))
        .and_then(|x| x.with_log_ratio_clamp(l.log_ratio_clamp().map(f)))
        .and_then(|x| x.with_seq_log_ratio_max(l.seq_log_ratio_max().map(f)))
        .and_then(|x| x.with_truncation(f(l.truncation())))
        .and_then(|x| x.with_sapo_tau(f(tp), f(tn)))
        .and_then(|x| x.with_dro_beta(f(l.dro_beta())))
        .and_then(|x| x.with_vespo(f(kp), f(lp), f(kn), f(ln)))
        .and_then(|x| x.with_len_eps(f(l.len_eps())))
        .and_then(|x| x.with_cov(f(ratio), f(lb), f(ub)))
        .and_then(|x| x.with_kl_cov_coef(f(l.kl_cov_coef())))
        .and_then(|x| x.with_entropy_coef(f(l.entropy_coef())))
        .map(|x| x.with_kl(l.kl().map(|t| widen_kl_term(&t))))
        .expect("a widened valid loss is valid")
}

/// [`widen_loss`] for a KL penalty.
pub fn widen_penalty(p: &KlPenalty<f32>) -> KlPenalty<f64> {
    KlPenalty::<f64>::new(p.estimator())
        .with_straight_through(p.straight_through())
        .with_log_ratio_clamp(p.log_ratio_clamp().map(f64::from))
        .and_then(|x| x.with_value_clamp(p.value_clamp().map(f64::from)))
        .expect("a widened valid penalty is valid")
}

/// [`widen_loss`] for a KL term.
pub fn widen_kl_term(t: &KlTerm<f32>) -> KlTerm<f64> {
    KlTerm::new(widen_penalty(&t.penalty()), f64::from(t.coef()))
        .expect("a widened valid coefficient is valid")
        .with_importance_weighted(t.importance_weighted())
}

/// [`widen_loss`] for whitening parameters.
pub fn widen_whiten(w: &Whiten<f32>) -> Whiten<f64> {
    let x = Whiten::<f64>::new(
        w.shift_mean(),
        w.unbiased(),
        f64::from(w.eps()),
        w.eps_mode(),
    )
    .and_then(|x| x.with_count_eps(f64::from(w.count_eps())))
    .expect("widened valid whitening parameters are valid");
    if w.scale_by_std() { x } else { x.mean_only() }
}
