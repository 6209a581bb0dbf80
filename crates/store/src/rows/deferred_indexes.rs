//! Rows of `deferred_indexes`: work dropped for a bulk load (a first sync)
//! and done once after it: secondary indexes, each with the statement that
//! builds it again, and the search texts ([`SEARCH_TEXTS`]).

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// The row that stands for `installation_search`: while it is there, pull
/// pages write no search text, and the texts of every installation are
/// written once when it is built. Its `sql` is what builds it, kept for
/// whoever reads the table; [`build_all`] runs the store's current
/// statement instead, so a text format changed by an update in between is
/// the one written.
pub(crate) const SEARCH_TEXTS: &str = "installation_search";

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

/// Defers the search texts (see [`SEARCH_TEXTS`]); already deferred: no
/// change.
pub(crate) fn defer_search_texts(conn: &Connection) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO deferred_indexes (name, sql) VALUES (?1, ?2)")?
        .execute(params![SEARCH_TEXTS, all_search_texts_sql()])?;
    Ok(())
}

/// Builds every deferred index and the search texts if they wait; returns
/// how many it built.
pub(crate) fn build_all(conn: &Connection) -> Result<usize> {
    let deferred: Vec<(String, String)> = conn
        .prepare_cached("SELECT name, sql FROM deferred_indexes ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, sql) in &deferred {
        if name == SEARCH_TEXTS {
            conn.execute_batch(&all_search_texts_sql())?;
        } else {
            conn.execute_batch(sql)?;
        }
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

/// Whether the search texts wait for the end of a bulk load.
pub(crate) fn search_texts_deferred(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM deferred_indexes WHERE name = ?1)")?
        .query_row([SEARCH_TEXTS], |r| r.get(0))?)
}

/// Writes the search text of every installation, in one statement.
fn all_search_texts_sql() -> String {
    format!(
        "INSERT OR REPLACE INTO installation_search (installation_rowid, search_text)
         SELECT i.rowid, {}
         FROM installations AS i LEFT JOIN leads AS l ON l.id = i.lead_id",
        crate::search::INSTALLATION_TEXT_SQL
    )
}
