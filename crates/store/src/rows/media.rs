//! Rows of `installation_media` (photos and videos; the files themselves
//! live in `fieldbook-media`'s content-addressed store).

use fieldbook_domain::{BlobRef, InstallationMedia, MediaType, Sha256Hex};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_choice, get_parsed, get_ts, get_uuid, ts};
use crate::error::{Result, StoreError};
use crate::rows::FileAvailability;

/// [`FileAvailability`] of one photo or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MediaAvailability {
    pub media_id: Uuid,
    pub file: FileAvailability,
}

const COLUMNS: &str = "id, installation_id, media_type, file_sha256, file_size, file_mime, \
    caption, uploaded_by, uploaded_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<InstallationMedia> {
    Ok(InstallationMedia {
        id: get_uuid(r, 0)?,
        installation_id: get_uuid(r, 1)?,
        media_type: get_choice(r, 2, "media type", MediaType::parse)?,
        file: BlobRef {
            sha256: get_parsed(r, 3)?,
            size: r.get(4)?,
            mime: r.get(5)?,
        },
        caption: r.get(6)?,
        uploaded_by: get_uuid(r, 7)?,
        uploaded_at: get_ts(r, 8)?,
    })
}

pub(crate) fn list_for_installation(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Vec<InstallationMedia>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM installation_media
         WHERE installation_id = ?1 ORDER BY uploaded_at, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([installation_id.to_string()], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The hashes that go into the report's content hash.
pub(crate) fn hashes_for_installation(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Vec<Sha256Hex>> {
    let mut stmt = conn
        .prepare_cached("SELECT file_sha256 FROM installation_media WHERE installation_id = ?1")?;
    let rows = stmt.query_map([installation_id.to_string()], |r| get_parsed(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn load(conn: &Connection, media_id: Uuid) -> Result<InstallationMedia> {
    let sql = format!("SELECT {COLUMNS} FROM installation_media WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([media_id.to_string()], from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("photo or video", media_id))
}

/// In the order of [`list_for_installation`].
pub(crate) fn availability_for_installation(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Vec<MediaAvailability>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, file_on_device, file_on_server FROM installation_media
         WHERE installation_id = ?1 ORDER BY uploaded_at, id",
    )?;
    let rows = stmt.query_map([installation_id.to_string()], |r| {
        Ok(MediaAvailability {
            media_id: get_uuid(r, 0)?,
            file: FileAvailability {
                on_this_device: r.get(1)?,
                on_server: r.get(2)?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn availability(conn: &Connection, media_id: Uuid) -> Result<FileAvailability> {
    conn.prepare_cached(
        "SELECT file_on_device, file_on_server FROM installation_media WHERE id = ?1",
    )?
    .query_row([media_id.to_string()], |r| {
        Ok(FileAvailability {
            on_this_device: r.get(0)?,
            on_server: r.get(1)?,
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::not_found("photo or video", media_id))
}

pub(crate) fn server_version(conn: &Connection, media_id: Uuid) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT server_version FROM installation_media WHERE id = ?1")?
        .query_row([media_id.to_string()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("photo or video", media_id))
}

/// A photo or video attached on this device (not yet on the server).
pub(crate) fn insert_attached(
    conn: &Connection,
    media: &InstallationMedia,
    width: Option<u32>,
    height: Option<u32>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO installation_media (id, installation_id, media_type, file_sha256,
             file_size, file_mime, caption, uploaded_by, uploaded_at, width, height)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        media.id.to_string(),
        media.installation_id.to_string(),
        media.media_type.as_str(),
        media.file.sha256.as_str(),
        media.file.size,
        media.file.mime,
        media.caption,
        media.uploaded_by.to_string(),
        ts(&media.uploaded_at),
        width,
        height,
    ])?;
    Ok(())
}

/// A pulled record updates the row already here (unless that is newer):
/// caption, version and whether the server has the bytes. Returns whether a
/// row was updated.
pub(crate) fn update_pulled(
    conn: &Connection,
    media: &InstallationMedia,
    server_version: i64,
    file_on_server: bool,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE installation_media
             SET caption = ?2, server_version = ?3, file_on_server = ?4
             WHERE id = ?1 AND coalesce(server_version, 0) <= ?3",
        )?
        .execute(params![
            media.id.to_string(),
            media.caption,
            server_version,
            file_on_server
        ])?;
    Ok(n > 0)
}

/// A pulled record this device does not have yet.
pub(crate) fn insert_pulled(
    conn: &Connection,
    media: &InstallationMedia,
    server_version: i64,
    file_on_device: bool,
    file_on_server: bool,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO installation_media (id, installation_id, media_type, file_sha256,
             file_size, file_mime, caption, uploaded_by, uploaded_at, server_version,
             file_on_device, file_on_server)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO NOTHING -- a newer version is already here",
    )?
    .execute(params![
        media.id.to_string(),
        media.installation_id.to_string(),
        media.media_type.as_str(),
        media.file.sha256.as_str(),
        media.file.size,
        media.file.mime,
        media.caption,
        media.uploaded_by.to_string(),
        ts(&media.uploaded_at),
        server_version,
        file_on_device,
        file_on_server,
    ])?;
    Ok(())
}

pub(crate) fn set_caption(conn: &Connection, media_id: Uuid, caption: &str) -> Result<()> {
    conn.prepare_cached("UPDATE installation_media SET caption = ?2 WHERE id = ?1")?
        .execute(params![media_id.to_string(), caption])?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, media_id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM installation_media WHERE id = ?1")?
        .execute([media_id.to_string()])?)
}

/// Raises (never lowers: acknowledgements of an attach and a later caption
/// change may be processed in either order) the row's `server_version`.
pub(crate) fn raise_server_version(conn: &Connection, media_id: Uuid, version: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installation_media SET server_version = max(coalesce(server_version, 0), ?2)
         WHERE id = ?1",
    )?
    .execute(params![media_id.to_string(), version])?;
    Ok(())
}

/// The installation a photo or video belongs to, and whether the server has
/// accepted it (it has a server version).
pub(crate) fn owner(conn: &Connection, media_id: Uuid) -> Result<Option<(Uuid, bool)>> {
    Ok(conn
        .prepare_cached(
            "SELECT installation_id, server_version IS NOT NULL FROM installation_media
             WHERE id = ?1",
        )?
        .query_row([media_id.to_string()], |r| Ok((get_uuid(r, 0)?, r.get(1)?)))
        .optional()?)
}

/// Whether a photo or video row holds these bytes.
pub(crate) fn uses_file(conn: &Connection, sha256: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM installation_media WHERE file_sha256 = ?1)")?
        .query_row([sha256], |r| r.get(0))?)
}
