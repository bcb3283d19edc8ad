//! Where a reader of the revocation log stands, and the cursor that
//! carries it to a client and back.
//!
//! Rows are stamped with the database's clock when written
//! (`recorded_at`), but commit a moment later, so a row stamped before a
//! read may still be invisible to it. A position is therefore a watermark
//! (the database's clock when the reader last read) and every row recorded
//! within [`OVERLAP_SECS`] of it that the reader already delivered: the next
//! read starts `OVERLAP_SECS` before the watermark, so a row that committed
//! up to that long after its stamp is still found, and the ids say which of
//! the overlap's rows were already delivered. Each read costs what is new
//! plus the overlap, never a fixed window.
//!
//! The cursor is that position, versioned, in base64url: opaque to
//! clients. Its size grows with the revocations of the last few seconds;
//! past [`MAX_CURSOR_IDS`] of them the cursor is empty, which resumes by
//! starting over, as a cursor whose rows were purged does.

use std::collections::HashMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use uuid::Uuid;

use crate::ledger::{LogRead, RevocationEvent};

/// How long after its stamp a row may still commit and be found. Writers
/// stamp a row in the last statement of a short transaction, so this is
/// far more than a commit takes.
pub(super) const OVERLAP_SECS: i64 = 10;

/// The most delivered ids a cursor carries (20 bytes each, so a cursor
/// stays well inside a request's 64 KiB).
pub(super) const MAX_CURSOR_IDS: usize = 1500;

const VERSION: u8 = 1;
const HEAD: usize = 1 + 8;
const ENTRY: usize = 16 + 4;

/// A `since` that is not a cursor inkan issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("since is not a cursor this service issued; send the cursor of the last batch received, or nothing to start over")]
pub struct InvalidCursor;

/// Where a reader of the revocation log stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// The database's clock at the last read; `None` before the first.
    watermark: Option<i64>,
    /// Rows delivered that were recorded within the overlap of the
    /// watermark: id to `recorded_at`.
    delivered: HashMap<Uuid, i64>,
}

impl Position {
    /// The start: nothing read yet, so the next read delivers every
    /// revocation that still matters.
    pub fn start() -> Self {
        Self::default()
    }

    /// Whether this is the start.
    pub fn is_start(&self) -> bool {
        self.watermark.is_none()
    }

    /// Where the next read must start (the database's clock).
    pub fn read_from(&self) -> i64 {
        self.watermark
            .map_or(i64::MIN, |w| w.saturating_sub(OVERLAP_SECS))
    }

    /// Whether `read` holds every row this position has not seen yet.
    pub fn covered_by(&self, read: &LogRead) -> bool {
        read.from <= self.read_from()
    }

    /// Whether the rows after this position may have been purged (rows are
    /// kept `log_retention` seconds), or the position lies in the future of
    /// the database's clock (a forged cursor, or a clock set back): either
    /// way it cannot be resumed from, and the reader starts over.
    pub fn expired(&self, read: &LogRead, log_retention: i64) -> bool {
        let Some(watermark) = self.watermark else {
            return false;
        };
        let oldest_kept = read
            .read_at
            .saturating_sub(log_retention)
            .saturating_add(OVERLAP_SECS);
        self.read_from() < oldest_kept || watermark > read.read_at.saturating_add(OVERLAP_SECS)
    }

    /// Takes from `read` (which must cover this position) at most `limit`
    /// rows not delivered yet that `wanted` keeps, in the order recorded,
    /// and moves past them. Returns them, and whether the read is used up;
    /// when it is not, call again for the rest. Each call leaves a position
    /// a reader can resume from.
    pub fn advance(
        &mut self,
        read: &LogRead,
        wanted: impl Fn(&RevocationEvent) -> bool,
        limit: usize,
    ) -> (Vec<RevocationEvent>, bool) {
        let from = self.read_from();
        let mut taken = Vec::new();
        let mut last_seen = None;
        let mut used_up = true;
        for event in &read.events {
            if event.recorded_at < from || self.delivered.contains_key(&event.id) {
                continue;
            }
            if !wanted(event) {
                last_seen = Some(event.recorded_at);
                continue;
            }
            if taken.len() == limit {
                used_up = false;
                break;
            }
            last_seen = Some(event.recorded_at);
            self.delivered.insert(event.id, event.recorded_at);
            taken.push(event.clone());
        }
        // Everything recorded before the last row looked at has been looked
        // at; a row recorded after the clock reading (written between the
        // two statements of the read) moves the watermark no further than
        // that reading.
        let reached = if used_up {
            read.read_at
        } else {
            last_seen.map_or(i64::MIN, |at| at.min(read.read_at))
        };
        let watermark = self.watermark.map_or(reached, |w| w.max(reached));
        self.watermark = Some(watermark);
        let oldest = watermark.saturating_sub(OVERLAP_SECS);
        self.delivered
            .retain(|_, recorded_at| *recorded_at >= oldest);
        (taken, used_up)
    }

    /// The cursor to hand a client: empty (resume by starting over) before
    /// the first read, or when too many rows sit in the overlap.
    pub fn cursor(&self) -> String {
        let Some(watermark) = self.watermark else {
            return String::new();
        };
        if self.delivered.len() > MAX_CURSOR_IDS {
            return String::new();
        }
        let mut bytes = Vec::with_capacity(HEAD + ENTRY * self.delivered.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&watermark.to_be_bytes());
        let mut ids: Vec<_> = self.delivered.iter().collect();
        ids.sort();
        for (id, recorded_at) in ids {
            // Within the overlap of the watermark, so the offset is small.
            let offset = i32::try_from(recorded_at.saturating_sub(watermark)).unwrap_or(i32::MIN);
            bytes.extend_from_slice(id.as_bytes());
            bytes.extend_from_slice(&offset.to_be_bytes());
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position a cursor names; an empty cursor is the start.
    pub fn parse(cursor: &str) -> Result<Self, InvalidCursor> {
        if cursor.is_empty() {
            return Ok(Self::start());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
        if bytes.len() < HEAD || bytes[0] != VERSION || !(bytes.len() - HEAD).is_multiple_of(ENTRY)
        {
            return Err(InvalidCursor);
        }
        if (bytes.len() - HEAD) / ENTRY > MAX_CURSOR_IDS {
            return Err(InvalidCursor);
        }
        let watermark = i64::from_be_bytes(bytes[1..HEAD].try_into().map_err(|_| InvalidCursor)?);
        let mut delivered = HashMap::new();
        for entry in bytes[HEAD..].chunks_exact(ENTRY) {
            let id = Uuid::from_slice(&entry[..16]).map_err(|_| InvalidCursor)?;
            let offset = i32::from_be_bytes(entry[16..].try_into().map_err(|_| InvalidCursor)?);
            delivered.insert(id, watermark.saturating_add(i64::from(offset)));
        }
        Ok(Self {
            watermark: Some(watermark),
            delivered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ids::SessionId, ledger::Revoked};

    fn event(recorded_at: i64) -> RevocationEvent {
        RevocationEvent {
            id: Uuid::new_v4(),
            revoked: Revoked::Session(SessionId::generate()),
            at: recorded_at,
            recorded_at,
        }
    }

    fn read(from: i64, read_at: i64, events: &[RevocationEvent]) -> LogRead {
        LogRead {
            read_at,
            from,
            events: events.to_vec(),
        }
    }

    #[test]
    fn a_late_commit_in_the_overlap_is_delivered_once() {
        let mut position = Position::start();
        let (a, b) = (event(100), event(104));
        let (first, done) = position.advance(
            &read(i64::MIN, 105, std::slice::from_ref(&a)),
            |_| true,
            100,
        );
        assert_eq!((first, done), (vec![a.clone()], true));
        // b was stamped before the first read but committed after it.
        let next = read(position.read_from(), 106, &[a.clone(), b.clone()]);
        assert!(position.covered_by(&next));
        let (second, _) = position.advance(&next, |_| true, 100);
        assert_eq!(second, vec![b]);
        let (third, _) = position.advance(&next, |_| true, 100);
        assert!(third.is_empty(), "nothing twice");
    }

    #[test]
    fn the_cursor_carries_the_position_and_nothing_else_parses() {
        let mut position = Position::start();
        let events = [event(100), event(101), event(200)];
        position.advance(&read(i64::MIN, 201, &events), |_| true, 100);
        let parsed = Position::parse(&position.cursor()).unwrap();
        assert_eq!(parsed, position);
        assert_eq!(parsed.delivered.len(), 1, "only the overlap's ids");
        assert_eq!(Position::parse("").unwrap(), Position::start());
        for bad in ["not a cursor!", "AAAA", &position.cursor()[..10]] {
            assert_eq!(Position::parse(bad), Err(InvalidCursor), "{bad}");
        }
    }

    #[test]
    fn a_long_read_is_taken_in_parts_each_resumable() {
        let events: Vec<_> = (0..5).map(|i| event(100 + i * 20)).collect();
        let whole = read(i64::MIN, 300, &events);
        let mut position = Position::start();
        let (part, done) = position.advance(&whole, |_| true, 2);
        assert_eq!((part.len(), done), (2, false));
        // A client resuming from here gets exactly the rest.
        let mut resumed = Position::parse(&position.cursor()).unwrap();
        let rest = read(resumed.read_from(), 300, &events);
        let (rest, done) = resumed.advance(&rest, |_| true, 100);
        assert_eq!((rest, done), (events[2..].to_vec(), true));
    }

    #[test]
    fn a_purged_or_future_position_starts_over() {
        let mut position = Position::start();
        position.advance(&read(i64::MIN, 1_000, &[]), |_| true, 10);
        assert!(!position.expired(&read(990, 1_500, &[]), 3_600));
        assert!(position.expired(&read(990, 10_000, &[]), 3_600));
        assert!(position.expired(&read(990, 900, &[]), 3_600));
    }
}
