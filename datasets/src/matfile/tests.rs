use super::*;

fn sample(options: WriteOptions) -> Vec<u8> {
    write(
        &[
            MatVar {
                name: "X",
                class: MX_UINT8_CLASS,
                dims: &[2, 3],
                data: MatData::U8(&[1, 2, 3, 4, 5, 6]),
            },
            MatVar {
                name: "labels",
                class: MX_DOUBLE_CLASS,
                dims: &[3, 1],
                data: MatData::F64(&[1.0, 10.0, 7.0]),
            },
            MatVar {
                name: "y",
                class: MX_DOUBLE_CLASS,
                dims: &[2, 1],
                // MATLAB's compaction: a double array stored as bytes, here
                // 2 bytes, i.e. a small data element.
                data: MatData::U8(&[3, 10]),
            },
        ],
        options,
    )
}

#[test]
fn round_trip_all_layouts() {
    for compress in [false, true] {
        for big_endian in [false, true] {
            let bytes = sample(WriteOptions {
                compress,
                big_endian,
            });
            let mut a = read(&bytes, "t").unwrap();
            assert_eq!(a.len(), 3);
            let x = take_variable(&mut a, "X", "t").unwrap();
            assert_eq!(x.dims, vec![2, 3]);
            assert_eq!(x.class, MX_UINT8_CLASS);
            assert_eq!(x.into_u8("t").unwrap(), vec![1, 2, 3, 4, 5, 6]);
            let l = take_variable(&mut a, "labels", "t").unwrap();
            assert_eq!(l.to_f64(), vec![1.0, 10.0, 7.0]);
            let y = take_variable(&mut a, "y", "t").unwrap();
            assert_eq!((y.class, y.mi_type), (MX_DOUBLE_CLASS, MI_UINT8));
            assert_eq!(y.to_f64(), vec![3.0, 10.0]);
            assert!(take_variable(&mut a, "Z", "t").is_err());
        }
    }
}

#[test]
fn header_bytes() {
    let le = sample(WriteOptions::default());
    assert_eq!(&le[126..128], b"IM");
    assert!(le.starts_with(b"MATLAB 5.0 MAT-file"));
    // First element after the header: miMATRIX, little-endian.
    assert_eq!(&le[128..132], &[14, 0, 0, 0]);
    let z = sample(WriteOptions {
        compress: true,
        big_endian: false,
    });
    assert_eq!(&z[128..132], &[15, 0, 0, 0]);
    // zlib stream header (deflate, 32K window).
    assert_eq!(z[136], 0x78);
}

#[test]
fn rejects_bad_headers() {
    let mut bytes = sample(WriteOptions::default());
    assert!(matches!(
        read(&bytes[..100], "t"),
        Err(Error::TruncatedHeader { .. })
    ));
    bytes[126] = b'X';
    assert!(matches!(read(&bytes, "t"), Err(Error::BadMagic { .. })));
    bytes[126] = b'I';
    bytes[124] = 0x00;
    bytes[125] = 0x02;
    let e = read(&bytes, "t").unwrap_err();
    assert!(e.to_string().contains("v7.3"), "{e}");
}

#[test]
fn truncated_elements() {
    for compress in [false, true] {
        let bytes = sample(WriteOptions {
            compress,
            big_endian: false,
        });
        for cut in [129, 140, 180, bytes.len() - 9] {
            assert!(read(&bytes[..cut], "t").is_err(), "cut {cut} {compress}");
        }
    }
}

#[test]
fn element_count_must_match_dims() {
    let bytes = write(
        &[MatVar {
            name: "X",
            class: MX_UINT8_CLASS,
            dims: &[2, 4],
            data: MatData::U8(&[1, 2, 3]),
        }],
        WriteOptions::default(),
    );
    let e = read(&bytes, "t").unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e}");
}

#[test]
fn into_u8_rejects_non_bytes() {
    let bytes = write(
        &[MatVar {
            name: "X",
            class: MX_DOUBLE_CLASS,
            dims: &[1, 2],
            data: MatData::F64(&[1.0, 256.0]),
        }],
        WriteOptions::default(),
    );
    let x = read(&bytes, "t").unwrap().remove(0);
    assert!(x.into_u8("t").is_err());
}
