//! A conformance suite for dealers (test support: it returns what failed rather than
//! panicking, for a test to unwrap).
//!
//! It runs a provider for 2 and 3 parties over in-process channels
//! ([`cloak_comm::runner::run_threads`]) and checks, for every kind of request (triples for
//! every [`BilinearOp`](crate::BilinearOp) variant, broadcasting mul, matmul, conv1d/2d and
//! their gradients; square pairs; binary triples; truncation pairs at several bit counts;
//! division pairs; random bits; fixed-operand triples with persistent masks; and custom
//! kinds that are elementwise, general, and dealt), that every party's shares reconstruct
//! (sum or XOR) to values in the documented relation and look random; that `begin` then
//! `finish` gives the same; that the statistics count requests and words; and that invalid
//! requests are typed errors that leave the session usable.
//!
//! A downstream provider runs it from a test:
//!
//! ```no_run
//! use cloak_dealer::conformance::{self, Provider};
//! use cloak_dealer::{Dealer, TrustedFirstParty};
//! use cloak_prg::Seed;
//!
//! let provider = Provider::new("tfp", 0, |_comm, rank, parties| {
//!     let master = Seed::from_bytes([7; 16]);
//!     let dealer = TrustedFirstParty::from_master(&master, rank, parties)?;
//!     Ok(Some(Box::new(dealer) as Box<dyn Dealer>))
//! });
//! conformance::run(&provider).unwrap();
//! ```
//!
//! A provider with ranks of its own beyond the parties' (a third-party dealer) says how
//! many (`extra_ranks`); the factory is called at those ranks too and there serves (until
//! every party has closed its dealer) and returns `None`. Such a provider decodes the
//! suite's custom kinds with [`correlations`].

mod catalogue;
mod check;
mod kinds;

use cloak_comm::runner::{PartyFailure, run_threads};
use cloak_comm::{CommConfig, Communicator};

pub use catalogue::{Expect, builtin, custom, empty, fixed_ops, invalid, spec};
pub use check::{Check, Values, combine, product, random_looking, reconstruct, relation};
pub use kinds::{Affine, RowSums, XorKeys, correlations};

use crate::{Dealer, DealerError, Request, Shares};

/// Builds one rank's dealer: `(communicator, rank, parties)` to a party's dealer, or `None`
/// at a rank of the provider's own (after serving there).
pub type Factory = dyn Fn(&mut dyn Communicator, usize, usize) -> Built + Sync;

/// What a [`Factory`] builds at one rank.
pub type Built = Result<Option<Box<dyn Dealer>>, DealerError>;

/// A provider under test.
pub struct Provider<'a> {
    /// Its name, in failures.
    pub name: &'a str,
    /// Ranks beyond the parties' that it uses (1 for a third-party dealer).
    pub extra_ranks: usize,
    /// Builds each rank's dealer.
    pub factory: Box<Factory>,
}

impl std::fmt::Debug for Provider<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("extra_ranks", &self.extra_ranks)
            .finish_non_exhaustive()
    }
}

impl<'a> Provider<'a> {
    /// A provider named `name` using `extra_ranks` ranks of its own, built by `factory`.
    pub fn new(
        name: &'a str,
        extra_ranks: usize,
        factory: impl Fn(&mut dyn Communicator, usize, usize) -> Built + Sync + 'static,
    ) -> Self {
        Self { name, extra_ranks, factory: Box::new(factory) }
    }
}

/// A check the provider failed.
#[derive(Debug, thiserror::Error)]
#[error("{provider} with {parties} parties fails {check}: {reason}")]
pub struct Failure {
    /// The provider's name.
    pub provider: String,
    /// The number of parties.
    pub parties: usize,
    /// The check.
    pub check: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// Runs every check for 2 and 3 parties.
///
/// # Errors
/// The first check that fails.
pub fn run(provider: &Provider<'_>) -> Result<(), Failure> {
    for parties in [2, 3] {
        run_for(provider, parties)?;
    }
    Ok(())
}

/// Runs every check for `parties` parties.
///
/// # Errors
/// The first check that fails.
pub fn run_for(provider: &Provider<'_>, parties: usize) -> Result<(), Failure> {
    type Step = fn(&Provider<'_>, usize) -> Check;
    let checks: [(&'static str, Step); 6] = [
        ("relations", relations),
        ("begin_finish", begin_finish),
        ("empty_requests", empty_requests),
        ("fixed_operands", fixed_operands),
        ("stats", stats),
        ("invalid_requests", invalid_requests),
    ];
    for (check, f) in checks {
        f(provider, parties).map_err(|reason| Failure {
            provider: provider.name.to_owned(),
            parties,
            check,
            reason,
        })?;
    }
    Ok(())
}

/// Runs `program` at every party against the provider's dealer (closing it after), the
/// provider's own ranks serving; returns the parties' results in rank order.
pub fn run_program<R: Send>(
    provider: &Provider<'_>,
    parties: usize,
    program: impl Fn(&mut dyn Dealer, &mut dyn Communicator) -> Result<R, DealerError> + Sync,
) -> Result<Vec<R>, String> {
    let config = CommConfig::with_timeouts(std::time::Duration::from_secs(30));
    let outcomes = run_threads(parties + provider.extra_ranks, &config, |mut comm| {
        let rank = comm.rank();
        let Some(mut dealer) = (provider.factory)(&mut comm, rank, parties)? else {
            return Ok(None);
        };
        if (dealer.rank(), dealer.parties()) != (rank, parties) {
            return Err(DealerError::Setup {
                reason: format!(
                    "rank {rank} of {parties} built a dealer for rank {} of {}",
                    dealer.rank(),
                    dealer.parties()
                ),
            });
        }
        let out = program(&mut *dealer, &mut comm)?;
        dealer.close(&mut comm)?;
        Ok::<_, DealerError>(Some(out))
    });
    let mut results = Vec::with_capacity(parties);
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(Some(r)) if rank < parties => results.push(r),
            Ok(None) if rank >= parties => {}
            Ok(_) => return Err(format!("rank {rank} played the wrong role")),
            Err(PartyFailure::Error(e)) => return Err(format!("rank {rank} failed: {e}")),
            Err(PartyFailure::Panicked(m)) => return Err(format!("rank {rank} panicked: {m}")),
        }
    }
    Ok(results)
}

/// Every party fetches `requests` in order.
fn fetch_all(
    provider: &Provider<'_>,
    parties: usize,
    requests: &[Request],
) -> Result<Vec<Vec<Shares>>, String> {
    run_program(provider, parties, |dealer, comm| {
        requests.iter().map(|r| dealer.fetch(r, comm)).collect::<Result<Vec<_>, _>>()
    })
}

/// Every built-in and custom request reconstructs to its relation.
fn relations(provider: &Provider<'_>, parties: usize) -> Check {
    let requests: Vec<Request> = builtin().into_iter().chain(custom()).collect();
    check::run(&requests, &fetch_all(provider, parties, &requests)?)
}

/// Requests with no element reconstruct to empty values.
fn empty_requests(provider: &Provider<'_>, parties: usize) -> Check {
    let requests = empty();
    let per_party = fetch_all(provider, parties, &requests)?;
    for (k, request) in requests.iter().enumerate() {
        let shares: Vec<Shares> = per_party.iter().map(|p| p[k].clone()).collect();
        let values = reconstruct(request, &shares)?;
        check::ensure(values.iter().flatten().all(|t| t.is_empty()), || {
            format!("{request:?}: not empty")
        })?;
        relation(request, &values, None)?;
    }
    Ok(())
}

/// Everything begun before anything is finished, in order: the free shares at `begin` are
/// the final ones, and the relations hold.
fn begin_finish(provider: &Provider<'_>, parties: usize) -> Check {
    let requests: Vec<Request> = builtin().into_iter().chain(custom()).collect();
    let per_party = run_program(provider, parties, |dealer, comm| {
        let pending =
            requests.iter().map(|r| dealer.begin(r, comm)).collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for p in pending {
            let free = p.free().to_vec();
            let shares = dealer.finish(p, comm)?;
            out.push((free == shares.free, shares));
        }
        Ok(out)
    })?;
    for (p, got) in per_party.iter().enumerate() {
        check::ensure(got.iter().all(|(same, _)| *same), || {
            format!("party {p}: free shares changed between begin and finish")
        })?;
    }
    let per_party: Vec<Vec<Shares>> =
        per_party.into_iter().map(|g| g.into_iter().map(|(_, s)| s).collect()).collect();
    check::run(&requests, &per_party)
}

/// Fixed-operand triples: persistent shares add up to one mask per number, the same every
/// time, different per number; each triple's `c` is `op(a, B)` with `a` fresh.
fn fixed_operands(provider: &Provider<'_>, parties: usize) -> Check {
    type Got = Vec<([cloak_ring::RingTensor<u64>; 3], [Shares; 2])>;
    let got: Vec<Got> = run_program(provider, parties, |dealer, comm| {
        let mut out = Vec::new();
        for (k, op) in fixed_ops().into_iter().enumerate() {
            let m = 2 * k as u64;
            let b = dealer.persistent_share(m, op.rhs_shape())?;
            let other = dealer.persistent_share(m + 1, op.rhs_shape())?;
            let request = Request::TripleFixedRhs { op: op.clone(), mask: m };
            let first = dealer.fetch(&request, comm)?;
            let again = dealer.persistent_share(m, op.rhs_shape())?;
            let second = dealer.triple_fixed_rhs(&op, m, comm)?;
            out.push(([b, again, other], [first, Shares::new(vec![second.a], vec![second.c])]));
        }
        Ok(out)
    })?;
    for (k, op) in fixed_ops().iter().enumerate() {
        let mask = |i: usize| {
            combine(
                crate::ShareKind::Arith,
                op.rhs_shape(),
                &got.iter().map(|g| &g[k].0[i]).collect::<Vec<_>>(),
            )
        };
        let (b, again, other) = (mask(0)?, mask(1)?, mask(2)?);
        check::ensure(b == again, || format!("{op:?}: one mask, two values"))?;
        check::ensure(b != other, || format!("{op:?}: two masks, one value"))?;
        let request = Request::TripleFixedRhs { op: op.clone(), mask: 2 * k as u64 };
        let mut lefts = Vec::new();
        for t in 0..2 {
            let shares: Vec<Shares> = got.iter().map(|g| g[k].1[t].clone()).collect();
            let values = reconstruct(&request, &shares)?;
            relation(&request, &values, Some(&b))?;
            random_looking(&request, &shares)?;
            lefts.push(values[0][0].clone());
        }
        check::ensure(lefts[0] != lefts[1], || format!("{op:?}: a is not fresh"))?;
    }
    Ok(())
}

/// The statistics count every request and the words of every component.
fn stats(provider: &Provider<'_>, parties: usize) -> Check {
    let requests: Vec<Request> = builtin().into_iter().chain(custom()).collect();
    let mut words = 0;
    for r in &requests {
        words += r.layout().map_err(|e| e.to_string())?.words();
    }
    let all = run_program(provider, parties, |dealer, comm| {
        for r in &requests {
            dealer.fetch(r, comm)?;
        }
        Ok(*dealer.stats())
    })?;
    for (p, s) in all.iter().enumerate() {
        check::ensure((s.requests, s.words) == (requests.len() as u64, words), || {
            format!("party {p} counts {} requests and {} words", s.requests, s.words)
        })?;
    }
    Ok(())
}

/// Invalid requests are typed errors at every party, not counted, and the session goes on.
fn invalid_requests(provider: &Provider<'_>, parties: usize) -> Check {
    let valid = Request::TruncPair { shape: vec![3], bits: 12 };
    let per_party = run_program(provider, parties, |dealer, comm| {
        let mut wrong = Vec::new();
        for (request, want) in invalid() {
            match dealer.fetch(&request, comm) {
                Err(DealerError::Ring(e)) if want(&e) => {}
                other => wrong.push(format!("{request:?}: {:?}", other.map(|_| ()))),
            }
        }
        let counted = dealer.stats().requests;
        Ok((wrong, counted, vec![dealer.fetch(&valid, comm)?]))
    })?;
    let mut shares = Vec::new();
    for (p, (wrong, counted, s)) in per_party.into_iter().enumerate() {
        check::ensure(wrong.is_empty(), || format!("party {p}: {}", wrong.join("; ")))?;
        check::ensure(counted == 0, || format!("party {p} counted {counted} invalid requests"))?;
        shares.push(s);
    }
    check::run(std::slice::from_ref(&valid), &shares)
}
