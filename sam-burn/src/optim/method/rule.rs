//! The rule of a [`MethodConfig`] and its saved state: each variant
//! delegates to its method's rule; the base optimizer alone is written
//! out here.

use hashbrown::HashMap;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, ParamId};
use burn::record::Record;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::optim::asam::AsamRule;
use crate::optim::base::{
    GradientsOf, PassFn, PassOutput, SharpnessGradients, SharpnessRule, StepReport, finish,
};
use crate::optim::error::{OptimError, check_finite};
use crate::optim::pass::Pass;
use crate::optim::sam::SamRule;
use crate::optim::ssam::SsamRule;
use crate::optim::universal::{UniversalRecord, UniversalRule};
use crate::params::flatten_gradients;

/// The rule of a [`MethodConfig`](super::MethodConfig).
#[derive(Clone, Debug)]
pub enum MethodRule<B: AutodiffBackend> {
    /// The base optimizer alone.
    Base {
        /// Clipping of the gradient.
        clipping: Option<GradientClippingConfig>,
        /// Steps taken.
        step: u64,
    },
    /// SAM.
    Sam(SamRule),
    /// ASAM.
    Asam(AsamRule),
    /// SSAM.
    Ssam(SsamRule<B>),
    /// Universal class.
    Universal(UniversalRule),
}

/// Saved state of a [`MethodRule`]; fields a method does not use stay 0
/// or `None`.
#[derive(Record, Debug, Clone)]
pub struct MethodRecord<B: AutodiffBackend> {
    /// Steps taken.
    pub step: u64,
    /// SSAM: the step of the last mask refresh.
    pub mask_step: u64,
    /// SSAM: the Fisher mask.
    pub mask: Option<HashMap<ParamId, Tensor<B, 1>>>,
    /// Universal class: steps whose sharpness part the guard scaled down.
    pub guard_bounded: u64,
    /// Universal class: steps whose sharpness part the guard dropped.
    pub guard_skipped: u64,
}

impl<B: AutodiffBackend> MethodRecord<B> {
    fn steps(step: u64) -> Self {
        Self {
            step,
            mask_step: 0,
            mask: None,
            guard_bounded: 0,
            guard_skipped: 0,
        }
    }
}

impl<B: AutodiffBackend> MethodRule<B> {
    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        match self {
            MethodRule::Base { step, .. } => *step,
            MethodRule::Sam(r) => r.step_count(),
            MethodRule::Asam(r) => r.step_count(),
            MethodRule::Ssam(r) => r.step_count(),
            MethodRule::Universal(r) => r.step_count(),
        }
    }

    /// Steps whose sharpness part the universal class's guard scaled
    /// down, and those it dropped ((0, 0) for other methods).
    pub fn guard_counts(&self) -> (u64, u64) {
        match self {
            MethodRule::Universal(r) => r.guard_counts(),
            _ => (0, 0),
        }
    }

    /// The SSAM rule, when that is the method (to refresh its mask).
    pub fn as_ssam_mut(&mut self) -> Option<&mut SsamRule<B>> {
        match self {
            MethodRule::Ssam(r) => Some(r),
            _ => None,
        }
    }
}

impl<B: AutodiffBackend> SharpnessRule<B> for MethodRule<B> {
    type Record = MethodRecord<B>;

    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        mut closure: F,
    ) -> GradientsOf<M, F> {
        match self {
            MethodRule::Base { clipping, step } => {
                let (loss, grads, output) = closure(model.clone(), Pass::Clean).split()?;
                let loss = check_finite(loss, Pass::Clean)?;
                // Without clipping the gradient goes to the base optimizer
                // as the closure made it: no flattening on SGD's hot path.
                let grads = match clipping {
                    Some(c) => {
                        let (list, g) = flatten_gradients::<B, M>(model, grads)?;
                        finish::<B>(&list, g, Some(&*c))
                    }
                    None if grads.is_empty() => return Err(OptimError::NoGradients),
                    None => grads,
                };
                *step += 1;
                Ok(SharpnessGradients {
                    grads,
                    report: StepReport::clean(loss, output),
                })
            }
            MethodRule::Sam(r) => SharpnessRule::<B>::gradients(r, model, closure),
            MethodRule::Asam(r) => SharpnessRule::<B>::gradients(r, model, closure),
            MethodRule::Ssam(r) => r.gradients(model, closure),
            MethodRule::Universal(r) => SharpnessRule::<B>::gradients(r, model, closure),
        }
    }

    fn clipping(&self) -> Option<&GradientClippingConfig> {
        match self {
            MethodRule::Base { clipping, .. } => clipping.as_ref(),
            MethodRule::Sam(r) => SharpnessRule::<B>::clipping(r),
            MethodRule::Asam(r) => SharpnessRule::<B>::clipping(r),
            MethodRule::Ssam(r) => r.clipping(),
            MethodRule::Universal(r) => SharpnessRule::<B>::clipping(r),
        }
    }

    fn to_record(&self) -> MethodRecord<B> {
        match self {
            MethodRule::Ssam(r) => {
                let (step, mask_step, mask) = r.to_record();
                MethodRecord {
                    mask_step,
                    mask,
                    ..MethodRecord::steps(step)
                }
            }
            MethodRule::Universal(r) => {
                let u = SharpnessRule::<B>::to_record(r);
                MethodRecord {
                    guard_bounded: u.bounded,
                    guard_skipped: u.skipped,
                    ..MethodRecord::steps(u.step)
                }
            }
            other => MethodRecord::steps(other.step_count()),
        }
    }

    fn load_record(self, record: MethodRecord<B>) -> Self {
        match self {
            MethodRule::Base { clipping, .. } => MethodRule::Base {
                clipping,
                step: record.step,
            },
            MethodRule::Sam(r) => MethodRule::Sam(SharpnessRule::<B>::load_record(r, record.step)),
            MethodRule::Asam(r) => {
                MethodRule::Asam(SharpnessRule::<B>::load_record(r, record.step))
            }
            MethodRule::Ssam(r) => {
                MethodRule::Ssam(r.load_record((record.step, record.mask_step, record.mask)))
            }
            MethodRule::Universal(r) => MethodRule::Universal(SharpnessRule::<B>::load_record(
                r,
                UniversalRecord {
                    step: record.step,
                    bounded: record.guard_bounded,
                    skipped: record.guard_skipped,
                },
            )),
        }
    }
}
