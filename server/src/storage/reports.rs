//! Installation reports and their append-only event log.

use chrono::{DateTime, Utc};
use fieldbook_domain::InstallationReport;
use fieldbook_protocol::{ReportEvent, Versioned};
use uuid::Uuid;

use super::StorageError;

/// A report with the server's receive time.
pub type StoredReport = (Versioned<InstallationReport>, DateTime<Utc>);

pub trait ReportReads {
    /// Whether any installation's report has this id.
    fn report_id_taken(&self, id: Uuid) -> Result<bool, StorageError>;

    /// The installation's report and when the server received it.
    fn report_of(&self, installation: Uuid) -> Result<Option<StoredReport>, StorageError>;

    /// Whether the installation's report is sent back to the technician.
    fn report_sent_back(&self, installation: Uuid) -> Result<bool, StorageError>;

    /// The report's event log of an installation, oldest first.
    fn report_events(&self, installation: Uuid) -> Result<Vec<ReportEvent>, StorageError>;
}

pub trait ReportWrites {
    /// Inserts a report (its signature blob not yet present, if it has
    /// one); the submitter becomes visible to every device that sees the
    /// installation. Returns its new version.
    fn insert_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError>;

    /// Appends to the report's event log (never rewritten).
    fn append_report_event(&mut self, event: &ReportEvent) -> Result<(), StorageError>;

    /// Replaces an installation's report with a corrected version (after ops
    /// sent it back): same row, new body and version; the sent-back mark is
    /// cleared. The caller keeps the earlier version in the report events.
    fn replace_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError>;

    /// Marks (or clears) the installation's report as sent back to the
    /// technician.
    fn set_report_sent_back(
        &mut self,
        installation: Uuid,
        sent_back: bool,
    ) -> Result<(), StorageError>;

    /// The signature image of a report arrived (see [`Self::mark_media_blob_present`]).
    fn mark_signature_blob_present(&mut self, report_id: Uuid) -> Result<u64, StorageError>;
}
