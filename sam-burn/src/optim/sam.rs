//! SAM (Foret et al., 2021): the gradient at the worst point of the
//! rho-ball to first order, `w + rho * g0 / ||g0||`.

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use sam_core::schedule::Schedule;

use super::base::{
    GradientsOf, PassFn, PassOutput, SharpnessAware, SharpnessGradients, SharpnessRule, StepReport,
    finish,
};
use super::error::{OptimError, check_finite, check_radius};
use super::pass::Pass;
use super::schedule::Scheduled;
use crate::params::{
    Flat, ParamList, RunningStats, flatten_gradients, flatten_like, perturbed_module,
};

/// Configuration of [`Sam`]; defaults are the reference settings.
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
/// use sam_burn::optim::SamConfig;
///
/// let mut optim = SamConfig::new().with_rho(0.05).init(SgdConfig::new().init())?;
/// let (model, report) = optim.step(0.01, model, closure).map_err(|f| f.error)?;
/// assert_eq!(report.passes, 2); // the clean gradient, then the one at w + e
/// assert!(loss_of(&model).into_scalar().elem::<f64>() < before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Config, Debug)]
pub struct SamConfig {
    /// Radius of the ball (reference ResNet18/CIFAR setting: 0.05).
    #[config(default = 0.05)]
    pub rho: f64,
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

/// SAM wrapping a base optimizer `O`.
pub type Sam<M, B, O> = SharpnessAware<M, B, Scheduled<SamRule>, O>;

impl SamConfig {
    /// Builds SAM around `base` (any Burn optimizer): validates the
    /// configuration, then wraps the rule in the configured schedule.
    pub fn init<M, B, O>(&self, base: O) -> Result<Sam<M, B, O>, OptimError>
    where
        M: AutodiffModule<B>,
        B: AutodiffBackend,
        O: Optimizer<M, B>,
    {
        SharpnessAware::scheduled(self.rule()?, self.schedule, base)
    }

    /// Checks `rho` (finite, non-negative; 0 is the base optimizer's step)
    /// and the schedule.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_radius("rho", self.rho)?;
        self.schedule.validate()?;
        Ok(())
    }

    /// Validates the configuration and builds the rule of a perturbed step.
    pub fn rule(&self) -> Result<SamRule, OptimError> {
        self.validate()?;
        Ok(SamRule::new(
            self.rho,
            self.running_stats,
            self.grad_clipping.clone(),
        ))
    }
}

/// The SAM rule. ASAM and SSAM hold one too: it keeps what the three share
/// (radius, running statistics, clipping, step counter) and takes their
/// common step (`ascend`).
#[derive(Clone, Debug)]
pub struct SamRule {
    rho: f64,
    running_stats: RunningStats,
    clipping: Option<GradientClippingConfig>,
    step: u64,
}

impl SamRule {
    /// A rule at step 0 (its config has checked `rho`).
    pub(crate) fn new(
        rho: f64,
        running_stats: RunningStats,
        clipping: Option<GradientClippingConfig>,
    ) -> Self {
        Self {
            rho,
            running_stats,
            clipping,
            step: 0,
        }
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Clean pass, then one pass at `w + scale * direction`, where
    /// `direction(list, g0)` returns the unnormalised ascent direction and
    /// its norm is taken over all parameters; counts the step on success.
    pub(crate) fn ascend<B, M, F, D>(
        &mut self,
        model: &M,
        mut closure: F,
        direction: D,
    ) -> GradientsOf<M, F>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        F: PassFn<M>,
        D: FnOnce(&ParamList, &Flat<B::InnerBackend>) -> Result<AscentDirection<B>, OptimError>,
    {
        let clipping = self.clipping.as_ref();
        let (l0, g0, output) = closure(model.clone(), Pass::Clean).split()?;
        let l0 = check_finite(l0, Pass::Clean)?;
        let (list, g0) = flatten_gradients::<B, M>(model, g0)?;
        if self.rho == 0.0 {
            self.step += 1;
            return Ok(SharpnessGradients {
                grads: finish::<B>(&list, g0, clipping),
                report: StepReport::clean(l0, output),
            });
        }
        let AscentDirection { step, norm } = direction(&list, &g0)?;
        let device = g0.tensors[0].device();
        drop(g0);
        let norm: f64 = norm.into_scalar_f64();
        let scale = sam_core::rules::sam_scale(norm, self.rho);
        let perturbed = perturbed_module::<B, M, _>(model, &list, self.running_stats, |t, w| {
            w.add(step.tensors[t].clone().mul_scalar(scale))
        });
        drop(step);
        let (l1, g1, _) = closure(perturbed, Pass::Perturbed { sample: 0 }).split()?;
        let l1 = check_finite(l1, Pass::Perturbed { sample: 0 })?;
        let g1 = flatten_like::<B, M>(model, &list, g1, &device);
        let grads = finish::<B>(&list, g1, clipping);
        self.step += 1;
        Ok(SharpnessGradients {
            grads,
            report: StepReport {
                loss: l0,
                perturbed_losses: vec![l1],
                sharpness: None,
                passes: 2,
                guard: None,
                output,
            },
        })
    }
}

/// An ascent direction `step` (perturbation = rho * step / norm).
pub(crate) struct AscentDirection<B: AutodiffBackend> {
    pub step: Flat<B::InnerBackend>,
    pub norm: NormValue<B>,
}

/// A norm still on the device, read once.
pub(crate) struct NormValue<B: AutodiffBackend>(pub burn::tensor::Tensor<B::InnerBackend, 1>);

impl<B: AutodiffBackend> NormValue<B> {
    fn into_scalar_f64(self) -> f64 {
        use burn::tensor::ElementConversion;
        self.0.sqrt().into_scalar().elem::<f64>()
    }
}

impl<B: AutodiffBackend> SharpnessRule<B> for SamRule {
    type Record = u64;

    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        closure: F,
    ) -> GradientsOf<M, F> {
        self.ascend::<B, M, F, _>(model, closure, |_, g0| {
            Ok(AscentDirection {
                norm: NormValue(g0.squared_norm()),
                step: g0.clone(),
            })
        })
    }

    fn clipping(&self) -> Option<&GradientClippingConfig> {
        self.clipping.as_ref()
    }

    fn to_record(&self) -> u64 {
        self.step
    }

    fn load_record(mut self, record: u64) -> Self {
        self.step = record;
        self
    }
}
