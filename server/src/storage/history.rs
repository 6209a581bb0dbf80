//! The installation history: every status, schedule and assignment change
//! with who, when and why. Written by the record writers
//! (`save_installation`, `save_assignment`) so no path that changes an
//! installation can forget it; the actor and a free reason come from the
//! write transaction ([`HistoryWrites::set_actor`],
//! [`HistoryWrites::set_reason`]).

use fieldbook_domain::{Installation, InstallationAssignment};
use fieldbook_protocol::HistoryKind;
use uuid::Uuid;

use super::StorageError;

/// One stored history row (names are resolved by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub id: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor_id: Option<Uuid>,
    pub kind: HistoryKind,
    pub from: Option<String>,
    pub to: String,
    pub assignment_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub is_primary: Option<bool>,
    pub reason: Option<String>,
}

pub trait HistoryWrites {
    /// Who makes the changes of this transaction (recorded in the history).
    fn set_actor(&mut self, user_id: Uuid);

    /// Why ops make the changes of this transaction, when the record itself
    /// has no field for it (a withdrawal's reason).
    fn set_reason(&mut self, reason: Option<String>);
}

pub trait HistoryReads {
    /// The installation's history, oldest first.
    fn installation_history(&self, installation: Uuid) -> Result<Vec<HistoryRow>, StorageError>;
}

/// A history row about to be written by a backend.
#[derive(Debug)]
pub(super) struct NewEntry<'a> {
    pub installation_id: Uuid,
    pub kind: HistoryKind,
    pub from: Option<String>,
    pub to: String,
    pub assignment: Option<&'a InstallationAssignment>,
    pub reason: Option<String>,
    /// Who made the change (`None`: nobody the server knows).
    pub actor: Option<Uuid>,
}

pub(super) fn kind_name(kind: HistoryKind) -> &'static str {
    match kind {
        HistoryKind::Created => "created",
        HistoryKind::Status => "status",
        HistoryKind::Schedule => "schedule",
        HistoryKind::Assigned => "assigned",
        HistoryKind::AssignmentStatus => "assignment_status",
    }
}

pub(super) fn kind_from_name(name: &str) -> Result<HistoryKind, StorageError> {
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

/// What a save of `new` over the stored `old` adds to the history, made by
/// `actor` with the transaction's free `reason`.
pub(super) fn installation_entries(
    old: Option<&Installation>,
    new: &Installation,
    actor: Option<Uuid>,
    reason: Option<&String>,
) -> Vec<NewEntry<'static>> {
    // The record keeps its last reason across later moves: only a
    // reason that changed with this save belongs to this entry.
    let reason = new
        .status_reason
        .clone()
        .filter(|r| old.is_none_or(|o| o.status_reason.as_ref() != Some(r)))
        .or_else(|| reason.cloned());
    let entry = |kind, from, to, reason| NewEntry {
        installation_id: new.id,
        kind,
        from,
        to,
        assignment: None,
        reason,
        actor,
    };
    let Some(old) = old else {
        // Imports (the demo seed) name no actor: the planner did it.
        return vec![NewEntry {
            actor: actor.or(Some(new.created_by)),
            ..entry(
                HistoryKind::Created,
                None,
                new.status.as_str().to_owned(),
                None,
            )
        }];
    };
    let mut entries = Vec::new();
    if old.status != new.status {
        entries.push(entry(
            HistoryKind::Status,
            Some(old.status.as_str().to_owned()),
            new.status.as_str().to_owned(),
            reason.clone(),
        ));
    }
    if schedule(old) != schedule(new) {
        entries.push(entry(
            HistoryKind::Schedule,
            Some(schedule(old)),
            schedule(new),
            reason,
        ));
    }
    entries
}

/// What a save of the assignment `new` over the stored `old` adds to the
/// history, if anything.
pub(super) fn assignment_entry<'a>(
    old: Option<&InstallationAssignment>,
    new: &'a InstallationAssignment,
    actor: Option<Uuid>,
    reason: Option<&String>,
) -> Option<NewEntry<'a>> {
    let reason = new
        .decline_reason
        .clone()
        .filter(|_| new.status == fieldbook_domain::AssignmentStatus::Declined)
        .or_else(|| reason.cloned());
    let (kind, from) = match old {
        None => (HistoryKind::Assigned, None),
        Some(old) if old.status != new.status => (
            HistoryKind::AssignmentStatus,
            Some(old.status.as_str().to_owned()),
        ),
        Some(_) => return None,
    };
    Some(NewEntry {
        installation_id: new.installation_id,
        kind,
        from,
        to: new.status.as_str().to_owned(),
        assignment: Some(new),
        reason,
        actor,
    })
}
