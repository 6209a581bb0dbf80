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
pub enum ReportEventKind {
    /// Received and the installation moved to `report_submitted`.
    Submitted,
    /// Received while the installation was not `completed` (ops had
    /// cancelled or rescheduled it): kept and flagged for ops review.
    SubmittedForReview,
    /// The same report was sent again (a replay after a lost answer).
    Resubmitted,
}

/// One entry of a report's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportEvent {
    /// What happened.
    pub event: ReportEventKind,
    /// The report.
    pub report_id: Uuid,
    /// The installation (UUID).
    pub installation_id: Uuid,
    /// Server clock when the event was recorded.
    pub received_at: DateTime<Utc>,
    /// The device that sent it.
    pub device_id: Uuid,
    /// The user whose token sent it.
    pub user_id: Uuid,
    /// The `report.submit` mutation that carried it.
    pub mutation_id: Uuid,
    /// The report's content hash as received.
    pub content_hash: Sha256Hex,
}

/// `GET /api/v1/media/{id}`: a media record and whether its blob has arrived.
pub type MediaDetail = Versioned<crate::pull::PulledMedia>;
