//! Grids of runs (methods x datasets x regimes x seeds) and the paper-style
//! table of their results (mean ± std over seeds, Markdown and CSV).
//!
//! A sweep is resumable: a run whose `summary.json` exists is skipped, one
//! with a checkpoint is resumed, the rest start fresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, TrainConfig};
use crate::records::Summary;

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
    /// Its configuration.
    pub config: TrainConfig,
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
}

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

    /// Expands the grid into runs under `out`, each validated.
    pub fn runs(&self, out: &Path) -> Result<Vec<SweepRun>, ConfigError> {
        let mut runs = Vec::new();
        for dataset in &self.datasets {
            for regime in &self.regimes {
                for method in &self.methods {
                    for &seed in &self.seeds {
                        let mut table = self.run.clone();
                        if let Some(extra) = self.dataset.get(dataset) {
                            merge(&mut table, extra);
                        }
                        table.insert("dataset".into(), dataset.clone().into());
                        table.insert("data_fraction".into(), regime.data_fraction.into());
                        table.insert("label_noise".into(), regime.label_noise.into());
                        table.insert("seed".into(), (seed as i64).into());
                        let mut optimizer = match table.remove("optimizer") {
                            Some(toml::Value::Table(t)) => t,
                            _ => toml::Table::new(),
                        };
                        if let Some(extra) = self.method.get(method) {
                            merge(&mut optimizer, extra);
                        }
                        optimizer.insert("method".into(), method.clone().into());
                        table.insert("optimizer".into(), optimizer.into());
                        let config: TrainConfig = toml::Value::Table(table).try_into().map_err(
                            |e: toml::de::Error| ConfigError::Parse {
                                path: None,
                                message: format!("{dataset}/{}/{method}: {e}", regime.name),
                            },
                        )?;
                        config.validate()?;
                        runs.push(SweepRun {
                            dir: out
                                .join(dataset)
                                .join(&regime.name)
                                .join(method)
                                .join(format!("seed-{seed}")),
                            config,
                        });
                    }
                }
            }
        }
        Ok(runs)
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
    if dir.join("summary.json").is_file() {
        RunStatus::Done
    } else if dir.join("state.json").is_file() {
        RunStatus::Resume
    } else {
        RunStatus::Fresh
    }
}

/// The regime label of a summary.
pub fn regime_label(s: &Summary) -> String {
    match (s.data_fraction < 1.0, s.label_noise > 0.0) {
        (false, false) => "full".into(),
        (true, false) => format!("limited {:.0}%", 100.0 * s.data_fraction),
        (false, true) => format!("noise {:.0}%", 100.0 * s.label_noise),
        (true, true) => format!(
            "limited {:.0}% + noise {:.0}%",
            100.0 * s.data_fraction,
            100.0 * s.label_noise
        ),
    }
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// One cell of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Dataset.
    pub dataset: String,
    /// Regime label.
    pub regime: String,
    /// Method.
    pub method: String,
    /// Test accuracies (percent), one per seed.
    pub values: Vec<f64>,
}

/// Collects every `summary.json` under `dir` into cells.
pub fn collect(dir: &Path) -> Result<Vec<Cell>, std::io::Error> {
    let mut found = Vec::new();
    walk(dir, &mut found)?;
    let mut cells: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for path in found {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // A summary of another format is not ours: skip it.
        let Ok(s) = serde_json::from_str::<Summary>(&text) else {
            continue;
        };
        cells
            .entry((s.dataset.clone(), regime_label(&s), s.method.clone()))
            .or_default()
            .push(100.0 * s.final_test.accuracy);
    }
    Ok(cells
        .into_iter()
        .map(|((dataset, regime, method), values)| Cell {
            dataset,
            regime,
            method,
            values,
        })
        .collect())
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.file_name().is_some_and(|n| n == "summary.json") {
            found.push(path);
        }
    }
    Ok(())
}

/// The Markdown table: one row per method, one column per (dataset, regime).
pub fn markdown(cells: &[Cell]) -> String {
    let mut columns: Vec<(String, String)> = cells
        .iter()
        .map(|c| (c.dataset.clone(), c.regime.clone()))
        .collect();
    columns.sort();
    columns.dedup();
    let mut methods: Vec<String> = cells.iter().map(|c| c.method.clone()).collect();
    methods.sort();
    methods.dedup();
    let mut out = String::from("| method |");
    for (d, r) in &columns {
        out.push_str(&format!(" {d} ({r}) |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for m in &methods {
        out.push_str(&format!("| {m} |"));
        for (d, r) in &columns {
            match cells
                .iter()
                .find(|c| &c.method == m && &c.dataset == d && &c.regime == r)
            {
                Some(c) => {
                    let (mean, std) = mean_std(&c.values);
                    out.push_str(&format!(" {mean:.2} ± {std:.2} (n={}) |", c.values.len()));
                }
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    out
}

/// The CSV table: dataset, regime, method, seeds, mean, std (accuracy in %).
pub fn csv(cells: &[Cell]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out =
        String::from("dataset,regime,method,seeds,mean_test_accuracy,std_test_accuracy\n");
    for c in cells {
        let (mean, std) = mean_std(&c.values);
        out.push_str(&format!(
            "{},{},{},{},{mean:.4},{std:.4}\n",
            quote(&c.dataset),
            quote(&c.regime),
            quote(&c.method),
            c.values.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWEEP: &str = r#"
methods = ["sgd", "frob"]
datasets = ["mnist-10k"]
seeds = [1, 2]
[[regimes]]
name = "full"
[[regimes]]
name = "noise"
label_noise = 0.2
[run]
epochs = 3
model = "mlp"
[run.optimizer]
scaling = "Exact"
[method.frob]
rho = 0.01
"#;

    #[test]
    fn grid_expands_with_overrides() {
        let sweep: SweepConfig = toml::from_str(SWEEP).unwrap();
        let runs = sweep.runs(Path::new("out")).unwrap();
        assert_eq!(runs.len(), 8);
        let frob = runs
            .iter()
            .find(|r| r.config.optimizer.method == "frob" && r.config.label_noise > 0.0)
            .unwrap();
        assert_eq!(frob.config.optimizer.rho, Some(0.01));
        assert_eq!(frob.config.epochs, 3);
        assert_eq!(
            frob.config.optimizer.scaling,
            sam_core::estimator::Scaling::Exact
        );
        assert!(frob.dir.ends_with("mnist-10k/noise/frob/seed-1"));
        let sgd = runs
            .iter()
            .find(|r| r.config.optimizer.method == "sgd")
            .unwrap();
        assert_eq!(
            sgd.config.optimizer.rho, None,
            "method overrides stay with their method"
        );
    }

    #[test]
    fn invalid_grid_entries_are_rejected() {
        let bad = SWEEP.replace("\"frob\"]", "\"frobb\"]");
        let sweep: SweepConfig = toml::from_str(&bad).unwrap();
        assert!(sweep.runs(Path::new("out")).is_err());
    }

    #[test]
    fn statistics_and_tables() {
        let (m, s) = mean_std(&[90.0, 92.0, 94.0]);
        assert!((m - 92.0).abs() < 1e-12 && (s - 2.0).abs() < 1e-12);
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
        let cells = vec![
            Cell {
                dataset: "cifar10".into(),
                regime: "full".into(),
                method: "sam".into(),
                values: vec![95.0, 96.0],
            },
            Cell {
                dataset: "cifar10".into(),
                regime: "noise 20%".into(),
                method: "sgd".into(),
                values: vec![80.0],
            },
        ];
        let md = markdown(&cells);
        assert!(md.contains("| sam | 95.50 ± 0.71 (n=2) | - |"), "{md}");
        assert!(md.contains("| sgd | - | 80.00 ± 0.00 (n=1) |"), "{md}");
        let csv = csv(&cells);
        assert!(csv.contains("cifar10,full,sam,2,95.5000,0.7071"), "{csv}");
    }
}
