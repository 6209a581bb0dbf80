//! The big move, measured (issue 10): `fieldbook-server migrate-storage`
//! (the real binary) moves a SQLite server with its blobs into PostgreSQL
//! and an S3-compatible bucket (moto), several times, beside baselines
//! measured in the same run on the same machine:
//!
//! - rows: `pg_dump | psql` of the moved database into a fresh one (what
//!   PostgreSQL's own tools take for the same rows, indexes and triggers);
//! - blobs: a plain `object_store` put loop of the same files into a fresh
//!   bucket (one put per file, one at a time, nothing read back).
//!
//! Then it proves the move keeps devices incremental: a technician's device
//! that was up to date on the old server, with one change made after its
//! last pull, pulls from its old cursor on a server started on the moved
//! database and bucket; the pages and records of that pull are printed next
//! to those of a full pull of the same scope.
//!
//! Run: `make bench-move` (`cargo bench -p fieldbook-server --bench
//! storage_move`; or `cargo test --workspace --bench storage_move` for the
//! dev profile). Not part of `cargo bench --workspace` (`bench = false`).
//! Settings (environment):
//!   MOVE_WORLDS=demo,big    which worlds: `demo` is `make run`'s demo data
//!                           (seed-demo's 60 installations over 3 teams, seed
//!                           2026); `big` is MOVE_INSTALLATIONS over MOVE_TEAMS
//!   MOVE_RUNS=5             timed moves per world (demo), MOVE_BIG_RUNS (big)
//!   MOVE_BIG_RUNS=5
//!   MOVE_INSTALLATIONS=10000
//!   MOVE_TEAMS=400
//!   MOVE_DEVICES=20         technicians' devices that pull, push and upload
//!                           before the move (both worlds)
//!   MOVE_PHOTOS=300         photos in the big world (spread over the devices)
//!   MOVE_PHOTO_KB=2048      mean photo size; each is 75–125 % of it, random
//!                           bytes (JPEG does not compress further)

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fieldbook_demo::{generate, DemoConfig};
use fieldbook_domain::{Mutation, Role};
use fieldbook_protocol::PullPage;
use fieldbook_server::blobs::S3Settings;
use fieldbook_server::storage::DatabaseUrl;
use fieldbook_server::{AppState, ServerConfig};
use fieldbook_testkit::{
    blob_store_args, is_applied, photo, ProtocolDevice, TestServer, ThrowawayPostgres, ThrowawayS3,
    PASSWORD,
};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rand::{RngCore, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_fieldbook-server");
const PAGE: u32 = 1000;

struct Settings {
    worlds: Vec<String>,
    runs: usize,
    big_runs: usize,
    installations: usize,
    teams: usize,
    devices: usize,
    photos: usize,
    photo_bytes: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{name}={v:?}: expected a number"))
                })
                .unwrap_or(default)
        };
        Settings {
            worlds: std::env::var("MOVE_WORLDS")
                .unwrap_or_else(|_| "demo,big".into())
                .split(',')
                .map(|w| w.trim().to_owned())
                .collect(),
            runs: number("MOVE_RUNS", 5),
            big_runs: number("MOVE_BIG_RUNS", 5),
            installations: number("MOVE_INSTALLATIONS", 10_000),
            teams: number("MOVE_TEAMS", 400),
            devices: number("MOVE_DEVICES", 20),
            photos: number("MOVE_PHOTOS", 300),
            photo_bytes: number("MOVE_PHOTO_KB", 2048) * 1024,
        }
    }
}

/// A SQLite server that has been in use: the demo generator's world, devices
/// that pulled their scope, pushed and uploaded photos, and one device up
/// to date but for one change made after its last pull.
struct World {
    name: String,
    server: TestServer,
    /// The up-to-date device and its cursor.
    watcher: ProtocolDevice,
    cursor: u64,
    /// Its full pull: pages, records.
    full_pull: (usize, usize),
    photos: usize,
    photo_bytes: u64,
}

fn records(page: &PullPage) -> usize {
    serde_json::to_value(page)
        .expect("a pull page")
        .as_object()
        .expect("a JSON object")
        .values()
        .filter_map(|v| v.as_array())
        .map(Vec::len)
        .sum()
}

async fn build_world(
    name: &str,
    installations: usize,
    teams: usize,
    devices: usize,
    photos: usize,
    photo_bytes: usize,
) -> World {
    let started = Instant::now();
    // seed-demo's settings (make run), with every password the test kit's.
    let mut config = DemoConfig::new(installations, teams, Utc::now().date_naive());
    config.seed = 2026;
    let mut demo = generate(&config);
    for user in &mut demo.users {
        user.password = PASSWORD.into();
    }
    let technicians: Vec<String> = demo
        .users
        .iter()
        .filter(|u| u.user.role == Role::Technician)
        .map(|u| u.user.username.clone())
        .collect();
    let server = TestServer::start_with_demo_and(&demo, |config| {
        config.database_url = None;
        config.blob_store = None;
    })
    .await;

    // Devices spread over the technicians: each pulls its scope, attaches
    // its share of the photos to its jobs and uploads them.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut stored = (0usize, 0u64);
    let mut applied = 0usize;
    let devices = devices.min(technicians.len()).max(1);
    for d in 0..devices {
        let username = &technicians[d * technicians.len() / devices];
        let mut device = ProtocolDevice::login(&server, username).await;
        let pages = server.pull_all(&device.token, 0, PAGE).await;
        let jobs: Vec<_> = pages
            .iter()
            .flat_map(|p| p.installations.iter().map(|i| &i.record))
            .cloned()
            .collect();
        let share = photos / devices + usize::from(d < photos % devices);
        let first = &jobs[0];
        let mut mutations = vec![Mutation::InstallationSetFlags {
            installation_id: first.id,
            customer_confirmed: Some(!first.customer_confirmed),
            demo_completed: None,
            base_customer_confirmed: first.customer_confirmed,
            base_demo_completed: first.demo_completed,
        }];
        for n in 0..share {
            let len = photo_bytes * 3 / 4 + (rng.next_u64() as usize % (photo_bytes / 2 + 1));
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            server.upload_blob(&device.token, &bytes).await;
            stored = (stored.0 + 1, stored.1 + len as u64);
            mutations.push(Mutation::MediaAttach {
                media: photo(jobs[n % jobs.len()].id, &bytes),
            });
        }
        for chunk in mutations.chunks(100) {
            let outcomes = device.push(&server, chunk.to_vec()).await;
            applied += outcomes.iter().filter(|o| is_applied(o)).count();
        }
    }
    // The watcher: up to date, then ops change one of its jobs.
    let watcher_name = &technicians[technicians.len() / 2];
    let watcher = ProtocolDevice::login(&server, watcher_name).await;
    let pages = server.pull_all(&watcher.token, 0, PAGE).await;
    let full_pull = (pages.len(), pages.iter().map(records).sum());
    let cursor = pages.last().expect("a page").next_cursor;
    // Ops plan a new job for the watcher's team after its last pull.
    let watcher_team = demo
        .teams
        .iter()
        .find(|t| t.member_ids.contains(&watcher.user_id))
        .expect("the watcher's team")
        .id;
    let ops = server
        .token(&demo.ops_users().next().expect("an ops user").user.username)
        .await;
    let job = server
        .create_installation(&ops, "After the last pull")
        .await;
    server.assign(&ops, job, watcher_team).await;
    let changed = "a new job assigned to its team";
    println!(
        "World {name}: {} installations, {} teams, {} users; {devices} devices pushed ({applied} mutations applied) and uploaded {} photos ({:.1} MB); the watcher ({watcher_name}) pulled {} records in {} pages to cursor {cursor}, then ops made {changed}; built in {:.1} s",
        demo.installations.len(),
        demo.teams.len(),
        demo.users.len(),
        stored.0,
        stored.1 as f64 / 1e6,
        full_pull.1,
        full_pull.0,
        started.elapsed().as_secs_f64()
    );
    World {
        name: name.to_owned(),
        server,
        watcher,
        cursor,
        full_pull,
        photos: stored.0,
        photo_bytes: stored.1,
    }
}

/// One move: wall time, and when each phase ended (from the command's
/// progress lines as they came).
struct Move {
    wall: Duration,
    /// Both databases opened, the target's schema made and claimed.
    blobs_started: Option<Duration>,
    blobs_done: Option<Duration>,
    rows_copied: Duration,
    counts_checked: Duration,
    pulls_compared: Duration,
    rows: u64,
}

fn migrate(from: &Path, url: &str, bucket: &S3Settings) -> Move {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["migrate-storage", "--from"])
        .arg(from)
        .args(["--to", url])
        .args(blob_store_args(bucket))
        .env("RUST_LOG", "warn")
        .env_remove("FIELDBOOK_DATABASE_URL")
        .env_remove("FIELDBOOK_BLOB_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run migrate-storage");
    let (mut blobs_started, mut blobs_done) = (None, None);
    let (mut rows_copied, mut counts_checked, mut pulls_compared) = (None, None, None);
    let mut rows = 0;
    let mut said = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.expect("read migrate-storage's output");
        let at = started.elapsed();
        if line.starts_with("blobs:") && line.contains(" to copy to ") {
            blobs_started = Some(at);
        } else if line.contains("verified by SHA-256") && line.starts_with("blobs:") {
            blobs_done = Some(at);
        } else if line.starts_with("change sequence set") {
            rows_copied = Some(at);
        } else if line.starts_with("row counts match") {
            counts_checked = Some(at);
        } else if line.starts_with("full pulls of") {
            pulls_compared = Some(at);
        } else if let Some(rest) = line.strip_prefix("done: ") {
            if let Some((n, _)) = rest.split_once(" rows") {
                rows = n.parse().unwrap_or(0);
            }
        }
        said.push(line);
    }
    let status = child.wait().expect("wait for migrate-storage");
    let wall = started.elapsed();
    assert!(
        status.success(),
        "migrate-storage failed:\n{}",
        said.join("\n")
    );
    let phase = |p: Option<Duration>, what: &str| {
        p.unwrap_or_else(|| panic!("no `{what}` line:\n{}", said.join("\n")))
    };
    Move {
        wall,
        blobs_started,
        blobs_done,
        rows_copied: phase(rows_copied, "change sequence set"),
        counts_checked: phase(counts_checked, "row counts match"),
        pulls_compared: phase(pulls_compared, "full pulls of"),
        rows,
    }
}

/// `pg_dump` of `from` piped into `psql` on the fresh database `to`.
fn dump_and_restore(pg: &ThrowawayPostgres, from: &str, to: &str) -> Duration {
    pg.create_database(to).expect("create the restore target");
    let started = Instant::now();
    let script = format!(
        "set -o pipefail; pg_dump --no-owner '{}' | psql -q -v ON_ERROR_STOP=1 '{}' >/dev/null",
        pg.connection_string(from),
        pg.connection_string(to)
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("run pg_dump | psql");
    assert!(
        out.status.success(),
        "pg_dump | psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

fn object_store_of(bucket: &S3Settings) -> Arc<dyn ObjectStore> {
    let name = bucket.url.trim_start_matches("s3://");
    Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(name)
            .with_endpoint(bucket.endpoint.clone().unwrap())
            .with_region(bucket.region.clone().unwrap())
            .with_access_key_id(bucket.access_key_id.clone().unwrap())
            .with_secret_access_key(bucket.secret_access_key.clone().unwrap())
            .with_allow_http(true)
            .build()
            .expect("an S3 client"),
    )
}

/// Every file under the data dir's `blobs/ab/`: the bytes the move copies.
fn blob_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let root = data_dir.join("blobs");
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 2 && entry.path().is_dir() {
            for blob in std::fs::read_dir(entry.path())
                .expect("a blob folder")
                .flatten()
            {
                files.push(blob.path());
            }
        }
    }
    files.sort();
    files
}

/// One put per file, one at a time.
async fn put_loop(bucket: &S3Settings, files: &[PathBuf]) -> Duration {
    let store = object_store_of(bucket);
    let started = Instant::now();
    for file in files {
        let bytes = tokio::fs::read(file).await.expect("read a blob");
        let key = Key::from(format!(
            "baseline/{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        store
            .put(&key, PutPayload::from(bytes))
            .await
            .expect("put a blob");
    }
    started.elapsed()
}

/// The watcher's pull from its old cursor on a server started on the moved
/// database and bucket: (pages, records).
async fn pull_after_move(world: &World, url: &str, bucket: &S3Settings) -> (usize, usize) {
    let dir = tempfile::tempdir().expect("data dir of the moved server");
    let mut config = ServerConfig::new(dir.path().to_owned());
    config.password_hashing = world.server.config().password_hashing;
    config.database_url = Some(DatabaseUrl::Postgres(url.to_owned()));
    config.blob_store = Some(bucket.clone());
    let state = AppState::open(config).expect("open the moved server");
    let running = fieldbook_server::start(state, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start the moved server");
    let client = reqwest::Client::new();
    let mut cursor = world.cursor;
    let (mut pages, mut total) = (0, 0);
    loop {
        let response = client
            .get(format!(
                "http://{}/api/v1/sync/pull?cursor={cursor}&limit={PAGE}",
                running.addr
            ))
            .bearer_auth(&world.watcher.token)
            .send()
            .await
            .expect("pull");
        assert!(
            response.status().is_success(),
            "pull: {}",
            response.status()
        );
        let page: PullPage = response.json().await.expect("a pull page");
        pages += 1;
        total += records(&page);
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    drop(running);
    (pages, total)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn best_median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[0], values[values.len() / 2])
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

async fn measure(world: &mut World, runs: usize, pg: &ThrowawayPostgres, s3: &ThrowawayS3) {
    world.server.stop().await;
    let files = blob_files(world.server.data_dir());
    let mut table = Vec::new();
    let mut incremental = None;
    for run in 0..runs {
        let database = format!("{}_move_{run}", world.name);
        pg.create_database(&database).expect("create the target");
        let url = pg.url(&database);
        let bucket = s3.new_bucket();
        let load = load_average();
        let moved = migrate(world.server.data_dir(), &url, &bucket);
        if incremental.is_none() {
            incremental = Some(pull_after_move(world, &url, &bucket).await);
        }
        let restore = dump_and_restore(pg, &database, &format!("{database}_dump"));
        let put = put_loop(&s3.new_bucket(), &files).await;
        println!(
            "  run {}: move {:.2} s (blobs from {:.2} to {:.2} s, rows copied at {:.2} s, counts at {:.2} s, pulls compared at {:.2} s); pg_dump|psql {:.2} s; put loop {:.2} s; load {load}",
            run + 1,
            secs(moved.wall),
            moved.blobs_started.map_or(0.0, secs),
            moved.blobs_done.map_or(0.0, secs),
            secs(moved.rows_copied),
            secs(moved.counts_checked),
            secs(moved.pulls_compared),
            secs(restore),
            secs(put),
        );
        table.push((moved, restore, put, load));
    }
    let rows = table[0].0.rows;
    let mb = world.photo_bytes as f64 / 1e6;
    let (wall_best, wall_median) = best_median(table.iter().map(|t| secs(t.0.wall)).collect());
    // Rows phase: from the end of the blob copy to the end of the row copy
    // (the sequence set); verification after it.
    let row_copy: Vec<f64> = table
        .iter()
        .map(|t| secs(t.0.rows_copied) - t.0.blobs_done.map_or(0.0, secs))
        .collect();
    let verify: Vec<f64> = table
        .iter()
        .map(|t| secs(t.0.pulls_compared) - secs(t.0.rows_copied))
        .collect();
    let blob_phase: Vec<f64> = table
        .iter()
        .map(|t| t.0.blobs_done.map_or(0.0, secs) - t.0.blobs_started.map_or(0.0, secs))
        .collect();
    let (start_best, start_median) = best_median(
        table
            .iter()
            .map(|t| t.0.blobs_started.map_or(0.0, secs))
            .collect(),
    );
    let restore: Vec<f64> = table.iter().map(|t| secs(t.1)).collect();
    let put: Vec<f64> = table.iter().map(|t| secs(t.2)).collect();
    let (copy_best, copy_median) = best_median(row_copy);
    let (verify_best, verify_median) = best_median(verify);
    let (blob_best, blob_median) = best_median(blob_phase);
    let (restore_best, restore_median) = best_median(restore);
    let (put_best, put_median) = best_median(put);
    println!("\n### {} ({runs} runs; best / median)\n", world.name);
    println!("| what | best | median |");
    println!("|---|---|---|");
    println!("| migrate-storage wall (s) | {wall_best:.2} | {wall_median:.2} |");
    println!(
        "| rows overall: {rows} rows / wall (rows/s) | {:.0} | {:.0} |",
        rows as f64 / wall_best,
        rows as f64 / wall_median
    );
    println!("| start: open both databases, make the schema, claim the target (s) | {start_best:.2} | {start_median:.2} |");
    println!("| row copy phase (s) | {copy_best:.2} | {copy_median:.2} |");
    println!(
        "| row copy rate (rows/s) | {:.0} | {:.0} |",
        rows as f64 / copy_best,
        rows as f64 / copy_median
    );
    println!("| verify phase: counts + full pulls of every scope (s) | {verify_best:.2} | {verify_median:.2} |");
    println!("| baseline pg_dump \\| psql of the same rows (s) | {restore_best:.2} | {restore_median:.2} |");
    println!(
        "| baseline rows/s | {:.0} | {:.0} |",
        rows as f64 / restore_best,
        rows as f64 / restore_median
    );
    if world.photos > 0 {
        println!(
            "| blob phase: {} blobs, {mb:.1} MB, copied + read back (s) | {blob_best:.2} | {blob_median:.2} |",
            world.photos
        );
        println!(
            "| blob rate (MB/s) | {:.1} | {:.1} |",
            mb / blob_best,
            mb / blob_median
        );
        println!("| baseline put loop of the same files (s) | {put_best:.2} | {put_median:.2} |");
        println!(
            "| baseline MB/s | {:.1} | {:.1} |",
            mb / put_best,
            mb / put_median
        );
    }
    let (pages, records) = incremental.expect("at least one run");
    println!(
        "\nThe watcher's pull after the move, from its old cursor {}: {pages} page(s), {records} records (its full pull: {} pages, {} records)\n",
        world.cursor, world.full_pull.0, world.full_pull.1
    );
    assert!(
        records < world.full_pull.1 / 10 + 10,
        "the pull after the move is not incremental"
    );
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "Storage move benchmark: worlds {:?}, {} runs (big: {}), {} CPU(s), load {}",
        settings.worlds,
        settings.runs,
        settings.big_runs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    // fsync on, as a production database commits.
    let pg = ThrowawayPostgres::start_durable()
        .unwrap_or_else(|e| panic!("the move needs PostgreSQL: {e:?}"));
    let s3 = ThrowawayS3::start().unwrap_or_else(|e| panic!("the move needs moto: {e:?}"));
    runtime.block_on(async {
        for world in &settings.worlds {
            let (mut built, runs) = match world.as_str() {
                "demo" => (
                    build_world("demo", 60, 3, settings.devices.min(6), 0, 0).await,
                    settings.runs,
                ),
                "big" => (
                    build_world(
                        "big",
                        settings.installations,
                        settings.teams,
                        settings.devices,
                        settings.photos,
                        settings.photo_bytes,
                    )
                    .await,
                    settings.big_runs,
                ),
                other => panic!("MOVE_WORLDS: unknown world {other:?} (demo, big)"),
            };
            measure(&mut built, runs, &pg, &s3).await;
        }
    });
}
