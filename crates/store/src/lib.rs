//! The desktop's local store: SQLite (WAL) in the app's data directory, the
//! migrations runner, the outbox of named mutations, and the media files.
//!
//! Every technician action is one function that validates with
//! `fieldbook_domain`, applies the change and appends its outbox entry in the
//! same SQLite transaction, so a crash leaves either both or neither. The
//! sync engine works through [`SyncSide`], not the whole store.

// The layers, bottom up (a module uses only the layers below it; the test
// `layers` in tests/layers.rs checks every `use crate::` line):
// - base: `db`, `encryption`, `error`, `migrations`, `multi_row`, `search`;
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
mod encryption;
mod error;
mod local_state;
mod migrations;
mod multi_row;
mod reads;
mod rows;
mod search;
mod sync_side;

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::Utc;
use fieldbook_media::MediaStore;
use rusqlite::Connection;
use uuid::Uuid;

pub use actions::{
    run_next_label_search, AssignmentResponse, CertificatePage, DraftSaved, LabelsRead,
    SignatureInput, LABEL_SEARCH_BUDGET,
};
pub use apply::{
    ApplyOutcome, RecordKind, ResyncOutcome, ServerBatch, ServerMedia, ServerReport, Tombstone,
    TombstoneReason, Versioned,
};
pub use db::DatabaseKey;
pub use db::{make_private, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE};
pub use error::{Result, StoreError};
pub use fieldbook_media::MediaKey;
pub use migrations::schema_version;
pub use reads::{
    AssignmentWithTeam, BlobQueueCounts, InstallationDetail, InstallationQuery,
    InstallationSummary, LabelOffer, OutboxErrorSummary, StoreDiagnostics,
};
pub use rows::blobs::{BlobUpload, BlobUploadState, CorruptFile};
pub use rows::certificates::Certificate;
pub use rows::held_work::{HeldWork, HeldWorkStatus, ServerHeldWork};
pub use rows::media::MediaAvailability;
pub use rows::media_codes::WaitingLabelSearch;
pub use rows::outbox::{OutboxCounts, OutboxEntry, OutboxState};
pub use rows::session::Session;
pub use rows::FileAvailability;
pub use sync_side::SyncSide;

/// The keys of an encrypted data folder (the app gets both from
/// `fieldbook-secrets`).
#[derive(Debug, Clone)]
pub struct StoreKeys {
    pub database: DatabaseKey,
    /// `None`: the media files stay plain (tools and benchmarks of the
    /// database alone).
    pub media: Option<MediaKey>,
}

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
    /// The keys the store was opened with (`None`: unencrypted); the empty
    /// store a remote wipe leaves behind gets the same.
    keys: Option<StoreKeys>,
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
    /// Opens (creating if needed) the store in `data_dir` unencrypted: takes
    /// the directory lock, opens `fieldbook.sqlite3` in WAL mode, migrates it
    /// and opens the media files under `media/`. The app uses
    /// [`Store::open_encrypted`]; tests and tools that read the file with
    /// plain SQLite use this.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(data_dir.as_ref(), None)
    }

    /// [`Store::open`] with the database encrypted by `key` (SQLCipher); the
    /// media files stay plain (benchmarks and tools of the database alone;
    /// the app uses [`Store::open_with_keys`]). An unencrypted database left
    /// by an older version is converted first (crash-safe and resumable,
    /// see the `encryption` module). A wrong key fails with
    /// [`StoreError::WrongKey`] and changes nothing on disk.
    pub fn open_encrypted(data_dir: impl AsRef<Path>, key: &DatabaseKey) -> Result<Store> {
        let keys = StoreKeys {
            database: key.clone(),
            media: None,
        };
        Self::open_with(data_dir.as_ref(), Some(&keys))
    }

    /// [`Store::open_encrypted`] with the media files encrypted too when
    /// `keys.media` is given: photos, videos, signatures and thumbnails are
    /// stored sealed and read through [`MediaStore::open_blob`]. Media an
    /// older version left plain are encrypted on the first such open, after
    /// the database (crash-safe and resumable, see `fieldbook_media`); the
    /// database then records it, so later opens read no media file.
    pub fn open_with_keys(data_dir: impl AsRef<Path>, keys: &StoreKeys) -> Result<Store> {
        Self::open_with(data_dir.as_ref(), Some(keys))
    }

    fn open_with(data_dir: &Path, keys: Option<&StoreKeys>) -> Result<Store> {
        let data_dir = data_dir.to_path_buf();
        let lock = db::lock_data_dir(&data_dir)?;
        let database = data_dir.join(db::DATABASE_FILE);
        let database_key = keys.map(|k| &k.database);
        if let Some(key) = database_key {
            // First, before anything creates the database file: a conversion
            // a crash interrupted is finished or undone from what is on disk.
            encryption::encrypt_in_place(&database, key)?;
        }
        db::make_private(&data_dir)?;
        db::create_private_database_file(&database)?;
        let mut conn = db::open_connection(&database, database_key)?;
        migrations::migrate(&mut conn)?;
        let device_id = rows::session::ensure_device_id(&conn)?;
        let media = open_media(
            &conn,
            data_dir.join(db::MEDIA_DIR),
            keys.and_then(|k| k.media.clone()),
        )?;
        let mut store = Store {
            conn,
            media,
            device_id,
            data_dir,
            search_index: RefCell::new(None),
            keys: keys.cloned(),
            _lock: lock,
        };
        // A first sync that stopped before its end left them out.
        store.build_deferred_indexes()?;
        Ok(store)
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

    /// Copies what the write-ahead log holds into the database file and
    /// empties the log. SQLite does this by itself every 1,000 pages (16 MB)
    /// and when the last connection closes, but the app never closes its
    /// connection (the process exits): after a first sync of 5,000 jobs the
    /// whole database sat in a 13 MB log, and every start rebuilt the log's
    /// index before its first read (6–10 ms of the start instead of 3–4).
    /// The app calls this as it quits.
    pub fn checkpoint(&mut self) -> Result<()> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            // Only another connection (a reader in this process) can hold
            // it up; the log stays, SQLite checkpoints later.
            tracing::debug!("checkpoint held up by a reader");
        }
        Ok(())
    }

    /// Erases everything this store holds (remote wipe): the database with
    /// its WAL and SHM, and every media file and thumbnail. Then starts an
    /// empty database with a new device id in the same folder, so the app
    /// keeps running and opens on the sign-in screen. The folder lock is
    /// held throughout: no other Fieldbook can open the folder halfway.
    ///
    /// Deleting files does not overwrite their blocks on an SSD; what makes
    /// the leftovers unreadable is the encryption at rest whose keys the
    /// wipe deletes with the token (see docs/security.md).
    pub fn erase_all_data(&mut self) -> Result<()> {
        let keys = self.keys.clone();
        self.erase_all_data_with_new_keys(move || Ok(keys))
    }

    /// [`Store::erase_all_data`] for an encrypted store whose keys the wipe
    /// replaces: `new_keys` runs once the old files (database and media)
    /// are deleted (it forgets the old keys and makes new ones) and the
    /// empty store gets its answer. In that order a crash leaves either the
    /// old files with their old keys or no files at all, never files
    /// without their keys.
    pub fn erase_all_data_with_new_keys(
        &mut self,
        new_keys: impl FnOnce() -> std::result::Result<Option<StoreKeys>, String>,
    ) -> Result<()> {
        // Closed first: SQLite must not write the WAL back after the delete.
        let old = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        old.close().map_err(|(_, e)| e)?;
        self.search_index.replace(None);
        let database = self.database_path();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = database.clone().into_os_string();
            path.push(suffix);
            db::remove_if_exists(std::path::Path::new(&path))?;
        }
        let media_dir = self.data_dir.join(db::MEDIA_DIR);
        match std::fs::remove_dir_all(&media_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::io(
                    format!("cannot erase {}", media_dir.display()),
                    e,
                ))
            }
        }
        self.keys = new_keys().map_err(StoreError::KeysNotRenewed)?;
        db::create_private_database_file(&database)?;
        let mut conn = db::open_connection(&database, self.keys.as_ref().map(|k| &k.database))?;
        migrations::migrate(&mut conn)?;
        self.device_id = rows::session::ensure_device_id(&conn)?;
        self.conn = conn;
        // The same MediaStore, so its clones (the app's media:// protocol)
        // get the new key too.
        let media_key = self.keys.as_ref().and_then(|k| k.media.clone());
        let encrypted = media_key.is_some();
        self.media.start_again(media_key)?;
        if encrypted {
            // The folder is empty: nothing plain in it to look for.
            rows::media_encrypted::record_all_encrypted(&self.conn, Utc::now())?;
        }
        Ok(())
    }

    /// The content-addressed media files (blob and thumbnail paths).
    pub fn media_store(&self) -> &MediaStore {
        &self.media
    }
}

/// Opens the media folder, encrypted with `key` when given. The files an
/// older version left plain are looked for and encrypted until the
/// database records that none remain, so an ordinary start reads no media
/// file; that record is made only after the conversion finished (a crash
/// before it means converting again, skipping what is done), and dropped
/// when the folder is opened without a key (what that writes is plain).
/// The data folder's lock must be held.
fn open_media(conn: &Connection, dir: PathBuf, key: Option<MediaKey>) -> Result<MediaStore> {
    let Some(key) = key else {
        rows::media_encrypted::forget_all_encrypted(conn)?;
        return Ok(MediaStore::open(dir)?);
    };
    let media = MediaStore::open_encrypted(dir, key)?;
    if !rows::media_encrypted::all_encrypted(conn)? {
        let converted = media.encrypt_plain_files()?;
        rows::media_encrypted::record_all_encrypted(conn, Utc::now())?;
        if converted > 0 {
            tracing::info!(
                converted,
                "encrypted the media files an older version left plain"
            );
        }
    }
    Ok(media)
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
