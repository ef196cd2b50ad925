//! VGG with batch norm, CIFAR variant (as in `kuangliu/pytorch-cifar`).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use sam_burn::nn::{Linear, LinearConfig, MaxPool2d, Pool2dConfig, global_avg_pool2d};

use super::{ConvBn, ModelError, check_common, check_size, check_width, image_model_methods, mul};

/// Channel plans of the VGG variants, in units of `width / 64`; 0 is a 2x2
/// max-pooling.
fn plan(depth: usize) -> Option<&'static [usize]> {
    const M: usize = 0;
    Some(match depth {
        11 => &[1, M, 2, M, 4, 4, M, 8, 8, M, 8, 8, M],
        13 => &[1, 1, M, 2, 2, M, 4, 4, M, 8, 8, M, 8, 8, M],
        16 => &[1, 1, M, 2, 2, M, 4, 4, 4, M, 8, 8, 8, M, 8, 8, 8, M],
        19 => &[
            1, 1, M, 2, 2, M, 4, 4, 4, 4, M, 8, 8, 8, 8, M, 8, 8, 8, 8, M,
        ],
        _ => return None,
    })
}

/// Configuration of [`Vgg`]: 3x3 convolutions (no bias) each followed by
/// batch norm and ReLU, five 2x2 max-poolings, global average pooling, a
/// linear head `8w -> num_classes`.
///
/// The defaults are VGG16-BN, plan `[64, 64, M, 128, 128, M, 256, 256,
/// 256, M, 512, 512, 512, M, 512, 512, 512, M]`: 14,724,042 parameters for
/// 10 classes. (`kuangliu/pytorch-cifar` gives its convolutions a bias,
/// redundant before batch norm: 4,224 more, 14,728,266.)
///
/// Max-pooling is [`sam_burn::nn::MaxPool2d`]: its Hessian-vector products
/// are exact (the gradient is routed to each window's maximum).
#[derive(Config, Debug)]
pub struct VggConfig {
    /// Image channels (at least 1).
    pub in_channels: usize,
    /// Image height (and width unless `image_width` is set): a positive multiple of 32 (five poolings).
    /// On 32x32 inputs the features end 1x1 and the global average pooling
    /// is the reference's flatten.
    pub image_size: usize,
    /// Image width, when it differs from `image_size` (the height); the
    /// same requirement applies.
    pub image_width: Option<usize>,
    /// Number of classes (at least 2).
    pub num_classes: usize,
    /// Channels of the first block `w`; the plan's 64/128/256/512 become
    /// `w, 2w, 4w, 8w`. Default 64.
    #[config(default = 64)]
    pub width: usize,
    /// 11, 13, 16 or 19 weight layers. Default 16.
    #[config(default = 16)]
    pub depth: usize,
}

impl VggConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.checked_plan().map(|_| ())
    }

    /// The channel plan of a valid configuration.
    fn checked_plan(&self) -> Result<&'static [usize], ModelError> {
        check_common(self.num_classes, self.in_channels)?;
        let plan = plan(self.depth).ok_or_else(|| ModelError::InvalidConfig {
            model: "vgg",
            reason: format!("depth must be 11, 13, 16 or 19, got {}", self.depth),
        })?;
        check_width("vgg", "width", self.width)?;
        mul("vgg", "8 x width", self.width, 8)?;
        check_size(
            "vgg",
            self.image_size,
            self.image_width.unwrap_or(self.image_size),
            32,
            "five 2x2 max-poolings",
        )?;
        Ok(plan)
    }

    /// Builds the network on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Vgg<B>, ModelError> {
        let plan = self.checked_plan()?;
        let mut features = Vec::new();
        let mut channels = self.in_channels;
        for &units in plan {
            if units == 0 {
                features.push(VggItem::Pool(
                    Pool2dConfig::new().with_kernel_size(2).init_max(),
                ));
            } else {
                let out = units * self.width;
                features.push(VggItem::Conv(ConvBn::new([channels, out], 3, 1, device)));
                channels = out;
            }
        }
        Ok(Vgg {
            features,
            head: LinearConfig::new(channels, self.num_classes).init(device),
            in_channels: self.in_channels,
            image_size: self.image_size,
            image_width: self.image_width.unwrap_or(self.image_size),
        })
    }
}

/// One entry of VGG's feature extractor.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a handful per model: boxing buys nothing
pub enum VggItem<B: Backend> {
    /// 3x3 convolution, batch norm, then ReLU.
    Conv(ConvBn<B>),
    /// 2x2 max-pooling.
    Pool(MaxPool2d),
}

impl<B: Backend> VggItem<B> {
    /// Applies the entry.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            VggItem::Conv(c) => relu(c.forward(x)),
            VggItem::Pool(pool) => pool.forward(x),
        }
    }
}

/// VGG with batch norm; see [`VggConfig`].
#[derive(Module, Debug)]
pub struct Vgg<B: Backend> {
    /// Convolutions and poolings, in order.
    pub features: Vec<VggItem<B>>,
    /// Linear head after global average pooling.
    pub head: Linear<B>,
    /// Expected image channels.
    pub in_channels: usize,
    /// Expected image height.
    pub image_size: usize,
    /// Expected image width.
    pub image_width: usize,
}

impl<B: Backend> Vgg<B> {
    /// Class logits.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, image_size, image_width]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = images;
        for item in &self.features {
            x = item.forward(x);
        }
        self.head.forward(global_avg_pool2d(x))
    }

    image_model_methods!("vgg");

    /// The architecture in a few words.
    pub fn describe(&self) -> String {
        let plan: Vec<String> = self
            .features
            .iter()
            .map(|item| match item {
                VggItem::Conv(c) => c.conv.weight.dims()[0].to_string(),
                VggItem::Pool(_) => "M".to_string(),
            })
            .collect();
        // The name counts the original's three fully connected layers.
        let depth = plan.iter().filter(|p| *p != "M").count() + 3;
        format!(
            "vgg{depth}-bn (CIFAR variant) [{}] on {}x{}x{}, {} classes",
            plan.join(", "),
            self.in_channels,
            self.image_size,
            self.image_width,
            self.num_classes()
        )
    }
}
