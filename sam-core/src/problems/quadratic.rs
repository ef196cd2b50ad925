//! `L(w) = 1/2 (w - w*)' A (w - w*) + c`: the Hessian is `A` everywhere, so
//! every sharpness measure has a known value.

use super::{Problem, nan_vec, problem_noise};
use crate::error::{Result, SamError};
use crate::sampler::Sampler;

/// A quadratic with a symmetric matrix `A` (one parameter tensor).
#[derive(Debug, Clone, PartialEq)]
pub struct Quadratic {
    a: Vec<f64>,
    dim: usize,
    minimiser: Vec<f64>,
    offset: f64,
    start: Vec<f64>,
    eigenvalues: Option<Vec<f64>>,
}

impl Quadratic {
    /// From a row-major symmetric `d x d` matrix `a` (`d` = the
    /// minimiser's length), the stationary point `w*` and the value `c`
    /// there. Starts at `w* + 1`.
    pub fn from_matrix(a: Vec<f64>, minimiser: Vec<f64>, offset: f64) -> Result<Self> {
        let d = minimiser.len();
        if d == 0 {
            return Err(SamError::invalid(
                "minimiser",
                "the dimension must be at least 1",
            ));
        }
        if a.len() != d * d {
            return Err(SamError::invalid(
                "a",
                format!("expected {d}x{d} = {} entries, got {}", d * d, a.len()),
            ));
        }
        if a.iter()
            .chain(&minimiser)
            .chain([&offset])
            .any(|x| !x.is_finite())
        {
            return Err(SamError::non_finite(
                "quadratic's matrix, minimiser or offset",
            ));
        }
        let scale = a.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        for i in 0..d {
            for j in 0..i {
                // Round-off from building A = Q diag Q' is ~1e-15 relative.
                if (a[i * d + j] - a[j * d + i]).abs() > 1e-12 * scale {
                    return Err(SamError::invalid(
                        "a",
                        format!("not symmetric at ({i}, {j})"),
                    ));
                }
            }
        }
        let start = minimiser.iter().map(|m| m + 1.0).collect();
        Ok(Quadratic {
            a,
            dim: d,
            minimiser,
            offset,
            start,
            eigenvalues: None,
        })
    }

    /// `A = Q diag(eigenvalues) Q'` with a random rotation `Q` drawn from
    /// `seed`, minimum at 0 with value 0.
    pub fn from_spectrum(eigenvalues: &[f64], seed: u64) -> Result<Self> {
        let d = eigenvalues.len();
        let q = random_orthogonal(seed, d)?;
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] = (0..d)
                    .map(|k| q[i * d + k] * eigenvalues[k] * q[j * d + k])
                    .sum();
            }
        }
        // Symmetrise exactly.
        for i in 0..d {
            for j in 0..i {
                let v = 0.5 * (a[i * d + j] + a[j * d + i]);
                a[i * d + j] = v;
                a[j * d + i] = v;
            }
        }
        let mut q = Self::from_matrix(a, vec![0.0; d], 0.0)?;
        q.eigenvalues = Some(eigenvalues.to_vec());
        Ok(q)
    }

    /// A random positive definite quadratic: eigenvalues log-uniform in
    /// `[0.5, 5]`, random rotation and minimiser (entries `N(0, 1)`).
    pub fn spd(seed: u64, d: usize) -> Result<Self> {
        let u = problem_noise(Sampler::Cube { half_width: 0.5 }, seed, 10, d);
        let eig: Vec<f64> = u.iter().map(|u| 0.5 * 10f64.powf(u + 0.5)).collect();
        Self::rotated(seed, &eig)
    }

    /// A random indefinite quadratic (a saddle for `d >= 2`): magnitudes as
    /// [`Quadratic::spd`], every second eigenvalue negative.
    pub fn indefinite(seed: u64, d: usize) -> Result<Self> {
        let u = problem_noise(Sampler::Cube { half_width: 0.5 }, seed, 10, d);
        let eig: Vec<f64> = u
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let m = 0.5 * 10f64.powf(u + 0.5);
                if i % 2 == 1 { -m } else { m }
            })
            .collect();
        Self::rotated(seed, &eig)
    }

    fn rotated(seed: u64, eig: &[f64]) -> Result<Self> {
        let mut q = Self::from_spectrum(eig, seed)?;
        q.minimiser = problem_noise(Sampler::Gaussian, seed, 11, eig.len());
        q.start = q.minimiser.iter().map(|m| m + 1.0).collect();
        Ok(q)
    }

    /// Replaces the starting point (length must be `dim`).
    pub fn with_initial_point(mut self, w: Vec<f64>) -> Result<Self> {
        if w.len() != self.dim {
            return Err(SamError::invalid(
                "w",
                format!("expected {} entries", self.dim),
            ));
        }
        self.start = w;
        Ok(self)
    }

    /// The matrix `A`, row-major.
    pub fn matrix(&self) -> &[f64] {
        &self.a
    }

    /// The eigenvalues, when the quadratic was built from them.
    pub fn eigenvalues(&self) -> Option<&[f64]> {
        self.eigenvalues.as_deref()
    }

    /// The stationary point `w*`.
    pub fn minimiser(&self) -> &[f64] {
        &self.minimiser
    }

    fn residual(&self, w: &[f64]) -> Vec<f64> {
        w.iter().zip(&self.minimiser).map(|(a, b)| a - b).collect()
    }

    fn apply(&self, v: &[f64]) -> Vec<f64> {
        let d = self.dim;
        (0..d)
            .map(|i| {
                self.a[i * d..(i + 1) * d]
                    .iter()
                    .zip(v)
                    .map(|(a, v)| a * v)
                    .sum()
            })
            .collect()
    }
}

/// Gram-Schmidt (modified, applied twice for orthogonality to round-off)
/// on a Gaussian matrix: a random rotation, row-major, columns orthonormal.
fn random_orthogonal(seed: u64, d: usize) -> Result<Vec<f64>> {
    if d == 0 {
        return Err(SamError::invalid("d", "the dimension must be at least 1"));
    }
    let g = problem_noise(Sampler::Gaussian, seed, 12, d * d);
    let mut cols: Vec<Vec<f64>> = (0..d)
        .map(|j| (0..d).map(|i| g[i * d + j]).collect())
        .collect();
    for j in 0..d {
        for _ in 0..2 {
            for k in 0..j {
                let dot: f64 = cols[j].iter().zip(&cols[k]).map(|(a, b)| a * b).sum();
                let ck = cols[k].clone();
                cols[j].iter_mut().zip(&ck).for_each(|(a, b)| *a -= dot * b);
            }
        }
        let n = crate::sampler::norm(&cols[j]);
        if n < 1e-10 {
            return Err(SamError::non_finite("degenerate random rotation"));
        }
        cols[j].iter_mut().for_each(|a| *a /= n);
    }
    let mut q = vec![0.0; d * d];
    for (j, c) in cols.iter().enumerate() {
        for (i, v) in c.iter().enumerate() {
            q[i * d + j] = *v;
        }
    }
    Ok(q)
}

impl Problem for Quadratic {
    fn name(&self) -> String {
        format!("quadratic(d={})", self.dim)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn loss(&self, w: &[f64]) -> f64 {
        if w.len() != self.dim {
            return f64::NAN;
        }
        let r = self.residual(w);
        0.5 * self
            .apply(&r)
            .iter()
            .zip(&r)
            .map(|(a, b)| a * b)
            .sum::<f64>()
            + self.offset
    }
    fn gradient(&self, w: &[f64]) -> Vec<f64> {
        if w.len() != self.dim {
            return nan_vec(self.dim);
        }
        self.apply(&self.residual(w))
    }
    fn hessian(&self, w: &[f64]) -> Vec<f64> {
        if w.len() != self.dim {
            return nan_vec(self.dim * self.dim);
        }
        self.a.clone()
    }
    fn initial_point(&self) -> Vec<f64> {
        self.start.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::{determinant, trace_of_power};

    #[test]
    fn from_spectrum_has_that_spectrum() {
        let eig = [0.5, 1.5, -2.0, 4.0];
        let q = Quadratic::from_spectrum(&eig, 3).unwrap();
        let a = q.matrix();
        // Power sums and determinant identify the spectrum; matrices of
        // order 1 built with ~d^2 roundings: 1e-12 relative.
        for k in 1..=3 {
            let want: f64 = eig.iter().map(|l: &f64| l.powi(k as i32)).sum();
            let got = trace_of_power(a, 4, k).unwrap();
            assert!((got - want).abs() < 1e-12 * want.abs().max(1.0), "k={k}");
        }
        let det: f64 = eig.iter().product();
        assert!((determinant(a, 4).unwrap() - det).abs() < 1e-12 * det.abs());
    }

    #[test]
    fn spd_and_indefinite_have_the_right_signs() {
        let s = Quadratic::spd(1, 5).unwrap();
        let i = Quadratic::indefinite(1, 5).unwrap();
        let se = s.eigenvalues().unwrap();
        let ie = i.eigenvalues().unwrap();
        assert!(se.iter().all(|&l| (0.5..=5.0).contains(&l)));
        assert!(ie.iter().any(|&l| l < 0.0) && ie.iter().any(|&l| l > 0.0));
        // det = product of eigenvalues (the matrix really has them).
        let det: f64 = se.iter().product();
        assert!((determinant(s.matrix(), 5).unwrap() - det).abs() < 1e-12 * det);
        assert_eq!(s.loss(s.minimiser()), 0.0);
        assert!(s.gradient(s.minimiser()).iter().all(|g| g.abs() < 1e-15));
        assert_ne!(s.minimiser(), &[0.0; 5]);
    }

    #[test]
    fn rejects_bad_matrices() {
        assert!(Quadratic::from_matrix(vec![1.0, 2.0, 3.0, 4.0], vec![0.0, 0.0], 0.0).is_err());
        assert!(Quadratic::from_matrix(vec![1.0], vec![0.0, 0.0], 0.0).is_err());
        assert!(Quadratic::from_matrix(vec![f64::NAN], vec![0.0], 0.0).is_err());
        assert!(Quadratic::from_matrix(vec![], vec![], 0.0).is_err());
        let q = Quadratic::from_matrix(vec![2.0], vec![1.0], 0.5).unwrap();
        assert!(q.loss(&[1.0, 2.0]).is_nan());
        assert!(q.clone().with_initial_point(vec![]).is_err());
        assert_eq!(q.loss(&[3.0]), 0.5 * 2.0 * 4.0 + 0.5);
    }
}
