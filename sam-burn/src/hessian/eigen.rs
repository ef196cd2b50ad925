//! Top eigenvalues: power iteration with deflation, and Lanczos with full
//! reorthogonalisation.

use burn::tensor::backend::Backend;

use super::HessianError;
use super::operator::HessianOperator;
use super::stats::finite;
use super::tridiag::tridiagonal_eigen;
use crate::params::{ParamVector, Probe, combination, orthogonalize};
use sam_core::rng::derive_seed;

/// Which end of the spectrum [`lanczos`] returns.
#[derive(burn::config::Config, Debug, Copy, PartialEq, Eq)]
pub enum Spectrum {
    /// The `k` largest (most positive) eigenvalues, in decreasing order.
    Largest,
    /// The `k` smallest (most negative) eigenvalues, in increasing order.
    Smallest,
    /// The `k` eigenvalues of largest absolute value, by decreasing magnitude.
    LargestMagnitude,
}

/// Configuration of [`lanczos`].
#[derive(burn::config::Config, Debug)]
pub struct LanczosConfig {
    /// Krylov dimension (HVPs used), raised to `k` if smaller and capped at
    /// the operator's dimension. Memory: `steps` parameter-sized vectors.
    #[config(default = 40)]
    pub steps: usize,
    /// Which eigenvalues to return.
    #[config(default = "Spectrum::Largest")]
    pub which: Spectrum,
    /// A Ritz pair counts as converged when its residual bound is at most
    /// `tol` times the largest Ritz value's magnitude.
    #[config(default = 1e-3)]
    pub tol: f64,
    /// Whether to form the Ritz vectors (one combination of the Krylov basis each).
    #[config(default = true)]
    pub eigenvectors: bool,
    /// Seed of the (Gaussian) starting vector.
    #[config(default = 0)]
    pub seed: u64,
}

/// Configuration of [`power_iteration`].
#[derive(burn::config::Config, Debug)]
pub struct PowerIterationConfig {
    /// Largest number of iterations (HVPs) per eigenvalue.
    #[config(default = 100)]
    pub max_iters: usize,
    /// Stop when the Rayleigh quotient changes by at most `tol` relative.
    #[config(default = 1e-4)]
    pub tol: f64,
    /// Seed of the (Gaussian) starting vectors.
    #[config(default = 0)]
    pub seed: u64,
}

/// Eigenvalue estimates with their error bounds.
#[derive(Debug, Clone)]
pub struct Eigenpairs<B: Backend> {
    /// The eigenvalues, in the order the method defines.
    pub eigenvalues: Vec<f64>,
    /// Unit eigenvectors (empty if not requested).
    pub eigenvectors: Vec<ParamVector<B>>,
    /// Residual norms `||H y - lambda y||` (for Lanczos the standard bound
    /// `|beta_m s_mk|`). For a symmetric `H` some eigenvalue lies within this
    /// distance of each estimate: it is the error bar of a deterministic method.
    pub residuals: Vec<f64>,
    /// Hessian-vector products used.
    pub hvps: usize,
    /// Whether every pair met its tolerance.
    pub converged: bool,
}

/// Output of a Lanczos run: the tridiagonal matrix `T = Q'HQ` and the basis `Q`.
pub(crate) struct Krylov<B: Backend> {
    pub(crate) alphas: Vec<f64>,
    pub(crate) betas: Vec<f64>,
    /// Norm of the residual after the last step (`beta_m`).
    pub(crate) residual: f64,
    pub(crate) basis: Vec<ParamVector<B>>,
}

/// `steps` Lanczos iterations from `start` (need not be normalised), with
/// full reorthogonalisation against every previous basis vector.
pub(crate) fn krylov<B: Backend, O: HessianOperator<B>>(
    op: &O,
    start: ParamVector<B>,
    steps: usize,
) -> Result<Krylov<B>, HessianError> {
    let norm = finite(start.norm(), "Lanczos starting vector")?;
    if norm == 0.0 {
        return Err(HessianError::NonFinite {
            context: "Lanczos starting vector is zero".into(),
        });
    }
    let mut q = start.scale(1.0 / norm);
    let mut basis: Vec<ParamVector<B>> = Vec::with_capacity(steps);
    let (mut alphas, mut betas) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
    let mut residual = 0.0;
    let mut scale: f64 = 0.0;
    for j in 0..steps {
        basis.push(q.clone());
        let w = op.apply(&q)?;
        let alpha = finite(q.dot(&w), "Lanczos coefficient alpha")?;
        alphas.push(alpha);
        // The three-term recurrence is implied by the full reorthogonalisation
        // against the whole basis (which contains q_j and q_{j-1}).
        let w = orthogonalize(w, &basis);
        let beta = finite(w.norm(), "Lanczos coefficient beta")?;
        scale = scale.max(alpha.abs() + beta + betas.last().copied().unwrap_or(0.0));
        // An exactly invariant Krylov space: T is exact, nothing to add.
        let breakdown = beta <= f64::EPSILON * scale;
        if j + 1 == steps || breakdown {
            residual = if breakdown { 0.0 } else { beta };
            break;
        }
        betas.push(beta);
        q = w.scale(1.0 / beta);
    }
    Ok(Krylov {
        alphas,
        betas,
        residual,
        basis,
    })
}

fn check_k(k: usize, dim: usize) -> Result<(), HessianError> {
    if k == 0 || k > dim {
        return Err(HessianError::InvalidConfig(format!(
            "number of eigenvalues must be in 1..={dim}, got {k}"
        )));
    }
    Ok(())
}

/// The `k` extreme eigenvalues of `H` by Lanczos with full
/// reorthogonalisation: `config.steps` HVPs for all `k` at once. Extreme
/// eigenvalues converge first; the residual bounds say how far each is.
pub fn lanczos<B: Backend, O: HessianOperator<B>>(
    op: &O,
    k: usize,
    config: &LanczosConfig,
) -> Result<Eigenpairs<B>, HessianError> {
    let dim = op.dim();
    check_k(k, dim)?;
    let steps = config.steps.max(k).min(dim);
    let start = op.project(ParamVector::random(
        op.layout().clone(),
        Probe::Gaussian,
        derive_seed(config.seed, 0),
        &op.device(),
    ));
    let run = krylov(op, start, steps)?;
    let m = run.alphas.len();
    let (theta, s) = tridiagonal_eigen(&run.alphas, &run.betas)?;
    // Ascending order from the solver; choose the requested end.
    let mut order: Vec<usize> = (0..m).collect();
    match config.which {
        Spectrum::Largest => order.reverse(),
        Spectrum::Smallest => {}
        Spectrum::LargestMagnitude => {
            order.sort_by(|&a, &b| theta[b].abs().total_cmp(&theta[a].abs()))
        }
    }
    order.truncate(k.min(m));
    let scale = theta.iter().fold(0.0f64, |a, t| a.max(t.abs()));
    let mut eigenvalues = Vec::new();
    let mut residuals = Vec::new();
    let mut eigenvectors = Vec::new();
    for &i in &order {
        let col = &s[i * m..(i + 1) * m];
        eigenvalues.push(theta[i]);
        residuals.push((run.residual * col[m - 1]).abs());
        if config.eigenvectors {
            eigenvectors.push(combination(&run.basis, col));
        }
    }
    let converged = order.len() == k && residuals.iter().all(|&r| r <= config.tol * scale);
    Ok(Eigenpairs {
        eigenvalues,
        eigenvectors,
        residuals,
        hvps: m,
        converged,
    })
}

/// The `k` eigenvalues of largest magnitude by power iteration with
/// deflation (PyHessian's method): eigenvalue `i` is the dominant one of `H`
/// restricted to the orthogonal complement of eigenvectors `0..i`.
///
/// Convergence is geometric in `|lambda_{i+1} / lambda_i|`: slow for
/// clustered spectra, where [`lanczos`] needs far fewer HVPs.
pub fn power_iteration<B: Backend, O: HessianOperator<B>>(
    op: &O,
    k: usize,
    config: &PowerIterationConfig,
) -> Result<Eigenpairs<B>, HessianError> {
    check_k(k, op.dim())?;
    if config.max_iters == 0 {
        return Err(HessianError::InvalidConfig(
            "max_iters must be at least 1".into(),
        ));
    }
    let mut found: Vec<ParamVector<B>> = Vec::with_capacity(k);
    let mut eigenvalues = Vec::with_capacity(k);
    let mut residuals = Vec::with_capacity(k);
    let mut hvps = 0;
    let mut all_converged = true;
    for i in 0..k {
        let v = op.project(ParamVector::random(
            op.layout().clone(),
            Probe::Gaussian,
            derive_seed(config.seed, i as u64),
            &op.device(),
        ));
        let v = orthogonalize(v, &found);
        let norm = finite(v.norm(), "power iteration start")?;
        let mut v = v.scale(1.0 / norm);
        let mut lambda = f64::NAN;
        let mut residual = f64::INFINITY;
        let mut converged = false;
        for iteration in 0..config.max_iters {
            // Deflation by projection: the found eigenvectors are removed
            // from the image, so the iteration sees (I - P) H (I - P).
            let w = orthogonalize(op.apply(&v)?, &found);
            hvps += 1;
            let new = finite(v.dot(&w), "Rayleigh quotient")?;
            residual = w.axpy(-new, &v).norm();
            let change = (new - lambda).abs();
            lambda = new;
            let w_norm = w.norm();
            if change <= config.tol * new.abs()
                || w_norm == 0.0
                || residual <= f64::EPSILON * new.abs()
            {
                converged = true;
                break;
            }
            // Keep v, lambda and residual consistent when the budget runs out.
            if iteration + 1 < config.max_iters {
                v = w.scale(1.0 / w_norm);
            }
        }
        all_converged &= converged;
        eigenvalues.push(lambda);
        residuals.push(residual);
        found.push(v);
    }
    Ok(Eigenpairs {
        eigenvalues,
        eigenvectors: found,
        residuals,
        hvps,
        converged: all_converged,
    })
}
