//! Where datasets are found and whether missing files may be fetched:
//! [`LoadOptions`], shared by every loader, and [`ensure`], which applies
//! them to a dataset's files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::download::{
    self, DefaultFetcher, Fetcher, Resource, fetch_resource, missing_files_error, verify_file,
};
use crate::error::{Error, Result};

/// Where to find datasets and whether to fetch missing ones.
#[derive(Clone)]
pub struct LoadOptions {
    /// Cache directory; `None` means [`download::default_cache_dir`]
    /// (`$USAM_DATA_DIR`, else `~/.cache/usam`).
    pub cache_dir: Option<PathBuf>,
    /// Fetch missing files from their canonical URLs.
    pub allow_download: bool,
    /// Verify the SHA-256 of canonical files found in the cache (downloads
    /// are always verified).
    pub verify_checksums: bool,
    /// The fetcher to use; `None` means [`DefaultFetcher`].
    pub fetcher: Option<Arc<dyn Fetcher>>,
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("cache_dir", &self.cache_dir)
            .field("allow_download", &self.allow_download)
            .field("verify_checksums", &self.verify_checksums)
            .field("fetcher", &self.fetcher.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for LoadOptions {
    /// Default cache directory, downloads allowed, checksums verified.
    fn default() -> Self {
        Self {
            cache_dir: None,
            allow_download: true,
            verify_checksums: true,
            fetcher: None,
        }
    }
}

impl LoadOptions {
    /// Defaults, but never touch the network.
    pub fn offline() -> Self {
        Self {
            allow_download: false,
            ..Self::default()
        }
    }

    /// The same options with another cache directory.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The same options with an injected fetcher (downloads allowed).
    pub fn with_fetcher(mut self, fetcher: Arc<dyn Fetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self.allow_download = true;
        self
    }

    /// The cache directory in effect.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(download::default_cache_dir)
    }

    /// The fetcher in effect, `None` when downloads are disabled.
    pub fn fetcher(&self) -> Option<Arc<dyn Fetcher>> {
        if !self.allow_download {
            return None;
        }
        Some(
            self.fetcher
                .clone()
                .unwrap_or_else(|| Arc::new(DefaultFetcher)),
        )
    }
}

/// Makes sure every resource is present in `dir` and (if
/// `options.verify_checksums`) matches its checksum; fetches the missing
/// ones when `options` allows. Returns the paths, in order.
///
/// # Errors
/// [`Error::MissingFiles`] (naming every missing file, its URL and `dir`)
/// when files are absent and downloads are disabled or fail;
/// [`Error::ChecksumMismatch`] for a present or downloaded file with the
/// wrong bytes; [`Error::Io`].
pub fn ensure(
    dataset: &str,
    dir: &Path,
    resources: &[&Resource],
    options: &LoadOptions,
) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    for res in resources {
        let path = dir.join(res.file_name);
        if path.is_file() {
            if options.verify_checksums {
                verify_file(&path, res.sha256)?;
            }
        } else {
            missing.push(*res);
        }
    }
    if !missing.is_empty() {
        let Some(fetcher) = options.fetcher() else {
            return Err(missing_files_error(dataset, dir, &missing, None));
        };
        for (i, res) in missing.iter().enumerate() {
            match fetch_resource(res, dir, fetcher.as_ref()) {
                Ok(_) => {}
                Err(Error::Download { url, message }) => {
                    return Err(missing_files_error(
                        dataset,
                        dir,
                        &missing[i..],
                        Some(format!("{url}: {message}")),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(resources.iter().map(|r| dir.join(r.file_name)).collect())
}
