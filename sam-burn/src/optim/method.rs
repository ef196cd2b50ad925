//! Any method, chosen at run time (command lines, config files, sweeps).

use hashbrown::HashMap;

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, ParamId};
use burn::record::Record;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use sam_core::schedule::Schedule;

use super::asam::{AsamConfig, AsamRule};
use super::base::{
    GradientsOf, PassFn, PassOutput, SharpnessAware, SharpnessGradients, SharpnessRule, StepReport,
    finish,
};
use super::error::{OptimError, check_finite};
use super::pass::Pass;
use super::sam::{SamConfig, SamRule};
use super::schedule::{Scheduled, scheduled_init};
use super::ssam::{SsamConfig, SsamRule};
use super::universal::{UniversalRecord, UniversalRule, UniversalSamConfig};
use crate::params::flatten_gradients;

/// The base optimizer alone: one clean pass per step, its gradient
/// clipped like the sharpness-aware methods' combined gradient.
#[derive(Config, Debug)]
pub struct BaseConfig {
    /// Clipping of the gradient (per tensor, Burn's semantics), applied
    /// before the base optimizer sees it (default none).
    pub grad_clipping: Option<GradientClippingConfig>,
}

/// Which method computes the gradient handed to the base optimizer.
#[derive(Config, Debug)]
pub enum MethodConfig {
    /// The base optimizer alone (one pass per step).
    Base(BaseConfig),
    /// SAM.
    Sam(SamConfig),
    /// ASAM.
    Asam(AsamConfig),
    /// SSAM with a Fisher mask.
    Ssam(SsamConfig),
    /// A measure of the universal class.
    Universal(UniversalSamConfig),
}

/// An optimizer whose method is chosen at run time, on the method's
/// schedule.
pub type MethodOptimizer<M, B, O> = SharpnessAware<M, B, Scheduled<MethodRule<B>>, O>;

impl MethodConfig {
    /// Validates the configuration and builds the rule of a perturbed step
    /// ([`init`](Self::init) wraps it in the method's schedule).
    pub fn rule<B: AutodiffBackend>(&self) -> Result<MethodRule<B>, OptimError> {
        Ok(match self {
            MethodConfig::Base(c) => MethodRule::Base {
                clipping: c.grad_clipping.clone(),
                step: 0,
            },
            MethodConfig::Sam(c) => MethodRule::Sam(c.rule()?),
            MethodConfig::Asam(c) => MethodRule::Asam(c.rule()?),
            MethodConfig::Ssam(c) => MethodRule::Ssam(c.rule()?),
            MethodConfig::Universal(c) => MethodRule::Universal(c.rule()?),
        })
    }

    scheduled_init!(MethodOptimizer, schedule());

    /// Checks every setting without building anything: what
    /// [`init`](Self::init) would reject, it rejects, with the same error.
    pub fn validate(&self) -> Result<(), OptimError> {
        match self {
            MethodConfig::Base(_) => Ok(()),
            MethodConfig::Sam(c) => c.rule().map(drop),
            MethodConfig::Asam(c) => c.rule().map(drop),
            MethodConfig::Ssam(c) => c.validate(),
            MethodConfig::Universal(c) => c.rule().map(drop),
        }?;
        self.schedule().validate()?;
        Ok(())
    }

    /// Sets the seed of the method's perturbation noise (the universal
    /// class draws it; the other methods have none, and are unchanged).
    pub fn with_seed(self, seed: u64) -> Self {
        match self {
            MethodConfig::Universal(c) => MethodConfig::Universal(c.with_seed(seed)),
            other => other,
        }
    }

    /// The method's perturbation schedule (every step for the base
    /// optimizer, which has no perturbed passes).
    pub fn schedule(&self) -> Schedule {
        match self {
            MethodConfig::Base(_) => Schedule::EVERY_STEP,
            MethodConfig::Sam(c) => c.schedule,
            MethodConfig::Asam(c) => c.schedule,
            MethodConfig::Ssam(c) => c.schedule,
            MethodConfig::Universal(c) => c.schedule,
        }
    }

    /// Forward-backward passes on the mean step, with the schedule's
    /// unperturbed steps counted (Frob-SAM every 5th step: 1.4).
    pub fn mean_passes_per_step(&self) -> f64 {
        self.schedule().mean_passes(self.passes_per_step())
    }

    /// Forward-backward passes of a perturbed step.
    pub fn passes_per_step(&self) -> usize {
        match self {
            MethodConfig::Base(_) => 1,
            MethodConfig::Sam(_) | MethodConfig::Asam(_) | MethodConfig::Ssam(_) => 2,
            MethodConfig::Universal(c) => {
                1 + c
                    .samples
                    .unwrap_or(c.preset.reference_hyperparameters().samples)
            }
        }
    }
}

/// The rule of a [`MethodConfig`].
#[derive(Clone, Debug)]
pub enum MethodRule<B: AutodiffBackend> {
    /// The base optimizer alone.
    Base {
        /// Clipping of the gradient.
        clipping: Option<GradientClippingConfig>,
        /// Steps taken.
        step: u64,
    },
    /// SAM.
    Sam(SamRule),
    /// ASAM.
    Asam(AsamRule),
    /// SSAM.
    Ssam(SsamRule<B>),
    /// Universal class.
    Universal(UniversalRule),
}

/// Saved state of a [`MethodRule`]; fields a method does not use stay 0
/// or `None`.
#[derive(Record, Debug, Clone)]
pub struct MethodRecord<B: AutodiffBackend> {
    /// Steps taken.
    pub step: u64,
    /// SSAM: the step of the last mask refresh.
    pub mask_step: u64,
    /// SSAM: the Fisher mask.
    pub mask: Option<HashMap<ParamId, Tensor<B, 1>>>,
    /// Universal class: steps whose sharpness part the guard scaled down.
    pub guard_bounded: u64,
    /// Universal class: steps whose sharpness part the guard dropped.
    pub guard_skipped: u64,
}

impl<B: AutodiffBackend> MethodRecord<B> {
    fn steps(step: u64) -> Self {
        Self {
            step,
            mask_step: 0,
            mask: None,
            guard_bounded: 0,
            guard_skipped: 0,
        }
    }
}

impl<B: AutodiffBackend> MethodRule<B> {
    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        match self {
            MethodRule::Base { step, .. } => *step,
            MethodRule::Sam(r) => r.step_count(),
            MethodRule::Asam(r) => r.step_count(),
            MethodRule::Ssam(r) => r.step_count(),
            MethodRule::Universal(r) => r.step_count(),
        }
    }

    /// Steps whose sharpness part the universal class's guard scaled
    /// down, and those it dropped ((0, 0) for other methods).
    pub fn guard_counts(&self) -> (u64, u64) {
        match self {
            MethodRule::Universal(r) => r.guard_counts(),
            _ => (0, 0),
        }
    }

    /// The SSAM rule, when that is the method (to refresh its mask).
    pub fn as_ssam_mut(&mut self) -> Option<&mut SsamRule<B>> {
        match self {
            MethodRule::Ssam(r) => Some(r),
            _ => None,
        }
    }
}

impl<B: AutodiffBackend> SharpnessRule<B> for MethodRule<B> {
    type Record = MethodRecord<B>;

    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        mut closure: F,
    ) -> GradientsOf<M, F> {
        match self {
            MethodRule::Base { clipping, step } => {
                let (loss, grads, output) = closure(model.clone(), Pass::Clean).split()?;
                let loss = check_finite(loss, Pass::Clean)?;
                // Without clipping the gradient goes to the base optimizer
                // as the closure made it: no flattening on SGD's hot path.
                let grads = match clipping {
                    Some(c) => {
                        let (list, g) = flatten_gradients::<B, M>(model, grads)?;
                        finish::<B>(&list, g, Some(&*c))
                    }
                    None if grads.is_empty() => return Err(OptimError::NoGradients),
                    None => grads,
                };
                *step += 1;
                Ok(SharpnessGradients {
                    grads,
                    report: StepReport::clean(loss, output),
                })
            }
            MethodRule::Sam(r) => SharpnessRule::<B>::gradients(r, model, closure),
            MethodRule::Asam(r) => SharpnessRule::<B>::gradients(r, model, closure),
            MethodRule::Ssam(r) => r.gradients(model, closure),
            MethodRule::Universal(r) => SharpnessRule::<B>::gradients(r, model, closure),
        }
    }

    fn clipping(&self) -> Option<&GradientClippingConfig> {
        match self {
            MethodRule::Base { clipping, .. } => clipping.as_ref(),
            MethodRule::Sam(r) => SharpnessRule::<B>::clipping(r),
            MethodRule::Asam(r) => SharpnessRule::<B>::clipping(r),
            MethodRule::Ssam(r) => r.clipping(),
            MethodRule::Universal(r) => SharpnessRule::<B>::clipping(r),
        }
    }

    fn to_record(&self) -> MethodRecord<B> {
        match self {
            MethodRule::Ssam(r) => {
                let (step, mask_step, mask) = r.to_record();
                MethodRecord {
                    mask_step,
                    mask,
                    ..MethodRecord::steps(step)
                }
            }
            MethodRule::Universal(r) => {
                let u = SharpnessRule::<B>::to_record(r);
                MethodRecord {
                    guard_bounded: u.bounded,
                    guard_skipped: u.skipped,
                    ..MethodRecord::steps(u.step)
                }
            }
            other => MethodRecord::steps(other.step_count()),
        }
    }

    fn load_record(self, record: MethodRecord<B>) -> Self {
        match self {
            MethodRule::Base { clipping, .. } => MethodRule::Base {
                clipping,
                step: record.step,
            },
            MethodRule::Sam(r) => MethodRule::Sam(SharpnessRule::<B>::load_record(r, record.step)),
            MethodRule::Asam(r) => {
                MethodRule::Asam(SharpnessRule::<B>::load_record(r, record.step))
            }
            MethodRule::Ssam(r) => {
                MethodRule::Ssam(r.load_record((record.step, record.mask_step, record.mask)))
            }
            MethodRule::Universal(r) => MethodRule::Universal(SharpnessRule::<B>::load_record(
                r,
                UniversalRecord {
                    step: record.step,
                    bounded: record.guard_bounded,
                    skipped: record.guard_skipped,
                },
            )),
        }
    }
}
