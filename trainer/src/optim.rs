//! `AdamW` over the model's flat parameters, with weight decay on matrices only and global
//! gradient-norm clipping.

use crate::config::OptimConfig;
use crate::model::ParamLayout;
use crate::ops::{self, Result};

/// Optimizer state: first and second moments and the step count.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    /// First moments `m`.
    pub m: Vec<f32>,
    /// Second moments `v`.
    pub v: Vec<f32>,
    /// Steps taken.
    pub step: u32,
}

impl AdamW {
    /// Zero state for `n` parameters.
    pub fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
        }
    }

    /// Clips `grads` to global norm `cfg.grad_clip` (if `> 0`) and takes one step with `lr`;
    /// returns the gradient norm before clipping.
    ///
    /// # Errors
    /// [`rewardkit_core::Error::NonFinite`] for a NaN/∞ gradient (the step is not taken);
    /// length errors from [`ops::adamw`].
    pub fn update(
        &mut self,
        params: &mut [f32],
        grads: &mut [f32],
        layout: &ParamLayout,
        cfg: &OptimConfig,
        lr: f32,
    ) -> Result<f64> {
        let norm = global_norm(grads);
        if !norm.is_finite() {
            let index = grads.iter().position(|g| !g.is_finite()).unwrap_or(0);
            return Err(rewardkit_core::Error::NonFinite {
                what: "gradient",
                index,
            });
        }
        if cfg.grad_clip > 0.0 && norm > f64::from(cfg.grad_clip) {
            let s = (f64::from(cfg.grad_clip) / norm) as f32;
            grads.iter_mut().for_each(|g| *g *= s);
        }
        self.step += 1;
        for t in &layout.tensors {
            let r = t.offset..t.offset + t.len();
            let wd = if t.decay { cfg.weight_decay } else { 0.0 };
            ops::adamw(
                &mut params[r.clone()],
                &grads[r.clone()],
                &mut self.m[r.clone()],
                &mut self.v[r],
                self.step,
                lr,
                cfg.beta1,
                cfg.beta2,
                cfg.eps,
                wd,
                t.len(),
            )?;
        }
        Ok(norm)
    }
}

/// `‖g‖₂`, accumulated in `f64`.
pub fn global_norm(g: &[f32]) -> f64 {
    g.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}
