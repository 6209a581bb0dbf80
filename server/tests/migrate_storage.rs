//! `fieldbook-server migrate-storage` (the real binary): a SQLite server
//! with demo data, a pushed report, sessions and devices moves into an
//! empty PostgreSQL database; a server on it serves the devices as if
//! nothing happened. Always needs PostgreSQL (its own throwaway cluster,
//! whatever FIELDBOOK_TEST_DATABASE says); skips only when PostgreSQL is
//! not installed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use fieldbook_domain::{InstallationStatus, Mutation};
use fieldbook_protocol::PullPage;
use fieldbook_server::config::ServerConfig;
use fieldbook_server::storage::migrate::{COPIED_TABLES, RUNS_TABLE};
use fieldbook_server::storage::DatabaseUrl;
use fieldbook_server::AppState;
use fieldbook_testkit::{
    blob_store_args, finish, is_applied, photo, signed_report, start, PostgresUnavailable,
    ProtocolDevice, TestServer, ThrowawayPostgres, TwoTeams, OPS_USER, PASSWORD, TECH_B,
    TEST_BLOB_STORE_ENV,
};
use reqwest::StatusCode;
use tokio_postgres::NoTls;

const BIN: &str = env!("CARGO_BIN_EXE_fieldbook-server");

/// This binary's own cluster, or `None` (with the reason printed) when
/// PostgreSQL is not installed. One that is installed and fails to start
/// fails the test.
fn cluster(test: &str) -> Option<ThrowawayPostgres> {
    match ThrowawayPostgres::start() {
        Ok(cluster) => Some(cluster),
        Err(PostgresUnavailable::NotInstalled(why)) => {
            eprintln!("skipped {test}: {why}");
            None
        }
        Err(PostgresUnavailable::Failed(why)) => panic!("PostgreSQL did not start: {why}"),
    }
}

fn migrate(from: &Path, to: &str) -> Output {
    Command::new(BIN)
        .args(["migrate-storage", "--from"])
        .arg(from)
        .args(["--to", to])
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "warn")
        .env_remove("FIELDBOOK_DATABASE_URL")
        .output()
        .expect("run fieldbook-server migrate-storage")
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A SQLite server (whatever the run's test database) with demo data, two
/// teams, and bob's device that pulled and pushed a finished job's report.
async fn sqlite_server_with_work() -> (TestServer, TwoTeams, ProtocolDevice) {
    let mut demo = fieldbook_demo::generate(&fieldbook_demo::DemoConfig::new(
        20,
        2,
        Utc::now().date_naive(),
    ));
    for user in &mut demo.users {
        if user.user.username == OPS_USER {
            user.password = PASSWORD.into();
        }
    }
    let server = TestServer::start_with_demo_and(&demo, |config| config.database_url = None).await;
    let world = TwoTeams::create(&server).await;
    let job = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    let mut bob = ProtocolDevice::login(&server, TECH_B).await;
    let media = photo(job, b"bob's photo");
    let report = signed_report(job, std::slice::from_ref(&media.file.sha256));
    let outcomes = bob
        .push(
            &server,
            vec![
                start(job),
                finish(job),
                Mutation::MediaAttach { media },
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            ],
        )
        .await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");
    (server, world, bob)
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Rows per copied table on both databases.
async fn counts(sqlite_dir: &Path, url: &str) -> Vec<(String, i64, i64)> {
    let sqlite =
        rusqlite::Connection::open(fieldbook_server::storage::database_path(sqlite_dir)).unwrap();
    let pg = pg_client(url).await;
    let mut out = Vec::new();
    for table in COPIED_TABLES {
        let sql = format!("SELECT count(*) FROM {table}");
        let on_sqlite: i64 = sqlite.query_row(&sql, [], |r| r.get(0)).unwrap();
        let on_pg: i64 = pg.query_one(&sql, &[]).await.unwrap().get(0);
        out.push((table.to_string(), on_sqlite, on_pg));
    }
    out
}

async fn raw_pull(server: &TestServer, base: &str, token: &str, cursor: u64) -> PullPage {
    let response = server
        .client
        .get(format!(
            "{base}/api/v1/sync/pull?cursor={cursor}&limit=1000"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "pull on {base}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_server_moves_to_postgresql_and_its_devices_carry_on() {
    let Some(cluster) = cluster("a_sqlite_server_moves_to_postgresql_and_its_devices_carry_on")
    else {
        return;
    };
    let (mut server, world, bob) = sqlite_server_with_work().await;
    // Bob's device is up to date; then ops plan another job for team B
    // that the device has not pulled when the server moves.
    let pages = server.pull_all(&bob.token, 0, 1000).await;
    let cursor = pages.last().unwrap().next_cursor;
    let unpulled = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    server.stop().await;

    cluster.create_database("moved").unwrap();
    let url = cluster.url("moved");
    let out = migrate(server.data_dir(), &url);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("copied and verified"), "{stdout}");
    assert!(
        stdout.contains("blobs were not copied") && stdout.contains("--blob-store"),
        "{stdout}"
    );

    for (table, on_sqlite, on_pg) in counts(server.data_dir(), &url).await {
        assert_eq!(on_sqlite, on_pg, "rows of {table}");
    }
    let counted = counts(server.data_dir(), &url).await;
    let rows = |t: &str| counted.iter().find(|(n, ..)| n == t).unwrap().1;
    for table in [
        "users",
        "teams",
        "installations",
        "assignments",
        "reports",
        "media",
        "sessions",
        "devices",
        "mutations",
        "installation_history",
    ] {
        assert!(rows(table) > 0, "the test data has no {table}");
    }

    // A server on the copy: bob's token still works, and his next pull
    // from his old cursor gets exactly what the SQLite server would send.
    let mut config = ServerConfig::new(server.data_dir().to_owned());
    config.password_hashing = server.config().password_hashing;
    config.database_url = Some(DatabaseUrl::Postgres(url.clone()));
    let state = AppState::open(config).expect("open the server on PostgreSQL");
    let moved = fieldbook_server::start(state, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start the server on PostgreSQL");
    let moved_base = format!("http://{}", moved.addr);
    server.resume().await;
    let on_sqlite = raw_pull(&server, &server.base_url(), &bob.token, cursor).await;
    server.stop().await;
    let on_pg = raw_pull(&server, &moved_base, &bob.token, cursor).await;
    assert_eq!(
        serde_json::to_value(&on_pg).unwrap(),
        serde_json::to_value(&on_sqlite).unwrap()
    );
    assert!(on_pg.installations.iter().any(|i| i.record.id == unpulled));
    assert!(!on_pg.has_more);

    // New changes on PostgreSQL come after every copied number.
    let ops = server
        .client
        .post(format!("{moved_base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": OPS_USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(ops.status(), StatusCode::OK);
    let ops_token = ops.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved_job = server
        .client
        .post(format!(
            "{moved_base}/api/v1/admin/installations/{unpulled}/transition"
        ))
        .bearer_auth(&ops_token)
        .json(
            &serde_json::json!({"to": InstallationStatus::Rescheduled, "reason": "customer away"}),
        )
        .send()
        .await
        .unwrap();
    let status = moved_job.status();
    assert!(
        status == StatusCode::OK,
        "transition on PostgreSQL: {status} {}",
        moved_job.text().await.unwrap()
    );
    let next = raw_pull(&server, &moved_base, &bob.token, on_pg.next_cursor).await;
    let changed = next
        .installations
        .iter()
        .find(|i| i.record.id == unpulled)
        .expect("the change made on PostgreSQL reaches the device");
    assert!(next.next_cursor > on_pg.next_cursor);
    assert_eq!(changed.record.status, InstallationStatus::Rescheduled);
    drop(moved);

    // Running again on the finished target changes nothing and says why.
    let again = migrate(server.data_dir(), &url);
    assert!(!again.status.success(), "{}", text(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already migrated"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_runs_again_to_completion() {
    let Some(cluster) = cluster("an_interrupted_migration_runs_again_to_completion") else {
        return;
    };
    let (mut server, ..) = sqlite_server_with_work().await;
    server.stop().await;

    // A database with rows the command did not put there is refused.
    cluster.create_database("occupied").unwrap();
    let occupied = cluster.url("occupied");
    drop(fieldbook_server::storage::PgStorage::open(&occupied).unwrap());
    pg_client(&occupied)
        .await
        .execute(
            "INSERT INTO login_known_sources VALUES ('someone', '10.0.0.1', '2026-01-01T00:00:00Z')",
            &[],
        )
        .await
        .unwrap();
    let refused = migrate(server.data_dir(), &occupied);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not empty"),
        "{}",
        text(&refused)
    );

    // The copy fails midway: sessions refuse every row.
    cluster.create_database("interrupted").unwrap();
    let url = cluster.url("interrupted");
    drop(fieldbook_server::storage::PgStorage::open(&url).unwrap());
    let pg = pg_client(&url).await;
    pg.batch_execute(
        "CREATE FUNCTION fail_copy() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'injected failure'; END; $$; \
         CREATE TRIGGER fail_copy BEFORE INSERT ON sessions \
             FOR EACH ROW EXECUTE FUNCTION fail_copy();",
    )
    .await
    .unwrap();
    let failed = migrate(server.data_dir(), &url);
    assert!(!failed.status.success(), "{}", text(&failed));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("injected failure"),
        "{}",
        text(&failed)
    );
    let users: i64 = pg
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    let sessions: i64 = pg
        .query_one("SELECT count(*) FROM sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        users > 0 && sessions == 0,
        "users {users}, sessions {sessions}"
    );
    let unfinished: bool = pg
        .query_one(
            &format!("SELECT finished_at IS NULL FROM {RUNS_TABLE}"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(unfinished);
    // No server serves half a copy.
    let refused = fieldbook_server::storage::PgStorage::open(&url).unwrap_err();
    assert!(refused.to_string().contains("migrate-storage"), "{refused}");

    // Fixed, the next run clears the half copy and finishes.
    pg.batch_execute("DROP TRIGGER fail_copy ON sessions")
        .await
        .unwrap();
    let rerun = migrate(server.data_dir(), &url);
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(
        String::from_utf8_lossy(&rerun.stdout).contains("unfinished run"),
        "{}",
        text(&rerun)
    );
    for (table, on_sqlite, on_pg) in counts(server.data_dir(), &url).await {
        assert_eq!(on_sqlite, on_pg, "rows of {table}");
    }
    let finished: bool = pg
        .query_one(
            &format!("SELECT finished_at IS NOT NULL FROM {RUNS_TABLE}"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(finished);
}

fn migrate_with_blobs(from: &Path, to: &str, blob_args: &[String]) -> Output {
    Command::new(BIN)
        .args(["migrate-storage", "--from"])
        .arg(from)
        .args(["--to", to])
        .args(blob_args)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "warn")
        .env_remove("FIELDBOOK_DATABASE_URL")
        .env_remove("FIELDBOOK_BLOB_STORE")
        .output()
        .expect("run fieldbook-server migrate-storage")
}

/// With `--blob-store`, the blobs move too: into another data dir, and
/// into an S3-compatible bucket (moto) when one can be started; each is
/// in the target afterwards with its bytes, and the command says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_move_to_another_data_dir_and_to_a_bucket() {
    if std::env::var_os(TEST_BLOB_STORE_ENV).is_some_and(|v| v == "s3") {
        // The source server's blobs would be in a bucket, not its data dir.
        eprintln!("skipped with {TEST_BLOB_STORE_ENV}=s3: this test moves the blobs of a data dir");
        return;
    }
    let Some(cluster) = cluster("blobs_move_to_another_data_dir_and_to_a_bucket") else {
        return;
    };
    let (mut server, ..) = sqlite_server_with_work().await;
    let bob = ProtocolDevice::login(&server, TECH_B).await;
    let big: Vec<u8> = (0..(9 << 20)).map(|i: u32| (i % 253) as u8).collect();
    let blobs: Vec<Vec<u8>> = vec![b"bob's photo".to_vec(), b"a second photo".to_vec(), big];
    for bytes in &blobs {
        server.upload_blob(&bob.token, bytes).await;
    }
    server.stop().await;

    // Into another data dir.
    cluster.create_database("to_dir").unwrap();
    let target = tempfile::tempdir().unwrap();
    let out = migrate_with_blobs(
        server.data_dir(),
        &cluster.url("to_dir"),
        &["--blob-store".into(), target.path().display().to_string()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verified by SHA-256"), "{stdout}");
    assert!(
        stdout.contains(&format!("done: {} blobs", blobs.len())),
        "{stdout}"
    );
    for bytes in &blobs {
        let hex = fieldbook_domain::Sha256Hex::digest(bytes);
        let path = target
            .path()
            .join("blobs")
            .join(&hex.as_str()[..2])
            .join(hex.as_str());
        assert_eq!(&std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }

    // Into a bucket, with the settings serve takes.
    let s3 = match fieldbook_testkit::ThrowawayS3::start() {
        Ok(s3) => s3,
        Err(why) => {
            eprintln!("skipped the bucket half: no S3-compatible server ({why:?})");
            return;
        }
    };
    let bucket = s3.new_bucket();
    cluster.create_database("to_bucket").unwrap();
    let args = blob_store_args(&bucket);
    let out = migrate_with_blobs(server.data_dir(), &cluster.url("to_bucket"), &args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("done: {} blobs", blobs.len())),
        "{stdout}"
    );
    // A server on the bucket serves every blob.
    let cache = tempfile::tempdir().unwrap();
    let store =
        fieldbook_server::blobs::BlobStore::open_at(cache.path(), Some(&bucket), 1 << 30).unwrap();
    for bytes in &blobs {
        let hex = fieldbook_domain::Sha256Hex::digest(bytes);
        let path = store.path_of(&hex).expect("the blob is in the bucket");
        assert_eq!(&std::fs::read(path).unwrap(), bytes);
    }
}

/// Storage reads made one after another inside one poll of an async task
/// (as `migrate-storage` compares the pulls of every user, in `main`'s
/// task) must not spend that task's cooperative budget: after about 128
/// pool checkouts they used to spin, each acquire woken at once, a few
/// statements per second. Run in a thread of its own so a hang fails the
/// test instead of hanging it.
#[test]
fn many_reads_in_one_poll_of_an_async_task_do_not_stall() {
    let Some(cluster) = cluster("many_reads_in_one_poll_of_an_async_task_do_not_stall") else {
        return;
    };
    cluster.create_database("many_reads").unwrap();
    let url = cluster.url("many_reads");
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let storage = fieldbook_server::storage::PgStorage::open(&url).unwrap();
            let started = std::time::Instant::now();
            // No await in between: all in one poll of this task.
            for _ in 0..1_000 {
                storage.read(|db| db.change_seq()).unwrap();
            }
            done.send(started.elapsed()).unwrap();
        });
    });
    let took = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("1,000 reads did not finish within 60 s: the task's budget ran out");
    println!("1,000 reads in one poll took {took:?}");
}
