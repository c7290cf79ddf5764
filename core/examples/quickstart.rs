//! A worked example: one GRPO-style batch, through rewardkit's advantage estimators and KL
//! estimators, printed as tables.
//!
//! Run with `cargo run --release -p rewardkit-core --example quickstart`.
//!
//! The batch: 3 prompts × 4 sampled completions = 12 rows of at most 6 tokens, rows shuffled the
//! way verl's `balance_batch` leaves them. Each completion gets an outcome reward (1 = correct) on its
//! last valid token. Log-probabilities of the policy and of a reference policy are made up.
#![allow(
    clippy::print_stdout,
    clippy::std_instead_of_core,
    reason = "an example prints and uses std"
)]

use rewardkit_core::advantage::{AdvantageConfig, AdvantageInputs};
use rewardkit_core::kl::KlController;
use rewardkit_core::logits::{RowStats, full_kl_forward};
use rewardkit_core::{AdvantageEstimator, GroupIndex, KlPenalty, Mask, Preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const T: usize = 6;
    // Group (prompt) of each row, in shuffled order, and each row's response length.
    let ids: [u32; 12] = [2, 0, 1, 0, 2, 1, 1, 0, 2, 0, 1, 2];
    let lens: [usize; 12] = [3, 6, 2, 4, 5, 6, 1, 2, 4, 6, 3, 2];
    let correct: [f64; 12] = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
    let b = ids.len();

    let groups = GroupIndex::new(&ids, 3)?;
    let mut bits = vec![false; b * T];
    rewardkit_core::layout::prefix_mask(&mut bits, &lens, T)?;
    let mask = Mask::new(&bits, T)?;
    let mut token_rewards = vec![0.0f64; b * T];
    for i in 0..b {
        token_rewards[i * T + lens[i] - 1] = correct[i];
    }

    println!("rewardkit quickstart: {b} rows (3 prompts x 4 samples, shuffled), T = {T}\n");
    println!("row  group  len  reward | advantage per estimator (first token)");
    let estimators = [
        "grpo",
        "dr_grpo",
        "rloo",
        "reinforce_plus_plus_baseline",
        "gpg",
        "opo",
    ];
    print!("{:<25}", "");
    for e in estimators {
        print!("{e:>12.12} ");
    }
    println!();
    let mut columns = Vec::new();
    for name in estimators {
        let est: AdvantageEstimator = name.parse()?;
        let (mut adv, mut ret) = (vec![0.0; b * T], vec![0.0; b * T]);
        est.compute(
            &mut adv,
            &mut ret,
            &AdvantageInputs::new(&token_rewards, mask).with_groups(&groups),
            &AdvantageConfig::new(Preset::Rewardkit),
        )?;
        columns.push(adv);
    }
    for i in 0..b {
        print!(
            "{i:>3}  {:>5}  {:>3}  {:>6} | ",
            ids[i], lens[i], correct[i]
        );
        for col in &columns {
            print!("{:>12.4} ", col[i * T]);
        }
        println!();
    }

    // The same GRPO advantages under each framework's numerics.
    println!("\nGRPO under each preset (row 0):");
    for preset in [
        Preset::Rewardkit,
        Preset::Verl,
        Preset::Trl,
        Preset::OpenRlhf,
    ] {
        let (mut adv, mut ret) = (vec![0.0; b * T], vec![0.0; b * T]);
        AdvantageEstimator::Grpo.compute(
            &mut adv,
            &mut ret,
            &AdvantageInputs::new(&token_rewards, mask).with_groups(&groups),
            &AdvantageConfig::new(preset),
        )?;
        println!("  {preset:<10} {:.8}", adv[0]);
    }

    // Per-token KL estimators with their exact gradients d/d logp.
    let logp: Vec<f64> = (0..b * T).map(|k| -0.2 - 0.07 * (k % 9) as f64).collect();
    let ref_logp: Vec<f64> = (0..b * T).map(|k| -0.25 - 0.05 * (k % 7) as f64).collect();
    println!("\nKL estimators on the first 4 tokens (value / d value / d logp):");
    for name in ["k1", "k2", "k3", "k3+"] {
        let kl: KlPenalty<f64> = name.parse()?;
        let (mut v, mut g) = (vec![0.0; b * T], vec![0.0; b * T]);
        kl.forward(&mut v, Some(&mut g), &logp, &ref_logp)?;
        print!("  {name:<4}");
        for k in 0..4 {
            print!("  {:>9.6} / {:>9.6}", v[k], g[k]);
        }
        println!();
    }

    // Exact KL over a vocabulary of 5 from logits.
    let logits = [1.0, 0.5, -0.2, 0.0, -1.0];
    let ref_logits = [0.8, 0.7, -0.1, 0.1, -1.5];
    let (mut full, mut stats, mut ref_stats) =
        ([0.0f64], [RowStats::default()], [RowStats::default()]);
    full_kl_forward(
        &mut full,
        &mut stats,
        &mut ref_stats,
        &logits,
        &ref_logits,
        5,
    )?;
    println!("\nexact KL(pi || pi_ref) over V = 5: {:.6}", full[0]);

    // An adaptive KL coefficient (Ziegler et al.) after a step with KL above target.
    let mut ctl = rewardkit_core::kl::AdaptiveKlController::new(0.05, 0.1, 10_000.0)?;
    ctl.update(0.3, 512)?;
    println!(
        "adaptive KL coefficient after KL = 0.3 (target 0.1): {:.6}",
        ctl.coef()
    );
    Ok(())
}
