//! burn-train's `Learner` with any sharpness-aware rule.
//!
//! Wrap the model in [`SharpnessModel`] and give the Learner the matching
//! [`LearnerOptimizer`] (both from
//! [`SharpnessAware::into_learner`](super::SharpnessAware::into_learner)).
//! The user's model implements [`SharpnessStep`] (its loss on a batch) and
//! Burn's `InferenceStep`; it holds no rule and needs no `TrainStep`.
//!
//! A failed step (a non-finite loss, no gradients) cannot be returned from
//! `TrainStep::step`, so the wrapper never panics: the step leaves the
//! parameters unchanged (empty gradients), is counted in [`StepFailures`],
//! and, when an [`Interrupter`] was given, stops training with the error as
//! the reason.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use burn::module::{AutodiffModule, Devices, Module, ModuleMapper, ModuleVisitor};
use burn::optim::{GradientsParams, MultiGradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use burn::train::metric::ItemLazy;
use burn::train::{InferenceStep, Interrupter, TrainOutput, TrainStep};

use super::accumulate::accumulate_with;
use super::base::{
    GradientsOf, LearningRate, PassFn, SharpnessAware, SharpnessRecord, SharpnessRule,
};
use super::error::OptimError;
use super::pass::Pass;

/// A rule shared between a [`SharpnessModel`] (or a hand-written
/// `TrainStep`) and a [`LearnerOptimizer`].
///
/// Cloning shares the state.
pub struct SharedRule<R> {
    inner: Arc<Mutex<R>>,
}

impl<R> Clone for SharedRule<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R> core::fmt::Debug for SharedRule<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedRule")
    }
}

impl<R> SharedRule<R> {
    pub(crate) fn new(rule: R) -> Self {
        Self {
            inner: Arc::new(Mutex::new(rule)),
        }
    }

    /// Computes the combined gradient (see [`SharpnessRule::gradients`]).
    pub fn gradients<B, M, F>(&self, model: &M, closure: F) -> GradientsOf<M, F>
    where
        B: AutodiffBackend,
        R: SharpnessRule<B>,
        M: AutodiffModule<B>,
        F: PassFn<M>,
    {
        self.lock().gradients(model, closure)
    }

    /// Runs `f` with the rule locked (to read its state or refresh a mask).
    pub fn with<T>(&self, f: impl FnOnce(&mut R) -> T) -> T {
        f(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, R> {
        // A panic inside a closure poisons the lock; the rule's state is
        // only written after success, so it is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Burn [`Optimizer`] to give burn-train's `Learner`: it steps the base
/// optimizer with the combined gradient computed in `TrainStep::step`, and
/// its record holds the rule's state too, so Learner checkpoints resume
/// exactly.
#[derive(Clone)]
pub struct LearnerOptimizer<M, B, R, O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    R: SharpnessRule<B>,
    O: Optimizer<M, B>,
{
    base: O,
    rule: SharedRule<R>,
    _marker: PhantomData<fn(M, B)>,
}

impl<M, B, R, O> LearnerOptimizer<M, B, R, O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    R: SharpnessRule<B>,
    O: Optimizer<M, B>,
{
    pub(crate) fn new(base: O, rule: SharedRule<R>) -> Self {
        Self {
            base,
            rule,
            _marker: PhantomData,
        }
    }
}

impl<M, B, R, O> SharpnessAware<M, B, R, O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    R: SharpnessRule<B>,
    O: Optimizer<M, B>,
{
    /// Splits into the two halves burn-train's `Learner` needs: a shared
    /// rule for [`SharpnessModel`] (or a hand-written `TrainStep`), and a
    /// Burn [`Optimizer`] whose record also saves the rule's state, so
    /// Learner checkpoints resume exactly.
    pub fn into_learner(self) -> (SharedRule<R>, LearnerOptimizer<M, B, R, O>) {
        let (rule, base) = self.into_parts();
        let shared = SharedRule::new(rule);
        (shared.clone(), LearnerOptimizer::new(base, shared))
    }
}

impl<M, B, R, O> Optimizer<M, B> for LearnerOptimizer<M, B, R, O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    R: SharpnessRule<B> + 'static,
    O: Optimizer<M, B>,
{
    type Record = SharpnessRecord<B, R, M, O>;

    fn step(&mut self, lr: LearningRate, module: M, grads: GradientsParams) -> M {
        self.base.step(lr, module, grads)
    }

    fn step_multi(&mut self, lr: LearningRate, module: M, grads: MultiGradientsParams) -> M {
        self.base.step_multi(lr, module, grads)
    }

    fn to_record(&self) -> Self::Record {
        (self.base.to_record(), self.rule.with(|r| r.to_record()))
    }

    fn load_record(mut self, record: Self::Record) -> Self {
        let (base, rule) = record;
        self.base = self.base.load_record(base);
        self.rule.with(|r| {
            let current = r.clone();
            *r = current.load_record(rule);
        });
        self
    }
}

/// What a model computes in one pass of a sharpness-aware Learner step.
///
/// The wrapper calls [`loss`](Self::loss) on the clean model and on every
/// perturbed copy, takes the gradients, and keeps the clean pass's item
/// for the Learner's metrics.
pub trait SharpnessStep<B: AutodiffBackend>: AutodiffModule<B> {
    /// A training batch.
    type Input: Send + 'static;
    /// The item the Learner's metrics read (for example
    /// `ClassificationOutput`).
    type Output: ItemLazy + 'static;

    /// The batch's loss (one element) and the metrics item.
    fn loss(&self, batch: &Self::Input) -> (Tensor<B, 1>, Self::Output);

    /// Gradient accumulation: `batch` as micro-batches, each with its
    /// number of examples. `None` (the default) runs the batch whole; with
    /// micro-batches, every pass of the step runs over all of them
    /// ([`accumulate`](fn@super::accumulate)) and the step is the one-batch
    /// step with the activations of one micro-batch alive at a time.
    fn micro_batches(&self, batch: &Self::Input) -> Option<Vec<(Self::Input, usize)>> {
        let _ = batch;
        None
    }

    /// The metrics item of a batch run as micro-batches, from the clean
    /// pass's items of its micro-batches, in order. The default keeps the
    /// first micro-batch's item; a classifier concatenates them.
    fn merge_items(&self, items: Vec<Self::Output>) -> Option<Self::Output> {
        items.into_iter().next()
    }
}

/// Steps that failed inside a [`SharpnessModel`], shared by its clones.
#[derive(Clone, Debug, Default)]
pub struct StepFailures {
    inner: Arc<Mutex<FailureLog>>,
}

#[derive(Debug, Default)]
struct FailureLog {
    count: usize,
    last: Option<String>,
}

impl StepFailures {
    /// How many steps failed (and left the parameters unchanged).
    pub fn count(&self) -> usize {
        self.lock().count
    }

    /// The last failure's message.
    pub fn last(&self) -> Option<String> {
        self.lock().last.clone()
    }

    fn record(&self, error: &OptimError) -> String {
        let message = format!("sharpness-aware step failed: {error}");
        let mut log = self.lock();
        log.count += 1;
        log.last = Some(message.clone());
        message
    }

    fn lock(&self) -> MutexGuard<'_, FailureLog> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A model wrapped for burn-train's `Learner`: its `TrainStep` computes the
/// sharpness-aware gradient with the shared rule.
///
/// Its record is the wrapped model's record, so Learner checkpoints load
/// into the plain model too. The inference model is the wrapped model's
/// inference model, wrapped the same way; its `InferenceStep` is the
/// model's.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::module::Module;
/// use burn::nn::{Linear, LinearConfig};
/// use burn::optim::{Optimizer, SgdConfig};
/// use burn::tensor::backend::{AutodiffBackend, Backend};
/// use burn::tensor::{Tensor, TensorData};
/// use burn::train::{InferenceStep, TrainStep};
/// use sam_burn::optim::{SamConfig, SharpnessModel, SharpnessStep};
///
/// #[derive(Module, Debug)]
/// struct Fit<B: Backend> {
///     line: Linear<B>,
/// }
///
/// /// A batch of (x, y) pairs; the Learner's metrics get the loss.
/// impl<B: AutodiffBackend> SharpnessStep<B> for Fit<B> {
///     type Input = (Tensor<B, 2>, Tensor<B, 2>);
///     type Output = ();
///     fn loss(&self, (x, y): &Self::Input) -> (Tensor<B, 1>, ()) {
///         let error = self.line.forward(x.clone()) - y.clone();
///         (error.powi_scalar(2).mean(), ())
///     }
/// }
///
/// impl<B: Backend> InferenceStep for Fit<B> {
///     type Input = Tensor<B, 2>;
///     type Output = ();
///     fn step(&self, _x: Tensor<B, 2>) {}
/// }
///
/// type Ad = Autodiff<NdArray>;
/// let device = Default::default();
/// let model = Fit::<Ad> { line: LinearConfig::new(1, 1).init(&device) };
/// let (rule, mut optim) = SamConfig::new()
///     .init(SgdConfig::new().init())
///     .unwrap()
///     .into_learner();
/// let model = SharpnessModel::new(model, rule);
///
/// // What Learner does each step:
/// let x = Tensor::<Ad, 2>::from_data(TensorData::new(vec![1.0f32, 2.0], [2, 1]), &device);
/// let out = TrainStep::step(&model, (x.clone(), x * 3.0));
/// let model = model.optimize(&mut optim, 0.1, out.grads);
/// assert_eq!(model.failures().count(), 0);
/// ```
pub struct SharpnessModel<B: Backend, M, R> {
    model: M,
    rule: SharedRule<R>,
    failures: StepFailures,
    interrupter: Option<Interrupter>,
    _backend: PhantomData<fn() -> B>,
}

impl<B: Backend, M: core::fmt::Debug, R> core::fmt::Debug for SharpnessModel<B, M, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharpnessModel")
            .field("model", &self.model)
            .field("failures", &self.failures)
            .field("stops_training", &self.interrupter.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Backend, M: Clone, R> Clone for SharpnessModel<B, M, R> {
    fn clone(&self) -> Self {
        Self {
            model: self.model.clone(),
            rule: self.rule.clone(),
            failures: self.failures.clone(),
            interrupter: self.interrupter.clone(),
            _backend: PhantomData,
        }
    }
}

impl<B: Backend, M, R> SharpnessModel<B, M, R> {
    /// Wraps `model`; a failed step is skipped and counted.
    pub fn new(model: M, rule: SharedRule<R>) -> Self {
        Self {
            model,
            rule,
            failures: StepFailures::default(),
            interrupter: None,
            _backend: PhantomData,
        }
    }

    /// Stops training through `interrupter` (give the same one to
    /// `SupervisedTraining::with_interrupter`) on the first failed step;
    /// its message is the error.
    pub fn with_interrupter(mut self, interrupter: Interrupter) -> Self {
        self.interrupter = Some(interrupter);
        self
    }

    /// The wrapped model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Unwraps the model (for example the Learner's trained model).
    pub fn into_model(self) -> M {
        self.model
    }

    /// The shared rule (to read its state or refresh SSAM's mask).
    pub fn rule(&self) -> &SharedRule<R> {
        &self.rule
    }

    /// The failed steps so far (shared with every clone).
    pub fn failures(&self) -> &StepFailures {
        &self.failures
    }

    fn rewrap<N, C: Backend>(&self, model: N) -> SharpnessModel<C, N, R> {
        SharpnessModel {
            model,
            rule: self.rule.clone(),
            failures: self.failures.clone(),
            interrupter: self.interrupter.clone(),
            _backend: PhantomData,
        }
    }

    fn with_model(self, f: impl FnOnce(M) -> M) -> Self {
        Self {
            model: f(self.model),
            ..self
        }
    }
}

impl<B, M, R> Module<B> for SharpnessModel<B, M, R>
where
    B: Backend,
    M: Module<B>,
    R: Send,
{
    type Record = M::Record;

    fn collect_devices(&self, devices: Devices<B>) -> Devices<B> {
        self.model.collect_devices(devices)
    }

    fn fork(self, device: &B::Device) -> Self {
        self.with_model(|m| m.fork(device))
    }

    fn to_device(self, device: &B::Device) -> Self {
        self.with_model(|m| m.to_device(device))
    }

    fn visit<V: ModuleVisitor<B>>(&self, visitor: &mut V) {
        self.model.visit(visitor)
    }

    fn map<Mp: ModuleMapper<B>>(self, mapper: &mut Mp) -> Self {
        self.with_model(|m| m.map(mapper))
    }

    fn load_record(self, record: Self::Record) -> Self {
        self.with_model(|m| m.load_record(record))
    }

    fn into_record(self) -> Self::Record {
        self.model.into_record()
    }
}

impl<B, M, R> AutodiffModule<B> for SharpnessModel<B, M, R>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    R: Send,
{
    type InnerModule = SharpnessModel<B::InnerBackend, M::InnerModule, R>;

    fn valid(&self) -> Self::InnerModule {
        self.rewrap(self.model.valid())
    }

    fn from_inner(module: Self::InnerModule) -> Self {
        let SharpnessModel {
            model,
            rule,
            failures,
            interrupter,
            ..
        } = module;
        SharpnessModel {
            model: M::from_inner(model),
            rule,
            failures,
            interrupter,
            _backend: PhantomData,
        }
    }
}

impl<B: Backend, M: core::fmt::Display, R> core::fmt::Display for SharpnessModel<B, M, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.model.fmt(f)
    }
}

impl<B, M, R> TrainStep for SharpnessModel<B, M, R>
where
    B: AutodiffBackend,
    M: SharpnessStep<B>,
    R: SharpnessRule<B>,
{
    type Input = M::Input;
    type Output = M::Output;

    fn step(&self, batch: M::Input) -> TrainOutput<M::Output> {
        let mut clean = None;
        let micro = self.model.micro_batches(&batch);
        let result = self.rule.gradients(&self.model, |m: M, pass: Pass| {
            let Some(micro) = &micro else {
                let (loss, item) = m.loss(&batch);
                let value = loss.clone().into_scalar().elem::<f64>();
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                if pass.is_clean() {
                    clean = Some(item);
                }
                return Ok((value, grads));
            };
            let (value, grads, items) = accumulate_with(&m, micro, |m, (part, size)| {
                let (loss, item) = m.loss(part);
                (loss, *size, pass.is_clean().then_some(item))
            })?;
            if pass.is_clean() {
                clean = m.merge_items(items.into_iter().flatten().collect());
            }
            Ok((value, grads))
        });
        let grads = result.map(|out| out.grads).unwrap_or_else(|error| {
            let message = self.failures.record(&error);
            if let Some(interrupter) = &self.interrupter {
                interrupter.stop(Some(&message));
            }
            // No gradient: the base optimizer leaves every parameter as is.
            GradientsParams::new()
        });
        // The rule fails before the clean pass only on invalid state; the
        // metrics still get the clean model's item.
        let item = clean.unwrap_or_else(|| self.model.loss(&batch).1);
        TrainOutput { grads, item }
    }
}

impl<B, M, R> InferenceStep for SharpnessModel<B, M, R>
where
    B: Backend,
    M: InferenceStep,
{
    type Input = M::Input;
    type Output = M::Output;

    fn step(&self, batch: M::Input) -> M::Output {
        self.model.step(batch)
    }
}
