//! ResNet, CIFAR variant (He et al. 2016, as in the common
//! `kuangliu/pytorch-cifar` code the SAM papers train).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;

use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use sam_burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, global_avg_pool2d};

use super::{
    ConvBn, ModelError, check_common, check_size, check_width, conv, image_model_methods, mul,
};

/// Configuration of [`ResNet`]: a 3x3 stem convolution (no max-pooling),
/// stages of [`BasicBlock`]s with widths `w, 2w, 4w, ...` (stride 2 from
/// the second stage on), global average pooling, a linear head.
///
/// The defaults are ResNet18: `w = 64`, blocks `[2, 2, 2, 2]`, 11,173,962
/// parameters for 10 classes.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Image channels (at least 1).
    pub in_channels: usize,
    /// Image height (and width unless `image_width` is set): a positive multiple of `2^(stages - 1)` (8
    /// for four stages) so that every stride-2 stage halves the map exactly.
    pub image_size: usize,
    /// Image width, when it differs from `image_size` (the height); the
    /// same requirement applies.
    pub image_width: Option<usize>,
    /// Number of classes (at least 2).
    pub num_classes: usize,
    /// Channels of the stem and first stage. Default 64.
    #[config(default = 64)]
    pub width: usize,
    /// Blocks per stage. Default `[2, 2, 2, 2]` (ResNet18; `[3, 4, 6, 3]`
    /// gives ResNet34).
    #[config(default = "vec![2, 2, 2, 2]")]
    pub blocks: Vec<usize>,
}

impl ResNetConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_common(self.num_classes, self.in_channels)?;
        check_width("resnet", "width", self.width)?;
        if self.blocks.is_empty() || self.blocks.contains(&0) {
            return Err(ModelError::InvalidConfig {
                model: "resnet",
                reason: format!(
                    "blocks must list at least one stage, each with at least one block, got {:?}",
                    self.blocks
                ),
            });
        }
        let halvings = self.blocks.len() - 1;
        let multiple = u32::try_from(halvings)
            .ok()
            .and_then(|h| 2usize.checked_pow(h))
            .ok_or_else(|| ModelError::InvalidConfig {
                model: "resnet",
                reason: format!("{} stages are too many", self.blocks.len()),
            })?;
        mul("resnet", "widest stage", self.width, multiple)?;
        check_size(
            "resnet",
            self.image_size,
            self.image_width.unwrap_or(self.image_size),
            multiple,
            &format!("{halvings} stride-2 stages"),
        )
    }

    /// Builds the network on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<ResNet<B>, ModelError> {
        self.validate()?;
        let mut blocks = Vec::new();
        let mut channels = self.width;
        for (stage, &n) in self.blocks.iter().enumerate() {
            let out = self.width << stage;
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(channels, out, stride, device));
                channels = out;
            }
        }
        Ok(ResNet {
            stem: conv([self.in_channels, self.width], 3, 1, false, None, device),
            stem_bn: BatchNormConfig::new(self.width).init(device),
            blocks,
            head: LinearConfig::new(channels, self.num_classes).init(device),
            in_channels: self.in_channels,
            image_size: self.image_size,
            image_width: self.image_width.unwrap_or(self.image_size),
        })
    }
}

/// The projection shortcut of a [`BasicBlock`] whose shape changes: 1x1
/// convolution (no bias) with the block's stride, then batch norm.
pub type Shortcut<B> = ConvBn<B>;

/// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))` with 3x3
/// convolutions without bias (batch norm follows each).
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    /// 3x3, carries the block's stride.
    pub conv1: Conv2d<B>,
    /// Batch norm after `conv1`.
    pub bn1: BatchNorm<B>,
    /// 3x3, stride 1.
    pub conv2: Conv2d<B>,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm<B>,
    /// Projection when the stride or the width changes, identity otherwise.
    pub shortcut: Option<Shortcut<B>>,
}

impl<B: Backend> BasicBlock<B> {
    /// A block `cin -> cout` with the given stride.
    pub(crate) fn new(cin: usize, cout: usize, stride: usize, device: &B::Device) -> Self {
        let shortcut =
            (stride != 1 || cin != cout).then(|| Shortcut::new([cin, cout], 1, stride, device));
        Self {
            conv1: conv([cin, cout], 3, stride, false, None, device),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv([cout, cout], 3, 1, false, None, device),
            bn2: BatchNormConfig::new(cout).init(device),
            shortcut,
        }
    }

    /// Applies the block.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let out = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let out = self.bn2.forward(self.conv2.forward(out));
        let skip = match &self.shortcut {
            Some(s) => s.forward(x),
            None => x,
        };
        relu(out + skip)
    }
}

/// ResNet for small images; see [`ResNetConfig`].
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    /// 3x3 stem convolution, stride 1, no bias.
    pub stem: Conv2d<B>,
    /// Batch norm after the stem.
    pub stem_bn: BatchNorm<B>,
    /// Every block of every stage, in order.
    pub blocks: Vec<BasicBlock<B>>,
    /// Linear head after global average pooling.
    pub head: Linear<B>,
    /// Expected image channels.
    pub in_channels: usize,
    /// Expected image height.
    pub image_size: usize,
    /// Expected image width.
    pub image_width: usize,
}

impl<B: Backend> ResNet<B> {
    /// Class logits.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, image_size, image_width]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = relu(self.stem_bn.forward(self.stem.forward(images)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        // Global average pooling = kuangliu's avg_pool2d(4) on 32x32 inputs.
        self.head.forward(global_avg_pool2d(x))
    }

    image_model_methods!("resnet");

    /// The architecture in a few words.
    pub fn describe(&self) -> String {
        let mut stages: Vec<(usize, usize)> = Vec::new();
        for block in &self.blocks {
            let width = block.conv1.weight.dims()[0];
            match stages.last_mut() {
                Some((w, n)) if *w == width && block.shortcut.is_none() => *n += 1,
                _ => stages.push((width, 1)),
            }
        }
        let layers = 2 + 2 * self.blocks.len();
        let widths: Vec<String> = stages.iter().map(|(w, _)| w.to_string()).collect();
        let counts: Vec<String> = stages.iter().map(|(_, n)| n.to_string()).collect();
        format!(
            "resnet{layers} (CIFAR variant) widths {} blocks [{}] on {}x{}x{}, {} classes",
            widths.join("-"),
            counts.join(", "),
            self.in_channels,
            self.image_size,
            self.image_width,
            self.num_classes()
        )
    }
}
