//! Remote wipe against the real server: a retired device sends everything
//! unsent (report, photo, signature) before it erases itself; a lost device
//! erases at first contact and sends nothing; another device cannot forge
//! the confirmation; a wipe interrupted by a power cut is finished at the
//! next start and confirmed at the next contact.

mod common;

use std::time::Duration;

use common::{Device, TestServer};
use fieldbook_domain::{InstallationStatus, Role};
use fieldbook_protocol::WipeKind;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// Central Ops' token.
async fn ops_token(server: &TestServer) -> String {
    server.add_user("ops.sam", Role::Ops);
    server.token("ops.sam").await
}

async fn order_wipe(server: &TestServer, ops: &str, device: Uuid, kind: &str) {
    let (status, body) = server
        .post(
            &format!("/api/v1/ops/devices/{device}/wipe"),
            ops,
            &json!({ "kind": kind }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["wipe_kind"], kind, "{body}");
    assert!(body["wipe_confirmed_at"].is_null(), "{body}");
}

fn device_record(server: &TestServer, device: Uuid) -> fieldbook_protocol::DeviceInfo {
    server
        .state
        .storage
        .read(|db| db.device_record(device))
        .unwrap()
        .expect("the device is known to the server")
}

/// Nothing of the technician's work is left in the data folder.
fn assert_erased(device: &Device, job: Uuid, photos: &[fieldbook_domain::Sha256Hex]) {
    let session = device.with_store(|s| s.session().unwrap());
    assert!(session.is_none(), "still signed in: {session:?}");
    assert!(
        !device.has_installation(job),
        "the job is still on the device"
    );
    assert_eq!(device.saved_token(), None, "the token is still saved");
    for sha in photos {
        let path = device.with_store(|s| s.media_store().blob_path(sha));
        assert!(!path.exists(), "{} survived the wipe", path.display());
    }
    let media_files = walk_files(&device.data_dir().join("media"));
    assert!(media_files.is_empty(), "media left: {media_files:?}");
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_device_sends_its_unsent_report_and_photo_then_wipes() {
    let server = TestServer::start().await;
    let ops = ops_token(&server).await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    let device_id = device.device_id();
    let old_token = device.saved_token().expect("token saved at sign-in");

    // The last job, done without syncing: nothing of it is on the server.
    device.start_job(job);
    device.finish_job(job);
    let (photos, signature) = device.complete_report(job, 1);
    assert!(server.report(job).is_none());

    order_wipe(&server, &ops, device_id, "retired").await;
    device.engine.sync_once().await.expect("the wipe cycle");

    // Everything reached the server before the erase.
    let report = server.report(job).expect("the report reached the server");
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::ReportSubmitted
    );
    assert!(report.customer_signature.is_some());
    for sha in photos.iter().chain([&signature]) {
        assert_eq!(
            server.blob_digest(sha).as_ref(),
            Some(sha),
            "file {sha} missing"
        );
    }

    assert_erased(&device, job, &photos);
    let status = device.engine.status();
    let notice = status.wiped.expect("the sign-in screen is told why");
    assert!(!notice.lost);
    assert!(notice.confirmed, "{notice:?}");
    assert!(notice.message.contains("retired"), "{}", notice.message);
    assert!(!status.signed_in);

    let record = device_record(&server, device_id);
    assert!(record.wipe_confirmed_at.is_some(), "{record:?}");
    assert!(record.revoked_at.is_some(), "{record:?}");
    let (status, _) = server.get("/api/v1/auth/session", &old_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old token still works"
    );

    // Signing in again on the erased computer works and clears the notice.
    device
        .engine
        .sign_in(&server.base_url(), "alex", common::PASSWORD)
        .await
        .expect("sign in after the wipe");
    assert!(device.engine.status().wiped.is_none());
    assert_ne!(
        device.device_id(),
        device_id,
        "a wiped computer is a new device"
    );
    assert!(!device
        .data_dir()
        .join(fieldbook_sync::wipe::WIPE_RECORD_FILE)
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_device_wipes_at_first_contact_and_sends_nothing() {
    let server = TestServer::start().await;
    let ops = ops_token(&server).await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    let device_id = device.device_id();
    let token = device.saved_token().unwrap();
    // A thief's change, queued on the stolen laptop.
    device.start_job(job);
    let photo_dir = tempfile::tempdir().unwrap();
    let photo = common::write_jpeg(photo_dir.path(), "p.jpg", 9);
    let sha = device
        .with_store(|s| s.attach_media(job, &photo, ""))
        .unwrap()
        .file
        .sha256;

    order_wipe(&server, &ops, device_id, "lost").await;
    // Before the device comes back, its token gets nothing but the order.
    let (status, body) = server
        .get(&format!("/api/v1/installations/{job}"), &token)
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "wipe_ordered");
    assert_eq!(body["wipe"]["kind"], "lost");

    device.engine.sync_once().await.expect("the wipe cycle");
    assert_eq!(
        server.mutations_from(device_id),
        0,
        "a lost device's push was applied"
    );
    assert_eq!(
        server.blob_digest(&sha),
        None,
        "a lost device's file was accepted"
    );
    assert_eq!(
        server.installation(job).status,
        InstallationStatus::Confirmed
    );
    assert_erased(&device, job, &[sha]);
    let notice = device.engine.status().wiped.expect("the notice");
    assert!(notice.lost && notice.confirmed, "{notice:?}");
    assert!(device_record(&server, device_id)
        .wipe_confirmed_at
        .is_some());
    let (status, _) = server.get("/api/v1/auth/session", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_device_cannot_get_or_forge_the_confirmation() {
    let server = TestServer::start().await;
    let ops = ops_token(&server).await;
    let alex = server.add_technician("alex");
    server.ops().add_team("North Crew", &[alex]);
    let lost = Device::signed_in(&server, "alex").await;
    let lost_id = lost.device_id();
    order_wipe(&server, &ops, lost_id, "lost").await;

    // Alex's other laptop (or whoever has Alex's password) names the lost
    // device in its headers: it is told of the order, without the secret.
    let other = server.token("alex").await;
    let response = reqwest::Client::new()
        .get(server.url("/api/v1/sync/pull?cursor=0"))
        .bearer_auth(&other)
        .header(fieldbook_protocol::DEVICE_HEADER, lost_id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["wipe"]["kind"], "lost", "{body}");
    assert!(body["wipe"].get("confirmation").is_none(), "{body}");

    // A guessed confirmation is refused and records nothing.
    let (status, body) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/devices/wipe-confirmation",
            None,
            Some(&json!({ "device_id": lost_id, "confirmation": "guessed" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert!(device_record(&server, lost_id).wipe_confirmed_at.is_none());

    // The lost device's own session gets the secret.
    let (status, body) = server
        .get("/api/v1/auth/session", &lost.saved_token().unwrap())
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body["wipe"]["confirmation"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_cut_short_is_finished_at_start_and_confirmed_at_the_next_contact() {
    let server = TestServer::start().await;
    let ops = ops_token(&server).await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    let device_id = device.device_id();
    order_wipe(&server, &ops, device_id, "lost").await;
    let (_, body) = server
        .get("/api/v1/auth/session", &device.saved_token().unwrap())
        .await;
    let secret = body["wipe"]["confirmation"].as_str().unwrap().to_owned();

    // The power went out right after the device noted the order, before it
    // erased anything (what `carry_out_wipe` writes first).
    let record = json!({
        "kind": WipeKind::Lost,
        "ordered_at": body["wipe"]["ordered_at"],
        "device_id": device_id,
        "server_url": server.base_url(),
        "confirmation": secret,
        "erased": false,
        "wiped_at": null,
        "confirmed_at": null,
    });
    let dir = device.dir;
    drop(device.engine);
    drop(device.store);
    std::fs::write(
        dir.path().join(fieldbook_sync::wipe::WIPE_RECORD_FILE),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();

    // Restart: the erase is finished before anything else…
    let store = fieldbook_store::Store::open(dir.path()).unwrap();
    let store: fieldbook_sync::SharedStore = std::sync::Arc::new(std::sync::Mutex::new(store));
    let engine =
        fieldbook_sync::SyncEngine::new(store.clone(), common::test_options(dir.path())).unwrap();
    let restarted = Device { engine, store, dir };
    assert_erased(&restarted, job, &[]);
    assert!(!restarted.engine.status().wiped.unwrap().confirmed);
    assert!(device_record(&server, device_id)
        .wipe_confirmed_at
        .is_none());

    // …and the background loop confirms at its first contact.
    restarted.engine.start();
    common::wait_for_status(&restarted.engine, WAIT, "the wipe confirmed", |s| {
        s.wiped.as_ref().is_some_and(|w| w.confirmed)
    })
    .await;
    assert!(device_record(&server, device_id)
        .wipe_confirmed_at
        .is_some());
}
