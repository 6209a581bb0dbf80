//! Shared test fixtures: a store in a temp dir with a signed-in technician,
//! and server rows built by hand so each test controls the state it starts
//! from.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{
    AssignmentStatus, Installation, InstallationAssignment, InstallationId, InstallationStatus,
    Lead, Role, Survey, Team, TimeSlot, User,
};
use fieldbook_store::{
    RecordKind, ServerBatch, SignatureInput, Store, Tombstone, TombstoneReason, Versioned,
};
use tempfile::TempDir;
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

pub fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

pub struct Fixture {
    pub dir: TempDir,
    pub store: Store,
    pub technician: User,
    pub ops: User,
    pub team: Team,
    next_sequence: u32,
    next_version: i64,
}

pub struct Job {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub lead: Lead,
    pub installation: Installation,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let technician = User {
            id: Uuid::new_v4(),
            username: "tech.alex".into(),
            full_name: "Alex Tech".into(),
            role: Role::Technician,
        };
        let ops = User {
            id: Uuid::new_v4(),
            username: "ops.sam".into(),
            full_name: "Sam Ops".into(),
            role: Role::Ops,
        };
        let team = Team {
            id: Uuid::new_v4(),
            name: "North 1".into(),
            member_ids: vec![technician.id],
        };
        store
            .apply_server_batch(&ServerBatch {
                scope: "installations".into(),
                cursor: 1,
                users: vec![v(technician.clone(), 1), v(ops.clone(), 1)],
                teams: vec![v(team.clone(), 1)],
                ..Default::default()
            })
            .unwrap();
        store.sign_in(&technician, &[team.id]).unwrap();
        Fixture {
            dir,
            store,
            technician,
            ops,
            team,
            next_sequence: 1,
            next_version: 10,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Adds an installation in `status` for a customer called `customer`,
    /// assigned (status `assigned`) to the fixture's team.
    pub fn add_job(&mut self, status: InstallationStatus, customer: &str) -> Job {
        let lead = Lead {
            id: Uuid::new_v4(),
            customer_name: customer.into(),
            phone: "+44 20 7946 0000".into(),
            email: "customer@example.com".into(),
            address_line1: "12 Acacia Avenue".into(),
            address_line2: String::new(),
            city: "Leeds".into(),
            postcode: "LS1 4AB".into(),
            latitude: Some(53.8),
            longitude: Some(-1.55),
            installer_notes: "Garage on the left".into(),
        };
        self.add_job_with_lead(status, lead, day(1), TimeSlot::Morning)
    }

    /// Adds a confirmed job for `customer` and starts it on site, as the
    /// technician does before filling in the report.
    pub fn add_started_job(&mut self, customer: &str) -> Job {
        let job = self.add_job(InstallationStatus::Confirmed, customer);
        self.store
            .start_installation(job.id, &StartRequest::default())
            .expect("a confirmed job starts");
        job
    }

    pub fn add_job_with_lead(
        &mut self,
        status: InstallationStatus,
        lead: Lead,
        date: NaiveDate,
        slot: TimeSlot,
    ) -> Job {
        let survey = Survey {
            id: Uuid::new_v4(),
            lead_id: lead.id,
            approved_at: t0(),
            surveyor_notes: "Wall is brick".into(),
            recommended_charger_model: "Zappi 7kW".into(),
            main_fuse_amps: 100,
            supply_capacity_kva: 23.0,
            cable_run_length_m: 8.5,
            photos_count: 4,
        };
        let installation = Installation {
            id: Uuid::new_v4(),
            installation_id: InstallationId::new(2026, self.next_sequence).unwrap(),
            survey_id: survey.id,
            lead_id: lead.id,
            scheduled_date: date,
            scheduled_time_slot: slot,
            status,
            material_ready: status.implies_material_ready(),
            customer_confirmed: false,
            demo_completed: false,
            created_by: self.ops.id,
            created_at: t0(),
            updated_at: t0(),
            status_reason: None,
            ops_review_note: None,
            report_template_id: None,
        };
        self.next_sequence += 1;
        let assignment = InstallationAssignment {
            id: Uuid::new_v4(),
            installation_id: installation.id,
            team_id: self.team.id,
            assigned_by: self.ops.id,
            is_primary: true,
            assigned_at: t0(),
            status: AssignmentStatus::Assigned,
            decline_reason: None,
            responded_at: None,
        };
        let version = self.version();
        self.store
            .apply_server_batch(&ServerBatch {
                scope: "installations".into(),
                cursor: version,
                leads: vec![v(lead.clone(), version)],
                surveys: vec![v(survey, version)],
                installations: vec![v(installation.clone(), version)],
                assignments: vec![v(assignment.clone(), version)],
                ..Default::default()
            })
            .unwrap();
        Job {
            id: installation.id,
            assignment_id: assignment.id,
            lead,
            installation,
        }
    }

    /// The server's view of an installation changes (e.g. ops cancelled it).
    pub fn server_update(&mut self, installation: Installation) -> i64 {
        let version = self.version();
        self.store
            .apply_server_batch(&ServerBatch {
                scope: "installations".into(),
                cursor: version,
                installations: vec![v(installation, version)],
                ..Default::default()
            })
            .unwrap();
        version
    }

    fn version(&mut self) -> i64 {
        self.next_version += 1;
        self.next_version
    }

    /// Opens a second, raw SQLite connection on the store's file (the
    /// directory lock is the store's own; SQLite allows this).
    pub fn raw_connection(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.store.database_path()).unwrap()
    }
}

pub fn v<T>(record: T, server_version: i64) -> Versioned<T> {
    Versioned {
        record,
        server_version,
    }
}

/// The server's "this record left your scope".
pub fn left_scope(kind: RecordKind, id: Uuid) -> Tombstone {
    Tombstone {
        kind,
        id,
        reason: TombstoneReason::LeftScope,
    }
}

/// The server's tombstone for a job that left this device's scope.
pub fn job_left_scope(id: Uuid) -> Tombstone {
    left_scope(RecordKind::Installation, id)
}

#[allow(unused_imports)] // each test binary uses a different subset
pub use fieldbook_testkit::{png_bytes, write_jpeg};

/// The customer's signature as the signature pad hands it to the store.
pub fn signature(signer: &str) -> SignatureInput {
    SignatureInput {
        png: fieldbook_testkit::signature_png(),
        strokes: fieldbook_testkit::signature_strokes(),
        signer_name: signer.into(),
    }
}

// ---- tests that need a second process ---------------------------------------
//
// A test re-runs its own test binary (`--exact <test name>`) with
// CHILD_ROLE_ENV set; the test function sees the variable and plays the
// child instead of the parent. Children print their reports on lines starting
// with CHILD_LINE_PREFIX, apart from libtest's own output.

pub const CHILD_ROLE_ENV: &str = "FIELDBOOK_STORE_TEST_CHILD_ROLE";
pub const CHILD_DIR_ENV: &str = "FIELDBOOK_STORE_TEST_CHILD_DIR";
pub const CHILD_LINE_PREFIX: &str = "CHILD ";

/// The role this process plays, when it was started by [`child_command`].
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE_ENV).ok()
}

/// The data directory the parent gave this child.
pub fn child_data_dir() -> PathBuf {
    PathBuf::from(std::env::var_os(CHILD_DIR_ENV).expect("child started without a data dir"))
}

/// Prints one report line for the parent (stdout is line-buffered, so the
/// parent sees it as soon as it is printed).
pub fn child_says(line: impl std::fmt::Display) {
    println!("{CHILD_LINE_PREFIX}{line}");
}

/// A command that re-runs this test binary as the child of `test_name`.
pub fn child_command(test_name: &str, role: &str, data_dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE_ENV, role)
        .env(CHILD_DIR_ENV, data_dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// The report on one line of a child's output, if it holds one. libtest
/// prints "test name ... " without a newline, so a report may follow it.
pub fn child_report(line: &str) -> Option<&str> {
    line.split_once(CHILD_LINE_PREFIX).map(|(_, report)| report)
}

/// The child's reports, without the prefix.
pub fn child_lines(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(child_report)
        .map(str::to_owned)
        .collect()
}

/// A spawned child that is killed (by its own PID) if the test panics
/// before it ended.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
