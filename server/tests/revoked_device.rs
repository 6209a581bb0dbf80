//! A revoked device stays revoked whatever headers it sends: the device
//! header on sync routes is optional, and before this a device that never
//! sent it (or stopped sending it) kept pushing with its old token, or with
//! a fresh login, after Central Ops revoked it.

use fieldbook_testkit::{finish, is_applied, start, ProtocolDevice, TestServer, TwoTeams, TECH_A};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_can_neither_push_nor_keep_its_token_without_the_device_header() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let job = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    // Pushes carry no device header here: the envelopes name the device.
    let started = device.push_one(&server, start(job)).await;
    assert!(is_applied(&started), "{started:?}");

    let (status, body) = server
        .post(
            &format!("/api/v1/ops/devices/{}/revoke", device.id),
            &world.ops,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Its token is revoked with it, although it never sent the header.
    let (status, _) = server.get("/api/v1/auth/session", &device.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .get("/api/v1/sync/pull?cursor=0", &device.token)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Signing in again does not bring the device back: its work is refused.
    let envelopes = device.envelopes(vec![finish(job)]);
    let fresh = server.token(TECH_A).await;
    let (status, body) = server
        .post(
            "/api/v1/sync/push",
            &fresh,
            &json!({ "mutations": envelopes }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthorized");
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    let status_now = server.installation_status(&world.ops, job).await;
    assert_eq!(status_now["status"], "in_progress", "{status_now}");

    // The person's other devices still work.
    let mut other = ProtocolDevice::login(&server, TECH_A).await;
    let finished = other.push_one(&server, finish(job)).await;
    assert!(is_applied(&finished), "{finished:?}");
}
