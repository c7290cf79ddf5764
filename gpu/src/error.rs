//! The GPU backend's error type.

use core::fmt;

/// Everything that can go wrong on the GPU path, as a value (never a panic).
///
/// Shape and parameter errors are the core's ([`GpuError::Core`]), with the same variants and
/// offending indices as the CPU functions; the other variants describe the device.
///
/// # Examples
/// ```
/// use rewardkit_gpu::GpuError;
/// let e = GpuError::NoAdapter { reason: "no Vulkan, Metal, DX12 or GL driver".into() };
/// assert!(e.to_string().contains("no GPU adapter"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter was found (no driver, no device, or none matching `REWARDKIT_GPU_ADAPTER`).
    NoAdapter {
        /// What was tried.
        reason: String,
    },
    /// The adapter refused to create a device.
    Device(String),
    /// wgpu reported a validation error (a shader, a pipeline, a binding or a dispatch).
    Validation(String),
    /// The device ran out of memory.
    OutOfMemory(String),
    /// Mapping a buffer for readback failed.
    Map(String),
    /// A size beyond what the device or the kernel's 32-bit indexing supports.
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Something the GPU backend does not run: an adapter feature this device lacks (for example
    /// `SHADER_F16`), or a configuration of the core it has no kernel for (a sequence-coupled
    /// loss in the fused step, Clip-Cov/KL-Cov, a multi-reward advantage stage).
    Unsupported {
        /// What is not supported.
        feature: &'static str,
    },
    /// A shape, parameter or value error, exactly as the CPU core reports it.
    Core(rewardkit_core::Error),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAdapter { reason } => write!(f, "no GPU adapter: {reason}"),
            Self::Device(m) => write!(f, "GPU device request failed: {m}"),
            Self::Validation(m) => write!(f, "GPU validation error: {m}"),
            Self::OutOfMemory(m) => write!(f, "GPU out of memory: {m}"),
            Self::Map(m) => write!(f, "GPU buffer readback failed: {m}"),
            Self::TooLarge { what, size, limit } => {
                write!(f, "{what} is too large for the GPU: {size} > {limit}")
            }
            Self::Unsupported { feature } => {
                write!(f, "not supported by the GPU backend: {feature}")
            }
            Self::Core(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GpuError {}

impl From<rewardkit_core::Error> for GpuError {
    fn from(e: rewardkit_core::Error) -> Self {
        Self::Core(e)
    }
}

impl From<wgpu::Error> for GpuError {
    fn from(e: wgpu::Error) -> Self {
        match e {
            wgpu::Error::OutOfMemory { .. } => Self::OutOfMemory(e.to_string()),
            _ => Self::Validation(e.to_string()),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = GpuError> = core::result::Result<T, E>;
