//! Any method, chosen at run time (command lines, config files, sweeps):
//! [`MethodConfig`] is the one schema of a method's settings. Its table
//! form ([`schema`]) is a flat table tagged by `method`, the fields of
//! that method's config beside it.
//!
//! ```
//! use burn::config::Config;
//! use sam_burn::optim::MethodConfig;
//!
//! let frob: MethodConfig = toml::from_str(
//!     r#"
//!     method = "frob"
//!     rho = 0.01
//!     schedule = { every = 5 }
//!     "#,
//! )?;
//! frob.validate()?;
//! assert_eq!(frob.name(), "frob");
//! assert_eq!(frob.passes_per_step(), 3); // clean + Frob's 2 samples
//! assert_eq!(frob.schedule().every, 5);
//!
//! // A field the method does not have is refused, by name.
//! let err = toml::from_str::<MethodConfig>("method = \"sam\"\nlambda = 0.1").unwrap_err();
//! assert!(err.to_string().contains("method `sam` has no field `lambda`"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod rule;
pub mod schema;

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use sam_core::schedule::Schedule;

use super::asam::AsamConfig;
use super::base::SharpnessAware;
use super::error::OptimError;
use super::sam::SamConfig;
use super::schedule::Scheduled;
use super::ssam::SsamConfig;
use super::universal::UniversalSamConfig;

pub use rule::{MethodRecord, MethodRule};
pub use schema::SchemaError;

/// The base optimizer alone: one clean pass per step, its gradient
/// clipped like the sharpness-aware methods' combined gradient.
#[derive(Config, Debug)]
pub struct BaseConfig {
    /// Clipping of the gradient (per tensor, Burn's semantics), applied
    /// before the base optimizer sees it (default none).
    pub grad_clipping: Option<GradientClippingConfig>,
}

/// Which method computes the gradient handed to the base optimizer, with
/// its settings. Serialised as a table tagged by `method` ([`schema`]);
/// [`Config::save`] and [`Config::load`] write and read it as JSON.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::optim::{GradientsParams, SgdConfig};
/// use burn::tensor::{ElementConversion, Tensor};
/// use sam_burn::nn::{Linear, LinearConfig};
/// use sam_burn::optim::MethodConfig;
///
/// type B = Autodiff<NdArray>;
/// let device = Default::default();
/// let model: Linear<B> = LinearConfig::new(4, 1).init(&device);
/// let x = Tensor::<B, 2>::ones([8, 4], &device);
///
/// // Any method from its table (a config file, a command line).
/// let method: MethodConfig = toml::from_str("method = \"trace\"\nrho = 0.01")?;
/// let mut optim = method.init(SgdConfig::new().init())?;
/// let (_model, report) = optim
///     .step(0.01, model, |m: Linear<B>, _| {
///         let loss = m.forward(x.clone()).sub_scalar(10.0).powi_scalar(2).mean();
///         let value = loss.clone().into_scalar().elem::<f64>();
///         (value, GradientsParams::from_grads(loss.backward(), &m))
///     })
///     .map_err(|f| f.error)?;
/// assert_eq!(report.passes, method.passes_per_step()); // 2 for Trace-SAM
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub enum MethodConfig {
    /// The base optimizer alone (one pass per step), `method = "sgd"`.
    Base(BaseConfig),
    /// SAM, `method = "sam"`.
    Sam(SamConfig),
    /// ASAM, `method = "asam"`.
    Asam(AsamConfig),
    /// SSAM with a Fisher mask, `method = "ssam"`.
    Ssam(SsamConfig),
    /// A measure of the universal class, `method = "trace"`, `"frob"`,
    /// `"det"`, `"moments1"` to `"moments3"`.
    Universal(UniversalSamConfig),
}

impl Config for MethodConfig {}

impl Default for MethodConfig {
    /// The base optimizer alone.
    fn default() -> Self {
        MethodConfig::Base(BaseConfig::new())
    }
}

/// An optimizer whose method is chosen at run time, on the method's
/// schedule.
pub type MethodOptimizer<M, B, O> = SharpnessAware<M, B, Scheduled<MethodRule<B>>, O>;

impl MethodConfig {
    /// Checks every setting of the method and its schedule: what
    /// [`init`](Self::init) would reject, with the same error.
    pub fn validate(&self) -> Result<(), OptimError> {
        match self {
            MethodConfig::Base(_) => Ok(()),
            MethodConfig::Sam(c) => c.validate(),
            MethodConfig::Asam(c) => c.validate(),
            MethodConfig::Ssam(c) => c.validate(),
            MethodConfig::Universal(c) => c.validate(),
        }?;
        self.schedule().validate()?;
        Ok(())
    }

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

    /// Builds the optimizer around `base` (any Burn optimizer): the
    /// method's rule, on its schedule.
    pub fn init<M, B, O>(&self, base: O) -> Result<MethodOptimizer<M, B, O>, OptimError>
    where
        M: AutodiffModule<B>,
        B: AutodiffBackend,
        O: Optimizer<M, B>,
    {
        SharpnessAware::scheduled(self.rule()?, self.schedule(), base)
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

    /// Whether the method runs perturbed passes (all but the base
    /// optimizer alone).
    pub fn perturbs(&self) -> bool {
        !matches!(self, MethodConfig::Base(_))
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
            MethodConfig::Universal(c) => 1 + c.samples_or_reference(),
        }
    }
}

#[cfg(test)]
mod tests;
