//! Gradient accumulation: a step's batch taken as k micro-batches.
//!
//! A sharpness-aware step needs the gradient of the whole batch before it
//! can perturb, so accumulation cannot live in the user's loop (one
//! optimizer step per micro-batch would perturb k times with k noisy
//! gradients). It lives inside the closure instead: every pass of the step
//! (the clean one and each perturbed one) runs over the same k
//! micro-batches at the same weights, and returns their size-weighted mean
//! loss and gradient. The step is then the one-batch step: the same
//! perturbation, the same noise (drawn per step, not per micro-batch), the
//! same combination; only the summation order of the gradient differs, by
//! float rounding.
//!
//! Memory: one parameter-sized buffer (the running sum) beyond what a
//! single micro-batch's pass holds.
//!
//! Batch norm differs, as in PyTorch: each micro-batch normalises with its
//! own statistics, and the running statistics take k updates per pass
//! instead of one.
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use burn::optim::SgdConfig;
//! use burn::tensor::Tensor;
//! use sam_burn::nn::{Linear, LinearConfig};
//! use sam_burn::optim::{Preset, UniversalSamConfig, accumulate};
//!
//! type B = Autodiff<NdArray>;
//! let device = Default::default();
//! let model: Linear<B> = LinearConfig::new(4, 1).init(&device);
//! // A batch of 12 examples as micro-batches of 4, 4 and 4.
//! let micro: Vec<Tensor<B, 2>> = (0..3)
//!     .map(|k| Tensor::ones([4, 4], &device).mul_scalar(k as f64))
//!     .collect();
//!
//! let mut optim = UniversalSamConfig::new(Preset::Frob).init(SgdConfig::new().init())?;
//! let (_model, report) = optim
//!     .step(0.01, model, |m: Linear<B>, _pass| {
//!         accumulate(&m, &micro, |m, x| {
//!             (m.forward(x.clone()).sub_scalar(1.0).powi_scalar(2).mean(), x.dims()[0])
//!         })
//!     })
//!     .map_err(|f| f.error)?;
//! assert_eq!(report.passes, 3); // each pass ran over the 3 micro-batches
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

use super::error::OptimError;
use crate::params::{Flat, ParamList, flatten_gradients, flatten_like, unflatten};

/// One pass over `micro_batches` at `model`'s weights: the mean loss and
/// the gradient of the whole batch, each micro-batch weighted by its size.
///
/// `loss` returns a micro-batch's mean loss (one element) and its number
/// of examples. The result is what a step's closure returns (see the
/// [module docs](mod@crate::optim::accumulate)); an empty list or a micro-batch of no examples is
/// an error, which fails the step without changing anything.
pub fn accumulate<B, M, T, F>(
    model: &M,
    micro_batches: &[T],
    mut loss: F,
) -> Result<(f64, GradientsParams), OptimError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    F: FnMut(&M, &T) -> (Tensor<B, 1>, usize),
{
    accumulate_with(model, micro_batches, |m, batch| {
        let (value, size) = loss(m, batch);
        (value, size, ())
    })
    .map(|(value, grads, _)| (value, grads))
}

/// [`accumulate`], keeping an extra output of each micro-batch (for
/// example its predictions, for training metrics), in order.
pub fn accumulate_with<B, M, T, X, F>(
    model: &M,
    micro_batches: &[T],
    mut loss: F,
) -> Result<(f64, GradientsParams, Vec<X>), OptimError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    F: FnMut(&M, &T) -> (Tensor<B, 1>, usize, X),
{
    if micro_batches.is_empty() {
        return Err(OptimError::NoMicroBatches);
    }
    let mut sum: Option<(ParamList, Flat<B::InnerBackend>)> = None;
    let (mut weighted_loss, mut examples) = (0.0, 0usize);
    let mut extras = Vec::with_capacity(micro_batches.len());
    for (index, batch) in micro_batches.iter().enumerate() {
        let (value, size, extra) = loss(model, batch);
        if size == 0 {
            return Err(OptimError::EmptyMicroBatch { index });
        }
        // A non-finite loss is not an error here: the step sees it in the
        // mean and applies its own policy (a failed clean pass, or the
        // guard's skip of a perturbed one).
        let scalar = value.clone().into_scalar().elem::<f64>();
        // The gradient of the micro-batch's summed loss: the sum over
        // micro-batches is then the whole batch's, divided once at the end.
        let grads = GradientsParams::from_grads(value.mul_scalar(size as f64).backward(), model);
        sum = Some(match sum {
            None => flatten_gradients::<B, M>(model, grads)?,
            Some((list, total)) => {
                let device = total.tensors[0].device();
                let part = flatten_like::<B, M>(model, &list, grads, &device);
                (list, total.axpy_owned(1.0, part))
            }
        });
        weighted_loss += scalar * size as f64;
        examples += size;
        extras.push(extra);
    }
    let (list, total) = sum.ok_or(OptimError::NoMicroBatches)?;
    let n = examples as f64;
    let grads = unflatten::<B>(&list, total.scale(1.0 / n));
    Ok((weighted_loss / n, grads, extras))
}
