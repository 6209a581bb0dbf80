//! The technician's photo and video actions: attach (the file, its row, its
//! upload and `media.attach` together), caption, remove.

use std::path::Path;

use chrono::Utc;
use fieldbook_domain::{validation, InstallationMedia, MediaType, Mutation};
use fieldbook_media::ImportedMedia;
use uuid::Uuid;

use super::{in_transaction, refuse_if_submitted};
use crate::error::{Result, StoreError};
use crate::rows::{blobs, installations, media, media_codes, outbox, reports, session};
use crate::Store;

/// The server accepts caption changes and removals only from the uploader;
/// recording anyone else's would just park them as rejected.
fn refuse_unless_uploader(conn: &rusqlite::Connection, media: &InstallationMedia) -> Result<()> {
    if session::require(conn)?.user.id != media.uploaded_by {
        return Err(StoreError::NotUploader);
    }
    Ok(())
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
        refuse_if_submitted(&self.conn, installation_id)?;
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
        let referenced = (|| -> Result<bool> {
            Ok(media::uses_file(&self.conn, sha256)?
                || blobs::is_queued(&self.conn, sha256)?
                || reports::uses_signature(&self.conn, sha256)?)
        })();
        if !matches!(referenced, Ok(false)) {
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
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let session = session::require(tx)?;
            installations::load(tx, installation_id)?;
            refuse_if_submitted(tx, installation_id)?;
            let attached = InstallationMedia {
                id: Uuid::new_v4(),
                installation_id,
                media_type: imported.media_type,
                file: imported.blob,
                caption: caption.to_owned(),
                uploaded_by: session.user.id,
                uploaded_at: now,
            };
            media::insert_attached(tx, &attached, imported.width, imported.height)?;
            if attached.media_type == MediaType::Photo {
                media_codes::queue_search(tx, attached.id, now)?;
            }
            blobs::queue(tx, ctx.media, &attached.file, now)?;
            let mutation = Mutation::MediaAttach {
                media: attached.clone(),
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(installation_id),
                None,
                now,
            )?;
            Ok(attached)
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
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let mut row = media::load(tx, media_id)?;
            refuse_unless_uploader(tx, &row)?;
            if row.caption == caption {
                return Ok(row);
            }
            media::set_caption(tx, media_id, caption)?;
            row.caption = caption.to_owned();
            let mutation = Mutation::MediaCaption {
                media_id,
                caption: caption.to_owned(),
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(row.installation_id),
                None,
                now,
            )?;
            Ok(row)
        })
    }

    /// Removes a photo or video from the installation (before submission
    /// only). The file stays in the media store: another attachment may
    /// share its bytes.
    pub fn remove_media(&mut self, media_id: Uuid) -> Result<()> {
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let row = media::load(tx, media_id)?;
            refuse_unless_uploader(tx, &row)?;
            refuse_if_submitted(tx, row.installation_id)?;
            media::delete(tx, media_id)?;
            let mutation = Mutation::MediaRemove { media_id };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(row.installation_id),
                None,
                now,
            )?;
            Ok(())
        })
    }
}
