//! Writing MAT files (level 5, optionally compressed): what the tests and
//! benchmarks use to produce SVHN-format files.

use std::io::Write;

use super::{MI_COMPRESSED, MI_DOUBLE, MI_INT8, MI_INT32, MI_MATRIX, MI_UINT8, MI_UINT32};

/// Values of a variable to write.
#[derive(Clone, Copy, Debug)]
pub enum MatData<'a> {
    /// Stored as `miUINT8`.
    U8(&'a [u8]),
    /// Stored as `miDOUBLE`.
    F64(&'a [f64]),
}

/// A variable to write.
#[derive(Clone, Debug)]
pub struct MatVar<'a> {
    /// Name.
    pub name: &'a str,
    /// MATLAB class written in the array flags (may differ from the storage
    /// type, as MATLAB's own compaction does).
    pub class: u8,
    /// Dimensions, column-major.
    pub dims: &'a [usize],
    /// Values.
    pub data: MatData<'a>,
}

/// How to write a MAT-file.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// Wrap each variable in a zlib `miCOMPRESSED` element (MATLAB `-v7`).
    pub compress: bool,
    /// Write a big-endian file.
    pub big_endian: bool,
}

struct Writer {
    out: Vec<u8>,
    be: bool,
}

impl Writer {
    fn u32(&mut self, v: u32) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    /// Writes an element, in small format when it fits in 4 bytes.
    fn element(&mut self, mi_type: u32, data: &[u8]) {
        if data.len() <= 4 && !data.is_empty() {
            self.u32(((data.len() as u32) << 16) | mi_type);
            self.out.extend_from_slice(data);
            self.out.resize(self.out.len() + 4 - data.len(), 0);
        } else {
            self.u32(mi_type);
            self.u32(data.len() as u32);
            self.out.extend_from_slice(data);
            let padded = self.out.len().next_multiple_of(8);
            self.out.resize(padded, 0);
        }
    }
}

fn matrix_element(var: &MatVar<'_>, be: bool) -> Vec<u8> {
    let mut body = Writer {
        out: Vec::new(),
        be,
    };
    let mut flags = Writer {
        out: Vec::new(),
        be,
    };
    flags.u32(u32::from(var.class));
    flags.u32(0);
    body.element(MI_UINT32, &flags.out);
    let mut dims = Writer {
        out: Vec::new(),
        be,
    };
    for &d in var.dims {
        dims.u32(d as u32);
    }
    body.element(MI_INT32, &dims.out);
    body.element(MI_INT8, var.name.as_bytes());
    match var.data {
        MatData::U8(v) => body.element(MI_UINT8, v),
        MatData::F64(v) => {
            let bytes: Vec<u8> = v
                .iter()
                .flat_map(|x| if be { x.to_be_bytes() } else { x.to_le_bytes() })
                .collect();
            body.element(MI_DOUBLE, &bytes);
        }
    }
    let mut m = Writer {
        out: Vec::new(),
        be,
    };
    m.u32(MI_MATRIX);
    m.u32(body.out.len() as u32);
    m.out.extend_from_slice(&body.out);
    m.out
}

/// Writes a level-5 MAT-file holding `vars`.
pub fn write(vars: &[MatVar<'_>], options: WriteOptions) -> Vec<u8> {
    let be = options.big_endian;
    let mut w = Writer {
        out: Vec::new(),
        be,
    };
    let mut text = b"MATLAB 5.0 MAT-file, written by the usam datasets crate".to_vec();
    text.resize(116, b' ');
    w.out.extend_from_slice(&text);
    w.out.extend_from_slice(&[0u8; 8]);
    if be {
        w.out.extend_from_slice(&[0x01, 0x00, b'M', b'I']);
    } else {
        w.out.extend_from_slice(&[0x00, 0x01, b'I', b'M']);
    }
    for var in vars {
        let m = matrix_element(var, be);
        if options.compress {
            let mut enc =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&m).expect("write to Vec");
            let z = enc.finish().expect("finish into Vec");
            w.u32(MI_COMPRESSED);
            w.u32(z.len() as u32);
            w.out.extend_from_slice(&z);
        } else {
            w.out.extend_from_slice(&m);
        }
    }
    w.out
}
