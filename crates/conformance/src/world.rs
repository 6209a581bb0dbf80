//! What the checks work on, created through the admin API: two teams with a
//! technician each, and helpers to plan installations and push mutations.
//! Every name carries the run's id, so the suite can run again and again
//! against the same server.

use chrono::{NaiveDate, Utc};
use fieldbook_domain::{
    BlobRef, InstallationMedia, InstallationStatus, MediaType, Mutation, Role, Sha256Hex, TimeSlot,
};
use fieldbook_protocol::{
    CreateInstallationRequest, LeadInput, MutationEnvelope, MutationOutcome, PushRequest,
    SurveyInput,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::client::{Answer, Api};
use crate::{expect, CheckError};

/// Password of every user the suite creates.
pub const PASSWORD: &str = "conformance suite password";

/// A technician logged in on one device.
#[derive(Debug, Clone)]
pub struct Technician {
    pub username: String,
    pub user_id: Uuid,
    pub token: String,
}

/// A device at the protocol level: its id and next per-device sequence.
#[derive(Debug)]
pub struct Device {
    pub id: Uuid,
    pub next_seq: u64,
}

impl Device {
    pub fn new() -> Device {
        Device {
            id: Uuid::new_v4(),
            next_seq: 1,
        }
    }

    /// Wraps mutations in envelopes with this device's next numbers.
    pub fn envelopes(&mut self, mutations: Vec<Mutation>) -> Vec<MutationEnvelope> {
        mutations
            .into_iter()
            .map(|mutation| {
                let device_seq = self.next_seq;
                self.next_seq += 1;
                MutationEnvelope {
                    mutation_id: Uuid::new_v4(),
                    device_id: self.id,
                    device_seq,
                    base_version: None,
                    mutation,
                }
            })
            .collect()
    }
}

impl Default for Device {
    fn default() -> Self {
        Device::new()
    }
}

/// The suite's world on one server.
#[derive(Debug)]
pub struct World {
    pub api: Api,
    /// Distinguishes this run's names from earlier runs'.
    pub run: String,
    pub ops_token: String,
    pub team_a: Uuid,
    pub team_b: Uuid,
    /// Member of team A.
    pub alice: Technician,
    /// Member of team B.
    pub bob: Technician,
}

/// Creating users and teams as Central Ops (also before the world exists).
struct Admin<'a> {
    api: &'a Api,
    run: &'a str,
    ops_token: &'a str,
}

impl Admin<'_> {
    fn name(&self, name: &str) -> String {
        format!("cf-{}-{name}", self.run)
    }

    async fn user(&self, name: &str, role: Role) -> Result<Uuid, CheckError> {
        let answer = self
            .api
            .post(
                "/api/v1/admin/users",
                self.ops_token,
                &json!({
                    "username": self.name(name),
                    "full_name": format!("Conformance {name}"),
                    "role": role,
                    "password": PASSWORD,
                }),
            )
            .await?;
        expect::status(&answer, StatusCode::CREATED)?;
        id_at(&answer, &["record", "id"])
    }

    async fn technician(&self, name: &str) -> Result<Technician, CheckError> {
        let user_id = self.user(name, Role::Technician).await?;
        let username = self.name(name);
        let token = self.login_token(&username).await?;
        Ok(Technician {
            username,
            user_id,
            token,
        })
    }

    async fn login_token(&self, username: &str) -> Result<String, CheckError> {
        let answer = login(self.api, username, PASSWORD).await?;
        expect::status(&answer, StatusCode::OK)?;
        token_of(&answer)
    }

    async fn team(&self, name: &str, members: &[Uuid]) -> Result<Uuid, CheckError> {
        let answer = self
            .api
            .post(
                "/api/v1/admin/teams",
                self.ops_token,
                &json!({"name": self.name(&format!("team-{name}")), "member_ids": members}),
            )
            .await?;
        expect::status(&answer, StatusCode::CREATED)?;
        id_at(&answer, &["record", "id"])
    }
}

impl World {
    /// Logs in as Central Ops and creates two teams with one technician each.
    pub async fn create(
        api: Api,
        ops_username: &str,
        ops_password: &str,
    ) -> Result<World, CheckError> {
        let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
        let login = login(&api, ops_username, ops_password).await?;
        expect::status(&login, StatusCode::OK).map_err(|e| {
            CheckError::Wrong(format!(
                "cannot log in as the ops account {ops_username}: {e}"
            ))
        })?;
        let ops_token = token_of(&login)?;
        let admin = Admin {
            api: &api,
            run: &run,
            ops_token: &ops_token,
        };
        let mut alice = admin.technician("alice").await?;
        let mut bob = admin.technician("bob").await?;
        let team_a = admin.team("a", &[alice.user_id]).await?;
        let team_b = admin.team("b", &[bob.user_id]).await?;
        // Log in again: the login answer names the user's teams.
        alice.token = admin.login_token(&alice.username).await?;
        bob.token = admin.login_token(&bob.username).await?;
        Ok(World {
            api,
            run,
            ops_token,
            team_a,
            team_b,
            alice,
            bob,
        })
    }

    fn admin(&self) -> Admin<'_> {
        Admin {
            api: &self.api,
            run: &self.run,
            ops_token: &self.ops_token,
        }
    }

    /// `cf-<run>-<name>`.
    pub fn name(&self, name: &str) -> String {
        self.admin().name(name)
    }

    /// Creates a user through the admin API; returns its id.
    pub async fn user(&self, name: &str, role: Role) -> Result<Uuid, CheckError> {
        self.admin().user(name, role).await
    }

    /// A new technician, logged in.
    pub async fn technician(&self, name: &str) -> Result<Technician, CheckError> {
        self.admin().technician(name).await
    }

    /// A fresh token for a suite user.
    pub async fn login_token(&self, username: &str) -> Result<String, CheckError> {
        self.admin().login_token(username).await
    }

    /// A new team with these members.
    pub async fn team(&self, name: &str, members: &[Uuid]) -> Result<Uuid, CheckError> {
        self.admin().team(name, members).await
    }

    /// Plans an installation and assigns it to `team`; returns the
    /// installation and assignment ids.
    pub async fn assigned_installation(&self, team: Uuid) -> Result<(Uuid, Uuid), CheckError> {
        let request = serde_json::to_value(installation_request(&self.name("customer")))
            .map_err(|e| CheckError::Wrong(format!("installation request: {e}")))?;
        let created = self
            .api
            .post("/api/v1/admin/installations", &self.ops_token, &request)
            .await?;
        expect::status(&created, StatusCode::CREATED)?;
        let installation = id_at(&created, &["record", "id"])?;
        let assigned = self
            .api
            .post(
                &format!("/api/v1/admin/installations/{installation}/assignments"),
                &self.ops_token,
                &json!({"team_id": team, "is_primary": true}),
            )
            .await?;
        expect::status(&assigned, StatusCode::CREATED)?;
        Ok((installation, id_at(&assigned, &["record", "id"])?))
    }

    /// An installation assigned to `team` and confirmed by ops (ready to start).
    pub async fn confirmed_installation(&self, team: Uuid) -> Result<Uuid, CheckError> {
        let (installation, _) = self.assigned_installation(team).await?;
        let moved = self
            .transition(installation, InstallationStatus::Confirmed, None)
            .await?;
        expect::status(&moved, StatusCode::OK)?;
        Ok(installation)
    }

    /// An ops lifecycle move.
    pub async fn transition(
        &self,
        installation: Uuid,
        to: InstallationStatus,
        expected_from: Option<InstallationStatus>,
    ) -> Result<Answer, CheckError> {
        self.api
            .post(
                &format!("/api/v1/admin/installations/{installation}/transition"),
                &self.ops_token,
                &json!({"to": to, "expected_from": expected_from, "reason": "conformance suite"}),
            )
            .await
    }

    /// Pushes envelopes as they are.
    pub async fn push_envelopes(
        &self,
        token: &str,
        envelopes: &[MutationEnvelope],
    ) -> Result<Answer, CheckError> {
        let request = PushRequest {
            mutations: envelopes.to_vec(),
        };
        let body = serde_json::to_value(&request)
            .map_err(|e| CheckError::Wrong(format!("push request: {e}")))?;
        self.api.post("/api/v1/sync/push", token, &body).await
    }

    /// Pushes mutations from `device`; returns one outcome per mutation
    /// (fails unless the answer is 200 with results in order).
    pub async fn push(
        &self,
        token: &str,
        device: &mut Device,
        mutations: Vec<Mutation>,
    ) -> Result<Vec<MutationOutcome>, CheckError> {
        let envelopes = device.envelopes(mutations);
        let answer = self.push_envelopes(token, &envelopes).await?;
        let ids: Vec<Uuid> = envelopes.iter().map(|e| e.mutation_id).collect();
        expect::push_results(&answer, &ids)
    }

    /// The installation's status as `token`'s caller reads it.
    pub async fn status_of(&self, token: &str, installation: Uuid) -> Result<Value, CheckError> {
        let answer = self
            .api
            .get(&format!("/api/v1/installations/{installation}"), token)
            .await?;
        expect::status(&answer, StatusCode::OK)?;
        Ok(answer.body["installation"]["record"]["status"].clone())
    }

    /// Uploads `bytes` in one tus PATCH; fails unless created and completed.
    pub async fn upload(&self, token: &str, bytes: &[u8]) -> Result<(), CheckError> {
        let sha256 = Sha256Hex::digest(bytes);
        let created = self
            .api
            .tus_create(token, &sha256, bytes.len() as u64)
            .await?;
        expect::status(&created, StatusCode::CREATED)?;
        let location = location_of(&created)?;
        let patched = self
            .api
            .tus_patch(token, &location, 0, bytes, Some(bytes))
            .await?;
        expect::status(&patched, StatusCode::NO_CONTENT)
    }
}

pub async fn login(api: &Api, username: &str, password: &str) -> Result<Answer, CheckError> {
    api.call(
        reqwest::Method::POST,
        "/api/v1/auth/login",
        None,
        Some(&json!({"username": username, "password": password})),
    )
    .await
}

fn token_of(answer: &Answer) -> Result<String, CheckError> {
    answer.body["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| CheckError::Wrong(format!("{}: no token", answer.describe())))
}

/// The UUID at a JSON path of an answer's body.
pub fn id_at(answer: &Answer, path: &[&str]) -> Result<Uuid, CheckError> {
    let mut value = &answer.body;
    for key in path {
        value = &value[*key];
    }
    value.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        CheckError::Wrong(format!(
            "{}: no id at {}",
            answer.describe(),
            path.join(".")
        ))
    })
}

/// The `Location` of a tus creation answer.
pub fn location_of(answer: &Answer) -> Result<String, CheckError> {
    answer
        .header("location")
        .map(str::to_owned)
        .ok_or_else(|| CheckError::Wrong(format!("{}: no Location header", answer.describe())))
}

/// What ops type in to plan an installation.
pub fn installation_request(customer: &str) -> CreateInstallationRequest {
    CreateInstallationRequest {
        lead: LeadInput {
            customer_name: customer.into(),
            phone: "+44 20 7946 0000".into(),
            email: "customer@example.com".into(),
            address_line1: "1 Conformance Street".into(),
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
            photos_count: 0,
        },
        scheduled_date: NaiveDate::from_ymd_opt(2030, 6, 3).unwrap_or_default(),
        scheduled_time_slot: TimeSlot::Morning,
    }
}

/// A photo record of `installation` whose blob is `bytes`.
pub fn photo(installation: Uuid, bytes: &[u8]) -> InstallationMedia {
    InstallationMedia {
        id: Uuid::new_v4(),
        installation_id: installation,
        media_type: MediaType::Photo,
        file: BlobRef {
            sha256: Sha256Hex::digest(bytes),
            size: bytes.len() as u64,
            mime: "image/jpeg".into(),
        },
        caption: "Conformance photo".into(),
        uploaded_by: Uuid::nil(),
        uploaded_at: Utc::now(),
    }
}

/// `installation.start` from `confirmed`.
pub fn start(installation: Uuid) -> Mutation {
    Mutation::InstallationStart {
        installation_id: installation,
        expected_from: InstallationStatus::Confirmed,
        override_reason: None,
        at: Utc::now(),
    }
}

/// `installation.finish` from `in_progress`.
pub fn finish(installation: Uuid) -> Mutation {
    Mutation::InstallationFinish {
        installation_id: installation,
        expected_from: InstallationStatus::InProgress,
        at: Utc::now(),
    }
}

/// Unique bytes for a blob (hash never seen before).
pub fn unique_bytes(label: &str, len: usize) -> Vec<u8> {
    let seed = format!("{label}-{}", Uuid::new_v4());
    seed.bytes().cycle().take(len.max(seed.len())).collect()
}
