//! A sweep worker: one `usam sweep` process working through a grid beside
//! any number of others, on this machine or on others sharing the
//! filesystem. Each run is claimed by its directory's lock (see
//! [`crate::lock`]): a worker takes the next run that is neither finished,
//! failed nor claimed, trains it (resuming its last checkpoint when an
//! earlier worker was interrupted) and moves on. The lock's heartbeat keeps
//! a claim alive while the run trains; a claim whose worker died is taken
//! over once it is stale (at once on the same host, after the lease on
//! another), and the run resumes.

use std::path::PathBuf;
use std::time::Duration;

use super::{FailedRun, RunStatus, SweepRun, status};
use crate::lock::{LockError, RunLock};
use crate::train::{RunError, RunOptions};

/// Which runs of the grid a worker may take: those whose index `i`
/// satisfies `i % count == index` (a static split for job arrays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This worker's part, from 0.
    pub index: usize,
    /// The number of parts.
    pub count: usize,
}

impl Shard {
    /// The whole grid.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether run `i` of the grid is this shard's.
    pub fn contains(&self, i: usize) -> bool {
        i % self.count == self.index
    }

    /// The shard a cluster scheduler gives this process: Slurm's job arrays
    /// (`SLURM_ARRAY_TASK_ID` from `SLURM_ARRAY_TASK_MIN`, of
    /// `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, of `USAM_SHARD_COUNT`, which the job sets to
    /// its completions).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let number = |name: &str| -> Result<Option<usize>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={v} is not a whole number")),
            }
        };
        let (index, count) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count = number("SLURM_ARRAY_TASK_COUNT")?
                .ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            (
                id.checked_sub(min)
                    .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?,
                count,
            )
        } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = number("USAM_SHARD_COUNT")?.ok_or(
                "JOB_COMPLETION_INDEX is set but USAM_SHARD_COUNT is not (set it to the Job's completions)",
            )?;
            (index, count)
        } else {
            return Err(
                "--shard auto needs a scheduler's index: SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); none is set"
                    .into(),
            );
        };
        Shard::new(index, count)
    }

    /// Part `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "the index must be below the count (0/{count} to {}/{count})",
                count.saturating_sub(1)
            ));
        }
        Ok(Shard { index, count })
    }
}

impl core::str::FromStr for Shard {
    type Err = String;

    /// `i/n`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| "expected i/n (part i of n, from 0) or auto".to_string())?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| "expected i/n with whole numbers".to_string())
        };
        Shard::new(parse(i)?, parse(n)?)
    }
}

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The runs it may take.
    pub shard: Shard,
    /// How long a claim on another host stays valid without a heartbeat.
    pub lease: Duration,
    /// Progress bars for each run.
    pub progress: bool,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkDone {
    /// Runs it trained to the end.
    pub trained: Vec<PathBuf>,
    /// Runs whose training it found diverging (`failed.json` written).
    pub failed: Vec<PathBuf>,
    /// Runs another worker held when this one came to them.
    pub elsewhere: Vec<PathBuf>,
}

/// Works through `runs` (the shard's ones) until none is left to take;
/// `say` receives one line per run taken or passed.
pub fn work(
    runs: Vec<SweepRun>,
    options: &WorkerOptions,
    say: &mut dyn FnMut(String),
) -> Result<WorkDone, RunError> {
    let mut done = WorkDone::default();
    let total = runs.len();
    for (i, run) in runs.into_iter().enumerate() {
        if !options.shard.contains(i) {
            continue;
        }
        let tag = format!("[{}/{total}] {}", i + 1, run.dir.display());
        let before = status(&run.dir);
        if matches!(before, RunStatus::Done | RunStatus::Failed) {
            say(format!("{tag} ({before:?})"));
            continue;
        }
        std::fs::create_dir_all(&run.dir).map_err(|source| crate::output::OutputError::Io {
            action: "cannot create",
            path: run.dir.clone(),
            source,
        })?;
        let lock = match RunLock::acquire_with_lease(&run.dir, "sweep", options.lease) {
            Ok(lock) => lock.keep_alive(),
            Err(LockError::Held { holder, .. }) => {
                say(format!("{tag}: taken by {holder}"));
                done.elsewhere.push(run.dir);
                continue;
            }
            Err(e) => return Err(crate::output::OutputError::from(e).into()),
        };
        // Under the claim: another worker may have finished it meanwhile.
        let now = status(&run.dir);
        if matches!(now, RunStatus::Done | RunStatus::Failed) {
            say(format!("{tag} ({now:?})"));
            continue;
        }
        say(format!("{tag} ({now:?}): training"));
        let failed = FailedRun::new(&run.config, "");
        let options = RunOptions {
            out: run.dir.clone(),
            resume: now == RunStatus::Resume,
            from_epoch: None,
            progress: options.progress,
            lock: Some(lock),
        };
        match crate::train::run(run.config, options) {
            Ok(summary) => {
                say(format!(
                    "    test accuracy {:.2}%",
                    100.0 * summary.final_test.accuracy
                ));
                done.trained.push(run.dir);
            }
            // A diverging run is a result of the sweep, not the end of it.
            Err(e @ RunError::Step { .. }) => {
                say(format!("    failed: {e}"));
                let record = FailedRun {
                    error: e.to_string(),
                    ..failed
                };
                record
                    .write(&run.dir)
                    .map_err(|source| crate::output::OutputError::Io {
                        action: "cannot record the failure in",
                        path: run.dir.clone(),
                        source,
                    })?;
                done.failed.push(run.dir);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shards_parse_and_refuse_what_they_cannot_be() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/2", "2/2", "0/0", "1", "a/b", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn schedulers_name_the_shard() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(Shard::from_env(slurm), Ok(Shard { index: 4, count: 8 }));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2"), ("USAM_SHARD_COUNT", "3")]);
        assert_eq!(Shard::from_env(k8s), Ok(Shard { index: 2, count: 3 }));
        let err = Shard::from_env(env(&[])).unwrap_err();
        assert!(err.contains("SLURM_ARRAY_TASK_ID") && err.contains("JOB_COMPLETION_INDEX"));
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")])).is_err());
    }

    proptest! {
        /// The shards of a split cover the grid exactly once.
        #[test]
        fn shards_partition_the_grid(count in 1usize..20, runs in 0usize..200) {
            let mut seen = vec![0; runs];
            for index in 0..count {
                let shard = Shard::new(index, count).unwrap();
                for (i, s) in seen.iter_mut().enumerate() {
                    if shard.contains(i) {
                        *s += 1;
                    }
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
        }
    }
}
