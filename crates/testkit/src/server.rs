//! The real server on 127.0.0.1 over a temp data dir.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fieldbook_domain::{Installation, InstallationMedia, InstallationReport, Role, Sha256Hex};
use fieldbook_protocol::{
    CreateInstallationRequest, CreateUserRequest, LeadInput, LoginResponse, PullPage, ReportEvent,
    SurveyInput,
};
use fieldbook_server::storage::DatabaseUrl;
use fieldbook_server::{admin, AppState, PasswordHashing, RunningServer, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use uuid::Uuid;

use crate::ops::Ops;
use crate::round_robin::RoundRobin;

/// The Central Ops user every [`TestServer`] starts with.
pub const OPS_USER: &str = "ops";
/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// The environment variable that picks the database of every
/// [`TestServer`]: unset (or `sqlite`): SQLite in its data dir; `postgres`:
/// a fresh database in a PostgreSQL cluster the test binary shares
/// ([`ThrowawayPostgres::shared`](crate::ThrowawayPostgres::shared)).
pub const TEST_DATABASE_ENV: &str = "FIELDBOOK_TEST_DATABASE";

/// Whether this test run is on PostgreSQL ([`TEST_DATABASE_ENV`]).
pub fn testing_on_postgres() -> bool {
    match std::env::var(TEST_DATABASE_ENV).ok().as_deref() {
        None | Some("") | Some("sqlite") => false,
        Some("postgres") => true,
        Some(other) => {
            panic!("{TEST_DATABASE_ENV}={other:?}: expected unset, `sqlite` or `postgres`")
        }
    }
}

/// For a test that opens the SQLite file itself (to count rows or inject a
/// failure): true, with the reason printed, when the run is on PostgreSQL
/// and the test must skip.
pub fn skip_unless_sqlite(test: &str) -> bool {
    let skip = testing_on_postgres();
    if skip {
        eprintln!("skipped on PostgreSQL: {test} opens the SQLite database file itself");
    }
    skip
}

/// The environment variable that sets how many `serve` instances every
/// [`TestServer`] runs (PostgreSQL runs only): unset or `1`, one; `2` or
/// more, that many on the same database, blob store and data dir, behind a
/// round-robin front that sends each request to the next instance.
pub const TEST_INSTANCES_ENV: &str = "FIELDBOOK_TEST_INSTANCES";

/// How many instances each [`TestServer`] runs ([`TEST_INSTANCES_ENV`]).
pub fn test_instances() -> usize {
    let instances = match std::env::var(TEST_INSTANCES_ENV).ok().as_deref() {
        None | Some("") => 1,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => panic!("{TEST_INSTANCES_ENV}={n:?}: expected a number of instances, 1 or more"),
        },
    };
    assert!(
        instances == 1 || testing_on_postgres(),
        "{TEST_INSTANCES_ENV}={instances} needs {TEST_DATABASE_ENV}=postgres: \
         SQLite is one process's database"
    );
    instances
}

/// For a test that reaches into one instance (its memory, or a fault
/// injected into one process): true, with the reason printed, when every
/// [`TestServer`] runs several instances and the test must skip.
pub fn skip_unless_one_instance(test: &str, why: &str) -> bool {
    let skip = test_instances() > 1;
    if skip {
        eprintln!("skipped with {TEST_INSTANCES_ENV}>1: {test} {why}");
    }
    skip
}

/// The database of a new test server: `None` for SQLite in its data dir.
fn test_database() -> Option<DatabaseUrl> {
    testing_on_postgres().then(|| {
        let cluster = crate::ThrowawayPostgres::shared();
        let name = format!("t{}", Uuid::new_v4().simple());
        cluster
            .create_database(&name)
            .unwrap_or_else(|e| panic!("create a test database: {e:?}"));
        DatabaseUrl::Postgres(cluster.url(&name))
    })
}

/// The server under test. It listens on one address for its whole life:
/// [`stop`](Self::stop) and [`resume`](Self::resume) pull and plug the
/// network; [`restart`](Self::restart) also reopens the data from disk.
/// Dropping it stops the server, then deletes the data dir.
pub struct TestServer {
    config: ServerConfig,
    /// The first instance's state (every instance's storage reads and
    /// writes the same database and blob store).
    pub state: AppState,
    pub client: reqwest::Client,
    /// One, or [`TEST_INSTANCES_ENV`] of them; the first holds `state`.
    instances: Vec<Instance>,
    /// Before several instances: the address clients are given.
    front: Option<RoundRobin>,
    /// What clients talk to: the one instance, or the front.
    addr: SocketAddr,
    /// The Central Ops user ([`OPS_USER`]).
    pub ops_id: Uuid,
    // Last: removed after the server (and every other instance) stopped.
    _dir: Arc<TempDir>,
}

/// One `serve` instance: its own storage pool, password workers and
/// background tasks, on its own port.
struct Instance {
    state: AppState,
    running: Option<RunningServer>,
    addr: SocketAddr,
}

impl Instance {
    async fn start(state: AppState) -> Instance {
        let running = fieldbook_server::start(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start server");
        Instance {
            state,
            addr: running.addr,
            running: Some(running),
        }
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            // A hung shutdown fails the test instead of hanging it.
            tokio::time::timeout(Duration::from_secs(30), running.shutdown())
                .await
                .expect("the server did not stop within 30 s")
                .expect("graceful shutdown");
        }
    }

    /// Serves again on the same address. The port was free a moment ago;
    /// retried briefly in case the OS holds it a little longer.
    async fn resume(&mut self) {
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
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("instances", &self.instances.len())
            .field("up", &self.is_up())
            .finish()
    }
}

impl TestServer {
    /// A server with the test-only fast password hashing, blob arrival
    /// noticed within 100 ms, and the ops user.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Like [`start`](Self::start), with settings adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        Self::open(adjust, |server| server.add_user(OPS_USER, Role::Ops)).await
    }

    /// A server holding the demo data set `demo` (its users keep their demo
    /// passwords; its first ops user plays [`ops`](Self::ops)).
    pub async fn start_with_demo(demo: &fieldbook_demo::DemoData) -> TestServer {
        Self::start_with_demo_and(demo, |_| {}).await
    }

    /// Like [`start_with_demo`](Self::start_with_demo), with settings
    /// adjusted by `adjust`.
    pub async fn start_with_demo_and(
        demo: &fieldbook_demo::DemoData,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        Self::open(adjust, |server| {
            fieldbook_server::seed::import_demo(
                &server.state.storage,
                server.config.password_hashing,
                demo,
            )
            .expect("import the demo data");
            demo.ops_users()
                .next()
                .expect("the demo data has an ops user")
                .user
                .id
        })
        .await
    }

    async fn open(
        adjust: impl FnOnce(&mut ServerConfig),
        seed: impl FnOnce(&TestServer) -> Uuid,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("server temp dir");
        let mut config = ServerConfig::new(dir.path().join("server"));
        config.password_hashing = PasswordHashing::insecure_fast_for_tests();
        config.blob_arrival_poll = Duration::from_millis(100);
        config.database_url = test_database();
        // FIELDBOOK_TEST_BLOB_STORE=s3: blobs in a bucket of their own.
        config.blob_store = crate::test_blob_store();
        adjust(&mut config);
        let mut count = test_instances();
        if count > 1 && config.tls.is_some() {
            eprintln!("one instance: the round-robin front speaks plain HTTP, this server TLS");
            count = 1;
        }
        assert!(
            count == 1 || config.blob_store.is_some(),
            "{TEST_INSTANCES_ENV}={count} needs a blob store the instances share \
             ({}=s3): the data dir's uploads in progress live in one process's memory",
            crate::TEST_BLOB_STORE_ENV
        );
        let mut instances = Vec::new();
        for _ in 0..count {
            let state = AppState::open(config.clone()).expect("open server state");
            instances.push(Instance::start(state).await);
        }
        let front = if count > 1 {
            Some(RoundRobin::start(instances.iter().map(|i| i.addr).collect()).await)
        } else {
            None
        };
        let addr = front.as_ref().map_or(instances[0].addr, RoundRobin::addr);
        let mut server = TestServer {
            config,
            state: instances[0].state.clone(),
            client: http_client(),
            instances,
            front,
            addr,
            ops_id: Uuid::nil(),
            _dir: Arc::new(dir),
        };
        server.ops_id = seed(&server);
        server
    }

    /// Another `serve` process on the same database and data dir, on its own
    /// port: what a load balancer spreads devices over. Its own storage
    /// pool, password workers and background tasks; nothing shared with
    /// this one but the database and the files. Meant for PostgreSQL runs
    /// (SQLite is one process's database).
    pub async fn another_instance(&self) -> TestServer {
        let state = AppState::open(self.config.clone()).expect("open another instance");
        let instance = Instance::start(state).await;
        TestServer {
            config: self.config.clone(),
            state: instance.state.clone(),
            client: http_client(),
            addr: instance.addr,
            instances: vec![instance],
            front: None,
            ops_id: self.ops_id,
            _dir: Arc::clone(&self._dir),
        }
    }

    /// How many instances serve this server's address.
    /// Pulls whose storage work is running now, over every instance (their
    /// pull slots in use).
    pub fn pulls_in_flight(&self) -> usize {
        self.instances
            .iter()
            .map(|i| i.state.pull_slots.in_use())
            .sum()
    }

    /// Session lookups (authentication's blocking reads) so far, over
    /// every instance.
    pub fn session_lookups(&self) -> u64 {
        self.instances
            .iter()
            .map(|i| {
                i.state
                    .session_lookups
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// The first instance's storage, for a test that holds its database
    /// connections itself.
    pub fn storage(&self) -> Arc<fieldbook_server::storage::Storage> {
        Arc::clone(&self.instances[0].state.storage)
    }

    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// `http://127.0.0.1:<port>`: the same for the server's whole life.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn is_up(&self) -> bool {
        self.instances[0].running.is_some()
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Stops listening (in-flight requests finish): to the devices, the
    /// network is gone. The data stays; ops can keep working on it.
    pub async fn stop(&mut self) {
        if let Some(front) = &mut self.front {
            front.stop().await;
        }
        for instance in &mut self.instances {
            instance.stop().await;
        }
    }

    /// Serves the same data again on the same address.
    pub async fn resume(&mut self) {
        for instance in &mut self.instances {
            instance.resume().await;
        }
        if let Some(front) = &mut self.front {
            front.resume().await;
        }
    }

    /// A full restart: stop, reopen the data dir from disk, serve on the
    /// same address.
    pub async fn restart(&mut self) {
        self.stop().await;
        for instance in &mut self.instances {
            instance.state = AppState::open(self.config.clone()).expect("reopen server state");
        }
        self.state = self.instances[0].state.clone();
        self.resume().await;
    }

    /// Central Ops acting through the server library (the CLI's path).
    pub fn ops(&self) -> Ops<'_> {
        Ops::new(&self.state, self.ops_id)
    }

    /// Adds a user (password [`PASSWORD`]) through the admin functions.
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
        .unwrap_or_else(|e| panic!("create user {username}: {e}"))
        .record
        .id
    }

    pub fn add_technician(&self, username: &str) -> Uuid {
        self.add_user(username, Role::Technician)
    }

    // ---- HTTP ------------------------------------------------------------

    pub async fn login(&self, username: &str) -> LoginResponse {
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK, "login as {username}");
        response.json().await.expect("login body")
    }

    pub async fn token(&self, username: &str) -> String {
        self.login(username).await.token
    }

    /// Sends a request; returns status and JSON body (Null if none, a JSON
    /// string if the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// One pull page (panics unless 200).
    pub async fn pull(&self, token: &str, cursor: u64, limit: u32) -> PullPage {
        let (status, body) = self
            .get(
                &format!("/api/v1/sync/pull?cursor={cursor}&limit={limit}"),
                token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "pull: {body}");
        serde_json::from_value(body).expect("pull page")
    }

    /// Pulls until `has_more` is false; returns the pages.
    pub async fn pull_all(&self, token: &str, mut cursor: u64, limit: u32) -> Vec<PullPage> {
        let mut pages = Vec::new();
        loop {
            let page = self.pull(token, cursor, limit).await;
            assert!(page.next_cursor >= cursor, "cursor went backwards");
            cursor = page.next_cursor;
            let more = page.has_more;
            pages.push(page);
            if !more {
                return pages;
            }
        }
    }

    /// A team with the given members (HTTP admin route).
    pub async fn add_team(&self, ops_token: &str, name: &str, members: &[Uuid]) -> Uuid {
        let (status, body) = self
            .post(
                "/api/v1/admin/teams",
                ops_token,
                &json!({"name": name, "member_ids": members}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["record"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// Plans an installation (HTTP admin route); returns its UUID.
    pub async fn create_installation(&self, ops_token: &str, customer: &str) -> Uuid {
        let request = installation_request(customer);
        let (status, body) = self
            .post(
                "/api/v1/admin/installations",
                ops_token,
                &serde_json::to_value(&request).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["record"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// Assigns an installation to a team; returns the assignment id.
    pub async fn assign(&self, ops_token: &str, installation: Uuid, team: Uuid) -> Uuid {
        let (status, body) = self
            .post(
                &format!("/api/v1/admin/installations/{installation}/assignments"),
                ops_token,
                &json!({"team_id": team, "is_primary": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["record"]["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn withdraw(&self, ops_token: &str, assignment: Uuid) {
        let (status, body) = self
            .post(
                &format!("/api/v1/admin/assignments/{assignment}/withdraw"),
                ops_token,
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// An ops lifecycle move; returns the answer.
    pub async fn transition(
        &self,
        ops_token: &str,
        installation: Uuid,
        to: fieldbook_domain::InstallationStatus,
    ) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/admin/installations/{installation}/transition"),
            ops_token,
            &json!({"to": to, "reason": "test"}),
        )
        .await
    }

    /// A planned, confirmed installation assigned to `team`.
    pub async fn confirmed_installation(&self, ops_token: &str, team: Uuid) -> Uuid {
        let id = self.create_installation(ops_token, "Ada Customer").await;
        self.assign(ops_token, id, team).await;
        let (status, body) = self
            .transition(
                ops_token,
                id,
                fieldbook_domain::InstallationStatus::Confirmed,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    /// Uploads `bytes` as a blob through the tus routes in one PATCH
    /// (panics unless created and completed).
    pub async fn upload_blob(&self, token: &str, bytes: &[u8]) {
        use base64::Engine as _;
        let sha256 = Sha256Hex::digest(bytes);
        let created = self
            .client
            .post(self.url("/api/v1/blobs"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", bytes.len().to_string())
            .header(
                "Upload-Metadata",
                format!(
                    "sha256 {}",
                    base64::engine::general_purpose::STANDARD.encode(sha256.as_str())
                ),
            )
            .send()
            .await
            .expect("tus create");
        assert_eq!(created.status(), StatusCode::CREATED, "tus create");
        let location = created.headers()["location"]
            .to_str()
            .expect("upload location")
            .to_owned();
        let patched = self
            .client
            .patch(self.url(&location))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("tus patch");
        assert_eq!(patched.status(), StatusCode::NO_CONTENT, "tus patch");
    }

    /// The installation record as `token`'s caller sees it.
    pub async fn installation_status(&self, token: &str, id: Uuid) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/installations/{id}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["installation"]["record"].clone()
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

    /// A read-only connection to the server's SQLite database, for checks
    /// the server library has no reader for. SQLite runs only: the helpers
    /// below read either backend.
    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            fieldbook_server::storage::database_path(&self.config.data_dir),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the server database read-only")
    }

    /// The rows `sql` (one `?1` parameter, integer and text columns)
    /// returns, read through a connection of the test's own to whichever
    /// database the server runs on.
    fn raw_rows(&self, sql: &str, param: &str) -> Vec<Vec<Column>> {
        match self.config.database() {
            DatabaseUrl::Sqlite(_) => {
                let db = self.database();
                let mut stmt = db.prepare(sql).expect(sql);
                let width = stmt.column_count();
                let rows = stmt
                    .query_map([param], |r| {
                        (0..width)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Integer(n) => Column::Int(n),
                                    other => Column::Text(other.as_str()?.to_owned()),
                                })
                            })
                            .collect::<Result<Vec<_>, rusqlite::Error>>()
                    })
                    .expect(sql);
                rows.map(|r| r.expect(sql)).collect()
            }
            DatabaseUrl::Postgres(url) => postgres_rows(&url, &sql.replace("?1", "$1"), param),
        }
    }

    /// The single number a SQL count with one parameter answers.
    pub fn count(&self, sql: &str, param: &str) -> u64 {
        match self.raw_rows(sql, param).first().and_then(|r| r.first()) {
            Some(Column::Int(n)) => *n as u64,
            other => panic!("{sql} answered {other:?}, not a count"),
        }
    }

    /// Media rows of an installation on the server.
    pub fn media(&self, installation: Uuid) -> Vec<InstallationMedia> {
        self.raw_rows(
            "SELECT body FROM media WHERE installation_id = ?1",
            &installation.to_string(),
        )
        .into_iter()
        .map(|row| match &row[0] {
            Column::Text(body) => serde_json::from_str(body).expect("media body"),
            other => panic!("media body {other:?}"),
        })
        .collect()
    }

    /// Mutations the server recorded from a device, any outcome.
    pub fn mutations_from(&self, device_id: Uuid) -> u64 {
        self.count(
            "SELECT count(*) FROM mutations WHERE device_id = ?1",
            &device_id.to_string(),
        )
    }

    /// `(device_seq, mutation_id)` of every mutation the server recorded
    /// from `device`, in sequence order.
    pub fn mutations_of_device(&self, device: Uuid) -> Vec<(i64, String)> {
        self.raw_rows(
            "SELECT device_seq, mutation_id FROM mutations WHERE device_id = ?1
             ORDER BY device_seq",
            &device.to_string(),
        )
        .into_iter()
        .map(|row| match (&row[0], &row[1]) {
            (Column::Int(seq), Column::Text(id)) => (*seq, id.clone()),
            other => panic!("mutation row {other:?}"),
        })
        .collect()
    }

    /// `(device_seq, mutation_id, kind, stored answer as JSON)` of every
    /// mutation the server recorded from `device`, by sequence then id.
    pub fn mutation_records(&self, device: Uuid) -> Vec<(i64, String, String, String)> {
        self.raw_rows(
            "SELECT device_seq, mutation_id, kind, result FROM mutations
             WHERE device_id = ?1 ORDER BY device_seq, mutation_id",
            &device.to_string(),
        )
        .into_iter()
        .map(|row| match &row[..] {
            [Column::Int(seq), Column::Text(id), Column::Text(kind), Column::Text(result)] => {
                (*seq, id.clone(), kind.clone(), result.clone())
            }
            other => panic!("mutation row {other:?}"),
        })
        .collect()
    }

    /// The SHA-256 of the blob's bytes as stored on the server, if there
    /// (streamed: test videos are large).
    pub fn blob_digest(&self, sha256: &Sha256Hex) -> Option<Sha256Hex> {
        use sha2::Digest;
        let path = self.state.blobs.path_of(sha256)?;
        let mut file = std::fs::File::open(path).ok()?;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut file, &mut hasher).expect("read the stored blob");
        Some(Sha256Hex::from_bytes(hasher.finalize().into()))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Dropping a running server signals its shutdown; the temp dir
        // goes after it (field order).
        self.front.take();
        for instance in &mut self.instances {
            instance.running.take();
        }
    }
}

/// What ops type in to plan an installation for `customer` on 1 Dec 2026.
pub fn installation_request(customer: &str) -> CreateInstallationRequest {
    CreateInstallationRequest {
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
        scheduled_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date"),
        scheduled_time_slot: fieldbook_domain::TimeSlot::Morning,
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        // A fresh connection per request: tests stop and restart the
        // server on the same address, and a pooled connection to the
        // old one fails with "connection closed before message
        // completed" when reused.
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client")
}

/// A column value of [`TestServer::raw_rows`].
#[derive(Debug)]
enum Column {
    Int(i64),
    Text(String),
}

/// [`TestServer::raw_rows`] on PostgreSQL: its own connection, on a
/// runtime of its own in a thread of its own (callers are sync helpers
/// called from async tests).
fn postgres_rows(url: &str, sql: &str, param: &str) -> Vec<Vec<Column>> {
    use tokio_postgres::types::Type;
    let (url, sql, param) = (url.to_owned(), sql.to_owned(), param.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(connection);
            let rows = client.query(&sql, &[&param]).await.expect(&sql);
            rows.iter()
                .map(|r| {
                    r.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| match *c.type_() {
                            Type::INT8 => Column::Int(r.get(i)),
                            Type::INT4 => Column::Int(i64::from(r.get::<_, i32>(i))),
                            _ => Column::Text(r.get(i)),
                        })
                        .collect()
                })
                .collect()
        })
    })
    .join()
    .expect("query the test database")
}
