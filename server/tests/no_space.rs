//! The server's disk fills up while a device uploads a photo (tus): the
//! chunk is refused with 507 `server_storage_full` and a message that says
//! what to do, the upload's offset stays at the last durable byte, nothing
//! half-written is counted, and the same upload resumes from that offset
//! and completes once space is back. The disk is a small tmpfs (see
//! crates/store/tests/no_space/disk.rs, shared with the device's test).

#[path = "../../crates/store/tests/no_space/disk.rs"]
mod disk;

use base64::Engine as _;
use fieldbook_domain::{Role, Sha256Hex};
use reqwest::StatusCode;
use serde_json::Value;

use fieldbook_testkit::TestServer;

const TEST_NAME: &str =
    "receiving_an_upload_on_a_full_disk_keeps_its_offset_and_resumes_once_space_returns";
/// The server's database and one upload fit with room to spare.
const DISK_MIB: u32 = 32;

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn patch(
    server: &TestServer,
    token: &str,
    upload: &str,
    offset: usize,
    chunk: &[u8],
) -> reqwest::Response {
    server
        .client
        .patch(upload)
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap()
}

async fn offset(server: &TestServer, token: &str, upload: &str) -> usize {
    let head = server
        .client
        .head(upload)
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    header(&head, "upload-offset").unwrap().parse().unwrap()
}

#[test]
fn receiving_an_upload_on_a_full_disk_keeps_its_offset_and_resumes_once_space_returns() {
    // The child runs in a user namespace on a small tmpfs, where the
    // throwaway cluster cannot run as `nobody`; what it checks (blob uploads
    // on a full disk) does not touch the database.
    if fieldbook_testkit::testing_on_postgres() {
        eprintln!("skipped on PostgreSQL: {TEST_NAME} runs the server in a user namespace");
        return;
    }
    let Some(disk) = disk::child_disk() else {
        disk::run_on_small_disk(TEST_NAME, DISK_MIB);
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(upload_on_a_full_disk(disk));
}

async fn upload_on_a_full_disk(mut disk: disk::Disk) {
    let server = TestServer::start().await;
    server.add_user("tech", Role::Technician);
    let token = server.token("tech").await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = Sha256Hex::digest(&data);
    let metadata = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(sha.as_str())
    );
    let create = || {
        server
            .client
            .post(server.url("/api/v1/blobs"))
            .bearer_auth(&token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", data.len().to_string())
            .header("upload-metadata", &metadata)
            .send()
    };
    let created = create().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let upload = server.url(&header(&created, "location").unwrap());
    let first = 1_000_000;
    let response = patch(&server, &token, &upload, 0, &data[..first]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    disk.fill();
    let refused = patch(&server, &token, &upload, first, &data[first..]).await;
    let status = refused.status();
    let body: Value = refused.json().await.unwrap();
    match disk.mode {
        disk::Mode::Tmpfs => {
            assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
            assert_eq!(body["code"], "server_storage_full", "{body}");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("disk is full"), "{message}");
            assert!(message.contains("resume"), "{message}");
        }
        disk::Mode::FileSizeLimit => assert!(status.is_server_error(), "{status}: {body}"),
    }
    let kept = offset(&server, &token, &upload).await;
    assert!(
        (first..data.len()).contains(&kept),
        "the offset is where the durable bytes end: {kept}"
    );

    disk.free();
    let response = patch(&server, &token, &upload, kept, &data[kept..]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&response, "upload-offset").as_deref(),
        Some(data.len().to_string().as_str())
    );
    // The blob is stored whole: creating it again is a dedupe hit.
    let again = create().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        header(&again, "fieldbook-blob-exists").as_deref(),
        Some("true")
    );
    let stored = std::fs::read(
        server
            .state
            .blobs
            .path_of(&sha)
            .expect("the blob is stored"),
    )
    .unwrap();
    assert!(stored == data, "the stored blob is the uploaded bytes");
    eprintln!(
        "upload on a full disk ({:?}): {status} {body}, resumed from {kept}",
        disk.mode
    );
}
