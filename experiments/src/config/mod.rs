//! The run configuration: every hyperparameter of a training run, as TOML.
//!
//! Precedence: built-in defaults, then a config file (`--config`), then the
//! dedicated flags, then `--set key=value` overrides (any field, dotted
//! path). The effective configuration is written beside the results.

use std::path::{Path, PathBuf};

use sam_burn::optim::{MethodConfig, OptimError};
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::models::ModelKind;

mod base;
mod legacy;
mod lr_schedule;
pub mod method;
mod validate;

pub use base::{BaseKind, BaseSettings};
pub use legacy::{LEGACY_ONLY, field_of};
pub use lr_schedule::{LrSchedule, ScheduleKind};
pub use validate::{RunConfig, validations_on_this_thread};

/// A training run, complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Dataset: mnist-10k (bundled), mnist, fashion-mnist, cifar10,
    /// cifar100, cifar100-coarse, svhn, `folder:<path>`.
    pub dataset: String,
    /// Where downloaded datasets live (default: `USAM_DATA_DIR` or
    /// `~/.cache/usam`).
    pub data_dir: Option<PathBuf>,
    /// Whether missing datasets may be downloaded.
    pub download: bool,
    /// Fraction of training labels replaced by a different class.
    pub label_noise: f64,
    /// Fraction of the training set kept (1 = full data).
    pub data_fraction: f64,
    /// How the limited-data subset is chosen.
    pub subset: Subset,
    /// Random crop (pad 4) and flips; default: on for CIFAR (crop + flip)
    /// and SVHN (crop only), off for the MNIST family.
    pub augment: Option<bool>,
    /// The architecture.
    pub model: ModelKind,
    /// Apply one hidden layer of the MNIST MLP twice, as the reference
    /// code does (see `models::mlp`).
    pub mlp_reuse_layer: bool,
    /// The sharpness-aware method: sam-burn's [`MethodConfig`], a table
    /// tagged by `method` ([`method`] has usam's defaults).
    #[serde(with = "method::serde_table")]
    pub optimizer: MethodConfig,
    /// The base optimizer taking the step.
    pub base: BaseSettings,
    /// Learning-rate schedule, applied per epoch (the method's
    /// perturbation schedule is `optimizer.schedule`).
    pub schedule: LrSchedule,
    /// Epochs to train.
    pub epochs: usize,
    /// Training batch size: the effective batch of a step, also under
    /// gradient accumulation.
    pub batch_size: usize,
    /// Gradient accumulation: each step's batch runs as this many
    /// micro-batches (sizes differing by at most one), every pass of the
    /// step over all of them, so the step is the one-batch step with the
    /// activations of one micro-batch alive at a time; 1 = none.
    pub accumulate: usize,
    /// Evaluation batch size.
    pub eval_batch_size: usize,
    /// Cap on steps per epoch (quick runs, tests); none = the whole set.
    pub steps_per_epoch: Option<usize>,
    /// Seed of initialisation, shuffling, augmentation, regimes and noise.
    pub seed: u64,
    /// Compute backend.
    pub backend: BackendKind,
    /// Device index (wgpu: 0 = best device, i = i-th discrete GPU; CUDA: ordinal).
    pub device: usize,
    /// Devices of a data-parallel run, one replica each (empty: the one
    /// `device`). `batch_size` is then the global batch, split evenly:
    /// each device takes `batch_size / devices.len()` examples per step.
    /// CPU backends place the replicas on the host (indices 0 to the number
    /// of cores - 1); wgpu's index i is its i-th discrete GPU; CUDA's the
    /// ordinal.
    pub devices: Vec<usize>,
    /// Hessian metrics every this many epochs (0 = never).
    pub hessian_every: usize,
    /// Training examples the Hessian metrics average over.
    pub hessian_samples: usize,
    /// Hutchinson probes per Hessian estimate (at most).
    pub hessian_probes: usize,
    /// Evaluate the training set every epoch (clean and corrupted subsets
    /// under label noise).
    pub eval_train: bool,
    /// Worker threads preparing batches.
    pub workers: usize,
    /// Write one line per optimizer step to `steps.jsonl`: losses, the
    /// loss differences, `||g0||`, `||g - g0||` and the guard's decision
    /// (to watch a run approach a divergence).
    pub log_steps: bool,
}

/// How a limited-data subset is drawn.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Subset {
    /// The first examples, as the reference code does.
    #[default]
    Prefix,
    /// A seeded class-balanced sample.
    Balanced,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: "mnist-10k".into(),
            data_dir: None,
            download: true,
            label_noise: 0.0,
            data_fraction: 1.0,
            subset: Subset::Prefix,
            augment: None,
            model: ModelKind::Mlp,
            mlp_reuse_layer: false,
            optimizer: MethodConfig::default(),
            base: BaseSettings::default(),
            schedule: LrSchedule::Constant,
            epochs: 5,
            batch_size: 128,
            accumulate: 1,
            eval_batch_size: 500,
            steps_per_epoch: None,
            seed: 101,
            backend: BackendKind::Cpu,
            device: 0,
            devices: Vec::new(),
            hessian_every: 0,
            hessian_samples: 1280,
            hessian_probes: 32,
            eval_train: true,
            workers: 2,
            log_steps: false,
        }
    }
}

/// A configuration problem: the message says which field and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not describe a configuration.
    #[error("invalid configuration{}: {message}", location(.path))]
    Parse {
        /// The file, when one was read.
        path: Option<PathBuf>,
        /// The parser's message.
        message: String,
    },
    /// A `--set` argument is not `key=value`.
    #[error("invalid --set `{0}`: expected key=value, e.g. optimizer.rho=0.05")]
    Set(String),
    /// A `--set` path goes into a setting that is not a table.
    #[error(
        "invalid --set `{set}`: `{key}` goes into a setting that holds a value, not a table (dotted keys name fields of tables, e.g. optimizer.rho=0.05 or schedule.gamma=0.2)"
    )]
    NotATable {
        /// The argument.
        set: String,
        /// Its key.
        key: String,
    },
    /// `--resume` was asked to change settings a run cannot change midway.
    #[error(
        "--resume continues a run with the settings it started with, and these differ from the run's: {}; nothing was changed (train into another --out to use them; a resume may change epochs, backend, device, devices, workers, data_dir, download and log_steps)",
        .0.join("; ")
    )]
    ResumeChanged(Vec<String>),
    /// A value is out of range.
    #[error("invalid configuration: {field} = {value}: {reason}")]
    Invalid {
        /// The field, as a dotted path.
        field: String,
        /// Its value.
        value: String,
        /// What is expected.
        reason: String,
    },
}

impl ConfigError {
    /// A value out of range.
    pub fn invalid(field: &str, value: impl ToString, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// A method's validation error, naming its field (`optimizer.rho`)
    /// and value where the error has them.
    pub fn from_method(method: &MethodConfig, e: OptimError) -> Self {
        use sam_core::SamError;
        let field = e
            .config_field()
            .map_or_else(|| "optimizer".to_string(), |f| format!("optimizer.{f}"));
        let name = method.name();
        let (value, reason) = match e {
            OptimError::InvalidConfig { value, reason, .. } => (value, reason.to_string()),
            OptimError::Core(SamError::InvalidRho(v)) => (
                v.to_string(),
                format!(
                    "must be finite and positive for {name}: its coefficients divide by rho (sam, asam and ssam accept 0: the base optimizer's step)"
                ),
            ),
            OptimError::Core(SamError::InvalidLambda(v)) => {
                (v.to_string(), "must be finite and non-negative".into())
            }
            OptimError::Core(SamError::TooFewSamples { needed, got }) => (
                got.to_string(),
                format!("{name} needs at least {needed} samples per step"),
            ),
            other => (format!("(method {name})"), other.to_string()),
        };
        ConfigError::Invalid {
            field,
            value,
            reason,
        }
    }
}

fn location(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

impl TrainConfig {
    /// Reads a TOML file over the defaults (fields not in the file keep
    /// their defaults).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: Some(path.to_path_buf()),
                message,
            },
            other => other,
        })
    }

    /// Parses TOML over the defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: None,
            message: e.to_string(),
        })
    }

    /// The configuration as TOML. A data-parallel run's file starts with a
    /// comment that spells out the global batch and its split, an
    /// accumulating run's with the effective batch and its micro-batches.
    pub fn to_toml(&self) -> String {
        let mut text = String::new();
        let devices = self.device_list();
        let per_device = self.batch_size / devices.len();
        if devices.len() > 1 {
            text.push_str(&format!(
                "# Data-parallel over {} devices {:?}: the global batch is batch_size = {}, {per_device} examples per device and step.\n",
                devices.len(),
                devices,
                self.batch_size,
            ));
        }
        if self.accumulate > 1 {
            text.push_str(&format!(
                "# Gradient accumulation: the effective batch is batch_size = {}; each step runs {per_device} examples{} as accumulate = {} micro-batches of about {}.\n",
                self.batch_size,
                if devices.len() > 1 { " per device" } else { "" },
                self.accumulate,
                per_device.div_ceil(self.accumulate),
            ));
        }
        text.push_str(&toml::to_string_pretty(self).expect("a TrainConfig always serialises"));
        text
    }

    /// The devices the run trains on: `devices`, or the one `device`.
    pub fn device_list(&self) -> Vec<usize> {
        if self.devices.is_empty() {
            vec![self.device]
        } else {
            self.devices.clone()
        }
    }

    /// Applies `key=value` overrides (dotted paths into the TOML, values in
    /// TOML syntax; bare words are taken as strings).
    pub fn with_overrides<S: AsRef<str>>(self, sets: &[S]) -> Result<Self, ConfigError> {
        if sets.is_empty() {
            return Ok(self);
        }
        let mut value = toml::Value::try_from(&self).expect("a TrainConfig always serialises");
        // The method's changed fields only, so that `optimizer.method=sam`
        // over a Frob table keeps what the table set, not Frob's defaults.
        let optimizer = method::changed_fields(&self.optimizer);
        value.as_table_mut().expect("a table").insert(
            "optimizer".into(),
            toml::Value::try_from(optimizer).expect("a table serialises"),
        );
        for set in sets {
            let set = set.as_ref();
            let (key, raw) = set
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ConfigError::Set(set.to_string()))?;
            let parts: Vec<&str> = key.trim().split('.').map(str::trim).collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Set(set.to_string()));
            }
            if !set_path(&mut value, &parts, parse_value(raw.trim())) {
                return Err(ConfigError::NotATable {
                    set: set.to_string(),
                    key: key.trim().to_string(),
                });
            }
        }
        value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: None,
                message: e.to_string(),
            })
    }

    /// The settings, as `key = value` lines with dotted keys, sorted.
    fn flat(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
            match v {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&key, v, out);
                    }
                }
                other => out.push((prefix.to_string(), other.to_string())),
            }
        }
        let mut out = Vec::new();
        let value = toml::Value::try_from(self).expect("a TrainConfig always serialises");
        walk("", &value, &mut out);
        out.sort();
        out
    }

    /// Every setting whose value differs, as `key: this -> other`
    /// (`unset` for a missing optional value).
    pub fn differences(&self, other: &TrainConfig) -> Vec<String> {
        let (a, b) = (self.flat(), other.flat());
        let mut keys: Vec<&String> = a.iter().chain(&b).map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        let get = |side: &[(String, String)], key: &str| {
            side.iter()
                .find(|(k, _)| k == key)
                .map_or_else(|| "unset".to_string(), |(_, v)| v.clone())
        };
        keys.into_iter()
            .filter_map(|k| {
                let (x, y) = (get(&a, k), get(&b, k));
                (x != y).then(|| format!("{k}: {x} -> {y}"))
            })
            .collect()
    }

    /// Whether training images are augmented.
    pub fn augmentation(&self) -> bool {
        self.augment.unwrap_or_else(|| {
            let d = self.dataset.as_str();
            d.starts_with("cifar") || d == "svhn"
        })
    }
}

/// Sets `value[parts[0]][parts[1]]... = new`; false if a prefix is not a table.
fn set_path(value: &mut toml::Value, parts: &[&str], new: toml::Value) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let Some(table) = value.as_table_mut() else {
        return false;
    };
    if first.is_empty() {
        return false;
    }
    if rest.is_empty() {
        table.insert(first.to_string(), new);
        return true;
    }
    let child = table
        .entry(first.to_string())
        .or_insert_with(|| toml::Value::Table(Default::default()));
    set_path(child, rest, new)
}

/// A TOML value, or the raw text as a string (so `method=frob` works).
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests;
