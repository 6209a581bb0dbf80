//! Work that arrives after ops took the job away, and reports ops send back,
//! through the real engine against the real server:
//! - a technician works a job offline while ops withdraw their team's
//!   assignment: the finish, report, photos and signature are held (not
//!   refused, not in needs-attention), the bytes upload, ops accept the held
//!   report and it becomes the installation's report, hash-equal, and the
//!   device pulls the decision;
//! - the same after the technician was removed from the team, kept on
//!   record with a reason;
//! - an installation that was never in the caller's scope stays not found;
//! - ops send a report back with a note, the technician corrects it, the
//!   customer signs again and the correction replaces the report, the
//!   earlier version kept in the report's audit log.

mod common;

use common::{Device, TestServer};
use fieldbook_domain::{InstallationStatus, Mutation};
use fieldbook_protocol::{
    HeldBecause, HeldWorkStatus, MutationOutcome, RejectCode, ReportEventKind,
};
use fieldbook_store::HeldWorkStatus as DeviceHeldStatus;
use uuid::Uuid;

/// Created, assigned to `team` and confirmed; returns (installation, assignment).
fn confirmed_job(server: &TestServer, team: Uuid, customer: &str) -> (Uuid, Uuid) {
    let id = server.ops().create_installation(customer);
    let assignment = server.ops().assign(id, team);
    server
        .ops()
        .transition(id, InstallationStatus::Confirmed, "customer confirmed")
        .expect("confirm");
    (id, assignment)
}

/// The whole job done offline: start, finish, 3 photos, signed report.
async fn work_offline(
    server: &mut TestServer,
    device: &Device,
    job: Uuid,
) -> (
    Vec<fieldbook_domain::Sha256Hex>,
    fieldbook_domain::Sha256Hex,
) {
    server.stop().await;
    device.start_job(job);
    device.finish_job(job);
    let work = device.complete_report(job, 3);
    assert_eq!(
        device.engine.sync_once().await.unwrap_err().code(),
        "offline"
    );
    server.resume().await;
    work
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_for_a_withdrawn_assignment_is_held_then_accepted_as_the_report() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let (job, assignment) = confirmed_job(&server, team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    assert!(device.has_installation(job));

    let (photos, signature) = work_offline(&mut server, &device, job).await;
    // Meanwhile, ops took the job off the team.
    server.ops().withdraw(assignment);

    let summary = device.engine.sync_once().await.expect("sync");
    assert_eq!(
        summary.held, 6,
        "start, finish, 3 photos, report: {summary:?}"
    );
    assert_eq!((summary.pushed, summary.refused), (0, 0), "{summary:?}");
    assert_eq!(
        summary.uploaded_blobs, 4,
        "3 photos and the signature still upload"
    );
    assert!(
        device.needs_attention().is_empty(),
        "held work is not an error"
    );
    assert_eq!(device.pending_mutations(), 0);
    // The job stays on the device, with its held work waiting for ops.
    assert!(
        device.has_installation(job),
        "the job is kept to show the decision"
    );
    let held_here = device.with_store(|s| s.held_work(job)).unwrap();
    assert_eq!(held_here.len(), 1, "{held_here:?}");
    assert_eq!(held_here[0].status, DeviceHeldStatus::Waiting);
    assert!(
        held_here[0].message.contains("waits for Central Ops"),
        "{held_here:?}"
    );
    let local_report = device.with_store(|s| s.get_report(job)).unwrap().unwrap();

    // Ops see it in the queue; nothing was applied to the installation.
    let queue = server.ops().held_work(Some(HeldWorkStatus::Waiting));
    assert_eq!(queue.len(), 1);
    let held = &queue[0];
    assert_eq!(held.id, held_here[0].id);
    assert_eq!(held.installation_id, job);
    assert_eq!(held.submitted_by, alex);
    assert_eq!(held.because, HeldBecause::AssignmentWithdrawn);
    assert!(held.has_report);
    assert_eq!(held.mutations.len(), 6);
    let mut held_media = held.media_sha256.clone();
    held_media.sort();
    let mut sorted_photos = photos.clone();
    sorted_photos.sort();
    assert_eq!(held_media, sorted_photos);
    assert!(server.report(job).is_none());
    assert!(server.media(job).is_empty());
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::Confirmed
    );
    for hash in photos.iter().chain([&signature]) {
        assert_eq!(server.blob_digest(hash).as_ref(), Some(hash), "blob kept");
    }

    // Accept: the report and its photos become the installation's.
    let accepted = server
        .ops()
        .accept_held(held.id, Some("work was done, keep it"))
        .expect("accept");
    assert_eq!(accepted.held_work.status, HeldWorkStatus::Accepted);
    let decision = accepted.held_work.decision.as_ref().expect("decision");
    assert_eq!(decision.decided_by, server.ops_id);
    assert_eq!(decision.reason.as_deref(), Some("work was done, keep it"));
    assert_eq!(
        accepted.installation.record.status,
        InstallationStatus::ReportSubmitted
    );
    let report = server.report(job).expect("report attached");
    assert_eq!(report.id, local_report.id);
    assert_eq!(report.content_hash, local_report.content_hash);
    assert_eq!(report.submitted_by, alex);
    let mut attached: Vec<_> = server
        .media(job)
        .into_iter()
        .map(|m| m.file.sha256)
        .collect();
    attached.sort();
    assert_eq!(attached, sorted_photos, "the photos are attached");
    for hash in &attached {
        assert_eq!(
            server.blob_digest(hash).as_ref(),
            Some(hash),
            "hash-equal bytes"
        );
    }
    let events = server.report_events(job);
    let accept_event = events
        .iter()
        .find(|e| e.event == ReportEventKind::AcceptedFromHeldWork)
        .expect("audited");
    assert_eq!(accept_event.user_id, server.ops_id);
    assert_eq!(accept_event.note.as_deref(), Some("work was done, keep it"));
    // A decision is final.
    assert_eq!(
        server
            .ops()
            .accept_held(held.id, None)
            .unwrap_err()
            .body
            .code
            .as_str(),
        "conflict"
    );

    // The device pulls the decision.
    device
        .engine
        .sync_once()
        .await
        .expect("sync after the decision");
    let held_here = device.with_store(|s| s.held_work(job)).unwrap();
    assert_eq!(held_here[0].status, DeviceHeldStatus::Accepted);
    assert_eq!(
        held_here[0].decision_reason.as_deref(),
        Some("work was done, keep it")
    );
    assert!(held_here[0].decided_at.is_some());
    // Seen: dismissed, the job (no longer the team's) leaves the device.
    assert!(device.with_store(|s| s.dismiss_held_work(job)).unwrap());
    assert!(!device.has_installation(job));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_after_removal_from_the_team_is_held_and_kept_on_record() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let sam = server.add_technician("sam");
    let team = server.ops().add_team("North Crew", &[alex, sam]);
    let (job, _) = confirmed_job(&server, team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;

    work_offline(&mut server, &device, job).await;
    server.ops().remove_member(team, alex);

    let summary = device.engine.sync_once().await.expect("sync");
    assert_eq!(summary.held, 6, "{summary:?}");
    assert!(device.needs_attention().is_empty());
    let queue = server.ops().held_work(Some(HeldWorkStatus::Waiting));
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].because, HeldBecause::RemovedFromTeam);

    // A reason is required to keep it on record.
    assert_eq!(
        server
            .ops()
            .keep_held(queue[0].id, "  ")
            .unwrap_err()
            .body
            .code
            .as_str(),
        "validation_failed"
    );
    let kept = server
        .ops()
        .keep_held(queue[0].id, "Sam's team finished the job the next day")
        .expect("keep");
    assert_eq!(kept.status, HeldWorkStatus::KeptOnRecord);
    assert!(server.report(job).is_none(), "nothing applied");
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::Confirmed
    );
    assert!(server
        .ops()
        .held_work(Some(HeldWorkStatus::Waiting))
        .is_empty());
    assert_eq!(
        server
            .ops()
            .held_work(Some(HeldWorkStatus::KeptOnRecord))
            .len(),
        1
    );

    device
        .engine
        .sync_once()
        .await
        .expect("sync after the decision");
    let held_here = device.with_store(|s| s.held_work(job)).unwrap();
    assert_eq!(held_here[0].status, DeviceHeldStatus::KeptOnRecord);
    assert_eq!(
        held_here[0].decision_reason.as_deref(),
        Some("Sam's team finished the job the next day")
    );
    // Work that arrives after the decision opens a new record.
    let media_after = server.ops().push_as(
        alex,
        Uuid::new_v4(),
        vec![Mutation::InstallationFinish {
            installation_id: job,
            expected_from: InstallationStatus::InProgress,
            at: chrono::Utc::now(),
        }],
    );
    let MutationOutcome::Held { held_work_id, .. } = &media_after.results[0].outcome else {
        panic!("{media_after:?}");
    };
    assert_ne!(*held_work_id, queue[0].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_for_an_installation_never_in_scope_is_not_found() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let bea = server.add_technician("bea");
    let north = server.ops().add_team("North Crew", &[alex]);
    server.ops().add_team("South Crew", &[bea]);
    let (job, assignment) = confirmed_job(&server, north, "Ada Customer");
    // Even once the job left North's scope, South never had it.
    server.ops().withdraw(assignment);
    let answer = server.ops().push_as(
        bea,
        Uuid::new_v4(),
        vec![
            Mutation::InstallationStart {
                installation_id: job,
                expected_from: InstallationStatus::Confirmed,
                override_reason: None,
                at: chrono::Utc::now(),
            },
            Mutation::InstallationStart {
                installation_id: Uuid::new_v4(),
                expected_from: InstallationStatus::Confirmed,
                override_reason: None,
                at: chrono::Utc::now(),
            },
        ],
    );
    for result in &answer.results {
        match &result.outcome {
            MutationOutcome::Rejected { code, .. } => assert_eq!(*code, RejectCode::NotFound),
            other => panic!("expected not_found, got {other:?}"),
        }
    }
    assert!(server.ops().held_work(None).is_empty(), "nothing held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_sent_back_is_corrected_signed_again_and_replaces_the_report() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let (job, _) = confirmed_job(&server, team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    device.start_job(job);
    device.finish_job(job);
    device.complete_report(job, 2);
    let summary = device.engine.sync_once().await.expect("sync");
    assert_eq!(summary.pushed, 5, "{summary:?}");
    let first = server.report(job).expect("report");
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::ReportSubmitted
    );

    // Ops: a note is required; then the report goes back.
    assert_eq!(
        server
            .ops()
            .send_back(job, " ")
            .unwrap_err()
            .body
            .code
            .as_str(),
        "validation_failed"
    );
    let note = "The serial number does not match the photo of the label";
    let sent_back = server.ops().send_back(job, note).expect("send back");
    assert_eq!(sent_back.status, InstallationStatus::Completed);
    assert_eq!(sent_back.status_reason.as_deref(), Some(note));
    // A second send-back finds no submitted report.
    assert_eq!(
        server
            .ops()
            .send_back(job, note)
            .unwrap_err()
            .body
            .code
            .as_str(),
        "conflict"
    );

    // The device pulls it: the note is on the job, the report is editable.
    device.engine.sync_once().await.expect("sync");
    let local = device.installation(job);
    assert_eq!(local.status, InstallationStatus::Completed);
    assert_eq!(local.status_reason.as_deref(), Some(note));
    assert!(device.with_store(|s| s.get_report(job)).unwrap().is_none());
    let mut draft = device
        .with_store(|s| s.get_report_draft(job))
        .unwrap()
        .expect("the report is a draft again");
    assert_eq!(draft.charger_serial_number, first.charger_serial_number);
    assert!(
        draft.customer_signature.is_some(),
        "the signature came back with it"
    );

    // The correction changes the content: the signature no longer matches
    // and the report cannot go until the customer signs again.
    draft.charger_serial_number = "ZP-2026-000999".into();
    let saved = device
        .with_store(|s| s.save_report_draft(&draft))
        .expect("save");
    assert_eq!(saved.check.signature_matches, Some(false));
    assert!(device.with_store(|s| s.submit_report(job)).is_err());
    device
        .with_store(|s| s.sign_report(job, &common::signature("Ada Customer")))
        .expect("sign again");
    let corrected = device
        .with_store(|s| s.submit_report(job))
        .expect("resubmit");
    assert_eq!(
        corrected.id, first.id,
        "the resubmission keeps the report's id"
    );
    let summary = device.engine.sync_once().await.expect("sync");
    assert_eq!((summary.pushed, summary.refused), (1, 0), "{summary:?}");

    // One report, the corrected one; the earlier version is in the log.
    let report = server.report(job).expect("report");
    assert_eq!(report.id, first.id);
    assert_eq!(report.charger_serial_number, "ZP-2026-000999");
    assert_ne!(report.content_hash, first.content_hash);
    assert_eq!(
        report.customer_signature.as_ref().unwrap().content_hash,
        report.content_hash
    );
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::ReportSubmitted
    );
    let events = server.report_events(job);
    let kinds: Vec<_> = events.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        vec![
            ReportEventKind::Submitted,
            ReportEventKind::SentBack,
            ReportEventKind::Corrected
        ]
    );
    assert_eq!(events[1].user_id, server.ops_id);
    assert_eq!(events[1].note.as_deref(), Some(note));
    let earlier = events[2]
        .earlier_version
        .as_deref()
        .expect("earlier version");
    assert_eq!(earlier.charger_serial_number, first.charger_serial_number);
    assert_eq!(earlier.content_hash, first.content_hash);
    // The device is in step: its report is the server's.
    device.engine.sync_once().await.expect("sync");
    let local_report = device.with_store(|s| s.get_report(job)).unwrap().unwrap();
    assert_eq!(local_report.content_hash, report.content_hash);
    assert_eq!(
        device.installation(job).status,
        InstallationStatus::ReportSubmitted
    );
}

/// alex (the team's one technician) starts a confirmed job, then, offline,
/// photographs it with `caption` while ops take the job off `team`: the
/// photo is held, alone (no report). Returns (job, alex's device, the
/// photo's hash).
async fn photo_held_while_the_job_is_away(
    server: &mut TestServer,
    team: Uuid,
    caption: &str,
) -> (Uuid, Device, fieldbook_domain::Sha256Hex) {
    let (job, assignment) = confirmed_job(server, team, "Ada Customer");
    let device = Device::signed_in(server, "alex").await;
    device.start_job(job);
    device.engine.sync_once().await.expect("start synced");

    server.stop().await;
    let work = tempfile::tempdir().unwrap();
    let wall = fieldbook_testkit::write_jpeg(work.path(), "wall.jpg", 7);
    let photo = device
        .with_store(|s| s.attach_media(job, &wall, caption))
        .expect("attach photo")
        .file
        .sha256;
    device.engine.notify_local_change();
    server.resume().await;
    server.ops().withdraw(assignment);
    let summary = device.engine.sync_once().await.expect("sync");
    assert_eq!(summary.held, 1, "the photo is held: {summary:?}");
    let held = server.ops().held_work(Some(HeldWorkStatus::Waiting));
    assert_eq!(held.len(), 1);
    assert!(!held[0].has_report);
    (job, device, photo)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_held_while_the_job_was_away_goes_with_the_report_once_the_job_is_back() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let (job, device, held_photo) =
        photo_held_while_the_job_is_away(&mut server, team, "The wall").await;
    let held = server.ops().held_work(Some(HeldWorkStatus::Waiting));

    // The job comes back; the technician finishes it and the customer signs
    // a report whose photos include the held one.
    server.ops().assign(job, team);
    device.engine.sync_once().await.expect("sync, job back");
    device.finish_job(job);
    let (photos, _) = device.complete_report(job, 1);
    let summary = device.engine.sync_once().await.expect("sync the report");
    assert_eq!(
        (summary.refused, summary.held),
        (0, 0),
        "the report is not refused for the held photo: {summary:?}"
    );
    assert!(device.needs_attention().is_empty());

    let report = server.report(job).expect("the report landed");
    assert_eq!(report.submitted_by, alex);
    let mut on_server: Vec<_> = server
        .media(job)
        .into_iter()
        .map(|m| m.file.sha256)
        .collect();
    on_server.sort();
    let mut expected = vec![held_photo, photos[0].clone()];
    expected.sort();
    assert_eq!(on_server, expected, "the held photo is the job's now");
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::ReportSubmitted
    );
    // The held record says what happened to it, and who released it.
    let released = server.ops().held_work(Some(HeldWorkStatus::Accepted));
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].id, held[0].id);
    let decision = released[0].decision.as_ref().expect("decided");
    assert_eq!(decision.decided_by, alex);
    assert!(
        decision
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("came back")),
        "{decision:?}"
    );
    assert!(server
        .ops()
        .held_work(Some(HeldWorkStatus::Waiting))
        .is_empty());
    device.engine.sync_once().await.expect("sync the decision");
    let held_here = device.with_store(|s| s.held_work(job)).unwrap();
    assert_eq!(held_here[0].status, DeviceHeldStatus::Accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_attach_held_photos_that_came_without_a_report_and_the_status_stays() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    // The job never comes back to the team.
    let (job, device, held_photo) =
        photo_held_while_the_job_is_away(&mut server, team, "Wall box fitted").await;
    let held = server.ops().held_work(Some(HeldWorkStatus::Waiting));
    let status_before = server.installation(job).status;

    let accepted = server
        .ops()
        .accept_held(held[0].id, Some("photo of the finished wall box, keep it"))
        .expect("accept the photo");
    assert_eq!(accepted.held_work.status, HeldWorkStatus::Accepted);
    assert_eq!(accepted.installation.record.status, status_before);
    assert_eq!(
        server.installation(job).status,
        status_before,
        "no report, no move"
    );
    assert!(server.report(job).is_none());
    let on_server: Vec<_> = server
        .media(job)
        .into_iter()
        .map(|m| m.file.sha256)
        .collect();
    assert_eq!(
        on_server,
        vec![held_photo],
        "the held photo is the job's now"
    );
    let photo = &server.media(job)[0];
    assert_eq!(
        (photo.uploaded_by, photo.caption.as_str()),
        (alex, "Wall box fitted")
    );

    // Decided once: a second accept is refused, and the device learns the decision.
    assert_eq!(
        server
            .ops()
            .accept_held(held[0].id, None)
            .unwrap_err()
            .status,
        axum::http::StatusCode::CONFLICT
    );
    device.engine.sync_once().await.expect("sync the decision");
    let held_here = device.with_store(|s| s.held_work(job)).unwrap();
    assert_eq!(held_here[0].status, DeviceHeldStatus::Accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_work_with_neither_a_report_nor_photos_cannot_be_accepted() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let (job, assignment) = confirmed_job(&server, team, "Ada Customer");
    let _device = Device::signed_in(&server, "alex").await;
    server.ops().withdraw(assignment);
    let pushed = server.ops().push_as(
        alex,
        Uuid::new_v4(),
        vec![Mutation::InstallationStart {
            installation_id: job,
            expected_from: InstallationStatus::Confirmed,
            at: chrono::Utc::now(),
            override_reason: None,
        }],
    );
    let MutationOutcome::Held { held_work_id, .. } = &pushed.results[0].outcome else {
        panic!("{pushed:?}");
    };
    let refused = server.ops().accept_held(*held_work_id, None).unwrap_err();
    assert_eq!(refused.status, axum::http::StatusCode::CONFLICT);
    assert!(
        refused.body.message.contains("keep it on record"),
        "{refused:?}"
    );
    assert_eq!(
        server.ops().held_work(Some(HeldWorkStatus::Waiting)).len(),
        1,
        "still waiting for ops' decision"
    );
}
