//! Grids of runs (methods x datasets x regimes x learning rates x seeds)
//! and the paper-style table of their results (mean ± std over seeds,
//! Markdown and CSV).
//!
//! A sweep is resumable: a run whose `summary.json` exists is skipped, one
//! with a checkpoint is resumed, the rest start fresh. A run whose training
//! step failed (a divergence) leaves `failed.json`; the sweep goes on, the
//! table counts it, and a later sweep skips it (delete the file to retry).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, RunConfig, TrainConfig};
use sam_burn::optim::Between;

/// A regime of the grid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegimeSpec {
    /// Name used in paths and tables (e.g. "full", "limited", "noise").
    pub name: String,
    /// Fraction of the training set kept.
    #[serde(default = "one")]
    pub data_fraction: f64,
    /// Fraction of corrupted labels.
    #[serde(default)]
    pub label_noise: f64,
}

/// A method's row label with its perturbation schedule: `frob`,
/// `frob every=5`, `frob every=5 reuse`.
pub fn method_label(method: &str, every: u64, between: Between) -> String {
    match (every, between) {
        (0 | 1, _) => method.to_string(),
        (k, Between::Base) => format!("{method} every={k}"),
        (k, Between::Reuse) => format!("{method} every={k} reuse"),
    }
}

fn one() -> f64 {
    1.0
}

/// A sweep file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Methods (`optimizer.method` values).
    pub methods: Vec<String>,
    /// Datasets.
    pub datasets: Vec<String>,
    /// Regimes.
    pub regimes: Vec<RegimeSpec>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Base learning rates to sweep (empty: `run.base.lr`, one run per
    /// cell); each gets its own `lr-<value>` directory and table row.
    #[serde(default)]
    pub lrs: Vec<f64>,
    /// Perturbation schedules to sweep (`optimizer.every` values; empty:
    /// the configured one). Methods with perturbed passes get an
    /// `every-<k>` directory and a table row per value; sgd runs once.
    #[serde(default)]
    pub every: Vec<u64>,
    /// What the steps between perturbed ones do, swept for each `every`
    /// above 1 (empty: the configured one); `reuse` runs get
    /// `every-<k>-reuse` directories.
    #[serde(default)]
    pub between: Vec<Between>,
    /// Settings shared by every run (a `TrainConfig` table).
    #[serde(default)]
    pub run: toml::Table,
    /// Per-method `optimizer` settings (e.g. `[method.sam] rho = 0.05`).
    #[serde(default)]
    pub method: BTreeMap<String, toml::Table>,
    /// Per-dataset settings (e.g. `[dataset.svhn] augment = true`).
    #[serde(default)]
    pub dataset: BTreeMap<String, toml::Table>,
}

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct SweepRun {
    /// Where it writes.
    pub dir: PathBuf,
    /// Its configuration, validated.
    pub config: RunConfig,
}

/// What to do with a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Finished earlier (summary.json exists).
    Done,
    /// Interrupted earlier (checkpoint exists).
    Resume,
    /// Not started.
    Fresh,
    /// Its training failed earlier (failed.json exists).
    Failed,
}

/// `failed.json`: a run whose training step failed, for the table's
/// divergence counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailedRun {
    /// Dataset.
    pub dataset: String,
    /// Method.
    pub method: String,
    /// Label-noise fraction.
    pub label_noise: f64,
    /// Data fraction.
    pub data_fraction: f64,
    /// Seed.
    pub seed: u64,
    /// The base optimizer's initial learning rate.
    pub lr: f64,
    /// The perturbation schedule's `every`.
    #[serde(default = "crate::records::one_step")]
    pub every: u64,
    /// What the steps between perturbed ones did.
    #[serde(default)]
    pub between: Between,
    /// The error, in words.
    pub error: String,
}

impl FailedRun {
    /// The record of `config`'s run failing with `error`.
    pub fn new(config: &TrainConfig, error: impl ToString) -> Self {
        Self {
            dataset: config.dataset.clone(),
            method: config.optimizer.name(),
            label_noise: config.label_noise,
            data_fraction: config.data_fraction,
            seed: config.seed,
            lr: config.base.lr,
            every: config.optimizer.schedule().every,
            between: config.optimizer.schedule().between,
            error: error.to_string(),
        }
    }

    /// Writes `failed.json` into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<(), std::io::Error> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(FAILED),
            serde_json::to_string_pretty(self).expect("serialises"),
        )
    }
}

pub(crate) const FAILED: &str = "failed.json";

impl SweepConfig {
    /// Reads a sweep file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: Some(path.to_path_buf()),
            message: e.to_string(),
        })
    }

    /// The (every, between) pairs of a method's runs (`None`: as
    /// configured); `between` is only swept where some steps are not
    /// perturbed.
    #[allow(clippy::type_complexity)]
    fn schedules(&self, perturbs: bool) -> Vec<Option<(u64, Option<Between>)>> {
        if self.every.is_empty() || !perturbs {
            return vec![None];
        }
        let mut out = Vec::new();
        for &every in &self.every {
            if every == 1 || self.between.is_empty() {
                out.push(Some((every, None)));
            } else {
                out.extend(self.between.iter().map(|&b| Some((every, Some(b)))));
            }
        }
        out
    }

    /// Expands the grid into runs under `out`, each with the overrides
    /// `sets` (`key=value`, as `--set` takes them) and validated.
    pub fn runs<S: AsRef<str>>(
        &self,
        out: &Path,
        sets: &[S],
    ) -> Result<Vec<SweepRun>, ConfigError> {
        let lrs: Vec<Option<f64>> = if self.lrs.is_empty() {
            vec![None]
        } else {
            self.lrs.iter().copied().map(Some).collect()
        };
        self.check_shared_optimizer()?;
        let (method_sets, run_sets): (Vec<&str>, Vec<&str>) = sets
            .iter()
            .map(AsRef::as_ref)
            .partition(|s| s.trim_start().starts_with("optimizer."));
        self.check_method_sets(&method_sets)?;
        let mut runs = Vec::new();
        for dataset in &self.datasets {
            for regime in &self.regimes {
                for method in &self.methods {
                    let perturbs = crate::config::method::defaults(method)
                        .map_err(|e| ConfigError::invalid("methods", method, e.to_string()))?
                        .perturbs();
                    for schedule in self.schedules(perturbs) {
                        for lr in &lrs {
                            for &seed in &self.seeds {
                                let cell = GridPoint {
                                    dataset,
                                    regime,
                                    method,
                                    schedule,
                                    lr: *lr,
                                    seed,
                                };
                                let mut sets = run_sets.clone();
                                sets.extend(applicable(&method_sets, method));
                                runs.push(SweepRun {
                                    dir: cell.dir(out),
                                    config: self
                                        .config(&cell)?
                                        .with_overrides(&sets)?
                                        .validate()?,
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(runs)
    }

    /// The run table's `[optimizer]` settings (shared by every method)
    /// must each be a field of some method of the sweep: a typo would
    /// otherwise apply to none.
    fn check_shared_optimizer(&self) -> Result<(), ConfigError> {
        let Some(toml::Value::Table(shared)) = self.run.get("optimizer") else {
            return Ok(());
        };
        if legacy_table(shared) {
            return Ok(());
        }
        let mut fields = vec!["method".to_string()];
        for m in &self.methods {
            if let Ok(c) = crate::config::method::defaults(m) {
                fields.extend(c.field_names());
            }
        }
        match shared.keys().find(|k| !fields.contains(k)) {
            Some(k) => Err(ConfigError::invalid(
                &format!("run.optimizer.{k}"),
                &shared[k],
                format!(
                    "no method of the sweep ({}) has this field",
                    self.methods.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// Each `--set optimizer.<field>=...` must name a field of some method
    /// of the sweep (it then applies to the methods that have the field).
    fn check_method_sets(&self, sets: &[&str]) -> Result<(), ConfigError> {
        for set in sets {
            let field = set_field(set);
            let used = field != "method"
                && self
                    .methods
                    .iter()
                    .any(|m| !applicable(&[set], m).is_empty());
            if !used {
                return Err(ConfigError::invalid(
                    &format!("--set optimizer.{field}"),
                    set,
                    format!(
                        "no method of the sweep ({}) has this field (each method's fields apply to it alone; the methods are the sweep's `methods`)",
                        self.methods.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The configuration of one cell of the grid: `[run]`, the dataset's
    /// table, the regime, the seed, the method (with the shared
    /// `[run.optimizer]` fields it has, then its own `[method.<name>]`
    /// table), the schedule and the learning rate.
    fn config(&self, cell: &GridPoint<'_>) -> Result<TrainConfig, ConfigError> {
        let mut table = self.run.clone();
        if let Some(extra) = self.dataset.get(cell.dataset) {
            merge(&mut table, extra);
        }
        table.insert("dataset".into(), cell.dataset.clone().into());
        table.insert("data_fraction".into(), cell.regime.data_fraction.into());
        table.insert("label_noise".into(), cell.regime.label_noise.into());
        table.insert("seed".into(), (cell.seed as i64).into());
        let optimizer = self.optimizer_table(&mut table, cell)?;
        table.insert("optimizer".into(), optimizer.into());
        if let Some(lr) = cell.lr {
            let base = table
                .entry("base")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(base) = base {
                base.insert("lr".into(), lr.into());
            }
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: None,
                message: format!("{}/{}/{}: {e}", cell.dataset, cell.regime.name, cell.method),
            })
    }

    /// The `[optimizer]` table of a cell's run.
    fn optimizer_table(
        &self,
        table: &mut toml::Table,
        cell: &GridPoint<'_>,
    ) -> Result<toml::Table, ConfigError> {
        let shared = match table.remove("optimizer") {
            Some(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        };
        let mut optimizer = if legacy_table(&shared) {
            // usam 0.1's layout: the migration drops what the method lacks.
            shared
        } else {
            let fields = crate::config::method::defaults(cell.method)
                .map(|c| c.field_names())
                .unwrap_or_default();
            shared
                .into_iter()
                .filter(|(k, _)| fields.contains(k))
                .collect()
        };
        if let Some(extra) = self.method.get(cell.method) {
            merge(&mut optimizer, extra);
        }
        optimizer.insert("method".into(), cell.method.clone().into());
        if let Some((every, between)) = cell.schedule {
            let mut schedule = toml::Table::new();
            schedule.insert("every".into(), (every as i64).into());
            if let Some(between) = between {
                schedule.insert("between".into(), between.to_string().into());
            }
            let mut nested = toml::Table::new();
            nested.insert("schedule".into(), schedule.into());
            merge(&mut optimizer, &nested);
        }
        Ok(optimizer)
    }
}

/// The top-level `[optimizer]` field that `optimizer.<path>=value` sets.
fn set_field(set: &str) -> &str {
    let key = set.split('=').next().unwrap_or_default().trim();
    let path = key.strip_prefix("optimizer.").unwrap_or(key);
    crate::config::field_of(path.split('.').next().unwrap_or_default())
}

/// The `optimizer.*` overrides that apply to `method`: those of its fields.
fn applicable<'s>(sets: &[&'s str], method: &str) -> Vec<&'s str> {
    let Ok(fields) = crate::config::method::defaults(method).map(|c| c.field_names()) else {
        return Vec::new();
    };
    sets.iter()
        .copied()
        .filter(|s| fields.iter().any(|f| f == set_field(s)))
        .collect()
}

/// Whether an `[optimizer]` table is in usam 0.1's layout.
fn legacy_table(table: &toml::Table) -> bool {
    crate::config::LEGACY_ONLY
        .iter()
        .any(|k| table.contains_key(*k))
}

/// One point of the grid: one run.
struct GridPoint<'a> {
    dataset: &'a String,
    regime: &'a RegimeSpec,
    method: &'a String,
    schedule: Option<(u64, Option<Between>)>,
    lr: Option<f64>,
    seed: u64,
}

impl GridPoint<'_> {
    /// `out/<dataset>/<regime>/<method>[/every-k[-reuse]][/lr-x]/seed-s`.
    fn dir(&self, out: &Path) -> PathBuf {
        let mut dir = out
            .join(self.dataset)
            .join(&self.regime.name)
            .join(self.method);
        match self.schedule {
            Some((every, Some(Between::Reuse))) => {
                dir = dir.join(format!("every-{every}-reuse"));
            }
            Some((every, _)) => dir = dir.join(format!("every-{every}")),
            None => {}
        }
        if let Some(lr) = self.lr {
            dir = dir.join(format!("lr-{lr}"));
        }
        dir.join(format!("seed-{}", self.seed))
    }
}

fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The status of a run directory.
pub fn status(dir: &Path) -> RunStatus {
    if dir.join(FAILED).is_file() {
        RunStatus::Failed
    } else if dir.join("summary.json").is_file() {
        RunStatus::Done
    } else if dir.join("state.json").is_file() {
        RunStatus::Resume
    } else {
        RunStatus::Fresh
    }
}

pub mod root;
pub mod status;
mod table;
pub mod worker;

pub use table::{
    Cell, FoundRun, cells, collect, csv, find_runs, markdown, mean_std, regime_label, spread,
    table_rows,
};

#[cfg(test)]
mod tests;
