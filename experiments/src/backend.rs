//! The compute backend, chosen at run time.
//!
//! Everything generic in this crate is written once over an inner backend
//! `B` (training runs on `Autodiff<B>`, Hessian products on
//! `Autodiff<Autodiff<B>>`); [`dispatch`] instantiates it for the backend
//! named on the command line.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::Backend;

/// A backend the CLI can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's Flex CPU backend (multi-threaded, SIMD): the default.
    #[default]
    Cpu,
    /// Burn's ndarray CPU backend.
    Ndarray,
    /// wgpu: Vulkan, Metal, DirectX or WebGPU (Mesa's lavapipe on a CPU).
    Wgpu,
    /// NVIDIA CUDA (needs the `cuda` feature at build time).
    Cuda,
}

impl BackendKind {
    /// Every kind, for help texts.
    pub const ALL: [BackendKind; 4] = [Self::Cpu, Self::Ndarray, Self::Wgpu, Self::Cuda];

    /// Whether the backend compiles and autotunes its kernels on first use
    /// (CubeCL: wgpu, CUDA). The first steps of a run, or of a benchmark,
    /// then take far longer than the rest; the choices are cached on disk
    /// (`target/autotune` under the nearest Cargo project, else
    /// `~/.cache/cubecl`), so later runs start faster.
    pub fn tunes_kernels(self) -> bool {
        matches!(self, Self::Wgpu | Self::Cuda)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        })
    }
}

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "ndarray" => Ok(Self::Ndarray),
            "wgpu" | "vulkan" | "metal" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(format!(
                "unknown backend `{other}` (expected one of: cpu, ndarray, wgpu, cuda)"
            )),
        }
    }
}

/// Why a backend cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// CUDA was requested from a binary built without it.
    #[error(
        "this binary was built without CUDA support: rebuild with `cargo build --release -p experiments --features cuda`"
    )]
    CudaNotBuilt,
    /// A data-parallel device list is empty.
    #[error("no devices: list at least one (e.g. --devices 0,1)")]
    NoDevices,
    /// A data-parallel device list names a device twice.
    #[error("device {index} is listed twice: each replica needs a device of its own")]
    DuplicateDevice {
        /// The device index.
        index: usize,
    },
    /// A data-parallel device list names a device that does not exist.
    #[error("the {backend} backend has no device {index}: it has {available} here (indices 0 to {})", .available.saturating_sub(1))]
    MissingDevice {
        /// The backend.
        backend: BackendKind,
        /// The index asked for.
        index: usize,
        /// How many it has.
        available: usize,
    },
    /// The backend found no usable device.
    #[error("the {backend} backend has no usable device here: {}; ({message})", missing(*.backend))]
    Unavailable {
        /// The backend.
        backend: BackendKind,
        /// What the backend reported.
        message: String,
    },
}

/// What a backend without a device lacks, and where to get it.
fn missing(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Wgpu => {
            "no Vulkan, Metal or DirectX adapter was found; on Linux install a Vulkan driver (Mesa's mesa-vulkan-drivers package also runs on the CPU, through lavapipe), or use --backend cpu"
        }
        BackendKind::Cuda => {
            "no CUDA device or driver was found; install NVIDIA's driver, or use --backend wgpu or cpu"
        }
        BackendKind::Cpu | BackendKind::Ndarray => "the CPU backend failed to start",
    }
}

/// Creates and reads back one tensor on `device`, turning the panic a
/// backend raises when it has no device (no driver, no adapter) into an
/// error. The panic hook is silenced meanwhile: the failure is reported
/// once, as a typed error.
pub fn probe<B: Backend>(kind: BackendKind, device: &B::Device) -> Result<(), BackendError> {
    use burn::tensor::Tensor;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::<B, 1>::from_floats([1.0, 2.0], device)
            .sum()
            .into_data()
    }));
    std::panic::set_hook(hook);
    result
        .map(|_| ())
        .map_err(|payload| BackendError::Unavailable {
            backend: kind,
            message: payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the backend panicked while starting".into()),
        })
}

/// A computation generic over the inner backend (see [`dispatch`]).
pub trait BackendTask {
    /// What the task returns.
    type Output;
    /// Runs on backend `B` with `device`.
    fn run<B: Backend>(self, device: B::Device) -> Self::Output;
}

/// A computation over several devices of one backend (data-parallel
/// training; see [`dispatch_devices`]).
pub trait DevicesTask {
    /// What the task returns.
    type Output;
    /// Runs on backend `B` with `devices` (at least one).
    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Self::Output;
}

/// Checks a data-parallel device list before any work starts: at least one
/// device, none twice, each one present. CPU backends (`cpu`, `ndarray`)
/// have one device, the host; a data-parallel run on them places one
/// replica per listed index on it, and the indices that exist are `0` to
/// the number of logical cores minus one. wgpu's index `i` in a list of
/// several is its `i`-th discrete GPU; CUDA's is the device ordinal.
pub fn check_devices(kind: BackendKind, devices: &[usize]) -> Result<(), BackendError> {
    if devices.is_empty() {
        return Err(BackendError::NoDevices);
    }
    if let Some(index) = first_duplicate(devices) {
        return Err(BackendError::DuplicateDevice { index });
    }
    if devices.len() == 1 && !matches!(kind, BackendKind::Cpu | BackendKind::Ndarray) {
        // One device keeps its single-device meaning (wgpu 0 = the best
        // adapter); the backend's probe reports a missing one.
        return Ok(());
    }
    let available = device_count(kind)?;
    match devices.iter().find(|&&d| d >= available) {
        Some(&index) => Err(BackendError::MissingDevice {
            backend: kind,
            index,
            available,
        }),
        None => Ok(()),
    }
}

/// The first device index a list names a second time, if any.
pub fn first_duplicate(devices: &[usize]) -> Option<usize> {
    devices
        .iter()
        .enumerate()
        .find(|&(i, d)| devices[..i].contains(d))
        .map(|(_, &d)| d)
}

/// How many devices `kind` offers here (CPU backends: logical cores).
fn device_count(kind: BackendKind) -> Result<usize, BackendError> {
    let count = |f: fn() -> usize| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let n = std::panic::catch_unwind(f);
        std::panic::set_hook(hook);
        n.map_err(|_| BackendError::Unavailable {
            backend: kind,
            message: "the backend could not count its devices".into(),
        })
    };
    match kind {
        BackendKind::Cpu | BackendKind::Ndarray => {
            Ok(std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
        BackendKind::Wgpu => count(|| {
            use burn::backend::wgpu::WgpuDevice;
            use burn::tensor::backend::Device as _;
            let type_id = WgpuDevice::DiscreteGpu(0).to_id().type_id;
            <burn::backend::Wgpu as Backend>::device_count(type_id)
        }),
        BackendKind::Cuda => cuda_device_count(kind, count),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device_count(
    _kind: BackendKind,
    count: impl Fn(fn() -> usize) -> Result<usize, BackendError>,
) -> Result<usize, BackendError> {
    use burn::tensor::backend::Device as _;
    count(|| {
        let type_id = burn::backend::cuda::CudaDevice::new(0).to_id().type_id;
        <burn::backend::Cuda as Backend>::device_count(type_id)
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device_count(
    _kind: BackendKind,
    _count: impl Fn(fn() -> usize) -> Result<usize, BackendError>,
) -> Result<usize, BackendError> {
    Err(BackendError::CudaNotBuilt)
}

/// Runs `task` on the devices `indices` of backend `kind` (checked by
/// [`check_devices`] first; each device is probed).
pub fn dispatch_devices<T: DevicesTask>(
    kind: BackendKind,
    indices: &[usize],
    task: T,
) -> Result<T::Output, BackendError> {
    check_devices(kind, indices)?;
    let single = indices.len() == 1;
    match kind {
        BackendKind::Cpu => {
            Ok(task.run::<burn::backend::Flex>(vec![Default::default(); indices.len()]))
        }
        BackendKind::Ndarray => {
            Ok(task.run::<burn::backend::NdArray>(vec![Default::default(); indices.len()]))
        }
        BackendKind::Wgpu => {
            use burn::backend::wgpu::WgpuDevice;
            let devices: Vec<WgpuDevice> = indices
                .iter()
                .map(|&i| match (single, i) {
                    // Alone, index 0 means "the best device wgpu finds" and
                    // i the (i-1)-th discrete GPU; in a list, i is the i-th
                    // discrete GPU (two indices must be two devices).
                    (true, 0) => WgpuDevice::DefaultDevice,
                    (true, i) => WgpuDevice::DiscreteGpu(i - 1),
                    (false, i) => WgpuDevice::DiscreteGpu(i),
                })
                .collect();
            for d in &devices {
                probe::<burn::backend::Wgpu>(kind, d)?;
            }
            Ok(task.run::<burn::backend::Wgpu>(devices))
        }
        BackendKind::Cuda => run_cuda_devices(indices, task),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda_devices<T: DevicesTask>(indices: &[usize], task: T) -> Result<T::Output, BackendError> {
    use burn::backend::cuda::CudaDevice;
    let devices: Vec<CudaDevice> = indices.iter().map(|&i| CudaDevice::new(i)).collect();
    for d in &devices {
        probe::<burn::backend::Cuda>(BackendKind::Cuda, d)?;
    }
    Ok(task.run::<burn::backend::Cuda>(devices))
}

#[cfg(not(feature = "cuda"))]
fn run_cuda_devices<T: DevicesTask>(
    _indices: &[usize],
    _task: T,
) -> Result<T::Output, BackendError> {
    Err(BackendError::CudaNotBuilt)
}

/// Runs `task` on the chosen backend and device index.
pub fn dispatch<T: BackendTask>(
    kind: BackendKind,
    device_index: usize,
    task: T,
) -> Result<T::Output, BackendError> {
    match kind {
        BackendKind::Cpu => Ok(task.run::<burn::backend::Flex>(Default::default())),
        BackendKind::Ndarray => Ok(task.run::<burn::backend::NdArray>(Default::default())),
        BackendKind::Wgpu => {
            use burn::backend::wgpu::WgpuDevice;
            // Index 0 means "the best device wgpu finds"; others pick the
            // n-th discrete GPU.
            let device = match device_index {
                0 => WgpuDevice::DefaultDevice,
                i => WgpuDevice::DiscreteGpu(i - 1),
            };
            probe::<burn::backend::Wgpu>(kind, &device)?;
            Ok(task.run::<burn::backend::Wgpu>(device))
        }
        BackendKind::Cuda => run_cuda(device_index, task),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda<T: BackendTask>(index: usize, task: T) -> Result<T::Output, BackendError> {
    use burn::backend::cuda::CudaDevice;
    let device = CudaDevice::new(index);
    probe::<burn::backend::Cuda>(BackendKind::Cuda, &device)?;
    Ok(task.run::<burn::backend::Cuda>(device))
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: BackendTask>(_index: usize, _task: T) -> Result<T::Output, BackendError> {
    Err(BackendError::CudaNotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.to_string().parse::<BackendKind>(), Ok(kind));
        }
        assert!("tpu".parse::<BackendKind>().is_err());
    }
}
