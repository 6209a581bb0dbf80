//! The installation report: the local draft a technician edits (autosaved on
//! every change), the customer's signature bound to what they saw, and the
//! canonical content hash that binds the two.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::Sha256Hex;
use crate::lifecycle;
use crate::models::{BlobRef, InstallationReport, InstallationStatus};
use crate::template::{PhotoSlotFills, ReportTemplate, TemplateCheck, TemplateRef, TestResults};
use crate::validation::{self, FieldError, FieldErrorCode, ValidationErrors};

/// Upper bound on signature points, so a stuck pointer cannot grow a report
/// without limit (a full-screen signature is a few thousand points).
pub const MAX_SIGNATURE_POINTS: usize = 50_000;
/// Upper bound on strokes (each has at least one point, so this only stops
/// a flood of empty ones long before the point limit).
pub const MAX_SIGNATURE_STROKES: usize = 5_000;
/// Widest pen a stroke may claim, in CSS pixels.
pub const MAX_PEN_WIDTH: f64 = 100.0;

/// One point of a stroke as signature_pad records it (canvas CSS pixels,
/// pressure 0..1, time in ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignaturePoint {
    pub x: f64,
    pub y: f64,
    pub pressure: f64,
    pub time: f64,
}

/// One continuous stroke (pointer down → up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignatureStroke {
    pub pen_color: String,
    pub min_width: f64,
    pub max_width: f64,
    pub points: Vec<SignaturePoint>,
}

/// The customer's sign-off (docs/architecture.md "Signature evidence").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerSignature {
    /// The rendered PNG, a content-addressed blob.
    pub png: BlobRef,
    /// The raw strokes, so the signature can be re-rendered and examined.
    pub strokes: Vec<SignatureStroke>,
    pub signer_name: String,
    /// Device time when the customer confirmed.
    pub signed_at: DateTime<Utc>,
    /// [`ReportContent::hash`] of the report as it was on screen when signed.
    pub content_hash: Sha256Hex,
}

impl CustomerSignature {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        errs.check(validation::person_name("signer_name", &self.signer_name));
        if self.png.mime != "image/png" {
            errs.errors.push(FieldError::new(
                "customer_signature",
                FieldErrorCode::InvalidFormat,
                "The signature image must be a PNG",
            ));
        }
        if self.strokes.len() > MAX_SIGNATURE_STROKES {
            errs.errors.push(FieldError::new(
                "customer_signature",
                FieldErrorCode::TooLong,
                format!(
                    "The signature has {} strokes; clear it and sign again",
                    self.strokes.len()
                ),
            ));
        }
        // One colour message for the whole signature is enough.
        if let Some(Err(e)) = self
            .strokes
            .iter()
            .map(|s| validation::pen_color(&s.pen_color))
            .find(Result::is_err)
        {
            errs.errors.push(e);
        }
        let strokes_ok = self.strokes.iter().all(|s| {
            !s.points.is_empty()
                && (0.0..=MAX_PEN_WIDTH).contains(&s.min_width)
                && (0.0..=MAX_PEN_WIDTH).contains(&s.max_width)
        });
        if !strokes_ok {
            errs.errors.push(FieldError::new(
                "customer_signature",
                FieldErrorCode::InvalidFormat,
                "The signature has an empty stroke or an impossible pen width; clear it and sign again",
            ));
        }
        let points: usize = self.strokes.iter().map(|s| s.points.len()).sum();
        if points == 0 {
            errs.errors.push(FieldError::required(
                "customer_signature",
                "The signature is empty: ask the customer to sign",
            ));
        } else if points > MAX_SIGNATURE_POINTS {
            errs.errors.push(FieldError::new(
                "customer_signature",
                FieldErrorCode::TooLong,
                format!("The signature has {points} points; clear it and sign again"),
            ));
        }
        let finite = self.strokes.iter().flat_map(|s| &s.points).all(|p| {
            p.x.is_finite() && p.y.is_finite() && p.pressure.is_finite() && p.time.is_finite()
        });
        if !finite {
            errs.errors.push(FieldError::new(
                "customer_signature",
                FieldErrorCode::InvalidFormat,
                "The signature contains invalid points; clear it and sign again",
            ));
        }
        errs.into_result()
    }
}

/// The canonical content of a report — what the customer signs. Serialised as
/// compact JSON in field declaration order with media hashes sorted, then
/// SHA-256'd. Changing any of these voids the signature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportContent<'a> {
    pub installation_id: Uuid,
    pub charger_serial_number: &'a str,
    pub charger_model: &'a str,
    pub installation_successful: Option<bool>,
    pub demo_given: bool,
    pub issues_encountered: &'a str,
    pub general_notes: &'a str,
    pub start_override_reason: Option<&'a str>,
    pub media_sha256: Vec<&'a Sha256Hex>,
    // The template parts come last and only when present, so the hash of a
    // report without a template is what it was before templates existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<&'a TemplateRef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub test_results: &'a TestResults,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub photo_slots: &'a PhotoSlotFills,
}

impl ReportContent<'_> {
    pub fn hash(&self) -> Sha256Hex {
        let json = serde_json::to_vec(self).expect("plain struct serialises");
        Sha256Hex::digest(&json)
    }
}

/// What the report screen shows about a draft, answered by the backend after
/// every autosave and with the installation: the screen never restates these
/// rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReportCheck {
    /// Problems to show while typing (lengths, characters); never "required".
    pub problems: ValidationErrors,
    /// Everything that stops the report from being submitted now, in the
    /// order of the form; empty when it can be submitted. The installation's
    /// state comes first, as the field `installation_status`.
    pub missing: Vec<FieldError>,
    /// `None` when not signed; `Some(false)` when the report changed after
    /// the customer signed and they must sign again.
    pub signature_matches: Option<bool>,
    /// The template's answer (which fields and photo slots apply, what is
    /// invalid, unconfirmed or missing); `None` for a report without a
    /// template. Its blocking entries are also in `missing`.
    pub template: Option<TemplateCheck>,
}

/// The field under which a report names a template this side does not hold.
pub const TEMPLATE_FIELD: &str = "template";

/// The field name under which [`ReportDraft::check`] reports an installation
/// that cannot take its report yet.
pub const INSTALLATION_STATUS_FIELD: &str = "installation_status";

/// A report being written on the device. Local only until submitted; every
/// field may be incomplete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportDraft {
    pub installation_id: Uuid,
    pub charger_serial_number: String,
    pub charger_model: String,
    /// Unanswered until the technician says yes or no.
    pub installation_successful: Option<bool>,
    pub demo_given: bool,
    pub issues_encountered: String,
    pub general_notes: String,
    /// Recorded when the job was started with "start anyway".
    pub start_override_reason: Option<String>,
    pub customer_signature: Option<CustomerSignature>,
    pub updated_at: DateTime<Utc>,
    /// The template the draft is filled against; `None` for drafts started
    /// before templates (they submit as before).
    #[serde(default)]
    pub template: Option<TemplateRef>,
    /// Commissioning test results by field key.
    #[serde(default)]
    pub test_results: TestResults,
    /// The photo checklist: a photo or a reason per slot key.
    #[serde(default)]
    pub photo_slots: PhotoSlotFills,
}

impl ReportDraft {
    pub fn new(installation_id: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            installation_id,
            charger_serial_number: String::new(),
            charger_model: String::new(),
            installation_successful: None,
            demo_given: false,
            issues_encountered: String::new(),
            general_notes: String::new(),
            start_override_reason: None,
            customer_signature: None,
            updated_at: now,
            template: None,
            test_results: BTreeMap::new(),
            photo_slots: BTreeMap::new(),
        }
    }

    /// The content hash with the given media (order does not matter).
    pub fn content_hash<'a>(&'a self, media: impl IntoIterator<Item = &'a Sha256Hex>) -> Sha256Hex {
        let mut media_sha256: Vec<&Sha256Hex> = media.into_iter().collect();
        media_sha256.sort();
        media_sha256.dedup();
        ReportContent {
            installation_id: self.installation_id,
            charger_serial_number: &self.charger_serial_number,
            charger_model: &self.charger_model,
            installation_successful: self.installation_successful,
            demo_given: self.demo_given,
            issues_encountered: &self.issues_encountered,
            general_notes: &self.general_notes,
            start_override_reason: self.start_override_reason.as_deref(),
            media_sha256,
            template: self.template.as_ref(),
            test_results: &self.test_results,
            photo_slots: &self.photo_slots,
        }
        .hash()
    }

    /// Problems that can be shown while typing (lengths, characters), without
    /// complaining about fields not filled in yet. A draft is saved even when
    /// it has these, so nothing typed is lost.
    pub fn validate_while_editing(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let fields = [
            (
                "charger_serial_number",
                &self.charger_serial_number,
                validation::MAX_SERIAL_CHARS,
            ),
            (
                "charger_model",
                &self.charger_model,
                validation::MAX_MODEL_CHARS,
            ),
            (
                "issues_encountered",
                &self.issues_encountered,
                validation::MAX_TEXT_CHARS,
            ),
            (
                "general_notes",
                &self.general_notes,
                validation::MAX_TEXT_CHARS,
            ),
        ];
        for (field, value, max) in fields {
            errs.check(validation::optional_text(field, value, max));
        }
        errs
    }

    /// What the draft's template says about its test results and photo
    /// slots. `template` must be the version the draft names (the caller
    /// looks it up); a draft naming a template that was not found gets one
    /// blocking error instead. `None` when the draft has no template.
    pub fn check_template(
        &self,
        media: &[Sha256Hex],
        template: Option<&ReportTemplate>,
    ) -> Option<TemplateCheck> {
        let wanted = self.template.as_ref()?;
        match template.filter(|t| &t.template_ref() == wanted) {
            Some(t) => Some(t.check(&self.test_results, &self.photo_slots, media)),
            None => Some(TemplateCheck {
                missing: vec![FieldError::new(
                    TEMPLATE_FIELD,
                    FieldErrorCode::InvalidFormat,
                    format!(
                        "Report template {} version {} is not known here: sync and try again",
                        wanted.id, wanted.version
                    ),
                )],
                ..TemplateCheck::default()
            }),
        }
    }

    /// Everything missing or wrong before the report can be submitted, given
    /// the media currently attached and the template the draft names.
    pub fn validate_for_submit(
        &self,
        media: &[Sha256Hex],
        template: Option<&ReportTemplate>,
    ) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        errs.check(validation::charger_serial_number(
            &self.charger_serial_number,
        ));
        errs.check(validation::charger_model(&self.charger_model));
        match self.installation_successful {
            None => errs.errors.push(FieldError::required(
                "installation_successful",
                "Say whether the installation was successful",
            )),
            Some(false) if self.issues_encountered.trim().is_empty() => {
                errs.errors.push(FieldError::required(
                    "issues_encountered",
                    "The installation was not successful: describe the issues",
                ))
            }
            Some(_) => {}
        }
        errs.check(validation::optional_text(
            "issues_encountered",
            &self.issues_encountered,
            validation::MAX_TEXT_CHARS,
        ));
        errs.check(validation::optional_text(
            "general_notes",
            &self.general_notes,
            validation::MAX_TEXT_CHARS,
        ));
        if let Some(reason) = &self.start_override_reason {
            errs.check(validation::optional_text(
                "start_override_reason",
                reason,
                validation::MAX_REASON_CHARS,
            ));
        }
        if let Some(check) = self.check_template(media, template) {
            errs.errors.extend(check.blocking());
        }
        match &self.customer_signature {
            None => errs.errors.push(FieldError::required(
                "customer_signature",
                "The customer has not signed yet",
            )),
            Some(sig) => {
                if let Err(e) = sig.validate() {
                    errs.errors.extend(e.errors);
                }
                if sig.content_hash != self.content_hash(media) {
                    errs.errors.push(FieldError::new(
                        "customer_signature",
                        FieldErrorCode::InvalidFormat,
                        "The report changed after the customer signed: ask them to sign again",
                    ));
                }
            }
        }
        errs
    }

    /// Whether the signature still covers the content; `None` when unsigned.
    pub fn signature_matches(&self, media: &[Sha256Hex]) -> Option<bool> {
        self.customer_signature
            .as_ref()
            .map(|sig| sig.content_hash == self.content_hash(media))
    }

    /// Everything the report screen says about this draft, with the media
    /// attached now, the installation in `status` and the template the
    /// draft names.
    pub fn check(
        &self,
        media: &[Sha256Hex],
        status: InstallationStatus,
        template: Option<&ReportTemplate>,
    ) -> ReportCheck {
        let mut missing = Vec::new();
        let actions = lifecycle::technician_actions(status, true);
        if !actions.submit_report {
            let message = if actions.finish {
                "Press “Finish installation” on the installation screen first"
            } else {
                "This job cannot take a report in its current state"
            };
            missing.push(FieldError::new(
                INSTALLATION_STATUS_FIELD,
                FieldErrorCode::InvalidFormat,
                message,
            ));
        }
        missing.extend(self.validate_for_submit(media, template).errors);
        let template = self.check_template(media, template);
        let mut problems = self.validate_while_editing();
        if let Some(t) = &template {
            problems.errors.extend(t.invalid.iter().cloned());
        }
        ReportCheck {
            problems,
            missing,
            signature_matches: self.signature_matches(media),
            template,
        }
    }

    /// Turns a complete draft into the submitted report.
    pub fn into_report(
        self,
        id: Uuid,
        submitted_by: Uuid,
        submitted_at: DateTime<Utc>,
        media: &[Sha256Hex],
        template: Option<&ReportTemplate>,
    ) -> Result<InstallationReport, ValidationErrors> {
        self.validate_for_submit(media, template).into_result()?;
        let content_hash = self.content_hash(media);
        Ok(InstallationReport {
            id,
            installation_id: self.installation_id,
            submitted_by,
            // Kept exactly as signed: trimming here would change the content hash.
            charger_serial_number: self.charger_serial_number,
            charger_model: self.charger_model,
            installation_successful: self.installation_successful.unwrap_or(false),
            demo_given: self.demo_given,
            customer_signature: self.customer_signature,
            issues_encountered: self.issues_encountered,
            general_notes: self.general_notes,
            submitted_at,
            start_override_reason: self.start_override_reason,
            content_hash,
            template: self.template,
            test_results: self.test_results,
            photo_slots: self.photo_slots,
        })
    }
}

impl InstallationReport {
    /// Re-checks a submitted report (the server does this on `report.submit`).
    /// The content hash of this report's fields with `media`, computed now
    /// (the server's signature evidence check compares it with what was
    /// signed).
    pub fn recomputed_content_hash(&self, media: &[Sha256Hex]) -> Sha256Hex {
        self.as_draft().content_hash(media)
    }

    /// `template` is the version the report names (looked up by the
    /// caller); old reports keep validating against the version they were
    /// filled against, whatever is newest.
    pub fn validate(
        &self,
        media: &[Sha256Hex],
        template: Option<&ReportTemplate>,
    ) -> Result<(), ValidationErrors> {
        self.as_draft()
            .validate_for_submit(media, template)
            .into_result()?;
        if self.content_hash != self.as_draft().content_hash(media) {
            return Err(ValidationErrors {
                errors: vec![FieldError::new(
                    "content_hash",
                    FieldErrorCode::InvalidFormat,
                    "The report's content hash does not match its fields and media",
                )],
            });
        }
        Ok(())
    }

    /// The length limits and formats of every free-text field, signature
    /// included (what [`crate::Mutation::check_limits`] checks of a report).
    pub fn check_limits(&self) -> ValidationErrors {
        let draft = self.as_draft();
        let mut errs = draft.validate_while_editing();
        if let Some(reason) = &self.start_override_reason {
            errs.check(validation::optional_text(
                "start_override_reason",
                reason,
                validation::MAX_REASON_CHARS,
            ));
        }
        if let Some(Err(e)) = self
            .customer_signature
            .as_ref()
            .map(CustomerSignature::validate)
        {
            errs.errors.extend(e.errors);
        }
        errs.errors.extend(
            crate::template::check_fill_limits(
                self.template.as_ref(),
                &self.test_results,
                &self.photo_slots,
            )
            .errors,
        );
        errs
    }

    fn as_draft(&self) -> ReportDraft {
        ReportDraft {
            installation_id: self.installation_id,
            charger_serial_number: self.charger_serial_number.clone(),
            charger_model: self.charger_model.clone(),
            installation_successful: Some(self.installation_successful),
            demo_given: self.demo_given,
            issues_encountered: self.issues_encountered.clone(),
            general_notes: self.general_notes.clone(),
            start_override_reason: self.start_override_reason.clone(),
            customer_signature: self.customer_signature.clone(),
            updated_at: self.submitted_at,
            template: self.template.clone(),
            test_results: self.test_results.clone(),
            photo_slots: self.photo_slots.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 14, 30, 0).unwrap()
    }

    fn media() -> Vec<Sha256Hex> {
        vec![Sha256Hex::digest(b"photo 2"), Sha256Hex::digest(b"photo 1")]
    }

    fn complete_draft() -> ReportDraft {
        let mut d = ReportDraft::new(Uuid::from_u128(7), now());
        d.charger_serial_number = "WB-2026-0042".into();
        d.charger_model = "Wallbox Pulsar Plus 7.4 kW".into();
        d.installation_successful = Some(true);
        d.demo_given = true;
        d.general_notes = "Mounted left of the garage door.\nCable in conduit.".into();
        let hash = d.content_hash(&media());
        d.customer_signature = Some(CustomerSignature {
            png: BlobRef {
                sha256: Sha256Hex::digest(b"png"),
                size: 3,
                mime: "image/png".into(),
            },
            strokes: vec![SignatureStroke {
                pen_color: "black".into(),
                min_width: 0.5,
                max_width: 2.5,
                points: vec![
                    SignaturePoint {
                        x: 1.0,
                        y: 2.0,
                        pressure: 0.5,
                        time: 1.0,
                    },
                    SignaturePoint {
                        x: 3.0,
                        y: 4.0,
                        pressure: 0.5,
                        time: 2.0,
                    },
                ],
            }],
            signer_name: "Ada Lovelace".into(),
            signed_at: now(),
            content_hash: hash,
        });
        d
    }

    #[test]
    fn complete_draft_submits() {
        let d = complete_draft();
        assert!(d.validate_for_submit(&media(), None).is_empty());
        let r = d
            .into_report(
                Uuid::from_u128(1),
                Uuid::from_u128(2),
                now(),
                &media(),
                None,
            )
            .unwrap();
        assert!(r.validate(&media(), None).is_ok());
        assert_eq!(
            r.content_hash,
            r.customer_signature.as_ref().unwrap().content_hash
        );
    }

    #[test]
    fn empty_draft_lists_everything_missing() {
        let d = ReportDraft::new(Uuid::from_u128(7), now());
        let errs = d.validate_for_submit(&[], None);
        let fields: Vec<&str> = errs.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "charger_serial_number",
                "charger_model",
                "installation_successful",
                "customer_signature"
            ]
        );
        assert!(d.validate_while_editing().is_empty());
    }

    #[test]
    fn changing_anything_after_signing_voids_the_signature() {
        let mut d = complete_draft();
        d.general_notes.push('!');
        let errs = d.validate_for_submit(&media(), None);
        assert_eq!(errs.errors.len(), 1);
        assert!(errs.errors[0].message.contains("sign again"));

        let d = complete_draft();
        let mut more = media();
        more.push(Sha256Hex::digest(b"photo 3"));
        assert!(
            !d.validate_for_submit(&more, None).is_empty(),
            "adding a photo voids it"
        );
    }

    #[test]
    fn media_order_does_not_change_the_hash() {
        let d = complete_draft();
        let mut reversed = media();
        reversed.reverse();
        assert_eq!(d.content_hash(&media()), d.content_hash(&reversed));
        assert_ne!(d.content_hash(&media()), d.content_hash(&[]));
    }

    #[test]
    fn unsuccessful_installation_needs_issues() {
        let mut d = complete_draft();
        d.installation_successful = Some(false);
        let hash = d.content_hash(&media());
        d.customer_signature.as_mut().unwrap().content_hash = hash;
        let errs = d.validate_for_submit(&media(), None);
        assert_eq!(errs.errors[0].field, "issues_encountered");
    }

    #[test]
    fn bad_signature_is_refused() {
        let mut d = complete_draft();
        let sig = d.customer_signature.as_mut().unwrap();
        sig.strokes.clear();
        sig.signer_name = " ".into();
        sig.png.mime = "image/jpeg".into();
        let errs = d.validate_for_submit(&media(), None);
        assert_eq!(errs.errors.len(), 3, "{errs:?}");
    }

    #[test]
    fn check_lists_what_is_missing_in_form_order_with_the_job_state_first() {
        let d = ReportDraft::new(Uuid::from_u128(7), now());
        let check = d.check(&[], InstallationStatus::InProgress, None);
        let fields: Vec<&str> = check.missing.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                INSTALLATION_STATUS_FIELD,
                "charger_serial_number",
                "charger_model",
                "installation_successful",
                "customer_signature"
            ]
        );
        assert!(check.missing[0].message.contains("Finish installation"));
        assert!(check.problems.is_empty());
        assert_eq!(check.signature_matches, None);

        let check = d.check(&[], InstallationStatus::Cancelled, None);
        assert!(check.missing[0].message.contains("cannot take a report"));
        let check = d.check(&[], InstallationStatus::Completed, None);
        assert_eq!(check.missing[0].field, "charger_serial_number");
    }

    #[test]
    fn check_of_a_complete_signed_draft_is_empty_until_something_changes() {
        let mut d = complete_draft();
        let check = d.check(&media(), InstallationStatus::Completed, None);
        assert!(check.missing.is_empty(), "{:?}", check.missing);
        assert_eq!(check.signature_matches, Some(true));

        d.charger_model.push('!');
        let check = d.check(&media(), InstallationStatus::Completed, None);
        assert_eq!(check.signature_matches, Some(false));
        assert_eq!(check.missing.len(), 1);
        assert!(check.missing[0].message.contains("sign again"));
        // A photo added after signing voids it too.
        let d = complete_draft();
        let mut more = media();
        more.push(Sha256Hex::digest(b"photo 3"));
        assert_eq!(d.signature_matches(&more), Some(false));
    }

    #[test]
    fn check_reports_typing_problems_both_while_editing_and_before_submit() {
        let mut d = ReportDraft::new(Uuid::from_u128(7), now());
        d.charger_model = "Zappi\u{7}".into();
        d.installation_successful = Some(false);
        let check = d.check(&[], InstallationStatus::Completed, None);
        assert_eq!(check.problems.errors.len(), 1);
        assert_eq!(check.problems.errors[0].field, "charger_model");
        let fields: Vec<&str> = check.missing.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "charger_serial_number",
                "charger_model",
                "issues_encountered",
                "customer_signature"
            ]
        );
        assert_eq!(check.missing[1].code, FieldErrorCode::ControlCharacters);
    }

    #[test]
    fn editing_validation_flags_lengths_only() {
        let mut d = ReportDraft::new(Uuid::from_u128(7), now());
        d.charger_serial_number = "x".repeat(51);
        let errs = d.validate_while_editing();
        assert_eq!(errs.errors.len(), 1);
        assert_eq!(errs.errors[0].code, FieldErrorCode::TooLong);
    }

    #[test]
    fn a_report_without_a_template_hashes_as_before_templates() {
        let d = complete_draft();
        let content = serde_json::to_value(ReportContent {
            installation_id: d.installation_id,
            charger_serial_number: &d.charger_serial_number,
            charger_model: &d.charger_model,
            installation_successful: d.installation_successful,
            demo_given: d.demo_given,
            issues_encountered: &d.issues_encountered,
            general_notes: &d.general_notes,
            start_override_reason: None,
            media_sha256: vec![],
            template: None,
            test_results: &BTreeMap::new(),
            photo_slots: &BTreeMap::new(),
        })
        .unwrap();
        let keys: Vec<&String> = content.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 9, "no template keys: {keys:?}");
        // Pinned: the hash of this draft from before templates existed.
        assert_eq!(
            d.content_hash(&media()).as_str(),
            "090b6ec6d327a6191dbe9d816655a8ba5fdc9000162d0847cb110a3cdca6b75e"
        );
    }

    #[test]
    fn a_draft_with_a_template_is_checked_against_that_version() {
        let template = crate::default_uk_template();
        let mut d = complete_draft();
        d.template = Some(template.template_ref());
        let check = d.check(&media(), InstallationStatus::Completed, Some(&template));
        let t = check.template.as_ref().unwrap();
        assert!(!t.missing.is_empty());
        // Every blocking template entry is in `missing` too, after the
        // report's own fields; the signature no longer matches since the
        // template was named after signing.
        let fields: Vec<&str> = check.missing.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields[0], "test_results.earthing_arrangement");
        assert_eq!(*fields.last().unwrap(), "customer_signature");

        // The device or server lacking that version blocks with one clear error.
        let mut newer = template.clone();
        newer.version = 2;
        let check = d.check(&media(), InstallationStatus::Completed, Some(&newer));
        assert_eq!(check.missing[0].field, TEMPLATE_FIELD);
        assert!(check.missing[0]
            .message
            .contains("version 1 is not known here"));
        assert!(d.validate_for_submit(&media(), None).errors[0].field == TEMPLATE_FIELD);
    }

    #[test]
    fn test_results_and_photo_slots_are_part_of_what_is_signed() {
        let mut d = complete_draft();
        let before = d.content_hash(&media());
        d.template = Some(crate::default_uk_template().template_ref());
        let with_template = d.content_hash(&media());
        assert_ne!(before, with_template);
        d.test_results.insert(
            "zs".into(),
            crate::TestValue {
                value: "0.48".into(),
                confirmed: None,
            },
        );
        let with_result = d.content_hash(&media());
        assert_ne!(with_template, with_result);
        d.photo_slots.insert(
            "earthing".into(),
            crate::SlotFill::NoPhoto {
                reason: "Behind the meter cabinet".into(),
            },
        );
        assert_ne!(with_result, d.content_hash(&media()));
    }
}
