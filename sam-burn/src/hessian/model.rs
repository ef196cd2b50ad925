//! The Hessian of a model's loss over some data ([`Hessian`]): the object
//! that owns (model, loss, data), takes exact products over every batch and
//! offers every estimator, PyHessian-style.

use std::sync::Arc;

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, HasAutodiffModule};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use super::HessianError;
use super::dense::dense_hessian;
use super::eigen::{Eigenpairs, LanczosConfig, PowerIterationConfig, lanczos, power_iteration};
use super::hutchinson::{
    FrobeniusEstimate, HutchinsonConfig, TraceEstimate, frobenius_norm, hutchinson_trace,
};
use super::hvp::{HvpBackend, HvpModule, Lifted};
use super::operator::{HessianOperator, Restricted, check_layout};
use super::slq::{LogDetEstimate, SlqConfig, SpectralDensity, slq, slq_log_det};
use crate::params::{ParamGroup, ParamLayout, ParamVector};

/// Normalises `(batch, size)` pairs into weights `size / total`.
pub(super) fn weigh<D>(
    batches: impl IntoIterator<Item = (D, usize)>,
) -> Result<Vec<(D, f64)>, HessianError> {
    let batches: Vec<(D, usize)> = batches.into_iter().filter(|(_, n)| *n > 0).collect();
    let total: usize = batches.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Err(HessianError::NoData);
    }
    Ok(batches
        .into_iter()
        .map(|(d, n)| (d, n as f64 / total as f64))
        .collect())
}

/// The Hessian of a model's loss over some data, PyHessian-style: owns
/// (model, loss, data) and offers the products and every estimator.
///
/// With several batches the loss is `sum_b (n_b / N) L_b`, the
/// batch-size-weighted average of per-batch mean losses, so `hvp` returns the
/// Hessian of the loss over all `N` examples. One "HVP" in the estimators'
/// counts is one product over all batches.
///
/// Batch norm layers see each batch's statistics (the training-mode loss),
/// because the model runs on an autodiff backend.
///
/// The Hessian is taken at the parameters `model` has when the object is
/// built: later training of `model` does not move it (tensors are shared,
/// not copied, so this costs no memory until the model's parameters are
/// replaced; from then on the Hessian keeps the old ones alive).
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use sam_burn::hessian::{lift, Hessian, HutchinsonConfig, HvpModule};
/// use sam_burn::nn::{Linear, LinearConfig};
///
/// type AB = Autodiff<NdArray>;
/// let device = Default::default();
/// let model = LinearConfig::new(2, 1).init::<AB>(&device);
/// let batches = vec![
///     (Tensor::<NdArray, 2>::ones([4, 2], &device), 4),
///     (Tensor::<NdArray, 2>::ones([2, 2], &device).mul_scalar(0.5), 2),
/// ];
/// let loss = |m: &HvpModule<Linear<AB>, AB>, x: &Tensor<NdArray, 2>| {
///     m.forward(lift::<AB, 2>(x.clone())).tanh().powi_scalar(2).mean()
/// };
/// let hessian = Hessian::from_batches(&model, loss, batches).unwrap();
/// let trace = hessian.trace(&HutchinsonConfig::new().with_max_probes(20)).unwrap();
/// // Against the exact trace of the 3 x 3 Hessian: Hutchinson's estimate
/// // is unbiased, and 5 of its own standard errors (plus f32 rounding)
/// // hold it with probability far above 1 - 1e-6.
/// let dense = hessian.dense().unwrap();
/// let exact: f64 = (0..3).map(|i| dense[i * 3 + i]).sum();
/// assert!((trace.trace.value - exact).abs() <= 5.0 * trace.trace.std_error + 1e-4);
/// assert!(trace.hvps >= 1 && trace.hvps <= 20);
/// ```
pub struct Hessian<AB, M, D, F>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB> + HasAutodiffModule<Autodiff<AB>>,
{
    lifted: Lifted<AB, M>,
    loss: F,
    batches: Vec<(D, f64)>,
}

impl<AB, M, D, F> Hessian<AB, M, D, F>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB> + HasAutodiffModule<Autodiff<AB>>,
    F: Fn(&HvpModule<M, AB>, &D) -> Tensor<HvpBackend<AB>, 1>,
{
    /// The Hessian of `loss` on one batch.
    pub fn new(model: &M, loss: F, batch: D) -> Result<Self, HessianError> {
        Self::from_batches(model, loss, [(batch, 1)])
    }

    /// The Hessian of the loss averaged over `(batch, size)` pairs, weighted
    /// by size. Batches of size zero are ignored.
    pub fn from_batches(
        model: &M,
        loss: F,
        batches: impl IntoIterator<Item = (D, usize)>,
    ) -> Result<Self, HessianError> {
        Ok(Self {
            lifted: Lifted::new(model)?,
            loss,
            batches: weigh(batches)?,
        })
    }

    /// Layout of the model's trainable parameters (the space of `H`).
    pub fn layout(&self) -> &Arc<ParamLayout> {
        &self.lifted.layout
    }

    /// Device of the model's parameters.
    pub fn device(&self) -> AB::Device {
        self.lifted.device.clone()
    }

    /// The product `H v`, averaged over the batches.
    pub fn hvp(
        &self,
        v: &ParamVector<AB::InnerBackend>,
    ) -> Result<ParamVector<AB::InnerBackend>, HessianError> {
        check_layout(&self.lifted.layout, v)?;
        let mut total: Option<Tensor<AB::InnerBackend, 1>> = None;
        for (batch, weight) in &self.batches {
            let hv = self.lifted.hvp(&self.loss, batch, v.tensor())?;
            let hv = if self.batches.len() == 1 {
                hv
            } else {
                hv.mul_scalar(*weight)
            };
            total = Some(match total {
                Some(t) => t + hv,
                None => hv,
            });
        }
        let total = total.ok_or(HessianError::NoData)?;
        Ok(ParamVector::from_tensor(self.lifted.layout.clone(), total)?)
    }

    /// The diagonal block of a parameter group, as an operator.
    pub fn restrict(&self, group: &ParamGroup) -> Restricted<'_, AB::InnerBackend, Self> {
        Restricted::new(self, group)
    }
}

/// The estimators, as methods of the Hessian they estimate.
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
    pub fn eigenvalues(&self, k: usize, config: &LanczosConfig) -> EigenResult<AB> {
        lanczos(self, k, config)
    }

    /// The `k` eigenvalues of largest magnitude by power iteration with
    /// deflation ([`power_iteration`]).
    pub fn eigenvalues_power(&self, k: usize, config: &PowerIterationConfig) -> EigenResult<AB> {
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
        self.by_group(groups, |block| hutchinson_trace(block, config))
    }

    /// Top eigenvalue (per `config.which`) of each group's diagonal block, by Lanczos.
    pub fn top_eigenvalue_by_group(
        &self,
        groups: &[ParamGroup],
        config: &LanczosConfig,
    ) -> Result<Vec<GroupResult<Eigenpairs<AB::InnerBackend>>>, HessianError> {
        self.by_group(groups, |block| lanczos(block, 1, config))
    }

    /// `estimate` on each group's diagonal block ([`restrict`](Self::restrict)).
    fn by_group<T>(
        &self,
        groups: &[ParamGroup],
        estimate: impl Fn(&Restricted<'_, AB::InnerBackend, Self>) -> Result<T, HessianError>,
    ) -> Result<Vec<GroupResult<T>>, HessianError> {
        groups
            .iter()
            .map(|g| {
                Ok(GroupResult {
                    group: g.name().to_string(),
                    dim: g.dim(),
                    result: estimate(&self.restrict(g))?,
                })
            })
            .collect()
    }
}

/// What the eigenvalue methods of [`Hessian`] return.
type EigenResult<AB> = Result<Eigenpairs<<AB as AutodiffBackend>::InnerBackend>, HessianError>;

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

impl<AB, M, D, F> HessianOperator<AB::InnerBackend> for Hessian<AB, M, D, F>
where
    AB: AutodiffBackend,
    M: AutodiffModule<AB> + HasAutodiffModule<Autodiff<AB>>,
    F: Fn(&HvpModule<M, AB>, &D) -> Tensor<HvpBackend<AB>, 1>,
{
    fn layout(&self) -> &Arc<ParamLayout> {
        Hessian::layout(self)
    }

    fn device(&self) -> AB::Device {
        Hessian::device(self)
    }

    fn apply(
        &self,
        v: &ParamVector<AB::InnerBackend>,
    ) -> Result<ParamVector<AB::InnerBackend>, HessianError> {
        self.hvp(v)
    }
}
