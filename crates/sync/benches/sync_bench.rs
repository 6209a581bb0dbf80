//! End-to-end sync benchmark: the real engine against the real server on
//! loopback, each number next to a baseline measured in the same run.
//!
//! 1. First sync of 10,000 installations (demo data, one team) through the
//!    engine vs a raw rusqlite insert of the same rows into the same tables
//!    (one transaction, no triggers, no sync bookkeeping). Goal: <= 3x.
//! 2. Push of 1,000 mutations (flag changes on 1,000 jobs): mutations/s.
//! 3. A 1 GiB upload through `BlobUploader` vs `curl -T` (one tus PATCH of a
//!    same-sized file to the same server). Goal: >= 80% of curl's
//!    throughput (best of the rounds vs best, median vs median), and the
//!    uploading process's peak RSS growth <= 64 MiB. The upload runs in a
//!    child process (this binary again) so the server's memory, in this
//!    process, does not count. Each round also uploads a same-sized file
//!    from a device whose media are encrypted at rest (read decrypted on
//!    the fly); goal >= 70% of curl's throughput.
//!
//! 4. First sync with encryption off vs on (SQLCipher, as the app opens its
//!    store), interleaved round by round: `FIELDBOOK_BENCH_ENCRYPTION_ROUNDS`
//!    (5; 0 skips it).
//!
//! Run: `cargo bench -p fieldbook-sync --bench sync_bench`
//! Sizes: `FIELDBOOK_BENCH_INSTALLATIONS` (10000), `FIELDBOOK_BENCH_SYNC_ROUNDS`
//! (5 first syncs, each with its own raw-insert baseline; best and median
//! reported), `FIELDBOOK_BENCH_UPLOAD_MIB` (1024; 0 skips the upload),
//! `FIELDBOOK_BENCH_UPLOAD_ROUNDS` (5; best and median reported),
//! `FIELDBOOK_BENCH_CHUNK_MIB` (the uploader's default chunk size).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::NaiveDate;
use fieldbook_demo::{generate, DemoConfig};
use fieldbook_domain::Sha256Hex;
use fieldbook_server::{seed, AppState, PasswordHashing, ServerConfig};
use fieldbook_store::Store;
use fieldbook_sync::blobs::BlobUploader;
use fieldbook_sync::{SharedStore, SyncEngine, SyncOptions, SyncPhase};
use sha2::Digest as _;

const UPLOAD_CHILD: &str = "--upload-child";
/// Tables a first sync fills with the server's records; the baseline
/// inserts exactly their rows.
const RECORD_TABLES: &[&str] = &[
    "users",
    "teams",
    "team_members",
    "leads",
    "surveys",
    "installations",
    "installation_assignments",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == UPLOAD_CHILD) {
        upload_child(&args[at + 1..]);
        return;
    }
    if std::env::var_os("FIELDBOOK_BENCH_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env(
                "FIELDBOOK_BENCH_TRACE",
            ))
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let installations = env_usize("FIELDBOOK_BENCH_INSTALLATIONS", 10_000);
    let upload_mib = env_usize("FIELDBOOK_BENCH_UPLOAD_MIB", 1024);
    let rounds = env_usize("FIELDBOOK_BENCH_UPLOAD_ROUNDS", 5).max(1);

    // ---- server, seeded with the demo data set ----
    let server_dir = tempfile::tempdir().expect("server dir");
    let mut config = ServerConfig::new(server_dir.path().to_owned());
    // The benchmark measures sync, not password hashing.
    config.password_hashing = PasswordHashing::insecure_fast_for_tests();
    let hashing = config.password_hashing;
    let state = AppState::open(config).expect("open server");
    let demo = generate(&DemoConfig::new(
        installations,
        1,
        NaiveDate::from_ymd_opt(2026, 11, 27).expect("date"),
    ));
    seed::import_demo(&state.storage, hashing, &demo).expect("seed demo");
    let server = fieldbook_server::start(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start server");
    let url = format!("http://{}", server.addr);
    let tech = demo.technicians().next().expect("a technician");
    println!(
        "server: {} installations seeded (1 team); device signs in as {}",
        demo.installations.len(),
        tech.user.username
    );

    // ---- 1. first sync vs raw insert ----
    // Each round: a fresh device's first sync, then the raw insert of the
    // rows it stored (same run, same machine load). The last round's device
    // goes on to the push and upload parts.
    let sync_rounds = env_usize("FIELDBOOK_BENCH_SYNC_ROUNDS", 5).max(1);
    let mut syncs = Vec::new();
    let mut raws = Vec::new();
    let mut last_device = None;
    for round in 0..sync_rounds {
        let device_dir = tempfile::tempdir().expect("device dir");
        let (store, engine) = open_device(device_dir.path());
        engine
            .sign_in(&url, &tech.user.username, &tech.password)
            .await
            .expect("sign in");
        let t = Instant::now();
        let first = engine.sync_once().await.expect("first sync");
        let first_sync = t.elapsed();
        let database = store.lock().expect("store").database_path();
        let synced_installations = count_rows(&database, "installations");
        let baseline_dir = tempfile::tempdir().expect("baseline dir");
        let (rows, raw_insert) = raw_insert_baseline(&database, baseline_dir.path());
        println!(
            "first sync round {}: {synced_installations} installations ({} records pulled) in {first_sync:.2?}; \
             baseline raw insert of the same {rows} rows in one transaction: {raw_insert:.2?}; \
             ratio {:.2}x",
            round + 1,
            first.pulled_records,
            first_sync.as_secs_f64() / raw_insert.as_secs_f64()
        );
        syncs.push(first_sync);
        raws.push(raw_insert);
        last_device = Some((device_dir, store, engine));
    }
    let (best_sync, median_sync) = best_and_median(&mut syncs);
    let (best_raw, median_raw) = best_and_median(&mut raws);
    println!(
        "first sync ({sync_rounds} rounds): best {best_sync:.2?}, median {median_sync:.2?}; \
         raw insert best {best_raw:.2?}, median {median_raw:.2?}; \
         ratio best/best {:.2}x, median/median {:.2}x (goal <= 2x, hard floor <= 3x)",
        best_sync.as_secs_f64() / best_raw.as_secs_f64(),
        median_sync.as_secs_f64() / median_raw.as_secs_f64()
    );
    let split_rounds = env_usize("FIELDBOOK_BENCH_SPLIT_ROUNDS", 3);
    if split_rounds > 0 {
        first_sync_split(&state, &url, tech, split_rounds).await;
    }
    let encryption_rounds = env_usize("FIELDBOOK_BENCH_ENCRYPTION_ROUNDS", 5);
    if encryption_rounds > 0 {
        first_sync_encryption_on_vs_off(&url, tech, encryption_rounds).await;
    }
    let (device_dir, store, engine) = last_device.expect("a round ran");
    let store_dir = device_dir.path().join("store");

    // ---- 2. push of 1,000 mutations ----
    let made = {
        let mut store = store.lock().expect("store");
        let mut made = 0;
        for installation in &demo.installations {
            if made == 1000 {
                break;
            }
            let flag = Some(!installation.customer_confirmed);
            // Read-only jobs (report submitted, closed) refuse: skip them.
            if store
                .set_installation_flags(installation.id, flag, None)
                .is_ok()
            {
                made += 1;
            }
        }
        made
    };
    let mut phases = engine.subscribe();
    let watch_phases = tokio::spawn(async move {
        // The moment pushing ends (the cycle moves on to pulling).
        let mut pushing_since = None;
        while phases.changed().await.is_ok() {
            let phase = phases.borrow_and_update().phase;
            match (phase, pushing_since) {
                (SyncPhase::Pushing, None) => pushing_since = Some(Instant::now()),
                (SyncPhase::Pushing, Some(_)) => {}
                (_, Some(since)) => return Some(since.elapsed()),
                (_, None) => {}
            }
        }
        None
    });
    let t = Instant::now();
    let cycle = engine.sync_once().await.expect("push sync");
    let whole_cycle = t.elapsed();
    let push_time = watch_phases.await.expect("phase watcher");
    match push_time {
        Some(push) => println!(
            "push: {} of {made} mutations applied ({} refused) in {push:.2?} = {:.0} mutations/s \
             (the whole cycle incl. pulling them back: {whole_cycle:.2?})",
            cycle.pushed,
            cycle.refused,
            cycle.pushed as f64 / push.as_secs_f64()
        ),
        None => println!(
            "push: {} of {made} mutations in a cycle of {whole_cycle:.2?} = {:.0} mutations/s",
            cycle.pushed,
            cycle.pushed as f64 / whole_cycle.as_secs_f64()
        ),
    }

    if upload_mib == 0 {
        // FIELDBOOK_BENCH_UPLOAD_MIB=0: sync parts only.
        server.shutdown().await.expect("shutdown");
        return;
    }

    // ---- 3. 1 GiB upload vs curl, media plain and encrypted at rest ----
    let token = login(&url, &tech.user.username, &tech.password).await;
    // A second device whose store is opened as the app opens it: database
    // and media encrypted (its first sync only gives it the jobs to attach to).
    let sealed_dir = tempfile::tempdir().expect("encrypted device dir");
    let sealed_store_dir = sealed_dir.path().join("store");
    let sealed_store: SharedStore = Arc::new(Mutex::new(
        Store::open_with_keys(&sealed_store_dir, &encrypted_keys()).expect("open encrypted store"),
    ));
    {
        let engine = SyncEngine::new(
            Arc::clone(&sealed_store),
            SyncOptions::new(sealed_dir.path().join("sync")),
        )
        .expect("engine");
        engine
            .sign_in(&url, &tech.user.username, &tech.password)
            .await
            .expect("sign in");
        engine.sync_once().await.expect("first sync");
    }
    let bytes = upload_mib << 20;
    let mut curl_times: Vec<Duration> = Vec::new();
    let mut ours: Vec<ChildResult> = Vec::new();
    let mut sealed: Vec<ChildResult> = Vec::new();
    for round in 0..rounds {
        let round = round as u64;
        // curl: one PATCH of a whole file of the same size.
        let curl_file = device_dir.path().join(format!("curl-{round}.mp4"));
        let curl_sha = write_video(&curl_file, 1000 + round, bytes);
        let curl_time = curl_upload(&url, &token, &curl_file, &curl_sha, bytes as u64).await;
        assert!(
            state.blobs.contains(&curl_sha),
            "curl's upload reached the server"
        );
        curl_times.push(curl_time);
        std::fs::remove_file(&curl_file).expect("remove the curl file");
        remove_server_blob(&state, &curl_sha);

        // Ours: a same-sized file queued in the store, uploaded by a child
        // process that opens the store (the parent lets go of it first);
        // then the same from the encrypted device.
        let upload = Upload {
            state: &state,
            url: &url,
            token: &token,
            installation: demo.installations[0].id,
            bytes,
        };
        let child = upload.run(&store, &store_dir, 2000 + round, false);
        let sealed_child = upload.run(&sealed_store, &sealed_store_dir, 3000 + round, true);
        println!(
            "upload round {}: curl -T {:.2?} ({:.0} MiB/s); BlobUploader {:.2?} ({:.0} MiB/s) = {:.0}% of curl, peak RSS growth {:.1} MiB; \
             media encrypted at rest {:.2?} ({:.0} MiB/s) = {:.0}% of curl, peak RSS growth {:.1} MiB",
            round + 1,
            curl_time,
            mib_per_sec(bytes, curl_time),
            child.elapsed,
            mib_per_sec(bytes, child.elapsed),
            100.0 * curl_time.as_secs_f64() / child.elapsed.as_secs_f64(),
            child.rss_growth_kib as f64 / 1024.0,
            sealed_child.elapsed,
            mib_per_sec(bytes, sealed_child.elapsed),
            100.0 * curl_time.as_secs_f64() / sealed_child.elapsed.as_secs_f64(),
            sealed_child.rss_growth_kib as f64 / 1024.0
        );
        ours.push(child);
        sealed.push(sealed_child);
    }
    curl_times.sort();
    let (best_curl, median_curl) = (curl_times[0], median(&curl_times));
    for (what, results, goal) in [
        ("BlobUploader", &ours, 80),
        ("BlobUploader, media encrypted at rest", &sealed, 70),
    ] {
        let mut times: Vec<Duration> = results.iter().map(|c| c.elapsed).collect();
        let (best, median) = best_and_median(&mut times);
        let worst_rss = results.iter().map(|c| c.rss_growth_kib).max().unwrap_or(0);
        println!(
            "upload of {upload_mib} MiB, {rounds} rounds: {what} best {:.0} MiB/s vs curl -T best {:.0} MiB/s = {:.0}% of curl; \
             median {:.0} vs {:.0} MiB/s = {:.0}% of curl (goal >= {goal}%); \
             peak RSS growth of the uploading process {:.1} MiB (worst round; goal <= 64 MiB)",
            mib_per_sec(bytes, best),
            mib_per_sec(bytes, best_curl),
            100.0 * best_curl.as_secs_f64() / best.as_secs_f64(),
            mib_per_sec(bytes, median),
            mib_per_sec(bytes, median_curl),
            100.0 * median_curl.as_secs_f64() / median.as_secs_f64(),
            worst_rss as f64 / 1024.0
        );
    }
    server.shutdown().await.expect("shutdown");
}

/// The keys of the encrypted device (fixed: the upload child opens the
/// same store).
fn encrypted_keys() -> fieldbook_store::StoreKeys {
    fieldbook_store::StoreKeys {
        database: fieldbook_store::DatabaseKey::new([42; 32]),
        media: Some(fieldbook_store::MediaKey::new([43; 32])),
    }
}

/// Removes an uploaded blob from the server's disk, so every round starts
/// alike and the disk does not fill up.
fn remove_server_blob(state: &AppState, sha: &Sha256Hex) {
    if let Some(path) = state.blobs.path_of(sha) {
        std::fs::remove_file(path).expect("remove an uploaded blob");
    }
}

/// One round of our upload of a same-sized file.
struct Upload<'a> {
    state: &'a AppState,
    url: &'a str,
    token: &'a str,
    installation: uuid::Uuid,
    bytes: usize,
}

impl Upload<'_> {
    /// Attaches a new video of `bytes` to the device's store and uploads it
    /// from a child process; removes it from both sides after.
    fn run(
        &self,
        store: &SharedStore,
        store_dir: &Path,
        seed: u64,
        encrypted: bool,
    ) -> ChildResult {
        let source = store_dir.with_file_name(format!("upload-{seed}.mp4"));
        write_video(&source, seed, self.bytes);
        let sha = store
            .lock()
            .expect("store")
            .attach_media(
                self.installation,
                &source,
                &format!("Benchmark video {seed}"),
            )
            .expect("attach video")
            .file
            .sha256;
        std::fs::remove_file(&source).expect("remove the source copy");
        let child = run_upload_child(store, store_dir, self.url, self.token, encrypted);
        assert!(
            self.state.blobs.contains(&sha),
            "our upload reached the server"
        );
        assert_eq!(child.bytes, self.bytes as u64);
        remove_server_blob(self.state, &sha);
        let hex = sha.as_str();
        let device_copy = store_dir.join("media").join(&hex[..2]).join(hex);
        if device_copy.is_file() {
            std::fs::remove_file(device_copy).expect("remove the device's copy");
        }
        child
    }
}

/// The middle of sorted times (the mean of the two middle ones for an even count).
fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

/// Best and median of the measured times (sorts them).
fn best_and_median(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[0], median(times))
}

fn mib_per_sec(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / took.as_secs_f64()
}

/// A fresh device's first sync with an unencrypted store, then with an
/// encrypted one, `rounds` times; best and median of each.
async fn first_sync_encryption_on_vs_off(
    url: &str,
    tech: &fieldbook_demo::DemoUser,
    rounds: usize,
) {
    let key = fieldbook_store::DatabaseKey::new([42; 32]);
    // [off, on]
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (variant, encrypted) in [false, true].into_iter().enumerate() {
            let dir = tempfile::tempdir().expect("device dir");
            let store = if encrypted {
                Store::open_encrypted(dir.path().join("store"), &key)
            } else {
                Store::open(dir.path().join("store"))
            }
            .expect("open store");
            let store = Arc::new(Mutex::new(store));
            let engine = SyncEngine::new(
                Arc::clone(&store),
                SyncOptions::new(dir.path().join("sync")),
            )
            .expect("engine");
            engine
                .sign_in(url, &tech.user.username, &tech.password)
                .await
                .expect("sign in");
            let t = Instant::now();
            engine.sync_once().await.expect("first sync");
            times[variant].push(t.elapsed());
        }
    }
    let (best_off, median_off) = best_and_median(&mut times[0]);
    let (best_on, median_on) = best_and_median(&mut times[1]);
    println!(
        "first sync, encryption off vs on ({rounds} rounds): off best {best_off:.2?}, median {median_off:.2?}; \
         on best {best_on:.2?}, median {median_on:.2?}; on/off best {:.2}x, median {:.2}x (goal <= 1.3x)",
        best_on.as_secs_f64() / best_off.as_secs_f64(),
        median_on.as_secs_f64() / median_off.as_secs_f64()
    );
}

/// The fields of a pull page that say where the next one starts (the
/// rest is skipped, not built).
#[derive(serde::Deserialize)]
struct PageHead {
    next_cursor: u64,
    has_more: bool,
}

/// Where a first sync's time goes: its steps one after the other, each
/// timed alone (the engine overlaps fetching pages with applying them, so
/// its time is less than the sum). Best of `rounds` per step:
/// - server read: the storage's pull of every page (queries, record bodies
///   parsed), in process;
/// - server JSON: those pages serialised;
/// - HTTP: every page fetched as bytes through the server's route, with
///   the engine's device headers, minus the two above (routing, auth, the
///   device's contact, loopback transfer);
/// - device parse: the bytes parsed into pages;
/// - device apply: the pages applied in transactions of 4, then the
///   deferred indexes built (as the engine does on a first sync).
async fn first_sync_split(
    state: &AppState,
    url: &str,
    tech: &fieldbook_demo::DemoUser,
    rounds: usize,
) {
    let scope = fieldbook_server::storage::Scope::for_user(tech.user.id, tech.user.role);
    let retired_before = chrono::Utc::now()
        .date_naive()
        .checked_sub_days(chrono::Days::new(u64::from(state.config.retention_days)));
    let token = login(url, &tech.user.username, &tech.password).await;
    let http = reqwest::Client::new();
    // The engine's device headers: the server notes the contact.
    let device = uuid::Uuid::new_v4();
    let limit = fieldbook_sync::pull::PULL_PAGE_LIMIT;
    let mut best = [Duration::MAX; 7];
    let names = [
        "server read",
        "server JSON",
        "HTTP fetch (whole)",
        "device parse",
        "device apply",
        "deferred indexes",
        "server near window (read + JSON)",
    ];
    let mut sizes = (0, 0, 0);
    for _ in 0..rounds {
        let mut took = [Duration::ZERO; 7];
        // The near window a first sync asks for alongside its full pull.
        let t = Instant::now();
        let today = chrono::Local::now().date_naive();
        let to =
            today + chrono::Days::new(u64::from(fieldbook_sync::near_window::NEAR_WINDOW_DAYS - 1));
        let window = state
            .storage
            .read(|db| {
                db.near_window(
                    scope,
                    today,
                    to,
                    fieldbook_protocol::MAX_NEAR_WINDOW_INSTALLATIONS,
                )
            })
            .expect("near window");
        let json = serde_json::to_vec(&window).expect("window JSON");
        took[6] = t.elapsed();
        assert!(!json.is_empty());
        // Server read and JSON, page by page.
        let mut cursor = 0;
        let mut pages = Vec::new();
        loop {
            let t = Instant::now();
            let page = state
                .storage
                .read(|db| {
                    db.pull_within(
                        scope,
                        cursor,
                        limit,
                        state.config.pull_page_bytes,
                        retired_before,
                        &|_| true,
                    )
                })
                .expect("pull");
            took[0] += t.elapsed();
            let t = Instant::now();
            let json = serde_json::to_vec(&page).expect("page JSON");
            took[1] += t.elapsed();
            cursor = page.next_cursor;
            let more = page.has_more;
            pages.push(json);
            if !more {
                break;
            }
        }
        // The same pages through HTTP.
        let mut cursor = 0;
        let mut bodies = Vec::new();
        let t = Instant::now();
        loop {
            let body = http
                .get(format!("{url}/api/v1/sync/pull"))
                .query(&[("cursor", cursor), ("limit", u64::from(limit))])
                .bearer_auth(&token)
                .header("X-Fieldbook-Device", device.to_string())
                .header("X-Fieldbook-App-Version", "0.0.0-bench")
                .header("X-Fieldbook-Pending", "0")
                .send()
                .await
                .expect("pull over HTTP")
                .error_for_status()
                .expect("pull answered")
                .bytes()
                .await
                .expect("pull body");
            let head: PageHead = serde_json::from_slice(&body).expect("page");
            cursor = head.next_cursor;
            bodies.push(body);
            if !head.has_more {
                break;
            }
        }
        took[2] = t.elapsed();
        // Device: parse, then apply.
        let t = Instant::now();
        let parsed: Vec<fieldbook_protocol::PullPage> = bodies
            .iter()
            .map(|b| serde_json::from_slice(b).expect("parse page"))
            .collect();
        took[3] = t.elapsed();
        let dir = tempfile::tempdir().expect("device dir");
        let mut store = Store::open(dir.path().join("store")).expect("open store");
        let records: usize = parsed.iter().map(|p| p.len()).sum();
        sizes = (
            parsed.len(),
            records,
            bodies.iter().map(|b| b.len()).sum::<usize>(),
        );
        let t = Instant::now();
        store.defer_for_bulk_load().expect("defer indexes");
        let mut parsed = parsed.into_iter().peekable();
        while parsed.peek().is_some() {
            let batches: Vec<_> = parsed
                .by_ref()
                .take(4)
                .map(|p| fieldbook_sync::pull::into_server_batch("pull:bench", p).expect("batch"))
                .collect();
            store.apply_server_batches(&batches).expect("apply");
        }
        took[4] = t.elapsed();
        let t = Instant::now();
        store.build_deferred_indexes().expect("build indexes");
        took[5] = t.elapsed();
        for (b, t) in best.iter_mut().zip(took) {
            *b = (*b).min(t);
        }
    }
    let (pages, records, bytes) = sizes;
    println!(
        "first sync split ({pages} pages, {records} records, {:.1} MiB of JSON; best of {rounds}, steps timed one after the other):",
        bytes as f64 / (1 << 20) as f64
    );
    for (name, took) in names.iter().zip(best) {
        println!("  {name}: {took:.2?}");
    }
    println!(
        "  HTTP beyond server read + JSON: {:.2?}",
        best[2].saturating_sub(best[0] + best[1])
    );
}

fn open_device(dir: &Path) -> (SharedStore, SyncEngine) {
    let store = Arc::new(Mutex::new(
        Store::open(dir.join("store")).expect("open store"),
    ));
    let engine =
        SyncEngine::new(Arc::clone(&store), SyncOptions::new(dir.join("sync"))).expect("engine");
    (store, engine)
}

async fn login(url: &str, username: &str, password: &str) -> String {
    let response: fieldbook_protocol::LoginResponse = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
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

fn count_rows(database: &Path, table: &str) -> u64 {
    let db =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store read-only");
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

/// Creates the record tables as the store defines them in a fresh database
/// (same pragmas as the store), loads the synced rows into memory, then
/// times inserting them all in one transaction.
fn raw_insert_baseline(store_db: &Path, dir: &Path) -> (usize, Duration) {
    let source =
        rusqlite::Connection::open_with_flags(store_db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store read-only");
    let mut target = rusqlite::Connection::open(dir.join("baseline.sqlite3")).expect("baseline db");
    target
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .expect("wal");
    target
        .execute_batch("PRAGMA synchronous = FULL;")
        .expect("pragmas");
    let mut tables = Vec::new();
    for &table in RECORD_TABLES {
        let create: String = source
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("the store has no table {table}: {e}"));
        target.execute_batch(&create).expect("create table");
        // Stored columns only: generated ones are computed, not inserted.
        let names: Vec<String> = source
            .prepare("SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid")
            .expect("columns")
            .query_map([table], |r| r.get(0))
            .expect("columns")
            .map(|r| r.expect("column"))
            .collect();
        let columns = names.join(", ");
        let mut stmt = source
            .prepare(&format!("SELECT {columns} FROM {table}"))
            .expect("select");
        let rows: Vec<Vec<rusqlite::types::Value>> = stmt
            .query_map([], |r| {
                (0..names.len())
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect()
            })
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        tables.push((table, columns, rows));
    }
    let total = tables.iter().map(|(_, _, rows)| rows.len()).sum();
    let t = Instant::now();
    let tx = target.transaction().expect("begin");
    for (table, columns, rows) in &tables {
        let placeholders = vec!["?"; columns.split(", ").count()].join(", ");
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {table} ({columns}) VALUES ({placeholders})"
            ))
            .expect("prepare insert");
        for row in rows {
            insert
                .execute(rusqlite::params_from_iter(row.iter()))
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    (total, t.elapsed())
}

/// An MP4 by its header (videos are never decoded) of `bytes` bytes made
/// from `seed`; returns its SHA-256.
fn write_video(path: &Path, seed: u64, bytes: usize) -> Sha256Hex {
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).expect("create video"),
    );
    let mut hasher = sha2::Sha256::new();
    let header = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2";
    file.write_all(header).expect("write");
    hasher.update(header);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut written = header.len();
    while written < bytes {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = block.len().min(bytes - written);
        file.write_all(&block[..n]).expect("write");
        hasher.update(&block[..n]);
        written += n;
    }
    file.flush().expect("flush");
    Sha256Hex::from_bytes(hasher.finalize().into())
}

/// Creates a tus upload (POST, like our client) and times `curl -T` sending
/// the whole file in one PATCH.
async fn curl_upload(url: &str, token: &str, file: &Path, sha: &Sha256Hex, len: u64) -> Duration {
    let b64 = base64::engine::general_purpose::STANDARD;
    let created = reqwest::Client::new()
        .post(format!("{url}/api/v1/blobs"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len)
        .header(
            "Upload-Metadata",
            format!("sha256 {}", b64.encode(sha.as_str())),
        )
        .send()
        .await
        .expect("create upload for curl");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let location = created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    let t = Instant::now();
    let output = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PATCH",
        ])
        .arg("-T")
        .arg(file)
        .args([
            "-H",
            "Tus-Resumable: 1.0.0",
            "-H",
            "Upload-Offset: 0",
            "-H",
            "Content-Type: application/offset+octet-stream",
            // No 100-continue round trip: our client does not wait for one.
            "-H",
            "Expect:",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{url}{location}"))
        .output()
        .await
        .expect("run curl");
    let took = t.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "204",
        "curl PATCH: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

#[derive(Debug, Clone, Copy)]
struct ChildResult {
    bytes: u64,
    elapsed: Duration,
    rss_growth_kib: u64,
}

/// Runs this binary as the upload child on the device's store. The store's
/// directory lock allows one process: the parent's store is closed for the
/// child's run and opened again after.
fn run_upload_child(
    store: &SharedStore,
    store_dir: &Path,
    url: &str,
    token: &str,
    encrypted: bool,
) -> ChildResult {
    // Swap in a throwaway store so the device's one is closed.
    *store.lock().expect("store") =
        Store::open(store_dir.with_file_name("stand-in-store")).expect("stand-in store");
    let output = Command::new(std::env::current_exe().expect("own path"))
        .arg(UPLOAD_CHILD)
        .arg(store_dir)
        .arg(url)
        .arg(token)
        .arg(if encrypted { "encrypted" } else { "plain" })
        .output()
        .expect("run the upload child");
    *store.lock().expect("store") = open_store(store_dir, encrypted);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "upload child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("the child prints RESULT");
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {line}"))
    };
    ChildResult {
        bytes: field("bytes"),
        elapsed: Duration::from_micros(field("micros")),
        rss_growth_kib: field("hwm_kib").saturating_sub(field("rss_before_kib")),
    }
}

/// The device's store: plain, or encrypted (database and media) as the app
/// opens it.
fn open_store(store_dir: &Path, encrypted: bool) -> Store {
    if encrypted {
        Store::open_with_keys(store_dir, &encrypted_keys()).expect("open encrypted store")
    } else {
        Store::open(store_dir).expect("open store")
    }
}

/// `VmRSS` / `VmHWM` of this process, in KiB.
fn proc_status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/self/status"))
}

/// The child: uploads the store's queue with `BlobUploader` and prints the
/// time and its peak RSS growth.
fn upload_child(args: &[String]) {
    let [store_dir, url, token, media, ..] = args else {
        panic!("usage: {UPLOAD_CHILD} <store dir> <server url> <token> plain|encrypted");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store: SharedStore = Arc::new(Mutex::new(open_store(
        &PathBuf::from(store_dir),
        media == "encrypted",
    )));
    let client = reqwest::Client::new();
    let chunk = env_usize(
        "FIELDBOOK_BENCH_CHUNK_MIB",
        fieldbook_sync::blobs::DEFAULT_CHUNK_SIZE >> 20,
    );
    let uploader = BlobUploader::new(client, url, token.clone()).chunk_size(chunk << 20);
    let pending: u64 = store
        .lock()
        .expect("store")
        .blobs_pending_upload(usize::MAX)
        .expect("queue")
        .iter()
        .map(|b| b.blob.size)
        .sum();
    let rss_before = proc_status_kib("VmRSS");
    // Reset the peak to the current RSS (Linux: "5" clears VmHWM), so the
    // peak measured is the upload's.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let t = Instant::now();
    let summary = runtime
        .block_on(uploader.upload_pending(&store, &|_| {}))
        .expect("upload");
    let elapsed = t.elapsed();
    let hwm = proc_status_kib("VmHWM");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    println!(
        "RESULT bytes={} micros={} rss_before_kib={rss_before} hwm_kib={hwm} pending={pending}",
        summary.uploaded_bytes,
        elapsed.as_micros()
    );
}
