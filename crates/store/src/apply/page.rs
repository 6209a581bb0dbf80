//! One pull page: its records are upserted (referenced rows first; reports
//! and media after their installation, or kept waiting for it), its
//! tombstones applied, pending local mutations re-applied on top, and the
//! scope's cursor advanced — all in one transaction.

use std::collections::HashSet;

use chrono::Utc;
use fieldbook_domain::{
    Installation, InstallationAssignment, InstallationMedia, InstallationReport, Lead,
    ReportTemplate, Survey, Team, User,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{in_transaction, pulled, tombstones};
use crate::db::to_json;
use crate::error::Result;
use crate::local_state::{left_scope, rebase};
use crate::rows::{
    assignments, awaiting, deferred_indexes, held_work, installations, leads, people, resync,
    sync_state, templates,
};
use crate::Store;

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
    pub held_work: Vec<Versioned<crate::rows::held_work::ServerHeldWork>>,
    /// Report template versions published since the last page.
    #[serde(default)]
    pub report_templates: Vec<Versioned<ReportTemplate>>,
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
    /// Jobs on this device whose INS- number the server gave to another job
    /// of this page: the server no longer has them (it was restored from a
    /// backup or reset). Each was removed, or kept under its old number
    /// while it holds unsent work. Non-empty: the server lost history and a
    /// full resync is due.
    #[serde(default)]
    pub reused_numbers: Vec<Uuid>,
}

impl Store {
    /// Applies one pull page in one transaction: snapshots are upserted
    /// (referenced rows first; submitted reports and media after their
    /// installation, or kept waiting for it), tombstoned installations
    /// removed, pending local mutations re-applied on top, and the scope's
    /// cursor advanced. If anything fails, nothing of the page is kept and
    /// the cursor stays.
    pub fn apply_server_batch(&mut self, batch: &ServerBatch) -> Result<ApplyOutcome> {
        let mut outcomes = self.apply_server_batches(std::slice::from_ref(batch))?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    /// Applies consecutive pull pages, in order, in one transaction (each
    /// as [`Store::apply_server_batch`] would): a commit costs a WAL sync,
    /// so pages that arrived while an earlier one was being applied go in
    /// together. The cursor saved is the last page's, with all their rows;
    /// if anything fails, none of them is kept and the cursor stays.
    /// Returns each page's outcome.
    pub fn apply_server_batches(&mut self, batches: &[ServerBatch]) -> Result<Vec<ApplyOutcome>> {
        // Leads, installations and tombstones change search text; also on
        // failure, a rebuild is cheaper than reasoning about a rollback.
        self.search_index.get_mut().take();
        in_transaction(self, |tx, files| {
            // A first sync writes them all at its end instead (see
            // `bulk_load`).
            let search_texts = !deferred_indexes::search_texts_deferred(tx)?;
            batches
                .iter()
                .map(|batch| apply_page(tx, files, batch, search_texts))
                .collect()
        })
    }

    /// Applies a page read outside the change feed (a first sync's near
    /// window) while the pull from zero under `pull_scope` may already be
    /// applying its pages: records at or below that pull's cursor are left
    /// out of `batch` (the pull has applied every change up to its cursor,
    /// so each is here at that version or a newer one, or was removed by a
    /// later change), the rest is applied as a page would be, in one
    /// transaction with the cursor read. `batch` keeps what was applied.
    pub fn apply_ahead_of_pull(
        &mut self,
        batch: &mut ServerBatch,
        pull_scope: &str,
    ) -> Result<ApplyOutcome> {
        self.search_index.get_mut().take();
        in_transaction(self, |tx, files| {
            if let Some(cursor) = sync_state::cursor(tx, pull_scope)? {
                let left_out = batch.retain_versioned_records(|_, _, version| version > cursor);
                tracing::debug!(
                    cursor,
                    left_out,
                    "records the pull had already brought left out"
                );
            }
            let search_texts = !deferred_indexes::search_texts_deferred(tx)?;
            apply_page(tx, files, batch, search_texts)
        })
    }
}

impl ServerBatch {
    /// Its users, teams, leads, surveys, installations and assignments, as
    /// (kind, id, server version): the records a pull page and a near window
    /// both carry. Tombstones, reports, media, held work and templates are
    /// not among them.
    pub fn versioned_records(&self) -> impl Iterator<Item = (RecordKind, Uuid, i64)> + '_ {
        fn each<T>(
            kind: RecordKind,
            records: &[Versioned<T>],
            id: fn(&T) -> Uuid,
        ) -> impl Iterator<Item = (RecordKind, Uuid, i64)> + '_ {
            records
                .iter()
                .map(move |v| (kind, id(&v.record), v.server_version))
        }
        each(RecordKind::User, &self.users, |r| r.id)
            .chain(each(RecordKind::Team, &self.teams, |r| r.id))
            .chain(each(RecordKind::Lead, &self.leads, |r| r.id))
            .chain(each(RecordKind::Survey, &self.surveys, |r| r.id))
            .chain(each(RecordKind::Installation, &self.installations, |r| {
                r.id
            }))
            .chain(each(RecordKind::Assignment, &self.assignments, |r| r.id))
    }

    /// Keeps of [`Self::versioned_records`] those `keep` says yes to; returns
    /// how many it left out.
    pub fn retain_versioned_records(
        &mut self,
        mut keep: impl FnMut(RecordKind, Uuid, i64) -> bool,
    ) -> usize {
        fn each<T>(
            kind: RecordKind,
            records: &mut Vec<Versioned<T>>,
            id: fn(&T) -> Uuid,
            keep: &mut impl FnMut(RecordKind, Uuid, i64) -> bool,
        ) -> usize {
            let before = records.len();
            records.retain(|v| keep(kind, id(&v.record), v.server_version));
            before - records.len()
        }
        each(RecordKind::User, &mut self.users, |r| r.id, &mut keep)
            + each(RecordKind::Team, &mut self.teams, |r| r.id, &mut keep)
            + each(RecordKind::Lead, &mut self.leads, |r| r.id, &mut keep)
            + each(RecordKind::Survey, &mut self.surveys, |r| r.id, &mut keep)
            + each(
                RecordKind::Installation,
                &mut self.installations,
                |r| r.id,
                &mut keep,
            )
            + each(
                RecordKind::Assignment,
                &mut self.assignments,
                |r| r.id,
                &mut keep,
            )
    }
}

/// One page's records, tombstones, rebase and cursor, inside the caller's
/// transaction; with `search_texts`, the search texts its records change.
fn apply_page(
    tx: &rusqlite::Connection,
    files: &fieldbook_media::MediaStore,
    batch: &ServerBatch,
    search_texts: bool,
) -> Result<ApplyOutcome> {
    let mut outcome = ApplyOutcome::default();
    for v in &batch.users {
        people::upsert_user(tx, &v.record, v.server_version)?;
    }
    for v in &batch.teams {
        people::upsert_team(tx, &v.record, v.server_version)?;
    }
    leads::upsert_leads(tx, &with_versions(&batch.leads))?;
    leads::upsert_surveys(tx, &with_versions(&batch.surveys))?;
    outcome.reused_numbers = release_reused_numbers(tx, &batch.installations)?;
    installations::upsert_all(tx, &with_versions(&batch.installations))?;
    let touched: HashSet<Uuid> = batch.installations.iter().map(|v| v.record.id).collect();
    if search_texts {
        // One statement for the installations whose lead came on an earlier
        // page and one for every installation of the page's leads (this
        // page's and earlier ones': a changed lead changes their text),
        // computed in SQL from the rows just written.
        let page_leads: HashSet<Uuid> = batch.leads.iter().map(|v| v.record.id).collect();
        let of_earlier_leads: Vec<Uuid> = batch
            .installations
            .iter()
            .filter(|v| !page_leads.contains(&v.record.lead_id))
            .map(|v| v.record.id)
            .collect();
        installations::write_search_texts(tx, &of_earlier_leads)?;
        let lead_ids: Vec<Uuid> = page_leads.into_iter().collect();
        installations::write_search_texts_of_leads(tx, &lead_ids)?;
    }
    assignments::upsert_all(tx, &with_versions(&batch.assignments))?;
    // Reports and media after the installations they reference;
    // those still without one wait for the page that brings it.
    let mut touched_media = pulled::place_waiting(tx, files)?;
    for v in &batch.reports {
        let report = &v.record.report;
        if installations::exists(tx, report.installation_id)? {
            pulled::apply_report(tx, files, &v.record, v.server_version)?;
        } else {
            awaiting::park(
                tx,
                "report",
                report.id,
                report.installation_id,
                v.server_version,
                &to_json(&v.record),
            )?;
        }
    }
    for v in &batch.media {
        let m = &v.record.media;
        if installations::exists(tx, m.installation_id)? {
            pulled::apply_media(tx, files, &v.record, v.server_version)?;
            touched_media.insert(m.id);
        } else {
            awaiting::park(
                tx,
                "media",
                m.id,
                m.installation_id,
                v.server_version,
                &to_json(&v.record),
            )?;
        }
    }
    for v in &batch.installations {
        pulled::reopen_if_sent_back(tx, v.record.id, v.record.status)?;
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
        tombstones::apply(tx, tombstone, &mut outcome)?;
    }
    for v in &batch.report_templates {
        templates::upsert(tx, &v.record, v.server_version)?;
    }
    for v in &batch.held_work {
        // Only for a job on this device: a device that never had
        // the job has nothing to show it on.
        if installations::exists(tx, v.record.installation_id)? {
            held_work::apply_pulled(tx, &v.record, v.server_version)?;
        }
    }
    if !batch.installations.is_empty() || !batch.assignments.is_empty() || !touched_media.is_empty()
    {
        outcome.rebased = rebase::rebase_pending(tx, &touched, &touched_media)?;
    }
    if resync::is_active(tx)? {
        let brought: Vec<Uuid> = touched.iter().copied().collect();
        resync::cross_off(tx, resync::INSTALLATION, &brought)?;
    }
    outcome.awaiting_installation = awaiting::count(tx)?;
    sync_state::set_cursor(tx, &batch.scope, batch.cursor, Utc::now())?;
    tracing::debug!(
        cursor = batch.cursor,
        upserted = outcome.upserted,
        installations = batch.installations.len(),
        tombstones = batch.tombstones.len(),
        deleted = outcome.deleted,
        kept = outcome.kept.len(),
        rebased = outcome.rebased,
        awaiting_installation = outcome.awaiting_installation,
        reused_numbers = outcome.reused_numbers.len(),
        "pull page applied"
    );
    Ok(outcome)
}

/// A page's records with their versions, as the row writers take them.
fn with_versions<T>(records: &[Versioned<T>]) -> Vec<(&T, i64)> {
    records
        .iter()
        .map(|v| (&v.record, v.server_version))
        .collect()
}

/// Before a page's installations are written: a local job that holds the
/// INS- number of a different job of the page is gone from the server (its
/// numbers are unique; a restored server hands them out again). It is
/// removed, or — holding unsent work — kept under its number, out of scope,
/// the unique column left to the server's job. Returns those jobs.
fn release_reused_numbers(
    conn: &rusqlite::Connection,
    incoming: &[Versioned<Installation>],
) -> Result<Vec<Uuid>> {
    if incoming.is_empty() {
        return Ok(Vec::new());
    }
    let numbers: std::collections::HashMap<&str, Uuid> = incoming
        .iter()
        .map(|v| (v.record.installation_id.as_str(), v.record.id))
        .collect();
    let holders =
        installations::holders_of_numbers(conn, numbers.keys().map(|n| (*n).to_owned()).collect())?;
    let mut released = Vec::new();
    for (holder, number) in holders {
        if numbers.get(number.as_str()) == Some(&holder) {
            continue;
        }
        tracing::debug!(
            installation = %holder,
            number = %number,
            "the server gave this job's number to another job; releasing it"
        );
        if left_scope::has_unsent_work(conn, holder)? {
            installations::displace_number(conn, holder)?;
            installations::mark_left_scope(conn, holder)?;
        } else {
            left_scope::remove_installation(conn, holder)?;
        }
        released.push(holder);
    }
    Ok(released)
}
