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
use crate::measure::{FixedWeights, Measure, StreamPlan};

/// The convention `lambda` is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum Scaling {
    /// `F = lambda / rho^2`: the step follows the true gradient of
    /// `L + lambda S`, so `lambda` means the same for every `rho`.
    #[default]
    Exact,
    /// The authors' code, to reproduce their numbers with their `lambda`:
    /// `F = measure.reference_factor(lambda, rho)`. For Trace and Det that is
    /// `F = lambda` (the `1/rho^2` is dropped, so
    /// `lambda_ref = lambda_exact / rho^2`); for Frob `F = lambda / 2`
    /// (`lambda_ref = 2 lambda_exact / rho^2`).
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
        Ok(self.new_stream(l0, None))
    }

    /// A stream for exactly `samples` samples: when the measure allows it
    /// the plan has fixed weights and `g0` is folded into slot 0 (Trace: 1
    /// buffer in all; Frob: 2; Det: 2). Errors early if `samples` is below
    /// the measure's minimum.
    pub fn stream_with_samples(&self, l0: f64, samples: usize) -> Result<Stream<'a>> {
        Self::check_base(l0)?;
        check_count(self.measure(), samples)?;
        self.check_plan(samples)?;
        Ok(self.new_stream(l0, Some(samples)))
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

    fn new_stream(&self, l0: f64, samples: Option<usize>) -> Stream<'a> {
        let plan = self.measure().stream_plan(samples.unwrap_or(0));
        Stream {
            estimator: self.clone(),
            l0,
            expected: samples,
            slots: plan.slots,
            fold: samples.and(plan.fixed),
            xs: Vec::with_capacity(samples.unwrap_or(0)),
            shift: 0.0,
        }
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

/// Streaming accumulation of the step's gradient, one sample at a time.
///
/// The backend keeps `plan().slots` parameter-sized buffers, and:
///
/// - **With fixed weights** (`plan().fixed == Some(f)`): starts
///   `buf0 = f.g0 * g0` and `buf_s = 0` for `s >= 1`; for each sample adds
///   `push(L_i)[s] * g_i` to `buf_s`; after [`Stream::finish`] the update
///   direction is `buf0 + sum_{s>=1} slot_weights[s] * buf_s`. The result's
///   `g0_weight` is then 0 and `slot_weights[0]` is 1, so the general
///   formula below gives the same thing.
/// - **Without**: keeps `g0` aside, `buf_s = sum_i push(L_i)[s] * g_i`, and
///   the direction is `g0_weight * g0 + sum_s slot_weights[s] * buf_s`.
///
/// The direction equals `c0 g0 + sum_i c_i g_i` of
/// [`Estimator::estimate`] on the same losses.
///
/// A backend may also hold a sample's gradient back instead of adding it to
/// the buffers (typically the last one, whose loss is known before its
/// gradient has to go anywhere): after [`Stream::finish`] it enters the
/// direction directly with weight [`StreamResult::direct_weight`] of its
/// push weights, which saves a pass over the buffers.
///
/// Sample weights are taken relative to the first sample's `x` (see
/// [`Measure::shifted_slot_weights`]), which keeps Frob's buffers free of
/// cancellation and Det's weights in range.
#[derive(Debug)]
pub struct Stream<'a> {
    estimator: Estimator<'a>,
    l0: f64,
    expected: Option<usize>,
    slots: usize,
    /// The measure-level fixed weights, when `g0` is folded into slot 0.
    fold: Option<FixedWeights>,
    xs: Vec<f64>,
    shift: f64,
}

/// What [`Stream::finish`] returns: the sharpness and the final weights of
/// `g0` and of each buffer (see [`Stream`] for how to combine them).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    /// The sharpness estimate `S`.
    pub sharpness: f64,
    /// The normalised loss differences, in push order.
    pub xs: Vec<f64>,
    /// Final weight of `g0` (0 with fixed weights: `g0` is in slot 0).
    pub g0_weight: f64,
    /// Final weight of each buffer (slot 0's is 1 with fixed weights).
    pub slot_weights: Vec<f64>,
}

impl StreamResult {
    /// The weight in the update direction of a gradient whose push weights
    /// were `weights` (`sum_s slot_weights[s] * weights[s]`), for a backend
    /// that adds that gradient directly instead of into the buffers.
    /// Errors if `weights` does not have one entry per slot or the weight
    /// is not finite.
    pub fn direct_weight(&self, weights: &[f64]) -> Result<f64> {
        if weights.len() != self.slot_weights.len() {
            return Err(SamError::invalid(
                "weights",
                format!(
                    "{} push weights for a {}-slot plan",
                    weights.len(),
                    self.slot_weights.len()
                ),
            ));
        }
        let w = weights
            .iter()
            .zip(&self.slot_weights)
            .map(|(a, b)| a * b)
            .sum();
        finite(w, || "direct weight of a held-back gradient".into())
    }
}

impl Stream<'_> {
    /// The buffer layout; fixed weights (if any) are already multiplied by
    /// the gradient factor, i.e. they are the weights in the update
    /// direction.
    pub fn plan(&self) -> StreamPlan {
        let f = self.estimator.factor;
        StreamPlan {
            slots: self.slots,
            fixed: self.fold.map(|m| FixedWeights {
                g0: 1.0 + f * m.g0,
                slot0: f * m.slot0,
            }),
        }
    }

    /// Samples pushed so far.
    pub fn samples_pushed(&self) -> usize {
        self.xs.len()
    }

    /// Records the loss `L_i` of the next sample and returns the weight of
    /// its gradient `g_i` in each buffer (with fixed weights, slot 0's
    /// weight already includes its final factor). A rejected sample is not
    /// recorded.
    pub fn push(&mut self, loss: f64) -> Result<Vec<f64>> {
        let index = self.xs.len();
        if let Some(n) = self.expected
            && index >= n
        {
            return Err(SamError::invalid(
                "samples",
                format!("the stream was opened for {n} samples; sample {index} is one too many"),
            ));
        }
        let x = self.estimator.x_checked(self.l0, index, loss)?;
        let shift = if index == 0 { x } else { self.shift };
        let mut w = vec![0.0; self.slots];
        self.estimator
            .measure()
            .shifted_slot_weights(x, shift, &mut w)?;
        if let Some(fixed) = self.fold {
            w[0] *= self.estimator.factor * fixed.slot0;
        }
        for (s, v) in w.iter().enumerate() {
            finite(*v, || format!("slot weight {s} of sample {index}"))?;
        }
        self.shift = shift;
        self.xs.push(x);
        Ok(w)
    }

    /// The sharpness and the final weights. Errors if no sample, fewer
    /// samples than the measure needs, or (for
    /// [`Estimator::stream_with_samples`]) fewer than announced were pushed.
    pub fn finish(self) -> Result<StreamResult> {
        let n = self.xs.len();
        if n == 0 {
            return Err(SamError::NoSamples);
        }
        if let Some(expected) = self.expected
            && n != expected
        {
            return Err(SamError::TooFewSamples {
                needed: expected,
                got: n,
            });
        }
        let measure = self.estimator.measure();
        check_count(measure, n)?;
        let e = measure.evaluate(&self.xs)?;
        let finals = measure.shifted_slot_finals(&self.xs, self.shift)?;
        if finals.len() != self.slots {
            return Err(SamError::invalid(
                "measure",
                format!(
                    "{} returned {} final slot weights for a {}-slot plan",
                    measure.name(),
                    finals.len(),
                    self.slots
                ),
            ));
        }
        let f = self.estimator.factor;
        let scale = |d: f64| if f == 0.0 { 0.0 } else { f * d };
        let (g0_weight, slot_weights) = match self.fold {
            Some(_) => {
                let mut w: Vec<f64> = finals.iter().map(|&d| scale(d)).collect();
                w[0] = 1.0;
                (0.0, w)
            }
            None => (
                1.0 - e.dvalue_dx.iter().map(|&d| scale(d)).sum::<f64>(),
                finals.iter().map(|&d| scale(d)).collect(),
            ),
        };
        finite(g0_weight, || "final weight of g0".into())?;
        for (s, v) in slot_weights.iter().enumerate() {
            finite(*v, || format!("final weight of slot {s}"))?;
        }
        Ok(StreamResult {
            sharpness: e.value,
            xs: self.xs,
            g0_weight,
            slot_weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::{Det, Frob, Trace};

    /// Trace with a stream plan that has nowhere to put the gradients.
    #[derive(Debug)]
    struct NoSlots;

    impl Measure for NoSlots {
        fn name(&self) -> String {
            "no-slots".into()
        }
        fn sampler(&self) -> crate::sampler::Sampler {
            Trace::default().sampler()
        }
        fn min_samples(&self) -> usize {
            1
        }
        fn evaluate(&self, xs: &[f64]) -> Result<crate::measure::Evaluation> {
            Trace::default().evaluate(xs)
        }
        fn stream_plan(&self, _samples: usize) -> crate::measure::StreamPlan {
            crate::measure::StreamPlan {
                slots: 0,
                fixed: None,
            }
        }
        fn slot_weights(&self, _x: f64, _out: &mut [f64]) -> Result<()> {
            Ok(())
        }
        fn slot_finals(&self, _xs: &[f64]) -> Result<Vec<f64>> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_plan_without_slots_is_a_typed_error() {
        let e = Estimator::new(&NoSlots, 0.1, 1.0, Scaling::Exact).unwrap();
        for r in [e.stream(1.0), e.stream_with_samples(1.0, 2)] {
            assert!(matches!(
                r,
                Err(SamError::InvalidParameter {
                    name: "stream_plan.slots",
                    ..
                })
            ));
        }
    }

    #[test]
    fn direct_weight_checks_its_input() {
        let frob = Frob::default();
        let est = Estimator::new(&frob, 0.1, 1.0, Scaling::Exact).unwrap();
        let mut stream = est.stream_with_samples(1.0, 2).unwrap();
        let w0 = stream.push(1.01).unwrap();
        let w1 = stream.push(1.03).unwrap();
        let r = stream.finish().unwrap();
        // Frob's slot 1 has weight 1 for every sample, slot 0 the shifted x.
        assert_eq!(w0[1], 1.0);
        assert_eq!(w1[1], 1.0);
        let expected = w1[0] * r.slot_weights[0] + r.slot_weights[1];
        assert_eq!(r.direct_weight(&w1).unwrap(), expected);
        assert!(matches!(
            r.direct_weight(&[1.0]),
            Err(SamError::InvalidParameter {
                name: "weights",
                ..
            })
        ));
        assert!(matches!(
            r.direct_weight(&[f64::MAX, f64::MAX]),
            Err(SamError::NonFinite { .. })
        ));
    }

    #[test]
    fn constructor_rejects_bad_hyperparameters() {
        let t = Trace::default();
        for rho in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Estimator::new(&t, rho, 1.0, Scaling::Exact),
                Err(SamError::InvalidRho(_))
            ));
        }
        for lambda in [-1e-9, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Estimator::new(&t, 0.1, lambda, Scaling::Exact),
                Err(SamError::InvalidLambda(_))
            ));
        }
        // lambda / rho^2 overflows.
        assert!(matches!(
            Estimator::new(&t, 1e-200, 1.0, Scaling::Exact),
            Err(SamError::NonFinite { .. })
        ));
        let bad_cube = Det { half_width: 0.0 };
        assert!(matches!(
            Estimator::new(&bad_cube, 0.1, 1.0, Scaling::Exact),
            Err(SamError::InvalidParameter {
                name: "half_width",
                ..
            })
        ));
    }

    #[test]
    fn bad_losses_are_typed_errors() {
        let frob = Frob::default();
        let est = Estimator::new(&frob, 0.1, 1.0, Scaling::Exact).unwrap();
        assert_eq!(est.estimate(1.0, &[]), Err(SamError::NoSamples));
        assert_eq!(
            est.estimate(1.0, &[1.1]),
            Err(SamError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(
            est.estimate(1.0, &[1.1, f64::INFINITY]),
            Err(SamError::NonFiniteLoss {
                index: 1,
                value: f64::INFINITY
            })
        );
        assert!(matches!(
            est.estimate(1.0, &[f64::NAN, 1.0]),
            Err(SamError::NonFiniteLoss { index: 0, .. })
        ));
        assert!(matches!(
            est.estimate(f64::NAN, &[1.0, 1.0]),
            Err(SamError::NonFinite { .. })
        ));
        // Finite losses whose difference overflows once divided by rho^2.
        let tiny = Estimator::new(&frob, 1e-160, 0.0, Scaling::Exact).unwrap();
        assert!(matches!(
            tiny.estimate(-1e300, &[1e300, 0.0]),
            Err(SamError::NonFinite { .. })
        ));
        // Streams report the same errors.
        assert_eq!(
            est.stream_with_samples(1.0, 1).err(),
            Some(SamError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(
            est.stream_with_samples(1.0, 0).err(),
            Some(SamError::NoSamples)
        );
        let mut s = est.stream(1.0).unwrap();
        assert_eq!(
            s.push(f64::NAN)
                .err()
                .map(|e| matches!(e, SamError::NonFiniteLoss { index: 0, .. })),
            Some(true)
        );
        s.push(1.2).unwrap();
        assert_eq!(
            s.finish(),
            Err(SamError::TooFewSamples { needed: 2, got: 1 })
        );
        let s = est.stream(1.0).unwrap();
        assert_eq!(s.finish(), Err(SamError::NoSamples));
        let mut s = est.stream_with_samples(1.0, 2).unwrap();
        s.push(1.0).unwrap();
        s.push(1.0).unwrap();
        assert!(matches!(
            s.push(1.0),
            Err(SamError::InvalidParameter {
                name: "samples",
                ..
            })
        ));
        let mut s = est.stream_with_samples(1.0, 3).unwrap();
        s.push(1.0).unwrap();
        s.push(1.0).unwrap();
        assert_eq!(
            s.finish(),
            Err(SamError::TooFewSamples { needed: 3, got: 2 })
        );
    }

    #[test]
    fn lambda_zero_gives_exactly_the_base_gradient() {
        for m in [
            &Trace::default() as &dyn Measure,
            &Frob::default(),
            &Det::default(),
        ] {
            let est = Estimator::new(m, 0.05, 0.0, Scaling::Exact).unwrap();
            let e = est.estimate(0.3, &[0.31, 0.35, 0.29]).unwrap();
            assert_eq!(e.coefficients.c0, 1.0);
            assert!(e.coefficients.c.iter().all(|c| c.to_bits() == 0));
            let g0 = [-0.0, 1.5, -2.25];
            let gs = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
            let g = e.coefficients.combine(&g0, &gs).unwrap();
            assert!(g.iter().zip(&g0).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn reference_scaling_factors() {
        // Trace and Det drop 1/rho^2; Frob halves lambda (derivation in
        // presets::Frob's docs).
        let (rho, lambda) = (0.05, 0.3);
        let t = Trace::default();
        let f = Frob::default();
        let d = Det::default();
        let r = |m: &dyn Measure| {
            Estimator::new(m, rho, lambda, Scaling::Reference)
                .unwrap()
                .gradient_factor()
        };
        let x = |m: &dyn Measure| {
            Estimator::new(m, rho, lambda, Scaling::Exact)
                .unwrap()
                .gradient_factor()
        };
        assert_eq!(r(&t), lambda);
        assert_eq!(r(&d), lambda);
        assert_eq!(r(&f), lambda / 2.0);
        assert_eq!(x(&t), lambda / (rho * rho));
    }

    #[test]
    fn frob_reference_scaling_matches_the_authors_update() {
        // Their update: g0 + (lambda/rho^2)/(n-1) sum_i (L_i - mean L) g_i.
        let (rho, lambda) = (0.005, 0.005);
        let frob = Frob::default();
        let est = Estimator::new(&frob, rho, lambda, Scaling::Reference).unwrap();
        let losses = [2.3, 2.31, 2.2995, 2.305];
        let e = est.estimate(2.3, &losses).unwrap();
        let n = losses.len() as f64;
        let mean = losses.iter().sum::<f64>() / n;
        for (c, l) in e.coefficients.c.iter().zip(&losses) {
            let theirs = lambda / (rho * rho) / (n - 1.0) * (l - mean);
            // Same quantity through x_i = (L_i - L0)/rho^2: relative 1e-10
            // covers the cancellation in L_i - L0 (|L| ~ 2 vs differences
            // ~ 1e-2: a factor 1e3 over f64's 2e-16, twice).
            assert!(
                (c - theirs).abs() <= 1e-10 * theirs.abs().max(1.0),
                "{c} vs {theirs}"
            );
        }
        assert!((e.coefficients.c0 - 1.0).abs() < 1e-10);
    }

    #[test]
    fn combine_checks_lengths() {
        let c = Coefficients {
            c0: 0.5,
            c: vec![0.5],
        };
        assert!(c.combine(&[1.0], &[[1.0, 2.0]]).is_err());
        assert!(c.combine::<[f64; 1]>(&[1.0], &[]).is_err());
        assert_eq!(
            c.combine(&[1.0, 2.0], &[[3.0, 4.0]]).unwrap(),
            vec![2.0, 3.0]
        );
    }

    #[test]
    fn det_stream_survives_a_large_common_offset() {
        // x ~ 600: S = m^-2 ~ e^600 and dS/dx_i ~ e^600 are in range, but
        // unshifted the slot weight e^-300 and the final factor
        // m^-3 / n ~ e^900 are not (the latter overflows). Relative to the
        // first sample the weights are e^(+-1) and everything fits.
        let det = Det { half_width: 1.0 };
        let est = Estimator::new(&det, 1.0, 1.0, Scaling::Exact).unwrap();
        let losses = [600.0, 602.0, 598.0];
        let direct = est.estimate(0.0, &losses).unwrap();
        assert!(direct.sharpness > 1e250 && direct.sharpness.is_finite());
        let mut s = est.stream_with_samples(0.0, 3).unwrap();
        let weights: Vec<f64> = losses.iter().map(|&l| s.push(l).unwrap()[0]).collect();
        let r = s.finish().unwrap();
        for (w, c) in weights.iter().zip(&direct.coefficients.c) {
            let streamed = w * r.slot_weights[0];
            // The same exponentials split differently: 1e-12 relative.
            assert!((streamed - c).abs() <= 1e-12 * c.abs(), "{streamed} vs {c}");
        }
        // Unshifted, the final factor overflows: a typed error.
        assert!(matches!(
            det.slot_finals(&losses),
            Err(SamError::Overflow { .. })
        ));
        // Beyond the f64 range even the estimate overflows.
        assert!(matches!(
            est.estimate(0.0, &[800.0]),
            Err(SamError::Overflow { .. })
        ));
    }
}
