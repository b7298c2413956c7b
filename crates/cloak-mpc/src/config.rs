//! A session's configuration.

use std::time::Duration;

use cloak_ring::DEFAULT_FRAC_BITS;

use crate::functions::FunctionConfig;

/// How a fixed-point product is divided back down by `2^frac_bits`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Truncation {
    /// Local share division for two parties, dealer pairs otherwise.
    #[default]
    Auto,
    /// Each of two parties shifts its own share (SecureML): no communication; off by one
    /// unit in the last place usually, and wrong by about `2^(64 - 2f)` in real value with
    /// probability about `|x| / 2^(64 - 2f)` per element, where `x` is the product's real
    /// value (`|x| / 2^32` at 16 bits). Two parties only; CrypTen's default.
    LocalShares,
    /// Dealer truncation pairs: one round, any number of parties, off by at most one unit in
    /// the last place and never large (products must stay below `2^(62 - 2f)` in real value;
    /// `2^30` at 16 bits).
    DealerPairs,
}

/// Which provider of correlated randomness a session sets up.
///
/// Any other provider (any `impl` [`cloak_dealer::Dealer`]) is handed to a session with
/// [`Session::with_dealer`](crate::Session::with_dealer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DealerKind {
    /// Party 0 is the dealer (insecure against party 0; CrypTen's default).
    #[default]
    TrustedFirstParty,
    /// A separate dealer process: the communicator has one more rank than there are
    /// parties, and the dealer is that last rank.
    TrustedThirdParty,
}

/// A session's configuration; `Default` is 16 fractional bits, automatic truncation, the
/// trusted first party, and a 60 s communication timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Fractional bits of the fixed-point encoding.
    pub frac_bits: u32,
    /// How products are truncated.
    pub truncation: Truncation,
    /// The dealer [`Session::setup`](crate::Session::setup) arranges.
    pub dealer: DealerKind,
    /// Timeout for every communication step, used where the session builds its own
    /// communicator (the runners); a communicator passed in keeps its own.
    pub timeout: Duration,
    /// The methods of the non-linear functions (`exp`, `reciprocal`, `sigmoid`, ...).
    pub functions: FunctionConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            frac_bits: DEFAULT_FRAC_BITS,
            truncation: Truncation::Auto,
            dealer: DealerKind::TrustedFirstParty,
            timeout: Duration::from_secs(60),
            functions: FunctionConfig::default(),
        }
    }
}
