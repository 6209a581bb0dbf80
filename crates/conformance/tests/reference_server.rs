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
