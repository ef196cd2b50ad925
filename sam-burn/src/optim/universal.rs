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
use burn::optim::Optimizer;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use sam_core::SamError;
use sam_core::estimator::{Estimator, Scaling};
use sam_core::guard::{Decision, Guard, NonFinite};
use sam_core::measure::Measure;
use sam_core::presets::Preset;
use sam_core::sampler::Sampler;
use sam_core::schedule::Schedule;

use super::base::{
    ExtraOf, GradientsOf, PassFn, PassOutput, SharpnessAware, SharpnessGradients, SharpnessRule,
    StepReport, finish,
};
use super::combine::Combination;
use super::error::{OptimError, check_f32_range, check_finite};
use super::guard::{self, GuardReport};
use super::noise::{NoiseSpec, Prefetch};
use super::pass::Pass;
use super::schedule::Scheduled;
use crate::params::{
    Flat, ParamList, RunningStats, flatten_gradients, flatten_like, perturbed_module,
    trainable_sizes,
};

/// Configuration of [`UniversalSam`]. Unset hyperparameters take the
/// reference values of the chosen preset
/// ([`sam_core::presets::Preset::reference_hyperparameters`]): Trace rho 0.01,
/// lambda 1, n 1; Frob rho 0.005, lambda 0.005, n 2; Det rho 1, lambda 1,
/// n 1, cube half-width 0.01.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::optim::{GradientsParams, SgdConfig};
/// use burn::tensor::{ElementConversion, Tensor};
/// use sam_burn::nn::{Linear, LinearConfig};
/// # type B = Autodiff<NdArray>;
/// # let device = Default::default();
/// # let model: Linear<B> = LinearConfig::new(4, 1).init(&device);
/// # let x = Tensor::<B, 2>::ones([8, 4], &device);
/// // Squared distance of the outputs to 10: far from any initial output.
/// let loss_of = |m: &Linear<B>| m.forward(x.clone()).sub_scalar(10.0).powi_scalar(2).mean();
/// let closure = |m: Linear<B>, _| {
///     let loss = loss_of(&m);
///     let value = loss.clone().into_scalar().elem::<f64>();
///     (value, GradientsParams::from_grads(loss.backward(), &m))
/// };
/// let before = loss_of(&model).into_scalar().elem::<f64>();
/// use sam_burn::optim::{Preset, UniversalSamConfig};
///
/// // Frob-SAM: the preset's reference lambda and n = 2, a radius of 0.01.
/// let mut optim = UniversalSamConfig::new(Preset::Frob)
///     .with_rho(Some(0.01))
///     .with_seed(7)
///     .init(SgdConfig::new().init())?;
/// let (model, report) = optim.step(0.01, model, closure).map_err(|f| f.error)?;
/// assert_eq!(report.passes, 3); // the clean pass and n = 2 perturbed ones
/// assert!(loss_of(&model).into_scalar().elem::<f64>() < before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// Builds universal SAM around `base` (any Burn optimizer): validates
    /// the configuration, then wraps the rule in the configured schedule.
    pub fn init<M, B, O>(&self, base: O) -> Result<UniversalSam<M, B, O>, OptimError>
    where
        M: AutodiffModule<B>,
        B: AutodiffBackend,
        O: Optimizer<M, B>,
    {
        SharpnessAware::scheduled(self.rule()?, self.schedule, base)
    }

    /// Checks the sampler, `rho` (finite, positive: the coefficients divide
    /// by it), `lambda` (finite, non-negative), the sample count (at least
    /// the measure's minimum), the guard and the schedule.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.checked(self.measure()?).map(drop)
    }

    /// Validates the configuration and builds the rule of a perturbed step.
    pub fn rule(&self) -> Result<UniversalRule, OptimError> {
        self.rule_with_measure(self.measure()?)
    }

    /// Builds the rule around a user-defined measure; the preset then only
    /// supplies default hyperparameters.
    pub fn rule_with_measure(
        &self,
        measure: Arc<dyn Measure>,
    ) -> Result<UniversalRule, OptimError> {
        let (estimator, samples) = self.checked(measure)?;
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

    /// Noise draws per step: `samples`, or the preset's reference count.
    pub fn samples_or_reference(&self) -> usize {
        self.samples
            .unwrap_or(self.preset.reference_hyperparameters().samples)
    }

    /// The preset's measure, with `sampler` in place of its own.
    fn measure(&self) -> Result<Arc<dyn Measure>, OptimError> {
        Ok(Arc::from(match self.sampler {
            Some(sampler) => self.preset.measure_with_sampler(sampler)?,
            None => self.preset.measure(),
        }))
    }

    /// Every check of [`validate`](Self::validate), around `measure`: the
    /// estimator (which holds the validated rho, lambda and scaling) and
    /// the sample count.
    fn checked(
        &self,
        measure: Arc<dyn Measure>,
    ) -> Result<(Estimator<'static>, usize), OptimError> {
        let reference = self.preset.reference_hyperparameters();
        let rho = self.rho.unwrap_or(reference.rho);
        let lambda = self.lambda.unwrap_or(reference.lambda);
        let samples = self.samples_or_reference();
        let estimator = Estimator::shared(measure.clone(), rho, lambda, self.scaling)?;
        check_f32_range("rho", rho)?;
        self.guard.validate()?;
        if samples < measure.min_samples() {
            return Err(sam_core::SamError::TooFewSamples {
                needed: measure.min_samples(),
                got: samples,
            }
            .into());
        }
        self.schedule.validate()?;
        Ok((estimator, samples))
    }
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

    /// The noise of this step's samples.
    fn noise_spec(&self) -> NoiseSpec {
        NoiseSpec {
            sampler: self.measure().sampler(),
            seed: self.seed,
            step: self.step,
            rho: self.rho(),
        }
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

/// The largest step weight the f32 combination takes as it comes: a
/// gradient entry of 1e8 times it stays within f32's 3.4e38. A bounded
/// one-slot step whose weights exceed it is bounded in the log domain.
const F32_SAFE: f64 = 1e30;

/// The device of the inner backend, where gradients live.
type Device<B> = burn::tensor::Device<<B as AutodiffBackend>::InnerBackend>;

/// What the clean pass of a step leaves for the perturbed ones.
struct CleanPass<B: AutodiffBackend, T> {
    loss: f64,
    list: ParamList,
    g0: Flat<B::InnerBackend>,
    output: T,
}

impl UniversalRule {
    /// The clean pass: `L0` and `g0`, flattened over the trainable
    /// parameters.
    fn clean_pass<B, M, F>(
        model: &M,
        closure: &mut F,
    ) -> Result<CleanPass<B, ExtraOf<M, F>>, OptimError>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        F: PassFn<M>,
    {
        let (loss, g0, output) = closure(model.clone(), Pass::Clean).split()?;
        let loss = check_finite(loss, Pass::Clean)?;
        let (list, g0) = flatten_gradients::<B, M>(model, g0)?;
        Ok(CleanPass {
            loss,
            list,
            g0,
            output,
        })
    }

    /// The perturbed pass of sample `i` at `w + delta_i`: its loss and
    /// (unless the loss is not finite) its gradient, flattened like `g0`.
    #[allow(clippy::type_complexity)]
    fn perturbed_pass<B, M, F>(
        &self,
        (model, closure): (&M, &mut F),
        (list, device): (&ParamList, &Device<B>),
        noise: Prefetch,
        i: usize,
    ) -> Result<(f64, Option<Flat<B::InnerBackend>>), OptimError>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        F: PassFn<M>,
    {
        let noise = noise.wait().upload::<B::InnerBackend>(device);
        let perturbed = perturbed_module::<B, M, _>(model, list, self.running_stats, |t, w| {
            noise.perturb(t, w)
        });
        // The perturbed weights hold w + delta now; the noise need not
        // stay alive through the pass.
        drop(noise);
        let pass = Pass::Perturbed { sample: i };
        let (li, gi, _) = closure(perturbed, pass).split()?;
        if !li.is_finite() && self.guard.on_non_finite == NonFinite::Skip {
            return Ok((li, None));
        }
        let li = check_finite(li, pass)?;
        Ok((li, Some(flatten_like::<B, M>(model, list, gi, device))))
    }

    /// The base optimizer's step (`lambda = 0`): the clean gradient.
    fn base_step<B: AutodiffBackend, T>(
        &mut self,
        clean: CleanPass<B, T>,
    ) -> SharpnessGradients<T> {
        self.step += 1;
        SharpnessGradients {
            grads: finish::<B>(&clean.list, clean.g0, self.clipping.as_ref()),
            report: StepReport::clean(clean.loss, clean.output),
        }
    }

    /// The step with gradient `g`, counted with the guard's `report`.
    fn reported_step<B: AutodiffBackend, T>(
        &mut self,
        clean: CleanPass<B, T>,
        g: Flat<B::InnerBackend>,
        report: GuardReport,
        losses: Vec<f64>,
        sharpness: Option<f64>,
    ) -> SharpnessGradients<T> {
        let grads = finish::<B>(&clean.list, g, self.clipping.as_ref());
        self.count(&report);
        SharpnessGradients {
            grads,
            report: StepReport {
                loss: clean.loss,
                perturbed_losses: losses,
                sharpness,
                passes: 1 + self.samples,
                guard: Some(report),
                output: clean.output,
            },
        }
    }

    /// A step whose sample `losses.last()` was not finite, under
    /// [`NonFinite::Skip`]: the sharpness part is lost, the base optimizer
    /// gets the clean gradient, and the remaining samples are not run.
    fn skipped_step<B: AutodiffBackend, T>(
        &mut self,
        clean: CleanPass<B, T>,
        losses: Vec<f64>,
    ) -> SharpnessGradients<T> {
        let report = guard::skipped(&clean.g0);
        let grads = finish::<B>(&clean.list, clean.g0, self.clipping.as_ref());
        self.count(&report);
        SharpnessGradients {
            grads,
            report: StepReport {
                loss: clean.loss,
                passes: 1 + losses.len(),
                perturbed_losses: losses,
                sharpness: None,
                guard: Some(report),
                output: clean.output,
            },
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
        // The parameter sizes are known before the clean pass, so the
        // first sample's noise is drawn while it runs.
        let spec = self.noise_spec();
        let sizes = trainable_sizes::<B, M>(model);
        let perturbs = self.lambda() != 0.0 && self.samples > 0;
        let mut next = perturbs.then(|| spec.prefetch(0, &sizes));
        let mut clean = Self::clean_pass::<B, M, F>(model, &mut closure)?;
        if !perturbs {
            return Ok(self.base_step::<B, _>(clean));
        }
        // Parameters without a gradient are not perturbed; the prefetched
        // sizes then disagree and the noise is drawn again for the list.
        let listed = clean.list.sizes();
        if listed != sizes {
            next = Some(spec.prefetch(0, &listed));
        }
        let mut stream = self
            .estimator
            .stream_with_samples(clean.loss, self.samples)?;
        // `clean.g0` stays for the guard's `g - g0` (one parameter-sized
        // buffer); the combination starts from a handle to the same one.
        let mut combination = Combination::new(&stream.plan(), clean.g0.clone());
        let device = clean.g0.tensors[0].device();
        let mut losses = Vec::with_capacity(self.samples);
        let mut last = None;
        for i in 0..self.samples {
            let noise = next.take().expect("noise is always prefetched");
            if i + 1 < self.samples {
                next = Some(spec.prefetch(i as u32 + 1, &listed));
            }
            let pass = (model, &mut closure);
            let at = (&clean.list, &device);
            let (li, gi) = self.perturbed_pass::<B, M, F>(pass, at, noise, i)?;
            losses.push(li);
            let Some(gi) = gi else {
                return Ok(self.skipped_step::<B, _>(clean, losses));
            };
            let weights = stream.push(li)?;
            if i + 1 == self.samples {
                last = Some((weights, gi));
            } else {
                combination.add(&weights, gi);
            }
        }
        let (weights, g_last) = last.expect("a step has at least one sample");
        // A bounded one-slot step (Det) is bounded in the log domain when
        // its weights overflow f64, or are beyond what f32 can multiply a
        // gradient by (`F32_SAFE`).
        let plan = stream.plan();
        let bounded = self.guard.max_ratio.is_some() && plan.slots == 1 && plan.fixed.is_none();
        let fallback = bounded.then(|| stream.clone());
        let result = match (stream.finish(), fallback) {
            (Ok(result), Some(fallback)) if result.exceeds(F32_SAFE) => Err(fallback),
            (Ok(result), _) => Ok(result),
            (Err(SamError::Overflow { .. }), Some(fallback)) => Err(fallback),
            (Err(e), _) => return Err(e.into()),
        };
        match result {
            Ok(result) => {
                let combined = combination.finish(&result, result.direct_weight(&weights)?, g_last);
                // g0 by value: the guard's scaled step may reuse its buffer.
                let g0 = std::mem::replace(
                    &mut clean.g0,
                    Flat {
                        tensors: Vec::new(),
                    },
                );
                let (g, report) = guard::apply(&self.guard, g0, combined)?;
                let sharpness = Some(result.sharpness);
                Ok(self.reported_step::<B, _>(clean, g, report, losses, sharpness))
            }
            Err(fallback) => {
                let unbounded = fallback.finish_unbounded()?;
                let part = combination
                    .into_slot(&weights, g_last)
                    .axpy(-unbounded.weight_sum, &clean.g0);
                let scale = (unbounded.ln_scale, unbounded.negative);
                let g0 = std::mem::replace(
                    &mut clean.g0,
                    Flat {
                        tensors: Vec::new(),
                    },
                );
                let (g, report) = guard::apply_unbounded(&self.guard, g0, part, scale)?;
                Ok(self.reported_step::<B, _>(clean, g, report, losses, None))
            }
        }
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
