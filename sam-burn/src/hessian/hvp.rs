//! Exact Hessian-vector products by double backward, and the [`Hessian`]
//! object that owns (model, loss, data) with its methods.

use std::collections::HashMap;
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::module::{
    AutodiffModule, HasAutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId,
};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use super::HessianError;
use super::error::catch_backend_panic;
use super::operator::check_layout;
use crate::params::{ParamLayout, ParamVector};

/// The backend the loss is evaluated on for an exact HVP: autodiff nested
/// over the training backend `AB` (`Autodiff<Autodiff<B>>` for `AB = Autodiff<B>`).
pub type HvpBackend<AB> = Autodiff<AB>;

/// The model type on [`HvpBackend`]: for `MyModel<Autodiff<B>>` this is
/// `MyModel<Autodiff<Autodiff<B>>>`.
pub type HvpModule<M, AB> = <M as HasAutodiffModule<Autodiff<AB>>>::TrainModule;

/// Moves a data tensor from the plain backend to [`HvpBackend`] (constant: no gradient).
pub fn lift<AB: AutodiffBackend, const D: usize>(
    tensor: Tensor<AB::InnerBackend, D>,
) -> Tensor<HvpBackend<AB>, D> {
    Tensor::from_inner(Tensor::from_inner(tensor))
}

/// Moves an integer tensor (e.g. class targets) from the plain backend to [`HvpBackend`].
pub fn lift_int<AB: AutodiffBackend, const D: usize>(
    tensor: Tensor<AB::InnerBackend, D, Int>,
) -> Tensor<HvpBackend<AB>, D, Int> {
    Tensor::from_inner(Tensor::from_inner(tensor))
}

/// Collects the gradients of the layout's parameters, flattened, by id.
struct GradCollector<'a, AB: AutodiffBackend> {
    grads: &'a AB::Gradients,
    layout: &'a ParamLayout,
    parts: HashMap<ParamId, Tensor<AB::InnerBackend, 1>>,
}

impl<AB: AutodiffBackend> ModuleVisitor<AB> for GradCollector<'_, AB> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
        if self.parts.contains_key(&param.id) {
            return;
        }
        if let Some(p) = self.layout.find(param.id)
            && let Some(g) = param.val().grad(self.grads)
        {
            self.parts.insert(param.id, g.reshape([p.len]));
        }
    }
}

/// `0 * sum(first parameter)`: added to a root before `backward` so that the
/// graph always has a step, even when the root does not depend on any
/// parameter (Burn panics on the backward of an untracked tensor).
struct ZeroAnchor<'a, AB: Backend> {
    layout: &'a ParamLayout,
    anchor: Option<Tensor<AB, 1>>,
}

impl<AB: Backend> ModuleVisitor<AB> for ZeroAnchor<'_, AB> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
        if self.anchor.is_none() && self.layout.find(param.id).is_some() {
            self.anchor = Some(param.val().sum().mul_scalar(0.0));
        }
    }
}

fn zero_anchor<AB: Backend, M: Module<AB>>(
    module: &M,
    layout: &ParamLayout,
) -> Option<Tensor<AB, 1>> {
    let mut visitor = ZeroAnchor {
        layout,
        anchor: None,
    };
    module.visit(&mut visitor);
    visitor.anchor
}

fn gradients_of<AB: AutodiffBackend, M: Module<AB>>(
    module: &M,
    layout: &Arc<ParamLayout>,
    grads: &AB::Gradients,
    device: &AB::Device,
) -> Tensor<AB::InnerBackend, 1> {
    let mut collector = GradCollector::<AB> {
        grads,
        layout,
        parts: HashMap::new(),
    };
    module.visit(&mut collector);
    let mut parts = collector.parts;
    let pieces: Vec<_> = layout
        .params()
        .iter()
        .map(|p| {
            parts
                .remove(&p.id)
                .unwrap_or_else(|| Tensor::zeros([p.len], device))
        })
        .collect();
    ParamVector::assemble(layout.clone(), pieces, device).into_tensor()
}

fn check_scalar<B: Backend>(loss: &Tensor<B, 1>) -> Result<(), HessianError> {
    let [n] = loss.dims();
    if n == 1 {
        Ok(())
    } else {
        Err(HessianError::NonScalarLoss { shape: vec![n] })
    }
}

/// The model prepared for double backward: parameters re-leafed on `AB`
/// (`inner`) and lifted to `Autodiff<AB>` (`outer`), sharing their ids.
pub(super) struct Lifted<AB: AutodiffBackend, M: HasAutodiffModule<Autodiff<AB>>> {
    inner: M,
    outer: HvpModule<M, AB>,
    pub(super) layout: Arc<ParamLayout>,
    pub(super) device: AB::Device,
}

/// Marks the layout's parameters as requiring a gradient on the outer level.
struct RequireGrad<'a> {
    layout: &'a ParamLayout,
}

impl<B: Backend> ModuleMapper<B> for RequireGrad<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = if self.layout.find(id).is_some() && !tensor.is_require_grad() {
            tensor.require_grad()
        } else {
            tensor
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// The layout of `model`'s trainable parameters and their device; an error
/// if it has none.
pub(crate) fn trainable_space<B: Backend, M: Module<B>>(
    model: &M,
) -> Result<(Arc<ParamLayout>, B::Device), HessianError> {
    let layout = Arc::new(ParamLayout::from_module(model));
    if layout.dim() == 0 {
        return Err(HessianError::NoParameters);
    }
    let device = model
        .devices()
        .into_iter()
        .next()
        .ok_or(HessianError::NoParameters)?;
    Ok((layout, device))
}

impl<AB, M> Lifted<AB, M>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB> + HasAutodiffModule<Autodiff<AB>>,
{
    pub(super) fn new(model: &M) -> Result<Self, HessianError> {
        let (layout, device) = trainable_space(model)?;
        // Fork: the parameters become leaves of a fresh graph on AB, so the
        // second backward stops at them (the training graph is untouched).
        let inner = model.clone().fork(&device);
        let outer =
            HvpModule::<M, AB>::from_inner(inner.clone()).map(&mut RequireGrad { layout: &layout });
        Ok(Self {
            inner,
            outer,
            layout,
            device,
        })
    }

    /// `H_batch v` for one batch.
    pub(super) fn hvp<D, F>(
        &self,
        loss: &F,
        batch: &D,
        v: &Tensor<AB::InnerBackend, 1>,
    ) -> Result<Tensor<AB::InnerBackend, 1>, HessianError>
    where
        F: Fn(&HvpModule<M, AB>, &D) -> Tensor<HvpBackend<AB>, 1>,
    {
        catch_backend_panic(|| {
            let loss = loss(&self.outer, batch);
            check_scalar(&loss)?;
            let loss = match zero_anchor(&self.outer, &self.layout) {
                Some(anchor) => loss + anchor,
                None => loss,
            };
            // Outer backward: gradients are tensors of AB, still tracked
            // through the inner parameters.
            let grads = loss.backward();
            let g =
                gradients_of::<HvpBackend<AB>, _>(&self.outer, &self.layout, &grads, &self.device);
            drop(grads);
            let v = Tensor::<AB, 1>::from_inner(v.clone());
            let mut s = (g * v).sum();
            if let Some(anchor) = zero_anchor(&self.inner, &self.layout) {
                s = s + anchor;
            }
            // Inner backward of <g, v>: d/dw (g(w) . v) = H v.
            let grads = s.backward();
            Ok(gradients_of::<AB, _>(
                &self.inner,
                &self.layout,
                &grads,
                &self.device,
            ))
        })?
    }
}

/// Exact Hessian-vector product `H v` of `loss(model, batch)` by double
/// backward through `Autodiff<AB>`.
///
/// `loss` receives the model lifted to [`HvpBackend`] and must return a
/// single-element tensor; use [`lift`] / [`lift_int`] (or `Tensor::from_inner`)
/// to bring the batch's tensors there. Every operation in the model and loss
/// must be twice differentiable in Burn: otherwise the result is
/// [`HessianError::NotTwiceDifferentiable`] naming the operation.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use sam_burn::hessian::{hvp, lift, HvpModule, ParamLayout, ParamVector};
/// use sam_burn::nn::LinearConfig;
/// use std::sync::Arc;
///
/// type AB = Autodiff<NdArray>;
/// let device = Default::default();
/// let model = LinearConfig::new(3, 1).init::<AB>(&device);
/// let x = Tensor::<NdArray, 2>::ones([4, 3], &device);
/// // Mean of tanh(output)^2: smooth, so the Hessian is well defined.
/// let loss = |m: &HvpModule<sam_burn::nn::Linear<AB>, AB>, x: &Tensor<NdArray, 2>| {
///     m.forward(lift::<AB, 2>(x.clone())).tanh().powi_scalar(2).mean()
/// };
/// let layout = Arc::new(ParamLayout::from_module(&model));
/// let v = ParamVector::<NdArray>::basis(layout, 0, &device).unwrap();
/// let hv = hvp(&model, loss, &x, &v).unwrap();
/// assert_eq!(hv.dim(), 4); // 3 weights + 1 bias
/// ```
pub fn hvp<AB, M, D, F>(
    model: &M,
    loss: F,
    batch: &D,
    v: &ParamVector<AB::InnerBackend>,
) -> Result<ParamVector<AB::InnerBackend>, HessianError>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB> + HasAutodiffModule<Autodiff<AB>>,
    F: Fn(&HvpModule<M, AB>, &D) -> Tensor<HvpBackend<AB>, 1>,
{
    let lifted = Lifted::<AB, M>::new(model)?;
    check_layout(&lifted.layout, v)?;
    let hv = lifted.hvp(&loss, batch, v.tensor())?;
    Ok(ParamVector::from_tensor(v.layout().clone(), hv)?)
}

/// Gradient of `loss(model, batch)` with respect to the trainable parameters,
/// as a [`ParamVector`] (one backward pass on `AB`).
pub fn gradient<AB, M, D, F>(
    model: &M,
    loss: F,
    batch: &D,
) -> Result<ParamVector<AB::InnerBackend>, HessianError>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB>,
    F: Fn(&M, &D) -> Tensor<AB, 1>,
{
    let (layout, device) = trainable_space(model)?;
    gradient_with_layout(model, &loss, batch, &layout, &device)
}

pub(super) fn gradient_with_layout<AB, M, D, F>(
    model: &M,
    loss: &F,
    batch: &D,
    layout: &Arc<ParamLayout>,
    device: &AB::Device,
) -> Result<ParamVector<AB::InnerBackend>, HessianError>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB>,
    F: Fn(&M, &D) -> Tensor<AB, 1>,
{
    let g = catch_backend_panic(|| {
        let l = loss(model, batch);
        check_scalar(&l)?;
        let l = match zero_anchor(model, layout) {
            Some(anchor) => l + anchor,
            None => l,
        };
        let grads = l.backward();
        Ok::<_, HessianError>(gradients_of::<AB, _>(model, layout, &grads, device))
    })??;
    Ok(ParamVector::from_tensor(layout.clone(), g)?)
}
