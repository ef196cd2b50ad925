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
//!   `operator.rs`; [`hvp`] and [`Hessian`] (one batch or size-weighted
//!   batches, exact), in `hvp.rs`; [`FiniteDifferenceHessian`] (fallback),
//!   in `finite_difference.rs`: all implement [`HessianOperator`].
//! - Estimators over any [`HessianOperator`]: [`hutchinson_trace`],
//!   [`frobenius_norm`], [`power_iteration`], [`lanczos`], [`slq`],
//!   [`slq_log_det`], and [`dense_hessian`] for tiny models.
//!
//! Stochastic estimates carry their standard error and every result the
//! number of HVPs used.

mod dense;
mod eigen;
mod error;
mod finite_difference;
mod hvp;
mod operator;
mod rng;
mod slq;
mod stats;
mod trace;
mod tridiag;
mod vector;

pub use dense::{DENSE_MAX_DIM, dense_hessian};
pub use eigen::{
    Eigenpairs, LanczosConfig, PowerIterationConfig, Spectrum, lanczos, power_iteration,
};
pub use error::HessianError;
pub use finite_difference::{FiniteDifferenceConfig, FiniteDifferenceHessian};
pub use hvp::{Hessian, HvpBackend, HvpModule, gradient, hvp, lift, lift_int};
pub use operator::{HessianOperator, Restricted};
pub use slq::{LogDetEstimate, SlqConfig, SpectralDensity, slq, slq_log_det};
pub use trace::{
    FrobeniusEstimate, HutchinsonConfig, TraceEstimate, frobenius_norm, hutchinson_trace,
};
pub use vector::{ParamGroup, ParamInfo, ParamLayout, ParamVector, Probe};

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, HasAutodiffModule};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

/// A per-group result: the group's name and size, and the estimate on its
/// diagonal block of the Hessian.
#[derive(Debug, Clone)]
pub struct GroupResult<T> {
    /// The group's name.
    pub group: String,
    /// Number of coordinates in the group.
    pub dim: usize,
    /// The estimate.
    pub result: T,
}

/// Finite-difference Hessian-vector product on one batch: the explicit
/// fallback of [`hvp`] for models Burn cannot differentiate twice (see
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

impl<AB, M, D, F> Hessian<AB, M, D, F>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB> + HasAutodiffModule<Autodiff<AB>>,
    F: Fn(&HvpModule<M, AB>, &D) -> Tensor<HvpBackend<AB>, 1>,
{
    /// `tr H` by Hutchinson's estimator ([`hutchinson_trace`]).
    pub fn trace(&self, config: &HutchinsonConfig) -> Result<TraceEstimate, HessianError> {
        hutchinson_trace(self, config)
    }

    /// `||H||_F` from `E||Hv||^2` ([`frobenius_norm`]).
    pub fn frobenius(&self, config: &HutchinsonConfig) -> Result<FrobeniusEstimate, HessianError> {
        frobenius_norm(self, config)
    }

    /// The `k` extreme eigenvalues by Lanczos ([`lanczos`]).
    pub fn eigenvalues(
        &self,
        k: usize,
        config: &LanczosConfig,
    ) -> Result<Eigenpairs<AB::InnerBackend>, HessianError> {
        lanczos(self, k, config)
    }

    /// The `k` eigenvalues of largest magnitude by power iteration with
    /// deflation ([`power_iteration`]).
    pub fn eigenvalues_power(
        &self,
        k: usize,
        config: &PowerIterationConfig,
    ) -> Result<Eigenpairs<AB::InnerBackend>, HessianError> {
        power_iteration(self, k, config)
    }

    /// Spectral density by stochastic Lanczos quadrature ([`slq`]).
    pub fn density(&self, config: &SlqConfig) -> Result<SpectralDensity, HessianError> {
        slq(self, config)
    }

    /// `log|det H|` by stochastic Lanczos quadrature ([`slq_log_det`]).
    pub fn log_det(&self, config: &SlqConfig) -> Result<LogDetEstimate, HessianError> {
        slq_log_det(self, config)
    }

    /// The full Hessian, row-major ([`dense_hessian`]; tiny models only).
    pub fn dense(&self) -> Result<Vec<f64>, HessianError> {
        dense_hessian(self)
    }

    /// Trace of each group's diagonal block (probes restricted to the group).
    pub fn trace_by_group(
        &self,
        groups: &[ParamGroup],
        config: &HutchinsonConfig,
    ) -> Result<Vec<GroupResult<TraceEstimate>>, HessianError> {
        groups
            .iter()
            .map(|g| {
                Ok(GroupResult {
                    group: g.name().to_string(),
                    dim: g.dim(),
                    result: hutchinson_trace(&self.restrict(g), config)?,
                })
            })
            .collect()
    }

    /// Top eigenvalue (per `config.which`) of each group's diagonal block, by Lanczos.
    pub fn top_eigenvalue_by_group(
        &self,
        groups: &[ParamGroup],
        config: &LanczosConfig,
    ) -> Result<Vec<GroupResult<Eigenpairs<AB::InnerBackend>>>, HessianError> {
        groups
            .iter()
            .map(|g| {
                Ok(GroupResult {
                    group: g.name().to_string(),
                    dim: g.dim(),
                    result: lanczos(&self.restrict(g), 1, config)?,
                })
            })
            .collect()
    }
}
