//! The full Hessian, column by column (small models only: `dim` HVPs).

use burn::tensor::backend::Backend;

use super::HessianError;
use super::operator::HessianOperator;
use crate::params::ParamVector;

/// Largest dimension [`dense_hessian`] accepts (`dim^2` host values, `dim` HVPs).
pub const DENSE_MAX_DIM: usize = 4096;

/// The full `dim x dim` Hessian, row-major, from `dim` products with the
/// standard basis vectors. Meant for tests and tiny models; fails with
/// [`HessianError::InvalidConfig`] beyond [`DENSE_MAX_DIM`].
pub fn dense_hessian<B: Backend, O: HessianOperator<B>>(op: &O) -> Result<Vec<f64>, HessianError> {
    let n = op.layout().dim();
    if n > DENSE_MAX_DIM {
        return Err(HessianError::InvalidConfig(format!(
            "dense_hessian is limited to {DENSE_MAX_DIM} parameters, the model has {n}"
        )));
    }
    let mut h = vec![0.0; n * n];
    for j in 0..n {
        let e = ParamVector::basis(op.layout().clone(), j, &op.device())?;
        let col = op.apply(&e)?.to_vec();
        for (i, x) in col.into_iter().enumerate() {
            h[i * n + j] = x;
        }
    }
    Ok(h)
}
