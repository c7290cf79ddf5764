//! The advantages panel: groups of scalar rewards typed on the page (or drawn at random), and the
//! advantages every outcome-reward estimator gives them under each preset.
//!
//! Each response is one token long (`T = 1`), so its outcome reward sits on its only token and the
//! per-token advantage is the sequence advantage. The estimators shown are those that need only
//! scalar rewards and groups ([`ESTIMATORS`]; ReMax also reads one greedy-rollout reward, the same
//! for every row). GAE (a critic), the optimal token baseline (log-probabilities) and the
//! multi-reward estimators need inputs this panel does not have.

use rewardkit_core::advantage::{AdvantageConfig, AdvantageInputs};
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_core::{AdvantageEstimator, GroupIndex, Mask, Preset};

use crate::{DemoError, Result, parse_numbers};

/// The estimators of the panel, in its order.
pub const ESTIMATORS: [AdvantageEstimator; 9] = [
    AdvantageEstimator::Grpo,
    AdvantageEstimator::DrGrpo,
    AdvantageEstimator::GrpoPassK,
    AdvantageEstimator::Rloo,
    AdvantageEstimator::Opo,
    AdvantageEstimator::Gpg,
    AdvantageEstimator::ReinforcePlusPlus,
    AdvantageEstimator::ReinforcePlusPlusBaseline,
    AdvantageEstimator::Remax,
];

/// The presets of the panel.
pub const PRESETS: [Preset; 4] = [
    Preset::Rewardkit,
    Preset::Verl,
    Preset::Trl,
    Preset::OpenRlhf,
];

/// Groups of scalar rewards: one per response, with the dense group id of each.
///
/// # Examples
/// ```
/// use rewardkit_web::advantages::Groups;
/// let g = Groups::parse("1, 0, 0 | 0.5 1")?;
/// assert_eq!(g.rewards, [1.0, 0.0, 0.0, 0.5, 1.0]);
/// assert_eq!(g.ids, [0, 0, 0, 1, 1]);
/// assert_eq!(g.to_text(), "1, 0, 0 | 0.5, 1");
/// # Ok::<(), rewardkit_web::DemoError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    /// The rewards `(B)`.
    pub rewards: Vec<f64>,
    /// The group id of each row `(B)`, `0..G`.
    pub ids: Vec<u32>,
    /// `G`.
    pub n_groups: usize,
}

impl Groups {
    /// Reads groups separated by `|`, rewards separated by commas or spaces.
    ///
    /// # Errors
    /// [`DemoError::Parse`] for a token that is not a number or an empty group (`what =
    /// "group"`). NaN and `inf` parse; the estimators then return core's `NonFinite`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut rewards = Vec::new();
        let mut ids = Vec::new();
        let mut n_groups = 0u32;
        for part in text.split('|') {
            let values = parse_numbers(part, "reward")?;
            if values.is_empty() {
                return Err(DemoError::Parse {
                    what: "group",
                    token: part.trim().to_owned(),
                });
            }
            ids.extend(core::iter::repeat_n(n_groups, values.len()));
            rewards.extend(values);
            n_groups += 1;
        }
        Ok(Self {
            rewards,
            ids,
            n_groups: n_groups as usize,
        })
    }

    /// `n_groups` groups of `k` pass/fail rewards: reward `1` when core's `SplitMix64(seed)` draws
    /// `u < ½` (`u = next_f64()`, row after row), else `0`.
    pub fn random(seed: u64, n_groups: usize, k: usize) -> Self {
        let mut rng = SplitMix64::new(seed);
        let b = n_groups * k;
        let rewards = (0..b)
            .map(|_| if rng.next_f64() < 0.5 { 1.0 } else { 0.0 })
            .collect();
        let ids = (0..n_groups)
            .flat_map(|g| core::iter::repeat_n(u32::try_from(g).unwrap_or(u32::MAX), k))
            .collect();
        Self {
            rewards,
            ids,
            n_groups,
        }
    }

    /// The text [`Groups::parse`] reads back (shortest round-trip formatting).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let mut prev = None;
        for (r, &g) in self.rewards.iter().zip(&self.ids) {
            match prev {
                None => {}
                Some(p) if p == g => s.push_str(", "),
                Some(_) => s.push_str(" | "),
            }
            s.push_str(&r.to_string());
            prev = Some(g);
        }
        s
    }
}

/// The advantages of `groups` under one estimator and preset, one per response.
///
/// # Definition
/// `est.compute(..)` with `AdvantageConfig::new(preset)` (γ = λ = 1, normalization by the group
/// standard deviation, the preset's ε and singleton rule) on a `(B, 1)` batch whose token reward
/// is the response's reward; ReMax's greedy-rollout reward is `remax_baseline` for every row.
///
/// # Shapes
/// `out`: `(B)`.
///
/// # Errors
/// [`rewardkit_core::Error::LengthMismatch`] if `out` is not `(B)`; the estimator's errors: for
/// example `GroupTooSmall` for pass@k or OpenRLHF on a group of one, `NonFinite` for a NaN reward.
///
/// # Examples
/// ```
/// use rewardkit_core::{AdvantageEstimator, Preset};
/// use rewardkit_web::advantages::{Groups, advantages};
/// let g = Groups::parse("1 0 0 1")?;
/// let mut a = [0.0; 4];
/// advantages(&mut a, AdvantageEstimator::Rloo, Preset::Rewardkit, &g, 0.0)?;
/// // RLOO: the reward minus the mean of the group's other rewards.
/// let want = [2.0 / 3.0, -2.0 / 3.0, -2.0 / 3.0, 2.0 / 3.0];
/// assert!(a.iter().zip(want).all(|(x, y)| (x - y).abs() < 1e-12));
/// # Ok::<(), rewardkit_web::DemoError>(())
/// ```
pub fn advantages(
    out: &mut [f64],
    est: AdvantageEstimator,
    preset: Preset,
    groups: &Groups,
    remax_baseline: f64,
) -> Result<()> {
    let b = groups.rewards.len();
    crate::ensure_len("advantages", b, out.len())?;
    crate::ensure_len("group ids", b, groups.ids.len())?;
    let bits = vec![true; b];
    let mask = Mask::new(&bits, 1)?;
    let index = GroupIndex::new(&groups.ids, groups.n_groups)?;
    let baselines = vec![remax_baseline; b];
    let mut inputs = AdvantageInputs::new(&groups.rewards, mask).with_groups(&index);
    if est == AdvantageEstimator::Remax {
        inputs = inputs.with_reward_baselines(&baselines);
    }
    let mut returns = vec![0.0; b];
    est.compute(out, &mut returns, &inputs, &AdvantageConfig::new(preset))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardkit_core::Error;

    fn run(est: AdvantageEstimator, preset: Preset, text: &str) -> Result<Vec<f64>> {
        let g = Groups::parse(text)?;
        let mut a = vec![0.0; g.rewards.len()];
        advantages(&mut a, est, preset, &g, 0.5)?;
        Ok(a)
    }

    #[test]
    fn grpo_hand_values() {
        // [1, 0, 0, 1]: mean ½, sample std √(1/3); A = ±(½)/(√(1/3) + 1e-6).
        let a = run(AdvantageEstimator::Grpo, Preset::Rewardkit, "1 0 0 1").unwrap();
        let v = 0.5 / ((1.0f64 / 3.0).sqrt() + 1e-6);
        for (x, s) in a.iter().zip([1.0, -1.0, -1.0, 1.0]) {
            assert!((x - s * v).abs() < 1e-12, "{x}");
        }
        // TRL's ε = 1e-4.
        let a = run(AdvantageEstimator::Grpo, Preset::Trl, "1 0 0 1").unwrap();
        assert!((a[0] - 0.5 / ((1.0f64 / 3.0).sqrt() + 1e-4)).abs() < 1e-7);
        // Dr. GRPO: mean only.
        let a = run(
            AdvantageEstimator::DrGrpo,
            Preset::Rewardkit,
            "1 0 0 1 | 2 4",
        )
        .unwrap();
        assert_eq!(a, [0.5, -0.5, -0.5, 0.5, -1.0, 1.0]);
        // ReMax: r − b with b = 0.5.
        let a = run(AdvantageEstimator::Remax, Preset::Rewardkit, "1 0 | 2").unwrap();
        assert_eq!(a, [0.5, -0.5, 1.5]);
    }

    #[test]
    fn presets_differ_on_singletons() {
        // A group of one: rewardkit gives 0, verl keeps the raw reward, OpenRLHF refuses.
        let a = run(AdvantageEstimator::Grpo, Preset::Rewardkit, "1 0 | 3").unwrap();
        assert_eq!(a[2], 0.0);
        let a = run(AdvantageEstimator::Grpo, Preset::Verl, "1 0 | 3").unwrap();
        // verl's std is a float32 tensor: it divides by f32(1 + 1e-6) = 1.00000095367431640625.
        assert!((a[2] - 3.0 / 1.000_000_953_674_316_4).abs() < 1e-12);
        assert!(matches!(
            run(AdvantageEstimator::Grpo, Preset::OpenRlhf, "1 0 | 3"),
            Err(DemoError::Core(Error::GroupTooSmall { group: 1, .. }))
        ));
    }

    #[test]
    fn random_groups_are_reproducible_and_binary() {
        let a = Groups::random(7, 3, 4);
        assert_eq!(a, Groups::random(7, 3, 4));
        assert_eq!(a.ids, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert!(a.rewards.iter().all(|&r| r == 0.0 || r == 1.0));
        assert_eq!(Groups::parse(&a.to_text()).unwrap(), a);
        // The first draw of SplitMix64(0) is 0xE220A8397B1DCDAF: u ≈ 0.88 ≥ ½ → 0.
        assert_eq!(Groups::random(0, 1, 1).rewards, [0.0]);
    }

    #[test]
    fn every_documented_error() {
        assert_eq!(
            Groups::parse("1 0 | ").unwrap_err(),
            DemoError::Parse {
                what: "group",
                token: String::new()
            }
        );
        assert!(matches!(
            Groups::parse("1 zero"),
            Err(DemoError::Parse { what: "reward", .. })
        ));
        assert!(matches!(
            run(AdvantageEstimator::Grpo, Preset::Rewardkit, "1 NaN"),
            Err(DemoError::Core(Error::NonFinite { index: 1, .. }))
        ));
        assert!(matches!(
            run(AdvantageEstimator::GrpoPassK, Preset::Rewardkit, "1"),
            Err(DemoError::Core(Error::GroupTooSmall { .. }))
        ));
        let g = Groups::parse("1 0").unwrap();
        assert!(matches!(
            advantages(
                &mut [0.0; 3],
                AdvantageEstimator::Grpo,
                Preset::Rewardkit,
                &g,
                0.0
            ),
            Err(DemoError::Core(Error::LengthMismatch { .. }))
        ));
    }

    #[test]
    fn every_panel_estimator_runs_under_every_preset() {
        for est in ESTIMATORS {
            for preset in PRESETS {
                let a = run(est, preset, "1 0 0 1 0.5 | 0 1 1").unwrap();
                assert!(a.iter().all(|x| x.is_finite()), "{est} {preset}");
            }
        }
    }
}
