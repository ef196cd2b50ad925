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
    /// The backend found no usable device.
    #[error("the {backend} backend has no usable device here: {message}")]
    Unavailable {
        /// The backend.
        backend: BackendKind,
        /// What the backend reported.
        message: String,
    },
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
