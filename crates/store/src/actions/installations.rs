//! The technician's lifecycle actions on an installation and its
//! assignment, and giving up a job that left this device's scope.

use chrono::Utc;
use fieldbook_domain::lifecycle::{self, StartRequest};
use fieldbook_domain::validation::{self, MAX_REASON_CHARS};
use fieldbook_domain::{AssignmentStatus, Installation, InstallationAssignment, Mutation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::in_transaction;
use crate::error::{Result, StoreError};
use crate::local_state::left_scope;
use crate::rows::{assignments, installations, outbox, reports};
use crate::Store;

/// A team's answer to an assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum AssignmentResponse {
    Accept,
    Decline { reason: String },
}

impl Store {
    /// "Start installation" on site. From `confirmed` no reason is needed;
    /// from planned / material_pending / material_ready it is the "start
    /// anyway" path, which needs `request.override_reason` and records it in
    /// the report draft.
    pub fn start_installation(&mut self, id: Uuid, request: &StartRequest) -> Result<Installation> {
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = installations::load(tx, id)?;
            let expected_from = inst.status;
            let override_reason = lifecycle::start(&mut inst, expected_from, request, now)?;
            installations::save_state(tx, &inst)?;
            if reports::load_draft(tx, id)?.is_none() {
                // Something for the report screen to autosave into.
                reports::write_draft(tx, &super::reports::new_draft(tx, &inst, now)?)?;
            }
            if let Some(reason) = &override_reason {
                reports::set_start_override_reason(tx, id, reason, now)?;
            }
            let mutation = Mutation::InstallationStart {
                installation_id: id,
                expected_from,
                override_reason,
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// "Finish installation": in_progress → completed.
    pub fn finish_installation(&mut self, id: Uuid) -> Result<Installation> {
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = installations::load(tx, id)?;
            let expected_from = inst.status;
            lifecycle::finish(&mut inst, expected_from, now)?;
            installations::save_state(tx, &inst)?;
            let mutation = Mutation::InstallationFinish {
                installation_id: id,
                expected_from,
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// "Could not complete": in_progress → rescheduled, with a reason.
    pub fn could_not_complete(&mut self, id: Uuid, reason: &str) -> Result<Installation> {
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = installations::load(tx, id)?;
            let expected_from = inst.status;
            lifecycle::could_not_complete(&mut inst, expected_from, reason, now)?;
            installations::save_state(tx, &inst)?;
            let mutation = Mutation::InstallationCouldNotComplete {
                installation_id: id,
                expected_from,
                reason: inst.status_reason.clone().unwrap_or_default(),
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// Sets the flags both sides may change. `None` leaves a flag alone; the
    /// mutation carries the values it was based on so the server can merge
    /// field by field. Setting a flag to its current value records nothing.
    pub fn set_installation_flags(
        &mut self,
        id: Uuid,
        customer_confirmed: Option<bool>,
        demo_completed: Option<bool>,
    ) -> Result<Installation> {
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = installations::load(tx, id)?;
            let base_customer_confirmed = inst.customer_confirmed;
            let base_demo_completed = inst.demo_completed;
            let customer_confirmed = customer_confirmed.filter(|v| *v != base_customer_confirmed);
            let demo_completed = demo_completed.filter(|v| *v != base_demo_completed);
            if customer_confirmed.is_none() && demo_completed.is_none() {
                return Ok(inst);
            }
            inst.customer_confirmed = customer_confirmed.unwrap_or(base_customer_confirmed);
            inst.demo_completed = demo_completed.unwrap_or(base_demo_completed);
            inst.updated_at = now;
            installations::save_state(tx, &inst)?;
            let mutation = Mutation::InstallationSetFlags {
                installation_id: id,
                customer_confirmed,
                demo_completed,
                base_customer_confirmed,
                base_demo_completed,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// The team accepts or declines (with a reason) a newly assigned job.
    pub fn respond_to_assignment(
        &mut self,
        assignment_id: Uuid,
        response: &AssignmentResponse,
    ) -> Result<InstallationAssignment> {
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let (mut assignment, base_version) = assignments::load(tx, assignment_id)?;
            if assignment.status != AssignmentStatus::Assigned {
                return Err(StoreError::AssignmentAlreadyAnswered {
                    status: assignment.status,
                });
            }
            let (status, reason) = match response {
                AssignmentResponse::Accept => (AssignmentStatus::Accepted, None),
                AssignmentResponse::Decline { reason } => {
                    validation::required_text("reason", reason, MAX_REASON_CHARS)?;
                    (AssignmentStatus::Declined, Some(reason.trim().to_owned()))
                }
            };
            assignment.status = status;
            assignment.decline_reason = reason.clone();
            assignment.responded_at = Some(now);
            assignments::set_response(tx, assignment_id, status, reason.as_deref(), &now)?;
            let mutation = Mutation::AssignmentRespond {
                assignment_id,
                response: status,
                reason,
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(assignment.installation_id),
                Some(base_version),
                now,
            )?;
            Ok(assignment)
        })
    }

    /// The technician gives up a job that left this device's scope and holds
    /// only a report draft (which the server would no longer accept). Refused
    /// while changes for it are still waiting to be sent, and for jobs still
    /// in scope. Returns whether the job was removed.
    pub fn discard_left_scope_installation(&mut self, id: Uuid) -> Result<bool> {
        self.search_index.get_mut().take();
        in_transaction(self, |tx, _| {
            installations::load(tx, id)?;
            let outbox_entries = outbox::count_for_installation(tx, id)?;
            if !installations::is_left_scope(tx, id)? || outbox_entries > 0 {
                return Ok(false);
            }
            left_scope::remove_installation(tx, id)
        })
    }
}
