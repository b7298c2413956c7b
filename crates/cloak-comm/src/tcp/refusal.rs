//! What a listener tells a connection it refuses (the payload of a
//! [`FrameKind::Refuse`](crate::wire::FrameKind::Refuse) frame), so that the refused party
//! fails at once with the reason instead of waiting for a link that will never work.
//!
//! The payload is UTF-8 lines: `duplicate-rank`, the rank, the address it was first
//! registered from and the refused party's address; or `rejected` and a reason.

use crate::CommError;

const DUPLICATE: &str = "duplicate-rank";
const REJECTED: &str = "rejected";

/// The refusal of a rank that is already taken.
pub(crate) fn duplicate(rank: usize, first: &str, second: &str) -> String {
    format!("{DUPLICATE}\n{rank}\n{first}\n{second}\n")
}

/// A refusal with a reason (another world size or session, a certificate that is not the
/// claimed rank's).
pub(crate) fn rejected(reason: &str) -> String {
    format!("{REJECTED}\n{reason}\n")
}

/// The error a refused party reports, from `peer` at `addr`; `None` if the text is not a
/// refusal of a known form (the caller reports it verbatim).
pub(crate) fn parse(text: &str, peer: usize, addr: &str) -> Option<CommError> {
    let mut lines = text.lines();
    match lines.next()? {
        DUPLICATE => {
            let fields: Vec<&str> = lines.collect();
            let [rank, first, second] = fields[..] else {
                return None;
            };
            Some(CommError::DuplicateRank {
                rank: rank.parse().ok()?,
                first: first.into(),
                second: second.into(),
            })
        }
        REJECTED => Some(CommError::Refused {
            peer,
            addr: addr.to_owned(),
            reason: lines.collect::<Vec<_>>().join(" "),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_parses_as_a_duplicate_rank() {
        match parse(&duplicate(3, "10.0.0.1:5", "10.0.0.2:6"), 0, "x") {
            Some(CommError::DuplicateRank { rank: 3, first, second }) => {
                assert_eq!((first.as_str(), second.as_str()), ("10.0.0.1:5", "10.0.0.2:6"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("duplicate-rank\n3\n", 0, "x").is_none());
    }

    #[test]
    fn a_rejection_keeps_its_reason_and_names_the_refuser() {
        match parse(&rejected("party 2 has world size 4"), 1, "10.0.0.1:7") {
            Some(CommError::Refused { peer: 1, addr, reason }) => {
                assert_eq!(addr, "10.0.0.1:7");
                assert_eq!(reason, "party 2 has world size 4");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("something else", 0, "x").is_none());
    }
}
