//! List and search over 10,000 installations (the day view's hot path), and
//! the time to bulk-insert them as a first sync would, so the cost of the
//! search column on first sync is visible.
//!
//! `cargo bench -p fieldbook-store --bench search`
//!
//! It starts with encryption off vs on (SQLCipher, as the app opens its
//! store), interleaved round by round in the same run: first sync and the
//! list's queries. `FIELDBOOK_BENCH_ENCRYPTION=0` skips that part.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fieldbook_demo::{generate, DemoConfig, DemoData};
use fieldbook_domain::InstallationStatus;
use fieldbook_store::{DatabaseKey, InstallationQuery, ServerBatch, Store, Versioned};

const INSTALLATIONS: usize = 10_000;
/// Rows the list shows at once (a screenful); the UI pages for more.
const SCREEN: u32 = 50;
/// Rows per pull page, as the sync engine would commit them.
const PAGE: usize = 500;

fn v<T: Clone>(items: &[T]) -> Vec<Versioned<T>> {
    items
        .iter()
        .cloned()
        .map(|record| Versioned {
            record,
            server_version: 1,
        })
        .collect()
}

fn demo() -> DemoData {
    generate(&DemoConfig::new(
        INSTALLATIONS,
        20,
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
    ))
}

/// Loads `data` the way a first sync does: pages of `PAGE` installations with
/// their leads, surveys and assignments, one transaction each.
fn first_sync(store: &mut Store, data: &DemoData) {
    store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 0,
            users: data
                .users
                .iter()
                .map(|u| Versioned {
                    record: u.user.clone(),
                    server_version: 1,
                })
                .collect(),
            teams: v(&data.teams),
            ..Default::default()
        })
        .unwrap();
    for (page, chunk) in data.installations.chunks(PAGE).enumerate() {
        let ids: std::collections::HashSet<_> = chunk.iter().map(|i| i.id).collect();
        let leads: std::collections::HashSet<_> = chunk.iter().map(|i| i.lead_id).collect();
        let surveys: std::collections::HashSet<_> = chunk.iter().map(|i| i.survey_id).collect();
        store
            .apply_server_batch(&ServerBatch {
                scope: "installations".into(),
                cursor: page as i64 + 1,
                leads: v(&data
                    .leads
                    .iter()
                    .filter(|l| leads.contains(&l.id))
                    .cloned()
                    .collect::<Vec<_>>()),
                surveys: v(&data
                    .surveys
                    .iter()
                    .filter(|s| surveys.contains(&s.id))
                    .cloned()
                    .collect::<Vec<_>>()),
                installations: v(chunk),
                assignments: v(&data
                    .assignments
                    .iter()
                    .filter(|a| ids.contains(&a.installation_id))
                    .cloned()
                    .collect::<Vec<_>>()),
                ..Default::default()
            })
            .unwrap();
    }
}

/// Rounds of the encryption comparison (each: one store of each kind).
const ENCRYPTION_ROUNDS: usize = 5;

/// Encryption off vs on, each round one unencrypted and one encrypted store
/// (so both see the same machine load): the first sync of every
/// installation, then, reopened with a cold page cache, the list's queries
/// (a week, a status, a surname) 20 times each.
fn encryption_on_vs_off(data: &DemoData) {
    let key = DatabaseKey::new([42; 32]);
    let technician = data.technicians().next().unwrap().user.clone();
    let teams: Vec<_> = data.teams.iter().map(|t| t.id).collect();
    let start_date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let surname = data.leads[1234]
        .customer_name
        .split(' ')
        .next_back()
        .unwrap()
        .to_lowercase();
    let queries = [
        InstallationQuery {
            from_date: Some(start_date),
            to_date: Some(start_date + chrono::Days::new(6)),
            limit: SCREEN,
            ..Default::default()
        },
        InstallationQuery {
            statuses: vec![InstallationStatus::Confirmed],
            limit: SCREEN,
            ..Default::default()
        },
        InstallationQuery {
            text: surname,
            limit: SCREEN,
            ..Default::default()
        },
    ];
    // Off as the unencrypted store is laid out (SQLite's 4 KiB pages), on as
    // the app encrypts (16 KiB pages, db.rs CIPHER_SETTINGS), and off with
    // the same 16 KiB pages: part of the encrypted store's speed is the page
    // size alone, and this variant keeps the comparison honest about it.
    #[derive(Clone, Copy)]
    enum Variant {
        Off,
        On,
        OffLargePages,
    }
    let open = |dir: &std::path::Path, variant: Variant| match variant {
        Variant::On => Store::open_encrypted(dir, &key).unwrap(),
        Variant::Off => Store::open(dir).unwrap(),
        Variant::OffLargePages => {
            let path = dir.join("fieldbook.sqlite3");
            if !path.exists() {
                // The page size is fixed when the first page is written.
                let conn = rusqlite::Connection::open(&path).unwrap();
                conn.execute_batch("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL;")
                    .unwrap();
            }
            Store::open(dir).unwrap()
        }
    };
    // [off, on, off with large pages]
    let mut syncs = [Vec::new(), Vec::new(), Vec::new()];
    let mut searches = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..ENCRYPTION_ROUNDS {
        for (index, variant) in [Variant::Off, Variant::On, Variant::OffLargePages]
            .into_iter()
            .enumerate()
        {
            let dir = tempfile::tempdir().unwrap();
            let mut store = open(dir.path(), variant);
            let start = Instant::now();
            first_sync(&mut store, data);
            syncs[index].push(start.elapsed());
            store.sign_in(&technician, &teams).unwrap();
            drop(store);
            let store = open(dir.path(), variant);
            let start = Instant::now();
            for query in &queries {
                for _ in 0..20 {
                    black_box(store.list_installations(query).unwrap());
                }
            }
            searches[index].push(start.elapsed());
        }
    }
    for (what, times) in [
        ("first sync", &mut syncs),
        ("60 list queries", &mut searches),
    ] {
        for t in times.iter_mut() {
            t.sort();
        }
        let [off, on, off_large] = &*times;
        let median = |t: &Vec<Duration>| t[t.len() / 2];
        let ratio = |a: &Vec<Duration>, b: &Vec<Duration>| {
            format!(
                "best {:.2}x, median {:.2}x",
                a[0].as_secs_f64() / b[0].as_secs_f64(),
                median(a).as_secs_f64() / median(b).as_secs_f64()
            )
        };
        println!(
            "encryption {what} ({ENCRYPTION_ROUNDS} rounds): off best {:.1} ms, median {:.1} ms; \
             on best {:.1} ms, median {:.1} ms; off with 16 KiB pages best {:.1} ms, median {:.1} ms; \
             on/off {} (goal <= 1.3x); on/off with the same pages {}",
            ms(off[0]),
            ms(median(off)),
            ms(on[0]),
            ms(median(on)),
            ms(off_large[0]),
            ms(median(off_large)),
            ratio(on, off),
            ratio(on, off_large),
        );
    }
}

fn bench(c: &mut Criterion) {
    let data = demo();
    if std::env::var("FIELDBOOK_BENCH_ENCRYPTION").as_deref() != Ok("0") {
        encryption_on_vs_off(&data);
    }

    // Bulk insert: a fresh store per run, measured by hand (criterion's
    // iteration counts would make this take minutes).
    let mut samples = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let start = Instant::now();
        first_sync(&mut store, &data);
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "first sync of {INSTALLATIONS} installations (+ leads, surveys, assignments) in pages of {PAGE}: \
         median {:.1} ms, min {:.1} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[0])
    );

    // The road not taken, for comparison: an FTS5 trigram index over the
    // same search text, kept by a trigger.
    let mut fts_samples = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        rusqlite::Connection::open(store.database_path())
            .unwrap()
            .execute_batch(
                "CREATE VIRTUAL TABLE search_fts USING fts5(search_text, tokenize = 'trigram',
                     content = 'installation_search', content_rowid = 'installation_rowid');
                 CREATE TRIGGER search_fts_insert AFTER INSERT ON installation_search BEGIN
                     INSERT INTO search_fts (rowid, search_text)
                     VALUES (new.installation_rowid, new.search_text);
                 END;",
            )
            .unwrap();
        let start = Instant::now();
        first_sync(&mut store, &data);
        fts_samples.push(start.elapsed());
    }
    fts_samples.sort();
    println!(
        "same first sync with an FTS5 trigram index kept by trigger (not used by the store): \
         median {:.1} ms",
        ms(fts_samples[fts_samples.len() / 2])
    );

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    first_sync(&mut store, &data);
    let technician = data.technicians().next().unwrap().user.clone();
    let team = data
        .teams
        .iter()
        .find(|t| t.member_ids.contains(&technician.id))
        .unwrap()
        .id;
    store.sign_in(&technician, &[team]).unwrap();

    // The first text search after a sync page rebuilds the in-memory copy of
    // the search text; show what that costs once.
    let mut cold = Vec::new();
    for round in 0..5 {
        // An empty page still counts as a sync: it drops the copy.
        store
            .apply_server_batch(&ServerBatch {
                scope: "installations".into(),
                cursor: 10_000 + round,
                ..Default::default()
            })
            .unwrap();
        let start = Instant::now();
        store
            .list_installations(&InstallationQuery {
                text: "zzqxj".into(),
                ..Default::default()
            })
            .unwrap();
        cold.push(start.elapsed());
    }
    cold.sort();
    println!(
        "first text search after a sync page (rebuilds the search copy): median {:.2} ms",
        ms(cold[cold.len() / 2])
    );

    let probe_lead = &data.leads[1234];
    let surname = probe_lead
        .customer_name
        .split(' ')
        .next_back()
        .unwrap()
        .to_lowercase();
    let street_word = probe_lead
        .address_line1
        .split(' ')
        .nth(1)
        .unwrap_or("road")
        .to_lowercase();
    let start_date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();

    let queries = [
        (
            "list one week",
            InstallationQuery {
                from_date: Some(start_date),
                to_date: Some(start_date + chrono::Days::new(6)),
                limit: SCREEN,
                ..Default::default()
            },
        ),
        (
            "list one week, 200 rows",
            InstallationQuery {
                from_date: Some(start_date),
                to_date: Some(start_date + chrono::Days::new(6)),
                limit: 200,
                ..Default::default()
            },
        ),
        (
            "status confirmed",
            InstallationQuery {
                statuses: vec![InstallationStatus::Confirmed],
                limit: SCREEN,
                ..Default::default()
            },
        ),
        (
            "text surname",
            InstallationQuery {
                text: surname.clone(),
                limit: SCREEN,
                ..Default::default()
            },
        ),
        (
            "text street + surname",
            InstallationQuery {
                text: format!("{street_word} {surname}"),
                limit: SCREEN,
                ..Default::default()
            },
        ),
        (
            "text installation id",
            InstallationQuery {
                text: data.installations[4321].installation_id.to_string(),
                limit: SCREEN,
                ..Default::default()
            },
        ),
        (
            "text no match",
            InstallationQuery {
                text: "zzqxj".into(),
                limit: SCREEN,
                ..Default::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("installations_10k");
    group.measurement_time(Duration::from_secs(3));
    for (name, query) in &queries {
        let hits = store.list_installations(query).unwrap().len();
        println!("{name}: {hits} rows");
        group.bench_function(*name, |b| {
            b.iter(|| black_box(store.list_installations(black_box(query)).unwrap()))
        });
    }
    group.finish();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

criterion_group!(benches, bench);
criterion_main!(benches);
