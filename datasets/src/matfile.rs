//! A minimal reader (and writer) of MATLAB level-5 MAT-files, enough for
//! the numeric arrays of SVHN's `train_32x32.mat` / `test_32x32.mat`.
//!
//! Format (MathWorks, "MAT-File Format", level 5):
//!
//! * A 128-byte header: 116 bytes of text (`"MATLAB 5.0 MAT-file, ..."`), 8
//!   bytes of subsystem offset, a 2-byte version (`0x0100`) and a 2-byte
//!   endian indicator: the characters `I`,`M` for a little-endian file and
//!   `M`,`I` for a big-endian one. (Version `0x0200` marks the HDF5-based
//!   v7.3 format, which this reader refuses with a clear error.)
//! * Then data elements, each an 8-byte tag (`u32` type, `u32` byte count)
//!   followed by the data padded to a multiple of 8 bytes. A "small data
//!   element" packs a count `<= 4` into the upper 16 bits of the first tag
//!   word and the data into the second word.
//! * Top-level elements are `miMATRIX` (14) or `miCOMPRESSED` (15): a zlib
//!   stream that inflates to one `miMATRIX` element (not padded). MATLAB
//!   `-v7` files, SVHN's included, compress every variable.
//! * An `miMATRIX` holds sub-elements: array flags (`miUINT32`, 8 bytes: the
//!   class in the low byte, bit `0x0800` = complex), dimensions (`miINT32`),
//!   the name (`miINT8`), then the real part (any numeric type, which may be
//!   narrower than the class: MATLAB stores a `double` array of small
//!   integers as `miUINT8`) and, if complex, the imaginary part.
//!
//! Numeric arrays are column-major (first index fastest). Cell, structure,
//! character, sparse and object arrays are skipped.

use std::io::Read;

use crate::error::{Error, Result};

/// `miINT8`.
pub const MI_INT8: u32 = 1;
/// `miUINT8`.
pub const MI_UINT8: u32 = 2;
/// `miINT16`.
pub const MI_INT16: u32 = 3;
/// `miUINT16`.
pub const MI_UINT16: u32 = 4;
/// `miINT32`.
pub const MI_INT32: u32 = 5;
/// `miUINT32`.
pub const MI_UINT32: u32 = 6;
/// `miSINGLE`.
pub const MI_SINGLE: u32 = 7;
/// `miDOUBLE`.
pub const MI_DOUBLE: u32 = 9;
/// `miINT64`.
pub const MI_INT64: u32 = 12;
/// `miUINT64`.
pub const MI_UINT64: u32 = 13;
/// `miMATRIX`.
pub const MI_MATRIX: u32 = 14;
/// `miCOMPRESSED`.
pub const MI_COMPRESSED: u32 = 15;

/// `mxDOUBLE_CLASS`.
pub const MX_DOUBLE_CLASS: u8 = 6;
/// `mxSINGLE_CLASS`.
pub const MX_SINGLE_CLASS: u8 = 7;
/// `mxUINT8_CLASS`.
pub const MX_UINT8_CLASS: u8 = 9;

/// Bytes 124..128 of a little-endian level-5 header, read big-endian:
/// version `0x0100` (stored `00 01`) then `I`, `M`.
pub const MAGIC_LE: u32 = 0x0001_494D;
/// Bytes 124..128 of a big-endian level-5 header: `01 00` then `M`, `I`.
pub const MAGIC_BE: u32 = 0x0100_4D49;

const HEADER_LEN: usize = 128;

/// Size in bytes of one element of a numeric MAT data type, `None` for
/// other types.
pub fn mi_type_size(mi_type: u32) -> Option<usize> {
    match mi_type {
        MI_INT8 | MI_UINT8 => Some(1),
        MI_INT16 | MI_UINT16 => Some(2),
        MI_INT32 | MI_UINT32 | MI_SINGLE => Some(4),
        MI_DOUBLE | MI_INT64 | MI_UINT64 => Some(8),
        _ => None,
    }
}

/// One numeric variable of a MAT-file (real part).
#[derive(Clone, Debug, PartialEq)]
pub struct MatArray {
    /// Variable name.
    pub name: String,
    /// MATLAB class (`mx*_CLASS`, e.g. [`MX_UINT8_CLASS`]).
    pub class: u8,
    /// Whether the array is complex (only the real part is kept).
    pub complex: bool,
    /// Dimensions (at least two), column-major.
    pub dims: Vec<usize>,
    /// Storage type of the real part (`mi*`, e.g. [`MI_UINT8`]).
    pub mi_type: u32,
    /// Raw bytes of the real part, in the file's byte order.
    pub data: Vec<u8>,
    /// Whether `data` is big-endian.
    pub big_endian: bool,
}

impl MatArray {
    /// Number of elements (product of the dimensions).
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The values as `f64` (exact for every storage type but 64-bit
    /// integers beyond 2^53).
    pub fn to_f64(&self) -> Vec<f64> {
        let size = mi_type_size(self.mi_type).unwrap_or(1);
        self.data
            .chunks_exact(size)
            .map(|c| decode(c, self.mi_type, self.big_endian))
            .collect()
    }

    /// The values as bytes: the data itself when stored as `miUINT8`,
    /// otherwise each value converted, which must be an integer in `0..=255`.
    ///
    /// # Errors
    /// [`Error::Malformed`] for a value that is not a byte.
    pub fn into_u8(self, what: &str) -> Result<Vec<u8>> {
        if self.mi_type == MI_UINT8 {
            return Ok(self.data);
        }
        self.to_f64()
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                if v.fract() == 0.0 && (0.0..=255.0).contains(&v) {
                    Ok(v as u8)
                } else {
                    Err(Error::Malformed {
                        what: what.to_string(),
                        message: format!("{}[{i}] = {v} is not a byte", self.name),
                    })
                }
            })
            .collect()
    }
}

fn decode(c: &[u8], mi_type: u32, be: bool) -> f64 {
    macro_rules! num {
        ($t:ty, $n:expr) => {{
            let mut a = [0u8; $n];
            a.copy_from_slice(c);
            if be {
                <$t>::from_be_bytes(a)
            } else {
                <$t>::from_le_bytes(a)
            }
        }};
    }
    match mi_type {
        MI_INT8 => f64::from(c[0] as i8),
        MI_UINT8 => f64::from(c[0]),
        MI_INT16 => f64::from(num!(i16, 2)),
        MI_UINT16 => f64::from(num!(u16, 2)),
        MI_INT32 => f64::from(num!(i32, 4)),
        MI_UINT32 => f64::from(num!(u32, 4)),
        MI_SINGLE => f64::from(num!(f32, 4)),
        MI_DOUBLE => num!(f64, 8),
        MI_INT64 => num!(i64, 8) as f64,
        MI_UINT64 => num!(u64, 8) as f64,
        _ => f64::NAN,
    }
}

/// Reads positions within one buffer with the file's byte order.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    be: bool,
    what: &'a str,
}

/// A tag and where its data lives.
struct Element {
    mi_type: u32,
    start: usize,
    len: usize,
    /// Offset just past the element, padding included.
    next: usize,
}

impl<'a> Reader<'a> {
    fn malformed(&self, message: impl Into<String>) -> Error {
        Error::Malformed {
            what: self.what.to_string(),
            message: message.into(),
        }
    }

    fn u32_at(&self, at: usize) -> Result<u32> {
        let b = self
            .buf
            .get(at..at + 4)
            .ok_or_else(|| Error::TruncatedBody {
                what: self.what.to_string(),
                expected: at + 4,
                found: self.buf.len(),
            })?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(if self.be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// Reads the tag at the current position; `pad` says whether the data
    /// is followed by padding to 8 bytes.
    fn element(&mut self, pad: bool) -> Result<Element> {
        let w0 = self.u32_at(self.pos)?;
        let small = w0 >> 16;
        if small != 0 {
            let len = small as usize;
            if len > 4 {
                return Err(self.malformed(format!("small data element of {len} bytes")));
            }
            if self.pos + 8 > self.buf.len() {
                return Err(Error::TruncatedBody {
                    what: self.what.to_string(),
                    expected: self.pos + 8,
                    found: self.buf.len(),
                });
            }
            let e = Element {
                mi_type: w0 & 0xFFFF,
                start: self.pos + 4,
                len,
                next: self.pos + 8,
            };
            self.pos = e.next;
            return Ok(e);
        }
        let len = self.u32_at(self.pos + 4)? as usize;
        let start = self.pos + 8;
        let end = start.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(Error::TruncatedBody {
                what: self.what.to_string(),
                expected: start.saturating_add(len),
                found: self.buf.len(),
            });
        };
        let next = if pad {
            // Padding may be missing after the very last element.
            start
                .saturating_add(len.next_multiple_of(8))
                .min(self.buf.len())
        } else {
            end
        };
        self.pos = next;
        Ok(Element {
            mi_type: w0,
            start,
            len,
            next,
        })
    }

    fn data(&self, e: &Element) -> &'a [u8] {
        &self.buf[e.start..e.start + e.len]
    }
}

/// Parses the content of one `miMATRIX` element (`buf` is exactly its data).
/// Returns `None` for arrays that are not numeric; otherwise the array with
/// empty `data` and the range of its real part within `buf` (so the caller
/// can move the bytes out of a buffer it owns instead of copying them).
fn parse_matrix(
    buf: &[u8],
    be: bool,
    what: &str,
) -> Result<Option<(MatArray, std::ops::Range<usize>)>> {
    let mut r = Reader {
        buf,
        pos: 0,
        be,
        what,
    };
    if buf.is_empty() {
        // MATLAB writes empty miMATRIX elements for empty cells.
        return Ok(None);
    }
    let flags = r.element(true)?;
    if flags.mi_type != MI_UINT32 || flags.len != 8 {
        return Err(r.malformed("array flags are not 8 bytes of miUINT32"));
    }
    let flag_word = r.u32_at(flags.start)?;
    let class = (flag_word & 0xFF) as u8;
    let complex = flag_word & 0x0800 != 0;
    if !(MX_DOUBLE_CLASS..=15).contains(&class) {
        // Cell, structure, object, character or sparse: not needed here.
        return Ok(None);
    }
    let dims_el = r.element(true)?;
    if dims_el.mi_type != MI_INT32 || dims_el.len % 4 != 0 || dims_el.len < 8 {
        return Err(r.malformed("dimensions are not at least two miINT32 values"));
    }
    let mut dims = Vec::with_capacity(dims_el.len / 4);
    for k in 0..dims_el.len / 4 {
        let d = r.u32_at(dims_el.start + 4 * k)? as i32;
        let d = usize::try_from(d).map_err(|_| r.malformed(format!("negative dimension {d}")))?;
        dims.push(d);
    }
    let name_el = r.element(true)?;
    if name_el.mi_type != MI_INT8 {
        return Err(r.malformed(format!("array name has type {}", name_el.mi_type)));
    }
    let name = String::from_utf8_lossy(r.data(&name_el)).into_owned();
    let numel = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| r.malformed(format!("{name}: dimensions {dims:?} overflow")))?;
    let real = if r.pos < buf.len() {
        r.element(true)?
    } else {
        return Err(r.malformed(format!("{name}: missing real part")));
    };
    let Some(size) = mi_type_size(real.mi_type) else {
        return Err(r.malformed(format!(
            "{name}: real part has non-numeric type {}",
            real.mi_type
        )));
    };
    if numel.checked_mul(size) != Some(real.len) {
        return Err(r.malformed(format!(
            "{name}: {} bytes of type {} for {numel} elements",
            real.len, real.mi_type
        )));
    }
    Ok(Some((
        MatArray {
            name,
            class,
            complex,
            dims,
            mi_type: real.mi_type,
            data: Vec::new(),
            big_endian: be,
        },
        real.start..real.start + real.len,
    )))
}

/// Reads every numeric variable of a level-5 MAT-file.
///
/// # Errors
/// [`Error::TruncatedHeader`], [`Error::BadMagic`] (neither `IM` nor `MI`
/// with version `0x0100`), [`Error::Malformed`] (v7.3 / HDF5 files, bad
/// sub-elements), [`Error::TruncatedBody`], [`Error::Decompress`].
pub fn read(bytes: &[u8], what: &str) -> Result<Vec<MatArray>> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::TruncatedHeader {
            what: what.to_string(),
            expected: HEADER_LEN,
            found: bytes.len(),
        });
    }
    let magic = u32::from_be_bytes([bytes[124], bytes[125], bytes[126], bytes[127]]);
    let be = match magic {
        MAGIC_LE => false,
        MAGIC_BE => true,
        // Version 0x0200 (either byte order): MATLAB v7.3, an HDF5 file.
        0x0002_494D | 0x0200_4D49 => {
            return Err(Error::Malformed {
                what: what.to_string(),
                message: "MATLAB v7.3 (HDF5) files are not supported; save with -v7".into(),
            });
        }
        found => {
            return Err(Error::BadMagic {
                what: what.to_string(),
                expected: MAGIC_LE,
                found,
            });
        }
    };
    let mut r = Reader {
        buf: bytes,
        pos: HEADER_LEN,
        be,
        what,
    };
    let mut arrays = Vec::new();
    while r.pos < bytes.len() {
        // Peek at the type to decide whether padding follows.
        let ty = r.u32_at(r.pos)?;
        let el = r.element(ty != MI_COMPRESSED)?;
        match el.mi_type {
            MI_MATRIX => {
                if let Some((mut a, range)) = parse_matrix(r.data(&el), be, what)? {
                    a.data = r.data(&el)[range].to_vec();
                    arrays.push(a);
                }
            }
            MI_COMPRESSED => {
                let mut inflated = inflate(r.data(&el), be, what)?;
                let mut inner = Reader {
                    buf: &inflated,
                    pos: 0,
                    be,
                    what,
                };
                let m = inner.element(true)?;
                if m.mi_type != MI_MATRIX {
                    return Err(inner.malformed(format!(
                        "compressed element holds type {}, not miMATRIX",
                        m.mi_type
                    )));
                }
                if let Some((mut a, range)) = parse_matrix(inner.data(&m), be, what)? {
                    // Move the (possibly huge) real part out of the inflated
                    // buffer without a second allocation.
                    inflated.truncate(m.start + range.end);
                    inflated.drain(..m.start + range.start);
                    a.data = inflated;
                    arrays.push(a);
                }
            }
            _ => {} // Other top-level elements carry nothing we need.
        }
    }
    Ok(arrays)
}

/// Inflates an `miCOMPRESSED` payload, reading no more than its inner tag
/// announces.
fn inflate(data: &[u8], be: bool, what: &str) -> Result<Vec<u8>> {
    let err = |e: std::io::Error| Error::Decompress {
        what: what.to_string(),
        message: e.to_string(),
    };
    let mut dec = flate2::read::ZlibDecoder::new(data);
    let mut tag = [0u8; 8];
    dec.read_exact(&mut tag).map_err(err)?;
    let word = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let len = if word(&tag[..4]) >> 16 != 0 {
        0
    } else {
        word(&tag[4..]) as u64
    };
    let mut out = Vec::with_capacity(8 + len.min(1 << 30) as usize);
    out.extend_from_slice(&tag);
    dec.take(len).read_to_end(&mut out).map_err(err)?;
    if (out.len() as u64) < 8 + len {
        return Err(Error::TruncatedBody {
            what: what.to_string(),
            expected: 8 + len as usize,
            found: out.len(),
        });
    }
    Ok(out)
}

/// Finds a variable by name.
///
/// # Errors
/// [`Error::Malformed`] if absent.
pub fn take_variable(arrays: &mut Vec<MatArray>, name: &str, what: &str) -> Result<MatArray> {
    let pos = arrays
        .iter()
        .position(|a| a.name == name)
        .ok_or_else(|| Error::Malformed {
            what: what.to_string(),
            message: format!("no numeric variable named {name:?}"),
        })?;
    Ok(arrays.swap_remove(pos))
}

mod write;

pub use write::{MatData, MatVar, WriteOptions, write};

#[cfg(test)]
mod tests;
