//! The browser test's scenario and the values native rewardkit computes for it.
//!
//! `cargo run -p rewardkit-web --example expected -- OUT.json` writes, for each panel, the inputs
//! the test types into the page and the numbers the page must then show. Every expected number is
//! computed here by calling `rewardkit-core` directly (not through this crate's panel modules, the
//! code under test); the doctor's verdicts are the ones the inputs were built to have. The only
//! piece of the crate used is the gridworld's transition kernel (the environment, unit-tested with
//! hand values in `gridworld.rs`).
//!
//! The training panel's values come from the native trainer (`rewardkit_trainer::train::Trainer`,
//! driven step by step as the page's module drives it), for the config the page builds: the
//! trainer's default with [`rewardkit_web::TRAINING_PRESET`], the seed, the shaping and the
//! warm-up steps the test types.
//!
//! `web/test/browser.mjs` reads the file, drives the page in headless Chromium and compares.

use rewardkit_core::advantage::{AdvantageConfig, AdvantageInputs};
use rewardkit_core::distance::{
    Canonicalization, Dard, Epic, Norm, Starc, redistribute, scale_reward, shape_potential,
};
use rewardkit_core::mdp::{Mdp, Policy, Reward, normalized_regret, optimal_policy, regret};
use rewardkit_core::reward::{
    CosineLength, Hapo, HapoShape, Laser, LaserMode, Overlong, TargetLength, TargetMode,
};
use rewardkit_core::rng::{RandomSource, SplitMix64};
use rewardkit_core::{AdvantageEstimator, Error, GroupIndex, Mask, Preset};
use rewardkit_web::gridworld::Gridworld;
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn core::error::Error>>;

fn main() -> Res<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/web-test/expected.json".into());
    let doc = json!({
        "shaping": shaping()?,
        "advantages": advantages()?,
        "distances": distances()?,
        "doctor": doctor()?,
        "training": training()?,
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)?)?;
    println!("wrote {out}");
    Ok(())
}

fn metric(r: Result<f64, Error>) -> Value {
    match r {
        Ok(x) => json!({ "value": x }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

// ---------------------------------------------------------------------------------------------
// Reward shaping: each case sets the method and parameters, moves the length slider to `probe`
// and reads the rewards of a correct and an incorrect answer there.
// ---------------------------------------------------------------------------------------------

fn shaping() -> Res<Value> {
    let mut cases = Vec::new();
    // HAPO, linear shape, history 3000, with the 1/0 correctness reward added.
    let hapo = Hapo::<f64>::new(0.8, HapoShape::Linear)?
        .with_floor(0.5)?
        .with_tolerance(0.2)?;
    for probe in [1200u32, 4000] {
        let h = Some(3000.0);
        cases.push(json!({
            "method": "hapo",
            "params": {"shape": "linear", "weight": "0.8", "floor": "0.5", "tolerance": "0.2", "history": "3000"},
            "with_correctness": true,
            "probe": probe,
            "correct": 1.0 + hapo.length_reward(h, probe, true)?,
            "wrong": hapo.length_reward(h, probe, false)?,
        }));
    }
    // LASER hybrid, α = 0.4, L_T = 2048, the term alone.
    let laser = Laser::<f64>::new(0.4, 2048, LaserMode::Hybrid)?;
    cases.push(json!({
        "method": "laser",
        "params": {"mode": "hybrid", "alpha": "0.4", "target": "2048"},
        "with_correctness": false,
        "probe": 3000,
        "correct": laser.value(3000, true)?,
        "wrong": laser.value(3000, false)?,
    }));
    // Cosine with the paper's defaults.
    let cos = CosineLength::<f64>::default();
    cases.push(json!({
        "method": "cosine",
        "params": {"max_len": "14336", "correct_short": "2", "correct_long": "1", "wrong_short": "-10",
                   "wrong_long": "0", "exceed": "-10", "margin": "16"},
        "with_correctness": true,
        "probe": 5000,
        "correct": cos.value(5000, true)?,
        "wrong": cos.value(5000, false)?,
    }));
    // DAPO overlong, L_max = 16384, buffer 4096, φ = 1, with correctness.
    let o = Overlong::<f64>::new(16384, 4096, 1.0)?;
    cases.push(json!({
        "method": "overlong",
        "params": {"max_len": "16384", "buffer": "4096", "factor": "1", "cap": "on"},
        "with_correctness": true,
        "probe": 14000,
        "correct": 1.0 + o.value(14000)?,
        "wrong": o.value(14000)?,
    }));
    // L1-Max, α = 0.0005, δ = 0.5, target 2000.
    let l1 = TargetLength::<f64>::new(0.0005, 0.5, TargetMode::Max)?;
    cases.push(json!({
        "method": "l1",
        "params": {"mode": "max", "alpha": "0.0005", "delta": "0.5", "target": "2000"},
        "with_correctness": true,
        "probe": 2500,
        "correct": l1.value(true, 2500, 2000)?,
        "wrong": l1.value(false, 2500, 2000)?,
    }));
    Ok(Value::Array(cases))
}

// ---------------------------------------------------------------------------------------------
// Advantages: each case types (or randomizes) the rewards, picks a preset and reads the table.
// ---------------------------------------------------------------------------------------------

const ESTIMATORS: [&str; 9] = [
    "grpo",
    "dr_grpo",
    "grpo_passk",
    "rloo",
    "opo",
    "gpg",
    "reinforce_plus_plus",
    "reinforce_plus_plus_baseline",
    "remax",
];

fn advantage_rows(rewards: &[f64], ids: &[u32], preset: Preset, remax_b: f64) -> Res<Value> {
    let b = rewards.len();
    let n_groups = ids.iter().max().map_or(0, |&g| g as usize + 1);
    let bits = vec![true; b];
    let mask = Mask::new(&bits, 1)?;
    let index = GroupIndex::new(ids, n_groups)?;
    let baselines = vec![remax_b; b];
    let mut rows = Vec::new();
    for name in ESTIMATORS {
        let est: AdvantageEstimator = name.parse()?;
        let inputs = AdvantageInputs::new(rewards, mask)
            .with_groups(&index)
            .with_reward_baselines(&baselines);
        let (mut adv, mut ret) = (vec![0.0; b], vec![0.0; b]);
        rows.push(
            match est.compute(&mut adv, &mut ret, &inputs, &AdvantageConfig::new(preset)) {
                Ok(()) => json!({"estimator": name, "values": adv}),
                Err(e) => json!({"estimator": name, "error": e.to_string()}),
            },
        );
    }
    Ok(Value::Array(rows))
}

fn advantages() -> Res<Value> {
    let mut cases = Vec::new();
    // Typed: two groups, the second with a half reward.
    let rewards = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.5, 1.0];
    let ids = [0, 0, 0, 0, 0, 1, 1, 1];
    for preset in [Preset::Rewardkit, Preset::Trl] {
        cases.push(json!({
            "text": "1, 0, 0, 1, 1 | 0, 0.5, 1",
            "preset": preset.to_string(),
            "remax_baseline": 0.5,
            "rewards": rewards,
            "rows": advantage_rows(&rewards, &ids, preset, 0.5)?,
        }));
    }
    // A singleton group: rewardkit gives 0, verl keeps the reward, OpenRLHF refuses (row errors).
    let rewards = [1.0, 0.0, 0.0, 2.0];
    let ids = [0, 0, 0, 1];
    for preset in [Preset::Verl, Preset::OpenRlhf] {
        cases.push(json!({
            "text": "1 0 0 | 2",
            "preset": preset.to_string(),
            "remax_baseline": 0.0,
            "rewards": rewards,
            "rows": advantage_rows(&rewards, &ids, preset, 0.0)?,
        }));
    }
    // Randomized: SplitMix64(seed), reward 1 when next_f64() < ½, 2 groups of 4.
    let (seed, groups, k) = (2024u64, 2usize, 4usize);
    let mut rng = SplitMix64::new(seed);
    let rewards: Vec<f64> = (0..groups * k)
        .map(|_| if rng.next_f64() < 0.5 { 1.0 } else { 0.0 })
        .collect();
    let ids: Vec<u32> = (0..groups * k)
        .map(|i| u32::try_from(i / k).unwrap_or(u32::MAX))
        .collect();
    cases.push(json!({
        "random": {"seed": seed, "groups": groups, "k": k},
        "preset": "verl",
        "remax_baseline": 0.5,
        "rewards": rewards,
        "rows": advantage_rows(&rewards, &ids, Preset::Verl, 0.5)?,
    }));
    Ok(Value::Array(cases))
}

// ---------------------------------------------------------------------------------------------
// Distances: one gridworld, reward B edited and transformed step by step.
// ---------------------------------------------------------------------------------------------

const WORLD: (usize, usize, f64, f64) = (4, 4, 0.1, 0.9);

fn uniform_noise(seed: u64, n: usize, m: f64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| m * (2.0 * rng.next_f64() - 1.0)).collect()
}

fn state_reward(mdp: &Mdp<'_, f64>, r: &[f64]) -> Res<Vec<f64>> {
    let mut out = vec![0.0; mdp.full_len()];
    Reward::State(r).expand(&mut out, mdp)?;
    Ok(out)
}

fn goal(n: usize) -> Vec<f64> {
    (0..n).map(|s| if s + 1 == n { 1.0 } else { 0.0 }).collect()
}

fn compare(mdp: &Mdp<'_, f64>, a: &[f64], b: &[f64]) -> Res<Value> {
    let (ra, rb) = (Reward::Full(a), Reward::Full(b));
    Ok(json!({
        "starc": metric(Starc::default().distance(mdp, &ra, &rb)),
        "starc_minimal": metric(Starc::new(Canonicalization::MinimalL2, Norm::l2()).distance(mdp, &ra, &rb)),
        "epic": metric(Epic::default().distance(mdp, &ra, &rb)),
        "dard": metric(Dard::default().distance(mdp, &ra, &rb)),
        "policy_a": optimal_policy(mdp, &ra)?.actions,
        "policy_b": optimal_policy(mdp, &rb)?.actions,
    }))
}

fn distances() -> Res<Value> {
    let (w, h, slip, gamma) = WORLD;
    let world = Gridworld::new(w, h, slip, gamma)?;
    let mdp = world.mdp()?;
    let n = w * h;
    let a = state_reward(&mdp, &goal(n))?;
    let mut b = a.clone();
    let mut steps = vec![json!({"action": "initial", "expect": compare(&mdp, &a, &b)?})];
    // Edit: a pit of −1 in state 5 and a second, smaller goal in state 3.
    for (state, value) in [(5usize, -1.0), (3, 0.5)] {
        let block = 4 * n;
        b[state * block..(state + 1) * block].fill(value);
        steps.push(json!({"action": "edit", "state": state, "value": value,
                          "expect": compare(&mdp, &a, &b)?}));
    }
    let mut next = vec![0.0; mdp.full_len()];
    // Scale by 2.5.
    scale_reward(&mut next, &mdp, &Reward::Full(&b), 2.5)?;
    b.clone_from(&next);
    steps.push(json!({"action": "scale", "alpha": 2.5, "expect": compare(&mdp, &a, &b)?}));
    // Shape with a random potential, seed 11, magnitude 3.
    shape_potential(
        &mut next,
        &mdp,
        &Reward::Full(&b),
        &uniform_noise(11, n, 3.0),
    )?;
    b.clone_from(&next);
    steps.push(json!({"action": "shape", "seed": 11, "magnitude": 3.0,
                      "expect": compare(&mdp, &a, &b)?}));
    // S'-redistribute, seed 12, magnitude 1.
    redistribute(
        &mut next,
        &mdp,
        &Reward::Full(&b),
        &uniform_noise(12, mdp.full_len(), 1.0),
    )?;
    b.clone_from(&next);
    steps.push(
        json!({"action": "redistribute", "seed": 12, "magnitude": 1.0,
                      "expect": compare(&mdp, &a, &b)?}),
    );
    // Perturb each state's reward, seed 13, magnitude 0.5.
    let noise = uniform_noise(13, n, 0.5);
    for (block, e) in b.chunks_exact_mut(4 * n).zip(&noise) {
        block.iter_mut().for_each(|x| *x += e);
    }
    steps.push(json!({"action": "perturb", "seed": 13, "magnitude": 0.5,
                      "expect": compare(&mdp, &a, &b)?}));
    Ok(json!({
        "world": {"width": w, "height": h, "slip": slip, "gamma": gamma},
        "steps": steps,
    }))
}

// ---------------------------------------------------------------------------------------------
// Reward doctor: a reference, a proposal (picked or pasted), the verdict the proposal was built
// to have, and core's distances, regrets and per-state value losses.
// ---------------------------------------------------------------------------------------------

fn diagnosis(mdp: &Mdp<'_, f64>, reference: &[f64], proposed: &[f64]) -> Res<Value> {
    let (rr, rp) = (Reward::Full(reference), Reward::Full(proposed));
    let opt_ref = optimal_policy(mdp, &rr)?;
    let opt_prop = optimal_policy(mdp, &rp)?;
    let vmax = opt_ref.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut disagree = Vec::new();
    for (s, &a) in opt_prop.actions.iter().enumerate() {
        let lost = opt_ref.values[s] - opt_ref.q[s * 4 + a];
        if lost > 1e-9 * (1.0 + vmax) {
            disagree.push(json!({"state": s, "value_lost": lost}));
        }
    }
    let cmp = compare(mdp, reference, proposed)?;
    Ok(json!({
        "distances": {"starc": cmp["starc"], "starc_minimal": cmp["starc_minimal"],
                      "epic": cmp["epic"], "dard": cmp["dard"]},
        "regret": regret(mdp, &rr, &Policy::Deterministic(&opt_prop.actions))?,
        "normalized_regret": normalized_regret(mdp, &rr, &Policy::Deterministic(&opt_prop.actions))?,
        "reverse_regret": regret(mdp, &rp, &Policy::Deterministic(&opt_ref.actions))?,
        "reverse_normalized_regret": normalized_regret(mdp, &rp, &Policy::Deterministic(&opt_ref.actions))?,
        "disagreements": disagree,
    }))
}

fn doctor() -> Res<Value> {
    let (w, h, slip, gamma) = WORLD;
    let world = Gridworld::new(w, h, slip, gamma)?;
    let mdp = world.mdp()?;
    let n = w * h;
    let reference = state_reward(&mdp, &goal(n))?;
    let mut cases = Vec::new();
    // Picked: the goal reward shaped with Φ(s) = −(Manhattan distance to the goal).
    let phi: Vec<f64> = (0..n)
        .map(|s| -(((w - 1 - s % w) + (h - 1 - s / w)) as f64))
        .collect();
    let mut shaped = vec![0.0; mdp.full_len()];
    shape_potential(&mut shaped, &mdp, &Reward::Full(&reference), &phi)?;
    cases.push(json!({
        "reference": "goal", "proposed": "goal-progress", "relation": "shaped", "alpha": null,
        "expect": diagnosis(&mdp, &reference, &shaped)?,
    }));
    // Picked: +1 for leaving the cell left of the goal.
    let near: Vec<f64> = (0..n).map(|s| if s + 2 == n { 1.0 } else { 0.0 }).collect();
    cases.push(json!({
        "reference": "goal", "proposed": "near-goal", "relation": "different", "alpha": null,
        "expect": diagnosis(&mdp, &reference, &state_reward(&mdp, &near)?)?,
    }));
    // Pasted: 2 × goal − 0.3 everywhere (a rescaling plus a constant shift, which is a shaping).
    let pasted: Vec<f64> = goal(n).iter().map(|g| 2.0 * g - 0.3).collect();
    let text = pasted
        .chunks(w)
        .map(|row| row.iter().map(f64::to_string).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    cases.push(json!({
        "reference": "goal", "proposed_text": text, "relation": "rescaled+shaped", "alpha": 2.0,
        "expect": diagnosis(&mdp, &reference, &state_reward(&mdp, &pasted)?)?,
    }));
    // Pasted: a reward that only moves the goal's reward between next states keeps STARC at 0.
    let mut moved = vec![0.0; mdp.full_len()];
    redistribute(
        &mut moved,
        &mdp,
        &Reward::Full(&reference),
        &uniform_noise(1, mdp.full_len(), 1.0),
    )?;
    cases.push(json!({
        "reference": "goal", "proposed": "goal-redistributed", "relation": "same-ordering",
        "alpha": null,
        "expect": diagnosis(&mdp, &reference, &moved)?,
    }));
    Ok(Value::Array(cases))
}

// ---------------------------------------------------------------------------------------------
// Live training: the native trainer on the config the page builds (seed 1, HAPO, 4 warm-up steps),
// 4 warm-up steps and 3 GRPO steps. The warm-up losses involve no sampling (the page must match
// them to a relative 1e-4: wasm and native f32 kernels differ in the last bits, e.g. FMA in the
// native matrix products); the GRPO steps sample, so the test compares them only if the
// trajectories agree and otherwise checks their structure.
// ---------------------------------------------------------------------------------------------

fn training() -> Res<Value> {
    use rewardkit_trainer::config::Config;
    use rewardkit_trainer::train::Trainer;
    let (seed, shaping, warmup, grpo) = (1u64, "hapo", 4usize, 3usize);
    let mut overrides: Vec<String> = rewardkit_web::TRAINING_PRESET
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    overrides.extend([
        format!("seed={seed}"),
        format!("grpo.shaping=\"{shaping}\""),
        format!("warmup.steps={warmup}"),
    ]);
    let cfg = Config::load(None, &overrides)?;
    let max_new = cfg.max_new();
    let mut t = Trainer::in_memory(cfg)?;
    let mut losses = Vec::new();
    for _ in 0..warmup {
        losses.push(t.warmup_step()?.loss);
    }
    t.start_grpo()?;
    let mut steps = Vec::new();
    for _ in 0..grpo {
        let m = t.grpo_step()?;
        t.state.grpo_done += 1;
        let keep = ["loss", "reward", "accuracy", "format", "length", "kl"];
        steps.push(Value::Object(
            keep.iter()
                .map(|&k| (k.to_owned(), m.get(k).cloned().unwrap_or(Value::Null)))
                .collect(),
        ));
    }
    Ok(json!({
        "seed": seed,
        "shaping": shaping,
        "warmup": warmup,
        "max_new": max_new,
        "warmup_losses": losses,
        "grpo": steps,
    }))
}
