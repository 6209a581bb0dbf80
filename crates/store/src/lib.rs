//! The desktop's local store: SQLite (WAL) in the app's data directory, the
//! migrations runner, the outbox of named mutations, and the media files.
//!
//! Every technician action is one function that validates with
//! `fieldbook_domain`, applies the change and appends its outbox entry in the
//! same SQLite transaction, so a crash leaves either both or neither. The
//! sync engine works through [`SyncSide`], not the whole store.

// The layers, bottom up (a module uses only the layers below it; the test
// `layers` in tests/layers.rs checks every `use crate::` line):
// - base: `db`, `error`, `migrations`, `search`;
// - `rows`: per-table reads and writes, each module on its own table group;
// - `local_state`: rules over several tables that actions and apply share
//   (rebase, jobs that left the scope);
// - `reads`, `actions`, `apply`: what screens read, the technician's
//   actions, what the server sends. Actions and apply never use each other;
//   each opens its own transactions, nothing else does;
// - `sync_side`: the narrow handle the sync engine works through.
mod actions;
mod apply;
mod db;
mod error;
mod local_state;
mod migrations;
mod reads;
mod rows;
mod search;
mod sync_side;

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use fieldbook_media::MediaStore;
use rusqlite::Connection;
use uuid::Uuid;

pub use actions::{AssignmentResponse, DraftSaved, SignatureInput};
pub use apply::{
    ApplyOutcome, RecordKind, ResyncOutcome, ServerBatch, ServerMedia, ServerReport, Tombstone,
    TombstoneReason, Versioned,
};
pub use error::{Result, StoreError};
pub use migrations::schema_version;
pub use reads::{
    AssignmentWithTeam, BlobQueueCounts, InstallationDetail, InstallationQuery,
    InstallationSummary, LabelOffer, OutboxErrorSummary, StoreDiagnostics,
};
pub use rows::blobs::{BlobUpload, BlobUploadState, CorruptFile};
pub use rows::certificates::Certificate;
pub use rows::held_work::{HeldWork, HeldWorkStatus, ServerHeldWork};
pub use rows::media::MediaAvailability;
pub use rows::outbox::{OutboxCounts, OutboxEntry, OutboxState};
pub use rows::session::Session;
pub use rows::FileAvailability;
pub use sync_side::SyncSide;

/// The local store of one data directory. Holds the directory lock for its
/// whole life; dropping it releases the lock.
pub struct Store {
    conn: Connection,
    media: MediaStore,
    device_id: Uuid,
    data_dir: PathBuf,
    /// Built on the first text search; dropped whenever a sync page was
    /// applied (the only writer of search text).
    search_index: RefCell<Option<search::SearchIndex>>,
    _lock: db::DataDirLock,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`: takes the directory
    /// lock, opens `fieldbook.sqlite3` in WAL mode, migrates it and opens the
    /// media files under `media/`.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Store> {
        let data_dir = data_dir.as_ref().to_path_buf();
        let lock = db::lock_data_dir(&data_dir)?;
        let mut conn = db::open_connection(&data_dir.join(db::DATABASE_FILE))?;
        migrations::migrate(&mut conn)?;
        let device_id = rows::session::ensure_device_id(&conn)?;
        let media = MediaStore::open(data_dir.join(db::MEDIA_DIR))?;
        Ok(Store {
            conn,
            media,
            device_id,
            data_dir,
            search_index: RefCell::new(None),
            _lock: lock,
        })
    }

    /// This installation of Fieldbook's id: generated on first open, kept.
    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Path of the SQLite file (for diagnostics and tests).
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(db::DATABASE_FILE)
    }

    /// The content-addressed media files (blob and thumbnail paths).
    pub fn media_store(&self) -> &MediaStore {
        &self.media
    }
}

#[cfg(test)]
mod tests {
    /// The desktop app keeps the store in shared state behind a mutex and
    /// moves it into blocking tasks: it must stay `Send`.
    #[test]
    fn store_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<super::Store>();
    }
}
