//! Per-sequence advantages (`masked_sequence_sums.wgsl`, `group_advantage.wgsl`, the weighted
//! whitening of `whiten.wgsl`): the stages of a core [`AdvantagePlan`] on the device.

use bytemuck::{Pod, Zeroable};
use rewardkit_core::advantage::{
    AdvantagePlan, AffineScale, GroupStage, ScoreSource, Singleton, Stages,
};
use rewardkit_core::{Error, GroupIndex};
use rewardkit_shaders::{BATCH_MOMENTS, GROUP_ADVANTAGE, MASKED_SEQUENCE_SUMS};

use super::whiten::Count;
use crate::error::{GpuError, Result};
use crate::{GpuBuffer, GpuContext, check_len, grid, u32_of};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    mode: u32,
    singleton: u32,
    scale_by_std: u32,
    n_groups: u32,
    n_rows: u32,
    grid_x: u32,
    eps: f32,
    f_norm: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct SumParams {
    n_rows: u32,
    seq_len: u32,
    grid_x: u32,
    pad: u32,
}

/// A group index on the device: CSR offsets `(G + 1)` and the rows of each group in ascending
/// order `(B)`, written by the core's [`GroupIndex::write_offsets`] and
/// [`GroupIndex::write_rows`] (any [`GroupIndex::layout`]: uniform blocks, sorted runs or scattered
/// ids) and reused by every group stage.
///
/// # Errors
/// [`GpuError::TooLarge`] beyond 32-bit indexing.
///
/// # Examples
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
/// let groups = rewardkit_core::GroupIndex::new(&[0, 1, 0, 1], 2)?;
/// let g = rewardkit_gpu::GpuGroups::new(&ctx, &groups)?;
/// assert_eq!((g.n_groups(), g.n_rows()), (2, 4));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GpuGroups {
    offsets: GpuBuffer<u32>,
    rows: GpuBuffer<u32>,
    sizes: Vec<usize>,
    n_rows: usize,
}

impl GpuGroups {
    /// Uploads the CSR form of `groups`.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`].
    pub fn new(ctx: &GpuContext, groups: &GroupIndex<'_>) -> Result<Self> {
        u32_of("rows", groups.n_rows())?;
        let mut offsets = vec![0u32; groups.n_groups() + 1];
        groups.write_offsets(&mut offsets)?;
        let mut rows = vec![0u32; groups.n_rows()];
        groups.write_rows(&mut rows)?;
        let sizes = offsets
            .windows(2)
            .map(|w| match *w {
                [a, b] => (b - a) as usize,
                _ => 0,
            })
            .collect();
        Ok(Self {
            offsets: ctx.upload(&offsets)?,
            rows: ctx.upload(&rows)?,
            sizes,
            n_rows: groups.n_rows(),
        })
    }

    /// Number of groups `G`.
    pub fn n_groups(&self) -> usize {
        self.sizes.len()
    }

    /// Number of rows `B`.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    fn first_smaller_than(&self, min: usize) -> Option<(usize, usize)> {
        self.sizes
            .iter()
            .copied()
            .enumerate()
            .find(|&(_, n)| n < min)
    }
}

fn singleton_code(groups: &GpuGroups, s: Singleton) -> Result<u32> {
    match s {
        Singleton::Zero => Ok(0),
        Singleton::Raw => Ok(1),
        Singleton::Error => match groups.first_smaller_than(2) {
            Some((group, size)) => Err(GpuError::Core(Error::GroupTooSmall {
                group,
                size,
                min: 2,
            })),
            None => Ok(0),
        },
    }
}

/// `x` as the device's `f32`, after checking it is finite and in range (a parameter the core
/// holds as `f64`).
fn param(name: &'static str, x: f64, ok: bool, expected: &'static str) -> Result<f32> {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a scale parameter, f32 on the device"
    )]
    let y = x as f32;
    if ok && y.is_finite() {
        Ok(y)
    } else {
        Err(GpuError::Core(Error::InvalidParam {
            name,
            value: x,
            expected,
        }))
    }
}

/// `(mode, singleton, scale_by_std, eps, f_norm)` of `group_advantage.wgsl` for a group stage.
fn stage_params(groups: &GpuGroups, stage: &GroupStage<f32>) -> Result<(u32, u32, u32, f32, f32)> {
    Ok(match *stage {
        GroupStage::Affine { scale, singleton } => {
            let s = singleton_code(groups, singleton)?;
            match scale {
                AffineScale::GroupStd { eps } => (
                    0,
                    s,
                    0,
                    param("eps", eps, eps >= 0.0, "a finite number >= 0")?,
                    1.0,
                ),
                AffineScale::BatchStd { eps } => (
                    1,
                    s,
                    0,
                    param("eps", eps, eps >= 0.0, "a finite number >= 0")?,
                    1.0,
                ),
                AffineScale::One => (2, s, 0, 0.0, 1.0),
                AffineScale::LeaveOneOut => (3, s, 0, 0.0, 1.0),
                // α = B / max(#{R ≠ 0}, 1) is computed in f32 on the device either way
                // (`alpha_f32` rounds the core's f64 α to f32).
                AffineScale::Gpg { f_norm, .. } => (
                    5,
                    s,
                    0,
                    0.0,
                    param("f_norm", f_norm, f_norm > 0.0, "a finite number > 0")?,
                ),
            }
        }
        GroupStage::PassK { scale_by_std, eps } => {
            param("eps", f64::from(eps), eps >= 0.0, "a finite number >= 0")?;
            if let Some((group, size)) = groups.first_smaller_than(2) {
                return Err(GpuError::Core(Error::GroupTooSmall {
                    group,
                    size,
                    min: 2,
                }));
            }
            (6, 0, u32::from(scale_by_std), eps, 1.0)
        }
        GroupStage::Opo { singleton } => (4, singleton_code(groups, singleton)?, 0, 0.0, 1.0),
        GroupStage::Decoupled { .. } => {
            return Err(GpuError::Unsupported {
                feature: "the decoupled multi-reward group stage (GDPO, normalize_then_sum) on the GPU",
            });
        }
        GroupStage::Trl { .. } => {
            return Err(GpuError::Unsupported {
                feature: "TRL's NaN-aware GRPO group stage (Preset::Trl) on the GPU",
            });
        }
    })
}

impl GpuContext {
    /// Stage 2 of a per-sequence advantage plan on the device: per-sequence `scores` to one
    /// advantage per row, by the core's [`GroupStage`], in one fused dispatch over a device group
    /// index (two when the stage needs batch statistics: [`AffineScale::BatchStd`],
    /// [`AffineScale::Gpg`]).
    ///
    /// # Definition
    /// As the stage in [`AdvantagePlan::run_per_sequence`]: [`GroupStage::Affine`] maps every
    /// score of group `g` to `(x − a_g)·b_g` with the group's moments
    /// ([`rewardkit_core::advantage::group_moments`]) and the rule of its [`AffineScale`] and
    /// [`Singleton`] ([`rewardkit_core::advantage::AffineRule::coefficients`]);
    /// [`GroupStage::PassK`] gives the best row of each group the gap to the second best (over
    /// `σ + ε` when `scale_by_std`); [`GroupStage::Opo`] centres on the length-weighted group mean.
    /// Moments are shifted by each group's first score and accumulated in `f32` (the core
    /// accumulates in `f64`), so a group of equal scores gets exactly 0.
    ///
    /// # Shapes
    /// `out`, `scores`, `lengths`: `(B)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `LengthMismatch`; `GroupTooSmall` (pass@k with a group of fewer than
    /// 2, or a singleton under [`Singleton::Error`]); `InvalidParam` (GPG `f_norm <= 0`, a negative
    /// `ε`); `MissingInput` (OPO without `lengths`). [`GpuError::Unsupported`] for
    /// [`GroupStage::Decoupled`] and [`GroupStage::Trl`]. Scores are not checked for finiteness
    /// on the device (check them when uploading).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rewardkit_core::advantage::{AffineScale, GroupStage, Singleton};
    /// use rewardkit_gpu::{GpuContext, GpuGroups};
    /// let ctx = GpuContext::new_blocking()?;
    /// let groups = GpuGroups::new(&ctx, &rewardkit_core::GroupIndex::uniform(4, 2)?)?;
    /// let scores = ctx.upload(&[1.0f32, 0.0, 2.0, 2.0])?;
    /// let out = ctx.zeros::<f32>(4)?;
    /// let rloo = GroupStage::Affine { scale: AffineScale::LeaveOneOut, singleton: Singleton::Zero };
    /// ctx.group_advantages(&out, &scores, None, &groups, &rloo)?;
    /// assert_eq!(ctx.read_blocking(&out)?, vec![1.0, -1.0, 0.0, 0.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: see [`rewardkit_core::AdvantageEstimator`].
    pub fn group_advantages(
        &self,
        out: &GpuBuffer<f32>,
        scores: &GpuBuffer<f32>,
        lengths: Option<&GpuBuffer<f32>>,
        groups: &GpuGroups,
        stage: &GroupStage<f32>,
    ) -> Result<()> {
        check_len("scores", groups.n_rows, scores.len())?;
        check_len("out", groups.n_rows, out.len())?;
        if let Some(l) = lengths {
            check_len("lengths", groups.n_rows, l.len())?;
        }
        let (mode, singleton, scale_by_std, eps, f_norm) = stage_params(groups, stage)?;
        if mode == 4 && lengths.is_none() {
            return Err(GpuError::Core(Error::MissingInput {
                what: "lengths (OPO weights the baseline by response length)",
            }));
        }
        self.group_kernel(
            out,
            scores,
            lengths,
            groups,
            [mode, singleton, scale_by_std],
            eps,
            f_norm,
        )
    }

    /// The sample standard deviation of each row's group (`0` for a group of one).
    ///
    /// # Definition
    /// As [`rewardkit_core::advantage::group_std`], in `f32`.
    ///
    /// # Shapes
    /// `out`, `scores`: `(B)`.
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    pub fn group_std(
        &self,
        out: &GpuBuffer<f32>,
        scores: &GpuBuffer<f32>,
        groups: &GpuGroups,
    ) -> Result<()> {
        check_len("scores", groups.n_rows, scores.len())?;
        check_len("out", groups.n_rows, out.len())?;
        self.group_kernel(out, scores, None, groups, [7, 0, 0], 0.0, 1.0)
    }

    fn group_kernel(
        &self,
        out: &GpuBuffer<f32>,
        scores: &GpuBuffer<f32>,
        lengths: Option<&GpuBuffer<f32>>,
        groups: &GpuGroups,
        [mode, singleton, scale_by_std]: [u32; 3],
        eps: f32,
        f_norm: f32,
    ) -> Result<()> {
        if groups.n_rows == 0 {
            return Ok(());
        }
        let n_groups = u32_of("groups", groups.n_groups())?;
        let g = grid(n_groups);
        let p = Params {
            mode,
            singleton,
            scale_by_std,
            n_groups,
            n_rows: u32_of("rows", groups.n_rows)?,
            grid_x: g[0],
            eps,
            f_norm,
        };
        let stats = self.zeros::<f32>(4)?;
        let lengths = lengths.map_or(self.dummy(), |l| &l.raw);
        let bufs = [
            &out.raw,
            &stats.raw,
            &scores.raw,
            lengths,
            &groups.offsets.raw,
            &groups.rows.raw,
        ];
        if mode == 1 || mode == 5 {
            self.dispatch(&BATCH_MOMENTS, &[], &bufs, super::bytes(&p), [1, 1, 1])?;
        }
        // Small groups need fewer threads: the smallest power of two covering the largest
        // group, at least 32 (a subgroup on most GPUs) and at most 256.
        let max = groups.sizes.iter().copied().max().unwrap_or(1);
        let wg = max.next_power_of_two().clamp(32, 256);
        self.dispatch(
            &GROUP_ADVANTAGE,
            &[("WG", wg as f64)],
            &bufs,
            super::bytes(&p),
            g,
        )
    }

    /// Stage 1 of a per-sequence plan: the sum of each row's valid token rewards (`scores`) and
    /// its number of valid tokens (`lengths`, as `f32`).
    ///
    /// # Definition
    /// As [`rewardkit_core::advantage::masked_sequence_sums`] (and the valid-token counts), in
    /// `f32`; masked positions are not read.
    ///
    /// # Shapes
    /// `scores`, `lengths`: `(B)`; `token_rewards`, `mask`: `(B, T)` with `T = seq_len`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `Empty`, `BadShape`, `LengthMismatch`.
    pub fn masked_sequence_sums(
        &self,
        scores: &GpuBuffer<f32>,
        lengths: &GpuBuffer<f32>,
        token_rewards: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        seq_len: usize,
    ) -> Result<()> {
        let n = mask.len();
        let b = super::loss::token_shape(n, seq_len)?;
        check_len("token_rewards", n, token_rewards.len())?;
        check_len("scores", b, scores.len())?;
        check_len("lengths", b, lengths.len())?;
        u32_of("tokens", n)?;
        let nb = u32_of("rows", b)?;
        let g = grid(nb);
        let p = SumParams {
            n_rows: nb,
            seq_len: u32_of("seq_len", seq_len)?,
            grid_x: g[0],
            pad: 0,
        };
        let wg = seq_len.next_power_of_two().clamp(32, 256);
        self.dispatch(
            &MASKED_SEQUENCE_SUMS,
            &[("WG", wg as f64)],
            &[&scores.raw, &lengths.raw, &token_rewards.raw, &mask.raw],
            super::bytes(&p),
            g,
        )
    }

    /// A per-sequence advantage plan of the core, run on the device: one advantage per row, the
    /// value every valid token of the row receives.
    ///
    /// # Definition
    /// As [`AdvantagePlan::run_per_sequence`], stage by stage: (1) scores = the sums of each row's
    /// valid token rewards ([`GpuContext::masked_sequence_sums`]); (2) the plan's
    /// [`GroupStage`] ([`GpuContext::group_advantages`], OPO's lengths = valid tokens per row);
    /// (3) the plan's whitening, if any, over the valid tokens: each row's value weighted by its
    /// number of valid tokens (REINFORCE++-baseline). In `f32`, deterministic (no atomics), no
    /// readback. Without any valid token the whitening gives 0 (the core returns `TooFewValid`,
    /// which the device cannot report without a readback).
    ///
    /// # Shapes
    /// `out`: `(B)`; `token_rewards`, `mask`: `(B, T)` with `T = seq_len`; `groups` over `B` rows.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `Empty`, `BadShape`, `LengthMismatch`; `InvalidParam` (`plan`) for a
    /// token-level plan (GAE, REINFORCE++, ReMax, OTB: no `(B)` result, as the core; use
    /// [`GpuContext::gae`], [`GpuContext::reinforce_plus_plus`], [`GpuContext::remax`]); those of
    /// [`GpuContext::group_advantages`]. [`GpuError::Unsupported`] for stages the device does not
    /// run: scores from reward components ([`ScoreSource::WeightedComponents`],
    /// [`ScoreSource::Components`]), [`GroupStage::Decoupled`], [`GroupStage::Trl`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rewardkit_core::advantage::{AdvantageConfig, AdvantagePlan};
    /// use rewardkit_core::{AdvantageEstimator, GroupIndex, Preset};
    /// use rewardkit_gpu::{GpuContext, GpuGroups};
    /// let ctx = GpuContext::new_blocking()?;
    /// let plan = AdvantagePlan::<f32>::new(AdvantageEstimator::Rloo, &AdvantageConfig::new(Preset::Verl))?;
    /// // Two prompts, two samples each (rows shuffled), outcome rewards on the last valid token.
    /// let groups = GpuGroups::new(&ctx, &GroupIndex::new(&[0, 1, 1, 0], 2)?)?;
    /// let rewards = ctx.upload(&[0.0f32, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 7.0])?;
    /// let mask = ctx.upload(&[1u32, 1, 1, 0, 1, 1, 1, 0])?;
    /// let out = ctx.zeros::<f32>(4)?;
    /// ctx.advantages_per_sequence(&out, &rewards, &mask, 2, &groups, &plan)?;
    /// assert_eq!(ctx.read_blocking(&out)?, vec![1.0, -1.0, 1.0, -1.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: see [`rewardkit_core::AdvantageEstimator`].
    pub fn advantages_per_sequence(
        &self,
        out: &GpuBuffer<f32>,
        token_rewards: &GpuBuffer<f32>,
        mask: &GpuBuffer<u32>,
        seq_len: usize,
        groups: &GpuGroups,
        plan: &AdvantagePlan<f32>,
    ) -> Result<()> {
        let Stages::Sequence(s) = plan.stages else {
            return Err(GpuError::Core(Error::InvalidParam {
                name: "plan",
                value: f64::NAN,
                expected: "a per-sequence estimator (token recurrences have no (B) result)",
            }));
        };
        if s.scores != ScoreSource::TokenSums {
            return Err(GpuError::Unsupported {
                feature: "per-sequence scores from reward components on the GPU (upload the scores and use group_advantages)",
            });
        }
        let b = super::loss::token_shape(mask.len(), seq_len)?;
        check_len("mask rows", groups.n_rows, b)?;
        check_len("out", b, out.len())?;
        check_len("token_rewards", mask.len(), token_rewards.len())?;
        // Check the group stage before recording anything.
        stage_params(groups, &s.group)?;
        let scores = self.zeros::<f32>(b)?;
        let lengths = self.zeros::<f32>(b)?;
        self.masked_sequence_sums(&scores, &lengths, token_rewards, mask, seq_len)?;
        match s.whiten {
            None => self.group_advantages(out, &scores, Some(&lengths), groups, &s.group),
            Some(w) => {
                let per_row = self.zeros::<f32>(b)?;
                self.group_advantages(&per_row, &scores, Some(&lengths), groups, &s.group)?;
                self.whiten_into(out, &per_row, Count::Weights(&lengths), &w)
            }
        }
    }
}
