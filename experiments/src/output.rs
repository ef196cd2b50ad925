//! The output directory of a run: created fresh (never over someone's
//! files), written atomically, reopened for `--resume`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The directory exists and holds files, and this is not a resume.
    #[error(
        "output directory {0} already exists and is not empty: nothing was changed; pass --resume to continue that run, or choose another --out"
    )]
    NotEmpty(PathBuf),
    /// A file the command would write exists already.
    #[error(
        "{0} already exists: nothing was written; pass --force to replace it, or choose another path"
    )]
    FileExists(PathBuf),
    /// `--resume` found no checkpoint.
    #[error("cannot resume: {0} holds no checkpoint (state.json)")]
    NothingToResume(PathBuf),
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
}

impl OutputDir {
    /// Creates `root` for a new run. An existing non-empty directory is an
    /// error: its content is never deleted or overwritten.
    pub fn create(root: &Path) -> Result<Self, OutputError> {
        if root.exists() {
            let mut entries = fs::read_dir(root).map_err(io("cannot read", root))?;
            if entries.next().is_some() {
                return Err(OutputError::NotEmpty(root.to_path_buf()));
            }
        }
        let created = !root.exists();
        fs::create_dir_all(root).map_err(io("cannot create", root))?;
        Ok(Self::at(root, created))
    }

    fn at(root: &Path, created: bool) -> Self {
        Self {
            root: root.to_path_buf(),
            created,
            written: Default::default(),
        }
    }

    /// Opens an existing run's directory for `--resume`.
    pub fn open(root: &Path) -> Result<Self, OutputError> {
        if !root.join("state.json").is_file() {
            return Err(OutputError::NothingToResume(root.to_path_buf()));
        }
        Ok(Self::at(root, false))
    }

    /// Opens a trained run's directory to read it (`eval`, `hessian`).
    pub fn open_run(root: &Path) -> Result<Self, OutputError> {
        if !root.join("state.json").is_file() {
            return Err(OutputError::NoRun(root.to_path_buf()));
        }
        Ok(Self::at(root, false))
    }

    /// Whether a checkpoint (`state.json`) exists.
    pub fn has_checkpoint(&self) -> bool {
        self.path("state.json").is_file()
    }

    /// Undoes a run that failed before its first checkpoint: removes the
    /// files written through this handle, and the directory if
    /// [`create`](Self::create) made it and nothing else is in it, so the
    /// same command can simply be run again. Never touches other files.
    pub fn abandon(self) {
        let written = self
            .written
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
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
mod tests {
    use super::*;

    #[test]
    fn never_touches_a_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("precious.txt");
        fs::write(&keep, "data").unwrap();
        assert!(matches!(
            OutputDir::create(dir.path()),
            Err(OutputError::NotEmpty(_))
        ));
        assert_eq!(fs::read_to_string(&keep).unwrap(), "data");
        // An empty or missing directory is fine.
        let sub = dir.path().join("run");
        let out = OutputDir::create(&sub).unwrap();
        out.write("a.json", b"{}").unwrap();
        assert_eq!(out.read("a.json").unwrap(), b"{}");
        assert!(matches!(
            OutputDir::open(&sub),
            Err(OutputError::NothingToResume(_))
        ));
        assert_eq!(
            OutputDir::fresh_path(&sub),
            PathBuf::from(format!("{}-2", sub.display()))
        );
    }

    #[test]
    fn abandon_removes_only_what_the_run_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("new-run");
        let out = OutputDir::create(&fresh).unwrap();
        out.write("config.toml", b"x").unwrap();
        out.abandon();
        assert!(!fresh.exists());
        // An existing empty directory stays; a stranger's file too.
        let existing = dir.path().join("existing");
        fs::create_dir(&existing).unwrap();
        let out = OutputDir::create(&existing).unwrap();
        out.write("config.toml", b"x").unwrap();
        fs::write(existing.join("notes.txt"), "mine").unwrap();
        out.abandon();
        assert!(existing.join("notes.txt").exists());
        assert!(!existing.join("config.toml").exists());
    }

    #[test]
    fn write_new_refuses_an_existing_file_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.json");
        write_new(&p, b"first", false).unwrap();
        assert!(matches!(
            write_new(&p, b"second", false),
            Err(OutputError::FileExists(_))
        ));
        assert_eq!(fs::read(&p).unwrap(), b"first");
        write_new(&p, b"third", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"third");
    }

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
