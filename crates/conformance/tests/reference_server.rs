//! The suite against the reference server (SQLite) on port 0: every check
//! passes.

use fieldbook_conformance::{run, Target};
use fieldbook_testkit::{TestServer, OPS_USER, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_passes_every_check() {
    let server = TestServer::start().await;
    let target = Target {
        base_url: server.base_url(),
        ops_username: OPS_USER.into(),
        ops_password: PASSWORD.into(),
    };
    let reports = run(&target, None, |r| println!("{}", r.line()))
        .await
        .expect("set up the conformance world");
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.line())
        .collect();
    assert!(reports.len() >= 25, "only {} checks ran", reports.len());
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
}

/// The command line: exit 0 when the checks pass, 2 when the suite cannot
/// start, and one line per check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reports_each_check_and_exits_by_outcome() {
    let server = TestServer::start().await;
    let run = |password: &'static str, only: &'static str| {
        let url = server.base_url();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_fieldbook-conformance"))
                .args(["--base-url", &url, "--ops-user", OPS_USER, "--only", only])
                .env("FIELDBOOK_CONFORMANCE_OPS_PASSWORD", password)
                .output()
                .expect("run fieldbook-conformance")
        })
    };
    let passed = run(PASSWORD, "tus.").await.unwrap();
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert_eq!(passed.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("PASS  tus.a_stored_blob_is_deduplicated_at_creation"),
        "{stdout}"
    );
    assert!(stdout.contains("checks: 6 passed, 0 failed"), "{stdout}");

    let refused = run("not the ops password", "tus.").await.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot log in as the ops account"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let nothing = run(PASSWORD, "no-such-check").await.unwrap();
    assert_eq!(nothing.status.code(), Some(1));
}
