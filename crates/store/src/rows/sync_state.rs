//! Rows of `sync_state`: where the next pull of each scope starts.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::ts;
use crate::error::Result;

/// Where the next pull of `scope` starts; `None` before the first page.
pub(crate) fn cursor(conn: &Connection, scope: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT cursor FROM sync_state WHERE scope = ?1")?
        .query_row([scope], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_cursor(
    conn: &Connection,
    scope: &str,
    cursor: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (scope, cursor, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope) DO UPDATE SET cursor = excluded.cursor,
             updated_at = excluded.updated_at",
    )?
    .execute(params![scope, cursor, ts(&now)])?;
    Ok(())
}
