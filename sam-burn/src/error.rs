//! Errors shared by several layers: a failed collective operation is
//! raised in [`parallel`](crate::parallel) and travels through the
//! optimizers' closures as [`OptimError::Parallel`](crate::optim::OptimError::Parallel),
//! so it is defined below both.

/// Why a data-parallel operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParallelError {
    /// A run needs at least one replica.
    #[error("a data-parallel run needs at least one replica")]
    NoReplicas,
    /// A replica's rank is not below the number of replicas.
    #[error(
        "replica rank {rank} is out of range for {size} replicas (ranks run from 0 to {size} - 1)"
    )]
    InvalidRank {
        /// The rank asked for.
        rank: usize,
        /// The number of replicas.
        size: usize,
    },
    /// A collective operation failed: a configuration the replicas do not
    /// share, or another replica gave up (`Replica::abort`).
    #[error("collective {operation} failed on replica {rank}: {message}")]
    Collective {
        /// The operation (register, all-reduce, broadcast, finish).
        operation: &'static str,
        /// The replica that saw the failure.
        rank: usize,
        /// What burn-collective reported.
        message: String,
        /// Whether the operation was cancelled because another replica
        /// gave up (the collective's server was gone, or forgot this
        /// replica), rather than failing on this replica's account.
        cancelled: bool,
    },
}

impl ParallelError {
    /// Whether this replica failed only because another one gave up (its
    /// pending operation was cancelled), not on its own account: the error
    /// to report is then the other replica's.
    pub fn is_knock_on(&self) -> bool {
        matches!(
            self,
            Self::Collective {
                cancelled: true,
                ..
            }
        )
    }
}
