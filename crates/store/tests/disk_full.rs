//! A write failing for lack of space in the middle of importing work: the
//! child process runs with a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored,
//! so an over-limit write fails with EFBIG the way a full disk fails with
//! ENOSPC) and attaches photos until the database can no longer grow. The
//! store must refuse cleanly, and the data directory must stay consistent:
//! every row backed by a whole file, every attach with its outbox entry, and
//! no file left that nothing refers to.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use common::{child_data_dir, child_lines, child_role, child_says, Fixture};
use fieldbook_domain::{InstallationStatus, MutationKind, Sha256Hex};
use fieldbook_store::Store;
use uuid::Uuid;

const TEST_NAME: &str = "running_out_of_space_mid_import_leaves_the_store_consistent";
const JOB_ENV: &str = "FIELDBOOK_STORE_TEST_JOB";

/// A PNG of ~10 KiB whose pixels encode `n` (noise compresses badly, so the
/// files are not trivially small).
fn unique_png(n: u32) -> Vec<u8> {
    let mut state = n.wrapping_mul(2_654_435_761).max(1);
    let img = image::RgbImage::from_fn(64, 64, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let b = state.to_le_bytes();
        image::Rgb([b[0], b[1], b[2]])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn attach_until_full(job: Uuid) {
    let data_dir = child_data_dir();
    let scratch = data_dir.with_file_name("scratch");
    let mut store = Store::open(&data_dir).unwrap();
    let mut failures = 0;
    for n in 0..2000 {
        let path = scratch.join(format!("p{n}.png"));
        std::fs::write(&path, unique_png(n)).unwrap();
        match store.attach_media(job, &path, &format!("photo {n}")) {
            Ok(_) => child_says("attached"),
            Err(e) => {
                assert!(
                    matches!(e.code(), "io" | "database"),
                    "unexpected refusal: {e:?}"
                );
                child_says(format!("failed {}", e.code()));
                failures += 1;
                // A few more tries on the full disk, then stop.
                if failures == 5 {
                    return;
                }
            }
        }
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn running_out_of_space_mid_import_leaves_the_store_consistent() {
    if child_role().is_some() {
        attach_until_full(std::env::var(JOB_ENV).unwrap().parse().unwrap());
        return;
    }
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    std::fs::create_dir_all(root.path().join("scratch")).unwrap();
    drop(f.store);
    std::fs::rename(f.dir.path(), &data_dir).unwrap();

    // Room for the files as they are plus a few dozen attachments' worth of
    // database growth: the limit is hit by the database (WAL) write, after
    // the photo itself was already stored.
    let db = data_dir.join("fieldbook.sqlite3");
    let largest = file_size(&db).max(file_size(&db.with_extension("sqlite3-wal")));
    let limit = largest + 256 * 1024;
    let child = common::child_command(TEST_NAME, "attach", &data_dir);
    let mut limited = Command::new("sh");
    limited
        // An ignored signal stays ignored across exec: over-limit writes then
        // fail with EFBIG instead of killing the process.
        .args(["-c", "trap '' XFSZ; exec prlimit --fsize=\"$0\" \"$@\""])
        .arg(limit.to_string())
        .arg(child.get_program())
        .args(child.get_args())
        .envs(child.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env(JOB_ENV, job.id.to_string());
    let out = limited.output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let reports = child_lines(&out.stdout);
    let attached = reports.iter().filter(|r| *r == "attached").count();
    assert!(attached > 0, "nothing fitted: {reports:?}");
    assert!(
        reports.iter().any(|r| r.starts_with("failed")),
        "the limit was never reached: {reports:?}"
    );

    // Reopened without the limit.
    let store = Store::open(&data_dir).unwrap();
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    let integrity: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let media = store.get_installation(job.id).unwrap().media;
    assert_eq!(media.len(), attached, "every reported attach, no other");
    let outbox = store.pending_outbox(usize::MAX).unwrap();
    let attaches = outbox
        .iter()
        .filter(|e| e.kind == MutationKind::MediaAttach)
        .count();
    assert_eq!(attaches, attached);
    let sequences: Vec<i64> = outbox.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=outbox.len() as i64).collect::<Vec<_>>());

    let referenced: HashSet<String> = media
        .iter()
        .map(|m| m.file.sha256.as_str().to_owned())
        .collect();
    let queued = store.blobs_pending_upload(usize::MAX).unwrap();
    assert_eq!(queued.len(), referenced.len());
    let media_root = store.media_store().root().to_path_buf();
    let mut files = HashSet::new();
    for shard in std::fs::read_dir(&media_root).unwrap() {
        let shard = shard.unwrap().path();
        let name = shard.file_name().unwrap().to_string_lossy().into_owned();
        if name == "thumbs" || !shard.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&shard).unwrap() {
            let path = entry.unwrap().path();
            assert_ne!(name, "tmp", "temp file left: {}", path.display());
            let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(Sha256Hex::digest(&bytes).as_str(), file_name, "torn blob");
            files.insert(file_name);
        }
    }
    assert_eq!(
        files, referenced,
        "stored files are exactly the attached ones"
    );
}
