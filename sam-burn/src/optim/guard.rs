//! The stability guard of universal-SAM steps, on tensors: measures the
//! sharpness part `s = g - g0` of the combined gradient against the clean
//! gradient and applies [`sam_core::guard::Guard`]'s decision.

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};
use sam_core::guard::{Decision, Guard};

use super::error::OptimError;
use crate::params::Flat;

/// What the guard measured and did in one universal-SAM step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardReport {
    /// `||g0||`, the clean gradient's norm.
    pub gradient_norm: f64,
    /// `||g - g0||` before the guard; `None` when a non-finite perturbed
    /// loss skipped the step before the part was formed.
    pub sharpness_norm: Option<f64>,
    /// What the guard did.
    pub decision: Decision,
}

impl GuardReport {
    /// `||g - g0|| / ||g0||` (infinite for a non-zero part against a zero
    /// gradient), when the part was formed.
    pub fn ratio(&self) -> Option<f64> {
        self.sharpness_norm.map(|s| {
            if s == 0.0 {
                0.0
            } else {
                s / self.gradient_norm
            }
        })
    }
}

/// Both norms in one read, so a step waits on the device once.
fn norms<B: Backend>(a: &Flat<B>, b: &Flat<B>) -> [f64; 2] {
    let both = Tensor::cat(vec![a.squared_norm(), b.squared_norm()], 0);
    let data = both.into_data().convert::<f64>();
    let v = data.as_slice::<f64>().unwrap_or(&[f64::NAN, f64::NAN]);
    [v[0].sqrt(), v[1].sqrt()]
}

/// Applies `guard` to the combined gradient `combined` of clean gradient
/// `g0`: the guarded gradient and the report.
pub(crate) fn apply<B: Backend>(
    guard: &Guard,
    g0: Flat<B>,
    combined: Flat<B>,
) -> Result<(Flat<B>, GuardReport), OptimError> {
    let part = combined.clone().axpy(-1.0, &g0);
    let [sharpness_norm, gradient_norm] = norms(&part, &g0);
    let decision = guard.decide(sharpness_norm, gradient_norm)?;
    let report = GuardReport {
        gradient_norm,
        sharpness_norm: Some(sharpness_norm),
        decision,
    };
    let out = match decision {
        // The combined gradient itself, so a guard that does not act
        // leaves the step bit-identical to the unguarded one.
        Decision::Keep => combined,
        Decision::Scale(f) => g0.axpy_owned(f, part),
        Decision::Skip => g0,
    };
    Ok((out, report))
}

/// The step `g0 + factor part` of a sharpness part known only in the log
/// domain, `(-1)^negative exp(ln_scale) part` (Det when its coefficients
/// overflow): bounded by `guard` as [`Guard::decide_unbounded`] says.
pub(crate) fn apply_unbounded<B: Backend>(
    guard: &Guard,
    g0: Flat<B>,
    part: Flat<B>,
    (ln_scale, negative): (f64, bool),
) -> Result<(Flat<B>, GuardReport), OptimError> {
    let [part_norm, gradient_norm] = norms(&part, &g0);
    let (factor, decision) =
        guard.decide_unbounded(ln_scale, negative, part_norm, gradient_norm)?;
    let report = GuardReport {
        gradient_norm,
        // ||g - g0|| before the guard, beyond f64's range.
        sharpness_norm: Some((ln_scale + part_norm.ln()).exp()),
        decision,
    };
    let out = match decision {
        Decision::Skip => g0,
        _ => g0.axpy_owned(factor, part),
    };
    Ok((out, report))
}

/// The report of a step skipped on a non-finite perturbed loss.
pub(crate) fn skipped<B: Backend>(g0: &Flat<B>) -> GuardReport {
    GuardReport {
        gradient_norm: g0.squared_norm().into_scalar().elem::<f64>().sqrt(),
        sharpness_norm: None,
        decision: Decision::Skip,
    }
}
