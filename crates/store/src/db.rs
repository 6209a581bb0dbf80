//! Opening the data directory: the single-instance lock, the SQLite
//! connection and its pragmas, and the column conversions every module shares.

use std::fs::{self, File, OpenOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use fs4::fs_std::FileExt;
use rusqlite::types::Type;
use rusqlite::{Connection, Row};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

pub(crate) const DATABASE_FILE: &str = "fieldbook.sqlite3";
pub(crate) const LOCK_FILE: &str = "fieldbook.lock";
pub(crate) const MEDIA_DIR: &str = "media";

/// Held for the store's life: a second Fieldbook on the same data directory
/// would interleave outbox sequences and fight over WAL checkpoints. The OS
/// releases the lock when the file closes, also when the process dies.
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _file: File,
}

pub(crate) fn lock_data_dir(dir: &Path) -> Result<DataDirLock> {
    create_private_dir(dir)?;
    let path = dir.join(LOCK_FILE);
    let file = private_file_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(format!("cannot open {}", path.display()), e))?;
    // A lock held only for a moment is waited for: a process this one (or
    // the other holder) forks shares the lock's open file until it execs,
    // which is enough to make a first attempt fail.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock_exclusive() {
            Ok(true) => return Ok(DataDirLock { _file: file }),
            Ok(false) if std::time::Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY);
            }
            Ok(false) => {
                return Err(StoreError::Locked {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(StoreError::io(format!("cannot lock {}", path.display()), e)),
        }
    }
}

// ---- for the signed-in OS user only -----------------------------------------

/// Mode of every folder in the data folder: owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of every file in the data folder: owner read/write only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) readable by its owner only. Parents
/// that already exist keep their mode; the data folder itself is made
/// private by [`make_private`].
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder
        .create(dir)
        .map_err(|e| StoreError::io(format!("cannot create {}", dir.display()), e))
}

/// Open options that create a file only its owner can read.
pub(crate) fn private_file_options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    options
}

/// Makes `dir` and everything in it private to the OS user running
/// Fieldbook: folders 0700, files 0600. Folders written by earlier versions
/// (0755 folders, 0644 database) are tightened this way at every start.
/// Symbolic links are neither followed nor changed: a link planted in the
/// folder must not make Fieldbook chmod a file elsewhere. On other systems
/// than Unix the user's profile folder's ACLs already apply; nothing to do.
pub fn make_private(dir: &Path) -> Result<()> {
    create_private_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |path: &Path, mode: u32| {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| StoreError::io(format!("cannot restrict {}", path.display()), e))
        };
        let mut folders = vec![dir.to_path_buf()];
        while let Some(folder) = folders.pop() {
            chmod(&folder, PRIVATE_DIR_MODE)?;
            let entries = fs::read_dir(&folder)
                .map_err(|e| StoreError::io(format!("cannot list {}", folder.display()), e))?;
            for entry in entries {
                let entry = entry
                    .map_err(|e| StoreError::io(format!("cannot list {}", folder.display()), e))?;
                let kind = entry.file_type().map_err(|e| {
                    StoreError::io(format!("cannot inspect {}", entry.path().display()), e)
                })?;
                if kind.is_dir() {
                    folders.push(entry.path());
                } else if kind.is_file() {
                    let path = entry.path();
                    let mode = entry
                        .metadata()
                        .map_err(|e| {
                            StoreError::io(format!("cannot inspect {}", path.display()), e)
                        })?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        chmod(&path, mode & 0o700 | PRIVATE_FILE_MODE)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Creates the SQLite file (empty: a valid new database) before SQLite
/// does, so it is born 0600; SQLite gives its `-wal` and `-shm` files the
/// mode of the database file.
pub(crate) fn create_private_database_file(path: &Path) -> Result<()> {
    match private_file_options()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::io(
            format!("cannot create {}", path.display()),
            e,
        )),
    }
}

/// Removes a file; one that is already gone is fine.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(
            format!("cannot erase {}", path.display()),
            e,
        )),
    }
}

/// How long a held directory lock is waited for before the open is refused.
const LOCK_WAIT: Duration = Duration::from_millis(1500);
const LOCK_RETRY: Duration = Duration::from_millis(25);

/// The random 256-bit key a data folder's database is encrypted with
/// (SQLCipher). Kept by fieldbook-secrets; wiped from memory when dropped.
#[derive(Clone)]
pub struct DatabaseKey(Zeroizing<[u8; 32]>);

impl DatabaseKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        DatabaseKey(Zeroizing::new(bytes))
    }

    /// SQLCipher's raw-key form (`x'…'`): used as the key as is, without the
    /// passphrase derivation that would cost a second at every start.
    pub(crate) fn raw_key(&self) -> Zeroizing<String> {
        use std::fmt::Write;
        let mut raw = Zeroizing::new(String::with_capacity(68));
        raw.push_str("x'");
        for byte in self.0.iter() {
            let _ = write!(raw, "{byte:02x}");
        }
        raw.push('\'');
        raw
    }
}

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

/// The first 16 bytes of every unencrypted SQLite file. An encrypted file
/// starts with its random salt instead.
const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether `path` is an unencrypted SQLite database (a missing or empty
/// file is not: it becomes whatever the first open makes it).
pub(crate) fn is_plaintext_database(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io(format!("cannot open {}", path.display()), e)),
    };
    let mut header = [0u8; 16];
    match file.read_exact(&mut header) {
        Ok(()) => Ok(&header == PLAINTEXT_HEADER),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(StoreError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// How SQLCipher lays out every database this version encrypts, set right
/// after the key (a database is only readable with the settings it was
/// written with). Both differ from SQLCipher 4's defaults for speed, not
/// strength (docs/security.md, "The local database"):
/// - 16 KiB pages instead of 4 KiB: SQLCipher pays a fixed price per page
///   (a fresh IV, a cipher and an HMAC context); a first sync writes a
///   quarter as many pages, which made it ~1.5x faster encrypted;
/// - HMAC-SHA256 instead of HMAC-SHA512 for each page's tag: this CPU
///   family computes SHA-256 in hardware; the tag stays 256 bits.
const CIPHER_SETTINGS: &str =
    "PRAGMA cipher_page_size = 16384; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;";

/// Opens `path` with `key` (SQLCipher) or unencrypted (`None`), and reads
/// the schema once: a wrong or missing key fails right here, before any
/// pragma or migration could write to the file.
///
/// A database encrypted by an earlier version (SQLCipher's default layout)
/// opens too: when this version's layout does not read it, the defaults
/// are tried before the key is called wrong. Such a database keeps its
/// layout; it is only slower.
pub(crate) fn open_keyed(path: &Path, key: Option<&DatabaseKey>) -> Result<Connection> {
    let Some(key) = key else {
        let conn = Connection::open(path)?;
        read_schema(&conn, path)?;
        return Ok(conn);
    };
    for settings in [CIPHER_SETTINGS, ""] {
        let conn = Connection::open(path)?;
        // The key before anything else: SQLCipher reads nothing until it has it.
        conn.pragma_update(None, "key", &*key.raw_key())?;
        conn.execute_batch(settings)?;
        let read = if settings.is_empty() {
            read_schema(&conn, path)
        } else {
            without_cipher_log(&conn, || read_schema(&conn, path))?
        };
        match read {
            Ok(()) => return Ok(conn),
            Err(StoreError::WrongKey { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::WrongKey {
        path: path.to_path_buf(),
    })
}

/// Runs `probe` with SQLCipher's log silenced. SQLCipher logs every page it
/// cannot decrypt at ERROR on stderr; reading a database of the earlier
/// layout with this version's fails on purpose, and would leave three such
/// lines in the technician's log at every start. The fallback to the
/// earlier layout logs as usual, so a truly wrong key is still logged. The
/// level is process-wide: it is put back at once.
fn without_cipher_log<T>(conn: &Connection, probe: impl FnOnce() -> T) -> Result<T> {
    let level: String = conn.query_row("PRAGMA cipher_log_level", [], |r| r.get(0))?;
    conn.pragma_update(None, "cipher_log_level", "NONE")?;
    let result = probe();
    conn.pragma_update(None, "cipher_log_level", &level)?;
    Ok(result)
}

fn read_schema(conn: &Connection, path: &Path) -> Result<()> {
    match conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            Err(StoreError::WrongKey {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn open_connection(path: &Path, key: Option<&DatabaseKey>) -> Result<Connection> {
    let conn = open_keyed(path, key)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::io(
            format!("{} cannot use write-ahead logging", path.display()),
            std::io::Error::other(format!("journal_mode is {mode}")),
        ));
    }
    // FULL: a laptop lid closing mid-commit must not lose an acknowledged action.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    // The default 2 MB page cache thrashes on the list's lookups over 10k
    // installations; 64 MB is a ceiling, not an allocation.
    conn.execute_batch("PRAGMA cache_size = -65536;")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Applying a pull page cycles through more statements than rusqlite's
    // default cache of 16 holds; re-preparing them on every page is waste.
    conn.set_prepared_statement_cache_capacity(64);
    rusqlite::vtab::array::load_module(&conn)?;
    crate::search::register_fold(&conn)?;
    Ok(conn)
}

// ---- column conversions ----------------------------------------------------

/// Timestamps are stored fixed-width with nanoseconds: lossless, and text
/// order is time order.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// `YYYY-MM-DD`. `NaiveDate`'s own display writes that directly; a
/// `format("%Y-%m-%d")` parsed its pattern again for every date written
/// (every pulled job has one).
pub(crate) fn date(d: &NaiveDate) -> String {
    d.to_string()
}

fn conversion_error(
    idx: usize,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("`{value}` is not a valid {what}")]
struct BadChoice {
    what: &'static str,
    value: String,
}

pub(crate) fn get_parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: String = row.get(idx)?;
    s.parse().map_err(|e| conversion_error(idx, e))
}

pub(crate) fn get_opt_parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: Option<String> = row.get(idx)?;
    s.map(|s| s.parse().map_err(|e| conversion_error(idx, e)))
        .transpose()
}

pub(crate) fn get_uuid(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    get_parsed(row, idx)
}

pub(crate) fn get_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    get_parsed(row, idx)
}

pub(crate) fn get_opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    get_opt_parsed(row, idx)
}

pub(crate) fn get_date(row: &Row<'_>, idx: usize) -> rusqlite::Result<NaiveDate> {
    get_parsed(row, idx)
}

/// A choice column (status, time slot, …) through the enum's own parser.
pub(crate) fn get_choice<T>(
    row: &Row<'_>,
    idx: usize,
    what: &'static str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).ok_or_else(|| conversion_error(idx, BadChoice { what, value: s }))
}

pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| conversion_error(idx, e))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain types serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];

    #[test]
    fn dates_are_written_as_year_month_day() {
        use chrono::Datelike as _;
        let mut day = NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        while day.year() < 10_000 {
            assert_eq!(date(&day), day.format("%Y-%m-%d").to_string());
            day = day + chrono::Days::new(97);
        }
        assert_eq!(
            date(&NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()),
            "2026-03-09"
        );
    }

    fn count_rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_database_gets_this_versions_layout_and_an_earlier_versions_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let key = DatabaseKey::new(KEY);

        let new = dir.path().join("new.sqlite3");
        let conn = open_keyed(&new, Some(&key)).unwrap();
        conn.execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        // Two 16 KiB pages (schema, table): SQLCipher's default layout
        // cannot read them.
        assert_eq!(fs::metadata(&new).unwrap().len(), 2 * 16384);
        let defaults = Connection::open(&new).unwrap();
        defaults
            .pragma_update(None, "key", &*key.raw_key())
            .unwrap();
        assert!(defaults
            .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .is_err());
        assert_eq!(count_rows(&open_keyed(&new, Some(&key)).unwrap()), 1);

        // What the version before wrote: the key and SQLCipher's defaults.
        let earlier = dir.path().join("earlier.sqlite3");
        let conn = Connection::open(&earlier).unwrap();
        conn.pragma_update(None, "key", &*key.raw_key()).unwrap();
        conn.execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);")
            .unwrap();
        drop(conn);
        assert_eq!(fs::metadata(&earlier).unwrap().len(), 2 * 4096);
        let conn = open_keyed(&earlier, Some(&key)).unwrap();
        assert_eq!(count_rows(&conn), 2);
        conn.execute("INSERT INTO t VALUES (3)", []).unwrap();
        drop(conn);
        assert_eq!(count_rows(&open_keyed(&earlier, Some(&key)).unwrap()), 3);

        // Neither layout makes a wrong key right.
        for path in [&new, &earlier] {
            let err = open_keyed(path, Some(&DatabaseKey::new([1; 32]))).unwrap_err();
            assert_eq!(err.code(), "wrong_database_key", "{err}");
            let err = open_keyed(path, None).unwrap_err();
            assert_eq!(err.code(), "wrong_database_key", "{err}");
        }
    }
}
