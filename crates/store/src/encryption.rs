//! Upgrade in place: a data folder from a version before encryption holds
//! an unencrypted `fieldbook.sqlite3`; the first encrypted open converts it.
//!
//! The steps, each safe to die in and resumed by the next start:
//! 1. the plaintext database is checkpointed (its WAL emptied into it) and
//!    exported with `sqlcipher_export` into `fieldbook.sqlite3.encrypting`;
//! 2. that copy is checked against the original (SQLCipher's page MACs,
//!    SQLite's quick check, the schema version, every table's rows) and
//!    fsynced, then renamed to `fieldbook.sqlite3.encrypted`: this name
//!    only ever holds a verified copy;
//! 3. the verified copy is renamed over `fieldbook.sqlite3` (atomic), so
//!    the plaintext original is removed only once its replacement is whole.
//!
//! A start that finds `.encrypting` throws it away (it may be half
//! written) and begins again; one that finds `.encrypted` beside a
//! plaintext original checks it again and finishes step 3.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::db::{self, DatabaseKey};
use crate::error::{Result, StoreError};

const ENCRYPTING_SUFFIX: &str = ".encrypting";
const ENCRYPTED_SUFFIX: &str = ".encrypted";

/// Makes sure `path` is not an unencrypted database, converting it with
/// `key` if it is. The data folder lock must be held.
pub(crate) fn encrypt_in_place(path: &Path, key: &DatabaseKey) -> Result<()> {
    let encrypting = with_suffix(path, ENCRYPTING_SUFFIX);
    let encrypted = with_suffix(path, ENCRYPTED_SUFFIX);
    // A copy still being written when the process died is worth nothing.
    remove_if_exists(&encrypting)?;
    remove_if_exists(&with_suffix(&encrypting, "-journal"))?;

    if !db::is_plaintext_database(path)? {
        if encrypted.exists() {
            if path.exists() {
                // The swap happened; this is a stray copy.
                remove_if_exists(&encrypted)?;
            } else {
                // Only the verified copy is left (the original was removed
                // by hand): it is the data.
                rename(&encrypted, path)?;
            }
        }
        return Ok(());
    }

    if encrypted.exists() {
        // Died between steps 2 and 3. The original has not changed since the
        // copy (nothing opens it meanwhile), but check rather than trust.
        if wal_is_empty(path)? && verify(&encrypted, key, path).is_ok() {
            swap(&encrypted, path)?;
            tracing::info!(path = %path.display(), "finished encrypting the local database");
            return Ok(());
        }
        remove_if_exists(&encrypted)?;
    }

    tracing::info!(path = %path.display(), "encrypting the local database");
    // A failed copy (disk full, say) gives its space back at once.
    if let Err(e) = export(path, &encrypting, key).and_then(|()| verify(&encrypting, key, path)) {
        remove_if_exists(&encrypting)?;
        remove_if_exists(&with_suffix(&encrypting, "-journal"))?;
        return Err(e);
    }
    sync_file(&encrypting)?;
    rename(&encrypting, &encrypted)?;
    swap(&encrypted, path)?;
    tracing::info!(path = %path.display(), "encrypted the local database");
    Ok(())
}

/// Step 1: the whole plaintext database, WAL included, into `target`.
///
/// `target` is opened the way the app opens its database (key and cipher
/// layout in one place, `db::open_keyed`) and the plaintext original is
/// attached to it, rather than the other way round: an attached database
/// would get SQLCipher's default layout.
fn export(source: &Path, target: &Path, key: &DatabaseKey) -> Result<()> {
    let plain = db::open_keyed(source, None)?;
    checkpoint(&plain, source)?;
    let version: i64 = plain.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    drop(plain);
    let conn = db::open_keyed(target, Some(key))?;
    attach_plaintext(&conn, source)?;
    // sqlcipher_export copies schema and rows, not the header's user_version
    // (the migrations' schema version).
    conn.query_row("SELECT sqlcipher_export('main', 'plaintext')", [], |_| {
        Ok(())
    })?;
    conn.execute_batch(&format!("PRAGMA main.user_version = {version}"))?;
    conn.execute_batch("DETACH DATABASE plaintext")?;
    drop(conn);
    Ok(())
}

/// Attaches the unencrypted database at `path` as `plaintext` (an empty key
/// is SQLCipher's "not encrypted").
fn attach_plaintext(conn: &Connection, path: &Path) -> Result<()> {
    conn.execute(
        "ATTACH DATABASE ?1 AS plaintext KEY ''",
        [path.to_string_lossy()],
    )?;
    Ok(())
}

/// Moves every WAL frame into the main file, so the main file alone is the
/// database (and the WAL can go before the encrypted copy takes its name).
fn checkpoint(conn: &Connection, path: &Path) -> Result<()> {
    let (busy, _, _): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 {
        return Err(StoreError::EncryptionCheckFailed(format!(
            "the write-ahead log of {} could not be emptied",
            path.display()
        )));
    }
    Ok(())
}

/// Step 2: `candidate` opens with `key`, every page is intact, and it holds
/// exactly the original's schema version and rows.
fn verify(candidate: &Path, key: &DatabaseKey, original: &Path) -> Result<()> {
    let conn = db::open_keyed(candidate, Some(key)).map_err(|e| {
        StoreError::EncryptionCheckFailed(format!("it does not open with this computer's key: {e}"))
    })?;
    attach_plaintext(&conn, original)?;
    let mismatch = |what: String| Err(StoreError::EncryptionCheckFailed(what));

    let page_errors: Vec<String> = conn
        .prepare("PRAGMA main.cipher_integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()
        .map_err(|e| check_failed("its pages cannot be read", e))?;
    if !page_errors.is_empty() {
        return mismatch(format!("damaged pages: {}", page_errors.join("; ")));
    }
    let quick: String = conn
        .query_row("PRAGMA main.quick_check", [], |r| r.get(0))
        .map_err(|e| check_failed("its structure cannot be read", e))?;
    if quick != "ok" {
        return mismatch(format!("quick check: {quick}"));
    }
    let version = |schema: &str| -> rusqlite::Result<i64> {
        conn.query_row(&format!("PRAGMA {schema}.user_version"), [], |r| r.get(0))
    };
    if version("plaintext")? != version("main")? {
        return mismatch("the schema version differs".to_owned());
    }
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM plaintext.sqlite_schema
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in &tables {
        let quoted = table.replace('"', "\"\"");
        let count = |schema: &str| -> rusqlite::Result<i64> {
            conn.query_row(
                &format!("SELECT count(*) FROM {schema}.\"{quoted}\""),
                [],
                |r| r.get(0),
            )
        };
        let original_rows = count("plaintext")?;
        let copied_rows =
            count("main").map_err(|e| check_failed(&format!("table {table} is missing"), e))?;
        // Every table has a primary key, so equal counts and no original
        // row missing from the copy means the same rows.
        let missing: i64 = conn.query_row(
            &format!(
                "SELECT count(*) FROM (SELECT * FROM plaintext.\"{quoted}\"
                 EXCEPT SELECT * FROM main.\"{quoted}\")"
            ),
            [],
            |r| r.get(0),
        )?;
        if original_rows != copied_rows || missing != 0 {
            return mismatch(format!(
                "table {table}: {original_rows} rows, {copied_rows} copied, {missing} differ"
            ));
        }
    }
    Ok(())
}

fn check_failed(what: &str, e: rusqlite::Error) -> StoreError {
    StoreError::EncryptionCheckFailed(format!("{what}: {e}"))
}

/// Step 3: the verified copy takes the original's name. The original's WAL
/// is empty (checkpointed before the export) and must not outlive it: SQLite
/// would try to replay it into the encrypted file.
fn swap(encrypted: &Path, path: &Path) -> Result<()> {
    remove_if_exists(&with_suffix(path, "-wal"))?;
    remove_if_exists(&with_suffix(path, "-shm"))?;
    rename(encrypted, path)
}

fn wal_is_empty(path: &Path) -> Result<bool> {
    match fs::metadata(with_suffix(path, "-wal")) {
        Ok(meta) => Ok(meta.len() == 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(StoreError::io(
            format!("cannot read {}-wal", path.display()),
            e,
        )),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(
            format!("cannot remove {}", path.display()),
            e,
        )),
    }
}

/// A rename that survives a power cut (the folder is fsynced after it).
fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| {
        StoreError::io(
            format!("cannot rename {} to {}", from.display(), to.display()),
            e,
        )
    })?;
    sync_dir(to)
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(format!("cannot sync {}", path.display()), e))
}

fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(format!("cannot sync {}", dir.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    const KEY: [u8; 32] = [3; 32];

    /// An unencrypted store in `dir` (as today's version leaves it); its
    /// device id tells one database from another.
    fn plaintext_store(dir: &Path) -> uuid::Uuid {
        Store::open(dir).unwrap().device_id()
    }

    fn database(dir: &Path) -> PathBuf {
        dir.join(db::DATABASE_FILE)
    }

    fn device_id_with_key(dir: &Path) -> uuid::Uuid {
        Store::open_encrypted(dir, &DatabaseKey::new(KEY))
            .unwrap()
            .device_id()
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".encrypt"))
            .collect()
    }

    #[test]
    fn a_half_written_copy_is_thrown_away_and_the_conversion_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let id = plaintext_store(dir.path());
        let path = database(dir.path());
        fs::write(with_suffix(&path, ENCRYPTING_SUFFIX), b"half a database").unwrap();
        encrypt_in_place(&path, &DatabaseKey::new(KEY)).unwrap();
        assert!(!db::is_plaintext_database(&path).unwrap());
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        assert_eq!(device_id_with_key(dir.path()), id);
    }

    #[test]
    fn a_verified_copy_left_by_a_crash_before_the_swap_is_swapped_in() {
        let dir = tempfile::tempdir().unwrap();
        let id = plaintext_store(dir.path());
        let path = database(dir.path());
        let key = DatabaseKey::new(KEY);
        let encrypted = with_suffix(&path, ENCRYPTED_SUFFIX);
        export(&path, &encrypted, &key).unwrap();
        verify(&encrypted, &key, &path).unwrap();
        // The process died here: original and verified copy side by side.
        encrypt_in_place(&path, &key).unwrap();
        assert!(!encrypted.exists());
        assert!(!db::is_plaintext_database(&path).unwrap());
        assert_eq!(device_id_with_key(dir.path()), id);
    }

    #[test]
    fn a_copy_that_does_not_match_the_original_is_never_swapped_in() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let id = plaintext_store(dir.path());
        let other_id = plaintext_store(other.path());
        assert_ne!(id, other_id);
        let path = database(dir.path());
        let key = DatabaseKey::new(KEY);
        // A "verified copy" of some other database under the right name.
        export(
            &database(other.path()),
            &with_suffix(&path, ENCRYPTED_SUFFIX),
            &key,
        )
        .unwrap();
        let err = verify(&with_suffix(&path, ENCRYPTED_SUFFIX), &key, &path).unwrap_err();
        assert_eq!(err.code(), "encryption_check_failed", "{err}");

        encrypt_in_place(&path, &key).unwrap();
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        assert_eq!(device_id_with_key(dir.path()), id, "the original's rows");
    }

    #[test]
    fn a_stray_copy_beside_an_encrypted_database_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let id = device_id_with_key(dir.path());
        let path = database(dir.path());
        fs::write(with_suffix(&path, ENCRYPTED_SUFFIX), b"stray").unwrap();
        encrypt_in_place(&path, &DatabaseKey::new(KEY)).unwrap();
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        assert_eq!(device_id_with_key(dir.path()), id);
    }
}
