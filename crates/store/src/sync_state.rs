//! Applying what the server sent (one pull page per transaction, with its
//! cursor) and reading the cursor back, so an interrupted first sync resumes
//! where it stopped.

use std::collections::HashSet;

use chrono::Utc;
use fieldbook_domain::lifecycle::{self, StartRequest};
use fieldbook_domain::{Installation, InstallationAssignment, Lead, Mutation, Survey, Team, User};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::ts;
use crate::error::Result;
use crate::{installations, session, Store};

/// A server row and the change sequence it was read at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub record: T,
    pub server_version: i64,
}

/// One pull page.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerBatch {
    /// Which cursor this page advances (e.g. "installations").
    pub scope: String,
    /// The cursor to resume from after this page.
    pub cursor: i64,
    pub users: Vec<Versioned<User>>,
    pub teams: Vec<Versioned<Team>>,
    pub leads: Vec<Versioned<Lead>>,
    pub surveys: Vec<Versioned<Survey>>,
    pub installations: Vec<Versioned<Installation>>,
    pub assignments: Vec<Versioned<InstallationAssignment>>,
    /// Installations that left this device's scope.
    pub tombstones: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApplyOutcome {
    pub upserted: usize,
    pub deleted: usize,
    /// Tombstoned installations kept because they hold work the server has not
    /// received yet (outbox entries, or an unsubmitted report draft): nothing
    /// typed by a technician is discarded.
    pub kept: Vec<Uuid>,
    /// Installations and assignments whose pending local mutations were
    /// re-applied on top of the server's row.
    pub rebased: usize,
}

fn upsert_user(conn: &Connection, user: &User, server_version: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO users (id, username, full_name, role, server_version)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        user.id.to_string(),
        user.username,
        user.full_name,
        user.role.as_str(),
        server_version
    ])?;
    Ok(())
}

fn upsert_team(conn: &Connection, team: &Team, server_version: i64) -> Result<()> {
    // An UPSERT, not REPLACE: REPLACE would delete the row and cascade away
    // the members before they are rewritten.
    conn.prepare_cached(
        "INSERT INTO teams (id, name, server_version) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
             server_version = excluded.server_version",
    )?
    .execute(params![team.id.to_string(), team.name, server_version])?;
    conn.prepare_cached("DELETE FROM team_members WHERE team_id = ?1")?
        .execute([team.id.to_string()])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO team_members (team_id, user_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, user_id) in team.member_ids.iter().enumerate() {
        insert.execute(params![team.id.to_string(), user_id.to_string(), position])?;
    }
    Ok(())
}

/// Whether the installation holds local work the server has not received.
fn has_unsent_work(conn: &Connection, id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE installation_id = ?1)
                 OR (EXISTS (SELECT 1 FROM report_drafts WHERE installation_id = ?1)
                     AND NOT EXISTS (SELECT 1 FROM installation_reports WHERE installation_id = ?1))",
        )?
        .query_row([id.to_string()], |r| r.get(0))?)
}

/// Marks a kept job as out of scope (keeping the first time it left).
fn mark_left_scope(conn: &Connection, id: Uuid) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installations SET left_scope_at = ?2 WHERE id = ?1 AND left_scope_at IS NULL",
    )?
    .execute(params![id.to_string(), ts(&Utc::now())])?;
    Ok(())
}

fn left_scope(conn: &Connection, id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM installations WHERE id = ?1 AND left_scope_at IS NOT NULL)",
        )?
        .query_row([id.to_string()], |r| r.get(0))?)
}

/// Removes a job that left this device's scope once the server has all of
/// its work: the server will not send another tombstone for it.
pub(crate) fn remove_if_left_scope_and_sent(conn: &Connection, id: Uuid) -> Result<()> {
    if left_scope(conn, id)? && !has_unsent_work(conn, id)? {
        delete_installation(conn, id)?;
    }
    Ok(())
}

fn delete_installation(conn: &Connection, id: Uuid) -> Result<bool> {
    let refs: Option<(String, String)> = conn
        .prepare_cached("SELECT lead_id, survey_id FROM installations WHERE id = ?1")?
        .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((lead_id, survey_id)) = refs else {
        return Ok(false);
    };
    conn.prepare_cached("DELETE FROM installation_assignments WHERE installation_id = ?1")?
        .execute([id.to_string()])?;
    // Drafts, submitted reports and media rows go with it (ON DELETE CASCADE).
    conn.prepare_cached("DELETE FROM installations WHERE id = ?1")?
        .execute([id.to_string()])?;
    // The customer's data leaves the device with the job (survey is 1:1).
    conn.prepare_cached("DELETE FROM surveys WHERE id = ?1")?
        .execute([&survey_id])?;
    conn.prepare_cached(
        "DELETE FROM leads WHERE id = ?1
           AND NOT EXISTS (SELECT 1 FROM installations WHERE lead_id = ?1)",
    )?
    .execute([&lead_id])?;
    Ok(true)
}

/// Re-applies the still-pending local mutations on top of freshly pulled rows
/// (DESIGN.md "Rebase"), so the screen does not flip back to the server's
/// older state until the push is answered. A mutation that no longer fits the
/// server's state is left alone here; the push will report it.
fn rebase_pending(conn: &Connection, touched: &HashSet<Uuid>) -> Result<usize> {
    let mut stmt = conn
        .prepare_cached("SELECT payload FROM outbox WHERE state = 'pending' ORDER BY sequence")?;
    let pending: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rebased = HashSet::new();
    for payload in pending {
        let Ok(mutation) = serde_json::from_str::<Mutation>(&payload) else {
            continue;
        };
        if let Mutation::AssignmentRespond {
            assignment_id,
            response,
            reason,
            at,
        } = &mutation
        {
            let n = conn
                .prepare_cached(
                    "UPDATE installation_assignments
                     SET status = ?2, decline_reason = ?3, responded_at = ?4
                     WHERE id = ?1 AND status = 'assigned'",
                )?
                .execute(params![
                    assignment_id.to_string(),
                    response.as_str(),
                    reason,
                    ts(at)
                ])?;
            if n > 0 {
                rebased.insert(*assignment_id);
            }
            continue;
        }
        let Some(id) = mutation.installation_id() else {
            continue;
        };
        if !touched.contains(&id) {
            continue;
        }
        let Ok((mut inst, _)) = installations::load(conn, id) else {
            continue;
        };
        let before = inst.clone();
        // A refusal means the server moved on; the push will surface it.
        let _ = match &mutation {
            Mutation::InstallationStart {
                expected_from,
                override_reason,
                at,
                ..
            } => lifecycle::start(
                &mut inst,
                *expected_from,
                &StartRequest {
                    override_reason: override_reason.clone(),
                },
                *at,
            )
            .map(drop),
            Mutation::InstallationFinish {
                expected_from, at, ..
            } => lifecycle::finish(&mut inst, *expected_from, *at),
            Mutation::InstallationCouldNotComplete {
                expected_from,
                reason,
                at,
                ..
            } => lifecycle::could_not_complete(&mut inst, *expected_from, reason, *at),
            Mutation::InstallationSetFlags {
                customer_confirmed,
                demo_completed,
                ..
            } => {
                if let Some(v) = customer_confirmed {
                    inst.customer_confirmed = *v;
                }
                if let Some(v) = demo_completed {
                    inst.demo_completed = *v;
                }
                Ok(())
            }
            Mutation::ReportSubmit { report } => {
                let teams = session::current(conn)?
                    .map(|s| s.team_ids)
                    .unwrap_or_default();
                installations::complete_my_assignments(conn, id, &teams)?;
                lifecycle::submit_report(&mut inst, report.demo_given, report.submitted_at)
            }
            _ => Ok(()),
        };
        if inst != before {
            installations::save_state(conn, &inst)?;
            rebased.insert(id);
        }
    }
    Ok(rebased.len())
}

impl Store {
    /// Applies one pull page in one transaction: snapshots are upserted
    /// (referenced rows first), tombstoned installations removed, pending
    /// local mutations re-applied on top, and the scope's cursor advanced.
    /// If anything fails, nothing of the page is kept and the cursor stays.
    pub fn apply_server_batch(&mut self, batch: &ServerBatch) -> Result<ApplyOutcome> {
        // Leads, installations and tombstones change search text; also on
        // failure, a rebuild is cheaper than reasoning about a rollback.
        self.search_index.get_mut().take();
        self.in_write_transaction(|tx, _| {
            let mut outcome = ApplyOutcome::default();
            for v in &batch.users {
                upsert_user(tx, &v.record, v.server_version)?;
            }
            for v in &batch.teams {
                upsert_team(tx, &v.record, v.server_version)?;
            }
            for v in &batch.leads {
                installations::upsert_lead(tx, &v.record, v.server_version)?;
            }
            for v in &batch.surveys {
                installations::upsert_survey(tx, &v.record, v.server_version)?;
            }
            let mut touched = HashSet::new();
            for v in &batch.installations {
                installations::upsert_installation(tx, &v.record, v.server_version)?;
                touched.insert(v.record.id);
            }
            for v in &batch.assignments {
                installations::upsert_assignment(tx, &v.record, v.server_version)?;
            }
            outcome.upserted = batch.users.len()
                + batch.teams.len()
                + batch.leads.len()
                + batch.surveys.len()
                + batch.installations.len()
                + batch.assignments.len();
            for &id in &batch.tombstones {
                if has_unsent_work(tx, id)? {
                    mark_left_scope(tx, id)?;
                    outcome.kept.push(id);
                } else if delete_installation(tx, id)? {
                    outcome.deleted += 1;
                }
            }
            if !batch.installations.is_empty() || !batch.assignments.is_empty() {
                outcome.rebased = rebase_pending(tx, &touched)?;
            }
            tx.prepare_cached(
                "INSERT INTO sync_state (scope, cursor, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (scope) DO UPDATE SET cursor = excluded.cursor,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![batch.scope, batch.cursor, ts(&Utc::now())])?;
            Ok(outcome)
        })
    }

    /// The technician gives up a job that left this device's scope and holds
    /// only a report draft (which the server would no longer accept). Refused
    /// while changes for it are still waiting to be sent, and for jobs still
    /// in scope. Returns whether the job was removed.
    pub fn discard_left_scope_installation(&mut self, id: Uuid) -> Result<bool> {
        self.search_index.get_mut().take();
        self.in_write_transaction(|tx, _| {
            installations::load(tx, id)?;
            let outbox_entries = crate::outbox::count_for_installation(tx, id)?;
            if !left_scope(tx, id)? || outbox_entries > 0 {
                return Ok(false);
            }
            delete_installation(tx, id)
        })
    }

    /// Where the next pull of `scope` starts; `None` before the first page.
    pub fn sync_cursor(&self, scope: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT cursor FROM sync_state WHERE scope = ?1",
                [scope],
                |r| r.get(0),
            )
            .optional()?)
    }
}
