//! Autoregressive sampling with a key/value cache: each new token runs one row per sequence
//! through the blocks, attending over the cached keys and values of the earlier positions.
//!
//! The rows are cut into one block per kernel thread ([`crate::ops::threads`]); each block runs its
//! whole decode step (every layer, its own caches) on its thread, and the tokens are then drawn on
//! the calling thread in row order, so the random stream and the samples do not depend on the
//! number of threads.

use rewardkit_core::rng::RandomSource;

use super::{
    FCB, FCPB, FCPW, FCW, Gpt, LN1B, LN1W, LN2B, LN2W, LNFB, LNFW, PROJB, PROJW, QKVB, QKVW, WPE,
    WTE,
};
use crate::ops::par::{blocks, first_err, run};
use crate::ops::{self, Result, exp_f32};

/// Scratch of one block of `R` rows: the caches `(R, L, maxT, C)` and one position's activations.
#[derive(Clone, Debug, Default)]
struct DecodeState {
    k: Vec<f32>,
    v: Vec<f32>,
    x: Vec<f32>,
    ln: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
    qkv: Vec<f32>,
    atty: Vec<f32>,
    tmp: Vec<f32>,
    fch: Vec<f32>,
    fch_gelu: Vec<f32>,
    logits: Vec<f32>,
    scores: Vec<f32>,
}

impl DecodeState {
    fn new(cfg: &super::ModelConfig, rows: usize) -> Self {
        let (l, c, v, max_t) = (cfg.n_layer, cfg.n_embd, cfg.vocab, cfg.max_t);
        let z = |n: usize| vec![0.0f32; n];
        Self {
            k: z(rows * l * max_t * c),
            v: z(rows * l * max_t * c),
            x: z(rows * c),
            ln: z(rows * c),
            mean: z(rows),
            rstd: z(rows),
            qkv: z(rows * 3 * c),
            atty: z(rows * c),
            tmp: z(rows * c),
            fch: z(rows * 4 * c),
            fch_gelu: z(rows * 4 * c),
            logits: z(rows * v),
            scores: z(max_t),
        }
    }
}

impl Gpt {
    /// Samples a completion for each of `B` prompts of equal length `P`, with temperature
    /// `temperature` (0 means greedy), at most `max_new` tokens each; a completion stops after
    /// `eos` (included). Prompts are `(B, P)` row-major.
    ///
    /// # Errors
    /// [`rewardkit_core::Error::LengthMismatch`] if the prompts are not `B·P` tokens or
    /// `P + max_new > maxT`; the ops' errors (token ids `≥ V`).
    pub fn generate(
        &self,
        prompts: &[u32],
        b: usize,
        max_new: usize,
        temperature: f32,
        eos: u32,
        rng: &mut impl RandomSource,
    ) -> Result<Vec<Vec<u32>>> {
        let cfg = &self.cfg;
        let (l, c, v) = (cfg.n_layer, cfg.n_embd, cfg.vocab);
        if b == 0 {
            return Ok(Vec::new());
        }
        let p_len = prompts.len() / b;
        if p_len * b != prompts.len() || p_len == 0 || p_len + max_new > cfg.max_t {
            return Err(rewardkit_core::Error::LengthMismatch {
                what: "prompts (B·P tokens with P + max_new <= max_t)",
                expected: b * p_len.max(1),
                got: prompts.len(),
            });
        }
        // One block of rows per thread (a row's step is about 24·L·C² FLOPs).
        let bl = blocks(b, 24 * l * c * c);
        let mut states: Vec<DecodeState> =
            bl.iter().map(|r| DecodeState::new(cfg, r.len())).collect();
        let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(max_new); b];
        let mut done = vec![false; b];
        let mut cur: Vec<u32> = prompts.iter().step_by(p_len).copied().collect();
        for pos in 0..p_len + max_new - 1 {
            let items: Vec<_> = states.iter_mut().zip(bl.iter().cloned()).collect();
            let cur_ref = &cur;
            first_err(run(items, |(s, rows)| {
                self.decode_step(s, &cur_ref[rows.clone()], pos, rows.len())
            }))?;
            if pos + 1 < p_len {
                // Still reading the prompt.
                for (i, t) in cur.iter_mut().enumerate() {
                    *t = prompts[i * p_len + pos + 1];
                }
                continue;
            }
            // Draw in row order on this thread: the random stream is independent of the blocks.
            let rows = states.iter().flat_map(|s| s.logits.chunks_exact(v));
            for (i, row) in rows.enumerate() {
                if done[i] {
                    cur[i] = eos;
                    continue;
                }
                let tok = pick(row, temperature, rng);
                out[i].push(tok);
                cur[i] = tok;
                done[i] = tok == eos || out[i].len() == max_new;
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }

    /// Runs position `pos` of a block of `b` rows (`tokens`: one id per row) and leaves the logits
    /// in `s.logits`; appends this position's keys and values to the block's caches.
    fn decode_step(&self, s: &mut DecodeState, tokens: &[u32], pos: usize, b: usize) -> Result {
        let cfg = &self.cfg;
        let (l, c, nh, v, max_t) = (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.vocab, cfg.max_t);
        let hs = c / nh;
        let scale = 1.0 / (hs as f32).sqrt();
        let p = self.split_params();
        // Embedding of this position.
        for (i, &tok) in tokens.iter().enumerate() {
            if tok as usize >= v {
                return Err(rewardkit_core::Error::TokenOutOfRange {
                    index: i,
                    id: tok,
                    vocab: v,
                });
            }
            let te = &p[WTE][tok as usize * c..][..c];
            let pe = &p[WPE][pos * c..][..c];
            for ((x, &a), &bb) in s.x[i * c..(i + 1) * c].iter_mut().zip(te).zip(pe) {
                *x = a + bb;
            }
        }
        for li in 0..l {
            let w = |i: usize, n: usize| &p[i][li * n..(li + 1) * n];
            ops::layernorm_forward(
                &mut s.ln,
                &mut s.mean,
                &mut s.rstd,
                &s.x,
                w(LN1W, c),
                w(LN1B, c),
                b,
                c,
            )?;
            ops::matmul_forward(
                &mut s.qkv,
                &s.ln,
                w(QKVW, 3 * c * c),
                Some(w(QKVB, 3 * c)),
                b,
                c,
                3 * c,
            )?;
            for i in 0..b {
                let row = &s.qkv[i * 3 * c..(i + 1) * 3 * c];
                let cache = (i * l + li) * max_t * c;
                let at = cache + pos * c;
                s.k[at..at + c].copy_from_slice(&row[c..2 * c]);
                s.v[at..at + c].copy_from_slice(&row[2 * c..]);
                for h in 0..nh {
                    let q = &row[h * hs..(h + 1) * hs];
                    let mut maxv = f32::NEG_INFINITY;
                    for (t2, sc) in s.scores[..=pos].iter_mut().enumerate() {
                        let k = &s.k[cache + t2 * c + h * hs..][..hs];
                        *sc = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale;
                        maxv = maxv.max(*sc);
                    }
                    for sc in &mut s.scores[..=pos] {
                        *sc = exp_f32(*sc - maxv);
                    }
                    let sum: f32 = s.scores[..=pos].iter().sum();
                    let o = &mut s.atty[i * c + h * hs..][..hs];
                    o.fill(0.0);
                    for (t2, &a) in s.scores[..=pos].iter().enumerate() {
                        let vv = &s.v[cache + t2 * c + h * hs..][..hs];
                        for (ov, &x) in o.iter_mut().zip(vv) {
                            *ov += a / sum * x;
                        }
                    }
                }
            }
            ops::matmul_forward(
                &mut s.tmp,
                &s.atty,
                w(PROJW, c * c),
                Some(w(PROJB, c)),
                b,
                c,
                c,
            )?;
            s.x.iter_mut().zip(&s.tmp).for_each(|(x, t)| *x += t);
            ops::layernorm_forward(
                &mut s.ln,
                &mut s.mean,
                &mut s.rstd,
                &s.x,
                w(LN2W, c),
                w(LN2B, c),
                b,
                c,
            )?;
            ops::matmul_forward(
                &mut s.fch,
                &s.ln,
                w(FCW, 4 * c * c),
                Some(w(FCB, 4 * c)),
                b,
                c,
                4 * c,
            )?;
            ops::gelu_forward(&mut s.fch_gelu, &s.fch, b * 4 * c)?;
            ops::matmul_forward(
                &mut s.tmp,
                &s.fch_gelu,
                w(FCPW, 4 * c * c),
                Some(w(FCPB, c)),
                b,
                4 * c,
                c,
            )?;
            s.x.iter_mut().zip(&s.tmp).for_each(|(x, t)| *x += t);
        }
        ops::layernorm_forward(
            &mut s.ln,
            &mut s.mean,
            &mut s.rstd,
            &s.x,
            p[LNFW],
            p[LNFB],
            b,
            c,
        )?;
        ops::matmul_forward(&mut s.logits, &s.ln, p[WTE], None, b, c, v)
    }
}

/// Draws a token from `softmax(logits/τ)` (in `f64`), or the argmax for `τ = 0`.
pub fn pick(logits: &[f32], temperature: f32, rng: &mut impl RandomSource) -> u32 {
    let argmax = logits
        .iter()
        .enumerate()
        .fold((0usize, f32::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 { (i, x) } else { best }
        })
        .0;
    if temperature <= 0.0 {
        return argmax as u32;
    }
    let inv = 1.0 / f64::from(temperature);
    let m = f64::from(logits[argmax]);
    let total: f64 = logits
        .iter()
        .map(|&x| ((f64::from(x) - m) * inv).exp())
        .sum();
    let mut u = rng.next_f64() * total;
    for (i, &x) in logits.iter().enumerate() {
        u -= ((f64::from(x) - m) * inv).exp();
        if u < 0.0 {
            return i as u32;
        }
    }
    argmax as u32
}
