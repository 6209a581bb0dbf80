//! Installation media (photos, videos) and the blob upload queue. The files
//! themselves live in `fieldbook-media`'s content-addressed store under
//! `<data_dir>/media`; this module keeps their rows and upload state.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fieldbook_domain::{validation, BlobRef, InstallationMedia, MediaType, Mutation, Sha256Hex};
use fieldbook_media::{ImportedMedia, MediaStore};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_choice, get_parsed, get_ts, get_uuid, ts};
use crate::error::{Result, StoreError};
use crate::sync_state::ServerMedia;
use crate::{installations, outbox, reports, session, Store};

const MEDIA_COLUMNS: &str = "id, installation_id, media_type, file_sha256, file_size, file_mime, \
    caption, uploaded_by, uploaded_at";

fn media_from_row(r: &Row<'_>) -> rusqlite::Result<InstallationMedia> {
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
        "SELECT {MEDIA_COLUMNS} FROM installation_media
         WHERE installation_id = ?1 ORDER BY uploaded_at, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([installation_id.to_string()], media_from_row)?;
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

fn load_media(conn: &Connection, media_id: Uuid) -> Result<InstallationMedia> {
    let sql = format!("SELECT {MEDIA_COLUMNS} FROM installation_media WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([media_id.to_string()], media_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("photo or video", media_id))
}

/// Where a photo's, video's or signature's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileAvailability {
    /// The file is in this device's media store (always for what was
    /// attached or signed here; for what came from another device only if
    /// the same bytes are here). Otherwise the UI shows it as "on server".
    pub on_this_device: bool,
    /// The server said it has the bytes; `None` until a pull said either.
    pub on_server: Option<bool>,
}

/// [`FileAvailability`] of one photo or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MediaAvailability {
    pub media_id: Uuid,
    pub file: FileAvailability,
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

/// Applies a photo or video record the server sent. A row this device
/// already has (attached here, or pulled before) takes the server's caption
/// and version and keeps its file state: files attached here stay local. A
/// new row (attached on another device) records whether its bytes happen to
/// be here; it is never queued for upload — it is not this device's to send.
/// Pending local caption changes and removals are re-applied afterwards by
/// the rebase.
pub(crate) fn apply_pulled_media(
    conn: &Connection,
    files: &MediaStore,
    pulled: &ServerMedia,
    server_version: i64,
) -> Result<()> {
    let media = &pulled.media;
    let updated = conn
        .prepare_cached(
            "UPDATE installation_media
             SET caption = ?2, server_version = ?3, file_on_server = ?4
             WHERE id = ?1 AND coalesce(server_version, 0) <= ?3",
        )?
        .execute(params![
            media.id.to_string(),
            media.caption,
            server_version,
            pulled.file_on_server
        ])?;
    if updated > 0 {
        return Ok(());
    }
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
        files.blob_path(&media.file.sha256).is_file(),
        pulled.file_on_server,
    ])?;
    Ok(())
}

/// The server accepts caption changes and removals only from the uploader;
/// recording anyone else's would just park them as rejected.
fn refuse_unless_uploader(conn: &Connection, media: &InstallationMedia) -> Result<()> {
    if session::require(conn)?.user.id != media.uploaded_by {
        return Err(StoreError::NotUploader);
    }
    Ok(())
}

/// Queues `blob` for upload (once: the same bytes attached twice upload once).
pub(crate) fn queue_blob(
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

/// The file's path comes from the media store as it is now, not from the
/// `local_path` column: that holds the path at import time, which is stale
/// once the data folder was moved or restored elsewhere.
fn blob_from_row(media: &MediaStore, r: &Row<'_>) -> rusqlite::Result<BlobUpload> {
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

impl Store {
    /// Imports the photo or video at `source` into the media store and
    /// attaches it to the installation (media row, upload queue entry and
    /// `media.attach` in one transaction). Refused once the report is
    /// submitted: the submitted report's hash covers its media.
    pub fn attach_media(
        &mut self,
        installation_id: Uuid,
        source: &Path,
        caption: &str,
    ) -> Result<InstallationMedia> {
        self.attach_media_with_progress(installation_id, source, caption, &mut |_, _| {})
    }

    /// [`Store::attach_media`], reporting `(bytes done, bytes total)` while
    /// the file is copied (a 2 GB video takes a while).
    pub fn attach_media_with_progress(
        &mut self,
        installation_id: Uuid,
        source: &Path,
        caption: &str,
        on_progress: &mut dyn FnMut(u64, u64),
    ) -> Result<InstallationMedia> {
        validation::caption(caption)?;
        self.check_media_attachable(installation_id)?;
        // The copy may take minutes: done before the transaction so the
        // database is not held; if the transaction fails, the new file goes.
        let imported = self.media.import_file_with_progress(source, on_progress)?;
        self.attach_imported_media(installation_id, imported, caption)
    }

    /// The checks [`Store::attach_imported_media`] makes again, for a caller
    /// about to start a long import: a refused attach fails before the copy.
    pub fn check_media_attachable(&self, installation_id: Uuid) -> Result<()> {
        session::require(&self.conn)?;
        installations::load(&self.conn, installation_id)?;
        reports::refuse_if_submitted(&self.conn, installation_id)?;
        Ok(())
    }

    /// Attaches a file that was imported with a clone of
    /// [`Store::media_store`]. This lets the desktop app copy a 2 GB video
    /// without holding the store, so other actions and sync go on meanwhile.
    /// If the database refuses, a file the import just created is removed.
    pub fn attach_imported_media(
        &mut self,
        installation_id: Uuid,
        imported: ImportedMedia,
        caption: &str,
    ) -> Result<InstallationMedia> {
        validation::caption(caption)?;
        let attached = self.attach_imported(installation_id, imported.clone(), caption);
        if attached.is_err() {
            self.forget_new_file(&imported);
        }
        attached
    }

    /// After the database refused to record an import (typically a full
    /// disk), removes the file the import just created, so a failed 2 GB
    /// video does not keep eating the space that made it fail. Files that
    /// were already there, or that a row refers to, stay.
    pub(crate) fn forget_new_file(&self, imported: &ImportedMedia) {
        if imported.already_present {
            return;
        }
        let sha256 = imported.blob.sha256.as_str();
        // If this check cannot run, keep the file: an orphan wastes space,
        // a missing blob loses work.
        let referenced = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM installation_media WHERE file_sha256 = ?1)
                 OR EXISTS (SELECT 1 FROM blobs WHERE sha256 = ?1)
                 OR EXISTS (SELECT 1 FROM report_drafts WHERE signature_sha256 = ?1)
                 OR EXISTS (SELECT 1 FROM installation_reports WHERE signature_sha256 = ?1)",
            [sha256],
            |r| r.get::<_, bool>(0),
        );
        if referenced != Ok(false) {
            return;
        }
        // Best effort: the import's own error is what the caller reports.
        let _ = std::fs::remove_file(self.media.blob_path(&imported.blob.sha256));
        if let Some(thumbnail) = &imported.thumbnail {
            let _ = std::fs::remove_file(thumbnail);
        }
    }

    fn attach_imported(
        &mut self,
        installation_id: Uuid,
        imported: ImportedMedia,
        caption: &str,
    ) -> Result<InstallationMedia> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let session = session::require(tx)?;
            installations::load(tx, installation_id)?;
            reports::refuse_if_submitted(tx, installation_id)?;
            let media = InstallationMedia {
                id: Uuid::new_v4(),
                installation_id,
                media_type: imported.media_type,
                file: imported.blob,
                caption: caption.to_owned(),
                uploaded_by: session.user.id,
                uploaded_at: now,
            };
            tx.prepare_cached(
                "INSERT INTO installation_media (id, installation_id, media_type, file_sha256,
                     file_size, file_mime, caption, uploaded_by, uploaded_at, width, height)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                media.id.to_string(),
                installation_id.to_string(),
                media.media_type.as_str(),
                media.file.sha256.as_str(),
                media.file.size,
                media.file.mime,
                media.caption,
                media.uploaded_by.to_string(),
                ts(&now),
                imported.width,
                imported.height,
            ])?;
            queue_blob(tx, ctx.media, &media.file, now)?;
            let mutation = Mutation::MediaAttach {
                media: media.clone(),
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(installation_id),
                None,
                now,
            )?;
            Ok(media)
        })
    }

    /// Changes a caption. Allowed after submission too: captions are not
    /// part of the signed report content.
    pub fn set_media_caption(
        &mut self,
        media_id: Uuid,
        caption: &str,
    ) -> Result<InstallationMedia> {
        validation::caption(caption)?;
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let mut media = load_media(tx, media_id)?;
            refuse_unless_uploader(tx, &media)?;
            if media.caption == caption {
                return Ok(media);
            }
            tx.prepare_cached("UPDATE installation_media SET caption = ?2 WHERE id = ?1")?
                .execute(params![media_id.to_string(), caption])?;
            media.caption = caption.to_owned();
            let mutation = Mutation::MediaCaption {
                media_id,
                caption: caption.to_owned(),
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(media.installation_id),
                None,
                now,
            )?;
            Ok(media)
        })
    }

    /// Removes a photo or video from the installation (before submission
    /// only). The file stays in the media store: another attachment may
    /// share its bytes.
    pub fn remove_media(&mut self, media_id: Uuid) -> Result<()> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let media = load_media(tx, media_id)?;
            refuse_unless_uploader(tx, &media)?;
            reports::refuse_if_submitted(tx, media.installation_id)?;
            tx.prepare_cached("DELETE FROM installation_media WHERE id = ?1")?
                .execute([media_id.to_string()])?;
            let mutation = Mutation::MediaRemove { media_id };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(media.installation_id),
                None,
                now,
            )?;
            Ok(())
        })
    }

    pub fn get_media(&self, media_id: Uuid) -> Result<InstallationMedia> {
        load_media(&self.conn, media_id)
    }

    /// The server version of the photo or video once the server accepted
    /// its `media.attach` (raised by later caption changes); `None` before.
    pub fn media_server_version(&self, media_id: Uuid) -> Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT server_version FROM installation_media WHERE id = ?1")?
            .query_row([media_id.to_string()], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::not_found("photo or video", media_id))
    }

    /// Whether the file of a photo or video is on this device and on the
    /// server.
    pub fn media_availability(&self, media_id: Uuid) -> Result<FileAvailability> {
        self.conn
            .prepare_cached(
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

    // ---- upload queue (for the sync engine) ---------------------------------

    /// Blobs still to upload, oldest first.
    pub fn blobs_pending_upload(&self, limit: usize) -> Result<Vec<BlobUpload>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sha256, size, mime, local_path, upload_state, upload_url, upload_offset
             FROM blobs WHERE upload_state = 'pending' ORDER BY created_at, sha256 LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            blob_from_row(&self.media, r)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn blob_upload(&self, sha256: &Sha256Hex) -> Result<BlobUpload> {
        self.conn
            .query_row(
                "SELECT sha256, size, mime, local_path, upload_state, upload_url, upload_offset
                 FROM blobs WHERE sha256 = ?1",
                [sha256.as_str()],
                |r| blob_from_row(&self.media, r),
            )
            .optional()?
            .ok_or_else(|| StoreError::not_found("file", sha256))
    }

    /// Remembers the tus upload URL and the offset the server confirmed, so an
    /// upload resumes after a crash or restart.
    pub fn set_blob_upload_progress(
        &mut self,
        sha256: &Sha256Hex,
        upload_url: Option<&str>,
        upload_offset: u64,
    ) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE blobs SET upload_url = ?2, upload_offset = ?3 WHERE sha256 = ?1",
            params![sha256.as_str(), upload_url, upload_offset],
        )?;
        if n == 0 {
            return Err(StoreError::not_found("file", sha256));
        }
        Ok(())
    }

    /// The server has the whole blob (uploaded, or it already had the hash).
    pub fn mark_blob_uploaded(&mut self, sha256: &Sha256Hex) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE blobs SET upload_state = 'uploaded', upload_offset = size, uploaded_at = ?2
             WHERE sha256 = ?1",
            params![sha256.as_str(), ts(&Utc::now())],
        )?;
        if n == 0 {
            return Err(StoreError::not_found("file", sha256));
        }
        Ok(())
    }
}
