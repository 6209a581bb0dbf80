//! The installation history (migration 0004): every status, schedule and
//! assignment change with who, when and why. Written by the record writers
//! (`save_installation`, `save_assignment`) so no path that changes an
//! installation can forget it; the actor and a free reason come from the
//! write transaction ([`HistoryWrites::set_actor`](crate::storage::HistoryWrites::set_actor),
//! [`HistoryWrites::set_reason`](crate::storage::HistoryWrites::set_reason)).

use fieldbook_domain::{Installation, InstallationAssignment};
use fieldbook_protocol::HistoryKind;
use uuid::Uuid;

use super::rows::parse_uuid;
use super::{parse_timestamp, timestamp, PgDb, PgTx};
use crate::storage::{HistoryReads, HistoryRow, HistoryWrites, StorageError};

fn kind_name(kind: HistoryKind) -> &'static str {
    match kind {
        HistoryKind::Created => "created",
        HistoryKind::Status => "status",
        HistoryKind::Schedule => "schedule",
        HistoryKind::Assigned => "assigned",
        HistoryKind::AssignmentStatus => "assignment_status",
    }
}

fn kind_from_name(name: &str) -> Result<HistoryKind, StorageError> {
    Ok(match name {
        "created" => HistoryKind::Created,
        "status" => HistoryKind::Status,
        "schedule" => HistoryKind::Schedule,
        "assigned" => HistoryKind::Assigned,
        "assignment_status" => HistoryKind::AssignmentStatus,
        other => return Err(StorageError::Corrupt(format!("history kind {other:?}"))),
    })
}

fn schedule(inst: &Installation) -> String {
    format!("{} {}", inst.scheduled_date, inst.scheduled_time_slot)
}

/// A history row about to be written.
struct NewEntry<'a> {
    installation_id: Uuid,
    kind: HistoryKind,
    from: Option<String>,
    to: String,
    assignment: Option<&'a InstallationAssignment>,
    reason: Option<String>,
}

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
                &self.actor.map(|a| a.to_string()),
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
        // The record keeps its last reason across later moves: only a
        // reason that changed with this save belongs to this entry.
        let reason = new
            .status_reason
            .clone()
            .filter(|r| old.is_none_or(|o| o.status_reason.as_ref() != Some(r)))
            .or_else(|| self.reason.clone());
        let Some(old) = old else {
            // Imports (the demo seed) name no actor: the planner did it.
            if self.actor.is_none() {
                self.actor = Some(new.created_by);
                let out = self.append_history(NewEntry {
                    installation_id: new.id,
                    kind: HistoryKind::Created,
                    from: None,
                    to: new.status.as_str().to_owned(),
                    assignment: None,
                    reason: None,
                });
                self.actor = None;
                return out;
            }
            return self.append_history(NewEntry {
                installation_id: new.id,
                kind: HistoryKind::Created,
                from: None,
                to: new.status.as_str().to_owned(),
                assignment: None,
                reason: None,
            });
        };
        if old.status != new.status {
            self.append_history(NewEntry {
                installation_id: new.id,
                kind: HistoryKind::Status,
                from: Some(old.status.as_str().to_owned()),
                to: new.status.as_str().to_owned(),
                assignment: None,
                reason: reason.clone(),
            })?;
        }
        if schedule(old) != schedule(new) {
            self.append_history(NewEntry {
                installation_id: new.id,
                kind: HistoryKind::Schedule,
                from: Some(schedule(old)),
                to: schedule(new),
                assignment: None,
                reason,
            })?;
        }
        Ok(())
    }

    /// Records what changed between the stored assignment and `new`.
    pub(super) fn record_assignment_history(
        &mut self,
        old: Option<&InstallationAssignment>,
        new: &InstallationAssignment,
    ) -> Result<(), StorageError> {
        let reason = new
            .decline_reason
            .clone()
            .filter(|_| new.status == fieldbook_domain::AssignmentStatus::Declined)
            .or_else(|| self.reason.clone());
        let (kind, from) = match old {
            None => (HistoryKind::Assigned, None),
            Some(old) if old.status != new.status => (
                HistoryKind::AssignmentStatus,
                Some(old.status.as_str().to_owned()),
            ),
            Some(_) => return Ok(()),
        };
        self.append_history(NewEntry {
            installation_id: new.installation_id,
            kind,
            from,
            to: new.status.as_str().to_owned(),
            assignment: Some(new),
            reason,
        })
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
            "SELECT body FROM installations WHERE id = $1",
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
            "SELECT body FROM assignments WHERE id = $1",
            &[&id.to_string()],
        )?
        .map(|r| super::rows::from_json(&r.try_get::<_, String>(0)?))
        .transpose()
    }
}
