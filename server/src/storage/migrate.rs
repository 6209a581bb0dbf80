//! `fieldbook-server migrate-storage`: copies a SQLite server (its data
//! dir) into an empty PostgreSQL database, row for row, table by table.
//!
//! A raw copy rather than a copy through the storage traits: the traits
//! write records as a server makes them (new change numbers, new history
//! rows, new session tokens), and a move must keep every number as it was so
//! devices' cursors and tokens stay valid. Both schemas have the same tables
//! and columns (postgres/migrations/0001_schema.sql says so), so the copy
//! reads each table's columns from PostgreSQL's catalogue and selects the
//! same names from SQLite.
//!
//! Restartable: the command first records an unfinished run in
//! [`RUNS_TABLE`], then copies each table in its own transaction, then sets
//! the change sequence above the highest copied number, verifies (row counts
//! per table, and a full pull of every user's scope and the ops scope on
//! both databases giving identical pages) and only then marks the run
//! finished. A run that stopped anywhere before that leaves its unfinished
//! mark: the next run clears every copied table and copies again. A target
//! with rows but no mark is refused (it is not ours to clear), and so is a
//! finished one.
//!
//! Blobs are copied too when a blob store is given (`--blob-store`): after
//! the target is claimed and before the records, by
//! [`crate::blobs::migrate`], restartable and verified the same way; without
//! one they stay in the data dir's blob folder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use super::sqlite::{database_path, SqliteStorage};
use super::{PgStorage, Reads, Scope, StorageError};
use crate::blobs::migrate::{move_blobs, BlobMoveError, BlobMoveSummary, BlobTarget};

/// Every table both schemas hold, copied in this order (parents before
/// the rows that reference them).
pub const COPIED_TABLES: &[&str] = &[
    "users",
    "teams",
    "team_members",
    "leads",
    "surveys",
    "installations",
    "installation_id_counters",
    "assignments",
    "reports",
    "report_events",
    "media",
    "tombstones",
    "sessions",
    "login_attempts",
    "login_known_sources",
    "devices",
    "mutations",
    "installation_history",
    "held_work",
    "held_mutations",
    "report_templates",
    "report_certificates",
];

/// SQLite tables not copied as rows, and why.
pub const SQLITE_ONLY_TABLES: &[(&str, &str)] = &[
    (
        "meta",
        "its change_seq becomes the PostgreSQL change sequence",
    ),
    (
        "sqlite_sequence",
        "SQLite's AUTOINCREMENT counters; identities are set from the copied ids",
    ),
    (
        "installation_search",
        "the full-text index; PostgreSQL searches a view",
    ),
    ("installation_search_config", "part of the full-text index"),
    ("installation_search_data", "part of the full-text index"),
    ("installation_search_docsize", "part of the full-text index"),
    ("installation_search_idx", "part of the full-text index"),
    (
        "installation_search_text",
        "the full-text index's source, derived from installations, leads and reports",
    ),
];

/// PostgreSQL tables not copied, and why.
pub const POSTGRES_ONLY_TABLES: &[(&str, &str)] = &[
    (
        "schema_migrations",
        "the PostgreSQL schema's own migrations",
    ),
    (
        "change_seq_leases",
        "leases of running write transactions (none after a copy)",
    ),
    (RUNS_TABLE, "this command's own record of its runs"),
    (
        SEARCH_DOCUMENTS_TABLE,
        "the search index, filled by triggers as installations, leads and reports are copied",
    ),
];

/// PostgreSQL's search index (migration 0002): not copied but made by
/// triggers as the rows are copied, so it is cleared with the copied
/// tables and verified to hold one document per installation.
const SEARCH_DOCUMENTS_TABLE: &str = "installation_search_documents";

/// Where the command records its runs in the target: one row per target,
/// `finished_at` empty until the copy is verified.
pub const RUNS_TABLE: &str = "migrate_storage_runs";

/// PostgreSQL columns whose SQLite source has another name: held
/// mutations keep arrival order in SQLite's `rowid`.
const RENAMED_SOURCES: &[(&str, &str, &str)] = &[("held_mutations", "arrival", "rowid")];

/// Session-level advisory lock, so two runs never copy into one target at once.
const MIGRATE_LOCK: i64 = 0x6d69_6772_6174_6521; // "migrate!"

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0} holds no Fieldbook database (no {1}): give the data dir of the SQLite server with --from")]
    NoSource(PathBuf, PathBuf),
    #[error(
        "the target database was already migrated into (finished {finished_at} from {source_dir}); \
         nothing was changed. To migrate again, give an empty database"
    )]
    AlreadyMigrated {
        source_dir: String,
        finished_at: String,
    },
    #[error(
        "the target database is not empty (table {0} has rows) and holds no unfinished \
         migrate-storage run; nothing was changed. Give an empty database (createdb a new one)"
    )]
    TargetNotEmpty(String),
    #[error("another migrate-storage run is copying into this database; wait for it to end")]
    Busy,
    #[error("table {table} is in the {schema} schema but migrate-storage does not know it: add it to storage/migrate.rs")]
    UnknownTable { schema: &'static str, table: String },
    #[error("table {table} is missing from the {schema} schema")]
    MissingTable { schema: &'static str, table: String },
    #[error("column {table}.{column} of PostgreSQL has no column of that name in SQLite")]
    UnmatchedColumn { table: String, column: String },
    #[error("column {table}.{column} of SQLite has no column of that name in PostgreSQL")]
    UncopiedColumn { table: String, column: String },
    #[error("column {table}.{column} has PostgreSQL type {data_type}, which migrate-storage cannot copy")]
    UnsupportedType {
        table: String,
        column: String,
        data_type: String,
    },
    #[error("verification failed: table {table} has {sqlite} rows in SQLite and {postgres} in PostgreSQL")]
    CountMismatch {
        table: String,
        sqlite: i64,
        postgres: i64,
    },
    #[error(
        "verification failed: pulling {scope} from cursor {cursor} gives different pages on the two \
         databases (was the SQLite server still running? stop it and run again)"
    )]
    PullMismatch { scope: String, cursor: u64 },
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Blobs(#[from] BlobMoveError),
}

/// What a finished run copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateSummary {
    /// Rows per table, in copy order.
    pub rows: Vec<(String, i64)>,
    /// The change sequence's last number (the next change takes one above).
    pub change_seq: i64,
    /// Scopes whose full pulls were compared (every user's and the ops one).
    pub scopes_pulled: usize,
    /// Whether this run cleared an earlier unfinished run first.
    pub cleared_unfinished: bool,
    /// The blobs moved, when a blob store was given.
    pub blobs: Option<BlobMoveSummary>,
}

/// A column to copy: its name in PostgreSQL, its source in SQLite, its type.
struct Column {
    name: String,
    source: String,
    pg_type: Type,
}

/// Copies the SQLite server in `from` into the PostgreSQL database `to`
/// (see the module docs), and its blobs into `blobs` when given, reporting
/// progress through `progress`. The SQLite server must be stopped: the
/// pulls compared at the end would differ otherwise.
pub async fn migrate_storage(
    from: &Path,
    to: &str,
    blobs: Option<&BlobTarget>,
    progress: &mut dyn FnMut(&str),
) -> Result<MigrateSummary, MigrateError> {
    let source_file = database_path(from);
    if !source_file.is_file() {
        return Err(MigrateError::NoSource(from.to_owned(), source_file));
    }
    // Both opened through the storage layer first: brings each schema up
    // to date (and the PostgreSQL one into being).
    let sqlite_storage = SqliteStorage::open(from)?;
    let pg_storage = PgStorage::open_for_migration(to)?;
    let source = Connection::open_with_flags(&source_file, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // One snapshot of the source for the whole copy.
    source.execute_batch("BEGIN")?;

    let (mut client, connection) = tokio_postgres::connect(to, NoTls).await?;
    let connection = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migrate-storage: PostgreSQL connection ended");
        }
    });
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATE_LOCK])
        .await?
        .get(0);
    if !locked {
        return Err(MigrateError::Busy);
    }

    check_table_lists(&source, &client).await?;
    let cleared_unfinished = claim_target(&mut client, from, progress).await?;
    // Blobs before records: the run stays unfinished until both are
    // copied, so a failure in either is finished by running again.
    let blobs = match blobs {
        Some(target) => Some(move_blobs(from, target, progress).await?),
        None => None,
    };

    let mut rows = Vec::new();
    for table in COPIED_TABLES {
        let copied = copy_table(&source, &mut client, table).await?;
        progress(&format!("copied {table}: {copied} rows"));
        rows.push((table.to_string(), copied));
    }
    let change_seq = set_sequences(&source, &mut client).await?;
    progress(&format!(
        "change sequence set to {change_seq}: devices' cursors stay valid"
    ));

    for (table, copied) in &rows {
        let sqlite: i64 =
            source.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        let postgres: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await?
            .get(0);
        if sqlite != postgres || postgres != *copied {
            return Err(MigrateError::CountMismatch {
                table: table.clone(),
                sqlite,
                postgres,
            });
        }
    }
    let installations = rows
        .iter()
        .find(|(table, _)| table == "installations")
        .map_or(0, |(_, n)| *n);
    let documents: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {SEARCH_DOCUMENTS_TABLE}"),
            &[],
        )
        .await?
        .get(0);
    if documents != installations {
        return Err(MigrateError::CountMismatch {
            table: format!("{SEARCH_DOCUMENTS_TABLE} (one per installation)"),
            sqlite: installations,
            postgres: documents,
        });
    }
    progress("row counts match on every table, and the search index has every installation");
    source.execute_batch("COMMIT")?;

    let scopes_pulled = compare_pulls(&source, &sqlite_storage, &pg_storage)?;
    progress(&format!(
        "full pulls of {scopes_pulled} scopes (every user and the ops scope) match"
    ));

    client
        .execute(
            &format!("UPDATE {RUNS_TABLE} SET finished_at = $1"),
            &[&chrono::Utc::now().to_rfc3339()],
        )
        .await?;
    drop(client);
    let _ = connection.await;
    Ok(MigrateSummary {
        rows,
        change_seq,
        scopes_pulled,
        cleared_unfinished,
        blobs,
    })
}

/// Refuses unless every table of both schemas is copied or named as not
/// copied (a table added to one schema must be added here).
async fn check_table_lists(source: &Connection, client: &Client) -> Result<(), MigrateError> {
    let mut statement =
        source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let sqlite_tables = statement
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<BTreeSet<_>, _>>()?;
    let pg_tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            &[],
        )
        .await?
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<BTreeSet<_>>();
    compare_table_list("SQLite", &sqlite_tables, SQLITE_ONLY_TABLES, &[])?;
    // The runs table exists only once a run has started.
    compare_table_list(
        "PostgreSQL",
        &pg_tables,
        POSTGRES_ONLY_TABLES,
        &[RUNS_TABLE],
    )
}

/// `found` must be exactly [`COPIED_TABLES`] plus `only` (of which
/// `optional` may be missing).
pub fn compare_table_list(
    schema: &'static str,
    found: &BTreeSet<String>,
    only: &[(&str, &str)],
    optional: &[&str],
) -> Result<(), MigrateError> {
    let known: BTreeSet<&str> = COPIED_TABLES
        .iter()
        .copied()
        .chain(only.iter().map(|(t, _)| *t))
        .collect();
    if let Some(table) = found.iter().find(|t| !known.contains(t.as_str())) {
        return Err(MigrateError::UnknownTable {
            schema,
            table: table.clone(),
        });
    }
    if let Some(table) = known
        .iter()
        .find(|t| !found.contains(**t) && !optional.contains(t))
    {
        return Err(MigrateError::MissingTable {
            schema,
            table: table.to_string(),
        });
    }
    Ok(())
}

/// Makes the target ours: a fresh, empty database gets an unfinished run;
/// one with an unfinished run is cleared (returns true); anything else is
/// refused.
async fn claim_target(
    client: &mut Client,
    from: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<bool, MigrateError> {
    let has_runs: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&RUNS_TABLE])
        .await?
        .get(0);
    if has_runs {
        let run = client
            .query_opt(
                &format!("SELECT source, finished_at FROM {RUNS_TABLE}"),
                &[],
            )
            .await?;
        if let Some(run) = run {
            let source_dir: String = run.get(0);
            if let Some(finished_at) = run.get::<_, Option<String>>(1) {
                return Err(MigrateError::AlreadyMigrated {
                    source_dir,
                    finished_at,
                });
            }
            progress(&format!(
                "an unfinished run (from {source_dir}) is in the target: clearing it and copying again"
            ));
            let tx = client.transaction().await?;
            tx.batch_execute(&format!(
                "TRUNCATE {}, {SEARCH_DOCUMENTS_TABLE} RESTART IDENTITY; \
                 DELETE FROM change_seq_leases; \
                 SELECT setval('change_seq', 1, false); \
                 DELETE FROM {RUNS_TABLE};",
                COPIED_TABLES.join(", ")
            ))
            .await?;
            tx.execute(
                &format!("INSERT INTO {RUNS_TABLE} (source, started_at) VALUES ($1, $2)"),
                &[
                    &from.display().to_string(),
                    &chrono::Utc::now().to_rfc3339(),
                ],
            )
            .await?;
            tx.commit().await?;
            return Ok(true);
        }
    }
    for table in COPIED_TABLES {
        let any: bool = client
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await?
            .get(0);
        if any {
            return Err(MigrateError::TargetNotEmpty(table.to_string()));
        }
    }
    let used: bool = client
        .query_one("SELECT is_called FROM change_seq", &[])
        .await?
        .get(0);
    if used {
        return Err(MigrateError::TargetNotEmpty("change_seq".into()));
    }
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {RUNS_TABLE} ( \
           source      text NOT NULL, \
           started_at  text NOT NULL, \
           finished_at text)"
    ))
    .await?;
    tx.execute(
        &format!("INSERT INTO {RUNS_TABLE} (source, started_at) VALUES ($1, $2)"),
        &[
            &from.display().to_string(),
            &chrono::Utc::now().to_rfc3339(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(false)
}

/// The columns of `table` to copy: PostgreSQL's, less generated ones,
/// each matched to a SQLite column of the same name.
async fn columns(
    source: &Connection,
    client: &Client,
    table: &str,
) -> Result<Vec<Column>, MigrateError> {
    let sqlite_columns = source
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<BTreeSet<_>, _>>()?;
    let rows = client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
               AND is_generated = 'NEVER' \
             ORDER BY ordinal_position",
            &[&table],
        )
        .await?;
    let mut columns = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let data_type: String = row.get(1);
        let pg_type = match data_type.as_str() {
            "bigint" => Type::INT8,
            "text" => Type::TEXT,
            _ => {
                return Err(MigrateError::UnsupportedType {
                    table: table.into(),
                    column: name,
                    data_type,
                })
            }
        };
        let source_name = RENAMED_SOURCES
            .iter()
            .find(|(t, c, _)| *t == table && *c == name)
            .map_or(name.as_str(), |(_, _, s)| s)
            .to_owned();
        if source_name != "rowid" && !sqlite_columns.contains(&source_name) {
            return Err(MigrateError::UnmatchedColumn {
                table: table.into(),
                column: name,
            });
        }
        columns.push(Column {
            name,
            source: source_name,
            pg_type,
        });
    }
    if let Some(column) = sqlite_columns
        .iter()
        .find(|c| !columns.iter().any(|col| &col.source == *c))
    {
        return Err(MigrateError::UncopiedColumn {
            table: table.into(),
            column: column.clone(),
        });
    }
    Ok(columns)
}

/// Copies one table in one transaction (binary COPY, which also writes
/// identity columns as given); returns the rows copied.
async fn copy_table(
    source: &Connection,
    client: &mut Client,
    table: &str,
) -> Result<i64, MigrateError> {
    let columns = columns(source, client, table).await?;
    let names = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let sources = columns
        .iter()
        .map(|c| c.source.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let types = columns
        .iter()
        .map(|c| c.pg_type.clone())
        .collect::<Vec<_>>();
    let tx = client.transaction().await?;
    let sink = tx
        .copy_in(&format!("COPY {table} ({names}) FROM STDIN BINARY"))
        .await?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    let mut statement = source.prepare(&format!("SELECT {sources} FROM {table}"))?;
    let mut rows = statement.query([])?;
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(columns.len());
    while let Some(row) = rows.next()? {
        values.clear();
        for (i, column) in columns.iter().enumerate() {
            if column.pg_type == Type::INT8 {
                values.push(Box::new(row.get::<_, Option<i64>>(i)?));
            } else {
                values.push(Box::new(row.get::<_, Option<String>>(i)?));
            }
        }
        let refs = values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect::<Vec<_>>();
        writer.as_mut().write(&refs).await?;
    }
    let copied = writer.as_mut().finish().await? as i64;
    tx.commit().await?;
    Ok(copied)
}

/// Sets the change sequence to the source's last number and every identity
/// column above its highest copied id; returns the change sequence's value.
async fn set_sequences(source: &Connection, client: &mut Client) -> Result<i64, MigrateError> {
    let last: i64 = source.query_row(
        "SELECT coalesce((SELECT value FROM meta WHERE key = 'change_seq'), 0)",
        [],
        |r| r.get(0),
    )?;
    let identities = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
        )
        .await?;
    let tx = client.transaction().await?;
    if last > 0 {
        tx.execute("SELECT setval('change_seq', $1, true)", &[&last])
            .await?;
    }
    for row in identities {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), max({column})) \
                 FROM {table} HAVING max({column}) IS NOT NULL"
            ),
            &[&table, &column],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(last)
}

/// Pulls every user's scope and the ops scope from cursor 0 to the end on
/// both databases and compares each page; returns the scopes compared.
fn compare_pulls(
    source: &Connection,
    sqlite: &SqliteStorage,
    pg: &PgStorage,
) -> Result<usize, MigrateError> {
    let mut scopes = source
        .prepare("SELECT id, role FROM users ORDER BY id")?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(id, role)| {
            let user_id = Uuid::parse_str(&id).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            Ok((
                format!("user {id}"),
                Scope {
                    user_id,
                    everything: role == "ops",
                },
            ))
        })
        .collect::<Result<Vec<_>, MigrateError>>()?;
    scopes.push((
        "the ops scope".into(),
        Scope {
            user_id: Uuid::nil(),
            everything: true,
        },
    ));
    // Scopes are compared on several threads at once: each page is read
    // from both databases, and a 10,000-installation move spent 95 % of
    // its time here one scope after another. The first mismatch stops the
    // other threads at their next page.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    let compare_next = || -> Result<(), MigrateError> {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((name, scope)) = scopes.get(i) else {
                return Ok(());
            };
            if let Err(e) = compare_pull(name, *scope, sqlite, pg, &failed) {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(e);
            }
        }
    };
    let outcomes: Vec<Result<(), MigrateError>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads).map(|_| s.spawn(compare_next)).collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    // Threads stopped by another's failure end with Ok: the failure is the
    // one error among the outcomes.
    outcomes.into_iter().collect::<Result<(), _>>()?;
    Ok(scopes.len())
}

/// Pulls `scope` from cursor 0 to the end on both databases, comparing each
/// page; stops early (Ok) once `failed` says another scope failed.
fn compare_pull(
    name: &str,
    scope: Scope,
    sqlite: &SqliteStorage,
    pg: &PgStorage,
    failed: &std::sync::atomic::AtomicBool,
) -> Result<(), MigrateError> {
    const PAGE: u32 = 500;
    let mut cursor = 0;
    loop {
        if failed.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let page = |db: &dyn Reads| -> Result<(String, u64, bool), StorageError> {
            let page = db.pull_within(scope, cursor, PAGE, usize::MAX, None, &|_| true)?;
            Ok((
                serde_json::to_string(&page)?,
                page.next_cursor,
                page.has_more,
            ))
        };
        let on_sqlite = sqlite.read(|db| page(db))?;
        let on_pg = pg.read(|db| page(db))?;
        if on_sqlite != on_pg {
            return Err(MigrateError::PullMismatch {
                scope: name.to_owned(),
                cursor,
            });
        }
        if !on_sqlite.2 {
            return Ok(());
        }
        cursor = on_sqlite.1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlite_table_is_copied_or_named_as_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStorage::open(dir.path()).unwrap());
        let conn = Connection::open(database_path(dir.path())).unwrap();
        let tables = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<BTreeSet<_>, _>>()
            .unwrap();
        compare_table_list("SQLite", &tables, SQLITE_ONLY_TABLES, &[]).unwrap();
    }

    #[test]
    fn every_postgres_table_is_copied_or_named_as_not_copied() {
        let mut tables = BTreeSet::from(["schema_migrations".to_owned()]);
        for sql in super::super::postgres::migration_sql() {
            for statement in sql.split("CREATE TABLE ").skip(1) {
                let name = statement
                    .trim_start_matches("IF NOT EXISTS ")
                    .split(|c: char| c.is_whitespace() || c == '(')
                    .next()
                    .unwrap();
                tables.insert(name.to_owned());
            }
        }
        compare_table_list("PostgreSQL", &tables, POSTGRES_ONLY_TABLES, &[RUNS_TABLE]).unwrap();
    }

    #[test]
    fn a_table_added_to_one_schema_and_not_listed_is_refused() {
        let mut tables = COPIED_TABLES
            .iter()
            .chain(SQLITE_ONLY_TABLES.iter().map(|(t, _)| t))
            .map(|t| t.to_string())
            .collect::<BTreeSet<_>>();
        compare_table_list("SQLite", &tables, SQLITE_ONLY_TABLES, &[]).unwrap();
        tables.insert("new_table".into());
        let err = compare_table_list("SQLite", &tables, SQLITE_ONLY_TABLES, &[]).unwrap_err();
        assert!(
            matches!(err, MigrateError::UnknownTable { ref table, .. } if table == "new_table")
        );
        tables.remove("new_table");
        tables.remove("devices");
        let err = compare_table_list("SQLite", &tables, SQLITE_ONLY_TABLES, &[]).unwrap_err();
        assert!(matches!(err, MigrateError::MissingTable { ref table, .. } if table == "devices"));
    }
}
