//! `POST /api/v1/sync/push`: outbox entries in order, each answered on its own.

use fieldbook_domain::{Installation, InstallationAssignment, Mutation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pull::Versioned;

/// Most mutations accepted in one push; send the rest in the next request.
pub const MAX_PUSH_BATCH: usize = 500;

/// One outbox entry: a named domain mutation in its sync envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MutationEnvelope {
    /// Client-chosen id; the server applies a mutation id at most once and
    /// answers a replay with the stored result.
    pub mutation_id: Uuid,
    /// The device that recorded it. A device is bound to the first user that
    /// pushes from it; other users' pushes from it are rejected.
    pub device_id: Uuid,
    /// Per-device sequence, 1, 2, 3… without gaps. Every answered mutation
    /// (applied, rejected or conflict) consumes its number; a gap is rejected
    /// with `sequence_gap` and nothing is recorded, so the device can resend.
    pub device_seq: u64,
    /// Server version of the entity the change was based on (from the last
    /// pull), if the device had one. Recorded for diagnosis; the lifecycle is
    /// checked by the mutation's `expected_from`, the flags by their base
    /// values.
    #[serde(default)]
    pub base_version: Option<u64>,
    /// The change itself: `{"kind": "installation.start", "payload": {…}}`.
    pub mutation: Mutation,
}

/// Body of `POST /api/v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    /// In outbox order; at most [`MAX_PUSH_BATCH`].
    pub mutations: Vec<MutationEnvelope>,
}

/// Stable codes of a rejected mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RejectCode {
    /// A field is invalid (see the reason).
    ValidationFailed,
    /// The lifecycle has no such move from the current state.
    InvalidTransition,
    /// The caller's role may not make this change.
    NotPermitted,
    /// The object does not exist in the caller's scope.
    NotFound,
    /// The installation already has a different report.
    ReportExists,
    /// `device_seq` is not the next number for this device. Not recorded:
    /// resend from the expected number.
    SequenceGap,
    /// The device id is bound to another user. Not recorded.
    ForeignDevice,
    /// The mutation id was already used by another user or device.
    MutationIdReused,
    /// The server failed to store this change (a storage error inside this
    /// mutation); it had no effect. Recorded like any rejection, so the rest
    /// of the queue goes on; tell Central Ops if it keeps happening.
    StorageFailed,
}

impl RejectCode {
    /// Rejections that are not stored under the mutation id (the device may
    /// fix the cause and send the same mutation again).
    pub fn is_transient(self) -> bool {
        matches!(self, RejectCode::SequenceGap | RejectCode::ForeignDevice)
    }
}

/// What the server holds now, sent with a conflict so the device can rebase
/// and show the technician what happened.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerState {
    /// The installation concerned, as the server holds it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<Versioned<Installation>>,
    /// The assignment concerned, as the server holds it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Versioned<InstallationAssignment>>,
    /// What happened, for the technician ("Central Ops cancelled this job; your
    /// report was kept and flagged for review").
    pub message: String,
}

/// The answer to one mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MutationOutcome {
    /// The change took effect; `version` is the changed record's new version.
    Applied {
        /// The changed record's new version.
        version: u64,
    },
    /// The change was refused and had no effect.
    Rejected {
        /// Why, for the program.
        code: RejectCode,
        /// Why, for the technician.
        reason: String,
        /// With `sequence_gap`: the device sequence the server expects next
        /// (resend from it). Absent otherwise, and from servers older than
        /// this field (their reason reads "Expected device sequence N, …").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_device_seq: Option<u64>,
    },
    /// The server's state moved on (e.g. ops cancelled the job). What could be
    /// kept was kept (a report, media, a note for ops); `server_state` is what
    /// the server holds now.
    Conflict {
        /// What the server holds now.
        server_state: Box<ServerState>,
    },
    /// The installation left the caller's scope while they worked offline
    /// (ops withdrew or reassigned their team's assignment, or removed them
    /// from the team). The work was received and kept, not applied: it waits
    /// in a held record for Central Ops to accept it or keep it on record.
    /// Not an error: the device shows it as "received, waiting for Central
    /// Ops" and learns the decision from `PullPage::held_work`.
    Held {
        /// The held record it joined.
        held_work_id: uuid::Uuid,
        /// What happens next, for the technician.
        message: String,
    },
}

/// One mutation's answer, by mutation id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MutationResult {
    /// The envelope's mutation id.
    pub mutation_id: Uuid,
    /// What happened to it.
    pub outcome: MutationOutcome,
}

/// Answer of `POST /api/v1/sync/push`: one result per mutation, same order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// One per pushed mutation, in the same order.
    pub results: Vec<MutationResult>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldbook_domain::InstallationStatus;

    #[test]
    fn outcomes_are_tagged_by_status() {
        let applied = serde_json::to_value(MutationOutcome::Applied { version: 7 }).unwrap();
        assert_eq!(
            applied,
            serde_json::json!({"status": "applied", "version": 7})
        );
        let rejected = serde_json::to_value(MutationOutcome::Rejected {
            code: RejectCode::SequenceGap,
            reason: "expected 3".into(),
            expected_device_seq: Some(3),
        })
        .unwrap();
        assert_eq!(rejected["status"], "rejected");
        assert_eq!(rejected["code"], "sequence_gap");
        assert_eq!(rejected["expected_device_seq"], 3);
        let conflict = MutationOutcome::Conflict {
            server_state: Box::new(ServerState {
                message: "ops cancelled".into(),
                ..ServerState::default()
            }),
        };
        let json = serde_json::to_value(&conflict).unwrap();
        assert_eq!(json["status"], "conflict");
        assert_eq!(json["server_state"]["message"], "ops cancelled");
        assert_eq!(
            serde_json::from_value::<MutationOutcome>(json).unwrap(),
            conflict
        );
    }

    #[test]
    fn the_expected_sequence_is_optional_both_ways() {
        // An older server's rejection (no field) still reads; a rejection
        // without an expected sequence does not carry the field, so an
        // older device sees exactly what it knew.
        let old: MutationOutcome = serde_json::from_value(serde_json::json!({
            "status": "rejected", "code": "sequence_gap",
            "reason": "Expected device sequence 7, got 12; resend from 7"
        }))
        .unwrap();
        assert!(matches!(
            old,
            MutationOutcome::Rejected {
                expected_device_seq: None,
                ..
            }
        ));
        let plain = serde_json::to_value(MutationOutcome::Rejected {
            code: RejectCode::NotFound,
            reason: "No such installation".into(),
            expected_device_seq: None,
        })
        .unwrap();
        assert!(plain.get("expected_device_seq").is_none(), "{plain}");
    }

    #[test]
    fn held_is_its_own_outcome() {
        let held = MutationOutcome::Held {
            held_work_id: Uuid::nil(),
            message: "waiting for Central Ops".into(),
        };
        let json = serde_json::to_value(&held).unwrap();
        assert_eq!(json["status"], "held");
        assert_eq!(json["held_work_id"], Uuid::nil().to_string());
        assert_eq!(
            serde_json::from_value::<MutationOutcome>(json).unwrap(),
            held
        );
    }

    #[test]
    fn envelope_carries_the_named_mutation_as_kind_and_payload() {
        let envelope = MutationEnvelope {
            mutation_id: Uuid::nil(),
            device_id: Uuid::nil(),
            device_seq: 1,
            base_version: Some(42),
            mutation: Mutation::InstallationFinish {
                installation_id: Uuid::nil(),
                expected_from: InstallationStatus::InProgress,
                at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            },
        };
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["mutation"]["kind"], "installation.finish");
        assert_eq!(json["device_seq"], 1);
        assert_eq!(
            serde_json::from_value::<MutationEnvelope>(json).unwrap(),
            envelope
        );
    }

    #[test]
    fn only_sequence_and_device_rejections_are_transient() {
        assert!(RejectCode::SequenceGap.is_transient());
        assert!(RejectCode::ForeignDevice.is_transient());
        assert!(!RejectCode::ValidationFailed.is_transient());
        assert!(!RejectCode::ReportExists.is_transient());
        assert!(!RejectCode::StorageFailed.is_transient());
    }
}
