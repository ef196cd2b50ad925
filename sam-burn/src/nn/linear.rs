//! A linear layer built from matmul and add.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::tensor::{Tensor, backend::Backend};

/// Configuration to create a [`Linear`] layer using the [init function](LinearConfig::init).
///
/// Mirrors `burn::nn::LinearConfig` (row layout).
#[derive(Config, Debug)]
pub struct LinearConfig {
    /// The size of the input features.
    pub d_input: usize,
    /// The size of the output features.
    pub d_output: usize,
    /// If a bias should be applied during the linear transformation.
    #[config(default = true)]
    pub bias: bool,
    /// The type of function used to initialize neural network parameters.
    #[config(default = "Initializer::KaimingUniform{gain:1.0/3.0f64.sqrt(), fan_out_only:false}")]
    pub initializer: Initializer,
}

/// Applies a linear transformation `O = IW + b` to the input tensor, with a
/// plain matmul and a broadcast add so that Hessian-vector products exist
/// (Burn's fused `linear` op cannot be differentiated twice).
///
/// Parameters, names and shapes are those of `burn::nn::Linear` with the row
/// layout, so records are interchangeable. Should be created with [`LinearConfig`].
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// Matrix of shape `[d_input, d_output]`.
    pub weight: Param<Tensor<B, 2>>,
    /// Vector of size `d_output`.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl LinearConfig {
    /// Initialize a new [`Linear`] module.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Linear<B> {
        let weight = self.initializer.init_with(
            [self.d_input, self.d_output],
            Some(self.d_input),
            Some(self.d_output),
            device,
        );
        let bias = self.bias.then(|| {
            self.initializer.init_with(
                [self.d_output],
                Some(self.d_input),
                Some(self.d_output),
                device,
            )
        });
        Linear { weight, bias }
    }
}

impl<B: Backend> Linear<B> {
    /// Applies the forward pass on the input tensor.
    ///
    /// # Shapes
    ///
    /// - input: `[..., d_input]`
    /// - output: `[..., d_output]`
    pub fn forward<const D: usize>(&self, input: Tensor<B, D>) -> Tensor<B, D> {
        let mut dims = input.dims();
        let [d_input, d_output] = self.weight.dims();
        let rows = dims[..D - 1].iter().product::<usize>();
        // Flatten the leading dimensions so that one 2-D matmul does the work
        // whatever the input's rank.
        let mut out = input.reshape([rows, d_input]).matmul(self.weight.val());
        if let Some(bias) = &self.bias {
            out = out + bias.val().unsqueeze_dim(0);
        }
        dims[D - 1] = d_output;
        out.reshape(dims)
    }

    /// Converts a `burn::nn::Linear` with the row layout (the default), keeping
    /// its parameters and their ids.
    pub fn from_burn(linear: burn::nn::Linear<B>) -> Self {
        Self {
            weight: linear.weight,
            bias: linear.bias,
        }
    }
}
