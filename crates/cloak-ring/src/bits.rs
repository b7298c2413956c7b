//! Bit-packed boolean tensors: 64 booleans per `u64` word.
//!
//! Comparison results, carry bits and random bits are single bits per element; packing them
//! 64 to a word makes XOR/AND eight times cheaper to compute and to send than one byte per bit,
//! and 64 times cheaper than one ring element per bit.

use crate::element::RingElement;
use crate::error::{Result, RingError, checked_numel};
use crate::tensor::RingTensor;

/// A tensor of booleans, packed little-endian: element `i` is bit `i % 64` of word `i / 64`.
/// Bits past the last element are always zero.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BitTensor {
    shape: Vec<usize>,
    len: usize,
    words: Vec<u64>,
}

fn words_for(len: usize) -> usize {
    len.div_ceil(64)
}

impl BitTensor {
    /// All bits zero. Like `vec!`, panics if the element count overflows `usize`; the
    /// constructors that take untrusted shapes (`from_bools`, `from_words`, `from_le_bytes`)
    /// return errors instead.
    pub fn zeros(shape: &[usize]) -> Self {
        let len = shape.iter().product();
        Self { shape: shape.to_vec(), len, words: vec![0; words_for(len)] }
    }

    /// From booleans in row-major order.
    pub fn from_bools(shape: &[usize], bits: &[bool]) -> Result<Self> {
        let len = checked_numel("BitTensor::from_bools", shape)?;
        if bits.len() != len {
            return Err(RingError::InvalidShape {
                op: "BitTensor::from_bools",
                shape: shape.to_vec(),
                reason: format!("{} booleans given, the shape holds {len}", bits.len()),
            });
        }
        let mut out = Self::zeros(shape);
        for (i, &b) in bits.iter().enumerate() {
            out.words[i / 64] |= u64::from(b) << (i % 64);
        }
        Ok(out)
    }

    /// From packed words; bits past `len` must be zero (they would otherwise leak into sums).
    pub fn from_words(shape: &[usize], words: Vec<u64>) -> Result<Self> {
        let op = "BitTensor::from_words";
        let len = checked_numel(op, shape)?;
        if words.len() != words_for(len) {
            return Err(RingError::InvalidShape {
                op,
                shape: shape.to_vec(),
                reason: format!("{} words given, {} needed", words.len(), words_for(len)),
            });
        }
        let out = Self { shape: shape.to_vec(), len, words };
        if out.tail_mask_violated() {
            return Err(RingError::InvalidArgument { op, reason: "bits set past the end".into() });
        }
        Ok(out)
    }

    fn tail_mask(&self) -> u64 {
        match self.len % 64 {
            0 => u64::MAX,
            r => (1u64 << r) - 1,
        }
    }

    fn tail_mask_violated(&self) -> bool {
        self.words.last().is_some_and(|&w| w & !self.tail_mask() != 0)
    }

    fn clear_tail(&mut self) {
        let mask = self.tail_mask();
        if let Some(w) = self.words.last_mut() {
            *w &= mask;
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of booleans.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no booleans.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed words.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Bit `i` (row-major); `None` past the end.
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| (self.words[i / 64] >> (i % 64)) & 1 == 1)
    }

    /// The booleans in row-major order.
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.len).map(|i| (self.words[i / 64] >> (i % 64)) & 1 == 1).collect()
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn zip(&self, other: &Self, op: &'static str, f: impl Fn(u64, u64) -> u64) -> Result<Self> {
        if self.shape != other.shape {
            return Err(RingError::ShapeMismatch {
                op,
                lhs: self.shape.clone(),
                rhs: other.shape.clone(),
            });
        }
        let words = self.words.iter().zip(&other.words).map(|(&a, &b)| f(a, b)).collect();
        Ok(Self { shape: self.shape.clone(), len: self.len, words })
    }

    /// Elementwise XOR.
    pub fn xor(&self, other: &Self) -> Result<Self> {
        self.zip(other, "BitTensor::xor", |a, b| a ^ b)
    }

    /// Elementwise AND.
    pub fn and(&self, other: &Self) -> Result<Self> {
        self.zip(other, "BitTensor::and", |a, b| a & b)
    }

    /// Elementwise OR.
    pub fn or(&self, other: &Self) -> Result<Self> {
        self.zip(other, "BitTensor::or", |a, b| a | b)
    }

    /// Elementwise NOT (bits past the end stay zero).
    pub fn not(&self) -> Self {
        let mut out = Self {
            shape: self.shape.clone(),
            len: self.len,
            words: self.words.iter().map(|w| !w).collect(),
        };
        out.clear_tail();
        out
    }

    /// Shifts the flat bit sequence toward higher indices by `k` (element `i` moves to `i + k`;
    /// zeros enter at the start; bits pushed past the end are dropped).
    pub fn shift_up(&self, k: usize) -> Self {
        let mut out = Self::zeros(&self.shape);
        let (ws, bs) = (k / 64, k % 64);
        for i in (ws..self.words.len()).rev() {
            let src = i - ws;
            let mut w = self.words[src] << bs;
            if bs != 0 && src > 0 {
                w |= self.words[src - 1] >> (64 - bs);
            }
            out.words[i] = w;
        }
        out.clear_tail();
        out
    }

    /// Shifts the flat bit sequence toward lower indices by `k` (element `i + k` moves to `i`;
    /// zeros enter at the end).
    pub fn shift_down(&self, k: usize) -> Self {
        let mut out = Self::zeros(&self.shape);
        let (ws, bs) = (k / 64, k % 64);
        let n = self.words.len();
        for i in 0..n.saturating_sub(ws) {
            let src = i + ws;
            let mut w = self.words[src] >> bs;
            if bs != 0 && src + 1 < n {
                w |= self.words[src + 1] << (64 - bs);
            }
            out.words[i] = w;
        }
        out
    }

    /// Bit plane `bit` of a ring tensor: element `i` is bit `bit` of `t[i]`.
    pub fn from_bit_plane<T: RingElement>(t: &RingTensor<T>, bit: u32) -> Result<Self> {
        check_bit::<T>("BitTensor::from_bit_plane", bit)?;
        let mut out = Self::zeros(t.shape());
        for (i, x) in t.as_slice().iter().enumerate() {
            out.words[i / 64] |= ((x.as_u64() >> bit) & 1) << (i % 64);
        }
        Ok(out)
    }

    /// Writes these bits into bit plane `bit` of `t` (other bits of `t` are kept).
    pub fn write_bit_plane<T: RingElement>(&self, t: &mut RingTensor<T>, bit: u32) -> Result<()> {
        check_bit::<T>("BitTensor::write_bit_plane", bit)?;
        if t.shape() != self.shape.as_slice() {
            return Err(RingError::ShapeMismatch {
                op: "BitTensor::write_bit_plane",
                lhs: self.shape.clone(),
                rhs: t.shape().to_vec(),
            });
        }
        let one = T::one() << bit as usize;
        for (i, x) in t.as_array_mut().iter_mut().enumerate() {
            let set = (self.words[i / 64] >> (i % 64)) & 1 == 1;
            *x = if set { *x | one } else { *x & !one };
        }
        Ok(())
    }

    /// The bits as ring elements 0 or 1 (the arithmetic reading of a public bit).
    pub fn to_ring<T: RingElement>(&self) -> RingTensor<T> {
        let v = (0..self.len)
            .map(|i| T::from_u64_wrapping((self.words[i / 64] >> (i % 64)) & 1))
            .collect();
        RingTensor::from_vec(&self.shape, v).expect("len matches shape")
    }

    /// Little-endian bytes of the packed words (8 per word).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Decodes from [`to_le_bytes`](Self::to_le_bytes); rejects a wrong length or stray bits.
    pub fn from_le_bytes(shape: &[usize], bytes: &[u8]) -> Result<Self> {
        let len = checked_numel("BitTensor::from_le_bytes", shape)?;
        let expected = words_for(len) * 8;
        if bytes.len() != expected {
            return Err(RingError::ByteLength {
                expected,
                got: bytes.len(),
                shape: shape.to_vec(),
            });
        }
        let words = bytes.chunks_exact(8).map(u64::read_le).collect();
        Self::from_words(shape, words)
    }
}

fn check_bit<T: RingElement>(op: &'static str, bit: u32) -> Result<()> {
    if bit >= T::BITS {
        return Err(RingError::InvalidArgument {
            op,
            reason: format!("bit {bit} of a {}-bit ring element", T::BITS),
        });
    }
    Ok(())
}
