//! Rows of `blobs`: the upload queue of files (photos, videos, signature
//! PNGs) and how far each upload got.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use fieldbook_domain::{BlobRef, Sha256Hex};
use fieldbook_media::MediaStore;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::db::{get_choice, get_parsed, ts};
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobUploadState {
    Pending,
    Uploaded,
}

impl BlobUploadState {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(BlobUploadState::Pending),
            "uploaded" => Some(BlobUploadState::Uploaded),
            _ => None,
        }
    }
}

/// A blob and how far its (tus) upload got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobUpload {
    pub blob: BlobRef,
    pub local_path: PathBuf,
    pub state: BlobUploadState,
    /// The tus upload resource, once created.
    pub upload_url: Option<String>,
    /// Bytes the server confirmed; resume from here.
    pub upload_offset: u64,
}

const COLUMNS: &str = "sha256, size, mime, local_path, upload_state, upload_url, upload_offset";

/// The file's path comes from the media store as it is now, not from the
/// `local_path` column: that holds the path at import time, which is stale
/// once the data folder was moved or restored elsewhere.
fn from_row(media: &MediaStore, r: &Row<'_>) -> rusqlite::Result<BlobUpload> {
    let sha256: Sha256Hex = get_parsed(r, 0)?;
    Ok(BlobUpload {
        local_path: media.blob_path(&sha256),
        blob: BlobRef {
            sha256,
            size: r.get(1)?,
            mime: r.get(2)?,
        },
        state: get_choice(r, 4, "upload state", BlobUploadState::parse)?,
        upload_url: r.get(5)?,
        upload_offset: r.get(6)?,
    })
}

/// Queues `blob` for upload (once: the same bytes attached twice upload once).
pub(crate) fn queue(
    conn: &Connection,
    media: &MediaStore,
    blob: &BlobRef,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO blobs (sha256, size, mime, local_path, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        blob.sha256.as_str(),
        blob.size,
        blob.mime,
        media.blob_path(&blob.sha256).to_string_lossy(),
        ts(&now),
    ])?;
    Ok(())
}

/// Blobs still to upload, oldest first.
pub(crate) fn pending(
    conn: &Connection,
    media: &MediaStore,
    limit: usize,
) -> Result<Vec<BlobUpload>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM blobs WHERE upload_state = 'pending'
         ORDER BY created_at, sha256 LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        from_row(media, r)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn load(
    conn: &Connection,
    media: &MediaStore,
    sha256: &Sha256Hex,
) -> Result<BlobUpload> {
    let sql = format!("SELECT {COLUMNS} FROM blobs WHERE sha256 = ?1");
    conn.prepare_cached(&sql)?
        .query_row([sha256.as_str()], |r| from_row(media, r))
        .optional()?
        .ok_or_else(|| StoreError::not_found("file", sha256))
}

/// Remembers the tus upload URL and the offset the server confirmed.
pub(crate) fn set_progress(
    conn: &Connection,
    sha256: &Sha256Hex,
    upload_url: Option<&str>,
    upload_offset: u64,
) -> Result<()> {
    let n = conn
        .prepare_cached("UPDATE blobs SET upload_url = ?2, upload_offset = ?3 WHERE sha256 = ?1")?
        .execute(params![sha256.as_str(), upload_url, upload_offset])?;
    if n == 0 {
        return Err(StoreError::not_found("file", sha256));
    }
    Ok(())
}

/// The server has the whole blob.
pub(crate) fn mark_uploaded(
    conn: &Connection,
    sha256: &Sha256Hex,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = conn
        .prepare_cached(
            "UPDATE blobs SET upload_state = 'uploaded', upload_offset = size, uploaded_at = ?2
             WHERE sha256 = ?1",
        )?
        .execute(params![sha256.as_str(), ts(&now)])?;
    if n == 0 {
        return Err(StoreError::not_found("file", sha256));
    }
    Ok(())
}

/// Whether the queue holds these bytes.
pub(crate) fn is_queued(conn: &Connection, sha256: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = ?1)")?
        .query_row([sha256], |r| r.get(0))?)
}

/// A local file the server found corrupt, as it was then: its size and
/// modification time (nanoseconds since the epoch, when the OS says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptFile {
    pub size: u64,
    pub modified_ns: Option<i64>,
}

/// Records that the file of `sha256` was found corrupt as it is now.
pub(crate) fn set_corrupt(conn: &Connection, sha256: &Sha256Hex, file: CorruptFile) -> Result<()> {
    let n = conn
        .prepare_cached(
            "UPDATE blobs SET corrupt_size = ?2, corrupt_modified_ns = ?3 WHERE sha256 = ?1",
        )?
        .execute(params![sha256.as_str(), file.size, file.modified_ns])?;
    if n == 0 {
        return Err(StoreError::not_found("file", sha256));
    }
    Ok(())
}

/// How the file of `sha256` was when it was found corrupt, if it was.
pub(crate) fn corrupt(conn: &Connection, sha256: &Sha256Hex) -> Result<Option<CorruptFile>> {
    Ok(conn
        .prepare_cached(
            "SELECT corrupt_size, corrupt_modified_ns FROM blobs
             WHERE sha256 = ?1 AND corrupt_size IS NOT NULL",
        )?
        .query_row([sha256.as_str()], |r| {
            Ok(CorruptFile {
                size: r.get(0)?,
                modified_ns: r.get(1)?,
            })
        })
        .optional()?)
}
