//! Statistical checks of the counter-based noise.
//!
//! Every bound is a multiple of the statistic's standard error under the
//! claimed distribution (computed from its known moments), so a correct
//! generator fails with probability around 1e-6 per check, while a biased
//! one (wrong variance, correlated pairs, reused streams) fails by tens of
//! standard errors.

use sam_core::sampler::{NoiseKey, Sampler};

const N: usize = 400_000;
/// Number of standard errors allowed: P(|Z| > 5) = 5.7e-7.
const Z: f64 = 5.0;

fn key(seed: u64, step: u64, sample: u32, tensor: u32) -> NoiseKey {
    NoiseKey {
        seed,
        step,
        sample,
        tensor,
    }
}

fn draws(s: Sampler, k: NoiseKey, n: usize) -> Vec<f64> {
    let mut v = vec![0.0; n];
    s.fill_f64(k, 0, &mut v);
    v
}

fn moment(v: &[f64], p: i32) -> f64 {
    v.iter().map(|x| x.powi(p)).sum::<f64>() / v.len() as f64
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (moment(a, 1), moment(b, 1));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
    cov / (va * vb).sqrt()
}

/// Standard normal CDF through erfc (Abramowitz & Stegun 7.1.26, absolute
/// error < 1.5e-7: a bias of 0.06 counts in a bin of 8000, far below its
/// Poisson noise of 90).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Pearson's chi-square of `u` (claimed uniform on [0, 1)) over `bins`
/// equal bins, and the Wilson-Hilferty upper quantile at z = 4.75
/// (p ~ 1e-6) for `bins - 1` degrees of freedom.
fn chi_square_uniform(u: impl Iterator<Item = f64>, bins: usize) -> (f64, f64) {
    let mut counts = vec![0usize; bins];
    let mut n = 0usize;
    for x in u {
        counts[((x * bins as f64) as usize).min(bins - 1)] += 1;
        n += 1;
    }
    let expected = n as f64 / bins as f64;
    let chi2 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    let k = (bins - 1) as f64;
    let a = 2.0 / (9.0 * k);
    let quantile = k * (1.0 - a + 4.75 * a.sqrt()).powi(3);
    (chi2, quantile)
}

#[test]
fn gaussian_moments_tails_and_shape() {
    let v = draws(Sampler::Gaussian, key(1, 0, 0, 0), N);
    let n = N as f64;
    // E z = 0, Var z = 1: SE 1/sqrt(N).
    assert!(moment(&v, 1).abs() < Z / n.sqrt(), "mean {}", moment(&v, 1));
    // E z^2 = 1, Var z^2 = 2.
    assert!(
        (moment(&v, 2) - 1.0).abs() < Z * (2.0 / n).sqrt(),
        "var {}",
        moment(&v, 2)
    );
    // E z^3 = 0, Var z^3 = 15.
    assert!(moment(&v, 3).abs() < Z * (15.0 / n).sqrt());
    // E z^4 = 3, Var z^4 = 105 - 9 = 96.
    assert!(
        (moment(&v, 4) - 3.0).abs() < Z * (96.0 / n).sqrt(),
        "m4 {}",
        moment(&v, 4)
    );
    // P(|z| > 3) = 0.0026998, binomial SE.
    let p = 0.002_699_796;
    let tail = v.iter().filter(|x| x.abs() > 3.0).count() as f64 / n;
    assert!(
        (tail - p).abs() < Z * (p * (1.0 - p) / n).sqrt(),
        "tail {tail}"
    );
    // The whole distribution: Phi(z) uniform.
    let (chi2, q) = chi_square_uniform(v.iter().map(|&z| normal_cdf(z)), 50);
    assert!(chi2 < q, "chi2 {chi2} >= {q}");
}

#[test]
fn gaussian_neighbours_are_uncorrelated() {
    let v = draws(Sampler::Gaussian, key(2, 0, 0, 0), N + 1);
    let n = N as f64;
    // Lag 1 mixes the two halves of a Box-Muller pair with neighbouring
    // pairs; lag 2 compares like halves of consecutive pairs. Under
    // independence the sample correlation has SE 1/sqrt(N).
    assert!(correlation(&v[..N], &v[1..]).abs() < Z / n.sqrt());
    let evens: Vec<f64> = v.iter().step_by(2).copied().collect();
    let odds: Vec<f64> = v.iter().skip(1).step_by(2).copied().collect();
    let m = evens.len().min(odds.len());
    // Within a pair: r cos and r sin are independent normals, so their
    // squares are uncorrelated too (a broken angle would correlate them).
    assert!(correlation(&evens[..m], &odds[..m]).abs() < Z / (m as f64).sqrt());
    let e2: Vec<f64> = evens[..m].iter().map(|x| x * x).collect();
    let o2: Vec<f64> = odds[..m].iter().map(|x| x * x).collect();
    assert!(correlation(&e2, &o2).abs() < Z / (m as f64).sqrt());
}

#[test]
fn streams_of_neighbouring_keys_are_uncorrelated() {
    // Runs use consecutive seeds, steps, samples and tensors: each field
    // change must give an unrelated stream (SE 1/sqrt(N) for each
    // correlation).
    let m = 100_000;
    let base = draws(Sampler::Gaussian, key(10, 5, 1, 1), m);
    for other in [
        key(11, 5, 1, 1),
        key(10, 6, 1, 1),
        key(10, 5, 2, 1),
        key(10, 5, 1, 2),
        key(10, 5, 1, 0),
    ] {
        let v = draws(Sampler::Gaussian, other, m);
        let r = correlation(&base, &v);
        assert!(r.abs() < Z / (m as f64).sqrt(), "{other:?}: r = {r}");
    }
    // Many short tensors (the common case for biases) pooled together are
    // still standard normal.
    let pooled: Vec<f64> = (0..20_000u32)
        .flat_map(|t| draws(Sampler::Gaussian, key(3, 0, 0, t), 7))
        .collect();
    let n = pooled.len() as f64;
    assert!(moment(&pooled, 1).abs() < Z / n.sqrt());
    assert!((moment(&pooled, 2) - 1.0).abs() < Z * (2.0 / n).sqrt());
}

#[test]
fn cube_is_uniform() {
    let c = 0.3;
    let v = draws(Sampler::Cube { half_width: c }, key(4, 0, 0, 0), N);
    let n = N as f64;
    assert!(v.iter().all(|x| x.abs() < c));
    // Uniform on [-c, c]: mean 0 with variance c^2/3; E u^2 = c^2/3 with
    // variance c^4/5 - c^4/9 = 4 c^4 / 45.
    assert!(moment(&v, 1).abs() < Z * c / (3.0 * n).sqrt());
    assert!((moment(&v, 2) - c * c / 3.0).abs() < Z * (4.0 / 45.0 / n).sqrt() * c * c);
    let (chi2, q) = chi_square_uniform(v.iter().map(|x| (x + c) / (2.0 * c)), 100);
    assert!(chi2 < q, "chi2 {chi2} >= {q}");
    assert!(correlation(&v[..N - 1], &v[1..]).abs() < Z / n.sqrt());
}

#[test]
fn rademacher_is_fair_and_independent() {
    let v = draws(Sampler::Rademacher, key(5, 0, 0, 0), N);
    let n = N as f64;
    assert!(v.iter().all(|&x| x == 1.0 || x == -1.0));
    // Mean of fair signs: SE 1/sqrt(N).
    assert!(moment(&v, 1).abs() < Z / n.sqrt());
    assert!(correlation(&v[..N - 1], &v[1..]).abs() < Z / n.sqrt());
}

#[test]
fn sphere_directions_are_uniform_on_the_unit_sphere() {
    // Normalised Gaussian vectors in d = 3: every coordinate has
    // E u_j^2 = 1/d, and by Archimedes u_1 is uniform on [-1, 1].
    let d = 3;
    let m = 60_000;
    let mut first = Vec::with_capacity(m);
    let mut second_sq = 0.0;
    for s in 0..m as u32 {
        let mut v = vec![0.0; d];
        Sampler::Sphere.fill_f64(key(6, 0, s, 0), 0, &mut v);
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        first.push(v[0] / norm);
        second_sq += (v[1] / norm).powi(2);
    }
    let (chi2, q) = chi_square_uniform(first.iter().map(|u| (u + 1.0) / 2.0), 40);
    assert!(chi2 < q, "chi2 {chi2} >= {q}");
    // u_2^2 for uniform u_1 on [-1, 1] (by symmetry the same law for u_2):
    // mean 1/3, variance 1/5 - 1/9 = 4/45.
    let mean_sq = second_sq / m as f64;
    assert!((mean_sq - 1.0 / 3.0).abs() < Z * (4.0 / 45.0 / m as f64).sqrt());
}
