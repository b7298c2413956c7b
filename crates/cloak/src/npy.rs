//! NumPy `.npy` files in and out, through `ndarray-npy`, with the checks a program needs
//! before it trusts a file it was handed.
//!
//! `ndarray-npy` allocates what a header declares (the header itself, then the array)
//! before it reads it, so a corrupt or hostile file could ask for gigabytes. These functions
//! bound both first: a header longer than the file or than [`MAX_HEADER`] bytes, more than
//! [`MAX_ELEMENTS`] elements, or a data section whose length does not match the header is
//! refused before anything of that size is allocated.
//!
//! Inputs may be `float32` or `float64` (either byte order, C or Fortran order); labels may
//! be any integer type. Everything is returned as `f64` in C order.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyExt, WritableElement, WriteNpyExt};

/// The most elements a file may declare (2^28: 2 GiB of `f64`).
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The longest header accepted (NumPy writes about a hundred bytes).
pub const MAX_HEADER: usize = 1 << 16;

/// Why a `.npy` file could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a `.npy` file, or one whose header and data disagree.
    #[error("{}: not a valid .npy file: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An element type this reader does not take here.
    #[error("{}: element type {dtype}, expected {expected}", path.display())]
    DType {
        /// The file.
        path: PathBuf,
        /// The file's NumPy type descriptor (`<i8`, `|b1`, ...).
        dtype: String,
        /// What was expected.
        expected: &'static str,
    },
    /// More elements than [`MAX_ELEMENTS`].
    #[error("{}: shape {shape:?} has more than {MAX_ELEMENTS} elements", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The declared shape.
        shape: Vec<usize>,
    },
}

/// A file's declared element type and shape, from its header alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyInfo {
    /// The NumPy type descriptor without quotes (`<f4`, `<f8`, `<i8`, ...).
    pub dtype: String,
    /// The shape.
    pub shape: Vec<usize>,
}

impl NpyInfo {
    /// Whether the elements are `float32` or `float64`.
    #[must_use]
    pub fn is_float(&self) -> bool {
        matches!(self.kind(), Some(('f', 4 | 8)))
    }

    /// Whether the elements are integers (signed or unsigned, 1 to 8 bytes).
    #[must_use]
    pub fn is_integer(&self) -> bool {
        matches!(self.kind(), Some(('i' | 'u', 1 | 2 | 4 | 8)))
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type character and the element size in bytes (`('f', 4)` for `<f4`).
    fn kind(&self) -> Option<(char, usize)> {
        let d = self.dtype.trim_start_matches(['<', '>', '|', '=']);
        let mut chars = d.chars();
        let kind = chars.next()?;
        Some((kind, chars.as_str().parse().ok()?))
    }
}

fn io_error(path: &Path, source: std::io::Error) -> NpyError {
    NpyError::Io { path: path.to_path_buf(), source }
}

fn format_error(path: &Path, reason: impl ToString) -> NpyError {
    NpyError::Format { path: path.to_path_buf(), reason: reason.to_string() }
}

/// The header length a file declares, from its fixed preamble (magic, version, length):
/// checked here because `ndarray-npy` allocates it before reading.
fn declared_header_len(path: &Path, bytes: &[u8]) -> Result<usize, NpyError> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err(format_error(path, "it does not start with the .npy magic string"));
    }
    let len = match bytes[6] {
        1 => usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
        2 | 3 if bytes.len() >= 12 => {
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
        }
        v => return Err(format_error(path, format!("unsupported format version {v}"))),
    };
    if len > MAX_HEADER {
        return Err(format_error(path, format!("a header of {len} bytes")));
    }
    Ok(len)
}

/// Parses and checks the header at the start of `bytes`; returns it and its length.
fn parse_header(path: &Path, bytes: &[u8]) -> Result<(NpyInfo, usize), NpyError> {
    let declared = declared_header_len(path, bytes)?;
    if declared > bytes.len() {
        return Err(format_error(path, "the header is truncated"));
    }
    let mut rest = bytes;
    let h = Header::from_reader(&mut rest).map_err(|e| format_error(path, e))?;
    let info = NpyInfo {
        dtype: h.type_descriptor.to_string().trim_matches(['\'', '"']).to_string(),
        shape: h.shape,
    };
    let fits = info
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .is_some_and(|n| n <= MAX_ELEMENTS);
    if !fits {
        return Err(NpyError::TooLarge { path: path.to_path_buf(), shape: info.shape });
    }
    Ok((info, bytes.len() - rest.len()))
}

/// Reads a file's header only: its element type and shape, without reading the data.
///
/// # Errors
/// A missing or unreadable file, or a header that is not valid or declares too much.
pub fn info(path: impl AsRef<Path>) -> Result<NpyInfo, NpyError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut head = Vec::new();
    file.take((MAX_HEADER + 12) as u64).read_to_end(&mut head).map_err(|e| io_error(path, e))?;
    Ok(parse_header(path, &head)?.0)
}

/// Reads the whole file, its size bounded by what [`MAX_ELEMENTS`] allows.
fn read_bytes(path: &Path) -> Result<Vec<u8>, NpyError> {
    let len = std::fs::metadata(path).map_err(|e| io_error(path, e))?.len();
    let limit = (MAX_ELEMENTS * 8 + MAX_HEADER + 12) as u64;
    if len > limit {
        return Err(format_error(
            path,
            format!("{len} bytes, more than {MAX_ELEMENTS} elements hold"),
        ));
    }
    std::fs::read(path).map_err(|e| io_error(path, e))
}

/// Reads the array as `T` once the header is checked (and so the allocation bounded).
fn read_as<T: ndarray_npy::ReadableElement>(
    path: &Path,
    bytes: &[u8],
) -> Result<ArrayD<T>, NpyError> {
    ArrayD::<T>::read_npy(bytes).map_err(|e| format_error(path, e))
}

/// Reads a checked file of any supported numeric type as `f64`, in C order.
fn read_numeric(
    path: &Path,
    want: &'static str,
    accept: fn(&NpyInfo) -> bool,
) -> Result<(ArrayD<f64>, NpyInfo), NpyError> {
    let bytes = read_bytes(path)?;
    let (info, header_len) = parse_header(path, &bytes)?;
    if !accept(&info) {
        return Err(NpyError::DType {
            path: path.to_path_buf(),
            dtype: info.dtype,
            expected: want,
        });
    }
    let size = info.kind().map_or(0, |(_, s)| s);
    let data = bytes.len() - header_len;
    if data != info.len() * size {
        return Err(format_error(
            path,
            format!(
                "{data} bytes of data, but the header declares {:?} of {}",
                info.shape, info.dtype
            ),
        ));
    }
    let a = match info.kind() {
        Some(('f', 4)) => read_as::<f32>(path, &bytes)?.mapv(f64::from),
        Some(('f', 8)) => read_as::<f64>(path, &bytes)?,
        Some(('i', 1)) => read_as::<i8>(path, &bytes)?.mapv(f64::from),
        Some(('i', 2)) => read_as::<i16>(path, &bytes)?.mapv(f64::from),
        Some(('i', 4)) => read_as::<i32>(path, &bytes)?.mapv(f64::from),
        // Labels and class indices: exact below 2^53, which is all that can matter here.
        Some(('i', 8)) => read_as::<i64>(path, &bytes)?.mapv(|v| v as f64),
        Some(('u', 1)) => read_as::<u8>(path, &bytes)?.mapv(f64::from),
        Some(('u', 2)) => read_as::<u16>(path, &bytes)?.mapv(f64::from),
        Some(('u', 4)) => read_as::<u32>(path, &bytes)?.mapv(f64::from),
        Some(('u', 8)) => read_as::<u64>(path, &bytes)?.mapv(|v| v as f64),
        _ => {
            return Err(NpyError::DType {
                path: path.to_path_buf(),
                dtype: info.dtype,
                expected: want,
            });
        }
    };
    let a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
    Ok((a, info))
}

/// Reads a `float32` or `float64` array as `f64`.
///
/// # Errors
/// A missing or unreadable file, an invalid or oversized one, another element type.
pub fn read(path: impl AsRef<Path>) -> Result<ArrayD<f64>, NpyError> {
    Ok(read_numeric(path.as_ref(), "float32 or float64", NpyInfo::is_float)?.0)
}

/// Reads a model input as `f64`, with the file's header: floats, or integers (token ids, as
/// PyTorch saves them in `int64`; exact below 2^53, far beyond any vocabulary). Whether
/// integers suit the model is the caller's to check ([`NpyInfo::is_integer`]).
///
/// # Errors
/// As [`read`], for an element type that is neither.
pub fn read_input(path: impl AsRef<Path>) -> Result<(ArrayD<f64>, NpyInfo), NpyError> {
    let numeric = |i: &NpyInfo| i.is_float() || i.is_integer();
    read_numeric(path.as_ref(), "floats, or integer token ids", numeric)
}

/// Reads class labels: a 1-d array of integers (any width), or of floats that are whole
/// numbers.
///
/// # Errors
/// As [`read`], and an array that is not 1-d or holds a value that is not a non-negative
/// whole number.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<usize>, NpyError> {
    let path = path.as_ref();
    let (a, info) = read_numeric(path, "integers", |i| i.is_integer() || i.is_float())?;
    if a.ndim() != 1 {
        return Err(format_error(path, format!("labels must be 1-d, got shape {:?}", info.shape)));
    }
    a.iter()
        .enumerate()
        .map(|(i, &v)| {
            if v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(53) {
                Ok(v as usize)
            } else {
                Err(format_error(path, format!("label {i} is not a class index")))
            }
        })
        .collect()
}

fn write_as<T: WritableElement>(path: &Path, a: &ArrayD<T>) -> Result<(), NpyError> {
    let file = std::fs::File::create(path).map_err(|e| io_error(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    a.write_npy(&mut w).map_err(|e| format_error(path, e))?;
    std::io::Write::flush(&mut w).map_err(|e| io_error(path, e))
}

/// Writes `a` as `float64`.
///
/// # Errors
/// The file cannot be created or written.
pub fn write_f64(path: impl AsRef<Path>, a: &ArrayD<f64>) -> Result<(), NpyError> {
    write_as(path.as_ref(), a)
}

/// Writes `a` as `float32` (what PyTorch models take and return).
///
/// # Errors
/// The file cannot be created or written.
pub fn write_f32(path: impl AsRef<Path>, a: &ArrayD<f64>) -> Result<(), NpyError> {
    write_as(path.as_ref(), &a.mapv(|v| v as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` file of `data` after a version-1 header of `dict`, in the temporary
    /// directory (removed when dropped).
    struct File(PathBuf);

    impl File {
        fn new(name: &str, dict: &str, data: &[u8]) -> Self {
            let mut header = dict.to_string();
            while !(10 + header.len() + 1).is_multiple_of(64) {
                header.push(' ');
            }
            header.push('\n');
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(data);
            let path =
                std::env::temp_dir().join(format!("cloak-npy-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).expect("temporary file");
            Self(path)
        }
    }

    impl Drop for File {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn f32s(v: &[f32], big_endian: bool) -> Vec<u8> {
        v.iter().flat_map(|x| if big_endian { x.to_be_bytes() } else { x.to_le_bytes() }).collect()
    }

    #[test]
    fn float32_and_float64_in_any_order_read_as_f64_in_c_order() {
        let c = File::new(
            "c.npy",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &f32s(&[1., 2., 3., 4., 5., 6.], false),
        );
        let want = ndarray::arr2(&[[1., 2., 3.], [4., 5., 6.]]).into_dyn();
        assert_eq!(read(&c.0).unwrap(), want);
        let f = File::new(
            "f.npy",
            "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }",
            &f32s(&[1., 4., 2., 5., 3., 6.], true),
        );
        let got = read(&f.0).unwrap();
        assert_eq!(got, want);
        assert!(got.is_standard_layout());
        let out = std::env::temp_dir().join(format!("cloak-npy-{}-out.npy", std::process::id()));
        write_f64(&out, &want).unwrap();
        assert_eq!(info(&out).unwrap(), NpyInfo { dtype: "<f8".into(), shape: vec![2, 3] });
        assert_eq!(read(&out).unwrap(), want);
        let _ = std::fs::remove_file(&out);
    }

    #[test]
    fn labels_are_integers_and_inputs_are_floats() {
        let l = File::new(
            "l.npy",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
            &[2i64, 0, 7].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
        );
        assert_eq!(read_labels(&l.0).unwrap(), vec![2, 0, 7]);
        assert!(matches!(read(&l.0), Err(NpyError::DType { .. })));
        let neg = File::new(
            "n.npy",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &f32s(&[1.0, -1.0], false),
        );
        assert!(
            read_labels(&neg.0).unwrap_err().to_string().contains("label 1 is not a class index")
        );
    }

    #[test]
    fn sizes_are_checked_before_anything_is_allocated() {
        // 2^40 elements declared, 8 bytes present.
        let huge = File::new(
            "huge.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1048576, 1048576), }",
            &[0; 8],
        );
        assert!(matches!(read(&huge.0), Err(NpyError::TooLarge { .. })));
        assert!(matches!(info(&huge.0), Err(NpyError::TooLarge { .. })));
        // Data shorter or longer than the header says.
        let short = File::new(
            "short.npy",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
            &f32s(&[1., 2., 3.], false),
        );
        assert!(read(&short.0).unwrap_err().to_string().contains("12 bytes of data"));
        let long = File::new(
            "long.npy",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &f32s(&[1., 2., 3.], false),
        );
        assert!(matches!(read(&long.0), Err(NpyError::Format { .. })));
        // A version-2 header claiming 4 GiB of header.
        let path = std::env::temp_dir().join(format!("cloak-npy-{}-hdr.npy", std::process::id()));
        std::fs::write(&path, b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("a header of 4294967295 bytes"));
        let _ = std::fs::remove_file(&path);
        // Not a .npy at all, and no file.
        std::fs::write(&path, b"hello").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("magic string"));
        let _ = std::fs::remove_file(&path);
        assert!(matches!(read("/no/such.npy"), Err(NpyError::Io { .. })));
    }
}
