//! Rows of `deferred_indexes`: secondary indexes dropped for a bulk load
//! (a first sync), each with the statement that builds it again.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// Drops the named indexes, keeping the statement that builds each. An
/// index already deferred (or not in the schema) is skipped.
pub(crate) fn defer(conn: &Connection, names: &[&str]) -> Result<()> {
    for name in names {
        let sql: Option<String> = conn
            .prepare_cached("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        let Some(sql) = sql else { continue };
        conn.prepare_cached("INSERT INTO deferred_indexes (name, sql) VALUES (?1, ?2)")?
            .execute(params![name, sql])?;
        // The names are the store's own constants, never input.
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
    }
    Ok(())
}

/// Builds every deferred index; returns how many.
pub(crate) fn build_all(conn: &Connection) -> Result<usize> {
    let deferred: Vec<(String, String)> = conn
        .prepare_cached("SELECT name, sql FROM deferred_indexes ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, sql) in &deferred {
        conn.execute_batch(sql)?;
        conn.prepare_cached("DELETE FROM deferred_indexes WHERE name = ?1")?
            .execute([name])?;
    }
    Ok(deferred.len())
}

/// Whether an index is waiting to be built.
pub(crate) fn any(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM deferred_indexes)")?
        .query_row([], |r| r.get(0))?)
}
