//! Verified downloads into a cache directory.
//!
//! * **Where**: [`default_cache_dir`]: `$USAM_DATA_DIR` if set, else
//!   `$XDG_CACHE_HOME/usam`, else `~/.cache/usam`; each dataset has a
//!   sub-directory (`mnist`, `fashion-mnist`, `cifar10`, `cifar100`, `svhn`).
//! * **What**: every canonical file is a [`Resource`] with its published
//!   SHA-256; files found in the cache are verified before use (unless
//!   [`LoadOptions::verify_checksums`](crate::LoadOptions::verify_checksums) is off) and downloads are verified
//!   before they become visible.
//! * **How**: a [`Fetcher`] writes the bytes of a URL into a sink. The
//!   default ([`DefaultFetcher`]) reads `file://` URLs from disk and, with the
//!   `download` feature, `http(s)://` URLs with `ureq`. Tests inject their own.
//! * **Atomically**: the bytes go to a temporary file in the destination
//!   directory, are hashed on the way, flushed and `fsync`ed, and only a file
//!   whose checksum matches is renamed onto its final name (then the
//!   directory is synced). An interrupted or corrupt download leaves nothing
//!   under the final name.
//! * **Offline**: when files are missing and cannot be fetched, the error
//!   of [`ensure`](crate::ensure) ([`Error::MissingFiles`]) lists the files, their URLs and the directory
//!   to put them in.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Environment variable that overrides the cache directory.
pub const DATA_DIR_ENV: &str = "USAM_DATA_DIR";

/// A canonical file: where it comes from and its published SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    /// File name in the dataset's cache directory.
    pub file_name: &'static str,
    /// Canonical URL.
    pub url: &'static str,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: &'static str,
}

/// Error type returned by fetchers.
pub type FetchError = Box<dyn std::error::Error + Send + Sync>;

/// Something that can copy the bytes behind a URL into a sink.
pub trait Fetcher: Send + Sync {
    /// Writes the whole content of `url` into `sink`.
    ///
    /// # Errors
    /// Any transport error; the caller discards whatever was written.
    fn fetch(&self, url: &str, sink: &mut dyn Write) -> std::result::Result<(), FetchError>;
}

/// The fetcher used when none is injected: `file://` URLs are read from the
/// local file system; `http://` and `https://` URLs are fetched with `ureq`
/// when the `download` feature is on (default) and refused otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultFetcher;

impl Fetcher for DefaultFetcher {
    fn fetch(&self, url: &str, sink: &mut dyn Write) -> std::result::Result<(), FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            let mut file = File::open(path)?;
            io::copy(&mut file, sink)?;
            return Ok(());
        }
        http_fetch(url, sink)
    }
}

#[cfg(feature = "download")]
fn http_fetch(url: &str, sink: &mut dyn Write) -> std::result::Result<(), FetchError> {
    use std::time::Duration;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .user_agent(concat!("usam-datasets/", env!("CARGO_PKG_VERSION")))
        .build();
    let response = agent.get(url).call().map_err(Box::new)?;
    let mut reader = response.into_reader();
    io::copy(&mut reader, sink)?;
    Ok(())
}

#[cfg(not(feature = "download"))]
fn http_fetch(url: &str, _sink: &mut dyn Write) -> std::result::Result<(), FetchError> {
    Err(format!("cannot fetch {url}: built without the `download` feature").into())
}

/// A fetcher that serves files from a local directory: the last path
/// segment of the URL is looked up in `dir`. Useful for air-gapped mirrors
/// and tests.
#[derive(Clone, Debug)]
pub struct MirrorFetcher {
    /// Directory holding the files under their canonical names.
    pub dir: PathBuf,
}

impl Fetcher for MirrorFetcher {
    fn fetch(&self, url: &str, sink: &mut dyn Write) -> std::result::Result<(), FetchError> {
        let name = url.rsplit('/').next().unwrap_or(url);
        let mut file = File::open(self.dir.join(name))?;
        io::copy(&mut file, sink)?;
        Ok(())
    }
}

/// The cache directory: `$USAM_DATA_DIR` if set and non-empty, else
/// `$XDG_CACHE_HOME/usam`, else `$HOME/.cache/usam`, else `./.usam-data`.
pub fn default_cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(DATA_DIR_ENV) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("usam");
    }
    if let Some(home) = var("HOME").or_else(|| var("USERPROFILE")) {
        return PathBuf::from(home).join(".cache").join("usam");
    }
    PathBuf::from(".usam-data")
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of a file, lowercase hex, read in 1 MiB blocks.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Checks a file against an expected SHA-256.
///
/// # Errors
/// [`Error::ChecksumMismatch`], or [`Error::Io`] if unreadable.
pub fn verify_file(path: &Path, expected: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(Error::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            actual,
        })
    }
}

/// A writer that hashes what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary path next to `dest` (same directory, hence same file system,
/// so the final rename is atomic).
fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let unique = format!(
        ".{name}.{}.{}.part",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    dest.with_file_name(unique)
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn sync_dir(dir: &Path) {
    // Durability of the rename; not supported everywhere, hence best effort.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `dest` atomically: `produce` writes into a temporary file in the
/// same directory, which is flushed, `fsync`ed, checked against
/// `expected_sha256` (if given) and renamed onto `dest`. On any failure the
/// temporary file is removed and `dest` is untouched.
///
/// # Errors
/// [`Error::Io`], [`Error::ChecksumMismatch`] (with `dest` as path), or the
/// error returned by `produce`.
pub fn atomic_write<F>(dest: &Path, expected_sha256: Option<&str>, produce: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = temp_path(dest);
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    let mut guard = TempGuard(Some(tmp.clone()));
    let mut writer = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        written: 0,
    };
    produce(&mut writer)?;
    writer.flush().map_err(|e| Error::io(&tmp, e))?;
    let actual = hex(&writer.hasher.finalize());
    let file = writer
        .inner
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    if let Some(expected) = expected_sha256
        && !actual.eq_ignore_ascii_case(expected)
    {
        return Err(Error::ChecksumMismatch {
            path: dest.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            actual,
        });
    }
    fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
    guard.0 = None;
    sync_dir(dir);
    Ok(())
}

/// Fetches one resource into `dir` (created if needed) with `fetcher`,
/// atomically and verified. Returns the final path.
///
/// # Errors
/// [`Error::Download`] if the fetcher fails, [`Error::ChecksumMismatch`] if
/// the bytes do not match, [`Error::Io`].
pub fn fetch_resource(resource: &Resource, dir: &Path, fetcher: &dyn Fetcher) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let dest = dir.join(resource.file_name);
    atomic_write(&dest, Some(resource.sha256), |sink| {
        fetcher
            .fetch(resource.url, sink)
            .map_err(|e| Error::Download {
                url: resource.url.to_string(),
                message: e.to_string(),
            })
    })?;
    Ok(dest)
}

/// The offline error for a set of missing resources.
pub(crate) fn missing_files_error(
    dataset: &str,
    dir: &Path,
    missing: &[&Resource],
    reason: Option<String>,
) -> Error {
    Error::MissingFiles {
        dataset: dataset.to_string(),
        directory: dir.to_path_buf(),
        files: missing.iter().map(|r| r.file_name.to_string()).collect(),
        urls: missing.iter().map(|r| r.url.to_string()).collect(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn atomic_write_leaves_nothing_on_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.bin");
        let e = atomic_write(&dest, Some(&sha256_hex(b"other")), |w| {
            w.write_all(b"hello").map_err(|e| Error::io("w", e))
        })
        .unwrap_err();
        assert!(matches!(e, Error::ChecksumMismatch { .. }));
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        atomic_write(&dest, Some(&sha256_hex(b"hello")), |w| {
            w.write_all(b"hello").map_err(|e| Error::io("w", e))
        })
        .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn default_fetcher_reads_file_urls() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        fs::write(&src, b"payload").unwrap();
        let mut out = Vec::new();
        DefaultFetcher
            .fetch(&format!("file://{}", src.display()), &mut out)
            .unwrap();
        assert_eq!(out, b"payload");
    }
}
