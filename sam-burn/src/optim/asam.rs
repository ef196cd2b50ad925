//! ASAM (Kwon et al., 2021): SAM in the adaptive metric `T = |w| + eta`,
//! perturbation `rho * T^2 g0 / ||T g0||`, invariant to per-weight rescaling.

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use sam_core::schedule::Schedule;

use super::base::{GradientsOf, PassFn, SharpnessAware, SharpnessRule};
use super::error::{OptimError, check_radius};
use super::sam::{AscentDirection, NormValue, SamRule};
use super::schedule::Scheduled;
use crate::params::{Flat, RunningStats, flatten_values};

/// Configuration of [`Asam`]; defaults are the reference settings.
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
/// use sam_burn::optim::AsamConfig;
///
/// // The reference radius and eta (0.5, 0.01).
/// let mut optim = AsamConfig::new().init(SgdConfig::new().init())?;
/// let (model, report) = optim.step(0.01, model, closure).map_err(|f| f.error)?;
/// assert_eq!(report.passes, 2);
/// assert!(loss_of(&model).into_scalar().elem::<f64>() < before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Config, Debug)]
pub struct AsamConfig {
    /// Radius in the adaptive metric (reference: 0.5).
    #[config(default = 0.5)]
    pub rho: f64,
    /// Offset eta of `T = |w| + eta`, keeping zero weights perturbable
    /// (reference: 0.01).
    #[config(default = 0.01)]
    pub eta: f64,
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

/// ASAM wrapping a base optimizer `O`.
pub type Asam<M, B, O> = SharpnessAware<M, B, Scheduled<AsamRule>, O>;

impl AsamConfig {
    /// Builds ASAM around `base` (any Burn optimizer): validates the
    /// configuration, then wraps the rule in the configured schedule.
    pub fn init<M, B, O>(&self, base: O) -> Result<Asam<M, B, O>, OptimError>
    where
        M: AutodiffModule<B>,
        B: AutodiffBackend,
        O: Optimizer<M, B>,
    {
        SharpnessAware::scheduled(self.rule()?, self.schedule, base)
    }

    /// Checks `rho` and `eta` (finite, non-negative) and the schedule.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_radius("rho", self.rho)?;
        check_radius("eta", self.eta)?;
        self.schedule.validate()?;
        Ok(())
    }

    /// Validates the configuration and builds the rule of a perturbed step.
    pub fn rule(&self) -> Result<AsamRule, OptimError> {
        self.validate()?;
        let sam = SamRule::new(self.rho, self.running_stats, self.grad_clipping.clone());
        Ok(AsamRule { sam, eta: self.eta })
    }
}

/// The ASAM rule: SAM's step in the adaptive metric.
#[derive(Clone, Debug)]
pub struct AsamRule {
    sam: SamRule,
    eta: f64,
}

impl AsamRule {
    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.sam.step_count()
    }
}

impl<B: AutodiffBackend> SharpnessRule<B> for AsamRule {
    type Record = u64;

    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        closure: F,
    ) -> GradientsOf<M, F> {
        let eta = self.eta;
        self.sam.ascend::<B, M, F, _>(model, closure, |list, g0| {
            let w = flatten_values::<B, M>(model, list);
            let t: Vec<_> = w
                .tensors
                .into_iter()
                .map(|w| w.abs().add_scalar(eta))
                .collect();
            let tg = Flat {
                tensors: t
                    .iter()
                    .zip(&g0.tensors)
                    .map(|(t, g)| t.clone().mul(g.clone()))
                    .collect(),
            };
            let norm = NormValue(tg.squared_norm());
            let step = Flat {
                tensors: t
                    .into_iter()
                    .zip(tg.tensors)
                    .map(|(t, tg)| t.mul(tg))
                    .collect(),
            };
            Ok(AscentDirection { step, norm })
        })
    }

    fn clipping(&self) -> Option<&GradientClippingConfig> {
        SharpnessRule::<B>::clipping(&self.sam)
    }

    fn to_record(&self) -> u64 {
        self.sam.step_count()
    }

    fn load_record(self, record: u64) -> Self {
        let sam = SharpnessRule::<B>::load_record(self.sam, record);
        Self { sam, ..self }
    }
}
