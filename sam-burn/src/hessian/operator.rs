//! The operator every estimator works on, and the restriction of one to a
//! parameter group's diagonal block.

use std::sync::Arc;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::HessianError;
use crate::params::{ParamGroup, ParamLayout, ParamVector};

/// A symmetric linear operator on parameter space: what every estimator
/// (trace, Frobenius norm, eigenvalues, SLQ) needs.
///
/// Implemented by [`Hessian`](super::Hessian) (exact, double backward),
/// [`FiniteDifferenceHessian`](super::FiniteDifferenceHessian)
/// and [`Restricted`] (a parameter group's diagonal block).
pub trait HessianOperator<B: Backend> {
    /// Layout of the vectors the operator acts on.
    fn layout(&self) -> &Arc<ParamLayout>;

    /// Device of the vectors.
    fn device(&self) -> B::Device;

    /// The product `H v`.
    fn apply(&self, v: &ParamVector<B>) -> Result<ParamVector<B>, HessianError>;

    /// Dimension of the subspace the operator acts on (the group's size for a
    /// restricted operator): probes are scaled by it.
    fn dim(&self) -> usize {
        self.layout().dim()
    }

    /// Projects a vector onto that subspace (identity by default).
    fn project(&self, v: ParamVector<B>) -> ParamVector<B> {
        v
    }
}

pub(super) fn check_layout<B: Backend>(
    layout: &Arc<ParamLayout>,
    v: &ParamVector<B>,
) -> Result<(), HessianError> {
    if Arc::ptr_eq(layout, v.layout()) || layout.is_compatible(v.layout()) {
        Ok(())
    } else {
        Err(HessianError::LayoutMismatch {
            reason: format!(
                "vector has {} parameters ({} coordinates), the model {} ({}), or their ids differ",
                v.layout().num_params(),
                v.dim(),
                layout.num_params(),
                layout.dim()
            ),
        })
    }
}

/// The diagonal block `H_gg` of a parameter group `g`, acting on the group's
/// coordinates (zero elsewhere): per-layer trace and eigenvalues.
pub struct Restricted<'a, B: Backend, O: HessianOperator<B>> {
    op: &'a O,
    mask: Tensor<B, 1>,
    dim: usize,
}

impl<'a, B: Backend, O: HessianOperator<B>> Restricted<'a, B, O> {
    /// Restricts `op` to `group` (a group of `op`'s layout).
    pub fn new(op: &'a O, group: &ParamGroup) -> Self {
        let mask = op.layout().mask(group);
        let n = mask.len();
        let mask = Tensor::from_data(burn::tensor::TensorData::new(mask, [n]), &op.device());
        Self {
            op,
            mask,
            dim: group.dim(),
        }
    }
}

impl<B: Backend, O: HessianOperator<B>> HessianOperator<B> for Restricted<'_, B, O> {
    fn layout(&self) -> &Arc<ParamLayout> {
        self.op.layout()
    }

    fn device(&self) -> B::Device {
        self.op.device()
    }

    fn apply(&self, v: &ParamVector<B>) -> Result<ParamVector<B>, HessianError> {
        Ok(self.op.apply(&v.masked(&self.mask))?.masked(&self.mask))
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn project(&self, v: ParamVector<B>) -> ParamVector<B> {
        v.masked(&self.mask)
    }
}
