//! Helpers shared by the Monte Carlo integration tests.

#![allow(dead_code)]

use sam_core::estimator::{Estimator, Scaling};
use sam_core::measure::Measure;
use sam_core::problems::Problem;
use sam_core::reference::direction;

/// Number of batches for batch-means standard errors.
pub const BATCHES: usize = 40;
/// Standard errors allowed: two-sided normal tail 6e-7; the batch SE is
/// itself known to about 11% (40 batches), which still leaves 4 SEs.
pub const Z: f64 = 5.0;

/// `x_i` of `n` samples of `measure`'s directions at `w` (step 0 of
/// `seed`).
pub fn samples_at(
    problem: &dyn Problem,
    w: &[f64],
    measure: &dyn Measure,
    rho: f64,
    n: usize,
    seed: u64,
) -> Vec<f64> {
    let est = Estimator::new(measure, rho, 1.0, Scaling::Exact).unwrap();
    let l0 = problem.loss(w);
    (0..n as u32)
        .map(|i| {
            let d = direction(problem, measure, seed, 0, i);
            let wi: Vec<f64> = w.iter().zip(&d).map(|(w, d)| w + rho * d).collect();
            est.normalised_difference(l0, problem.loss(&wi))
        })
        .collect()
}

/// A statistic of the whole sample and its standard error.
pub struct Mc {
    /// The statistic on all samples.
    pub value: f64,
    /// Its standard error, from the spread of `BATCHES` batch values.
    pub se: f64,
}

/// `stat` on the whole range and its batch-means standard error.
pub fn batch_means(n: usize, stat: impl Fn(std::ops::Range<usize>) -> f64) -> Mc {
    let size = n / BATCHES;
    let batch: Vec<f64> = (0..BATCHES)
        .map(|b| stat(b * size..(b + 1) * size))
        .collect();
    let mean = batch.iter().sum::<f64>() / BATCHES as f64;
    let var = batch.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (BATCHES as f64 - 1.0);
    Mc {
        value: stat(0..size * BATCHES),
        se: (var / BATCHES as f64).sqrt(),
    }
}

/// Asserts `mc` is within `Z` standard errors of `target`, and that this
/// tolerance is tight enough to tell `target` from `nearest_wrong`.
pub fn check(name: &str, mc: &Mc, target: f64, nearest_wrong: f64) {
    assert!(
        (mc.value - target).abs() < Z * mc.se,
        "{name}: estimate {} vs target {target} (SE {})",
        mc.value,
        mc.se
    );
    assert!(
        (nearest_wrong - target).abs() > 2.0 * Z * mc.se,
        "{name}: tolerance {} too loose to tell {target} from {nearest_wrong}",
        Z * mc.se
    );
}
