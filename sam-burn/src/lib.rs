//! Burn optimizers for the universal class of sharpness-aware minimization.
//!
//! Layout: [`optim`] holds the optimizers (universal SAM, SAM, ASAM, SSAM),
//! [`hessian`] the Hessian diagnostics by double-backward Hessian-vector
//! products, and [`nn`] building blocks that can be differentiated twice.
#![warn(missing_docs)]

pub mod hessian;
pub mod nn;
pub mod optim;
