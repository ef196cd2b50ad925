//! Universality: on quadratics with known Hessians the Monte Carlo
//! estimates of the presets converge to the spectral quantities the paper
//! says they represent.
//!
//! At the minimiser of `L = 1/2 w'Aw` the normalised difference is exactly
//! `x = delta'A delta / 2` for every `rho`, so the only error left is Monte
//! Carlo error. Each test estimates its standard error from the spread of
//! 40 independent batch estimates (batch means) and allows 5 standard
//! errors (two-sided normal tail 6e-7; the batch SE itself is known to about
//! 11%, still leaving 4 SEs). Each test also checks that its tolerance is
//! tight enough to tell the target from the nearest wrong answer.

mod common;

use common::{batch_means, check, samples_at};
use sam_core::measure::Measure;
use sam_core::presets::{Det, Frob, Moments, Trace};
use sam_core::problems::{Quadratic, determinant, trace_of_power};
use sam_core::sampler::Sampler;

/// `x_i` of `n` samples at the minimiser.
fn samples(q: &Quadratic, measure: &dyn Measure, rho: f64, n: usize, seed: u64) -> Vec<f64> {
    samples_at(q, q.minimiser(), measure, rho, n, seed)
}

fn evaluate(measure: &dyn Measure, xs: &[f64]) -> f64 {
    measure.evaluate(xs).unwrap().value
}

fn quadratic() -> Quadratic {
    Quadratic::from_spectrum(&[0.5, 1.0, 2.0, 3.5], 11).unwrap()
}

#[test]
fn trace_converges_to_half_the_trace() {
    let q = quadratic();
    let tr = trace_of_power(q.matrix(), 4, 1).unwrap();
    let n = 20_000;
    for sampler in [Sampler::Gaussian, Sampler::Rademacher] {
        let m = Trace { sampler };
        let xs = samples(&q, &m, 0.01, n, 1);
        let mc = batch_means(n, |r| evaluate(&m, &xs[r]));
        // E[delta delta'] = I for both: S -> tr(A)/2. Wrong: tr(A).
        check(&format!("trace/{}", sampler.name()), &mc, tr / 2.0, tr);
    }
    // The unit sphere has E[delta delta'] = I/d: S -> tr(A)/(2d).
    let m = Trace {
        sampler: Sampler::Sphere,
    };
    let xs = samples(&q, &m, 0.01, n, 2);
    let mc = batch_means(n, |r| evaluate(&m, &xs[r]));
    check("trace/sphere", &mc, tr / 8.0, tr / 2.0);
}

#[test]
fn frob_converges_to_half_the_squared_frobenius_norm() {
    let q = quadratic();
    let fro2 = trace_of_power(q.matrix(), 4, 2).unwrap();
    let n = 20_000;
    let m = Frob::default();
    let xs = samples(&q, &m, 0.01, n, 3);
    let mc = batch_means(n, |r| evaluate(&m, &xs[r]));
    // Var(delta'A delta / 2) = tr(A^2)/2. Wrong: without the Bessel
    // factor the bias is only 1/n, so the nearest structural mistake is
    // forgetting the 1/2 (or the 1/4 of x's scale): tr(A^2).
    check("frob", &mc, fro2 / 2.0, fro2);
}

#[test]
fn moments_recover_power_sums_of_the_spectrum() {
    let q = quadratic();
    let n = 40_000;
    for order in 1..=3u8 {
        let m = Moments::new(order).unwrap();
        let xs = samples(&q, &m, 0.01, n, 4 + u64::from(order));
        let mc = batch_means(n, |r| evaluate(&m, &xs[r]));
        let target = trace_of_power(q.matrix(), 4, u32::from(order)).unwrap();
        // Wrong: the raw moment E q^k, which includes (tr A)^k etc.
        let tr = trace_of_power(q.matrix(), 4, 1).unwrap();
        let t2 = trace_of_power(q.matrix(), 4, 2).unwrap();
        let raw = match order {
            1 => 2.0 * tr,
            2 => tr * tr + 2.0 * t2,
            _ => tr.powi(3) + 6.0 * tr * t2 + 8.0 * target,
        };
        check(&format!("moments{order}"), &mc, target, raw);
    }
}

/// Det over a cube wide enough to contain the Gaussian
/// `exp(-delta'A delta / 4)`: that Gaussian has covariance `2 A^-1`, so a
/// half width of 5 standard deviations of its widest coordinate,
/// `c = 5 max_j sqrt(2 (A^-1)_jj)`, loses at most `d * P(|N(0,1)| > 5) =
/// 1.1e-6` of its mass: negligible next to the ~2% Monte Carlo error.
/// Then `E exp(-x/2) = (4 pi)^(d/2) det(A)^(-1/2) / (2c)^d` and
/// `S = (2c)^(2d) det(A) / (4 pi)^d`, so the ratio of two estimates with
/// the same cube is the ratio of determinants.
#[test]
fn det_ratios_converge_to_determinant_ratios() {
    let d = 2;
    let a1 = Quadratic::from_spectrum(&[1.0, 2.0], 21).unwrap();
    let a2 = Quadratic::from_spectrum(&[0.5, 0.8], 22).unwrap();
    let max_var = [&a1, &a2]
        .iter()
        .flat_map(|q| {
            let m = q.matrix();
            let det = determinant(m, d).unwrap();
            // Inverse of a 2x2: diagonal entries m11/det and m00/det.
            [2.0 * m[3] / det, 2.0 * m[0] / det]
        })
        .fold(0.0_f64, f64::max);
    let c = 5.0 * max_var.sqrt();
    let det = Det { half_width: c };
    let n = 200_000;
    // The same directions for both matrices (common random numbers) make
    // the ratio's error smaller; batch means account for the correlation.
    let x1 = samples(&a1, &det, 0.01, n, 30);
    let x2 = samples(&a2, &det, 0.01, n, 30);
    let mc = batch_means(n, |r| {
        let s1 = det.log_sharpness(&x1[r.clone()]).unwrap();
        let s2 = det.log_sharpness(&x2[r]).unwrap();
        (s1 - s2).exp()
    });
    let d1 = determinant(a1.matrix(), d).unwrap();
    let d2 = determinant(a2.matrix(), d).unwrap();
    // Wrong answers: the square root of the ratio (a missing square in
    // phi = m^-2), 2.24, or the trace ratio 3/1.3 = 2.31.
    check("det ratio", &mc, d1 / d2, (d1 / d2).sqrt().max(3.0 / 1.3));
    // And the absolute value with its constants.
    let mc = batch_means(n, |r| evaluate(&det, &x1[r]));
    let want = (2.0 * c).powi(2 * d as i32) * d1 / (4.0 * std::f64::consts::PI).powi(d as i32);
    check("det value", &mc, want, want / 2.0);
}
