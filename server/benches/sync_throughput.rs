//! Server-side sync throughput: pull of 10,000 installations (every page, as
//! ops and as one technician, straight from storage and over HTTP) and push
//! of 1,000 mutations. Prints throughput and the ratio to a raw SQLite scan.
//!
//! Run: `cargo bench -p fieldbook-server --bench sync_throughput`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use fieldbook_demo::{generate, DemoConfig};
use fieldbook_domain::{BlobRef, InstallationMedia, MediaType, Mutation, Role, Sha256Hex};
use fieldbook_protocol::{MutationEnvelope, MutationOutcome, PullPage, PushRequest};
use fieldbook_server::caller::Caller;
use fieldbook_server::storage::Scope;
use fieldbook_server::{push, seed, AppState, PasswordHashing, ServerConfig};
use uuid::Uuid;

const INSTALLATIONS: usize = 10_000;
const TEAMS: usize = 4;
const PUSH_MUTATIONS: usize = 1_000;
const PUSH_BATCH: usize = 100;

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Pulls everything from cursor 0 straight from storage; returns records and pages.
fn pull_from_storage(state: &AppState, scope: Scope, limit: u32) -> (usize, usize, usize) {
    let (mut cursor, mut records, mut installations, mut pages) = (0, 0, 0, 0);
    loop {
        let page = state
            .storage
            .read(|db| db.pull(scope, cursor, limit, &|h| state.blobs.contains(h)))
            .expect("pull");
        records += page.len();
        installations += page.installations.len();
        pages += 1;
        cursor = page.next_cursor;
        if !page.has_more {
            return (records, installations, pages);
        }
    }
}

async fn pull_over_http(base: &str, token: &str, limit: u32) -> (usize, usize) {
    let client = reqwest::Client::new();
    let (mut cursor, mut records, mut pages) = (0, 0, 0);
    loop {
        let page: PullPage = client
            .get(format!(
                "{base}/api/v1/sync/pull?cursor={cursor}&limit={limit}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("pull")
            .json()
            .await
            .expect("page");
        records += page.len();
        pages += 1;
        cursor = page.next_cursor;
        if !page.has_more {
            return (records, pages);
        }
    }
}

fn main() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::new(data_dir.path().to_owned());
    // The benchmark measures sync, not password hashing.
    config.password_hashing = PasswordHashing::insecure_fast_for_tests();
    let hashing = config.password_hashing;
    let state = AppState::open(config).expect("open");

    let demo = generate(&DemoConfig::new(
        INSTALLATIONS,
        TEAMS,
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
    ));
    let t = Instant::now();
    seed::import_demo(&state.storage, hashing, &demo).expect("seed");
    println!(
        "seed: {} installations (+ leads, surveys, assignments) in {:.2?}",
        demo.installations.len(),
        t.elapsed()
    );

    let ops = demo.ops_users().next().expect("an ops user");
    let tech = demo.technicians().next().expect("a technician");
    let ops_scope = Scope::for_user(ops.user.id, Role::Ops);
    let tech_scope = Scope::for_user(tech.user.id, Role::Technician);

    // Raw baseline: read every installation body once, no scope, no JSON.
    let t = Instant::now();
    let raw_rows = state
        .storage
        .read(|db| db.raw_installation_scan())
        .expect("raw scan");
    let raw = t.elapsed();
    println!(
        "baseline raw scan: {raw_rows} installation rows in {raw:.2?} ({:.0} rows/s)",
        per_sec(raw_rows, raw)
    );

    for limit in [500, 1000] {
        for (who, scope) in [("ops", ops_scope), ("technician", tech_scope)] {
            let t = Instant::now();
            let (records, installations, pages) = pull_from_storage(&state, scope, limit);
            let took = t.elapsed();
            println!(
                "pull (storage) as {who}, pages of {limit}: {records} records ({installations} installations) in {pages} pages, {took:.2?} = {:.0} records/s, {:.0} installations/s, {:.1}x raw scan time",
                per_sec(records, took),
                per_sec(installations, took),
                took.as_secs_f64() / raw.as_secs_f64()
            );
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = fieldbook_server::start(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start");
        let base = format!("http://{}", server.addr);
        let login = fieldbook_server::auth::login(
            &state,
            "bench",
            fieldbook_protocol::LoginRequest {
                username: ops.user.username.clone(),
                password: ops.password.clone(),
            },
        )
        .await
        .expect("login");
        let t = Instant::now();
        let (records, pages) = pull_over_http(&base, &login.token, 1000).await;
        let took = t.elapsed();
        println!(
            "pull (HTTP, JSON) as ops, pages of 1000: {records} records in {pages} pages, {took:.2?} = {:.0} records/s",
            per_sec(records, took)
        );
        server.shutdown().await.expect("shutdown");
    });

    // Push: 1,000 mutations from one technician's device, batches of 100,
    // each mutation in its own fsynced transaction.
    let caller = Caller {
        user_id: tech.user.id,
        username: tech.user.username.clone(),
        role: Role::Technician,
        team_ids: demo
            .teams
            .iter()
            .filter(|t| t.member_ids.contains(&tech.user.id))
            .map(|t| t.id)
            .collect(),
    };
    let in_scope: Vec<Uuid> = demo
        .assignments
        .iter()
        .filter(|a| caller.team_ids.contains(&a.team_id))
        .map(|a| a.installation_id)
        .collect();
    let device = Uuid::new_v4();
    let mutations: Vec<MutationEnvelope> = (0..PUSH_MUTATIONS)
        .map(|n| {
            let installation_id = in_scope[n % in_scope.len()];
            let mutation = if n % 2 == 0 {
                let bytes = format!("photo {n}");
                Mutation::MediaAttach {
                    media: InstallationMedia {
                        id: Uuid::new_v4(),
                        installation_id,
                        media_type: MediaType::Photo,
                        file: BlobRef {
                            sha256: Sha256Hex::digest(bytes.as_bytes()),
                            size: bytes.len() as u64,
                            mime: "image/jpeg".into(),
                        },
                        caption: format!("Photo {n}"),
                        uploaded_by: caller.user_id,
                        uploaded_at: Utc::now(),
                    },
                }
            } else {
                Mutation::InstallationSetFlags {
                    installation_id,
                    customer_confirmed: Some(true),
                    demo_completed: None,
                    base_customer_confirmed: false,
                    base_demo_completed: false,
                }
            };
            MutationEnvelope {
                mutation_id: Uuid::new_v4(),
                device_id: device,
                device_seq: n as u64 + 1,
                base_version: None,
                mutation,
            }
        })
        .collect();
    let t = Instant::now();
    let mut applied = 0;
    for batch in mutations.chunks(PUSH_BATCH) {
        let response = push::push(
            &state.storage,
            &caller,
            &PushRequest {
                mutations: batch.to_vec(),
            },
        )
        .expect("push");
        applied += response
            .results
            .iter()
            .filter(|r| matches!(r.outcome, MutationOutcome::Applied { .. }))
            .count();
    }
    let took = t.elapsed();
    assert_eq!(applied, PUSH_MUTATIONS, "every benchmark mutation applies");
    println!(
        "push (storage): {PUSH_MUTATIONS} mutations in batches of {PUSH_BATCH}, {took:.2?} = {:.0} mutations/s (one synchronous=FULL transaction each)",
        per_sec(PUSH_MUTATIONS, took)
    );

    // Replaying the same 1,000: answered from the stored results.
    let t = Instant::now();
    for batch in mutations.chunks(PUSH_BATCH) {
        push::push(
            &state.storage,
            &caller,
            &PushRequest {
                mutations: batch.to_vec(),
            },
        )
        .expect("replay");
    }
    let took = t.elapsed();
    println!(
        "push replay: {PUSH_MUTATIONS} mutations, {took:.2?} = {:.0} mutations/s",
        per_sec(PUSH_MUTATIONS, took)
    );
}
