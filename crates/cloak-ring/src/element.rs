//! The ring element trait: `Z_2^k` as wrapping machine integers.
//!
//! MPC shares live in a power-of-two ring so that every addition and multiplication is a single
//! wrapping machine instruction. `u64` (`Z_2^64`) is the default ring; `u32` is there for
//! protocols and accelerators where half-width words pay off.

use core::fmt::{Debug, Display};
use core::hash::Hash;

use num_traits::{
    PrimInt, WrappingAdd, WrappingMul, WrappingNeg, WrappingShl, WrappingShr, WrappingSub,
};

use crate::kernels;

/// An element of the ring `Z_2^BITS`, represented by an unsigned machine word with wrapping
/// arithmetic.
///
/// The trait is sealed to `u64` and `u32`: kernels are specialised per width and the fixed-point
/// code relies on two's-complement reinterpretation through [`RingElement::to_signed_i128`].
pub trait RingElement:
    PrimInt
    + WrappingAdd
    + WrappingSub
    + WrappingMul
    + WrappingNeg
    + WrappingShl
    + WrappingShr
    + Hash
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + sealed::Sealed
{
    /// Number of bits of the ring: elements are taken modulo `2^BITS`.
    const BITS: u32;
    /// Bytes per element in the little-endian wire encoding.
    const BYTES: usize;

    /// Wraps a `u64` into the ring (keeps the low `BITS` bits).
    fn from_u64_wrapping(v: u64) -> Self;
    /// Zero-extends the element to `u64`.
    fn as_u64(self) -> u64;
    /// Wraps a signed 128-bit integer into the ring (two's complement, low `BITS` bits).
    fn from_i128_wrapping(v: i128) -> Self;
    /// Reads the element as a signed two's-complement integer.
    fn to_signed_i128(self) -> i128;
    /// Arithmetic (sign-extending) right shift of the two's-complement reading.
    fn arithmetic_shr(self, bits: u32) -> Self;
    /// Writes the little-endian bytes of the element into `out` (`out.len() == BYTES`).
    fn write_le(self, out: &mut [u8]);
    /// Reads an element from its little-endian bytes (`bytes.len() == BYTES`).
    fn read_le(bytes: &[u8]) -> Self;

    /// Wrapping matrix product `c = a * b` of row-major `m x k` and `k x n` matrices, written
    /// into the row-major `m x n` matrix `c` (overwritten). Dispatches to the fastest kernel for
    /// the element width and the CPU.
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        par: kernels::Parallelism,
    );
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for u32 {}
}

impl RingElement for u64 {
    const BITS: u32 = 64;
    const BYTES: usize = 8;

    #[inline]
    fn from_u64_wrapping(v: u64) -> Self {
        v
    }
    #[inline]
    fn as_u64(self) -> u64 {
        self
    }
    #[inline]
    fn from_i128_wrapping(v: i128) -> Self {
        v as u64
    }
    #[inline]
    fn to_signed_i128(self) -> i128 {
        i128::from(self as i64)
    }
    #[inline]
    fn arithmetic_shr(self, bits: u32) -> Self {
        ((self as i64) >> bits.min(63)) as u64
    }
    #[inline]
    fn write_le(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn read_le(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        u64::from_le_bytes(b)
    }
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        par: kernels::Parallelism,
    ) {
        kernels::gemm_u64(m, k, n, a, b, c, par);
    }
}

impl RingElement for u32 {
    const BITS: u32 = 32;
    const BYTES: usize = 4;

    #[inline]
    fn from_u64_wrapping(v: u64) -> Self {
        v as u32
    }
    #[inline]
    fn as_u64(self) -> u64 {
        u64::from(self)
    }
    #[inline]
    fn from_i128_wrapping(v: i128) -> Self {
        v as u32
    }
    #[inline]
    fn to_signed_i128(self) -> i128 {
        i128::from(self as i32)
    }
    #[inline]
    fn arithmetic_shr(self, bits: u32) -> Self {
        ((self as i32) >> bits.min(31)) as u32
    }
    #[inline]
    fn write_le(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn read_le(bytes: &[u8]) -> Self {
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        u32::from_le_bytes(b)
    }
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        par: kernels::Parallelism,
    ) {
        kernels::gemm_u32(m, k, n, a, b, c, par);
    }
}
