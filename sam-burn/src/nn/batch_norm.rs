//! Batch normalization without transposed copies.

use burn::config::Config;
use burn::module::{
    Content, DisplaySettings, Initializer, Module, ModuleDisplay, Param, RunningState,
};
use burn::tensor::{Tensor, backend::Backend};

/// Configuration to create a [`BatchNorm`] layer using the
/// [init function](BatchNormConfig::init). Mirrors
/// `burn::nn::BatchNormConfig`.
#[derive(Config, Debug)]
pub struct BatchNormConfig {
    /// The number of features (channels).
    pub num_features: usize,
    /// Added to the variance for numerical stability. Default: 1e-5.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Weight of the current batch in the running statistics. Default: 0.1.
    #[config(default = 0.1)]
    pub momentum: f64,
}

/// Batch normalization over the channel dimension of `[batch, channels,
/// ...]` inputs: `y = (x - mean) / sqrt(var + eps) * gamma + beta`, with
/// batch statistics on autodiff backends (training) and the running ones
/// otherwise, exactly as `burn::nn::BatchNorm` computes it (biased variance,
/// the same running-statistics update).
///
/// Why not Burn's own: it reduces over `swap_dims(0, 1)` views, which CPU
/// backends must copy element by element (Flex's strided iterator made
/// Burn's batch norm a quarter of a ResNet18 training step on the CPU, see
/// BENCHMARKS.md). Here the statistics are sums over the contiguous trailing
/// dimensions, then over the batch, and the per-channel factors are
/// broadcast from `[batch, channels, 1]` tensors, which every backend
/// handles with its fast row-broadcast kernels. Twice differentiable (only
/// reshape, sum, repeat and element-wise ops), so Hessian-vector products
/// through it are exact.
///
/// Parameter names, shapes and the record layout are those of
/// `burn::nn::BatchNorm`, so checkpoints are interchangeable. Should be
/// created with [`BatchNormConfig`].
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct BatchNorm<B: Backend> {
    /// The learnable scale gamma.
    pub gamma: Param<Tensor<B, 1>>,
    /// The learnable shift beta.
    pub beta: Param<Tensor<B, 1>>,
    /// The running mean.
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// The running (biased) variance.
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Weight of the current batch in the running statistics.
    pub momentum: f64,
    /// Added to the variance for numerical stability.
    pub epsilon: f64,
}

impl BatchNormConfig {
    /// Initializes a new [`BatchNorm`]: gamma ones, beta zeros, running
    /// mean zeros, running variance ones.
    pub fn init<B: Backend>(&self, device: &B::Device) -> BatchNorm<B> {
        let n = self.num_features;
        BatchNorm {
            gamma: Initializer::Ones.init([n], device),
            beta: Initializer::Zeros.init([n], device),
            running_mean: RunningState::new(Tensor::zeros([n], device)),
            running_var: RunningState::new(Tensor::ones([n], device)),
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }
}

impl<B: Backend> BatchNorm<B> {
    /// Normalizes `input`.
    ///
    /// # Shapes
    ///
    /// - input: `[batch_size, channels, ...]` (rank at least 2)
    /// - output: the same
    pub fn forward<const D: usize>(&self, input: Tensor<B, D>) -> Tensor<B, D> {
        const { assert!(D >= 2, "BatchNorm takes [batch, channels, ...] inputs") };
        let dims = input.dims();
        let (batch, channels) = (dims[0], dims[1]);
        let rest = dims[2..].iter().product::<usize>();
        // A metadata-only reshape for the contiguous outputs of convolutions.
        let x = input.reshape([batch, channels, rest]);
        // Per-channel factors go out as [batch, channels, 1]: a broadcast
        // along the last dimension only, which CPU backends vectorise; a
        // [1, channels, 1] operand would broadcast along two dimensions.
        let per_example = |t: Tensor<B, 3>| t.repeat_dim(0, batch);
        let channel = |t: Tensor<B, 1>| t.reshape([1, channels, 1]);

        let (centered, var) = if B::ad_enabled(&x.device()) {
            let count = (batch * rest) as f64;
            let mean = x.clone().sum_dim(2).sum_dim(0).div_scalar(count);
            let centered = x - per_example(mean.clone());
            let var = centered
                .clone()
                .square()
                .sum_dim(2)
                .sum_dim(0)
                .div_scalar(count);
            self.update_running(mean, var.clone(), channels);
            (centered, var)
        } else {
            let device = x.device();
            let mean = channel(self.running_mean.value().to_device(&device));
            let var = channel(self.running_var.value().to_device(&device));
            (x - per_example(mean), var)
        };
        let scale = channel(self.gamma.val()) / var.add_scalar(self.epsilon).sqrt();
        let y = centered * per_example(scale) + per_example(channel(self.beta.val()));
        y.reshape(dims)
    }

    fn update_running(&self, mean: Tensor<B, 3>, var: Tensor<B, 3>, channels: usize) {
        let device = mean.device();
        let blend = |state: &RunningState<Tensor<B, 1>>, batch: Tensor<B, 3>| {
            let old = state.value_sync().to_device(&device);
            let new = old
                .mul_scalar(1.0 - self.momentum)
                .add(batch.detach().reshape([channels]).mul_scalar(self.momentum));
            state.update(new.detach());
        };
        blend(&self.running_mean, mean);
        blend(&self.running_var, var);
    }

    /// Converts a `burn::nn::BatchNorm`, keeping its parameters (ids
    /// included), running statistics and hyperparameters.
    pub fn from_burn(bn: burn::nn::BatchNorm<B>) -> Self {
        Self {
            gamma: bn.gamma,
            beta: bn.beta,
            running_mean: bn.running_mean,
            running_var: bn.running_var,
            momentum: bn.momentum,
            epsilon: bn.epsilon,
        }
    }
}

impl<B: Backend> ModuleDisplay for BatchNorm<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        let [num_features] = self.beta.shape().dims();
        content
            .add("num_features", &num_features)
            .add("momentum", &self.momentum)
            .add("epsilon", &self.epsilon)
            .optional()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::AutodiffModule;
    use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
    use burn::tensor::{Distribution, Tolerance};

    type B = Autodiff<NdArray>;

    /// Burn's layer and ours with the same non-trivial gamma and beta.
    fn pair(device: &burn::tensor::Device<B>) -> (burn::nn::BatchNorm<B>, BatchNorm<B>) {
        let theirs = burn::nn::BatchNormConfig::new(3)
            .with_momentum(0.3)
            .init::<B>(device);
        let theirs = burn::nn::BatchNorm {
            gamma: Param::from_tensor(Tensor::from_floats([0.5, 2.0, -1.0], device)),
            beta: Param::from_tensor(Tensor::from_floats([0.1, -0.2, 0.3], device)),
            ..theirs
        };
        let ours = BatchNorm::from_burn(theirs.clone());
        (theirs, ours)
    }

    /// Both sides sum the same few hundred O(1) f32 values in another order
    /// (Burn: one flat mean; here: rows, then the batch): ~1e-6 apart, so
    /// 1e-5 absolute on O(1) outputs and gradients.
    fn tolerance() -> Tolerance<f32> {
        Tolerance::absolute(1e-5)
    }

    fn same<const D: usize, K: Backend>(a: Tensor<K, D>, b: Tensor<K, D>) {
        a.to_data().assert_approx_eq(&b.to_data(), tolerance());
    }

    #[test]
    fn training_matches_burn_forward_gradients_and_running_statistics() {
        let device = Default::default();
        let (theirs, ours) = pair(&device);
        let x = Tensor::<B, 4>::random([4, 3, 5, 6], Distribution::Normal(1.0, 2.0), &device)
            .require_grad();
        let y_theirs = theirs.forward(x.clone());
        let y_ours = ours.forward(x.clone());
        same(y_ours.clone(), y_theirs.clone());
        // A weighted sum, so every output position matters to the gradient.
        let w = Tensor::<B, 4>::random([4, 3, 5, 6], Distribution::Default, &device);
        let g_theirs = (y_theirs * w.clone()).sum().backward();
        let g_ours = (y_ours * w).sum().backward();
        same(x.grad(&g_ours).unwrap(), x.grad(&g_theirs).unwrap());
        same(
            ours.gamma.grad(&g_ours).unwrap(),
            theirs.gamma.grad(&g_theirs).unwrap(),
        );
        same(
            ours.beta.grad(&g_ours).unwrap(),
            theirs.beta.grad(&g_theirs).unwrap(),
        );
        same(ours.running_mean.value(), theirs.running_mean.value());
        same(ours.running_var.value(), theirs.running_var.value());
    }

    #[test]
    fn inference_uses_running_statistics_like_burn() {
        let device = Default::default();
        let (theirs, ours) = pair(&device);
        // One training pass moves the running statistics away from 0 and 1.
        let x = Tensor::<B, 2>::random([8, 3], Distribution::Normal(-1.0, 3.0), &device);
        let _ = theirs.forward(x.clone());
        let _ = ours.forward(x.clone());
        let (theirs, ours) = (theirs.valid(), ours.valid());
        let x = x.inner();
        same(ours.forward(x.clone()), theirs.forward(x));
    }

    #[test]
    fn burn_checkpoints_load_into_it() {
        let device = Default::default();
        let (theirs, _) = pair(&device);
        let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        let bytes = recorder.record(theirs.valid().into_record(), ()).unwrap();
        let record = recorder.load(bytes, &device).unwrap();
        let loaded = BatchNormConfig::new(3)
            .init::<NdArray>(&device)
            .load_record(record);
        same(loaded.gamma.val(), theirs.gamma.val().inner());
        same(loaded.beta.val(), theirs.beta.val().inner());
    }
}
