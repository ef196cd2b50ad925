//! `usam sweep --status DIR`: where each run of a sweep stands (done,
//! running with its worker, epoch and ETA, interrupted, failed, pending),
//! from the files the runs and workers leave.

use std::path::Path;

use super::root::Marker;
use super::{RunStatus, status};
use crate::lock::{Holder, inspect};
use crate::records::RunState;

/// Where one run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// Finished: its `summary.json` exists.
    Done,
    /// Its training diverged: `failed.json`.
    Failed,
    /// A live worker holds it.
    Running {
        /// The worker.
        worker: Holder,
        /// Epochs done so far, of how many.
        epoch: (usize, usize),
        /// Seconds left, from the epochs' wall times so far.
        eta_seconds: Option<f64>,
    },
    /// A checkpoint and no live worker: the next worker resumes it.
    Interrupted {
        /// Epochs done.
        epoch: usize,
    },
    /// Not started.
    Pending,
}

/// The standing of every run of the sweep in `root`, in grid order;
/// `None` when `root` holds no sweep (`sweep.json`).
pub fn standings(root: &Path) -> Option<Vec<(String, Standing)>> {
    let marker = Marker::read(root)?;
    Some(
        marker
            .dirs
            .iter()
            .map(|d| (d.clone(), standing(&root.join(d))))
            .collect(),
    )
}

fn standing(dir: &Path) -> Standing {
    let state = || -> Option<RunState> {
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).ok()?).ok()
    };
    match status(dir) {
        RunStatus::Done => return Standing::Done,
        RunStatus::Failed => return Standing::Failed,
        _ => {}
    }
    let state = state();
    match inspect(dir) {
        Some((worker, false)) => {
            let (done, epochs) = state
                .as_ref()
                .map_or((0, 0), |s| (s.epochs_done, s.config.epochs));
            let eta_seconds = state.as_ref().and_then(|s| {
                let last = s.history.last()?;
                let per_epoch = last.wall_seconds / s.epochs_done.max(1) as f64;
                Some(per_epoch * epochs.saturating_sub(done) as f64)
            });
            Standing::Running {
                worker,
                epoch: (done, epochs),
                eta_seconds,
            }
        }
        _ => match state {
            Some(s) => Standing::Interrupted {
                epoch: s.epochs_done,
            },
            None => Standing::Pending,
        },
    }
}

/// The standings as text: one line per run, then the counts.
pub fn render(standings: &[(String, Standing)]) -> String {
    let mut out = String::new();
    let (mut done, mut failed, mut running, mut waiting) = (0, 0, 0, 0);
    for (dir, s) in standings {
        let text = match s {
            Standing::Done => {
                done += 1;
                "done".to_string()
            }
            Standing::Failed => {
                failed += 1;
                "failed (diverged)".to_string()
            }
            Standing::Running {
                worker,
                epoch: (e, n),
                eta_seconds,
            } => {
                running += 1;
                let eta =
                    eta_seconds.map_or_else(String::new, |s| format!(", about {s:.0} s left"));
                format!(
                    "running: epoch {e} of {n}, pid {} on {}{eta}",
                    worker.pid, worker.host
                )
            }
            Standing::Interrupted { epoch } => {
                waiting += 1;
                format!("interrupted after epoch {epoch} (the next worker resumes it)")
            }
            Standing::Pending => {
                waiting += 1;
                "pending".to_string()
            }
        };
        out.push_str(&format!("{dir}: {text}\n"));
    }
    out.push_str(&format!(
        "{done} done, {running} running, {failed} failed, {waiting} pending or interrupted, of {}\n",
        standings.len()
    ));
    out
}

/// Whether every run is finished or failed.
pub fn all_done(standings: &[(String, Standing)]) -> bool {
    standings
        .iter()
        .all(|(_, s)| matches!(s, Standing::Done | Standing::Failed))
}
