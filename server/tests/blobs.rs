//! tus blob uploads against a real server on 127.0.0.1:0 with a temp data dir.
//!
//! The app under test is the blob router mounted exactly as the server mounts
//! it (`/api/v1/blobs`), behind a stand-in for the auth layer that takes the
//! caller's user id from an `x-test-user` header.
//!
//! With `FIELDBOOK_TEST_BLOB_STORE=s3` (`make test-s3`) the same tests run
//! against an S3-compatible server (`fieldbook_testkit::ThrowawayS3`): each
//! data dir gets its own bucket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use fieldbook_domain::{Role, Sha256Hex};
use fieldbook_server::blobs::{router, spawn_upload_expiry, BlobStore, S3Settings, UPLOAD_EXPIRY};
use fieldbook_server::caller::Caller;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

const MAX_BLOB_BYTES: u64 = 8 * 1024 * 1024;
const MOUNT: &str = "/api/v1/blobs";

async fn fake_auth(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get("x-test-user")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok());
    let Some(user_id) = user else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    request.extensions_mut().insert(Caller {
        user_id,
        username: format!("tech-{user_id}"),
        role: Role::Technician,
        team_ids: vec![],
    });
    next.run(request).await
}

/// The tus router alone behind a fake authentication layer (the blob
/// module in isolation; the whole server is `fieldbook_testkit::TestServer`).
struct TusRouterServer {
    addr: std::net::SocketAddr,
    store: Arc<BlobStore>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TusRouterServer {
    async fn start(data_dir: &Path) -> TusRouterServer {
        TusRouterServer::start_with(open_store(data_dir, MAX_BLOB_BYTES)).await
    }

    async fn start_with(store: BlobStore) -> TusRouterServer {
        let store = Arc::new(store);
        let app = Router::new()
            .nest(MOUNT, router(Arc::clone(&store)))
            .layer(axum::middleware::from_fn(fake_auth));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TusRouterServer {
            addr,
            store,
            shutdown,
            task,
        }
    }

    /// Stops serving and waits until every connection is closed, so the
    /// store is no longer used by anyone.
    async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops")
            .unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Deterministic incompressible test bytes.
fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn metadata_for(sha256: &Sha256Hex) -> String {
    format!("sha256 {},mime {}", b64(sha256.as_str()), b64("video/mp4"))
}

fn checksum_of(chunk: &[u8]) -> String {
    format!("sha256 {}", b64(Sha256Hex::digest(chunk).to_bytes()))
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn offset_of(response: &reqwest::Response) -> u64 {
    header(response, "upload-offset")
        .expect("Upload-Offset header")
        .parse()
        .unwrap()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    body["code"].as_str().expect("code").to_owned()
}

struct Client {
    http: reqwest::Client,
    user: Uuid,
}

impl Client {
    fn new(user: Uuid) -> Client {
        Client {
            http: reqwest::Client::new(),
            user,
        }
    }

    fn tus(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("x-test-user", self.user.to_string())
            .header("tus-resumable", "1.0.0")
    }

    async fn create(
        &self,
        server: &TusRouterServer,
        sha256: &Sha256Hex,
        len: u64,
    ) -> reqwest::Response {
        self.tus(reqwest::Method::POST, server.url(MOUNT))
            .header("upload-length", len.to_string())
            .header("upload-metadata", metadata_for(sha256))
            .send()
            .await
            .unwrap()
    }

    /// Creates an upload and returns its absolute URL.
    async fn create_upload(&self, server: &TusRouterServer, data: &[u8]) -> String {
        let response = self
            .create(server, &Sha256Hex::digest(data), data.len() as u64)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(offset_of(&response), 0);
        let location = header(&response, "location").expect("Location");
        assert!(location.starts_with(&format!("{MOUNT}/")), "{location}");
        server.url(&location)
    }

    async fn patch(
        &self,
        url: &str,
        offset: u64,
        chunk: &[u8],
        checksum: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .tus(reqwest::Method::PATCH, url.to_owned())
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(chunk.to_vec());
        if let Some(checksum) = checksum {
            request = request.header("upload-checksum", checksum);
        }
        request.send().await.unwrap()
    }

    async fn head(&self, url: &str) -> reqwest::Response {
        self.tus(reqwest::Method::HEAD, url.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn offset(&self, url: &str) -> u64 {
        let response = self.head(url).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store")
        );
        offset_of(&response)
    }

    /// Sends `data[from..]` in `chunk_size` chunks, each with its checksum.
    async fn upload_rest(
        &self,
        url: &str,
        data: &[u8],
        from: usize,
        chunk_size: usize,
    ) -> reqwest::Response {
        let mut offset = from;
        loop {
            let end = (offset + chunk_size).min(data.len());
            let chunk = &data[offset..end];
            let response = self
                .patch(url, offset as u64, chunk, Some(checksum_of(chunk)))
                .await;
            if end == data.len() || response.status() != StatusCode::NO_CONTENT {
                return response;
            }
            assert_eq!(offset_of(&response), end as u64);
            offset = end;
        }
    }
}

fn stored_bytes(store: &BlobStore, sha256: &Sha256Hex) -> Vec<u8> {
    std::fs::read(store.path_of(sha256).expect("blob stored")).unwrap()
}

/// The blob store of this test's data dir: the data dir itself, or (with
/// `FIELDBOOK_TEST_BLOB_STORE=s3`) a bucket of its own that a restart on the
/// same data dir finds again.
fn open_store(data_dir: &Path, max_blob_bytes: u64) -> BlobStore {
    BlobStore::open_at(data_dir, remote_for(data_dir).as_ref(), max_blob_bytes)
        .expect("open blob store")
}

fn remote_for(data_dir: &Path) -> Option<S3Settings> {
    static BUCKETS: Mutex<Option<HashMap<PathBuf, Option<S3Settings>>>> = Mutex::new(None);
    let mut buckets = BUCKETS.lock().unwrap();
    buckets
        .get_or_insert_with(HashMap::new)
        .entry(data_dir.to_owned())
        .or_insert_with(fieldbook_testkit::test_blob_store)
        .clone()
}

/// What the store keeps for uploads (files, or object keys).
fn upload_entries(store: &BlobStore) -> Vec<String> {
    store.upload_entries().expect("list upload entries")
}

/// Raw HTTP/1.1 request: sends `head` and `body`, then either drops the
/// connection (`None`) or reads the response head.
async fn raw_request(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
    read_response: bool,
) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream.flush().await.unwrap();
    if !read_response {
        drop(stream);
        return None;
    }
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the server answers without waiting for the body")
        .unwrap();
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn raw_patch_head(
    server: &TusRouterServer,
    url: &str,
    user: Uuid,
    offset: u64,
    content_length: usize,
    checksum: Option<&str>,
) -> String {
    let path = url.trim_start_matches(&format!("http://{}", server.addr));
    let mut head = format!(
        "PATCH {path} HTTP/1.1\r\nhost: {}\r\nx-test-user: {user}\r\ntus-resumable: 1.0.0\r\n\
         content-type: application/offset+octet-stream\r\nupload-offset: {offset}\r\ncontent-length: {content_length}\r\n",
        server.addr
    );
    if let Some(checksum) = checksum {
        head.push_str(&format!("upload-checksum: {checksum}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Polls HEAD until the offset is `expected` (the server finishes a cut
/// PATCH asynchronously).
async fn wait_for_offset(client: &Client, url: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let offset = client.offset(url).await;
        if offset == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "offset stuck at {offset}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PATCH, retrying while the server still finishes the cut request (423).
async fn patch_when_unlocked(
    client: &Client,
    url: &str,
    offset: u64,
    chunk: &[u8],
    checksum: Option<String>,
) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = client.patch(url, offset, chunk, checksum.clone()).await;
        if response.status() != StatusCode::LOCKED || Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn options_advertises_tus_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let response = client
        .http
        .request(reqwest::Method::OPTIONS, server.url(MOUNT))
        .header("x-test-user", client.user.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(header(&response, "tus-version").as_deref(), Some("1.0.0"));
    let extensions = header(&response, "tus-extension").unwrap();
    for ext in ["creation", "checksum"] {
        assert!(extensions.split(',').any(|e| e == ext), "{extensions}");
    }
    assert_eq!(
        header(&response, "tus-checksum-algorithm").as_deref(),
        Some("sha256,crc32")
    );
    assert_eq!(
        header(&response, "tus-max-size"),
        Some(MAX_BLOB_BYTES.to_string())
    );
    server.stop().await;
}

#[tokio::test]
async fn chunked_upload_with_checksums_stores_the_verified_blob() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(1_000_003, 1);
    let sha = Sha256Hex::digest(&data);
    let url = client.create_upload(&server, &data).await;
    assert!(!server.store.contains(&sha));

    let first = client
        .patch(
            &url,
            0,
            &data[..400_000],
            Some(checksum_of(&data[..400_000])),
        )
        .await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&first, "tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(offset_of(&first), 400_000);
    let head = client.head(&url).await;
    assert_eq!(offset_of(&head), 400_000);
    assert_eq!(header(&head, "upload-length"), Some(data.len().to_string()));
    assert!(
        !server.store.contains(&sha),
        "not visible before the last byte"
    );

    let last = client.upload_rest(&url, &data, 400_000, 300_000).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset_of(&last), data.len() as u64);

    assert!(server.store.contains(&sha));
    let stored = stored_bytes(&server.store, &sha);
    assert_eq!(Sha256Hex::digest(&stored), sha);
    assert_eq!(stored, data);
    let path = server.store.path_of(&sha).unwrap();
    // An S3 store's blob is read through a local copy under blobs/cache/.
    let layout = if server.store.is_remote() {
        format!("blobs/cache/{}/{}", &sha.as_str()[..2], sha)
    } else {
        format!("blobs/{}/{}", &sha.as_str()[..2], sha)
    };
    assert!(path.ends_with(layout), "{path:?}");
    // A client whose last response was lost can still see it finished.
    assert_eq!(client.offset(&url).await, data.len() as u64);
    server.stop().await;
}

#[tokio::test]
async fn cut_connection_keeps_received_bytes_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(600_000, 2);
    let url = client.create_upload(&server, &data).await;

    // Announce the whole file, send 250,000 bytes, hang up.
    let head = raw_patch_head(&server, &url, client.user, 0, data.len(), None);
    raw_request(server.addr, &head, &data[..250_000], false).await;
    wait_for_offset(&client, &url, 250_000).await;

    let rest = patch_when_unlocked(
        &client,
        &url,
        250_000,
        &data[250_000..],
        Some(checksum_of(&data[250_000..])),
    )
    .await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    let sha = Sha256Hex::digest(&data);
    assert_eq!(stored_bytes(&server.store, &sha), data);
    server.stop().await;
}

#[tokio::test]
async fn cut_connection_with_checksum_discards_the_partial_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(300_000, 3);
    let url = client.create_upload(&server, &data).await;
    let first = client.patch(&url, 0, &data[..100_000], None).await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);

    let checksum = checksum_of(&data[100_000..]);
    let head = raw_patch_head(
        &server,
        &url,
        client.user,
        100_000,
        200_000,
        Some(&checksum),
    );
    raw_request(server.addr, &head, &data[100_000..180_000], false).await;

    // The partial chunk cannot be verified: it must not count. If it had been
    // kept, this PATCH at 100,000 would get 409.
    let rest = patch_when_unlocked(&client, &url, 100_000, &data[100_000..], Some(checksum)).await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored_bytes(&server.store, &Sha256Hex::digest(&data)), data);
    server.stop().await;
}

#[tokio::test]
async fn cut_after_the_last_byte_still_completes_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(5_000, 20);
    let sha = Sha256Hex::digest(&data);
    let url = client.create_upload(&server, &data).await;
    // Chunked body with every byte but without the terminating empty chunk.
    let path = url.trim_start_matches(&format!("http://{}", server.addr));
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nhost: x\r\nx-test-user: {}\r\ntus-resumable: 1.0.0\r\n\
         content-type: application/offset+octet-stream\r\nupload-offset: 0\r\ntransfer-encoding: chunked\r\n\r\n",
        client.user
    );
    let mut body = format!("{:x}\r\n", data.len()).into_bytes();
    body.extend_from_slice(&data);
    body.extend_from_slice(b"\r\n");
    raw_request(server.addr, &head, &body, false).await;

    wait_for_offset(&client, &url, data.len() as u64).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.store.contains(&sha) {
        assert!(
            Instant::now() < deadline,
            "full upload never became visible"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored_bytes(&server.store, &sha), data);
    server.stop().await;
}

#[tokio::test]
async fn stalled_body_counts_as_a_cut_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        open_store(dir.path(), MAX_BLOB_BYTES).with_patch_idle_timeout(Duration::from_millis(300));
    let server = TusRouterServer::start_with(store).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(50_000, 4);
    let url = client.create_upload(&server, &data).await;

    // Half-open connection: half the body, then silence, socket kept open.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = raw_patch_head(&server, &url, client.user, 0, data.len(), None);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&data[..20_000]).await.unwrap();
    wait_for_offset(&client, &url, 20_000).await;
    let rest = client.patch(&url, 20_000, &data[20_000..], None).await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert!(server.store.contains(&Sha256Hex::digest(&data)));
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_patch_on_the_same_upload_is_423() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(40_000, 21);
    let url = client.create_upload(&server, &data).await;

    // A PATCH still streaming (its client is slow, the connection open).
    let head = raw_patch_head(&server, &url, client.user, 0, data.len(), None);
    let start_slow = || async {
        let mut slow = TcpStream::connect(server.addr).await.unwrap();
        slow.write_all(head.as_bytes()).await.unwrap();
        slow.write_all(&data[..10_000]).await.unwrap();
        slow.flush().await.unwrap();
        slow
    };
    let mut slow = start_slow().await;

    // Until the server has started on the slow request, an empty PATCH can
    // still win the lock (and harmlessly store nothing); then it must get 423.
    // An empty PATCH holding the lock when the slow one arrives makes the
    // slow one the refused one (it gets an answer): it is started again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let busy = loop {
        let response = client.patch(&url, 0, b"", None).await;
        if response.status() != StatusCode::NO_CONTENT {
            break response;
        }
        let mut answer = [0u8; 1];
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut answer)).await
        {
            slow = start_slow().await;
        }
        assert!(
            Instant::now() < deadline,
            "the slow PATCH never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(busy.status(), StatusCode::LOCKED);
    assert_eq!(error_code(busy).await, "upload_locked");
    // HEAD does not wait for the running PATCH: it reports what is durable.
    assert_eq!(client.offset(&url).await, 0);

    drop(slow);
    wait_for_offset(&client, &url, 10_000).await;
    let rest = patch_when_unlocked(&client, &url, 10_000, &data[10_000..], None).await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert!(server.store.contains(&Sha256Hex::digest(&data)));
    server.stop().await;
}

#[tokio::test]
async fn wrong_offset_is_409_with_the_current_offset() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(10_000, 5);
    let url = client.create_upload(&server, &data).await;
    assert_eq!(
        client.patch(&url, 0, &data[..4_000], None).await.status(),
        StatusCode::NO_CONTENT
    );

    for wrong in [0, 3_999, 4_001, 10_000] {
        let response = client.patch(&url, wrong, &data[4_000..5_000], None).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "offset {wrong}");
        assert_eq!(offset_of(&response), 4_000);
        assert_eq!(error_code(response).await, "offset_mismatch");
    }
    assert_eq!(client.offset(&url).await, 4_000);
    server.stop().await;
}

fn crc32_checksum_of(chunk: &[u8]) -> String {
    format!("crc32 {}", b64(crc32fast::hash(chunk).to_be_bytes()))
}

/// The cheap per-chunk check a client uses when the server offers it: a
/// damaged chunk is refused like with SHA-256, a whole one goes through, and
/// the blob's own SHA-256 is still checked at the end.
#[tokio::test]
async fn crc32_chunk_checksums_catch_a_damaged_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(30_000, 9);
    let url = client.create_upload(&server, &data).await;
    let first = client
        .patch(
            &url,
            0,
            &data[..10_000],
            Some(crc32_checksum_of(&data[..10_000])),
        )
        .await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);

    let mut damaged = data[10_000..].to_vec();
    damaged[5] ^= 0x40;
    let response = client
        .patch(
            &url,
            10_000,
            &damaged,
            Some(crc32_checksum_of(&data[10_000..])),
        )
        .await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(error_code(response).await, "checksum_mismatch");
    assert_eq!(client.offset(&url).await, 10_000);

    let rest = client
        .patch(
            &url,
            10_000,
            &data[10_000..],
            Some(crc32_checksum_of(&data[10_000..])),
        )
        .await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored_bytes(&server.store, &Sha256Hex::digest(&data)), data);
    server.stop().await;
}

#[tokio::test]
async fn checksum_mismatch_is_460_and_keeps_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(20_000, 6);
    let url = client.create_upload(&server, &data).await;
    assert_eq!(
        client
            .patch(&url, 0, &data[..5_000], Some(checksum_of(&data[..5_000])))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let mut corrupted = data[5_000..12_000].to_vec();
    corrupted[100] ^= 0x01;
    let response = client
        .patch(
            &url,
            5_000,
            &corrupted,
            Some(checksum_of(&data[5_000..12_000])),
        )
        .await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(error_code(response).await, "checksum_mismatch");
    assert_eq!(client.offset(&url).await, 5_000);

    let md5 = client
        .patch(
            &url,
            5_000,
            &data[5_000..],
            Some("md5 AAAAAAAAAAAAAAAAAAAAAA==".into()),
        )
        .await;
    assert_eq!(md5.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(md5).await, "checksum_algorithm_unsupported");
    assert_eq!(client.offset(&url).await, 5_000);

    let rest = client
        .patch(
            &url,
            5_000,
            &data[5_000..],
            Some(checksum_of(&data[5_000..])),
        )
        .await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored_bytes(&server.store, &Sha256Hex::digest(&data)), data);
    server.stop().await;
}

#[tokio::test]
async fn zero_byte_uploads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let empty = Sha256Hex::digest(b"");
    let response = client.create(&server, &empty, 0).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(header(&response, "location").is_none());
    assert_eq!(error_code(response).await, "empty_blob");
    assert!(!server.store.contains(&empty));
    assert!(upload_entries(&server.store).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn oversize_is_413_before_any_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let sha = Sha256Hex::digest(b"big");

    let response = client.create(&server, &sha, MAX_BLOB_BYTES + 1).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "blob_too_large");
    assert!(upload_entries(&server.store).is_empty());
    assert_eq!(
        client.create(&server, &sha, MAX_BLOB_BYTES).await.status(),
        StatusCode::CREATED
    );

    // A creation request announcing a huge body it never sends.
    let post = format!(
        "POST {MOUNT} HTTP/1.1\r\nhost: x\r\nx-test-user: {}\r\ntus-resumable: 1.0.0\r\nupload-length: {}\r\n\
         upload-metadata: {}\r\ncontent-length: 1000000000\r\n\r\n",
        client.user,
        MAX_BLOB_BYTES + 1,
        metadata_for(&sha)
    );
    let answer = raw_request(server.addr, &post, b"", true).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A chunk longer than what remains, announced by Content-Length only.
    let data = test_bytes(1_000, 7);
    let url = client.create_upload(&server, &data).await;
    let head = raw_patch_head(&server, &url, client.user, 0, 1_001, None);
    let answer = raw_request(server.addr, &head, b"", true).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(client.offset(&url).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn chunked_body_past_the_length_is_413_and_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(1_000, 8);
    let url = client.create_upload(&server, &data).await;
    // No Content-Length (chunked transfer encoding): the limit is enforced
    // while reading, and the bytes already written are discarded.
    let path = url.trim_start_matches(&format!("http://{}", server.addr));
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nhost: x\r\nx-test-user: {}\r\ntus-resumable: 1.0.0\r\n\
         content-type: application/offset+octet-stream\r\nupload-offset: 0\r\ntransfer-encoding: chunked\r\n\r\n",
        client.user
    );
    let mut body = Vec::new();
    for part in [&data[..600], &test_bytes(900, 9)[..]] {
        body.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_request(server.addr, &head, &body, true).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(client.offset(&url).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn duplicate_hash_is_instantly_complete() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let alice = Client::new(Uuid::new_v4());
    let bob = Client::new(Uuid::new_v4());
    let data = test_bytes(70_000, 10);
    let sha = Sha256Hex::digest(&data);
    let url = alice.create_upload(&server, &data).await;
    assert_eq!(
        alice.upload_rest(&url, &data, 0, 32_768).await.status(),
        StatusCode::NO_CONTENT
    );
    let uploads_before = upload_entries(&server.store).len();

    for client in [&alice, &bob] {
        let response = client.create(&server, &sha, data.len() as u64).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "fieldbook-blob-exists").as_deref(),
            Some("true")
        );
        assert_eq!(offset_of(&response), data.len() as u64);
        assert_eq!(
            header(&response, "upload-length"),
            Some(data.len().to_string())
        );
        assert!(header(&response, "location").is_none());
    }
    // Dedupe created nothing.
    assert_eq!(upload_entries(&server.store).len(), uploads_before);

    let wrong_length = bob.create(&server, &sha, data.len() as u64 + 1).await;
    assert_eq!(wrong_length.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(wrong_length).await, "blob_length_mismatch");
    server.stop().await;
}

#[tokio::test]
async fn two_users_uploading_the_same_file_both_finish() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let alice = Client::new(Uuid::new_v4());
    let bob = Client::new(Uuid::new_v4());
    let data = test_bytes(90_000, 19);
    let sha = Sha256Hex::digest(&data);
    let alices = alice.create_upload(&server, &data).await;
    let bobs = bob.create_upload(&server, &data).await;
    assert_ne!(alices, bobs);
    assert_eq!(
        alice.upload_rest(&alices, &data, 0, 50_000).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        bob.upload_rest(&bobs, &data, 0, 30_000).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(bob.offset(&bobs).await, data.len() as u64);
    assert_eq!(stored_bytes(&server.store, &sha), data);
    let leftovers: Vec<_> = upload_entries(&server.store)
        .into_iter()
        .filter(|entry| !entry.ends_with(".json"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    server.stop().await;
}

#[tokio::test]
async fn whole_file_hash_mismatch_is_rejected_and_never_visible() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let declared = test_bytes(40_000, 11);
    let sent = test_bytes(40_000, 12);
    let declared_sha = Sha256Hex::digest(&declared);
    let response = client
        .create(&server, &declared_sha, declared.len() as u64)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let url = server.url(&header(&response, "location").unwrap());

    // Each chunk is intact (its own checksum matches); the file is not the
    // one declared.
    let last = client.upload_rest(&url, &sent, 0, 16_384).await;
    assert_eq!(last.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = last.json().await.unwrap();
    assert_eq!(body["code"], "blob_hash_mismatch");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains(declared_sha.as_str()));

    assert!(!server.store.contains(&declared_sha));
    assert!(!server.store.contains(&Sha256Hex::digest(&sent)));
    assert!(server.store.path_of(&declared_sha).is_none());
    assert_eq!(client.head(&url).await.status(), StatusCode::NOT_FOUND);
    assert!(upload_entries(&server.store).is_empty());
    // Starting again with the right bytes works.
    let retry = client.create_upload(&server, &declared).await;
    assert_eq!(
        client
            .upload_rest(&retry, &declared, 0, 40_000)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(server.store.contains(&declared_sha));
    server.stop().await;
}

#[tokio::test]
async fn another_users_upload_id_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let owner = Client::new(Uuid::new_v4());
    let stranger = Client::new(Uuid::new_v4());
    let data = test_bytes(30_000, 13);
    let url = owner.create_upload(&server, &data).await;
    assert_eq!(
        owner.patch(&url, 0, &data[..10_000], None).await.status(),
        StatusCode::NO_CONTENT
    );

    assert_eq!(stranger.head(&url).await.status(), StatusCode::NOT_FOUND);
    let patch = stranger.patch(&url, 10_000, &data[10_000..], None).await;
    assert_eq!(patch.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(patch).await, "upload_not_found");
    let delete = stranger
        .tus(reqwest::Method::DELETE, url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
    // Ids that are not UUIDs name nothing (and never reach the disk).
    for bad in ["not-a-uuid", "..%2F..%2Fetc", &Uuid::new_v4().to_string()] {
        let response = owner.head(&server.url(&format!("{MOUNT}/{bad}"))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
    }

    // The stranger's POST of the same file is a separate upload, not the
    // owner's.
    let theirs = stranger.create_upload(&server, &data).await;
    assert_ne!(theirs, url);
    assert_eq!(owner.offset(&url).await, 10_000);
    assert_eq!(
        owner
            .patch(&url, 10_000, &data[10_000..], None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    server.stop().await;
}

#[tokio::test]
async fn second_post_by_the_owner_returns_the_unfinished_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(30_000, 14);
    let sha = Sha256Hex::digest(&data);
    let url = client.create_upload(&server, &data).await;
    assert_eq!(
        client.patch(&url, 0, &data[..12_345], None).await.status(),
        StatusCode::NO_CONTENT
    );

    let again = client.create(&server, &sha, data.len() as u64).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(server.url(&header(&again, "location").unwrap()), url);
    assert_eq!(offset_of(&again), 12_345);
    server.stop().await;
}

#[tokio::test]
async fn protocol_violations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(1_000, 15);
    let sha = Sha256Hex::digest(&data);

    let no_version = client
        .http
        .post(server.url(MOUNT))
        .header("x-test-user", client.user.to_string())
        .header("upload-length", "1000")
        .header("upload-metadata", metadata_for(&sha))
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&no_version, "tus-version").as_deref(), Some("1.0.0"));

    let no_hash = client
        .tus(reqwest::Method::POST, server.url(MOUNT))
        .header("upload-length", "1000")
        .header("upload-metadata", format!("filename {}", b64("a.mp4")))
        .send()
        .await
        .unwrap();
    assert_eq!(no_hash.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(no_hash).await, "missing_sha256");

    let no_length = client
        .tus(reqwest::Method::POST, server.url(MOUNT))
        .header("upload-metadata", metadata_for(&sha))
        .send()
        .await
        .unwrap();
    assert_eq!(no_length.status(), StatusCode::BAD_REQUEST);

    let url = client.create_upload(&server, &data).await;
    let wrong_type = client
        .tus(reqwest::Method::PATCH, url.clone())
        .header("content-type", "application/octet-stream")
        .header("upload-offset", "0")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(client.offset(&url).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn termination_removes_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(10_000, 16);
    let url = client.create_upload(&server, &data).await;
    assert_eq!(
        client.patch(&url, 0, &data[..5_000], None).await.status(),
        StatusCode::NO_CONTENT
    );
    let delete = client
        .tus(reqwest::Method::DELETE, url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert_eq!(client.head(&url).await.status(), StatusCode::NOT_FOUND);
    assert!(upload_entries(&server.store).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn restart_keeps_uploads_resumable_from_the_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    if remote_for(dir.path()).is_some() {
        eprintln!(
            "SKIPPED on the S3 blob store: this test appends to a .part file on disk; \
             uploads_resume_on_another_instance_sharing_the_store covers resuming there"
        );
        return;
    }
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(500_000, 17);
    let sha = Sha256Hex::digest(&data);
    let url = client.create_upload(&server, &data).await;
    assert_eq!(
        client
            .upload_rest(&url, &data[..200_000], 0, 100_000)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    server.stop().await;

    // Simulate a crash in the middle of a chunk: bytes past the committed
    // offset that were never acknowledged.
    let upload_id = url.rsplit('/').next().unwrap();
    let part = dir.path().join(format!("blobs/uploads/{upload_id}.part"));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&part)
        .unwrap();
    std::io::Write::write_all(&mut file, &test_bytes(7_777, 99)).unwrap();
    drop(file);

    let server = TusRouterServer::start(dir.path()).await;
    let url = server.url(&format!("{MOUNT}/{upload_id}")); // new port
    let client = Client::new(client.user);
    assert_eq!(client.offset(&url).await, 200_000);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 200_000);
    let last = client.upload_rest(&url, &data, 200_000, 150_000).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored_bytes(&server.store, &sha), data);
    server.stop().await;

    // Complete blobs and finished uploads survive a restart too.
    let server = TusRouterServer::start(dir.path()).await;
    let url = server.url(&format!("{MOUNT}/{upload_id}"));
    assert!(server.store.contains(&sha));
    assert_eq!(client.offset(&url).await, data.len() as u64);
    assert_eq!(
        client
            .create(&server, &sha, data.len() as u64)
            .await
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

/// Two instances (their own data dirs, one S3 bucket): an upload begun on
/// one resumes on the other after the first is gone, two PATCHes racing at
/// the same offset on both leave exactly one chunk, and bodies that cross
/// the store's segment size come back byte for byte. Only meaningful with
/// a shared store: on the data dir it is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_resume_on_another_instance_sharing_the_store() {
    let first_dir = tempfile::tempdir().unwrap();
    let Some(shared) = remote_for(first_dir.path()) else {
        eprintln!(
            "SKIPPED on the data-dir blob store: instances cannot share it \
             (run with FIELDBOOK_TEST_BLOB_STORE=s3, `make test-s3`)"
        );
        return;
    };
    let second_dir = tempfile::tempdir().unwrap();
    let open = |dir: &Path| BlobStore::open_at(dir, Some(&shared), u64::MAX).unwrap();
    let client = Client::new(Uuid::new_v4());
    // 20 MiB and a bit: chunks cross the 8 MiB segments.
    let data = test_bytes((20 << 20) + 12_345, 31);
    let sha = Sha256Hex::digest(&data);

    let first = TusRouterServer::start_with(open(first_dir.path())).await;
    let url = client.create_upload(&first, &data).await;
    let upload_path = url.trim_start_matches(&first.url("")).to_owned();
    let chunk = &data[..(9 << 20) + 1];
    let response = client.patch(&url, 0, chunk, Some(checksum_of(chunk))).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    first.stop().await;

    let second = TusRouterServer::start_with(open(second_dir.path())).await;
    let url = second.url(&upload_path);
    assert_eq!(client.offset(&url).await, chunk.len() as u64);
    // A retry of the last chunk (its answer lost) is refused with the offset.
    let again = client.patch(&url, 0, chunk, Some(checksum_of(chunk))).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(offset_of(&again), chunk.len() as u64);
    let last = client.upload_rest(&url, &data, chunk.len(), 7 << 20).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored_bytes(&second.store, &sha), data);

    // Two instances, the same chunk at the same offset at the same time.
    let first = TusRouterServer::start_with(open(first_dir.path())).await;
    let other = test_bytes((10 << 20) + 7, 32);
    let url_first = client.create_upload(&first, &other).await;
    let url_second = second.url(url_first.trim_start_matches(&first.url("")));
    let chunk = &other[..9 << 20];
    let (a, b) = tokio::join!(
        client.patch(&url_first, 0, chunk, Some(checksum_of(chunk))),
        client.patch(&url_second, 0, chunk, Some(checksum_of(chunk))),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert!(
        statuses[0] == StatusCode::NO_CONTENT
            && (statuses[1] == StatusCode::CONFLICT || statuses[1] == StatusCode::LOCKED),
        "exactly one PATCH wins: {statuses:?}"
    );
    assert_eq!(client.offset(&url_second).await, chunk.len() as u64);
    assert_eq!(client.offset(&url_first).await, chunk.len() as u64);
    let last = client
        .upload_rest(&url_second, &other, chunk.len(), 4 << 20)
        .await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        stored_bytes(&first.store, &Sha256Hex::digest(&other)),
        other
    );
    // Finished uploads keep only their records (until expiry).
    let leftovers: Vec<_> = upload_entries(&first.store)
        .into_iter()
        .filter(|entry| !entry.ends_with(".json"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn stale_uploads_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusRouterServer::start(dir.path()).await;
    let client = Client::new(Uuid::new_v4());
    let data = test_bytes(2_000, 18);
    let url = client.create_upload(&server, &data).await;
    assert_eq!(
        server.store.remove_expired_uploads(UPLOAD_EXPIRY).unwrap(),
        0
    );
    assert_eq!(client.offset(&url).await, 0);
    assert_eq!(
        server.store.remove_expired_uploads(Duration::ZERO).unwrap(),
        1
    );
    assert_eq!(client.head(&url).await.status(), StatusCode::NOT_FOUND);
    assert!(upload_entries(&server.store).is_empty());

    // The periodic task does the same.
    let url = client.create_upload(&server, &data).await;
    let expiry = spawn_upload_expiry(
        Arc::clone(&server.store),
        Duration::from_millis(20),
        Duration::ZERO,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.head(&url).await.status() != StatusCode::NOT_FOUND {
        assert!(Instant::now() < deadline, "expiry task never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    expiry.abort();
    server.stop().await;
}

/// Informative only: `cargo test -p fieldbook-server --test blobs --release
/// -- --ignored --nocapture upload_throughput` (size via
/// `FIELDBOOK_BLOB_BENCH_MIB`, default 256).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; prints numbers"]
async fn upload_throughput() {
    let mib: usize = std::env::var("FIELDBOOK_BLOB_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let chunk_size = 8 << 20;
    let data = test_bytes(mib << 20, 42);
    let sha = Sha256Hex::digest(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), u64::MAX).unwrap();
    let server = TusRouterServer::start_with(store).await;
    let client = Client::new(Uuid::new_v4());

    let started = Instant::now();
    let url = client.create_upload(&server, &data).await;
    let last = client.upload_rest(&url, &data, 0, chunk_size).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    let tus = started.elapsed();
    assert!(server.store.contains(&sha));

    // Same size, no per-chunk checksums (a different blob, so no dedupe).
    let mut other = data;
    other[0] ^= 0xff;
    let started = Instant::now();
    let url = client.create_upload(&server, &other).await;
    for (i, chunk) in other.chunks(chunk_size).enumerate() {
        let response = client
            .patch(&url, (i * chunk_size) as u64, chunk, None)
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let tus_unchecked = started.elapsed();
    assert!(server.store.contains(&Sha256Hex::digest(&other)));
    let data = other;

    let raw_path = dir.path().join("raw.bin");
    let started = Instant::now();
    let mut file = tokio::fs::File::create(&raw_path).await.unwrap();
    for chunk in data.chunks(chunk_size) {
        file.write_all(chunk).await.unwrap();
    }
    file.sync_all().await.unwrap();
    let raw = started.elapsed();

    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!(
        "blob upload {mib} MiB in {} MiB chunks: tus with chunk checksums {:.2?} ({:.0} MiB/s), \
         tus without {:.2?} ({:.0} MiB/s), raw write+fsync {:.2?} ({:.0} MiB/s); \
         tus/raw time ratio {:.1}x / {:.1}x",
        chunk_size >> 20,
        tus,
        rate(tus),
        tus_unchecked,
        rate(tus_unchecked),
        raw,
        rate(raw),
        tus.as_secs_f64() / raw.as_secs_f64(),
        tus_unchecked.as_secs_f64() / raw.as_secs_f64()
    );
    server.stop().await;
}
