//! A sweep's output root: `sweep.json` records which grid it holds, so a
//! sweep never writes into a directory that is not its own (a user's
//! files, another grid's runs). Checked and written under the root's lock.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SweepRun;
use crate::config::TrainConfig;
use crate::lock::RunLock;
use crate::output::OutputError;

/// The marker file of a sweep's root.
pub const MARKER: &str = "sweep.json";

/// What `sweep.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    /// SHA-256 over every run's directory and configuration (less what a
    /// run may change midway: backend, devices, workers, where the data
    /// lives), so workers on other devices share the grid.
    pub grid: String,
    /// Runs in the grid.
    pub runs: usize,
    /// Each run's directory, relative to the root, in grid order (what
    /// `usam sweep --status` and the partial tables count).
    #[serde(default)]
    pub dirs: Vec<String>,
}

/// Why a sweep cannot use its `--out`.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The directory holds another grid's runs.
    #[error(
        "{dir} holds another sweep (its sweep.json records a grid of {theirs} runs that differs from this one of {ours}): nothing was changed; use another --out, or the same sweep file and --set flags"
    )]
    OtherGrid {
        /// The root.
        dir: std::path::PathBuf,
        /// Runs in its recorded grid.
        theirs: usize,
        /// Runs in this grid.
        ours: usize,
    },
    /// The directory holds files that no sweep wrote.
    #[error(
        "{dir} is not empty and is not a sweep's directory ({found} is not a sweep's): nothing was changed; choose another --out"
    )]
    Foreign {
        /// The root.
        dir: std::path::PathBuf,
        /// One of the foreign entries.
        found: String,
    },
    /// The root cannot be read, written or locked.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl Marker {
    /// The marker of `runs` under `root`.
    pub fn of(root: &Path, runs: &[SweepRun]) -> Self {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for run in runs {
            let rel = run.dir.strip_prefix(root).unwrap_or(&run.dir);
            hash.update(rel.to_string_lossy().as_bytes());
            hash.update([0]);
            hash.update(grid_identity(&run.config).to_toml().as_bytes());
            hash.update([0]);
        }
        Self {
            grid: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            runs: runs.len(),
            dirs: runs
                .iter()
                .map(|r| {
                    let rel = r.dir.strip_prefix(root).unwrap_or(&r.dir);
                    rel.to_string_lossy().into_owned()
                })
                .collect(),
        }
    }

    /// The marker of the sweep in `root`, if it is one.
    pub fn read(root: &Path) -> Option<Marker> {
        let bytes = std::fs::read(root.join(MARKER)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// How many of its runs are finished (or failed), of how many.
    pub fn progress(&self, root: &Path) -> (usize, usize) {
        let done = self
            .dirs
            .iter()
            .filter(|d| {
                matches!(
                    super::status(&root.join(d)),
                    super::RunStatus::Done | super::RunStatus::Failed
                )
            })
            .count();
        (done, self.runs)
    }
}

/// A run's configuration without what a worker may choose for itself.
fn grid_identity(cfg: &TrainConfig) -> TrainConfig {
    let default = TrainConfig::default();
    TrainConfig {
        backend: default.backend,
        device: default.device,
        devices: default.devices,
        workers: default.workers,
        data_dir: default.data_dir,
        download: default.download,
        log_steps: default.log_steps,
        ..cfg.clone()
    }
}

/// Makes `root` this grid's: creates it and writes `sweep.json`, or checks
/// the one there. A directory without a marker is taken only when it is
/// empty or holds nothing but this grid's run directories and reports (a
/// sweep of an earlier usam); `dry_run` writes nothing.
pub fn claim(root: &Path, runs: &[SweepRun], dry_run: bool) -> Result<(), RootError> {
    let ours = Marker::of(root, runs);
    if !root.exists() {
        if dry_run {
            return Ok(());
        }
        std::fs::create_dir_all(root).map_err(|source| OutputError::Io {
            action: "cannot create",
            path: root.to_path_buf(),
            source,
        })?;
    }
    // Other workers hold the root only while they claim it or write the
    // report: a moment.
    let _lock = (!dry_run)
        .then(|| RunLock::acquire_waiting(root, "sweep", std::time::Duration::from_secs(120)))
        .transpose()
        .map_err(OutputError::from)?;
    let path = root.join(MARKER);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Marker>(&bytes) {
            Ok(theirs) if theirs.grid == ours.grid => return Ok(()),
            Ok(theirs) => {
                return Err(RootError::OtherGrid {
                    dir: root.to_path_buf(),
                    theirs: theirs.runs,
                    ours: ours.runs,
                });
            }
            Err(_) => {
                return Err(RootError::Foreign {
                    dir: root.to_path_buf(),
                    found: MARKER.into(),
                });
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(OutputError::Io {
                action: "cannot read",
                path,
                source,
            }
            .into());
        }
    }
    if let Some(found) = foreign_entry(root, runs)? {
        return Err(RootError::Foreign {
            dir: root.to_path_buf(),
            found,
        });
    }
    if !dry_run {
        let json = serde_json::to_string_pretty(&ours).expect("a marker serialises");
        crate::output::write_atomic(&path, json.as_bytes())?;
    }
    Ok(())
}

/// An entry of `root` that this grid's sweep would not have written.
fn foreign_entry(root: &Path, runs: &[SweepRun]) -> Result<Option<String>, OutputError> {
    let tops: Vec<String> = runs
        .iter()
        .filter_map(|r| r.dir.strip_prefix(root).ok())
        .filter_map(|rel| rel.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let entries = std::fs::read_dir(root).map_err(|source| OutputError::Io {
        action: "cannot read",
        path: root.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = tops.contains(&name)
            || name.starts_with(crate::lock::LOCK_FILE)
            || name == "report.html"
            || name == "report.md"
            || (name.starts_with("report-") && name.ends_with(".svg"));
        if !ours {
            return Ok(Some(name));
        }
    }
    Ok(None)
}
