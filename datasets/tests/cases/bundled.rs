//! The bundled MNIST-10k: checksums, counts per class, pinned pixels.

use datasets::{DatasetKind, ImageShape, LoadOptions, bundled, download, load};

const TRAIN_COUNTS: [usize; 10] = [809, 896, 806, 816, 780, 688, 813, 857, 760, 775];
const TEST_COUNTS: [usize; 10] = [192, 231, 185, 216, 200, 175, 201, 213, 184, 203];

#[test]
fn embedded_files_match_sha256sums() {
    let sums = bundled::parse_sums(bundled::SHA256SUMS);
    assert_eq!(sums.len(), 4);
    for (name, bytes) in bundled::FILES {
        let expected = sums.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(download::sha256_hex(bytes), expected, "{name}");
    }
    // The same checksums as the copy shipped in the repository's data dir.
    let on_disk = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/mnist-10k/SHA256SUMS"
    ))
    .unwrap();
    assert_eq!(on_disk, bundled::SHA256SUMS);
}

#[test]
fn sizes_and_class_counts() {
    let split = bundled::mnist_10k().unwrap();
    assert_eq!(split.train.len(), 8000);
    assert_eq!(split.test.len(), 2000);
    assert_eq!(split.train.shape(), ImageShape::new(1, 28, 28));
    assert_eq!(split.train.num_classes(), 10);
    assert_eq!(split.train.class_counts(), TRAIN_COUNTS);
    assert_eq!(split.test.class_counts(), TEST_COUNTS);
    assert_eq!(split.train.name(), "MNIST-10k train");
}

#[test]
fn known_pixels() {
    let split = bundled::mnist_10k().unwrap();
    // Training digit 0 is a 6; its first ink is at row 3, columns 12-13.
    assert_eq!(split.train.label(0), Some(6));
    let img = split.train.image(0).unwrap();
    assert_eq!((img[3 * 28 + 12], img[3 * 28 + 13]), (120, 253));
    assert_eq!(img.iter().map(|&v| u64::from(v)).sum::<u64>(), 44116);
    assert_eq!(
        &split.train.labels()[..12],
        &[6, 5, 0, 6, 6, 3, 7, 3, 2, 8, 3, 6]
    );
    // Test digit 0 is a 7.
    assert_eq!(split.test.label(0), Some(7));
    let t = split.test.image(0).unwrap();
    assert_eq!(t[208], 11);
    assert_eq!(t.iter().map(|&v| u64::from(v)).sum::<u64>(), 20613);
}

#[test]
fn load_by_name() {
    let kind: DatasetKind = "mnist-10k".parse().unwrap();
    let split = load(&kind, &LoadOptions::offline()).unwrap();
    assert_eq!(split.train.len(), 8000);
}
