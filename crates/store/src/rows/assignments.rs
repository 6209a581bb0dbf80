//! Rows of `installation_assignments`.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use fieldbook_domain::{AssignmentStatus, InstallationAssignment};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::db::{get_choice, get_opt_ts, get_ts, get_uuid, ts};
use crate::error::{Result, StoreError};
use crate::multi_row::{MultiRowWrite, WriteOver};

const COLUMNS: &str = "id, installation_id, team_id, assigned_by, is_primary, \
    assigned_at, status, decline_reason, responded_at, server_version";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(InstallationAssignment, i64)> {
    Ok((
        InstallationAssignment {
            id: get_uuid(r, 0)?,
            installation_id: get_uuid(r, 1)?,
            team_id: get_uuid(r, 2)?,
            assigned_by: get_uuid(r, 3)?,
            is_primary: r.get(4)?,
            assigned_at: get_ts(r, 5)?,
            status: get_choice(r, 6, "assignment status", AssignmentStatus::parse)?,
            decline_reason: r.get(7)?,
            responded_at: get_opt_ts(r, 8)?,
        },
        r.get(9)?,
    ))
}

pub(crate) fn load(conn: &Connection, id: Uuid) -> Result<(InstallationAssignment, i64)> {
    let sql = format!("SELECT {COLUMNS} FROM installation_assignments WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id.to_string()], from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("assignment", id))
}

/// An installation's assignments, primary first, then by assignment time.
pub(crate) fn for_installation(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Vec<(InstallationAssignment, i64)>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM installation_assignments
         WHERE installation_id = ?1 ORDER BY is_primary DESC, assigned_at"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map([installation_id.to_string()], from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Writes server snapshots, each with the version it was read at, and what
/// the server said about the response.
pub(crate) fn upsert_all(conn: &Connection, rows: &[(&InstallationAssignment, i64)]) -> Result<()> {
    static UPSERT: LazyLock<MultiRowWrite> = LazyLock::new(|| {
        MultiRowWrite::new(
            "installation_assignments (id, installation_id, team_id,
                 assigned_by, is_primary, assigned_at, status, decline_reason, responded_at,
                 server_version, server_status, server_decline_reason, server_responded_at)",
            // The server_ columns repeat what the server said (7-9).
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 7, 8, 9],
            10,
            WriteOver::Replace,
        )
    });
    UPSERT.write(conn, rows, |(a, server_version), p| {
        p.push(a.id.to_string())?
            .push(a.installation_id.to_string())?
            .push(a.team_id.to_string())?
            .push(a.assigned_by.to_string())?
            .push(a.is_primary)?
            .push(ts(&a.assigned_at))?
            .push(a.status.as_str())?
            .push(&a.decline_reason)?
            .push(a.responded_at.as_ref().map(ts))?
            .push(server_version)?;
        Ok(())
    })
}

/// Records the team's answer.
pub(crate) fn set_response(
    conn: &Connection,
    id: Uuid,
    status: AssignmentStatus,
    reason: Option<&str>,
    at: &DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installation_assignments
         SET status = ?2, decline_reason = ?3, responded_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id.to_string(), status.as_str(), reason, ts(at)])?;
    Ok(())
}

/// Re-applies a pending answer on top of a pulled row that is still
/// `assigned`; returns whether it changed the row.
pub(crate) fn reapply_response(
    conn: &Connection,
    id: Uuid,
    status: AssignmentStatus,
    reason: Option<&str>,
    at: &DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE installation_assignments
             SET status = ?2, decline_reason = ?3, responded_at = ?4
             WHERE id = ?1 AND status = 'assigned'",
        )?
        .execute(params![id.to_string(), status.as_str(), reason, ts(at)])?;
    Ok(n > 0)
}

/// Marks these teams' open assignments of the installation completed (the
/// report was submitted).
pub(crate) fn complete_for_teams(
    conn: &Connection,
    installation_id: Uuid,
    team_ids: &[Uuid],
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE installation_assignments SET status = 'completed'
         WHERE installation_id = ?1 AND team_id = ?2 AND status IN ('assigned', 'accepted')",
    )?;
    for team in team_ids {
        stmt.execute(params![installation_id.to_string(), team.to_string()])?;
    }
    Ok(())
}

/// Puts the installation's assignments back to what the server last said.
pub(crate) fn restore_server_state(conn: &Connection, installation_id: Uuid) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installation_assignments
         SET status = server_status, decline_reason = server_decline_reason,
             responded_at = server_responded_at
         WHERE installation_id = ?1 AND server_status IS NOT NULL",
    )?
    .execute([installation_id.to_string()])?;
    Ok(())
}

/// The server applied the team's answer.
pub(crate) fn set_server_response(
    conn: &Connection,
    id: Uuid,
    status: AssignmentStatus,
    reason: Option<&str>,
    at: &DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installation_assignments
         SET server_status = ?2, server_decline_reason = ?3, server_responded_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![id.to_string(), status.as_str(), reason, ts(at)])?;
    Ok(())
}

/// The server applied a report submission: these teams' open assignments
/// are completed there.
pub(crate) fn set_server_completed_for_teams(
    conn: &Connection,
    installation_id: Uuid,
    team_ids: &[Uuid],
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE installation_assignments SET server_status = 'completed'
         WHERE installation_id = ?1 AND team_id = ?2
           AND server_status IN ('assigned', 'accepted')",
    )?;
    for team in team_ids {
        stmt.execute(params![installation_id.to_string(), team.to_string()])?;
    }
    Ok(())
}

/// The installation an assignment belongs to, if it is here.
pub(crate) fn installation_of(conn: &Connection, id: Uuid) -> Result<Option<Uuid>> {
    Ok(conn
        .prepare_cached("SELECT installation_id FROM installation_assignments WHERE id = ?1")?
        .query_row([id.to_string()], |r| get_uuid(r, 0))
        .optional()?)
}

pub(crate) fn delete(conn: &Connection, id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM installation_assignments WHERE id = ?1")?
        .execute([id.to_string()])?)
}

pub(crate) fn delete_for_installation(conn: &Connection, installation_id: Uuid) -> Result<()> {
    conn.prepare_cached("DELETE FROM installation_assignments WHERE installation_id = ?1")?
        .execute([installation_id.to_string()])?;
    Ok(())
}
