//! Choosing a dataset by name and loading it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::cifar::{self, CifarVariant};
use crate::dataset::Split;
use crate::error::{Error, Result};
use crate::mnist::{self, MnistVariant};
use crate::options::LoadOptions;
use crate::{bundled, folder, svhn};

/// Every dataset the crate can load.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// MNIST, 60k/10k (`"mnist"`).
    Mnist,
    /// Fashion-MNIST, 60k/10k (`"fashion-mnist"`).
    FashionMnist,
    /// CIFAR-10, 50k/10k (`"cifar10"`).
    Cifar10,
    /// CIFAR-100, 50k/10k, fine labels (`"cifar100"`) or coarse ones
    /// (`"cifar100-coarse"`).
    Cifar100 {
        /// Use the 20 coarse labels.
        coarse: bool,
    },
    /// SVHN cropped digits, 73,257/26,032 (`"svhn"`).
    Svhn,
    /// The bundled MNIST-10k, 8k/2k (`"mnist-10k"`), no download.
    Mnist10k,
    /// An image folder (`"folder:<path>"`), see [`crate::folder`].
    Folder(PathBuf),
}

impl FromStr for DatasetKind {
    type Err = Error;

    /// Parses the CLI names, case-insensitively (`_` accepted for `-`):
    /// `mnist`, `fashion-mnist`, `cifar10`, `cifar100`, `cifar100-coarse`,
    /// `svhn`, `mnist-10k`, `folder:<path>`.
    fn from_str(s: &str) -> Result<Self> {
        if let Some(path) = s.strip_prefix("folder:") {
            if path.is_empty() {
                return Err(Error::UnknownDataset(s.to_string()));
            }
            return Ok(DatasetKind::Folder(PathBuf::from(path)));
        }
        let key = s.trim().to_ascii_lowercase().replace('_', "-");
        Ok(match key.as_str() {
            "mnist" => DatasetKind::Mnist,
            "fashion-mnist" | "fashionmnist" => DatasetKind::FashionMnist,
            "cifar10" | "cifar-10" => DatasetKind::Cifar10,
            "cifar100" | "cifar-100" => DatasetKind::Cifar100 { coarse: false },
            "cifar100-coarse" | "cifar-100-coarse" => DatasetKind::Cifar100 { coarse: true },
            "svhn" => DatasetKind::Svhn,
            "mnist-10k" | "mnist10k" => DatasetKind::Mnist10k,
            _ => return Err(Error::UnknownDataset(s.to_string())),
        })
    }
}

impl fmt::Display for DatasetKind {
    /// The CLI name, so that `kind.to_string().parse()` round-trips.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetKind::Mnist => f.write_str("mnist"),
            DatasetKind::FashionMnist => f.write_str("fashion-mnist"),
            DatasetKind::Cifar10 => f.write_str("cifar10"),
            DatasetKind::Cifar100 { coarse: false } => f.write_str("cifar100"),
            DatasetKind::Cifar100 { coarse: true } => f.write_str("cifar100-coarse"),
            DatasetKind::Svhn => f.write_str("svhn"),
            DatasetKind::Mnist10k => f.write_str("mnist-10k"),
            DatasetKind::Folder(p) => write!(f, "folder:{}", p.display()),
        }
    }
}

impl DatasetKind {
    /// Number of classes, where known without reading the data (`None` for
    /// an image folder).
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            DatasetKind::Mnist
            | DatasetKind::FashionMnist
            | DatasetKind::Cifar10
            | DatasetKind::Svhn
            | DatasetKind::Mnist10k => Some(10),
            DatasetKind::Cifar100 { coarse } => Some(if *coarse { 20 } else { 100 }),
            DatasetKind::Folder(_) => None,
        }
    }
}

/// Loads a dataset (train and test).
///
/// MNIST, Fashion-MNIST, CIFAR and SVHN come from the cache directory
/// (fetched and verified as `options` allow), MNIST-10k from the bytes
/// compiled into the crate, a folder from its path.
///
/// # Errors
/// [`Error::MissingFiles`] when files are absent and cannot be fetched (the
/// message says which and where to put them), [`Error::ChecksumMismatch`],
/// and any parse error of the files.
pub fn load(kind: &DatasetKind, options: &LoadOptions) -> Result<Split> {
    match kind {
        DatasetKind::Mnist => mnist::load(MnistVariant::Digits, options),
        DatasetKind::FashionMnist => mnist::load(MnistVariant::Fashion, options),
        DatasetKind::Cifar10 => cifar::load(CifarVariant::Cifar10, options),
        DatasetKind::Cifar100 { coarse } => {
            cifar::load(CifarVariant::Cifar100 { coarse: *coarse }, options)
        }
        DatasetKind::Svhn => svhn::load(options),
        DatasetKind::Mnist10k => bundled::mnist_10k(),
        DatasetKind::Folder(path) => folder::load(path).map(|f| f.split),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "mnist",
            "fashion-mnist",
            "cifar10",
            "cifar100",
            "cifar100-coarse",
            "svhn",
            "mnist-10k",
            "folder:/tmp/x",
        ] {
            let kind: DatasetKind = name.parse().unwrap();
            assert_eq!(kind.to_string(), name);
        }
        assert_eq!(
            "CIFAR_10".parse::<DatasetKind>().unwrap(),
            DatasetKind::Cifar10
        );
        assert!(matches!(
            "imagenet".parse::<DatasetKind>(),
            Err(Error::UnknownDataset(_))
        ));
        assert!("folder:".parse::<DatasetKind>().is_err());
    }

    #[test]
    fn offline_has_no_fetcher() {
        assert!(LoadOptions::offline().fetcher().is_none());
        assert!(LoadOptions::default().fetcher().is_some());
    }
}
