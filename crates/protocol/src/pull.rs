//! `GET /api/v1/sync/pull?cursor=N&limit=M`: everything in the caller's scope
//! that changed after `cursor`, oldest change first.

use fieldbook_domain::{
    Installation, InstallationAssignment, InstallationMedia, InstallationReport, Lead,
    ReportTemplate, Survey, Team, User,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest page the server returns, whatever `limit` asks for.
pub const MAX_PULL_LIMIT: u32 = 1000;
/// Page size when `limit` is omitted.
pub const DEFAULT_PULL_LIMIT: u32 = 500;
/// Largest cursor: sequences are stored as signed 64-bit integers.
pub const MAX_PULL_CURSOR: u64 = i64::MAX as u64;
/// The server stops adding records to a page once their JSON would pass
/// this many bytes (a single larger record still comes, alone), so a page
/// stays small enough to apply in one local transaction.
pub const PULL_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Query of `GET /api/v1/sync/pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct PullQuery {
    /// The `next_cursor` of the previous page; 0 (or omitted) for a first
    /// sync. At most [`MAX_PULL_CURSOR`] (larger: 400 `invalid_cursor`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(maximum = 9223372036854775807_u64))]
    pub cursor: u64,
    /// Most records (plus tombstones) in the page, 1..=1000 (default 500;
    /// outside the range: 400 `bad_request`). A page may hold fewer: it is
    /// also bounded by [`PULL_PAGE_BYTES`].
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

/// A record with the server version it was read at. The version is the global
/// change sequence of the record's last change: larger means newer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Versioned<T> {
    /// The record's server version (global change sequence of its last change).
    pub version: u64,
    /// The record itself.
    pub record: T,
}

/// A media record as pulled: the domain record plus whether its bytes have
/// reached the server yet (`media.attach` is accepted before the upload ends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledMedia {
    /// The media record as attached by the technician.
    pub media: InstallationMedia,
    /// False while the blob is still uploading ("awaiting blob").
    pub blob_available: bool,
}

/// A submitted report as pulled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledReport {
    /// The report as submitted.
    pub report: InstallationReport,
    /// When the server received it (the report's own `submitted_at` is the
    /// device's time).
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// Whether the signature PNG's blob has reached the server (true when the
    /// report has no signature).
    pub signature_blob_available: bool,
}

/// Kinds of record a pull carries (and a tombstone can name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EntityKind {
    /// An installation.
    Installation,
    /// A team's assignment to an installation.
    Assignment,
    /// A customer record.
    Lead,
    /// An approved site survey.
    Survey,
    /// A field team.
    Team,
    /// A user (no credentials).
    User,
    /// A submitted installation report.
    Report,
    /// A photo or video record.
    Media,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: &'static [EntityKind] = &[
        EntityKind::Installation,
        EntityKind::Assignment,
        EntityKind::Lead,
        EntityKind::Survey,
        EntityKind::Team,
        EntityKind::User,
        EntityKind::Report,
        EntityKind::Media,
    ];

    /// The wire / storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Installation => "installation",
            EntityKind::Assignment => "assignment",
            EntityKind::Lead => "lead",
            EntityKind::Survey => "survey",
            EntityKind::Team => "team",
            EntityKind::User => "user",
            EntityKind::Report => "report",
            EntityKind::Media => "media",
        }
    }

    /// Parses the wire / storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// Why a tombstone was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TombstoneReason {
    /// The record still exists but is no longer in the caller's scope (the
    /// installation was reassigned to another team or the assignment withdrawn).
    LeftScope,
    /// The record was deleted (e.g. `media.remove`).
    Deleted,
}

/// "Delete your local copy of this record."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tombstone {
    /// Which kind of record.
    pub entity: EntityKind,
    /// The record's id.
    pub id: Uuid,
    /// Deleted, or out of the caller's scope.
    pub reason: TombstoneReason,
    /// The change sequence at which the record went away.
    pub version: u64,
}

/// One page of changes. Apply the whole page in one local transaction, then
/// store `next_cursor`; an interrupted first sync resumes from there.
///
/// Records are upserts keyed by id (replace the local row when `version` is
/// newer). Within a page, a tombstone and an upsert of the same record cannot
/// both appear: the server sends whichever reflects the current scope.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullPage {
    /// The cursor this page was read from (echo of the request).
    pub cursor: u64,
    /// Pass as `cursor` for the next page. Never smaller than `cursor`.
    pub next_cursor: u64,
    /// True when more changes exist after `next_cursor`: pull again at once.
    pub has_more: bool,
    /// Installations in scope.
    pub installations: Vec<Versioned<Installation>>,
    /// The caller's teams' assignments to installations in scope.
    pub assignments: Vec<Versioned<InstallationAssignment>>,
    /// Customer records of installations in scope.
    pub leads: Vec<Versioned<Lead>>,
    /// Surveys of installations in scope.
    pub surveys: Vec<Versioned<Survey>>,
    /// The caller's teams, with members.
    pub teams: Vec<Versioned<Team>>,
    /// The caller and their team-mates.
    pub users: Vec<Versioned<User>>,
    /// Submitted reports of installations in scope.
    pub reports: Vec<Versioned<PulledReport>>,
    /// Photos and videos of installations in scope.
    pub media: Vec<Versioned<PulledMedia>>,
    /// Records to delete locally.
    pub tombstones: Vec<Tombstone>,
    /// The caller's own held work (see [`crate::held_work`]): sent when it
    /// is first held and again when ops decide. Technicians only.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub held_work: Vec<Versioned<crate::held_work::HeldWorkNotice>>,
    /// The server's retention window in days: closed and cancelled
    /// installations last changed longer ago than this are not pulled, and a
    /// device removes its copies once nothing about them is unsent. Absent
    /// from older servers (keep everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Central Ops retired this device: send everything still unsent, then
    /// erase and confirm (see [`crate::wipe`]). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<crate::wipe::WipeOrder>,
    /// Report template versions published since the cursor (every caller
    /// gets every template; versions never change, so each comes once).
    /// The built-in default template's first version is never sent: every
    /// device has it. Absent from older servers; older devices ignore it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_templates: Vec<Versioned<ReportTemplate>>,
}

impl PullPage {
    /// Records plus tombstones in the page.
    pub fn len(&self) -> usize {
        self.installations.len()
            + self.assignments.len()
            + self.leads.len()
            + self.surveys.len()
            + self.teams.len()
            + self.users.len()
            + self.reports.len()
            + self.media.len()
            + self.tombstones.len()
            + self.held_work.len()
            + self.report_templates.len()
    }

    /// True when the page carries nothing (the device is up to date).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most days `GET /api/v1/sync/near-window` covers.
pub const MAX_NEAR_WINDOW_DAYS: u32 = 62;
/// Most installations in a near window (the soonest when there are more).
pub const MAX_NEAR_WINDOW_INSTALLATIONS: u32 = 1000;

/// Query of `GET /api/v1/sync/near-window`: the caller's installations
/// scheduled from `from` for `days` days (`from` included), for a device's
/// first sync to show the coming days before its full pull from zero.
///
/// The answer is a [`PullPage`] that is **not** part of the change feed:
/// apply its records as upserts but keep the pull cursor where it is (0 on a
/// first sync); the full pull brings every record again, at the same or a
/// newer version. It carries installations, their assignments to the
/// caller's teams, leads, surveys, the caller's teams and the users those
/// records name; no reports, media, tombstones or held work. `has_more`:
/// the window held more than [`MAX_NEAR_WINDOW_INSTALLATIONS`]
/// installations (the soonest came). `next_cursor`: the server's last
/// change sequence when it was read. Added in protocol version 1 without a
/// version change: a server without it answers 404 and a device then just
/// pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct NearWindowQuery {
    /// First day of the window (the device's today), `YYYY-MM-DD`.
    #[cfg_attr(feature = "openapi", param(value_type = String, format = Date))]
    pub from: chrono::NaiveDate,
    /// Days in the window, 1..=62 (outside: 400 `bad_request`).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 62))]
    pub days: u32,
}

/// Query of `GET /api/v1/installations/search`: find the caller's jobs on
/// the server, including those no longer on the device (closed or cancelled
/// before the retention window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct InstallationSearchQuery {
    /// 2..=100 characters: part of a customer's name, a postcode, or an
    /// `INS-` number (case does not matter).
    pub q: String,
}

/// Longest search text.
pub const MAX_SEARCH_TEXT: usize = 100;
/// Most jobs one search answers with (the most recently scheduled).
pub const MAX_SEARCH_RESULTS: usize = 50;

/// One job found by `GET /api/v1/installations/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FoundInstallation {
    /// The job as the server has it now.
    pub installation: Versioned<Installation>,
    /// The job's customer.
    pub lead: Versioned<Lead>,
}

/// Answer of `GET /api/v1/installations/search`, most recently scheduled first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallationSearchResults {
    /// At most [`MAX_SEARCH_RESULTS`].
    pub items: Vec<FoundInstallation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_kinds_round_trip_their_names() {
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::parse(kind.as_str()), Some(*kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().into())
            );
        }
        assert_eq!(EntityKind::parse("blob"), None);
    }

    #[test]
    fn an_empty_page_counts_nothing() {
        let page = PullPage::default();
        assert!(page.is_empty());
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["has_more"], false);
        assert!(json["tombstones"].as_array().unwrap().is_empty());
    }
}
