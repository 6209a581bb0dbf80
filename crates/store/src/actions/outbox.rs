//! What the technician does with an outbox entry the server refused:
//! dismiss it, or try it again.

use uuid::Uuid;

use super::in_transaction;
use crate::error::{Result, StoreError};
use crate::local_state::{left_scope, rebase};
use crate::rows::outbox::{self, OutboxState};
use crate::Store;

impl Store {
    /// The technician dismissed an entry the server rejected or answered with
    /// a conflict. Only entries needing attention can be dismissed: a pending
    /// one is work not yet sent. Returns whether such an entry was there.
    pub fn dismiss_outbox_entry(&mut self, mutation_id: Uuid) -> Result<bool> {
        in_transaction(self, |tx, _| {
            if outbox::state_of(tx, mutation_id)?.as_deref()
                != Some(OutboxState::NeedsAttention.as_str())
            {
                return Ok(false);
            }
            let installation_id = outbox::mutation_of(tx, mutation_id)?.and_then(|(_, id)| id);
            outbox::delete(tx, mutation_id)?;
            if let Some(id) = installation_id {
                left_scope::remove_if_left_scope_and_sent(tx, id)?;
            }
            Ok(true)
        })
    }

    /// The technician asked to try a parked entry again: it is pending, and
    /// shown as done, again.
    pub fn retry_outbox_entry(&mut self, mutation_id: Uuid) -> Result<()> {
        in_transaction(self, |tx, _| {
            if !outbox::unpark(tx, mutation_id)? {
                return Err(StoreError::not_found("outbox entry", mutation_id));
            }
            if let Some((_, Some(installation_id))) = outbox::mutation_of(tx, mutation_id)? {
                rebase::rebase_installation(tx, installation_id)?;
            }
            Ok(())
        })
    }
}
