//! Central Ops' console API (`/api/v1/ops/...`) and the blob download.
//!
//! Every route below answers Central Ops (role `ops`) only: a technician's
//! token gets 403 `forbidden`. The exception is the blob download, which a
//! technician may use for blobs of installations in their team's scope (404
//! otherwise). Every route works with a bearer token (scripts) and with the
//! console's session cookie; with the cookie, state-changing requests must
//! carry the session's CSRF token in the [`CSRF_HEADER`] header.
//!
//! Routes (method, path, query/body → answer):
//! - `POST /api/v1/ops/session` [`crate::LoginRequest`] → [`ConsoleSession`],
//!   sets the [`SESSION_COOKIE`] cookie (HttpOnly, SameSite=Strict, Path=/api).
//!   Ops accounts only (a technician gets 403).
//! - `GET /api/v1/ops/session` → [`ConsoleSession`] (the console calls it on
//!   load to learn whether it is signed in and to get the CSRF token again).
//! - `DELETE /api/v1/ops/session` → 204, revokes the session, clears the cookie.
//! - `GET /api/v1/ops/installations?`[`OpsInstallationQuery`] → [`OpsInstallationPage`].
//! - `GET /api/v1/ops/installations/{id}` → [`OpsInstallationDetail`].
//! - `GET /api/v1/ops/review` → [`ReviewQueue`].
//! - `GET /api/v1/ops/counts` → [`NavCounts`] (for the navigation badges).
//! - `GET /api/v1/ops/surveys/unplanned` → `Vec<`[`UnplannedSurvey`]`>`.
//! - `POST /api/v1/ops/surveys` [`CreateSurveyRequest`] → 201 [`UnplannedSurvey`]
//!   (a lead and its approved survey, not planned yet).
//! - `POST /api/v1/ops/surveys/{survey_id}/installation` [`PlanInstallationRequest`]
//!   → 201 [`PlannedInstallation`] (the installation plus its assignments,
//!   created in one transaction).
//! - `POST /api/v1/admin/installations/{id}/transition` [`crate::TransitionRequest`]
//!   → the versioned installation (ops moves: material ready, confirmed,
//!   reschedule with reason and new date/slot, cancel with reason, close).
//! - `POST /api/v1/admin/installations/{id}/assignments` [`crate::AssignRequest`]
//!   → 201 the versioned assignment.
//! - `POST /api/v1/admin/assignments/{assignment_id}/withdraw`, optional body
//!   [`WithdrawRequest`] → the versioned assignment.
//! - `POST /api/v1/ops/assignments/{assignment_id}/reassign` [`ReassignRequest`]
//!   → [`ReassignResponse`] (withdraw + assign another team, one transaction).
//! - `GET /api/v1/ops/people` → [`People`] (teams, members, devices, sessions).
//! - `POST /api/v1/ops/sessions/{session_id}/revoke` → 204.
//! - `POST /api/v1/ops/devices/{device_id}/revoke` → [`DeviceInfo`] (the
//!   device's sessions are revoked and its requests refused from then on).
//! - `GET /api/v1/ops/changes` → `text/event-stream`: an event `change` with a
//!   [`ChangeEvent`] JSON body when connecting and whenever the server's change
//!   sequence moves; a comment line every 15 s keeps proxies from closing it.
//! - `GET /api/v1/blobs/{sha256}` → the bytes (ops: any blob; technician: a
//!   blob of an installation in their scope, else 404). Honours `Range`
//!   (206), `If-None-Match` (304); `ETag: "<sha256>"`, `Cache-Control:
//!   private, immutable`.
//! - `GET /api/v1/blobs/{sha256}/thumbnail` → an image at most
//!   [`THUMBNAIL_EDGE_PX`] px on its longer side (JPEG, or PNG when the source
//!   has transparency); same access rule and caching. 404 for non-images.
//! - `GET /console/...` → the console app itself (not JSON).

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_domain::{
    AssignmentStatus, Installation, InstallationAssignment, InstallationMedia, InstallationStatus,
    Lead, Survey, TimeSlot, User,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::admin::{LeadInput, ReportEvent, SurveyInput};
use crate::pull::{PulledReport, Versioned};

/// Name of the console's session cookie (HttpOnly; the script never sees it).
pub const SESSION_COOKIE: &str = "fieldbook_session";

/// Header carrying [`ConsoleSession::csrf_token`] on every state-changing
/// request (POST, PUT, PATCH, DELETE) authenticated by the cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Optional header a device sends on pull and push: its device id, so ops see
/// when each device last synced.
pub const DEVICE_HEADER: &str = "x-fieldbook-device";

/// Optional header a device sends on pull and push: the app's version.
pub const APP_VERSION_HEADER: &str = "x-fieldbook-app-version";

/// Optional header a device sends on pull and push: how many local changes
/// are waiting to be pushed.
pub const PENDING_HEADER: &str = "x-fieldbook-pending";

/// Longer side of a blob thumbnail, in pixels.
pub const THUMBNAIL_EDGE_PX: u32 = 320;

/// Largest page of the installations list.
pub const MAX_OPS_PAGE: u32 = 200;

/// Page size when `limit` is omitted.
pub const DEFAULT_OPS_PAGE: u32 = 50;

/// The signed-in console session. The session token itself lives only in the
/// HttpOnly cookie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConsoleSession {
    /// Who is signed in (always role `ops`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub user: User,
    /// When the session ends; sign in again after it.
    pub expires_at: DateTime<Utc>,
    /// Send it in the `X-CSRF-Token` header of every POST/PUT/PATCH/DELETE.
    pub csrf_token: String,
}

/// Order of the installations list. Every order ends with the installation's
/// UUID so keyset pages never skip or repeat a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OpsInstallationSort {
    /// Earliest scheduled date first (the default).
    #[default]
    ScheduledDateAsc,
    /// Latest scheduled date first.
    ScheduledDateDesc,
    /// `INS-…` ascending.
    InstallationIdAsc,
    /// `INS-…` descending (newest first).
    InstallationIdDesc,
    /// Most recently changed first.
    UpdatedAtDesc,
}

/// Query of `GET /api/v1/ops/installations`. Every filter is optional and
/// they combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsInstallationQuery {
    /// Comma-separated statuses, e.g. `planned,confirmed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Scheduled on or after this date.
    #[serde(default)]
    pub from: Option<NaiveDate>,
    /// Scheduled on or before this date.
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// Has a non-withdrawn assignment to this team.
    #[serde(default)]
    pub team: Option<Uuid>,
    /// `true`: no non-withdrawn assignment at all; `false`: at least one.
    #[serde(default)]
    pub unassigned: Option<bool>,
    /// The `material_ready` flag.
    #[serde(default)]
    pub material_ready: Option<bool>,
    /// The `customer_confirmed` flag.
    #[serde(default)]
    pub customer_confirmed: Option<bool>,
    /// The `demo_completed` flag.
    #[serde(default)]
    pub demo_completed: Option<bool>,
    /// A report has (or has not) been received.
    #[serde(default)]
    pub has_report: Option<bool>,
    /// The installation carries an ops review note (an offline race).
    #[serde(default)]
    pub needs_review: Option<bool>,
    /// Free text: customer name, address, city, postcode, `INS-…`, charger
    /// serial. Case-insensitive substring match.
    #[serde(default)]
    pub q: Option<String>,
    /// Order (default `scheduled_date_asc`).
    #[serde(default)]
    pub sort: Option<OpsInstallationSort>,
    /// The `next_after` of the previous page (same filters and sort).
    #[serde(default)]
    pub after: Option<String>,
    /// Rows per page, 1..=200 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A team's assignment as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AssignmentSummary {
    /// The assignment.
    pub assignment_id: Uuid,
    /// The team.
    pub team_id: Uuid,
    /// The team's name.
    pub team_name: String,
    /// Primary (true) or emergency backup.
    pub is_primary: bool,
    /// Assigned, accepted, declined, completed (withdrawn ones are left out).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: AssignmentStatus,
}

/// One row of the installations list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsInstallationRow {
    /// Installation UUID (use it in URLs).
    pub id: Uuid,
    /// `INS-YYYY-NNNNNN`.
    pub installation_id: String,
    /// Lifecycle state.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: InstallationStatus,
    /// Planned date.
    pub scheduled_date: NaiveDate,
    /// Planned time window.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub scheduled_time_slot: TimeSlot,
    /// The customer.
    pub customer_name: String,
    /// Site address, first line.
    pub address_line1: String,
    /// Site town or city.
    pub city: String,
    /// Site postcode.
    pub postcode: String,
    /// Flag.
    pub material_ready: bool,
    /// Flag.
    pub customer_confirmed: bool,
    /// Flag.
    pub demo_completed: bool,
    /// When the report arrived, if it has.
    pub report_received_at: Option<DateTime<Utc>>,
    /// The ops review note, if an offline race needs a look.
    pub ops_review_note: Option<String>,
    /// Non-withdrawn assignments (empty: unassigned).
    pub assignments: Vec<AssignmentSummary>,
    /// Whether ops may give it a new date now (the state machine's rule): a
    /// job with its work done or its report in keeps its date.
    pub can_reschedule: bool,
    /// Server version of the installation record.
    pub version: u64,
    /// Last change of the installation record.
    pub updated_at: DateTime<Utc>,
}

/// How many installations of one status match the filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StatusCount {
    /// The status.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: InstallationStatus,
    /// Matching installations in it.
    pub count: u64,
}

/// `GET /api/v1/ops/installations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsInstallationPage {
    /// This page's rows, in the requested order.
    pub items: Vec<OpsInstallationRow>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
    /// Counts per status for every filter except `status` (so the status
    /// tabs show what each would hold); statuses with no match are left out.
    pub status_counts: Vec<StatusCount>,
    /// Rows matching every filter including `status`, over all pages.
    pub total: u64,
}

/// A user as the console names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserRef {
    /// User id.
    pub id: Uuid,
    /// Full name.
    pub full_name: String,
    /// Login name.
    pub username: String,
}

/// An assignment with names resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsAssignment {
    /// The assignment (status, decline reason, responded at…).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub assignment: Versioned<InstallationAssignment>,
    /// The team's name.
    pub team_name: String,
    /// Who assigned it.
    pub assigned_by: Option<UserRef>,
}

/// A photo or video with its arrival state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsMedia {
    /// The media record.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub media: Versioned<InstallationMedia>,
    /// False while the bytes are still uploading.
    pub blob_available: bool,
    /// Who attached it.
    pub uploaded_by: Option<UserRef>,
}

/// Verdict of the server's signature evidence check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum EvidenceVerdict {
    /// The stored report and media hash to what the customer signed, and the
    /// signature image is here with the right hash.
    Matches,
    /// The report has no signature.
    NotSigned,
    /// The signature image has not reached the server yet.
    SignatureImageMissing,
    /// The stored signature image's bytes do not hash to its recorded hash.
    SignatureImageCorrupt,
    /// The report or its media changed after the customer signed.
    ContentChanged,
}

/// The server's signature evidence check of one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignatureEvidence {
    /// The verdict.
    pub verdict: EvidenceVerdict,
    /// A sentence for ops saying what the verdict means.
    pub message: String,
    /// The content hash recomputed now from the stored report and its media.
    pub recomputed_content_hash: String,
    /// The content hash the report carries.
    pub report_content_hash: String,
    /// The content hash the customer signed, if signed.
    pub signed_content_hash: Option<String>,
    /// The signature PNG's hash, if signed.
    pub signature_sha256: Option<String>,
    /// The PNG is in the blob store.
    pub signature_blob_present: bool,
    /// The stored PNG's bytes hash to `signature_sha256`.
    pub signature_blob_hash_ok: bool,
    /// Who signed.
    pub signer_name: Option<String>,
    /// Device time of signing.
    pub signed_at: Option<DateTime<Utc>>,
    /// The device that submitted the report (from the report's events).
    pub device_id: Option<Uuid>,
}

/// A report with names resolved and its evidence check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsReport {
    /// The report with every field, its receive time and signature arrival.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub report: Versioned<PulledReport>,
    /// Who submitted it.
    pub submitted_by: Option<UserRef>,
    /// The server's check of the signature.
    pub evidence: SignatureEvidence,
    /// The completion certificate the technician's device made for this
    /// report, once the device sent it (download:
    /// `GET /api/v1/ops/installations/{id}/certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<OpsCertificate>,
}

/// An installation's completion certificate (PDF) as the server holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsCertificate {
    /// SHA-256 of the PDF.
    pub sha256: String,
    /// Bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    /// The report content hash it prints (and its QR code carries).
    pub report_content_hash: String,
    /// When the device made it (device time).
    pub made_at: DateTime<Utc>,
    /// When the server received the record.
    pub received_at: DateTime<Utc>,
    /// The PDF's bytes are here (false while they upload).
    pub blob_available: bool,
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum HistoryKind {
    /// The installation was created (`to` is its first status).
    Created,
    /// The installation's status changed (`from` → `to`).
    Status,
    /// The installation was rescheduled to a new date/slot without a status
    /// change, or its date/slot changed with one (`to` is `date slot`).
    Schedule,
    /// An assignment was created (`to` is its status).
    Assigned,
    /// An assignment's status changed (accepted, declined, withdrawn…).
    AssignmentStatus,
}

/// One change of an installation or its assignments: who, when, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HistoryEntry {
    /// Order of entries (ascending).
    pub id: u64,
    /// Server time of the change.
    pub at: DateTime<Utc>,
    /// Who made it (absent for the server's own moves).
    pub actor: Option<UserRef>,
    /// What changed.
    pub kind: HistoryKind,
    /// Previous value (status name), if any.
    pub from: Option<String>,
    /// New value (status name, or `YYYY-MM-DD slot` for a schedule).
    pub to: String,
    /// The assignment, for assignment entries.
    pub assignment_id: Option<Uuid>,
    /// The assignment's team, for assignment entries.
    pub team_id: Option<Uuid>,
    /// The team's name.
    pub team_name: Option<String>,
    /// Primary or backup, for assignment entries.
    pub is_primary: Option<bool>,
    /// Why (reschedule/cancel reason, decline reason, withdraw reason…).
    pub reason: Option<String>,
}

/// `GET /api/v1/ops/installations/{id}`: everything about one installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpsInstallationDetail {
    /// The installation.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub installation: Versioned<Installation>,
    /// The customer.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub lead: Versioned<Lead>,
    /// The approved survey.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub survey: Versioned<Survey>,
    /// Who planned it.
    pub created_by: Option<UserRef>,
    /// Every assignment, withdrawn ones included, oldest first.
    pub assignments: Vec<OpsAssignment>,
    /// The report, if received.
    pub report: Option<OpsReport>,
    /// Photos and videos, oldest first.
    pub media: Vec<OpsMedia>,
    /// The report's append-only audit log, oldest first.
    pub report_events: Vec<ReportEvent>,
    /// Status and assignment changes, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The states Central Ops may move it to now (from the domain's state
    /// machine), for the console's buttons.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed_moves: Vec<InstallationStatus>,
}

/// A report whose photos, videos or signature have not all arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MissingBlobsRow {
    /// The installation.
    pub installation: OpsInstallationRow,
    /// Media records whose bytes are still uploading.
    pub media_missing: u64,
    /// The signature image is still uploading.
    pub signature_missing: bool,
}

/// `GET /api/v1/ops/review`: what waits for Central Ops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReviewQueue {
    /// Reports submitted (`report_submitted`) and waiting to be closed,
    /// oldest report first.
    pub awaiting_close: Vec<OpsInstallationRow>,
    /// Installations with an ops review note (offline races), most recently
    /// changed first.
    pub flagged_for_review: Vec<OpsInstallationRow>,
    /// Reports whose photos, videos or signature have not arrived yet.
    pub missing_blobs: Vec<MissingBlobsRow>,
    /// Work that arrived after the job left its technician's scope
    /// (assignment withdrawn or reassigned, technician removed from the
    /// team), waiting for ops to accept it as the report or keep it on
    /// record, oldest first (see [`crate::held_work`]).
    #[serde(default)]
    pub held_work: Vec<crate::held_work::HeldWork>,
}

/// `GET /api/v1/ops/counts`: badges for the console's navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NavCounts {
    /// Reports waiting to be closed.
    pub awaiting_close: u64,
    /// Installations flagged for ops review.
    pub flagged_for_review: u64,
    /// Reports with blobs still uploading.
    pub missing_blobs: u64,
    /// Held work waiting for a decision.
    #[serde(default)]
    pub held_work: u64,
    /// Every entry of the review queue together.
    pub review_total: u64,
    /// Approved surveys with no installation yet.
    pub unplanned_surveys: u64,
    /// Active installations (not closed or cancelled) with no team.
    pub unassigned: u64,
    /// The change sequence these counts were read at.
    pub seq: u64,
}

/// An approved survey with no installation yet, with its customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UnplannedSurvey {
    /// The survey.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub survey: Versioned<Survey>,
    /// The customer.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub lead: Versioned<Lead>,
}

/// `POST /api/v1/ops/surveys`: record an approved survey (and its customer)
/// to plan later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreateSurveyRequest {
    /// The customer.
    pub lead: LeadInput,
    /// The approved survey.
    pub survey: SurveyInput,
}

/// `POST /api/v1/ops/surveys/{survey_id}/installation`: plan the
/// installation of an approved survey and assign its teams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlanInstallationRequest {
    /// Planned date.
    pub scheduled_date: NaiveDate,
    /// Planned time window.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "morning"))]
    pub scheduled_time_slot: TimeSlot,
    /// The primary team, if assigning now.
    #[serde(default)]
    pub primary_team_id: Option<Uuid>,
    /// An emergency backup team (needs a primary team, and a different one).
    #[serde(default)]
    pub backup_team_id: Option<Uuid>,
}

/// The answer of `POST /api/v1/ops/surveys/{survey_id}/installation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlannedInstallation {
    /// The new installation with its `INS-…` id.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub installation: Versioned<Installation>,
    /// The assignments made (primary first).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub assignments: Vec<Versioned<InstallationAssignment>>,
}

/// Optional body of `POST /api/v1/admin/assignments/{assignment_id}/withdraw`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WithdrawRequest {
    /// Why (kept in the installation's history).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/ops/assignments/{assignment_id}/reassign`: withdraw this
/// assignment and give the installation to another team, keeping primary or
/// backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReassignRequest {
    /// The team that takes over.
    pub team_id: Uuid,
    /// Why (kept in the installation's history).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer of a reassignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReassignResponse {
    /// The old assignment, now withdrawn.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub withdrawn: Versioned<InstallationAssignment>,
    /// The new team's assignment.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub assigned: Versioned<InstallationAssignment>,
}

/// A device as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceInfo {
    /// The device's id.
    pub device_id: Uuid,
    /// Its user.
    pub user_id: Uuid,
    /// First push or pull seen from it.
    pub first_seen: DateTime<Utc>,
    /// Last pull or push seen from it.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The app version it last reported.
    pub app_version: Option<String>,
    /// Local changes it said were waiting to be pushed, at its last sync.
    pub pending_changes: Option<u64>,
    /// Its last pushed mutation sequence.
    pub last_device_seq: u64,
    /// When ops revoked it, if they did.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The wipe ops ordered, if they did (see [`crate::wipe`]).
    #[serde(default)]
    pub wipe_kind: Option<crate::wipe::WipeKind>,
    /// When ops ordered the wipe.
    #[serde(default)]
    pub wipe_ordered_at: Option<DateTime<Utc>>,
    /// When the device confirmed it erased itself.
    #[serde(default)]
    pub wipe_confirmed_at: Option<DateTime<Utc>>,
}

/// A login session (console or bearer token), never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionSummary {
    /// Id to revoke it by (not usable as a token).
    pub session_id: String,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Ends at.
    pub expires_at: DateTime<Utc>,
    /// The device last seen using it, if it said.
    pub device_id: Option<Uuid>,
}

/// A person with their teams, devices and open sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Person {
    /// The user.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub user: User,
    /// Teams they belong to.
    pub team_ids: Vec<Uuid>,
    /// Devices that synced as them, most recent first.
    pub devices: Vec<DeviceInfo>,
    /// Sessions neither expired nor revoked.
    pub sessions: Vec<SessionSummary>,
}

/// A team with its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TeamSummary {
    /// Team id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Member user ids.
    pub member_ids: Vec<Uuid>,
    /// Active installations (not closed or cancelled) assigned to it.
    pub active_installations: u64,
}

/// `GET /api/v1/ops/people`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct People {
    /// Every team, by name.
    pub teams: Vec<TeamSummary>,
    /// Every user, by full name.
    pub people: Vec<Person>,
}

/// Data of a `change` event on `GET /api/v1/ops/changes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChangeEvent {
    /// The server's change sequence now; refetch what is on screen.
    pub seq: u64,
}
