//! Burn optimizers for the universal class of sharpness-aware minimization.
//!
//! Layout: [`optim`] holds the optimizers (universal SAM, SAM, ASAM, SSAM),
//! [`hessian`] the Hessian diagnostics by double-backward Hessian-vector
//! products, [`params`] the parameter space both work in, [`nn`] building blocks that can be differentiated twice,
//! [`parallel`] data-parallel steps over several devices (Burn's collective
//! all-reduce), and [`check`] the agreement of a backend with the f64
//! reference.
#![warn(missing_docs)]

pub mod check;
mod error;
pub mod hessian;
pub mod nn;
pub mod optim;
pub mod parallel;
pub mod params;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
