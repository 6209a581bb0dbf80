//! A first sync writes thousands of jobs in a row. The indexes that only
//! order and filter the schedule cost every one of those rows two more
//! B-tree inserts; built once after the last page, from the finished table,
//! they cost a sort. Nothing on the apply path reads them, and the schedule
//! still answers while they are away (a scan of the jobs instead).
//!
//! The search texts likewise: each page wrote the texts of its jobs (and
//! of every job of its leads, found through the lead index); one statement
//! over the finished tables writes them all in rowid order. While they
//! wait, search computes them from the rows (see `crate::search`), so it
//! finds what the pages brought so far.

use super::in_transaction;
use crate::error::Result;
use crate::rows::deferred_indexes;
use crate::Store;

/// The schedule's order (by date, and by status then date).
const SCHEDULE_INDEXES: &[&str] = &["installations_status", "installations_scheduled"];

impl Store {
    /// Drops the schedule's indexes and defers the search texts for a bulk
    /// load, keeping what builds them in the same transaction, so a crash
    /// before [`Store::build_deferred_indexes`] leaves them to the next
    /// open.
    pub fn defer_for_bulk_load(&mut self) -> Result<()> {
        in_transaction(self, |tx, _| {
            deferred_indexes::defer(tx, SCHEDULE_INDEXES)?;
            deferred_indexes::defer_search_texts(tx)
        })
    }

    /// Builds every index a bulk load deferred and writes the search texts
    /// it deferred (none: nothing to do); returns how many it built.
    pub fn build_deferred_indexes(&mut self) -> Result<usize> {
        if !deferred_indexes::any(&self.conn)? {
            return Ok(0);
        }
        let built = in_transaction(self, |tx, _| deferred_indexes::build_all(tx))?;
        tracing::debug!(built, "deferred indexes built");
        Ok(built)
    }
}
