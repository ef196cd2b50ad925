//! SSAM-F (Mi et al., 2022): SAM that perturbs only a sparse set of
//! weights (perturbation `rho * mask * g0 / ||g0||`), chosen by a Fisher-information mask: the `1 - sparsity` fraction
//! with the largest summed squared per-example gradients.
//!
//! The mask is computed by [`SsamRule::refresh_mask`] from a closure that
//! returns one example's gradients; [`SsamRule::needs_refresh`] follows the
//! configured schedule (the reference refreshes once per epoch).

use hashbrown::HashMap;

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, ParamId};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use sam_core::schedule::Schedule;

use super::base::{GradientsOf, PassFn, SharpnessAware, SharpnessRule};
use super::error::{OptimError, check_radius};
use super::sam::{AscentDirection, NormValue, SamRule};
use super::schedule::Scheduled;
use crate::params::{Flat, RunningStats, flatten_gradients, flatten_like};

/// Configuration of [`Ssam`]; defaults are the reference settings.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::optim::{GradientsParams, SgdConfig};
/// use burn::tensor::{ElementConversion, Tensor};
/// use sam_burn::nn::{Linear, LinearConfig};
/// # type B = Autodiff<NdArray>;
/// # let device = Default::default();
/// # let model: Linear<B> = LinearConfig::new(4, 1).init(&device);
/// # let x = Tensor::<B, 2>::ones([8, 4], &device);
/// // Squared distance of the outputs to 10: far from any initial output.
/// let loss_of = |m: &Linear<B>| m.forward(x.clone()).sub_scalar(10.0).powi_scalar(2).mean();
/// let closure = |m: Linear<B>, _| {
///     let loss = loss_of(&m);
///     let value = loss.clone().into_scalar().elem::<f64>();
///     (value, GradientsParams::from_grads(loss.backward(), &m))
/// };
/// let before = loss_of(&model).into_scalar().elem::<f64>();
/// use sam_burn::optim::SsamConfig;
///
/// let mut optim = SsamConfig::new()
///     .with_fisher_samples(4)
///     .init(SgdConfig::new().init())?;
/// // The Fisher mask comes first: one example's gradients per call.
/// let rule = optim.rule_mut().inner_mut();
/// assert!(rule.needs_refresh());
/// rule.refresh_mask(&model, |m: Linear<B>, i| {
///     let loss = loss_of(&m).mul_scalar(1.0 + i as f64);
///     GradientsParams::from_grads(loss.backward(), &m)
/// })?;
/// let (perturbed, total) = optim.rule().inner().mask_counts().unwrap();
/// assert!(perturbed > 0 && perturbed < total); // about 1 - sparsity of the 5 weights
/// let (model, report) = optim.step(0.01, model, closure).map_err(|f| f.error)?;
/// assert_eq!(report.passes, 2);
/// assert!(loss_of(&model).into_scalar().elem::<f64>() < before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Config, Debug)]
pub struct SsamConfig {
    /// Radius of the ball (reference: 0.1).
    #[config(default = 0.1)]
    pub rho: f64,
    /// Fraction of weights NOT perturbed (reference: 0.5).
    #[config(default = 0.5)]
    pub sparsity: f64,
    /// Examples whose squared gradients make the Fisher scores (reference: 16).
    #[config(default = 16)]
    pub fisher_samples: usize,
    /// Steps between mask refreshes as reported by `needs_refresh`; set it
    /// to the number of batches per epoch for the reference schedule
    /// (under a `schedule` that perturbs one step in k, the rule counts
    /// perturbed steps only: divide by k).
    /// 0 means "only when no mask exists".
    #[config(default = 0)]
    pub refresh_every: u64,
    /// Whether the perturbed pass may update batch-norm running statistics.
    #[config(default = "RunningStats::CleanPassOnly")]
    pub running_stats: RunningStats,
    /// Clipping of the final gradient (per tensor, Burn's semantics).
    pub grad_clipping: Option<GradientClippingConfig>,
    /// On which steps the perturbed passes run (default
    /// `Schedule::EVERY_STEP`: all of them, the method as published); see
    /// [`Scheduled`].
    #[config(default = "Schedule::EVERY_STEP")]
    pub schedule: Schedule,
}

/// SSAM wrapping a base optimizer `O`.
pub type Ssam<M, B, O> = SharpnessAware<M, B, Scheduled<SsamRule<B>>, O>;

impl SsamConfig {
    /// Builds SSAM around `base` (any Burn optimizer): validates the
    /// configuration, then wraps the rule in the configured schedule.
    pub fn init<M, B, O>(&self, base: O) -> Result<Ssam<M, B, O>, OptimError>
    where
        M: AutodiffModule<B>,
        B: AutodiffBackend,
        O: Optimizer<M, B>,
    {
        SharpnessAware::scheduled(self.rule()?, self.schedule, base)
    }

    /// Validates the configuration and builds the rule of a perturbed step
    /// (without a mask; [`init`](Self::init) wraps it in the configured
    /// schedule).
    pub fn rule<B: AutodiffBackend>(&self) -> Result<SsamRule<B>, OptimError> {
        self.validate()?;
        Ok(SsamRule {
            sam: SamRule::new(self.rho, self.running_stats, self.grad_clipping.clone()),
            config: self.clone(),
            mask: None,
            refreshed_at: 0,
        })
    }

    /// Checks `rho`, `sparsity`, `fisher_samples` and the schedule.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_radius("rho", self.rho)?;
        self.schedule.validate()?;
        if !(self.sparsity.is_finite() && (0.0..1.0).contains(&self.sparsity)) {
            return Err(OptimError::InvalidConfig {
                name: "sparsity",
                value: self.sparsity.to_string(),
                reason: "must be in [0, 1)",
            });
        }
        if self.fisher_samples == 0 {
            return Err(OptimError::InvalidConfig {
                name: "fisher_samples",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}

/// The SSAM rule: SAM's step restricted by the current mask (0/1 per
/// weight, flattened, keyed by parameter), and the configuration that
/// refreshes the mask.
#[derive(Clone, Debug)]
pub struct SsamRule<B: AutodiffBackend> {
    sam: SamRule,
    config: SsamConfig,
    mask: Option<HashMap<ParamId, Tensor<B, 1>>>,
    refreshed_at: u64,
}

/// SSAM's saved state: (steps taken, step of the last refresh, mask).
pub type SsamRecord<B> = (u64, u64, Option<HashMap<ParamId, Tensor<B, 1>>>);

impl<B: AutodiffBackend> SsamRule<B> {
    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.sam.step_count()
    }

    /// Examples whose squared gradients make the Fisher scores.
    pub fn fisher_samples(&self) -> usize {
        self.config.fisher_samples
    }

    /// Whether the schedule asks for a new mask before the next step.
    pub fn needs_refresh(&self) -> bool {
        self.mask.is_none()
            || (self.config.refresh_every > 0
                && self.step_count() - self.refreshed_at >= self.config.refresh_every)
    }

    /// Number of weights the current mask perturbs, and the total.
    pub fn mask_counts(&self) -> Option<(usize, usize)> {
        use burn::tensor::ElementConversion;
        self.mask.as_ref().map(|m| {
            m.values().fold((0, 0), |(kept, total), t| {
                let n = t.shape().num_elements();
                (
                    kept + t.clone().sum().into_scalar().elem::<f64>().round() as usize,
                    total + n,
                )
            })
        })
    }

    /// Recomputes the Fisher mask of `model`: `example(model, i)` returns
    /// the gradients of the loss of example `i` alone, for
    /// `i in 0..fisher_samples`. Exactly `round((1 - sparsity) * d)` weights
    /// are kept (ties broken by position, see `sam_core::rules::fisher_mask`).
    pub fn refresh_mask<M, F>(&mut self, model: &M, example: F) -> Result<(), OptimError>
    where
        M: AutodiffModule<B>,
        F: FnMut(M, usize) -> GradientsParams,
    {
        let count = self.config.fisher_samples;
        self.refresh_mask_reduced(model, count, example, Ok)
    }

    /// [`refresh_mask`](Self::refresh_mask) over `count` examples, with the
    /// Fisher scores (squared gradients summed over the examples, packed
    /// into one tensor in parameter order) passed through `reduce` before
    /// the top-k: a data-parallel replica scores its share of the examples
    /// and sums the scores over the replicas
    /// ([`Replica::all_reduce_sum`](crate::parallel::Replica::all_reduce_sum)),
    /// so every replica keeps the same mask.
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] when `count` is 0, the error of
    /// `reduce`, or a mask that cannot be formed.
    pub fn refresh_mask_reduced<M, F, R>(
        &mut self,
        model: &M,
        count: usize,
        mut example: F,
        reduce: R,
    ) -> Result<(), OptimError>
    where
        M: AutodiffModule<B>,
        F: FnMut(M, usize) -> GradientsParams,
        R: FnOnce(Tensor<B::InnerBackend, 1>) -> Result<Tensor<B::InnerBackend, 1>, OptimError>,
    {
        if count == 0 {
            return Err(OptimError::InvalidConfig {
                name: "fisher_samples",
                value: "0".into(),
                reason: "each Fisher mask needs at least one example",
            });
        }
        let (list, first) = flatten_gradients::<B, M>(model, example(model.clone(), 0))?;
        let device = first.tensors[0].device();
        let mut scores = Flat {
            tensors: first.tensors.into_iter().map(|g| g.square()).collect(),
        };
        for i in 1..count {
            let g = flatten_like::<B, M>(model, &list, example(model.clone(), i), &device);
            scores = Flat {
                tensors: scores
                    .tensors
                    .into_iter()
                    .zip(g.tensors)
                    .map(|(s, g)| s.add(g.square()))
                    .collect(),
            };
        }
        let scores = reduce(Tensor::cat(scores.tensors, 0))?;
        // The exact top-k needs every score in one place; this runs once
        // per refresh, not per step.
        let data = scores.into_data().convert::<f32>();
        let host = data
            .as_slice::<f32>()
            .map_err(|e| OptimError::MaskMismatch(format!("cannot read Fisher scores: {e:?}")))?;
        if host.len() != list.numel() {
            return Err(OptimError::MaskMismatch(format!(
                "{} Fisher scores for {} weights",
                host.len(),
                list.numel()
            )));
        }
        let keep = sam_core::rules::fisher_mask(host, 1.0 - self.config.sparsity)?;
        let mut mask = HashMap::with_capacity(list.len());
        let mut offset = 0;
        for (id, shape) in list.ids.iter().zip(&list.shapes) {
            let n = shape.iter().product::<usize>();
            let values: Vec<f32> = keep[offset..offset + n]
                .iter()
                .map(|&k| if k { 1.0 } else { 0.0 })
                .collect();
            offset += n;
            let t = Tensor::<B::InnerBackend, 1>::from_data(TensorData::new(values, [n]), &device);
            mask.insert(*id, Tensor::from_inner(t));
        }
        self.mask = Some(mask);
        self.refreshed_at = self.step_count();
        Ok(())
    }

    /// Installs a mask directly (0/1 per weight, flattened per parameter).
    pub fn set_mask(&mut self, mask: HashMap<ParamId, Tensor<B, 1>>) {
        self.mask = Some(mask);
        self.refreshed_at = self.step_count();
    }

    /// The current mask, if any.
    pub fn mask(&self) -> Option<&HashMap<ParamId, Tensor<B, 1>>> {
        self.mask.as_ref()
    }
}

impl<B: AutodiffBackend> SharpnessRule<B> for SsamRule<B> {
    type Record = SsamRecord<B>;

    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        closure: F,
    ) -> GradientsOf<M, F> {
        let mask = self.mask.as_ref().ok_or(OptimError::MaskMissing)?;
        self.sam.ascend::<B, M, F, _>(model, closure, |list, g0| {
            // SSAM-F scales by the norm of the full gradient and then
            // zeroes the unmasked entries (the reference code's order).
            let mut tensors = Vec::with_capacity(list.len());
            for ((id, shape), g) in list.ids.iter().zip(&list.shapes).zip(&g0.tensors) {
                let m = mask.get(id).ok_or_else(|| {
                    OptimError::MaskMismatch(format!("no mask for parameter {id}"))
                })?;
                let n = shape.iter().product::<usize>();
                if m.shape().num_elements() != n {
                    return Err(OptimError::MaskMismatch(format!(
                        "mask of parameter {id} has {} entries, the parameter {n}",
                        m.shape().num_elements()
                    )));
                }
                tensors.push(g.clone().mul(m.clone().inner()));
            }
            Ok(AscentDirection {
                norm: NormValue(g0.squared_norm()),
                step: Flat { tensors },
            })
        })
    }

    fn clipping(&self) -> Option<&GradientClippingConfig> {
        SharpnessRule::<B>::clipping(&self.sam)
    }

    fn to_record(&self) -> SsamRecord<B> {
        (self.step_count(), self.refreshed_at, self.mask.clone())
    }

    fn load_record(mut self, (step, refreshed_at, mask): SsamRecord<B>) -> Self {
        self.sam = SharpnessRule::<B>::load_record(self.sam, step);
        (self.refreshed_at, self.mask) = (refreshed_at, mask);
        self
    }
}
