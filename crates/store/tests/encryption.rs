//! The encrypted store: nothing readable on disk, a wrong or missing key
//! refused without touching a byte, and the upgrade of an unencrypted data
//! folder in place (database, then media files), also when the process is
//! killed midway (a child process converts a large folder and is SIGKILLed
//! at spread-out moments).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{child_command, child_data_dir, child_role, child_says, ChildGuard};
use fieldbook_demo::{generate, DemoConfig, DemoData};
use fieldbook_domain::Sha256Hex;
use fieldbook_media::sealed::SEALED_MAGIC;
use fieldbook_store::{
    DatabaseKey, InstallationQuery, MediaKey, ServerBatch, Store, StoreKeys, Versioned,
};

const KEY: [u8; 32] = [7; 32];
const OTHER_KEY: [u8; 32] = [9; 32];

fn key() -> DatabaseKey {
    DatabaseKey::new(KEY)
}

fn v<T>(record: T, server_version: i64) -> Versioned<T> {
    Versioned {
        record,
        server_version,
    }
}

fn demo(jobs: usize) -> DemoData {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    generate(&DemoConfig::new(jobs, 1, today))
}

fn seed(store: &mut Store, demo: &DemoData) {
    store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 1,
            users: demo.users.iter().map(|u| v(u.user.clone(), 1)).collect(),
            teams: demo.teams.iter().map(|t| v(t.clone(), 1)).collect(),
            leads: demo.leads.iter().map(|l| v(l.clone(), 1)).collect(),
            surveys: demo.surveys.iter().map(|s| v(s.clone(), 1)).collect(),
            installations: demo.installations.iter().map(|i| v(i.clone(), 1)).collect(),
            assignments: demo.assignments.iter().map(|a| v(a.clone(), 1)).collect(),
            ..Default::default()
        })
        .unwrap();
    let technician = &demo.technicians().next().unwrap().user;
    let teams: Vec<_> = demo.teams.iter().map(|t| t.id).collect();
    store.sign_in(technician, &teams).unwrap();
}

/// Every file under `dir` (relative path → bytes), the lock file aside
/// (its content is nothing; holding it is the point).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

/// Customer data that must never be readable on disk.
fn secrets_of(demo: &DemoData) -> Vec<String> {
    demo.leads
        .iter()
        .take(20)
        .flat_map(|l| {
            [
                l.customer_name.clone(),
                l.phone.clone(),
                l.address_line1.clone(),
            ]
        })
        .collect()
}

fn assert_no_plaintext(dir: &Path, demo: &DemoData) {
    for (file, bytes) in snapshot(dir) {
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "{file} is an unencrypted SQLite file"
        );
        for secret in secrets_of(demo) {
            assert!(
                !contains(&bytes, &secret),
                "{file} holds {secret:?} in plaintext"
            );
        }
    }
}

fn job_names(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = store
        .list_installations(&InstallationQuery::default())
        .unwrap()
        .into_iter()
        .map(|s| s.customer_name)
        .collect();
    names.sort();
    names
}

#[test]
fn an_encrypted_store_keeps_no_customer_data_readable_and_reopens_with_its_key() {
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = demo(40);
    let names = {
        let mut store = Store::open_encrypted(dir.path(), &key()).unwrap();
        seed(&mut store, &demo);
        let names = job_names(&store);
        assert!(!names.is_empty());
        // Still open: the WAL holds the latest pages and must be encrypted too.
        assert_no_plaintext(dir.path(), &demo);
        names
    };
    assert_no_plaintext(dir.path(), &demo);
    let store = Store::open_encrypted(dir.path(), &key()).unwrap();
    assert_eq!(job_names(&store), names);

    // The file keeps every guarantee of the unencrypted store.
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    raw.pragma_update(None, "key", format!("x'{}'", "07".repeat(32)))
        .unwrap();
    // The store's page layout (docs/security.md, "Database encryption").
    raw.execute_batch(
        "PRAGMA cipher_page_size = 16384; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
    )
    .unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let ok: String = raw
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn a_wrong_or_missing_key_is_refused_and_changes_nothing_on_disk() {
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = demo(10);
    {
        let mut store = Store::open_encrypted(dir.path(), &key()).unwrap();
        seed(&mut store, &demo);
    }
    let before = snapshot(dir.path());

    let wrong = Store::open_encrypted(dir.path(), &DatabaseKey::new(OTHER_KEY)).unwrap_err();
    assert_eq!(wrong.code(), "wrong_database_key", "{wrong}");
    assert!(wrong.to_string().contains("nothing was changed"), "{wrong}");
    let missing = Store::open(dir.path()).unwrap_err();
    assert_eq!(missing.code(), "wrong_database_key", "{missing}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a refused open wrote to the disk"
    );

    // And the right key still opens it.
    let store = Store::open_encrypted(dir.path(), &key()).unwrap();
    assert_eq!(job_names(&store).len(), demo.installations.len());
}

#[test]
fn an_unencrypted_folder_is_converted_on_the_first_encrypted_open() {
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = demo(40);
    let (names, device_id) = {
        let mut store = Store::open(dir.path()).unwrap();
        seed(&mut store, &demo);
        (job_names(&store), store.device_id())
    };
    let database = dir.path().join("fieldbook.sqlite3");
    let plain = std::fs::read(&database).unwrap();
    assert!(plain.starts_with(b"SQLite format 3"));

    let store = Store::open_encrypted(dir.path(), &key()).unwrap();
    assert_eq!(job_names(&store), names);
    assert_eq!(store.device_id(), device_id);
    assert!(store.session().unwrap().is_some());
    drop(store);
    assert_no_plaintext(dir.path(), &demo);
    let left: Vec<String> = snapshot(dir.path()).into_keys().collect();
    assert!(
        !left.iter().any(|f| f.contains(".encrypt")),
        "conversion files left: {left:?}"
    );
    // Converted once: the next open just opens.
    let store = Store::open_encrypted(dir.path(), &key()).unwrap();
    assert_eq!(job_names(&store), names);
}

// ---- killed midway ---------------------------------------------------------------

const KILL_TEST: &str = "a_conversion_killed_at_any_moment_resumes_and_loses_nothing";
/// Large enough that a conversion takes a while to kill inside of.
const KILL_JOBS: usize = 1500;
const KILL_ROUNDS: u32 = 6;

/// The child: converts the folder it is given, saying when it starts.
fn convert_in_child() {
    let dir = child_data_dir();
    child_says("converting");
    let store = Store::open_encrypted(&dir, &key()).unwrap();
    drop(store);
    child_says("converted");
}

fn run_child(test: &str, dir: &Path, kill_after: Option<Duration>) -> bool {
    let mut child = ChildGuard(child_command(test, "convert", dir).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // Wait for the child to be under way before the clock starts.
    for line in lines.by_ref() {
        if line.unwrap().contains("CHILD converting") {
            break;
        }
    }
    match kill_after {
        Some(delay) => {
            std::thread::sleep(delay);
            let _ = child.0.kill();
            child.0.wait().unwrap();
            false
        }
        None => {
            let finished = lines.any(|l| l.unwrap().contains("CHILD converted"));
            child.0.wait().unwrap();
            finished
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_conversion_killed_at_any_moment_resumes_and_loses_nothing() {
    match child_role().as_deref() {
        Some("convert") => return convert_in_child(),
        Some(_) => return,
        None => {}
    }
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("original");
    let demo = demo(KILL_JOBS);
    let names = {
        let mut store = Store::open(&original).unwrap();
        seed(&mut store, &demo);
        job_names(&store)
    };

    // How long one uninterrupted conversion takes here.
    let timed = root.path().join("timed");
    copy_dir(&original, &timed);
    let started = Instant::now();
    assert!(
        run_child(KILL_TEST, &timed, None),
        "the conversion did not finish"
    );
    let full = started.elapsed();
    eprintln!("one conversion of {KILL_JOBS} jobs takes {full:?} here");

    for round in 0..KILL_ROUNDS {
        let dir = root.path().join(format!("round-{round}"));
        copy_dir(&original, &dir);
        // Spread over the whole conversion, and once more killed on resume.
        let first = full.mul_f64(f64::from(round) / f64::from(KILL_ROUNDS));
        run_child(KILL_TEST, &dir, Some(first));
        run_child(KILL_TEST, &dir, Some(full.mul_f64(0.5)));
        let leftovers: Vec<String> = snapshot(&dir).into_keys().collect();
        let store = Store::open_encrypted(&dir, &key()).unwrap_or_else(|e| {
            panic!("round {round} (killed after {first:?}, files {leftovers:?}): {e}")
        });
        assert_eq!(job_names(&store), names, "round {round}");
        drop(store);
        assert_no_plaintext(&dir, &demo);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

// ---- media files converted, killed midway -------------------------------------------

const MEDIA_KILL_TEST: &str = "a_media_conversion_killed_at_any_moment_resumes_and_loses_nothing";
const MEDIA_KEY: [u8; 32] = [13; 32];
/// Enough media that converting them takes a while to kill inside of.
const KILL_VIDEOS: u64 = 24;
const VIDEO_BYTES: usize = 2 << 20;

fn all_keys() -> StoreKeys {
    StoreKeys {
        database: key(),
        media: Some(MediaKey::new(MEDIA_KEY)),
    }
}

/// An MP4-looking video of pseudo-random bytes (no two alike).
fn video_bytes(n: u64) -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2".to_vec();
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (n + 1);
    while bytes.len() < VIDEO_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

/// The child: converts database and media, saying when it starts.
fn convert_all_in_child() {
    let dir = child_data_dir();
    child_says("converting");
    drop(Store::open_with_keys(&dir, &all_keys()).unwrap());
    child_says("converted");
}

/// Every file of the media folder is sealed, none is left in `tmp/`, and
/// each medium reads back as the bytes it was imported with.
fn assert_media_sealed(store: &Store, media: &[(Sha256Hex, Vec<u8>)], round: u32) {
    let root = store.media_store().root();
    let files: Vec<String> = snapshot(root).into_keys().collect();
    assert!(
        !files.iter().any(|f| f.starts_with("tmp")),
        "round {round}: left in tmp/: {files:?}"
    );
    for (file, bytes) in snapshot(root) {
        assert!(
            bytes.starts_with(&SEALED_MAGIC),
            "round {round}: {file} is not encrypted"
        );
    }
    for (sha, bytes) in media {
        let back = store
            .media_store()
            .read_blob(sha)
            .unwrap_or_else(|e| panic!("round {round}: {sha}: {e}"));
        assert!(back == *bytes, "round {round}: {sha} reads back different");
    }
}

#[test]
fn a_media_conversion_killed_at_any_moment_resumes_and_loses_nothing() {
    match child_role().as_deref() {
        Some("convert") => return convert_all_in_child(),
        Some(_) => return,
        None => {}
    }
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("original");
    let demo = demo(50);
    // The unencrypted version's folder: its database, photos (with their
    // thumbnails), a signature and videos.
    let mut media = Vec::new();
    let names = {
        let mut store = Store::open(&original).unwrap();
        seed(&mut store, &demo);
        let files = store.media_store();
        let mut add = |bytes: Vec<u8>| {
            let sha = files.import_bytes(&bytes).unwrap().blob.sha256;
            media.push((sha, bytes));
        };
        for seed in 1..=4u8 {
            add(fieldbook_testkit::png_bytes(200, 150, seed));
        }
        add(fieldbook_testkit::signature_png());
        for n in 0..KILL_VIDEOS {
            add(video_bytes(n));
        }
        job_names(&store)
    };

    let timed = root.path().join("timed");
    copy_dir(&original, &timed);
    let started = Instant::now();
    assert!(
        run_child(MEDIA_KILL_TEST, &timed, None),
        "the conversion did not finish"
    );
    let full = started.elapsed();
    eprintln!(
        "one conversion of a folder with {} media files takes {full:?} here",
        media.len()
    );
    let store = Store::open_with_keys(&timed, &all_keys()).unwrap();
    assert_media_sealed(&store, &media, 0);
    drop(store);

    for round in 0..KILL_ROUNDS {
        let dir = root.path().join(format!("round-{round}"));
        copy_dir(&original, &dir);
        let first = full.mul_f64(f64::from(round) / f64::from(KILL_ROUNDS));
        run_child(MEDIA_KILL_TEST, &dir, Some(first));
        run_child(MEDIA_KILL_TEST, &dir, Some(full.mul_f64(0.5)));
        let leftovers: Vec<String> = snapshot(&dir).into_keys().collect();
        let store = Store::open_with_keys(&dir, &all_keys()).unwrap_or_else(|e| {
            panic!("round {round} (killed after {first:?}, files {leftovers:?}): {e}")
        });
        assert_eq!(job_names(&store), names, "round {round}");
        assert_media_sealed(&store, &media, round);
        drop(store);
        assert_no_plaintext(&dir, &demo);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

// ---- the start after the conversion ------------------------------------------------

/// Once the database records the media folder converted, a start reads no
/// media file (its cost does not grow with the photos): a plain file put in
/// behind its back stays as it is. Opening the folder without the media key
/// forgets the record, so the next encrypted start looks again and seals it.
#[test]
fn once_converted_a_start_reads_no_media_file_until_opened_without_the_media_key() {
    let dir = tempfile::tempdir().unwrap();
    let photo = fieldbook_testkit::png_bytes(120, 90, 3);
    let photo_sha = {
        let store = Store::open_with_keys(dir.path(), &all_keys()).unwrap();
        store
            .media_store()
            .import_bytes(&photo)
            .unwrap()
            .blob
            .sha256
    };
    let video = video_bytes(99);
    let video_sha = fieldbook_media::MediaStore::open(dir.path().join("media"))
        .unwrap()
        .import_bytes(&video)
        .unwrap()
        .blob
        .sha256;

    let store = Store::open_with_keys(dir.path(), &all_keys()).unwrap();
    let video_path = store.media_store().blob_path(&video_sha);
    assert_eq!(
        std::fs::read(&video_path).unwrap(),
        video,
        "the start looked at the media files"
    );
    let err = store.media_store().read_blob(&video_sha).unwrap_err();
    assert!(fieldbook_media::is_damaged(&err), "{err}");
    assert_eq!(store.media_store().read_blob(&photo_sha).unwrap(), photo);
    drop(store);

    drop(Store::open_encrypted(dir.path(), &key()).unwrap());
    let store = Store::open_with_keys(dir.path(), &all_keys()).unwrap();
    assert!(std::fs::read(&video_path)
        .unwrap()
        .starts_with(&SEALED_MAGIC));
    assert!(store.media_store().read_blob(&video_sha).unwrap() == video);
    assert_eq!(store.media_store().read_blob(&photo_sha).unwrap(), photo);
}
