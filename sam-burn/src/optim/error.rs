//! Typed errors of the sharpness-aware optimizers.

use super::pass::Pass;
use crate::params::ParamsError;

/// Why a sharpness-aware step could not be taken.
///
/// A failed step changes nothing: the optimizer's state (step counter, base
/// optimizer state, SSAM mask) is only advanced by a successful step, and
/// [`StepFailure`](super::StepFailure) hands the model back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// The sharpness math rejected its input (radius, lambda, sample count,
    /// non-finite losses, overflow of a measure).
    #[error(transparent)]
    Core(#[from] sam_core::SamError),
    /// The closure returned a non-finite loss.
    #[error("the closure returned a non-finite loss ({value}) on the {pass}")]
    NonFiniteLoss {
        /// Which pass produced it.
        pass: Pass,
        /// The loss value.
        value: f64,
    },
    /// The clean pass produced no gradient for any parameter.
    #[error("the clean pass produced no gradient for any parameter of the module")]
    NoGradients,
    /// A trainable parameter has a rank the flat views cannot convert back.
    #[error("a trainable parameter has rank {rank}; ranks 1 to 6 are supported")]
    UnsupportedRank {
        /// The parameter's rank.
        rank: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {name} = {value}: {reason}")]
    InvalidConfig {
        /// The field.
        name: &'static str,
        /// Its value, printed.
        value: String,
        /// What is expected.
        reason: &'static str,
    },
    /// SSAM was asked to step before any Fisher mask was computed.
    #[error("SSAM has no Fisher mask yet: call `refresh_mask` before the first step")]
    MaskMissing,
    /// The SSAM mask does not cover the model's parameters.
    #[error("the SSAM mask does not match the model: {0}")]
    MaskMismatch(String),
    /// The sharpness part a schedule remembered for its reuse steps does
    /// not match the model's parameters.
    #[error("the remembered sharpness part does not match the model: {0}")]
    ScheduleMismatch(String),
    /// Gradient accumulation ([`accumulate`](fn@super::accumulate)) was given
    /// no micro-batch.
    #[error("gradient accumulation needs at least one micro-batch")]
    NoMicroBatches,
    /// A micro-batch of gradient accumulation holds no example.
    #[error("micro-batch {index} of the accumulated step holds no example")]
    EmptyMicroBatch {
        /// Its position in the list.
        index: usize,
    },
    /// A data-parallel collective operation failed (another replica gave
    /// up, or the replicas disagree).
    #[error(transparent)]
    Parallel(#[from] crate::error::ParallelError),
    /// The parameters could not be listed or converted (a layout that
    /// does not match the module).
    #[error(transparent)]
    Params(ParamsError),
}

impl OptimError {
    /// The field of a method's configuration (its table form, see
    /// [`MethodConfig`](super::MethodConfig)) that a configuration error
    /// is about: `rho`, `guard.max_ratio`, `schedule.every`, ...
    pub fn config_field(&self) -> Option<&'static str> {
        use sam_core::SamError;
        match self {
            OptimError::InvalidConfig { name, .. } => Some(name),
            OptimError::Core(SamError::InvalidRho(_)) => Some("rho"),
            OptimError::Core(SamError::InvalidLambda(_)) => Some("lambda"),
            OptimError::Core(SamError::TooFewSamples { .. }) => Some("samples"),
            OptimError::Core(SamError::InvalidParameter { name, .. }) => Some(match *name {
                "max_ratio" => "guard.max_ratio",
                "every" => "schedule.every",
                "half_width" => "sampler",
                other => other,
            }),
            _ => None,
        }
    }
}

impl From<ParamsError> for OptimError {
    fn from(e: ParamsError) -> Self {
        match e {
            ParamsError::NoGradients => OptimError::NoGradients,
            ParamsError::UnsupportedRank { rank } => OptimError::UnsupportedRank { rank },
            other => OptimError::Params(other),
        }
    }
}

pub(crate) fn check_finite(value: f64, pass: Pass) -> Result<f64, OptimError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(OptimError::NonFiniteLoss { pass, value })
    }
}

pub(crate) fn check_radius(name: &'static str, value: f64) -> Result<(), OptimError> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(OptimError::InvalidConfig {
            name,
            value: value.to_string(),
            reason: "must be finite and non-negative",
        });
    }
    check_f32_range(name, value)
}

/// A radius multiplies f32 weights: one beyond f32's range makes every
/// perturbed weight infinite.
pub(crate) fn check_f32_range(name: &'static str, value: f64) -> Result<(), OptimError> {
    if value > f64::from(f32::MAX) {
        return Err(OptimError::InvalidConfig {
            name,
            value: value.to_string(),
            reason: "must be finite and at most 3.4e38: the perturbation is computed in f32",
        });
    }
    Ok(())
}
