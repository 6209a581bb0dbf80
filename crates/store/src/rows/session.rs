//! Rows of `session` (who is signed in) and `device` (this device's id, its
//! owner and its outbox sequence).

use chrono::{DateTime, Utc};
use fieldbook_domain::{Role, User};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_choice, get_json, get_opt_ts, get_ts, get_uuid, to_json, ts};
use crate::error::{Result, StoreError};

/// The signed-in user, so actions know `submitted_by` / `uploaded_by`, and
/// their teams, so the store knows which assignment is theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Session {
    pub user: User,
    pub team_ids: Vec<Uuid>,
    pub signed_in_at: DateTime<Utc>,
}

pub(crate) fn ensure_device_id(conn: &Connection) -> Result<Uuid> {
    conn.execute(
        "INSERT OR IGNORE INTO device (singleton, device_id) VALUES (1, ?1)",
        [Uuid::new_v4().to_string()],
    )?;
    Ok(conn.query_row("SELECT device_id FROM device", [], |r| get_uuid(r, 0))?)
}

pub(crate) fn current(conn: &Connection) -> Result<Option<Session>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, username, full_name, role, team_ids, signed_in_at FROM session",
        )?
        .query_row([], |r| {
            Ok(Session {
                user: User {
                    id: get_uuid(r, 0)?,
                    username: r.get(1)?,
                    full_name: r.get(2)?,
                    role: get_choice(r, 3, "role", Role::parse)?,
                },
                team_ids: get_json(r, 4)?,
                signed_in_at: get_ts(r, 5)?,
            })
        })
        .optional()?)
}

pub(crate) fn require(conn: &Connection) -> Result<Session> {
    current(conn)?.ok_or(StoreError::NotSignedIn)
}

/// The signed-in user's teams (none when nobody is signed in).
pub(crate) fn my_team_ids(conn: &Connection) -> Result<Vec<Uuid>> {
    Ok(current(conn)?.map(|s| s.team_ids).unwrap_or_default())
}

/// The user the device id is bound to, if any.
pub(crate) fn device_owner(conn: &Connection) -> Result<Option<String>> {
    Ok(conn.query_row("SELECT user_id FROM device", [], |r| r.get(0))?)
}

pub(crate) fn set_device_owner(conn: &Connection, user_id: Uuid) -> Result<()> {
    conn.execute("UPDATE device SET user_id = ?1", [user_id.to_string()])?;
    Ok(())
}

/// A new device id with a fresh sequence, bound to `user_id`.
pub(crate) fn renew_device(conn: &Connection, device_id: Uuid, user_id: Uuid) -> Result<()> {
    conn.execute(
        "UPDATE device SET device_id = ?1, last_sequence = 0, user_id = ?2",
        params![device_id.to_string(), user_id.to_string()],
    )?;
    Ok(())
}

pub(crate) fn write(conn: &Connection, session: &Session) -> Result<()> {
    let user = &session.user;
    // An upsert, not a replace: the same user signing in again (an expired
    // token) keeps when they last synced; another user starts without.
    conn.execute(
        "INSERT INTO session
             (singleton, user_id, username, full_name, role, team_ids, signed_in_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (singleton) DO UPDATE SET
             last_synced_at = CASE WHEN session.user_id = excluded.user_id
                                   THEN session.last_synced_at END,
             user_id = excluded.user_id, username = excluded.username,
             full_name = excluded.full_name, role = excluded.role,
             team_ids = excluded.team_ids, signed_in_at = excluded.signed_in_at",
        params![
            user.id.to_string(),
            user.username,
            user.full_name,
            user.role.as_str(),
            to_json(&session.team_ids),
            ts(&session.signed_in_at),
        ],
    )?;
    Ok(())
}

/// When the signed-in user's last sync cycle ended well; `None` before
/// the first or when nobody is signed in.
pub(crate) fn last_synced_at(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    Ok(conn
        .prepare_cached("SELECT last_synced_at FROM session")?
        .query_row([], |r| get_opt_ts(r, 0))
        .optional()?
        .flatten())
}

/// Records a sync cycle that ended well at `at` (no-op when nobody is
/// signed in: the cycle's user signed out meanwhile).
pub(crate) fn set_last_synced_at(conn: &Connection, at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE session SET last_synced_at = ?1")?
        .execute([ts(&at)])?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM session", [])?;
    Ok(())
}
