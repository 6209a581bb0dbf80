//! Who is signed in on this device, and the device's own id.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Role, User};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_choice, get_json, get_ts, get_uuid, to_json, ts};
use crate::error::{Result, StoreError};
use crate::Store;

/// The signed-in user, so actions know `submitted_by` / `uploaded_by`, and
/// their teams, so the store knows which assignment is theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        .query_row(
            "SELECT user_id, username, full_name, role, team_ids, signed_in_at FROM session",
            [],
            |r| {
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
            },
        )
        .optional()?)
}

pub(crate) fn require(conn: &Connection) -> Result<Session> {
    current(conn)?.ok_or(StoreError::NotSignedIn)
}

impl Store {
    /// Records who is signed in (replacing any previous session).
    pub fn sign_in(&mut self, user: &User, team_ids: &[Uuid]) -> Result<Session> {
        let session = Session {
            user: user.clone(),
            team_ids: team_ids.to_vec(),
            signed_in_at: Utc::now(),
        };
        self.conn.execute(
            "INSERT OR REPLACE INTO session
                 (singleton, user_id, username, full_name, role, team_ids, signed_in_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                user.id.to_string(),
                user.username,
                user.full_name,
                user.role.as_str(),
                to_json(&session.team_ids),
                ts(&session.signed_in_at),
            ],
        )?;
        Ok(session)
    }

    /// Forgets the signed-in user. Local data and the outbox stay: they belong
    /// to the device until pushed.
    pub fn sign_out(&mut self) -> Result<()> {
        self.conn.execute("DELETE FROM session", [])?;
        Ok(())
    }

    pub fn session(&self) -> Result<Option<Session>> {
        current(&self.conn)
    }
}
