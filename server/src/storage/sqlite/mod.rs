//! The SQLite backend: one database file (WAL, `synchronous=FULL`) in the
//! data dir, the embedded default. Implements every trait of the storage
//! interface, one file per table group, the SQL in those files.
//!
//! Writes go through one connection behind a mutex and run as `BEGIN
//! IMMEDIATE` transactions that take their change sequence numbers inside the
//! transaction. SQLite admits one writer at a time, so transactions commit in
//! sequence order: a reader's snapshot always holds a gap-free prefix of the
//! sequence, and a pull that passed sequence N can never later find a
//! smaller number committing behind it.

mod blob_access;
mod certificates;
mod devices;
mod held_work;
mod history;
mod installations;
mod login_attempts;
mod media;
mod near_window;
mod ops_list;
mod people;
mod planning;
mod pull;
mod reports;
mod rows;
mod scope;
mod search;
mod sessions;
mod templates;
mod users_teams;
mod versions;
mod wipe;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{parse_timestamp, timestamp, CancelFlag, Reads, StorageError, WriteTx};

/// Migrations in order; migration N brings `PRAGMA user_version` to N.
/// Never edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_schema.sql"),
    include_str!("migrations/0002_blob_arrival.sql"),
    include_str!("migrations/0003_user_references_and_member_removal.sql"),
    include_str!("migrations/0004_login_attempts.sql"),
    include_str!("migrations/0005_ops_console.sql"),
    include_str!("migrations/0006_held_work_and_send_back.sql"),
    include_str!("migrations/0007_login_known_sources.sql"),
    include_str!("migrations/0008_device_wipe.sql"),
    include_str!("migrations/0009_templates.sql"),
    include_str!("migrations/0010_certificates.sql"),
    include_str!("migrations/0011_pull_scope_index.sql"),
];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
/// Reader connections kept open for reuse; more are opened on demand.
const IDLE_READERS: usize = 4;
/// How much of the database file a reader maps into memory. A pull reads
/// thousands of rows scattered over the file (each lead's and survey's
/// installation, each row's assignment); through SQLite's page cache (2 MB)
/// nearly every page was a `pread` and a copy. Mapped, a page is read in
/// place. The mapping holds no memory of its own (the pages are the
/// kernel's file cache), and a file larger than this is read the usual way
/// past it.
const READER_MMAP_BYTES: i64 = 256 * 1024 * 1024;
/// Virtual machine steps between two checks of a cancellable read's flag
/// (an atomic load: a few microseconds of a statement's work apart).
const PROGRESS_STEPS: std::ffi::c_int = 1000;

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            // Only a read's progress handler interrupts (read_cancellable).
            Some(rusqlite::ErrorCode::OperationInterrupted) => StorageError::Cancelled,
            _ => StorageError::Database(Box::new(e)),
        }
    }
}

/// The database file in a data dir.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("fieldbook.sqlite3")
}

/// The SQLite database of a data dir.
#[derive(Debug)]
pub struct SqliteStorage {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn configure(conn: &Connection) -> Result<(), StorageError> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StorageError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStorage {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteStorage, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StorageError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = database_path(data_dir);
        let mut writer = Connection::open(&path)?;
        configure(&writer)?;
        migrate(&mut writer)?;
        Ok(SqliteStorage {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn open_reader(&self) -> Result<Connection, StorageError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
        Ok(conn)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; commits if it returns `Ok`.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut dyn WriteTx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        // A poisoned lock only means another write panicked; its transaction
        // was rolled back when the panic dropped it, so the connection is fine.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StorageError::from)?;
        let out = f(&mut SqliteTx {
            tx: &tx,
            db: SqliteDb {
                conn: &tx,
                cancel: None,
            },
            now: Utc::now(),
            actor: None,
            reason: None,
        })?;
        tx.commit().map_err(StorageError::from)?;
        Ok(out)
    }

    /// Runs `f` on one consistent snapshot (a read transaction on a pooled
    /// read-only connection).
    pub fn read<T, E>(&self, f: impl FnOnce(&dyn Reads) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.with_reader(None, |conn| f(&SqliteDb { conn, cancel: None }))
    }

    /// [`Self::read`] that stops once `cancel` is set: the pull checks it
    /// between windows, and a progress handler interrupts a running
    /// statement (`SQLITE_INTERRUPT`, [`StorageError::Cancelled`]).
    pub fn read_cancellable<T, E>(
        &self,
        cancel: &CancelFlag,
        f: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.with_reader(Some(cancel), |conn| {
            f(&SqliteDb {
                conn,
                cancel: Some(cancel),
            })
        })
    }

    /// Runs `f` in a read transaction on a pooled reader connection,
    /// interrupted by `cancel` when given.
    fn with_reader<T, E>(
        &self,
        cancel: Option<&CancelFlag>,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.open_reader()?,
        };
        if let Some(cancel) = cancel {
            // Called on this thread every PROGRESS_STEPS virtual machine
            // steps of a running statement; `true` interrupts it. Cheaper and
            // safer than an InterruptHandle fired from another thread, which
            // could hit the next read on this pooled connection.
            let cancel = cancel.clone();
            conn.progress_handler(PROGRESS_STEPS, Some(move || cancel.is_cancelled()));
        }
        let out = match conn.transaction() {
            Ok(tx) => {
                let out = f(&tx);
                // The rollback must not be interrupted.
                tx.progress_handler(0, None::<fn() -> bool>);
                // Read-only: ending the snapshot cannot lose anything.
                drop(tx);
                out
            }
            Err(e) => Err(StorageError::from(e).into()),
        };
        conn.progress_handler(0, None::<fn() -> bool>);
        // Only a connection back in autocommit mode (its snapshot ended)
        // is reused; another one is closed.
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS && conn.is_autocommit() {
            idle.push(conn);
        }
        out
    }
}

/// Read access to one snapshot (or to a write transaction's view).
#[derive(Debug, Clone, Copy)]
pub struct SqliteDb<'c> {
    conn: &'c Connection,
    /// Set for a read that stops when its request is gone.
    cancel: Option<&'c CancelFlag>,
}

impl Reads for SqliteDb<'_> {}

/// One write transaction.
#[derive(Debug)]
pub struct SqliteTx<'c> {
    /// The open `BEGIN IMMEDIATE` transaction ([`SqliteStorage::write`]
    /// commits it).
    tx: &'c Connection,
    /// Reads on the same transaction.
    db: SqliteDb<'c>,
    now: DateTime<Utc>,
    /// Who makes this transaction's changes, for the installation history.
    actor: Option<uuid::Uuid>,
    /// Why, when the changed record has no field for it.
    reason: Option<String>,
}

impl SqliteTx<'_> {
    /// Takes the next global change sequence number.
    fn next_seq(&self) -> Result<u64, StorageError> {
        Ok(self.tx.query_row(
            "UPDATE meta SET value = value + 1 WHERE key = 'change_seq' RETURNING value",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }
}

impl WriteTx for SqliteTx<'_> {
    fn db(&self) -> &dyn Reads {
        &self.db
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn begin_savepoint(&mut self) -> Result<(), StorageError> {
        Ok(self.tx.execute_batch("SAVEPOINT mutation")?)
    }

    fn end_savepoint(&mut self, keep: bool) -> Result<(), StorageError> {
        let sql = if keep {
            "RELEASE mutation"
        } else {
            "ROLLBACK TO mutation; RELEASE mutation"
        };
        Ok(self.tx.execute_batch(sql)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by a server at schema 2 (before user references
    /// were columns): one assignment, report, media record and tombstone.
    fn schema_2_database(data_dir: &Path) {
        let conn = Connection::open(database_path(data_dir)).unwrap();
        // Rows without their parents: only the migrated columns matter here.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            r#"
            INSERT INTO assignments (id, installation_id, team_id, status, body, seq)
                VALUES ('a1', 'i1', 't1', 'assigned', '{"assigned_by":"ops-1"}', 1);
            INSERT INTO reports (id, installation_id, body, received_at, seq)
                VALUES ('r1', 'i1', '{"submitted_by":"tech-1"}', '2026-11-27T00:00:00.000000Z', 2);
            INSERT INTO media (id, installation_id, sha256, body, received_at, seq)
                VALUES ('m1', 'i1', 'x', '{"uploaded_by":"tech-2"}', '2026-11-27T00:00:00.000000Z', 3);
            INSERT INTO tombstones (seq, entity, entity_id, reason, team_id, installation_id)
                VALUES (4, 'installation', 'i1', 'left_scope', 't1', 'i1');
            "#,
        )
        .unwrap();
    }

    #[test]
    fn a_cancelled_read_stops_inside_a_running_statement_and_its_connection_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let cancel = CancelFlag::new();
        let canceller = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                cancel.cancel();
            })
        };
        let started = std::time::Instant::now();
        // Counts forever: only the progress handler can end it.
        let endless = storage.with_reader(Some(&cancel), |conn| {
            conn.query_row(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) \
                 SELECT count(*) FROM n",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(StorageError::from)
        });
        canceller.join().unwrap();
        assert!(
            matches!(endless, Err(StorageError::Cancelled)),
            "{endless:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        // The same connection serves the next read, uncancelled and whole.
        assert_eq!(storage.readers.lock().unwrap().len(), 1);
        let seq = storage
            .read(|db| db.change_seq())
            .expect("a read after the cancelled one");
        assert_eq!(seq, 0);
        assert_eq!(storage.readers.lock().unwrap().len(), 1);
    }

    #[test]
    fn readers_read_the_file_through_a_memory_map() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let mapped: i64 = storage
            .with_reader(None, |conn| {
                conn.pragma_query_value(None, "mmap_size", |r| r.get(0))
                    .map_err(StorageError::from)
            })
            .unwrap();
        assert_eq!(mapped, READER_MMAP_BYTES);
    }

    #[test]
    fn migration_3_fills_user_references_from_the_stored_records_and_keeps_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        schema_2_database(dir.path());
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let conn = storage.writer.lock().unwrap();
        let one = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(one("SELECT assigned_by FROM assignments"), "ops-1");
        assert_eq!(one("SELECT submitted_by FROM reports"), "tech-1");
        assert_eq!(one("SELECT uploaded_by FROM media"), "tech-2");
        let tombstone: (i64, String, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT seq, team_id, user_id, installation_id FROM tombstones",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(tombstone, (4, "t1".into(), None, Some("i1".into())));
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
