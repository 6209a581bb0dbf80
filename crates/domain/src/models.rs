//! The data model (see `docs/data-model.md`), field by field.
//!
//! Foreign keys are carried as the referenced row's UUID (`*_id` fields); the
//! spec's `lead`, `survey`, `created_by`… become `lead_id`, `survey_id`,
//! `created_by` (a user id) and so on.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{InstallationId, Sha256Hex};

macro_rules! choice_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every choice, in the spec's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire / database name (`snake_case`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// Parses the wire / database name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice_enum! {
    /// Installation lifecycle state (spec: status choices).
    InstallationStatus {
        Planned = "planned",
        MaterialPending = "material_pending",
        MaterialReady = "material_ready",
        Confirmed = "confirmed",
        InProgress = "in_progress",
        Completed = "completed",
        ReportSubmitted = "report_submitted",
        Closed = "closed",
        Rescheduled = "rescheduled",
        Cancelled = "cancelled",
    }
}

choice_enum! {
    /// **Decision** — time window of an installation.
    TimeSlot {
        /// 08:00–12:00
        Morning = "morning",
        /// 12:00–16:00
        Afternoon = "afternoon",
        /// 16:00–20:00
        Evening = "evening",
        FullDay = "full_day",
    }
}

choice_enum! {
    /// **Decision** — state of a team's assignment to an installation.
    AssignmentStatus {
        Assigned = "assigned",
        Accepted = "accepted",
        Declined = "declined",
        Completed = "completed",
        Withdrawn = "withdrawn",
    }
}

choice_enum! {
    /// **Decision** — kind of installation media.
    MediaType {
        Photo = "photo",
        Video = "video",
    }
}

choice_enum! {
    /// A user's role: Central Ops plans and assigns, technicians install.
    Role {
        Ops = "ops",
        Technician = "technician",
    }
}

impl TimeSlot {
    /// Human label with the window, e.g. "Morning 08:00–12:00".
    pub fn label(self) -> &'static str {
        match self {
            TimeSlot::Morning => "Morning 08:00–12:00",
            TimeSlot::Afternoon => "Afternoon 12:00–16:00",
            TimeSlot::Evening => "Evening 16:00–20:00",
            TimeSlot::FullDay => "Full day",
        }
    }
}

/// A scheduled charger installation, created by Central Ops after a survey is
/// approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Installation {
    pub id: Uuid,
    /// Human-readable id, `INS-YYYY-NNNNNN`, assigned by the server.
    pub installation_id: InstallationId,
    /// The approved survey (one-to-one).
    pub survey_id: Uuid,
    /// The originating lead (customer record).
    pub lead_id: Uuid,
    pub scheduled_date: NaiveDate,
    pub scheduled_time_slot: TimeSlot,
    pub status: InstallationStatus,
    /// All materials allocated and confirmed. Set whenever the status reaches
    /// `material_ready` or later (see [`crate::lifecycle`]).
    pub material_ready: bool,
    /// Pre-installation confirmation received from the customer.
    pub customer_confirmed: bool,
    /// Charger demo given to the customer (set from the submitted report).
    pub demo_completed: bool,
    /// The Central Ops user who planned it.
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the last move happened when one was required (could not complete,
    /// reschedule, cancellation). Not in the source spec: a technician's reason
    /// must travel with the status.
    #[serde(default)]
    pub status_reason: Option<String>,
    /// Set by the server when an ops change raced a technician's offline work
    /// (docs/architecture.md "Conflict rules"): the report and media were kept and ops must
    /// look. Not in the source spec.
    #[serde(default)]
    pub ops_review_note: Option<String>,
    /// The report template this job is filled against (the latest version
    /// the device holds); `None`: [`crate::template::DEFAULT_TEMPLATE_ID`].
    /// Not in the source spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_template_id: Option<String>,
}

impl Installation {
    /// The id of the report template this job uses.
    pub fn report_template_id(&self) -> &str {
        self.report_template_id
            .as_deref()
            .unwrap_or(crate::template::DEFAULT_TEMPLATE_ID)
    }
}

/// Links an installation to a field team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallationAssignment {
    pub id: Uuid,
    pub installation_id: Uuid,
    pub team_id: Uuid,
    /// The Central Ops user who assigned it.
    pub assigned_by: Uuid,
    /// Primary assignment (true) or emergency backup (false).
    pub is_primary: bool,
    pub assigned_at: DateTime<Utc>,
    pub status: AssignmentStatus,
    /// Required when the team declines. Not in the source spec.
    #[serde(default)]
    pub decline_reason: Option<String>,
    /// When the team accepted or declined. Not in the source spec.
    #[serde(default)]
    pub responded_at: Option<DateTime<Utc>>,
}

/// A blob (photo, video, signature image) referenced by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobRef {
    pub sha256: Sha256Hex,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    pub mime: String,
}

/// Post-installation record submitted by the field team; one per installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallationReport {
    pub id: Uuid,
    pub installation_id: Uuid,
    /// The field team member who submitted it.
    pub submitted_by: Uuid,
    pub charger_serial_number: String,
    pub charger_model: String,
    pub installation_successful: bool,
    pub demo_given: bool,
    /// The customer's sign-off: PNG blob, strokes and what they signed.
    pub customer_signature: Option<crate::report::CustomerSignature>,
    pub issues_encountered: String,
    pub general_notes: String,
    pub submitted_at: DateTime<Utc>,
    /// Set when the technician used "start anyway" on an installation that was
    /// not `confirmed` (lifecycle Decision). Not in the source spec.
    #[serde(default)]
    pub start_override_reason: Option<String>,
    /// SHA-256 of the canonical report content (fields + media hashes).
    pub content_hash: Sha256Hex,
    /// The report template version it was filled against; absent on reports
    /// from devices older than templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::template::TemplateRef>,
    /// Commissioning test results by field key (see [`crate::template`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub test_results: crate::template::TestResults,
    /// The photo checklist: a photo (by hash) or a reason per slot key.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub photo_slots: crate::template::PhotoSlotFills,
}

/// A photo or video of the installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallationMedia {
    pub id: Uuid,
    pub installation_id: Uuid,
    pub media_type: MediaType,
    /// The file, by content hash.
    pub file: BlobRef,
    /// Description, at most 255 characters; may be blank.
    pub caption: String,
    pub uploaded_by: Uuid,
    /// When it was added on the device (the server keeps its own receive time).
    pub uploaded_at: DateTime<Utc>,
}

/// The customer / sales record an installation comes from (read-only on the
/// device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lead {
    pub id: Uuid,
    pub customer_name: String,
    pub phone: String,
    pub email: String,
    pub address_line1: String,
    pub address_line2: String,
    pub city: String,
    pub postcode: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub installer_notes: String,
}

/// The approved site survey (read-only on the device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Survey {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub approved_at: DateTime<Utc>,
    pub surveyor_notes: String,
    pub recommended_charger_model: String,
    /// Main fuse rating in amperes.
    pub main_fuse_amps: u16,
    /// Available supply capacity in kVA.
    pub supply_capacity_kva: f64,
    /// Cable run from the consumer unit to the charger, in metres.
    pub cable_run_length_m: f64,
    pub photos_count: u32,
}

/// A field team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    /// User ids of the members.
    pub member_ids: Vec<Uuid>,
}

/// A person who uses Fieldbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub full_name: String,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_use_snake_case_on_the_wire() {
        for s in InstallationStatus::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(InstallationStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(InstallationStatus::ALL.len(), 10);
        assert_eq!(
            serde_json::to_string(&TimeSlot::FullDay).unwrap(),
            "\"full_day\""
        );
        assert_eq!(AssignmentStatus::ALL.len(), 5);
        assert_eq!(MediaType::ALL.len(), 2);
        assert_eq!(InstallationStatus::parse("done"), None);
        assert!(serde_json::from_str::<MediaType>("\"audio\"").is_err());
    }
}
