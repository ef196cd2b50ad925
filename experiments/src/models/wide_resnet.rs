//! WideResNet (Zagoruyko & Komodakis 2016), as in the common
//! `xternalz/WideResNet-pytorch` code the SAM papers train.

use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use sam_burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, global_avg_pool2d};

use super::{ModelError, check_common, check_size, check_width, conv, image_model_methods, mul};

/// Configuration of [`WideResNet`] WRN-`depth`-`k`: a 3x3 stem convolution
/// with `b` channels, three groups of `n = (depth - 4) / 6` pre-activation
/// [`WideBasicBlock`]s with `b k, 2 b k, 4 b k` channels (stride 2 from the
/// second group on), batch norm and ReLU, global average pooling, a linear
/// head.
///
/// The defaults are WRN-28-10 (`b = 16`): 36,479,194 parameters for 10
/// classes. Convolutions have no bias and are initialised as in the
/// reference (Kaiming normal, fan-out, gain `sqrt 2`).
#[derive(Config, Debug)]
pub struct WideResNetConfig {
    /// Image channels (at least 1).
    pub in_channels: usize,
    /// Image height (and width unless `image_width` is set): a positive multiple of 4 (two stride-2 groups).
    pub image_size: usize,
    /// Image width, when it differs from `image_size` (the height); the
    /// same requirement applies.
    pub image_width: Option<usize>,
    /// Number of classes (at least 2).
    pub num_classes: usize,
    /// Depth `6n + 4` with `n >= 1`. Default 28.
    #[config(default = 28)]
    pub depth: usize,
    /// Widening factor `k >= 1`. Default 10.
    #[config(default = 10)]
    pub widen_factor: usize,
    /// Dropout probability between the two convolutions of each block, in
    /// `[0, 1)`; active only on autodiff backends (training, and the
    /// Hessian's nested autodiff: there each product then sees a fresh
    /// mask). Default 0.0.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Channels of the stem `b`. Default 16.
    #[config(default = 16)]
    pub base_width: usize,
}

impl WideResNetConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.checked().map(|_| ())
    }

    /// Checks the configuration; returns the blocks per group.
    fn checked(&self) -> Result<usize, ModelError> {
        check_common(self.num_classes, self.in_channels)?;
        if self.depth < 10 || !(self.depth - 4).is_multiple_of(6) {
            return Err(ModelError::InvalidConfig {
                model: "wide-resnet",
                reason: format!("depth must be 6n + 4 with n >= 1, got {}", self.depth),
            });
        }
        check_width("wide-resnet", "widen_factor", self.widen_factor)?;
        check_width("wide-resnet", "base_width", self.base_width)?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::InvalidConfig {
                model: "wide-resnet",
                reason: format!("dropout must lie in [0, 1), got {}", self.dropout),
            });
        }
        let widest = mul(
            "wide-resnet",
            "base_width x widen_factor",
            self.base_width,
            self.widen_factor,
        )?;
        mul("wide-resnet", "widest group", widest, 4)?;
        check_size(
            "wide-resnet",
            self.image_size,
            self.image_width.unwrap_or(self.image_size),
            4,
            "two stride-2 groups",
        )?;
        Ok((self.depth - 4) / 6)
    }

    /// Builds the network on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<WideResNet<B>, ModelError> {
        let n = self.checked()?;
        let b = self.base_width;
        let k = self.widen_factor;
        let mut blocks = Vec::with_capacity(3 * n);
        let mut channels = b;
        for (group, width) in [b * k, 2 * b * k, 4 * b * k].into_iter().enumerate() {
            for i in 0..n {
                let stride = if group > 0 && i == 0 { 2 } else { 1 };
                blocks.push(WideBasicBlock::new(
                    channels,
                    width,
                    stride,
                    self.dropout,
                    device,
                ));
                channels = width;
            }
        }
        Ok(WideResNet {
            stem: conv(
                [self.in_channels, b],
                3,
                1,
                false,
                Some(kaiming_fan_out()),
                device,
            ),
            blocks,
            bn: BatchNormConfig::new(channels).init(device),
            head: LinearConfig::new(channels, self.num_classes).init(device),
            in_channels: self.in_channels,
            image_size: self.image_size,
            image_width: self.image_width.unwrap_or(self.image_size),
        })
    }
}

/// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, the reference's
/// convolution initialisation.
fn kaiming_fan_out() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: true,
    }
}

/// A pre-activation wide block:
/// `conv2(dropout(relu(bn2(conv1(a))))) + skip`, with `a = relu(bn1(x))`
/// and `skip = x` when the shape is kept, `skip = shortcut(a)` (1x1
/// convolution, no batch norm) when it changes, as in the reference.
#[derive(Module, Debug)]
pub struct WideBasicBlock<B: Backend> {
    /// Batch norm on the block's input.
    pub bn1: BatchNorm<B>,
    /// 3x3, carries the block's stride.
    pub conv1: Conv2d<B>,
    /// Batch norm after `conv1`.
    pub bn2: BatchNorm<B>,
    /// Dropout before `conv2`.
    pub dropout: Dropout,
    /// 3x3, stride 1.
    pub conv2: Conv2d<B>,
    /// 1x1 projection when the stride or the width changes.
    pub shortcut: Option<Conv2d<B>>,
}

impl<B: Backend> WideBasicBlock<B> {
    /// A block `cin -> cout` with the given stride and dropout probability.
    pub(crate) fn new(
        cin: usize,
        cout: usize,
        stride: usize,
        dropout: f64,
        device: &B::Device,
    ) -> Self {
        let init = || Some(kaiming_fan_out());
        Self {
            bn1: BatchNormConfig::new(cin).init(device),
            conv1: conv([cin, cout], 3, stride, false, init(), device),
            bn2: BatchNormConfig::new(cout).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            conv2: conv([cout, cout], 3, 1, false, init(), device),
            shortcut: (stride != 1 || cin != cout)
                .then(|| conv([cin, cout], 1, stride, false, init(), device)),
        }
    }

    /// Applies the block.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = relu(self.bn1.forward(x.clone()));
        let out = relu(self.bn2.forward(self.conv1.forward(a.clone())));
        let out = self.conv2.forward(self.dropout.forward(out));
        let skip = match &self.shortcut {
            Some(conv) => conv.forward(a),
            None => x,
        };
        out + skip
    }
}

/// WideResNet; see [`WideResNetConfig`].
#[derive(Module, Debug)]
pub struct WideResNet<B: Backend> {
    /// 3x3 stem convolution, no bias.
    pub stem: Conv2d<B>,
    /// Every block of the three groups, in order.
    pub blocks: Vec<WideBasicBlock<B>>,
    /// Final batch norm (followed by ReLU).
    pub bn: BatchNorm<B>,
    /// Linear head after global average pooling.
    pub head: Linear<B>,
    /// Expected image channels.
    pub in_channels: usize,
    /// Expected image height.
    pub image_size: usize,
    /// Expected image width.
    pub image_width: usize,
}

impl<B: Backend> WideResNet<B> {
    /// Class logits.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, image_size, image_width]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = self.stem.forward(images);
        for block in &self.blocks {
            x = block.forward(x);
        }
        // Global average pooling = the reference's avg_pool2d(8) on 32x32 inputs.
        self.head
            .forward(global_avg_pool2d(relu(self.bn.forward(x))))
    }

    image_model_methods!("wide-resnet");

    /// The architecture in a few words.
    pub fn describe(&self) -> String {
        let depth = 6 * self.blocks.len() / 3 + 4;
        let stem = self.stem.weight.dims()[0];
        let first = self
            .blocks
            .first()
            .map_or(stem, |b| b.conv1.weight.dims()[0]);
        let dropout = self.blocks.first().map_or(0.0, |b| b.dropout.prob);
        format!(
            "wrn-{depth}-{} (stem {stem}, groups {}-{}-{}, dropout {dropout}) on {}x{}x{}, {} classes",
            first / stem,
            first,
            2 * first,
            4 * first,
            self.in_channels,
            self.image_size,
            self.image_width,
            self.num_classes()
        )
    }
}
