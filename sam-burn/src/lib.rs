//! Burn optimizers for the universal class of sharpness-aware minimization.
//!
//! | method | paper | minimises | forward-backward passes per step |
//! |---|---|---|---|
//! | [Trace-SAM](optim::UniversalSamConfig) | Tahmasebi et al., ICML 2024 ([arXiv:2406.03682](https://arxiv.org/abs/2406.03682)) | `L + lambda tr H` (Gaussian directions) | `1 + n` (reference `n = 1`) |
//! | [Frob-SAM](optim::UniversalSamConfig) | same | `L + lambda ‖H‖_F^2 / 2` (variance of the loss differences) | `1 + n` (reference `n = 2`) |
//! | [Det-SAM](optim::UniversalSamConfig) | same | `L + lambda det(H)` up to constants (`(E exp(-x/2))^-2` over a cube), invariant under volume-preserving rescaling | `1 + n` (reference `n = 1`) |
//! | [SAM](optim::SamConfig) | Foret et al., ICLR 2021 ([arXiv:2010.01412](https://arxiv.org/abs/2010.01412)) | `max_{‖e‖ ≤ rho} L(w + e)` | 2 |
//! | [ASAM](optim::AsamConfig) | Kwon et al., ICML 2021 ([arXiv:2102.11600](https://arxiv.org/abs/2102.11600)) | SAM in a weight-scaled ball (`abs(w) + eta`) | 2 |
//! | [SSAM](optim::SsamConfig) | Mi et al., NeurIPS 2022 ([arXiv:2210.05177](https://arxiv.org/abs/2210.05177)) | SAM on a Fisher-selected sparse mask | 2, plus the mask's per-example passes when it is refreshed |
//!
//! The universal class also takes spectral moments and user-defined
//! measures ([`optim::universal`]); [`optim::MethodConfig`] picks any of the
//! above at run time from a table. All of them wrap any Burn optimizer (SGD,
//! Adam, ...) and every backend.
//!
//! ```toml
//! # Cargo.toml of a Burn project
//! sam-burn = "0.1"  # features: "parallel" (burn-collective), "learner" (burn-train)
//! ```
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
#[cfg(feature = "parallel")]
pub mod parallel;
pub mod params;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
