//! A small convolutional network.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use sam_burn::nn::{Linear, LinearConfig, MaxPool2d, Pool2dConfig};

use super::{ModelError, check_common, check_size, check_width, conv, image_model_methods, mul};

/// Configuration of [`Cnn`]:
/// `conv3x3(w)-relu-maxpool2-conv3x3(2w)-relu-maxpool2-linear(4w)-relu-linear(classes)`.
///
/// With the default `w = 32`: 421,642 parameters on 1x28x28 images with 10
/// classes, 545,098 on 3x32x32.
#[derive(Config, Debug)]
pub struct CnnConfig {
    /// Image channels (at least 1).
    pub in_channels: usize,
    /// Image height (and width unless `image_width` is set): a positive
    /// multiple of 4 (two 2x2 poolings).
    pub image_size: usize,
    /// Image width, when it differs from `image_size` (the height); the
    /// same requirement applies.
    pub image_width: Option<usize>,
    /// Number of classes (at least 2).
    pub num_classes: usize,
    /// Channels of the first convolution `w`; the second has `2w`, the
    /// hidden linear layer `4w` units. Default 32.
    #[config(default = 32)]
    pub width: usize,
}

impl CnnConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.checked().map(|_| ())
    }

    /// Checks the configuration; returns the flattened feature count after
    /// the second pooling.
    fn checked(&self) -> Result<usize, ModelError> {
        check_common(self.num_classes, self.in_channels)?;
        let (height, width) = (self.image_size, self.image_width.unwrap_or(self.image_size));
        check_size("cnn", height, width, 4, "two 2x2 max-poolings")?;
        check_width("cnn", "width", self.width)?;
        // 4w is the widest layer: checking it checks 2w too.
        let channels = mul("cnn", "4 x width", self.width, 4)? / 2;
        mul(
            "cnn",
            "flattened features",
            channels,
            mul("cnn", "image area", height / 4, width / 4)?,
        )
    }

    /// Builds the CNN on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Cnn<B>, ModelError> {
        let features = self.checked()?;
        let w = self.width;
        let pool = Pool2dConfig::new().with_kernel_size(2);
        Ok(Cnn {
            conv1: conv([self.in_channels, w], 3, 1, true, None, device),
            pool1: pool.init_max(),
            conv2: conv([w, 2 * w], 3, 1, true, None, device),
            pool2: pool.init_max(),
            fc: LinearConfig::new(features, 4 * w).init(device),
            head: LinearConfig::new(4 * w, self.num_classes).init(device),
            in_channels: self.in_channels,
            image_size: self.image_size,
            image_width: self.image_width.unwrap_or(self.image_size),
        })
    }
}

/// A small CNN with max-pooling from [`sam_burn::nn`] (twice
/// differentiable, unlike Burn's); see [`CnnConfig`].
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    /// `in_channels -> w`, 3x3, same padding, with bias.
    pub conv1: Conv2d<B>,
    /// 2x2 max-pooling.
    pub pool1: MaxPool2d,
    /// `w -> 2w`, 3x3, same padding, with bias.
    pub conv2: Conv2d<B>,
    /// 2x2 max-pooling.
    pub pool2: MaxPool2d,
    /// Flattened features `-> 4w`.
    pub fc: Linear<B>,
    /// `4w -> num_classes`.
    pub head: Linear<B>,
    /// Expected image channels.
    pub in_channels: usize,
    /// Expected image height.
    pub image_size: usize,
    /// Expected image width.
    pub image_width: usize,
}

impl<B: Backend> Cnn<B> {
    /// Class logits.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, image_size, image_width]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self.pool1.forward(relu(self.conv1.forward(images)));
        let x = self.pool2.forward(relu(self.conv2.forward(x)));
        let x = relu(self.fc.forward(x.flatten(1, 3)));
        self.head.forward(x)
    }

    image_model_methods!("cnn");

    /// The architecture in a few words.
    pub fn describe(&self) -> String {
        let w = self.conv1.weight.dims()[0];
        format!(
            "cnn conv{w}-pool-conv{}-pool-fc{}-fc{} on {}x{}x{}",
            2 * w,
            4 * w,
            self.num_classes(),
            self.in_channels,
            self.image_size,
            self.image_width
        )
    }
}
