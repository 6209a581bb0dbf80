//! The server's storage: one interface, backends behind it (see
//! docs/storage.md).
//!
//! Handlers never see SQL. They run a closure in one transaction,
//! [`Storage::read`] (one consistent snapshot, `&dyn Reads`) or
//! [`Storage::write`] (one write transaction, `&mut dyn WriteTx`, committed
//! when the closure returns `Ok`), and call typed methods that take and
//! return domain and protocol types. The methods are grouped in one trait
//! pair per table group, one file each (`users_teams`, `installations`,
//! `reports`, `media`, `sessions`, `devices`, ...), with the types they
//! share; `versions` is how a change reaches devices (the change sequence,
//! new versions, tombstones), `scope` who sees what.
//!
//! Backends: `sqlite/` (the embedded default: one file in the data dir) and
//! `postgres/` (several instances on one database) implement every trait,
//! chosen by [`DatabaseUrl`].

mod blob_access;
mod cancel;
mod certificates;
mod devices;
mod held_work;
mod history;
mod installations;
mod login_attempts;
mod media;
pub mod migrate;
mod near_window;
mod ops_list;
mod people;
mod planning;
pub mod postgres;
mod pull;
mod reports;
mod scope;
mod search;
mod sessions;
mod shared_sql;
mod sqlite;
mod templates;
mod users_teams;
mod versions;
mod wipe;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

pub use blob_access::BlobAccessReads;
pub use cancel::CancelFlag;
pub use certificates::{CertificateReads, CertificateWrites, StoredCertificate};
pub use devices::{DeviceReads, DeviceRow, DeviceWrites, MutationRecord, StoredMutation};
pub use held_work::{HeldWorkReads, HeldWorkWrites, NewHeldMutation};
pub use history::{HistoryReads, HistoryRow, HistoryWrites};
pub use installations::{InstallationReads, InstallationWrites};
pub use login_attempts::{LoginAttemptWrites, LoginLimit, LoginLimits};
pub use media::{MediaReads, MediaWrites};
pub use near_window::NearWindowReads;
use ops_list::ops_installation_row;
pub use ops_list::{InstallationFilter, InstallationPageRows, OpsReads, PageAfter};
pub use people::{DeviceContact, DeviceRecord, PeopleReads, PeopleWrites, SessionRecord};
pub use planning::{PlanningReads, SurveyWithLead};
pub use postgres::PgStorage;
pub use pull::{pulled_report_from, stored_record, PullReads, StoredPullPage, StoredRecord};
pub use reports::{ReportReads, ReportWrites, StoredReport};
pub use scope::{Scope, ScopeReads};
pub use search::SearchReads;
pub use sessions::{SessionReads, SessionRow, SessionWrites};
pub use sqlite::{database_path, SqliteStorage};
pub use templates::{PublishedTemplate, TemplateReads, TemplateWrites};
pub use users_teams::{UserReads, UserWrites};
pub use versions::{VersionReads, VersionWrites};
pub use wipe::{WipeConfirmed, WipeReads, WipeWrites};

/// Why a storage call failed. The API answers every one of them as an
/// internal error (`internal`, 500): none is the caller's to fix, and the
/// message is logged, not sent.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed a statement (the backend's own error).
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the database schema version {found} is newer than this server ({supported}); upgrade the server")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A `migrate-storage` run into this PostgreSQL database did not finish:
    /// its tables may hold half a copy, so no server may serve it.
    #[error("the database holds an unfinished migrate-storage copy; run migrate-storage again to finish it before serving")]
    UnfinishedMigration,
    /// The transaction lost a deadlock or serialization conflict with a
    /// concurrent one (PostgreSQL) and was rolled back: the API answers
    /// 503 with `Retry-After`, and the client sends the request again.
    #[error("conflicting concurrent transaction, rolled back: {0}")]
    Conflict(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The read was stopped because nobody waits for it any more (its
    /// request timed out or the client hung up, see [`CancelFlag`]).
    #[error("the read was cancelled: its request timed out or the client hung up")]
    Cancelled,
}

impl StorageError {
    /// [`StorageError::Conflict`], noted for [`Storage::write`] on
    /// this thread (the write's statements run on its calling thread).
    pub fn conflict(e: Box<dyn std::error::Error + Send + Sync>) -> StorageError {
        CONFLICT_SEEN.with(|seen| seen.set(true));
        StorageError::Conflict(e)
    }
}

thread_local! {
    /// Whether a statement of the write running on this thread lost a
    /// conflict. A thread-local because the closure turns the error into its
    /// own error type (an `ApiError`, a push outcome) before the retry loop
    /// sees it.
    static CONFLICT_SEEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes run again by [`Storage::write`] after losing a conflict,
/// in this process since it started (every storage, every instance in it).
static CONFLICT_RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether a statement of the write running on this thread (inside
/// [`Storage::write`]) lost a deadlock or serialization conflict.
/// A caller that turns a failure into an answer (a push's per-mutation
/// savepoint) must not do so for a lost conflict: the transaction was
/// refused, and running it again is what gives the real answer.
pub fn write_lost_conflict() -> bool {
    CONFLICT_SEEN.with(|seen| seen.get())
}

/// How many writes ran again after their transaction lost a deadlock or
/// serialization conflict, in this process since it started.
pub fn conflict_retries() -> u64 {
    CONFLICT_RETRIES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Attempts of a write whose transaction lost a deadlock or serialization
/// conflict (PostgreSQL), before its caller gets the conflict (503 with
/// `Retry-After`).
const WRITE_ATTEMPTS: u32 = 3;

/// Timestamps are stored as fixed-width RFC 3339 UTC text by both backends,
/// so they compare correctly as strings.
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Corrupt(format!("timestamp {s:?}: {e}")))
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}

/// Every read, on one consistent snapshot (or inside a write transaction,
/// seeing its own writes).
pub trait Reads:
    BlobAccessReads
    + CertificateReads
    + DeviceReads
    + HeldWorkReads
    + HistoryReads
    + InstallationReads
    + MediaReads
    + NearWindowReads
    + OpsReads
    + PeopleReads
    + PlanningReads
    + PullReads
    + ReportReads
    + ScopeReads
    + SearchReads
    + SessionReads
    + TemplateReads
    + UserReads
    + VersionReads
    + WipeReads
{
}

/// One write transaction: every write, and the reads through [`WriteTx::db`].
pub trait WriteTx:
    CertificateWrites
    + DeviceWrites
    + HeldWorkWrites
    + HistoryWrites
    + InstallationWrites
    + LoginAttemptWrites
    + MediaWrites
    + PeopleWrites
    + ReportWrites
    + SessionWrites
    + TemplateWrites
    + UserWrites
    + VersionWrites
    + WipeWrites
{
    /// Read access inside this transaction (sees its own writes).
    fn db(&self) -> &dyn Reads;

    /// The server time of the whole transaction: every record it writes
    /// carries the same instant.
    fn now(&self) -> DateTime<Utc>;

    /// Starts a savepoint inside the transaction (see [`Self::savepoint`]).
    fn begin_savepoint(&mut self) -> Result<(), StorageError>;

    /// Ends the innermost savepoint: keeps its work, or rolls it back.
    fn end_savepoint(&mut self, keep: bool) -> Result<(), StorageError>;
}

impl dyn WriteTx + '_ {
    /// Runs `f` in a savepoint that is rolled back unless `keep` says otherwise:
    /// a rejected mutation leaves no trace of half-done work.
    pub fn savepoint<T, E>(
        &mut self,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<T, E>,
        keep: impl FnOnce(&Result<T, E>) -> bool,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.begin_savepoint()?;
        let out = f(self);
        self.end_savepoint(keep(&out))?;
        out
    }
}

/// Where the server database is (`--database-url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// SQLite in this directory (`sqlite:///var/lib/x`, or a plain path).
    Sqlite(PathBuf),
    /// PostgreSQL (`postgres://…` or `postgresql://…`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads a `--database-url`: `postgres://…`/`postgresql://…`,
    /// `sqlite://DIR`, or a directory path (SQLite).
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else if let Some(dir) = url.strip_prefix("sqlite://") {
            if dir.is_empty() {
                Err("sqlite:// needs the directory of the database, e.g. sqlite:///var/lib/fieldbook-server".into())
            } else {
                Ok(DatabaseUrl::Sqlite(PathBuf::from(dir)))
            }
        } else if url.contains("://") {
            Err(format!(
                "unsupported database URL {url:?}: use postgres://user@host/db, sqlite://DIR or a directory"
            ))
        } else if url.is_empty() {
            Err("the database URL is empty".into())
        } else {
            Ok(DatabaseUrl::Sqlite(PathBuf::from(url)))
        }
    }
}

/// See [`Storage::ready_for_read`].
#[derive(Debug)]
pub struct ReadyForRead(Option<deadpool_postgres::Object>);

/// The server database, as handlers hold it.
#[derive(Debug)]
pub enum Storage {
    /// SQLite in the data dir (WAL, `synchronous=FULL`).
    Sqlite(SqliteStorage),
    /// PostgreSQL, shared by any number of server instances.
    Postgres(PgStorage),
}

impl Storage {
    /// Opens (creating if needed) the SQLite database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Storage, StorageError> {
        Ok(Storage::Sqlite(SqliteStorage::open(data_dir)?))
    }

    /// Opens the database `url` names (creating SQLite's file or
    /// PostgreSQL's tables if needed).
    pub fn open_url(url: &DatabaseUrl) -> Result<Storage, StorageError> {
        match url {
            DatabaseUrl::Sqlite(dir) => Self::open(dir),
            DatabaseUrl::Postgres(url) => Ok(Storage::Postgres(PgStorage::open(url)?)),
        }
    }

    /// Runs `f` in one write transaction; commits if it returns `Ok`.
    ///
    /// A transaction that lost a deadlock or serialization conflict
    /// (PostgreSQL; SQLite has one writer and never does) was rolled back
    /// whole, so `f` runs again in a new one, up to 3 attempts, after a short
    /// jittered pause that lets the other transaction commit; only then does
    /// the caller get the conflict (503 with `Retry-After`). So `f` must have
    /// no effect outside the transaction: it may read what it captured, and
    /// clone what it moves into the transaction. Blocking: call from
    /// `spawn_blocking`.
    pub fn write<T, E>(&self, mut f: impl FnMut(&mut dyn WriteTx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let mut attempt = 1;
        loop {
            CONFLICT_SEEN.with(|seen| seen.set(false));
            let out = match self {
                Storage::Sqlite(sqlite) => sqlite.write(&mut f),
                Storage::Postgres(pg) => pg.write(&mut f),
            };
            let conflicted = CONFLICT_SEEN.with(|seen| seen.replace(false));
            if out.is_ok() || !conflicted || attempt == WRITE_ATTEMPTS {
                return out;
            }
            let pause = 5 * u64::from(attempt) + rand::random::<u64>() % 20;
            CONFLICT_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                attempt,
                pause_ms = pause,
                "write lost a conflict; running it again"
            );
            std::thread::sleep(std::time::Duration::from_millis(pause));
            attempt += 1;
        }
    }

    /// What a read needs before it runs, waited for without a thread: on
    /// PostgreSQL a connection from the pool (awaited on the backend's own
    /// runtime), on SQLite nothing (its readers open at once). For reads
    /// that many requests make at the same moment, above all the session
    /// lookup of every request: when the pool's connections were all in use,
    /// each such request used to wait for one on a blocking thread, and 500
    /// devices filled tokio's 512 blocking threads (docs/scaling.md). Pass it
    /// to [`Self::read_ready`] on the blocking thread.
    pub async fn ready_for_read(&self) -> Result<ReadyForRead, StorageError> {
        match self {
            Storage::Sqlite(_) => Ok(ReadyForRead(None)),
            Storage::Postgres(pg) => Ok(ReadyForRead(Some(pg.connection().await?))),
        }
    }

    /// [`Self::read`] on what [`Self::ready_for_read`] got ready. Blocking:
    /// call from `spawn_blocking`.
    pub fn read_ready<T, E>(
        &self,
        ready: ReadyForRead,
        f: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        match (self, ready.0) {
            (Storage::Postgres(pg), Some(connection)) => pg.read_on(connection, None, f),
            _ => self.read(f),
        }
    }

    /// Runs `f` on one consistent snapshot. Blocking: call from `spawn_blocking`.
    pub fn read<T, E>(&self, f: impl FnOnce(&dyn Reads) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        match self {
            Storage::Sqlite(sqlite) => sqlite.read(f),
            Storage::Postgres(pg) => pg.read(f),
        }
    }

    /// [`Self::read`] that stops soon after `cancel` is set or its deadline
    /// passes, with [`StorageError::Cancelled`]: between the pull's windows
    /// and inside a running statement (SQLite: a progress handler;
    /// PostgreSQL: `statement_timeout` up to the deadline, and a check
    /// before every statement). The connection goes back to the pool clean.
    pub fn read_cancellable<T, E>(
        &self,
        cancel: &CancelFlag,
        f: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        cancel.check()?;
        match self {
            Storage::Sqlite(sqlite) => sqlite.read_cancellable(cancel, f),
            Storage::Postgres(pg) => pg.read_cancellable(cancel, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_lost_a_conflict_runs_again_in_a_new_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let mut teams = Vec::new();
        let mut attempts = 0;
        let out = storage.write(|tx| -> Result<u32, StorageError> {
            attempts += 1;
            let team = uuid::Uuid::new_v4();
            teams.push(team);
            tx.insert_team(team, &format!("Team of attempt {attempts}"))?;
            if attempts < 3 {
                // As a PostgreSQL statement that lost a conflict answers.
                return Err(StorageError::conflict("could not serialize".into()));
            }
            Ok(attempts)
        });
        assert_eq!(out.unwrap(), 3);
        // The failed attempts' writes were rolled back with them.
        let kept: Vec<bool> = storage
            .read(|db| -> Result<_, StorageError> {
                teams.iter().map(|t| Ok(db.team(*t)?.is_some())).collect()
            })
            .unwrap();
        assert_eq!(kept, [false, false, true]);

        // Bounded: a write that keeps losing answers the conflict.
        let mut attempts = 0;
        let out = storage.write(|_| -> Result<(), StorageError> {
            attempts += 1;
            Err(StorageError::conflict("could not serialize".into()))
        });
        assert!(matches!(out, Err(StorageError::Conflict(_))), "{out:?}");
        assert_eq!(attempts, WRITE_ATTEMPTS);

        // Other failures are not retried.
        let mut attempts = 0;
        let out = storage.write(|_| -> Result<(), StorageError> {
            attempts += 1;
            Err(StorageError::Corrupt("bad".into()))
        });
        assert!(out.is_err());
        assert_eq!(attempts, 1);
    }

    #[test]
    fn database_urls_pick_the_backend_and_refuse_what_they_cannot_open() {
        assert_eq!(
            DatabaseUrl::parse("postgres://fieldbook@db/fieldbook"),
            Ok(DatabaseUrl::Postgres(
                "postgres://fieldbook@db/fieldbook".into()
            ))
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://db/x"),
            Ok(DatabaseUrl::Postgres("postgresql://db/x".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/fieldbook-server"),
            Ok(DatabaseUrl::Sqlite("/var/lib/fieldbook-server".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("./data"),
            Ok(DatabaseUrl::Sqlite("./data".into()))
        );
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("").is_err());
        let mysql = DatabaseUrl::parse("mysql://db/x").unwrap_err();
        assert!(mysql.contains("postgres://"), "{mysql}");
    }
}
