//! Pulls under overload (docs/scaling.md): a pull nobody waits for any more
//! stops its storage work, pulls over an instance's limit wait in a short
//! queue (served in turn, no retry), pulls over the limit and the queue are
//! answered `503 busy` with `Retry-After` at once (before authentication
//! looks up their session), and so is a pull that, by how long pulls take,
//! could not expect a slot within the queue's wait; a queued pull that gets
//! no slot in time is answered `busy` too; pushes are never shed.
//!
//! A pull is held in flight by the server's test hook
//! (`ServerConfig::pull_test_stall_ms`): the pull repeats its storage read
//! for that long, and only the storage's own cancellation stops it early.
//! Runs on every backend (`make unit`, `make test-postgres`,
//! `make test-postgres-2`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fieldbook_protocol::ErrorBody;
use fieldbook_testkit::{
    is_applied, start, ProtocolDevice, TestServer, TwoTeams, OPS_USER, TECH_A,
};
use reqwest::StatusCode;

const PULL: &str = "/api/v1/sync/pull?cursor=0&limit=100";

/// Waits until no pull's storage work runs, or panics after `within`.
async fn until_no_pull_runs(server: &TestServer, within: Duration) -> Duration {
    let started = Instant::now();
    while server.pulls_in_flight() > 0 {
        assert!(
            started.elapsed() < within,
            "{} pull(s) still running {within:?} after their requests ended",
            server.pulls_in_flight()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Waits until `n` pulls' storage work runs (they are past the slot and
/// in the storage), or panics after `within`.
async fn until_pulls_run(server: &TestServer, n: usize, within: Duration) {
    let started = Instant::now();
    while server.pulls_in_flight() < n {
        assert!(
            started.elapsed() < within,
            "only {} of {n} pulls started within {within:?}",
            server.pulls_in_flight()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A pull's answer: status, Retry-After header, error body, time to answer.
type Answer = (StatusCode, Option<String>, Option<ErrorBody>, Duration);

/// One pull.
async fn pull(server: &TestServer, token: &str) -> Answer {
    let started = Instant::now();
    let response = server
        .client
        .get(server.url(PULL))
        .bearer_auth(token)
        .send()
        .await
        .expect("pull request");
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = (!status.is_success()).then(|| serde_json::from_str(&text).expect("error body"));
    (status, retry_after, body, started.elapsed())
}

/// A server whose instances each run one pull at once, with at most
/// `queue` more waiting up to `wait`, each pull holding its slot for
/// `stall_ms`; and an ops token.
async fn one_slot_server(queue: usize, wait: Duration, stall_ms: u64) -> (TestServer, String) {
    let server = TestServer::start_with(|c| {
        c.max_concurrent_pulls = 1;
        c.pull_queue = Some(queue);
        c.pull_queue_wait = wait;
    })
    .await;
    let token = server.token(OPS_USER).await;
    server
        .config()
        .pull_test_stall_ms
        .store(stall_ms, Ordering::Relaxed);
    (server, token)
}

/// Asserts that `answer` is `503 busy` with `Retry-After: 2`, answered
/// after a time within `took`.
fn assert_busy(answer: &Answer, took: std::ops::Range<Duration>) {
    let (status, retry_after, body, answered_after) = answer;
    assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
    assert_eq!(body.as_ref().unwrap().code.as_str(), "busy", "{body:?}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert!(
        took.contains(answered_after),
        "answered busy after {answered_after:?}, expected within {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_past_the_request_deadline_stops_its_storage_work() {
    let server = TestServer::start_with(|c| {
        c.request_timeout = Duration::from_secs(2);
        c.max_concurrent_pulls = 4;
    })
    .await;
    let token = server.token(OPS_USER).await;
    // Each pull would read for 30 s if nothing stopped it.
    server
        .config()
        .pull_test_stall_ms
        .store(30_000, Ordering::Relaxed);

    let (a, b, ()) = tokio::join!(
        pull(&server, &token),
        pull(&server, &token),
        until_pulls_run(&server, 2, Duration::from_millis(1_800)),
    );
    for (status, _, body, took) in [a, b] {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body.unwrap().code.as_str(), "timeout");
        assert!(took < Duration::from_secs(5), "answered after {took:?}");
    }
    // The blocking work stops at the storage's next check, not after 30 s.
    let stopped_after = until_no_pull_runs(&server, Duration::from_secs(5)).await;
    eprintln!("timed-out pulls stopped {stopped_after:?} after their answers");

    // The connections went back healthy: the next pull is served, at once.
    server
        .config()
        .pull_test_stall_ms
        .store(0, Ordering::Relaxed);
    let (status, _, body, took) = pull(&server, &token).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_whose_client_hangs_up_stops_its_storage_work() {
    let server = TestServer::start_with(|c| c.max_concurrent_pulls = 4).await;
    let token = server.token(OPS_USER).await;
    server
        .config()
        .pull_test_stall_ms
        .store(30_000, Ordering::Relaxed);

    // The device gives up after 1.5 s (its own timeout, or a lost network):
    // the server's 30 s deadline is far away.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1_500))
        .build()
        .unwrap();
    let (gave_up, ()) = tokio::join!(
        impatient.get(server.url(PULL)).bearer_auth(&token).send(),
        until_pulls_run(&server, 1, Duration::from_millis(1_400)),
    );
    let gave_up = gave_up.expect_err("the pull cannot answer within 1.5 s");
    assert!(gave_up.is_timeout(), "{gave_up}");

    let stopped_after = until_no_pull_runs(&server, Duration::from_secs(5)).await;
    eprintln!("abandoned pull stopped {stopped_after:?} after the hang-up");
    server
        .config()
        .pull_test_stall_ms
        .store(0, Ordering::Relaxed);
    let (status, _, body, _) = pull(&server, &token).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pulls_over_the_limit_are_shed_at_once_and_succeed_on_retry() {
    // No queue: every pull over the limit is shed.
    let server = TestServer::start_with(|c| {
        c.max_concurrent_pulls = 2;
        c.pull_queue = Some(0);
    })
    .await;
    let token = server.token(OPS_USER).await;
    // Each pull holds its slot for 1.5 s, well inside the 30 s deadline.
    server
        .config()
        .pull_test_stall_ms
        .store(1_500, Ordering::Relaxed);
    let capacity = 2 * server.instance_count();
    let devices = capacity + 6;

    let first: Vec<_> =
        futures_util::future::join_all((0..devices).map(|_| pull(&server, &token))).await;
    let served = first.iter().filter(|r| r.0 == StatusCode::OK).count();
    let shed: Vec<_> = first
        .iter()
        .filter(|r| r.0 == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(served + shed.len(), devices, "{first:?}");
    assert!(
        served >= 1 && served <= capacity,
        "served {served}: {first:?}"
    );
    assert!(shed.len() >= devices - capacity, "shed {}", shed.len());
    for (_, retry_after, body, took) in &shed {
        let body = body.as_ref().unwrap();
        assert_eq!(body.code.as_str(), "busy", "{body:?}");
        assert_eq!(retry_after.as_deref(), Some("2"));
        assert_eq!(body.retry_after_secs, Some(2));
        // Answered before any slot was free: not queued into a timeout.
        assert!(*took < Duration::from_millis(1_400), "shed after {took:?}");
    }

    // Every shed device comes back after Retry-After (with jitter, as the
    // sync engine does) until it is served; none times out.
    let retries = shed.iter().enumerate().map(|(i, _)| {
        let (server, token) = (&server, &token);
        async move {
            for attempt in 0..20 {
                let jitter = Duration::from_millis(((i * 311 + attempt * 97) % 1000) as u64);
                tokio::time::sleep(Duration::from_secs(2) + jitter).await;
                let (status, _, body, _) = pull(server, token).await;
                match status {
                    StatusCode::OK => return attempt + 1,
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(body.unwrap().code.as_str(), "busy")
                    }
                    other => panic!("retry answered {other}: {body:?}"),
                }
            }
            panic!("a shed pull was not served in 20 retries");
        }
    });
    let attempts = futures_util::future::join_all(retries).await;
    eprintln!(
        "{served} served at once, {} shed; retries until served: {attempts:?}",
        shed.len()
    );
    until_no_pull_runs(&server, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_are_served_while_every_pull_slot_is_taken() {
    let server = TestServer::start_with(|c| {
        c.max_concurrent_pulls = 1;
        c.pull_queue = Some(0);
    })
    .await;
    let world = TwoTeams::create(&server).await;
    let job = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    server
        .config()
        .pull_test_stall_ms
        .store(3_000, Ordering::Relaxed);

    // Fill every instance's one slot (a pull more is shed), then push.
    let holders = futures_util::future::join_all(
        (0..server.instance_count()).map(|_| pull(&server, &world.ops)),
    );
    let push = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(server.pulls_in_flight(), server.instance_count());
        let (status, _, body, _) = pull(&server, &world.ops).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
        let started = Instant::now();
        let outcome = device.push_one(&server, start(job)).await;
        (outcome, started.elapsed())
    };
    let (held, (outcome, push_took)) = tokio::join!(holders, push);
    assert!(is_applied(&outcome), "{outcome:?}");
    assert!(
        push_took < Duration::from_millis(2_000),
        "the push waited {push_took:?} behind pulls"
    );
    for (status, _, body, _) in held {
        assert_eq!(status, StatusCode::OK, "{body:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_over_the_limit_is_shed_before_its_session_is_looked_up() {
    // No queue, so the one running pull fills the admission too (the queue
    // case: `pulls_over_the_limit_and_the_queue_are_shed_at_once`).
    let server = TestServer::start_with(|c| {
        c.max_concurrent_pulls = 1;
        c.pull_queue = Some(0);
    })
    .await;
    let token = server.token(OPS_USER).await;
    const NEAR_WINDOW: &str = "/api/v1/sync/near-window?from=2026-12-01&days=7";

    // A free slot: a bad token is looked up and refused, as ever.
    let before = server.session_lookups();
    let (status, _, body, _) = pull(&server, "not-a-session-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body:?}");
    assert_eq!(body.unwrap().code.as_str(), "unauthorized");
    assert_eq!(server.session_lookups(), before + 1);

    // Every instance's one slot held by a pull that reads for 3 s.
    server
        .config()
        .pull_test_stall_ms
        .store(3_000, Ordering::Relaxed);
    let instances = server.instance_count();
    let holders = futures_util::future::join_all((0..instances).map(|_| pull(&server, &token)));
    let probes = async {
        until_pulls_run(&server, instances, Duration::from_millis(2_000)).await;
        let before = server.session_lookups();
        // Enough requests to reach every instance behind the front.
        for _ in 0..2 * instances {
            let (status, retry_after, body, took) = pull(&server, "not-a-session-token").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
            let body = body.unwrap();
            assert_eq!(body.code.as_str(), "busy", "{body:?}");
            assert_eq!(retry_after.as_deref(), Some("2"));
            assert!(took < Duration::from_millis(1_000), "shed after {took:?}");
            // No token at all: the same answer, and nothing more.
            let response = server.client.get(server.url(PULL)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            // The first sync's other read is shed the same way.
            let response = server
                .client
                .get(server.url(NEAR_WINDOW))
                .bearer_auth("not-a-session-token")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body: ErrorBody = response.json().await.unwrap();
            assert_eq!(body.code.as_str(), "busy", "{body:?}");
        }
        // Shed before authentication: no session was looked up for them.
        assert_eq!(server.session_lookups(), before);
        assert_eq!(server.pulls_in_flight(), instances);
    };
    let (held, ()) = tokio::join!(holders, probes);
    for (status, _, body, _) in held {
        assert_eq!(status, StatusCode::OK, "{body:?}");
    }

    // The slots free again: the bad token meets authentication again, and
    // a good one is served.
    server
        .config()
        .pull_test_stall_ms
        .store(0, Ordering::Relaxed);
    let before = server.session_lookups();
    let (status, _, body, _) = pull(&server, "not-a-session-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body:?}");
    assert_eq!(server.session_lookups(), before + 1);
    let (status, _, body, _) = pull(&server, &token).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pulls_over_the_limit_wait_in_the_queue_and_are_served_in_turn() {
    const QUEUE: usize = 3;
    // Each pull holds its instance's one slot for 400 ms.
    let (server, token) = one_slot_server(QUEUE, Duration::from_secs(20), 400).await;
    let instances = server.instance_count();

    // One running and QUEUE waiting per instance (the front deals the
    // requests out in turn): all served, none asked to retry, one at a
    // time per instance.
    let most_running = std::sync::atomic::AtomicUsize::new(0);
    let pulls =
        futures_util::future::join_all((0..(1 + QUEUE) * instances).map(|_| pull(&server, &token)));
    let watch = async {
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1_500) {
            most_running.fetch_max(server.pulls_in_flight(), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (answers, ()) = tokio::join!(pulls, watch);
    for (status, _, body, _) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body:?}");
    }
    let mut took: Vec<_> = answers.iter().map(|a| a.3).collect();
    took.sort();
    // The last in line waited for the QUEUE pulls before it.
    assert!(
        took[took.len() - 1] >= Duration::from_millis(400 * (QUEUE as u64 + 1) - 100),
        "{took:?}"
    );
    assert!(
        most_running.load(Ordering::Relaxed) <= instances,
        "{} pulls ran at once on {instances} instance(s) of one slot",
        most_running.load(Ordering::Relaxed)
    );
    eprintln!("queued pulls answered after {took:?}");
    until_no_pull_runs(&server, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pulls_over_the_limit_and_the_queue_are_shed_at_once() {
    const QUEUE: usize = 2;
    let (server, token) = one_slot_server(QUEUE, Duration::from_secs(20), 1_000).await;
    let instances = server.instance_count();

    // Three more per instance than it admits.
    let extra = 3;
    let answers = futures_util::future::join_all(
        (0..(1 + QUEUE + extra) * instances).map(|_| pull(&server, &token)),
    )
    .await;
    let served: Vec<_> = answers.iter().filter(|a| a.0 == StatusCode::OK).collect();
    let shed: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(served.len(), (1 + QUEUE) * instances, "{answers:?}");
    assert_eq!(shed.len(), extra * instances, "{answers:?}");
    for answer in shed {
        // At once: not after waiting for a slot.
        assert_busy(answer, Duration::ZERO..Duration::from_millis(900));
    }
    until_no_pull_runs(&server, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_pull_that_gets_no_slot_in_time_is_answered_busy() {
    // The running pull holds its slot far longer than the queue's wait.
    let (server, token) = one_slot_server(1, Duration::from_millis(600), 3_000).await;
    let instances = server.instance_count();

    let answers =
        futures_util::future::join_all((0..2 * instances).map(|_| pull(&server, &token))).await;
    let served = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(served, instances, "{answers:?}");
    for answer in answers.iter().filter(|a| a.0 != StatusCode::OK) {
        // After the queue's wait, not at once and not after the slot freed.
        assert_busy(
            answer,
            Duration::from_millis(550)..Duration::from_millis(2_500),
        );
    }
    until_no_pull_runs(&server, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_that_could_not_expect_a_slot_in_time_is_shed_at_once() {
    let (server, token) = one_slot_server(10, Duration::from_secs(1), 600).await;
    let instances = server.instance_count();
    // One pull per instance, alone: each learns that a pull holds its slot
    // about 600 ms.
    for _ in 0..instances {
        let (status, _, body, _) = pull(&server, &token).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
    }

    // Five at once per instance: one runs, one may wait (a slot in about
    // 600 ms), the third would wait about 1.2 s, past the queue's 1 s:
    // it and the rest are shed at once, though the queue has room for 10.
    let answers =
        futures_util::future::join_all((0..5 * instances).map(|_| pull(&server, &token))).await;
    let served = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(served, 2 * instances, "{answers:?}");
    for answer in answers.iter().filter(|a| a.0 != StatusCode::OK) {
        assert_busy(answer, Duration::ZERO..Duration::from_millis(500));
    }
    until_no_pull_runs(&server, Duration::from_secs(5)).await;
}

/// Threads of this process now (the test and its server instances).
fn threads_of_this_process() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_waiting_for_a_database_connection_hold_no_thread() {
    if !fieldbook_testkit::testing_on_postgres() {
        eprintln!("skipped on SQLite: its readers never wait for a pooled connection");
        return;
    }
    if fieldbook_testkit::skip_unless_one_instance(
        "requests_waiting_for_a_database_connection_hold_no_thread",
        "it holds the one instance's pool",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let token = server.token(OPS_USER).await;
    let storage = server.storage();
    // Every connection of the instance's pool (16), held here. The wait
    // that ends the loop is for a connection that never comes; it must not
    // be shorter than opening one takes on a loaded machine (CI once held
    // only 7 with 300 ms).
    let mut held = Vec::new();
    while let Ok(Ok(ready)) =
        tokio::time::timeout(Duration::from_secs(2), storage.ready_for_read()).await
    {
        held.push(ready);
    }
    assert!(held.len() >= 8, "held {} connections", held.len());

    // Requests that each need a connection for their session lookup: they
    // wait, and (the point) not on a blocking thread each.
    let before = threads_of_this_process();
    const WAITING: usize = 60;
    let requests = futures_util::future::join_all(
        (0..WAITING).map(|_| server.get("/api/v1/auth/session", &token)),
    );
    let watch = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let during = threads_of_this_process();
        assert!(
            during < before + WAITING / 3,
            "{WAITING} requests waiting for a connection took {} threads ({before} -> {during})",
            during.saturating_sub(before)
        );
        eprintln!("threads while {WAITING} requests waited: {before} -> {during}");
        drop(held);
    };
    let (answers, ()) = tokio::join!(requests, watch);
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
