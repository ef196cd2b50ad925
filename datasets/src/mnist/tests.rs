use super::*;

fn images(n: usize) -> Vec<u8> {
    (0..n * 4).map(|i| i as u8).collect()
}

#[test]
fn round_trip_raw_and_gz() {
    let img = write_images(2, 2, &images(3)).unwrap();
    let lab = write_labels(&[1, 2, 9]).unwrap();
    for (i, l) in [
        (img.clone(), lab.clone()),
        (gzip(&img), gzip(&lab)),
        (gzip(&img), lab.clone()),
    ] {
        let d = parse_pair(&i, &l, "t", 10).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.shape(), ImageShape::new(1, 2, 2));
        assert_eq!(d.labels(), &[1, 2, 9]);
        assert_eq!(d.image(2).unwrap(), &[8, 9, 10, 11]);
    }
}

#[test]
fn header_is_big_endian() {
    let img = write_images(28, 28, &vec![0; 784]).unwrap();
    assert_eq!(
        &img[..16],
        &[0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28]
    );
    let lab = write_labels(&[5]).unwrap();
    assert_eq!(lab, vec![0, 0, 8, 1, 0, 0, 0, 1, 5]);
}

#[test]
fn bad_magic() {
    let lab = write_labels(&[1]).unwrap();
    // Label file where an image file is expected.
    let e = parse_pair(&lab, &lab, "t", 10).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMagic {
                expected: 2051,
                found: 2049,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn truncated_header_and_body() {
    let img = write_images(2, 2, &images(2)).unwrap();
    assert!(matches!(
        parse_images(&img[..10], "t"),
        Err(Error::TruncatedHeader {
            expected: 16,
            found: 10,
            ..
        })
    ));
    assert!(matches!(
        parse_images(&img[..2], "t"),
        Err(Error::TruncatedHeader { .. })
    ));
    assert!(matches!(
        parse_images(&img[..img.len() - 1], "t"),
        Err(Error::TruncatedBody {
            expected: 8,
            found: 7,
            ..
        })
    ));
    let lab = write_labels(&[1, 2]).unwrap();
    assert!(matches!(
        parse_labels(&lab[..9], "t"),
        Err(Error::TruncatedBody { .. })
    ));
    let mut long = lab.clone();
    long.push(0);
    assert!(matches!(
        parse_labels(&long, "t"),
        Err(Error::TrailingData { extra: 1, .. })
    ));
}

#[test]
fn truncated_gzip_is_a_decompress_error() {
    let img = gzip(&write_images(2, 2, &images(2)).unwrap());
    let lab = gzip(&write_labels(&[1, 2]).unwrap());
    let e = parse_pair(&img[..img.len() / 2], &lab, "t", 10).unwrap_err();
    assert!(matches!(e, Error::Decompress { .. }), "{e}");
}

#[test]
fn count_mismatch_and_label_range() {
    let img = write_images(2, 2, &images(2)).unwrap();
    let e = parse_pair(&img, &write_labels(&[1]).unwrap(), "t", 10).unwrap_err();
    assert!(matches!(
        e,
        Error::CountMismatch {
            images: 2,
            labels: 1,
            ..
        }
    ));
    let e = parse_pair(&img, &write_labels(&[1, 10]).unwrap(), "t", 10).unwrap_err();
    assert!(matches!(
        e,
        Error::LabelOutOfRange {
            index: 1,
            label: 10,
            ..
        }
    ));
}

#[test]
fn huge_dimensions_do_not_overflow() {
    let mut img = Vec::new();
    for v in [IMAGES_MAGIC, u32::MAX, u32::MAX, u32::MAX] {
        img.extend_from_slice(&v.to_be_bytes());
    }
    assert!(matches!(
        parse_images(&img, "t"),
        Err(Error::TruncatedBody { .. })
    ));
}
