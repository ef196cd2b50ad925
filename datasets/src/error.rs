//! Typed errors for every way input can be wrong.
//!
//! Parsers never panic on bad bytes: each failure below names what was being
//! read (`what`: a file name or a description such as `"train images"`) and,
//! where it helps, the numbers that disagree.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while finding, fetching, verifying or parsing
/// a dataset, or while applying a regime to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error on a given path.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A gzip or zlib stream could not be decompressed.
    #[error("{what}: cannot decompress: {message}")]
    Decompress {
        /// What was being read.
        what: String,
        /// The decoder's message.
        message: String,
    },

    /// The file starts with the wrong magic number.
    #[error("{what}: bad magic number {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// What was being read.
        what: String,
        /// The magic number of the expected format.
        expected: u32,
        /// The number actually found.
        found: u32,
    },

    /// The input ends inside its header.
    #[error("{what}: truncated header: need {expected} bytes, have {found}")]
    TruncatedHeader {
        /// What was being read.
        what: String,
        /// Bytes the header needs.
        expected: usize,
        /// Bytes available.
        found: usize,
    },

    /// The header is complete but the body is shorter than it announces.
    #[error("{what}: truncated body: header announces {expected} bytes, have {found}")]
    TruncatedBody {
        /// What was being read.
        what: String,
        /// Bytes the header announces.
        expected: usize,
        /// Bytes available.
        found: usize,
    },

    /// The input continues after the data its header announces.
    #[error("{what}: {extra} unexpected bytes after the announced data")]
    TrailingData {
        /// What was being read.
        what: String,
        /// Number of extra bytes.
        extra: usize,
    },

    /// Image and label files disagree on the number of examples.
    #[error("{what}: {images} images but {labels} labels")]
    CountMismatch {
        /// What was being read.
        what: String,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// A label is not a valid class index.
    #[error("{what}: label {label} at index {index} is out of range (classes 0..{num_classes})")]
    LabelOutOfRange {
        /// What was being read.
        what: String,
        /// Position of the offending example.
        index: usize,
        /// The label found (as read from the file, before any remapping).
        label: i64,
        /// Number of classes of the dataset.
        num_classes: usize,
    },

    /// A CIFAR binary file whose length is not a whole number of records.
    #[error(
        "{what}: length {len} is not a positive multiple of the {record_len}-byte CIFAR record"
    )]
    CifarRecordLength {
        /// What was being read.
        what: String,
        /// File length in bytes.
        len: usize,
        /// Expected record length (3073 for CIFAR-10, 3074 for CIFAR-100).
        record_len: usize,
    },

    /// A structurally invalid file (for instance a MATLAB file without the
    /// variable it should contain, or with an unsupported element).
    #[error("{what}: {message}")]
    Malformed {
        /// What was being read.
        what: String,
        /// What is wrong.
        message: String,
    },

    /// A file's SHA-256 differs from the published checksum.
    #[error(
        "checksum mismatch for {}: expected sha256 {expected}, got {actual}; delete the file and fetch it again",
        path.display()
    )]
    ChecksumMismatch {
        /// The file (or the name of the embedded or downloaded resource).
        path: PathBuf,
        /// The published SHA-256, lowercase hex.
        expected: String,
        /// The SHA-256 of the bytes found, lowercase hex.
        actual: String,
    },

    /// A directory that should exist does not.
    #[error("directory {} does not exist{}", path.display(), hint_suffix(hint))]
    MissingDirectory {
        /// The directory.
        path: PathBuf,
        /// What it should contain.
        hint: String,
    },

    /// Files of a dataset are missing and could not be fetched (offline, or
    /// downloads disabled): names the files and where to put them.
    #[error(
        "{dataset}: missing {} in {}{}; download them from {} and place them there (or set USAM_DATA_DIR)",
        files.join(", "),
        directory.display(),
        reason_suffix(reason),
        urls.join(" , ")
    )]
    MissingFiles {
        /// Dataset name.
        dataset: String,
        /// Directory where the files are expected.
        directory: PathBuf,
        /// File names expected in `directory`.
        files: Vec<String>,
        /// Canonical URLs of the files.
        urls: Vec<String>,
        /// Why they could not be fetched (`None`: downloads were disabled).
        reason: Option<String>,
    },

    /// A download failed for a reason other than a checksum mismatch.
    #[error("download of {url} failed: {message}")]
    Download {
        /// The URL.
        url: String,
        /// The fetcher's message.
        message: String,
    },

    /// An image file (in an image folder) could not be decoded or does not
    /// match the others.
    #[error("image {}: {message}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// An argument is out of its domain (fraction outside `[0, 1]`, index
    /// out of range, too few classes, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A dataset name that [`crate::DatasetKind`]'s `FromStr` does not know.
    #[error(
        "unknown dataset {0:?}; expected one of mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse, svhn, mnist-10k, folder:<path>"
    )]
    UnknownDataset(String),
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" (expected: {hint})")
    }
}

fn reason_suffix(reason: &Option<String>) -> String {
    match reason {
        Some(r) => format!(" (could not fetch: {r})"),
        None => " (downloads disabled)".to_string(),
    }
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_message_names_files_and_directory() {
        let e = Error::MissingFiles {
            dataset: "CIFAR-10".into(),
            directory: PathBuf::from("/data/cifar10"),
            files: vec!["cifar-10-binary.tar.gz".into()],
            urls: vec!["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz".into()],
            reason: None,
        };
        let msg = e.to_string();
        assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
        assert!(msg.contains("/data/cifar10"), "{msg}");
        assert!(msg.contains("downloads disabled"), "{msg}");
    }

    #[test]
    fn magic_is_printed_in_hex() {
        let e = Error::BadMagic {
            what: "x".into(),
            expected: 2051,
            found: 1,
        };
        assert!(e.to_string().contains("0x00000803"));
    }
}
