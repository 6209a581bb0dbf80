//! The ops console's installation list: filters, free-text search, keyset
//! pages, counts per status; and the review queue's lists, which are the
//! same rows.

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_domain::lifecycle::{self, Actor};
use fieldbook_domain::{Installation, InstallationMedia, InstallationStatus, Lead};
use fieldbook_protocol::{
    AssignmentSummary, OpsInstallationRow, OpsInstallationSort, StatusCount, Versioned,
};
use uuid::Uuid;

use super::StorageError;

/// The filters of the installations list (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallationFilter {
    /// Empty: any status.
    pub statuses: Vec<InstallationStatus>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub team: Option<Uuid>,
    pub unassigned: Option<bool>,
    pub material_ready: Option<bool>,
    pub customer_confirmed: Option<bool>,
    pub demo_completed: Option<bool>,
    pub has_report: Option<bool>,
    pub needs_review: Option<bool>,
    /// Free text, already trimmed; `None` or empty: no search.
    pub search: Option<String>,
}

/// Where a keyset page starts: after the row with this sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAfter {
    pub key: String,
    pub id: Uuid,
}

/// One page of the list.
#[derive(Debug, Clone)]
pub struct InstallationPageRows {
    pub rows: Vec<OpsInstallationRow>,
    /// Present when another page follows.
    pub next: Option<PageAfter>,
}

/// One list row from what both backends read: the installation, its lead,
/// when its report arrived and its live assignments. What ops may do with
/// the job (a new date or not) is the domain's answer, given here once.
pub(crate) fn ops_installation_row(
    installation: Installation,
    lead: Lead,
    report_received_at: Option<DateTime<Utc>>,
    assignments: Vec<AssignmentSummary>,
    version: u64,
) -> OpsInstallationRow {
    OpsInstallationRow {
        id: installation.id,
        installation_id: installation.installation_id.as_str().to_owned(),
        status: installation.status,
        scheduled_date: installation.scheduled_date,
        scheduled_time_slot: installation.scheduled_time_slot,
        customer_name: lead.customer_name,
        address_line1: lead.address_line1,
        city: lead.city,
        postcode: lead.postcode,
        material_ready: installation.material_ready,
        customer_confirmed: installation.customer_confirmed,
        demo_completed: installation.demo_completed,
        report_received_at,
        ops_review_note: installation.ops_review_note,
        assignments,
        can_reschedule: lifecycle::can_reschedule(installation.status, Actor::Ops),
        version,
        updated_at: installation.updated_at,
    }
}

pub trait OpsReads {
    /// One keyset page of installations matching `filter` in `sort` order.
    fn ops_installation_page(
        &self,
        filter: &InstallationFilter,
        sort: OpsInstallationSort,
        after: Option<&PageAfter>,
        limit: u32,
    ) -> Result<InstallationPageRows, StorageError>;

    /// How many installations of each status match every filter but the
    /// status filter.
    fn ops_status_counts(
        &self,
        filter: &InstallationFilter,
    ) -> Result<Vec<StatusCount>, StorageError>;

    /// Reports submitted and waiting to be closed, oldest report first.
    fn ops_awaiting_close(&self, limit: u32) -> Result<Vec<OpsInstallationRow>, StorageError>;

    /// Installations with an ops review note, most recently changed first.
    fn ops_flagged_for_review(&self, limit: u32) -> Result<Vec<OpsInstallationRow>, StorageError>;

    /// Installations whose report's signature or media bytes have not
    /// arrived, with how many media are missing and whether the signature is.
    fn ops_missing_blobs(
        &self,
        limit: u32,
    ) -> Result<Vec<(OpsInstallationRow, u64, bool)>, StorageError>;

    /// Counts for the navigation: (awaiting close, flagged, missing blobs,
    /// unplanned surveys, active unassigned).
    fn ops_nav_counts(&self) -> Result<(u64, u64, u64, u64, u64), StorageError>;

    /// The installation's photos and videos, oldest first.
    fn installation_media(
        &self,
        installation: Uuid,
    ) -> Result<Vec<Versioned<InstallationMedia>>, StorageError>;

    /// The plain indexed page the benchmark compares the list with: the
    /// first `limit` installations by date, decoded, nothing else.
    fn plain_installation_page(&self, limit: u32) -> Result<Vec<Installation>, StorageError>;
}
