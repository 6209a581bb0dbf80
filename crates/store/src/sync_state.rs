//! Applying what the server sent (one pull page per transaction, with its
//! cursor) and reading the cursor back, so an interrupted first sync resumes
//! where it stopped.

use std::collections::HashSet;

use chrono::Utc;
use fieldbook_domain::lifecycle::{self, StartRequest};
use fieldbook_domain::{
    Installation, InstallationAssignment, InstallationMedia, InstallationReport,
    InstallationStatus, Lead, Mutation, Survey, Team, User,
};
use fieldbook_media::MediaStore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{to_json, ts};
use crate::error::Result;
use crate::{installations, media, reports, session, Store};

/// A server row and the change sequence it was read at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub record: T,
    pub server_version: i64,
}

/// A submitted report as the server has it (submitted here or on another
/// device of the team).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerReport {
    pub report: InstallationReport,
    /// The server has the signature PNG (true when the report is unsigned).
    pub signature_on_server: bool,
}

/// A photo or video record as the server has it (attached here or on
/// another device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMedia {
    pub media: InstallationMedia,
    /// The server has the bytes (false while the upload is under way).
    pub file_on_server: bool,
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
    pub reports: Vec<Versioned<ServerReport>>,
    pub media: Vec<Versioned<ServerMedia>>,
    /// Records that left this device's scope or were deleted, in the
    /// server's order.
    pub tombstones: Vec<Tombstone>,
    /// This user's held work (status and Central Ops' decision).
    #[serde(default)]
    pub held_work: Vec<Versioned<crate::held_work::ServerHeldWork>>,
}

/// The kinds of record a tombstone can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Installation,
    Assignment,
    Report,
    Media,
    Lead,
    Survey,
    Team,
    User,
}

/// Why the server sent a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TombstoneReason {
    /// The record still exists but this device no longer sees it (the job
    /// was reassigned, the assignment withdrawn, the user left the team).
    LeftScope,
    /// The record was deleted (a photo or video removed by its uploader).
    Deleted,
}

/// "Delete your local copy of this record" — unless it holds work this
/// device has not sent (see [`Store::apply_server_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub kind: RecordKind,
    pub id: Uuid,
    pub reason: TombstoneReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApplyOutcome {
    pub upserted: usize,
    pub deleted: usize,
    /// Tombstoned installations kept because they hold work the server has not
    /// received yet (outbox entries, an unsubmitted or superseded report
    /// draft): nothing typed by a technician is discarded. Their tombstoned
    /// assignments, reports, media, lead and survey stay with them.
    pub kept: Vec<Uuid>,
    /// Installations, assignments and photos / videos whose pending local
    /// mutations were re-applied on top of the server's row.
    pub rebased: usize,
    /// Pulled reports and photos / videos waiting for their installation,
    /// which a later page brings (they are placed then).
    pub awaiting_installation: usize,
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
pub(crate) fn has_unsent_work(conn: &Connection, id: Uuid) -> Result<bool> {
    // Held work counts too: the technician must see Central Ops' decision.
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE installation_id = ?1)
                 OR EXISTS (SELECT 1 FROM held_work WHERE installation_id = ?1)
                 OR EXISTS (SELECT 1 FROM report_drafts WHERE installation_id = ?1
                              AND superseded_by_report IS NOT NULL)
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

pub(crate) fn delete_installation(conn: &Connection, id: Uuid) -> Result<bool> {
    let refs: Option<(String, String)> = conn
        .prepare_cached("SELECT lead_id, survey_id FROM installations WHERE id = ?1")?
        .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((lead_id, survey_id)) = refs else {
        return Ok(false);
    };
    conn.prepare_cached("DELETE FROM installation_assignments WHERE installation_id = ?1")?
        .execute([id.to_string()])?;
    conn.prepare_cached("DELETE FROM pulled_awaiting_installation WHERE installation_id = ?1")?
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
/// (docs/architecture.md "Rebase"), so the screen does not flip back to the server's
/// older state until the push is answered. A mutation that no longer fits the
/// server's state is left alone here; the push will report it.
fn rebase_pending(
    conn: &Connection,
    touched: &HashSet<Uuid>,
    touched_media: &HashSet<Uuid>,
) -> Result<usize> {
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
        match &mutation {
            Mutation::MediaCaption { media_id, caption } if touched_media.contains(media_id) => {
                conn.prepare_cached("UPDATE installation_media SET caption = ?2 WHERE id = ?1")?
                    .execute(params![media_id.to_string(), caption])?;
                rebased.insert(*media_id);
                continue;
            }
            Mutation::MediaRemove { media_id } if touched_media.contains(media_id) => {
                conn.prepare_cached("DELETE FROM installation_media WHERE id = ?1")?
                    .execute([media_id.to_string()])?;
                rebased.insert(*media_id);
                continue;
            }
            _ => {}
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
        if let Mutation::ReportSubmit { .. } = &mutation {
            let teams = session::current(conn)?
                .map(|s| s.team_ids)
                .unwrap_or_default();
            installations::complete_my_assignments(conn, id, &teams)?;
        }
        replay(&mut inst, &mutation);
        if inst != before {
            installations::save_state(conn, &inst)?;
            rebased.insert(id);
        }
    }
    Ok(rebased.len())
}

/// Re-applies one technician mutation to an installation's state. A refusal
/// means the server moved on; the push reports it, so it is ignored here.
fn replay(inst: &mut Installation, mutation: &Mutation) {
    let _ = match mutation {
        Mutation::InstallationStart {
            expected_from,
            override_reason,
            at,
            ..
        } => lifecycle::start(
            inst,
            *expected_from,
            &StartRequest {
                override_reason: override_reason.clone(),
            },
            *at,
        )
        .map(drop),
        Mutation::InstallationFinish {
            expected_from, at, ..
        } => lifecycle::finish(inst, *expected_from, *at),
        Mutation::InstallationCouldNotComplete {
            expected_from,
            reason,
            at,
            ..
        } => lifecycle::could_not_complete(inst, *expected_from, reason, *at),
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
            lifecycle::submit_report(inst, report.demo_given, report.submitted_at)
        }
        _ => Ok(()),
    };
}

/// The installation as the server last described it, if known.
fn server_state(conn: &Connection, id: Uuid) -> Result<Option<Installation>> {
    let Ok((mut inst, _)) = installations::load(conn, id) else {
        return Ok(None);
    };
    let row = conn
        .prepare_cached(
            "SELECT server_status, server_material_ready, server_customer_confirmed,
                    server_demo_completed, server_updated_at, server_status_reason
             FROM installations WHERE id = ?1 AND server_status IS NOT NULL",
        )?
        .query_row([id.to_string()], |r| {
            Ok((
                crate::db::get_choice(r, 0, "installation status", InstallationStatus::parse)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                crate::db::get_ts(r, 4)?,
                r.get(5)?,
            ))
        })
        .optional()?;
    let Some((status, material_ready, customer_confirmed, demo_completed, updated_at, reason)) =
        row
    else {
        return Ok(None);
    };
    inst.status = status;
    inst.material_ready = material_ready;
    inst.customer_confirmed = customer_confirmed;
    inst.demo_completed = demo_completed;
    inst.updated_at = updated_at;
    inst.status_reason = reason;
    Ok(Some(inst))
}

/// Rebuilds the local view of one installation (and its assignments) from
/// the server's last word plus the mutations still pending, after one left
/// the pending queue without a pull (refused, parked, retried).
pub(crate) fn rebase_installation(conn: &Connection, id: Uuid) -> Result<()> {
    if let Some(server) = server_state(conn, id)? {
        installations::save_state(conn, &server)?;
    }
    conn.prepare_cached(
        "UPDATE installation_assignments
         SET status = server_status, decline_reason = server_decline_reason,
             responded_at = server_responded_at
         WHERE installation_id = ?1 AND server_status IS NOT NULL",
    )?
    .execute([id.to_string()])?;
    rebase_pending(conn, &HashSet::from([id]), &HashSet::new())?;
    Ok(())
}

/// The server applied `mutation`: fold it into what the device knows of the
/// server's state, so a later rebase does not undo it before the pull
/// brings the server's row.
pub(crate) fn absorb_applied(conn: &Connection, mutation: &Mutation) -> Result<()> {
    if let Mutation::AssignmentRespond {
        assignment_id,
        response,
        reason,
        at,
    } = mutation
    {
        conn.prepare_cached(
            "UPDATE installation_assignments
             SET server_status = ?2, server_decline_reason = ?3, server_responded_at = ?4
             WHERE id = ?1",
        )?
        .execute(params![
            assignment_id.to_string(),
            response.as_str(),
            reason,
            ts(at)
        ])?;
        return Ok(());
    }
    let Some(id) = mutation.installation_id() else {
        return Ok(());
    };
    let Some(mut server) = server_state(conn, id)? else {
        return Ok(());
    };
    replay(&mut server, mutation);
    conn.prepare_cached(
        "UPDATE installations
         SET server_status = ?2, server_material_ready = ?3, server_customer_confirmed = ?4,
             server_demo_completed = ?5, server_updated_at = ?6, server_status_reason = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        id.to_string(),
        server.status.as_str(),
        server.material_ready,
        server.customer_confirmed,
        server.demo_completed,
        ts(&server.updated_at),
        server.status_reason,
    ])?;
    if let Mutation::ReportSubmit { .. } = mutation {
        let teams = session::current(conn)?
            .map(|s| s.team_ids)
            .unwrap_or_default();
        let mut stmt = conn.prepare_cached(
            "UPDATE installation_assignments SET server_status = 'completed'
             WHERE installation_id = ?1 AND team_id = ?2
               AND server_status IN ('assigned', 'accepted')",
        )?;
        for team in teams {
            stmt.execute(params![id.to_string(), team.to_string()])?;
        }
    }
    Ok(())
}

/// The installation a row of `table` belongs to, if the row is here.
fn owning_installation(conn: &Connection, table: &str, id: Uuid) -> Result<Option<Uuid>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT installation_id FROM {table} WHERE id = ?1"
        ))?
        .query_row([id.to_string()], |r| crate::db::get_uuid(r, 0))
        .optional()?)
}

/// Deletes one row by id; returns how many went (0 or 1).
fn delete_row(conn: &Connection, table: &str, id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?
        .execute([id.to_string()])?)
}

/// Deletes a report or media row unless it is this device's own work the
/// server has not accepted (no server version yet), or belongs to a job
/// kept for unsent work: a kept job stays as the technician left it.
fn delete_installation_child(
    conn: &Connection,
    table: &str,
    tombstone: &Tombstone,
) -> Result<usize> {
    let Some(installation_id) = owning_installation(conn, table, tombstone.id)? else {
        return Ok(0);
    };
    let unsent: bool = conn
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1 AND server_version IS NULL)"
        ))?
        .query_row([tombstone.id.to_string()], |r| r.get(0))?;
    if unsent {
        return Ok(0);
    }
    if tombstone.reason == TombstoneReason::LeftScope && left_scope(conn, installation_id)? {
        return Ok(0);
    }
    delete_row(conn, table, tombstone.id)
}

/// Applies one tombstone. An installation with unsent work is kept and
/// marked left-scope (never silently dropped); otherwise it goes with its
/// assignments, lead, survey and local rows. Other records go unless they
/// belong to such a kept job or are this device's unsent work; a lead or
/// survey stays while a job on the device still refers to it.
fn apply_tombstone(
    conn: &Connection,
    tombstone: &Tombstone,
    outcome: &mut ApplyOutcome,
) -> Result<()> {
    let id = tombstone.id;
    let deleted = match tombstone.kind {
        RecordKind::Installation => {
            if has_unsent_work(conn, id)? {
                mark_left_scope(conn, id)?;
                outcome.kept.push(id);
                0
            } else {
                usize::from(delete_installation(conn, id)?)
            }
        }
        RecordKind::Assignment => {
            match owning_installation(conn, "installation_assignments", id)? {
                Some(installation_id) if !left_scope(conn, installation_id)? => {
                    delete_row(conn, "installation_assignments", id)?
                }
                _ => 0,
            }
        }
        RecordKind::Report | RecordKind::Media => {
            let (entity, table) = if tombstone.kind == RecordKind::Report {
                ("report", "installation_reports")
            } else {
                ("media", "installation_media")
            };
            let waiting = conn
                .prepare_cached(
                    "DELETE FROM pulled_awaiting_installation WHERE entity = ?1 AND id = ?2",
                )?
                .execute(params![entity, id.to_string()])?;
            waiting + delete_installation_child(conn, table, tombstone)?
        }
        RecordKind::Lead => conn
            .prepare_cached(
                "DELETE FROM leads WHERE id = ?1
                   AND NOT EXISTS (SELECT 1 FROM installations WHERE lead_id = ?1)",
            )?
            .execute([id.to_string()])?,
        RecordKind::Survey => conn
            .prepare_cached(
                "DELETE FROM surveys WHERE id = ?1
                   AND NOT EXISTS (SELECT 1 FROM installations WHERE survey_id = ?1)",
            )?
            .execute([id.to_string()])?,
        // Members go with the team (ON DELETE CASCADE).
        RecordKind::Team => delete_row(conn, "teams", id)?,
        RecordKind::User => delete_row(conn, "users", id)?,
    };
    outcome.deleted += deleted;
    Ok(())
}

/// Whether the installation is on this device (pulled reports and media
/// reference it).
fn installation_exists(conn: &Connection, id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM installations WHERE id = ?1)")?
        .query_row([id.to_string()], |r| r.get(0))?)
}

/// Keeps a pulled report or media row until its installation arrives (the
/// newer version, if the same record waits already).
fn park(
    conn: &Connection,
    entity: &str,
    id: Uuid,
    installation_id: Uuid,
    server_version: i64,
    body: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO pulled_awaiting_installation
             (entity, id, installation_id, server_version, body)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (entity, id) DO UPDATE SET
             installation_id = excluded.installation_id,
             server_version = excluded.server_version, body = excluded.body
         WHERE excluded.server_version >= pulled_awaiting_installation.server_version",
    )?
    .execute(params![
        entity,
        id.to_string(),
        installation_id.to_string(),
        server_version,
        body
    ])?;
    Ok(())
}

/// Places the pulled reports and media whose installation is now here,
/// oldest version first. Returns the media ids placed (for the rebase).
fn place_waiting_rows(conn: &Connection, files: &MediaStore) -> Result<HashSet<Uuid>> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.entity, w.id, w.server_version, w.body FROM pulled_awaiting_installation w
         WHERE EXISTS (SELECT 1 FROM installations i WHERE i.id = w.installation_id)
         ORDER BY w.server_version",
    )?;
    let waiting: Vec<(String, String, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut placed_media = HashSet::new();
    for (entity, id, server_version, body) in waiting {
        let corrupt = |e: serde_json::Error| {
            crate::StoreError::Corrupt(format!("pulled {entity} {id} waiting: {e}"))
        };
        if entity == "report" {
            let pulled: ServerReport = serde_json::from_str(&body).map_err(corrupt)?;
            reports::apply_pulled_report(conn, files, &pulled, server_version)?;
        } else {
            let pulled: ServerMedia = serde_json::from_str(&body).map_err(corrupt)?;
            media::apply_pulled_media(conn, files, &pulled, server_version)?;
            placed_media.insert(pulled.media.id);
        }
        conn.prepare_cached(
            "DELETE FROM pulled_awaiting_installation WHERE entity = ?1 AND id = ?2",
        )?
        .execute(params![entity, id])?;
    }
    Ok(placed_media)
}

impl Store {
    /// Applies one pull page in one transaction: snapshots are upserted
    /// (referenced rows first; submitted reports and media after their
    /// installation, or kept waiting for it), tombstoned installations
    /// removed, pending local mutations re-applied on top, and the scope's
    /// cursor advanced. If anything fails, nothing of the page is kept and
    /// the cursor stays.
    pub fn apply_server_batch(&mut self, batch: &ServerBatch) -> Result<ApplyOutcome> {
        // Leads, installations and tombstones change search text; also on
        // failure, a rebuild is cheaper than reasoning about a rollback.
        self.search_index.get_mut().take();
        self.in_write_transaction(|tx, ctx| {
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
            // Reports and media after the installations they reference;
            // those still without one wait for the page that brings it.
            let mut touched_media = place_waiting_rows(tx, ctx.media)?;
            for v in &batch.reports {
                let report = &v.record.report;
                if installation_exists(tx, report.installation_id)? {
                    reports::apply_pulled_report(tx, ctx.media, &v.record, v.server_version)?;
                } else {
                    let body = to_json(&v.record);
                    park(
                        tx,
                        "report",
                        report.id,
                        report.installation_id,
                        v.server_version,
                        &body,
                    )?;
                }
            }
            for v in &batch.media {
                let m = &v.record.media;
                if installation_exists(tx, m.installation_id)? {
                    media::apply_pulled_media(tx, ctx.media, &v.record, v.server_version)?;
                    touched_media.insert(m.id);
                } else {
                    let body = to_json(&v.record);
                    park(
                        tx,
                        "media",
                        m.id,
                        m.installation_id,
                        v.server_version,
                        &body,
                    )?;
                }
            }
            for v in &batch.installations {
                reports::reopen_if_sent_back(tx, v.record.id, v.record.status)?;
            }
            outcome.upserted = batch.users.len()
                + batch.teams.len()
                + batch.leads.len()
                + batch.surveys.len()
                + batch.installations.len()
                + batch.assignments.len()
                + batch.reports.len()
                + batch.media.len();
            for tombstone in &batch.tombstones {
                apply_tombstone(tx, tombstone, &mut outcome)?;
            }
            for v in &batch.held_work {
                crate::held_work::apply_pulled(tx, &v.record, v.server_version)?;
            }
            if !batch.installations.is_empty()
                || !batch.assignments.is_empty()
                || !touched_media.is_empty()
            {
                outcome.rebased = rebase_pending(tx, &touched, &touched_media)?;
            }
            outcome.awaiting_installation = tx
                .prepare_cached("SELECT count(*) FROM pulled_awaiting_installation")?
                .query_row([], |r| r.get(0))?;
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
