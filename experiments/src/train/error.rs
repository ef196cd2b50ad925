//! Why a run stopped.

use sam_burn::hessian::HessianError;
use sam_burn::optim::OptimError;

use crate::backend::BackendError;
use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::models::ModelError;
use crate::output::OutputError;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The backend is unavailable.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The data could not be prepared.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model configuration is invalid for the data.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The output directory cannot be used.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A training step failed (the last checkpoint is intact).
    #[error("epoch {epoch}, step {step}: {source}{}", divergence_hint(.source))]
    Step {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (0-based).
        step: usize,
        /// The optimizer's error.
        source: OptimError,
    },
    /// The Hessian metrics failed.
    #[error("Hessian metrics: {0}")]
    Hessian(#[from] HessianError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// What to try when a step failed on non-finite numbers.
fn divergence_hint(error: &OptimError) -> &'static str {
    use sam_core::SamError;
    match error {
        OptimError::NonFiniteLoss { .. }
        | OptimError::Core(SamError::NonFinite { .. } | SamError::NonFiniteLoss { .. }) => {
            " (the run diverged: try a lower learning rate, or the stability guard, optimizer.guard_ratio; see the README's notes on the mathematics)"
        }
        _ => "",
    }
}
