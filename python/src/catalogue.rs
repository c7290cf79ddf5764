//! The rest of the reward catalogue (issue 12, phase 2): terms usable alone and in a `Pipeline`
//! (`WellFormed`, `FormatLength`, `TagFormat`, `CharLength`, `ReasoningAction`,
//! `ReasoningPattern`, `GroupLengthPenalty`, `LengthScaled`, `ThinkPrune`, `LaserAdaptive`, `Par`,
//! `RepetitionRatio`), and the catalogue's other pieces as classes and functions (flip noise,
//! truncation, target length, PAR's shaper, PURE, Clip/Delta, ensembles, BRME, multi-objective,
//! PF-PPO, OREAL, Fine-Grained RLHF, CaRL, potential shaping). Rewards are `f64`, as in
//! `rewards`. Random draws come from a `seed` argument (`SplitMix64`), so a call is reproducible.

use numpy::{Element, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rewardkit_core::Error;
use rewardkit_core::reward::{
    self as rw, CarlVariant, CharCurve, Ensemble, Filtration, FineGrained, FlipNoise, FlipUnit,
    FormatLength, GroupLengthPenalty, LaserAdaptive, LengthScaled, LengthSingleton, MultiObjective,
    Normalization, Oreal, OrealRescale, OrealShaping, Par, ProcessRefine, PruneSchedule, Pure,
    PureBaseline, RefineMode, RepetitionRatio, RewardShaper, RewardTerm, RmSpec, RprCalibration,
    RunningStats, SegmentScore, TagFormat, TargetLength, TargetMode, TerminalPotential,
    ThinkPruneTerm, Transform, Truncation, TruncationMode, WellFormed,
};
use rewardkit_core::rng::SplitMix64;

use super::{Inputs, Term, TermClass, bools, score, texts_of, u32s};
use crate::arrays::{MaskBuf, check_shape, data, fmt_shape, group_index, view};
use crate::errors::{option_err, shape_err, to_py};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWellFormed>()?;
    m.add_class::<PyFormatLength>()?;
    m.add_class::<PyTagFormat>()?;
    m.add_class::<PyCharLength>()?;
    m.add_class::<PyReasoningAction>()?;
    m.add_class::<PyReasoningPattern>()?;
    m.add_class::<PyGroupLengthPenalty>()?;
    m.add_class::<PyLengthScaled>()?;
    m.add_class::<PyThinkPrune>()?;
    m.add_class::<PyLaserAdaptive>()?;
    m.add_class::<PyPar>()?;
    m.add_class::<PyRepetitionRatio>()?;
    m.add_class::<PyFlipNoise>()?;
    m.add_class::<PyRprCalibration>()?;
    m.add_class::<PyTruncation>()?;
    m.add_class::<PyTargetLength>()?;
    m.add_class::<PyRewardShaper>()?;
    m.add_class::<PyPure>()?;
    m.add_class::<PyProcessRefine>()?;
    m.add_class::<PyMultiObjective>()?;
    m.add_class::<PyOreal>()?;
    m.add_class::<PyFineGrained>()?;
    m.add_class::<PyCarl>()?;
    m.add_function(wrap_pyfunction!(word_repetition_penalty, m)?)?;
    m.add_function(wrap_pyfunction!(ensemble, m)?)?;
    m.add_function(wrap_pyfunction!(brme, m)?)?;
    m.add_function(wrap_pyfunction!(filtration_select, m)?)?;
    m.add_function(wrap_pyfunction!(filtration_weights, m)?)?;
    m.add_function(wrap_pyfunction!(policy_weights, m)?)?;
    m.add_function(wrap_pyfunction!(reward_weights, m)?)?;
    m.add_function(wrap_pyfunction!(resample, m)?)?;
    m.add_function(wrap_pyfunction!(r_squared, m)?)?;
    m.add_function(wrap_pyfunction!(potential_shaping, m)?)?;
    m.add(
        "REASONING_ACTION_WORDS",
        rw::REASONING_ACTION_WORDS.to_vec(),
    )?;
    m.add("RPR_MATH_PHRASES", rw::RPR_MATH_PHRASES.to_vec())?;
    m.add(
        "RPR_OPEN_ENDED_PHRASES",
        rw::RPR_OPEN_ENDED_PHRASES.to_vec(),
    )?;
    Ok(())
}

type Arr<'py> = Bound<'py, PyAny>;

/// The catalogue's term classes as pipeline terms (`None` if `obj` is none of them).
pub(super) fn guard<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Box<dyn TermClass + 'py>>> {
    macro_rules! try_cast {
        ($($t:ty),*) => {
            $(if let Ok(x) = obj.cast::<$t>() {
                return Ok(Some(Box::new(x.try_borrow()?)));
            })*
        };
    }
    try_cast!(
        PyWellFormed,
        PyFormatLength,
        PyTagFormat,
        PyCharLength,
        PyReasoningAction,
        PyReasoningPattern,
        PyGroupLengthPenalty,
        PyLengthScaled,
        PyThinkPrune,
        PyLaserAdaptive,
        PyPar,
        PyRepetitionRatio
    );
    Ok(None)
}

macro_rules! dyn_term_class {
    ($($t:ty),* $(,)?) => {
        $(impl TermClass for $t {
            fn as_term(&self) -> Term<'_> {
                self.term()
            }
        })*
    };
}
dyn_term_class!(
    PyWellFormed,
    PyFormatLength,
    PyTagFormat,
    PyCharLength,
    PyReasoningAction,
    PyReasoningPattern,
    PyGroupLengthPenalty,
    PyLengthScaled,
    PyThinkPrune,
    PyLaserAdaptive,
    PyPar,
    PyRepetitionRatio,
);

// ---------------------------------------------------------------------------------------------
// Small helpers (conversion only)
// ---------------------------------------------------------------------------------------------

/// A new array of `shape` that `f` fills (the GIL released while it runs).
fn fill<'py, T: Element + Copy + Send>(
    py: Python<'py>,
    shape: &[usize],
    f: impl FnOnce(&mut [T]) -> rewardkit_core::Result<()> + Send,
) -> PyResult<Arr<'py>> {
    let out = PyArrayDyn::<T>::zeros(py, numpy::ndarray::IxDyn(shape), false);
    {
        let mut w = out
            .try_readwrite()
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let s = w
            .as_slice_mut()
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        py.detach(|| f(s)).map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// `(B, K)` of a 2-D float input.
fn rows_cols(name: &str, shape: &[usize]) -> PyResult<(usize, usize)> {
    match shape {
        [b, k] => Ok((*b, *k)),
        s => Err(shape_err(
            name,
            format!("`{name}` must be 2-D, got shape {}", fmt_shape(s)),
        )),
    }
}

fn usizes(obj: &Arr<'_>, name: &'static str) -> PyResult<Vec<usize>> {
    u32s(obj, name).map(|v| v.into_iter().map(|x| x as usize).collect())
}

fn singleton(s: &str) -> PyResult<LengthSingleton> {
    match s {
        "neutral" => Ok(LengthSingleton::Neutral),
        "reference" => Ok(LengthSingleton::Reference),
        _ => Err(option_err("singleton group", &["neutral", "reference"])),
    }
}

fn truncation_mode(mode: &str, value: f64) -> PyResult<TruncationMode<f64>> {
    match mode {
        "replace" => Ok(TruncationMode::Replace(value)),
        "scale" => Ok(TruncationMode::Scale(value)),
        _ => Err(option_err("truncation mode", &["replace", "scale"])),
    }
}

// ---------------------------------------------------------------------------------------------
// Terms
// ---------------------------------------------------------------------------------------------

/// The format reward as its own term (DeepSeek-R1's format reward): `ok` for responses flagged
/// `well_formed`, `malformed` otherwise.
#[pyclass(name = "WellFormed", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyWellFormed {
    p: WellFormed<f64>,
    args: (f64, f64),
}

impl PyWellFormed {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyWellFormed {
    #[new]
    #[pyo3(signature = (ok=1.0, malformed=0.0))]
    fn new(ok: f64, malformed: f64) -> PyResult<Self> {
        Ok(Self { p: WellFormed::new(ok, malformed).map_err(to_py)?, args: (ok, malformed) })
    }
    fn __getnewargs__(&self) -> (f64, f64) {
        self.args
    }
});

/// The format-length surrogate (Xin et al. 2025): format flags of `texts` plus a length curve of
/// `lengths` peaking at `peak·max_len`.
#[pyclass(name = "FormatLength", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyFormatLength {
    p: FormatLength<f64>,
    args: (u32, f64),
}

impl PyFormatLength {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyFormatLength {
    #[new]
    #[pyo3(signature = (max_len=3072, peak=0.5))]
    fn new(max_len: u32, peak: f64) -> PyResult<Self> {
        Ok(Self { p: FormatLength::new(max_len, peak).map_err(to_py)?, args: (max_len, peak) })
    }
    fn __getnewargs__(&self) -> (u32, f64) {
        self.args
    }
});

/// The surrogate paper's tag-format rewards on `texts`: `mode="soft"` (`soft_format_reward_func`)
/// or `"strict"`.
#[pyclass(name = "TagFormat", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyTagFormat {
    p: TagFormat,
    mode: String,
}

impl PyTagFormat {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyTagFormat {
    #[new]
    #[pyo3(signature = (mode="soft"))]
    fn new(mode: &str) -> PyResult<Self> {
        let p = match mode {
            "soft" => TagFormat::Soft,
            "strict" => TagFormat::Strict,
            _ => return Err(option_err("tag format", &["soft", "strict"])),
        };
        Ok(Self { p, mode: mode.into() })
    }
    fn __getnewargs__(&self) -> (String,) {
        (self.mode.clone(),)
    }
});

/// The surrogate paper's character-length rewards on `texts` (`curve="v1"`: `length_reward_func`,
/// `"v2"`: `length_reward_func_v2`), with `x = characters / max_len`.
#[pyclass(name = "CharLength", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyCharLength {
    p: rw::CharLength,
    args: (String, u32),
}

impl PyCharLength {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyCharLength {
    #[new]
    #[pyo3(signature = (curve="v1", max_len=4096))]
    fn new(curve: &str, max_len: u32) -> PyResult<Self> {
        let c = match curve {
            "v1" => CharCurve::V1,
            "v2" => CharCurve::V2,
            _ => return Err(option_err("character-length curve", &["v1", "v2"])),
        };
        Ok(Self { p: rw::CharLength::new(c, max_len).map_err(to_py)?, args: (curve.into(), max_len) })
    }
    fn __getnewargs__(&self) -> (String, u32) {
        self.args.clone()
    }
});

/// `ReasoningAction` with owned keywords (the core type borrows them).
#[derive(Clone, Debug)]
struct OwnedReasoningAction {
    words: Vec<String>,
    cap: usize,
    scale: f64,
}

impl OwnedReasoningAction {
    fn with<R>(
        &self,
        f: impl FnOnce(&rw::ReasoningAction<'_, f64>) -> rewardkit_core::Result<R>,
    ) -> rewardkit_core::Result<R> {
        let w: Vec<&str> = self.words.iter().map(String::as_str).collect();
        f(&rw::ReasoningAction::new(&w, self.cap, self.scale)?)
    }
}

impl RewardTerm<f64> for OwnedReasoningAction {
    fn name(&self) -> &'static str {
        "reasoning_action"
    }
    fn score(&self, out: &mut [f64], batch: &rw::Batch<'_, f64>) -> rewardkit_core::Result<()> {
        self.with(|t| t.score(out, batch))
    }
}

/// The surrogate paper's reasoning-action reward on `texts`: `scale·min(count, cap)/cap` over the
/// occurrences of the keywords (`REASONING_ACTION_WORDS` by default).
#[pyclass(name = "ReasoningAction", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyReasoningAction {
    p: OwnedReasoningAction,
}

impl PyReasoningAction {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyReasoningAction {
    #[new]
    #[pyo3(signature = (words=None, cap=20, scale=0.5))]
    fn new(words: Option<Vec<String>>, cap: usize, scale: f64) -> PyResult<Self> {
        let p = OwnedReasoningAction {
            words: words.unwrap_or_else(|| rw::REASONING_ACTION_WORDS.iter().map(|w| (*w).to_string()).collect()),
            cap,
            scale,
        };
        p.with(|_| Ok(())).map_err(to_py)?;
        Ok(Self { p })
    }
    /// The keyword count of one text.
    fn count(&self, text: &str) -> PyResult<usize> {
        self.p.with(|t| Ok(t.count(text))).map_err(to_py)
    }
    fn __getnewargs__(&self) -> (Vec<String>, usize, f64) {
        (self.p.words.clone(), self.p.cap, self.p.scale)
    }
});

/// `ReasoningPattern` with owned phrases.
#[derive(Clone, Debug)]
struct OwnedReasoningPattern {
    phrases: Vec<String>,
    divisor: f64,
    ngram: usize,
    user_marker: Option<String>,
}

impl OwnedReasoningPattern {
    fn with<R>(
        &self,
        f: impl FnOnce(&rw::ReasoningPattern<'_>) -> rewardkit_core::Result<R>,
    ) -> rewardkit_core::Result<R> {
        let p: Vec<&str> = self.phrases.iter().map(String::as_str).collect();
        f(&rw::ReasoningPattern::new(
            &p,
            self.divisor,
            self.ngram,
            self.user_marker.as_deref(),
        )?)
    }
}

impl RewardTerm<f64> for OwnedReasoningPattern {
    fn name(&self) -> &'static str {
        "reasoning_pattern"
    }
    fn score(&self, out: &mut [f64], batch: &rw::Batch<'_, f64>) -> rewardkit_core::Result<()> {
        self.with(|t| t.score(out, batch))
    }
}

/// The reasoning-pattern reward (RPR, Lv et al. 2025) on `texts`: reasoning phrases found
/// (`phrases="math"`, `"open_ended"` or a list of lower-case phrases) over `divisor`, capped at 1,
/// minus the `ngram`-gram repetition ratio and the count of `user_marker`, floored at 0.
#[pyclass(
    name = "ReasoningPattern",
    module = "rewardkit",
    frozen,
    from_py_object
)]
#[derive(Clone, Debug)]
pub struct PyReasoningPattern {
    p: OwnedReasoningPattern,
}

impl PyReasoningPattern {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyReasoningPattern {
    #[new]
    #[pyo3(signature = (phrases=None, divisor=20.0, ngram=20, user_marker=Some("user: ".to_string())))]
    fn new(phrases: Option<&Bound<'_, PyAny>>, divisor: f64, ngram: usize, user_marker: Option<String>) -> PyResult<Self> {
        let list: Vec<String> = match phrases {
            None => rw::RPR_MATH_PHRASES.iter().map(|p| (*p).to_string()).collect(),
            Some(p) => match p.extract::<String>() {
                Ok(s) if s == "math" => rw::RPR_MATH_PHRASES.iter().map(|p| (*p).to_string()).collect(),
                Ok(s) if s == "open_ended" => rw::RPR_OPEN_ENDED_PHRASES.iter().map(|p| (*p).to_string()).collect(),
                Ok(_) => return Err(option_err("reasoning phrases", &["math", "open_ended"])),
                Err(_) => p.extract()?,
            },
        };
        let p = OwnedReasoningPattern { phrases: list, divisor, ngram, user_marker };
        p.with(|_| Ok(())).map_err(to_py)?;
        Ok(Self { p })
    }
    fn __getnewargs__(&self) -> (Vec<String>, f64, usize, Option<String>) {
        (self.p.phrases.clone(), self.p.divisor, self.p.ngram, self.p.user_marker.clone())
    }
});

/// The group length penalty (Arora & Zanette 2025) on `lengths`, `correct`, `index`: correct
/// answers shorter than their group's correct answers score higher.
#[pyclass(
    name = "GroupLengthPenalty",
    module = "rewardkit",
    frozen,
    from_py_object
)]
#[derive(Clone, Debug)]
pub struct PyGroupLengthPenalty {
    p: GroupLengthPenalty<f64>,
    args: (f64, f64, String),
}

impl PyGroupLengthPenalty {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyGroupLengthPenalty {
    #[new]
    #[pyo3(signature = (coef=0.4, eps=1e-6, singleton="neutral"))]
    fn new(coef: f64, eps: f64, singleton: &str) -> PyResult<Self> {
        let p = GroupLengthPenalty::new(coef, eps).map_err(to_py)?.with_singleton(self::singleton(singleton)?);
        Ok(Self { p, args: (coef, eps, singleton.into()) })
    }
    fn __getnewargs__(&self) -> (f64, f64, String) {
        self.args.clone()
    }
});

/// The length-scaled sparse reward (Yeo et al. 2025) on `lengths`, `correct`.
#[pyclass(name = "LengthScaled", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyLengthScaled {
    p: LengthScaled<f64>,
    args: (f64, u32, f64, u32),
}

impl PyLengthScaled {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyLengthScaled {
    #[new]
    #[pyo3(signature = (risk=0.5, max_len=14336, exceed=0.0, margin=16))]
    fn new(risk: f64, max_len: u32, exceed: f64, margin: u32) -> PyResult<Self> {
        let p = LengthScaled::new(risk, max_len, exceed).map_err(to_py)?.with_margin(margin);
        Ok(Self { p, args: (risk, max_len, exceed, margin) })
    }
    fn __getnewargs__(&self) -> (f64, u32, f64, u32) {
        self.args
    }
});

type PruneArgs = (
    u32,
    Option<u32>,
    u32,
    String,
    u64,
    f64,
    u32,
    u64,
    String,
    f64,
);
type PruneEvent = (bool, u64, Option<f64>);

/// `ThinkPrune` (Hou et al. 2025) with the LASER code's length schedule: the truncation penalty of
/// `1{correct}` at the current limit (`lengths`, `correct`). `rule`: `"constant"`, `"interval"`
/// (every `interval` steps from `start_step`), `"clip_ratio"` (after `target_acc_times`
/// consecutive steps with clip ratio `≤ target_clip_ratio`). A truncated answer gets `value`
/// (`truncated="replace"`) or `value·R` (`"scale"`). The schedule is state: `step(step,
/// clip_ratio)` and `shrink()` advance it, and it pickles.
#[pyclass(name = "ThinkPrune", module = "rewardkit", from_py_object)]
#[derive(Clone, Debug)]
pub struct PyThinkPrune {
    schedule: PruneSchedule,
    mode: TruncationMode<f64>,
    args: PruneArgs,
    /// Every `step`/`shrink` call so far (`(is_shrink, step, clip_ratio)`), replayed on unpickling.
    events: Vec<PruneEvent>,
}

impl PyThinkPrune {
    fn term(&self) -> Term<'_> {
        Term::ThinkPrune(ThinkPruneTerm {
            mode: self.mode,
            schedule: &self.schedule,
        })
    }

    fn build(a: &PruneArgs) -> PyResult<(PruneSchedule, TruncationMode<f64>)> {
        let (init, min, red, rule, every, target, times, start, trunc, value) = a;
        let min = min.unwrap_or(*init);
        let s = match rule.as_str() {
            "constant" => PruneSchedule::constant(*init),
            "interval" => PruneSchedule::interval(*init, min, *red, *every, *start),
            "clip_ratio" => PruneSchedule::clip_ratio(*init, min, *red, *target, *times, *start),
            _ => {
                return Err(option_err(
                    "ThinkPrune rule",
                    &["constant", "interval", "clip_ratio"],
                ));
            }
        }
        .map_err(to_py)?;
        let mode = truncation_mode(trunc, *value)?;
        s.truncation(mode).map_err(to_py)?;
        Ok((s, mode))
    }
}

term_methods!(PyThinkPrune {
    #[new]
    #[pyo3(signature = (init_length=4096, min_length=None, reduction=0, rule="constant", interval=10,
        target_clip_ratio=0.1, target_acc_times=5, start_step=0, truncated="replace", value=0.0))]
    fn new(init_length: u32, min_length: Option<u32>, reduction: u32, rule: &str, interval: u64,
        target_clip_ratio: f64, target_acc_times: u32, start_step: u64, truncated: &str, value: f64) -> PyResult<Self> {
        let args: PruneArgs = (init_length, min_length, reduction, rule.into(), interval, target_clip_ratio,
            target_acc_times, start_step, truncated.into(), value);
        let (schedule, mode) = Self::build(&args)?;
        Ok(Self { schedule, mode, args, events: Vec::new() })
    }

    /// Applies the rule at training step `step` (with the batch's clip ratio, the fraction of
    /// truncated responses, or `None`); returns the limit.
    #[pyo3(signature = (step, clip_ratio=None))]
    fn step(&mut self, step: u64, clip_ratio: Option<f64>) -> PyResult<u32> {
        let l = self.schedule.step(step, clip_ratio).map_err(to_py)?;
        self.events.push((false, step, clip_ratio));
        Ok(l)
    }

    /// One reduction of the limit (stages driven by hand); returns the limit.
    fn shrink(&mut self) -> u32 {
        self.events.push((true, 0, None));
        self.schedule.shrink()
    }

    /// The current limit `L_T`.
    #[getter]
    fn limit(&self) -> u32 {
        self.schedule.limit()
    }

    fn __getnewargs__(&self) -> PruneArgs {
        self.args.clone()
    }

    fn __getstate__(&self) -> Vec<PruneEvent> {
        self.events.clone()
    }

    fn __setstate__(&mut self, state: Vec<PruneEvent>) -> PyResult<()> {
        let (mut s, _) = Self::build(&self.args)?;
        for (shrink, step, c) in &state {
            if *shrink {
                s.shrink();
            } else {
                s.step(*step, *c).map_err(to_py)?;
            }
        }
        self.schedule = s;
        self.events = state;
        Ok(())
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.schedule == other.schedule && self.mode == other.mode
    }
});

/// LASER's adaptive reward (`compute_adaptive_reward`): verified answers (`correct`, with
/// `well_formed=False` as clipped) scored `correct`/`wrong`/`clipped` and weighted by the batch's
/// clip ratio.
#[pyclass(name = "LaserAdaptive", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyLaserAdaptive {
    p: LaserAdaptive<f64>,
    args: (f64, (f64, f64, f64)),
}

impl PyLaserAdaptive {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

fn adaptive_dict<'py>(py: Python<'py>, s: &rw::AdaptiveStats<f64>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("correct", s.correct)?;
    d.set_item("incorrect", s.incorrect)?;
    d.set_item("clipped", s.clipped)?;
    d.set_item("beta", s.beta)?;
    Ok(d)
}

term_methods!(PyLaserAdaptive {
    #[new]
    #[pyo3(signature = (acc_weight=0.9, scores=(1.0, -0.5, -1.0)))]
    fn new(acc_weight: f64, scores: (f64, f64, f64)) -> PyResult<Self> {
        let p = LaserAdaptive::new(acc_weight)
            .and_then(|p| p.with_scores(scores.0, scores.1, scores.2))
            .map_err(to_py)?;
        Ok(Self { p, args: (acc_weight, scores) })
    }
    /// The weight `β` for a clip ratio and a correct ratio.
    fn beta(&self, clip_ratio: f64, correct_ratio: f64) -> PyResult<f64> {
        self.p.beta(clip_ratio, correct_ratio).map_err(to_py)
    }
    /// The counts and `β` of a batch of scores (`correct`, `incorrect`, `clipped`, `beta`).
    fn stats<'py>(&self, py: Python<'py>, scores: &Arr<'py>) -> PyResult<Bound<'py, PyDict>> {
        let v = view::<f64>(scores, "scores")?;
        let s = self.p.stats(data(&v, "scores")?).map_err(to_py)?;
        adaptive_dict(py, &s)
    }
    fn __getnewargs__(&self) -> (f64, (f64, f64, f64)) {
        self.args
    }
});

/// PAR (Fu et al. 2025): the RM score `scores` `(B)` as a preference against reference responses'
/// scores `refs` `(B, M)`: `(1/M)·Σ σ(k·(r − r_ref))` with the first `M ≤ max_refs` references.
#[pyclass(name = "Par", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyPar {
    p: Par<f64>,
    args: (f64, usize),
}

impl PyPar {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyPar {
    #[new]
    #[pyo3(signature = (k=1.0, max_refs=10))]
    fn new(k: f64, max_refs: usize) -> PyResult<Self> {
        Ok(Self { p: Par::new(k, max_refs).map_err(to_py)?, args: (k, max_refs) })
    }
    /// `(r_PAR (B), ∂r_PAR/∂r (B))` of `scores` `(B)` against `refs` `(B, M)`.
    fn value_grad<'py>(&self, py: Python<'py>, scores: &Arr<'py>, refs: &Arr<'py>) -> PyResult<(Arr<'py>, Arr<'py>)> {
        let s = view::<f64>(scores, "scores")?;
        let r = view::<f64>(refs, "refs")?;
        let (b, _) = rows_cols("refs", r.shape())?;
        check_shape("scores", s.shape(), &[b])?;
        let (ss, rs) = (data(&s, "scores")?, data(&r, "refs")?);
        let mut grad = vec![0.0; b];
        let p = self.p;
        let out = fill::<f64>(py, &[b], |o| p.rewards(o, Some(&mut grad), ss, rs))?;
        Ok((out, numpy::PyArray1::from_vec(py, grad).into_any()))
    }
    fn __getnewargs__(&self) -> (f64, usize) {
        self.args
    }
});

/// The repeated-n-gram fraction of each token sequence (`tokens`), times `penalty`.
#[pyclass(name = "RepetitionRatio", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyRepetitionRatio {
    p: RepetitionRatio<f64>,
    args: (usize, f64),
}

impl PyRepetitionRatio {
    fn term(&self) -> Term<'_> {
        Term::Dyn(&self.p)
    }
}

term_methods!(PyRepetitionRatio {
    #[new]
    #[pyo3(signature = (ngram=3, penalty=-1.0))]
    fn new(ngram: usize, penalty: f64) -> PyResult<Self> {
        Ok(Self { p: RepetitionRatio::new(ngram, penalty).map_err(to_py)?, args: (ngram, penalty) })
    }
    fn __getnewargs__(&self) -> (usize, f64) {
        self.args
    }
});

// ---------------------------------------------------------------------------------------------
// Outcome noise and calibration, truncation, target length, word repetition
// ---------------------------------------------------------------------------------------------

/// Reward-flipping noise (Lv et al. 2025): per unit (`unit="group"` of `index`, or `"sample"`), a
/// draw `u < rate` flips every reward `r ↦ lo + hi − r`; unanswered responses (`answered=False`)
/// keep their score unless `flip_unanswered`. Draws come from `SplitMix64(seed)`.
#[pyclass(name = "FlipNoise", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyFlipNoise {
    p: FlipNoise<f64>,
    args: (f64, String, f64, f64, bool),
}

impl PyFlipNoise {
    fn run<'py>(
        &self,
        py: Python<'py>,
        scores: &Arr<'py>,
        format: Option<&Arr<'py>>,
        answered: Option<&Arr<'py>>,
        index: Option<&Arr<'py>>,
        seed: u64,
    ) -> PyResult<Arr<'py>> {
        let s = view::<f64>(scores, "scores")?;
        let n = s.len();
        let f = format.map(|f| view::<f64>(f, "format")).transpose()?;
        let a = answered.filter(|a| !a.is_none()).map(bools).transpose()?;
        let g = index
            .filter(|i| !i.is_none())
            .map(group_index)
            .transpose()?;
        let ss = data(&s, "scores")?;
        let fs = f.as_ref().map(|f| data(f, "format")).transpose()?;
        let p = self.p;
        fill::<f64>(py, &[n], |o| {
            let mut rng = SplitMix64::new(seed);
            match fs {
                Some(fs) => p.apply_format(o, ss, fs, a.as_deref(), g.as_ref(), &mut rng),
                None => p.apply(o, ss, a.as_deref(), g.as_ref(), &mut rng),
            }
        })
    }
}

#[pymethods]
impl PyFlipNoise {
    #[new]
    #[pyo3(signature = (rate, unit="group", lo=0.0, hi=1.0, flip_unanswered=false))]
    fn new(rate: f64, unit: &str, lo: f64, hi: f64, flip_unanswered: bool) -> PyResult<Self> {
        let u = match unit {
            "group" => FlipUnit::Group,
            "sample" => FlipUnit::Sample,
            _ => return Err(option_err("flip unit", &["group", "sample"])),
        };
        let p = FlipNoise::new(rate, u)
            .and_then(|p| p.with_range(lo, hi))
            .map_err(to_py)?
            .with_flip_unanswered(flip_unanswered);
        Ok(Self {
            p,
            args: (rate, unit.into(), lo, hi, flip_unanswered),
        })
    }

    /// The noisy rewards `(B)` of `scores` `(B)`.
    #[pyo3(signature = (scores, answered=None, index=None, *, seed=0))]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        scores: &Arr<'py>,
        answered: Option<&Arr<'py>>,
        index: Option<&Arr<'py>>,
        seed: u64,
    ) -> PyResult<Arr<'py>> {
        self.run(py, scores, None, answered, index, seed)
    }

    /// The reference's `add_format_reward_when_wrong`: as `apply`, with the format score
    /// `format` `(B)` given to wrong (or flipped-correct) answers.
    #[pyo3(signature = (scores, format, answered=None, index=None, *, seed=0))]
    fn apply_format<'py>(
        &self,
        py: Python<'py>,
        scores: &Arr<'py>,
        format: &Arr<'py>,
        answered: Option<&Arr<'py>>,
        index: Option<&Arr<'py>>,
        seed: u64,
    ) -> PyResult<Arr<'py>> {
        self.run(py, scores, Some(format), answered, index, seed)
    }

    fn __getnewargs__(&self) -> (f64, String, f64, f64, bool) {
        self.args.clone()
    }
}

/// RPR calibration (Lv et al. 2025): combines an RM score `rm` with the reasoning-pattern reward
/// `rpr`, `(B)` each.
#[pyclass(name = "RprCalibration", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyRprCalibration {
    p: RprCalibration<f64>,
    args: (f64, f64, f64),
}

#[pymethods]
impl PyRprCalibration {
    #[new]
    #[pyo3(signature = (coef=0.1, threshold=0.5, cap=1.0))]
    fn new(coef: f64, threshold: f64, cap: f64) -> PyResult<Self> {
        Ok(Self {
            p: RprCalibration::new(coef, threshold, cap).map_err(to_py)?,
            args: (coef, threshold, cap),
        })
    }

    /// The calibrated rewards `(B)`.
    fn __call__<'py>(&self, py: Python<'py>, rm: &Arr<'py>, rpr: &Arr<'py>) -> PyResult<Arr<'py>> {
        let (a, b) = (view::<f64>(rm, "rm")?, view::<f64>(rpr, "rpr")?);
        let (x, y) = (data(&a, "rm")?, data(&b, "rpr")?);
        let p = self.p;
        fill::<f64>(py, &[x.len()], |o| p.apply(o, x, y))
    }

    fn __getnewargs__(&self) -> (f64, f64, f64) {
        self.args
    }
}

/// The truncation penalty: a reward of a response longer than `limit` tokens becomes `value`
/// (`mode="replace"`) or `value·r` (`"scale"`).
#[pyclass(name = "Truncation", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyTruncation {
    p: Truncation<f64>,
    args: (u32, String, f64),
}

#[pymethods]
impl PyTruncation {
    #[new]
    #[pyo3(signature = (limit=16384, mode="replace", value=0.0))]
    fn new(limit: u32, mode: &str, value: f64) -> PyResult<Self> {
        Ok(Self {
            p: Truncation::new(limit, truncation_mode(mode, value)?).map_err(to_py)?,
            args: (limit, mode.into(), value),
        })
    }

    /// The penalized `rewards` `(B)` given `lengths` `(B)`, or `truncated` flags `(B)`.
    #[pyo3(signature = (rewards, lengths=None, *, truncated=None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        rewards: &Arr<'py>,
        lengths: Option<&Arr<'py>>,
        truncated: Option<&Arr<'py>>,
    ) -> PyResult<Arr<'py>> {
        let r = view::<f64>(rewards, "rewards")?;
        let rs = data(&r, "rewards")?;
        let p = self.p;
        match (lengths, truncated) {
            (Some(l), None) => {
                let l = u32s(l, "lengths")?;
                fill::<f64>(py, &[rs.len()], |o| p.apply(o, rs, &l))
            }
            (None, Some(t)) => {
                let t = bools(t)?;
                fill::<f64>(py, &[rs.len()], |o| p.apply_flags(o, rs, &t))
            }
            _ => Err(PyTypeError::new_err(
                "pass exactly one of `lengths` and `truncated`",
            )),
        }
    }

    fn __getnewargs__(&self) -> (u32, String, f64) {
        self.args.clone()
    }
}

/// L1's target-length reward (LCPO, Aggarwal & Welleck 2025): correct answers close to a
/// requested length (`mode="exact"`) or within it (`"max"`).
#[pyclass(name = "TargetLength", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyTargetLength {
    p: TargetLength<f64>,
    args: (f64, f64, String),
}

#[pymethods]
impl PyTargetLength {
    #[new]
    #[pyo3(signature = (alpha=0.0003, delta=0.5, mode="exact"))]
    fn new(alpha: f64, delta: f64, mode: &str) -> PyResult<Self> {
        let m = match mode {
            "exact" => TargetMode::Exact,
            "max" => TargetMode::Max,
            _ => return Err(option_err("target mode", &["exact", "max"])),
        };
        Ok(Self {
            p: TargetLength::new(alpha, delta, m).map_err(to_py)?,
            args: (alpha, delta, mode.into()),
        })
    }

    /// The rewards `(B)` of `correct`, `lengths` and requested `targets`, `(B)` each.
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        correct: &Arr<'py>,
        lengths: &Arr<'py>,
        targets: &Arr<'py>,
    ) -> PyResult<Arr<'py>> {
        let (c, l, t) = (
            bools(correct)?,
            u32s(lengths, "lengths")?,
            u32s(targets, "targets")?,
        );
        let p = self.p;
        fill::<f64>(py, &[c.len()], |o| p.rewards(o, &c, &l, &t))
    }

    fn __getnewargs__(&self) -> (f64, f64, String) {
        self.args.clone()
    }
}

/// The word-level repetition penalty of each text (`n`-grams of words, at most `max_penalty`).
#[pyfunction]
#[pyo3(signature = (texts, n=3, max_penalty=-1.0))]
fn word_repetition_penalty<'py>(
    py: Python<'py>,
    texts: &Arr<'py>,
    n: usize,
    max_penalty: f64,
) -> PyResult<Arr<'py>> {
    let t = texts_of(texts)?;
    let strs = t.iter().map(|s| s.to_str()).collect::<PyResult<Vec<_>>>()?;
    fill::<f64>(py, &[strs.len()], |o| {
        for (o, s) in o.iter_mut().zip(&strs) {
            *o = rw::word_repetition_penalty(s, n, max_penalty)?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// PAR's reward shaper (stateful)
// ---------------------------------------------------------------------------------------------

type ShaperArgs = (
    Option<f64>,
    Option<(f64, u32)>,
    (bool, bool, bool, bool, bool),
    String,
    bool,
    bool,
    f64,
    usize,
);

const TRANSFORMS: &[&str] = &["none", "sigmoid", "tanh", "arctan", "fitted_poly"];

/// The PAR study's reward shaping (Fu et al. 2025, `reward_shaper.py`): ceiling, length
/// penalty `(λ, L₀)`, the steps `(centered, sgfc, meanstd, clipping, minmax)`, a bounded
/// `transform` (`none`, `sigmoid`, `tanh`, `arctan`, `fitted_poly`; `relative` to references),
/// LSC, with running statistics that live on the object and pickle. `RewardShaper.par()` is PAR
/// as run in the paper.
#[pyclass(name = "RewardShaper", module = "rewardkit", from_py_object)]
#[derive(Clone, Debug)]
pub struct PyRewardShaper {
    p: RewardShaper<f64>,
    stats: RunningStats,
    args: ShaperArgs,
}

#[pymethods]
impl PyRewardShaper {
    #[new]
    #[pyo3(signature = (ceil=None, length_penalty=Some((0.01, 300)),
        steps=(false, false, false, false, false), transform="none", relative=false, lsc=false,
        k=1.0, max_refs=10))]
    fn new(
        ceil: Option<f64>,
        length_penalty: Option<(f64, u32)>,
        steps: (bool, bool, bool, bool, bool),
        transform: &str,
        relative: bool,
        lsc: bool,
        k: f64,
        max_refs: usize,
    ) -> PyResult<Self> {
        let t = match transform {
            "none" => Transform::None,
            "sigmoid" => Transform::Sigmoid,
            "tanh" => Transform::Tanh,
            "arctan" => Transform::Arctan,
            "fitted_poly" => Transform::FittedPoly,
            _ => return Err(option_err("PAR transform", TRANSFORMS)),
        };
        let p = RewardShaper::default()
            .with_ceil(ceil)
            .and_then(|p| p.with_length_penalty(length_penalty))
            .and_then(|p| p.with_refs(k, max_refs))
            .map_err(to_py)?
            .with_steps(steps.0, steps.1, steps.2, steps.3, steps.4)
            .with_transform(t, relative, lsc);
        Ok(Self {
            p,
            stats: RunningStats::new(),
            args: (
                ceil,
                length_penalty,
                steps,
                transform.into(),
                relative,
                lsc,
                k,
                max_refs,
            ),
        })
    }

    /// PAR as run in the paper: the default length penalty, then `sigmoid` relative to references.
    #[staticmethod]
    fn par() -> PyResult<Self> {
        Self::new(
            None,
            Some((0.01, 300)),
            (false, false, false, false, false),
            "sigmoid",
            true,
            false,
            1.0,
            10,
        )
    }

    /// Shapes RM `scores` `(B)` (with `lengths` `(B)` for the length penalty and reference scores
    /// `refs` `(B, M)` where the steps need them), updating the running statistics.
    #[pyo3(signature = (scores, lengths=None, refs=None))]
    fn __call__<'py>(
        &mut self,
        py: Python<'py>,
        scores: &Arr<'py>,
        lengths: Option<&Arr<'py>>,
        refs: Option<&Arr<'py>>,
    ) -> PyResult<Arr<'py>> {
        let s = view::<f64>(scores, "scores")?;
        let l = lengths
            .filter(|l| !l.is_none())
            .map(|l| u32s(l, "lengths"))
            .transpose()?;
        let r = refs
            .filter(|r| !r.is_none())
            .map(|r| view::<f64>(r, "refs"))
            .transpose()?;
        let ss = data(&s, "scores")?;
        let rs: &[f64] = match &r {
            Some(r) => data(r, "refs")?,
            None => &[],
        };
        let (p, stats) = (self.p, &mut self.stats);
        fill::<f64>(py, &[ss.len()], |o| p.shape(o, ss, l.as_deref(), rs, stats))
    }

    /// The running statistics `(count, mean, variance)`.
    #[getter]
    fn running(&self) -> (u64, f64, f64) {
        (self.stats.count(), self.stats.mean(), self.stats.variance())
    }

    fn __getnewargs__(&self) -> ShaperArgs {
        self.args.clone()
    }

    fn __getstate__(&self) -> (u64, f64, f64, f64, f64) {
        self.stats.parts()
    }

    fn __setstate__(&mut self, s: (u64, f64, f64, f64, f64)) -> PyResult<()> {
        self.stats = RunningStats::from_parts(s.0, s.1, s.2, s.3, s.4).map_err(to_py)?;
        Ok(())
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.p == other.p && self.stats == other.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Process rewards: PURE, Clip/Delta
// ---------------------------------------------------------------------------------------------

fn pure_baseline(kind: &str) -> PyResult<PureBaseline> {
    match kind {
        "token" => Ok(PureBaseline::Token),
        "step" => Ok(PureBaseline::Step),
        _ => Err(option_err("PURE baseline", &["token", "step"])),
    }
}

/// PURE (Cheng et al. 2025): min-form credit assignment for process rewards. Steps of all
/// trajectories are flat `(Σ counts)` with `counts` `(B)` steps per trajectory.
#[pyclass(name = "Pure", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyPure {
    p: Pure<f64>,
    args: (f64, bool),
}

#[pymethods]
impl PyPure {
    #[new]
    #[pyo3(signature = (temperature=0.1, weighted=true))]
    fn new(temperature: f64, weighted: bool) -> PyResult<Self> {
        Ok(Self {
            p: Pure::new(temperature, weighted).map_err(to_py)?,
            args: (temperature, weighted),
        })
    }

    /// The step reward `p[1] − p[0] = tanh((l₁ − l₀)/2)` of two-class PRM logits (arrays).
    #[staticmethod]
    fn step_reward<'py>(py: Python<'py>, l0: &Arr<'py>, l1: &Arr<'py>) -> PyResult<Arr<'py>> {
        let (a, b) = (view::<f64>(l0, "l0")?, view::<f64>(l1, "l1")?);
        check_shape("l1", b.shape(), a.shape())?;
        let (x, y) = (data(&a, "l0")?, data(&b, "l1")?);
        fill::<f64>(py, a.shape(), |o| {
            for ((o, &p), &q) in o.iter_mut().zip(x).zip(y) {
                *o = Pure::step_reward(p, q);
            }
            Ok(())
        })
    }

    /// `(weighted (Σ counts), outcome (B))`: the min-form weighted step rewards and each
    /// trajectory's outcome `Σ r*`.
    fn min_form<'py>(
        &self,
        py: Python<'py>,
        steps: &Arr<'py>,
        counts: &Arr<'py>,
    ) -> PyResult<(Arr<'py>, Arr<'py>)> {
        let s = view::<f64>(steps, "steps")?;
        let c = usizes(counts, "counts")?;
        let ss = data(&s, "steps")?;
        let mut outcome = vec![0.0; c.len()];
        let p = self.p;
        let w = fill::<f64>(py, &[ss.len()], |o| {
            p.min_form_batch(o, &mut outcome, ss, &c)
        })?;
        Ok((w, numpy::PyArray1::from_vec(py, outcome).into_any()))
    }

    /// PURE's RLOO baselines `(B)` from the outcomes `(B)`, step counts, response `lengths` and
    /// group labels `index` (`kind="token"` or `"step"`).
    #[staticmethod]
    #[pyo3(signature = (outcome, counts, lengths, index, kind="token"))]
    fn baseline<'py>(
        py: Python<'py>,
        outcome: &Arr<'py>,
        counts: &Arr<'py>,
        lengths: &Arr<'py>,
        index: &Arr<'py>,
        kind: &str,
    ) -> PyResult<Arr<'py>> {
        let o = view::<f64>(outcome, "outcome")?;
        let (c, l, g, k) = (
            usizes(counts, "counts")?,
            u32s(lengths, "lengths")?,
            group_index(index)?,
            pure_baseline(kind)?,
        );
        let os = data(&o, "outcome")?;
        fill::<f64>(py, &[os.len()], |b| Pure::baseline(b, os, &c, &l, &g, k))
    }

    /// The weighted steps minus the baselines (`step_tokens` `(Σ counts)`: the tokens of each
    /// step, for `kind="token"`). Returns a new array.
    #[staticmethod]
    #[pyo3(signature = (weighted, baselines, counts, step_tokens, kind="token"))]
    fn subtract_baseline<'py>(
        py: Python<'py>,
        weighted: &Arr<'py>,
        baselines: &Arr<'py>,
        counts: &Arr<'py>,
        step_tokens: &Arr<'py>,
        kind: &str,
    ) -> PyResult<Arr<'py>> {
        let w = view::<f64>(weighted, "weighted")?;
        let b = view::<f64>(baselines, "baselines")?;
        let (c, t, k) = (
            usizes(counts, "counts")?,
            u32s(step_tokens, "step_tokens")?,
            pure_baseline(kind)?,
        );
        let (ws, bs) = (data(&w, "weighted")?, data(&b, "baselines")?);
        fill::<f64>(py, &[ws.len()], |o| {
            o.copy_from_slice(ws);
            Pure::subtract_baseline(o, bs, &c, &t, k)
        })
    }

    /// The verifiable-reward mix `(B)`: `coef·(v − mean of the others' v)`, `v = solved − 1`.
    #[staticmethod]
    fn verifiable<'py>(
        py: Python<'py>,
        solved: &Arr<'py>,
        index: &Arr<'py>,
        coef: f64,
    ) -> PyResult<Arr<'py>> {
        let (s, g) = (bools(solved)?, group_index(index)?);
        fill::<f64>(py, &[s.len()], |o| Pure::verifiable(o, &s, &g, coef))
    }

    fn __getnewargs__(&self) -> (f64, bool) {
        self.args
    }
}

/// The Clip and Delta refinements of process rewards (Gao et al. 2024): `mode="clip"`
/// (`min(r − η, 0)`), `"delta"` (`r_k − r_{k+1}`), `"clip_delta"`.
#[pyclass(name = "ProcessRefine", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyProcessRefine {
    p: ProcessRefine<f64>,
    args: (String, Option<f64>, bool),
}

#[pymethods]
impl PyProcessRefine {
    #[new]
    #[pyo3(signature = (mode, eta=None, keep_last=true))]
    fn new(mode: &str, eta: Option<f64>, keep_last: bool) -> PyResult<Self> {
        let need = || {
            eta.ok_or_else(|| {
                to_py(Error::MissingInput {
                    what: "eta (the Clip threshold)",
                })
            })
        };
        let m = match mode {
            "clip" => RefineMode::Clip { eta: need()? },
            "delta" => RefineMode::Delta { keep_last },
            "clip_delta" => RefineMode::ClipDelta {
                eta: need()?,
                keep_last,
            },
            _ => {
                return Err(option_err(
                    "process refinement",
                    &["clip", "delta", "clip_delta"],
                ));
            }
        };
        Ok(Self {
            p: ProcessRefine::new(m).map_err(to_py)?,
            args: (mode.into(), eta, keep_last),
        })
    }

    /// The refined step rewards: one trajectory `(K)`, or flat steps with `counts` `(B)`.
    #[pyo3(signature = (steps, counts=None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        steps: &Arr<'py>,
        counts: Option<&Arr<'py>>,
    ) -> PyResult<Arr<'py>> {
        let s = view::<f64>(steps, "steps")?;
        let ss = data(&s, "steps")?;
        let c = counts
            .filter(|c| !c.is_none())
            .map(|c| usizes(c, "counts"))
            .transpose()?;
        let p = self.p;
        fill::<f64>(py, &[ss.len()], |o| match &c {
            Some(c) => p.apply_batch(o, ss, c),
            None => p.apply(o, ss),
        })
    }

    fn __getnewargs__(&self) -> (String, Option<f64>, bool) {
        self.args.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Robust and multi-objective rewards, PF-PPO
// ---------------------------------------------------------------------------------------------

/// An RM ensemble's reward per sample from `scores` `(B, K)`: `mode="mean"`, `"min"`,
/// `"mean_minus_std"` or `"mean_minus_var"` (with `lam`) (Coste et al. 2023).
#[pyfunction]
#[pyo3(signature = (scores, mode="mean", lam=0.0))]
fn ensemble<'py>(py: Python<'py>, scores: &Arr<'py>, mode: &str, lam: f64) -> PyResult<Arr<'py>> {
    let e = match mode {
        "mean" => Ensemble::Mean,
        "min" => Ensemble::Min,
        "mean_minus_std" => Ensemble::MeanMinusStd(lam),
        "mean_minus_var" => Ensemble::MeanMinusVar(lam),
        _ => {
            return Err(option_err(
                "ensemble",
                &["mean", "min", "mean_minus_std", "mean_minus_var"],
            ));
        }
    };
    let s = view::<f64>(scores, "scores")?;
    let (b, _) = rows_cols("scores", s.shape())?;
    let ss = data(&s, "scores")?;
    fill::<f64>(py, &[b], |o| e.aggregate(o, ss))
}

/// BRME (Yan et al. 2024): the nominal/min mix of `K` reward heads' means `mu` and standard
/// deviations `sigma`, `(B, K)` each, with weight `lam ∈ [0, 1]`.
#[pyfunction]
fn brme<'py>(py: Python<'py>, mu: &Arr<'py>, sigma: &Arr<'py>, lam: f64) -> PyResult<Arr<'py>> {
    let m = view::<f64>(mu, "mu")?;
    let (b, _) = rows_cols("mu", m.shape())?;
    let s = view::<f64>(sigma, "sigma")?;
    check_shape("sigma", s.shape(), m.shape())?;
    let (ms, ss) = (data(&m, "mu")?, data(&s, "sigma")?);
    fill::<f64>(py, &[b], |o| rw::brme(o, ms, ss, lam))
}

const NORMS: &[&str] = &["none", "batch", "group", "minmax"];

/// Multi-objective reward (Li et al. 2025): `Σ_m w_m·N_m(x_m)` over `scores` `(B, M)` with a
/// per-objective normalization (`none`, `batch`, `group` (needs `index`), `minmax`).
#[pyclass(name = "MultiObjective", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyMultiObjective {
    weights: Vec<f64>,
    norm: Normalization,
    eps: f64,
    name: String,
}

#[pymethods]
impl PyMultiObjective {
    #[new]
    #[pyo3(signature = (weights, norm="none", eps=1e-6))]
    fn new(weights: Vec<f64>, norm: &str, eps: f64) -> PyResult<Self> {
        let n = match norm {
            "none" => Normalization::None,
            "batch" => Normalization::Batch,
            "group" => Normalization::Group,
            "minmax" => Normalization::MinMax,
            _ => return Err(option_err("normalization", NORMS)),
        };
        MultiObjective::new(&weights, n, eps).map_err(to_py)?;
        Ok(Self {
            weights,
            norm: n,
            eps,
            name: norm.into(),
        })
    }

    /// The combined rewards `(B)`.
    #[pyo3(signature = (scores, index=None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        scores: &Arr<'py>,
        index: Option<&Arr<'py>>,
    ) -> PyResult<Arr<'py>> {
        let s = view::<f64>(scores, "scores")?;
        let (b, _) = rows_cols("scores", s.shape())?;
        let g = index
            .filter(|i| !i.is_none())
            .map(group_index)
            .transpose()?;
        let ss = data(&s, "scores")?;
        let mo = MultiObjective::new(&self.weights, self.norm, self.eps).map_err(to_py)?;
        fill::<f64>(py, &[b], |o| mo.combine(o, ss, g.as_ref()))
    }

    fn __getnewargs__(&self) -> (Vec<f64>, String, f64) {
        (self.weights.clone(), self.name.clone(), self.eps)
    }
}

fn filtration(mode: &str) -> PyResult<Filtration> {
    match mode {
        "best_of_n" => Ok(Filtration::BestOfN),
        "best_random" => Ok(Filtration::BestRandom),
        "best_worst" => Ok(Filtration::BestWorst),
        _ => Err(option_err(
            "PF-PPO filtration",
            &["best_of_n", "best_random", "best_worst"],
        )),
    }
}

/// PF-PPO's filtration (Zhang et al. 2024): which samples of each group of `index` to keep
/// (`mode="best_of_n"`, `"best_random"`, `"best_worst"`), a bool `(B)`; `best_random` draws from
/// `SplitMix64(seed)`.
#[pyfunction]
#[pyo3(signature = (rewards, index, mode="best_random", *, seed=0))]
fn filtration_select<'py>(
    py: Python<'py>,
    rewards: &Arr<'py>,
    index: &Arr<'py>,
    mode: &str,
    seed: u64,
) -> PyResult<Arr<'py>> {
    let f = filtration(mode)?;
    let r = view::<f64>(rewards, "rewards")?;
    let g = group_index(index)?;
    let rs = data(&r, "rewards")?;
    fill::<bool>(py, &[rs.len()], |k| {
        f.select(k, rs, &g, &mut SplitMix64::new(seed))
    })
}

/// PF-PPO's filtration as expected sample weights `(B)` (the replay-buffer form).
#[pyfunction]
#[pyo3(signature = (rewards, index, mode="best_random"))]
fn filtration_weights<'py>(
    py: Python<'py>,
    rewards: &Arr<'py>,
    index: &Arr<'py>,
    mode: &str,
) -> PyResult<Arr<'py>> {
    let f = filtration(mode)?;
    let r = view::<f64>(rewards, "rewards")?;
    let g = group_index(index)?;
    let rs = data(&r, "rewards")?;
    fill::<f64>(py, &[rs.len()], |o| f.weights(o, rs, &g))
}

/// PF-PPO's thresholded policy weights: `(weights (B, T), kept)` from `rewards` `(B)`, a
/// `threshold` and the `(B, T)` mask.
#[pyfunction]
fn policy_weights<'py>(
    py: Python<'py>,
    rewards: &Arr<'py>,
    threshold: f64,
    mask: &Arr<'py>,
) -> PyResult<(Arr<'py>, usize)> {
    let m = MaskBuf::new(mask, "mask")?;
    let (b, t) = m.bt("mask")?;
    let r = view::<f64>(rewards, "rewards")?;
    let rs = data(&r, "rewards")?;
    let mk = m.mask("mask")?;
    let mut kept = 0;
    let out = fill::<f64>(py, &[b, t], |o| {
        kept = rw::policy_weights(o, rs, threshold, mk)?;
        Ok(())
    })?;
    Ok((out, kept))
}

/// PF-PPO's reward-weighted sampling weights `|s|^pow` `(B)`.
#[pyfunction]
#[pyo3(signature = (scores, pow=1.0))]
fn reward_weights<'py>(py: Python<'py>, scores: &Arr<'py>, pow: f64) -> PyResult<Arr<'py>> {
    let s = view::<f64>(scores, "scores")?;
    let ss = data(&s, "scores")?;
    fill::<f64>(py, &[ss.len()], |o| rw::reward_weights(o, ss, pow))
}

/// `n` indices drawn with replacement in proportion to `weights` (from `SplitMix64(seed)`), an
/// int64 array `(n)`.
#[pyfunction]
#[pyo3(signature = (weights, n, *, seed=0))]
fn resample<'py>(py: Python<'py>, weights: &Arr<'py>, n: usize, seed: u64) -> PyResult<Arr<'py>> {
    let w = view::<f64>(weights, "weights")?;
    let ws = data(&w, "weights")?;
    let mut idx = vec![0usize; n];
    py.detach(|| rw::resample(&mut idx, ws, &mut SplitMix64::new(seed)))
        .map_err(to_py)?;
    let v: Vec<i64> = idx
        .into_iter()
        .map(|i| i64::try_from(i).unwrap_or(i64::MAX))
        .collect();
    Ok(numpy::PyArray1::from_vec(py, v).into_any())
}

/// The coefficient of determination of RM scores `rm` against ground truth `truth` `(B)`, over the
/// samples `keep` marks (all by default): how reliable the RM is where the policy trains.
#[pyfunction]
#[pyo3(signature = (rm, truth, keep=None))]
fn r_squared(rm: &Arr<'_>, truth: &Arr<'_>, keep: Option<&Arr<'_>>) -> PyResult<f64> {
    let (a, b) = (view::<f64>(rm, "rm")?, view::<f64>(truth, "truth")?);
    let k = keep.filter(|k| !k.is_none()).map(bools).transpose()?;
    rw::r_squared(data(&a, "rm")?, data(&b, "truth")?, k.as_deref()).map_err(to_py)
}

// ---------------------------------------------------------------------------------------------
// OREAL
// ---------------------------------------------------------------------------------------------

/// OREAL (Lyu et al. 2025): binary outcomes with reshaped negatives (`shaping="rloo"` or
/// `"grpo"` with `eps`), positive-sample filtering, and token importance weights.
#[pyclass(name = "Oreal", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyOreal {
    p: Oreal<f64>,
    args: (String, f64, f64, bool),
}

#[pymethods]
impl PyOreal {
    #[new]
    #[pyo3(signature = (shaping="rloo", eps=1e-6, negative_factor=0.5, negatives_only=false))]
    fn new(shaping: &str, eps: f64, negative_factor: f64, negatives_only: bool) -> PyResult<Self> {
        let s = match shaping {
            "rloo" => OrealShaping::Rloo,
            "grpo" => OrealShaping::Grpo { eps },
            _ => return Err(option_err("OREAL shaping", &["rloo", "grpo"])),
        };
        Ok(Self {
            p: Oreal::new(s, negative_factor, negatives_only).map_err(to_py)?,
            args: (shaping.into(), eps, negative_factor, negatives_only),
        })
    }

    /// The advantages `(B)` of binary outcomes `correct` in the groups of `index`.
    fn advantages<'py>(
        &self,
        py: Python<'py>,
        correct: &Arr<'py>,
        index: &Arr<'py>,
    ) -> PyResult<Arr<'py>> {
        let (c, g) = (bools(correct)?, group_index(index)?);
        let p = self.p;
        fill::<f64>(py, &[c.len()], |o| p.advantages(o, &c, &g))
    }

    /// Which samples to train on `(B)`: one positive sample per group drawn from
    /// `SplitMix64(seed)` (`all=False`, the paper), or every sample of groups with a positive
    /// (`all=True`).
    #[staticmethod]
    #[pyo3(signature = (correct, index, *, all=false, seed=0))]
    fn filter<'py>(
        py: Python<'py>,
        correct: &Arr<'py>,
        index: &Arr<'py>,
        all: bool,
        seed: u64,
    ) -> PyResult<Arr<'py>> {
        let (c, g) = (bools(correct)?, group_index(index)?);
        fill::<bool>(py, &[c.len()], |k| {
            if all {
                Oreal::<f64>::filter_all(k, &c, &g)
            } else {
                Oreal::<f64>::filter(k, &c, &g, &mut SplitMix64::new(seed))
            }
        })
    }

    /// Token importance weights `(w⁺, w⁻)`, `(B, T)` each, from the token-level RM's `logits`
    /// `(B, T)`: `rescale="threshold"` or `"topk"` with the `positive` and `negative` parameters.
    #[staticmethod]
    #[pyo3(signature = (logits, mask, rescale="threshold", positive=0.5, negative=0.5))]
    fn token_weights<'py>(
        py: Python<'py>,
        logits: &Arr<'py>,
        mask: &Arr<'py>,
        rescale: &str,
        positive: f64,
        negative: f64,
    ) -> PyResult<(Arr<'py>, Arr<'py>)> {
        let r = match rescale {
            "threshold" => OrealRescale::Threshold { positive, negative },
            "topk" => OrealRescale::TopK { positive, negative },
            _ => return Err(option_err("OREAL rescale", &["threshold", "topk"])),
        };
        let m = MaskBuf::new(mask, "mask")?;
        let (b, t) = m.bt("mask")?;
        let z = view::<f64>(logits, "logits")?;
        check_shape("logits", z.shape(), &[b, t])?;
        let zs = data(&z, "logits")?;
        let mk = m.mask("mask")?;
        let mut neg = vec![0.0; b * t];
        let mut scratch = vec![0.0f64; t];
        let pos = fill::<f64>(py, &[b, t], |p| {
            Oreal::token_weights_rescaled(p, &mut neg, &mut scratch, zs, mk, r)
        })?;
        let neg = numpy::PyArray1::from_vec(py, neg).reshape([b, t])?;
        Ok((pos, neg.into_any()))
    }

    fn __getnewargs__(&self) -> (String, f64, f64, bool) {
        self.args.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Dense rewards: Fine-Grained RLHF, CaRL, potential shaping
// ---------------------------------------------------------------------------------------------

/// Fine-Grained RLHF (Wu et al. 2023): segment-level rewards from several reward models placed on
/// segment ends. `models`: a list of `("binary", weight)` or `("normalized", weight, mean, std,
/// bias)`; `FineGrained.qa_feedback()` is the paper's QA-Feedback set.
#[pyclass(name = "FineGrained", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyFineGrained {
    models: Vec<RmSpec<f64>>,
    kl_coef: f64,
}

fn spec_list<'py>(py: Python<'py>, specs: &[RmSpec<f64>]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for s in specs {
        match *s {
            RmSpec::Binary { weight } => list.append(("binary", weight))?,
            RmSpec::Normalized {
                weight,
                mean,
                std,
                bias,
            } => list.append(("normalized", weight, mean, std, bias))?,
        }
    }
    Ok(list)
}

fn rm_spec(obj: &Bound<'_, PyAny>) -> PyResult<RmSpec<f64>> {
    let t = obj.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(
            "a model is a tuple (\"binary\", w) or (\"normalized\", w, mean, std, bias)",
        )
    })?;
    let kind: String = t.get_item(0)?.extract()?;
    match (kind.as_str(), t.len()) {
        ("binary", 2) => Ok(RmSpec::Binary {
            weight: t.get_item(1)?.extract()?,
        }),
        ("normalized", 5) => Ok(RmSpec::Normalized {
            weight: t.get_item(1)?.extract()?,
            mean: t.get_item(2)?.extract()?,
            std: t.get_item(3)?.extract()?,
            bias: t.get_item(4)?.extract()?,
        }),
        _ => Err(option_err("reward-model spec", &["binary", "normalized"])),
    }
}

#[pymethods]
impl PyFineGrained {
    #[new]
    #[pyo3(signature = (models, kl_coef=0.0))]
    fn new(models: &Bound<'_, PyList>, kl_coef: f64) -> PyResult<Self> {
        let specs = models
            .iter()
            .map(|m| rm_spec(&m))
            .collect::<PyResult<Vec<_>>>()?;
        FineGrained::new(&specs, kl_coef).map_err(to_py)?;
        Ok(Self {
            models: specs,
            kl_coef,
        })
    }

    /// The QA-Feedback reward models (relevance, factuality, completeness).
    #[staticmethod]
    #[pyo3(signature = (kl_coef=0.0))]
    fn qa_feedback(py: Python<'_>, kl_coef: f64) -> PyResult<Self> {
        let list = spec_list(py, &FineGrained::<f64>::qa_feedback_models())?;
        Self::new(&list, kl_coef)
    }

    /// Per-token rewards `(B, T)`: each segment `k` (`rows`, `ends` (the segment's last valid
    /// token, counted over valid tokens), `models`, `values`, `(S)` each) adds its model's reward
    /// at its end; with `logp`, `ref_logp` `(B, T)`, `−β·(logp − ref_logp)` on valid tokens.
    #[pyo3(signature = (mask, rows, ends, models, values, logp=None, ref_logp=None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        mask: &Arr<'py>,
        rows: &Arr<'py>,
        ends: &Arr<'py>,
        models: &Arr<'py>,
        values: &Arr<'py>,
        logp: Option<&Arr<'py>>,
        ref_logp: Option<&Arr<'py>>,
    ) -> PyResult<Arr<'py>> {
        let m = MaskBuf::new(mask, "mask")?;
        let (b, t) = m.bt("mask")?;
        let (r, e, k) = (
            usizes(rows, "rows")?,
            usizes(ends, "ends")?,
            usizes(models, "models")?,
        );
        let v = view::<f64>(values, "values")?;
        let vs = data(&v, "values")?;
        for (what, n) in [("ends", e.len()), ("models", k.len()), ("values", vs.len())] {
            if n != r.len() {
                return Err(to_py(Error::LengthMismatch {
                    what,
                    expected: r.len(),
                    got: n,
                }));
            }
        }
        let segs: Vec<SegmentScore<f64>> = r
            .iter()
            .zip(&e)
            .zip(&k)
            .zip(vs)
            .map(|(((&row, &end), &model), &value)| SegmentScore {
                row,
                end,
                model,
                value,
            })
            .collect();
        let lp = match (logp, ref_logp) {
            (Some(a), Some(c)) if !a.is_none() && !c.is_none() => {
                Some((view::<f64>(a, "logp")?, view::<f64>(c, "ref_logp")?))
            }
            _ => None,
        };
        let kl = match &lp {
            Some((a, c)) => {
                check_shape("logp", a.shape(), &[b, t])?;
                check_shape("ref_logp", c.shape(), &[b, t])?;
                Some((data(a, "logp")?, data(c, "ref_logp")?))
            }
            None => None,
        };
        let fg = FineGrained::new(&self.models, self.kl_coef).map_err(to_py)?;
        let mk = m.mask("mask")?;
        fill::<f64>(py, &[b, t], |o| fg.rewards(o, mk, &segs, kl))
    }

    fn __getnewargs__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, f64)> {
        Ok((spec_list(py, &self.models)?, self.kl_coef))
    }
}

/// CaRL (Jaeger et al. 2025): route progress `progress` `(B)` times soft-penalty `factors`
/// `(B, K)` (each in `[0, 1]`), with a terminal reward or penalty for `terminated` `(B)`
/// (`variant="carla"` or `"nuplan"`).
#[pyclass(name = "Carl", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyCarl {
    p: rw::Carl<f64>,
    args: (String, f64, f64, f64, f64),
}

#[pymethods]
impl PyCarl {
    #[new]
    #[pyo3(signature = (variant="carla", terminal_reward=0.0, terminal_hint=1.0, scale=100.0,
        terminal_penalty=0.0))]
    fn new(
        variant: &str,
        terminal_reward: f64,
        terminal_hint: f64,
        scale: f64,
        terminal_penalty: f64,
    ) -> PyResult<Self> {
        let v = match variant {
            "carla" => CarlVariant::Carla,
            "nuplan" => CarlVariant::NuPlan,
            _ => return Err(option_err("CaRL variant", &["carla", "nuplan"])),
        };
        Ok(Self {
            p: rw::Carl::new(v, terminal_reward, terminal_hint, scale, terminal_penalty)
                .map_err(to_py)?,
            args: (
                variant.into(),
                terminal_reward,
                terminal_hint,
                scale,
                terminal_penalty,
            ),
        })
    }

    /// The rewards `(B)`.
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        progress: &Arr<'py>,
        factors: &Arr<'py>,
        terminated: &Arr<'py>,
    ) -> PyResult<Arr<'py>> {
        let p = view::<f64>(progress, "progress")?;
        let f = view::<f64>(factors, "factors")?;
        let t = bools(terminated)?;
        let (ps, fs) = (data(&p, "progress")?, data(&f, "factors")?);
        let c = self.p;
        fill::<f64>(py, &[ps.len()], |o| c.rewards(o, ps, fs, &t))
    }

    /// CaRL's speed factor: `1` up to `limit`, then linear down to 0 over 2.23 m/s.
    #[staticmethod]
    fn speed_factor(speed: f64, limit: f64) -> f64 {
        rw::Carl::speed_factor(speed, limit)
    }

    /// CaRL's lane-centering factor.
    #[staticmethod]
    fn lane_factor(distance: f64, lane_width: f64, softener: f64) -> f64 {
        rw::Carl::lane_factor(distance, lane_width, softener)
    }

    fn __getnewargs__(&self) -> (String, f64, f64, f64, f64) {
        self.args.clone()
    }
}

/// Potential-based shaping (Ng, Harada & Russell 1999): `r_t + γ·Φ(s_{t+1}) − Φ(s_t)` for
/// `rewards` `(T)` and `potentials` `(T + 1)`; `terminal="zero"` takes `Φ = 0` after the last step.
#[pyfunction]
#[pyo3(signature = (rewards, potentials, gamma, terminal="keep"))]
fn potential_shaping<'py>(
    py: Python<'py>,
    rewards: &Arr<'py>,
    potentials: &Arr<'py>,
    gamma: f64,
    terminal: &str,
) -> PyResult<Arr<'py>> {
    let tp = match terminal {
        "keep" => TerminalPotential::Keep,
        "zero" => TerminalPotential::Zero,
        _ => return Err(option_err("terminal potential", &["keep", "zero"])),
    };
    let r = view::<f64>(rewards, "rewards")?;
    let p = view::<f64>(potentials, "potentials")?;
    let (rs, ps) = (data(&r, "rewards")?, data(&p, "potentials")?);
    fill::<f64>(py, &[rs.len()], |o| {
        rw::potential_shaping(o, rs, ps, gamma, tp)
    })
}
