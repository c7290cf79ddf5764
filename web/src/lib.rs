//! # rewardkit-web
//!
//! rewardkit in the browser: the WebAssembly bindings behind the interactive reward-design demo
//! (`web/www/`, built into `web/dist/` by `web/build.sh`), and the plain-Rust layer they call.
//!
//! Every number the page shows comes from `rewardkit-core`: this crate only parses the page's
//! inputs, builds the core parameter objects, calls core and hands the results to JavaScript. The
//! JavaScript draws; it computes no reward, advantage or distance.
//!
//! | panel | module | core entry points |
//! |---|---|---|
//! | reward shaping | [`shaping`] | `reward::{Hapo, Laser, CosineLength, Overlong, TargetLength, Correctness, Pipeline}` |
//! | advantages | [`advantages`] | `AdvantageEstimator::compute` with `AdvantageConfig::new(preset)` |
//! | reward distances | [`gridworld`] | `mdp::{Mdp, optimal_policy, expected_reward}`, `distance::{Starc, Epic, Dard, scale_reward, shape_potential, redistribute}` |
//! | reward doctor | [`doctor`] | `distance::diagnose` (relation, regrets, disagreements) and the panel's distances |
//! | live training (feature `training`) | `training` | `rewardkit_trainer::train::Trainer` (GRPO on the tiny GPT; rewards, advantages and losses from core) |
//!
//! # Features
//! - `training` (off by default): the live-training panel's bindings and the trainer
//!   (`rewardkit-trainer` without its CLI). `web/build.sh` builds the crate twice: without it
//!   (`dist/pkg/`, the four panels, under the 1 MiB budget) and with it (`dist/pkg-train/`, which
//!   the page imports only when the training panel starts).
//!
//! The `#[wasm_bindgen]` surface is in [`bindings`]; it converts errors into JavaScript `Error`s
//! and composite results into JSON strings (no serde in the `.wasm`).
//!
//! # Adding a panel
//! A panel is a plain-Rust module here (host-tested), a few functions or a class in [`bindings`],
//! and one ES module in `web/www/panels/` registered in `web/www/main.js`.
//!
//! # Errors
//! Every fallible function returns [`DemoError`]: a core [`rewardkit_core::Error`] or a parse
//! error of the page's text inputs. The bindings turn it into a JavaScript `Error` whose message is
//! the [`core::fmt::Display`] text, which the page shows next to the input.

use core::fmt;

pub mod advantages;
pub mod bindings;
pub mod doctor;
pub mod gridworld;
pub mod shaping;
#[cfg(feature = "training")]
pub mod training;

/// The live-training panel's run: overrides of the trainer's default config
/// (`trainer/config/default.toml`, `rewardkit train --set KEY=VALUE` syntax) that keep a step
/// well under a second in the browser's single-threaded WebAssembly: the default task (3-digit
/// addition) and model (2 layers, 4 heads, 64 wide); a warm-up of 32 demonstrations per step that
/// stops, as the default run's does, once greedy accuracy on 128 training prompts reaches 30 %
/// (checked every 10 steps; at most 600 steps, the length of its cosine learning-rate schedule);
/// then GRPO on 8 prompts × 8 samples. The seed and the length shaping come from the page. Used by
/// the `training` module (feature `training`) and by the native expected values of the browser
/// test.
pub const TRAINING_PRESET: &[&str] = &[
    "warmup.steps=600",
    "warmup.batch=32",
    "warmup.target_accuracy=0.3",
    "grpo.prompts=8",
    "grpo.group=8",
    "shaping.laser_d_monitor=8",
    "shaping.laser_d_every=10",
    "eval.prompts=64",
];

/// Everything that can go wrong in the demo's Rust layer.
///
/// # Examples
/// ```
/// use rewardkit_web::{DemoError, advantages::Groups};
/// let err = Groups::parse("1, x").unwrap_err();
/// assert_eq!(err, DemoError::Parse { what: "reward", token: "x".into() });
/// assert_eq!(err.to_string(), "cannot read reward \"x\" as a number");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DemoError {
    /// An error from `rewardkit-core` (bad parameter, non-finite input, ...).
    Core(rewardkit_core::Error),
    /// A text input could not be read.
    Parse {
        /// What was being read.
        what: &'static str,
        /// The offending text.
        token: String,
    },
    /// A parameter name that the method does not have.
    UnknownParam {
        /// The method.
        method: &'static str,
        /// The name given.
        name: String,
    },
    /// A parameter the method needs was not given.
    MissingParam {
        /// The method.
        method: &'static str,
        /// The parameter.
        name: &'static str,
    },
    /// The trainer (live-training panel) rejected a config or failed a step.
    Training(String),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => write!(f, "{e}"),
            Self::Parse { what, token } => write!(f, "cannot read {what} {token:?} as a number"),
            Self::UnknownParam { method, name } => {
                write!(f, "{method} has no parameter {name:?}")
            }
            Self::MissingParam { method, name } => write!(f, "{method} needs the parameter {name}"),
            Self::Training(m) => write!(f, "training: {m}"),
        }
    }
}

impl core::error::Error for DemoError {}

impl From<rewardkit_core::Error> for DemoError {
    fn from(e: rewardkit_core::Error) -> Self {
        Self::Core(e)
    }
}

impl From<rewardkit_core::UnknownName> for DemoError {
    fn from(e: rewardkit_core::UnknownName) -> Self {
        Self::Core(e.into())
    }
}

/// Result alias of this crate.
pub type Result<T, E = DemoError> = core::result::Result<T, E>;

/// `Err(LengthMismatch)` unless `got == expected`.
pub(crate) fn ensure_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(rewardkit_core::Error::LengthMismatch {
            what,
            expected,
            got,
        }
        .into())
    }
}

/// Splits a list of numbers separated by commas, semicolons or white space and parses each one
/// (`NaN` and `inf` parse; core then rejects them with a typed error).
pub(crate) fn parse_numbers(text: &str, what: &'static str) -> Result<Vec<f64>> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>().map_err(|_| DemoError::Parse {
                what,
                token: t.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_with_any_separator() {
        assert_eq!(
            parse_numbers("1, 2;3\n\t-4.5e0", "x").unwrap(),
            [1.0, 2.0, 3.0, -4.5]
        );
        assert!(parse_numbers("", "x").unwrap().is_empty());
        assert!(parse_numbers("nan", "x").unwrap()[0].is_nan());
        assert_eq!(
            parse_numbers("1 two", "x").unwrap_err(),
            DemoError::Parse {
                what: "x",
                token: "two".into()
            }
        );
    }

    #[test]
    fn errors_display() {
        let e: DemoError = rewardkit_core::Error::Empty { what: "rewards" }.into();
        assert!(e.to_string().contains("rewards"));
        let e = DemoError::UnknownParam {
            method: "laser",
            name: "beta".into(),
        };
        assert_eq!(e.to_string(), "laser has no parameter \"beta\"");
        let e = DemoError::MissingParam {
            method: "laser",
            name: "alpha",
        };
        assert_eq!(e.to_string(), "laser needs the parameter alpha");
        let e = DemoError::Training("unknown length shaping".into());
        assert_eq!(e.to_string(), "training: unknown length shaping");
        let e: DemoError = "x".parse::<rewardkit_core::Preset>().unwrap_err().into();
        assert!(e.to_string().contains("verl"));
    }
}
