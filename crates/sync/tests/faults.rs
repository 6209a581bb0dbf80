//! Network faults between a device and the real server, injected by a TCP
//! proxy on loopback: pushes and uploads cut mid-request, answers lost after
//! the server committed, the server restarted mid-upload, and dedupe of a
//! file the server already has. Nothing may be duplicated, and an upload
//! must go on from the server's offset, never from zero. Media encrypted at
//! rest upload their plaintext, and a damaged encrypted file is reported,
//! not sent.

#[path = "common/proxy.rs"]
mod proxy;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldbook_domain::Sha256Hex;
use fieldbook_store::{BlobUploadState, DatabaseKey, MediaKey, Store, StoreKeys};
use fieldbook_sync::blobs::{BlobUploadSummary, BlobUploader, RetryPolicy};
use fieldbook_sync::{SharedStore, SyncEngine, SyncOptions};
use fieldbook_testkit::{TestServer, PASSWORD};
use proxy::{FaultAction, FaultProxy, FaultRule};
use uuid::Uuid;

const MIB: usize = 1 << 20;
const PATCH: &str = "PATCH /api/v1/blobs/";
const PUSH: &str = "POST /api/v1/sync/push";

// ---- the server ------------------------------------------------------------

/// A team of `members` with one planned installation assigned to it.
fn team_with_job(server: &TestServer, members: &[Uuid]) -> Uuid {
    let ops = server.ops();
    let team = ops.add_team("North Crew", members);
    let installation = ops.create_installation("Olivia Smith");
    ops.assign(installation, team);
    installation
}

// ---- a device ----------------------------------------------------------------

struct Device {
    store: SharedStore,
    engine: SyncEngine,
    dir: tempfile::TempDir,
}

impl Device {
    /// Signs in through `url` and pulls the team's jobs.
    async fn signed_in(url: &str, username: &str) -> Device {
        let dir = tempfile::tempdir().expect("device temp dir");
        let (store, engine) = open_device(dir.path());
        engine
            .sign_in(url, username, PASSWORD)
            .await
            .expect("sign in");
        engine.sync_once().await.expect("first sync");
        Device { store, engine, dir }
    }

    /// The app restarts: engine and store are closed and opened again.
    fn reopen(self) -> Device {
        let Device { store, engine, dir } = self;
        // Both hold the store (and its directory lock): close it first.
        drop(engine);
        drop(store);
        let (store, engine) = open_device(dir.path());
        Device { store, engine, dir }
    }

    fn device_id(&self) -> Uuid {
        self.store.lock().unwrap().device_id()
    }

    /// Attaches a video of `bytes` bytes made from `seed`; returns its hash.
    fn attach_video(&self, installation: Uuid, seed: u64, bytes: usize) -> Sha256Hex {
        let source = self.dir.path().join(format!("video-{seed}.mp4"));
        write_video(&source, seed, bytes);
        let media = self
            .store
            .lock()
            .unwrap()
            .attach_media(installation, &source, "Wall before drilling")
            .expect("attach video");
        media.file.sha256
    }

    fn blob_state(&self, sha256: &Sha256Hex) -> fieldbook_store::BlobUpload {
        self.store
            .lock()
            .unwrap()
            .blob_upload(sha256)
            .expect("blob")
    }

    /// An uploader through `url` with small chunks and quick retries.
    async fn uploader(&self, url: &str, username: &str, chunk: usize) -> BlobUploader {
        BlobUploader::new(reqwest::Client::new(), url, login(url, username).await)
            .chunk_size(chunk)
            .retry_policy(RetryPolicy {
                attempts: 3,
                first_delay: Duration::from_millis(50),
                max_delay: Duration::from_millis(200),
            })
    }

    async fn upload(&self, uploader: &BlobUploader) -> BlobUploadSummary {
        uploader
            .upload_pending(&self.store, &|_| {})
            .await
            .expect("upload")
    }

    /// [`Device::signed_in`] with database and media encrypted at rest, as
    /// the app opens its data folder.
    async fn signed_in_encrypted(url: &str, username: &str) -> Device {
        let dir = tempfile::tempdir().expect("device temp dir");
        let keys = StoreKeys {
            database: DatabaseKey::new([21; 32]),
            media: Some(MediaKey::new([22; 32])),
        };
        let store = Store::open_with_keys(dir.path().join("store"), &keys).expect("open store");
        let (store, engine) = with_engine(store, dir.path());
        engine
            .sign_in(url, username, PASSWORD)
            .await
            .expect("sign in");
        engine.sync_once().await.expect("first sync");
        Device { store, engine, dir }
    }
}

fn open_device(dir: &Path) -> (SharedStore, SyncEngine) {
    with_engine(Store::open(dir.join("store")).expect("open store"), dir)
}

fn with_engine(store: Store, dir: &Path) -> (SharedStore, SyncEngine) {
    let store = Arc::new(Mutex::new(store));
    let mut options = SyncOptions::new(dir.join("sync"));
    options.http_timeout = Duration::from_secs(20);
    let engine = SyncEngine::new(Arc::clone(&store), options).expect("engine");
    (store, engine)
}

async fn login(url: &str, username: &str) -> String {
    let response: fieldbook_protocol::LoginResponse = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .error_for_status()
        .expect("login accepted")
        .json()
        .await
        .expect("login body");
    response.token
}

/// An MP4 by its header (videos are never decoded) of `bytes` bytes whose
/// content depends on `seed`.
fn write_video(path: &Path, seed: u64, bytes: usize) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create video"));
    let header = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2";
    file.write_all(header).expect("write");
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; 64 * 1024];
    let mut written = header.len();
    while written < bytes {
        for b in block.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        let n = block.len().min(bytes - written);
        file.write_all(&block[..n]).expect("write");
        written += n;
    }
    file.flush().expect("flush");
}

struct World {
    server: TestServer,
    proxy: FaultProxy,
    installation: Uuid,
}

/// Server, proxy, and a team with alex and sam and one job.
async fn world() -> World {
    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let sam = server.add_technician("sam");
    let installation = team_with_job(&server, &[alex, sam]);
    let proxy = FaultProxy::start(server.addr()).await;
    World {
        server,
        proxy,
        installation,
    }
}

// ---- push ------------------------------------------------------------------

/// Three offline changes; the push's answer is lost after the server applied
/// them; the retry must be answered from the server's record, not applied
/// again, and the outbox must end empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_answer_is_lost_is_applied_exactly_once() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    {
        let mut store = device.store.lock().unwrap();
        store
            .set_installation_flags(w.installation, Some(true), None)
            .expect("confirm");
        store
            .set_installation_flags(w.installation, None, Some(true))
            .expect("demo");
        store
            .start_installation(
                w.installation,
                &fieldbook_domain::lifecycle::StartRequest {
                    override_reason: Some("Customer asked to start early".into()),
                },
            )
            .expect("start");
        assert_eq!(store.outbox_counts().unwrap().pending, 3);
    }

    // The client sends a request once more when its connection closed
    // before any answer: both answers are lost, so the sync fails offline.
    for _ in 0..2 {
        w.proxy
            .add_rule(FaultRule::new(PUSH, 1, FaultAction::DropResponse));
    }
    let lost = device.engine.sync_once().await;
    assert_eq!(w.proxy.faults_fired(), 2);
    assert_eq!(
        lost.as_ref().err().map(|e| e.code()),
        Some("offline"),
        "a lost answer is a network error: {lost:?}"
    );
    // The server applied all three although the device does not know yet.
    assert_eq!(w.server.mutations_of_device(device.device_id()).len(), 3);
    assert_eq!(
        device
            .store
            .lock()
            .unwrap()
            .outbox_counts()
            .unwrap()
            .pending,
        3
    );

    device.engine.sync_once().await.expect("retry");
    let recorded = w.server.mutations_of_device(device.device_id());
    assert_eq!(
        recorded.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "each mutation is on the server exactly once, in order"
    );
    let counts = device.store.lock().unwrap().outbox_counts().unwrap();
    assert_eq!((counts.pending, counts.needs_attention), (0, 0));
    let on_server = w
        .server
        .state
        .storage
        .read(|db| db.installation(w.installation))
        .expect("read")
        .expect("installation")
        .record;
    assert!(on_server.customer_confirmed && on_server.demo_completed);
    assert_eq!(
        on_server.status,
        fieldbook_domain::InstallationStatus::InProgress
    );
}

/// A push cut after its headers never reaches the handler: nothing applied,
/// and the retry applies everything once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cut_mid_request_is_applied_once_on_retry() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    device
        .store
        .lock()
        .unwrap()
        .set_installation_flags(w.installation, Some(true), Some(true))
        .expect("flags");

    // Cut twice: the client's one immediate resend is cut too.
    for _ in 0..2 {
        w.proxy
            .add_rule(FaultRule::new(PUSH, 1, FaultAction::CutRequestAfter(200)));
    }
    let cut = device.engine.sync_once().await;
    assert_eq!(cut.err().map(|e| e.code()), Some("offline"));
    assert!(w.server.mutations_of_device(device.device_id()).is_empty());

    device.engine.sync_once().await.expect("retry");
    assert_eq!(w.server.mutations_of_device(device.device_id()).len(), 1);
    assert_eq!(
        device
            .store
            .lock()
            .unwrap()
            .outbox_counts()
            .unwrap()
            .pending,
        0
    );
}

// ---- uploads -----------------------------------------------------------------

/// The server has the blob and it hashes to its name.
fn assert_intact(server: &TestServer, sha256: &Sha256Hex) {
    assert_eq!(
        server.blob_digest(sha256).as_ref(),
        Some(sha256),
        "the server's blob matches its SHA-256"
    );
}

/// A chunk cut a third of the way in: the server discards it, and the upload
/// goes on from the two chunks the server has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_mid_chunk_resumes_from_the_servers_offset() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 6 * MIB + 123;
    let sha256 = device.attach_video(w.installation, 1, size);
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;

    w.proxy.add_rule(FaultRule::new(
        PATCH,
        3,
        FaultAction::CutRequestAfter(MIB / 3),
    ));
    let before = w.proxy.bytes_up();
    let summary = device.upload(&uploader).await;
    let sent = w.proxy.bytes_up() - before;

    assert_eq!(w.proxy.faults_fired(), 1);
    assert_eq!(summary.uploaded_blobs, 1);
    assert_eq!(summary.uploaded_bytes, size as u64);
    assert_intact(&w.server, &sha256);
    assert_eq!(device.blob_state(&sha256).state, BlobUploadState::Uploaded);
    // Restarting from 0 would send 2 MiB more. What may be extra: the cut
    // third of a chunk, and the requests' headers.
    let slack = (MIB / 3 + 64 * 1024) as u64;
    assert!(
        sent <= size as u64 + slack,
        "sent {sent} bytes for a {size}-byte file"
    );
}

/// The server stored the third chunk but its answer was lost: the device
/// must learn the offset from the server (HEAD), not resend the chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_chunk_answer_is_lost_continues_after_that_chunk() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 5 * MIB + 7;
    let sha256 = device.attach_video(w.installation, 2, size);
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;

    w.proxy
        .add_rule(FaultRule::new(PATCH, 3, FaultAction::DropResponse));
    let before = w.proxy.bytes_up();
    let summary = device.upload(&uploader).await;
    let sent = w.proxy.bytes_up() - before;

    assert_eq!(w.proxy.faults_fired(), 1);
    assert_eq!(summary.uploaded_blobs, 1);
    assert_intact(&w.server, &sha256);
    // Every byte went over exactly once; the rest is headers.
    assert!(
        sent <= size as u64 + 32 * 1024,
        "sent {sent} bytes for a {size}-byte file"
    );
    // Confirmed chunks are what the device counts as sent.
    assert_eq!(summary.uploaded_bytes, (size - MIB) as u64);
}

/// The network goes away mid-upload; the app is restarted; the upload goes
/// on from the persisted URL and the server's offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_the_app_restarts() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 4 * MIB + 99;
    let sha256 = device.attach_video(w.installation, 3, size);
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;

    w.proxy
        .add_rule(FaultRule::new(PATCH, 3, FaultAction::CutRequestAfter(MIB / 2)).then_go_down());
    let failed = uploader.upload_pending(&device.store, &|_| {}).await;
    assert_eq!(failed.err().map(|e| e.code()), Some("offline"));
    let persisted = device.blob_state(&sha256);
    assert!(
        persisted.upload_url.is_some(),
        "the upload URL was persisted"
    );
    assert_eq!(persisted.upload_offset, 2 * MIB as u64);

    let device = device.reopen();
    w.proxy.set_up();
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;
    let before = w.proxy.bytes_up();
    let summary = device.upload(&uploader).await;
    let sent = w.proxy.bytes_up() - before;

    assert_eq!(summary.uploaded_blobs, 1);
    assert_eq!(summary.uploaded_bytes, (size - 2 * MIB) as u64);
    assert!(
        sent <= (size - 2 * MIB + 32 * 1024) as u64,
        "sent {sent} bytes after the restart"
    );
    assert_intact(&w.server, &sha256);
    assert_eq!(device.blob_state(&sha256).state, BlobUploadState::Uploaded);
}

/// The server dies mid-upload and comes back (on another port, behind the
/// same proxy address): the upload resumes from what it had on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_the_server_restarts() {
    let mut w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 4 * MIB + 1;
    let sha256 = device.attach_video(w.installation, 4, size);
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;

    w.proxy
        .add_rule(FaultRule::new(PATCH, 2, FaultAction::CutRequestAfter(MIB / 2)).then_go_down());
    let failed = uploader.upload_pending(&device.store, &|_| {}).await;
    assert_eq!(failed.err().map(|e| e.code()), Some("offline"));

    w.server.restart().await;
    w.proxy.set_upstream(w.server.addr());
    w.proxy.set_up();
    let before = w.proxy.bytes_up();
    let summary = device.upload(&uploader).await;
    let sent = w.proxy.bytes_up() - before;

    assert_eq!(summary.uploaded_blobs, 1);
    assert_eq!(summary.uploaded_bytes, (size - MIB) as u64);
    assert!(
        sent <= (size - MIB + 32 * 1024) as u64,
        "sent {sent} bytes after the restart"
    );
    assert_intact(&w.server, &sha256);
}

/// A team-mate's device with the same file: the server already has it, so
/// it is done without a single PATCH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_server_has_is_done_without_sending_it() {
    let w = world().await;
    let alex = Device::signed_in(&w.proxy.url(), "alex").await;
    let sam = Device::signed_in(&w.proxy.url(), "sam").await;
    let size = 3 * MIB;
    let sha256 = alex.attach_video(w.installation, 5, size);
    assert_eq!(sam.attach_video(w.installation, 5, size), sha256);

    let first = alex
        .upload(&alex.uploader(&w.proxy.url(), "alex", MIB).await)
        .await;
    assert_eq!((first.uploaded_blobs, first.deduplicated_blobs), (1, 0));

    let uploader = sam.uploader(&w.proxy.url(), "sam", MIB).await;
    let before = w.proxy.bytes_up();
    let second = sam.upload(&uploader).await;
    let sent = w.proxy.bytes_up() - before;
    assert_eq!(
        (
            second.uploaded_blobs,
            second.deduplicated_blobs,
            second.uploaded_bytes
        ),
        (1, 1, 0)
    );
    assert!(
        sent < 4096,
        "only the creation request went out ({sent} bytes)"
    );
    assert_eq!(sam.blob_state(&sha256).state, BlobUploadState::Uploaded);
    assert_intact(&w.server, &sha256);
}

/// Overwrites bytes of a blob's stored copy at `offset`, as bit rot or a
/// failing disk would.
fn damage_stored_copy(path: &std::path::Path, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the stored copy");
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(bytes).unwrap();
}

/// A local file damaged on disk is reported, not uploaded as if it were the
/// photo, and not re-sent on every sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_local_file_is_reported_and_not_resent() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 2 * MIB + 5;
    let sha256 = device.attach_video(w.installation, 6, size);
    let local = device.blob_state(&sha256).local_path;
    damage_stored_copy(&local, MIB as u64 + 10, b"bit rot");
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;
    let summary = device.upload(&uploader).await;
    assert_eq!(summary.uploaded_blobs, 0);
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.failed[0].code, "local_file_corrupt");
    assert!(w.server.blob_digest(&sha256).is_none());
    let state = device.blob_state(&sha256);
    assert_eq!(
        state.state,
        BlobUploadState::Pending,
        "kept for the person to see"
    );
    assert_eq!(state.upload_url, None, "the abandoned upload is forgotten");

    let before = w.proxy.bytes_up();
    let again = device.upload(&uploader).await;
    assert_eq!(again.failed.len(), 1);
    assert_eq!(w.proxy.bytes_up(), before, "nothing re-sent");
}

/// "Corrupt local file, do not resend" survives an app restart: the store
/// remembers the file as it was found, so a new engine and uploader do not
/// send it again; a changed file is tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_local_file_is_not_resent_after_a_restart() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 2 * MIB + 5;
    let sha256 = device.attach_video(w.installation, 9, size);
    let local = device.blob_state(&sha256).local_path;
    damage_stored_copy(&local, MIB as u64 + 10, b"bit rot");
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;
    let summary = device.upload(&uploader).await;
    assert_eq!(summary.failed[0].code, "local_file_corrupt");
    drop(uploader);

    let device = device.reopen();
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;
    let before = w.proxy.bytes_up();
    let again = device.upload(&uploader).await;
    assert_eq!(again.failed.len(), 1, "{again:?}");
    assert_eq!(again.failed[0].code, "local_file_corrupt");
    assert_eq!(
        w.proxy.bytes_up(),
        before,
        "nothing re-sent after the restart"
    );
    assert!(w.server.blob_digest(&sha256).is_none());
}

/// Through the engine: a sync whose upload loses a chunk's answer still ends
/// with the file on the server, and the status has nothing pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_a_lost_chunk_answer_ends_with_the_file_uploaded() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 9 * MIB;
    let sha256 = device.attach_video(w.installation, 7, size);
    w.proxy
        .add_rule(FaultRule::new(PATCH, 1, FaultAction::DropResponse));
    let summary = device.engine.sync_once().await.expect("sync");
    assert_eq!(w.proxy.faults_fired(), 1);
    assert_eq!(summary.pushed, 1, "the media.attach");
    assert_eq!(summary.uploaded_blobs, 1);
    assert_intact(&w.server, &sha256);
    let status = device.engine.status();
    assert_eq!((status.pending_blobs, status.pending_blob_bytes), (0, 0));
}

/// The file is damaged after part of it went up: the resumed upload cannot
/// check the whole file itself, so the server's 422 tells; the device
/// reports it, forgets the removed upload and does not loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_damaged_mid_upload_is_refused_by_the_server_and_reported() {
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 3 * MIB + 17;
    let sha256 = device.attach_video(w.installation, 8, size);
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;
    w.proxy
        .add_rule(FaultRule::new(PATCH, 2, FaultAction::CutRequestAfter(MIB / 4)).then_go_down());
    let failed = uploader.upload_pending(&device.store, &|_| {}).await;
    assert_eq!(failed.err().map(|e| e.code()), Some("offline"));
    assert_eq!(device.blob_state(&sha256).upload_offset, MIB as u64);

    let local = device.blob_state(&sha256).local_path;
    damage_stored_copy(&local, 2 * MIB as u64 + 3, b"damage");
    w.proxy.set_up();
    let summary = device.upload(&uploader).await;
    assert_eq!(summary.uploaded_blobs, 0);
    assert_eq!(
        summary
            .failed
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>(),
        vec!["local_file_corrupt"]
    );
    assert!(w.server.blob_digest(&sha256).is_none());
    let state = device.blob_state(&sha256);
    assert_eq!((state.upload_url, state.upload_offset), (None, 0));
    assert_eq!(state.state, BlobUploadState::Pending);

    let before = w.proxy.bytes_up();
    assert_eq!(device.upload(&uploader).await.failed.len(), 1);
    assert_eq!(w.proxy.bytes_up(), before, "nothing re-sent");
}

/// The engine asks the uploader to make way (local changes to push): it
/// stops at the next chunk boundary with its progress saved, and the next
/// run goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_asked_to_yield_stops_between_chunks_and_resumes_later() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let w = world().await;
    let device = Device::signed_in(&w.proxy.url(), "alex").await;
    let size = 4 * MIB + 3;
    let sha256 = device.attach_video(w.installation, 9, size);
    let flag = Arc::new(AtomicBool::new(false));
    let uploader = device
        .uploader(&w.proxy.url(), "alex", MIB)
        .await
        .yield_to(Arc::clone(&flag));

    let raise = Arc::clone(&flag);
    let first = uploader
        .upload_pending(&device.store, &move |p| {
            if p.bytes_done >= MIB as u64 {
                raise.store(true, Ordering::Release);
            }
        })
        .await
        .expect("first run");
    assert!(first.interrupted);
    assert_eq!(first.uploaded_blobs, 0);
    let saved = device.blob_state(&sha256);
    assert_eq!(saved.state, BlobUploadState::Pending);
    assert!(saved.upload_offset >= MIB as u64 && saved.upload_offset < size as u64);
    assert_eq!(first.uploaded_bytes, saved.upload_offset);

    flag.store(false, Ordering::Release);
    let second = device.upload(&uploader).await;
    assert!(!second.interrupted);
    assert_eq!(second.uploaded_blobs, 1);
    assert_eq!(
        first.uploaded_bytes + second.uploaded_bytes,
        size as u64,
        "no byte sent twice"
    );
    assert_intact(&w.server, &sha256);
}

// ---- media encrypted at rest -------------------------------------------------

/// An encrypted file uploads its plaintext (the server checks the SHA-256
/// it is named by), in plaintext offsets: a chunk cut midway resumes from
/// the server's offset without resending what it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_file_uploads_its_plaintext_and_resumes_from_the_servers_offset() {
    let w = world().await;
    let device = Device::signed_in_encrypted(&w.proxy.url(), "alex").await;
    let size = 5 * MIB + 321;
    let sha256 = device.attach_video(w.installation, 11, size);
    let local = device.blob_state(&sha256).local_path;
    assert!(
        std::fs::read(&local)
            .unwrap()
            .starts_with(&fieldbook_media::sealed::SEALED_MAGIC),
        "stored encrypted"
    );
    w.proxy.add_rule(FaultRule::new(
        PATCH,
        3,
        FaultAction::CutRequestAfter(MIB / 3),
    ));
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;
    let before = w.proxy.bytes_up();
    let summary = device.upload(&uploader).await;
    let sent = w.proxy.bytes_up() - before;
    assert_eq!(w.proxy.faults_fired(), 1);
    assert_eq!(summary.uploaded_blobs, 1, "{summary:?}");
    assert_eq!(summary.uploaded_bytes, size as u64);
    assert_intact(&w.server, &sha256);
    let slack = (MIB / 3 + 64 * 1024) as u64;
    assert!(
        sent <= size as u64 + slack,
        "sent {sent} bytes for a {size}-byte file"
    );
}

/// An encrypted file damaged on disk: the chunk with the damage does not
/// decrypt, so it is never sent; the file is reported corrupt and not
/// tried again while it stays as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_encrypted_file_is_reported_and_its_damaged_chunk_never_sent() {
    let w = world().await;
    let device = Device::signed_in_encrypted(&w.proxy.url(), "alex").await;
    let size = 3 * MIB + 5;
    let sha256 = device.attach_video(w.installation, 12, size);
    let local = device.blob_state(&sha256).local_path;
    // In the second MiB of the plaintext.
    damage_stored_copy(&local, MIB as u64 + 100_000, b"bit rot");
    let uploader = device.uploader(&w.proxy.url(), "alex", MIB).await;
    let before = w.proxy.bytes_up();
    let summary = device.upload(&uploader).await;
    let sent = w.proxy.bytes_up() - before;
    assert_eq!(summary.uploaded_blobs, 0);
    assert_eq!(
        summary
            .failed
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>(),
        vec!["local_file_corrupt"]
    );
    assert!(w.server.blob_digest(&sha256).is_none());
    assert!(
        sent < (2 * MIB) as u64,
        "at most the intact first chunk went out ({sent} bytes)"
    );
    assert_eq!(device.blob_state(&sha256).state, BlobUploadState::Pending);

    let before = w.proxy.bytes_up();
    assert_eq!(device.upload(&uploader).await.failed.len(), 1);
    assert_eq!(w.proxy.bytes_up(), before, "nothing re-sent");
}
