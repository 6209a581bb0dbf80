//! A failure in the middle of an action leaves neither the change nor its
//! outbox entry. The failure is injected with a SQLite trigger that aborts
//! the outbox insert, i.e. after the action already wrote its change.

mod common;

use common::{signature, write_jpeg, Fixture};
use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{AssignmentStatus, InstallationStatus, ReportDraft};
use fieldbook_store::AssignmentResponse;

fn break_outbox(f: &Fixture) {
    f.raw_connection()
        .execute_batch(
            "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox
             BEGIN SELECT RAISE(ABORT, 'injected outbox failure'); END;",
        )
        .unwrap();
}

fn heal_outbox(f: &Fixture) {
    f.raw_connection()
        .execute_batch("DROP TRIGGER fail_outbox;")
        .unwrap();
}

fn assert_injected(err: fieldbook_store::StoreError) {
    assert_eq!(err.code(), "database");
    assert!(err.to_string().contains("injected outbox failure"), "{err}");
}

#[test]
fn lifecycle_actions_roll_back_with_their_outbox_entry() {
    let mut f = Fixture::new();
    let confirmed = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let ready = f.add_job(InstallationStatus::MaterialReady, "Grace Hopper");
    let running = f.add_job(InstallationStatus::InProgress, "Alan Turing");
    break_outbox(&f);

    assert_injected(
        f.store
            .start_installation(confirmed.id, &StartRequest::default())
            .unwrap_err(),
    );
    assert_injected(
        f.store
            .start_installation(
                ready.id,
                &StartRequest {
                    override_reason: Some("Customer asked".into()),
                },
            )
            .unwrap_err(),
    );
    assert_injected(f.store.finish_installation(running.id).unwrap_err());
    assert_injected(
        f.store
            .could_not_complete(running.id, "No access")
            .unwrap_err(),
    );
    assert_injected(
        f.store
            .set_installation_flags(confirmed.id, Some(true), Some(true))
            .unwrap_err(),
    );
    assert_injected(
        f.store
            .respond_to_assignment(confirmed.assignment_id, &AssignmentResponse::Accept)
            .unwrap_err(),
    );

    for (job, status) in [
        (&confirmed, InstallationStatus::Confirmed),
        (&ready, InstallationStatus::MaterialReady),
        (&running, InstallationStatus::InProgress),
    ] {
        let d = f.store.get_installation(job.id).unwrap();
        assert_eq!(
            d.installation, job.installation,
            "installation row unchanged"
        );
        assert_eq!(d.installation.status, status);
        assert!(
            d.report_draft.is_none(),
            "the draft created by start rolled back"
        );
        assert_eq!(
            d.assignments[0].assignment.status,
            AssignmentStatus::Assigned
        );
    }
    assert!(f.store.pending_outbox(100).unwrap().is_empty());

    // Once healed, the same actions go through, and the failed attempts did
    // not burn sequence numbers.
    heal_outbox(&f);
    f.store
        .start_installation(confirmed.id, &StartRequest::default())
        .unwrap();
    let entries = f.store.pending_outbox(100).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].sequence, 1);
}

#[test]
fn submit_rolls_back_report_status_assignment_and_blob() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    f.store.finish_installation(job.id).unwrap();
    let mut draft: ReportDraft = f.store.get_report_draft(job.id).unwrap().unwrap();
    draft.charger_serial_number = "SN-1".into();
    draft.charger_model = "Model".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    f.store.save_report_draft(&draft).unwrap();
    f.store
        .sign_report(job.id, &signature("Ada Lovelace"))
        .unwrap();
    let outbox_before = f.store.pending_outbox(100).unwrap();
    break_outbox(&f);

    assert_injected(f.store.submit_report(job.id).unwrap_err());
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.installation.status, InstallationStatus::Completed);
    assert!(d.report.is_none());
    assert_eq!(
        d.assignments[0].assignment.status,
        AssignmentStatus::Assigned
    );
    assert!(f.store.blobs_pending_upload(10).unwrap().is_empty());
    assert_eq!(f.store.pending_outbox(100).unwrap(), outbox_before);

    heal_outbox(&f);
    f.store.submit_report(job.id).unwrap();
}

#[test]
fn media_actions_roll_back_with_their_outbox_entry() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "a.jpg", 4);
    let kept = f.store.attach_media(job.id, &photo, "kept").unwrap();
    break_outbox(&f);

    let other = write_jpeg(f.dir.path(), "b.jpg", 5);
    assert_injected(f.store.attach_media(job.id, &other, "lost").unwrap_err());
    assert_injected(f.store.set_media_caption(kept.id, "renamed").unwrap_err());
    assert_injected(f.store.remove_media(kept.id).unwrap_err());

    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.media, vec![kept.clone()]);
    assert_eq!(f.store.blobs_pending_upload(10).unwrap().len(), 1);
    assert_eq!(f.store.pending_outbox(100).unwrap().len(), 1);
}

#[test]
fn a_failing_sync_page_keeps_neither_rows_nor_cursor() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let cursor = f.store.sync_cursor("installations").unwrap();
    f.raw_connection()
        .execute_batch(
            "CREATE TRIGGER fail_assignments BEFORE INSERT ON installation_assignments
             BEGIN SELECT RAISE(ABORT, 'injected page failure'); END;",
        )
        .unwrap();
    let mut changed = job.installation.clone();
    changed.status = InstallationStatus::Cancelled;
    let assignment = f.store.get_assignment(job.assignment_id).unwrap();
    let mut new_assignment = assignment.clone();
    new_assignment.id = uuid::Uuid::new_v4();
    let err = f
        .store
        .apply_server_batch(&fieldbook_store::ServerBatch {
            scope: "installations".into(),
            cursor: 999,
            installations: vec![common::v(changed, 999)],
            assignments: vec![common::v(new_assignment, 999)],
            ..Default::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("injected page failure"), "{err}");
    assert_eq!(f.store.sync_cursor("installations").unwrap(), cursor);
    assert_eq!(
        f.store
            .get_installation(job.id)
            .unwrap()
            .installation
            .status,
        InstallationStatus::Confirmed
    );
}

/// The blob file (and thumbnail) of `bytes`, if the media store holds it.
fn stored_files(f: &Fixture, bytes: &[u8]) -> Vec<std::path::PathBuf> {
    let sha = fieldbook_domain::Sha256Hex::digest(bytes);
    let media = f.store.media_store();
    [Some(media.blob_path(&sha)), media.thumbnail_path(&sha)]
        .into_iter()
        .flatten()
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn a_failed_attach_leaves_no_file_behind() {
    // A 2 GB video whose row could not be written (e.g. the disk filled up
    // on the database write) must not stay behind as an unreferenced file.
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "a.jpg", 9);
    let bytes = std::fs::read(&photo).unwrap();
    break_outbox(&f);
    assert_injected(f.store.attach_media(job.id, &photo, "").unwrap_err());
    assert_eq!(stored_files(&f, &bytes), Vec::<std::path::PathBuf>::new());

    // Bytes another attachment already uses are left alone.
    heal_outbox(&f);
    let kept = f.store.attach_media(job.id, &photo, "kept").unwrap();
    break_outbox(&f);
    assert_injected(f.store.attach_media(job.id, &photo, "again").unwrap_err());
    assert_eq!(stored_files(&f, &bytes).len(), 2, "blob and thumbnail stay");
    assert!(f.store.media_store().contains(&kept.file.sha256));
}

#[test]
fn a_failed_signature_leaves_no_file_behind() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    f.raw_connection()
        .execute_batch(
            "CREATE TRIGGER fail_draft BEFORE INSERT ON report_drafts
             BEGIN SELECT RAISE(ABORT, 'injected draft failure'); END;",
        )
        .unwrap();
    let input = signature("Ada Lovelace");
    let err = f.store.sign_report(job.id, &input).unwrap_err();
    assert!(err.to_string().contains("injected draft failure"), "{err}");
    assert_eq!(
        stored_files(&f, &input.png),
        Vec::<std::path::PathBuf>::new()
    );
}
