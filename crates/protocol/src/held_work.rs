//! Work held for a decision by Central Ops.
//!
//! When ops withdraw an assignment (or reassign the job, or remove a
//! technician from a team) while the technician works the job offline, the
//! finish, report and media that later arrive are neither applied nor
//! refused: the server keeps them in a *held work* record linked to the
//! installation and answers each mutation `held`. Ops then accept the held
//! report as the installation's report (only when it has none) or keep the
//! work on record with a reason. The technician's device pulls the decision.
//!
//! One held record gathers everything one technician sent for one
//! installation while it was out of their scope, until ops decide; work
//! arriving after a decision opens a new record.

use chrono::{DateTime, Utc};
use fieldbook_domain::{MutationKind, Sha256Hex};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a held record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum HeldWorkStatus {
    /// Received; Central Ops have not decided yet.
    Waiting,
    /// Ops accepted the held report as the installation's report (its media
    /// were attached to the installation with it); or, for held photos and
    /// videos only, the job came back to the technician's team and the
    /// report they submitted took them along (decided by the technician).
    Accepted,
    /// Ops kept the work on record without attaching it (the reason says
    /// why); nothing of it was applied to the installation.
    KeptOnRecord,
}

impl HeldWorkStatus {
    /// The wire / storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            HeldWorkStatus::Waiting => "waiting",
            HeldWorkStatus::Accepted => "accepted",
            HeldWorkStatus::KeptOnRecord => "kept_on_record",
        }
    }

    /// Parses the wire / storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            HeldWorkStatus::Waiting,
            HeldWorkStatus::Accepted,
            HeldWorkStatus::KeptOnRecord,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// Why the work was held instead of applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum HeldBecause {
    /// Ops withdrew (or reassigned) the assignment of the technician's team.
    AssignmentWithdrawn,
    /// Ops removed the technician from the team that holds the assignment.
    RemovedFromTeam,
}

/// One mutation kept in a held record, exactly as the device sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeldMutation {
    /// The envelope's mutation id (a replay is answered with the same `held`).
    pub mutation_id: Uuid,
    /// `installation.finish`, `report.submit`, `media.attach`, …
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "report.submit"))]
    pub kind: MutationKind,
    /// Server clock when it arrived.
    pub received_at: DateTime<Utc>,
    /// The mutation itself: `{"kind": …, "payload": {…}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub mutation: fieldbook_domain::Mutation,
}

/// Who decided about a held record, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeldWorkDecision {
    /// `accepted` or `kept_on_record`.
    pub status: HeldWorkStatus,
    /// The Central Ops user who decided.
    pub decided_by: Uuid,
    /// Server clock of the decision.
    pub decided_at: DateTime<Utc>,
    /// Why (required to keep on record; optional note when accepting).
    pub reason: Option<String>,
}

/// A held record as Central Ops see it (`GET /api/v1/admin/held-work`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeldWork {
    /// The held record's id.
    pub id: Uuid,
    /// The installation the work is for (UUID).
    pub installation_id: Uuid,
    /// The technician who sent it.
    pub submitted_by: Uuid,
    /// The device it came from (the first one, if several).
    pub device_id: Uuid,
    /// Why it was held.
    pub because: HeldBecause,
    /// Where it stands.
    pub status: HeldWorkStatus,
    /// When the first of its mutations arrived.
    pub first_received_at: DateTime<Utc>,
    /// When the last of its mutations arrived.
    pub last_received_at: DateTime<Utc>,
    /// Whether it carries a report (only then can ops accept it).
    pub has_report: bool,
    /// Hashes of the photos and videos it attaches (their bytes upload as
    /// usual and are kept whatever ops decide).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub media_sha256: Vec<Sha256Hex>,
    /// Every mutation it holds, in the order they arrived.
    pub mutations: Vec<HeldMutation>,
    /// Set once ops decided.
    pub decision: Option<HeldWorkDecision>,
}

/// Query of `GET /api/v1/admin/held-work`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeldWorkQuery {
    /// Only records in this state (all of them when omitted).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, example = "waiting"))]
    pub status: Option<HeldWorkStatus>,
    /// Only records for this installation (UUID).
    #[serde(default)]
    pub installation_id: Option<Uuid>,
}

/// `POST /api/v1/admin/held-work/{held_work_id}/accept`: attach the held
/// report and media to the installation. Refused (409) when the installation
/// already has a report or the record holds no report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AcceptHeldWorkRequest {
    /// Optional note for the audit trail and the technician.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/v1/admin/held-work/{held_work_id}/keep`: keep the work on
/// record without attaching it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeepHeldWorkRequest {
    /// Why it is not attached (required; shown to the technician).
    pub reason: String,
}

/// What the technician's device learns about its held work: pulled by the
/// technician who sent it (`PullPage::held_work`), newest state only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeldWorkNotice {
    /// The held record's id (the `held_work_id` of the `held` push answer).
    pub id: Uuid,
    /// The installation (UUID).
    pub installation_id: Uuid,
    /// Mutation ids it holds (the device's outbox entries answered `held`).
    pub mutation_ids: Vec<Uuid>,
    /// Where it stands.
    pub status: HeldWorkStatus,
    /// The decision, once made.
    pub decision: Option<HeldWorkDecision>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_names() {
        for status in [
            HeldWorkStatus::Waiting,
            HeldWorkStatus::Accepted,
            HeldWorkStatus::KeptOnRecord,
        ] {
            assert_eq!(HeldWorkStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.as_str().into())
            );
        }
        assert_eq!(HeldWorkStatus::parse("refused"), None);
    }
}
