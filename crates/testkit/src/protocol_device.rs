//! A client that speaks the sync protocol by hand (its own device id and
//! per-device sequence), and the two-team world that scope tests need.

use chrono::Utc;
use fieldbook_domain::{InstallationStatus, Mutation, Role};
use fieldbook_protocol::{MutationEnvelope, MutationOutcome, PushRequest, PushResponse};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::server::{TestServer, OPS_USER};

/// A technician's device at the protocol level: a device id, a token and
/// the next per-device sequence number.
#[derive(Debug)]
pub struct ProtocolDevice {
    pub id: Uuid,
    pub token: String,
    pub user_id: Uuid,
    next_seq: u64,
}

impl ProtocolDevice {
    pub async fn login(server: &TestServer, username: &str) -> ProtocolDevice {
        let login = server.login(username).await;
        ProtocolDevice {
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

    /// Pushes envelopes as they are; panics unless the push answers 200
    /// with one result per envelope, in order.
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
                &serde_json::to_value(&request).expect("push request as JSON"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "push: {body}");
        let response: PushResponse = serde_json::from_value(body).expect("push response");
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

/// The technician starts the job (from Confirmed).
pub fn start(installation_id: Uuid) -> Mutation {
    Mutation::InstallationStart {
        installation_id,
        expected_from: InstallationStatus::Confirmed,
        override_reason: None,
        at: Utc::now(),
    }
}

/// The technician finishes the job (from InProgress).
pub fn finish(installation_id: Uuid) -> Mutation {
    Mutation::InstallationFinish {
        installation_id,
        expected_from: InstallationStatus::InProgress,
        at: Utc::now(),
    }
}

pub fn is_applied(outcome: &MutationOutcome) -> bool {
    matches!(outcome, MutationOutcome::Applied { .. })
}

pub const TECH_A: &str = "alice";
pub const TECH_A2: &str = "andy";
pub const TECH_B: &str = "bob";

/// The world most scope tests need: an ops token and two teams.
#[derive(Debug)]
pub struct TwoTeams {
    pub ops: String,
    pub team_a: Uuid,
    pub team_b: Uuid,
    pub tech_a: Uuid,
    pub tech_b: Uuid,
}

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
