//! The data folder is for the signed-in OS user only: the folder 0700 and
//! everything in it (database, WAL, SHM, media, thumbnails, lock file)
//! 0600/0700, also when the folder was written by an earlier version with
//! the usual 0755/0644.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Fixture;
use fieldbook_domain::{InstallationStatus, StartRequest};
use fieldbook_store::{make_private, Store};
use fieldbook_testkit::write_jpeg;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Every path under `dir` (not following links), with `dir` itself.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                folders.push(entry.path());
            }
            out.push(entry.path());
        }
    }
    out
}

fn assert_private(dir: &Path) {
    let mut seen_files = 0;
    for path in tree(dir) {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            assert_eq!(mode(&path), 0o700, "{}", path.display());
        } else if meta.is_file() {
            seen_files += 1;
            assert_eq!(
                mode(&path) & 0o077,
                0,
                "{} is {:o}",
                path.display(),
                mode(&path)
            );
        }
    }
    assert!(
        seen_files > 0,
        "nothing was checked under {}",
        dir.display()
    );
}

#[test]
fn a_new_data_folder_and_what_fieldbook_writes_in_it_are_private() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::MaterialReady, "Ada Lovelace");
    f.store
        .start_installation(
            job.id,
            &StartRequest {
                override_reason: Some("Customer confirmed on the doorstep".into()),
            },
        )
        .unwrap();
    let source = tempfile::tempdir().unwrap();
    let photo = write_jpeg(source.path(), "charger.jpg", 7);
    f.store.attach_media(job.id, &photo, "Charger").unwrap();

    let dir = f.data_dir();
    for name in [
        "fieldbook.sqlite3",
        "fieldbook.sqlite3-wal",
        "fieldbook.sqlite3-shm",
    ] {
        assert!(dir.join(name).is_file(), "{name} missing");
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(mode(&dir.join("media")), 0o700);
    assert_private(&dir);
}

#[test]
fn a_folder_an_earlier_version_left_readable_is_tightened_at_start() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    // Written the way the previous version did: the umask's 0755/0644.
    drop(Store::open(&dir).unwrap());
    let old_media = dir.join("media").join("ab");
    std::fs::create_dir_all(&old_media).unwrap();
    std::fs::write(old_media.join("abcdef"), b"photo bytes").unwrap();
    std::fs::write(dir.join("session-token"), b"token").unwrap();
    for path in tree(&dir) {
        let loose = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    // A link planted in the folder is left alone, and so is its target.
    let outside = root.path().join("outside.txt");
    std::fs::write(&outside, b"not Fieldbook's").unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("planted-link")).unwrap();

    let _store = Store::open(&dir).unwrap();
    assert_private(&dir);
    assert_eq!(mode(&dir.join("media").join("ab").join("abcdef")), 0o600);
    assert_eq!(mode(&dir.join("session-token")), 0o600);
    assert_eq!(mode(&outside), 0o644, "a link's target outside was changed");
}

#[test]
fn make_private_creates_a_missing_folder_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    make_private(&logs).unwrap();
    assert_eq!(mode(&logs), 0o700);
    std::fs::write(logs.join("fieldbook.2026-11-30.log"), b"line").unwrap();
    std::fs::set_permissions(
        logs.join("fieldbook.2026-11-30.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    make_private(&logs).unwrap();
    assert_eq!(mode(&logs.join("fieldbook.2026-11-30.log")), 0o600);
}
