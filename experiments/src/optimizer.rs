//! The base optimizer of a run ([`BaseOptimizer`]: any of SGD, Adam, AdamW
//! behind one type), built from `[base]`. The sharpness-aware method
//! around it is `sam_burn::optim::MethodConfig`, read from `[optimizer]`
//! ([`config::method`](crate::config::method)).

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, LearningRate, MultiGradientsParams,
    Optimizer, Sgd, SgdConfig,
};
use burn::tensor::backend::AutodiffBackend;

use crate::config::{BaseKind, BaseSettings};

/// SGD, Adam or AdamW behind one type, so the training loop has one
/// optimizer type per backend.
#[derive(Clone)]
pub enum BaseOptimizer<M: AutodiffModule<B>, B: AutodiffBackend> {
    /// SGD with optional momentum and weight decay.
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
    /// Adam.
    Adam(OptimizerAdaptor<Adam, M, B>),
    /// AdamW.
    AdamW(OptimizerAdaptor<AdamW, M, B>),
}

/// The record of a [`BaseOptimizer`]: the active variant's record.
pub type BaseRecord<M, B> =
    (
        Option<
            <OptimizerAdaptor<Sgd<<B as AutodiffBackend>::InnerBackend>, M, B> as Optimizer<
                M,
                B,
            >>::Record,
        >,
        Option<<OptimizerAdaptor<Adam, M, B> as Optimizer<M, B>>::Record>,
        Option<<OptimizerAdaptor<AdamW, M, B> as Optimizer<M, B>>::Record>,
    );

impl<M: AutodiffModule<B>, B: AutodiffBackend> BaseOptimizer<M, B> {
    /// Builds the base optimizer of `settings`.
    pub fn new(settings: &BaseSettings) -> Self {
        let decay = (settings.weight_decay > 0.0).then_some(WeightDecayConfig {
            penalty: settings.weight_decay as f32,
        });
        match settings.kind {
            BaseKind::Sgd => Self::Sgd(
                SgdConfig::new()
                    .with_weight_decay(decay)
                    .with_momentum((settings.momentum > 0.0).then_some(MomentumConfig {
                        momentum: settings.momentum,
                        dampening: 0.0,
                        nesterov: settings.nesterov,
                    }))
                    .init(),
            ),
            BaseKind::Adam => Self::Adam(
                AdamConfig::new()
                    .with_beta_1(settings.beta1)
                    .with_beta_2(settings.beta2)
                    .with_epsilon(settings.epsilon)
                    .with_weight_decay(decay)
                    .init(),
            ),
            BaseKind::Adamw => Self::AdamW(
                AdamWConfig::new()
                    .with_beta_1(settings.beta1)
                    .with_beta_2(settings.beta2)
                    .with_epsilon(settings.epsilon)
                    .with_weight_decay(settings.weight_decay as f32)
                    .init(),
            ),
        }
    }
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> Optimizer<M, B> for BaseOptimizer<M, B> {
    type Record = BaseRecord<M, B>;

    fn step(&mut self, lr: LearningRate, module: M, grads: GradientsParams) -> M {
        match self {
            Self::Sgd(o) => o.step(lr, module, grads),
            Self::Adam(o) => o.step(lr, module, grads),
            Self::AdamW(o) => o.step(lr, module, grads),
        }
    }

    fn step_multi(&mut self, lr: LearningRate, module: M, grads: MultiGradientsParams) -> M {
        match self {
            Self::Sgd(o) => o.step_multi(lr, module, grads),
            Self::Adam(o) => o.step_multi(lr, module, grads),
            Self::AdamW(o) => o.step_multi(lr, module, grads),
        }
    }

    fn to_record(&self) -> Self::Record {
        match self {
            Self::Sgd(o) => (Some(o.to_record()), None, None),
            Self::Adam(o) => (None, Some(o.to_record()), None),
            Self::AdamW(o) => (None, None, Some(o.to_record())),
        }
    }

    fn load_record(self, record: Self::Record) -> Self {
        // A record of another variant (a config change between runs) is
        // ignored: the optimizer starts fresh rather than misreading state.
        match (self, record) {
            (Self::Sgd(o), (Some(r), _, _)) => Self::Sgd(o.load_record(r)),
            (Self::Adam(o), (_, Some(r), _)) => Self::Adam(o.load_record(r)),
            (Self::AdamW(o), (_, _, Some(r))) => Self::AdamW(o.load_record(r)),
            (o, _) => o,
        }
    }
}
