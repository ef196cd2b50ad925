//! Hutchinson's trace estimator and the Frobenius norm `E||Hv||^2`.

use burn::tensor::backend::Backend;

use super::HessianError;
use super::operator::HessianOperator;
use super::stats::{Estimate, Running, check_probes, finite};
use crate::params::{ParamVector, Probe};
use sam_core::rng::derive_seed;

/// Probe budget and stopping rule of the stochastic estimators (trace,
/// Frobenius norm).
///
/// Sampling stops after `max_probes` probes, or earlier once at least
/// `min_probes` were drawn and the standard error of the mean is at most
/// `rel_tol` times its absolute value.
#[derive(burn::config::Config, Debug)]
pub struct HutchinsonConfig {
    /// Largest number of probes (one HVP each).
    #[config(default = 100)]
    pub max_probes: usize,
    /// Smallest number of probes before the tolerance is checked (at least 2
    /// are always needed for a standard error).
    #[config(default = 10)]
    pub min_probes: usize,
    /// Target relative standard error.
    #[config(default = 0.01)]
    pub rel_tol: f64,
    /// Seed of the probes (probe `i` uses a stream derived from it).
    #[config(default = 0)]
    pub seed: u64,
}

/// A trace estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEstimate {
    /// Estimate of `tr H` (mean of `v'Hv` over Rademacher probes), with its
    /// standard error.
    pub trace: Estimate,
    /// Probes drawn.
    pub probes: usize,
    /// Hessian-vector products used.
    pub hvps: usize,
    /// Whether the relative tolerance was met before `max_probes`.
    pub converged: bool,
}

/// A Frobenius-norm estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct FrobeniusEstimate {
    /// Estimate of `||H||_F` (square root of `frobenius_sq`); its standard
    /// error by the delta method, `se(F^2) / (2 F)`.
    pub frobenius: Estimate,
    /// Estimate of `||H||_F^2 = tr(H^2)` (mean of `||Hv||^2` over Gaussian
    /// probes: unbiased), with its standard error.
    pub frobenius_sq: Estimate,
    /// Probes drawn.
    pub probes: usize,
    /// Hessian-vector products used.
    pub hvps: usize,
    /// Whether the relative tolerance (on `frobenius_sq`) was met before `max_probes`.
    pub converged: bool,
}

fn probe<B: Backend, O: HessianOperator<B>>(
    op: &O,
    kind: Probe,
    seed: u64,
    index: usize,
) -> ParamVector<B> {
    let v = ParamVector::random(
        op.layout().clone(),
        kind,
        derive_seed(seed, index as u64),
        &op.device(),
    );
    op.project(v)
}

/// Hutchinson's estimator of `tr H`: the mean of `v'Hv` over Rademacher
/// probes `v` (unbiased; variance `2 sum_{i != j} H_ij^2`).
pub fn hutchinson_trace<B: Backend, O: HessianOperator<B>>(
    op: &O,
    config: &HutchinsonConfig,
) -> Result<TraceEstimate, HessianError> {
    check_probes(config.min_probes, config.max_probes, config.rel_tol)?;
    let mut stats = Running::default();
    let mut converged = false;
    while stats.count() < config.max_probes {
        let v = probe(op, Probe::Rademacher, config.seed, stats.count());
        let hv = op.apply(&v)?;
        stats.push(finite(v.dot(&hv), "Hutchinson sample v'Hv")?);
        if stats.converged(config.min_probes, config.rel_tol) {
            converged = true;
            break;
        }
    }
    Ok(TraceEstimate {
        trace: stats.estimate(),
        probes: stats.count(),
        hvps: stats.count(),
        converged,
    })
}

/// Estimator of the Frobenius norm: the mean of `||Hv||^2` over Gaussian
/// probes `v ~ N(0, I)` is `tr(H^2) = ||H||_F^2` (unbiased); the norm is its
/// square root.
pub fn frobenius_norm<B: Backend, O: HessianOperator<B>>(
    op: &O,
    config: &HutchinsonConfig,
) -> Result<FrobeniusEstimate, HessianError> {
    check_probes(config.min_probes, config.max_probes, config.rel_tol)?;
    let mut stats = Running::default();
    let mut converged = false;
    while stats.count() < config.max_probes {
        let v = probe(op, Probe::Gaussian, config.seed, stats.count());
        let hv = op.apply(&v)?;
        let n = hv.norm();
        stats.push(finite(n * n, "Frobenius sample ||Hv||^2")?);
        if stats.converged(config.min_probes, config.rel_tol) {
            converged = true;
            break;
        }
    }
    let sq = stats.mean().max(0.0);
    let frobenius = sq.sqrt();
    let se_sq = stats.std_error();
    Ok(FrobeniusEstimate {
        frobenius: Estimate {
            value: frobenius,
            std_error: if frobenius > 0.0 {
                se_sq / (2.0 * frobenius)
            } else {
                se_sq.sqrt()
            },
        },
        frobenius_sq: Estimate {
            value: sq,
            std_error: se_sq,
        },
        probes: stats.count(),
        hvps: stats.count(),
        converged,
    })
}
