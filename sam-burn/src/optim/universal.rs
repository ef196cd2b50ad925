//! Universal SAM: minimise `L(w) + lambda * S(w)` for any sharpness measure
//! `S = phi(E_mu psi(x))` of the universal class (Trace-, Frob-, Det-SAM,
//! spectral moments, or a user-defined [`Measure`]).
//!
//! One step evaluates the closure at `w` and at `w + rho * delta_i` for
//! `n` fresh noise draws, asks `sam-core` for the coefficients of
//! `g = c0 * g0 + sum_i c_i * g_i` (which depend only on the losses), and
//! accumulates the gradients as they come, so no per-sample gradient is
//! kept: Trace needs one parameter-sized buffer, Frob and Det two, a
//! k-function vector measure k + 1, plus one holding `g0` for the stability
//! [`guard`], which measures the sharpness part `g - g0`
//! against `g0` on every step (its report feeds the training logs) and
//! bounds it when configured.

use std::sync::Arc;

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use sam_core::estimator::{Estimator, Scaling};
use sam_core::guard::{Decision, Guard, NonFinite};
use sam_core::measure::Measure;
use sam_core::presets::Preset;
use sam_core::sampler::Sampler;
use sam_core::schedule::Schedule;

use super::base::{
    GradientsOf, PassFn, PassOutput, SharpnessAware, SharpnessGradients, SharpnessRule, StepReport,
    finish,
};
use super::error::{OptimError, check_finite};
use super::guard::{self, GuardReport};
use super::noise::NoiseSpec;
use super::pass::Pass;
use super::schedule::{Scheduled, scheduled_init};
use crate::params::{
    Flat, RunningStats, flatten_gradients, flatten_like, perturbed_module, trainable_sizes,
};

/// Configuration of [`UniversalSam`]. Unset hyperparameters take the
/// reference values of the chosen preset
/// ([`sam_core::presets::Preset::reference_hyperparameters`]): Trace rho 0.01,
/// lambda 1, n 1; Frob rho 0.005, lambda 0.005, n 2; Det rho 1, lambda 1,
/// n 1, cube half-width 0.01.
#[derive(Config, Debug)]
pub struct UniversalSamConfig {
    /// The sharpness measure.
    pub preset: Preset,
    /// Perturbation radius rho (default: the preset's reference value).
    pub rho: Option<f64>,
    /// Weight lambda of the sharpness term (default: the preset's reference).
    pub lambda: Option<f64>,
    /// Noise draws n per step (default: the preset's reference).
    pub samples: Option<usize>,
    /// Replaces the preset's noise distribution mu (for example a normalised
    /// sphere instead of the reference code's Gaussian).
    pub sampler: Option<Sampler>,
    /// How lambda is scaled: `Reference` reproduces the authors' code (the
    /// default, so the reference hyperparameters mean what they meant
    /// there); `Exact` makes the step the true gradient of
    /// `L + lambda * S`. See `sam_core::estimator::Scaling`.
    #[config(default = "Scaling::Reference")]
    pub scaling: Scaling,
    /// Seed of the perturbation noise.
    #[config(default = 0)]
    pub seed: u64,
    /// Whether perturbed passes may update batch-norm running statistics.
    #[config(default = "RunningStats::CleanPassOnly")]
    pub running_stats: RunningStats,
    /// Clipping of the final combined gradient (per tensor, Burn's
    /// semantics), applied before the base optimizer sees it.
    pub grad_clipping: Option<GradientClippingConfig>,
    /// Stability guard on the sharpness part `g - g0` of the step
    /// (default `Guard::OFF`: the authors' code exactly).
    /// `Guard::recommended()` bounds `||g - g0||` at
    /// `Guard::DEFAULT_RATIO` times `||g0||`, which keeps Frob-SAM from
    /// diverging at learning rates where SGD trains (see the README).
    #[config(default = "Guard::OFF")]
    pub guard: Guard,
    /// On which steps the perturbed passes run (default
    /// `Schedule::EVERY_STEP`: all of them, the method as published); see
    /// [`Scheduled`].
    #[config(default = "Schedule::EVERY_STEP")]
    pub schedule: Schedule,
}

/// Universal SAM wrapping a base optimizer `O`.
pub type UniversalSam<M, B, O> = SharpnessAware<M, B, Scheduled<UniversalRule>, O>;

impl UniversalSamConfig {
    /// Validates the configuration and builds the rule of a perturbed step
    /// ([`init`](Self::init) wraps it in the configured schedule).
    pub fn rule(&self) -> Result<UniversalRule, OptimError> {
        let measure: Arc<dyn Measure> = Arc::from(match self.sampler {
            Some(sampler) => self.preset.measure_with_sampler(sampler)?,
            None => self.preset.measure(),
        });
        self.rule_with_measure(measure)
    }

    /// Builds the rule around a user-defined measure; the preset then only
    /// supplies default hyperparameters.
    pub fn rule_with_measure(
        &self,
        measure: Arc<dyn Measure>,
    ) -> Result<UniversalRule, OptimError> {
        let reference = self.preset.reference_hyperparameters();
        let rho = self.rho.unwrap_or(reference.rho);
        let lambda = self.lambda.unwrap_or(reference.lambda);
        let samples = self.samples.unwrap_or(reference.samples);
        // Validates rho, lambda and the sampler once, up front; the rule
        // keeps it for every step.
        let estimator = Estimator::shared(measure.clone(), rho, lambda, self.scaling)?;
        self.guard.validate()?;
        if samples < measure.min_samples() {
            return Err(sam_core::SamError::TooFewSamples {
                needed: measure.min_samples(),
                got: samples,
            }
            .into());
        }
        Ok(UniversalRule {
            estimator,
            samples,
            seed: self.seed,
            running_stats: self.running_stats,
            clipping: self.grad_clipping.clone(),
            guard: self.guard,
            step: 0,
            bounded: 0,
            skipped: 0,
        })
    }

    scheduled_init!(UniversalSam, schedule);
}

/// The saved state of a [`UniversalRule`].
#[derive(Record, Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniversalRecord {
    /// Steps taken (keys the noise of the next step).
    pub step: u64,
    /// Steps whose sharpness part the guard scaled down.
    pub bounded: u64,
    /// Steps whose sharpness part the guard dropped.
    pub skipped: u64,
}

/// The universal-class rule: measure, hyperparameters, guard and the step
/// counter that keys the noise.
#[derive(Clone)]
pub struct UniversalRule {
    /// The measure with the validated rho, lambda and scaling.
    estimator: Estimator<'static>,
    samples: usize,
    seed: u64,
    running_stats: RunningStats,
    clipping: Option<GradientClippingConfig>,
    guard: Guard,
    step: u64,
    bounded: u64,
    skipped: u64,
}

impl core::fmt::Debug for UniversalRule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UniversalRule")
            .field("measure", &self.measure().name())
            .field("rho", &self.rho())
            .field("lambda", &self.lambda())
            .field("samples", &self.samples)
            .field("scaling", &self.estimator.scaling())
            .field("seed", &self.seed)
            .field("guard", &self.guard)
            .field("step", &self.step)
            .finish()
    }
}

impl UniversalRule {
    /// Steps taken so far (keys the noise of the next step).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The measure.
    pub fn measure(&self) -> &dyn Measure {
        self.estimator.measure()
    }

    /// Perturbation radius.
    pub fn rho(&self) -> f64 {
        self.estimator.rho()
    }

    /// Weight of the sharpness term.
    pub fn lambda(&self) -> f64 {
        self.estimator.lambda()
    }

    /// Noise draws per step.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The stability guard.
    pub fn guard(&self) -> Guard {
        self.guard
    }

    /// Steps so far whose sharpness part the guard scaled down, and those
    /// it dropped.
    pub fn guard_counts(&self) -> (u64, u64) {
        (self.bounded, self.skipped)
    }

    /// Counts a successful step and what the guard did in it.
    fn count(&mut self, report: &GuardReport) {
        self.step += 1;
        match report.decision {
            Decision::Keep => {}
            Decision::Scale(_) => self.bounded += 1,
            Decision::Skip => self.skipped += 1,
        }
    }
}

impl<B: AutodiffBackend> SharpnessRule<B> for UniversalRule {
    type Record = UniversalRecord;

    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        mut closure: F,
    ) -> GradientsOf<M, F> {
        // The parameter sizes are known before the clean pass, so the first
        // sample's noise is drawn while it runs.
        let sizes = trainable_sizes::<B, M>(model);
        let spec = NoiseSpec {
            sampler: self.measure().sampler(),
            seed: self.seed,
            step: self.step,
            rho: self.rho(),
        };
        let mut next = (self.lambda() != 0.0 && self.samples > 0).then(|| spec.prefetch(0, &sizes));
        let (l0, g0, output) = closure(model.clone(), Pass::Clean).split()?;
        let l0 = check_finite(l0, Pass::Clean)?;
        let (list, g0) = flatten_gradients::<B, M>(model, g0)?;
        let clipping = self.clipping.as_ref();

        if self.lambda() == 0.0 {
            self.step += 1;
            return Ok(SharpnessGradients {
                grads: finish::<B>(&list, g0, clipping),
                report: StepReport::clean(l0, output),
            });
        }
        // The clean gradient, kept apart for the guard's `g - g0` (one
        // parameter-sized buffer).
        let clean = g0.clone();

        let mut stream = self.estimator.stream_with_samples(l0, self.samples)?;
        let plan = stream.plan();
        let device = g0.tensors[0].device();
        // Parameters without a gradient are not perturbed; the prefetched
        // sizes then disagree and the noise is drawn again for the list.
        let listed: Vec<usize> = list
            .shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .collect();
        if listed != sizes {
            next = Some(spec.prefetch(0, &listed));
        }

        // With fixed weights g0 lives inside slot 0 from the start, saving
        // a parameter-sized buffer (Trace: 1 buffer in all, Frob: 2).
        let mut slots: Vec<Option<Flat<B::InnerBackend>>> = vec![None; plan.slots];
        // An empty slot stands for zeros: the reference Trace (lambda = 1)
        // gives g0 the weight 0, and its step is then just g_1.
        let g0 = match plan.fixed {
            Some(fixed) => {
                slots[0] = (fixed.g0 != 0.0).then(|| g0.scale(fixed.g0));
                None
            }
            None => Some(g0),
        };

        let mut losses = Vec::with_capacity(self.samples);
        let mut held = None;
        for i in 0..self.samples {
            let noise = next
                .take()
                .expect("noise is always prefetched")
                .wait()
                .upload::<B::InnerBackend>(&device);
            if i + 1 < self.samples {
                next = Some(spec.prefetch(i as u32 + 1, &listed));
            }
            let perturbed =
                perturbed_module::<B, M, _>(model, &list, self.running_stats, |t, w| {
                    noise.perturb(t, w)
                });
            // The perturbed weights hold w + delta now; the noise need not
            // stay alive through the pass.
            drop(noise);
            let (li, gi, _) = closure(perturbed, Pass::Perturbed { sample: i }).split()?;
            if !li.is_finite() && self.guard.on_non_finite == NonFinite::Skip {
                // The sharpness part is lost for this step; the base
                // optimizer gets the clean gradient and the rest of the
                // samples are not evaluated.
                losses.push(li);
                let report = guard::skipped(&clean);
                let grads = finish::<B>(&list, clean, clipping);
                self.count(&report);
                return Ok(SharpnessGradients {
                    grads,
                    report: StepReport {
                        loss: l0,
                        perturbed_losses: losses,
                        sharpness: None,
                        passes: 2 + i,
                        guard: Some(report),
                        output,
                    },
                });
            }
            let li = check_finite(li, Pass::Perturbed { sample: i })?;
            losses.push(li);
            let weights = stream.push(li)?;
            let gi = flatten_like::<B, M>(model, &list, gi, &device);
            if i + 1 == self.samples {
                // The last gradient goes straight into the direction once
                // the final weights are known: one pass over the buffers
                // fewer, and no copy of it.
                held = Some((weights, gi));
                break;
            }
            // The last slot takes `gi` by value, so its product reuses
            // `gi`'s buffer.
            let (last, rest) = slots.split_last_mut().expect("a plan has a slot");
            for (slot, &w) in rest.iter_mut().zip(&weights) {
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
        let result = stream.finish()?;
        let (weights, g_last) = held.expect("a step has at least one sample");

        // direction = g0_weight g0 + sum_s slot_weights[s] slot_s
        //           + direct_weight * g_last
        let mut combined = g0.map(|g0| g0.scale(result.g0_weight));
        for (slot, &w) in slots.into_iter().zip(&result.slot_weights) {
            if let Some(acc) = slot {
                combined = Some(match combined {
                    Some(c) => c.axpy_owned(w, acc),
                    None => acc.scale(w),
                });
            }
        }
        let w = result.direct_weight(&weights)?;
        let combined = match combined {
            Some(c) => c.axpy_owned(w, g_last),
            None => g_last.scale(w),
        };
        let (guarded, report) = guard::apply(&self.guard, clean, combined)?;

        let grads = finish::<B>(&list, guarded, clipping);
        self.count(&report);
        Ok(SharpnessGradients {
            grads,
            report: StepReport {
                loss: l0,
                perturbed_losses: losses,
                sharpness: Some(result.sharpness),
                passes: 1 + self.samples,
                guard: Some(report),
                output,
            },
        })
    }

    fn clipping(&self) -> Option<&GradientClippingConfig> {
        self.clipping.as_ref()
    }

    fn to_record(&self) -> UniversalRecord {
        UniversalRecord {
            step: self.step,
            bounded: self.bounded,
            skipped: self.skipped,
        }
    }

    fn load_record(mut self, record: UniversalRecord) -> Self {
        self.step = record.step;
        self.bounded = record.bounded;
        self.skipped = record.skipped;
        self
    }
}
