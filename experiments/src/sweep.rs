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

use crate::config::{ConfigError, TrainConfig};
use crate::records::Summary;
use sam_core::schedule::Between;

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
            method: config.optimizer.method.clone(),
            label_noise: config.label_noise,
            data_fraction: config.data_fraction,
            seed: config.seed,
            lr: config.base.lr,
            every: config.optimizer.every,
            between: config.optimizer.between,
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

const FAILED: &str = "failed.json";

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

    /// Expands the grid into runs under `out`, each validated.
    pub fn runs(&self, out: &Path) -> Result<Vec<SweepRun>, ConfigError> {
        let mut runs = Vec::new();
        for dataset in &self.datasets {
            for regime in &self.regimes {
                for method in &self.methods {
                    let lrs: Vec<Option<f64>> = if self.lrs.is_empty() {
                        vec![None]
                    } else {
                        self.lrs.iter().copied().map(Some).collect()
                    };
                    let perturbs = !matches!(method.to_ascii_lowercase().as_str(), "sgd" | "base");
                    let schedules = self.schedules(perturbs);
                    for (schedule, lr, &seed) in schedules.iter().flat_map(|schedule| {
                        lrs.iter()
                            .flat_map(move |lr| self.seeds.iter().map(move |s| (schedule, lr, s)))
                    }) {
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
                        if let Some((every, between)) = schedule {
                            optimizer.insert("every".into(), (*every as i64).into());
                            if let Some(between) = between {
                                optimizer.insert("between".into(), between.to_string().into());
                            }
                        }
                        table.insert("optimizer".into(), optimizer.into());
                        if let Some(lr) = lr {
                            let mut base = match table.remove("base") {
                                Some(toml::Value::Table(t)) => t,
                                _ => toml::Table::new(),
                            };
                            base.insert("lr".into(), (*lr).into());
                            table.insert("base".into(), base.into());
                        }
                        let config: TrainConfig = toml::Value::Table(table).try_into().map_err(
                            |e: toml::de::Error| ConfigError::Parse {
                                path: None,
                                message: format!("{dataset}/{}/{method}: {e}", regime.name),
                            },
                        )?;
                        crate::optimizer::method_config(&config)?;
                        let mut dir = out.join(dataset).join(&regime.name).join(method);
                        match schedule {
                            Some((every, Some(Between::Reuse))) => {
                                dir = dir.join(format!("every-{every}-reuse"));
                            }
                            Some((every, _)) => dir = dir.join(format!("every-{every}")),
                            None => {}
                        }
                        if let Some(lr) = lr {
                            dir = dir.join(format!("lr-{lr}"));
                        }
                        runs.push(SweepRun {
                            dir: dir.join(format!("seed-{seed}")),
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

/// The regime label of a summary.
pub fn regime_label(s: &Summary) -> String {
    regime_of(s.data_fraction, s.label_noise)
}

fn regime_of(fraction: f64, noise: f64) -> String {
    match (fraction < 1.0, noise > 0.0) {
        (false, false) => "full".into(),
        (true, false) => format!("limited {:.0}%", 100.0 * fraction),
        (false, true) => format!("noise {:.0}%", 100.0 * noise),
        (true, true) => format!(
            "limited {:.0}% + noise {:.0}%",
            100.0 * fraction,
            100.0 * noise
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
    /// Test accuracies (percent), one per finished seed.
    pub values: Vec<f64>,
    /// Final Hessian Frobenius norms `||H||_F`, one per finished seed that
    /// measured it.
    pub frobenius: Vec<f64>,
    /// Seconds of training steps (evaluation and Hessian excluded), one
    /// per finished seed that recorded them.
    pub train_seconds: Vec<f64>,
    /// Seeds whose training failed (diverged).
    pub failed: usize,
}

/// A run found under a directory, labelled as the tables label it.
#[derive(Debug, Clone)]
pub struct FoundRun {
    /// The run's directory.
    pub dir: PathBuf,
    /// Dataset.
    pub dataset: String,
    /// Regime label.
    pub regime: String,
    /// Row label: the method with its schedule, and its learning rate
    /// where one method ran at several (`frob every=5`, `frob lr=0.05`).
    pub label: String,
    /// The summary of a finished run; `None` for one that failed.
    pub summary: Option<Summary>,
}

/// Every run under `dir` (its `summary.json` or `failed.json`), sorted by
/// directory. Files of another format are skipped.
pub fn find_runs(dir: &Path) -> Result<Vec<FoundRun>, std::io::Error> {
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths.sort();
    // (run, method label before the learning rate, lr)
    let mut found: Vec<(FoundRun, Option<f64>)> = Vec::new();
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let run_dir = path.parent().unwrap_or(dir).to_path_buf();
        if path.ends_with(FAILED) {
            if let Ok(f) = serde_json::from_str::<FailedRun>(&text) {
                found.push((
                    FoundRun {
                        dir: run_dir,
                        regime: regime_of(f.data_fraction, f.label_noise),
                        label: method_label(&f.method, f.every, f.between),
                        dataset: f.dataset,
                        summary: None,
                    },
                    Some(f.lr),
                ));
            }
        } else if let Ok(s) = serde_json::from_str::<Summary>(&text) {
            found.push((
                FoundRun {
                    dir: run_dir,
                    dataset: s.dataset.clone(),
                    regime: regime_label(&s),
                    label: method_label(&s.method, s.every, s.between),
                    summary: Some(s.clone()),
                },
                s.lr,
            ));
        }
    }
    let mut rates: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (f, lr) in &found {
        let r = rates.entry(f.label.clone()).or_default();
        r.extend(lr.map(f64::to_bits));
        r.sort_unstable();
        r.dedup();
    }
    Ok(found
        .into_iter()
        .map(|(mut f, lr)| {
            if let Some(lr) = lr
                && rates.get(&f.label).is_some_and(|r| r.len() > 1)
            {
                f.label = format!("{} lr={lr}", f.label);
            }
            f
        })
        .collect())
}

/// Collects every `summary.json` (and `failed.json`) under `dir` into
/// cells. Runs of one method at several learning rates get one row per
/// rate (`frob lr=0.05`), and at several schedules one per schedule
/// (`frob every=5`).
pub fn collect(dir: &Path) -> Result<Vec<Cell>, std::io::Error> {
    Ok(cells(&find_runs(dir)?))
}

/// Groups runs into cells.
pub fn cells(runs: &[FoundRun]) -> Vec<Cell> {
    let mut cells: BTreeMap<(String, String, String), Cell> = BTreeMap::new();
    for f in runs {
        let key = (f.dataset.clone(), f.regime.clone(), f.label.clone());
        let cell = cells.entry(key.clone()).or_insert_with(|| Cell {
            dataset: key.0,
            regime: key.1,
            method: key.2,
            values: Vec::new(),
            frobenius: Vec::new(),
            train_seconds: Vec::new(),
            failed: 0,
        });
        match &f.summary {
            Some(s) => {
                cell.values.push(100.0 * s.final_test.accuracy);
                cell.frobenius
                    .extend(s.final_hessian.map(|h| h.frobenius.value));
                cell.train_seconds.extend(s.train_seconds);
            }
            None => cell.failed += 1,
        }
    }
    cells.into_values().collect()
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path
            .file_name()
            .is_some_and(|n| n == "summary.json" || n == FAILED)
        {
            found.push(path);
        }
    }
    Ok(())
}

/// A cell as the Markdown table prints it.
fn cell_text(c: &Cell) -> String {
    let mut text = if c.values.is_empty() {
        String::from("-")
    } else {
        let (mean, std) = mean_std(&c.values);
        format!("{mean:.2} ± {std:.2} (n={})", c.values.len())
    };
    if !c.frobenius.is_empty() {
        let (mean, std) = mean_std(&c.frobenius);
        text.push_str(&format!(", ‖H‖F {mean:.1} ± {std:.1}"));
    }
    if !c.train_seconds.is_empty() {
        text.push_str(&format!(", train {:.1} s", mean_std(&c.train_seconds).0));
    }
    if c.failed > 0 {
        text.push_str(&format!(
            ", {} of {} diverged",
            c.failed,
            c.failed + c.values.len()
        ));
    }
    text
}

/// The paper's table as text: the header (method, then one column per
/// dataset and regime) and one row per method.
pub fn table_rows(cells: &[Cell]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut columns: Vec<(String, String)> = cells
        .iter()
        .map(|c| (c.dataset.clone(), c.regime.clone()))
        .collect();
    columns.sort();
    columns.dedup();
    let mut methods: Vec<String> = cells.iter().map(|c| c.method.clone()).collect();
    methods.sort();
    methods.dedup();
    let mut header = vec![String::from("method")];
    header.extend(columns.iter().map(|(d, r)| format!("{d} ({r})")));
    let rows = methods
        .iter()
        .map(|m| {
            let mut row = vec![m.clone()];
            row.extend(columns.iter().map(|(d, r)| {
                cells
                    .iter()
                    .find(|c| &c.method == m && &c.dataset == d && &c.regime == r)
                    .map_or_else(|| "-".to_string(), cell_text)
            }));
            row
        })
        .collect();
    (header, rows)
}

/// The Markdown table: one row per method, one column per (dataset, regime).
pub fn markdown(cells: &[Cell]) -> String {
    let (header, rows) = table_rows(cells);
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = line(&header);
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in &rows {
        out.push_str(&line(row));
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
    let mut out = String::from(
        "dataset,regime,method,seeds,mean_test_accuracy,std_test_accuracy,failed,mean_hessian_frobenius,std_hessian_frobenius,mean_train_seconds,std_train_seconds\n",
    );
    let stats = |v: &[f64]| {
        if v.is_empty() {
            (String::new(), String::new())
        } else {
            let (m, s) = mean_std(v);
            (format!("{m:.4}"), format!("{s:.4}"))
        }
    };
    for c in cells {
        let (mean, std) = stats(&c.values);
        let (fmean, fstd) = stats(&c.frobenius);
        let (wmean, wstd) = stats(&c.train_seconds);
        out.push_str(&format!(
            "{},{},{},{},{mean},{std},{},{fmean},{fstd},{wmean},{wstd}\n",
            quote(&c.dataset),
            quote(&c.regime),
            quote(&c.method),
            c.values.len(),
            c.failed
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
                frobenius: Vec::new(),
                train_seconds: Vec::new(),
                failed: 0,
            },
            Cell {
                dataset: "cifar10".into(),
                regime: "noise 20%".into(),
                method: "sgd".into(),
                values: vec![80.0],
                frobenius: Vec::new(),
                train_seconds: Vec::new(),
                failed: 0,
            },
            Cell {
                dataset: "cifar10".into(),
                regime: "full".into(),
                method: "frob lr=0.1".into(),
                values: vec![90.0],
                frobenius: vec![12.0, 14.0],
                train_seconds: Vec::new(),
                failed: 2,
            },
        ];
        let md = markdown(&cells);
        assert!(md.contains("| sam | 95.50 ± 0.71 (n=2) | - |"), "{md}");
        assert!(md.contains("| sgd | - | 80.00 ± 0.00 (n=1) |"), "{md}");
        assert!(
            md.contains(
                "| frob lr=0.1 | 90.00 ± 0.00 (n=1), ‖H‖F 13.0 ± 1.4, 2 of 3 diverged | - |"
            ),
            "{md}"
        );
        let csv = csv(&cells);
        assert!(
            csv.contains("cifar10,full,sam,2,95.5000,0.7071,0,,"),
            "{csv}"
        );
        assert!(
            csv.contains("cifar10,full,frob lr=0.1,1,90.0000,0.0000,2,13.0000,1.4142"),
            "{csv}"
        );
    }

    #[test]
    fn learning_rates_expand_and_failures_are_counted() {
        let sweep: SweepConfig =
            toml::from_str(&SWEEP.replace("seeds = [1, 2]", "seeds = [1, 2]\nlrs = [0.01, 0.1]"))
                .unwrap();
        let runs = sweep.runs(Path::new("out")).unwrap();
        assert_eq!(runs.len(), 16);
        let fast = runs
            .iter()
            .find(|r| r.dir.ends_with("mnist-10k/full/frob/lr-0.1/seed-2"))
            .expect("one directory per rate");
        assert_eq!(fast.config.base.lr, 0.1);

        let dir = std::env::temp_dir().join(format!("usam-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for run in runs.iter().filter(|r| r.config.label_noise == 0.0) {
            let path = dir.join(run.dir.strip_prefix("out").unwrap());
            FailedRun::new(&run.config, "epoch 2, step 5: NaN")
                .write(&path)
                .unwrap();
            assert_eq!(status(&path), RunStatus::Failed);
        }
        let cells = collect(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // One row per (method, lr), each with its two failed seeds.
        let rows: Vec<(&str, usize)> = cells
            .iter()
            .map(|c| (c.method.as_str(), c.failed))
            .collect();
        assert_eq!(
            rows,
            [
                ("frob lr=0.01", 2),
                ("frob lr=0.1", 2),
                ("sgd lr=0.01", 2),
                ("sgd lr=0.1", 2)
            ]
        );
    }

    #[test]
    fn schedules_expand_for_perturbing_methods_only() {
        let sweep: SweepConfig = toml::from_str(&SWEEP.replace(
            "seeds = [1, 2]",
            "seeds = [1]\nevery = [1, 5]\nbetween = [\"base\", \"reuse\"]",
        ))
        .unwrap();
        let runs = sweep.runs(Path::new("out")).unwrap();
        // Per regime: sgd once, frob at every 1 and at every 5 both ways.
        assert_eq!(runs.len(), 2 * (1 + 3));
        let dirs: Vec<String> = runs
            .iter()
            .filter(|r| r.config.label_noise == 0.0)
            .map(|r| r.dir.display().to_string())
            .collect();
        assert_eq!(
            dirs,
            [
                "out/mnist-10k/full/sgd/seed-1",
                "out/mnist-10k/full/frob/every-1/seed-1",
                "out/mnist-10k/full/frob/every-5/seed-1",
                "out/mnist-10k/full/frob/every-5-reuse/seed-1",
            ]
        );
        let reuse = runs
            .iter()
            .find(|r| r.dir.ends_with("every-5-reuse/seed-1"))
            .unwrap();
        assert_eq!(
            (reuse.config.optimizer.every, reuse.config.optimizer.between),
            (5, Between::Reuse)
        );
        assert_eq!(
            method_label("frob", 5, Between::Reuse),
            "frob every=5 reuse"
        );
        assert_eq!(method_label("frob", 1, Between::Reuse), "frob");

        // Rows by schedule, from the failures' records.
        let dir = std::env::temp_dir().join(format!("usam-sweep-every-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for run in runs.iter().filter(|r| r.config.label_noise == 0.0) {
            FailedRun::new(&run.config, "NaN")
                .write(&dir.join(run.dir.strip_prefix("out").unwrap()))
                .unwrap();
        }
        let cells = collect(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let rows: Vec<&str> = cells.iter().map(|c| c.method.as_str()).collect();
        assert_eq!(rows, ["frob", "frob every=5", "frob every=5 reuse", "sgd"]);
    }
}
