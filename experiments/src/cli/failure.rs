//! A failed command and the exit code it maps to: 2 for bad usage (flags,
//! configuration, an output directory that cannot be used), 1 for a run
//! that could not proceed.

use experiments::backend::BackendError;
use experiments::config::ConfigError;
use experiments::lock::LockError;
use experiments::output::OutputError;
use experiments::train::RunError;

/// A failure, with the exit code it maps to.
pub(crate) enum Failure {
    Usage(String),
    Run(String),
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Config(c) => Failure::Usage(c.to_string()),
            // Another process writing the directory: this one cannot
            // proceed now, though nothing was wrong with its request.
            RunError::Output(o @ OutputError::Locked(_)) => Failure::Run(o.to_string()),
            RunError::Output(o) => Failure::Usage(o.to_string()),
            // A device list naming no, the same or a missing device is
            // bad input, refused before any work.
            RunError::Backend(
                b @ (BackendError::NoDevices
                | BackendError::DuplicateDevice { .. }
                | BackendError::MissingDevice { .. }),
            ) => Failure::Usage(b.to_string()),
            other => Failure::Run(other.to_string()),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Self {
        Failure::Run(e.to_string())
    }
}
