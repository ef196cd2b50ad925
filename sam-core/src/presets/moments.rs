//! Spectral moments: `tr(H^k)` for `k = 1, 2, 3` from the Gaussian moments of
//! `x`, a demonstration of the class's universality.
//!
//! At a minimum, as `rho -> 0`, `q = 2x = delta'H delta` with
//! `delta ~ N(0, I)`, whose cumulants are `kappa_r(q) = 2^(r-1) (r-1)! tr(H^r)`:
//! `E q = tr H`, `E q^2 = (tr H)^2 + 2 tr H^2`,
//! `E q^3 = (tr H)^3 + 6 tr H tr H^2 + 8 tr H^3`. Inverting,
//! `tr H = E q = 2 E x`, `tr H^2 = kappa_2(q)/2 = 2 kappa_2(x)`,
//! `tr H^3 = kappa_3(q)/8 = kappa_3(x)`. The estimator uses the unbiased
//! k-statistics of the `x_i` for the cumulants, so each order is a
//! `phi(E x, E x^2, E x^3)` of the vector class with a Bessel-type
//! correction.

use crate::error::{Result, SamError};
use crate::measure::{
    Evaluation, FixedWeights, Measure, StreamPlan, check_evaluation, check_slots, check_xs, mean,
};
use crate::sampler::Sampler;

/// Spectral-moment measure of order `k` in `1..=3`: `S -> tr(H^k)` at a
/// minimum as `rho -> 0` (with Gaussian directions; other samplers change
/// the constants).
///
/// - `k = 1`: `S = 2 mean(x)`; one slot, fixed (1 buffer).
/// - `k = 2`: `S = 2 sum (x_i - mean)^2 / (n-1)`; two slots, fixed (2
///   buffers), needs 2 samples.
/// - `k = 3`: `S = n/((n-1)(n-2)) sum (x_i - mean)^3`; three slots
///   (weights `(x-shift)^2`, `x-shift`, 1), fixed (3 buffers), needs 3
///   samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// `k`, the power of the Hessian whose trace is estimated.
    pub order: u8,
    /// Distribution of the directions (Gaussian for the formulas above).
    pub sampler: Sampler,
}

impl Moments {
    /// The measure of order `order` with Gaussian directions; errors unless
    /// `order` is 1, 2 or 3.
    pub fn new(order: u8) -> Result<Self> {
        let m = Moments {
            order,
            sampler: Sampler::Gaussian,
        };
        m.validate()?;
        Ok(m)
    }

    fn slots(&self) -> usize {
        usize::from(self.order.clamp(1, 3))
    }

    /// `c = n/((n-1)(n-2))`, the third k-statistic's factor.
    fn k3_factor(n: f64) -> f64 {
        n / ((n - 1.0) * (n - 2.0))
    }
}

impl Measure for Moments {
    fn name(&self) -> String {
        format!("moments{}", self.order)
    }

    fn sampler(&self) -> Sampler {
        self.sampler
    }

    fn min_samples(&self) -> usize {
        self.slots()
    }

    fn validate(&self) -> Result<()> {
        if !(1..=3).contains(&self.order) {
            return Err(SamError::invalid(
                "order",
                format!(
                    "spectral moments are implemented for orders 1..=3, got {}",
                    self.order
                ),
            ));
        }
        self.sampler.validate()
    }

    fn evaluate(&self, xs: &[f64]) -> Result<Evaluation> {
        self.validate()?;
        check_xs(xs, self.min_samples())?;
        let n = xs.len() as f64;
        let m = mean(xs);
        let e = match self.order {
            1 => Evaluation {
                value: 2.0 * m,
                dvalue_dx: vec![2.0 / n; xs.len()],
            },
            2 => Evaluation {
                value: 2.0 * xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0),
                dvalue_dx: xs.iter().map(|x| 4.0 * (x - m) / (n - 1.0)).collect(),
            },
            _ => {
                let c = Self::k3_factor(n);
                let q: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
                Evaluation {
                    value: c * xs.iter().map(|x| (x - m) * (x - m) * (x - m)).sum::<f64>(),
                    dvalue_dx: xs
                        .iter()
                        .map(|x| c * (3.0 * (x - m) * (x - m) - 3.0 * q / n))
                        .collect(),
                }
            }
        };
        check_evaluation("moments", e)
    }

    /// `k` slots with fixed final weights: `g0 = -2` and `slot0 = 2/n` for
    /// `k = 1`; `g0 = 0` and `slot0 = 4/(n-1)` for `k = 2`; `g0 = 0` and
    /// `slot0 = 3n/((n-1)(n-2))` for `k = 3`.
    fn stream_plan(&self, samples: usize) -> StreamPlan {
        let n = samples.max(self.slots()) as f64;
        let (g0, slot0) = match self.order {
            0 | 1 => (-2.0, 2.0 / n),
            2 => (0.0, 4.0 / (n - 1.0)),
            _ => (0.0, 3.0 * Self::k3_factor(n)),
        };
        StreamPlan {
            slots: self.slots(),
            fixed: Some(FixedWeights { g0, slot0 }),
        }
    }

    fn slot_weights(&self, x: f64, out: &mut [f64]) -> Result<()> {
        self.shifted_slot_weights(x, 0.0, out)
    }

    fn slot_finals(&self, xs: &[f64]) -> Result<Vec<f64>> {
        self.shifted_slot_finals(xs, 0.0)
    }

    fn shifted_slot_weights(&self, x: f64, shift: f64, out: &mut [f64]) -> Result<()> {
        self.validate()?;
        check_slots(out, self.slots())?;
        let y = x - shift;
        match self.order {
            1 => out[0] = 1.0,
            2 => out.copy_from_slice(&[y, 1.0]),
            _ => out.copy_from_slice(&[y * y, y, 1.0]),
        }
        Ok(())
    }

    fn shifted_slot_finals(&self, xs: &[f64], shift: f64) -> Result<Vec<f64>> {
        self.validate()?;
        check_xs(xs, self.min_samples())?;
        let n = xs.len() as f64;
        let m = mean(xs);
        Ok(match self.order {
            1 => vec![2.0 / n],
            2 => vec![4.0 / (n - 1.0), -4.0 * (m - shift) / (n - 1.0)],
            _ => {
                let c = Self::k3_factor(n);
                let q: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
                let d = m - shift;
                vec![3.0 * c, -6.0 * c * d, 3.0 * c * d * d - 3.0 * c * q / n]
            }
        })
    }
}
