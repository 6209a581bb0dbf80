//! Named mutations: every change a technician makes to shared data, as the
//! device records it in its outbox and the server re-applies it.
//!
//! On the wire a mutation is `{"kind": "installation.start", "payload": {…}}`.
//! The envelope (mutation id, device id, per-device sequence, base version)
//! belongs to the sync protocol, not here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::Sha256Hex;
use crate::models::{
    AssignmentStatus, BlobRef, InstallationMedia, InstallationReport, InstallationStatus, MediaType,
};
use crate::validation::{self, ValidationErrors, MAX_REASON_CHARS};

/// One technician action on shared data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Mutation {
    /// "Start installation" (`confirmed → in_progress`, or "start anyway").
    #[serde(rename = "installation.start")]
    InstallationStart {
        installation_id: Uuid,
        expected_from: InstallationStatus,
        override_reason: Option<String>,
        at: DateTime<Utc>,
    },
    /// "Finish installation" (`in_progress → completed`).
    #[serde(rename = "installation.finish")]
    InstallationFinish {
        installation_id: Uuid,
        expected_from: InstallationStatus,
        at: DateTime<Utc>,
    },
    /// "Could not complete" (`in_progress → rescheduled`, reason required).
    #[serde(rename = "installation.could_not_complete")]
    InstallationCouldNotComplete {
        installation_id: Uuid,
        expected_from: InstallationStatus,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Flags both sides may set; `None` leaves a flag alone. `base` holds the
    /// values the device saw, for the server's three-way merge.
    #[serde(rename = "installation.set_flags")]
    InstallationSetFlags {
        installation_id: Uuid,
        customer_confirmed: Option<bool>,
        demo_completed: Option<bool>,
        base_customer_confirmed: bool,
        base_demo_completed: bool,
    },
    /// The team accepts or declines an assignment (decline needs a reason).
    #[serde(rename = "assignment.respond")]
    AssignmentRespond {
        assignment_id: Uuid,
        response: AssignmentStatus,
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    /// The final report (moves `completed → report_submitted`).
    #[serde(rename = "report.submit")]
    ReportSubmit { report: Box<InstallationReport> },
    /// A photo or video was added; the blob may still be uploading.
    #[serde(rename = "media.attach")]
    MediaAttach { media: InstallationMedia },
    #[serde(rename = "media.caption")]
    MediaCaption { media_id: Uuid, caption: String },
    #[serde(rename = "media.remove")]
    MediaRemove { media_id: Uuid },
    /// The completion certificate (PDF) the device made for the submitted
    /// report with `report_content_hash`; its bytes upload on the blob
    /// queue like a photo's.
    #[serde(rename = "report.certificate")]
    ReportCertificate {
        installation_id: Uuid,
        file: BlobRef,
        report_content_hash: Sha256Hex,
        made_at: DateTime<Utc>,
    },
}

/// The one MIME type of a completion certificate.
pub const CERTIFICATE_MIME: &str = "application/pdf";
/// A certificate's largest size: a few pages with thumbnails are well under
/// 1 MB; the bound keeps the server's download of one in memory small.
pub const MAX_CERTIFICATE_BYTES: u64 = 32 << 20;

/// The mutation's name without its payload (the outbox's `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MutationKind {
    #[serde(rename = "installation.start")]
    InstallationStart,
    #[serde(rename = "installation.finish")]
    InstallationFinish,
    #[serde(rename = "installation.could_not_complete")]
    InstallationCouldNotComplete,
    #[serde(rename = "installation.set_flags")]
    InstallationSetFlags,
    #[serde(rename = "assignment.respond")]
    AssignmentRespond,
    #[serde(rename = "report.submit")]
    ReportSubmit,
    #[serde(rename = "media.attach")]
    MediaAttach,
    #[serde(rename = "media.caption")]
    MediaCaption,
    #[serde(rename = "media.remove")]
    MediaRemove,
    #[serde(rename = "report.certificate")]
    ReportCertificate,
}

impl MutationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MutationKind::InstallationStart => "installation.start",
            MutationKind::InstallationFinish => "installation.finish",
            MutationKind::InstallationCouldNotComplete => "installation.could_not_complete",
            MutationKind::InstallationSetFlags => "installation.set_flags",
            MutationKind::AssignmentRespond => "assignment.respond",
            MutationKind::ReportSubmit => "report.submit",
            MutationKind::MediaAttach => "media.attach",
            MutationKind::MediaCaption => "media.caption",
            MutationKind::MediaRemove => "media.remove",
            MutationKind::ReportCertificate => "report.certificate",
        }
    }
}

impl Mutation {
    pub fn kind(&self) -> MutationKind {
        match self {
            Mutation::InstallationStart { .. } => MutationKind::InstallationStart,
            Mutation::InstallationFinish { .. } => MutationKind::InstallationFinish,
            Mutation::InstallationCouldNotComplete { .. } => {
                MutationKind::InstallationCouldNotComplete
            }
            Mutation::InstallationSetFlags { .. } => MutationKind::InstallationSetFlags,
            Mutation::AssignmentRespond { .. } => MutationKind::AssignmentRespond,
            Mutation::ReportSubmit { .. } => MutationKind::ReportSubmit,
            Mutation::MediaAttach { .. } => MutationKind::MediaAttach,
            Mutation::MediaCaption { .. } => MutationKind::MediaCaption,
            Mutation::MediaRemove { .. } => MutationKind::MediaRemove,
            Mutation::ReportCertificate { .. } => MutationKind::ReportCertificate,
        }
    }

    /// The installation this mutation is about, when it names one directly
    /// (assignment and media-by-id mutations are resolved by the receiver).
    pub fn installation_id(&self) -> Option<Uuid> {
        match self {
            Mutation::InstallationStart {
                installation_id, ..
            }
            | Mutation::InstallationFinish {
                installation_id, ..
            }
            | Mutation::InstallationCouldNotComplete {
                installation_id, ..
            }
            | Mutation::InstallationSetFlags {
                installation_id, ..
            }
            | Mutation::ReportCertificate {
                installation_id, ..
            } => Some(*installation_id),
            Mutation::ReportSubmit { report } => Some(report.installation_id),
            Mutation::MediaAttach { media } => Some(media.installation_id),
            Mutation::AssignmentRespond { .. }
            | Mutation::MediaCaption { .. }
            | Mutation::MediaRemove { .. } => None,
        }
    }

    /// Every free-text field within its length limit and format (the
    /// limits of [`crate::validation`]). The server checks this before
    /// anything else, so an oversized value is never stored or fanned out
    /// in pulls; the device's store applies the same rules as it builds
    /// the values.
    pub fn check_limits(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let reason = |field, value: &str| validation::optional_text(field, value, MAX_REASON_CHARS);
        match self {
            Mutation::InstallationStart {
                override_reason: Some(r),
                ..
            } => errs.check(reason("override_reason", r)),
            Mutation::InstallationCouldNotComplete { reason: r, .. }
            | Mutation::AssignmentRespond {
                reason: Some(r), ..
            } => errs.check(reason("reason", r)),
            Mutation::ReportSubmit { report } => errs.errors.extend(report.check_limits().errors),
            Mutation::MediaAttach { media } => {
                errs.check(validation::caption(&media.caption));
                errs.check(validation::mime("mime", &media.file.mime));
            }
            Mutation::MediaCaption { caption, .. } => errs.check(validation::caption(caption)),
            Mutation::ReportCertificate { file, .. } => {
                if file.mime != CERTIFICATE_MIME {
                    errs.check(Err(validation::FieldError::new(
                        "mime",
                        validation::FieldErrorCode::InvalidFormat,
                        format!("A certificate is a PDF ({CERTIFICATE_MIME})"),
                    )));
                }
                if file.size > MAX_CERTIFICATE_BYTES {
                    errs.check(Err(validation::FieldError::new(
                        "size",
                        validation::FieldErrorCode::TooLong,
                        format!(
                            "A certificate is at most {} MB",
                            MAX_CERTIFICATE_BYTES >> 20
                        ),
                    )));
                }
            }
            Mutation::InstallationStart { .. }
            | Mutation::InstallationFinish { .. }
            | Mutation::InstallationSetFlags { .. }
            | Mutation::AssignmentRespond { .. }
            | Mutation::MediaRemove { .. } => {}
        }
        errs.into_result()
    }

    /// Blobs this mutation refers to (they upload on their own queue).
    pub fn blobs(&self) -> Vec<&BlobRef> {
        match self {
            Mutation::ReportSubmit { report } => {
                report.customer_signature.iter().map(|s| &s.png).collect()
            }
            Mutation::MediaAttach { media } => vec![&media.file],
            Mutation::ReportCertificate { file, .. } => vec![file],
            _ => Vec::new(),
        }
    }
}

/// Helper for callers deciding a media type from a MIME type.
pub fn media_type_for_mime(mime: &str) -> Option<MediaType> {
    if mime.starts_with("image/") {
        Some(MediaType::Photo)
    } else if mime.starts_with("video/") {
        Some(MediaType::Video)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_text_in_any_mutation_is_refused_before_it_is_applied() {
        let at = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        let huge = "x".repeat(MAX_REASON_CHARS + 1);
        let refused = [
            Mutation::InstallationStart {
                installation_id: Uuid::nil(),
                expected_from: InstallationStatus::Planned,
                override_reason: Some(huge.clone()),
                at,
            },
            Mutation::InstallationCouldNotComplete {
                installation_id: Uuid::nil(),
                expected_from: InstallationStatus::InProgress,
                reason: huge.clone(),
                at,
            },
            Mutation::AssignmentRespond {
                assignment_id: Uuid::nil(),
                response: AssignmentStatus::Accepted,
                reason: Some(huge.clone()),
                at,
            },
            Mutation::MediaCaption {
                media_id: Uuid::nil(),
                caption: huge,
            },
        ];
        for mutation in refused {
            assert!(mutation.check_limits().is_err(), "{:?}", mutation.kind());
        }
        let finish = Mutation::InstallationFinish {
            installation_id: Uuid::nil(),
            expected_from: InstallationStatus::InProgress,
            at,
        };
        assert!(finish.check_limits().is_ok());
    }

    #[test]
    fn wire_format_is_kind_plus_payload() {
        let m = Mutation::InstallationFinish {
            installation_id: Uuid::nil(),
            expected_from: InstallationStatus::InProgress,
            at: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["kind"], "installation.finish");
        assert_eq!(v["payload"]["expected_from"], "in_progress");
        assert_eq!(serde_json::from_value::<Mutation>(v).unwrap(), m);
        assert_eq!(m.kind().as_str(), "installation.finish");
        assert_eq!(
            serde_json::to_value(m.kind()).unwrap(),
            serde_json::Value::String("installation.finish".into())
        );
    }

    #[test]
    fn a_certificate_is_a_pdf_of_bounded_size_and_its_file_uploads() {
        let certificate = |mime: &str, size: u64| Mutation::ReportCertificate {
            installation_id: Uuid::nil(),
            file: BlobRef {
                sha256: Sha256Hex::digest(b"pdf"),
                size,
                mime: mime.to_owned(),
            },
            report_content_hash: Sha256Hex::digest(b"report"),
            made_at: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
        };
        let good = certificate(CERTIFICATE_MIME, 200_000);
        assert!(good.check_limits().is_ok());
        assert_eq!(good.kind().as_str(), "report.certificate");
        assert_eq!(good.installation_id(), Some(Uuid::nil()));
        assert_eq!(good.blobs().len(), 1);
        let wire = serde_json::to_value(&good).unwrap();
        assert_eq!(wire["kind"], "report.certificate");
        assert_eq!(serde_json::from_value::<Mutation>(wire).unwrap(), good);
        let fields = |m: Mutation| -> Vec<String> {
            m.check_limits()
                .unwrap_err()
                .errors
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(certificate("image/png", 10)), ["mime"]);
        assert_eq!(
            fields(certificate(CERTIFICATE_MIME, MAX_CERTIFICATE_BYTES + 1)),
            ["size"]
        );
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let v = serde_json::json!({"kind": "installation.explode", "payload": {}});
        assert!(serde_json::from_value::<Mutation>(v).is_err());
    }

    #[test]
    fn mime_to_media_type() {
        assert_eq!(media_type_for_mime("image/jpeg"), Some(MediaType::Photo));
        assert_eq!(media_type_for_mime("video/mp4"), Some(MediaType::Video));
        assert_eq!(media_type_for_mime("application/pdf"), None);
    }
}
