//! Held work (see `fieldbook_protocol::held_work`): mutations kept for a
//! decision by Central Ops because their installation had left the sender's
//! scope, and the decisions.

use fieldbook_domain::Mutation;
use fieldbook_protocol::{
    HeldBecause, HeldWork, HeldWorkDecision, HeldWorkNotice, HeldWorkQuery, HeldWorkStatus,
};
use uuid::Uuid;

use super::StorageError;

/// A mutation to hold.
#[derive(Debug, Clone, Copy)]
pub struct NewHeldMutation<'a> {
    pub installation_id: Uuid,
    pub submitted_by: Uuid,
    pub device_id: Uuid,
    pub because: HeldBecause,
    pub mutation_id: Uuid,
    pub mutation: &'a Mutation,
    /// The photo / video a `media.*` mutation is about.
    pub media_id: Option<Uuid>,
}

pub trait HeldWorkReads {
    /// Why an installation outside `user`'s scope was in it before, if it
    /// was: they were removed from a team that had it, or one of their teams
    /// lost it (assignment withdrawn or reassigned). Read from the
    /// "left scope" tombstones those changes leave. `None`: it never was
    /// (or does not exist), and work for it is refused as not found.
    fn formerly_in_scope(
        &self,
        installation: Uuid,
        user: Uuid,
    ) -> Result<Option<HeldBecause>, StorageError>;

    /// The installation of a photo / video that `user` attached in held
    /// work (it is in no installation's media until ops accept it).
    fn held_media_installation(
        &self,
        media_id: Uuid,
        user: Uuid,
    ) -> Result<Option<Uuid>, StorageError>;

    /// One held-work item with its mutations.
    fn held_work(&self, id: Uuid) -> Result<Option<HeldWork>, StorageError>;

    /// Held records, oldest first, filtered by status and installation.
    fn held_work_list(&self, query: &HeldWorkQuery) -> Result<Vec<HeldWork>, StorageError>;

    /// How many held records are in `status` (the review queue's badge).
    fn held_work_count(&self, status: HeldWorkStatus) -> Result<u64, StorageError>;

    /// What the sender's device learns about a held record.
    fn held_work_notice(&self, id: Uuid) -> Result<Option<HeldWorkNotice>, StorageError>;
}

pub trait HeldWorkWrites {
    /// Adds a mutation to the sender's open held record for the
    /// installation (opening one if there is none) and gives the record a
    /// new version, so the sender's devices pull it. Returns the record id.
    fn hold_mutation(&mut self, m: &NewHeldMutation<'_>) -> Result<Uuid, StorageError>;

    /// Records ops' decision on a waiting record (once: a decided record is
    /// never changed) with a new version, so the sender's devices pull it.
    /// Returns false if the record was not waiting.
    fn decide_held_work(
        &mut self,
        id: Uuid,
        decision: &HeldWorkDecision,
    ) -> Result<bool, StorageError>;
}
