//! Crash consistency: a child process works through demo jobs as fast as it
//! can and is SIGKILLed at an arbitrary moment, several rounds in a row. After
//! every kill the store must open, SQLite must be intact, and the local state
//! must be exactly the pulled server state plus the outbox replayed on top:
//! no change without its outbox entry, no entry without its change, device
//! sequences contiguous, every referenced file whole and correctly named.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{child_command, child_data_dir, child_role, child_says, ChildGuard};
use fieldbook_demo::{generate, DemoConfig, DemoData};
use fieldbook_domain::lifecycle::{self, StartRequest};
use fieldbook_domain::{
    AssignmentStatus, Installation, InstallationAssignment, InstallationMedia, InstallationReport,
    InstallationStatus, Mutation, ReportDraft, Sha256Hex,
};
use fieldbook_store::{
    AssignmentResponse, InstallationQuery, ServerBatch, Store, StoreError, Versioned,
};
use uuid::Uuid;

const TEST_NAME: &str = "killed_mid_action_the_store_reopens_consistent";
/// Rounds of the normal test; `make soak` sets [`ROUNDS_ENV`] to 1,000.
const ROUNDS: u64 = 8;
const ROUNDS_ENV: &str = "FIELDBOOK_STORE_CRASH_ROUNDS";
/// A fresh store every so many rounds: after a few hundred actions every
/// job is submitted and a technician has nothing left to do.
const ROUNDS_PER_STORE: u64 = 10;
const SEED_ENV: &str = "FIELDBOOK_STORE_TEST_CRASH_SEED";
const JOBS: usize = 30;

/// A tiny deterministic generator (the child's choices need no quality).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn demo() -> DemoData {
    // A fixed "today" so the statuses (which follow the date) are the same on
    // every run; one team, so every job is the technician's.
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    generate(&DemoConfig::new(JOBS, 1, today))
}

fn v<T>(record: T, server_version: i64) -> Versioned<T> {
    Versioned {
        record,
        server_version,
    }
}

fn seed_store(data_dir: &Path, demo: &DemoData) {
    let mut store = Store::open(data_dir).unwrap();
    store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 1,
            users: demo.users.iter().map(|u| v(u.user.clone(), 1)).collect(),
            teams: demo.teams.iter().map(|t| v(t.clone(), 1)).collect(),
            leads: demo.leads.iter().map(|l| v(l.clone(), 1)).collect(),
            surveys: demo.surveys.iter().map(|s| v(s.clone(), 1)).collect(),
            installations: demo.installations.iter().map(|i| v(i.clone(), 1)).collect(),
            assignments: demo.assignments.iter().map(|a| v(a.clone(), 1)).collect(),
            reports: Vec::new(),
            media: Vec::new(),
            tombstones: Vec::new(),
            held_work: Vec::new(),
            report_templates: Vec::new(),
        })
        .unwrap();
    let technician = &demo.technicians().next().unwrap().user;
    let teams: Vec<Uuid> = demo
        .teams
        .iter()
        .filter(|t| t.member_ids.contains(&technician.id))
        .map(|t| t.id)
        .collect();
    store.sign_in(technician, &teams).unwrap();
}

// ---- the child: a technician in a hurry ---------------------------------------

/// A small PNG whose pixels encode `n`, so every attachment is a new blob.
fn unique_png(n: u64) -> Vec<u8> {
    let bytes = n.to_le_bytes();
    let img = image::RgbImage::from_fn(24, 16, |x, y| {
        image::Rgb([bytes[(x as usize) % 8], (y as u8).wrapping_mul(9), x as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// One action fitting the job's state. `Ok(name)` when it changed something.
fn act(
    store: &mut Store,
    rng: &mut Lcg,
    scratch: &Path,
    unique: u64,
    job: Uuid,
) -> Result<Option<&'static str>, StoreError> {
    use InstallationStatus::*;
    let detail = store.get_installation(job)?;
    let status = detail.installation.status;
    let roll = rng.below(10);
    if matches!(status, Closed | ReportSubmitted | Cancelled | Rescheduled) && roll > 1 {
        // Mostly work on open jobs: that is where the outbox grows.
        return Ok(None);
    }
    let mine = detail.assignments.iter().find(|a| a.is_mine);
    if let Some(a) = mine.filter(|a| a.assignment.status == AssignmentStatus::Assigned) {
        if roll < 3 {
            store.respond_to_assignment(a.assignment.id, &AssignmentResponse::Accept)?;
            return Ok(Some("respond"));
        }
    }
    match (status, roll) {
        (Confirmed, 0..=5) => {
            store.start_installation(job, &StartRequest::default())?;
            Ok(Some("start"))
        }
        (Planned | MaterialPending | MaterialReady, 0..=3) => {
            store.start_installation(
                job,
                &StartRequest {
                    override_reason: Some(format!("Customer asked ({unique})")),
                },
            )?;
            Ok(Some("start anyway"))
        }
        (InProgress | Completed, 0..=2) => {
            let path = scratch.join(format!("photo-{unique}.png"));
            std::fs::write(&path, unique_png(unique)).unwrap();
            store.attach_media(job, &path, &format!("photo {unique}"))?;
            Ok(Some("attach"))
        }
        (InProgress, 3..=4) => {
            let mut draft = detail
                .report_draft
                .unwrap_or_else(|| ReportDraft::new(job, chrono::Utc::now()));
            draft.charger_serial_number = format!("SN-{}", unique % 7);
            draft.charger_model = "Zappi 7kW".into();
            draft.installation_successful = Some(true);
            fieldbook_testkit::fill_default_template(&mut draft);
            draft.demo_given = unique.is_multiple_of(2);
            draft.general_notes = format!("note {unique}");
            store.save_report_draft(&draft)?;
            Ok(Some("save draft"))
        }
        (InProgress, 5) => {
            store.finish_installation(job)?;
            Ok(Some("finish"))
        }
        (InProgress, 6) if unique.is_multiple_of(5) => {
            store.could_not_complete(job, "No access to the garage")?;
            Ok(Some("could not complete"))
        }
        (Completed, 5..=9) => {
            // Move the report along: fill in, have it signed, submit.
            let draft = detail.report_draft.clone();
            let hashes: Vec<Sha256Hex> =
                detail.media.iter().map(|m| m.file.sha256.clone()).collect();
            match draft {
                Some(d) if d.installation_successful.is_some() => {
                    let signed = d
                        .customer_signature
                        .as_ref()
                        .is_some_and(|s| s.content_hash == d.content_hash(&hashes));
                    if signed {
                        store.submit_report(job)?;
                        Ok(Some("submit"))
                    } else {
                        store.sign_report(job, &common::signature("Olivia Smith"))?;
                        Ok(Some("sign"))
                    }
                }
                _ => {
                    let mut d = draft.unwrap_or_else(|| ReportDraft::new(job, chrono::Utc::now()));
                    d.charger_serial_number = format!("SN-{unique}");
                    d.charger_model = "Zappi 7kW".into();
                    d.installation_successful = Some(true);
                    fieldbook_testkit::fill_default_template(&mut d);
                    store.save_report_draft(&d)?;
                    Ok(Some("save draft"))
                }
            }
        }
        (_, 7) if !detail.media.is_empty() => {
            let media = &detail.media[rng.below(detail.media.len())];
            store.set_media_caption(media.id, &format!("caption {unique}"))?;
            Ok(Some("caption"))
        }
        (InProgress, 8) if !detail.media.is_empty() => {
            store.remove_media(detail.media[0].id)?;
            Ok(Some("remove media"))
        }
        _ => {
            let flags = store.get_installation(job)?.installation;
            store.set_installation_flags(
                job,
                Some(!flags.customer_confirmed),
                roll.is_multiple_of(2).then_some(!flags.demo_completed),
            )?;
            Ok(Some("flags"))
        }
    }
}

fn run_technician(seed: u64) {
    let data_dir = child_data_dir();
    let scratch = data_dir.with_file_name("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut store = Store::open(&data_dir).unwrap();
    let jobs: Vec<Uuid> = store
        .list_installations(&InstallationQuery {
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let mut rng = Lcg(seed);
    let mut done = 0u64;
    // Bounded, so an orphan (the parent killed) ends on its own; the parent
    // kills it long before.
    for attempt in 0u64..20_000 {
        let job = jobs[rng.below(jobs.len())];
        // The job of the action a kill may interrupt.
        child_says(format!("begin {job}"));
        let unique = seed * 1_000_000 + attempt;
        match act(&mut store, &mut rng, &scratch, unique, job) {
            Ok(None) => {}
            Ok(Some(name)) => {
                done += 1;
                // What the parent may hold the store to after a kill: the
                // outbox entries acknowledged so far and, for a draft save,
                // the saved serial number.
                let outbox = store.outbox_counts().unwrap();
                let draft = match name {
                    "save draft" => store
                        .get_installation(job)
                        .unwrap()
                        .report_draft
                        .map(|d| d.charger_serial_number)
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                child_says(format!(
                    "done {done} {name}\t{job}\t{}\t{draft}",
                    outbox.pending + outbox.needs_attention
                ));
            }
            // Refusals a technician can meet (e.g. submitting before
            // signing); anything else is a store failure.
            Err(e) if matches!(e.code(), "validation" | "lifecycle" | "report_submitted") => {}
            Err(e) => panic!("action failed: {e:?}"),
        }
    }
}

// ---- the parent: kill, reopen, check -------------------------------------------

/// Replays the outbox over the pulled server state: what the local rows must be.
#[derive(Default)]
struct Expected {
    installations: HashMap<Uuid, Installation>,
    assignments: HashMap<Uuid, InstallationAssignment>,
    reports: HashMap<Uuid, InstallationReport>,
    media: BTreeMap<Uuid, InstallationMedia>,
    override_reasons: HashMap<Uuid, String>,
    started: Vec<Uuid>,
}

fn replay(demo: &DemoData, store: &Store, my_teams: &[Uuid]) -> Expected {
    let mut e = Expected {
        installations: demo
            .installations
            .iter()
            .map(|i| (i.id, i.clone()))
            .collect(),
        assignments: demo.assignments.iter().map(|a| (a.id, a.clone())).collect(),
        ..Default::default()
    };
    let device_id = store.device_id();
    for entry in store.pending_outbox(usize::MAX).unwrap() {
        assert_eq!(entry.device_id, device_id);
        let m = &entry.mutation;
        let inst = m
            .installation_id()
            .and_then(|id| e.installations.get_mut(&id));
        let replayed = match (m, inst) {
            (
                Mutation::InstallationStart {
                    installation_id,
                    expected_from,
                    override_reason,
                    at,
                },
                Some(inst),
            ) => {
                e.started.push(*installation_id);
                if let Some(reason) = override_reason {
                    e.override_reasons.insert(*installation_id, reason.clone());
                }
                let request = StartRequest {
                    override_reason: override_reason.clone(),
                };
                lifecycle::start(inst, *expected_from, &request, *at).map(drop)
            }
            (
                Mutation::InstallationFinish {
                    expected_from, at, ..
                },
                Some(inst),
            ) => lifecycle::finish(inst, *expected_from, *at),
            (
                Mutation::InstallationCouldNotComplete {
                    expected_from,
                    reason,
                    at,
                    ..
                },
                Some(inst),
            ) => lifecycle::could_not_complete(inst, *expected_from, reason, *at),
            (
                Mutation::InstallationSetFlags {
                    customer_confirmed,
                    demo_completed,
                    base_customer_confirmed,
                    base_demo_completed,
                    ..
                },
                Some(inst),
            ) => {
                assert_eq!(
                    (inst.customer_confirmed, inst.demo_completed),
                    (*base_customer_confirmed, *base_demo_completed),
                    "set_flags based on values the device did not have"
                );
                inst.customer_confirmed = customer_confirmed.unwrap_or(inst.customer_confirmed);
                inst.demo_completed = demo_completed.unwrap_or(inst.demo_completed);
                Ok(())
            }
            (Mutation::ReportSubmit { report }, Some(inst)) => {
                for a in e.assignments.values_mut() {
                    if a.installation_id == inst.id
                        && my_teams.contains(&a.team_id)
                        && matches!(
                            a.status,
                            AssignmentStatus::Assigned | AssignmentStatus::Accepted
                        )
                    {
                        a.status = AssignmentStatus::Completed;
                    }
                }
                let previous = e.reports.insert(inst.id, (**report).clone());
                assert!(previous.is_none(), "two report.submit for one job");
                lifecycle::submit_report(inst, report.demo_given, report.submitted_at)
            }
            (
                Mutation::AssignmentRespond {
                    assignment_id,
                    response,
                    reason,
                    at,
                },
                _,
            ) => {
                let a = e.assignments.get_mut(assignment_id).unwrap();
                assert_eq!(a.status, AssignmentStatus::Assigned, "answered twice");
                a.status = *response;
                a.decline_reason = reason.clone();
                a.responded_at = Some(*at);
                Ok(())
            }
            // Names the report's certificate blob; the job's state and the
            // records this test follows do not change.
            (Mutation::ReportCertificate { .. }, _) => Ok(()),
            (Mutation::MediaAttach { media }, _) => {
                let previous = e.media.insert(media.id, media.clone());
                assert!(previous.is_none(), "media attached twice");
                Ok(())
            }
            (Mutation::MediaCaption { media_id, caption }, _) => {
                e.media
                    .get_mut(media_id)
                    .expect("caption of unknown media")
                    .caption = caption.clone();
                Ok(())
            }
            (Mutation::MediaRemove { media_id }, _) => {
                e.media.remove(media_id).expect("removal of unknown media");
                Ok(())
            }
            (other, None) => panic!("outbox entry for an unknown installation: {other:?}"),
        };
        replayed
            .unwrap_or_else(|err| panic!("outbox entry {} does not replay: {err}", entry.sequence));
    }
    e
}

fn file_sha256(path: &Path) -> Sha256Hex {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap_or_else(|err| panic!("{} is missing: {err}", path.display()))
        .read_to_end(&mut bytes)
        .unwrap();
    Sha256Hex::digest(&bytes)
}

fn assert_blob_whole(store: &Store, sha256: &Sha256Hex, size: u64) {
    let path = store.media_store().blob_path(sha256);
    assert_eq!(&file_sha256(&path), sha256, "{} is damaged", path.display());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
}

fn check_consistency(data_dir: &Path, demo: &DemoData) -> usize {
    let store = Store::open(data_dir).unwrap();
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    let integrity: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let fk_problems: i64 = raw
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk_problems, 0);

    // Nothing was ever acknowledged: the outbox is every sequence handed out.
    let last_sequence: i64 = raw
        .query_row("SELECT last_sequence FROM device", [], |r| r.get(0))
        .unwrap();
    let outbox = store.pending_outbox(usize::MAX).unwrap();
    let sequences: Vec<i64> = outbox.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=last_sequence).collect::<Vec<_>>());

    let my_teams = store.session().unwrap().unwrap().team_ids;
    let expected = replay(demo, &store, &my_teams);

    // What the device keeps as the server's word is the pulled state: the
    // actions changed only the local view of it.
    for pulled in &demo.installations {
        let server: (String, bool, bool) = raw
            .query_row(
                "SELECT server_status, server_customer_confirmed, server_demo_completed
                 FROM installations WHERE id = ?1",
                [pulled.id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            server,
            (
                pulled.status.as_str().to_owned(),
                pulled.customer_confirmed,
                pulled.demo_completed
            )
        );
    }

    for (id, want) in &expected.installations {
        let detail = store.get_installation(*id).unwrap();
        let mut got = detail.installation.clone();
        // set_flags stamps updated_at without carrying a time; all else must match.
        got.updated_at = want.updated_at;
        assert_eq!(&got, want, "installation {} differs", want.installation_id);
        for a in &detail.assignments {
            assert_eq!(&a.assignment, &expected.assignments[&a.assignment.id]);
        }
        assert_eq!(
            detail.report.as_ref(),
            expected.reports.get(id),
            "submitted report of {} without (or unlike) its report.submit",
            want.installation_id
        );
        let want_media: Vec<&InstallationMedia> = expected
            .media
            .values()
            .filter(|m| m.installation_id == *id)
            .collect();
        let mut got_media: Vec<&InstallationMedia> = detail.media.iter().collect();
        got_media.sort_by_key(|m| m.id);
        assert_eq!(got_media, want_media, "media of {}", want.installation_id);
        if expected.started.contains(id) {
            let draft = detail.report_draft.as_ref().expect("started without draft");
            assert_eq!(
                draft.start_override_reason.as_ref(),
                expected.override_reasons.get(id)
            );
        }
        if let Some(sig) = detail
            .report_draft
            .as_ref()
            .and_then(|d| d.customer_signature.as_ref())
        {
            assert_blob_whole(&store, &sig.png.sha256, sig.png.size);
        }
    }

    // Every attached file and submitted signature is whole and queued once.
    let mut queued: Vec<Sha256Hex> = Vec::new();
    for media in expected.media.values() {
        assert_blob_whole(&store, &media.file.sha256, media.file.size);
        queued.push(media.file.sha256.clone());
    }
    for report in expected.reports.values() {
        if let Some(sig) = &report.customer_signature {
            assert_blob_whole(&store, &sig.png.sha256, sig.png.size);
            queued.push(sig.png.sha256.clone());
        }
    }
    let blobs = store.blobs_pending_upload(usize::MAX).unwrap();
    for sha in &queued {
        assert!(
            blobs.iter().any(|b| &b.blob.sha256 == sha),
            "{sha} not queued"
        );
    }
    for b in &blobs {
        assert_eq!(b.local_path, store.media_store().blob_path(&b.blob.sha256));
        assert_blob_whole(&store, &b.blob.sha256, b.blob.size);
    }
    // A file under a blob name is always complete: a killed import leaves at
    // most a temp file in tmp/, never a torn blob.
    let media_root = store.media_store().root().to_path_buf();
    for shard in std::fs::read_dir(&media_root).unwrap() {
        let shard = shard.unwrap().path();
        let name = shard.file_name().unwrap().to_string_lossy().into_owned();
        if name == "tmp" || name == "thumbs" || !shard.is_dir() {
            continue;
        }
        for blob in std::fs::read_dir(&shard).unwrap() {
            let path: PathBuf = blob.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(file_sha256(&path).as_str(), name, "torn blob");
        }
    }
    outbox.len()
}

#[test]
fn killed_mid_action_the_store_reopens_consistent() {
    if child_role().is_some() {
        let seed = std::env::var(SEED_ENV).unwrap().parse().unwrap();
        run_technician(seed);
        return;
    }
    let rounds: u64 = std::env::var(ROUNDS_ENV)
        .ok()
        .map(|r| r.parse().expect("a round count"))
        .unwrap_or(ROUNDS);
    let demo = demo();
    let dir = tempfile::tempdir().unwrap();
    let mut data_dir = PathBuf::new();
    let mut acked = AckedSaves::default();
    let mut lost = 0u64;
    let mut intact_rounds = 0u64;

    let mut kill_points = Lcg(u64::from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    ));
    let mut total_actions = 0;
    let mut actions: BTreeMap<String, u32> = BTreeMap::new();
    for round in 1..=rounds {
        if (round - 1) % ROUNDS_PER_STORE == 0 {
            // The previous store was checked after each of its rounds.
            if data_dir.exists() {
                std::fs::remove_dir_all(&data_dir).unwrap();
            }
            data_dir = dir.path().join(format!("data-{round}"));
            seed_store(&data_dir, &demo);
            acked = AckedSaves::default();
        }
        // Random-ish, printed so a failing round can be told apart.
        let kill_after = 3 + kill_points.below(40) as u64;
        let mut child = ChildGuard(
            child_command(TEST_NAME, "technician", &data_dir)
                .env(SEED_ENV, round.to_string())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        let mut done = 0;
        for line in lines.by_ref() {
            if let Some(action) = acked.read(&line.unwrap()) {
                done += 1;
                *actions.entry(action).or_insert(0) += 1;
                if done >= kill_after {
                    break;
                }
            }
        }
        if done < kill_after {
            let mut stderr = String::new();
            child
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .ok();
            panic!("round {round}: the child stopped after {done} actions:\n{stderr}");
        }
        // SIGKILL while the child is in the middle of its next action.
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // What it said before it died is in the pipe: acknowledgements after
        // the one that triggered the kill, and the action under way.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(action) = acked.read(&line) {
                done += 1;
                *actions.entry(action).or_insert(0) += 1;
            }
        }
        total_actions += done;

        let entries = check_consistency(&data_dir, &demo);
        intact_rounds += 1;
        let lost_now = acked.lost(&data_dir);
        lost += lost_now;
        acked.forget_in_flight();
        eprintln!(
            "round {round}: killed after {done} actions; {entries} outbox entries; \
             {lost_now} acknowledged saves lost"
        );
    }
    eprintln!("actions before the kills: {actions:?}");
    eprintln!(
        "store kill-during-save: {rounds} rounds, {total_actions} acknowledged actions, \
         acknowledged saves lost: {lost}, integrity check passed {intact_rounds}/{rounds} rounds"
    );
    assert_eq!(lost, 0, "acknowledged saves lost");
    assert!(total_actions >= rounds * 3);
}

/// What the child acknowledged (its action returned `Ok`) before a kill.
#[derive(Default)]
struct AckedSaves {
    /// Outbox entries acknowledged so far (each mutation is one).
    outbox: u64,
    /// Per job, the serial number of its last acknowledged draft save, while
    /// no later action on the job was acknowledged.
    drafts: HashMap<Uuid, String>,
    /// The job of the action under way when the kill came (it may have
    /// changed that job's draft after its last acknowledged save).
    in_flight: InFlight,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum InFlight {
    #[default]
    Nothing,
    Job(Uuid),
    /// The kill cut the child's line: any job may have changed.
    Unknown,
}

impl AckedSaves {
    /// Takes in one line of the child's output; the action's name if it was
    /// an acknowledgement.
    fn read(&mut self, line: &str) -> Option<String> {
        let report = common::child_report(line)?;
        if let Some(job) = report.strip_prefix("begin ") {
            self.in_flight = job.parse().map_or(InFlight::Unknown, InFlight::Job);
            return None;
        }
        let mut fields = report.split('\t');
        let action = fields.next()?.splitn(3, ' ').nth(2)?.to_owned();
        let parsed = match fields.collect::<Vec<_>>()[..] {
            [job, outbox, draft] => job
                .parse::<Uuid>()
                .ok()
                .zip(outbox.parse::<u64>().ok())
                .map(|(job, outbox)| (job, outbox, draft)),
            _ => None,
        };
        let Some((job, outbox, draft)) = parsed else {
            // Only the last line can be cut short by the kill.
            self.in_flight = InFlight::Unknown;
            return None;
        };
        self.outbox = outbox;
        self.in_flight = InFlight::Nothing;
        if action == "save draft" {
            self.drafts.insert(job, draft.to_owned());
        } else {
            self.drafts.remove(&job);
        }
        Some(action)
    }

    /// After a round's check: the action the kill interrupted may or may not
    /// have changed its job's draft, so that draft is no longer held to the
    /// last acknowledged save (a later acknowledged save sets it again).
    fn forget_in_flight(&mut self) {
        match self.in_flight {
            InFlight::Nothing => {}
            InFlight::Job(job) => {
                self.drafts.remove(&job);
            }
            InFlight::Unknown => self.drafts.clear(),
        }
        self.in_flight = InFlight::Nothing;
    }

    /// Acknowledged saves the reopened store does not hold.
    fn lost(&self, data_dir: &Path) -> u64 {
        let store = Store::open(data_dir).unwrap();
        let counts = store.outbox_counts().unwrap();
        let outbox_lost = self
            .outbox
            .saturating_sub(counts.pending + counts.needs_attention);
        let drafts_lost = self
            .drafts
            .iter()
            .filter(|(job, _)| match self.in_flight {
                InFlight::Nothing => true,
                InFlight::Job(in_flight) => **job != in_flight,
                InFlight::Unknown => false,
            })
            .filter(|(job, serial)| {
                let draft = store.get_installation(**job).unwrap().report_draft;
                draft.map(|d| d.charger_serial_number).as_ref() != Some(*serial)
            })
            .count() as u64;
        outbox_lost + drafts_lost
    }
}
