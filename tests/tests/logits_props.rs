//! Properties and gradient checks of `rewardkit_core::logits`: token log-probabilities, entropy,
//! full-vocabulary KL, (log-)softmax; the accumulating backward passes (several terms into one
//! buffer equal the sum of their separate gradients); one test per documented error.

use proptest::prelude::*;
use rewardkit_core::logits::{
    RowStats, entropy_backward, entropy_forward, full_kl_backward, full_kl_forward,
    log_softmax_backward, log_softmax_forward, logprobs_backward, logprobs_forward, logsumexp_rows,
    row_stats, softmax_backward, softmax_forward,
};
use rewardkit_core::{Error, stats};
use rewardkit_tests::approx_eq::{assert_all_close, widen};
use rewardkit_tests::fd::central_diff;

/// Forward values of the three per-row quantities (and their statistics) in `f64`.
fn entropy(z: &[f64], v: usize) -> (Vec<f64>, Vec<RowStats>) {
    let n = z.len() / v;
    let (mut h, mut s) = (vec![0.0; n], vec![RowStats::default(); n]);
    entropy_forward(&mut h, &mut s, z, v).unwrap();
    (h, s)
}

fn full_kl(z: &[f64], zr: &[f64], v: usize) -> (Vec<f64>, Vec<RowStats>, Vec<RowStats>) {
    let n = z.len() / v;
    let (mut k, mut s, mut sr) = (
        vec![0.0; n],
        vec![RowStats::default(); n],
        vec![RowStats::default(); n],
    );
    full_kl_forward(&mut k, &mut s, &mut sr, z, zr, v).unwrap();
    (k, s, sr)
}

fn logprobs(z: &[f64], ids: &[u32], v: usize) -> (Vec<f64>, Vec<RowStats>) {
    let n = z.len() / v;
    let (mut lp, mut s) = (vec![0.0; n], vec![RowStats::default(); n]);
    logprobs_forward(&mut lp, &mut s, z, ids, v).unwrap();
    (lp, s)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn full_kl_and_entropy_gradients(z in prop::collection::vec(-3.0..3.0f64, 6), zr in prop::collection::vec(-3.0..3.0f64, 6), up in prop::collection::vec(-2.0..2.0f64, 2)) {
        // Two rows of V = 3.
        let v = 3;
        let (k, s, sr) = full_kl(&z, &zr, v);
        let mut g = vec![0.0; 6];
        full_kl_backward(&mut g, &up, &z, &zr, &s, &sr, &k, v).unwrap();
        let f = |x: &[f64]| dot(&full_kl(x, &zr, v).0, &up);
        assert_all_close("full KL grad", &g, &central_diff(&z, 1e-6, f), 1e-6, 1e-7);
        let (h, s) = entropy(&z, v);
        let mut g = vec![0.0; 6];
        entropy_backward(&mut g, &up, &z, &s, &h, v).unwrap();
        let f = |x: &[f64]| dot(&entropy(x, v).0, &up);
        assert_all_close("entropy grad", &g, &central_diff(&z, 1e-6, f), 1e-6, 1e-7);
        // Ranges: 0 <= H <= ln V; KL >= 0, and 0 for logits equal up to a shift.
        prop_assert!(h.iter().all(|&x| (0.0..=3f64.ln() + 1e-12).contains(&x)));
        let shifted: Vec<f64> = z.iter().map(|x| x + 1.7).collect();
        prop_assert!(full_kl(&z, &shifted, v).0.iter().all(|x| x.abs() < 1e-12));
        // f32 vs f64 on the same rounded inputs, values and gradients.
        let z32: Vec<f32> = z.iter().map(|&x| x as f32).collect();
        let zr32: Vec<f32> = zr.iter().map(|&x| x as f32).collect();
        let up32: Vec<f32> = up.iter().map(|&x| x as f32).collect();
        let (mut k32, mut s32, mut sr32) = ([0.0f32; 2], [RowStats::default(); 2], [RowStats::default(); 2]);
        full_kl_forward(&mut k32, &mut s32, &mut sr32, &z32, &zr32, v).unwrap();
        let (k64, s64, sr64) = full_kl(&widen(&z32), &widen(&zr32), v);
        assert_all_close("full KL f32", &widen(&k32), &k64, 1e-5, 1e-6);
        // Row statistics are computed in f64 from the f32 logits: identical.
        prop_assert_eq!(&s32[..], &s64[..]);
        prop_assert_eq!(&sr32[..], &sr64[..]);
        let mut g32 = [0.0f32; 6];
        full_kl_backward(&mut g32, &up32, &z32, &zr32, &s32, &sr32, &k32, v).unwrap();
        let mut g64 = [0.0f64; 6];
        full_kl_backward(&mut g64, &widen(&up32), &widen(&z32), &widen(&zr32), &s64, &sr64, &k64, v).unwrap();
        assert_all_close("full KL grad f32", &widen(&g32), &g64, 1e-5, 1e-6);
    }

    #[test]
    fn logprobs_gradient_shift_invariance_and_f32(
        v in 2..7usize,
        z in prop::collection::vec(-6.0..6.0f64, 3 * 6),
        ids in prop::collection::vec(0..6u32, 3),
        up in prop::collection::vec(-2.0..2.0f64, 3),
        shift in -50.0..50.0f64,
    ) {
        // Three rows of V logits; ids folded into the vocabulary.
        let z = &z[..3 * v];
        let ids: Vec<u32> = ids.iter().map(|&i| i % v as u32).collect();
        let (lp, s) = logprobs(z, &ids, v);
        prop_assert!(lp.iter().all(|&x| x <= 0.0));
        // Against the definition: log softmax via exp/ln of the row.
        for (r, (&x, &id)) in lp.iter().zip(&ids).enumerate() {
            let row = &z[r * v..(r + 1) * v];
            let sum: f64 = row.iter().map(|y| y.exp()).sum();
            prop_assert!((x - (row[id as usize] - sum.ln())).abs() < 1e-12, "{x}");
        }
        // Gradient of Σ gₙ·log π(idₙ) against central differences; each row sums to zero.
        let mut g = vec![0.0; 3 * v];
        logprobs_backward(&mut g, &up, z, &s, &ids, v).unwrap();
        let f = |x: &[f64]| dot(&logprobs(x, &ids, v).0, &up);
        assert_all_close("logprobs grad", &g, &central_diff(z, 1e-6, f), 1e-6, 1e-7);
        for row in g.chunks(v) {
            prop_assert!(row.iter().sum::<f64>().abs() < 1e-12);
        }
        // A shift of the logits changes nothing.
        let zs: Vec<f64> = z.iter().map(|x| x + shift).collect();
        assert_all_close("shift", &logprobs(&zs, &ids, v).0, &lp, 1e-12, 1e-12);
        // f32 against f64 on the same (rounded) inputs.
        let z32: Vec<f32> = z.iter().map(|&x| x as f32).collect();
        let up32: Vec<f32> = up.iter().map(|&x| x as f32).collect();
        let (mut l32, mut s32, mut g32) = ([0.0f32; 3], [RowStats::default(); 3], vec![0.0f32; 3 * v]);
        logprobs_forward(&mut l32, &mut s32, &z32, &ids, v).unwrap();
        logprobs_backward(&mut g32, &up32, &z32, &s32, &ids, v).unwrap();
        let (l64, s64) = logprobs(&widen(&z32), &ids, v);
        let mut g64 = vec![0.0f64; 3 * v];
        logprobs_backward(&mut g64, &widen(&up32), &widen(&z32), &s64, &ids, v).unwrap();
        assert_all_close("logprobs f32", &widen(&l32), &l64, 1e-5, 1e-6);
        assert_all_close("logprobs grad f32", &widen(&g32), &g64, 1e-5, 1e-6);
    }

    /// The llm.c pattern: a policy loss through log-probabilities, a full-vocabulary KL and an
    /// entropy bonus accumulate into one buffer. The result equals the sum of the separate
    /// gradients, and the central differences of the summed objective.
    #[test]
    fn backward_passes_accumulate(
        z in prop::collection::vec(-3.0..3.0f64, 8),
        zr in prop::collection::vec(-3.0..3.0f64, 8),
        ids in prop::collection::vec(0..4u32, 2),
        gl in prop::collection::vec(-2.0..2.0f64, 2),
        (gk, gh) in (-1.0..1.0f64, -1.0..1.0f64),
        masked in any::<bool>(),
    ) {
        let v = 4;
        // Upstreams: row 1 may be a masked position (0 upstream from every term).
        let mut g_lp = gl.clone();
        let (mut g_kl, mut g_h) = (vec![gk, gk], vec![gh, gh]);
        if masked {
            g_lp[1] = 0.0;
            g_kl[1] = 0.0;
            g_h[1] = 0.0;
        }
        let (_, s) = logprobs(&z, &ids, v);
        let (k, ks, kr) = full_kl(&z, &zr, v);
        let (h, hs) = entropy(&z, v);
        prop_assert_eq!(&s, &ks); // one row statistic per row, whichever forward computed it
        prop_assert_eq!(&s, &hs);
        let mut all = vec![0.0; 8];
        logprobs_backward(&mut all, &g_lp, &z, &s, &ids, v).unwrap();
        full_kl_backward(&mut all, &g_kl, &z, &zr, &s, &kr, &k, v).unwrap();
        entropy_backward(&mut all, &g_h, &z, &s, &h, v).unwrap();
        let sep = |f: &dyn Fn(&mut [f64])| { let mut g = vec![0.0; 8]; f(&mut g); g };
        let a = sep(&|g| logprobs_backward(g, &g_lp, &z, &s, &ids, v).unwrap());
        let b = sep(&|g| full_kl_backward(g, &g_kl, &z, &zr, &s, &kr, &k, v).unwrap());
        let c = sep(&|g| entropy_backward(g, &g_h, &z, &s, &h, v).unwrap());
        let sum: Vec<f64> = (0..8).map(|i| a[i] + b[i] + c[i]).collect();
        assert_all_close("accumulated = Σ separate", &all, &sum, 1e-15, 1e-15);
        let obj = |x: &[f64]| {
            dot(&logprobs(x, &ids, v).0, &g_lp) + dot(&full_kl(x, &zr, v).0, &g_kl) + dot(&entropy(x, v).0, &g_h)
        };
        assert_all_close("accumulated FD", &all, &central_diff(&z, 1e-6, obj), 1e-6, 1e-7);
        if masked {
            prop_assert!(all[4..].iter().all(|&x| x == 0.0)); // the masked row is untouched
        }
    }

    #[test]
    fn softmax_and_log_softmax_backward(
        z in prop::collection::vec(-4.0..4.0f64, 6),
        up in prop::collection::vec(-2.0..2.0f64, 6),
        c in -100.0..100.0f64,
    ) {
        let v = 3;
        let (mut lp, mut p, mut s) = (vec![0.0; 6], vec![0.0; 6], vec![RowStats::default(); 2]);
        log_softmax_forward(&mut lp, &mut s, &z, v).unwrap();
        softmax_forward(&mut p, &mut s, &z, v).unwrap();
        for (a, b) in lp.iter().zip(&p) {
            prop_assert!((a.exp() - b).abs() < 1e-15);
        }
        // logsumexp rows: the statistics, and shift-equivariant.
        let mut l = [0.0; 2];
        logsumexp_rows(&mut l, &z, v).unwrap();
        let zc: Vec<f64> = z.iter().map(|x| x + c).collect();
        let mut lc = [0.0; 2];
        logsumexp_rows(&mut lc, &zc, v).unwrap();
        for r in 0..2 {
            prop_assert_eq!(l[r], s[r].logsumexp());
            prop_assert!((lc[r] - l[r] - c).abs() <= 1e-12 * (1.0 + c.abs()));
        }
        let mut g = vec![0.0; 6];
        log_softmax_backward(&mut g, &up, &z, &s, v).unwrap();
        let f = |x: &[f64]| { let mut o = vec![0.0; 6]; let mut t = vec![RowStats::default(); 2]; log_softmax_forward(&mut o, &mut t, x, v).unwrap(); dot(&o, &up) };
        assert_all_close("log-softmax grad", &g, &central_diff(&z, 1e-6, f), 1e-6, 1e-7);
        let mut g = vec![0.0; 6];
        softmax_backward(&mut g, &up, &z, &s, v).unwrap();
        let f = |x: &[f64]| { let mut o = vec![0.0; 6]; let mut t = vec![RowStats::default(); 2]; softmax_forward(&mut o, &mut t, x, v).unwrap(); dot(&o, &up) };
        assert_all_close("softmax grad", &g, &central_diff(&z, 1e-6, f), 1e-6, 1e-7);
        // f32 against f64 on the same rounded inputs: forward values and both backward passes,
        // and the entropy backward.
        let z32: Vec<f32> = z.iter().map(|&x| x as f32).collect();
        let up32: Vec<f32> = up.iter().map(|&x| x as f32).collect();
        let (z64, up64) = (widen(&z32), widen(&up32));
        let (mut o32, mut s32) = (vec![0.0f32; 6], vec![RowStats::default(); 2]);
        let (mut o64, mut s64) = (vec![0.0f64; 6], vec![RowStats::default(); 2]);
        log_softmax_forward(&mut o32, &mut s32, &z32, v).unwrap();
        log_softmax_forward(&mut o64, &mut s64, &z64, v).unwrap();
        assert_all_close("log-softmax f32", &widen(&o32), &o64, 1e-6, 1e-6);
        let (mut g32, mut g64) = (vec![0.0f32; 6], vec![0.0f64; 6]);
        log_softmax_backward(&mut g32, &up32, &z32, &s32, v).unwrap();
        log_softmax_backward(&mut g64, &up64, &z64, &s64, v).unwrap();
        softmax_backward(&mut g32, &up32, &z32, &s32, v).unwrap();
        softmax_backward(&mut g64, &up64, &z64, &s64, v).unwrap();
        assert_all_close("(log-)softmax grads f32", &widen(&g32), &g64, 1e-5, 1e-6);
        let (mut h32, mut h64) = ([0.0f32; 2], [0.0f64; 2]);
        entropy_forward(&mut h32, &mut s32, &z32, v).unwrap();
        entropy_forward(&mut h64, &mut s64, &z64, v).unwrap();
        let (mut e32, mut e64) = (vec![0.0f32; 6], vec![0.0f64; 6]);
        entropy_backward(&mut e32, &up32[..2], &z32, &s32, &h32, v).unwrap();
        entropy_backward(&mut e64, &up64[..2], &z64, &s64, &h64, v).unwrap();
        assert_all_close("entropy f32", &widen(&h32), &h64, 1e-6, 1e-6);
        assert_all_close("entropy grad f32", &widen(&e32), &e64, 1e-5, 1e-6);
    }
}

#[test]
fn bad_input() {
    let mut v = [0.0f64; 2];
    let mut s = [RowStats::default(); 2];
    let mut sr = [RowStats::default(); 2];
    // Shapes.
    assert!(matches!(
        entropy_forward(&mut v, &mut s, &[0.0, 0.0, 0.0], 2),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        row_stats(&mut s, &[0.0; 4], 0),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        row_stats::<f64>(&mut s, &[], 2),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        row_stats(&mut s[..1], &[0.0; 4], 2),
        Err(Error::LengthMismatch { what: "stats", .. })
    ));
    assert!(matches!(
        entropy_forward(&mut v[..1], &mut s, &[0.0; 4], 2),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert!(matches!(
        log_softmax_forward(&mut v, &mut s, &[0.0; 4], 2),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    // Values.
    assert_eq!(
        entropy_forward(&mut v[..1], &mut s[..1], &[f64::INFINITY, 0.0], 2),
        Err(Error::NonFinite {
            what: "logits",
            index: 0
        })
    );
    assert!(matches!(
        entropy_forward(
            &mut v[..1],
            &mut s[..1],
            &[f64::NEG_INFINITY, f64::NEG_INFINITY],
            2
        ),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        full_kl_forward(
            &mut v[..1],
            &mut s[..1],
            &mut sr[..1],
            &[0.0, 0.0],
            &[0.0, f64::NEG_INFINITY],
            2
        ),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        full_kl_forward(
            &mut v[..1],
            &mut s[..1],
            &mut sr[..1],
            &[0.0, 0.0],
            &[0.0, f64::NAN],
            2
        ),
        Err(Error::NonFinite {
            what: "ref_logits",
            index: 1
        })
    ));
    assert!(matches!(
        full_kl_forward(
            &mut v[..1],
            &mut s[..1],
            &mut sr[..1],
            &[0.0, 0.0],
            &[0.0],
            2
        ),
        Err(Error::LengthMismatch {
            what: "ref_logits",
            ..
        })
    ));
    // Token log-probabilities: one case per documented error.
    let mut lp = [0.0f64; 2];
    assert!(matches!(
        logprobs_forward(&mut lp, &mut s, &[0.0; 3], &[0, 0], 2),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        logprobs_forward(&mut lp, &mut s, &[], &[], 2),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        logprobs_forward(&mut lp, &mut s, &[0.0; 4], &[0], 2),
        Err(Error::LengthMismatch { what: "ids", .. })
    ));
    assert!(matches!(
        logprobs_forward(&mut lp[..1], &mut s, &[0.0; 4], &[0, 0], 2),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert_eq!(
        logprobs_forward(&mut lp, &mut s, &[0.0, 0.0, 0.0, f64::NAN], &[0, 0], 2),
        Err(Error::NonFinite {
            what: "logits",
            index: 3
        })
    );
    assert_eq!(
        logprobs_forward(&mut lp, &mut s, &[0.0; 4], &[1, 2], 2),
        Err(Error::TokenOutOfRange {
            index: 1,
            id: 2,
            vocab: 2
        })
    );
    assert!(matches!(
        logprobs_forward(
            &mut lp,
            &mut s,
            &[0.0, 0.0, 0.0, f64::NEG_INFINITY],
            &[0, 1],
            2
        ),
        Err(Error::Overflow { .. })
    ));
    // Backward passes.
    let z = [0.0f64; 4];
    let ok = [RowStats::of(&z[..2]).unwrap(); 2];
    let mut gl = [0.0f64; 4];
    assert!(matches!(
        logprobs_backward(&mut gl, &[1.0, f64::NAN], &z, &ok, &[0, 0], 2),
        Err(Error::NonFinite {
            what: "grad_out",
            ..
        })
    ));
    assert!(matches!(
        logprobs_backward(&mut gl[..3], &[1.0, 1.0], &z, &ok, &[0, 0], 2),
        Err(Error::LengthMismatch {
            what: "grad_logits",
            ..
        })
    ));
    assert!(matches!(
        logprobs_backward(&mut gl, &[1.0], &z, &ok, &[0, 0], 2),
        Err(Error::LengthMismatch {
            what: "grad_out",
            ..
        })
    ));
    assert!(matches!(
        logprobs_backward(&mut gl, &[1.0, 1.0], &z, &ok, &[0, 9], 2),
        Err(Error::TokenOutOfRange { id: 9, .. })
    ));
    let bad = [
        ok[0],
        RowStats {
            max: 0.0,
            ln_sum: f64::NAN,
        },
    ];
    assert_eq!(
        logprobs_backward(&mut gl, &[1.0, 1.0], &z, &bad, &[0, 0], 2),
        Err(Error::NonFinite {
            what: "stats",
            index: 1
        })
    );
    assert!(matches!(
        logprobs_backward(&mut gl, &[1.0, 1.0], &z, &ok[..1], &[0, 0], 2),
        Err(Error::LengthMismatch { what: "stats", .. })
    ));
    assert_eq!(
        entropy_backward(&mut gl, &[1.0, 1.0], &z, &ok, &[0.5, f64::NAN], 2),
        Err(Error::NonFinite {
            what: "entropy",
            index: 1
        })
    );
    assert_eq!(
        full_kl_backward(&mut gl, &[1.0, 1.0], &z, &z, &ok, &bad, &[0.0, 0.0], 2),
        Err(Error::NonFinite {
            what: "ref_stats",
            index: 1
        })
    );
    assert_eq!(
        full_kl_backward(
            &mut gl,
            &[1.0, 1.0],
            &z,
            &z,
            &ok,
            &ok,
            &[f64::INFINITY, 0.0],
            2
        ),
        Err(Error::NonFinite {
            what: "kl",
            index: 0
        })
    );
    assert!(matches!(
        full_kl_backward(&mut gl, &[1.0], &z, &z, &ok, &ok, &[0.0, 0.0], 2),
        Err(Error::LengthMismatch {
            what: "grad_out",
            ..
        })
    ));
    assert!(matches!(
        log_softmax_backward(&mut gl, &[1.0; 3], &z, &ok, 2),
        Err(Error::LengthMismatch {
            what: "grad_out",
            ..
        })
    ));
    assert!(matches!(
        softmax_backward(&mut gl, &[1.0, 1.0, 1.0, f64::NAN], &z, &ok, 2),
        Err(Error::NonFinite {
            what: "grad_out",
            index: 3
        })
    ));
    // An accumulated gradient that overflows (the buffer already held f32::MAX).
    let mut g32 = [f32::MAX, 0.0];
    assert!(matches!(
        logprobs_backward(
            &mut g32,
            &[-f32::MAX],
            &[0.0f32, 0.0],
            &[RowStats::of(&[0.0f32, 0.0]).unwrap()],
            &[1],
            2
        ),
        Err(Error::Overflow {
            what: "logits gradient"
        })
    ));
}

#[test]
fn literal_values() {
    // Full KL of π = (1/2, 1/2) from π_ref = (1/4, 3/4): ½ ln 2 + ½ ln(2/3).
    let (k, ..) = full_kl(&[0.0, 0.0], &[0.0, 3f64.ln()], 2);
    assert!((k[0] - (0.5 * 2f64.ln() + 0.5 * (2.0f64 / 3.0).ln())).abs() < 1e-15);
    // Its gradient: π_v·(log π_v − log π_ref,v − KL) = ½·(ln 2 − KL), ½·(ln(2/3) − KL).
    let (k, s, sr) = full_kl(&[0.0, 0.0], &[0.0, 3f64.ln()], 2);
    let mut g = [0.0; 2];
    full_kl_backward(
        &mut g,
        &[1.0],
        &[0.0, 0.0],
        &[0.0, 3f64.ln()],
        &s,
        &sr,
        &k,
        2,
    )
    .unwrap();
    assert!((g[0] - 0.5 * (2f64.ln() - k[0])).abs() < 1e-15);
    assert!((g[1] - 0.5 * ((2.0f64 / 3.0).ln() - k[0])).abs() < 1e-15);
    // Entropy gradient at π = (1/4, 3/4): −π_v·(log π_v + H).
    let z = [0.0, 3f64.ln()];
    let (h, s) = entropy(&z, 2);
    let mut g = [0.0; 2];
    entropy_backward(&mut g, &[1.0], &z, &s, &h, 2).unwrap();
    let hh = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    assert!((g[0] + 0.25 * (0.25f64.ln() + hh)).abs() < 1e-15);
    assert!((g[1] + 0.75 * (0.75f64.ln() + hh)).abs() < 1e-15);
    // The single-vector functions are the one-row case.
    let mut p = [0.0; 2];
    stats::softmax(&mut p, &z).unwrap();
    assert_all_close("softmax", &p, &[0.25, 0.75], 1e-15, 1e-16);
    assert!((stats::logsumexp(&z).unwrap() - 4f64.ln()).abs() < 1e-15);
}

#[test]
fn fuzz_regressions() {
    // fuzz/kl crash: logits of magnitude 3e32. `max + ln Σ` absorbed ln Σ, so every log-probability
    // came out as 0 (KL 0 instead of ln 3, and an f32 overflow in the next row). Log-probabilities
    // are now (z − max) − ln Σ.
    let z = [
        3.177_232_1e32f32,
        3.111_560_2e32,
        3.111_560_2e32,
        3.111_560_2e32,
        3.111_560_2e32,
        3.111_560_2e32,
    ];
    let zr = [
        3.111_560_2e32f32,
        3.111_560_2e32,
        3.107_648_3e32,
        3.111_560_2e32,
        2.030_387_7e-22,
        1.283_005_8e-22,
    ];
    let (mut out, mut s, mut sr) = ([0.0f32], [RowStats::default()], [RowStats::default()]);
    full_kl_forward(&mut out, &mut s, &mut sr, &z, &zr, 6).unwrap();
    assert!((out[0] - 3f32.ln()).abs() < 1e-6, "{out:?}");
    // An entropy of six equal huge logits is ln 6, not 0.
    let mut h = [0.0f32];
    entropy_forward(&mut h, &mut s, &[3.1e32f32; 6], 6).unwrap();
    assert!((h[0] - 6f32.ln()).abs() < 1e-6, "{h:?}");
    // log_softmax of one vector shares the precision (it used x − logsumexp(x) before).
    // (Two equal logits of 3.1e32: x − logsumexp(x) gave 0 for both, f64 absorbing ln 2.)
    let mut lp = [0.0f32; 2];
    stats::log_softmax(&mut lp, &[3.1e32f32; 2]).unwrap();
    assert_eq!(lp, [-2f32.ln(); 2]);
}
