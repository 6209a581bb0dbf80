//! Rows of `users`, `teams` and `team_members`.

use fieldbook_domain::{Team, User};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use crate::db::get_uuid;
use crate::error::Result;

pub(crate) fn upsert_user(conn: &Connection, user: &User, server_version: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO users (id, username, full_name, role, server_version)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        user.id.to_string(),
        user.username,
        user.full_name,
        user.role.as_str(),
        server_version
    ])?;
    Ok(())
}

pub(crate) fn upsert_team(conn: &Connection, team: &Team, server_version: i64) -> Result<()> {
    // An UPSERT, not REPLACE: REPLACE would delete the row and cascade away
    // the members before they are rewritten.
    conn.prepare_cached(
        "INSERT INTO teams (id, name, server_version) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
             server_version = excluded.server_version",
    )?
    .execute(params![team.id.to_string(), team.name, server_version])?;
    conn.prepare_cached("DELETE FROM team_members WHERE team_id = ?1")?
        .execute([team.id.to_string()])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO team_members (team_id, user_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, user_id) in team.member_ids.iter().enumerate() {
        insert.execute(params![team.id.to_string(), user_id.to_string(), position])?;
    }
    Ok(())
}

pub(crate) fn load_team(conn: &Connection, id: Uuid) -> Result<Option<Team>> {
    let name: Option<String> = conn
        .prepare_cached("SELECT name FROM teams WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    let Some(name) = name else { return Ok(None) };
    let mut stmt = conn
        .prepare_cached("SELECT user_id FROM team_members WHERE team_id = ?1 ORDER BY position")?;
    let member_ids = stmt
        .query_map([id.to_string()], |r| get_uuid(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(Team {
        id,
        name,
        member_ids,
    }))
}

pub(crate) fn full_name(conn: &Connection, user_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT full_name FROM users WHERE id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?)
}

/// Deletes a team (its members go with it, ON DELETE CASCADE).
pub(crate) fn delete_team(conn: &Connection, id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM teams WHERE id = ?1")?
        .execute([id.to_string()])?)
}

pub(crate) fn delete_user(conn: &Connection, id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM users WHERE id = ?1")?
        .execute([id.to_string()])?)
}
