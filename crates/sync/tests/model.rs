//! Model-based test: random sequences of offline technician actions on three
//! devices (alex and sam in team North, jordan in team South), Central Ops
//! actions, syncs, network cuts, server restarts and device restarts. Whatever
//! the sequence, after the network is back and every device synced, each
//! device holds exactly the server's view of its team's jobs, nothing waits
//! to be sent, every mutation a device made is on the server exactly once in
//! device order, every refusal is shown to the technician, and every file is
//! on the server whole.
//!
//! `FIELDBOOK_MODEL_CASES` raises the number of cases (default 16). A failure
//! shrinks to a short sequence, printed with what each step did.

mod common;
#[path = "common/model_support.rs"]
mod model_support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use fieldbook_domain::{InstallationStatus, Role};
use fieldbook_protocol::MutationOutcome;
use fieldbook_store::OutboxEntry;
use fieldbook_sync::{SharedStore, SyncEngine};
use model_support::{
    blob_problems, device_view, differences, ledger_problems, locked, open_device,
    outcome_problems, perform, scratch_dir, verdict, Central, Ledger, MutationLog, TechAction,
    PASSWORD,
};
use proptest::prelude::*;
use uuid::Uuid;

// ---- the steps -----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tech {
    Alex,
    Sam,
    Jordan,
}

const TECHS: [Tech; 3] = [Tech::Alex, Tech::Sam, Tech::Jordan];

impl Tech {
    fn index(self) -> usize {
        self as usize
    }
    fn username(self) -> &'static str {
        match self {
            Tech::Alex => "alex",
            Tech::Sam => "sam",
            Tech::Jordan => "jordan",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TeamName {
    North,
    South,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OpsAction {
    /// A new job, assigned to the team and confirmed.
    Create {
        team: TeamName,
    },
    Assign {
        team: TeamName,
    },
    Withdraw {
        team: TeamName,
    },
    Confirm,
    Cancel,
    Reschedule,
    /// rescheduled → planned with a new date.
    Replan,
}

/// One step of a scenario. `job` picks among the jobs created so far
/// (modulo), so every step means something whatever came before it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Tech {
        who: Tech,
        job: usize,
        action: TechAction,
    },
    Sync {
        who: Tech,
    },
    Ops {
        job: usize,
        action: OpsAction,
    },
    CutNetwork,
    RestoreNetwork,
    RestartServer,
    RestartDevice {
        who: Tech,
    },
}

fn tech() -> impl Strategy<Value = Tech> {
    prop_oneof![Just(Tech::Alex), Just(Tech::Sam), Just(Tech::Jordan)]
}

fn team() -> impl Strategy<Value = TeamName> {
    prop_oneof![Just(TeamName::North), Just(TeamName::South)]
}

fn tech_action() -> impl Strategy<Value = TechAction> {
    prop_oneof![
        4 => Just(TechAction::Start),
        3 => Just(TechAction::Finish),
        1 => Just(TechAction::CouldNotComplete),
        1 => Just(TechAction::AcceptAssignment),
        2 => (any::<bool>(), proptest::option::of(any::<bool>())).prop_map(
            |(customer_confirmed, demo_completed)| TechAction::SetFlags {
                customer_confirmed,
                demo_completed
            }
        ),
        1 => Just(TechAction::SaveDraft),
        3 => Just(TechAction::SignAndSubmit),
        3 => Just(TechAction::AttachPhoto),
        1 => (1usize..=3).prop_map(|kib| TechAction::AttachVideo { bytes: kib * 96 * 1024 }),
        2 => (0usize..4).prop_map(|pick| TechAction::Caption { pick }),
        2 => (0usize..4).prop_map(|pick| TechAction::RemoveMedia { pick }),
    ]
}

fn ops_action() -> impl Strategy<Value = OpsAction> {
    prop_oneof![
        team().prop_map(|team| OpsAction::Create { team }),
        team().prop_map(|team| OpsAction::Assign { team }),
        team().prop_map(|team| OpsAction::Withdraw { team }),
        Just(OpsAction::Confirm),
        Just(OpsAction::Cancel),
        Just(OpsAction::Reschedule),
        Just(OpsAction::Replan),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (tech(), 0usize..4, tech_action())
            .prop_map(|(who, job, action)| Step::Tech { who, job, action }),
        5 => tech().prop_map(|who| Step::Sync { who }),
        3 => (0usize..6, ops_action()).prop_map(|(job, action)| Step::Ops { job, action }),
        1 => Just(Step::CutNetwork),
        1 => Just(Step::RestoreNetwork),
        1 => Just(Step::RestartServer),
        1 => tech().prop_map(|who| Step::RestartDevice { who }),
    ]
}

// ---- the world a scenario runs in -------------------------------------------------

/// A running app: the engine over the store. Fields drop in order, the
/// engine first.
struct App {
    engine: SyncEngine,
    store: SharedStore,
}

struct Device {
    who: Tech,
    user_id: Uuid,
    data_dir: PathBuf,
    scratch: PathBuf,
    /// `None` only for the moment of a restart.
    app: Option<App>,
    ledger: Ledger,
    log: MutationLog,
    next_unique: u64,
    _root: tempfile::TempDir,
}

impl Device {
    async fn sign_in(central: &Central, who: Tech, user_id: Uuid) -> Device {
        let root = tempfile::tempdir().expect("device dir");
        let data_dir = root.path().join("data");
        let (store, engine) = open_device(&data_dir);
        engine
            .sign_in(&central.url(), who.username(), PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{who:?} cannot sign in: {e}"));
        Device {
            who,
            user_id,
            scratch: scratch_dir(root.path()),
            data_dir,
            app: Some(App { engine, store }),
            ledger: Ledger::default(),
            log: MutationLog::default(),
            next_unique: (who.index() as u64 + 1) * 1_000_000,
            _root: root,
        }
    }

    fn app(&self) -> &App {
        self.app.as_ref().expect("the app is running")
    }

    fn engine(&self) -> &SyncEngine {
        &self.app().engine
    }

    fn store(&self) -> &SharedStore {
        &self.app().store
    }

    /// The app quits (engine and store dropped, the directory lock released)
    /// and starts again on the same data dir.
    fn restart(&mut self) {
        self.app = None;
        let (store, engine) = open_device(&self.data_dir);
        self.app = Some(App { engine, store });
    }

    /// Records the outbox entries the last action created.
    fn record_new_entries(&mut self) {
        let shared = std::sync::Arc::clone(self.store());
        let store = locked(&shared);
        self.ledger.record(&store);
        let mut entries: Vec<OutboxEntry> = store.pending_outbox(usize::MAX).expect("outbox");
        entries.extend(store.needs_attention().expect("needs attention"));
        for entry in &entries {
            self.log.record(entry);
        }
    }
}

struct World {
    central: Central,
    north: Uuid,
    south: Uuid,
    jobs: Vec<Uuid>,
    devices: Vec<Device>,
    trace: String,
}

impl World {
    async fn new() -> World {
        let central = Central::start().await;
        let alex = central.create_user("alex", Role::Technician);
        let sam = central.create_user("sam", Role::Technician);
        let jordan = central.create_user("jordan", Role::Technician);
        let north = central.create_team("North Crew", &[alex, sam]);
        let south = central.create_team("South Crew", &[jordan]);
        let mut world = World {
            central,
            north,
            south,
            jobs: Vec::new(),
            devices: Vec::new(),
            trace: String::new(),
        };
        // Two confirmed jobs for North, one shared by both teams, one planned
        // for South (started only with "start anyway").
        world.create_job(&[north], true);
        world.create_job(&[north], true);
        world.create_job(&[north, south], true);
        world.create_job(&[south], false);
        for (who, user) in TECHS.iter().zip([alex, sam, jordan]) {
            let device = Device::sign_in(&world.central, *who, user).await;
            world.devices.push(device);
        }
        for who in TECHS {
            let summary = world.devices[who.index()]
                .engine()
                .sync_once()
                .await
                .unwrap_or_else(|e| panic!("{who:?}'s first sync failed: {e}"));
            let _ = summary;
        }
        world
    }

    fn create_job(&mut self, teams: &[Uuid], confirmed: bool) -> Uuid {
        let n = self.jobs.len() + 1;
        let id = self
            .central
            .create_installation(&format!("Customer Number {n}"));
        for team in teams {
            self.central.assign(id, *team).expect("assign a new job");
        }
        if confirmed {
            self.central
                .transition(id, InstallationStatus::Confirmed)
                .expect("confirm a new job");
        }
        self.jobs.push(id);
        id
    }

    fn team_id(&self, team: TeamName) -> Uuid {
        match team {
            TeamName::North => self.north,
            TeamName::South => self.south,
        }
    }

    fn note(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.trace, "  {line}");
    }

    async fn apply(&mut self, index: usize, step: &Step) -> Result<(), String> {
        match step {
            Step::Tech { who, job, action } => {
                let job_index = job % self.jobs.len();
                let job = self.jobs[job_index];
                let device = &mut self.devices[who.index()];
                device.next_unique += 1;
                let unique = device.next_unique;
                let done = {
                    let mut store = locked(device.store());
                    perform(&mut store, &device.scratch, unique, job, action)
                        .map_err(|e| format!("step {index}: {who:?} {action:?}: {e:?}"))?
                };
                device.record_new_entries();
                self.note(format!(
                    "{index}: {who:?} {action:?} on job {job_index}: {}",
                    if done { "done" } else { "refused" }
                ));
            }
            Step::Sync { who } => {
                let result = self.devices[who.index()].engine().sync_once().await;
                let up = self.central.is_up();
                match (&result, up) {
                    (Ok(summary), true) => {
                        self.note(format!("{index}: {who:?} synced: {summary:?}"))
                    }
                    (Err(e), false) if e.code() == "offline" => {
                        self.note(format!("{index}: {who:?} sync while cut off: offline"))
                    }
                    (Err(e), _) => {
                        return Err(format!(
                            "step {index}: {who:?}'s sync failed with the server {}: {} ({e})",
                            if up { "up" } else { "down" },
                            e.code()
                        ))
                    }
                    (Ok(_), false) => {
                        return Err(format!(
                            "step {index}: {who:?}'s sync succeeded with the server down"
                        ))
                    }
                }
            }
            Step::Ops { job, action } => {
                let job_index = job % self.jobs.len();
                let id = self.jobs[job_index];
                let result = match action {
                    OpsAction::Create { team } => {
                        let team = self.team_id(*team);
                        let id = self.create_job(&[team], true);
                        Ok(format!("created job {} ({id})", self.jobs.len() - 1))
                    }
                    OpsAction::Assign { team } => self
                        .central
                        .assign(id, self.team_id(*team))
                        .map(|_| "assigned".to_owned()),
                    OpsAction::Withdraw { team } => self
                        .central
                        .withdraw(id, self.team_id(*team))
                        .map(|()| "withdrawn".to_owned()),
                    OpsAction::Confirm => self
                        .central
                        .transition(id, InstallationStatus::Confirmed)
                        .map(|()| "confirmed".to_owned()),
                    OpsAction::Cancel => self
                        .central
                        .transition(id, InstallationStatus::Cancelled)
                        .map(|()| "cancelled".to_owned()),
                    OpsAction::Reschedule => self
                        .central
                        .transition(id, InstallationStatus::Rescheduled)
                        .map(|()| "rescheduled".to_owned()),
                    OpsAction::Replan => self
                        .central
                        .transition(id, InstallationStatus::Planned)
                        .map(|()| "planned again".to_owned()),
                };
                let text = match result {
                    Ok(done) => done,
                    Err(_) => "refused".to_owned(),
                };
                self.note(format!(
                    "{index}: ops {action:?} on job {job_index}: {text}"
                ));
            }
            Step::CutNetwork => {
                self.central.stop().await;
                self.note(format!("{index}: network cut"));
            }
            Step::RestoreNetwork => {
                self.central.resume().await;
                self.note(format!("{index}: network back"));
            }
            Step::RestartServer => {
                let was_up = self.central.is_up();
                self.central.stop().await;
                if was_up {
                    self.central.resume().await;
                }
                self.note(format!("{index}: server restarted"));
            }
            Step::RestartDevice { who } => {
                self.devices[who.index()].restart();
                self.note(format!("{index}: {who:?}'s app restarted"));
            }
        }
        Ok(())
    }

    /// Network back, then every device syncs until a whole round changes
    /// nothing anywhere (at most a few rounds: one to push, one to pull what
    /// the others pushed, one for the blobs' arrival).
    async fn settle(&mut self) -> Result<(), String> {
        self.central.resume().await;
        for round in 0..4 {
            for device in &self.devices {
                device.engine().sync_once().await.map_err(|e| {
                    format!(
                        "final sync round {round}: {:?} failed: {} ({e})",
                        device.who,
                        e.code()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// How many mutations the server applied, refused, answered with a
    /// conflict and held for ops, over all devices (printed with FIELDBOOK_MODEL_TRACE).
    fn summary(&self) -> String {
        let (mut applied, mut rejected, mut conflicts, mut held) = (0, 0, 0, 0);
        for device in &self.devices {
            let Some(id) = device.ledger.device_id else {
                continue;
            };
            for m in self.central.mutations_of_device(id) {
                match m.outcome {
                    MutationOutcome::Applied { .. } => applied += 1,
                    MutationOutcome::Rejected { .. } => rejected += 1,
                    MutationOutcome::Conflict { .. } => conflicts += 1,
                    MutationOutcome::Held { .. } => held += 1,
                }
            }
        }
        format!(
            "scenario: {} jobs, {applied} mutations applied, {rejected} rejected, {conflicts} conflicts, {held} held",
            self.jobs.len()
        )
    }

    fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for device in &self.devices {
            let who = device.who;
            let store = locked(device.store());
            let pending = store.pending_outbox(usize::MAX).expect("outbox");
            if !pending.is_empty() {
                let kinds: Vec<&str> = pending.iter().map(|e| e.kind.as_str()).collect();
                problems.push(format!(
                    "{who:?}: outbox not empty after the final sync: {kinds:?}"
                ));
            }
            let blobs = store.blobs_pending_upload(usize::MAX).expect("blobs");
            if !blobs.is_empty() {
                problems.push(format!("{who:?}: {} file(s) not uploaded", blobs.len()));
            }
            let server = self.central.team_view(device.user_id);
            let stored = device
                .ledger
                .device_id
                .map(|id| self.central.mutations_of_device(id))
                .unwrap_or_default();
            // Held media that Central Ops attached since are compared as usual.
            let on_server: BTreeSet<Uuid> = server
                .values()
                .flat_map(|job| job.media.iter().map(|m| m.id))
                .collect();
            let held: BTreeSet<Uuid> = device
                .log
                .held_media(&stored)
                .difference(&on_server)
                .copied()
                .collect();
            let mine = device_view(&store, &held);
            for line in differences(&mine, &server) {
                problems.push(format!("{who:?}: {line}"));
            }
            problems.extend(ledger_problems(
                &self.central,
                &device.ledger,
                &format!("{who:?}"),
            ));
            problems.extend(
                outcome_problems(&self.central, &stored, &device.log)
                    .into_iter()
                    .map(|p| format!("{who:?}: {p}")),
            );
            // Refused or conflicting answers are the technician's to see:
            // exactly those are in the needs-attention list. Work the server
            // held for Central Ops (the job left the team while the device
            // was offline) is received, not refused: it waits for ops.
            let parked: BTreeSet<Uuid> = store
                .needs_attention()
                .expect("needs attention")
                .iter()
                .map(|e| e.mutation_id)
                .collect();
            let refused: BTreeSet<Uuid> = stored
                .iter()
                .filter(|m| {
                    !matches!(
                        m.outcome,
                        MutationOutcome::Applied { .. } | MutationOutcome::Held { .. }
                    )
                })
                .map(|m| m.mutation_id)
                .collect();
            if parked != refused {
                let describe = |ids: &BTreeSet<Uuid>| -> Vec<String> {
                    stored
                        .iter()
                        .filter(|m| ids.contains(&m.mutation_id))
                        .map(|m| format!("#{} {}", m.sequence, m.kind))
                        .collect()
                };
                problems.push(format!(
                    "{who:?}: needs attention {:?}, but the server refused or answered a conflict to {:?}",
                    describe(&parked),
                    describe(&refused)
                ));
            }
            problems.extend(
                blob_problems(&self.central, &store, &mine.jobs)
                    .into_iter()
                    .map(|p| format!("{who:?}: {p}")),
            );
        }
        verdict(problems)
    }
}

async fn run(steps: &[Step]) -> Result<(), String> {
    let mut world = World::new().await;
    for (index, step) in steps.iter().enumerate() {
        if let Err(e) = world.apply(index, step).await {
            return Err(format!("{e}\nwhat happened:\n{}", world.trace));
        }
    }
    let outcome = match world.settle().await {
        Ok(()) => world.check(),
        Err(e) => Err(e),
    };
    if std::env::var_os("FIELDBOOK_MODEL_TRACE").is_some() {
        eprintln!("{}\n{}", world.summary(), world.trace);
    }
    outcome.map_err(|e| format!("{e}\nwhat happened:\n{}", world.trace))
}

fn cases() -> u32 {
    std::env::var("FIELDBOOK_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // A failing scenario shrinks in a few hundred runs at most.
        max_shrink_iters: 400,
        // Failing scenarios are replayed first on the next run.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/model.proptest-regressions",
            ),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn devices_end_equal_to_the_server_with_every_mutation_once(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let result = runtime.block_on(run(&steps));
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        if let Err(e) = result {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// A photo removed on one device after a team-mate's report (which covers
/// it) reached the server: the server refuses the removal, and the device
/// must show the photo again, since the server keeps it.
#[test]
fn a_refused_photo_removal_brings_the_photo_back() {
    use Tech::{Alex, Sam};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let mut world = World::new().await;
        let tech = |who, action| Step::Tech {
            who,
            job: 0,
            action,
        };
        let before_wait = [
            tech(Alex, TechAction::AttachPhoto),
            Step::Sync { who: Alex },
        ];
        for (index, step) in before_wait.iter().enumerate() {
            world.apply(index, step).await?;
        }
        // The server marks the photo "blob present" (a new version) once
        // the upload landed; Alex pulls that version before removing.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let after_wait = [
            Step::Sync { who: Alex },
            Step::Sync { who: Sam },
            tech(Sam, TechAction::Start),
            tech(Sam, TechAction::Finish),
            tech(Sam, TechAction::SignAndSubmit),
            Step::Sync { who: Sam },
            tech(Alex, TechAction::RemoveMedia { pick: 0 }),
        ];
        for (index, step) in after_wait.iter().enumerate() {
            world.apply(index + before_wait.len(), step).await?;
        }
        world.settle().await?;
        if std::env::var_os("FIELDBOOK_MODEL_TRACE").is_some() {
            eprintln!("{}\n{}", world.summary(), world.trace);
        }
        world
            .check()
            .map_err(|e| format!("{e}\nwhat happened:\n{}", world.trace))
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Runs one fixed scenario the way the property test runs a generated one.
fn replay(steps: &[Step]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(run(steps));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn on_shared_job(who: Tech, action: TechAction) -> Step {
    // Job 2 is assigned to both North and South.
    Step::Tech {
        who,
        job: 2,
        action,
    }
}

/// Found by the property test: Jordan (South) finishes and submits the
/// shared job offline while Alex (North) attached a photo to it.
#[test]
fn a_report_submitted_after_a_team_mate_attached_a_photo_reaches_the_server() {
    use Tech::{Alex, Jordan};
    replay(&[
        on_shared_job(Jordan, TechAction::Start),
        on_shared_job(Jordan, TechAction::Finish),
        on_shared_job(Alex, TechAction::AttachPhoto),
        on_shared_job(Jordan, TechAction::SignAndSubmit),
    ]);
}

/// Found by the property test: a photo attached while the job was
/// withdrawn from the team is held by the server; the job comes back.
#[test]
fn a_photo_held_while_the_job_was_withdrawn_reaches_the_server_when_it_comes_back() {
    use Tech::Jordan;
    replay(&[
        Step::Ops {
            job: 2,
            action: OpsAction::Withdraw {
                team: TeamName::South,
            },
        },
        on_shared_job(Jordan, TechAction::AttachPhoto),
        Step::Sync { who: Jordan },
        Step::Ops {
            job: 2,
            action: OpsAction::Assign {
                team: TeamName::South,
            },
        },
    ]);
}

/// Found by the property test: Jordan's photo reaches the server while
/// Alex works the same job; Alex's report must still arrive.
#[test]
fn a_report_finished_after_a_team_mates_photo_synced_reaches_the_server() {
    use Tech::{Alex, Jordan};
    replay(&[
        on_shared_job(Jordan, TechAction::AttachPhoto),
        on_shared_job(Alex, TechAction::Start),
        Step::Sync { who: Jordan },
        on_shared_job(Alex, TechAction::Finish),
        on_shared_job(Alex, TechAction::SignAndSubmit),
    ]);
}
