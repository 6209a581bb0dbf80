//! The server binary with its blobs in an S3-compatible store (moto, started
//! here; see `fieldbook_testkit::ThrowawayS3`), configured from its config
//! file: an upload begun on one server process resumes on the next after the
//! first is killed (SIGKILL) in the middle of a chunk, with the local blob
//! directory gone in between, so nothing of the upload could have been kept
//! on this machine's disk. The download then comes back through the store.
//!
//! Skipped, with a message, only when moto cannot be installed.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use fieldbook_domain::Sha256Hex;
use fieldbook_testkit::{
    add_user_with_cli, blob_store_config, S3Unavailable, ServeProcess, ThrowawayS3,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_fieldbook-server");
const PASSWORD: &str = "correct horse battery";

fn s3() -> Option<ThrowawayS3> {
    match ThrowawayS3::start() {
        Ok(s3) => Some(s3),
        Err(S3Unavailable::NotInstallable(why)) => {
            eprintln!("SKIPPED (no S3-compatible test server): {why}");
            None
        }
        Err(S3Unavailable::Failed(why)) => panic!("throwaway S3 server: {why}"),
    }
}

fn add_user(config: &Path, username: &str, role: &str) {
    add_user_with_cli(BIN, config, username, role, PASSWORD);
}

async fn login(client: &reqwest::Client, base: &str, username: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

fn offset_of(response: &reqwest::Response) -> u64 {
    response.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_on_the_next_server_process_after_a_kill_mid_chunk() {
    let Some(s3) = s3() else { return };
    let bucket = s3.new_bucket();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "addr = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{}",
            blob_store_config(&bucket),
        ),
    )
    .unwrap();
    add_user(&config, "kim", "technician");
    add_user(&config, "ops", "ops");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let data = test_bytes((12 << 20) + 999, 7);
    let sha = Sha256Hex::digest(&data);
    let first_chunk = (9 << 20) + 1;

    let first = ServeProcess::start(BIN, &["--config", config.to_str().unwrap(), "serve"]);
    let token = login(&client, first.url(), "kim").await;
    let created = client
        .post(format!("{}/api/v1/blobs", first.url()))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", data.len().to_string())
        .header(
            "upload-metadata",
            format!("sha256 {},mime {}", b64(sha.as_str()), b64("video/mp4")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let patch = |base: &str, offset: usize, chunk: &[u8]| {
        client
            .patch(format!("{base}{location}"))
            .bearer_auth(&token)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .header(
                "upload-checksum",
                format!("sha256 {}", b64(Sha256Hex::digest(chunk).to_bytes())),
            )
            .body(chunk.to_vec())
            .send()
    };
    let response = patch(first.url(), 0, &data[..first_chunk]).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // The next chunk is on its way when the process dies.
    let addr = first.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n\
         Upload-Offset: {first_chunk}\r\nContent-Length: {}\r\n\r\n",
        data.len() - first_chunk
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&data[first_chunk..first_chunk + (1 << 20)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.kill();
    drop(stream);
    // Nothing of the upload may live on this machine.
    std::fs::remove_dir_all(dir.path().join("data/blobs")).unwrap();

    let second = ServeProcess::start(BIN, &["--config", config.to_str().unwrap(), "serve"]);
    let status = client
        .head(format!("{}{location}", second.url()))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    assert_eq!(offset_of(&status), first_chunk as u64);
    let last = patch(second.url(), first_chunk, &data[first_chunk..])
        .await
        .unwrap();
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset_of(&last), data.len() as u64);

    // Ops read any stored blob: it comes back whole, through the store.
    let ops = login(&client, second.url(), "ops").await;
    let download = client
        .get(format!("{}/api/v1/blobs/{sha}", second.url()))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap().as_ref(), &data[..]);
    second.kill();
}
