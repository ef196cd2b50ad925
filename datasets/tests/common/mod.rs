//! Fixture writers shared by the integration tests: every file is written
//! in the exact on-disk format of the real dataset.
#![allow(dead_code)]

use std::path::Path;

use datasets::{cifar, mnist, svhn};

/// Deterministic pseudo-random bytes.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// Labels `i * step % classes`.
pub fn labels(n: usize, classes: u8, step: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * step) % classes as usize) as u8)
        .collect()
}

/// Writes the four MNIST IDX files (28x28) into `dir`, gzipped or raw.
/// Returns (train pixels, train labels, test pixels, test labels).
pub fn write_mnist_dir(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    gz: bool,
) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let tr = bytes(n_train * 784, 1);
    let trl = labels(n_train, 10, 3);
    let te = bytes(n_test * 784, 2);
    let tel = labels(n_test, 10, 7);
    let files = [
        mnist::write_images(28, 28, &tr).unwrap(),
        mnist::write_labels(&trl).unwrap(),
        mnist::write_images(28, 28, &te).unwrap(),
        mnist::write_labels(&tel).unwrap(),
    ];
    for (name, content) in mnist::FILE_NAMES.iter().zip(files) {
        if gz {
            std::fs::write(dir.join(name), mnist::gzip(&content)).unwrap();
        } else {
            std::fs::write(dir.join(name.trim_end_matches(".gz")), content).unwrap();
        }
    }
    (tr, trl, te, tel)
}

/// CIFAR-10 `.bin` files: `(file name, bytes)` with `per_file` records each,
/// and the expected (pixels, labels) of train and test.
pub struct CifarFixture {
    pub files: Vec<(String, Vec<u8>)>,
    pub train_pixels: Vec<u8>,
    pub train_labels: Vec<u16>,
    pub test_pixels: Vec<u8>,
    pub test_labels: Vec<u16>,
}

pub fn cifar_fixture(variant: cifar::CifarVariant, per_file: usize) -> CifarFixture {
    let mut f = CifarFixture {
        files: Vec::new(),
        train_pixels: Vec::new(),
        train_labels: Vec::new(),
        test_pixels: Vec::new(),
        test_labels: Vec::new(),
    };
    let names: Vec<(&str, bool)> = variant
        .train_files()
        .iter()
        .map(|n| (*n, true))
        .chain(variant.test_files().iter().map(|n| (*n, false)))
        .collect();
    for (k, (name, train)) in names.into_iter().enumerate() {
        let pixels = bytes(per_file * 3072, 10 + k as u64);
        let pairs: Vec<(u8, u8)> = (0..per_file)
            .map(|i| {
                let coarse = ((i + k) % 20) as u8;
                let fine = ((i * 7 + k) % 100) as u8;
                match variant {
                    cifar::CifarVariant::Cifar10 => (((i + k) % 10) as u8, 0),
                    _ => (coarse, fine),
                }
            })
            .collect();
        let kept: Vec<u16> = pairs
            .iter()
            .map(|&(a, b)| match variant {
                cifar::CifarVariant::Cifar100 { coarse: false } => u16::from(b),
                _ => u16::from(a),
            })
            .collect();
        let bin = cifar::write_records(variant, &pixels, &pairs).unwrap();
        if train {
            f.train_pixels.extend_from_slice(&pixels);
            f.train_labels.extend(kept);
        } else {
            f.test_pixels.extend_from_slice(&pixels);
            f.test_labels.extend(kept);
        }
        f.files.push((name.to_string(), bin));
    }
    f
}

/// Writes a `.tar.gz` holding `files` under `prefix/` (plus a text member,
/// as the real archives have).
pub fn write_tar_gz(path: &Path, prefix: &str, files: &[(String, Vec<u8>)]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut add = |name: String, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data).unwrap();
    };
    add(format!("{prefix}/readme.html"), b"<html></html>");
    for (name, data) in files {
        add(format!("{prefix}/{name}"), data);
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// Writes SVHN train/test `.mat` files (compressed, as the real ones) into
/// `dir`; returns (train pixels, train digits, test pixels, test digits).
pub fn write_svhn_dir(
    dir: &Path,
    n_train: usize,
    n_test: usize,
) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let tr = bytes(n_train * 3072, 3);
    let trd = labels(n_train, 10, 1);
    let te = bytes(n_test * 3072, 4);
    let ted = labels(n_test, 10, 3);
    std::fs::write(
        dir.join("train_32x32.mat"),
        svhn::write(&tr, &trd, true).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("test_32x32.mat"),
        svhn::write(&te, &ted, true).unwrap(),
    )
    .unwrap();
    (tr, trd, te, ted)
}
