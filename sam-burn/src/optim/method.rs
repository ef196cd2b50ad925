//! Any method, chosen at run time (command lines, config files, sweeps).

use hashbrown::HashMap;

use burn::config::Config;
use burn::module::{AutodiffModule, ParamId};
use burn::optim::Optimizer;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use super::asam::{AsamConfig, AsamRule};
use super::base::{PassOutput, SharpnessAware, SharpnessGradients, SharpnessRule, StepReport};
use super::error::{OptimError, Pass, check_finite};
use super::sam::{SamConfig, SamRule};
use super::ssam::{SsamConfig, SsamRule};
use super::universal::{UniversalRule, UniversalSamConfig};

/// Which method computes the gradient handed to the base optimizer.
#[derive(Config, Debug)]
pub enum MethodConfig {
    /// The base optimizer alone (one pass per step).
    Base,
    /// SAM.
    Sam(SamConfig),
    /// ASAM.
    Asam(AsamConfig),
    /// SSAM with a Fisher mask.
    Ssam(SsamConfig),
    /// A measure of the universal class.
    Universal(UniversalSamConfig),
}

/// An optimizer whose method is chosen at run time.
pub type MethodOptimizer<M, B, O> = SharpnessAware<M, B, MethodRule<B>, O>;

impl MethodConfig {
    /// Validates the configuration and builds the rule.
    pub fn rule<B: AutodiffBackend>(&self) -> Result<MethodRule<B>, OptimError> {
        Ok(match self {
            MethodConfig::Base => MethodRule::Base { step: 0 },
            MethodConfig::Sam(c) => MethodRule::Sam(c.rule()?),
            MethodConfig::Asam(c) => MethodRule::Asam(c.rule()?),
            MethodConfig::Ssam(c) => MethodRule::Ssam(c.rule()?),
            MethodConfig::Universal(c) => MethodRule::Universal(c.rule()?),
        })
    }

    /// Builds the optimizer around `base` (any Burn optimizer).
    pub fn init<M, B, O>(&self, base: O) -> Result<MethodOptimizer<M, B, O>, OptimError>
    where
        M: AutodiffModule<B>,
        B: AutodiffBackend,
        O: Optimizer<M, B>,
    {
        Ok(SharpnessAware::new(self.rule()?, base))
    }

    /// Forward-backward passes per step.
    pub fn passes_per_step(&self) -> usize {
        match self {
            MethodConfig::Base => 1,
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

/// Saved state of a [`MethodRule`]: (steps taken, step of the last SSAM
/// mask refresh, SSAM mask); the last two are unused by other methods.
pub type MethodRecord<B> = (u64, u64, Option<HashMap<ParamId, Tensor<B, 1>>>);

impl<B: AutodiffBackend> MethodRule<B> {
    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        match self {
            MethodRule::Base { step } => *step,
            MethodRule::Sam(r) => r.step_count(),
            MethodRule::Asam(r) => r.step_count(),
            MethodRule::Ssam(r) => r.step_count(),
            MethodRule::Universal(r) => r.step_count(),
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

    fn gradients<M, F, P>(
        &mut self,
        model: &M,
        mut closure: F,
    ) -> Result<SharpnessGradients<P::Extra>, OptimError>
    where
        M: AutodiffModule<B>,
        F: FnMut(M) -> P,
        P: PassOutput,
    {
        match self {
            MethodRule::Base { step } => {
                let (loss, grads, output) = closure(model.clone()).split();
                let loss = check_finite(loss, Pass::Clean)?;
                *step += 1;
                Ok(SharpnessGradients {
                    grads,
                    report: StepReport {
                        loss,
                        perturbed_losses: Vec::new(),
                        sharpness: None,
                        passes: 1,
                        output,
                    },
                })
            }
            MethodRule::Sam(r) => SharpnessRule::<B>::gradients(r, model, closure),
            MethodRule::Asam(r) => SharpnessRule::<B>::gradients(r, model, closure),
            MethodRule::Ssam(r) => r.gradients(model, closure),
            MethodRule::Universal(r) => SharpnessRule::<B>::gradients(r, model, closure),
        }
    }

    fn to_record(&self) -> MethodRecord<B> {
        match self {
            MethodRule::Ssam(r) => r.to_record(),
            other => (other.step_count(), 0, None),
        }
    }

    fn load_record(self, record: MethodRecord<B>) -> Self {
        match self {
            MethodRule::Base { .. } => MethodRule::Base { step: record.0 },
            MethodRule::Sam(r) => MethodRule::Sam(SharpnessRule::<B>::load_record(r, record.0)),
            MethodRule::Asam(r) => MethodRule::Asam(SharpnessRule::<B>::load_record(r, record.0)),
            MethodRule::Ssam(r) => MethodRule::Ssam(r.load_record(record)),
            MethodRule::Universal(r) => {
                MethodRule::Universal(SharpnessRule::<B>::load_record(r, record.0))
            }
        }
    }
}
