//! Retention: closed and cancelled jobs last changed before the server's
//! retention window leave the device once nothing about them is unsent, so
//! a laptop carries only the customer data the technician still needs.
//! The server stops sending such jobs to a first sync (the same window);
//! this removes the ones a device already holds.

use chrono::NaiveDate;

use super::in_transaction;
use crate::error::Result;
use crate::local_state::left_scope::{has_unsent_work, remove_installation};
use crate::rows::installations;
use crate::Store;

impl Store {
    /// Removes the closed and cancelled installations last changed before
    /// the day `changed_before` that hold no unsent work (outbox entries, held
    /// work, an unsubmitted or superseded draft), with their lead, survey,
    /// assignments, report and media rows. Returns how many left.
    pub fn remove_retired_installations(&mut self, changed_before: NaiveDate) -> Result<usize> {
        // Leads and installations carry search text.
        self.search_index.get_mut().take();
        in_transaction(self, |tx, _| {
            let mut removed = 0;
            for id in installations::retired_before(tx, changed_before)? {
                if !has_unsent_work(tx, id)? && remove_installation(tx, id)? {
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }
}
