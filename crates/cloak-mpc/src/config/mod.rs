//! A session's configuration.

use std::time::Duration;

use cloak_comm::NetProfile;
use cloak_ring::DEFAULT_FRAC_BITS;

mod functions;

pub use functions::{
    DomainChecks, ErfMethod, ExpMethod, FunctionConfig, LogMethod, ReciprocalMethod, SigmoidMethod,
    SqrtMethod, TrigMethod,
};

use crate::primitives::{ComparisonStrategy, ComputeDevice, TruncationStrategy};

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

/// A session's configuration; `Default` is 16 fractional bits, automatic truncation (dealer
/// pairs: exact up to one unit), the dealer-digits comparison, the trusted first party, and a
/// 60 s communication timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Fractional bits of the fixed-point encoding.
    pub frac_bits: u32,
    /// How products are truncated: a built-in [`Truncation`](crate::Truncation)
    /// (`Truncation::DealerPairs.into()`) or any
    /// [`TruncationProtocol`](crate::primitives::TruncationProtocol).
    pub truncation: TruncationStrategy,
    /// How the sign bit of comparisons, ReLU, max and pooling is computed: the built-in
    /// [`DealerDigits`](crate::primitives::DealerDigits) (the default),
    /// [`DealerBits`](crate::primitives::DealerBits),
    /// [`BitPlaneCarry`](crate::primitives::BitPlaneCarry),
    /// [`FunctionSecretSharing`](crate::primitives::FunctionSecretSharing) or any
    /// [`ComparisonProtocol`](crate::primitives::ComparisonProtocol).
    pub comparison: ComparisonStrategy,
    /// The dealer [`Session::setup`](crate::Session::setup) arranges.
    pub dealer: DealerKind,
    /// Timeout for every communication step, used where the session builds its own
    /// communicator (the runners); a communicator passed in keeps its own.
    pub timeout: Duration,
    /// The network the runners' links imitate (bandwidth and round-trip time, see
    /// [`NetProfile`]), or `None` for the bare transport; like `timeout`, for
    /// communicators the session builds itself.
    pub network: Option<NetProfile>,
    /// The methods of the non-linear functions (`exp`, `reciprocal`, `sigmoid`, ...).
    pub functions: FunctionConfig,
    /// Where this party's shares live and its kernels run: the host (the default) or a
    /// device ([`ComputeDevice::On`]). Each party names its own; the parties need not agree.
    pub device: ComputeDevice,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            frac_bits: DEFAULT_FRAC_BITS,
            truncation: TruncationStrategy::default(),
            comparison: ComparisonStrategy::default(),
            dealer: DealerKind::TrustedFirstParty,
            timeout: Duration::from_secs(60),
            network: None,
            functions: FunctionConfig::default(),
            device: ComputeDevice::Host,
        }
    }
}
