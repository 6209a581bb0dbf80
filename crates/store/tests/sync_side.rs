//! What the sync engine uses: the outbox queue, applying pull pages
//! (tombstones, rebase, cursor) and the blob upload queue.

mod common;

use common::{left_scope, v, write_jpeg, Fixture};
use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{
    AssignmentStatus, BlobRef, CustomerSignature, InstallationMedia, InstallationReport,
    InstallationStatus, MediaType, MutationKind, Sha256Hex,
};
use fieldbook_store::{
    AssignmentResponse, BlobUploadState, FileAvailability, MediaAvailability, OutboxCounts,
    OutboxState, RecordKind, ServerBatch, ServerMedia, ServerReport, Tombstone, TombstoneReason,
};

#[test]
fn outbox_is_read_in_sequence_order_and_acknowledged_entries_go() {
    let mut f = Fixture::new();
    let a = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let b = f.add_job(InstallationStatus::Confirmed, "Grace Hopper");
    f.store
        .start_installation(b.id, &StartRequest::default())
        .unwrap();
    f.store
        .start_installation(a.id, &StartRequest::default())
        .unwrap();
    f.store.finish_installation(b.id).unwrap();

    let entries = f.store.pending_outbox(10).unwrap();
    let seqs: Vec<i64> = entries.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(entries[0].installation_id, Some(b.id));
    assert_eq!(entries[1].installation_id, Some(a.id));
    assert_eq!(f.store.pending_outbox(2).unwrap().len(), 2);

    assert!(f
        .store
        .acknowledge_outbox(entries[0].mutation_id, 50)
        .unwrap());
    assert!(!f
        .store
        .acknowledge_outbox(entries[0].mutation_id, 50)
        .unwrap());
    let rest: Vec<i64> = f
        .store
        .pending_outbox(10)
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(rest, vec![2, 3]);
}

#[test]
fn failures_count_attempts_and_needs_attention_does_not_block_the_queue() {
    let mut f = Fixture::new();
    let a = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let b = f.add_job(InstallationStatus::Confirmed, "Grace Hopper");
    f.store
        .start_installation(a.id, &StartRequest::default())
        .unwrap();
    f.store
        .start_installation(b.id, &StartRequest::default())
        .unwrap();
    let first = f.store.pending_outbox(1).unwrap().remove(0);

    f.store
        .record_push_failure(first.mutation_id, "connection reset")
        .unwrap();
    let again = f.store.outbox_entry(first.mutation_id).unwrap().unwrap();
    assert_eq!(again.attempts, 1);
    assert_eq!(again.last_error.as_deref(), Some("connection reset"));
    assert_eq!(again.state, OutboxState::Pending);

    f.store
        .move_to_needs_attention(first.mutation_id, "rejected: installation was cancelled")
        .unwrap();
    let pending = f.store.pending_outbox(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].installation_id, Some(b.id));
    let parked = f.store.needs_attention().unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].state, OutboxState::NeedsAttention);
    assert_eq!(parked[0].attempts, 2);
    assert_eq!(
        parked[0].last_error.as_deref(),
        Some("rejected: installation was cancelled")
    );
    assert_eq!(
        f.store.outbox_counts().unwrap(),
        OutboxCounts {
            pending: 1,
            needs_attention: 1
        }
    );

    f.store.retry_outbox_entry(first.mutation_id).unwrap();
    assert_eq!(
        f.store.pending_outbox(10).unwrap()[0].mutation_id,
        first.mutation_id
    );
    assert_eq!(
        f.store
            .move_to_needs_attention(uuid::Uuid::new_v4(), "x")
            .unwrap_err()
            .code(),
        "not_found"
    );
}

#[test]
fn server_rows_replace_local_rows_and_advance_the_cursor() {
    let mut f = Fixture::new();
    assert_eq!(f.store.sync_cursor("elsewhere").unwrap(), None);
    let job = f.add_job(InstallationStatus::Planned, "Ada Lovelace");
    let mut updated = job.installation.clone();
    updated.status = InstallationStatus::Confirmed;
    updated.material_ready = true;
    updated.customer_confirmed = true;
    updated.scheduled_date = common::day(20);
    let version = f.server_update(updated.clone());
    assert_eq!(f.store.sync_cursor("installations").unwrap(), Some(version));
    let detail = f.store.get_installation(job.id).unwrap();
    assert_eq!(detail.installation, updated);
    assert_eq!(detail.server_version, version);
    assert_eq!(detail.lead.as_ref(), Some(&job.lead));
    assert_eq!(detail.survey.as_ref().unwrap().lead_id, job.lead.id);
}

#[test]
fn pending_local_changes_are_reapplied_over_pulled_rows() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    f.store
        .set_installation_flags(job.id, Some(true), None)
        .unwrap();
    f.store
        .respond_to_assignment(job.assignment_id, &AssignmentResponse::Accept)
        .unwrap();

    // The server has not seen the push yet: it re-sends the old state
    // (e.g. ops edited the notes), plus the unanswered assignment.
    let mut server = job.installation.clone();
    server.ops_review_note = Some("Bring a longer cable".into());
    let version = 777;
    let assignment = {
        let mut a = f.store.get_assignment(job.assignment_id).unwrap();
        a.status = AssignmentStatus::Assigned;
        a.responded_at = None;
        a
    };
    let outcome = f
        .store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: version,
            installations: vec![v(server, version)],
            assignments: vec![v(assignment, version)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(outcome.rebased, 2);
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.installation.status, InstallationStatus::InProgress);
    assert!(d.installation.customer_confirmed);
    assert_eq!(
        d.installation.ops_review_note.as_deref(),
        Some("Bring a longer cable")
    );
    assert_eq!(d.server_version, version);
    assert_eq!(
        d.assignments[0].assignment.status,
        AssignmentStatus::Accepted
    );

    // Once acknowledged, the server's word stands.
    for e in f.store.pending_outbox(10).unwrap() {
        f.store.acknowledge_outbox(e.mutation_id, 800).unwrap();
    }
    let mut cancelled = job.installation.clone();
    cancelled.status = InstallationStatus::Cancelled;
    f.server_update(cancelled);
    assert_eq!(
        f.store
            .get_installation(job.id)
            .unwrap()
            .installation
            .status,
        InstallationStatus::Cancelled
    );
}

#[test]
fn tombstones_delete_jobs_but_keep_unsent_work() {
    let mut f = Fixture::new();
    let gone = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let busy = f.add_job(InstallationStatus::InProgress, "Grace Hopper");
    let photo = write_jpeg(f.dir.path(), "p.jpg", 1);
    f.store.attach_media(busy.id, &photo, "").unwrap();

    let outcome = f
        .store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 1000,
            tombstones: vec![
                common::job_left_scope(gone.id),
                common::job_left_scope(busy.id),
                common::job_left_scope(uuid::Uuid::new_v4()),
            ],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(outcome.deleted, 1);
    assert_eq!(outcome.kept, vec![busy.id]);
    assert_eq!(
        f.store.get_installation(gone.id).unwrap_err().code(),
        "not_found"
    );
    assert!(f.store.get_installation(busy.id).is_ok());
    let raw = f.raw_connection();
    let leftovers: i64 = raw
        .query_row(
            "SELECT (SELECT count(*) FROM leads WHERE id = ?1)
                  + (SELECT count(*) FROM surveys WHERE id = ?2)
                  + (SELECT count(*) FROM installation_assignments WHERE id = ?3)",
            [
                gone.lead.id.to_string(),
                gone.installation.survey_id.to_string(),
                gone.assignment_id.to_string(),
            ],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftovers, 0, "the customer's data left with the job");

    // Once the push went through, the job goes (the server sends no second
    // tombstone), and the local rows (media) go with it through the foreign
    // keys.
    let detail = f.store.get_installation(busy.id).unwrap();
    assert!(detail.left_scope_at.is_some());
    for e in f.store.pending_outbox(10).unwrap() {
        f.store.acknowledge_outbox(e.mutation_id, 1001).unwrap();
    }
    assert_eq!(
        f.store.get_installation(busy.id).unwrap_err().code(),
        "not_found"
    );
    let media_rows: i64 = raw
        .query_row(
            "SELECT count(*) FROM installation_media WHERE installation_id = ?1",
            [busy.id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(media_rows, 0);
}

#[test]
fn blob_upload_progress_survives_reopen() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "p.jpg", 1);
    let media = f.store.attach_media(job.id, &photo, "").unwrap();
    let sha = media.file.sha256.clone();

    let pending = f.store.blobs_pending_upload(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, BlobUploadState::Pending);
    assert_eq!(pending[0].upload_offset, 0);
    assert_eq!(pending[0].local_path, f.store.media_store().blob_path(&sha));
    assert!(pending[0].local_path.is_file());

    f.store
        .set_blob_upload_progress(&sha, Some("https://sync.example/tus/abc"), 512)
        .unwrap();
    let dir = f.dir;
    drop(f.store);
    let mut store = fieldbook_store::Store::open(dir.path()).unwrap();
    let b = store.blob_upload(&sha).unwrap();
    assert_eq!(
        b.upload_url.as_deref(),
        Some("https://sync.example/tus/abc")
    );
    assert_eq!(b.upload_offset, 512);

    store.mark_blob_uploaded(&sha).unwrap();
    assert!(store.blobs_pending_upload(10).unwrap().is_empty());
    let b = store.blob_upload(&sha).unwrap();
    assert_eq!(b.state, BlobUploadState::Uploaded);
    assert_eq!(b.upload_offset, media.file.size);
    let unknown = fieldbook_domain::Sha256Hex::digest(b"nothing");
    assert_eq!(
        store.mark_blob_uploaded(&unknown).unwrap_err().code(),
        "not_found"
    );
    let kinds: Vec<MutationKind> = store
        .pending_outbox(10)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec![MutationKind::MediaAttach]);
}

#[test]
fn a_pending_report_submission_survives_a_pull_of_the_old_state() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    f.store.finish_installation(job.id).unwrap();
    let mut draft = f.store.get_report_draft(job.id).unwrap().unwrap();
    draft.charger_serial_number = "SN-9".into();
    draft.charger_model = "Model X".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    draft.demo_given = true;
    f.store.save_report_draft(&draft).unwrap();
    f.store
        .sign_report(job.id, &common::signature("Ada Lovelace"))
        .unwrap();
    f.store.submit_report(job.id).unwrap();

    // The server still has the job as confirmed and the assignment open.
    let assignment = {
        let mut a = f.store.get_assignment(job.assignment_id).unwrap();
        a.status = AssignmentStatus::Assigned;
        a
    };
    f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 2000,
            installations: vec![v(job.installation.clone(), 2000)],
            assignments: vec![v(assignment, 2000)],
            ..Default::default()
        })
        .unwrap();
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.installation.status, InstallationStatus::ReportSubmitted);
    assert!(d.installation.demo_completed);
    assert_eq!(
        d.assignments[0].assignment.status,
        AssignmentStatus::Completed
    );
    assert!(d.report.is_some());
}

#[test]
fn acknowledging_records_the_server_version_of_the_report_and_media() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let pulled_version = f.store.get_installation(job.id).unwrap().server_version;
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    let photo = write_jpeg(f.dir.path(), "p.jpg", 1);
    let media = f.store.attach_media(job.id, &photo, "before").unwrap();
    f.store.set_media_caption(media.id, "after").unwrap();
    f.store.finish_installation(job.id).unwrap();
    let mut draft = f.store.get_report_draft(job.id).unwrap().unwrap();
    draft.charger_serial_number = "SN-1".into();
    draft.charger_model = "Model".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    f.store.save_report_draft(&draft).unwrap();
    f.store
        .sign_report(job.id, &common::signature("Ada Lovelace"))
        .unwrap();
    f.store.submit_report(job.id).unwrap();
    assert_eq!(f.store.media_server_version(media.id).unwrap(), None);
    assert_eq!(
        f.store
            .get_installation(job.id)
            .unwrap()
            .report_server_version,
        None
    );

    let mut entries = f.store.pending_outbox(10).unwrap();
    assert!(f
        .store
        .acknowledge_outbox(entries.remove(0).mutation_id, 39)
        .unwrap());
    let kinds: Vec<MutationKind> = entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            MutationKind::MediaAttach,
            MutationKind::MediaCaption,
            MutationKind::InstallationFinish,
            MutationKind::ReportSubmit
        ]
    );
    // Answers processed out of order never lower the recorded version.
    assert!(f
        .store
        .acknowledge_outbox(entries[1].mutation_id, 45)
        .unwrap());
    assert!(f
        .store
        .acknowledge_outbox(entries[0].mutation_id, 40)
        .unwrap());
    assert_eq!(f.store.media_server_version(media.id).unwrap(), Some(45));
    // The installation's version stays the pulled one until the pull brings
    // the server's row: it is the base of the next mutation.
    assert!(f
        .store
        .acknowledge_outbox(entries[2].mutation_id, 46)
        .unwrap());
    assert!(f
        .store
        .acknowledge_outbox(entries[3].mutation_id, 47)
        .unwrap());
    let detail = f.store.get_installation(job.id).unwrap();
    assert_eq!(detail.server_version, pulled_version);
    assert_eq!(detail.report_server_version, Some(47));
    assert_eq!(detail.pending_changes, 0);
    assert_eq!(
        f.store
            .media_server_version(uuid::Uuid::new_v4())
            .unwrap_err()
            .code(),
        "not_found"
    );
}

#[test]
fn only_entries_needing_attention_can_be_dismissed() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    let entry = f.store.pending_outbox(1).unwrap().remove(0);
    assert!(!f.store.dismiss_outbox_entry(entry.mutation_id).unwrap());
    assert!(f.store.outbox_entry(entry.mutation_id).unwrap().is_some());
    f.store
        .move_to_needs_attention(entry.mutation_id, "rejected")
        .unwrap();
    assert!(f.store.dismiss_outbox_entry(entry.mutation_id).unwrap());
    assert!(f.store.outbox_entry(entry.mutation_id).unwrap().is_none());
    assert!(!f.store.dismiss_outbox_entry(entry.mutation_id).unwrap());
}

#[test]
fn a_job_kept_after_leaving_scope_says_so_until_it_returns_or_is_let_go() {
    let mut f = Fixture::new();
    let busy = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let other = f.add_job(InstallationStatus::Confirmed, "Grace Hopper");
    f.store
        .start_installation(busy.id, &StartRequest::default())
        .unwrap();
    let tombstone = |f: &mut Fixture, cursor| {
        f.store
            .apply_server_batch(&ServerBatch {
                scope: "installations".into(),
                cursor,
                tombstones: vec![common::job_left_scope(busy.id)],
                ..Default::default()
            })
            .unwrap()
    };
    let left_scope = |f: &Fixture| -> Vec<(uuid::Uuid, bool)> {
        f.store
            .list_installations(&Default::default())
            .unwrap()
            .iter()
            .map(|s| (s.id, s.left_scope))
            .collect()
    };
    assert_eq!(left_scope(&f), vec![(busy.id, false), (other.id, false)]);
    assert_eq!(tombstone(&mut f, 500).kept, vec![busy.id]);
    assert_eq!(left_scope(&f), vec![(busy.id, true), (other.id, false)]);
    assert!(f
        .store
        .get_installation(busy.id)
        .unwrap()
        .left_scope_at
        .is_some());
    assert!(f
        .store
        .get_installation(other.id)
        .unwrap()
        .left_scope_at
        .is_none());

    // Reassigned back: the server sends the row again.
    f.server_update(busy.installation.clone());
    assert_eq!(left_scope(&f), vec![(busy.id, false), (other.id, false)]);

    // Left again; the start is acknowledged but the report draft it opened
    // is still unsent work: the job stays, marked, until the technician
    // lets it go. A job in scope cannot be discarded that way.
    tombstone(&mut f, 600);
    for e in f.store.pending_outbox(10).unwrap() {
        assert!(!f.store.discard_left_scope_installation(busy.id).unwrap());
        f.store.acknowledge_outbox(e.mutation_id, 601).unwrap();
    }
    assert_eq!(left_scope(&f), vec![(busy.id, true), (other.id, false)]);
    assert!(!f.store.discard_left_scope_installation(other.id).unwrap());
    assert!(f.store.discard_left_scope_installation(busy.id).unwrap());
    assert_eq!(left_scope(&f), vec![(other.id, false)]);
    assert_eq!(
        f.store.get_installation(busy.id).unwrap_err().code(),
        "not_found"
    );
}

fn other_technician() -> fieldbook_domain::User {
    fieldbook_domain::User {
        id: uuid::Uuid::new_v4(),
        username: "tech.kim".into(),
        full_name: "Kim Tech".into(),
        role: fieldbook_domain::Role::Technician,
    }
}

#[test]
fn the_last_good_sync_is_kept_across_a_restart_and_belongs_to_its_user() {
    let mut f = Fixture::new();
    assert_eq!(f.store.last_synced_at().unwrap(), None, "never synced");
    let synced = chrono::Utc::now();
    f.store.record_sync_success(synced).unwrap();
    assert_eq!(f.store.last_synced_at().unwrap(), Some(synced));

    // The app restarts (offline, say): the time is still known, exactly.
    let dir = f.dir;
    drop(f.store);
    let mut store = fieldbook_store::Store::open(dir.path()).unwrap();
    assert_eq!(store.last_synced_at().unwrap(), Some(synced));

    // The same user signing in again (an expired token) keeps it...
    store.sign_in(&f.technician, &[f.team.id]).unwrap();
    assert_eq!(store.last_synced_at().unwrap(), Some(synced));
    // ...another user's session starts without, and a signed-out device
    // has none to show.
    store.sign_out().unwrap();
    assert_eq!(store.last_synced_at().unwrap(), None);
    store.record_sync_success(synced).unwrap();
    assert_eq!(store.last_synced_at().unwrap(), None, "nobody to credit");
    store.sign_in(&f.technician, &[f.team.id]).unwrap();
    store.record_sync_success(synced).unwrap();
    store.sign_in(&other_technician(), &[f.team.id]).unwrap();
    assert_eq!(store.last_synced_at().unwrap(), None);
}

#[test]
fn another_user_cannot_sign_in_over_unsent_work_and_gets_a_device_of_their_own() {
    // The server binds a device id (and its sequence) to the first user who
    // pushes with it: another user's pushes under that id are refused, and
    // pushing the first user's entries with the second user's token would
    // either be refused or credit the work to the wrong person.
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let first_device = f.store.device_id();
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();

    // The same user signing in again keeps the device.
    f.store
        .sign_in(&f.technician.clone(), &[f.team.id])
        .unwrap();
    assert_eq!(f.store.device_id(), first_device);

    f.store.sign_out().unwrap();
    let kim = other_technician();
    let err = f.store.sign_in(&kim, &[f.team.id]).unwrap_err();
    assert_eq!(err.code(), "unsent_work_of_another_user", "{err:?}");
    assert!(err.to_string().contains("Alex Tech"), "{err}");
    assert!(f.store.session().unwrap().is_none());

    // Once the first user's work is sent, the next user starts a new device
    // sequence under a new device id.
    f.store
        .sign_in(&f.technician.clone(), &[f.team.id])
        .unwrap();
    for e in f.store.pending_outbox(10).unwrap() {
        f.store.acknowledge_outbox(e.mutation_id, 40).unwrap();
    }
    f.store.sign_out().unwrap();
    f.store.sign_in(&kim, &[f.team.id]).unwrap();
    let second_device = f.store.device_id();
    assert_ne!(second_device, first_device);
    f.store.finish_installation(job.id).unwrap();
    let entries = f.store.pending_outbox(10).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].device_id, second_device);
    assert_eq!(entries[0].sequence, 1);

    // The new identity survives a restart.
    let dir = f.dir;
    drop(f.store);
    let store = fieldbook_store::Store::open(dir.path()).unwrap();
    assert_eq!(store.device_id(), second_device);
}

#[test]
fn a_refused_change_is_undone_locally_and_redone_on_retry() {
    // A rejected mutation changed nothing on the server, so no pull will
    // ever bring the row back: the device must show the server's state plus
    // what is still pending, or it keeps showing a move that never happened.
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    f.store
        .respond_to_assignment(job.assignment_id, &AssignmentResponse::Accept)
        .unwrap();
    let entries = f.store.pending_outbox(10).unwrap();
    // The start went through; then flags are set, and refused.
    f.store
        .acknowledge_outbox(entries[0].mutation_id, 60)
        .unwrap();
    f.store
        .set_installation_flags(job.id, Some(true), None)
        .unwrap();
    let flags = f.store.pending_outbox(10).unwrap()[1].mutation_id;
    f.store
        .move_to_needs_attention(flags, "rejected: not permitted")
        .unwrap();
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.installation.status, InstallationStatus::InProgress);
    assert!(!d.installation.customer_confirmed, "refused flag undone");
    assert_eq!(
        d.assignments[0].assignment.status,
        AssignmentStatus::Accepted,
        "still pending: kept"
    );

    let respond = entries[1].mutation_id;
    f.store
        .move_to_needs_attention(respond, "rejected: withdrawn")
        .unwrap();
    assert_eq!(
        f.store.get_assignment(job.assignment_id).unwrap().status,
        AssignmentStatus::Assigned
    );

    // The technician retries the flags: they show again.
    f.store.retry_outbox_entry(flags).unwrap();
    let d = f.store.get_installation(job.id).unwrap();
    assert!(d.installation.customer_confirmed);
    assert_eq!(d.installation.status, InstallationStatus::InProgress);
    // Dismissing the refused answer leaves the server's state.
    assert!(f.store.dismiss_outbox_entry(respond).unwrap());
    assert_eq!(
        f.store.get_assignment(job.assignment_id).unwrap().status,
        AssignmentStatus::Assigned
    );
}

#[test]
fn a_refused_report_can_be_reopened_edited_and_submitted_again() {
    // E.g. the server refused report.submit because its media differ from
    // the device's (a media.attach was refused): the technician must be able
    // to fix the report, have it signed again and resubmit — a report
    // stuck read-only on the device would never reach the server.
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Completed, "Ada Lovelace");
    let mut draft = fieldbook_domain::ReportDraft::new(job.id, common::t0());
    draft.charger_serial_number = "SN-1".into();
    draft.charger_model = "Model".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    draft.general_notes = "Typed on site".into();
    f.store.save_report_draft(&draft).unwrap();
    f.store
        .sign_report(job.id, &common::signature("Ada Lovelace"))
        .unwrap();
    let report = f.store.submit_report(job.id).unwrap();
    let submit = f.store.pending_outbox(1).unwrap()[0].mutation_id;

    // Only a parked report.submit can be reopened.
    assert!(!f.store.reopen_refused_report(submit).unwrap());
    f.store
        .move_to_needs_attention(submit, "rejected: content hash does not match")
        .unwrap();
    assert!(f.store.reopen_refused_report(submit).unwrap());

    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.installation.status, InstallationStatus::Completed);
    assert!(d.report.is_none());
    assert_eq!(
        d.assignments[0].assignment.status,
        AssignmentStatus::Assigned
    );
    let reopened = d.report_draft.unwrap();
    assert_eq!(reopened.general_notes, "Typed on site");
    assert_eq!(reopened.customer_signature, report.customer_signature);
    assert!(f.store.outbox_entry(submit).unwrap().is_none());

    let mut edited = reopened.clone();
    edited.general_notes = "Typed on site, corrected".into();
    let saved = f.store.save_report_draft(&edited).unwrap();
    assert_eq!(saved.check.signature_matches, Some(false));
    f.store
        .sign_report(job.id, &common::signature("Ada Lovelace"))
        .unwrap();
    let again = f.store.submit_report(job.id).unwrap();
    assert_ne!(again.id, report.id);
    assert_eq!(again.general_notes, "Typed on site, corrected");
}

#[test]
fn queued_uploads_still_find_their_files_after_the_data_folder_moved() {
    // Restoring a backup or moving the app's data folder must not strand
    // the photos waiting for upload.
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let photo = write_jpeg(f.dir.path(), "p.jpg", 1);
    let media = f.store.attach_media(job.id, &photo, "").unwrap();
    drop(f.store);
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("moved");
    std::fs::rename(f.dir.path(), &moved).unwrap();

    let store = fieldbook_store::Store::open(&moved).unwrap();
    let pending = store.blobs_pending_upload(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0].local_path.is_file(),
        "{:?}",
        pending[0].local_path
    );
    assert!(pending[0].local_path.starts_with(&moved));
    let one = store.blob_upload(&media.file.sha256).unwrap();
    assert_eq!(one.local_path, pending[0].local_path);
}

// ---- reports and media from the server ---------------------------------------

/// A report as a team-mate's device submitted it: signed, with a signature
/// PNG this device has never seen.
fn team_mates_report(installation_id: uuid::Uuid, by: uuid::Uuid) -> InstallationReport {
    let png = Sha256Hex::digest(b"kim's customer signature png");
    InstallationReport {
        id: uuid::Uuid::new_v4(),
        installation_id,
        submitted_by: by,
        charger_serial_number: "SN-KIM".into(),
        charger_model: "Zappi 7kW".into(),
        installation_successful: true,
        demo_given: true,
        customer_signature: Some(CustomerSignature {
            png: BlobRef {
                sha256: png,
                size: 2048,
                mime: "image/png".into(),
            },
            strokes: Vec::new(),
            signer_name: "Ada Lovelace".into(),
            signed_at: common::t0(),
            content_hash: Sha256Hex::digest(b"content"),
        }),
        issues_encountered: String::new(),
        general_notes: "Done by Kim".into(),
        submitted_at: common::t0(),
        start_override_reason: None,
        content_hash: Sha256Hex::digest(b"content"),
        template: None,
        test_results: Default::default(),
        photo_slots: Default::default(),
    }
}

fn team_mates_photo(installation_id: uuid::Uuid, by: uuid::Uuid) -> InstallationMedia {
    InstallationMedia {
        id: uuid::Uuid::new_v4(),
        installation_id,
        media_type: MediaType::Photo,
        file: BlobRef {
            sha256: Sha256Hex::digest(b"kim's photo"),
            size: 4096,
            mime: "image/jpeg".into(),
        },
        caption: "Consumer unit".into(),
        uploaded_by: by,
        uploaded_at: common::t0(),
    }
}

fn pulled(
    cursor: i64,
    reports: Vec<(InstallationReport, bool)>,
    media: Vec<(InstallationMedia, bool)>,
) -> ServerBatch {
    ServerBatch {
        scope: "installations".into(),
        cursor,
        reports: reports
            .into_iter()
            .map(|(report, signature_on_server)| {
                v(
                    ServerReport {
                        report,
                        signature_on_server,
                    },
                    cursor,
                )
            })
            .collect(),
        media: media
            .into_iter()
            .map(|(media, file_on_server)| {
                v(
                    ServerMedia {
                        media,
                        file_on_server,
                    },
                    cursor,
                )
            })
            .collect(),
        ..Default::default()
    }
}

/// Fills in and signs the draft so the report can be submitted.
fn complete_draft(f: &mut Fixture, id: uuid::Uuid, notes: &str) {
    let mut draft = f.store.get_report_draft(id).unwrap().unwrap();
    draft.charger_serial_number = "SN-ALEX".into();
    draft.charger_model = "Model A".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    draft.general_notes = notes.into();
    f.store.save_report_draft(&draft).unwrap();
    f.store
        .sign_report(id, &common::signature("Ada Lovelace"))
        .unwrap();
}

#[test]
fn a_team_mates_report_and_photo_arrive_as_on_server_and_are_not_queued_for_upload() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let kim = other_technician();
    let report = team_mates_report(job.id, kim.id);
    let photo = team_mates_photo(job.id, kim.id);
    let mut submitted = job.installation.clone();
    submitted.status = InstallationStatus::ReportSubmitted;
    let mut batch = pulled(
        3000,
        vec![(report.clone(), true)],
        vec![(photo.clone(), false)],
    );
    batch.installations = vec![v(submitted, 3000)];
    batch.users = vec![v(kim, 3000)];
    let outcome = f.store.apply_server_batch(&batch).unwrap();
    assert_eq!(outcome.upserted, 4);
    assert_eq!(outcome.awaiting_installation, 0);

    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.report.as_ref(), Some(&report));
    assert_eq!(d.report_server_version, Some(3000));
    assert_eq!(
        d.report_signature_file,
        Some(FileAvailability {
            on_this_device: false,
            on_server: Some(true)
        })
    );
    assert_eq!(d.media, vec![photo.clone()]);
    let on_server_only = FileAvailability {
        on_this_device: false,
        on_server: Some(false),
    };
    assert_eq!(
        d.media_files,
        vec![MediaAvailability {
            media_id: photo.id,
            file: on_server_only
        }]
    );
    assert_eq!(
        f.store.media_availability(photo.id).unwrap(),
        on_server_only
    );
    assert_eq!(f.store.media_server_version(photo.id).unwrap(), Some(3000));
    assert!(d.report_draft_superseded_by.is_none());
    // Not this device's to send: nothing to upload, nothing to push.
    assert!(f.store.blobs_pending_upload(10).unwrap().is_empty());
    assert_eq!(f.store.outbox_counts().unwrap(), OutboxCounts::default());

    // The upload finished on the server: the next version says so.
    f.store
        .apply_server_batch(&pulled(3001, vec![], vec![(photo.clone(), true)]))
        .unwrap();
    assert_eq!(
        f.store.media_availability(photo.id).unwrap().on_server,
        Some(true)
    );
    // An older version arriving late changes nothing.
    let mut stale = photo.clone();
    stale.caption = "older".into();
    f.store
        .apply_server_batch(&pulled(2999, vec![], vec![(stale, false)]))
        .unwrap();
    assert_eq!(
        f.store.get_media(photo.id).unwrap().caption,
        "Consumer unit"
    );
    assert_eq!(
        f.store.media_availability(photo.id).unwrap().on_server,
        Some(true)
    );
}

#[test]
fn this_devices_own_report_and_photo_pulled_back_keep_their_local_files() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    let file = write_jpeg(f.dir.path(), "p.jpg", 1);
    let photo = f.store.attach_media(job.id, &file, "Wall").unwrap();
    f.store.finish_installation(job.id).unwrap();
    complete_draft(&mut f, job.id, "Typed here");
    let report = f.store.submit_report(job.id).unwrap();
    for e in f.store.pending_outbox(10).unwrap() {
        f.store.acknowledge_outbox(e.mutation_id, 70).unwrap();
    }
    assert_eq!(
        f.store.media_availability(photo.id).unwrap(),
        FileAvailability {
            on_this_device: true,
            on_server: None
        }
    );

    f.store
        .apply_server_batch(&pulled(
            80,
            vec![(report.clone(), true)],
            vec![(photo.clone(), true)],
        ))
        .unwrap();
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.report.as_ref(), Some(&report));
    assert_eq!(d.report_server_version, Some(80));
    let here_and_there = FileAvailability {
        on_this_device: true,
        on_server: Some(true),
    };
    assert_eq!(d.report_signature_file, Some(here_and_there));
    assert_eq!(d.media, vec![photo.clone()]);
    assert_eq!(d.media_files[0].file, here_and_there);
    assert!(d.report_draft_superseded_by.is_none());
    assert!(!f.store.list_installations(&Default::default()).unwrap()[0].draft_superseded);
    let path = f.store.media_store().blob_path(&photo.file.sha256);
    assert!(path.is_file(), "the local file stays");
}

#[test]
fn a_team_mates_report_keeps_the_local_draft_read_only_until_dismissed() {
    // Kim submitted the report from her device while Alex, offline, was
    // typing his: the server keeps Kim's. Alex's typing must not vanish.
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    let mut draft = f.store.get_report_draft(job.id).unwrap().unwrap();
    draft.general_notes = "Alex's notes".into();
    f.store.save_report_draft(&draft).unwrap();
    for e in f.store.pending_outbox(10).unwrap() {
        f.store.acknowledge_outbox(e.mutation_id, 90).unwrap();
    }
    let kim = other_technician();
    let report = team_mates_report(job.id, kim.id);
    f.store
        .apply_server_batch(&pulled(100, vec![(report.clone(), true)], vec![]))
        .unwrap();

    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.report.as_ref(), Some(&report));
    assert_eq!(d.report_draft_superseded_by, Some(report.id));
    assert_eq!(d.report_draft.unwrap().general_notes, "Alex's notes");
    assert!(f.store.list_installations(&Default::default()).unwrap()[0].draft_superseded);
    let mut edit = f.store.get_report_draft(job.id).unwrap().unwrap();
    edit.general_notes = "more".into();
    assert_eq!(
        f.store.save_report_draft(&edit).unwrap_err().code(),
        "report_submitted"
    );

    // The job leaves this device's scope: the superseded draft keeps it.
    let outcome = f
        .store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 101,
            tombstones: vec![common::job_left_scope(job.id)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(outcome.kept, vec![job.id]);
    assert!(f.store.get_report_draft(job.id).unwrap().is_some());

    // The technician has seen it and lets it go; the job goes with it.
    assert!(f.store.dismiss_superseded_draft(job.id).unwrap());
    assert!(!f.store.dismiss_superseded_draft(job.id).unwrap());
    assert_eq!(
        f.store.get_installation(job.id).unwrap_err().code(),
        "not_found"
    );
}

#[test]
fn an_ordinary_draft_cannot_be_dismissed_as_superseded() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    assert!(!f.store.dismiss_superseded_draft(job.id).unwrap());
    assert!(f.store.get_report_draft(job.id).unwrap().is_some());
}

#[test]
fn this_devices_unsent_report_losing_to_a_team_mates_becomes_a_superseded_draft() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Completed, "Ada Lovelace");
    f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 110,
            ..Default::default()
        })
        .unwrap();
    let mut draft = fieldbook_domain::ReportDraft::new(job.id, common::t0());
    draft.charger_serial_number = "SN-ALEX".into();
    draft.charger_model = "Model A".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    draft.general_notes = "Alex's report".into();
    f.store.save_report_draft(&draft).unwrap();
    f.store
        .sign_report(job.id, &common::signature("Ada Lovelace"))
        .unwrap();
    let mine = f.store.submit_report(job.id).unwrap();
    let submit = f.store.pending_outbox(1).unwrap()[0].mutation_id;

    let kim = other_technician();
    let theirs = team_mates_report(job.id, kim.id);
    f.store
        .apply_server_batch(&pulled(120, vec![(theirs.clone(), true)], vec![]))
        .unwrap();
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.report.as_ref(), Some(&theirs));
    assert_eq!(d.report_draft_superseded_by, Some(theirs.id));
    let kept = d.report_draft.unwrap();
    assert_eq!(kept.general_notes, "Alex's report");
    assert_eq!(kept.customer_signature, mine.customer_signature);
    // The push still gets its answer (a conflict) for the technician to see.
    assert!(f.store.outbox_entry(submit).unwrap().is_some());
    f.store
        .move_to_needs_attention(submit, "conflict: a report was already submitted")
        .unwrap();
    assert!(
        !f.store.reopen_refused_report(submit).unwrap(),
        "the server kept another report: nothing to resubmit"
    );
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.report_draft_superseded_by, Some(theirs.id));
    assert_eq!(d.report.as_ref(), Some(&theirs));
}

#[test]
fn pending_caption_changes_and_removals_are_reapplied_over_pulled_media() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let kept = f
        .store
        .attach_media(job.id, &write_jpeg(f.dir.path(), "a.jpg", 1), "old")
        .unwrap();
    let removed = f
        .store
        .attach_media(job.id, &write_jpeg(f.dir.path(), "b.jpg", 2), "")
        .unwrap();
    for e in f.store.pending_outbox(10).unwrap() {
        f.store.acknowledge_outbox(e.mutation_id, 130).unwrap();
    }
    f.store.set_media_caption(kept.id, "new").unwrap();
    f.store.remove_media(removed.id).unwrap();

    // The server has not seen those yet and re-sends both rows.
    let outcome = f
        .store
        .apply_server_batch(&pulled(
            140,
            vec![],
            vec![(kept.clone(), true), (removed.clone(), true)],
        ))
        .unwrap();
    assert_eq!(outcome.rebased, 2);
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.media.len(), 1);
    assert_eq!(d.media[0].id, kept.id);
    assert_eq!(d.media[0].caption, "new");
    assert_eq!(f.store.media_server_version(kept.id).unwrap(), Some(140));
    assert_eq!(f.store.outbox_counts().unwrap().pending, 2);
}

#[test]
fn a_report_and_photo_pulled_before_their_installation_wait_for_it() {
    // Pages come in change order: the installation changed after the report
    // was submitted, so it comes a page later.
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let kim = other_technician();
    let mut later = job.installation.clone();
    later.id = uuid::Uuid::new_v4();
    later.survey_id = uuid::Uuid::new_v4();
    later.installation_id = fieldbook_domain::InstallationId::new(2026, 99).unwrap();
    later.status = InstallationStatus::ReportSubmitted;
    let report = team_mates_report(later.id, kim.id);
    let photo = team_mates_photo(later.id, kim.id);

    let outcome = f
        .store
        .apply_server_batch(&pulled(
            150,
            vec![(report.clone(), true)],
            vec![(photo.clone(), true)],
        ))
        .unwrap();
    assert_eq!(outcome.awaiting_installation, 2);
    assert_eq!(f.store.sync_cursor("installations").unwrap(), Some(150));

    let outcome = f
        .store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 151,
            installations: vec![v(later.clone(), 151)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(outcome.awaiting_installation, 0);
    let d = f.store.get_installation(later.id).unwrap();
    assert_eq!(d.report.as_ref(), Some(&report));
    assert_eq!(d.report_server_version, Some(150));
    assert_eq!(d.media, vec![photo]);
    assert!(f.store.blobs_pending_upload(10).unwrap().is_empty());
}

// ---- tombstones per kind of record -------------------------------------------

fn tombstones(cursor: i64, tombstones: Vec<Tombstone>) -> ServerBatch {
    ServerBatch {
        scope: "installations".into(),
        cursor,
        tombstones,
        ..Default::default()
    }
}

/// Tombstones for a job and everything pulled with it, in the server's order.
fn family_left_scope(job: &common::Job, others: &[(RecordKind, uuid::Uuid)]) -> Vec<Tombstone> {
    let mut family = vec![
        left_scope(RecordKind::Installation, job.id),
        left_scope(RecordKind::Lead, job.lead.id),
        left_scope(RecordKind::Survey, job.installation.survey_id),
        left_scope(RecordKind::Assignment, job.assignment_id),
    ];
    family.extend(others.iter().map(|&(kind, id)| left_scope(kind, id)));
    family
}

fn count(f: &Fixture, sql: &str, id: uuid::Uuid) -> i64 {
    f.raw_connection()
        .query_row(sql, [id.to_string()], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_job_without_unsent_work_leaves_with_its_whole_family() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let kim = other_technician();
    let report = team_mates_report(job.id, kim.id);
    let photo = team_mates_photo(job.id, kim.id);
    f.store
        .apply_server_batch(&pulled(
            200,
            vec![(report.clone(), true)],
            vec![(photo.clone(), true)],
        ))
        .unwrap();
    let family = family_left_scope(
        &job,
        &[
            (RecordKind::Report, report.id),
            (RecordKind::Media, photo.id),
        ],
    );
    let outcome = f
        .store
        .apply_server_batch(&tombstones(201, family))
        .unwrap();
    assert!(outcome.kept.is_empty());
    assert_eq!(
        f.store.get_installation(job.id).unwrap_err().code(),
        "not_found"
    );
    let left = count(
        &f,
        "SELECT (SELECT count(*) FROM installation_reports WHERE installation_id = ?1)
              + (SELECT count(*) FROM installation_media WHERE installation_id = ?1)
              + (SELECT count(*) FROM installation_assignments WHERE installation_id = ?1)",
        job.id,
    );
    assert_eq!(left, 0);
    assert_eq!(
        count(&f, "SELECT count(*) FROM leads WHERE id = ?1", job.lead.id),
        0
    );
}

#[test]
fn a_job_kept_for_unsent_work_keeps_its_family_when_their_tombstones_follow() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    let kim = other_technician();
    let photo = team_mates_photo(job.id, kim.id);
    f.store
        .apply_server_batch(&pulled(210, vec![], vec![(photo.clone(), true)]))
        .unwrap();
    let mut family = family_left_scope(&job, &[(RecordKind::Media, photo.id)]);
    // The page ends after the installation; the rest comes next page.
    let rest = family.split_off(1);
    let outcome = f
        .store
        .apply_server_batch(&tombstones(211, family))
        .unwrap();
    assert_eq!(outcome.kept, vec![job.id]);
    let outcome = f.store.apply_server_batch(&tombstones(212, rest)).unwrap();
    assert_eq!(outcome.deleted, 0);

    let d = f.store.get_installation(job.id).unwrap();
    assert!(d.left_scope_at.is_some());
    assert_eq!(d.lead.as_ref(), Some(&job.lead));
    assert!(d.survey.is_some());
    assert_eq!(d.assignments.len(), 1);
    assert_eq!(d.media, vec![photo]);
    assert_eq!(d.installation.status, InstallationStatus::InProgress);
}

#[test]
fn a_deleted_photo_goes_but_this_devices_unsent_photo_stays() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let mine = f
        .store
        .attach_media(job.id, &write_jpeg(f.dir.path(), "p.jpg", 1), "")
        .unwrap();
    let kim = other_technician();
    let theirs = team_mates_photo(job.id, kim.id);
    // A photo of a job this device does not have yet, waiting for it.
    let waiting = team_mates_photo(uuid::Uuid::new_v4(), kim.id);
    let outcome = f
        .store
        .apply_server_batch(&pulled(
            220,
            vec![],
            vec![(theirs.clone(), true), (waiting.clone(), true)],
        ))
        .unwrap();
    assert_eq!(outcome.awaiting_installation, 1);

    let deleted = |id| Tombstone {
        kind: RecordKind::Media,
        id,
        reason: TombstoneReason::Deleted,
    };
    let outcome = f
        .store
        .apply_server_batch(&tombstones(
            221,
            vec![deleted(theirs.id), deleted(mine.id), deleted(waiting.id)],
        ))
        .unwrap();
    assert_eq!(outcome.deleted, 2);
    assert_eq!(outcome.awaiting_installation, 0);
    let d = f.store.get_installation(job.id).unwrap();
    assert_eq!(d.media, vec![mine]);
    assert_eq!(f.store.outbox_counts().unwrap().pending, 1);
}

#[test]
fn assignment_lead_survey_team_and_user_tombstones_remove_only_what_no_job_needs() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let kim = other_technician();
    let stray_lead = fieldbook_domain::Lead {
        id: uuid::Uuid::new_v4(),
        ..job.lead.clone()
    };
    f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 230,
            users: vec![v(kim.clone(), 230)],
            leads: vec![v(stray_lead.clone(), 230)],
            ..Default::default()
        })
        .unwrap();

    let outcome = f
        .store
        .apply_server_batch(&tombstones(
            231,
            vec![
                left_scope(RecordKind::Assignment, job.assignment_id),
                left_scope(RecordKind::Lead, job.lead.id),
                left_scope(RecordKind::Survey, job.installation.survey_id),
                left_scope(RecordKind::Lead, stray_lead.id),
                left_scope(RecordKind::Team, f.team.id),
                left_scope(RecordKind::User, kim.id),
            ],
        ))
        .unwrap();
    // The assignment, the stray lead, the team and the user.
    assert_eq!(outcome.deleted, 4);
    let d = f.store.get_installation(job.id).unwrap();
    assert!(d.assignments.is_empty(), "the job itself stays in scope");
    assert_eq!(d.lead.as_ref(), Some(&job.lead), "the job still needs it");
    assert!(d.survey.is_some());
    assert_eq!(
        count(
            &f,
            "SELECT count(*) FROM leads WHERE id = ?1",
            stray_lead.id
        ),
        0
    );
    assert_eq!(
        count(&f, "SELECT count(*) FROM teams WHERE id = ?1", f.team.id),
        0
    );
    assert_eq!(
        count(
            &f,
            "SELECT count(*) FROM team_members WHERE team_id = ?1",
            f.team.id
        ),
        0
    );
    assert_eq!(
        count(&f, "SELECT count(*) FROM users WHERE id = ?1", kim.id),
        0
    );
}

#[test]
fn retired_jobs_leave_the_device_unless_something_about_them_is_unsent() {
    let mut f = Fixture::new();
    // Every fixture job was last changed on 2026-11-20 (t0).
    let closed = f.add_job(InstallationStatus::Closed, "Ada Lovelace");
    let cancelled = f.add_job(InstallationStatus::Cancelled, "Grace Hopper");
    let open = f.add_job(InstallationStatus::Confirmed, "Mary Somerville");
    let unsent = f.add_job(InstallationStatus::Cancelled, "Emmy Noether");
    // A draft the server never received keeps a cancelled job on the device.
    f.store
        .save_report_draft(&fieldbook_domain::ReportDraft::new(unsent.id, common::t0()))
        .unwrap();

    // Changed on the cutoff day itself: still inside the window.
    let cutoff = common::t0().date_naive();
    assert_eq!(f.store.remove_retired_installations(cutoff).unwrap(), 0);

    let removed = f
        .store
        .remove_retired_installations(cutoff.succ_opt().unwrap())
        .unwrap();
    assert_eq!(removed, 2);
    for gone in [&closed, &cancelled] {
        assert!(f.store.get_installation(gone.id).is_err());
    }
    assert!(f.store.get_installation(open.id).is_ok());
    assert!(f.store.get_installation(unsent.id).is_ok());
    // The customer's data went with the job.
    let conn = f.raw_connection();
    let leads: i64 = conn
        .query_row(
            "SELECT count(*) FROM leads WHERE id = ?1",
            [closed.lead.id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leads, 0);
}
