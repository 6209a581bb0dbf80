//! Several `serve` instances on one PostgreSQL database (issue 10): a load
//! balancer sends each request of a device to any of them. Sessions, the
//! login throttle and push idempotency live in the database, not in one
//! process's memory, so every instance answers alike, and devices that
//! sync through alternating instances end with what one instance serves.
//!
//! PostgreSQL runs only (`make test-postgres`): SQLite is one process's
//! database, and these tests say so and skip on it.

use std::collections::BTreeMap;

use fieldbook_protocol::PullPage;
use fieldbook_testkit::{
    finish, is_applied, start, testing_on_postgres, ProtocolDevice, TestServer, TwoTeams, PASSWORD,
    TECH_A, TECH_B,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

fn skip_on_sqlite(test: &str) -> bool {
    if !testing_on_postgres() {
        eprintln!("skipped on SQLite: {test} runs two server instances on one PostgreSQL database");
        return true;
    }
    false
}

/// Installation id → (version, status) after applying `pages` in order,
/// as a device applies them (a newer version replaces an older one).
fn installations_after(pages: &[PullPage]) -> BTreeMap<Uuid, (u64, String)> {
    let mut seen = BTreeMap::new();
    for page in pages {
        for v in &page.installations {
            let status = v.record.status.as_str().to_owned();
            let entry = seen
                .entry(v.record.id)
                .or_insert((v.version, status.clone()));
            if v.version >= entry.0 {
                *entry = (v.version, status);
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_syncing_through_alternating_instances_converge() {
    if skip_on_sqlite("devices_syncing_through_alternating_instances_converge") {
        return;
    }
    let a = TestServer::start().await;
    let b = a.another_instance().await;
    let instances = [&a, &b];
    let world = TwoTeams::create(&a).await;

    // Ops plan through both instances, for both teams.
    let mut jobs = Vec::new();
    for i in 0..6 {
        let team = if i % 3 == 2 {
            world.team_b
        } else {
            world.team_a
        };
        jobs.push(
            instances[i % 2]
                .confirmed_installation(&world.ops, team)
                .await,
        );
    }
    let team_a_jobs: Vec<Uuid> = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 2)
        .map(|(_, id)| *id)
        .collect();

    // A session made on one instance is good on the other; the device's
    // mutations go through alternating instances, in one device sequence.
    let mut alice = ProtocolDevice::login(&b, TECH_A).await;
    for (i, job) in team_a_jobs.iter().enumerate() {
        let outcome = alice.push_one(instances[i % 2], start(*job)).await;
        assert!(is_applied(&outcome), "{outcome:?}");
    }
    // A batch pushed through one instance and replayed through the other
    // (the answer was lost) gets the same answers and changes nothing more.
    let batch = alice.envelopes(vec![finish(team_a_jobs[0]), finish(team_a_jobs[1])]);
    let first = alice.push_envelopes(&a, &batch).await;
    assert!(first.iter().all(is_applied), "{first:?}");
    let replay = alice.push_envelopes(&b, &batch).await;
    assert_eq!(replay, first);

    // Bob's device pulls in small pages, alternating instances; so does
    // Alice's. Each ends with exactly what one full pull from either
    // instance gives, and the two instances agree.
    let bob = ProtocolDevice::login(&a, TECH_B).await;
    for device in [&alice, &bob] {
        let mut pages = Vec::new();
        let mut cursor = 0;
        for n in 0.. {
            let page = instances[n % 2].pull(&device.token, cursor, 3).await;
            assert!(page.next_cursor >= cursor);
            cursor = page.next_cursor;
            let more = page.has_more;
            pages.push(page);
            if !more {
                break;
            }
        }
        let alternating = installations_after(&pages);
        let from_a = installations_after(&a.pull_all(&device.token, 0, 1000).await);
        let from_b = installations_after(&b.pull_all(&device.token, 0, 1000).await);
        assert_eq!(from_a, from_b);
        assert_eq!(alternating, from_a);
    }
    let alice_sees = installations_after(&a.pull_all(&alice.token, 0, 1000).await);
    assert_eq!(alice_sees.keys().copied().collect::<Vec<_>>(), {
        let mut ids = team_a_jobs.clone();
        ids.sort();
        ids
    });
    assert_eq!(alice_sees[&team_a_jobs[0]].1, "completed");
    assert_eq!(alice_sees[&team_a_jobs[2]].1, "in_progress");

    // Signing out through one instance ends the session on both.
    let (status, _) = b
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&alice.token),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    for server in instances {
        let (status, _) = server.get("/api/v1/sync/pull", &alice.token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

async fn attempt(server: &TestServer, password: &str) -> (StatusCode, serde_json::Value) {
    let request = json!({"username": "tina", "password": password});
    server
        .call(Method::POST, "/api/v1/auth/login", None, Some(&request))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_through_every_instance_count_against_one_throttle() {
    if skip_on_sqlite("guesses_through_every_instance_count_against_one_throttle") {
        return;
    }
    let a = TestServer::start_with(|c| c.max_failed_logins = 4).await;
    let b = a.another_instance().await;
    a.add_technician("tina");
    for n in 0..4 {
        let server = if n % 2 == 0 { &a } else { &b };
        let (status, _) = attempt(server, "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for server in [&a, &b] {
        let (status, body) = attempt(server, PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["code"], "too_many_attempts");
    }
}

/// A device whose push timed out sends the batch again, and the load
/// balancer gives it to the other instance while the first is still
/// working on it. Both answers must be the one stored answer, and each
/// change applied once: the mutation id's lock (an advisory transaction
/// lock) makes the second wait for the first and then find its record.
/// The first round is the device's first push ever (two binds racing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_batch_through_two_instances_at_once_is_applied_once() {
    if skip_on_sqlite("the_same_batch_through_two_instances_at_once_is_applied_once") {
        return;
    }
    let a = TestServer::start().await;
    let b = a.another_instance().await;
    let world = TwoTeams::create(&a).await;
    let mut jobs = Vec::new();
    for _ in 0..8 {
        jobs.push(a.confirmed_installation(&world.ops, world.team_a).await);
    }
    let mut alice = ProtocolDevice::login(&a, TECH_A).await;
    let mut versions = BTreeMap::new();
    for (round, job) in jobs.iter().enumerate() {
        let batch = alice.envelopes(vec![start(*job), finish(*job)]);
        // Alternate which instance is asked first.
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (one, other) = tokio::join!(
            alice.push_envelopes(first, &batch),
            alice.push_envelopes(second, &batch)
        );
        assert_eq!(
            one, other,
            "round {round}: the two instances answered differently"
        );
        assert!(one.iter().all(is_applied), "round {round}: {one:?}");
        let fieldbook_protocol::MutationOutcome::Applied { version } = one[1] else {
            unreachable!("checked above")
        };
        versions.insert(*job, version);
    }
    // Applied twice, a job would be past the version its answer names.
    let now = installations_after(&a.pull_all(&alice.token, 0, 1000).await);
    for (job, version) in versions {
        assert_eq!(now[&job], (version, "completed".to_owned()), "job {job}");
    }
    // The device's sequence went on from the batches, once each.
    let next = alice.push_one(&b, start(jobs[0])).await;
    assert!(
        !matches!(
            next,
            fieldbook_protocol::MutationOutcome::Rejected {
                code: fieldbook_protocol::RejectCode::SequenceGap,
                ..
            }
        ),
        "{next:?}"
    );
}
