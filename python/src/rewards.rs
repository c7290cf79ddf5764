//! The reward catalogue as Python objects: each term is a callable class whose keyword arguments
//! are the per-sample inputs of a `reward::Batch`; stateful terms (HAPO, LASER-D) keep their state
//! on the object and pickle it (`__getstate__`/`__setstate__`), so a restored object resumes with
//! the same outputs. Rewards are computed in `f64` (they are Python floats in TRL and verl).

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use rewardkit_core::layout::label_hash;
use rewardkit_core::reward::{
    Batch, Correctness, CosineLength, Format, HapoHistory, HapoShape, HapoTerm, HistoryEntry,
    HistoryMode, KimiLength, Laser, LaserD, LaserDState, LaserDTerm, LaserMode, Overlong, Pipeline,
    RepeatMarking, RepetitionPenalty, RewardTerm, TargetLen, Thresholds, Weighted,
};
use rewardkit_core::{Error, GroupIndex};

use crate::arrays::{data_mut, group_index, np, write, zeros};
use crate::errors::{option_err, to_py};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCorrectness>()?;
    m.add_class::<PyFormat>()?;
    m.add_class::<PyCosineLength>()?;
    m.add_class::<PyLaser>()?;
    m.add_class::<PyOverlong>()?;
    m.add_class::<PyRepetitionPenalty>()?;
    m.add_class::<PyKimiLength>()?;
    m.add_class::<PyHapo>()?;
    m.add_class::<PyLaserD>()?;
    m.add_class::<PyPipeline>()?;
    m.add_function(wrap_pyfunction!(label_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(format_flags, m)?)?;
    catalogue::register(m)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Batch inputs
// ---------------------------------------------------------------------------------------------

/// Per-sample inputs read from Python (owned where Python's layout differs from the core's).
#[derive(Debug, Default)]
pub(crate) struct Inputs<'py> {
    correct: Option<Vec<bool>>,
    well_formed: Option<Vec<bool>>,
    lengths: Option<Vec<u32>>,
    scores: Option<Vec<f64>>,
    texts: Option<Vec<Bound<'py, PyString>>>,
    tokens: Option<Vec<Vec<u32>>>,
    keys: Option<Vec<u64>>,
    groups: Option<GroupIndex<'static>>,
    /// Reference scores `(B, M)`, row-major (PAR).
    refs: Option<Vec<f64>>,
}

pub(crate) fn bools(obj: &Bound<'_, PyAny>) -> PyResult<Vec<bool>> {
    let a = np(obj.py())?.call_method1("asarray", (obj,))?;
    let b = np(obj.py())?.call_method1("not_equal", (a, 0))?;
    b.call_method0("tolist")?.extract()
}

pub(crate) fn u32s(obj: &Bound<'_, PyAny>, name: &'static str) -> PyResult<Vec<u32>> {
    let a = np(obj.py())?.call_method1("asarray", (obj,))?;
    let v: Vec<i64> = a.call_method0("tolist")?.extract()?;
    v.into_iter()
        .map(|x| {
            u32::try_from(x).map_err(|_| {
                to_py(Error::InvalidParam {
                    name,
                    value: x as f64,
                    expected: "token counts in [0, 2^32)",
                })
            })
        })
        .collect()
}

/// Prompt keys: integers as given (two's complement for negatives), strings hashed with the
/// core's `label_hash` (stable across runs and machines).
pub(crate) fn keys_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        np(obj.py())?
            .call_method1("asarray", (obj,))?
            .call_method0("tolist")?
            .cast_into::<PyList>()?
            .iter()
            .collect()
    };
    items
        .iter()
        .map(|it| {
            if let Ok(s) = it.cast::<PyString>() {
                Ok(label_hash(s.to_str()?))
            } else if let Ok(i) = it.extract::<i64>() {
                Ok(i as u64)
            } else if let Ok(u) = it.extract::<u64>() {
                Ok(u)
            } else {
                Err(PyTypeError::new_err("`keys` must hold strings or integers"))
            }
        })
        .collect()
}

pub(crate) fn texts_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyString>>> {
    let list: Vec<Bound<'py, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
    list.into_iter()
        .map(|t| {
            t.cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err("`texts` must hold strings"))
        })
        .collect()
}

fn tokens_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<u32>>> {
    obj.try_iter()?.map(|row| u32s(&row?, "tokens")).collect()
}

impl<'py> Inputs<'py> {
    pub(crate) fn read(
        correct: Option<&Bound<'py, PyAny>>,
        well_formed: Option<&Bound<'py, PyAny>>,
        lengths: Option<&Bound<'py, PyAny>>,
        scores: Option<&Bound<'py, PyAny>>,
        texts: Option<&Bound<'py, PyAny>>,
        tokens: Option<&Bound<'py, PyAny>>,
        keys: Option<&Bound<'py, PyAny>>,
        index: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let some = |o: Option<&Bound<'py, PyAny>>| o.filter(|x| !x.is_none()).cloned();
        Ok(Self {
            correct: some(correct).map(|o| bools(&o)).transpose()?,
            well_formed: some(well_formed).map(|o| bools(&o)).transpose()?,
            lengths: some(lengths).map(|o| u32s(&o, "lengths")).transpose()?,
            scores: some(scores)
                .map(|o| {
                    np(o.py())?
                        .call_method1("asarray", (o, "float64"))?
                        .call_method0("tolist")?
                        .extract()
                })
                .transpose()?,
            texts: some(texts).map(|o| texts_of(&o)).transpose()?,
            tokens: some(tokens).map(|o| tokens_of(&o)).transpose()?,
            keys: some(keys).map(|o| keys_of(&o)).transpose()?,
            groups: some(index).map(|o| group_index(&o)).transpose()?,
            refs: None,
        })
    }

    /// Adds PAR's reference scores `(B, M)` (float64, row-major).
    pub(crate) fn with_refs(mut self, refs: Option<&Bound<'py, PyAny>>) -> PyResult<Self> {
        if let Some(r) = refs.filter(|r| !r.is_none()) {
            let a = np(r.py())?.call_method1("asarray", (r, "float64"))?;
            let shape: Vec<usize> = a.getattr("shape")?.extract()?;
            let n = self.len();
            if shape.len() != 2 || (n != 0 && shape.first() != Some(&n)) {
                return Err(crate::errors::shape_err(
                    "refs",
                    format!(
                        "`refs` must be (B, M) with B = {n}, got shape {}",
                        crate::arrays::fmt_shape(&shape)
                    ),
                ));
            }
            self.refs = Some(
                a.call_method1("reshape", (-1,))?
                    .call_method0("tolist")?
                    .extract()?,
            );
        }
        Ok(self)
    }

    pub(crate) fn len(&self) -> usize {
        [
            self.correct.as_ref().map(Vec::len),
            self.well_formed.as_ref().map(Vec::len),
            self.lengths.as_ref().map(Vec::len),
            self.scores.as_ref().map(Vec::len),
            self.texts.as_ref().map(Vec::len),
            self.tokens.as_ref().map(Vec::len),
            self.keys.as_ref().map(Vec::len),
            self.groups.as_ref().map(GroupIndex::n_rows),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or(0)
    }
}

/// Borrowed views of [`Inputs`] that a `Batch` can point into.
struct Views<'a> {
    texts: Option<Vec<&'a str>>,
    tokens: Option<Vec<&'a [u32]>>,
}

fn views<'a>(x: &'a Inputs<'_>) -> PyResult<Views<'a>> {
    Ok(Views {
        texts: x
            .texts
            .as_ref()
            .map(|t| {
                t.iter()
                    .map(|s| s.to_str())
                    .collect::<PyResult<Vec<&str>>>()
            })
            .transpose()?,
        tokens: x
            .tokens
            .as_ref()
            .map(|t| t.iter().map(Vec::as_slice).collect()),
    })
}

fn batch<'a>(x: &'a Inputs<'_>, v: &'a Views<'a>) -> rewardkit_core::Result<Batch<'a, f64>> {
    let mut b = Batch::new(x.len())?;
    if let Some(c) = &x.correct {
        b = b.with_correct(c)?;
    }
    if let Some(c) = &x.well_formed {
        b = b.with_well_formed(c)?;
    }
    if let Some(c) = &x.lengths {
        b = b.with_lengths(c)?;
    }
    if let Some(c) = &x.scores {
        b = b.with_scores(c)?;
    }
    if let Some(c) = &v.texts {
        b = b.with_texts(c)?;
    }
    if let Some(c) = &v.tokens {
        b = b.with_tokens(c)?;
    }
    if let Some(c) = &x.keys {
        b = b.with_keys(c)?;
    }
    if let Some(g) = &x.groups {
        b = b.with_groups(g)?;
    }
    if let Some(r) = &x.refs {
        b = b.with_refs(r)?;
    }
    Ok(b)
}

/// A core term built from a Python object (borrowing the object's state).
pub(crate) enum Term<'a> {
    Correct(Correctness<f64>),
    Format(Format<'a>),
    Cosine(CosineLength<f64>),
    Laser(Laser<f64>),
    Overlong(Overlong<f64>),
    Repetition(RepetitionPenalty<f64>),
    Kimi(KimiLength<f64>),
    Hapo(HapoTerm<'a, f64>),
    LaserD(LaserDTerm<'a, f64>),
    ThinkPrune(rewardkit_core::reward::ThinkPruneTerm<'a, f64>),
    /// Any other core term (the catalogue's classes).
    Dyn(&'a (dyn RewardTerm<f64> + Sync)),
}

impl Term<'_> {
    fn dyn_ref(&self) -> &(dyn RewardTerm<f64> + Sync) {
        match self {
            Self::Correct(t) => t,
            Self::Format(t) => t,
            Self::Cosine(t) => t,
            Self::Laser(t) => t,
            Self::Overlong(t) => t,
            Self::Repetition(t) => t,
            Self::Kimi(t) => t,
            Self::Hapo(t) => t,
            Self::LaserD(t) => t,
            Self::ThinkPrune(t) => t,
            Self::Dyn(t) => *t,
        }
    }
}

/// One reward per sample of `term` on the keyword inputs, as a float64 array `(B)`.
pub(crate) fn score<'py>(
    py: Python<'py>,
    term: &Term<'_>,
    x: &Inputs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let v = views(x)?;
    let b = batch(x, &v).map_err(to_py)?;
    let out = zeros::<f64>(py, &[x.len()]);
    {
        let mut w = write(&out)?;
        let o = data_mut(&mut w)?;
        let t = term.dyn_ref();
        py.detach(|| t.score(o, &b)).map_err(to_py)?;
    }
    Ok(out.into_any())
}

/// `#[pymethods]` of a term class: the given items plus `__call__` and `name`.
macro_rules! term_methods {
    ($ty:ident { $($items:tt)* }) => {
        #[pymethods]
        impl $ty {
            $($items)*

        /// Rewards `(B)` (float64) of a batch given by keyword: `correct`, `well_formed` (bool
        /// `(B)`), `lengths` (token counts `(B)`), `scores` (`(B)`), `texts` (list of str),
        /// `tokens` (list of token-id sequences), `keys` (prompt keys: ints or strings), `index`
        /// (group labels), `refs` (reference scores `(B, M)`, PAR). Each term reads what it needs
        /// and raises `MissingInputError` otherwise.
        #[pyo3(signature = (*, correct=None, well_formed=None, lengths=None, scores=None, texts=None,
            tokens=None, keys=None, index=None, refs=None))]
        fn __call__<'py>(
            &self,
            py: Python<'py>,
            correct: Option<&Bound<'py, PyAny>>,
            well_formed: Option<&Bound<'py, PyAny>>,
            lengths: Option<&Bound<'py, PyAny>>,
            scores: Option<&Bound<'py, PyAny>>,
            texts: Option<&Bound<'py, PyAny>>,
            tokens: Option<&Bound<'py, PyAny>>,
            keys: Option<&Bound<'py, PyAny>>,
            index: Option<&Bound<'py, PyAny>>,
            refs: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            let x = Inputs::read(correct, well_formed, lengths, scores, texts, tokens, keys, index)?
                .with_refs(refs)?;
            score(py, &self.term(), &x)
        }

        /// The term's name (`"correctness"`, `"hapo"`, ...).
        #[getter]
        fn name(&self) -> &'static str {
            self.term().dyn_ref().name()
        }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Stateless terms
// ---------------------------------------------------------------------------------------------

/// Binary correctness (`correct`, with `malformed` for responses flagged `well_formed=False`).
#[pyclass(name = "Correctness", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyCorrectness {
    p: Correctness<f64>,
    args: (f64, f64, f64),
}

impl PyCorrectness {
    fn term(&self) -> Term<'_> {
        Term::Correct(self.p)
    }
}

term_methods!(PyCorrectness {
    #[new]
    #[pyo3(signature = (correct=1.0, wrong=0.0, malformed=0.0))]
    fn new(correct: f64, wrong: f64, malformed: f64) -> PyResult<Self> {
        Ok(Self {
            p: Correctness::new(correct, wrong, malformed).map_err(to_py)?,
            args: (correct, wrong, malformed),
        })
    }
    fn __getnewargs__(&self) -> (f64, f64, f64) {
        self.args
    }
});

/// The format-only surrogate reward `0.5·(think block + answer)` (Xin et al. 2025) on `texts`.
#[pyclass(name = "Format", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyFormat {
    open: String,
    close: String,
}

impl PyFormat {
    fn term(&self) -> Term<'_> {
        Term::Format(Format {
            open: &self.open,
            close: &self.close,
        })
    }
}

term_methods!(PyFormat {
    #[new]
    #[pyo3(signature = (open="<think>", close="</think>"))]
    fn new(open: &str, close: &str) -> Self {
        Self {
            open: open.into(),
            close: close.into(),
        }
    }
    fn __getnewargs__(&self) -> (String, String) {
        (self.open.clone(), self.close.clone())
    }
});

/// Cosine length scaling (Yeo et al. 2025): short correct answers, long wrong answers (`lengths`,
/// `correct`).
#[pyclass(name = "CosineLength", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyCosineLength {
    p: CosineLength<f64>,
    args: (u32, (f64, f64), (f64, f64), f64, u32),
}

impl PyCosineLength {
    fn term(&self) -> Term<'_> {
        Term::Cosine(self.p)
    }
}

term_methods!(PyCosineLength {
    #[new]
    #[pyo3(signature = (max_len=14336, correct=(2.0, 1.0), wrong=(-10.0, 0.0), exceed=-10.0, margin=16))]
    fn new(max_len: u32, correct: (f64, f64), wrong: (f64, f64), exceed: f64, margin: u32) -> PyResult<Self> {
        Ok(Self {
            p: CosineLength::new(max_len, correct, wrong, exceed)
                .map_err(to_py)?
                .with_margin(margin),
            args: (max_len, correct, wrong, exceed, margin),
        })
    }
    fn __getnewargs__(&self) -> (u32, (f64, f64), (f64, f64), f64, u32) {
        self.args
    }
});

const LASER_MODES: &[&str] = &["reward", "penalty", "hybrid"];

fn laser_mode(s: &str) -> PyResult<LaserMode> {
    match s {
        "reward" => Ok(LaserMode::Reward),
        "penalty" => Ok(LaserMode::Penalty),
        "hybrid" => Ok(LaserMode::Hybrid),
        _ => Err(option_err("LASER mode", LASER_MODES)),
    }
}

/// LASER (Liu et al. 2025): `+α` for correct answers within `target` tokens (`lengths`,
/// `correct`; modes `reward`, `penalty`, `hybrid`).
#[pyclass(name = "Laser", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyLaser {
    p: Laser<f64>,
    args: (f64, u32, String),
}

impl PyLaser {
    fn term(&self) -> Term<'_> {
        Term::Laser(self.p)
    }
}

term_methods!(PyLaser {
    #[new]
    #[pyo3(signature = (alpha=0.5, target=4096, mode="reward"))]
    fn new(alpha: f64, target: u32, mode: &str) -> PyResult<Self> {
        Ok(Self {
            p: Laser::new(alpha, target, laser_mode(mode)?).map_err(to_py)?,
            args: (alpha, target, mode.into()),
        })
    }
    fn __getnewargs__(&self) -> (f64, u32, String) {
        self.args.clone()
    }
});

/// DAPO's overlong penalty (Yu et al. 2025): `lengths` in the last `buffer` tokens before
/// `max_len` are penalized linearly (times `factor`).
#[pyclass(name = "Overlong", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyOverlong {
    p: Overlong<f64>,
    args: (u32, u32, f64),
}

impl PyOverlong {
    fn term(&self) -> Term<'_> {
        Term::Overlong(self.p)
    }
}

term_methods!(PyOverlong {
    #[new]
    #[pyo3(signature = (max_len=20480, buffer=4096, factor=1.0))]
    fn new(max_len: u32, buffer: u32, factor: f64) -> PyResult<Self> {
        Ok(Self {
            p: Overlong::new(max_len, buffer, factor).map_err(to_py)?,
            args: (max_len, buffer, factor),
        })
    }
    fn __getnewargs__(&self) -> (u32, u32, f64) {
        self.args
    }
});

const MARKINGS: &[&str] = &["all", "non_overlapping", "spaced"];

/// The n-gram repetition penalty on `tokens` (Yeo et al. 2025; HAPO): `penalty · (repeated
/// tokens)/(tokens)` per sequence.
#[pyclass(
    name = "RepetitionPenalty",
    module = "rewardkit",
    frozen,
    from_py_object
)]
#[derive(Clone, Debug)]
pub struct PyRepetitionPenalty {
    p: RepetitionPenalty<f64>,
    args: (usize, f64, String),
}

impl PyRepetitionPenalty {
    fn term(&self) -> Term<'_> {
        Term::Repetition(self.p)
    }
}

term_methods!(PyRepetitionPenalty {
    #[new]
    #[pyo3(signature = (ngram=20, penalty=-5.0, marking="all"))]
    fn new(ngram: usize, penalty: f64, marking: &str) -> PyResult<Self> {
        let m = match marking {
            "all" => RepeatMarking::All,
            "non_overlapping" => RepeatMarking::NonOverlapping,
            "spaced" => RepeatMarking::Spaced,
            _ => return Err(option_err("repeat marking", MARKINGS)),
        };
        Ok(Self {
            p: RepetitionPenalty::new(ngram, penalty, m).map_err(to_py)?,
            args: (ngram, penalty, marking.into()),
        })
    }
    fn __getnewargs__(&self) -> (usize, f64, String) {
        self.args.clone()
    }
});

/// Kimi's length penalty (Kimi Team 2025): answers shorter than their group's length mid-range
/// (`lengths`, `correct`, `index`).
#[pyclass(name = "KimiLength", module = "rewardkit", frozen, from_py_object)]
#[derive(Clone, Debug)]
pub struct PyKimiLength {
    p: KimiLength<f64>,
    args: (f64, f64),
}

impl PyKimiLength {
    fn term(&self) -> Term<'_> {
        Term::Kimi(self.p)
    }
}

term_methods!(PyKimiLength {
    #[new]
    #[pyo3(signature = (coef=1.0, eps=1e-8))]
    fn new(coef: f64, eps: f64) -> PyResult<Self> {
        Ok(Self {
            p: KimiLength::new(coef, eps).map_err(to_py)?,
            args: (coef, eps),
        })
    }
    fn __getnewargs__(&self) -> (f64, f64) {
        self.args
    }
});

// ---------------------------------------------------------------------------------------------
// Stateful terms
// ---------------------------------------------------------------------------------------------

const HAPO_SHAPES: &[&str] = &["cosine", "linear"];
const HISTORY_MODES: &[&str] = &["min", "mean", "exact_mean"];

fn history_mode(s: &str) -> PyResult<HistoryMode> {
    match s {
        "min" => Ok(HistoryMode::Min),
        "mean" => Ok(HistoryMode::Mean),
        "exact_mean" => Ok(HistoryMode::ExactMean),
        _ => Err(option_err("HAPO history mode", HISTORY_MODES)),
    }
}

type HapoArgs = (f64, String, Option<f64>, Option<f64>, String);
type EntryTuple = (u64, u32, u64, u64, u64, u64);

/// HAPO (Huang et al. 2025): rewards correct answers shorter than the history of their prompt
/// (`keys`, `lengths`, `correct`). The history lives on the object: `update(...)` after each
/// batch (or `__call__(..., update=True)`), `merge(other)` across workers; it pickles.
#[pyclass(name = "Hapo", module = "rewardkit", from_py_object)]
#[derive(Clone, Debug)]
pub struct PyHapo {
    p: rewardkit_core::reward::Hapo<f64>,
    history: HapoHistory,
    args: HapoArgs,
}

impl PyHapo {
    fn term(&self) -> Term<'_> {
        Term::Hapo(HapoTerm {
            params: self.p,
            history: &self.history,
        })
    }
}

#[pymethods]
impl PyHapo {
    #[new]
    #[pyo3(signature = (weight=1.0, shape="cosine", floor=None, tolerance=None, mode="min"))]
    fn new(
        weight: f64,
        shape: &str,
        floor: Option<f64>,
        tolerance: Option<f64>,
        mode: &str,
    ) -> PyResult<Self> {
        let sh = match shape {
            "cosine" => HapoShape::Cosine,
            "linear" => HapoShape::Linear,
            _ => return Err(option_err("HAPO shape", HAPO_SHAPES)),
        };
        let mut p = rewardkit_core::reward::Hapo::new(weight, sh).map_err(to_py)?;
        if let Some(f) = floor {
            p = p.with_floor(f).map_err(to_py)?;
        }
        if let Some(t) = tolerance {
            p = p.with_tolerance(t).map_err(to_py)?;
        }
        Ok(Self {
            p,
            history: HapoHistory::new(history_mode(mode)?),
            args: (weight, shape.into(), floor, tolerance, mode.into()),
        })
    }

    /// Rewards `(B)` under the current history; with `update=True` the history then takes in
    /// the batch (`keys`, `lengths`, `correct`), as HAPO's trainer does after scoring.
    #[pyo3(signature = (*, keys=None, lengths=None, correct=None, update=false))]
    fn __call__<'py>(
        &mut self,
        py: Python<'py>,
        keys: Option<&Bound<'py, PyAny>>,
        lengths: Option<&Bound<'py, PyAny>>,
        correct: Option<&Bound<'py, PyAny>>,
        update: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = Inputs::read(correct, None, lengths, None, None, None, keys, None)?;
        let out = score(py, &self.term(), &x)?;
        if update {
            self.history
                .update(
                    x.keys.as_deref().unwrap_or(&[]),
                    x.lengths.as_deref().unwrap_or(&[]),
                    x.correct.as_deref().unwrap_or(&[]),
                )
                .map_err(to_py)?;
        }
        Ok(out)
    }

    /// Takes a batch into the history.
    fn update(
        &mut self,
        keys: &Bound<'_, PyAny>,
        lengths: &Bound<'_, PyAny>,
        correct: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (k, l, c) = (keys_of(keys)?, u32s(lengths, "lengths")?, bools(correct)?);
        self.history.update(&k, &l, &c).map_err(to_py)
    }

    /// Merges another worker's history (minimum; count-weighted means), as HAPO's gathered view.
    fn merge(&mut self, other: &Self) {
        self.history.merge(&other.history);
    }

    /// The history length of a prompt key (int or str), or `None`.
    fn history(&self, key: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
        let k = keys_of(&PyList::new(key.py(), [key])?.into_any())?;
        Ok(k.first().and_then(|k| self.history.get(*k)))
    }

    fn __len__(&self) -> usize {
        self.history.len()
    }

    #[getter]
    fn name(&self) -> &'static str {
        "hapo"
    }

    fn __getnewargs__(&self) -> HapoArgs {
        self.args.clone()
    }

    fn __getstate__(&self) -> Vec<EntryTuple> {
        self.history
            .iter()
            .map(|(k, e)| (k, e.min, e.sum, e.count, e.mean_weighted, e.mean_count))
            .collect()
    }

    fn __setstate__(&mut self, state: Vec<EntryTuple>) {
        self.history = HapoHistory::from_entries(
            self.history.mode(),
            state.into_iter().map(|(k, min, sum, count, mw, mc)| {
                (
                    k,
                    HistoryEntry {
                        min,
                        sum,
                        count,
                        mean_weighted: mw,
                        mean_count: mc,
                    },
                )
            }),
        );
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.p == other.p && self.history == other.history
    }
}

type LaserDArgs = (f64, String, (u32, u32, u32), u32, u32);
type TargetTuple = (bool, Option<u32>);

/// LASER-D (Liu et al. 2025): LASER with difficulty-aware targets (`lengths`, `correct`,
/// `index`, `well_formed` optional), adapted from monitor rollouts by `update(lengths, correct,
/// index)`; `explore=True` is LASER-DE (needs `tokens`). The targets live on the object and
/// pickle.
#[pyclass(name = "LaserD", module = "rewardkit", from_py_object)]
#[derive(Clone, Debug)]
pub struct PyLaserD {
    p: LaserD<f64>,
    state: LaserDState,
    explore: bool,
    args: LaserDArgs,
}

impl PyLaserD {
    fn term(&self) -> Term<'_> {
        Term::LaserD(LaserDTerm {
            params: self.p,
            state: &self.state,
            explore: self.explore,
        })
    }
}

term_methods!(PyLaserD {
    #[new]
    #[pyo3(signature = (alpha=0.5, mode="reward", thresholds=(2048, 16384, 1024), group_size=8, default_target=8192, *, explore=false))]
    fn new(alpha: f64, mode: &str, thresholds: (u32, u32, u32), group_size: u32, default_target: u32, explore: bool) -> PyResult<Self> {
        let th = Thresholds::new(thresholds.0, thresholds.1, thresholds.2).map_err(to_py)?;
        let p = LaserD::new(alpha, laser_mode(mode)?)
            .map_err(to_py)?
            .with_thresholds(th)
            .map_err(to_py)?
            .with_group_size(group_size)
            .map_err(to_py)?;
        Ok(Self {
            p,
            state: LaserDState::new(default_target),
            explore,
            args: (alpha, mode.into(), thresholds, group_size, default_target),
        })
    }

    /// Recomputes the difficulty bands' targets from monitor rollouts (`index`: the monitor
    /// prompt of each rollout).
    fn update(&mut self, lengths: &Bound<'_, PyAny>, correct: &Bound<'_, PyAny>, index: &Bound<'_, PyAny>) -> PyResult<()> {
        let (l, c, g) = (u32s(lengths, "lengths")?, bools(correct)?, group_index(index)?);
        self.state.update(&self.p, &l, &c, &g).map_err(to_py)
    }

    /// The targets `[low, medium, high]`: an int (a configured or monitored target) or `None`
    /// (no monitored threshold qualified: the batch's longest response).
    fn targets(&self) -> Vec<Option<u32>> {
        self.state
            .targets()
            .iter()
            .map(|t| match t {
                TargetLen::Fixed(x) => Some(*x),
                TargetLen::Monitored(x) => *x,
            })
            .collect()
    }


    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<(LaserDArgs, Bound<'py, PyAny>)> {
        let kw = pyo3::types::PyDict::new(py);
        kw.set_item("explore", self.explore)?;
        Ok((self.args.clone(), kw.into_any()))
    }

    fn __getstate__(&self) -> Vec<TargetTuple> {
        self.state
            .targets()
            .iter()
            .map(|t| match t {
                TargetLen::Fixed(x) => (true, Some(*x)),
                TargetLen::Monitored(x) => (false, *x),
            })
            .collect()
    }

    fn __setstate__(&mut self, state: Vec<TargetTuple>) -> PyResult<()> {
        let t: Vec<TargetLen> = state
            .into_iter()
            .map(|(fixed, x)| match (fixed, x) {
                (true, Some(x)) => TargetLen::Fixed(x),
                (_, x) => TargetLen::Monitored(x),
            })
            .collect();
        let arr: [TargetLen; 3] = t
            .try_into()
            .map_err(|_| PyTypeError::new_err("LaserD state must hold 3 targets"))?;
        self.state = LaserDState::from_targets(arr);
        Ok(())
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.p == other.p && self.state == other.state && self.explore == other.explore
    }
});

// ---------------------------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------------------------

/// A Python class that is a reward term.
pub(crate) trait TermClass {
    /// The core term, borrowing the object's parameters and state.
    fn as_term(&self) -> Term<'_>;
}

impl<T: TermClass + pyo3::PyClass> TermClass for PyRef<'_, T> {
    fn as_term(&self) -> Term<'_> {
        T::as_term(self)
    }
}

macro_rules! term_class {
    ($($t:ty),* $(,)?) => {
        $(impl TermClass for $t {
            fn as_term(&self) -> Term<'_> {
                self.term()
            }
        })*
    };
}
term_class!(
    PyCorrectness,
    PyFormat,
    PyCosineLength,
    PyLaser,
    PyOverlong,
    PyRepetitionPenalty,
    PyKimiLength,
    PyHapo,
    PyLaserD,
);

/// A borrowed Python term.
struct Guard<'py>(Box<dyn TermClass + 'py>);

impl<'py> Guard<'py> {
    fn of(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        macro_rules! try_cast {
            ($($t:ty),*) => {
                $(if let Ok(x) = obj.cast::<$t>() {
                    return Ok(Self(Box::new(x.try_borrow()?)));
                })*
            };
        }
        try_cast!(
            PyCorrectness,
            PyFormat,
            PyCosineLength,
            PyLaser,
            PyOverlong,
            PyRepetitionPenalty,
            PyKimiLength,
            PyHapo,
            PyLaserD
        );
        if let Some(g) = catalogue::guard(obj)? {
            return Ok(Self(g));
        }
        Err(PyTypeError::new_err(
            "a Pipeline term must be one of rewardkit's reward classes",
        ))
    }

    fn term(&self) -> Term<'_> {
        self.0.as_term()
    }
}

/// A weighted sum of reward terms: `Pipeline([(term, weight), ...])`; calling it returns
/// `(total (B), parts (K, B))` with every term's unweighted value.
#[pyclass(name = "Pipeline", module = "rewardkit", frozen)]
#[derive(Debug)]
pub struct PyPipeline {
    terms: Vec<(Py<PyAny>, f64)>,
}

#[pymethods]
impl PyPipeline {
    #[new]
    fn new(terms: Vec<(Bound<'_, PyAny>, f64)>) -> PyResult<Self> {
        for (t, _) in &terms {
            drop(Guard::of(t)?);
        }
        Ok(Self {
            terms: terms.into_iter().map(|(t, w)| (t.unbind(), w)).collect(),
        })
    }

    /// `(total, parts)` for the keyword inputs (as each term's `__call__`).
    #[pyo3(signature = (*, correct=None, well_formed=None, lengths=None, scores=None, texts=None,
        tokens=None, keys=None, index=None, refs=None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        correct: Option<&Bound<'py, PyAny>>,
        well_formed: Option<&Bound<'py, PyAny>>,
        lengths: Option<&Bound<'py, PyAny>>,
        scores: Option<&Bound<'py, PyAny>>,
        texts: Option<&Bound<'py, PyAny>>,
        tokens: Option<&Bound<'py, PyAny>>,
        keys: Option<&Bound<'py, PyAny>>,
        index: Option<&Bound<'py, PyAny>>,
        refs: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let x = Inputs::read(
            correct,
            well_formed,
            lengths,
            scores,
            texts,
            tokens,
            keys,
            index,
        )?
        .with_refs(refs)?;
        let bound: Vec<Bound<'py, PyAny>> =
            self.terms.iter().map(|(t, _)| t.bind(py).clone()).collect();
        let guards = bound.iter().map(Guard::of).collect::<PyResult<Vec<_>>>()?;
        let terms: Vec<Term<'_>> = guards.iter().map(Guard::term).collect();
        let weighted: Vec<Weighted<'_, f64>> = terms
            .iter()
            .zip(&self.terms)
            .map(|(t, (_, w))| Weighted::sequence(t.dyn_ref(), *w))
            .collect();
        let pipe = Pipeline::new(&weighted).map_err(to_py)?;
        let v = views(&x)?;
        let b = batch(&x, &v).map_err(to_py)?;
        let n = x.len();
        let (total, parts) = (
            zeros::<f64>(py, &[n]),
            zeros::<f64>(py, &[weighted.len(), n]),
        );
        {
            let (mut tw, mut pw) = (write(&total)?, write(&parts)?);
            pipe.eval(data_mut(&mut tw)?, data_mut(&mut pw)?, &mut [], &b)
                .map_err(to_py)?;
        }
        Ok((total.into_any(), parts.into_any()))
    }

    /// The terms' names.
    #[getter]
    fn names(&self, py: Python<'_>) -> PyResult<Vec<&'static str>> {
        let bound: Vec<Bound<'_, PyAny>> =
            self.terms.iter().map(|(t, _)| t.bind(py).clone()).collect();
        let guards = bound.iter().map(Guard::of).collect::<PyResult<Vec<_>>>()?;
        Ok(guards.iter().map(|g| g.term().dyn_ref().name()).collect())
    }

    fn __getnewargs__(&self, py: Python<'_>) -> (Vec<(Py<PyAny>, f64)>,) {
        (self
            .terms
            .iter()
            .map(|(t, w)| (t.clone_ref(py), *w))
            .collect(),)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The core's stable 64-bit hashes of labels (strings or ints), as `uint64 (B)`: the prompt keys
/// HAPO uses for text prompts.
#[pyfunction]
fn label_hashes<'py>(py: Python<'py>, labels: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let k = keys_of(labels)?;
    let out = PyArrayDyn::<u64>::zeros(py, numpy::ndarray::IxDyn(&[k.len()]), false);
    {
        let mut w = out
            .try_readwrite()
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        let s = w
            .as_slice_mut()
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        s.copy_from_slice(&k);
    }
    let _ = out.shape();
    Ok(out.into_any())
}

/// `(soft, answer)` format flags of each text (a `<think>` block; an answer where the reference
/// looks), as two bool lists.
#[pyfunction]
#[pyo3(signature = (texts, open="<think>", close="</think>"))]
fn format_flags(
    texts: &Bound<'_, PyAny>,
    open: &str,
    close: &str,
) -> PyResult<(Vec<bool>, Vec<bool>)> {
    let f = Format { open, close };
    let t = texts_of(texts)?;
    let mut soft = Vec::with_capacity(t.len());
    let mut ans = Vec::with_capacity(t.len());
    for s in &t {
        let (a, b) = f.flags(s.to_str()?);
        soft.push(a);
        ans.push(b);
    }
    Ok((soft, ans))
}

// The rest of the catalogue (after `term_methods!`, which it uses).
#[path = "catalogue.rs"]
mod catalogue;
