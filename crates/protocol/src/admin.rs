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
    pub username: String,
    pub full_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "technician"))]
    pub role: Role,
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
    pub name: String,
    /// Initial members.
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
}

/// `POST /api/v1/admin/teams/{team_id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddTeamMemberRequest {
    pub user_id: Uuid,
}

/// The customer record of a new installation (the server assigns its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadInput {
    pub customer_name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    pub address_line1: String,
    #[serde(default)]
    pub address_line2: String,
    pub city: String,
    pub postcode: String,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
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
    #[serde(default)]
    pub surveyor_notes: String,
    pub recommended_charger_model: String,
    pub main_fuse_amps: u16,
    pub supply_capacity_kva: f64,
    pub cable_run_length_m: f64,
    #[serde(default)]
    pub photos_count: u32,
}

/// `POST /api/v1/admin/installations`: plan an installation from an approved
/// survey. The server assigns `INS-YYYY-NNNNNN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateInstallationRequest {
    pub lead: LeadInput,
    pub survey: SurveyInput,
    pub scheduled_date: NaiveDate,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "morning"))]
    pub scheduled_time_slot: TimeSlot,
}

/// `POST /api/v1/admin/installations/{id}/assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignRequest {
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
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "confirmed"))]
    pub to: InstallationStatus,
    /// If given, the move is refused unless the installation is in this state.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub expected_from: Option<InstallationStatus>,
    #[serde(default)]
    pub reason: Option<String>,
    /// New date; required (with the slot) for `rescheduled → planned`.
    #[serde(default)]
    pub scheduled_date: Option<NaiveDate>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub scheduled_time_slot: Option<TimeSlot>,
}

/// `GET /api/v1/installations/{id}`: one installation with what a technician
/// needs on site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallationDetail {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub installation: Versioned<Installation>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub assignments: Vec<Versioned<InstallationAssignment>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub lead: Versioned<Lead>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub survey: Versioned<Survey>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
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
    pub event: ReportEventKind,
    pub report_id: Uuid,
    pub installation_id: Uuid,
    /// Server clock when the event was recorded.
    pub received_at: DateTime<Utc>,
    pub device_id: Uuid,
    pub user_id: Uuid,
    pub mutation_id: Uuid,
    /// The report's content hash as received.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub content_hash: Sha256Hex,
}

/// `GET /api/v1/media/{id}`: a media record and whether its blob has arrived.
pub type MediaDetail = Versioned<crate::pull::PulledMedia>;
