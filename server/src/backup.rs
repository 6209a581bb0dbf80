//! Online backup of the SQLite database: `VACUUM INTO` writes a consistent
//! snapshot while the server keeps serving (readers and the writer are not
//! blocked beyond SQLite's usual locking). Blobs are files, content-addressed
//! and never rewritten, so copying the blob directory after the snapshot
//! captures every blob the snapshot refers to (see docs/operations.md).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::storage::database_path;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no database at {0}: is --data-dir the server's data directory?")]
    NoDatabase(PathBuf),
    #[error("{0} already exists: choose a new file name (a backup never overwrites)")]
    Exists(PathBuf),
    #[error("the backup failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the backup file {path} failed its integrity check: {report}")]
    Damaged { path: PathBuf, report: String },
    #[error("cannot move the finished backup into place: {0}")]
    Io(#[from] std::io::Error),
}

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
}

/// Writes a snapshot of the data dir's database to `to` (a new file), then
/// checks it. The snapshot is written beside `to` under a temporary name and
/// renamed when complete, so `to` is never a half-written file.
pub fn backup_database(data_dir: &Path, to: &Path) -> Result<Backup, BackupError> {
    let source = database_path(data_dir);
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source));
    }
    if to.exists() {
        return Err(BackupError::Exists(to.to_owned()));
    }
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    // A leftover of an interrupted earlier run.
    let _ = std::fs::remove_file(&partial);
    let conn = Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let written = conn
        .execute("VACUUM INTO ?1", [partial.to_string_lossy()])
        .map(|_| ());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    let checked = check(&partial);
    let schema_version = match checked {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to)?;
    Ok(Backup {
        path: to.to_owned(),
        bytes: std::fs::metadata(to)?.len(),
        schema_version,
    })
}

/// `PRAGMA integrity_check` of a backup file; its schema version.
fn check(path: &Path) -> Result<i64, BackupError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let report: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if report != "ok" {
        return Err(BackupError::Damaged {
            path: path.to_owned(),
            report,
        });
    }
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PasswordHashing;
    use crate::storage::Storage;
    use fieldbook_domain::Role;
    use fieldbook_protocol::CreateUserRequest;

    #[test]
    fn a_backup_restores_to_the_same_data_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let storage = Storage::open(&data).unwrap();
        let request = CreateUserRequest {
            username: "sam".into(),
            full_name: "Sam Backup".into(),
            role: Role::Technician,
            password: "a long enough password".into(),
        };
        crate::admin::create_user(
            &storage,
            PasswordHashing::insecure_fast_for_tests(),
            &request,
        )
        .unwrap();
        let to = dir.path().join("backup.sqlite3");
        // While the server's connection is open: an online backup.
        let backup = backup_database(&data, &to).unwrap();
        assert!(backup.bytes > 0);
        assert!(backup.schema_version > 0);

        // The restore steps of docs/operations.md: the file becomes the
        // database of a data dir.
        let restored_dir = dir.path().join("restored");
        std::fs::create_dir(&restored_dir).unwrap();
        std::fs::copy(&to, database_path(&restored_dir)).unwrap();
        let restored = Storage::open(&restored_dir).unwrap();
        let sam = restored.read(|db| db.user_by_username("sam")).unwrap();
        assert_eq!(sam.unwrap().full_name, "Sam Backup");
        drop(storage);

        let again = backup_database(&data, &to).unwrap_err();
        assert!(matches!(again, BackupError::Exists(_)), "{again}");
        let missing = backup_database(&dir.path().join("nothing"), &dir.path().join("b2"));
        assert!(matches!(missing, Err(BackupError::NoDatabase(_))));
        assert!(!dir.path().join("b2").exists());
    }
}
