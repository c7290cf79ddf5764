//! Typed device buffers.

use core::marker::PhantomData;

use bytemuck::Pod;

/// A device buffer of `len` values of `T` (`f32` or `u32` in every kernel).
///
/// Buffers stay on the device: kernels read and write them in place and nothing is copied back
/// until [`GpuContext::read`](crate::GpuContext::read). An empty buffer is allowed (it is backed by
/// a few padding bytes, since wgpu cannot bind a zero-sized buffer); kernels given empty inputs
/// dispatch nothing.
///
/// # Examples
/// ```no_run
/// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
/// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
/// let x = ctx.upload(&[1.0f32, 2.0, 3.0])?;
/// assert_eq!(x.len(), 3);
/// assert_eq!(ctx.read_blocking(&x)?, vec![1.0, 2.0, 3.0]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GpuBuffer<T> {
    pub(crate) raw: wgpu::Buffer,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> GpuBuffer<T> {
    pub(crate) fn from_raw(raw: wgpu::Buffer, len: usize) -> Self {
        Self {
            raw,
            len,
            _t: PhantomData,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of the values in bytes (without padding).
    pub fn byte_len(&self) -> u64 {
        (self.len * size_of::<T>()) as u64
    }

    /// The underlying wgpu buffer (for interop with other wgpu code).
    pub fn raw(&self) -> &wgpu::Buffer {
        &self.raw
    }
}

/// Bytes to allocate for `len` values of `T`: at least 16, a multiple of 16 (wgpu's copy and
/// binding alignment; a 4-byte multiple is required, 16 keeps vec4 access in range).
pub(crate) fn alloc_size<T>(len: usize) -> u64 {
    let bytes = (len * size_of::<T>()) as u64;
    bytes.max(16).div_ceil(16) * 16
}
