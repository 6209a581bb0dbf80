//! People as ops see them: users, teams, devices (last contact, app version,
//! pending changes, revocation) and open sessions.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Team, User};
use fieldbook_protocol::{DeviceInfo, SessionSummary, WipeKind};
use uuid::Uuid;

use super::rows::{from_json, parse_uuid};
use super::{parse_timestamp, timestamp, PgDb, PgTx};
use crate::storage::people::CONTACT_TIME_STEP;
use crate::storage::{
    DeviceContact, DeviceRecord, DeviceWrites, PeopleReads, PeopleWrites, SessionRecord,
    StorageError, UserReads,
};

fn optional_time(s: Option<String>) -> Result<Option<DateTime<Utc>>, StorageError> {
    s.as_deref().map(parse_timestamp).transpose()
}

impl PeopleReads for PgDb<'_> {
    fn all_users(&self) -> Result<Vec<User>, StorageError> {
        let mut users = self
            .rows("SELECT body FROM users", &[])?
            .iter()
            .map(|r| from_json::<User>(&r.try_get::<_, String>(0)?))
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.full_name.cmp(&b.full_name).then(a.id.cmp(&b.id)));
        Ok(users)
    }

    fn all_teams(&self) -> Result<Vec<(Team, u64)>, StorageError> {
        let rows = self.rows(
            "SELECT t.id, (SELECT count(DISTINCT a.installation_id) FROM assignments a \
                 JOIN installations i ON i.id = a.installation_id \
                 WHERE a.team_id = t.id AND a.status != 'withdrawn' \
                   AND i.status NOT IN ('closed', 'cancelled')) \
             FROM teams t ORDER BY t.name",
            &[],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (id, active): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
            let team = self
                .team(parse_uuid(&id)?)?
                .ok_or_else(|| StorageError::Corrupt(format!("team {id} vanished")))?;
            out.push((team.record, active as u64));
        }
        Ok(out)
    }

    fn all_devices(&self) -> Result<Vec<DeviceRecord>, StorageError> {
        let rows = self.rows(
            "SELECT device_id, user_id, first_seen, last_seen_at, app_version, pending_changes, \
                    last_seq, revoked_at, wipe_kind, wipe_ordered_at, wipe_confirmed_at \
             FROM devices ORDER BY coalesce(last_seen_at, first_seen) DESC, device_id",
            &[],
        )?;
        rows.into_iter()
            .map(|r| {
                let wipe_kind: Option<String> = r.try_get(8)?;
                Ok(DeviceInfo {
                    device_id: parse_uuid(&r.try_get::<_, String>(0)?)?,
                    user_id: parse_uuid(&r.try_get::<_, String>(1)?)?,
                    first_seen: parse_timestamp(&r.try_get::<_, String>(2)?)?,
                    last_sync_at: optional_time(r.try_get(3)?)?,
                    app_version: r.try_get(4)?,
                    pending_changes: r.try_get::<_, Option<i64>>(5)?.map(|p| p as u64),
                    last_device_seq: r.try_get::<_, i64>(6)? as u64,
                    revoked_at: optional_time(r.try_get(7)?)?,
                    wipe_kind: wipe_kind.as_deref().and_then(WipeKind::parse),
                    wipe_ordered_at: optional_time(r.try_get(9)?)?,
                    wipe_confirmed_at: optional_time(r.try_get(10)?)?,
                })
            })
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
            .row(
                "SELECT revoked_at IS NOT NULL FROM devices WHERE device_id = $1",
                &[&device_id.to_string()],
            )?
            .map(|r| r.try_get::<_, bool>(0))
            .transpose()?
            .unwrap_or(false))
    }

    fn open_sessions(&self, now: DateTime<Utc>) -> Result<Vec<SessionRecord>, StorageError> {
        self.rows(
            "SELECT token_hash, user_id, created_at, expires_at, device_id FROM sessions \
             WHERE revoked_at IS NULL AND expires_at > $1 ORDER BY created_at DESC",
            &[&timestamp(now)],
        )?
        .into_iter()
        .map(|r| {
            let device: Option<String> = r.try_get(4)?;
            Ok(SessionRecord {
                user_id: parse_uuid(&r.try_get::<_, String>(1)?)?,
                summary: SessionSummary {
                    session_id: r.try_get(0)?,
                    created_at: parse_timestamp(&r.try_get::<_, String>(2)?)?,
                    expires_at: parse_timestamp(&r.try_get::<_, String>(3)?)?,
                    device_id: device.as_deref().map(parse_uuid).transpose()?,
                },
            })
        })
        .collect()
    }
}

impl PeopleWrites for PgTx<'_> {
    fn record_device_contact(
        &mut self,
        contact: &DeviceContact,
        session_token_hash: &str,
    ) -> Result<(), StorageError> {
        // Two first contacts of one device through two instances: one binds it.
        self.db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 2))",
            &[&contact.device_id.to_string()],
        )?;
        let owner: Option<String> = self
            .db
            .row(
                "SELECT user_id FROM devices WHERE device_id = $1",
                &[&contact.device_id.to_string()],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        match owner {
            Some(owner) if owner != contact.user_id.to_string() => return Ok(()),
            Some(_) => {}
            None => self.bind_device(contact.device_id, contact.user_id)?,
        }
        // Only what changed, and the time at most once a minute (as on SQLite).
        self.db.execute(
            "UPDATE devices SET last_seen_at = $1, \
               app_version = coalesce($2, app_version), \
               pending_changes = coalesce($3, pending_changes) \
             WHERE device_id = $4 AND (last_seen_at IS NULL OR last_seen_at < $5 \
               OR app_version IS DISTINCT FROM coalesce($2, app_version) \
               OR pending_changes IS DISTINCT FROM coalesce($3, pending_changes))",
            &[
                &timestamp(self.now),
                &contact.app_version,
                &contact.pending_changes.map(|p| p as i64),
                &contact.device_id.to_string(),
                &timestamp(self.now - CONTACT_TIME_STEP),
            ],
        )?;
        self.db.execute(
            "UPDATE sessions SET device_id = $1 WHERE token_hash = $2 \
             AND device_id IS DISTINCT FROM $1",
            &[&contact.device_id.to_string(), &session_token_hash],
        )?;
        Ok(())
    }

    fn link_session_to_device(
        &mut self,
        session_token_hash: &str,
        device_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), StorageError> {
        self.db.execute(
            "UPDATE sessions SET device_id = $1 WHERE token_hash = $2 \
             AND EXISTS (SELECT 1 FROM devices WHERE device_id = $1 AND user_id = $3)",
            &[
                &device_id.to_string(),
                &session_token_hash,
                &user_id.to_string(),
            ],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: Uuid) -> Result<bool, StorageError> {
        let now = timestamp(self.now);
        let changed = self.db.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, $1) WHERE device_id = $2",
            &[&now, &device_id.to_string()],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        self.db.execute(
            "UPDATE sessions SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL",
            &[&now, &device_id.to_string()],
        )?;
        Ok(true)
    }

    fn revoke_session_by_id(&mut self, session_id: &str) -> Result<bool, StorageError> {
        let changed = self.db.execute(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
            &[&timestamp(self.now), &session_id],
        )?;
        Ok(changed > 0)
    }
}
