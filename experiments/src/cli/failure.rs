//! A failed command and the exit code it maps to: 2 for bad usage (flags,
//! configuration, an output directory that cannot be used), 1 for a run
//! that could not proceed.

use experiments::backend::BackendError;
use experiments::config::ConfigError;
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
