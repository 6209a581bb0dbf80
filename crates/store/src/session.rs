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
    ///
    /// The server binds this device's id and outbox sequence to the first
    /// user who pushes with it. A different user therefore gets a new device
    /// id with a fresh sequence — and is refused while the previous user's
    /// changes are still unsent, since pushing them under another user's
    /// token would be refused or credit the work to the wrong person.
    pub fn sign_in(&mut self, user: &User, team_ids: &[Uuid]) -> Result<Session> {
        let session = Session {
            user: user.clone(),
            team_ids: team_ids.to_vec(),
            signed_in_at: Utc::now(),
        };
        let device_id = self.in_write_transaction(|tx, ctx| {
            let owner: Option<String> =
                tx.query_row("SELECT user_id FROM device", [], |r| r.get(0))?;
            let mut device_id = ctx.device_id;
            match owner {
                Some(owner) if owner == user.id.to_string() => {}
                None => {
                    tx.execute("UPDATE device SET user_id = ?1", [user.id.to_string()])?;
                }
                Some(owner) => {
                    let pending: u64 =
                        tx.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
                    if pending > 0 {
                        let name = tx
                            .query_row("SELECT full_name FROM users WHERE id = ?1", [&owner], |r| {
                                r.get(0)
                            })
                            .optional()?
                            .unwrap_or_else(|| "Another technician".to_owned());
                        return Err(StoreError::UnsentWorkOfAnotherUser { name, pending });
                    }
                    device_id = Uuid::new_v4();
                    tx.execute(
                        "UPDATE device SET device_id = ?1, last_sequence = 0, user_id = ?2",
                        params![device_id.to_string(), user.id.to_string()],
                    )?;
                }
            }
            tx.execute(
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
            Ok(device_id)
        })?;
        self.device_id = device_id;
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
