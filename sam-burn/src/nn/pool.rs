//! Pooling built from reshape and reductions.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

/// Global average pooling: the mean over height and width.
///
/// Same values as `adaptive_avg_pool2d(x, [1, 1])` flattened, but twice
/// differentiable.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - output: `[batch, channels]`
pub fn global_avg_pool2d<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

/// Splits `x` into `kernel x kernel` windows as `[n*c*ho, k, wo, k]`, dropping
/// trailing rows/columns that do not fill a window (PyTorch's floor mode).
fn windows<B: Backend>(x: Tensor<B, 4>, kernel: usize) -> (Tensor<B, 4>, [usize; 4]) {
    let k = kernel.max(1);
    let [n, c, h, w] = x.dims();
    let (ho, wo) = (h / k, w / k);
    let x = if ho * k != h || wo * k != w {
        x.slice([0..n, 0..c, 0..ho * k, 0..wo * k])
    } else {
        x
    };
    (x.reshape([n * c * ho, k, wo, k]), [n, c, ho, wo])
}

/// Average pooling with a square `kernel` and stride equal to the kernel, no
/// padding (floor mode: incomplete windows are dropped). A kernel of 0 is
/// treated as 1.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - output: `[batch, channels, height / kernel, width / kernel]`
pub fn avg_pool2d<B: Backend>(x: Tensor<B, 4>, kernel: usize) -> Tensor<B, 4> {
    let (x, out) = windows(x, kernel);
    x.mean_dim(3).mean_dim(1).reshape(out)
}

/// Max pooling with a square `kernel` and stride equal to the kernel, no
/// padding (floor mode). A kernel of 0 is treated as 1.
///
/// The gradient flows to the maximum of each window (the first one on
/// ties), like Burn's `max_pool2d`; the function is piecewise linear, so its
/// Hessian is zero almost everywhere but its presence changes the Hessian of
/// the layers around it.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - output: `[batch, channels, height / kernel, width / kernel]`
pub fn max_pool2d<B: Backend>(x: Tensor<B, 4>, kernel: usize) -> Tensor<B, 4> {
    let (x, out) = windows(x, kernel);
    x.max_dim(3).max_dim(1).reshape(out)
}

/// Configuration of [`AvgPool2d`] and [`MaxPool2d`] (square kernel, stride =
/// kernel, no padding).
#[derive(Config, Debug)]
pub struct Pool2dConfig {
    /// Kernel size and stride (0 is treated as 1).
    #[config(default = 2)]
    pub kernel_size: usize,
}

impl Pool2dConfig {
    /// An average-pooling layer.
    pub fn init_avg(&self) -> AvgPool2d {
        AvgPool2d {
            kernel_size: self.kernel_size.max(1),
        }
    }

    /// A max-pooling layer.
    pub fn init_max(&self) -> MaxPool2d {
        MaxPool2d {
            kernel_size: self.kernel_size.max(1),
        }
    }
}

/// Average pooling layer ([`avg_pool2d`]); create it with [`Pool2dConfig::init_avg`].
#[derive(Module, Clone, Debug)]
pub struct AvgPool2d {
    /// Kernel size and stride.
    pub kernel_size: usize,
}

impl AvgPool2d {
    /// Applies [`avg_pool2d`].
    pub fn forward<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        avg_pool2d(x, self.kernel_size)
    }
}

/// Max pooling layer ([`max_pool2d`]); create it with [`Pool2dConfig::init_max`].
#[derive(Module, Clone, Debug)]
pub struct MaxPool2d {
    /// Kernel size and stride.
    pub kernel_size: usize,
}

impl MaxPool2d {
    /// Applies [`max_pool2d`].
    pub fn forward<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        max_pool2d(x, self.kernel_size)
    }
}

/// Global average pooling layer ([`global_avg_pool2d`]).
#[derive(Module, Clone, Debug, Default)]
pub struct GlobalAvgPool2d;

impl GlobalAvgPool2d {
    /// A new layer.
    pub fn new() -> Self {
        Self
    }

    /// Applies [`global_avg_pool2d`].
    pub fn forward<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        global_avg_pool2d(x)
    }
}
