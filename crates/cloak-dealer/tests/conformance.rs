//! The conformance suite (`cloak_dealer::conformance`) against both providers, for 2 and 3
//! parties (and 4 for the master-seeded first party and the third party): the trusted first
//! party, master-seeded and set up over the communicator, and the third-party dealer at an
//! extra rank, serving the suite's custom kinds.

use cloak_dealer::conformance::{self, Provider};
use cloak_dealer::{Dealer, TrustedFirstParty, TtpClient, run_dealer_with};
use cloak_prg::Seed;

#[test]
fn trusted_first_party_from_master() {
    let provider = Provider::new("tfp (master)", 0, |_comm, rank, parties| {
        let master = Seed::from_bytes([7; 16]);
        let dealer = TrustedFirstParty::from_master(&master, rank, parties)?;
        Ok(Some(Box::new(dealer) as Box<dyn Dealer>))
    });
    conformance::run(&provider).unwrap_or_else(|e| panic!("{e}"));
    conformance::run_for(&provider, 4).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn trusted_first_party_set_up() {
    let provider = Provider::new("tfp (setup)", 0, |comm, _rank, parties| {
        Ok(Some(Box::new(TrustedFirstParty::setup(comm, parties)?) as Box<dyn Dealer>))
    });
    conformance::run(&provider).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn third_party_dealer() {
    let provider = Provider::new("ttp", 1, |comm, rank, parties| {
        if rank == parties {
            run_dealer_with(comm, parties, &conformance::correlations())?;
            return Ok(None);
        }
        Ok(Some(Box::new(TtpClient::connect(comm, parties)?) as Box<dyn Dealer>))
    });
    conformance::run(&provider).unwrap_or_else(|e| panic!("{e}"));
    conformance::run_for(&provider, 4).unwrap_or_else(|e| panic!("{e}"));
}
