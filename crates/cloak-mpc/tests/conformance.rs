//! The exported protocol conformance suite, run for the built-in dealers and strategies.

use cloak_mpc::conformance::{Configured, WithDealer};
use cloak_mpc::{DealerKind, SessionConfig, Truncation};

fn config(truncation: Truncation, dealer: DealerKind) -> SessionConfig {
    SessionConfig { truncation: truncation.into(), dealer, ..SessionConfig::default() }
}

cloak_mpc::protocol_conformance_tests!(
    trusted_first_party,
    Configured::new(config(Truncation::Auto, DealerKind::TrustedFirstParty))
);

cloak_mpc::protocol_conformance_tests!(
    dealer_pairs,
    Configured::new(config(Truncation::DealerPairs, DealerKind::TrustedFirstParty))
);

cloak_mpc::protocol_conformance_tests!(
    local_shares,
    Configured::new(config(Truncation::LocalShares, DealerKind::TrustedFirstParty))
);

cloak_mpc::protocol_conformance_tests!(
    trusted_third_party,
    Configured::new(config(Truncation::Auto, DealerKind::TrustedThirdParty))
);

// A provider handed in as any `impl Dealer`, with precision other than the default.
cloak_mpc::protocol_conformance_tests!(
    dealer_handed_in,
    WithDealer::new(
        SessionConfig { frac_bits: 20, ..SessionConfig::default() },
        |comm, _, parties| { Ok(Box::new(cloak_dealer::TrustedFirstParty::setup(comm, parties)?)) }
    )
);

fn dealer_bits(truncation: Truncation, dealer: DealerKind) -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::DealerBits),
        ..config(truncation, dealer)
    }
}

// The dealer-bits comparison through every check, with both built-in dealers (the third
// party serves edaBits like any built-in request).
cloak_mpc::protocol_conformance_tests!(
    dealer_bits_tfp,
    Configured::new(dealer_bits(Truncation::Auto, DealerKind::TrustedFirstParty))
);

cloak_mpc::protocol_conformance_tests!(
    dealer_bits_ttp,
    Configured::new(dealer_bits(Truncation::DealerPairs, DealerKind::TrustedThirdParty))
);

// The FSS comparison (two parties only: the suite skips three), trusted first party.
cloak_mpc::protocol_conformance_tests!(
    fss_tfp,
    Configured::new(SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing
        ),
        ..config(Truncation::Auto, DealerKind::TrustedFirstParty)
    })
);
