//! The finite-difference Hessian-vector product, for models with
//! operations Burn cannot differentiate twice.

use std::sync::Arc;

use burn::module::{AutodiffModule, ModuleMapper, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::HessianError;
use super::hvp::{gradient_with_layout, trainable_space};
use super::model::weigh;
use super::operator::{HessianOperator, check_layout};
use crate::params::{ParamLayout, ParamVector};

/// Adds `scale * delta` to the layout's parameters, as fresh leaves.
struct Perturb<'a, B: Backend> {
    layout: &'a ParamLayout,
    delta: &'a Tensor<B, 1>,
    scale: f64,
}

impl<AB: AutodiffBackend> ModuleMapper<AB> for Perturb<'_, AB::InnerBackend> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<AB, D>>) -> Param<Tensor<AB, D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = match self.layout.find(id) {
            Some(p) if tensor.is_require_grad() => {
                let step = self
                    .delta
                    .clone()
                    .narrow(0, p.offset, p.len)
                    .mul_scalar(self.scale)
                    .reshape(tensor.dims());
                Tensor::from_inner(tensor.inner() + step).require_grad()
            }
            _ => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Configuration of the finite-difference product.
#[derive(burn::config::Config, Debug)]
pub struct FiniteDifferenceConfig {
    /// Length of the step along `v / ||v||` (central differences).
    ///
    /// The truncation error is `O(eps^2)` for smooth losses and the rounding
    /// error `O(precision / eps)`: `1e-3` suits `f32`.
    #[config(default = 1e-3)]
    pub eps: f64,
}

/// The finite-difference fallback
/// `H v ~ ||v|| (g(w + eps v/||v||) - g(w - eps v/||v||)) / (2 eps)`,
/// for models that contain operations Burn cannot differentiate twice.
///
/// It needs only first derivatives (one backward pass on `AB` per side), but
/// it is an approximation: with ReLU (or max-pooling) a step of length `eps`
/// crosses activation kinks, where the gradient jumps, and the product is
/// then wrong by orders of magnitude rather than by `O(eps^2)`. Prefer the
/// exact [`Hessian`](super::Hessian) whenever the model is built from twice-differentiable
/// operations.
pub struct FiniteDifferenceHessian<AB, M, D, F>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB>,
{
    model: M,
    loss: F,
    batches: Vec<(D, f64)>,
    layout: Arc<ParamLayout>,
    device: AB::Device,
    eps: f64,
}

impl<AB, M, D, F> FiniteDifferenceHessian<AB, M, D, F>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB>,
    F: Fn(&M, &D) -> Tensor<AB, 1>,
{
    /// Central differences of the gradient of `loss` (on the training
    /// backend `AB`) over size-weighted batches.
    pub fn from_batches(
        model: &M,
        loss: F,
        batches: impl IntoIterator<Item = (D, usize)>,
        config: &FiniteDifferenceConfig,
    ) -> Result<Self, HessianError> {
        if !(config.eps.is_finite() && config.eps > 0.0) {
            return Err(HessianError::InvalidConfig(format!(
                "finite-difference eps must be positive, got {}",
                config.eps
            )));
        }
        let (layout, device) = trainable_space(model)?;
        Ok(Self {
            model: model.clone(),
            loss,
            batches: weigh(batches)?,
            layout,
            device,
            eps: config.eps,
        })
    }

    /// One batch.
    pub fn new(
        model: &M,
        loss: F,
        batch: D,
        config: &FiniteDifferenceConfig,
    ) -> Result<Self, HessianError> {
        Self::from_batches(model, loss, [(batch, 1)], config)
    }
}

impl<AB, M, D, F> HessianOperator<AB::InnerBackend> for FiniteDifferenceHessian<AB, M, D, F>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB>,
    F: Fn(&M, &D) -> Tensor<AB, 1>,
{
    fn layout(&self) -> &Arc<ParamLayout> {
        &self.layout
    }

    fn device(&self) -> AB::Device {
        self.device.clone()
    }

    fn apply(
        &self,
        v: &ParamVector<AB::InnerBackend>,
    ) -> Result<ParamVector<AB::InnerBackend>, HessianError> {
        check_layout(&self.layout, v)?;
        let norm = v.norm();
        if !norm.is_finite() {
            return Err(HessianError::NonFinite {
                context: "finite-difference direction".into(),
            });
        }
        if norm == 0.0 {
            return Ok(ParamVector::zeros(self.layout.clone(), &self.device));
        }
        let h = self.eps / norm;
        let mut total: Option<Tensor<AB::InnerBackend, 1>> = None;
        for (batch, weight) in &self.batches {
            let side = |scale: f64| {
                let mut perturb = Perturb {
                    layout: &self.layout,
                    delta: v.tensor(),
                    scale,
                };
                let model = self.model.clone().map(&mut perturb);
                gradient_with_layout(&model, &self.loss, batch, &self.layout, &self.device)
            };
            let plus = side(h)?.into_tensor();
            let minus = side(-h)?.into_tensor();
            let hv = (plus - minus).mul_scalar(weight / (2.0 * h));
            total = Some(match total {
                Some(t) => t + hv,
                None => hv,
            });
        }
        let total = total.ok_or(HessianError::NoData)?;
        Ok(ParamVector::from_tensor(self.layout.clone(), total)?)
    }
}

/// Finite-difference Hessian-vector product on one batch: the explicit
/// fallback of [`hvp`](fn@crate::hessian::hvp) for models Burn cannot differentiate twice (see
/// [`FiniteDifferenceHessian`] for its failure at ReLU kinks). `loss` runs on
/// the training backend `AB`.
pub fn finite_difference_hvp<AB, M, D, F>(
    model: &M,
    loss: F,
    batch: D,
    v: &ParamVector<AB::InnerBackend>,
    config: &FiniteDifferenceConfig,
) -> Result<ParamVector<AB::InnerBackend>, HessianError>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB>,
    F: Fn(&M, &D) -> Tensor<AB, 1>,
{
    FiniteDifferenceHessian::new(model, loss, batch, config)?.apply(v)
}
