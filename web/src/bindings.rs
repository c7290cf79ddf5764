//! The `#[wasm_bindgen]` surface the page imports from `pkg/rewardkit_web.js`.
//!
//! Plain functions and two classes; errors become JavaScript `Error`s with the [`DemoError`]
//! message, composite results JSON strings (objects with numbers, strings and arrays; a number
//! is always finite). Large curves come back as `Float64Array`s.
//!
//! | JavaScript | Rust |
//! |---|---|
//! | `version()` | the crate version |
//! | `shaping_methods()` | [`crate::shaping::Method::params`] as JSON |
//! | `shaping_curve(method, names, values, lengths, withCorrectness)` | [`crate::shaping::Shaping::curve`] |
//! | `advantage_table(text, preset, remaxBaseline)` | [`crate::advantages::advantages`] for every estimator |
//! | `random_rewards(seed, groups, k)` | [`crate::advantages::Groups::random`] |
//! | `new World(w, h, slip, gamma)` | [`crate::gridworld`] and [`crate::doctor`] on two rewards |
//! | `training_shapings()`, `new TrainingRun(seed, shaping)` (feature `training`) | `crate::training::Session` |
//!
//! Only this module depends on `wasm_bindgen`; on a non-wasm target its functions compile (so
//! clippy and the docs cover them) but creating a `JsError` needs a JavaScript host.

use core::fmt::Write as _;

use rewardkit_core::Preset;
use wasm_bindgen::prelude::*;

use crate::advantages::{self, ESTIMATORS, Groups};
use crate::doctor::{self, EXAMPLES, Verdict};
use crate::gridworld::{self, ACTIONS, Distances, Gridworld};
use crate::shaping::{Method, Shaping};
use crate::{DemoError, Result};

fn js(e: DemoError) -> JsError {
    JsError::new(&e.to_string())
}

// ---------------------------------------------------------------------------------------------
// A minimal JSON writer (numbers, strings, arrays, objects): no serde in the .wasm.
// ---------------------------------------------------------------------------------------------

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number (`null` for a non-finite value, which core never returns on `Ok`).
pub fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else {
        "null".into()
    }
}

fn json_arr<T>(xs: impl IntoIterator<Item = T>, f: impl Fn(T) -> String) -> String {
    let items: Vec<String> = xs.into_iter().map(f).collect();
    format!("[{}]", items.join(","))
}

fn json_obj(fields: &[(&str, String)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// `{"value": x}` or `{"error": "message"}`.
fn json_result(r: &core::result::Result<f64, rewardkit_core::Error>) -> String {
    match r {
        Ok(x) => json_obj(&[("value", json_num(*x))]),
        Err(e) => json_obj(&[("error", json_str(&e.to_string()))]),
    }
}

fn json_distances(d: &Distances) -> String {
    json_obj(&[
        ("starc", json_result(&d.starc)),
        ("starc_minimal", json_result(&d.starc_minimal)),
        ("epic", json_result(&d.epic)),
        ("dard", json_result(&d.dard)),
    ])
}

/// The crate version (the page shows it once loaded).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}

// ---------------------------------------------------------------------------------------------
// Reward shaping
// ---------------------------------------------------------------------------------------------

/// The length rewards and their parameters:
/// `[{name, title, additive, params: [{name, label, default, choices, min, max, step}]}]`.
#[wasm_bindgen]
pub fn shaping_methods() -> String {
    json_arr(Method::ALL, |m| {
        json_obj(&[
            ("name", json_str(m.name())),
            ("title", json_str(m.title())),
            ("additive", m.is_additive().to_string()),
            (
                "params",
                json_arr(m.params(), |p| {
                    json_obj(&[
                        ("name", json_str(p.name)),
                        ("label", json_str(p.label)),
                        ("default", json_str(p.default)),
                        ("choices", json_arr(p.choices, |c| json_str(c))),
                        ("min", json_num(p.min)),
                        ("max", json_num(p.max)),
                        ("step", json_num(p.step)),
                    ])
                }),
            ),
        ])
    })
}

/// A reward curve: the reward of a correct and of an incorrect answer at each length.
#[wasm_bindgen]
#[derive(Clone, Debug)]
pub struct ShapingCurve {
    correct: Vec<f64>,
    wrong: Vec<f64>,
}

#[wasm_bindgen]
impl ShapingCurve {
    /// Rewards of correct answers (`Float64Array`).
    #[wasm_bindgen(getter)]
    pub fn correct(&self) -> Vec<f64> {
        self.correct.clone()
    }

    /// Rewards of incorrect answers (`Float64Array`).
    #[wasm_bindgen(getter)]
    pub fn wrong(&self) -> Vec<f64> {
        self.wrong.clone()
    }
}

/// The curve of one length reward ([`Shaping::curve`]); `names[i]` has the value `values[i]`.
///
/// # Errors
/// The [`Shaping::new`] and [`Shaping::curve`] errors, as a JavaScript `Error`; a
/// `LengthMismatch` if `names` and `values` differ in length.
#[wasm_bindgen]
pub fn shaping_curve(
    method: &str,
    names: Vec<String>,
    values: Vec<String>,
    lengths: &[u32],
    with_correctness: bool,
) -> core::result::Result<ShapingCurve, JsError> {
    curve(method, &names, &values, lengths, with_correctness).map_err(js)
}

fn curve(
    method: &str,
    names: &[String],
    values: &[String],
    lengths: &[u32],
    with_correctness: bool,
) -> Result<ShapingCurve> {
    crate::ensure_len("values", names.len(), values.len())?;
    let method: Method = method.parse()?;
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let shaping = Shaping::new(method, &pairs)?;
    let mut c = vec![0.0; lengths.len()];
    let mut w = vec![0.0; lengths.len()];
    shaping.curve(&mut c, &mut w, lengths, with_correctness)?;
    Ok(ShapingCurve {
        correct: c,
        wrong: w,
    })
}

// ---------------------------------------------------------------------------------------------
// Advantages
// ---------------------------------------------------------------------------------------------

/// The advantages of every panel estimator for the groups in `text` under `preset`:
/// `{rewards, groups, rows: [{estimator, values} | {estimator, error}]}`.
///
/// # Errors
/// A JavaScript `Error` for text that does not parse or an unknown preset; an estimator's own
/// error is reported in its row.
#[wasm_bindgen]
pub fn advantage_table(
    text: &str,
    preset: &str,
    remax_baseline: f64,
) -> core::result::Result<String, JsError> {
    table(text, preset, remax_baseline).map_err(js)
}

fn table(text: &str, preset: &str, remax_baseline: f64) -> Result<String> {
    let groups = Groups::parse(text)?;
    let preset: Preset = preset.parse()?;
    let rows = json_arr(ESTIMATORS, |est| {
        let mut out = vec![0.0; groups.rewards.len()];
        let name = ("estimator", json_str(est.name()));
        match advantages::advantages(&mut out, est, preset, &groups, remax_baseline) {
            Ok(()) => json_obj(&[name, ("values", json_arr(&out, |x| json_num(*x)))]),
            Err(e) => json_obj(&[name, ("error", json_str(&e.to_string()))]),
        }
    });
    Ok(json_obj(&[
        ("rewards", json_arr(&groups.rewards, |x| json_num(*x))),
        ("groups", json_arr(&groups.ids, |g| g.to_string())),
        ("rows", rows),
    ]))
}

/// `n_groups` groups of `k` random pass/fail rewards as text ([`Groups::random`]).
#[wasm_bindgen]
pub fn random_rewards(seed: u32, n_groups: u32, k: u32) -> String {
    Groups::random(u64::from(seed), n_groups as usize, k as usize).to_text()
}

// ---------------------------------------------------------------------------------------------
// Gridworld: distances and the reward doctor
// ---------------------------------------------------------------------------------------------

/// A gridworld with two rewards: `0` (A, the reference) and `1` (B, the proposal).
#[wasm_bindgen]
#[derive(Clone, Debug)]
pub struct World {
    world: Gridworld,
    rewards: [Vec<f64>; 2],
}

impl World {
    fn slot(&self, which: u32) -> Result<usize> {
        if which < 2 {
            Ok(which as usize)
        } else {
            Err(rewardkit_core::Error::InvalidParam {
                name: "which",
                value: f64::from(which),
                expected: "0 (reward A) or 1 (reward B)",
            }
            .into())
        }
    }

    fn reward(&self, which: u32) -> Result<&[f64]> {
        Ok(&self.rewards[self.slot(which)?])
    }

    fn replace(&mut self, which: u32, r: Result<Vec<f64>>) -> core::result::Result<(), JsError> {
        let i = self.slot(which).map_err(js)?;
        self.rewards[i] = r.map_err(js)?;
        Ok(())
    }

    fn view_json(&self, which: u32) -> Result<String> {
        let r = self.reward(which)?;
        let opt = gridworld::optimal(&self.world, r)?;
        let rbar = gridworld::expected(&self.world, r)?;
        let table = self.world.state_table(r);
        Ok(json_obj(&[
            ("rbar", json_arr(&rbar, |x| json_num(*x))),
            (
                "state_reward",
                table.map_or("null".into(), |t| json_arr(&t, |x| json_num(*x))),
            ),
            ("policy", json_arr(&opt.actions, |a| a.to_string())),
            ("values", json_arr(&opt.values, |x| json_num(*x))),
            ("text", json_str(&doctor::format_reward(&self.world, r))),
        ]))
    }

    fn diagnose_json(&self) -> Result<String> {
        let d = doctor::diagnose(&self.world, &self.rewards[0], &self.rewards[1])?;
        let alpha = match d.relation {
            doctor::Relation::Rescaled { alpha } | doctor::Relation::RescaledShaped { alpha } => {
                json_num(alpha)
            }
            _ => "null".into(),
        };
        Ok(json_obj(&[
            ("distances", json_distances(&d.distances)),
            ("relation", json_str(d.relation.name())),
            ("alpha", alpha),
            ("verdict", json_str(&d.relation.verdict())),
            ("regret", json_num(d.regret)),
            ("normalized_regret", json_num(d.normalized_regret)),
            ("reverse_regret", json_num(d.reverse_regret)),
            (
                "reverse_normalized_regret",
                json_num(d.reverse_normalized_regret),
            ),
            (
                "reference_policy",
                json_arr(&d.reference_policy, |a| a.to_string()),
            ),
            (
                "proposed_policy",
                json_arr(&d.proposed_policy, |a| a.to_string()),
            ),
            (
                "disagreements",
                json_arr(&d.disagreements, |x| {
                    json_obj(&[
                        ("state", x.state.to_string()),
                        ("reference_action", x.reference_action.to_string()),
                        ("proposed_action", x.proposed_action.to_string()),
                        ("value_lost", json_num(x.value_lost)),
                    ])
                }),
            ),
        ]))
    }
}

#[wasm_bindgen]
impl World {
    /// A `width × height` gridworld ([`Gridworld::new`]) with the goal reward in both slots.
    ///
    /// # Errors
    /// [`Gridworld::new`]'s errors, as a JavaScript `Error`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        width: u32,
        height: u32,
        slip: f64,
        gamma: f64,
    ) -> core::result::Result<Self, JsError> {
        let world = Gridworld::new(width as usize, height as usize, slip, gamma).map_err(js)?;
        let goal = world.goal();
        Ok(Self {
            rewards: [goal.clone(), goal],
            world,
        })
    }

    /// `W`.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        u32::try_from(self.world.width()).unwrap_or(u32::MAX)
    }

    /// `H`.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        u32::try_from(self.world.height()).unwrap_or(u32::MAX)
    }

    /// The action names, as JSON.
    pub fn actions() -> String {
        json_arr(ACTIONS, json_str)
    }

    /// The example rewards of the doctor's pick list: `[{name, description}]`.
    pub fn examples() -> String {
        json_arr(EXAMPLES, |(n, d)| {
            json_obj(&[("name", json_str(n)), ("description", json_str(d))])
        })
    }

    /// Sets reward `which` to the goal reward.
    ///
    /// # Errors
    /// `which` not 0 or 1.
    pub fn reset(&mut self, which: u32) -> core::result::Result<(), JsError> {
        let goal = self.world.goal();
        self.replace(which, Ok(goal))
    }

    /// Copies reward `from` into slot `to`.
    ///
    /// # Errors
    /// A slot that is not 0 or 1.
    pub fn copy(&mut self, from: u32, to: u32) -> core::result::Result<(), JsError> {
        let r = self.reward(from).map(<[f64]>::to_vec);
        self.replace(to, r)
    }

    /// Sets `R(s, ·, ·) = value` in reward `which` ([`gridworld::set_state`]).
    ///
    /// # Errors
    /// As [`gridworld::set_state`].
    pub fn set_state_reward(
        &mut self,
        which: u32,
        state: u32,
        value: f64,
    ) -> core::result::Result<(), JsError> {
        let i = self.slot(which).map_err(js)?;
        gridworld::set_state(&self.world, &mut self.rewards[i], state as usize, value).map_err(js)
    }

    /// Rescales reward `which` by `alpha` (core's `scale_reward`).
    ///
    /// # Errors
    /// `alpha` not finite and positive.
    pub fn scale(&mut self, which: u32, alpha: f64) -> core::result::Result<(), JsError> {
        let r = self
            .reward(which)
            .and_then(|r| gridworld::scaled(&self.world, r, alpha));
        self.replace(which, r)
    }

    /// Shapes reward `which` with a random potential `Φ(s) ∈ [−m, m)` drawn from `seed`
    /// (core's `shape_potential`).
    ///
    /// # Errors
    /// A non-finite `magnitude`.
    pub fn shape(
        &mut self,
        which: u32,
        seed: u32,
        magnitude: f64,
    ) -> core::result::Result<(), JsError> {
        let phi = gridworld::random_values(u64::from(seed), self.world.n_states(), magnitude);
        let r = self
            .reward(which)
            .and_then(|r| gridworld::shaped(&self.world, r, &phi));
        self.replace(which, r)
    }

    /// Adds random noise in `[−m, m)` to each state's reward in `which` ([`gridworld::perturbed`]).
    ///
    /// # Errors
    /// A non-finite result.
    pub fn perturb(
        &mut self,
        which: u32,
        seed: u32,
        magnitude: f64,
    ) -> core::result::Result<(), JsError> {
        let noise = gridworld::random_values(u64::from(seed), self.world.n_states(), magnitude);
        let r = self
            .reward(which)
            .and_then(|r| gridworld::perturbed(&self.world, r, &noise));
        self.replace(which, r)
    }

    /// S'-redistributes reward `which` by a random perturbation in `[−m, m)` (core's
    /// `redistribute`).
    ///
    /// # Errors
    /// A non-finite `magnitude`.
    pub fn redistribute(
        &mut self,
        which: u32,
        seed: u32,
        magnitude: f64,
    ) -> core::result::Result<(), JsError> {
        let d = gridworld::random_values(u64::from(seed), self.world.full_len(), magnitude);
        let r = self
            .reward(which)
            .and_then(|r| gridworld::redistributed(&self.world, r, &d));
        self.replace(which, r)
    }

    /// Replaces reward `which` by the text ([`doctor::parse_reward`]).
    ///
    /// # Errors
    /// As [`doctor::parse_reward`].
    pub fn load(&mut self, which: u32, text: &str) -> core::result::Result<(), JsError> {
        let r = doctor::parse_reward(&self.world, text);
        self.replace(which, r)
    }

    /// Replaces reward `which` by a named example ([`doctor::example`]).
    ///
    /// # Errors
    /// An unknown name.
    pub fn load_example(&mut self, which: u32, name: &str) -> core::result::Result<(), JsError> {
        let r = doctor::example(&self.world, name);
        self.replace(which, r)
    }

    /// What the page draws for reward `which`:
    /// `{rbar: (S·A), state_reward: (S) | null, policy: (S), values: (S), text}`.
    ///
    /// # Errors
    /// `which` not 0 or 1.
    pub fn view(&self, which: u32) -> core::result::Result<String, JsError> {
        self.view_json(which).map_err(js)
    }

    /// `{starc, starc_minimal, epic, dard}` between rewards 0 and 1, each `{value}` or `{error}`.
    ///
    /// # Errors
    /// None for a valid world.
    pub fn distances(&self) -> core::result::Result<String, JsError> {
        gridworld::distances(&self.world, &self.rewards[0], &self.rewards[1])
            .map(|d| json_distances(&d))
            .map_err(js)
    }

    /// The reward doctor's report for reference 0 and proposal 1 ([`doctor::diagnose`]).
    ///
    /// # Errors
    /// As [`doctor::diagnose`].
    pub fn diagnose(&self) -> core::result::Result<String, JsError> {
        self.diagnose_json().map_err(js)
    }
}

// ---------------------------------------------------------------------------------------------
// Live training (feature `training`: the second module, `pkg-train/`)
// ---------------------------------------------------------------------------------------------

#[cfg(all(feature = "training", target_arch = "wasm32"))]
#[wasm_bindgen]
extern "C" {
    /// The page's monotonic clock (ms), for the trainer's step timings.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The length shapings the trainer knows (`["none", "hapo", "laser", "laser-d", "cosine"]`), as
/// JSON.
#[cfg(feature = "training")]
#[wasm_bindgen]
pub fn training_shapings() -> String {
    json_arr(rewardkit_trainer::config::SHAPINGS, |s| json_str(s))
}

#[cfg(feature = "training")]
fn json_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "null".into(), json_num)
}

/// A run of the live-training panel ([`crate::training::Session`]).
#[cfg(feature = "training")]
#[wasm_bindgen]
#[derive(Debug)]
pub struct TrainingRun {
    session: crate::training::Session,
}

#[cfg(feature = "training")]
#[wasm_bindgen]
impl TrainingRun {
    /// A fresh run of the preset ([`crate::TRAINING_PRESET`]) with `seed`, a length shaping by
    /// name and `warmup_steps` warm-up steps (`undefined`: the preset's).
    ///
    /// # Errors
    /// An unknown shaping, as a JavaScript `Error`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        seed: u32,
        shaping: &str,
        warmup_steps: Option<u32>,
    ) -> core::result::Result<Self, JsError> {
        #[cfg(target_arch = "wasm32")]
        rewardkit_trainer::clock::set_clock(performance_now);
        let session = crate::training::Session::new(
            u64::from(seed),
            shaping,
            warmup_steps.map(|w| w as usize),
        )
        .map_err(js)?;
        Ok(Self { session })
    }

    /// The run's sizes as JSON: `seed`, `shaping`, `warmup_steps`, `warmup_batch`, `prompts`,
    /// `group`, `max_new`, `params`, `layers`, `width`.
    pub fn info(&self) -> String {
        let c = self.session.config();
        json_obj(&[
            ("seed", c.seed.to_string()),
            ("shaping", json_str(&c.grpo.shaping)),
            ("warmup_steps", c.warmup.steps.to_string()),
            (
                "warmup_target",
                json_num(f64::from(c.warmup.target_accuracy)),
            ),
            ("warmup_batch", c.warmup.batch.to_string()),
            ("prompts", c.grpo.prompts.to_string()),
            ("group", c.grpo.group.to_string()),
            ("max_new", c.max_new().to_string()),
            ("layers", c.model.n_layer.to_string()),
            ("width", c.model.n_embd.to_string()),
            ("warmup_done", self.session.warmup_done().to_string()),
            ("grpo_done", self.session.grpo_done().to_string()),
        ])
    }

    /// Changes the shaping of the GRPO steps to come (until the first GRPO step).
    ///
    /// # Errors
    /// An unknown name or GRPO already started, as a JavaScript `Error`.
    pub fn set_shaping(&mut self, shaping: &str) -> core::result::Result<(), JsError> {
        self.session.set_shaping(shaping).map_err(js)
    }

    /// Runs the next step ([`crate::training::Session::step`]); its report as JSON: `phase`
    /// (`"warmup"`/`"grpo"`), `step`, `loss`, `monitor_accuracy` (warm-up, every 10 steps, else
    /// `null`), `reward`, `accuracy`, `format`, `length`, `kl` (`null` in the warm-up), `seconds`,
    /// `tokens_per_s`.
    ///
    /// # Errors
    /// A trainer error, as a JavaScript `Error`.
    pub fn step(&mut self) -> core::result::Result<String, JsError> {
        let r = self.session.step().map_err(js)?;
        Ok(json_obj(&[
            ("phase", json_str(r.phase.name())),
            ("step", r.step.to_string()),
            ("loss", json_num(r.loss)),
            ("monitor_accuracy", json_opt(r.monitor_accuracy)),
            ("reward", json_opt(r.reward)),
            ("accuracy", json_opt(r.accuracy)),
            ("format", json_opt(r.format)),
            ("length", json_opt(r.length)),
            ("kl", json_opt(r.kl)),
            ("seconds", json_num(r.seconds)),
            ("tokens_per_s", json_num(r.tokens_per_s)),
        ]))
    }

    /// `n` completions of held-out prompts sampled from the current policy
    /// ([`crate::training::Session::samples`]), as a JSON array of `{prompt, completion, correct,
    /// well_formed}`.
    ///
    /// # Errors
    /// A model error, as a JavaScript `Error`.
    pub fn samples(&self, n: u32) -> core::result::Result<String, JsError> {
        let s = self.session.samples(n as usize).map_err(js)?;
        Ok(json_arr(s, |x| {
            json_obj(&[
                ("prompt", json_str(&x.prompt)),
                ("completion", json_str(&x.completion)),
                ("correct", x.correct.to_string()),
                ("well_formed", x.well_formed.to_string()),
            ])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_writer() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(json_num(0.1), "0.1");
        assert_eq!(json_num(-2.0), "-2.0");
        assert_eq!(json_num(1e-20), "1e-20");
        assert_eq!(json_num(f64::NAN), "null");
        assert_eq!(
            json_obj(&[("a", json_arr([1.0, 2.5], json_num)), ("b", "null".into())]),
            "{\"a\":[1.0,2.5],\"b\":null}"
        );
    }

    #[test]
    fn methods_json_lists_every_method() {
        let j = shaping_methods();
        for m in Method::ALL {
            assert!(j.contains(&format!("\"name\":\"{}\"", m.name())), "{j}");
        }
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 5);
    }

    #[test]
    fn table_json_parses_and_reports_row_errors() {
        let j = table("1 0 | 3", "openrlhf", 0.5).unwrap();
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["groups"], serde_json::json!([0, 0, 1]));
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), ESTIMATORS.len());
        assert!(rows[0]["error"].as_str().unwrap().contains("group 1"));
        // ReMax needs no groups: r − b.
        assert_eq!(rows[8]["values"], serde_json::json!([0.5, -0.5, 2.5]));
        assert!(matches!(table("1 0", "nope", 0.0), Err(DemoError::Core(_))));
        assert_eq!(random_rewards(7, 3, 4), Groups::random(7, 3, 4).to_text());
    }

    #[test]
    fn world_json() {
        let mut w = World::new(3, 3, 0.1, 0.9).unwrap();
        assert_eq!((w.width(), w.height()), (3, 3));
        let v: serde_json::Value = serde_json::from_str(&w.view_json(0).unwrap()).unwrap();
        assert_eq!(v["rbar"].as_array().unwrap().len(), 36);
        assert_eq!(v["state_reward"][8], 1.0);
        let d: serde_json::Value = serde_json::from_str(&json_distances(
            &gridworld::distances(&w.world, &w.rewards[0], &w.rewards[1]).unwrap(),
        ))
        .unwrap();
        assert!(d["epic"]["value"].as_f64().unwrap() < 1e-9);
        w.rewards[1] = doctor::example(&w.world, "goal-x3").unwrap();
        let d: serde_json::Value = serde_json::from_str(&w.diagnose_json().unwrap()).unwrap();
        assert_eq!(d["relation"], "rescaled");
        assert!((d["alpha"].as_f64().unwrap() - 3.0).abs() < 1e-9);
        assert!(w.slot(2).is_err());
        let ex: serde_json::Value = serde_json::from_str(&World::examples()).unwrap();
        assert_eq!(ex.as_array().unwrap().len(), EXAMPLES.len());
        let acts: serde_json::Value = serde_json::from_str(&World::actions()).unwrap();
        assert_eq!(acts[1], "right");
    }

    #[test]
    fn curve_checks_its_arguments() {
        let names = vec!["mode".to_string(), "alpha".into(), "target".into()];
        let values = vec!["reward".to_string(), "0.5".into(), "10".into()];
        let c = curve("laser", &names, &values, &[5, 20], true).unwrap();
        assert_eq!(c.correct(), [1.5, 1.0]);
        assert_eq!(c.wrong(), [0.0, 0.0]);
        assert!(matches!(
            curve("laser", &names, &values[..2], &[5], true),
            Err(DemoError::Core(
                rewardkit_core::Error::LengthMismatch { .. }
            ))
        ));
        assert!(curve("nope", &names, &values, &[5], true).is_err());
    }
}
