//! The paper's MNIST MLP.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use sam_burn::nn::{Linear, LinearConfig};

use super::{ModelError, check_width, mul};

/// Configuration of [`Mlp`]: `d_input - hidden x depth - num_classes` with
/// ReLU after every hidden layer.
///
/// The defaults give the paper's MNIST network, 784-128x5-10: six linear
/// layers, 167,818 parameters.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features: channels x height x width of the images (784 for MNIST).
    pub d_input: usize,
    /// Number of classes (at least 2).
    pub num_classes: usize,
    /// Width of every hidden layer. Default 128.
    #[config(default = 128)]
    pub hidden: usize,
    /// Number of hidden layers (at least 1). Default 5.
    #[config(default = 5)]
    pub depth: usize,
    /// Reproduce the reference code, which applies one hidden layer twice.
    /// Default false.
    ///
    /// With `true` the last hidden-to-hidden layer is applied twice in a
    /// row (ReLU after each application) in place of a distinct layer: the
    /// network still computes `depth` hidden activations and applies
    /// `depth + 1` linear maps, but holds only `depth` distinct linear
    /// layers. For the defaults: input (784-128), two distinct 128-128
    /// layers, a third 128-128 layer applied twice, output (128-10), that is
    /// 6 applications of 5 layers and 151,306 parameters (167,818 - 16,512).
    /// Needs `depth >= 2` (there must be a hidden-to-hidden layer to reuse).
    ///
    /// This reading keeps the paper's "6-layer" count (applications) while
    /// the code defines one layer fewer; the reference's source was not
    /// available here to confirm which layer it repeats. Reusing another
    /// hidden-to-hidden layer would give the same parameter count and a
    /// different function.
    #[config(default = false)]
    pub reuse_layer: bool,
}

impl MlpConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.num_classes < 2 {
            return Err(ModelError::TooFewClasses(self.num_classes));
        }
        check_width("mlp", "d_input", self.d_input)?;
        check_width("mlp", "hidden", self.hidden)?;
        check_width("mlp", "depth", self.depth)?;
        if self.reuse_layer && self.depth < 2 {
            return Err(ModelError::InvalidConfig {
                model: "mlp",
                reason: "reuse_layer needs depth >= 2 (a hidden-to-hidden layer to reuse)".into(),
            });
        }
        // Reject sizes whose weight matrices cannot even be indexed.
        mul("mlp", "d_input x hidden", self.d_input, self.hidden)?;
        mul("mlp", "hidden x hidden", self.hidden, self.hidden)?;
        Ok(())
    }

    /// Builds the MLP on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Mlp<B>, ModelError> {
        self.validate()?;
        let distinct = self.depth - 1 - usize::from(self.reuse_layer);
        Ok(Mlp {
            input: LinearConfig::new(self.d_input, self.hidden).init(device),
            hidden: (0..distinct)
                .map(|_| LinearConfig::new(self.hidden, self.hidden).init(device))
                .collect(),
            output: LinearConfig::new(self.hidden, self.num_classes).init(device),
            reuse_last: self.reuse_layer,
        })
    }
}

/// A ReLU multilayer perceptron on flattened images; see [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// First layer, `d_input -> hidden`.
    pub input: Linear<B>,
    /// The distinct `hidden -> hidden` layers, in order.
    pub hidden: Vec<Linear<B>>,
    /// Last layer, `hidden -> num_classes` (no activation: logits).
    pub output: Linear<B>,
    /// Whether the last entry of `hidden` is applied twice
    /// ([`MlpConfig::reuse_layer`]).
    pub reuse_last: bool,
}

impl<B: Backend> Mlp<B> {
    /// Logits of flattened inputs.
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, num_classes]`
    pub fn forward_flat(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut x = relu(self.input.forward(x));
        for layer in &self.hidden {
            x = relu(layer.forward(x));
        }
        if self.reuse_last
            && let Some(last) = self.hidden.last()
        {
            x = relu(last.forward(x));
        }
        self.output.forward(x)
    }

    /// Logits of images, flattened in channel-row-column order (PyTorch's
    /// `x.view(n, -1)`).
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`, `channels * height * width = d_input`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_flat(images.flatten(1, 3))
    }

    /// Input features.
    pub fn d_input(&self) -> usize {
        self.input.weight.dims()[0]
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Number of hidden activations computed (linear maps applied minus one).
    pub fn depth(&self) -> usize {
        1 + self.hidden.len() + usize::from(self.reuse_last && !self.hidden.is_empty())
    }

    /// Whether a batch of shape `dims` fits: `channels * height * width = d_input`.
    pub fn check_input(&self, dims: [usize; 4]) -> Result<(), ModelError> {
        let [n, c, h, w] = dims;
        let features = c.checked_mul(h).and_then(|x| x.checked_mul(w));
        if n == 0 || features != Some(self.d_input()) {
            return Err(ModelError::InputShape {
                model: "mlp",
                got: dims.to_vec(),
                expected: format!("[batch >= 1, c, h, w] with c * h * w = {}", self.d_input()),
            });
        }
        Ok(())
    }

    /// The architecture in a few words.
    pub fn describe(&self) -> String {
        let hidden = self.input.weight.dims()[1];
        let mut s = format!(
            "mlp {}-{}x{}-{}, ReLU",
            self.d_input(),
            hidden,
            self.depth(),
            self.num_classes()
        );
        if self.reuse_last && !self.hidden.is_empty() {
            s.push_str(", last hidden layer applied twice");
        }
        s
    }
}
