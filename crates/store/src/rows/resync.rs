//! Rows of `resync_unseen`: during a pull from zero (a full resync), what
//! the device held that no page has brought yet.

use std::rc::Rc;

use rusqlite::types::Value;
use rusqlite::{params, Connection};
use uuid::Uuid;

use crate::db::get_uuid;
use crate::error::Result;

pub(crate) const INSTALLATION: &str = "installation";

pub(crate) fn note(conn: &Connection, kind: &str, ids: &[Uuid]) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO resync_unseen (kind, id) VALUES (?1, ?2)")?;
    for id in ids {
        stmt.execute(params![kind, id.to_string()])?;
    }
    Ok(())
}

/// Crosses off what a page brought (one statement for the page).
pub(crate) fn cross_off(conn: &Connection, kind: &str, ids: &[Uuid]) -> Result<()> {
    let ids: Vec<Value> = ids.iter().map(|id| Value::Text(id.to_string())).collect();
    conn.prepare_cached("DELETE FROM resync_unseen WHERE kind = ?1 AND id IN rarray(?2)")?
        .execute(params![kind, Rc::new(ids)])?;
    Ok(())
}

/// Whether a full resync is under way.
pub(crate) fn is_active(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM resync_unseen)")?
        .query_row([], |r| r.get(0))?)
}

pub(crate) fn unseen(conn: &Connection, kind: &str) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM resync_unseen WHERE kind = ?1")?;
    let rows = stmt.query_map([kind], |r| get_uuid(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn clear(conn: &Connection) -> Result<()> {
    conn.prepare_cached("DELETE FROM resync_unseen")?
        .execute([])?;
    Ok(())
}
