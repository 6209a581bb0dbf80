//! Opening a data directory: migrations, re-open, the single-instance lock and
//! refusal of a newer schema.

mod common;

use fieldbook_store::{schema_version, Store, StoreError};

fn pragma<T: rusqlite::types::FromSql>(conn: &rusqlite::Connection, name: &str) -> T {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .unwrap()
}

/// The first column of every row `sql` returns, as text.
fn texts(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn opens_an_empty_directory_and_migrates_to_the_latest_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    let store = Store::open(&data_dir).unwrap();
    assert!(store.database_path().is_file());
    assert!(data_dir.join("media").is_dir());

    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    assert_eq!(pragma::<u32>(&raw, "user_version"), schema_version());
    assert_eq!(pragma::<String>(&raw, "journal_mode"), "wal");
    let tables: Vec<String> = texts(
        &raw,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    for table in [
        "blobs",
        "device",
        "installation_assignments",
        "installation_media",
        "installation_reports",
        "installations",
        "leads",
        "outbox",
        "report_drafts",
        "session",
        "surveys",
        "sync_state",
        "team_members",
        "teams",
        "users",
    ] {
        assert!(tables.iter().any(|t| t == table), "missing table {table}");
    }
    let indexes: Vec<String> = texts(
        &raw,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'installations'",
    );
    for index in [
        "installations_status",
        "installations_scheduled",
        "installations_lead",
    ] {
        assert!(indexes.iter().any(|i| i == index), "missing index {index}");
    }
    // Nothing queries jobs by their creator (migration 0011).
    assert!(!indexes.iter().any(|i| i == "installations_created_by"));
}

#[test]
fn reopen_keeps_data_device_id_and_sequence() {
    let mut f = common::Fixture::new();
    let job = f.add_job(
        fieldbook_domain::InstallationStatus::Confirmed,
        "Ada Lovelace",
    );
    let device_id = f.store.device_id();
    f.store
        .start_installation(job.id, &Default::default())
        .unwrap();
    let first_seq = f.store.pending_outbox(10).unwrap()[0].sequence;
    let dir = f.dir;
    drop(f.store);

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.device_id(), device_id);
    let detail = store.get_installation(job.id).unwrap();
    assert_eq!(
        detail.installation.status,
        fieldbook_domain::InstallationStatus::InProgress
    );
    assert_eq!(store.session().unwrap().unwrap().user.username, "tech.alex");
    // Acknowledge everything, then act again: the sequence keeps rising.
    for e in store.pending_outbox(10).unwrap() {
        store.acknowledge_outbox(e.mutation_id, 100).unwrap();
    }
    store.finish_installation(job.id).unwrap();
    let next = store.pending_outbox(10).unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].sequence > first_seq);
}

#[test]
fn second_open_of_the_same_directory_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert_eq!(err.code(), "locked");
    assert!(err.to_string().contains("already in use"), "{err}");
    drop(first);
    let again = Store::open(dir.path()).unwrap();
    drop(again);
}

#[test]
fn a_database_from_a_newer_fieldbook_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = {
        let store = Store::open(dir.path()).unwrap();
        store.database_path()
    };
    let newer = schema_version() + 1;
    {
        let raw = rusqlite::Connection::open(&db_path).unwrap();
        raw.pragma_update(None, "user_version", newer).unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported } if found == newer && supported == schema_version()),
        "{err:?}"
    );
    assert_eq!(err.code(), "schema_too_new");
    assert!(err.to_string().contains("update Fieldbook"), "{err}");
    let raw = rusqlite::Connection::open(&db_path).unwrap();
    assert_eq!(pragma::<u32>(&raw, "user_version"), newer);
    // The failed open released the lock.
    drop(raw);
    let raw = rusqlite::Connection::open(&db_path).unwrap();
    raw.pragma_update(None, "user_version", schema_version())
        .unwrap();
    Store::open(dir.path()).unwrap();
}

#[test]
fn a_database_at_an_older_version_is_migrated_forward() {
    // Version 0 with a foreign table (as a pre-release build might leave):
    // the migrations run on top and user_version ends at the latest.
    let dir = tempfile::tempdir().unwrap();
    {
        let raw = rusqlite::Connection::open(dir.path().join("fieldbook.sqlite3")).unwrap();
        raw.execute_batch("CREATE TABLE scratch (x INTEGER);")
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    assert_eq!(pragma::<u32>(&raw, "user_version"), schema_version());
}

#[test]
fn a_failing_migration_leaves_the_database_at_its_old_version() {
    // A table that collides with the first migration makes it fail half-way:
    // the whole migration run rolls back, user_version stays 0.
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("fieldbook.sqlite3");
    {
        let raw = rusqlite::Connection::open(&db_path).unwrap();
        raw.execute_batch("CREATE TABLE outbox (x INTEGER);")
            .unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert_eq!(err.code(), "database");
    assert!(err.to_string().contains("0001_initial"), "{err}");
    let raw = rusqlite::Connection::open(&db_path).unwrap();
    assert_eq!(pragma::<u32>(&raw, "user_version"), 0);
    let device_table: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'device'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(device_table, 0, "the first statements were rolled back too");
}

#[test]
fn a_damaged_row_is_reported_as_corrupt_not_as_a_crash() {
    let mut f = common::Fixture::new();
    let job = f.add_job(
        fieldbook_domain::InstallationStatus::Confirmed,
        "Ada Lovelace",
    );
    // Bypass the CHECK constraint the way a damaged file would.
    let raw = f.raw_connection();
    raw.execute_batch("PRAGMA ignore_check_constraints = ON;")
        .unwrap();
    raw.execute(
        "UPDATE installations SET scheduled_time_slot = 'midnight' WHERE id = ?1",
        [job.id.to_string()],
    )
    .unwrap();
    let err = f.store.get_installation(job.id).unwrap_err();
    assert_eq!(err.code(), "corrupt", "{err:?}");
    assert!(err.to_string().contains("midnight"), "{err}");
}

#[test]
fn a_store_at_schema_one_is_migrated_to_the_latest_and_keeps_its_jobs_and_device() {
    // A database exactly as the shipped 0001 left it: two jobs, one of them
    // started on this device (its start still in the outbox).
    let dir = tempfile::tempdir().unwrap();
    let device_id = uuid::Uuid::new_v4();
    let user_id = uuid::Uuid::new_v4();
    let (idle, started) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    {
        let raw = rusqlite::Connection::open(dir.path().join("fieldbook.sqlite3")).unwrap();
        raw.execute_batch(include_str!("../../../migrations/0001_initial.sql"))
            .unwrap();
        raw.pragma_update(None, "user_version", 1).unwrap();
        raw.execute(
            "INSERT INTO device (singleton, device_id, last_sequence) VALUES (1, ?1, 1)",
            [device_id.to_string()],
        )
        .unwrap();
        raw.execute(
            "INSERT INTO session VALUES (1, ?1, 'tech.alex', 'Alex Tech', 'technician', '[]',
                                         '2026-11-20T09:00:00.000000000Z')",
            [user_id.to_string()],
        )
        .unwrap();
        for (n, (id, status)) in [(idle, "confirmed"), (started, "in_progress")]
            .iter()
            .enumerate()
        {
            raw.execute(
                "INSERT INTO installations (id, installation_id, survey_id, lead_id,
                     scheduled_date, scheduled_time_slot, status, created_by, created_at,
                     updated_at, server_version)
                 VALUES (?1, ?2, ?3, ?4, '2026-12-01', 'morning', ?5, ?6,
                         '2026-11-20T09:00:00.000000000Z', '2026-11-20T09:00:00.000000000Z', 7)",
                rusqlite::params![
                    id.to_string(),
                    format!("INS-2026-00000{}", n + 1),
                    uuid::Uuid::new_v4().to_string(),
                    uuid::Uuid::new_v4().to_string(),
                    status,
                    user_id.to_string(),
                ],
            )
            .unwrap();
        }
        raw.execute(
            "INSERT INTO outbox (mutation_id, device_id, sequence, kind, installation_id,
                                 payload, base_version, created_at)
             VALUES (?1, ?2, 1, 'installation.start', ?3, '{}', 7,
                     '2026-11-20T09:00:00.000000000Z')",
            rusqlite::params![
                uuid::Uuid::new_v4().to_string(),
                device_id.to_string(),
                started.to_string()
            ],
        )
        .unwrap();
        raw.execute(
            "INSERT INTO sync_state (scope, cursor, updated_at)
             VALUES ('installations', 40, '2026-11-21T08:00:00.000000000Z')",
            [],
        )
        .unwrap();
    }

    let mut store = Store::open(dir.path()).unwrap();
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    assert_eq!(pragma::<u32>(&raw, "user_version"), schema_version());
    assert_eq!(store.device_id(), device_id);
    // Its last pull page is when it last synced, as far as it knows.
    assert_eq!(
        store.last_synced_at().unwrap().map(|t| t.to_rfc3339()),
        Some("2026-11-21T08:00:00+00:00".to_owned())
    );
    // The signed-in technician owns the device: signing in again keeps it.
    let technician = store.session().unwrap().unwrap();
    store
        .sign_in(&technician.user, &technician.team_ids)
        .unwrap();
    assert_eq!(store.device_id(), device_id);

    let list = store.list_installations(&Default::default()).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| !s.left_scope));
    assert_eq!(store.get_installation(idle).unwrap().left_scope_at, None);
    // The server's state is known for the untouched job only.
    let server_status = |id: uuid::Uuid| -> Option<String> {
        raw.query_row(
            "SELECT server_status FROM installations WHERE id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(server_status(idle).as_deref(), Some("confirmed"));
    assert_eq!(server_status(started), None);
}

fn installation_indexes(store: &Store) -> Vec<String> {
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    let mut names: Vec<String> = texts(
        &raw,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'installations'",
    );
    names.sort();
    names
}

#[test]
fn indexes_a_first_sync_deferred_are_built_after_it_or_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let all = installation_indexes(&store);
    assert!(
        all.iter().any(|i| i == "installations_scheduled"),
        "{all:?}"
    );

    store.defer_for_bulk_load().unwrap();
    let during = installation_indexes(&store);
    assert!(!during.iter().any(|i| i == "installations_scheduled"));
    assert!(!during.iter().any(|i| i == "installations_status"));
    // The rest stay: the apply path reads them.
    assert!(during.iter().any(|i| i == "installations_lead"));
    // Deferring twice changes nothing (they are already away).
    store.defer_for_bulk_load().unwrap();

    // The process dies before the first sync ends: the next open builds them.
    drop(store);
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(installation_indexes(&store), all);
    assert_eq!(store.build_deferred_indexes().unwrap(), 0);

    // The normal end of a first sync.
    store.defer_for_bulk_load().unwrap();
    // Two indexes and the search texts.
    assert_eq!(store.build_deferred_indexes().unwrap(), 3);
    assert_eq!(installation_indexes(&store), all);
}

#[test]
fn a_checkpoint_leaves_everything_in_the_database_file_and_the_log_empty() {
    let mut f = common::Fixture::new();
    let job = f.add_job(
        fieldbook_domain::InstallationStatus::Confirmed,
        "Ada Lovelace",
    );
    f.store
        .start_installation(job.id, &Default::default())
        .unwrap();
    let database = f.store.database_path();
    let log = database.with_extension("sqlite3-wal");
    let log_len = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert!(log_len() > 0, "the writes are in the log before");

    f.store.checkpoint().unwrap();
    assert_eq!(log_len(), 0);

    // The database file alone holds it all: a copy of only that file, with
    // the store still open, reads the job as started.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(&database, copy.path().join(database.file_name().unwrap())).unwrap();
    let store = Store::open(copy.path()).unwrap();
    assert_eq!(
        store.get_installation(job.id).unwrap().installation.status,
        fieldbook_domain::InstallationStatus::InProgress
    );
}

/// Rows of the tables that hang off `installations`, and each job's rowid
/// (the search texts' key), as the raw database has them.
fn installation_children(raw: &rusqlite::Connection) -> Vec<(String, i64)> {
    let count = |sql: &str| -> i64 { raw.query_row(sql, [], |r| r.get(0)).unwrap() };
    let mut rows: Vec<(String, i64)> = ["report_drafts", "installation_media", "certificates"]
        .iter()
        .map(|table| {
            (
                (*table).to_owned(),
                count(&format!("SELECT count(*) FROM {table}")),
            )
        })
        .collect();
    rows.push((
        "search texts of their own job".to_owned(),
        count(
            "SELECT count(*) FROM installation_search s
             JOIN installations i ON i.rowid = s.installation_rowid",
        ),
    ));
    let mut stmt = raw
        .prepare("SELECT id, rowid FROM installations ORDER BY id")
        .unwrap();
    let jobs = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap();
    rows.extend(jobs.map(Result::unwrap));
    rows
}

#[test]
fn rebuilding_installations_keeps_every_job_its_report_photos_and_search_texts() {
    // Migration 0014 rebuilds `installations` (new table, copy, drop,
    // rename). With foreign keys on during migrations, the DROP deleted the
    // report drafts and photos of every job through ON DELETE CASCADE.
    let mut f = common::Fixture::new();
    let job = f.add_started_job("Ada Lovelace");
    f.add_job(
        fieldbook_domain::InstallationStatus::Confirmed,
        "Grace Hopper",
    );
    let photo = fieldbook_testkit::write_jpeg(f.dir.path(), "charger.jpg", 1);
    f.store.attach_media(job.id, &photo, "Charger").unwrap();
    // A first sync cut short: the schedule's indexes wait to be built.
    f.store.defer_for_bulk_load().unwrap();
    let data_dir = f.data_dir();
    let database = f.store.database_path();
    drop(f.store);

    let raw = rusqlite::Connection::open(&database).unwrap();
    // Rowids a plain copy would not give again (jobs deleted since).
    raw.execute_batch(
        "UPDATE installation_search SET installation_rowid = installation_rowid + 100;
         UPDATE installations SET rowid = rowid + 100;",
    )
    .unwrap();
    let before = installation_children(&raw);
    assert!(
        before.contains(&("report_drafts".to_owned(), 1)),
        "{before:?}"
    );
    assert!(
        before.contains(&("installation_media".to_owned(), 1)),
        "{before:?}"
    );
    assert!(
        before.contains(&("search texts of their own job".to_owned(), 2)),
        "{before:?}"
    );
    // As a device on schema 13 is before this build's first start.
    raw.pragma_update(None, "user_version", 13).unwrap();
    drop(raw);

    let store = Store::open(&data_dir).unwrap();
    let raw = rusqlite::Connection::open(&database).unwrap();
    assert_eq!(pragma::<u32>(&raw, "user_version"), schema_version());
    assert_eq!(installation_children(&raw), before);
    let table: String = raw
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'installations'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!table.contains("length(installation_id)"), "{table}");
    assert_eq!(
        installation_indexes(&store),
        [
            "installations_lead",
            "installations_scheduled",
            "installations_status",
            "sqlite_autoindex_installations_1",
            "sqlite_autoindex_installations_2",
            "sqlite_autoindex_installations_3",
        ]
    );
    let deferred: Vec<String> = texts(&raw, "SELECT name FROM deferred_indexes");
    assert!(deferred.is_empty(), "{deferred:?}");
    // The job still opens whole, and search still finds it.
    let detail = store.get_installation(job.id).unwrap();
    assert_eq!(detail.media.len(), 1);
    let found = store
        .list_installations(&fieldbook_store::InstallationQuery {
            text: "lovelace".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.len(), 1);
}
