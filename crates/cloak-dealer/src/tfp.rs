//! Trusted first party: party 0 plays the dealer, with no communication for built-in
//! requests.
//!
//! Insecure against party 0, which knows every party's seed and so every mask; it is
//! CrypTen's default and what tests and benchmarks use. Unlike CrypTen's, the other parties'
//! shares come from seeds only they and party 0 hold, so no other party learns anything.
//! For a request with dealt components party 0 computes every party's part and sends each
//! its own, in one step under [`DEALER_LABEL`](crate::DEALER_LABEL); the others receive it
//! in `begin`, before any later message of party 0's, which keeps the point-to-point order
//! of the protocol.

use std::time::Instant;

use cloak_comm::Communicator;
use cloak_prg::Seed;
use cloak_ring::RingTensor;
use cloak_ring::device::DeviceRef;

use crate::deliver::{labelled, recv_dealt, send_dealt};
use crate::generate::{CORRECTION_PARTY, correction_shares, party_shares_on};
use crate::persistent::{MaskShapes, MaskValues};
use crate::provider::check_layout;
use crate::{Dealer, DealerError, DealerStats, Pending, Request, Shares};

/// Label of the derivation of party seeds from a common master seed.
const PARTY_SEED_LABEL: &str = "cloak-dealer/party-seed";

/// Label of the derivation of the dealer's own seed from a common master seed.
const DEALER_SEED_LABEL: &str = "cloak-dealer/dealer-seed";

/// What party 0 holds as the dealer.
struct DealerSide {
    /// Every party's seed.
    seeds: Vec<Seed>,
    /// The dealer's own randomness (for dealt components).
    seed: Seed,
    /// Persistent mask values.
    masks: MaskValues,
}

/// The trusted-first-party provider (one per party).
pub struct TrustedFirstParty {
    rank: usize,
    parties: usize,
    /// This party's seed.
    own: Seed,
    /// At party 0 only.
    dealer: Option<DealerSide>,
    counter: u64,
    stats: DealerStats,
    /// The shape of every persistent mask taken.
    masks: MaskShapes,
    /// Where this party's seed-derived shares are made (see [`Dealer::draw_on`]).
    device: Option<DeviceRef<u64>>,
}

impl std::fmt::Debug for TrustedFirstParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedFirstParty")
            .field("rank", &self.rank)
            .field("parties", &self.parties)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl TrustedFirstParty {
    fn new(rank: usize, parties: usize, own: Seed, dealer: Option<DealerSide>) -> Self {
        Self {
            rank,
            parties,
            own,
            dealer,
            counter: 0,
            stats: DealerStats::default(),
            masks: MaskShapes::default(),
            device: None,
        }
    }

    /// Seeds derived from a master seed every party knows: no set-up message, but every
    /// party could compute every mask. For tests and benchmarks only.
    ///
    /// # Errors
    /// [`DealerError::Setup`] for fewer than two parties or a rank out of range.
    pub fn from_master(master: &Seed, rank: usize, parties: usize) -> Result<Self, DealerError> {
        check_layout(rank, parties)?;
        let seed = |i: usize| master.derive_indexed(PARTY_SEED_LABEL, i as u64);
        let dealer = (rank == CORRECTION_PARTY).then(|| DealerSide {
            seeds: (0..parties).map(seed).collect(),
            seed: master.derive_indexed(DEALER_SEED_LABEL, 0),
            masks: MaskValues::default(),
        });
        Ok(Self::new(rank, parties, seed(rank), dealer))
    }

    /// Party 0 draws a fresh seed per party from the operating system and sends each party
    /// its own (one round, counted under [`DEALER_LABEL`](crate::DEALER_LABEL)). Every
    /// computing party calls this; the communicator's ranks `0..parties` are the computing
    /// parties.
    ///
    /// # Errors
    /// [`DealerError::Setup`] for a bad layout, [`DealerError::Prg`] if the OS has no
    /// entropy, a communication error, or [`DealerError::Malformed`] for a bad seed message.
    pub fn setup(comm: &mut dyn Communicator, parties: usize) -> Result<Self, DealerError> {
        let rank = comm.rank();
        check_layout(rank, parties)?;
        if comm.world_size() < parties {
            return Err(DealerError::Setup {
                reason: format!(
                    "{parties} parties on a communicator of {} ranks",
                    comm.world_size()
                ),
            });
        }
        labelled(comm, |comm| {
            if rank == CORRECTION_PARTY {
                let seeds: Vec<Seed> =
                    (0..parties).map(|_| Seed::from_os_entropy()).collect::<Result<_, _>>()?;
                let sends: Vec<(usize, &[u8])> =
                    (1..parties).map(|p| (p, &seeds[p].expose_bytes()[..])).collect();
                comm.step(cloak_comm::Op::new(cloak_comm::OpKind::PointToPoint), &sends, &[])?;
                let own = seeds[rank].clone();
                let dealer = DealerSide {
                    seeds,
                    seed: Seed::from_os_entropy()?,
                    masks: MaskValues::default(),
                };
                Ok(Self::new(rank, parties, own, Some(dealer)))
            } else {
                let bytes = comm.recv(CORRECTION_PARTY)?;
                let own = crate::ttp::seed_from_bytes(&bytes, CORRECTION_PARTY)?;
                Ok(Self::new(rank, parties, own, None))
            }
        })
    }
}

impl Dealer for TrustedFirstParty {
    fn name(&self) -> &'static str {
        "tfp"
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

    /// Everything at once: party 0 computes its correction while drawing its own shares
    /// (one pass over memory for elementwise requests). There is no message to overlap
    /// with, so splitting the work would only add passes.
    fn begin(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Pending, DealerError> {
        let start = Instant::now();
        let layout = request.layout()?;
        self.masks.check(request, true)?;
        let counter = self.counter;
        self.counter += 1;
        let shares = match &mut self.dealer {
            Some(dealer) => {
                let correction = correction_shares(
                    &dealer.seeds,
                    &dealer.seed,
                    request,
                    &layout,
                    counter,
                    &mut dealer.masks,
                )?;
                if !correction.dealt.is_empty() {
                    send_dealt(comm, &correction.dealt, CORRECTION_PARTY, &[])?;
                }
                correction.shares
            }
            None => {
                let mut shares =
                    party_shares_on(self.device.as_ref(), &self.own, self.rank, counter, &layout)?;
                if !layout.dealt.is_empty() {
                    shares.dealt = recv_dealt(comm, CORRECTION_PARTY, &layout)?;
                }
                shares
            }
        };
        self.stats.record(&layout, start);
        Ok(Pending::complete(request.clone(), shares))
    }

    fn stats(&self) -> &DealerStats {
        &self.stats
    }

    fn draw_on(&mut self, device: Option<DeviceRef<u64>>) {
        self.device = device;
    }

    /// From this party's own seed: no communication, and party 0 recomputes the mask's
    /// value from every seed when a triple needs it.
    fn persistent_share(
        &mut self,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        self.masks.share(&self.own, mask, shape)
    }
}
