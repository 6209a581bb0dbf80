//! What the kill test and the model test share: a central server that can be
//! cut off and brought back on the same address, Central Ops acting on it
//! directly, technician actions on a device's store, a ledger of every
//! mutation a device created, and the checks that end both tests — every
//! device equal to the server's view of its team, and every mutation on the
//! server exactly once, in device order, with no gap.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{
    Installation, InstallationAssignment, InstallationMedia, InstallationReport,
    InstallationStatus, MutationKind, ReportDraft, Role, Sha256Hex, TimeSlot,
};
use fieldbook_protocol::{AssignRequest, MutationOutcome, PullPage, TransitionRequest};
use fieldbook_server::storage::{Scope, StorageError};
use fieldbook_server::{admin, AppState};
use fieldbook_store::{
    AssignmentResponse, InstallationQuery, OutboxEntry, SignatureInput, Store, StoreError,
};
use fieldbook_sync::{FileCredentialStore, SharedStore, SyncEngine, SyncOptions};
use uuid::Uuid;

use crate::common::TestServer;
pub use crate::common::PASSWORD;

// ---- the central server ----------------------------------------------------

/// The real server on 127.0.0.1 (the engine tests' [`TestServer`]), on a
/// port picked once: stopping and resuming it keeps the address, so the
/// devices' saved server URL stays right across a network cut. Central Ops
/// act on its database directly, so they keep working while the devices
/// cannot reach it. What is added here: ops actions that may be refused
/// (the model tries moves at random) and readers of the whole team view.
#[derive(Debug)]
pub struct Central {
    server: TestServer,
}

fn ops_error(e: fieldbook_server::error::ApiError) -> String {
    e.to_string()
}

impl Central {
    pub async fn start() -> Central {
        Central {
            server: TestServer::start().await,
        }
    }

    pub fn url(&self) -> String {
        self.server.base_url()
    }

    pub fn is_up(&self) -> bool {
        self.server.is_up()
    }

    /// The network is cut: the server stops (in-flight requests finish).
    pub async fn stop(&mut self) {
        self.server.stop().await;
    }

    /// The server comes back: its database and blobs are reopened from disk
    /// (a restarted process) and it listens on the same address again.
    pub async fn resume(&mut self) {
        if !self.server.is_up() {
            self.server.restart().await;
        }
    }

    pub fn state(&self) -> &AppState {
        &self.server.state
    }

    fn ops_id(&self) -> Uuid {
        self.server.ops_id
    }

    // ---- Central Ops ----

    pub fn create_user(&self, username: &str, role: Role) -> Uuid {
        self.server.add_user(username, role)
    }

    pub fn create_team(&self, name: &str, members: &[Uuid]) -> Uuid {
        self.server.ops().add_team(name, members)
    }

    /// Plans an installation for `customer`; returns its id.
    pub fn create_installation(&self, customer: &str) -> Uuid {
        self.server.ops().create_installation(customer)
    }

    pub fn assign(&self, installation: Uuid, team: Uuid) -> Result<Uuid, String> {
        let request = AssignRequest {
            team_id: team,
            is_primary: true,
        };
        admin::assign(&self.state().storage, installation, &request, self.ops_id())
            .map(|v| v.record.id)
            .map_err(ops_error)
    }

    /// Withdraws `team`'s live assignment to `installation`, if it has one.
    pub fn withdraw(&self, installation: Uuid, team: Uuid) -> Result<(), String> {
        let assignment = self
            .state()
            .storage
            .read(|db| db.assignments_of(installation))
            .map_err(|e: StorageError| e.to_string())?
            .into_iter()
            .find(|a| {
                a.record.team_id == team
                    && a.record.status != fieldbook_domain::AssignmentStatus::Withdrawn
            })
            .ok_or("the team has no live assignment")?;
        admin::withdraw_assignment(&self.state().storage, assignment.record.id)
            .map(drop)
            .map_err(ops_error)
    }

    /// An ops lifecycle move; `rescheduled → planned` gets a new date.
    pub fn transition(&self, installation: Uuid, to: InstallationStatus) -> Result<(), String> {
        let replan = to == InstallationStatus::Planned;
        let request = TransitionRequest {
            to,
            expected_from: None,
            reason: Some(format!("ops moved it to {to}")),
            scheduled_date: replan.then(|| NaiveDate::from_ymd_opt(2026, 12, 8).expect("date")),
            scheduled_time_slot: replan.then_some(TimeSlot::Afternoon),
        };
        admin::transition(&self.state().storage, installation, &request)
            .map(drop)
            .map_err(ops_error)
    }

    pub fn installation(&self, id: Uuid) -> Option<Installation> {
        self.state()
            .storage
            .read(|db| db.installation(id))
            .expect("read installation")
            .map(|v| v.record)
    }

    // ---- what the server holds ----

    /// Everything `user` (a technician) sees: a pull from cursor 0 on one
    /// snapshot, i.e. the server's current view of their teams' jobs.
    pub fn team_view(&self, user: Uuid) -> View {
        let blobs = &self.state().blobs;
        let page: PullPage = self
            .state()
            .storage
            .read(|db| {
                db.pull(
                    Scope::for_user(user, Role::Technician),
                    0,
                    1_000_000,
                    &|sha: &Sha256Hex| blobs.contains(sha),
                )
            })
            .expect("server pull");
        assert!(!page.has_more, "the server view did not fit one page");
        let mut view = View::new();
        for v in page.installations {
            view.insert(
                v.record.id,
                JobView {
                    installation: v.record,
                    assignments: Vec::new(),
                    report: None,
                    media: Vec::new(),
                },
            );
        }
        for v in page.assignments {
            if let Some(job) = view.get_mut(&v.record.installation_id) {
                job.assignments.push(v.record);
            }
        }
        for v in page.reports {
            if let Some(job) = view.get_mut(&v.record.report.installation_id) {
                job.report = Some(v.record.report);
            }
        }
        for v in page.media {
            if let Some(job) = view.get_mut(&v.record.media.installation_id) {
                job.media.push(v.record.media);
            }
        }
        for job in view.values_mut() {
            job.sort();
        }
        view
    }

    /// The server's ledger of `device`'s mutations, in device order.
    pub fn mutations_of_device(&self, device: Uuid) -> Vec<ServerMutation> {
        let rows = self.server.mutation_records(device);
        rows.into_iter()
            .map(|row| {
                let (seq, id, kind, result) = row;
                ServerMutation {
                    sequence: seq,
                    mutation_id: id.parse().expect("mutation id"),
                    kind,
                    outcome: serde_json::from_str(&result).expect("stored outcome"),
                }
            })
            .collect()
    }

    /// The last device sequence the server accepted from `device`.
    pub fn device_last_sequence(&self, device: Uuid) -> Option<u64> {
        self.state()
            .storage
            .read(|db| db.device(device))
            .expect("read device")
            .map(|d| d.last_seq)
    }

    /// How many report events the server recorded for one mutation.
    pub fn report_events_of(&self, installation: Uuid, mutation_id: Uuid) -> usize {
        self.state()
            .storage
            .read(|db| db.report_events(installation))
            .expect("read report events")
            .iter()
            .filter(|e| e.mutation_id == Some(mutation_id))
            .count()
    }

    pub fn report_of(&self, installation: Uuid) -> Option<InstallationReport> {
        self.state()
            .storage
            .read(|db| db.report_of(installation))
            .expect("read report")
            .map(|(v, _)| v.record)
    }

    pub fn media(&self, id: Uuid) -> Option<InstallationMedia> {
        self.state()
            .storage
            .read(|db| db.media(id))
            .expect("read media")
            .map(|v| v.record)
    }

    /// Whether the server holds the whole blob and its bytes hash to its name.
    pub fn blob_intact(&self, sha256: &Sha256Hex) -> Result<(), String> {
        let path = self
            .state()
            .blobs
            .path_of(sha256)
            .ok_or_else(|| format!("the server does not have blob {sha256}"))?;
        let actual = file_sha256(&path);
        if &actual != sha256 {
            return Err(format!("the server's blob {sha256} hashes to {actual}"));
        }
        Ok(())
    }
}

pub fn file_sha256(path: &Path) -> Sha256Hex {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Sha256Hex::digest(&bytes)
}

/// One mutation as the server recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMutation {
    pub sequence: i64,
    pub mutation_id: Uuid,
    pub kind: String,
    pub outcome: MutationOutcome,
}

// ---- views: one job with what belongs to it ---------------------------------

/// One installation with its assignments, submitted report and media, as one
/// side holds them. Sorted by id so the two sides compare as values.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub installation: Installation,
    pub assignments: Vec<InstallationAssignment>,
    pub report: Option<InstallationReport>,
    pub media: Vec<InstallationMedia>,
}

impl JobView {
    fn sort(&mut self) {
        self.assignments.sort_by_key(|a| a.id);
        self.media.sort_by_key(|m| m.id);
    }
}

pub type View = BTreeMap<Uuid, JobView>;

/// What a device holds: the jobs in its scope, and those it keeps only
/// because they hold its unsent or refused work (they left its scope).
#[derive(Debug, Clone, Default)]
pub struct DeviceView {
    pub jobs: View,
    pub kept_out_of_scope: View,
    /// Kept jobs with nothing of the technician's on them (a bug).
    pub kept_without_reason: Vec<Uuid>,
}

/// The device's jobs as the model compares them with the server's. Two
/// things the device shows by design are left out:
/// - a report whose submit the server refused: it stays on the device,
///   read-only and in needs-attention, until the technician reopens it
///   (`Store::reopen_refused_report`), so nothing they had signed is lost;
/// - photos and videos in `held_media`: the server received them for a job
///   that had left the technician's scope and holds them for Central Ops;
///   the device keeps showing them as the technician left them.
pub fn device_view(store: &Store, held_media: &BTreeSet<Uuid>) -> DeviceView {
    let parked_reports: BTreeSet<Uuid> = store
        .needs_attention()
        .expect("needs attention")
        .iter()
        .filter_map(|entry| match &entry.mutation {
            fieldbook_domain::Mutation::ReportSubmit { report } => Some(report.id),
            _ => None,
        })
        .collect();
    let summaries = store
        .list_installations(&InstallationQuery {
            limit: 100_000,
            ..Default::default()
        })
        .expect("list installations");
    let mut view = DeviceView::default();
    for summary in summaries {
        let detail = store
            .get_installation(summary.id)
            .expect("installation detail");
        let mut job = JobView {
            installation: detail.installation.clone(),
            assignments: detail
                .assignments
                .iter()
                .map(|a| a.assignment.clone())
                .collect(),
            report: detail
                .report
                .clone()
                .filter(|report| !parked_reports.contains(&report.id)),
            media: detail
                .media
                .iter()
                .filter(|media| !held_media.contains(&media.id))
                .cloned()
                .collect(),
        };
        job.sort();
        if detail.left_scope_at.is_some() {
            // Work the server holds for Central Ops keeps the job too, until
            // the technician has seen the decision.
            let holds_work = detail.pending_changes > 0
                || detail.report_draft.is_some()
                || !detail.held_work.is_empty();
            if !holds_work {
                view.kept_without_reason.push(summary.id);
            }
            view.kept_out_of_scope.insert(summary.id, job);
        } else {
            view.jobs.insert(summary.id, job);
        }
    }
    view
}

/// Every way `device` differs from `server`, one readable line each; empty
/// when they are equal.
pub fn differences(device: &DeviceView, server: &View) -> Vec<String> {
    let mut out = Vec::new();
    let name = |job: &JobView| job.installation.installation_id.to_string();
    for id in &device.kept_without_reason {
        out.push(format!(
            "job {id} is kept as out of scope with no unsent work or draft"
        ));
    }
    for (id, job) in &device.kept_out_of_scope {
        if server.contains_key(id) {
            out.push(format!(
                "job {} is marked out of scope on the device but in scope on the server",
                name(job)
            ));
        }
    }
    for (id, job) in &server.clone() {
        if !device.jobs.contains_key(id) && !device.kept_out_of_scope.contains_key(id) {
            out.push(format!("job {} is on the server only", name(job)));
        }
    }
    for (id, mine) in &device.jobs {
        let Some(theirs) = server.get(id) else {
            out.push(format!(
                "job {} ({}) is on the device only",
                name(mine),
                mine.installation.status
            ));
            continue;
        };
        let job = name(mine);
        if mine.installation != theirs.installation {
            out.push(format!(
                "job {job}: installation differs\n    device: {:?}\n    server: {:?}",
                mine.installation, theirs.installation
            ));
        }
        if mine.assignments != theirs.assignments {
            out.push(format!(
                "job {job}: assignments differ\n    device: {:?}\n    server: {:?}",
                mine.assignments, theirs.assignments
            ));
        }
        if mine.report != theirs.report {
            out.push(format!(
                "job {job}: report differs\n    device: {:?}\n    server: {:?}",
                mine.report.as_ref().map(|r| r.id),
                theirs.report.as_ref().map(|r| r.id)
            ));
        }
        if mine.media != theirs.media {
            let ids = |m: &[InstallationMedia]| {
                m.iter()
                    .map(|m| format!("{} {:?}", m.id, m.caption))
                    .collect::<Vec<_>>()
            };
            out.push(format!(
                "job {job}: media differ\n    device: {:?}\n    server: {:?}",
                ids(&mine.media),
                ids(&theirs.media)
            ));
        }
    }
    out
}

// ---- the ledger of mutations a device created -------------------------------

/// Every mutation a device ever created, by device sequence. Read from the
/// outbox right after each action (before any sync could acknowledge it).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub device_id: Option<Uuid>,
    pub entries: BTreeMap<i64, (Uuid, MutationKind)>,
}

impl Ledger {
    /// Adds the outbox entries not seen yet; returns how many were new.
    pub fn record(&mut self, store: &Store) -> usize {
        let mut outbox: Vec<OutboxEntry> = store.pending_outbox(usize::MAX).expect("outbox");
        outbox.extend(store.needs_attention().expect("needs attention"));
        let mut new = 0;
        for entry in outbox {
            if !self.entries.contains_key(&entry.sequence) {
                new += 1;
            }
            self.note(
                entry.device_id,
                entry.sequence,
                entry.mutation_id,
                entry.kind,
            );
        }
        new
    }

    /// Adds one entry; panics if the sequence was already used for another
    /// mutation (a device must never hand out a sequence twice).
    pub fn note(&mut self, device: Uuid, sequence: i64, mutation_id: Uuid, kind: MutationKind) {
        if let Some(known) = self.device_id {
            assert_eq!(known, device, "the device id changed");
        }
        self.device_id = Some(device);
        if let Some((known, _)) = self.entries.get(&sequence) {
            assert_eq!(
                *known, mutation_id,
                "device sequence {sequence} was handed out twice"
            );
        }
        self.entries.insert(sequence, (mutation_id, kind));
    }
}

/// Checks the server holds every mutation of the ledger exactly once, with
/// its sequence, with no other mutation from the device, and no gap; and that
/// each stored answer agrees with the server's records. Returns the problems.
pub fn ledger_problems(central: &Central, ledger: &Ledger, label: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(device) = ledger.device_id else {
        return out;
    };
    let stored = central.mutations_of_device(device);
    let sequences: Vec<i64> = stored.iter().map(|m| m.sequence).collect();
    let expected_sequences: Vec<i64> = (1..=ledger.entries.len() as i64).collect();
    if sequences != expected_sequences {
        out.push(format!(
            "{label}: the server holds device sequences {sequences:?}, expected {expected_sequences:?}"
        ));
    }
    let ledger_sequences: Vec<i64> = ledger.entries.keys().copied().collect();
    if ledger_sequences != expected_sequences {
        out.push(format!(
            "{label}: the device handed out sequences {ledger_sequences:?} (gaps)"
        ));
    }
    let last = central.device_last_sequence(device).unwrap_or(0);
    if last != ledger.entries.len() as u64 {
        out.push(format!(
            "{label}: the server's last sequence is {last}, the device made {} mutations",
            ledger.entries.len()
        ));
    }
    let ids: BTreeSet<Uuid> = stored.iter().map(|m| m.mutation_id).collect();
    if ids.len() != stored.len() {
        out.push(format!("{label}: a mutation id is stored twice"));
    }
    for m in &stored {
        match ledger.entries.get(&m.sequence) {
            Some((id, kind)) if *id == m.mutation_id && kind.as_str() == m.kind => {}
            Some((id, kind)) => out.push(format!(
                "{label}: sequence {} is {} {} on the server but {} {} on the device",
                m.sequence,
                m.kind,
                m.mutation_id,
                kind.as_str(),
                id
            )),
            None => out.push(format!(
                "{label}: the server holds sequence {} ({}) the device never made",
                m.sequence, m.kind
            )),
        }
        if let MutationOutcome::Rejected { code, reason, .. } = &m.outcome {
            let code = serde_json::to_value(code).expect("code");
            if code == "sequence_gap" || code == "mutation_id_reused" || code == "foreign_device" {
                out.push(format!(
                    "{label}: sequence {} ({}) was refused as {code}: {reason}",
                    m.sequence, m.kind
                ));
            }
        }
    }
    out
}

/// The records behind each stored answer: an applied attach is there unless
/// an applied removal followed, an applied removal left nothing, an accepted
/// report (applied, or kept for review) is there with exactly one event.
pub fn outcome_problems(
    central: &Central,
    stored: &[ServerMutation],
    store_log: &MutationLog,
) -> Vec<String> {
    let mut out = Vec::new();
    let removed: BTreeSet<Uuid> = stored
        .iter()
        .filter(|m| m.kind == "media.remove" && is_applied(&m.outcome))
        .filter_map(|m| store_log.media_of(m.mutation_id))
        .collect();
    for m in stored {
        let accepted = is_applied(&m.outcome)
            || (m.kind == "report.submit" && matches!(m.outcome, MutationOutcome::Conflict { .. }));
        if !accepted {
            continue;
        }
        match m.kind.as_str() {
            "media.attach" => {
                let Some(media) = store_log.media_of(m.mutation_id) else {
                    continue;
                };
                let present = central.media(media).is_some();
                if present == removed.contains(&media) {
                    out.push(format!(
                        "media {media}: attach applied, removal applied: {}, on the server: {present}",
                        removed.contains(&media)
                    ));
                }
            }
            "report.submit" => {
                let Some((installation, report)) = store_log.report_of(m.mutation_id) else {
                    continue;
                };
                let on_server = central.report_of(installation).map(|r| r.id);
                if on_server != Some(report) {
                    out.push(format!(
                        "report {report} was accepted but the server holds {on_server:?}"
                    ));
                }
                let events = central.report_events_of(installation, m.mutation_id);
                if events != 1 {
                    out.push(format!(
                        "report {report}: {events} report events for its one submission"
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

fn is_applied(outcome: &MutationOutcome) -> bool {
    matches!(outcome, MutationOutcome::Applied { .. })
}

/// What the records of a device's mutations were about, by mutation id
/// (the outbox forgets them once they are acknowledged).
#[derive(Debug, Clone, Default)]
pub struct MutationLog {
    media: BTreeMap<Uuid, Uuid>,
    reports: BTreeMap<Uuid, (Uuid, Uuid)>,
}

impl MutationLog {
    /// The photos and videos whose attach the server answered `held`.
    pub fn held_media(&self, stored: &[ServerMutation]) -> BTreeSet<Uuid> {
        stored
            .iter()
            .filter(|m| {
                matches!(m.outcome, MutationOutcome::Held { .. }) && m.kind == "media.attach"
            })
            .filter_map(|m| self.media.get(&m.mutation_id).copied())
            .collect()
    }

    pub fn record(&mut self, entry: &OutboxEntry) {
        use fieldbook_domain::Mutation;
        match &entry.mutation {
            Mutation::MediaAttach { media } => {
                self.media.insert(entry.mutation_id, media.id);
            }
            Mutation::MediaRemove { media_id } | Mutation::MediaCaption { media_id, .. } => {
                self.media.insert(entry.mutation_id, *media_id);
            }
            Mutation::ReportSubmit { report } => {
                self.reports
                    .insert(entry.mutation_id, (report.installation_id, report.id));
            }
            _ => {}
        }
    }

    /// For a log kept from another process's reports.
    pub fn note_media(&mut self, mutation_id: Uuid, media_id: Uuid) {
        self.media.insert(mutation_id, media_id);
    }

    pub fn note_report(&mut self, mutation_id: Uuid, installation_id: Uuid, report_id: Uuid) {
        self.reports
            .insert(mutation_id, (installation_id, report_id));
    }

    pub fn media_of(&self, mutation_id: Uuid) -> Option<Uuid> {
        self.media.get(&mutation_id).copied()
    }

    pub fn report_of(&self, mutation_id: Uuid) -> Option<(Uuid, Uuid)> {
        self.reports.get(&mutation_id).copied()
    }
}

/// Every blob a device's store refers to (its photos, videos and signatures)
/// must be on the server, whole.
pub fn blob_problems(central: &Central, store: &Store, view: &View) -> Vec<String> {
    let mut out = Vec::new();
    let mut hashes = BTreeSet::new();
    for job in view.values() {
        for m in &job.media {
            hashes.insert(m.file.sha256.clone());
        }
        if let Some(sig) = job
            .report
            .as_ref()
            .and_then(|r| r.customer_signature.as_ref())
        {
            hashes.insert(sig.png.sha256.clone());
        }
    }
    for sha in hashes {
        if let Err(e) = central.blob_intact(&sha) {
            out.push(e);
        }
        let local = store.media_store().blob_path(&sha);
        if local.is_file() && file_sha256(&local) != sha {
            out.push(format!("the device's copy of {sha} is damaged"));
        }
    }
    out
}

// ---- what a technician does ---------------------------------------------------

/// One thing a technician does on a job, offline. Refusals a technician can
/// meet (wrong state, missing field, not theirs) leave the store unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechAction {
    /// From confirmed; "start anyway" (with a reason) from before.
    Start,
    Finish,
    CouldNotComplete,
    AcceptAssignment,
    SetFlags {
        customer_confirmed: bool,
        demo_completed: Option<bool>,
    },
    SaveDraft,
    /// Completes the draft if needed, has the customer sign, submits.
    SignAndSubmit,
    AttachPhoto,
    AttachVideo {
        bytes: usize,
    },
    Caption {
        pick: usize,
    },
    RemoveMedia {
        pick: usize,
    },
}

/// Error codes a technician's refused action may carry.
pub const EXPECTED_REFUSALS: &[&str] = &[
    "validation",
    "lifecycle",
    "report_submitted",
    "not_found",
    "not_permitted",
];

/// Does `action` on `job`; `Ok(false)` when it did not apply (nothing to
/// pick, or a refusal a technician can meet). `unique` makes the content of
/// files and texts new.
pub fn perform(
    store: &mut Store,
    scratch: &Path,
    unique: u64,
    job: Uuid,
    action: &TechAction,
) -> Result<bool, StoreError> {
    match act(store, scratch, unique, job, action) {
        Ok(done) => Ok(done),
        Err(e) if EXPECTED_REFUSALS.contains(&e.code()) => Ok(false),
        Err(e) => Err(e),
    }
}

fn act(
    store: &mut Store,
    scratch: &Path,
    unique: u64,
    job: Uuid,
    action: &TechAction,
) -> Result<bool, StoreError> {
    let detail = store.get_installation(job)?;
    let status = detail.installation.status;
    match action {
        TechAction::Start => {
            let request = match status {
                InstallationStatus::Confirmed => StartRequest::default(),
                _ => StartRequest {
                    override_reason: Some(format!("Customer at home, start anyway ({unique})")),
                },
            };
            store.start_installation(job, &request)?;
        }
        TechAction::Finish => {
            store.finish_installation(job)?;
        }
        TechAction::CouldNotComplete => {
            store.could_not_complete(job, &format!("No access to the garage ({unique})"))?;
        }
        TechAction::AcceptAssignment => {
            let Some(mine) = detail.assignments.iter().find(|a| a.is_mine) else {
                return Ok(false);
            };
            store.respond_to_assignment(mine.assignment.id, &AssignmentResponse::Accept)?;
        }
        TechAction::SetFlags {
            customer_confirmed,
            demo_completed,
        } => {
            store.set_installation_flags(job, Some(*customer_confirmed), *demo_completed)?;
        }
        TechAction::SaveDraft => {
            let mut draft = detail
                .report_draft
                .unwrap_or_else(|| ReportDraft::new(job, Utc::now()));
            fill_draft(&mut draft, unique);
            store.save_report_draft(&draft)?;
        }
        TechAction::SignAndSubmit => {
            let mut draft = detail
                .report_draft
                .unwrap_or_else(|| ReportDraft::new(job, Utc::now()));
            if draft.installation_successful.is_none() {
                fill_draft(&mut draft, unique);
                store.save_report_draft(&draft)?;
            }
            store.sign_report(job, &signature(unique))?;
            store.submit_report(job)?;
        }
        TechAction::AttachPhoto => {
            let path = scratch.join(format!("photo-{unique}.png"));
            std::fs::write(&path, unique_png(unique)).expect("write photo");
            store.attach_media(job, &path, &format!("Photo {unique}"))?;
        }
        TechAction::AttachVideo { bytes } => {
            let path = scratch.join(format!("video-{unique}.mp4"));
            write_video(&path, unique, *bytes);
            store.attach_media(job, &path, &format!("Video {unique}"))?;
        }
        TechAction::Caption { pick } => {
            let Some(media) = pick_own_media(store, &detail.media, *pick)? else {
                return Ok(false);
            };
            store.set_media_caption(media, &format!("Caption {unique}"))?;
        }
        TechAction::RemoveMedia { pick } => {
            let Some(media) = pick_own_media(store, &detail.media, *pick)? else {
                return Ok(false);
            };
            store.remove_media(media)?;
        }
    }
    Ok(true)
}

/// The `pick`-th (modulo) photo or video the signed-in technician added.
fn pick_own_media(
    store: &Store,
    media: &[InstallationMedia],
    pick: usize,
) -> Result<Option<Uuid>, StoreError> {
    let me = store.session()?.map(|s| s.user.id);
    let own: Vec<&InstallationMedia> = media.iter().filter(|m| Some(m.uploaded_by) == me).collect();
    if own.is_empty() {
        return Ok(None);
    }
    Ok(Some(own[pick % own.len()].id))
}

fn fill_draft(draft: &mut ReportDraft, unique: u64) {
    draft.charger_serial_number = format!("SN-{unique:06}");
    draft.charger_model = "Zappi 7kW".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(draft);
    draft.demo_given = unique.is_multiple_of(2);
    draft.general_notes = format!("Installed on the garage wall ({unique})");
}

/// A small real PNG whose pixels encode `n`, so every one is a new blob.
pub fn unique_png(n: u64) -> Vec<u8> {
    let bytes = n.to_le_bytes();
    let img = image::RgbImage::from_fn(24, 16, |x, y| {
        image::Rgb([bytes[(x as usize) % 8], (y as u8).wrapping_mul(9), x as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// An MP4 (by its header; videos are never decoded) of `bytes` bytes whose
/// content depends on `seed`, written in chunks.
pub fn write_video(path: &Path, seed: u64, bytes: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create video"));
    let header = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2";
    file.write_all(header).expect("write video");
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut written = header.len();
    let mut chunk = vec![0u8; 64 * 1024];
    while written < bytes {
        for b in chunk.iter_mut() {
            // xorshift: cheap bytes that do not compress or repeat.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        let n = chunk.len().min(bytes - written);
        file.write_all(&chunk[..n]).expect("write video");
        written += n;
    }
    file.flush().expect("flush video");
}

pub fn signature(n: u64) -> SignatureInput {
    SignatureInput {
        png: unique_png(n ^ 0xA5A5),
        strokes: fieldbook_testkit::signature_strokes(),
        signer_name: "Olivia Smith".into(),
    }
}

/// A readable report of problems, or `Ok`.
pub fn verdict(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for p in problems {
        let _ = writeln!(text, "- {p}");
    }
    Err(text)
}

pub fn scratch_dir(root: &Path) -> PathBuf {
    let dir = root.join("scratch");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

// ---- a device: its store and sync engine ---------------------------------------

/// Opens the store in `data_dir` (waiting for a previous owner of the
/// directory lock to let go) and a sync engine over it, with the token in a
/// file in the data dir (devices of one test must not share a keyring entry).
pub fn open_device(data_dir: &Path) -> (SharedStore, SyncEngine) {
    let store = open_store(data_dir);
    let shared: SharedStore = Arc::new(Mutex::new(store));
    let mut options = SyncOptions::new(data_dir);
    options.credentials = Arc::new(FileCredentialStore::new(data_dir));
    let engine = SyncEngine::new(Arc::clone(&shared), options).expect("sync engine");
    (shared, engine)
}

/// Opens the store, retrying while the directory is still locked (a dropped
/// engine's last clone of the store may take a moment to go).
pub fn open_store(data_dir: &Path) -> Store {
    let mut waited = Duration::ZERO;
    loop {
        match Store::open(data_dir) {
            Ok(store) => return store,
            Err(e) if e.code() == "locked" && waited < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
                waited += Duration::from_millis(20);
            }
            Err(e) => panic!("cannot open the store in {}: {e}", data_dir.display()),
        }
    }
}

/// Locks the shared store (a test never holds it across an await).
pub fn locked(store: &SharedStore) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}
