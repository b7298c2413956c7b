//! Division of a device share by a public integer ([`Context::divide_with_pair`]) with the
//! share kept on the device.
//!
//! The quotient needs `c / d` and the wrap bit `[c < 2^63]` of the opened `c`, which no
//! device operation computes for a `d` that is not a power of two; `c` is on the host
//! anyway as it arrives, so both are computed there and cross to the device together, as
//! one word per element (`(c / d) << 1 | wrap`: `c / d < 2^63` for `d >= 2`), the one
//! upload the opening makes in any case.

use cloak_dealer::Request;
use cloak_ring::RingTensor;

use super::context::Context;
use super::trunc::{BIAS, Divisor};
use crate::error::Result;

impl Context {
    /// [`divide_with_pair`](Self::divide_with_pair) for a share on a device (`divisor >= 2`,
    /// checked by the caller): the same round, bytes and dealer pair, and only the masked
    /// share crosses to the host.
    pub(super) fn divide_on_device(
        &mut self,
        x: RingTensor<u64>,
        divisor: u64,
    ) -> Result<RingTensor<u64>> {
        let shape = x.shape().to_vec();
        let pair = self.fetch(&Request::DivPair { shape: shape.clone(), divisor })?.into_trunc();
        let masked = self.mask_for_pair(x, &pair)?;
        let device = masked.device().cloned();
        let c = self.open_words("divide", vec![masked.try_to_vec()?], false)?.remove(0);
        let packed: Vec<u64> =
            c.iter().map(|c| (c / divisor) << 1 | u64::from(c >> 63 == 0)).collect();
        let packed = RingTensor::from_vec(&shape, packed)?;
        let packed = match &device {
            Some(d) => packed.to_device(d)?,
            None => packed,
        };
        let wrap = Divisor::Int(divisor).of_two_to_the_64();
        // -(r / d) + msb(r) [c < 2^63] floor(2^64 / d), plus c / d - 2^62 / d at party 0.
        let mut out =
            pair.r_msb.mul(&packed.and_scalar(1))?.mul_scalar(wrap).sub(&pair.r_shifted)?;
        if self.is_first() {
            out = out.add(&packed.shr_logical(1)?.sub_scalar(BIAS / divisor))?;
        }
        Ok(out)
    }
}
