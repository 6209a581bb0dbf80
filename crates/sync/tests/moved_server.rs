//! The server moves while a device is halfway through an upload: the
//! device (the real sync engine and its uploader) has sent part of a video
//! to a SQLite server, the operator stops that server and runs
//! `migrate-storage` into PostgreSQL (the command's own function, as the
//! CLI calls it), a server starts on the copy, and the technician signs in
//! to it. Uploads in progress are not moved when the blobs are (their bytes
//! stay in the old data dir), so the device's resume gets 404, it starts the
//! upload again from byte 0, and the video arrives whole. When the blobs
//! stay in the old data dir (no `--blob-store`), the upload is still there
//! and the device goes on from its offset. Either way nothing is lost or
//! applied twice, and the next pull starts from the device's cursor: a few
//! records, not the team's whole scope again.
//!
//! Needs PostgreSQL (a throwaway cluster of its own, whatever
//! FIELDBOOK_TEST_DATABASE says); skipped with a printed reason when it is
//! not installed, and with several test instances (the old server is one
//! SQLite process). The bucket case also skips when moto cannot be
//! installed.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{Device, TestServer, PASSWORD};
use fieldbook_domain::{Role, Sha256Hex};
use fieldbook_server::blobs::migrate::BlobTarget;
use fieldbook_server::blobs::S3Settings;
use fieldbook_server::storage::DatabaseUrl;
use fieldbook_server::{AppState, RunningServer, ServerConfig};
use fieldbook_store::BlobUploadState;
use fieldbook_sync::blobs::BlobUploader;
use fieldbook_testkit::{
    skip_unless_one_instance, PostgresUnavailable, S3Unavailable, ThrowawayPostgres, ThrowawayS3,
};
use uuid::Uuid;

const MIB: usize = 1 << 20;
/// Jobs in the technician's team: what a full resync would pull again.
const TEAM_JOBS: usize = 25;

/// Where the operator moves the blobs.
enum Blobs {
    /// `--blob-store DIR`: the data dir the new server serves with.
    AnotherDataDir,
    /// `--blob-store s3://…`.
    Bucket(S3Settings),
    /// No `--blob-store`: the new server serves with the old data dir.
    StayInOldDataDir,
}

fn cluster(test: &str) -> Option<ThrowawayPostgres> {
    if skip_unless_one_instance(test, "moves one SQLite server") {
        return None;
    }
    match ThrowawayPostgres::start() {
        Ok(cluster) => Some(cluster),
        Err(PostgresUnavailable::NotInstalled(why)) => {
            eprintln!("skipped {test}: {why}");
            None
        }
        Err(PostgresUnavailable::Failed(why)) => panic!("PostgreSQL did not start: {why}"),
    }
}

/// A video of `bytes` bytes the store accepts (an MP4 header, then noise).
fn write_video(path: &Path, seed: u64, bytes: usize) {
    let mut data = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2".to_vec();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while data.len() < bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.push(state as u8);
    }
    std::fs::write(path, data).expect("write the video");
}

/// What the moved server holds, read through its storage.
struct MovedServer {
    state: AppState,
    running: RunningServer,
    /// Kept alive with the server: its data dir, when it has a new one.
    _data_dir: Option<tempfile::TempDir>,
}

impl MovedServer {
    fn url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    fn blob_digest(&self, sha256: &Sha256Hex) -> Option<Sha256Hex> {
        let path = self.state.blobs.path_of(sha256)?;
        Some(Sha256Hex::digest(&std::fs::read(path).ok()?))
    }
}

/// The move: `old` is stopped, copied into a fresh database of `cluster`
/// (and its blobs to `blobs`), and a server started on the copy.
async fn move_server(
    old: &mut TestServer,
    cluster: &ThrowawayPostgres,
    blobs: &Blobs,
) -> MovedServer {
    old.stop().await;
    let name = format!("moved{}", Uuid::new_v4().simple());
    cluster.create_database(&name).expect("create the target");
    let url = cluster.url(&name);
    let new_dir = match blobs {
        Blobs::StayInOldDataDir => None,
        _ => Some(tempfile::tempdir().expect("new data dir")),
    };
    let target = match blobs {
        Blobs::AnotherDataDir => Some(BlobTarget::DataDir(new_dir.as_ref().unwrap().path().into())),
        Blobs::Bucket(settings) => Some(BlobTarget::Bucket(settings.clone())),
        Blobs::StayInOldDataDir => None,
    };
    let mut said = Vec::new();
    let summary = fieldbook_server::storage::migrate::migrate_storage(
        old.data_dir(),
        &url,
        target.as_ref(),
        &mut |line| said.push(line.to_owned()),
    )
    .await
    .unwrap_or_else(|e| panic!("migrate-storage failed: {e}\n{}", said.join("\n")));
    if let Some(moved) = &summary.blobs {
        assert_eq!(
            moved.unfinished_uploads, 1,
            "the upload in progress is counted, not moved"
        );
    }

    let data_dir = new_dir
        .as_ref()
        .map_or(old.data_dir().to_owned(), |d| d.path().to_owned());
    let mut config = ServerConfig::new(data_dir);
    config.password_hashing = old.config().password_hashing;
    config.database_url = Some(DatabaseUrl::Postgres(url));
    if let Blobs::Bucket(settings) = blobs {
        config.blob_store = Some(settings.clone());
    }
    let state = AppState::open(config).expect("open the server on PostgreSQL");
    let running = fieldbook_server::start(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start the moved server");
    MovedServer {
        state,
        running,
        _data_dir: new_dir,
    }
}

/// The whole story for one way of moving the blobs.
async fn a_device_carries_on_after_the_move(test: &str, blobs: impl FnOnce() -> Option<Blobs>) {
    let Some(cluster) = cluster(test) else {
        return;
    };
    let Some(blobs) = blobs() else {
        return;
    };
    // The old server: SQLite with blobs in its data dir, whatever the run.
    let mut old = TestServer::start_with(|config| {
        config.database_url = None;
        config.blob_store = None;
    })
    .await;
    let alex = old.add_user("alex", Role::Technician);
    let ops = old.ops();
    let team = ops.add_team("North Crew", &[alex]);
    let jobs: Vec<Uuid> = (0..TEAM_JOBS)
        .map(|n| {
            let job = ops.create_installation(&format!("Customer {n}"));
            ops.assign(job, team);
            job
        })
        .collect();

    let device = Device::signed_in_at(&old.base_url(), "alex").await;
    let first_sync = device.engine.sync_once().await.expect("first sync");
    assert!(
        first_sync.pulled_records >= 3 * TEAM_JOBS as u64,
        "{first_sync:?}"
    );
    device
        .with_store(|s| s.set_installation_flags(jobs[0], Some(true), None))
        .expect("flag the job");
    let before = device.engine.sync_once().await.expect("push the flag");
    assert_eq!(before.pushed, 1);

    // A video attached, part of it sent (the uploader stops between 1 MiB
    // chunks when asked), then the device goes quiet.
    let size = 5 * MIB + 321;
    let source = device.dir.path().join("wall.mp4");
    write_video(&source, 7, size);
    let sha256 = device
        .with_store(|s| s.attach_media(jobs[0], &source, "Wall before drilling"))
        .expect("attach the video")
        .file
        .sha256;
    let flag = Arc::new(AtomicBool::new(false));
    let uploader = BlobUploader::new(
        reqwest::Client::new(),
        &old.base_url(),
        device.saved_token().expect("a token"),
    )
    .chunk_size(MIB)
    .yield_to(Arc::clone(&flag));
    let raise = Arc::clone(&flag);
    let partial = uploader
        .upload_pending(&device.store, &move |p| {
            if p.bytes_done >= 2 * MIB as u64 {
                raise.store(true, Ordering::Release);
            }
        })
        .await
        .expect("the first part of the upload");
    assert!(partial.interrupted);
    let saved = device.with_store(|s| s.blob_upload(&sha256).expect("the blob"));
    assert!(saved.upload_url.is_some());
    assert_eq!(saved.upload_offset, 2 * MIB as u64);
    let scope = fieldbook_sync::pull::cursor_scope(alex);
    let cursor_before = device
        .with_store(|s| s.sync_cursor(&scope))
        .expect("read the cursor")
        .expect("a cursor after the first sync");
    assert!(cursor_before > 0);

    let moved = move_server(&mut old, &cluster, &blobs).await;
    // The technician is told the new address and signs in there (the same
    // user: the same device, its outbox and its cursor stay).
    device
        .engine
        .sign_in(&moved.url(), "alex", PASSWORD)
        .await
        .expect("sign in to the moved server");
    assert_eq!(device.engine.server_url().as_deref(), Some(&*moved.url()));
    let after = device
        .engine
        .sync_once()
        .await
        .expect("sync with the moved server");

    // The media.attach went once, the video whole.
    assert_eq!(after.pushed, 1, "{after:?}");
    assert_eq!(after.refused, 0, "{after:?}");
    assert_eq!(after.uploaded_blobs, 1, "{after:?}");
    let resent_from = match blobs {
        // The data dir's upload is still there: it goes on.
        Blobs::StayInOldDataDir => 2 * MIB as u64,
        // A 404 for the old upload: from byte 0.
        Blobs::AnotherDataDir | Blobs::Bucket(_) => 0,
    };
    assert_eq!(after.uploaded_bytes, size as u64 - resent_from, "{after:?}");
    assert_eq!(moved.blob_digest(&sha256), Some(sha256.clone()));
    let state = device.with_store(|s| s.blob_upload(&sha256).expect("the blob"));
    assert_eq!(state.state, BlobUploadState::Uploaded);
    assert_eq!(device.pending_mutations(), 0);
    assert!(device.needs_attention().is_empty());
    let on_server = moved
        .state
        .storage
        .read(|db| db.media_hashes_of(jobs[0]))
        .expect("read the media");
    assert_eq!(on_server, vec![sha256.clone()], "one media row, not two");
    let device_row = moved
        .state
        .storage
        .read(|db| db.device(device.device_id()))
        .expect("read the device")
        .expect("the device is known to the moved server");
    assert_eq!(
        device_row.last_seq, 2,
        "set_flags + media.attach, each once"
    );

    // Incremental: what the push changed, not the team's scope again.
    let cursor_after = device
        .with_store(|s| s.sync_cursor(&scope))
        .expect("read the cursor")
        .expect("a cursor");
    assert!(cursor_after > cursor_before);
    println!(
        "first sync: {} records; the sync after the move pulled {} records",
        first_sync.pulled_records, after.pulled_records
    );
    assert!(
        after.pulled_records <= 4,
        "the pull after the move took {} records (the first sync {}): a resync, not an increment",
        after.pulled_records,
        first_sync.pulled_records
    );
    for job in &jobs {
        assert!(device.has_installation(*job));
    }
    // And the next sync has nothing to do.
    let quiet = device.engine.sync_once().await.expect("sync again");
    assert_eq!(
        (quiet.pushed, quiet.pulled_records, quiet.uploaded_bytes),
        (0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_a_move_of_the_blobs_to_another_data_dir_restarts_from_zero() {
    let test = "an_upload_cut_by_a_move_of_the_blobs_to_another_data_dir_restarts_from_zero";
    a_device_carries_on_after_the_move(test, || Some(Blobs::AnotherDataDir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_a_move_of_the_blobs_to_a_bucket_restarts_from_zero() {
    let test = "an_upload_cut_by_a_move_of_the_blobs_to_a_bucket_restarts_from_zero";
    // Kept for the whole test: the moved server's blobs live in it.
    let s3 = match ThrowawayS3::start() {
        Ok(s3) => Some(s3),
        Err(S3Unavailable::NotInstallable(why)) => {
            eprintln!("skipped {test}: no S3-compatible test server: {why}");
            None
        }
        Err(S3Unavailable::Failed(why)) => panic!("throwaway S3 server: {why}"),
    };
    a_device_carries_on_after_the_move(test, || {
        s3.as_ref().map(|s3| Blobs::Bucket(s3.new_bucket()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_a_move_that_leaves_the_blobs_in_the_data_dir() {
    let test = "an_upload_resumes_after_a_move_that_leaves_the_blobs_in_the_data_dir";
    a_device_carries_on_after_the_move(test, || Some(Blobs::StayInOldDataDir)).await;
}
