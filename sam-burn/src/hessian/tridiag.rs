//! Eigen-decomposition of the symmetric tridiagonal matrices produced by
//! Lanczos: the implicit QL algorithm with Wilkinson shifts (as in EISPACK's
//! `tql2`), in `f64` on the host.

use super::HessianError;

/// Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal
/// matrix with diagonal `diag` and off-diagonal `off` (`off.len() == diag.len() - 1`).
///
/// Eigenvectors are returned column-major: the `k`-th eigenvector is
/// `vectors[k * n..(k + 1) * n]`.
pub(crate) fn tridiagonal_eigen(
    diag: &[f64],
    off: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), HessianError> {
    let n = diag.len();
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    debug_assert_eq!(off.len() + 1, n);
    let mut d = diag.to_vec();
    let mut e = vec![0.0; n];
    e[..n - 1].copy_from_slice(off);
    // z[row * n + col]; columns become eigenvectors.
    let mut z = vec![0.0; n * n];
    for i in 0..n {
        z[i * n + i] = 1.0;
    }
    for l in 0..n {
        let mut iterations = 0;
        loop {
            let m = split_point(&d, &e, l);
            if m == l {
                break;
            }
            iterations += 1;
            if iterations > 60 {
                return Err(HessianError::NonFinite {
                    context: "tridiagonal eigensolver did not converge".into(),
                });
            }
            ql_step(&mut d, &mut e, &mut z, l, m);
        }
    }
    if d.iter().any(|x| !x.is_finite()) {
        return Err(HessianError::NonFinite {
            context: "tridiagonal eigenvalues".into(),
        });
    }
    Ok(sorted(&d, &z))
}

/// The first `m >= l` whose off-diagonal element is negligible against
/// its neighbours on the diagonal (`n - 1` when none is): the block
/// `l..=m` is then decoupled from the rest.
fn split_point(d: &[f64], e: &[f64], l: usize) -> usize {
    let n = d.len();
    let mut m = l;
    while m + 1 < n {
        let dd = d[m].abs() + d[m + 1].abs();
        if e[m].abs() <= f64::EPSILON * dd {
            break;
        }
        m += 1;
    }
    m
}

/// One implicit QL step on the block `l..=m` with the Wilkinson shift of
/// its leading 2x2 block, the rotations applied to the eigenvectors `z`.
/// A rotation that underflows splits the block early (EISPACK's `tql2`).
fn ql_step(d: &mut [f64], e: &mut [f64], z: &mut [f64], l: usize, m: usize) {
    let n = d.len();
    let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
    let mut r = g.hypot(1.0);
    g = d[m] - d[l] + e[l] / (g + r.copysign(g));
    let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
    for iu in (l..m).rev() {
        let f = s * e[iu];
        let b = c * e[iu];
        r = f.hypot(g);
        e[iu + 1] = r;
        if r == 0.0 {
            d[iu + 1] -= p;
            e[m] = 0.0;
            return;
        }
        s = f / r;
        c = g / r;
        g = d[iu + 1] - p;
        r = (d[iu] - g) * s + 2.0 * c * b;
        p = s * r;
        d[iu + 1] = g + p;
        g = c * r - b;
        for k in 0..n {
            let f = z[k * n + iu + 1];
            z[k * n + iu + 1] = s * z[k * n + iu] + c * f;
            z[k * n + iu] = c * z[k * n + iu] - s * f;
        }
    }
    d[l] -= p;
    e[l] = g;
    e[m] = 0.0;
}

/// Eigenvalues ascending, with their eigenvectors column-major.
fn sorted(d: &[f64], z: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = d.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
    let values = order.iter().map(|&k| d[k]).collect();
    let mut vectors = vec![0.0; n * n];
    for (col, &k) in order.iter().enumerate() {
        for row in 0..n {
            vectors[col * n + row] = z[row * n + k];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(diag: &[f64], off: &[f64]) {
        let n = diag.len();
        let (values, vectors) = tridiagonal_eigen(diag, off).unwrap();
        for k in 0..n {
            let v = &vectors[k * n..(k + 1) * n];
            // T v - lambda v, in f64: residuals at rounding level (1e-10 for
            // entries of order 1..10).
            for i in 0..n {
                let mut tv = diag[i] * v[i];
                if i > 0 {
                    tv += off[i - 1] * v[i - 1];
                }
                if i + 1 < n {
                    tv += off[i] * v[i + 1];
                }
                assert!((tv - values[k] * v[i]).abs() < 1e-10, "residual at k={k}");
            }
            let norm: f64 = v.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-10);
        }
        assert!(values.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn small_matrices() {
        check(&[2.0], &[]);
        check(&[2.0, -1.0], &[0.5]);
        check(&[4.0, 1.0, -3.0, 2.5, 0.0], &[1.0, 2.0, 0.5, 3.0]);
        // Split (zero coupling) and repeated eigenvalues.
        check(&[1.0, 1.0, 1.0, 5.0], &[0.0, 0.0, 1e-300]);
        // Known spectrum: the 1-D Laplacian tridiag(-1, 2, -1) of size n has
        // eigenvalues 2 - 2 cos(k pi / (n + 1)).
        let n = 12;
        let (values, _) = tridiagonal_eigen(&vec![2.0; n], &vec![-1.0; n - 1]).unwrap();
        for (k, v) in values.iter().enumerate() {
            let exact = 2.0 - 2.0 * ((k + 1) as f64 * std::f64::consts::PI / (n + 1) as f64).cos();
            // The implicit QL iteration is backward stable: eigenvalues of
            // a matrix of norm 4 to n * eps * 4 ~ 1e-14; 1e-12 leaves room
            // for the cos of the reference, while neighbouring exact
            // eigenvalues lie 0.06 apart (a wrong or shifted one fails).
            assert!((v - exact).abs() < 1e-12);
        }
    }
}
