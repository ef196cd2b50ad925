//! `sam-core`'s analytic problems written as Burn modules and closures, so
//! a backend's tensors can be checked against the f64 reference.
//!
//! The losses contract with broadcast products and sums, not `matmul`: GPU
//! matmuls may round their inputs to TF32 (CubeCL's CUDA kernels do), which
//! is a property of the model's layers, not of the optimizer under test,
//! and would hide an optimizer error of the same size. `usam selftest`
//! measures the matmul precision on its own line.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};

/// `L(w) = 1/2 (w - w*)' A (w - w*) + c` with one parameter tensor.
#[derive(Module, Debug)]
pub struct QuadraticModel<B: Backend> {
    /// The weights.
    pub w: Param<Tensor<B, 1>>,
}

/// The data of a quadratic, on a device.
#[derive(Clone)]
pub struct QuadraticData<B: Backend> {
    /// The matrix `A`.
    pub a: Tensor<B, 2>,
    /// The stationary point `w*`.
    pub minimiser: Tensor<B, 1>,
    /// The value `c` at `w*`.
    pub offset: f64,
}

/// A rank-1 tensor from f64 values, in the device's float type (rounded
/// to f32 on f32 backends, exact on f64 ones).
pub fn tensor1<B: Backend>(v: &[f64], device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device)
}

/// A row-major rank-2 tensor from f64 values, in the device's float type.
pub fn tensor2<B: Backend>(
    v: &[f64],
    rows: usize,
    cols: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [rows, cols]), device)
}

/// A tensor's values as f64 (exact from f32 and f64 tensors).
pub fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 data")
}

impl<B: Backend> QuadraticData<B> {
    /// Uploads `A`, `w*` and `c`.
    pub fn new(a: &[f64], minimiser: &[f64], offset: f64, device: &B::Device) -> Self {
        let d = minimiser.len();
        Self {
            a: tensor2(a, d, d, device),
            minimiser: tensor1(minimiser, device),
            offset,
        }
    }

    /// A model at `w`.
    pub fn model(&self, w: &[f64], device: &B::Device) -> QuadraticModel<B> {
        QuadraticModel {
            w: Param::from_tensor(tensor1(w, device)),
        }
    }

    /// The loss of `m`.
    pub fn loss(&self, m: &QuadraticModel<B>) -> Tensor<B, 1> {
        let r = m.w.val() - self.minimiser.clone();
        let ar = (self.a.clone() * r.clone().unsqueeze_dim::<2>(0)).sum_dim(1);
        (ar.squeeze_dim::<1>(1) * r)
            .sum()
            .mul_scalar(0.5)
            .add_scalar(self.offset)
    }
}

/// The closure every optimizer test hands to `step`.
pub fn loss_and_grads<B: AutodiffBackend, M: burn::module::AutodiffModule<B>>(
    model: &M,
    loss: Tensor<B, 1>,
) -> (f64, GradientsParams) {
    let value = loss.clone().into_scalar().elem::<f64>();
    (value, GradientsParams::from_grads(loss.backward(), model))
}

/// `f(x) = w2 . tanh(W1 x + b1) + b2`, mean squared error, parameters in
/// sam-core's `TanhNet` layout order `[W1 (h x p), b1, w2, b2]`.
#[derive(Module, Debug)]
pub struct TanhModel<B: Backend> {
    /// First layer, `h x p`.
    pub w1: Param<Tensor<B, 2>>,
    /// First bias.
    pub b1: Param<Tensor<B, 1>>,
    /// Output weights.
    pub w2: Param<Tensor<B, 1>>,
    /// Output bias.
    pub b2: Param<Tensor<B, 1>>,
}

/// Inputs `[N, p]` and targets `[N]`.
#[derive(Clone)]
pub struct TanhData<B: Backend> {
    /// Inputs `[N, p]`.
    pub x: Tensor<B, 2>,
    /// Targets `[N]`.
    pub y: Tensor<B, 1>,
    /// Hidden units `h`.
    pub hidden: usize,
    /// Input features `p`.
    pub inputs: usize,
}

impl<B: Backend> TanhData<B> {
    /// Uploads the data of `net`.
    pub fn new(net: &sam_core::problems::TanhNet, device: &B::Device) -> Self {
        let (samples, inputs, hidden) = net.shape();
        Self {
            x: tensor2(net.inputs(), samples, inputs, device),
            y: tensor1(net.targets(), device),
            hidden,
            inputs,
        }
    }

    /// A model at `w` (sam-core's layout).
    pub fn model(&self, w: &[f64], device: &B::Device) -> TanhModel<B> {
        let (h, p) = (self.hidden, self.inputs);
        TanhModel {
            w1: Param::from_tensor(tensor2(&w[..h * p], h, p, device)),
            b1: Param::from_tensor(tensor1(&w[h * p..h * p + h], device)),
            w2: Param::from_tensor(tensor1(&w[h * p + h..h * p + 2 * h], device)),
            b2: Param::from_tensor(tensor1(&w[h * p + 2 * h..], device)),
        }
    }

    /// The mean squared error of `m`.
    pub fn loss(&self, m: &TanhModel<B>) -> Tensor<B, 1> {
        // [N, 1, p] * [1, h, p] summed over p: x W1'.
        let z = (self.x.clone().unsqueeze_dim::<3>(1) * m.w1.val().unsqueeze_dim::<3>(0))
            .sum_dim(2)
            .squeeze_dim::<2>(2)
            + m.b1.val().unsqueeze_dim(0);
        let out = (z.tanh() * m.w2.val().unsqueeze_dim(0))
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            + m.b2.val();
        (out - self.y.clone()).square().mean()
    }

    /// Example `k`'s squared error alone (sam-core's
    /// `TanhNet::example_gradient` is its gradient): the per-example loss
    /// SSAM's Fisher scores are made of.
    pub fn example_loss(&self, m: &TanhModel<B>, k: usize) -> Tensor<B, 1> {
        let one = Self {
            x: self.x.clone().narrow(0, k, 1),
            y: self.y.clone().narrow(0, k, 1),
            hidden: self.hidden,
            inputs: self.inputs,
        };
        one.loss(m)
    }
}

impl<B: Backend> TanhModel<B> {
    /// The weights in sam-core's layout.
    pub fn flat(&self) -> Vec<f64> {
        let mut v = to_vec(self.w1.val());
        v.extend(to_vec(self.b1.val()));
        v.extend(to_vec(self.w2.val()));
        v.extend(to_vec(self.b2.val()));
        v
    }
}
