//! The Rosenbrock function, a curved narrow valley.

use super::{Problem, nan_vec};
use crate::error::{Result, SamError};

/// `L(w) = sum_{i < d-1} 100 (w_{i+1} - w_i^2)^2 + (1 - w_i)^2`, minimum 0
/// at `(1, ..., 1)`; one tensor; starts at `(-1.2, 1, -1.2, 1, ...)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rosenbrock {
    dim: usize,
}

impl Rosenbrock {
    /// The function in `dim >= 2` variables.
    pub fn new(dim: usize) -> Result<Self> {
        if dim < 2 {
            return Err(SamError::invalid(
                "dim",
                format!("needs at least 2, got {dim}"),
            ));
        }
        Ok(Rosenbrock { dim })
    }
}

impl Problem for Rosenbrock {
    fn name(&self) -> String {
        format!("rosenbrock(d={})", self.dim)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn loss(&self, w: &[f64]) -> f64 {
        if w.len() != self.dim {
            return f64::NAN;
        }
        w.windows(2)
            .map(|p| 100.0 * (p[1] - p[0] * p[0]).powi(2) + (1.0 - p[0]).powi(2))
            .sum()
    }
    fn gradient(&self, w: &[f64]) -> Vec<f64> {
        if w.len() != self.dim {
            return nan_vec(self.dim);
        }
        let mut g = vec![0.0; self.dim];
        for i in 0..self.dim - 1 {
            let r = w[i + 1] - w[i] * w[i];
            g[i] += -400.0 * w[i] * r - 2.0 * (1.0 - w[i]);
            g[i + 1] += 200.0 * r;
        }
        g
    }
    fn hessian(&self, w: &[f64]) -> Vec<f64> {
        let d = self.dim;
        if w.len() != d {
            return nan_vec(d * d);
        }
        let mut h = vec![0.0; d * d];
        for i in 0..d - 1 {
            // d2/dwi2 of 100 (w_{i+1} - w_i^2)^2 + (1 - w_i)^2.
            h[i * d + i] += 1200.0 * w[i] * w[i] - 400.0 * w[i + 1] + 2.0;
            h[i * d + i + 1] += -400.0 * w[i];
            h[(i + 1) * d + i] += -400.0 * w[i];
            h[(i + 1) * d + i + 1] += 200.0;
        }
        h
    }
    fn initial_point(&self) -> Vec<f64> {
        (0..self.dim)
            .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
            .collect()
    }
}
