//! The output directory of a run: created fresh (never over someone's
//! files), locked against a second writer while it is open, written
//! atomically, reopened for `--resume`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::lock::{LockError, RunLock};

/// Why an output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The directory exists and holds files, and this is not a resume.
    #[error(
        "output directory {0} already exists and is not empty: nothing was changed; pass --resume to continue that run, or choose another --out"
    )]
    NotEmpty(PathBuf),
    /// The output path names a file, not a directory.
    #[error("{0} is a file, not a directory: nothing was changed; choose another --out")]
    NotADirectory(PathBuf),
    /// A file the command would write exists already.
    #[error(
        "{0} already exists: nothing was written; pass --force to replace it, or choose another path"
    )]
    FileExists(PathBuf),
    /// `--resume` found no checkpoint.
    #[error("cannot resume: {0} holds no checkpoint (state.json)")]
    NothingToResume(PathBuf),
    /// Another process writes to the directory.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// `eval` or `hessian` was pointed at a directory without a run.
    #[error("{0} holds no trained run (no state.json): pass the --out directory of `usam train`")]
    NoRun(PathBuf),
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> OutputError + 'a {
    move |source| OutputError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A run's output directory.
#[derive(Debug)]
pub struct OutputDir {
    root: PathBuf,
    /// Whether [`OutputDir::create`] made the directory (so
    /// [`OutputDir::abandon`] may remove it again).
    created: bool,
    /// Files written through this handle, for [`OutputDir::abandon`].
    written: std::sync::Mutex<Vec<String>>,
    /// The directory's lock, held while this handle writes to it.
    lock: Option<RunLock>,
}

/// How a directory gets its lock: taken now for a command, or one already
/// held (a sweep worker's claim on a run).
#[derive(Debug)]
pub enum Claim {
    /// Take the lock now, for this command.
    Take(&'static str),
    /// The lock, already taken.
    Held(RunLock),
}

impl From<&'static str> for Claim {
    fn from(command: &'static str) -> Self {
        Claim::Take(command)
    }
}

impl Claim {
    /// The lock of `root`.
    fn lock(self, root: &Path) -> Result<RunLock, OutputError> {
        match self {
            Claim::Take(command) => Ok(RunLock::acquire(root, command)?.keep_alive()),
            Claim::Held(lock) => Ok(lock),
        }
    }
}

/// What a run that stopped before its first checkpoint may leave behind:
/// the same command starts it again over these.
const PRE_CHECKPOINT: [&str; 2] = ["config.toml", "steps.jsonl"];

impl OutputDir {
    /// Creates `root` for a new run and locks it (or keeps the lock the
    /// claim holds). An existing
    /// directory must be empty, or hold only what a run of usam that
    /// stopped before its first checkpoint left (its `config.toml`, and
    /// `steps.jsonl`), which is replaced with a note; anything else is an
    /// error, and nothing in the directory is deleted or overwritten.
    pub fn create(root: &Path, claim: impl Into<Claim>) -> Result<Self, OutputError> {
        if root.exists() && !root.is_dir() {
            return Err(OutputError::NotADirectory(root.to_path_buf()));
        }
        let created = !root.exists();
        fs::create_dir_all(root).map_err(io("cannot create", root))?;
        let lock = claim.into().lock(root)?;
        let entries = user_entries(root)?;
        if !entries.is_empty() {
            if !stopped_before_checkpoint(root, &entries) {
                return Err(OutputError::NotEmpty(root.to_path_buf()));
            }
            tracing::warn!(
                "{}: a run that stopped before its first checkpoint left {}: starting it afresh",
                root.display(),
                entries.join(" and ")
            );
            for name in &entries {
                let _ = fs::remove_file(root.join(name));
            }
        }
        Ok(Self::at(root, created, Some(lock)))
    }

    fn at(root: &Path, created: bool, lock: Option<RunLock>) -> Self {
        Self {
            root: root.to_path_buf(),
            created,
            written: Default::default(),
            lock,
        }
    }

    /// Opens an existing run's directory for `--resume`, and locks it (or
    /// keeps the lock the claim holds).
    pub fn open(root: &Path, claim: impl Into<Claim>) -> Result<Self, OutputError> {
        if !root.join("state.json").is_file() {
            return Err(OutputError::NothingToResume(root.to_path_buf()));
        }
        let lock = claim.into().lock(root)?;
        Ok(Self::at(root, false, Some(lock)))
    }

    /// Whether `root` holds only what a run that stopped before its first
    /// checkpoint left (then `--resume` starts it afresh).
    pub fn stopped_before_first_checkpoint(root: &Path) -> bool {
        user_entries(root).is_ok_and(|e| !e.is_empty() && stopped_before_checkpoint(root, &e))
    }

    /// Opens a trained run's directory to read it (`eval`, `hessian`),
    /// without a lock.
    pub fn open_run(root: &Path) -> Result<Self, OutputError> {
        if !root.join("state.json").is_file() {
            return Err(OutputError::NoRun(root.to_path_buf()));
        }
        Ok(Self::at(root, false, None))
    }

    /// Whether a checkpoint (`state.json`) exists.
    pub fn has_checkpoint(&self) -> bool {
        self.path("state.json").is_file()
    }

    /// Undoes a run that failed before its first checkpoint: removes the
    /// files written through this handle, and the directory if
    /// [`create`](Self::create) made it and nothing else is in it, so the
    /// same command can simply be run again. Never touches other files.
    pub fn abandon(mut self) {
        drop(self.lock.take());
        let written = std::mem::take(
            &mut *self
                .written
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for name in written {
            let _ = fs::remove_file(self.root.join(name));
        }
        if self.created {
            // Fails, harmlessly, when the directory is not empty.
            let _ = fs::remove_dir(&self.root);
        }
    }

    /// A directory that does not exist yet: `base`, else `base-2`, `base-3`...
    pub fn fresh_path(base: &Path) -> PathBuf {
        if !base.exists() {
            return base.to_path_buf();
        }
        (2..)
            .map(|i| PathBuf::from(format!("{}-{i}", base.display())))
            .find(|p| !p.exists())
            .expect("some suffix is free")
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Writes `name` atomically: a temporary file in the same directory,
    /// flushed to disk, then renamed over the target.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, OutputError> {
        write_atomic(&self.path(name), bytes)?;
        self.remember(name);
        Ok(self.path(name))
    }

    /// Appends `bytes` to `name` (created if missing): logs that grow
    /// step by step.
    pub fn append(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, OutputError> {
        let path = self.path(name);
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        file.write_all(bytes).map_err(io("cannot write", &path))?;
        self.remember(name);
        Ok(path)
    }

    /// Notes `name` as written by this handle, for [`OutputDir::abandon`].
    fn remember(&self, name: &str) {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !written.iter().any(|w| w == name) {
            written.push(name.to_string());
        }
    }

    /// Reads `name`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, OutputError> {
        let path = self.path(name);
        fs::read(&path).map_err(io("cannot read", &path))
    }

    /// Removes a file this program wrote earlier (old checkpoints only).
    pub fn remove_own(&self, name: &str) {
        let _ = fs::remove_file(self.path(name));
    }
}

/// The directory's entries but its lock files.
fn user_entries(root: &Path) -> Result<Vec<String>, OutputError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(root).map_err(io("cannot read", root))? {
        let name = entry
            .map_err(io("cannot read", root))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !name.starts_with(crate::lock::LOCK_FILE) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Whether `entries` of `root` are what a usam run leaves before its first
/// checkpoint: a `config.toml` that usam reads (and `steps.jsonl`), or
/// interrupted atomic writes of them.
fn stopped_before_checkpoint(root: &Path, entries: &[String]) -> bool {
    let ours = |name: &String| {
        PRE_CHECKPOINT.contains(&name.as_str())
            || PRE_CHECKPOINT
                .iter()
                .any(|f| name.starts_with(&format!(".{f}.tmp-")))
    };
    entries.iter().all(ours)
        && crate::config::TrainConfig::from_file(&root.join("config.toml")).is_ok()
}

/// Writes `path` atomically unless it exists already and `force` is off:
/// what `--json`, `--csv` and `--markdown` outputs use, so a user's file is
/// never replaced by accident.
pub fn write_new(path: &Path, bytes: &[u8], force: bool) -> Result<(), OutputError> {
    check_new(path, force)?;
    write_atomic(path, bytes)
}

/// The check of [`write_new`], for commands that should refuse before
/// doing the work rather than after.
pub fn check_new(path: &Path, force: bool) -> Result<(), OutputError> {
    if !force && path.exists() {
        return Err(OutputError::FileExists(path.to_path_buf()));
    }
    Ok(())
}

/// Writes `path` atomically (temporary sibling, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(io("cannot create", &tmp))?;
        f.write_all(bytes).map_err(io("cannot write", &tmp))?;
        f.sync_all().map_err(io("cannot sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("cannot rename into", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests;
