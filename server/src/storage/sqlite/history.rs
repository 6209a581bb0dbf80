//! The installation history (migration 0004): every status, schedule and
//! assignment change with who, when and why. Written by the record writers
//! (`save_installation`, `save_assignment`) so no path that changes an
//! installation can forget it; the actor and a free reason come from the
//! write transaction ([`HistoryWrites::set_actor`](crate::storage::HistoryWrites::set_actor),
//! [`HistoryWrites::set_reason`](crate::storage::HistoryWrites::set_reason)).

use fieldbook_domain::{Installation, InstallationAssignment};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::parse_uuid;
use super::{parse_timestamp, timestamp, SqliteDb, SqliteTx};
use crate::storage::history::{
    assignment_entry, installation_entries, kind_from_name, kind_name, NewEntry,
};
use crate::storage::{HistoryReads, HistoryRow, HistoryWrites, StorageError};

impl HistoryWrites for SqliteTx<'_> {
    fn set_actor(&mut self, user_id: Uuid) {
        self.actor = Some(user_id);
    }

    fn set_reason(&mut self, reason: Option<String>) {
        self.reason = reason.filter(|r| !r.trim().is_empty());
    }
}

impl SqliteTx<'_> {
    fn append_history(&mut self, entry: NewEntry<'_>) -> Result<(), StorageError> {
        self.tx
            .prepare_cached(
                "INSERT INTO installation_history (installation_id, at, actor_id, kind, \
                   from_value, to_value, assignment_id, team_id, is_primary, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                entry.installation_id.to_string(),
                timestamp(self.now),
                entry.actor.map(|a| a.to_string()),
                kind_name(entry.kind),
                entry.from,
                entry.to,
                entry.assignment.map(|a| a.id.to_string()),
                entry.assignment.map(|a| a.team_id.to_string()),
                entry.assignment.map(|a| a.is_primary as i64),
                entry.reason,
            ])?;
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

impl HistoryReads for SqliteDb<'_> {
    fn installation_history(&self, installation: Uuid) -> Result<Vec<HistoryRow>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at, actor_id, kind, from_value, to_value, assignment_id, team_id, \
                    is_primary, reason \
             FROM installation_history WHERE installation_id = ?1 ORDER BY id",
        )?;
        type Raw = (
            i64,
            String,
            Option<String>,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows = stmt
            .query_map([installation.to_string()], |r| {
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
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(id, at, actor, kind, from, to, assignment, team, primary, reason)| {
                    Ok(HistoryRow {
                        id: id as u64,
                        at: parse_timestamp(&at)?,
                        actor_id: actor.as_deref().map(parse_uuid).transpose()?,
                        kind: kind_from_name(&kind)?,
                        from,
                        to,
                        assignment_id: assignment.as_deref().map(parse_uuid).transpose()?,
                        team_id: team.as_deref().map(parse_uuid).transpose()?,
                        is_primary: primary.map(|p| p != 0),
                        reason,
                    })
                },
            )
            .collect()
    }
}

impl SqliteDb<'_> {
    /// The stored installation, for comparing before a save.
    pub(super) fn stored_installation(
        &self,
        id: Uuid,
    ) -> Result<Option<Installation>, StorageError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM installations WHERE id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        body.map(|b| super::rows::from_json(&b)).transpose()
    }

    /// The stored assignment, for comparing before a save.
    pub(super) fn stored_assignment(
        &self,
        id: Uuid,
    ) -> Result<Option<InstallationAssignment>, StorageError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM assignments WHERE id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        body.map(|b| super::rows::from_json(&b)).transpose()
    }
}
