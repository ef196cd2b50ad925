//! The parameter space the optimizers and the Hessian diagnostics share.
//!
//! Both work on a module's trainable float parameters (those whose tensor
//! requires a gradient), in visiting order, flattened to rank 1 (a
//! metadata-only reshape):
//! - the optimizers keep one rank-1 tensor per parameter (`Flat`, aligned
//!   with a `ParamList`), so combining gradients never copies them into one
//!   buffer;
//! - the Hessian diagnostics keep one concatenated vector ([`ParamVector`],
//!   laid out by a [`ParamLayout`]), which Krylov methods need.
//!
//! Going back to Burn's rank-typed containers follows one rule for both
//! (ranks 1 to 6, the ranks Burn's modules hold; any other rank is a typed
//! error, never a silent rank-1 registration).

mod error;
mod layout;
mod list;
mod rank;
mod vector;

pub use error::ParamsError;
pub use layout::{ParamGroup, ParamInfo, ParamLayout, Probe};
pub use list::RunningStats;
pub(crate) use list::{
    Flat, ParamList, flatten_gradients, flatten_like, flatten_values, perturbed_module,
    trainable_sizes, unflatten, upload,
};
pub use vector::ParamVector;
pub(crate) use vector::{combination, orthogonalize};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Draws every parameter's initial value now. Burn initialises a
/// parameter lazily, at its first use, and a clone of a module whose
/// parameters are not drawn yet draws its own values: a step that hands the
/// closure a clone and the base optimizer the original would compute the
/// gradient at one set of weights and apply it to another. The optimizers
/// call this before every step. Models built from one seed on several
/// threads (data-parallel replicas) must also draw inside the seeded
/// section, as the backend's seeded generator is global.
pub fn materialize<B: Backend, M: Module<B>>(module: &M) {
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if !param.is_initialized() {
                let _ = param.val();
            }
        }
    }
    module.visit(&mut Touch);
}
