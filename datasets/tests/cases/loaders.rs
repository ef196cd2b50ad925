//! Every loader reads fixtures written in the exact format of the real
//! files, through the same paths users take (cache directory, `load`).

use crate::common;

use std::path::Path;

use common::*;
use datasets::cifar::CifarVariant;
use datasets::mnist::MnistVariant;
use datasets::{DatasetKind, Error, ImageShape, LoadOptions, cifar, folder, load, mnist, svhn};

/// Offline, no checksum verification (fixtures are not the canonical files).
fn fixture_options(cache: &Path) -> LoadOptions {
    LoadOptions {
        verify_checksums: false,
        ..LoadOptions::offline().with_cache_dir(cache)
    }
}

#[test]
fn mnist_gz_from_cache() {
    let cache = tempfile::tempdir().unwrap();
    let (tr, trl, te, tel) = write_mnist_dir(&cache.path().join("mnist"), 12, 5, true);
    let split = load(&DatasetKind::Mnist, &fixture_options(cache.path())).unwrap();
    assert_eq!(split.train.len(), 12);
    assert_eq!(split.test.len(), 5);
    assert_eq!(split.train.shape(), ImageShape::new(1, 28, 28));
    assert_eq!(split.train.pixels(), &tr[..]);
    assert_eq!(split.test.pixels(), &te[..]);
    let as_u16 = |v: &[u8]| v.iter().map(|&x| u16::from(x)).collect::<Vec<_>>();
    assert_eq!(split.train.labels(), &as_u16(&trl)[..]);
    assert_eq!(split.test.labels(), &as_u16(&tel)[..]);
    assert_eq!(split.train.name(), "MNIST train");
}

#[test]
fn fashion_mnist_raw_from_cache_and_dir() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("fashion-mnist");
    let (tr, _, _, _) = write_mnist_dir(&dir, 4, 3, false);
    // Decompressed files carry no published checksum: used even when
    // verification is on, and without any download.
    let opts = LoadOptions::offline().with_cache_dir(cache.path());
    let split = load(&DatasetKind::FashionMnist, &opts).unwrap();
    assert_eq!(split.train.pixels(), &tr[..]);
    assert_eq!(split.test.len(), 3);
    let again = mnist::load_dir(&dir, MnistVariant::Fashion).unwrap();
    assert_eq!(again.train.labels(), split.train.labels());
}

#[test]
fn mnist_checksums_are_verified() {
    let cache = tempfile::tempdir().unwrap();
    write_mnist_dir(&cache.path().join("mnist"), 3, 2, true);
    let opts = LoadOptions::offline().with_cache_dir(cache.path());
    let e = load(&DatasetKind::Mnist, &opts).unwrap_err();
    match e {
        Error::ChecksumMismatch { path, expected, .. } => {
            assert!(path.ends_with("mnist/train-images-idx3-ubyte.gz"));
            assert_eq!(expected, mnist::MNIST_RESOURCES[0].sha256);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn mnist_count_mismatch_between_files() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("mnist");
    write_mnist_dir(&dir, 3, 2, true);
    std::fs::write(
        dir.join("train-labels-idx1-ubyte.gz"),
        mnist::gzip(&mnist::write_labels(&[1, 2]).unwrap()),
    )
    .unwrap();
    let e = mnist::load_dir(&dir, MnistVariant::Digits).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn cifar10_from_tarball_and_extracted_dir() {
    let cache = tempfile::tempdir().unwrap();
    let fx = cifar_fixture(CifarVariant::Cifar10, 3);
    let tarball = cifar::tarball_path(cache.path(), CifarVariant::Cifar10);
    std::fs::create_dir_all(tarball.parent().unwrap()).unwrap();
    write_tar_gz(&tarball, "cifar-10-batches-bin", &fx.files);

    let split = load(&DatasetKind::Cifar10, &fixture_options(cache.path())).unwrap();
    assert_eq!(split.train.len(), 15);
    assert_eq!(split.test.len(), 3);
    assert_eq!(split.train.shape(), ImageShape::new(3, 32, 32));
    assert_eq!(split.train.num_classes(), 10);
    assert_eq!(split.train.pixels(), &fx.train_pixels[..]);
    assert_eq!(split.train.labels(), &fx.train_labels[..]);
    assert_eq!(split.test.pixels(), &fx.test_pixels[..]);
    assert_eq!(split.test.labels(), &fx.test_labels[..]);

    // The canonical checksum is enforced on the tarball.
    let strict = LoadOptions::offline().with_cache_dir(cache.path());
    assert!(matches!(
        load(&DatasetKind::Cifar10, &strict),
        Err(Error::ChecksumMismatch { .. })
    ));

    // An extracted directory takes precedence.
    let extracted = cache.path().join("cifar10").join("cifar-10-batches-bin");
    std::fs::create_dir_all(&extracted).unwrap();
    for (name, data) in &fx.files {
        std::fs::write(extracted.join(name), data).unwrap();
    }
    let from_dir = load(&DatasetKind::Cifar10, &strict).unwrap();
    assert_eq!(from_dir.train.pixels(), split.train.pixels());
    assert_eq!(from_dir.test.labels(), split.test.labels());
}

#[test]
fn cifar100_fine_and_coarse_from_tarball() {
    let cache = tempfile::tempdir().unwrap();
    for coarse in [false, true] {
        let variant = CifarVariant::Cifar100 { coarse };
        let fx = cifar_fixture(variant, 4);
        let tarball = cifar::tarball_path(cache.path(), variant);
        std::fs::create_dir_all(tarball.parent().unwrap()).unwrap();
        write_tar_gz(&tarball, "cifar-100-binary", &fx.files);
        let split = load(
            &DatasetKind::Cifar100 { coarse },
            &fixture_options(cache.path()),
        )
        .unwrap();
        assert_eq!(split.train.num_classes(), if coarse { 20 } else { 100 });
        assert_eq!(split.train.labels(), &fx.train_labels[..]);
        assert_eq!(split.test.labels(), &fx.test_labels[..]);
        assert_eq!(split.train.pixels(), &fx.train_pixels[..]);
    }
}

#[test]
fn cifar_tarball_missing_member_and_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let fx = cifar_fixture(CifarVariant::Cifar10, 2);
    let path = dir.path().join("c.tar.gz");
    write_tar_gz(&path, "cifar-10-batches-bin", &fx.files[1..]);
    let e = cifar::load_tarball(&path, CifarVariant::Cifar10).unwrap_err();
    assert!(e.to_string().contains("data_batch_1.bin"), "{e}");

    let mut files = fx.files.clone();
    files[2].1.pop();
    write_tar_gz(&path, "cifar-10-batches-bin", &files);
    let e = cifar::load_tarball(&path, CifarVariant::Cifar10).unwrap_err();
    assert!(
        matches!(e, Error::CifarRecordLength { ref what, record_len: 3073, .. } if what == "data_batch_3.bin"),
        "{e}"
    );

    std::fs::write(&path, b"not a tarball at all").unwrap();
    assert!(cifar::load_tarball(&path, CifarVariant::Cifar10).is_err());
}

#[test]
fn svhn_from_cache() {
    let cache = tempfile::tempdir().unwrap();
    let (tr, trd, te, ted) = write_svhn_dir(&cache.path().join("svhn"), 6, 4);
    let split = load(&DatasetKind::Svhn, &fixture_options(cache.path())).unwrap();
    assert_eq!(split.train.shape(), ImageShape::new(3, 32, 32));
    assert_eq!(split.train.pixels(), &tr[..]);
    assert_eq!(split.test.pixels(), &te[..]);
    let as_u16 = |v: &[u8]| v.iter().map(|&x| u16::from(x)).collect::<Vec<_>>();
    assert_eq!(split.train.labels(), &as_u16(&trd)[..]);
    assert_eq!(split.test.labels(), &as_u16(&ted)[..]);
    // Digit 0 is stored as label 10 in the file and comes back as 0.
    assert_eq!(split.train.label(0), Some(0));
    let again = svhn::load_dir(&cache.path().join("svhn")).unwrap();
    assert_eq!(again.test.labels(), split.test.labels());
}

#[test]
fn svhn_label_zero_in_file_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write_svhn_dir(dir.path(), 2, 2);
    // Re-write the test file with a raw 0 label (not valid in SVHN).
    let x = vec![0u8; 3072];
    let bytes = datasets::matfile::write(
        &[
            datasets::matfile::MatVar {
                name: "X",
                class: datasets::matfile::MX_UINT8_CLASS,
                dims: &[32, 32, 3, 1],
                data: datasets::matfile::MatData::U8(&x),
            },
            datasets::matfile::MatVar {
                name: "y",
                class: datasets::matfile::MX_DOUBLE_CLASS,
                dims: &[1, 1],
                data: datasets::matfile::MatData::U8(&[0]),
            },
        ],
        datasets::matfile::WriteOptions {
            compress: true,
            big_endian: false,
        },
    );
    std::fs::write(dir.path().join("test_32x32.mat"), bytes).unwrap();
    let e = svhn::load_dir(dir.path()).unwrap_err();
    assert!(matches!(e, Error::LabelOutOfRange { label: 0, .. }), "{e}");
}

#[test]
fn missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("nowhere");
    assert!(matches!(
        mnist::load_dir(&nowhere, MnistVariant::Digits),
        Err(Error::MissingDirectory { .. })
    ));
    assert!(matches!(
        cifar::load_dir(&nowhere, CifarVariant::Cifar10),
        Err(Error::MissingDirectory { .. })
    ));
    assert!(matches!(
        svhn::load_dir(&nowhere),
        Err(Error::MissingDirectory { .. })
    ));
    assert!(matches!(
        folder::load(&nowhere),
        Err(Error::MissingDirectory { .. })
    ));
    std::fs::create_dir_all(nowhere.join("train/a")).unwrap();
    match folder::load(&nowhere) {
        Err(Error::MissingDirectory { path, .. }) => assert!(path.ends_with("test")),
        other => panic!("{other:?}"),
    }
}

fn save_png(path: &Path, img: image::DynamicImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

#[test]
fn image_folder_rgb_and_grey() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // RGB: pixel (x, y) = (x, y, 100 + class).
    for (class, n) in [("cat", 2), ("dog", 1)] {
        for i in 0..n {
            let c = if class == "cat" { 0 } else { 1 };
            let img =
                image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8, y as u8, 100 + c]));
            save_png(&r.join(format!("train/{class}/{i}.png")), img.into());
        }
    }
    let img = image::RgbImage::from_fn(4, 3, |_, _| image::Rgb([9, 9, 101]));
    save_png(&r.join("test/dog/a.png"), img.into());
    std::fs::write(r.join("train/cat/notes.txt"), "ignored").unwrap();

    let f = folder::load(r).unwrap();
    assert_eq!(f.classes, vec!["cat", "dog"]);
    let train = &f.split.train;
    assert_eq!(train.shape(), ImageShape::new(3, 3, 4));
    assert_eq!(train.labels(), &[0, 0, 1]);
    assert_eq!(f.split.test.labels(), &[1]);
    let img = train.image(2).unwrap();
    // CHW: red plane is x, green plane is y, blue plane 101.
    assert_eq!(&img[..4], &[0, 1, 2, 3]);
    assert_eq!(&img[12..16], &[0, 0, 0, 0]);
    assert_eq!(&img[16..20], &[1, 1, 1, 1]);
    assert!(img[24..].iter().all(|&v| v == 101));

    let kind: DatasetKind = format!("folder:{}", r.display()).parse().unwrap();
    let split = load(&kind, &LoadOptions::offline()).unwrap();
    assert_eq!(split.train.pixels(), train.pixels());

    // Greyscale folder gives one channel.
    let g = tempfile::tempdir().unwrap();
    for class in ["0", "1"] {
        let img = image::GrayImage::from_fn(5, 5, |x, _| image::Luma([x as u8 * 10]));
        save_png(
            &g.path().join(format!("train/{class}/x.png")),
            img.clone().into(),
        );
        save_png(&g.path().join(format!("test/{class}/x.png")), img.into());
    }
    let f = folder::load(g.path()).unwrap();
    assert_eq!(f.split.train.shape(), ImageShape::new(1, 5, 5));
    assert_eq!(&f.split.test.image(1).unwrap()[..5], &[0, 10, 20, 30, 40]);
}

#[test]
fn image_folder_errors() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    save_png(&r.join("train/a/0.png"), image::GrayImage::new(4, 4).into());
    save_png(&r.join("train/a/1.png"), image::GrayImage::new(5, 4).into());
    std::fs::create_dir_all(r.join("test")).unwrap();
    assert!(matches!(folder::load(r), Err(Error::Image { .. })));

    std::fs::remove_file(r.join("train/a/1.png")).unwrap();
    save_png(
        &r.join("test/zebra/0.png"),
        image::GrayImage::new(4, 4).into(),
    );
    assert!(matches!(folder::load(r), Err(Error::InvalidArgument(_))));

    std::fs::remove_dir_all(r.join("test/zebra")).unwrap();
    std::fs::write(r.join("train/a/2.png"), b"not a png").unwrap();
    assert!(matches!(folder::load(r), Err(Error::Image { .. })));
}
