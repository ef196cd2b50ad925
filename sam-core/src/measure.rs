//! The [`Measure`] trait, and the generic `(phi, psi, mu)` measure
//! [`ComposedMeasure`].
//!
//! A measure turns the normalised loss differences
//! `x_i = (L(w + rho delta_i) - L(w)) / rho^2` of `n` samples
//! `delta_i ~ mu` into a Monte Carlo estimate of the sharpness
//! `S = phi(E psi_1(x), ..., E psi_k(x))` and its derivative with respect to
//! each `x_i`. Everything downstream (coefficients, streaming buffers) only
//! needs these numbers.
//!
//! # Streaming
//!
//! The step's gradient contains `sum_i (dS/dx_i) (g_i - g0)`. A tensor
//! backend should not keep `n` gradients alive, so a measure also says how
//! to accumulate this sum in a few buffers ("slots") as the samples arrive:
//! sample `i`'s gradient enters slot `s` with a weight `w_s(x_i)` known as
//! soon as `x_i` is ([`Measure::slot_weights`]), and after the last sample
//! each slot gets one final factor `D_s` ([`Measure::slot_finals`]), chosen
//! so that for every `i`
//!
//! ```text
//! dS/dx_i = sum_s D_s * w_s(x_i).
//! ```
//!
//! For `phi(E psi_1, ..., E psi_k)` this holds with `w_s = psi_s'` and
//! `D_s = (d phi / d m_s) / n`, so `k` slots always suffice.

use crate::error::{Result, SamError, finite};
use crate::function::ScalarFn;
use crate::outer::OuterFn;
use crate::sampler::Sampler;
use std::fmt::Debug;

/// One evaluation of a measure on the normalised loss differences `x_i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The Monte Carlo estimate of the sharpness `S`.
    pub value: f64,
    /// `dS/dx_i` for each sample `i`.
    pub dvalue_dx: Vec<f64>,
}

/// How a tensor backend accumulates `sum_i c_i g_i` without keeping one
/// gradient per sample: `slots` buffers, sample `i` adding `w_s(x_i) g_i` to
/// buffer `s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamPlan {
    /// Number of accumulator buffers.
    pub slots: usize,
    /// Present when the final weights of `g0` and of slot 0 do not depend on
    /// the samples' values: the backend may then start slot 0 as
    /// `fixed.g0 * g0` and drop its separate copy of `g0` (saves a buffer).
    pub fixed: Option<FixedWeights>,
}

/// Final weights of `g0` and of slot 0 that are known before any sample is
/// drawn (they may depend on the sample count `n`).
///
/// From [`Measure::stream_plan`] they are the weights in
/// `rho^2 grad S = sum_i (dS/dx_i)(g_i - g0)`, i.e. `g0 = -sum_i dS/dx_i`
/// and `slot0 = D_0`; from `Stream::plan` (in the estimator) they are the
/// weights in the update direction, already multiplied by the gradient
/// factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedWeights {
    /// Final weight of `g0`.
    pub g0: f64,
    /// Final weight of slot 0.
    pub slot0: f64,
}

/// A sharpness measure: `(phi, psi, mu)` with its Monte Carlo estimator.
///
/// Implementations must keep [`Measure::evaluate`], [`Measure::slot_weights`]
/// and [`Measure::slot_finals`] consistent: `dS/dx_i = sum_s D_s w_s(x_i)`,
/// and likewise for the shifted pair (for every shift). When
/// [`Measure::stream_plan`] reports fixed weights, `-sum_i dS/dx_i` and
/// `D_0` must equal them for every set of `n` samples and every shift.
pub trait Measure: Send + Sync + Debug {
    /// A short name, e.g. `trace` or `det(c=0.01)`.
    fn name(&self) -> String;

    /// The distribution `mu` the perturbation directions are drawn from.
    fn sampler(&self) -> Sampler;

    /// The fewest samples for which the estimate is defined (2 for
    /// variance-type measures, else 1).
    fn min_samples(&self) -> usize;

    /// Checks the measure's parameters (the sampler's included). Called by
    /// the estimator's constructor.
    fn validate(&self) -> Result<()> {
        self.sampler().validate()
    }

    /// The Monte Carlo estimate `phi(mean psi(x))` and its derivative with
    /// respect to each `x_i`. Errors: no samples, too few, a non-finite `x_i`,
    /// or a non-finite result.
    fn evaluate(&self, xs: &[f64]) -> Result<Evaluation>;

    /// The accumulator layout for `samples` samples.
    fn stream_plan(&self, samples: usize) -> StreamPlan;

    /// Writes the weight `w_s(x)` of a sample's gradient in each slot into
    /// `out` (length = the plan's `slots`).
    fn slot_weights(&self, x: f64, out: &mut [f64]) -> Result<()>;

    /// The final factors `D_s` with `dS/dx_i = sum_s D_s w_s(x_i)` for every
    /// `i`.
    fn slot_finals(&self, xs: &[f64]) -> Result<Vec<f64>>;

    /// Like [`Measure::slot_weights`], relative to a reference value `shift`
    /// known before the sample (the estimator's stream uses the first
    /// sample's `x`). Measures override this pair to stay accurate when all
    /// `x_i` share a large offset: Frob weights `x - shift` instead of `x`
    /// (no cancellation), Det weights `exp(-(x - shift)/2)` (no overflow).
    /// The default ignores the shift.
    fn shifted_slot_weights(&self, x: f64, shift: f64, out: &mut [f64]) -> Result<()> {
        let _ = shift;
        self.slot_weights(x, out)
    }

    /// The final factors matching [`Measure::shifted_slot_weights`] with the
    /// same `shift`.
    fn shifted_slot_finals(&self, xs: &[f64], shift: f64) -> Result<Vec<f64>> {
        let _ = shift;
        self.slot_finals(xs)
    }

    /// `(ln |D_s|, D_s < 0)` for the final factors of
    /// [`Measure::shifted_slot_finals`]: measures whose factors can leave
    /// the f64 range (Det's `m^-3`) override it to stay in the log domain,
    /// so the stability guard can still bound the step. The default takes
    /// the logarithm of the factors themselves.
    fn ln_shifted_slot_finals(&self, xs: &[f64], shift: f64) -> Result<Vec<(f64, bool)>> {
        Ok(self
            .shifted_slot_finals(xs, shift)?
            .into_iter()
            .map(|d| (d.abs().ln(), d < 0.0))
            .collect())
    }

    /// The gradient factor `F` of the authors' code (see
    /// `estimator::Scaling::Reference`), for their `lambda`. The default,
    /// right for Trace and Det, drops the `1/rho^2` of the exact gradient:
    /// `F = lambda`.
    fn reference_factor(&self, lambda: f64, rho: f64) -> f64 {
        let _ = rho;
        lambda
    }
}

/// Checks the sample vector every measure needs: non-empty, at least
/// `min` entries, all finite.
pub(crate) fn check_xs(xs: &[f64], min: usize) -> Result<()> {
    if xs.is_empty() {
        return Err(SamError::NoSamples);
    }
    if xs.len() < min {
        return Err(SamError::TooFewSamples {
            needed: min,
            got: xs.len(),
        });
    }
    for (i, &x) in xs.iter().enumerate() {
        finite(x, || format!("normalised loss difference x[{i}]"))?;
    }
    Ok(())
}

/// Checks that every entry of an evaluation is finite.
pub(crate) fn check_evaluation(name: &str, e: Evaluation) -> Result<Evaluation> {
    finite(e.value, || format!("{name} sharpness estimate"))?;
    for (i, d) in e.dvalue_dx.iter().enumerate() {
        finite(*d, || format!("{name} dS/dx[{i}]"))?;
    }
    Ok(e)
}

/// Checks the length of a slot-weight buffer.
pub(crate) fn check_slots(out: &[f64], slots: usize) -> Result<()> {
    if out.len() == slots {
        Ok(())
    } else {
        Err(SamError::invalid(
            "out",
            format!(
                "expected {slots} slot weight(s), got a buffer of {}",
                out.len()
            ),
        ))
    }
}

/// Arithmetic mean.
pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// `ln sum_i exp(v_i)` without overflow or underflow: the largest value is
/// factored out, so the sum lies in `[1, n]`. Empty input gives `-inf`; an
/// infinite maximum is returned as is.
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// The generic measure `phi(E psi_1(x), ..., E psi_k(x))` with directions
/// drawn from `sampler`: the scalar class is `k = 1`, the vector class
/// `k > 1`.
///
/// Streams with `k` slots (slot `s` weighted by `psi_s'(x_i)`, final factor
/// `(d phi/d m_s)/n`) and keeps `g0` separately: `k + 1` buffers in all. The
/// presets do better where their algebra allows.
///
/// ```
/// use sam_core::function::{Identity, Power};
/// use sam_core::measure::{ComposedMeasure, Measure};
/// use sam_core::outer::SampleVariance;
/// use sam_core::sampler::Sampler;
///
/// // Frob-SAM assembled by hand: the sample variance of x.
/// let frob = ComposedMeasure::new(
///     vec![Box::new(Identity), Box::new(Power(2))],
///     Box::new(SampleVariance),
///     Sampler::Gaussian,
/// )?;
/// let e = frob.evaluate(&[1.0, 3.0])?;
/// assert!((e.value - 2.0).abs() < 1e-12);
/// # Ok::<(), sam_core::SamError>(())
/// ```
#[derive(Debug)]
pub struct ComposedMeasure {
    /// The inner functions `psi_1..psi_k`.
    pub psi: Vec<Box<dyn ScalarFn>>,
    /// The outer function `phi: R^k -> R`.
    pub phi: Box<dyn OuterFn>,
    /// The distribution `mu` of the directions.
    pub sampler: Sampler,
}

impl ComposedMeasure {
    /// Builds and validates the measure (`phi`'s arity must equal the number
    /// of `psi`, at least one; the sampler must be valid).
    pub fn new(
        psi: Vec<Box<dyn ScalarFn>>,
        phi: Box<dyn OuterFn>,
        sampler: Sampler,
    ) -> Result<Self> {
        let m = ComposedMeasure { psi, phi, sampler };
        m.validate()?;
        Ok(m)
    }

    /// The scalar class `phi(E psi(x))`.
    pub fn scalar(
        psi: impl ScalarFn + 'static,
        phi: impl OuterFn + 'static,
        sampler: Sampler,
    ) -> Result<Self> {
        Self::new(vec![Box::new(psi)], Box::new(phi), sampler)
    }

    fn means(&self, xs: &[f64]) -> Result<Vec<f64>> {
        let n = xs.len() as f64;
        self.psi
            .iter()
            .enumerate()
            .map(|(j, f)| {
                let m = xs.iter().map(|&x| f.value(x)).sum::<f64>() / n;
                finite(m, || format!("mean of psi_{} = {}", j + 1, f.name()))
            })
            .collect()
    }
}

impl Measure for ComposedMeasure {
    fn name(&self) -> String {
        let psi: Vec<String> = self.psi.iter().map(|f| f.name()).collect();
        format!(
            "phi = {}, psi = ({}), mu = {}",
            self.phi.name(),
            psi.join(", "),
            self.sampler.name()
        )
    }

    fn sampler(&self) -> Sampler {
        self.sampler
    }

    fn min_samples(&self) -> usize {
        self.phi.min_samples().max(1)
    }

    fn validate(&self) -> Result<()> {
        self.sampler.validate()?;
        if self.psi.is_empty() {
            return Err(SamError::invalid(
                "psi",
                "at least one inner function is needed",
            ));
        }
        if self.phi.arity() != self.psi.len() {
            return Err(SamError::invalid(
                "phi",
                format!(
                    "phi takes {} mean(s) but {} psi function(s) were given",
                    self.phi.arity(),
                    self.psi.len()
                ),
            ));
        }
        Ok(())
    }

    fn evaluate(&self, xs: &[f64]) -> Result<Evaluation> {
        self.validate()?;
        check_xs(xs, self.min_samples())?;
        let n = xs.len();
        let m = self.means(xs)?;
        let value = self.phi.value(&m, n)?;
        let grad = self.phi.gradient(&m, n)?;
        let dvalue_dx = xs
            .iter()
            .map(|&x| {
                self.psi
                    .iter()
                    .zip(&grad)
                    .map(|(f, g)| g * f.derivative(x))
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        check_evaluation("composed", Evaluation { value, dvalue_dx })
    }

    fn stream_plan(&self, _samples: usize) -> StreamPlan {
        StreamPlan {
            slots: self.psi.len(),
            fixed: None,
        }
    }

    fn slot_weights(&self, x: f64, out: &mut [f64]) -> Result<()> {
        check_slots(out, self.psi.len())?;
        for (j, (o, f)) in out.iter_mut().zip(&self.psi).enumerate() {
            *o = finite(f.derivative(x), || format!("psi_{}'({x})", j + 1))?;
        }
        Ok(())
    }

    fn slot_finals(&self, xs: &[f64]) -> Result<Vec<f64>> {
        self.validate()?;
        check_xs(xs, self.min_samples())?;
        let n = xs.len();
        let m = self.means(xs)?;
        let grad = self.phi.gradient(&m, n)?;
        grad.into_iter()
            .enumerate()
            .map(|(j, g)| finite(g / n as f64, || format!("final slot weight {j}")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::{Exp, Identity, Log, Power};
    use crate::outer::{self, InversePower, SampleVariance};
    use proptest::prelude::*;

    fn frob() -> ComposedMeasure {
        ComposedMeasure::new(
            vec![Box::new(Identity), Box::new(Power(2))],
            Box::new(SampleVariance),
            Sampler::Gaussian,
        )
        .unwrap()
    }

    #[test]
    fn composed_rejects_bad_shapes_and_inputs() {
        assert!(matches!(
            ComposedMeasure::new(
                vec![Box::new(Identity)],
                Box::new(SampleVariance),
                Sampler::Gaussian
            ),
            Err(SamError::InvalidParameter { name: "phi", .. })
        ));
        assert!(matches!(
            ComposedMeasure::new(
                vec![],
                Box::new(outer::LinearCombination(vec![])),
                Sampler::Gaussian
            ),
            Err(SamError::InvalidParameter { name: "psi", .. })
        ));
        let f = frob();
        assert_eq!(f.min_samples(), 2);
        assert_eq!(f.evaluate(&[]), Err(SamError::NoSamples));
        assert_eq!(
            f.evaluate(&[1.0]),
            Err(SamError::TooFewSamples { needed: 2, got: 1 })
        );
        assert!(matches!(
            f.evaluate(&[1.0, f64::NAN]),
            Err(SamError::NonFinite { .. })
        ));
        let log = ComposedMeasure::scalar(Log, outer::Identity, Sampler::Gaussian).unwrap();
        assert!(matches!(
            log.evaluate(&[-1.0]),
            Err(SamError::NonFinite { .. })
        ));
        let mut wrong = vec![0.0; 3];
        assert!(matches!(
            f.slot_weights(1.0, &mut wrong),
            Err(SamError::InvalidParameter { name: "out", .. })
        ));
    }

    #[test]
    fn log_sum_exp_edge_cases() {
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f64::INFINITY, 1.0]), f64::INFINITY);
        // exp(1000) overflows; the result must not.
        let v = log_sum_exp(&[1000.0, 1000.0]);
        assert!((v - (1000.0 + 2f64.ln())).abs() < 1e-12);
        let v = log_sum_exp(&[-1000.0, -1000.0]);
        assert!((v - (-1000.0 + 2f64.ln())).abs() < 1e-12);
    }

    proptest! {
        /// log-sum-exp is shift-equivariant and bounded by
        /// `[max, max + ln n]`, for values far beyond exp's range (2e-12
        /// relative to the magnitude: a few roundings of numbers up to 1e4).
        #[test]
        fn log_sum_exp_is_stable(
            v in proptest::collection::vec(-5000.0f64..5000.0, 1..20),
            shift in -3000.0f64..3000.0,
        ) {
            let l = log_sum_exp(&v);
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let tol = 2e-12 * (1.0 + max.abs() + shift.abs());
            prop_assert!(l >= max - tol && l <= max + (v.len() as f64).ln() + tol);
            let shifted: Vec<f64> = v.iter().map(|x| x + shift).collect();
            prop_assert!((log_sum_exp(&shifted) - (l + shift)).abs() <= tol);
        }

        /// The generic slot decomposition reproduces dS/dx_i (relative
        /// 1e-12: both sides are the same few products in another order).
        #[test]
        fn composed_slots_reproduce_derivatives(
            xs in proptest::collection::vec(-3.0f64..3.0, 2..10),
        ) {
            let det_like = ComposedMeasure::scalar(Exp(-0.5), InversePower(2), Sampler::Gaussian).unwrap();
            for m in [&frob() as &dyn Measure, &det_like] {
                let e = m.evaluate(&xs).unwrap();
                let finals = m.slot_finals(&xs).unwrap();
                let slots = m.stream_plan(xs.len()).slots;
                prop_assert_eq!(finals.len(), slots);
                let mut w = vec![0.0; slots];
                for (x, d) in xs.iter().zip(&e.dvalue_dx) {
                    m.slot_weights(*x, &mut w).unwrap();
                    let terms: Vec<f64> = finals.iter().zip(&w).map(|(a, b)| a * b).collect();
                    let scale: f64 = terms.iter().map(|t| t.abs()).sum::<f64>() + 1e-300;
                    prop_assert!((terms.iter().sum::<f64>() - d).abs() <= 1e-12 * scale);
                }
            }
        }
    }
}
