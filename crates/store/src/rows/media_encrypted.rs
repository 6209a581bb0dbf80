//! Row of `media_encrypted`: whether every file of the media folder is
//! known to be stored encrypted, so the start need not look at each one.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use crate::db::ts;
use crate::error::Result;

/// Whether every media file was recorded as encrypted.
pub(crate) fn all_encrypted(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM media_encrypted)")?
        .query_row([], |r| r.get(0))?)
}

/// Records that every media file is encrypted (only once it is true: the
/// files are converted and fsynced before this runs).
pub(crate) fn record_all_encrypted(conn: &Connection, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO media_encrypted (singleton, recorded_at) VALUES (1, ?1)
         ON CONFLICT (singleton) DO NOTHING",
    )?
    .execute(params![ts(&now)])?;
    Ok(())
}

/// Forgets it: media files written from now on may be plain.
pub(crate) fn forget_all_encrypted(conn: &Connection) -> Result<()> {
    conn.prepare_cached("DELETE FROM media_encrypted")?
        .execute([])?;
    Ok(())
}
