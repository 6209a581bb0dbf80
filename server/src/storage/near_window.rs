//! The near window: the caller's installations scheduled in a few days
//! around today, with what a schedule row needs (assignments, leads,
//! surveys, teams, users), read on one snapshot.
//!
//! A device signing in for the first time asks for it before its full pull,
//! so today's jobs are on screen within a second or two even when the team
//! has 10,000 installations. It is not a page of the change feed: it does not
//! move the device's cursor, and everything in it comes again (same or newer
//! version) in the full pull from zero that follows. Reports and media are
//! left to that pull.

use chrono::NaiveDate;
use fieldbook_protocol::PullPage;

use super::{Scope, StorageError};

pub trait NearWindowReads {
    /// The caller's installations scheduled from `from` to `to` (inclusive),
    /// soonest first, at most `limit`, with their assignments (to the
    /// caller's teams), leads, surveys, the caller's teams and every user
    /// those records name. `has_more` says the window held more than
    /// `limit` installations; `next_cursor` is the snapshot's last change
    /// sequence (for the log only: the device keeps its own cursor).
    fn near_window(
        &self,
        scope: Scope,
        from: NaiveDate,
        to: NaiveDate,
        limit: u32,
    ) -> Result<PullPage, StorageError>;
}
