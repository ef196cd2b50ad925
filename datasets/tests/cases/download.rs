//! Download plumbing without the network: injected fetchers, file:// URLs,
//! checksum mismatches, atomic writes, the offline error.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datasets::download::{
    DefaultFetcher, FetchError, Fetcher, MirrorFetcher, fetch_resource, sha256_hex,
};
use datasets::{DatasetKind, Error, LoadOptions, Resource, load, mnist};

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Serves fixed bytes for every URL and counts calls.
struct Fixed {
    bytes: Vec<u8>,
    calls: AtomicUsize,
}

impl Fetcher for Fixed {
    fn fetch(&self, _url: &str, sink: &mut dyn Write) -> Result<(), FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sink.write_all(&self.bytes)?;
        Ok(())
    }
}

/// Writes half of the payload then fails, like a dropped connection.
struct Broken;

impl Fetcher for Broken {
    fn fetch(&self, _url: &str, sink: &mut dyn Write) -> Result<(), FetchError> {
        sink.write_all(&[7u8; 1000])?;
        Err("connection reset by peer".into())
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn fetch_verifies_and_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let payload = common::bytes(100_000, 5);
    let res = Resource {
        file_name: "blob.bin",
        url: "https://example.invalid/blob.bin",
        sha256: leak(sha256_hex(&payload)),
    };
    let fetcher = Fixed {
        bytes: payload.clone(),
        calls: AtomicUsize::new(0),
    };
    let path = fetch_resource(&res, &dir.path().join("sub"), &fetcher).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), payload);
    assert_eq!(entries(&dir.path().join("sub")), vec!["blob.bin"]);
}

#[test]
fn checksum_mismatch_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let res = Resource {
        file_name: "blob.bin",
        url: "https://example.invalid/blob.bin",
        sha256: leak(sha256_hex(b"the real thing")),
    };
    let fetcher = Fixed {
        bytes: b"an impostor".to_vec(),
        calls: AtomicUsize::new(0),
    };
    let e = fetch_resource(&res, dir.path(), &fetcher).unwrap_err();
    match e {
        Error::ChecksumMismatch {
            path,
            expected,
            actual,
        } => {
            assert!(path.ends_with("blob.bin"));
            assert_eq!(expected, res.sha256);
            assert_eq!(actual, sha256_hex(b"an impostor"));
        }
        other => panic!("{other}"),
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn interrupted_download_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let res = Resource {
        file_name: "blob.bin",
        url: "https://example.invalid/blob.bin",
        sha256: leak(sha256_hex(b"x")),
    };
    let e = fetch_resource(&res, dir.path(), &Broken).unwrap_err();
    assert!(matches!(e, Error::Download { .. }), "{e}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn file_urls_through_the_default_fetcher() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("source.bin");
    std::fs::write(&src, b"hello file url").unwrap();
    let res = Resource {
        file_name: "copy.bin",
        url: leak(format!("file://{}", src.display())),
        sha256: leak(sha256_hex(b"hello file url")),
    };
    let out = dir.path().join("out");
    fetch_resource(&res, &out, &DefaultFetcher).unwrap();
    assert_eq!(
        std::fs::read(out.join("copy.bin")).unwrap(),
        b"hello file url"
    );
}

#[test]
fn offline_error_names_files_and_directory() {
    let cache = tempfile::tempdir().unwrap();
    let opts = LoadOptions::offline().with_cache_dir(cache.path());
    for (kind, dir, files) in [
        (
            DatasetKind::Mnist,
            "mnist",
            vec![
                "train-images-idx3-ubyte.gz",
                "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz",
            ],
        ),
        (
            DatasetKind::Cifar10,
            "cifar10",
            vec!["cifar-10-binary.tar.gz"],
        ),
        (
            DatasetKind::Cifar100 { coarse: true },
            "cifar100",
            vec!["cifar-100-binary.tar.gz"],
        ),
        (
            DatasetKind::Svhn,
            "svhn",
            vec!["train_32x32.mat", "test_32x32.mat"],
        ),
    ] {
        let e = load(&kind, &opts).unwrap_err();
        let msg = e.to_string();
        match e {
            Error::MissingFiles {
                directory,
                files: got,
                urls,
                reason,
                ..
            } => {
                assert_eq!(directory, cache.path().join(dir));
                assert_eq!(got, files);
                assert_eq!(urls.len(), files.len());
                assert!(reason.is_none());
                for f in &files {
                    assert!(msg.contains(f), "{msg}");
                }
                assert!(msg.contains(&cache.path().join(dir).display().to_string()));
            }
            other => panic!("{kind}: {other}"),
        }
    }
}

#[test]
fn failed_fetch_becomes_missing_files_with_reason() {
    let cache = tempfile::tempdir().unwrap();
    let opts = LoadOptions::default()
        .with_cache_dir(cache.path())
        .with_fetcher(Arc::new(Broken));
    let e = load(&DatasetKind::Svhn, &opts).unwrap_err();
    match &e {
        Error::MissingFiles { files, reason, .. } => {
            assert_eq!(files, &["train_32x32.mat", "test_32x32.mat"]);
            assert!(reason.as_deref().unwrap().contains("connection reset"));
        }
        other => panic!("{other}"),
    }
    assert!(entries(&cache.path().join("svhn")).is_empty());
}

#[test]
fn download_path_uses_canonical_checksums() {
    // A mirror with fixture files (not the canonical bytes): the download
    // is rejected and nothing reaches the cache.
    let mirror = tempfile::tempdir().unwrap();
    common::write_mnist_dir(mirror.path(), 2, 2, true);
    let cache = tempfile::tempdir().unwrap();
    let opts = LoadOptions::default()
        .with_cache_dir(cache.path())
        .with_fetcher(Arc::new(MirrorFetcher {
            dir: mirror.path().to_path_buf(),
        }));
    let e = load(&DatasetKind::Mnist, &opts).unwrap_err();
    assert!(matches!(e, Error::ChecksumMismatch { .. }), "{e}");
    assert!(entries(&cache.path().join("mnist")).is_empty());
}

#[test]
fn present_files_are_not_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let payload = b"cached".to_vec();
    let res = Resource {
        file_name: "f.bin",
        url: "https://example.invalid/f.bin",
        sha256: leak(sha256_hex(&payload)),
    };
    let fetcher = Arc::new(Fixed {
        bytes: payload,
        calls: AtomicUsize::new(0),
    });
    let opts = LoadOptions::default()
        .with_cache_dir(dir.path())
        .with_fetcher(fetcher.clone());
    datasets::ensure("t", dir.path(), &[&res], &opts).unwrap();
    datasets::ensure("t", dir.path(), &[&res], &opts).unwrap();
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
    // A corrupted cached file is reported, not silently used.
    std::fs::write(dir.path().join("f.bin"), b"bit rot").unwrap();
    assert!(matches!(
        datasets::ensure("t", dir.path(), &[&res], &opts),
        Err(Error::ChecksumMismatch { .. })
    ));
}

#[test]
fn canonical_resources_are_well_formed() {
    let all: Vec<&Resource> = mnist::MNIST_RESOURCES
        .iter()
        .chain(&mnist::FASHION_RESOURCES)
        .chain([
            &datasets::cifar::CIFAR10_RESOURCE,
            &datasets::cifar::CIFAR100_RESOURCE,
            &datasets::svhn::TRAIN_RESOURCE,
            &datasets::svhn::TEST_RESOURCE,
        ])
        .collect();
    for r in all {
        assert_eq!(r.sha256.len(), 64, "{}", r.file_name);
        assert!(
            r.sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(r.url.ends_with(r.file_name), "{}", r.url);
        assert!(r.url.starts_with("http"));
    }
}
