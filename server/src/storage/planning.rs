//! Planning: approved surveys that have no installation yet.

use fieldbook_domain::{Lead, Survey};
use fieldbook_protocol::Versioned;

use super::StorageError;

/// An unplanned survey and its customer.
pub type SurveyWithLead = (Versioned<Survey>, Versioned<Lead>);

pub trait PlanningReads {
    /// Approved surveys with no installation, oldest approval first, with
    /// their customers; at most `limit`.
    fn unplanned_surveys(&self, limit: u32) -> Result<Vec<SurveyWithLead>, StorageError>;

    /// Whether the survey already has its (one) installation.
    fn survey_is_planned(&self, survey_id: uuid::Uuid) -> Result<bool, StorageError>;
}
