//! Every technician action: the change, its outbox entry, and refusals.

mod common;

use common::{signature, write_jpeg, Fixture};
use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{
    AssignmentStatus, FieldErrorCode, InstallationStatus, Mutation, MutationKind, ReportDraft,
};
use fieldbook_store::{AssignmentResponse, StoreError};

use InstallationStatus::*;

fn kinds(f: &Fixture) -> Vec<MutationKind> {
    f.store
        .pending_outbox(100)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect()
}

fn field_codes(err: &StoreError) -> Vec<(String, FieldErrorCode)> {
    err.validation_errors()
        .unwrap_or_else(|| panic!("not a validation error: {err:?}"))
        .errors
        .iter()
        .map(|e| (e.field.clone(), e.code))
        .collect()
}

/// A filled-in draft for `installation_id`.
fn complete_draft(f: &Fixture, job: uuid::Uuid) -> ReportDraft {
    let mut d = f.store.get_report_draft(job).unwrap().unwrap();
    d.charger_serial_number = "ZP-2026-00042".into();
    d.charger_model = "Zappi 7kW".into();
    d.installation_successful = Some(true);
    d.demo_given = true;
    d.general_notes = "Customer shown the app".into();
    fieldbook_testkit::fill_default_template(&mut d);
    d
}

#[test]
fn start_from_confirmed_records_the_move_and_one_outbox_entry() {
    let mut f = Fixture::new();
    let job = f.add_job(Confirmed, "Ada Lovelace");
    let inst = f
        .store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    assert_eq!(inst.status, InProgress);

    let detail = f.store.get_installation(job.id).unwrap();
    assert_eq!(detail.installation.status, InProgress);
    assert!(
        detail.report_draft.is_some(),
        "starting opens a report draft"
    );
    assert_eq!(detail.pending_changes, 1);

    let entries = f.store.pending_outbox(10).unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.kind, MutationKind::InstallationStart);
    assert_eq!(e.device_id, f.store.device_id());
    assert_eq!(e.installation_id, Some(job.id));
    assert_eq!(e.base_version, Some(detail.server_version));
    assert_eq!(e.attempts, 0);
    match &e.mutation {
        Mutation::InstallationStart {
            installation_id,
            expected_from,
            override_reason,
            ..
        } => {
            assert_eq!(*installation_id, job.id);
            assert_eq!(*expected_from, Confirmed);
            assert_eq!(*override_reason, None);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn start_anyway_needs_a_reason_and_records_it_in_the_draft() {
    let mut f = Fixture::new();
    let job = f.add_job(MaterialReady, "Ada Lovelace");
    let err = f
        .store
        .start_installation(job.id, &StartRequest::default())
        .unwrap_err();
    assert_eq!(err.code(), "validation");
    assert_eq!(
        field_codes(&err),
        vec![("override_reason".into(), FieldErrorCode::Required)]
    );
    assert!(kinds(&f).is_empty());

    let request = StartRequest {
        override_reason: Some("  Customer confirmed by phone on the doorstep ".into()),
    };
    f.store.start_installation(job.id, &request).unwrap();
    let draft = f.store.get_report_draft(job.id).unwrap().unwrap();
    assert_eq!(
        draft.start_override_reason.as_deref(),
        Some("Customer confirmed by phone on the doorstep")
    );
    match &f.store.pending_outbox(1).unwrap()[0].mutation {
        Mutation::InstallationStart {
            expected_from,
            override_reason,
            ..
        } => {
            assert_eq!(*expected_from, MaterialReady);
            assert_eq!(
                override_reason.as_deref(),
                Some("Customer confirmed by phone on the doorstep")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn start_is_refused_from_states_with_no_start() {
    let mut f = Fixture::new();
    for status in [
        InProgress,
        Completed,
        ReportSubmitted,
        Closed,
        Rescheduled,
        Cancelled,
    ] {
        let job = f.add_job(status, "Ada Lovelace");
        let err = f
            .store
            .start_installation(
                job.id,
                &StartRequest {
                    override_reason: Some("please".into()),
                },
            )
            .unwrap_err();
        assert_eq!(err.code(), "lifecycle", "{status}: {err:?}");
        assert_eq!(
            f.store
                .get_installation(job.id)
                .unwrap()
                .installation
                .status,
            status
        );
    }
    assert!(kinds(&f).is_empty());
    let err = f
        .store
        .start_installation(uuid::Uuid::new_v4(), &StartRequest::default())
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

#[test]
fn finish_and_could_not_complete() {
    let mut f = Fixture::new();
    let a = f.add_job(InProgress, "Ada Lovelace");
    let b = f.add_job(InProgress, "Grace Hopper");
    let c = f.add_job(Confirmed, "Alan Turing");

    assert_eq!(f.store.finish_installation(a.id).unwrap().status, Completed);
    assert_eq!(
        f.store.finish_installation(c.id).unwrap_err().code(),
        "lifecycle"
    );

    let err = f.store.could_not_complete(b.id, "   ").unwrap_err();
    assert_eq!(
        field_codes(&err),
        vec![("reason".into(), FieldErrorCode::Required)]
    );
    let inst = f
        .store
        .could_not_complete(b.id, "No isolator switch on site")
        .unwrap();
    assert_eq!(inst.status, Rescheduled);
    assert_eq!(
        inst.status_reason.as_deref(),
        Some("No isolator switch on site")
    );
    assert_eq!(
        f.store.could_not_complete(c.id, "x").unwrap_err().code(),
        "lifecycle"
    );

    assert_eq!(
        kinds(&f),
        vec![
            MutationKind::InstallationFinish,
            MutationKind::InstallationCouldNotComplete
        ]
    );
    match &f.store.pending_outbox(10).unwrap()[1].mutation {
        Mutation::InstallationCouldNotComplete {
            reason,
            expected_from,
            ..
        } => {
            assert_eq!(reason, "No isolator switch on site");
            assert_eq!(*expected_from, InProgress);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn set_flags_carries_base_values_and_skips_no_ops() {
    let mut f = Fixture::new();
    let job = f.add_job(Confirmed, "Ada Lovelace");
    let inst = f
        .store
        .set_installation_flags(job.id, Some(true), None)
        .unwrap();
    assert!(inst.customer_confirmed);
    assert!(!inst.demo_completed);
    // Same values again: nothing to send.
    f.store
        .set_installation_flags(job.id, Some(true), Some(false))
        .unwrap();
    let entries = f.store.pending_outbox(10).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].mutation,
        Mutation::InstallationSetFlags {
            installation_id: job.id,
            customer_confirmed: Some(true),
            demo_completed: None,
            base_customer_confirmed: false,
            base_demo_completed: false,
        }
    );
    let detail = f.store.get_installation(job.id).unwrap();
    assert!(detail.installation.customer_confirmed);
}

#[test]
fn respond_to_assignment_accept_and_decline() {
    let mut f = Fixture::new();
    let a = f.add_job(Confirmed, "Ada Lovelace");
    let b = f.add_job(Confirmed, "Grace Hopper");

    let accepted = f
        .store
        .respond_to_assignment(a.assignment_id, &AssignmentResponse::Accept)
        .unwrap();
    assert_eq!(accepted.status, AssignmentStatus::Accepted);
    assert!(accepted.responded_at.is_some());
    // Answering twice is refused.
    let err = f
        .store
        .respond_to_assignment(a.assignment_id, &AssignmentResponse::Accept)
        .unwrap_err();
    assert_eq!(err.code(), "lifecycle");

    let err = f
        .store
        .respond_to_assignment(
            b.assignment_id,
            &AssignmentResponse::Decline { reason: "".into() },
        )
        .unwrap_err();
    assert_eq!(
        field_codes(&err),
        vec![("reason".into(), FieldErrorCode::Required)]
    );
    let declined = f
        .store
        .respond_to_assignment(
            b.assignment_id,
            &AssignmentResponse::Decline {
                reason: "Van off the road".into(),
            },
        )
        .unwrap();
    assert_eq!(declined.status, AssignmentStatus::Declined);
    assert_eq!(declined.decline_reason.as_deref(), Some("Van off the road"));

    let detail = f.store.get_installation(b.id).unwrap();
    assert_eq!(detail.assignments.len(), 1);
    assert_eq!(
        detail.assignments[0].assignment.status,
        AssignmentStatus::Declined
    );
    assert!(detail.assignments[0].is_mine);
    assert_eq!(detail.assignments[0].team.as_ref().unwrap().name, "North 1");

    let entries = f.store.pending_outbox(10).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].installation_id, Some(b.id));
    match &entries[1].mutation {
        Mutation::AssignmentRespond {
            assignment_id,
            response,
            reason,
            ..
        } => {
            assert_eq!(*assignment_id, b.assignment_id);
            assert_eq!(*response, AssignmentStatus::Declined);
            assert_eq!(reason.as_deref(), Some("Van off the road"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        f.store
            .respond_to_assignment(uuid::Uuid::new_v4(), &AssignmentResponse::Accept)
            .unwrap_err()
            .code(),
        "not_found"
    );
}

#[test]
fn draft_autosave_keeps_what_was_typed_and_reports_problems() {
    let mut f = Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    let outbox_before = kinds(&f).len();

    let mut draft = f.store.get_report_draft(job.id).unwrap().unwrap();
    draft.charger_serial_number = "S".repeat(60);
    draft.general_notes = "Line one\nline two\u{7}".into();
    let saved = f.store.save_report_draft(&draft).unwrap();
    let problems: Vec<_> = saved
        .check
        .problems
        .errors
        .iter()
        .map(|e| (e.field.as_str(), e.code))
        .collect();
    assert_eq!(
        problems,
        vec![
            ("charger_serial_number", FieldErrorCode::TooLong),
            ("general_notes", FieldErrorCode::ControlCharacters)
        ]
    );
    assert_eq!(saved.check.signature_matches, None);
    let stored = f.store.get_report_draft(job.id).unwrap().unwrap();
    assert_eq!(
        stored.charger_serial_number,
        "S".repeat(60),
        "saved as typed"
    );
    assert_eq!(stored.general_notes, "Line one\nline two\u{7}");
    assert_eq!(kinds(&f).len(), outbox_before, "drafts are local only");
}

/// The screens ask the backend what a technician may do and what the report
/// still needs: the detail and every autosave carry the domain's answers.
#[test]
fn detail_and_autosave_carry_the_allowed_moves_and_what_the_report_needs() {
    let mut f = Fixture::new();
    let job = f.add_job(MaterialReady, "Ada Lovelace");
    let detail = f.store.get_installation(job.id).unwrap();
    assert_eq!(
        detail.actions,
        fieldbook_domain::lifecycle::technician_actions(MaterialReady, false)
    );
    assert!(detail.actions.start.unwrap().needs_override);
    assert!(!detail.actions.open_report, "no work on site yet");
    let check = detail.report_check.expect("an empty report is checked");
    assert!(check.missing[0].message.contains("cannot take a report"));

    f.store
        .start_installation(
            job.id,
            &StartRequest {
                override_reason: Some("Customer insisted".into()),
            },
        )
        .unwrap();
    let detail = f.store.get_installation(job.id).unwrap();
    assert!(detail.actions.start.is_none());
    assert!(detail.actions.finish && detail.actions.could_not_complete);
    assert!(detail.actions.open_report && !detail.actions.submit_report);
    let missing: Vec<_> = detail.report_check.unwrap().missing;
    assert_eq!(missing[0].field, "installation_status");
    assert!(missing[0].message.contains("Finish installation"));

    f.store.finish_installation(job.id).unwrap();
    let saved = f
        .store
        .save_report_draft(&complete_draft(&f, job.id))
        .unwrap();
    let fields: Vec<_> = saved
        .check
        .missing
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(
        fields,
        ["customer_signature"],
        "only the signature is missing"
    );

    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    let detail = f.store.get_installation(job.id).unwrap();
    assert!(detail.actions.submit_report);
    let check = detail.report_check.unwrap();
    assert!(check.missing.is_empty(), "{:?}", check.missing);
    assert_eq!(check.signature_matches, Some(true));

    // A photo added after signing voids the signature, in the detail too.
    let photo = write_jpeg(f.dir.path(), "late.jpg", 3);
    f.store.attach_media(job.id, &photo, "").unwrap();
    let check = f
        .store
        .get_installation(job.id)
        .unwrap()
        .report_check
        .unwrap();
    assert_eq!(check.signature_matches, Some(false));
    assert!(check.missing[0].message.contains("sign again"));

    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    f.store.submit_report(job.id).unwrap();
    let detail = f.store.get_installation(job.id).unwrap();
    assert!(
        detail.report_check.is_none(),
        "a submitted report is not checked"
    );
    assert!(detail.actions.open_report && !detail.actions.submit_report);
}

#[test]
fn draft_cannot_forge_signature_or_override_reason() {
    let mut f = Fixture::new();
    let job = f.add_job(MaterialReady, "Ada Lovelace");
    f.store
        .start_installation(
            job.id,
            &StartRequest {
                override_reason: Some("Customer insisted".into()),
            },
        )
        .unwrap();
    let mut draft = complete_draft(&f, job.id);
    draft.start_override_reason = None;
    let signed = f
        .store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    draft.customer_signature = None;
    let saved = f.store.save_report_draft(&draft).unwrap();
    assert_eq!(
        saved.draft.start_override_reason.as_deref(),
        Some("Customer insisted")
    );
    assert_eq!(saved.draft.customer_signature, signed.customer_signature);
    // The content changed after signing (fields were filled in).
    assert_eq!(saved.check.signature_matches, Some(false));
}

#[test]
fn sign_then_submit_completes_the_job() {
    let mut f = Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "charger.jpg", 1);
    let media = f
        .store
        .attach_media(job.id, &photo, "Charger on wall")
        .unwrap();
    f.store.finish_installation(job.id).unwrap();
    let saved = f
        .store
        .save_report_draft(&complete_draft(&f, job.id))
        .unwrap();
    assert!(
        saved.check.problems.is_empty(),
        "{:?}",
        saved.check.problems
    );

    let draft = f
        .store
        .sign_report(job.id, &signature("  Ada Lovelace "))
        .unwrap();
    let sig = draft.customer_signature.clone().unwrap();
    assert_eq!(sig.signer_name, "Ada Lovelace");
    assert_eq!(sig.png.mime, "image/png");
    assert_eq!(sig.content_hash, draft.content_hash([&media.file.sha256]));
    assert!(f.store.media_store().contains(&sig.png.sha256));

    let report = f.store.submit_report(job.id).unwrap();
    assert_eq!(report.submitted_by, f.technician.id);
    assert_eq!(report.charger_serial_number, "ZP-2026-00042");
    assert!(report.installation_successful);
    assert_eq!(report.customer_signature.as_ref(), Some(&sig));

    let detail = f.store.get_installation(job.id).unwrap();
    assert_eq!(detail.installation.status, ReportSubmitted);
    assert!(
        detail.installation.demo_completed,
        "demo_completed follows demo_given"
    );
    assert_eq!(detail.report.as_ref(), Some(&report));
    assert_eq!(
        detail.assignments[0].assignment.status,
        AssignmentStatus::Completed
    );

    let entries = f.store.pending_outbox(10).unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.kind, MutationKind::ReportSubmit);
    assert_eq!(
        last.mutation,
        Mutation::ReportSubmit {
            report: Box::new(report.clone())
        }
    );
    // Photo and signature both wait for upload.
    let uploads = f.store.blobs_pending_upload(10).unwrap();
    let hashes: Vec<_> = uploads.iter().map(|b| b.blob.sha256.clone()).collect();
    assert!(hashes.contains(&media.file.sha256));
    assert!(hashes.contains(&sig.png.sha256));

    // Read-only from now on.
    let outbox_len = entries.len();
    let err = f
        .store
        .save_report_draft(&complete_draft(&f, job.id))
        .unwrap_err();
    assert_eq!(err.code(), "report_submitted");
    assert_eq!(
        f.store
            .sign_report(job.id, &signature("X"))
            .unwrap_err()
            .code(),
        "report_submitted"
    );
    assert_eq!(
        f.store.submit_report(job.id).unwrap_err().code(),
        "report_submitted"
    );
    assert_eq!(
        f.store.remove_media(media.id).unwrap_err().code(),
        "report_submitted"
    );
    let photo2 = write_jpeg(f.dir.path(), "late.jpg", 2);
    assert_eq!(
        f.store
            .attach_media(job.id, &photo2, "")
            .unwrap_err()
            .code(),
        "report_submitted"
    );
    assert_eq!(f.store.pending_outbox(100).unwrap().len(), outbox_len);
}

#[test]
fn submit_is_refused_with_field_errors_until_the_report_is_complete_and_signed() {
    let mut f = Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    f.store.finish_installation(job.id).unwrap();

    let err = f.store.submit_report(job.id).unwrap_err();
    let fields: Vec<String> = field_codes(&err).into_iter().map(|(f, _)| f).collect();
    // The report's own fields, then what the default template (pinned
    // when the job started) needs, then the signature.
    assert_eq!(
        fields[..4],
        [
            "charger_serial_number",
            "charger_model",
            "installation_successful",
            "test_results.earthing_arrangement",
        ]
    );
    assert!(fields.contains(&"photo_slots.serial-label".to_owned()));
    assert_eq!(fields.last().unwrap(), "customer_signature");

    // Signed, then the report changed: the signature no longer matches.
    f.store
        .save_report_draft(&complete_draft(&f, job.id))
        .unwrap();
    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    let photo = write_jpeg(f.dir.path(), "after.jpg", 3);
    f.store.attach_media(job.id, &photo, "").unwrap();
    let err = f.store.submit_report(job.id).unwrap_err();
    assert_eq!(
        field_codes(&err),
        vec![("customer_signature".into(), FieldErrorCode::InvalidFormat)]
    );
    assert_eq!(
        f.store
            .get_installation(job.id)
            .unwrap()
            .installation
            .status,
        Completed
    );
    assert!(f.store.get_report(job.id).unwrap().is_none());

    // Re-signing fixes it.
    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    f.store.submit_report(job.id).unwrap();
}

#[test]
fn submit_is_refused_before_the_job_is_finished() {
    let mut f = Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    f.store
        .save_report_draft(&complete_draft(&f, job.id))
        .unwrap();
    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    let err = f.store.submit_report(job.id).unwrap_err();
    assert_eq!(err.code(), "lifecycle", "{err:?}");
    assert!(f.store.get_report(job.id).unwrap().is_none());
}

#[test]
fn submit_needs_a_signed_in_user() {
    let mut f = Fixture::new();
    let job = f.add_job(InProgress, "Ada Lovelace");
    f.store.sign_out().unwrap();
    assert_eq!(
        f.store.submit_report(job.id).unwrap_err().code(),
        "not_signed_in"
    );
}

#[test]
fn signature_must_be_a_real_png_with_strokes_and_a_name() {
    let mut f = Fixture::new();
    let job = f.add_job(InProgress, "Ada Lovelace");
    let mut input = signature("");
    input.strokes.clear();
    let err = f.store.sign_report(job.id, &input).unwrap_err();
    let fields: Vec<String> = field_codes(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, vec!["signer_name", "customer_signature"]);

    let mut not_png = signature("Ada");
    not_png.png = b"definitely not an image".to_vec();
    let err = f.store.sign_report(job.id, &not_png).unwrap_err();
    assert!(matches!(err, StoreError::Media(_)), "{err:?}");
    assert!(f.store.get_report_draft(job.id).unwrap().is_none());
}

#[test]
fn media_attach_caption_remove() {
    let mut f = Fixture::new();
    let job = f.add_job(InProgress, "Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "p.jpg", 9);

    let err = f
        .store
        .attach_media(job.id, &photo, &"c".repeat(256))
        .unwrap_err();
    assert_eq!(
        field_codes(&err),
        vec![("caption".into(), FieldErrorCode::TooLong)]
    );

    let mut progress = Vec::new();
    let media = f
        .store
        .attach_media_with_progress(job.id, &photo, "Before", &mut |done, total| {
            progress.push((done, total))
        })
        .unwrap();
    assert_eq!(media.media_type, fieldbook_domain::MediaType::Photo);
    assert_eq!(media.uploaded_by, f.technician.id);
    assert_eq!(media.file.mime, "image/jpeg");
    assert_eq!(media.file.size, std::fs::metadata(&photo).unwrap().len());
    assert!(f.store.media_store().contains(&media.file.sha256));
    assert_eq!(progress.last(), Some(&(media.file.size, media.file.size)));

    // The same file twice is two attachments but one upload.
    let twin = f.store.attach_media(job.id, &photo, "").unwrap();
    assert_eq!(twin.file.sha256, media.file.sha256);
    assert_eq!(f.store.blobs_pending_upload(10).unwrap().len(), 1);

    let renamed = f.store.set_media_caption(media.id, "Before work").unwrap();
    assert_eq!(renamed.caption, "Before work");
    assert_eq!(
        f.store
            .set_media_caption(media.id, "bad\u{1}")
            .unwrap_err()
            .code(),
        "validation"
    );
    f.store.remove_media(twin.id).unwrap();
    assert_eq!(
        f.store.remove_media(twin.id).unwrap_err().code(),
        "not_found"
    );

    let detail = f.store.get_installation(job.id).unwrap();
    assert_eq!(detail.media, vec![renamed]);
    assert_eq!(
        kinds(&f),
        vec![
            MutationKind::MediaAttach,
            MutationKind::MediaAttach,
            MutationKind::MediaCaption,
            MutationKind::MediaRemove
        ]
    );
    match &f.store.pending_outbox(1).unwrap()[0].mutation {
        Mutation::MediaAttach { media: m } => assert_eq!(m.id, media.id),
        other => panic!("unexpected {other:?}"),
    }

    let missing = f.dir.path().join("missing.jpg");
    assert!(f.store.attach_media(job.id, &missing, "").is_err());
    let not_image = f.dir.path().join("fake.jpg");
    std::fs::write(&not_image, b"hello, not a photo").unwrap();
    let err = f.store.attach_media(job.id, &not_image, "").unwrap_err();
    assert_eq!(err.code(), "not_media", "{err:?}");
    assert_eq!(kinds(&f).len(), 4);
}

#[test]
fn a_report_submitted_elsewhere_makes_the_job_read_only_here_too() {
    let mut f = Fixture::new();
    for status in [ReportSubmitted, Closed] {
        let job = f.add_job(status, "Ada Lovelace");
        let draft = ReportDraft::new(job.id, common::t0());
        assert_eq!(
            f.store.save_report_draft(&draft).unwrap_err().code(),
            "report_submitted"
        );
        let photo = write_jpeg(f.dir.path(), "p.jpg", 1);
        assert_eq!(
            f.store.attach_media(job.id, &photo, "").unwrap_err().code(),
            "report_submitted"
        );
    }
    assert!(kinds(&f).is_empty());
}

#[test]
fn only_the_uploader_changes_or_removes_a_photo() {
    // The server refuses media.caption / media.remove from anyone but the
    // uploader: recording them here would only park them as rejected.
    let mut f = Fixture::new();
    let job = f.add_job(InProgress, "Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "p.jpg", 9);
    let media = f.store.attach_media(job.id, &photo, "Before").unwrap();
    let teammate = fieldbook_domain::User {
        id: uuid::Uuid::new_v4(),
        username: "tech.kim".into(),
        full_name: "Kim Tech".into(),
        role: fieldbook_domain::Role::Technician,
    };
    for e in f.store.pending_outbox(10).unwrap() {
        f.store.acknowledge_outbox(e.mutation_id, 30).unwrap();
    }
    f.store.sign_out().unwrap();
    assert_eq!(
        f.store.set_media_caption(media.id, "x").unwrap_err().code(),
        "not_signed_in"
    );
    f.store.sign_in(&teammate, &[f.team.id]).unwrap();
    let err = f.store.set_media_caption(media.id, "Mine now").unwrap_err();
    assert_eq!(err.code(), "not_permitted", "{err:?}");
    let err = f.store.remove_media(media.id).unwrap_err();
    assert_eq!(err.code(), "not_permitted", "{err:?}");
    assert_eq!(f.store.get_media(media.id).unwrap(), media);
    assert!(kinds(&f).is_empty());
}

#[test]
fn changing_the_media_after_signing_voids_the_signature_but_not_a_caption() {
    let mut f = Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "a.jpg", 1);
    let kept = f.store.attach_media(job.id, &photo, "Wall").unwrap();
    let extra = write_jpeg(f.dir.path(), "b.jpg", 2);
    let extra = f.store.attach_media(job.id, &extra, "Extra").unwrap();
    f.store.finish_installation(job.id).unwrap();
    f.store
        .save_report_draft(&complete_draft(&f, job.id))
        .unwrap();
    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();

    // Captions are not signed content.
    f.store.set_media_caption(kept.id, "Wall, left").unwrap();
    let saved = f
        .store
        .save_report_draft(&f.store.get_report_draft(job.id).unwrap().unwrap())
        .unwrap();
    assert_eq!(saved.check.signature_matches, Some(true));

    // Removing a photo the customer saw voids the signature: no submit
    // until they sign again.
    f.store.remove_media(extra.id).unwrap();
    let saved = f
        .store
        .save_report_draft(&f.store.get_report_draft(job.id).unwrap().unwrap())
        .unwrap();
    assert_eq!(saved.check.signature_matches, Some(false));
    let err = f.store.submit_report(job.id).unwrap_err();
    assert_eq!(
        field_codes(&err),
        vec![("customer_signature".into(), FieldErrorCode::InvalidFormat)]
    );
    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    let report = f.store.submit_report(job.id).unwrap();

    // After submission a caption may still change (the server accepts it);
    // the submitted report is untouched.
    f.store
        .set_media_caption(kept.id, "Wall, left side")
        .unwrap();
    assert_eq!(f.store.get_report(job.id).unwrap(), Some(report));
    assert_eq!(kinds(&f).last(), Some(&MutationKind::MediaCaption));
}

/// Issue 15: the device applies the shared signature limits as it builds the
/// signature, so it never queues one the server would refuse.
#[test]
fn a_signature_with_a_forged_pen_colour_or_empty_strokes_is_refused() {
    let mut f = Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    let mut forged = signature("Ada Lovelace");
    forged.strokes[0].pen_color = "#".repeat(2 * 1024 * 1024);
    let err = f.store.sign_report(job.id, &forged).unwrap_err();
    assert_eq!(
        field_codes(&err),
        [("pen_color".into(), FieldErrorCode::TooLong)]
    );
    let mut empty = signature("Ada Lovelace");
    let blank = fieldbook_domain::SignatureStroke {
        points: Vec::new(),
        ..empty.strokes[0].clone()
    };
    empty.strokes.extend(std::iter::repeat_n(blank, 10));
    let err = f.store.sign_report(job.id, &empty).unwrap_err();
    assert_eq!(
        field_codes(&err),
        [("customer_signature".into(), FieldErrorCode::InvalidFormat)]
    );
    let draft = f.store.get_report_draft(job.id).unwrap().unwrap();
    assert!(draft.customer_signature.is_none());
}

/// A photo of a label whose QR code says `payload`.
fn qr_label_photo(dir: &std::path::Path, name: &str, payload: &str) -> std::path::PathBuf {
    use rxing::Writer;
    let matrix = rxing::MultiFormatWriter
        .encode(payload, &rxing::BarcodeFormat::QR_CODE, 0, 0)
        .unwrap();
    let module = 8;
    let margin = 120;
    let side = matrix.width() * module + 2 * margin;
    let photo = image::GrayImage::from_fn(side, side, |x, y| {
        let inside = |v: u32| v >= margin && v < side - margin;
        let dark =
            inside(x) && inside(y) && matrix.get((x - margin) / module, (y - margin) / module);
        image::Luma([if dark { 25 } else { 235 }])
    });
    let path = dir.join(name);
    photo.save(&path).unwrap();
    path
}

/// Runs the label searches the imports queued, as the app's background
/// reader does. Returns how many photos were searched.
fn search_labels(store: &mut fieldbook_store::Store) -> usize {
    let mut searched = 0;
    while let Some(waiting) = store.next_label_search().unwrap() {
        let search = store
            .media_store()
            .search_label_codes(
                &waiting.sha256,
                waiting.depth,
                std::time::Duration::from_secs(60),
            )
            .unwrap();
        let finished = store
            .record_label_search(waiting.media_id, waiting.depth, &search)
            .unwrap();
        // Only a quick look that found nothing leaves more to do.
        let quick = waiting.depth == fieldbook_media::label_codes::SearchDepth::Quick;
        assert_eq!(finished, !(quick && search.codes.is_empty()));
        if finished {
            searched += 1;
        }
    }
    searched
}

#[test]
fn a_label_photo_offers_its_serial_and_model_after_its_search_until_it_is_removed() {
    let mut f = Fixture::new();
    let job = f.add_job(InProgress, "Ada Lovelace");
    let plain = write_jpeg(f.dir.path(), "wall.jpg", 4);
    f.store.attach_media(job.id, &plain, "").unwrap();
    assert_eq!(search_labels(&mut f.store), 1);
    assert!(f.store.label_offers(job.id).unwrap().is_empty());

    let label = qr_label_photo(
        f.dir.path(),
        "label.png",
        "SN=EVC-22-0042;MODEL=Pulsar Plus",
    );
    let media = f
        .store
        .attach_media(job.id, &label, "Serial label")
        .unwrap();
    // The import does not search: nothing is offered until the search ran,
    // and the quick look comes first.
    assert!(f.store.label_offers(job.id).unwrap().is_empty());
    let next = f.store.next_label_search().unwrap().unwrap();
    assert_eq!(next.media_id, media.id);
    assert_eq!(next.depth, fieldbook_media::label_codes::SearchDepth::Quick);
    assert_eq!(search_labels(&mut f.store), 1);
    let offers = f.store.label_offers(job.id).unwrap();
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(offers[0].media_id, media.id);
    assert_eq!(
        offers[0].format,
        fieldbook_domain::label::CodeFormat::QrCode
    );
    assert_eq!(offers[0].serial_number.as_deref(), Some("EVC-22-0042"));
    assert_eq!(offers[0].model.as_deref(), Some("Pulsar Plus"));
    // Only offered: the draft is untouched until the technician confirms.
    let draft = f.store.get_report_draft(job.id).unwrap();
    assert!(draft.is_none_or(|d| d.charger_serial_number.is_empty()));

    // The same label photographed again is one offer, not two.
    let again = qr_label_photo(
        f.dir.path(),
        "label2.png",
        "SN=EVC-22-0042;MODEL=Pulsar Plus",
    );
    image::open(&again).unwrap().blur(0.5).save(&again).unwrap();
    let second = f.store.attach_media(job.id, &again, "").unwrap();
    assert_eq!(search_labels(&mut f.store), 1);
    assert_eq!(f.store.label_offers(job.id).unwrap().len(), 1);

    // The offers go with their photos.
    f.store.remove_media(media.id).unwrap();
    assert_eq!(f.store.label_offers(job.id).unwrap()[0].media_id, second.id);
    f.store.remove_media(second.id).unwrap();
    assert!(f.store.label_offers(job.id).unwrap().is_empty());
    assert_eq!(search_labels(&mut f.store), 0);
}

/// The golden path's label photo (`e2e/fixtures/serial-label.jpg`, made by
/// the test kit): it offers the serial and model the E2E confirms.
/// `FIELDBOOK_UPDATE_FIXTURES=1` writes it again.
#[test]
fn the_e2e_label_photo_offers_the_golden_path_serial_and_model() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../e2e/fixtures/serial-label.jpg");
    if std::env::var("FIELDBOOK_UPDATE_FIXTURES").is_ok_and(|v| v == "1") {
        let jpeg = fieldbook_testkit::qr_label_jpeg(
            "SN=WB-2026-004711;MODEL=Wallbox Pulsar Plus 11 kW",
            1600,
            1200,
        );
        std::fs::write(&fixture, jpeg).unwrap();
    }
    let mut f = Fixture::new();
    let job = f.add_job(InProgress, "Ada Lovelace");
    f.store.attach_media(job.id, &fixture, "").unwrap();
    assert_eq!(search_labels(&mut f.store), 1);
    let offers = f.store.label_offers(job.id).unwrap();
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(offers[0].serial_number.as_deref(), Some("WB-2026-004711"));
    assert_eq!(
        offers[0].model.as_deref(),
        Some("Wallbox Pulsar Plus 11 kW")
    );
}

#[test]
fn the_background_label_search_reads_labels_first_and_skips_removed_photos_and_unreadable_files() {
    let mut f = Fixture::new();
    let job = f.add_job(InProgress, "Ada Lovelace");
    let wall = write_jpeg(f.dir.path(), "wall.jpg", 4);
    let wall = f.store.attach_media(job.id, &wall, "").unwrap();
    let label = qr_label_photo(f.dir.path(), "label.png", "SN=EVC-22-0001");
    let removed = f.store.attach_media(job.id, &label, "").unwrap();
    let label = qr_label_photo(f.dir.path(), "label-b.png", "SN=EVC-22-0002");
    let kept = f.store.attach_media(job.id, &label, "").unwrap();
    let lost = write_jpeg(f.dir.path(), "lost.jpg", 9);
    let lost = f.store.attach_media(job.id, &lost, "").unwrap();
    std::fs::remove_file(f.store.media_store().blob_path(&lost.file.sha256)).unwrap();
    // Removed before its search ran: nothing to search, nothing recorded.
    f.store.remove_media(removed.id).unwrap();
    let Fixture { store, .. } = f;
    let store = std::sync::Mutex::new(store);
    let budget = std::time::Duration::from_secs(60);

    // The label is read first, although the wall was attached before it:
    // every photo gets the quick look before any gets the rest.
    let read = fieldbook_store::run_next_label_search(&store, budget)
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.media_id, read.installation_id, read.codes),
        (kept.id, job.id, 1)
    );
    let read = fieldbook_store::run_next_label_search(&store, budget)
        .unwrap()
        .unwrap();
    assert_eq!((read.media_id, read.codes), (wall.id, 0));
    // A file that cannot be read is recorded as searched (not tried forever).
    let read = fieldbook_store::run_next_label_search(&store, budget)
        .unwrap()
        .unwrap();
    assert_eq!((read.media_id, read.codes), (lost.id, 0));
    assert_eq!(
        fieldbook_store::run_next_label_search(&store, budget).unwrap(),
        None
    );
    let offers = store.lock().unwrap().label_offers(job.id).unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].serial_number.as_deref(), Some("EVC-22-0002"));
}

#[test]
fn a_submitted_report_gets_its_certificate_made_on_the_device() {
    let mut f = Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "charger.jpg", 1);
    f.store
        .attach_media(job.id, &photo, "Charger on wall")
        .unwrap();
    let label = write_jpeg(f.dir.path(), "label.jpg", 2);
    let label = f.store.attach_media(job.id, &label, "").unwrap();
    f.store.finish_installation(job.id).unwrap();
    let mut draft = complete_draft(&f, job.id);
    // A checklist photo prints under its slot's name.
    draft.photo_slots.insert(
        "serial-label".into(),
        fieldbook_domain::SlotFill::Photo {
            sha256: label.file.sha256.clone(),
        },
    );
    f.store.save_report_draft(&draft).unwrap();
    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();

    // Not before submit: there is nothing certified yet.
    let err = f
        .store
        .make_certificate(job.id, "https://fieldbook.example.com")
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err}");

    let report = f.store.submit_report(job.id).unwrap();
    let certificate = f
        .store
        .make_certificate(job.id, "https://fieldbook.example.com")
        .unwrap();
    assert_eq!(certificate.report_content_hash, report.content_hash);
    assert_eq!(certificate.file.mime, "application/pdf");
    let path = f.store.media_store().blob_path(&certificate.file.sha256);
    let pdf = std::fs::read(&path).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pdf.len() as u64, certificate.file.size);

    let text = std::process::Command::new("pdftotext")
        .args([path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is needed");
    let text = String::from_utf8(text.stdout).unwrap();
    for expected in [
        "ZP-2026-00042",
        "Zappi 7kW",
        "Ada Lovelace",
        "Customer shown the app",
        "Charger on wall",
        // The commissioning tests of the default template, exact, with units.
        "TN-C-S (PME)",
        "0.48 Ω",
        "23.5 ms",
        "Serial label",
        // A slot without a photo says why.
        "Test job: no camera",
        report.content_hash.as_str(),
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }

    // The server is told which blob is the certificate, after the report,
    // and the PDF waits on the blob queue.
    let entries = f.store.pending_outbox(100).unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.kind, MutationKind::ReportCertificate);
    assert_eq!(last.installation_id, Some(job.id));
    match &last.mutation {
        Mutation::ReportCertificate {
            file,
            report_content_hash,
            ..
        } => {
            assert_eq!(file, &certificate.file);
            assert_eq!(report_content_hash, &report.content_hash);
        }
        other => panic!("not a certificate: {other:?}"),
    }
    let uploads = f.store.blobs_pending_upload(100).unwrap();
    assert!(uploads.iter().any(|u| u.blob == certificate.file));

    // Asked again: the same certificate, not a new one, and nothing new to send.
    assert_eq!(
        f.store
            .make_certificate(job.id, "https://fieldbook.example.com")
            .unwrap(),
        certificate
    );
    assert_eq!(f.store.certificate(job.id).unwrap(), Some(certificate));
    assert_eq!(f.store.pending_outbox(100).unwrap().len(), entries.len());

    // Its pages as images for the full-screen view: drawn from the PDF,
    // the same files each time.
    let pages = f.store.certificate_pages(job.id).unwrap();
    assert!(!pages.is_empty());
    assert_eq!(pages[0].image.mime, "image/png");
    assert!(f.store.media_store().contains(&pages[0].image.sha256));
    assert!(pages[0].height > pages[0].width, "A4 portrait");
    assert_eq!(f.store.certificate_pages(job.id).unwrap(), pages);
}
