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

fn dealer_digits(truncation: Truncation, dealer: DealerKind) -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::DealerDigits),
        ..config(truncation, dealer)
    }
}

// The dealer-digits comparison through every check, with both built-in dealers (the third
// party serves digit tables like any built-in request) and both two-party truncations.
cloak_mpc::protocol_conformance_tests!(
    dealer_digits_tfp,
    Configured::new(dealer_digits(Truncation::Auto, DealerKind::TrustedFirstParty))
);

cloak_mpc::protocol_conformance_tests!(
    dealer_digits_ttp,
    Configured::new(dealer_digits(Truncation::DealerPairs, DealerKind::TrustedThirdParty))
);

cloak_mpc::protocol_conformance_tests!(
    dealer_digits_local_shares,
    Configured::new(dealer_digits(Truncation::LocalShares, DealerKind::TrustedFirstParty))
);

// The FSS comparison (two parties only: the suite skips three), trusted first party.
cloak_mpc::protocol_conformance_tests!(
    fss_tfp,
    Configured::new(SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing::default()
        ),
        ..config(Truncation::Auto, DealerKind::TrustedFirstParty)
    })
);

fn fss_everything(dealer: DealerKind) -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing::default(),
        ),
        truncation: cloak_mpc::primitives::FssTruncation::default().into(),
        dealer,
        ..SessionConfig::default()
    }
}

// FSS for comparisons and exact truncation together, from the trusted first party and
// from a third-party dealer (which serves the keys as registered custom correlations).
cloak_mpc::protocol_conformance_tests!(
    fss_exact_tfp,
    Configured::new(fss_everything(DealerKind::TrustedFirstParty))
);

cloak_mpc::protocol_conformance_tests!(
    fss_exact_ttp,
    Configured::new(fss_everything(DealerKind::TrustedThirdParty))
);

// Narrow comparison keys: 48-bit inputs cover the suite's values (below 2^31 at 16 bits).
cloak_mpc::protocol_conformance_tests!(
    fss_narrow,
    Configured::new(SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing::with_input_bits(48).unwrap()
        ),
        ..config(Truncation::Auto, DealerKind::TrustedFirstParty)
    })
);
