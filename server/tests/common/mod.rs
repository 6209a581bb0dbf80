//! A real server on 127.0.0.1 port 0 with a temp data dir, plus helpers to
//! play Central Ops and technicians' devices against it. Dropping the
//! [`TestServer`] stops the server and deletes the data dir.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use fieldbook_domain::{
    BlobRef, CustomerSignature, InstallationMedia, InstallationReport, InstallationStatus,
    MediaType, Mutation, ReportDraft, Role, Sha256Hex, SignaturePoint, SignatureStroke, TimeSlot,
};
use fieldbook_protocol::{
    CreateInstallationRequest, LeadInput, LoginResponse, MutationEnvelope, MutationOutcome,
    PullPage, PushRequest, PushResponse, SurveyInput,
};
use fieldbook_server::{admin, AppState, PasswordHashing, RunningServer, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use uuid::Uuid;

pub const OPS_USER: &str = "ops";
pub const PASSWORD: &str = "correct horse battery";

/// The server under test.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    server: Option<RunningServer>,
    // Declared last: removed after the server stopped.
    _data_dir: TempDir,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("base", &self.base)
            .finish()
    }
}

impl TestServer {
    /// A server with the test-only fast password hashing and an ops user.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Like [`start`](Self::start), with settings adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(data_dir.path().to_owned());
        config.password_hashing = PasswordHashing::insecure_fast_for_tests();
        adjust(&mut config);
        let state = AppState::open(config).expect("open server state");
        let server = fieldbook_server::start(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start server");
        let base = format!("http://{}", server.addr);
        let ts = TestServer {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            state,
            server: Some(server),
            _data_dir: data_dir,
        };
        ts.add_user(OPS_USER, Role::Ops);
        ts
    }

    /// Stops the server, reopens the data dir from scratch and serves it
    /// again (on a new port): what a crash-free restart looks like.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("graceful shutdown");
        }
        let config = (*self.state.config).clone();
        self.state = AppState::open(config).expect("reopen server state");
        let server =
            fieldbook_server::start(self.state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .expect("restart server");
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// Adds a user straight through the admin functions (the CLI's path).
    pub fn add_user(&self, username: &str, role: Role) -> Uuid {
        let request = fieldbook_protocol::CreateUserRequest {
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
        .expect("create user")
        .record
        .id
    }

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

    /// Sends a request; returns status and JSON body (Null if none).
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
                installer_notes: String::new(),
            },
            survey: SurveyInput {
                approved_at: None,
                surveyor_notes: String::new(),
                recommended_charger_model: "Zappi 7kW".into(),
                main_fuse_amps: 100,
                supply_capacity_kva: 23.0,
                cable_run_length_m: 12.5,
                photos_count: 3,
            },
            scheduled_date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            scheduled_time_slot: TimeSlot::Morning,
        };
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
        to: InstallationStatus,
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
            .transition(ops_token, id, InstallationStatus::Confirmed)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    pub async fn installation_status(&self, token: &str, id: Uuid) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/installations/{id}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["installation"]["record"].clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Dropping the running server signals a graceful shutdown; the temp
        // dir is removed after it (field order).
        self.server.take();
    }
}

/// A technician's device: a device id and its per-device sequence.
#[derive(Debug)]
pub struct Device {
    pub id: Uuid,
    pub token: String,
    pub user_id: Uuid,
    next_seq: u64,
}

impl Device {
    pub async fn login(server: &TestServer, username: &str) -> Device {
        let login = server.login(username).await;
        Device {
            id: Uuid::new_v4(),
            token: login.token,
            user_id: login.user.id,
            next_seq: 1,
        }
    }

    /// Wraps mutations in envelopes with this device's next sequence numbers.
    pub fn envelopes(&mut self, mutations: Vec<Mutation>) -> Vec<MutationEnvelope> {
        mutations
            .into_iter()
            .map(|mutation| {
                let seq = self.next_seq;
                self.next_seq += 1;
                MutationEnvelope {
                    mutation_id: Uuid::new_v4(),
                    device_id: self.id,
                    device_seq: seq,
                    base_version: None,
                    mutation,
                }
            })
            .collect()
    }

    pub async fn push_envelopes(
        &self,
        server: &TestServer,
        envelopes: &[MutationEnvelope],
    ) -> Vec<MutationOutcome> {
        let request = PushRequest {
            mutations: envelopes.to_vec(),
        };
        let (status, body) = server
            .post(
                "/api/v1/sync/push",
                &self.token,
                &serde_json::to_value(&request).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "push: {body}");
        let response: PushResponse = serde_json::from_value(body).unwrap();
        assert_eq!(response.results.len(), envelopes.len());
        for (result, envelope) in response.results.iter().zip(envelopes) {
            assert_eq!(result.mutation_id, envelope.mutation_id);
        }
        response.results.into_iter().map(|r| r.outcome).collect()
    }

    pub async fn push(
        &mut self,
        server: &TestServer,
        mutations: Vec<Mutation>,
    ) -> Vec<MutationOutcome> {
        let envelopes = self.envelopes(mutations);
        self.push_envelopes(server, &envelopes).await
    }

    pub async fn push_one(&mut self, server: &TestServer, mutation: Mutation) -> MutationOutcome {
        self.push(server, vec![mutation]).await.remove(0)
    }
}

pub fn start(installation_id: Uuid) -> Mutation {
    Mutation::InstallationStart {
        installation_id,
        expected_from: InstallationStatus::Confirmed,
        override_reason: None,
        at: Utc::now(),
    }
}

pub fn finish(installation_id: Uuid) -> Mutation {
    Mutation::InstallationFinish {
        installation_id,
        expected_from: InstallationStatus::InProgress,
        at: Utc::now(),
    }
}

/// A photo of the installation (blob not uploaded: "awaiting blob").
pub fn photo(installation_id: Uuid, bytes: &[u8]) -> InstallationMedia {
    InstallationMedia {
        id: Uuid::new_v4(),
        installation_id,
        media_type: MediaType::Photo,
        file: BlobRef {
            sha256: Sha256Hex::digest(bytes),
            size: bytes.len() as u64,
            mime: "image/jpeg".into(),
        },
        caption: "Charger on the garage wall".into(),
        uploaded_by: Uuid::nil(),
        uploaded_at: Utc::now(),
    }
}

/// A complete, signed report over the given media hashes.
pub fn signed_report(installation_id: Uuid, media: &[Sha256Hex]) -> InstallationReport {
    let mut draft = ReportDraft::new(installation_id, Utc::now());
    draft.charger_serial_number = "SN-123456".into();
    draft.charger_model = "Zappi 7kW".into();
    draft.installation_successful = Some(true);
    draft.demo_given = true;
    draft.general_notes = "All good.".into();
    let content_hash = draft.content_hash(media);
    draft.customer_signature = Some(CustomerSignature {
        png: BlobRef {
            sha256: Sha256Hex::digest(b"signature png"),
            size: 13,
            mime: "image/png".into(),
        },
        strokes: vec![SignatureStroke {
            pen_color: "black".into(),
            min_width: 0.5,
            max_width: 2.5,
            points: vec![
                SignaturePoint {
                    x: 1.0,
                    y: 2.0,
                    pressure: 0.5,
                    time: 1.0,
                },
                SignaturePoint {
                    x: 3.0,
                    y: 4.0,
                    pressure: 0.5,
                    time: 2.0,
                },
            ],
        }],
        signer_name: "Ada Customer".into(),
        signed_at: Utc::now(),
        content_hash,
    });
    draft
        .into_report(Uuid::new_v4(), Uuid::nil(), Utc::now(), media)
        .expect("a complete report")
}

pub fn is_applied(outcome: &MutationOutcome) -> bool {
    matches!(outcome, MutationOutcome::Applied { .. })
}

/// The world most tests need: an ops token and two teams with one
/// technician each.
#[derive(Debug)]
pub struct TwoTeams {
    pub ops: String,
    pub team_a: Uuid,
    pub team_b: Uuid,
    pub tech_a: Uuid,
    pub tech_b: Uuid,
}

pub const TECH_A: &str = "alice";
pub const TECH_A2: &str = "andy";
pub const TECH_B: &str = "bob";

impl TwoTeams {
    /// Team A: alice and andy; team B: bob.
    pub async fn create(server: &TestServer) -> TwoTeams {
        let tech_a = server.add_user(TECH_A, Role::Technician);
        let tech_a2 = server.add_user(TECH_A2, Role::Technician);
        let tech_b = server.add_user(TECH_B, Role::Technician);
        let ops = server.token(OPS_USER).await;
        let team_a = server.add_team(&ops, "Team A", &[tech_a, tech_a2]).await;
        let team_b = server.add_team(&ops, "Team B", &[tech_b]).await;
        TwoTeams {
            ops,
            team_a,
            team_b,
            tech_a,
            tech_b,
        }
    }
}
