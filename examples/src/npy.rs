//! A tiny reader for NumPy `.npy` files, so the examples can take real inputs (a model's
//! weights, a batch of feature rows) without a dependency on a NumPy crate.
//!
//! It reads what `numpy.save` writes for the arrays the examples need: format versions 1.0,
//! 2.0 and 3.0; little-endian `float64` (`<f8`) or `float32` (`<f4`); C (row-major) order;
//! one or two dimensions. Anything else (another dtype, big-endian data, Fortran order, a
//! truncated file, trailing bytes, a NaN or infinity) is rejected with an [`NpyError`] that
//! names the file and says what is wrong, never a panic: the examples turn it into a clear
//! message and a non-zero exit.
//!
//! The format (<https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>):
//! the magic `\x93NUMPY`, a major and a minor version byte, the header length (`u16` LE in
//! version 1, `u32` LE in versions 2 and 3), a Python dict literal such as
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and a
//! newline, then the raw elements.

use std::fmt;
use std::path::Path;

/// The magic string every `.npy` file starts with.
const MAGIC: &[u8] = b"\x93NUMPY";

/// Header lengths beyond this are not what `numpy.save` writes for small arrays; refusing
/// them keeps a corrupt length from being believed.
const MAX_HEADER: usize = 1 << 20;

/// Why a file could not be read as an array.
#[derive(Debug)]
pub struct NpyError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for NpyError {}

/// A 1-d or 2-d array of reals, in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The dimensions (one or two).
    pub shape: Vec<usize>,
    /// The elements, converted to `f64` (exactly, for `float32` files).
    pub data: Vec<f64>,
}

/// Reads a `.npy` file.
///
/// # Errors
/// [`NpyError`] if the file cannot be read or is not a supported array (see the module
/// documentation).
pub fn read(path: &Path) -> Result<Array, NpyError> {
    let bytes = std::fs::read(path).map_err(|e| NpyError {
        path: path.display().to_string(),
        reason: format!("cannot read: {e}"),
    })?;
    parse(&bytes).map_err(|reason| NpyError { path: path.display().to_string(), reason })
}

/// Element types the reader supports.
#[derive(Clone, Copy)]
enum Dtype {
    F64,
    F32,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F64 => 8,
            Dtype::F32 => 4,
        }
    }
}

/// Parses the bytes of a `.npy` file.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a .npy file (it does not start with the \\x93NUMPY magic)".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_size, utf8) = match major {
        1 => (2, false),
        2 => (4, false),
        3 => (4, true),
        _ => return Err(format!("unsupported .npy format version {major}.{minor}")),
    };
    let start = 8 + len_size;
    let len_bytes = bytes.get(8..start).ok_or("truncated header length")?;
    let header_len = len_bytes.iter().rev().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    if header_len > MAX_HEADER {
        return Err(format!("header length {header_len} is implausibly large"));
    }
    let header = bytes.get(start..start + header_len).ok_or_else(|| {
        format!("truncated header: {header_len} bytes announced, {} present", bytes.len() - start)
    })?;
    let header = if utf8 {
        std::str::from_utf8(header).map_err(|_| "header is not valid UTF-8".to_string())?
    } else {
        if !header.is_ascii() {
            return Err("header is not ASCII".into());
        }
        std::str::from_utf8(header).map_err(|_| "header is not ASCII".to_string())?
    };
    let dict = parse_dict(header.trim_end())?;

    let descr = dict.descr.ok_or("header has no 'descr' (dtype)")?;
    let dtype = match descr.as_str() {
        "<f8" => Dtype::F64,
        "<f4" => Dtype::F32,
        ">f8" | ">f4" => {
            return Err(format!(
                "dtype '{descr}' is big-endian; save little-endian data (arr.astype('<f8'))"
            ));
        }
        other => {
            return Err(format!(
                "dtype '{other}' is not supported: use float64 ('<f8') or float32 ('<f4')"
            ));
        }
    };
    match dict.fortran_order {
        Some(false) => {}
        Some(true) => {
            return Err("array is in Fortran order; save np.ascontiguousarray(arr) instead".into());
        }
        None => return Err("header has no 'fortran_order'".into()),
    }
    let shape = dict.shape.ok_or("header has no 'shape'")?;
    if shape.is_empty() || shape.len() > 2 {
        return Err(format!("array has {} dimensions {shape:?}; expected 1 or 2", shape.len()));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} has too many elements"))?;
    let data = &bytes[start + header_len..];
    let expected = count
        .checked_mul(dtype.size())
        .ok_or_else(|| format!("shape {shape:?} has too many elements"))?;
    if data.len() != expected {
        return Err(format!(
            "shape {shape:?} of {descr} needs {expected} data bytes, the file has {}{}",
            data.len(),
            if data.len() < expected { " (truncated)" } else { " (trailing bytes)" }
        ));
    }
    let values: Vec<f64> = match dtype {
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_else(|_| unreachable!())))
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or_else(|_| unreachable!()))))
            .collect(),
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!("element {i} is {}, not a finite number", values[i]));
    }
    Ok(Array { shape, data: values })
}

/// The three keys of a `.npy` header.
#[derive(Default)]
struct Header {
    descr: Option<String>,
    fortran_order: Option<bool>,
    shape: Option<Vec<usize>>,
}

/// A value of the header dict.
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the header's Python dict literal (string keys; string, boolean or integer-tuple
/// values), the subset `numpy.save` writes.
fn parse_dict(text: &str) -> Result<Header, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let mut header = Header::default();
    p.expect(b'{')?;
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        let value = p.value()?;
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => header.descr = Some(s),
            ("fortran_order", Value::Bool(b)) => header.fortran_order = Some(b),
            ("shape", Value::Tuple(t)) => header.shape = Some(t),
            ("descr" | "fortran_order" | "shape", _) => {
                return Err(format!("header key '{key}' has a value of the wrong type"));
            }
            _ => {}
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err("header has text after its closing brace".into());
    }
    Ok(header)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "malformed header: expected '{}' at offset {} of the header dict",
                c as char, self.i
            ))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("malformed header: expected a string at offset {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while self.s.get(self.i).is_some_and(|&c| c != quote) {
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err("malformed header: unterminated string".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.s.get(self.i) {
            Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.skip_ws();
                    if self.eat(b')') {
                        break;
                    }
                    let start = self.i;
                    while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                        self.i += 1;
                    }
                    let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                    let dim: usize = digits.parse().map_err(|_| {
                        format!("malformed header: expected a dimension at offset {start}")
                    })?;
                    // Python 2 wrote long integers with an `L` suffix.
                    self.eat(b'L');
                    dims.push(dim);
                    self.skip_ws();
                    if !self.eat(b',') {
                        self.skip_ws();
                        self.expect(b')')?;
                        break;
                    }
                }
                Ok(Value::Tuple(dims))
            }
            _ => {
                let rest = &self.s[self.i..];
                for (word, b) in [(&b"True"[..], true), (&b"False"[..], false)] {
                    if rest.starts_with(word) {
                        self.i += word.len();
                        return Ok(Value::Bool(b));
                    }
                }
                Err(format!("malformed header: unexpected value at offset {}", self.i))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1.0 file with `header` padded as `numpy.save` pads it.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_owned();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn f64s(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_f64_and_f32_in_one_and_two_dimensions() {
        let a = parse(&file(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
            &f64s(&[1.0, -2.5, 3.25, 0.0, 1e-3, 7.0]),
        ))
        .unwrap();
        assert_eq!(a.shape, [2, 3]);
        assert_eq!(a.data, [1.0, -2.5, 3.25, 0.0, 1e-3, 7.0]);
        let b: Vec<u8> = [0.5f32, -1.25].iter().flat_map(|x| x.to_le_bytes()).collect();
        let a =
            parse(&file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &b)).unwrap();
        assert_eq!((a.shape, a.data), (vec![2], vec![0.5, -1.25]));
    }

    #[test]
    fn rejects_what_it_cannot_read_with_a_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"hello".to_vec(), "not a .npy file"),
            (file("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", &[0; 8]), "<i8"),
            (file("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", &[0; 8]), "big"),
            (file("{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }", &[0; 8]), "Fortran"),
            (
                file("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &[0; 8]),
                "dimensions",
            ),
            (
                file("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", &[0; 8]),
                "truncated",
            ),
            (
                file("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", &[0; 9]),
                "trailing",
            ),
            (
                file(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                    &f64s(&[f64::NAN]),
                ),
                "NaN",
            ),
            (file("{'descr': '<f8', 'shape': (1,), }", &[0; 8]), "fortran_order"),
            (file("{'descr': '<f8' 'shape'", &[]), "malformed header"),
        ];
        for (bytes, needle) in cases {
            let err = parse(&bytes).unwrap_err();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[2, 0, 0xff, 0xff, 0xff, 0x7f]);
        assert!(parse(&huge).unwrap_err().contains("implausibly large"));
    }
}
