//! What support may see of a device's database: its health (integrity check,
//! schema version, row counts per table) and the state of the send queues
//! (outbox and blob uploads, with their last errors). Never a row's content:
//! no customer names, addresses, phones, notes, report text or file paths.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;
use uuid::Uuid;

use crate::db::{get_choice, get_opt_ts, get_ts, get_uuid};
use crate::error::Result;
use crate::rows::outbox::{OutboxCounts, OutboxState};
use crate::Store;

/// How many refused or failing outbox entries, and failed blob uploads, are
/// listed one by one (the counts cover all of them).
const LISTED_ERRORS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreDiagnostics {
    pub device_id: Uuid,
    /// `PRAGMA user_version` of the file.
    pub schema_version: u32,
    /// The schema version this build writes.
    pub supported_schema_version: u32,
    /// `PRAGMA integrity_check`: `["ok"]` for a healthy file, else SQLite's
    /// list of problems (page numbers and index names, no row content).
    pub integrity_check: Vec<String>,
    /// Rows per table, by table name.
    pub table_counts: BTreeMap<String, u64>,
    pub outbox: OutboxCounts,
    /// Entries that failed at least once or that the server refused.
    pub outbox_errors: Vec<OutboxErrorSummary>,
    pub blobs: BlobQueueCounts,
}

/// An outbox entry without its payload: what kind of change it is, how it
/// fared, and the last error the push met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxErrorSummary {
    pub mutation_id: Uuid,
    pub sequence: i64,
    /// The mutation's name (`installation.start`, …).
    pub kind: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlobQueueCounts {
    pub pending: u64,
    pub pending_bytes: u64,
    /// Pending files the server already holds part of (a resumed upload).
    pub partly_uploaded: u64,
    pub uploaded: u64,
    pub oldest_pending_since: Option<DateTime<Utc>>,
}

impl Store {
    /// Reads the database's health and queue state for a support bundle.
    /// Runs SQLite's full integrity check: seconds on a large file.
    pub fn diagnostics(&self) -> Result<StoreDiagnostics> {
        let schema_version: u32 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let integrity_check = {
            let mut statement = self.conn.prepare("PRAGMA integrity_check")?;
            let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let tables: Vec<String> = {
            let mut statement = self.conn.prepare(
                "SELECT name FROM sqlite_schema
                 WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )?;
            let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let mut table_counts = BTreeMap::new();
        for table in tables {
            // The name comes from sqlite_schema, quoted as an identifier.
            let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
            let count: u64 = self.conn.query_row(&sql, [], |r| r.get(0))?;
            table_counts.insert(table, count);
        }
        let outbox_errors = {
            let mut statement = self.conn.prepare(
                "SELECT mutation_id, sequence, kind, state, attempts, created_at, last_error
                 FROM outbox
                 WHERE state = 'needs_attention' OR last_error IS NOT NULL OR attempts > 0
                 ORDER BY sequence LIMIT ?1",
            )?;
            let rows = statement.query_map(params![LISTED_ERRORS as i64], |r| {
                Ok(OutboxErrorSummary {
                    mutation_id: get_uuid(r, 0)?,
                    sequence: r.get(1)?,
                    kind: r.get(2)?,
                    state: get_choice(r, 3, "outbox state", OutboxState::parse)?,
                    attempts: r.get(4)?,
                    created_at: get_ts(r, 5)?,
                    last_error: r.get(6)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let blobs = self.conn.query_row(
            "SELECT coalesce(sum(upload_state = 'pending'), 0),
                    coalesce(sum(CASE WHEN upload_state = 'pending' THEN size ELSE 0 END), 0),
                    coalesce(sum(upload_state = 'pending' AND upload_offset > 0), 0),
                    coalesce(sum(upload_state = 'uploaded'), 0),
                    min(CASE WHEN upload_state = 'pending' THEN created_at END)
             FROM blobs",
            [],
            |r| {
                Ok(BlobQueueCounts {
                    pending: r.get(0)?,
                    pending_bytes: r.get(1)?,
                    partly_uploaded: r.get(2)?,
                    uploaded: r.get(3)?,
                    oldest_pending_since: get_opt_ts(r, 4)?,
                })
            },
        )?;
        Ok(StoreDiagnostics {
            device_id: self.device_id,
            schema_version,
            supported_schema_version: crate::migrations::schema_version(),
            integrity_check,
            table_counts,
            outbox: self.outbox_counts()?,
            outbox_errors,
            blobs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_store_is_healthy_with_empty_queues() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let diagnostics = store.diagnostics().unwrap();
        assert_eq!(diagnostics.integrity_check, ["ok"]);
        assert_eq!(
            diagnostics.schema_version,
            crate::migrations::schema_version()
        );
        assert_eq!(diagnostics.device_id, store.device_id());
        assert_eq!(diagnostics.table_counts["outbox"], 0);
        assert_eq!(diagnostics.table_counts["device"], 1);
        assert!(diagnostics.table_counts.contains_key("installations"));
        assert!(!diagnostics
            .table_counts
            .keys()
            .any(|t| t.starts_with("sqlite_")));
        assert_eq!(diagnostics.blobs, BlobQueueCounts::default());
        assert!(diagnostics.outbox_errors.is_empty());
    }
}
