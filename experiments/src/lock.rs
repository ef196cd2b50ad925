//! Advisory locks on the directories `usam` writes: one writer at a time.
//!
//! A lock is the file `.usam.lock` in the directory, created with
//! `O_CREAT | O_EXCL` (atomic on local filesystems and on NFSv3+), holding
//! who took it: host, pid, the process's start time (so a reused pid is not
//! taken for the holder) and the command. A second writer fails at once,
//! naming the holder. A lock whose holder is gone is taken over, with a
//! note: on the same host when the pid is dead (or belongs to another
//! process); on another host when the lock's heartbeat (its modification
//! time, refreshed every `lease / 3` while a run trains) is older than the
//! lease. Taking over is serialised (see [`RunLock::acquire`]): the stale
//! lock is removed only while it is still the stale one, and the new lock
//! is created exclusively, so of several racing takers one wins.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The lock file's name.
pub const LOCK_FILE: &str = ".usam.lock";

/// How long a lock held on another host stays valid without a heartbeat.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The process's start time (Linux: clock ticks after boot), telling a
    /// reused pid from the holder.
    pub process_start: Option<u64>,
    /// When the lock was taken, seconds since the Unix epoch.
    pub since: u64,
    /// The command that took it (`train`, `sweep`, `hessian`, ...).
    pub command: String,
    /// Seconds a lock on another host stays valid without a heartbeat.
    pub lease_seconds: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ago = now_seconds().saturating_sub(self.since);
        write!(
            f,
            "`usam {}` (pid {} on {}, for {ago} s)",
            self.command, self.pid, self.host
        )
    }
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error(
        "{dir} is in use by {holder}: nothing was changed; wait for it to finish, or use another directory (a lock whose holder died is taken over)"
    )]
    Held {
        /// The locked directory.
        dir: PathBuf,
        /// Who holds it.
        holder: Holder,
    },
    /// The lock file could not be created or read.
    #[error("cannot lock {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A held lock; released (its file removed) on drop.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    holder: Holder,
    heartbeat: Option<Arc<AtomicBool>>,
}

impl RunLock {
    /// Takes the lock of `dir` (which must exist) for `command`, taking
    /// over a stale one (with a warning).
    pub fn acquire(dir: &Path, command: &str) -> Result<Self, LockError> {
        Self::acquire_with_lease(dir, command, DEFAULT_LEASE)
    }

    /// As [`acquire`](Self::acquire), with the lease other hosts wait for.
    pub fn acquire_with_lease(
        dir: &Path,
        command: &str,
        lease: Duration,
    ) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let holder = Holder::me(command, lease);
        // A stale lock is taken over; while another process is taking it
        // over, wait for that one (a takeover takes milliseconds).
        for _ in 0..200 {
            match create(&path, &holder) {
                Ok(()) => return Ok(Self::held(path, holder)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
            let Some(current) = read_holder(&path).map_err(io)? else {
                continue; // released meanwhile
            };
            if !is_stale(&path, &current) {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: current,
                });
            }
            if take_over(&path, &current).map_err(io)? {
                tracing::warn!(
                    "{}: the lock of {current} was left by a process that is gone; taken over",
                    dir.display()
                );
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Err(io(std::io::Error::other(
            "a stale lock could not be taken over within 2 s (another process keeps taking it over); try again",
        )))
    }

    /// As [`acquire`](Self::acquire), waiting up to `timeout` while
    /// another live process holds the lock: for locks held briefly (a
    /// sweep's root while a worker claims it or writes the report).
    pub fn acquire_waiting(
        dir: &Path,
        command: &str,
        timeout: Duration,
    ) -> Result<Self, LockError> {
        let start = std::time::Instant::now();
        loop {
            match Self::acquire(dir, command) {
                Err(LockError::Held { .. }) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn held(path: PathBuf, holder: Holder) -> Self {
        Self {
            path,
            holder,
            heartbeat: None,
        }
    }

    /// Refreshes the lock's heartbeat every `lease / 3` on a background
    /// thread until the lock is released: for long holds (training), so
    /// other hosts see the holder alive.
    pub fn keep_alive(mut self) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (path, flag) = (self.path.clone(), Arc::clone(&stop));
        let period = Duration::from_secs((self.holder.lease_seconds / 3).max(1));
        let started = std::thread::Builder::new()
            .name("usam-lock".into())
            .spawn(move || {
                let tick = Duration::from_millis(200).min(period);
                let mut waited = Duration::ZERO;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited >= period {
                        waited = Duration::ZERO;
                        touch(&path);
                    }
                }
            });
        if started.is_ok() {
            self.heartbeat = Some(stop);
        }
        self
    }

    /// Who holds it (this process).
    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(stop) = &self.heartbeat {
            stop.store(true, Ordering::Relaxed);
        }
        // Only our own lock goes: had it been taken over (we were thought
        // dead), the file is someone else's now.
        if read_holder(&self.path).ok().flatten().as_ref() == Some(&self.holder) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Holder {
    fn me(command: &str, lease: Duration) -> Self {
        let pid = std::process::id();
        Self {
            host: hostname(),
            pid,
            process_start: process_start(pid),
            since: now_seconds(),
            command: command.to_string(),
            lease_seconds: lease.as_secs().max(1),
        }
    }
}

/// Who holds the lock of `dir`, and whether that holder is gone (its
/// lock would be taken over); `None` without a lock.
pub fn inspect(dir: &Path) -> Option<(Holder, bool)> {
    let path = dir.join(LOCK_FILE);
    let holder = read_holder(&path).ok()??;
    let stale = is_stale(&path, &holder);
    Some((holder, stale))
}

/// Creates the lock file exclusively, with `holder` in it, in one atomic
/// step: the holder is written to a private file first and hard-linked
/// into place (atomic on local filesystems and NFS alike). Created empty
/// and then written, a lock could be read half-written by a racing taker,
/// taken for a dead holder's and removed while its owner went on.
fn create(path: &Path, holder: &Holder) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let text = serde_json::to_string(holder).expect("a holder serialises");
    // Host and pid: private among the machines sharing the directory.
    let private = path.with_extension(format!(
        "lock.{}-{}-{}",
        hostname(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = fs::File::create(&private)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| fs::hard_link(&private, path));
    let _ = fs::remove_file(&private);
    match linked {
        Err(e)
            if !matches!(
                e.kind(),
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
            ) =>
        {
            // A filesystem without hard links: create, then write.
            create_in_place(path, &text)
        }
        other => other,
    }
}

/// Creates the lock file exclusively and writes `text` into it (where hard
/// links are not supported).
fn create_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = fs::remove_file(path);
    }
    written
}

/// The lock's holder; `None` when there is no lock. A lock file that does
/// not parse (a holder that died while writing it) is read as a holder
/// that is gone.
fn read_holder(path: &Path) -> std::io::Result<Option<Holder>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            Holder {
                host: hostname(),
                pid: 0,
                process_start: None,
                since: 0,
                command: "(unreadable lock)".into(),
                lease_seconds: 0,
            }
        }))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `holder` is gone: on this host its process is dead or another
/// one's; elsewhere its heartbeat is older than its lease.
fn is_stale(path: &Path, holder: &Holder) -> bool {
    if holder.pid == 0 {
        return true;
    }
    if holder.host == hostname() {
        return !alive(holder.pid)
            || (holder.process_start.is_some()
                && process_start(holder.pid) != holder.process_start);
    }
    let beat = fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH);
    SystemTime::now()
        .duration_since(beat)
        .is_ok_and(|age| age > Duration::from_secs(holder.lease_seconds))
}

/// Removes the stale lock of `holder`; `false` when another process is
/// taking it over, or already did. Taking over is serialised by a second,
/// short-lived lock (`.usam.lock.takeover`): under it the lock is read
/// again and removed only if it is still the stale one, so a fresh lock
/// is never removed. A taker that died holding it leaves a file that is
/// stale after [`TAKEOVER_TIMEOUT`] (a takeover takes milliseconds).
fn take_over(path: &Path, holder: &Holder) -> std::io::Result<bool> {
    let mutex = path.with_extension("lock.takeover");
    let old = fs::metadata(&mutex)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            SystemTime::now()
                .duration_since(t)
                .is_ok_and(|a| a > TAKEOVER_TIMEOUT)
        });
    if old {
        let _ = fs::remove_file(&mutex);
    }
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&mutex)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e),
    }
    let taken = (|| {
        if read_holder(path)?.as_ref() != Some(holder) {
            return Ok(false);
        }
        fs::remove_file(path).map(|()| true)
    })();
    let _ = fs::remove_file(&mutex);
    taken
}

/// How long a takeover may hold its own short lock.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(10);

fn touch(path: &Path) {
    if let Ok(file) = fs::OpenOptions::new().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This machine's name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes a
    // NUL-terminated name into it (truncated if longer).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether process `pid` exists (on this host).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be
    // signalled; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A process's start time in clock ticks after boot (field 22 of
/// `/proc/<pid>/stat`), where procfs exists.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests;
