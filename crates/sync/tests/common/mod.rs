//! The sync engine's integration harness: the real server on 127.0.0.1
//! (port 0, picked once) over a temp data dir, which can be stopped and
//! brought back on the SAME address and data (the network pulled and
//! plugged back), Central Ops acting through the server lib, devices (a
//! store and an engine in their own temp dir) and readers of the server's
//! state.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::Mutation;
use fieldbook_domain::{
    Installation, InstallationMedia, InstallationReport, InstallationStatus, ReportDraft, Role,
    Sha256Hex, SignaturePoint, SignatureStroke, TimeSlot,
};
use fieldbook_protocol::{
    AcceptHeldWorkRequest, AcceptedHeldWork, AssignRequest, CreateInstallationRequest,
    CreateTeamRequest, CreateUserRequest, HeldWork, HeldWorkQuery, HeldWorkStatus,
    KeepHeldWorkRequest, LeadInput, MutationEnvelope, PushRequest, PushResponse, ReportEvent,
    SurveyInput, TransitionRequest,
};
use fieldbook_server::caller::Caller;
use fieldbook_server::{admin, AppState, PasswordHashing, RunningServer, ServerConfig};
use fieldbook_store::{SignatureInput, Store};
use fieldbook_sync::{SharedStore, SyncEngine, SyncOptions, SyncStatus};
use tempfile::TempDir;
use uuid::Uuid;

/// Every test user's password.
pub const PASSWORD: &str = "engine-test-password";

/// The central server under test.
pub struct TestServer {
    config: ServerConfig,
    pub state: AppState,
    running: Option<RunningServer>,
    addr: SocketAddr,
    /// The Central Ops user that creates and assigns installations.
    pub ops_id: Uuid,
    // Last: removed after the server stopped.
    _dir: TempDir,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("up", &self.running.is_some())
            .finish()
    }
}

fn ops_failed(what: &str, e: fieldbook_server::error::ApiError) -> ! {
    panic!("{what}: {e}")
}

impl TestServer {
    /// A server with fast (test-only) password hashing and an ops user.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("server temp dir");
        let mut config = ServerConfig::new(dir.path().join("server"));
        config.password_hashing = PasswordHashing::insecure_fast_for_tests();
        // Blobs that arrive after their records are noticed quickly.
        config.blob_arrival_poll = Duration::from_millis(100);
        let state = AppState::open(config.clone()).expect("open server state");
        let running = fieldbook_server::start(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start server");
        let addr = running.addr;
        let mut server = TestServer {
            config,
            state,
            running: Some(running),
            addr,
            ops_id: Uuid::nil(),
            _dir: dir,
        };
        server.ops_id = server.add_user("ops", Role::Ops);
        server
    }

    /// `http://127.0.0.1:<port>`: the same for the server's whole life.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Stops listening (in-flight requests finish): to the devices, the
    /// network is gone. The data stays; ops can keep working on it.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            // A hung shutdown fails the test instead of hanging it.
            tokio::time::timeout(Duration::from_secs(20), running.shutdown())
                .await
                .expect("the server did not stop within 20 s")
                .expect("graceful shutdown");
        }
    }

    /// Serves the same data again on the same address. The port was free a
    /// moment ago; retried briefly in case the OS holds it a little longer.
    pub async fn resume(&mut self) {
        assert!(self.running.is_none(), "the server is already up");
        let mut last_error = None;
        for _ in 0..50 {
            match fieldbook_server::start(self.state.clone(), self.addr).await {
                Ok(running) => {
                    self.running = Some(running);
                    return;
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("cannot listen on {} again: {last_error:?}", self.addr);
    }

    /// A full restart: stop, reopen the data dir from disk, serve on the same
    /// address.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.state = AppState::open(self.config.clone()).expect("reopen server state");
        self.resume().await;
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    // ---- Central Ops, through the server lib --------------------------------

    pub fn add_user(&self, username: &str, role: Role) -> Uuid {
        let request = CreateUserRequest {
            username: username.into(),
            full_name: format!("{username} Tester"),
            role,
            password: PASSWORD.into(),
        };
        admin::create_user(
            &self.state.storage,
            self.state.config.password_hashing,
            &request,
        )
        .unwrap_or_else(|e| ops_failed("create user", e))
        .record
        .id
    }

    pub fn add_technician(&self, username: &str) -> Uuid {
        self.add_user(username, Role::Technician)
    }

    pub fn add_team(&self, name: &str, member_ids: &[Uuid]) -> Uuid {
        let request = CreateTeamRequest {
            name: name.into(),
            member_ids: member_ids.to_vec(),
        };
        admin::create_team(&self.state.storage, &request)
            .unwrap_or_else(|e| ops_failed("create team", e))
            .record
            .id
    }

    /// Ops plans an installation for `customer`.
    pub fn create_installation(&self, customer: &str) -> Uuid {
        let request = CreateInstallationRequest {
            lead: LeadInput {
                customer_name: customer.into(),
                phone: "+44 20 7946 0000".into(),
                email: "customer@example.com".into(),
                address_line1: "1 Test Street".into(),
                address_line2: String::new(),
                city: "London".into(),
                postcode: "N1 1AA".into(),
                latitude: None,
                longitude: None,
                installer_notes: "Side gate".into(),
            },
            survey: SurveyInput {
                approved_at: None,
                surveyor_notes: "Brick wall".into(),
                recommended_charger_model: "Zappi 7kW".into(),
                main_fuse_amps: 100,
                supply_capacity_kva: 23.0,
                cable_run_length_m: 12.5,
                photos_count: 3,
            },
            scheduled_date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            scheduled_time_slot: TimeSlot::Morning,
        };
        admin::create_installation(&self.state.storage, self.ops_id, &request)
            .unwrap_or_else(|e| ops_failed("create installation", e))
            .record
            .id
    }

    /// Ops assigns the installation to a team; returns the assignment id.
    pub fn assign(&self, installation: Uuid, team: Uuid) -> Uuid {
        let request = AssignRequest {
            team_id: team,
            is_primary: true,
        };
        admin::assign(&self.state.storage, installation, &request, self.ops_id)
            .unwrap_or_else(|e| ops_failed("assign", e))
            .record
            .id
    }

    /// An ops lifecycle move (cancel, reschedule, confirm, …).
    pub fn transition(
        &self,
        installation: Uuid,
        to: InstallationStatus,
        reason: &str,
    ) -> Result<Installation, fieldbook_server::error::ApiError> {
        let request = TransitionRequest {
            to,
            expected_from: None,
            reason: Some(reason.into()),
            scheduled_date: None,
            scheduled_time_slot: None,
        };
        admin::transition(&self.state.storage, installation, &request).map(|v| v.record)
    }

    /// Created, assigned to `team` and confirmed: ready to be started.
    pub fn confirmed_job(&self, team: Uuid, customer: &str) -> Uuid {
        let id = self.create_installation(customer);
        self.assign(id, team);
        self.transition(id, InstallationStatus::Confirmed, "customer confirmed")
            .unwrap_or_else(|e| ops_failed("confirm", e));
        id
    }

    /// Ops withdraws an assignment (the team's devices pull tombstones).
    pub fn withdraw(&self, assignment: Uuid) {
        admin::withdraw_assignment(&self.state.storage, assignment)
            .unwrap_or_else(|e| ops_failed("withdraw", e));
    }

    /// Ops removes a technician from a team.
    pub fn remove_member(&self, team: Uuid, user: Uuid) {
        admin::remove_team_member(&self.state.storage, team, user)
            .unwrap_or_else(|e| ops_failed("remove member", e));
    }

    /// Held work (for the review queue), oldest first.
    pub fn held_work(&self, status: Option<HeldWorkStatus>) -> Vec<HeldWork> {
        let query = HeldWorkQuery {
            status,
            installation_id: None,
        };
        fieldbook_server::held_work::list(&self.state.storage, &query)
            .unwrap_or_else(|e| ops_failed("list held work", e))
    }

    /// Ops accepts held work as the installation's report.
    pub fn accept_held(
        &self,
        id: Uuid,
        note: Option<&str>,
    ) -> Result<AcceptedHeldWork, fieldbook_server::error::ApiError> {
        let request = AcceptHeldWorkRequest {
            note: note.map(str::to_owned),
        };
        fieldbook_server::held_work::accept(&self.state.storage, id, self.ops_id, &request)
    }

    /// Ops keeps held work on record with a reason.
    pub fn keep_held(
        &self,
        id: Uuid,
        reason: &str,
    ) -> Result<HeldWork, fieldbook_server::error::ApiError> {
        let request = KeepHeldWorkRequest {
            reason: reason.into(),
        };
        fieldbook_server::held_work::keep(&self.state.storage, id, self.ops_id, &request)
    }

    /// Ops sends the installation's report back to the technician.
    pub fn send_back(
        &self,
        installation: Uuid,
        note: &str,
    ) -> Result<Installation, fieldbook_server::error::ApiError> {
        fieldbook_server::send_back::send_back(&self.state.storage, installation, self.ops_id, note)
            .map(|v| v.record)
    }

    /// Pushes `mutations` as `user` from `device` (a client the engine
    /// would never be: it sends ids it never pulled).
    pub fn push_as(&self, user: Uuid, device: Uuid, mutations: Vec<Mutation>) -> PushResponse {
        let (username, role, team_ids) = self
            .state
            .storage
            .read(|db| {
                let user = db.user(user)?.expect("user").record;
                let teams = db.team_ids_of(user.id)?;
                Ok::<_, fieldbook_server::storage::StorageError>((user.username, user.role, teams))
            })
            .expect("read caller");
        let caller = Caller {
            user_id: user,
            username,
            role,
            team_ids,
        };
        let request = PushRequest {
            mutations: mutations
                .into_iter()
                .enumerate()
                .map(|(i, mutation)| MutationEnvelope {
                    mutation_id: Uuid::new_v4(),
                    device_id: device,
                    device_seq: i as u64 + 1,
                    base_version: None,
                    mutation,
                })
                .collect(),
        };
        fieldbook_server::push::push(&self.state.storage, &caller, &request)
            .unwrap_or_else(|e| ops_failed("push", e))
    }

    // ---- what the server holds ---------------------------------------------

    pub fn report_events(&self, installation: Uuid) -> Vec<ReportEvent> {
        self.state
            .storage
            .read(|db| db.report_events(installation))
            .expect("read report events")
    }

    pub fn installation(&self, id: Uuid) -> Installation {
        self.state
            .storage
            .read(|db| db.installation(id))
            .expect("read installation")
            .expect("installation on the server")
            .record
    }

    pub fn report(&self, installation: Uuid) -> Option<InstallationReport> {
        self.state
            .storage
            .read(|db| db.report_of(installation))
            .expect("read report")
            .map(|(report, _)| report.record)
    }

    /// Rows of a SQL count on the server's database (read-only connection),
    /// for checks the server lib has no reader for (exactly-once counts).
    pub fn count(&self, sql: &str, param: &str) -> u64 {
        let conn = rusqlite::Connection::open_with_flags(
            self.config.data_dir.join("fieldbook.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open server database");
        conn.query_row(sql, [param], |r| r.get(0)).expect(sql)
    }

    /// Media rows of an installation on the server.
    pub fn media(&self, installation: Uuid) -> Vec<InstallationMedia> {
        let conn = rusqlite::Connection::open_with_flags(
            self.config.data_dir.join("fieldbook.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open server database");
        let mut stmt = conn
            .prepare("SELECT body FROM media WHERE installation_id = ?1")
            .unwrap();
        stmt.query_map([installation.to_string()], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|body| serde_json::from_str(&body.unwrap()).expect("media body"))
            .collect()
    }

    /// Mutations the server recorded from a device, any outcome.
    pub fn mutations_from(&self, device_id: Uuid) -> u64 {
        self.count(
            "SELECT count(*) FROM mutations WHERE device_id = ?1",
            &device_id.to_string(),
        )
    }

    /// The SHA-256 of the blob's bytes as stored on the server, if there.
    pub fn blob_digest(&self, sha256: &Sha256Hex) -> Option<Sha256Hex> {
        let path = self.state.blobs.path_of(sha256)?;
        Some(Sha256Hex::digest(&std::fs::read(path).ok()?))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Dropping the running server signals its shutdown; the temp dir
        // goes after it (field order).
        self.running.take();
    }
}

// ---- devices ----------------------------------------------------------------

/// A technician's computer: a store and an engine in their own data dir.
pub struct Device {
    pub engine: SyncEngine,
    pub store: SharedStore,
    pub dir: TempDir,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Fast loop settings for tests: syncs 150 ms after a change, probes at
/// most every 400 ms while offline.
pub fn test_options(data_dir: &Path) -> SyncOptions {
    let mut options = SyncOptions::new(data_dir);
    options.debounce = Duration::from_millis(150);
    options.max_backoff = Duration::from_millis(400);
    options.http_timeout = Duration::from_secs(10);
    options
}

impl Device {
    /// A fresh device (nobody signed in).
    pub fn new() -> Device {
        let dir = tempfile::tempdir().expect("device temp dir");
        Self::open_in(dir, test_options)
    }

    /// A device with adjusted options.
    pub fn with_options(adjust: impl FnOnce(&mut SyncOptions)) -> Device {
        let dir = tempfile::tempdir().expect("device temp dir");
        Self::open_in(dir, |path| {
            let mut options = test_options(path);
            adjust(&mut options);
            options
        })
    }

    fn open_in(dir: TempDir, options: impl FnOnce(&Path) -> SyncOptions) -> Device {
        let store = Store::open(dir.path()).expect("open store");
        let store: SharedStore = Arc::new(Mutex::new(store));
        let engine =
            SyncEngine::new(Arc::clone(&store), options(dir.path())).expect("create engine");
        Device { engine, store, dir }
    }

    /// A fresh device signed in as `username` (and synced once).
    pub async fn signed_in(server: &TestServer, username: &str) -> Device {
        let device = Device::new();
        device
            .engine
            .sign_in(&server.url(), username, PASSWORD)
            .await
            .expect("sign in");
        device.engine.sync_once().await.expect("first sync");
        device
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs `f` on the store (lock, act, unlock).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store.lock().unwrap())
    }

    pub fn installation(&self, id: Uuid) -> Installation {
        self.with_store(|s| s.get_installation(id).expect("installation on the device"))
            .installation
    }

    pub fn has_installation(&self, id: Uuid) -> bool {
        self.with_store(|s| s.get_installation(id).is_ok())
    }

    pub fn device_id(&self) -> Uuid {
        self.with_store(|s| s.device_id())
    }

    /// The token the engine saved (to revoke it from "elsewhere").
    pub fn saved_token(&self) -> Option<String> {
        std::fs::read_to_string(
            self.dir
                .path()
                .join(fieldbook_sync::credentials::TOKEN_FILE),
        )
        .ok()
    }

    // ---- technician actions (each followed by notify_local_change) --------

    pub fn start_job(&self, id: Uuid) {
        self.with_store(|s| s.start_installation(id, &StartRequest::default()))
            .expect("start job");
        self.engine.notify_local_change();
    }

    pub fn finish_job(&self, id: Uuid) {
        self.with_store(|s| s.finish_installation(id))
            .expect("finish job");
        self.engine.notify_local_change();
    }

    /// Fills the report, attaches `photos` real JPEGs, has the customer sign
    /// and submits; returns the photos' hashes and the signature's.
    pub fn complete_report(&self, id: Uuid, photos: u8) -> (Vec<Sha256Hex>, Sha256Hex) {
        let work = tempfile::tempdir().expect("photo dir");
        let mut hashes = Vec::new();
        for n in 0..photos {
            let path = write_jpeg(work.path(), &format!("photo-{n}.jpg"), n.wrapping_mul(37));
            let media = self
                .with_store(|s| s.attach_media(id, &path, &format!("Photo {n}")))
                .expect("attach photo");
            hashes.push(media.file.sha256);
        }
        let mut draft = ReportDraft::new(id, chrono::Utc::now());
        draft.charger_serial_number = "ZP-2026-000123".into();
        draft.charger_model = "Zappi 7kW".into();
        draft.installation_successful = Some(true);
        draft.demo_given = true;
        draft.general_notes = "Installed on the garage wall".into();
        self.with_store(|s| s.save_report_draft(&draft))
            .expect("save draft");
        let signed = self
            .with_store(|s| s.sign_report(id, &signature("Ada Customer")))
            .expect("sign");
        let signature_sha = signed
            .customer_signature
            .expect("signature on the draft")
            .png
            .sha256;
        self.with_store(|s| s.submit_report(id))
            .expect("submit report");
        self.engine.notify_local_change();
        (hashes, signature_sha)
    }

    pub fn pending_mutations(&self) -> u64 {
        self.with_store(|s| s.outbox_counts().unwrap().pending)
    }

    pub fn needs_attention(&self) -> Vec<fieldbook_store::OutboxEntry> {
        self.with_store(|s| s.needs_attention().unwrap())
    }
}

/// Waits until the engine's status satisfies `pred`, or panics after
/// `timeout` with the last status.
pub async fn wait_for_status(
    engine: &SyncEngine,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let mut rx = engine.subscribe();
    let result = tokio::time::timeout(timeout, async {
        loop {
            {
                let status = rx.borrow_and_update().clone();
                if pred(&status) {
                    return status;
                }
            }
            if rx.changed().await.is_err() {
                panic!("status channel closed while waiting for {what}");
            }
        }
    })
    .await;
    match result {
        Ok(status) => status,
        Err(_) => panic!(
            "timed out after {timeout:?} waiting for {what}; status: {:?}",
            engine.status()
        ),
    }
}

/// Polls `check` every 25 ms until it holds, or panics after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Writes a real JPEG photo to `dir/name` and returns its path.
pub fn write_jpeg(dir: &Path, name: &str, seed: u8) -> PathBuf {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(2),
            seed,
        ])
    });
    let path = dir.join(name);
    img.save_with_format(&path, image::ImageFormat::Jpeg)
        .expect("write jpeg");
    path
}

/// A real PNG of `w`×`h` pixels.
pub fn png_bytes(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_add(seed), y as u8, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

pub fn signature(signer: &str) -> SignatureInput {
    SignatureInput {
        png: png_bytes(120, 40, 7),
        strokes: vec![SignatureStroke {
            pen_color: "#000".into(),
            min_width: 0.5,
            max_width: 2.5,
            points: (0..20)
                .map(|i| SignaturePoint {
                    x: f64::from(i) * 3.0,
                    y: 10.0 + f64::from(i % 5),
                    pressure: 0.5,
                    time: 1_700_000_000_000.0 + f64::from(i) * 16.0,
                })
                .collect(),
        }],
        signer_name: signer.into(),
    }
}

// ---- a proxy that watches concurrency ---------------------------------------

/// An HTTP proxy on loopback in front of the server that holds every request
/// for `delay` and records how many were in flight at once: two syncs that
/// overlapped show up as two requests in flight.
pub struct CountingProxy {
    pub url: String,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    max_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CountingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingProxy")
            .field("url", &self.url)
            .finish()
    }
}

impl CountingProxy {
    pub async fn start(upstream: String, delay: Duration) -> CountingProxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::new();
        let (now, max) = (Arc::clone(&in_flight), Arc::clone(&max_in_flight));
        let handler = move |method: axum::http::Method,
                            uri: axum::http::Uri,
                            headers: axum::http::HeaderMap,
                            body: axum::body::Bytes| {
            let (client, upstream, now, max) =
                (client.clone(), upstream.clone(), now.clone(), max.clone());
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let mut request = client.request(method, format!("{upstream}{path}"));
                for (name, value) in &headers {
                    if name != axum::http::header::HOST {
                        request = request.header(name, value);
                    }
                }
                let answer = request.body(body).send().await;
                now.fetch_sub(1, Ordering::SeqCst);
                match answer {
                    Ok(response) => {
                        let status = response.status();
                        let headers = response.headers().clone();
                        let bytes = response.bytes().await.unwrap_or_default();
                        (status, headers, bytes)
                    }
                    Err(_) => (
                        axum::http::StatusCode::BAD_GATEWAY,
                        axum::http::HeaderMap::new(),
                        axum::body::Bytes::new(),
                    ),
                }
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy listen");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CountingProxy {
            url,
            in_flight,
            max_in_flight,
            task,
        }
    }

    /// Most requests that were in flight at the same time so far.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.max_in_flight.store(
            self.in_flight.load(std::sync::atomic::Ordering::SeqCst),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
