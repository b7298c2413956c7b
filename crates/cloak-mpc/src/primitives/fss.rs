//! The function-secret-sharing comparison for two parties: one online round.
//!
//! The dealer draws `r`, shares it additively, XOR-shares its top bit, and deals each party
//! its key of a distributed comparison function for `alpha = r mod 2^63`
//! ([`dcf`](super::dcf)). The parties open `c = x + r` (one round) and each evaluates its key
//! at `c mod 2^63`: the two outputs are XOR shares of `b = [c mod 2^63 < r mod 2^63]`, the
//! borrow into bit 63 of `c - r = x`. So `[x < 0] = c_63 ^ r_63 ^ b`, with no further
//! message (the same identity as [`DealerBits`](super::DealerBits), whose 6 tree levels the
//! keys replace).

use cloak_dealer::{Component, Correlation, Correlations, DealerError, Layout, Request};
use cloak_prg::Prg;
use cloak_ring::RingTensor;

use super::context::Context;
use super::dcf;
use super::sign::ComparisonProtocol;
use crate::error::{Result, invalid};

/// Input bits of the comparison keys: the low 63 bits of the opened value.
const INPUT_BITS: u32 = 63;

/// The dealer's material for `count` comparisons: `r` (additive), its top bits (XOR,
/// packed), and each party's comparison keys (dealt, about 1 KiB per element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignKeys {
    /// Number of elements.
    pub count: usize,
}

impl SignKeys {
    /// Its kind name.
    pub const KIND: &'static str = "fss/sign";
}

impl Correlation for SignKeys {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn params(&self) -> Vec<u8> {
        (self.count as u64).to_le_bytes().to_vec()
    }

    fn layout(&self) -> std::result::Result<Layout, DealerError> {
        if self.count > cloak_dealer::MAX_COMPONENT_WORDS / 128 {
            return Err(DealerError::Correlation {
                kind: Self::KIND.into(),
                reason: format!(
                    "{} elements of keys; at most {}",
                    self.count,
                    cloak_dealer::MAX_COMPONENT_WORDS / 128
                ),
            });
        }
        let words = dcf::keys_len(self.count, INPUT_BITS);
        Ok(Layout::new(
            vec![Component::arith(&[self.count])],
            vec![Component::xor(self.count.div_ceil(64))],
        )
        .with_dealt(vec![Component::xor(words)]))
    }

    fn dependents(
        &self,
        free: &[RingTensor<u64>],
    ) -> std::result::Result<Vec<RingTensor<u64>>, DealerError> {
        let r = free.first().map(RingTensor::to_vec).unwrap_or_default();
        let mut top = vec![0u64; r.len().div_ceil(64)];
        for (k, v) in r.iter().enumerate() {
            top[k / 64] |= (v >> 63) << (k % 64);
        }
        Ok(vec![RingTensor::from_vec(&[top.len()], top)?])
    }

    fn deal(
        &self,
        free: &[RingTensor<u64>],
        _dependent: &[RingTensor<u64>],
        parties: usize,
        rng: &mut Prg,
    ) -> std::result::Result<Vec<Vec<RingTensor<u64>>>, DealerError> {
        if parties != 2 {
            return Err(DealerError::Correlation {
                kind: Self::KIND.into(),
                reason: format!("comparison keys are for 2 parties, not {parties}"),
            });
        }
        let low = (1u64 << INPUT_BITS) - 1;
        let alphas: Vec<u64> = free
            .first()
            .map(RingTensor::to_vec)
            .unwrap_or_default()
            .iter()
            .map(|r| r & low)
            .collect();
        let [k0, k1] = dcf::keys(&alphas, INPUT_BITS, rng);
        let shape = [k0.len()];
        Ok(vec![vec![RingTensor::from_vec(&shape, k0)?], vec![RingTensor::from_vec(&shape, k1)?]])
    }
}

/// Decoders of this module's kinds, for a third-party dealer that serves them
/// ([`cloak_dealer::run_dealer_with`]).
///
/// # Errors
/// None in practice (the kind names are valid); a typed error otherwise.
pub fn fss_correlations() -> std::result::Result<Correlations, DealerError> {
    let mut c = Correlations::new();
    c.register(SignKeys::KIND, |bytes| {
        let count: [u8; 8] = bytes.try_into().map_err(|_| DealerError::Correlation {
            kind: SignKeys::KIND.into(),
            reason: format!("{} bytes of parameters, expected 8", bytes.len()),
        })?;
        let count = usize::try_from(u64::from_le_bytes(count)).map_err(|_| {
            DealerError::Correlation { kind: SignKeys::KIND.into(), reason: "count".into() }
        })?;
        Ok(SignKeys { count })
    })?;
    Ok(c)
}

/// The sign by function secret sharing, two parties: one online round opening `x + r` (8
/// bytes per element), then each party evaluates its comparison key locally (63 levels of
/// fixed-key AES). Offline, each party gets about 1 KiB of key per element
/// ([`SignKeys`]; with the trusted first party, party 0 sends party 1 its keys).
#[derive(Clone, Copy, Debug, Default)]
pub struct FunctionSecretSharing;

impl ComparisonProtocol for FunctionSecretSharing {
    fn name(&self) -> &'static str {
        "fss"
    }

    fn check(&self, parties: usize) -> Result<()> {
        if parties == 2 {
            Ok(())
        } else {
            Err(invalid("session", format!("FSS comparison needs 2 parties, not {parties}")))
        }
    }

    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        let n = x.len();
        let shares = ctx.fetch(&Request::custom(SignKeys { count: n }))?;
        let (r, top, key) = (&shares.free[0], &shares.dependent[0], &shares.dealt[0]);
        let masked: Vec<u64> =
            x.as_slice().iter().zip(r.as_slice().iter()).map(|(x, r)| x.wrapping_add(*r)).collect();
        let c = ctx.open_words("ltz", vec![masked], false)?.remove(0);
        let low = (1u64 << INPUT_BITS) - 1;
        let c_low: Vec<u64> = c.iter().map(|v| v & low).collect();
        let borrow = dcf::eval(ctx.rank(), &key.as_slice(), &c_low, INPUT_BITS);
        let first = ctx.is_first();
        let mut out = borrow;
        for (w, (o, t)) in out.iter_mut().zip(top.as_slice().iter()).enumerate() {
            *o ^= t;
            if first {
                let mut c_top = 0u64;
                for (i, v) in c[w * 64..(w * 64 + 64).min(n)].iter().enumerate() {
                    c_top |= (v >> 63) << i;
                }
                *o ^= c_top;
            }
        }
        Ok(out)
    }
}
