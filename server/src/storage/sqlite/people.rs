//! People as ops see them: users, teams, devices (last contact, app version,
//! pending changes, revocation) and open sessions.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Team, User};
use fieldbook_protocol::{DeviceInfo, SessionSummary, WipeKind};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::{from_json, parse_uuid};
use super::{parse_timestamp, timestamp, SqliteDb, SqliteTx};
use crate::storage::people::CONTACT_TIME_STEP;
use crate::storage::{
    DeviceContact, DeviceRecord, DeviceWrites, PeopleReads, PeopleWrites, SessionRecord,
    StorageError, UserReads,
};

fn optional_time(s: Option<String>) -> Result<Option<DateTime<Utc>>, StorageError> {
    s.as_deref().map(parse_timestamp).transpose()
}

impl PeopleReads for SqliteDb<'_> {
    fn all_users(&self) -> Result<Vec<User>, StorageError> {
        let mut stmt = self.conn.prepare_cached("SELECT body FROM users")?;
        let bodies = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut users = bodies
            .iter()
            .map(|b| from_json::<User>(b))
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.full_name.cmp(&b.full_name).then(a.id.cmp(&b.id)));
        Ok(users)
    }

    fn all_teams(&self) -> Result<Vec<(Team, u64)>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.id, (SELECT count(DISTINCT a.installation_id) FROM assignments a \
                 JOIN installations i ON i.id = a.installation_id \
                 WHERE a.team_id = t.id AND a.status != 'withdrawn' \
                   AND i.status NOT IN ('closed', 'cancelled')) \
             FROM teams t ORDER BY t.name",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, active) in rows {
            let team = self
                .team(parse_uuid(&id)?)?
                .ok_or_else(|| StorageError::Corrupt(format!("team {id} vanished")))?;
            out.push((team.record, active as u64));
        }
        Ok(out)
    }

    fn all_devices(&self) -> Result<Vec<DeviceRecord>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT device_id, user_id, first_seen, last_seen_at, app_version, pending_changes, \
                    last_seq, revoked_at, wipe_kind, wipe_ordered_at, wipe_confirmed_at \
             FROM devices ORDER BY coalesce(last_seen_at, first_seen) DESC, device_id",
        )?;
        type Raw = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows = stmt
            .query_map([], |r| {
                Ok::<Raw, _>((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(
                    device,
                    user,
                    first,
                    last,
                    version,
                    pending,
                    seq,
                    revoked,
                    wipe_kind,
                    wipe_ordered,
                    wipe_confirmed,
                )| {
                    Ok(DeviceInfo {
                        device_id: parse_uuid(&device)?,
                        user_id: parse_uuid(&user)?,
                        first_seen: parse_timestamp(&first)?,
                        last_sync_at: optional_time(last)?,
                        app_version: version,
                        pending_changes: pending.map(|p| p as u64),
                        last_device_seq: seq as u64,
                        revoked_at: optional_time(revoked)?,
                        wipe_kind: wipe_kind.as_deref().and_then(WipeKind::parse),
                        wipe_ordered_at: optional_time(wipe_ordered)?,
                        wipe_confirmed_at: optional_time(wipe_confirmed)?,
                    })
                },
            )
            .collect()
    }

    fn device_record(&self, device_id: Uuid) -> Result<Option<DeviceRecord>, StorageError> {
        Ok(self
            .all_devices()?
            .into_iter()
            .find(|d| d.device_id == device_id))
    }

    fn device_revoked(&self, device_id: Uuid) -> Result<bool, StorageError> {
        Ok(self
            .conn
            .prepare_cached("SELECT revoked_at IS NOT NULL FROM devices WHERE device_id = ?1")?
            .query_row([device_id.to_string()], |r| r.get::<_, bool>(0))
            .optional()?
            .unwrap_or(false))
    }

    fn open_sessions(&self, now: DateTime<Utc>) -> Result<Vec<SessionRecord>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT token_hash, user_id, created_at, expires_at, device_id FROM sessions \
             WHERE revoked_at IS NULL AND expires_at > ?1 ORDER BY created_at DESC",
        )?;
        let rows = stmt
            .query_map([timestamp(now)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(hash, user, created, expires, device)| {
                Ok(SessionRecord {
                    user_id: parse_uuid(&user)?,
                    summary: SessionSummary {
                        session_id: hash,
                        created_at: parse_timestamp(&created)?,
                        expires_at: parse_timestamp(&expires)?,
                        device_id: device.as_deref().map(parse_uuid).transpose()?,
                    },
                })
            })
            .collect()
    }
}

impl PeopleWrites for SqliteTx<'_> {
    fn record_device_contact(
        &mut self,
        contact: &DeviceContact,
        session_token_hash: &str,
    ) -> Result<(), StorageError> {
        let owner: Option<String> = self
            .tx
            .prepare_cached("SELECT user_id FROM devices WHERE device_id = ?1")?
            .query_row([contact.device_id.to_string()], |r| r.get(0))
            .optional()?;
        match owner {
            Some(owner) if owner != contact.user_id.to_string() => return Ok(()),
            Some(_) => {}
            None => self.bind_device(contact.device_id, contact.user_id)?,
        }
        // Only what changed, and the time at most once a minute: every pull
        // page comes here, and a transaction that changes nothing commits
        // without a WAL sync (a first sync is dozens of pages).
        self.tx
            .prepare_cached(
                "UPDATE devices SET last_seen_at = ?1, \
                   app_version = coalesce(?2, app_version), \
                   pending_changes = coalesce(?3, pending_changes) \
                 WHERE device_id = ?4 AND (last_seen_at IS NULL OR last_seen_at < ?5 \
                   OR app_version IS NOT coalesce(?2, app_version) \
                   OR pending_changes IS NOT coalesce(?3, pending_changes))",
            )?
            .execute(params![
                timestamp(self.now),
                contact.app_version,
                contact.pending_changes.map(|p| p as i64),
                contact.device_id.to_string(),
                timestamp(self.now - CONTACT_TIME_STEP),
            ])?;
        self.tx
            .prepare_cached(
                "UPDATE sessions SET device_id = ?1 WHERE token_hash = ?2 AND device_id IS NOT ?1",
            )?
            .execute(params![contact.device_id.to_string(), session_token_hash])?;
        Ok(())
    }

    fn link_session_to_device(
        &mut self,
        session_token_hash: &str,
        device_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), StorageError> {
        self.tx
            .prepare_cached(
                "UPDATE sessions SET device_id = ?1 WHERE token_hash = ?2 \
                 AND EXISTS (SELECT 1 FROM devices WHERE device_id = ?1 AND user_id = ?3)",
            )?
            .execute(params![
                device_id.to_string(),
                session_token_hash,
                user_id.to_string()
            ])?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: Uuid) -> Result<bool, StorageError> {
        let now = timestamp(self.now);
        let changed = self.tx.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, ?1) WHERE device_id = ?2",
            params![now, device_id.to_string()],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        self.tx.execute(
            "UPDATE sessions SET revoked_at = ?1 WHERE device_id = ?2 AND revoked_at IS NULL",
            params![now, device_id.to_string()],
        )?;
        Ok(true)
    }

    fn revoke_session_by_id(&mut self, session_id: &str) -> Result<bool, StorageError> {
        let changed = self.tx.execute(
            "UPDATE sessions SET revoked_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
            params![timestamp(self.now), session_id],
        )?;
        Ok(changed > 0)
    }
}
