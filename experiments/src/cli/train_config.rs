//! From `usam train`'s flags to a [`TrainConfig`]: a flag replaces the
//! configuration file's value, `--set` replaces both.

use std::path::PathBuf;

use experiments::config::{Schedule, TrainConfig};

use super::args::TrainArgs;
use super::commands::Failure;

pub(crate) fn train_config(a: &TrainArgs) -> Result<TrainConfig, Failure> {
    let mut c = match &a.config {
        Some(path) => TrainConfig::from_file(path)?,
        // A resume's flags are changes to the run's own settings, which
        // the run then checks (only some may change midway).
        None if a.resume => experiments::train::stored_config(&a.out)?,
        None => TrainConfig::default(),
    };
    macro_rules! set {
        ($field:expr, $value:expr) => {
            if let Some(v) = $value.clone() {
                $field = v;
            }
        };
    }
    set!(c.dataset, a.dataset);
    if let Some(dir) = &a.data_dir {
        // Stored absolute, so `eval` and `hessian` find the data from any
        // working directory.
        c.data_dir = Some(absolute(dir)?);
    }
    set!(c.label_noise, a.label_noise);
    set!(c.data_fraction, a.data_fraction);
    set!(c.model, a.model);
    set!(c.optimizer.method, a.method);
    if a.rho.is_some() {
        c.optimizer.rho = a.rho;
    }
    if a.lambda.is_some() {
        c.optimizer.lambda = a.lambda;
    }
    if a.samples.is_some() {
        c.optimizer.samples = a.samples;
    }
    set!(c.optimizer.guard_ratio, a.guard_ratio);
    set!(c.optimizer.on_non_finite, a.on_non_finite);
    set!(c.optimizer.every, a.every);
    set!(c.optimizer.between, a.between);
    if a.log_steps {
        c.log_steps = true;
    }
    set!(c.base.kind, a.base);
    set!(c.base.lr, a.lr);
    set!(c.epochs, a.epochs);
    // After --epochs: multistep's default milestones follow the run length.
    if let Some(kind) = a.schedule {
        c.schedule = Schedule::of_kind(kind, &a.milestones, a.gamma, c.epochs);
    }
    set!(c.batch_size, a.batch_size);
    set!(c.seed, a.seed);
    set!(c.backend, a.backend);
    set!(c.device, a.device);
    if !a.devices.is_empty() {
        c.devices = a.devices.clone();
    }
    set!(c.hessian_every, a.hessian_every);
    let c = c.with_overrides(&a.sets)?;
    experiments::optimizer::method_config(&c)?;
    Ok(c)
}

pub(crate) fn absolute(path: &std::path::Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path)
        .map_err(|e| Failure::Usage(format!("cannot resolve {}: {e}", path.display())))
}
