//! Hessian diagnostics by double-backward Hessian-vector products.
//!
//! Flatness measures (trace, Frobenius norm, top eigenvalues, spectral
//! density, log-determinant) computed from exact Hessian-vector products
//! `Hv`, never from the full Hessian, in the spirit of PyHessian.
//!
//! # How the product is computed
//! A model trained on `AB = Autodiff<B>` is lifted to
//! [`HvpBackend<AB>`](HvpBackend) `= Autodiff<Autodiff<B>>`: its parameters
//! are forked into fresh leaves of `AB`, then wrapped as leaves of the outer
//! level with `AutodiffModule::from_inner`. The outer backward gives the
//! gradient `g(w)` as tensors of `AB` that still depend on `w`; the inner
//! backward of `<g(w), v>` gives `d/dw <g(w), v> = H v`. Cost: one forward and
//! two backward passes, each on a graph about twice the size of a training
//! step's (see the `hessian` benchmark).
//!
//! Every operation in the model and loss must be twice differentiable by
//! Burn 0.21: the fused `linear` op and the pooling ops are not, so build
//! models from [`crate::nn`]. A model that uses one anyway gets
//! [`HessianError::NotTwiceDifferentiable`] naming the op.
//!
//! # Pieces
//! - [`ParamLayout`], [`ParamVector`], [`ParamGroup`]: the parameter space.
//! - [`HessianOperator`] and [`Restricted`] (a group's block), in
//!   `operator.rs`; [`hvp`] (one batch, exact) in `hvp.rs`; [`Hessian`]
//!   (model, loss and size-weighted batches, with every estimator) in
//!   `model.rs`; [`FiniteDifferenceHessian`] (fallback),
//!   in `finite_difference.rs`: all implement [`HessianOperator`].
//! - Estimators over any [`HessianOperator`]: [`hutchinson_trace`] and
//!   [`frobenius_norm`] (`hutchinson.rs`), [`power_iteration`] and
//!   [`lanczos`] (`eigen.rs`), [`slq`] and [`slq_log_det`] (`slq.rs`), and
//!   [`dense_hessian`] for tiny models (`dense.rs`).
//!
//! Stochastic estimates carry their standard error and every result the
//! number of HVPs used.

mod dense;
mod eigen;
mod error;
mod finite_difference;
mod hutchinson;
mod hvp;
mod model;
mod operator;
mod slq;
mod stats;
mod tridiag;

pub use crate::params::{ParamGroup, ParamInfo, ParamLayout, ParamVector, Probe};
pub use dense::{DENSE_MAX_DIM, dense_hessian};
pub use eigen::{
    Eigenpairs, LanczosConfig, PowerIterationConfig, Spectrum, lanczos, power_iteration,
};
pub use error::HessianError;
pub use finite_difference::{
    FiniteDifferenceConfig, FiniteDifferenceHessian, finite_difference_hvp,
};
pub use hutchinson::{
    FrobeniusEstimate, HutchinsonConfig, TraceEstimate, frobenius_norm, hutchinson_trace,
};
pub use hvp::{HvpBackend, HvpModule, gradient, hvp, lift, lift_int};
pub use model::{GroupResult, Hessian};
pub use operator::{HessianOperator, Restricted};
pub use slq::{LogDetEstimate, SlqConfig, SpectralDensity, slq, slq_log_det};
pub use stats::Estimate;
