//! Push: idempotent replays, device sequence and ownership, and every
//! lifecycle race between a technician's offline work and Central Ops.

use chrono::Utc;
use fieldbook_domain::{AssignmentStatus, InstallationStatus, Mutation};
use fieldbook_protocol::{MutationOutcome, RejectCode};
use fieldbook_testkit::{
    finish, is_applied, photo, signed_report, start, ProtocolDevice, TestServer, TwoTeams, TECH_A,
    TECH_A2, TECH_B,
};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

fn reject_code(outcome: &MutationOutcome) -> Option<RejectCode> {
    match outcome {
        MutationOutcome::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

fn conflict_status(outcome: &MutationOutcome) -> InstallationStatus {
    match outcome {
        MutationOutcome::Conflict { server_state } => {
            server_state
                .installation
                .as_ref()
                .expect("conflict carries the installation")
                .record
                .status
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn change_seq(server: &TestServer) -> u64 {
    server
        .state
        .storage
        .read(|db| db.change_seq())
        .expect("read change sequence")
}

/// A confirmed job of team A that its technician has started (applied).
async fn started_by_tech_a(server: &TestServer, world: &TwoTeams) -> (Uuid, ProtocolDevice) {
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(server, TECH_A).await;
    assert!(is_applied(
        &device.push_one(server, start(installation)).await
    ));
    (installation, device)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_pushed_five_times_has_one_effect() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let media = photo(installation, b"photo bytes");
    let report = signed_report(installation, std::slice::from_ref(&media.file.sha256));
    let batch = device.envelopes(vec![
        start(installation),
        finish(installation),
        Mutation::MediaAttach {
            media: media.clone(),
        },
        Mutation::ReportSubmit {
            report: Box::new(report.clone()),
        },
    ]);

    let first = device.push_envelopes(&server, &batch).await;
    assert!(first.iter().all(is_applied), "{first:?}");
    let seq_after_first = change_seq(&server).await;
    for _ in 0..4 {
        let again = device.push_envelopes(&server, &batch).await;
        assert_eq!(again, first, "a replay must get the stored answers");
    }
    assert_eq!(
        change_seq(&server).await,
        seq_after_first,
        "replays changed data"
    );

    let state = server
        .installation_status(&device.token, installation)
        .await;
    assert_eq!(state["status"], "report_submitted");
    assert_eq!(state["demo_completed"], true);
    assert_eq!(state["material_ready"], true);
    let (_, detail) = server
        .get(
            &format!("/api/v1/installations/{installation}"),
            &device.token,
        )
        .await;
    assert_eq!(detail["assignments"][0]["record"]["status"], "completed");
    let (status, stored) = server
        .get(
            &format!("/api/v1/installations/{installation}/report"),
            &device.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["record"]["report"]["id"], json!(report.id));
    assert_eq!(
        stored["record"]["report"]["submitted_by"],
        json!(device.user_id)
    );
    // The signature PNG was never uploaded: the report says so.
    assert_eq!(stored["record"]["signature_blob_available"], false);

    let (_, events) = server
        .get(
            &format!("/api/v1/installations/{installation}/report/events"),
            &device.token,
        )
        .await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "submitted");
    assert_eq!(events[0]["device_id"], json!(device.id));
    assert_eq!(events[0]["user_id"], json!(device.user_id));
    assert_eq!(events[0]["content_hash"], json!(report.content_hash));

    let pages = server.pull_all(&device.token, 0, 1000).await;
    let media_records: Vec<_> = pages.iter().flat_map(|p| &p.media).collect();
    assert_eq!(media_records.len(), 1);
    assert!(!media_records[0].record.blob_available, "awaiting blob");
    assert_eq!(pages.iter().map(|p| p.reports.len()).sum::<usize>(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_gaps_and_foreign_devices_are_rejected_without_a_trace() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let mut envelopes = device.envelopes(vec![start(installation), finish(installation)]);

    // Number 2 before number 1: a gap.
    let gap = device
        .push_envelopes(&server, std::slice::from_ref(&envelopes[1]))
        .await;
    assert_eq!(reject_code(&gap[0]), Some(RejectCode::SequenceGap));
    // The number to resend from is a field, not only words in the reason.
    assert!(
        matches!(
            gap[0],
            MutationOutcome::Rejected {
                expected_device_seq: Some(1),
                ..
            }
        ),
        "{:?}",
        gap[0]
    );
    // Not recorded: the same envelopes in order now go through.
    let ok = device.push_envelopes(&server, &envelopes).await;
    assert!(ok.iter().all(is_applied), "{ok:?}");

    // Another user on the same device id is refused.
    let mut andy = ProtocolDevice::login(&server, TECH_A2).await;
    andy.id = device.id;
    let outcome = andy
        .push_one(
            &server,
            Mutation::InstallationSetFlags {
                installation_id: installation,
                customer_confirmed: Some(true),
                demo_completed: None,
                base_customer_confirmed: false,
                base_demo_completed: false,
            },
        )
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::ForeignDevice));

    // A mutation id already used by someone else is not theirs to replay.
    envelopes[0].device_id = Uuid::new_v4();
    envelopes[0].device_seq = 1;
    let bob = ProtocolDevice::login(&server, TECH_B).await;
    let stolen = bob
        .push_envelopes(&server, std::slice::from_ref(&envelopes[0]))
        .await;
    assert_eq!(reject_code(&stolen[0]), Some(RejectCode::MutationIdReused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_racing_an_ops_cancellation_is_a_conflict_flagged_for_ops() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    // Ops cancel while the technician is offline and starts the job.
    let (status, _) = server
        .transition(&world.ops, installation, InstallationStatus::Cancelled)
        .await;
    assert_eq!(status, StatusCode::OK);
    let outcome = device.push_one(&server, start(installation)).await;
    assert_eq!(conflict_status(&outcome), InstallationStatus::Cancelled);
    let state = server.installation_status(&world.ops, installation).await;
    assert_eq!(state["status"], "cancelled");
    assert!(state["ops_review_note"]
        .as_str()
        .unwrap()
        .contains("started"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_and_report_racing_an_ops_reschedule_keep_the_report_and_media() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (installation, mut device) = started_by_tech_a(&server, &world).await;

    // The technician goes offline and finishes; meanwhile ops reschedule.
    let (status, body) = server
        .transition(&world.ops, installation, InstallationStatus::Rescheduled)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let media = photo(installation, b"wall mount");
    let report = signed_report(installation, std::slice::from_ref(&media.file.sha256));
    let outcomes = device
        .push(
            &server,
            vec![
                finish(installation),
                Mutation::MediaAttach {
                    media: media.clone(),
                },
                Mutation::ReportSubmit {
                    report: Box::new(report.clone()),
                },
            ],
        )
        .await;
    assert_eq!(
        conflict_status(&outcomes[0]),
        InstallationStatus::Rescheduled
    );
    assert!(is_applied(&outcomes[1]), "media is kept: {:?}", outcomes[1]);
    assert_eq!(
        conflict_status(&outcomes[2]),
        InstallationStatus::Rescheduled
    );

    let state = server.installation_status(&world.ops, installation).await;
    assert_eq!(state["status"], "rescheduled");
    let note = state["ops_review_note"].as_str().unwrap();
    assert!(note.contains("finished"), "{note}");
    assert!(note.contains("report"), "{note}");
    let (status, stored) = server
        .get(
            &format!("/api/v1/installations/{installation}/report"),
            &world.ops,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the report is kept");
    assert_eq!(stored["record"]["report"]["id"], json!(report.id));
    let (_, events) = server
        .get(
            &format!("/api/v1/installations/{installation}/report/events"),
            &world.ops,
        )
        .await;
    assert_eq!(events[0]["event"], "submitted_for_review");
    let (status, _) = server
        .get(&format!("/api/v1/media/{}", media.id), &device.token)
        .await;
    assert_eq!(status, StatusCode::OK, "the media is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_start_finish_and_report_racing_an_ops_cancellation() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let (status, _) = server
        .transition(&world.ops, installation, InstallationStatus::Cancelled)
        .await;
    assert_eq!(status, StatusCode::OK);
    let report = signed_report(installation, &[]);
    let outcomes = device
        .push(
            &server,
            vec![
                start(installation),
                finish(installation),
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            ],
        )
        .await;
    for outcome in &outcomes {
        assert_eq!(conflict_status(outcome), InstallationStatus::Cancelled);
    }
    let (status, _) = server
        .get(
            &format!("/api/v1/installations/{installation}/report"),
            &device.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the report is kept");
    let state = server.installation_status(&world.ops, installation).await;
    assert_eq!(state["status"], "cancelled");
    assert_eq!(state["demo_completed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_starting_the_same_job_one_wins_no_ops_flag() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut alice = ProtocolDevice::login(&server, TECH_A).await;
    let mut andy = ProtocolDevice::login(&server, TECH_A2).await;
    let (a, b) = tokio::join!(
        alice.push_one(&server, start(installation)),
        andy.push_one(&server, start(installation)),
    );
    let applied = [&a, &b].iter().filter(|o| is_applied(o)).count();
    assert_eq!(applied, 1, "{a:?} {b:?}");
    let loser = if is_applied(&a) { &b } else { &a };
    assert_eq!(conflict_status(loser), InstallationStatus::InProgress);
    let state = server.installation_status(&world.ops, installation).await;
    assert_eq!(state["status"], "in_progress");
    assert!(state["ops_review_note"].is_null(), "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn could_not_complete_racing_an_ops_reschedule_keeps_the_reason() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (installation, mut device) = started_by_tech_a(&server, &world).await;
    let (status, _) = server
        .transition(&world.ops, installation, InstallationStatus::Rescheduled)
        .await;
    assert_eq!(status, StatusCode::OK);
    let outcome = device
        .push_one(
            &server,
            Mutation::InstallationCouldNotComplete {
                installation_id: installation,
                expected_from: InstallationStatus::InProgress,
                reason: "Consumer unit needs replacing".into(),
                at: Utc::now(),
            },
        )
        .await;
    assert_eq!(conflict_status(&outcome), InstallationStatus::Rescheduled);
    let state = server.installation_status(&world.ops, installation).await;
    assert!(state["ops_review_note"]
        .as_str()
        .unwrap()
        .contains("Consumer unit needs replacing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_mutations_are_rejected_and_change_nothing() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;

    // Finishing a job that was never started: no such move.
    let outcome = device
        .push_one(&server, {
            Mutation::InstallationFinish {
                installation_id: installation,
                expected_from: InstallationStatus::Confirmed,
                at: Utc::now(),
            }
        })
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::InvalidTransition));

    // A report whose content hash does not match its fields.
    assert!(is_applied(
        &device.push_one(&server, start(installation)).await
    ));
    assert!(is_applied(
        &device.push_one(&server, finish(installation)).await
    ));
    let mut tampered = signed_report(installation, &[]);
    tampered.charger_serial_number = "SN-CHANGED".into();
    let before = change_seq(&server).await;
    let outcome = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(tampered),
            },
        )
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::ValidationFailed));
    assert_eq!(change_seq(&server).await, before);
    let state = server
        .installation_status(&device.token, installation)
        .await;
    assert_eq!(state["status"], "completed");

    // Another team's installation is "not found".
    let foreign = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    let outcome = device.push_one(&server, start(foreign)).await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::NotFound));

    // A video with an image file type.
    let mut media = photo(installation, b"x");
    media.media_type = fieldbook_domain::MediaType::Video;
    let outcome = device
        .push_one(&server, Mutation::MediaAttach { media })
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::ValidationFailed));

    // Rejections consume the device sequence like any answer: the next
    // number goes through.
    let report = signed_report(installation, &[]);
    let outcome = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(report),
            },
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");
    // A second, different report for the same installation.
    let outcome = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(signed_report(installation, &[])),
            },
        )
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::ReportExists));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_merge_three_way_and_true_wins() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut alice = ProtocolDevice::login(&server, TECH_A).await;
    let mut andy = ProtocolDevice::login(&server, TECH_A2).await;
    let set = |value: bool| Mutation::InstallationSetFlags {
        installation_id: installation,
        customer_confirmed: Some(value),
        demo_completed: None,
        base_customer_confirmed: false,
        base_demo_completed: false,
    };
    assert!(is_applied(&alice.push_one(&server, set(true)).await));
    // Andy's device still thinks false and leaves it false: no change on his
    // side, so alice's true stands.
    assert!(is_applied(&andy.push_one(&server, set(false)).await));
    let state = server.installation_status(&alice.token, installation).await;
    assert_eq!(state["customer_confirmed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_responses_and_withdrawal_race() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server.create_installation(&world.ops, "Resp").await;
    let assignment = server.assign(&world.ops, installation, world.team_a).await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let respond = |response: AssignmentStatus, reason: Option<&str>| Mutation::AssignmentRespond {
        assignment_id: assignment,
        response,
        reason: reason.map(str::to_owned),
        at: Utc::now(),
    };
    let outcome = device
        .push_one(&server, respond(AssignmentStatus::Declined, None))
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::ValidationFailed));
    let outcome = device
        .push_one(&server, respond(AssignmentStatus::Accepted, None))
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");

    // Bob's team cannot answer for team A.
    let mut bob = ProtocolDevice::login(&server, TECH_B).await;
    let outcome = bob
        .push_one(&server, respond(AssignmentStatus::Declined, Some("no")))
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::NotFound));

    // Ops withdraw while the team's decline is in flight: a conflict.
    server.withdraw(&world.ops, assignment).await;
    let outcome = device
        .push_one(
            &server,
            respond(AssignmentStatus::Declined, Some("Van broke down")),
        )
        .await;
    match outcome {
        MutationOutcome::Conflict { server_state } => {
            assert_eq!(
                server_state.assignment.unwrap().record.status,
                AssignmentStatus::Withdrawn
            );
        }
        other => panic!("expected conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_caption_and_removal_belong_to_the_uploader() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut alice = ProtocolDevice::login(&server, TECH_A).await;
    let mut andy = ProtocolDevice::login(&server, TECH_A2).await;
    let media = photo(installation, b"meter");
    assert!(is_applied(
        &alice
            .push_one(
                &server,
                Mutation::MediaAttach {
                    media: media.clone()
                }
            )
            .await
    ));
    let outcome = andy
        .push_one(&server, Mutation::MediaRemove { media_id: media.id })
        .await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::NotPermitted));
    let outcome = alice
        .push_one(
            &server,
            Mutation::MediaCaption {
                media_id: media.id,
                caption: "Meter before".into(),
            },
        )
        .await;
    assert!(is_applied(&outcome));
    let cursor = server
        .pull_all(&andy.token, 0, 1000)
        .await
        .last()
        .unwrap()
        .next_cursor;
    let outcome = alice
        .push_one(&server, Mutation::MediaRemove { media_id: media.id })
        .await;
    assert!(is_applied(&outcome));
    // Team-mates pull a "deleted" tombstone.
    let pages = server.pull_all(&andy.token, cursor, 1000).await;
    let tombstones: Vec<_> = pages.iter().flat_map(|p| &p.tombstones).collect();
    assert_eq!(tombstones.len(), 1, "{tombstones:?}");
    assert_eq!(tombstones[0].id, media.id);
    assert_eq!(
        tombstones[0].reason,
        fieldbook_protocol::TombstoneReason::Deleted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_after_a_server_restart_get_the_stored_answers() {
    let mut server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let batch = device.envelopes(vec![start(installation), finish(installation)]);
    let first = device.push_envelopes(&server, &batch).await;
    assert!(first.iter().all(is_applied), "{first:?}");
    let cursor = server
        .pull_all(&device.token, 0, 1000)
        .await
        .last()
        .unwrap()
        .next_cursor;

    server.restart().await;
    // Tokens, device sequences and stored answers survived.
    let again = device.push_envelopes(&server, &batch).await;
    assert_eq!(again, first);
    let next = device.push_one(&server, start(installation)).await;
    assert!(matches!(next, MutationOutcome::Conflict { .. }), "{next:?}");
    let page = server.pull(&device.token, cursor, 1000).await;
    assert!(page.next_cursor >= cursor);
    let state = server
        .installation_status(&device.token, installation)
        .await;
    assert_eq!(state["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_anyway_needs_a_reason_and_records_it() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server.create_installation(&world.ops, "Early").await;
    server.assign(&world.ops, installation, world.team_a).await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let start_anyway = |reason: Option<&str>| Mutation::InstallationStart {
        installation_id: installation,
        expected_from: InstallationStatus::Planned,
        override_reason: reason.map(str::to_owned),
        at: Utc::now(),
    };
    let outcome = device.push_one(&server, start_anyway(None)).await;
    assert_eq!(reject_code(&outcome), Some(RejectCode::ValidationFailed));
    let outcome = device
        .push_one(
            &server,
            start_anyway(Some("Customer asked us to start today")),
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");
    let state = server
        .installation_status(&device.token, installation)
        .await;
    assert_eq!(state["status"], "in_progress");
    assert!(state["status_reason"]
        .as_str()
        .unwrap()
        .contains("Customer asked us to start today"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_audit_log_is_append_only() {
    if fieldbook_testkit::skip_unless_sqlite("the_report_audit_log_is_append_only") {
        return;
    }
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let outcomes = device
        .push(
            &server,
            vec![
                start(installation),
                finish(installation),
                Mutation::ReportSubmit {
                    report: Box::new(signed_report(installation, &[])),
                },
            ],
        )
        .await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");
    let db =
        rusqlite::Connection::open(fieldbook_server::storage::database_path(server.data_dir()))
            .unwrap();
    let rows: i64 = db
        .query_row("SELECT count(*) FROM report_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
    assert!(db
        .execute("UPDATE report_events SET event = 'forged'", [])
        .is_err());
    assert!(db.execute("DELETE FROM report_events", []).is_err());
    let rows: i64 = db
        .query_row("SELECT count(*) FROM report_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_awaiting_its_blob_is_pulled_again_when_the_blob_arrives() {
    let server = TestServer::start_with(|c| {
        c.blob_arrival_poll = std::time::Duration::from_millis(50);
    })
    .await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut alice = ProtocolDevice::login(&server, TECH_A).await;
    let andy = ProtocolDevice::login(&server, TECH_A2).await;
    let bytes = b"a photo that uploads later";
    let media = photo(installation, bytes);
    assert!(is_applied(
        &alice
            .push_one(
                &server,
                Mutation::MediaAttach {
                    media: media.clone()
                }
            )
            .await
    ));
    // A team-mate's device syncs while the blob is still uploading.
    let pages = server.pull_all(&andy.token, 0, 1000).await;
    let seen: Vec<_> = pages.iter().flat_map(|p| &p.media).collect();
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].record.blob_available);
    let cursor = pages.last().unwrap().next_cursor;

    server.upload_blob(&alice.token, bytes).await;

    // Within a few watcher rounds the media record gets a new version that
    // says the blob is there (generous deadline for a busy machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = server.pull(&andy.token, cursor, 1000).await;
        if let Some(m) = page.media.iter().find(|m| m.record.media.id == media.id) {
            assert!(m.record.blob_available);
            assert!(m.version > seen[0].version);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "blob arrival never re-versioned the media record"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_sequence_number_resent_under_a_new_mutation_id_is_rejected_not_applied() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let first = device.envelopes(vec![start(installation)]);
    assert!(is_applied(&device.push_envelopes(&server, &first).await[0]));

    // Same device, same sequence number 1, another mutation id (a device
    // that lost its outbox acknowledgement and renumbered).
    let mut reused = first[0].clone();
    reused.mutation_id = Uuid::new_v4();
    reused.mutation = Mutation::InstallationSetFlags {
        installation_id: installation,
        customer_confirmed: Some(true),
        demo_completed: None,
        base_customer_confirmed: false,
        base_demo_completed: false,
    };
    let before = change_seq(&server).await;
    let outcome = device
        .push_envelopes(&server, std::slice::from_ref(&reused))
        .await;
    assert_eq!(reject_code(&outcome[0]), Some(RejectCode::SequenceGap));
    assert_eq!(change_seq(&server).await, before, "nothing applied");
    let state = server.installation_status(&world.ops, installation).await;
    assert_eq!(state["customer_confirmed"], false);

    // The original replays as before, and the next number still goes through.
    let replay = device.push_envelopes(&server, &first).await;
    assert!(is_applied(&replay[0]));
    let next = device.push_one(&server, finish(installation)).await;
    assert!(is_applied(&next), "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_anyway_racing_an_ops_move_that_still_allows_the_start_is_applied() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let start_anyway = |installation, from| Mutation::InstallationStart {
        installation_id: installation,
        expected_from: from,
        override_reason: Some("Customer asked us to start today".into()),
        at: Utc::now(),
    };

    // The device saw `planned`; ops confirmed meanwhile. The start is
    // valid from `confirmed` with no override at all: no conflict, no flag,
    // and the job can be finished and reported as usual.
    let confirmed = server.create_installation(&world.ops, "Confirmed").await;
    server.assign(&world.ops, confirmed, world.team_a).await;
    let (status, _) = server
        .transition(&world.ops, confirmed, InstallationStatus::Confirmed)
        .await;
    assert_eq!(status, StatusCode::OK);
    let report = signed_report(confirmed, &[]);
    let outcomes = device
        .push(
            &server,
            vec![
                start_anyway(confirmed, InstallationStatus::Planned),
                finish(confirmed),
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            ],
        )
        .await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");
    let state = server.installation_status(&world.ops, confirmed).await;
    assert_eq!(state["status"], "report_submitted");
    assert!(state["ops_review_note"].is_null(), "{state}");

    // Saw `material_pending`, ops made materials ready: still a start-anyway
    // state, and the reason is recorded.
    let ready = server.create_installation(&world.ops, "Ready").await;
    server.assign(&world.ops, ready, world.team_a).await;
    for to in [
        InstallationStatus::MaterialPending,
        InstallationStatus::MaterialReady,
    ] {
        let (status, body) = server.transition(&world.ops, ready, to).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let outcome = device
        .push_one(
            &server,
            start_anyway(ready, InstallationStatus::MaterialPending),
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");
    let state = server.installation_status(&world.ops, ready).await;
    assert_eq!(state["status"], "in_progress");
    assert!(state["status_reason"]
        .as_str()
        .unwrap()
        .contains("Customer asked us to start today"));
    assert!(state["ops_review_note"].is_null(), "{state}");

    // Ops cancelled: the start stays a conflict flagged for review.
    let cancelled = server.create_installation(&world.ops, "Cancelled").await;
    server.assign(&world.ops, cancelled, world.team_a).await;
    let (status, _) = server
        .transition(&world.ops, cancelled, InstallationStatus::Cancelled)
        .await;
    assert_eq!(status, StatusCode::OK);
    let outcome = device
        .push_one(
            &server,
            start_anyway(cancelled, InstallationStatus::Planned),
        )
        .await;
    assert_eq!(conflict_status(&outcome), InstallationStatus::Cancelled);
    let state = server.installation_status(&world.ops, cancelled).await;
    assert!(state["ops_review_note"]
        .as_str()
        .unwrap()
        .contains("started"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_kept_for_review_completes_the_job_once_it_is_finished_again() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (installation, mut device) = started_by_tech_a(&server, &world).await;
    // Ops reschedule while the technician finishes and reports offline: the
    // report is kept for review.
    let (status, body) = server
        .transition(&world.ops, installation, InstallationStatus::Rescheduled)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = signed_report(installation, &[]);
    let submit = Mutation::ReportSubmit {
        report: Box::new(report.clone()),
    };
    let outcomes = device
        .push(&server, vec![finish(installation), submit.clone()])
        .await;
    assert_eq!(
        conflict_status(&outcomes[1]),
        InstallationStatus::Rescheduled
    );

    // Ops re-plan and confirm; the technician comes back, does the job and
    // sends the same report again (the first answer was a conflict).
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/installations/{installation}/transition"),
            &world.ops,
            &json!({"to": "planned", "scheduled_date": "2026-12-10", "scheduled_time_slot": "morning"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .transition(&world.ops, installation, InstallationStatus::Confirmed)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes = device
        .push(
            &server,
            vec![start(installation), finish(installation), submit],
        )
        .await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");

    // The job moved on, as for any submitted report: it is not stuck in
    // `completed`, where neither ops nor the technician could move it.
    let (_, detail) = server
        .get(&format!("/api/v1/installations/{installation}"), &world.ops)
        .await;
    let state = &detail["installation"]["record"];
    assert_eq!(state["status"], "report_submitted", "{state}");
    assert_eq!(state["demo_completed"], report.demo_given);
    assert_eq!(detail["assignments"][0]["record"]["status"], "completed");
    let (_, events) = server
        .get(
            &format!("/api/v1/installations/{installation}/report/events"),
            &world.ops,
        )
        .await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["submitted_for_review", "submitted"]);
    let (status, body) = server
        .transition(&world.ops, installation, InstallationStatus::Closed)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
