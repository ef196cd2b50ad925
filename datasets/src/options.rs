//! Where datasets are found and whether missing files may be fetched:
//! [`LoadOptions`], shared by every loader.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::download::{self, DefaultFetcher, Fetcher};

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
