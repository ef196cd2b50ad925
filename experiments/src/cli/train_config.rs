//! From `usam train`'s flags to a [`TrainConfig`]: a flag replaces the
//! configuration file's value, `--set` replaces both. The method's flags
//! (`--method`, `--rho`, `--guard-ratio`, ...) are aliases of `--set
//! optimizer.<field>=<value>`, so the method's schema is read in one place
//! (sam-burn's `MethodConfig`).

use std::path::PathBuf;

use experiments::config::{LrSchedule, ScheduleKind, TrainConfig};

use super::args::TrainArgs;
use super::failure::Failure;

/// The configuration the flags ask for (not yet validated: a run validates
/// it once, before any work).
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
    if a.log_steps {
        c.log_steps = true;
    }
    set!(c.base.kind, a.base);
    set!(c.base.lr, a.lr);
    set!(c.epochs, a.epochs);
    lr_schedule(a, &mut c);
    set!(c.batch_size, a.batch_size);
    set!(c.accumulate, a.accumulate);
    set!(c.seed, a.seed);
    set!(c.backend, a.backend);
    set!(c.device, a.device);
    if !a.devices.is_empty() {
        c.devices = a.devices.clone();
    }
    set!(c.hessian_every, a.hessian_every);
    let mut sets = method_sets(a);
    sets.extend(a.sets.iter().cloned());
    Ok(c.with_overrides(&sets)?)
}

/// `--schedule`, `--milestones` and `--gamma` (after `--epochs`:
/// multistep's default milestones follow the run length). Without
/// `--schedule` the last two change a multistep schedule of the config
/// file; on another schedule they have no effect, which is said.
fn lr_schedule(a: &TrainArgs, c: &mut TrainConfig) {
    let given = !a.milestones.is_empty() || a.gamma.is_some();
    match (a.schedule, &mut c.schedule) {
        (Some(kind), _) => {
            if given && kind != ScheduleKind::Multistep {
                tracing::warn!("--milestones and --gamma have no effect on the {kind:?} schedule");
            }
            let gamma = a.gamma.unwrap_or(0.1);
            c.schedule = LrSchedule::of_kind(kind, &a.milestones, gamma, c.epochs);
        }
        (None, LrSchedule::Multistep { milestones, gamma }) => {
            if !a.milestones.is_empty() {
                *milestones = a.milestones.clone();
            }
            if let Some(g) = a.gamma {
                *gamma = g;
            }
        }
        (None, other) if given => tracing::warn!(
            "--milestones and --gamma have no effect on the {} schedule: add --schedule multistep",
            other.kind_name()
        ),
        _ => {}
    }
    if let LrSchedule::Multistep { milestones, .. } = &c.schedule
        && let Some(late) = milestones.iter().find(|&&m| m >= c.epochs)
    {
        tracing::warn!(
            "milestone {late} is not before the run's end ({} epochs): the learning rate never drops there",
            c.epochs
        );
    }
}

/// The method's flags as `optimizer.*` overrides.
fn method_sets(a: &TrainArgs) -> Vec<String> {
    let quoted = |s: &str| format!("\"{s}\"");
    let fields: [(&str, Option<String>); 8] = [
        ("method", a.method.as_deref().map(quoted)),
        ("rho", a.rho.map(toml_float)),
        ("lambda", a.lambda.map(toml_float)),
        ("samples", a.samples.map(|n| n.to_string())),
        ("guard.max_ratio", a.guard_ratio.clone()),
        (
            "guard.on_non_finite",
            a.on_non_finite.map(|p| quoted(&p.to_string())),
        ),
        ("schedule.every", a.every.map(|k| k.to_string())),
        (
            "schedule.between",
            a.between.map(|b| quoted(&b.to_string())),
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(field, value)| value.map(|v| format!("optimizer.{field}={v}")))
        .collect()
}

/// A float as TOML writes it (`1e300`, `0.05`, `nan`, `inf`).
pub(crate) fn toml_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}

pub(crate) fn absolute(path: &std::path::Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path)
        .map_err(|e| Failure::Usage(format!("cannot resolve {}: {e}", path.display())))
}
