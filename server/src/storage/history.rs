//! The installation history: every status, schedule and assignment change
//! with who, when and why. Written by the record writers
//! (`save_installation`, `save_assignment`) so no path that changes an
//! installation can forget it; the actor and a free reason come from the
//! write transaction ([`HistoryWrites::set_actor`],
//! [`HistoryWrites::set_reason`]).

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
