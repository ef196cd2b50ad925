//! The streamed form of an estimate: losses pushed one at a time, weights
//! for a few parameter-sized buffers handed back (see [`Stream`]).

use super::{Estimator, check_count};
use crate::error::{Result, SamError, finite};
use crate::measure::{FixedWeights, StreamPlan};

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
/// [`Measure::shifted_slot_weights`](crate::measure::Measure::shifted_slot_weights)), which keeps Frob's buffers free of
/// cancellation and Det's weights in range.
#[derive(Debug, Clone)]
pub struct Stream<'a> {
    estimator: Estimator<'a>,
    l0: f64,
    expected: Option<usize>,
    slots: usize,
    /// The measure-level fixed weights, when `g0` is folded into slot 0.
    fold: Option<FixedWeights>,
    xs: Vec<f64>,
    shift: f64,
    /// The sum of the push weights of each slot.
    sums: Vec<f64>,
}

/// A finished stream whose final weights leave the f64 range (Det's
/// `m^-3` when every `exp(-x_i/2)` is tiny), in the log domain. For a
/// one-slot plan without fixed weights (the scalar class) the coefficient
/// of every sample is `c_i = D w_i`, with `D` the slot's final weight and
/// `w_i` its push weight, so the sharpness part of the step is
///
/// ```text
/// g - g0 = sum_i c_i (g_i - g0) = (-1)^negative exp(ln_scale) (slot - weight_sum g0)
/// ```
///
/// with `slot = sum_i w_i g_i` (every sample's gradient at its push
/// weight) and `weight_sum = sum_i w_i`: a finite direction and a scale
/// whose logarithm is finite, which a stability guard can bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Unbounded {
    /// `ln |D|`, the gradient factor included.
    pub ln_scale: f64,
    /// Whether `D` is negative.
    pub negative: bool,
    /// `sum_i w_i`.
    pub weight_sum: f64,
    /// The normalised loss differences, in push order.
    pub xs: Vec<f64>,
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
    /// Whether a final weight (of `g0` or of a buffer) exceeds `limit` in
    /// magnitude: too large to multiply a gradient by in f32 safely.
    pub fn exceeds(&self, limit: f64) -> bool {
        self.g0_weight.abs() > limit || self.slot_weights.iter().any(|w| w.abs() > limit)
    }

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

impl<'a> Stream<'a> {
    pub(super) fn new(estimator: &Estimator<'a>, l0: f64, samples: Option<usize>) -> Self {
        let plan = estimator.measure().stream_plan(samples.unwrap_or(0));
        Self {
            estimator: estimator.clone(),
            l0,
            expected: samples,
            slots: plan.slots,
            fold: samples.and(plan.fixed),
            xs: Vec::with_capacity(samples.unwrap_or(0)),
            shift: 0.0,
            sums: vec![0.0; plan.slots],
        }
    }

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
        self.sums.iter_mut().zip(&w).for_each(|(sum, v)| *sum += v);
        Ok(w)
    }

    /// The step in the log domain ([`Unbounded`]), for when
    /// [`finish`](Self::finish) overflows. Only one-slot plans without fixed
    /// weights have this form; other plans are refused.
    pub fn finish_unbounded(self) -> Result<Unbounded> {
        if self.slots != 1 || self.fold.is_some() {
            return Err(SamError::invalid(
                "measure",
                "only a one-slot stream plan without fixed weights has a log-domain step",
            ));
        }
        check_count(self.estimator.measure(), self.xs.len())?;
        let finals = self
            .estimator
            .measure()
            .ln_shifted_slot_finals(&self.xs, self.shift)?;
        let &[(ln_d, negative)] = finals.as_slice() else {
            return Err(SamError::invalid(
                "measure",
                "a one-slot plan has one final weight",
            ));
        };
        let ln_scale = self.estimator.factor.ln() + ln_d;
        if ln_scale.is_nan() {
            return Err(SamError::non_finite(format!(
                "log of the step's scale = {ln_scale}"
            )));
        }
        Ok(Unbounded {
            ln_scale,
            negative,
            weight_sum: self.sums[0],
            xs: self.xs,
        })
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
