//! One module per subject (they were one test binary each).

mod accumulate;
mod bad_inputs;
mod cli;
mod legacy_configs;
mod models;
mod parallel;
mod scripts;
