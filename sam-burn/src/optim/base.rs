//! What every sharpness-aware optimizer shares: the closure contract, the
//! rule trait, and the wrapper that hands the combined gradient to any Burn
//! optimizer.

use std::marker::PhantomData;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;

use super::error::OptimError;
use super::guard::GuardReport;
use super::pass::Pass;
use crate::params::{Flat, ParamList, unflatten};

pub(crate) use burn::optim::LearningRate;

/// What the user's closure returns for one forward-backward pass: the loss
/// as a number and the gradients, optionally with an extra output (logits,
/// metrics) that is kept from the clean pass only (the closure is told
/// which pass it is in, so it can skip that work on the others).
///
/// Implemented for `(f64, GradientsParams)` and `(f64, GradientsParams, T)`,
/// and for `Result<P, OptimError>` of either: a closure that can fail (a
/// data-parallel pass whose all-reduce failed, see
/// [`Replica::closure`](crate::parallel::Replica::closure)) fails the step,
/// which then changes nothing.
pub trait PassOutput {
    /// The extra output kept from the clean pass.
    type Extra;
    /// Splits into (loss, gradients, extra), or the error the pass failed
    /// with.
    fn split(self) -> Result<(f64, GradientsParams, Self::Extra), OptimError>;
}

impl PassOutput for (f64, GradientsParams) {
    type Extra = ();
    fn split(self) -> Result<(f64, GradientsParams, ()), OptimError> {
        Ok((self.0, self.1, ()))
    }
}

impl<T> PassOutput for (f64, GradientsParams, T) {
    type Extra = T;
    fn split(self) -> Result<(f64, GradientsParams, T), OptimError> {
        Ok(self)
    }
}

impl<P: PassOutput> PassOutput for Result<P, OptimError> {
    type Extra = P::Extra;
    fn split(self) -> Result<(f64, GradientsParams, P::Extra), OptimError> {
        self?.split()
    }
}

/// A closure of the step contract, `FnMut(model, Pass) -> impl PassOutput`:
/// every such closure implements it, so write closures as usual.
pub trait PassFn<M>: FnMut(M, Pass) -> <Self as PassFn<M>>::Output {
    /// What the closure returns.
    type Output: PassOutput;
}

impl<M, F, P> PassFn<M> for F
where
    F: FnMut(M, Pass) -> P,
    P: PassOutput,
{
    type Output = P;
}

/// The extra output a closure `F` keeps from the clean pass.
pub type ExtraOf<M, F> = <<F as PassFn<M>>::Output as PassOutput>::Extra;

/// The combined gradient for closure `F`, or why there is none.
pub type GradientsOf<M, F> = Result<SharpnessGradients<ExtraOf<M, F>>, OptimError>;

/// The result of a sharpness-aware gradient computation.
#[derive(Debug)]
pub struct SharpnessGradients<T> {
    /// The combined gradient, ready for any Burn optimizer.
    pub grads: GradientsParams,
    /// A summary of the step.
    pub report: StepReport<T>,
}

/// What happened during one sharpness-aware step.
#[derive(Debug, Clone)]
pub struct StepReport<T> {
    /// Loss of the clean pass.
    pub loss: f64,
    /// Losses of the perturbed passes, in sample order.
    pub perturbed_losses: Vec<f64>,
    /// The sharpness estimate of the universal class (`None` for SAM-type
    /// methods and when the extra passes were skipped).
    pub sharpness: Option<f64>,
    /// Forward-backward passes evaluated (1 when the method reduces to its
    /// base step).
    pub passes: usize,
    /// What the stability guard measured and did (universal class with
    /// `lambda > 0`; `None` otherwise).
    pub guard: Option<GuardReport>,
    /// The clean pass's extra output.
    pub output: T,
}

impl<T> StepReport<T> {
    /// The report of a step that took the base optimizer's step on the
    /// clean pass alone (one pass, no perturbed losses or sharpness).
    pub fn clean(loss: f64, output: T) -> Self {
        Self {
            loss,
            perturbed_losses: Vec::new(),
            sharpness: None,
            passes: 1,
            guard: None,
            output,
        }
    }
}

/// A sharpness-aware rule: from a model and a closure, the gradient to hand
/// to a base optimizer. One implementation per method ([`UniversalRule`],
/// [`SamRule`], [`AsamRule`], [`SsamRule`]).
///
/// [`UniversalRule`]: super::universal::UniversalRule
/// [`SamRule`]: super::sam::SamRule
/// [`AsamRule`]: super::asam::AsamRule
/// [`SsamRule`]: super::ssam::SsamRule
pub trait SharpnessRule<B: AutodiffBackend>: Clone + Send {
    /// The rule's state (step counter, mask) as a Burn record.
    type Record: Record<B>;

    /// Evaluates the closure on the clean model and on the perturbed copies
    /// the method asks for, and combines their gradients. The closure is
    /// called first with the unperturbed model and [`Pass::Clean`], then
    /// with each perturbed copy and its [`Pass::Perturbed`]. The state
    /// advances only on success.
    fn gradients<M: AutodiffModule<B>, F: PassFn<M>>(
        &mut self,
        model: &M,
        closure: F,
    ) -> GradientsOf<M, F>;

    /// The clipping the rule applies to its final gradient; a
    /// [`Scheduled`](super::schedule::Scheduled) rule applies it on the
    /// steps between perturbed ones too. `None` by default.
    fn clipping(&self) -> Option<&GradientClippingConfig> {
        None
    }

    /// The state as a record.
    fn to_record(&self) -> Self::Record;

    /// Restores the state from a record.
    fn load_record(self, record: Self::Record) -> Self;
}

/// Applies the configured clipping to the combined gradient, then converts
/// it back to Burn's gradient container.
pub(crate) fn finish<B: AutodiffBackend>(
    list: &ParamList,
    flat: Flat<B::InnerBackend>,
    clipping: Option<&GradientClippingConfig>,
) -> GradientsParams {
    let flat = match clipping.map(GradientClippingConfig::init) {
        Some(c) => Flat {
            tensors: flat
                .tensors
                .into_iter()
                .map(|t| c.clip_gradient(t))
                .collect(),
        },
        None => flat,
    };
    unflatten::<B>(list, flat)
}

/// A failed step: the error, and the model handed back unchanged.
#[derive(Debug)]
pub struct StepFailure<M> {
    /// The model, exactly as it was passed in.
    pub model: M,
    /// What went wrong.
    pub error: OptimError,
}

impl<M: core::fmt::Debug> core::fmt::Display for StepFailure<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "sharpness-aware step failed: {}", self.error)
    }
}

impl<M: core::fmt::Debug> std::error::Error for StepFailure<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Drops the handed-back model, so `?` works where the caller does not
/// need it (the model is lost; match on [`StepFailure`] to keep it).
///
/// ```
/// use sam_burn::optim::{OptimError, StepFailure};
///
/// fn step() -> Result<(), OptimError> {
///     let failed: Result<(), StepFailure<&str>> = Err(StepFailure {
///         model: "the model",
///         error: OptimError::NoGradients,
///     });
///     failed?;
///     Ok(())
/// }
/// assert!(matches!(step(), Err(OptimError::NoGradients)));
/// ```
impl<M> From<StepFailure<M>> for OptimError {
    fn from(failure: StepFailure<M>) -> Self {
        failure.error
    }
}

/// A sharpness-aware optimizer: a rule that computes the gradient, wrapping
/// any Burn optimizer `O` (SGD, Adam, AdamW, ...) that takes the step.
///
/// Built by the configs' `init` (for example
/// [`UniversalSamConfig::init`](super::universal::UniversalSamConfig::init)).
#[derive(Clone)]
pub struct SharpnessAware<M, B, R, O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    R: SharpnessRule<B>,
    O: Optimizer<M, B>,
{
    rule: R,
    base: O,
    _marker: PhantomData<fn(M, B)>,
}

/// The saved state of a [`SharpnessAware`] optimizer: the base optimizer's
/// record and the rule's record.
pub type SharpnessRecord<B, R, M, O> = (
    <O as Optimizer<M, B>>::Record,
    <R as SharpnessRule<B>>::Record,
);

impl<M, B, R, O> SharpnessAware<M, B, R, O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    R: SharpnessRule<B>,
    O: Optimizer<M, B>,
{
    /// Pairs a rule with a base optimizer.
    pub fn new(rule: R, base: O) -> Self {
        Self {
            rule,
            base,
            _marker: PhantomData,
        }
    }

    /// One step in the style of Burn's LBFGS: `closure(model, pass)`
    /// returns the loss and the gradients of that model (optionally with an
    /// extra output kept from the clean pass). Returns the updated model and a report.
    ///
    /// On error nothing changes: the model comes back in [`StepFailure`]
    /// and the optimizer's state is untouched.
    #[allow(clippy::type_complexity)]
    pub fn step<F, P>(
        &mut self,
        lr: LearningRate,
        model: M,
        closure: F,
    ) -> Result<(M, StepReport<P::Extra>), StepFailure<M>>
    where
        F: FnMut(M, Pass) -> P,
        P: PassOutput,
    {
        match self.rule.gradients(&model, closure) {
            Ok(SharpnessGradients { grads, report }) => {
                Ok((self.base.step(lr, model, grads), report))
            }
            Err(error) => Err(StepFailure { model, error }),
        }
    }

    /// The combined gradient without the base step, for custom loops.
    pub fn gradients<F: PassFn<M>>(&mut self, model: &M, closure: F) -> GradientsOf<M, F> {
        self.rule.gradients(model, closure)
    }

    /// The rule.
    pub fn rule(&self) -> &R {
        &self.rule
    }

    /// The rule, mutably (for example to refresh SSAM's mask).
    pub fn rule_mut(&mut self) -> &mut R {
        &mut self.rule
    }

    /// The base optimizer.
    pub fn base(&self) -> &O {
        &self.base
    }

    /// The whole state as a record: save it with any Burn recorder.
    pub fn to_record(&self) -> SharpnessRecord<B, R, M, O> {
        (self.base.to_record(), self.rule.to_record())
    }

    /// Restores the state saved by [`to_record`](Self::to_record).
    pub fn load_record(self, record: SharpnessRecord<B, R, M, O>) -> Self {
        let (base, rule) = record;
        Self {
            rule: self.rule.load_record(rule),
            base: self.base.load_record(base),
            _marker: PhantomData,
        }
    }

    /// The rule and the base optimizer, apart.
    #[cfg(feature = "learner")]
    pub(crate) fn into_parts(self) -> (R, O) {
        (self.rule, self.base)
    }
}
