//! A full resync: a pull from zero after the server lost history (restored
//! from a backup, reset). What the device held is noted when it begins;
//! each page crosses off what it brings ([`super::page`]); what no page
//! brought is gone from the server and leaves the device when the pull
//! ends — unless it holds unsent work, which is kept (out of scope), like
//! any job that left this device's scope.

use uuid::Uuid;

use super::in_transaction;
use crate::error::Result;
use crate::local_state::left_scope;
use crate::rows::{installations, resync};
use crate::Store;

/// What the end of a full resync did.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ResyncOutcome {
    /// Jobs the server no longer has, removed from this device.
    pub removed: Vec<Uuid>,
    /// Jobs the server no longer has, kept for their unsent work.
    pub kept: Vec<Uuid>,
}

impl Store {
    /// Starts a full resync: notes every job on the device (a resync
    /// already under way starts over). The caller then pulls from zero.
    pub fn begin_full_resync(&mut self) -> Result<()> {
        in_transaction(self, |tx, _| {
            resync::clear(tx)?;
            let held = installations::all_ids(tx)?;
            resync::note(tx, resync::INSTALLATION, &held)
        })
    }

    /// Whether a full resync began and has not ended (also after a
    /// restart: the pull goes on from its cursor and ends it).
    pub fn full_resync_pending(&self) -> Result<bool> {
        resync::is_active(&self.conn)
    }

    /// Ends a full resync once the last page is applied: what no page
    /// brought leaves the device, or is kept (marked out of scope) while it
    /// holds unsent work.
    pub fn finish_full_resync(&mut self) -> Result<ResyncOutcome> {
        self.search_index.get_mut().take();
        in_transaction(self, |tx, _| {
            let mut outcome = ResyncOutcome::default();
            for id in resync::unseen(tx, resync::INSTALLATION)? {
                if left_scope::has_unsent_work(tx, id)? {
                    installations::mark_left_scope(tx, id)?;
                    outcome.kept.push(id);
                } else if left_scope::remove_installation(tx, id)? {
                    outcome.removed.push(id);
                }
            }
            resync::clear(tx)?;
            tracing::debug!(
                removed = outcome.removed.len(),
                kept = outcome.kept.len(),
                "full resync ended"
            );
            Ok(outcome)
        })
    }
}
