//! Image classifiers built from HVP-safe blocks.
//!
//! Every model here is made of Burn's `Conv2d`, `relu` and `Dropout`
//! (twice differentiable as they are) and of [`sam_burn::nn`]'s `Linear`,
//! pooling layers (Burn's own `Linear` and pooling modules have backward
//! passes that cannot be differentiated again) and `BatchNorm` (Burn's is
//! twice differentiable but reduces over transposed copies, slow on CPU
//! backends; records are interchangeable). So every model supports exact Hessian-vector products through
//! [`sam_burn::hessian`], in training mode (batch statistics) included.
//!
//! | kind | architecture | trainable parameters (10 classes) |
//! |---|---|---|
//! | `mlp` | [`Mlp`]: the paper's MNIST MLP, 784-128x5-10, ReLU | 167,818 (151,306 with `mlp_reuse_layer`) |
//! | `cnn` | [`Cnn`]: conv32-pool-conv64-pool-fc128-fc | 421,642 (1x28x28), 545,098 (3x32x32) |
//! | `resnet18` | [`ResNet`]: CIFAR ResNet18 | 11,173,962 |
//! | `wrn28-10` | [`WideResNet`]: WRN-28-10 | 36,479,194 |
//! | `vgg16-bn` | [`Vgg`]: CIFAR VGG16 with batch norm | 14,724,042 |
//!
//! Parameter counts are those of [`Model::num_trainable_params`] (Burn's
//! `Module::num_params` adds batch norm's running statistics).
//!
//! Build one with [`ModelConfig::init`]: the result is the [`Model`] enum,
//! one concrete module type per backend for the training loop.

mod checks;
mod cnn;
mod conv_bn;
mod mlp;
mod resnet;
mod vgg;
mod wide_resnet;

pub(crate) use checks::{
    check_common, check_image_input, check_size, check_width, image_model_methods, mul, thousands,
};
pub use cnn::{Cnn, CnnConfig};
pub use conv_bn::ConvBn;
pub(crate) use conv_bn::conv;
pub use mlp::{Mlp, MlpConfig};
pub use resnet::{BasicBlock, ResNet, ResNetConfig, Shortcut};
pub use vgg::{Vgg, VggConfig, VggItem};
pub use wide_resnet::{WideBasicBlock, WideResNet, WideResNetConfig};

use std::fmt;
use std::str::FromStr;

use burn::config::Config;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

/// Why a model could not be built or cannot take an input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A classifier needs at least two classes.
    #[error("num_classes must be at least 2, got {0}")]
    TooFewClasses(usize),
    /// Images need at least one channel.
    #[error("in_channels must be at least 1, got 0")]
    NoInputChannels,
    /// The architecture cannot take images of this size.
    #[error("{model} cannot take {height}x{width} images: {requirement}")]
    ImageSize {
        /// The architecture.
        model: &'static str,
        /// The image height asked for.
        height: usize,
        /// The image width asked for.
        width: usize,
        /// What the architecture needs.
        requirement: String,
    },
    /// Another configuration value is out of range.
    #[error("invalid {model} configuration: {reason}")]
    InvalidConfig {
        /// The architecture.
        model: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A model name that [`ModelKind::from_str`] does not know.
    #[error("unknown model {0:?}: expected one of mlp, cnn, resnet18, wrn28-10, vgg16-bn")]
    UnknownKind(String),
    /// An input batch whose shape the model cannot take.
    #[error("{model} cannot take an input of shape {got:?}: expected {expected}")]
    InputShape {
        /// The architecture.
        model: &'static str,
        /// The shape given.
        got: Vec<usize>,
        /// The shape expected.
        expected: String,
    },
}

/// The architectures, by the names the command line and config files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// `mlp`: the paper's MNIST MLP ([`Mlp`]).
    #[serde(rename = "mlp")]
    Mlp,
    /// `cnn`: a small convolutional network ([`Cnn`]).
    #[serde(rename = "cnn")]
    Cnn,
    /// `resnet18`: ResNet18, CIFAR variant ([`ResNet`]).
    #[serde(rename = "resnet18")]
    ResNet18,
    /// `wrn28-10`: WideResNet-28-10 ([`WideResNet`]).
    #[serde(rename = "wrn28-10")]
    Wrn28x10,
    /// `vgg16-bn`: VGG16 with batch norm, CIFAR variant ([`Vgg`]).
    #[serde(rename = "vgg16-bn")]
    Vgg16Bn,
}

impl ModelKind {
    /// Every kind, in the order of the table in the module docs.
    pub const ALL: [ModelKind; 5] = [
        ModelKind::Mlp,
        ModelKind::Cnn,
        ModelKind::ResNet18,
        ModelKind::Wrn28x10,
        ModelKind::Vgg16Bn,
    ];

    /// The name used on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
            ModelKind::ResNet18 => "resnet18",
            ModelKind::Wrn28x10 => "wrn28-10",
            ModelKind::Vgg16Bn => "vgg16-bn",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = ModelError;

    /// Parses a name of [`ModelKind::name`], ignoring case and treating `_`
    /// as `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| ModelError::UnknownKind(s.to_string()))
    }
}

/// Configuration of any of the [`ModelKind`]s; [`ModelConfig::init`] builds
/// the [`Model`].
///
/// Fields prefixed `mlp_` or `wrn_` only concern that architecture; the
/// others ignore them.
#[derive(Config, Debug)]
pub struct ModelConfig {
    /// The architecture.
    pub kind: ModelKind,
    /// Number of classes (at least 2).
    pub num_classes: usize,
    /// Image channels (1 for MNIST, 3 for CIFAR/SVHN).
    pub in_channels: usize,
    /// Image height (28 for MNIST, 32 for CIFAR/SVHN), and width unless
    /// `image_width` is set.
    pub image_size: usize,
    /// Image width, when it differs from the height.
    pub image_width: Option<usize>,
    /// MLP: width of every hidden layer. Default 128.
    #[config(default = 128)]
    pub mlp_hidden: usize,
    /// MLP: number of hidden layers (ReLU after each). Default 5, the
    /// paper's 784-128x5-10.
    #[config(default = 5)]
    pub mlp_depth: usize,
    /// MLP: reproduce the reference code's quirk of applying one hidden
    /// layer twice (see [`MlpConfig::reuse_layer`]). Default false.
    #[config(default = false)]
    pub mlp_reuse_layer: bool,
    /// WideResNet: widening factor k. Default 10.
    #[config(default = 10)]
    pub wrn_widen: usize,
    /// WideResNet: depth, `6n + 4`. Default 28.
    #[config(default = 28)]
    pub wrn_depth: usize,
    /// WideResNet: dropout probability between the two convolutions of a
    /// block (active in training only). Default 0.0.
    #[config(default = 0.0)]
    pub wrn_dropout: f64,
    /// Convolutional models: channels of the first stage, the others
    /// scaling with it (`None`: the architecture's standard, CNN 32,
    /// ResNet 64, WideResNet 16, VGG 64). Smaller values give the same
    /// architecture at a fraction of the cost (tests, quick runs).
    pub base_width: Option<usize>,
}

impl ModelConfig {
    /// Checks the configuration without building anything.
    pub fn validate(&self) -> Result<(), ModelError> {
        match self.kind {
            ModelKind::Mlp => self.mlp_config()?.validate(),
            ModelKind::Cnn => self.cnn_config().validate(),
            ModelKind::ResNet18 => self.resnet_config().validate(),
            ModelKind::Wrn28x10 => self.wrn_config().validate(),
            ModelKind::Vgg16Bn => self.vgg_config().validate(),
        }
    }

    /// Builds the model on `device`, or says why the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Model<B>, ModelError> {
        Ok(match self.kind {
            ModelKind::Mlp => Model::Mlp(self.mlp_config()?.init(device)?),
            ModelKind::Cnn => Model::Cnn(self.cnn_config().init(device)?),
            ModelKind::ResNet18 => Model::ResNet(self.resnet_config().init(device)?),
            ModelKind::Wrn28x10 => Model::WideResNet(self.wrn_config().init(device)?),
            ModelKind::Vgg16Bn => Model::Vgg(self.vgg_config().init(device)?),
        })
    }

    fn mlp_config(&self) -> Result<MlpConfig, ModelError> {
        check_common(self.num_classes, self.in_channels)?;
        let (height, width) = (self.image_size, self.width());
        if height == 0 || width == 0 {
            return Err(ModelError::ImageSize {
                model: "mlp",
                height,
                width,
                requirement: "both sides must be at least 1".into(),
            });
        }
        let d_input = self
            .in_channels
            .checked_mul(height)
            .and_then(|d| d.checked_mul(width))
            .ok_or_else(|| ModelError::ImageSize {
                model: "mlp",
                height,
                width,
                requirement: "channels x height x width overflows".into(),
            })?;
        Ok(MlpConfig::new(d_input, self.num_classes)
            .with_hidden(self.mlp_hidden)
            .with_depth(self.mlp_depth)
            .with_reuse_layer(self.mlp_reuse_layer))
    }

    /// The image width: `image_width`, else the height.
    pub fn width(&self) -> usize {
        self.image_width.unwrap_or(self.image_size)
    }

    fn cnn_config(&self) -> CnnConfig {
        let c = CnnConfig::new(self.in_channels, self.image_size, self.num_classes)
            .with_image_width(self.image_width);
        match self.base_width {
            Some(w) => c.with_width(w),
            None => c,
        }
    }

    fn resnet_config(&self) -> ResNetConfig {
        let c = ResNetConfig::new(self.in_channels, self.image_size, self.num_classes)
            .with_image_width(self.image_width);
        match self.base_width {
            Some(w) => c.with_width(w),
            None => c,
        }
    }

    fn wrn_config(&self) -> WideResNetConfig {
        let c = WideResNetConfig::new(self.in_channels, self.image_size, self.num_classes)
            .with_image_width(self.image_width)
            .with_depth(self.wrn_depth)
            .with_widen_factor(self.wrn_widen)
            .with_dropout(self.wrn_dropout);
        match self.base_width {
            Some(w) => c.with_base_width(w),
            None => c,
        }
    }

    fn vgg_config(&self) -> VggConfig {
        let c = VggConfig::new(self.in_channels, self.image_size, self.num_classes)
            .with_image_width(self.image_width);
        match self.base_width {
            Some(w) => c.with_width(w),
            None => c,
        }
    }
}

/// Any of the architectures, as one module type: what the training loop,
/// checkpoints and Hessian diagnostics hold.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Model<B: Backend> {
    /// The MNIST MLP.
    Mlp(Mlp<B>),
    /// The small CNN.
    Cnn(Cnn<B>),
    /// ResNet (CIFAR variant).
    ResNet(ResNet<B>),
    /// WideResNet.
    WideResNet(WideResNet<B>),
    /// VGG with batch norm (CIFAR variant).
    Vgg(Vgg<B>),
}

impl<B: Backend> Model<B> {
    /// Class logits.
    ///
    /// # Shapes
    /// - images: `[batch, channels, height, width]`, as configured (check
    ///   untrusted shapes with [`Model::check_input`] first: a wrong shape
    ///   panics inside Burn)
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Model::Mlp(m) => m.forward(images),
            Model::Cnn(m) => m.forward(images),
            Model::ResNet(m) => m.forward(images),
            Model::WideResNet(m) => m.forward(images),
            Model::Vgg(m) => m.forward(images),
        }
    }

    /// Whether a batch of shape `dims` fits the model.
    pub fn check_input(&self, dims: [usize; 4]) -> Result<(), ModelError> {
        match self {
            Model::Mlp(m) => m.check_input(dims),
            Model::Cnn(m) => m.check_input(dims),
            Model::ResNet(m) => m.check_input(dims),
            Model::WideResNet(m) => m.check_input(dims),
            Model::Vgg(m) => m.check_input(dims),
        }
    }

    /// The architecture's name in messages: mlp, cnn, resnet, wide resnet,
    /// vgg.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Model::Mlp(_) => "mlp",
            Model::Cnn(_) => "cnn",
            Model::ResNet(_) => "resnet",
            Model::WideResNet(_) => "wide resnet",
            Model::Vgg(_) => "vgg",
        }
    }

    /// Number of classes (width of the logits).
    pub fn num_classes(&self) -> usize {
        match self {
            Model::Mlp(m) => m.num_classes(),
            Model::Cnn(m) => m.num_classes(),
            Model::ResNet(m) => m.num_classes(),
            Model::WideResNet(m) => m.num_classes(),
            Model::Vgg(m) => m.num_classes(),
        }
    }

    /// Number of trainable parameters: the count papers (and PyTorch's
    /// `parameters()`) report. Burn's `Module::num_params` counts every
    /// tensor the module holds, batch norm's running mean and variance
    /// included, which are state and not parameters.
    pub fn num_trainable_params(&self) -> usize {
        num_trainable_params(self)
    }

    /// One line: the architecture, its shape and its number of trainable
    /// parameters.
    pub fn describe(&self) -> String {
        let arch = match self {
            Model::Mlp(m) => m.describe(),
            Model::Cnn(m) => m.describe(),
            Model::ResNet(m) => m.describe(),
            Model::WideResNet(m) => m.describe(),
            Model::Vgg(m) => m.describe(),
        };
        format!(
            "{arch}; {} parameters",
            thousands(self.num_trainable_params())
        )
    }
}

/// Counts the floats of `module` outside batch norm's running statistics
/// (see [`Model::num_trainable_params`]); works for any module, on any
/// backend (whether a tensor requires a gradient cannot tell them apart off
/// autodiff backends, their place in the module can).
pub fn num_trainable_params<B: Backend, M: Module<B>>(module: &M) -> usize {
    struct Counter {
        /// Per entered module: whether it is a running statistic.
        running: Vec<bool>,
        count: usize,
    }
    impl<B: Backend> ModuleVisitor<B> for Counter {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            let running = container_type == "Struct:BatchNorm" && name.starts_with("running_");
            self.running.push(running);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.running.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if !self.running.contains(&true) {
                self.count += param.lazy_shape().num_elements();
            }
        }
    }
    let mut counter = Counter {
        running: Vec::new(),
        count: 0,
    };
    module.visit(&mut counter);
    counter.count
}
