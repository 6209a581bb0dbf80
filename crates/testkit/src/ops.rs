//! Central Ops acting through the server library: the same functions the
//! CLI and the admin routes call, without HTTP in between.

use fieldbook_domain::{Installation, InstallationStatus, Mutation};
use fieldbook_protocol::{
    AcceptHeldWorkRequest, AcceptedHeldWork, AssignRequest, CreateTeamRequest, HeldWork,
    HeldWorkQuery, HeldWorkStatus, KeepHeldWorkRequest, MutationEnvelope, PushRequest,
    PushResponse, TransitionRequest,
};
use fieldbook_server::caller::Caller;
use fieldbook_server::error::ApiError;
use fieldbook_server::{admin, AppState};
use uuid::Uuid;

use crate::server::installation_request;

fn ops_failed(what: &str, e: ApiError) -> ! {
    panic!("{what}: {e}")
}

/// Central Ops (the `ops` user) on one server.
#[derive(Debug, Clone, Copy)]
pub struct Ops<'a> {
    state: &'a AppState,
    ops_id: Uuid,
}

impl<'a> Ops<'a> {
    pub(crate) fn new(state: &'a AppState, ops_id: Uuid) -> Ops<'a> {
        Ops { state, ops_id }
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

    /// Plans an installation for `customer`.
    pub fn create_installation(&self, customer: &str) -> Uuid {
        admin::create_installation(
            &self.state.storage,
            self.ops_id,
            &installation_request(customer),
        )
        .unwrap_or_else(|e| ops_failed("create installation", e))
        .record
        .id
    }

    /// Assigns the installation to a team; returns the assignment id.
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
    ) -> Result<Installation, ApiError> {
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

    /// Withdraws an assignment (the team's devices pull tombstones).
    pub fn withdraw(&self, assignment: Uuid) {
        admin::withdraw_assignment(&self.state.storage, assignment)
            .unwrap_or_else(|e| ops_failed("withdraw", e));
    }

    /// Removes a technician from a team.
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

    /// Accepts held work as the installation's report.
    pub fn accept_held(&self, id: Uuid, note: Option<&str>) -> Result<AcceptedHeldWork, ApiError> {
        let request = AcceptHeldWorkRequest {
            note: note.map(str::to_owned),
        };
        fieldbook_server::held_work::accept(&self.state.storage, id, self.ops_id, &request)
    }

    /// Keeps held work on record with a reason.
    pub fn keep_held(&self, id: Uuid, reason: &str) -> Result<HeldWork, ApiError> {
        let request = KeepHeldWorkRequest {
            reason: reason.into(),
        };
        fieldbook_server::held_work::keep(&self.state.storage, id, self.ops_id, &request)
    }

    /// Sends the installation's report back to the technician.
    pub fn send_back(&self, installation: Uuid, note: &str) -> Result<Installation, ApiError> {
        fieldbook_server::send_back::send_back(&self.state.storage, installation, self.ops_id, note)
            .map(|v| v.record)
    }

    /// Pushes `mutations` as `user` from `device`, numbered from 1 (a client
    /// the engine would never be: it sends ids it never pulled).
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
}
