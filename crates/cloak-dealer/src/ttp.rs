//! Trusted third party: the dealer is its own process, an extra rank on the communicator.
//!
//! Ranks `0..parties` compute; rank `parties` is the dealer. At set-up the dealer draws a
//! fresh seed per party from the operating system and sends each party its own. Then, per
//! request, every party derives its shares from its seed with no message at all, except
//! party 0, which sends the request to the dealer and receives its dependent shares (the
//! correction) back: one round trip, counted under [`DEALER_LABEL`](crate::DEALER_LABEL),
//! apart from the online protocol. For a request with dealt components, party 0's reply
//! also holds its part, and the dealer sends every other party its part in the same step;
//! those parties receive it in `finish`. No computing party ever sees another's masks.
//!
//! The dealer learns each request from party 0's bytes: it decodes custom kinds with the
//! decoders registered in its [`Correlations`] ([`run_dealer_with`]) and stops with
//! [`DealerError::UnknownCorrelation`] at any other kind.
//!
//! The dealer waits for party 0's next request under the communicator's timeout, so give
//! the dealer's communicator a timeout longer than the parties' longest local computation.

use std::time::Instant;

use cloak_comm::{Communicator, Op, OpKind};
use cloak_prg::{SEED_LEN, Seed};
use cloak_ring::RingTensor;
use cloak_ring::device::DeviceRef;

use crate::bytes::{Reader, Writer};
use crate::codec::{read_request, read_tensors, write_request, write_tensors};
use crate::deliver::{labelled, send_dealt};
use crate::generate::{CORRECTION_PARTY, correction_shares, party_shares_on};
use crate::persistent::{MaskShapes, MaskValues};
use crate::provider::check_layout;
use crate::{Correlations, Dealer, DealerError, DealerStats, Layout, Pending, Request, Shares};

/// Message kinds from party 0 to the dealer.
const MSG_REQUEST: u8 = 1;
const MSG_CLOSE: u8 = 2;

pub(crate) fn seed_from_bytes(bytes: &[u8], peer: usize) -> Result<Seed, DealerError> {
    let arr: [u8; SEED_LEN] = bytes.try_into().map_err(|_| DealerError::Malformed {
        peer,
        reason: format!("seed of {} bytes, expected {SEED_LEN}", bytes.len()),
    })?;
    Ok(Seed::from_bytes(arr))
}

/// Checks that the communicator has the parties plus one dealer rank.
fn check_world(comm: &dyn Communicator, parties: usize) -> Result<usize, DealerError> {
    if comm.world_size() != parties + 1 {
        return Err(DealerError::Setup {
            reason: format!(
                "a third-party dealer needs a communicator of {} ranks ({parties} parties + the \
                 dealer), got {}",
                parties + 1,
                comm.world_size()
            ),
        });
    }
    Ok(parties)
}

/// A computing party's end of the trusted third party.
pub struct TtpClient {
    rank: usize,
    parties: usize,
    dealer_rank: usize,
    seed: Seed,
    counter: u64,
    closed: bool,
    stats: DealerStats,
    /// The shape of every persistent mask taken.
    masks: MaskShapes,
    /// Where this party's seed-derived shares are made (see [`Dealer::draw_on`]).
    device: Option<DeviceRef<u64>>,
}

impl std::fmt::Debug for TtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtpClient")
            .field("rank", &self.rank)
            .field("parties", &self.parties)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl TtpClient {
    /// Receives this party's seed from the dealer (rank `parties` of `comm`).
    ///
    /// # Errors
    /// [`DealerError::Setup`] if `comm` does not have `parties + 1` ranks or this is the
    /// dealer's rank; a communication error; [`DealerError::Malformed`] for a bad seed.
    pub fn connect(comm: &mut dyn Communicator, parties: usize) -> Result<Self, DealerError> {
        let dealer_rank = check_world(comm, parties)?;
        let rank = comm.rank();
        check_layout(rank, parties)?;
        let seed = labelled(comm, |c| seed_from_bytes(&c.recv(dealer_rank)?, dealer_rank))?;
        Ok(Self {
            rank,
            parties,
            dealer_rank,
            seed,
            counter: 0,
            closed: false,
            stats: DealerStats::default(),
            masks: MaskShapes::default(),
            device: None,
        })
    }
}

/// Decodes party 0's reply: its dependent shares, then its dealt part.
fn decode_reply(bytes: &[u8], layout: &Layout, peer: usize) -> Result<Shares, DealerError> {
    let dependent_bytes: usize = layout.dependent.iter().map(|c| c.len() * 8).sum();
    let expected = dependent_bytes + layout.dealt_bytes();
    if bytes.len() != expected {
        return Err(DealerError::Malformed {
            peer,
            reason: format!("correction of {} bytes, expected {expected}", bytes.len()),
        });
    }
    let (dependent, dealt) = bytes.split_at(dependent_bytes);
    Ok(Shares {
        free: Vec::new(),
        dependent: read_tensors(dependent, &layout.dependent, peer, "correction")?,
        dealt: read_tensors(dealt, &layout.dealt, peer, "dealt part")?,
    })
}

impl Dealer for TtpClient {
    fn name(&self) -> &'static str {
        "ttp"
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn parties(&self) -> usize {
        self.parties
    }

    fn fetch(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        let pending = self.begin(request, comm)?;
        self.finish(pending, comm)
    }

    /// Party 0 sends the request to the dealer (without waiting for the answer); every
    /// party draws its shares from its seed. Party 0's dependent shares, and every party's
    /// dealt part, arrive in [`finish`](Dealer::finish).
    fn begin(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Pending, DealerError> {
        let start = Instant::now();
        let layout = request.layout()?;
        if self.closed {
            return Err(DealerError::Setup { reason: "the dealer session was closed".into() });
        }
        self.masks.check(request, true)?;
        let counter = self.counter;
        self.counter += 1;
        if self.rank == CORRECTION_PARTY {
            let mut w = Writer::default();
            w.u8(MSG_REQUEST);
            w.u64(counter);
            write_request(request, &mut w);
            let dealer = self.dealer_rank;
            labelled(comm, |c| Ok(c.send(dealer, &w.0)?))?;
        }
        let shares =
            party_shares_on(self.device.as_ref(), &self.seed, self.rank, counter, &layout)?;
        let complete = self.rank != CORRECTION_PARTY && layout.dealt.is_empty();
        Ok(Pending::new(request.clone(), shares, complete).with_spent(start.elapsed()))
    }

    fn finish(
        &mut self,
        mut pending: Pending,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        let start = Instant::now();
        let layout = pending.request().layout()?;
        if !pending.is_complete() {
            let dealer = self.dealer_rank;
            let reply = labelled(comm, |c| Ok(c.recv(dealer)?))?;
            let shares = pending.shares_mut();
            if self.rank == CORRECTION_PARTY {
                let got = decode_reply(&reply, &layout, dealer)?;
                shares.dependent = got.dependent;
                shares.dealt = got.dealt;
            } else {
                shares.dealt = read_tensors(&reply, &layout.dealt, dealer, "dealt part")?;
            }
        }
        self.stats.record_time(&layout, pending.spent() + start.elapsed());
        Ok(pending.into_shares())
    }

    fn stats(&self) -> &DealerStats {
        &self.stats
    }

    fn draw_on(&mut self, device: Option<DeviceRef<u64>>) {
        self.device = device;
    }

    /// From this party's own seed: no communication; the dealer recomputes the mask's
    /// value from every seed when a triple needs it.
    fn persistent_share(
        &mut self,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        self.masks.share(&self.seed, mask, shape)
    }

    fn close(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if self.rank == CORRECTION_PARTY {
            let mut w = Writer::default();
            w.u8(MSG_CLOSE);
            w.u64(self.counter);
            let dealer = self.dealer_rank;
            labelled(comm, |c| Ok(c.send(dealer, &w.0)?))?;
        }
        Ok(())
    }
}

/// The dealer's end: holds every party's seed and answers party 0's requests.
pub struct TtpServer {
    parties: usize,
    seeds: Vec<Seed>,
    /// The dealer's own randomness (for dealt components).
    seed: Seed,
    /// The custom kinds it serves.
    correlations: Correlations,
    counter: u64,
    stats: DealerStats,
    /// The shape of every persistent mask asked for, recorded at its first use: party 0
    /// may not reuse a mask at another shape.
    masks: MaskShapes,
    /// Persistent mask values, kept between products.
    mask_values: MaskValues,
}

impl std::fmt::Debug for TtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtpServer")
            .field("parties", &self.parties)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl TtpServer {
    /// Draws a fresh seed per party and sends each party its own (one round). Call at rank
    /// `parties` of a communicator of `parties + 1` ranks.
    ///
    /// # Errors
    /// [`DealerError::Setup`] for a bad layout, [`DealerError::Prg`] without OS entropy, or
    /// a communication error.
    pub fn setup(comm: &mut dyn Communicator, parties: usize) -> Result<Self, DealerError> {
        let dealer_rank = check_world(comm, parties)?;
        if comm.rank() != dealer_rank {
            return Err(DealerError::Setup {
                reason: format!("the dealer must be rank {dealer_rank}, got {}", comm.rank()),
            });
        }
        check_layout(0, parties)?;
        let seeds: Vec<Seed> =
            (0..parties).map(|_| Seed::from_os_entropy()).collect::<Result<_, _>>()?;
        labelled(comm, |c| {
            let sends: Vec<(usize, &[u8])> =
                seeds.iter().enumerate().map(|(p, s)| (p, &s.expose_bytes()[..])).collect();
            c.step(Op::new(OpKind::PointToPoint), &sends, &[])?;
            Ok(())
        })?;
        Ok(Self {
            parties,
            seeds,
            seed: Seed::from_os_entropy()?,
            correlations: Correlations::new(),
            counter: 0,
            stats: DealerStats::default(),
            masks: MaskShapes::default(),
            mask_values: MaskValues::default(),
        })
    }

    /// Serves requests of these custom kinds too (besides the built-in ones).
    #[must_use]
    pub fn with_correlations(mut self, correlations: Correlations) -> Self {
        self.correlations = correlations;
        self
    }

    /// Serves party 0's requests until it closes the session; returns what was served.
    ///
    /// # Errors
    /// A communication error (party 0 gone or silent past the timeout),
    /// [`DealerError::Malformed`] for an undecodable request,
    /// [`DealerError::UnknownCorrelation`] for a custom kind without a registered decoder,
    /// or [`DealerError::OutOfSync`] if party 0's request counter disagrees with the
    /// dealer's.
    pub fn serve(&mut self, comm: &mut dyn Communicator) -> Result<DealerStats, DealerError> {
        labelled(comm, |c| {
            loop {
                let msg = c.recv(CORRECTION_PARTY)?;
                let mut r = Reader::new(&msg, CORRECTION_PARTY);
                let kind = r.u8()?;
                let counter = r.u64()?;
                if counter != self.counter {
                    return Err(DealerError::OutOfSync {
                        party_counter: counter,
                        dealer_counter: self.counter,
                    });
                }
                match kind {
                    MSG_CLOSE => {
                        r.finish()?;
                        return Ok(self.stats);
                    }
                    MSG_REQUEST => {
                        let request = read_request(&mut r, &self.correlations)?;
                        r.finish()?;
                        self.answer(c, &request)?;
                    }
                    other => return Err(r.malformed(format!("unknown message kind {other}"))),
                }
            }
        })
    }

    /// Answers the next request: party 0's dependent shares (and dealt part), and every
    /// other party's dealt part if the request has any.
    fn answer(&mut self, c: &mut dyn Communicator, request: &Request) -> Result<(), DealerError> {
        let start = Instant::now();
        let layout = request.layout()?;
        self.masks.check(request, false)?;
        let correction = correction_shares(
            &self.seeds,
            &self.seed,
            request,
            &layout,
            self.counter,
            &mut self.mask_values,
        )?;
        self.counter += 1;
        let shares = &correction.shares;
        let mut reply = Vec::with_capacity(
            layout.dependent.iter().map(|c| c.len() * 8).sum::<usize>() + layout.dealt_bytes(),
        );
        write_tensors(&mut reply, &shares.dependent);
        write_tensors(&mut reply, &shares.dealt);
        if correction.dealt.is_empty() {
            c.send(CORRECTION_PARTY, &reply)?;
        } else {
            send_dealt(c, &correction.dealt, CORRECTION_PARTY, &[(CORRECTION_PARTY, &reply)])?;
        }
        self.stats.record(&layout, start);
        Ok(())
    }
}

/// Runs the third-party dealer at rank `parties` of `comm` until party 0 closes the session.
///
/// # Errors
/// As [`TtpServer::setup`] and [`TtpServer::serve`].
pub fn run_dealer(comm: &mut dyn Communicator, parties: usize) -> Result<DealerStats, DealerError> {
    run_dealer_with(comm, parties, &Correlations::new())
}

/// [`run_dealer`], serving requests of the custom kinds in `correlations` too.
///
/// # Errors
/// As [`TtpServer::setup`] and [`TtpServer::serve`].
pub fn run_dealer_with(
    comm: &mut dyn Communicator,
    parties: usize,
    correlations: &Correlations,
) -> Result<DealerStats, DealerError> {
    TtpServer::setup(comm, parties)?.with_correlations(correlations.clone()).serve(comm)
}
