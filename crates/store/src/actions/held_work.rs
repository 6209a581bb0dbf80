//! Letting go of Central Ops' decision on held work.

use uuid::Uuid;

use super::in_transaction;
use crate::error::Result;
use crate::local_state::left_scope;
use crate::rows::held_work;
use crate::Store;

impl Store {
    /// The technician has seen Central Ops' decision and lets it go. Only
    /// decided work can be dismissed (waiting work is still theirs to see);
    /// a job kept only for it (it left this device's scope) goes with it.
    /// Returns whether anything was dismissed.
    pub fn dismiss_held_work(&mut self, installation_id: Uuid) -> Result<bool> {
        self.search_index.get_mut().take();
        in_transaction(self, |tx, _| {
            let dismissed = held_work::delete_decided(tx, installation_id)?;
            if dismissed {
                left_scope::remove_if_left_scope_and_sent(tx, installation_id)?;
            }
            Ok(dismissed)
        })
    }
}
