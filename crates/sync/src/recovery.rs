//! Recovery when the server no longer knows this device, or is behind it
//! (its database restored from a backup, or reset). Nothing local is
//! discarded: the device pulls everything again from zero and replays the
//! mutations still in its outbox under the sequence numbers the server now
//! expects.
//!
//! What the server answers in those cases (server/src/push.rs,
//! server/src/storage/pull.rs):
//! - a device id it does not know is bound afresh with sequence 0, so the
//!   device's next mutation is `rejected{sequence_gap}` with
//!   `expected_device_seq: 1` (and, for older devices, "Expected device
//!   sequence 1, got N" in the reason) — not recorded, so the device may
//!   resend;
//! - a pull cursor ahead of its change sequence is echoed back unchanged with
//!   an empty page. To notice it, the first page of every pull is asked one
//!   sequence number early ([`probe_cursor`]): a server that is up to date
//!   answers with a `next_cursor` of at least the stored cursor.

use fieldbook_protocol::PullPage;

/// The cursor the first page of a pull is requested from.
pub fn probe_cursor(stored: u64) -> u64 {
    stored.saturating_sub(1)
}

/// Whether the first page, requested from [`probe_cursor`]`(stored)`, shows
/// a server whose change sequence is below the device's cursor. With no
/// more pages the server answers `next_cursor = max(change_seq, cursor)`;
/// with more pages `next_cursor` is a sequence number above the request.
pub fn server_is_behind(stored: u64, page: &PullPage) -> bool {
    stored > 0 && !page.has_more && page.next_cursor < stored
}

/// The sequence the server expects after a `sequence_gap`: the answer's
/// `expected_device_seq` field, or — from a server older than that field —
/// the number in its reason ("Expected device sequence 7, got 12; resend
/// from 7").
pub fn expected_sequence(field: Option<u64>, reason: &str) -> Option<u64> {
    match field {
        Some(expected) => Some(expected).filter(|n| *n >= 1),
        None => expected_sequence_in_reason(reason),
    }
}

fn expected_sequence_in_reason(reason: &str) -> Option<u64> {
    const MARKER: &str = "expected device sequence ";
    let lower = reason.to_ascii_lowercase();
    let start = lower.find(MARKER)? + MARKER.len();
    let digits: String = lower[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n >= 1)
}

/// What to do about a `sequence_gap` answer to the entry with local outbox
/// sequence `local_sequence`, which was sent as `sent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceRepair {
    /// The new `local sequence - device_seq` offset to persist.
    pub offset: i64,
    /// The server lost mutations it had applied (it expects a smaller
    /// number than sent): pull everything again.
    pub server_lost_history: bool,
}

pub fn repair_sequence(local_sequence: i64, sent: u64, expected: u64) -> Option<SequenceRepair> {
    let expected_i64 = i64::try_from(expected).ok()?;
    Some(SequenceRepair {
        offset: local_sequence - expected_i64,
        server_lost_history: expected < sent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(next_cursor: u64, has_more: bool) -> PullPage {
        PullPage {
            cursor: 0,
            next_cursor,
            has_more,
            ..PullPage::default()
        }
    }

    #[test]
    fn a_server_at_or_past_the_cursor_is_not_behind() {
        assert_eq!(probe_cursor(10), 9);
        assert_eq!(probe_cursor(0), 0);
        assert!(!server_is_behind(10, &page(10, false)));
        assert!(!server_is_behind(10, &page(25, false)));
        assert!(!server_is_behind(10, &page(12, true)));
        assert!(!server_is_behind(0, &page(0, false)));
    }

    #[test]
    fn a_server_below_the_cursor_is_behind() {
        // Up to date, the server answers max(change_seq, 9) >= 10; a restored
        // one with change_seq 4 echoes the probe cursor 9.
        assert!(server_is_behind(10, &page(9, false)));
        assert!(server_is_behind(1, &page(0, false)));
    }

    #[test]
    fn reads_the_expected_sequence_from_an_older_servers_reason() {
        assert_eq!(
            expected_sequence(None, "Expected device sequence 7, got 12; resend from 7"),
            Some(7)
        );
        assert_eq!(
            expected_sequence(None, "expected device sequence 1, got 3"),
            Some(1)
        );
        assert_eq!(
            expected_sequence(None, "Expected device sequence 0, got 3"),
            None
        );
        assert_eq!(expected_sequence(None, "sequence gap"), None);
    }

    #[test]
    fn the_structured_field_wins_over_the_words() {
        // A server may word its reason any way (or translate it): the field
        // is what counts.
        assert_eq!(expected_sequence(Some(4), "Séquence attendue : 4"), Some(4));
        assert_eq!(
            expected_sequence(Some(2), "Expected device sequence 9, got 12"),
            Some(2)
        );
        assert_eq!(expected_sequence(Some(0), "sequence gap"), None);
    }

    #[test]
    fn repairs_map_the_entry_onto_the_expected_number() {
        // The server was reset: entry 12 must go out as 1.
        let repair = repair_sequence(12, 12, 1).unwrap();
        assert_eq!(repair.offset, 11);
        assert!(repair.server_lost_history);
        // A stale offset that sent too small a number: no history lost.
        let repair = repair_sequence(12, 1, 12).unwrap();
        assert_eq!(repair.offset, 0);
        assert!(!repair.server_lost_history);
    }
}
