//! The paper-style table of a sweep's results: every run found under a
//! directory (its `summary.json` or `failed.json`), grouped into cells
//! (dataset, regime, method) with mean ± std over seeds, as Markdown and
//! CSV.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{FAILED, FailedRun, method_label};
use crate::records::Summary;

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

/// `values` as a table cell: `mean ± std (n=k)` over two or more, and
/// `value (n = 1, no spread)` for one, which has no spread to show (a
/// "± 0.00" would claim one); `decimals` digits; "-" for none.
pub fn spread(values: &[f64], decimals: usize) -> String {
    match values {
        [] => "-".into(),
        [one] => format!("{one:.decimals$} (n = 1, no spread)"),
        _ => {
            let (mean, std) = mean_std(values);
            format!("{mean:.decimals$} ± {std:.decimals$} (n={})", values.len())
        }
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
/// directory. A file that does not parse is named in a warning and left
/// out; when no file parses, that is an error naming the first one.
pub fn find_runs(dir: &Path) -> Result<Vec<FoundRun>, std::io::Error> {
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths.sort();
    // (run, method label before the learning rate, lr)
    let mut found: Vec<(FoundRun, Option<f64>)> = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                unreadable.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let run_dir = path.parent().unwrap_or(dir).to_path_buf();
        let parsed = if path.ends_with(FAILED) {
            serde_json::from_str::<FailedRun>(&text).map(|_| ())
        } else {
            serde_json::from_str::<Summary>(&text).map(|_| ())
        };
        if let Err(e) = parsed {
            unreadable.push(format!("{} is malformed: {e}", path.display()));
            continue;
        }
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
    if found.is_empty() && !unreadable.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "no readable run under {}: {}",
                dir.display(),
                unreadable.join("; ")
            ),
        ));
    }
    for u in &unreadable {
        tracing::warn!("left out of the table: {u}");
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
    let mut text = spread(&c.values, 2);
    match c.frobenius.as_slice() {
        [] => {}
        [one] => text.push_str(&format!(", ‖H‖F {one:.1}")),
        many => {
            let (mean, std) = mean_std(many);
            text.push_str(&format!(", ‖H‖F {mean:.1} ± {std:.1}"));
        }
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
