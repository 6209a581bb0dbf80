//! Installations and the records they are planned from: leads, surveys,
//! assignments.

use fieldbook_domain::{Installation, InstallationAssignment, InstallationId, Lead, Survey};
use fieldbook_protocol::Versioned;
use uuid::Uuid;

use super::StorageError;

pub trait InstallationReads {
    /// An installation by id, with its version.
    fn installation(&self, id: Uuid) -> Result<Option<Versioned<Installation>>, StorageError>;

    /// An installation by its `INS-YYYY-NNNNNN` number.
    fn installation_by_human_id(
        &self,
        id: &InstallationId,
    ) -> Result<Option<Versioned<Installation>>, StorageError>;

    /// A lead by id, with its version.
    fn lead(&self, id: Uuid) -> Result<Option<Versioned<Lead>>, StorageError>;

    /// A survey by id, with its version.
    fn survey(&self, id: Uuid) -> Result<Option<Versioned<Survey>>, StorageError>;

    /// An assignment by id, with its version.
    fn assignment(
        &self,
        id: Uuid,
    ) -> Result<Option<Versioned<InstallationAssignment>>, StorageError>;

    /// Every assignment of an installation (withdrawn ones too), oldest
    /// version first.
    fn assignments_of(
        &self,
        installation: Uuid,
    ) -> Result<Vec<Versioned<InstallationAssignment>>, StorageError>;
}

pub trait InstallationWrites {
    /// Inserts or replaces a lead; returns its new version.
    fn save_lead(&mut self, lead: &Lead) -> Result<u64, StorageError>;

    /// Inserts or replaces a survey; returns its new version.
    fn save_survey(&mut self, survey: &Survey) -> Result<u64, StorageError>;

    /// Inserts or replaces an installation, recording what changed in its
    /// history; its `INS-` number is never handed out again (imported ones
    /// too). Returns its new version.
    fn save_installation(&mut self, inst: &Installation) -> Result<u64, StorageError>;

    /// The next `INS-YYYY-NNNNNN` for an installation created at `now`.
    fn next_installation_id(&mut self) -> Result<InstallationId, StorageError>;

    /// Inserts or replaces an assignment, recording a new assignment or a
    /// status change in the installation's history. Returns its new version.
    fn save_assignment(&mut self, a: &InstallationAssignment) -> Result<u64, StorageError>;
}
