//! The fleet benchmark (issue 10): many technicians' devices sync at once
//! against the real `fieldbook-server` binary on SQLite, on PostgreSQL with
//! one instance and on PostgreSQL with two instances, beside the bare insert
//! rate of the same machine (pgbench on the same PostgreSQL cluster, and a
//! raw SQLite insert loop) measured in the same run.
//!
//! Run: `make bench-fleet` (`cargo bench -p fieldbook-server --bench fleet`).
//! Not part of `cargo bench --workspace` (`bench = false` in Cargo.toml): it
//! takes minutes. Settings (environment):
//!   FLEET_DEVICES=50,200,500   concurrent devices, one measurement group each
//!   FLEET_RUNS=5               timed sync cycles per setup and device count
//!   FLEET_SETUPS=sqlite,pg1,pg2
//!   FLEET_INSTALLATIONS=6000   the world: demo installations ...
//!   FLEET_TEAMS=250            ... over this many teams of two technicians
//!   FLEET_PHOTO_KB=200         size of each device's photo
//!   FLEET_SERVER_BIN=PATH      another fieldbook-server build (before/after)
//!   FLEET_SERVER_ARGS="..."    more `serve` flags, split on spaces (e.g.
//!                              `--pull-queue 0` for the server without its queue)
//!
//! What one device does, per timed run (a *cycle*), all devices at once:
//! pull from its cursor until `has_more` is false (an incremental pull: its
//! first pull of the team's scope happened before, measured on its own),
//! push three mutations in one request (`installation.start` of its next
//! job, `installation.set_flags`, `media.attach` of a new photo), then upload
//! that photo with tus exactly as the device's uploader does (creation with
//! the SHA-256 in `Upload-Metadata`, one PATCH with `Upload-Checksum`).
//! Devices are distinct technicians spread evenly over the teams; each logs
//! in before any clock starts (passwords seeded with the test kit's fast
//! argon2 parameters, so logging 500 devices in takes seconds; login is not
//! what this measures). With two instances, device i talks to instance
//! i % 2 for all its requests (a load balancer with sticky sessions).
//!
//! Every setup and device count starts from the same seeded world (a
//! PostgreSQL template database, a copy of the SQLite data dir), so each
//! device has a fresh job to start in each run. A `503` with `Retry-After`
//! (a shed pull, a lost write conflict) is counted as "asked to wait" and
//! the step is sent again after the wait plus jitter, as the device's sync
//! loop does; the wait is part of the cycle's latency. Other failed requests
//! (transport errors, unexpected statuses) are counted and printed by kind
//! and status, never dropped; such a failed step ends that device's cycle,
//! and only completed cycles count toward throughput. Peak load average and
//! peak server threads are sampled four times a second. Latencies are exact percentiles of the
//! sorted samples (a few thousand per kind: no histogram needed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use fieldbook_demo::{generate, DemoConfig, DemoData};
use fieldbook_domain::{
    BlobRef, InstallationMedia, InstallationStatus, MediaType, Mutation, Sha256Hex,
};
use fieldbook_protocol::{
    LoginRequest, LoginResponse, MutationEnvelope, MutationOutcome, PullPage, PushRequest,
    PushResponse, MAX_PULL_LIMIT,
};
use fieldbook_server::storage::{DatabaseUrl, Storage};
use fieldbook_server::{seed, PasswordHashing};
use fieldbook_testkit::ThrowawayPostgres;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_fieldbook-server");
/// The server's pool of transaction connections per instance (storage.md):
/// pgbench runs with as many clients.
const POOL_CONNECTIONS: u32 = 16;
const BASELINE_SECONDS: u32 = 5;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
// Enough for a device turned away by `503 busy` (Retry-After 2 s) while
// hundreds of pulls go through a few slots.
const ATTEMPTS: usize = 60;

#[derive(Debug, Clone)]
struct Settings {
    devices: Vec<usize>,
    runs: usize,
    setups: Vec<Setup>,
    installations: usize,
    teams: usize,
    photo_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    Sqlite,
    PgOne,
    PgTwo,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Sqlite => "SQLite",
            Setup::PgOne => "PostgreSQL, 1 instance",
            Setup::PgTwo => "PostgreSQL, 2 instances",
        }
    }

    fn instances(self) -> usize {
        if self == Setup::PgTwo {
            2
        } else {
            1
        }
    }

    fn on_postgres(self) -> bool {
        self != Setup::Sqlite
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let devices = std::env::var("FLEET_DEVICES").unwrap_or_else(|_| "50,200,500".into());
        let setups = std::env::var("FLEET_SETUPS").unwrap_or_else(|_| "sqlite,pg1,pg2".into());
        let settings = Settings {
            devices: devices
                .split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("FLEET_DEVICES: numbers, comma-separated")
                })
                .collect(),
            runs: env_or("FLEET_RUNS", 5),
            setups: setups
                .split(',')
                .map(|s| match s.trim() {
                    "sqlite" => Setup::Sqlite,
                    "pg1" => Setup::PgOne,
                    "pg2" => Setup::PgTwo,
                    other => panic!("FLEET_SETUPS: unknown setup {other:?} (sqlite, pg1, pg2)"),
                })
                .collect(),
            installations: env_or("FLEET_INSTALLATIONS", 6000),
            teams: env_or("FLEET_TEAMS", 250),
            photo_bytes: env_or("FLEET_PHOTO_KB", 200usize) * 1024,
        };
        let technicians = settings.teams * 2;
        if let Some(&n) = settings.devices.iter().find(|&&n| n > technicians) {
            panic!(
                "{n} devices need {n} technicians; FLEET_TEAMS={} has {technicians} (two per team)",
                settings.teams
            );
        }
        settings
    }
}

// ---------------------------------------------------------------- samples

/// Request kinds whose latency is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    FirstPullPage,
    PullPage,
    Push,
    TusCreate,
    TusPatch,
    Cycle,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::FirstPullPage => "first pull page",
            Kind::PullPage => "pull page",
            Kind::Push => "push",
            Kind::TusCreate => "tus create",
            Kind::TusPatch => "tus patch",
            Kind::Cycle => "cycle",
        }
    }
}

/// What one device measured in one phase.
#[derive(Debug, Default)]
struct Samples {
    latencies: BTreeMap<Kind, Vec<Duration>>,
    /// (kind, what went wrong) → count.
    failures: BTreeMap<(Kind, String), usize>,
    /// Mutation outcomes that were not `applied` (they are answers, not failures).
    not_applied: BTreeMap<String, usize>,
    /// (kind, answer) → count of answers that asked the device to wait and
    /// retry (`503` with `Retry-After`: a shed pull, a lost write conflict).
    /// The device retries them, so they are not failures; they are counted
    /// and their waits are in the cycle's latency.
    asked_to_wait: BTreeMap<(Kind, String), usize>,
    requests: usize,
    cycles_completed: usize,
}

impl Samples {
    fn record(&mut self, kind: Kind, took: Duration) {
        self.latencies.entry(kind).or_default().push(took);
        if kind != Kind::Cycle {
            self.requests += 1;
        }
    }

    fn fail(&mut self, kind: Kind, what: String) {
        *self.failures.entry((kind, what)).or_default() += 1;
        self.requests += 1;
    }

    fn asked_to_wait(&mut self, kind: Kind, what: String) {
        *self.asked_to_wait.entry((kind, what)).or_default() += 1;
        self.requests += 1;
    }

    fn merge(&mut self, other: Samples) {
        for (kind, mut values) in other.latencies {
            self.latencies.entry(kind).or_default().append(&mut values);
        }
        for (key, n) in other.failures {
            *self.failures.entry(key).or_default() += n;
        }
        for (key, n) in other.not_applied {
            *self.not_applied.entry(key).or_default() += n;
        }
        for (key, n) in other.asked_to_wait {
            *self.asked_to_wait.entry(key).or_default() += n;
        }
        self.requests += other.requests;
        self.cycles_completed += other.cycles_completed;
    }

    fn failure_count(&self) -> usize {
        self.failures.values().sum()
    }

    fn asked_to_wait_count(&self) -> usize {
        self.asked_to_wait.values().sum()
    }

    /// (p50, p99) by the nearest-rank method, or None without samples.
    fn percentiles(&self, kind: Kind) -> Option<(Duration, Duration)> {
        let mut values = self.latencies.get(&kind)?.clone();
        if values.is_empty() {
            return None;
        }
        values.sort();
        let rank = |p: f64| {
            let r = (p * values.len() as f64).ceil() as usize;
            values[r.clamp(1, values.len()) - 1]
        };
        Some((rank(0.50), rank(0.99)))
    }
}

// ---------------------------------------------------------------- processes and CPU

/// `fieldbook-server serve` on a free port, killed when dropped.
struct ServeProcess {
    child: Child,
    base: String,
    log: PathBuf,
}

impl ServeProcess {
    fn start(data_dir: &Path, database_url: Option<&str>, log: PathBuf) -> ServeProcess {
        let log_file = std::fs::File::create(&log).expect("server log file");
        // FLEET_SERVER_BIN: another build of the server (e.g. main's, for a
        // before/after comparison in the same run).
        let bin = std::env::var_os("FLEET_SERVER_BIN").unwrap_or_else(|| BIN.into());
        let mut command = Command::new(bin);
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            // Warnings and errors only: they are what this bench looks for.
            .env("RUST_LOG", "warn")
            .env_remove("FIELDBOOK_DATA_DIR")
            .env_remove("FIELDBOOK_DATABASE_URL")
            .env_remove("FIELDBOOK_BLOB_STORE")
            .env_remove("FIELDBOOK_CONFIG")
            .stdout(Stdio::piped())
            .stderr(log_file.try_clone().expect("log file handle"));
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        if let Ok(args) = std::env::var("FLEET_SERVER_ARGS") {
            command.args(args.split_whitespace());
        }
        let mut child = command.spawn().expect("start fieldbook-server serve");
        let mut lines = BufReader::new(child.stdout.take().expect("server stdout"));
        let mut log_writer = log_file;
        let base = loop {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                panic!(
                    "the server exited before listening; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                break url.trim_end_matches('/').to_owned();
            }
            let _ = log_writer.write_all(line.as_bytes());
        };
        // Keep draining stdout into the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut rest = lines;
            let _ = std::io::copy(&mut rest, &mut log_writer);
        });
        ServeProcess { child, base, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Warning and error lines the server logged so far.
    fn complaints(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second of /proc's CPU times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// (parent pid, user + system ticks) of a process, from /proc/PID/stat.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// pid → CPU ticks of `root` and its direct children (PostgreSQL's backends).
fn tree_ticks(root: u32) -> HashMap<u32, u64> {
    let mut ticks = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((ppid, t)) = proc_stat(pid) {
            if pid == root || ppid == root {
                ticks.insert(pid, t);
            }
        }
    }
    ticks
}

/// CPU ticks of the processes a run involves, taken before and after it.
struct CpuSnapshot {
    servers: Vec<u64>,
    postgres: HashMap<u32, u64>,
    generator: u64,
}

impl CpuSnapshot {
    fn take(servers: &[ServeProcess], postmaster: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            servers: servers
                .iter()
                .map(|s| proc_stat(s.pid()).map_or(0, |(_, t)| t))
                .collect(),
            postgres: postmaster.map(tree_ticks).unwrap_or_default(),
            generator: proc_stat(std::process::id()).map_or(0, |(_, t)| t),
        }
    }

    /// Cores used over `wall` by (servers, postgres, generator).
    fn cores_since(&self, before: &CpuSnapshot, wall: Duration, tck: f64) -> (f64, f64, f64) {
        let cores = |ticks: u64| ticks as f64 / tck / wall.as_secs_f64();
        let servers: u64 = self
            .servers
            .iter()
            .zip(&before.servers)
            .map(|(a, b)| a.saturating_sub(*b))
            .sum();
        let postgres: u64 = self
            .postgres
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        (
            cores(servers),
            cores(postgres),
            cores(self.generator.saturating_sub(before.generator)),
        )
    }
}

/// Samples, four times a second until dropped, the load average and the
/// server processes' thread count (all instances together), and keeps the
/// peaks: a storm shows in its peak, not in the value at the start or end.
struct PeakSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<(f64, usize)>>,
}

impl PeakSampler {
    fn start(servers: &[ServeProcess]) -> PeakSampler {
        let pids: Vec<u32> = servers.iter().map(ServeProcess::pid).collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let sampler = std::thread::spawn(move || {
            let mut peak = (f64::NAN, 0usize);
            loop {
                peak.0 = peak.0.max(load_average());
                peak.1 = peak.1.max(pids.iter().map(|&pid| thread_count(pid)).sum());
                if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        PeakSampler {
            stop,
            sampler: Some(sampler),
        }
    }

    /// (peak load average, peak server threads).
    fn finish(mut self) -> (f64, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler
            .take()
            .and_then(|s| s.join().ok())
            .unwrap_or((f64::NAN, 0))
    }
}

fn thread_count(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

// ---------------------------------------------------------------- the world

/// Seeds the demo world with the test kit's fast password parameters (the
/// server verifies with the parameters stored in each hash).
fn seed_world(storage: &Storage, demo: &DemoData) {
    seed::import_demo(storage, PasswordHashing::insecure_fast_for_tests(), demo)
        .expect("seed the demo world");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a data dir copy");
    for entry in std::fs::read_dir(from).expect("read the seeded data dir") {
        let entry = entry.expect("data dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a data dir file");
        }
    }
}

async fn pg_client(pg: &ThrowawayPostgres, database: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&pg.connection_string(database), tokio_postgres::NoTls)
            .await
            .expect("connect to the benchmark cluster");
    tokio::spawn(connection);
    client
}

/// A fresh database holding the seeded world (a copy of the template).
async fn fresh_pg_database(pg: &ThrowawayPostgres, name: &str) -> String {
    let admin = pg_client(pg, "postgres").await;
    // The seeding storage's connections close in the background: retry
    // while the template is still in use.
    let mut last = None;
    for _ in 0..50 {
        match admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE fleet_world"))
            .await
        {
            Ok(()) => return pg.url(name),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("cannot copy the seeded database: {last:?}");
}

// ---------------------------------------------------------------- baselines

#[derive(Debug, Clone, Copy)]
struct Baseline {
    pgbench_tps: Option<f64>,
    sqlite_rows_per_sec: f64,
    load: f64,
}

/// pgbench with 16 clients (the server's pool), each transaction one INSERT
/// of a row shaped like a change (uuid, ~600 bytes of JSON-sized text).
async fn pgbench_inserts(pg: &ThrowawayPostgres, scratch: &Path) -> f64 {
    let client = pg_client(pg, "fleet_baseline").await;
    client
        .batch_execute(
            "DROP TABLE IF EXISTS baseline_rows;
             CREATE TABLE baseline_rows (id bigserial PRIMARY KEY, team_id uuid NOT NULL, body text NOT NULL);",
        )
        .await
        .expect("create the baseline table");
    let script = scratch.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO baseline_rows (team_id, body) VALUES (gen_random_uuid(), repeat('x', 600));\n",
    )
    .expect("write the pgbench script");
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-h",
            "127.0.0.1",
            "-U",
            fieldbook_testkit::POSTGRES_USER,
        ])
        .args(["-p", &pg.port().to_string()])
        .args(["-c", &POOL_CONNECTIONS.to_string(), "-j", "2"])
        .args(["-T", &BASELINE_SECONDS.to_string(), "-f"])
        .arg(&script)
        .arg("fleet_baseline")
        .output()
        .expect("run pgbench (apt-get install postgresql-client)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {text}"))
}

/// One INSERT per transaction on a WAL, synchronous=FULL file (the server's
/// settings), for a few seconds: SQLite's single-writer commit rate here.
fn sqlite_inserts(scratch: &Path) -> f64 {
    let path = scratch.join("baseline.sqlite3");
    let _ = std::fs::remove_file(&path);
    let conn = rusqlite::Connection::open(&path).expect("open the baseline database");
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE baseline_rows (id INTEGER PRIMARY KEY, team_id TEXT NOT NULL, body TEXT NOT NULL);",
    )
    .unwrap();
    let body = "x".repeat(600);
    let mut insert = conn
        .prepare("INSERT INTO baseline_rows (team_id, body) VALUES (?1, ?2)")
        .unwrap();
    let started = Instant::now();
    let mut rows = 0u64;
    while started.elapsed() < Duration::from_secs(u64::from(BASELINE_SECONDS)) {
        insert
            .execute(rusqlite::params![Uuid::new_v4().to_string(), body])
            .unwrap();
        rows += 1;
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------- devices

#[derive(Debug, Clone)]
struct Job {
    id: Uuid,
    status: InstallationStatus,
    customer_confirmed: bool,
    demo_completed: bool,
}

/// One technician's laptop.
struct Device {
    username: String,
    password: String,
    user_id: Uuid,
    team: Uuid,
    /// Index of this device among the benchmark's devices of its team.
    place_in_team: usize,
    devices_in_team: usize,
    id: Uuid,
    client: reqwest::Client,
    base: String,
    token: String,
    next_seq: u64,
    cursor: u64,
    jobs: Vec<Job>,
}

/// The photo one cycle uploads, made before the clock starts.
struct Photo {
    bytes: Vec<u8>,
    sha256: Sha256Hex,
    chunk_checksum: String,
}

impl Photo {
    fn random(len: usize, seed: u64) -> Photo {
        let mut bytes = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
        // A JPEG's first bytes, so nothing that sniffs the type trips over it.
        bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
        let digest = Sha256::digest(&bytes);
        Photo {
            sha256: Sha256Hex::digest(&bytes),
            chunk_checksum: format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ),
            bytes,
        }
    }
}

fn is_startable(status: InstallationStatus) -> bool {
    fieldbook_domain::lifecycle::start_needs_override(status).is_some()
}

/// Technicians spread evenly over the world: device i is technician
/// floor(i × technicians / n), so 50 devices sit in 50 different teams.
fn pick_devices(demo: &DemoData, n: usize, bases: &[String]) -> Vec<Device> {
    let technicians: Vec<_> = demo.technicians().collect();
    let team_of: HashMap<Uuid, Uuid> = demo
        .teams
        .iter()
        .flat_map(|t| t.member_ids.iter().map(move |m| (*m, t.id)))
        .collect();
    let mut devices: Vec<Device> = (0..n)
        .map(|i| {
            let tech = technicians[i * technicians.len() / n];
            Device {
                username: tech.user.username.clone(),
                password: tech.password.clone(),
                user_id: tech.user.id,
                team: team_of[&tech.user.id],
                place_in_team: 0,
                devices_in_team: 0,
                id: Uuid::new_v4(),
                client: reqwest::Client::builder()
                    .timeout(REQUEST_TIMEOUT)
                    .build()
                    .expect("http client"),
                base: bases[i % bases.len()].clone(),
                token: String::new(),
                next_seq: 1,
                cursor: 0,
                jobs: Vec::new(),
            }
        })
        .collect();
    let mut per_team: HashMap<Uuid, usize> = HashMap::new();
    for d in &mut devices {
        let count = per_team.entry(d.team).or_default();
        d.place_in_team = *count;
        *count += 1;
    }
    for d in &mut devices {
        d.devices_in_team = per_team[&d.team];
    }
    devices
}

fn api(base: &str, path: &str) -> String {
    format!("{base}{}{path}", fieldbook_protocol::API_PREFIX)
}

async fn login(device: &mut Device) {
    let response = device
        .client
        .post(api(&device.base, "/auth/login"))
        .json(&LoginRequest {
            username: device.username.clone(),
            password: device.password.clone(),
        })
        .send()
        .await
        .expect("login request");
    let status = response.status();
    assert!(
        status.is_success(),
        "login of {} failed: {status} {}",
        device.username,
        response.text().await.unwrap_or_default()
    );
    let login: LoginResponse = response.json().await.expect("login response");
    device.token = login.token;
}

/// What a failed response says, for the failure table.
async fn refusal(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let code = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("code")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{} {code}", status.as_u16()).trim().to_owned()
}

/// A failed request: counted in the samples already; what the server
/// asked to wait before trying again (`Retry-After` of a `503`).
struct Failed {
    retry_after: Option<Duration>,
}

/// The response when it has the `expected` status; otherwise the answer is
/// counted for `kind`: a `503` with `Retry-After` as asked to wait, anything
/// else (status and code, or the transport error) as a failure.
async fn expect_status(
    sent: Result<reqwest::Response, reqwest::Error>,
    expected: reqwest::StatusCode,
    kind: Kind,
    samples: &mut Samples,
) -> Result<reqwest::Response, Failed> {
    match sent {
        Ok(r) if r.status() == expected => Ok(r),
        Ok(r) => {
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .map(Duration::from_secs);
            let asked_to_wait =
                retry_after.is_some() && r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE;
            let what = refusal(r).await;
            if asked_to_wait {
                samples.asked_to_wait(kind, what);
            } else {
                samples.fail(kind, what);
            }
            Err(Failed { retry_after })
        }
        Err(e) => {
            samples.fail(kind, transport(&e));
            Err(Failed { retry_after: None })
        }
    }
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection refused or reset".into()
    } else {
        format!("transport: {e}")
    }
}

/// Pulls from the device's cursor until `has_more` is false. On the first
/// pull, collects the team's jobs this device will start (its share of the
/// startable ones, so team-mates never start the same job).
async fn pull(device: &mut Device, kind: Kind, samples: &mut Samples) -> Result<(), Failed> {
    let mut latest: BTreeMap<Uuid, (u64, Job)> = BTreeMap::new();
    // Jobs whose primary team is the device's: a job with a backup team is
    // in two teams' scopes, and two devices starting it is a `conflict`.
    let mut own_team_jobs: HashSet<Uuid> = HashSet::new();
    loop {
        let started = Instant::now();
        let response = device
            .client
            .get(api(&device.base, "/sync/pull"))
            .query(&[
                ("cursor", device.cursor),
                ("limit", u64::from(MAX_PULL_LIMIT)),
            ])
            .header(fieldbook_protocol::DEVICE_HEADER, device.id.to_string())
            .bearer_auth(&device.token)
            .send()
            .await;
        let response = expect_status(response, reqwest::StatusCode::OK, kind, samples).await?;
        let page: PullPage = match response.json().await {
            Ok(p) => p,
            Err(e) => {
                samples.fail(kind, transport(&e));
                return Err(Failed { retry_after: None });
            }
        };
        samples.record(kind, started.elapsed());
        if kind == Kind::FirstPullPage {
            own_team_jobs.extend(
                page.assignments
                    .iter()
                    .filter(|a| a.record.is_primary && a.record.team_id == device.team)
                    .map(|a| a.record.installation_id),
            );
            for v in &page.installations {
                let job = Job {
                    id: v.record.id,
                    status: v.record.status,
                    customer_confirmed: v.record.customer_confirmed,
                    demo_completed: v.record.demo_completed,
                };
                let newer =
                    !matches!(latest.get(&job.id), Some((version, _)) if *version > v.version);
                if newer {
                    latest.insert(job.id, (v.version, job));
                }
            }
        }
        device.cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    if kind == Kind::FirstPullPage {
        device.jobs = latest
            .into_values()
            .map(|(_, job)| job)
            .filter(|job| is_startable(job.status) && own_team_jobs.contains(&job.id))
            .enumerate()
            .filter(|(i, _)| i % device.devices_in_team == device.place_in_team)
            .map(|(_, job)| job)
            .collect();
    }
    Ok(())
}

fn envelopes(device: &mut Device, mutations: Vec<Mutation>) -> Vec<MutationEnvelope> {
    mutations
        .into_iter()
        .map(|mutation| {
            let seq = device.next_seq;
            device.next_seq += 1;
            MutationEnvelope {
                mutation_id: Uuid::new_v4(),
                device_id: device.id,
                device_seq: seq,
                base_version: None,
                mutation,
            }
        })
        .collect()
}

/// The cycle's push: start the job and attach the photo.
fn push_request(device: &mut Device, job: &Job, photo: &Photo) -> PushRequest {
    let now = Utc::now();
    let needs_override =
        fieldbook_domain::lifecycle::start_needs_override(job.status) == Some(true);
    let mutations = vec![
        Mutation::InstallationStart {
            installation_id: job.id,
            expected_from: job.status,
            override_reason: needs_override.then(|| "Customer asked us to start early".into()),
            at: now,
        },
        Mutation::InstallationSetFlags {
            installation_id: job.id,
            customer_confirmed: Some(true),
            demo_completed: None,
            base_customer_confirmed: job.customer_confirmed,
            base_demo_completed: job.demo_completed,
        },
        Mutation::MediaAttach {
            media: InstallationMedia {
                id: Uuid::new_v4(),
                installation_id: job.id,
                media_type: MediaType::Photo,
                file: BlobRef {
                    sha256: photo.sha256.clone(),
                    size: photo.bytes.len() as u64,
                    mime: "image/jpeg".into(),
                },
                caption: "Charger on the garage wall".into(),
                uploaded_by: device.user_id,
                uploaded_at: now,
            },
        },
    ];
    PushRequest {
        mutations: envelopes(device, mutations),
    }
}

/// Sends `request`; sending the same one again after a refusal is safe
/// (mutation ids make a push idempotent).
async fn push(device: &Device, request: &PushRequest, samples: &mut Samples) -> Result<(), Failed> {
    let started = Instant::now();
    let response = device
        .client
        .post(api(&device.base, "/sync/push"))
        .header(fieldbook_protocol::DEVICE_HEADER, device.id.to_string())
        .bearer_auth(&device.token)
        .json(request)
        .send()
        .await;
    let response = expect_status(response, reqwest::StatusCode::OK, Kind::Push, samples).await?;
    let answer: PushResponse = match response.json().await {
        Ok(a) => a,
        Err(e) => {
            samples.fail(Kind::Push, transport(&e));
            return Err(Failed { retry_after: None });
        }
    };
    samples.record(Kind::Push, started.elapsed());
    for result in answer.results {
        let label = match result.outcome {
            MutationOutcome::Applied { .. } => continue,
            MutationOutcome::Rejected { code, .. } => format!("rejected {code:?}"),
            other => format!("{other:?}").chars().take(60).collect(),
        };
        *samples.not_applied.entry(label).or_default() += 1;
    }
    Ok(())
}

/// tus creation then one PATCH, with the headers the device's uploader sends
/// (crates/sync/src/blobs/tus.rs).
async fn upload(device: &Device, photo: &Photo, samples: &mut Samples) -> Result<(), Failed> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let metadata = format!(
        "sha256 {},mime {}",
        b64.encode(photo.sha256.as_str()),
        b64.encode("image/jpeg")
    );
    let started = Instant::now();
    let created = device
        .client
        .post(api(&device.base, "/blobs"))
        .bearer_auth(&device.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", photo.bytes.len())
        .header("upload-metadata", metadata)
        .send()
        .await;
    let created = expect_status(
        created,
        reqwest::StatusCode::CREATED,
        Kind::TusCreate,
        samples,
    )
    .await?;
    let location = match created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
    {
        Some(l) => l.to_owned(),
        None => {
            samples.fail(Kind::TusCreate, "201 without Location".into());
            return Err(Failed { retry_after: None });
        }
    };
    samples.record(Kind::TusCreate, started.elapsed());
    let target = if location.starts_with("http") {
        location
    } else {
        format!("{}{location}", device.base)
    };
    let len = photo.bytes.len();
    let started = Instant::now();
    let patched = device
        .client
        .patch(target)
        .bearer_auth(&device.token)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", 0)
        .header("upload-checksum", &photo.chunk_checksum)
        .body(photo.bytes.clone())
        .send()
        .await;
    let patched = expect_status(
        patched,
        reqwest::StatusCode::NO_CONTENT,
        Kind::TusPatch,
        samples,
    )
    .await?;
    let offset = patched
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if offset != Some(len) {
        samples.fail(Kind::TusPatch, format!("204 with offset {offset:?}"));
        return Err(Failed { retry_after: None });
    }
    samples.record(Kind::TusPatch, started.elapsed());
    Ok(())
}

/// Runs `$step` (giving `Result<(), Failed>`) again while the server asks
/// the device to wait and retry, as the device's sync loop does: after the
/// `Retry-After` plus up to half again as jitter. Evaluates to whether the
/// step finally succeeded. `$or_wait` is the pause after a failure that
/// asked for none: `None` gives up at once.
macro_rules! retried_as_asked {
    ($step:expr, $or_wait:expr) => {{
        let mut done = false;
        for _ in 0..ATTEMPTS {
            match $step.await {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(Failed { retry_after }) => match retry_after.or($or_wait) {
                    Some(wait) => wait_with_jitter(wait).await,
                    None => break,
                },
            }
        }
        done
    }};
}

async fn wait_with_jitter(wait: Duration) {
    let jitter = rand::random::<u64>() % (wait.as_millis() as u64 / 2 + 1);
    tokio::time::sleep(wait + Duration::from_millis(jitter)).await;
}

/// One sync cycle of a device: pull what changed, push a start and a photo
/// attachment, upload the photo. Each step is retried when the server asks
/// (a shed pull, a lost write conflict); the cycle's latency includes those
/// waits, as a technician would see them.
async fn cycle(device: &mut Device, run: usize, photo: Photo) -> Samples {
    let mut samples = Samples::default();
    let started = Instant::now();
    let job = device.jobs[run].clone();
    let request = push_request(device, &job, &photo);
    let completed = retried_as_asked!(pull(device, Kind::PullPage, &mut samples), None)
        && retried_as_asked!(push(device, &request, &mut samples), None)
        && retried_as_asked!(upload(device, &photo, &mut samples), None);
    if completed {
        samples.record(Kind::Cycle, started.elapsed());
        samples.cycles_completed = 1;
    }
    samples
}

/// Runs `work` on every device at once (all start together) and returns the
/// merged samples, the devices and the wall time from start to the last end.
async fn all_at_once<F, Fut>(devices: Vec<Device>, work: F) -> (Vec<Device>, Samples, Duration)
where
    F: Fn(Device, usize) -> Fut,
    Fut: std::future::Future<Output = (Device, Samples)> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(devices.len() + 1));
    let mut tasks = Vec::with_capacity(devices.len());
    for (i, device) in devices.into_iter().enumerate() {
        let barrier = Arc::clone(&barrier);
        let fut = work(device, i);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut devices = Vec::with_capacity(tasks.len());
    let mut samples = Samples::default();
    for task in tasks {
        let (device, s) = task.await.expect("device task");
        devices.push(device);
        samples.merge(s);
    }
    (devices, samples, started.elapsed())
}

// ---------------------------------------------------------------- one setup

struct RunResult {
    samples: Samples,
    wall: Duration,
    /// Peak load average over the run.
    load: f64,
    /// Peak thread count of the server processes over the run.
    threads: usize,
    cores: (f64, f64, f64),
}

struct SetupResult {
    setup: Setup,
    devices: usize,
    first_pull: RunResult,
    runs: Vec<RunResult>,
    complaints: Vec<String>,
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn describe(label: &str, r: &RunResult) -> String {
    let mut line = format!(
        "  {label}: {} cycles in {:.2} s = {:.1} cycles/s, {:.0} req/s",
        r.samples.cycles_completed,
        r.wall.as_secs_f64(),
        r.samples.cycles_completed as f64 / r.wall.as_secs_f64(),
        r.samples.requests as f64 / r.wall.as_secs_f64()
    );
    for kind in [
        Kind::FirstPullPage,
        Kind::PullPage,
        Kind::Push,
        Kind::TusCreate,
        Kind::TusPatch,
        Kind::Cycle,
    ] {
        if let Some((p50, p99)) = r.samples.percentiles(kind) {
            let _ = write!(line, "; {} p50 {} p99 {} ms", kind.name(), ms(p50), ms(p99));
        }
    }
    let _ = write!(
        line,
        "; failures {}; asked to wait {}; CPU cores: server {:.2}, postgres {:.2}, generator {:.2}; peak load {:.2}; peak server threads {}",
        r.samples.failure_count(),
        r.samples.asked_to_wait_count(),
        r.cores.0,
        r.cores.1,
        r.cores.2,
        r.load,
        r.threads
    );
    for ((kind, what), n) in &r.samples.failures {
        let _ = write!(line, "\n    FAILED {n} × {}: {what}", kind.name());
    }
    for ((kind, what), n) in &r.samples.asked_to_wait {
        let _ = write!(line, "\n    asked to wait {n} × {}: {what}", kind.name());
    }
    for (what, n) in &r.samples.not_applied {
        let _ = write!(line, "\n    not applied {n} × {what}");
    }
    line
}

#[allow(clippy::too_many_arguments)]
async fn run_setup(
    setup: Setup,
    n: usize,
    settings: &Settings,
    demo: &DemoData,
    pg: Option<&ThrowawayPostgres>,
    sqlite_world: &Path,
    scratch: &Path,
    tck: f64,
) -> SetupResult {
    let dir = scratch.join(format!("{setup:?}-{n}"));
    let data_dir = dir.join("data");
    let database_url = if setup.on_postgres() {
        let pg = pg.expect("PostgreSQL setups need the cluster");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        Some(fresh_pg_database(pg, &format!("fleet_{setup:?}_{n}").to_lowercase()).await)
    } else {
        copy_dir(sqlite_world, &data_dir);
        None
    };
    // Both instances share the data dir, so blobs land in one directory
    // (as the test kit's `another_instance` does on one machine).
    let servers: Vec<ServeProcess> = (0..setup.instances())
        .map(|i| {
            ServeProcess::start(
                &data_dir,
                database_url.as_deref(),
                dir.join(format!("server-{i}.log")),
            )
        })
        .collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let postmaster = if setup.on_postgres() {
        pg.and_then(ThrowawayPostgres::postmaster_pid)
    } else {
        None
    };

    // Log in (not timed), eight at a time.
    let mut devices = pick_devices(demo, n, &bases);
    let logged_in = Instant::now();
    let mut done = Vec::with_capacity(n);
    while !devices.is_empty() {
        let batch: Vec<Device> = devices.drain(..devices.len().min(8)).collect();
        let handles: Vec<_> = batch
            .into_iter()
            .map(|mut d| {
                tokio::spawn(async move {
                    login(&mut d).await;
                    d
                })
            })
            .collect();
        for h in handles {
            done.push(h.await.expect("login task"));
        }
    }
    let devices = done;
    println!(
        "{} with {n} devices: logged in in {:.1} s (not measured)",
        setup.name(),
        logged_in.elapsed().as_secs_f64()
    );

    // The first pull of every device at once: measured, once.
    let before = CpuSnapshot::take(&servers, postmaster);
    let peaks = PeakSampler::start(&servers);
    let (devices, samples, wall) = all_at_once(devices, |mut d, _| async move {
        let mut s = Samples::default();
        let started = Instant::now();
        // A device retries a failed first pull (503 `busy`, or a timeout
        // under load) from the start, as the sync loop does; a failure that
        // asked for no wait is retried after 1 s, and stays counted.
        let pulled = retried_as_asked!(
            {
                d.cursor = 0;
                pull(&mut d, Kind::FirstPullPage, &mut s)
            },
            Some(Duration::from_secs(1))
        );
        if pulled {
            s.record(Kind::Cycle, started.elapsed());
            s.cycles_completed = 1;
        }
        (d, s)
    })
    .await;
    let after = CpuSnapshot::take(&servers, postmaster);
    let (load, threads) = peaks.finish();
    let first_pull = RunResult {
        samples,
        wall,
        load,
        threads,
        cores: after.cores_since(&before, wall, tck),
    };
    println!(
        "{}",
        describe("first pull (all devices at once)", &first_pull)
    );
    let short: Vec<&Device> = devices
        .iter()
        .filter(|d| d.jobs.len() < settings.runs)
        .collect();
    assert!(
        short.is_empty(),
        "{} device(s) have fewer than {} startable jobs (e.g. {} has {}): raise FLEET_INSTALLATIONS",
        short.len(),
        settings.runs,
        short.first().map_or("", |d| d.username.as_str()),
        short.first().map_or(0, |d| d.jobs.len())
    );

    let mut devices = devices;
    let mut runs = Vec::with_capacity(settings.runs);
    for run in 0..settings.runs {
        let photos: Vec<Photo> = (0..n)
            .map(|i| {
                // 80–120 % of the nominal size, unique bytes per device and run.
                let len = settings.photo_bytes * (80 + (i * 7 + run * 13) % 41) / 100;
                Photo::random(len, (run * 100_000 + i) as u64 + 1)
            })
            .collect();
        let photos = Arc::new(std::sync::Mutex::new(
            photos.into_iter().map(Some).collect::<Vec<_>>(),
        ));
        let before = CpuSnapshot::take(&servers, postmaster);
        let peaks = PeakSampler::start(&servers);
        let (back, samples, wall) = all_at_once(devices, |mut d, i| {
            let photo = photos.lock().unwrap()[i]
                .take()
                .expect("one photo per device");
            async move {
                let s = cycle(&mut d, run, photo).await;
                (d, s)
            }
        })
        .await;
        devices = back;
        let after = CpuSnapshot::take(&servers, postmaster);
        let (load, threads) = peaks.finish();
        let result = RunResult {
            samples,
            wall,
            load,
            threads,
            cores: after.cores_since(&before, wall, tck),
        };
        println!(
            "{}",
            describe(&format!("run {}/{}", run + 1, settings.runs), &result)
        );
        runs.push(result);
    }
    let complaints: Vec<String> = servers.iter().flat_map(ServeProcess::complaints).collect();
    if !complaints.is_empty() {
        println!(
            "  the server logged {} warning/error line(s); the first:",
            complaints.len()
        );
        for line in complaints.iter().take(5) {
            println!("    {line}");
        }
    }
    drop(servers);
    if !setup.on_postgres() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    SetupResult {
        setup,
        devices: n,
        first_pull,
        runs,
        complaints,
    }
}

// ---------------------------------------------------------------- the report

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn best_max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

fn best_min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::min)
}

fn print_report(results: &[SetupResult], baselines: &[(usize, Baseline)], runs: usize) {
    println!("\n## Baselines (same run; one per device count, before its setups)\n");
    println!("| before | pgbench INSERT tx/s ({POOL_CONNECTIONS} clients) | SQLite raw INSERT tx/s (WAL, FULL) | load |");
    println!("|---|---|---|---|");
    for (n, b) in baselines {
        println!(
            "| {n} devices | {} | {:.0} | {:.2} |",
            b.pgbench_tps.map_or("-".into(), |t| format!("{t:.0}")),
            b.sqlite_rows_per_sec,
            b.load
        );
    }
    let pgbench: Vec<f64> = baselines
        .iter()
        .filter_map(|(_, b)| b.pgbench_tps)
        .collect();
    let pgbench_median = median(pgbench);

    println!(
        "\n## Sync cycles ({runs} runs each; best / median; latencies in ms; ratio = cycles/s ÷ median pgbench INSERT tx/s {pgbench_median:.0})\n"
    );
    println!("| setup | devices | cycles/s | req/s (median) | cycle p50 | cycle p99 | pull p50/p99 | push p50/p99 | tus create p50/p99 | tus patch p50/p99 | failed requests | asked to wait | ratio vs pgbench | CPU cores server/pg/gen (median) | peak load | peak server threads |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let rate: Vec<f64> = r
            .runs
            .iter()
            .map(|x| x.samples.cycles_completed as f64 / x.wall.as_secs_f64())
            .collect();
        let reqs: Vec<f64> = r
            .runs
            .iter()
            .map(|x| x.samples.requests as f64 / x.wall.as_secs_f64())
            .collect();
        let pct = |kind: Kind, which: usize| -> Vec<f64> {
            r.runs
                .iter()
                .filter_map(|x| x.samples.percentiles(kind))
                .map(|(p50, p99)| (if which == 50 { p50 } else { p99 }).as_secs_f64() * 1000.0)
                .collect()
        };
        let pair = |kind: Kind| {
            format!(
                "{:.0} / {:.0}",
                median(pct(kind, 50)),
                median(pct(kind, 99))
            )
        };
        let failed: usize = r.runs.iter().map(|x| x.samples.failure_count()).sum();
        let waited: usize = r.runs.iter().map(|x| x.samples.asked_to_wait_count()).sum();
        let total: usize = r.runs.iter().map(|x| x.samples.requests).sum();
        let loads: Vec<f64> = r.runs.iter().map(|x| x.load).collect();
        let threads = r.runs.iter().map(|x| x.threads).max().unwrap_or(0);
        let core =
            |f: fn(&(f64, f64, f64)) -> f64| median(r.runs.iter().map(|x| f(&x.cores)).collect());
        println!(
            "| {} | {} | {:.1} / {:.1} | {:.0} | {:.0} / {:.0} | {:.0} / {:.0} | {} | {} | {} | {} | {failed} of {total} | {waited} | {:.4} / {:.4} | {:.2} / {:.2} / {:.2} | {:.1}–{:.1} | {threads} |",
            r.setup.name(),
            r.devices,
            best_max(&rate),
            median(rate.clone()),
            median(reqs),
            best_min(&pct(Kind::Cycle, 50)),
            median(pct(Kind::Cycle, 50)),
            best_min(&pct(Kind::Cycle, 99)),
            median(pct(Kind::Cycle, 99)),
            pair(Kind::PullPage),
            pair(Kind::Push),
            pair(Kind::TusCreate),
            pair(Kind::TusPatch),
            best_max(&rate) / pgbench_median,
            median(rate) / pgbench_median,
            core(|c| c.0),
            core(|c| c.1),
            core(|c| c.2),
            best_min(&loads),
            best_max(&loads),
        );
    }

    println!("\n## First pull of the team's scope, every device at once (one run each)\n");
    println!("| setup | devices | wall s | device served after p50 / p99 s | page p50 / p99 ms | failed requests | asked to wait | CPU cores server/pg/gen | peak load | peak server threads |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let f = &r.first_pull;
        let (p50, p99) = f
            .samples
            .percentiles(Kind::FirstPullPage)
            .unwrap_or_default();
        let (served_p50, served_p99) = f.samples.percentiles(Kind::Cycle).unwrap_or_default();
        println!(
            "| {} | {} | {:.2} | {:.1} / {:.1} | {} / {} | {} of {} | {} | {:.2} / {:.2} / {:.2} | {:.1} | {} |",
            r.setup.name(),
            r.devices,
            f.wall.as_secs_f64(),
            served_p50.as_secs_f64(),
            served_p99.as_secs_f64(),
            ms(p50),
            ms(p99),
            f.samples.failure_count(),
            f.samples.requests,
            f.samples.asked_to_wait_count(),
            f.cores.0,
            f.cores.1,
            f.cores.2,
            f.load,
            f.threads
        );
    }
    let complaints: usize = results.iter().map(|r| r.complaints.len()).sum();
    println!("\nServer warnings/errors logged over the whole run: {complaints}");
}

fn main() {
    let settings = Settings::from_env();
    let tck = clock_ticks();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let scratch = tempfile::Builder::new()
        .prefix("fieldbook-fleet-")
        .tempdir()
        .expect("scratch dir");
    println!(
        "Fleet benchmark: devices {:?}, {} runs, setups {:?}, world {} installations over {} teams, photos ~{} KB; {} CPU(s), load {:.2}",
        settings.devices,
        settings.runs,
        settings.setups,
        settings.installations,
        settings.teams,
        settings.photo_bytes / 1024,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    let demo = generate(&DemoConfig::new(
        settings.installations,
        settings.teams,
        Utc::now().date_naive(),
    ));
    let seeded = Instant::now();
    let sqlite_world = scratch.path().join("sqlite-world");
    if settings.setups.contains(&Setup::Sqlite) {
        let storage = Storage::open(&sqlite_world).expect("open the SQLite world");
        seed_world(&storage, &demo);
    }
    let pg = if settings.setups.iter().any(|s| s.on_postgres()) {
        let pg = ThrowawayPostgres::start_durable()
            .unwrap_or_else(|e| panic!("the PostgreSQL setups need a cluster: {e:?}"));
        pg.create_database("fleet_world")
            .expect("create fleet_world");
        pg.create_database("fleet_baseline")
            .expect("create fleet_baseline");
        let storage = Storage::open_url(&DatabaseUrl::Postgres(pg.url("fleet_world")))
            .expect("open the PostgreSQL world");
        seed_world(&storage, &demo);
        drop(storage);
        Some(pg)
    } else {
        None
    };
    println!(
        "Seeded the world in {:.1} s (fsync on, as in production)",
        seeded.elapsed().as_secs_f64()
    );

    let mut results = Vec::new();
    let mut baselines = Vec::new();
    for &n in &settings.devices {
        let load = load_average();
        let pgbench_tps = pg
            .as_ref()
            .map(|pg| runtime.block_on(pgbench_inserts(pg, scratch.path())));
        let baseline = Baseline {
            pgbench_tps,
            sqlite_rows_per_sec: sqlite_inserts(scratch.path()),
            load: load.max(load_average()),
        };
        println!(
            "Baseline before {n} devices: pgbench {} INSERT tx/s, SQLite raw {:.0} INSERT tx/s; load {:.2}",
            pgbench_tps.map_or("-".into(), |t| format!("{t:.0}")),
            baseline.sqlite_rows_per_sec,
            baseline.load
        );
        baselines.push((n, baseline));
        for &setup in &settings.setups {
            results.push(runtime.block_on(run_setup(
                setup,
                n,
                &settings,
                &demo,
                pg.as_ref(),
                &sqlite_world,
                scratch.path(),
                tck,
            )));
        }
    }
    print_report(&results, &baselines, settings.runs);
}
