//! Loader for the golden vectors in `tests/data/golden/` (produced by verl, TRL and OpenRLHF's own
//! code; see `tests/data/golden/README.md` for the format).

use std::collections::BTreeMap;

use serde_json::Value;

/// A tensor as stored: dtype, shape and row-major data (non-finite values as strings).
#[derive(Clone, Debug)]
pub struct Tensor {
    /// `"float32"`, `"float64"`, `"bool"`, ...
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values widened to `f64` (`bool` as 0/1).
    pub data: Vec<f64>,
}

impl Tensor {
    /// The values as `f32` (exact for float32 tensors, which are stored widened).
    pub fn f32(&self) -> Vec<f32> {
        self.data.iter().map(|&x| x as f32).collect()
    }

    /// The values as booleans (non-zero = true).
    pub fn bools(&self) -> Vec<bool> {
        self.data.iter().map(|&x| x != 0.0).collect()
    }

    /// The last dimension.
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => panic!("unexpected string value {other:?}"),
        },
        Value::Null => f64::NAN,
        other => panic!("unexpected value {other:?}"),
    }
}

fn tensor(v: &Value) -> Option<Tensor> {
    let o = v.as_object()?;
    let data = o.get("data")?;
    let flat: Vec<f64> = match data {
        Value::Array(a) => a.iter().map(num).collect(),
        other => vec![num(other)],
    };
    Some(Tensor {
        dtype: o.get("dtype")?.as_str()?.to_string(),
        shape: o
            .get("shape")?
            .as_array()?
            .iter()
            .filter_map(|x| x.as_u64().map(|u| u as usize))
            .collect(),
        data: flat,
    })
}

/// One golden case.
#[derive(Clone, Debug)]
pub struct Case {
    /// `function/variant/scenario/dtype`.
    pub id: String,
    /// The framework function's name.
    pub function: String,
    /// `"float32"` or `"float64"`.
    pub dtype: String,
    /// Named inputs.
    pub inputs: BTreeMap<String, Tensor>,
    /// Named outputs (tensors only; scalars are stored as 0-d tensors).
    pub outputs: BTreeMap<String, Tensor>,
    /// Autograd gradients, by input name.
    pub grad: BTreeMap<String, Tensor>,
    /// Keyword arguments, as JSON.
    pub params: Value,
    /// Group ids as the framework received them (verl uid strings).
    pub group_index: Option<Vec<String>>,
    /// The framework's error, when it raised.
    pub error: Option<Value>,
    /// The raw case, for fields not modelled here.
    pub raw: Value,
}

impl Case {
    /// An input by name (panics with the case id when absent).
    pub fn input(&self, name: &str) -> &Tensor {
        self.inputs
            .get(name)
            .unwrap_or_else(|| panic!("{}: no input {name}", self.id))
    }

    /// An output by name.
    pub fn output(&self, name: &str) -> &Tensor {
        self.outputs
            .get(name)
            .unwrap_or_else(|| panic!("{}: no output {name}", self.id))
    }

    /// A float parameter.
    pub fn param_f64(&self, name: &str) -> Option<f64> {
        self.params.get(name).and_then(Value::as_f64)
    }

    /// A boolean parameter.
    pub fn param_bool(&self, name: &str) -> Option<bool> {
        self.params.get(name).and_then(Value::as_bool)
    }

    /// A string parameter.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }

    /// Whether the case is float32.
    pub fn is_f32(&self) -> bool {
        self.dtype == "float32"
    }

    /// Dense group ids (first appearance order) from `group_index`.
    pub fn dense_groups(&self) -> Option<(Vec<u32>, usize)> {
        let labels = self.group_index.as_ref()?;
        let mut map = BTreeMap::new();
        let ids: Vec<u32> = labels
            .iter()
            .map(|l| {
                let n = map.len() as u32;
                *map.entry(l.clone()).or_insert(n)
            })
            .collect();
        Some((ids, map.len()))
    }
}

/// A golden file: header fields and cases.
#[derive(Clone, Debug)]
pub struct GoldenFile {
    /// Framework name.
    pub framework: String,
    /// Commit of the framework's code.
    pub commit: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// Loads `tests/data/golden/<name>.json`.
pub fn load(name: &str) -> GoldenFile {
    let path = crate::data_path(&format!("golden/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("golden JSON");
    let tensors = |v: Option<&Value>| -> BTreeMap<String, Tensor> {
        v.and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, t)| tensor(t).map(|t| (k.clone(), t)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cases = v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().unwrap_or_default().to_string(),
            function: c["function"].as_str().unwrap_or_default().to_string(),
            // A few cases list several dtypes; the id's last segment names the one tested.
            dtype: c["dtype"].as_str().map_or_else(
                || {
                    c["id"]
                        .as_str()
                        .and_then(|id| id.rsplit('/').next())
                        .unwrap_or_default()
                        .to_string()
                },
                str::to_string,
            ),
            inputs: tensors(c.get("inputs")),
            outputs: tensors(c.get("outputs")),
            grad: tensors(c.get("grad")),
            params: c.get("params").cloned().unwrap_or(Value::Null),
            group_index: c.get("group_index").and_then(Value::as_array).map(|a| {
                a.iter()
                    .map(|x| match x {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            }),
            error: c.get("error").cloned(),
            raw: c.clone(),
        })
        .collect();
    GoldenFile {
        framework: v["framework"].as_str().unwrap_or_default().to_string(),
        commit: v["commit"].as_str().unwrap_or_default().to_string(),
        cases,
    }
}
