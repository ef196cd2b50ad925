//! Why a run stopped.

use sam_burn::hessian::HessianError;
use sam_burn::optim::OptimError;
use sam_burn::parallel::ParallelError;

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
    #[error("epoch {epoch}, step {step}: {source}{}", divergence_hint(*.epoch, *.step, .source))]
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
    /// A data-parallel collective operation failed.
    #[error("data-parallel training: {0}")]
    Parallel(#[from] ParallelError),
    /// A replica's thread panicked (a bug; the other replicas were stopped).
    #[error("replica {rank} panicked: {message}")]
    ReplicaPanicked {
        /// The replica.
        rank: usize,
        /// The panic's message.
        message: String,
    },
}

impl RunError {
    /// Whether this replica stopped only because another one failed first
    /// (its collective operation was cancelled): the other's error is the
    /// one to report.
    pub fn is_knock_on(&self) -> bool {
        match self {
            RunError::Parallel(e) => e.is_knock_on(),
            RunError::Step {
                source: OptimError::Parallel(e),
                ..
            } => e.is_knock_on(),
            _ => false,
        }
    }
}

/// What to try when a step failed on non-finite numbers: at the very
/// first step nothing has diverged yet, so the perturbation radius (a
/// perturbed pass) or the data and model (the clean pass) are to blame.
fn divergence_hint(epoch: usize, step: usize, error: &OptimError) -> &'static str {
    use sam_burn::optim::Pass;
    use sam_core::SamError;
    let first = epoch == 1 && step == 0;
    match error {
        OptimError::NonFiniteLoss {
            pass: Pass::Perturbed { .. },
            ..
        }
        | OptimError::Core(SamError::NonFiniteLoss { .. })
            if first =>
        {
            " (at the first step, before any update: the perturbation radius optimizer.rho is too large for this model; try a smaller --rho)"
        }
        OptimError::NonFiniteLoss {
            pass: Pass::Clean, ..
        } if first => {
            " (at the first step, before any update: the model's loss on this data is not finite; check the data and the batch size)"
        }
        OptimError::NonFiniteLoss { .. }
        | OptimError::Core(
            SamError::NonFinite { .. } | SamError::NonFiniteLoss { .. } | SamError::Overflow { .. },
        ) => {
            " (the run diverged: try a lower learning rate, or the stability guard, optimizer.guard.max_ratio; see the README's notes on the mathematics)"
        }
        _ => "",
    }
}
