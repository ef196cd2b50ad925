//! Perturbed passes on one step in `every`: the [`Scheduled`] wrapper
//! around any [`SharpnessRule`], following a
//! [`sam_core::schedule::Schedule`].
//!
//! On a perturbed step the wrapped rule runs as usual. On the steps between
//! the closure runs once, on the clean model, and the base optimizer gets
//! either that gradient ([`Between::Base`]) or, LookSAM-style
//! ([`Between::Reuse`]), that gradient plus the last perturbed step's
//! sharpness part `s_k = g_k - g0_k` rescaled by `||g0_t|| / ||g0_k||`.
//! The wrapped rule's own counter (which keys the universal class's noise
//! and SSAM's mask refreshes) advances on perturbed steps only. With
//! clipping configured, the remembered part is taken from the clipped
//! combined gradient, and a reuse step reads `||g0_t||` from the device.
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use burn::optim::{GradientsParams, SgdConfig};
//! use burn::tensor::{ElementConversion, Tensor};
//! use sam_burn::nn::{Linear, LinearConfig};
//! use sam_burn::optim::{Between, Schedule, UniversalSamConfig};
//! use sam_core::presets::Preset;
//!
//! type B = Autodiff<NdArray>;
//! let device = Default::default();
//! let mut model: Linear<B> = LinearConfig::new(4, 1).init(&device);
//! let x = Tensor::<B, 2>::ones([8, 4], &device);
//!
//! // Frob-SAM's perturbed passes on one step in 5, LookSAM-style between.
//! let mut optim = UniversalSamConfig::new(Preset::Frob)
//!     .with_schedule(Schedule::every(5, Between::Reuse)?)
//!     .init(SgdConfig::new().init())?;
//! let mut passes = Vec::new();
//! for _ in 0..6 {
//!     let (next, report) = optim
//!         .step(0.01, model, |m: Linear<B>, _| {
//!             let loss = m.forward(x.clone()).tanh().powi_scalar(2).mean();
//!             let value = loss.clone().into_scalar().elem::<f64>();
//!             (value, GradientsParams::from_grads(loss.backward(), &m))
//!         })
//!         .map_err(|failure| failure.error)?;
//!     model = next;
//!     passes.push(report.passes);
//! }
//! assert_eq!(passes, [3, 1, 1, 1, 1, 3]);
//! assert!(optim.rule().remembers_part());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::any::Any;
use std::sync::Arc;

use hashbrown::HashMap;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, ParamId};
use burn::optim::GradientsParams;
use burn::record::Record;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use sam_core::schedule::{Between, Schedule};

use burn::optim::Optimizer;

use super::base::{
    ExtraOf, GradientsOf, PassFn, PassOutput, SharpnessAware, SharpnessGradients, SharpnessRule,
    StepReport, finish,
};
use super::error::{OptimError, check_finite};
use super::pass::Pass;
use crate::params::{Flat, ParamList, flatten_gradients, flatten_like, unflatten};

/// A rule whose perturbed passes run on one step in `schedule.every`.
///
/// Built by every config's `init` from its `schedule` field; with the
/// default [`Schedule::EVERY_STEP`] it is the wrapped rule exactly.
///
/// Like the rules it wraps, it is not generic over the backend, so a model
/// can hold it (through a [`SharedRule`](super::SharedRule)) whatever its
/// backend parameter; the remembered part is kept behind a type-erased
/// handle and read back for the backend that stored it.
#[derive(Clone)]
pub struct Scheduled<R> {
    rule: R,
    schedule: Schedule,
    step: u64,
    perturbed: u64,
    remembered: Option<Arc<dyn Any + Send + Sync>>,
}

/// The sharpness part of the last perturbed step and that step's clean
/// gradient norm (reuse mode only), on backend `B`.
struct Remembered<B: Backend> {
    part: HashMap<ParamId, Tensor<B, 1>>,
    clean_norm: f64,
}

impl<M, B, R, O> SharpnessAware<M, B, Scheduled<R>, O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    R: SharpnessRule<B>,
    O: Optimizer<M, B>,
{
    /// Wraps `rule` in `schedule` and pairs it with `base`: what every
    /// config's `init` does. Errors if the schedule is invalid.
    pub fn scheduled(rule: R, schedule: Schedule, base: O) -> Result<Self, OptimError> {
        Ok(Self::new(Scheduled::new(rule, schedule)?, base))
    }
}

impl<R: core::fmt::Debug> core::fmt::Debug for Scheduled<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scheduled")
            .field("rule", &self.rule)
            .field("schedule", &self.schedule)
            .field("step", &self.step)
            .field("perturbed", &self.perturbed)
            .field("remembers_part", &self.remembered.is_some())
            .finish()
    }
}

/// The saved state of a [`Scheduled`] rule besides the wrapped rule's own.
#[derive(Record, Debug, Clone)]
pub struct ScheduleRecord<B: AutodiffBackend> {
    /// Steps taken, perturbed or not (decides the next step's kind).
    pub step: u64,
    /// Perturbed steps taken.
    pub perturbed: u64,
    /// Reuse mode: the last perturbed step's sharpness part, flattened per
    /// parameter.
    pub part: Option<HashMap<ParamId, Tensor<B, 1>>>,
    /// Reuse mode: that step's clean gradient norm `||g0_k||`.
    pub clean_norm: f64,
}

impl<R> Scheduled<R> {
    /// Wraps `rule` in a validated schedule.
    pub fn new(rule: R, schedule: Schedule) -> Result<Self, OptimError> {
        schedule.validate()?;
        Ok(Self {
            rule,
            schedule,
            step: 0,
            perturbed: 0,
            remembered: None,
        })
    }

    /// The wrapped rule.
    pub fn inner(&self) -> &R {
        &self.rule
    }

    /// The wrapped rule, mutably (for example to refresh SSAM's mask).
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.rule
    }

    /// The schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Steps taken so far, perturbed or not.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Perturbed steps taken so far.
    pub fn perturbed_steps(&self) -> u64 {
        self.perturbed
    }

    /// Whether the next step runs the perturbed passes.
    pub fn perturbs_next(&self) -> bool {
        self.schedule.perturbs(self.step)
    }

    /// Whether a sharpness part is remembered for the reuse steps.
    pub fn remembers_part(&self) -> bool {
        self.remembered.is_some()
    }
}

/// Reads `||x||` from the device.
fn norm<B: Backend>(x: &Flat<B>) -> f64 {
    x.squared_norm().into_scalar().elem::<f64>().sqrt()
}

impl<R> Scheduled<R> {
    /// The remembered part, on the backend that stored it.
    fn remembered<B: Backend>(&self) -> Result<Option<&Remembered<B>>, OptimError> {
        match &self.remembered {
            None => Ok(None),
            Some(any) => any
                .downcast_ref::<Remembered<B>>()
                .map(Some)
                .ok_or_else(|| {
                    OptimError::ScheduleMismatch(
                        "the part was remembered on another backend".into(),
                    )
                }),
        }
    }

    /// A perturbed step of the wrapped rule that, in reuse mode, keeps its
    /// sharpness part.
    fn perturbed_step<B, M, F>(&mut self, model: &M, mut closure: F) -> GradientsOf<M, F>
    where
        R: SharpnessRule<B>,
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        F: PassFn<M>,
    {
        if !self.schedule.reuses() {
            return self.rule.gradients(model, closure);
        }
        // The clean gradient is seen on its way to the rule; flattening and rebuilding
        // it only moves tensor handles.
        let mut clean: Option<(ParamList, Flat<B::InnerBackend>)> = None;
        let watched =
            |m: M, pass: Pass| -> Result<(f64, GradientsParams, ExtraOf<M, F>), OptimError> {
                let (loss, grads, extra) = closure(m, pass).split()?;
                if !pass.is_clean() {
                    return Ok((loss, grads, extra));
                }
                match flatten_gradients::<B, M>(model, grads) {
                    Ok((list, g0)) => {
                        let grads = unflatten::<B>(&list, g0.clone());
                        clean = Some((list, g0));
                        Ok((loss, grads, extra))
                    }
                    // The rule reports the missing gradients itself.
                    Err(_) => Ok((loss, GradientsParams::new(), extra)),
                }
            };
        let SharpnessGradients { grads, report } = self.rule.gradients(model, watched)?;
        let Some((list, g0)) = clean else {
            return Err(OptimError::NoGradients);
        };
        if report.passes == 1 {
            // rho = 0 or lambda = 0: the rule took its base step and there
            // is no sharpness part to reuse.
            self.remembered = None;
            return Ok(SharpnessGradients { grads, report });
        }
        let device = g0.tensors[0].device();
        let g = flatten_like::<B, M>(model, &list, grads, &device);
        let part = g.clone().axpy(-1.0, &g0);
        let clean_norm = norm(&g0);
        // A zero clean gradient gives the part no scale to keep.
        self.remembered = (clean_norm.is_finite() && clean_norm > 0.0).then(|| {
            Arc::new(Remembered::<B::InnerBackend> {
                part: list.ids.iter().copied().zip(part.tensors).collect(),
                clean_norm,
            }) as Arc<dyn Any + Send + Sync>
        });
        Ok(SharpnessGradients {
            grads: unflatten::<B>(&list, g),
            report,
        })
    }

    /// A step between perturbed ones: one clean pass.
    fn clean_step<B, M, F>(&mut self, model: &M, mut closure: F) -> GradientsOf<M, F>
    where
        R: SharpnessRule<B>,
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        F: PassFn<M>,
    {
        let (loss, grads, output) = closure(model.clone(), Pass::Clean).split()?;
        let loss = check_finite(loss, Pass::Clean)?;
        let (list, g0) = flatten_gradients::<B, M>(model, grads)?;
        let remembered = self.remembered::<B::InnerBackend>()?;
        let g = match (remembered, self.schedule.between) {
            (Some(remembered), Between::Reuse) => {
                let weight = Schedule::reuse_weight(norm(&g0), remembered.clean_norm);
                match weight {
                    Some(w) => {
                        let mut tensors = Vec::with_capacity(list.len());
                        for ((id, shape), g) in list.ids.iter().zip(&list.shapes).zip(g0.tensors) {
                            let part = remembered.part.get(id).ok_or_else(|| {
                                OptimError::ScheduleMismatch(format!(
                                    "no remembered sharpness part for parameter {id}"
                                ))
                            })?;
                            let n = shape.iter().product::<usize>();
                            if part.shape().num_elements() != n {
                                return Err(OptimError::ScheduleMismatch(format!(
                                    "the remembered part of parameter {id} has {} entries, the parameter {n}",
                                    part.shape().num_elements()
                                )));
                            }
                            tensors.push(g.add(part.clone().mul_scalar(w)));
                        }
                        Flat { tensors }
                    }
                    None => g0,
                }
            }
            _ => g0,
        };
        Ok(SharpnessGradients {
            grads: finish::<B>(&list, g, self.rule.clipping()),
            report: StepReport::clean(loss, output),
        })
    }
}

impl<R: SharpnessRule<B>, B: AutodiffBackend> SharpnessRule<B> for Scheduled<R> {
    type Record = (R::Record, ScheduleRecord<B>);

    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        closure: F,
    ) -> GradientsOf<M, F> {
        // The closure gets clones of `model`, the base optimizer `model`
        // itself: they must hold the same weights.
        crate::params::materialize(model);
        let out = if self.perturbs_next() {
            let out = self.perturbed_step(model, closure)?;
            self.perturbed += 1;
            out
        } else {
            self.clean_step(model, closure)?
        };
        self.step += 1;
        Ok(out)
    }

    fn clipping(&self) -> Option<&GradientClippingConfig> {
        self.rule.clipping()
    }

    fn to_record(&self) -> Self::Record {
        // A part remembered on another backend cannot be saved for this one.
        let remembered = self.remembered::<B::InnerBackend>().ok().flatten();
        let (part, clean_norm) = match remembered {
            Some(r) => (
                Some(
                    r.part
                        .iter()
                        .map(|(id, t)| (*id, Tensor::from_inner(t.clone())))
                        .collect(),
                ),
                r.clean_norm,
            ),
            None => (None, 0.0),
        };
        (
            self.rule.to_record(),
            ScheduleRecord {
                step: self.step,
                perturbed: self.perturbed,
                part,
                clean_norm,
            },
        )
    }

    fn load_record(self, record: Self::Record) -> Self {
        let (rule, own) = record;
        Self {
            rule: self.rule.load_record(rule),
            schedule: self.schedule,
            step: own.step,
            perturbed: own.perturbed,
            remembered: own.part.map(|part| {
                Arc::new(Remembered::<B::InnerBackend> {
                    part: part.into_iter().map(|(id, t)| (id, t.inner())).collect(),
                    clean_norm: own.clean_norm,
                }) as Arc<dyn Any + Send + Sync>
            }),
        }
    }
}
