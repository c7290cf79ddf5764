//! Literal tests and central finite-difference gradient checks for every op, on tiny sizes.
//!
//! Each FD check uses the scalar `L = Σ w ⊙ out` with fixed random `w` (so `dout = w`), perturbs
//! one input at a time by `±h` and compares `(L(x+h) − L(x−h))/2h` (accumulated in `f64`) with
//! the backward pass.

use super::*;
use rewardkit_core::rng::{RandomSource, SplitMix64};

fn randn(rng: &mut SplitMix64, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) as f32) * scale)
        .collect()
}

fn dot(w: &[f32], x: &[f32]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

/// Central FD of `loss` with respect to every element of `x`, compared with `grad`.
fn fd_check(
    name: &str,
    x: &mut [f32],
    grad: &[f32],
    h: f32,
    tol: f64,
    mut loss: impl FnMut(&[f32]) -> f64,
) {
    assert_eq!(x.len(), grad.len(), "{name}: gradient length");
    let mut worst = 0.0f64;
    for i in 0..x.len() {
        let orig = x[i];
        x[i] = orig + h;
        let lp = loss(x);
        x[i] = orig - h;
        let lm = loss(x);
        x[i] = orig;
        let fd = (lp - lm) / (2.0 * f64::from(h));
        let an = f64::from(grad[i]);
        let err = (fd - an).abs() / (1.0 + fd.abs().max(an.abs()));
        worst = worst.max(err);
        assert!(
            err < tol,
            "{name}[{i}]: finite difference {fd} vs backward {an} (relative error {err})"
        );
    }
    assert!(worst.is_finite(), "{name}: no comparisons");
}

#[test]
fn encoder_fd() {
    let (b, t, c, v, max_t) = (2, 3, 4, 5, 4);
    let mut rng = SplitMix64::new(1);
    let tokens = [0u32, 4, 2, 2, 1, 3];
    let wte = randn(&mut rng, v * c, 1.0);
    let mut wpe = randn(&mut rng, max_t * c, 1.0);
    let w = randn(&mut rng, b * t * c, 1.0);
    let (mut dwte, mut dwpe) = (vec![0.0; v * c], vec![0.0; max_t * c]);
    encoder_backward(&mut dwte, &mut dwpe, &w, &tokens, b, t, c).unwrap();
    let mut out = vec![0.0; b * t * c];
    let wpe0 = wpe.clone();
    fd_check("dwte", &mut wte.clone(), &dwte, 1e-2, 1e-3, |x| {
        encoder_forward(&mut out, &tokens, x, &wpe0, b, t, c).unwrap();
        dot(&w, &out)
    });
    let wte0 = wte.clone();
    fd_check("dwpe", &mut wpe, &dwpe, 1e-2, 1e-3, |x| {
        encoder_forward(&mut out, &tokens, &wte0, x, b, t, c).unwrap();
        dot(&w, &out)
    });
    // Token 4 appears once (row 1), token 2 twice (rows 2 and 3): the gradient accumulates.
    for k in 0..c {
        assert_eq!(dwte[4 * c + k], w[c + k]);
        assert_eq!(dwte[2 * c + k], w[2 * c + k] + w[3 * c + k]);
    }
}

#[test]
fn encoder_errors() {
    let mut out = [0.0f32; 4];
    let (wte, wpe) = ([0.0f32; 4], [0.0f32; 4]);
    assert_eq!(
        encoder_forward(&mut out, &[2, 0], &wte, &wpe, 1, 2, 2),
        Err(Error::TokenOutOfRange {
            index: 0,
            id: 2,
            vocab: 2
        })
    );
    assert!(matches!(
        encoder_forward(&mut out, &[0, 0], &wte, &wpe[..2], 1, 2, 2),
        Err(Error::LengthMismatch { what: "wpe", .. })
    ));
    assert!(matches!(
        encoder_forward(&mut out, &[0, 0], &wte[..3], &wpe, 1, 2, 2),
        Err(Error::BadShape { what: "wte", .. })
    ));
    let (mut dwte, mut dwpe) = ([0.0f32; 4], [0.0f32; 4]);
    assert!(matches!(
        encoder_backward(&mut dwte, &mut dwpe, &[0.0; 3], &[0, 0], 1, 2, 2),
        Err(Error::LengthMismatch { what: "dout", .. })
    ));
}

#[test]
fn layernorm_literal() {
    // x = [1, 2, 3, 6]: μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5.
    let x = [1.0f32, 2.0, 3.0, 6.0];
    let (mut out, mut mean, mut rstd) = ([0.0f32; 4], [0.0f32; 1], [0.0f32; 1]);
    layernorm_forward(
        &mut out, &mut mean, &mut rstd, &x, &[2.0; 4], &[1.0; 4], 1, 4,
    )
    .unwrap();
    let r = 1.0 / (3.5f64 + 1e-5).sqrt();
    assert_eq!(mean[0], 3.0);
    assert!((f64::from(rstd[0]) - r).abs() < 1e-7);
    for (o, xi) in out.iter().zip(x) {
        let expect = (f64::from(xi) - 3.0) * r * 2.0 + 1.0;
        assert!((f64::from(*o) - expect).abs() < 1e-6, "{o} vs {expect}");
    }
}

#[test]
fn layernorm_fd() {
    let (n, c) = (3, 5);
    let mut rng = SplitMix64::new(2);
    let mut inp = randn(&mut rng, n * c, 2.0);
    let mut weight = randn(&mut rng, c, 1.0);
    let mut bias = randn(&mut rng, c, 1.0);
    let w = randn(&mut rng, n * c, 1.0);
    let (mut out, mut mean, mut rstd) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
    layernorm_forward(&mut out, &mut mean, &mut rstd, &inp, &weight, &bias, n, c).unwrap();
    let (mut dinp, mut dw, mut db) = (vec![0.0; n * c], vec![0.0; c], vec![0.0; c]);
    layernorm_backward(
        &mut dinp, &mut dw, &mut db, &w, &inp, &weight, &mean, &rstd, n, c,
    )
    .unwrap();
    let (i0, w0, b0) = (inp.clone(), weight.clone(), bias.clone());
    let run = |i: &[f32], wt: &[f32], bs: &[f32]| {
        let (mut o, mut m, mut r) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
        layernorm_forward(&mut o, &mut m, &mut r, i, wt, bs, n, c).unwrap();
        dot(&w, &o)
    };
    fd_check("ln dinp", &mut inp, &dinp, 1e-2, 5e-3, |x| run(x, &w0, &b0));
    fd_check("ln dweight", &mut weight, &dw, 1e-2, 5e-3, |x| {
        run(&i0, x, &b0)
    });
    fd_check("ln dbias", &mut bias, &db, 1e-2, 5e-3, |x| run(&i0, &w0, x));
}

#[test]
fn layernorm_errors() {
    let (mut out, mut mean, mut rstd) = ([0.0f32; 4], [0.0f32; 2], [0.0f32; 1]);
    assert!(matches!(
        layernorm_forward(
            &mut out, &mut mean, &mut rstd, &[0.0; 4], &[1.0; 2], &[0.0; 2], 2, 2
        ),
        Err(Error::LengthMismatch { what: "rstd", .. })
    ));
    let (mut di, mut dw, mut db) = ([0.0f32; 4], [0.0f32; 1], [0.0f32; 2]);
    assert!(matches!(
        layernorm_backward(
            &mut di, &mut dw, &mut db, &[0.0; 4], &[0.0; 4], &[1.0; 2], &[0.0; 2], &[1.0; 2], 2, 2
        ),
        Err(Error::LengthMismatch {
            what: "dweight",
            ..
        })
    ));
}

#[test]
fn matmul_literal() {
    // inp (2×3), W (2×3): out = inp·Wᵀ + b, computed by hand.
    let inp = [1.0f32, 2.0, 3.0, -1.0, 0.0, 2.0];
    let w = [1.0f32, 0.0, -1.0, 2.0, 1.0, 0.5];
    let mut out = [0.0f32; 4];
    matmul_forward(&mut out, &inp, &w, Some(&[0.5, -0.5]), 2, 3, 2).unwrap();
    assert_eq!(
        out,
        [
            1.0 - 3.0 + 0.5,
            2.0 + 2.0 + 1.5 - 0.5,
            -1.0 - 2.0 + 0.5,
            -2.0 + 1.0 - 0.5
        ]
    );
    matmul_forward(&mut out, &inp, &w, None, 2, 3, 2).unwrap();
    assert_eq!(out, [-2.0, 5.5, -3.0, -1.0]);
}

#[test]
fn matmul_fd() {
    // Sizes above the packing kernel's tile so the strided paths are exercised.
    let (n, c, oc) = (7, 9, 11);
    let mut rng = SplitMix64::new(3);
    let mut inp = randn(&mut rng, n * c, 1.0);
    let mut weight = randn(&mut rng, oc * c, 1.0);
    let mut bias = randn(&mut rng, oc, 1.0);
    let w = randn(&mut rng, n * oc, 1.0);
    let (mut di, mut dw, mut db) = (vec![0.0; n * c], vec![0.0; oc * c], vec![0.0; oc]);
    matmul_backward(&mut di, &mut dw, Some(&mut db), &w, &inp, &weight, n, c, oc).unwrap();
    let (i0, w0, b0) = (inp.clone(), weight.clone(), bias.clone());
    let run = |i: &[f32], wt: &[f32], bs: &[f32]| {
        let mut o = vec![0.0; n * oc];
        matmul_forward(&mut o, i, wt, Some(bs), n, c, oc).unwrap();
        dot(&w, &o)
    };
    fd_check("mm dinp", &mut inp, &di, 1e-2, 2e-3, |x| run(x, &w0, &b0));
    fd_check("mm dweight", &mut weight, &dw, 1e-2, 2e-3, |x| {
        run(&i0, x, &b0)
    });
    fd_check("mm dbias", &mut bias, &db, 1e-2, 2e-3, |x| run(&i0, &w0, x));
    // Accumulation: a second backward doubles every gradient.
    let (mut di2, mut dw2) = (di.clone(), dw.clone());
    matmul_backward(&mut di2, &mut dw2, None, &w, &i0, &w0, n, c, oc).unwrap();
    assert!(di2.iter().zip(&di).all(|(a, b)| (a - 2.0 * b).abs() < 1e-4));
    assert!(dw2.iter().zip(&dw).all(|(a, b)| (a - 2.0 * b).abs() < 1e-4));
}

#[test]
fn matmul_errors() {
    let mut out = [0.0f32; 2];
    assert!(matches!(
        matmul_forward(&mut out, &[1.0; 2], &[1.0; 3], None, 1, 2, 2),
        Err(Error::LengthMismatch { what: "weight", .. })
    ));
    assert!(matches!(
        matmul_forward(&mut out, &[1.0; 2], &[1.0; 4], Some(&[0.0]), 1, 2, 2),
        Err(Error::LengthMismatch { what: "bias", .. })
    ));
    let (mut di, mut dw, mut db) = ([0.0f32; 2], [0.0f32; 4], [0.0f32; 3]);
    assert!(matches!(
        matmul_backward(
            &mut di,
            &mut dw,
            Some(&mut db),
            &[1.0; 2],
            &[1.0; 2],
            &[1.0; 4],
            1,
            2,
            2
        ),
        Err(Error::LengthMismatch { what: "dbias", .. })
    ));
}

#[test]
fn attention_literal() {
    // B = 1, T = 2, C = 2, NH = 1: q₁·k₀ = 1·1 = 1, q₁·k₁ = 0 ⇒ scores [1/√2, 0].
    let qkv = [
        0.0f32, 0.0, 1.0, 0.0, 1.0, 2.0, // t = 0: q, k, v
        1.0, 0.0, 0.0, 1.0, 3.0, 4.0, // t = 1
    ];
    let (mut out, mut pre, mut att) = ([0.0f32; 4], [0.0f32; 4], [0.0f32; 4]);
    attention_forward(&mut out, &mut pre, &mut att, &qkv, 1, 2, 2, 1).unwrap();
    let s = 1.0f64 / 2f64.sqrt();
    let p0 = s.exp() / (s.exp() + 1.0);
    assert_eq!(&out[..2], &[1.0, 2.0]);
    assert!((f64::from(att[2]) - p0).abs() < 1e-6 && att[1] == 0.0 && pre[1] == 0.0);
    assert!((f64::from(out[2]) - (p0 * 1.0 + (1.0 - p0) * 3.0)).abs() < 1e-5);
    assert!((f64::from(out[3]) - (p0 * 2.0 + (1.0 - p0) * 4.0)).abs() < 1e-5);
}

#[test]
fn attention_fd() {
    let (b, t, c, nh) = (2, 4, 6, 2);
    let mut rng = SplitMix64::new(4);
    let mut qkv = randn(&mut rng, b * t * 3 * c, 1.0);
    let w = randn(&mut rng, b * t * c, 1.0);
    let n_att = b * nh * t * t;
    let (mut out, mut pre, mut att) = (vec![0.0; b * t * c], vec![0.0; n_att], vec![0.0; n_att]);
    attention_forward(&mut out, &mut pre, &mut att, &qkv, b, t, c, nh).unwrap();
    let (mut dqkv, mut dpre, mut datt) = (vec![0.0; qkv.len()], vec![0.0; n_att], vec![0.0; n_att]);
    attention_backward(&mut dqkv, &mut dpre, &mut datt, &w, &qkv, &att, b, t, c, nh).unwrap();
    // Rows sum to one, nothing above the diagonal.
    for (row, a) in att.chunks_exact(t).enumerate() {
        let ti = row % t;
        assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(a[ti + 1..].iter().all(|&x| x == 0.0));
    }
    fd_check("attn dqkv", &mut qkv, &dqkv, 1e-2, 3e-3, |x| {
        let (mut o, mut p, mut a) = (vec![0.0; b * t * c], vec![0.0; n_att], vec![0.0; n_att]);
        attention_forward(&mut o, &mut p, &mut a, x, b, t, c, nh).unwrap();
        dot(&w, &o)
    });
}

#[test]
fn attention_errors() {
    let (mut out, mut pre, mut att) = ([0.0f32; 3], [0.0f32; 2], [0.0f32; 2]);
    assert!(matches!(
        attention_forward(&mut out, &mut pre, &mut att, &[0.0; 9], 1, 1, 3, 2),
        Err(Error::BadShape { .. })
    ));
    assert!(matches!(
        attention_forward(&mut out, &mut pre, &mut att, &[0.0; 9], 1, 1, 3, 1),
        Err(Error::LengthMismatch { what: "preatt", .. })
    ));
    let (mut dq, mut dp, mut da) = ([0.0f32; 8], [0.0f32; 1], [0.0f32; 1]);
    assert!(matches!(
        attention_backward(
            &mut dq,
            &mut dp,
            &mut da,
            &[0.0; 3],
            &[0.0; 9],
            &[1.0],
            1,
            1,
            3,
            1
        ),
        Err(Error::LengthMismatch { what: "dqkv", .. })
    ));
}

#[test]
fn gelu_literal_and_fd() {
    // gelu(−1) = −½(1 − tanh(√(2/π)·1.044715)), by hand in f64.
    let mut out = [0.0f32; 1];
    gelu_forward(&mut out, &[-1.0], 1).unwrap();
    let expect = -0.5 * (1.0 - ((2.0 / std::f64::consts::PI).sqrt() * 1.044_715).tanh());
    assert!((f64::from(out[0]) - expect).abs() < 1e-6);
    let mut rng = SplitMix64::new(5);
    let mut x = randn(&mut rng, 16, 3.0);
    let w = randn(&mut rng, 16, 1.0);
    let mut d = vec![0.0; 16];
    gelu_backward(&mut d, &x, &w, 16).unwrap();
    fd_check("gelu", &mut x, &d, 1e-2, 1e-3, |x| {
        let mut o = vec![0.0; 16];
        gelu_forward(&mut o, x, 16).unwrap();
        dot(&w, &o)
    });
    assert!(matches!(
        gelu_forward(&mut out, &[0.0; 2], 2),
        Err(Error::LengthMismatch { what: "out", .. })
    ));
    assert!(matches!(
        gelu_backward(&mut d, &[0.0; 2], &[0.0; 2], 2),
        Err(Error::LengthMismatch { what: "dinp", .. })
    ));
}

#[test]
fn residual_literal_fd_and_errors() {
    let mut out = [0.0f32; 3];
    residual_forward(&mut out, &[1.0, 2.0, 3.0], &[-1.0, 0.5, 0.0], 3).unwrap();
    assert_eq!(out, [0.0, 2.5, 3.0]);
    let (mut da, mut db) = ([0.0f32; 3], [1.0f32; 3]);
    residual_backward(&mut da, &mut db, &[0.5, -1.0, 2.0], 3).unwrap();
    assert_eq!((da, db), ([0.5, -1.0, 2.0], [1.5, 0.0, 3.0]));
    // FD: L = Σ w·(a + b) has gradient w in both inputs.
    let w = [0.3f32, -0.7, 1.1];
    let (mut a, bb) = ([0.2f32, 0.4, -0.9], [1.0f32, 2.0, 3.0]);
    let (mut ga, mut gb) = ([0.0f32; 3], [0.0f32; 3]);
    residual_backward(&mut ga, &mut gb, &w, 3).unwrap();
    fd_check("residual", &mut a, &ga, 1e-2, 1e-4, |x| {
        let mut o = [0.0f32; 3];
        residual_forward(&mut o, x, &bb, 3).unwrap();
        dot(&w, &o)
    });
    assert!(matches!(
        residual_forward(&mut out, &[0.0; 2], &[0.0; 3], 3),
        Err(Error::LengthMismatch { what: "a", .. })
    ));
    assert!(matches!(
        residual_backward(&mut da, &mut db, &[0.0; 2], 3),
        Err(Error::LengthMismatch { what: "dout", .. })
    ));
}

#[test]
fn adamw_literal_two_steps() {
    // Hand-computed: g = 0.5 then −1, β₁ = 0.9, β₂ = 0.99, lr = 0.1, λ = 0.01, ε = 0.
    let (mut p, mut m, mut v) = ([2.0f32], [0.0f32], [0.0f32]);
    adamw(
        &mut p,
        &[0.5],
        &mut m,
        &mut v,
        1,
        0.1,
        0.9,
        0.99,
        0.0,
        0.01,
        1,
    )
    .unwrap();
    // m̂ = 0.5, v̂ = 0.25 ⇒ step = 1; θ = 2 − 0.1·(1 + 0.02) = 1.898.
    assert!((p[0] - 1.898).abs() < 1e-6, "{}", p[0]);
    adamw(
        &mut p,
        &[-1.0],
        &mut m,
        &mut v,
        2,
        0.1,
        0.9,
        0.99,
        0.0,
        0.01,
        1,
    )
    .unwrap();
    // m = 0.9·0.05 − 0.1 = −0.055, m̂ = −0.055/0.19; v = 0.99·0.0025 + 0.01 = 0.012475, v̂ = v/0.0199.
    let (mh, vh) = (-0.055f64 / 0.19, 0.012_475f64 / (1.0 - 0.99f64 * 0.99));
    let expect = 1.898 - 0.1 * (mh / vh.sqrt() + 0.01 * 1.898);
    assert!(
        (f64::from(p[0]) - expect).abs() < 1e-5,
        "{} vs {expect}",
        p[0]
    );
    assert!(matches!(
        adamw(
            &mut p,
            &[0.0],
            &mut m,
            &mut v,
            0,
            0.1,
            0.9,
            0.99,
            0.0,
            0.0,
            1
        ),
        Err(Error::InvalidParam { name: "step", .. })
    ));
    assert!(matches!(
        adamw(
            &mut p, &[0.0; 2], &mut m, &mut v, 1, 0.1, 0.9, 0.99, 0.0, 0.0, 1
        ),
        Err(Error::LengthMismatch { what: "grads", .. })
    ));
}

#[test]
fn exp_f32_against_f64() {
    // Dense grid over the clamped range plus the special points; relative error against f64.
    let mut worst = 0.0f64;
    let n = 200_000;
    for i in 0..=n {
        let x = -87.0 + 175.0 * i as f64 / n as f64;
        let x32 = x as f32;
        let want = f64::from(x32).exp();
        let got = f64::from(exp_f32(x32));
        worst = worst.max((got - want).abs() / want);
    }
    assert!(worst < 3e-7, "worst relative error {worst}");
    assert_eq!(exp_f32(0.0), 1.0);
    assert_eq!(exp_f32(-1e30), exp_f32(-87.0));
    assert_eq!(exp_f32(f32::INFINITY), exp_f32(88.0));
    assert!(exp_f32(88.0).is_finite() && exp_f32(-87.0) > 0.0);
    assert!(exp_f32(f32::NAN).is_nan());
}

#[test]
fn gelu_against_the_tanh_form_in_f64() {
    // gelu(x) = ½x(1 + tanh u) in f64 against the σ(2u) form with `exp_f32`, and the derivative.
    let s = (2.0 / std::f64::consts::PI).sqrt();
    let n = 20_001;
    let xs: Vec<f32> = (0..n)
        .map(|i| -12.0 + 24.0 * i as f32 / (n - 1) as f32)
        .collect();
    let mut out = vec![0.0f32; n];
    gelu_forward(&mut out, &xs, n).unwrap();
    let mut d = vec![0.0f32; n];
    gelu_backward(&mut d, &xs, &vec![1.0; n], n).unwrap();
    for ((&x, &o), &g) in xs.iter().zip(&out).zip(&d) {
        let x = f64::from(x);
        let u = s * (x + 0.044_715 * x.powi(3));
        let th = u.tanh();
        let want = 0.5 * x * (1.0 + th);
        let dwant =
            0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * s * (1.0 + 3.0 * 0.044_715 * x * x);
        assert!(
            (f64::from(o) - want).abs() < 1e-6 * (1.0 + x.abs()),
            "gelu({x}) = {o} vs {want}"
        );
        assert!(
            (f64::from(g) - dwant).abs() < 2e-6 * (1.0 + x.abs()),
            "gelu'({x}) = {g} vs {dwant}"
        );
    }
}

/// The bits of every output of `f`: 1 thread on the baseline build (no AVX2) against 3 threads
/// on the AVX2 build where the CPU has it.
fn same_bits_1_and_3<T: PartialEq + std::fmt::Debug>(name: &str, f: impl Fn() -> T) {
    let one = par::without_simd(|| par::with_threads(1, &f));
    let three = par::with_threads(3, &f);
    assert!(
        one == three,
        "{name}: 1 thread {one:?} vs 3 threads {three:?}"
    );
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn threaded_and_avx2_kernels_are_bit_identical_to_one_baseline_thread() {
    let mut rng = SplitMix64::new(23);
    // Sizes where every kernel splits into 3 blocks (at least 32 K elements of work).
    let (b, t, c, nh, v) = (16, 32, 256, 4, 9);
    let n = b * t;
    for (rows, work) in [(n, c), (c, n), (b, nh * t * t * c / nh), (n * c, 1)] {
        assert_eq!(par::with_threads(3, || blocks(rows, work)).len(), 3);
    }
    let x = randn(&mut rng, n * c, 2.0);
    let w = randn(&mut rng, c, 1.0);
    let bias = randn(&mut rng, c, 1.0);
    let dout = randn(&mut rng, n * c, 1.0);
    same_bits_1_and_3("layernorm_forward", || {
        let (mut o, mut m, mut r) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
        layernorm_forward(&mut o, &mut m, &mut r, &x, &w, &bias, n, c).unwrap();
        (bits(&o), bits(&m), bits(&r))
    });
    let (mut o, mut mean, mut rstd) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
    layernorm_forward(&mut o, &mut mean, &mut rstd, &x, &w, &bias, n, c).unwrap();
    same_bits_1_and_3("layernorm_backward", || {
        let (mut dx, mut dw, mut db) = (vec![0.5; n * c], vec![0.25; c], vec![-1.0; c]);
        layernorm_backward(&mut dx, &mut dw, &mut db, &dout, &x, &w, &mean, &rstd, n, c).unwrap();
        (bits(&dx), bits(&dw), bits(&db))
    });
    same_bits_1_and_3("gelu", || {
        let mut o = vec![0.0; n * c];
        gelu_forward(&mut o, &x, n * c).unwrap();
        let mut d = vec![0.1; n * c];
        gelu_backward(&mut d, &x, &dout, n * c).unwrap();
        (bits(&o), bits(&d))
    });
    same_bits_1_and_3("residual_forward", || {
        let mut o = vec![0.0; n * c];
        residual_forward(&mut o, &x, &dout, n * c).unwrap();
        bits(&o)
    });
    let qkv = randn(&mut rng, n * 3 * c, 1.0);
    same_bits_1_and_3("attention", || {
        let na = b * nh * t * t;
        let (mut o, mut pre, mut att) = (vec![0.0; n * c], vec![0.0; na], vec![0.0; na]);
        attention_forward(&mut o, &mut pre, &mut att, &qkv, b, t, c, nh).unwrap();
        let (mut dq, mut dp, mut da) = (vec![0.0; n * 3 * c], vec![0.0; na], vec![0.0; na]);
        attention_backward(&mut dq, &mut dp, &mut da, &dout, &qkv, &att, b, t, c, nh).unwrap();
        (
            bits(&o),
            bits(&pre),
            bits(&att),
            bits(&dq),
            bits(&dp),
            bits(&da),
        )
    });
    let wm = randn(&mut rng, 3 * c * c, 1.0);
    let bm = randn(&mut rng, 3 * c, 1.0);
    let dm = randn(&mut rng, n * 3 * c, 1.0);
    assert_eq!(par::with_threads(3, || blocks(3 * c, n * c)).len(), 3);
    same_bits_1_and_3("matmul", || {
        let mut o = vec![0.0; n * 3 * c];
        matmul_forward(&mut o, &x, &wm, Some(&bm), n, c, 3 * c).unwrap();
        let (mut dx, mut dw, mut db) = (vec![0.5; n * c], vec![0.25; 3 * c * c], vec![0.0; 3 * c]);
        matmul_backward(&mut dx, &mut dw, Some(&mut db), &dm, &x, &wm, n, c, 3 * c).unwrap();
        (bits(&o), bits(&dx), bits(&dw), bits(&db))
    });
    same_bits_1_and_3("matmul_backward bias", || {
        // c = 0 leaves only the bias gradient (a sum over rows, split over columns).
        let mut db = vec![0.5; c];
        matmul_backward(&mut [], &mut [], Some(&mut db), &dout, &[], &[], n, 0, c).unwrap();
        bits(&db)
    });
    let tokens: Vec<u32> = (0..n).map(|_| rng.below(v) as u32).collect();
    let (wte, wpe) = (randn(&mut rng, v * c, 1.0), randn(&mut rng, t * c, 1.0));
    same_bits_1_and_3("encoder_forward", || {
        let mut o = vec![0.0; n * c];
        encoder_forward(&mut o, &tokens, &wte, &wpe, b, t, c).unwrap();
        bits(&o)
    });
    let g = randn(&mut rng, n * c, 1.0);
    same_bits_1_and_3("adamw", || {
        let (mut p, mut m, mut vv) = (x.clone(), g.clone(), vec![0.3; n * c]);
        adamw(
            &mut p,
            &g,
            &mut m,
            &mut vv,
            3,
            1e-3,
            0.9,
            0.99,
            1e-8,
            0.01,
            n * c,
        )
        .unwrap();
        (bits(&p), bits(&m), bits(&vv))
    });
}
