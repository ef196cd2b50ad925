//! The one validation of a run's configuration, and what it returns: a
//! [`RunConfig`], the only thing a run starts from. So a run is validated
//! exactly once, wherever it was configured (command line, sweep, demo),
//! and the check cannot be skipped.

use std::cell::Cell;
use std::ops::Deref;

use sam_burn::optim::MethodConfig;

use super::{ConfigError, LrSchedule, TrainConfig};

thread_local! {
    static VALIDATIONS: Cell<usize> = const { Cell::new(0) };
}

/// How many configurations this thread has validated (tests count the
/// validations of a run with it).
#[doc(hidden)]
pub fn validations_on_this_thread() -> usize {
    VALIDATIONS.with(Cell::get)
}

/// A configuration that passed [`TrainConfig::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig(TrainConfig);

impl Deref for RunConfig {
    type Target = TrainConfig;

    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

impl RunConfig {
    /// The method, its noise seeded by the run's seed.
    pub fn method(&self) -> MethodConfig {
        self.0.optimizer.clone().with_seed(self.0.seed)
    }

    /// The configuration itself.
    pub fn into_inner(self) -> TrainConfig {
        self.0
    }

    /// The configuration a resume of the run stored as `stored` trains
    /// with: this (requested) configuration, which may differ from the
    /// stored one only in what a run may change midway (more epochs,
    /// another backend or device(s), worker threads, where the data lives,
    /// step logging). Any other difference is an error listing every one.
    /// Fewer epochs than stored keep the stored count.
    pub fn resuming(self, stored: &TrainConfig) -> Result<RunConfig, ConfigError> {
        let mut resumed = stored.clone();
        let requested = self.0;
        resumed.epochs = requested.epochs.max(stored.epochs);
        resumed.backend = requested.backend;
        resumed.device = requested.device;
        resumed.devices = requested.devices.clone();
        resumed.workers = requested.workers;
        resumed.data_dir = requested.data_dir.clone();
        resumed.download = requested.download;
        resumed.log_steps = requested.log_steps;
        let changed = resumed.differences(&TrainConfig {
            epochs: resumed.epochs,
            ..requested
        });
        if changed.is_empty() {
            // Equal to the validated request but for a larger epoch count.
            Ok(RunConfig(resumed))
        } else {
            Err(ConfigError::ResumeChanged(changed))
        }
    }
}

/// `Err` naming `field` unless `ok`.
fn check(ok: bool, field: &str, value: impl ToString, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(field, value, reason))
    }
}

impl TrainConfig {
    /// Checks every setting, the method's included, and returns the
    /// configuration as one a run can start from.
    pub fn validate(self) -> Result<RunConfig, ConfigError> {
        VALIDATIONS.with(|n| n.set(n.get() + 1));
        self.check_data()?;
        self.check_training()?;
        self.check_devices()?;
        self.check_hessian()?;
        self.optimizer
            .validate()
            .map_err(|e| ConfigError::from_method(&self.optimizer, e))?;
        Ok(RunConfig(self))
    }

    fn check_data(&self) -> Result<(), ConfigError> {
        if let Some(dir) = &self.data_dir {
            check(
                !dir.exists() || dir.is_dir(),
                "data_dir",
                dir.display(),
                "is a file, not a directory",
            )?;
        }
        check(
            self.dataset.parse::<datasets::DatasetKind>().is_ok(),
            "dataset",
            &self.dataset,
            "expected mnist-10k, mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse, svhn or folder:<path>",
        )?;
        check(
            (0.0..1.0).contains(&self.label_noise),
            "label_noise",
            self.label_noise,
            "must be in [0, 1)",
        )?;
        check(
            self.data_fraction > 0.0 && self.data_fraction <= 1.0,
            "data_fraction",
            self.data_fraction,
            "must be in (0, 1]",
        )
    }

    fn check_training(&self) -> Result<(), ConfigError> {
        check(self.epochs > 0, "epochs", 0, "must be at least 1")?;
        check(self.batch_size > 0, "batch_size", 0, "must be at least 1")?;
        check(self.accumulate > 0, "accumulate", 0, "must be at least 1")?;
        check(
            self.accumulate <= self.batch_size,
            "accumulate",
            self.accumulate,
            "must be at most batch_size: each micro-batch needs an example",
        )?;
        check(
            self.eval_batch_size > 0,
            "eval_batch_size",
            0,
            "must be at least 1",
        )?;
        check(
            self.steps_per_epoch != Some(0),
            "steps_per_epoch",
            0,
            "must be at least 1 when set",
        )?;
        let base = &self.base;
        check(
            base.lr.is_finite() && base.lr > 0.0,
            "base.lr",
            base.lr,
            "must be finite and positive",
        )?;
        check(
            base.momentum.is_finite() && (0.0..1.0).contains(&base.momentum),
            "base.momentum",
            base.momentum,
            "must be in [0, 1)",
        )?;
        check(
            base.weight_decay.is_finite() && base.weight_decay >= 0.0,
            "base.weight_decay",
            base.weight_decay,
            "must be finite and >= 0",
        )?;
        if let LrSchedule::Multistep { gamma, .. } = &self.schedule {
            check(
                gamma.is_finite() && *gamma > 0.0,
                "schedule.gamma",
                gamma,
                "must be finite and positive",
            )?;
        }
        Ok(())
    }

    fn check_devices(&self) -> Result<(), ConfigError> {
        let devices = self.device_list();
        if let Some(d) = crate::backend::first_duplicate(&devices) {
            return Err(ConfigError::invalid(
                "devices",
                format!("{devices:?}"),
                format!("device {d} is listed twice: each replica needs a device of its own"),
            ));
        }
        let n = devices.len();
        if n < 2 {
            return Ok(());
        }
        check(
            self.batch_size.is_multiple_of(n),
            "batch_size",
            self.batch_size,
            &format!("the global batch must split evenly over the {n} devices (a multiple of {n})"),
        )?;
        check(
            self.accumulate <= self.batch_size / n,
            "accumulate",
            self.accumulate,
            &format!(
                "must be at most the {} examples each device takes per step",
                self.batch_size / n
            ),
        )?;
        if let MethodConfig::Ssam(c) = &self.optimizer {
            check(
                c.fisher_samples >= n,
                "optimizer.fisher_samples",
                c.fisher_samples,
                &format!(
                    "SSAM's Fisher examples are shared among the devices: at least one each ({n})"
                ),
            )?;
        }
        Ok(())
    }

    fn check_hessian(&self) -> Result<(), ConfigError> {
        if self.hessian_every == 0 {
            return Ok(());
        }
        let why = "Hessian metrics need at least one sample and one probe (or hessian_every = 0)";
        check(self.hessian_samples > 0, "hessian_samples", 0, why)?;
        check(self.hessian_probes > 0, "hessian_probes", 0, why)
    }
}
