//! Retention: closed and cancelled jobs last changed before the server's
//! retention window leave the device once nothing about them is unsent, so
//! a laptop carries only the customer data the technician still needs.
//! The server stops sending such jobs to a first sync (the same window);
//! this removes the ones a device already holds.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::sync_state::{delete_installation, has_unsent_work};
use crate::{Result, Store};

impl Store {
    /// Removes the closed and cancelled installations last changed before
    /// the day `changed_before` that hold no unsent work (outbox entries, held
    /// work, an unsubmitted or superseded draft), with their lead, survey,
    /// assignments, report and media rows. Returns how many left.
    pub fn remove_retired_installations(&mut self, changed_before: NaiveDate) -> Result<usize> {
        self.search_index.get_mut().take();
        self.in_write_transaction(|tx, _| {
            let candidates: Vec<String> = tx
                .prepare_cached(
                    "SELECT id FROM installations WHERE status IN ('closed', 'cancelled')
                       AND substr(updated_at, 1, 10) < ?1",
                )?
                .query_map([changed_before.to_string()], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut removed = 0;
            for id in candidates {
                let Ok(id) = Uuid::parse_str(&id) else {
                    continue;
                };
                if !has_unsent_work(tx, id)? && delete_installation(tx, id)? {
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }
}
