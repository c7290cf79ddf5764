//! The reward-shaping panel: a length reward chosen by name, its parameters from the page, and its
//! value against the response length for correct and incorrect answers.
//!
//! | method | core type | paper |
//! |---|---|---|
//! | `hapo` | [`Hapo`] (through [`HapoTerm`] and a one-prompt [`HapoHistory`]) | Huang et al. 2025, arXiv:2505.11225 |
//! | `laser` | [`Laser`] | Liu et al. 2025, arXiv:2505.15612 |
//! | `cosine` | [`CosineLength`] | Yeo et al. 2025, arXiv:2502.03373 |
//! | `overlong` | [`Overlong`] (DAPO) | Yu et al. 2025, arXiv:2503.14476 |
//! | `l1` | [`TargetLength`] | Aggarwal & Welleck 2025, arXiv:2503.04697 |
//!
//! HAPO, LASER and the overlong penalty are terms added to a correctness reward; with
//! `with_correctness` the curve is core's [`Pipeline`] of [`Correctness::default`] (1 correct, 0
//! wrong) and the term. The cosine and L1 rewards already contain the correctness signal and are
//! shown as they are.

use core::str::FromStr;

use rewardkit_core::UnknownName;
use rewardkit_core::reward::{
    Batch, Correctness, CosineLength, Hapo, HapoHistory, HapoShape, HapoTerm, HistoryMode, Laser,
    LaserMode, Overlong, Pipeline, RewardTerm, TargetLength, TargetMode, Weighted,
};

use crate::{DemoError, Result};

/// A length reward of the panel.
///
/// # Examples
/// ```
/// use rewardkit_web::shaping::Method;
/// let m: Method = "laser".parse()?;
/// assert_eq!(m, Method::Laser);
/// assert!(m.is_additive());
/// assert!("nope".parse::<Method>().unwrap_err().to_string().contains("cosine"));
/// # Ok::<(), rewardkit_core::UnknownName>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// HAPO's history-aware length reward.
    Hapo,
    /// LASER's step reward.
    Laser,
    /// Cosine length scaling.
    Cosine,
    /// DAPO's overlong soft penalty.
    Overlong,
    /// L1's target-length reward.
    L1,
}

const METHOD_NAMES: &[&str] = &["hapo", "laser", "cosine", "overlong", "l1"];

impl FromStr for Method {
    type Err = UnknownName;
    fn from_str(s: &str) -> core::result::Result<Self, UnknownName> {
        Ok(match s {
            "hapo" => Self::Hapo,
            "laser" => Self::Laser,
            "cosine" => Self::Cosine,
            "overlong" => Self::Overlong,
            "l1" => Self::L1,
            _ => {
                return Err(UnknownName {
                    kind: "length reward",
                    valid: METHOD_NAMES,
                });
            }
        })
    }
}

/// One parameter of a method, as the page shows it.
///
/// `choices` is empty for a number (then `min`, `max`, `step` bound the input) and lists the
/// accepted names otherwise. `default` is the paper's (or the reference code's) value, as in the
/// core type's `Default`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// The name passed back to [`Shaping::new`].
    pub name: &'static str,
    /// A short label with the paper's symbol.
    pub label: &'static str,
    /// The default, as text.
    pub default: &'static str,
    /// Accepted names (empty for numbers).
    pub choices: &'static [&'static str],
    /// Smallest value the input offers.
    pub min: f64,
    /// Largest value the input offers.
    pub max: f64,
    /// Input step.
    pub step: f64,
}

const fn num(
    name: &'static str,
    label: &'static str,
    default: &'static str,
    min: f64,
    max: f64,
    step: f64,
) -> ParamSpec {
    ParamSpec {
        name,
        label,
        default,
        choices: &[],
        min,
        max,
        step,
    }
}

const fn pick(
    name: &'static str,
    label: &'static str,
    default: &'static str,
    choices: &'static [&'static str],
) -> ParamSpec {
    ParamSpec {
        name,
        label,
        default,
        choices,
        min: 0.0,
        max: 0.0,
        step: 0.0,
    }
}

const HAPO_PARAMS: &[ParamSpec] = &[
    pick("shape", "shape", "cosine", &["cosine", "linear"]),
    num("weight", "weight w", "1", 0.0, 1.0, 0.05),
    num("floor", "floor c", "0.7", 0.0, 1.0, 0.05),
    num("tolerance", "tolerance ρ (linear)", "0.1", 0.0, 2.0, 0.05),
    num(
        "history",
        "history h (shortest correct length)",
        "1000",
        1.0,
        1e6,
        1.0,
    ),
];
const LASER_PARAMS: &[ParamSpec] = &[
    pick("mode", "mode", "reward", &["reward", "penalty", "hybrid"]),
    num("alpha", "α", "0.5", 0.0, 10.0, 0.05),
    num("target", "target length L_T", "4096", 1.0, 1e6, 1.0),
];
const COSINE_PARAMS: &[ParamSpec] = &[
    num("max_len", "L_max", "14336", 1.0, 1e6, 1.0),
    num(
        "correct_short",
        "r₀ᶜ (correct, short)",
        "2",
        -20.0,
        20.0,
        0.5,
    ),
    num(
        "correct_long",
        "r_Lᶜ (correct, long)",
        "1",
        -20.0,
        20.0,
        0.5,
    ),
    num("wrong_short", "r₀ʷ (wrong, short)", "-10", -20.0, 0.0, 0.5),
    num("wrong_long", "r_Lʷ (wrong, long)", "0", -20.0, 0.0, 0.5),
    num("exceed", "r_exceed", "-10", -20.0, 20.0, 0.5),
    num("margin", "margin m", "16", 0.0, 1e6, 1.0),
];
const OVERLONG_PARAMS: &[ParamSpec] = &[
    num("max_len", "L_max", "20480", 1.0, 1e6, 1.0),
    num("buffer", "buffer L_cache", "4096", 1.0, 1e6, 1.0),
    num("factor", "factor φ", "1", 0.0, 10.0, 0.1),
    pick("cap", "cap at −φ beyond L_max", "on", &["on", "off"]),
];
const L1_PARAMS: &[ParamSpec] = &[
    pick("mode", "mode", "exact", &["exact", "max"]),
    num("alpha", "α", "0.0003", 0.0, 0.1, 0.0001),
    num("delta", "δ (max mode)", "0.5", -2.0, 2.0, 0.05),
    num("target", "requested length L_T", "4096", 1.0, 1e6, 1.0),
];

impl Method {
    /// Every method, in the page's order.
    pub const ALL: [Self; 5] = [
        Self::Hapo,
        Self::Laser,
        Self::Cosine,
        Self::Overlong,
        Self::L1,
    ];

    /// The name the page and [`FromStr`] use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hapo => "hapo",
            Self::Laser => "laser",
            Self::Cosine => "cosine",
            Self::Overlong => "overlong",
            Self::L1 => "l1",
        }
    }

    /// A human-readable title with the citation.
    pub fn title(self) -> &'static str {
        match self {
            Self::Hapo => "HAPO (Huang et al. 2025, arXiv:2505.11225)",
            Self::Laser => "LASER (Liu et al. 2025, arXiv:2505.15612)",
            Self::Cosine => "Cosine length scaling (Yeo et al. 2025, arXiv:2502.03373)",
            Self::Overlong => "DAPO overlong penalty (Yu et al. 2025, arXiv:2503.14476)",
            Self::L1 => "L1 target length (Aggarwal & Welleck 2025, arXiv:2503.04697)",
        }
    }

    /// The parameters, with the defaults of the core type.
    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            Self::Hapo => HAPO_PARAMS,
            Self::Laser => LASER_PARAMS,
            Self::Cosine => COSINE_PARAMS,
            Self::Overlong => OVERLONG_PARAMS,
            Self::L1 => L1_PARAMS,
        }
    }

    /// Whether the method is a term added to a correctness reward (HAPO, LASER, overlong) rather
    /// than a whole reward (cosine, L1).
    pub fn is_additive(self) -> bool {
        matches!(self, Self::Hapo | Self::Laser | Self::Overlong)
    }
}

/// Named parameter values for one method; every name must be one of the method's and every
/// parameter must be present.
struct Values<'a> {
    method: Method,
    pairs: &'a [(&'a str, &'a str)],
}

impl<'a> Values<'a> {
    fn new(method: Method, pairs: &'a [(&'a str, &'a str)]) -> Result<Self> {
        let specs = method.params();
        if let Some((name, _)) = pairs
            .iter()
            .find(|(n, _)| !specs.iter().any(|s| s.name == *n))
        {
            return Err(DemoError::UnknownParam {
                method: method.name(),
                name: (*name).to_owned(),
            });
        }
        Ok(Self { method, pairs })
    }

    fn text(&self, name: &'static str) -> Result<&'a str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim())
            .ok_or(DemoError::MissingParam {
                method: self.method.name(),
                name,
            })
    }

    fn f64(&self, name: &'static str) -> Result<f64> {
        let t = self.text(name)?;
        t.parse().map_err(|_| DemoError::Parse {
            what: name,
            token: t.to_owned(),
        })
    }

    /// A length: a whole number in `0..=u32::MAX` (core rejects 0 where a length must be positive).
    fn len(&self, name: &'static str) -> Result<u32> {
        let t = self.text(name)?;
        t.parse().map_err(|_| DemoError::Parse {
            what: name,
            token: t.to_owned(),
        })
    }

    fn choice(&self, name: &'static str) -> Result<&'a str> {
        let t = self.text(name)?;
        let valid = self
            .method
            .params()
            .iter()
            .find(|s| s.name == name)
            .map_or(&[][..], |s| s.choices);
        if valid.contains(&t) {
            Ok(t)
        } else {
            Err(UnknownName { kind: name, valid }.into())
        }
    }
}

/// A length reward built from the page's parameters.
///
/// # Examples
/// ```
/// use rewardkit_web::shaping::{Method, Shaping};
/// let s = Shaping::new(Method::Laser, &[("mode", "reward"), ("alpha", "0.5"), ("target", "100")])?;
/// let (mut c, mut w) = ([0.0; 2], [0.0; 2]);
/// s.curve(&mut c, &mut w, &[100, 101], true)?;
/// assert_eq!(c, [1.5, 1.0]); // correctness 1 + α while L ≤ L_T
/// assert_eq!(w, [0.0, 0.0]);
/// # Ok::<(), rewardkit_web::DemoError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Shaping {
    /// HAPO with a history of `history` tokens for the prompt.
    Hapo {
        /// The reward parameters.
        params: Hapo<f64>,
        /// The shortest correct length seen for the prompt.
        history: u32,
    },
    /// LASER.
    Laser(Laser<f64>),
    /// Cosine length scaling.
    Cosine(CosineLength<f64>),
    /// DAPO's overlong penalty.
    Overlong(Overlong<f64>),
    /// L1 with the requested length `target`.
    L1 {
        /// The reward parameters.
        params: TargetLength<f64>,
        /// The requested length.
        target: u32,
    },
}

impl Shaping {
    /// Builds the core parameter object from named text values (see [`Method::params`]).
    ///
    /// # Errors
    /// [`DemoError::UnknownParam`], [`DemoError::MissingParam`], [`DemoError::Parse`] for a value
    /// that is not a number, a core `UnknownName` for a choice that is not offered, and the core
    /// constructor's [`rewardkit_core::Error::InvalidParam`] for a value out of range.
    pub fn new(method: Method, pairs: &[(&str, &str)]) -> Result<Self> {
        let v = Values::new(method, pairs)?;
        Ok(match method {
            Method::Hapo => {
                let shape = match v.choice("shape")? {
                    "linear" => HapoShape::Linear,
                    _ => HapoShape::Cosine,
                };
                Self::Hapo {
                    params: Hapo::new(v.f64("weight")?, shape)?
                        .with_floor(v.f64("floor")?)?
                        .with_tolerance(v.f64("tolerance")?)?,
                    history: v.len("history")?,
                }
            }
            Method::Laser => {
                let mode = match v.choice("mode")? {
                    "penalty" => LaserMode::Penalty,
                    "hybrid" => LaserMode::Hybrid,
                    _ => LaserMode::Reward,
                };
                Self::Laser(Laser::new(v.f64("alpha")?, v.len("target")?, mode)?)
            }
            Method::Cosine => Self::Cosine(
                CosineLength::new(
                    v.len("max_len")?,
                    (v.f64("correct_short")?, v.f64("correct_long")?),
                    (v.f64("wrong_short")?, v.f64("wrong_long")?),
                    v.f64("exceed")?,
                )?
                .with_margin(v.len("margin")?),
            ),
            Method::Overlong => Self::Overlong(
                Overlong::new(v.len("max_len")?, v.len("buffer")?, v.f64("factor")?)?
                    .with_cap(v.choice("cap")? == "on"),
            ),
            Method::L1 => {
                let mode = match v.choice("mode")? {
                    "max" => TargetMode::Max,
                    _ => TargetMode::Exact,
                };
                Self::L1 {
                    params: TargetLength::new(v.f64("alpha")?, v.f64("delta")?, mode)?,
                    target: v.len("target")?,
                }
            }
        })
    }

    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Self::Hapo { .. } => Method::Hapo,
            Self::Laser(_) => Method::Laser,
            Self::Cosine(_) => Method::Cosine,
            Self::Overlong(_) => Method::Overlong,
            Self::L1 { .. } => Method::L1,
        }
    }

    /// The reward at each length for a correct (`correct`) and an incorrect (`wrong`) answer.
    ///
    /// # Definition
    /// The core reward of a batch of `2N` responses: the `N` lengths answered correctly, then
    /// wrongly. For an additive method with `with_correctness`, core's [`Pipeline`] of
    /// `1 × Correctness` (1/0) and `1 × term`; otherwise the term (or whole reward) alone.
    /// HAPO reads the history from a [`HapoHistory`] in `Min` mode that saw one correct answer of
    /// `history` tokens.
    ///
    /// # Shapes
    /// `correct`, `wrong`, `lengths`: `(N)`.
    ///
    /// # Errors
    /// [`rewardkit_core::Error::LengthMismatch`] for outputs of another length;
    /// [`rewardkit_core::Error::InvalidParam`] for a zero length (and a zero HAPO history);
    /// [`rewardkit_core::Error::Empty`] for no lengths.
    pub fn curve(
        &self,
        correct: &mut [f64],
        wrong: &mut [f64],
        lengths: &[u32],
        with_correctness: bool,
    ) -> Result<()> {
        let n = lengths.len();
        crate::ensure_len("correct", n, correct.len())?;
        crate::ensure_len("wrong", n, wrong.len())?;
        let all_lengths: Vec<u32> = lengths.iter().chain(lengths).copied().collect();
        let is_correct: Vec<bool> = (0..2 * n).map(|i| i < n).collect();
        let mut out = vec![0.0f64; 2 * n];
        let keys = vec![0u64; 2 * n];
        let batch = Batch::new(2 * n)?
            .with_lengths(&all_lengths)?
            .with_correct(&is_correct)?
            .with_keys(&keys)?;
        let mut history = HapoHistory::new(HistoryMode::Min);
        let hapo_term;
        let term: &dyn RewardTerm<f64> = match self {
            Self::Hapo { params, history: h } => {
                history.update(&[0], &[*h], &[true])?;
                hapo_term = HapoTerm {
                    params: *params,
                    history: &history,
                };
                &hapo_term
            }
            Self::Laser(p) => p,
            Self::Cosine(p) => p,
            Self::Overlong(p) => p,
            Self::L1 { params, target } => {
                let targets = vec![*target; 2 * n];
                params.rewards(&mut out, &is_correct, &all_lengths, &targets)?;
                return split(correct, wrong, &out);
            }
        };
        let correctness = Correctness::<f64>::default();
        let with = [
            Weighted::sequence(&correctness, 1.0),
            Weighted::sequence(term, 1.0),
        ];
        let alone = [Weighted::sequence(term, 1.0)];
        let terms: &[Weighted<'_, f64>] = if with_correctness && self.method().is_additive() {
            &with
        } else {
            &alone
        };
        let mut parts = vec![0.0f64; terms.len() * 2 * n];
        Pipeline::new(terms)?.eval(&mut out, &mut parts, &mut [], &batch)?;
        split(correct, wrong, &out)
    }
}

fn split(correct: &mut [f64], wrong: &mut [f64], out: &[f64]) -> Result<()> {
    let (c, w) = out.split_at(correct.len());
    correct.copy_from_slice(c);
    wrong.copy_from_slice(w);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(m: Method) -> Vec<(&'static str, &'static str)> {
        m.params().iter().map(|p| (p.name, p.default)).collect()
    }

    #[test]
    fn page_defaults_are_the_core_defaults() {
        let hapo = Shaping::new(Method::Hapo, &defaults(Method::Hapo)).unwrap();
        assert_eq!(
            hapo,
            Shaping::Hapo {
                params: Hapo::default(),
                history: 1000
            }
        );
        let laser = Shaping::new(Method::Laser, &defaults(Method::Laser)).unwrap();
        assert_eq!(laser, Shaping::Laser(Laser::default()));
        let cos = Shaping::new(Method::Cosine, &defaults(Method::Cosine)).unwrap();
        assert_eq!(cos, Shaping::Cosine(CosineLength::default()));
        let o = Shaping::new(Method::Overlong, &defaults(Method::Overlong)).unwrap();
        assert_eq!(o, Shaping::Overlong(Overlong::default()));
        let l1 = Shaping::new(Method::L1, &defaults(Method::L1)).unwrap();
        assert_eq!(
            l1,
            Shaping::L1 {
                params: TargetLength::default(),
                target: 4096
            }
        );
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
            assert_eq!(Shaping::new(m, &defaults(m)).unwrap().method(), m);
        }
    }

    #[test]
    fn hapo_curve_hand_values() {
        // h = 300, cosine shape, w = 1, c = 0.7: correct L = 100 → 1 + cos(π/6) = 1 + √3/2;
        // L = 300 → 1 + cos(π/2) ≈ 1; L = 600 → 1 − 0.7. Wrong: min(0, f): 0, ≈0, −1.
        let mut p = defaults(Method::Hapo);
        p.push(("history", "300"));
        let s = Shaping::new(Method::Hapo, &p).unwrap();
        let (mut c, mut w) = ([0.0; 3], [0.0; 3]);
        s.curve(&mut c, &mut w, &[100, 300, 600], true).unwrap();
        assert!((c[0] - (1.0 + 3f64.sqrt() / 2.0)).abs() < 1e-12);
        assert!((c[1] - 1.0).abs() < 1e-12);
        assert!((c[2] - 0.3).abs() < 1e-12);
        assert_eq!(w[0], 0.0);
        assert!(w[1].abs() < 1e-12);
        assert_eq!(w[2], -1.0);
        // Without the correctness reward: the term alone.
        s.curve(&mut c, &mut w, &[100, 300, 600], false).unwrap();
        assert!((c[0] - 3f64.sqrt() / 2.0).abs() < 1e-12);
        assert!((c[2] + 0.7).abs() < 1e-12);
    }

    #[test]
    fn cosine_and_l1_ignore_the_correctness_switch() {
        let s = Shaping::new(Method::Cosine, &defaults(Method::Cosine)).unwrap();
        let (mut c, mut w) = ([0.0; 2], [0.0; 2]);
        s.curve(&mut c, &mut w, &[7168, 14320], true).unwrap();
        // Half way: 1 + ½·(2 − 1)·(1 + cos(π/2)) = 1.5; wrong: 0 + ½·(−10)·1 = −5; exceed: −10.
        assert!((c[0] - 1.5).abs() < 1e-12);
        assert!((w[0] + 5.0).abs() < 1e-12);
        assert_eq!((c[1], w[1]), (-10.0, -10.0));
        let mut p = defaults(Method::L1);
        p.push(("alpha", "0.001"));
        p.push(("target", "1000"));
        let s = Shaping::new(Method::L1, &p).unwrap();
        s.curve(&mut c, &mut w, &[1500, 1000], true).unwrap();
        // Exact: 1{correct} − α·|L_T − L|.
        assert!((c[0] - 0.5).abs() < 1e-12);
        assert!((w[0] + 0.5).abs() < 1e-12);
        assert_eq!((c[1], w[1]), (1.0, 0.0));
    }

    #[test]
    fn overlong_curve_hand_values() {
        let s = Shaping::new(
            Method::Overlong,
            &[
                ("max_len", "100"),
                ("buffer", "20"),
                ("factor", "2"),
                ("cap", "off"),
            ],
        )
        .unwrap();
        let (mut c, mut w) = ([0.0; 3], [0.0; 3]);
        s.curve(&mut c, &mut w, &[80, 90, 120], true).unwrap();
        assert_eq!(c, [1.0, 0.0, -3.0]);
        assert_eq!(w, [0.0, -1.0, -4.0]);
    }

    #[test]
    fn every_documented_error() {
        let laser = defaults(Method::Laser);
        let mut bad = laser.clone();
        bad.push(("beta", "1"));
        assert!(matches!(
            Shaping::new(Method::Laser, &bad),
            Err(DemoError::UnknownParam { .. })
        ));
        assert_eq!(
            Shaping::new(Method::Laser, &laser[..2]),
            Err(DemoError::MissingParam {
                method: "laser",
                name: "target"
            })
        );
        let mut bad = laser.clone();
        bad.push(("alpha", "abc"));
        assert!(matches!(
            Shaping::new(Method::Laser, &bad),
            Err(DemoError::Parse { what: "alpha", .. })
        ));
        let mut bad = laser.clone();
        bad.push(("target", "-3"));
        assert!(matches!(
            Shaping::new(Method::Laser, &bad),
            Err(DemoError::Parse { what: "target", .. })
        ));
        let mut bad = laser.clone();
        bad.push(("mode", "both"));
        let e = Shaping::new(Method::Laser, &bad).unwrap_err();
        assert!(e.to_string().contains("hybrid"), "{e}");
        let mut bad = laser.clone();
        bad.push(("alpha", "-1"));
        assert!(matches!(
            Shaping::new(Method::Laser, &bad),
            Err(DemoError::Core(rewardkit_core::Error::InvalidParam {
                name: "alpha",
                ..
            }))
        ));
        let s = Shaping::new(Method::Laser, &laser).unwrap();
        let (mut c, mut w) = ([0.0; 1], [0.0; 1]);
        assert!(matches!(
            s.curve(&mut c, &mut w, &[0], true),
            Err(DemoError::Core(rewardkit_core::Error::InvalidParam { .. }))
        ));
        assert!(matches!(
            s.curve(&mut c, &mut w, &[1, 2], true),
            Err(DemoError::Core(
                rewardkit_core::Error::LengthMismatch { .. }
            ))
        ));
        assert!(matches!(
            s.curve(&mut [], &mut [], &[], true),
            Err(DemoError::Core(rewardkit_core::Error::Empty { .. }))
        ));
    }
}
