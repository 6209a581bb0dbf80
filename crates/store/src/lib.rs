//! The desktop's local store: SQLite (WAL) in the app's data directory, the
//! migrations runner, the outbox of named mutations, and the media files.
//!
//! Every technician action is one function that validates with
//! `fieldbook_domain`, applies the change and appends its outbox entry in the
//! same SQLite transaction, so a crash leaves either both or neither.

mod db;
mod error;
mod held_work;
mod installations;
mod media;
mod migrations;
mod outbox;
mod reports;
mod retention;
mod search;
mod session;
mod sync_state;

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use fieldbook_media::MediaStore;
use rusqlite::Connection;
use uuid::Uuid;

pub use error::{Result, StoreError};
pub use held_work::{HeldWork, HeldWorkStatus, ServerHeldWork};
pub use installations::{
    AssignmentResponse, AssignmentWithTeam, InstallationDetail, InstallationQuery,
    InstallationSummary,
};
pub use media::{BlobUpload, BlobUploadState, FileAvailability, MediaAvailability};
pub use migrations::schema_version;
pub use outbox::{OutboxCounts, OutboxEntry, OutboxState};
pub use reports::{DraftSaved, SignatureInput};
pub use session::Session;
pub use sync_state::{
    ApplyOutcome, RecordKind, ServerBatch, ServerMedia, ServerReport, Tombstone, TombstoneReason,
    Versioned,
};

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
        let device_id = session::ensure_device_id(&conn)?;
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
