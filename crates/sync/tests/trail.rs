//! Sync leaves a trail a support person can read in a laptop's log file:
//! one info line per cycle with its counts and duration, spans around the
//! cycle, each push batch, each pulled page and each upload, and the store's
//! debug events of what applying the server's answers changed.
//!
//! Own test binary: it installs the process-wide log subscriber.
//! `cargo test --workspace --test trail -- --nocapture` prints the log.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Device, TestServer};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_cycle_leaves_a_trail_in_the_log() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("fieldbook_sync=debug,fieldbook_store=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let server = TestServer::start().await;
    let alex = server.add_technician("alex");
    let team = server.ops().add_team("North Crew", &[alex]);
    let job = server.ops().confirmed_job(team, "Ada Customer");
    let device = Device::signed_in(&server, "alex").await;
    device.start_job(job);
    device.finish_job(job);
    device.complete_report(job, 1);
    let summary = device.engine.sync_once().await.unwrap();
    assert_eq!(summary.uploaded_blobs, 2, "{summary:?}");

    let text = log.text();
    println!("{text}");
    // The first sync (sign-in) and this one: one line each, with counts.
    let cycles: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sync cycle done"))
        .collect();
    assert_eq!(cycles.len(), 2, "{text}");
    let last = cycles[1];
    for field in [
        "pushed=4",
        "refused=0",
        "pulled_records=",
        "uploaded_blobs=2",
        "duration_ms=",
    ] {
        assert!(last.contains(field), "{field} missing from: {last}");
    }
    assert!(last.contains(" INFO "), "{last}");
    // Spans name what a line belongs to.
    for span in [
        "sync_cycle",
        "push_batch{entries=4",
        "pull_pages{",
        "upload{sha256=",
    ] {
        assert!(text.contains(span), "no {span} span in:\n{text}");
    }
    // The store's apply path says what it did.
    for event in [
        "pull page applied",
        "outbox entry acknowledged",
        "blob upload ended",
    ] {
        assert!(text.contains(event), "no \"{event}\" in:\n{text}");
    }
}
