//! From loss values to the step's gradient coefficients.
//!
//! Given `L0 = L(w)`, the perturbed losses `L_i = L(w + rho delta_i)` and a
//! [`Measure`], the [`Estimator`] returns the sharpness estimate `S` and the
//! coefficients of the update direction
//!
//! ```text
//! g = c0 g0 + sum_i c_i g_i,    c_i = F dS/dx_i,    c0 = 1 - sum_i c_i,
//! ```
//!
//! where `g0 = grad L(w)`, `g_i = grad L(w + rho delta_i)` and `F` is the
//! gradient factor of the [`Scaling`]. With the exact scaling
//! `F = lambda / rho^2` this is the gradient of `L + lambda S` (with the
//! samples held fixed), because `dx_i/dw = (g_i - g0) / rho^2`.
//!
//! A tensor backend that cannot keep all `g_i` uses a [`Stream`] instead:
//! it feeds the losses one at a time and accumulates each `g_i` into a few
//! buffers with the weights the stream hands back.

use std::sync::Arc;

use crate::error::{Result, SamError, finite};
use crate::measure::Measure;

/// The convention `lambda` is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum Scaling {
    /// `F = lambda / rho^2`: the step follows the true gradient of
    /// `L + lambda S`, so `lambda` means the same for every `rho`.
    #[default]
    #[serde(alias = "exact")]
    Exact,
    /// The authors' code, to reproduce their numbers with their `lambda`:
    /// `F = measure.reference_factor(lambda, rho)`. For Trace and Det that is
    /// `F = lambda` (the `1/rho^2` is dropped, so
    /// `lambda_ref = lambda_exact / rho^2`); for Frob `F = lambda / 2`
    /// (`lambda_ref = 2 lambda_exact / rho^2`).
    #[serde(alias = "reference")]
    Reference,
}

/// Validated hyperparameters around a measure; computes estimates and
/// coefficients.
///
/// ```
/// use sam_core::estimator::{Estimator, Scaling};
/// use sam_core::presets::Trace;
///
/// let trace = Trace::default();
/// let est = Estimator::new(&trace, 0.1, 0.5, Scaling::Exact)?;
/// let e = est.estimate(1.0, &[1.02, 1.04])?;
/// // x = (0.02/0.01, 0.04/0.01) = (2, 4); S = mean x = 3.
/// assert!((e.sharpness - 3.0).abs() < 1e-12);
/// // c_i = (lambda/rho^2) / n = 25; c0 = 1 - 50.
/// assert!((e.coefficients.c[0] - 25.0).abs() < 1e-12);
/// assert!((e.coefficients.c0 + 49.0).abs() < 1e-12);
/// # Ok::<(), sam_core::SamError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Estimator<'a> {
    measure: MeasureRef<'a>,
    rho: f64,
    lambda: f64,
    scaling: Scaling,
    factor: f64,
}

/// The result of [`Estimator::estimate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The Monte Carlo sharpness estimate `S` (not multiplied by `lambda`).
    pub sharpness: f64,
    /// The normalised loss differences `x_i = (L_i - L0) / rho^2`.
    pub xs: Vec<f64>,
    /// The gradient coefficients.
    pub coefficients: Coefficients,
}

/// `g = c0*g0 + sum_i c[i]*g_i`.
///
/// The coefficients sum to 1. With the exact scaling and a small `rho`,
/// `F = lambda / rho^2` is large and so are `c0` and `c_i`, of opposite
/// signs: form the combination as `g0 + sum_i c_i (g_i - g0)` (as
/// [`Coefficients::combine`] does) when working in low precision.
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficients {
    /// Weight of `g0 = grad L(w)`.
    pub c0: f64,
    /// Weight of `g_i = grad L(w + rho delta_i)`.
    pub c: Vec<f64>,
}

impl Coefficients {
    /// `g0 + sum_i c_i (g_i - g0)` (equal to `c0 g0 + sum_i c_i g_i`, with
    /// less cancellation). Zero coefficients are skipped, so `lambda = 0`
    /// returns `g0` bit for bit. Errors if the lengths disagree.
    pub fn combine<G: AsRef<[f64]>>(&self, g0: &[f64], gs: &[G]) -> Result<Vec<f64>> {
        if gs.len() != self.c.len() {
            return Err(SamError::invalid(
                "gs",
                format!("{} coefficients but {} gradients", self.c.len(), gs.len()),
            ));
        }
        let mut out = g0.to_vec();
        for (&c, g) in self.c.iter().zip(gs) {
            let g = g.as_ref();
            if g.len() != g0.len() {
                return Err(SamError::invalid(
                    "gs",
                    format!(
                        "gradient of length {} next to g0 of length {}",
                        g.len(),
                        g0.len()
                    ),
                ));
            }
            if c != 0.0 {
                for ((o, gi), g0j) in out.iter_mut().zip(g).zip(g0) {
                    *o += c * (gi - g0j);
                }
            }
        }
        Ok(out)
    }
}

impl<'a> Estimator<'a> {
    /// Checks `rho > 0` finite ([`SamError::InvalidRho`]), `lambda >= 0`
    /// finite ([`SamError::InvalidLambda`]), the measure (its sampler
    /// included) and that the gradient factor is finite.
    pub fn new(measure: &'a dyn Measure, rho: f64, lambda: f64, scaling: Scaling) -> Result<Self> {
        Self::checked(MeasureRef::Borrowed(measure), rho, lambda, scaling)
    }

    fn checked(measure: MeasureRef<'a>, rho: f64, lambda: f64, scaling: Scaling) -> Result<Self> {
        if !(rho.is_finite() && rho > 0.0) {
            return Err(SamError::InvalidRho(rho));
        }
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(SamError::InvalidLambda(lambda));
        }
        measure.get().validate()?;
        let factor = match scaling {
            Scaling::Exact => lambda / (rho * rho),
            Scaling::Reference => measure.get().reference_factor(lambda, rho),
        };
        finite(factor, || {
            format!("gradient factor for lambda = {lambda}, rho = {rho}")
        })?;
        Ok(Estimator {
            measure,
            rho,
            lambda,
            scaling,
            factor,
        })
    }

    /// The measure.
    pub fn measure(&self) -> &dyn Measure {
        self.measure.get()
    }

    /// The perturbation radius.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// The sharpness weight.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// The scaling convention.
    pub fn scaling(&self) -> Scaling {
        self.scaling
    }

    /// `x = (li - l0) / rho^2`.
    pub fn normalised_difference(&self, l0: f64, li: f64) -> f64 {
        (li - l0) / (self.rho * self.rho)
    }

    /// `F`: `lambda / rho^2` (exact) or `measure.reference_factor(lambda,
    /// rho)` (reference).
    pub fn gradient_factor(&self) -> f64 {
        self.factor
    }

    fn check_base(l0: f64) -> Result<()> {
        finite(l0, || "base loss L(w)".into()).map(|_| ())
    }

    fn x_checked(&self, l0: f64, index: usize, li: f64) -> Result<f64> {
        if !li.is_finite() {
            return Err(SamError::NonFiniteLoss { index, value: li });
        }
        finite(self.normalised_difference(l0, li), || {
            format!("normalised loss difference x[{index}] (rho^2 too small?)")
        })
    }

    /// The sharpness estimate and the coefficients for base loss `l0` and
    /// perturbed losses `losses`. Errors: no losses
    /// ([`SamError::NoSamples`]), fewer than the measure needs
    /// ([`SamError::TooFewSamples`]), a non-finite loss
    /// ([`SamError::NonFiniteLoss`], or [`SamError::NonFinite`] for `l0`),
    /// and whatever the measure reports (Det: [`SamError::Overflow`]).
    ///
    /// `lambda = 0` gives exactly `c0 = 1`, `c = 0`.
    pub fn estimate(&self, l0: f64, losses: &[f64]) -> Result<Estimate> {
        Self::check_base(l0)?;
        check_count(self.measure(), losses.len())?;
        let xs = losses
            .iter()
            .enumerate()
            .map(|(i, &li)| self.x_checked(l0, i, li))
            .collect::<Result<Vec<f64>>>()?;
        let e = self.measure().evaluate(&xs)?;
        let c = e
            .dvalue_dx
            .iter()
            .enumerate()
            .map(|(i, d)| {
                // F = 0 must give exact zeros whatever dS/dx is.
                let ci = if self.factor == 0.0 {
                    0.0
                } else {
                    self.factor * d
                };
                finite(ci, || format!("coefficient c[{i}]"))
            })
            .collect::<Result<Vec<f64>>>()?;
        let c0 = 1.0 - c.iter().sum::<f64>();
        Ok(Estimate {
            sharpness: e.value,
            xs,
            coefficients: Coefficients { c0, c },
        })
    }

    /// A stream for an unknown number of samples: `g0` is kept in its own
    /// buffer (the plan has no fixed weights) because the fixed weights of
    /// Trace, Frob and Moments depend on `n`. Prefer
    /// [`Estimator::stream_with_samples`], which saves that buffer.
    pub fn stream(&self, l0: f64) -> Result<Stream<'a>> {
        Self::check_base(l0)?;
        self.check_plan(0)?;
        Ok(Stream::new(self, l0, None))
    }

    /// A stream for exactly `samples` samples: when the measure allows it
    /// the plan has fixed weights and `g0` is folded into slot 0 (Trace: 1
    /// buffer in all; Frob: 2; Det: 2). Errors early if `samples` is below
    /// the measure's minimum.
    pub fn stream_with_samples(&self, l0: f64, samples: usize) -> Result<Stream<'a>> {
        Self::check_base(l0)?;
        check_count(self.measure(), samples)?;
        self.check_plan(samples)?;
        Ok(Stream::new(self, l0, Some(samples)))
    }

    /// A user-defined measure's plan must give the gradients somewhere to go.
    fn check_plan(&self, samples: usize) -> Result<()> {
        if self.measure().stream_plan(samples).slots == 0 {
            return Err(SamError::InvalidParameter {
                name: "stream_plan.slots",
                reason: "a measure's stream plan needs at least one slot".into(),
            });
        }
        Ok(())
    }
}

impl Estimator<'static> {
    /// As [`new`](Estimator::new), for a measure held behind an `Arc`: the
    /// estimator owns its share, so it can be built once and kept (an
    /// optimizer's rule does).
    pub fn shared(
        measure: Arc<dyn Measure>,
        rho: f64,
        lambda: f64,
        scaling: Scaling,
    ) -> Result<Self> {
        Self::checked(MeasureRef::Shared(measure), rho, lambda, scaling)
    }
}

/// The measure of an [`Estimator`]: borrowed, or shared.
#[derive(Debug, Clone)]
enum MeasureRef<'a> {
    Borrowed(&'a dyn Measure),
    Shared(Arc<dyn Measure>),
}

impl MeasureRef<'_> {
    fn get(&self) -> &dyn Measure {
        match self {
            MeasureRef::Borrowed(m) => *m,
            MeasureRef::Shared(m) => m.as_ref(),
        }
    }
}

fn check_count(measure: &dyn Measure, n: usize) -> Result<()> {
    if n == 0 {
        return Err(SamError::NoSamples);
    }
    let needed = measure.min_samples();
    if n < needed {
        return Err(SamError::TooFewSamples { needed, got: n });
    }
    Ok(())
}

mod stream;

pub use stream::{Stream, StreamResult, Unbounded};

#[cfg(test)]
mod tests;
