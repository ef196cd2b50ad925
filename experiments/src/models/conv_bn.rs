//! The convolution the image models share: `k x k`, "same" padding, and
//! with batch norm after it ([`ConvBn`]).

use burn::module::{Initializer, Module};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use sam_burn::nn::{BatchNorm, BatchNormConfig};

/// A convolution without bias, then batch norm: VGG's layers (a ReLU
/// follows) and ResNet's projection shortcuts.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    /// `k x k` convolution, "same" padding, no bias.
    pub conv: Conv2d<B>,
    /// Batch norm.
    pub bn: BatchNorm<B>,
}

impl<B: Backend> ConvBn<B> {
    /// `channels[0] -> channels[1]` with a `kernel x kernel` convolution
    /// of the given stride.
    pub(crate) fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        device: &B::Device,
    ) -> Self {
        Self {
            conv: conv(channels, kernel, stride, false, None, device),
            bn: BatchNormConfig::new(channels[1]).init(device),
        }
    }

    /// `bn(conv(x))`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// A `k x k` convolution, "same" padding for odd `k`, with the given stride.
pub(crate) fn conv<B: Backend>(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    bias: bool,
    initializer: Option<Initializer>,
    device: &B::Device,
) -> Conv2d<B> {
    let p = kernel / 2;
    let config = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(bias);
    match initializer {
        Some(init) => config.with_initializer(init),
        None => config,
    }
    .init(device)
}
