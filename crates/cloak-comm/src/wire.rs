//! The TCP frame format.
//!
//! Every message on a TCP link is a 32-byte header followed by the payload:
//!
//! | bytes  | field                                                            |
//! |--------|------------------------------------------------------------------|
//! | 0..4   | magic `b"CLOK"`: rejects stray clients and desynchronised streams |
//! | 4      | format version ([`VERSION`])                                     |
//! | 5      | frame kind: an [`OpKind`] code, or a setup frame                 |
//! | 6..8   | reserved, zero                                                   |
//! | 8..16  | sequence number of the message on this direction of this link    |
//! | 16..24 | operation parameter (root, element count; rank for setup frames) |
//! | 24..32 | payload length in bytes                                          |
//!
//! Under TLS ([`crate::tls`]) the same frames travel inside the encrypted channel.
//!
//! All integers are little-endian. The length is checked against the configured maximum
//! before anything is allocated. The format is public so that tests (and other languages)
//! can speak it.

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
        }
    }

    fn from_code(code: u8) -> Option<FrameKind> {
        match code {
            HELLO => Some(FrameKind::Hello),
            REGISTER => Some(FrameKind::Register),
            TABLE => Some(FrameKind::Table),
            WELCOME => Some(FrameKind::Welcome),
            REFUSE => Some(FrameKind::Refuse),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(code in 0usize..13, seq: u64, aux: u64, len: u64) {
            let kind = match code {
                8 => FrameKind::Hello,
                9 => FrameKind::Register,
                10 => FrameKind::Table,
                11 => FrameKind::Welcome,
                12 => FrameKind::Refuse,
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
}
