//! Shared helpers of the Hessian and nn tests: small models, host data,
//! dense linear algebra (nalgebra) and the per-backend test macro.
#![allow(dead_code)]

#[macro_use]
pub mod hessian_checks;
pub mod nn_checks;

use std::sync::OnceLock;

use burn::module::{Module, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use sam_core::rng::SplitMix64;

/// Deterministic host numbers (SplitMix64 -> uniform / normal).
pub struct HostRng(SplitMix64);

impl HostRng {
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    pub fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }
    pub fn normal(&mut self) -> f64 {
        self.0.normal()
    }
    pub fn normals(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| scale * self.normal()).collect()
    }
}

/// Whether `B` computes in double precision (tolerances depend on it).
pub fn is_f64<B: Backend>() -> bool {
    std::mem::size_of::<burn::tensor::ops::FloatElem<B>>() == 8
}

/// `f32` or `f64` depending on the backend's precision.
pub fn by_precision<B: Backend>(f32: f64, f64: f64) -> f64 {
    if is_f64::<B>() { f64 } else { f32 }
}

/// `cpu` on the CPU backends, `wgpu` on wgpu: lavapipe runs the GPU kernels
/// on the CPU at ~40 ms per HVP of the test models, so the stochastic checks
/// use fewer probes there (the three-standard-error criterion is valid for
/// any number of probes).
pub fn budget<B: Backend>(cpu: usize, wgpu: usize) -> usize {
    // Burn's own backend name, e.g. `fusion<cubecl<wgpu<wgsl>>>`.
    if B::name(&Default::default()).contains("wgpu") {
        wgpu
    } else {
        cpu
    }
}

pub fn tensor<B: Backend, const D: usize>(
    values: &[f64],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    // f64 data: converted to the backend's float type on upload.
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

pub fn param<B: Backend, const D: usize>(
    values: &[f64],
    shape: [usize; D],
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    Param::from_tensor(tensor(values, shape, device))
}

pub fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// Eigenvalues of a symmetric row-major matrix, ascending (nalgebra).
pub fn sym_eigenvalues(h: &[f64], n: usize) -> Vec<f64> {
    let m = nalgebra::DMatrix::from_row_slice(n, n, h);
    let m = (&m + m.transpose()) * 0.5;
    let mut e: Vec<f64> = m.symmetric_eigen().eigenvalues.iter().copied().collect();
    e.sort_by(f64::total_cmp);
    e
}

pub fn max_abs(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |a, b| a.max(b.abs()))
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

pub fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

pub fn matvec(h: &[f64], v: &[f64]) -> Vec<f64> {
    let n = v.len();
    (0..n)
        .map(|i| (0..n).map(|j| h[i * n + j] * v[j]).sum())
        .collect()
}

/// The 2-layer tanh regression net of `sam_core::problems::TanhNet`, with
/// the same parameter layout: `W1` (`h x p`, row-major), `b1`, `w2`, `b2`;
/// `f(x) = w2 . tanh(W1 x + b1) + b2`, loss `mean (f(x) - y)^2`.
#[derive(Module, Debug)]
pub struct TanhNet<B: Backend> {
    pub w1: Param<Tensor<B, 2>>,
    pub b1: Param<Tensor<B, 1>>,
    pub w2: Param<Tensor<B, 1>>,
    pub b2: Param<Tensor<B, 1>>,
}

/// `sam_core::problems::TanhNet` (data, point and exact Hessian) with its
/// Burn counterpart.
#[derive(Clone, Debug)]
pub struct TanhProblem {
    pub problem: sam_core::problems::TanhNet,
    pub p: usize,
    pub h: usize,
    pub n: usize,
    /// The point: sam-core's starting point.
    pub w: Vec<f64>,
}

impl TanhProblem {
    pub fn new(seed: u64, n: usize, p: usize, h: usize) -> Self {
        use sam_core::problems::Problem;
        let problem = sam_core::problems::TanhNet::new(seed, n, p, h).unwrap();
        let w = problem.initial_point();
        Self {
            problem,
            p,
            h,
            n,
            w,
        }
    }

    pub fn dim(&self) -> usize {
        sam_core::problems::Problem::dim(&self.problem)
    }

    /// The Burn module at the point, in sam-core's layout.
    pub fn model<B: Backend>(&self, device: &B::Device) -> TanhNet<B> {
        let (h, p) = (self.h, self.p);
        let w = &self.w;
        TanhNet {
            w1: param(&w[..h * p], [h, p], device),
            b1: param(&w[h * p..h * p + h], [h], device),
            w2: param(&w[h * p + h..h * p + 2 * h], [h], device),
            b2: param(&w[h * p + 2 * h..], [1], device),
        }
    }

    /// sam-core's exact Hessian at the point.
    pub fn hessian(&self) -> Vec<f64> {
        use sam_core::problems::Problem;
        self.problem.hessian(&self.w)
    }
}

impl<B: Backend> TanhNet<B> {
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let [n, _] = x.dims();
        let z = x.matmul(self.w1.val().transpose()) + self.b1.val().unsqueeze_dim(0);
        let out = z.tanh().matmul(self.w2.val().unsqueeze_dim(1)) + self.b2.val().unsqueeze_dim(0);
        out.reshape([n])
    }

    pub fn loss(&self, x: Tensor<B, 2>, y: Tensor<B, 1>) -> Tensor<B, 1> {
        (self.forward(x) - y).powi_scalar(2).mean()
    }
}

/// Lifts a [`TanhProblem`]'s data to the HVP backend of `AB`.
pub fn tanh_data<AB: AutodiffBackend>(
    prob: &TanhProblem,
    device: &AB::Device,
) -> (Tensor<AB::InnerBackend, 2>, Tensor<AB::InnerBackend, 1>) {
    (
        tensor(prob.problem.inputs(), [prob.n, prob.p], device),
        tensor(prob.problem.targets(), [prob.n], device),
    )
}

/// A small tanh MLP from the HVP-safe blocks, with cross-entropy loss and
/// optional weight decay.
#[derive(Module, Debug)]
pub struct SmallMlp<B: Backend> {
    pub l1: sam_burn::nn::Linear<B>,
    pub l2: sam_burn::nn::Linear<B>,
}

impl<B: Backend> SmallMlp<B> {
    pub fn new(sizes: [usize; 3], seed: u64, device: &B::Device) -> Self {
        let mut rng = HostRng::new(seed);
        let mut linear = |i: usize, o: usize| sam_burn::nn::Linear {
            weight: param(&rng.normals(i * o, 0.8), [i, o], device),
            bias: Some(param(&rng.normals(o, 0.3), [o], device)),
        };
        Self {
            l1: linear(sizes[0], sizes[1]),
            l2: linear(sizes[1], sizes[2]),
        }
    }

    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.l2.forward(self.l1.forward(x).tanh())
    }

    /// Mean cross-entropy plus `decay/2 * ||w||^2`.
    pub fn loss(
        &self,
        x: Tensor<B, 2>,
        y: Tensor<B, 1, burn::tensor::Int>,
        decay: f64,
    ) -> Tensor<B, 1> {
        let logits = self.forward(x);
        let ce = burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, y);
        if decay == 0.0 {
            return ce;
        }
        let sq = [
            self.l1.weight.val().powi_scalar(2).sum(),
            self.l1.bias.as_ref().unwrap().val().powi_scalar(2).sum(),
            self.l2.weight.val().powi_scalar(2).sum(),
            self.l2.bias.as_ref().unwrap().val().powi_scalar(2).sum(),
        ]
        .into_iter()
        .reduce(|a, b| a + b)
        .unwrap();
        ce + sq.mul_scalar(decay / 2.0)
    }
}

/// Classification data on the plain backend.
pub fn class_data<B: Backend>(
    seed: u64,
    n: usize,
    p: usize,
    classes: usize,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 1, burn::tensor::Int>) {
    let mut rng = HostRng::new(seed);
    let x = tensor(&rng.normals(n * p, 1.0), [n, p], device);
    let y: Vec<i64> = (0..n)
        .map(|_| (rng.next_u64() % classes as u64) as i64)
        .collect();
    let y = Tensor::from_data(TensorData::new(y, [n]), device);
    (x, y)
}

/// Whether the wgpu tests run, decided once per test binary by
/// `USAM_WGPU_TESTS` through `sam_burn::check::Gate`: `1` requires them
/// (panics without an adapter, as CI wants), `0` skips them, unset or
/// `auto` runs them when a wgpu adapter can be created (Mesa's lavapipe
/// counts) and says why otherwise.
pub fn wgpu_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        let probe = || {
            std::panic::catch_unwind(|| {
                let device = burn::backend::wgpu::WgpuDevice::default();
                Tensor::<burn::backend::Wgpu, 1>::from_floats([1.0, 2.0], &device)
                    .sum()
                    .into_data()
            })
            .is_ok()
        };
        sam_burn::check::Gate::decide("USAM_WGPU_TESTS", "a wgpu adapter", probe)
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Tests per backend. `f32;` instantiates each `cpu` check on NdArray and
/// Flex, and each `all` check on wgpu too (gated by [`wgpu_enabled`]);
/// `f64;` instantiates the listed checks on NdArray<f64>. Burn keys default
/// dtypes by device, so f32 and f64 NdArray must run in separate test
/// binaries (processes).
#[macro_export]
macro_rules! hessian_tests {
    (f32; cpu: [$($cpu:ident),* $(,)?], all: [$($all:ident),* $(,)?] $(,)?) => {
        mod ndarray {
            type AB = burn::backend::Autodiff<burn::backend::NdArray>;
            $(#[test] fn $cpu() { super::$cpu::<AB>(&Default::default()); })*
            $(#[test] fn $all() { super::$all::<AB>(&Default::default()); })*
        }
        mod flex {
            type AB = burn::backend::Autodiff<burn::backend::Flex>;
            $(#[test] fn $cpu() { super::$cpu::<AB>(&Default::default()); })*
            $(#[test] fn $all() { super::$all::<AB>(&Default::default()); })*
        }
        mod wgpu {
            type AB = burn::backend::Autodiff<burn::backend::Wgpu>;
            $(#[test] fn $all() {
                if $crate::hessian_util::wgpu_enabled() {
                    super::$all::<AB>(&Default::default());
                }
            })*
        }
    };
    (f64; [$($check:ident),* $(,)?] $(,)?) => {
        mod ndarray_f64 {
            type AB = burn::backend::Autodiff<burn::backend::NdArray<f64>>;
            $(#[test] fn $check() { super::$check::<AB>(&Default::default()); })*
        }
    };
}

/// Replaces every trainable parameter of `module` by `scale * N(0, 1) +
/// shift` host draws, keeping ids: deterministic models on every backend
/// (Burn's initialisers use each backend's own generator).
pub fn reinit<B: Backend, M: Module<B>>(module: M, seed: u64, scale: f64, shift: f64) -> M {
    struct Mapper {
        rng: HostRng,
        scale: f64,
        shift: f64,
    }
    impl<B: Backend> burn::module::ModuleMapper<B> for Mapper {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, value, mapper) = param.consume();
            if !value.is_require_grad() {
                return Param::from_mapped_value(id, value, mapper);
            }
            let dims = value.dims();
            let n = dims.iter().product();
            let values: Vec<f64> = self
                .rng
                .normals(n, self.scale)
                .iter()
                .map(|x| x + self.shift)
                .collect();
            let fresh = tensor::<B, D>(&values, dims, &value.device()).require_grad();
            Param::from_mapped_value(id, fresh, mapper)
        }
    }
    module.map(&mut Mapper {
        rng: HostRng::new(seed),
        scale,
        shift,
    })
}
