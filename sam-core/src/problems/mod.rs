//! Analytic test problems with exact gradients and Hessians, and small
//! dense helpers to measure flatness (`tr H`, `‖H‖_F`, `det H`).
//!
//! Each problem splits its parameter vector into "tensors"
//! ([`Problem::layout`]), like a model's parameter list, because noise is
//! keyed per tensor: the reference steps draw exactly the numbers a tensor
//! backend would for a model with the same layout.

mod quadratic;
mod rosenbrock;
mod scale_invariant;
mod tanh_net;

pub use quadratic::Quadratic;
pub use rosenbrock::Rosenbrock;
pub use scale_invariant::ScaleInvariant;
pub use tanh_net::TanhNet;

use crate::error::{Result, SamError};
use crate::sampler::{NoiseKey, Sampler};

/// A twice-differentiable loss with exact derivatives.
///
/// Arguments `w` must have length [`Problem::dim`]; the built-in problems
/// return NaN (loss) or NaN-filled vectors of the right size otherwise, and
/// the functions of `reference` check the length and return a typed error
/// first.
pub trait Problem: Send + Sync {
    /// A short name.
    fn name(&self) -> String;
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// Sizes of the parameter tensors in order; they sum to [`Problem::dim`].
    /// One tensor of all the parameters by default.
    fn layout(&self) -> Vec<usize> {
        vec![self.dim()]
    }
    /// `L(w)`.
    fn loss(&self, w: &[f64]) -> f64;
    /// `grad L(w)`.
    fn gradient(&self, w: &[f64]) -> Vec<f64>;
    /// The exact Hessian, row-major `dim x dim`.
    fn hessian(&self, w: &[f64]) -> Vec<f64>;
    /// A conventional starting point.
    fn initial_point(&self) -> Vec<f64>;
}

/// NaN-filled output for a wrong-length argument.
pub(crate) fn nan_vec(len: usize) -> Vec<f64> {
    vec![f64::NAN; len]
}

/// Deterministic draws for building a problem from a seed. Keys use
/// `step = u64::MAX`, `sample = u32::MAX`, which training never reaches, so
/// a problem's data and a run's noise are unrelated even for equal seeds.
pub(crate) fn problem_noise(sampler: Sampler, seed: u64, stream: u32, len: usize) -> Vec<f64> {
    let mut v = vec![0.0; len];
    sampler.fill_f64(
        NoiseKey {
            seed,
            step: u64::MAX,
            sample: u32::MAX,
            tensor: stream,
        },
        0,
        &mut v,
    );
    v
}

fn check_square(a: &[f64], d: usize) -> Result<()> {
    if a.len() == d * d {
        Ok(())
    } else {
        Err(SamError::invalid(
            "matrix",
            format!("expected {d}x{d} = {} entries, got {}", d * d, a.len()),
        ))
    }
}

/// `tr A` of a row-major `d x d` matrix.
pub fn trace(a: &[f64], d: usize) -> Result<f64> {
    check_square(a, d)?;
    Ok((0..d).map(|i| a[i * d + i]).sum())
}

/// The Frobenius norm `sqrt(sum_ij a_ij^2)`.
pub fn frobenius_norm(a: &[f64], d: usize) -> Result<f64> {
    check_square(a, d)?;
    Ok(a.iter().map(|x| x * x).sum::<f64>().sqrt())
}

/// `A B` for row-major `d x d` matrices.
pub fn matmul(a: &[f64], b: &[f64], d: usize) -> Result<Vec<f64>> {
    check_square(a, d)?;
    check_square(b, d)?;
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                c[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    Ok(c)
}

/// `tr(A^k)` for `k >= 1`.
pub fn trace_of_power(a: &[f64], d: usize, k: u32) -> Result<f64> {
    check_square(a, d)?;
    if k == 0 {
        return Ok(d as f64);
    }
    let mut p = a.to_vec();
    for _ in 1..k {
        p = matmul(&p, a, d)?;
    }
    trace(&p, d)
}

/// `det A` by LU decomposition with partial pivoting.
pub fn determinant(a: &[f64], d: usize) -> Result<f64> {
    check_square(a, d)?;
    let mut m = a.to_vec();
    let mut det = 1.0;
    for col in 0..d {
        let pivot = (col..d)
            .max_by(|&i, &j| m[i * d + col].abs().total_cmp(&m[j * d + col].abs()))
            .unwrap_or(col);
        let p = m[pivot * d + col];
        if p == 0.0 {
            return Ok(0.0);
        }
        if pivot != col {
            for j in 0..d {
                m.swap(col * d + j, pivot * d + j);
            }
            det = -det;
        }
        det *= p;
        for i in col + 1..d {
            let f = m[i * d + col] / p;
            for j in col..d {
                m[i * d + j] -= f * m[col * d + j];
            }
        }
    }
    Ok(det)
}

/// Central finite-difference gradient of `problem` at `w` with step `h`
/// (for tests of hand-written derivatives).
pub fn finite_difference_gradient(problem: &dyn Problem, w: &[f64], h: f64) -> Vec<f64> {
    (0..w.len())
        .map(|i| {
            let mut up = w.to_vec();
            let mut down = w.to_vec();
            up[i] += h;
            down[i] -= h;
            (problem.loss(&up) - problem.loss(&down)) / (2.0 * h)
        })
        .collect()
}

/// Central finite-difference Hessian of `problem` at `w` from its exact
/// gradient, row-major.
pub fn finite_difference_hessian(problem: &dyn Problem, w: &[f64], h: f64) -> Vec<f64> {
    let d = w.len();
    let mut out = vec![0.0; d * d];
    for j in 0..d {
        let mut up = w.to_vec();
        let mut down = w.to_vec();
        up[j] += h;
        down[j] -= h;
        let (gu, gd) = (problem.gradient(&up), problem.gradient(&down));
        for i in 0..d {
            out[i * d + j] = (gu[i] - gd[i]) / (2.0 * h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_helpers() {
        let a = [2.0, 1.0, 0.0, 1.0, 3.0, 1.0, 0.0, 1.0, 4.0];
        assert_eq!(trace(&a, 3), Ok(9.0));
        // det = 2(12-1) - 1(4-0) = 18.
        assert!((determinant(&a, 3).unwrap() - 18.0).abs() < 1e-12);
        // A pivot swap flips the sign: det [[0,1],[1,0]] = -1.
        assert_eq!(determinant(&[0.0, 1.0, 1.0, 0.0], 2), Ok(-1.0));
        assert_eq!(determinant(&[1.0, 2.0, 2.0, 4.0], 2), Ok(0.0));
        // tr A^2 = sum a_ij^2 for symmetric A.
        let fro2: f64 = a.iter().map(|x| x * x).sum();
        assert!((trace_of_power(&a, 3, 2).unwrap() - fro2).abs() < 1e-12);
        assert!((frobenius_norm(&a, 3).unwrap() - fro2.sqrt()).abs() < 1e-12);
        assert!(trace(&a, 2).is_err());
    }
}
