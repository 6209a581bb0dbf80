//! The installation history (migration 0004): every status, schedule and
//! assignment change with who, when and why. Written by the record writers
//! (`save_installation`, `save_assignment`) so no path that changes an
//! installation can forget it; the actor and a free reason come from the
//! write transaction ([`HistoryWrites::set_actor`](crate::storage::HistoryWrites::set_actor),
//! [`HistoryWrites::set_reason`](crate::storage::HistoryWrites::set_reason)).

use fieldbook_domain::{Installation, InstallationAssignment};
use uuid::Uuid;

use super::rows::parse_uuid;
use super::{parse_timestamp, timestamp, PgDb, PgTx};
use crate::storage::history::{
    assignment_entry, installation_entries, kind_from_name, kind_name, NewEntry,
};
use crate::storage::{HistoryReads, HistoryRow, HistoryWrites, StorageError};

impl HistoryWrites for PgTx<'_> {
    fn set_actor(&mut self, user_id: Uuid) {
        self.actor = Some(user_id);
    }

    fn set_reason(&mut self, reason: Option<String>) {
        self.reason = reason.filter(|r| !r.trim().is_empty());
    }
}

impl PgTx<'_> {
    fn append_history(&mut self, entry: NewEntry<'_>) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT INTO installation_history (installation_id, at, actor_id, kind, \
               from_value, to_value, assignment_id, team_id, is_primary, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &entry.installation_id.to_string(),
                &timestamp(self.now),
                &entry.actor.map(|a| a.to_string()),
                &kind_name(entry.kind),
                &entry.from,
                &entry.to,
                &entry.assignment.map(|a| a.id.to_string()),
                &entry.assignment.map(|a| a.team_id.to_string()),
                &entry.assignment.map(|a| a.is_primary as i64),
                &entry.reason,
            ],
        )?;
        Ok(())
    }

    /// Records what changed between the stored installation and `new`.
    pub(super) fn record_installation_history(
        &mut self,
        old: Option<&Installation>,
        new: &Installation,
    ) -> Result<(), StorageError> {
        for entry in installation_entries(old, new, self.actor, self.reason.as_ref()) {
            self.append_history(entry)?;
        }
        Ok(())
    }

    /// Records what changed between the stored assignment and `new`.
    pub(super) fn record_assignment_history(
        &mut self,
        old: Option<&InstallationAssignment>,
        new: &InstallationAssignment,
    ) -> Result<(), StorageError> {
        match assignment_entry(old, new, self.actor, self.reason.as_ref()) {
            Some(entry) => self.append_history(entry),
            None => Ok(()),
        }
    }
}

impl HistoryReads for PgDb<'_> {
    fn installation_history(&self, installation: Uuid) -> Result<Vec<HistoryRow>, StorageError> {
        let rows = self.rows(
            "SELECT id, at, actor_id, kind, from_value, to_value, assignment_id, team_id, \
                    is_primary, reason \
             FROM installation_history WHERE installation_id = $1 ORDER BY id",
            &[&installation.to_string()],
        )?;
        let uuid = |s: Option<String>| s.as_deref().map(parse_uuid).transpose();
        rows.into_iter()
            .map(|r| {
                Ok(HistoryRow {
                    id: r.try_get::<_, i64>(0)? as u64,
                    at: parse_timestamp(&r.try_get::<_, String>(1)?)?,
                    actor_id: uuid(r.try_get(2)?)?,
                    kind: kind_from_name(&r.try_get::<_, String>(3)?)?,
                    from: r.try_get(4)?,
                    to: r.try_get(5)?,
                    assignment_id: uuid(r.try_get(6)?)?,
                    team_id: uuid(r.try_get(7)?)?,
                    is_primary: r.try_get::<_, Option<i64>>(8)?.map(|p| p != 0),
                    reason: r.try_get(9)?,
                })
            })
            .collect()
    }
}

impl PgDb<'_> {
    /// The stored installation, for comparing before a save.
    pub(super) fn stored_installation(
        &self,
        id: Uuid,
    ) -> Result<Option<Installation>, StorageError> {
        self.row(
            &self.locking("SELECT body FROM installations WHERE id = $1"),
            &[&id.to_string()],
        )?
        .map(|r| super::rows::from_json(&r.try_get::<_, String>(0)?))
        .transpose()
    }

    /// The stored assignment, for comparing before a save.
    pub(super) fn stored_assignment(
        &self,
        id: Uuid,
    ) -> Result<Option<InstallationAssignment>, StorageError> {
        self.row(
            &self.locking("SELECT body FROM assignments WHERE id = $1"),
            &[&id.to_string()],
        )?
        .map(|r| super::rows::from_json(&r.try_get::<_, String>(0)?))
        .transpose()
    }
}
