//! What the `push_apply` fuzz target checks, shared with its corpus replay
//! (`server/tests/fuzz_corpus.rs`): a push body is applied by the real push
//! handler against a real server database seeded with the demo data set
//! (two teams, 24 installations in every state the demo makes). The
//! caller is a technician of the first team.
//!
//! Nothing may panic, a push below the batch limit never fails as a whole
//! (a failure inside one mutation is that mutation's rejection), every
//! mutation gets exactly one answer in order, and a retried push gives every
//! applied mutation the same answer again (exactly once).
//!
//! The installations and assignments get fixed ids so that seeds can name
//! them: installation `n` (1-based) is `00000000-0000-0000-0000-0000000000nn`
//! (hex), its assignments `00000000-0000-0000-0000-0000000001nn`.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use fieldbook_demo::{generate, DemoConfig};
use fieldbook_protocol::{MutationOutcome, PushRequest, MAX_PUSH_BATCH};
use fieldbook_server::caller::Caller;
use fieldbook_server::push::push;
use fieldbook_server::seed::import_demo;
use fieldbook_server::storage::{database_path, Storage};
use fieldbook_server::PasswordHashing;
use uuid::Uuid;

/// A seeded server database, copied afresh for every input so that each
/// input starts from the same state.
pub struct PushWorld {
    /// Holds `seeded/` and `run/`; removed on drop.
    scratch: tempfile::TempDir,
    caller: Caller,
}

impl PushWorld {
    pub fn new() -> PushWorld {
        // Every input copies a database and fsyncs its commits: on a RAM
        // file system that costs nothing.
        let scratch = match Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm"),
            false => tempfile::tempdir(),
        }
        .expect("a scratch directory");
        let mut demo = generate(&DemoConfig::new(
            24,
            2,
            NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date"),
        ));
        for (n, installation) in demo.installations.iter_mut().enumerate() {
            let fixed = Uuid::from_u128(n as u128 + 1);
            for (m, assignment) in demo
                .assignments
                .iter_mut()
                .filter(|a| a.installation_id == installation.id)
                .enumerate()
            {
                assignment.installation_id = fixed;
                assignment.id = Uuid::from_u128(0x100 + 0x20 * m as u128 + n as u128 + 1);
            }
            installation.id = fixed;
        }
        let team = &demo.teams[0];
        let technician = demo
            .users
            .iter()
            .find(|u| u.user.id == team.member_ids[0])
            .expect("the first team's technician");
        let caller = Caller {
            user_id: technician.user.id,
            username: technician.user.username.clone(),
            role: technician.user.role,
            team_ids: vec![team.id],
        };
        let storage = Storage::open(&scratch.path().join("seeded")).expect("a server database");
        import_demo(&storage, PasswordHashing::insecure_fast_for_tests(), &demo)
            .expect("the demo data imports");
        // Closing the only connection checkpoints the WAL into the file.
        drop(storage);
        PushWorld { scratch, caller }
    }

    /// The seeded database, copied into an empty data directory.
    fn fresh_storage(&self) -> Storage {
        let run = self.scratch.path().join("run");
        if run.exists() {
            std::fs::remove_dir_all(&run).expect("the previous run removed");
        }
        std::fs::create_dir_all(&run).expect("a run directory");
        let seeded: PathBuf = database_path(&self.scratch.path().join("seeded"));
        std::fs::copy(&seeded, database_path(&run)).expect("the seeded database copied");
        Storage::open(&run).expect("the copied database opens")
    }

    /// Applies one input; `Some(applied)` (how many mutations were applied)
    /// if it decoded as a push body.
    pub fn check(&self, data: &[u8]) -> Option<usize> {
        let request = serde_json::from_slice::<PushRequest>(data).ok()?;
        let storage = self.fresh_storage();
        let first = match push(&storage, &self.caller, &request) {
            Ok(response) => response,
            Err(e) => {
                assert!(
                    request.mutations.len() > MAX_PUSH_BATCH,
                    "a push of {} mutations failed as a whole: {e:?}",
                    request.mutations.len()
                );
                return Some(0);
            }
        };
        let answered: Vec<Uuid> = first.results.iter().map(|r| r.mutation_id).collect();
        let sent: Vec<Uuid> = request.mutations.iter().map(|m| m.mutation_id).collect();
        assert_eq!(answered, sent, "one answer per mutation, in order");

        let again = push(&storage, &self.caller, &request).expect("the retried push is answered");
        let mut applied = 0;
        for (first, again) in first.results.iter().zip(&again.results) {
            if matches!(first.outcome, MutationOutcome::Applied { .. }) {
                applied += 1;
                assert_eq!(
                    first.outcome, again.outcome,
                    "a retried mutation gets its stored answer"
                );
            }
        }
        Some(applied)
    }
}
