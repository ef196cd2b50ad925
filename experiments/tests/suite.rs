//! The experiments crate's integration tests as one binary: the `usam`
//! command line end to end (training, resuming, sweeps, reports, bad
//! inputs, several devices), the models, and configuration files written
//! for earlier versions.

mod cases;
mod common;
