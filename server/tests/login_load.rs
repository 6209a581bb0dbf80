//! Finding 1 of issue 15: every login ran argon2id (19 MiB) with nothing
//! bounding how many ran at once, so a burst of logins (known usernames or
//! not) exhausted the server's memory: 40 took it from ~190 MiB to ~930 MiB.
//!
//! Alone in its test binary so the process's peak resident memory is the
//! server's under this one burst.

use fieldbook_domain::Role;
use fieldbook_server::PasswordHashing;
use fieldbook_testkit::{TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

const LOGINS: usize = 200;
const REAL_USERS: usize = 20;
const MIB: u64 = 1024 * 1024;

/// A field of /proc/self/status, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_logins_stay_within_a_memory_bound() {
    // Production hashing: the memory cost is what is measured.
    let server = TestServer::start_with(|c| c.password_hashing = PasswordHashing::OWASP).await;
    for i in 0..REAL_USERS {
        server.add_user(&format!("tech{i}"), Role::Technician);
    }
    // Warm up: one login of each kind, so lazily built state is counted in
    // the baseline rather than as growth.
    server.login("tech0").await;
    let workers = server.state.passwords.workers() as u64;
    let baseline = proc_status_bytes("VmRSS:");
    // Reset the peak ("VmHWM") to the current resident size.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();

    // Each login a different username (so the per-account throttle lets
    // every one of them be hashed): 20 real users with their password, 180
    // unknown names.
    let logins = (0..LOGINS).map(|i| {
        let client = server.client.clone();
        let url = server.url("/api/v1/auth/login");
        tokio::spawn(async move {
            let username = if i < REAL_USERS {
                format!("tech{i}")
            } else {
                format!("nobody{i}")
            };
            let status = client
                .post(url)
                .json(&json!({"username": username, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .status();
            (i < REAL_USERS, status)
        })
    });
    for login in logins.collect::<Vec<_>>() {
        let (real, status) = login.await.unwrap();
        let expected = if real {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected);
    }

    let peak = proc_status_bytes("VmHWM:");
    let growth = peak.saturating_sub(baseline);
    // Each worker holds one 19 MiB argon2 buffer; 64 MiB covers the 200
    // connections, request buffers and threads.
    let bound = workers * 20 * MIB + 64 * MIB;
    println!(
        "{LOGINS} concurrent logins, {workers} hashing workers: resident {} MiB before, peak {} MiB (growth {} MiB, bound {} MiB)",
        baseline / MIB,
        peak / MIB,
        growth / MIB,
        bound / MIB
    );
    assert!(
        growth <= bound,
        "peak resident memory grew by {} MiB under {LOGINS} logins; the bound is {} MiB",
        growth / MIB,
        bound / MIB
    );
}
