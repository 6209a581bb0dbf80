//! The device's process is SIGKILLed in the middle of syncs, round after
//! round: while pushing, while pulling, while uploading a video, at a random
//! moment. The child (this test binary run again with a role in its
//! environment) works through jobs offline and syncs in a loop; the parent
//! kills it, checks the store it left, and starts it again on the same data
//! dir. At the end one more sync must leave: every mutation on the server
//! exactly once in device order with no gap and nothing refused, the outbox
//! and the upload queue empty, every file on the server hashing to its name,
//! and the device equal to the server's view of its team.

mod common;
#[path = "common/model_support.rs"]
mod model_support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fieldbook_domain::{InstallationStatus, Mutation, MutationKind, Role};
use fieldbook_protocol::MutationOutcome;
use fieldbook_store::InstallationQuery;
use fieldbook_sync::SyncPhase;
use model_support::{
    blob_problems, device_view, differences, ledger_problems, locked, open_device, open_store,
    outcome_problems, perform, scratch_dir, verdict, Central, Ledger, MutationLog, TechAction,
    PASSWORD,
};
use uuid::Uuid;

const TEST_NAME: &str = "killed_during_sync_the_device_resumes_and_nothing_is_lost_or_doubled";
const ROLE_ENV: &str = "FIELDBOOK_SYNC_TEST_KILL_CHILD";
const DIR_ENV: &str = "FIELDBOOK_SYNC_TEST_KILL_DIR";
const URL_ENV: &str = "FIELDBOOK_SYNC_TEST_KILL_URL";
const ROUND_ENV: &str = "FIELDBOOK_SYNC_TEST_KILL_ROUND";
const LINE_PREFIX: &str = "KILLCHILD ";
/// `make soak` sets it to 200; the normal test runs [`ROUNDS`] once.
const ROUNDS_ENV: &str = "FIELDBOOK_SYNC_KILL_ROUNDS";
const USERNAME: &str = "alex";
/// Jobs for the normal ten rounds; a soak gets more, so that work is left
/// to do (and to push) in its last rounds.
const JOBS: usize = 8;

fn rounds() -> usize {
    std::env::var(ROUNDS_ENV)
        .ok()
        .map(|r| r.parse().expect("a round count"))
        .unwrap_or(ROUNDS.len())
}

fn job_count() -> usize {
    JOBS.max(rounds() * JOBS / ROUNDS.len())
}
/// The video attached before a round that is killed mid-upload: large enough
/// that its upload takes many chunks on loopback.
const VIDEO_BYTES: usize = 24 * 1024 * 1024;
/// A soak attaches one in every few of its hundreds of rounds; smaller, so
/// that the device's and the server's copies stay within a CI disk.
const SOAK_VIDEO_BYTES: usize = 8 * 1024 * 1024;

fn video_bytes() -> usize {
    if rounds() > ROUNDS.len() {
        SOAK_VIDEO_BYTES
    } else {
        VIDEO_BYTES
    }
}

/// Where a round's kill lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillAt {
    Uploading,
    Pushing,
    Pulling,
    /// Some milliseconds after a sync began, whatever it is doing.
    AnyMoment,
}

const ROUNDS: [KillAt; 10] = [
    KillAt::Uploading,
    KillAt::Pushing,
    KillAt::Pulling,
    KillAt::AnyMoment,
    KillAt::Uploading,
    KillAt::Pushing,
    KillAt::AnyMoment,
    KillAt::Uploading,
    KillAt::Pulling,
    KillAt::AnyMoment,
];

/// A tiny deterministic generator (the choices need no quality).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

// ---- the child: a technician whose laptop syncs in a loop ------------------------

fn say(line: impl std::fmt::Display) {
    println!("{LINE_PREFIX}{line}");
}

fn run_child() {
    let data_dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("child without a data dir"));
    let url = std::env::var(URL_ENV).expect("child without a server URL");
    let round: u64 = std::env::var(ROUND_ENV)
        .expect("child without a round")
        .parse()
        .expect("round number");
    let upload_round = ROUNDS[round as usize % ROUNDS.len()] == KillAt::Uploading;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let scratch = scratch_dir(data_dir.parent().expect("data dir parent"));
        let (store, engine) = open_device(&data_dir);
        let mut phases = engine.subscribe();
        tokio::spawn(async move {
            let mut last = SyncPhase::Idle;
            let mut last_progress = None;
            while phases.changed().await.is_ok() {
                let (phase, progress) = {
                    let status = phases.borrow_and_update();
                    (status.phase, status.progress)
                };
                if phase != last {
                    say(format!("phase {phase:?}"));
                    last = phase;
                }
                if phase == SyncPhase::Uploading {
                    let bytes = progress.map(|p| (p.bytes_done, p.bytes_total));
                    if bytes != last_progress {
                        if let Some((done, total)) = bytes {
                            say(format!("upload {done} {total}"));
                        }
                        last_progress = bytes;
                    }
                }
            }
        });
        if locked(&store).session().expect("session").is_none() {
            engine
                .sign_in(&url, USERNAME, PASSWORD)
                .await
                .expect("sign in");
        }
        let list_jobs = || -> Vec<Uuid> {
            locked(&store)
                .list_installations(&InstallationQuery::default())
                .expect("list")
                .iter()
                .map(|s| s.id)
                .collect()
        };
        // The first start (or one killed before its first sync finished)
        // has no jobs yet.
        let mut jobs = list_jobs();
        for _ in 0..20 {
            if jobs.len() >= job_count() {
                break;
            }
            say("sync begin");
            match engine.sync_once().await {
                Ok(summary) => say(format!("sync ok {summary:?}")),
                Err(e) => say(format!("sync failed {} {e}", e.code())),
            }
            jobs = list_jobs();
        }
        // The first job only ever gets the large videos, so it is never
        // submitted and always takes one; the others get everything else.
        let (video_job, other_jobs) = jobs.split_first().expect("the device has jobs");
        let mut rng = Lcg(round * 7_919 + 13);
        let mut last_printed = 0i64;
        // Bounded, so an orphan (the parent died) ends on its own.
        for cycle in 0u64..400 {
            let mut actions: Vec<(TechAction, Uuid)> = Vec::new();
            if upload_round && cycle == 0 {
                actions.push((
                    TechAction::AttachVideo {
                        bytes: video_bytes(),
                    },
                    *video_job,
                ));
            }
            for _ in 0..2 + rng.below(5) {
                let job = other_jobs[rng.below(other_jobs.len() as u64) as usize];
                actions.push((random_action(&mut rng), job));
            }
            for (action, job) in actions {
                let unique = round * 1_000_000 + cycle * 100 + rng.below(100);
                let mut guard = locked(&store);
                let done = perform(&mut guard, &scratch, unique, job, &action)
                    .unwrap_or_else(|e| panic!("{action:?} failed: {e:?}"));
                let mut entries = guard.pending_outbox(usize::MAX).expect("outbox");
                entries.extend(guard.needs_attention().expect("needs attention"));
                drop(guard);
                entries.sort_by_key(|e| e.sequence);
                let already_printed = last_printed;
                for e in entries.iter().filter(|e| e.sequence > already_printed) {
                    say(format!(
                        "mutation {} {} {} {}",
                        e.device_id,
                        e.sequence,
                        e.mutation_id,
                        e.kind.as_str()
                    ));
                    match &e.mutation {
                        Mutation::MediaAttach { media } => {
                            say(format!("media {} {}", e.mutation_id, media.id))
                        }
                        Mutation::MediaRemove { media_id }
                        | Mutation::MediaCaption { media_id, .. } => {
                            say(format!("media {} {media_id}", e.mutation_id))
                        }
                        Mutation::ReportSubmit { report } => say(format!(
                            "report {} {} {}",
                            e.mutation_id, report.installation_id, report.id
                        )),
                        _ => {}
                    }
                    last_printed = e.sequence;
                }
                if done {
                    say(format!("action {action:?}"));
                }
            }
            say("sync begin");
            match engine.sync_once().await {
                Ok(summary) => say(format!("sync ok {summary:?}")),
                Err(e) => say(format!("sync failed {} {e}", e.code())),
            }
        }
    });
}

fn random_action(rng: &mut Lcg) -> TechAction {
    match rng.below(14) {
        0..=2 => TechAction::Start,
        3 | 12 | 13 => TechAction::Finish,
        4 => TechAction::SetFlags {
            customer_confirmed: rng.below(2) == 0,
            demo_completed: (rng.below(2) == 0).then_some(true),
        },
        5..=6 => TechAction::SignAndSubmit,
        7..=8 => TechAction::AttachPhoto,
        9 => TechAction::AttachVideo {
            bytes: 256 * 1024 + rng.below(512) as usize * 1024,
        },
        10 => TechAction::Caption {
            pick: rng.below(4) as usize,
        },
        _ => TechAction::RemoveMedia {
            pick: rng.below(4) as usize,
        },
    }
}

// ---- the parent: kill, look, restart --------------------------------------------

struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        // Kill by our own child's PID if the test panics before it ended.
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn_child(data_dir: &Path, url: &str, round: usize) -> Spawned {
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, "device")
        .env(DIR_ENV, data_dir)
        .env(URL_ENV, url)
        .env(ROUND_ENV, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the device process");
    Spawned(child)
}

/// What the parent learns from the child's report lines.
struct Observed<'a> {
    ledger: &'a mut Ledger,
    log: &'a mut MutationLog,
}

/// When to kill in a round.
#[derive(Debug, Clone, Copy)]
struct Trigger {
    at: KillAt,
    /// Then wait this long before the SIGKILL.
    delay: Duration,
    /// `AnyMoment`: kill in the sync after this many have begun.
    syncs_first: u64,
    /// `Uploading`: kill once this many bytes of a sync carrying the large
    /// video are uploaded (if the engine reports byte progress).
    upload_bytes: u64,
}

/// Reads the child's report lines (libtest may print before them on the
/// same line) until the trigger fires, waits the delay and SIGKILLs.
fn run_round(child: &mut Spawned, trigger: Trigger, seen: &mut Observed<'_>) -> RoundReport {
    let stdout = BufReader::new(child.0.stdout.take().expect("child stdout"));
    let mut report = RoundReport::default();
    let started = Instant::now();
    // Set when a sync uploaded the large video without the byte trigger
    // firing (it went in fewer progress steps than expected): the next
    // upload phase is the kill point.
    let mut kill_at_next_upload = false;
    let mut video_uploading = false;
    for line in stdout.lines() {
        let line = line.expect("child output");
        let Some((_, said)) = line.split_once(LINE_PREFIX) else {
            continue;
        };
        let words: Vec<&str> = said.split_whitespace().collect();
        let fire = match words.as_slice() {
            ["mutation", device, sequence, id, kind] => {
                let kind: MutationKind =
                    serde_json::from_value(serde_json::Value::String((*kind).to_owned()))
                        .expect("mutation kind");
                seen.ledger.note(
                    device.parse().expect("device id"),
                    sequence.parse().expect("sequence"),
                    id.parse().expect("mutation id"),
                    kind,
                );
                None
            }
            ["media", mutation, media] => {
                seen.log.note_media(
                    mutation.parse().expect("mutation id"),
                    media.parse().expect("media id"),
                );
                None
            }
            ["report", mutation, installation, report] => {
                seen.log.note_report(
                    mutation.parse().expect("mutation id"),
                    installation.parse().expect("installation id"),
                    report.parse().expect("report id"),
                );
                None
            }
            ["action", ..] => {
                report.actions += 1;
                None
            }
            ["sync", "begin"] => {
                report.syncs_begun += 1;
                (trigger.at == KillAt::AnyMoment && report.syncs_begun > trigger.syncs_first)
                    .then(|| format!("sync {}", report.syncs_begun))
            }
            ["sync", "ok", ..] | ["sync", "failed", ..] => {
                report.syncs_ended += 1;
                if video_uploading && trigger.at == KillAt::Uploading {
                    kill_at_next_upload = true;
                }
                video_uploading = false;
                None
            }
            ["upload", done, total] => {
                let done: u64 = done.parse().expect("bytes done");
                let total: u64 = total.parse().expect("bytes total");
                video_uploading |= total >= video_bytes() as u64;
                (trigger.at == KillAt::Uploading
                    && total >= video_bytes() as u64
                    && done >= trigger.upload_bytes)
                    .then(|| format!("upload at {done} of {total} bytes"))
            }
            ["phase", phase] => match (trigger.at, *phase) {
                (KillAt::Uploading, "Uploading") if kill_at_next_upload => {
                    Some("the upload phase".to_owned())
                }
                (KillAt::Pushing, "Pushing") | (KillAt::Pulling, "Pulling")
                    if report.syncs_begun > trigger.syncs_first =>
                {
                    Some(format!(
                        "the {} phase of sync {}",
                        phase.to_lowercase(),
                        report.syncs_begun
                    ))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(moment) = fire {
            report.killed_in = Some(moment);
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            break;
        }
    }
    if report.killed_in.is_none() {
        let mut stderr = String::new();
        if let Some(mut err) = child.0.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        panic!(
            "the device never reached {:?} ({} actions, {} syncs):\n{stderr}",
            trigger.at, report.actions, report.syncs_begun
        );
    }
    std::thread::sleep(trigger.delay);
    child.0.kill().expect("SIGKILL the device");
    child.0.wait().expect("reap the device");
    report
}

#[derive(Debug, Default)]
struct RoundReport {
    actions: u64,
    syncs_begun: u64,
    syncs_ended: u64,
    killed_in: Option<String>,
}

/// What the killed device left: its outbox is a tail of its sequence (an
/// entry may already be on the server, its acknowledgement lost), the server
/// holds a gap-free prefix, and together they cover every sequence.
fn check_after_kill(
    central: &Central,
    data_dir: &Path,
    ledger: &mut Ledger,
    round: usize,
) -> (Vec<(u64, u64)>, usize) {
    let store = open_store(data_dir);
    let integrity: String = rusqlite::Connection::open_with_flags(
        store.database_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .and_then(|db| db.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
    .expect("integrity check");
    assert_eq!(integrity, "ok", "round {round}: the database is damaged");
    let fresh = ledger.record(&store);
    let pending: Vec<i64> = store
        .pending_outbox(usize::MAX)
        .expect("outbox")
        .iter()
        .map(|e| e.sequence)
        .collect();
    let parked = store.needs_attention().expect("needs attention");
    assert!(
        parked.is_empty(),
        "round {round}: the server refused {:?}",
        parked
            .iter()
            .map(|e| (e.sequence, e.kind.as_str(), e.last_error.clone()))
            .collect::<Vec<_>>()
    );
    let last = ledger.entries.keys().last().copied().unwrap_or(0);
    let on_server: Vec<i64> = ledger
        .device_id
        .map(|d| central.mutations_of_device(d))
        .unwrap_or_default()
        .iter()
        .map(|m| m.sequence)
        .collect();
    let acknowledged_up_to = on_server.len() as i64;
    assert_eq!(
        on_server,
        (1..=acknowledged_up_to).collect::<Vec<_>>(),
        "round {round}: the server's sequences have a gap"
    );
    if let Some(first) = pending.first() {
        assert_eq!(
            pending,
            (*first..=last).collect::<Vec<_>>(),
            "round {round}: the outbox is not a tail of the device's sequence"
        );
        assert!(
            *first <= acknowledged_up_to + 1,
            "round {round}: sequences {} to {} are neither on the server nor in the outbox",
            acknowledged_up_to + 1,
            first - 1
        );
    } else {
        assert_eq!(
            acknowledged_up_to, last,
            "round {round}: the outbox is empty but the server lacks mutations"
        );
    }
    // Mutations the device said it saved that are neither on the server
    // nor still queued (the assertions above make this 0; counted for the
    // soak's figures).
    let lost = ledger
        .entries
        .keys()
        .filter(|seq| **seq > acknowledged_up_to && !pending.contains(seq))
        .count();
    let uploads = store
        .blobs_pending_upload(usize::MAX)
        .expect("upload queue");
    let partial: Vec<(u64, u64)> = uploads
        .iter()
        .filter(|b| b.upload_offset > 0)
        .map(|b| (b.blob.size, b.upload_offset))
        .collect();
    eprintln!(
        "round {round}: {} outbox entries ({fresh} not reported before the kill), server has \
         1..={acknowledged_up_to}, {} uploads pending, (size, offset kept) {partial:?}, \
         {lost} acknowledged saves lost",
        pending.len(),
        uploads.len()
    );
    (partial, lost)
}

#[test]
fn killed_during_sync_the_device_resumes_and_nothing_is_lost_or_doubled() {
    if std::env::var_os(ROLE_ENV).is_some() {
        run_child();
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let central = runtime.block_on(Central::start());
    let alex = central.create_user(USERNAME, Role::Technician);
    let north = central.create_team("North Crew", &[alex]);
    for n in 0..job_count() {
        let id = central.create_installation(&format!("Customer Number {n}"));
        central.assign(id, north).expect("assign");
        if n % 4 != 3 {
            central
                .transition(id, InstallationStatus::Confirmed)
                .expect("confirm");
        }
    }
    let root = tempfile::tempdir().expect("device dir");
    let data_dir = root.path().join("data");
    let mut ledger = Ledger::default();
    let mut rng = Lcg(u64::from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos(),
    ));
    let mut log = MutationLog::default();
    let mut upload_kills = Vec::new();
    let mut lost = 0;
    for (round, at) in ROUNDS.iter().cycle().take(rounds()).enumerate() {
        let trigger = Trigger {
            at: *at,
            delay: Duration::from_millis(match at {
                KillAt::Uploading => rng.below(5),
                KillAt::Pushing | KillAt::Pulling => rng.below(8),
                KillAt::AnyMoment => rng.below(40),
            }),
            syncs_first: 1 + rng.below(3),
            // Well inside the video, past its first chunks.
            upload_bytes: video_bytes() as u64 * 3 / 8 + rng.below(video_bytes() as u64 * 3 / 8),
        };
        let mut child = spawn_child(&data_dir, &central.url(), round);
        let mut seen = Observed {
            ledger: &mut ledger,
            log: &mut log,
        };
        let report = run_round(&mut child, trigger, &mut seen);
        let killed_in = report.killed_in.clone().unwrap_or_default();
        eprintln!(
            "round {round}: SIGKILL {:?} after {killed_in} ({} actions, {} of {} syncs ended)",
            trigger.delay, report.actions, report.syncs_ended, report.syncs_begun
        );
        let (partial, lost_now) = check_after_kill(&central, &data_dir, &mut ledger, round);
        lost += lost_now;
        assert_eq!(lost, 0, "round {round}: acknowledged saves lost");
        if *at == KillAt::Uploading {
            upload_kills.push((killed_in, partial));
        }
    }
    // Whether a kill cut the large video part-way with its offset kept
    // depends on how often the uploader reports and persists progress
    // (its chunk size); printed, the outcome checks below hold either way.
    eprintln!("kills in the upload phase (moment, (size, offset kept)): {upload_kills:?}");

    // The app starts once more and syncs to the end.
    let (store, engine) = open_device(&data_dir);
    runtime.block_on(async {
        for attempt in 0..3 {
            engine
                .sync_once()
                .await
                .unwrap_or_else(|e| panic!("final sync {attempt} failed: {} ({e})", e.code()));
        }
    });
    let store = locked(&store);
    let mut problems = Vec::new();
    ledger.record(&store);
    let pending = store.pending_outbox(usize::MAX).expect("outbox");
    if !pending.is_empty() {
        problems.push(format!("{} outbox entries left", pending.len()));
    }
    let parked = store.needs_attention().expect("needs attention");
    if !parked.is_empty() {
        problems.push(format!("{} entries need attention", parked.len()));
    }
    let uploads = store.blobs_pending_upload(usize::MAX).expect("uploads");
    if !uploads.is_empty() {
        problems.push(format!("{} files not uploaded", uploads.len()));
    }
    problems.extend(ledger_problems(&central, &ledger, "device"));
    let device_id = ledger.device_id.expect("the device made mutations");
    let stored = central.mutations_of_device(device_id);
    for m in &stored {
        if !matches!(m.outcome, MutationOutcome::Applied { .. }) {
            problems.push(format!(
                "#{} {} answered {:?}",
                m.sequence, m.kind, m.outcome
            ));
        }
    }
    problems.extend(outcome_problems(&central, &stored, &log));
    let server = central.team_view(alex);
    // Nothing may be refused or held here (checked above): no exclusions.
    let mine = device_view(&store, &Default::default());
    problems.extend(differences(&mine, &server));
    problems.extend(blob_problems(&central, &store, &mine.jobs));
    let media: usize = server.values().map(|j| j.media.len()).sum();
    let reports = server.values().filter(|j| j.report.is_some()).count();
    let videos = server
        .values()
        .flat_map(|j| &j.media)
        .filter(|m| m.file.size as usize == video_bytes())
        .count();
    eprintln!(
        "after {} rounds: {} mutations on the server, {media} photos/videos ({videos} large videos), {reports} reports",
        rounds(),
        stored.len()
    );
    eprintln!(
        "sync kill loop: {} rounds, {} mutations acknowledged by the device, acknowledged saves \
         lost: {lost}, store integrity check passed every round",
        rounds(),
        ledger.entries.len()
    );
    if videos == 0 {
        problems.push("no large video reached the server".into());
    }
    if let Err(text) = verdict(problems) {
        panic!("after the kills:\n{text}");
    }
    drop(store);
}
