//! Applying what the server sends: pull pages (with their cursor, one
//! transaction each), push acknowledgements and refusals, and the blob
//! upload queue's progress. Each public function opens its own transaction
//! here ([`in_transaction`]). Uses rows and `local_state`; never `actions`.

mod blobs;
mod bulk_load;
mod outbox;
mod page;
mod pulled;
mod resync;
mod retention;
mod tombstones;

pub use page::{
    ApplyOutcome, RecordKind, ServerBatch, ServerMedia, ServerReport, Tombstone, TombstoneReason,
    Versioned,
};
pub use resync::ResyncOutcome;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior};

use crate::error::Result;
use crate::rows::session;
use crate::Store;

impl Store {
    /// A sync cycle ended well at `at`: kept with the session, so a device
    /// restarted offline still says when its data was last fresh.
    pub fn record_sync_success(&mut self, at: DateTime<Utc>) -> Result<()> {
        in_transaction(self, |tx, _| session::set_last_synced_at(tx, at))
    }
}

/// Runs `apply` in one IMMEDIATE transaction. The only place the apply side
/// opens a transaction.
fn in_transaction<T>(
    store: &mut Store,
    apply: impl FnOnce(&Connection, &fieldbook_media::MediaStore) -> Result<T>,
) -> Result<T> {
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = apply(&tx, &store.media)?;
    tx.commit()?;
    Ok(value)
}
