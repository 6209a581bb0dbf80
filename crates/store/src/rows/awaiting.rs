//! Rows of `pulled_awaiting_installation`: pulled reports and media whose
//! installation has not arrived yet.

use rusqlite::{params, Connection};
use uuid::Uuid;

use crate::error::Result;

/// One waiting record: entity (`report` / `media`), id, version and the
/// record as JSON.
pub(crate) struct Waiting {
    pub(crate) entity: String,
    pub(crate) id: String,
    pub(crate) server_version: i64,
    pub(crate) body: String,
}

/// Keeps a pulled record until its installation arrives (the newer version,
/// if the same record waits already).
pub(crate) fn park(
    conn: &Connection,
    entity: &str,
    id: Uuid,
    installation_id: Uuid,
    server_version: i64,
    body: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO pulled_awaiting_installation
             (entity, id, installation_id, server_version, body)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (entity, id) DO UPDATE SET
             installation_id = excluded.installation_id,
             server_version = excluded.server_version, body = excluded.body
         WHERE excluded.server_version >= pulled_awaiting_installation.server_version",
    )?
    .execute(params![
        entity,
        id.to_string(),
        installation_id.to_string(),
        server_version,
        body
    ])?;
    Ok(())
}

/// The waiting records whose installation is here now, oldest version first.
pub(crate) fn ready(conn: &Connection) -> Result<Vec<Waiting>> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.entity, w.id, w.server_version, w.body FROM pulled_awaiting_installation w
         WHERE EXISTS (SELECT 1 FROM installations i WHERE i.id = w.installation_id)
         ORDER BY w.server_version",
    )?;
    let waiting = stmt
        .query_map([], |r| {
            Ok(Waiting {
                entity: r.get(0)?,
                id: r.get(1)?,
                server_version: r.get(2)?,
                body: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(waiting)
}

pub(crate) fn delete(conn: &Connection, entity: &str, id: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM pulled_awaiting_installation WHERE entity = ?1 AND id = ?2")?
        .execute(params![entity, id])?)
}

pub(crate) fn delete_for_installation(conn: &Connection, installation_id: Uuid) -> Result<()> {
    conn.prepare_cached("DELETE FROM pulled_awaiting_installation WHERE installation_id = ?1")?
        .execute([installation_id.to_string()])?;
    Ok(())
}

pub(crate) fn count(conn: &Connection) -> Result<usize> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM pulled_awaiting_installation")?
        .query_row([], |r| r.get(0))?)
}
