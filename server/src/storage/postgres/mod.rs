//! The PostgreSQL backend (see docs/storage.md): for several server
//! instances on one database. Implements every trait of the storage
//! interface, one file per table group beside the SQLite ones (the same
//! shape, so the two can be diffed), with its own migrations.
//!
//! Statements run through a deadpool-postgres pool on a small tokio runtime
//! of the backend's own: a storage call blocks its calling thread until its
//! statement is done (the interface is synchronous and closure-scoped). The
//! calling thread is a blocking thread of the server, but also an async
//! test or a CLI command, where `Handle::block_on` would panic, so the
//! statement's future is polled on the calling thread itself
//! (`futures_executor::block_on`) inside the runtime's context, whose
//! workers drive the connections.
//!
//! Where SQLite relies on its single writer, this backend takes a lock:
//! the device row `FOR UPDATE` (sequence check and bind), a transaction
//! advisory lock per username (login throttle), `INSERT … ON CONFLICT …
//! RETURNING` for the installation id counter. Change numbers come from the
//! gap-safe sequence of [`change_seq`] (a lease per write transaction, a
//! watermark per read snapshot).

pub mod change_seq;
mod rows;

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
mod scope;
mod search;
mod sessions;
mod templates;
mod users_teams;
mod versions;
mod wipe;

use std::cell::Cell;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

use super::{parse_timestamp, timestamp, CancelFlag, Reads, StorageError, WriteTx};

/// Migrations in order, recorded by number in `schema_migrations`. Never
/// edit one that has shipped: add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "0001_schema", include_str!("migrations/0001_schema.sql")),
    (
        2,
        "0002_folded_search",
        include_str!("migrations/0002_folded_search.sql"),
    ),
];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The SQL of every migration, in order (migrate-storage's table list test).
#[cfg(test)]
pub(in crate::storage) fn migration_sql() -> impl Iterator<Item = &'static str> {
    MIGRATIONS.iter().map(|(_, _, sql)| *sql)
}
/// The advisory lock migrations run under, so instances starting together
/// apply each migration once (any constant nobody else uses).
const MIGRATION_LOCK: i64 = 0x6669_656c_6462_6f6b; // "fieldbok"
/// Connections per instance for transactions, and for change-sequence leases.
const POOL_SIZE: usize = 16;
const LEASE_POOL_SIZE: usize = 4;
/// How often an instance deletes leases of ended transactions.
const FORGET_LEASES_EVERY: Duration = Duration::from_secs(60);

impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code)
                if *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StorageError::conflict(Box::new(e))
            }
            // A cancellable read's statement_timeout (read_cancellable).
            Some(code) if *code == SqlState::QUERY_CANCELED => StorageError::Cancelled,
            _ => StorageError::Database(Box::new(e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StorageError::Database(Box::new(other)),
        }
    }
}

/// The PostgreSQL database of one or more server instances.
pub struct PgStorage {
    /// Dropped without waiting (a storage can be dropped in async code).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// Separate connections for leases, so writers holding a pooled
    /// connection never wait on each other for a second one.
    lease_pool: Pool,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `f` to completion on the calling thread, in `handle`'s context.
///
/// Unconstrained by tokio's cooperative budget: called from inside an
/// async task (a CLI command's `main`, a test), the statements would spend
/// that task's budget, which only comes back when the task yields, and it
/// does not yield while this blocks. Once it was spent (about 128 pool
/// checkouts in one poll: `migrate-storage` comparing the pulls of 800
/// users), every semaphore acquire answered "not yet" and woke itself at
/// once: a busy loop that made a few statements per second.
fn block<F: Future>(handle: &tokio::runtime::Handle, f: F) -> F::Output {
    let _context = handle.enter();
    futures_executor::block_on(tokio::task::unconstrained(f))
}

fn pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, StorageError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| StorageError::Database(Box::new(e)))
}

impl PgStorage {
    /// Connects to `url` (`postgres://user@host/db` or a libpq key=value
    /// string) and brings its schema up to date.
    /// Refuses a database holding an unfinished `migrate-storage` copy.
    pub fn open(url: &str) -> Result<PgStorage, StorageError> {
        let storage = Self::open_for_migration(url)?;
        storage.refuse_unfinished_migration()?;
        Ok(storage)
    }

    /// [`Self::open`] without the check for an unfinished copy: for
    /// `migrate-storage` itself, which finishes it.
    pub(in crate::storage) fn open_for_migration(url: &str) -> Result<PgStorage, StorageError> {
        let config = tokio_postgres::Config::from_str(url)?;
        let mut lease_config = config.clone();
        // A lease lost in a crash ends its transaction too (docs/storage.md).
        lease_config.options("-c synchronous_commit=off");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fieldbook-pg")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Database(Box::new(e)))?;
        let handle = runtime.handle().clone();
        let storage = {
            let _context = handle.enter();
            PgStorage {
                pool: pool(config, POOL_SIZE)?,
                lease_pool: pool(lease_config, LEASE_POOL_SIZE)?,
                runtime: Some(runtime),
                handle,
            }
        };
        storage.migrate()?;
        let leases = storage.lease_pool.clone();
        storage.handle.spawn(async move {
            loop {
                tokio::time::sleep(FORGET_LEASES_EVERY).await;
                if let Ok(conn) = leases.get().await {
                    if let Err(e) = change_seq::forget_finished_leases(&**conn).await {
                        tracing::warn!(error = %e, "forgetting finished change-sequence leases");
                    }
                }
            }
        });
        Ok(storage)
    }

    fn block<F: Future>(&self, f: F) -> F::Output {
        block(&self.handle, f)
    }

    fn refuse_unfinished_migration(&self) -> Result<(), StorageError> {
        self.block(async {
            let conn = self.pool.get().await?;
            let runs = super::migrate::RUNS_TABLE;
            let has_runs: bool = conn
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&runs])
                .await?
                .get(0);
            if has_runs
                && conn
                    .query_opt(
                        &format!("SELECT 1 FROM {runs} WHERE finished_at IS NULL"),
                        &[],
                    )
                    .await?
                    .is_some()
            {
                return Err(StorageError::UnfinishedMigration);
            }
            Ok(())
        })
    }

    /// Applies the migrations this database lacks, under an advisory lock.
    fn migrate(&self) -> Result<(), StorageError> {
        self.block(async {
            let mut conn = self.pool.get().await?;
            conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            let applied = async {
                conn.batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ( \
                       version    bigint PRIMARY KEY, \
                       name       text NOT NULL, \
                       applied_at timestamptz NOT NULL DEFAULT now())",
                )
                .await?;
                let found: i64 = conn
                    .query_one(
                        "SELECT coalesce(max(version), 0) FROM schema_migrations",
                        &[],
                    )
                    .await?
                    .get(0);
                if found > SCHEMA_VERSION {
                    return Err(StorageError::SchemaTooNew {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                for (version, name, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > found) {
                    let tx = conn.transaction().await?;
                    tx.batch_execute(sql).await?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        &[version, name],
                    )
                    .await?;
                    tx.commit().await?;
                }
                Ok(())
            }
            .await;
            conn.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
                .await?;
            applied
        })
    }

    /// Runs `f` in one write transaction (READ COMMITTED, with the locks the
    /// table modules take); commits if it returns `Ok`.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut dyn WriteTx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let mut conn = self.block(self.pool.get()).map_err(StorageError::from)?;
        let tx = self.block(conn.transaction()).map_err(StorageError::from)?;
        let mut write = PgTx {
            db: PgDb {
                tx: &tx,
                handle: &self.handle,
                in_write: true,
                watermark: None,
                cancel: None,
            },
            lease_pool: &self.lease_pool,
            leased: Cell::new(false),
            now: Utc::now(),
            actor: None,
            reason: None,
        };
        let out = f(&mut write)?;
        // Dropped without commit on error: tokio-postgres rolls back.
        self.block(tx.commit()).map_err(StorageError::from)?;
        Ok(out)
    }

    /// Runs `f` on one consistent snapshot (REPEATABLE READ, READ ONLY)
    /// that sees changes up to its safe watermark.
    pub fn read<T, E>(&self, f: impl FnOnce(&dyn Reads) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.read_with(None, f)
    }

    /// [`Self::read`] that stops once `cancel` is set: every statement
    /// checks it first, and `statement_timeout` ends a statement still
    /// running at the request's deadline (the server cancels it, the
    /// transaction is rolled back and the connection returns clean).
    pub fn read_cancellable<T, E>(
        &self,
        cancel: &CancelFlag,
        f: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.read_with(Some(cancel), f)
    }

    fn read_with<T, E>(
        &self,
        cancel: Option<&CancelFlag>,
        f: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let conn = self.block(self.pool.get()).map_err(StorageError::from)?;
        self.read_on(conn, cancel, f)
    }

    /// A connection from the pool, waited for asynchronously: for a read
    /// that then runs on a blocking thread ([`Self::read_on`]), so a request
    /// waiting for a connection holds no thread. The wait runs on this
    /// backend's runtime, so a connection the pool opens for it is driven
    /// there, like every other (see the module's comment).
    pub async fn connection(&self) -> Result<deadpool_postgres::Object, StorageError> {
        let pool = self.pool.clone();
        self.handle
            .spawn(async move { pool.get().await })
            .await
            .map_err(|e| StorageError::Database(Box::new(e)))?
            .map_err(StorageError::from)
    }

    /// [`Self::read_with`] on a connection already taken from the pool.
    pub fn read_on<T, E>(
        &self,
        mut conn: deadpool_postgres::Object,
        cancel: Option<&CancelFlag>,
        f: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        // C before the snapshot begins (see change_seq).
        let last = self
            .block(change_seq::last_handed_out(&**conn))
            .map_err(StorageError::from)?;
        let tx = self
            .block(
                conn.build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start(),
            )
            .map_err(StorageError::from)?;
        if let Some(deadline) = cancel.and_then(CancelFlag::deadline) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StorageError::Cancelled.into());
            }
            // SET LOCAL takes no parameters; the value is a number we made.
            let sql = format!("SET LOCAL statement_timeout = {}", left.as_millis().max(1));
            self.block(tx.batch_execute(&sql))
                .map_err(StorageError::from)?;
        }
        let watermark = self
            .block(change_seq::watermark(&*tx, last))
            .map_err(StorageError::from)?;
        let out = f(&PgDb {
            tx: &tx,
            handle: &self.handle,
            in_write: false,
            watermark: Some(watermark),
            cancel,
        });
        // Read-only: ending the snapshot cannot lose anything.
        self.block(tx.rollback()).map_err(StorageError::from)?;
        out
    }
}

/// Read access to one snapshot (or to a write transaction's view).
#[derive(Clone, Copy)]
pub struct PgDb<'c> {
    tx: &'c deadpool_postgres::Transaction<'c>,
    handle: &'c tokio::runtime::Handle,
    /// Inside a write transaction: rows about to be changed are locked.
    in_write: bool,
    /// The snapshot's safe watermark (reads only).
    watermark: Option<i64>,
    /// Set for a read that stops when its request is gone.
    cancel: Option<&'c CancelFlag>,
}

impl std::fmt::Debug for PgDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb")
            .field("in_write", &self.in_write)
            .field("watermark", &self.watermark)
            .finish()
    }
}

impl Reads for PgDb<'_> {}

/// One write transaction.
pub struct PgTx<'c> {
    /// Reads and writes on the same transaction.
    db: PgDb<'c>,
    lease_pool: &'c Pool,
    /// Whether this transaction's lease is committed (before its first number).
    leased: Cell<bool>,
    now: DateTime<Utc>,
    /// Who makes this transaction's changes, for the installation history.
    actor: Option<uuid::Uuid>,
    /// Why, when the changed record has no field for it.
    reason: Option<String>,
}

impl std::fmt::Debug for PgTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTx").field("now", &self.now).finish()
    }
}

impl PgTx<'_> {
    /// Takes the next global change sequence number, leasing first.
    fn next_seq(&self) -> Result<u64, StorageError> {
        if !self.leased.get() {
            let lease_conn = self.db.block(self.lease_pool.get())?;
            self.db
                .block(change_seq::lease(&**self.db.tx, &**lease_conn))?;
            self.leased.set(true);
        }
        Ok(self.db.block(change_seq::next_seq(&**self.db.tx))? as u64)
    }
}

impl WriteTx for PgTx<'_> {
    fn db(&self) -> &dyn Reads {
        &self.db
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn begin_savepoint(&mut self) -> Result<(), StorageError> {
        Ok(self
            .db
            .block(self.db.tx.batch_execute("SAVEPOINT mutation"))?)
    }

    fn end_savepoint(&mut self, keep: bool) -> Result<(), StorageError> {
        let sql = if keep {
            "RELEASE mutation"
        } else {
            "ROLLBACK TO mutation; RELEASE mutation"
        };
        Ok(self.db.block(self.db.tx.batch_execute(sql))?)
    }
}
