//! End-to-end tests of the trainer on a tiny configuration: exact resume, checkpoint errors, and
//! the one-step GRPO gradient against finite differences through the whole model.

use std::path::PathBuf;

use rewardkit_core::Mask;
use rewardkit_core::rng::{RandomSource, SplitMix64};
use serde_json::Value;

use crate::config::Config;
use crate::model::{Gpt, normal};
use crate::step::LossStage;
use crate::train::{
    CHECKPOINT, Packed, PolicyData, Quiet, Scratch, TrainError, Trainer, policy_gradient,
};

pub(crate) fn tiny_config(extra: &[&str]) -> Config {
    let mut o: Vec<String> = [
        "task.digits=2",
        "task.max_checks=1",
        "model.max_t=20",
        "model.n_layer=1",
        "model.n_embd=16",
        "model.n_head=2",
        "warmup.steps=6",
        "warmup.batch=8",
        "warmup.target_accuracy=0",
        "grpo.steps=4",
        "grpo.prompts=2",
        "grpo.group=3",
        "grpo.kl_coef=0.01",
        "eval.prompts=8",
        "eval.every=2",
        "eval.checkpoint_every=0",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    o.extend(extra.iter().map(|s| (*s).to_string()));
    Config::load(None, &o).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rewardkit-trainer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Metrics without the wall-clock fields.
fn metrics(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if let Value::Object(m) = &mut v {
                m.retain(|k, _| !k.starts_with("time"));
            }
            v
        })
        .collect()
}

#[test]
fn resumed_run_reproduces_the_uninterrupted_run() {
    resume_case("none", &[]);
}

#[test]
fn resumed_shaped_runs_reproduce_their_state() {
    // LASER-D's monitor targets live in the checkpoint; the monitor runs every step here, so the
    // resumed half must continue its targets and random stream exactly. (The tiny model solves
    // nothing, so HAPO's history would stay empty here: `shaping_state_round_trips` covers it.)
    resume_case(
        "laser-d",
        &[
            "grpo.shaping=laser-d",
            "shaping.laser_d_every=1",
            "shaping.laser_d_monitor=2",
        ],
    );
}

fn resume_case(name: &str, extra: &[&str]) {
    let (a, b) = (
        tmp(&format!("full-{name}")),
        tmp(&format!("resumed-{name}")),
    );
    let mut full = Trainer::new(tiny_config(extra), &a).unwrap();
    full.run(&mut Quiet, None).unwrap().unwrap();
    let mut first = Trainer::new(tiny_config(extra), &b).unwrap();
    assert!(
        first.run(&mut Quiet, Some(2)).unwrap().is_none(),
        "stopped early"
    );
    drop(first);
    // A stray metrics line written after the checkpoint must not survive the resume.
    let mut text = std::fs::read_to_string(b.join("metrics.jsonl")).unwrap();
    text.push_str("{\"phase\":\"grpo\",\"step\":99}\n");
    std::fs::write(b.join("metrics.jsonl"), text).unwrap();
    let mut resumed = Trainer::resume(&b).unwrap();
    resumed.run(&mut Quiet, None).unwrap().unwrap();
    let (ma, mb) = (metrics(&a), metrics(&b));
    assert!(ma.iter().filter(|m| m["phase"] == "grpo").count() == 4);
    assert_eq!(ma, mb);
    // The shaping state was in use: LASER-D's monitor ran.
    if name == "laser-d" {
        assert!(ma.iter().any(|m| m["laser_d_targets"].is_array()));
    }
    assert_eq!(full.policy.params, resumed.policy.params);
    for f in ["config.toml", "plots.svg", "summary.json", CHECKPOINT] {
        assert!(b.join(f).exists(), "{f}");
    }
    assert!(!b.join("checkpoint.safetensors.tmp").exists());
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

#[test]
fn truncated_or_corrupted_checkpoints_are_clear_errors() {
    let d = tmp("corrupt");
    let mut t = Trainer::new(tiny_config(&["grpo.steps=1"]), &d).unwrap();
    t.run(&mut Quiet, None).unwrap();
    let path = d.join(CHECKPOINT);
    let good = std::fs::read(&path).unwrap();
    let expect_err = |what: &str| match Trainer::resume(&d) {
        Err(TrainError::Checkpoint(e)) => e.to_string(),
        other => panic!("{what}: expected a checkpoint error, got {other:?}"),
    };
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert!(expect_err("truncated").contains("truncated or corrupted"));
    let mut bad = good.clone();
    bad[10] ^= 0xFF; // inside the JSON header
    std::fs::write(&path, &bad).unwrap();
    let msg = expect_err("corrupted header");
    assert!(msg.contains("checkpoint"), "{msg}");
    let mut nan = good.clone();
    let n = nan.len();
    nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, &nan).unwrap();
    assert!(expect_err("NaN").contains("non-finite"));
    std::fs::remove_file(&path).unwrap();
    assert!(expect_err("missing").contains("cannot read"));
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn atomic_write_leaves_no_partial_file() {
    let d = tmp("atomic");
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join(CHECKPOINT);
    crate::checkpoint::write_atomic(&path, b"old").unwrap();
    // Writing into a directory that vanished fails; the old file is untouched, no temp remains.
    let gone = d.join("missing").join(CHECKPOINT);
    assert!(crate::checkpoint::write_atomic(&gone, b"new").is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert!(!gone.with_extension("safetensors.tmp").exists());
    let entries: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
    assert_eq!(entries.len(), 1);
    let _ = std::fs::remove_dir_all(d);
}

/// A model with weights large enough that every path carries a gradient, and a random packed batch
/// of `b` rows (prompt 3 tokens, completion slots 3) with a ragged mask.
fn fd_setup(cfg: &Config, seed: u64, b: usize) -> (Gpt, Vec<u32>, Vec<u32>, Vec<bool>, SplitMix64) {
    let mut rng = SplitMix64::new(seed);
    let mut model = Gpt::new(cfg.model, &mut rng).unwrap();
    for p in &mut model.params {
        *p += (normal(&mut rng) * 0.2) as f32;
    }
    let (p_len, tc) = (3, 3);
    let t = p_len + tc - 1;
    let v = cfg.model.vocab;
    let tokens: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let targets: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let bits: Vec<bool> = (0..b)
        .flat_map(|i| (0..tc).map(move |j| j < 1 + (i % tc)))
        .collect();
    (model, tokens, targets, bits, rng)
}

#[test]
fn grpo_gradient_matches_finite_differences_through_the_model() {
    // Off-policy (old ≠ current), with a KL term: the PPO ratio, the clip, the k3 KL and the
    // aggregation all sit between the parameters and the loss; advantages per sequence (the GRPO
    // plan's output) and, below, per token.
    let cfg = tiny_config(&["grpo.kl_coef=0.1", "grpo.aggregation=seq-mean-token-mean"]);
    let stage = LossStage::new(&cfg.grpo).unwrap();
    let b = 3;
    let (mut model, tokens, targets, bits, mut rng) = fd_setup(&cfg, 17, b);
    let (p_len, tc) = (3, 3);
    let mask = Mask::new(&bits, tc).unwrap();
    let batch = Packed {
        tokens: &tokens,
        targets: &targets,
        b,
        t: p_len + tc - 1,
        p_len,
    };
    let mut scratch = Scratch::default();
    let zero_ref = vec![0.0; b * tc];
    let adv_seq: Vec<f32> = (0..b)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect();
    let on = PolicyData {
        old: None,
        reference: &zero_ref,
        adv: &adv_seq,
        mask,
    };
    policy_gradient(&mut model, &stage, &batch, &on, 0, false, &mut scratch).unwrap();
    // Old and reference log-probabilities near (not at) the current ones, inside the clip range.
    let old: Vec<f32> = scratch
        .logp
        .iter()
        .map(|&l| l + 0.05 * (rng.next_f64() as f32 - 0.5))
        .collect();
    let reference: Vec<f32> = scratch
        .logp
        .iter()
        .map(|&l| l - 0.3 * rng.next_f64() as f32)
        .collect();
    let adv_tok: Vec<f32> = (0..b * tc)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect();
    for adv in [&adv_seq, &adv_tok] {
        let data = PolicyData {
            old: Some(&old),
            reference: &reference,
            adv,
            mask,
        };
        policy_gradient(&mut model, &stage, &batch, &data, 0, false, &mut scratch).unwrap();
        let grads = scratch.grads.clone();
        let h = 1e-2f32;
        let (mut num, mut den) = (0.0f64, 0.0f64);
        let at = |model: &mut Gpt, scratch: &mut Scratch| {
            policy_gradient(model, &stage, &batch, &data, 0, false, scratch)
                .unwrap()
                .loss
        };
        #[expect(clippy::needless_range_loop, reason = "i indexes params and grads")]
        for i in 0..model.num_params() {
            let orig = model.params[i];
            model.params[i] = orig + h;
            let lp = at(&mut model, &mut scratch);
            model.params[i] = orig - h;
            let lm = at(&mut model, &mut scratch);
            model.params[i] = orig;
            let fd = (lp - lm) / (2.0 * f64::from(h));
            let an = f64::from(grads[i]);
            assert!(
                (fd - an).abs() < 1e-3 + 3e-2 * fd.abs(),
                "param {i}: FD {fd} vs backward {an}"
            );
            num += (fd - an).powi(2);
            den += fd.powi(2);
        }
        assert!(den > 1e-6, "no gradient reached the parameters");
        assert!(
            (num / den).sqrt() < 2e-2,
            "relative error {}",
            (num / den).sqrt()
        );
    }
}

#[test]
fn micro_batches_give_the_whole_batch_loss_and_gradient() {
    // The loss normalizer is the whole batch's (`LossParts::from_mask`), so splitting the rows
    // into micro-batches changes only the order in which the weight gradients are summed.
    for agg in ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"] {
        let cfg = tiny_config(&["grpo.kl_coef=0.05", &format!("grpo.aggregation={agg}")]);
        let stage = LossStage::new(&cfg.grpo).unwrap();
        let b = 7;
        let (mut model, tokens, targets, bits, mut rng) = fd_setup(&cfg, 29, b);
        let (p_len, tc) = (3, 3);
        let mask = Mask::new(&bits, tc).unwrap();
        let batch = Packed {
            tokens: &tokens,
            targets: &targets,
            b,
            t: p_len + tc - 1,
            p_len,
        };
        let adv: Vec<f32> = (0..b)
            .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
            .collect();
        let reference: Vec<f32> = (0..b * tc)
            .map(|_| -(rng.next_f64() as f32) - 1.0)
            .collect();
        let data = PolicyData {
            old: None,
            reference: &reference,
            adv: &adv,
            mask,
        };
        let mut s = Scratch::default();
        let whole = policy_gradient(&mut model, &stage, &batch, &data, 0, true, &mut s).unwrap();
        let g_whole = s.grads.clone();
        for micro in [1, 2, 3] {
            let part =
                policy_gradient(&mut model, &stage, &batch, &data, micro, true, &mut s).unwrap();
            assert!(
                (part.loss - whole.loss).abs() < 1e-6 * (1.0 + whole.loss.abs()),
                "{agg}, micro {micro}: loss {} vs {}",
                part.loss,
                whole.loss
            );
            assert_eq!(part.parts.tokens, whole.parts.tokens);
            assert_eq!(part.diag.tokens, whole.diag.tokens);
            assert!((part.kl_sum - whole.kl_sum).abs() < 1e-4);
            assert!((part.entropy_sum - whole.entropy_sum).abs() < 1e-4);
            let scale = g_whole.iter().fold(0.0f32, |a, g| a.max(g.abs()));
            for (i, (a, w)) in s.grads.iter().zip(&g_whole).enumerate() {
                assert!(
                    (a - w).abs() <= 1e-5 * scale,
                    "{agg}, micro {micro}, param {i}: {a} vs {w}"
                );
            }
        }
    }
}

#[test]
fn shaping_state_round_trips() {
    // What a checkpoint stores of the shaping state (JSON in its metadata): a HAPO history with
    // entries and LASER-D's monitored targets come back equal.
    let mut st = crate::step::ShapingState::default();
    st.hapo
        .update(&[7, 7, 9], &[12, 15, 20], &[true, true, false])
        .unwrap();
    let cfg = tiny_config(&["grpo.shaping=laser-d"]);
    let terms = crate::step::RewardTerms::new(&cfg).unwrap();
    let ids = [0u32, 0, 0, 1, 1, 1];
    let groups = crate::step::groups(&ids, 2).unwrap();
    let targets = terms
        .monitor(&mut st, &[3, 5, 9, 4, 4, 4], &[true; 6], &groups)
        .unwrap();
    assert!(targets.iter().any(Option::is_some));
    let back: crate::step::ShapingState =
        serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
    assert_eq!(back.hapo, st.hapo);
    assert_eq!(back.hapo.get(7), Some(12.0));
    assert_eq!(back.laser_d, st.laser_d);
}

#[test]
fn reward_terms_by_hand() {
    // Default config: budget 32 tokens, so cosine's L_max = 7/8·32 = 28 (margin 0) and the
    // format weight is 0.5. Rows (correct, well formed, length): (T, T, 12), (T, F, 20),
    // (F, T, 11), (F, T, 30).
    let rows = |shaping: &str| {
        let cfg = Config::load(None, &[format!("grpo.shaping={shaping}")]).unwrap();
        let terms = crate::step::RewardTerms::new(&cfg).unwrap();
        let mut state = crate::step::ShapingState::default();
        let (correct, wf, lengths) = (
            [true, true, false, false],
            [true, false, true, true],
            [12u32, 20, 11, 30],
        );
        let ids = [0u32, 0, 1, 1];
        let bits: Vec<bool> = lengths
            .iter()
            .flat_map(|&l| (0..30).map(move |j| j < l as usize))
            .collect();
        let r = terms
            .rewards(
                &mut state,
                &crate::step::RewardInputs {
                    correct: &correct,
                    well_formed: &wf,
                    lengths: &lengths,
                    keys: &[1, 1, 2, 2],
                    groups: &crate::step::groups(&ids, 2).unwrap(),
                    mask: crate::step::mask(&bits, 30).unwrap(),
                },
            )
            .unwrap();
        (r.total, r.names)
    };
    // none: 1·correct + 0.5·well formed.
    let (none, names) = rows("none");
    assert_eq!(none, [1.5, 1.0, 0.5, 0.5]);
    assert_eq!(names, ["correctness", "well_formed"]);
    // cosine replaces correctness: r = r_lo + ½(r_hi − r_lo)(1 + cos(πL/28)), −10 at L ≥ 28;
    // values worked in f64: 1.611260, 1.188255, −6.651395; plus 0.5·well formed.
    let (cos, _) = rows("cosine");
    let want = [2.111_260_5f32, 1.188_255_1, -6.151_395_3, -9.5];
    for (g, w) in cos.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{cos:?}");
    }
}

/// `--backend`: names, the CPU, and a build without the `gpu` feature (`gpu` is `NoGpu`, exit code
/// 4 of the command; `auto` is the CPU with one note).
#[test]
fn backend_selection() {
    use crate::backend::{BACKENDS, BackendChoice, select};
    for name in BACKENDS {
        assert_eq!(name.parse::<BackendChoice>().unwrap().to_string(), name);
    }
    assert!("cuda".parse::<BackendChoice>().is_err());
    let s = select(BackendChoice::Cpu).unwrap();
    assert!(!s.backend.is_gpu() && s.note.is_none());
    assert_eq!(s.backend.describe(), "cpu");
    #[cfg(not(feature = "gpu"))]
    {
        assert!(matches!(
            select(BackendChoice::Gpu),
            Err(TrainError::NoGpu(m)) if m.contains("--features gpu")
        ));
        let a = select(BackendChoice::Auto).unwrap();
        assert!(!a.backend.is_gpu());
        assert!(a.note.is_some_and(|n| n.contains("using the CPU")));
    }
}

/// The step-by-step API (`in_memory`, `warmup_step`, `start_grpo`, `grpo_step`) takes exactly the
/// steps `run` takes: the same warm-up losses and GRPO metrics (the browser demo drives a run
/// through it), and touches no file. (Equal up to `metrics.jsonl`'s text round trip: `serde_json`
/// may read a float back one ulp off.)
#[test]
fn stepwise_api_reproduces_run() {
    let cfg = tiny_config(&["eval.every=0"]);
    let dir = tmp("stepwise");
    let mut t = Trainer::new(cfg.clone(), &dir).unwrap();
    t.run(&mut Quiet, None).unwrap();
    let logged = metrics(&dir);
    let num = |m: &Value, k: &str| m.get(k).and_then(Value::as_f64).unwrap();
    let same = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * b.abs();
    let phase = |p: &str| -> Vec<&Value> {
        logged
            .iter()
            .filter(|m| m.get("phase").and_then(Value::as_str) == Some(p))
            .collect()
    };

    let mut s = Trainer::in_memory(cfg.clone()).unwrap();
    for (k, m) in phase("warmup").into_iter().enumerate() {
        let w = s.warmup_step().unwrap();
        assert!(same(w.loss, num(m, "loss")), "warm-up step {}", k + 1);
        assert!(w.tokens > 0 && w.seconds >= 0.0);
    }
    assert_eq!(s.state.warmup_done, cfg.warmup.steps);
    s.start_grpo().unwrap();
    for (k, m) in phase("grpo").into_iter().enumerate() {
        let g = s.grpo_step().unwrap();
        s.state.grpo_done += 1;
        for key in ["loss", "reward", "accuracy", "length", "kl"] {
            let (a, b) = (num(&Value::Object(g.clone()), key), num(m, key));
            assert!(same(a, b), "GRPO step {} {key}: {a} vs {b}", k + 1);
        }
    }
    assert!(!std::path::Path::new("metrics.jsonl").exists());
    let _ = std::fs::remove_dir_all(dir);
}
