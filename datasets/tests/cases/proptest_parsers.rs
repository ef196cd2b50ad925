//! Property tests over every parser: arbitrary or mutated bytes never panic
//! (they parse or return a typed error), and writer -> parser round-trips.

use datasets::cifar::{self, CifarVariant};
use datasets::matfile::{self, MatData, MatVar, WriteOptions};
use datasets::{AugmentChoice, ImageDataset, ImageShape, LabelNoise, Limit, mnist, svhn};
use proptest::prelude::*;

const VARIANTS: [CifarVariant; 3] = [
    CifarVariant::Cifar10,
    CifarVariant::Cifar100 { coarse: false },
    CifarVariant::Cifar100 { coarse: true },
];

/// Applies a list of mutations (overwrite, truncate, insert) to valid bytes.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, value, kind) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = pos % bytes.len();
        match kind % 3 {
            0 => bytes[at] = value,
            1 => bytes.truncate(at),
            _ => bytes.insert(at, value),
        }
    }
    bytes
}

fn valid_idx_pair(gz: bool) -> (Vec<u8>, Vec<u8>) {
    let img = mnist::write_images(3, 2, &(0..24).collect::<Vec<u8>>()).unwrap();
    let lab = mnist::write_labels(&[1, 2, 3, 4]).unwrap();
    if gz {
        (mnist::gzip(&img), mnist::gzip(&lab))
    } else {
        (img, lab)
    }
}

fn valid_mat(compress: bool, big_endian: bool) -> Vec<u8> {
    let pixels: Vec<u8> = (0..2 * 3072).map(|i| (i % 256) as u8).collect();
    let x = svhn::nchw_to_column_major(&pixels, 2);
    matfile::write(
        &[
            MatVar {
                name: "X",
                class: matfile::MX_UINT8_CLASS,
                dims: &[32, 32, 3, 2],
                data: MatData::U8(&x),
            },
            MatVar {
                name: "y",
                class: matfile::MX_DOUBLE_CLASS,
                dims: &[2, 1],
                data: MatData::F64(&[10.0, 3.0]),
            },
        ],
        WriteOptions {
            compress,
            big_endian,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn idx_arbitrary_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..200),
                                       b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = mnist::parse_images(&a, "a");
        let _ = mnist::parse_labels(&b, "b");
        let _ = mnist::parse_pair(&a, &b, "p", 10);
        let _ = mnist::maybe_gunzip(&a, "a");
    }

    #[test]
    fn idx_mutated_files_never_panic(gz in any::<bool>(),
                                     edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        let (img, lab) = valid_idx_pair(gz);
        let img = mutate(img, &edits);
        let lab = mutate(lab, &edits[..1]);
        let _ = mnist::parse_pair(&img, &lab, "p", 10);
    }

    #[test]
    fn idx_round_trip(n in 0usize..6, rows in 1usize..6, cols in 1usize..6, gz in any::<bool>(), seed in any::<u8>()) {
        let pixels: Vec<u8> = (0..n * rows * cols).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((i + seed as usize) % 10) as u8).collect();
        let mut img = mnist::write_images(rows, cols, &pixels).unwrap();
        let mut lab = mnist::write_labels(&labels).unwrap();
        if gz {
            img = mnist::gzip(&img);
            lab = mnist::gzip(&lab);
        }
        let d = mnist::parse_pair(&img, &lab, "rt", 10).unwrap();
        prop_assert_eq!(d.len(), n);
        prop_assert_eq!(d.shape(), ImageShape::new(1, rows, cols));
        prop_assert_eq!(d.pixels(), &pixels[..]);
        let got: Vec<u8> = d.labels().iter().map(|&l| l as u8).collect();
        prop_assert_eq!(got, labels);
    }

    #[test]
    fn cifar_arbitrary_bytes_are_parsed_or_refused(
        records in 0usize..3,
        // Whole records, or a few bytes more or less.
        off in prop_oneof![Just(0i64), -3i64..4],
        seed in any::<u64>(),
        v in 0usize..3,
        fix_labels in any::<bool>(),
    ) {
        let variant = VARIANTS[v];
        let record = variant.record_len();
        let len = (records as i64 * record as i64 + off).max(0) as usize;
        let mut state = seed | 1;
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let label_bytes = record - 3072;
        if fix_labels {
            for rec in bytes.chunks_mut(record) {
                if rec.len() >= label_bytes {
                    rec[0] %= if label_bytes == 1 { 10 } else { 20 };
                    if label_bytes == 2 {
                        rec[1] %= 100;
                    }
                }
            }
        }
        let whole = len > 0 && len.is_multiple_of(record);
        let labels_valid = bytes.chunks(record).all(|rec| match label_bytes {
            1 => rec[0] < 10,
            _ => rec[0] < 20 && rec.get(1).is_none_or(|&fine| fine < 100),
        });
        match cifar::parse(&bytes, variant, "fuzz") {
            Ok(d) => {
                prop_assert!(whole && labels_valid, "accepted {len} bytes");
                prop_assert_eq!(d.len(), len / record);
                let pixels: Vec<u8> = bytes.chunks(record).flat_map(|r| r[label_bytes..].to_vec()).collect();
                prop_assert_eq!(d.pixels(), &pixels[..]);
                prop_assert!(d.labels().iter().all(|&l| usize::from(l) < variant.num_classes()));
            }
            Err(e) => {
                // Refused only for a reason the bytes have, and named.
                prop_assert!(!(whole && labels_valid), "refused valid records: {e}");
                prop_assert!(e.to_string().contains("fuzz"), "{e}");
            }
        }
    }

    #[test]
    fn cifar_round_trip(n in 1usize..4, v in 0usize..3, seed in any::<u64>()) {
        let variant = VARIANTS[v];
        let pixels: Vec<u8> = (0..n * 3072).map(|i| ((i as u64).wrapping_mul(seed | 1) >> 3) as u8).collect();
        let pairs: Vec<(u8, u8)> = (0..n)
            .map(|i| {
                let s = seed as usize + i;
                match variant {
                    CifarVariant::Cifar10 => ((s % 10) as u8, 0),
                    _ => ((s % 20) as u8, (s % 100) as u8),
                }
            })
            .collect();
        let bytes = cifar::write_records(variant, &pixels, &pairs).unwrap();
        let d = cifar::parse(&bytes, variant, "rt").unwrap();
        prop_assert_eq!(d.pixels(), &pixels[..]);
        let expected: Vec<u16> = pairs
            .iter()
            .map(|&(a, b)| if variant == (CifarVariant::Cifar100 { coarse: false }) { b.into() } else { a.into() })
            .collect();
        prop_assert_eq!(d.labels(), &expected[..]);
    }

    #[test]
    fn cifar_tarball_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = cifar::read_tarball(&bytes[..], CifarVariant::Cifar10, "t");
        let mut gz = vec![0x1f, 0x8b, 8, 0];
        gz.extend_from_slice(&bytes);
        let _ = cifar::read_tarball(&gz[..], CifarVariant::Cifar10, "t");
    }

    #[test]
    fn matfile_arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), be in any::<bool>()) {
        // A valid header followed by garbage, and pure garbage.
        let mut bytes = valid_mat(false, be)[..128].to_vec();
        bytes.extend_from_slice(&body);
        let _ = matfile::read(&bytes, "m");
        let _ = svhn::parse(&bytes, "m");
        let _ = matfile::read(&body, "m");
    }

    #[test]
    fn matfile_mutated_files_never_panic(compress in any::<bool>(), be in any::<bool>(),
                                         edits in proptest::collection::vec((128usize..100_000, any::<u8>(), any::<u8>()), 1..5)) {
        let bytes = mutate(valid_mat(compress, be), &edits);
        let _ = svhn::parse(&bytes, "m");
    }

    #[test]
    fn matfile_round_trip(name in "[A-Za-z][A-Za-z0-9_]{0,9}",
                          dims in proptest::collection::vec(0usize..4, 2..5),
                          seed in any::<u8>(),
                          doubles in any::<bool>(),
                          compress in any::<bool>(),
                          big_endian in any::<bool>()) {
        let n: usize = dims.iter().product();
        let bytes_data: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_add(seed)).collect();
        let f64_data: Vec<f64> = bytes_data.iter().map(|&b| f64::from(b) - 100.5).collect();
        let data = if doubles { MatData::F64(&f64_data) } else { MatData::U8(&bytes_data) };
        let class = if doubles { matfile::MX_DOUBLE_CLASS } else { matfile::MX_UINT8_CLASS };
        let file = matfile::write(&[MatVar { name: &name, class, dims: &dims, data }], WriteOptions { compress, big_endian });
        let mut arrays = matfile::read(&file, "rt").unwrap();
        prop_assert_eq!(arrays.len(), 1);
        let a = arrays.remove(0);
        prop_assert_eq!(&a.name, &name);
        prop_assert_eq!(&a.dims, &dims);
        prop_assert_eq!(a.class, class);
        if doubles {
            prop_assert_eq!(a.to_f64(), f64_data);
        } else {
            prop_assert_eq!(a.into_u8("rt").unwrap(), bytes_data);
        }
    }

    #[test]
    fn svhn_round_trip(n in 0usize..3, seed in any::<u8>(), compress in any::<bool>()) {
        let pixels: Vec<u8> = (0..n * 3072).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
        let digits: Vec<u8> = (0..n).map(|i| ((i + seed as usize) % 10) as u8).collect();
        let bytes = svhn::write(&pixels, &digits, compress).unwrap();
        let d = svhn::parse(&bytes, "rt").unwrap();
        prop_assert_eq!(d.pixels(), &pixels[..]);
        let got: Vec<u8> = d.labels().iter().map(|&l| l as u8).collect();
        prop_assert_eq!(got, digits);
    }
}

fn labelled(labels: Vec<u16>, classes: usize) -> ImageDataset {
    let n = labels.len();
    ImageDataset::new("p", ImageShape::new(1, 1, 1), classes, vec![0u8; n], labels).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn noise_properties(classes in 2usize..12, raw in proptest::collection::vec(any::<u16>(), 0..300),
                        fraction in 0.0f64..=1.0, seed in any::<u64>()) {
        let labels: Vec<u16> = raw.iter().map(|&l| l % classes as u16).collect();
        let d = labelled(labels, classes);
        let out = LabelNoise { fraction, seed }.apply(&d).unwrap();
        prop_assert_eq!(out.corrupted.len(), datasets::regime::ceil_count(fraction, d.len()));
        prop_assert!(out.corrupted.windows(2).all(|w| w[0] < w[1]));
        for i in 0..d.len() {
            let changed = out.dataset.labels()[i] != d.labels()[i];
            prop_assert_eq!(changed, out.is_corrupted(i));
        }
    }

    #[test]
    fn balanced_properties(classes in 1usize..8, raw in proptest::collection::vec(any::<u16>(), 1..300),
                           fraction in 0.01f64..=1.0, seed in any::<u64>()) {
        let labels: Vec<u16> = raw.iter().map(|&l| l % classes as u16).collect();
        let d = labelled(labels, classes);
        let Ok(idx) = (Limit::Balanced { fraction, seed }).indices(&d) else {
            // Only when the fraction keeps nothing.
            prop_assert_eq!(datasets::regime::floor_count(fraction, d.len()), 0);
            return Ok(());
        };
        prop_assert_eq!(idx.len(), datasets::regime::floor_count(fraction, d.len()));
        let sub = d.subset(&idx).unwrap();
        let counts = sub.class_counts();
        let avail = d.class_counts();
        // Classes that could give more are within one of each other, and
        // at least as large as any class that gave everything.
        let open: Vec<usize> = (0..classes).filter(|&c| counts[c] < avail[c]).collect();
        if let (Some(min), Some(max)) = (open.iter().map(|&c| counts[c]).min(), counts.iter().max()) {
            prop_assert!(*max <= min + 1, "{:?} of {:?}", counts, avail);
        }
    }

    #[test]
    fn augment_flip_involution(c in 1usize..4, h in 1usize..9, w in 1usize..9, seed in any::<u8>(),
                               dy in -3isize..=3, dx in -3isize..=3) {
        let shape = ImageShape::new(c, h, w);
        let img: Vec<u8> = (0..shape.numel()).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
        let flip = AugmentChoice { flip: true, ..AugmentChoice::IDENTITY };
        prop_assert_eq!(flip.apply(&flip.apply(&img, shape), shape), img.clone());
        prop_assert_eq!(AugmentChoice::IDENTITY.apply(&img, shape), img.clone());
        let crop = AugmentChoice { dy, dx, flip: false };
        let out = crop.apply(&img, shape);
        prop_assert_eq!(out.len(), img.len());
        // Shifting back recovers every pixel that stayed inside.
        let back = AugmentChoice { dy: -dy, dx: -dx, flip: false }.apply(&out, shape);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    // back(y, x) = out(y - dy, x - dx) = img(y, x) when
                    // (y - dy, x - dx) is inside the image.
                    let sy = y as isize - dy;
                    let sx = x as isize - dx;
                    let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                    let k = ch * h * w + y * w + x;
                    if inside {
                        prop_assert_eq!(back[k], img[k]);
                    }
                }
            }
        }
    }
}
