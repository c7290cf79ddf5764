//! Policy-gradient, value and preference losses, each as a value **and** its exact gradient with
//! respect to the log-probabilities, in a form that cannot be mis-scaled.
//!
//! # How a token loss is computed
//! 1. A kernel ([`policy_loss`], [`value_loss`]) writes the gradient of the loss *sums* into a
//!    caller `grad: &mut [F]` and returns additive [`LossParts`] (sums and counts).
//! 2. Parts of every shard, micro-batch or accumulation step are added (`+`): the result is the
//!    parts of the whole batch, whatever the split.
//! 3. An [`Aggregation`] (verl `loss_agg_mode`, TRL `loss_type`) turns a shard's parts into its
//!    share of the scalar (`agg.value(&shard, &total)`) and scales its gradient
//!    (`agg.scale_grad(grad, mask, &total)`). Summing the shares gives exactly the whole-batch loss
//!    and gradient, and the normalizers come from the same mask as the sums (verl #4852, TRL #5619).
//!
//! # Contents
//! - [`aggregate`]: [`LossParts`], [`Aggregation`].
//! - [`policy`]: [`PolicyLossKind`] (PPO clip, GSPO, SAPO, GPG, Clip-Cov, KL-Cov, GMPO, CISPO,
//!   DPPO, DRO, VESPO), [`PolicyLoss`], [`PolicyInputs`], [`policy_loss`]; the KL term is
//!   [`KlTerm`] (re-exported from [`crate::kl`]).
//! - [`correction`]: importance-sampling corrections for rollout/training mismatch (TIS, IcePop,
//!   sequence masks), high-entropy token selection, TRL's off-policy mask.
//! - [`rejection`]: verl's rollout rejection sampling (`rollout_rs`), written as a new mask.
//! - [`value`]: the clipped value loss.
//! - [`diagnostics`]: clip fractions, approximate KL (`k3`), ratio statistics.
//! - [`preference`]: DPO and its family over sequence log-probabilities, weighted combinations of
//!   them, LD-DPO token weights, WPO pair weights, the SFT term, the Bradley–Terry reward-model
//!   loss (with PAR's `Reg` L2 term).
//! - [`reward_model`]: reward-model training baselines of the PAR study: ODIN's two-head loss and
//!   WARM's weight averaging.
//! - [`oreal`]: OREAL's loss pieces (behaviour cloning on positives, reshaped policy gradient on
//!   negatives, KL, the token-level reward model's loss), normalized by whole-batch counts.
//!
//! # Example: PPO with a `k3` KL term, split across two shards
//! ```
//! use rewardkit_core::{KlPenalty, Mask, loss::*};
//!
//! let bits = [true, true, false, true, true, true];
//! let mask = Mask::new(&bits, 3)?; // B = 2, T = 3
//! let logp = [-1.0f64, -0.5, 0.0, -2.0, -1.5, -0.7];
//! let old = [-1.1, -0.4, 0.0, -2.0, -1.9, -0.7];
//! let reference = [-1.0, -0.6, 0.0, -2.2, -1.5, -0.9];
//! let adv = [1.0, -0.5]; // one advantage per sequence
//! let loss = PolicyLoss::new(PolicyLossKind::Vanilla)
//!     .with_kl(Some(KlTerm::new(KlPenalty::default(), 0.01)?));
//! let agg = Aggregation::TokenMean;
//!
//! // Whole batch.
//! let inp = PolicyInputs::new(&logp, &old, &adv, mask)?.with_ref(&reference)?;
//! let mut grad = [0.0; 6];
//! let total = policy_loss(&mut grad, &inp, &loss, &agg)?;
//! agg.scale_grad(&mut grad, mask, &total)?;
//!
//! // The same batch as two shards of one row each.
//! let (mut value, mut g2) = (0.0, [0.0; 6]);
//! let mut parts = Vec::new();
//! for (r, g) in (0..2).zip(g2.chunks_mut(3)) {
//!     let m = Mask::new(&bits[3 * r..3 * r + 3], 3)?;
//!     let s = PolicyInputs::new(&logp[3 * r..3 * r + 3], &old[3 * r..3 * r + 3], &adv[r..r + 1], m)?
//!         .with_ref(&reference[3 * r..3 * r + 3])?;
//!     parts.push((policy_loss(g, &s, &loss, &agg)?, m));
//! }
//! let combined: LossParts = parts.iter().map(|p| p.0).sum();
//! for ((p, m), g) in parts.iter().zip(g2.chunks_mut(3)) {
//!     value += agg.value::<f64>(p, &combined)?;
//!     agg.scale_grad(g, *m, &combined)?;
//! }
//! assert!((value - agg.value::<f64>(&total, &total)?).abs() < 1e-15);
//! assert!(grad.iter().zip(&g2).all(|(a, b)| (a - b).abs() < 1e-15));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aggregate;
pub mod correction;
pub mod diagnostics;
pub mod oreal;
pub mod policy;
pub mod preference;
pub mod rejection;
pub mod reward_model;
pub mod value;

pub use crate::kl::KlTerm;
pub use aggregate::{Aggregation, LossParts};
pub use correction::{IsCorrection, IsLevel, IsMode, entropy_mask, is_weights, off_policy_mask};
pub use diagnostics::{PolicyDiagnostics, policy_diagnostics};
pub use oreal::{OrealCounts, OrealInputs, OrealLoss, OrealValue, oreal_loss, oreal_rm_loss};
pub use policy::{
    PolicyInputs, PolicyLoss, PolicyLossKind, RowContext, TokenInputs, TokenTerm, entropy_upstream,
    policy_loss, policy_loss_rng,
};
pub use preference::{
    BradleyTerry, DivergenceKind, PairInputs, PreferenceLoss, PreferenceLossKind,
    bradley_terry_loss, combined_preference_loss, preference_loss,
};
pub use rejection::{
    RejectionRule, RejectionStats, RejectionSummary, RsLevel, RsMode, rejection_mask,
};
pub use reward_model::{Odin, OdinValue, warm_average};
pub use value::{ValueLoss, value_loss};
