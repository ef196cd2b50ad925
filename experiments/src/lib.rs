//! The universal-SAM experiments: models, training loop, metrics, outputs
//! and the `usam` command line.
//!
//! Layout: [`config`] (every hyperparameter, TOML), [`backend`] (run-time
//! backend choice), [`data`] (datasets with regimes, reproducible epochs),
//! [`models`], [`optimizer`] (method and base optimizer from the config),
//! [`train`] (the loop, evaluation, Hessian metrics, checkpoints),
//! [`records`] (what is written), [`output`] (atomic, non-destructive
//! output directories), [`plot`], [`progress`], [`sweep`] (grids and
//! paper-style tables), [`demo`], [`inspect`] (`eval`, `hessian`) and
//! [`bench`], [`selftest`] (a backend against the reference and the CPU).
#![warn(missing_docs)]

pub mod backend;
pub mod bench;
pub mod config;
pub mod data;
pub mod demo;
pub mod inspect;
pub mod models;
pub mod optimizer;
pub mod output;
pub mod plot;
pub mod progress;
pub mod records;
pub mod selftest;
pub mod sweep;
pub mod train;
