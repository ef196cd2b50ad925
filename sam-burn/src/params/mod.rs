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

mod list;
mod rank;
mod vector;

pub use list::RunningStats;
pub(crate) use list::{
    Flat, ParamList, flatten_gradients, flatten_like, flatten_values, perturbed_module,
    trainable_sizes, unflatten, upload,
};
pub use vector::{ParamGroup, ParamInfo, ParamLayout, ParamVector, Probe};
pub(crate) use vector::{combination, orthogonalize};
