//! The ops console's installation list on 10,000 installations (the
//! `seed-demo --installations 10000` data set): a filtered and searched page
//! against a plain indexed `SELECT … ORDER BY scheduled_date LIMIT 50` on the
//! same database, in the same run. Goal: the list page within 5× the plain
//! page. Prints best and median of several runs of each.
//!
//! Run: `cargo bench -p fieldbook-server --bench ops_list`

use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use fieldbook_demo::{generate, DemoConfig};
use fieldbook_protocol::{OpsInstallationQuery, OpsInstallationSort};
use fieldbook_server::ops::installations::{filter_from, installation_page};
use fieldbook_server::{seed, AppState, PasswordHashing, ServerConfig};

const INSTALLATIONS: usize = 10_000;
const TEAMS: usize = 8;
const RUNS: usize = 9;
/// Repetitions inside one timed run, so each run is long enough to time.
const REPEAT: u32 = 20;

fn time(mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm the page cache and the statement cache
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..REPEAT {
                f();
            }
            start.elapsed() / REPEAT
        })
        .collect()
}

fn best_and_median(mut runs: Vec<Duration>) -> (Duration, Duration) {
    runs.sort();
    (runs[0], runs[runs.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::new(dir.path().to_owned());
    config.password_hashing = PasswordHashing::insecure_fast_for_tests();
    let state = AppState::open(config).expect("open");
    let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let data = generate(&DemoConfig::new(INSTALLATIONS, TEAMS, today));
    let started = Instant::now();
    seed::import_demo(
        &state.storage,
        PasswordHashing::insecure_fast_for_tests(),
        &data,
    )
    .expect("seed");
    println!(
        "seeded {INSTALLATIONS} installations in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let one_job = data.installations[1234].installation_id.as_str().to_owned();
    let queries = [
        (
            "active, next 5 weeks, search \"smith\"",
            OpsInstallationQuery {
                status: Some("planned,material_pending,material_ready,confirmed".into()),
                from: Some(today - Days::days(7)),
                to: Some(today + Days::days(35)),
                q: Some("smith".into()),
                limit: Some(50),
                ..Default::default()
            },
        ),
        (
            "unconfirmed customers, search postcode \"LS1\", newest INS first",
            OpsInstallationQuery {
                customer_confirmed: Some(false),
                q: Some("LS1".into()),
                sort: Some(OpsInstallationSort::InstallationIdDesc),
                limit: Some(50),
                ..Default::default()
            },
        ),
        (
            "one job by its INS id",
            OpsInstallationQuery {
                q: Some(one_job),
                limit: Some(50),
                ..Default::default()
            },
        ),
    ];

    state
        .storage
        .read(|db| {
            let plain = best_and_median(time(|| {
                assert_eq!(db.plain_installation_page(50).unwrap().len(), 50);
            }));
            println!(
                "plain indexed page (SELECT … ORDER BY scheduled_date LIMIT 50, decoded): best {:.3} ms, median {:.3} ms",
                ms(plain.0),
                ms(plain.1)
            );
            for (name, query) in &queries {
                let name = *name;
                let filter = filter_from(query).unwrap();
                let sort = query.sort.unwrap_or_default();
                let mut rows = 0;
                let page_only = best_and_median(time(|| {
                    rows = db
                        .ops_installation_page(&filter, sort, None, 50)
                        .unwrap()
                        .rows
                        .len();
                }));
                let mut total = 0;
                let with_counts = best_and_median(time(|| {
                    total = installation_page(db, query).unwrap().total;
                }));
                println!("{name}: {rows} rows on the page, {total} matching");
                println!(
                    "  list page:            best {:.3} ms, median {:.3} ms  ({:.2}x / {:.2}x the plain page)",
                    ms(page_only.0),
                    ms(page_only.1),
                    page_only.0.as_secs_f64() / plain.0.as_secs_f64(),
                    page_only.1.as_secs_f64() / plain.1.as_secs_f64(),
                );
                println!(
                    "  page + status counts: best {:.3} ms, median {:.3} ms  ({:.2}x / {:.2}x the plain page)",
                    ms(with_counts.0),
                    ms(with_counts.1),
                    with_counts.0.as_secs_f64() / plain.0.as_secs_f64(),
                    with_counts.1.as_secs_f64() / plain.1.as_secs_f64(),
                );
            }
            Ok::<_, fieldbook_server::storage::StorageError>(())
        })
        .expect("read");
}
