//! Stochastic Lanczos quadrature: spectral density and log-determinant.
//!
//! For a unit probe `q`, `m` Lanczos steps give a tridiagonal `T` with
//! eigenvalues `theta_k` (Ritz values) and eigenvectors `s_k`; then
//! `q' f(H) q ~ sum_k tau_k f(theta_k)` with `tau_k = s_k[0]^2` (Gauss
//! quadrature, exact for polynomials of degree `2m - 1`). With Rademacher
//! probes `v` (`q = v / ||v||`), `||v||^2 sum_k tau_k f(theta_k)` approximates
//! `v' f(H) v`, an unbiased sample of `tr f(H)`; the estimate is the mean over
//! probes, with its standard error (Ubaru, Chen & Saad 2017; PyHessian's
//! density).

use burn::tensor::backend::Backend;

use super::HessianError;
use super::eigen::krylov;
use super::operator::HessianOperator;
use super::stats::{Estimate, Running, check_probes, finite};
use super::tridiag::tridiagonal_eigen;
use crate::params::{ParamVector, Probe};
use sam_core::rng::derive_seed;

/// Configuration of stochastic Lanczos quadrature ([`slq`], [`slq_log_det`]).
#[derive(burn::config::Config, Debug)]
pub struct SlqConfig {
    /// Lanczos steps per probe (quadrature nodes), capped at the operator's
    /// dimension. Memory: `steps` parameter-sized vectors.
    #[config(default = 40)]
    pub steps: usize,
    /// Largest number of probes (each costs `steps` HVPs).
    #[config(default = 20)]
    pub max_probes: usize,
    /// Probes drawn before the tolerance is checked.
    #[config(default = 3)]
    pub min_probes: usize,
    /// Target relative standard error: of the trace for [`slq`], of
    /// `log|det H|` for [`slq_log_det`].
    #[config(default = 0.01)]
    pub rel_tol: f64,
    /// Floor on `|theta|` in `log|theta|` (log-determinant only): Ritz values
    /// closer to zero than this count as `log(log_floor)`. Absolute, in the
    /// loss's units; near-zero eigenvalues are common in networks and would
    /// otherwise send `log|det|` to minus infinity.
    #[config(default = 1e-6)]
    pub log_floor: f64,
    /// Seed of the Rademacher probes.
    #[config(default = 0)]
    pub seed: u64,
}

/// Quadrature nodes and weights of each probe: a smoothed spectral density
/// and estimates of `tr f(H)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralDensity {
    /// Ritz values of each probe.
    pub nodes: Vec<Vec<f64>>,
    /// Quadrature weights of each probe (each sums to one).
    pub weights: Vec<Vec<f64>>,
    /// Squared norm of each probe (the operator's dimension for Rademacher probes).
    pub scales: Vec<f64>,
    /// Hessian-vector products used.
    pub hvps: usize,
    /// Whether the relative tolerance on the trace was met before `max_probes`.
    pub converged: bool,
}

impl SpectralDensity {
    /// Number of probes.
    pub fn probes(&self) -> usize {
        self.nodes.len()
    }

    /// Estimate of `tr f(H)` and its standard error over probes.
    pub fn trace_of(&self, f: impl Fn(f64) -> f64) -> Estimate {
        let mut stats = Running::default();
        for ((nodes, weights), scale) in self.nodes.iter().zip(&self.weights).zip(&self.scales) {
            stats.push(
                scale
                    * nodes
                        .iter()
                        .zip(weights)
                        .map(|(&t, &w)| w * f(t))
                        .sum::<f64>(),
            );
        }
        stats.estimate()
    }

    /// Spectral density (normalised to integrate to one) at `grid`, each
    /// node broadened by a Gaussian of standard deviation `sigma`.
    pub fn density(&self, grid: &[f64], sigma: f64) -> Vec<f64> {
        let p = self.probes().max(1) as f64;
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt() * p);
        grid.iter()
            .map(|&x| {
                let mut total = 0.0;
                for (nodes, weights) in self.nodes.iter().zip(&self.weights) {
                    for (&t, &w) in nodes.iter().zip(weights) {
                        let z = (x - t) / sigma;
                        total += w * (-0.5 * z * z).exp();
                    }
                }
                total * norm
            })
            .collect()
    }

    /// `points` equally spaced values covering every Ritz value with a margin
    /// of `margin` on each side.
    pub fn grid(&self, points: usize, margin: f64) -> Vec<f64> {
        let all = self.nodes.iter().flatten();
        let lo = all.clone().fold(f64::INFINITY, |a, &b| a.min(b)) - margin;
        let hi = all.fold(f64::NEG_INFINITY, |a, &b| a.max(b)) + margin;
        if points < 2 || !lo.is_finite() || !hi.is_finite() {
            return vec![(lo + hi) / 2.0; points.min(1)];
        }
        (0..points)
            .map(|i| lo + (hi - lo) * i as f64 / (points - 1) as f64)
            .collect()
    }
}

/// A log-determinant estimate.
///
/// `log|det H| = tr log|H|` is estimated with `f(theta) = log max(|theta|,
/// floor)`: negative eigenvalues contribute their absolute value (so this is
/// `log|det H|`, whose sign is `(-1)^(number of negative eigenvalues)`), and
/// Ritz values with `|theta| < floor` contribute `log(floor)`. Both are
/// counted so that a result dominated by them can be recognised.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDetEstimate {
    /// Estimate of `log|det H|` (natural logarithm), with its standard
    /// error over probes.
    pub log_abs_det: Estimate,
    /// Probes drawn.
    pub probes: usize,
    /// Hessian-vector products used.
    pub hvps: usize,
    /// Whether the relative tolerance was met before `max_probes`.
    pub converged: bool,
    /// The floor used on `|theta|`.
    pub floor: f64,
    /// Ritz values (over all probes) with `|theta| < floor`.
    pub floored_ritz_values: usize,
    /// Ritz values (over all probes) below zero.
    pub negative_ritz_values: usize,
    /// Estimated fraction of eigenvalues below zero (quadrature weight of the
    /// negative Ritz values, averaged over probes).
    pub negative_fraction: f64,
    /// Estimated fraction of eigenvalues with `|lambda| < floor`.
    pub floored_fraction: f64,
}

/// Runs probes until `max_probes`, or until the statistic `stat(nodes,
/// weights, scale)` meets the relative tolerance.
fn run<B: Backend, O: HessianOperator<B>>(
    op: &O,
    config: &SlqConfig,
    stat: impl Fn(&[f64], &[f64], f64) -> f64,
) -> Result<(SpectralDensity, Running), HessianError> {
    check_probes(config.min_probes, config.max_probes, config.rel_tol)?;
    if config.steps == 0 {
        return Err(HessianError::InvalidConfig(
            "SLQ needs at least one Lanczos step".into(),
        ));
    }
    let steps = config.steps.min(op.dim());
    let mut density = SpectralDensity {
        nodes: Vec::new(),
        weights: Vec::new(),
        scales: Vec::new(),
        hvps: 0,
        converged: false,
    };
    let mut stats = Running::default();
    for i in 0..config.max_probes {
        let v = op.project(ParamVector::random(
            op.layout().clone(),
            Probe::Rademacher,
            derive_seed(config.seed, i as u64),
            &op.device(),
        ));
        let scale = finite(v.norm().powi(2), "SLQ probe norm")?;
        let k = krylov(op, v, steps)?;
        density.hvps += k.alphas.len();
        let m = k.alphas.len();
        let (theta, s) = tridiagonal_eigen(&k.alphas, &k.betas)?;
        let tau: Vec<f64> = (0..m).map(|j| s[j * m].powi(2)).collect();
        stats.push(finite(stat(&theta, &tau, scale), "SLQ estimate")?);
        density.nodes.push(theta);
        density.weights.push(tau);
        density.scales.push(scale);
        if stats.converged(config.min_probes, config.rel_tol) {
            density.converged = true;
            break;
        }
    }
    Ok((density, stats))
}

/// Spectral density of `H` by stochastic Lanczos quadrature. Probing stops
/// when the quadrature estimate of `tr H` reaches the relative tolerance.
pub fn slq<B: Backend, O: HessianOperator<B>>(
    op: &O,
    config: &SlqConfig,
) -> Result<SpectralDensity, HessianError> {
    Ok(run(op, config, |t, w, scale| {
        scale * t.iter().zip(w).map(|(t, w)| t * w).sum::<f64>()
    })?
    .0)
}

/// `log|det H|` by stochastic Lanczos quadrature, with the treatment of
/// negative and near-zero eigenvalues described on [`LogDetEstimate`].
pub fn slq_log_det<B: Backend, O: HessianOperator<B>>(
    op: &O,
    config: &SlqConfig,
) -> Result<LogDetEstimate, HessianError> {
    let floor = config.log_floor;
    if !(floor.is_finite() && floor > 0.0) {
        return Err(HessianError::InvalidConfig(format!(
            "log_floor must be positive, got {floor}"
        )));
    }
    let log_abs = |t: f64| t.abs().max(floor).ln();
    let (density, stats) = run(op, config, |t, w, scale| {
        scale * t.iter().zip(w).map(|(&t, w)| w * log_abs(t)).sum::<f64>()
    })?;
    let mut negative_ritz_values = 0;
    let mut floored_ritz_values = 0;
    let (mut negative_fraction, mut floored_fraction) = (0.0, 0.0);
    for (nodes, weights) in density.nodes.iter().zip(&density.weights) {
        for (&t, &w) in nodes.iter().zip(weights) {
            if t < 0.0 {
                negative_ritz_values += 1;
                negative_fraction += w;
            }
            if t.abs() < floor {
                floored_ritz_values += 1;
                floored_fraction += w;
            }
        }
    }
    let p = density.probes().max(1) as f64;
    Ok(LogDetEstimate {
        log_abs_det: stats.estimate(),
        probes: stats.count(),
        hvps: density.hvps,
        converged: density.converged,
        floor,
        floored_ritz_values,
        negative_ritz_values,
        negative_fraction: negative_fraction / p,
        floored_fraction: floored_fraction / p,
    })
}
