//! Central Ops' admin routes (`/api/v1/admin/...`) and the read-by-id routes.
//! The same operations exist as `fieldbook-server` subcommands.

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_domain::{
    Installation, InstallationAssignment, InstallationStatus, Lead, Role, Sha256Hex, Survey,
    TimeSlot,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pull::{PulledReport, Versioned};

/// `POST /api/v1/admin/users`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserRequest {
    /// Login name: 1-64 letters, digits, `.`, `_`, `-` or `@`.
    pub username: String,
    /// The name people see.
    pub full_name: String,
    /// `ops` or `technician`.
    pub role: Role,
    /// At least 8 characters; stored only as an argon2id hash.
    pub password: String,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("full_name", &self.full_name)
            .field("role", &self.role)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /api/v1/admin/teams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTeamRequest {
    /// Unique team name.
    pub name: String,
    /// Initial members.
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
}

/// `POST /api/v1/admin/teams/{team_id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddTeamMemberRequest {
    /// The user to add.
    pub user_id: Uuid,
}

/// The customer record of a new installation (the server assigns its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeadInput {
    /// The customer's name.
    pub customer_name: String,
    /// Contact phone number.
    #[serde(default)]
    pub phone: String,
    /// Contact e-mail.
    #[serde(default)]
    pub email: String,
    /// Site address, first line.
    pub address_line1: String,
    /// Site address, second line.
    #[serde(default)]
    pub address_line2: String,
    /// Site town or city.
    pub city: String,
    /// Site postcode.
    pub postcode: String,
    /// Site latitude, if known.
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Site longitude, if known.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Notes for the installer (access, parking, pets…).
    #[serde(default)]
    pub installer_notes: String,
}

/// The approved survey of a new installation (the server assigns its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SurveyInput {
    /// Defaults to now.
    #[serde(default)]
    pub approved_at: Option<DateTime<Utc>>,
    /// The surveyor's notes.
    #[serde(default)]
    pub surveyor_notes: String,
    /// The charger the surveyor recommends.
    pub recommended_charger_model: String,
    /// Main fuse rating in amperes.
    pub main_fuse_amps: u16,
    /// Available supply capacity in kVA.
    pub supply_capacity_kva: f64,
    /// Cable run from the consumer unit to the charger, in metres.
    pub cable_run_length_m: f64,
    /// Photos taken during the survey.
    #[serde(default)]
    pub photos_count: u32,
}

/// `POST /api/v1/admin/installations`: plan an installation from an approved
/// survey. The server assigns `INS-YYYY-NNNNNN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreateInstallationRequest {
    /// The customer.
    pub lead: LeadInput,
    /// The approved survey.
    pub survey: SurveyInput,
    /// Planned date.
    pub scheduled_date: NaiveDate,
    /// Planned time window.
    pub scheduled_time_slot: TimeSlot,
}

/// `POST /api/v1/admin/installations/{id}/assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AssignRequest {
    /// The team to assign.
    pub team_id: Uuid,
    /// Primary (default) or emergency backup.
    #[serde(default = "default_true")]
    pub is_primary: bool,
}

fn default_true() -> bool {
    true
}

/// `POST /api/v1/admin/installations/{id}/transition`: an ops lifecycle move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TransitionRequest {
    /// The state to move to.
    pub to: InstallationStatus,
    /// If given, the move is refused unless the installation is in this state.
    #[serde(default)]
    pub expected_from: Option<InstallationStatus>,
    /// Why (shown to the technician).
    #[serde(default)]
    pub reason: Option<String>,
    /// New date; required (with the slot) for `rescheduled → planned`.
    #[serde(default)]
    pub scheduled_date: Option<NaiveDate>,
    /// New time slot (with the date).
    #[serde(default)]
    pub scheduled_time_slot: Option<TimeSlot>,
}

/// `GET /api/v1/installations/{id}`: one installation with what a technician
/// needs on site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallationDetail {
    /// The installation.
    pub installation: Versioned<Installation>,
    /// The caller's teams' assignments to it (all of them for ops).
    pub assignments: Vec<Versioned<InstallationAssignment>>,
    /// The customer.
    pub lead: Versioned<Lead>,
    /// The approved survey.
    pub survey: Versioned<Survey>,
    /// The submitted report, if any.
    pub report: Option<Versioned<PulledReport>>,
}

/// What happened to a report (append-only audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ReportEventKind {
    /// Received and the installation moved to `report_submitted`.
    Submitted,
    /// Received while the installation was not `completed` (ops had
    /// cancelled or rescheduled it): kept and flagged for ops review.
    SubmittedForReview,
    /// The same report was sent again (a replay after a lost answer).
    Resubmitted,
    /// Central Ops sent the report back to the technician with a note
    /// (`report_submitted → completed`); `user_id` is the ops user.
    SentBack,
    /// The technician resubmitted a sent-back report with changed content:
    /// it replaced the report, and `earlier_version` keeps the one it
    /// replaced. (A resubmission with unchanged content is `submitted`.)
    Corrected,
    /// Central Ops accepted held work (see [`crate::held_work`]) as the
    /// installation's report; `user_id` is the ops user, `mutation_id` the
    /// technician's `report.submit`.
    AcceptedFromHeldWork,
}

impl ReportEventKind {
    /// The wire / storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportEventKind::Submitted => "submitted",
            ReportEventKind::SubmittedForReview => "submitted_for_review",
            ReportEventKind::Resubmitted => "resubmitted",
            ReportEventKind::SentBack => "sent_back",
            ReportEventKind::Corrected => "corrected",
            ReportEventKind::AcceptedFromHeldWork => "accepted_from_held_work",
        }
    }
}

/// One entry of a report's audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReportEvent {
    /// What happened.
    pub event: ReportEventKind,
    /// The report.
    pub report_id: Uuid,
    /// The installation (UUID).
    pub installation_id: Uuid,
    /// Server clock when the event was recorded.
    pub received_at: DateTime<Utc>,
    /// The device that sent it (none for a decision by Central Ops).
    pub device_id: Option<Uuid>,
    /// The user who did it: the technician who sent it, or the ops user who
    /// sent it back or accepted it.
    pub user_id: Uuid,
    /// The `report.submit` mutation that carried it (none when ops sent it
    /// back).
    pub mutation_id: Option<Uuid>,
    /// The report's content hash as received.
    pub content_hash: Sha256Hex,
    /// The send-back note, or the note ops gave when accepting held work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For `corrected`: the report as it was before the correction replaced
    /// it (the server keeps every version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub earlier_version: Option<Box<fieldbook_domain::InstallationReport>>,
}

/// `POST /api/v1/admin/installations/{installation_id}/send-back`: Central
/// Ops send a submitted report back to the technician
/// (`report_submitted → completed`). The report stays until the technician
/// resubmits; the note is the installation's `status_reason`, shown on the
/// device, and is recorded in the report's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SendBackRequest {
    /// What the technician must correct (required).
    pub note: String,
}

/// Answer of `POST /api/v1/admin/held-work/{held_work_id}/accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AcceptedHeldWork {
    /// The held record with its decision.
    pub held_work: crate::held_work::HeldWork,
    /// The installation after the held report was attached
    /// (`report_submitted`), or as it was when only photos and videos were.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub installation: Versioned<Installation>,
}

/// `GET /api/v1/media/{id}`: a media record and whether its blob has arrived.
pub type MediaDetail = Versioned<crate::pull::PulledMedia>;
