//! MNIST and Fashion-MNIST in the IDX format, gzipped or raw.
//!
//! IDX (LeCun et al.): a big-endian `u32` magic number whose third byte is
//! the element type (`0x08` = `u8`) and fourth the number of dimensions, one
//! big-endian `u32` per dimension, then the elements in row-major order.
//! Images use magic 2051 (`0x00000803`: `u8`, 3 dimensions `n, rows, cols`),
//! labels 2049 (`0x00000801`: `u8`, 1 dimension `n`). Files may be gzipped
//! (recognised by the gzip magic `1f 8b`), as distributed.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;

use crate::dataset::{ImageDataset, ImageShape, Split, check_labels};
use crate::download::{self, Resource};
use crate::error::{Error, Result};
use crate::options::LoadOptions;

/// Magic number of an IDX file of `u8` images (`n x rows x cols`).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of `u8` labels (`n`).
pub const LABELS_MAGIC: u32 = 2049;

/// Which of the two IDX datasets of 28x28 grey images with 10 classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MnistVariant {
    /// Handwritten digits (LeCun, Cortes, Burges).
    Digits,
    /// Zalando's Fashion-MNIST (Xiao, Rasul, Vollgraf 2017).
    Fashion,
}

/// File names shared by both variants: train images, train labels, test
/// images, test labels (each also accepted without `.gz`).
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Canonical MNIST files (PyTorch's mirror of Yann LeCun's site), with the
/// published SHA-256 of the gzipped files.
pub const MNIST_RESOURCES: [Resource; 4] = [
    Resource {
        file_name: FILE_NAMES[0],
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    Resource {
        file_name: FILE_NAMES[1],
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    Resource {
        file_name: FILE_NAMES[2],
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    Resource {
        file_name: FILE_NAMES[3],
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
];

/// Canonical Fashion-MNIST files (Zalando's S3 bucket), with SHA-256.
pub const FASHION_RESOURCES: [Resource; 4] = [
    Resource {
        file_name: FILE_NAMES[0],
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    },
    Resource {
        file_name: FILE_NAMES[1],
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
        sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    },
    Resource {
        file_name: FILE_NAMES[2],
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
        sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    },
    Resource {
        file_name: FILE_NAMES[3],
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
];

impl MnistVariant {
    /// Display name (`"MNIST"` or `"Fashion-MNIST"`).
    pub fn name(self) -> &'static str {
        match self {
            MnistVariant::Digits => "MNIST",
            MnistVariant::Fashion => "Fashion-MNIST",
        }
    }

    /// Sub-directory of the cache directory (`"mnist"` or `"fashion-mnist"`).
    pub fn dir_name(self) -> &'static str {
        match self {
            MnistVariant::Digits => "mnist",
            MnistVariant::Fashion => "fashion-mnist",
        }
    }

    /// The four canonical files with their checksums.
    pub fn resources(self) -> &'static [Resource; 4] {
        match self {
            MnistVariant::Digits => &MNIST_RESOURCES,
            MnistVariant::Fashion => &FASHION_RESOURCES,
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Returns the bytes, gunzipped if they start with the gzip magic.
///
/// # Errors
/// [`Error::Decompress`] for a corrupt gzip stream.
pub fn maybe_gunzip<'a>(bytes: &'a [u8], what: &str) -> Result<Cow<'a, [u8]>> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| Error::Decompress {
                what: what.to_string(),
                message: e.to_string(),
            })?;
        Ok(Cow::Owned(out))
    } else {
        Ok(Cow::Borrowed(bytes))
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn check_header(bytes: &[u8], what: &str, magic: u32, header_len: usize) -> Result<()> {
    if bytes.len() < 4 {
        return Err(Error::TruncatedHeader {
            what: what.to_string(),
            expected: header_len,
            found: bytes.len(),
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(Error::BadMagic {
            what: what.to_string(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < header_len {
        return Err(Error::TruncatedHeader {
            what: what.to_string(),
            expected: header_len,
            found: bytes.len(),
        });
    }
    Ok(())
}

fn check_body(bytes: &[u8], what: &str, header_len: usize, body_len: Option<usize>) -> Result<()> {
    let available = bytes.len() - header_len;
    let Some(body_len) = body_len else {
        return Err(Error::TruncatedBody {
            what: what.to_string(),
            expected: usize::MAX,
            found: available,
        });
    };
    if available < body_len {
        return Err(Error::TruncatedBody {
            what: what.to_string(),
            expected: body_len,
            found: available,
        });
    }
    if available > body_len {
        return Err(Error::TrailingData {
            what: what.to_string(),
            extra: available - body_len,
        });
    }
    Ok(())
}

/// Parses an uncompressed IDX image file: returns the number of images, the
/// shape (`1 x rows x cols`) and the pixel bytes.
///
/// # Errors
/// [`Error::BadMagic`], [`Error::TruncatedHeader`], [`Error::TruncatedBody`],
/// [`Error::TrailingData`].
pub fn parse_images<'a>(bytes: &'a [u8], what: &str) -> Result<(usize, ImageShape, &'a [u8])> {
    check_header(bytes, what, IMAGES_MAGIC, 16)?;
    let n = be_u32(bytes, 4) as usize;
    let rows = be_u32(bytes, 8) as usize;
    let cols = be_u32(bytes, 12) as usize;
    let body = n.checked_mul(rows).and_then(|v| v.checked_mul(cols));
    check_body(bytes, what, 16, body)?;
    if rows == 0 || cols == 0 {
        return Err(Error::Malformed {
            what: what.to_string(),
            message: format!("image size {rows}x{cols} is empty"),
        });
    }
    Ok((n, ImageShape::new(1, rows, cols), &bytes[16..]))
}

/// Parses an uncompressed IDX label file: returns the labels.
///
/// # Errors
/// [`Error::BadMagic`], [`Error::TruncatedHeader`], [`Error::TruncatedBody`],
/// [`Error::TrailingData`].
pub fn parse_labels<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8]> {
    check_header(bytes, what, LABELS_MAGIC, 8)?;
    let n = be_u32(bytes, 4) as usize;
    check_body(bytes, what, 8, Some(n))?;
    Ok(&bytes[8..])
}

/// Builds a dataset from an image file and a label file (each gzipped or
/// raw), checking counts and that labels are `< num_classes`.
///
/// # Errors
/// Any parse error of either file, [`Error::CountMismatch`],
/// [`Error::LabelOutOfRange`].
pub fn parse_pair(
    images: &[u8],
    labels: &[u8],
    name: &str,
    num_classes: usize,
) -> Result<ImageDataset> {
    let images_what = format!("{name} images");
    let labels_what = format!("{name} labels");
    let images = maybe_gunzip(images, &images_what)?;
    let labels = maybe_gunzip(labels, &labels_what)?;
    let (n, shape, pixels) = parse_images(&images, &images_what)?;
    let labels = parse_labels(&labels, &labels_what)?;
    if labels.len() != n {
        return Err(Error::CountMismatch {
            what: name.to_string(),
            images: n,
            labels: labels.len(),
        });
    }
    check_labels(labels, num_classes, &labels_what)?;
    let labels = labels.iter().map(|&l| u16::from(l)).collect();
    ImageDataset::new(name, shape, num_classes, pixels.to_vec(), labels)
}

/// Writes an uncompressed IDX image file (magic 2051) for `n = pixels.len()
/// / (rows * cols)` images.
///
/// # Errors
/// [`Error::InvalidArgument`] if `pixels` is not a whole number of images or
/// a dimension does not fit in `u32`.
pub fn write_images(rows: usize, cols: usize, pixels: &[u8]) -> Result<Vec<u8>> {
    let per = rows * cols;
    if per == 0 || !pixels.len().is_multiple_of(per) {
        return Err(Error::InvalidArgument(format!(
            "{} bytes are not a whole number of {rows}x{cols} images",
            pixels.len()
        )));
    }
    let dims = [pixels.len() / per, rows, cols];
    let mut out = Vec::with_capacity(16 + pixels.len());
    out.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
    for d in dims {
        let d = u32::try_from(d)
            .map_err(|_| Error::InvalidArgument(format!("IDX dimension {d} exceeds u32")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    Ok(out)
}

/// Writes an uncompressed IDX label file (magic 2049).
///
/// # Errors
/// [`Error::InvalidArgument`] if there are more than `u32::MAX` labels.
pub fn write_labels(labels: &[u8]) -> Result<Vec<u8>> {
    let n = u32::try_from(labels.len())
        .map_err(|_| Error::InvalidArgument("more than u32::MAX labels".into()))?;
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(labels);
    Ok(out)
}

/// Gzips bytes (default compression), as the IDX files are distributed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    enc.write_all(bytes).expect("write to Vec");
    enc.finish().expect("finish into Vec")
}

/// Reads `name` from `dir`, or `name` without its `.gz` suffix (an already
/// decompressed copy) if only that exists. Returns `None` if neither exists.
fn read_either(dir: &Path, gz_name: &str) -> Result<Option<Vec<u8>>> {
    let raw_name = gz_name.trim_end_matches(".gz");
    for name in [gz_name, raw_name] {
        let path = dir.join(name);
        if path.is_file() {
            return std::fs::read(&path)
                .map(Some)
                .map_err(|e| Error::io(path, e));
        }
    }
    Ok(None)
}

/// Loads MNIST or Fashion-MNIST from a directory holding the four IDX files
/// ([`FILE_NAMES`], gzipped, or decompressed with the `.gz` dropped), without
/// checksum verification or downloads.
///
/// # Errors
/// [`Error::MissingDirectory`], [`Error::MissingFiles`] naming the absent
/// files, or any parse error.
pub fn load_dir(dir: &Path, variant: MnistVariant) -> Result<Split> {
    if !dir.is_dir() {
        return Err(Error::MissingDirectory {
            path: dir.to_path_buf(),
            hint: format!("the four {} IDX files", variant.name()),
        });
    }
    let mut files = Vec::with_capacity(4);
    let mut missing = Vec::new();
    for res in variant.resources() {
        match read_either(dir, res.file_name)? {
            Some(bytes) => files.push(bytes),
            None => missing.push(res),
        }
    }
    if !missing.is_empty() {
        return Err(download::missing_files_error(
            variant.name(),
            dir,
            &missing,
            None,
        ));
    }
    build_split(variant, &files)
}

fn build_split(variant: MnistVariant, files: &[Vec<u8>]) -> Result<Split> {
    let name = variant.name();
    Ok(Split {
        train: parse_pair(&files[0], &files[1], &format!("{name} train"), 10)?,
        test: parse_pair(&files[2], &files[3], &format!("{name} test"), 10)?,
    })
}

/// Loads MNIST or Fashion-MNIST from `<cache>/<variant.dir_name()>`,
/// downloading missing files when allowed and verifying the SHA-256 of the
/// gzipped files (decompressed copies, which have no published checksum, are
/// validated structurally only).
///
/// # Errors
/// [`Error::MissingFiles`] when files are absent and cannot be fetched,
/// [`Error::ChecksumMismatch`], or any parse error.
pub fn load(variant: MnistVariant, options: &LoadOptions) -> Result<Split> {
    let dir = options.cache_dir().join(variant.dir_name());
    // Files present only in decompressed form are used as they are; the rest
    // go through the verified (and possibly downloading) path.
    let mut need = Vec::new();
    for res in variant.resources() {
        let gz = dir.join(res.file_name).is_file();
        let raw = dir.join(res.file_name.trim_end_matches(".gz")).is_file();
        if gz || !raw {
            need.push(res);
        }
    }
    crate::options::ensure(variant.name(), &dir, &need, options)?;
    let mut files = Vec::with_capacity(4);
    for res in variant.resources() {
        let bytes = read_either(&dir, res.file_name)?
            .ok_or_else(|| download::missing_files_error(variant.name(), &dir, &[res], None))?;
        files.push(bytes);
    }
    build_split(variant, &files)
}

#[cfg(test)]
mod tests;
