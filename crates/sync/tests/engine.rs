//! The engine against the real server: the golden path with the server down
//! while the technician works, two devices racing for a job, ops cancelling
//! under a technician, a revoked token, and the background loop.

mod common;

use std::time::Duration;

use common::{eventually, wait_for_status, Device, TestServer, PASSWORD};
use fieldbook_domain::InstallationStatus;
use fieldbook_sync::near_window;
use fieldbook_sync::{ConnectionState, SyncPhase};

const WAIT: Duration = Duration::from_secs(20);

/// A client of `server`'s API, for calling the sync steps one by one.
fn api_client(server: &TestServer) -> fieldbook_sync::client::ApiClient {
    fieldbook_sync::client::ApiClient::new(
        fieldbook_sync::client::http_client(WAIT).unwrap(),
        server.base_url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_path_offline_report_arrives_exactly_once() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");

    let device = Device::signed_in(&server, "alex").await;
    assert_eq!(
        device.installation(job).status,
        InstallationStatus::Confirmed,
        "the assigned job was pulled"
    );

    // On site, no network: the technician does the whole job offline.
    server.stop().await;
    device.start_job(job);
    device.finish_job(job);
    let (photos, signature) = device.complete_report(job, 3);
    assert_eq!(
        device.installation(job).status,
        InstallationStatus::ReportSubmitted
    );
    let err = device.engine.sync_once().await.unwrap_err();
    assert_eq!(err.code(), "offline");
    let status = device.engine.status();
    assert_eq!(status.connection, ConnectionState::Offline);
    assert_eq!(
        status.pending_mutations,
        3 + 3,
        "start, finish, 3 attaches, submit"
    );
    assert_eq!(status.pending_blobs, 4, "3 photos and the signature");
    assert!(status.pending_blob_bytes > 0);
    assert_eq!(status.last_error.as_ref().unwrap().code, "offline");

    // Back in coverage; a second sync must not send anything twice.
    server.resume().await;
    let summary = device
        .engine
        .sync_once()
        .await
        .expect("sync after reconnect");
    assert_eq!(summary.pushed, 6);
    assert_eq!(summary.refused, 0);
    assert_eq!(summary.uploaded_blobs, 4);
    let again = device.engine.sync_once().await.expect("second sync");
    assert_eq!((again.pushed, again.uploaded_blobs), (0, 0));

    let status = device.engine.status();
    assert!(status.is_fully_synced(), "{status:?}");
    assert_eq!(status.needs_attention, 0);
    assert_eq!(status.connection, ConnectionState::Online);
    assert!(status.last_success_at.is_some());
    assert!(status.last_error.is_none());

    // The device told the server who it is, its app version and what it had
    // left to send (shown to Central Ops on the People screen).
    let seen = server
        .state
        .storage
        .read(|db| db.device_record(device.device_id()))
        .unwrap()
        .expect("the device is known to the server");
    assert_eq!(seen.app_version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        seen.pending_changes,
        Some(0),
        "nothing left after the second sync"
    );
    assert!(seen.last_sync_at.is_some());

    let on_server = server.installation(job);
    assert_eq!(on_server.status, InstallationStatus::ReportSubmitted);
    let report = server.report(job).expect("report on the server");
    assert_eq!(report.charger_serial_number, "ZP-2026-000123");
    let local_report = device
        .with_store(|s| s.get_report(job))
        .unwrap()
        .expect("report on the device");
    assert_eq!(report.id, local_report.id);
    assert_eq!(report.content_hash, local_report.content_hash);
    let media = server.media(job);
    assert_eq!(media.len(), 3, "each photo exactly once");
    let mut server_hashes: Vec<_> = media.iter().map(|m| m.file.sha256.clone()).collect();
    let mut local_hashes = photos.clone();
    server_hashes.sort();
    local_hashes.sort();
    assert_eq!(server_hashes, local_hashes);
    for sha in photos.iter().chain([&signature]) {
        assert_eq!(
            server.blob_digest(sha).as_ref(),
            Some(sha),
            "blob {sha} on the server with the same bytes"
        );
    }
    assert_eq!(
        server.mutations_from(device.device_id()),
        6,
        "every mutation recorded exactly once"
    );
    assert_eq!(
        server.count(
            "SELECT count(*) FROM report_events WHERE installation_id = ?1",
            &job.to_string()
        ),
        1,
        "one submission event"
    );
    // The device agrees with the server after the pull.
    assert_eq!(device.installation(job), on_server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_of_a_team_the_first_start_wins() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let sam = server.add_technician("sam");
    let team = server.ops().add_team("North Crew", &[alex, sam]);
    let job = server.ops().confirmed_job(team, "Ada Customer");

    let first = Device::signed_in(&server, "alex").await;
    let second = Device::signed_in(&server, "sam").await;
    assert!(first.has_installation(job) && second.has_installation(job));

    first.start_job(job);
    second.start_job(job);
    let won = first.engine.sync_once().await.unwrap();
    assert_eq!((won.pushed, won.refused), (1, 0));
    let lost = second.engine.sync_once().await.unwrap();
    assert_eq!((lost.pushed, lost.refused), (0, 1));

    let parked = second.needs_attention();
    assert_eq!(parked.len(), 1);
    let reason = parked[0].last_error.as_deref().unwrap();
    assert!(
        reason.contains("already in_progress") && reason.contains("another device"),
        "a clear reason: {reason}"
    );
    assert_eq!(second.engine.status().needs_attention, 1);
    assert_eq!(second.engine.status().pending_mutations, 0);
    // Rebased onto the server's state: started (by the team-mate).
    let server_state = server.installation(job);
    assert_eq!(server_state.status, InstallationStatus::InProgress);
    assert_eq!(second.installation(job), server_state);
    assert_eq!(first.installation(job), server_state);
    // A conflict between team-mates is not something for ops to review.
    assert_eq!(server_state.ops_review_note, None);
    // Up to date, a sync applies nothing again.
    first.engine.sync_once().await.unwrap();
    let idle = first.engine.sync_once().await.unwrap();
    assert_eq!((idle.pushed, idle.pulled_records), (0, 0), "{idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_cancels_while_the_technician_finishes_offline() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;

    // No coverage on site: the whole job is done offline.
    server.stop().await;
    device.start_job(job);
    device.finish_job(job);
    let (photos, _) = device.complete_report(job, 1);
    // Meanwhile in the office.
    server
        .ops()
        .transition(job, InstallationStatus::Cancelled, "customer moved house")
        .expect("ops cancels");
    server.resume().await;
    let summary = device.engine.sync_once().await.unwrap();
    assert!(summary.refused >= 1, "{summary:?}");

    // The server kept the technician's report and photo and flagged the job.
    let on_server = server.installation(job);
    assert_eq!(on_server.status, InstallationStatus::Cancelled);
    let note = on_server.ops_review_note.clone().expect("flagged for ops");
    assert!(note.contains("please review"), "{note}");
    let report = server.report(job).expect("report kept on the server");
    assert_eq!(report.installation_id, job);
    assert_eq!(server.media(job).len(), 1);
    assert_eq!(
        server.blob_digest(&photos[0]).as_ref(),
        Some(&photos[0]),
        "photo bytes uploaded"
    );

    // The device says what happened and shows the server's state.
    let parked = device.needs_attention();
    assert!(!parked.is_empty());
    assert!(
        parked
            .iter()
            .any(|e| e.last_error.as_deref().unwrap_or("").contains("cancelled")),
        "{parked:?}"
    );
    assert_eq!(device.engine.status().needs_attention, parked.len() as u64);
    assert_eq!(device.engine.status().pending_mutations, 0);
    assert_eq!(
        device.installation(job).status,
        InstallationStatus::Cancelled
    );
    assert_eq!(
        device.installation(job).ops_review_note.as_deref(),
        Some(note.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_keeps_the_outbox_until_the_next_sign_in() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;

    // Signed out from elsewhere: the token is revoked on the server.
    let token = device.saved_token().expect("token saved");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/logout", server.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    device.start_job(job);
    let err = device.engine.sync_once().await.unwrap_err();
    assert_eq!(err.code(), "unauthorized");
    let status = device.engine.status();
    assert!(status.needs_sign_in && status.signed_in, "{status:?}");
    assert_eq!(status.pending_mutations, 1, "the outbox is kept");
    assert_eq!(device.saved_token(), None, "the dead token is forgotten");
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::Confirmed
    );
    // Still refused without a token, without losing anything.
    assert_eq!(
        device.engine.sync_once().await.unwrap_err().code(),
        "unauthorized"
    );
    assert_eq!(device.pending_mutations(), 1);

    device
        .engine
        .sign_in(&server.base_url(), "alex", PASSWORD)
        .await
        .unwrap();
    assert!(!device.engine.status().needs_sign_in);
    let summary = device.engine.sync_once().await.unwrap();
    assert_eq!(summary.pushed, 1);
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::InProgress
    );
    assert_eq!(server.mutations_from(device.device_id()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_bad_urls_are_refused_with_their_codes() {
    let server = TestServer::start().await;
    server.add_technician("alex");
    let device = Device::new();
    let err = device
        .engine
        .sign_in(&server.base_url(), "alex", "not the password")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bad_credentials");
    let err = device
        .engine
        .sign_in("sync.example.com", "alex", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_server_url");
    assert_eq!(device.engine.server_url(), None);
    assert!(!device.engine.status().signed_in);
    assert_eq!(
        device.engine.sync_once().await.unwrap_err().code(),
        "not_signed_in"
    );

    let session = device
        .engine
        .sign_in(&format!("{}/", server.base_url()), "alex", PASSWORD)
        .await
        .unwrap();
    assert_eq!(session.user.username, "alex");
    assert_eq!(device.engine.server_url(), Some(server.base_url()));
    // The URL and token survive a restart of the app.
    let reopened = fieldbook_sync::SyncEngine::new(
        device.store.clone(),
        common::test_options(device.dir.path()),
    )
    .unwrap();
    assert_eq!(reopened.server_url(), Some(server.base_url()));
    assert!(reopened.status().signed_in && !reopened.status().needs_sign_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_refuses_while_work_is_unsent_unless_forced() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    let token = device.saved_token().unwrap();
    device.start_job(job);

    let err = device.engine.sign_out(false).await.unwrap_err();
    assert_eq!(err.code(), "unsynced_work");
    assert!(device.engine.status().signed_in);

    device.engine.sync_once().await.unwrap();
    device.engine.sign_out(false).await.unwrap();
    assert!(!device.engine.status().signed_in);
    assert_eq!(device.saved_token(), None);
    assert!(device.with_store(|s| s.session().unwrap()).is_none());
    // The token was revoked on the server too.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/session", server.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);

    // Forced, with work pending: it stays for the next sign-in.
    device
        .engine
        .sign_in(&server.base_url(), "alex", PASSWORD)
        .await
        .unwrap();
    device.finish_job(job);
    device.engine.sign_out(true).await.unwrap();
    assert_eq!(device.pending_mutations(), 1);
    device
        .engine
        .sign_in(&server.base_url(), "alex", PASSWORD)
        .await
        .unwrap();
    device.engine.sync_once().await.unwrap();
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::Completed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_syncs_after_a_local_change_within_the_debounce() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    let signed_in_sync = device.engine.status().last_success_at;
    device.engine.start();
    device.engine.start(); // idempotent
    wait_for_status(&device.engine, WAIT, "the loop's start-up sync", |s| {
        s.last_success_at > signed_in_sync && s.phase == SyncPhase::Idle
    })
    .await;

    let before = std::time::Instant::now();
    device.start_job(job);
    let server_ref = &server;
    eventually(WAIT, "the start on the server", || {
        server_ref.installation(job).status == InstallationStatus::InProgress
    })
    .await;
    let took = before.elapsed();
    println!("local change to server: {took:?} (debounce 150 ms)");
    // Debounce 150 ms; the sync itself is a few requests on loopback.
    assert!(
        took >= Duration::from_millis(150),
        "synced before the debounce: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    wait_for_status(&device.engine, WAIT, "an empty outbox", |s| {
        s.pending_mutations == 0 && s.phase == SyncPhase::Idle
    })
    .await;

    // Ops changes something; "Sync now" brings it without any local change.
    let second_job = server.ops().confirmed_job(team, "Grace Customer");
    device.engine.request_sync();
    let device_ref = &device;
    eventually(WAIT, "the new job on the device", || {
        device_ref.has_installation(second_job)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_count_changes_when_a_change_is_saved_not_at_the_next_sync() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    assert_eq!(device.engine.status().pending_mutations, 0);
    let synced = device.engine.status().last_success_at;
    let attempted = device.engine.status().last_attempt_at;

    // No loop running and the server down: only the local change can move the count.
    server.stop().await;
    let mut changes = device.engine.subscribe();
    device.start_job(job);
    tokio::time::timeout(WAIT, changes.wait_for(|s| s.pending_mutations == 1))
        .await
        .expect("the count changed without a sync")
        .expect("the engine is alive");
    let status = device.engine.status();
    assert_eq!(status.last_success_at, synced, "no sync ran");
    assert_eq!(status.last_attempt_at, attempted, "no sync was tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_restarted_offline_still_says_when_it_last_synced() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    server.ops().add_team("North Crew", &[alex]);
    let device = Device::signed_in(&server, "alex").await;
    device.engine.sync_once().await.expect("sync");
    let synced = device.engine.status().last_success_at;
    assert!(synced.is_some());

    // The laptop restarts on site with no network.
    server.stop().await;
    let restarted = fieldbook_sync::SyncEngine::new(
        device.store.clone(),
        common::test_options(device.dir.path()),
    )
    .unwrap();
    assert_eq!(restarted.status().last_success_at, synced);
    let err = restarted.sync_once().await.unwrap_err();
    assert_eq!(err.code(), "offline");
    let status = restarted.status();
    assert_eq!(status.connection, ConnectionState::Offline);
    assert_eq!(status.last_success_at, synced, "a failed sync keeps it");

    // Back online, the next good sync moves it on, in the store too.
    server.resume().await;
    restarted.sync_once().await.expect("sync after reconnect");
    let later = restarted.status().last_success_at;
    assert!(later > synced, "{later:?} after {synced:?}");
    let reopened = fieldbook_sync::SyncEngine::new(
        device.store.clone(),
        common::test_options(device.dir.path()),
    )
    .unwrap();
    assert_eq!(reopened.status().last_success_at, later);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_brings_the_coming_days_first_without_moving_the_pull_cursor() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    // The fixtures schedule every job on 2026-12-01.
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let client = api_client(&server);
    let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();

    // The window ending before the job brings none of it.
    let early = Device::signed_in_at(&server.base_url(), "alex").await;
    let token = early.saved_token().unwrap();
    let brought =
        near_window::pull_near_window(&client, &token, &early.store, alex, day("2026-11-01"))
            .await
            .unwrap();
    assert!(brought.is_some(), "this server has the near window");
    assert!(!early.has_installation(job));

    // The window holding its date brings the job and what its row needs.
    let device = Device::signed_in_at(&server.base_url(), "alex").await;
    let token = device.saved_token().unwrap();
    let brought =
        near_window::pull_near_window(&client, &token, &device.store, alex, day("2026-11-25"))
            .await
            .unwrap()
            .unwrap();
    assert!(
        brought.len() >= 4,
        "installation, assignment, lead, survey (+ team, users): {brought:?}"
    );
    let local = device.installation(job);
    assert_eq!(local.status, InstallationStatus::Confirmed);
    let listed = device.with_store(|s| s.get_installation(job).unwrap());
    assert_eq!(listed.lead.unwrap().customer_name, "Ada Customer");
    assert_eq!(listed.assignments.len(), 1);
    assert!(
        near_window::is_first_sync(&device.store, alex).unwrap(),
        "the pull cursor is untouched: the full pull still starts from zero"
    );

    // The full pull then runs as always, and the status says it is over.
    let summary = device.engine.sync_once().await.unwrap();
    assert!(
        summary.pulled_records >= brought.len() as u64,
        "{summary:?}"
    );
    assert!(!near_window::is_first_sync(&device.store, alex).unwrap());
    let status = device.engine.status();
    assert!(!status.first_sync);
    assert!(status.pulled_at.is_some());
    assert_eq!(
        device.installation(job).status,
        InstallationStatus::Confirmed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_syncs_progress_counts_the_near_windows_records_once() {
    // The sync screen shows the window's records, then adds the pull's:
    // the pull's pages that the window had already applied must not count
    // again (10,000 jobs showed ~4,000 records too many).
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    for name in ["Ada Customer", "Grace Customer", "Edsger Customer"] {
        server.ops().confirmed_job(team, name);
    }
    let client = api_client(&server);

    // Everything, without a window: how many records the team's data is.
    let plain = Device::signed_in_at(&server.base_url(), "alex").await;
    let everything = fieldbook_sync::pull::pull_all(
        &client,
        &plain.saved_token().unwrap(),
        &plain.store,
        alex,
        false,
        None,
        &|_| {},
    )
    .await
    .unwrap();

    // The window lands first (it holds every job: all on 2026-12-01).
    let device = Device::signed_in_at(&server.base_url(), "alex").await;
    let token = device.saved_token().unwrap();
    let window = near_window::pull_near_window(
        &client,
        &token,
        &device.store,
        alex,
        "2026-11-25".parse().unwrap(),
    )
    .await
    .unwrap()
    .expect("this server has the near window");
    let window_records = window.len() as u64;
    assert!(
        window_records >= 12,
        "3 jobs with their records: {window:?}"
    );
    let (landed, ahead) = tokio::sync::oneshot::channel();
    landed.send(window).unwrap();
    let reported = std::sync::Mutex::new(Vec::new());
    let pulled = fieldbook_sync::pull::pull_all(
        &client,
        &token,
        &device.store,
        alex,
        false,
        Some(ahead),
        &|done| reported.lock().unwrap().push(done),
    )
    .await
    .unwrap();

    assert_eq!(pulled.records, everything.records, "the pages are the same");
    assert_eq!(pulled.already_here, window_records, "{pulled:?}");
    let last = *reported.lock().unwrap().last().expect("progress reported");
    assert_eq!(
        window_records + last,
        everything.records,
        "window {window_records} + pull {last}: each record once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_window_older_than_the_pulled_pages_changes_nothing_they_brought() {
    // A first sync runs the near window and the full pull at once and
    // neither waits: a window read before a change the pull has already
    // applied must not put the older row back (it would stay until the
    // job's next change). What is newer than the pull's cursor is applied.
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let (early, late) = (
        server.ops().confirmed_job(team, "Ada Customer"),
        server.ops().confirmed_job(team, "Grace Customer"),
    );
    let device = Device::signed_in_at(&server.base_url(), "alex").await;
    let client = api_client(&server);
    let token = device.saved_token().unwrap();
    // The fixtures schedule every job on 2026-12-01.
    let from = "2026-11-25".parse().unwrap();
    let old_window = near_window::fetch_near_window(&client, &token, from)
        .await
        .unwrap()
        .expect("this server has the near window");
    assert_eq!(old_window.installations.len(), 2);

    server
        .ops()
        .transition(early, InstallationStatus::Cancelled, "customer moved")
        .expect("cancel");
    let pulled =
        fieldbook_sync::pull::pull_all(&client, &token, &device.store, alex, false, None, &|_| {})
            .await
            .unwrap();
    assert!(pulled.records >= 8, "{pulled:?}");
    assert_eq!(
        device.installation(early).status,
        InstallationStatus::Cancelled
    );

    let applied = near_window::apply_near_window(&device.store, alex, old_window)
        .await
        .unwrap();
    assert!(
        applied.is_empty(),
        "the pull had brought every record of the older window: {applied:?}"
    );
    assert_eq!(
        device.installation(early).status,
        InstallationStatus::Cancelled,
        "the older window did not put the confirmed job back"
    );

    // A window newer than the pull's cursor: its change is applied at once.
    server
        .ops()
        .transition(late, InstallationStatus::Cancelled, "customer moved")
        .expect("cancel");
    let new_window = near_window::fetch_near_window(&client, &token, from)
        .await
        .unwrap()
        .unwrap();
    let applied = near_window::apply_near_window(&device.store, alex, new_window)
        .await
        .unwrap();
    assert_eq!(applied.len(), 1, "only the changed job: {applied:?}");
    assert_eq!(
        device.installation(late).status,
        InstallationStatus::Cancelled
    );
    assert_eq!(
        device.installation(early).status,
        InstallationStatus::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_jobs_past_the_retention_window_leave_the_device_unless_work_is_unsent() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let old = server.ops().confirmed_job(team, "Ada Customer");
    let old_with_draft = server.ops().confirmed_job(team, "Grace Customer");
    let recent = server.ops().confirmed_job(team, "Mary Customer");
    for job in [old, old_with_draft, recent] {
        server
            .ops()
            .transition(job, InstallationStatus::Cancelled, "customer moved")
            .expect("cancel");
    }
    let device = Device::signed_in(&server, "alex").await;
    assert!(device.has_installation(old) && device.has_installation(recent));
    // Two were last changed long ago (on this device's copy), one of them
    // with a report draft the server never received.
    device.with_store(|s| {
        s.save_report_draft(&fieldbook_domain::ReportDraft::new(
            old_with_draft,
            chrono::Utc::now(),
        ))
        .unwrap();
        let db = rusqlite::Connection::open(s.database_path()).unwrap();
        for job in [old, old_with_draft] {
            db.execute(
                "UPDATE installations SET updated_at = '2026-01-05T10:00:00.000000000Z' WHERE id = ?1",
                [job.to_string()],
            )
            .unwrap();
        }
    });

    device.engine.sync_once().await.expect("sync");
    assert!(
        !device.has_installation(old),
        "retired and nothing unsent: gone"
    );
    assert!(
        device.has_installation(old_with_draft),
        "its draft keeps it"
    );
    assert!(device.has_installation(recent), "inside the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reconnects_when_the_server_comes_back() {
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    device.engine.start();

    server.stop().await;
    device.start_job(job);
    // The start-up sync may already have failed (status offline, nothing
    // pending) before the local change lands: wait for the status that has
    // both, rather than the first offline one.
    let offline = wait_for_status(
        &device.engine,
        WAIT,
        "offline with the change pending",
        |s| s.connection == ConnectionState::Offline && s.pending_mutations == 1,
    )
    .await;
    assert_eq!(offline.pending_mutations, 1);
    let retry = wait_for_status(&device.engine, WAIT, "a scheduled retry", |s| {
        s.next_attempt_at.is_some() && s.connection == ConnectionState::Offline
    })
    .await;
    let wait = retry.next_attempt_at.unwrap() - chrono::Utc::now();
    assert!(
        wait <= chrono::Duration::milliseconds(450),
        "the backoff is capped at max_backoff: {wait:?}"
    );
    // Several probes fail while the server is away.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(device.engine.status().connection, ConnectionState::Offline);
    assert_eq!(device.pending_mutations(), 1);

    // No request_sync, no local change: the probe notices by itself.
    server.resume().await;
    let online = wait_for_status(&device.engine, WAIT, "back online and synced", |s| {
        s.connection == ConnectionState::Online
            && s.pending_mutations == 0
            && s.phase == SyncPhase::Idle
    })
    .await;
    assert!(online.last_error.is_none(), "{online:?}");
    assert!(
        online.last_success_at > offline.last_attempt_at,
        "{online:?}"
    );
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::InProgress
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restored_from_an_older_state_gets_the_outbox_replayed() {
    // Restores the server from a copy of its data dir: a SQLite backup.
    if fieldbook_testkit::skip_unless_sqlite(
        "a_server_restored_from_an_older_state_gets_the_outbox_replayed",
    ) {
        return;
    }
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let first_job = server.ops().confirmed_job(team, "Ada Customer");
    let second_job = server.ops().confirmed_job(team, "Grace Customer");
    let device = Device::signed_in(&server, "alex").await;

    // The device's binding and sequence are lost on the server (restored
    // from a backup taken before this device first pushed).
    server.stop().await;
    let before_device = tempfile::tempdir().unwrap();
    copy_dir(server.data_dir(), before_device.path());
    server.resume().await;
    device.start_job(first_job);
    device.engine.sync_once().await.unwrap();
    assert_eq!(server.mutations_from(device.device_id()), 1);
    server.stop().await;
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    copy_dir(before_device.path(), server.data_dir());
    server.restart().await;
    assert_eq!(server.mutations_from(device.device_id()), 0);
    assert_eq!(
        server.installation(first_job).status,
        InstallationStatus::Confirmed,
        "the restored server lost the start"
    );

    // The device's next mutation is number 2; the server expects 1.
    device.start_job(second_job);
    let summary = device.engine.sync_once().await.expect("recovered sync");
    assert_eq!(summary.pushed, 1);
    assert_eq!(summary.refused, 0);
    assert_eq!(
        server.installation(second_job).status,
        InstallationStatus::InProgress
    );
    assert_eq!(server.mutations_from(device.device_id()), 1);
    // Pulled again from zero: the device shows what the server has.
    assert_eq!(
        device.installation(first_job),
        server.installation(first_job)
    );
    // The renumbering holds for later mutations too.
    device.finish_job(second_job);
    device.engine.sync_once().await.unwrap();
    assert_eq!(
        server.installation(second_job).status,
        InstallationStatus::Completed
    );
    assert_eq!(server.mutations_from(device.device_id()), 2);
    assert!(device.needs_attention().is_empty());
}

/// A re-pull from zero (the server is behind the device: restored from a
/// backup) removes the local jobs the server no longer has, with their
/// customer data; the jobs it has stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_from_zero_removes_the_jobs_the_server_no_longer_has() {
    // Restores the server from a copy of its data dir: a SQLite backup.
    if fieldbook_testkit::skip_unless_sqlite(
        "a_pull_from_zero_removes_the_jobs_the_server_no_longer_has",
    ) {
        return;
    }
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let kept = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    server.stop().await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(server.data_dir(), backup.path());
    server.resume().await;
    let gone = server.ops().confirmed_job(team, "Barbara Customer");
    device.engine.sync_once().await.unwrap();
    assert!(device.has_installation(gone));

    server.stop().await;
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    copy_dir(backup.path(), server.data_dir());
    server.restart().await;
    device.engine.sync_once().await.unwrap();
    assert!(
        !device.has_installation(gone),
        "the server no longer has it"
    );
    assert_eq!(device.installation(kept), server.installation(kept));
    let leads = device.with_store(|s| {
        s.list_installations(&fieldbook_store::InstallationQuery::default())
            .unwrap()
            .into_iter()
            .map(|i| i.customer_name)
            .collect::<Vec<_>>()
    });
    assert_eq!(leads, vec!["Ada Customer".to_owned()]);
}

/// A server restored from a backup hands out again the INS- numbers of jobs
/// created after the backup, which the device still holds. That must not
/// make every sync fail on the local UNIQUE constraint: the device resyncs
/// from zero, keeps the job that holds unsent work (under its own number,
/// out of scope, its work in "needs attention") and lets go of the jobs the
/// server no longer has — also the one whose number was not reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_server_that_reuses_ins_numbers_gets_a_full_resync_that_keeps_unsent_work() {
    // Restores the server from a copy of its data dir: a SQLite backup.
    if fieldbook_testkit::skip_unless_sqlite(
        "a_restored_server_that_reuses_ins_numbers_gets_a_full_resync_that_keeps_unsent_work",
    ) {
        return;
    }
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let kept_before_backup = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;

    server.stop().await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(server.data_dir(), backup.path());
    server.resume().await;
    // After the backup: three jobs reach the device; one is started offline.
    let worked = server.ops().confirmed_job(team, "Grace Customer");
    let idle = server.ops().confirmed_job(team, "Linus Customer");
    let gone = server.ops().confirmed_job(team, "Barbara Customer");
    device.engine.sync_once().await.unwrap();
    let worked_number = device.installation(worked).installation_id;
    let idle_number = device.installation(idle).installation_id;
    server.stop().await;
    device.start_job(worked);

    // Restored: ops plan two new jobs, which get the numbers of `worked`
    // and `idle` again.
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    copy_dir(backup.path(), server.data_dir());
    server.restart().await;
    let first = server.ops().confirmed_job(team, "Hedy Customer");
    let second = server.ops().confirmed_job(team, "Alan Customer");
    assert_eq!(server.installation(first).installation_id, worked_number);
    assert_eq!(server.installation(second).installation_id, idle_number);

    let summary = device.engine.sync_once().await;
    assert!(summary.is_ok(), "{summary:?}");
    for job in [first, second, kept_before_backup] {
        assert_eq!(device.installation(job), server.installation(job));
    }
    // The started job stays with its work, under the number it had.
    assert!(device.has_installation(worked), "unsent work kept");
    assert_eq!(device.installation(worked).installation_id, worked_number);
    let detail = device.with_store(|s| s.get_installation(worked).unwrap());
    assert!(detail.left_scope_at.is_some(), "{detail:?}");
    assert_eq!(
        detail.pending_changes, 1,
        "the start is still on the device"
    );
    // The jobs the server no longer has are gone from the device.
    assert!(!device.has_installation(idle), "number reused: released");
    assert!(!device.has_installation(gone), "not on the server: removed");
    // And the next syncs go through too.
    device.engine.sync_once().await.unwrap();
    assert_eq!(device.installation(first), server.installation(first));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_syncs_never_overlap() {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let sam = server.add_technician("sam");
    let team = server.ops().add_team("North Crew", &[alex, sam]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let proxy = common::CountingProxy::start(server.base_url(), Duration::from_millis(80)).await;

    let device = Device::signed_in_at(&proxy.url, "alex").await;
    let other = Device::signed_in_at(&proxy.url, "sam").await;

    // The proxy does see overlap: two devices syncing at once.
    proxy.reset();
    let (a, b) = tokio::join!(device.engine.sync_once(), other.engine.sync_once());
    a.unwrap();
    b.unwrap();
    assert!(
        proxy.max_in_flight() >= 2,
        "the proxy must be able to see overlap"
    );

    // One engine, two callers at once: the second waits for the first.
    device.start_job(job);
    proxy.reset();
    let engine = device.engine.clone();
    let (first, second) = tokio::join!(engine.sync_once(), device.engine.sync_once());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(
        proxy.max_in_flight(),
        1,
        "two syncs of one engine overlapped"
    );
    assert_eq!(first.pushed + second.pushed, 1, "the start went out once");
    assert_eq!(server.mutations_from(device.device_id()), 1);
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::InProgress
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_behind_the_devices_cursor_is_pulled_again_from_zero() {
    // Restores the server from a copy of its data dir: a SQLite backup.
    if fieldbook_testkit::skip_unless_sqlite(
        "a_server_behind_the_devices_cursor_is_pulled_again_from_zero",
    ) {
        return;
    }
    let mut server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;

    // A backup is taken; ops then plans more, which the device pulls.
    server.stop().await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(server.data_dir(), backup.path());
    server.resume().await;
    // (New team-mates: a job would come back under the same INS- number.)
    for n in 0..6 {
        let user = server.add_technician(&format!("new.mate{n}"));
        fieldbook_server::admin::add_team_member(&server.state.storage, team, user).unwrap();
    }
    let summary = device.engine.sync_once().await.unwrap();
    assert!(summary.pulled_records >= 6, "{summary:?}");

    // The server is restored from the backup: its change sequence is now
    // below the device's cursor. Ops plans a new job, with sequence numbers
    // the device believes it has seen.
    server.stop().await;
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    copy_dir(backup.path(), server.data_dir());
    server.restart().await;
    let new_job = server.ops().create_installation("Hedy Customer");
    server.ops().assign(new_job, team);

    let summary = device.engine.sync_once().await.unwrap();
    assert!(summary.pulled_records > 0, "{summary:?}");
    assert!(
        device.has_installation(new_job),
        "the job planned after the restore reached the device"
    );
    assert_eq!(device.installation(new_job), server.installation(new_job));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_filled_against_an_older_template_version_is_accepted_after_a_newer_one() {
    use fieldbook_domain::template::{FieldKind, Requirement, TestField};
    use fieldbook_domain::{default_uk_template, DEFAULT_TEMPLATE_ID};

    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let later_job = server.ops().confirmed_job(team, "Bo Customer");
    let device = Device::signed_in(&server, "alex").await;
    device.start_job(job);
    device.engine.sync_once().await.expect("sync the start");
    let v1 = default_uk_template().template_ref();
    let draft_template = |id| {
        device
            .with_store(|s| s.get_report_draft(id))
            .unwrap()
            .unwrap()
            .template
    };
    assert_eq!(draft_template(job), Some(v1.clone()));

    // Ops publish version 2 with one more required test; the device pulls it.
    let mut v2 = default_uk_template();
    v2.sections[1].fields.push(TestField {
        key: "terminal_torque_checked".into(),
        label: "Terminal torque checked".into(),
        hint: String::new(),
        kind: FieldKind::YesNo { usual: Some(true) },
        required: Requirement::Always,
    });
    let ops = server.token(fieldbook_testkit::OPS_USER).await;
    let (status, body) = server
        .post(
            "/api/v1/admin/report-templates",
            &ops,
            &serde_json::to_value(&v2).unwrap(),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    device.engine.sync_once().await.expect("pull version 2");

    // The started report stays on version 1; a job started now gets 2.
    assert_eq!(draft_template(job), Some(v1.clone()));
    device.start_job(later_job);
    assert_eq!(
        draft_template(later_job).map(|t| (t.id, t.version)),
        Some((DEFAULT_TEMPLATE_ID.to_owned(), 2))
    );

    // Filled and submitted against version 1 while the server's newest is 2.
    device.finish_job(job);
    device.complete_report(job, 1);
    let summary = device.engine.sync_once().await.expect("sync the report");
    assert_eq!(summary.refused, 0, "{summary:?}");
    assert_eq!(
        server.report(job).expect("on the server").template,
        Some(v1)
    );
}
