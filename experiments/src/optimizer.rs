//! From the configuration to optimizers: the sharpness-aware method
//! (`sam_burn::optim::MethodConfig`) and the base optimizer ([`BaseOptimizer`],
//! any of SGD, Adam, AdamW behind one type).

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, LearningRate, MultiGradientsParams,
    Optimizer, Sgd, SgdConfig,
};
use burn::tensor::backend::AutodiffBackend;
use sam_burn::optim::{
    AsamConfig, BaseConfig, MethodConfig, RunningStats, SamConfig, SsamConfig, UniversalSamConfig,
};
use sam_core::guard::Guard;
use sam_core::presets::Preset;
use sam_core::sampler::Sampler;
use sam_core::schedule::Schedule;

use crate::config::{BaseKind, BaseSettings, ConfigError, OptimizerSettings, TrainConfig};

/// The method names `optimizer.method` accepts.
pub const METHODS: &[&str] = &[
    "sgd", "sam", "asam", "ssam", "trace", "frob", "det", "moments1", "moments2", "moments3",
];

fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses `optimizer.sampler`.
pub fn parse_sampler(s: &str) -> Result<Sampler, ConfigError> {
    let sampler = match s.to_ascii_lowercase().as_str() {
        "gaussian" | "normal" => Sampler::Gaussian,
        "sphere" => Sampler::Sphere,
        "reference-sphere" => Sampler::ReferenceSphere,
        "rademacher" => Sampler::Rademacher,
        other => match other.strip_prefix("cube:").map(str::parse::<f64>) {
            Some(Ok(half_width)) => Sampler::Cube { half_width },
            _ => {
                return Err(invalid(
                    "optimizer.sampler",
                    s,
                    "expected gaussian, sphere, reference-sphere, rademacher or cube:<half width>",
                ));
            }
        },
    };
    sampler
        .validate()
        .map_err(|e| invalid("optimizer.sampler", s, e.to_string()))?;
    Ok(sampler)
}

/// The method of `cfg`, its noise seeded by the run's seed, after checking
/// the whole configuration: the run's settings
/// ([`TrainConfig::validate`]) and the method's
/// ([`MethodConfig::try_from`]). Every command calls it before any work
/// starts.
pub fn method_config(cfg: &TrainConfig) -> Result<MethodConfig, ConfigError> {
    cfg.validate()?;
    Ok(MethodConfig::try_from(&cfg.optimizer)?.with_seed(cfg.seed))
}

/// The method of the `[optimizer]` table, every setting checked (those
/// the chosen method ignores too, so a typo never passes silently). The
/// noise seed is 0: set it with [`MethodConfig::with_seed`].
impl TryFrom<&OptimizerSettings> for MethodConfig {
    type Error = ConfigError;

    fn try_from(settings: &OptimizerSettings) -> Result<Self, ConfigError> {
        let stats = if settings.bn_all_passes {
            RunningStats::AllPasses
        } else {
            RunningStats::CleanPassOnly
        };
        let clip = settings.clip_norm.map(GradientClippingConfig::Norm);
        // Checked for every method, so a bad value never passes silently
        // because the chosen method happens to ignore it.
        for (field, value) in [
            ("optimizer.rho", settings.rho),
            ("optimizer.lambda", settings.lambda),
        ] {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(invalid(field, v, "must be finite and non-negative"));
            }
        }
        let guard = Guard {
            max_ratio: settings.guard_ratio.0,
            on_non_finite: settings.on_non_finite,
        };
        guard.validate().map_err(|_| {
            invalid(
                "optimizer.guard_ratio",
                settings.guard_ratio,
                "must be a finite positive number, or \"off\"",
            )
        })?;
        let schedule = Schedule::every(settings.every, settings.between)
            .map_err(|_| invalid("optimizer.every", settings.every, "must be at least 1"))?;
        if settings.samples == Some(0) {
            return Err(invalid("optimizer.samples", 0, "must be at least 1"));
        }
        // Validated for every method so a typo never passes silently.
        let sampler = settings.sampler.as_deref().map(parse_sampler).transpose()?;
        let method = settings.method.to_ascii_lowercase();
        let config = match method.as_str() {
            "sgd" | "base" => MethodConfig::Base(BaseConfig::new().with_grad_clipping(clip)),
            "sam" => {
                let mut c = SamConfig::new()
                    .with_schedule(schedule)
                    .with_running_stats(stats)
                    .with_grad_clipping(clip);
                if let Some(rho) = settings.rho {
                    c = c.with_rho(rho);
                }
                MethodConfig::Sam(c)
            }
            "asam" => {
                let mut c = AsamConfig::new()
                    .with_schedule(schedule)
                    .with_eta(settings.eta)
                    .with_running_stats(stats)
                    .with_grad_clipping(clip);
                if let Some(rho) = settings.rho {
                    c = c.with_rho(rho);
                }
                MethodConfig::Asam(c)
            }
            "ssam" => {
                let mut c = SsamConfig::new()
                    .with_schedule(schedule)
                    .with_sparsity(settings.sparsity)
                    .with_fisher_samples(settings.fisher_samples)
                    .with_running_stats(stats)
                    .with_grad_clipping(clip);
                if let Some(rho) = settings.rho {
                    c = c.with_rho(rho);
                }
                MethodConfig::Ssam(c)
            }
            name => {
                let preset: Preset = name.parse().map_err(|_| {
                    invalid(
                        "optimizer.method",
                        &settings.method,
                        format!("expected one of {}", METHODS.join(", ")),
                    )
                })?;
                // Said here, in the same words as a negative rho, rather than
                // left to the estimator's own message.
                if settings.rho == Some(0.0) {
                    return Err(invalid(
                        "optimizer.rho",
                        0,
                        format!(
                            "must be finite and positive for {name}: its coefficient estimate divides by rho (sam, asam and ssam accept 0: the base optimizer's step)"
                        ),
                    ));
                }
                MethodConfig::Universal(
                    UniversalSamConfig::new(preset)
                        .with_schedule(schedule)
                        .with_rho(settings.rho)
                        .with_lambda(settings.lambda)
                        .with_samples(settings.samples)
                        .with_sampler(sampler)
                        .with_scaling(settings.scaling)
                        .with_running_stats(stats)
                        .with_grad_clipping(clip)
                        .with_guard(guard),
                )
            }
        };
        // The ranges the optimizers check themselves surface now, typed.
        config
            .validate()
            .map_err(|e| invalid("optimizer", &settings.method, e.to_string()))?;
        Ok(config)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_name_builds() {
        for m in METHODS {
            let s = OptimizerSettings {
                method: m.to_string(),
                ..Default::default()
            };
            MethodConfig::try_from(&s).unwrap_or_else(|e| panic!("{m}: {e}"));
        }
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        let bad = [
            ("frob", Some(1), None),
            ("sam", None, Some("cube:0")),
            ("trace", None, Some("hypercube")),
            ("lbfgs", None, None),
        ];
        for (method, samples, sampler) in bad {
            let s = OptimizerSettings {
                method: method.into(),
                samples,
                sampler: sampler.map(String::from),
                ..Default::default()
            };
            assert!(
                MethodConfig::try_from(&s).is_err(),
                "{method} {samples:?} {sampler:?}"
            );
        }
        assert!(parse_sampler("cube:0").is_err());
        assert_eq!(
            parse_sampler("cube:0.5").unwrap(),
            Sampler::Cube { half_width: 0.5 }
        );
    }

    #[test]
    fn whole_configs_are_checked_run_and_method() {
        for sets in [
            &["optimizer.method=\"adagrad-sam\""][..],
            &["optimizer.rho=-0.1"],
            &["optimizer.method=\"ssam\"", "optimizer.sparsity=1.5"],
            &["optimizer.every=0"],
            &["epochs=0"],
        ] {
            let c = TrainConfig::default().with_overrides(sets).unwrap();
            assert!(method_config(&c).is_err(), "{sets:?} must be rejected");
        }
        let c = TrainConfig::default()
            .with_overrides(&["optimizer.method=frob", "seed=11"])
            .unwrap();
        match method_config(&c).unwrap() {
            MethodConfig::Universal(u) => assert_eq!(u.seed, 11),
            other => panic!("frob gave {other:?}"),
        }
    }

    #[test]
    fn sgd_takes_the_clipping_too() {
        let s = OptimizerSettings {
            method: "sgd".into(),
            clip_norm: Some(1.0),
            ..Default::default()
        };
        match MethodConfig::try_from(&s).unwrap() {
            MethodConfig::Base(b) => assert!(b.grad_clipping.is_some()),
            other => panic!("sgd gave {other:?}"),
        }
    }
}
