//! Checkpoints: one `safetensors` file holding the policy (`policy.<tensor>`), the frozen reference
//! (`reference.<tensor>`, once GRPO started), the `AdamW` moments (`adam.m`, `adam.v`) and, in the
//! header's metadata, the resolved config (`config`, TOML) and the run state (`state`, JSON: steps
//! done, random generator, reward-shaping state, counters). Written atomically: a temporary file in
//! the same directory, flushed to disk, then renamed over the old checkpoint, so a crash leaves
//! either the old or the new checkpoint and never a partial one.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::Config;
use crate::model::{Gpt, ParamLayout};
use crate::optim::AdamW;
use crate::train::RunState;

/// Format version in the metadata (`rewardkit-checkpoint`).
pub const VERSION: &str = "1";

/// A checkpoint that cannot be written or read, with the reason.
#[derive(Debug)]
pub struct CheckpointError {
    /// The file concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl core::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "checkpoint {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for CheckpointError {}

fn fail<T>(path: &Path, reason: impl Into<String>) -> Result<T, CheckpointError> {
    Err(CheckpointError {
        path: path.to_path_buf(),
        reason: reason.into(),
    })
}

/// The contents of a checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    /// The run's configuration.
    pub cfg: Config,
    /// Policy parameters (flat, [`ParamLayout`] order).
    pub policy: Vec<f32>,
    /// Reference parameters, if GRPO started.
    pub reference: Option<Vec<f32>>,
    /// `AdamW` first moments.
    pub m: Vec<f32>,
    /// `AdamW` second moments.
    pub v: Vec<f32>,
    /// Run state.
    pub state: RunState,
}

fn bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes a checkpoint atomically to `path`.
///
/// # Errors
/// [`CheckpointError`] if serialization or any file operation fails; the temporary file is removed
/// and an existing checkpoint at `path` is left untouched.
pub fn save(
    path: &Path,
    cfg: &Config,
    policy: &Gpt,
    reference: Option<&Gpt>,
    opt: &AdamW,
    state: &RunState,
) -> Result<(), CheckpointError> {
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut add = |prefix: &str, model: &Gpt| {
        for t in &model.layout.tensors {
            owned.push((
                format!("{prefix}.{}", t.name),
                t.shape.clone(),
                bytes(t.of(&model.params)),
            ));
        }
    };
    add("policy", policy);
    if let Some(r) = reference {
        add("reference", r);
    }
    owned.push(("adam.m".into(), vec![opt.m.len()], bytes(&opt.m)));
    owned.push(("adam.v".into(), vec![opt.v.len()], bytes(&opt.v)));
    let mut views = Vec::with_capacity(owned.len());
    for (name, shape, data) in &owned {
        match TensorView::new(Dtype::F32, shape.clone(), data) {
            Ok(v) => views.push((name.clone(), v)),
            Err(e) => return fail(path, format!("tensor {name}: {e}")),
        }
    }
    let mut meta = HashMap::new();
    meta.insert(
        "format".to_string(),
        format!("rewardkit-checkpoint {VERSION}"),
    );
    meta.insert(
        "config".to_string(),
        cfg.to_toml().map_err(|e| CheckpointError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?,
    );
    meta.insert(
        "state".to_string(),
        serde_json::to_string(state).map_err(|e| CheckpointError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?,
    );
    let buf = match safetensors::serialize(views, Some(meta)) {
        Ok(b) => b,
        Err(e) => return fail(path, e.to_string()),
    };
    write_atomic(path, &buf).or_else(|e| fail(path, e.to_string()))
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename.
///
/// # Errors
/// The I/O error; the temporary file is removed.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let result = (|| {
        {
            // Closed at the end of this block, before the rename.
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads and checks a checkpoint.
///
/// # Errors
/// [`CheckpointError`] for a missing file, a truncated or corrupted file (bad header, wrong sizes,
/// missing tensors or metadata), or a config that does not validate.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let buf = match fs::read(path) {
        Ok(b) => b,
        Err(e) => return fail(path, format!("cannot read: {e}")),
    };
    let st = match SafeTensors::deserialize(&buf) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                path,
                format!("not a valid safetensors file (truncated or corrupted?): {e}"),
            );
        }
    };
    let meta = match SafeTensors::read_metadata(&buf) {
        Ok((_, m)) => m.metadata().clone().unwrap_or_default(),
        Err(e) => return fail(path, format!("bad header: {e}")),
    };
    let get = |k: &str| {
        meta.get(k).cloned().ok_or_else(|| CheckpointError {
            path: path.to_path_buf(),
            reason: format!("metadata `{k}` missing (not a rewardkit checkpoint?)"),
        })
    };
    let format = get("format")?;
    if format != format!("rewardkit-checkpoint {VERSION}") {
        return fail(path, format!("unsupported format `{format}`"));
    }
    let cfg = Config::from_toml(&get("config")?).map_err(|e| CheckpointError {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let state: RunState = serde_json::from_str(&get("state")?).map_err(|e| CheckpointError {
        path: path.to_path_buf(),
        reason: format!("bad run state: {e}"),
    })?;
    let layout = ParamLayout::new(&cfg.model);
    let read = |name: &str, expect: &[usize]| -> Result<Vec<f32>, CheckpointError> {
        let t = st.tensor(name).map_err(|e| CheckpointError {
            path: path.to_path_buf(),
            reason: format!("tensor `{name}`: {e}"),
        })?;
        if t.dtype() != Dtype::F32 || t.shape() != expect {
            return fail(
                path,
                format!(
                    "tensor `{name}` is {:?} {:?}, expected F32 {expect:?}",
                    t.dtype(),
                    t.shape()
                ),
            );
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return fail(
                path,
                format!("tensor `{name}` holds a non-finite value at {i}"),
            );
        }
        Ok(v)
    };
    let model = |prefix: &str| -> Result<Vec<f32>, CheckpointError> {
        let mut flat = Vec::with_capacity(layout.total);
        for t in &layout.tensors {
            flat.extend(read(&format!("{prefix}.{}", t.name), &t.shape)?);
        }
        Ok(flat)
    };
    let policy = model("policy")?;
    let reference = if st.names().iter().any(|n| n.starts_with("reference.")) {
        Some(model("reference")?)
    } else {
        None
    };
    let m = read("adam.m", &[layout.total])?;
    let v = read("adam.v", &[layout.total])?;
    Ok(Checkpoint {
        cfg,
        policy,
        reference,
        m,
        v,
        state,
    })
}
