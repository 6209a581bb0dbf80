//! The data-directory lock against a real second process (the lock is an OS
//! file lock: two opens in one process do not prove it works across
//! processes, nor that a dead holder releases it).

mod common;

use std::io::{BufRead, BufReader};

use common::{child_command, child_data_dir, child_lines, child_role, child_says, ChildGuard};
use fieldbook_store::Store;

/// Child: tries one open of the parent's directory and reports the outcome.
fn try_open_and_report() {
    match Store::open(child_data_dir()) {
        Ok(store) => {
            // Prove the open was a real one: the child could read the store.
            let _ = store.outbox_counts().unwrap();
            child_says("open ok");
        }
        Err(e) => child_says(format!("open {}", e.code())),
    }
}

/// The data-directory lock is an flock, owned by the open file description.
/// A child forked by one test (between fork and exec) shares every open
/// descriptor of this process, so it briefly holds the other test's lock too
/// and that test's child sees "locked". The tests take turns instead.
static ONE_TEST_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the `try_open` child of `test_name` to its end and returns its report.
fn open_in_child(test_name: &str, dir: &std::path::Path) -> Vec<String> {
    let out = child_command(test_name, "try_open", dir).output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    child_lines(&out.stdout)
}

#[test]
fn another_process_is_refused_while_this_one_holds_the_store() {
    const NAME: &str = "another_process_is_refused_while_this_one_holds_the_store";
    if child_role().is_some() {
        try_open_and_report();
        return;
    }
    let _turn = ONE_TEST_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(open_in_child(NAME, dir.path()), vec!["open locked"]);
    drop(store);
    assert_eq!(open_in_child(NAME, dir.path()), vec!["open ok"]);
    // The child let go when it exited: this process can open again.
    Store::open(dir.path()).unwrap();
}

#[test]
fn a_killed_holder_releases_the_store() {
    const NAME: &str = "a_killed_holder_releases_the_store";
    match child_role().as_deref() {
        Some("hold") => {
            let _store = Store::open(child_data_dir()).unwrap();
            child_says("holding");
            // Hold until killed; the parent never lets this run out, and an
            // orphan (parent killed) still ends on its own.
            std::thread::sleep(std::time::Duration::from_secs(120));
            return;
        }
        Some(_) => {
            try_open_and_report();
            return;
        }
        None => {}
    }
    let _turn = ONE_TEST_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // Create the store first so the holder does not race a fresh migration.
    drop(Store::open(dir.path()).unwrap());

    let mut holder = ChildGuard(child_command(NAME, "hold", dir.path()).spawn().unwrap());
    let mut lines = BufReader::new(holder.0.stdout.take().unwrap()).lines();
    let first_report = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| common::child_report(&l).map(str::to_owned));
    if first_report.as_deref() != Some("holding") {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut holder.0.stderr.take().unwrap(), &mut stderr).unwrap();
        panic!("the holder did not report holding: {first_report:?}\n{stderr}");
    }

    let err = Store::open(dir.path()).unwrap_err();
    assert_eq!(err.code(), "locked", "{err:?}");
    assert_eq!(open_in_child(NAME, dir.path()), vec!["open locked"]);

    // SIGKILL: no destructor runs; the OS must drop the lock with the process.
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    assert_eq!(open_in_child(NAME, dir.path()), vec!["open ok"]);
    Store::open(dir.path()).unwrap();
}

/// A lock held for a moment (here by another open file description, as a
/// child forked by this process holds it until it execs) is waited for: the
/// open succeeds once it is released, instead of failing at once.
#[test]
fn a_lock_held_for_a_moment_is_waited_for() {
    use fs4::fs_std::FileExt;
    let _turn = ONE_TEST_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("fieldbook.lock"))
        .unwrap();
    assert!(
        holder.try_lock_exclusive().unwrap(),
        "the test holds the lock"
    );
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(holder);
    });
    let started = std::time::Instant::now();
    let store = Store::open(dir.path());
    release.join().unwrap();
    let store = store.unwrap_or_else(|e| panic!("the open gave up while the lock was brief: {e}"));
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    drop(store);
}
