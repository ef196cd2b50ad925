//! CIFAR-10 and CIFAR-100, binary versions (Krizhevsky 2009).
//!
//! A binary file is a sequence of fixed-length records. CIFAR-10: 1 label
//! byte (`0..10`) then 3072 pixel bytes (3073 per record); CIFAR-100: a
//! coarse label byte (`0..20`), a fine label byte (`0..100`), then 3072 pixel
//! bytes (3074 per record). The pixels are the red, green and blue 32x32
//! planes one after the other, each row-major, so CHW already.
//!
//! The tarballs hold `cifar-10-batches-bin/data_batch_{1..5}.bin` and
//! `test_batch.bin` (10,000 records each), and `cifar-100-binary/train.bin`
//! (50,000) and `test.bin` (10,000). [`load`] reads the `.bin` members
//! straight out of the verified tarball; an extracted directory next to it is
//! used instead when present.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::dataset::{ImageDataset, ImageShape, Split};
use crate::download::Resource;
use crate::error::{Error, Result};
use crate::options::LoadOptions;

/// Shape of a CIFAR image.
pub const SHAPE: ImageShape = ImageShape::new(3, 32, 32);
/// Pixel bytes per image.
pub const IMAGE_BYTES: usize = 3072;
/// Bytes per CIFAR-10 record (label + pixels).
pub const CIFAR10_RECORD: usize = 1 + IMAGE_BYTES;
/// Bytes per CIFAR-100 record (coarse label + fine label + pixels).
pub const CIFAR100_RECORD: usize = 2 + IMAGE_BYTES;

/// The CIFAR-10 binary tarball.
pub const CIFAR10_RESOURCE: Resource = Resource {
    file_name: "cifar-10-binary.tar.gz",
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
};

/// The CIFAR-100 binary tarball.
pub const CIFAR100_RESOURCE: Resource = Resource {
    file_name: "cifar-100-binary.tar.gz",
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    sha256: "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
};

/// CIFAR-10, or CIFAR-100 with its fine (100) or coarse (20) labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CifarVariant {
    /// 10 classes.
    Cifar10,
    /// 100 fine classes, or 20 coarse superclasses when `coarse`.
    Cifar100 {
        /// Use the 20 coarse labels instead of the 100 fine ones.
        coarse: bool,
    },
}

impl CifarVariant {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "CIFAR-10",
            CifarVariant::Cifar100 { coarse: false } => "CIFAR-100",
            CifarVariant::Cifar100 { coarse: true } => "CIFAR-100 (coarse)",
        }
    }

    /// Number of classes of the labels used.
    pub fn num_classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100 { coarse: false } => 100,
            CifarVariant::Cifar100 { coarse: true } => 20,
        }
    }

    /// Record length in bytes.
    pub fn record_len(self) -> usize {
        match self {
            CifarVariant::Cifar10 => CIFAR10_RECORD,
            CifarVariant::Cifar100 { .. } => CIFAR100_RECORD,
        }
    }

    /// The canonical tarball.
    pub fn resource(self) -> &'static Resource {
        match self {
            CifarVariant::Cifar10 => &CIFAR10_RESOURCE,
            CifarVariant::Cifar100 { .. } => &CIFAR100_RESOURCE,
        }
    }

    /// Sub-directory of the cache (`cifar10` or `cifar100`).
    pub fn dir_name(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "cifar10",
            CifarVariant::Cifar100 { .. } => "cifar100",
        }
    }

    /// Directory inside the tarball (`cifar-10-batches-bin` or
    /// `cifar-100-binary`).
    pub fn extracted_dir_name(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "cifar-10-batches-bin",
            CifarVariant::Cifar100 { .. } => "cifar-100-binary",
        }
    }

    /// Training files, in order.
    pub fn train_files(self) -> &'static [&'static str] {
        match self {
            CifarVariant::Cifar10 => &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            CifarVariant::Cifar100 { .. } => &["train.bin"],
        }
    }

    /// Test files.
    pub fn test_files(self) -> &'static [&'static str] {
        match self {
            CifarVariant::Cifar10 => &["test_batch.bin"],
            CifarVariant::Cifar100 { .. } => &["test.bin"],
        }
    }
}

/// Parses one binary file into pixels (NCHW) and labels, appending to the
/// given buffers. Both label bytes of CIFAR-100 are range-checked whichever
/// is kept.
///
/// # Errors
/// [`Error::CifarRecordLength`] if the length is not a positive multiple of
/// the record length, [`Error::LabelOutOfRange`].
pub fn parse_into(
    bytes: &[u8],
    variant: CifarVariant,
    what: &str,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u16>,
) -> Result<()> {
    let record = variant.record_len();
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(Error::CifarRecordLength {
            what: what.to_string(),
            len: bytes.len(),
            record_len: record,
        });
    }
    let n = bytes.len() / record;
    pixels.reserve(n * IMAGE_BYTES);
    labels.reserve(n);
    let label_error = |index: usize, label: u8, num_classes: usize| Error::LabelOutOfRange {
        what: what.to_string(),
        index,
        label: i64::from(label),
        num_classes,
    };
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = match variant {
            CifarVariant::Cifar10 => {
                if rec[0] >= 10 {
                    return Err(label_error(i, rec[0], 10));
                }
                rec[0]
            }
            CifarVariant::Cifar100 { coarse } => {
                if rec[0] >= 20 {
                    return Err(label_error(i, rec[0], 20));
                }
                if rec[1] >= 100 {
                    return Err(label_error(i, rec[1], 100));
                }
                if coarse { rec[0] } else { rec[1] }
            }
        };
        labels.push(u16::from(label));
        pixels.extend_from_slice(&rec[record - IMAGE_BYTES..]);
    }
    Ok(())
}

/// Parses one binary file into a dataset.
///
/// # Errors
/// As [`parse_into`].
pub fn parse(bytes: &[u8], variant: CifarVariant, name: &str) -> Result<ImageDataset> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    parse_into(bytes, variant, name, &mut pixels, &mut labels)?;
    ImageDataset::new(name, SHAPE, variant.num_classes(), pixels, labels)
}

/// Writes records in the binary format. `labels` are `(coarse, fine)` for
/// CIFAR-100 (the kept label of the variant is ignored) and `(label, _)`
/// for CIFAR-10.
///
/// # Errors
/// [`Error::InvalidArgument`] if `pixels` does not hold `labels.len()`
/// images of 3072 bytes.
pub fn write_records(variant: CifarVariant, pixels: &[u8], labels: &[(u8, u8)]) -> Result<Vec<u8>> {
    if pixels.len() != labels.len() * IMAGE_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{} pixel bytes for {} CIFAR images",
            pixels.len(),
            labels.len()
        )));
    }
    let mut out = Vec::with_capacity(labels.len() * variant.record_len());
    for (img, &(a, b)) in pixels.chunks_exact(IMAGE_BYTES).zip(labels) {
        out.push(a);
        if let CifarVariant::Cifar100 { .. } = variant {
            out.push(b);
        }
        out.extend_from_slice(img);
    }
    Ok(out)
}

fn assemble(variant: CifarVariant, mut get: impl FnMut(&str) -> Result<Vec<u8>>) -> Result<Split> {
    let mut build = |files: &[&str], part: &str| -> Result<ImageDataset> {
        let name = format!("{} {part}", variant.name());
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for file in files {
            let bytes = get(file)?;
            parse_into(&bytes, variant, file, &mut pixels, &mut labels)?;
        }
        ImageDataset::new(name, SHAPE, variant.num_classes(), pixels, labels)
    };
    Ok(Split {
        train: build(variant.train_files(), "train")?,
        test: build(variant.test_files(), "test")?,
    })
}

/// Loads from a directory holding the extracted `.bin` files (e.g.
/// `cifar-10-batches-bin/`).
///
/// # Errors
/// [`Error::MissingDirectory`], [`Error::MissingFiles`], or a parse error.
pub fn load_dir(dir: &Path, variant: CifarVariant) -> Result<Split> {
    if !dir.is_dir() {
        return Err(Error::MissingDirectory {
            path: dir.to_path_buf(),
            hint: format!("the extracted {} binary files", variant.name()),
        });
    }
    let missing: Vec<&str> = variant
        .train_files()
        .iter()
        .chain(variant.test_files())
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingFiles {
            dataset: variant.name().to_string(),
            directory: dir.to_path_buf(),
            files: missing.iter().map(|s| s.to_string()).collect(),
            urls: vec![variant.resource().url.to_string()],
            reason: None,
        });
    }
    assemble(variant, |file| {
        let path = dir.join(file);
        std::fs::read(&path).map_err(|e| Error::io(path, e))
    })
}

/// Reads the `.bin` members of a CIFAR tarball (`.tar.gz`) from any reader,
/// without extracting to disk. Members are matched by file name.
///
/// # Errors
/// [`Error::Decompress`] / [`Error::Malformed`] for a corrupt archive,
/// [`Error::MissingFiles`] if members are absent, or a parse error.
pub fn read_tarball(reader: impl Read, variant: CifarVariant, what: &str) -> Result<Split> {
    let wanted: Vec<&str> = variant
        .train_files()
        .iter()
        .chain(variant.test_files())
        .copied()
        .collect();
    let mut members: HashMap<String, Vec<u8>> = HashMap::new();
    let corrupt = |e: std::io::Error| Error::Decompress {
        what: what.to_string(),
        message: e.to_string(),
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if wanted.contains(&name) && !members.contains_key(name) {
            let name = name.to_string();
            let mut buf = Vec::with_capacity(entry.size().min(1 << 28) as usize);
            entry.read_to_end(&mut buf).map_err(corrupt)?;
            members.insert(name, buf);
        }
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !members.contains_key(**w))
        .map(|w| format!("{}/{w}", variant.extracted_dir_name()))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Malformed {
            what: what.to_string(),
            message: format!("archive lacks {}", missing.join(", ")),
        });
    }
    assemble(variant, |file| {
        members.remove(file).ok_or_else(|| Error::Malformed {
            what: what.to_string(),
            message: format!("archive member {file} used twice"),
        })
    })
}

/// Loads CIFAR from `<cache>/<dir_name>`: the extracted directory
/// (`cifar-10-batches-bin/` or `cifar-100-binary/`) if it holds every file,
/// otherwise the verified tarball, downloaded first when missing and allowed.
///
/// # Errors
/// [`Error::MissingFiles`] naming the tarball and the directory when it is
/// absent and cannot be fetched, [`Error::ChecksumMismatch`], or a parse
/// error.
pub fn load(variant: CifarVariant, options: &LoadOptions) -> Result<Split> {
    let dir = options.cache_dir().join(variant.dir_name());
    let extracted = dir.join(variant.extracted_dir_name());
    if all_present(&extracted, variant) {
        return load_dir(&extracted, variant);
    }
    match crate::options::ensure(variant.name(), &dir, &[variant.resource()], options) {
        Ok(paths) => load_tarball(&paths[0], variant),
        // A partly extracted directory: name what it lacks, beside the
        // tarball that would do instead.
        Err(Error::MissingFiles {
            dataset,
            urls,
            reason,
            ..
        }) if extracted.is_dir() => {
            let wanted = variant.train_files().iter().chain(variant.test_files());
            let missing: Vec<String> = wanted
                .filter(|f| !extracted.join(f).is_file())
                .map(|f| f.to_string())
                .collect();
            Err(Error::MissingFiles {
                dataset: format!("{dataset} (partly extracted; the tarball holds every file)"),
                directory: extracted,
                files: missing,
                urls,
                reason,
            })
        }
        Err(e) => Err(e),
    }
}

/// Reads a tarball file (no checksum verification).
///
/// # Errors
/// As [`read_tarball`], or [`Error::Io`].
pub fn load_tarball(path: &Path, variant: CifarVariant) -> Result<Split> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    read_tarball(
        BufReader::with_capacity(1 << 20, file),
        variant,
        &path.display().to_string(),
    )
}

fn all_present(dir: &Path, variant: CifarVariant) -> bool {
    variant
        .train_files()
        .iter()
        .chain(variant.test_files())
        .all(|f| dir.join(f).is_file())
}

/// Where [`load`] looks for the tarball, given a cache directory.
pub fn tarball_path(cache_dir: &Path, variant: CifarVariant) -> PathBuf {
    cache_dir
        .join(variant.dir_name())
        .join(variant.resource().file_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pix(n: usize) -> Vec<u8> {
        (0..n * IMAGE_BYTES).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn cifar10_round_trip() {
        let p = pix(3);
        let bytes = write_records(CifarVariant::Cifar10, &p, &[(3, 0), (9, 0), (0, 0)]).unwrap();
        assert_eq!(bytes.len(), 3 * 3073);
        assert_eq!(bytes[3073], 9);
        let d = parse(&bytes, CifarVariant::Cifar10, "t").unwrap();
        assert_eq!(d.labels(), &[3, 9, 0]);
        assert_eq!(d.pixels(), &p[..]);
        assert_eq!(d.shape(), SHAPE);
    }

    #[test]
    fn cifar100_fine_and_coarse() {
        let p = pix(2);
        let bytes = write_records(
            CifarVariant::Cifar100 { coarse: false },
            &p,
            &[(19, 99), (4, 30)],
        )
        .unwrap();
        assert_eq!(bytes.len(), 2 * 3074);
        let fine = parse(&bytes, CifarVariant::Cifar100 { coarse: false }, "t").unwrap();
        assert_eq!(fine.labels(), &[99, 30]);
        assert_eq!(fine.num_classes(), 100);
        let coarse = parse(&bytes, CifarVariant::Cifar100 { coarse: true }, "t").unwrap();
        assert_eq!(coarse.labels(), &[19, 4]);
        assert_eq!(coarse.num_classes(), 20);
        assert_eq!(fine.pixels(), &p[..]);
    }

    #[test]
    fn wrong_record_length() {
        let bytes = write_records(CifarVariant::Cifar10, &pix(2), &[(1, 0), (2, 0)]).unwrap();
        for len in [0, 1, 3072, 3074, bytes.len() - 1] {
            let e = parse(&bytes[..len], CifarVariant::Cifar10, "t").unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::CifarRecordLength {
                        record_len: 3073,
                        ..
                    }
                ),
                "{len}: {e}"
            );
        }
        // A CIFAR-10 file read as CIFAR-100 (2 * 3073 is not a multiple of 3074).
        let e = parse(&bytes, CifarVariant::Cifar100 { coarse: false }, "t").unwrap_err();
        assert!(matches!(
            e,
            Error::CifarRecordLength {
                record_len: 3074,
                ..
            }
        ));
    }

    #[test]
    fn labels_out_of_range() {
        let bytes = write_records(CifarVariant::Cifar10, &pix(2), &[(1, 0), (10, 0)]).unwrap();
        let e = parse(&bytes, CifarVariant::Cifar10, "t").unwrap_err();
        assert!(matches!(
            e,
            Error::LabelOutOfRange {
                index: 1,
                label: 10,
                num_classes: 10,
                ..
            }
        ));
        let v = CifarVariant::Cifar100 { coarse: true };
        let bytes = write_records(v, &pix(1), &[(20, 5)]).unwrap();
        assert!(matches!(
            parse(&bytes, v, "t"),
            Err(Error::LabelOutOfRange {
                label: 20,
                num_classes: 20,
                ..
            })
        ));
        // The fine label is checked even when the coarse one is kept.
        let bytes = write_records(v, &pix(1), &[(2, 100)]).unwrap();
        assert!(matches!(
            parse(&bytes, v, "t"),
            Err(Error::LabelOutOfRange {
                label: 100,
                num_classes: 100,
                ..
            })
        ));
    }
}
