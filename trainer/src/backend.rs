//! Choosing the compute backend: `--backend cpu|gpu|auto`.
//!
//! - `cpu`: the CPU kernels ([`crate::ops`]), the reference.
//! - `gpu`: the GPU backend (`model::gpu`, `device`; feature `gpu`) on the
//!   adapter `rewardkit_gpu::GpuContext::new` finds — the one whose name contains
//!   `REWARDKIT_GPU_ADAPTER` when that variable is set, else wgpu's high-performance choice, which
//!   may be a software rasterizer such as lavapipe. No adapter, or a build without the `gpu`
//!   feature, is [`TrainError::NoGpu`] (exit code 4 of the `rewardkit` command).
//! - `auto`: the GPU when a hardware adapter exists (or `REWARDKIT_GPU_ADAPTER` names one, software
//!   or not), else the CPU with exactly one message ([`Selection::note`]) saying why. A software
//!   rasterizer is not chosen on its own: on a CPU-only machine the CPU kernels are faster than
//!   the same CPU emulating a GPU.

use core::fmt;
use core::str::FromStr;

use crate::train::TrainError;

/// The `--backend` option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// The CPU kernels.
    Cpu,
    /// The GPU backend; an error without an adapter.
    Gpu,
    /// The GPU if a hardware adapter exists, else the CPU (with one message).
    #[default]
    Auto,
}

/// The valid names of [`BackendChoice`].
pub const BACKENDS: [&str; 3] = ["cpu", "gpu", "auto"];

impl FromStr for BackendChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            "auto" => Ok(Self::Auto),
            _ => Err(format!(
                "unknown backend `{s}`; valid: {}",
                BACKENDS.join(", ")
            )),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
            Self::Auto => "auto",
        })
    }
}

/// The backend a command runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The CPU kernels.
    Cpu,
    /// The GPU backend on this context.
    #[cfg(feature = "gpu")]
    Gpu(std::sync::Arc<rewardkit_gpu::GpuContext>),
}

impl Backend {
    /// A short description: `cpu`, or `gpu: <adapter> (<api>, <device type>)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Cpu => "cpu".into(),
            #[cfg(feature = "gpu")]
            Self::Gpu(ctx) => {
                let i = ctx.adapter_info();
                format!("gpu: {} ({:?}, {:?})", i.name, i.backend, i.device_type)
            }
        }
    }

    /// Whether this is the GPU backend.
    pub fn is_gpu(&self) -> bool {
        !matches!(self, Self::Cpu)
    }
}

/// The outcome of [`select`]: the backend, and for `auto` on the CPU the one message that says why.
#[derive(Clone, Debug)]
pub struct Selection {
    /// The backend.
    pub backend: Backend,
    /// `auto` fell back to the CPU: why (print it once).
    pub note: Option<String>,
}

/// Resolves `--backend`.
///
/// # Errors
/// [`TrainError::NoGpu`] for [`BackendChoice::Gpu`] without an adapter (the adapter search's
/// reason in the message) or in a build without the `gpu` feature.
///
/// # Examples
/// ```
/// use rewardkit_trainer::backend::{BackendChoice, select};
/// let s = select(BackendChoice::Cpu)?;
/// assert!(!s.backend.is_gpu() && s.note.is_none());
/// # Ok::<(), rewardkit_trainer::train::TrainError>(())
/// ```
pub fn select(choice: BackendChoice) -> Result<Selection, TrainError> {
    let cpu = |note: Option<String>| Selection {
        backend: Backend::Cpu,
        note,
    };
    match choice {
        BackendChoice::Cpu => Ok(cpu(None)),
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Gpu => Err(TrainError::NoGpu(
            "--backend gpu: this build has no GPU backend (build with `--features gpu`)".into(),
        )),
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Auto => Ok(cpu(Some(
            "backend auto: this build has no GPU backend (built without the `gpu` feature); using the CPU"
                .into(),
        ))),
        #[cfg(feature = "gpu")]
        BackendChoice::Gpu => match rewardkit_gpu::GpuContext::new_blocking() {
            Ok(ctx) => Ok(Selection {
                backend: Backend::Gpu(std::sync::Arc::new(ctx)),
                note: None,
            }),
            Err(e) => Err(TrainError::NoGpu(format!("--backend gpu: {e}"))),
        },
        #[cfg(feature = "gpu")]
        BackendChoice::Auto => {
            let named = std::env::var(rewardkit_gpu::ADAPTER_ENV).is_ok_and(|v| !v.is_empty());
            match rewardkit_gpu::GpuContext::new_blocking() {
                Ok(ctx)
                    if named || ctx.adapter_info().device_type != rewardkit_gpu::wgpu::DeviceType::Cpu =>
                {
                    Ok(Selection {
                        backend: Backend::Gpu(std::sync::Arc::new(ctx)),
                        note: None,
                    })
                }
                Ok(ctx) => Ok(cpu(Some(format!(
                    "backend auto: the only GPU adapter is {}, a software rasterizer; using the CPU \
                     (--backend gpu or {}=<name> uses it anyway)",
                    ctx.adapter_name(),
                    rewardkit_gpu::ADAPTER_ENV
                )))),
                Err(e) => Ok(cpu(Some(format!("backend auto: {e}; using the CPU")))),
            }
        }
    }
}
