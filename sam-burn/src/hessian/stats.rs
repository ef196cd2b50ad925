//! The estimate type, the running mean / standard error behind it and the
//! shared stopping rule of the stochastic estimators.

use serde::{Deserialize, Serialize};

use super::HessianError;

/// A Monte Carlo estimate and its standard error: what every stochastic
/// Hessian estimator returns (trace, Frobenius norm, log-determinant,
/// `tr f(H)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Its standard error over probes (infinite with a single probe).
    pub std_error: f64,
}

/// Welford's running mean and variance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Running {
    n: usize,
    mean: f64,
    m2: f64,
}

impl Running {
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub(crate) fn count(&self) -> usize {
        self.n
    }

    pub(crate) fn mean(&self) -> f64 {
        self.mean
    }

    /// Standard error of the mean (sample variance with Bessel's correction);
    /// infinite with fewer than two samples.
    pub(crate) fn std_error(&self) -> f64 {
        if self.n < 2 {
            return f64::INFINITY;
        }
        (self.m2 / (self.n - 1) as f64 / self.n as f64).sqrt()
    }

    /// The mean and its standard error.
    pub(crate) fn estimate(&self) -> Estimate {
        Estimate {
            value: self.mean,
            std_error: self.std_error(),
        }
    }

    /// Whether the relative standard error target is met.
    pub(crate) fn converged(&self, min_probes: usize, rel_tol: f64) -> bool {
        self.n >= min_probes.max(2) && self.std_error() <= rel_tol * self.mean.abs()
    }
}

/// Validates the probe counts and tolerance shared by the stochastic estimators.
pub(crate) fn check_probes(
    min_probes: usize,
    max_probes: usize,
    rel_tol: f64,
) -> Result<(), HessianError> {
    if max_probes == 0 {
        return Err(HessianError::InvalidConfig(
            "max_probes must be at least 1".into(),
        ));
    }
    if min_probes > max_probes {
        return Err(HessianError::InvalidConfig(format!(
            "min_probes ({min_probes}) exceeds max_probes ({max_probes})"
        )));
    }
    if rel_tol.is_nan() || rel_tol < 0.0 {
        return Err(HessianError::InvalidConfig(format!(
            "rel_tol must be non-negative, got {rel_tol}"
        )));
    }
    Ok(())
}

pub(crate) fn finite(x: f64, context: &str) -> Result<f64, HessianError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(HessianError::NonFinite {
            context: context.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_two_pass() {
        let xs = [1.0, 4.0, -2.0, 8.5, 3.25];
        let mut r = Running::default();
        xs.iter().for_each(|&x| r.push(x));
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        // Exact arithmetic on these values up to rounding: 1e-12.
        assert!((r.mean() - mean).abs() < 1e-12);
        assert!((r.std_error() - (var / n).sqrt()).abs() < 1e-12);
    }
}
