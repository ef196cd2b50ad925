//! SVHN cropped digits (Netzer et al. 2011), format 2: `train_32x32.mat`
//! (73,257 digits) and `test_32x32.mat` (26,032), MATLAB level-5 files with
//! compressed variables, read by [`crate::matfile`].
//!
//! Each file holds `X`, a `32 x 32 x 3 x N` `uint8` array (column-major:
//! row, column, channel, image), and `y`, an `N x 1` array of labels `1..=10`
//! where 10 stands for the digit 0. The loader returns NCHW images and labels
//! `0..10` equal to the digit (10 becomes 0), as torchvision does.

use std::path::Path;

use crate::dataset::{ImageDataset, ImageShape, Split};
use crate::download::{self, Resource};
use crate::error::{Error, Result};
use crate::matfile;
use crate::options::LoadOptions;

/// Shape of an SVHN image.
pub const SHAPE: ImageShape = ImageShape::new(3, 32, 32);

/// The training file.
pub const TRAIN_RESOURCE: Resource = Resource {
    file_name: "train_32x32.mat",
    url: "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
    sha256: "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
};

/// The test file.
pub const TEST_RESOURCE: Resource = Resource {
    file_name: "test_32x32.mat",
    url: "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
    sha256: "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
};

/// Parses one SVHN `.mat` file into a dataset named `name`.
///
/// # Errors
/// Any [`matfile::read`] error; [`Error::Malformed`] if `X` or `y` is
/// missing or `X` is not `32 x 32 x 3 x N`; [`Error::CountMismatch`] if `y`
/// does not hold `N` labels; [`Error::LabelOutOfRange`] for a label outside
/// `1..=10`.
pub fn parse(bytes: &[u8], name: &str) -> Result<ImageDataset> {
    let mut arrays = matfile::read(bytes, name)?;
    let x = matfile::take_variable(&mut arrays, "X", name)?;
    let y = matfile::take_variable(&mut arrays, "y", name)?;
    let n = match x.dims.as_slice() {
        [32, 32, 3, n] => *n,
        [32, 32, 3] => 1,
        d => {
            return Err(Error::Malformed {
                what: name.to_string(),
                message: format!("X has dimensions {d:?}, expected [32, 32, 3, N]"),
            });
        }
    };
    let raw_labels = y.to_f64();
    if raw_labels.len() != n {
        return Err(Error::CountMismatch {
            what: name.to_string(),
            images: n,
            labels: raw_labels.len(),
        });
    }
    let mut labels = Vec::with_capacity(n);
    for (index, &v) in raw_labels.iter().enumerate() {
        if v.fract() != 0.0 || !(1.0..=10.0).contains(&v) {
            return Err(Error::LabelOutOfRange {
                what: format!("{name} (SVHN labels are 1..=10)"),
                index,
                label: if v.is_finite() { v as i64 } else { i64::MIN },
                num_classes: 10,
            });
        }
        labels.push((v as u16) % 10);
    }
    let column_major = x.into_u8(name)?;
    let pixels = column_major_to_nchw(&column_major, n);
    ImageDataset::new(name, SHAPE, 10, pixels, labels)
}

/// Converts `32 x 32 x 3 x n` column-major bytes (element `(r, c, ch, i)` at
/// `r + 32 c + 1024 ch + 3072 i`) to NCHW (`(i, ch, r, c)` at `3072 i + 1024
/// ch + 32 r + c`): a 32x32 transpose of every plane.
pub fn column_major_to_nchw(src: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * 3072];
    for (dst_plane, src_plane) in out.chunks_exact_mut(1024).zip(src.chunks_exact(1024)) {
        for c in 0..32 {
            let col = &src_plane[32 * c..32 * c + 32];
            for (r, &v) in col.iter().enumerate() {
                dst_plane[32 * r + c] = v;
            }
        }
    }
    out
}

/// Inverse of [`column_major_to_nchw`] (for writing fixtures).
pub fn nchw_to_column_major(src: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * 3072];
    for (dst_plane, src_plane) in out.chunks_exact_mut(1024).zip(src.chunks_exact(1024)) {
        for r in 0..32 {
            for c in 0..32 {
                dst_plane[r + 32 * c] = src_plane[32 * r + c];
            }
        }
    }
    out
}

/// Writes an SVHN-format `.mat` file from NCHW pixels and digit labels
/// (`0..10`; stored as `1..=10`, 0 as 10), compressed like the real files
/// and with `y` stored as MATLAB does (class double).
///
/// # Errors
/// [`Error::InvalidArgument`] if the sizes disagree or a label is not a
/// digit.
pub fn write(pixels: &[u8], digits: &[u8], compress: bool) -> Result<Vec<u8>> {
    let n = digits.len();
    if pixels.len() != n * 3072 {
        return Err(Error::InvalidArgument(format!(
            "{} pixel bytes for {n} SVHN images",
            pixels.len()
        )));
    }
    if let Some(d) = digits.iter().find(|&&d| d > 9) {
        return Err(Error::InvalidArgument(format!("{d} is not a digit")));
    }
    let x = nchw_to_column_major(pixels, n);
    let y: Vec<f64> = digits
        .iter()
        .map(|&d| if d == 0 { 10.0 } else { f64::from(d) })
        .collect();
    Ok(matfile::write(
        &[
            matfile::MatVar {
                name: "X",
                class: matfile::MX_UINT8_CLASS,
                dims: &[32, 32, 3, n],
                data: matfile::MatData::U8(&x),
            },
            matfile::MatVar {
                name: "y",
                class: matfile::MX_DOUBLE_CLASS,
                dims: &[n, 1],
                data: matfile::MatData::F64(&y),
            },
        ],
        matfile::WriteOptions {
            compress,
            big_endian: false,
        },
    ))
}

/// Loads SVHN from a directory holding `train_32x32.mat` and
/// `test_32x32.mat`, without checksum verification.
///
/// # Errors
/// [`Error::MissingDirectory`], [`Error::MissingFiles`], or a parse error.
pub fn load_dir(dir: &Path) -> Result<Split> {
    if !dir.is_dir() {
        return Err(Error::MissingDirectory {
            path: dir.to_path_buf(),
            hint: "train_32x32.mat and test_32x32.mat".into(),
        });
    }
    let missing: Vec<&Resource> = [&TRAIN_RESOURCE, &TEST_RESOURCE]
        .into_iter()
        .filter(|r| !dir.join(r.file_name).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(download::missing_files_error("SVHN", dir, &missing, None));
    }
    read_pair(
        &dir.join(TRAIN_RESOURCE.file_name),
        &dir.join(TEST_RESOURCE.file_name),
    )
}

fn read_pair(train: &Path, test: &Path) -> Result<Split> {
    let read = |p: &Path, name: &str| -> Result<ImageDataset> {
        let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
        parse(&bytes, name)
    };
    Ok(Split {
        train: read(train, "SVHN train")?,
        test: read(test, "SVHN test")?,
    })
}

/// Loads SVHN from `<cache>/svhn`, verified, downloading missing files when
/// allowed.
///
/// # Errors
/// [`Error::MissingFiles`], [`Error::ChecksumMismatch`], or a parse error.
pub fn load(options: &LoadOptions) -> Result<Split> {
    let dir = options.cache_dir().join("svhn");
    let paths = crate::options::ensure("SVHN", &dir, &[&TRAIN_RESOURCE, &TEST_RESOURCE], options)?;
    read_pair(&paths[0], &paths[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(n: usize) -> Vec<u8> {
        (0..n * 3072).map(|i| (i * 7 % 256) as u8).collect()
    }

    #[test]
    fn transpose_round_trip() {
        let p = pixels(2);
        assert_eq!(column_major_to_nchw(&nchw_to_column_major(&p, 2), 2), p);
    }

    #[test]
    fn column_major_layout() {
        // Pixel (row 1, column 2, channel 2) of image 1.
        let mut p = vec![0u8; 2 * 3072];
        p[3072 + 2 * 1024 + 32 + 2] = 200;
        let cm = nchw_to_column_major(&p, 2);
        assert_eq!(cm[1 + 32 * 2 + 1024 * 2 + 3072], 200);
    }

    #[test]
    fn round_trip_compressed_and_not() {
        let p = pixels(3);
        for compress in [true, false] {
            let bytes = write(&p, &[0, 5, 9], compress).unwrap();
            let d = parse(&bytes, "t").unwrap();
            assert_eq!(d.labels(), &[0, 5, 9]);
            assert_eq!(d.pixels(), &p[..]);
            assert_eq!(d.shape(), SHAPE);
        }
    }

    #[test]
    fn labels_must_be_1_to_10() {
        for bad in [0.0, 11.0, 2.5] {
            let x = vec![0u8; 3072];
            let bytes = matfile::write(
                &[
                    matfile::MatVar {
                        name: "X",
                        class: matfile::MX_UINT8_CLASS,
                        dims: &[32, 32, 3, 1],
                        data: matfile::MatData::U8(&x),
                    },
                    matfile::MatVar {
                        name: "y",
                        class: matfile::MX_DOUBLE_CLASS,
                        dims: &[1, 1],
                        data: matfile::MatData::F64(&[bad]),
                    },
                ],
                matfile::WriteOptions::default(),
            );
            assert!(matches!(
                parse(&bytes, "t"),
                Err(Error::LabelOutOfRange { .. })
            ));
        }
    }

    #[test]
    fn count_mismatch_and_bad_shape() {
        let x = vec![0u8; 2 * 3072];
        let var_y = |y: &'static [f64]| matfile::MatVar {
            name: "y",
            class: matfile::MX_DOUBLE_CLASS,
            dims: Box::leak(Box::new([y.len(), 1])),
            data: matfile::MatData::F64(y),
        };
        let bytes = matfile::write(
            &[
                matfile::MatVar {
                    name: "X",
                    class: matfile::MX_UINT8_CLASS,
                    dims: &[32, 32, 3, 2],
                    data: matfile::MatData::U8(&x),
                },
                var_y(&[1.0]),
            ],
            matfile::WriteOptions::default(),
        );
        assert!(matches!(
            parse(&bytes, "t"),
            Err(Error::CountMismatch {
                images: 2,
                labels: 1,
                ..
            })
        ));
        let bytes = matfile::write(
            &[
                matfile::MatVar {
                    name: "X",
                    class: matfile::MX_UINT8_CLASS,
                    dims: &[32, 32, 6, 1],
                    data: matfile::MatData::U8(&x),
                },
                var_y(&[1.0]),
            ],
            matfile::WriteOptions::default(),
        );
        assert!(matches!(parse(&bytes, "t"), Err(Error::Malformed { .. })));
        let bytes = matfile::write(&[var_y(&[1.0])], matfile::WriteOptions::default());
        assert!(matches!(parse(&bytes, "t"), Err(Error::Malformed { .. })));
    }
}
