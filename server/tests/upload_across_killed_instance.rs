//! Two real `fieldbook-server serve` processes on one PostgreSQL database
//! and one S3 bucket (moto), each with a data dir of its own, as two
//! machines behind a load balancer: a device's upload begun on instance A
//! resumes on instance B after A is killed (SIGKILL), from the offset B
//! reports, and the blob downloads whole. The requests are the ones the
//! device's uploader sends (crates/sync/src/blobs/tus.rs): creation with the
//! SHA-256 in `Upload-Metadata`, `HEAD` before resuming a stored upload,
//! one `PATCH` per chunk with the `Upload-Checksum` the server offers
//! (`OPTIONS`), 64 MiB chunks (so a 20 MiB video goes in one PATCH).
//!
//! Runs in `make test-postgres` (`FIELDBOOK_TEST_DATABASE=postgres`, on
//! the binary's shared cluster); skipped with a printed reason otherwise,
//! with several test instances (this test starts its own), and when moto
//! cannot be installed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fieldbook_domain::Sha256Hex;
use fieldbook_server::blobs::S3Settings;
use fieldbook_testkit::{
    add_user_with_cli, blob_store_config, skip_unless_one_instance, testing_on_postgres,
    S3Unavailable, ServeProcess, ThrowawayPostgres, ThrowawayS3, TEST_DATABASE_ENV,
};
use reqwest::StatusCode;
use serde_json::json;
use sha2::Digest as _;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_fieldbook-server");
const PASSWORD: &str = "correct horse battery";
const MIB: usize = 1 << 20;
/// The size of the S3 store's segments (server/src/blobs/object_uploads.rs):
/// a chunk is stored in pieces of this size as it arrives.
const SEGMENT: usize = 8 * MIB;

/// PostgreSQL and S3 for this test, or `None` with the reason printed.
fn services(test: &str) -> Option<(&'static ThrowawayPostgres, ThrowawayS3)> {
    if !testing_on_postgres() {
        eprintln!(
            "skipped {test}: it needs PostgreSQL; runs with {TEST_DATABASE_ENV}=postgres \
             (make test-postgres)"
        );
        return None;
    }
    if skip_unless_one_instance(test, "starts two instances of its own") {
        return None;
    }
    match ThrowawayS3::start() {
        Ok(s3) => Some((ThrowawayPostgres::shared(), s3)),
        Err(S3Unavailable::NotInstallable(why)) => {
            eprintln!("skipped {test}: no S3-compatible test server: {why}");
            None
        }
        Err(S3Unavailable::Failed(why)) => panic!("throwaway S3 server: {why}"),
    }
}

/// What both instances share: the database and the bucket. Each instance
/// has its own data dir and config file.
struct Shared {
    database_url: String,
    bucket: S3Settings,
    dir: TempDir,
}

impl Shared {
    fn new(cluster: &ThrowawayPostgres, s3: &ThrowawayS3) -> Shared {
        let name = format!("k{}", uuid::Uuid::new_v4().simple());
        cluster.create_database(&name).unwrap();
        Shared {
            database_url: cluster.url(&name),
            bucket: s3.new_bucket(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The config file of instance `name`, with its own data dir
    /// ([`data_dir`](Self::data_dir)).
    fn config(&self, name: &str) -> PathBuf {
        let config = self.dir.path().join(format!("{name}.toml"));
        let data = self.data_dir(name);
        std::fs::write(
            &config,
            format!(
                "addr = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ndatabase_url = \"{}\"\n{}",
                data.display(),
                self.database_url,
                blob_store_config(&self.bucket),
            ),
        )
        .unwrap();
        config
    }

    fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-data"))
    }
}

fn add_user(config: &Path, username: &str, role: &str) {
    add_user_with_cli(BIN, config, username, role, PASSWORD);
}

/// `fieldbook-server --config CONFIG serve`, killed (SIGKILL) when dropped.
fn serve(config: &Path) -> ServeProcess {
    ServeProcess::start(BIN, &["--config", config.to_str().unwrap(), "serve"])
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A video's worth of bytes that do not compress or repeat.
fn video_bytes(len: usize, seed: u64) -> Vec<u8> {
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

/// The technician's device as its uploader talks to "the server": every
/// request goes to whichever instance the load balancer gives it.
struct DeviceUploads {
    client: reqwest::Client,
    token: String,
    /// `crc32` when the server offers it (OPTIONS), else `sha256`.
    checksum: &'static str,
}

impl DeviceUploads {
    async fn sign_in(base: &str, username: &str) -> DeviceUploads {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let response = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "login on {base}");
        let token = response.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let offered = client
            .request(reqwest::Method::OPTIONS, format!("{base}/api/v1/blobs"))
            .bearer_auth(&token)
            .header("tus-resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        let algorithms = offered
            .headers()
            .get("tus-checksum-algorithm")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let checksum = if algorithms.split(',').any(|a| a.trim() == "crc32") {
            "crc32"
        } else {
            "sha256"
        };
        DeviceUploads {
            client,
            token,
            checksum,
        }
    }

    /// Creation: `201` and the upload's path.
    async fn create(&self, base: &str, bytes: &[u8]) -> String {
        let sha = Sha256Hex::digest(bytes);
        let created = self
            .client
            .post(format!("{base}/api/v1/blobs"))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", bytes.len().to_string())
            .header(
                "upload-metadata",
                format!("sha256 {},mime {}", b64(sha.as_str()), b64("video/mp4")),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "creation on {base}");
        created.headers()["location"].to_str().unwrap().to_owned()
    }

    /// `HEAD` of a stored upload: the offset the instance reports.
    async fn head(&self, base: &str, location: &str) -> (StatusCode, Option<u64>) {
        let response = self
            .client
            .head(format!("{base}{location}"))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("cache-control", "no-store")
            .send()
            .await
            .unwrap();
        (response.status(), upload_offset(&response))
    }

    fn checksum_header(&self, chunk: &[u8]) -> String {
        match self.checksum {
            "crc32" => format!("crc32 {}", b64(crc32fast::hash(chunk).to_be_bytes())),
            _ => format!("sha256 {}", b64(sha2::Sha256::digest(chunk))),
        }
    }

    /// One chunk: the status and the new offset.
    async fn patch(
        &self,
        base: &str,
        location: &str,
        offset: usize,
        chunk: &[u8],
    ) -> (StatusCode, Option<u64>) {
        let response = self
            .client
            .patch(format!("{base}{location}"))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .header("upload-checksum", self.checksum_header(chunk))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        (response.status(), upload_offset(&response))
    }

    /// The same PATCH written by hand on a socket, of which only the first
    /// `send` body bytes go out: the chunk is on its way when the caller
    /// kills the instance. Returns the open socket.
    async fn patch_in_flight(
        &self,
        base: &str,
        location: &str,
        offset: usize,
        chunk: &[u8],
        send: usize,
    ) -> tokio::net::TcpStream {
        let addr = base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n\
             Upload-Offset: {offset}\r\nUpload-Checksum: {}\r\nContent-Length: {}\r\n\r\n",
            self.token,
            self.checksum_header(chunk),
            chunk.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&chunk[..send]).await.unwrap();
        stream.flush().await.unwrap();
        stream
    }

    /// What the uploader does after a chunk failed: `HEAD` for the offset,
    /// then the rest from there, one chunk of at most `chunk` bytes per
    /// `PATCH`. Returns the offset it resumed from.
    async fn resume(&self, base: &str, location: &str, bytes: &[u8], chunk: usize) -> usize {
        let (status, offset) = self.head(base, location).await;
        assert_eq!(status, StatusCode::OK, "HEAD of the upload on {base}");
        let from = offset.expect("HEAD answers the offset") as usize;
        let mut offset = from;
        while offset < bytes.len() {
            let end = (offset + chunk).min(bytes.len());
            let (status, new_offset) = self
                .patch(base, location, offset, &bytes[offset..end])
                .await;
            assert_eq!(
                status,
                StatusCode::NO_CONTENT,
                "PATCH at {offset} on {base}"
            );
            assert_eq!(new_offset, Some(end as u64));
            offset = end;
        }
        from
    }

    /// Downloads a stored blob; returns its SHA-256.
    async fn download_digest(&self, base: &str, sha: &Sha256Hex) -> Sha256Hex {
        let response = self
            .client
            .get(format!("{base}/api/v1/blobs/{sha}"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "download on {base}");
        Sha256Hex::digest(&response.bytes().await.unwrap())
    }
}

fn upload_offset(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Polls `HEAD` on `base` until it reports `offset` (within 30 s).
async fn wait_for_offset(device: &DeviceUploads, base: &str, location: &str, offset: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, seen) = device.head(base, location).await;
        if status == StatusCode::OK && seen == Some(offset) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} never reported offset {offset} (last: {status} {seen:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two instances, a technician and ops (who may download any blob).
struct TwoInstances {
    a: ServeProcess,
    b: ServeProcess,
    shared: Shared,
}

impl TwoInstances {
    fn start(cluster: &ThrowawayPostgres, s3: &ThrowawayS3) -> TwoInstances {
        let shared = Shared::new(cluster, s3);
        let config_a = shared.config("a");
        let config_b = shared.config("b");
        add_user(&config_a, "kim", "technician");
        add_user(&config_a, "ops", "ops");
        let a = serve(&config_a);
        let b = serve(&config_b);
        TwoInstances { a, b, shared }
    }
}

/// The device's PATCH of a 20 MiB video is on its way to A when A is
/// killed; B reports the offset of what A had stored (a whole segment) and
/// the device sends the rest to B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_on_instance_b_after_instance_a_is_killed_mid_patch() {
    let test = "an_upload_resumes_on_instance_b_after_instance_a_is_killed_mid_patch";
    let Some((cluster, s3)) = services(test) else {
        return;
    };
    let TwoInstances { a, b, shared } = TwoInstances::start(cluster, &s3);
    let (a_url, b_url) = (a.url().to_owned(), b.url().to_owned());
    let video = video_bytes(20 * MIB + 12_345, 11);
    let sha = Sha256Hex::digest(&video);

    let device = DeviceUploads::sign_in(&a_url, "kim").await;
    let location = device.create(&a_url, &video).await;
    // B sees the upload A created, from the bucket alone.
    assert_eq!(
        device.head(&b_url, &location).await,
        (StatusCode::OK, Some(0))
    );

    // One 64 MiB-at-most chunk: the whole video in one PATCH, of which a
    // segment and a bit have reached A when it dies.
    let stream = device
        .patch_in_flight(&a_url, &location, 0, &video, SEGMENT + 3 * MIB)
        .await;
    // B reports the segment A stored while the body still arrives at A.
    wait_for_offset(&device, &b_url, &location, SEGMENT as u64).await;
    a.kill();
    drop(stream);
    // Nothing of the upload was on A's machine for B to rely on.
    std::fs::remove_dir_all(shared.data_dir("a")).unwrap();

    // The device's next request reaches B: the session and the upload are
    // there, and it goes on from B's offset, not from byte 0.
    let resumed_from = device.resume(&b_url, &location, &video, DEVICE_CHUNK).await;
    assert_eq!(resumed_from, SEGMENT, "resumed from the offset B reported");
    assert_eq!(
        device.head(&b_url, &location).await,
        (StatusCode::OK, Some(video.len() as u64))
    );

    let ops = DeviceUploads::sign_in(&b_url, "ops").await;
    assert_eq!(ops.download_digest(&b_url, &sha).await, sha);
    // Another instance started now (A's replacement) serves it too.
    let replacement = serve(&shared.config("c"));
    assert_eq!(ops.download_digest(replacement.url(), &sha).await, sha);
    drop(b);
}

/// The device's uploader sends 64 MiB per PATCH.
const DEVICE_CHUNK: usize = 64 * MIB;

/// A is killed between two chunks (the first acknowledged, the second not
/// sent yet): B reports the acknowledged offset and the device sends the
/// second chunk to B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_on_instance_b_after_instance_a_is_killed_between_chunks() {
    let test = "an_upload_resumes_on_instance_b_after_instance_a_is_killed_between_chunks";
    let Some((cluster, s3)) = services(test) else {
        return;
    };
    let TwoInstances { a, b, shared } = TwoInstances::start(cluster, &s3);
    let (a_url, b_url) = (a.url().to_owned(), b.url().to_owned());
    // Chunks of 5 MiB (a device on a slow link, or a chunk size set
    // lower): not a multiple of the store's segment size.
    let chunk = 5 * MIB;
    let video = video_bytes(3 * chunk + 777, 12);
    let sha = Sha256Hex::digest(&video);

    let device = DeviceUploads::sign_in(&a_url, "kim").await;
    let location = device.create(&a_url, &video).await;
    for n in 0..2 {
        let (status, offset) = device
            .patch(
                &a_url,
                &location,
                n * chunk,
                &video[n * chunk..(n + 1) * chunk],
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(offset, Some(((n + 1) * chunk) as u64));
    }
    a.kill();
    std::fs::remove_dir_all(shared.data_dir("a")).unwrap();

    let resumed_from = device.resume(&b_url, &location, &video, chunk).await;
    assert_eq!(
        resumed_from,
        2 * chunk,
        "resumed from the acknowledged offset"
    );

    let ops = DeviceUploads::sign_in(&b_url, "ops").await;
    assert_eq!(ops.download_digest(&b_url, &sha).await, sha);
    drop(b);
}
