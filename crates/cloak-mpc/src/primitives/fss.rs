//! The function-secret-sharing comparison for two parties: one online round for the sign,
//! its arithmetic shares, and ReLU's product.
//!
//! The dealer draws `r` and shares it additively, and deals each party its key of a
//! distributed comparison function ([`dcf`](super::dcf)) for `alpha = r mod 2^(k-1)`,
//! where `k` is the input width (`|x| < 2^(k-1)`; 64, the whole ring, by default). The
//! parties open `c = x + r` (the one round) and each evaluates its key at
//! `c mod 2^(k-1)`: the outputs add up to `beta * b`, where `b = [c mod 2^(k-1) < r mod
//! 2^(k-1)]` is the borrow into bit `k-1` of `c - r`. So the sign, bit `k-1` of `x`, is
//! `c_{k-1} ^ rho ^ b` with `rho = r_{k-1}` (SIGMA's reduction: a key of `k-1` levels,
//! not 64).
//!
//! With the payload `beta = 1 - 2 rho` and shares of `rho`, the parties hold additive
//! shares of `s = rho ^ b = rho + (1 - 2 rho) b` and then, `c` being public, of the sign
//! `c_{k-1} + (1 - 2 c_{k-1}) s`, with no further message. For ReLU, a second payload word
//! `(1 - 2 rho) r` and shares of `rho r` give `sign * r`, hence `sign * x = sign * c -
//! sign * r`, in the same round. Additive shares of a bit are XOR shares in their low bit,
//! which is the packed form.

use cloak_dealer::{Component, Correlation, Correlations, DealerError, Layout, Request};
use cloak_prg::Prg;
use cloak_ring::RingTensor;

use super::context::Context;
use super::dcf;
use super::fss_trunc::TruncKeys;
use super::sign::ComparisonProtocol;
use crate::error::{Result, invalid};

/// The most key words one request may ask for, per party.
const MAX_KEY_WORDS: usize = cloak_dealer::MAX_COMPONENT_WORDS;

/// Reads a correlation's parameters: the element count, then `extra` bytes.
pub(crate) fn parse_params(
    kind: &str,
    bytes: &[u8],
    extra: usize,
) -> std::result::Result<(usize, Vec<u8>), DealerError> {
    let bad = |reason: String| DealerError::Correlation { kind: kind.into(), reason };
    if bytes.len() != 8 + extra {
        return Err(bad(format!("{} bytes of parameters, expected {}", bytes.len(), 8 + extra)));
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&bytes[..8]);
    let count = usize::try_from(u64::from_le_bytes(count)).map_err(|_| bad("count".into()))?;
    Ok((count, bytes[8..].to_vec()))
}

/// Refuses keys over [`MAX_KEY_WORDS`].
pub(crate) fn check_key_words(
    kind: &str,
    words: Option<usize>,
) -> std::result::Result<usize, DealerError> {
    words.filter(|w| *w <= MAX_KEY_WORDS).ok_or_else(|| DealerError::Correlation {
        kind: kind.into(),
        reason: format!("keys over {MAX_KEY_WORDS} words per party"),
    })
}

/// Refuses dealing to other than two parties.
pub(crate) fn check_two(kind: &str, parties: usize) -> std::result::Result<(), DealerError> {
    if parties == 2 {
        Ok(())
    } else {
        Err(DealerError::Correlation {
            kind: kind.into(),
            reason: format!("keys are for 2 parties, not {parties}"),
        })
    }
}

/// `x mod 2^bits` (`bits <= 64`).
pub(crate) fn low(x: u64, bits: u32) -> u64 {
    if bits >= 64 { x } else { x & ((1u64 << bits) - 1) }
}

/// The dealer's material for `count` comparisons of `bits`-bit inputs: `r` (additive), then
/// `rho = r_{bits-1}` (additive) and, with `times_input`, `rho * r`; and each party's keys
/// (dealt: `bits - 1` levels, one payload word, or two with `times_input`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignKeys {
    /// Number of elements.
    pub count: usize,
    /// Input width `k`: the inputs satisfy `|x| < 2^(k-1)` (2 to 64).
    pub bits: u32,
    /// Also the material for `sign * x` (ReLU and abs).
    pub times_input: bool,
}

impl SignKeys {
    /// Its kind name.
    pub const KIND: &'static str = "fss/sign";

    fn levels(&self) -> u32 {
        self.bits - 1
    }

    fn payload(&self) -> usize {
        1 + usize::from(self.times_input)
    }

    fn key_words(&self) -> std::result::Result<usize, DealerError> {
        let ok = (2..=64).contains(&self.bits);
        let words = ok.then(|| {
            let per = (2 + self.payload()) * (self.levels() as usize + 1) + 2;
            self.count.checked_mul(per)
        });
        check_key_words(Self::KIND, words.flatten())
            .map(|_| dcf::keys_len(self.count, self.levels(), self.payload()))
    }
}

impl Correlation for SignKeys {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn params(&self) -> Vec<u8> {
        let mut p = (self.count as u64).to_le_bytes().to_vec();
        p.push(self.bits as u8);
        p.push(u8::from(self.times_input));
        p
    }

    fn layout(&self) -> std::result::Result<Layout, DealerError> {
        let words = self.key_words()?;
        let n = self.count;
        let dependent = vec![Component::arith(&[n]); self.payload()];
        Ok(Layout::new(vec![Component::arith(&[n])], dependent)
            .with_dealt(vec![Component::xor(words)]))
    }

    fn dependents(
        &self,
        free: &[RingTensor<u64>],
    ) -> std::result::Result<Vec<RingTensor<u64>>, DealerError> {
        let r = free.first().map(RingTensor::to_vec).unwrap_or_default();
        let top = self.bits - 1;
        let rho: Vec<u64> = r.iter().map(|r| (r >> top) & 1).collect();
        let mut out = vec![RingTensor::from_vec(&[r.len()], rho.clone())?];
        if self.times_input {
            let rho_r = rho.iter().zip(&r).map(|(p, r)| p.wrapping_mul(*r)).collect();
            out.push(RingTensor::from_vec(&[r.len()], rho_r)?);
        }
        Ok(out)
    }

    fn deal(
        &self,
        free: &[RingTensor<u64>],
        _dependent: &[RingTensor<u64>],
        parties: usize,
        rng: &mut Prg,
    ) -> std::result::Result<Vec<Vec<RingTensor<u64>>>, DealerError> {
        check_two(Self::KIND, parties)?;
        self.key_words()?;
        let r = free.first().map(RingTensor::to_vec).unwrap_or_default();
        let (m, w) = (self.levels(), self.payload());
        let alphas: Vec<u64> = r.iter().map(|r| low(*r, m)).collect();
        let mut betas = Vec::with_capacity(r.len() * w);
        for r in &r {
            // 1 - 2 rho: 1 or -1.
            let flip = if (r >> m) & 1 == 1 { u64::MAX } else { 1 };
            betas.push(flip);
            if self.times_input {
                betas.push(flip.wrapping_mul(*r));
            }
        }
        let [k0, k1] = dcf::keys(&alphas, &betas, m, w, rng);
        let shape = [k0.len()];
        Ok(vec![vec![RingTensor::from_vec(&shape, k0)?], vec![RingTensor::from_vec(&shape, k1)?]])
    }
}

/// Decoders of this module's kinds ([`SignKeys`] and the exact truncation's keys), for a
/// third-party dealer that serves them ([`cloak_dealer::run_dealer_with`]).
///
/// # Errors
/// None in practice (the kind names are valid); a typed error otherwise.
pub fn fss_correlations() -> std::result::Result<Correlations, DealerError> {
    let mut c = Correlations::new();
    c.register(SignKeys::KIND, |bytes| {
        let (count, extra) = parse_params(SignKeys::KIND, bytes, 2)?;
        Ok(SignKeys { count, bits: u32::from(extra[0]), times_input: extra[1] != 0 })
    })?;
    c.register(TruncKeys::KIND, TruncKeys::decode)?;
    Ok(c)
}

/// Default memory for one call's keys, per party: 2 GiB, a million ReLUs at full width.
pub const DEFAULT_KEY_BUDGET: usize = 2 << 30;

/// The sign by function secret sharing, two parties: one online round opening `x + r` (8
/// bytes per element), then each party evaluates its comparison key locally (`k - 1`
/// levels of fixed-key AES). The sign, its arithmetic shares, and ReLU's product
/// `sign * x` each take that one round.
///
/// Offline, each party gets its keys: `24 k` bytes per element for a comparison, `32 k`
/// for ReLU's (about 1.5 and 2 KiB at the full width; with the trusted first party, party
/// 0 makes both and sends party 1 its own). A call whose keys would exceed
/// [`key_budget`](Self::key_budget) bytes is split into pieces that fit, one round each,
/// so memory stays bounded on large layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionSecretSharing {
    /// Input width `k`: comparisons are exact for `|x| < 2^(k-1)` (raw ring values; a
    /// fixed-point value `v` is `v 2^f`). 64 (the default) covers the whole ring; 48 at
    /// 16 fractional bits covers `|v| < 2^31` with keys a quarter smaller.
    pub input_bits: u32,
    /// Most bytes of keys one party holds for one piece of a call.
    pub key_budget: usize,
}

impl Default for FunctionSecretSharing {
    fn default() -> Self {
        Self { input_bits: 64, key_budget: DEFAULT_KEY_BUDGET }
    }
}

impl FunctionSecretSharing {
    /// Comparisons of inputs with `|x| < 2^(bits-1)` (raw ring values).
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) unless `2 <= bits
    /// <= 64`.
    pub fn with_input_bits(bits: u32) -> Result<Self> {
        if !(2..=64).contains(&bits) {
            return Err(invalid("fss", format!("input bits {bits}: must be 2 to 64")));
        }
        Ok(Self { input_bits: bits, ..Self::default() })
    }

    /// Elements per piece so that one piece's keys fit the budget.
    fn piece(&self, times_input: bool) -> usize {
        let w = 1 + usize::from(times_input);
        let per = 8 * ((2 + w) * self.input_bits as usize + 1);
        (self.key_budget / per).max(1)
    }

    /// Additive shares of the sign and, with `times_input`, of `sign * x`, piece by piece.
    fn sign(
        &self,
        ctx: &mut Context,
        x: &[u64],
        times_input: bool,
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let (mut sign, mut product) = (Vec::with_capacity(x.len()), Vec::new());
        for piece in x.chunks(self.piece(times_input)) {
            let (s, p) = self.sign_piece(ctx, piece, times_input)?;
            sign.extend(s);
            product.extend(p);
        }
        Ok((sign, product))
    }

    fn sign_piece(
        &self,
        ctx: &mut Context,
        x: &[u64],
        times_input: bool,
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let n = x.len();
        let k = self.input_bits;
        let request = SignKeys { count: n, bits: k, times_input };
        let shares = ctx.fetch(&Request::custom(request))?;
        let r = shares.free[0].as_slice();
        let rho = shares.dependent[0].as_slice();
        let masked: Vec<u64> = x.iter().zip(r.iter()).map(|(x, r)| x.wrapping_add(*r)).collect();
        let c = ctx.open_words("ltz", vec![masked], false)?.remove(0);
        let m = k - 1;
        let c_low: Vec<u64> = c.iter().map(|v| low(*v, m)).collect();
        let w = request.payload();
        let out = dcf::eval(ctx.rank(), &shares.dealt[0].as_slice(), &c_low, m, w);
        let first = u64::from(ctx.is_first());
        let mut sign = Vec::with_capacity(n);
        let mut product = Vec::with_capacity(if times_input { n } else { 0 });
        for i in 0..n {
            let ck = (c[i] >> m) & 1;
            // 1 - 2 c_{k-1}: 1 or -1.
            let flip = if ck == 1 { u64::MAX } else { 1 };
            let s = rho[i].wrapping_add(out[i * w]);
            let sg = flip.wrapping_mul(s).wrapping_add(first * ck);
            sign.push(sg);
            if times_input {
                let rho_r = shares.dependent[1].as_slice()[i];
                let sign_r =
                    (ck * r[i]).wrapping_add(flip.wrapping_mul(rho_r.wrapping_add(out[i * w + 1])));
                product.push(c[i].wrapping_mul(sg).wrapping_sub(sign_r));
            }
        }
        Ok((sign, product))
    }
}

impl ComparisonProtocol for FunctionSecretSharing {
    fn name(&self) -> &'static str {
        "fss"
    }

    fn input_bits(&self) -> u32 {
        self.input_bits
    }

    fn check(&self, parties: usize) -> Result<()> {
        if parties != 2 {
            return Err(invalid(
                "session",
                format!("FSS comparison needs 2 parties, not {parties}"),
            ));
        }
        Self::with_input_bits(self.input_bits).map(|_| ())
    }

    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        let (sign, _) = self.sign(ctx, &x.as_slice(), false)?;
        let mut packed = vec![0u64; sign.len().div_ceil(64)];
        for (k, s) in sign.iter().enumerate() {
            packed[k / 64] |= (s & 1) << (k % 64);
        }
        Ok(packed)
    }

    fn ltz_arith(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let (sign, _) = self.sign(ctx, &x.as_slice(), false)?;
        Ok(RingTensor::from_vec(x.shape(), sign)?)
    }

    fn times_ltz(
        &self,
        ctx: &mut Context,
        x: &RingTensor<u64>,
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        let (sign, product) = self.sign(ctx, &x.as_slice(), true)?;
        Ok((RingTensor::from_vec(x.shape(), product)?, RingTensor::from_vec(x.shape(), sign)?))
    }
}
