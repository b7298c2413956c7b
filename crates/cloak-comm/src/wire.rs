//! The TCP frame format.
//!
//! Every message on a TCP link is a 32-byte header followed by the payload:
//!
//! | bytes  | field                                                            |
//! |--------|------------------------------------------------------------------|
//! | 0..4   | magic `b"CLOK"`: rejects stray clients and desynchronised streams |
//! | 4      | format version ([`VERSION`])                                     |
//! | 5      | frame kind: an [`OpKind`] code, a setup frame, or an abort       |
//! | 6..8   | reserved, zero                                                   |
//! | 8..16  | sequence number of the message on this direction of this link    |
//! | 16..24 | operation parameter (root, element count; rank for setup frames) |
//! | 24..32 | payload length in bytes                                          |
//!
//! Under TLS ([`crate::tls`]) the same frames travel inside the encrypted channel.
//!
//! All integers are little-endian. The length is checked against the configured maximum
//! before anything is allocated, and a payload's memory is then allocated as its bytes
//! arrive, not all at once, so a peer that announces a large frame and sends little of it
//! costs little. The format is public so that tests (and other languages) can speak it.
//!
//! Frame kinds (byte 5):
//!
//! | code        | kind                    | sent                                       |
//! |-------------|-------------------------|--------------------------------------------|
//! | 0x01..=0x08 | [`FrameKind::Op`]       | one per message of a communication call    |
//! | 0x40        | [`FrameKind::Hello`]    | first frame on a mesh link, during setup   |
//! | 0x41        | [`FrameKind::Register`] | to rank 0 in a master rendezvous           |
//! | 0x42        | [`FrameKind::Table`]    | rank 0's answer to a registration          |
//! | 0x50        | [`FrameKind::Abort`]    | last frame of a party that fails           |
//!
//! # Abort frames
//!
//! A party whose communicator fails sends, before closing each link, one `Abort` frame on
//! it, so that its peers learn which party failed first and why rather than just that this
//! one went away. Its payload is the rank of the party that failed first (`u64`, not
//! necessarily the sender: a party that fails because a peer aborted, stalled or
//! disconnected names that peer) followed by the reason as UTF-8, at most
//! [`MAX_ABORT_REASON`] bytes ([`abort_payload`] builds it). The sequence number and the
//! parameter are zero and ignored. An abort is sent only where the stream is at a frame
//! boundary (a half-written frame cannot be followed by another), and only as far as the
//! socket takes it within a few milliseconds, so a receiver may see the link close without
//! one.
//!
//! A receiver delivers the frames that arrived before the abort, in order, and then reports
//! [`CommError::Aborted`](crate::CommError::Aborted) for that link; it reads nothing after
//! it. It replaces invalid UTF-8, removes control characters and bounds the length of the
//! reason before showing it. An abort whose payload is shorter than 8 bytes or longer than
//! `8 + MAX_ABORT_REASON`, or that names a rank outside the network, is malformed.
//!
//! The reason is sent in clear and shown in every party's error: it is an error message,
//! never data. Cloak's own reasons are error texts that name ranks, lengths and element
//! indices, never values; callers of
//! [`Communicator::abort`](crate::Communicator::abort) must keep to that too.

use crate::OpKind;

/// First four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"CLOK";
/// Version of this format; a peer with another version is rejected.
pub const VERSION: u8 = 1;
/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 32;

const HELLO: u8 = 0x40;
const REGISTER: u8 = 0x41;
const TABLE: u8 = 0x42;
const WELCOME: u8 = 0x48;
const REFUSE: u8 = 0x49;
const ABORT: u8 = 0x50;

/// The longest reason an abort frame carries, in bytes of UTF-8.
pub const MAX_ABORT_REASON: usize = 1024;
/// The longest payload of an abort frame: the origin's rank and the longest reason.
pub(crate) const MAX_ABORT_PAYLOAD: usize = 8 + MAX_ABORT_REASON;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A message of a communication operation.
    Op(OpKind),
    /// First frame on a mesh link: the connecting party's rank (in `aux`), world size and
    /// session token (payload: two `u64`).
    Hello,
    /// A party's registration with rank 0: its rank (in `aux`), world size and listening port
    /// (payload: two `u64`).
    Register,
    /// Rank 0's answer to a registration: the session token and every party's address
    /// (payload: UTF-8 lines).
    Table,
    /// An acceptor's answer to a hello it accepts (empty payload).
    Welcome,
    /// An acceptor's answer to an introduction it refuses (payload: UTF-8 lines saying why,
    /// the rank already taken or the reason).
    Refuse,
    /// The sender failed and closes the link after this frame: the rank of the party that
    /// failed first and why (payload: one `u64` and UTF-8 text; see the
    /// [module documentation](self)).
    Abort,
}

impl FrameKind {
    fn code(self) -> u8 {
        match self {
            FrameKind::Op(kind) => kind.code(),
            FrameKind::Hello => HELLO,
            FrameKind::Register => REGISTER,
            FrameKind::Table => TABLE,
            FrameKind::Welcome => WELCOME,
            FrameKind::Refuse => REFUSE,
            FrameKind::Abort => ABORT,
        }
    }

    fn from_code(code: u8) -> Option<FrameKind> {
        match code {
            HELLO => Some(FrameKind::Hello),
            REGISTER => Some(FrameKind::Register),
            TABLE => Some(FrameKind::Table),
            WELCOME => Some(FrameKind::Welcome),
            REFUSE => Some(FrameKind::Refuse),
            ABORT => Some(FrameKind::Abort),
            _ => OpKind::from_code(code).map(FrameKind::Op),
        }
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the frame carries.
    pub kind: FrameKind,
    /// Sequence number on this direction of the link.
    pub seq: u64,
    /// Operation parameter.
    pub aux: u64,
    /// Payload length in bytes.
    pub len: u64,
}

impl Header {
    /// The 32 bytes of this header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = self.kind.code();
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..24].copy_from_slice(&self.aux.to_le_bytes());
        out[24..32].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    /// Parses a header, or says what is wrong with it.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, String> {
        if bytes[0..4] != MAGIC {
            // The bytes are not shown: on a desynchronised link they are payload, which is
            // secret.
            return Err("bad magic (not a Cloak frame)".to_owned());
        }
        if bytes[4] != VERSION {
            return Err(format!("frame format version {}, expected {VERSION}", bytes[4]));
        }
        let kind = FrameKind::from_code(bytes[5])
            .ok_or_else(|| format!("unknown frame kind {:#04x}", bytes[5]))?;
        if bytes[6..8] != [0, 0] {
            return Err("reserved header bytes are not zero".to_owned());
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        Ok(Header { kind, seq: word(8), aux: word(16), len: word(24) })
    }
}

/// The payload of an abort frame: `origin` as a little-endian `u64`, then `reason` cut to
/// at most [`MAX_ABORT_REASON`] bytes on a character boundary.
pub fn abort_payload(origin: usize, reason: &str) -> Vec<u8> {
    let reason = truncate_reason(reason);
    let mut out = Vec::with_capacity(8 + reason.len());
    out.extend_from_slice(&(origin as u64).to_le_bytes());
    out.extend_from_slice(reason.as_bytes());
    out
}

/// The origin and the (sanitised) reason of an abort payload, or what is wrong with it.
/// The length has been checked when the header arrived.
pub(crate) fn decode_abort(payload: &[u8], world: usize) -> Result<(usize, String), String> {
    let (rank, reason) = payload
        .split_first_chunk::<8>()
        .ok_or_else(|| format!("abort frame of {} bytes", payload.len()))?;
    let origin = u64::from_le_bytes(*rank);
    match usize::try_from(origin) {
        Ok(origin) if origin < world => Ok((origin, sanitize_reason(reason))),
        _ => Err(format!("abort names party {origin} of a {world}-party network")),
    }
}

/// `reason` cut to at most [`MAX_ABORT_REASON`] bytes, on a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_ABORT_REASON {
        return reason;
    }
    let mut end = MAX_ABORT_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// A reason as it may be shown: invalid UTF-8 replaced, line breaks and tabs turned into
/// spaces and other control characters removed (a reason cannot forge log lines or
/// terminal escapes), and at most [`MAX_ABORT_REASON`] bytes.
pub(crate) fn sanitize_reason(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let clean: String = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    truncate_reason(&clean).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(code in 0usize..14, seq: u64, aux: u64, len: u64) {
            let kind = match code {
                8 => FrameKind::Hello,
                9 => FrameKind::Register,
                10 => FrameKind::Table,
                11 => FrameKind::Welcome,
                12 => FrameKind::Refuse,
                13 => FrameKind::Abort,
                k => FrameKind::Op(OpKind::ALL[k]),
            };
            let header = Header { kind, seq, aux, len };
            prop_assert_eq!(Header::decode(&header.encode()), Ok(header));
        }

        #[test]
        fn garbage_is_rejected_not_panicking(bytes in proptest::array::uniform32(any::<u8>())) {
            // Random bytes essentially never carry the magic; either way decoding must not
            // panic, and anything without the magic must be rejected.
            let decoded = Header::decode(&bytes);
            if bytes[0..4] != MAGIC {
                prop_assert!(decoded.is_err());
            }
        }
    }

    #[test]
    fn rejects_each_bad_field() {
        let good = Header { kind: FrameKind::Hello, seq: 1, aux: 2, len: 3 }.encode();
        for (at, value) in [(0, b'X'), (4, 9), (5, 0xee), (6, 1)] {
            let mut bad = good;
            bad[at] = value;
            assert!(Header::decode(&bad).is_err(), "byte {at} = {value}");
        }
    }

    #[test]
    fn abort_payloads_round_trip_and_bound_the_reason() {
        let payload = abort_payload(2, "input has NaN at element 2");
        assert_eq!(payload.len(), 8 + 26);
        assert_eq!(decode_abort(&payload, 3), Ok((2, "input has NaN at element 2".to_owned())));
        assert!(decode_abort(&payload, 2).is_err(), "origin outside the network");
        assert!(decode_abort(&payload[..7], 3).is_err(), "no room for the origin");
        // Two-byte characters across the limit: cut before the one that would straddle it.
        let long = "é".repeat(MAX_ABORT_REASON);
        let payload = abort_payload(0, &long);
        assert_eq!(payload.len(), 8 + MAX_ABORT_REASON);
        let (_, reason) = decode_abort(&payload, 1).expect("valid");
        assert_eq!(reason, "é".repeat(MAX_ABORT_REASON / 2));
        let odd = "x".to_owned() + &long;
        assert_eq!(truncate_reason(&odd).len(), MAX_ABORT_REASON - 1);
    }

    #[test]
    fn reasons_are_sanitised() {
        assert_eq!(sanitize_reason(b"bad\ninput\x1b[31m\x00!"), "bad input[31m!");
        assert_eq!(sanitize_reason(&[b'a', 0xff, b'b']), "a\u{fffd}b");
        let long = vec![b'y'; 3 * MAX_ABORT_REASON];
        assert_eq!(sanitize_reason(&long).len(), MAX_ABORT_REASON);
        // Replacement characters are three bytes each: still bounded, on a boundary.
        let invalid = vec![0xff; MAX_ABORT_REASON];
        let shown = sanitize_reason(&invalid);
        assert!(shown.len() <= MAX_ABORT_REASON && shown.chars().all(|c| c == '\u{fffd}'));
    }
}
