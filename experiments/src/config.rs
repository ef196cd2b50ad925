//! The run configuration: every hyperparameter of a training run, as TOML.
//!
//! Precedence: built-in defaults, then a config file (`--config`), then the
//! dedicated flags, then `--set key=value` overrides (any field, dotted
//! path). The effective configuration is written beside the results.

use std::path::{Path, PathBuf};

use sam_core::estimator::Scaling;
use sam_core::guard::{Guard, NonFinite};
use sam_core::schedule::Between;
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::models::ModelKind;

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
    /// The sharpness-aware method.
    pub optimizer: OptimizerSettings,
    /// The base optimizer taking the step.
    pub base: BaseSettings,
    /// Learning-rate schedule, applied per epoch.
    pub schedule: Schedule,
    /// Epochs to train.
    pub epochs: usize,
    /// Training batch size.
    pub batch_size: usize,
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

/// The sharpness-aware method and its hyperparameters. Unset values take
/// the reference settings of the method (the optimizers' configs; for the
/// universal class [`sam_core::presets::Preset::reference_hyperparameters`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerSettings {
    /// sgd (the base optimizer alone), sam, asam, ssam, trace, frob, det,
    /// moments1, moments2, moments3.
    pub method: String,
    /// Perturbation radius.
    pub rho: Option<f64>,
    /// Weight of the sharpness term (universal class).
    pub lambda: Option<f64>,
    /// Noise draws per step (universal class).
    pub samples: Option<usize>,
    /// lambda convention: "reference" (the authors' code) or "exact".
    pub scaling: Scaling,
    /// Distribution of the directions: gaussian, sphere, reference-sphere,
    /// rademacher, `cube:<half width>` (default: the preset's).
    pub sampler: Option<String>,
    /// ASAM's eta.
    pub eta: f64,
    /// SSAM's sparsity.
    pub sparsity: f64,
    /// SSAM's Fisher examples.
    pub fisher_samples: usize,
    /// Let perturbed passes update batch-norm statistics (the reference
    /// code's behaviour; default: clean pass only).
    pub bn_all_passes: bool,
    /// Clip the combined gradient by this L2 norm, per tensor.
    pub clip_norm: Option<f32>,
    /// Universal class: bound `||g - g0||` to this multiple of `||g0||`,
    /// or "off" to reproduce the reference code exactly (default 0.5, see
    /// `sam_core::guard`).
    pub guard_ratio: GuardRatio,
    /// Universal class: what a non-finite perturbed loss does, "stop" (a
    /// typed error; the checkpoint is intact) or "skip" (that step takes
    /// the clean gradient and is counted in `epochs.jsonl`).
    pub on_non_finite: NonFinite,
    /// Run the perturbed passes on one step in `every` (default 1: every
    /// step; ignored by sgd). See `sam_core::schedule`.
    pub every: u64,
    /// What the steps between perturbed ones do: "base" (the base
    /// optimizer on the clean gradient) or "reuse" (plus the last
    /// perturbed step's sharpness part, rescaled LookSAM-style).
    pub between: Between,
}

/// The stability guard's bound: a positive ratio, or off (`"off"` in
/// TOML and on the command line).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardRatio(pub Option<f64>);

impl Default for GuardRatio {
    fn default() -> Self {
        GuardRatio(Some(Guard::DEFAULT_RATIO))
    }
}

impl core::str::FromStr for GuardRatio {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") {
            return Ok(GuardRatio(None));
        }
        s.parse::<f64>()
            .map(|r| GuardRatio(Some(r)))
            .map_err(|_| format!("`{s}`: expected a positive number or off"))
    }
}

impl core::fmt::Display for GuardRatio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{r}"),
            None => f.write_str("off"),
        }
    }
}

impl Serialize for GuardRatio {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(r) => s.serialize_f64(r),
            None => s.serialize_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for GuardRatio {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(r) => Ok(GuardRatio(Some(r))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The base optimizer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BaseSettings {
    /// sgd, adam or adamw.
    pub kind: BaseKind,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum (0 disables it).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
    pub weight_decay: f64,
    /// Adam's beta1.
    pub beta1: f32,
    /// Adam's beta2.
    pub beta2: f32,
    /// Adam's epsilon.
    pub epsilon: f32,
}

/// Which base optimizer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BaseKind {
    /// SGD with optional momentum.
    #[default]
    Sgd,
    /// Adam.
    Adam,
    /// AdamW.
    Adamw,
}

impl core::str::FromStr for BaseKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(BaseKind::Sgd),
            "adam" => Ok(BaseKind::Adam),
            "adamw" => Ok(BaseKind::Adamw),
            other => Err(format!(
                "unknown base optimizer `{other}` (expected sgd, adam or adamw)"
            )),
        }
    }
}

/// Which kind of learning-rate [`Schedule`], as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// [`Schedule::Constant`].
    Constant,
    /// [`Schedule::Multistep`].
    Multistep,
    /// [`Schedule::Cosine`].
    Cosine,
}

impl core::str::FromStr for ScheduleKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "constant" => Ok(ScheduleKind::Constant),
            "multistep" => Ok(ScheduleKind::Multistep),
            "cosine" => Ok(ScheduleKind::Cosine),
            other => Err(format!(
                "unknown schedule `{other}` (expected constant, multistep or cosine)"
            )),
        }
    }
}

/// Learning rate as a function of the epoch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[derive(Default)]
pub enum Schedule {
    /// The initial rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` at each milestone epoch.
    Multistep {
        /// Epochs (0-based) at which the rate drops.
        milestones: Vec<usize>,
        /// The factor.
        gamma: f64,
    },
    /// Cosine annealing from the initial rate to `min_lr` over the run.
    Cosine {
        /// The final rate.
        min_lr: f64,
    },
}

impl Schedule {
    /// A schedule of `kind` for a run of `epochs`: multistep multiplies by
    /// `gamma` at `milestones`, or, when none are given, at a quarter, half
    /// and three quarters of the run (the paper's 50, 100 and 150 of 200
    /// epochs); cosine anneals to 0.
    pub fn of_kind(kind: ScheduleKind, milestones: &[usize], gamma: f64, epochs: usize) -> Self {
        match kind {
            ScheduleKind::Constant => Schedule::Constant,
            ScheduleKind::Multistep => Schedule::Multistep {
                milestones: if milestones.is_empty() {
                    vec![epochs / 4, epochs / 2, 3 * epochs / 4]
                } else {
                    milestones.to_vec()
                },
                gamma,
            },
            ScheduleKind::Cosine => Schedule::Cosine { min_lr: 0.0 },
        }
    }

    /// The rate of `epoch` (0-based) in a run of `epochs`.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Multistep { milestones, gamma } => {
                let drops = milestones.iter().filter(|&&m| epoch >= m).count();
                base * gamma.powi(drops as i32)
            }
            Schedule::Cosine { min_lr } => {
                let t = if epochs <= 1 {
                    0.0
                } else {
                    epoch as f64 / (epochs - 1) as f64
                };
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
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
            optimizer: OptimizerSettings::default(),
            base: BaseSettings::default(),
            schedule: Schedule::Constant,
            epochs: 5,
            batch_size: 128,
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

impl Default for OptimizerSettings {
    fn default() -> Self {
        Self {
            method: "sgd".into(),
            rho: None,
            lambda: None,
            samples: None,
            scaling: Scaling::Reference,
            sampler: None,
            eta: 0.01,
            sparsity: 0.5,
            fisher_samples: 16,
            bn_all_passes: false,
            clip_norm: None,
            guard_ratio: GuardRatio::default(),
            on_non_finite: NonFinite::Stop,
            every: 1,
            between: Between::Base,
        }
    }
}

impl Default for BaseSettings {
    fn default() -> Self {
        Self {
            kind: BaseKind::Sgd,
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 5e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
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
    /// `--resume` was asked to change settings a run cannot change midway.
    #[error(
        "--resume continues a run with the settings it started with, and these differ from the run's: {}; nothing was changed (train into another --out to use them; a resume may change epochs, backend, device, devices, workers, data_dir, download and log_steps)",
        .0.join("; ")
    )]
    ResumeChanged(Vec<String>),
    /// A value is out of range.
    #[error("invalid configuration: {field} = {value}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is expected.
        reason: String,
    },
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
    /// comment that spells out the global batch and its split.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).expect("a TrainConfig always serialises");
        let devices = self.device_list();
        if devices.len() < 2 {
            return body;
        }
        format!(
            "# Data-parallel over {} devices {:?}: the global batch is batch_size = {}, {} examples per device and step.\n{body}",
            devices.len(),
            devices,
            self.batch_size,
            self.batch_size / devices.len(),
        )
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
        for set in sets {
            let set = set.as_ref();
            let (key, raw) = set
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ConfigError::Set(set.to_string()))?;
            let parts: Vec<&str> = key.trim().split('.').map(str::trim).collect();
            if !set_path(&mut value, &parts, parse_value(raw.trim())) {
                return Err(ConfigError::Set(set.to_string()));
            }
        }
        value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: None,
                message: e.to_string(),
            })
    }

    /// Checks the run's ranges that serde cannot. The `[optimizer]` table
    /// is checked where it becomes a method (`MethodConfig::try_from` in
    /// [`optimizer`](crate::optimizer)); `optimizer::method_config` checks
    /// both.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, value: String, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                value,
                reason: reason.into(),
            })
        };
        if self.dataset.parse::<datasets::DatasetKind>().is_err() {
            return invalid(
                "dataset",
                self.dataset.clone(),
                "expected mnist-10k, mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse, svhn or folder:<path>",
            );
        }
        if !(0.0..1.0).contains(&self.label_noise) {
            return invalid(
                "label_noise",
                self.label_noise.to_string(),
                "must be in [0, 1)",
            );
        }
        if !(self.data_fraction > 0.0 && self.data_fraction <= 1.0) {
            return invalid(
                "data_fraction",
                self.data_fraction.to_string(),
                "must be in (0, 1]",
            );
        }
        if self.epochs == 0 {
            return invalid("epochs", "0".into(), "must be at least 1");
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return invalid("batch_size", "0".into(), "batch sizes must be at least 1");
        }
        let devices = self.device_list();
        if let Some(d) = crate::backend::first_duplicate(&devices) {
            return invalid(
                "devices",
                format!("{devices:?}"),
                &format!("device {d} is listed twice: each replica needs a device of its own"),
            );
        }
        if devices.len() > 1 {
            if !self.batch_size.is_multiple_of(devices.len()) {
                return invalid(
                    "batch_size",
                    self.batch_size.to_string(),
                    &format!(
                        "the global batch must split evenly over the {} devices (a multiple of {})",
                        devices.len(),
                        devices.len()
                    ),
                );
            }
            if self.optimizer.method == "ssam" && self.optimizer.fisher_samples < devices.len() {
                return invalid(
                    "optimizer.fisher_samples",
                    self.optimizer.fisher_samples.to_string(),
                    &format!(
                        "SSAM's Fisher examples are shared among the devices: at least one each ({})",
                        devices.len()
                    ),
                );
            }
        }
        if self.steps_per_epoch == Some(0) {
            return invalid("steps_per_epoch", "0".into(), "must be at least 1 when set");
        }
        if !(self.base.lr.is_finite() && self.base.lr > 0.0) {
            return invalid("base.lr", self.base.lr.to_string(), "must be positive");
        }
        if !(self.base.momentum.is_finite() && (0.0..1.0).contains(&self.base.momentum)) {
            return invalid(
                "base.momentum",
                self.base.momentum.to_string(),
                "must be in [0, 1)",
            );
        }
        if !(self.base.weight_decay.is_finite() && self.base.weight_decay >= 0.0) {
            return invalid(
                "base.weight_decay",
                self.base.weight_decay.to_string(),
                "must be >= 0",
            );
        }
        if let Schedule::Multistep { gamma, .. } = &self.schedule
            && !(gamma.is_finite() && *gamma > 0.0)
        {
            return invalid("schedule.gamma", gamma.to_string(), "must be positive");
        }
        if self.hessian_every > 0 && (self.hessian_samples == 0 || self.hessian_probes == 0) {
            return invalid(
                "hessian_samples",
                self.hessian_samples.to_string(),
                "Hessian metrics need at least one sample and one probe",
            );
        }
        Ok(())
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

    /// The configuration a resume of a run stored as `self` trains with,
    /// when `requested` is what the command line asked for: the stored
    /// settings, except those a run may change midway (more epochs,
    /// another backend or device(s), worker threads, where the data lives).
    /// Any other difference is an error listing every one of them.
    pub fn resumed_with(&self, requested: TrainConfig) -> Result<TrainConfig, ConfigError> {
        let mut resumed = self.clone();
        resumed.epochs = requested.epochs.max(self.epochs);
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
            Ok(resumed)
        } else {
            Err(ConfigError::ResumeChanged(changed))
        }
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = TrainConfig::default();
        assert_eq!(TrainConfig::from_toml(&c.to_toml()).unwrap(), c);
        c.validate().unwrap();
    }

    #[test]
    fn overrides_reach_nested_fields() {
        let c = TrainConfig::default()
            .with_overrides(&["optimizer.method=frob", "optimizer.rho=0.01", "epochs=3"])
            .unwrap();
        assert_eq!(c.optimizer.method, "frob");
        assert_eq!(c.optimizer.rho, Some(0.01));
        assert_eq!(c.epochs, 3);
    }

    #[test]
    fn command_line_names_parse() {
        assert_eq!(
            Schedule::of_kind(ScheduleKind::Multistep, &[], 0.2, 200),
            Schedule::Multistep {
                milestones: vec![50, 100, 150],
                gamma: 0.2
            }
        );
        assert_eq!("Cosine".parse::<ScheduleKind>(), Ok(ScheduleKind::Cosine));
        assert!(
            "step"
                .parse::<ScheduleKind>()
                .unwrap_err()
                .contains("multistep")
        );
        assert_eq!("adamw".parse::<BaseKind>(), Ok(BaseKind::Adamw));
        assert!(
            "lbfgs"
                .parse::<BaseKind>()
                .unwrap_err()
                .contains("sgd, adam")
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = TrainConfig::default()
            .with_overrides(&["optimizer.rhoo=1"])
            .unwrap_err();
        assert!(err.to_string().contains("rhoo"), "{err}");
        assert!(TrainConfig::from_toml("epochz = 3").is_err());
        assert!(matches!(
            TrainConfig::default().with_overrides(&["=3"]),
            Err(ConfigError::Set(_))
        ));
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        for set in [
            "label_noise=1.5",
            "data_fraction=0",
            "epochs=0",
            "base.lr=-1",
            "dataset=\"imagenet\"",
        ] {
            let c = TrainConfig::default().with_overrides(&[set]).unwrap();
            assert!(c.validate().is_err(), "{set} must be rejected");
        }
    }

    #[test]
    fn resume_lists_every_changed_setting_and_keeps_the_allowed_ones() {
        let stored = TrainConfig::default()
            .with_overrides(&["optimizer.method=frob", "epochs=4"])
            .unwrap();
        // More epochs and another backend are fine.
        let more = stored
            .clone()
            .with_overrides(&["epochs=9", "backend=\"ndarray\""])
            .unwrap();
        let resumed = stored.resumed_with(more).unwrap();
        assert_eq!((resumed.epochs, resumed.backend), (9, BackendKind::Ndarray));
        // Anything else is refused, naming each setting.
        let changed = stored
            .clone()
            .with_overrides(&["optimizer.method=sam", "optimizer.rho=0.1", "base.lr=0.2"])
            .unwrap();
        let err = stored.resumed_with(changed).unwrap_err().to_string();
        for needle in [
            "optimizer.method: \"frob\" -> \"sam\"",
            "optimizer.rho: unset -> 0.1",
            "base.lr",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
    }

    #[test]
    fn schedules() {
        let m = Schedule::Multistep {
            milestones: vec![50, 100, 150],
            gamma: 0.1,
        };
        assert_eq!(m.lr(0.1, 0, 200), 0.1);
        assert!((m.lr(0.1, 50, 200) - 0.01).abs() < 1e-15);
        assert!((m.lr(0.1, 199, 200) - 1e-4).abs() < 1e-15);
        let c = Schedule::Cosine { min_lr: 0.0 };
        assert_eq!(c.lr(0.1, 0, 11), 0.1);
        assert!(c.lr(0.1, 10, 11).abs() < 1e-15);
        assert!((c.lr(0.1, 5, 11) - 0.05).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn arbitrary_set_strings_never_panic(s in ".{0,40}") {
            let _ = TrainConfig::default().with_overrides(&[s]);
        }

        #[test]
        fn multistep_defaults_scale_the_papers_milestones(epochs in 1usize..1000) {
            let s = Schedule::of_kind(ScheduleKind::Multistep, &[], 0.1, epochs);
            let Schedule::Multistep { milestones, .. } = s else { panic!("{s:?}") };
            prop_assert!(milestones.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(milestones.iter().all(|&m| m < epochs));
        }

        #[test]
        fn multistep_never_increases(epoch in 0usize..300) {
            let m = Schedule::Multistep { milestones: vec![50, 100, 150], gamma: 0.1 };
            prop_assert!(m.lr(0.1, epoch + 1, 300) <= m.lr(0.1, epoch, 300));
        }
    }
}
