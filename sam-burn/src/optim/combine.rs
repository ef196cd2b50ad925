//! Combining the gradients of a universal-SAM step as they arrive:
//! `g = g0_weight g0 + sum_s slot_weight_s slot_s + direct_weight g_last`,
//! where each slot accumulates `sum_i w_{i,s} g_i` with the push weights
//! `sam_core`'s stream gives for sample `i`. No per-sample gradient is kept:
//! Trace needs one slot, Frob and Det two.

use burn::tensor::backend::Backend;
use sam_core::estimator::StreamResult;
use sam_core::measure::StreamPlan;

use crate::params::Flat;

/// The buffers of one step's combination.
pub(crate) struct Combination<B: Backend> {
    /// `g0`, when its weight is only known at the end.
    g0: Option<Flat<B>>,
    /// The plan's slots; an empty slot stands for zeros.
    slots: Vec<Option<Flat<B>>>,
}

impl<B: Backend> Combination<B> {
    /// Buffers for `plan`. With fixed weights `g0` lives inside slot 0
    /// from the start, which saves a parameter-sized buffer; a zero weight
    /// leaves the slot empty (the reference Trace, lambda = 1, gives `g0`
    /// the weight 0, and its step is then just `g_1`).
    pub(crate) fn new(plan: &StreamPlan, g0: Flat<B>) -> Self {
        let mut slots: Vec<Option<Flat<B>>> = vec![None; plan.slots];
        let g0 = match plan.fixed {
            Some(fixed) => {
                slots[0] = (fixed.g0 != 0.0).then(|| g0.scale(fixed.g0));
                None
            }
            None => Some(g0),
        };
        Self { g0, slots }
    }

    /// Adds `weights[s] * gi` to every slot `s`. The last slot takes `gi`
    /// by value, so its product reuses `gi`'s buffer.
    pub(crate) fn add(&mut self, weights: &[f64], gi: Flat<B>) {
        let (last, rest) = self.slots.split_last_mut().expect("a plan has a slot");
        for (slot, &w) in rest.iter_mut().zip(weights) {
            *slot = Some(match slot.take() {
                Some(acc) => acc.axpy(w, &gi),
                None => gi.clone().scale(w),
            });
        }
        let w = weights[weights.len() - 1];
        *last = Some(match last.take() {
            Some(acc) => acc.axpy_owned(w, gi),
            None => gi.scale(w),
        });
    }

    /// The first slot with the held-back last gradient added at its push
    /// weight, `sum_i w_i g_i`: the direction of a step of a one-slot plan
    /// bounded in the log domain (see `sam_core::estimator::Unbounded`).
    pub(crate) fn into_slot(self, weights: &[f64], g_last: Flat<B>) -> Flat<B> {
        match self.slots.into_iter().next().flatten() {
            Some(acc) => acc.axpy_owned(weights[0], g_last),
            None => g_last.scale(weights[0]),
        }
    }

    /// The direction, once the stream's final weights are known; the last
    /// gradient goes straight in with `direct_weight` (one pass over the
    /// buffers fewer than adding it to the slots first).
    pub(crate) fn finish(
        self,
        result: &StreamResult,
        direct_weight: f64,
        g_last: Flat<B>,
    ) -> Flat<B> {
        let mut combined = self.g0.map(|g0| g0.scale(result.g0_weight));
        for (slot, &w) in self.slots.into_iter().zip(&result.slot_weights) {
            if let Some(acc) = slot {
                combined = Some(match combined {
                    Some(c) => c.axpy_owned(w, acc),
                    None => acc.scale(w),
                });
            }
        }
        match combined {
            Some(c) => c.axpy_owned(direct_weight, g_last),
            None => g_last.scale(direct_weight),
        }
    }
}
