//! The math of universal sharpness-aware minimization, in plain f64.
//!
//! Tahmasebi et al., "A Universal Class of Sharpness-Aware Minimization
//! Algorithms" (ICML 2024) define the sharpness of a loss `L` at `w` through
//! the normalised loss differences
//! `x(delta) = (L(w + rho delta) - L(w)) / rho^2` of random directions
//! `delta ~ mu`:
//!
//! ```text
//! S(w) = phi( E psi_1(x), ..., E psi_k(x) )
//! ```
//!
//! and train on `L + lambda S`. Each step needs only `L` and its gradient at
//! `w` and at `n` perturbed points; the update direction is a linear
//! combination `c0 g0 + sum_i c_i g_i` whose coefficients depend on the
//! `n + 1` loss values alone. This crate computes those coefficients and
//! everything around them; it knows nothing of tensors.
//!
//! - [`measure`]: the [`Measure`] trait and the generic `(phi, psi, mu)`
//!   [`measure::ComposedMeasure`], built from [`function`] (psi) and
//!   [`outer`] (phi);
//! - [`presets`]: Trace, Frob, Det and spectral moments, and the [`Preset`]
//!   enum;
//! - [`sampler`]: the distributions `mu` and reproducible counter-based
//!   noise;
//! - [`estimator`]: losses in, sharpness and coefficients out (directly or
//!   streamed into a few buffers);
//! - [`rules`]: SAM and ASAM perturbations, SSAM's Fisher mask;
//! - [`guard`] and [`schedule`]: the stability guard of universal steps,
//!   and perturbed passes on one step in `every` (LookSAM-style reuse);
//! - [`problems`] and [`reference`](mod@reference): analytic problems with exact Hessians
//!   and f64 reference steps of every method.
//!
//! # Example
//!
//! One universal-SAM step by hand on a quadratic, with the Frob measure:
//!
//! ```
//! use sam_core::estimator::{Estimator, Scaling};
//! use sam_core::presets::Preset;
//! use sam_core::problems::{Problem, Quadratic};
//! use sam_core::reference::direction;
//!
//! let problem = Quadratic::spd(7, 4)?;
//! let w = problem.initial_point();
//! let measure = Preset::Frob.measure();
//! let (rho, lambda, seed, step) = (0.05, 0.01, 42, 0);
//!
//! // Evaluate L and its gradient at w and at n perturbed points.
//! let (l0, g0) = (problem.loss(&w), problem.gradient(&w));
//! let mut losses = Vec::new();
//! let mut grads = Vec::new();
//! for i in 0..2 {
//!     let delta = direction(&problem, measure.as_ref(), seed, step, i);
//!     let wi: Vec<f64> = w.iter().zip(&delta).map(|(w, d)| w + rho * d).collect();
//!     losses.push(problem.loss(&wi));
//!     grads.push(problem.gradient(&wi));
//! }
//!
//! // The coefficients of g = c0 g0 + sum_i c_i g_i (they sum to 1).
//! let estimator = Estimator::new(measure.as_ref(), rho, lambda, Scaling::Exact)?;
//! let estimate = estimator.estimate(l0, &losses)?;
//! let c = &estimate.coefficients;
//! assert!((c.c0 + c.c.iter().sum::<f64>() - 1.0).abs() < 1e-9);
//! let g = c.combine(&g0, &grads)?;
//! assert_eq!(g.len(), 4);
//! assert!(estimate.sharpness > 0.0);
//! # Ok::<(), sam_core::SamError>(())
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod estimator;
pub mod function;
pub mod guard;
pub mod measure;
pub mod outer;
pub mod presets;
pub mod problems;
pub mod reference;
pub mod rng;
pub mod rules;
pub mod sampler;
pub mod schedule;

pub use error::{Result, SamError};
pub use estimator::{Coefficients, Estimate, Estimator, Scaling, Stream, StreamResult};
pub use guard::{Decision, Guard, NonFinite};
pub use measure::{ComposedMeasure, Evaluation, FixedWeights, Measure, StreamPlan};
pub use presets::Preset;
pub use sampler::{NoiseKey, Sampler};
