//! Panics reach the log file (support reads the file, not stderr), without
//! their formatted messages (they may hold customer data), and a panic on
//! the main thread, after which the app's process ends, is written out
//! before it does.
//!
//! This test binary has its own `main` (`harness = false`): it starts
//! itself again as a child that logs, panics on two worker threads, logs
//! once more and then panics on its main thread, as the UI thread would.
//! The parent reads the child's log folder.

use std::path::Path;
use std::process::Command;

use fieldbook_app::logging;

/// Set in the child: the log folder to write to.
const CHILD_LOG_DIR: &str = "FIELDBOOK_PANIC_LOG_TEST_DIR";

const CUSTOMER: &str = "Ada Lovelace";

const QUEUED_LINES: usize = 5_000;

fn main() {
    match std::env::var_os(CHILD_LOG_DIR) {
        Some(dir) => child(Path::new(&dir)),
        None => parent(),
    }
}

fn child(log_dir: &Path) {
    let _log = logging::init_with_filter(log_dir, "info").expect("logging starts");
    tracing::info!("before the panics");

    let literal = std::thread::Builder::new()
        .name("sync-worker".to_owned())
        .spawn(|| panic!("a literal from the code"))
        .expect("a thread starts");
    assert!(literal.join().is_err());

    let customer = CUSTOMER.to_owned();
    let formatted = std::thread::Builder::new()
        .name("command-worker".to_owned())
        .spawn(move || panic!("cannot parse the lead of {customer}"))
        .expect("a thread starts");
    assert!(formatted.join().is_err());

    tracing::info!("still logging after the workers' panics");
    // Lines still queued for the writer when the process ends are lost
    // unless the panic hook writes them out first.
    for line in 0..QUEUED_LINES {
        tracing::info!(line, "queued for the writer");
    }
    panic!("the main thread's panic");
}

fn parent() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let log_dir = dir.path().join("logs");
    // Its stderr (the panics' usual reports; in debug builds every log line
    // too) is kept out of the test's output.
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .env(CHILD_LOG_DIR, &log_dir)
        .output()
        .expect("the child runs");
    assert!(
        !child.status.success(),
        "the child ends with its main thread's panic"
    );

    let mut log = String::new();
    for entry in std::fs::read_dir(&log_dir).expect("the log folder") {
        log += &std::fs::read_to_string(entry.expect("a log file").path()).expect("a log file");
    }
    let lines_with = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();

    // A literal message is logged with its thread and its place in the code.
    let literal = log
        .lines()
        .find(|l| l.contains("a literal from the code"))
        .unwrap_or_else(|| panic!("the worker's panic is logged:\n{log}"));
    assert!(literal.contains("ERROR"), "{literal}");
    assert!(literal.contains("sync-worker"), "{literal}");
    assert!(literal.contains("panic_log.rs:"), "{literal}");

    // A formatted one: the thread and the place, not the text.
    assert_eq!(lines_with("command-worker"), 1, "{log}");
    assert_eq!(lines_with(CUSTOMER), 0, "{log}");

    // Logging went on after the workers' panics, and the main thread's
    // panic was written out before the process ended, with every line
    // queued before it.
    assert_eq!(
        lines_with("still logging after the workers' panics"),
        1,
        "{log}"
    );
    assert_eq!(lines_with("queued for the writer"), QUEUED_LINES);
    let main = log
        .lines()
        .find(|l| l.contains("the main thread's panic"))
        .unwrap_or_else(|| panic!("the main thread's panic is logged:\n{log}"));
    assert!(main.contains("thread=\"main\""), "{main}");
    println!("panic_log: ok");
}
