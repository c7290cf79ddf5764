//! Group advantages (`group_advantage.wgsl`).

use bytemuck::{Pod, Zeroable};
use rewardkit_core::advantage::{Grpo, Scale, Singleton};
use rewardkit_core::{Error, GroupIndex};
use rewardkit_shaders::{BATCH_MOMENTS, GROUP_ADVANTAGE};

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

/// A group index on the device: CSR offsets `(G + 1)` and the rows of each group in ascending
/// order `(B)`, built once from a core [`GroupIndex`] (any order of ids, groups need not be
/// contiguous) and reused by every group estimator.
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
        let g = groups.n_groups();
        let mut offsets = Vec::with_capacity(g + 1);
        let mut rows = Vec::with_capacity(groups.n_rows());
        let mut sizes = Vec::with_capacity(g);
        offsets.push(0u32);
        for gi in 0..g {
            let before = rows.len();
            for r in groups.rows(gi) {
                rows.push(u32_of("rows", r)?);
            }
            sizes.push(rows.len() - before);
            offsets.push(u32_of("rows", rows.len())?);
        }
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

/// A group-based advantage estimator for [`GpuContext::group_advantages`], with the parameters of
/// its CPU reference.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum GroupEstimator {
    /// GRPO / Dr. GRPO / TRL batch scaling ([`rewardkit_core::advantage::grpo`]).
    Grpo(Grpo<f32>),
    /// RLOO ([`rewardkit_core::advantage::rloo`]).
    Rloo(Singleton),
    /// `R − mean_g` ([`rewardkit_core::advantage::group_mean_baseline`]).
    MeanBaseline(Singleton),
    /// OPO, a length-weighted baseline; needs `lengths` ([`rewardkit_core::advantage::opo`]).
    Opo(Singleton),
    /// GPG ([`rewardkit_core::advantage::gpg`]).
    Gpg {
        /// `f_norm > 0`.
        f_norm: f32,
        /// The singleton rule.
        singleton: Singleton,
    },
    /// Pass@k ([`rewardkit_core::advantage::grpo_passk`]).
    PassK {
        /// Divide the gap by `σ_g + ε`.
        scale_by_std: bool,
        /// `ε >= 0`.
        eps: f32,
    },
    /// The group's sample standard deviation per row ([`rewardkit_core::advantage::group_std`]).
    GroupStd,
}

fn singleton_check(groups: &GpuGroups, s: Singleton) -> Result<u32> {
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

fn param(name: &'static str, value: f32, ok: bool, expected: &'static str) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(GpuError::Core(Error::InvalidParam {
            name,
            value: f64::from(value),
            expected,
        }))
    }
}

impl GpuContext {
    /// Group-based advantages over a device group index, in one fused dispatch (two when the batch
    /// statistics are needed: GRPO with [`Scale::Batch`], GPG).
    ///
    /// # Definition
    /// As the CPU reference of each [`GroupEstimator`] variant; moments are shifted by each
    /// group's first score and accumulated in `f32` (the core accumulates in `f64`), so a group of
    /// equal scores gets exactly 0.
    ///
    /// # Shapes
    /// `out`, `scores`, `lengths`: `(B)`.
    ///
    /// # Errors
    /// [`GpuError::Core`]: `LengthMismatch`; `GroupTooSmall` (pass@k with a group of fewer than
    /// 2, or a singleton with [`Singleton::Error`]); `InvalidParam` (GPG `f_norm <= 0`, a negative
    /// pass@k `ε`); `MissingInput` (OPO without `lengths`). Scores are not checked for finiteness on
    /// the device (check them when uploading).
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rewardkit_gpu::{GpuContext, GpuGroups, GroupEstimator};
    /// let ctx = GpuContext::new_blocking()?;
    /// let groups = GpuGroups::new(&ctx, &rewardkit_core::GroupIndex::uniform(4, 2)?)?;
    /// let scores = ctx.upload(&[1.0f32, 0.0, 2.0, 2.0])?;
    /// let out = ctx.zeros::<f32>(4)?;
    /// ctx.group_advantages(&out, &scores, None, &groups, GroupEstimator::Rloo(Default::default()))?;
    /// assert_eq!(ctx.read_blocking(&out)?, vec![1.0, -1.0, 0.0, 0.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Citation: see the CPU references.
    pub fn group_advantages(
        &self,
        out: &GpuBuffer<f32>,
        scores: &GpuBuffer<f32>,
        lengths: Option<&GpuBuffer<f32>>,
        groups: &GpuGroups,
        est: GroupEstimator,
    ) -> Result<()> {
        check_len("scores", groups.n_rows, scores.len())?;
        check_len("out", groups.n_rows, out.len())?;
        if let Some(l) = lengths {
            check_len("lengths", groups.n_rows, l.len())?;
        }
        let (mode, singleton, scale_by_std, eps, f_norm) = match est {
            GroupEstimator::Grpo(g) => {
                let mode = match g.scale() {
                    Scale::Group => 0,
                    Scale::Batch => 1,
                    Scale::None => 2,
                };
                let eps = if g.scale() == Scale::None {
                    0.0
                } else {
                    g.eps()
                };
                (mode, singleton_check(groups, g.singleton())?, 0, eps, 1.0)
            }
            GroupEstimator::Rloo(s) => (3, singleton_check(groups, s)?, 0, 0.0, 1.0),
            GroupEstimator::MeanBaseline(s) => (2, singleton_check(groups, s)?, 0, 0.0, 1.0),
            GroupEstimator::Opo(s) => {
                if lengths.is_none() {
                    return Err(GpuError::Core(Error::MissingInput {
                        what: "lengths (OPO weights the baseline by response length)",
                    }));
                }
                (4, singleton_check(groups, s)?, 0, 0.0, 1.0)
            }
            GroupEstimator::Gpg { f_norm, singleton } => {
                param("f_norm", f_norm, f_norm > 0.0, "a finite number > 0")?;
                (5, singleton_check(groups, singleton)?, 0, 0.0, f_norm)
            }
            GroupEstimator::PassK { scale_by_std, eps } => {
                param("eps", eps, eps >= 0.0, "a finite number >= 0")?;
                if let Some((group, size)) = groups.first_smaller_than(2) {
                    return Err(GpuError::Core(Error::GroupTooSmall {
                        group,
                        size,
                        min: 2,
                    }));
                }
                (6, 0, u32::from(scale_by_std), eps, 1.0)
            }
            GroupEstimator::GroupStd => (7, 0, 0, 0.0, 1.0),
        };
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
}
