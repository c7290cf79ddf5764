//! The long-lived GPU context: adapter, device, queue, pipeline cache, command recording and
//! readback.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytemuck::Pod;
use rewardkit_shaders::{Access, Kernel};
use wgpu::util::DeviceExt;

use crate::buffer::{GpuBuffer, alloc_size};
use crate::error::{GpuError, Result};

/// Environment variable: a case-insensitive substring of the adapter name to use (for example
/// `llvmpipe` or `NVIDIA`); without it the high-performance adapter is preferred.
pub const ADAPTER_ENV: &str = "REWARDKIT_GPU_ADAPTER";

/// What the adapter offers beyond core WebGPU, and what the context enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `Features::SUBGROUP` (WGSL `enable subgroups;`).
    pub subgroups: bool,
    /// `Features::SHADER_F16` (WGSL `enable f16;`).
    pub f16: bool,
    /// `Features::TIMESTAMP_QUERY` (GPU timestamps around compute passes).
    pub timestamps: bool,
}

/// One timed dispatch (only recorded while profiling, see [`GpuContext::set_profiling`]).
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTiming {
    /// The kernel's name.
    pub kernel: &'static str,
    /// GPU time between the start and the end of its compute pass, in seconds.
    pub seconds: f64,
}

type PipelineKey = (&'static str, Vec<(String, u64)>);

struct Cached {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Timestamp queries: one query set, pairs of (begin, end) per dispatch.
struct Profiler {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
    names: Vec<&'static str>,
}

const PROFILE_CAPACITY: u32 = 1024; // dispatches per profile (2 queries each)

/// The GPU context: created once (adapter, device, queue), holding the pipeline cache and the
/// command encoder that kernels record into.
///
/// Kernel methods record dispatches into a pending command encoder; nothing runs until
/// [`GpuContext::submit`] or a readback ([`GpuContext::read`]), so the kernels of a step run as one
/// submission with every buffer kept on the device. Validation errors (a shader, a pipeline, a
/// binding) are captured and returned as [`GpuError::Validation`], never panics: pipeline creation
/// runs inside an error scope, and anything else reported by the device is collected by the
/// uncaptured-error handler and returned by the next `submit` or `read`.
///
/// The core API is `async` (WebGPU in a browser cannot block); native callers use the
/// `*_blocking` wrappers.
///
/// # Errors
/// [`GpuContext::new`] returns [`GpuError::NoAdapter`] when no adapter exists (no driver, no
/// device, or none matches [`ADAPTER_ENV`]) and [`GpuError::Device`] when the device cannot be
/// created.
///
/// # Examples
/// ```no_run
/// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
/// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
/// println!("{}", ctx.adapter_name());
/// # Ok(()) }
/// ```
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    caps: Capabilities,
    cache: Mutex<HashMap<PipelineKey, Arc<Cached>>>,
    encoder: Mutex<Option<wgpu::CommandEncoder>>,
    errors: Arc<Mutex<Vec<String>>>,
    profiler: Mutex<Option<Profiler>>,
    dummy: wgpu::Buffer,
}

impl core::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .field("capabilities", &self.caps)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked while holding it; the data (a cache, an
    // encoder, an error list) is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Polls a future once with a no-op waker (wgpu-core resolves error scopes synchronously).
fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

impl GpuContext {
    /// Finds an adapter and creates the device.
    ///
    /// The adapter is the first whose name contains [`ADAPTER_ENV`] (case-insensitive) when that
    /// variable is set, else wgpu's `HighPerformance` choice (a discrete GPU before an integrated
    /// one or a software rasterizer). `WGPU_BACKEND` restricts the backends. The device gets the
    /// adapter's limits (large storage buffers) and the optional features it offers
    /// (subgroups, f16, timestamps; see [`Capabilities`]).
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`], [`GpuError::Device`].
    pub async fn new() -> Result<Self> {
        Self::create(None).await
    }

    /// [`GpuContext::new`] with the given device limits instead of the adapter's: with
    /// `wgpu::Limits::default()` (WebGPU's defaults: 8 storage buffers per stage, 16 KiB of
    /// workgroup memory, 256 invocations per workgroup, 128 MiB per binding) the device accepts
    /// exactly what a browser guarantees, so a kernel that runs here runs in any browser.
    ///
    /// # Errors
    /// As [`GpuContext::new`]; [`GpuError::Device`] when the adapter cannot give these limits.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), rewardkit_gpu::GpuError> {
    /// use rewardkit_gpu::{GpuContext, wgpu};
    /// let ctx = GpuContext::new_with_limits_blocking(wgpu::Limits::default())?;
    /// ctx.warm_up(rewardkit_gpu::shaders::ALL)?; // every kernel fits WebGPU's defaults
    /// # Ok(()) }
    /// ```
    pub async fn new_with_limits(limits: wgpu::Limits) -> Result<Self> {
        Self::create(Some(limits)).await
    }

    /// [`GpuContext::new_with_limits`], blocking (native only).
    ///
    /// # Errors
    /// As [`GpuContext::new_with_limits`].
    pub fn new_with_limits_blocking(limits: wgpu::Limits) -> Result<Self> {
        pollster::block_on(Self::new_with_limits(limits))
    }

    async fn create(want_limits: Option<wgpu::Limits>) -> Result<Self> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = match std::env::var(ADAPTER_ENV) {
            Ok(want) if !want.is_empty() => {
                let want = want.to_lowercase();
                let all = instance.enumerate_adapters(wgpu::Backends::all()).await;
                let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
                all.into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&want))
                    .ok_or_else(|| GpuError::NoAdapter {
                        reason: format!("{ADAPTER_ENV}={want} matches none of {names:?}"),
                    })?
            }
            _ => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    ..Default::default()
                })
                .await
                .map_err(|e| GpuError::NoAdapter {
                    reason: e.to_string(),
                })?,
        };
        let offered = adapter.features();
        let wanted =
            wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY;
        let features = offered & wanted;
        let limits = want_limits.unwrap_or_else(|| adapter.limits());
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("rewardkit"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Device(e.to_string()))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            lock(&sink).push(e.to_string());
        }));
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused binding"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Ok(Self {
            dummy,
            caps: Capabilities {
                subgroups: features.contains(wgpu::Features::SUBGROUP),
                f16: features.contains(wgpu::Features::SHADER_F16),
                timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            },
            info: adapter.get_info(),
            limits,
            device,
            queue,
            cache: Mutex::new(HashMap::new()),
            encoder: Mutex::new(None),
            errors,
            profiler: Mutex::new(None),
        })
    }

    /// [`GpuContext::new`], blocking (native only).
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub fn new_blocking() -> Result<Self> {
        pollster::block_on(Self::new())
    }

    /// The adapter's name (for example `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// The adapter's description.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// Optional features enabled on the device.
    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// The device limits.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The wgpu device (for interop).
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// A small buffer bound where a kernel's optional input is absent (never read).
    pub(crate) fn dummy(&self) -> &wgpu::Buffer {
        &self.dummy
    }

    /// The wgpu queue (for interop).
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    // -----------------------------------------------------------------------------------------
    // Buffers
    // -----------------------------------------------------------------------------------------

    fn check_size<T>(&self, what: &'static str, len: usize) -> Result<u64> {
        let size = alloc_size::<T>(len);
        let limit = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if size > limit {
            return Err(GpuError::TooLarge { what, size, limit });
        }
        Ok(size)
    }

    /// A device buffer holding a copy of `data`.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] beyond the device's storage-binding limit.
    pub fn upload<T: Pod>(&self, data: &[T]) -> Result<GpuBuffer<T>> {
        let size = self.check_size::<T>("buffer", data.len())?;
        let raw = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if !data.is_empty() {
            self.queue.write_buffer(&raw, 0, bytemuck::cast_slice(data));
        }
        Ok(GpuBuffer::from_raw(raw, data.len()))
    }

    /// A core [`rewardkit_core::Mask`] on the device as the kernels read it: `u32`, `1` = valid,
    /// `0` = masked (WGSL has no boolean storage), written by [`rewardkit_core::Mask::write_u32`].
    ///
    /// # Shapes
    /// `(B, T)`, like the mask.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ctx = rewardkit_gpu::GpuContext::new_blocking()?;
    /// let mask = rewardkit_core::Mask::new(&[true, true, false, true], 2)?;
    /// let m = ctx.upload_mask(mask)?;
    /// assert_eq!(ctx.read_blocking(&m)?, vec![1, 1, 0, 1]);
    /// # Ok(()) }
    /// ```
    pub fn upload_mask(&self, mask: rewardkit_core::Mask<'_>) -> Result<GpuBuffer<u32>> {
        let mut bits = vec![0u32; mask.shape().len()];
        mask.write_u32(&mut bits)?;
        self.upload(&bits)
    }

    /// A zero-filled device buffer of `len` values.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`].
    pub fn zeros<T: Pod>(&self, len: usize) -> Result<GpuBuffer<T>> {
        let size = self.check_size::<T>("buffer", len)?;
        let raw = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuBuffer::from_raw(raw, len))
    }

    /// Overwrites a buffer's contents from the host (queued before the next submission's work).
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`) if the lengths differ.
    pub fn write<T: Pod>(&self, buf: &GpuBuffer<T>, data: &[T]) -> Result<()> {
        crate::check_len("data", buf.len(), data.len())?;
        // Writes are ordered before the next submit; flush recorded work first so a write after a
        // recorded kernel does not overtake it.
        self.submit()?;
        if !data.is_empty() {
            self.queue
                .write_buffer(&buf.raw, 0, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// Records a device-side copy `dst ← src` (same length).
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`).
    pub fn copy<T: Pod>(&self, dst: &GpuBuffer<T>, src: &GpuBuffer<T>) -> Result<()> {
        crate::check_len("dst", src.len(), dst.len())?;
        if src.is_empty() {
            return Ok(());
        }
        let mut enc = self.encoder();
        if let Some(e) = enc.as_mut() {
            e.copy_buffer_to_buffer(&src.raw, 0, &dst.raw, 0, src.byte_len().div_ceil(4) * 4);
        }
        Ok(())
    }

    /// Records a device-side copy of all of `src` into `dst` starting at element `offset` (used
    /// to gather small side inputs into one binding).
    ///
    /// # Errors
    /// [`GpuError::Core`] (`LengthMismatch`) if `src` does not fit at `offset`.
    pub(crate) fn copy_into<T: Pod>(
        &self,
        dst: &GpuBuffer<T>,
        offset: usize,
        src: &GpuBuffer<T>,
    ) -> Result<()> {
        if offset + src.len() > dst.len() {
            return Err(GpuError::Core(rewardkit_core::Error::LengthMismatch {
                what: "gather destination",
                expected: offset + src.len(),
                got: dst.len(),
            }));
        }
        if src.is_empty() {
            return Ok(());
        }
        let mut enc = self.encoder();
        if let Some(e) = enc.as_mut() {
            e.copy_buffer_to_buffer(
                &src.raw,
                0,
                &dst.raw,
                (offset * size_of::<T>()) as u64,
                src.byte_len(),
            );
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Pipelines and dispatch
    // -----------------------------------------------------------------------------------------

    fn pipeline(&self, k: &Kernel, overrides: &[(&str, f64)]) -> Result<Arc<Cached>> {
        let mut key_ov: Vec<(String, u64)> = overrides
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.to_bits()))
            .collect();
        key_ov.sort();
        let key = (k.name, key_ov);
        if let Some(c) = lock(&self.cache).get(&key) {
            return Ok(Arc::clone(c));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(k.file),
                source: wgpu::ShaderSource::Wgsl(k.source.into()),
            });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = k
            .bindings
            .iter()
            .zip(0u32..)
            .map(|(b, i)| wgpu::BindGroupLayoutEntry {
                binding: i,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match b.access {
                        Access::Uniform => wgpu::BufferBindingType::Uniform,
                        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    // Checked when the bind group is created (element sizes differ: f32, u32,
                    // vec4); every kernel bounds-checks against its sizes.
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(k.name),
                entries: &entries,
            });
        let pl = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(k.name),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(k.name),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(k.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: overrides,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        if let Some(Some(e)) = poll_once(scope.pop()) {
            return Err(GpuError::Validation(format!("{}: {e}", k.name)));
        }
        self.take_errors()?;
        let cached = Arc::new(Cached { pipeline, layout });
        lock(&self.cache).insert(key, Arc::clone(&cached));
        Ok(cached)
    }

    /// Builds (and caches) the pipeline of every kernel with default overrides, so the first
    /// timed dispatch does not include shader compilation. Kernels that need an adapter feature
    /// this device lacks (`SHADER_F16`, see [`Kernel::requires_f16`]) are skipped: they cannot run
    /// here, and their methods return [`GpuError::Unsupported`].
    ///
    /// # Errors
    /// [`GpuError::Validation`] if a kernel fails to compile on this adapter.
    pub fn warm_up(&self, kernels: &[Kernel]) -> Result<()> {
        for k in kernels {
            if k.requires_f16() && !self.caps.f16 {
                continue;
            }
            self.pipeline(k, &[])?;
        }
        Ok(())
    }

    fn encoder(&self) -> MutexGuard<'_, Option<wgpu::CommandEncoder>> {
        let mut enc = lock(&self.encoder);
        if enc.is_none() {
            *enc = Some(
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }),
            );
        }
        enc
    }

    /// Records one dispatch of `k` with `buffers` bound in order and `params` as the uniform
    /// block (the last binding).
    pub(crate) fn dispatch(
        &self,
        k: &Kernel,
        overrides: &[(&str, f64)],
        buffers: &[&wgpu::Buffer],
        params: &[u8],
        groups: [u32; 3],
    ) -> Result<()> {
        if groups.contains(&0) {
            return Ok(());
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if let Some(&g) = groups.iter().find(|&&g| g > max) {
            return Err(GpuError::TooLarge {
                what: "workgroup count",
                size: u64::from(g),
                limit: u64::from(max),
            });
        }
        let cached = self.pipeline(k, overrides)?;
        let mut bytes = params.to_vec();
        bytes.resize(bytes.len().max(16).div_ceil(16) * 16, 0);
        let uniform = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: &bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let mut entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .zip(0u32..)
            .map(|(b, i)| wgpu::BindGroupEntry {
                binding: i,
                resource: b.as_entire_binding(),
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: u32::try_from(buffers.len()).unwrap_or(u32::MAX),
            resource: uniform.as_entire_binding(),
        });
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(k.name),
            layout: &cached.layout,
            entries: &entries,
        });
        let mut prof = lock(&self.profiler);
        let ts = prof.as_mut().and_then(|p| {
            let n = u32::try_from(p.names.len()).ok()?;
            (n < p.capacity).then(|| {
                p.names.push(k.name);
                (2 * n, &p.set)
            })
        });
        let mut enc = self.encoder();
        if let Some(enc) = enc.as_mut() {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(k.name),
                timestamp_writes: ts.map(|(i, set)| wgpu::ComputePassTimestampWrites {
                    query_set: set,
                    beginning_of_pass_write_index: Some(i),
                    end_of_pass_write_index: Some(i + 1),
                }),
            });
            pass.set_pipeline(&cached.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        Ok(())
    }

    fn take_errors(&self) -> Result<()> {
        let mut errs = lock(&self.errors);
        if errs.is_empty() {
            Ok(())
        } else {
            let msg = errs.join("; ");
            errs.clear();
            Err(GpuError::Validation(msg))
        }
    }

    /// Submits the recorded work (does not wait for it).
    ///
    /// # Errors
    /// [`GpuError::Validation`] for any error the device reported since the last check.
    pub fn submit(&self) -> Result<()> {
        // Keep the encoder locked until the queue has the work: another thread's submission must
        // not overtake recorded work it depends on (a readback copy recorded after a dispatch).
        let mut guard = lock(&self.encoder);
        if let Some(enc) = guard.take() {
            self.queue.submit([enc.finish()]);
        }
        drop(guard);
        self.take_errors()
    }

    /// Submits the recorded work and waits until the device has finished it (native only; on the
    /// web this returns after submitting).
    ///
    /// # Errors
    /// As [`GpuContext::submit`].
    pub fn finish(&self) -> Result<()> {
        self.submit()?;
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(e.to_string()))?;
        self.take_errors()
    }

    // -----------------------------------------------------------------------------------------
    // Readback
    // -----------------------------------------------------------------------------------------

    /// Copies a buffer back to the host (submits the recorded work first).
    ///
    /// # Errors
    /// [`GpuError::Validation`] for errors the device reported; [`GpuError::Map`] if mapping fails.
    pub async fn read<T: Pod>(&self, buf: &GpuBuffer<T>) -> Result<Vec<T>> {
        if buf.is_empty() {
            self.submit()?;
            return Ok(Vec::new());
        }
        let bytes = buf.byte_len().div_ceil(4) * 4;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut enc = self.encoder();
            if let Some(e) = enc.as_mut() {
                e.copy_buffer_to_buffer(&buf.raw, 0, &staging, 0, bytes);
            }
        }
        self.submit()?;
        let (tx, rx) = oneshot();
        staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(e.to_string()))?;
        match rx.await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(GpuError::Map(e.to_string())),
            None => return Err(GpuError::Map("the map callback was dropped".into())),
        }
        self.take_errors()?;
        let out = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| GpuError::Map(e.to_string()))?;
            let n = buf.len() * size_of::<T>();
            let data = view
                .get(..n)
                .ok_or_else(|| GpuError::Map("short mapping".into()))?;
            bytemuck::pod_collect_to_vec(data)
        };
        staging.unmap();
        Ok(out)
    }

    /// [`GpuContext::read`], blocking (native only).
    ///
    /// # Errors
    /// As [`GpuContext::read`].
    pub fn read_blocking<T: Pod>(&self, buf: &GpuBuffer<T>) -> Result<Vec<T>> {
        pollster::block_on(self.read(buf))
    }

    // -----------------------------------------------------------------------------------------
    // Profiling
    // -----------------------------------------------------------------------------------------

    /// Starts (or stops) recording GPU timestamps around every dispatch. Without
    /// [`Capabilities::timestamps`] this returns `false` and records nothing.
    pub fn set_profiling(&self, on: bool) -> bool {
        let mut prof = lock(&self.profiler);
        if !on || !self.caps.timestamps {
            *prof = None;
            return false;
        }
        let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("rewardkit timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * PROFILE_CAPACITY,
        });
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: u64::from(2 * PROFILE_CAPACITY) * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        *prof = Some(Profiler {
            set,
            resolve,
            capacity: PROFILE_CAPACITY,
            names: Vec::new(),
        });
        true
    }

    /// The GPU time of every dispatch recorded since profiling started (or since the last call),
    /// in order; empty without timestamp support.
    ///
    /// # Errors
    /// As [`GpuContext::read`].
    pub async fn take_timings(&self) -> Result<Vec<KernelTiming>> {
        let (names, n) = {
            let mut prof = lock(&self.profiler);
            let Some(p) = prof.as_mut() else {
                return Ok(Vec::new());
            };
            let names = std::mem::take(&mut p.names);
            let n = u32::try_from(names.len()).unwrap_or(0);
            if n == 0 {
                return Ok(Vec::new());
            }
            let mut enc = self.encoder();
            if let Some(e) = enc.as_mut() {
                e.resolve_query_set(&p.set, 0..2 * n, &p.resolve, 0);
            }
            (names, n)
        };
        let raw = {
            let prof = lock(&self.profiler);
            let Some(p) = prof.as_ref() else {
                return Ok(Vec::new());
            };
            GpuBuffer::<u64>::from_raw(p.resolve.clone(), 2 * n as usize)
        };
        let ticks = self.read(&raw).await?;
        let period = f64::from(self.queue.get_timestamp_period()) * 1e-9;
        Ok(names
            .into_iter()
            .zip(ticks.chunks_exact(2))
            .map(|(kernel, t)| KernelTiming {
                kernel,
                seconds: t[1].saturating_sub(t[0]) as f64 * period,
            })
            .collect())
    }

    /// [`GpuContext::take_timings`], blocking.
    ///
    /// # Errors
    /// As [`GpuContext::read`].
    pub fn take_timings_blocking(&self) -> Result<Vec<KernelTiming>> {
        pollster::block_on(self.take_timings())
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal oneshot channel for the map_async callback (no executor dependency).
// ---------------------------------------------------------------------------------------------

struct Shared<T> {
    value: Option<T>,
    waker: Option<Waker>,
    closed: bool,
}

struct Sender<T>(Arc<Mutex<Shared<T>>>);
struct Receiver<T>(Arc<Mutex<Shared<T>>>);

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let s = Arc::new(Mutex::new(Shared {
        value: None,
        waker: None,
        closed: false,
    }));
    (Sender(Arc::clone(&s)), Receiver(s))
}

impl<T> Sender<T> {
    fn send(self, v: T) {
        let waker = {
            let mut s = lock(&self.0);
            s.value = Some(v);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.0);
            s.closed = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    /// `None` if the sender was dropped without sending.
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = lock(&self.0);
        if let Some(v) = s.value.take() {
            Poll::Ready(Some(v))
        } else if s.closed {
            Poll::Ready(None)
        } else {
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
